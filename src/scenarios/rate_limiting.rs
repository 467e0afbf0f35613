//! Rate limiting: four algorithms on the same traffic.
//!
//! ```text
//!   clients ─┐ (Poisson or evenly spaced, `clients` keys)
//!            ├─> [ rate limiter, per key ] ──allowed──> [ API ] ──> response
//!   burst ───┘           │
//!   client               └──rejected (429)
//! ```
//!
//! Demonstrates the boundary burst: a fixed window lets one client spend a
//! whole limit just before a window boundary and another just after, so it
//! admits up to 2 × limit within one window length; the sliding log never
//! exceeds the limit; the sliding counter lets only a couple over it against
//! this burst, though traffic bunched at window ends can still reach
//! 2 × limit; the token bucket never exceeds its capacity plus what refills
//! in one window.
//!
//! Parameters: `algorithm` (fixed_window | sliding_log | sliding_counter |
//! token_bucket), `limit` (requests per window; also the bucket capacity),
//! `window_ms` (ms), `refill_per_s` (tokens/s), `arrival` (poisson |
//! constant), `arrival_rps` (req/s, all clients together), `clients` (keys),
//! `boundary_burst` (on: one extra client sends `limit` requests, evenly
//! spaced, in the tenth of a window just before the boundary nearest the
//! middle of the run, and `limit` more in the tenth just after it).

use crate::engine::time::{millis, secs, SimTime};
use crate::engine::{Dist, RunResult};
use crate::flow::{LimiterStage, Route, Service, Source, Stage, StageKind, Step, Topology};
use crate::parts::{Algorithm, RateShape};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Mean time the API takes to answer an admitted request, seconds.
const API_MEAN_S: f64 = 0.020;

/// The burst is squeezed into this fraction of a window on each side of the
/// boundary, so all of it falls inside one window length.
const BURST_SPAN: f64 = 0.1;

crate::choices!(Algorithm {
    Algorithm::FixedWindow = "fixed_window",
    Algorithm::SlidingLog = "sliding_log",
    Algorithm::SlidingCounter = "sliding_counter",
    Algorithm::TokenBucket = "token_bucket",
});

/// How requests arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    Poisson,
    Constant,
}

crate::choices!(Arrival {
    Arrival::Poisson = "poisson",
    Arrival::Constant = "constant",
});

/// The parameters, read once.
struct Knobs {
    algorithm: Algorithm,
    limit: u64,
    window: SimTime,
    refill: f64,
    poisson: bool,
    rps: f64,
    clients: u64,
    burst: bool,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        Ok(Self {
            algorithm: p.pick("algorithm")?,
            limit: p.count("limit")?,
            window: millis(p.number("window_ms")?),
            refill: p.number("refill_per_s")?,
            poisson: p.pick::<Arrival>("arrival")? == Arrival::Poisson,
            rps: p.number("arrival_rps")?,
            clients: p.count("clients")?.max(1),
            burst: p.flag("boundary_burst")?,
        })
    }
}

/// Stage indices, in the order [`topology`] builds them.
const LIMITER: usize = 0;
const API: usize = 1;

fn topology(k: &Knobs, end: SimTime) -> Topology {
    let mut sources = vec![Source::Open {
        shape: RateShape::Flat(k.rps),
        poisson: k.poisson,
        routes: vec![(0, 1.0)],
        objects: None,
        clients: k.clients,
    }];
    // The burst client is an extra key, `clients`, with no other traffic,
    // so its quota is untouched when the burst starts.
    if k.burst && k.limit > 0 {
        let boundary = burst_boundary(k.window, end);
        let span = ((k.window as f64 * BURST_SPAN) as SimTime).max(1);
        let gap = span / k.limit;
        let times = (0..k.limit)
            .flat_map(|i| [boundary.saturating_sub(span) + i * gap, boundary + i * gap])
            .collect();
        sources.push(Source::Scheduled {
            times,
            route: 0,
            client: k.clients as u32,
        });
    }
    Topology {
        stages: vec![
            Stage {
                name: "limiter".into(),
                kind: StageKind::Limiter(LimiterStage {
                    algorithm: k.algorithm,
                    limit: k.limit,
                    window: k.window,
                    refill_per_s: k.refill,
                    next: API,
                }),
            },
            Stage {
                name: "api".into(),
                // The API answers every admitted request in its own time:
                // it is not the bottleneck here.
                kind: StageKind::Service(Service::new(
                    u32::MAX,
                    0,
                    true,
                    vec![Step::Work(Dist::exponential(API_MEAN_S))],
                )),
            },
        ],
        routes: vec![Route::new("requests", LIMITER)],
        sources,
        faults: vec![],
    }
}

/// The topology `p` describes, for a run of the default length (for
/// checks that its stages are the diagram's nodes).
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(topology(&Knobs::read(p)?, 20 * crate::engine::time::SECOND))
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let k = Knobs::read(p)?;
    let end = secs(cfg.duration_s);
    let topo = topology(&k, end);
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.run();
    let (allowed, burst_allowed) = sim.admitted(LIMITER, k.clients as u32);
    let own = vec![
        ("allowed", allowed as f64),
        ("max_in_any_window", sim.admitted_peak(LIMITER) as f64),
        (
            "burst_allowed",
            if k.burst { burst_allowed as f64 } else { 0.0 },
        ),
    ];
    Ok(sim.finish(own))
}

/// The window boundary nearest the middle of the run (at least one window in,
/// so the burst's first half has a window of its own).
fn burst_boundary(window: SimTime, end: SimTime) -> SimTime {
    let middle = end / 2;
    let k = ((middle + window / 2) / window).max(1);
    k * window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_sits_on_a_window_edge_near_the_middle() {
        let s = crate::engine::time::SECOND;
        assert_eq!(burst_boundary(s, 20 * s), 10 * s);
        assert_eq!(burst_boundary(60 * s, 20 * s), 60 * s);
        assert_eq!(burst_boundary(3 * s, 20 * s), 9 * s);
    }
}
