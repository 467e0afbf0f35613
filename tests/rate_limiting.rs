//! The rate-limiting lessons, asserted on numbers.

mod common;
use common::{metric, run};

const LIMIT: f64 = 20.0; // the scenario's default limit per window
const WINDOW_S: f64 = 1.0; // default window_ms = 1000

fn burst_run(algorithm: &str, seed: u64) -> prodsim::engine::RunResult {
    run(
        "rate-limiting",
        None,
        &[("algorithm", algorithm), ("boundary_burst", "true")],
        seed,
        20.0,
    )
}

#[test]
fn fixed_window_admits_twice_the_limit_across_a_boundary() {
    for seed in 1..=5 {
        let out = burst_run("fixed_window", seed);
        // The burst client sends exactly 2 × limit within 0.2 windows and
        // the fixed window lets every one of them through.
        assert_eq!(metric(&out, "max_in_any_window"), 2.0 * LIMIT);
    }
}

#[test]
fn sliding_log_never_exceeds_the_limit() {
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
}

#[test]
fn sliding_counter_stays_close_to_the_limit_and_below_double() {
    // The burst alone: the first half fills the previous window with 20.
    // After the boundary, at i × 5 ms (i = 0..19) the estimate is
    // 20 × (1 − 0.005 i) + admitted, so a request passes only while
    // admitted < 0.1 i: at i = 1 and i = 11. The burst client gets 22.
    let alone = run(
        "rate-limiting",
        None,
        &[("algorithm", "sliding_counter"), ("arrival_rps", "0")],
        1,
        20.0,
    );
    assert_eq!(metric(&alone, "max_in_any_window"), LIMIT + 2.0);
    // Random heavy traffic: the estimate assumes the previous window's
    // requests were spread evenly, so clumps can slip a few extra through,
    // but never double, and fewer than the fixed window lets through.
    for seed in 1..=5 {
        let sets = |a| [("algorithm", a), ("arrival_rps", "400"), ("clients", "10")];
        let counter = run("rate-limiting", None, &sets("sliding_counter"), seed, 20.0);
        let fixed = run("rate-limiting", None, &sets("fixed_window"), seed, 20.0);
        let peak = metric(&counter, "max_in_any_window");
        assert!((LIMIT..2.0 * LIMIT).contains(&peak), "peak {peak}");
        assert!(peak < metric(&fixed, "max_in_any_window"));
    }
}

#[test]
fn token_bucket_never_exceeds_capacity_plus_refill_per_window() {
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
        // And it is a real bound: a hammered bucket gets close to it.
        assert!(
            peak >= 0.9 * bound,
            "refill {refill}: {peak} far below {bound}"
        );
    }
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
