//! Bulk upload: millions of CSV rows into a database, inside the request or
//! through a job queue, one row at a time or in batches.
//!
//! ```text
//!   upload ──> [ reader: parse + validate ] ──chunks──> [ job queue ] ──> [ workers ] ──> [ database ]
//!   (t = 0)     PARSE_ROWS_PER_S rows/s        │          queue_workers:       │ round trip,   `db_write_slots`
//!     │         invalid rows ─────────────────────────> failed-row report     │ then rows on  inserts write
//!     │                                        │          `workers` workers;   │ a write slot  at once; others
//!     └─ response: sync_request waits for the  │          others: one worker,  │               wait (FIFO)
//!        whole job (gateway timeout);          │          reader paused while  │ crash: batch retried, worker
//!        the others answer at once (ACK_MS)    │          it writes            │ back after WORKER_RESTART_S;
//!                                                                              │ MAX_ATTEMPTS, then dead letter
//! ```
//!
//! Demonstrates: an insert statement costs one round trip plus work per row,
//! so inserting 5 M rows one by one (49 + 0.95 ≈ 50 ms each) takes about
//! 69 hours, while 5 000 inserts of 1 000 rows (49 + 950 ≈ 1 s each) take
//! about 1.4 hours, and bigger batches gain less and less (the per-row work,
//! 5 M × 0.95 ms = 1.3 h, remains). Queue workers share the database's write
//! capacity: each one adds throughput until the write slots are full
//! (`db_write_slots` / 0.95 ms rows per second), after which more workers
//! only wait. A synchronous upload request hits the gateway timeout long
//! before the job ends, while the queue answers at once and reports
//! progress; a worker crash mid-batch makes the retry write the same rows
//! twice unless writes are idempotent; invalid rows land in a failed-row
//! report and `rows_inserted + failed_rows = rows` once done.
//!
//! Timing of one attempt at a chunk with `valid` rows:
//! * batch: one round trip (`round_trip_ms`, which holds no write slot),
//!   then a wait for a write slot if all are busy, then `valid ×
//!   per_row_ms` holding the slot. A crash strikes while the rows are being
//!   written, after a uniform fraction of them.
//! * row by row: `valid` statements of `round_trip_ms + per_row_ms`, one
//!   after another. This strategy runs a single worker with one statement
//!   at a time, so it never finds the write slots full (there is at least
//!   one) and skips the slot queue; its per-row work still counts in the
//!   capacity used. A crash strikes after a uniform fraction of the attempt.
//!
//! The row ledger (see [`BatchWriter`]) describes the table itself. Every
//! attempt starts from the chunk's first row; a crash leaves the prefix it
//! wrote in the table. `rows_inserted` counts distinct rows present in the
//! table; `duplicate_rows` counts extra copies present (copies − distinct
//! rows; always 0 with idempotent writes); `failed_rows` counts rows reported
//! as failed and absent from the table: invalid rows, plus the rows of a
//! dead-lettered chunk that none of its attempts wrote. Rows a dead-lettered
//! chunk's attempts did write stay in the table and are counted as inserted
//! (and their extra copies as duplicates), not as failed. A crash of the
//! last attempt is followed by no retry, so it adds no copy of its own.
//!
//! What counts as a request: one chunk of `batch_size` rows (a job on the
//! queue). It arrives when the reader has parsed it, completes when its rows
//! are committed (latency = time from parsed to committed) and fails, reason
//! `retries_exhausted`, when it is dead-lettered. Row-by-row inserts also
//! checkpoint every `batch_size` rows, so a crash retries from the last
//! checkpoint. Simulating chunks rather than rows is exact: the time of a
//! chunk is a sum of identical row costs, and invalid rows per chunk are
//! drawn from their exact binomial distribution.
//!
//! The upload request itself is not one of those requests: its fate is
//! reported by `upload_response_ms`, `timed_out` and `upload_waiting`. For
//! sync_request it is answered when the job ends, or with a 504 at
//! `request_timeout_s` if that comes first (`timed_out` = 1, response =
//! the timeout); if the run ends before either, it is still waiting
//! (`upload_waiting` = 1) and `upload_response_ms` is the wait so far, the
//! run's length: a lower bound, not an answer. The other strategies answer
//! after ACK_MS.
//!
//! Parameters: `strategy` (sync_request | one_by_one | batched |
//! queue_workers), `rows` (rows), `batch_size` (rows per chunk), `workers`
//! (workers; queue_workers only), `round_trip_ms` (ms per insert statement,
//! whatever its size), `per_row_ms` (ms of database write work per row),
//! `db_write_slots` (inserts the database can write at once),
//! `invalid_pct` (% of rows failing validation), `crash_pct` (% of attempts
//! during which the worker dies), `idempotent` (toggle: writes are upserts
//! on a natural key), `request_timeout_s` (s, the gateway's limit for the
//! upload request).

use crate::engine::dist::binomial_count;
use crate::engine::metrics::SeriesId;
use crate::engine::time::{as_millis, millis, secs, SimTime, SECOND};
use crate::engine::{EventQueue, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::batch::{Chunk, InsertCost, WriteSlots};
use crate::parts::{BatchWriter, Job, JobQueue, Retry, WriteMode};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Rows per second the reader parses and validates (a streaming CSV parser).
pub const PARSE_ROWS_PER_S: f64 = 100_000.0;

/// How long an asynchronous upload takes to answer: store the file, create
/// the job record, enqueue. Milliseconds.
pub const ACK_MS: f64 = 50.0;

/// Attempts per chunk before it goes to the dead-letter queue.
pub const MAX_ATTEMPTS: u32 = 5;

/// Seconds a crashed worker is out of service (process restart).
pub const WORKER_RESTART_S: f64 = 5.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    SyncRequest,
    OneByOne,
    Batched,
    QueueWorkers,
}

crate::choices!(Strategy {
    Strategy::SyncRequest = "sync_request",
    Strategy::OneByOne = "one_by_one",
    Strategy::Batched = "batched",
    Strategy::QueueWorkers = "queue_workers",
});

/// One attempt at a chunk in progress.
struct Attempt {
    job: Job<Chunk>,
    /// `Some(fraction)`: the worker dies after this fraction of the rows.
    crash: Option<f64>,
    /// When it started writing rows (took a write slot, or started its
    /// row-by-row loop).
    writing_since: SimTime,
}

enum Ev {
    /// The reader has parsed the next chunk.
    Parsed,
    /// A batch insert's round trip is done: it needs a write slot.
    AtDatabase(Attempt),
    /// An attempt stopped writing: committed, or its worker crashed.
    Ended(Attempt),
    /// A crashed worker is back in service.
    WorkerBack,
}

/// The reader: streams the file chunk by chunk.
struct Reader {
    remaining: u64,
    batch: u64,
    invalid_p: f64,
    rng: RngStream,
}

impl Reader {
    /// Time to parse the next chunk, or `None` at the end of the file.
    fn next_parse_time(&self) -> Option<SimTime> {
        (self.remaining > 0).then(|| secs(self.remaining.min(self.batch) as f64 / PARSE_ROWS_PER_S))
    }

    /// Takes the next chunk, drawing how many of its rows are invalid.
    fn take(&mut self) -> Chunk {
        let rows = self.remaining.min(self.batch);
        self.remaining -= rows;
        let invalid = binomial_count(rows, self.invalid_p, &mut self.rng);
        Chunk::new(rows, invalid)
    }
}

struct Model {
    queue: JobQueue<Chunk>,
    writer: BatchWriter,
    db: WriteSlots<Attempt>,
    crash_p: f64,
    crash_rng: RngStream,
    retries: u64,
    s_db: SeriesId,
}

impl Model {
    /// Starts every attempt an idle worker can take.
    fn dispatch(&mut self, q: &mut EventQueue<Ev>, now: SimTime) {
        while let Some(job) = self.queue.take() {
            let valid = job.payload.valid();
            let crash = self
                .crash_rng
                .chance(self.crash_p)
                .then(|| self.crash_rng.uniform());
            let attempt = Attempt {
                job,
                crash,
                writing_since: now,
            };
            if self.writer.uses_write_slot() {
                q.schedule_in(self.writer.round_trip_time(valid), Ev::AtDatabase(attempt));
            } else {
                let t = match crash {
                    Some(f) => self.writer.crash_time(valid, f),
                    None => self.writer.attempt_time(valid),
                };
                q.schedule_in(t, Ev::Ended(attempt));
            }
        }
    }

    /// A batch insert took a write slot at `now`: schedule the end of its
    /// rows (all of them, or up to the crash).
    fn start_writing(&self, q: &mut EventQueue<Ev>, now: SimTime, mut a: Attempt) {
        let valid = a.job.payload.valid();
        let t = match a.crash {
            Some(f) => self
                .writer
                .crash_time(valid, f)
                .saturating_sub(self.writer.round_trip_time(valid)),
            None => self.writer.write_time(valid),
        };
        a.writing_since = now;
        q.schedule_in(t, Ev::Ended(a));
    }

    /// The write work an attempt did, and its share of the capacity charted
    /// over the time it spent writing.
    fn account_work(&mut self, rec: &mut Recorder, now: SimTime, a: &Attempt) -> SimTime {
        let full = self.writer.write_time(a.job.payload.valid());
        let work = match a.crash {
            Some(f) => (full as f64 * f.clamp(0.0, 1.0)) as SimTime,
            None => full,
        };
        // Percent of the whole capacity: one slot for one second of a
        // one-second bucket is 100 / slots.
        let pct_s = 100.0 * work as f64 / SECOND as f64 / self.db.slots() as f64;
        rec.count_spread(self.s_db, a.writing_since, now, pct_s);
        work
    }
}

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let strategy: Strategy = p.pick("strategy")?;
    let rows = p.count("rows")?;
    let batch = p.count("batch_size")?.max(1);
    let workers = match strategy {
        Strategy::QueueWorkers => p.count("workers")?.max(1) as usize,
        _ => 1,
    };
    let mode = match strategy {
        Strategy::OneByOne => WriteMode::RowByRow,
        _ => WriteMode::Batch,
    };
    let cost = InsertCost {
        round_trip: millis(p.number("round_trip_ms")?),
        per_row: millis(p.number("per_row_ms")?),
    };
    let slots = p.count("db_write_slots")?.max(1) as usize;
    let invalid_p = (p.number("invalid_pct")? / 100.0).clamp(0.0, 1.0);
    let crash_p = (p.number("crash_pct")? / 100.0).clamp(0.0, 1.0);
    let idempotent = p.flag("idempotent")?;
    let timeout = secs(p.number("request_timeout_s")?);
    let end = secs(cfg.duration_s);
    // With a queue the reader pushes every chunk as fast as it parses; a lone
    // worker pauses the stream while it writes (backpressure).
    let push_mode = strategy == Strategy::QueueWorkers;
    let sync = strategy == Strategy::SyncRequest;

    let mut rec = Recorder::new(end);
    let s_progress = rec.series("progress_pct", SeriesKind::Gauge);
    let s_inserted = rec.series("inserted_rows", SeriesKind::Gauge);
    let s_duplicates = rec.series("duplicates", SeriesKind::Gauge);
    let s_queue = rec.series("queue_depth", SeriesKind::Gauge);
    let s_busy = rec.series("workers_busy", SeriesKind::Gauge);
    let s_db_queue = rec.series("db_waiting", SeriesKind::Gauge);
    let s_db = rec.series("db_write_pct", SeriesKind::Rate);
    let mut m = Model {
        queue: JobQueue::new(workers, MAX_ATTEMPTS),
        writer: BatchWriter::new(mode, cost, idempotent),
        db: WriteSlots::new(slots),
        crash_p,
        crash_rng: RngStream::new(cfg.seed, "workers.crash"),
        retries: 0,
        s_db,
    };
    let mut reader = Reader {
        remaining: rows,
        batch,
        invalid_p,
        rng: RngStream::new(cfg.seed, "rows.validation"),
    };

    let mut q = EventQueue::new();
    if let Some(t) = reader.next_parse_time() {
        q.schedule(t, Ev::Parsed);
    }
    // Every chunk ends once: committed or dead-lettered.
    let chunks = rows.div_ceil(batch);
    let mut ended = 0u64;
    let mut finished_at: Option<SimTime> = (chunks == 0).then_some(0);
    while let Some((now, ev)) = q.pop_until(end) {
        // Whether the reader may parse the next chunk now (pull mode only).
        let mut pull_next = false;
        match ev {
            Ev::Parsed => {
                let chunk = reader.take();
                rec.arrival(now);
                m.queue.push(now, chunk);
                if push_mode {
                    if let Some(t) = reader.next_parse_time() {
                        q.schedule_in(t, Ev::Parsed);
                    }
                }
            }
            Ev::AtDatabase(a) => {
                if let Some(a) = m.db.arrive(a) {
                    m.start_writing(&mut q, now, a);
                }
            }
            Ev::Ended(mut a) => {
                let work = m.account_work(&mut rec, now, &a);
                if m.writer.uses_write_slot() {
                    if let Some(next) = m.db.release(work) {
                        m.start_writing(&mut q, now, next);
                    }
                } else {
                    m.db.record_work(work);
                }
                match a.crash {
                    None => {
                        m.writer.commit(&mut a.job.payload);
                        m.queue.succeed();
                        ended += 1;
                        rec.complete(now, now - a.job.enqueued);
                        pull_next = true;
                    }
                    Some(fraction) => {
                        m.writer.crash(&mut a.job.payload, fraction);
                        m.retries += 1;
                        q.schedule_in(secs(WORKER_RESTART_S), Ev::WorkerBack);
                        if let Retry::DeadLetter(job) = m.queue.fail(a.job, true) {
                            m.writer.dead_letter(&job.payload);
                            ended += 1;
                            rec.fail(now, "retries_exhausted");
                            pull_next = true;
                        }
                    }
                }
            }
            Ev::WorkerBack => m.queue.worker_back(),
        }
        if pull_next && !push_mode {
            if let Some(t) = reader.next_parse_time() {
                q.schedule_in(t, Ev::Parsed);
            }
        }
        m.dispatch(&mut q, now);
        if finished_at.is_none() && ended >= chunks {
            finished_at = Some(now);
        }
        let done_pct = 100.0 * m.writer.processed() as f64 / rows.max(1) as f64;
        // The synchronous uploader has no job record to poll: it sees nothing.
        rec.gauge(s_progress, now, if sync { 0.0 } else { done_pct });
        rec.gauge(s_inserted, now, m.writer.inserted() as f64);
        rec.gauge(s_duplicates, now, m.writer.duplicates() as f64);
        rec.gauge(s_queue, now, m.queue.queued() as f64);
        rec.gauge(s_busy, now, m.queue.busy() as f64);
        rec.gauge(s_db_queue, now, m.db.waiting() as f64);
    }

    let total_time = match finished_at {
        Some(t) => t,
        // Unfinished: project the rate so far over the whole file.
        None if m.writer.processed() > 0 => {
            (end as f64 * rows as f64 / m.writer.processed() as f64) as SimTime
        }
        None => end,
    };
    // When the uploader gets an answer: the job's end (sync, unless the
    // gateway's timeout comes first) or the acknowledgement.
    let answer = if sync {
        finished_at.map_or(timeout, |t| t.min(timeout))
    } else {
        millis(ACK_MS)
    };
    let timed_out = sync && answer >= timeout && end >= timeout;
    if timed_out {
        rec.mark(timeout, "504");
    }
    if let Some(t) = finished_at {
        rec.mark(t, "all rows written");
    }
    // Still waiting at the end of the run: report the wait so far.
    let waiting = answer > end;
    let response = answer.min(end);
    // Capacity used while the job ran (until the run's end if unfinished).
    let busy_pct = 100.0 * m.db.utilisation(finished_at.unwrap_or(end));
    let events = q.processed();
    Ok(rec.finish(
        events,
        vec![
            ("rows_inserted", m.writer.inserted() as f64),
            ("duplicate_rows", m.writer.duplicates() as f64),
            ("failed_rows", m.writer.failed() as f64),
            ("total_time_h", total_time as f64 / (3_600 * SECOND) as f64),
            ("upload_response_ms", as_millis(response)),
            ("queue_depth_max", m.queue.depth_max() as f64),
            ("timed_out", f64::from(u8::from(timed_out))),
            ("upload_waiting", f64::from(u8::from(waiting))),
            ("finished", f64::from(u8::from(finished_at.is_some()))),
            ("retries", m.retries as f64),
            ("dead_lettered", m.queue.dead_lettered() as f64),
            ("db_write_busy_pct", busy_pct),
            ("db_waiting_max", m.db.waiting_max() as f64),
        ],
    ))
}
