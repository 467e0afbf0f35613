//! A pool of identical workers (servers, connections, threads) in front of a
//! FIFO queue: the "c servers" of queueing theory.
//!
//! The pool only decides who runs and who waits; the model draws service
//! times and schedules completions. Items waiting longer than the queue
//! timeout are handed back through [`WorkerPool::expire`] at their deadline.

use crate::engine::SimTime;
use std::collections::VecDeque;

/// What happened to an arriving item.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit<T> {
    /// A worker was free: the item starts now.
    Start(T),
    /// All workers busy: the item waits in the queue.
    Queued,
    /// All workers busy and the queue is full: the item is turned away.
    Rejected(T),
}

/// `workers` servers sharing one bounded FIFO queue.
pub struct WorkerPool<T> {
    workers: usize,
    busy: usize,
    queue: VecDeque<(SimTime, T)>,
    queue_limit: usize,
    queue_timeout: Option<SimTime>,
}

impl<T> WorkerPool<T> {
    /// `workers` servers, a queue of at most `queue_limit` items
    /// (`usize::MAX` for unbounded) and an optional wait limit.
    pub fn new(workers: usize, queue_limit: usize, queue_timeout: Option<SimTime>) -> Self {
        Self {
            workers,
            busy: 0,
            queue: VecDeque::new(),
            queue_limit,
            queue_timeout,
        }
    }

    /// Workers currently busy.
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Items waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// An item arrives at `now`.
    pub fn arrive(&mut self, now: SimTime, item: T) -> Admit<T> {
        if self.busy < self.workers {
            self.busy += 1;
            Admit::Start(item)
        } else if self.queue.len() < self.queue_limit {
            self.queue.push_back((now, item));
            Admit::Queued
        } else {
            Admit::Rejected(item)
        }
    }

    /// A worker finished at `now`. Returns the next item to start on it, with
    /// how long that item waited, or frees the worker if nobody is waiting.
    /// Call [`expire`](Self::expire) first so timed-out items are not started.
    pub fn release(&mut self, now: SimTime) -> Option<(T, SimTime)> {
        match self.queue.pop_front() {
            Some((since, item)) => Some((item, now.saturating_sub(since))),
            None => {
                self.busy = self.busy.saturating_sub(1);
                None
            }
        }
    }

    /// When the oldest waiter's queue timeout comes: it waited longest,
    /// and every waiter has the same timeout (none: nobody waits, or
    /// waiters wait forever).
    pub fn next_deadline(&self) -> Option<SimTime> {
        let limit = self.queue_timeout?;
        self.queue
            .front()
            .map(|&(since, _)| since.saturating_add(limit))
    }

    /// Removes every waiting item whose deadline is at or before `now`,
    /// calling `on_timeout(deadline, item)` for each in deadline order.
    /// With one timeout for all and FIFO order, the oldest item is always the
    /// first to expire, so this looks only at the front of the queue.
    pub fn expire(&mut self, now: SimTime, mut on_timeout: impl FnMut(SimTime, T)) {
        let Some(limit) = self.queue_timeout else {
            return;
        };
        while let Some(&(since, _)) = self.queue.front() {
            let deadline = since.saturating_add(limit);
            if deadline > now {
                break;
            }
            if let Some((_, item)) = self.queue.pop_front() {
                on_timeout(deadline, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_until_full_then_queues_then_rejects() {
        let mut p = WorkerPool::new(2, 1, None);
        assert_eq!(p.arrive(0, 'a'), Admit::Start('a'));
        assert_eq!(p.arrive(0, 'b'), Admit::Start('b'));
        assert_eq!(p.arrive(1, 'c'), Admit::Queued);
        assert_eq!(p.arrive(2, 'd'), Admit::Rejected('d'));
        assert_eq!((p.busy(), p.queued()), (2, 1));
        assert_eq!(p.release(10), Some(('c', 9)));
        assert_eq!(p.busy(), 2);
        assert_eq!(p.release(11), None);
        assert_eq!(p.release(12), None);
        assert_eq!(p.busy(), 0);
    }

    #[test]
    fn waiting_items_time_out_at_their_deadline_in_order() {
        let mut p = WorkerPool::new(1, usize::MAX, Some(100));
        assert_eq!(p.arrive(0, 1), Admit::Start(1));
        assert_eq!(p.arrive(10, 2), Admit::Queued);
        assert_eq!(p.arrive(50, 3), Admit::Queued);
        assert_eq!(p.arrive(120, 4), Admit::Queued);
        let mut expired = Vec::new();
        p.expire(150, |at, item| expired.push((at, item)));
        assert_eq!(expired, vec![(110, 2), (150, 3)]);
        assert_eq!(p.release(160), Some((4, 40)));
    }

    #[test]
    fn the_next_deadline_is_the_oldest_waiters() {
        // Timeout 100: waiters that came at 10 and 50 give up at 110 and
        // 150; once the first is served, the next deadline is the second's.
        let mut p = WorkerPool::new(1, usize::MAX, Some(100));
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.arrive(0, 1), Admit::Start(1));
        assert_eq!(p.arrive(10, 2), Admit::Queued);
        assert_eq!(p.arrive(50, 3), Admit::Queued);
        assert_eq!(p.next_deadline(), Some(110));
        assert_eq!(p.release(20), Some((2, 10)));
        assert_eq!(p.next_deadline(), Some(150));
        // Without a timeout nobody gives up.
        let mut forever = WorkerPool::new(1, usize::MAX, None);
        forever.arrive(0, 1);
        forever.arrive(1, 2);
        assert_eq!(forever.next_deadline(), None);
    }
}
