//! The simulation checker: random cases against what every scenario
//! promises, each failure shrunk and printed as one line that replays it.
//!
//! The idea is deterministic simulation testing as FoundationDB and
//! TigerBeetle practise it: a run is a pure function of its scenario,
//! parameters, seed and duration, so a failure found once replays forever
//! from one command line. Cases are drawn with the extremes over-weighted
//! (a slider's minimum, maximum and one step in from each; every option;
//! both toggle states; every preset; random fault schedules), and a
//! failing case is shrunk towards the defaults, proptest-style, while it
//! still fails, so the line you get names only what matters.
//!
//! What every case must show:
//! * no panic (caught, reported as a failure);
//! * every metric and series point finite;
//! * `requests = completed + failed + rejected + in_flight`, and failures
//!   and rejections accounted for by named reasons that sum to them;
//! * the same case run twice gives the same result, bit for bit;
//! * no series longer than [`MAX_POINTS`];
//! * memory that does not grow with the duration beyond what is in flight
//!   (checked on a sample of cases when a [`HeapMeter`] is given).

use crate::engine::metrics::MAX_POINTS;
use crate::engine::{RngStream, RunResult};
use crate::scenarios::Scenario;
use crate::spec::{faults, ParamKind, ParamSpec, RunConfig, ScenarioSpec};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One case: everything a run depends on, as the CLI spells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The scenario's id.
    pub scenario: String,
    /// A preset applied first.
    pub preset: Option<String>,
    /// `--set key=value` overrides, in the data file's order.
    pub sets: Vec<(String, String)>,
    /// The seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
}

impl Case {
    /// The command line that replays this case.
    pub fn replay(&self) -> String {
        let mut line = format!(
            "prodsim run {} --seed {} --duration {}",
            self.scenario, self.seed, self.duration_s
        );
        if let Some(p) = &self.preset {
            line.push_str(&format!(" --preset {p}"));
        }
        for (k, v) in &self.sets {
            // A value with spaces or an empty one is quoted for the shell.
            if v.is_empty() || v.contains(char::is_whitespace) {
                line.push_str(&format!(" --set '{k}={v}'"));
            } else {
                line.push_str(&format!(" --set {k}={v}"));
            }
        }
        line
    }
}

/// Measures the heap: the peak since the last reset, in bytes. The CLI and
/// the tests install a counting allocator and pass it in; the checker never
/// needs one to run.
pub trait HeapMeter {
    /// Starts a new peak at the current use.
    fn reset_peak(&self);
    /// The highest use since the last reset.
    fn peak(&self) -> usize;
}

/// What to check.
#[derive(Clone, Debug)]
pub struct Plan {
    /// How many cases.
    pub cases: u64,
    /// The seed every case is drawn from.
    pub seed: u64,
    /// One scenario only (None: all of them, in turn at random).
    pub scenario: Option<String>,
    /// Check memory on every this-many-th case (0: never).
    pub memory_every: u64,
}

/// A failure, shrunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// What went wrong.
    pub problem: String,
    /// The case as drawn.
    pub drawn: Case,
    /// The smallest case found that still fails the same way.
    pub shrunk: Case,
}

/// What a check did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: u64,
    /// Cases per scenario id.
    pub per_scenario: Vec<(String, u64)>,
    /// Cases whose memory was checked.
    pub memory_checked: u64,
    /// Failures, each shrunk.
    pub failures: Vec<Found>,
}

/// Draws a case for `spec` from `rng`.
pub fn draw(spec: &ScenarioSpec, rng: &mut RngStream) -> Case {
    let preset = (!spec.presets.is_empty() && rng.chance(0.25)).then(|| {
        spec.presets[rng.below(spec.presets.len() as u64) as usize]
            .name
            .clone()
    });
    let mut sets = Vec::new();
    for p in &spec.params {
        if rng.chance(0.5) {
            let d = spec.duration_s.default;
            if let Some(v) = draw_value(p, d, rng) {
                sets.push((p.key.clone(), v));
            }
        }
    }
    let d = &spec.duration_s;
    // Mostly the default duration (what the page runs), often the
    // shortest, sometimes anything in between: the checker's speed comes
    // from short runs, its reach from many of them.
    let duration_s = match rng.below(10) {
        0..=5 => d.default,
        6 | 7 => d.min,
        _ => round_to(d.min + rng.uniform() * (d.default - d.min).max(0.0), 0.5).max(d.min),
    };
    Case {
        scenario: spec.id.clone(),
        preset,
        sets,
        seed: rng.next_u64() % 1_000_000,
        duration_s,
    }
}

fn round_to(v: f64, step: f64) -> f64 {
    if step > 0.0 {
        (v / step).round() * step
    } else {
        v
    }
}

/// A slider's value printed as the CLI reads it back exactly.
fn number_text(v: f64) -> String {
    let mut s = format!("{v}");
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    s
}

/// A value for parameter `p`: the extremes over-weighted.
fn draw_value(p: &ParamSpec, run_s: f64, rng: &mut RngStream) -> Option<String> {
    match p.kind {
        ParamKind::Toggle => Some(rng.chance(0.5).to_string()),
        ParamKind::Select => {
            let n = p.options.len() as u64;
            (n > 0).then(|| p.options[rng.below(n) as usize].clone())
        }
        ParamKind::Slider => {
            let step = if p.step > 0.0 { p.step } else { 1.0 };
            let v = match rng.below(6) {
                0 => p.min,
                1 => p.max,
                2 => (p.min + step).min(p.max),
                3 => (p.max - step).max(p.min),
                _ => p.min + round_to(rng.uniform() * (p.max - p.min), step),
            };
            Some(number_text(v.clamp(p.min, p.max)))
        }
        ParamKind::Faults => Some(draw_faults(p, run_s, rng)),
    }
}

/// The stage name traffic faults go to.
const USERS: &str = "users";

/// A random schedule of up to three faults on the parameter's stages,
/// within the run (and sometimes overlapping).
fn draw_faults(p: &ParamSpec, run_s: f64, rng: &mut RngStream) -> String {
    if p.options.is_empty() {
        return String::new();
    }
    let span = run_s.min(p.max.max(1.0)).max(1.0);
    let faults: Vec<faults::FaultSpec> = (0..rng.below(4))
        .filter_map(|_| {
            let mut stage = p.options[rng.below(p.options.len() as u64) as usize].clone();
            let kind = match rng.below(4) {
                0 => faults::FaultSpecKind::Down,
                1 => faults::FaultSpecKind::Slow(2.0 + rng.below(49) as f64),
                2 => faults::FaultSpecKind::Errors(1.0 + rng.below(100) as f64),
                _ => faults::FaultSpecKind::Traffic(2.0 + rng.below(9) as f64),
            };
            // Traffic faults belong to the users, as the schedule's rules
            // say; another stage would be invalid input, not a finding.
            if matches!(kind, faults::FaultSpecKind::Traffic(_)) {
                if p.options.iter().any(|o| o == USERS) {
                    stage = USERS.to_string();
                } else {
                    return None;
                }
            }
            let start_s = rng.below(span as u64) as f64;
            let duration_s = 1.0 + rng.below(span as u64) as f64;
            Some(faults::FaultSpec {
                stage,
                kind,
                start_s,
                duration_s,
            })
        })
        .collect();
    faults::format(&faults)
}

/// Runs `case` once; a panic becomes an error.
fn run_once(scenario: &Scenario, case: &Case) -> Result<RunResult, String> {
    let params = scenario
        .spec
        .resolve(case.preset.as_deref(), &case.sets)
        .map_err(|e| format!("the case is not valid input: {e}"))?;
    let config = RunConfig {
        seed: case.seed,
        duration_s: case.duration_s,
    };
    match catch_unwind(AssertUnwindSafe(|| scenario.run(&params, &config))) {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(e)) => Err(format!("the model refused valid input: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(format!("panicked: {what}"))
        }
    }
}

/// The promises one result must keep (all but determinism and memory).
pub fn promises(result: &RunResult) -> Result<(), String> {
    for m in &result.metrics {
        if !m.value.is_finite() {
            return Err(format!("metric {} is {}", m.key, m.value));
        }
    }
    for s in &result.series {
        if s.values.len() > MAX_POINTS {
            return Err(format!(
                "series {} has {} points (at most {MAX_POINTS})",
                s.key,
                s.values.len()
            ));
        }
        if let Some((i, v)) = s.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!("series {} point {i} is {v}", s.key));
        }
    }
    let get = |k: &str| result.metric(k).unwrap_or(f64::NAN);
    let (requests, completed, failed, rejected, in_flight) = (
        get("requests"),
        get("completed"),
        get("failed"),
        get("rejected"),
        get("in_flight"),
    );
    if requests != completed + failed + rejected + in_flight {
        return Err(format!(
            "requests are not conserved: {requests} arrived, {completed} completed + {failed} failed + {rejected} rejected + {in_flight} in flight"
        ));
    }
    for (kind, total) in [("failed", failed), ("rejected", rejected)] {
        let by_reason: u64 = result
            .outcomes
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.count)
            .sum();
        if by_reason as f64 != total {
            return Err(format!(
                "{total} {kind}, but their reasons add up to {by_reason}"
            ));
        }
    }
    if let Some(o) = result.outcomes.iter().find(|o| o.reason.trim().is_empty()) {
        return Err(format!("{} {} requests carry no reason", o.count, o.kind));
    }
    Ok(())
}

/// Checks one case: its promises and that a second run is identical.
pub fn check_case(scenario: &Scenario, case: &Case) -> Result<(), String> {
    let first = run_once(scenario, case)?;
    promises(&first)?;
    let second = run_once(scenario, case)?;
    if first != second {
        return Err("the same case ran twice gave different results".into());
    }
    Ok(())
}

/// The in-flight peak of a run: what its memory may legitimately hold.
fn in_flight_peak(result: &RunResult) -> f64 {
    result
        .series("in_flight")
        .map_or(0.0, |s| s.values.iter().copied().fold(0.0, f64::max))
        .max(result.metric("in_flight").unwrap_or(0.0))
}

/// Bytes of memory a request in flight may hold (its job, calls, queue
/// entries), generously.
const BYTES_PER_IN_FLIGHT: f64 = 2_048.0;

/// The most a run's recorder may hold whatever its length: one coarse
/// latency histogram per chart bucket, each as long as the largest
/// latency needs (a request cannot take longer than the run), plus the
/// summary histograms and fixed buffers. It fills up as a longer run
/// sees slower requests in more buckets: bounded growth, not per-request
/// storage.
fn recorder_bound(run_s: f64) -> f64 {
    let ns = (run_s * 1e9).max(2.0);
    let octaves = ns.log2().ceil() + 1.0;
    let coarse = octaves * 16.0 * 8.0; // Histogram::COARSE: 2^4 sub-buckets of u64
    let precise = octaves * 128.0 * 8.0; // Histogram::PRECISE: 2^7
    MAX_POINTS as f64 * coarse + 8.0 * precise + 512.0 * 1024.0
}

/// A leak this small per request is the least the memory check must see:
/// it only judges a case whose longer run has enough more requests for
/// such a leak to stand out above the recorder's bounded growth.
const LEAK_BYTES_PER_REQUEST: f64 = 32.0;

/// Checks that `case` run four times as long (within the scenario's
/// range) needs no more memory than the recorder's bounded buffers and
/// what it then holds in flight explain. Growth beyond that is confirmed
/// on a run four times longer again: storage kept per request grows in
/// step with the requests (about as many bytes per extra request both
/// times), while a backlog or buffer that fills up and stops (a bounded
/// queue of orphaned work, say) does not. `Ok(false)`: the case cannot
/// tell (too few requests, or no room for the longer runs).
pub fn check_memory(
    scenario: &Scenario,
    case: &Case,
    meter: &dyn HeapMeter,
) -> Result<bool, String> {
    let max = scenario.spec.duration_s.max;
    let measure = |duration_s: f64| -> Result<(f64, f64, f64), String> {
        meter.reset_peak();
        let c = Case {
            duration_s,
            ..case.clone()
        };
        let result = run_once(scenario, &c)?;
        let requests = result.metric("requests").unwrap_or(0.0);
        Ok((meter.peak() as f64, in_flight_peak(&result), requests))
    };
    let d = case.duration_s;
    let longer = (d * 4.0).min(max);
    if longer <= d * 1.5 {
        return Ok(false); // too close to the longest run to tell
    }
    let (short_bytes, short_flight, short_requests) = measure(d)?;
    let (long_bytes, long_flight, long_requests) = measure(longer)?;
    let bounded = |flight: f64, from: f64| {
        recorder_bound(longer) + BYTES_PER_IN_FLIGHT * (flight - from).max(0.0)
    };
    let allowed = bounded(long_flight, short_flight);
    let more = long_requests - short_requests;
    if more * LEAK_BYTES_PER_REQUEST < allowed {
        return Ok(false);
    }
    let growth = long_bytes - short_bytes;
    if growth <= allowed {
        return Ok(true);
    }
    // Suspect: confirm on a run four times longer again.
    let longest = (longer * 4.0).min(max);
    if longest <= longer * 1.5 {
        return Ok(false);
    }
    let (longest_bytes, longest_flight, longest_requests) = measure(longest)?;
    let per_request = growth / more.max(1.0);
    let growth_again = longest_bytes - long_bytes;
    let more_again = (longest_requests - long_requests).max(1.0);
    let steady = growth_again / more_again >= 0.5 * per_request;
    if steady && growth_again > bounded(longest_flight, long_flight) {
        return Err(format!(
            "memory grows with the duration: {short_bytes} bytes at {d} s, {long_bytes} at {longer} s, {longest_bytes} at {longest} s ({short_requests}, {long_requests} and {longest_requests} requests; {short_flight}, {long_flight} and {longest_flight} in flight at most)"
        ));
    }
    Ok(true)
}

/// Shrinks a failing `case` towards the defaults while `fails` still
/// says it fails: drops the preset, then each override, then moves
/// numbers halfway to their defaults and drops faults one at a time, and
/// tries the default duration, until nothing smaller fails.
pub fn shrink(spec: &ScenarioSpec, case: &Case, fails: &dyn Fn(&Case) -> bool) -> Case {
    let mut best = case.clone();
    for _round in 0..20 {
        let before = best.clone();
        let mut candidates: Vec<Case> = Vec::new();
        if best.preset.is_some() {
            candidates.push(Case {
                preset: None,
                ..best.clone()
            });
        }
        for i in 0..best.sets.len() {
            let mut c = best.clone();
            c.sets.remove(i);
            candidates.push(c);
        }
        if best.duration_s != spec.duration_s.default {
            candidates.push(Case {
                duration_s: spec.duration_s.default,
                ..best.clone()
            });
        }
        for (i, (key, value)) in best.sets.iter().enumerate() {
            let Some(p) = spec.param(key) else { continue };
            match p.kind {
                ParamKind::Slider => {
                    let (Ok(v), crate::spec::ParamValue::Number(d)) =
                        (value.parse::<f64>(), &p.default)
                    else {
                        continue;
                    };
                    let d = *d;
                    let half = round_to(v + (d - v) / 2.0, if p.step > 0.0 { p.step } else { 1.0 })
                        .clamp(p.min, p.max);
                    if half != v {
                        let mut c = best.clone();
                        c.sets[i].1 = number_text(half);
                        candidates.push(c);
                    }
                }
                ParamKind::Faults => {
                    let (list, _) = faults::parse_lenient(value, &p.options, p.max);
                    for drop in 0..list.len() {
                        let mut fewer = list.clone();
                        fewer.remove(drop);
                        let mut c = best.clone();
                        c.sets[i].1 = faults::format(&fewer);
                        candidates.push(c);
                    }
                }
                _ => {}
            }
        }
        if let Some(smaller) = candidates.into_iter().find(|c| fails(c)) {
            best = smaller;
        }
        if best == before {
            break;
        }
    }
    best
}

/// Case `i` of a plan seeded `seed`: its scenario (an index into the
/// list) and its values, from a stream of its own, so a case is the same
/// however many threads share the work.
pub fn nth_case(seed: u64, i: u64, scenarios: &[&Scenario]) -> (usize, Case) {
    let mut rng = RngStream::new(seed, &format!("check.{i}"));
    let pick = rng.below(scenarios.len().max(1) as u64) as usize;
    let spec = &scenarios[pick.min(scenarios.len().saturating_sub(1))].spec;
    (pick, draw(spec, &mut rng))
}

/// Runs `plan` over `scenarios` on `threads` threads (the memory checks,
/// which read one process-wide counter, and the shrinking run after, on
/// one), shrinking each failure.
pub fn run(
    plan: &Plan,
    scenarios: &[&Scenario],
    meter: Option<&dyn HeapMeter>,
    threads: usize,
) -> Report {
    let mut report = Report {
        per_scenario: scenarios.iter().map(|s| (s.spec.id.clone(), 0)).collect(),
        ..Report::default()
    };
    if scenarios.is_empty() {
        return report;
    }
    let threads = threads.max(1) as u64;
    let verdicts: Vec<(u64, usize, Case, Result<(), String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..plan.cases)
                        .step_by(threads as usize)
                        .map(|i| {
                            let (pick, case) = nth_case(plan.seed, i, scenarios);
                            let verdict = check_case(scenarios[pick], &case);
                            (i, pick, case, verdict)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|v| v.0);
        all
    });
    for (i, pick, case, mut verdict) in verdicts {
        let scenario = scenarios[pick];
        report.cases += 1;
        report.per_scenario[pick].1 += 1;
        let memory = meter.filter(|_| plan.memory_every > 0 && i % plan.memory_every == 0);
        if let (Ok(()), Some(m)) = (&verdict, memory) {
            verdict = check_memory(scenario, &case, m).map(|judged| {
                if judged {
                    report.memory_checked += 1;
                }
            });
        }
        if let Err(problem) = verdict {
            // Shrink while it fails at all: a smaller case that fails for
            // another reason is still a bug worth the shorter line.
            let fails = |c: &Case| {
                check_case(scenario, c).is_err()
                    || memory.is_some_and(|m| check_memory(scenario, c, m).is_err())
            };
            let shrunk = shrink(&scenario.spec, &case, &fails);
            let problem = check_case(scenario, &shrunk).err().unwrap_or(problem);
            report.failures.push(Found {
                problem,
                drawn: case,
                shrunk,
            });
        }
    }
    report
}
