//! The bulk-upload lessons, asserted on numbers.

mod common;
use common::{metric, run, series};

const ID: &str = "bulk-upload";
/// The notes' file: 5 million rows (the scenario's default).
const ROWS: f64 = 5_000_000.0;
/// Long enough for even the row-by-row job to finish.
const LONG_S: f64 = 300_000.0;

fn clean(strategy: &str) -> [(&str, &str); 3] {
    [
        ("strategy", strategy),
        ("crash_pct", "0"),
        ("invalid_pct", "0"),
    ]
}

#[test]
fn row_by_row_takes_about_69_hours_and_batches_about_1_4() {
    // The notes' arithmetic, done here: 5 M inserts × 50 ms = 250 000 s
    // = 69.4 h; 5 000 batch inserts × 1 s = 5 000 s = 1.39 h.
    let one_by_one_h = ROWS * 0.050 / 3_600.0;
    let batched_h = (ROWS / 1_000.0) * 1.0 / 3_600.0;

    let slow = run(ID, None, &clean("one_by_one"), 1, LONG_S);
    let fast = run(ID, None, &clean("batched"), 1, LONG_S);
    for out in [&slow, &fast] {
        assert_eq!(metric(out, "finished"), 1.0);
        assert_eq!(metric(out, "rows_inserted"), ROWS);
    }
    // Parsing the file (5 M rows at 100 000 rows/s = 50 s) adds well under 1 %.
    let err = |got: f64, want: f64| (got - want).abs() / want;
    assert!(
        err(metric(&slow, "total_time_h"), one_by_one_h) < 0.005,
        "{}",
        metric(&slow, "total_time_h")
    );
    assert!(
        err(metric(&fast, "total_time_h"), batched_h) < 0.015,
        "{}",
        metric(&fast, "total_time_h")
    );
    // The figures the notes quote, "about 69 h" and "about 1.4 h".
    assert!((metric(&slow, "total_time_h") - 69.0).abs() < 1.0);
    assert!((metric(&fast, "total_time_h") - 1.4).abs() < 0.05);
    // One round trip per row versus one per thousand rows at 20 × the cost: 50 × faster.
    let speedup = metric(&slow, "total_time_h") / metric(&fast, "total_time_h");
    assert!((45.0..=50.0).contains(&speedup), "speed-up {speedup}");
}

#[test]
fn an_unfinished_job_projects_its_total_from_progress_so_far() {
    // Two hours of the 69-hour job: the projection is the same 69.4 h.
    let out = run(ID, Some("row_by_row"), &[], 1, 7_200.0);
    assert_eq!(metric(&out, "finished"), 0.0);
    let h = metric(&out, "total_time_h");
    assert!(
        (h - ROWS * 0.050 / 3_600.0).abs() / h < 0.02,
        "projected {h} h"
    );
    // 7 200 s at 50 ms per row: about 144 000 rows, committed in 1 000-row checkpoints.
    let inserted = metric(&out, "rows_inserted");
    assert!((143_000.0..=144_000.0).contains(&inserted), "{inserted}");
}

#[test]
fn a_synchronous_upload_times_out_while_the_queue_answers_at_once_with_progress() {
    let bad = run(ID, Some("bad"), &[], 1, 7_200.0);
    let good = run(ID, Some("good"), &[], 1, 7_200.0);
    // The job needs over an hour; the gateway waits 60 s (the default).
    assert_eq!(metric(&bad, "timed_out"), 1.0);
    assert_eq!(metric(&bad, "upload_response_ms"), 60_000.0);
    assert!(
        series(&bad, "progress_pct").iter().all(|&p| p == 0.0),
        "no progress to poll"
    );
    // The work itself still happens behind the timed-out request.
    assert_eq!(metric(&bad, "finished"), 1.0);

    assert_eq!(metric(&good, "timed_out"), 0.0);
    assert!(metric(&good, "upload_response_ms") <= 100.0);
    let progress = series(&good, "progress_pct");
    assert!(
        progress.windows(2).all(|w| w[1] >= w[0]),
        "progress never goes back"
    );
    assert_eq!(progress.last().copied(), Some(100.0));
    // Batches commit steadily, so the bar passes through the middle values.
    assert!(progress.iter().any(|&p| p > 20.0 && p < 80.0));
    // Five workers share the 5 000 batch-seconds: far quicker than one.
    assert!(metric(&good, "total_time_h") < metric(&bad, "total_time_h") / 4.0);
}

#[test]
fn queue_workers_divide_the_batch_time_by_the_worker_count() {
    for workers in ["1", "5", "10"] {
        let mut sets = clean("queue_workers").to_vec();
        sets.push(("workers", workers));
        let out = run(ID, None, &sets, 1, 20_000.0);
        let n: f64 = workers.parse().unwrap_or_else(|e| panic!("{e}"));
        // 5 000 one-second batches over n workers; parsing overlaps the work.
        let want_h = 5_000.0 / n / 3_600.0;
        let got = metric(&out, "total_time_h");
        assert!(
            (got - want_h).abs() / want_h < 0.01,
            "{workers} workers: {got} h vs {want_h}"
        );
        // The reader parses a batch every 10 ms and outruns the workers, so
        // almost the whole file queues up: 5 000 batches less those taken
        // within the 50 s of parsing.
        let taken = n * 50.0;
        assert!((metric(&out, "queue_depth_max") - (5_000.0 - taken)).abs() <= n + 1.0);
    }
}

#[test]
fn crashes_create_duplicates_unless_writes_are_idempotent() {
    let plain = run(ID, Some("retry_duplicates"), &[], 3, 20_000.0);
    let upsert = run(
        ID,
        Some("retry_duplicates"),
        &[("idempotent", "true")],
        3,
        20_000.0,
    );
    // The same crashes happen either way: idempotency changes what they leave.
    assert_eq!(metric(&plain, "retries"), metric(&upsert, "retries"));
    assert_eq!(metric(&upsert, "duplicate_rows"), 0.0);
    let retries = metric(&plain, "retries");
    // 5 % of attempts crash: 5 000 batches need 5 000 / 0.95 ≈ 5 263
    // attempts, about 263 of which crash (binomial, sd ≈ 16).
    assert!((retries - 263.0).abs() < 60.0, "{retries} crashed attempts");
    // A crash lands uniformly within the batch, so on average half of its
    // ~995 valid rows were already written and are written again.
    let expected = retries * 0.5 * 1_000.0 * (1.0 - 0.005);
    let dup = metric(&plain, "duplicate_rows");
    assert!(
        (dup - expected).abs() / expected < 0.15,
        "{dup} duplicates vs {expected}"
    );
    // The duplicates are extra copies: the distinct rows are the same.
    assert_eq!(
        metric(&plain, "rows_inserted"),
        metric(&upsert, "rows_inserted")
    );
}

#[test]
fn invalid_rows_are_reported_and_every_row_is_accounted_for() {
    for (pct, seed) in [("0.5", 1), ("10", 2)] {
        let out = run(ID, Some("good"), &[("invalid_pct", pct)], seed, 20_000.0);
        assert_eq!(metric(&out, "finished"), 1.0);
        assert_eq!(
            metric(&out, "rows_inserted") + metric(&out, "failed_rows"),
            ROWS
        );
        // Each row is invalid independently: binomial(5 M, p), sd = sqrt(n p (1 − p)).
        let p: f64 = pct.parse::<f64>().unwrap_or_else(|e| panic!("{e}")) / 100.0;
        let (mean, sd) = (ROWS * p, (ROWS * p * (1.0 - p)).sqrt());
        let failed = metric(&out, "failed_rows");
        assert!(
            (failed - mean).abs() < 4.0 * sd,
            "{pct} %: {failed} vs {mean} ± {sd}"
        );
        assert_eq!(metric(&out, "dead_lettered"), 0.0);
    }
}

/// Mean and standard deviation of the largest of `n` independent uniform
/// (0, 1) draws: n / (n + 1) and sqrt(n / ((n + 1)² (n + 2))).
fn max_of_uniforms(n: f64) -> (f64, f64) {
    (n / (n + 1.0), (n / ((n + 1.0).powi(2) * (n + 2.0))).sqrt())
}

#[test]
fn batches_out_of_attempts_go_to_the_dead_letter_queue_and_are_counted() {
    let sets = [
        ("crash_pct", "50"),
        ("invalid_pct", "0"),
        ("rows", "1000000"),
    ];
    let out = run(ID, Some("good"), &sets, 4, 20_000.0);
    assert_eq!(metric(&out, "finished"), 1.0);
    // Five attempts that each crash with probability 1/2: 1 in 32 of the
    // 1 000 batches is dead-lettered (sd ≈ 5.5).
    let dead = metric(&out, "dead_lettered");
    assert!((dead - 1_000.0 / 32.0).abs() < 20.0, "{dead}");
    assert!(dead > 0.0);
    // Each is a failed request with a reason.
    assert_eq!(metric(&out, "failed"), dead);
    assert!(out
        .outcomes
        .iter()
        .any(|o| o.reason == "retries_exhausted" && o.count as f64 == dead));
    // Its five crashed attempts left the longest of their prefixes in the
    // table; only the rest of its 1 000 rows is reported failed: at most
    // the whole batch, and on average 1 000 × (1 − 5/6).
    let failed = metric(&out, "failed_rows");
    assert!(failed > 0.0 && failed < dead * 1_000.0, "{failed}");
    let (mean, sd) = max_of_uniforms(5.0);
    let want = dead * 1_000.0 * (1.0 - mean);
    let tol = 4.0 * 1_000.0 * sd * dead.sqrt() + dead;
    assert!((failed - want).abs() < tol, "{failed} vs {want} ± {tol}");
    assert_eq!(metric(&out, "rows_inserted") + failed, 1_000_000.0);
    assert_eq!(metric(&out, "duplicate_rows"), 0.0, "upserts copy nothing");
}

#[test]
fn the_ledger_explains_the_table_when_crashes_dead_letter_plain_inserts() {
    // 10 000 batches of 1 000 valid rows, plain inserts, half of all
    // attempts crashing, 32 workers (about 2 000 s of work: finishes).
    const N: f64 = 10_000_000.0;
    let sets = [
        ("strategy", "queue_workers"),
        ("workers", "32"),
        ("crash_pct", "50"),
        ("invalid_pct", "0"),
        ("idempotent", "false"),
        ("rows", "10000000"),
    ];
    let plain = run(ID, None, &sets, 11, 20_000.0);
    assert_eq!(metric(&plain, "finished"), 1.0);
    let crashes = metric(&plain, "retries");
    let dead = metric(&plain, "dead_lettered");
    let (inserted, dups, failed) = (
        metric(&plain, "rows_inserted"),
        metric(&plain, "duplicate_rows"),
        metric(&plain, "failed_rows"),
    );
    // Per batch, crashes before the first success: truncated geometric;
    // mean 1/2 + 1/4 + … + 1/32 = 31/32, variance 2.594 − (31/32)² = 1.655.
    let sd_crashes = (1.655_f64 * 10_000.0).sqrt();
    assert!(
        (crashes - 10_000.0 * 31.0 / 32.0).abs() < 4.0 * sd_crashes,
        "{crashes} crashes"
    );
    assert!((dead - 10_000.0 / 32.0).abs() < 4.0 * (10_000.0_f64 / 32.0).sqrt());

    // Every row is in the table or in the report, exactly once.
    assert_eq!(inserted + failed, N);
    // Committed batches are whole in the table; a dead-lettered one holds
    // the longest prefix its five crashed attempts wrote: each crash at a
    // uniform point U of the batch writes floor(1 000 U) rows, so the table
    // holds on average 1 000 × 5/6 − 0.5 of its rows.
    let (max_mean, max_sd) = max_of_uniforms(5.0);
    let dead_in_table = inserted - (10_000.0 - dead) * 1_000.0;
    let want_in_table = dead * (1_000.0 * max_mean - 0.5);
    let tol_in_table = 4.0 * 1_000.0 * max_sd * dead.sqrt();
    assert!(
        (dead_in_table - want_in_table).abs() < tol_in_table,
        "{dead_in_table} rows of dead-lettered batches in the table vs {want_in_table}"
    );
    assert_eq!(failed, dead * 1_000.0 - dead_in_table);

    // Copies in the table: every crashed attempt left floor(1 000 U) rows
    // (mean 499.5, sd 1 000 / sqrt(12) = 288.7), and a committed attempt its
    // 1 000. Distinct rows: 1 000 per committed batch, the longest prefix per
    // dead-lettered one. So extra copies = (sum of crashed prefixes) − (rows
    // of dead-lettered batches in the table): no copy for a last-attempt
    // crash that nothing retried. Counting a copy per crash instead would
    // give 499.5 × crashes: dead × 832.8, about 260 000 more, over twice
    // the tolerance.
    let want_dups = 499.5 * crashes - dead * (1_000.0 * max_mean - 0.5);
    let tol_dups = 4.0 * (288.7_f64.powi(2) * crashes + (1_000.0 * max_sd).powi(2) * dead).sqrt();
    assert!(
        (dups - want_dups).abs() < tol_dups,
        "{dups} extra copies vs {want_dups} ± {tol_dups}"
    );
    assert!(
        499.5 * crashes - dups > tol_dups,
        "dead-lettered batches' last crashes add no copies"
    );

    // The charts end where the summary does: rows and copies in the table.
    assert_eq!(
        series(&plain, "inserted_rows").last().copied(),
        Some(inserted)
    );
    assert_eq!(series(&plain, "duplicates").last().copied(), Some(dups));

    // Upserts under the same crashes: the same rows in the table and in the
    // report, no copies.
    let mut upsert_sets = sets.to_vec();
    upsert_sets[4] = ("idempotent", "true");
    let upsert = run(ID, None, &upsert_sets, 11, 20_000.0);
    assert_eq!(metric(&upsert, "retries"), crashes);
    assert_eq!(metric(&upsert, "rows_inserted"), inserted);
    assert_eq!(metric(&upsert, "failed_rows"), failed);
    assert_eq!(metric(&upsert, "duplicate_rows"), 0.0);
}

#[test]
fn a_synchronous_upload_still_waiting_when_the_run_ends_is_not_answered() {
    // 30 s into a job of over an hour, the 60 s gateway timeout has not come:
    // the uploader is still waiting, 30 000 ms so far.
    let out = run(ID, Some("bad"), &[], 1, 30.0);
    assert_eq!(metric(&out, "upload_waiting"), 1.0);
    assert_eq!(metric(&out, "timed_out"), 0.0);
    assert_eq!(metric(&out, "finished"), 0.0);
    assert_eq!(metric(&out, "upload_response_ms"), 30_000.0);
    // Past the timeout it is a 504 at 60 s, no longer waiting.
    let out = run(ID, Some("bad"), &[], 1, 120.0);
    assert_eq!(metric(&out, "upload_waiting"), 0.0);
    assert_eq!(metric(&out, "timed_out"), 1.0);
    assert_eq!(metric(&out, "upload_response_ms"), 60_000.0);
    // A small file finishes inside the request: 10 batches, each parsed in
    // 1 000 / 100 000 s = 10 ms then inserted in 1 s, one after the other:
    // answered after 10.1 s.
    let small = [("rows", "10000"), ("crash_pct", "0"), ("invalid_pct", "0")];
    let out = run(ID, Some("bad"), &small, 1, 120.0);
    assert_eq!(metric(&out, "upload_waiting"), 0.0);
    assert_eq!(metric(&out, "timed_out"), 0.0);
    assert_eq!(metric(&out, "upload_response_ms"), 10_100.0);
    // The asynchronous strategies answer after 50 ms whatever happens next.
    let out = run(ID, Some("good"), &[], 1, 30.0);
    assert_eq!(metric(&out, "upload_waiting"), 0.0);
    assert_eq!(metric(&out, "upload_response_ms"), 50.0);
}

#[test]
fn every_strategy_sees_the_same_file() {
    // Invalid rows are drawn per batch from their own stream, so the same
    // seed gives the same bad rows whichever strategy loads them.
    let failed: Vec<f64> = ["sync_request", "batched", "queue_workers"]
        .iter()
        .map(|s| {
            metric(
                &run(
                    ID,
                    None,
                    &[("strategy", s), ("crash_pct", "0")],
                    7,
                    20_000.0,
                ),
                "failed_rows",
            )
        })
        .collect();
    assert!(failed[0] > 0.0);
    assert!(failed.iter().all(|&f| f == failed[0]), "{failed:?}");
}
