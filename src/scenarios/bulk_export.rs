//! Bulk export: a user asks for millions of records as one download.
//!
//! ```text
//!                         ┌──── app / export worker: heap_limit_mb of memory ─┐
//!   user ──request──> [ gateway ] ──> [ db cursor ] ─> [ CSV ] ─> [ gzip? ] ─┬─> socket ──> user
//!    (client_mbps)    idle timeout     1 000 rows      CPU        CPU        │  (stream, sync)
//!                     gateway_timeout_s per round trip                       └─> object storage
//!                                                                               ──> user downloads
//!                                                                               (async_job, chunked_files)
//!   sync_in_memory: CSV ─> [ whole file: one string (≤ 2^29 − 24 chars) or a list of strings ] ─> socket
//! ```
//!
//! * `sync_in_memory`: builds the whole file in memory, then sends it. The
//!   gateway sees no byte until the file is built, so past
//!   `gateway_timeout_s` of building the user gets a 504 while the server
//!   keeps building; memory grows with the export. Two walls stop the
//!   build. Built as one string (`build_as = one_string`), the CSV may not
//!   pass V8's maximum string length, 2^29 − 24 characters (about 537 MB):
//!   the append that would pass it throws `RangeError: Invalid string
//!   length`, the handler's error answer reaches the user at once (reason
//!   `string_too_long`) and the partial string is garbage. As a list of
//!   strings (`string_list`: each short, all on the V8 heap), or whatever
//!   the form, the process holding more than `heap_limit_mb` dies (reason
//!   `out_of_memory`, mark "out of memory"): the gateway sees the
//!   connection drop and answers with an error at once, and every byte the
//!   process held is gone.
//! * `stream`: rows flow database → CSV → gzip → socket in chunks with
//!   backpressure: first byte in milliseconds, memory flat, pace set by the
//!   slowest stage (often the client's link).
//! * `async_job`: the request is answered at once with a job id; a worker
//!   streams the file to object storage and the user downloads it after the
//!   e-mail arrives.
//! * `chunked_files`: the same, but the worker writes one file per
//!   `chunk_records` records, each downloadable as soon as it is ready:
//!   `ceil(records / chunk_records)` files.
//!
//! A *request* is an HTTP request of the user: the download itself for
//! `sync_in_memory` and `stream`; the POST that starts the job plus one GET
//! per file for `async_job` and `chunked_files`. A gateway timeout fails the
//! request with reason `gateway_timeout`. The heap limit applies to every
//! strategy (a stream or a job holds a few chunks, so only huge records
//! reach it); a job worker that dies delivers no more files, and its POST
//! was already answered.
//!
//! Parameters: `strategy` (sync_in_memory | stream | async_job |
//! chunked_files), `records` (rows exported), `record_kb` (KB of CSV per
//! record, decimal), `gzip` (toggle), `gzip_ratio` (input size / output size),
//! `gzip_ms_per_mb` (ms of CPU per MB compressed), `client_mbps` (Mbit/s of
//! the user's link), `gateway_timeout_s` (s the gateway waits with no byte
//! flowing), `chunk_records` (records per file for chunked_files),
//! `heap_limit_mb` (MB, decimal, the process may hold), `build_as`
//! (one_string | string_list: how sync_in_memory holds the file).

use crate::engine::metrics::SeriesId;
use crate::engine::time::{as_millis, as_secs, millis, secs, SimTime};
use crate::engine::{Dist, EventQueue, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::paging::{MemoryBudget, PagedReader};
use crate::parts::stream::{
    FlowLine, Gzip, IdleTimeout, Link, Start, StringBuild, V8_MAX_STRING_CHARS,
};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};
use std::collections::VecDeque;

/// Rows per cursor round trip, and so per chunk in the pipeline.
pub const LINE_ROWS: u64 = 1_000;
/// Mean fixed cost of one cursor round trip, ms (log-normally spread).
pub const DB_ROUND_TRIP_MS: f64 = 2.0;
/// CPU cost of turning rows into CSV, ms per MB of output (about 100 MB/s).
pub const CSV_MS_PER_MB: f64 = 10.0;
/// Time to record the job and answer the POST, ms.
pub const ENQUEUE_MS: f64 = 20.0;
/// Bandwidth from the worker to object storage, Mbit/s.
pub const STORAGE_MBPS: f64 = 1_000.0;
/// Time from the file being ready to the user opening the e-mailed link, s.
pub const EMAIL_S: f64 = 5.0;

const DB_SIGMA: f64 = 0.25;
/// Slots for chunk records; the line never holds more than 4 stages + 3 buffers.
const RING: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Db,
    Csv,
    Gzip,
    /// The socket to the user (stream).
    Net,
    /// The upload to object storage (async_job, chunked_files).
    Store,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    Sync,
    Stream,
    Async,
    Chunked,
}

crate::choices!(Strategy {
    Strategy::Sync = "sync_in_memory",
    Strategy::Stream = "stream",
    Strategy::Async = "async_job",
    Strategy::Chunked = "chunked_files",
});

crate::choices!(Build {
    Build::OneString = "one_string",
    Build::StringList = "string_list",
});

/// How sync_in_memory holds the file while it builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    /// One JavaScript string: V8's string length limit applies.
    OneString,
    /// An array of strings, one per chunk: each under the string limit,
    /// all of them on the heap, so only the heap limits it. (Buffers would
    /// live outside the V8 heap, where `--max-old-space-size` does not
    /// reach; the machine's memory would stop them instead.)
    StringList,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The chunk at stage `0` finished it.
    StageDone(usize),
    /// Gateway idle check (stale unless its generation is current).
    Watch(u64),
    /// Sync: the whole file is compressed.
    SyncGzipped,
    /// Sync: the whole file reached the user.
    SyncSent,
    /// Async and chunked: the POST is answered and the worker starts.
    Answered,
    /// A file of this many bytes is ready for the user (after the e-mail,
    /// for async_job).
    FileReady(u64),
    /// The user finished downloading a file.
    Downloaded,
}

#[derive(Clone, Copy, Default)]
struct Chunk {
    rows: u64,
    raw: u64,
    out: u64,
    held: u64,
    last_of_file: bool,
}

struct Export {
    strategy: Strategy,
    records: u64,
    record_bytes: u64,
    rows_per_file: u64,
    gzip: Option<Gzip>,
    client: Link,
    storage: Link,
    stages: Vec<Stage>,
    line: FlowLine,
    ring: [Chunk; RING],
    current: [u64; 4],
    db_time: Dist,
    db_rng: RngStream,
    memory: MemoryBudget,
    /// sync_in_memory built as one string: the CSV so far.
    string: Option<StringBuild>,
    /// The export stopped for good: the process died or the handler threw.
    halted: bool,
    oom: bool,
    string_too_long: bool,
    idle: IdleTimeout,
    // Where the next chunk starts: file number and rows already in it.
    file: u64,
    in_file: u64,
    file_bytes: u64,
    files_total: u64,
    ready: VecDeque<u64>,
    downloading: Option<(u64, SimTime)>,
    // Outcome.
    cpu: SimTime,
    generated: u64,
    bytes_sent: u64,
    files: u64,
    first_byte: Option<SimTime>,
    /// When export data first started flowing to the user.
    first_data: Option<SimTime>,
    finished: Option<SimTime>,
    closed: bool,
    timed_out: bool,
    s_memory: SeriesId,
    s_sent: SeriesId,
    s_generated: SeriesId,
}

impl Export {
    fn slot(chunk: u64) -> usize {
        (chunk % RING as u64) as usize
    }

    fn file_rows(&self, file: u64) -> u64 {
        self.rows_per_file
            .min(self.records.saturating_sub(file * self.rows_per_file))
    }

    fn show_memory(&mut self, rec: &mut Recorder, now: SimTime) {
        rec.gauge(self.s_memory, now, self.memory.held() as f64 / 1e6);
    }

    /// The user is done (all received, or an error) at `now`.
    fn finish(&mut self, now: SimTime) {
        self.finished.get_or_insert(now);
    }

    /// The export stops at `now` and its memory is released. A download
    /// still open (sync, stream) fails with `reason`: the error is the first
    /// and last thing the user gets. A background job's POST was answered
    /// already; its remaining files never come.
    fn halt(&mut self, rec: &mut Recorder, now: SimTime, reason: &'static str) {
        self.halted = true;
        self.line.stop();
        let held = self.memory.held();
        self.memory.free(held);
        self.show_memory(rec, now);
        if matches!(self.strategy, Strategy::Sync | Strategy::Stream) && !self.closed {
            self.closed = true;
            rec.fail(now, reason);
            self.first_byte.get_or_insert(now);
            self.finish(now);
        }
    }

    /// Takes `bytes` of memory; past the heap limit the process dies.
    fn alloc(&mut self, rec: &mut Recorder, now: SimTime, bytes: u64) -> bool {
        if self.memory.alloc(bytes) {
            return true;
        }
        self.oom = true;
        rec.mark(now, "out of memory");
        self.halt(rec, now, "out_of_memory");
        false
    }

    /// A chunk starts work at a stage: draw its time and schedule the finish.
    fn start(&mut self, q: &mut EventQueue<Ev>, now: SimTime, s: Start) {
        let Some(&stage) = self.stages.get(s.stage) else {
            return;
        };
        self.current[s.stage] = s.chunk;
        let i = Self::slot(s.chunk);
        let t = match stage {
            Stage::Db => {
                let rows = LINE_ROWS.min(self.file_rows(self.file) - self.in_file);
                self.in_file += rows;
                let last = self.in_file >= self.file_rows(self.file);
                if last {
                    self.file += 1;
                    self.in_file = 0;
                }
                let raw = rows * self.record_bytes;
                let out = self.gzip.map_or(raw, |g| g.compressed(raw));
                self.ring[i] = Chunk {
                    rows,
                    raw,
                    out,
                    held: 0,
                    last_of_file: last,
                };
                secs(self.db_time.sample(&mut self.db_rng))
                    .saturating_add(PagedReader::read_time(rows, self.record_bytes))
            }
            Stage::Csv => csv_time(self.ring[i].raw),
            Stage::Gzip => self.gzip.map_or(0, |g| g.cpu_time(self.ring[i].raw)),
            Stage::Net if self.closed => 0,
            Stage::Net => {
                self.idle.begin_send();
                self.first_byte.get_or_insert(now);
                self.first_data.get_or_insert(now);
                self.client.transfer_time(self.ring[i].out)
            }
            Stage::Store => self.storage.transfer_time(self.ring[i].out),
        };
        if matches!(stage, Stage::Csv | Stage::Gzip) {
            self.cpu = self.cpu.saturating_add(t);
        }
        q.schedule(now.saturating_add(t), Ev::StageDone(s.stage));
    }

    /// Starts the next waiting file download if the user's link is free.
    fn next_download(&mut self, q: &mut EventQueue<Ev>, rec: &mut Recorder, now: SimTime) {
        if self.downloading.is_some() {
            return;
        }
        if let Some(bytes) = self.ready.pop_front() {
            rec.arrival(now);
            self.first_data.get_or_insert(now);
            self.downloading = Some((bytes, now));
            q.schedule(
                now.saturating_add(self.client.transfer_time(bytes)),
                Ev::Downloaded,
            );
        }
    }
}

fn csv_time(bytes: u64) -> SimTime {
    secs(bytes as f64 / 1e6 * CSV_MS_PER_MB / 1e3)
}

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let strategy: Strategy = p.pick("strategy")?;
    let records = p.count("records")?;
    let record_bytes = ((p.number("record_kb")? * 1_000.0).round() as u64).max(1);
    let ratio = p.number("gzip_ratio")?;
    let gzip_cost = p.number("gzip_ms_per_mb")?;
    let gzip = p.flag("gzip")?.then(|| Gzip::new(ratio, gzip_cost));
    let client = Link::new(p.number("client_mbps")?);
    let timeout = secs(p.number("gateway_timeout_s")?);
    let chunk_records = p.count("chunk_records")?.max(1);
    let heap_bytes = (p.number("heap_limit_mb")?.max(0.0) * 1e6) as u64;
    let build: Build = p.pick("build_as")?;
    let end = secs(cfg.duration_s);

    let rows_per_file = if strategy == Strategy::Chunked {
        chunk_records
    } else {
        records.max(1)
    };
    let full_files = records / rows_per_file;
    let rest = records % rows_per_file;
    let chunks = full_files * rows_per_file.div_ceil(LINE_ROWS) + rest.div_ceil(LINE_ROWS);
    let files_total = full_files + u64::from(rest > 0);

    let mut stages = vec![Stage::Db, Stage::Csv];
    if strategy != Strategy::Sync {
        if gzip.is_some() {
            stages.push(Stage::Gzip);
        }
        stages.push(if strategy == Strategy::Stream {
            Stage::Net
        } else {
            Stage::Store
        });
    }

    let mut rec = Recorder::new(end);
    let mut x = Export {
        strategy,
        records,
        record_bytes,
        rows_per_file,
        gzip,
        client,
        storage: Link::new(STORAGE_MBPS),
        line: FlowLine::new(stages.len(), 1, chunks, u64::MAX),
        stages,
        ring: [Chunk::default(); RING],
        current: [0; 4],
        db_time: Dist::lognormal(DB_ROUND_TRIP_MS / 1e3, DB_SIGMA),
        db_rng: RngStream::new(cfg.seed, "db.query"),
        memory: MemoryBudget::new(heap_bytes),
        string: (strategy == Strategy::Sync && build == Build::OneString)
            .then(|| StringBuild::new(V8_MAX_STRING_CHARS)),
        halted: false,
        oom: false,
        string_too_long: false,
        idle: IdleTimeout::new(timeout, 0),
        file: 0,
        in_file: 0,
        file_bytes: 0,
        files_total,
        ready: VecDeque::new(),
        downloading: None,
        cpu: 0,
        generated: 0,
        bytes_sent: 0,
        files: 0,
        first_byte: None,
        first_data: None,
        finished: None,
        closed: false,
        timed_out: false,
        s_memory: rec.series("memory_mb", SeriesKind::Gauge),
        s_sent: rec.series("sent_mb_per_s", SeriesKind::Rate),
        s_generated: rec.series("generated_pct", SeriesKind::Gauge),
    };

    let mut q = EventQueue::new();
    let mut starts: Vec<Start> = Vec::with_capacity(8);
    rec.arrival(0);
    match strategy {
        Strategy::Sync | Strategy::Stream => {
            let (deadline, generation) = x.idle.arm();
            q.schedule(deadline, Ev::Watch(generation));
            x.line.begin(&mut starts);
        }
        Strategy::Async | Strategy::Chunked => q.schedule(millis(ENQUEUE_MS), Ev::Answered),
    }

    loop {
        let now = q.now();
        for s in starts.drain(..) {
            x.start(&mut q, now, s);
        }
        let Some((now, ev)) = q.pop_until(end) else {
            break;
        };
        match ev {
            Ev::StageDone(stage) => stage_done(&mut x, &mut q, &mut rec, now, stage, &mut starts),
            Ev::Watch(generation) => {
                if x.finished.is_none() && x.idle.expired(now, generation) {
                    // The gateway gives up; the app only notices when it next writes.
                    x.timed_out = true;
                    rec.mark(now, "504");
                    x.closed = true;
                    rec.fail(now, "gateway_timeout");
                    x.first_byte.get_or_insert(now);
                    x.finish(now);
                    if strategy == Strategy::Stream {
                        x.line.stop();
                    }
                }
            }
            Ev::SyncGzipped | Ev::SyncSent if x.halted => {}
            Ev::SyncGzipped => {
                let raw = x.records * x.record_bytes;
                x.memory.free(raw);
                x.show_memory(&mut rec, now);
                sync_send(&mut x, &mut q, &mut rec, now);
            }
            Ev::SyncSent => {
                let bytes = x.memory.held();
                x.memory.free(bytes);
                x.show_memory(&mut rec, now);
                if let Some(started) = x.first_byte {
                    rec.count_spread(x.s_sent, started, now, bytes as f64 / 1e6);
                }
                x.bytes_sent += bytes;
                x.files += 1;
                rec.complete(now, now);
                x.finish(now);
            }
            Ev::Answered => {
                rec.complete(now, now);
                x.first_byte = Some(now);
                x.line.begin(&mut starts);
            }
            Ev::FileReady(bytes) => {
                x.ready.push_back(bytes);
                x.next_download(&mut q, &mut rec, now);
            }
            Ev::Downloaded => {
                if let Some((bytes, started)) = x.downloading.take() {
                    rec.count_spread(x.s_sent, started, now, bytes as f64 / 1e6);
                    x.bytes_sent += bytes;
                    x.files += 1;
                    rec.complete(now, now - started);
                    if x.files == x.files_total {
                        x.finish(now);
                    }
                }
                x.next_download(&mut q, &mut rec, now);
            }
        }
    }

    let events = q.processed();
    let mb = |b: u64| b as f64 / 1e6;
    Ok(rec.finish(
        events,
        vec![
            ("first_byte_ms", as_millis(x.first_byte.unwrap_or(end))),
            ("first_data_s", as_secs(x.first_data.unwrap_or(end))),
            ("peak_memory_mb", mb(x.memory.peak())),
            ("bytes_sent_mb", mb(x.bytes_sent)),
            ("total_time_s", as_secs(x.finished.unwrap_or(end))),
            ("timed_out", if x.timed_out { 1.0 } else { 0.0 }),
            ("files", x.files as f64),
            ("cpu_s", as_secs(x.cpu)),
            ("oom", f64::from(u8::from(x.oom))),
            ("string_too_long", f64::from(u8::from(x.string_too_long))),
        ],
    ))
}

/// Sync: the file is built (and compressed); send it unless the gateway
/// already gave up, in which case the write fails and the memory is dropped.
fn sync_send(x: &mut Export, q: &mut EventQueue<Ev>, rec: &mut Recorder, now: SimTime) {
    if x.closed {
        let held = x.memory.held();
        x.memory.free(held);
        x.show_memory(rec, now);
        return;
    }
    x.idle.begin_send();
    x.first_byte = Some(now);
    x.first_data.get_or_insert(now);
    let bytes = x.memory.held();
    q.schedule(
        now.saturating_add(x.client.transfer_time(bytes)),
        Ev::SyncSent,
    );
}

fn stage_done(
    x: &mut Export,
    q: &mut EventQueue<Ev>,
    rec: &mut Recorder,
    now: SimTime,
    stage: usize,
    starts: &mut Vec<Start>,
) {
    let Some(&kind) = x.stages.get(stage) else {
        return;
    };
    // Work still in flight when the process died or the handler threw.
    if x.halted {
        return;
    }
    let i = Export::slot(x.current[stage]);
    let chunk = x.ring[i];
    match kind {
        Stage::Db => {
            if !x.alloc(rec, now, chunk.raw) {
                return;
            }
            x.ring[i].held = chunk.raw;
        }
        Stage::Csv => {
            if let Some(string) = x.string.as_mut() {
                if !string.append(chunk.raw) {
                    // RangeError: Invalid string length.
                    x.string_too_long = true;
                    rec.mark(now, "string too long");
                    x.halt(rec, now, "string_too_long");
                    return;
                }
            }
            x.generated += chunk.rows;
            let pct = 100.0 * x.generated as f64 / x.records.max(1) as f64;
            rec.gauge(x.s_generated, now, pct);
        }
        Stage::Gzip => {
            x.memory.free(chunk.held);
            x.ring[i].held = 0;
            if !x.alloc(rec, now, chunk.out) {
                return;
            }
            x.ring[i].held = chunk.out;
        }
        Stage::Net => {
            x.memory.free(chunk.held);
            if !x.closed {
                x.bytes_sent += chunk.out;
                let took = x.client.transfer_time(chunk.out);
                rec.count_spread(
                    x.s_sent,
                    now.saturating_sub(took),
                    now,
                    chunk.out as f64 / 1e6,
                );
                let (deadline, generation) = x.idle.end_send(now);
                q.schedule(deadline, Ev::Watch(generation));
            }
        }
        Stage::Store => {
            x.memory.free(chunk.held);
            x.file_bytes += chunk.out;
            if chunk.last_of_file {
                let delay = if x.strategy == Strategy::Async {
                    secs(EMAIL_S)
                } else {
                    0
                };
                q.schedule(now.saturating_add(delay), Ev::FileReady(x.file_bytes));
                x.file_bytes = 0;
            }
        }
    }
    x.show_memory(rec, now);
    x.line.finish(stage, starts);
    if !x.line.is_done() {
        return;
    }
    match x.strategy {
        Strategy::Sync => match x.gzip {
            Some(g) if !x.closed => {
                let raw = x.records * x.record_bytes;
                if !x.alloc(rec, now, g.compressed(raw)) {
                    return;
                }
                x.show_memory(rec, now);
                let t = g.cpu_time(raw);
                x.cpu = x.cpu.saturating_add(t);
                q.schedule(now.saturating_add(t), Ev::SyncGzipped);
            }
            _ => sync_send(x, q, rec, now),
        },
        Strategy::Stream if !x.closed => {
            x.files += 1;
            rec.complete(now, now);
            x.finish(now);
        }
        _ => {}
    }
}
