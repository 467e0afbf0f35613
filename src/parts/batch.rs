//! A batch writer: how long writing a chunk of rows takes, row by row or as
//! one multi-row insert, and the row ledger of what ended up where.
//!
//! ```text
//!   chunk of rows ──> validate ──valid──> [ writer ] ──> table
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

/// How rows reach the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// One insert statement (one round trip) per row.
    RowByRow {
        /// Time of one single-row insert.
        per_row: SimTime,
    },
    /// One multi-row insert per chunk.
    Batch {
        /// Time of one insert of a full chunk.
        per_batch: SimTime,
        /// Rows in a full chunk; smaller chunks take proportionally less.
        batch_rows: u64,
    },
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
    idempotent: bool,
    inserted: u64,
    duplicates: u64,
    failed: u64,
}

impl BatchWriter {
    /// A writer using `mode`; `idempotent` writes never create duplicates.
    pub fn new(mode: WriteMode, idempotent: bool) -> Self {
        Self {
            mode,
            idempotent,
            inserted: 0,
            duplicates: 0,
            failed: 0,
        }
    }

    /// Time to write `valid` rows in one attempt.
    pub fn attempt_time(&self, valid: u64) -> SimTime {
        match self.mode {
            WriteMode::RowByRow { per_row } => per_row.saturating_mul(valid),
            WriteMode::Batch {
                per_batch,
                batch_rows,
            } => {
                let full = u128::from(per_batch) * u128::from(valid);
                (full / u128::from(batch_rows.max(1))).min(u128::from(u64::MAX)) as SimTime
            }
        }
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

    /// How long an attempt writing `valid` rows runs before crashing after
    /// `fraction` (0–1) of its work.
    pub fn crash_time(&self, valid: u64, fraction: f64) -> SimTime {
        (self.attempt_time(valid) as f64 * fraction.clamp(0.0, 1.0)) as SimTime
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{MILLISECOND, SECOND};

    const BATCH: WriteMode = WriteMode::Batch {
        per_batch: SECOND,
        batch_rows: 1_000,
    };

    #[test]
    fn row_by_row_pays_one_round_trip_per_row_and_batches_scale_with_size() {
        let rows = BatchWriter::new(
            WriteMode::RowByRow {
                per_row: 50 * MILLISECOND,
            },
            false,
        );
        assert_eq!(rows.attempt_time(1_000), 50 * SECOND);
        let batch = BatchWriter::new(BATCH, false);
        assert_eq!(batch.attempt_time(1_000), SECOND);
        assert_eq!(batch.attempt_time(250), SECOND / 4);
        assert_eq!(batch.attempt_time(0), 0);
    }

    #[test]
    fn a_retry_after_a_crash_copies_the_written_prefix_unless_idempotent() {
        let mut plain = BatchWriter::new(BATCH, false);
        let mut upsert = BatchWriter::new(BATCH, true);
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
        let mut w = BatchWriter::new(BATCH, false);
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
            let mut w = BatchWriter::new(BATCH, idempotent);
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
        let mut w = BatchWriter::new(WriteMode::RowByRow { per_row: 1 }, true);
        let mut good = Chunk::new(1_000, 10);
        w.commit(&mut good);
        let never = Chunk::new(1_000, 0);
        w.dead_letter(&never);
        assert_eq!((w.inserted(), w.failed()), (990, 1_010));
        assert_eq!(w.processed(), 2_000);
        // Invalid counts cannot exceed the chunk.
        assert_eq!(Chunk::new(5, 9).valid(), 0);
    }
}
