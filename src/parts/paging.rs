//! Reading a big table a page at a time, and the memory that costs.
//!
//! ```text
//!   [ PagedReader ] ──page query──> [ database ] ──rows──> [ MemoryBudget ]
//!    offset / keyset /               reads `rows_read`       bytes held by
//!    cursor, `batch` rows            rows per page           the process,
//!    per page                                                capped at a limit
//! ```
//!
//! [`PagedReader`] hands out the pages a reader asks for and says how many
//! rows the database must *read* to answer each one:
//!
//! * **Offset** (`SKIP n LIMIT b`): the database walks past the `n` skipped
//!   rows before returning `b`, so page `k` reads `k × b + b` rows and the
//!   whole scan reads about `N² / 2b` rows: quadratic in the table size.
//! * **Keyset** (`WHERE id > last ORDER BY id LIMIT b`): an index seek lands on
//!   the first wanted row, so every page reads only its own `b` rows.
//! * **Cursor**: one query kept open on the server; each round trip fetches
//!   the next `b` rows, also reading only those.
//!
//! [`MemoryBudget`] is the process's memory accounting: allocations beyond
//! the limit fail, which the model turns into an out-of-memory crash.
//!
//! Units: rows are counts, memory is bytes (decimal: 1 MB = 10⁶ bytes).

use crate::engine::SimTime;

/// Time the database spends reading (or skipping) one kilobyte of rows, ns:
/// 1 µs per KB, i.e. about 1 GB/s from memory. A modelling assumption; what
/// matters for the lessons is that skipped rows cost the same as returned ones.
pub const ROW_READ_NS_PER_KB: f64 = 1_000.0;

/// How a reader asks the database for the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// `SKIP offset LIMIT batch`: the database re-reads every skipped row.
    Offset,
    /// `WHERE key > last LIMIT batch`: an index seek, then `batch` rows.
    Keyset,
    /// One open server-side cursor, `batch` rows per round trip.
    Cursor,
}

/// One page to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Zero-based page number.
    pub index: u64,
    /// Rows before this page (what `SKIP` would say).
    pub offset: u64,
    /// Rows the page returns.
    pub rows: u64,
    /// Rows the database reads to answer: returned plus skipped.
    pub rows_read: u64,
}

/// Hands out the pages of a `total`-row scan, `batch` rows at a time.
#[derive(Clone, Debug)]
pub struct PagedReader {
    paging: Paging,
    total: u64,
    batch: u64,
    next_offset: u64,
    pages: u64,
    rows_read: u64,
}

impl PagedReader {
    /// A scan of `total` rows in pages of `batch` (at least 1) rows.
    pub fn new(paging: Paging, total: u64, batch: u64) -> Self {
        Self {
            paging,
            total,
            batch: batch.max(1),
            next_offset: 0,
            pages: 0,
            rows_read: 0,
        }
    }

    /// The next page, or `None` once every row has been handed out.
    pub fn next_page(&mut self) -> Option<Page> {
        if self.next_offset >= self.total {
            return None;
        }
        let offset = self.next_offset;
        let rows = self.batch.min(self.total - offset);
        let rows_read = match self.paging {
            Paging::Offset => offset + rows,
            Paging::Keyset | Paging::Cursor => rows,
        };
        let page = Page {
            index: self.pages,
            offset,
            rows,
            rows_read,
        };
        self.next_offset += rows;
        self.pages += 1;
        self.rows_read = self.rows_read.saturating_add(rows_read);
        Some(page)
    }

    /// Pages handed out so far (one database round trip each).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Rows the database has read so far, skipped ones included.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Rows not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.total - self.next_offset
    }

    /// Database time to read `rows` rows of `record_bytes` each.
    pub fn read_time(rows: u64, record_bytes: u64) -> SimTime {
        let ns = rows as f64 * record_bytes as f64 / 1_000.0 * ROW_READ_NS_PER_KB;
        crate::engine::time::secs(ns / 1e9)
    }
}

/// Memory held by a process, with a hard limit (the heap size).
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    limit: u64,
    held: u64,
    peak: u64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes (`u64::MAX` for no limit).
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            held: 0,
            peak: 0,
        }
    }

    /// Takes `bytes`; `false` (and nothing taken) when that would pass the limit.
    pub fn alloc(&mut self, bytes: u64) -> bool {
        match self.held.checked_add(bytes) {
            Some(after) if after <= self.limit => {
                self.held = after;
                self.peak = self.peak.max(after);
                true
            }
            _ => false,
        }
    }

    /// Gives back `bytes` (never below zero).
    pub fn free(&mut self, bytes: u64) {
        self.held = self.held.saturating_sub(bytes);
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Most bytes ever held at once.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The limit, bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// How many more items of `size` bytes fit before the limit.
    pub fn room_for(&self, size: u64) -> u64 {
        (self.limit - self.held) / size.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut r: PagedReader) -> Vec<Page> {
        std::iter::from_fn(|| r.next_page()).collect()
    }

    #[test]
    fn pages_cover_every_row_once_with_a_short_last_page() {
        let pages = drain(PagedReader::new(Paging::Keyset, 2_500, 1_000));
        let rows: Vec<u64> = pages.iter().map(|p| p.rows).collect();
        assert_eq!(rows, [1_000, 1_000, 500]);
        let offsets: Vec<u64> = pages.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [0, 1_000, 2_000]);
        assert!(drain(PagedReader::new(Paging::Offset, 0, 10)).is_empty());
    }

    #[test]
    fn offset_pages_reread_the_skipped_rows_keyset_and_cursor_do_not() {
        // 4 pages of 10 rows: offset reads 10 + 20 + 30 + 40 = 100 rows,
        // the others read just the 40 they return.
        let mut r = PagedReader::new(Paging::Offset, 40, 10);
        let read: Vec<u64> = std::iter::from_fn(|| r.next_page().map(|p| p.rows_read)).collect();
        assert_eq!(read, [10, 20, 30, 40]);
        assert_eq!((r.rows_read(), r.pages(), r.remaining()), (100, 4, 0));
        for paging in [Paging::Keyset, Paging::Cursor] {
            let mut r = PagedReader::new(paging, 40, 10);
            while r.next_page().is_some() {}
            assert_eq!(r.rows_read(), 40);
        }
    }

    #[test]
    fn reading_a_kilobyte_takes_a_microsecond() {
        assert_eq!(PagedReader::read_time(1_000, 1_000), 1_000_000);
        assert_eq!(PagedReader::read_time(0, 1_000), 0);
    }

    #[test]
    fn memory_budget_refuses_what_does_not_fit_and_tracks_the_peak() {
        let mut m = MemoryBudget::new(1_000);
        assert!(m.alloc(600));
        assert_eq!(m.room_for(100), 4);
        assert!(!m.alloc(401));
        assert_eq!(m.held(), 600);
        assert!(m.alloc(400));
        m.free(700);
        assert_eq!((m.held(), m.peak(), m.limit()), (300, 1_000, 1_000));
        m.free(5_000);
        assert_eq!(m.held(), 0);
        // An allocation that would overflow the counter is refused too.
        let mut big = MemoryBudget::new(u64::MAX);
        assert!(big.alloc(10) && !big.alloc(u64::MAX));
    }
}
