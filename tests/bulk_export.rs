//! The bulk-export lessons, asserted on numbers.
//!
//! Independent facts used below: 1 KB = 1 000 bytes, so N records of 1 KB
//! are N / 1 000 MB; a link of M Mbit/s moves M / 8 MB per second; the
//! model's documented costs are 10 ms of CPU per MB of CSV, the gzip
//! parameters (default ratio 5 and 20 ms/MB), 20 ms to answer a job request
//! and 5 s for the e-mail.

mod common;
use common::{metric, outcome, run};

const ID: &str = "bulk-export";

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

#[test]
fn building_in_memory_times_out_at_the_gateway_and_needs_the_whole_export_in_memory() {
    // 10 M × 1 KB = 10 000 MB of CSV; writing it alone costs 10 000 × 10 ms
    // = 100 s of CPU before the first byte, past the 60 s idle timeout.
    let out = run(ID, Some("bad"), &[], 1, 3600.0);
    assert_eq!(metric(&out, "timed_out"), 1.0);
    assert_eq!(outcome(&out, "gateway_timeout"), 1);
    assert_eq!(
        metric(&out, "first_byte_ms"),
        60_000.0,
        "the user's first byte is the 504"
    );
    assert_eq!(metric(&out, "total_time_s"), 60.0);
    assert_eq!(metric(&out, "bytes_sent_mb"), 0.0);
    assert_eq!(metric(&out, "files"), 0.0);
    // The server keeps building after the user is gone: all 10 000 MB are held.
    assert!(close(metric(&out, "peak_memory_mb"), 10_000.0, 1e-9));

    // Memory is proportional to the export: 1 000 MB, then 2 000 MB.
    // (1 M rows build in ~10 s, inside the timeout, so these succeed.)
    for (records, mb) in [("1000000", 1_000.0), ("2000000", 2_000.0)] {
        let out = run(ID, Some("bad"), &[("records", records)], 1, 3600.0);
        assert_eq!(metric(&out, "timed_out"), 0.0, "{records}");
        assert!(close(metric(&out, "peak_memory_mb"), mb, 1e-9), "{records}");
        assert!(
            metric(&out, "first_byte_ms") > 0.9 * mb * 10.0,
            "first byte only after the CSV is built"
        );
    }
    // Gzip in memory holds the raw file and its compressed copy: 1 000 + 200 MB.
    let zipped = run(
        ID,
        Some("bad"),
        &[("records", "1000000"), ("gzip", "true")],
        1,
        3600.0,
    );
    assert!(close(metric(&zipped, "peak_memory_mb"), 1_200.0, 1e-9));
}

#[test]
fn streaming_sends_the_first_byte_in_milliseconds_with_flat_memory() {
    let small = run(ID, Some("good"), &[("records", "1000000")], 1, 3600.0);
    let big = run(ID, Some("good"), &[], 1, 3600.0);
    for out in [&small, &big] {
        assert!(
            metric(out, "first_byte_ms") < 100.0,
            "first byte {}",
            metric(out, "first_byte_ms")
        );
        assert_eq!(metric(out, "timed_out"), 0.0);
        assert_eq!(metric(out, "completed"), 1.0);
    }
    // Flat: ten times the rows, the same few 1 MB chunks in the pipeline.
    let (m_small, m_big) = (
        metric(&small, "peak_memory_mb"),
        metric(&big, "peak_memory_mb"),
    );
    assert!(m_big < 10.0, "{m_big} MB");
    assert!(close(m_big, m_small, 0.05), "{m_small} vs {m_big} MB");
    // Pace of the slowest stage: gzip needs 10 000 MB × 20 ms = 200 s of CPU;
    // the 2 000 MB compressed at 12.5 MB/s need 160 s; CSV 100 s.
    assert!(
        close(metric(&big, "total_time_s"), 200.0, 0.02),
        "{}",
        metric(&big, "total_time_s")
    );
    // Without gzip the 100 Mbit/s link is the bottleneck: 10 000 MB / 12.5 MB/s = 800 s,
    // much longer than the 60 s gateway timeout, yet no timeout: bytes keep flowing.
    let plain = run(ID, Some("good"), &[("gzip", "false")], 1, 3600.0);
    assert!(close(metric(&plain, "total_time_s"), 800.0, 0.01));
    assert_eq!(metric(&plain, "timed_out"), 0.0);
}

#[test]
fn gzip_cuts_bytes_sent_by_its_ratio_at_a_cpu_cost() {
    let sets = |gzip: &'static str, mbps: &'static str| {
        run(
            ID,
            None,
            &[
                ("strategy", "stream"),
                ("gzip", gzip),
                ("client_mbps", mbps),
            ],
            1,
            3600.0,
        )
    };
    let (off, on) = (sets("false", "100"), sets("true", "100"));
    // 1 000 MB of CSV; gzip at ratio 5 sends 200 MB.
    assert!(close(metric(&off, "bytes_sent_mb"), 1_000.0, 1e-9));
    assert!(close(metric(&on, "bytes_sent_mb"), 200.0, 1e-6));
    // The price: 1 000 MB × 20 ms/MB = 20 s more CPU on top of CSV's 10 s.
    assert!(close(metric(&off, "cpu_s"), 10.0, 1e-6));
    assert!(close(
        metric(&on, "cpu_s") - metric(&off, "cpu_s"),
        20.0,
        1e-6
    ));
    // On a 100 Mbit/s link that trade wins (80 s of sending down to ~20 s)…
    assert!(metric(&on, "total_time_s") < 0.5 * metric(&off, "total_time_s"));
    // …on a 1 000 Mbit/s link it loses: sending 1 000 MB takes 8 s, CSV 10 s,
    // but gzip needs 20 s.
    let (fast_off, fast_on) = (sets("false", "1000"), sets("true", "1000"));
    assert!(close(metric(&fast_off, "total_time_s"), 10.0, 0.05));
    assert!(close(metric(&fast_on, "total_time_s"), 20.0, 0.05));
    // A different ratio changes the bytes by exactly that factor.
    let ten = run(
        ID,
        None,
        &[
            ("strategy", "stream"),
            ("gzip", "true"),
            ("gzip_ratio", "10"),
        ],
        1,
        3600.0,
    );
    assert!(close(metric(&ten, "bytes_sent_mb"), 100.0, 1e-6));
}

#[test]
fn a_background_job_answers_at_once_and_delivers_later() {
    let job = run(ID, Some("async"), &[], 1, 3600.0);
    let stream = run(ID, Some("good"), &[], 1, 3600.0);
    // The POST is answered after the 20 ms it takes to record the job.
    assert!(close(metric(&job, "first_byte_ms"), 20.0, 1e-9));
    assert_eq!(metric(&job, "requests"), 2.0, "the POST and the download");
    assert_eq!(metric(&job, "completed"), 2.0);
    assert_eq!(metric(&job, "timed_out"), 0.0);
    // Delivery: ~200 s to write the gzipped file (gzip-bound, as above),
    // 5 s for the e-mail, then 2 000 MB at 12.5 MB/s = 160 s: about 365 s,
    // later than streaming the same export.
    assert!(
        close(metric(&job, "total_time_s"), 365.0, 0.02),
        "{}",
        metric(&job, "total_time_s")
    );
    assert!(metric(&job, "total_time_s") > metric(&stream, "total_time_s") + 150.0);
    assert!(
        metric(&job, "peak_memory_mb") < 10.0,
        "the worker streams too"
    );
    assert!(close(metric(&job, "bytes_sent_mb"), 2_000.0, 1e-6));
}

#[test]
fn chunked_files_produce_one_file_per_chunk_of_records() {
    // Rounded-up division through floating point, independent of the model's integer `div_ceil`.
    let ceil = |a: u64, b: u64| (a as f64 / b as f64).ceil() as u64;
    for (records, per_file) in [
        (1_050_000u64, 100_000u64),
        (1_000_000, 100_000),
        (1_000_000, 300_000),
        (7_000, 2_500),
    ] {
        let r = records.to_string();
        let c = per_file.to_string();
        let out = run(
            ID,
            Some("chunked"),
            &[("records", &r), ("chunk_records", &c), ("gzip", "false")],
            1,
            3600.0,
        );
        let files = ceil(records, per_file);
        assert_eq!(
            metric(&out, "files"),
            files as f64,
            "{records} / {per_file}"
        );
        assert_eq!(
            metric(&out, "requests"),
            files as f64 + 1.0,
            "one POST, one GET per file"
        );
        // Every record arrives exactly once, across all the files.
        assert!(close(
            metric(&out, "bytes_sent_mb"),
            records as f64 / 1_000.0,
            1e-9
        ));
    }
    // Downloads start while later files are still being written, so the
    // user is done sooner than with one big file from the same job.
    let chunked = run(ID, Some("chunked"), &[], 1, 3600.0);
    let single = run(ID, Some("async"), &[], 1, 3600.0);
    assert_eq!(metric(&chunked, "files"), 100.0);
    assert!(metric(&chunked, "total_time_s") < metric(&single, "total_time_s") - 100.0);
}

#[test]
fn a_short_gateway_timeout_hits_slow_builds_only() {
    // 200 000 rows: 200 MB of CSV take 2 s of CPU to build. A 1 s idle
    // timeout kills the in-memory build but not the stream, which sends a
    // 1 MB chunk every 80 ms from the first ~15 ms on.
    let sets = [("gateway_timeout_s", "1"), ("records", "200000")];
    let sync = run(ID, Some("small_sync"), &sets, 1, 600.0);
    assert_eq!(metric(&sync, "timed_out"), 1.0);
    let stream = run(
        ID,
        Some("small_sync"),
        &[sets[0], sets[1], ("strategy", "stream")],
        1,
        600.0,
    );
    assert_eq!(metric(&stream, "timed_out"), 0.0);
    assert_eq!(metric(&stream, "files"), 1.0);
}

#[test]
fn the_memory_chart_grows_with_the_build_but_stays_flat_for_the_stream() {
    let series = |preset: &str| {
        let out = run(ID, Some(preset), &[], 1, 300.0);
        out.series("memory_mb")
            .map(|s| s.values.clone())
            .unwrap_or_default()
    };
    // In memory: 10 000 MB built over ~100 s, so a third of the way in the
    // chart shows several GB; it is all dropped once the build ends.
    let sync = series("bad");
    let third = sync.len() / 9; // 300 one-second buckets: index 33 is 33 s in
    assert!(
        sync[third] > 2_000.0 && sync[third] < 5_000.0,
        "{}",
        sync[third]
    );
    assert_eq!(sync.last().copied(), Some(0.0));
    // Stream: never more than a few chunks of 1 MB at any moment.
    let stream = series("good");
    assert!(stream.iter().all(|&v| v < 10.0));
    assert!(stream[10] > 0.0, "chunks are in the pipeline while it runs");
}
