//! Scenario models and the one registry that lists them.
//!
//! A scenario is a data file (`scenarios/<id>.toml`: everything shown) plus
//! a model (`src/scenarios/<id>.rs`: behaviour only). Adding one is one line
//! in [`REGISTRY`]; the registry-wide tests then check it like every other.

pub mod bulk_export;
pub mod bulk_upload;
pub mod connection_pool;
pub mod large_datasets;
pub mod memory_leaks;
pub mod rate_limiting;

use crate::engine::RunResult;
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};
use std::sync::OnceLock;

/// A model: simulates one run with the given parameters.
pub type ModelFn = fn(&Params, &RunConfig) -> Result<RunResult, SpecError>;

/// One registered scenario: its data file and its model.
pub struct Entry {
    /// The data file, converted from TOML to JSON by build.rs and embedded.
    pub data: &'static str,
    /// The model.
    pub model: ModelFn,
}

/// One registry line: the data file `scenarios/<file>.toml` and its model.
macro_rules! entry {
    ($file:literal, $model:ident) => {
        Entry {
            data: include_str!(concat!(env!("OUT_DIR"), "/", $file, ".json")),
            model: $model::run,
        }
    };
}

/// Every scenario, in catalogue order (the order of the notes).
pub const REGISTRY: &[Entry] = &[
    entry!("large-datasets", large_datasets),
    entry!("bulk-upload", bulk_upload),
    entry!("bulk-export", bulk_export),
    entry!("memory-leaks", memory_leaks),
    entry!("rate-limiting", rate_limiting),
    entry!("connection-pool", connection_pool),
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
        (self.model)(params, config)
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

/// The parsed registry (parsed once, then shared).
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

/// The scenario called `id`.
pub fn find(id: &str) -> Result<&'static Scenario, SpecError> {
    let all = catalogue()?;
    all.iter()
        .find(|s| s.spec.id == id)
        .ok_or_else(|| SpecError::UnknownScenario {
            id: id.to_string(),
            valid: all.iter().map(|s| s.spec.id.clone()).collect(),
        })
}
