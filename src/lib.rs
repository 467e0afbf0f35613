//! Prodsim: deterministic simulations of backend production scenarios.
//!
//! * [`engine`]: the discrete-event core (time, queue, random streams, metrics).
//! * [`parts`]: reusable simulated components (load, servers, databases, limiters).
//! * [`scenarios`]: one model per scenario and the registry that lists them.
//! * [`spec`]: the scenario data-file format, parameter validation and URL codec.

pub mod bench;
pub mod engine;
pub mod parts;
pub mod scenarios;
pub mod spec;
