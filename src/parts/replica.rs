//! A primary database with a read replica, and what happens to writes and
//! reads when the primary dies.
//!
//! With asynchronous replication the primary acknowledges a write as soon
//! as it is committed locally and ships it to the replica, which applies it
//! `lag` later. If the primary dies, the writes still on their way are
//! gone: the replica that is promoted never received them, although their
//! clients were told they succeeded (about write rate × lag of them). With
//! synchronous commit (PostgreSQL's `synchronous_commit = on` with a
//! synchronous standby) the primary acknowledges only once the replica has
//! the write, so none is lost, and every write pays the round trip.
//!
//! After a crash, writes are refused until a replica is promoted: failure
//! detection (health checks missing their beat), then promotion. Without
//! automatic failover the primary comes back only after a manual recovery.
//! Reads can go on from the replica meanwhile, a `lag` behind.

use crate::engine::SimTime;
use std::collections::VecDeque;

/// How a write reaches the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// Acknowledged at once; applied on the replica `lag` later.
    Async {
        /// Replication lag.
        lag: SimTime,
    },
    /// Acknowledged once the replica has it: one `round_trip` later.
    Sync {
        /// Primary to replica and back.
        round_trip: SimTime,
    },
}

/// What happens when the primary dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The replica is promoted: after `detect` (the crash noticed) and
    /// `promote` (the replica made writable, clients pointed at it).
    Failover {
        /// From the crash until it is noticed.
        detect: SimTime,
        /// From noticing until the new primary takes writes.
        promote: SimTime,
    },
    /// Someone restores the primary by hand, `after` the crash. It comes
    /// back with its own disk, so nothing it acknowledged is lost.
    Manual {
        /// From the crash until the primary is back.
        after: SimTime,
    },
}

/// What a write got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Acknowledged to the client at this time.
    Acked(SimTime),
    /// No primary takes writes now.
    Unavailable,
}

/// Where the cluster stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    /// The primary serves writes.
    Up,
    /// The primary is dead and no new one takes writes yet.
    WritesDown,
    /// A promoted replica (or the restored primary) serves writes again.
    Recovered,
}

/// A primary and one replica, told the time of every write and of the crash.
#[derive(Clone, Debug)]
pub struct ReplicatedDb {
    replication: Replication,
    recovery: Recovery,
    crashed_at: Option<SimTime>,
    /// When each acknowledged write still on its way lands on the replica,
    /// in order (asynchronous replication only).
    shipping: VecDeque<SimTime>,
    acked: u64,
    lost: u64,
}

impl ReplicatedDb {
    /// A healthy cluster.
    pub fn new(replication: Replication, recovery: Recovery) -> Self {
        Self {
            replication,
            recovery,
            crashed_at: None,
            shipping: VecDeque::new(),
            acked: 0,
            lost: 0,
        }
    }

    /// When writes are taken again after a crash at `crash`.
    fn writable_again(&self, crash: SimTime) -> SimTime {
        match self.recovery {
            Recovery::Failover { detect, promote } => crash + detect + promote,
            Recovery::Manual { after } => crash + after,
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: SimTime) -> ClusterState {
        match self.crashed_at {
            Some(c) if now >= c => {
                if now >= self.writable_again(c) {
                    ClusterState::Recovered
                } else {
                    ClusterState::WritesDown
                }
            }
            _ => ClusterState::Up,
        }
    }

    /// The primary dies at `now`. With asynchronous replication, every
    /// acknowledged write that has not landed on the replica by `now` is
    /// lost if the replica is promoted (a manual recovery keeps them).
    pub fn crash(&mut self, now: SimTime) {
        if self.crashed_at.is_some() {
            return;
        }
        self.crashed_at = Some(now);
        while self.shipping.front().is_some_and(|&at| at <= now) {
            self.shipping.pop_front();
        }
        if matches!(self.recovery, Recovery::Failover { .. }) {
            self.lost = self.shipping.len() as u64;
        }
        self.shipping.clear();
    }

    /// A client writes at `now`.
    pub fn write(&mut self, now: SimTime) -> WriteOutcome {
        if self.state(now) == ClusterState::WritesDown {
            return WriteOutcome::Unavailable;
        }
        self.acked += 1;
        match self.replication {
            Replication::Async { lag } => {
                if self.crashed_at.is_none() {
                    // Forget what has landed: the queue holds only writes
                    // in flight, about rate × lag of them.
                    while self.shipping.front().is_some_and(|&at| at <= now) {
                        self.shipping.pop_front();
                    }
                    self.shipping.push_back(now + lag);
                }
                WriteOutcome::Acked(now)
            }
            // A promoted replica has no standby of its own to wait for.
            Replication::Sync { .. } if self.promoted(now) => WriteOutcome::Acked(now),
            Replication::Sync { round_trip } => WriteOutcome::Acked(now + round_trip),
        }
    }

    /// When a primary takes writes again after the crash (None: no crash).
    pub fn writable_again_at(&self) -> Option<SimTime> {
        self.crashed_at.map(|c| self.writable_again(c))
    }

    /// When the primary died (None: it has not).
    pub fn crashed_at(&self) -> Option<SimTime> {
        self.crashed_at
    }

    /// Whether, at `now`, the replica has been promoted and takes writes.
    pub fn promoted(&self, now: SimTime) -> bool {
        matches!(self.recovery, Recovery::Failover { .. })
            && self.state(now) == ClusterState::Recovered
    }

    /// Whether the replica is being promoted at `now`: between the crash
    /// being noticed and the new primary taking writes. It answers nothing
    /// meanwhile: it leaves recovery and its clients reconnect to it under
    /// the primary's address.
    pub fn promoting(&self, now: SimTime) -> bool {
        match (self.crashed_at, self.recovery) {
            (Some(c), Recovery::Failover { detect, promote }) => {
                now >= c + detect && now < c + detect + promote
            }
            _ => false,
        }
    }

    /// How old the newest data a replica read sees is: the lag with
    /// asynchronous replication, none with synchronous.
    pub fn replica_staleness(&self) -> SimTime {
        match self.replication {
            Replication::Async { lag } => lag,
            Replication::Sync { .. } => 0,
        }
    }

    /// Writes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Acknowledged writes the promoted replica never received.
    pub fn lost_writes(&self) -> u64 {
        self.lost
    }

    /// Time without a writable primary, up to `end`.
    pub fn write_unavailable(&self, end: SimTime) -> SimTime {
        match self.crashed_at {
            Some(c) if c < end => self.writable_again(c).min(end) - c,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::{MILLISECOND, SECOND};

    const FAILOVER: Recovery = Recovery::Failover {
        detect: 10 * SECOND,
        promote: 20 * SECOND,
    };

    /// One write every millisecond from 0 up to (not including) `until`.
    fn steady_writes(db: &mut ReplicatedDb, until: SimTime) -> Vec<WriteOutcome> {
        (0..until / MILLISECOND)
            .map(|i| db.write(i * MILLISECOND))
            .collect()
    }

    #[test]
    fn async_failover_loses_the_writes_still_on_their_way() {
        // 1 000 writes/s, 100 ms lag, crash at 10 s. The writes at 9.901 s
        // … 9.999 s land after 10 s (the one at 9.900 s lands exactly at
        // 10 s, in time): 99 are lost, about rate × lag = 100.
        let mut db = ReplicatedDb::new(
            Replication::Async {
                lag: 100 * MILLISECOND,
            },
            FAILOVER,
        );
        steady_writes(&mut db, 10 * SECOND);
        db.crash(10 * SECOND);
        assert_eq!(db.acked(), 10_000);
        assert_eq!(db.lost_writes(), 99);
    }

    #[test]
    fn sync_commit_loses_nothing_and_pays_a_round_trip() {
        let mut db = ReplicatedDb::new(
            Replication::Sync {
                round_trip: 2 * MILLISECOND,
            },
            FAILOVER,
        );
        let outcomes = steady_writes(&mut db, 10 * SECOND);
        assert_eq!(outcomes[5], WriteOutcome::Acked(7 * MILLISECOND));
        db.crash(10 * SECOND);
        assert_eq!(db.lost_writes(), 0);
        assert_eq!(db.replica_staleness(), 0);
        // Promoted at 10 + 10 + 20 = 40 s: no standby, no round trip.
        assert_eq!(db.write(39 * SECOND), WriteOutcome::Unavailable);
        assert_eq!(db.write(40 * SECOND), WriteOutcome::Acked(40 * SECOND));
    }

    #[test]
    fn the_replica_answers_nothing_while_it_is_promoted() {
        let mut db = ReplicatedDb::new(Replication::Async { lag: 0 }, FAILOVER);
        assert!(!db.promoting(0));
        db.crash(60 * SECOND);
        // Noticed at 70 s (detect 10 s), writable at 90 s (promote 20 s).
        assert!(!db.promoting(69 * SECOND));
        assert!(db.promoting(70 * SECOND));
        assert!(db.promoting(89 * SECOND));
        assert!(!db.promoting(90 * SECOND));
        assert!(db.promoted(90 * SECOND) && !db.promoted(89 * SECOND));
        assert_eq!(db.crashed_at(), Some(60 * SECOND));
    }

    #[test]
    fn writes_are_down_from_the_crash_until_promotion() {
        let mut db = ReplicatedDb::new(Replication::Async { lag: 0 }, FAILOVER);
        db.crash(60 * SECOND);
        assert_eq!(db.state(59 * SECOND), ClusterState::Up);
        assert_eq!(db.state(60 * SECOND), ClusterState::WritesDown);
        assert_eq!(db.write(89 * SECOND), WriteOutcome::Unavailable);
        // Detect 10 s + promote 20 s: writable again at 90 s.
        assert_eq!(db.state(90 * SECOND), ClusterState::Recovered);
        assert_eq!(db.write(90 * SECOND), WriteOutcome::Acked(90 * SECOND));
        assert_eq!(db.write_unavailable(300 * SECOND), 30 * SECOND);
        assert_eq!(db.write_unavailable(75 * SECOND), 15 * SECOND);
    }

    #[test]
    fn a_manual_recovery_keeps_every_write_but_takes_long() {
        let mut db = ReplicatedDb::new(
            Replication::Async {
                lag: 100 * MILLISECOND,
            },
            Recovery::Manual {
                after: 30 * 60 * SECOND,
            },
        );
        steady_writes(&mut db, 10 * SECOND);
        db.crash(10 * SECOND);
        assert_eq!(db.lost_writes(), 0);
        assert_eq!(db.write(20 * 60 * SECOND), WriteOutcome::Unavailable);
        assert_eq!(db.write_unavailable(3_600 * SECOND), 1_800 * SECOND);
    }

    #[test]
    fn no_crash_no_downtime_and_a_second_crash_changes_nothing() {
        let mut db = ReplicatedDb::new(Replication::Async { lag: SECOND }, FAILOVER);
        assert_eq!(db.write_unavailable(100 * SECOND), 0);
        db.write(0);
        db.write(MILLISECOND);
        db.crash(500 * MILLISECOND);
        db.crash(600 * MILLISECOND);
        assert_eq!(db.lost_writes(), 2);
        assert_eq!(db.write_unavailable(100 * SECOND), 30 * SECOND);
        assert_eq!(db.replica_staleness(), SECOND);
    }
}
