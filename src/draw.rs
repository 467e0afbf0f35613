//! Drawing: charts through plotters' `DrawingBackend` (one routine serves
//! the browser's canvas and the CLI's SVG files) and the architecture
//! diagram as an SVG string (the page inlines it; the CLI writes it out).

use crate::engine::RunResult;
use crate::present::{format_with_unit, series_label, value_at};
use crate::spec::{ChartSpec, ScenarioSpec};
use plotters::coord::Shift;
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
    /// One colour per series, in order (colour-blind friendly, Okabe–Ito).
    pub palette: [RGBColor; 6],
}

impl Theme {
    /// Light scheme.
    pub const LIGHT: Theme = Theme {
        background: RGBColor(255, 255, 255),
        foreground: RGBColor(32, 33, 36),
        grid: RGBColor(225, 227, 232),
        palette: [
            RGBColor(0, 114, 178),
            RGBColor(213, 94, 0),
            RGBColor(0, 158, 115),
            RGBColor(204, 121, 167),
            RGBColor(86, 180, 233),
            RGBColor(150, 120, 0),
        ],
    };
    /// Dark scheme.
    pub const DARK: Theme = Theme {
        background: RGBColor(24, 26, 31),
        foreground: RGBColor(225, 228, 235),
        grid: RGBColor(58, 62, 72),
        palette: [
            RGBColor(86, 180, 233),
            RGBColor(240, 150, 60),
            RGBColor(60, 200, 150),
            RGBColor(225, 150, 195),
            RGBColor(240, 228, 66),
            RGBColor(200, 200, 200),
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

/// Draws one chart of `spec` for one or two runs, with a cursor line at
/// `cursor_s` seconds if given.
pub fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ScenarioSpec,
    chart: &ChartSpec,
    runs: &[ChartRun<'_>],
    cursor_s: Option<f64>,
    theme: &Theme,
) -> Result<PlotArea, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&theme.background)?;
    let t_max = runs
        .iter()
        .map(|r| r.result.duration_s)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let y_max = runs
        .iter()
        .flat_map(|r| {
            chart
                .series
                .iter()
                .filter_map(|k| r.result.series(k))
                .flat_map(|s| s.values.iter().copied())
        })
        .fold(0.0_f64, f64::max);
    let y_top = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
    let text = |size: u32| ("sans-serif", size).into_font().color(&theme.foreground);
    // Long runs read better in minutes or hours than in raw seconds.
    let (per_unit, unit) = if t_max >= 3.0 * 3600.0 {
        (3600.0, "h")
    } else if t_max >= 180.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    };
    let x_desc = format!("simulated time ({unit})");
    // The axis counts in that unit, so its ticks fall on round numbers of
    // it (2, 4, 6 h rather than 2.78, 5.56 h).
    let x_max = t_max / per_unit;
    let mut ctx = ChartBuilder::on(root)
        .margin(8)
        .caption(&chart.title, text(15))
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..y_top)?;
    ctx.configure_mesh()
        // One light line between labels: enough to read values, and far
        // fewer strokes to redraw on every change.
        .x_max_light_lines(1)
        .y_max_light_lines(1)
        .light_line_style(theme.grid)
        .bold_line_style(theme.grid)
        .axis_style(theme.foreground)
        .label_style(text(11))
        .axis_desc_style(text(12))
        .x_desc(x_desc.as_str())
        .x_label_formatter(&|x| crate::present::format_number(*x))
        .y_label_formatter(&|v| crate::present::format_number(*v))
        .y_desc(chart.unit.as_str())
        .x_labels(8)
        .y_labels(5)
        .draw()?;

    let mut legend = Vec::new();
    for (run_index, run) in runs.iter().enumerate() {
        for (i, key) in chart.series.iter().enumerate() {
            let Some(series) = run.result.series(key) else {
                continue;
            };
            let color = theme.palette[i % theme.palette.len()];
            let bucket = run.result.bucket_s / per_unit;
            // Plot each bucket at its midpoint.
            let points = series
                .values
                .iter()
                .enumerate()
                .map(move |(j, &v)| ((j as f64 + 0.5) * bucket, v));
            let (label, _) = series_label(spec, key);
            let legend_text = if run.name.is_empty() {
                label.to_string()
            } else {
                format!("{} · {label}", run.name)
            };
            let style = color.stroke_width(SERIES_WIDTH);
            let dashed = run_index > 0;
            if dashed {
                ctx.draw_series(DashedLineSeries::new(points, 6, 4, style))?;
            } else {
                ctx.draw_series(LineSeries::new(points, style))?;
            }
            legend.push((legend_text, color, dashed));
        }
    }
    if let Some(t) = cursor_s {
        let x = t.clamp(0.0, t_max) / per_unit;
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y_top)],
            theme.foreground.mix(0.5).stroke_width(1),
        )))?;
    }
    let (x_range, y_range) = ctx.plotting_area().get_pixel_range();
    draw_legend(root, &legend, (x_range.start + 8, y_range.start + 6), theme)?;
    root.present()?;
    Ok(PlotArea {
        left: x_range.start,
        right: x_range.end,
        t_max,
    })
}

/// Draws the legend box: a line sample and a label per series. Drawn by
/// hand rather than with plotters' series labels, which measure text outside
/// the backend (in a browser, by laying out the whole page per label).
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[(String, RGBColor, bool)],
    (x, y): (i32, i32),
    theme: &Theme,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    if items.is_empty() {
        return Ok(());
    }
    let style = TextStyle::from(("sans-serif", 11).into_font())
        .color(&theme.foreground)
        .pos(Pos::new(HPos::Left, VPos::Center));
    const ROW: i32 = 15;
    let mut widest = 0;
    for (text, _, _) in items {
        widest = widest.max(root.estimate_text_size(text, &style)?.0 as i32);
    }
    let (w, h) = (widest + 40, items.len() as i32 * ROW + 8);
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        theme.background.mix(0.85).filled(),
    ))?;
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        theme.grid.stroke_width(1),
    ))?;
    for (i, (text, color, dashed)) in items.iter().enumerate() {
        let cy = y + 4 + i as i32 * ROW + ROW / 2;
        let sample = if *dashed {
            vec![
                vec![(x + 6, cy), (x + 14, cy)],
                vec![(x + 20, cy), (x + 28, cy)],
            ]
        } else {
            vec![vec![(x + 6, cy), (x + 28, cy)]]
        };
        for segment in sample {
            root.draw(&PathElement::new(segment, color.stroke_width(SERIES_WIDTH)))?;
        }
        root.draw_text(text, &style, (x + 34, cy))?;
    }
    Ok(())
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
        draw_chart(&root, spec, chart, runs, None, theme).map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Diagram units: nodes are laid out on a 100 × 60 grid, scaled by this.
const SCALE: f64 = 8.0;
/// Arrowhead length and half-width, px.
const ARROW_LEN: f64 = 14.0;
const ARROW_HALF_WIDTH: f64 = 7.0;
const NODE_W: f64 = 150.0;
/// Rough width of one character of node text, for sizing boxes to fit.
const CHAR_W: f64 = 7.4;
const NODE_H_BASE: f64 = 34.0;
const LINE_H: f64 = 16.0;

/// The architecture diagram at `t` seconds of `result` as an SVG document.
/// Each node lists the current value of the series it `shows`; a node
/// showing errors or rejections above zero is drawn in the alert colour.
pub fn diagram_svg(spec: &ScenarioSpec, result: Option<&RunResult>, t: f64) -> String {
    let lines_of = |node: &crate::spec::NodeSpec| -> Vec<(String, bool)> {
        node.shows
            .iter()
            .map(|key| {
                let (label, unit) = series_label(spec, key);
                let value =
                    result.and_then(|r| r.series(key).and_then(|s| value_at(s, r.bucket_s, t)));
                let alert = value.is_some_and(|v| v > 0.0)
                    && [
                        "error", "reject", "refus", "timeout", "crash", "drop", "fail", "oom",
                    ]
                    .iter()
                    .any(|w| key.contains(w));
                let text = match value {
                    Some(v) => format!("{label}: {}", format_with_unit(v, unit)),
                    None => format!("{label}: …"),
                };
                (text, alert)
            })
            .collect()
    };
    let height = |n: &crate::spec::NodeSpec| NODE_H_BASE + LINE_H * n.shows.len() as f64;
    // Wide enough for the longest label plus room for a value; it depends on
    // labels only, so boxes do not jitter as values change during playback.
    let width = |n: &crate::spec::NodeSpec| {
        let longest = n
            .shows
            .iter()
            .map(|k| series_label(spec, k).0.chars().count() + 14)
            .chain(std::iter::once(n.label.chars().count() + 4))
            .max()
            .unwrap_or(0);
        (longest as f64 * CHAR_W).clamp(NODE_W, 2.0 * NODE_W)
    };
    // Crop the view to the boxes (plus a margin), so the diagram fills its
    // space however the layout grid is used.
    const MARGIN: f64 = 16.0;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for n in &spec.nodes {
        let (cx, cy, hw, hh) = (n.x * SCALE, n.y * SCALE, width(n) / 2.0, height(n) / 2.0);
        x0 = x0.min(cx - hw);
        y0 = y0.min(cy - hh);
        x1 = x1.max(cx + hw);
        y1 = y1.max(cy + hh);
    }
    if spec.nodes.is_empty() {
        (x0, y0, x1, y1) = (0.0, 0.0, 100.0 * SCALE, 60.0 * SCALE);
    }
    let (vx, vy, w, h) = (
        x0 - MARGIN,
        y0 - MARGIN,
        x1 - x0 + 2.0 * MARGIN,
        y1 - y0 + 2.0 * MARGIN,
    );
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{vx:.1} {vy:.1} {w:.1} {h:.1}\" class=\"diagram\" role=\"img\" aria-label=\"{}\">\
<title>{}</title>",
        escape(&format!("Architecture of {}", spec.title)),
        escape(&format!("Architecture of {}", spec.title)),
    );
    for link in &spec.links {
        let (Some(a), Some(b)) = (
            spec.nodes.iter().find(|n| n.id == link.from),
            spec.nodes.iter().find(|n| n.id == link.to),
        ) else {
            continue;
        };
        let (ax, ay, bx, by) = (a.x * SCALE, a.y * SCALE, b.x * SCALE, b.y * SCALE);
        // Clip the line to the two boxes' edges so the arrowhead shows.
        let clip = |x: f64, y: f64, dx: f64, dy: f64, ww: f64, hh: f64| {
            let sx = if dx != 0.0 {
                (ww / 2.0) / dx.abs()
            } else {
                f64::INFINITY
            };
            let sy = if dy != 0.0 {
                (hh / 2.0) / dy.abs()
            } else {
                f64::INFINITY
            };
            let s = sx.min(sy).min(1.0);
            (x + dx * s, y + dy * s)
        };
        let (dx, dy) = (bx - ax, by - ay);
        let (x1, y1) = clip(ax, ay, dx, dy, width(a), height(a));
        let (x2, y2) = clip(bx, by, -dx, -dy, width(b), height(b));
        // The arrowhead is a triangle of its own rather than an SVG marker:
        // a marker needs a document-wide id, and a page comparing A and B
        // shows two diagrams.
        let len = libm::hypot(dx, dy).max(1e-9);
        let (ux, uy) = (dx / len, dy / len);
        let (bx, by) = (x2 - ARROW_LEN * ux, y2 - ARROW_LEN * uy);
        let (nx, ny) = (-uy * ARROW_HALF_WIDTH, ux * ARROW_HALF_WIDTH);
        out.push_str(&format!(
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" class=\"link\"/>\
<polygon points=\"{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}\" class=\"arrowhead\"/>",
            (x2 + bx) / 2.0,
            (y2 + by) / 2.0,
            bx + nx,
            by + ny,
            bx - nx,
            by - ny,
        ));
        if !link.label.is_empty() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"link-label\" text-anchor=\"middle\">{}</text>",
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 6.0,
                escape(&link.label)
            ));
        }
    }
    for node in &spec.nodes {
        let lines = lines_of(node);
        let (nw, nh) = (width(node), height(node));
        let (x, y) = (node.x * SCALE - nw / 2.0, node.y * SCALE - nh / 2.0);
        let alert = lines.iter().any(|(_, a)| *a);
        out.push_str(&format!(
            "<g class=\"node{}\" data-node=\"{}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{nw:.1}\" height=\"{nh}\" rx=\"8\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" class=\"node-title\" text-anchor=\"middle\">{}</text>",
            if alert { " alert" } else { "" },
            escape(&node.id),
            node.x * SCALE,
            y + 21.0,
            escape(&node.label)
        ));
        for (i, (text, _)) in lines.iter().enumerate() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"node-value\" text-anchor=\"middle\">{}</text>",
                node.x * SCALE,
                y + 21.0 + LINE_H * (i as f64 + 1.0),
                escape(text)
            ));
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;
    use crate::spec::RunConfig;

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
        let at_burst = diagram_svg(&s.spec, Some(&fixed), 10.1);
        assert!(at_burst.contains("Admitted in the trailing window (one client): 40 requests"));
        assert!(!at_burst.contains("class=\"node alert\" data-node=\"limiter\""));
        // The sliding log rejects the second half, just after the boundary.
        let mut params = s.spec.defaults();
        s.spec
            .apply_preset(&mut params, "good")
            .unwrap_or_else(|e| panic!("{e}"));
        let log = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let rejecting = diagram_svg(&s.spec, Some(&log), 10.05);
        assert!(rejecting.contains("class=\"node alert\" data-node=\"limiter\""));
        let calm = diagram_svg(&s.spec, Some(&log), 2.0);
        assert!(!calm.contains("class=\"node alert\" data-node=\"limiter\""));
        assert_eq!(calm.matches("<line").count(), s.spec.links.len());
        // An arrowhead per link, and no ids: A and B can share a page.
        assert_eq!(
            calm.matches("class=\"arrowhead\"").count(),
            s.spec.links.len()
        );
        assert!(!calm.contains(" id="), "an id would repeat when comparing");
        let empty = diagram_svg(&s.spec, None, 0.0);
        assert!(empty.contains("Rate limiter") && empty.contains("…"));
    }
}
