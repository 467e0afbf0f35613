//! Retry backoff policies and a retry budget.
//!
//! **Backoff** ([`BackoffPolicy`]): the formulas of Marc Brooker's "Exponential
//! Backoff And Jitter" (AWS Architecture Blog, 2015), as coded in its
//! simulator (aws-samples/aws-arch-backoff-simulator, `backoff_simulator.py`):
//!
//! | kind                  | delay before retry `n`                                  |
//! |-----------------------|---------------------------------------------------------|
//! | `none`                | 0                                                       |
//! | `constant`            | `base`                                                  |
//! | `exponential`         | `expo(n) = min(cap, base × 2^n)`                         |
//! | `full_jitter`         | `random_between(0, expo(n))`                             |
//! | `equal_jitter`        | `expo(n)/2 + random_between(0, expo(n)/2)`               |
//! | `decorrelated_jitter` | `min(cap, random_between(base, previous × 3))`, `previous` starting at `base` |
//!
//! **Exponent convention.** The simulator's client increments its attempt
//! counter *before* asking for a delay, so the first retry (attempt 1) uses
//! `2^1`: it waits `min(cap, 2 × base)`, the second `4 × base`, and so on.
//! We follow that code exactly. `attempt = 0` is accepted and gives `base`,
//! so a caller that wants "the first retry waits about `base`" can pass
//! `attempt - 1`. `2^n` saturates: no attempt count overflows.
//!
//! Randomness is drawn in whole nanoseconds with [`RngStream::below`], as a
//! uniform integer over the inclusive range, with no floating point: one
//! draw per delay for the three jitter kinds, none for the others, so
//! switching kinds changes only the stream the policy is given.
//!
//! **Retry budget** ([`RetryBudget`]): Finagle's `RetryBudget` (the
//! `TokenRetryBudget` over util's `TokenBucket.newLeakyBucket` and
//! `WindowedAdder`); see its docs for the exact rules.

use crate::engine::time::{SimTime, SECOND};
use crate::engine::RngStream;

/// Which backoff formula a [`BackoffPolicy`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Retry immediately.
    None,
    /// Always wait `base`.
    Constant,
    /// `min(cap, base × 2^attempt)`: synchronised clients stay synchronised.
    Exponential,
    /// Uniform in `[0, exponential]`: Brooker's recommendation, spreads
    /// clients the most.
    FullJitter,
    /// Uniform in `[exponential / 2, exponential]`: never very short.
    EqualJitter,
    /// Uniform in `[base, 3 × previous]`, capped: grows without an attempt
    /// counter.
    DecorrelatedJitter,
}

impl Backoff {
    /// Every kind, in the order of the table in the module docs.
    pub const ALL: [Backoff; 6] = [
        Self::None,
        Self::Constant,
        Self::Exponential,
        Self::FullJitter,
        Self::EqualJitter,
        Self::DecorrelatedJitter,
    ];

    /// The scenario-file name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Constant => "constant",
            Self::Exponential => "exponential",
            Self::FullJitter => "full_jitter",
            Self::EqualJitter => "equal_jitter",
            Self::DecorrelatedJitter => "decorrelated_jitter",
        }
    }

    /// Parses a scenario-file name (see [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// `random_between(lo, hi)` in whole nanoseconds, both ends included.
fn between(lo: SimTime, hi: SimTime, rng: &mut RngStream) -> SimTime {
    if hi <= lo {
        return lo;
    }
    // A span of the whole u64 range loses only its top value.
    lo + rng.below((hi - lo).saturating_add(1))
}

/// A backoff formula with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Which formula.
    pub kind: Backoff,
    /// The unit delay: the constant delay, the exponential's scale, the
    /// decorrelated jitter's minimum.
    pub base: SimTime,
    /// The longest delay the exponential and jittered kinds produce (not
    /// applied to `constant`, which is always `base`).
    pub cap: SimTime,
}

impl BackoffPolicy {
    /// Brooker's `expo(n) = min(cap, base × 2^n)`, saturating.
    pub fn ceiling(&self, attempt: u32) -> SimTime {
        let doubled = 1u64
            .checked_shl(attempt)
            .and_then(|factor| self.base.checked_mul(factor));
        let full = match doubled {
            Some(delay) => delay,
            None if self.base == 0 => 0,
            None => SimTime::MAX,
        };
        full.min(self.cap)
    }

    /// The delay before retry number `attempt` (1 = the first retry).
    /// `previous` is the delay this call waited before its last retry,
    /// needed only by decorrelated jitter; pass 0 (or `base`) for the first
    /// retry, which Brooker's simulator starts at `base`.
    pub fn delay(&self, attempt: u32, previous: SimTime, rng: &mut RngStream) -> SimTime {
        match self.kind {
            Backoff::None => 0,
            Backoff::Constant => self.base,
            Backoff::Exponential => self.ceiling(attempt),
            Backoff::FullJitter => between(0, self.ceiling(attempt), rng),
            Backoff::EqualJitter => {
                let temp = self.ceiling(attempt);
                between(temp / 2, temp, rng)
            }
            Backoff::DecorrelatedJitter => {
                let previous = previous.max(self.base);
                between(self.base, previous.saturating_mul(3), rng).min(self.cap)
            }
        }
    }
}

/// One call's progress through its retries: the attempt counter and the
/// previous delay that decorrelated jitter needs. Two words; keep one per
/// in-flight call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffState {
    /// Retries scheduled so far.
    pub attempt: u32,
    /// The delay returned last (0 before the first retry).
    pub previous: SimTime,
}

impl BackoffState {
    /// Counts one more retry and returns the delay to wait before it.
    pub fn next_delay(&mut self, policy: &BackoffPolicy, rng: &mut RngStream) -> SimTime {
        self.attempt = self.attempt.saturating_add(1);
        self.previous = policy.delay(self.attempt, self.previous, rng);
        self.previous
    }
}

/// Finagle's token scale: a deposit is worth this many tokens, so a retry
/// percentage need not be an integer number of requests per retry.
const SCALE: f64 = 1000.0;

/// Finagle's `WindowedAdder` with 10 slices: a sum of the values added over
/// roughly the last `range`. Nine closed slices and the open one; a slice is
/// closed lazily, by the first operation at least `range / 10` after it
/// opened, and the next slice opens at *that* time (Finagle sets `old =
/// now()`), not on a fixed grid.
#[derive(Clone, Debug)]
struct WindowedAdder {
    /// Length of one slice: `range / 10`.
    window: SimTime,
    /// The open slice's sum (Finagle's `writer`).
    writer: i64,
    /// Closed slices: `N = slices - 1 = 9`.
    buf: [i64; 9],
    /// Where the open slice goes when it closes.
    i: usize,
    /// When the open slice opened.
    old: SimTime,
}

impl WindowedAdder {
    fn new(range: SimTime, now: SimTime) -> Self {
        Self {
            window: (range / 10).max(1),
            writer: 0,
            buf: [0; 9],
            i: 0,
            old: now,
        }
    }

    /// Closes the open slice, and zeroes the slices skipped by a gap in
    /// the traffic (Finagle's `expired`).
    fn expire(&mut self, now: SimTime) {
        let n = self.buf.len();
        self.buf[self.i] = self.writer;
        self.writer = 0;
        self.i = (self.i + 1) % n;
        let elapsed = now.saturating_sub(self.old) / self.window;
        let skip = (elapsed.saturating_sub(1)).min(n as u64) as usize;
        for _ in 0..skip {
            self.buf[self.i] = 0;
            self.i = (self.i + 1) % n;
        }
        self.old = now;
    }

    fn roll(&mut self, now: SimTime) {
        if now.saturating_sub(self.old) >= self.window {
            self.expire(now);
        }
    }

    fn add(&mut self, now: SimTime, x: i64) {
        self.roll(now);
        self.writer = self.writer.saturating_add(x);
    }

    fn sum(&mut self, now: SimTime) -> i64 {
        self.roll(now);
        self.buf
            .iter()
            .fold(self.writer, |sum, &slice| sum.saturating_add(slice))
    }
}

/// Finagle's retry budget (`RetryBudget.apply(ttl, minRetriesPerSec,
/// percentCanRetry)`): retries may be at most about `retry_percent` % of the
/// requests of the last `ttl`, plus `min_retries_per_sec` so that a client
/// with little traffic can still retry.
///
/// A token bucket whose tokens expire:
/// * each request deposits 1000 tokens ([`record_request`](Self::record_request));
/// * a retry withdraws `floor(1000 / (retry_percent / 100))` tokens (5000 at
///   20 %: one retry per 5 requests) if the balance covers it
///   ([`try_withdraw`](Self::try_withdraw)), else it is denied and nothing
///   is withdrawn;
/// * the balance is the sum of deposits and withdrawals made in roughly the
///   last `ttl` (10 slices of `ttl / 10`, see `WindowedAdder`) plus a
///   constant reserve of `min_retries_per_sec × ttl_in_whole_seconds ×
///   withdrawal` tokens. Withdrawals expire like deposits, so the reserve
///   allows `min_retries_per_sec × ttl` retries in any `ttl`, not a total.
///
/// With `retry_percent = 0` a request deposits nothing and a retry costs 1
/// token: only the reserve allows retries (Finagle's rule); with both 0 no
/// retry is ever allowed (Finagle's `RetryBudget.Empty`).
///
/// Finagle's quirk kept on purpose: slices close at the first operation
/// after they are due, so when operations are further apart than `ttl / 10`
/// tokens live somewhat longer than `ttl` (up to one gap per slice).
///
/// **Memory**: ten integers, whatever the traffic.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    deposit: i64,
    withdrawal: i64,
    reserve: i64,
    tokens: WindowedAdder,
    allowed: u64,
    denied: u64,
}

impl RetryBudget {
    /// A budget created at `now`. Finagle requires `ttl` in [1 s, 60 s] and
    /// `percentCanRetry` (a fraction) in [0, 1000]; here `ttl` is clamped to
    /// [1 s, 60 s] and `retry_percent` (in percent: 20.0 = Finagle's 0.2) to
    /// [0, 100 000]; NaN counts as 0.
    pub fn new(ttl: SimTime, min_retries_per_sec: u32, retry_percent: f64, now: SimTime) -> Self {
        let ttl = ttl.clamp(SECOND, 60 * SECOND);
        let percent = if retry_percent.is_nan() {
            0.0
        } else {
            retry_percent.clamp(0.0, SCALE * 100.0)
        };
        // Finagle's `(ScaleFactor / percentCanRetry).toInt`: truncated, and
        // an Int (at most i32::MAX); at least 1 for percent <= 100 000.
        let (deposit, withdrawal) = if percent == 0.0 {
            (0, 1)
        } else {
            (
                SCALE as i64,
                ((SCALE * 100.0 / percent) as i64).min(i64::from(i32::MAX)),
            )
        };
        let ttl_secs = (ttl / SECOND) as i64;
        let reserve = i64::from(min_retries_per_sec)
            .saturating_mul(ttl_secs)
            .saturating_mul(withdrawal);
        Self {
            deposit,
            withdrawal,
            reserve,
            tokens: WindowedAdder::new(ttl, now),
            allowed: 0,
            denied: 0,
        }
    }

    /// Records a request (first attempts only; not the retries): a deposit.
    pub fn record_request(&mut self, now: SimTime) {
        self.tokens.add(now, self.deposit);
    }

    /// May a retry go out at `now`? `true` withdraws its cost.
    pub fn try_withdraw(&mut self, now: SimTime) -> bool {
        let ok = self.count(now) >= self.withdrawal;
        if ok {
            self.tokens.add(now, -self.withdrawal);
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
        ok
    }

    fn count(&mut self, now: SimTime) -> i64 {
        self.tokens.sum(now).saturating_add(self.reserve)
    }

    /// Retries the budget would allow right now (Finagle's `balance`). It can
    /// be negative for a while when deposits expire before the withdrawals
    /// they paid for.
    pub fn balance(&mut self, now: SimTime) -> i64 {
        self.count(now) / self.withdrawal
    }

    /// Retries allowed so far.
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// Retries denied so far.
    pub fn denied(&self) -> u64 {
        self.denied
    }
}

impl Default for RetryBudget {
    /// Finagle's `RetryBudget()`: 10 s TTL, 10 retries a second, 20 %,
    /// created at time 0.
    fn default() -> Self {
        Self::new(10 * SECOND, 10, 20.0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::MILLISECOND;

    fn policy(kind: Backoff) -> BackoffPolicy {
        BackoffPolicy {
            kind,
            base: 100 * MILLISECOND,
            cap: SECOND,
        }
    }

    #[test]
    fn names_round_trip() {
        let names: Vec<_> = Backoff::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "none",
                "constant",
                "exponential",
                "full_jitter",
                "equal_jitter",
                "decorrelated_jitter"
            ]
        );
        for kind in Backoff::ALL {
            assert_eq!(Backoff::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Backoff::from_name("jitter"), None);
    }

    #[test]
    fn exponential_doubles_from_two_base_and_caps() {
        // Brooker's simulator: retry n waits min(cap, base * 2^n), n from 1.
        // base 100 ms, cap 1 s: 200, 400, 800, 1000, 1000 ms; attempt 0 is
        // base itself.
        let p = policy(Backoff::Exponential);
        let mut rng = RngStream::new(1, "backoff");
        let got: Vec<_> = (0..=5)
            .map(|n| p.delay(n, 0, &mut rng) / MILLISECOND)
            .collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn huge_attempts_saturate_instead_of_overflowing() {
        let p = policy(Backoff::Exponential);
        assert_eq!(p.ceiling(63), SECOND);
        assert_eq!(p.ceiling(64), SECOND);
        assert_eq!(p.ceiling(u32::MAX), SECOND);
        let huge = BackoffPolicy {
            base: SimTime::MAX / 2,
            cap: SimTime::MAX,
            ..p
        };
        assert_eq!(huge.ceiling(1), SimTime::MAX - 1);
        assert_eq!(huge.ceiling(2), SimTime::MAX);
        let zero = BackoffPolicy { base: 0, ..p };
        assert_eq!(zero.ceiling(200), 0);
        let mut rng = RngStream::new(1, "backoff");
        let full = BackoffPolicy {
            kind: Backoff::FullJitter,
            ..huge
        };
        let _ = full.delay(u32::MAX, 0, &mut rng);
    }

    #[test]
    fn none_and_constant() {
        let mut rng = RngStream::new(1, "backoff");
        assert_eq!(policy(Backoff::None).delay(3, 0, &mut rng), 0);
        assert_eq!(
            policy(Backoff::Constant).delay(30, 0, &mut rng),
            100 * MILLISECOND
        );
    }

    #[test]
    fn full_jitter_is_uniform_below_the_exponential() {
        // Attempt 3: temp = 800 ms; draws in [0, 800 ms], mean 400 ms (±1 %).
        let p = policy(Backoff::FullJitter);
        let mut rng = RngStream::new(7, "backoff");
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let d = p.delay(3, 0, &mut rng);
            assert!(d <= 800 * MILLISECOND);
            sum += d as f64;
        }
        let mean = sum / f64::from(n);
        let half = 400.0 * MILLISECOND as f64;
        assert!((mean - half).abs() < 0.01 * half, "mean {mean}");
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half() {
        // Attempt 3: temp = 800 ms; draws in [400, 800] ms, mean 600 ms.
        let p = policy(Backoff::EqualJitter);
        let mut rng = RngStream::new(7, "backoff");
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let d = p.delay(3, 0, &mut rng);
            assert!((400 * MILLISECOND..=800 * MILLISECOND).contains(&d));
            sum += d as f64;
        }
        let mean = sum / f64::from(n);
        let three_quarters = 600.0 * MILLISECOND as f64;
        assert!((mean - three_quarters).abs() < 0.01 * three_quarters);
    }

    #[test]
    fn decorrelated_jitter_stays_between_base_and_three_times_previous() {
        // Each delay in [base, min(cap, 3 × previous)], previous starting at
        // base: the first is in [100, 300] ms.
        let p = policy(Backoff::DecorrelatedJitter);
        let mut rng = RngStream::new(7, "backoff");
        let mut state = BackoffState::default();
        let mut reached_cap = false;
        for _ in 0..10_000 {
            let previous = state.previous.max(p.base);
            let d = state.next_delay(&p, &mut rng);
            assert!(d >= p.base && d <= (3 * previous).min(p.cap), "{d}");
            reached_cap |= d == p.cap;
        }
        assert!(reached_cap);
        assert_eq!(state.attempt, 10_000);
        let first = p.delay(1, 0, &mut rng);
        assert!((100 * MILLISECOND..=300 * MILLISECOND).contains(&first));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        for kind in Backoff::ALL {
            let p = policy(kind);
            let (mut a, mut b) = (RngStream::new(9, "r"), RngStream::new(9, "r"));
            let (mut sa, mut sb) = (BackoffState::default(), BackoffState::default());
            for _ in 0..50 {
                assert_eq!(sa.next_delay(&p, &mut a), sb.next_delay(&p, &mut b));
            }
        }
        // And a different seed gives a different full-jitter sequence.
        let p = policy(Backoff::FullJitter);
        let mut a = RngStream::new(9, "r");
        let mut b = RngStream::new(10, "r");
        let da: Vec<_> = (0..5).map(|_| p.delay(3, 0, &mut a)).collect();
        let db: Vec<_> = (0..5).map(|_| p.delay(3, 0, &mut b)).collect();
        assert_ne!(da, db);
    }

    #[test]
    fn budget_of_twenty_percent_allows_twenty_retries_per_hundred_requests() {
        // 20 %, no minimum: 100 deposits × 1000 = 100 000 tokens; a retry
        // costs 1000 / 0.2 = 5000, so 20 retries drain it and the 21st is
        // denied.
        let mut budget = RetryBudget::new(10 * SECOND, 0, 20.0, 0);
        for _ in 0..100 {
            budget.record_request(0);
        }
        assert_eq!(budget.balance(0), 20);
        for _ in 0..20 {
            assert!(budget.try_withdraw(SECOND));
        }
        assert!(!budget.try_withdraw(SECOND));
        assert_eq!((budget.allowed(), budget.denied()), (20, 1));
        assert_eq!(budget.balance(SECOND), 0);
    }

    #[test]
    fn deposits_expire_after_the_ttl() {
        // TTL 10 s: 10 slices of 1 s. Deposits made at 0 are alive at
        // 9.999 s (the 9 closed slices still hold them) and gone at 10 s.
        let mut alive = RetryBudget::new(10 * SECOND, 0, 20.0, 0);
        for _ in 0..100 {
            alive.record_request(0);
        }
        let mut gone = alive.clone();
        assert!(alive.try_withdraw(10 * SECOND - MILLISECOND));
        assert!(!gone.try_withdraw(10 * SECOND));
        // The same with an operation every second, each closing one slice:
        // 5 deposits = 1 retry, there from 1 s to 9 s, gone at 10 s.
        let mut b = RetryBudget::new(10 * SECOND, 0, 20.0, 0);
        for _ in 0..5 {
            b.record_request(0);
        }
        for s in 1..10 {
            assert_eq!(b.balance(s * SECOND), 1, "at {s} s");
        }
        assert_eq!(b.balance(10 * SECOND), 0);
    }

    #[test]
    fn the_minimum_allows_retries_without_requests_and_refills() {
        // 1 retry/s over a 10 s TTL, 0 %: a reserve of 1 × 10 × 1 = 10
        // retries in any TTL. Ten pass at 0, the 11th is denied; the
        // withdrawals expire with their slice, so at 10 s ten more pass.
        let mut budget = RetryBudget::new(10 * SECOND, 1, 0.0, 0);
        for _ in 0..10 {
            assert!(budget.try_withdraw(0));
        }
        assert!(!budget.try_withdraw(0));
        assert!(!budget.try_withdraw(5 * SECOND));
        // Requests earn nothing at 0 %.
        budget.record_request(5 * SECOND);
        assert!(!budget.try_withdraw(5 * SECOND));
        for _ in 0..10 {
            assert!(budget.try_withdraw(10 * SECOND));
        }
        assert!(!budget.try_withdraw(10 * SECOND));
    }

    #[test]
    fn an_empty_budget_never_allows() {
        let mut budget = RetryBudget::new(10 * SECOND, 0, 0.0, 0);
        for t in 0..100 {
            budget.record_request(t);
            assert!(!budget.try_withdraw(t));
        }
        assert_eq!(budget.denied(), 100);
    }

    #[test]
    fn steady_traffic_retries_about_the_percentage() {
        // 100 requests/s for 60 s, each followed by a retry attempt: about
        // 20 % of 6000 = 1200 retries pass (one per 5 requests).
        let mut budget = RetryBudget::new(10 * SECOND, 0, 20.0, 0);
        for k in 0..6000u64 {
            let now = k * 10 * MILLISECOND;
            budget.record_request(now);
            budget.try_withdraw(now);
        }
        assert_eq!(budget.allowed(), 1200);
        assert_eq!(budget.allowed() + budget.denied(), 6000);
    }

    #[test]
    fn finagle_defaults_and_clamping() {
        // Default: 10 s, 10/s, 20 %: reserve 10 × 10 × 5000 tokens = 100
        // retries with no traffic.
        let mut budget = RetryBudget::default();
        assert_eq!(budget.balance(0), 100);
        // A 0 s TTL is clamped to 1 s: reserve 10 × 1 = 10 retries.
        let mut short = RetryBudget::new(0, 10, 20.0, 0);
        assert_eq!(short.balance(0), 10);
        let mut nan = RetryBudget::new(SECOND, 0, f64::NAN, 0);
        nan.record_request(0);
        assert!(!nan.try_withdraw(0));
    }
}
