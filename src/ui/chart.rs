//! One chart on a canvas, drawn by the shared plotters routine, with a
//! cursor at the playback time, a hover read-out and PNG export.

use super::browser;
use crate::draw::{draw_chart, time_unit, ChartOptions, ChartRun, PlotArea, Theme};
use crate::engine::RunResult;
use crate::present::{format_with_unit, series_label, value_at};
use crate::spec::ScenarioSpec;
use leptos::prelude::*;
use plotters::prelude::{DrawingBackend, IntoDrawingArea};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use std::sync::Arc;

/// plotters' canvas backend, except that text is measured with the canvas's
/// own `measureText`. plotters otherwise measures each label by adding a
/// `<span>` to the page and reading its size, which forces a layout of the
/// whole page for every label: most of a redraw's time, by profile.
///
/// It also sets the canvas's font, alignment and baseline only when they
/// change (plotters sets all three for every label, and parsing a font
/// string is the costliest of a label's calls), and remembers each label's
/// measured width across redraws: the axes' labels rarely change.
struct MeasuredCanvas {
    inner: plotters_canvas::CanvasBackend,
    context: web_sys::CanvasRenderingContext2d,
    /// The text state last given to the context in this draw.
    text_state: std::cell::RefCell<TextState>,
}

/// A context's font, textAlign and textBaseline, where known (`None`: not
/// set in this draw, so unknown).
#[derive(Default)]
struct TextState {
    font: Option<String>,
    align: Option<&'static str>,
    baseline: Option<&'static str>,
}

/// Text widths measured before, by font and text. Bounded: cleared when
/// full, which only costs re-measuring.
struct WidthCache(std::collections::HashMap<(String, String), u32>);

impl WidthCache {
    const MAX_ENTRIES: usize = 4096;
}

thread_local! {
    static TEXT_WIDTHS: std::cell::RefCell<WidthCache> =
        std::cell::RefCell::new(WidthCache(std::collections::HashMap::new()));
}

/// The CSS font string plotters draws `style` with.
fn css_font<T: BackendTextStyle>(style: &T) -> String {
    format!(
        "{} {}px {}",
        style.style().as_str(),
        style.size(),
        style.family().as_str()
    )
}

impl MeasuredCanvas {
    fn new(canvas: web_sys::HtmlCanvasElement) -> Option<Self> {
        use wasm_bindgen::JsCast;
        let context = canvas.get_context("2d").ok()??.dyn_into().ok()?;
        let inner = plotters_canvas::CanvasBackend::with_canvas_object(canvas)?;
        Some(Self {
            inner,
            context,
            text_state: std::cell::RefCell::new(TextState::default()),
        })
    }

    /// Gives the context this font, skipping it if it has it already.
    fn set_font(&self, font: String) {
        let mut state = self.text_state.borrow_mut();
        if state.font.as_ref() != Some(&font) {
            self.context.set_font(&font);
            state.font = Some(font);
        }
    }

    /// Gives the context this alignment and baseline, skipping what it
    /// has already.
    fn set_anchor(&self, align: &'static str, baseline: &'static str) {
        let mut state = self.text_state.borrow_mut();
        if state.align != Some(align) {
            self.context.set_text_align(align);
            state.align = Some(align);
        }
        if state.baseline != Some(baseline) {
            self.context.set_text_baseline(baseline);
            state.baseline = Some(baseline);
        }
    }
}

type CanvasError = <plotters_canvas::CanvasBackend as DrawingBackend>::ErrorType;
type Drawn = Result<(), DrawingErrorKind<CanvasError>>;

impl DrawingBackend for MeasuredCanvas {
    type ErrorType = CanvasError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Drawn {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Drawn {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Drawn {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.inner.draw_rect(a, b, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        c: BackendCoord,
        r: u32,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.inner.draw_circle(c, r, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn {
        self.inner.fill_polygon(vert, style)
    }
    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Drawn {
        use plotters_backend::text_anchor::{HPos, VPos};
        use plotters_backend::FontTransform;
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        if !matches!(style.transform(), FontTransform::None) {
            // Rotated: plotters' own routine, inside a save and restore
            // that leave the context's text state as it was before.
            return self.inner.draw_text(text, style, pos);
        }
        let baseline = match style.anchor().v_pos {
            VPos::Top => "top",
            VPos::Center => "middle",
            VPos::Bottom => "bottom",
        };
        let align = match style.anchor().h_pos {
            HPos::Left => "start",
            HPos::Right => "end",
            HPos::Center => "center",
        };
        self.set_font(css_font(style));
        self.set_anchor(align, baseline);
        let (r, g, b) = color.rgb;
        self.context
            .set_fill_style_str(&format!("rgba({r},{g},{b},{})", color.alpha));
        if self
            .context
            .fill_text(text, f64::from(pos.0), f64::from(pos.1))
            .is_err()
        {
            // plotters' routine reports the failure in its own error type.
            *self.text_state.borrow_mut() = TextState::default();
            return self.inner.draw_text(text, style, pos);
        }
        Ok(())
    }
    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), DrawingErrorKind<CanvasError>> {
        // The same font string the canvas backend draws with.
        let font = css_font(style);
        let height = style.size().ceil() as u32;
        let key = (font, text.to_string());
        if let Some(width) = TEXT_WIDTHS.with(|c| c.borrow().0.get(&key).copied()) {
            return Ok((width, height));
        }
        let (font, text) = key;
        self.set_font(font.clone());
        let width = self.context.measure_text(&text).map_or(0.0, |m| m.width());
        let width = width.ceil() as u32;
        TEXT_WIDTHS.with(|c| {
            let mut cache = c.borrow_mut();
            if cache.0.len() >= WidthCache::MAX_ENTRIES {
                cache.0.clear();
            }
            cache.0.insert((font, text), width);
        });
        Ok((width, height))
    }
}

/// Canvas height in CSS pixels; the width follows the container.
const CSS_HEIGHT: f64 = 280.0;

/// Names of the runs: one run is unnamed, two are A and B.
pub fn run_names(n: usize) -> &'static [&'static str] {
    if n > 1 {
        &["A", "B"]
    } else {
        &[""]
    }
}

/// The read-out lines for chart `index` at `t` seconds.
fn readout(
    spec: &ScenarioSpec,
    index: usize,
    runs: &[RunResult],
    t: f64,
    span_s: f64,
) -> Vec<String> {
    let Some(chart) = spec.charts.get(index) else {
        return Vec::new();
    };
    let names = run_names(runs.len());
    let (per_unit, unit) = time_unit(span_s);
    let mut lines = vec![format!(
        "t = {} {unit}",
        crate::present::format_number(t / per_unit)
    )];
    for (run, name) in runs.iter().zip(names) {
        for key in &chart.series {
            let (label, unit) = series_label(spec, key);
            if let Some(v) = run.series(key).and_then(|s| value_at(s, run.bucket_s, t)) {
                let prefix = if name.is_empty() {
                    String::new()
                } else {
                    format!("{name} · ")
                };
                lines.push(format!("{prefix}{label}: {}", format_with_unit(v, unit)));
            }
        }
    }
    lines
}

/// A chart of the scenario's `index`-th declared chart.
#[component]
pub fn Chart(
    spec: &'static ScenarioSpec,
    index: usize,
    results: RwSignal<Option<Arc<Vec<RunResult>>>>,
    cursor: Signal<f64>,
    whole_run: Signal<bool>,
    dark: Signal<bool>,
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let area = StoredValue::new(None::<PlotArea>);
    let hover = RwSignal::new(Vec::<String>::new());
    let title = spec
        .charts
        .get(index)
        .map(|c| c.title.clone())
        .unwrap_or_default();

    // The canvas's size in CSS pixels, read once and again after the
    // window (and so the column) changes size: reading it after a run's
    // changes to the page would force a layout before the frame's own.
    let size = StoredValue::new(None::<(f64, f64)>);
    let resized = RwSignal::new(0u32);
    let listener =
        leptos::leptos_dom::helpers::window_event_listener(leptos::ev::resize, move |_| {
            size.set_value(None);
            resized.update(|n| *n += 1)
        });
    on_cleanup(move || listener.remove());

    // Whether the canvas is on screen, as an observer reports
    // it (asking the page would force a layout too).
    let on_screen = StoredValue::new(true);
    let observer = StoredValue::new_local(None::<browser::Visibility>);
    Effect::new(move |_| {
        if let Some(el) = canvas.get() {
            if observer.with_value(|o| o.is_none()) {
                observer.set_value(browser::Visibility::watch(&el, move |seen| {
                    on_screen.set_value(seen)
                }));
            }
        }
    });
    on_cleanup(move || observer.update_value(|o| drop(o.take())));

    // Charts on screen are redrawn before the frame that shows a run's
    // numbers; the others just after it, so a change costs what the
    // visitor can see (a phone shows one chart of six).
    let paint = move |el: web_sys::HtmlCanvasElement, t: f64, whole_run: bool| {
        // The bitmap matches the element's size in device pixels, so the
        // chart is drawn for the screen rather than stretched to it.
        let scale = browser::device_pixel_ratio();
        // Inside the border: what the bitmap is stretched over.
        let (css_width, css_height) = size.get_value().unwrap_or_else(|| {
            let measured = (
                f64::from(el.client_width()).max(240.0),
                f64::from(el.client_height()).max(120.0),
            );
            size.set_value(Some(measured));
            measured
        });
        let (w, h) = (
            (css_width * scale).round() as u32,
            (css_height * scale).round() as u32,
        );
        if el.width() != w || el.height() != h {
            el.set_width(w);
            el.set_height(h);
        }
        let options = ChartOptions {
            cursor_s: Some(t),
            scale,
            whole_run,
        };
        let Some(chart) = spec.charts.get(index) else {
            return;
        };
        results.with_untracked(|res| {
            let Some(runs) = res.as_ref() else { return };
            let names = run_names(runs.len());
            let chart_runs: Vec<ChartRun> = runs
                .iter()
                .zip(names)
                .map(|(r, n)| ChartRun { name: n, result: r })
                .collect();
            let Some(backend) = MeasuredCanvas::new(el) else {
                return;
            };
            let root = backend.into_drawing_area();
            let theme = if dark.get_untracked() {
                Theme::DARK
            } else {
                Theme::LIGHT
            };
            if let Ok(plot) = draw_chart(&root, spec, chart, &chart_runs, &options, &theme) {
                area.set_value(Some(plot));
            }
        });
    };
    // A draw put off until after the next frame is pending.
    let deferred = StoredValue::new(false);
    Effect::new(move |_| {
        let t = cursor.get();
        resized.track();
        results.track();
        // A new colour scheme (the system's, changed while the page is
        // open) redraws in the other theme.
        dark.track();
        let whole = whole_run.get();
        let Some(el) = canvas.get() else { return };
        if on_screen.get_value() {
            deferred.set_value(false);
            paint(el, t, whole);
            return;
        }
        if deferred.get_value() {
            return; // the pending draw reads the newest values
        }
        deferred.set_value(true);
        browser::after_next_frame(move || {
            if !deferred.get_value() {
                return; // drawn since, on screen
            }
            deferred.set_value(false);
            if let Some(el) = canvas.get_untracked() {
                paint(el, cursor.get_untracked(), whole_run.get_untracked());
            }
        });
    });

    let on_move = move |ev: leptos::ev::MouseEvent| {
        let (Some(el), Some(plot)) = (canvas.get_untracked(), area.get_value()) else {
            return;
        };
        let css_width = f64::from(el.client_width().max(1));
        let x = f64::from(ev.offset_x()) * f64::from(el.width()) / css_width;
        let lines = match plot.time_at(x) {
            Some(t) => results.with_untracked(|r| {
                r.as_ref()
                    .map(|runs| readout(spec, index, runs, t, plot.t_max))
                    .unwrap_or_default()
            }),
            None => Vec::new(),
        };
        hover.set(lines);
    };
    let export_png = move |_| {
        if let Some(el) = canvas.get_untracked() {
            if let Ok(url) = el.to_data_url() {
                browser::download(&format!("{}-chart-{}.png", spec.id, index + 1), &url);
            }
        }
    };

    // The chart in words, for a screen reader: each series' range, peak
    // and last value (the CSV button has every point).
    let described = format!("chart-{}-{index}-text", spec.id);
    let words = move || {
        results.with(|res| {
            let (Some(runs), Some(chart)) = (res.as_ref(), spec.charts.get(index)) else {
                return String::new();
            };
            let named: Vec<(&str, &RunResult)> = run_names(runs.len())
                .iter()
                .copied()
                .zip(runs.iter())
                .collect();
            crate::present::chart_summary(spec, chart, &named)
        })
    };
    view! {
        <figure class="chart" data-chart=index>
            <canvas node_ref=canvas style=format!("height:{CSS_HEIGHT}px") role="img" aria-label=title.clone()
                aria-describedby=described.clone()
                on:mousemove=on_move on:mouseleave=move |_| hover.set(Vec::new())></canvas>
            <p class="visually-hidden" id=described>{words}</p>
            <figcaption>
                <span class="readout" aria-live="polite">{move || hover.get().join(" · ")}</span>
                <button class="small" on:click=export_png>"PNG"</button>
            </figcaption>
        </figure>
    }
}
