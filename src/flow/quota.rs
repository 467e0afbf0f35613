//! A third-party API's quota per API key, answered with HTTP 429 and a
//! `Retry-After` header.
//!
//! The provider allows `limit` calls per `window` for each API key, counted
//! in fixed windows aligned to multiples of `window` from time 0: with a
//! 60 s window the windows are [0, 60 s), [60 s, 120 s)... This is how most
//! providers document a "per minute" quota (the counter resets on the
//! minute, not 60 s after your first call). A call at exactly a window
//! boundary belongs to the new window. A call over the limit is refused
//! with `retry_after` = the time left until the current window ends, the
//! earliest moment a retry can succeed.
//!
//! **Whole seconds.** A real `Retry-After` header carries whole seconds
//! (RFC 9110 §10.2.3: `delay-seconds` is a non-negative integer). The
//! provider rounds the exact wait **up**: a client that honours a
//! rounded-down value would come back before the window ends and be refused
//! again. [`QuotaAnswer::retry_after_header_s`] gives the header value and
//! [`QuotaAnswer::advertised_retry_after`] the same as simulated time: the
//! wait a well-behaved simulated client should use.
//!
//! **Memory.** Per key only the current window's number and its call count
//! (16 bytes a key), never a history: memory is fixed by the number of keys.
//! Keys are `0..keys`, fixed at construction; a call with a key outside that
//! range is treated as a key with no quota (limited, like `limit = 0`).
//! Times must not go backwards for a key.

use crate::engine::time::{SimTime, SECOND};

/// The provider's answer to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaAnswer {
    /// Within quota: the call goes through.
    Allowed,
    /// HTTP 429 Too Many Requests.
    Limited {
        /// Exact time left until the current window ends (always > 0).
        retry_after: SimTime,
    },
}

impl QuotaAnswer {
    /// Whether the call was allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }

    /// The `Retry-After` header in whole seconds, rounded up (`None` when
    /// allowed). At least 1, since the exact wait is always positive.
    pub fn retry_after_header_s(&self) -> Option<u64> {
        match *self {
            Self::Allowed => None,
            Self::Limited { retry_after } => Some(retry_after.div_ceil(SECOND)),
        }
    }

    /// The advertised wait as simulated time: the header's whole seconds.
    /// Never shorter than the exact `retry_after`.
    pub fn advertised_retry_after(&self) -> Option<SimTime> {
        self.retry_after_header_s()
            .map(|s| s.saturating_mul(SECOND))
    }
}

/// Per key: which window the count belongs to, and the calls allowed in it.
#[derive(Clone, Copy, Debug, Default)]
struct KeyWindow {
    window_id: u64,
    count: u64,
}

/// A provider's fixed-window quota of `limit` calls per `window` per key.
#[derive(Clone, Debug)]
pub struct Quota {
    limit: u64,
    window: SimTime,
    keys: Vec<KeyWindow>,
    allowed: u64,
    limited: u64,
}

impl Quota {
    /// A quota of `limit` calls per `window` (at least 1 ns) for each of the
    /// API keys `0..keys`.
    pub fn new(limit: u64, window: SimTime, keys: usize) -> Self {
        Self {
            limit,
            window: window.max(1),
            keys: vec![KeyWindow::default(); keys],
            allowed: 0,
            limited: 0,
        }
    }

    /// A call with API key `key` at `now`: allowed (and counted against the
    /// key's quota) or limited with the time until the window ends.
    pub fn try_call(&mut self, key: usize, now: SimTime) -> QuotaAnswer {
        let window_id = now / self.window;
        let answer = match self.keys.get_mut(key) {
            Some(state) => {
                if state.window_id != window_id {
                    state.window_id = window_id;
                    state.count = 0;
                }
                if state.count < self.limit {
                    state.count += 1;
                    QuotaAnswer::Allowed
                } else {
                    QuotaAnswer::Limited {
                        retry_after: self.until_window_end(now),
                    }
                }
            }
            None => QuotaAnswer::Limited {
                retry_after: self.until_window_end(now),
            },
        };
        match answer {
            QuotaAnswer::Allowed => self.allowed += 1,
            QuotaAnswer::Limited { .. } => self.limited += 1,
        }
        answer
    }

    /// Calls `key` may still make in the window containing `now` (what a
    /// provider's `X-RateLimit-Remaining` header reports). Does not count as
    /// a call.
    pub fn remaining(&self, key: usize, now: SimTime) -> u64 {
        match self.keys.get(key) {
            Some(state) if state.window_id == now / self.window => {
                self.limit.saturating_sub(state.count)
            }
            Some(_) => self.limit,
            None => 0,
        }
    }

    /// Time from `now` until the window containing it ends (in `1..=window`).
    pub fn until_window_end(&self, now: SimTime) -> SimTime {
        self.window - now % self.window
    }

    /// Calls allowed per window per key.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The window length.
    pub fn window(&self) -> SimTime {
        self.window
    }

    /// Number of API keys.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Calls allowed so far, all keys.
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// Calls answered 429 so far, all keys.
    pub fn limited(&self) -> u64 {
        self.limited
    }
}

/// A provider's token bucket per key, kept as GCRA (the generic cell rate
/// algorithm of ATM networks, as redis-cell and many API gateways run it):
/// exact integer arithmetic on one "theoretical arrival time" per key.
///
/// A key earns one call every `interval` (the quota's window ÷ its limit)
/// and may save up `burst` of them. A call finds the bucket's tokens as
/// `burst − (tat − now) / interval`; it is allowed while that is at least 1,
/// and takes one. With `charge_refused` a refused call takes one too, down
/// to a debt of `burst` tokens: providers that count unsuccessful requests
/// against the limit (OpenAI documents it: "unsuccessful requests
/// contribute to your per-minute limit, so continuously resending a
/// request won't work") keep a client that hammers locked out.
///
/// Calls spaced at least `interval` apart are never refused, whatever the
/// burst: the pacing rule, exact because nothing here rounds.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    interval: SimTime,
    /// `(burst − 1) × interval`: how far ahead of now `tat` may be for a
    /// call to pass.
    tolerance: SimTime,
    /// How far ahead `tat` may be pushed by refused calls (a debt of
    /// `burst` tokens).
    debt_limit: SimTime,
    charge_refused: bool,
    tat: Vec<SimTime>,
    allowed: u64,
    limited: u64,
}

impl TokenBucket {
    /// `limit` calls per `window` for each of the keys `0..keys`, saving up
    /// to `burst` (at least 1).
    pub fn new(limit: u64, window: SimTime, burst: u64, charge_refused: bool, keys: usize) -> Self {
        let interval = (window / limit.max(1)).max(1);
        let burst = burst.max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            debt_limit: interval.saturating_mul(burst.saturating_mul(2)),
            charge_refused,
            tat: vec![0; keys],
            allowed: 0,
            limited: 0,
        }
    }

    /// A call with API key `key` at `now`.
    pub fn try_call(&mut self, key: usize, now: SimTime) -> QuotaAnswer {
        let Some(tat) = self.tat.get_mut(key) else {
            self.limited += 1;
            return QuotaAnswer::Limited {
                retry_after: self.interval,
            };
        };
        let base = (*tat).max(now);
        if base - now <= self.tolerance {
            *tat = base + self.interval;
            self.allowed += 1;
            return QuotaAnswer::Allowed;
        }
        if self.charge_refused {
            *tat = (base + self.interval).min(now.saturating_add(self.debt_limit));
        }
        self.limited += 1;
        QuotaAnswer::Limited {
            retry_after: (*tat - self.tolerance).saturating_sub(now).max(1),
        }
    }

    /// Time between two calls a key earns.
    pub fn interval(&self) -> SimTime {
        self.interval
    }

    /// Number of API keys.
    pub fn keys(&self) -> usize {
        self.tat.len()
    }

    /// Calls allowed so far, all keys.
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// Calls answered 429 so far, all keys.
    pub fn limited(&self) -> u64 {
        self.limited
    }
}

/// Either way of counting a provider's quota.
#[derive(Clone, Debug)]
pub enum Limiter {
    /// Fixed windows: [`Quota`].
    Window(Quota),
    /// A token bucket: [`TokenBucket`].
    Bucket(TokenBucket),
}

impl Limiter {
    /// A call with API key `key` at `now`.
    pub fn try_call(&mut self, key: usize, now: SimTime) -> QuotaAnswer {
        match self {
            Limiter::Window(q) => q.try_call(key, now),
            Limiter::Bucket(b) => b.try_call(key, now),
        }
    }

    /// Number of API keys.
    pub fn keys(&self) -> usize {
        match self {
            Limiter::Window(q) => q.keys(),
            Limiter::Bucket(b) => b.keys(),
        }
    }

    /// Calls answered 429 so far, all keys.
    pub fn limited(&self) -> u64 {
        match self {
            Limiter::Window(q) => q.limited(),
            Limiter::Bucket(b) => b.limited(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{millis, secs};

    const S: SimTime = SECOND;

    fn limited(retry_after: SimTime) -> QuotaAnswer {
        QuotaAnswer::Limited { retry_after }
    }

    #[test]
    fn three_per_minute_then_429_until_the_minute_ends() {
        let mut q = Quota::new(3, 60 * S, 1);
        assert_eq!(q.try_call(0, 0), QuotaAnswer::Allowed);
        assert_eq!(q.try_call(0, S), QuotaAnswer::Allowed);
        assert_eq!(q.try_call(0, 2 * S), QuotaAnswer::Allowed);
        let fourth = q.try_call(0, 3 * S);
        assert_eq!(fourth, limited(57 * S));
        assert_eq!(fourth.retry_after_header_s(), Some(57));
        assert_eq!(fourth.advertised_retry_after(), Some(57 * S));
        assert_eq!(q.remaining(0, 3 * S), 0);
        // Refusals do not consume quota and keep pointing at the same end.
        assert_eq!(q.try_call(0, 59 * S), limited(S));
        // The new window.
        assert_eq!(q.remaining(0, 60 * S), 3);
        assert_eq!(q.try_call(0, 60 * S), QuotaAnswer::Allowed);
        assert_eq!((q.allowed(), q.limited()), (4, 2));
    }

    #[test]
    fn a_call_at_the_boundary_belongs_to_the_new_window() {
        let mut q = Quota::new(1, 60 * S, 1);
        assert!(q.try_call(0, 60 * S - 1).is_allowed());
        // One nanosecond later is the next window: allowed again.
        assert!(q.try_call(0, 60 * S).is_allowed());
        // And the rest of that window is limited, until 120 s.
        assert_eq!(q.try_call(0, 60 * S), limited(60 * S));
        assert!(q.try_call(0, 120 * S).is_allowed());
    }

    #[test]
    fn header_rounds_the_wait_up_to_whole_seconds() {
        let mut q = Quota::new(0, 60 * S, 1);
        let a = q.try_call(0, secs(3.2));
        assert_eq!(a, limited(secs(56.8)));
        assert_eq!(a.retry_after_header_s(), Some(57));
        // 1 ns before the boundary: exact wait 1 ns, header still says 1 s.
        let b = q.try_call(0, 60 * S - 1);
        assert_eq!(b, limited(1));
        assert_eq!(b.retry_after_header_s(), Some(1));
        // A sub-second window is advertised as one second: late, never early.
        let mut fast = Quota::new(0, millis(250.0), 1);
        let c = fast.try_call(0, millis(100.0));
        assert_eq!(c, limited(millis(150.0)));
        assert_eq!(c.advertised_retry_after(), Some(S));
        assert_eq!(QuotaAnswer::Allowed.retry_after_header_s(), None);
    }

    #[test]
    fn keys_have_independent_quotas() {
        let mut q = Quota::new(2, 10 * S, 3);
        assert!(q.try_call(0, 0).is_allowed());
        assert!(q.try_call(0, S).is_allowed());
        assert!(!q.try_call(0, 2 * S).is_allowed());
        assert!(q.try_call(1, 2 * S).is_allowed());
        assert!(q.try_call(1, 3 * S).is_allowed());
        assert!(!q.try_call(1, 4 * S).is_allowed());
        assert_eq!(q.remaining(2, 4 * S), 2);
        assert_eq!((q.allowed(), q.limited()), (4, 2));
    }

    #[test]
    fn limit_zero_limits_everything_until_the_window_end() {
        let mut q = Quota::new(0, 60 * S, 2);
        assert_eq!(q.try_call(0, 0), limited(60 * S));
        assert_eq!(q.try_call(1, 61 * S), limited(59 * S));
        assert_eq!(q.try_call(0, 120 * S), limited(60 * S));
        assert_eq!((q.allowed(), q.limited()), (0, 3));
    }

    #[test]
    fn unknown_keys_are_limited() {
        let mut q = Quota::new(5, 60 * S, 1);
        assert_eq!(q.try_call(1, 10 * S), limited(50 * S));
        assert_eq!(q.remaining(1, 10 * S), 0);
        assert_eq!(q.keys(), 1);
    }

    #[test]
    fn skipped_windows_reset_the_count() {
        let mut q = Quota::new(1, 60 * S, 1);
        assert!(q.try_call(0, 30 * S).is_allowed());
        assert!(q.try_call(0, 1_000 * S).is_allowed());
        assert!(!q.try_call(0, 1_019 * S).is_allowed());
        assert_eq!(q.try_call(0, 1_019 * S), limited(S));
    }

    #[test]
    fn at_most_limit_per_aligned_window_but_twice_that_across_a_boundary() {
        // The known weakness of fixed windows, as the provider has it:
        // 2 × limit calls can succeed within one window length if they
        // straddle a boundary.
        let mut q = Quota::new(10, 60 * S, 1);
        let late = (0..20)
            .filter(|_| q.try_call(0, 59 * S).is_allowed())
            .count();
        let early = (0..20)
            .filter(|_| q.try_call(0, 60 * S).is_allowed())
            .count();
        assert_eq!((late, early), (10, 10));
    }
    #[test]
    fn a_bucket_saves_up_its_burst_then_earns_one_call_per_interval() {
        // 60 a minute: one call a second, up to 3 saved.
        let mut b = TokenBucket::new(60, 60 * S, 3, false, 1);
        assert_eq!(b.interval(), S);
        // Full at the start: three calls at once pass, the fourth waits
        // until the next token, 1 s later.
        for _ in 0..3 {
            assert!(b.try_call(0, 0).is_allowed());
        }
        assert_eq!(b.try_call(0, 0), limited(S));
        assert_eq!(b.try_call(0, millis(400.0)), limited(millis(600.0)));
        // Refusals cost nothing without charge_refused: at 1 s one passes.
        assert!(b.try_call(0, S).is_allowed());
        assert!(!b.try_call(0, S).is_allowed());
        // After 10 s idle the bucket is full again, but holds only 3.
        let passed = (0..10)
            .filter(|_| b.try_call(0, 11 * S).is_allowed())
            .count();
        assert_eq!(passed, 3);
        assert_eq!((b.allowed(), b.limited()), (7, 10));
    }

    #[test]
    fn calls_spaced_at_the_interval_are_never_refused() {
        // Pacing at exactly the quota: 10 000 calls, one every 100 ms,
        // against 600 a minute with no burst to spare.
        let mut b = TokenBucket::new(600, 60 * S, 1, true, 1);
        let refused = (1..=10_000u64)
            .filter(|&k| !b.try_call(0, k * millis(100.0)).is_allowed())
            .count();
        assert_eq!(refused, 0);
        // One nanosecond early is refused.
        assert!(!b.try_call(0, 10_001 * millis(100.0) - 1).is_allowed());
    }

    #[test]
    fn charged_refusals_push_the_next_allowed_call_back_down_to_a_debt_of_one_burst() {
        // One a second, burst 2, refusals charged.
        let mut b = TokenBucket::new(60, 60 * S, 2, true, 1);
        assert!(b.try_call(0, 0).is_allowed());
        assert!(b.try_call(0, 0).is_allowed());
        // Empty: tat = 2 s, tolerance 1 s. Each refusal moves tat on 1 s
        // and says so: wait 2 s, then 3 s, and no longer (a debt of 2
        // tokens puts tat at most 4 s ahead, 3 s beyond the tolerance).
        assert_eq!(b.try_call(0, 0), limited(2 * S));
        assert_eq!(b.try_call(0, 0), limited(3 * S));
        assert_eq!(b.try_call(0, 0), limited(3 * S));
        // A client that keeps calling every 500 ms never gets through.
        let through = (1..=40u64)
            .filter(|&k| b.try_call(0, k * millis(500.0)).is_allowed())
            .count();
        assert_eq!(through, 0);
        // One that waits what it is told does.
        let now = 20 * S;
        let QuotaAnswer::Limited { retry_after } = b.try_call(0, now) else {
            panic!("still in debt");
        };
        assert!(b.try_call(0, now + retry_after).is_allowed());
    }

    #[test]
    fn a_limiter_routes_to_its_rule_and_unknown_bucket_keys_are_limited() {
        let mut l = Limiter::Bucket(TokenBucket::new(1, S, 1, false, 2));
        assert_eq!(l.keys(), 2);
        assert!(l.try_call(1, 0).is_allowed());
        assert!(!l.try_call(2, 0).is_allowed());
        let mut w = Limiter::Window(Quota::new(1, S, 1));
        assert!(w.try_call(0, 0).is_allowed());
        assert!(!w.try_call(0, 1).is_allowed());
        assert_eq!((l.limited(), w.limited()), (1, 1));
    }
}
