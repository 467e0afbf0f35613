//! The command line itself (native only: clap is a native dependency).

use clap::{CommandFactory, Parser, Subcommand};
use prodsim::scenarios::{self, Scenario};
use prodsim::spec::{ParamKind, RunConfig, SpecError, DEFAULT_SEED};
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting the bytes in use and their peak, so that
/// `prodsim check` can tell whether a run's memory grows with its length.
struct CountingAlloc;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = IN_USE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is passed straight to the system allocator; the
// counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed`, forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// The counting allocator as the checker's heap meter.
struct Heap;

impl prodsim::check::HeapMeter for Heap {
    fn reset_peak(&self) {
        PEAK.store(IN_USE.load(Relaxed), Relaxed);
    }
    fn peak(&self) -> usize {
        PEAK.load(Relaxed)
    }
}

/// A failure and the exit status it maps to.
enum Failure {
    /// Bad input: exit 2.
    Usage(String),
    /// The registry is broken: exit 1.
    Internal(String),
    /// `check` found failures: its report on stdout, exit 1.
    Found(String),
}

impl From<SpecError> for Failure {
    fn from(e: SpecError) -> Self {
        match e {
            SpecError::Invalid(msg) => Failure::Internal(msg),
            other => Failure::Usage(other.to_string()),
        }
    }
}

/// Prodsim's scenarios, headless: list them, show one, run it (once or as
/// replications), benchmark the engine, check every scenario's promises.
#[derive(Parser)]
#[command(name = "prodsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every scenario: id, part and title.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a scenario's parameters (with ranges), presets, metrics and series.
    Show {
        /// The scenario's id (see `prodsim list`).
        scenario: Option<String>,
        /// Print the whole data file as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario and print its numbers.
    Run(RunArgs),
    /// Measure the engine: the M/M/c workload and the request-flow workload.
    Bench {
        /// Requests to simulate (1 to 1000000000; default 2000000).
        #[arg(long, value_name = "N")]
        requests: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check random cases against what every scenario promises; a failure
    /// is shrunk and printed as the line that replays it (exit status 1).
    Check {
        /// Cases to draw (default 1000).
        #[arg(long, value_name = "N")]
        cases: Option<String>,
        /// The seed the cases are drawn from (default 42).
        #[arg(long, value_name = "S", allow_hyphen_values = true)]
        seed: Option<String>,
        /// Check only this scenario.
        #[arg(long, value_name = "ID")]
        scenario: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every scenario's default run into DIR (the site's build does).
    FirstRuns {
        /// Where to write `<id>.first.json`.
        dir: String,
    },
    /// Print the build stamp the site names its data directory after.
    Stamp,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The scenario's id (see `prodsim list`).
    scenario: Option<String>,
    /// Apply this preset first (see `prodsim show <scenario>`).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Set a parameter; repeat for more. Out-of-range values are refused.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The seed of every random stream (default 42).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    seed: Option<String>,
    /// Simulated seconds (default: the scenario's).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    duration: Option<String>,
    /// Run N independent replications and print mean, sd and 95 % interval.
    #[arg(long, value_name = "N")]
    replications: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also write every chart and the diagram as SVG into DIR.
    #[arg(long, value_name = "DIR")]
    svg: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.kind() == clap::error::ErrorKind::InvalidSubcommand {
                // Name every command, as every other bad value names its
                // valid choices.
                let names: Vec<String> = Cli::command()
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                let given = std::env::args().nth(1).unwrap_or_default();
                eprintln!(
                    "prodsim: unknown command '{given}' (valid: {}, help)\n(see prodsim --help)",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
            // Help and version go to stdout with status 0; mistakes to
            // stderr with status 2, like every other bad input.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli.command) {
        Ok(out) => {
            // A reader that stops early (`prodsim show x | head`) closes the
            // pipe: that is not an error worth a panic.
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("prodsim: {msg}\n(see prodsim --help)");
            ExitCode::from(2)
        }
        Err(Failure::Internal(msg)) => {
            eprintln!("prodsim: internal error: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Found(report)) => {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{report}");
            ExitCode::from(1)
        }
    }
}

/// Runs a command. Each takes its arguments as [`Options`] (clap checked
/// their shape; the values are checked here, against the data files).
fn dispatch(command: Command) -> Result<String, Failure> {
    let opts =
        |positional: Option<String>, json: bool, pairs: Vec<(&str, Option<String>)>| Options {
            positional: positional.into_iter().collect(),
            json,
            pairs: pairs
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                .collect(),
        };
    match command {
        Command::List { json } => list(opts(None, json, vec![])),
        Command::Show { scenario, json } => show(opts(scenario, json, vec![])),
        Command::Run(a) => {
            let mut pairs = vec![("preset", a.preset)];
            pairs.extend(a.set.into_iter().map(|s| ("set", Some(s))));
            pairs.extend([
                ("seed", a.seed),
                ("duration", a.duration),
                ("replications", a.replications),
                ("svg", a.svg),
            ]);
            run(opts(a.scenario, a.json, pairs))
        }
        Command::Bench { requests, json } => bench(opts(None, json, vec![("requests", requests)])),
        Command::Check {
            cases,
            seed,
            scenario,
            json,
        } => check(opts(
            None,
            json,
            vec![("cases", cases), ("seed", seed), ("scenario", scenario)],
        )),
        Command::FirstRuns { dir } => first_runs(&dir),
        Command::Stamp => Ok(prodsim::STAMP.to_string()),
    }
}

/// A command's arguments: its scenario, `--json`, and `--name value`
/// pairs in order.
struct Options {
    positional: Vec<String>,
    json: bool,
    pairs: Vec<(String, String)>,
}

fn one_scenario(opts: &Options) -> Result<&'static Scenario, Failure> {
    match opts.positional.as_slice() {
        [id] => Ok(scenarios::find(id)?),
        [] => {
            let ids: Vec<String> = scenarios::catalogue()?
                .iter()
                .map(|s| s.spec.id.clone())
                .collect();
            Err(Failure::Usage(format!(
                "which scenario? (valid: {})",
                ids.join(", ")
            )))
        }
        [_, extra, ..] => Err(Failure::Usage(format!("unexpected argument '{extra}'"))),
    }
}

/// `--<flag> value` as a whole number within `range`, or a message that
/// says which numbers are allowed.
fn count(flag: &str, value: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, Failure> {
    value
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--{flag} '{value}' must be a whole number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn list(opts: Options) -> Result<String, Failure> {
    let all = scenarios::catalogue()?;
    if opts.json {
        let items: Vec<Value> = all
            .iter()
            .map(|s| json!({"id": s.spec.id, "title": s.spec.title, "part": s.spec.part, "summary": s.spec.summary}))
            .collect();
        return Ok(pretty(&Value::Array(items)));
    }
    let width = all.iter().map(|s| s.spec.id.len()).max().unwrap_or(0);
    Ok(all
        .iter()
        .map(|s| format!("{:width$}  {:8}  {}", s.spec.id, s.spec.part, s.spec.title))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn show(opts: Options) -> Result<String, Failure> {
    let spec = &one_scenario(&opts)?.spec;
    if opts.json {
        let v = serde_json::to_value(spec).map_err(|e| Failure::Internal(e.to_string()))?;
        return Ok(pretty(&v));
    }
    let mut out = vec![
        format!("{} — {} ({})", spec.id, spec.title, spec.part),
        spec.summary.clone(),
        String::new(),
        "parameters:".into(),
    ];
    for p in &spec.params {
        let range = match p.kind {
            ParamKind::Slider => format!("{} to {} step {} {}", p.min, p.max, p.step, p.unit),
            ParamKind::Select => p.options.join(" | "),
            ParamKind::Toggle => "true | false".into(),
            ParamKind::Faults => format!(
                "stage:kind:start:duration,… (stages {}; kinds down, slow<x>, errors<%>, traffic<x>; times to {} s)",
                p.options.join(", "),
                p.max
            ),
        };
        out.push(format!(
            "  {:22} default {:<14} {}",
            p.key,
            p.default.to_string(),
            range.trim_end()
        ));
    }
    out.push(String::new());
    out.push("presets:".into());
    for preset in &spec.presets {
        let values: Vec<String> = preset
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push(format!("  {:22} {}", preset.name, values.join(" ")));
    }
    // Every number a run reports, with what it means.
    type Describe = fn(&prodsim::spec::ScenarioSpec, &str) -> String;
    let sections: [(&str, Vec<String>, Describe); 2] = [
        ("metrics:", spec.metric_keys(), |spec, key| {
            let (label, unit) = prodsim::present::metric_label(spec, key);
            with_unit(label, unit, prodsim::present::metric_description(spec, key))
        }),
        (
            "series (charted over time):",
            spec.series_keys(),
            |spec, key| {
                let (label, unit) = prodsim::present::series_label(spec, key);
                with_unit(label, unit, prodsim::present::series_description(spec, key))
            },
        ),
    ];
    for (title, keys, describe) in sections {
        out.push(String::new());
        out.push(title.into());
        for key in keys {
            out.push(format!("  {key:22} {}", describe(spec, &key)));
        }
    }
    out.push(String::new());
    out.push(format!(
        "duration: default {} s, {} to {} s",
        spec.duration_s.default, spec.duration_s.min, spec.duration_s.max
    ));
    Ok(out.join("\n"))
}

/// "Label (unit)" and, on the next line under it, the definition.
fn with_unit(label: &str, unit: &str, definition: &str) -> String {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" ({unit})")
    };
    format!("{label}{unit}\n  {:22} {definition}", "")
}

fn run(opts: Options) -> Result<String, Failure> {
    let scenario = one_scenario(&opts)?;
    let spec = &scenario.spec;
    let mut preset = None;
    let mut sets = Vec::new();
    let mut seed = DEFAULT_SEED;
    let mut duration_s = spec.duration_s.default;
    let mut svg_dir = None;
    let mut replications = None;
    for (name, value) in &opts.pairs {
        match name.as_str() {
            "preset" => preset = Some(value.as_str()),
            "replications" => replications = Some(count("replications", value, 2..=10_000)?),
            "svg" => svg_dir = Some(std::path::PathBuf::from(value)),
            "set" => {
                let (k, v) = value.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--set expects key=value, got '{value}'"))
                })?;
                sets.push((k.trim().to_string(), v.trim().to_string()));
            }
            "seed" => {
                seed = value.parse().map_err(|_| {
                    Failure::Usage(format!(
                        "--seed '{value}' is not a whole number from 0 to {}",
                        u64::MAX
                    ))
                })?
            }
            _ => {
                let d: f64 = value.parse().map_err(|_| {
                    Failure::Usage(format!("--duration '{value}' is not a number of seconds"))
                })?;
                duration_s = spec.check_duration(d)?;
            }
        }
    }
    let params = spec.resolve(preset, &sets)?;
    if let Some(n) = replications {
        if svg_dir.is_some() {
            return Err(Failure::Usage(
                "--svg draws one run: leave out --replications".into(),
            ));
        }
        return replicated(scenario, &params, seed, duration_s, n, opts.json);
    }
    let config = RunConfig { seed, duration_s };
    let started = Instant::now();
    let result = scenario.run(&params, &config)?;
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(dir) = &svg_dir {
        write_svgs(spec, &params, &result, dir)?;
    }

    if opts.json {
        // The page's JSON button writes the same, from the same routine.
        let run = prodsim::present::SummaryRun {
            params: &params,
            result: &result,
        };
        return Ok(prodsim::present::summary_json(
            &spec.id,
            seed,
            &run,
            None,
            Some(wall_ms),
        ));
    }
    let mut out = vec![format!(
        "{} — seed {seed}, {} s simulated, {} events in {wall_ms:.1} ms",
        spec.id, result.duration_s, result.events
    )];
    let labels = spec
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), m.label.as_str(), m.unit.as_str()));
    for m in &result.metrics {
        let (label, unit) = labels
            .clone()
            .find(|(k, _, _)| *k == m.key)
            .map(|(_, l, u)| (l, u))
            .unwrap_or((m.key.as_str(), ""));
        out.push(format!("  {label:45} {:>14.3} {unit}", m.value));
    }
    for o in &result.outcomes {
        out.push(format!("  {} ({}): {}", o.kind, o.reason, o.count));
    }
    Ok(out.join("\n"))
}

/// `run --replications N`: per metric the mean, the standard deviation and
/// a 95 % confidence interval over N independent replications.
fn replicated(
    scenario: &Scenario,
    params: &prodsim::spec::Params,
    seed: u64,
    duration_s: f64,
    n: u64,
    json_out: bool,
) -> Result<String, Failure> {
    use prodsim::replicate;
    let spec = &scenario.spec;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let started = Instant::now();
    let results = replicate::run(scenario, params, seed, duration_s, n, threads)?;
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let summaries = replicate::summarize(&results);
    if json_out {
        let first = results
            .first()
            .ok_or_else(|| Failure::Internal("no replication ran".into()))?;
        let run = prodsim::present::SummaryRun {
            params,
            result: first,
        };
        let mut out: Value = serde_json::from_str(&prodsim::present::summary_json(
            &spec.id,
            seed,
            &run,
            None,
            Some(wall_ms),
        ))
        .map_err(|e| Failure::Internal(e.to_string()))?;
        let metrics: serde_json::Map<String, Value> = summaries
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    json!({"mean": s.mean, "sd": s.sd, "ci95": [s.ci95.0, s.ci95.1], "n": s.n}),
                )
            })
            .collect();
        let events: Vec<u64> = results.iter().map(|r| r.events).collect();
        let seeds: Vec<String> = (0..n)
            .map(|i| replicate::replication_seed(seed, i).to_string())
            .collect();
        if let Some(o) = out.as_object_mut() {
            o.insert("metrics".into(), Value::Object(metrics));
            o.insert("replications".into(), json!(n));
            // As strings: seeds use all 64 bits, beyond what JSON readers
            // keep exactly.
            o.insert("replication_seeds".into(), json!(seeds));
            o.insert("events".into(), json!(events.iter().sum::<u64>()));
        }
        return Ok(pretty(&out));
    }
    let mut lines = vec![format!(
        "{} — {n} replications (seeds from {seed}), {duration_s} s each, in {wall_ms:.1} ms\n  {:45} {:>14} {:>12}   95 % confidence interval",
        spec.id, "metric", "mean", "sd"
    )];
    for s in &summaries {
        let (label, unit) = spec
            .metrics
            .iter()
            .find(|m| m.key == s.key)
            .map_or((s.key.as_str(), ""), |m| {
                (m.label.as_str(), m.unit.as_str())
            });
        lines.push(format!(
            "  {label:45} {:>14.4} {:>12.4}   [{:.4}, {:.4}] {unit}",
            s.mean, s.sd, s.ci95.0, s.ci95.1
        ));
    }
    Ok(lines.join("\n"))
}

/// Writes every chart and the diagram (at the end of the run) as SVG files.
fn write_svgs(
    spec: &prodsim::spec::ScenarioSpec,
    params: &prodsim::spec::Params,
    result: &prodsim::engine::RunResult,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    use prodsim::draw::{chart_svg, diagram_svg, ChartRun, Theme};
    let io = |e: std::io::Error| Failure::Usage(format!("--svg {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let runs = [ChartRun { name: "", result }];
    for (i, chart) in spec.charts.iter().enumerate() {
        let svg =
            chart_svg(spec, chart, &runs, (800, 360), &Theme::LIGHT).map_err(Failure::Internal)?;
        std::fs::write(dir.join(format!("chart-{}.svg", i + 1)), svg).map_err(io)?;
    }
    // The moment the page opens on: where something is happening.
    let moment = prodsim::present::focus_time(spec, result);
    let diagram = diagram_svg(spec, Some(params), Some(result), moment);
    // Standalone files need the colours the page's stylesheet gives.
    let styled = diagram.replacen(
        "</title>",
        "</title><style>.node rect{fill:#eef4fb;stroke:#0b63b5;stroke-width:2}.node.alert rect{fill:#fce8e6;stroke:#c5221f}\
         .node.warn rect{fill:#fff4d6;stroke:#b06d00}text{fill:#202124}.link{stroke:#5f6368;stroke-width:2}\
         .arrowhead{fill:#5f6368}.link-label{fill:#5f6368}</style>",
        1,
    );
    std::fs::write(dir.join("diagram.svg"), styled).map_err(io)?;
    Ok(())
}

/// Writes `DIR/<id>.first.json` for every scenario: the default run the
/// site shows before its simulator has loaded (see `scenarios::first_run`).
fn first_runs(dir: &str) -> Result<String, Failure> {
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for s in scenarios::catalogue()? {
        let out = scenarios::first_run(s)?;
        let text = serde_json::to_string(&out).map_err(|e| Failure::Internal(e.to_string()))?;
        let path = dir.join(format!("{}.first.json", s.spec.id));
        std::fs::write(&path, text)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
        written.push(path.display().to_string());
    }
    Ok(written.join("\n"))
}

/// Draws random cases and checks what every scenario promises; each
/// failure is shrunk and printed as the line that replays it.
fn check(opts: Options) -> Result<String, Failure> {
    let mut plan = prodsim::check::Plan {
        cases: 1_000,
        seed: DEFAULT_SEED,
        scenario: None,
        memory_every: 50,
    };
    for (name, value) in &opts.pairs {
        match name.as_str() {
            "cases" => plan.cases = count("cases", value, 1..=100_000_000)?,
            "seed" => {
                plan.seed = value.parse().map_err(|_| {
                    Failure::Usage(format!(
                        "--seed '{value}' is not a whole number from 0 to {}",
                        u64::MAX
                    ))
                })?
            }
            _ => plan.scenario = Some(value.clone()),
        }
    }
    let all = scenarios::catalogue()?;
    let chosen: Vec<&Scenario> = match &plan.scenario {
        Some(id) => vec![scenarios::find(id)?],
        None => all.iter().collect(),
    };
    // A panic is a finding, reported with its case: keep the default hook
    // from printing each one as it is caught.
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = prodsim::check::run(&plan, &chosen, Some(&Heap), threads);
    let _ = std::panic::take_hook();
    let wall = started.elapsed().as_secs_f64();
    let per_s = report.cases as f64 / wall.max(1e-9);
    let text = if opts.json {
        pretty(&json!({
            "cases": report.cases,
            "seed": plan.seed,
            "threads": threads,
            "wall_s": wall,
            "cases_per_s": per_s,
            "memory_checked": report.memory_checked,
            "per_scenario": report.per_scenario.iter().map(|(id, n)| (id.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "failures": report.failures.iter().map(|f| json!({
                "problem": f.problem,
                "replay": f.shrunk.replay(),
                "drawn": f.drawn.replay(),
            })).collect::<Vec<_>>(),
        }))
    } else {
        let mut lines = vec![format!(
            "checked {} cases (seed {}) in {wall:.1} s on {threads} threads: {per_s:.0} cases/s; memory judged on {}",
            report.cases, plan.seed, report.memory_checked
        )];
        for (id, n) in &report.per_scenario {
            lines.push(format!("  {id:28} {n} cases"));
        }
        if report.failures.is_empty() {
            lines.push("no failures".into());
        }
        for f in &report.failures {
            lines.push(format!(
                "FAILED: {}
  replay: {}",
                f.problem,
                f.shrunk.replay()
            ));
        }
        lines.join("\n")
    };
    if report.failures.is_empty() {
        Ok(text)
    } else {
        Err(Failure::Found(text))
    }
}

fn bench(opts: Options) -> Result<String, Failure> {
    let mut requests = 2_000_000u64;
    for (_, value) in &opts.pairs {
        requests = count("requests", value, 1..=1_000_000_000)?;
    }
    let started = Instant::now();
    let out = prodsim::bench::mmc(requests, DEFAULT_SEED);
    let wall = started.elapsed().as_secs_f64();
    let rps = out.completed as f64 / wall;
    let eps = out.events as f64 / wall;
    // The flow workload, sized to simulate about as many requests.
    let flow_s = (requests as f64 / prodsim::bench::FLOW_RPS).ceil().max(1.0) as u64;
    let started = Instant::now();
    let flow = prodsim::bench::flow(flow_s, DEFAULT_SEED);
    let flow_wall = started.elapsed().as_secs_f64();
    let flow_eps = flow.events as f64 / flow_wall;
    if opts.json {
        return Ok(pretty(&json!({
            "workload": "M/M/c, lambda 9/s, mean service 1 s, 10 servers",
            "requests": out.completed,
            "events": out.events,
            "wall_s": wall,
            "requests_per_s": rps,
            "events_per_s": eps,
            "mean_wait_s": out.mean_wait_s,
            "flow": {
                "workload": "load balancer over 10 instances calling a database, 4000 req/s",
                "requests": flow.requests,
                "events": flow.events,
                "wall_s": flow_wall,
                "events_per_s": flow_eps,
            },
        })));
    }
    Ok(format!(
        "M/M/c (λ = 9/s, mean service 1 s, 10 servers): {} requests, {} events in {wall:.3} s\n\
         {rps:.0} simulated requests per wall second\n{eps:.0} events per wall second\n\
         mean wait {:.3} s (Erlang C predicts {:.3} s)\n\
         flow (balancer, 10 instances, a database; 4000 req/s): {} requests, {} events in {flow_wall:.3} s\n\
         {flow_eps:.0} events per wall second",
        out.completed,
        out.events,
        out.mean_wait_s,
        prodsim::bench::erlang_c(10, 9.0),
        flow.requests,
        flow.events,
    ))
}
