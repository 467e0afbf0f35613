//! Load-balancing policies: which of `n` targets gets the next request,
//! given each target's current number of requests in flight.
//!
//! * **Round robin**: 0, 1, 2, …, n − 1, 0, … regardless of load.
//! * **Random**: a uniform target from the balancer's [`RngStream`].
//! * **Least connections**: the target with the fewest requests in flight.
//!   Ties go to the first tied target at or after the round-robin cursor,
//!   and the cursor then moves past the chosen target, so equally loaded
//!   targets take turns (as nginx's `least_conn` falls back to round robin)
//!   instead of target 0 taking every tie. Deterministic: no randomness.
//! * **Power of two choices**: two distinct targets drawn uniformly, the
//!   less loaded of the two (ties to the first drawn). With `n` requests
//!   into `n` targets the busiest ends with about ln ln n / ln 2 + O(1),
//!   against about ln n / ln ln n for random assignment (Azar, Broder,
//!   Karlin & Upfal 1994; Mitzenmacher, "The Power of Two Choices in
//!   Randomized Load Balancing", IEEE TPDS 2001), while reading only two
//!   loads instead of all `n`.
//!
//! **Targets that are down.** [`Balancer::pick_available`] applies the same
//! policy to the available targets only, as if the others were not there:
//! round robin and least connections skip them in their scan, random and
//! power of two choices draw among the available ones. It returns the
//! index in the full list, or `None` when nothing is available.
//! [`Balancer::pick`] is the same with every target available.

use crate::engine::RngStream;

/// A load-balancing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Cycle through the targets in order.
    RoundRobin,
    /// A uniformly random target.
    Random,
    /// The target with the fewest requests in flight.
    LeastConnections,
    /// The less loaded of two distinct random targets.
    PowerOfTwoChoices,
}

impl Policy {
    /// Every policy, in declaration order.
    pub const ALL: [Policy; 4] = [
        Policy::RoundRobin,
        Policy::Random,
        Policy::LeastConnections,
        Policy::PowerOfTwoChoices,
    ];

    /// The scenario-file name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round_robin",
            Policy::Random => "random",
            Policy::LeastConnections => "least_connections",
            Policy::PowerOfTwoChoices => "power_of_two_choices",
        }
    }

    /// Parses a scenario-file name (the inverse of [`Policy::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A load balancer: a policy plus its round-robin cursor and random stream.
#[derive(Clone, Debug)]
pub struct Balancer {
    policy: Policy,
    /// The next target in round-robin order (taken modulo the target count).
    next: usize,
    rng: RngStream,
}

impl Balancer {
    /// A balancer using `policy`, drawing from `rng` (only random and power
    /// of two choices draw).
    pub fn new(policy: Policy, rng: RngStream) -> Self {
        Self {
            policy,
            next: 0,
            rng,
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The target for the next request, given each target's requests in
    /// flight (`loads.len()` targets). Returns 0 for an empty slice. O(1)
    /// except least connections, which reads every load (O(n)).
    pub fn pick(&mut self, loads: &[u32]) -> usize {
        self.choose(loads, None).unwrap_or(0)
    }

    /// Like [`Balancer::pick`], among the targets `i` with `available[i]`
    /// true only (a missing entry counts as unavailable). Returns `None`
    /// when no target is available. O(n).
    pub fn pick_available(&mut self, loads: &[u32], available: &[bool]) -> Option<usize> {
        self.choose(loads, Some(available))
    }

    fn choose(&mut self, loads: &[u32], available: Option<&[bool]>) -> Option<usize> {
        let n = loads.len();
        if n == 0 {
            return None;
        }
        let up = Up { n, available };
        let start = self.next % n;
        // Available targets in cyclic order from the cursor (lazy).
        let mut cyclic = (0..n).map(|k| (start + k) % n).filter(|&i| up.is_up(i));
        let load = |i: usize| loads.get(i).copied().unwrap_or(u32::MAX);
        let chosen = match self.policy {
            Policy::RoundRobin => cyclic.next(),
            // `min_by_key` keeps the first minimum: the first after the cursor.
            Policy::LeastConnections => cyclic.min_by_key(|&i| load(i)),
            Policy::Random => {
                let r = self.rng.below(up.count() as u64) as usize;
                up.nth(r)
            }
            Policy::PowerOfTwoChoices => {
                let m = up.count();
                if m < 2 {
                    up.nth(0)
                } else {
                    // Two distinct ranks: b is drawn among the m − 1 others.
                    let a = self.rng.below(m as u64) as usize;
                    let mut b = self.rng.below(m as u64 - 1) as usize;
                    if b >= a {
                        b += 1;
                    }
                    match (up.nth(a), up.nth(b)) {
                        (Some(a), Some(b)) if load(b) < load(a) => Some(b),
                        (a, _) => a,
                    }
                }
            }
        };
        if let Some(i) = chosen {
            if matches!(self.policy, Policy::RoundRobin | Policy::LeastConnections) {
                self.next = (i + 1) % n;
            }
        }
        chosen
    }
}

/// Which of `n` targets are available (`None`: all of them).
struct Up<'a> {
    n: usize,
    available: Option<&'a [bool]>,
}

impl Up<'_> {
    fn is_up(&self, i: usize) -> bool {
        i < self.n
            && self
                .available
                .is_none_or(|a| a.get(i).copied().unwrap_or(false))
    }

    /// How many targets are available.
    fn count(&self) -> usize {
        match self.available {
            None => self.n,
            Some(_) => (0..self.n).filter(|&i| self.is_up(i)).count(),
        }
    }

    /// The `r`-th (from 0) available target in index order.
    fn nth(&self, r: usize) -> Option<usize> {
        match self.available {
            None => (r < self.n).then_some(r),
            Some(_) => (0..self.n).filter(|&i| self.is_up(i)).nth(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(policy: Policy, seed: u64) -> Balancer {
        Balancer::new(policy, RngStream::new(seed, "balance"))
    }

    #[test]
    fn names_round_trip() {
        let names: Vec<_> = Policy::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "round_robin",
                "random",
                "least_connections",
                "power_of_two_choices"
            ]
        );
        for p in Policy::ALL {
            assert_eq!(Policy::from_name(p.name()), Some(p));
        }
        assert_eq!(Policy::from_name("weighted"), None);
    }

    #[test]
    fn round_robin_cycles() {
        let mut b = balancer(Policy::RoundRobin, 1);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&[9, 0, 5])).collect();
        assert_eq!(picks, [0, 1, 2, 0]);
    }

    #[test]
    fn empty_slice_gives_zero() {
        for p in Policy::ALL {
            let mut b = balancer(p, 1);
            assert_eq!(b.pick(&[]), 0);
            assert_eq!(b.pick_available(&[], &[]), None);
            assert_eq!(b.pick(&[7]), 0);
        }
    }

    #[test]
    fn least_connections_picks_the_minimum() {
        let mut b = balancer(Policy::LeastConnections, 1);
        assert_eq!(b.pick(&[3, 0, 2]), 1);
        assert_eq!(b.pick(&[3, 4, 2]), 2);
        assert_eq!(b.pick(&[0, 4, 2]), 0);
    }

    #[test]
    fn least_connections_breaks_ties_from_the_cursor() {
        // Loads 2, 1, 1, 3: cursor 0, first minimum is 1; cursor moves to 2,
        // first minimum at or after 2 is 2; cursor 3: scan 3, 0, 1 → 1.
        let mut b = balancer(Policy::LeastConnections, 1);
        let loads = [2, 1, 1, 3];
        let picks: Vec<_> = (0..3).map(|_| b.pick(&loads)).collect();
        assert_eq!(picks, [1, 2, 1]);
        // Equal loads: least connections degenerates to round robin.
        let mut b = balancer(Policy::LeastConnections, 1);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&[0; 3])).collect();
        assert_eq!(picks, [0, 1, 2, 0]);
    }

    #[test]
    fn power_of_two_never_picks_the_single_most_loaded() {
        // Any two distinct targets out of three include at least one of the
        // two lighter ones, and the lighter of the pair wins.
        let mut b = balancer(Policy::PowerOfTwoChoices, 5);
        let loads = [5, 1, 3];
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[b.pick(&loads)] += 1;
        }
        assert_eq!(counts[0], 0);
        // Target 1 wins every pair it is in (2 of 3 pairs), target 2 the
        // pair {0, 2}: 2/3 and 1/3.
        let share = f64::from(counts[1]) / 10_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.02, "share {share}");
    }

    #[test]
    fn power_of_two_ties_go_to_the_first_drawn() {
        // Replay the same stream: with equal loads the pick is the first
        // draw, uniform over n.
        let mut b = balancer(Policy::PowerOfTwoChoices, 9);
        let mut replay = RngStream::new(9, "balance");
        for _ in 0..1_000 {
            let first = replay.below(4) as usize;
            replay.below(3);
            assert_eq!(b.pick(&[2; 4]), first);
        }
    }

    #[test]
    fn random_is_uniform() {
        // 10^5 picks over 4 targets: each share 0.25 with standard error
        // sqrt(0.25 × 0.75 / 10^5) ≈ 0.0014; 2 % relative is ±0.005.
        let mut b = balancer(Policy::Random, 3);
        let mut counts = [0u32; 4];
        let n = 100_000;
        for _ in 0..n {
            counts[b.pick(&[0, 100, 0, 100])] += 1;
        }
        for c in counts {
            let share = f64::from(c) / f64::from(n);
            assert!((share - 0.25).abs() < 0.02 * 0.25, "{counts:?}");
        }
    }

    #[test]
    fn unavailable_targets_are_skipped() {
        let up = [true, false, true];
        let mut rr = balancer(Policy::RoundRobin, 1);
        let picks: Vec<_> = (0..4).map(|_| rr.pick_available(&[0; 3], &up)).collect();
        assert_eq!(picks, [Some(0), Some(2), Some(0), Some(2)]);

        let mut lc = balancer(Policy::LeastConnections, 1);
        assert_eq!(lc.pick_available(&[4, 0, 3], &up), Some(2));

        for p in Policy::ALL {
            let mut b = balancer(p, 2);
            for _ in 0..1_000 {
                assert_ne!(
                    b.pick_available(&[5, 0, 5, 5], &[true, false, true, true]),
                    Some(1)
                );
            }
            assert_eq!(b.pick_available(&[1, 2], &[false, false]), None);
            // A short `available` slice: missing entries are down.
            assert_eq!(b.pick_available(&[1, 2, 3], &[false, true]), Some(1));
        }
    }

    /// Throws `n` balls into `n` bins (loads only grow) and returns the
    /// largest bin.
    fn max_load(policy: Policy, n: usize, seed: u64) -> u32 {
        let mut b = balancer(policy, seed);
        let mut loads = vec![0u32; n];
        for _ in 0..n {
            let i = b.pick(&loads);
            loads[i] += 1;
        }
        loads.into_iter().max().unwrap_or(0)
    }

    #[test]
    fn two_choices_flatten_the_maximum_load() {
        // n = 10^4 balls into n = 10^4 bins.
        //
        // Random: a bin's load is Binomial(n, 1/n) ≈ Poisson(1), and
        // P(Poisson(1) ≥ 5) = 1 − e^-1 (1 + 1 + 1/2 + 1/6 + 1/24) ≈ 0.00366,
        // so about 37 bins are expected to reach 5 and the chance that none
        // does is about e^-37 ≈ 10^-16 (the max is ~ ln n / ln ln n times
        // 1 + o(1); for n = 10^4 it is typically 6 to 8).
        //
        // Two choices: Mitzenmacher's fluid limit has the fraction s_i of
        // bins with load ≥ i obey ds_i/dt = s_{i-1}² − s_i² (s_0 = 1); at
        // t = 1 (n balls) numerically s_1 = tanh 1 ≈ 0.762, s_2 ≈ 0.230,
        // s_3 ≈ 0.0089, s_4 ≈ 6.0e-6, s_5 ≈ 1.3e-12: about 0.06 bins at
        // load 4 and 10^-8 at 5, so the max is 3, occasionally 4, and 5
        // essentially never (ln ln n / ln 2 ≈ 3.2).
        //
        // Measured over seeds 1..=40: random 6 to 8, two choices 3 (one
        // seed 4); seeds 1..=5 here give random 6 or 7, two choices 3.
        for seed in 1..=5 {
            let random = max_load(Policy::Random, 10_000, seed);
            let two = max_load(Policy::PowerOfTwoChoices, 10_000, seed);
            assert!(random >= 5, "seed {seed}: random max {random}");
            assert!(two <= 4, "seed {seed}: two choices max {two}");
        }
    }

    #[test]
    fn same_seed_same_picks() {
        for p in Policy::ALL {
            let (mut a, mut b) = (balancer(p, 42), balancer(p, 42));
            for k in 0..100u32 {
                let loads = [k % 3, k % 5, k % 7];
                assert_eq!(a.pick(&loads), b.pick(&loads));
            }
        }
    }
}
