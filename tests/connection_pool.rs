//! The connection-pool lessons, asserted on numbers.
//!
//! Most expected values come from queueing theory computed here,
//! independently of the crate. With exponential query times and Poisson
//! arrivals, the number of requests in the system N (waiting in the app or
//! running in the database) is a birth–death chain: births at λ, deaths at
//! r(n) × μ, where r(n) is how many cores' worth of useful work the database
//! does with min(n, pool) queries running (processor sharing of exponential
//! work finishes queries at the total service rate, whoever holds the CPU).
//! Its stationary distribution gives the mean latency by Little's law, and
//! its asymptotic variance says how far one finite run may stray from it.

mod common;
use common::{claim, metric, run, run_params, series};
use prodsim::engine::RunResult;
use prodsim::scenarios::find;
use prodsim::spec::RunConfig;

const ID: &str = "connection-pool";

/// Cores' worth of useful work with `n` in the system: `min(n, pool)`
/// queries run; up to `cores` each has a core, beyond that the `cores` lose
/// `contention × (running − cores) / cores` of their efficiency (the model's
/// documented formula, as in the parameter's help text).
fn work_rate(n: usize, pool: usize, cores: usize, contention: f64) -> f64 {
    let running = n.min(pool) as f64;
    let c = cores as f64;
    if running <= c {
        running
    } else {
        c / (1.0 + contention * (running - c) / c)
    }
}

/// A birth–death chain truncated at `max_n` states: stationary
/// probabilities for births at `lam` and deaths at `death(n)` (n ≥ 1).
fn stationary(lam: f64, death: impl Fn(usize) -> f64, max_n: usize) -> Vec<f64> {
    // Detailed balance: π(n) λ = π(n + 1) death(n + 1).
    let mut w = vec![1.0];
    for n in 1..max_n {
        let prev = w[n - 1];
        w.push(prev * lam / death(n));
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// Mean of `f(N)` under `pi`, and the relative standard error of its time
/// average over a run of `t` seconds. For a birth–death chain the Poisson
/// equation solves in closed form, giving the asymptotic variance
/// σ² = 2 Σₙ S(n)² / (π(n) λ) with S(n) = Σ_{k ≤ n} π(k) (f(k) − f̄)
/// (see Whitt, "Planning queueing simulations", Management Science 1989).
fn mean_and_rel_se(pi: &[f64], lam: f64, f: impl Fn(usize) -> f64, t: f64) -> (f64, f64) {
    let mean: f64 = pi.iter().enumerate().map(|(n, p)| p * f(n)).sum();
    // S(n) summed from the top, where it is exact: S(n) = −Σ_{k > n} ….
    let mut tail = 0.0;
    let mut sigma2 = 0.0;
    for n in (0..pi.len() - 1).rev() {
        tail += pi[n + 1] * (f(n + 1) - mean);
        if pi[n] > 1e-300 {
            sigma2 += tail * tail / (pi[n] * lam);
        }
    }
    (mean, (2.0 * sigma2 / t).sqrt() / mean)
}

/// Mean latency (ms) of the chain for `pool` connections on `cores` at
/// `lam` req/s of exponential `query_ms` queries, and its relative standard
/// error over `t` seconds.
fn chain_latency_ms(
    lam: f64,
    query_ms: f64,
    pool: usize,
    cores: usize,
    contention: f64,
    t: f64,
) -> (f64, f64) {
    let mu = 1_000.0 / query_ms;
    let pi = stationary(lam, |n| work_rate(n, pool, cores, contention) * mu, 6_000);
    let (mean_n, rel) = mean_and_rel_se(&pi, lam, |n| n as f64, t);
    (mean_n / lam * 1e3, rel)
}

fn run_for(preset: &str, sets: &[(&str, &str)], seed: u64, t: f64) -> RunResult {
    run(ID, Some(preset), sets, seed, t)
}

/// The mean of a series over `[from_s, to_s)` of a `duration_s` run.
fn series_mean(out: &RunResult, key: &str, duration_s: f64, from_s: f64, to_s: f64) -> f64 {
    let v = series(out, key);
    let per = duration_s / v.len() as f64;
    let part = &v[(from_s / per) as usize..(to_s / per) as usize];
    part.iter().sum::<f64>() / part.len() as f64
}

#[test]
fn without_a_pool_every_request_pays_the_connect_and_load_exhausts_the_database() {
    claim("connection-pool/connect-per-request-exhausts");
    let out = run_for("bad", &[], 1, 30.0);
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
    // A pool of 16 on the same traffic never has more than its 16 open.
    let pooled = run_for("good", &[], 1, 30.0);
    assert!(metric(&pooled, "db_active_max") <= 16.0);
    assert_eq!(metric(&pooled, "db_refused"), 0.0);
}

#[test]
fn with_a_pool_the_per_request_overhead_is_near_zero() {
    claim("connection-pool/no-pool-pays-connect");
    for seed in [1, 42] {
        let bad = run_for("bad", &[], seed, 30.0);
        let good = run_for("good", &[], seed, 30.0);
        assert_eq!(
            metric(&good, "requests"),
            metric(&bad, "requests"),
            "same traffic"
        );
        assert!((metric(&bad, "pool_wait_mean_ms") - 50.0).abs() < 1e-6);
        // The 16 connections are open from the start, so the only wait is
        // the moments when all 16 are busy.
        assert!(metric(&good, "pool_wait_mean_ms") < 1.0);
        // And in the 4 s a visitor sees by default.
        let seen = run_for("good", &[], seed, 4.0);
        assert!(metric(&seen, "pool_wait_mean_ms") < 1.0);
        assert!(metric(&good, "connections_opened") <= 16.0);
        assert_eq!(metric(&good, "db_refused"), 0.0);
        assert_eq!(metric(&good, "failed"), 0.0);
        assert!(metric(&good, "latency_p99_ms") < metric(&bad, "latency_p50_ms"));
    }
}

#[test]
fn a_warm_pool_skips_the_start_up_connects() {
    for seed in [1, 42] {
        let warm = run_for("good", &[], seed, 4.0);
        let cold = run_for("good", &[("warm_pool", "false")], seed, 4.0);
        assert_eq!(metric(&warm, "requests"), metric(&cold, "requests"));
        // Warm: all 16 sessions are open from the first moment.
        assert_eq!(series(&warm, "db.sessions")[0], 16.0);
        assert_eq!(metric(&warm, "connections_opened"), 16.0);
        // Cold: the same 16 get opened, on first use, and the first 16
        // requests each wait the whole 50 ms connect, which the warm pool
        // skips: the mean wait rises by at least 16 × 50 ms / requests
        // (the other arrivals of those first 50 ms wait behind them too,
        // so the real gap is larger).
        assert_eq!(metric(&cold, "connections_opened"), 16.0);
        let gap = metric(&cold, "pool_wait_mean_ms") - metric(&warm, "pool_wait_mean_ms");
        assert!(
            gap > 16.0 * 50.0 / metric(&cold, "requests"),
            "seed {seed}: {gap}"
        );
    }
}

#[test]
fn switching_pooling_on_caps_the_sessions_and_ends_the_refusals() {
    claim("connection-pool/pooling-on-collapses-sessions");
    let bad = run_for("bad", &[], 42, 10.0);
    let pooled = run_for("bad", &[("pooling", "true")], 42, 10.0);
    // Without a pool: the database's limit of 100 (Little: ~106 wanted).
    assert_eq!(metric(&bad, "db_active_max"), 100.0);
    assert!(metric(&bad, "db_refused") > 0.0);
    // With the default pool of 16: never more than 16 sessions, so the
    // limit of 100 is never reached and nothing is refused.
    assert!(metric(&pooled, "db_active_max") <= 16.0);
    assert_eq!(metric(&pooled, "db_refused"), 0.0);
    assert_eq!(metric(&pooled, "failed"), 0.0);
}

/// What the database completes per second with all 500 connections busy on
/// 8 cores at 2 % contention and 3 ms queries: 8 / (1 + 0.02 × 492 / 8)
/// = 3.58 cores of work, 3.58 / 3 ms = 1 195 queries a second.
fn collapsed_rps() -> f64 {
    work_rate(500, 500, 8, 0.02) / 0.003
}

#[test]
fn an_oversized_pool_fills_the_database_and_queues_the_rest_in_the_app() {
    claim("connection-pool/oversized-pool-collapses");
    assert!((work_rate(500, 500, 8, 0.02) / 8.0 - 0.45).abs() < 0.005);
    assert!((collapsed_rps() - 1_200.0).abs() < 10.0);
    // The default 4 s run: 10 000 arrivals (±1 %), at most 1 195 × 4 s plus
    // 0.5 s × 1 305 of faster service while the connections fill, and at
    // least 1 195 × 4 s, completed: 4 780 to 5 430; 500 are running, so
    // 4 070 to 4 720 wait ("about 4 500", ±10 %). The request at the head
    // of the line arrived after at least 4 780 + 500 others, at about
    // 5 280 / 2 500 = 2.1 s (±1.4 %), so none has waited 2 s by 4 s.
    for seed in [1, 42, 7] {
        let out = run_for("oversized", &[], seed, 4.0);
        let waiting = *series(&out, "db.pool_waiting").last().unwrap_or(&0.0);
        assert!(
            (waiting / 4_500.0 - 1.0).abs() < 0.1,
            "seed {seed}: {waiting}"
        );
        assert_eq!(metric(&out, "acquire_timeouts"), 0.0, "seed {seed}");
        assert_eq!(metric(&out, "failed"), 0.0, "seed {seed}");
    }
    let t = 30.0;
    for seed in [1, 42] {
        let out = run_for("oversized", &[], seed, t);
        // The last 20 s: every connection is running a query ...
        let late = |key: &str| series_mean(&out, key, t, 10.0, t);
        assert_eq!(late("db.running"), 500.0, "seed {seed}");
        // ... so the database completes 1 195 a second (20 s of completions
        // at that rate vary by under 1 %; 5 %) ...
        let thr = late("throughput_rps");
        assert!((thr / collapsed_rps() - 1.0).abs() < 0.05, "{thr}");
        // ... and the app's wait line holds what arrived in the last 2 s,
        // since its head is always about to time out: 2 500 × 2 s = 5 000
        // (a Poisson count of 5 000 varies by 1.4 %; 5 %).
        let waiting = late("db.pool_waiting");
        assert!((waiting / 5_000.0 - 1.0).abs() < 0.05, "{waiting}");
        // The rest, 2 500 − 1 195 a second, fail on the acquire timeout.
        let errors = late("errors_rps");
        let want = 2_500.0 - collapsed_rps();
        assert!((errors / want - 1.0).abs() < 0.1, "{errors} vs {want}");
        assert_eq!(metric(&out, "acquire_timeouts"), metric(&out, "failed"));
        assert_eq!(metric(&out, "db_refused"), 0.0);
    }
}

#[test]
fn a_pool_far_larger_than_the_cores_serves_less_with_worse_p99() {
    claim("connection-pool/oversized-vs-right-sized");
    for seed in 1..=3 {
        let huge = run_for("oversized", &[], seed, 30.0);
        let right = run_for("right_sized_busy", &[], seed, 30.0);
        assert_eq!(
            metric(&huge, "requests"),
            metric(&right, "requests"),
            "same traffic"
        );
        // Right-sized: 16 queries on 8 cores keep 1 / (1 + 0.02) = 98 % of
        // the CPU, 2 614 req/s of capacity against 2 500, so all the traffic
        // is served (75 000 Poisson arrivals vary by 0.4 %; 2 %).
        let thr = metric(&right, "throughput_rps");
        assert!((thr / 2_500.0 - 1.0).abs() < 0.02, "seed {seed}: {thr}");
        // Its p99 is tens of ms: at least a lone query's own p99, 3 ms ×
        // ln 100 = 13.8 ms, and under 100 ms, since the wait's tail decays at
        // least as fast as e^(−(2 614 − 2 500) t): P(wait > 47 ms) < 0.5 %,
        // and P(query > 16 ms) < 0.5 %, so p99 < 63 ms.
        let p99 = metric(&right, "latency_p99_ms");
        assert!((13.8..100.0).contains(&p99), "seed {seed}: p99 {p99}");
        // Oversized: about 1 195 a second (above), about half, and most of
        // what it serves waited close to the 2 s timeout first.
        assert!(metric(&huge, "throughput_rps") < 0.5 * 2_500.0);
        assert!(metric(&huge, "latency_p50_ms") > 1_000.0);
        assert!(metric(&huge, "latency_p99_ms") > 2_000.0);
    }
}

#[test]
fn without_contention_a_bigger_pool_is_never_slower() {
    claim("connection-pool/contention-off");
    // With contention 0 and a pool of at least the 8 cores, the database
    // does min(n, 8) cores of work with n requests in the system, whatever
    // the pool size: the same chain, so the same throughput and the same
    // mean latency (the M/M/8 mean, 7.84 ms at ρ = 0.9375).
    let t = 600.0;
    let (want, rel) = chain_latency_ms(2_500.0, 3.0, 8, 8, 0.0, t);
    for pool in [16, 64, 500] {
        let same = chain_latency_ms(2_500.0, 3.0, pool, 8, 0.0, t).0;
        assert!((same - want).abs() < 1e-9, "the chains are identical");
    }
    assert!((want - 7.84).abs() < 0.01, "M/M/8 mean latency {want}");
    for seed in [1, 42] {
        let off = [("contention_pct", "0")];
        let mut lat = Vec::new();
        for pool in ["8", "16", "64", "500"] {
            let mut sets = off.to_vec();
            sets.push(("pool_size", pool));
            let out = run_for("oversized", &sets, seed, t);
            // Stable (2 500 < 2 667 req/s of capacity): all the traffic is
            // served; a 1.5 M Poisson count varies by 0.1 %.
            let thr = metric(&out, "throughput_rps");
            assert!((thr / 2_500.0 - 1.0).abs() < 0.01, "pool {pool}: {thr}");
            assert_eq!(metric(&out, "failed"), 0.0, "pool {pool}");
            lat.push(metric(&out, "latency_mean_ms"));
        }
        // Each run estimates the same mean; 600 s gives a relative standard
        // error of `rel` (about 2 %), so all lie within 3 of them ...
        for (l, pool) in lat.iter().zip([8, 16, 64, 500]) {
            assert!(
                (l / want - 1.0).abs() < 3.0 * rel,
                "seed {seed} pool {pool}: {l} vs {want} ms (±{:.1} %)",
                300.0 * rel
            );
        }
        // ... and far closer to each other than independent runs would be:
        // request i arrives at the same time and draws the same query time in
        // every run (queries start in arrival order whatever the pool), so
        // the runs differ only in the order the cores serve them. Bigger is
        // never slower by more than 3 %.
        for l in &lat[1..] {
            assert!(*l <= lat[0] * 1.03, "seed {seed}: {lat:?}");
        }
        // The tail differs, though: with 500 connections every query shares
        // the cores, and processor sharing spreads sojourn times more widely
        // than first-come-first-served at the same mean (for M/M/1 its
        // variance is (2 + ρ) / (2 − ρ) times larger: Coffman, Muntz and
        // Trotter, J. ACM 1970).
        let p99 = |pool: &str| {
            let sets = [("contention_pct", "0"), ("pool_size", pool)];
            metric(&run_for("oversized", &sets, seed, t), "latency_p99_ms")
        };
        assert!(p99("500") > p99("8"), "seed {seed}");
    }
    // Below the core count it is slower: 4 connections use 4 of 8 cores,
    // 4 / 3 ms = 1 333 queries a second against 2 500 offered.
    let four = run_for(
        "oversized",
        &[("contention_pct", "0"), ("pool_size", "4")],
        1,
        60.0,
    );
    let thr = metric(&four, "throughput_rps");
    assert!((thr / (4.0 / 0.003) - 1.0).abs() < 0.02, "pool 4: {thr}");
}

#[test]
fn with_queries_that_only_need_cpu_one_connection_per_core_wins() {
    claim("connection-pool/pool-of-eight");
    // At 2 % contention a pool of 16 does 8 / (1 + 0.02 (n − 8) / 8) < 8
    // cores of work once more than 8 run, where a pool of 8 does all 8:
    // its chain dies more slowly in every state beyond 8, so its mean is
    // higher. Predicted means for 600 s runs, with their standard errors:
    let t = 600.0;
    let (want8, rel8) = chain_latency_ms(2_500.0, 3.0, 8, 8, 0.02, t);
    let (want16, rel16) = chain_latency_ms(2_500.0, 3.0, 16, 8, 0.02, t);
    assert!(want16 > 1.2 * want8, "{want8} vs {want16}");
    for seed in [1, 2, 42] {
        let m = |pool: &str| {
            metric(
                &run_for("right_sized_busy", &[("pool_size", pool)], seed, t),
                "latency_mean_ms",
            )
        };
        let (got8, got16) = (m("8"), m("16"));
        assert!(
            (got8 / want8 - 1.0).abs() < 3.0 * rel8,
            "8: {got8} vs {want8}"
        );
        assert!(
            (got16 / want16 - 1.0).abs() < 3.0 * rel16,
            "16: {got16} vs {want16}"
        );
        assert!(got8 < got16, "seed {seed}: {got8} vs {got16}");
    }
}

/// Erlang C computed here, independently of the crate: P(wait) for `c`
/// servers at offered load `a` (Kleinrock, Queueing Systems vol. 1, 3.40).
fn erlang_c(c: u32, a: f64) -> f64 {
    let factorial = |n: u32| (1..=n).map(f64::from).product::<f64>();
    let head: f64 = (0..c).map(|k| a.powi(k as i32) / factorial(k)).sum();
    let tail = a.powi(c as i32) / factorial(c) * f64::from(c) / (f64::from(c) - a);
    tail / (head + tail)
}

/// Erlang C's mean wait for the 'erlang' preset: λ = 9/s, exponential 1 s
/// queries, pool of 10, cores to spare: Wq = C(10, 9) / (10 μ − λ).
fn erlang_wait_ms() -> f64 {
    erlang_c(10, 9.0) / (10.0 - 9.0) * 1e3
}

#[test]
fn pool_wait_matches_erlang_c_on_a_long_run() {
    claim("connection-pool/erlang-c-scatter");
    let expected_ms = erlang_wait_ms();
    assert!(
        (expected_ms - 668.7).abs() < 0.5,
        "formula check: {expected_ms}"
    );
    let scenario = find(ID).unwrap_or_else(|e| panic!("{e}"));
    let params = scenario
        .spec
        .resolve(Some("erlang"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    // The chain's asymptotic variance for the time-average queue Lq gives
    // the spread of one run's mean wait Lq / λ: 2.1 % for 200 000 s. The
    // mean of eight such runs has a standard error of 0.74 %, so 3 % is a
    // firm bound.
    let pi = stationary(9.0, |n| n.min(10) as f64, 2_000);
    let waiting = |n: usize| n.saturating_sub(10) as f64;
    let (lq, rel_long) = mean_and_rel_se(&pi, 9.0, waiting, 200_000.0);
    assert!(
        (lq / 9.0 * 1e3 - expected_ms).abs() < 0.5,
        "chain = Erlang C"
    );
    assert!((0.015..0.03).contains(&rel_long), "{rel_long}");
    let waits: Vec<f64> = (1..=8)
        .map(|seed| {
            let cfg = RunConfig {
                seed,
                duration_s: 200_000.0,
            };
            let out =
                (scenario.model)(&scenario.spec, &params, &cfg).unwrap_or_else(|e| panic!("{e}"));
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

    // One hour: the same variance gives a standard error of 15.5 %, about
    // 0.1 s. Forty one-hour runs: their mean lies within 3 standard errors
    // of the mean (3 × 0.104 s / √40 = 0.05 s) of Erlang C, and their
    // spread is about 0.1 s. The sample SD of 40 skewed values is itself
    // uncertain by ~20 %, so it must land within 0.5 to 1.6 × 0.104 s.
    let (_, rel_hour) = mean_and_rel_se(&pi, 9.0, waiting, 3_600.0);
    let sd_hour = rel_hour * expected_ms;
    assert!((sd_hour - 100.0).abs() < 10.0, "about 0.1 s: {sd_hour}");
    let hours: Vec<f64> = (1..=40)
        .map(|seed| {
            let cfg = RunConfig {
                seed,
                duration_s: 3_600.0,
            };
            let out =
                (scenario.model)(&scenario.spec, &params, &cfg).unwrap_or_else(|e| panic!("{e}"));
            metric(&out, "pool_wait_mean_ms")
        })
        .collect();
    let n = hours.len() as f64;
    let mean = hours.iter().sum::<f64>() / n;
    let sd = (hours.iter().map(|h| (h - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(
        (mean - expected_ms).abs() < 3.0 * sd_hour / n.sqrt(),
        "mean of 40 hours {mean:.0} ms vs {expected_ms:.0}"
    );
    assert!(
        (0.5 * sd_hour..1.6 * sd_hour).contains(&sd),
        "one hour's spread {sd:.0} ms vs {sd_hour:.0} ms: {hours:.0?}"
    );
    // The page's 'two runs in three within 0.1 s, one in twenty more than
    // 0.2 s away': one and two standard deviations of a near-normal mean
    // (68 % and 4.6 %). Of 40 runs, a share of 68 % has a binomial SD of
    // 7 points, so 50–85 % within; 4.6 % of 40 is about 2, so at most 5.
    let within = hours
        .iter()
        .filter(|h| (*h - expected_ms).abs() <= 100.0)
        .count();
    let far = hours
        .iter()
        .filter(|h| (*h - expected_ms).abs() > 200.0)
        .count();
    assert!(
        (20..=34).contains(&within),
        "{within} of 40 within 0.1 s: {hours:.0?}"
    );
    assert!(far <= 5, "{far} of 40 beyond 0.2 s: {hours:.0?}");
}

#[test]
fn a_pool_of_500_serves_under_half_the_busy_load() {
    claim("connection-pool/predict");
    let scenario = find(ID).unwrap_or_else(|e| panic!("{e}"));
    let predict = &scenario.spec.lesson.predict;
    let params = predict
        .params(&scenario.spec)
        .unwrap_or_else(|e| panic!("{e}"));
    for seed in [1, 2, 3, 42] {
        let out = run_params(scenario, &params, seed, scenario.spec.duration_s.default);
        // 1 195 a second once every connection is busy (`collapsed_rps`).
        // Before that, in the first fraction of a second of the 4 s run
        // (the pool starts empty), it serves up to 2 500 a second: at most
        // 0.5 s × 1 305 / 4 s = 163 a second more on average, so 1 195 to
        // 1 195 × 1.14, and ±1 % for the count.
        assert_eq!(scenario.spec.duration_s.default, 4.0);
        let thr = metric(&out, predict.metric.as_str());
        let want = collapsed_rps();
        assert!(
            thr > 0.99 * want && thr < 1.14 * want,
            "seed {seed}: {thr} vs {want}"
        );
        // "Half the traffic": within 5 points of 50 %.
        assert!((thr / 2_500.0 - 0.5).abs() < 0.05, "seed {seed}: {thr}");
        assert_eq!(metric(&out, "connections_opened"), 500.0);
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
    let out = run_for("good", &sets, 1, 30.0);
    assert!(metric(&out, "acquire_timeouts") > 0.5 * metric(&out, "requests"));
    assert_eq!(metric(&out, "acquire_timeouts"), metric(&out, "failed"));
    // Nobody waits longer than the timeout plus the 50 ms connect of the one connection.
    assert!(metric(&out, "pool_wait_p99_ms") <= 550.0 * 1.01);
}

#[test]
fn replications_bracket_erlang_c_and_do_not_depend_on_the_threads() {
    // 20 independent hours of the 'erlang' preset: the 95 % interval of
    // the mean wait holds Erlang C's 668.7 ms (the README shows the run).
    let s = find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
    let params = s
        .spec
        .resolve(Some("erlang"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let on = |threads| {
        prodsim::replicate::run(s, &params, 42, 3_600.0, 20, threads)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, two) = (on(1), on(2));
    assert_eq!(one, two, "the same replications whatever the threads");
    let wait = prodsim::replicate::summarize(&one)
        .into_iter()
        .find(|m| m.key == "pool_wait_mean_ms")
        .unwrap_or_else(|| panic!("no pool_wait_mean_ms"));
    let expected = erlang_wait_ms();
    assert!((expected - 668.7).abs() < 0.1, "{expected}");
    assert!(
        wait.ci95.0 <= expected && expected <= wait.ci95.1,
        "{:?} does not hold {expected}",
        wait.ci95
    );
    assert_eq!(wait.n, 20);
}
