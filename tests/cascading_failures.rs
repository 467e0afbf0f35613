//! The cascading-failures lessons, asserted on numbers.
//!
//! Independent facts used below (the model's documented constants): 100
//! req/s, 30 % of them /checkout (30 req/s); the API has 50 threads and
//! queues 25; the provider answers in 100 ms on average and 20 × slower
//! (2 s) from 30 s to 60 s; it works on 25 calls at once. Little's law
//! (L = λW) gives the threads a route holds: its rate × how long each of
//! its requests holds a thread.

mod common;
use common::{claim, metric, run, series};
use prodsim::engine::RunResult;

const ID: &str = "cascading-failures";
const RUN_S: f64 = 90.0;
const FAULT: (f64, f64) = (30.0, 60.0);
const CHECKOUT_RPS: f64 = 30.0;

fn preset(name: &str, sets: &[(&str, &str)]) -> RunResult {
    run(ID, Some(name), sets, 42, RUN_S)
}

/// The integral of a per-second series over [from, to): the count of events.
fn total(out: &RunResult, key: &str, from: f64, to: f64) -> f64 {
    let w = out.bucket_s;
    series(out, key)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (a, b) = (i as f64 * w, (i + 1) as f64 * w);
            let overlap = (b.min(to) - a.max(from)).max(0.0);
            v * overlap
        })
        .sum()
}

/// Answered share of a route's requests that ended during the slowdown.
fn answered_in_fault(out: &RunResult, route: &str) -> f64 {
    let ok = total(out, &format!("{route}.ok_rps"), FAULT.0, FAULT.1);
    let failed = total(out, &format!("{route}.failed_rps"), FAULT.0, FAULT.1);
    100.0 * ok / (ok + failed)
}

#[test]
fn with_no_protection_the_slow_provider_takes_browse_down_too() {
    claim("cascading-failures/slow-provider-takes-browse-down");
    // Little's law: checkout alone needs 30 req/s × 2 s = 60 threads
    // during the slowdown, more than the 50 there are.
    const { assert!(CHECKOUT_RPS * 2.0 > 50.0) };
    let out = preset("bad", &[]);
    assert_eq!(metric(&out, "threads_busy_max"), 50.0);
    // Refusals at the door hit both endpoints alike (one shared line).
    let (browse, checkout) = (
        metric(&out, "browse_success_pct"),
        metric(&out, "checkout_success_pct"),
    );
    assert!((browse - checkout).abs() < 1.5, "{browse} vs {checkout}");
    let during = answered_in_fault(&out, "browse");
    assert!(
        (30.0..50.0).contains(&during),
        "/browse: {during} % in the slowdown"
    );
    assert!(out.outcomes.iter().any(|o| o.reason == "queue_full"));
}

#[test]
fn a_timeout_keeps_browse_whole_and_the_breaker_fails_checkout_fast() {
    claim("cascading-failures/timeout-and-breaker-isolate");
    // The timeout alone: a payment call holds a thread at most 0.5 s, so
    // checkout needs about 30 × 0.5 = 15 threads on average, "about half"
    // of 50 at its peaks.
    let timeout_only = preset("good", &[("breaker", "false")]);
    assert_eq!(metric(&timeout_only, "browse_success_pct"), 100.0);
    let busy = metric(&timeout_only, "threads_busy_max");
    assert!((15.0..=35.0).contains(&busy), "{busy}");

    let out = preset("good", &[]);
    assert_eq!(metric(&out, "browse_success_pct"), 100.0);
    assert!(metric(&out, "breaker_opens") >= 1.0);
    // Opens within a second: at 30 checkouts/s, 10 calls time out by
    // 0.5 s + 10 / 30 s after the slowdown starts.
    let open_at = (0..)
        .map(|i| FAULT.0 + i as f64 * out.bucket_s)
        .take_while(|&t| t < FAULT.1)
        .find(|&t| common::series_at(&out, "payments.breaker", t) == 2.0);
    let opened = open_at.unwrap_or(f64::INFINITY);
    assert!(opened - FAULT.0 < 1.0, "{open_at:?}");
    // Once open, a handful of threads: /browse's one or two and checkouts
    // failed at once (the probes hold theirs 0.5 s).
    let w = out.bucket_s;
    let after_open: Vec<f64> = series(&out, "api.busy")
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as f64 * w >= opened + 1.0 && (*i + 1) as f64 * w <= FAULT.1)
        .map(|(_, &v)| v)
        .collect();
    assert!(!after_open.is_empty());
    assert!(after_open.iter().all(|&v| v <= 8.0), "{after_open:?}");
    // Checkout during the slowdown: almost none answered with the breaker,
    // about 40 % with no protection (both share the refusals at the door).
    let protected = answered_in_fault(&out, "checkout");
    let unprotected = answered_in_fault(&preset("bad", &[]), "checkout");
    assert!(protected < 5.0, "{protected}");
    assert!((30.0..50.0).contains(&unprotected), "{unprotected}");
}

#[test]
fn an_open_breaker_lets_only_its_probes_through() {
    claim("cascading-failures/breaker-open-means-no-calls");
    let with = preset("good", &[]);
    let without = preset("good", &[("breaker", "false")]);
    let calls = total(&with, "provider.calls_rps", FAULT.0, FAULT.1);
    let opens = metric(&with, "breaker_opens");
    // Before it first opens: the calls of the first 0.5 s + 10/30 s (the
    // timeout plus ten failures), about 25; then 5 probes per half-open.
    let bound = CHECKOUT_RPS * (0.5 + 10.0 / CHECKOUT_RPS) + 5.0 * opens + 10.0;
    assert!(
        calls <= bound,
        "{calls} calls during the slowdown, bound {bound}"
    );
    assert!((20.0..=50.0).contains(&calls), "about 35: {calls}");
    // Without the breaker every checkout calls: 30/s × 30 s ≈ 900 (the
    // page says 'about 950': this run's Poisson count).
    let plain = total(&without, "provider.calls_rps", FAULT.0, FAULT.1);
    assert!((plain - 900.0).abs() < 100.0, "{plain}");
}

#[test]
fn a_bulkhead_alone_keeps_threads_for_browse() {
    claim("cascading-failures/bulkhead-alone-protects-browse");
    let out = preset("bulkhead_only", &[]);
    assert_eq!(metric(&out, "browse_success_pct"), 100.0);
    // At most 12 threads wait on payments; /browse needs 70/s × 5 ms ≈ 1.
    let busy = metric(&out, "threads_busy_max");
    assert!(busy <= 12.0 + 10.0, "{busy}");
    assert!(metric(&out, "checkout_success_pct") < 80.0);
    assert!(out.outcomes.iter().any(|o| o.reason == "bulkhead_full"));
}

#[test]
fn eager_retries_multiply_provider_calls_and_delay_recovery() {
    claim("cascading-failures/retries-amplify-and-delay-recovery");
    let storm = preset("retry_storm", &[]);
    let once = preset("good", &[("breaker", "false")]);
    let (a, b) = (
        total(&storm, "provider.calls_rps", FAULT.0, FAULT.1),
        total(&once, "provider.calls_rps", FAULT.0, FAULT.1),
    );
    // Every attempt times out during the slowdown, so each checkout that
    // gets a thread makes 1 + 3 attempts; threads running out turn some
    // checkouts away first, so the ratio is below 4: 'about three times'.
    assert!(a / b > 2.5 && a / b <= 4.05, "{a} vs {b}");
    let (slow, quick) = (metric(&storm, "recovery_s"), metric(&once, "recovery_s"));
    assert_eq!(metric(&storm, "recovered"), 1.0);
    assert!((15.0..=25.0).contains(&slow), "about 20 s: {slow}");
    assert!((1.0..=9.0).contains(&quick), "about 5 s: {quick}");
}

#[test]
fn a_fallback_answers_payment_pending_instead_of_failing() {
    claim("cascading-failures/fallback-answers-pending");
    let out = preset("graceful", &[]);
    assert_eq!(metric(&out, "checkout_success_pct"), 100.0);
    assert_eq!(metric(&out, "failed") + metric(&out, "rejected"), 0.0);
    // 30 checkouts/s for the 30 s slowdown is 900, plus the seconds until
    // the breaker closes again (at most its 10 s wait): 'about 1 000'.
    let degraded = metric(&out, "degraded");
    assert!((900.0..=1_200.0).contains(&degraded), "{degraded}");
}

#[test]
fn backoff_spares_the_provider_but_sleeps_on_the_thread() {
    claim("cascading-failures/backoff-holds-threads");
    let eager = preset("retry_storm", &[]);
    let backoff = preset("retry_storm", &[("backoff", "exponential")]);
    let calls = |o: &RunResult| metric(o, "provider_calls");
    assert!(calls(&backoff) < calls(&eager));
    assert!(metric(&backoff, "recovery_s") < metric(&eager, "recovery_s"));
    assert!(metric(&backoff, "browse_success_pct") < metric(&eager, "browse_success_pct"));
}

#[test]
fn a_breaker_without_a_timeout_never_opens_on_slowness() {
    claim("cascading-failures/breaker-needs-a-timeout");
    let plain = preset("bad", &[]);
    let breaker = preset("bad", &[("breaker", "true")]);
    assert_eq!(metric(&breaker, "breaker_opens"), 0.0);
    assert_eq!(plain.metrics, breaker.metrics);
}

#[test]
fn predict_no_protection_answers_about_four_fifths_of_browse() {
    claim("cascading-failures/predict");
    let out = common::run_predict(ID, 42, RUN_S);
    // Before and after the slowdown (two thirds of the run) /browse
    // answers everything; during it, about 40 %: 2/3 + 1/3 × 0.4 = 80 %.
    let share = metric(&out, "browse_success_pct");
    assert!((76.0..=84.0).contains(&share), "{share}");
}
