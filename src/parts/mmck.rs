//! The M/M/c/K queue in closed form: Poisson arrivals at `lambda`, `c`
//! servers with exponential service of rate `mu` each, and room for `k`
//! requests in all (`c` in service, `k − c` waiting); an arrival finding
//! `k` is turned away.
//!
//! For models that serve too many requests to simulate one by one (a
//! tier at 10^5 req/s): the steady state answers what share is turned
//! away, how many are busy, and how long an accepted request waits, as a
//! distribution. The birth–death chain gives the state probabilities
//! (Kleinrock, *Queueing Systems* vol. 1, §3.6):
//!
//! ```text
//!   p_n ∝ a^n / n!                 for n ≤ c        (a = λ / μ)
//!   p_n ∝ a^c / c! · (a / c)^(n−c)  for c < n ≤ k
//! ```
//!
//! An arrival sees the state probabilities (PASTA). One that finds
//! `n ≥ c` waits for `n − c + 1` departures at rate `c·μ`: an Erlang
//! (`n − c + 1`, `c·μ`) time. Its wait is thus a mixture, whose tail
//! [`MmcK::wait_exceeds`] sums exactly.
//!
//! The probabilities are built as ratios from state 0 up, rescaled
//! whenever they grow large, so `k` in the millions and `a` in the
//! thousands stay finite.

/// An M/M/c/K queue's parameters and steady state.
#[derive(Clone, Debug, PartialEq)]
pub struct MmcK {
    lambda: f64,
    mu: f64,
    c: u32,
    /// `p[n]`: probability of `n` requests present, `n` in `0..=k`.
    p: Vec<f64>,
}

impl MmcK {
    /// The queue with arrivals at `lambda` a second, `c` servers (at least
    /// one) serving `mu` a second each (above 0), and room for `k`
    /// requests (at least `c`). None when a rate is not a finite positive
    /// number.
    pub fn new(lambda: f64, mu: f64, c: u32, k: u32) -> Option<Self> {
        if !(lambda.is_finite() && lambda >= 0.0 && mu.is_finite() && mu > 0.0) {
            return None;
        }
        let c = c.max(1);
        let k = k.max(c);
        let a = lambda / mu;
        let mut p = Vec::with_capacity(k as usize + 1);
        let mut term = 1.0_f64;
        p.push(term);
        for n in 1..=k {
            term *= a / f64::from(n.min(c));
            p.push(term);
            if term > 1e250 {
                // Rescale everything so far; only ratios matter.
                for x in p.iter_mut() {
                    *x *= 1e-250;
                }
                term *= 1e-250;
            }
        }
        let total: f64 = p.iter().sum();
        for x in p.iter_mut() {
            *x /= total;
        }
        Some(Self { lambda, mu, c, p })
    }

    /// One server's service rate, μ a second.
    pub fn service_rate(&self) -> f64 {
        self.mu
    }

    /// Requests it holds at most (`k`).
    pub fn room(&self) -> u32 {
        self.p.len().saturating_sub(1) as u32
    }

    /// Probability that `n` requests are present.
    pub fn state(&self, n: u32) -> f64 {
        self.p.get(n as usize).copied().unwrap_or(0.0)
    }

    /// Share of arrivals turned away: they find the system full.
    pub fn blocking(&self) -> f64 {
        self.p.last().copied().unwrap_or(0.0)
    }

    /// Requests accepted a second.
    pub fn throughput(&self) -> f64 {
        self.lambda * (1.0 - self.blocking())
    }

    /// Mean servers busy: throughput ÷ μ.
    pub fn busy(&self) -> f64 {
        self.throughput() / self.mu
    }

    /// Mean requests present, waiting or in service.
    pub fn mean_present(&self) -> f64 {
        self.p.iter().enumerate().map(|(n, x)| n as f64 * x).sum()
    }

    /// Share of accepted requests that wait for a server.
    pub fn wait_probability(&self) -> f64 {
        let accepted = 1.0 - self.blocking();
        if accepted <= 0.0 {
            return 0.0;
        }
        let last = self.p.len().saturating_sub(1);
        let waiting: f64 = self
            .p
            .iter()
            .enumerate()
            .filter(|&(n, _)| n >= self.c as usize && n < last)
            .map(|(_, x)| x)
            .sum();
        waiting / accepted
    }

    /// Mean wait of an accepted request, seconds (Little's law on the
    /// queue: mean waiting ÷ throughput).
    pub fn mean_wait(&self) -> f64 {
        let throughput = self.throughput();
        if throughput <= 0.0 {
            return 0.0;
        }
        let c = self.c as usize;
        let queued: f64 = self
            .p
            .iter()
            .enumerate()
            .filter(|&(n, _)| n > c)
            .map(|(n, x)| (n - c) as f64 * x)
            .sum();
        queued / throughput
    }

    /// Probability that an accepted request waits more than `t` seconds:
    /// Σ over the states it can find, `n` in `c..k`, of the chance it finds
    /// `n` times the chance that `n − c + 1` departures at rate `c·μ` take
    /// longer than `t` (a Poisson count of departures in `t` below
    /// `n − c + 1`).
    pub fn wait_exceeds(&self, t: f64) -> f64 {
        let accepted = 1.0 - self.blocking();
        if accepted <= 0.0 || t < 0.0 {
            return if t < 0.0 { 1.0 } else { 0.0 };
        }
        let rate_t = f64::from(self.c) * self.mu * t;
        let c = self.c as usize;
        let last = self.p.len().saturating_sub(1);
        // poisson[j] = P(j departures in t), built up as j grows; the tail
        // P(fewer than m departures) accumulates alongside.
        let mut term = libm::exp(-rate_t);
        let mut below = 0.0_f64; // P(fewer than m departures), m = n − c + 1
        let mut total = 0.0;
        for n in c..last {
            let j = n - c;
            below += term;
            term *= rate_t / (j as f64 + 1.0);
            total += self.p[n] * below.min(1.0);
            if self.p[n] < 1e-300 && n > c + 64 && term < 1e-300 {
                break;
            }
        }
        total / accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn one_server_two_places_matches_the_geometric_formula() {
        // M/M/1/K: p_n = (1 − ρ) ρ^n / (1 − ρ^(K+1)). ρ = 0.5, K = 2:
        // p = (4/7, 2/7, 1/7); an arrival is turned away with 1/7.
        let q = MmcK::new(1.0, 2.0, 1, 2).expect("valid");
        assert!(close(q.state(0), 4.0 / 7.0, 1e-12));
        assert!(close(q.state(1), 2.0 / 7.0, 1e-12));
        assert!(close(q.blocking(), 1.0 / 7.0, 1e-12));
        assert!(close(q.throughput(), 6.0 / 7.0, 1e-12));
        // It waits when it finds one in service (2/7 of all arrivals,
        // 2/7 ÷ 6/7 = 1/3 of the accepted), on average 1/μ = 0.5 s then.
        assert!(close(q.wait_probability(), 1.0 / 3.0, 1e-12));
        assert!(close(q.mean_wait(), 0.5 / 3.0, 1e-12));
        // P(W > t) = 1/3 · e^(−2t).
        assert!(close(q.wait_exceeds(0.4), libm::exp(-0.8) / 3.0, 1e-12));
    }

    #[test]
    fn no_waiting_room_is_erlang_b() {
        // K = c: Erlang B. B(2, a = 1) = (1/2) / (1 + 1 + 1/2) = 0.2.
        let q = MmcK::new(1.0, 1.0, 2, 2).expect("valid");
        assert!(close(q.blocking(), 0.2, 1e-12));
        assert_eq!(q.wait_probability(), 0.0);
        assert_eq!(q.wait_exceeds(0.0), 0.0);
    }

    #[test]
    fn a_large_room_is_erlang_c() {
        // c = 10, a = 9 (λ = 9, μ = 1): Erlang C = 0.6687 (a table value,
        // and the bench's own check); the mean wait C ÷ (cμ − λ) = 0.669 s,
        // and P(W > t) = C e^(−(cμ − λ) t).
        let q = MmcK::new(9.0, 1.0, 10, 5_000).expect("valid");
        let c = crate::bench::erlang_c(10, 9.0);
        assert!(close(c, 0.6687, 1e-4));
        assert!(q.blocking() < 1e-12);
        assert!(close(q.wait_probability(), c, 1e-9));
        assert!(close(q.mean_wait(), c / 1.0, 1e-9));
        for t in [0.0, 0.5, 2.0, 5.0] {
            assert!(close(q.wait_exceeds(t), c * libm::exp(-t), 1e-9), "t = {t}");
        }
    }

    #[test]
    fn littles_law_holds() {
        // Mean present = throughput × (mean wait + 1/μ).
        let q = MmcK::new(30.0, 2.0, 12, 40).expect("valid");
        let l = q.throughput() * (q.mean_wait() + 0.5);
        assert!(close(q.mean_present(), l, 1e-9));
        assert!(close(q.busy(), q.throughput() / 2.0, 1e-12));
    }

    #[test]
    fn overload_turns_away_the_excess() {
        // λ = 2 × capacity: in the long run the servers are nearly always
        // busy, so about half the arrivals are turned away, and the
        // throughput approaches c·μ.
        let q = MmcK::new(200.0, 1.0, 100, 1_000).expect("valid");
        assert!(close(q.throughput(), 100.0, 1e-6));
        assert!(close(q.blocking(), 0.5, 1e-8));
    }

    #[test]
    fn huge_queues_stay_finite() {
        let q = MmcK::new(1e5, 1.0, 50_000, 2_000_000).expect("valid");
        assert!(q.blocking().is_finite() && q.mean_wait().is_finite());
        assert!(close(q.throughput(), 5e4, 1.0));
        assert!(MmcK::new(f64::NAN, 1.0, 1, 1).is_none());
        assert!(MmcK::new(1.0, 0.0, 1, 1).is_none());
    }
}
