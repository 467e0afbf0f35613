//! A background job queue: workers, retries and a dead-letter queue.
//!
//! ```text
//!   push ──> [ waiting FIFO ] ──take──> [ worker 1..n ] ──succeed──> done
//!                 ^                          │
//!                 └──── retry (attempts < max) ─┤ fail
//!                                            └──> dead letter (attempts = max)
//! ```
//!
//! The shape of Bull, Sidekiq or an SQS consumer group. The queue decides who
//! runs and what happens to a failed job; the model draws how long a job takes
//! and schedules its end. A failure can also take its worker down (the worker
//! process crashed): it stays out of service until [`JobQueue::worker_back`].

use crate::engine::SimTime;
use std::collections::VecDeque;

/// One job and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job<J> {
    /// What the model needs to run the job.
    pub payload: J,
    /// Attempts started so far (1 while the first attempt runs).
    pub attempts: u32,
    /// When the job was first pushed.
    pub enqueued: SimTime,
}

/// What became of a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Retry<J> {
    /// Put back at the end of the queue for another attempt.
    Requeued,
    /// Out of attempts: moved to the dead-letter queue and handed back so the
    /// model can report it.
    DeadLetter(Job<J>),
}

/// `workers` workers sharing one unbounded FIFO of jobs, each job tried at
/// most `max_attempts` times.
pub struct JobQueue<J> {
    workers: usize,
    busy: usize,
    down: usize,
    waiting: VecDeque<Job<J>>,
    max_attempts: u32,
    depth_max: usize,
    dead_lettered: u64,
}

impl<J> JobQueue<J> {
    /// A queue served by `workers` workers (at least one), trying each job at
    /// most `max_attempts` times (at least once).
    pub fn new(workers: usize, max_attempts: u32) -> Self {
        Self {
            workers: workers.max(1),
            busy: 0,
            down: 0,
            waiting: VecDeque::new(),
            max_attempts: max_attempts.max(1),
            depth_max: 0,
            dead_lettered: 0,
        }
    }

    /// Adds a new job at `now`.
    pub fn push(&mut self, now: SimTime, payload: J) {
        self.waiting.push_back(Job {
            payload,
            attempts: 0,
            enqueued: now,
        });
        self.depth_max = self.depth_max.max(self.waiting.len());
    }

    /// Adds a new job at `now` unless `capacity` jobs already wait; a
    /// refused job is handed back.
    pub fn push_bounded(&mut self, now: SimTime, payload: J, capacity: usize) -> Result<(), J> {
        if self.waiting.len() >= capacity {
            return Err(payload);
        }
        self.push(now, payload);
        Ok(())
    }

    /// An idle worker takes the oldest waiting job and starts an attempt, or
    /// `None` if every worker is busy or down, or nothing waits. Call it in a
    /// loop after any change to start everything that can start.
    pub fn take(&mut self) -> Option<Job<J>> {
        if self.idle() == 0 {
            return None;
        }
        let mut job = self.waiting.pop_front()?;
        job.attempts += 1;
        self.busy += 1;
        Some(job)
    }

    /// The running attempt succeeded: its worker becomes idle.
    pub fn succeed(&mut self) {
        self.busy = self.busy.saturating_sub(1);
    }

    /// The running attempt of `job` failed. If `worker_lost`, its worker went
    /// down with it and is out of service until [`worker_back`](Self::worker_back);
    /// otherwise it is idle again. The job is retried, or dead-lettered once it
    /// has used all its attempts.
    pub fn fail(&mut self, job: Job<J>, worker_lost: bool) -> Retry<J> {
        self.busy = self.busy.saturating_sub(1);
        if worker_lost {
            self.down += 1;
        }
        if job.attempts >= self.max_attempts {
            self.dead_lettered += 1;
            Retry::DeadLetter(job)
        } else {
            self.waiting.push_back(job);
            self.depth_max = self.depth_max.max(self.waiting.len());
            Retry::Requeued
        }
    }

    /// A worker that went down is back in service.
    pub fn worker_back(&mut self) {
        self.down = self.down.saturating_sub(1);
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.waiting.len()
    }

    /// Workers running an attempt.
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// Workers out of service after a crash.
    pub fn down(&self) -> usize {
        self.down
    }

    /// Workers free to take a job.
    pub fn idle(&self) -> usize {
        self.workers.saturating_sub(self.busy + self.down)
    }

    /// The longest the waiting queue has been.
    pub fn depth_max(&self) -> usize {
        self.depth_max
    }

    /// Jobs moved to the dead-letter queue so far.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_push_refuses_once_capacity_jobs_wait() {
        // One worker busy with the first job; two may wait; the fourth is
        // handed back, and a slot in the line frees when a job is taken.
        let mut q = JobQueue::new(1, 1);
        assert_eq!(q.push_bounded(0, 'a', 2), Ok(()));
        assert_eq!(q.take().map(|j| j.payload), Some('a'));
        assert_eq!(q.push_bounded(1, 'b', 2), Ok(()));
        assert_eq!(q.push_bounded(2, 'c', 2), Ok(()));
        assert_eq!(q.push_bounded(3, 'd', 2), Err('d'));
        q.succeed();
        assert_eq!(q.take().map(|j| (j.payload, j.enqueued)), Some(('b', 1)));
        assert_eq!(q.push_bounded(4, 'e', 2), Ok(()));
        assert_eq!(q.queued(), 2);
    }

    #[test]
    fn workers_take_jobs_in_fifo_order_until_all_are_busy() {
        let mut q = JobQueue::new(2, 3);
        for i in 0..4 {
            q.push(i * 10, i);
        }
        assert_eq!(q.depth_max(), 4);
        let a = q.take().map(|j| (j.payload, j.attempts, j.enqueued));
        let b = q.take().map(|j| j.payload);
        assert_eq!(a, Some((0, 1, 0)));
        assert_eq!(b, Some(1));
        assert!(q.take().is_none(), "both workers busy");
        assert_eq!((q.busy(), q.queued(), q.idle()), (2, 2, 0));
        q.succeed();
        assert_eq!(q.take().map(|j| j.payload), Some(2));
    }

    #[test]
    fn failed_jobs_are_retried_then_dead_lettered_after_max_attempts() {
        let mut q = JobQueue::new(1, 2);
        q.push(0, 'x');
        let first = q.take().unwrap_or_else(|| panic!("a job"));
        assert_eq!(q.fail(first, false), Retry::Requeued);
        let second = q.take().unwrap_or_else(|| panic!("the retry"));
        assert_eq!(second.attempts, 2);
        match q.fail(second, false) {
            Retry::DeadLetter(job) => assert_eq!((job.payload, job.attempts), ('x', 2)),
            Retry::Requeued => panic!("two attempts allowed, not three"),
        }
        assert_eq!((q.dead_lettered(), q.queued(), q.busy()), (1, 0, 0));
    }

    #[test]
    fn a_crashed_worker_is_out_of_service_until_it_comes_back() {
        let mut q = JobQueue::new(1, 5);
        q.push(0, 1);
        q.push(0, 2);
        let job = q.take().unwrap_or_else(|| panic!("a job"));
        assert_eq!(q.fail(job, true), Retry::Requeued);
        assert_eq!((q.down(), q.idle()), (1, 0));
        assert!(q.take().is_none(), "the only worker is down");
        q.worker_back();
        // The retried job went to the back: job 2 runs first.
        assert_eq!(q.take().map(|j| (j.payload, j.attempts)), Some((2, 1)));
        q.succeed();
        assert_eq!(q.take().map(|j| (j.payload, j.attempts)), Some((1, 2)));
    }

    #[test]
    fn zero_workers_or_attempts_are_raised_to_one() {
        let mut q = JobQueue::new(0, 0);
        q.push(0, ());
        let job = q.take().unwrap_or_else(|| panic!("one worker"));
        assert!(matches!(q.fail(job, false), Retry::DeadLetter(_)));
    }
}
