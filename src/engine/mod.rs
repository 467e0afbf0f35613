//! The deterministic discrete-event core.
//!
//! Everything a scenario model needs to run a simulation and nothing about how it
//! is shown: integer time, an event queue with stable tie-breaking, seeded random
//! streams, distributions and streaming metrics. This module must never import
//! the UI or browser-binding crates: it is built and tested natively.

pub mod dist;
pub mod metrics;
pub mod progress;
pub mod queue;
pub mod rng;
pub mod time;

pub use dist::Dist;
pub use metrics::{Histogram, Recorder, RunResult, SeriesKind};
pub use queue::EventQueue;
pub use rng::RngStream;
pub use time::SimTime;
