//! Helpers shared by the lesson tests.

#![allow(dead_code)]

use prodsim::engine::RunResult;
use prodsim::scenarios::find;
use prodsim::spec::RunConfig;

/// Runs scenario `id` from `preset` (if any) with `key=value` overrides.
pub fn run(
    id: &str,
    preset: Option<&str>,
    sets: &[(&str, &str)],
    seed: u64,
    duration_s: f64,
) -> RunResult {
    let scenario = find(id).unwrap_or_else(|e| panic!("{e}"));
    scenario
        .run(&params(id, preset, sets), &RunConfig { seed, duration_s })
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Scenario `id`'s parameters from `preset` (if any) with `key=value`
/// overrides.
pub fn params(id: &str, preset: Option<&str>, sets: &[(&str, &str)]) -> prodsim::spec::Params {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    find(id)
        .unwrap_or_else(|e| panic!("{e}"))
        .spec
        .resolve(preset, &sets)
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// The metric `key`, or a panic naming it.
pub fn metric(out: &RunResult, key: &str) -> f64 {
    out.metric(key).unwrap_or_else(|| panic!("no metric {key}"))
}

/// Requests that ended (failed or rejected) for `reason`.
pub fn outcome(out: &RunResult, reason: &str) -> u64 {
    out.outcomes
        .iter()
        .filter(|o| o.reason == reason)
        .map(|o| o.count)
        .sum()
}

/// The values of series `key`, or a panic naming it.
pub fn series<'a>(out: &'a RunResult, key: &str) -> &'a [f64] {
    &out.series(key)
        .unwrap_or_else(|| panic!("no series {key}"))
        .values
}

/// Marks the enclosing test as the check of lesson claim `id`
/// (`"<scenario>/<claim id>"`, or `"<scenario>/predict"` for the
/// predict-then-run answer): the test runs what the sentence describes and
/// asserts what it says. `tests/registry.rs` fails while any claim of any
/// lesson has no such test, or a test names a claim that no longer exists.
pub fn claim(_id: &str) {}

/// The value series `key` charts at `t_s` simulated seconds (the last value
/// carried on past the end of the series, as the charts draw it).
#[allow(dead_code)]
pub fn series_at(out: &RunResult, key: &str, t_s: f64) -> f64 {
    out.series(key)
        .and_then(|s| prodsim::present::value_at(s, out.bucket_s, t_s))
        .unwrap_or_else(|| panic!("no series {key}"))
}

/// Runs scenario `id`'s predict-then-run question: its `from` preset with
/// its `set` changes.
pub fn run_predict(id: &str, seed: u64, duration_s: f64) -> RunResult {
    let scenario = find(id).unwrap_or_else(|e| panic!("{e}"));
    let params = scenario
        .spec
        .lesson
        .predict
        .params(&scenario.spec)
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    run_params(scenario, &params, seed, duration_s)
}

/// Runs scenario `scenario` with already-resolved `params` (a preset plus
/// changes, or `spec.lesson.predict.params`), for `seed` and `duration_s`.
pub fn run_params(
    scenario: &prodsim::scenarios::Scenario,
    params: &prodsim::spec::Params,
    seed: u64,
    duration_s: f64,
) -> RunResult {
    scenario
        .run(params, &RunConfig { seed, duration_s })
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.spec.id))
}
