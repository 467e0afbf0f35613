//! The db-suddenly-slow lessons, asserted on numbers.
//!
//! Independent facts used below (the model's documented constants): 200
//! lookups a second (Poisson) for 120 s; the cause strikes at 30 s; a
//! query costs 0.5 ms of CPU plus 0.1 µs per row examined, on 4 cores; a
//! table of 10^6 rows, 80 to a page, B-tree fanout 300 (3 levels); a pool
//! of 20 connections whose callers give up after 5 s; a disk of 500 reads
//! a second.

mod common;
use common::{claim, metric, outcome, run, series};
use prodsim::engine::RunResult;

const ID: &str = "db-suddenly-slow";
const RUN_S: f64 = 120.0;
const ONSET_S: f64 = 30.0;
const RPS: f64 = 200.0;
const CORES: f64 = 4.0;
const QUERY_S: f64 = 0.0005;
const ROWS: f64 = 1e6;
const PER_ROW_S: f64 = 1e-7;

fn preset(name: &str, sets: &[(&str, &str)]) -> RunResult {
    run(ID, Some(name), sets, 42, RUN_S)
}

/// The first chart bucket's start time at which series `key` is above 0.
fn first_above_zero(out: &RunResult, key: &str) -> Option<f64> {
    series(out, key)
        .iter()
        .position(|&v| v > 0.0)
        .map(|i| i as f64 * out.bucket_s)
}

#[test]
fn a_missing_index_shows_first_in_rows_examined_and_cpu() {
    claim("db-suddenly-slow/missing-index-shows-in-rows-and-cpu");
    // Through the index: ⌈log₂ 10^6⌉ = 20, plus the one row: 21.
    let good = preset("good", &[]);
    assert_eq!(metric(&good, "rows_scanned_per_query"), 21.0);
    assert_eq!(metric(&good, "timeouts"), 0.0);
    // Without it, a scan needs 0.5 + 100 ms of CPU: 4 cores finish
    // 4 ÷ 0.1005 ≈ 39.8 queries a second from 30 s, a fifth of 200. Before
    // 30 s, 6 000 lookups of 21 rows; after, 90 × 39.8 scans: the mean
    // over the run is (6 000 × 21 + 3 582 × 10^6) ÷ 9 582 ≈ 374 000 rows
    // (the Poisson count and the scans still running at the end make it
    // a little lower; allow 2 %).
    let scans_per_s = CORES / (QUERY_S + ROWS * PER_ROW_S);
    let before = RPS * ONSET_S;
    let after = scans_per_s * (RUN_S - ONSET_S);
    let mean_rows = (before * 21.0 + after * ROWS) / (before + after);
    let bad = preset("bad", &[]);
    let rows = metric(&bad, "rows_scanned_per_query");
    assert!(
        (rows / mean_rows - 1.0).abs() < 0.02,
        "{rows} vs {mean_rows}"
    );
    // CPU at 100 % for the last 90 s of 120: 75 %, against 2.5 % with the
    // index (200 × 0.5 ms ÷ 4 cores, the 21 rows aside).
    let cpu = metric(&bad, "db_cpu_pct");
    assert!((cpu - 75.0).abs() < 1.0, "{cpu}");
    let idle = metric(&good, "db_cpu_pct");
    assert!((idle - 2.5).abs() < 0.2, "{idle}");
    // The pool fills only after the CPU, and then requests wait the whole
    // 5 s and fail.
    assert!(metric(&bad, "pool_wait_p99_ms") >= 4_999.0);
    assert!(outcome(&bad, "acquire_timeout") > 0);
    let running = first_above_zero_level(&bad, "db.running", CORES);
    let waiting = first_above_zero(&bad, "db.pool_waiting").unwrap_or(f64::MAX);
    assert!(running <= waiting && (ONSET_S..ONSET_S + 2.0).contains(&running));
    assert_eq!(metric(&bad, "lock_wait_p99_ms"), 0.0);
    assert_eq!(metric(&bad, "disk_util_pct"), 0.0);
}

/// The first chart bucket's start time at which `key` reaches `level`.
fn first_above_zero_level(out: &RunResult, key: &str, level: f64) -> f64 {
    series(out, key)
        .iter()
        .position(|&v| v >= level)
        .map_or(f64::MAX, |i| i as f64 * out.bucket_s)
}

#[test]
fn a_queued_migration_blocks_every_later_reader_until_it_has_run() {
    claim("db-suddenly-slow/migration-blocks-readers");
    let out = preset("lock", &[]);
    // The first lookup queued behind the migration (just after 31 s)
    // waits for the transaction's end at 60 s and the migration's 2 s:
    // about 62 − 31 = 31 s.
    let p99 = metric(&out, "lock_wait_p99_ms");
    assert!((29_000.0..=31_000.0).contains(&p99), "{p99}");
    // Idle CPU: 200 × 0.5 ms ÷ 4 cores is 2.5 % when all are served.
    assert!(metric(&out, "db_cpu_pct") < 2.5);
    assert_eq!(metric(&out, "rows_scanned_per_query"), 21.0);
    // Lock waits first (at 31 s), pool waits in the same bucket or later.
    let lock = first_above_zero(&out, "db.lock_waiting").unwrap_or(f64::MAX);
    let pool = first_above_zero(&out, "db.pool_waiting").unwrap_or(f64::MAX);
    assert!(
        (ONSET_S..=ONSET_S + 1.0 + out.bucket_s).contains(&lock),
        "{lock}"
    );
    assert!(lock <= pool, "{lock} {pool}");
    // 20 connections, 200 lookups a second: they are all stuck in
    // 20 ÷ 200 = 0.1 s, and from then requests fail after 5 s in the pool.
    assert!(outcome(&out, "acquire_timeout") > 0);
}

#[test]
fn a_lock_timeout_on_the_migration_prevents_the_pile_up() {
    claim("db-suddenly-slow/lock-timeout-prevents-the-pile-up");
    let out = preset("lock_timeout", &[]);
    assert_eq!(metric(&out, "failed"), 0.0);
    assert_eq!(metric(&out, "in_flight"), 0.0);
    let p99 = metric(&out, "lock_wait_p99_ms");
    assert!(p99 > 0.0 && p99 <= 1_000.0, "{p99}");
}

#[test]
fn pool_exhaustion_shows_in_pool_waits_with_an_idle_database() {
    claim("db-suddenly-slow/pool-exhaustion-shows-in-pool-waits");
    let out = preset("pool", &[]);
    assert!(metric(&out, "pool_wait_p99_ms") >= 4_999.0);
    assert!(metric(&out, "db_cpu_pct") < 2.0);
    assert_eq!(metric(&out, "lock_wait_p99_ms"), 0.0);
    assert_eq!(metric(&out, "disk_util_pct"), 0.0);
    // 20 connections × 1 ÷ 0.2 s = 100 answers a second from 30 s (the
    // query's own 1.5 ms aside): 30 × 200 + 90 × 100 = 15 000 in all.
    let expected = RPS * ONSET_S + 20.0 / 0.2 * (RUN_S - ONSET_S);
    let answered = metric(&out, "completed");
    assert!((answered / expected - 1.0).abs() < 0.02, "{answered}");
}

#[test]
fn a_saturated_disk_shows_in_its_utilisation_with_an_idle_cpu() {
    claim("db-suddenly-slow/disk-shows-in-utilisation");
    // 800 reads asked a second of a disk serving 500: busy all 60 s of the
    // backup, 50 % of the run.
    const { assert!(RPS * 4.0 > 500.0) };
    let out = preset("disk", &[]);
    let util = metric(&out, "disk_util_pct");
    assert!((util - 50.0).abs() < 1.0, "{util}");
    assert!(metric(&out, "db_cpu_pct") < 2.5);
    // Only pooled connections query: at most 20 × 4 reads × 2 ms = 160 ms
    // queued at the disk, and it gets there.
    let backlog = series(&out, "db.disk_backlog_ms");
    let peak = backlog.iter().copied().fold(0.0, f64::max);
    assert!((150.0..=160.0 + 1e-6).contains(&peak), "{peak}");
    assert!(metric(&out, "pool_wait_p99_ms") >= 4_999.0);
    assert_eq!(metric(&out, "lock_wait_p99_ms"), 0.0);
}

#[test]
fn a_bigger_pool_serves_idle_transactions_at_a_latency_cost() {
    claim("db-suddenly-slow/bigger-pool");
    const { assert!(60.0 / 0.2 > RPS) };
    let out = preset("pool", &[("pool_size", "60")]);
    assert_eq!(metric(&out, "failed"), 0.0);
    let p95 = metric(&out, "p95_ms");
    assert!((200.0..=210.0).contains(&p95), "{p95}");
}

#[test]
fn statement_timeout_alone_does_not_stop_the_lock_pile_up() {
    claim("db-suddenly-slow/statement-timeout-is-not-enough");
    let out = preset("lock", &[("statement_timeout_ms", "2000")]);
    assert!(outcome(&out, "statement_timeout") > 0);
    let failed = metric(&out, "failed");
    assert!(failed > 1_000.0, "{failed}");
    assert_eq!(metric(&preset("lock_timeout", &[]), "failed"), 0.0);
}

#[test]
fn a_query_cache_lets_the_disk_keep_up() {
    claim("db-suddenly-slow/query-cache-relieves-the-disk");
    // The disk keeps up when 800 × (1 − h) ≤ 500: h ≥ 37.5 %.
    assert!((800.0_f64 * (1.0 - 0.375) - 500.0).abs() < 1e-9);
    let out = preset("disk", &[("query_cache", "true")]);
    assert_eq!(metric(&out, "failed"), 0.0);
    // No longer busy all 60 s of the backup (50 % of the run without the
    // cache): under 90 % of it, 45 % of the run.
    let util = metric(&out, "disk_util_pct");
    assert!(util > 0.0 && util < 45.0, "{util}");
}

#[test]
fn predict_a_small_table_hides_its_missing_index() {
    claim("db-suddenly-slow/predict");
    // 100 000 rows: a scan is 0.5 + 10 ms. Before 30 s, 200 × 0.5 ms ÷ 4 =
    // 2.5 % (plus the 21 rows, 0.1 point); after, 200 × 10.5 ms ÷ 4 =
    // 52.5 %; over the run (30 × 2.5 + 90 × 52.5) ÷ 120 = 40 %.
    let expected: f64 = (30.0 * 2.5 + 90.0 * 52.5) / 120.0;
    assert!((expected - 40.0).abs() < 0.01);
    let out = common::run_predict(ID, 42, RUN_S);
    let cpu = metric(&out, "db_cpu_pct");
    assert!((cpu - expected).abs() < 2.0, "{cpu}");
    assert_eq!(metric(&out, "failed"), 0.0);
}

#[test]
fn the_what_to_check_first_table_holds() {
    // Each row: its own signal moves, the others stay quiet. Expected
    // values: 21 rows through the index, 10^6 by a scan; idle CPU is
    // 200 × 0.5 ms ÷ 4 cores = 2.5 %; the pool gives up after 5 s; the
    // lock wait is bounded by the blocker's 30 s plus the migration's 2 s
    // less the 1 s before it asks; the disk is busy the backup's 60 s of
    // the 120 s run.
    claim("db-suddenly-slow/check-missing-index");
    let bad = preset("bad", &[]);
    assert!(metric(&bad, "rows_scanned_per_query") > 0.3 * ROWS);
    assert!(metric(&bad, "db_cpu_pct") > 74.0);
    assert_eq!(metric(&bad, "lock_wait_p99_ms"), 0.0);
    assert_eq!(metric(&bad, "disk_util_pct"), 0.0);

    claim("db-suddenly-slow/check-lock");
    let lock = preset("lock", &[]);
    let wait = metric(&lock, "lock_wait_p99_ms");
    assert!(wait > 29_000.0 && wait <= 31_000.0, "{wait}");
    assert!(metric(&lock, "db_cpu_pct") < 2.5);
    assert_eq!(metric(&lock, "rows_scanned_per_query"), 21.0);
    assert_eq!(metric(&lock, "disk_util_pct"), 0.0);

    claim("db-suddenly-slow/check-pool");
    let pool = preset("pool", &[]);
    assert!(metric(&pool, "pool_wait_p99_ms") >= 4_999.0);
    assert!(metric(&pool, "pool_wait_p99_ms") <= 5_000.0);
    assert!(metric(&pool, "db_cpu_pct") < 2.0);
    assert_eq!(metric(&pool, "lock_wait_p99_ms"), 0.0);
    assert_eq!(metric(&pool, "disk_util_pct"), 0.0);
    assert_eq!(metric(&pool, "rows_scanned_per_query"), 21.0);

    claim("db-suddenly-slow/check-disk");
    let disk = preset("disk", &[]);
    assert!((metric(&disk, "disk_util_pct") - 50.0).abs() < 1.0);
    assert!(metric(&disk, "db_cpu_pct") < 2.5);
    assert_eq!(metric(&disk, "lock_wait_p99_ms"), 0.0);
    assert_eq!(metric(&disk, "rows_scanned_per_query"), 21.0);
}
