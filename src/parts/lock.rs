//! A lock on one database object (a table or a row) with shared and
//! exclusive modes and a first-come wait queue, granting as PostgreSQL's
//! lock manager does.
//!
//! The rule that matters in production: a request is granted only if it
//! conflicts neither with the locks held *nor with any request already
//! waiting*. So once an exclusive request is queued (an `ALTER TABLE`
//! waiting for a long-running query to finish), every later shared request
//! (each plain `SELECT`) queues behind it, although it would be compatible
//! with what is held: one migration waiting for one slow query stops all
//! reads of the table. `lock_timeout` bounds the wait: a waiter that gives
//! up leaves the queue, and whoever it was blocking may go.

use crate::engine::SimTime;
use std::collections::VecDeque;

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Readers: compatible with each other (PostgreSQL's `ACCESS SHARE`).
    Shared,
    /// A writer or schema change: conflicts with everything
    /// (`ACCESS EXCLUSIVE`).
    Exclusive,
}

impl LockMode {
    fn conflicts(self, other: LockMode) -> bool {
        self == LockMode::Exclusive || other == LockMode::Exclusive
    }
}

/// What [`Lock::acquire`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockGrant {
    /// Held from now on.
    Granted,
    /// Waiting in line.
    Queued,
}

/// One object's lock: who holds it and who waits, in arrival order.
#[derive(Clone, Debug)]
pub struct Lock<T> {
    holders: Vec<(T, LockMode)>,
    waiting: VecDeque<(T, LockMode, SimTime)>,
}

impl<T: Copy + PartialEq> Default for Lock<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + PartialEq> Lock<T> {
    /// Nobody holds or waits.
    pub fn new() -> Self {
        Self {
            holders: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    /// `who` asks for the lock in `mode` at `now`.
    pub fn acquire(&mut self, now: SimTime, who: T, mode: LockMode) -> LockGrant {
        let blocked = self.holders.iter().any(|&(_, m)| m.conflicts(mode))
            || self.waiting.iter().any(|&(_, m, _)| m.conflicts(mode));
        if blocked {
            self.waiting.push_back((who, mode, now));
            LockGrant::Queued
        } else {
            self.holders.push((who, mode));
            LockGrant::Granted
        }
    }

    /// `who` lets go of the lock (a holder finishing its transaction).
    /// Returns the waiters granted as a result, in queue order.
    pub fn release(&mut self, who: T) -> Vec<T> {
        if let Some(i) = self.holders.iter().position(|&(h, _)| h == who) {
            self.holders.swap_remove(i);
        }
        self.grant_waiters()
    }

    /// `who` stops waiting (its `lock_timeout` or statement timeout came,
    /// or its client went away). Returns the waiters this lets through.
    pub fn give_up(&mut self, who: T) -> Vec<T> {
        if let Some(i) = self.waiting.iter().position(|&(w, _, _)| w == who) {
            self.waiting.remove(i);
        }
        self.grant_waiters()
    }

    /// Waiters who have waited at least `timeout` by `now`, oldest first
    /// (for a model to [`give_up`](Self::give_up) on them).
    pub fn timed_out(&self, now: SimTime, timeout: SimTime) -> Vec<T> {
        self.waiting
            .iter()
            .filter(|&&(_, _, since)| now.saturating_sub(since) >= timeout)
            .map(|&(w, _, _)| w)
            .collect()
    }

    /// Grants, in queue order, each waiter compatible with the holders and
    /// with every waiter still ahead of it.
    fn grant_waiters(&mut self) -> Vec<T> {
        let mut granted = Vec::new();
        let mut ahead: Vec<LockMode> = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() {
            let (who, mode, _) = self.waiting[i];
            let free = !self.holders.iter().any(|&(_, m)| m.conflicts(mode))
                && !ahead.iter().any(|&m| m.conflicts(mode));
            if free {
                self.waiting.remove(i);
                self.holders.push((who, mode));
                granted.push(who);
            } else {
                ahead.push(mode);
                i += 1;
            }
        }
        granted
    }

    /// Holders now.
    pub fn holders(&self) -> usize {
        self.holders.len()
    }

    /// Whether `who` is waiting in line.
    pub fn is_waiting(&self, who: T) -> bool {
        self.waiting.iter().any(|&(w, _, _)| w == who)
    }

    /// Waiters now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockGrant::{Granted, Queued};
    use LockMode::{Exclusive, Shared};

    #[test]
    fn a_queued_exclusive_request_blocks_later_readers() {
        let mut lock = Lock::new();
        // A long SELECT holds a shared lock; an ALTER TABLE queues for the
        // exclusive one; the next SELECT is compatible with the holder but
        // not with the waiting ALTER, so it queues behind it.
        assert_eq!(lock.acquire(0, 'a', Shared), Granted);
        assert_eq!(lock.acquire(1, 'b', Exclusive), Queued);
        assert_eq!(lock.acquire(2, 'c', Shared), Queued);
        assert_eq!(lock.acquire(3, 'd', Shared), Queued);
        // The slow SELECT ends: the ALTER goes, the readers still wait.
        assert_eq!(lock.release('a'), vec!['b']);
        assert_eq!((lock.holders(), lock.waiting()), (1, 2));
        // The ALTER ends: both readers go at once.
        assert_eq!(lock.release('b'), vec!['c', 'd']);
        assert_eq!((lock.holders(), lock.waiting()), (2, 0));
    }

    #[test]
    fn readers_share_and_a_writer_waits_for_the_last_of_them() {
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(0, 1, Shared), Granted);
        assert_eq!(lock.acquire(0, 2, Shared), Granted);
        assert_eq!(lock.acquire(0, 3, Exclusive), Queued);
        assert_eq!(lock.release(1), Vec::<i32>::new());
        assert_eq!(lock.release(2), vec![3]);
        // Exclusive held: a reader queues.
        assert_eq!(lock.acquire(5, 4, Shared), Queued);
    }

    #[test]
    fn a_waiter_that_times_out_lets_the_readers_behind_it_through() {
        let mut lock = Lock::new();
        lock.acquire(0, 'a', Shared);
        lock.acquire(10, 'b', Exclusive);
        lock.acquire(20, 'c', Shared);
        // lock_timeout 100: at 105, 'b' has waited 95 and 'c' 85, so
        // nobody yet; at 110, 'b' has waited 100 and gives up.
        assert!(lock.timed_out(105, 100).is_empty());
        assert_eq!(lock.timed_out(110, 100), vec!['b']);
        // Without the queued ALTER, 'c' is compatible with the holder 'a'.
        assert_eq!(lock.give_up('b'), vec!['c']);
        assert_eq!((lock.holders(), lock.waiting()), (2, 0));
    }

    #[test]
    fn an_exclusive_request_queued_behind_another_waits_its_turn() {
        let mut lock = Lock::new();
        lock.acquire(0, 1, Exclusive);
        assert_eq!(lock.acquire(0, 2, Exclusive), Queued);
        assert_eq!(lock.acquire(0, 3, Shared), Queued);
        // One at a time, in order: 2, then 3.
        assert_eq!(lock.release(1), vec![2]);
        assert_eq!(lock.release(2), vec![3]);
    }
}
