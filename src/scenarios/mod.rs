//! Scenario models and the one registry that lists them.
//!
//! A scenario is a data file (`scenarios/<id>.toml`: everything shown) plus
//! a model (`src/scenarios/<id>.rs`: behaviour only). Adding one is one line
//! in [`REGISTRY`]; the registry-wide tests then check it like every other.

pub mod bulk_export;
pub mod bulk_upload;
pub mod caching;
pub mod cascading_failures;
pub mod connection_pool;
pub mod db_crash_at_peak;
pub mod db_suddenly_slow;
pub mod large_datasets;
pub mod memory_leaks;
pub mod million_users;
pub mod rate_limiting;
pub mod third_party_rate_limits;
pub mod viral_spike;

use crate::engine::RunResult;
use crate::spec::{Lesson, Params, RunConfig, ScenarioSpec, SpecError};
use std::sync::OnceLock;

/// A model: simulates one run with the given parameters.
/// It gets its data file too, for what the file lists (the series to keep).
pub type ModelFn = fn(&ScenarioSpec, &Params, &RunConfig) -> Result<RunResult, SpecError>;

/// One registered scenario: its data file and its model.
///
/// The data files are embedded (feature `embedded-data`, on by default: the
/// CLI, the tests) or, in the site, fetched when a page needs one: twenty
/// scenarios of lesson text would not fit the download budget. The
/// catalogue card (title, part, summary, tags) is always embedded.
pub struct Entry {
    /// The scenario's id, its data file's name.
    pub id: &'static str,
    /// The catalogue card, as JSON made by build.rs.
    pub card: &'static str,
    /// The data file, converted from TOML to JSON by build.rs.
    #[cfg(feature = "embedded-data")]
    pub data: &'static str,
    /// The model.
    pub model: ModelFn,
    /// For models on the request-flow layer: the topology they run, whose
    /// stages are the diagram's nodes (checked for every scenario).
    #[cfg(feature = "sim")]
    pub topology: Option<TopologyFn>,
}

/// One registry line: the data file `scenarios/<file>.toml` and its model
/// (`flow` after the model: it runs on the request-flow layer and exposes
/// `topology_for`).
macro_rules! entry {
    ($file:literal, $model:ident) => {
        Entry {
            id: $file,
            card: include_str!(concat!(env!("OUT_DIR"), "/", $file, ".card.json")),
            #[cfg(feature = "embedded-data")]
            data: include_str!(concat!(env!("OUT_DIR"), "/", $file, ".json")),
            #[cfg(feature = "sim")]
            model: $model::run,
            #[cfg(not(feature = "sim"))]
            model: no_model,
            #[cfg(feature = "sim")]
            topology: None,
        }
    };
    ($file:literal, $model:ident, flow) => {
        Entry {
            #[cfg(feature = "sim")]
            topology: Some($model::topology_for),
            ..entry!($file, $model)
        }
    };
}

/// The backoff options the flow scenarios offer (a data file's `backoff`
/// select): the flow layer's [`Backoff`](crate::flow::retry::Backoff)
/// kinds, constant wait aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackoffOption {
    /// Retry at once.
    None,
    /// Exponential, no jitter.
    Exponential,
    /// Exponential with full jitter.
    FullJitter,
    /// Exponential with equal jitter.
    EqualJitter,
    /// Decorrelated jitter.
    DecorrelatedJitter,
}

crate::choices!(BackoffOption {
    BackoffOption::None = "none",
    BackoffOption::Exponential = "exponential",
    BackoffOption::FullJitter = "full_jitter",
    BackoffOption::EqualJitter = "equal_jitter",
    BackoffOption::DecorrelatedJitter = "decorrelated_jitter",
});

impl BackoffOption {
    /// The flow layer's formula.
    pub fn kind(self) -> crate::flow::retry::Backoff {
        use crate::flow::retry::Backoff;
        match self {
            BackoffOption::None => Backoff::None,
            BackoffOption::Exponential => Backoff::Exponential,
            BackoffOption::FullJitter => Backoff::FullJitter,
            BackoffOption::EqualJitter => Backoff::EqualJitter,
            BackoffOption::DecorrelatedJitter => Backoff::DecorrelatedJitter,
        }
    }
}

/// A run of flow scenario `spec`'s topology `topo`, keeping the series its
/// data file lists.
pub fn new_sim<'t>(
    spec: &ScenarioSpec,
    topo: &'t crate::flow::Topology,
    cfg: &RunConfig,
) -> Result<crate::flow::Sim<'t>, SpecError> {
    let keys: Vec<&str> = spec.series.iter().map(|s| s.key.as_str()).collect();
    let end = crate::engine::time::secs(cfg.duration_s);
    crate::flow::Sim::new(topo, cfg.seed, end, &keys).map_err(SpecError::Invalid)
}

/// A flow scenario's `faults` parameter (a schedule, [`crate::spec::faults`])
/// as faults on `topo`'s stages, added to the ones the topology already
/// has. `users` (or any stage) carries traffic faults, which change the
/// sources' rate whatever their target.
fn add_scheduled_faults(p: &Params, topo: &mut crate::flow::Topology) -> Result<(), SpecError> {
    use crate::flow::{Fault, FaultKind};
    use crate::spec::faults::{self, FaultSpecKind};
    let text = p.choice("faults")?;
    let mut stages: Vec<String> = topo.stages.iter().map(|s| s.name.clone()).collect();
    stages.push("users".into());
    // The text was checked against the data file's options already (a
    // model only sees valid values); read it as the spec did.
    let (schedule, _) = faults::parse_lenient(text, &stages, f64::MAX);
    for f in schedule {
        let target = topo.stage_id(&f.stage).unwrap_or(0);
        let kind = match f.kind {
            FaultSpecKind::Down => FaultKind::Down,
            FaultSpecKind::Slow(x) => FaultKind::Slow(x),
            FaultSpecKind::Errors(pct) => FaultKind::Errors(pct / 100.0),
            FaultSpecKind::Traffic(x) => FaultKind::Traffic(x),
        };
        topo.faults.push(Fault {
            start: crate::engine::time::secs(f.start_s),
            duration: crate::engine::time::secs(f.duration_s),
            target,
            kind,
        });
    }
    Ok(())
}

/// A flow scenario's parameters read once (`read`) and the topology they
/// describe (`build`), with the `faults` parameter's schedule added: what
/// both `topology_for` and `run` of every flow scenario start from.
pub fn flow_topology<K>(
    p: &Params,
    read: fn(&Params) -> Result<K, SpecError>,
    build: fn(&K) -> crate::flow::Topology,
) -> Result<(K, crate::flow::Topology), SpecError> {
    let knobs = read(p)?;
    let mut topo = build(&knobs);
    add_scheduled_faults(p, &mut topo)?;
    Ok((knobs, topo))
}

/// The topology a flow scenario builds from its parameters.
#[cfg(feature = "sim")]
pub type TopologyFn = fn(&Params) -> Result<crate::flow::Topology, SpecError>;

/// The page's stand-in for every model: the site's page carries no model
/// code (its runs happen in the simulation worker), and nothing there ever
/// calls this.
#[cfg(not(feature = "sim"))]
fn no_model(_: &ScenarioSpec, _: &Params, _: &RunConfig) -> Result<RunResult, SpecError> {
    Err(SpecError::Invalid(
        "this build has no simulator; runs happen in the simulation worker".into(),
    ))
}

/// What the catalogue shows of a scenario, without loading its data file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Card {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Part of the notes.
    pub part: String,
    /// One-line summary.
    pub summary: String,
    /// Words the topic finder matches.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Every scenario, in catalogue order (the order of the notes).
pub const REGISTRY: &[Entry] = &[
    entry!("large-datasets", large_datasets),
    entry!("bulk-upload", bulk_upload),
    entry!("bulk-export", bulk_export),
    entry!("memory-leaks", memory_leaks),
    entry!("rate-limiting", rate_limiting, flow),
    entry!("connection-pool", connection_pool, flow),
    entry!("caching", caching, flow),
    entry!("million-users", million_users, flow),
    entry!("db-crash-at-peak", db_crash_at_peak, flow),
    entry!("cascading-failures", cascading_failures, flow),
    entry!("viral-spike", viral_spike, flow),
    entry!("db-suddenly-slow", db_suddenly_slow, flow),
    entry!("third-party-rate-limits", third_party_rate_limits, flow),
];

/// A registered scenario with its parsed data file.
pub struct Scenario {
    /// The parsed data file.
    pub spec: ScenarioSpec,
    /// The model.
    pub model: ModelFn,
}

impl Scenario {
    /// Runs the model after checking every parameter against the spec, so a
    /// model only ever sees valid values.
    pub fn run(&self, params: &Params, config: &RunConfig) -> Result<RunResult, SpecError> {
        for p in &self.spec.params {
            match params.get(&p.key) {
                Some(v) => p.check(v)?,
                None => {
                    return Err(SpecError::Invalid(format!("missing parameter '{}'", p.key)));
                }
            }
        }
        self.spec.check_duration(config.duration_s)?;
        (self.model)(&self.spec, params, config)
    }
}

/// The run used for cross-platform golden checks: exactly what the page
/// first shows (defaults, default duration, seed 42). Every default run
/// takes milliseconds, since the page redraws it within a frame.
pub fn golden_config(spec: &ScenarioSpec) -> RunConfig {
    RunConfig {
        seed: crate::spec::DEFAULT_SEED,
        duration_s: spec.duration_s.default,
    }
}

/// Scenario `s`'s first run as the site shows it before its simulator has
/// loaded: the default run (what the page opens on, [`golden_config`]),
/// with chart points rounded to 5 significant digits (the page shows at
/// most 4) so the file stays small. The page replaces it with the exact
/// run as soon as the simulator answers.
#[cfg(feature = "sim")]
pub fn first_run(s: &Scenario) -> Result<RunResult, SpecError> {
    let mut out = s.run(&s.spec.defaults(), &golden_config(&s.spec))?;
    for series in &mut out.series {
        for v in &mut series.values {
            *v = round_significant(*v, 5);
        }
    }
    Ok(out)
}

/// `v` rounded to `digits` significant digits (0 stays 0).
pub fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let magnitude = libm::floor(libm::log10(v.abs())) as i32;
    let scale = libm::pow(10.0, f64::from(digits - 1 - magnitude));
    libm::round(v * scale) / scale
}

/// A run's summary as JSON text: the golden files' format, identical
/// natively and in wasm when the simulation is.
pub fn summary_json(result: &RunResult) -> serde_json::Value {
    let metrics: serde_json::Map<String, serde_json::Value> = result
        .metrics
        .iter()
        .map(|m| (m.key.clone(), serde_json::json!(m.value)))
        .collect();
    serde_json::json!({ "events": result.events, "metrics": metrics })
}

/// Every scenario's catalogue card, in registry order.
pub fn cards() -> Result<&'static [Card], SpecError> {
    static PARSED: OnceLock<Result<Vec<Card>, SpecError>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            REGISTRY
                .iter()
                .map(|e| {
                    crate::spec::parse_json_value::<Card>(e.card)
                        .map_err(|err| SpecError::Invalid(format!("{}: card: {err}", e.id)))
                })
                .collect()
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// The parsed registry (parsed once, then shared).
#[cfg(feature = "embedded-data")]
pub fn catalogue() -> Result<&'static [Scenario], SpecError> {
    static PARSED: OnceLock<Result<Vec<Scenario>, SpecError>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            REGISTRY
                .iter()
                .map(|e| {
                    Ok(Scenario {
                        spec: ScenarioSpec::from_json(e.data)?,
                        model: e.model,
                    })
                })
                .collect()
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

fn unknown(id: &str) -> SpecError {
    SpecError::UnknownScenario {
        id: id.to_string(),
        valid: REGISTRY.iter().map(|e| e.id.to_string()).collect(),
    }
}

/// The scenario called `id`.
#[cfg(feature = "embedded-data")]
pub fn find(id: &str) -> Result<&'static Scenario, SpecError> {
    catalogue()?
        .iter()
        .find(|s| s.spec.id == id)
        .ok_or_else(|| unknown(id))
}

/// The scenario called `id`, once its data file is [`install`]ed.
#[cfg(not(feature = "embedded-data"))]
pub fn find(id: &str) -> Result<&'static Scenario, SpecError> {
    if !REGISTRY.iter().any(|e| e.id == id) {
        return Err(unknown(id));
    }
    INSTALLED
        .with(|all| all.borrow().iter().copied().find(|s| s.spec.id == id))
        .ok_or_else(|| SpecError::Invalid(format!("the data of scenario '{id}' is not loaded yet")))
}

#[cfg(not(feature = "embedded-data"))]
thread_local! {
    /// Data files fetched so far (a page or a worker holds one or two; each
    /// lives for the rest of the page, hence leaked to `'static`).
    static INSTALLED: std::cell::RefCell<Vec<&'static Scenario>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Scenario `id`'s lesson, when it is at hand: always with embedded data;
/// on the site once [`install_lesson`] has stored the fetched file.
#[cfg(feature = "embedded-data")]
pub fn lesson(id: &str) -> Option<&'static Lesson> {
    find(id).ok().map(|s| &s.spec.lesson)
}

/// Scenario `id`'s lesson, when it is at hand: always with embedded data;
/// on the site once [`install_lesson`] has stored the fetched file.
#[cfg(not(feature = "embedded-data"))]
pub fn lesson(id: &str) -> Option<&'static Lesson> {
    LESSONS.with(|all| {
        all.borrow()
            .iter()
            .find(|(key, _)| *key == id)
            .map(|&(_, l)| l)
    })
}

#[cfg(not(feature = "embedded-data"))]
thread_local! {
    /// Lesson files fetched so far, by scenario id (leaked like the data).
    static LESSONS: std::cell::RefCell<Vec<(&'static str, &'static Lesson)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Parses the fetched lesson file `json` of scenario `id` (the data file's
/// `lesson` table, written apart by `scripts/export-data.py`) and stores it.
#[cfg(not(feature = "embedded-data"))]
pub fn install_lesson(id: &str, json: &str) -> Result<&'static Lesson, SpecError> {
    if let Some(l) = lesson(id) {
        return Ok(l);
    }
    let entry = REGISTRY
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| unknown(id))?;
    let parsed: Lesson = crate::spec::parse_json_value(json)
        .map_err(|e| SpecError::Invalid(format!("{id}: lesson: {e}")))?;
    let l: &'static Lesson = Box::leak(Box::new(parsed));
    LESSONS.with(|all| all.borrow_mut().push((entry.id, l)));
    Ok(l)
}

/// Whether `id`'s data is at hand (always, with embedded data).
pub fn is_loaded(id: &str) -> bool {
    find(id).is_ok()
}

/// Parses the fetched data file `json` of scenario `id` and registers it.
/// The file must be the one the registry names, for a registered model.
#[cfg(not(feature = "embedded-data"))]
pub fn install(id: &str, json: &str) -> Result<&'static Scenario, SpecError> {
    if let Ok(s) = find(id) {
        return Ok(s);
    }
    let entry = REGISTRY
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| unknown(id))?;
    let spec = ScenarioSpec::from_json(json)?;
    if spec.id != id {
        return Err(SpecError::Invalid(format!(
            "data file for '{id}' describes '{}'",
            spec.id
        )));
    }
    let scenario: &'static Scenario = Box::leak(Box::new(Scenario {
        spec,
        model: entry.model,
    }));
    INSTALLED.with(|all| all.borrow_mut().push(scenario));
    Ok(scenario)
}
