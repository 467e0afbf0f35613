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
use crate::engine::{Dist, EventQueue, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::{Algorithm, Arrivals, KeyChooser, RateLimiter, RateShape, WindowPeak};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Mean time the API takes to answer an admitted request, seconds.
const API_MEAN_S: f64 = 0.020;

/// The burst is squeezed into this fraction of a window on each side of the
/// boundary, so all of it falls inside one window length.
const BURST_SPAN: f64 = 0.1;

enum Ev {
    /// The next request from the regular clients.
    Arrival,
    /// A request from the burst client.
    Burst,
    /// An admitted request is answered; holds its arrival time.
    Done(SimTime),
}

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

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let algorithm: Algorithm = p.pick("algorithm")?;
    let limit = p.count("limit")?;
    let window = millis(p.number("window_ms")?);
    let refill = p.number("refill_per_s")?;
    let poisson = p.pick::<Arrival>("arrival")? == Arrival::Poisson;
    let rps = p.number("arrival_rps")?;
    let clients = p.count("clients")?.max(1);
    let burst = p.flag("boundary_burst")?;
    let end = secs(cfg.duration_s);

    let mut limiter = RateLimiter::new(algorithm, limit, window, refill);
    let mut peak = WindowPeak::new(window);
    let mut arrivals = Arrivals::new(RateShape::Flat(rps), poisson, cfg.seed, "arrivals");
    let mut keys = KeyChooser::uniform(clients, cfg.seed, "keys");
    let mut api_rng = RngStream::new(cfg.seed, "api");
    let api_time = Dist::exponential(API_MEAN_S);

    let mut rec = Recorder::new(end);
    let allowed_series = rec.series("allowed_rps", SeriesKind::Rate);
    let rejected_series = rec.series("rejected_rps", SeriesKind::Rate);
    let window_series = rec.series("window_count", SeriesKind::Gauge);

    let mut q = EventQueue::new();
    if let Some(t) = arrivals.next_after(0) {
        q.schedule(t, Ev::Arrival);
    }
    // The burst client is an extra key, `clients`, with no other traffic, so
    // its quota is untouched when the burst starts.
    let burst_key = clients as usize;
    if burst && limit > 0 {
        let boundary = burst_boundary(window, end);
        let span = ((window as f64 * BURST_SPAN) as SimTime).max(1);
        let gap = span / limit;
        for i in 0..limit {
            q.schedule(boundary.saturating_sub(span) + i * gap, Ev::Burst);
            q.schedule(boundary + i * gap, Ev::Burst);
        }
    }

    let mut allowed = 0u64;
    // The burst client's own admissions: what the lesson's per-algorithm
    // numbers are about (the window peak mixes in the regular clients).
    let mut burst_allowed = 0u64;
    while let Some((now, ev)) = q.pop_until(end) {
        let key = match ev {
            Ev::Done(arrived) => {
                rec.complete(now, now - arrived);
                continue;
            }
            Ev::Arrival => {
                if let Some(t) = arrivals.next_after(now) {
                    q.schedule(t, Ev::Arrival);
                }
                keys.next_key() as usize
            }
            Ev::Burst => burst_key,
        };
        rec.arrival(now);
        if limiter.allow(key, now) {
            allowed += 1;
            if burst && key == burst_key {
                burst_allowed += 1;
            }
            peak.admitted(key, now);
            rec.count(allowed_series, now, 1.0);
            rec.gauge(window_series, now, peak.current(key) as f64);
            q.schedule(now + secs(api_time.sample(&mut api_rng)), Ev::Done(now));
        } else {
            rec.count(rejected_series, now, 1.0);
            rec.reject(now, "rate_limited");
        }
    }

    let events = q.processed();
    Ok(rec.finish(
        events,
        vec![
            ("allowed", allowed as f64),
            ("max_in_any_window", peak.peak() as f64),
            ("burst_allowed", burst_allowed as f64),
        ],
    ))
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
