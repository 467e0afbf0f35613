//! The connection-pool lessons, asserted on numbers.

mod common;
use common::{metric, run};
use prodsim::scenarios::find;
use prodsim::spec::RunConfig;

#[test]
fn without_a_pool_every_request_pays_the_connect_and_load_exhausts_the_database() {
    let out = run("connection-pool", Some("bad"), &[], 1, 30.0);
    // Each request's connection wait is exactly the 50 ms handshake.
    assert!((metric(&out, "pool_wait_mean_ms") - 50.0).abs() < 1e-6);
    assert!(metric(&out, "latency_p50_ms") > 50.0);
    // Little's law: 2 000 req/s × (50 ms connect + ~3 ms query) ≈ 106
    // sessions wanted against a limit of 100, so the limit is hit and
    // requests are refused.
    assert_eq!(metric(&out, "db_active_max"), 100.0);
    assert!(metric(&out, "db_refused") > 0.01 * metric(&out, "requests"));
    assert_eq!(
        metric(&out, "connections_opened") + metric(&out, "db_refused"),
        metric(&out, "requests")
    );
}

#[test]
fn with_a_pool_the_per_request_overhead_is_near_zero() {
    let bad = run("connection-pool", Some("bad"), &[], 1, 30.0);
    let good = run("connection-pool", Some("good"), &[], 1, 30.0);
    assert_eq!(
        metric(&good, "requests"),
        metric(&bad, "requests"),
        "same traffic"
    );
    assert!(metric(&good, "pool_wait_mean_ms") < 1.0);
    assert!(metric(&good, "pool_wait_mean_ms") * 50.0 < metric(&bad, "pool_wait_mean_ms"));
    assert_eq!(metric(&good, "db_refused"), 0.0);
    assert_eq!(metric(&good, "failed"), 0.0);
    // Connections are opened once and reused.
    assert!(metric(&good, "connections_opened") <= 16.0);
    assert!(metric(&good, "latency_p99_ms") < metric(&bad, "latency_p50_ms"));
}

/// Erlang C computed here, independently of the crate: P(wait) for `c`
/// servers at offered load `a` (Kleinrock, Queueing Systems vol. 1, 3.40).
fn erlang_c(c: u32, a: f64) -> f64 {
    let factorial = |n: u32| (1..=n).map(f64::from).product::<f64>();
    let head: f64 = (0..c).map(|k| a.powi(k as i32) / factorial(k)).sum();
    let tail = a.powi(c as i32) / factorial(c) * f64::from(c) / (f64::from(c) - a);
    tail / (head + tail)
}

#[test]
fn pool_wait_matches_erlang_c_on_a_long_run() {
    // λ = 9/s, exponential 1 s queries, pool of 10, cores to spare: M/M/10.
    // Wq = C(10, 9) / (10 μ − λ) = 0.6687 / 1 s.
    let expected_ms = erlang_c(10, 9.0) / (10.0 - 9.0) * 1e3;
    assert!(
        (expected_ms - 668.7).abs() < 0.5,
        "formula check: {expected_ms}"
    );
    let scenario = find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
    let params = scenario
        .spec
        .resolve(Some("erlang"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    // At 90 % load successive waits are strongly correlated, so one run's
    // mean wanders: single runs of 1.8 million requests (200 000 s) sit a
    // few per cent either side of the formula. The mean of eight independent
    // runs has a standard error well under 1 %, so 3 % is a firm bound.
    let waits: Vec<f64> = (1..=8)
        .map(|seed| {
            let cfg = RunConfig {
                seed,
                duration_s: 200_000.0,
            };
            let out = (scenario.model)(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(metric(&out, "connections_opened"), 10.0);
            metric(&out, "pool_wait_mean_ms")
        })
        .collect();
    let mean = waits.iter().sum::<f64>() / waits.len() as f64;
    let err = (mean - expected_ms).abs() / expected_ms;
    assert!(
        err < 0.03,
        "mean wait {mean:.1} ms vs Erlang C {expected_ms:.1} ms (runs: {waits:.1?})"
    );
}

#[test]
fn a_pool_far_larger_than_the_cores_has_worse_p99_than_a_right_sized_one() {
    for seed in 1..=3 {
        let huge = run("connection-pool", Some("oversized"), &[], seed, 30.0);
        let right = run("connection-pool", Some("right_sized_busy"), &[], seed, 30.0);
        assert_eq!(
            metric(&huge, "requests"),
            metric(&right, "requests"),
            "same traffic"
        );
        let (p_huge, p_right) = (
            metric(&huge, "latency_p99_ms"),
            metric(&right, "latency_p99_ms"),
        );
        assert!(
            p_huge > 2.0 * p_right,
            "seed {seed}: p99 {p_huge:.1} vs {p_right:.1} ms"
        );
        assert!(metric(&huge, "db_active_max") > 100.0);
        assert!(metric(&right, "db_active_max") <= 16.0);
    }
}

#[test]
fn acquire_timeout_fails_requests_that_wait_too_long() {
    // One connection, 100 ms queries, 50 req/s: hopelessly overloaded.
    let sets = [
        ("pool_size", "1"),
        ("query_ms", "100"),
        ("query_dist", "constant"),
        ("arrival_rps", "50"),
        ("acquire_timeout_ms", "500"),
    ];
    let out = run("connection-pool", Some("good"), &sets, 1, 30.0);
    assert!(metric(&out, "acquire_timeouts") > 0.5 * metric(&out, "requests"));
    assert_eq!(metric(&out, "acquire_timeouts"), metric(&out, "failed"));
    // Nobody waits longer than the timeout plus the 50 ms connect of the one connection.
    assert!(metric(&out, "pool_wait_p99_ms") <= 550.0 * 1.01);
}
