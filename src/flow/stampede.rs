//! What a cache does when many readers want a value that is missing or
//! about to expire: the stampede (thundering herd) and its remedies.
//!
//! When a popular entry expires, every read that arrives before the value
//! is back in the cache finds it missing and recomputes it: at `λ` reads a
//! second and a recompute of `R` seconds, about `λ·R` recomputes of the
//! same key run at once. The remedies:
//!
//! * **Lock**: the first reader takes a lock (Redis `SET lock:key NX`) and
//!   recomputes; the others wait a moment, then read the cache again.
//! * **Coalesce**: the others join the recompute in flight and get its
//!   answer (a "single flight" table in the process).
//! * **Early expiration** (XFetch: Vattani, Chierichetti and Lowenstein,
//!   *Optimal Probabilistic Cache Stampede Prevention*, VLDB 2015): each
//!   reader of a fresh entry recomputes it early with a probability that
//!   grows as expiry nears: it does when `now − δ·β·ln(u) ≥ expiry`, `u`
//!   uniform in (0, 1], `δ` the time the value took to compute and `β` a
//!   knob (1 is the paper's choice; more recomputes earlier).
//! * **TTL jitter**: each entry lives a random share less than its TTL, so
//!   entries filled together do not all expire together.
//! * **Stale while revalidate** (RFC 5861 §3): an entry expired less than
//!   a grace period ago answers at once, and one background recompute
//!   brings it back.
//!
//! This module holds the rules and the bookkeeping; the simulator
//! ([`super::sim`]) applies them at a service's cache.

use crate::engine::time::SimTime;

/// How a cache protects its origin from a stampede.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protection {
    /// Every reader that misses recomputes.
    None,
    /// One recompute per key at a time; readers that find the lock taken
    /// read the cache again after `retry`.
    Lock {
        /// The wait before a reader tries again.
        retry: SimTime,
    },
    /// One recompute per key at a time; readers that miss meanwhile wait
    /// for its answer.
    Coalesce,
    /// XFetch with this `β`.
    EarlyExpiration {
        /// The eagerness knob (1: the paper's default).
        beta: f64,
    },
    /// Each entry's TTL is cut by up to this share (0 to 1), uniformly.
    TtlJitter {
        /// The largest cut.
        fraction: f64,
    },
    /// An entry expired less than `grace` ago is served, and one background
    /// recompute refreshes it.
    StaleWhileRevalidate {
        /// How long past its expiry an entry may still be served.
        grace: SimTime,
    },
}

/// XFetch's test: whether a reader at `now` of an entry expiring at
/// `expires_at`, whose value took `cost` to compute, recomputes it early,
/// given `u` uniform in [0, 1) (`1 − u` is the paper's `rand()` in (0, 1]).
pub fn xfetch_recomputes(
    now: SimTime,
    expires_at: SimTime,
    cost: SimTime,
    beta: f64,
    u: f64,
) -> bool {
    if now >= expires_at {
        return true;
    }
    let gap = (expires_at - now) as f64;
    // −δ·β·ln(rand) is how far ahead of expiry this reader looks.
    let reach = -(cost as f64) * beta * libm::log(1.0 - u);
    reach >= gap
}

/// The probability that one reader `gap` before expiry recomputes early:
/// `P(−δβ ln U ≥ gap) = exp(−gap ÷ (δβ))`.
pub fn xfetch_probability(gap: SimTime, cost: SimTime, beta: f64) -> f64 {
    let scale = cost as f64 * beta;
    if scale <= 0.0 {
        return if gap == 0 { 1.0 } else { 0.0 };
    }
    libm::exp(-(gap as f64) / scale)
}

/// `ttl` cut by `fraction × u` of itself (`u` uniform in [0, 1)).
pub fn jittered_ttl(ttl: SimTime, fraction: f64, u: f64) -> SimTime {
    let cut = (ttl as f64 * fraction.clamp(0.0, 1.0) * u) as SimTime;
    ttl - cut.min(ttl)
}

/// Recomputes in flight, per key, and the most of one key at once.
///
/// Keys are `0..key_space`; the counts live in a `Vec` indexed by key,
/// allocated on first use (4 bytes per key).
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    counts: Vec<u32>,
    key_space: usize,
    peak: u32,
    started: u64,
}

impl InFlight {
    /// No recomputes yet, for keys `0..key_space`.
    pub fn new(key_space: u64) -> Self {
        Self {
            counts: Vec::new(),
            key_space: usize::try_from(key_space).unwrap_or(usize::MAX),
            peak: 0,
            started: 0,
        }
    }

    /// A recompute of `key` starts; returns how many of it are now in
    /// flight (1: it is the only one). Keys outside the space count nothing.
    pub fn start(&mut self, key: u64) -> u32 {
        let Ok(k) = usize::try_from(key) else {
            return 0;
        };
        if k >= self.key_space {
            return 0;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; self.key_space];
        }
        let Some(c) = self.counts.get_mut(k) else {
            return 0;
        };
        *c += 1;
        self.started += 1;
        self.peak = self.peak.max(*c);
        *c
    }

    /// A recompute of `key` ends.
    pub fn end(&mut self, key: u64) {
        if let Some(c) = usize::try_from(key)
            .ok()
            .and_then(|k| self.counts.get_mut(k))
        {
            *c = c.saturating_sub(1);
        }
    }

    /// Recomputes of `key` in flight now.
    pub fn of(&self, key: u64) -> u32 {
        usize::try_from(key)
            .ok()
            .and_then(|k| self.counts.get(k))
            .copied()
            .unwrap_or(0)
    }

    /// The most recomputes of one key that were ever in flight at once.
    pub fn peak(&self) -> u32 {
        self.peak
    }

    /// Recomputes started in all.
    pub fn started(&self) -> u64 {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::RngStream;
    use crate::engine::time::{millis, secs};

    #[test]
    fn xfetch_recomputes_at_the_rate_its_formula_gives() {
        // 100 ms of recompute, β = 1: a reader 100 ms before expiry
        // recomputes with probability e^−1 = 0.3679, one 300 ms before with
        // e^−3 = 0.0498 (the formula's own reading, by hand).
        let mut rng = RngStream::new(7, "xfetch");
        let expiry = secs(10.0);
        for (gap_ms, expected) in [(100.0, 0.367_879), (300.0, 0.049_787), (0.0, 1.0)] {
            let now = expiry - millis(gap_ms);
            let n = 200_000;
            let hits = (0..n)
                .filter(|_| xfetch_recomputes(now, expiry, millis(100.0), 1.0, rng.uniform()))
                .count();
            let p = hits as f64 / n as f64;
            assert!(
                (p - expected).abs() < 0.004,
                "gap {gap_ms} ms: {p} vs {expected}"
            );
            let closed = xfetch_probability(millis(gap_ms), millis(100.0), 1.0);
            assert!((closed - expected).abs() < 1e-5, "{closed}");
        }
    }

    #[test]
    fn xfetch_looks_further_ahead_with_a_larger_beta() {
        let gap = millis(200.0);
        let p1 = xfetch_probability(gap, millis(100.0), 1.0);
        let p2 = xfetch_probability(gap, millis(100.0), 2.0);
        // e^−2 and e^−1.
        assert!((p1 - 0.135_335).abs() < 1e-5 && (p2 - 0.367_879).abs() < 1e-5);
        // Past expiry every reader recomputes.
        assert!(xfetch_recomputes(secs(11.0), secs(10.0), 0, 1.0, 0.5));
    }

    #[test]
    fn jitter_cuts_the_ttl_by_at_most_its_fraction() {
        assert_eq!(jittered_ttl(secs(60.0), 0.2, 0.0), secs(60.0));
        assert_eq!(jittered_ttl(secs(60.0), 0.2, 0.5), secs(54.0));
        assert!(jittered_ttl(secs(60.0), 0.2, 0.999_999) > secs(48.0));
        assert_eq!(
            jittered_ttl(secs(60.0), 5.0, 0.5),
            secs(30.0),
            "fraction capped at 1"
        );
    }

    #[test]
    fn in_flight_counts_per_key_and_keeps_the_peak() {
        let mut f = InFlight::new(10);
        assert_eq!(f.start(3), 1);
        assert_eq!(f.start(3), 2);
        assert_eq!(f.start(4), 1);
        f.end(3);
        assert_eq!(f.of(3), 1);
        assert_eq!(f.start(3), 2);
        f.end(3);
        f.end(3);
        f.end(3);
        assert_eq!((f.of(3), f.peak(), f.started()), (0, 2, 4));
        assert_eq!(f.start(10), 0, "outside the key space");
    }
}
