//! Large datasets: read millions of records without running out of memory,
//! and without paging in a way that gets slower with every page.
//!
//! ```text
//!   [ job ] ──query──> [ database ] ──rows──> [ app heap ] ──> [ process each record ]
//!    load_all:       one query for everything; every row held until processed
//!    offset_pages:   SKIP k·b LIMIT b per page; the database re-reads skipped rows
//!    keyset_cursor:  WHERE id > last LIMIT b; each page reads only its own rows
//!    stream:         one open cursor, b rows per round trip, reading one batch
//!                    ahead while the previous one is processed (backpressure)
//! ```
//!
//! Demonstrates: `load_all` needs `records × record_kb` of heap (10 M × 1 KB
//! = 10 GB) and dies at the heap limit; `keyset_cursor` holds one batch and
//! `stream` at most two, whatever `records` is; `offset_pages` holds one batch
//! too but its page `k` makes the database read `k × b` skipped rows, so its
//! total time grows with `records²` while the others grow with `records`.
//!
//! A *request* here is one database round trip together with the processing
//! of the rows it returned: one per page or batch, and a single one for
//! `load_all`. Its latency is fetch + processing; an out-of-memory crash
//! fails every request in flight with reason `out_of_memory`.
//!
//! Outcome metrics: `finished` is 1 once every record is processed.
//! `total_time_s` is the time the job ended: when it finished, or when it
//! died out of memory (`oom` = 1, `finished` = 0). If the run ends first, it
//! is projected at the rate so far, `run length × records / processed`; a
//! lower bound for `offset_pages`, whose pages keep slowing, and the run's
//! length if no record was processed. `first_result_ms` is when the first
//! records were in the process's hands, ready to process (the first page or
//! batch; the whole result for `load_all`); if none ever were (out of memory
//! first, or the run ended first), it is the run's length, like
//! `first_byte_ms` of bulk-export for a download that never starts: never a
//! misleading instant answer.
//!
//! Parameters: `strategy` (load_all | offset_pages | keyset_cursor | stream),
//! `records` (rows in the table), `record_kb` (KB per record, decimal),
//! `batch_size` (rows per page or round trip), `per_record_us` (µs of
//! processing per record), `query_ms` (ms, mean fixed cost of one database
//! round trip, log-normally spread), `heap_limit_mb` (MB the process may hold).
//! Reading rows costs the database
//! [`ROW_READ_NS_PER_KB`](crate::parts::paging::ROW_READ_NS_PER_KB) per KB,
//! skipped or not.

use crate::engine::metrics::SeriesId;
use crate::engine::time::{as_millis, as_secs, secs, SimTime};
use crate::engine::{Dist, EventQueue, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::paging::{MemoryBudget, PagedReader, Paging};
use crate::parts::stream::{FlowLine, Start};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Spread (sigma of the underlying normal) of a round trip's fixed cost.
const QUERY_SIGMA: f64 = 0.25;

/// `load_all` receives and processes its rows in this many slices, only so
/// that its memory and progress can be charted; the crash time is exact.
const LOAD_SLICES: u64 = 100;

/// Ring of pages in the line (the line never holds more than two).
const RING: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The page being fetched has arrived.
    Fetched,
    /// The page being processed is done.
    Processed,
    /// `load_all`: rows up to this count have arrived.
    LoadSlice(u64),
    /// `load_all`: records up to this count are processed.
    ProcSlice(u64),
    /// `load_all`: the next row does not fit in the heap.
    OutOfMemory,
}

#[derive(Clone, Copy, Default)]
struct InLine {
    rows: u64,
    arrived: SimTime,
}

struct Job {
    record_bytes: u64,
    per_record_s: f64,
    query: Dist,
    query_rng: RngStream,
    memory: MemoryBudget,
    db_queries: u64,
    processed: u64,
    first_result: Option<SimTime>,
    ended: Option<SimTime>,
    oom: bool,
    s_memory: SeriesId,
    s_records: SeriesId,
    s_rows_read: SeriesId,
}

impl Job {
    fn round_trip(&mut self) -> SimTime {
        self.db_queries += 1;
        secs(self.query.sample(&mut self.query_rng))
    }

    fn show_memory(&self, rec: &mut Recorder, now: SimTime) {
        rec.gauge(self.s_memory, now, self.memory.held() as f64 / 1e6);
    }

    /// The job ended at `now` (done or crashed) and its memory is released.
    /// The gauge keeps the bucket's peak and carries the 0 on.
    fn end(&mut self, rec: &mut Recorder, now: SimTime) {
        self.ended = Some(now);
        let held = self.memory.held();
        self.memory.free(held);
        self.show_memory(rec, now);
    }
}

/// How the records are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    LoadAll,
    OffsetPages,
    KeysetCursor,
    Stream,
}

crate::choices!(Strategy {
    Strategy::LoadAll = "load_all",
    Strategy::OffsetPages = "offset_pages",
    Strategy::KeysetCursor = "keyset_cursor",
    Strategy::Stream = "stream",
});

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let strategy: Strategy = p.pick("strategy")?;
    let records = p.count("records")?;
    let record_bytes = ((p.number("record_kb")? * 1_000.0).round() as u64).max(1);
    let batch = p.count("batch_size")?.max(1);
    let per_record_s = p.number("per_record_us")?.max(0.0) / 1e6;
    let query_s = p.number("query_ms")?.max(0.0) / 1e3;
    let heap_bytes = (p.number("heap_limit_mb")?.max(0.0) * 1e6) as u64;
    let end = secs(cfg.duration_s);

    let mut rec = Recorder::new(end);
    let mut job = Job {
        record_bytes,
        per_record_s,
        query: Dist::lognormal(query_s, QUERY_SIGMA),
        query_rng: RngStream::new(cfg.seed, "db.query"),
        memory: MemoryBudget::new(heap_bytes),
        db_queries: 0,
        processed: 0,
        first_result: None,
        ended: None,
        oom: false,
        s_memory: rec.series("memory_mb", SeriesKind::Gauge),
        s_records: rec.series("records_per_s", SeriesKind::Rate),
        s_rows_read: rec.series("db_rows_read_per_s", SeriesKind::Rate),
    };
    let mut q = EventQueue::new();
    let paging = match strategy {
        Strategy::LoadAll => None,
        Strategy::OffsetPages => Some(Paging::Offset),
        Strategy::KeysetCursor => Some(Paging::Keyset),
        Strategy::Stream => Some(Paging::Cursor),
    };
    match paging {
        None => load_all(&mut job, &mut q, &mut rec, records, end),
        Some(paging) => paged(&mut job, &mut q, &mut rec, paging, records, batch, end),
    }

    let finished = job.ended.is_some() && !job.oom;
    let total = match job.ended {
        Some(t) => t,
        // Unfinished: project the rate so far over every record.
        None if job.processed > 0 => {
            (end as f64 * records as f64 / job.processed as f64) as SimTime
        }
        None => end,
    };
    let events = q.processed();
    Ok(rec.finish(
        events,
        vec![
            ("peak_memory_mb", job.memory.peak() as f64 / 1e6),
            ("total_time_s", as_secs(total)),
            (
                "first_result_ms",
                as_millis(job.first_result.unwrap_or(end)),
            ),
            ("db_queries", job.db_queries as f64),
            ("oom", if job.oom { 1.0 } else { 0.0 }),
            ("finished", if finished { 1.0 } else { 0.0 }),
            ("records_processed", job.processed as f64),
        ],
    ))
}

/// One query for every row: rows arrive at the database's read speed and
/// are all held until the last one is processed.
fn load_all(job: &mut Job, q: &mut EventQueue<Ev>, rec: &mut Recorder, records: u64, end: SimTime) {
    rec.arrival(0);
    let first_row_at = job.round_trip();
    let fits = job.memory.room_for(job.record_bytes);
    let slice = records.div_ceil(LOAD_SLICES).max(1);
    let rb = job.record_bytes;
    let arrive_at = |rows: u64| first_row_at.saturating_add(PagedReader::read_time(rows, rb));
    let schedule_load = |q: &mut EventQueue<Ev>, loaded: u64| {
        let target = (loaded + slice).min(records);
        if target <= fits {
            q.schedule(arrive_at(target), Ev::LoadSlice(target));
        } else {
            // The row after the last one that fits is the allocation that fails.
            q.schedule(arrive_at(fits + 1), Ev::OutOfMemory);
        }
    };
    if records == 0 {
        q.schedule(first_row_at, Ev::LoadSlice(0));
    } else {
        schedule_load(q, 0);
    }
    let mut loaded = 0;
    let mut processing_from = 0;
    while let Some((now, ev)) = q.pop_until(end) {
        match ev {
            Ev::LoadSlice(target) => {
                let rows = target - loaded;
                job.memory.alloc(rows * rb);
                rec.count_spread(job.s_rows_read, arrive_at(loaded), now, rows as f64);
                loaded = target;
                job.show_memory(rec, now);
                if loaded < records {
                    schedule_load(q, loaded);
                } else {
                    job.first_result = Some(now);
                    processing_from = now;
                    let first = slice.min(records);
                    q.schedule(
                        now + secs(first as f64 * job.per_record_s),
                        Ev::ProcSlice(first),
                    );
                }
            }
            Ev::ProcSlice(target) => {
                // Charted over the slice's own span, not as a spike at its end.
                let began = processing_from + secs(job.processed as f64 * job.per_record_s);
                rec.count_spread(job.s_records, began, now, (target - job.processed) as f64);
                job.processed = target;
                if target < records {
                    let next = (target + slice).min(records);
                    let at = processing_from + secs(next as f64 * job.per_record_s);
                    q.schedule(at, Ev::ProcSlice(next));
                } else {
                    job.memory.free(loaded * rb);
                    rec.complete(now, now);
                    job.end(rec, now);
                }
            }
            Ev::OutOfMemory => {
                let rows = fits - loaded;
                job.memory.alloc(rows * rb);
                let read = rows as f64 + 1.0;
                rec.count_spread(job.s_rows_read, arrive_at(loaded), now, read);
                job.show_memory(rec, now);
                job.oom = true;
                rec.fail(now, "out_of_memory");
                rec.mark(now, "out of memory");
                job.end(rec, now);
            }
            Ev::Fetched | Ev::Processed => {}
        }
    }
}

/// Pages or cursor batches through a two-stage line (fetch, process). Paged
/// strategies let one batch into the line at a time; the stream lets the
/// next fetch run while the previous batch is processed, and a fetched batch
/// waits (holding its memory) until the processor is free.
fn paged(
    job: &mut Job,
    q: &mut EventQueue<Ev>,
    rec: &mut Recorder,
    paging: Paging,
    records: u64,
    batch: u64,
    end: SimTime,
) {
    let mut reader = PagedReader::new(paging, records, batch);
    let pages = records.div_ceil(batch);
    let max_in_line = if paging == Paging::Cursor {
        u64::MAX
    } else {
        1
    };
    let mut line = FlowLine::new(2, 0, pages, max_in_line);
    let mut ring = [InLine::default(); RING];
    let mut fetching = 0u64;
    let mut processing = 0u64;
    let mut starts: Vec<Start> = Vec::with_capacity(4);
    line.begin(&mut starts);
    if pages == 0 {
        job.end(rec, 0);
    }
    loop {
        for s in starts.drain(..) {
            let now = q.now();
            let slot = (s.chunk % RING as u64) as usize;
            if s.stage == 0 {
                let Some(page) = reader.next_page() else {
                    continue;
                };
                rec.arrival(now);
                ring[slot] = InLine {
                    rows: page.rows,
                    arrived: now,
                };
                // The rows are read after the round trip's fixed cost.
                let from = now.saturating_add(job.round_trip());
                let to =
                    from.saturating_add(PagedReader::read_time(page.rows_read, job.record_bytes));
                rec.count_spread(job.s_rows_read, from, to, page.rows_read as f64);
                fetching = s.chunk;
                q.schedule(to, Ev::Fetched);
            } else {
                processing = s.chunk;
                let t = secs(ring[slot].rows as f64 * job.per_record_s);
                q.schedule(now.saturating_add(t), Ev::Processed);
            }
        }
        let Some((now, ev)) = q.pop_until(end) else {
            break;
        };
        match ev {
            Ev::Fetched => {
                let rows = ring[(fetching % RING as u64) as usize].rows;
                if !job.memory.alloc(rows * job.record_bytes) {
                    // The process dies, taking every batch in the line with it.
                    job.oom = true;
                    rec.mark(now, "out of memory");
                    for _ in 0..line.in_line() {
                        rec.fail(now, "out_of_memory");
                    }
                    job.end(rec, now);
                    break;
                }
                job.first_result.get_or_insert(now);
                job.show_memory(rec, now);
                line.finish(0, &mut starts);
            }
            Ev::Processed => {
                let item = ring[(processing % RING as u64) as usize];
                job.memory.free(item.rows * job.record_bytes);
                job.processed += item.rows;
                let began = now.saturating_sub(secs(item.rows as f64 * job.per_record_s));
                rec.count_spread(job.s_records, began, now, item.rows as f64);
                rec.complete(now, now - item.arrived);
                job.show_memory(rec, now);
                line.finish(1, &mut starts);
                if line.is_done() {
                    job.end(rec, now);
                }
            }
            _ => {}
        }
    }
}
