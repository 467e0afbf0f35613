//! The bulk-export lessons, asserted on numbers.
//!
//! Independent facts used below: 1 KB = 1 000 bytes, so N records of 1 KB
//! are N / 1 000 MB; a link of M Mbit/s moves M / 8 MB per second; the
//! model's documented costs are 10 ms of CPU per MB of CSV, 2 ms (mean) per
//! cursor round trip of 1 000 rows plus 1 µs per KB read, the gzip
//! parameters (default ratio 5 and 20 ms/MB), 20 ms to answer a job request
//! and 5 s for the e-mail; the default heap limit is 4 096 MB (decimal, as
//! in large-datasets); V8's maximum string length on 64-bit is
//! 2^29 − 24 = 536 870 888 characters, one per byte of ASCII CSV.

mod common;
use common::{claim, metric, outcome, run, run_params, series, series_at};
use prodsim::engine::RunResult;
use prodsim::scenarios::find;

const ID: &str = "bulk-export";
/// The scenario's default run length (what the page runs).
const DEFAULT_S: f64 = 3_600.0;
/// 2^29 − 24, computed here rather than taken from the model.
const V8_MAX: f64 = 536_870_912.0 - 24.0;
/// CSV CPU per MB, seconds: the in-memory build's pace.
const CSV_S_PER_MB: f64 = 0.010;

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

fn marked(out: &RunResult, label: &str) -> Vec<f64> {
    out.marks
        .iter()
        .filter(|m| m.label == label)
        .map(|m| m.t_s)
        .collect()
}

#[test]
fn building_ten_million_rows_as_one_string_fails_at_v8s_string_limit() {
    claim("bulk-export/in-memory-string-limit");
    let out = run(ID, Some("bad"), &[], 1, DEFAULT_S);
    // 1 MB chunks (1 000 rows of 1 KB): 536 of them make 536 000 000
    // characters, within 536 870 888; the 537th would make 537 000 000.
    let fitting = (V8_MAX / 1e6).floor();
    assert_eq!(fitting, 536.0);
    // Each chunk costs 10 ms of CSV (the slowest stage: the cursor's ~3 ms
    // overlaps), so the failing append comes after 537 × 10 ms plus the
    // first read: about 5.37 s ("about 5 seconds").
    let want_s = (fitting + 1.0) * CSV_S_PER_MB + 0.003;
    assert_eq!(metric(&out, "string_too_long"), 1.0);
    assert_eq!(outcome(&out, "string_too_long"), 1);
    assert_eq!(metric(&out, "failed"), 1.0);
    assert!(
        close(metric(&out, "total_time_s"), want_s, 0.01),
        "{}",
        metric(&out, "total_time_s")
    );
    // The user saw nothing before the error: it is the first byte.
    assert!(close(metric(&out, "first_byte_ms"), want_s * 1e3, 0.01));
    assert_eq!(metric(&out, "bytes_sent_mb"), 0.0);
    assert_eq!(metric(&out, "files"), 0.0);
    // Not the heap and not the gateway: 537 MB is far below 4 096 MB, and
    // 5 s far below 60.
    assert_eq!(metric(&out, "oom"), 0.0);
    assert_eq!(metric(&out, "timed_out"), 0.0);
    assert_eq!(marked(&out, "string too long").len(), 1);
    // Memory held: the 536 MB string plus at most the two chunks the cursor
    // read ahead (one at the CSV stage's door, one in its buffer).
    let peak = metric(&out, "peak_memory_mb");
    assert!((536.0..=539.0).contains(&peak), "{peak} MB");

    // The memory climbs with every row: a 10 s run shows it rising steadily
    // (10 ms per MB), then dropping to nothing when the string is thrown
    // away.
    let short = run(ID, Some("bad"), &[], 1, 10.0);
    let mem = series(&short, "memory_mb");
    let fail_bucket = (want_s / short.bucket_s) as usize;
    let climb = &mem[2..fail_bucket - 1];
    assert!(
        climb.windows(2).all(|w| w[1] >= w[0]),
        "memory never falls while building"
    );
    assert!(climb.last().copied().unwrap_or(0.0) > 500.0);
    assert_eq!(mem.last().copied(), Some(0.0));
    // Memory is proportional to the rows built: 100, 200, 400 MB.
    for (records, mb) in [("100000", 100.0), ("200000", 200.0), ("400000", 400.0)] {
        let out = run(ID, Some("bad"), &[("records", records)], 1, DEFAULT_S);
        assert_eq!(metric(&out, "completed"), 1.0, "{records}");
        assert!(close(metric(&out, "peak_memory_mb"), mb, 1e-9), "{records}");
        // The first byte only after the whole CSV is built: mb × 10 ms.
        assert!(metric(&out, "first_byte_ms") >= mb * CSV_S_PER_MB * 1e3);
    }
}

#[test]
fn a_string_list_dies_at_the_heap_limit_and_a_bigger_heap_meets_the_gateway() {
    claim("bulk-export/string-list-hits-the-heap");
    claim("bulk-export/bigger-heap-then-timeout");
    let list = [("build_as", "string_list")];
    let out = run(ID, Some("bad"), &list, 1, DEFAULT_S);
    // 4 096 MB of 1 MB chunks at 10 ms each: the heap is full after about
    // 40.96 s; the cursor reads up to two chunks ahead of the CSV stage, so
    // the allocation that fails comes up to 20 ms sooner.
    let full_s = 4_096.0 * CSV_S_PER_MB;
    assert_eq!(metric(&out, "oom"), 1.0);
    assert_eq!(outcome(&out, "out_of_memory"), 1);
    assert_eq!(metric(&out, "string_too_long"), 0.0);
    let died = metric(&out, "total_time_s");
    assert!((full_s - 0.05..=full_s + 0.01).contains(&died), "{died} s");
    assert!((died - 41.0).abs() < 0.5, "about 41 s");
    assert_eq!(marked(&out, "out of memory"), [died]);
    // It held exactly the limit: the chunk that did not fit was refused.
    assert_eq!(metric(&out, "peak_memory_mb"), 4_096.0);
    assert_eq!(
        metric(&out, "timed_out"),
        0.0,
        "41 s is inside the 60 s timeout"
    );
    assert_eq!(metric(&out, "bytes_sent_mb"), 0.0);

    // A 16 384 MB heap holds all 10 000 MB, but building them takes
    // 10 000 × 10 ms = 100 s without a byte: the gateway answers 504 at
    // 60 s, and the server builds on to the full 10 000 MB.
    let big = [("build_as", "string_list"), ("heap_limit_mb", "16384")];
    let out = run(ID, Some("bad"), &big, 1, DEFAULT_S);
    assert_eq!(metric(&out, "oom"), 0.0);
    assert_eq!(metric(&out, "timed_out"), 1.0);
    assert_eq!(outcome(&out, "gateway_timeout"), 1);
    assert_eq!(metric(&out, "total_time_s"), 60.0);
    assert!(close(metric(&out, "peak_memory_mb"), 10_000.0, 1e-9));
    assert!(close(metric(&out, "cpu_s"), 10_000.0 * CSV_S_PER_MB, 1e-6));
    assert_eq!(metric(&out, "bytes_sent_mb"), 0.0, "nobody receives it");

    // With a 600 s gateway timeout too, the file arrives: 100 s to build,
    // then 10 000 MB at 12.5 MB/s = 800 s: 900 s, all of it held meanwhile.
    let patient = [big[0], big[1], ("gateway_timeout_s", "600")];
    let out = run(ID, Some("bad"), &patient, 1, DEFAULT_S);
    assert_eq!(metric(&out, "timed_out"), 0.0);
    assert_eq!(metric(&out, "completed"), 1.0);
    assert!(close(metric(&out, "total_time_s"), 900.0, 0.001));
    assert!(close(metric(&out, "first_data_s"), 100.0, 0.001));
    assert!(close(metric(&out, "bytes_sent_mb"), 10_000.0, 1e-9));
    assert!(close(metric(&out, "peak_memory_mb"), 10_000.0, 1e-9));
}

#[test]
fn doubling_the_small_export_meets_the_string_limit_then_the_heap() {
    claim("bulk-export/small-sync-doubling");
    // 100 000 → 800 000 rows: 100, 200, 400 MB fit in a string; 800 MB
    // passes 536.87 M characters.
    for (records, mb) in [(100_000u64, 100.0), (200_000, 200.0), (400_000, 400.0)] {
        let r = records.to_string();
        let out = run(ID, Some("small_sync"), &[("records", &r)], 1, DEFAULT_S);
        assert_eq!(metric(&out, "completed"), 1.0, "{records}");
        assert!(close(metric(&out, "peak_memory_mb"), mb, 1e-9));
    }
    let out = run(
        ID,
        Some("small_sync"),
        &[("records", "800000")],
        1,
        DEFAULT_S,
    );
    assert_eq!(metric(&out, "string_too_long"), 1.0);
    // It stopped at the limit, well before holding the 800 MB.
    let peak = metric(&out, "peak_memory_mb");
    assert!((V8_MAX / 1e6 - 1.0..540.0).contains(&peak), "{peak} MB");
    assert_eq!(metric(&out, "completed"), 0.0);
    // As a list of strings: the doubling goes on (800, 1 600, 3 200 MB fit in
    // 4 096 MB), and up to 4 096 MB / 1 KB = 4 096 000 rows would fit;
    // 4 000 000 do, 4 100 000 and the next doubling, 6 400 000, do not.
    let list = |records: &str| {
        run(
            ID,
            Some("small_sync"),
            &[("records", records), ("build_as", "string_list")],
            1,
            DEFAULT_S,
        )
    };
    for records in ["800000", "1600000", "3200000", "4000000"] {
        let out = list(records);
        assert_eq!(metric(&out, "completed"), 1.0, "{records}");
        assert_eq!(metric(&out, "oom"), 0.0, "{records}");
        let mb: f64 = records.parse::<f64>().unwrap_or_else(|e| panic!("{e}")) / 1e3;
        assert!(close(metric(&out, "peak_memory_mb"), mb, 1e-9));
    }
    for records in ["4100000", "6400000"] {
        let out = list(records);
        assert_eq!(metric(&out, "oom"), 1.0, "{records}");
        assert_eq!(metric(&out, "peak_memory_mb"), 4_096.0);
    }
}

#[test]
fn the_small_in_memory_export_still_succeeds() {
    // 100 MB: under the 537 MB string limit and the 4 096 MB heap; built in
    // 100 × 10 ms = 1 s, then sent at 12.5 MB/s in 8 s: 9 s in all.
    let out = run(ID, Some("small_sync"), &[], 1, DEFAULT_S);
    assert_eq!(metric(&out, "completed"), 1.0);
    assert_eq!(metric(&out, "oom") + metric(&out, "string_too_long"), 0.0);
    assert!(close(metric(&out, "first_byte_ms"), 1_000.0, 0.01));
    assert!(close(metric(&out, "total_time_s"), 9.0, 0.01));
}

#[test]
fn streaming_sends_the_first_byte_in_milliseconds_with_flat_memory() {
    claim("bulk-export/streaming-first-byte");
    let small = run(ID, Some("good"), &[("records", "1000000")], 1, DEFAULT_S);
    let big = run(ID, Some("good"), &[], 1, DEFAULT_S);
    // One round trip and one chunk of work: 2 ms (the round trip's mean;
    // log-normal, σ = 0.25, so within ±2 ms) + 1 ms to read 1 MB + 10 ms of
    // CSV + 20 ms of gzip = 33 ms; 13 ms without gzip.
    for out in [&small, &big] {
        let fb = metric(out, "first_byte_ms");
        assert!((fb - 33.0).abs() < 2.0, "first byte {fb}");
        assert_eq!(metric(out, "timed_out"), 0.0);
        assert_eq!(metric(out, "completed"), 1.0);
    }
    let plain = run(ID, Some("good"), &[("gzip", "false")], 1, DEFAULT_S);
    assert!((metric(&plain, "first_byte_ms") - 13.0).abs() < 2.0);
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
    // Backpressure: on a 1 Mbit/s line each gzipped 1 000-row chunk
    // (0.2 MB) takes 1.6 s to send, the 100 000-row export 160 s, while
    // reading and gzipping it alone would take 100 × 30 ms = 3 s. The
    // cursor reads no faster than the socket drains: by the end of the
    // bucket at 80–81 s, floor(81 / 1.6) = 50 chunks are sent, and at most
    // 5 more are turned into CSV and waiting (blocked at the CSV stage, in
    // gzip's buffer and stage, in the socket's buffer and stage): 50–56 %,
    // not 100 %. Memory stays at a few MB.
    let slow = run(
        ID,
        Some("good"),
        &[("records", "100000"), ("client_mbps", "1")],
        1,
        300.0,
    );
    assert!(close(metric(&slow, "total_time_s"), 160.0, 0.01));
    assert!(metric(&slow, "peak_memory_mb") < 10.0);
    let at_80 = series_at(&slow, "generated_pct", 80.5);
    assert!((50.0..=56.0).contains(&at_80), "{at_80} % at 80 s");
}

#[test]
fn gzip_cuts_bytes_sent_by_its_ratio_at_a_cpu_cost() {
    claim("bulk-export/gzip-trade");
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
            DEFAULT_S,
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
        DEFAULT_S,
    );
    assert!(close(metric(&ten, "bytes_sent_mb"), 100.0, 1e-6));
}

#[test]
fn switching_gzip_off_then_speeding_up_the_link() {
    claim("bulk-export/stream-gzip-off");
    let at =
        |sets: &[(&str, &str)]| metric(&run(ID, Some("good"), sets, 1, DEFAULT_S), "total_time_s");
    // 100 Mbit/s: gzip-bound 10 000 MB × 20 ms = 200 s; without gzip the
    // link carries 10 000 MB at 12.5 MB/s = 800 s: four times as long.
    let zipped = at(&[]);
    let plain = at(&[("gzip", "false")]);
    assert!(close(zipped, 200.0, 0.01), "{zipped}");
    assert!(close(plain, 800.0, 0.01), "{plain}");
    // 1 000 Mbit/s: gzip is still 200 s of CPU; without it the link needs
    // 80 s and CSV 100 s, so 100 s: twice as fast as with gzip.
    let fast_zipped = at(&[("client_mbps", "1000")]);
    let fast_plain = at(&[("gzip", "false"), ("client_mbps", "1000")]);
    assert!(close(fast_zipped, 200.0, 0.01), "{fast_zipped}");
    assert!(close(fast_plain, 100.0, 0.01), "{fast_plain}");
}

#[test]
fn turning_gzip_off_makes_the_link_the_bottleneck() {
    claim("bulk-export/predict");
    let scenario = find(ID).unwrap_or_else(|e| panic!("{e}"));
    let predict = &scenario.spec.lesson.predict;
    let params = predict
        .params(&scenario.spec)
        .unwrap_or_else(|e| panic!("{e}"));
    // The question's premise: 'Stream with gzip' takes about 200 s, the
    // 10 000 MB × 20 ms of gzip CPU.
    let zipped = run(ID, predict.from.as_deref(), &[], 1, DEFAULT_S);
    assert!(close(metric(&zipped, "total_time_s"), 200.0, 0.01));
    for seed in [1, 7] {
        let out = run_params(scenario, &params, seed, scenario.spec.duration_s.default);
        // 10 M × 1 KB = 10 GB = 80 000 Mbit; at 100 Mbit/s, 800 s. The other
        // stages are faster (CSV 100 s, cursor ~30 s) and overlap.
        let t = metric(&out, predict.metric.as_str());
        assert!(close(t, 800.0, 0.005), "seed {seed}: {t} s");
        // A handful of 1 MB chunks in the pipeline.
        assert!(metric(&out, "peak_memory_mb") < 10.0);
        assert_eq!(metric(&out, "bytes_sent_mb"), 10_000.0);
    }
}

#[test]
fn a_background_job_answers_at_once_and_delivers_later() {
    claim("bulk-export/background-job-last");
    let job = run(ID, Some("async"), &[], 1, DEFAULT_S);
    let stream = run(ID, Some("good"), &[], 1, DEFAULT_S);
    let chunked = run(ID, Some("chunked"), &[], 1, DEFAULT_S);
    // The POST is answered after the 20 ms it takes to record the job.
    assert!(close(metric(&job, "first_byte_ms"), 20.0, 1e-9));
    assert_eq!(metric(&job, "requests"), 2.0, "the POST and the download");
    assert_eq!(metric(&job, "completed"), 2.0);
    assert_eq!(metric(&job, "timed_out"), 0.0);
    // Delivery: ~200 s to write the gzipped file (gzip-bound, as above),
    // 5 s for the e-mail, then 2 000 MB at 12.5 MB/s = 160 s: the download
    // starts at about 205 s and ends at about 365 s, later than streaming
    // or chunked files of the same export.
    assert!(close(metric(&job, "first_data_s"), 205.0, 0.01));
    assert!(
        close(metric(&job, "total_time_s"), 365.0, 0.02),
        "{}",
        metric(&job, "total_time_s")
    );
    assert!(metric(&job, "total_time_s") > metric(&stream, "total_time_s") + 150.0);
    assert!(metric(&job, "total_time_s") > metric(&chunked, "total_time_s") + 100.0);
    assert!(
        metric(&job, "peak_memory_mb") < 10.0,
        "the worker streams too"
    );
    assert!(close(metric(&job, "bytes_sent_mb"), 2_000.0, 1e-6));
}

#[test]
fn chunked_files_produce_one_file_per_chunk_of_records() {
    claim("bulk-export/chunked-files-per-file");
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
            DEFAULT_S,
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
    // The try-this: 100 files of 100 000 rows, then 10 of 1 000 000. A file
    // is downloadable once written, and writing is gzip-bound: 100 MB × 20
    // ms = 2 s, or 1 000 MB × 20 ms = 20 s (after the 20 ms POST).
    let hundred = run(ID, Some("chunked"), &[], 1, DEFAULT_S);
    let ten = run(
        ID,
        Some("chunked"),
        &[("chunk_records", "1000000")],
        1,
        DEFAULT_S,
    );
    assert_eq!(metric(&hundred, "files"), 100.0);
    assert_eq!(metric(&ten, "files"), 10.0);
    assert!(close(metric(&hundred, "first_data_s"), 2.0, 0.05));
    assert!(close(metric(&ten, "first_data_s"), 20.0, 0.01));
    // Downloads start while later files are still being written, so the
    // user is done sooner than with one big file from the same job.
    let single = run(ID, Some("async"), &[], 1, DEFAULT_S);
    assert!(metric(&hundred, "total_time_s") < metric(&single, "total_time_s") - 100.0);
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
fn after_a_504_the_build_still_hits_its_limit_but_the_request_ends_once() {
    // A 1 s timeout on the 10 M-row string build: the 504 comes at 1 s, the
    // string limit at ~5.4 s. The request failed once, for the timeout;
    // the limit is still reached and marked.
    let out = run(ID, Some("bad"), &[("gateway_timeout_s", "1")], 1, DEFAULT_S);
    assert_eq!(metric(&out, "timed_out"), 1.0);
    assert_eq!(metric(&out, "string_too_long"), 1.0);
    assert_eq!(metric(&out, "failed"), 1.0);
    assert_eq!(outcome(&out, "gateway_timeout"), 1);
    assert_eq!(outcome(&out, "string_too_long"), 0);
    assert_eq!(metric(&out, "total_time_s"), 1.0);
    assert_eq!(marked(&out, "string too long").len(), 1);
}

#[test]
fn the_heap_limit_applies_to_streams_too() {
    // 100 KB records: one 1 000-row chunk is 100 MB, more than a 64 MB
    // heap. The stream dies on its first chunk, failing the download.
    let out = run(
        ID,
        Some("good"),
        &[
            ("record_kb", "100"),
            ("heap_limit_mb", "64"),
            ("records", "100000"),
        ],
        1,
        60.0,
    );
    assert_eq!(metric(&out, "oom"), 1.0);
    assert_eq!(outcome(&out, "out_of_memory"), 1);
    assert_eq!(metric(&out, "bytes_sent_mb"), 0.0);
    // The same stream with the default 4 096 MB heap holds ~2 chunks and
    // the gzip output: a few hundred MB, and finishes.
    let ok = run(
        ID,
        Some("good"),
        &[("record_kb", "100"), ("records", "100000")],
        1,
        DEFAULT_S,
    );
    assert_eq!(metric(&ok, "oom"), 0.0);
    assert_eq!(metric(&ok, "completed"), 1.0);
}

#[test]
fn the_memory_chart_grows_with_the_build_but_stays_flat_for_the_stream() {
    let series_of = |preset: &str, sets: &[(&str, &str)]| run(ID, Some(preset), sets, 1, 300.0);
    // As a list of strings: about 100 MB a second (10 ms per MB), so 33 s in the
    // chart shows about 3 300 MB; the process dies at ~41 s and holds
    // nothing after.
    let sync = series_of("bad", &[("build_as", "string_list")]);
    let at_33 = series_at(&sync, "memory_mb", 33.0);
    assert!(at_33 > 3_000.0 && at_33 < 3_500.0, "{at_33}");
    let from_50 = (50.0 / sync.bucket_s) as usize;
    let after = series(&sync, "memory_mb")
        .get(from_50..)
        .unwrap_or_default();
    assert!(after.iter().all(|&v| v == 0.0));
    assert_eq!(series_at(&sync, "memory_mb", 299.0), 0.0);
    // Stream: never more than a few chunks of 1 MB at any moment.
    let stream = series_of("good", &[]);
    assert!(series(&stream, "memory_mb").iter().all(|&v| v < 10.0));
    assert!(
        series_at(&stream, "memory_mb", 10.5) > 0.0,
        "chunks are in the pipeline while it runs"
    );
}
