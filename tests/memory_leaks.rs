//! The memory-leak lessons, asserted on numbers.
//!
//! Independent facts used below, all documented (model header, the heap
//! part's `GcConfig::node`, the scenario file): KB and MB are decimal (1 KB
//! = 1 000 bytes, 1 MB = 1 000 KB); a request allocates 64 KB of short-lived
//! garbage and takes 2 ms of event-loop CPU; a fresh process holds 50 MB; the
//! young generation is 16 MB and a scavenge promotes 10 % of it; after a
//! major GC the old generation may grow by a fifth of the room left below
//! the limit (at least 4 MB) before the next; near the limit the young
//! generation only has the room left, so a full GC comes every time that
//! room has been allocated; a major GC pauses 5 ms + 1 ms per live MB and
//! runs out of memory when it leaves under 1 MB free; requests are served in
//! arrival order and clients give up after 30 s; PM2 checks every 30 s and
//! sees RSS = old-generation heap used + 60 MB; a planned restart keeps the
//! process down 3 s, an out-of-memory crash 30 s.

mod common;
use common::{claim, metric, outcome, run, series};
use prodsim::engine::RunResult;
use prodsim::scenarios::find;
use prodsim::spec::RunConfig;

const ID: &str = "memory-leaks";
/// Twelve hours: the `hours` default, also passed as the run duration.
const DAY_HALF_S: f64 = 43_200.0;
/// The scenario's defaults: 100 req/s, 2 KB leaked each, 1 536 MB limit.
const RPS: f64 = 100.0;
const LEAK_KB: f64 = 2.0;
const LIMIT_MB: f64 = 1_536.0;

/// A fresh process holds this much, MB (documented).
const BASE_MB: f64 = 50.0;
/// Short-lived garbage per request, KB, and event-loop CPU per request, s.
const GARBAGE_KB: f64 = 64.0;
const CPU_S: f64 = 0.002;
/// Time each request spends on I/O off the loop, s.
const IO_S: f64 = 0.010;
/// Young generation, MB, and the share of it a scavenge promotes.
const YOUNG_MB: f64 = 16.0;
const PROMOTED: f64 = 0.10;
/// A major GC that leaves less than this free is out of memory, MB.
const MIN_FREE_MB: f64 = 1.0;
/// Clients give up after this long, s.
const TIMEOUT_S: f64 = 30.0;
/// Seconds down after a planned restart, and after a crash.
const RESTART_S: f64 = 3.0;
const CRASH_DOWN_S: f64 = 30.0;
/// PM2 sees RSS = old-generation heap used + this, MB; it checks every 30 s.
const RSS_BEYOND_HEAP_MB: f64 = 60.0;
const CHECK_S: f64 = 30.0;

/// MB per second the old generation grows by between major GCs at the
/// defaults: the 10 % of 64 KB a scavenge promotes plus the 2 KB leaked, at
/// 100 req/s: 0.84 MB/s.
const OLD_GROWTH_MB_S: f64 = RPS * (PROMOTED * GARBAGE_KB + LEAK_KB) / 1_000.0;

/// Major GC pause for a live heap of `live_mb`, ms (the documented formula).
fn major_pause_ms(live_mb: f64) -> f64 {
    5.0 + 1.0 * live_mb
}

/// Seconds for a leak of `kb` per request at `rps` to fill `mb` megabytes.
fn seconds_to_fill(mb: f64, kb: f64, rps: f64) -> f64 {
    mb * 1_000.0 / (kb * rps)
}

/// One request of the last 16 MB before a crash, as the theory below sees it.
struct Served {
    /// When it arrived, s from the start of the run.
    arrived: f64,
    /// When the loop had finished it (its CPU and its share of GC), s.
    done: f64,
    /// Its share of GC, s.
    gc: f64,
}

/// The last 16 MB before an out-of-memory crash, worked out from the
/// documented mechanism instead of by the model. With less than the 16 MB
/// young generation free, a full GC comes each time the free room F has been
/// allocated, at 64 KB + leak per request, and pauses 5 ms + 1 ms × (limit −
/// F) MB; so each request costs the loop 2 ms of CPU plus
/// g(F) = pause(F) × (64 KB + leak) ÷ F of GC, and leaves F smaller by its
/// leak. Requests are served in arrival order (Lindley's recursion: one
/// starts when it has arrived and the one before it is done) and arrive
/// evenly at `rps` from the moment F is 16 MB, which the leak reaches after
/// (limit − 16 − 50) MB ÷ (leak × rps). The crash comes when the request
/// that leaves under 1 MB free is done. Far from saturation a request is
/// done 2 ms after it arrives; once 2 ms + g(F) is more than 1 / rps, the
/// backlog grows: that is the thrash.
fn last_16_mb(rps: f64, leak_kb: f64, limit_mb: f64) -> Vec<Served> {
    let leak_mb = leak_kb / 1_000.0;
    let per_request_mb = (GARBAGE_KB + leak_kb) / 1_000.0;
    let from = (limit_mb - YOUNG_MB - BASE_MB) / (rps * leak_mb);
    let mut served = Vec::new();
    let (mut free, mut done, mut n) = (YOUNG_MB, 0.0_f64, 0_u32);
    while free >= MIN_FREE_MB {
        let arrived = from + f64::from(n) / rps;
        let gc = major_pause_ms(limit_mb - free) / 1_000.0 * per_request_mb / free;
        done = done.max(arrived) + CPU_S + gc;
        served.push(Served { arrived, done, gc });
        free -= leak_mb;
        n += 1;
    }
    served
}

/// When the theory's process dies: its last request is done.
fn crash_at(served: &[Served]) -> f64 {
    served.last().map_or(0.0, |s| s.done)
}

/// Share of `[w0, w1)` the theory's loop spends in GC (each request's GC
/// taken as the end of its time on the loop).
fn gc_share(served: &[Served], w0: f64, w1: f64) -> f64 {
    let gc: f64 = served
        .iter()
        .map(|s| (s.done.min(w1) - (s.done - s.gc).max(w0)).max(0.0))
        .sum();
    gc / (w1 - w0)
}

/// Requests per second the theory completes in `[w0, w1)`: done in it, and
/// within the client's 30 s (their 10 ms of I/O included).
fn completed_rps(served: &[Served], w0: f64, w1: f64) -> f64 {
    let n = served
        .iter()
        .filter(|s| (w0..w1).contains(&s.done) && s.done - s.arrived + IO_S <= TIMEOUT_S)
        .count();
    n as f64 / (w1 - w0)
}

/// Requests per second that time out in `[w0, w1)` in the theory: their
/// client gave up 30 s after arriving, before the loop was done with them.
/// That includes every request arriving after the last one the loop serves
/// (they queue behind the GC that finds no room) more than 30 s before the
/// crash.
fn timeouts_rps(served: &[Served], rps: f64, w0: f64, w1: f64) -> f64 {
    let late = served
        .iter()
        .filter(|s| s.done - s.arrived + IO_S > TIMEOUT_S)
        .filter(|s| (w0..w1).contains(&(s.arrived + TIMEOUT_S)))
        .count() as f64;
    let last = served.last().map_or(0.0, |s| s.arrived);
    let crash = crash_at(served);
    // Arrivals in [last, crash − 30 s) give up at [last + 30, crash).
    let lo = (last + TIMEOUT_S).max(w0);
    let hi = crash.min(w1);
    let queued = rps * (hi - lo).max(0.0);
    (late + queued) / (w1 - w0)
}

/// Worst value of a series.
fn worst(out: &RunResult, key: &str) -> f64 {
    series(out, key).iter().copied().fold(0.0, f64::max)
}

#[test]
fn the_live_heap_climbs_in_a_straight_line_under_a_sawtooth_of_garbage() {
    claim("memory-leaks/live-heap-floor-rises");
    let out = run(ID, Some("bad"), &[], 1, DAY_HALF_S);
    let (live, used) = (series(&out, "heap_live_mb"), series(&out, "heap_used_mb"));
    // Straight line: the live heap at the end of bucket i is base + rate × t,
    // rate = 2 KB × 100 req/s = 0.2 MB/s (Poisson counts: within 2 %).
    let rate_mb_s = LEAK_KB * RPS / 1_000.0;
    assert!((rate_mb_s - 0.2).abs() < 1e-12, "the sentence's 0.2 MB/s");
    for i in [5, 15, 30, 45] {
        let t = (i + 1) as f64 * out.bucket_s;
        let want = BASE_MB + rate_mb_s * t;
        assert!(
            (live[i] - want).abs() / want < 0.02,
            "bucket {i}: {} MB vs {want}",
            live[i]
        );
    }
    // The sawtooth: garbage above the live heap builds up and is collected.
    // A major GC comes after the old generation has grown by a fifth of the
    // room left, about 0.2 × 1 486 ≈ 300 MB early on, at 0.84 MB/s (0.64
    // promoted + 0.2 leaked): one every ~350 s, so the first hour holds ~10
    // and the garbage per bucket must fall back at least 5 times, and never
    // exceed that fifth of the room (plus one 1.6 MB promotion).
    let garbage: Vec<f64> = used.iter().zip(live).map(|(u, l)| u - l).collect();
    let first_hour = (3_600.0 / out.bucket_s) as usize;
    let falls = garbage[..first_hour]
        .windows(2)
        .filter(|w| w[1] < w[0] - 20.0)
        .count();
    assert!(falls >= 5, "garbage never collected? {garbage:?}");
    for i in 0..first_hour {
        let room = LIMIT_MB - live[i.saturating_sub(1)].min(live[i]);
        assert!(garbage[i] >= 0.0);
        assert!(garbage[i] <= 0.2 * room + 1.6 + 1e-9, "bucket {i}");
    }
    // The floor under the sawtooth rises: the least heap used in each hour
    // of the first cycle is above the one before (by ~0.2 MB/s × 3 600 s
    // = 720 MB of leak, less the garbage the sawtooth adds on top).
    let per_hour = (3_600.0 / out.bucket_s) as usize;
    let floor = |h: usize| {
        used[h * per_hour..(h + 1) * per_hour]
            .iter()
            .copied()
            .fold(f64::MAX, f64::min)
    };
    assert!(
        floor(1) > floor(0) + 400.0,
        "{} then {}",
        floor(0),
        floor(1)
    );
    // Without a leak the floor stays where it started.
    let none = run(ID, Some("no_leak"), &[], 1, DAY_HALF_S);
    let none_live = series(&none, "heap_live_mb");
    assert!(none_live.iter().all(|&l| l == BASE_MB), "{none_live:?}");
}

#[test]
fn collections_get_longer_and_come_sooner_as_the_heap_fills() {
    claim("memory-leaks/collections-longer-and-sooner");
    for seed in [1, 2] {
        let out = run(ID, Some("bad"), &[], seed, DAY_HALF_S);
        let (live, pause, gc) = (
            series(&out, "heap_live_mb"),
            series(&out, "gc_pause_ms"),
            series(&out, "gc_time_pct"),
        );
        // Longer: a bucket's longest pause is its last major GC's, 5 ms +
        // 1 ms × the live MB at that moment, which lies between the live heap
        // one bucket earlier and the highest in this one (the leak adds 0.2
        // MB/s × 144 s = 28.8 MB a bucket). Earlier buckets may hold only
        // 2 ms scavenges: a major GC comes every 0.2 × room ÷ 0.84 MB/s,
        // under 144 s once the room is under 604.8 MB, the live heap over
        // 931 MB, from (931 − 50) / 0.2 = 4 405 s: bucket 31 on, up to the
        // crash bucket (about 7 500 s, bucket 52).
        let bucket_leak = LEAK_KB * RPS / 1_000.0 * out.bucket_s;
        let crash_bucket = (metric(&out, "hours_to_first_crash") * 3_600.0 / out.bucket_s) as usize;
        assert!(crash_bucket > 50, "seed {seed}: {crash_bucket}");
        for i in 31..crash_bucket {
            let (lo, hi) = (
                major_pause_ms(live[i] - bucket_leak),
                major_pause_ms(live[i]),
            );
            assert!(
                (lo - 1.0..=hi + 1.0).contains(&pause[i]),
                "seed {seed} bucket {i}: {} ms, live {} MB",
                pause[i],
                live[i]
            );
        }
        // Sooner: GC seconds in a window, against the theory. With the room
        // F = 1 536 − L and the live heap L = 50 + 0.2 t MB, a major GC
        // comes every max(0.2 F, 4 MB) ÷ 0.84 MB/s and pauses 5 + L ms;
        // scavenges add 2 ms every 16 MB ÷ 6.4 MB/s = 2.5 s.
        let theory = |t0: f64, t1: f64| {
            let steps = 10_000;
            let dt = (t1 - t0) / steps as f64;
            (0..steps)
                .map(|k| {
                    let live = BASE_MB + 0.2 * (t0 + (k as f64 + 0.5) * dt);
                    let interval = (0.2 * (LIMIT_MB - live)).max(4.0) / OLD_GROWTH_MB_S;
                    // A 2 ms scavenge each time 16 MB of garbage is allocated.
                    let scavenges = RPS * GARBAGE_KB / 1_000.0 / YOUNG_MB;
                    (major_pause_ms(live) / 1_000.0 / interval + 0.002 * scavenges) * dt
                })
                .sum::<f64>()
        };
        let measured = |t0: f64, t1: f64| {
            let (a, b) = ((t0 / out.bucket_s) as usize, (t1 / out.bucket_s) as usize);
            gc[a..b].iter().sum::<f64>() / 100.0 * out.bucket_s
        };
        // Two 30-minute windows (whole buckets) before the last minutes:
        // the first holds about 21 × ln(1 126 / 766) ≈ 8 major GCs, the
        // second 21 × ln(406 / 46) ≈ 46 (21 = 0.84 / (0.2 × 0.2)), so allow
        // a quarter and a tenth for whole GCs in or out of the window.
        let (early, late) = ((1_728.0, 3_600.0), (5_328.0, 7_200.0));
        let (want_early, want_late) = (theory(early.0, early.1), theory(late.0, late.1));
        let (got_early, got_late) = (measured(early.0, early.1), measured(late.0, late.1));
        assert!(
            (got_early - want_early).abs() / want_early < 0.25,
            "seed {seed}: {got_early} s vs {want_early}"
        );
        assert!(
            (got_late - want_late).abs() / want_late < 0.10,
            "seed {seed}: {got_late} s vs {want_late}"
        );
        // Pauses are at most (5 + 1 490) / (5 + 410) ≈ 3.6 times longer in
        // the late window, yet it spends over 8 times the GC time: the
        // collections come more often.
        let pause_ratio = major_pause_ms(1_490.0) / major_pause_ms(410.0);
        assert!(
            got_late / got_early > 2.0 * pause_ratio,
            "seed {seed}: {got_late} vs {got_early}"
        );
    }
}

#[test]
fn gc_thrashes_in_the_last_minutes_and_throughput_falls() {
    claim("memory-leaks/thrash-before-crash");
    let theory = last_16_mb(RPS, LEAK_KB, LIMIT_MB);
    let theory_crash = crash_at(&theory);
    for seed in [1, 2, 3] {
        // Three hours (one crash) in 36 s chart buckets.
        let out = run(ID, Some("bad"), &[], seed, 3.0 * 3_600.0);
        let bucket = out.bucket_s;
        let crash = metric(&out, "hours_to_first_crash") * 3_600.0;
        // The chart buckets wholly inside the last 150 s before the crash
        // (where under 16 MB is free, so the theory above applies).
        let first = ((crash - 150.0) / bucket).ceil() as usize;
        let end = (crash / bucket).floor() as usize;
        assert!(end - first >= 3, "seed {seed}: {first}..{end}");
        let (w0, w1) = (first as f64 * bucket, end as f64 * bucket);
        let mean =
            |key: &str| series(&out, key)[first..end].iter().sum::<f64>() / (end - first) as f64;
        // The same window in the theory, by time before the crash.
        let shift = theory_crash - crash;
        let (t0, t1) = (w0 + shift, w1 + shift);

        let share = mean("gc_time_pct") / 100.0;
        let want = gc_share(&theory, t0, t1);
        assert!(
            (0.85..0.95).contains(&want),
            "the sentence's nine-tenths: {want}"
        );
        assert!(
            (share - want).abs() < 0.04,
            "seed {seed}: {share} of the time in GC vs {want}"
        );
        // Fewer than half complete; the theory's count within 15 % (the
        // model spreads a delayed batch's waits over 8 groups).
        let done = mean("throughput_rps");
        let want_done = completed_rps(&theory, t0, t1);
        assert!(want_done < 0.5 * RPS, "{want_done}");
        assert!(done < 0.5 * RPS, "seed {seed}: {done} req/s completed");
        assert!(
            (done - want_done).abs() / want_done < 0.15,
            "seed {seed}: {done} req/s vs {want_done}"
        );
        // They queue and time out: the errors in the window are timeouts
        // (the crash is after it), about as many as the theory's.
        let errors = mean("errors_rps");
        let want_errors = timeouts_rps(&theory, RPS, t0, t1);
        assert!(want_errors > 10.0, "{want_errors}");
        assert!(
            (errors - want_errors).abs() / want_errors < 0.25,
            "seed {seed}: {errors} timeouts/s vs {want_errors}"
        );
        assert!(outcome(&out, "timeout") > 0);
        // The queue: over rps × the 30 s timeout at its height.
        let queue = series(&out, "in_flight")[first..end]
            .iter()
            .copied()
            .fold(0.0, f64::max);
        assert!(queue > 0.8 * RPS * TIMEOUT_S, "seed {seed}: {queue} queued");
    }
}

#[test]
fn p99_latency_rises_before_the_crash() {
    for seed in [1, 4] {
        let out = run(ID, Some("bad"), &[], seed, DAY_HALF_S);
        let p99 = series(&out, "latency_p99_ms");
        let crash_bucket = (metric(&out, "hours_to_first_crash") * 3_600.0 / out.bucket_s) as usize;
        // Early on the event loop is an M/M/1 queue at 20 % load (100 req/s ×
        // 2 ms): p99 sojourn = ln(100) / (500 − 100) s = 11.5 ms, plus 10 ms of
        // I/O, 21.5 ms. The model stands for that distribution with strata
        // whose nearest to the 99th percentile sit at the 98.75 % and 99.125 %
        // points (20.96 and 21.85 ms), and the per-bucket histogram keeps
        // values within about 3 %: within 1.5 ms all told.
        let early = p99[2];
        assert!((early - 21.5).abs() < 1.5, "seed {seed}: early p99 {early}");
        // In the last bucket before the crash the loop is saturated and the
        // backlog passes the 30 s timeout (see the thrash test), so the
        // completed requests of that bucket waited seconds.
        let late = p99[crash_bucket - 1];
        assert!(
            late > 100.0 * early,
            "seed {seed}: p99 {late} ms before the crash vs {early}"
        );
        // The longest pause of that bucket is its last major GC. The crash
        // comes at the first major GC leaving under 1 MB free, so at a live
        // heap just over 1 536 − 1 = 1 535 MB. The bucket ends 0 to one
        // bucket (144 s, at most 28.8 MB of leak at 0.2 MB/s) before the
        // crash, and its last major GC comes at most one GC interval (under
        // 1 MB of leak) before its end.
        let crash_live = LIMIT_MB - MIN_FREE_MB;
        let bucket_leak = LEAK_KB * RPS / 1_000.0 * out.bucket_s;
        let lo = major_pause_ms(crash_live - bucket_leak - 1.0);
        let hi = major_pause_ms(crash_live + 1.0);
        let pause = series(&out, "gc_pause_ms")[crash_bucket - 1];
        assert!(
            (lo..=hi).contains(&pause),
            "seed {seed}: pause {pause} not in {lo}..{hi}"
        );
        // Ninety minutes before the crash the live heap is about 1 535 −
        // 0.2 × 5 400 = 455 MB: a 460 ms major GC every 0.2 × 1 081 / 0.84
        // ≈ 257 s delays about 100 × 0.46 / 0.8 ≈ 58 requests, far under the
        // 1 % of a bucket's 14 400 that would move its p99: still normal.
        let before = crash_bucket - (5_400.0 / out.bucket_s) as usize;
        assert!(p99[before] < 2.0 * early, "seed {seed}: {}", p99[before]);
    }
}

#[test]
fn gc_pauses_are_far_longer_with_the_leak_than_with_the_lru_cache() {
    let bad = metric(&run(ID, Some("bad"), &[], 7, DAY_HALF_S), "gc_pause_p99_ms");
    let good = metric(
        &run(ID, Some("good"), &[], 7, DAY_HALF_S),
        "gc_pause_p99_ms",
    );
    // Good: the live heap stays at 50 MB + at most 1 MB of cache, so even a
    // major GC pauses 5 + 51 = 56 ms; minor GCs pause 2 ms.
    assert!(
        good <= major_pause_ms(BASE_MB + 1.0) * 1.01,
        "good p99 {good} ms"
    );
    // Bad, per ~7 500 s cycle: a scavenge every 250 requests, ~2 940
    // (none in the last 16 MB); with the room F over 20 MB a major GC each
    // time the old generation has grown by 0.2 F at 0.84 MB/s while F falls
    // at 0.2 MB/s: 21 × ln(1 486 / 20) ≈ 90; then ~4 at 4 MB apart; then,
    // under 16.5 MB free, one each F ÷ 66 KB requests while F shrinks by
    // 2 KB a request: 33 × ln(16.5 / 1) ≈ 92. About 3 130 pauses; the top
    // 1 % (31) are the last young-regime GCs, those with F between 1 MB and
    // e^(31/33) ≈ 2.6 MB free, pausing 5 + (1 536 − F) ms. Over 12 h (five
    // cycles and a part without a crash) the top 1 % still lie in the last
    // 3 MB: 5 × 33 × ln(F) = 1 % of ~17 900 gives F ≈ 3.0 MB.
    let (lo, hi) = (
        major_pause_ms(LIMIT_MB - 3.1),
        major_pause_ms(LIMIT_MB - MIN_FREE_MB * 0.9),
    );
    assert!(
        (lo..=hi).contains(&bad),
        "bad p99 {bad} ms, not in {lo}..{hi}"
    );
    assert!(bad > 20.0 * good, "bad {bad} ms vs good {good} ms");
}

#[test]
fn the_rule_of_thumb_gives_the_time_to_the_first_crash_within_minutes() {
    claim("memory-leaks/rule-of-thumb-time-to-crash");
    let theory = crash_at(&last_16_mb(RPS, LEAK_KB, LIMIT_MB));
    for seed in [1, 2] {
        let out = run(ID, Some("bad"), &[], seed, DAY_HALF_S);
        let first = metric(&out, "hours_to_first_crash") * 3_600.0;
        // The sentence's rule: 1 536 MB ÷ (2 KB × 100 req/s = 0.2 MB/s)
        // = 7 680 s ≈ 2.13 h.
        let rough = seconds_to_fill(LIMIT_MB, LEAK_KB, RPS);
        assert!((rough / 3_600.0 - 2.1).abs() < 0.05);
        // Within a few minutes: the 50 MB in use at the start take 250 s
        // off, the thrash adds back a minute or two.
        assert!(
            (first - rough).abs() < 5.0 * 60.0,
            "seed {seed}: {first} s vs {rough}"
        );
        assert!(first < rough - 60.0, "the start's 50 MB count");
        // Sharper, the theory: filling (1 536 − 16 − 50) MB at 0.2 MB/s,
        // then the last 16 MB served request by request. Arrivals are
        // Poisson: ~742 500 of them, sd 862, ±8.6 s; allow 40 s.
        assert!(
            (first - theory).abs() < 40.0,
            "seed {seed}: {first} s vs {theory}"
        );
        // "A minute or two of thrashing": the backlog the last request met.
        let fill = seconds_to_fill(LIMIT_MB - BASE_MB - MIN_FREE_MB, LEAK_KB, RPS);
        assert!(
            (60.0..=120.0).contains(&(theory - fill)),
            "{}",
            theory - fill
        );
        // Each cycle is the same again, plus 30 s down.
        let cycles = (DAY_HALF_S / (first + CRASH_DOWN_S)).floor();
        assert_eq!(metric(&out, "crashes"), cycles, "seed {seed}");
        assert!(metric(&out, "heap_peak_mb") <= LIMIT_MB);
        assert!(metric(&out, "heap_peak_mb") > LIMIT_MB - 2.0 * MIN_FREE_MB);
    }
}

#[test]
fn twice_the_traffic_halves_the_time_to_crash_and_twice_the_limit_doubles_it() {
    claim("memory-leaks/double-rate-then-limit");
    let first = |sets: &[(&str, &str)]| {
        metric(
            &run(ID, Some("bad"), sets, 2, DAY_HALF_S),
            "hours_to_first_crash",
        )
    };
    let (base, busy, roomy) = (
        first(&[]),
        first(&[("rps", "200")]),
        first(&[("heap_limit_mb", "3072")]),
    );
    // Halves: the fill halves exactly; the thrash at the end takes a little
    // longer at 200 req/s (the theory's last 16 MB: about 118 s of backlog
    // against 82 s), which puts the ratio near 0.51.
    assert!((busy / base - 0.5).abs() < 0.02, "{busy} h vs {base} h");
    let want = crash_at(&last_16_mb(200.0, LEAK_KB, LIMIT_MB))
        / crash_at(&last_16_mb(RPS, LEAK_KB, LIMIT_MB));
    assert!(
        (busy / base - want).abs() < 0.01,
        "{} vs {want}",
        busy / base
    );
    // Slightly more than doubles: the room above 50 MB goes from 1 486 to
    // 3 022 MB, a ratio of 2.034 before the thrash (longer pauses at 3 GB).
    let room = (2.0 * LIMIT_MB - BASE_MB) / (LIMIT_MB - BASE_MB);
    assert!((room - 3_022.0 / 1_486.0).abs() < 1e-9);
    assert!(roomy / base > 2.0, "{roomy} h vs {base} h");
    let want = crash_at(&last_16_mb(RPS, LEAK_KB, 2.0 * LIMIT_MB))
        / crash_at(&last_16_mb(RPS, LEAK_KB, LIMIT_MB));
    assert!((want - room).abs() < 0.02, "{want} vs {room}");
    assert!(
        (roomy / base - want).abs() / want < 0.01,
        "{} vs {want}",
        roomy / base
    );
}

#[test]
fn predict_twice_the_traffic() {
    claim("memory-leaks/predict");
    let scenario = find(ID).unwrap_or_else(|e| panic!("{e}"));
    let spec = &scenario.spec;
    let predict = &spec.lesson.predict;
    let params = predict.params(spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(predict.metric, "hours_to_first_crash");
    for seed in [1, 2] {
        let cfg = RunConfig {
            seed,
            duration_s: DAY_HALF_S,
        };
        let out = scenario
            .run(&params, &cfg)
            .unwrap_or_else(|e| panic!("{e}"));
        let hours = metric(&out, "hours_to_first_crash");
        // The answer's arithmetic: 1 486 MB ÷ (2 KB × 200 req/s) = 3 715 s,
        // "≈ 3 700 s, about 1.03 hours".
        let fill = seconds_to_fill(LIMIT_MB - BASE_MB, LEAK_KB, 200.0);
        assert!((fill - 3_700.0).abs() < 20.0 && (fill / 3_600.0 - 1.03).abs() < 0.005);
        // "About 1.06 hours": the theory's crash, with the last 16 MB served
        // one by one (Poisson arrivals: sd 862 / 200 = 4.3 s; allow 30 s).
        let theory = crash_at(&last_16_mb(200.0, LEAK_KB, LIMIT_MB));
        assert!((theory / 3_600.0 - 1.06).abs() < 0.01, "{theory}");
        assert!(
            (hours * 3_600.0 - theory).abs() < 30.0,
            "seed {seed}: {hours} h vs {} h",
            theory / 3_600.0
        );
        // "Half as long" as at 100 req/s, and "a couple of minutes" of
        // thrash on top of the fill.
        let base = crash_at(&last_16_mb(RPS, LEAK_KB, LIMIT_MB));
        assert!((theory / base - 0.5).abs() < 0.02);
        assert!((60.0..=180.0).contains(&(hours * 3_600.0 - fill)));
    }
}

#[test]
fn the_lru_cache_keeps_the_live_heap_flat_under_the_same_traffic() {
    claim("memory-leaks/lru-live-heap-flat");
    claim("memory-leaks/switch-to-lru");
    let leak = run(ID, Some("bad"), &[], 3, DAY_HALF_S);
    // The try-this: the same rate, only the leak switched.
    let lru = run(ID, Some("bad"), &[("leak", "lru_cache")], 3, DAY_HALF_S);
    let none = run(ID, Some("no_leak"), &[], 3, DAY_HALF_S);
    assert_eq!(
        metric(&lru, "requests"),
        metric(&leak, "requests"),
        "same traffic"
    );
    assert_eq!(metric(&lru, "crashes"), 0.0);
    assert_eq!(metric(&lru, "dropped_requests"), 0.0);
    // The cache holds at most 500 entries × 2 KB = 1 MB above the 50 MB base,
    // and fills in 5 s; from the first bucket on the line is at 51 MB.
    let cap_mb = 500.0 * LEAK_KB / 1_000.0;
    let live = series(&lru, "heap_live_mb");
    assert!(
        live.iter().all(|&l| (l - (BASE_MB + cap_mb)).abs() < 1e-9),
        "{live:?}"
    );
    // Garbage still comes and goes exactly as without any cache.
    assert!((metric(&lru, "heap_peak_mb") - metric(&none, "heap_peak_mb")).abs() <= cap_mb + 1.0);
    assert!(metric(&lru, "heap_peak_mb") < 0.3 * metric(&leak, "heap_peak_mb"));
    // The `good` preset is the same run.
    let good = run(ID, Some("good"), &[], 3, DAY_HALF_S);
    assert_eq!(series(&good, "heap_live_mb"), live);
}

#[test]
fn pm2_restarts_replace_crashes_and_thrash_with_short_gaps() {
    claim("memory-leaks/restart-trades-crash-for-gap");
    claim("memory-leaks/pm2-restarts-and-drops");
    for seed in [5, 6] {
        let crashing = run(ID, Some("bad"), &[], seed, DAY_HALF_S);
        let restarting = run(ID, Some("pm2_restart"), &[], seed, DAY_HALF_S);
        assert_eq!(metric(&restarting, "crashes"), 0.0);
        // PM2 restarts at a check that finds RSS = used + 60 MB ≥ 1 200 MB,
        // old generation used ≥ 1 140 MB. The used heap peaks just before
        // each major GC at L0 + 0.2 × (1 536 − L0), L0 the live heap after
        // the previous one: 1 140 MB is first within reach once L0 ≥ 1 041
        // MB, 4 955 s after a start ((1 041 − 50) / 0.2). Each cycle of GC
        // lasts 0.2 × (1 536 − L0) / 0.84 MB/s ≈ 118 s and raises L0 by
        // 0.2 × 118 ≈ 23.6 MB, so two cycles later used is over 1 140 MB
        // for its last 2 × 23.6 × 0.8 / 0.84 ≈ 45 s, more than a 30 s check
        // apart: caught by L0 = 1 041 + 3 × 23.6 ≈ 1 112 MB, 5 310 s. With
        // 3 s down, a cycle lasts 4 958 to 5 313 s: 12 h holds 43 200 /
        // 5 313 = 8.1 to 43 200 / 4 958 = 8.7 of them, so 8 restarts.
        assert_eq!(metric(&restarting, "restarts"), 8.0, "seed {seed}");
        // And the heap never got past what one missed peak allows: 1 140 +
        // 23.6 × 0.8 MB, plus the ~1.6 MB a scavenge can add.
        let peak = metric(&restarting, "heap_peak_mb");
        assert!(
            (1_140.0..=1_140.0 + 23.6 * 0.8 * 2.0 + 1.6).contains(&peak),
            "seed {seed}: peak {peak} MB"
        );
        // No thrash, so no timeouts: the longest pause, before a restart,
        // is under 5 + 1 140 ms, and a bucket holds at most two majors (one
        // every ≥ 100 s): under 2 × 1.15 / 144 ≈ 1.6 % of it in GC, against
        // nine-tenths before a crash.
        assert_eq!(outcome(&restarting, "timeout"), 0, "seed {seed}");
        assert!(outcome(&crashing, "timeout") > 0);
        let gc_cap = 2.0 * major_pause_ms(1_140.0) / 1_000.0 / restarting.bucket_s * 100.0 + 0.2;
        assert!(worst(&restarting, "gc_time_pct") < gc_cap, "seed {seed}");
        assert!(worst(&crashing, "gc_time_pct") > 50.0, "seed {seed}");
        // About 300 lost per restart: 3 s down at 100 req/s (Poisson, sd ≈ 17)
        // plus the one or two in flight.
        let per_restart = metric(&restarting, "dropped_requests") / 8.0;
        assert!(
            (per_restart - RESTART_S * RPS).abs() < 30.0,
            "seed {seed}: {per_restart} per restart"
        );
        // A crash drops the 30 s of arrivals while it is down, and the ~30 s
        // of arrivals still queued behind its last GC whose clients have not
        // given up yet (the theory's backlog at the crash is over 30 s):
        // about 2 × 3 000.
        let crashes = metric(&crashing, "crashes");
        let per_crash = metric(&crashing, "dropped_requests") / crashes;
        let want = (CRASH_DOWN_S + TIMEOUT_S) * RPS;
        assert!(
            (per_crash - want).abs() / want < 0.05,
            "seed {seed}: {per_crash} per crash"
        );
        // "Thousands more" time out first: those that met a backlog of over
        // 30 s, which the theory counts.
        let theory = last_16_mb(RPS, LEAK_KB, LIMIT_MB);
        let want_timeouts = timeouts_rps(&theory, RPS, 0.0, 1e9) * 1e9;
        assert!(want_timeouts > 2_000.0, "{want_timeouts}");
        let per_crash_timeouts = outcome(&crashing, "timeout") as f64 / crashes;
        assert!(
            (per_crash_timeouts - want_timeouts).abs() / want_timeouts < 0.15,
            "seed {seed}: {per_crash_timeouts} timeouts per crash vs {want_timeouts}"
        );
        // p99: no pause before a restart is over 1.145 s, so no completed
        // request waits longer than that plus its ~40 ms at worst; before
        // each crash the backlog passes 30 s.
        let cap = major_pause_ms(1_140.0) + 40.0;
        assert!(worst(&restarting, "latency_p99_ms") < cap, "seed {seed}");
        assert!(worst(&crashing, "latency_p99_ms") > 10_000.0, "seed {seed}");

        // The leak is still there: after each restart the live heap climbs
        // again at 0.2 MB/s, from 50 MB.
        let live = series(&restarting, "heap_live_mb");
        let drops: Vec<usize> = (1..live.len()).filter(|&i| live[i] < live[i - 1]).collect();
        assert_eq!(drops.len(), 8, "seed {seed}: {drops:?}");
        for &i in &drops {
            let climbed = live[i + 10] - live[i + 1];
            let want = 0.2 * 9.0 * restarting.bucket_s;
            assert!(
                (climbed - want).abs() / want < 0.03,
                "seed {seed}: {climbed}"
            );
        }
    }
}

#[test]
fn pm2_compares_rss_with_its_threshold_not_the_heap_limit() {
    // The help text: at 1 200 MB the heap is restarted at 1 140 MB (tested
    // above); here a threshold low enough to restart every minute. A fresh
    // process's old generation holds 50 MB + 0.2 MB/s of leak + 1.6 MB per
    // scavenge (one per 250 requests): at 27 s after coming back (the first
    // check after a 3 s restart), 2 700 ± 160 requests (3 sd) make 10 or 11
    // scavenges, 71.4 to 73.2 MB; at 57 s, 5 700 ± 230 make 21 to 23, 95 to
    // 98.3 MB. An RSS threshold of 140 MB is a heap of 80 MB: never reached
    // at the first check, always at the second, so a restart every 60 s:
    // at 60, 120, …, 43 140 s, 719 of them.
    let out = run(
        ID,
        Some("pm2_restart"),
        &[("restart_at_mb", "140")],
        1,
        DAY_HALF_S,
    );
    assert_eq!(metric(&out, "restarts"), 719.0);
    assert_eq!(metric(&out, "crashes"), 0.0);
    // Compared with the heap alone (no 60 MB), 140 MB would take about
    // (140 − 50) / 0.84 ≈ 107 s: a restart every 120 s, about 360. And with
    // 80 % of the limit, none before the heap reaches 1 229 MB.
    let heap_when = (140.0 - RSS_BEYOND_HEAP_MB - BASE_MB) / OLD_GROWTH_MB_S;
    assert!(heap_when < 2.0 * CHECK_S - RESTART_S, "{heap_when}");

    // The help text: a threshold above the limit + 60 MB can never be
    // reached (the old generation never holds more than the limit), so the
    // process crashes as if PM2 were not there.
    let above = run(
        ID,
        Some("pm2_restart"),
        &[("restart_at_mb", "1600")],
        1,
        DAY_HALF_S,
    );
    let bad = run(ID, Some("bad"), &[], 1, DAY_HALF_S);
    assert_eq!(metric(&above, "restarts"), 0.0);
    assert_eq!(metric(&above, "crashes"), metric(&bad, "crashes"));
    assert!(metric(&above, "crashes") > 0.0);
}

#[test]
fn the_listener_preset_crashes_about_every_25_minutes() {
    // 10 KB × 100 req/s = 1 MB/s: the theory's first crash, then 30 s down.
    let theory = crash_at(&last_16_mb(RPS, 10.0, LIMIT_MB));
    let out = run(ID, Some("listeners"), &[], 1, DAY_HALF_S);
    let first = metric(&out, "hours_to_first_crash") * 3_600.0;
    assert!((first - theory).abs() < 20.0, "{first} s vs {theory}");
    let cycle_min = (first + CRASH_DOWN_S) / 60.0;
    assert!((cycle_min - 25.0).abs() < 1.0, "{cycle_min} min");
    assert_eq!(
        metric(&out, "crashes"),
        (DAY_HALF_S / (first + CRASH_DOWN_S)).floor()
    );
}

#[test]
fn the_heap_peak_never_passes_the_limit() {
    // Whatever the leak and limit, the heap collects before it passes its
    // limit: the peak is at most the limit, crash or not. With small leaks
    // the last GC trigger before a crash can sit within one 1.6 MB promotion
    // (10 % of the 16 MB young generation) of the limit, so a heap that
    // counted the level before collecting would pass it.
    for (preset, kb, limit) in [
        ("bad", "2", "1536"),
        ("bad", "1", "768"),
        ("bad", "0.5", "320"),
        ("listeners", "10", "512"),
        ("good", "2", "128"),
        ("pm2_restart", "2", "1024"),
    ] {
        let sets = [("heap_limit_mb", limit), ("leak_kb_per_request", kb)];
        let out = run(ID, Some(preset), &sets, 6, DAY_HALF_S);
        let peak = metric(&out, "heap_peak_mb");
        let limit: f64 = limit.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(peak <= limit, "{preset}: peak {peak} MB over {limit}");
        let used = series(&out, "heap_used_mb");
        assert!(
            used.iter().all(|&u| u <= limit),
            "{preset}: chart over the limit"
        );
        // And no chart bucket holds more than its own time in GC.
        assert!(worst(&out, "gc_time_pct") <= 100.0 + 1e-6, "{preset}");
    }
}

#[test]
fn the_duration_sets_the_run_length() {
    let hour = run(ID, Some("good"), &[], 1, 3_600.0);
    assert_eq!(hour.duration_s, 3_600.0);
    let short = run(ID, Some("good"), &[], 1, 600.0);
    assert_eq!(short.duration_s, 600.0);
    // 100 req/s for an hour: 360 000 requests, Poisson sd 600.
    assert!((metric(&hour, "requests") - 360_000.0).abs() < 3_000.0);
}

#[test]
fn every_request_ends_for_a_reason_the_model_names() {
    // Crashes, planned restarts and a leak big enough to push GC past the
    // event loop's capacity (400 req/s × 2 ms is 80 % load before any GC).
    // What a cycle can lose at most: every arrival from the moment the loop
    // saturates (2 ms + GC per request over 1 / rps) to the crash, and the
    // 30 s down after it. At 100 req/s that is from 12.7 MB free (2 ms +
    // 1.54 s × 66 KB / F = 10 ms), (1 536 − 12.7 − 50) / 0.2 = 7 366 s into
    // a ~7 500 s cycle: (134 + 30) / 7 530 ≈ 2 %; PM2 loses ~300 of each
    // ~500 000. At 400 req/s with 10 KB each and a 4 096 MB limit the loop
    // saturates far from the limit: a major GC every 0.2 F ÷ (400 × 16.4
    // KB/s) costs each request 3.5 s × 16.4 KB / (0.2 F), over the 0.5 ms
    // spare once F < 574 MB, (4 096 − 574 − 50) / 4 = 868 s into the cycle.
    let listeners = run(
        ID,
        Some("listeners"),
        &[("rps", "400"), ("heap_limit_mb", "4096")],
        9,
        DAY_HALF_S,
    );
    let crash = metric(&listeners, "hours_to_first_crash") * 3_600.0;
    let lost = (crash - 868.0 + CRASH_DOWN_S) / (crash + CRASH_DOWN_S);
    let runs = [
        (run(ID, Some("bad"), &[], 9, DAY_HALF_S), RPS, 0.03),
        (run(ID, Some("pm2_restart"), &[], 9, DAY_HALF_S), RPS, 0.03),
        (listeners, 400.0, lost),
    ];
    for (out, rps, lost) in &runs {
        for o in &out.outcomes {
            let known = match o.kind.as_str() {
                "failed" => ["timeout", "out_of_memory", "restarted"].contains(&o.reason.as_str()),
                "rejected" => o.reason == "process_down",
                _ => false,
            };
            assert!(known, "unexpected outcome {} {}", o.kind, o.reason);
        }
        // Nothing is lost: what has not ended is what a client could still
        // be waiting for at the end, under rps × the 30 s client timeout.
        assert!(
            metric(out, "in_flight") <= rps * TIMEOUT_S,
            "{} in flight",
            metric(out, "in_flight")
        );
        let ended = metric(out, "completed") + metric(out, "failed") + metric(out, "rejected");
        assert_eq!(ended + metric(out, "in_flight"), metric(out, "requests"));
        let completed = metric(out, "completed") / metric(out, "requests");
        assert!(
            completed > 1.0 - lost,
            "{completed} completed, {lost} lost at most"
        );
    }
}
