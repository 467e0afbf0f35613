//! The rate-limiting lessons, asserted on numbers.
//!
//! The burst, from the model's header: the extra client sends `limit` = 20
//! requests 5 ms apart (a tenth of the 1 s window ÷ 20) from 9.9 s, and 20
//! more 5 ms apart from the boundary at 10.0 s. It is a key of its own, and
//! the regular arrivals and their keys come from their own random streams,
//! so switching the burst on changes nobody else's verdicts: `allowed` with
//! the burst minus `allowed` without it is exactly what the burst client got.

mod common;
use common::{claim, metric, run, run_params};
use prodsim::engine::time::{MILLISECOND as MS, SECOND};
use prodsim::parts::{Algorithm, RateLimiter, WindowPeak};
use prodsim::scenarios::find;

const LIMIT: f64 = 20.0; // the scenario's default limit per window
const WINDOW_S: f64 = 1.0; // default window_ms = 1000
const REFILL: f64 = 20.0; // default refill_per_s

fn burst_run(algorithm: &str, seed: u64) -> prodsim::engine::RunResult {
    run(
        "rate-limiting",
        None,
        &[("algorithm", algorithm), ("boundary_burst", "true")],
        seed,
        20.0,
    )
}

/// Requests the burst client got through, as the page reports them
/// (`burst_allowed`), checked against `allowed` with the burst on minus
/// `allowed` with it off, everything else equal (see the file comment).
fn burst_client_admitted(sets: &[(&str, &str)], seed: u64) -> f64 {
    let with = |on: &str| {
        let mut s = sets.to_vec();
        s.push(("boundary_burst", on));
        run("rate-limiting", None, &s, seed, 20.0)
    };
    let (on, off) = (with("true"), with("false"));
    let reported = metric(&on, "burst_allowed");
    assert_eq!(reported, metric(&on, "allowed") - metric(&off, "allowed"));
    assert_eq!(metric(&off, "burst_allowed"), 0.0);
    reported
}

#[test]
fn fixed_window_admits_twice_the_limit_across_a_boundary() {
    claim("rate-limiting/boundary-burst-doubles");
    for seed in 1..=5 {
        let out = burst_run("fixed_window", seed);
        // The burst client sends exactly 2 × limit within 0.2 windows; each
        // half is alone in its calendar window, whose counter starts at 0,
        // so every one of the 40 is admitted.
        assert_eq!(metric(&out, "max_in_any_window"), 2.0 * LIMIT);
        assert_eq!(
            burst_client_admitted(&[("algorithm", "fixed_window")], seed),
            2.0 * LIMIT
        );
    }
    // And each calendar window still holds at most the limit: 30 requests
    // in one instant of one window get 20 through.
    let mut l = RateLimiter::new(Algorithm::FixedWindow, 20, SECOND, 0.0);
    assert_eq!((0..30).filter(|_| l.allow(0, 500 * MS)).count(), 20);
}

#[test]
fn sliding_log_never_exceeds_the_limit() {
    claim("rate-limiting/sliding-log-holds-limit");
    for seed in 1..=5 {
        let out = burst_run("sliding_log", seed);
        assert_eq!(metric(&out, "max_in_any_window"), LIMIT);
        // Heavier regular traffic over many keys changes nothing.
        let busy = run(
            "rate-limiting",
            None,
            &[
                ("algorithm", "sliding_log"),
                ("arrival_rps", "2000"),
                ("clients", "10"),
            ],
            seed,
            10.0,
        );
        assert!(metric(&busy, "max_in_any_window") <= LIMIT);
        assert!(metric(&busy, "rejected") > 0.0);
    }
    // "However the traffic is timed": the pattern that beats the sliding
    // counter (see below) gets only the limit through the log.
    let mut log = RateLimiter::new(Algorithm::SlidingLog, 20, SECOND, 0.0);
    let mut peak = WindowPeak::new(SECOND);
    for t in bunched_at_window_ends() {
        if log.allow(0, t) {
            peak.admitted(0, t);
        }
    }
    assert_eq!(peak.peak() as f64, LIMIT);
}

/// 20 requests 0.1 ms apart from 0.99 s (the end of window 0), and 20 more
/// 0.1 ms apart from 1.97 s (near the end of window 1): first to last is
/// 0.9819 s, inside one window length.
fn bunched_at_window_ends() -> Vec<u64> {
    let at = |start: u64| (0..20).map(move |k| start + k * MS / 10);
    at(990 * MS).chain(at(1_970 * MS)).collect()
}

#[test]
fn sliding_counter_is_close_against_the_burst_but_double_at_worst() {
    claim("rate-limiting/sliding-counter-assumes-even");
    // The burst: the first half fills window 9 with 20 (window 8 was empty).
    // After the boundary, at i × 5 ms (i = 0..19) the previous window weighs
    // 1 − 0.005 i, so the estimate is 20 − 0.1 i + admitted and a request
    // passes only while admitted < 0.1 i: at i = 1 and i = 11. The burst
    // client gets 20 + 2 = 22, "2 over the limit".
    for seed in [1, 42] {
        assert_eq!(
            burst_client_admitted(&[("algorithm", "sliding_counter")], seed),
            LIMIT + 2.0
        );
    }
    let alone = run(
        "rate-limiting",
        None,
        &[("algorithm", "sliding_counter"), ("arrival_rps", "0")],
        1,
        20.0,
    );
    assert_eq!(metric(&alone, "max_in_any_window"), LIMIT + 2.0);

    // Bunched at window ends: the first 20 fill window 0 (nothing before
    // it). At 1.97 s the previous window weighs 1 − 0.97 = 0.03, so the
    // estimate is 0.6 + admitted < 20 for all 20 of the second batch. All 40
    // land within 0.9819 s: 2 × limit in one window length.
    let mut counter = RateLimiter::new(Algorithm::SlidingCounter, 20, SECOND, 0.0);
    let mut peak = WindowPeak::new(SECOND);
    let mut admitted = 0;
    for t in bunched_at_window_ends() {
        if counter.allow(0, t) {
            admitted += 1;
            peak.admitted(0, t);
        }
    }
    assert_eq!(admitted, 40);
    assert_eq!(peak.peak() as f64, 2.0 * LIMIT);
    // Never more: the estimate includes the current window's own count, so
    // no calendar window admits more than the limit, and one window length
    // spans at most two of them. Random heavy traffic stays at or under 40.
    for seed in 1..=5 {
        let sets = [
            ("algorithm", "sliding_counter"),
            ("arrival_rps", "400"),
            ("clients", "10"),
        ];
        let out = run("rate-limiting", None, &sets, seed, 20.0);
        let peak = metric(&out, "max_in_any_window");
        assert!((LIMIT..=2.0 * LIMIT).contains(&peak), "peak {peak}");
    }
}

#[test]
fn token_bucket_never_exceeds_capacity_plus_refill_per_window() {
    claim("rate-limiting/token-bucket-bound");
    // Against the burst (GCRA: one token per 50 ms, a full bucket of 20):
    // the first 20, from 9.900 s to 9.995 s, spend the bucket. From the
    // first request to the last (10.095 s) 0.195 s × 20 tokens/s = 3.9
    // tokens come back, so 3 more pass: 23.
    for seed in [1, 42] {
        assert_eq!(
            burst_client_admitted(&[("algorithm", "token_bucket")], seed),
            LIMIT + 3.0
        );
    }
    // Hammered clients: at most capacity + refill × window in any window,
    // and a real bound: a client sending 1 000/s gets within 10 % of it.
    for (refill, seed) in [(20.0, 1), (5.0, 2), (100.0, 3)] {
        let refill_s = refill.to_string();
        let out = run(
            "rate-limiting",
            None,
            &[
                ("algorithm", "token_bucket"),
                ("refill_per_s", &refill_s),
                ("arrival_rps", "3000"),
                ("clients", "3"),
            ],
            seed,
            20.0,
        );
        let bound = LIMIT + refill * WINDOW_S;
        let peak = metric(&out, "max_in_any_window");
        assert!(peak <= bound, "refill {refill}: {peak} > {bound}");
        assert!(
            peak >= 0.9 * bound,
            "refill {refill}: {peak} far below {bound}"
        );
    }
}

#[test]
fn the_four_presets_rank_by_their_worst_window() {
    claim("rate-limiting/compare-worst-window");
    // Fixed: the burst client's 40 (above). Log: exactly the limit, since the
    // burst client's first 20 all pass. Counter and bucket: at least the
    // burst client's 22 and 23 (derived above), and below 40: only the burst
    // client could reach 40, since a regular client sends about 15 req/s
    // (30 req/s over 2 keys): P(Poisson(15) ≥ 40) = 6.5e-8 for one second,
    // so even scanning every one-second span of a 20 s run it is well under
    // one in a thousand.
    for seed in [1, 2, 3, 4, 5, 42] {
        let worst = |preset: &str| {
            metric(
                &run("rate-limiting", Some(preset), &[], seed, 20.0),
                "max_in_any_window",
            )
        };
        assert_eq!(worst("bad"), 2.0 * LIMIT, "seed {seed}");
        assert_eq!(worst("good"), LIMIT, "seed {seed}");
        for preset in ["counter", "bucket"] {
            let w = worst(preset);
            assert!(w > LIMIT && w < 2.0 * LIMIT, "{preset}, seed {seed}: {w}");
        }
    }
}

#[test]
fn overloaded_clients_get_the_same_average_whatever_the_algorithm() {
    claim("rate-limiting/overload-same-average");
    // 100 req/s over 2 clients is 50/s each against 20/s allowed. Expected
    // admissions over 20 s, per algorithm:
    // - fixed window: 20 per client per window, since Poisson(50) falls
    //   short of 20 in a window with probability 4.8e-7: 2 × 20 × 20 = 800;
    // - sliding log: a slot frees 1 s after its admission and is taken by the
    //   next request, on average 1/50 s later: 20 per 1.02 s, about 784;
    // - token bucket: at most 2 × (20 + 20 × 20) = 840, its initial bucket on
    //   top of the refill;
    // - sliding counter: each calendar window at most 20, so at most 800.
    // All within 5 % of 800.
    for seed in [1, 2, 42] {
        overload_same_average(seed);
    }
}

fn overload_same_average(seed: u64) {
    let mut requests = None;
    for algorithm in [
        "fixed_window",
        "sliding_log",
        "sliding_counter",
        "token_bucket",
    ] {
        let out = run(
            "rate-limiting",
            None,
            &[
                ("algorithm", algorithm),
                ("boundary_burst", "false"),
                ("arrival_rps", "100"),
            ],
            seed,
            20.0,
        );
        let allowed = metric(&out, "allowed");
        assert!(
            (allowed / 800.0 - 1.0).abs() <= 0.05,
            "{algorithm}: {allowed}"
        );
        // Same traffic for all four (common random numbers).
        let r = metric(&out, "requests");
        assert_eq!(*requests.get_or_insert(r), r);
        if algorithm == "fixed_window" {
            assert_eq!(allowed, 800.0);
        }
        if algorithm == "token_bucket" {
            // Each client spends its bucket in its first ~0.4 s and then
            // every token as it returns: the first second holds close to
            // 20 + 20 × 1 = 40 (within 10 %), never more.
            let w = metric(&out, "max_in_any_window");
            let bound = LIMIT + REFILL * WINDOW_S;
            assert!(w <= bound && w >= 0.9 * bound, "bucket worst window {w}");
        }
    }
}

#[test]
fn a_slow_refill_leaves_a_full_bucket_then_one_request_a_second() {
    claim("rate-limiting/slow-refill-starves");
    let slow = [("algorithm", "token_bucket"), ("refill_per_s", "1")];
    for seed in [1, 42] {
        // Burst client: the first 20 spend the full bucket; the next token
        // comes 1 s after the first request, after the burst has ended.
        assert_eq!(burst_client_admitted(&slow, seed), LIMIT);
        // Each regular client: a full bucket plus one token a second from
        // its first request, so at most 20 + 1 × 20 = 40. Its first request
        // comes well within the first second (15 req/s), which leaves 19
        // tokens to earn; allowing one of them to come too close to the end
        // for a request to use it, at least 20 + 19 − 1 = 38.
        let mut sets = slow.to_vec();
        sets.push(("boundary_burst", "false"));
        let out = run("rate-limiting", None, &sets, seed, 20.0);
        let allowed = metric(&out, "allowed");
        assert!((76.0..=80.0).contains(&allowed), "seed {seed}: {allowed}");
        // At the default refill of 20/s the same clients, each sending about
        // 15 a second (300 in 20 s), are rarely refused: a bucket refilled
        // faster than they send is empty only after a clump of 20 or more
        // above the average.
        let normal = run(
            "rate-limiting",
            None,
            &[("algorithm", "token_bucket"), ("boundary_burst", "false")],
            seed,
            20.0,
        );
        let sent = metric(&normal, "requests");
        assert_eq!(sent, metric(&out, "requests"), "same traffic");
        assert!((500.0..700.0).contains(&sent), "about 300 each: {sent}");
        assert!(metric(&normal, "allowed") >= 0.95 * sent);
    }
}

#[test]
fn switching_to_the_sliding_log_holds_every_client_to_the_limit() {
    claim("rate-limiting/predict");
    let scenario = find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
    let predict = &scenario.spec.lesson.predict;
    let params = predict
        .params(&scenario.spec)
        .unwrap_or_else(|e| panic!("{e}"));
    for seed in [1, 42] {
        let out = run_params(scenario, &params, seed, 20.0);
        // The log admits the burst's first 20 (its log was empty); each stays
        // for 1 s, past the burst's end 0.2 s later, so none of the second
        // 20 passes, and no client ever has more than 20 in a window.
        assert_eq!(metric(&out, predict.metric.as_str()), LIMIT);
    }
    assert_eq!(
        burst_client_admitted(&[("algorithm", "sliding_log")], 42),
        LIMIT
    );
}

#[test]
fn limits_do_not_change_the_traffic_only_the_verdicts() {
    // Common random numbers: the same seed gives the same arrivals whatever
    // the algorithm, so requests are identical and allowed differs.
    let runs: Vec<_> = [
        "fixed_window",
        "sliding_log",
        "sliding_counter",
        "token_bucket",
    ]
    .iter()
    .map(|a| burst_run(a, 9))
    .collect();
    for r in &runs[1..] {
        assert_eq!(metric(r, "requests"), metric(&runs[0], "requests"));
    }
    assert!(metric(&runs[0], "allowed") > metric(&runs[1], "allowed"));
    for r in &runs {
        assert_eq!(
            metric(r, "allowed") + metric(r, "rejected"),
            metric(r, "requests")
        );
    }
}

#[test]
fn under_the_limit_nobody_is_rejected() {
    // 2 clients × 5 req/s each, evenly spaced, against 20 per second.
    let out = run(
        "rate-limiting",
        None,
        &[
            ("arrival", "constant"),
            ("arrival_rps", "10"),
            ("boundary_burst", "false"),
        ],
        1,
        20.0,
    );
    assert_eq!(metric(&out, "rejected"), 0.0);
    assert!((metric(&out, "requests") - 200.0).abs() <= 1.0);
}

#[test]
fn the_diagram_opens_inside_the_burst_not_on_its_boundary() {
    // The burst runs from 9.9 s to 10.1 s (see the file comment); 30 req/s
    // of other traffic never fill a 67 ms chart bucket the way 40 requests
    // in 0.2 s do, so the busiest bucket of admissions is in the burst,
    // and its middle is never the 10 s boundary (bucket edges are
    // multiples of 20 s / 300).
    let spec = find("rate-limiting")
        .map(|s| s.spec.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let out = burst_run("fixed_window", 42);
    let t = prodsim::present::focus_time(&spec, &out);
    assert!((9.9..=10.1).contains(&t), "{t}");
    assert!((t - 10.0).abs() > 1e-6, "{t}");
}
