//! A batch writer: how long writing a chunk of rows takes, row by row or as
//! one multi-row insert, and the row ledger of what ended up where.
//!
//! ```text
//!   chunk of rows ──> validate ──valid──> [ writer ] ──> table (inserted)
//!                        │                    │ crash mid-chunk: the rows
//!                        │                    │ already written stay; a retry
//!                        │                    │ writes them again (duplicates)
//!                        │                    │ unless writes are idempotent
//!                        └──invalid──> failed-row report (dead letter)
//! ```
//!
//! Neither a row-by-row loop nor a multi-row insert without a transaction is
//! atomic: a crash leaves a prefix of the chunk written. Idempotent writes
//! (an upsert on a natural key, or insert-if-absent against a unique index)
//! make the retry rewrite that prefix harmlessly.
//!
//! Ledger identity: once every chunk has committed or been dead-lettered,
//! `inserted + failed = rows`. Duplicates are extra copies, counted apart.

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

    /// The attempt wrote all its `valid` rows; its `invalid` rows go to the
    /// failed-row report.
    pub fn commit(&mut self, valid: u64, invalid: u64) {
        self.inserted += valid;
        self.failed += invalid;
    }

    /// How long an attempt writing `valid` rows runs before crashing after
    /// `fraction` (0–1) of its work.
    pub fn crash_time(&self, valid: u64, fraction: f64) -> SimTime {
        (self.attempt_time(valid) as f64 * fraction.clamp(0.0, 1.0)) as SimTime
    }

    /// The attempt writing `valid` rows crashed after `fraction` (0–1) of its
    /// work. The rows it had written stay in the table and the retry writes
    /// them again: duplicates, unless the writes are idempotent. Returns the
    /// duplicates this crash created.
    pub fn crash(&mut self, valid: u64, fraction: f64) -> u64 {
        let written = ((valid as f64 * fraction.clamp(0.0, 1.0)) as u64).min(valid);
        let duplicated = if self.idempotent { 0 } else { written };
        self.duplicates += duplicated;
        duplicated
    }

    /// A chunk of `rows` ran out of attempts: all of it goes to the dead-letter
    /// queue, to be fixed and replayed.
    pub fn dead_letter(&mut self, rows: u64) {
        self.failed += rows;
    }

    /// Distinct rows committed.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Extra copies written by attempts that crashed.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Rows reported as failed: invalid rows plus dead-lettered chunks.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Rows accounted for: `inserted + failed`.
    pub fn processed(&self) -> u64 {
        self.inserted + self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{MILLISECOND, SECOND};

    #[test]
    fn row_by_row_pays_one_round_trip_per_row_and_batches_scale_with_size() {
        let rows = BatchWriter::new(
            WriteMode::RowByRow {
                per_row: 50 * MILLISECOND,
            },
            false,
        );
        assert_eq!(rows.attempt_time(1_000), 50 * SECOND);
        let batch = WriteMode::Batch {
            per_batch: SECOND,
            batch_rows: 1_000,
        };
        let batch = BatchWriter::new(batch, false);
        assert_eq!(batch.attempt_time(1_000), SECOND);
        assert_eq!(batch.attempt_time(250), SECOND / 4);
        assert_eq!(batch.attempt_time(0), 0);
    }

    #[test]
    fn a_crash_duplicates_the_written_prefix_unless_idempotent() {
        let mode = WriteMode::Batch {
            per_batch: SECOND,
            batch_rows: 1_000,
        };
        let mut plain = BatchWriter::new(mode, false);
        let mut upsert = BatchWriter::new(mode, true);
        assert_eq!(plain.crash_time(1_000, 0.3), 300 * MILLISECOND);
        assert_eq!(plain.crash(1_000, 0.3), 300);
        assert_eq!(upsert.crash(1_000, 0.3), 0);
        assert_eq!((plain.duplicates(), upsert.duplicates()), (300, 0));
        // The retry then writes everything once more.
        plain.commit(1_000, 0);
        assert_eq!((plain.inserted(), plain.duplicates()), (1_000, 300));
    }

    #[test]
    fn invalid_and_dead_lettered_rows_are_reported_never_lost() {
        let mut w = BatchWriter::new(WriteMode::RowByRow { per_row: 1 }, true);
        w.commit(990, 10);
        w.dead_letter(1_000);
        assert_eq!((w.inserted(), w.failed()), (990, 1_010));
        assert_eq!(w.processed(), 2_000);
    }
}
