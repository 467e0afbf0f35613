//! One scenario: controls, diagram, playback, charts, summary and lesson.
//! The page state is the URL's [`ViewState`]; every change re-runs the
//! simulation (in the worker) and rewrites the query string.

use super::browser;
use super::chart::{run_names, Chart};
use super::controls::{ParamControls, Variant};
use super::runner::{started_for, submit};
use crate::draw::{time_unit, DiagramLayout};
use crate::engine::RunResult;
use crate::present::{compare_rows, focus_time, format_number, series_csv, variant_name};
use crate::protocol::{Job, Reply, RunSpec};
use crate::scenarios::Scenario;
use crate::spec::url::{decode, encode, ViewState};
use crate::spec::{Params, RunConfig, ScenarioSpec};
use leptos::prelude::*;
use std::sync::Arc;

/// Playback refresh interval, ms.
const FRAME_MS: u32 = 50;

/// The URL is rewritten this long after the last change. Writing history
/// costs about a millisecond, which should not delay the redraw, and in a
/// burst of changes (a slider drag) only the last one matters.
const URL_DELAY_MS: u32 = 200;

/// How the compare selector reads the current state.
fn compare_choice(spec: &ScenarioSpec, v: &ViewState) -> String {
    let Some(b) = &v.compare else {
        return "none".into();
    };
    for p in &spec.presets {
        let mut with = spec.defaults();
        if spec.apply_preset(&mut with, &p.name).is_ok() && &with == b {
            return format!("preset:{}", p.name);
        }
    }
    "custom".into()
}

/// The scenario page.
#[component]
pub fn ScenarioPage(scenario: &'static Scenario, query: String) -> impl IntoView {
    let spec: &'static ScenarioSpec = &scenario.spec;
    browser::set_title(&format!("{} · Prodsim", spec.title));
    let (initial, initial_notices) = decode(spec, &query);
    let embed = initial.embed;
    let start_time = initial.time_s;
    let state = RwSignal::new(ViewState {
        time_s: None,
        ..initial
    });
    let notices = RwSignal::new(initial_notices);
    // Corrections of the seed and duration boxes, said under each box.
    let seed_notice = super::controls::LocalNotice::new(state);
    let duration_notice = super::controls::LocalNotice::new(state);
    let results = RwSignal::new(None::<Arc<Vec<RunResult>>>);
    // The parameters each of `results` was run with (the state may already
    // hold newer ones while a run is under way).
    let result_params = StoredValue::new(Vec::<Params>::new());
    // The moment the diagram opens on, until the user picks one.
    let focus = RwSignal::new(None::<f64>);
    let whole_run = RwSignal::new(false);
    let progress = RwSignal::new(None::<f64>);
    let stats = RwSignal::new(String::from("starting…"));
    let failure = RwSignal::new(None::<String>);
    let runs_done = RwSignal::new(0u32);
    let rerun = RwSignal::new(0u32);
    let time = RwSignal::new(start_time);
    let playing = RwSignal::new(false);
    let speed = RwSignal::new(1.0_f64);
    let next_job = StoredValue::new(0u32);
    let play_generation = StoredValue::new(0u32);
    // The system's colour scheme, followed while the page is open: the
    // page's colours are CSS, the charts' are drawn and need redrawing.
    let dark = RwSignal::new(browser::prefers_dark());
    let scheme = StoredValue::new_local(browser::on_colour_scheme_change(move |d| dark.set(d)));
    on_cleanup(move || scheme.update_value(|s| drop(s.take())));

    // Re-simulate whenever the parameters, seed, duration or variant change.
    Effect::new(move |_| {
        rerun.track();
        let v = state.get();
        next_job.update_value(|j| *j += 1);
        let id = next_job.get_value();
        let config = RunConfig {
            seed: v.seed,
            duration_s: v.duration_s,
        };
        let mut runs = vec![RunSpec::new(&v.params, config)];
        let mut ran_with = vec![v.params.clone()];
        if let Some(b) = &v.compare {
            runs.push(RunSpec::new(b, config));
            ran_with.push(b.clone());
        }
        let started = browser::now_ms();
        let cold = !started_for(&spec.id);
        let in_background = submit(
            Job {
                id,
                scenario: spec.id.clone(),
                runs,
            },
            move |reply| match reply {
                // Redraw the bar in 5 % steps: short runs report often.
                Reply::Progress { id: r, fraction }
                    if r == id && fraction - progress.get_untracked().unwrap_or(0.0) >= 0.05 =>
                {
                    progress.set(Some(fraction))
                }
                Reply::Done {
                    id: r,
                    results: out,
                } if r == id => {
                    let events: u64 = out.iter().map(|r| r.events).sum();
                    let ms = browser::now_ms() - started;
                    // The first run's time includes the simulator's start,
                    // often most of it: say so, rather than pass it off as
                    // simulation speed.
                    let start = if cold {
                        ", starting the simulator included"
                    } else {
                        ""
                    };
                    stats.set(format!(
                        "{} events in {ms:.1} ms{start}",
                        format_number(events as f64)
                    ));
                    failure.set(None);
                    result_params.set_value(ran_with.clone());
                    focus.set(out.first().map(|a| focus_time(spec, a)));
                    results.set(Some(Arc::new(out)));
                    progress.set(None);
                    runs_done.update(|n| *n += 1);
                }
                Reply::Failed { id: r, message } if r == id => {
                    failure.set(Some(message));
                    progress.set(None);
                }
                _ => {}
            },
        );
        // A run on the page lands before the next frame: no bar to flash.
        if in_background {
            progress.set(Some(0.0));
        }
    });

    // Until the simulator (a Web Worker) answers, show the default run the
    // site computed ahead, if the page opens on the defaults.
    let opens_on_defaults = |v: &ViewState| {
        v.compare.is_none()
            && v.seed == crate::spec::DEFAULT_SEED
            && v.duration_s == spec.duration_s.default
            && v.params == spec.defaults()
    };
    if state.with_untracked(opens_on_defaults) {
        leptos::task::spawn_local(async move {
            let Some(first) = super::data::first_run(&spec.id).await else {
                return;
            };
            if results.with_untracked(Option::is_none) && state.with_untracked(opens_on_defaults) {
                result_params.set_value(vec![spec.defaults()]);
                focus.set(Some(focus_time(spec, &first)));
                results.set(Some(Arc::new(vec![first])));
                stats.set("the default run, computed ahead; starting the simulator…".into());
            }
        });
    }

    // Keep the URL in step (the time only while paused, to spare history).
    // Replacing the pending write cancels its timer; so does leaving the
    // scenario. Closing or reloading the tab first writes it at once.
    let url_pending = StoredValue::new_local(None::<(gloo_timers::callback::Timeout, String)>);
    Effect::new(move |_| {
        let mut v = state.get();
        v.time_s = if playing.get() { None } else { time.get() };
        v.embed = embed;
        let query = encode(spec, &v);
        let later = query.clone();
        let timer = gloo_timers::callback::Timeout::new(URL_DELAY_MS, move || {
            browser::replace_query(&later)
        });
        url_pending.set_value(Some((timer, query)));
    });
    let flush = leptos::leptos_dom::helpers::window_event_listener_untyped("pagehide", move |_| {
        if let Some(Some((_, query))) = url_pending.try_update_value(Option::take) {
            browser::replace_query(&query);
        }
    });
    on_cleanup(move || flush.remove());

    if embed {
        Effect::new(move |_| {
            results.track();
            leptos::task::spawn_local(async {
                gloo_timers::future::TimeoutFuture::new(30).await;
                browser::post_height();
            });
        });
    }

    // The run's own length: a model may stop earlier than asked (a job
    // that finishes, a scenario whose own parameter sets the horizon).
    let duration = move || {
        results
            .with(|r| r.as_ref().and_then(|r| r.first()).map(|r| r.duration_s))
            .unwrap_or_else(|| state.with(|v| v.duration_s))
    };
    let bucket = move || {
        results.with(|r| {
            r.as_ref()
                .and_then(|r| r.first())
                .map_or(0.1, |r| r.bucket_s)
        })
    };
    let cursor = Signal::derive(move || {
        time.get()
            .or_else(|| focus.get())
            .unwrap_or_else(duration)
            .min(duration())
    });

    let play = move |_| {
        if playing.get_untracked() {
            playing.set(false);
            return;
        }
        if cursor.get_untracked() >= duration() {
            time.set(Some(0.0));
        }
        playing.set(true);
        play_generation.update_value(|g| *g += 1);
        let generation = play_generation.get_value();
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(FRAME_MS).await;
                if play_generation.try_get_value() != Some(generation)
                    || playing.try_get_untracked() != Some(true)
                {
                    return;
                }
                // At 1× a whole run plays in ten seconds.
                let d = duration();
                let step = d / 10.0 * speed.get_untracked() * f64::from(FRAME_MS) / 1000.0;
                let next = cursor.get_untracked() + step;
                if next >= d {
                    time.set(Some(d));
                    playing.set(false);
                    return;
                }
                time.set(Some(next));
            }
        });
    };
    let step = move |_| {
        playing.set(false);
        let next = cursor.get_untracked() + bucket();
        time.set(Some(next.min(duration())));
    };

    // Laid out once per run (box sizes depend on the whole run's values)
    // and per width of its column, drawn at every moment of the run.
    let diagram_box = NodeRef::<leptos::html::Div>::new();
    let diagram_width = RwSignal::new(0.0_f64);
    let measure = move || {
        if let Some(el) = diagram_box.get_untracked() {
            let w = f64::from(el.client_width());
            if w > 0.0 && (w - diagram_width.get_untracked()).abs() >= 1.0 {
                diagram_width.set(w);
            }
        }
    };
    Effect::new(move |_| {
        diagram_box.track();
        measure();
    });
    let on_resize =
        leptos::leptos_dom::helpers::window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || on_resize.remove());
    let layouts = Memo::new(move |_| {
        let width = diagram_width.get();
        let width = if width > 0.0 { width } else { 640.0 };
        results.with(|r| {
            let params = result_params.get_value();
            match r.as_ref() {
                Some(runs) => runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| DiagramLayout::fitting(spec, params.get(i), Some(run), width))
                    .collect(),
                None => vec![DiagramLayout::fitting(spec, None, None, width)],
            }
        })
    });
    let diagram_of = move |i: usize| {
        let t = cursor.get();
        layouts.with(|l| {
            l.get(i).map(|layout| {
                results.with(|r| {
                    let params = result_params.get_value();
                    layout.svg(spec, params.get(i), r.as_ref().and_then(|r| r.get(i)), t)
                })
            })
        })
    };
    // Each diagram is drawn into its box by changing what differs from the
    // drawing before (see `browser::morph_inner_html`).
    let diagram_b_box = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let svg = diagram_of(0).unwrap_or_default();
        if let Some(el) = diagram_box.get() {
            browser::morph_inner_html(&el, &svg);
        }
    });
    Effect::new(move |_| {
        let svg = diagram_of(1).unwrap_or_default();
        if let Some(el) = diagram_b_box.get() {
            browser::morph_inner_html(&el, &svg);
        }
    });
    // "A: Build it in memory", "B: your settings".
    let variant_names = move || {
        state.with(|v| {
            let a = variant_name(spec, &v.params);
            (a, v.compare.as_ref().map(|b| variant_name(spec, b)))
        })
    };

    let export_csv = move |_| {
        results.with_untracked(|r| {
            for (run, name) in r.iter().flat_map(|r| r.iter()).zip(["a", "b"]) {
                browser::download(
                    &format!("{}-series-{name}.csv", spec.id),
                    &browser::data_url("text/csv", &series_csv(run)),
                );
            }
        })
    };
    let export_json = move |_| {
        use crate::present::{summary_json, SummaryRun};
        let v = state.get_untracked();
        let text = results.with_untracked(|r| {
            let runs = r.as_ref()?;
            let main = SummaryRun {
                params: &v.params,
                result: runs.first()?,
            };
            let compare = v
                .compare
                .as_ref()
                .zip(runs.get(1))
                .map(|(params, result)| SummaryRun { params, result });
            Some(summary_json(
                &spec.id,
                v.seed,
                &main,
                compare.as_ref(),
                None,
            ))
        });
        let Some(text) = text else {
            notices.update(|n| n.push("there is no run to write as JSON yet".into()));
            return;
        };
        browser::download(
            &format!("{}-summary.json", spec.id),
            &browser::data_url("application/json", &text),
        );
    };

    let link = move || {
        let mut v = state.get();
        v.time_s = time.get();
        v.embed = false;
        format!("{}?{}", browser::base_url(), encode(spec, &v))
    };
    let show_share = RwSignal::new(false);
    let embed_snippet = move || {
        let mut v = state.get();
        v.time_s = None;
        v.embed = false;
        let query = encode(spec, &v);
        let params = query
            .split('&')
            .filter(|p| !p.starts_with("s="))
            .collect::<Vec<_>>()
            .join("&");
        let base = browser::base_url();
        let dir = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(d, _)| d)
            .to_string();
        format!(
            "<div data-prodsim=\"{}\" data-params=\"{}\"></div>\n<script src=\"{dir}/embed.js\"></script>",
            spec.id,
            params.replace('&', "&amp;")
        )
    };

    let summary = move || {
        results.with(|r| {
            let Some(runs) = r.as_ref() else { return ().into_any() };
            let Some(a) = runs.first() else { return ().into_any() };
            let rows = compare_rows(spec, a, runs.get(1));
            let comparing = runs.len() > 1;
            view! {
                <div class="summary-wrap"><table class="summary" class:comparing=comparing data-testid="summary">
                    <thead><tr>
                        <th scope="col">"Metric"</th>
                        <th scope="col">{if comparing { "A" } else { "Value" }}</th>
                        {comparing.then(|| view! { <th scope="col">"B"</th><th scope="col">"B − A"</th> })}
                    </tr></thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|row| {
                                let def_id = format!("def-{}", row.key);
                                let desc_ref = def_id.clone();
                                // The difference, and its percentage apart: the
                                // cell may wrap between them, never inside one.
                                let delta = row.delta_text();
                                view! {
                                    <tr data-metric=row.key.clone()>
                                        <th scope="row" title=row.description.clone() aria-describedby=desc_ref>
                                            {row.label.clone()}
                                            <span class="visually-hidden" id=def_id>{row.description.clone()}</span>
                                        </th>
                                        <td>{row.a_text.clone()}</td>
                                        {comparing.then(|| view! {
                                            <td>{row.b_text.clone().unwrap_or_default()}</td>
                                            <td class="delta">{delta.map(|(d, pct)| view! { <span>{d}</span>" "<span>{pct}</span> })}</td>
                                        })}
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table></div>
            }
            .into_any()
        })
    };

    let variant_is = move |name: String| {
        move || {
            state.with(|v| {
                let mut with = spec.defaults();
                spec.apply_preset(&mut with, &name).is_ok() && with == v.params
            })
        }
    };
    let presets = move || {
        spec.presets
            .iter()
            .map(|p| {
                let name = p.name.clone();
                let apply = move |_| {
                    state.update(|v| {
                        let mut params = spec.defaults();
                        if spec.apply_preset(&mut params, &name).is_ok() {
                            v.params = params;
                        }
                    });
                };
                let active = variant_is(p.name.clone());
                view! { <button class="preset" title=p.description.clone() data-preset=p.name.clone()
                    class:active=active.clone() aria-pressed=move || active().to_string() on:click=apply>{p.label.clone()}</button> }
            })
            .collect_view()
    };
    // The active preset's description, visible rather than only a tooltip.
    let preset_description = move || {
        state.with(|v| {
            spec.presets
                .iter()
                .find(|p| variant_name(spec, &v.params) == p.label)
                .map(|p| view! { <p class="preset-description">{p.description.clone()}</p> })
        })
    };

    let on_compare = move |ev| {
        let choice = event_target_value(&ev);
        state.update(|v| {
            v.compare = match choice.as_str() {
                "none" => None,
                "custom" => Some(v.params.clone()),
                // A preset is the defaults plus its values, as its button
                // sets them: B does not inherit A's edits.
                other => {
                    let name = other.trim_start_matches("preset:");
                    let mut b = spec.defaults();
                    spec.apply_preset(&mut b, name).ok().map(|_| b)
                }
            };
        });
    };

    let (per_unit, duration_unit) = spec.duration_s.control_unit();
    let controls = move || {
        view! {
            <section class="controls" aria-label="Parameters">
                <div class="presets" role="group" aria-label="Presets">{presets}</div>
                {preset_description}
                <ParamControls spec=spec state=state variant=Variant::A />
                <div class="control">
                    <label for="seed">"Seed"</label>
                    <div class="slider">
                        <input id="seed" type="number" min="0" class="num wide" prop:value=move || state.with(|v| v.seed.to_string())
                            on:change=move |ev| {
                                let raw = event_target_value(&ev);
                                match raw.trim().parse::<u64>() {
                                    Ok(seed) => {
                                        seed_notice.after_edit(None);
                                        state.update(|v| v.seed = seed);
                                    }
                                    Err(_) => {
                                        let kept = state.with_untracked(|v| v.seed);
                                        seed_notice.refused(format!("seed '{raw}' is not a whole number from 0 to {}; kept {kept}", u64::MAX));
                                        event_target::<web_sys::HtmlInputElement>(&ev).set_value(&kept.to_string());
                                    }
                                }
                            } />
                        <button class="small" on:click=move |_| {
                            let seed = (js_sys::Math::random() * 1e12) as u64;
                            state.update(|v| v.seed = seed);
                        }>"New seed"</button>
                    </div>
                    {seed_notice.view()}
                </div>
                <div class="control">
                    <label for="duration">"Duration"</label>
                    <div class="slider">
                        <input id="duration" type="number" class="num wide" min=spec.duration_s.min / per_unit max=spec.duration_s.max / per_unit
                            step="any" prop:value=move || state.with(|v| (v.duration_s / per_unit).to_string())
                            on:change=move |ev| {
                                let raw = event_target_value(&ev);
                                let (lo, hi) = (spec.duration_s.min / per_unit, spec.duration_s.max / per_unit);
                                let input = event_target::<web_sys::HtmlInputElement>(&ev);
                                match raw.trim().parse::<f64>() {
                                    Ok(d) if d.is_finite() => {
                                        let clamped = d.clamp(lo, hi);
                                        duration_notice.after_edit((clamped != d).then(|| format!("duration {d} {duration_unit} is outside {lo}–{hi} {duration_unit}; using {clamped}")));
                                        state.update(|v| v.duration_s = clamped * per_unit);
                                        input.set_value(&clamped.to_string());
                                    }
                                    _ => {
                                        let kept = state.with_untracked(|v| v.duration_s / per_unit);
                                        duration_notice.refused(format!("duration '{raw}' is not a number; kept {kept} {duration_unit}"));
                                        input.set_value(&kept.to_string());
                                    }
                                }
                            } />
                        <span class="unit">{format!("{duration_unit} simulated")}</span>
                    </div>
                    {duration_notice.view()}
                </div>
                <div class="control">
                    <label for="compare">"Compare with"</label>
                    <select id="compare" on:change=on_compare>
                        <option value="none" prop:selected=move || state.with(|v| v.compare.is_none())>"nothing"</option>
                        <option value="custom" prop:selected=move || state.with(|v| compare_choice(spec, v) == "custom")>"a copy to edit"</option>
                        {spec.presets.iter().map(|p| {
                            let value = format!("preset:{}", p.name);
                            let v2 = value.clone();
                            view! { <option value=value prop:selected=move || state.with(|v| compare_choice(spec, v) == v2)>{p.label.clone()}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <Show when=move || state.with(|v| v.compare.is_some())>
                    <details class="variant-b">
                        <summary>"Variant B parameters"</summary>
                        <ParamControls spec=spec state=state variant=Variant::B />
                    </details>
                </Show>
                <div class="actions">
                    <button on:click=move |_| rerun.update(|n| *n += 1)>"Run again"</button>
                    <button on:click=move |_| { browser::copy(&link()); show_share.set(true); }>"Copy link"</button>
                    <button on:click=move |_| show_share.update(|s| *s = !*s)>"Embed"</button>
                    <button on:click=export_csv>"CSV"</button>
                    <button on:click=export_json>"JSON"</button>
                </div>
                <Show when=move || show_share.get()>
                    <label class="share">"Link" <input readonly prop:value=link /></label>
                    <label class="share">"Embed snippet" <textarea readonly rows="3" prop:value=embed_snippet></textarea></label>
                </Show>
            </section>
        }
    };

    // The lesson arrives after the first run (the site fetches it apart;
    // embedded data has it at once).
    let lesson_file = RwSignal::new(crate::scenarios::lesson(&spec.id).map(Ok::<_, String>));
    if !embed && lesson_file.get_untracked().is_none() {
        leptos::task::spawn_local(async move {
            lesson_file.set(Some(super::data::ensure_lesson(&spec.id).await));
        });
    }
    // Until it is here, say so (or say why it is not).
    let lesson_status = move || match lesson_file.get() {
        None => Some("Loading the lesson…".to_string()),
        Some(Err(why)) => Some(format!("The lesson could not be loaded: {why}")),
        Some(Ok(_)) => None,
    };
    let lesson_status =
        move || lesson_status().map(|text| view! { <p class="notice lesson-status">{text}</p> });
    // The lesson's content is mounted into its section once it is here,
    // rather than drawn by a reactive `Option`: that would compile in a
    // rebuild of the whole lesson view, about 10 KB of wasm that never runs.
    // The handle belongs to the page, so the lesson goes when the page does.
    let lesson_slot = NodeRef::<leptos::html::Section>::new();
    let lesson_mounted = StoredValue::new_local(None::<Box<dyn std::any::Any>>);
    let page_owner = Owner::current();
    let lesson = move |l: &'static crate::spec::Lesson| {
        let p = &l.predict;
        // The run the question asks about starts after this many runs; its
        // result is the next one to land.
        let asked = RwSignal::new(None::<u32>);
        let guess = RwSignal::new(String::new());
        let (metric_label, metric_unit) = crate::present::metric_label(spec, &p.metric);
        // The answer is the value of the run the button started, kept once
        // it lands: later runs (another preset, a slider) do not change it.
        let answered = RwSignal::new(None::<String>);
        let run_it = move |_| {
            if let Ok(params) = p.params(spec) {
                answered.set(None);
                asked.set(Some(runs_done.get_untracked()));
                state.update(|v| v.params = params);
            }
        };
        Effect::new(move |_| {
            let done = runs_done.get();
            let Some(started) = asked.get() else { return };
            if done <= started || answered.get_untracked().is_some() {
                return;
            }
            let actual = results.with_untracked(|r| {
                r.as_ref()
                    .and_then(|r| r.first())
                    .and_then(|a| crate::present::format_metric(spec, a, &p.metric))
            });
            answered.set(Some(actual.unwrap_or_default()));
        });
        let outcome = move || {
            asked.get()?;
            let Some(actual) = answered.get() else {
                return Some(view! { <p class="predict-running">"Running it…"</p> }.into_any());
            };
            let guessed = guess.get();
            Some(view! {
                <div class="predict-outcome" data-testid="predict-outcome">
                    {(!p.metric.is_empty()).then(|| view! {
                        <p><strong>{format!("You guessed {}; the run gives {}.",
                            match guessed.trim() {
                                "" => "nothing".to_string(),
                                g if g.replace(['\u{a0}', ' '], "").replace(',', ".").parse::<f64>().is_ok() => format!("{g} {metric_unit}"),
                                g => format!("'{g}', which is not a number"),
                            },
                            actual)}</strong></p>
                    })}
                    <p class="answer">{p.answer.clone()}</p>
                </div>
            }.into_any())
        };
        view! {
                <h2>"What to notice"</h2>
                <ul>{l.notice.iter().map(|n| view! { <li data-claim=n.id.clone()>{n.text.clone()}</li> }).collect_view()}</ul>
                {l.table.as_ref().map(|t| view! {
                    <h2>{t.title.clone()}</h2>
                    <div class="table-scroll">
                        <table class="lesson-table">
                            <thead><tr>{t.columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}</tr></thead>
                            <tbody>{t.rows.iter().map(|r| view! {
                                <tr data-claim=r.id.clone()>{r.cells.iter().enumerate().map(|(i, c)| if i == 0 {
                                    view! { <th scope="row">{c.clone()}</th> }.into_any()
                                } else {
                                    view! { <td>{c.clone()}</td> }.into_any()
                                }).collect_view()}</tr>
                            }).collect_view()}</tbody>
                        </table>
                    </div>
                })}
                <h2>"Try this"</h2>
                <ol>{l.try_this.iter().map(|n| view! { <li data-claim=n.id.clone()>{n.text.clone()}</li> }).collect_view()}</ol>
                <h2>"Predict, then run"</h2>
                <p class="question">{p.question.clone()}</p>
                <div class="predict">
                    {(!p.metric.is_empty()).then(|| view! {
                        <label>{format!("Your guess: {metric_label}")}
                            <input type="text" inputmode="decimal" class="num wide" prop:value=move || guess.get()
                                on:input=move |ev| guess.set(event_target_value(&ev)) />
                            <span class="unit">{metric_unit}</span>
                        </label>
                    })}
                    <button on:click=run_it>"Run it and show the answer"</button>
                </div>
                {outcome}
                <h2>"The interview answer"</h2>
                <dl class="interview">
                    <dt>"Clarify"</dt><dd>{l.interview.clarify.clone()}</dd>
                    <dt>"The challenge"</dt><dd>{l.interview.challenge.clone()}</dd>
                    <dt>"Solution"</dt><dd>{l.interview.solution.clone()}</dd>
                    <dt>"Trade-offs"</dt><dd>{l.interview.tradeoffs.clone()}</dd>
                    <dt>"At scale"</dt><dd>{l.interview.scale.clone()}</dd>
                    <dt>"In production"</dt><dd>{l.interview.production.clone()}</dd>
                </dl>
        }
    };
    Effect::new(move |_| {
        let (Some(section), Some(Ok(l))) = (lesson_slot.get(), lesson_file.get()) else {
            return;
        };
        if lesson_mounted.with_value(Option::is_some) {
            return;
        }
        let mount = move || leptos::mount::mount_to(section, move || lesson(l));
        let handle = match &page_owner {
            Some(owner) => owner.with(mount),
            None => mount(),
        };
        lesson_mounted.set_value(Some(Box::new(handle)));
    });

    let open_full = move || {
        let mut v = state.get();
        v.embed = false;
        format!("?{}", encode(spec, &v))
    };

    view! {
        <div class="page" class:embed=embed>
            {(!embed).then(|| view! {
                <header class="site small">
                    <a href="?" class="home">"Prodsim"</a>
                    <span class="crumb">{crate::present::part_name(&spec.part)}</span>
                </header>
            })}
            // Everything but the header is the page's main landmark, so a
            // screen reader's "skip to main" lands on the scenario.
            <main>
            <div class="notices" role="status" aria-live="polite">
                {move || notices.get().into_iter().map(|n| view! { <p class="notice">{n}</p> }).collect_view()}
                {move || (!notices.with(Vec::is_empty)).then(|| view! {
                    <button class="small" on:click=move |_| notices.set(Vec::new())>"Dismiss"</button>
                })}
            </div>
            <h1 class="title">
                {if embed {
                    view! { <a href=open_full target="_blank" rel="noopener">{spec.title.clone()}</a> }.into_any()
                } else {
                    view! { <span>{spec.title.clone()}</span> }.into_any()
                }}
            </h1>
            {(!embed).then(|| view! { <p class="summary-line">{spec.summary.clone()}</p> })}
            <div class="layout">
                {(!embed).then(controls)}
                <section class="stage" aria-label="Simulation">
                    {embed.then(|| view! { <div class="presets" role="group" aria-label="Presets">{presets}</div> })}
                    <div class="diagrams">
                        <figure class="diagram-wrap">
                            <div node_ref=diagram_box></div>
                            <Show when=move || state.with(|v| v.compare.is_some())>
                                <figcaption>{move || format!("A: {}", variant_names().0)}</figcaption>
                            </Show>
                        </figure>
                        <Show when=move || layouts.with(|l| l.len() > 1)>
                            <figure class="diagram-wrap b">
                                <div node_ref=diagram_b_box></div>
                                <figcaption>{move || format!("B: {} (dashed on the charts)", variant_names().1.unwrap_or_default())}</figcaption>
                            </figure>
                        </Show>
                    </div>
                    <div class="playback" role="group" aria-label="Playback">
                        <button on:click=play aria-label="Play or pause">{move || if playing.get() { "Pause" } else { "Play" }}</button>
                        <button on:click=step>{move || format!("Step +{}", crate::present::format_duration(bucket()))}</button>
                        <label>"Speed "
                            <select on:change=move |ev| speed.set(event_target_value(&ev).parse().unwrap_or(1.0))>
                                <option value="0.25">"¼×"</option>
                                <option value="1" selected>"1×"</option>
                                <option value="4">"4×"</option>
                            </select>
                        </label>
                        <input type="range" class="scrubber" aria-label="Simulated time" min="0" max=move || duration().to_string()
                            step=move || bucket().to_string() prop:value=move || cursor.get().to_string()
                            on:input=move |ev| {
                                playing.set(false);
                                let t: f64 = event_target_value(&ev).parse().unwrap_or(0.0);
                                time.set(Some(t.min(duration())));
                            } />
                        <span class="time">{move || {
                            // The charts' unit, so the read-out and the axes agree.
                            let span = results.with(|r| r.as_ref().map(|runs| crate::present::chart_span(runs.iter(), whole_run.get())));
                            let (per_unit, unit) = time_unit(span.unwrap_or_else(duration));
                            format!("{} / {} {unit}", format_number(cursor.get() / per_unit), format_number(duration() / per_unit))
                        }}</span>
                        <label class="whole-run" title="Charts fit the span where something happens; tick to see the whole run">
                            <input type="checkbox" prop:checked=move || whole_run.get()
                                on:change=move |ev| whole_run.set(event_target_checked(&ev)) />
                            " Whole run"
                        </label>
                    </div>
                    <div class="status">
                        <Show when=move || progress.get().is_some()>
                            <progress max="1" value=move || progress.get().unwrap_or(0.0).to_string() aria-label="Simulation progress"></progress>
                        </Show>
                        <span data-testid="sim-stats" data-run=move || runs_done.get()>{move || stats.get()}</span>
                        {move || failure.get().map(|f| view! { <p class="error" role="alert">{f}</p> })}
                    </div>
                    <div class="charts">
                        {(0..spec.charts.len()).map(|i| view! { <Chart spec=spec index=i results=results cursor=cursor whole_run=Signal::from(whole_run) dark=Signal::from(dark) /> }).collect_view()}
                    </div>
                    <div class="summary-lazy">{summary}</div>
                    {move || results.with(|r| r.as_ref().map(|r| run_names(r.len()).len()).unwrap_or(0) > 1)
                        .then(|| view! { <p class="legend-note">{move || {
                            let (a, b) = variant_names();
                            format!("Solid lines are A ({a}), dashed lines in a darker shade are B ({}); both runs see the same arrivals.", b.unwrap_or_default())
                        }}</p> })}
                </section>
                {(!embed).then(|| view! {
                    <section class="lesson" aria-label="Lesson" node_ref=lesson_slot>{lesson_status}</section>
                })}
            </div>
            </main>
        </div>
    }
}
