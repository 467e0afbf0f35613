//! Memory leaks: a Node process whose heap grows with every request until
//! garbage collection thrashes and the process runs out of memory.
//!
//! ```text
//!   requests ──> [ Node process: one event loop ] ──> response
//!   (Poisson,        │ each request allocates GARBAGE_KB that dies young,
//!    rps)            │ and the leak keeps leak_kb_per_request reachable:
//!                    v
//!               [ heap: young + old generation, limit heap_limit_mb ]
//!                    │ GC pauses stop the event loop; they lengthen with the
//!                    │ live heap and come more often near the limit, until
//!                    │ they take most of the loop's time (thrash)
//!                    └─ out of memory ─> crash: queued and in-flight requests
//!                                        dropped, down CRASH_DOWN_S (30 s),
//!                                        then restarted
//!   [ PM2 ] (auto_restart) every CHECK_S (30 s): RSS (old-generation heap
//!           used + RSS_BEYOND_HEAP_MB) at or over restart_at_mb? restart
//!           now (in-flight dropped, down RESTART_S, 3 s)
//! ```
//!
//! Demonstrates: a leak grows the live heap linearly and the process dies
//! after about `heap_limit / (leak per request × rps)`; in the last minutes
//! before that, major GCs come ever more often and last ever longer (see
//! [`crate::parts::heap`]: near the limit one comes every free room ÷
//! allocation rate), so time in GC climbs towards all of the event loop's
//! time, requests queue behind it, time out, and throughput falls before the
//! crash; an LRU cache bounded at LRU_ENTRIES keeps the heap flat under the
//! same traffic; a memory-ceiling restart (PM2's `max_memory_restart`)
//! replaces crashes and the thrash before them with short, regular restarts
//! that still drop the requests in flight and those arriving while the
//! process is down.
//!
//! Leak kinds: `listeners` (a listener added per request, never removed),
//! `unbounded_cache` (a cache keyed per request, never evicted) and
//! `connection_per_request` (a client opened per request, never closed) all
//! retain `leak_kb_per_request` for every request: they differ in where the
//! memory is held, not in how it grows. `lru_cache` caches the same entries
//! but evicts the least recently used beyond LRU_ENTRIES. `none` retains
//! nothing.
//!
//! Time: the run lasts its duration (12 h by default; the page's duration
//! control counts in hours).
//!
//! Requests are simulated in aggregate, because the lesson needs hours of
//! traffic (a crash needs heap_limit / leak, about 768 000 requests at the
//! defaults) and the page must redraw within a frame. Time is cut into
//! spans at every chart bucket edge and every PM2 check; a span's arrivals
//! are one Poisson count, spread evenly over it. The heap is exact all the
//! same: [`Heap::allocate_many`] leaves it byte for byte as one request at a
//! time would, so every GC, crash and restart comes at the same request as
//! in a per-request model. What is approximated is latency. Between pauses
//! the event loop is an M/M/1 queue (2 ms of CPU per request), so a
//! request's time on it is exponential with rate 1/CPU − rps; those
//! latencies are recorded per bucket in strata of that distribution, finer
//! in the tail. A pause is a backlog the loop works off at 1 − utilisation
//! seconds per second: requests that arrive while it lasts wait what is
//! left of it, and each minor GC delays on average rps × pause /
//! (1 − utilisation) requests by up to its 2 ms. Requests are served in
//! order, so a request allocates, and its GC runs, once the loop reaches
//! it: a pause starts when the backlog ahead of the request that triggers
//! it has been worked off, and pauses never overlap. When GC takes more
//! than 1 − utilisation of the time the backlog grows without bound.
//! Requests end exactly once: completed; failed `timeout` when a backlog
//! makes them wait past TIMEOUT_S (the client gives up; the process still
//! serves them, as Node does); failed `out_of_memory` or `restarted` when
//! queued or in flight as the process dies (a crash comes when the loop
//! finishes the last GC, so everything queued behind it dies with it);
//! rejected `process_down` while it is down. Dropped requests are the last
//! three.
//!
//! Parameters: `leak` (none | listeners | unbounded_cache |
//! connection_per_request | lru_cache), `rps` (req/s), `leak_kb_per_request`
//! (KB retained per request), `heap_limit_mb` (MB, old-generation limit),
//! `auto_restart` (toggle), `restart_at_mb` (MB of RSS at which PM2
//! restarts). KB and MB are decimal, as in
//! large-datasets and bulk-export: 1 KB = 1 000 bytes, 1 MB = 10^6 bytes.
//! The heap model ([`GcConfig::node`]): 50 MB live at start, a 16 MB young
//! generation, major GC pauses of 5 ms + 1 ms per live MB, out of memory
//! when a major GC leaves under 1 MB free.

use crate::engine::dist::poisson_count;
use crate::engine::time::{millis, secs, SimTime, MILLISECOND, SECOND};
use crate::engine::{Histogram, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::heap::{KB, MB};
use crate::parts::{BoundedCache, GcConfig, Heap};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};
use std::collections::VecDeque;

/// Short-lived garbage each request allocates (parsing, JSON, buffers), KB.
pub const GARBAGE_KB: u64 = 64;
/// Mean CPU time of a request on the event loop, ms (exponential).
pub const CPU_MS: f64 = 2.0;
/// Time a request spends waiting on I/O off the event loop, ms.
pub const IO_MS: f64 = 10.0;
/// A client gives up after this many seconds.
pub const TIMEOUT_S: f64 = 30.0;
/// Entries the LRU cache keeps (the notes' `max: 500`).
pub const LRU_ENTRIES: u64 = 500;
/// How often PM2 checks the process's memory, seconds (its worker runs
/// every 30 s by default).
pub const CHECK_S: f64 = 30.0;
/// Resident memory of the process beyond the old-generation heap, MB: the
/// young generation (16 MB) and what lives outside the JS heap (the node
/// binary, compiled code, libuv, native buffers), taken as 44 MB. PM2 sees
/// RSS = old-generation heap used + this.
pub const RSS_BEYOND_HEAP_MB: f64 = 60.0;
/// Seconds a planned restart keeps the process down.
pub const RESTART_S: f64 = 3.0;
/// Seconds from an out-of-memory crash until the supervisor has the process
/// serving again (detection, back-off, cold start).
pub const CRASH_DOWN_S: f64 = 30.0;

// Spans end at every PM2 check, so none is longer than CHECK_S; a crash
// then turns the rest of its span away, which is right only while that
// rest falls inside the time the process is down.
const _: () = assert!(CHECK_S <= CRASH_DOWN_S);

/// Cumulative probabilities bounding the strata that stand in for the
/// latency distribution of requests no pause delays: finer in the tail,
/// where p95 and p99 are read.
const PLAIN_STRATA: [f64; 24] = [
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.98, 0.985,
    0.99, 0.9925, 0.995, 0.9975, 0.999, 0.9995, 1.0,
];

/// Groups that requests delayed together are split into, their waits
/// spread evenly from the longest to the shortest.
const DELAYED_GROUPS: u64 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leak {
    None,
    Forever,
    Lru,
}

/// The `leak` options: three that keep every byte, the bounded cache, and
/// none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeakOption {
    None,
    Listeners,
    UnboundedCache,
    ConnectionPerRequest,
    LruCache,
}

crate::choices!(LeakOption {
    LeakOption::None = "none",
    LeakOption::Listeners = "listeners",
    LeakOption::UnboundedCache = "unbounded_cache",
    LeakOption::ConnectionPerRequest = "connection_per_request",
    LeakOption::LruCache = "lru_cache",
});

/// Requests that waited behind a GC pause and have not ended yet.
#[derive(Clone, Copy)]
struct Delayed {
    ends: SimTime,
    latency: SimTime,
    count: u64,
    completes: bool,
}

/// Series handles.
struct Series {
    used: crate::engine::metrics::SeriesId,
    live: crate::engine::metrics::SeriesId,
    pause: crate::engine::metrics::SeriesId,
    gc_pct: crate::engine::metrics::SeriesId,
}

struct Model {
    heap: Heap,
    cache: BoundedCache,
    leak: Leak,
    leak_bytes: u64,
    rps: f64,
    /// 1 − utilisation: seconds of backlog the event loop works off per second.
    drain: f64,
    /// Mean time on the event loop (wait + CPU) of a request no pause delays, s.
    sojourn_s: f64,
    /// Latency of each plain stratum (I/O + time on the event loop).
    plain_latency: Vec<SimTime>,
    /// Work queued on the event loop by pauses, s, as of `backlog_at`.
    backlog_s: f64,
    backlog_at: SimTime,
    /// Requests no pause delayed since the last flush, all in one bucket.
    plain: u64,
    plain_at: SimTime,
    delayed: VecDeque<Delayed>,
    /// Fractional requests owed to minor-GC delays, carried between spans.
    minor_carry: f64,
    /// While down: when the process serves again.
    down_until: Option<SimTime>,
    /// After a major GC found no room: when that GC ends and the process dies.
    dying: Option<SimTime>,
    /// End of the run.
    end: SimTime,
    bucket: SimTime,
    series: Series,
    crashes: u64,
    restarts: u64,
    first_crash: Option<SimTime>,
    dropped: u64,
    pauses: Histogram,
    gc_time: SimTime,
    events: u64,
}

impl Model {
    /// Backlog left at `t` (none once worked off).
    fn backlog(&self, t: SimTime) -> f64 {
        let since = t.saturating_sub(self.backlog_at) as f64 / SECOND as f64;
        (self.backlog_s - self.drain * since).max(0.0)
    }

    /// Records every delayed request that has ended by `t`.
    fn settle(&mut self, rec: &mut Recorder, t: SimTime) {
        self.delayed.retain(|d| {
            if d.ends > t {
                return true;
            }
            if d.completes {
                rec.complete_many(d.ends, d.latency, d.count);
            } else {
                rec.fail_many(d.ends, "timeout", d.count);
            }
            false
        });
    }

    /// Records the plain requests gathered in the current bucket, spread
    /// over the strata of their latency distribution.
    fn flush_plain(&mut self, rec: &mut Recorder) {
        let n = self.plain as f64;
        for (k, &latency) in self.plain_latency.iter().enumerate() {
            // Counts by cumulative share: they add up to `plain` exactly.
            let below = |p: f64| (n * p).floor() as u64;
            let count = below(PLAIN_STRATA[k + 1]) - below(PLAIN_STRATA[k]);
            rec.complete_many(self.plain_at, latency, count);
        }
        self.plain = 0;
    }

    /// `count` requests arriving from `at`, `spacing` seconds apart, wait
    /// behind a pause, on top of their usual latency: the first `first_wait`
    /// seconds, the last `last_wait`, and those between in even steps.
    fn delay(&mut self, at: SimTime, count: u64, first_wait: f64, last_wait: f64, spacing: f64) {
        let timeout = secs(TIMEOUT_S);
        let step = if count > 1 {
            (last_wait - first_wait) / (count - 1) as f64
        } else {
            0.0
        };
        for k in 0..DELAYED_GROUPS {
            // Group k holds requests lo..hi and waits as its middle one does.
            let (lo, hi) = (k * count / DELAYED_GROUPS, (k + 1) * count / DELAYED_GROUPS);
            if hi == lo {
                continue;
            }
            let n = hi - lo;
            let middle = (lo + hi - 1) as f64 / 2.0;
            let wait = first_wait + step * middle;
            let latency = millis(IO_MS) + secs(self.sojourn_s + wait);
            let completes = latency <= timeout;
            // Each group ends counted from its own arrival: with a long
            // backlog the span's last arrivals give up well after its first.
            self.delayed.push_back(Delayed {
                ends: at + secs(spacing * middle) + latency.min(timeout),
                latency,
                count: n,
                completes,
            });
        }
    }

    /// `m` requests arrive evenly from `first` to `last`, after `minors`
    /// minor GCs among them: those that meet a backlog wait, the rest are plain.
    fn serve(&mut self, first: SimTime, last: SimTime, m: u64, minors: u64) {
        // Each minor GC delays rps × pause / drain requests on average, by
        // anything up to the pause; the fraction left over carries on.
        let minor_s = self.heap.config().minor_pause as f64 / SECOND as f64;
        self.minor_carry += minors as f64 * self.rps * minor_s / self.drain;
        if m == 0 {
            return;
        }
        let mut delayed = 0;
        let waiting = self.backlog(first);
        if waiting > 0.0 {
            // Request j arrives j × spacing after the first and waits what
            // is left: waiting − drain × j × spacing, while that is positive.
            let spacing = if m > 1 {
                (last - first) as f64 / SECOND as f64 / (m - 1) as f64
            } else {
                0.0
            };
            let clears = waiting / self.drain;
            delayed = if spacing > 0.0 {
                ((clears / spacing).ceil() as u64).clamp(1, m)
            } else {
                m
            };
            let shortest = (waiting - self.drain * spacing * (delayed - 1) as f64).max(0.0);
            self.delay(first, delayed, waiting, shortest, spacing);
        }
        // Waits spread evenly over (0, pause]: the midpoints of equal shares.
        let by_minors = (self.minor_carry.floor() as u64).min(m - delayed);
        self.minor_carry -= by_minors as f64;
        let half_share = minor_s * 0.5 / by_minors.max(1) as f64;
        self.delay(last, by_minors, minor_s - half_share, half_share, 0.0);
        if self.plain == 0 {
            self.plain_at = first;
        }
        self.plain += m - delayed - by_minors;
        self.backlog_s = self.backlog(last);
        self.backlog_at = last;
    }

    /// The process dies at `t`: every request still in flight is dropped.
    fn kill(&mut self, rec: &mut Recorder, t: SimTime, reason: &'static str, down: f64) {
        self.settle(rec, t);
        let mut lost: u64 = self.delayed.drain(..).map(|d| d.count).sum();
        // Plain requests in flight: rps × their mean latency (Little's law).
        let plain_in_flight = (self.rps * (IO_MS / 1_000.0 + self.sojourn_s)).round() as u64;
        let plain_lost = plain_in_flight.min(self.plain);
        self.plain -= plain_lost;
        lost += plain_lost;
        rec.fail_many(t, reason, lost);
        self.dropped += lost;
        self.backlog_s = 0.0;
        self.down_until = Some(t + secs(down));
        self.events += 1;
    }

    /// If the process is due back up by `t`, starts it fresh: empty heap,
    /// empty cache, idle event loop.
    fn wake(&mut self, rec: &mut Recorder, t: SimTime) {
        let Some(up) = self.down_until.filter(|&up| up <= t) else {
            return;
        };
        self.down_until = None;
        self.heap.restart();
        self.cache.clear();
        self.backlog_s = 0.0;
        self.backlog_at = up;
        self.record_heap(rec, up);
    }

    fn record_heap(&self, rec: &mut Recorder, t: SimTime) {
        rec.gauge(self.series.used, t, self.heap.used() as f64 / MB as f64);
        rec.gauge(
            self.series.live,
            t,
            self.heap.live_bytes() as f64 / MB as f64,
        );
    }

    /// `count` pauses of `pause` each, run back to back from `t`.
    fn record_pauses(&mut self, rec: &mut Recorder, t: SimTime, pause: SimTime, count: u64) {
        if count == 0 {
            return;
        }
        self.pauses.record_n(pause, count);
        self.events += count;
        rec.gauge(self.series.pause, t, pause as f64 / MILLISECOND as f64);
        // Time in GC, split at chart-bucket edges so that no bucket holds
        // more than its own width; none of it after the run's end.
        let (mut start, mut left) = (t, pause * count);
        while left > 0 && start < self.end {
            let edge = (start / self.bucket + 1) * self.bucket;
            let piece = left.min(edge - start).min(self.end - start);
            let share = piece as f64 / SECOND as f64 * 100.0;
            rec.count(self.series.gc_pct, start, share);
            self.gc_time += piece;
            start += piece;
            left -= piece;
        }
    }

    /// The process dies of out-of-memory at `t`, when its last GC ends.
    fn crash(&mut self, rec: &mut Recorder, t: SimTime) {
        self.dying = None;
        self.crashes += 1;
        self.first_crash.get_or_insert(t);
        rec.mark(t, "out of memory");
        self.kill(rec, t, "out_of_memory", CRASH_DOWN_S);
    }

    /// PM2's memory check at `t`: restarts the process if the old generation
    /// holds `ceiling` bytes or more (its RSS is at the threshold).
    fn check(&mut self, rec: &mut Recorder, t: SimTime, ceiling: Option<u64>) {
        self.wake(rec, t);
        self.settle(rec, t);
        self.events += 1;
        if self.down_until.is_some() {
            return;
        }
        self.record_heap(rec, t);
        if ceiling.is_some_and(|c| self.heap.used() >= c) {
            // Also when the process was about to die: PM2 got there first.
            self.dying = None;
            self.restarts += 1;
            rec.mark(t, "restart");
            self.kill(rec, t, "restarted", RESTART_S);
        }
    }

    /// The requests arriving in `[a, b)`.
    fn span(&mut self, rec: &mut Recorder, rng: &mut RngStream, a: SimTime, b: SimTime) {
        self.settle(rec, a);
        if self.plain > 0 && a / self.bucket != self.plain_at / self.bucket {
            self.flush_plain(rec);
        }
        self.events += 1;
        let n = poisson_count(self.rps * (b - a) as f64 / SECOND as f64, rng);
        if n > 0 {
            rec.arrivals(a, n);
        }
        // Request i (1-based) arrives at its share of the span.
        let at = |i: u64| a + ((b - a) as f64 * (i as f64 - 0.5) / n as f64) as SimTime;
        // How many of the span's requests arrive before `t`: those with at(i) < t.
        let before = |t: SimTime| {
            let x = t.saturating_sub(a) as f64 / (b - a) as f64 * n as f64;
            ((x + 0.5).ceil() as u64).saturating_sub(1).min(n)
        };
        let mut i = 0;
        if let Some(dies) = self.dying {
            // The loop is still working towards the GC that found no room:
            // arrivals queue behind it, allocate nothing and die with it.
            i = self.queue_behind(at, i, before(dies));
            if dies >= b {
                return;
            }
            self.crash(rec, dies);
        }
        if let Some(up) = self.down_until {
            // Arrivals before `up` are turned away.
            let turned = before(up).max(i) - i;
            if turned > 0 {
                rec.reject_many(at(i + 1), "process_down", turned);
            }
            self.dropped += turned;
            i += turned;
            if i == n {
                return;
            }
            // `before` counts in whole requests, `at` rounds to whole
            // nanoseconds: never restart before `up`.
            self.wake(rec, at(i + 1).max(up));
        }
        let garbage = GARBAGE_KB * KB;
        while i < n {
            let (retained, freed, chunk) = match self.leak {
                Leak::None => (0, 0, n - i),
                Leak::Forever => (self.leak_bytes, 0, n - i),
                // Until the cache is full nothing is evicted; after that
                // every insert evicts an entry, whose bytes become garbage.
                Leak::Lru => match self.cache.room() {
                    0 => (self.leak_bytes, self.leak_bytes, n - i),
                    room => (self.leak_bytes, 0, room.min(n - i)),
                },
            };
            let batch = self.heap.allocate_many(chunk, garbage, retained, freed);
            self.cache.insert_many(batch.requests);
            let (first, last) = (at(i + 1), at(i + batch.requests));
            i += batch.requests;
            // GC runs when the loop reaches the request that triggers it,
            // once the backlog ahead of that request is worked off.
            let runs_at = last + secs(self.backlog(last));
            let minor = self.heap.config().minor_pause;
            self.record_pauses(rec, runs_at, minor, batch.minors);
            let Some(pause) = batch.major else {
                self.serve(first, last, batch.requests, batch.minors);
                continue;
            };
            // The last request triggered a major GC: it waits all of it.
            let before_it = at(i - 1).max(first);
            self.serve(first, before_it, batch.requests - 1, batch.minors);
            self.record_pauses(rec, runs_at, pause, 1);
            self.record_heap(rec, last);
            self.backlog_s = self.backlog(last) + pause as f64 / SECOND as f64;
            self.backlog_at = last;
            self.serve(last, last, 1, 0);
            if batch.out_of_memory {
                // The process dies when that GC ends; until then arrivals
                // queue behind it. The rest of the span, if it dies within
                // it, arrives while it is down (a span is never longer than
                // the time down).
                let dies = runs_at + pause;
                self.dying = Some(dies);
                i = self.queue_behind(at, i, before(dies));
                if dies >= b {
                    return;
                }
                self.crash(rec, dies);
                rec.reject_many(dies, "process_down", n - i);
                self.dropped += n - i;
                return;
            }
        }
        if n > 0 {
            self.record_heap(rec, at(n));
        }
    }

    /// Requests `i + 1 ..= upto` (arriving at `at`) queue behind a GC the
    /// process will not survive; returns the new count served.
    fn queue_behind(&mut self, at: impl Fn(u64) -> SimTime, i: u64, upto: u64) -> u64 {
        if upto > i {
            self.serve(at(i + 1), at(upto), upto - i, 0);
        }
        upto.max(i)
    }
}

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let leak = match p.pick::<LeakOption>("leak")? {
        LeakOption::None => Leak::None,
        LeakOption::Listeners | LeakOption::UnboundedCache | LeakOption::ConnectionPerRequest => {
            Leak::Forever
        }
        LeakOption::LruCache => Leak::Lru,
    };
    let rps = p.number("rps")?;
    let leak_bytes = (p.number("leak_kb_per_request")? * KB as f64) as u64;
    let limit_mb = p.number("heap_limit_mb")?;
    let auto_restart = p.flag("auto_restart")?;
    let restart_at_mb = p.number("restart_at_mb")?;
    let end = secs(cfg.duration_s);

    // The event loop as an M/M/1 queue: it must keep up with its load.
    let cpu_s = CPU_MS / 1_000.0;
    let utilisation = rps * cpu_s;
    if utilisation >= 1.0 || utilisation.is_nan() {
        return Err(SpecError::Invalid(format!(
            "memory-leaks: {rps} req/s × {CPU_MS} ms of CPU needs more than one event loop"
        )));
    }
    let exit_rate = 1.0 / cpu_s - rps;
    let plain_latency = PLAIN_STRATA
        .windows(2)
        .map(|w| {
            let mid = (w[0] + w[1]) / 2.0;
            millis(IO_MS) + secs(-libm::log(1.0 - mid) / exit_rate)
        })
        .collect();

    let gc = GcConfig::node(limit_mb);
    // PM2 compares RSS with its threshold: the old generation at
    // `restart_at_mb` less what the process holds beyond it.
    let ceiling =
        auto_restart.then_some(((restart_at_mb - RSS_BEYOND_HEAP_MB).max(0.0) * MB as f64) as u64);
    let mut rec = Recorder::new(end);
    let series = Series {
        used: rec.series("heap_used_mb", SeriesKind::Gauge),
        live: rec.series("heap_live_mb", SeriesKind::Gauge),
        pause: rec.series("gc_pause_ms", SeriesKind::Gauge),
        gc_pct: rec.series("gc_time_pct", SeriesKind::Rate),
    };
    let mut m = Model {
        heap: Heap::new(gc),
        cache: BoundedCache::new(if leak == Leak::Lru { LRU_ENTRIES } else { 0 }),
        leak,
        leak_bytes,
        rps,
        drain: 1.0 - utilisation,
        sojourn_s: 1.0 / exit_rate,
        plain_latency,
        backlog_s: 0.0,
        backlog_at: 0,
        plain: 0,
        plain_at: 0,
        delayed: VecDeque::new(),
        minor_carry: 0.0,
        down_until: None,
        dying: None,
        end,
        bucket: rec.coarsest_width(),
        series,
        crashes: 0,
        restarts: 0,
        first_crash: None,
        dropped: 0,
        pauses: Histogram::new(Histogram::PRECISE),
        gc_time: 0,
        events: 0,
    };
    let mut arrivals = RngStream::new(cfg.seed, "arrivals");
    m.record_heap(&mut rec, 0);

    // Spans end at every bucket edge and every PM2 check (made whether or
    // not PM2 is on, so every variant sees the same arrival counts).
    let check = secs(CHECK_S);
    let mut a = 0;
    while a < end {
        if a > 0 && a % check == 0 {
            m.check(&mut rec, a, ceiling);
        }
        let next_edge = (a / m.bucket + 1) * m.bucket;
        let next_check = (a / check + 1) * check;
        let b = next_edge.min(next_check).min(end);
        m.span(&mut rec, &mut arrivals, a, b);
        a = b;
    }
    m.settle(&mut rec, end);
    m.flush_plain(&mut rec);

    let hours = |t: SimTime| t as f64 / (3_600 * SECOND) as f64;
    Ok(rec.finish(
        m.events,
        vec![
            ("heap_peak_mb", m.heap.peak_used() as f64 / MB as f64),
            (
                "gc_pause_p99_ms",
                m.pauses.quantile(0.99) / MILLISECOND as f64,
            ),
            ("crashes", m.crashes as f64),
            ("hours_to_first_crash", hours(m.first_crash.unwrap_or(end))),
            ("dropped_requests", m.dropped as f64),
            ("restarts", m.restarts as f64),
            ("gc_time_pct", 100.0 * m.gc_time as f64 / end.max(1) as f64),
        ],
    ))
}
