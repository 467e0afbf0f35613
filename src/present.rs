//! Presentation logic shared by the web UI and the CLI, kept out of the
//! components so it is tested natively: labels, number formatting, reading a
//! series at a moment, the compare table, CSV export and the topic finder.

use crate::engine::metrics::{RunResult, Series};
use crate::spec::{ChartSpec, ScenarioSpec};

/// Label, unit and definition of the series every scenario reports.
const COMMON_SERIES_LABELS: &[(&str, &str, &str, &str)] = &[
    (
        "throughput_rps",
        "Completed",
        "req/s",
        "Requests that finished successfully in each chart bucket, per second.",
    ),
    (
        "errors_rps",
        "Failed + rejected",
        "req/s",
        "Requests that failed or were turned away in each chart bucket, per second.",
    ),
    (
        "in_flight",
        "In flight",
        "requests",
        "Most requests in flight at once (arrived, not yet ended) in each chart bucket.",
    ),
    (
        "latency_p50_ms",
        "p50 latency",
        "ms",
        "Median time from arrival to success of the requests that completed in each bucket.",
    ),
    (
        "latency_p95_ms",
        "p95 latency",
        "ms",
        "95th percentile of the time from arrival to success, per bucket: 1 in 20 took longer.",
    ),
    (
        "latency_p99_ms",
        "p99 latency",
        "ms",
        "99th percentile of the time from arrival to success, per bucket: 1 in 100 took longer.",
    ),
];

/// Label, unit and definition of the summary metrics every scenario reports.
const COMMON_METRIC_LABELS: &[(&str, &str, &str, &str)] = &[
    (
        "requests",
        "Requests",
        "requests",
        "Requests that arrived during the run.",
    ),
    (
        "completed",
        "Completed",
        "requests",
        "Requests that finished successfully.",
    ),
    (
        "failed",
        "Failed",
        "requests",
        "Requests accepted and then failed (a timeout, a crash, an error), each with a reason.",
    ),
    (
        "rejected",
        "Rejected",
        "requests",
        "Requests turned away at the door (rate limited, refused), each with a reason.",
    ),
    (
        "in_flight",
        "Still in flight at the end",
        "requests",
        "Requests that had arrived but not ended when the run stopped.",
    ),
    (
        "throughput_rps",
        "Throughput",
        "req/s",
        "Completed requests divided by the simulated duration of the run.",
    ),
    (
        "latency_mean_ms",
        "Mean latency",
        "ms",
        "Average time from arrival to success over all completed requests.",
    ),
    (
        "latency_p50_ms",
        "p50 latency",
        "ms",
        "Median time from arrival to success over all completed requests.",
    ),
    (
        "latency_p95_ms",
        "p95 latency",
        "ms",
        "95th percentile of arrival-to-success time over the whole run.",
    ),
    (
        "latency_p99_ms",
        "p99 latency",
        "ms",
        "99th percentile of arrival-to-success time over the whole run.",
    ),
    (
        "latency_p999_ms",
        "p99.9 latency",
        "ms",
        "99.9th percentile of arrival-to-success time: 1 request in 1 000 took longer.",
    ),
];

/// Label and unit of series `key` in `spec` (falls back to the key).
pub fn series_label<'a>(spec: &'a ScenarioSpec, key: &'a str) -> (&'a str, &'a str) {
    if let Some(s) = spec.series.iter().find(|s| s.key == key) {
        return (&s.label, &s.unit);
    }
    COMMON_SERIES_LABELS
        .iter()
        .find(|(k, _, _, _)| *k == key)
        .map_or((key, ""), |(_, l, u, _)| (*l, *u))
}

/// The one-line definition of series `key` ("" if it has none).
pub fn series_description<'a>(spec: &'a ScenarioSpec, key: &str) -> &'a str {
    if let Some(s) = spec.series.iter().find(|s| s.key == key) {
        return &s.description;
    }
    COMMON_SERIES_LABELS
        .iter()
        .find(|(k, _, _, _)| *k == key)
        .map_or("", |(_, _, _, d)| *d)
}

/// Label and unit of summary metric `key` in `spec` (falls back to the key).
pub fn metric_label<'a>(spec: &'a ScenarioSpec, key: &'a str) -> (&'a str, &'a str) {
    if let Some(m) = spec.metrics.iter().find(|m| m.key == key) {
        return (&m.label, &m.unit);
    }
    COMMON_METRIC_LABELS
        .iter()
        .find(|(k, _, _, _)| *k == key)
        .map_or((key, ""), |(_, l, u, _)| (*l, *u))
}

/// The one-line definition of summary metric `key` ("" if it has none).
pub fn metric_description<'a>(spec: &'a ScenarioSpec, key: &str) -> &'a str {
    if let Some(m) = spec.metrics.iter().find(|m| m.key == key) {
        return &m.description;
    }
    COMMON_METRIC_LABELS
        .iter()
        .find(|(k, _, _, _)| *k == key)
        .map_or("", |(_, _, _, d)| *d)
}

/// Whether the page shows common metric `key` for `spec` (a scenario's
/// own metrics always show).
pub fn metric_applies(spec: &ScenarioSpec, key: &str) -> bool {
    match &spec.common_metrics {
        Some(list) if crate::engine::metrics::COMMON_METRICS.contains(&key) => {
            list.iter().any(|k| k == key)
        }
        _ => true,
    }
}

/// A unit in the singular ("queries" → "query", "batches" → "batch").
fn singular(unit: &str) -> Option<String> {
    if unit.len() <= 2 || unit.contains('/') || !unit.ends_with('s') {
        return None;
    }
    let stem = &unit[..unit.len() - 1];
    Some(if let Some(y) = unit.strip_suffix("ies") {
        format!("{y}y")
    } else if ["ches", "shes", "sses", "xes"]
        .iter()
        .any(|e| unit.ends_with(e))
    {
        unit[..unit.len() - 2].to_string()
    } else {
        stem.to_string()
    })
}

/// A number for people: thousands separated, sensible decimals.
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 100.0 || v.fract() == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{:.*}", decimals, a);
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && !text.trim_start_matches(['0', '.']).is_empty() {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// A value with its unit ("1,204 req/s", "25 %" for a fraction of 0.25).
pub fn format_with_unit(v: f64, unit: &str) -> String {
    match unit {
        "" => format_number(v),
        "fraction" => format!("{} %", format_number(v * 100.0)),
        "0/1" => if v >= 0.5 { "yes" } else { "no" }.into(),
        // "1 request", not "1 requests" (units like "req/s" and "ms" stay).
        u if v.abs() == 1.0 && singular(u).is_some() => {
            format!("{} {}", format_number(v), singular(u).unwrap_or_default())
        }
        u => format!("{} {u}", format_number(v)),
    }
}

/// Metric `key` of `result` as the page shows it: "—, no crash" when the
/// event it times never happened, else the value with its unit.
pub fn format_metric(spec: &ScenarioSpec, result: &RunResult, key: &str) -> Option<String> {
    let value = result.metric(key)?;
    let spec_metric = spec.metrics.iter().find(|m| m.key == key);
    if let Some(never) = spec_metric.and_then(|m| m.never.as_ref()) {
        if result.metric(&never.unless).is_some_and(|n| n <= 0.0) {
            return Some(never.text.clone());
        }
    }
    Some(format_with_unit(value, metric_label(spec, key).1))
}

/// Where the run's activity ends, seconds: one bucket past the last bucket
/// in which any series still changes, or past the last mark. A job that
/// finishes at 8.7 min of a 60 min run, or a crash at 4 s, is drawn over
/// the span where it happened; a run busy to the end keeps its full length.
pub fn active_end(result: &RunResult) -> f64 {
    let buckets = result
        .series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0);
    let last_change = result
        .series
        .iter()
        .filter_map(|s| {
            let last = *s.values.last()?;
            s.values.iter().rposition(|&v| v != last)
        })
        .max()
        .map_or(0, |i| i + 1);
    let marks_end = result.marks.last().map_or(0.0, |m| m.t_s);
    // Two buckets past the change: the value settles in the one after it.
    let end = ((last_change + 2).min(buckets) as f64 * result.bucket_s).max(marks_end * 1.05);
    if end <= 0.0 || end >= 0.9 * result.duration_s {
        result.duration_s
    } else {
        end.min(result.duration_s)
    }
}

/// The seconds the charts of `runs` span: the longest active span, or the
/// longest run when the reader asks for the whole run.
pub fn chart_span<'a>(runs: impl IntoIterator<Item = &'a RunResult>, whole_run: bool) -> f64 {
    runs.into_iter()
        .map(|r| {
            if whole_run {
                r.duration_s
            } else {
                active_end(r)
            }
        })
        .fold(0.0_f64, f64::max)
        .max(1e-9)
}

/// The moment the diagram opens on: the peak of the scenario's `focus`
/// series, else the first mark, else the middle of the active span.
pub fn focus_time(spec: &ScenarioSpec, result: &RunResult) -> f64 {
    if let Some(series) = spec.focus.as_ref().and_then(|k| result.series(k)) {
        let peak = series
            .values
            .iter()
            .enumerate()
            .fold(
                (0, f64::MIN),
                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
            );
        return (peak.0 as f64 + 0.5) * result.bucket_s;
    }
    match result.marks.first() {
        Some(m) => m.t_s,
        None => active_end(result) / 2.0,
    }
}

/// A span of simulated time for people: "250 ms", "12 s", "4.5 min", "2 h".
pub fn format_duration(seconds: f64) -> String {
    let (value, unit) = if seconds < 1.0 {
        (seconds * 1000.0, "ms")
    } else if seconds < 120.0 {
        (seconds, "s")
    } else if seconds < 7200.0 {
        (seconds / 60.0, "min")
    } else {
        (seconds / 3600.0, "h")
    };
    format!("{} {unit}", format_number(value))
}

/// Characters a slider's number box needs for its longest value (the
/// range's ends and the step's decimals), so 10,000,000 is not cut to
/// "100000".
pub fn number_box_chars(param: &crate::spec::ParamSpec) -> usize {
    let decimals = |x: f64| {
        let text = format!("{x}");
        text.split_once('.').map_or(0, |(_, f)| f.len())
    };
    let longest = [param.min, param.max]
        .iter()
        .map(|&x| format!("{}", libm::trunc(x)).len())
        .max()
        .unwrap_or(1);
    let frac = decimals(param.step).max(decimals(param.min));
    longest + if frac > 0 { frac + 1 } else { 0 }
}

/// What a variant is called on the page: the preset its parameters equal,
/// or "your settings".
pub fn variant_name(spec: &ScenarioSpec, params: &crate::spec::Params) -> String {
    spec.presets
        .iter()
        .find(|p| {
            let mut with = spec.defaults();
            spec.apply_preset(&mut with, &p.name).is_ok() && &with == params
        })
        .map_or_else(|| "your settings".to_string(), |p| p.label.clone())
}

/// The value of `series` at `t` seconds (the bucket containing `t`; the
/// last bucket at or past the end). `None` for an empty series.
pub fn value_at(series: &Series, bucket_s: f64, t: f64) -> Option<f64> {
    let last = series.values.len().checked_sub(1)?;
    let i = if bucket_s > 0.0 && t.is_finite() && t > 0.0 {
        ((t / bucket_s) as usize).min(last)
    } else {
        0
    };
    series.values.get(i).copied()
}

/// One row of the compare table.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// Metric key.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Value in run A.
    pub a: f64,
    /// Value in run B, when comparing.
    pub b: Option<f64>,
    /// A as shown ("—, no crash" when the event never happened).
    pub a_text: String,
    /// B as shown, when comparing.
    pub b_text: Option<String>,
    /// The metric's one-line definition.
    pub description: String,
}

impl CompareRow {
    /// B − A, when comparing.
    pub fn delta(&self) -> Option<f64> {
        self.b.map(|b| b - self.a)
    }

    /// (B − A) / |A| in percent, when comparing and A is not zero.
    pub fn delta_pct(&self) -> Option<f64> {
        let d = self.delta()?;
        (self.a != 0.0).then(|| d / self.a.abs() * 100.0)
    }

    /// B − A as the compare table shows it: the difference, and apart the
    /// relative change. A difference of percentages is in percentage
    /// points, so that "20 points (+25 %)" cannot be misread; a yes/no
    /// outcome either changed or did not.
    pub fn delta_text(&self) -> Option<(String, String)> {
        let d = self.delta()?;
        if self.unit == "0/1" {
            let word = if d == 0.0 { "same" } else { "changed" };
            return Some((word.to_string(), String::new()));
        }
        // Beyond tenfold, a factor reads better than "+110488 %".
        let relative = match (self.delta_pct(), self.b) {
            (Some(p), Some(b)) if p.abs() >= 1_000.0 && self.a != 0.0 => {
                format!("(×{})", format_number(b / self.a))
            }
            (Some(p), _) => format!("({p:+.0} %)"),
            _ => String::new(),
        };
        let points = match self.unit.as_str() {
            "%" => Some(d),
            "fraction" => Some(d * 100.0),
            _ => None,
        };
        let difference = if let Some(points) = points {
            let word = if points.abs() == 1.0 {
                "point"
            } else {
                "points"
            };
            format!("{} {word}", format_number(points))
        } else {
            format_with_unit(d, &self.unit)
        };
        Some((difference, relative))
    }
}

/// The summary table: every metric of `a` that applies to the scenario,
/// with `b`'s value beside it.
pub fn compare_rows(spec: &ScenarioSpec, a: &RunResult, b: Option<&RunResult>) -> Vec<CompareRow> {
    a.metrics
        .iter()
        .filter(|m| metric_applies(spec, &m.key))
        .map(|m| {
            let (label, unit) = metric_label(spec, &m.key);
            CompareRow {
                key: m.key.clone(),
                label: label.to_string(),
                unit: unit.to_string(),
                a: m.value,
                b: b.and_then(|b| b.metric(&m.key)),
                a_text: format_metric(spec, a, &m.key).unwrap_or_default(),
                b_text: b.and_then(|b| format_metric(spec, b, &m.key)),
                description: metric_description(spec, &m.key).to_string(),
            }
        })
        .collect()
}

/// One run for [`summary_json`]: its parameters and what it produced.
pub struct SummaryRun<'a> {
    /// The parameters it ran with.
    pub params: &'a crate::spec::Params,
    /// Its result.
    pub result: &'a RunResult,
}

/// The run summary as JSON text, the one format the CLI's `run --json` and
/// the page's JSON button both write:
/// `{"scenario", "seed", "duration_s", "params", "events", "metrics"}` for
/// the run (its simulated duration, which a model may end early), the same
/// fields under `"compare"` for a compared variant, and `"wall_ms"` when
/// the writer timed the run. Numbers that are not finite become `null`.
pub fn summary_json(
    scenario: &str,
    seed: u64,
    run: &SummaryRun<'_>,
    compare: Option<&SummaryRun<'_>>,
    wall_ms: Option<f64>,
) -> String {
    let mut fields = vec![
        ("scenario", json_string(scenario)),
        ("seed", seed.to_string()),
    ];
    fields.extend(run_fields(run, 1));
    if let Some(c) = compare {
        fields.push(("compare", json_object(&run_fields(c, 2), 1)));
    }
    if let Some(ms) = wall_ms {
        fields.push(("wall_ms", json_number(ms)));
    }
    json_object(&fields, 0)
}

fn run_fields(run: &SummaryRun<'_>, depth: usize) -> Vec<(&'static str, String)> {
    use crate::spec::ParamValue;
    let params: Vec<(&str, String)> = run
        .params
        .iter()
        .map(|(k, v)| {
            let value = match v {
                ParamValue::Flag(b) => b.to_string(),
                ParamValue::Number(n) => json_number(*n),
                ParamValue::Choice(c) => json_string(c),
            };
            (k, value)
        })
        .collect();
    let metrics: Vec<(&str, String)> = run
        .result
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), json_number(m.value)))
        .collect();
    vec![
        ("duration_s", json_number(run.result.duration_s)),
        ("params", json_object(&params, depth)),
        ("events", run.result.events.to_string()),
        ("metrics", json_object(&metrics, depth)),
    ]
}

/// `{"key": value, …}` over rendered values, indented two spaces a level.
fn json_object(fields: &[(&str, String)], depth: usize) -> String {
    if fields.is_empty() {
        return "{}".into();
    }
    let pad = "  ".repeat(depth + 1);
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{pad}{}: {v}", json_string(k)))
        .collect();
    format!("{{\n{}\n{}}}", body.join(",\n"), "  ".repeat(depth))
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        // Rust writes the shortest text that reads back to the same f64,
        // with no exponent: valid JSON.
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A chart in words, for people who cannot see it: for each series of
/// each run, its range, when it peaked and where it ended ("API threads in
/// use: 4 to 50 threads, highest at 32 s, 6 at the end."). The CSV has
/// every point.
pub fn chart_summary(
    spec: &ScenarioSpec,
    chart: &ChartSpec,
    runs: &[(&str, &RunResult)],
) -> String {
    let mut sentences = Vec::new();
    for (name, run) in runs {
        for key in &chart.series {
            let Some(series) = run.series(key) else {
                continue;
            };
            let (label, unit) = series_label(spec, key);
            let prefix = if name.is_empty() {
                String::new()
            } else {
                format!("{name} · ")
            };
            // A latency has no value in a bucket in which nothing completed
            // (it reads 0 there, and the chart leaves a gap): only buckets
            // with completions are described, as the chart draws them.
            let completions = key
                .starts_with("latency_")
                .then(|| run.series("throughput_rps"))
                .flatten();
            let points: Vec<(usize, f64)> = series
                .values
                .iter()
                .copied()
                .enumerate()
                .filter(|&(j, _)| {
                    completions.is_none_or(|c| c.values.get(j).is_some_and(|&n| n > 0.0))
                })
                .collect();
            let (Some(&(_, last)), Some(lo), Some((peak_at, hi))) = (
                points.last(),
                points.iter().map(|p| p.1).reduce(f64::min),
                points
                    .iter()
                    .copied()
                    .reduce(|best, x| if x.1 > best.1 { x } else { best }),
            ) else {
                sentences.push(format!("{prefix}{label}: no data."));
                continue;
            };
            let at = format_duration((peak_at as f64 + 0.5) * run.bucket_s);
            sentences.push(if lo == hi {
                format!(
                    "{prefix}{label}: {} throughout.",
                    format_with_unit(hi, unit)
                )
            } else {
                format!(
                    "{prefix}{label}: {} to {}, highest at {at}, {} at the end.",
                    format_number(lo),
                    format_with_unit(hi, unit),
                    format_number(last)
                )
            });
        }
    }
    format!("{}. {}", chart.title, sentences.join(" "))
}

/// Every series of a run as CSV: a `time_s` column, then one per series.
pub fn series_csv(result: &RunResult) -> String {
    let mut out = String::from("time_s");
    for s in &result.series {
        out.push(',');
        out.push_str(&s.key);
    }
    out.push('\n');
    let rows = result
        .series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0);
    for i in 0..rows {
        out.push_str(&csv_number(i as f64 * result.bucket_s));
        for s in &result.series {
            out.push(',');
            if let Some(&v) = s.values.get(i) {
                out.push_str(&csv_number(v));
            }
        }
        out.push('\n');
    }
    out
}

/// A number for the CSV: at most 12 decimals, trailing zeros dropped, so
/// that float noise (3 × 0.1 = 0.30000000000000004) does not show.
fn csv_number(v: f64) -> String {
    let fixed = format!("{v:.12}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "" | "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

/// The part of the notes a scenario comes from, by name.
pub fn part_name(part: &str) -> String {
    let name = match part {
        "Part 1" => "data processing and performance",
        "Part 2" => "infrastructure and production",
        "Part 3" => "security and architecture",
        "Part 4" => "high traffic and crisis management",
        _ => return part.to_string(),
    };
    format!("{part}: {name}")
}

/// Everything a scenario says in words (lesson, help texts, metric names),
/// for the topic finder: "retry", "idempotent" or "backpressure" find the
/// scenarios whose lessons use them.
pub fn searchable_text(spec: &ScenarioSpec, l: &crate::spec::Lesson) -> String {
    let i = &l.interview;
    let mut parts: Vec<&str> = vec![
        &l.predict.question,
        &l.predict.answer,
        &i.clarify,
        &i.challenge,
        &i.solution,
        &i.tradeoffs,
        &i.scale,
        &i.production,
    ];
    parts.extend(l.notice.iter().chain(&l.try_this).map(|c| c.text.as_str()));
    if let Some(t) = &l.table {
        parts.push(&t.title);
        parts.extend(
            t.rows
                .iter()
                .flat_map(|r| r.cells.iter().map(String::as_str)),
        );
    }
    parts.extend(
        spec.params
            .iter()
            .flat_map(|p| [p.label.as_str(), p.help.as_str()]),
    );
    parts.extend(
        spec.metrics
            .iter()
            .chain(&spec.series)
            .map(|m| m.label.as_str()),
    );
    parts.extend(
        spec.presets
            .iter()
            .flat_map(|p| [p.label.as_str(), p.description.as_str()]),
    );
    parts.join(" ")
}

/// Scenarios grouped by part of the notes, keeping only those that match
/// every word of `query` in their title, summary, part, id, tags or in the
/// `more` text of each (its lesson, once loaded).
pub fn filter_catalogue<'a>(
    specs: &[&'a crate::scenarios::Card],
    query: &str,
    more: impl Fn(&crate::scenarios::Card) -> String,
) -> Vec<(String, Vec<&'a crate::scenarios::Card>)> {
    let words: Vec<String> = query
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let mut groups: Vec<(String, Vec<&'a crate::scenarios::Card>)> = Vec::new();
    for &spec in specs {
        let haystack = format!(
            "{} {} {} {} {} {}",
            spec.title,
            spec.summary,
            part_name(&spec.part),
            spec.id,
            spec.tags.join(" "),
            more(spec)
        )
        .to_lowercase();
        if !words.iter().all(|w| haystack.contains(w.as_str())) {
            continue;
        }
        match groups.iter_mut().find(|(part, _)| *part == spec.part) {
            Some((_, list)) => list.push(spec),
            None => groups.push((spec.part.clone(), vec![spec])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_number(1234567.0), "1,234,567");
        assert_eq!(format_number(12.345), "12.3");
        assert_eq!(format_number(0.6687), "0.669");
        assert_eq!(format_number(-2.5), "-2.50");
        assert_eq!(format_number(999.9), "1,000");
        assert_eq!(format_number(f64::NAN), "–");
        assert_eq!(format_with_unit(3.0, "ms"), "3 ms");
        assert_eq!(format_with_unit(1.0, "0/1"), "yes");
        assert_eq!(format_with_unit(1.0, "requests"), "1 request");
        assert_eq!(format_with_unit(1.0, "ms"), "1 ms");
        assert_eq!(format_with_unit(2.0, "requests"), "2 requests");
        assert_eq!(format_with_unit(1.0, "queries"), "1 query");
        assert_eq!(format_with_unit(1.0, "batches"), "1 batch");
        assert_eq!(format_with_unit(1.0, "files"), "1 file");
        assert_eq!(format_with_unit(1.0, "processes"), "1 process");
        assert_eq!(format_with_unit(1.0, "boxes"), "1 box");
        assert_eq!(format_with_unit(0.25, "fraction"), "25 %");
        assert_eq!(format_duration(0.25), "250 ms");
        assert_eq!(format_duration(12.0), "12 s");
        assert_eq!(format_duration(270.0), "4.50 min");
        assert_eq!(format_duration(7200.0), "2 h");
    }

    #[test]
    fn every_common_metric_and_series_has_a_label() {
        // The engine owns the keys, this module the labels: keep them in step.
        use crate::engine::metrics::{COMMON_METRICS, COMMON_SERIES};
        for key in COMMON_METRICS {
            assert!(
                COMMON_METRIC_LABELS.iter().any(|(k, _, _, _)| k == key),
                "{key}"
            );
        }
        for key in COMMON_SERIES {
            assert!(
                COMMON_SERIES_LABELS.iter().any(|(k, _, _, _)| k == key),
                "{key}"
            );
        }
        assert_eq!(COMMON_METRIC_LABELS.len(), COMMON_METRICS.len());
        assert_eq!(COMMON_SERIES_LABELS.len(), COMMON_SERIES.len());
    }

    #[test]
    fn a_metric_of_something_that_never_happened_says_so() {
        let s = find("large-datasets").unwrap_or_else(|e| panic!("{e}"));
        let cfg = crate::spec::RunConfig {
            seed: 1,
            duration_s: 60.0,
        };
        // load_all of 10 M records dies before any record is processed.
        let mut crash = s.spec.defaults();
        s.spec
            .apply_preset(&mut crash, "bad")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = s.run(&crash, &cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.metric("records_processed"), Some(0.0));
        assert_eq!(
            format_metric(&s.spec, &out, "first_result_ms").as_deref(),
            Some("—, no record processed")
        );
        // Keyset paging processes records: the time is shown.
        let mut good = s.spec.defaults();
        s.spec
            .apply_preset(&mut good, "good")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = s.run(&good, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let shown = format_metric(&s.spec, &out, "first_result_ms").unwrap_or_default();
        assert!(shown.ends_with(" ms"), "{shown}");
    }

    #[test]
    fn value_at_picks_the_bucket_and_clamps() {
        let s = Series {
            key: "k".into(),
            values: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(value_at(&s, 0.5, 0.0), Some(1.0));
        assert_eq!(value_at(&s, 0.5, 0.74), Some(2.0));
        assert_eq!(value_at(&s, 0.5, 99.0), Some(3.0));
        assert_eq!(value_at(&s, 0.5, f64::NAN), Some(1.0));
        let empty = Series {
            key: "e".into(),
            values: vec![],
        };
        assert_eq!(value_at(&empty, 0.5, 1.0), None);
    }

    #[test]
    fn a_chart_reads_as_words() {
        let spec = crate::scenarios::find("cascading-failures")
            .map(|s| s.spec.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let chart = spec.charts[1].clone(); // API threads: api.busy, api.queue
        let mut run = RunResult {
            events: 0,
            duration_s: 3.0,
            bucket_s: 1.0,
            metrics: vec![],
            series: vec![
                Series {
                    key: "api.busy".into(),
                    values: vec![4.0, 50.0, 6.0],
                },
                Series {
                    key: "api.queue".into(),
                    values: vec![0.0, 0.0, 0.0],
                },
            ],
            outcomes: vec![],
            marks: vec![],
            faults: vec![],
        };
        let text = chart_summary(&spec, &chart, &[("", &run)]);
        let (busy, _) = series_label(&spec, "api.busy");
        let (queue, _) = series_label(&spec, "api.queue");
        assert!(text.starts_with(&format!("{}. ", chart.title)), "{text}");
        // The peak in the middle bucket, [1 s, 2 s): its middle is 1.50 s.
        assert!(text.contains(&format!("{busy}: 4 to 50")), "{text}");
        assert!(text.contains("highest at 1.50 s, 6 at the end."), "{text}");
        assert!(text.contains(&format!("{queue}: 0")), "{text}");
        // A latency is described only where something completed: the 0 of
        // a bucket with no completions is a gap, not a 0 ms latency.
        let latency_chart = ChartSpec {
            series: vec!["latency_p50_ms".into()],
            ..chart.clone()
        };
        let mut gappy = run.clone();
        gappy.series = vec![
            Series {
                key: "latency_p50_ms".into(),
                values: vec![0.0, 20.0, 30.0, 0.0],
            },
            Series {
                key: "throughput_rps".into(),
                values: vec![0.0, 5.0, 5.0, 0.0],
            },
        ];
        let text = chart_summary(&spec, &latency_chart, &[("", &gappy)]);
        assert!(
            text.contains(": 20 to 30 ms, highest at 2.50 s, 30 at the end."),
            "{text}"
        );
        gappy.series[1].values = vec![0.0; 4];
        let text = chart_summary(&spec, &latency_chart, &[("", &gappy)]);
        assert!(text.contains(": no data."), "{text}");
        run.series.clear();
        assert_eq!(
            chart_summary(&spec, &chart, &[("A", &run)]),
            format!("{}. ", chart.title)
        );
    }

    #[test]
    fn csv_numbers_carry_no_float_noise() {
        assert_eq!(csv_number(3.0 * 0.1), "0.3");
        assert_eq!(csv_number(12.0), "12");
        assert_eq!(csv_number(0.0), "0");
        assert_eq!(csv_number(-1e-15), "0");
        assert_eq!(csv_number(-2.5), "-2.5");
        assert_eq!(csv_number(1234567.125), "1234567.125");
    }

    #[test]
    fn a_difference_of_percentages_is_in_points() {
        let row = |unit: &str, a: f64, b: f64| CompareRow {
            key: "k".into(),
            label: "k".into(),
            unit: unit.into(),
            a,
            b: Some(b),
            a_text: String::new(),
            b_text: None,
            description: String::new(),
        };
        // 80 % → 100 %: 20 points, a quarter more.
        assert_eq!(
            row("%", 80.0, 100.0).delta_text(),
            Some(("20 points".to_string(), "(+25 %)".to_string()))
        );
        assert_eq!(
            row("%", 50.0, 49.0).delta_text().map(|d| d.0),
            Some("-1 point".to_string())
        );
        // A fraction shows as a percentage, so its difference is in
        // points too: 0.463 → 0.940 is 47.7 points.
        assert_eq!(
            row("fraction", 0.463, 0.940).delta_text().map(|d| d.0),
            Some("47.7 points".to_string())
        );
        // 16 → 17 694 connections: a factor, not "+110488 %".
        assert_eq!(
            row("connections", 16.0, 17_694.0).delta_text().map(|d| d.1),
            Some("(×1,106)".to_string())
        );
        assert_eq!(
            row("0/1", 0.0, 1.0).delta_text(),
            Some(("changed".to_string(), String::new()))
        );
    }

    #[test]
    fn compare_table_and_csv_cover_every_metric_and_series() {
        let s = find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let cfg = crate::spec::RunConfig {
            seed: 1,
            duration_s: 5.0,
        };
        let a = s
            .run(&s.spec.defaults(), &cfg)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut params = s.spec.defaults();
        s.spec
            .apply_preset(&mut params, "good")
            .unwrap_or_else(|e| panic!("{e}"));
        let b = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let rows = compare_rows(&s.spec, &a, Some(&b));
        assert_eq!(rows.len(), a.metrics.len());
        let peak = rows.iter().find(|r| r.key == "max_in_any_window");
        // Fixed window lets the burst through (40), the log holds it to 20.
        assert_eq!(peak.map(|r| (r.a, r.b)), Some((40.0, Some(20.0))));
        assert_eq!(peak.and_then(CompareRow::delta_pct), Some(-50.0));
        assert!(rows.iter().all(|r| !r.label.is_empty()));

        let csv = series_csv(&a);
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("time_s,throughput_rps,errors_rps"));
        assert_eq!(lines.len(), 1 + a.series[0].values.len());
        assert!(lines[1..]
            .iter()
            .all(|l| l.split(',').count() == 1 + a.series.len()));
    }

    #[test]
    fn the_summary_is_json_with_the_run_its_variant_and_escaped_text() {
        let s = crate::scenarios::find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let params = s.spec.defaults();
        let cfg = crate::spec::RunConfig {
            seed: 3,
            duration_s: 2.0,
        };
        let mut a = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let b = a.clone();
        a.metrics[0].value = f64::NAN;
        let run = SummaryRun {
            params: &params,
            result: &a,
        };
        let other = SummaryRun {
            params: &params,
            result: &b,
        };
        let text = summary_json("a \"quoted\"\\ id\n", 3, &run, Some(&other), Some(1.5));
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["scenario"], "a \"quoted\"\\ id\n");
        assert_eq!(v["seed"], 3);
        assert_eq!(v["duration_s"], 2.0);
        assert_eq!(v["wall_ms"], 1.5);
        assert_eq!(v["params"]["algorithm"], "fixed_window");
        assert_eq!(v["events"], a.events);
        assert!(v["metrics"][&a.metrics[0].key].is_null());
        assert_eq!(
            v["compare"]["metrics"]["requests"],
            b.metric("requests").unwrap_or(-1.0)
        );
    }

    #[test]
    fn topic_finder_groups_by_part_and_matches_all_words() {
        let all: Vec<&crate::scenarios::Card> = crate::scenarios::cards()
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .collect();
        let lesson = |c: &crate::scenarios::Card| {
            crate::scenarios::find(&c.id)
                .map_or(String::new(), |s| searchable_text(&s.spec, &s.spec.lesson))
        };
        let everything = filter_catalogue(&all, "", lesson);
        assert_eq!(
            everything.iter().map(|(_, l)| l.len()).sum::<usize>(),
            all.len()
        );
        // Case does not matter; every scenario with a token bucket matches.
        let mut bucket: Vec<&str> = filter_catalogue(&all, "Token BUCKET", lesson)
            .iter()
            .flat_map(|(_, l)| l.iter().map(|c| c.id.as_str()))
            .collect();
        bucket.sort_unstable();
        assert_eq!(
            bucket,
            ["million-users", "rate-limiting", "third-party-rate-limits"]
        );
        assert!(filter_catalogue(&all, "postgres", lesson)
            .iter()
            .any(|(_, l)| l.iter().any(|s| s.id == "connection-pool")));
        assert!(filter_catalogue(&all, "zebra crossing", lesson).is_empty());
        // Words only the lessons use, and the parts' names.
        let found = |q: &str| -> Vec<String> {
            filter_catalogue(&all, q, lesson)
                .iter()
                .flat_map(|(_, l)| l.iter().map(|c| c.id.clone()))
                .collect()
        };
        assert!(found("idempotent").contains(&"bulk-upload".to_string()));
        assert!(found("backpressure").contains(&"bulk-export".to_string()));
        assert!(found("retry").contains(&"bulk-upload".to_string()));
        let part_one = all.iter().filter(|c| c.part == "Part 1").count();
        assert!(part_one > 0);
        assert_eq!(found("data processing").len(), part_one);
        // Without the lessons, only the cards are searched.
        assert!(filter_catalogue(&all, "idempotent", |_| String::new()).is_empty());
    }
}
