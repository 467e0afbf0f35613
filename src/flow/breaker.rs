//! A circuit breaker with resilience4j's semantics (count-based sliding
//! window), so a scenario shows what a real Java service configured with
//! resilience4j would do, not an idealised breaker.
//!
//! ```text
//!             failure or slow-call rate >= threshold
//!   CLOSED ───────────────────────────────────────────> OPEN
//!     ^                                                 │  first try_acquire
//!     │ half-open rates below both thresholds           │  strictly after
//!     │ (fresh, empty window)                           │  wait_duration_in_open_state
//!     │                                                 v
//!     └─────────────────────────────────────────── HALF_OPEN
//!                        half-open rate >= threshold: back to OPEN (new wait)
//! ```
//!
//! The rules below are those of resilience4j's `CircuitBreakerStateMachine`
//! and `CircuitBreakerMetrics` (checked against its source, 2.x):
//!
//! * **Closed.** Every call is permitted. Each outcome goes into a ring of the
//!   last `sliding_window_size` outcomes ("subtract on evict"). No rate exists
//!   until the ring holds at least `min(minimum_number_of_calls,
//!   sliding_window_size)` outcomes; from then on, after each outcome, the
//!   breaker opens when the failure rate **or** the slow-call rate is
//!   `>=` its threshold (percent).
//! * **Slow calls.** A call is slow when its duration is strictly **greater
//!   than** `slow_call_duration_threshold` (resilience4j:
//!   `toNanos(duration) > slowCallDurationThresholdInNanos`; its javadoc: "the
//!   duration threshold above which calls are considered as slow"). A call
//!   lasting exactly the threshold is not slow. Slow failures count both as
//!   failures and as slow calls.
//! * **Open.** Calls are rejected (counted in [`CircuitBreaker::not_permitted`])
//!   until the wait has elapsed. The move to half-open is lazy
//!   (`automaticTransitionFromOpenToHalfOpenEnabled = false`, the default): it
//!   happens on the first `try_acquire` whose time is strictly after
//!   `opened_at + wait_duration_in_open_state` (`Instant.isAfter`), and that
//!   same call is then judged by the half-open rules.
//! * **Half-open.** A fresh count window of `permitted_number_of_calls_in_half_open_state`
//!   outcomes. Only that many calls are permitted in total; later ones are
//!   rejected until the state changes (permits are not handed back when a
//!   call completes, so a trial call that never finishes keeps the breaker
//!   half-open, as in resilience4j). Once `min(minimum_number_of_calls,
//!   permitted)` outcomes are recorded the rates decide: either rate `>=` its
//!   threshold: open again (a new wait, [`CircuitBreaker::opens`] + 1); both
//!   below: closed, with a fresh, empty sliding window.
//!
//! **Late results.** A call permitted in one state may finish in another;
//! like resilience4j, the outcome is recorded in the window of the state the
//! breaker is in *when the result arrives*. While **open**, it is recorded in
//! the window the breaker carried into the open state (resilience4j keeps the
//! previous state's metrics there) but can never cause a transition, and that
//! window is thrown away on the move to half-open: for every decision it is
//! ignored. A late result arriving while half-open counts toward the
//! half-open decision, as resilience4j cannot tell it from a trial call.
//!
//! Rates are computed as resilience4j does, in `f32`:
//! `count * 100.0 / total`, compared with the `f32` threshold, so a rate
//! exactly at a threshold rounds the same way. Basic IEEE `f32` arithmetic is
//! exactly rounded on every target (native and wasm): still deterministic.
//!
//! **Memory.** Two fixed rings (one byte per outcome) sized by the
//! configuration, allocated once in [`CircuitBreaker::new`]; nothing grows
//! with the run length.

use crate::engine::time::{SimTime, SECOND};

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow; outcomes are counted in the sliding window.
    Closed,
    /// Calls are rejected until the wait in the open state has elapsed.
    Open,
    /// A limited number of trial calls decide whether to close or re-open.
    HalfOpen,
}

impl BreakerState {
    /// A number for charting the state as a step line: Closed = 0,
    /// HalfOpen = 1, Open = 2, so "higher" reads as "more closed off".
    pub const fn code(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }

    /// The state's name as resilience4j prints it, in snake case.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

/// resilience4j's `CircuitBreakerConfig` (count-based window only). Field
/// names follow resilience4j's so a reader can map a Spring `application.yml`
/// onto a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Percent (0-100]: open when the failure rate is `>=` this. `f32`, as
    /// resilience4j's `float`, so rates compare identically.
    pub failure_rate_threshold: f32,
    /// Percent (0-100]: open when the slow-call rate is `>=` this. The
    /// default, 100, means "only when every call in the window is slow".
    pub slow_call_rate_threshold: f32,
    /// A call lasting strictly longer than this is slow (`>`, not `>=`).
    pub slow_call_duration_threshold: SimTime,
    /// The window holds the outcomes of the last this-many calls. At least 1.
    pub sliding_window_size: u32,
    /// No rate (so no transition) until this many outcomes are in the window;
    /// capped at the window size (resilience4j does the same for count-based
    /// windows), and at the permitted calls when half-open. At least 1.
    pub minimum_number_of_calls: u32,
    /// How long the breaker stays open before a call may try half-open.
    pub wait_duration_in_open_state: SimTime,
    /// Trial calls permitted while half-open, and the size of the half-open
    /// window. At least 1.
    pub permitted_number_of_calls_in_half_open_state: u32,
}

impl Default for BreakerConfig {
    /// resilience4j's defaults (`CircuitBreakerConfig.DEFAULT_*`).
    fn default() -> Self {
        Self {
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold: 60 * SECOND,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            wait_duration_in_open_state: 60 * SECOND,
            permitted_number_of_calls_in_half_open_state: 10,
        }
    }
}

/// Outcome flags stored in a window slot.
const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// A count-based sliding window: a ring of the last `capacity` outcomes
/// with running totals (resilience4j's `FixedSizeSlidingWindowMetrics`).
#[derive(Clone, Debug)]
struct Window {
    slots: Vec<u8>,
    /// Next slot to write.
    head: usize,
    /// Outcomes held (<= slots.len()).
    len: u32,
    failures: u32,
    slow: u32,
    /// `minimum_number_of_calls`, already capped at the capacity.
    minimum: u32,
}

impl Window {
    fn new(capacity: u32, minimum: u32) -> Self {
        let capacity = capacity.max(1);
        Self {
            slots: vec![0; capacity as usize],
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            minimum: minimum.clamp(1, capacity),
        }
    }

    /// Empties the window without reallocating.
    fn reset(&mut self) {
        self.slots.fill(0);
        self.head = 0;
        self.len = 0;
        self.failures = 0;
        self.slow = 0;
    }

    fn record(&mut self, flags: u8) {
        let capacity = self.slots.len();
        let Some(slot) = self.slots.get_mut(self.head) else {
            return;
        };
        if self.len as usize == capacity {
            // Full: the oldest outcome (at head) leaves the window.
            self.failures -= u32::from(*slot & FAILED != 0);
            self.slow -= u32::from(*slot & SLOW != 0);
        } else {
            self.len += 1;
        }
        *slot = flags;
        self.failures += u32::from(flags & FAILED != 0);
        self.slow += u32::from(flags & SLOW != 0);
        self.head = (self.head + 1) % capacity;
    }

    /// resilience4j's `count * 100.0f / total`, or `None` (its `-1`) below
    /// the minimum number of calls.
    fn rate(&self, count: u32) -> Option<f32> {
        if self.len == 0 || self.len < self.minimum {
            return None;
        }
        Some(count as f32 * 100.0 / self.len as f32)
    }

    /// `None` below the minimum number of calls, else whether either rate
    /// reached its threshold.
    fn exceeded(&self, config: &BreakerConfig) -> Option<bool> {
        let failure = self.rate(self.failures)?;
        let slow = self.rate(self.slow)?;
        Some(failure >= config.failure_rate_threshold || slow >= config.slow_call_rate_threshold)
    }
}

/// A resilience4j circuit breaker driven by simulated time. The simulator
/// calls [`try_acquire`](Self::try_acquire) before each call and
/// [`on_result`](Self::on_result) when a permitted call ends.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    changed_at: SimTime,
    /// While open: calls are rejected until strictly after this time.
    open_until: SimTime,
    /// While open: whether the carried window is the half-open one.
    open_from_half_open: bool,
    closed: Window,
    half_open: Window,
    /// Trial calls still permitted in the current half-open state.
    permits: u32,
    opens: u64,
    not_permitted: u64,
}

impl CircuitBreaker {
    /// A closed breaker at time 0. Sizes below 1 are raised to 1 (where
    /// resilience4j's builder would throw).
    pub fn new(config: BreakerConfig) -> Self {
        let mut config = config;
        config.sliding_window_size = config.sliding_window_size.max(1);
        config.minimum_number_of_calls = config.minimum_number_of_calls.max(1);
        config.permitted_number_of_calls_in_half_open_state =
            config.permitted_number_of_calls_in_half_open_state.max(1);
        let minimum = config.minimum_number_of_calls;
        let permitted = config.permitted_number_of_calls_in_half_open_state;
        Self {
            closed: Window::new(config.sliding_window_size, minimum),
            half_open: Window::new(permitted, minimum),
            config,
            state: BreakerState::Closed,
            changed_at: 0,
            open_until: 0,
            open_from_half_open: false,
            permits: 0,
            opens: 0,
            not_permitted: 0,
        }
    }

    /// May a call start at `now`? `false` means rejected without calling the
    /// backend (resilience4j's `CallNotPermittedException`), counted in
    /// [`not_permitted`](Self::not_permitted). May move Open to HalfOpen.
    pub fn try_acquire(&mut self, now: SimTime) -> bool {
        if self.state == BreakerState::Open && now > self.open_until {
            self.half_open_at(now);
        }
        let permitted = match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if self.permits > 0 {
                    self.permits -= 1;
                    true
                } else {
                    false
                }
            }
        };
        if !permitted {
            self.not_permitted += 1;
        }
        permitted
    }

    /// Records the outcome of a permitted call that took `duration` and ended
    /// at `now`; may open or close the breaker. See the module docs for
    /// results that arrive after the state changed.
    pub fn on_result(&mut self, now: SimTime, duration: SimTime, success: bool) {
        // Strictly greater, as resilience4j (see the module docs).
        let slow = duration > self.config.slow_call_duration_threshold;
        let flags = (u8::from(!success) * FAILED) | (u8::from(slow) * SLOW);
        match self.state {
            BreakerState::Closed => {
                self.closed.record(flags);
                if self.closed.exceeded(&self.config) == Some(true) {
                    self.open_at(now, false);
                }
            }
            BreakerState::HalfOpen => {
                self.half_open.record(flags);
                match self.half_open.exceeded(&self.config) {
                    Some(true) => self.open_at(now, true),
                    Some(false) => self.close_at(now),
                    None => {}
                }
            }
            BreakerState::Open => {
                // Recorded, never decisive (resilience4j's OpenState.onError).
                if self.open_from_half_open {
                    self.half_open.record(flags);
                } else {
                    self.closed.record(flags);
                }
            }
        }
    }

    fn open_at(&mut self, now: SimTime, from_half_open: bool) {
        self.state = BreakerState::Open;
        self.changed_at = now;
        self.open_until = now.saturating_add(self.config.wait_duration_in_open_state);
        self.open_from_half_open = from_half_open;
        self.opens += 1;
    }

    fn half_open_at(&mut self, now: SimTime) {
        self.state = BreakerState::HalfOpen;
        self.changed_at = now;
        self.half_open.reset();
        self.permits = self.config.permitted_number_of_calls_in_half_open_state;
    }

    fn close_at(&mut self, now: SimTime) {
        self.state = BreakerState::Closed;
        self.changed_at = now;
        self.closed.reset();
    }

    /// The current state. Open is reported until a `try_acquire` moves it
    /// on, even after the wait has elapsed (the transition is lazy).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When the state last changed (0 if it never did), for charting.
    pub fn changed_at(&self) -> SimTime {
        self.changed_at
    }

    /// Transitions to Open so far, from Closed or from HalfOpen.
    pub fn opens(&self) -> u64 {
        self.opens
    }

    /// Calls rejected so far, in Open or HalfOpen. Cumulative over the run
    /// (resilience4j's metric restarts with each state).
    pub fn not_permitted(&self) -> u64 {
        self.not_permitted
    }

    /// The configuration in use (sizes raised to at least 1).
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn window(&self) -> &Window {
        match self.state {
            BreakerState::Closed => &self.closed,
            BreakerState::HalfOpen => &self.half_open,
            BreakerState::Open if self.open_from_half_open => &self.half_open,
            BreakerState::Open => &self.closed,
        }
    }

    /// Outcomes in the current state's window (resilience4j's
    /// `getNumberOfBufferedCalls`).
    pub fn buffered_calls(&self) -> u32 {
        self.window().len
    }

    /// Failure rate in percent of the current window, `None` below the
    /// minimum number of calls (resilience4j returns -1 there).
    pub fn failure_rate(&self) -> Option<f32> {
        let window = self.window();
        window.rate(window.failures)
    }

    /// Slow-call rate in percent of the current window, `None` below the
    /// minimum number of calls.
    pub fn slow_call_rate(&self) -> Option<f32> {
        let window = self.window();
        window.rate(window.slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::MILLISECOND;

    const FAST: SimTime = MILLISECOND;

    fn config(window: u32, min: u32, failure_threshold: f32) -> BreakerConfig {
        BreakerConfig {
            failure_rate_threshold: failure_threshold,
            sliding_window_size: window,
            minimum_number_of_calls: min,
            wait_duration_in_open_state: 10 * SECOND,
            permitted_number_of_calls_in_half_open_state: 3,
            ..BreakerConfig::default()
        }
    }

    /// Runs one permitted call ending at `now`; returns the state after it.
    fn call(b: &mut CircuitBreaker, now: SimTime, success: bool) -> BreakerState {
        assert!(b.try_acquire(now), "call at {now} should be permitted");
        b.on_result(now, FAST, success);
        b.state()
    }

    /// Trips a window-10, min-5, 50 % breaker with 5 failures at t = 1..=5 s.
    fn tripped() -> CircuitBreaker {
        let mut b = CircuitBreaker::new(config(10, 5, 50.0));
        for i in 1..=5 {
            call(&mut b, i * SECOND, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        b
    }

    #[test]
    fn defaults_are_resilience4j_defaults() {
        let c = BreakerConfig::default();
        assert_eq!(c.failure_rate_threshold, 50.0);
        assert_eq!(c.slow_call_rate_threshold, 100.0);
        assert_eq!(c.slow_call_duration_threshold, 60 * SECOND);
        assert_eq!(c.sliding_window_size, 100);
        assert_eq!(c.minimum_number_of_calls, 100);
        assert_eq!(c.wait_duration_in_open_state, 60 * SECOND);
        assert_eq!(c.permitted_number_of_calls_in_half_open_state, 10);
        let b = CircuitBreaker::new(c);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!((b.opens(), b.not_permitted(), b.changed_at()), (0, 0, 0));
    }

    #[test]
    fn state_codes_for_charting() {
        assert_eq!(BreakerState::Closed.code(), 0);
        assert_eq!(BreakerState::HalfOpen.code(), 1);
        assert_eq!(BreakerState::Open.code(), 2);
        assert_eq!(BreakerState::HalfOpen.name(), "half_open");
    }

    #[test]
    fn below_minimum_calls_never_trips_then_the_fifth_failure_does() {
        // Window 10, min 5, 50 %: after 4 failures only 4 < 5 outcomes are
        // buffered, so no rate exists and the breaker stays closed. The 5th
        // failure makes 5/5 = 100 % >= 50 %: open, at that call's time.
        let mut b = CircuitBreaker::new(config(10, 5, 50.0));
        for i in 1..=4 {
            assert_eq!(call(&mut b, i * SECOND, false), BreakerState::Closed);
            assert_eq!(b.failure_rate(), None);
        }
        assert_eq!(call(&mut b, 5 * SECOND, false), BreakerState::Open);
        assert_eq!(b.opens(), 1);
        assert_eq!(b.changed_at(), 5 * SECOND);
        assert_eq!(b.failure_rate(), Some(100.0));
    }

    #[test]
    fn four_successes_then_four_failures_trip_exactly_at_the_eighth_call() {
        // Window 10, min 8, 50 %: calls 1-7 are below the minimum (7 < 8);
        // call 8 gives 4 failures / 8 = 50 %, and 50 >= 50 trips.
        let mut b = CircuitBreaker::new(config(10, 8, 50.0));
        for i in 1..=4 {
            assert_eq!(call(&mut b, i, true), BreakerState::Closed);
        }
        for i in 5..=7 {
            assert_eq!(call(&mut b, i, false), BreakerState::Closed);
        }
        assert_eq!(b.failure_rate(), None);
        assert_eq!(call(&mut b, 8, false), BreakerState::Open);
    }

    #[test]
    fn exactly_at_threshold_trips_just_below_does_not() {
        // Window 10, min 10, 40 %: 7 successes then 3 failures = 3/10 = 30 %
        // < 40 %: closed. An 11th call, a failure, evicts the oldest
        // success: 4/10 = 40 % >= 40 %: open.
        let mut b = CircuitBreaker::new(config(10, 10, 40.0));
        for i in 1..=7 {
            call(&mut b, i, true);
        }
        for i in 8..=10 {
            assert_eq!(call(&mut b, i, false), BreakerState::Closed);
        }
        assert_eq!(b.failure_rate(), Some(30.0));
        assert_eq!(call(&mut b, 11, false), BreakerState::Open);

        // A threshold a hair above the rate (30.0001 % vs 3/10 = 30 %) holds.
        let mut b = CircuitBreaker::new(config(10, 10, 30.0001));
        for i in 1..=7 {
            call(&mut b, i, true);
        }
        for i in 8..=10 {
            call(&mut b, i, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn the_window_slides_over_the_last_n_calls() {
        // Window 4, min 4, 50 %: S F S S is 1/4 = 25 %. The next failure
        // evicts the first S: F S S F = 2/4 = 50 %: open.
        let mut b = CircuitBreaker::new(config(4, 4, 50.0));
        for (i, ok) in [true, false, true, true].into_iter().enumerate() {
            assert_eq!(call(&mut b, i as SimTime, ok), BreakerState::Closed);
        }
        assert_eq!(b.failure_rate(), Some(25.0));
        assert_eq!(b.buffered_calls(), 4);
        assert_eq!(call(&mut b, 9, false), BreakerState::Open);
    }

    #[test]
    fn minimum_calls_larger_than_the_window_uses_the_window_size() {
        // Window 4, min 10: resilience4j uses min(10, 4) = 4, so 4 failures
        // (4/4 = 100 %) trip; with min 10 taken literally they never could.
        let mut b = CircuitBreaker::new(config(4, 10, 50.0));
        for i in 1..=3 {
            assert_eq!(call(&mut b, i, false), BreakerState::Closed);
        }
        assert_eq!(call(&mut b, 4, false), BreakerState::Open);
    }

    #[test]
    fn open_rejects_until_strictly_after_the_wait_then_goes_half_open() {
        // Opened at 5 s with a 10 s wait: rejected up to and including 15 s
        // (resilience4j: now.isAfter(openedAt + wait)), then the first call
        // after it moves to half-open and is itself a permitted trial call.
        let mut b = tripped();
        assert!(!b.try_acquire(6 * SECOND));
        assert!(!b.try_acquire(15 * SECOND));
        assert_eq!(b.not_permitted(), 2);
        // Still reported open after the wait: the transition is lazy.
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire(15 * SECOND + 1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.changed_at(), 15 * SECOND + 1);
        assert_eq!(b.not_permitted(), 2);
    }

    #[test]
    fn half_open_permits_three_rejects_the_fourth_and_closes_on_successes() {
        // 3 permitted calls: 3 concurrent acquisitions pass, the 4th is
        // rejected. 3 successes: 0/3 = 0 % < 50 %: closed, with an empty
        // window (buffered_calls 0), so the old failures are forgotten.
        let mut b = tripped();
        let t = 20 * SECOND;
        assert!(b.try_acquire(t));
        assert!(b.try_acquire(t));
        assert!(b.try_acquire(t));
        assert!(!b.try_acquire(t));
        assert_eq!(b.not_permitted(), 1);
        b.on_result(t + 1, FAST, true);
        b.on_result(t + 2, FAST, true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Still no permits: they are not returned when a trial call ends.
        assert!(!b.try_acquire(t + 2));
        b.on_result(t + 3, FAST, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.changed_at(), t + 3);
        assert_eq!(b.buffered_calls(), 0);
        assert_eq!(b.failure_rate(), None);
        assert_eq!(b.opens(), 1);
        // Fresh window: 4 failures are again below the minimum of 5.
        for i in 1..=4 {
            assert_eq!(call(&mut b, t + 10 + i, false), BreakerState::Closed);
        }
    }

    #[test]
    fn two_failures_of_three_half_open_calls_reopen() {
        // 2/3 = 66.7 % >= 50 %: open again, with a new 10 s wait from the
        // 3rd result, and opens() counts 2. After 2 results (2 < min(5, 3))
        // nothing is decided yet.
        let mut b = tripped();
        let t = 20 * SECOND;
        for _ in 0..3 {
            assert!(b.try_acquire(t));
        }
        b.on_result(t + 1, FAST, false);
        b.on_result(t + 2, FAST, false);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.on_result(t + 3, FAST, true);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.opens(), 2);
        assert_eq!(b.changed_at(), t + 3);
        assert!(!b.try_acquire(t + 3 + 10 * SECOND));
        assert!(b.try_acquire(t + 3 + 10 * SECOND + 1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn one_failure_of_three_half_open_calls_closes() {
        // 1/3 = 33.3 % < 50 %: closed.
        let mut b = tripped();
        let t = 20 * SECOND;
        for ok in [false, true, true] {
            assert!(b.try_acquire(t));
            b.on_result(t, FAST, ok);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_decides_after_min_calls_when_fewer_than_permitted() {
        // permitted 10, min 2: the half-open window needs min(2, 10) = 2
        // outcomes, so 2 successes close it with 8 permits unused.
        let cfg = BreakerConfig {
            permitted_number_of_calls_in_half_open_state: 10,
            ..config(4, 2, 50.0)
        };
        let mut b = CircuitBreaker::new(cfg);
        call(&mut b, 1, false);
        assert_eq!(call(&mut b, 2, false), BreakerState::Open);
        let t = 11 * SECOND;
        assert_eq!(call(&mut b, t, true), BreakerState::HalfOpen);
        assert_eq!(call(&mut b, t, true), BreakerState::Closed);
    }

    #[test]
    fn slow_calls_trip_even_when_all_succeed() {
        // Slow rate threshold 50 %, slow above 1 s, window 4, min 4. Four
        // successes of exactly 1 s are not slow (> is strict): closed. Two
        // more of 2 s make 2/4 = 50 % slow >= 50 %: open, with 0 failures.
        let cfg = BreakerConfig {
            slow_call_rate_threshold: 50.0,
            slow_call_duration_threshold: SECOND,
            ..config(4, 4, 50.0)
        };
        let mut b = CircuitBreaker::new(cfg);
        for i in 1..=4 {
            assert!(b.try_acquire(i));
            b.on_result(i, SECOND, true);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.slow_call_rate(), Some(0.0));
        assert!(b.try_acquire(5));
        b.on_result(5, 2 * SECOND, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire(6));
        b.on_result(6, 2 * SECOND, true);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.failure_rate(), Some(0.0));
        assert_eq!(b.slow_call_rate(), Some(50.0));
    }

    #[test]
    fn default_slow_rate_needs_every_call_slow() {
        // Default slow-rate threshold 100 %: 3 slow + 1 fast in a window of
        // 4 is 75 %: closed; 4 slow of 4: open.
        let cfg = BreakerConfig {
            slow_call_duration_threshold: SECOND,
            ..config(4, 4, 50.0)
        };
        let mut b = CircuitBreaker::new(cfg);
        for (i, d) in [2 * SECOND, 2 * SECOND, 2 * SECOND, FAST]
            .into_iter()
            .enumerate()
        {
            assert!(b.try_acquire(i as SimTime));
            b.on_result(i as SimTime, d, true);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // Evicts the first slow call: still 3 slow + 1 fast.
        b.on_result(10, 2 * SECOND, true);
        assert_eq!(b.state(), BreakerState::Closed);
        // Two more slow calls evict the other two older slow ones: still
        // 3 of 4. The next evicts the fast call: 4/4 = 100 % slow: open.
        b.on_result(11, 2 * SECOND, true);
        b.on_result(12, 2 * SECOND, true);
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_result(13, 2 * SECOND, true);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn late_results_while_open_are_ignored_for_decisions() {
        // Calls permitted while closed finish after the breaker opened: they
        // are recorded in the carried window (resilience4j) but never
        // re-open it (opens stays 1) nor close it, and the half-open window
        // starts empty regardless.
        let mut b = CircuitBreaker::new(config(10, 5, 50.0));
        for _ in 0..8 {
            assert!(b.try_acquire(0));
        }
        for i in 1..=5 {
            b.on_result(i, FAST, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        for i in 6..=8 {
            b.on_result(i, FAST, i != 8);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.opens(), 1);
        assert_eq!(b.buffered_calls(), 8);
        assert!(b.try_acquire(11 * SECOND));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.buffered_calls(), 0);
    }

    #[test]
    fn zero_sizes_are_raised_to_one() {
        // Window 0, min 0, permitted 0 behave as 1: a single failure trips
        // (1/1 = 100 %), and half-open allows exactly one trial call.
        let cfg = BreakerConfig {
            permitted_number_of_calls_in_half_open_state: 0,
            ..config(0, 0, 50.0)
        };
        let mut b = CircuitBreaker::new(cfg);
        assert_eq!(call(&mut b, 1, false), BreakerState::Open);
        assert!(b.try_acquire(20 * SECOND));
        assert!(!b.try_acquire(20 * SECOND));
        b.on_result(20 * SECOND, FAST, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
