//! A database server and a client-side connection pool.
//!
//! [`Database`] caps open sessions at `max_connections` (beyond that a
//! connect is refused) and runs queries on `cores` CPUs by processor sharing.
//! When more queries run than there are cores, each gets a share of the CPUs
//! *and* the whole server loses efficiency to context switches, lock and
//! cache contention: the reason an oversized pool is slower than a
//! right-sized one, not faster.
//!
//! [`ConnectionPool`] is a [`WorkerPool`] of connection slots that opens a
//! real connection the first time a slot is used, and keeps it open.

use super::server::{Admit, WorkerPool};
use crate::engine::SimTime;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A running query: ordered by the virtual work level at which it finishes.
struct Running<T> {
    finish_at_work: u64,
    seq: u64,
    item: T,
}
impl<T> PartialEq for Running<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.finish_at_work, self.seq) == (o.finish_at_work, o.seq)
    }
}
impl<T> Eq for Running<T> {}
impl<T> PartialOrd for Running<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Running<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.finish_at_work, self.seq).cmp(&(o.finish_at_work, o.seq))
    }
}

/// A database server with limited sessions and CPU.
///
/// Processor sharing is simulated with a *virtual work clock*: every running
/// query receives the same service rate, so instead of updating each query we
/// advance one counter (`work_done`, nanoseconds of single-core work each
/// query has received) and finish queries when it passes their target. The
/// model keeps one wake-up, at the earliest [`next_finish`](Self::next_finish)
/// it has been told; one that comes early (more queries started since, so
/// each runs slower) finds nothing due in [`finish_due`](Self::finish_due)
/// and asks again.
pub struct Database<T> {
    cores: f64,
    max_connections: usize,
    contention: f64,
    connections: usize,
    running: BinaryHeap<Reverse<Running<T>>>,
    /// Virtual work each running query has received, in ns (fixed point ×1024).
    work_done: u64,
    last_update: SimTime,
    seq: u64,
    /// Core-nanoseconds the CPUs have been busy (min(running, cores) per
    /// ns), for the CPU utilisation a monitor shows.
    busy_core_ns: f64,
}

/// Fixed-point scale for the virtual work clock: sub-nanosecond precision
/// with integer (hence platform-independent) arithmetic.
const WORK_SCALE: u64 = 1024;

impl<T> Database<T> {
    /// A server with `cores` CPUs, at most `max_connections` sessions and a
    /// `contention` overhead: with `n` queries on `c` cores (`n > c`), total
    /// CPU efficiency is `1 / (1 + contention × (n − c) / c)`.
    pub fn new(cores: usize, max_connections: usize, contention: f64) -> Self {
        Self {
            cores: cores.max(1) as f64,
            max_connections,
            contention: contention.max(0.0),
            connections: 0,
            running: BinaryHeap::new(),
            work_done: 0,
            last_update: 0,
            seq: 0,
            busy_core_ns: 0.0,
        }
    }

    /// Open sessions.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Queries executing now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Opens a session; `false` means refused (too many connections).
    pub fn connect(&mut self) -> bool {
        if self.connections < self.max_connections {
            self.connections += 1;
            true
        } else {
            false
        }
    }

    /// Closes a session.
    pub fn disconnect(&mut self) {
        self.connections = self.connections.saturating_sub(1);
    }

    /// Work rate each query receives with `n` running, in ns of work per ns
    /// of time (1.0 = a whole core), scaled by [`WORK_SCALE`].
    fn rate_scaled(&self, n: usize) -> f64 {
        let n = n as f64;
        if n <= self.cores {
            return WORK_SCALE as f64;
        }
        let efficiency = 1.0 / (1.0 + self.contention * (n - self.cores) / self.cores);
        WORK_SCALE as f64 * self.cores / n * efficiency
    }

    fn advance(&mut self, now: SimTime) {
        let elapsed = now.saturating_sub(self.last_update);
        if !self.running.is_empty() && elapsed > 0 {
            let gained = elapsed as f64 * self.rate_scaled(self.running.len());
            self.work_done = self.work_done.saturating_add(gained as u64);
            self.busy_core_ns += elapsed as f64 * (self.running.len() as f64).min(self.cores);
        }
        self.last_update = now;
    }

    /// The share of its CPUs busy over `[0, t)`, 0 to 1, for any `t` at or
    /// after the last change: a core is busy while a query runs on it (a
    /// monitor's CPU %, which stays at 100 % however long the run queue).
    pub fn cpu_busy(&self, t: SimTime) -> f64 {
        if t == 0 {
            return 0.0;
        }
        let open = t.saturating_sub(self.last_update) as f64;
        let busy = self.busy_core_ns + open * (self.running.len() as f64).min(self.cores);
        busy / (t as f64 * self.cores)
    }

    /// Stops, at `now`, the running query whose item `is` picks (a
    /// `statement_timeout` or `pg_cancel_backend`): its share of the CPUs
    /// goes to the others from now on. False when no running query matches.
    pub fn cancel(&mut self, now: SimTime, mut is: impl FnMut(&T) -> bool) -> bool {
        self.advance(now);
        let mut found = false;
        // One at most: the first match (items are unique in practice).
        self.running.retain(|Reverse(r)| {
            if !found && is(&r.item) {
                found = true;
                false
            } else {
                true
            }
        });
        found
    }

    /// Starts a query needing `work` of single-core time at `now`.
    pub fn start_query(&mut self, now: SimTime, work: SimTime, item: T) {
        self.advance(now);
        let finish_at_work = self
            .work_done
            .saturating_add(work.saturating_mul(WORK_SCALE));
        self.running.push(Reverse(Running {
            finish_at_work,
            seq: self.seq,
            item,
        }));
        self.seq += 1;
    }

    /// When the next query will finish at the current sharing rate (None:
    /// nothing runs). Starting another query may move it later.
    pub fn next_finish(&mut self, now: SimTime) -> Option<SimTime> {
        self.advance(now);
        let Reverse(first) = self.running.peek()?;
        let remaining = first.finish_at_work.saturating_sub(self.work_done) as f64;
        let dt = (remaining / self.rate_scaled(self.running.len())).ceil() as SimTime;
        Some(now.saturating_add(dt))
    }

    /// Pops every query that has finished by `now` into `done`, in
    /// finishing order (none when a wake-up comes early).
    pub fn finish_due(&mut self, now: SimTime, done: &mut Vec<T>) {
        self.advance(now);
        // Ceil above may overshoot by under one nanosecond of work; allow it.
        let tolerance = WORK_SCALE;
        while let Some(Reverse(first)) = self.running.peek() {
            if first.finish_at_work > self.work_done.saturating_add(tolerance) {
                break;
            }
            if let Some(Reverse(r)) = self.running.pop() {
                done.push(r.item);
            }
        }
    }
}

/// What happened when a request asked the pool for a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Acquire<T> {
    /// An open, idle connection: use it now.
    Ready(T),
    /// A free slot with no connection yet: open one first (pay the connect).
    MustOpen(T),
    /// Every connection is busy: the request waits in line.
    Wait,
    /// Every connection busy and the wait line full.
    Full(T),
}

/// A client-side pool of up to `size` reusable connections.
pub struct ConnectionPool<T> {
    slots: WorkerPool<T>,
    opened: usize,
    opening: usize,
}

impl<T> ConnectionPool<T> {
    /// Up to `size` connections; waiters give up after `acquire_timeout`.
    pub fn new(size: usize, acquire_timeout: Option<SimTime>) -> Self {
        Self {
            slots: WorkerPool::new(size, usize::MAX, acquire_timeout),
            opened: 0,
            opening: 0,
        }
    }

    /// Connections handed out now.
    pub fn in_use(&self) -> usize {
        self.slots.busy()
    }

    /// Requests waiting for a connection.
    pub fn waiting(&self) -> usize {
        self.slots.queued()
    }

    /// Connections currently open (busy or idle).
    pub fn opened(&self) -> usize {
        self.opened
    }

    /// Pool size.
    pub fn size(&self) -> usize {
        self.slots.workers()
    }

    /// Asks for a connection at `now`.
    pub fn acquire(&mut self, now: SimTime, item: T) -> Acquire<T> {
        match self.slots.arrive(now, item) {
            Admit::Start(item) => self.grant(item),
            Admit::Queued => Acquire::Wait,
            Admit::Rejected(item) => Acquire::Full(item),
        }
    }

    fn grant(&mut self, item: T) -> Acquire<T> {
        // Connections are never closed, so a granted slot has an idle open
        // connection unless every open or opening one is already in use.
        if self.slots.busy() > self.opened + self.opening {
            self.opening += 1;
            Acquire::MustOpen(item)
        } else {
            Acquire::Ready(item)
        }
    }

    /// A connection being opened (after [`Acquire::MustOpen`]) is now open.
    pub fn opened_one(&mut self) {
        self.opening = self.opening.saturating_sub(1);
        self.opened += 1;
    }

    /// `n` more connections are open and idle (opened before any request
    /// asked, at start-up): at most the pool size in all.
    pub fn open_idle(&mut self, n: usize) {
        self.opened = (self.opened + n).min(self.size().saturating_sub(self.opening));
    }

    /// Opening a connection failed: call before [`release`](Self::release)
    /// of its slot.
    pub fn open_failed(&mut self) {
        self.opening = self.opening.saturating_sub(1);
    }

    /// Gives a connection back at `now`. Returns the next waiter to serve
    /// (with its wait), which may first have to open the connection if the
    /// one released was never opened (its connect was refused).
    pub fn release(&mut self, now: SimTime) -> Option<(Acquire<T>, SimTime)> {
        let (item, waited) = self.slots.release(now)?;
        Some((self.grant(item), waited))
    }

    /// When the oldest waiter's acquire timeout comes (none: nobody waits,
    /// or waiters wait forever).
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.slots.next_deadline()
    }

    /// Hands every waiter whose acquire timeout passed by `now` to `on_timeout`.
    pub fn expire(&mut self, now: SimTime, on_timeout: impl FnMut(SimTime, T)) {
        self.slots.expire(now, on_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::MILLISECOND as MS;

    fn finish_all(db: &mut Database<u32>) -> Vec<(SimTime, u32)> {
        let mut out = Vec::new();
        let mut now = 0;
        while let Some(t) = db.next_finish(now) {
            let mut done = Vec::new();
            db.finish_due(t, &mut done);
            out.extend(done.into_iter().map(|i| (t, i)));
            now = t;
        }
        out
    }

    #[test]
    fn a_cancelled_query_gives_its_cpu_share_to_the_others() {
        // One core, two 100 ms queries from 0: each runs at half speed. At
        // 50 ms each has had 25 ms; one is cancelled, and the other's last
        // 75 ms run at full speed: it ends at 125 ms, not 200.
        let mut db = Database::new(1, 10, 0.0);
        db.start_query(0, 100 * MS, 1);
        db.start_query(0, 100 * MS, 2);
        assert!(db.cancel(50 * MS, |&i| i == 1));
        assert!(!db.cancel(50 * MS, |&i| i == 1), "already gone");
        let at = db.next_finish(50 * MS).unwrap_or(0);
        assert!((at as i64 - 125 * MS as i64).abs() <= 2, "{at}");
        let mut done = Vec::new();
        db.finish_due(at, &mut done);
        assert_eq!(done, vec![2]);
        assert_eq!(db.next_finish(at), None);
    }

    #[test]
    fn cpu_busy_counts_cores_in_use_not_the_run_queue() {
        // Two cores. 0–100 ms: one query (1 of 2 cores busy); 100–200 ms:
        // five queries (both busy, the rest queue for them); 200–400 ms:
        // idle. Busy core-time 100 + 200 = 300 core-ms of 800: 37.5 %.
        let mut db = Database::new(2, 10, 0.0);
        db.start_query(0, 1000 * MS, 0);
        db.next_finish(100 * MS);
        for i in 1..5 {
            db.start_query(100 * MS, 1000 * MS, i);
        }
        db.next_finish(200 * MS);
        for i in 0..5 {
            assert!(db.cancel(200 * MS, |&q| q == i));
        }
        assert!((db.cpu_busy(400 * MS) - 0.375).abs() < 1e-9);
        assert!((db.cpu_busy(200 * MS) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn within_core_count_queries_run_at_full_speed() {
        let mut db = Database::new(4, 100, 0.5);
        for i in 0..4 {
            db.start_query(0, 100 * MS, i);
        }
        let done = finish_all(&mut db);
        assert_eq!(done.len(), 4);
        assert!(done.iter().all(|&(t, _)| t == 100 * MS));
    }

    #[test]
    fn oversubscribed_cores_share_and_lose_efficiency() {
        // 8 equal queries on 2 cores with contention 0.5: per-query rate is
        // 2/8 × 1/(1 + 0.5 × 6/2) = 0.1, so 10 ms of work takes 100 ms.
        let mut db = Database::new(2, 100, 0.5);
        for i in 0..8 {
            db.start_query(0, 10 * MS, i);
        }
        let done = finish_all(&mut db);
        assert_eq!(done.len(), 8);
        for (t, _) in done {
            assert!((t as i64 - 100 * MS as i64).abs() <= 2, "{t}");
        }
    }

    #[test]
    fn processor_sharing_finishes_short_jobs_first() {
        // One core, no contention: jobs of 10 and 30 ms started together.
        // Both run at half speed until the short one ends at 20 ms; the long
        // one then has 20 ms left at full speed, ending at 40 ms.
        let mut db = Database::new(1, 10, 0.0);
        db.start_query(0, 10 * MS, 1);
        db.start_query(0, 30 * MS, 2);
        let done = finish_all(&mut db);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].1, 1);
        assert!((done[0].0 as i64 - 20 * MS as i64).abs() <= 2);
        assert!((done[1].0 as i64 - 40 * MS as i64).abs() <= 2);
    }

    #[test]
    fn an_early_wake_up_finds_nothing_and_connections_are_capped() {
        let mut db = Database::new(1, 2, 0.0);
        assert!(db.connect() && db.connect());
        assert!(!db.connect());
        db.disconnect();
        assert!(db.connect());
        // One core: the first query alone would end at 10 ms. A second one
        // at 5 ms halves both rates: the first has 5 ms of work left at
        // half speed, so it ends at 15 ms, and a wake-up at 10 ms is early.
        db.start_query(0, 10 * MS, 1);
        assert_eq!(db.next_finish(0), Some(10 * MS));
        db.start_query(5 * MS, 10 * MS, 2);
        let mut done = Vec::new();
        db.finish_due(10 * MS, &mut done);
        assert!(done.is_empty());
        let next = db.next_finish(10 * MS).unwrap_or(0);
        assert!((next as i64 - 15 * MS as i64).abs() <= 1, "{next}");
        db.finish_due(next, &mut done);
        assert_eq!(done, vec![1]);
    }

    #[test]
    fn pool_opens_lazily_then_reuses_and_queues() {
        let mut p = ConnectionPool::new(2, Some(100));
        assert_eq!(p.acquire(0, 'a'), Acquire::MustOpen('a'));
        p.opened_one();
        assert_eq!(p.acquire(0, 'b'), Acquire::MustOpen('b'));
        p.opened_one();
        assert_eq!(p.acquire(5, 'c'), Acquire::Wait);
        assert_eq!(p.release(20), Some((Acquire::Ready('c'), 15)));
        assert_eq!(p.release(30), None);
        assert_eq!(p.acquire(40, 'd'), Acquire::Ready('d'));
        assert_eq!((p.opened(), p.in_use()), (2, 2));
        assert_eq!(p.acquire(50, 'e'), Acquire::Wait);
        // A release while another connection is still opening hands over an
        // open connection, not a new one.
        let mut q = ConnectionPool::new(2, None);
        assert_eq!(q.acquire(0, 1), Acquire::MustOpen(1));
        q.opened_one();
        assert_eq!(q.acquire(0, 2), Acquire::MustOpen(2));
        assert_eq!(q.acquire(0, 3), Acquire::Wait);
        assert_eq!(q.release(5), Some((Acquire::Ready(3), 5)));
        q.open_failed();
        assert_eq!(q.acquire(6, 4), Acquire::Wait);
        assert_eq!(q.release(7), Some((Acquire::MustOpen(4), 1)));
        let mut late = Vec::new();
        p.expire(200, |at, x| late.push((at, x)));
        assert_eq!(late, vec![(150, 'e')]);
    }

    #[test]
    fn connections_open_at_start_are_handed_out_ready_and_never_exceed_the_size() {
        let mut p = ConnectionPool::new(2, None);
        // Asking for 5 opens at most the pool's 2.
        p.open_idle(5);
        assert_eq!(p.opened(), 2);
        assert_eq!(p.acquire(0, 'a'), Acquire::Ready('a'));
        assert_eq!(p.acquire(0, 'b'), Acquire::Ready('b'));
        assert_eq!(p.acquire(0, 'c'), Acquire::Wait);
        // One open at start of two: the second caller opens its own.
        let mut q = ConnectionPool::new(2, None);
        q.open_idle(1);
        assert_eq!(q.acquire(0, 1), Acquire::Ready(1));
        assert_eq!(q.acquire(0, 2), Acquire::MustOpen(2));
    }
}
