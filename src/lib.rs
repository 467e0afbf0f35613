//! Prodsim: deterministic simulations of backend production scenarios.
//!
//! * [`engine`]: the discrete-event core (time, queue, random streams, metrics).
//! * [`parts`]: reusable simulated components (load, servers, databases, limiters).
//! * [`scenarios`]: one model per scenario and the registry that lists them.
//! * [`spec`]: the scenario data-file format, parameter validation and URL codec.
//! * `check`: the simulation checker (random cases, shrunk replays).
//! * `replicate`: independent replications with confidence intervals.

/// The build stamp (see build.rs): the site's data directory is
/// `data/<STAMP>/`, and its scripts are asked for with `?v=<STAMP>`.
pub const STAMP: &str = env!("PRODSIM_STAMP");

pub mod bench;
#[cfg(feature = "sim")]
pub mod check;
pub mod draw;
pub mod engine;
pub mod flow;
pub mod parts;
pub mod present;
pub mod protocol;
#[cfg(feature = "sim")]
pub mod replicate;
pub mod scenarios;
pub mod spec;
#[cfg(target_arch = "wasm32")]
pub mod ui;
