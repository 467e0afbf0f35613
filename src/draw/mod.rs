//! Drawing: charts through plotters' `DrawingBackend` (one routine serves
//! the browser's canvas and the CLI's SVG files) and the architecture
//! diagram as an SVG string (the page inlines it; the CLI writes it out).

use crate::engine::RunResult;
use crate::present::series_label;
use crate::spec::{ChartSpec, ScenarioSpec};
use plotters::coord::Shift;

mod diagram;
pub mod text;

pub use diagram::{diagram_svg, DiagramLayout};
use plotters::prelude::*;

/// Stroke width of a data series, px. One pixel on purpose: browsers
/// rasterise a 1 px line as a hairline, and Chromium's software canvas
/// took 4.3 ms of a 5 ms redraw of three charts to fill 2 px strokes.
const SERIES_WIDTH: u32 = 1;

/// Colours for one colour scheme.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    /// Background.
    pub background: RGBColor,
    /// Text and axes.
    pub foreground: RGBColor,
    /// Grid lines.
    pub grid: RGBColor,
    /// Marked events (out of memory, crash, 504).
    pub alert: RGBColor,
    /// One colour per palette slot (colour-blind friendly, Okabe–Ito).
    pub palette: [RGBColor; 8],
}

impl Theme {
    /// Light scheme.
    pub const LIGHT: Theme = Theme {
        background: RGBColor(255, 255, 255),
        foreground: RGBColor(32, 33, 36),
        grid: RGBColor(225, 227, 232),
        alert: RGBColor(197, 34, 31),
        palette: [
            RGBColor(0, 114, 178),
            RGBColor(213, 94, 0),
            RGBColor(0, 158, 115),
            RGBColor(204, 121, 167),
            RGBColor(86, 180, 233),
            RGBColor(230, 159, 0),
            RGBColor(120, 94, 240),
            RGBColor(110, 110, 110),
        ],
    };
    /// Dark scheme.
    pub const DARK: Theme = Theme {
        background: RGBColor(24, 26, 31),
        foreground: RGBColor(225, 228, 235),
        grid: RGBColor(58, 62, 72),
        alert: RGBColor(255, 138, 128),
        palette: [
            RGBColor(86, 180, 233),
            RGBColor(240, 120, 60),
            RGBColor(60, 200, 150),
            RGBColor(225, 150, 195),
            RGBColor(150, 210, 250),
            RGBColor(240, 200, 66),
            RGBColor(170, 150, 255),
            RGBColor(190, 190, 190),
        ],
    };
}

/// One run to draw: variant A is solid, variant B dashed.
pub struct ChartRun<'a> {
    /// Legend prefix ("A", "B"); empty when there is a single run.
    pub name: &'a str,
    /// The run.
    pub result: &'a RunResult,
}

/// Where the plot area landed, to map a mouse position back to a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlotArea {
    /// Left edge of the plot in backend pixels.
    pub left: i32,
    /// Right edge of the plot in backend pixels.
    pub right: i32,
    /// Seconds at the right edge.
    pub t_max: f64,
}

impl PlotArea {
    /// The time under pixel column `x`, if inside the plot.
    pub fn time_at(&self, x: f64) -> Option<f64> {
        let width = f64::from(self.right - self.left);
        let frac = (x - f64::from(self.left)) / width;
        (width > 0.0 && (0.0..=1.0).contains(&frac)).then_some(frac * self.t_max)
    }
}

/// How a chart is drawn besides its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartOptions {
    /// A cursor line at this many seconds.
    pub cursor_s: Option<f64>,
    /// Backend pixels per CSS pixel (the screen's `devicePixelRatio`):
    /// fonts, margins and strokes scale with it, so a chart is as crisp
    /// and as legible on a phone as on a 4K monitor.
    pub scale: f64,
    /// Draw the whole run rather than its active span.
    pub whole_run: bool,
}

impl Default for ChartOptions {
    fn default() -> Self {
        Self {
            cursor_s: None,
            scale: 1.0,
            whole_run: false,
        }
    }
}

/// The display unit for a time axis reaching `t_max` seconds: seconds per
/// unit and its name. Long runs read better in minutes or hours.
pub fn time_unit(t_max: f64) -> (f64, &'static str) {
    if t_max >= 3.0 * 3600.0 {
        (3600.0, "h")
    } else if t_max >= 180.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    }
}

/// The palette slot of each series of `chart`: common series have fixed
/// slots (p99 is the same colour in every scenario) and a scenario's own
/// series take their place in its `series` list, so a series keeps its
/// colour across charts; a slot already used on the chart moves on to the
/// next free one.
pub fn series_slots(spec: &ScenarioSpec, chart: &ChartSpec, palette: usize) -> Vec<usize> {
    const COMMON: [(&str, usize); 6] = [
        ("throughput_rps", 0),
        ("errors_rps", 1),
        ("in_flight", 2),
        ("latency_p50_ms", 4),
        ("latency_p95_ms", 5),
        ("latency_p99_ms", 3),
    ];
    let mut used = Vec::new();
    for key in &chart.series {
        let preferred = COMMON
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, slot)| *slot)
            .or_else(|| spec.series.iter().position(|s| &s.key == key))
            .unwrap_or(0);
        let slot = (0..palette)
            .map(|i| (preferred + i) % palette)
            .find(|s| !used.contains(s))
            .unwrap_or(preferred % palette);
        used.push(slot);
    }
    used
}

/// Draws one chart of `spec` for one or two runs: a title and legend band
/// above the plot (so the legend never covers data), the series over the
/// active span, a line at each marked event, and the cursor.
pub fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ScenarioSpec,
    chart: &ChartSpec,
    runs: &[ChartRun<'_>],
    options: &ChartOptions,
    theme: &Theme,
) -> Result<PlotArea, DrawingAreaErrorKind<DB::ErrorType>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let s = options.scale.clamp(0.5, 8.0);
    let px = |v: f64| (v * s).round() as i32;
    let font = |size: f64| {
        ("sans-serif", size * s)
            .into_font()
            .color(&theme.foreground)
    };
    root.fill(&theme.background)?;
    let t_max = crate::present::chart_span(runs.iter().map(|r| r.result), options.whole_run);
    let (per_unit, unit) = time_unit(t_max);
    let x_max = t_max / per_unit;
    let y_max = runs
        .iter()
        .flat_map(|r| {
            let buckets = (t_max / r.result.bucket_s).ceil() as usize;
            chart
                .series
                .iter()
                .filter_map(|k| r.result.series(k))
                .flat_map(move |s| s.values.iter().take(buckets.max(1)).copied())
        })
        .fold(0.0_f64, f64::max);
    let y_top = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };

    // The legend: one entry per series and run, laid out in rows under the
    // title, wrapping at the chart's width.
    let slots = series_slots(spec, chart, theme.palette.len());
    let mut legend = Vec::new();
    for (run_index, run) in runs.iter().enumerate() {
        for (i, key) in chart.series.iter().enumerate() {
            if run.result.series(key).is_none() {
                continue;
            }
            let (label, _) = series_label(spec, key);
            let text = if run.name.is_empty() {
                label.to_string()
            } else {
                format!("{} · {label}", run.name)
            };
            let layers = underlay(chart.series.len(), i);
            legend.push((
                text,
                run_colour(theme, slots[i], run_index),
                run_index > 0,
                layers,
            ));
        }
    }
    let legend_style = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
    let (width, _) = root.dim_in_pixel();
    let (row_h, sample_w) = (px(17.0), px(26.0));
    let mut placed = Vec::new();
    let (mut x, mut y) = (px(10.0), px(30.0));
    for (text, colour, dashed, layers) in &legend {
        let w = root.estimate_text_size(text, &legend_style)?.0 as i32 + sample_w + px(20.0);
        if x > px(10.0) && x + w > width as i32 - px(10.0) {
            x = px(10.0);
            y += row_h;
        }
        placed.push((x, y, text, *colour, *dashed, *layers));
        x += w;
    }
    let band = y + row_h / 2 + px(4.0);
    root.draw_text(
        &chart.title,
        &font(15.0).pos(Pos::new(HPos::Left, VPos::Center)),
        (px(10.0), px(13.0)),
    )?;
    for (x, y, text, colour, dashed, layers) in placed {
        let stroke = colour.stroke_width(SERIES_WIDTH.max(s.round() as u32) * layers);
        let segments = if dashed {
            vec![
                vec![(x, y), (x + px(10.0), y)],
                vec![(x + px(16.0), y), (x + sample_w, y)],
            ]
        } else {
            vec![vec![(x, y), (x + sample_w, y)]]
        };
        for segment in segments {
            root.draw(&PathElement::new(segment, stroke))?;
        }
        root.draw_text(text, &legend_style, (x + sample_w + px(6.0), y))?;
    }

    let (_, plot_root) = root.split_vertically(band);
    // Room for the widest tick label (the top of the axis has the most
    // digits) plus the unit written beside it, so the two never overlap.
    // (A third of the top stands for the ticks with decimals, "0.500".)
    let mut widest_tick = 0;
    for v in [y_top, y_top / 3.0] {
        let text = crate::present::format_number(v);
        widest_tick = widest_tick.max(root.estimate_text_size(&text, &font(12.0))?.0 as i32);
    }
    let y_area = widest_tick + px(34.0);
    let x_desc = format!("simulated time ({unit})");
    let discrete = chart.unit == "state";
    let mut ctx = ChartBuilder::on(&plot_root)
        .margin_left(px(6.0))
        .margin_right(px(16.0))
        .margin_top(px(6.0))
        .margin_bottom(px(4.0))
        .x_label_area_size(px(40.0))
        .y_label_area_size(y_area)
        .build_cartesian_2d(0.0..x_max, 0.0..y_top)?;
    ctx.configure_mesh()
        // One light line between labels: enough to read values, and far
        // fewer strokes to redraw on every change.
        .x_max_light_lines(1)
        .y_max_light_lines(1)
        .light_line_style(theme.grid)
        .bold_line_style(theme.grid)
        .axis_style(theme.foreground)
        .label_style(font(12.0))
        .axis_desc_style(font(12.0))
        .x_desc(x_desc.as_str())
        .x_label_formatter(&|x| crate::present::format_number(*x))
        .y_label_formatter(&|v| {
            // A chart of states (a breaker's 0, 1, 2) has no state 0.5.
            if discrete && v.fract() != 0.0 {
                String::new()
            } else {
                crate::present::format_number(*v)
            }
        })
        .y_desc(chart.unit.as_str())
        .x_labels(8)
        .y_labels(5)
        .draw()?;

    // Faults on the timeline: a shaded band each, under the series.
    let faults = runs
        .first()
        .map(|r| r.result.faults.as_slice())
        .unwrap_or(&[]);
    for f in faults {
        let (a, b) = (f.start_s / per_unit, (f.end_s / per_unit).min(x_max));
        if a >= x_max || b <= a {
            continue;
        }
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.0), (b, y_top)],
            theme.alert.mix(0.10).filled(),
        )))?;
    }

    // A chart of nothing says so, instead of a 0–1 axis that reads as data.
    if y_max <= 0.0 {
        let (xs, ys) = ctx.plotting_area().get_pixel_range();
        let centre = ((xs.start + xs.end) / 2, (ys.start + ys.end) / 2);
        let grey = theme.foreground.mix(0.7);
        let note = font(13.0)
            .color(&grey)
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text("0 throughout this span", &note, centre)?;
    }
    let stroke_w = SERIES_WIDTH.max(s.round() as u32);
    for (run_index, run) in runs.iter().enumerate() {
        for (i, key) in chart.series.iter().enumerate() {
            let Some(series) = run.result.series(key) else {
                continue;
            };
            let bucket = run.result.bucket_s / per_unit;
            let style = run_colour(theme, slots[i], run_index).stroke_width(stroke_w);
            for points in segments(run.result, key, &series.values, bucket, x_max) {
                if run_index > 0 {
                    ctx.draw_series(DashedLineSeries::new(
                        points,
                        px(6.0) as u32,
                        px(4.0) as u32,
                        style,
                    ))?;
                    continue;
                }
                // The first series is drawn wider, underneath (see
                // `underlay`), as hairlines one device pixel apart: a
                // software canvas draws a hairline several times faster than
                // one wide stroke.
                let layers = underlay(chart.series.len(), i) as i32;
                let (x_px, _) = ctx.plotting_area().get_pixel_range();
                let line: Vec<(i32, i32)> = points
                    .iter()
                    .map(|p| {
                        let (x, y) = ctx.backend_coord(p);
                        (x.clamp(x_px.start, x_px.end), y)
                    })
                    .collect();
                let thickness = stroke_w as i32;
                for layer in 0..layers * thickness {
                    let dy = layer - (layers * thickness - 1) / 2;
                    let shifted = line.iter().map(|&(x, y)| (x, y + dy));
                    root.draw(&PathElement::new(
                        shifted.collect::<Vec<_>>(),
                        style.stroke_width(1),
                    ))?;
                }
            }
        }
    }
    // Marked events: a line each, labelled where the label has room.
    let mark_style = theme.alert.mix(0.8).stroke_width(stroke_w);
    let label_style = font(11.0)
        .color(&theme.alert)
        .pos(Pos::new(HPos::Left, VPos::Top));
    // Two rows of labels: a label that would overlap the one before it in
    // the first row goes to the second, so crowded marks all keep a label.
    let mut label_free_from = [i32::MIN; 2];
    let marks = runs
        .first()
        .map(|r| r.result.marks.as_slice())
        .unwrap_or(&[]);
    // A fault's label sits at its band's start, in the marks' rows; only
    // marks get a line (the band shows the fault).
    let labels = marks
        .iter()
        .map(|m| (m.t_s, m.label.as_str(), true))
        .chain(faults.iter().map(|f| (f.start_s, f.label.as_str(), false)));
    let mut labels: Vec<_> = labels.collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t_s, label, line) in labels {
        let x = t_s / per_unit;
        if x > x_max {
            continue;
        }
        if line {
            ctx.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, y_top)],
                mark_style,
            )))?;
        }
        let (at, _) = ctx.backend_coord(&(x, y_top));
        let label_w = plot_root.estimate_text_size(label, &label_style)?.0 as i32;
        // Right of its line, or left of it when the line is near the right
        // edge (a crash that ends the active span), never over another.
        let right_edge = ctx.plotting_area().get_pixel_range().0.end;
        let top = ctx.plotting_area().get_pixel_range().1.start;
        let left = if at + label_w + px(4.0) < right_edge {
            at + px(3.0)
        } else {
            at - label_w - px(3.0)
        };
        if let Some(row) = (0..2).find(|&r| left >= label_free_from[r]) {
            let y = top + px(2.0) + row as i32 * px(14.0);
            root.draw_text(label, &label_style, (left, y))?;
            label_free_from[row] = left + label_w + px(7.0);
        }
    }
    if let Some(t) = options.cursor_s {
        let x = (t / per_unit).clamp(0.0, x_max);
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y_top)],
            theme.foreground.mix(0.5).stroke_width(stroke_w),
        )))?;
    }
    let (x_range, _) = ctx.plotting_area().get_pixel_range();
    root.present()?;
    Ok(PlotArea {
        left: x_range.start,
        right: x_range.end,
        t_max,
    })
}

/// The runs of points of one series to draw as lines, each bucket at its
/// midpoint, up to the end of the span. A latency has no value in a bucket
/// in which nothing completed (its histogram is empty and reads 0): there
/// the line breaks instead of diving to zero. A lone bucket between gaps is
/// drawn across its own width.
fn segments(
    result: &RunResult,
    key: &str,
    values: &[f64],
    bucket: f64,
    x_max: f64,
) -> Vec<Vec<(f64, f64)>> {
    let completions = key
        .starts_with("latency_")
        .then(|| result.series("throughput_rps"))
        .flatten();
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (j, &v) in values.iter().enumerate() {
        let x = (j as f64 + 0.5) * bucket;
        if x > x_max + bucket {
            break;
        }
        let sampled = completions.is_none_or(|c| c.values.get(j).is_some_and(|&n| n > 0.0));
        match out.last_mut() {
            Some(run) if sampled => run.push((x, v)),
            Some(run) if !run.is_empty() => out.push(Vec::new()),
            _ => {}
        }
    }
    // A series that ends before the span (nothing happened after; see
    // `Recorder::finish`) holds its last value to the end, as a rate back
    // at 0 or a gauge's level would. Latency has no value where nothing
    // completes, so it just ends.
    let covered = values.len() as f64 * bucket;
    if completions.is_none() && covered < x_max {
        if let (Some(run), Some(&last)) = (out.last_mut(), values.last()) {
            run.push((x_max, last));
        }
    }
    out.into_iter()
        .filter(|run| !run.is_empty())
        .map(|run| match run.as_slice() {
            [(x, v)] => vec![(x - bucket / 2.0, *v), (x + bucket / 2.0, *v)],
            _ => run,
        })
        .collect()
}

/// How many device pixels wide series `i` of `n` is drawn (times the
/// screen's scale): the first of several twice as wide, so a series drawn
/// over it exactly (connections in use = queries running) still shows it
/// along its edge. Only the first: every extra hairline costs redraw time.
fn underlay(n: usize, i: usize) -> u32 {
    if i == 0 && n > 1 {
        2
    } else {
        1
    }
}

/// Run A draws in the palette colour; run B in a shade of it (mixed with
/// the text colour) as well as dashed, so the two stay apart in colour
/// and in print.
fn run_colour(theme: &Theme, slot: usize, run_index: usize) -> RGBColor {
    let c = theme.palette[slot % theme.palette.len()];
    if run_index == 0 {
        return c;
    }
    let f = theme.foreground;
    let mix = |a: u8, b: u8| ((u16::from(a) * 11 + u16::from(b) * 9) / 20) as u8;
    RGBColor(mix(c.0, f.0), mix(c.1, f.1), mix(c.2, f.2))
}

/// A chart as a standalone SVG document.
pub fn chart_svg(
    spec: &ScenarioSpec,
    chart: &ChartSpec,
    runs: &[ChartRun<'_>],
    size: (u32, u32),
    theme: &Theme,
) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw_chart(&root, spec, chart, runs, &ChartOptions::default(), theme)
            .map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;
    use crate::spec::RunConfig;

    #[test]
    fn a_chart_of_states_labels_only_whole_states() {
        // The breaker goes 0 → 2 → 1 → …: its axis says 0, 1, 2, never 0.500.
        let s = find("cascading-failures").unwrap_or_else(|e| panic!("{e}"));
        let params = s
            .spec
            .resolve(Some("good"), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 42,
            duration_s: 90.0,
        };
        let out = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let chart = s
            .spec
            .charts
            .iter()
            .find(|c| c.unit == "state")
            .unwrap_or_else(|| panic!("the breaker chart"));
        let runs = [ChartRun {
            name: "A",
            result: &out,
        }];
        let svg = chart_svg(&s.spec, chart, &runs, (640, 300), &Theme::LIGHT)
            .unwrap_or_else(|e| panic!("{e}"));
        let texts: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .collect();
        assert!(texts.contains(&"1") && texts.contains(&"2"), "{texts:?}");
        assert!(
            !texts
                .iter()
                .any(|t| t.contains('.') && t.parse::<f64>().is_ok()),
            "{texts:?}"
        );
    }

    #[test]
    fn charts_render_to_svg_with_legend_and_axes() {
        let s = find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 1,
            duration_s: 5.0,
        };
        let a = s
            .run(&s.spec.defaults(), &cfg)
            .unwrap_or_else(|e| panic!("{e}"));
        let runs = [
            ChartRun {
                name: "A",
                result: &a,
            },
            ChartRun {
                name: "B",
                result: &a,
            },
        ];
        let svg = chart_svg(&s.spec, &s.spec.charts[0], &runs, (640, 300), &Theme::LIGHT)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Latency"));
        assert!(svg.contains("A · p99 latency") && svg.contains("B · p50 latency"));
        assert!(svg.contains("simulated time (s)"));
        assert!(svg.contains("stroke-dasharray") || svg.matches("<polyline").count() >= 3);
    }

    #[test]
    fn latency_lines_break_where_nothing_completed() {
        use crate::engine::metrics::Series;
        let result = RunResult {
            events: 0,
            duration_s: 6.0,
            bucket_s: 1.0,
            metrics: Vec::new(),
            series: vec![Series {
                key: "throughput_rps".into(),
                values: vec![2.0, 3.0, 0.0, 1.0, 0.0, 4.0],
            }],
            outcomes: Vec::new(),
            marks: Vec::new(),
            faults: Vec::new(),
        };
        let p99 = [10.0, 12.0, 0.0, 9.0, 0.0, 11.0];
        let runs = segments(&result, "latency_p99_ms", &p99, 1.0, 6.0);
        assert_eq!(
            runs,
            vec![
                vec![(0.5, 10.0), (1.5, 12.0)],
                vec![(3.0, 9.0), (4.0, 9.0)],
                vec![(5.0, 11.0), (6.0, 11.0)],
            ]
        );
        // Any other series is one line through its zeros.
        let queue = segments(&result, "queue", &p99, 1.0, 6.0);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].len(), 6);
    }

    #[test]
    fn plot_area_maps_pixels_back_to_time() {
        let p = PlotArea {
            left: 100,
            right: 300,
            t_max: 20.0,
        };
        assert_eq!(p.time_at(200.0), Some(10.0));
        assert_eq!(p.time_at(99.0), None);
        assert_eq!(p.time_at(300.0), Some(20.0));
    }

    #[test]
    fn diagram_shows_live_values_and_flags_errors() {
        let s = find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 1,
            duration_s: 20.0,
        };
        let fixed = s
            .run(&s.spec.defaults(), &cfg)
            .unwrap_or_else(|e| panic!("{e}"));
        // The fixed window admits the whole burst: by 10.1 s the burst
        // client has 40 admissions in its trailing window, and no rejections.
        let defaults = s.spec.defaults();
        let at_burst = diagram_svg(&s.spec, Some(&defaults), Some(&fixed), 10.1);
        assert!(at_burst.contains("Admitted in the trailing window (one client): 40 requests"));
        assert!(!at_burst.contains("class=\"node alert\" data-node=\"limiter\""));
        // The sliding log rejects the second half, just after the boundary.
        let mut params = s.spec.defaults();
        s.spec
            .apply_preset(&mut params, "good")
            .unwrap_or_else(|e| panic!("{e}"));
        let log = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let rejecting = diagram_svg(&s.spec, Some(&params), Some(&log), 10.05);
        assert!(rejecting.contains("class=\"node alert\" data-node=\"limiter\""));
        let calm = diagram_svg(&s.spec, Some(&params), Some(&log), 2.0);
        assert!(!calm.contains("class=\"node alert\" data-node=\"limiter\""));
        assert_eq!(calm.matches("<polyline").count(), s.spec.links.len());
        // An arrowhead per link, and no ids: A and B can share a page.
        assert_eq!(
            calm.matches("class=\"arrowhead\"").count(),
            s.spec.links.len()
        );
        assert!(!calm.contains(" id="), "an id would repeat when comparing");
        let empty = diagram_svg(&s.spec, None, None, 0.0);
        assert!(empty.contains("Rate limiter") && empty.contains("…"));
    }
}
