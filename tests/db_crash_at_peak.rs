//! The db-crash-at-peak lessons, asserted on numbers.
//!
//! Independent facts used below (the model's documented constants and the
//! data file's defaults): 50 requests a second (Poisson) for 120 s, 20 %
//! of them writes; the primary dies at 30 s; detection 10 s, promotion
//! 20 s; a manual recovery of 1 min; replication lag 1 s; each request
//! does 1 ms of app work and a query of 2 ms on average (exponential);
//! a synchronous write waits a 2 ms round trip for the replica.

mod common;
use common::{claim, metric, outcome, run, series};
use prodsim::engine::RunResult;

const ID: &str = "db-crash-at-peak";
const RUN_S: f64 = 120.0;
const CRASH_S: f64 = 30.0;
const DETECT_S: f64 = 10.0;
const PROMOTE_S: f64 = 20.0;
const MANUAL_S: f64 = 60.0;
const RPS: f64 = 50.0;
const WRITE_SHARE: f64 = 0.2;
const LAG_S: f64 = 1.0;

fn preset(name: &str, sets: &[(&str, &str)]) -> RunResult {
    run(ID, Some(name), sets, 42, RUN_S)
}

/// How many requests a rate series counts over `[from_s, to_s)` (its
/// buckets' per-second values times the bucket length).
fn count_between(out: &RunResult, key: &str, from_s: f64, to_s: f64) -> f64 {
    let b = out.bucket_s;
    series(out, key)
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            let t = i as f64 * b;
            t >= from_s && t + b <= to_s
        })
        .map(|(_, v)| v * b)
        .sum()
}

/// Share of the reads in `[from_s, to_s)` answered.
fn reads_answered_between(out: &RunResult, from_s: f64, to_s: f64) -> f64 {
    let ok = count_between(out, "reads.ok_rps", from_s, to_s);
    let failed = count_between(out, "reads.failed_rps", from_s, to_s);
    ok / (ok + failed)
}

/// `x` is within `tol` (absolute) of `want`.
fn near(x: f64, want: f64, tol: f64) -> bool {
    (x - want).abs() <= tol
}

#[test]
fn without_failover_everything_waits_for_the_manual_recovery() {
    claim("db-crash-at-peak/no-failover-waits-for-manual-recovery");
    let out = preset("bad", &[]);
    assert!(near(metric(&out, "write_unavailable_s"), MANUAL_S, 1e-6));
    // Reads and writes both go to the primary: each is answered for the
    // 120 − 60 s it is up, half the run. A Poisson count of ~1 200 writes
    // has a standard deviation of ~3 % of itself; allow 3 points.
    let up = (RUN_S - MANUAL_S) / RUN_S * 100.0;
    for m in ["read_success_pct", "write_success_pct"] {
        let v = metric(&out, m);
        assert!(near(v, up, 3.0), "{m} {v} vs {up}");
    }
    // It comes back with its own disk: nothing acknowledged is lost.
    assert_eq!(metric(&out, "lost_writes"), 0.0);
    // Nothing is answered between the crash and the recovery.
    let ok = count_between(
        &out,
        "writes.ok_rps",
        CRASH_S + 1.0,
        CRASH_S + MANUAL_S - 1.0,
    );
    assert_eq!(ok, 0.0);
    assert!(outcome(&out, "down") > 0);
}

#[test]
fn failover_still_stops_writes_for_detection_plus_promotion() {
    claim("db-crash-at-peak/failover-stops-writes-for-detect-plus-promote");
    let out = preset("failover", &[]);
    let gap = DETECT_S + PROMOTE_S;
    assert!(near(metric(&out, "write_unavailable_s"), gap, 1e-6));
    // 30 s of 120 without answers: 75 % of reads and of writes (a
    // Poisson count of ~1 200 writes: allow 3 points).
    let up = (RUN_S - gap) / RUN_S * 100.0;
    assert!(near(up, 75.0, 1e-9));
    for m in ["read_success_pct", "write_success_pct"] {
        let v = metric(&out, m);
        assert!(near(v, up, 3.0), "{m} {v} vs {up}");
    }
    // Reads are refused too: without read-only mode they go to the dead
    // primary.
    assert_eq!(reads_answered_between(&out, CRASH_S, CRASH_S + gap), 0.0);
    assert_eq!(metric(&out, "outage_read_success_pct"), 0.0);
    assert_eq!(metric(&out, "failed"), 0.0, "every failure is a refusal");
}

#[test]
fn async_replication_loses_about_rate_times_share_times_lag() {
    claim("db-crash-at-peak/async-loses-acknowledged-writes");
    // The writes acknowledged in the last `lag` before the crash had not
    // reached the replica: a Poisson count of mean 50 × 0.2 × 1 s = 10
    // (standard deviation √10 ≈ 3.2). Over 40 seeds the total is Poisson
    // with mean 400 and deviation 20: within ±15 % is 3 deviations.
    let expected = RPS * WRITE_SHARE * LAG_S;
    assert!(near(expected, 10.0, 1e-9));
    let seeds = 40;
    let total: f64 = (1..=seeds)
        .map(|seed| metric(&run(ID, Some("failover"), &[], seed, RUN_S), "lost_writes"))
        .sum();
    let mean = total / seeds as f64;
    assert!(near(mean, expected, 0.15 * expected), "mean lost {mean}");
    // Every strategy with failover loses them: read-only mode and the
    // cache change what users see, not what the replica received.
    for p in ["read_only", "good"] {
        let lost = metric(&preset(p, &[]), "lost_writes");
        assert!(near(lost, expected, 3.0 * expected.sqrt()), "{p}: {lost}");
    }
}

#[test]
fn sync_replication_loses_nothing_and_costs_a_round_trip_per_write() {
    claim("db-crash-at-peak/sync-loses-none");
    let out = preset("sync", &[]);
    assert_eq!(metric(&out, "lost_writes"), 0.0);
    assert!(metric(&out, "acked_writes") > 0.0);
    claim("db-crash-at-peak/sync-cost");
    // Without a crash (it would come at 3 000 s, after the run), a write
    // is 1 ms of app work plus an exponential query of mean 2 ms, median
    // 2 ln 2 ≈ 1.39 ms: 2.39 ms; synchronous replication adds the 2 ms
    // round trip to every one: 4.39 ms. The histogram's buckets are a few
    // per cent wide.
    let median = 1.0 + 2.0 * std::f64::consts::LN_2;
    let no_crash = [("crash_at_s", "3000")];
    let asynchronous = metric(&preset("failover", &no_crash), "write_p50_ms");
    let synchronous = metric(&preset("sync", &no_crash), "write_p50_ms");
    assert!(near(asynchronous, median, 0.05 * median), "{asynchronous}");
    assert!(
        near(synchronous, median + 2.0, 0.05 * (median + 2.0)),
        "{synchronous}"
    );
    assert!(near(synchronous - asynchronous, 2.0, 0.1));
    // With the crash, the writes before it pay the round trip and those
    // after the failover do not: the median falls between the two.
    let mixed = metric(&preset("sync", &[]), "write_p50_ms");
    assert!(
        mixed > median + 0.1 && mixed < median + 2.0 - 0.1,
        "{mixed}"
    );
}

#[test]
fn read_only_mode_keeps_reads_on_the_replica_until_it_is_promoted() {
    claim("db-crash-at-peak/read-only-keeps-reads");
    let out = preset("read_only", &[]);
    // Writes are refused for the same 30 s; reads fail only while the
    // replica is promoted, 20 s of 120: 1 − 20/120 ≈ 83.3 % (a Poisson
    // count of ~4 800 reads: allow 2 points).
    let writes = metric(&out, "write_success_pct");
    assert!(near(writes, 75.0, 3.0), "{writes}");
    assert!(outcome(&out, "read_only") > 0);
    assert_eq!(outcome(&out, "down"), 0);
    let reads = metric(&out, "read_success_pct");
    let want = (1.0 - PROMOTE_S / RUN_S) * 100.0;
    assert!(near(reads, want, 2.0), "{reads} vs {want}");
    // During detection every read is answered, during promotion none.
    assert_eq!(
        reads_answered_between(&out, CRASH_S, CRASH_S + DETECT_S),
        1.0
    );
    let promoting = (CRASH_S + DETECT_S, CRASH_S + DETECT_S + PROMOTE_S);
    assert_eq!(reads_answered_between(&out, promoting.0, promoting.1), 0.0);
}

#[test]
fn a_cache_serving_stale_answers_most_reads_through_the_failover() {
    claim("db-crash-at-peak/cache-answers-during-promotion");
    let gap = (CRASH_S, CRASH_S + DETECT_S + PROMOTE_S);
    let good = preset("good", &[]);
    let read_only = preset("read_only", &[]);
    let failover = preset("failover", &[]);
    // Over the 30 s of the failover: failover alone answers no read,
    // read-only mode the detection's 10 s of 30 (a third), the cache most.
    let with_cache = reads_answered_between(&good, gap.0, gap.1);
    let without = reads_answered_between(&read_only, gap.0, gap.1);
    assert_eq!(reads_answered_between(&failover, gap.0, gap.1), 0.0);
    assert!(
        near(without, DETECT_S / (DETECT_S + PROMOTE_S), 0.02),
        "{without}"
    );
    // With the cache, a read during promotion is answered when its object
    // was read at least once before (the cache holds all 10 000 objects
    // and serves copies up to 1 200 s past their TTL). Reads of object k
    // come with probability p_k = (1/k) / H (Zipf, s = 1, H the 10 000th
    // harmonic number); by the promotion's start 40 s × 40 reads/s = 1 600
    // reads have been answered, so a read is answered with probability
    // Σ p_k (1 − (1 − p_k)^1 600) ≈ 0.64, and over the whole failover
    // (10 + 20 × 0.64) ÷ 30 ≈ 0.76.
    let h: f64 = (1..=10_000).map(|k| 1.0 / k as f64).sum();
    let reads_before = (CRASH_S + DETECT_S) * RPS * (1.0 - WRITE_SHARE);
    let covered: f64 = (1..=10_000)
        .map(|k| {
            let p = 1.0 / (k as f64 * h);
            p * (1.0 - (1.0 - p).powf(reads_before))
        })
        .sum();
    assert!(near(covered, 0.64, 0.01), "{covered}");
    let promoting = (gap.0 + DETECT_S, gap.1);
    let during_promotion = reads_answered_between(&good, promoting.0, promoting.1);
    assert!(
        near(during_promotion, covered, 0.05),
        "{during_promotion} vs {covered}"
    );
    let want = (DETECT_S + PROMOTE_S * covered) / (DETECT_S + PROMOTE_S);
    assert!(near(with_cache, want, 0.04), "{with_cache} vs {want}");
    // The page's metric says the same, over whole seconds.
    let shown = metric(&good, "outage_read_success_pct") / 100.0;
    assert!(near(shown, want, 0.04), "{shown} vs {want}");
    let shown = metric(&read_only, "outage_read_success_pct") / 100.0;
    assert!(near(shown, 1.0 / 3.0, 0.02), "{shown}");
    assert!(with_cache > 0.7);
    // The price: reads answered from expired copies, which may miss the
    // writes made since they were cached.
    let stale = metric(&good, "stale_reads");
    assert!(stale > 0.0);
    assert_eq!(
        count_between(&good, "app.stale_rps", 0.0, gap.0 + DETECT_S),
        0.0,
        "nothing stale is served while the database answers"
    );
    // Writes are refused exactly as without the cache.
    let writes = metric(&good, "write_success_pct");
    assert!(near(writes, metric(&read_only, "write_success_pct"), 1e-9));
}

#[test]
fn the_ttl_decides_how_many_answers_are_stale_not_how_many_are_answered() {
    claim("db-crash-at-peak/ttl-trades-fresh-for-stale");
    // Whatever the TTL, an object read before is answered during the
    // promotion (fresh, or stale within 1 200 s): the same reads succeed.
    // A 600 s TTL outlasts the whole 60 s until the promotion ends, so no
    // copy has expired and nothing is stale; 5 s makes most copies stale.
    let runs: Vec<RunResult> = ["5", "30", "600"]
        .iter()
        .map(|ttl| preset("good", &[("cache_ttl_s", ttl)]))
        .collect();
    let answered = metric(&runs[1], "read_success_pct");
    for out in &runs {
        assert!(near(metric(out, "read_success_pct"), answered, 1e-9));
    }
    let stale: Vec<f64> = runs.iter().map(|o| metric(o, "stale_reads")).collect();
    assert_eq!(stale[2], 0.0);
    assert!(stale[0] > stale[1] && stale[1] > 0.0, "{stale:?}");
}

#[test]
fn longer_detection_keeps_reads_flowing_and_writes_refused_longer() {
    claim("db-crash-at-peak/longer-detection");
    let out = preset("read_only", &[("detect_s", "60")]);
    assert!(near(
        metric(&out, "write_unavailable_s"),
        60.0 + PROMOTE_S,
        1e-6
    ));
    // Reads still fail only during the 20 s of promotion.
    let reads = metric(&out, "read_success_pct");
    assert!(
        near(reads, (1.0 - PROMOTE_S / RUN_S) * 100.0, 1.0),
        "{reads}"
    );
    assert_eq!(reads_answered_between(&out, CRASH_S, CRASH_S + 60.0), 1.0);
}

#[test]
fn predict_three_times_the_lag_loses_three_times_the_writes() {
    claim("db-crash-at-peak/predict");
    // 50 × 0.2 × 3 s = 30 writes on their way (Poisson, deviation ≈ 5.5:
    // allow 3 deviations for the one seed).
    let expected = RPS * WRITE_SHARE * 3.0;
    let out = common::run_predict(ID, 42, RUN_S);
    let lost = metric(&out, "lost_writes");
    assert!(near(lost, expected, 3.0 * expected.sqrt()), "{lost}");
}
