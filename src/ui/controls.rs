//! Controls generated from the scenario's parameters: sliders with an
//! editable number, selects and toggles. Every edit goes through the spec's
//! lenient setter, so an out-of-range number is clamped with a notice.

use crate::spec::url::ViewState;
use crate::spec::{ParamKind, ParamSpec, ParamValue, ScenarioSpec};
use leptos::prelude::*;

/// Which run a control edits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The main run.
    A,
    /// The compare variant.
    B,
}

/// What the last edit of one control had to correct, shown under it until
/// the settings change again (another edit, a preset, the compare
/// choice): then it no longer describes what is on screen.
#[derive(Clone, Copy)]
pub struct LocalNotice {
    text: RwSignal<Option<String>>,
    /// Set by the edit that wrote `text`, so that its own state change
    /// does not clear it.
    fresh: StoredValue<bool>,
}

impl LocalNotice {
    /// A notice that clears on the next change of `state`.
    pub fn new(state: RwSignal<ViewState>) -> Self {
        let notice = Self {
            text: RwSignal::new(None),
            fresh: StoredValue::new(false),
        };
        Effect::new(move |_| {
            state.track();
            if notice.fresh.get_value() {
                notice.fresh.set_value(false);
            } else {
                notice.text.set(None);
            }
        });
        notice
    }

    /// Records the outcome of an edit that changed the settings.
    pub fn after_edit(&self, text: Option<String>) {
        self.fresh.set_value(true);
        self.text.set(text);
    }

    /// Shows `text` for an edit that changed nothing (refused input).
    pub fn refused(&self, text: String) {
        self.text.set(Some(text));
    }

    /// The notice, under its control.
    pub fn view(self) -> impl IntoView {
        move || {
            self.text
                .get()
                .map(|n| view! { <p class="notice control-notice" role="status">{n}</p> })
        }
    }
}

/// Applies `raw` to parameter `key` of `variant`; returns the notice, if
/// the value had to be clamped or corrected.
pub fn set_param(
    spec: &'static ScenarioSpec,
    state: RwSignal<ViewState>,
    variant: Variant,
    key: &str,
    raw: &str,
) -> Option<String> {
    let mut notice = None;
    state.update(|v| {
        let target = match variant {
            Variant::A => Some(&mut v.params),
            Variant::B => v.compare.as_mut(),
        };
        if let Some(params) = target {
            notice = spec.set_clamped(params, key, raw);
        }
    });
    notice
}

/// The value in force, as the control shows it (not tracked).
fn text_now(state: RwSignal<ViewState>, variant: Variant, key: &str) -> String {
    state.with_untracked(|v| {
        match variant {
            Variant::A => v.params.get(key),
            Variant::B => v.compare.as_ref().and_then(|c| c.get(key)),
        }
        .map(|v| v.to_string())
        .unwrap_or_default()
    })
}

fn current(state: RwSignal<ViewState>, variant: Variant, key: &'static str) -> Option<ParamValue> {
    state.with(|v| match variant {
        Variant::A => v.params.get(key).cloned(),
        Variant::B => v.compare.as_ref().and_then(|c| c.get(key).cloned()),
    })
}

/// One control.
#[component]
fn ParamControl(
    spec: &'static ScenarioSpec,
    param: &'static ParamSpec,
    state: RwSignal<ViewState>,
    variant: Variant,
) -> impl IntoView {
    let key = param.key.as_str();
    let id = format!("{}-{}", if variant == Variant::A { "a" } else { "b" }, key);
    let text = move || {
        current(state, variant, key)
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    // What the last edit had to correct, said under the control itself.
    let own_notice = LocalNotice::new(state);
    let set = move |raw: String| own_notice.after_edit(set_param(spec, state, variant, key, &raw));
    // After an edit the box shows the value in force: a clamped number or a
    // corrected fault list that equals the old value changes no signal,
    // so the box is told directly.
    let settle = move |ev: leptos::ev::Event| {
        set(event_target_value(&ev));
        let shown = text_now(state, variant, key);
        event_target::<web_sys::HtmlInputElement>(&ev).set_value(&shown);
    };
    // Faults that start after the run ends do nothing: say so.
    let late_faults = move || {
        if param.kind != ParamKind::Faults {
            return Vec::new();
        }
        let run_s = state.with(|v| v.duration_s);
        let raw = text();
        let (faults, _) = crate::spec::faults::parse_lenient(&raw, &param.options, param.max);
        crate::spec::faults::after_the_end(&faults, run_s)
    };
    // A control that does not apply to the other choices is disabled, and
    // says why.
    let disabled = move || {
        state.with(|v| {
            let params = match variant {
                Variant::A => Some(&v.params),
                Variant::B => v.compare.as_ref(),
            };
            params.is_some_and(|p| !param.enabled_when.holds(p))
        })
    };
    // The number box is as wide as the parameter's longest value.
    let digits = crate::present::number_box_chars(param);
    let input = match param.kind {
        ParamKind::Slider => view! {
            <div class="slider">
                <input type="range" id=id.clone() min=param.min max=param.max step=param.step
                    prop:disabled=disabled
                    prop:value=text on:input=move |ev| set(event_target_value(&ev)) />
                <input type="number" class="num" aria-label=format!("{} value", param.label)
                    style=format!("width:calc({digits}ch + 2.2rem)")
                    min=param.min max=param.max step=param.step prop:disabled=disabled
                    prop:value=text on:change=settle />
                <span class="unit">{param.unit.clone()}</span>
            </div>
        }
        .into_any(),
        ParamKind::Select => view! {
            <select id=id.clone() prop:disabled=disabled on:change=move |ev| set(event_target_value(&ev))>
                {param
                    .options
                    .iter()
                    .map(|o| {
                        let value = o.clone();
                        let selected = move || text() == value;
                        view! { <option value=o.clone() prop:selected=selected>{o.clone()}</option> }
                    })
                    .collect_view()}
            </select>
        }
        .into_any(),
        ParamKind::Faults => view! {
            <input type="text" id=id.clone() class="faults" spellcheck="false"
                placeholder=fault_example(&param.options)
                prop:disabled=disabled prop:value=text
                on:change=settle />
        }
        .into_any(),
        ParamKind::Toggle => view! {
            <input type="checkbox" id=id.clone() prop:disabled=disabled prop:checked=move || text() == "true"
                on:change=move |ev| set(event_target_checked(&ev).to_string()) />
        }
        .into_any(),
    };
    view! {
        <div class="control" data-param=key class:disabled=disabled>
            <label for=id title=param.help.clone()>{param.label.clone()}</label>
            {input}
            {own_notice.view()}
            {move || late_faults().into_iter().map(|n| view! { <p class="notice control-notice" role="status">{n}</p> }).collect_view()}
            <p class="help">{param.help.clone()}</p>
            <Show when=disabled>
                <p class="help disabled-reason">{param.disabled_reason.clone()}</p>
            </Show>
        </div>
    }
}

/// Every parameter of `variant`.
#[component]
pub fn ParamControls(
    spec: &'static ScenarioSpec,
    state: RwSignal<ViewState>,
    variant: Variant,
) -> impl IntoView {
    spec.params
        .iter()
        .map(|param| view! { <ParamControl spec=spec param=param state=state variant=variant /> })
        .collect_view()
}

/// The faults box's placeholder: an example on one of the scenario's own
/// stages (the last one listed: the deepest dependency), not the users.
fn fault_example(stages: &[String]) -> String {
    let stage = stages
        .iter()
        .rev()
        .find(|s| s.as_str() != "users")
        .map_or("users", String::as_str);
    format!("none, e.g. {stage}:slow20:30:30")
}
