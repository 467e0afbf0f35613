//! What one query costs a database: the rows it examines (through an index
//! or by reading the whole table), the pages it touches, how many of those
//! the buffer cache holds, and the wait for a disk that serves a limited
//! number of reads per second.
//!
//! These are the quantities a "the database is suddenly slow" diagnosis
//! reads first (`EXPLAIN`'s rows, `pg_stat_statements`' blocks read and
//! hit, the disk's utilisation): a missing index multiplies rows examined
//! and CPU, a working set that outgrew memory multiplies disk reads.

use crate::engine::SimTime;

/// How the planner reaches the rows a query wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessPath {
    /// Read every row of the table and keep those that match (no usable
    /// index: a sequential scan).
    FullScan,
    /// Descend a B-tree to the first match, then read the matching rows.
    Index,
}

/// A table's size and layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    /// Rows in the table.
    pub rows: u64,
    /// Rows that fit on one page (PostgreSQL's pages are 8 kB: about 80
    /// rows of 100 bytes).
    pub rows_per_page: u64,
    /// Keys per B-tree page (a few hundred for an integer key).
    pub index_fanout: u64,
}

/// The cost of one query that returns `matching` rows of `table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryCost {
    /// Rows (or index keys) compared: the whole table for a scan; for an
    /// index, the comparisons of a binary search down the tree,
    /// ⌈log₂ rows⌉, plus the rows returned.
    pub rows_examined: u64,
    /// Pages read: every page of the table for a scan; for an index, one
    /// page per tree level plus one heap page per row returned (rows of a
    /// table not ordered by the key each sit on their own page).
    pub pages: u64,
}

/// ⌈log₂ n⌉, the comparisons a binary search among `n` keys needs (1 for
/// fewer than 3 keys).
pub fn log2_ceil(n: u64) -> u64 {
    u64::from(64 - (n.max(2) - 1).leading_zeros())
}

/// Levels of a B-tree over `keys` keys with `fanout` keys per page: the
/// smallest L with fanout^L ≥ keys (at least 1).
pub fn btree_levels(keys: u64, fanout: u64) -> u64 {
    let fanout = fanout.max(2);
    let mut levels = 1;
    let mut reach = fanout;
    while reach < keys {
        reach = reach.saturating_mul(fanout);
        levels += 1;
    }
    levels
}

impl Table {
    /// Pages the table occupies.
    pub fn pages(&self) -> u64 {
        self.rows.div_ceil(self.rows_per_page.max(1))
    }

    /// What a query returning `matching` rows costs by `path`.
    pub fn query(&self, path: AccessPath, matching: u64) -> QueryCost {
        let matching = matching.min(self.rows);
        match path {
            AccessPath::FullScan => QueryCost {
                rows_examined: self.rows,
                pages: self.pages(),
            },
            AccessPath::Index => QueryCost {
                rows_examined: log2_ceil(self.rows) + matching,
                pages: btree_levels(self.rows, self.index_fanout) + matching,
            },
        }
    }
}

/// The share of page reads the buffer cache answers when queries touch a
/// working set of `working_set_pages` uniformly and the cache holds
/// `cache_pages`: an LRU cache under uniform independent references hits
/// with probability cache ÷ working set (1 when it all fits).
pub fn buffer_hit_ratio(cache_pages: u64, working_set_pages: u64) -> f64 {
    if working_set_pages == 0 || cache_pages >= working_set_pages {
        return 1.0;
    }
    cache_pages as f64 / working_set_pages as f64
}

/// A disk that serves page reads one after another at `iops` reads per
/// second, in the order they are asked for (a device queue). It is told
/// the time of every request and answers when the request completes.
#[derive(Clone, Debug)]
pub struct Disk {
    /// Nanoseconds per page read.
    per_read: f64,
    /// When the last request asked for completes.
    busy_until: SimTime,
    /// Busy time of every request asked for so far, ns.
    busy_total: SimTime,
}

impl Disk {
    /// A disk that reads `iops` pages per second (at least 1).
    pub fn new(iops: f64) -> Self {
        Self {
            per_read: 1e9 / iops.max(1.0),
            busy_until: 0,
            busy_total: 0,
        }
    }

    /// Asks at `now` for `pages` reads; returns when they are done.
    pub fn read(&mut self, now: SimTime, pages: u64) -> SimTime {
        let service = (pages as f64 * self.per_read).round() as SimTime;
        let start = now.max(self.busy_until);
        self.busy_until = start + service;
        self.busy_total += service;
        self.busy_until
    }

    /// Time the disk has spent busy by `t` (for any `t` at or after the
    /// latest request): the work still queued after `t` is one unbroken
    /// stretch ending at `busy_until`, because the disk never idles while
    /// work waits.
    pub fn busy_by(&self, t: SimTime) -> SimTime {
        self.busy_total - self.busy_until.saturating_sub(t)
    }

    /// Requests asked for but not finished at `t`, as time: how far behind
    /// the disk is.
    pub fn backlog(&self, t: SimTime) -> SimTime {
        self.busy_until.saturating_sub(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{MILLISECOND, SECOND};

    const ORDERS: Table = Table {
        rows: 1_000_000,
        rows_per_page: 80,
        index_fanout: 300,
    };

    #[test]
    fn binary_search_comparisons_are_the_ceiling_of_log2() {
        // 2^10 = 1024 keys need 10 halvings; one more key needs 11.
        assert_eq!(log2_ceil(1024), 10);
        assert_eq!(log2_ceil(1025), 11);
        assert_eq!(log2_ceil(1_000_000), 20); // 2^19 = 524 288 < 10^6 ≤ 2^20
        assert_eq!(log2_ceil(2), 1);
        assert_eq!(log2_ceil(0), 1);
    }

    #[test]
    fn a_btree_grows_one_level_per_factor_of_its_fanout() {
        // 300 keys fit one page; 300² = 90 000 two levels; 10^6 needs three.
        assert_eq!(btree_levels(300, 300), 1);
        assert_eq!(btree_levels(301, 300), 2);
        assert_eq!(btree_levels(90_000, 300), 2);
        assert_eq!(btree_levels(1_000_000, 300), 3);
        assert_eq!(btree_levels(u64::MAX, 300), 8); // 300^8 > 1.8e19 > 300^7
    }

    #[test]
    fn a_missing_index_reads_the_whole_table_for_one_row() {
        let scan = ORDERS.query(AccessPath::FullScan, 1);
        assert_eq!(scan.rows_examined, 1_000_000);
        assert_eq!(scan.pages, 12_500); // 10^6 ÷ 80
        let index = ORDERS.query(AccessPath::Index, 1);
        assert_eq!(index.rows_examined, 21); // ⌈log₂ 10^6⌉ = 20, plus the row
        assert_eq!(index.pages, 4); // three tree levels and one heap page
    }

    #[test]
    fn an_index_query_returning_many_rows_reads_a_page_per_row() {
        let q = ORDERS.query(AccessPath::Index, 500);
        assert_eq!(q.rows_examined, 520);
        assert_eq!(q.pages, 503);
        // It cannot return more rows than the table has.
        let all = Table { rows: 10, ..ORDERS }.query(AccessPath::Index, 99);
        assert_eq!(all.rows_examined, 4 + 10);
    }

    #[test]
    fn the_buffer_cache_hits_in_proportion_to_what_fits() {
        assert_eq!(buffer_hit_ratio(1_000, 500), 1.0);
        assert_eq!(buffer_hit_ratio(1_000, 4_000), 0.25);
        assert_eq!(buffer_hit_ratio(0, 4_000), 0.0);
        assert_eq!(buffer_hit_ratio(5, 0), 1.0);
    }

    #[test]
    fn the_disk_serves_reads_in_order_at_its_rate() {
        // 1 000 IOPS: 1 ms a read. Ten reads at 0 finish at 10 ms; five
        // more asked at 4 ms queue behind them and finish at 15 ms.
        let mut disk = Disk::new(1_000.0);
        assert_eq!(disk.read(0, 10), 10 * MILLISECOND);
        assert_eq!(disk.read(4 * MILLISECOND, 5), 15 * MILLISECOND);
        assert_eq!(disk.backlog(4 * MILLISECOND), 11 * MILLISECOND);
        assert_eq!(disk.busy_by(4 * MILLISECOND), 4 * MILLISECOND);
        // Idle from 15 ms until a read at 1 s: busy 16 ms of the first
        // 1.001 s.
        assert_eq!(disk.read(SECOND, 1), SECOND + MILLISECOND);
        assert_eq!(disk.busy_by(SECOND + MILLISECOND), 16 * MILLISECOND);
        assert_eq!(disk.busy_by(SECOND), 15 * MILLISECOND);
    }
}
