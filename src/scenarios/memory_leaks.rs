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
//!                    │ live heap and come more often near the limit
//!                    └─ out of memory ─> crash: in-flight requests dropped,
//!                                        down CRASH_DOWN_S (30 s), then restarted
//!   [ PM2 ] (auto_restart) every CHECK_S (30 s): heap over RESTART_CEILING
//!           (80 %) of the limit? restart now (in-flight dropped, down
//!           RESTART_S, 3 s)
//! ```
//!
//! Demonstrates: a leak grows the heap linearly and the process dies after
//! about `heap_limit / (leak per request × rps)`; well before that, major GC
//! pauses lengthen and come ever more often, so p99 latency climbs; an LRU
//! cache bounded at LRU_ENTRIES keeps the heap flat under the same traffic;
//! a memory-ceiling restart (PM2's `max_memory_restart`) replaces crashes and
//! the thrash before them with short, regular restarts that still drop the
//! requests in flight and those arriving while the process is down.
//!
//! Leak kinds: `listeners` (a listener added per request, never removed),
//! `unbounded_cache` (a cache keyed per request, never evicted) and
//! `connection_per_request` (a client opened per request, never closed) all
//! retain `leak_kb_per_request` for every request: they differ in where the
//! memory is held, not in how it grows. `lru_cache` caches the same entries
//! but evicts the least recently used beyond LRU_ENTRIES. `none` retains
//! nothing.
//!
//! Time: the run lasts `hours`, capped by the run's duration (`--duration`,
//! whose default is the 48-hour maximum, so `hours` normally decides). Each
//! request is simulated exactly, without an event per request: one event
//! loop is a FIFO single server, so a request's start is the later of its
//! arrival and the end of the work before it (the Lindley recursion). GC
//! pauses are work on that same thread, charged when the allocating request
//! arrives. Requests end exactly once: completed; failed `timeout` after
//! TIMEOUT_S (the client gives up); failed `out_of_memory` or `restarted`
//! when in flight as the process dies; rejected `process_down` while it is
//! down. Dropped requests are the last three.
//!
//! Parameters: `leak` (none | listeners | unbounded_cache |
//! connection_per_request | lru_cache), `rps` (req/s), `leak_kb_per_request`
//! (KB retained per request), `heap_limit_mb` (MB, old-generation limit),
//! `auto_restart` (toggle), `hours` (h of simulated time). KB and MB are
//! decimal, as in large-datasets and bulk-export: 1 KB = 1 000 bytes, 1 MB =
//! 10^6 bytes. The heap model ([`GcConfig::node`]): 50 MB live at start,
//! major GC pauses of 5 ms + 0.5 ms per live MB, out of memory when a major
//! GC leaves under 4 MB free.

use crate::engine::time::{millis, secs, SimTime, MILLISECOND, SECOND};
use crate::engine::{Dist, Histogram, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::heap::{KB, MB};
use crate::parts::{Arrivals, BoundedCache, GcConfig, Heap};
use crate::spec::{Params, RunConfig, SpecError};
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
/// How often PM2 checks the process's memory, seconds.
pub const CHECK_S: f64 = 30.0;
/// PM2 restarts the process once the heap passes this share of the limit.
pub const RESTART_CEILING: f64 = 0.8;
/// Seconds a planned restart keeps the process down.
pub const RESTART_S: f64 = 3.0;
/// Seconds from an out-of-memory crash until the supervisor has the process
/// serving again (detection, back-off, cold start).
pub const CRASH_DOWN_S: f64 = 30.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leak {
    None,
    Forever,
    Lru,
}

/// A request not yet ended: when it arrived, when it ends, and whether it
/// ends by completing (else by timing out).
#[derive(Clone, Copy)]
struct Pending {
    arrived: SimTime,
    ends: SimTime,
    completes: bool,
}

struct Model {
    heap: Heap,
    cache: BoundedCache,
    pending: VecDeque<Pending>,
    /// When the event loop finishes the work queued so far.
    free_at: SimTime,
    /// While down: when the process serves again.
    down_until: Option<SimTime>,
    crashes: u64,
    restarts: u64,
    first_crash: Option<SimTime>,
    dropped: u64,
    pauses: Histogram,
    gc_time: SimTime,
    events: u64,
}

/// Series handles.
struct Series {
    used: crate::engine::metrics::SeriesId,
    live: crate::engine::metrics::SeriesId,
    pause: crate::engine::metrics::SeriesId,
    gc_pct: crate::engine::metrics::SeriesId,
}

impl Model {
    /// Ends every pending request whose end is at or before `t`.
    fn settle(&mut self, rec: &mut Recorder, t: SimTime) {
        while let Some(&p) = self.pending.front() {
            if p.ends > t {
                break;
            }
            self.pending.pop_front();
            if p.completes {
                rec.complete(p.ends, p.ends - p.arrived);
            } else {
                rec.fail(p.ends, "timeout");
            }
        }
    }

    /// The process dies at `t`: every request still in flight is dropped.
    fn kill(&mut self, rec: &mut Recorder, t: SimTime, reason: &'static str, down: f64) {
        for _ in 0..self.pending.len() {
            rec.fail(t, reason);
        }
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.down_until = Some(t + secs(down));
        self.events += 1;
    }

    fn record_heap(&self, rec: &mut Recorder, s: &Series, t: SimTime) {
        rec.gauge(s.used, t, self.heap.used() as f64 / MB as f64);
        rec.gauge(s.live, t, self.heap.live_bytes() as f64 / MB as f64);
    }
}

/// Runs the scenario.
pub fn run(p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let leak = match p.choice("leak")? {
        "none" => Leak::None,
        "listeners" | "unbounded_cache" | "connection_per_request" => Leak::Forever,
        "lru_cache" => Leak::Lru,
        other => {
            return Err(SpecError::Invalid(format!(
                "memory-leaks: no leak '{other}'"
            )))
        }
    };
    let rps = p.number("rps")?;
    let leak_bytes = (p.number("leak_kb_per_request")? * KB as f64) as u64;
    let limit_mb = p.number("heap_limit_mb")?;
    let auto_restart = p.flag("auto_restart")?;
    let end = secs((p.number("hours")? * 3_600.0).min(cfg.duration_s));

    let gc = GcConfig::node(limit_mb);
    let ceiling = (gc.limit_bytes as f64 * RESTART_CEILING) as u64;
    let mut m = Model {
        heap: Heap::new(gc),
        cache: BoundedCache::new(LRU_ENTRIES),
        pending: VecDeque::new(),
        free_at: 0,
        down_until: None,
        crashes: 0,
        restarts: 0,
        first_crash: None,
        dropped: 0,
        pauses: Histogram::new(Histogram::PRECISE),
        gc_time: 0,
        events: 0,
    };
    let mut rec = Recorder::new(end);
    let s = Series {
        used: rec.series("heap_used_mb", SeriesKind::Gauge),
        live: rec.series("heap_live_mb", SeriesKind::Gauge),
        pause: rec.series("gc_pause_ms", SeriesKind::Gauge),
        gc_pct: rec.series("gc_time_pct", SeriesKind::Rate),
    };
    let mut arrivals = Arrivals::poisson(rps, cfg.seed, "arrivals");
    let cpu = Dist::exponential(CPU_MS / 1_000.0);
    let mut cpu_rng = RngStream::new(cfg.seed, "event_loop.cpu");
    let (io, timeout) = (millis(IO_MS), secs(TIMEOUT_S));
    let check = secs(CHECK_S);
    let mut next_check = check;
    m.record_heap(&mut rec, &s, 0);

    let mut t = 0;
    loop {
        let next = arrivals.next_after(t).filter(|&a| a < end);
        let horizon = next.unwrap_or(end);
        // PM2's periodic memory checks up to this arrival.
        while next_check <= horizon && next_check < end {
            m.settle(&mut rec, next_check);
            m.events += 1;
            if m.down_until.is_none() {
                m.record_heap(&mut rec, &s, next_check);
                if auto_restart && m.heap.used() >= ceiling {
                    m.restarts += 1;
                    m.kill(&mut rec, next_check, "restarted", RESTART_S);
                }
            }
            next_check += check;
        }
        m.settle(&mut rec, horizon);
        let Some(now) = next else {
            break;
        };
        t = now;
        m.events += 1;
        if let Some(up) = m.down_until {
            if now < up {
                rec.arrival(now);
                rec.reject(now, "process_down");
                m.dropped += 1;
                continue;
            }
            // A fresh process: empty heap, empty cache, idle event loop.
            m.down_until = None;
            m.heap.restart();
            m.cache.clear();
            m.free_at = up;
            m.record_heap(&mut rec, &s, up);
        }
        rec.arrival(now);
        let retained = match leak {
            Leak::None => 0,
            Leak::Forever => leak_bytes,
            Leak::Lru => {
                if m.cache.insert() {
                    m.heap.free(leak_bytes);
                }
                leak_bytes
            }
        };
        let work = m.heap.allocate(GARBAGE_KB * KB, retained);
        for pause in [work.minor, work.major].into_iter().flatten() {
            m.pauses.record(pause);
            m.gc_time += pause;
            m.events += 1;
            rec.gauge(s.pause, now, pause as f64 / MILLISECOND as f64);
            rec.count(s.gc_pct, now, pause as f64 / SECOND as f64 * 100.0);
        }
        if work.minor.is_some() || work.major.is_some() {
            m.record_heap(&mut rec, &s, now);
        }
        if work.out_of_memory {
            // This request dies with the process, like every other in flight.
            rec.fail(now, "out_of_memory");
            m.dropped += 1;
            m.crashes += 1;
            m.first_crash.get_or_insert(now);
            m.kill(&mut rec, now, "out_of_memory", CRASH_DOWN_S);
            continue;
        }
        // The pause stops the event loop; then the request's own CPU work.
        let start = m.free_at.max(now) + work.pause();
        m.free_at = start + secs(cpu.sample(&mut cpu_rng));
        let done = m.free_at + io;
        let gives_up = now + timeout;
        m.pending.push_back(Pending {
            arrived: now,
            ends: done.min(gives_up),
            completes: done <= gives_up,
        });
    }

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
