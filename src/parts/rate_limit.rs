//! Rate limiters, one state per client key.
//!
//! Each limiter answers one question: may the request from `key` at simulated
//! time `now` pass? Times must not go backwards for a key. All four keep a
//! window of `window` nanoseconds and a `limit` per window:
//!
//! * **Fixed window**: a counter per calendar window (`now / window`). Cheap,
//!   but a client can spend a whole limit at the end of one window and
//!   another at the start of the next: up to 2 × limit in one window length.
//! * **Sliding log**: remembers the time of every admitted request and counts
//!   those in `(now − window, now]`. Exact, but memory grows with the limit.
//! * **Sliding counter**: two fixed-window counters, the previous one weighted
//!   by how much of it still overlaps the sliding window. Cheap, and close to
//!   exact when requests are spread evenly; each calendar window still admits
//!   at most `limit`, so requests bunched at the end of one window and near
//!   the end of the next can reach 2 × limit in one window length.
//! * **Token bucket**: `limit` tokens of capacity refilled at `refill_per_s`;
//!   allows bursts of up to the capacity, then the refill rate, so one window
//!   holds at most capacity + refill × window. Implemented as
//!   the equivalent GCRA ("theoretical arrival time") in integer nanoseconds,
//!   so it has no floating-point drift.

use crate::engine::time::SECOND;
use crate::engine::SimTime;
use std::collections::VecDeque;

/// Which algorithm a [`RateLimiter`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Counter per calendar window.
    FixedWindow,
    /// Timestamp log over a sliding window.
    SlidingLog,
    /// Weighted pair of window counters.
    SlidingCounter,
    /// Token bucket (as GCRA).
    TokenBucket,
}

impl Algorithm {
    /// Parses the scenario-file name (`fixed_window`, `sliding_log`,
    /// `sliding_counter`, `token_bucket`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fixed_window" => Some(Self::FixedWindow),
            "sliding_log" => Some(Self::SlidingLog),
            "sliding_counter" => Some(Self::SlidingCounter),
            "token_bucket" => Some(Self::TokenBucket),
            _ => None,
        }
    }
}

#[derive(Clone, Default)]
struct KeyState {
    /// Fixed window and sliding counter: index of the current window.
    window_index: u64,
    /// Admitted in the current window.
    current: u64,
    /// Admitted in the window before (sliding counter).
    previous: u64,
    /// Sliding log: admitted times within the last window.
    log: VecDeque<SimTime>,
    /// Token bucket: theoretical arrival time of the next conforming request.
    tat: SimTime,
}

/// A per-key rate limiter.
pub struct RateLimiter {
    algorithm: Algorithm,
    limit: u64,
    window: SimTime,
    /// Token bucket: nanoseconds to earn one token.
    emission: SimTime,
    keys: Vec<KeyState>,
}

impl RateLimiter {
    /// A limiter admitting `limit` per `window`. For the token bucket,
    /// `limit` is the capacity and `refill_per_s` the refill rate; the other
    /// algorithms ignore `refill_per_s`.
    pub fn new(algorithm: Algorithm, limit: u64, window: SimTime, refill_per_s: f64) -> Self {
        let emission = if refill_per_s > 0.0 {
            ((SECOND as f64 / refill_per_s).round() as SimTime).max(1)
        } else {
            SimTime::MAX
        };
        Self {
            algorithm,
            limit,
            window: window.max(1),
            emission,
            keys: Vec::new(),
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// May the request from `key` at `now` pass? Admitting it consumes quota.
    pub fn allow(&mut self, key: usize, now: SimTime) -> bool {
        if key >= self.keys.len() {
            self.keys.resize_with(key + 1, KeyState::default);
        }
        let (limit, window, emission) = (self.limit, self.window, self.emission);
        let Some(state) = self.keys.get_mut(key) else {
            return false;
        };
        match self.algorithm {
            Algorithm::FixedWindow => {
                let idx = now / window;
                if idx != state.window_index {
                    state.window_index = idx;
                    state.current = 0;
                }
                admit_if(&mut state.current, limit)
            }
            Algorithm::SlidingLog => {
                while state.log.front().is_some_and(|&t| t + window <= now) {
                    state.log.pop_front();
                }
                let ok = (state.log.len() as u64) < limit;
                if ok {
                    state.log.push_back(now);
                }
                ok
            }
            Algorithm::SlidingCounter => {
                let idx = now / window;
                if idx != state.window_index {
                    state.previous = if idx == state.window_index + 1 {
                        state.current
                    } else {
                        0
                    };
                    state.current = 0;
                    state.window_index = idx;
                }
                // Share of the previous window still inside (now − window, now].
                let into = now - idx * window;
                let overlap = (window - into) as f64 / window as f64;
                let estimate = state.previous as f64 * overlap + state.current as f64;
                let ok = estimate < limit as f64;
                if ok {
                    state.current += 1;
                }
                ok
            }
            Algorithm::TokenBucket => {
                // GCRA: conforming if the bucket would not overflow, i.e. the
                // theoretical arrival time is at most (capacity − 1) emission
                // intervals ahead of now.
                if limit == 0 {
                    return false;
                }
                let tolerance = emission.saturating_mul(limit - 1);
                let tat = state.tat.max(now);
                if tat - now <= tolerance {
                    state.tat = tat.saturating_add(emission);
                    true
                } else {
                    false
                }
            }
        }
    }
}

fn admit_if(count: &mut u64, limit: u64) -> bool {
    if *count < limit {
        *count += 1;
        true
    } else {
        false
    }
}

/// Tracks, per key, the most admissions within any interval
/// `(t − window, t]`: the number a limiter promises to bound.
pub struct WindowPeak {
    window: SimTime,
    recent: Vec<VecDeque<SimTime>>,
    peak: u64,
    peak_key: usize,
}

impl WindowPeak {
    /// A tracker for intervals of length `window`.
    pub fn new(window: SimTime) -> Self {
        Self {
            window: window.max(1),
            recent: Vec::new(),
            peak: 0,
            peak_key: 0,
        }
    }

    /// Records an admission for `key` at `now` (times non-decreasing per key).
    pub fn admitted(&mut self, key: usize, now: SimTime) {
        if key >= self.recent.len() {
            self.recent.resize_with(key + 1, VecDeque::new);
        }
        let Some(q) = self.recent.get_mut(key) else {
            return;
        };
        while q.front().is_some_and(|&t| t + self.window <= now) {
            q.pop_front();
        }
        q.push_back(now);
        let n = q.len() as u64;
        if n > self.peak {
            self.peak = n;
            self.peak_key = key;
        }
    }

    /// The most admissions seen for one key within one window length.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Admissions for `key` within the window ending at the last admission.
    pub fn current(&self, key: usize) -> u64 {
        self.recent.get(key).map_or(0, |q| q.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::MILLISECOND as MS;

    fn burst(l: &mut RateLimiter, at: SimTime, n: usize) -> usize {
        (0..n).filter(|_| l.allow(0, at)).count()
    }

    #[test]
    fn full_token_bucket_admits_capacity_then_one_per_refill_interval() {
        // Capacity B = 100, refill 10/s: a simultaneous burst of 150 gets
        // exactly 100 through; the next token exists 1/rate = 100 ms later.
        let mut l = RateLimiter::new(Algorithm::TokenBucket, 100, SECOND, 10.0);
        assert_eq!(burst(&mut l, 0, 150), 100);
        assert!(!l.allow(0, 100 * MS - 1));
        assert!(l.allow(0, 100 * MS));
        assert!(!l.allow(0, 100 * MS));
        assert!(l.allow(0, 200 * MS));
        // After a long idle period the bucket is full again, never fuller.
        assert_eq!(burst(&mut l, 3_600 * SECOND, 500), 100);
    }

    #[test]
    fn fixed_window_resets_on_the_calendar_boundary() {
        let mut l = RateLimiter::new(Algorithm::FixedWindow, 5, SECOND, 0.0);
        assert_eq!(burst(&mut l, SECOND - 1, 10), 5);
        assert_eq!(burst(&mut l, SECOND, 10), 5); // 10 admitted in 1 ns
        assert_eq!(burst(&mut l, 2 * SECOND - 1, 10), 0);
    }

    #[test]
    fn sliding_log_counts_exactly_the_last_window() {
        let mut l = RateLimiter::new(Algorithm::SlidingLog, 5, SECOND, 0.0);
        assert_eq!(burst(&mut l, SECOND - 1, 10), 5);
        assert_eq!(burst(&mut l, SECOND, 10), 0);
        assert_eq!(burst(&mut l, 2 * SECOND - 2, 10), 0);
        assert_eq!(burst(&mut l, 2 * SECOND - 1, 10), 5);
    }

    #[test]
    fn sliding_counter_weights_the_previous_window() {
        // 10 admitted in window 0; a quarter into window 1 the estimate is
        // 10 × 0.75 = 7.5, so three more fit (7.5, 8.5, 9.5 < 10), not a fourth.
        let mut l = RateLimiter::new(Algorithm::SlidingCounter, 10, SECOND, 0.0);
        assert_eq!(burst(&mut l, 0, 10), 10);
        assert_eq!(burst(&mut l, SECOND + SECOND / 4, 10), 3);
        // Two windows later the old counts are gone.
        assert_eq!(burst(&mut l, 3 * SECOND + SECOND / 2, 20), 10);
    }

    #[test]
    fn keys_are_independent() {
        let mut l = RateLimiter::new(Algorithm::FixedWindow, 1, SECOND, 0.0);
        assert!(l.allow(0, 0));
        assert!(!l.allow(0, 1));
        assert!(l.allow(7, 1));
        assert_eq!(l.algorithm(), Algorithm::FixedWindow);
        assert_eq!(Algorithm::from_name("nope"), None);
    }

    #[test]
    fn window_peak_finds_the_densest_window() {
        let mut w = WindowPeak::new(10);
        for t in [0, 1, 2, 12, 13, 14, 15, 25] {
            w.admitted(3, t);
        }
        // (5, 15] holds 12, 13, 14, 15; (15, 25] holds only 25.
        assert_eq!(w.peak(), 4);
        assert_eq!(w.current(3), 1);
    }
}
