//! The architecture diagram, laid out from its content.
//!
//! The data file places each node on a coarse grid (`x`, `y`); those
//! numbers only say which nodes share a column or a row and in what order.
//! The layout then sizes every box to the widest text it will show over
//! the whole run (so boxes do not jitter during playback), sizes columns to
//! their widest box and the gaps to the widest link label, and routes links
//! as straight or L-shaped paths that avoid other boxes. Overlaps are thus
//! impossible by construction, and a browser test checks the rendered result.

use super::text::{self, FONT_STACK};
use crate::engine::RunResult;
use crate::present::{format_with_unit, series_label, value_at};
use crate::spec::{NodeSpec, Params, ScenarioSpec};

/// Title and value font sizes, px (the page's CSS uses the same).
const TITLE_PX: f64 = 15.0;
const VALUE_PX: f64 = 13.0;
const LABEL_PX: f64 = 12.0;
/// Space between a box's edge and its widest text, px.
const PAD_X: f64 = 14.0;
const NODE_H_BASE: f64 = 34.0;
const LINE_H: f64 = 16.0;
const MIN_NODE_W: f64 = 120.0;
/// Gaps between columns and rows, px (columns widen for link labels).
const MIN_COL_GAP: f64 = 56.0;
const ROW_GAP: f64 = 48.0;
/// Nodes whose grid coordinates differ by less than this share a column/row.
const SAME_LINE: f64 = 3.0;
const MARGIN: f64 = 16.0;
const ARROW_LEN: f64 = 12.0;
const ARROW_HALF_WIDTH: f64 = 6.0;
/// Space between the boxes and a side channel, and between channels, px.
const CHANNEL_GAP: f64 = 18.0;

/// A placed box.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Index into `spec.nodes`.
    pub node: usize,
    /// Top-left corner and size, px.
    pub x: f64,
    /// Top edge, px.
    pub y: f64,
    /// Width, px.
    pub w: f64,
    /// Height, px.
    pub h: f64,
}

impl Placed {
    fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Whether the segment from `p` to `q` passes through this box
    /// (shrunk by 1 px so touching an edge does not count).
    fn crossed_by(&self, p: (f64, f64), q: (f64, f64)) -> bool {
        let (x0, y0, x1, y1) = (
            self.x + 1.0,
            self.y + 1.0,
            self.x + self.w - 1.0,
            self.y + self.h - 1.0,
        );
        // Liang–Barsky clipping: does any part of the segment lie inside?
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let mut t0: f64 = 0.0;
        let mut t1: f64 = 1.0;
        for (pk, qk) in [
            (-dx, p.0 - x0),
            (dx, x1 - p.0),
            (-dy, p.1 - y0),
            (dy, y1 - p.1),
        ] {
            if pk == 0.0 {
                if qk < 0.0 {
                    return false;
                }
            } else {
                let r = qk / pk;
                if pk < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        t0 < t1
    }
}

/// A routed link: a polyline ending in an arrowhead, and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    /// Index into `spec.links`.
    pub link: usize,
    /// The path, from the source's edge to the target's edge.
    pub points: Vec<(f64, f64)>,
    /// Where the label's anchor is, and whether it is centred (else it
    /// starts there).
    pub label_at: Option<(f64, f64, bool)>,
}

/// A diagram laid out for one run: boxes and paths, ready to render at any
/// moment of that run.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagramLayout {
    /// The boxes, in data-file order (hidden nodes left out).
    pub boxes: Vec<Placed>,
    /// The links between drawn boxes.
    pub links: Vec<Routed>,
    /// Width and height of the drawing, px.
    pub size: (f64, f64),
    flow: Flow,
}

/// Which way a diagram runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Left to right, as the data file draws it.
    Across,
    /// Top to bottom: the data file's grid with its axes swapped.
    Down,
    /// One box per row, for the narrowest screens; links that would cross
    /// a box run in channels to the right.
    Stack,
}

/// The value line of `key` at `t` (or a placeholder before any run).
fn value_line(spec: &ScenarioSpec, key: &str, value: Option<f64>) -> String {
    let (label, unit) = series_label(spec, key);
    match value {
        Some(v) => format!("{label}: {}", format_with_unit(v, unit)),
        None => format!("{label}: …"),
    }
}

/// The value line of a series the run does not have: the configuration
/// leaves that part out (no pool when every request connects on its own).
/// "n/a", not "none" or 0: without a pool requests still wait, for their
/// own connects, and "…" would mean a run is still to come.
fn absent_line(spec: &ScenarioSpec, key: &str) -> String {
    let (label, _) = series_label(spec, key);
    format!("{label}: n/a")
}

/// The widest value line `key` will show during `result`, px.
fn widest_line(spec: &ScenarioSpec, key: &str, result: Option<&RunResult>) -> f64 {
    let series = result.and_then(|r| r.series(key));
    if result.is_some() && series.is_none() {
        return text::width(&absent_line(spec, key), VALUE_PX, false);
    }
    let values = series.map_or(&[][..], |s| s.values.as_slice());
    candidates(values)
        .into_iter()
        .map(|v| text::width(&value_line(spec, key, Some(v)), VALUE_PX, false))
        .fold(
            text::width(&value_line(spec, key, None), VALUE_PX, false),
            f64::max,
        )
}

/// The values whose text can be the widest of `values`, so a box is sized
/// without formatting every point (this runs on every re-simulation). A
/// number's decimals depend only on its decade and on whether it is whole,
/// and within one such class a larger magnitude never has a shorter text;
/// so the largest magnitude of each sign, decade and wholeness suffices.
fn candidates(values: &[f64]) -> Vec<f64> {
    let mut best: Vec<((bool, i32, bool), f64)> = Vec::new();
    for &v in values {
        let class = if v.is_finite() && v != 0.0 {
            let decade = libm::floor(libm::log10(v.abs())) as i32;
            (v < 0.0, decade, v.fract() == 0.0)
        } else {
            (false, i32::MIN, true)
        };
        match best.iter_mut().find(|(c, _)| *c == class) {
            Some((_, b)) if v.abs() > b.abs() => *b = v,
            Some(_) => {}
            None => best.push((class, v)),
        }
    }
    best.into_iter().map(|(_, v)| v).collect()
}

fn node_size(spec: &ScenarioSpec, node: &NodeSpec, result: Option<&RunResult>) -> (f64, f64) {
    let faults = fault_lines(node, result);
    let widest = node
        .shows
        .iter()
        .map(|k| widest_line(spec, k, result))
        .chain(
            faults
                .iter()
                .map(|(line, _)| text::width(line, VALUE_PX, false)),
        )
        .fold(text::width(&node.label, TITLE_PX, true), f64::max);
    let w = (widest + 2.0 * PAD_X).max(MIN_NODE_W).ceil();
    (
        w,
        NODE_H_BASE + LINE_H * (node.shows.len() + faults.len()) as f64,
    )
}

/// One line per fault of the run on `node`'s stage ("slow ×20, 30–60 s"),
/// with the fault's window, so a box keeps its size while the playback
/// moves in and out of it.
fn fault_lines(node: &NodeSpec, result: Option<&RunResult>) -> Vec<(String, (f64, f64))> {
    result
        .map(|r| r.faults.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|f| f.stage == node.id)
        .map(|f| {
            let span = format!(
                "{}–{} s",
                crate::present::format_number(f.start_s),
                crate::present::format_number(f.end_s)
            );
            (format!("{}, {span}", f.label), (f.start_s, f.end_s))
        })
        .collect()
}

/// The size of each node's box (`None` for a node these parameters hide).
fn box_sizes(
    spec: &ScenarioSpec,
    params: Option<&Params>,
    result: Option<&RunResult>,
) -> Vec<Option<(f64, f64)>> {
    spec.nodes
        .iter()
        .map(|n| {
            params
                .is_none_or(|p| n.when.holds(p))
                .then(|| node_size(spec, n, result))
        })
        .collect()
}

/// Groups coordinates into ordered lines (columns or rows): returns, for
/// each input, the index of its line.
fn lines_of(coords: &[f64]) -> (Vec<usize>, usize) {
    let mut sorted: Vec<f64> = coords.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut starts: Vec<f64> = Vec::new();
    for c in sorted {
        if starts.last().is_none_or(|&s| c - s >= SAME_LINE) {
            starts.push(c);
        }
    }
    let index = coords
        .iter()
        .map(|&c| starts.iter().rposition(|&s| c >= s).unwrap_or(0))
        .collect();
    (index, starts.len())
}

impl DiagramLayout {
    /// Lays out `spec`'s diagram for a run with `params` (which decide the
    /// nodes drawn) and `result` (whose values decide the box widths), left
    /// to right as the data file draws it.
    pub fn new(spec: &ScenarioSpec, params: Option<&Params>, result: Option<&RunResult>) -> Self {
        Self::with_flow(spec, params, result, Flow::Across)
    }

    /// The layout that best fits `max_width` px: left to right when it fits
    /// (text at its own size), else top to bottom when that is narrower, so
    /// a narrow column or a phone shows legible text instead of a diagram
    /// shrunk to a strip.
    pub fn fitting(
        spec: &ScenarioSpec,
        params: Option<&Params>,
        result: Option<&RunResult>,
        max_width: f64,
    ) -> Self {
        // Box sizes do not depend on the flow: measure them once.
        let sizes = box_sizes(spec, params, result);
        let mut best = Self::arranged(spec, params, &sizes, Flow::Across);
        for flow in [Flow::Down, Flow::Stack] {
            if best.size.0 <= max_width {
                break;
            }
            let next = Self::arranged(spec, params, &sizes, flow);
            if next.size.0 < best.size.0 {
                best = next;
            }
        }
        best
    }

    /// How the layout runs.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    fn with_flow(
        spec: &ScenarioSpec,
        params: Option<&Params>,
        result: Option<&RunResult>,
        flow: Flow,
    ) -> Self {
        let sizes = box_sizes(spec, params, result);
        Self::arranged(spec, params, &sizes, flow)
    }

    /// Places boxes of the given sizes (one per node, hidden ones `None`).
    fn arranged(
        spec: &ScenarioSpec,
        params: Option<&Params>,
        all_sizes: &[Option<(f64, f64)>],
        flow: Flow,
    ) -> Self {
        let vertical = flow != Flow::Across;
        let shown = |c: &crate::spec::Condition| params.is_none_or(|p| c.holds(p));
        let visible: Vec<usize> = (0..spec.nodes.len())
            .filter(|&i| shown(&spec.nodes[i].when))
            .collect();
        let sizes: Vec<(f64, f64)> = visible
            .iter()
            .map(|&i| {
                all_sizes
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or((MIN_NODE_W, NODE_H_BASE))
            })
            .collect();
        // Top to bottom is the same grid with the axes swapped.
        let grid = |i: usize| {
            let n = &spec.nodes[i];
            if vertical {
                (n.y, n.x)
            } else {
                (n.x, n.y)
            }
        };
        let mut xs: Vec<f64> = visible.iter().map(|&i| grid(i).0).collect();
        let mut ys: Vec<f64> = visible.iter().map(|&i| grid(i).1).collect();
        if flow == Flow::Stack {
            // One box per row, in the order of the flow (left to right,
            // then top to bottom, as the data file places them).
            let mut order: Vec<usize> = (0..visible.len()).collect();
            order.sort_unstable_by(|&a, &b| {
                let (na, nb) = (&spec.nodes[visible[a]], &spec.nodes[visible[b]]);
                na.x.total_cmp(&nb.x).then(na.y.total_cmp(&nb.y))
            });
            for (rank, &k) in order.iter().enumerate() {
                xs[k] = 0.0;
                ys[k] = rank as f64 * 2.0 * SAME_LINE;
            }
        }
        let (col, n_cols) = lines_of(&xs);
        let (row, n_rows) = lines_of(&ys);
        let link_visible = |l: &crate::spec::LinkSpec| {
            shown(&l.when)
                && [&l.from, &l.to]
                    .iter()
                    .all(|end| visible.iter().any(|&i| &spec.nodes[i].id == *end))
        };
        // Labels sit in the gap beside their source box. Left to right, the
        // first segment of a path runs across a column gap, which must hold
        // the widest label; top to bottom, paths leave their box downwards
        // (labels sit in a row gap), except between boxes sharing a row.
        let row_of = |id: &str| {
            visible
                .iter()
                .position(|&i| spec.nodes[i].id == id)
                .map(|k| row[k])
        };
        let widest_label = spec
            .links
            .iter()
            .filter(|l| link_visible(l))
            .filter(|l| flow == Flow::Across || row_of(&l.from) == row_of(&l.to))
            .map(|l| text::width(&l.label, LABEL_PX, false))
            .fold(0.0, f64::max);
        let col_gap = MIN_COL_GAP.max(widest_label + 2.0 * ARROW_LEN + 16.0);
        let mut col_w = vec![0.0_f64; n_cols];
        let mut row_h = vec![0.0_f64; n_rows];
        for (k, &(w, h)) in sizes.iter().enumerate() {
            col_w[col[k]] = col_w[col[k]].max(w);
            row_h[row[k]] = row_h[row[k]].max(h);
        }
        let centres = |spans: &[f64], gap: f64| {
            let mut at = MARGIN;
            spans
                .iter()
                .map(|s| {
                    let c = at + s / 2.0;
                    at += s + gap;
                    c
                })
                .collect::<Vec<f64>>()
        };
        let cx = centres(&col_w, col_gap);
        let cy = centres(&row_h, ROW_GAP);
        let boxes: Vec<Placed> = visible
            .iter()
            .enumerate()
            .map(|(k, &node)| {
                let (w, h) = sizes[k];
                Placed {
                    node,
                    x: cx[col[k]] - w / 2.0,
                    y: cy[row[k]] - h / 2.0,
                    w,
                    h,
                }
            })
            .collect();
        let width = col_w.iter().sum::<f64>() + col_gap * n_cols.saturating_sub(1) as f64;
        let height = row_h.iter().sum::<f64>() + ROW_GAP * n_rows.saturating_sub(1) as f64;
        let find = |id: &str| boxes.iter().position(|b| spec.nodes[b.node].id == id);
        // Links that must go round other boxes run in channels to the right
        // of everything, one channel each.
        let mut channel = MARGIN + width + CHANNEL_GAP;
        let mut right_edge = MARGIN + width;
        let links: Vec<Routed> = spec
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| link_visible(l))
            .filter_map(|(i, l)| {
                let (a, b) = (find(&l.from)?, find(&l.to)?);
                let points = route(&boxes, a, b, vertical, channel);
                if points.iter().any(|p| p.0 >= channel - 1e-9) {
                    channel += CHANNEL_GAP;
                }
                let label_w = text::width(&l.label, LABEL_PX, false);
                let label_at =
                    (!l.label.is_empty()).then(|| label_anchor(&points, col_gap, label_w));
                for p in &points {
                    right_edge = right_edge.max(p.0);
                }
                if let Some((x, _, centred)) = label_at {
                    right_edge = right_edge.max(if centred {
                        x + label_w / 2.0
                    } else {
                        x + label_w
                    });
                }
                Some(Routed {
                    link: i,
                    points,
                    label_at,
                })
            })
            .collect();
        DiagramLayout {
            boxes,
            links,
            size: (right_edge + MARGIN, height + 2.0 * MARGIN),
            flow,
        }
    }

    /// The diagram at `t` seconds of `result` as an SVG document. Each box
    /// lists the value of the series it shows; a box whose value is above
    /// its series' `warn` level is drawn as in trouble, and one showing
    /// errors or rejections above zero in the alert colour.
    pub fn svg(
        &self,
        spec: &ScenarioSpec,
        params: Option<&Params>,
        result: Option<&RunResult>,
        t: f64,
    ) -> String {
        let title = escape(&format!("Architecture of {}", spec.title));
        let (w, h) = self.size;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.1} {h:.1}\" width=\"{w:.0}\" class=\"diagram\" role=\"img\" aria-label=\"{title}\" font-family=\"{}\"><title>{title}</title>",
            FONT_STACK.replace('\'', "&apos;")
        );
        for routed in &self.links {
            let link = &spec.links[routed.link];
            out.push_str(&path_svg(&routed.points));
            if let Some((x, y, centred)) = routed.label_at {
                out.push_str(&format!(
                    "<text x=\"{x:.1}\" y=\"{y:.1}\" class=\"link-label\" font-size=\"{LABEL_PX}\" text-anchor=\"{}\">{}</text>",
                    if centred { "middle" } else { "start" },
                    escape(&link.label)
                ));
            }
        }
        for placed in &self.boxes {
            let node = &spec.nodes[placed.node];
            let lines: Vec<(String, &str)> = node
                .shows
                .iter()
                .map(|key| match result.map(|r| (r, r.series(key))) {
                    Some((_, None)) => (absent_line(spec, key), "absent"),
                    run => {
                        let value =
                            run.and_then(|(r, s)| s.and_then(|s| value_at(s, r.bucket_s, t)));
                        let line_state = value.map_or("", |v| trouble(spec, params, key, v));
                        (value_line(spec, key, value), line_state)
                    }
                })
                .collect();
            // A fault's line is in the alert colour while it lasts.
            let lines: Vec<(String, &str)> = lines
                .into_iter()
                .chain(fault_lines(node, result).into_iter().map(|(line, (a, b))| {
                    let on = t >= a && t < b;
                    (line, if on { "alert" } else { "fault-off" })
                }))
                .collect();
            let state = ["alert", "warn"]
                .into_iter()
                .find(|s| lines.iter().any(|(_, l)| l == s))
                .unwrap_or("");
            let (cx, _) = placed.centre();
            out.push_str(&format!(
                "<g class=\"node{}{state}\" data-node=\"{}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\"/>\
<text x=\"{cx:.1}\" y=\"{:.1}\" class=\"node-title\" font-size=\"{TITLE_PX}\" font-weight=\"700\" text-anchor=\"middle\">{}</text>",
                if state.is_empty() { "" } else { " " },
                escape(&node.id),
                placed.x,
                placed.y,
                placed.w,
                placed.h,
                placed.y + 21.0,
                escape(&node.label)
            ));
            for (i, (line, line_state)) in lines.iter().enumerate() {
                out.push_str(&format!(
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" class=\"node-value{}{line_state}\" font-size=\"{VALUE_PX}\" text-anchor=\"middle\">{}</text>",
                    placed.y + 21.0 + LINE_H * (i as f64 + 1.0),
                    if line_state.is_empty() { "" } else { " " },
                    escape(line)
                ));
            }
            out.push_str("</g>");
        }
        out.push_str("</svg>");
        out
    }
}

/// "alert" for a failure count above zero, "warn" for a level above its
/// series' warn level, else "".
fn trouble(spec: &ScenarioSpec, params: Option<&Params>, key: &str, v: f64) -> &'static str {
    const FAILURE_WORDS: [&str; 8] = [
        "error", "reject", "refus", "timeout", "crash", "drop", "fail", "oom",
    ];
    if v > 0.0 && FAILURE_WORDS.iter().any(|w| key.contains(w)) {
        return "alert";
    }
    let level = spec
        .series
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| s.warn.as_ref())
        .and_then(|w| params.and_then(|p| w.level(p)).or(w.above));
    match level {
        Some(level) if v > level => "warn",
        _ => "",
    }
}

/// The path from box `a` to box `b`: straight when they share a row or a
/// column, else an L whose corner avoids the other boxes, leaving its box
/// across (left to right) or downwards (top to bottom) when it can.
fn route(boxes: &[Placed], a: usize, b: usize, vertical: bool, channel: f64) -> Vec<(f64, f64)> {
    let (pa, pb) = (&boxes[a], &boxes[b]);
    let ((ax, ay), (bx, by)) = (pa.centre(), pb.centre());
    let side = |p: &Placed, towards: f64| {
        if towards > p.centre().0 {
            p.x + p.w
        } else {
            p.x
        }
    };
    let end = |p: &Placed, towards: f64| {
        if towards > p.centre().1 {
            p.y + p.h
        } else {
            p.y
        }
    };
    let clear = |points: &[(f64, f64)]| {
        points.windows(2).all(|s| {
            boxes
                .iter()
                .enumerate()
                .all(|(i, bx)| i == a || i == b || !bx.crossed_by(s[0], s[1]))
        })
    };
    if (ay - by).abs() < 1.0 {
        let straight = vec![(side(pa, bx), ay), (side(pb, ax), by)];
        if clear(&straight) {
            return straight;
        }
        // Something sits between them in the row: go round below.
        let below = pa.y.max(pb.y) + pa.h.max(pb.h) + ROW_GAP / 2.0;
        return vec![
            (ax, pa.y + pa.h),
            (ax, below),
            (bx, below),
            (bx, pb.y + pb.h),
        ];
    }
    if (ax - bx).abs() < 1.0 {
        let straight = vec![(ax, end(pa, by)), (bx, end(pb, ay))];
        if clear(&straight) {
            return straight;
        }
        // Boxes in between: out to the side channel and back.
        return vec![
            (pa.x + pa.w, ay),
            (channel, ay),
            (channel, by),
            (pb.x + pb.w, by),
        ];
    }
    let across_first = vec![(side(pa, bx), ay), (bx, ay), (bx, end(pb, ay))];
    let down_first = vec![(ax, end(pa, by)), (ax, by), (side(pb, ax), by)];
    let (preferred, other) = if vertical {
        (down_first, across_first)
    } else {
        (across_first, down_first)
    };
    if clear(&preferred) {
        preferred
    } else {
        other
    }
}

/// The label's anchor: in the gap next to the source box, where the first
/// segment leaves it. Over the segment, centred in the column gap, when it
/// leaves sideways; beside it, in the middle of the row gap, when it leaves
/// upwards or downwards. No box can be there.
fn label_anchor(points: &[(f64, f64)], col_gap: f64, label_w: f64) -> (f64, f64, bool) {
    let (p, q) = (points[0], points.get(1).copied().unwrap_or(points[0]));
    let along = |d: f64, gap: f64| if d >= 0.0 { gap / 2.0 } else { -gap / 2.0 };
    if (p.1 - q.1).abs() < 1.0 {
        let len = (q.0 - p.0).abs();
        if len < label_w + 8.0 && points.len() > 2 {
            // Too short to hold it (the way out to a side channel): beside
            // the channel instead, right of every box.
            let (c, d) = (points[1], points[2]);
            return (c.0 + 6.0, (c.1 + d.1) / 2.0 + 4.0, false);
        }
        // A straight link spans just the gap: centre the label on it.
        // Centred in the gap next to the source, but never so close to it
        // that the text reaches back over the box.
        let half = (len / 2.0)
            .min(col_gap / 2.0)
            .max(label_w / 2.0 + 4.0)
            .min(len / 2.0);
        (p.0 + along(q.0 - p.0, 2.0 * half), p.1 - 6.0, true)
    } else {
        let half = ((q.1 - p.1).abs() / 2.0).min(ROW_GAP / 2.0);
        (p.0 + 6.0, p.1 + along(q.1 - p.1, 2.0 * half) + 4.0, false)
    }
}

/// A polyline that stops at the arrowhead's base, and the arrowhead: a
/// triangle of its own rather than an SVG marker, which needs a
/// document-wide id (a page comparing A and B shows two diagrams).
fn path_svg(points: &[(f64, f64)]) -> String {
    let n = points.len();
    if n < 2 {
        return String::new();
    }
    let (tip, prev) = (points[n - 1], points[n - 2]);
    let (dx, dy) = (tip.0 - prev.0, tip.1 - prev.1);
    let len = libm::hypot(dx, dy).max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let base = (tip.0 - ARROW_LEN * ux, tip.1 - ARROW_LEN * uy);
    let (nx, ny) = (-uy * ARROW_HALF_WIDTH, ux * ARROW_HALF_WIDTH);
    let mut line: Vec<String> = points[..n - 1]
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    line.push(format!("{:.1},{:.1}", base.0, base.1));
    format!(
        "<polyline points=\"{}\" class=\"link\" fill=\"none\"/><polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" class=\"arrowhead\"/>",
        line.join(" "),
        tip.0,
        tip.1,
        base.0 + nx,
        base.1 + ny,
        base.0 - nx,
        base.1 - ny,
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The diagram at `t` seconds of `result`, laid out for that run.
pub fn diagram_svg(
    spec: &ScenarioSpec,
    params: Option<&Params>,
    result: Option<&RunResult>,
    t: f64,
) -> String {
    DiagramLayout::new(spec, params, result).svg(spec, params, result, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::catalogue;
    use crate::spec::{ParamKind, ParamValue, RunConfig};

    /// Defaults, every preset, and every slider alone at its minimum and
    /// its maximum: the parameter sets whose values stretch boxes most.
    fn parameter_sets(spec: &ScenarioSpec) -> Vec<Params> {
        let mut sets = vec![spec.defaults()];
        for p in &spec.presets {
            let mut params = spec.defaults();
            if spec.apply_preset(&mut params, &p.name).is_ok() {
                sets.push(params);
            }
        }
        for p in spec.params.iter().filter(|p| p.kind == ParamKind::Slider) {
            for end in [p.min, p.max] {
                let mut params = spec.defaults();
                let _ = spec.set_clamped(&mut params, &p.key, &ParamValue::Number(end).to_string());
                sets.push(params);
            }
        }
        sets
    }

    fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    }

    /// The layout's own geometry, with text measured by the font table:
    /// boxes apart, every text inside its box, labels clear of boxes, and
    /// links crossing no box but their ends. (The browser test checks the
    /// same on the rendered page.)
    #[test]
    fn every_diagram_fits_for_every_preset_and_extreme() {
        for s in catalogue().unwrap_or_else(|e| panic!("{e}")) {
            let spec = &s.spec;
            let cfg = RunConfig {
                seed: 1,
                duration_s: spec.duration_s.default.min(600.0).max(spec.duration_s.min),
            };
            for params in parameter_sets(spec) {
                let result = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
                for flow in [Flow::Across, Flow::Down, Flow::Stack] {
                    let layout = DiagramLayout::with_flow(spec, Some(&params), Some(&result), flow);
                    let ctx = format!("{} {flow:?} {:?}", spec.id, params);
                    let rect = |b: &Placed| (b.x, b.y, b.w, b.h);
                    for (i, a) in layout.boxes.iter().enumerate() {
                        for b in &layout.boxes[..i] {
                            assert!(!overlap(rect(a), rect(b)), "{ctx}: boxes overlap");
                        }
                        let node = &spec.nodes[a.node];
                        let mut texts = vec![text::width(&node.label, TITLE_PX, true)];
                        for key in &node.shows {
                            if result.series(key).is_none() {
                                texts.push(text::width(&absent_line(spec, key), VALUE_PX, false));
                            }
                            for &v in result.series(key).iter().flat_map(|s| s.values.iter()) {
                                texts.push(text::width(
                                    &value_line(spec, key, Some(v)),
                                    VALUE_PX,
                                    false,
                                ));
                            }
                        }
                        for w in texts {
                            assert!(
                                w <= a.w - 2.0 * PAD_X + 1e-9,
                                "{ctx}: text wider than {}",
                                node.id
                            );
                        }
                    }
                    for routed in &layout.links {
                        let link = &spec.links[routed.link];
                        for seg in routed.points.windows(2) {
                            for b in &layout.boxes {
                                let id = &spec.nodes[b.node].id;
                                if id != &link.from && id != &link.to {
                                    assert!(
                                        !b.crossed_by(seg[0], seg[1]),
                                        "{ctx}: {}->{} crosses {id}",
                                        link.from,
                                        link.to
                                    );
                                }
                            }
                        }
                        if let Some((x, y, centred)) = routed.label_at {
                            let w = text::width(&link.label, LABEL_PX, false);
                            let left = if centred { x - w / 2.0 } else { x };
                            let label = (left, y - LABEL_PX, w, LABEL_PX + 3.0);
                            for b in &layout.boxes {
                                assert!(
                                    !overlap(label, rect(b)),
                                    "{ctx}: label '{}' under a box",
                                    link.label
                                );
                            }
                        }
                    }
                    let (w, h) = layout.size;
                    for b in &layout.boxes {
                        assert!(
                            b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= w && b.y + b.h <= h,
                            "{ctx}: box outside"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_part_the_run_leaves_out_reads_none_not_pending() {
        // Connect-per-request has no pool, so its run has no pool series:
        // the app box says so ("n/a"), rather than "…", which means "no run
        // yet", or a number its requests, waiting for their connects, belie.
        let s = crate::scenarios::find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
        let spec = &s.spec;
        let mut params = spec.defaults();
        spec.apply_preset(&mut params, "bad")
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 1,
            duration_s: 2.0,
        };
        let result = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        assert!(result.series("db.pool_in_use").is_none());
        let drawn = diagram_svg(spec, Some(&params), Some(&result), 1.0);
        let app = drawn
            .split("data-node=\"")
            .find(|part| part.starts_with("app\""))
            .unwrap_or_else(|| panic!("no app box in {drawn}"));
        assert_eq!(app.matches(": n/a</text>").count(), 2, "{app}");
        assert!(!drawn.contains('…'), "{drawn}");
        // Before any run, every value line is pending.
        let before = diagram_svg(spec, Some(&params), None, 0.0);
        assert!(before.contains('…') && !before.contains(": n/a"));
    }

    #[test]
    fn the_widest_candidate_is_the_widest_value() {
        // Against formatting every value: decades, signs, whole numbers,
        // rounding up to the next decade (99.96 → "100.0") and zero.
        let values = [
            0.0, 0.5, 0.999, 1.0, 9.99, 12.0, 12.5, 50.0, 99.96, 100.0, 999.9, 1234.0, -2.5,
            -0.001, 1e9, 3.0e6, 7.25,
        ];
        let s = crate::scenarios::find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let width =
            |v: f64| text::width(&value_line(&s.spec, "in_flight", Some(v)), VALUE_PX, false);
        for n in 1..=values.len() {
            let slice = &values[..n];
            let all = slice.iter().map(|&v| width(v)).fold(0.0, f64::max);
            let some = candidates(slice).into_iter().map(width).fold(0.0, f64::max);
            assert_eq!(all, some, "{slice:?}");
        }
    }

    #[test]
    fn a_narrow_column_gets_a_narrower_flow() {
        let s = crate::scenarios::find("memory-leaks").unwrap_or_else(|e| panic!("{e}"));
        let params = s.spec.defaults();
        let wide = DiagramLayout::fitting(&s.spec, Some(&params), None, 4_000.0);
        assert_eq!(wide.flow(), Flow::Across);
        let narrow = DiagramLayout::fitting(&s.spec, Some(&params), None, 300.0);
        assert_ne!(narrow.flow(), Flow::Across);
        assert!(narrow.size.0 < wide.size.0);
    }

    #[test]
    fn hidden_nodes_take_their_links_with_them() {
        let s = crate::scenarios::find("bulk-export").unwrap_or_else(|e| panic!("{e}"));
        let spec = &s.spec;
        let stream = spec.defaults();
        let layout = DiagramLayout::new(spec, Some(&stream), None);
        assert!(layout
            .boxes
            .iter()
            .all(|b| spec.nodes[b.node].id != "storage"));
        assert!(layout
            .links
            .iter()
            .all(|l| spec.links[l.link].from != "storage" && spec.links[l.link].to != "storage"));
        let mut job = spec.defaults();
        spec.apply_preset(&mut job, "async")
            .unwrap_or_else(|e| panic!("{e}"));
        let layout = DiagramLayout::new(spec, Some(&job), None);
        assert!(layout
            .boxes
            .iter()
            .any(|b| spec.nodes[b.node].id == "storage"));
        // The download link ends at the user's box.
        let download = layout
            .links
            .iter()
            .find(|l| spec.links[l.link].label == "download link")
            .unwrap_or_else(|| panic!("no download link"));
        let user = layout
            .boxes
            .iter()
            .find(|b| spec.nodes[b.node].id == "user")
            .unwrap_or_else(|| panic!("no user"));
        let tip = download.points[download.points.len() - 1];
        assert!(tip.0 >= user.x && tip.0 <= user.x + user.w);
        assert!((tip.1 - (user.y + user.h)).abs() < 1e-9 || (tip.1 - user.y).abs() < 1e-9);
    }
}
