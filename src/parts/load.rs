//! Load generation: open-loop arrivals and the client key of each request.
//!
//! Open loop means arrivals do not wait for responses, as with real users:
//! a slow server does not slow the traffic down, so queues can grow.

use crate::engine::time::{secs, SimTime};
use crate::engine::{dist::Zipf, Dist, RngStream};

/// The arrival rate (requests per second) as a function of time.
#[derive(Clone, Debug, PartialEq)]
pub enum RateShape {
    /// The same rate throughout.
    Flat(f64),
    /// `before` until `at` seconds, `after` from then on.
    Step {
        /// Rate before the step.
        before: f64,
        /// Rate after the step.
        after: f64,
        /// Time of the step, seconds.
        at: f64,
    },
    /// Linear change from `from` at `start` to `to` at `end` (seconds).
    Ramp {
        /// Starting rate.
        from: f64,
        /// Final rate.
        to: f64,
        /// Ramp start, seconds.
        start: f64,
        /// Ramp end, seconds.
        end: f64,
    },
    /// `base`, except `peak` during `[start, start + len)` seconds.
    Spike {
        /// Normal rate.
        base: f64,
        /// Rate during the spike.
        peak: f64,
        /// Spike start, seconds.
        start: f64,
        /// Spike length, seconds.
        len: f64,
    },
}

impl RateShape {
    /// Rate at time `t` seconds (never negative).
    pub fn rate_at(&self, t: f64) -> f64 {
        let r = match *self {
            RateShape::Flat(r) => r,
            RateShape::Step { before, after, at } => {
                if t < at {
                    before
                } else {
                    after
                }
            }
            RateShape::Ramp {
                from,
                to,
                start,
                end,
            } => {
                if t <= start {
                    from
                } else if t >= end {
                    to
                } else {
                    from + (to - from) * (t - start) / (end - start)
                }
            }
            RateShape::Spike {
                base,
                peak,
                start,
                len,
            } => {
                if t >= start && t < start + len {
                    peak
                } else {
                    base
                }
            }
        };
        r.max(0.0)
    }

    /// The highest rate the shape ever reaches.
    pub fn max_rate(&self) -> f64 {
        let r = match *self {
            RateShape::Flat(r) => r,
            RateShape::Step { before, after, .. } => before.max(after),
            RateShape::Ramp { from, to, .. } => from.max(to),
            RateShape::Spike { base, peak, .. } => base.max(peak),
        };
        r.max(0.0)
    }
}

/// An arrival process: evenly spaced ("constant") or Poisson.
pub struct Arrivals {
    shape: RateShape,
    poisson: bool,
    rng: RngStream,
    unit_exp: Dist,
}

impl Arrivals {
    /// Arrivals following `shape`, Poisson if `poisson` else evenly spaced,
    /// drawing from the stream `name` of the run `seed`.
    pub fn new(shape: RateShape, poisson: bool, seed: u64, name: &str) -> Self {
        Self {
            shape,
            poisson,
            rng: RngStream::new(seed, name),
            unit_exp: Dist::exponential(1.0),
        }
    }

    /// Poisson arrivals at a flat rate.
    pub fn poisson(rps: f64, seed: u64, name: &str) -> Self {
        Self::new(RateShape::Flat(rps), true, seed, name)
    }

    /// The first arrival strictly after `t`, or `None` if the rate is zero
    /// from here on (for flat shapes) or never positive.
    pub fn next_after(&mut self, t: SimTime) -> Option<SimTime> {
        let max = self.shape.max_rate();
        if max <= 0.0 {
            return None;
        }
        let mut now = crate::engine::time::as_secs(t);
        if !self.poisson {
            // Even spacing at the current rate; if the rate is zero right now,
            // look ahead in small steps for it to become positive.
            for _ in 0..1_000_000 {
                let r = self.shape.rate_at(now);
                if r > 0.0 {
                    return Some(t.max(secs(now + 1.0 / r)).max(t + 1));
                }
                now += 1.0 / max;
            }
            return None;
        }
        // Thinning (Lewis & Shedler): candidates at the peak rate, each kept
        // with probability rate(t) / peak. Exact for any rate shape.
        for _ in 0..1_000_000 {
            now += self.unit_exp.sample(&mut self.rng) / max;
            let r = self.shape.rate_at(now);
            if r >= max || self.rng.uniform() * max < r {
                return Some(secs(now).max(t + 1));
            }
        }
        None
    }
}

/// Which client (rate-limit key, user, tenant) sends each request.
pub enum KeyChooser {
    /// Every key equally likely.
    Uniform {
        /// Number of keys.
        keys: u64,
        /// Random stream.
        rng: RngStream,
    },
    /// A few keys send most traffic (Zipf with exponent `s`).
    Zipf {
        /// Rank distribution.
        zipf: Zipf,
        /// Random stream.
        rng: RngStream,
    },
}

impl KeyChooser {
    /// Uniform over `keys` keys.
    pub fn uniform(keys: u64, seed: u64, name: &str) -> Self {
        KeyChooser::Uniform {
            keys: keys.max(1),
            rng: RngStream::new(seed, name),
        }
    }

    /// Zipf over `keys` keys with exponent `s`.
    pub fn zipf(keys: u64, s: f64, seed: u64, name: &str) -> Self {
        KeyChooser::Zipf {
            zipf: Zipf::new(keys, s),
            rng: RngStream::new(seed, name),
        }
    }

    /// The key of the next request.
    pub fn next_key(&mut self) -> u64 {
        match self {
            KeyChooser::Uniform { keys, rng } => rng.below(*keys),
            KeyChooser::Zipf { zipf, rng } => zipf.sample(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::SECOND;

    fn count_until(a: &mut Arrivals, end: SimTime) -> Vec<SimTime> {
        let mut out = Vec::new();
        let mut t = 0;
        while let Some(n) = a.next_after(t) {
            if n > end {
                break;
            }
            out.push(n);
            t = n;
        }
        out
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let mut a = Arrivals::new(RateShape::Flat(4.0), false, 1, "a");
        let times = count_until(&mut a, 10 * SECOND);
        assert_eq!(times.len(), 40);
        assert!(times.windows(2).all(|w| w[1] - w[0] == SECOND / 4));
    }

    #[test]
    fn poisson_count_and_gaps_match_theory() {
        let mut a = Arrivals::poisson(50.0, 3, "a");
        let times = count_until(&mut a, 1_000 * SECOND);
        // Mean 50 000, standard deviation sqrt(50 000) ≈ 224.
        assert!(
            (times.len() as f64 - 50_000.0).abs() < 1_000.0,
            "{}",
            times.len()
        );
        // Fraction of gaps shorter than the mean gap: 1 - 1/e ≈ 0.632.
        let short = times
            .windows(2)
            .filter(|w| w[1] - w[0] < SECOND / 50)
            .count();
        let frac = short as f64 / (times.len() - 1) as f64;
        assert!((frac - 0.632).abs() < 0.01, "{frac}");
    }

    #[test]
    fn shaped_poisson_follows_the_rate() {
        let shape = RateShape::Spike {
            base: 10.0,
            peak: 100.0,
            start: 100.0,
            len: 100.0,
        };
        let mut a = Arrivals::new(shape, true, 4, "a");
        let times = count_until(&mut a, 300 * SECOND);
        let in_spike = times
            .iter()
            .filter(|&&t| (100 * SECOND..200 * SECOND).contains(&t))
            .count();
        assert!((in_spike as f64 - 10_000.0).abs() < 400.0, "{in_spike}");
        assert!(((times.len() - in_spike) as f64 - 2_000.0).abs() < 200.0);
        let ramp = RateShape::Ramp {
            from: 0.0,
            to: 10.0,
            start: 0.0,
            end: 10.0,
        };
        assert_eq!(ramp.rate_at(5.0), 5.0);
        assert_eq!(ramp.max_rate(), 10.0);
        let step = RateShape::Step {
            before: 1.0,
            after: 3.0,
            at: 2.0,
        };
        assert_eq!((step.rate_at(1.9), step.rate_at(2.0)), (1.0, 3.0));
    }

    #[test]
    fn zero_rate_produces_no_arrivals() {
        assert_eq!(Arrivals::poisson(0.0, 1, "a").next_after(0), None);
        assert_eq!(
            Arrivals::new(RateShape::Flat(0.0), false, 1, "a").next_after(0),
            None
        );
    }

    #[test]
    fn keys_stay_in_range() {
        let mut u = KeyChooser::uniform(7, 1, "k");
        let mut z = KeyChooser::zipf(7, 1.2, 1, "k");
        for _ in 0..1000 {
            assert!(u.next_key() < 7);
            assert!(z.next_key() < 7);
        }
    }
}
