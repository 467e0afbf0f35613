//! A batch writer: how long writing a chunk of rows takes, row by row or as
//! one multi-row insert, the row ledger of what ended up where, and the
//! database's shared write capacity.
//!
//! ```text
//!   chunk of rows ──> validate ──valid──> [ writer ] ──> [ write slots ] ──> table
//!                        │                    │            `slots` inserts write at
//!                        │                    │            once; the rest wait (FIFO)
//!                        │                    │ crash mid-chunk: the rows
//!                        │                    │ already written stay; a retry
//!                        │                    │ writes them again (extra
//!                        │                    │ copies) unless writes are
//!                        │                    │ idempotent
//!                        │                    └ out of attempts: the rows not
//!                        │                      in the table go to the
//!                        │                      dead-letter queue
//!                        └──invalid──> failed-row report
//! ```
//!
//! **Cost of an insert** ([`InsertCost`]): one statement of `n` rows takes a
//! fixed `round_trip` (network both ways, parsing, commit) plus `n ×
//! per_row` of database work. Row by row, `n` rows pay `n` round trips; as
//! one multi-row insert they pay one. The round trip is waiting, not work:
//! only the per-row part uses the database's write capacity.
//!
//! **Write capacity** ([`WriteSlots`]): the database can write for `slots`
//! statements at once (its cores and disks). A statement holds one slot for
//! its per-row work; when every slot is busy the next statement waits, so
//! writers beyond the capacity add waiting, not throughput.
//!
//! Neither a row-by-row loop nor a multi-row insert without a transaction is
//! atomic: a crash leaves a prefix of the chunk's valid rows written. Every
//! attempt starts again from the chunk's first row. Plain inserts add a new
//! copy of every row they write; idempotent writes (an upsert on a natural
//! key, or insert-if-absent against a unique index) rewrite rows already
//! there harmlessly.
//!
//! The ledger describes the table and the failure report exactly:
//! * `inserted`: distinct rows present in the table (committed chunks' valid
//!   rows, plus the longest prefix any crashed attempt wrote of a chunk that
//!   was later dead-lettered or is still being retried);
//! * `duplicates`: extra copies in the table (copies present − distinct rows
//!   present);
//! * `failed`: rows reported as failed and absent from the table: invalid
//!   rows of every chunk that ended (committed or dead-lettered), plus the
//!   valid rows of dead-lettered chunks that no attempt wrote.
//!
//! Once every chunk has committed or been dead-lettered,
//! `inserted + failed = rows`: each row is either in the table (at least
//! once) or in the report, never both, never neither.

use crate::engine::SimTime;
use std::collections::VecDeque;

/// How rows reach the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// One insert statement (one round trip) per row.
    RowByRow,
    /// One multi-row insert (one round trip) per chunk.
    Batch,
}

/// The time one insert statement takes: a fixed round trip plus work per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsertCost {
    /// Paid once per statement, whatever its size; not database work.
    pub round_trip: SimTime,
    /// Database write work per row, done on one write slot.
    pub per_row: SimTime,
}

impl InsertCost {
    /// Time of one statement inserting `rows` rows, with a free write slot.
    pub fn statement(&self, rows: u64) -> SimTime {
        self.round_trip
            .saturating_add(self.per_row.saturating_mul(rows))
    }
}

/// One chunk of rows and what its attempts have left in the table so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Rows in the chunk.
    pub rows: u64,
    /// Rows that failed validation (never written).
    pub invalid: u64,
    /// Longest prefix of the valid rows that some attempt wrote: these rows
    /// are in the table at least once.
    pub written: u64,
}

impl Chunk {
    /// A chunk of `rows` rows, `invalid` of which fail validation, nothing
    /// written yet.
    pub fn new(rows: u64, invalid: u64) -> Self {
        Self {
            rows,
            invalid: invalid.min(rows),
            written: 0,
        }
    }

    /// Rows that pass validation and are written.
    pub fn valid(&self) -> u64 {
        self.rows - self.invalid
    }
}

/// Writes chunks of rows and keeps the row ledger.
#[derive(Clone, Debug)]
pub struct BatchWriter {
    mode: WriteMode,
    cost: InsertCost,
    idempotent: bool,
    inserted: u64,
    duplicates: u64,
    failed: u64,
}

impl BatchWriter {
    /// A writer using `mode`, each statement costing `cost`; `idempotent`
    /// writes never create duplicates.
    pub fn new(mode: WriteMode, cost: InsertCost, idempotent: bool) -> Self {
        Self {
            mode,
            cost,
            idempotent,
            inserted: 0,
            duplicates: 0,
            failed: 0,
        }
    }

    /// Whether an attempt must wait for a [`WriteSlots`] slot after its round
    /// trip. A batch does. A row-by-row loop is one writer holding a slot for
    /// `per_row` between round trips of its own; with one such writer and at
    /// least one slot it never finds them all busy, so it is not queued.
    pub fn uses_write_slot(&self) -> bool {
        self.mode == WriteMode::Batch
    }

    /// The part of an attempt writing `valid` rows spent on round trips:
    /// one per row, or one per batch (none when nothing is valid: no
    /// statement is sent).
    pub fn round_trip_time(&self, valid: u64) -> SimTime {
        match self.mode {
            WriteMode::RowByRow => self.cost.round_trip.saturating_mul(valid),
            WriteMode::Batch if valid == 0 => 0,
            WriteMode::Batch => self.cost.round_trip,
        }
    }

    /// The database write work of `valid` rows: the time they hold a slot.
    pub fn write_time(&self, valid: u64) -> SimTime {
        self.cost.per_row.saturating_mul(valid)
    }

    /// Time of an attempt writing `valid` rows that never waits for a slot:
    /// its round trips plus its write work.
    pub fn attempt_time(&self, valid: u64) -> SimTime {
        self.round_trip_time(valid)
            .saturating_add(self.write_time(valid))
    }

    /// An attempt wrote the first `rows` valid rows of `chunk` (all of them,
    /// or the prefix before a crash): update the table's ledger and the
    /// chunk's high-water mark.
    fn write_prefix(&mut self, chunk: &mut Chunk, rows: u64) {
        let rows = rows.min(chunk.valid());
        // Rows beyond the previous high-water mark are new distinct rows; the
        // rest are already there once, so a plain insert adds a copy.
        let new = rows.saturating_sub(chunk.written);
        self.inserted += new;
        if !self.idempotent {
            self.duplicates += rows - new;
        }
        chunk.written = chunk.written.max(rows);
    }

    /// The attempt wrote all of `chunk`'s valid rows; its invalid rows go to
    /// the failed-row report.
    pub fn commit(&mut self, chunk: &mut Chunk) {
        self.write_prefix(chunk, chunk.valid());
        self.failed += chunk.invalid;
    }

    /// How long an attempt writing `valid` rows that never waits for a slot
    /// runs before crashing after `fraction` (0–1) of its rows. Row by row,
    /// round trips and rows alternate, so that is `fraction` of the whole
    /// attempt. A batch crashes while the database writes its rows: after
    /// its round trip and `fraction` of its write work.
    pub fn crash_time(&self, valid: u64, fraction: f64) -> SimTime {
        let f = fraction.clamp(0.0, 1.0);
        match self.mode {
            WriteMode::RowByRow => (self.attempt_time(valid) as f64 * f) as SimTime,
            WriteMode::Batch => self
                .round_trip_time(valid)
                .saturating_add((self.write_time(valid) as f64 * f) as SimTime),
        }
    }

    /// The attempt on `chunk` crashed after `fraction` (0–1) of its work. The
    /// rows it had written stay in the table (a second copy of any row an
    /// earlier attempt wrote, unless writes are idempotent). Returns the rows
    /// this attempt wrote.
    pub fn crash(&mut self, chunk: &mut Chunk, fraction: f64) -> u64 {
        let written = ((chunk.valid() as f64 * fraction.clamp(0.0, 1.0)) as u64).min(chunk.valid());
        self.write_prefix(chunk, written);
        written
    }

    /// `chunk` ran out of attempts and goes to the dead-letter queue: its
    /// invalid rows and the valid rows no attempt wrote are reported as
    /// failed. The rows its attempts did write stay in the table and stay
    /// counted as inserted (and their extra copies as duplicates).
    pub fn dead_letter(&mut self, chunk: &Chunk) {
        self.failed += chunk.invalid + chunk.valid().saturating_sub(chunk.written);
    }

    /// Distinct rows present in the table.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Extra copies in the table: copies present minus distinct rows present.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Rows reported as failed and absent from the table: invalid rows plus
    /// the unwritten rows of dead-lettered chunks.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Rows accounted for so far: `inserted + failed`. Rows a crashed attempt
    /// left in the table count before their chunk has ended; once every
    /// chunk has ended this is the total of their rows.
    pub fn processed(&self) -> u64 {
        self.inserted + self.failed
    }
}

/// The database's write capacity: `slots` statements can write at once, the
/// others wait in arrival order. The model tells it when a statement reaches
/// the database and when one stops writing; it answers which statement
/// starts writing.
#[derive(Clone, Debug)]
pub struct WriteSlots<T> {
    slots: usize,
    busy: usize,
    waiting: VecDeque<T>,
    waiting_max: usize,
    work: SimTime,
}

impl<T> WriteSlots<T> {
    /// A database that can write for `slots` (at least one) statements at once.
    pub fn new(slots: usize) -> Self {
        Self {
            slots: slots.max(1),
            busy: 0,
            waiting: VecDeque::new(),
            waiting_max: 0,
            work: 0,
        }
    }

    /// `statement` reached the database: it is handed back if a slot was
    /// free (it starts writing now), or waits and `None` is returned.
    pub fn arrive(&mut self, statement: T) -> Option<T> {
        if self.busy < self.slots {
            self.busy += 1;
            Some(statement)
        } else {
            self.waiting.push_back(statement);
            self.waiting_max = self.waiting_max.max(self.waiting.len());
            None
        }
    }

    /// A statement stopped writing (committed or crashed) after holding its
    /// slot for `held`: the oldest waiting statement, if any, takes the slot
    /// and is handed back to start writing now.
    pub fn release(&mut self, held: SimTime) -> Option<T> {
        self.record_work(held);
        match self.waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                self.busy = self.busy.saturating_sub(1);
                None
            }
        }
    }

    /// Adds write work done outside the queue (a lone row-by-row writer).
    pub fn record_work(&mut self, work: SimTime) {
        self.work = self.work.saturating_add(work);
    }

    /// Share (0–1) of the write capacity used over `elapsed`: the work
    /// recorded divided by `slots × elapsed`.
    pub fn utilisation(&self, elapsed: SimTime) -> f64 {
        if elapsed == 0 {
            return 0.0;
        }
        self.work as f64 / (self.slots as f64 * elapsed as f64)
    }

    /// Slots in the database.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Statements writing now.
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// Statements waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The most statements that ever waited at once.
    pub fn waiting_max(&self) -> usize {
        self.waiting_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{MICROSECOND, MILLISECOND, SECOND};

    /// No round trip and 1 ms per row: attempt times are the rows in ms,
    /// which keeps the ledger tests' arithmetic plain.
    const PLAIN: InsertCost = InsertCost {
        round_trip: 0,
        per_row: MILLISECOND,
    };

    fn batch(idempotent: bool) -> BatchWriter {
        BatchWriter::new(WriteMode::Batch, PLAIN, idempotent)
    }

    /// The scenario's defaults: 49 ms + 0.95 ms per row.
    const NOTES: InsertCost = InsertCost {
        round_trip: 49 * MILLISECOND,
        per_row: 950 * MICROSECOND,
    };

    #[test]
    fn a_statement_costs_one_round_trip_plus_its_rows() {
        // 49 + 0.95 = 49.95 ms for one row; 49 + 1 000 × 0.95 = 999 ms for 1 000.
        assert_eq!(NOTES.statement(1), 49_950 * MICROSECOND);
        assert_eq!(NOTES.statement(1_000), 999 * MILLISECOND);
        let rows = BatchWriter::new(WriteMode::RowByRow, NOTES, false);
        let batch = BatchWriter::new(WriteMode::Batch, NOTES, false);
        // 1 000 rows one by one: 1 000 round trips (49 s) and 0.95 s of work.
        assert_eq!(rows.round_trip_time(1_000), 49 * SECOND);
        assert_eq!(rows.write_time(1_000), 950 * MILLISECOND);
        assert_eq!(rows.attempt_time(1_000), 49_950 * MILLISECOND);
        // As one statement: one round trip, the same work.
        assert_eq!(batch.round_trip_time(1_000), 49 * MILLISECOND);
        assert_eq!(batch.attempt_time(1_000), 999 * MILLISECOND);
        assert_eq!(batch.attempt_time(0), 0, "nothing valid, no statement");
        assert!(batch.uses_write_slot() && !rows.uses_write_slot());
    }

    #[test]
    fn bigger_batches_gain_less_and_less() {
        // Time per row of an n-row statement: 49 / n + 0.95 ms. From 10 to
        // 100 rows that falls by 4.41 ms (5.85 → 1.44); from 10 000 to
        // 100 000 by 0.0044 ms (0.9549 → 0.95049): it tends to 0.95 ms.
        let w = BatchWriter::new(WriteMode::Batch, NOTES, true);
        let per_row = |n: u64| w.attempt_time(n) as f64 / n as f64 / MILLISECOND as f64;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(per_row(10), 5.85));
        assert!(close(per_row(100), 1.44));
        assert!(close(per_row(10_000), 0.9549));
        assert!(close(per_row(100_000), 0.95049));
    }

    #[test]
    fn a_batch_crashes_while_writing_rows_a_row_loop_anywhere() {
        let rows = BatchWriter::new(WriteMode::RowByRow, NOTES, false);
        let batch = BatchWriter::new(WriteMode::Batch, NOTES, false);
        // Half-way: 500 of the 1 000 row statements (500 × 49.95 ms), or
        // the batch's round trip plus half its 950 ms of work.
        assert_eq!(rows.crash_time(1_000, 0.5), 24_975 * MILLISECOND);
        assert_eq!(batch.crash_time(1_000, 0.5), 524 * MILLISECOND);
        assert_eq!(batch.crash_time(1_000, 7.0), batch.attempt_time(1_000));
    }

    #[test]
    fn a_retry_after_a_crash_copies_the_written_prefix_unless_idempotent() {
        let mut plain = batch(false);
        let mut upsert = batch(true);
        let (mut a, mut b) = (Chunk::new(1_000, 0), Chunk::new(1_000, 0));
        assert_eq!(plain.crash_time(1_000, 0.3), 300 * MILLISECOND);
        // The crashed attempt left rows 0..300 in the table, once each.
        assert_eq!(plain.crash(&mut a, 0.3), 300);
        assert_eq!(upsert.crash(&mut b, 0.3), 300);
        assert_eq!((plain.inserted(), plain.duplicates()), (300, 0));
        assert_eq!((upsert.inserted(), upsert.duplicates()), (300, 0));
        // The retry writes all 1 000 again: rows 0..300 a second time.
        plain.commit(&mut a);
        upsert.commit(&mut b);
        assert_eq!((plain.inserted(), plain.duplicates()), (1_000, 300));
        assert_eq!((upsert.inserted(), upsert.duplicates()), (1_000, 0));
    }

    #[test]
    fn copies_follow_each_attempt_and_distinct_rows_the_longest_prefix() {
        // Attempts crash after 300, 100 and 500 rows, then one commits.
        // Copies written: 300 + 100 + 500 + 1 000 = 1 900 of 1 000 distinct
        // rows, so 900 extra copies.
        let mut w = batch(false);
        let mut c = Chunk::new(1_000, 0);
        for f in [0.3, 0.1, 0.5] {
            w.crash(&mut c, f);
        }
        assert_eq!((w.inserted(), w.duplicates(), c.written), (500, 400, 500));
        w.commit(&mut c);
        assert_eq!((w.inserted(), w.duplicates()), (1_000, 900));
    }

    #[test]
    fn a_dead_lettered_chunk_reports_only_the_rows_not_in_the_table() {
        // 1 000 rows, 10 invalid; every attempt crashes: after 300, 100 and
        // 500 of the 990 valid rows. In the table: rows 0..500 (distinct),
        // with 300 + 100 + 500 − 500 = 400 extra copies. Reported: the 10
        // invalid rows and the 490 valid rows never written.
        for idempotent in [false, true] {
            let mut w = batch(idempotent);
            let mut c = Chunk::new(1_000, 10);
            let written: Vec<u64> = [0.3031, 0.1011, 0.5051]
                .iter()
                .map(|&f| w.crash(&mut c, f))
                .collect();
            assert_eq!(written, [300, 100, 500]);
            w.dead_letter(&c);
            let dups = if idempotent { 0 } else { 400 };
            assert_eq!((w.inserted(), w.duplicates(), w.failed()), (500, dups, 500));
            assert_eq!(w.processed(), 1_000, "every row in the table or the report");
        }
    }

    #[test]
    fn invalid_rows_are_reported_never_lost() {
        let mut w = BatchWriter::new(WriteMode::RowByRow, PLAIN, true);
        let mut good = Chunk::new(1_000, 10);
        w.commit(&mut good);
        let never = Chunk::new(1_000, 0);
        w.dead_letter(&never);
        assert_eq!((w.inserted(), w.failed()), (990, 1_010));
        assert_eq!(w.processed(), 2_000);
        // Invalid counts cannot exceed the chunk.
        assert_eq!(Chunk::new(5, 9).valid(), 0);
    }

    #[test]
    fn statements_beyond_the_slots_wait_their_turn() {
        let mut db = WriteSlots::new(2);
        assert_eq!(db.arrive('a'), Some('a'));
        assert_eq!(db.arrive('b'), Some('b'));
        assert_eq!(db.arrive('c'), None, "both slots busy");
        assert_eq!(db.arrive('d'), None);
        assert_eq!((db.busy(), db.waiting(), db.waiting_max()), (2, 2, 2));
        // A slot freed goes to the oldest waiting statement.
        assert_eq!(db.release(10), Some('c'));
        assert_eq!((db.busy(), db.waiting()), (2, 1));
        assert_eq!(db.release(10), Some('d'));
        assert_eq!(db.release(10), None);
        assert_eq!(db.release(10), None);
        assert_eq!((db.busy(), db.waiting()), (0, 0));
        // 40 units of work on 2 slots over 20 units of time: all of it.
        assert!((db.utilisation(20) - 1.0).abs() < 1e-12);
        assert!((db.utilisation(40) - 0.5).abs() < 1e-12);
        assert_eq!(db.utilisation(0), 0.0);
        assert_eq!(WriteSlots::<()>::new(0).slots(), 1);
    }

    /// `writers` writers each looping: a round trip of `rt`, then `work` on
    /// one of `slots` slots. Statements finished by `horizon`.
    fn closed_loop(writers: u64, slots: usize, rt: u64, work: u64, horizon: u64) -> u64 {
        let mut db = WriteSlots::new(slots);
        // (time, writer, is_write_end), processed earliest first.
        let mut events: Vec<(u64, u64, bool)> = (0..writers).map(|w| (rt, w, false)).collect();
        let mut done = 0;
        loop {
            events.sort_by_key(|&(t, w, end)| std::cmp::Reverse((t, end, w)));
            let Some((now, w, end)) = events.pop() else {
                return done;
            };
            if now > horizon {
                return done;
            }
            if end {
                done += 1;
                events.push((now + rt, w, false));
                if let Some(next) = db.release(work) {
                    events.push((now + work, next, true));
                }
            } else if let Some(w) = db.arrive(w) {
                events.push((now + work, w, true));
            }
        }
    }

    #[test]
    fn writers_beyond_the_write_capacity_add_nothing() {
        // Round trip 1, work 4, 2 slots. One writer finishes a statement every
        // 5 units: 2 000 in 10 000. Two writers: 4 000. The slots can finish at
        // most 2 per 4 units, 5 000 in 10 000, which three writers (6 000
        // unconstrained) already exceed: from then on, more writers add nothing.
        let t = 10_000;
        let n = |w| closed_loop(w, 2, 1, 4, t) as f64;
        let near = |got: f64, want: f64| (got - want).abs() <= 2.0;
        assert!(near(n(1), 2_000.0), "{}", n(1));
        assert!(near(n(2), 4_000.0), "{}", n(2));
        assert!(near(n(3), 5_000.0), "{}", n(3));
        assert!(near(n(10), 5_000.0), "{}", n(10));
    }
}
