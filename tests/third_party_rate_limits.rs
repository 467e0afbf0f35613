//! The third-party-rate-limits lessons, asserted on numbers.
//!
//! Independent facts used below (the model's documented constants): the
//! provider allows `quota_per_min` calls a minute per key as a token
//! bucket holding one second's worth; at the defaults that is 300 a
//! minute, 5 a second, a burst of 5, against 20 workers and 1 000 jobs;
//! it answers in 200 ms on average (log-normal, σ 0.3). Backoff waits
//! start at 0.5 s (the first retry waits 1 s) and are capped at 30 s.

mod common;
use common::{claim, metric, run};
use prodsim::engine::RunResult;

const ID: &str = "third-party-rate-limits";
const RUN_S: f64 = 240.0;
const JOBS: f64 = 1_000.0;
/// The quota at the defaults, calls per second.
const RATE: f64 = 300.0 / 60.0;

fn preset(name: &str, sets: &[(&str, &str)]) -> RunResult {
    run(ID, Some(name), sets, 42, RUN_S)
}

fn defaults(sets: &[(&str, &str)]) -> RunResult {
    run(ID, None, sets, 42, RUN_S)
}

/// The fastest any strategy can do the batch without a cache: every job
/// needs one allowed call, and the quota allows `RATE` a second.
const QUOTA_BOUND_S: f64 = JOBS / RATE;

#[test]
fn retrying_at_once_makes_about_twenty_calls_per_job() {
    claim("third-party-rate-limits/naive-burns-calls");
    let out = preset("bad", &[]);
    // 20 workers each calling back-to-back at 200 ms a call ask about
    // 20 × 5 = 100 times a second; 5 a second are allowed: 1 in 20.
    let calls = metric(&out, "provider_calls");
    assert!(
        (17_000.0..=23_000.0).contains(&calls),
        "about 20 000: {calls}"
    );
    let wasted = metric(&out, "wasted_calls");
    assert_eq!(
        wasted,
        calls - JOBS,
        "every call beyond one per job was a 429"
    );
    // Refusals cost the provider's quota nothing here, so the batch still
    // runs at the quota's pace, about 200 s.
    assert_eq!(metric(&out, "finished"), 1.0);
    let done = metric(&out, "completion_s");
    assert!((done - QUOTA_BOUND_S).abs() < 5.0, "{done}");
}

#[test]
fn a_provider_that_counts_refusals_locks_eager_retries_out() {
    claim("third-party-rate-limits/counted-refusals-lock-naive-out");
    let out = preset("strict_provider", &[]);
    // Each refusal is charged: 100 asks a second against 5 earned keeps
    // the key at its debt limit, so only the first burst and the odd
    // lucky call get through.
    assert_eq!(metric(&out, "finished"), 0.0);
    let done = metric(&out, "success_pct");
    assert!(done < 2.0, "about 0.5 %: {done}");
    // The paced strategies are never refused, so the rule changes nothing.
    for strategy in ["queue_and_pace", "cache_and_pace"] {
        let free = defaults(&[("strategy", strategy)]);
        let strict = defaults(&[("strategy", strategy), ("counts_refused", "true")]);
        assert_eq!(metric(&strict, "wasted_calls"), 0.0);
        assert_eq!(free.metrics, strict.metrics, "{strategy}");
    }
}

#[test]
fn backoff_without_jitter_retries_in_lock_step() {
    claim("third-party-rate-limits/no-jitter-lock-step");
    let plain = preset("crowd", &[]);
    let jitter = preset("crowd", &[("backoff", "full_jitter")]);
    // 100 first calls at once against a bucket of 10: 90 refused within
    // the provider's latency spread (σ 0.3 of 200 ms), all told to wait
    // the same 1 s. A 100 ms slot holds over half of such a wave.
    let together = metric(&plain, "peak_retries_100ms");
    assert!(together >= 40.0, "about 50: {together}");
    // Full jitter draws each wait from [0, 1 s]: about 90 / 10 = 9 per
    // 100 ms slot, a few more where the draws bunch.
    let spread = metric(&jitter, "peak_retries_100ms");
    assert!(spread <= 20.0, "about 15: {spread}");
}

#[test]
fn with_many_callers_full_jitter_needs_fewer_calls_and_finishes_sooner() {
    claim("third-party-rate-limits/full-jitter-fewer-calls-sooner");
    // Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog,
    // 2015): with many contending clients, full jitter does less work
    // and completes sooner than exponential backoff without jitter.
    let plain = preset("crowd", &[]);
    let jitter = preset("crowd", &[("backoff", "full_jitter")]);
    for out in [&plain, &jitter] {
        assert_eq!(metric(out, "finished"), 1.0);
    }
    let calls = |o: &RunResult| metric(o, "provider_calls");
    let time = |o: &RunResult| metric(o, "completion_s");
    assert!(
        calls(&jitter) < calls(&plain),
        "{} vs {}",
        calls(&jitter),
        calls(&plain)
    );
    assert!(
        time(&jitter) * 3.0 < time(&plain),
        "{} vs {}",
        time(&jitter),
        time(&plain)
    );
    // The page's 'about 370 against 460' and 'about 12 s against 93 s'.
    assert!((340.0..=400.0).contains(&calls(&jitter)));
    assert!((420.0..=500.0).contains(&calls(&plain)));
    assert!((9.0..=15.0).contains(&time(&jitter)));
    assert!((80.0..=105.0).contains(&time(&plain)));
    // The floor for both: 100 calls at 10 a second after the first 10.
    assert!(time(&jitter) >= (100.0 - 10.0) / 10.0);
}

#[test]
fn pacing_at_the_quota_meets_no_429() {
    claim("third-party-rate-limits/pacing-no-429");
    let out = preset("paced", &[]);
    assert_eq!(metric(&out, "wasted_calls"), 0.0);
    assert_eq!(metric(&out, "provider_calls"), JOBS);
    // One call every 200 ms: the last leaves at 1 000 × 0.2 s and is
    // answered about 200 ms later.
    let done = metric(&out, "completion_s");
    assert!((done - (QUOTA_BOUND_S + 0.2)).abs() < 0.5, "{done}");
    // 20 workers, one job each: 19 wait while one is being sent.
    assert_eq!(metric(&out, "max_queue"), 19.0);
    // Pacing holds with every key count and quota the sliders allow.
    for (keys, quota) in [("3", "70"), ("10", "6000"), ("7", "10")] {
        let o = preset(
            "paced",
            &[("keys", keys), ("quota_per_min", quota), ("jobs", "300")],
        );
        assert_eq!(metric(&o, "wasted_calls"), 0.0, "{keys} keys, {quota}/min");
    }
}

#[test]
fn a_cache_cuts_provider_calls_by_its_hit_ratio() {
    claim("third-party-rate-limits/cache-cuts-calls");
    let out = preset("good", &[]);
    let hits = metric(&out, "cache_hit_pct") / 100.0;
    let calls = metric(&out, "provider_calls");
    // Every miss is one provider call, every hit none.
    assert!(
        (calls - JOBS * (1.0 - hits)).abs() < 1.0,
        "{calls} vs {hits}"
    );
    assert!((0.60..=0.68).contains(&hits), "about 64 %: {hits}");
    // Misses paced at 5 a second.
    let done = metric(&out, "completion_s");
    assert!(
        (done - calls / RATE).abs() < 2.0,
        "{done} vs {}",
        calls / RATE
    );
    assert_eq!(metric(&out, "wasted_calls"), 0.0);
}

#[test]
fn honouring_retry_after_finishes_at_the_quota_pace() {
    claim("third-party-rate-limits/retry-after-beats-fixed-backoff");
    let honour = preset("retry_after", &[]);
    let fixed = defaults(&[]);
    let time = |o: &RunResult| metric(o, "completion_s");
    assert_eq!(metric(&honour, "finished"), 1.0);
    assert_eq!(metric(&fixed, "finished"), 1.0);
    assert!(
        time(&honour) < time(&fixed) - 10.0,
        "{} vs {}",
        time(&honour),
        time(&fixed)
    );
    // Close to the quota's bound: no call that could have been made was
    // slept through.
    assert!(
        (time(&honour) - QUOTA_BOUND_S).abs() < 3.0,
        "{}",
        time(&honour)
    );
    assert!(
        (215.0..=230.0).contains(&time(&fixed)),
        "about 223 s: {}",
        time(&fixed)
    );
    // The price: each refused worker asks again a second later.
    let calls = |o: &RunResult| metric(o, "provider_calls");
    assert!(
        calls(&honour) > 1.8 * calls(&fixed),
        "{} vs {}",
        calls(&honour),
        calls(&fixed)
    );
    assert!((3_800.0..=4_600.0).contains(&calls(&honour)));
    assert!((1_800.0..=2_200.0).contains(&calls(&fixed)));
}

#[test]
fn a_second_key_doubles_the_pace() {
    claim("third-party-rate-limits/two-keys-halve-the-time");
    let out = preset("paced", &[("keys", "2")]);
    assert_eq!(metric(&out, "wasted_calls"), 0.0);
    let done = metric(&out, "completion_s");
    assert!((done - QUOTA_BOUND_S / 2.0).abs() < 1.0, "{done}");
}

#[test]
fn uniform_popularity_caps_hits_at_the_share_of_repeated_objects() {
    claim("third-party-rate-limits/uniform-popularity-fewer-hits");
    let out = preset("good", &[("key_popularity", "uniform")]);
    // Expected distinct objects among 1 000 uniform draws from 1 000.
    let distinct = 1_000.0 * (1.0 - 0.999_f64.powf(JOBS));
    assert!((distinct - 632.0).abs() < 1.0);
    let ceiling = 1.0 - distinct / JOBS;
    let hits = metric(&out, "cache_hit_pct") / 100.0;
    // At most the ceiling (plus this run's luck), a little under it
    // because of misses for objects already on their way.
    assert!(hits <= ceiling + 0.03, "{hits} vs {ceiling}");
    assert!(hits >= ceiling - 0.08, "{hits} vs {ceiling}");
    assert!((0.28..=0.38).contains(&hits), "about a third: {hits}");
}

#[test]
fn a_short_ttl_expires_entries_before_they_are_asked_for_again() {
    claim("third-party-rate-limits/short-ttl-more-calls");
    let long = preset("good", &[]);
    let short = preset("good", &[("cache_ttl_s", "10")]);
    let calls = |o: &RunResult| metric(o, "provider_calls");
    assert!(
        calls(&short) > 1.7 * calls(&long),
        "{} vs {}",
        calls(&short),
        calls(&long)
    );
    assert!(
        (640.0..=740.0).contains(&calls(&short)),
        "about 690: {}",
        calls(&short)
    );
}

#[test]
fn predict_without_the_cache_the_batch_takes_the_quota_bound() {
    claim("third-party-rate-limits/predict");
    let out = common::run_predict(ID, 42, RUN_S);
    let done = metric(&out, "completion_s");
    assert!((done - QUOTA_BOUND_S).abs() < 2.0, "{done}");
}

#[test]
fn a_provider_outage_delays_the_misses_and_their_retries_meet_the_quota() {
    // The 'Provider outage' preset: cache and pace, the provider down
    // from 30 s to 60 s. Misses are refused while it is down and retried
    // with backoff; when it returns, their retries and the paced calls
    // together exceed the quota, so 429s appear where pacing alone had
    // none, and the batch ends later than the 72 s without the outage.
    let out = preset("outage", &[]);
    let calm = preset("good", &[]);
    assert_eq!(metric(&calm, "wasted_calls"), 0.0);
    assert!(metric(&out, "wasted_calls") > 0.0);
    assert_eq!(metric(&out, "finished"), 1.0);
    assert!(metric(&out, "completion_s") > metric(&calm, "completion_s") + 30.0);
    // The window is on the timeline, for the charts and the diagram.
    assert_eq!(out.faults.len(), 1);
    let f = &out.faults[0];
    assert_eq!(
        (f.start_s, f.end_s, f.stage.as_str()),
        (30.0, 60.0, "provider")
    );
    assert_eq!(f.label, "down");
}

#[test]
fn a_fault_schedule_travels_in_the_url_clamped_with_notices() {
    use prodsim::spec::url::{decode, encode};
    let spec = &prodsim::scenarios::find(ID)
        .unwrap_or_else(|e| panic!("{e}"))
        .spec;
    let (view, notices) = decode(
        spec,
        "?s=third-party-rate-limits&faults=provider:down:30:30,nope:down:1:1,provider:slow5000:0:10",
    );
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("dropped 'nope:down:1:1': no stage 'nope'"));
    assert!(notices[0]
        .contains("slow factor 5000 in 'provider:slow5000:0:10' is outside 1–1000; using 1000"));
    let kept = view.params.get("faults").map(|v| v.to_string());
    assert_eq!(
        kept.as_deref(),
        Some("provider:down:30:30,provider:slow1000:0:10")
    );
    // What the page then links to reproduces the schedule with no notice.
    let query = encode(spec, &view);
    let (again, notices) = decode(spec, &format!("?{query}"));
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(again.params.get("faults"), view.params.get("faults"));
}
