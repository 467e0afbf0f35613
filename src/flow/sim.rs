//! The one run loop every request-flow scenario shares.
//!
//! [`Sim`] owns the event queue, the recorder, the requests in flight and
//! every stage's state. A request enters a route's entry stage and, at each
//! service, runs its handler's steps: work that holds a slot, and calls to
//! other stages made through a [`CallPolicy`] (timeout, retries with
//! backoff and a budget, a circuit breaker, a fallback, a bulkhead). Every
//! request ends exactly once: completed (perhaps `degraded`), failed or
//! rejected, each with a named reason, or is still in flight at the end.
//!
//! Bookkeeping is bounded by what is in flight: jobs (a request's visit to
//! one service) and calls live in slabs whose slots are reused, so memory
//! never grows with the length of a run.

use super::balance::Balancer;
use super::breaker::CircuitBreaker;
use super::cache::{Cache, Fill, Lookup};
use super::quota::{Limiter, Quota, QuotaAnswer, TokenBucket};
use super::retry::RetryBudget;
use super::stampede::{self, InFlight, Protection};
use super::topology::{
    Call, FaultKind, Invalidation, OnTimeout, Popularity, QuotaRule, RouteId, Service, ShedSignal,
    Source, StageId, StageKind, Step, Topology,
};
use crate::engine::dist::Zipf;
use crate::engine::metrics::SeriesId;
use crate::engine::queue::Next;
use crate::engine::time::{as_secs, secs, SECOND};
use crate::engine::{EventQueue, Histogram, Recorder, RngStream, RunResult, SeriesKind, SimTime};
use crate::parts::db::Acquire;
use crate::parts::lock::{LockGrant, LockMode};
use crate::parts::{
    AccessPath, Autoscaler, ClusterState, ConnectionPool, Database, Fleet, JobQueue, RateLimiter,
    Recovery, ReplicatedDb, Retry, Shedder, WindowPeak, WriteOutcome,
};
use std::collections::VecDeque;

/// A request: small, copied from stage to stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Unique within the run, in order of arrival.
    pub id: u64,
    /// When it arrived.
    pub born: SimTime,
    /// Which endpoint.
    pub route: u16,
    /// Which source sent it (a batch starts its next job when one ends).
    pub source: u16,
    /// Priority class: 0 (P0) is the most important; its route's.
    pub class: u8,
    /// The object it asks for (what a cache is keyed on).
    pub key: u32,
    /// The client it comes from (what a limiter counts per).
    pub client: u32,
}

/// Why a call attempt or a visit failed: a byte, so that events stay small
/// (the event heap moves them on every push and pop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Down,
    QueueFull,
    Timeout,
    Error,
    RateLimited,
    Throttled,
    DbRefused,
    AcquireTimeout,
    BulkheadFull,
    BreakerOpen,
    Shed,
    StatementTimeout,
    ReadOnly,
    Promoting,
}

impl Reason {
    /// The name requests are counted under.
    fn name(self) -> &'static str {
        match self {
            Reason::Down => "down",
            Reason::QueueFull => "queue_full",
            Reason::Timeout => "timeout",
            Reason::Error => "error",
            Reason::RateLimited | Reason::Throttled => "rate_limited",
            Reason::DbRefused => "db_refused",
            Reason::AcquireTimeout => "acquire_timeout",
            Reason::BulkheadFull => "bulkhead_full",
            Reason::BreakerOpen => "breaker_open",
            Reason::Shed => "shed",
            Reason::StatementTimeout => "statement_timeout",
            Reason::ReadOnly => "read_only",
            Reason::Promoting => "promoting",
        }
    }

    /// Turned away before any work was done for it.
    fn at_door(self) -> bool {
        matches!(
            self,
            Reason::Down
                | Reason::QueueFull
                | Reason::Throttled
                | Reason::Shed
                | Reason::ReadOnly
                | Reason::Promoting
        )
    }
}

/// How a call attempt or a visit ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Ok {
        degraded: bool,
        /// The version of the object the answer carries (0: none; see
        /// [`Service::system_of_record`]).
        version: u32,
    },
    Fail {
        reason: Reason,
        /// A 429's Retry-After in whole seconds, as its header says (0:
        /// none).
        retry_after_s: u32,
    },
}

impl Outcome {
    /// A success that carries no object (no version).
    const DONE: Outcome = Outcome::Ok {
        degraded: false,
        version: 0,
    };

    fn fail(reason: Reason) -> Self {
        Outcome::Fail {
            reason,
            retry_after_s: 0,
        }
    }
}

/// A slot in a [`Slab`], with the generation that detects stale handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ref {
    idx: u32,
    gen: u32,
}

/// The parent of a visit that answers a direct client call (see
/// [`Sim::direct_client`]): no slab holds this handle.
const CLIENT: Ref = Ref {
    idx: u32::MAX,
    gen: u32::MAX,
};

/// The handler of `svc` that serves `route`: the first that lists it or
/// lists none.
fn handler_for(svc: &Service, route: u16) -> Option<usize> {
    svc.handlers
        .iter()
        .position(|h| h.routes.is_empty() || h.routes.contains(&(route as usize)))
}

/// True when a visit entering `stage` is answered with its request at hand
/// (by a job, a queue, or a refusal at the door), as a direct client call
/// needs: not a database or third party, which answer by call handle.
fn answers_with_request(topo: &Topology, stage: StageId, depth: usize) -> bool {
    // Stages form no cycles of balancers and limiters; the depth bound
    // only guards against a malformed topology.
    if depth > topo.stages.len() {
        return false;
    }
    match topo.stages.get(stage).map(|s| &s.kind) {
        Some(StageKind::Service(_) | StageKind::Queue(_)) => true,
        Some(StageKind::Balancer(b)) => b
            .targets
            .iter()
            .all(|&t| answers_with_request(topo, t, depth + 1)),
        Some(StageKind::Limiter(l)) => answers_with_request(topo, l.next, depth + 1),
        _ => false,
    }
}

/// Reusable storage: what is in flight, never more.
struct Slab<T> {
    items: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, value: T) -> Ref {
        match self.free.pop() {
            Some(idx) => {
                let slot = &mut self.items[idx as usize];
                slot.0 = slot.0.wrapping_add(1);
                slot.1 = Some(value);
                Ref { idx, gen: slot.0 }
            }
            None => {
                self.items.push((0, Some(value)));
                Ref {
                    idx: (self.items.len() - 1) as u32,
                    gen: 0,
                }
            }
        }
    }

    fn get(&self, r: Ref) -> Option<&T> {
        match self.items.get(r.idx as usize) {
            Some((gen, Some(v))) if *gen == r.gen => Some(v),
            _ => None,
        }
    }

    fn get_mut(&mut self, r: Ref) -> Option<&mut T> {
        match self.items.get_mut(r.idx as usize) {
            Some((gen, Some(v))) if *gen == r.gen => Some(v),
            _ => None,
        }
    }

    fn remove(&mut self, r: Ref) -> Option<T> {
        match self.items.get_mut(r.idx as usize) {
            Some((gen, slot)) if *gen == r.gen && slot.is_some() => {
                self.free.push(r.idx);
                slot.take()
            }
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a slot before its first step.
    Queued,
    /// Working (holds a slot).
    Running,
    /// Waiting for replies.
    Waiting,
    /// Replies are in; waiting for a slot again (async services).
    Resuming,
}

/// A request's visit to one service.
struct Job {
    req: Request,
    stage: StageId,
    instance: u32,
    handler: u16,
    step: u16,
    phase: Phase,
    has_slot: bool,
    /// Calls of the current step still unanswered.
    pending: u16,
    /// The first failure among the current step's calls.
    step_failed: Option<Reason>,
    degraded: bool,
    /// The call this visit answers, and that call's attempt.
    parent: (Ref, u32),
    /// The current step's calls, for cancellation.
    calls: Option<Ref>,
    /// The version of its object this visit has in hand (see
    /// [`Service::system_of_record`]).
    version: u32,
    /// It recomputes its object for the stage's cache: it fills it when
    /// it ends, and readers waiting on it get its answer.
    fetch: bool,
    /// When it came in.
    started: SimTime,
}

/// The caller of a background refresh (stale while revalidate): nobody
/// waits for it.
const BACKGROUND: Ref = Ref {
    idx: u32::MAX - 1,
    gen: u32::MAX,
};

/// A read waiting at a cache for a recompute of its object (coalesced),
/// or to try the cache again (lock).
#[derive(Clone, Copy, Debug)]
struct CacheWaiter {
    stage: StageId,
    req: Request,
    parent: (Ref, u32),
    /// The cache copy it read (its instance's, when per instance).
    copy: u32,
}

/// What a read found at a service's cache.
enum CacheRead {
    /// Answered from the cache (fresh, or stale while revalidating).
    Answered,
    /// Waiting: for a lock's holder, or a recompute in flight.
    Parked,
    /// It goes on to the handlers and recomputes the object.
    Fetch,
}

/// What a service's cache did, over its copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a fresh entry.
    pub hits: u64,
    /// Every lookup (lock retries look again).
    pub lookups: u64,
    /// Recomputes started when none of the same object was in flight
    /// after a miss or expiry (each begins one refresh cycle).
    pub refreshes: u64,
    /// Recomputes started early by XFetch when none was in flight (each
    /// also begins one cycle).
    pub early_refreshes: u64,
    /// Recomputes in all (a stampede starts many per cycle).
    pub recomputes: u64,
    /// The most recomputes of one object in flight at once.
    pub recompute_peak: u32,
    /// Reads that found the lock taken and waited to look again.
    pub lock_waits: u64,
    /// Reads that waited for a recompute in flight.
    pub coalesced: u64,
    /// Reads answered from an expired entry while it was refreshed.
    pub stale_while_revalidate: u64,
    /// Writes that deleted or replaced the object here.
    pub invalidations: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallPhase {
    InFlight,
    Backoff,
}

/// Who waits for a call's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// The client: a request's call to its route's first stage.
    Client,
    /// A job at a service, running a step.
    Job(Ref),
    /// A queue, delivering a message to its consumers.
    Message(Ref),
}

/// A call to a stage, across its attempts.
struct CallState {
    site: u32,
    caller: Caller,
    req: Request,
    /// The job serving the current attempt (none for a third party).
    callee: Option<Ref>,
    attempt: u32,
    /// Bumped at every attempt and timeout: a reply or deadline carrying
    /// an older value is stale.
    attempt_gen: u32,
    attempt_started: SimTime,
    previous_delay: SimTime,
    phase: CallPhase,
    /// The next call of the same step.
    sibling: Option<Ref>,
    /// Into a replicated stage: the database the current attempt went to.
    node: Option<StageId>,
}

impl CallState {
    /// A call from `caller` through `site`, before its first attempt.
    fn new(site: usize, caller: Caller, req: Request, now: SimTime) -> Self {
        Self {
            site: site as u32,
            caller,
            req,
            callee: None,
            attempt: 0,
            attempt_gen: 0,
            attempt_started: now,
            previous_delay: 0,
            phase: CallPhase::InFlight,
            sibling: None,
            node: None,
        }
    }
}

enum Ev {
    /// A job's work step is done.
    WorkDone(Ref),
    /// The earliest deadline of a call site's attempts has come.
    SiteTimer(u32),
    /// A call's backoff is over: try again.
    Retry(Ref),
    /// An answer for a call attempt (third parties, refusals at the door).
    Answer(Ref, u32, Outcome),
    /// A read that found a cache's lock taken looks again.
    CacheRetry(Ref),
    /// A request starts (batch and scheduled sources); it waits in
    /// [`Sim::starts`] so that events stay small.
    Start(Ref),
    /// An answer for a request whose client call is direct (see
    /// [`Sim::direct_client`]); the request waits in [`Sim::starts`].
    ClientAnswer(Ref, Outcome),
    /// A database connection finished its handshake (stage, token).
    Connected(u32, DbToken),
    /// Database stage `u32` may have finished queries: its wake-up for
    /// that time (stale unless it is the one the stage keeps).
    DbWake(u32, SimTime),
    /// The oldest waiter of call site `u32`'s pool may have reached its
    /// acquire timeout.
    PoolTimer(u32),
    /// Autoscaled stage `u32`'s controller syncs.
    Autoscale(u32),
    /// Stage `u32`'s load shedder looks at its signal.
    ShedCheck(u32),
    /// Instance `.1` of stage `.0` has warmed up.
    InstanceReady(u32, u32),
    /// A query's pages have come from database stage `.0`'s disk.
    DiskRead(u32, DbToken),
    /// The oldest statement at database stage `u32` may have reached its
    /// `statement_timeout`.
    StatementTimer(u32),
    /// Fault `.0` (a long transaction or a migration) reaches `.1`.
    LockFault(u32, LockStep),
    /// A statement idle in its transaction commits (stage, token).
    TxnEnd(u32, DbToken),
    /// A replicated stage's primary dies (its first `Down` fault starts).
    Crash(u32),
    /// A replicated stage takes writes again after its crash.
    Writable(u32),
    /// A synchronous write's replica has confirmed it: the primary's
    /// answer goes back to the caller.
    WriteAcked(Ref, u32),
}

/// The moments of a lock-taking fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockStep {
    /// It asks for its lock.
    Begin,
    /// Its work is over: it lets go (or stops waiting).
    End,
    /// A migration's `lock_timeout` has come.
    GiveUp,
}

/// Who holds or waits for a database table's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockHolder {
    Query(DbToken),
    /// The topology's fault of that index.
    Fault(u32),
}

/// Where a statement is, between reaching the server and committing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StmtPhase {
    /// Waiting for the table's lock since then.
    Lock {
        since: SimTime,
    },
    Disk,
    Cpu,
    /// Done, its transaction still open ([`FaultKind::IdleInTransaction`]).
    Idle,
}

/// Notes where a tracked statement is (see [`DbState::live`]).
fn set_phase(d: &mut DbState, token: DbToken, phase: StmtPhase) {
    if let Some(live) = d.live.as_mut() {
        live.insert(token, phase);
    }
}

/// A query's ticket: the call attempt it answers, and the call site whose
/// pool lent it a connection (`NO_POOL`: its own connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DbToken {
    call: Ref,
    gen: u32,
    site: u32,
}

const NO_POOL: u32 = u32::MAX;

/// A database stage's state ([`crate::parts::Database`]) and its counts.
struct DbState {
    db: Database<DbToken>,
    query_rng: RngStream,
    /// The wake-up it keeps (see [`Sim::wake_db`]).
    wake_at: Option<SimTime>,
    /// From the attempt's start to its query's start (connect included).
    wait: Histogram,
    opened: u64,
    refused: u64,
    sessions_max: usize,
    /// Open sessions over time, for their mean.
    sessions: LevelArea,
    /// The (sessions, running queries) last recorded: unchanged levels are
    /// not recorded again.
    shown: (usize, usize),
    s_sessions: SeriesId,
    s_running: SeriesId,
    /// Its storage's disk, and the draws that round each query's expected
    /// misses to whole pages.
    disk: crate::parts::Disk,
    disk_rng: RngStream,
    queries: u64,
    rows_examined: u64,
    /// The table's lock, when a fault takes it (None: no query locks).
    lock: Option<crate::parts::Lock<LockHolder>>,
    /// From a query asking for the lock to getting it, for the queries
    /// that had to wait.
    lock_wait: Histogram,
    /// Statements between reaching the server and committing, when they
    /// can time out or wait for a lock (else not kept: nothing asks).
    live: Option<std::collections::BTreeMap<DbToken, StmtPhase>>,
    /// Statement deadlines in the order statements arrived (one
    /// `statement_timeout` for all), and whether a timer is scheduled.
    deadlines: VecDeque<(SimTime, DbToken)>,
    timer_armed: bool,
    statement_timeouts: u64,
    migrations_gave_up: u64,
    s_lock_waiting: SeriesId,
    s_disk_backlog: SeriesId,
}

/// A level over time (sessions open, connections in use) and its
/// time-integral in ns × level, kept in integers: exact, so the mean does
/// not depend on how often the level was looked at. (An hour at 5 000 is
/// 1.8 × 10^16, far inside a u64; beyond that it saturates.)
#[derive(Clone, Copy, Debug, Default)]
struct LevelArea {
    area: u64,
    since: SimTime,
    level: u64,
}

impl LevelArea {
    /// The level is `level` from `now` on.
    fn set(&mut self, now: SimTime, level: u64) {
        self.area = self.area_at(now);
        self.since = now;
        self.level = level;
    }

    fn area_at(&self, t: SimTime) -> u64 {
        self.area
            .saturating_add(self.level.saturating_mul(t.saturating_sub(self.since)))
    }

    /// The mean level over `[0, end)`.
    fn mean(&self, end: SimTime) -> f64 {
        self.area_at(end) as f64 / end.max(1) as f64
    }
}

/// A call site's connection pool and its counts.
struct PoolState {
    pool: ConnectionPool<DbToken>,
    timeouts: u64,
    /// Whether a [`Ev::PoolTimer`] is scheduled.
    timer_armed: bool,
    /// Connections in use over time, for their mean.
    in_use: LevelArea,
    /// The (in use, waiting) last recorded: unchanged levels are not
    /// recorded again.
    shown: (usize, usize),
    s_in_use: SeriesId,
    s_waiting: SeriesId,
}

/// One call site: a step's call from one stage to another, with the
/// state its policies keep.
struct Site {
    call: Call,
    breaker: Option<CircuitBreaker>,
    budget: Option<RetryBudget>,
    backoff_rng: RngStream,
    in_flight: u32,
    attempts: u64,
    retries: u64,
    /// Retries launched in the current [`RETRY_SLOT`] (slot, count), and
    /// the most in any slot.
    retry_slot: (u64, u64),
    retry_peak: u64,
    degraded: u64,
    s_breaker: Option<SeriesId>,
    pool: Option<Box<PoolState>>,
    /// Deadlines of attempts made, earliest first (answered ones are
    /// skipped when their time comes), and whether a timer is scheduled.
    deadlines: VecDeque<(SimTime, Ref, u32)>,
    timer_armed: bool,
}

impl Site {
    /// The state of call `c` made from the stage (or client) `from`; its
    /// random stream and breaker series are named after both ends.
    fn new(topo: &Topology, rec: &mut Recorder, seed: u64, from: &str, c: &Call) -> Self {
        let callee = &topo.stages[c.to].name;
        Site {
            call: c.clone(),
            breaker: c.policy.breaker.map(CircuitBreaker::new),
            // Finagle's defaults around the percentage: a 10 s window and
            // 10 retries a second allowed whatever the traffic.
            budget: c
                .policy
                .retry_budget_pct
                .map(|pct| RetryBudget::new(10 * SECOND, 10, pct, 0)),
            backoff_rng: RngStream::new(seed, &format!("{from}.{callee}.backoff")),
            in_flight: 0,
            attempts: 0,
            retries: 0,
            retry_slot: (0, 0),
            retry_peak: 0,
            degraded: 0,
            pool: c.policy.pool.map(|p| {
                Box::new(PoolState {
                    pool: ConnectionPool::new(p.size.max(1) as usize, p.acquire_timeout),
                    timeouts: 0,
                    timer_armed: false,
                    in_use: LevelArea::default(),
                    shown: (0, 0),
                    s_in_use: rec.series(format!("{callee}.pool_in_use"), SeriesKind::Gauge),
                    s_waiting: rec.series(format!("{callee}.pool_waiting"), SeriesKind::Gauge),
                })
            }),
            deadlines: VecDeque::new(),
            timer_armed: false,
            // Registered whether or not this call has a breaker, so a
            // chart of it reads 0 (closed: calls flow) when there is none.
            s_breaker: Some(rec.series(format!("{callee}.breaker"), SeriesKind::Gauge)),
        }
    }
}

struct Instance {
    busy: u32,
    queue: VecDeque<Ref>,
    load: u32,
    /// Takes new requests: false while it warms up, and once an
    /// autoscaler has removed it (it still finishes what it holds).
    serving: bool,
    /// Asked for and not yet serving.
    warming: bool,
}

impl Instance {
    fn new(serving: bool) -> Self {
        Self {
            busy: 0,
            queue: VecDeque::new(),
            load: 0,
            serving,
            warming: !serving,
        }
    }
}

/// A service's load shedder, and the busy-slot area
/// ([`StageState::busy_area`]) at its last check.
struct ShedState {
    shedder: Shedder,
    at_check: u64,
    /// Requests turned away so far.
    refused: u64,
    s_shed: SeriesId,
}

/// An autoscaled service's controller, fleet and what it measures.
struct ScalerState {
    hpa: Autoscaler,
    fleet: Fleet,
    /// Slots of serving instances over time: with
    /// [`StageState::busy_area`], the utilization the controller sees
    /// between two syncs.
    capacity: LevelArea,
    /// Both areas (busy, capacity) at the last sync.
    at_sync: (u64, u64),
    running_max: u32,
    /// Instances serving; instances running (warming ones too: paid for).
    s_instances: SeriesId,
    s_running: SeriesId,
}

struct StageState {
    instances: Vec<Instance>,
    balancer: Option<Balancer>,
    work_rng: RngStream,
    error_rng: RngStream,
    latency_rng: RngStream,
    quota: Option<Limiter>,
    next_key: u64,
    /// The cache: one copy per instance, or one for the stage; empty
    /// without a cache. Instances added later get a copy of `cache_empty`.
    caches: Vec<Cache>,
    cache_empty: Option<Cache>,
    cache_rng: RngStream,
    /// Recomputes this stage's cache has in flight, per object, one table
    /// per copy: an in-process lock or coalescing table only sees its own
    /// instance's readers.
    fetching: Vec<InFlight>,
    /// Whether the cache is one copy per instance.
    per_instance_cache: bool,
    /// The objects the sources ask for (each table's key space).
    object_count: u64,
    /// At a system of record: reads in flight per object.
    recomputing: InFlight,
    cache_stats: CacheStats,
    limiter: Option<Box<LimiterState>>,
    db: Option<Box<DbState>>,
    mq: Option<Box<QueueState>>,
    scaler: Option<Box<ScalerState>>,
    shedder: Option<Box<ShedState>>,
    cluster: Option<Box<ClusterRun>>,
    /// Busy slots over time, kept for an autoscaler or shedder to read.
    busy_area: Option<LevelArea>,
    in_flight: u32,
    busy_max: u32,
    queue_max: usize,

    arrivals: u64,
    errors: u64,
    /// `(handler, step)` → first call site of that step.
    sites: Vec<Vec<usize>>,
    s_in_flight: SeriesId,
    s_queue: SeriesId,
    s_busy: SeriesId,
    s_errors: SeriesId,
    s_calls: SeriesId,
    /// Reads its cache answered stale for a failure, a second (0 without a
    /// cache that serves stale on error).
    s_stale: SeriesId,
}

impl StageState {
    /// Cache copy `copy`'s table of recomputes in flight (made on first
    /// use, for an instance the autoscaler added).
    fn fetching_of(&mut self, copy: u32) -> &mut InFlight {
        let copy = copy as usize;
        while self.fetching.len() <= copy {
            self.fetching.push(InFlight::new(self.object_count));
        }
        &mut self.fetching[copy]
    }
}

/// A replicated stage's cluster ([`ReplicatedDb`]) and what it did.
struct ClusterRun {
    db: ReplicatedDb,
    /// When its primary dies: the start of the first `Down` fault on it.
    crash_at: Option<SimTime>,
    reads_from_replica: u64,
    read_only_refused: u64,
    /// 1 while a primary takes writes, 0 while none does.
    s_writable: SeriesId,
}

/// What a replicated stage did over a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicationStats {
    /// Writes acknowledged to their callers.
    pub acked_writes: u64,
    /// Acknowledged writes the promoted replica never received.
    pub lost_writes: u64,
    /// Seconds without a primary that takes writes.
    pub write_unavailable_s: f64,
    /// Reads sent to the replica in read-only mode.
    pub reads_from_replica: u64,
    /// Writes refused in read-only mode.
    pub read_only_refused: u64,
}

/// A queue stage's state: its messages ([`JobQueue`]: FIFO, a worker per
/// unacknowledged delivery, redelivery, dead letters) and its counts.
struct QueueState {
    messages: JobQueue<Request>,
    capacity: usize,
    /// The call site its deliveries go through.
    site: usize,
    enqueued: u64,
    consumed: u64,
    redelivered: u64,
    /// From a message's arrival to its consumption.
    age: Histogram,
}

/// What a queue stage did over a run.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStats {
    /// Messages stored (refused ones are not).
    pub enqueued: u64,
    /// Messages processed by a consumer.
    pub consumed: u64,
    /// Deliveries that failed and were put back.
    pub redelivered: u64,
    /// Messages whose last delivery failed.
    pub dead_lettered: u64,
    /// The most messages waiting at once.
    pub depth_max: u64,
    /// Messages waiting at the end.
    pub waiting: u64,
    /// Mean time from a message's arrival to its consumption, ms.
    pub age_mean_ms: f64,
    /// Its 99th percentile, ms.
    pub age_p99_ms: f64,
}

/// A limiter stage's state: the limiter, the densest window seen, what it
/// admitted (per client too) and its series.
struct LimiterState {
    limiter: RateLimiter,
    peak: WindowPeak,
    allowed: u64,
    allowed_by_client: Vec<u64>,
    s_allowed: SeriesId,
    s_rejected: SeriesId,
    s_window: SeriesId,
}

/// Per route: what happened to its requests.
#[derive(Clone, Debug, Default)]
pub struct RouteStats {
    /// Requests that arrived.
    pub requests: u64,
    /// Completed, degraded ones included.
    pub completed: u64,
    /// Completed with a fallback answer.
    pub degraded: u64,
    /// Accepted and then failed.
    pub failed: u64,
    /// Refused at the door.
    pub rejected: u64,
    /// When the last one completed (0: none did).
    pub last_completed_at: SimTime,
    /// Per second of simulated time: (requests that ended well, ended).
    per_second: Vec<(u32, u32)>,
    /// With an objective, per second from the start: (requests answered
    /// within it, requests that ended).
    slo_per_second: Vec<(u32, u32)>,
}

impl RouteStats {
    /// Percentage of the requests that ended that completed (100 when none
    /// ended).
    pub fn success_pct(&self) -> f64 {
        let ended = self.completed + self.failed + self.rejected;
        if ended == 0 {
            100.0
        } else {
            100.0 * self.completed as f64 / ended as f64
        }
    }
}

struct SourceState {
    rng: RngStream,
    route_rng: RngStream,
    object_rng: RngStream,
    client_rng: RngStream,
    /// Think times of a closed source's callers.
    think_rng: RngStream,
    zipf: Option<Zipf>,
    /// Fresh jobs left (batch sources).
    remaining: u64,
    /// Objects of failed jobs sent back to the end of the queue.
    redo: VecDeque<u32>,
    /// The highest arrival rate an open source reaches, traffic faults
    /// included: the rate its arrivals are thinned from.
    peak_rate: f64,
}

/// What a database stage did over a run.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseStats {
    /// Mean time from a call attempt's start to its query's start
    /// (waiting for a pooled connection, the handshake), ms.
    pub wait_mean_ms: f64,
    /// Its 99th percentile, ms.
    pub wait_p99_ms: f64,
    /// Sessions opened.
    pub opened: u64,
    /// Connections refused for want of a session.
    pub refused: u64,
    /// The most sessions open at once.
    pub sessions_max: u64,
    /// Sessions open on average over the run.
    pub sessions_mean: f64,
    /// Rows examined per query (0 without storage).
    pub rows_examined_per_query: f64,
    /// Share of the run its disk was busy, %.
    pub disk_busy_pct: f64,
    /// Share of the run its CPUs were busy, % (a core is busy while a
    /// query runs on it).
    pub cpu_busy_pct: f64,
    /// 99th percentile of the wait for the table's lock, over the queries
    /// that had to wait, ms (0 when none did).
    pub lock_wait_p99_ms: f64,
    /// The longest such wait, ms.
    pub lock_wait_max_ms: f64,
    /// Statements cancelled by `statement_timeout`.
    pub statement_timeouts: u64,
    /// Migrations that gave up waiting for their lock (`lock_timeout`).
    pub migrations_gave_up: u64,
}

/// What an autoscaled service's instances did over a run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingStats {
    /// The most instances running at once (serving or warming up).
    pub running_max: u64,
    /// Instances serving at the end.
    pub serving_at_end: u64,
    /// Instance-hours paid for (every running instance, warming or not).
    pub instance_hours: f64,
}

/// What a connection pool did over a run.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolStats {
    /// Its size.
    pub size: u64,
    /// Connections in use on average over the run.
    pub in_use_mean: f64,
    /// Callers that gave up waiting for a connection.
    pub timeouts: u64,
}

/// Totals over the run that every flow scenario can report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowTotals {
    /// Callee work that went on after its caller stopped waiting.
    pub orphaned_work: u64,
    /// Visits cancelled because their caller timed out.
    pub cancelled: u64,
    /// The most requests in flight at once.
    pub peak_jobs: usize,
    /// Reads answered with a version of their object, where a stage is the
    /// system of record ([`Service::system_of_record`]).
    pub versioned_reads: u64,
    /// Of those, answered with an older version than the latest commit.
    pub stale_reads: u64,
}

/// A run of a [`Topology`].
pub struct Sim<'t> {
    topo: &'t Topology,
    end: SimTime,
    q: EventQueue<Ev>,
    rec: Recorder,
    jobs: Slab<Job>,
    calls: Slab<CallState>,
    stages: Vec<StageState>,
    sites: Vec<Site>,
    routes: Vec<RouteStats>,
    route_latency: Vec<Histogram>,
    /// Per route: answered, refused or failed, and answered after its
    /// objective.
    route_series: Vec<(SeriesId, SeriesId, SeriesId)>,
    sources: Vec<SourceState>,
    next_id: u64,
    totals: FlowTotals,
    /// Recovery is measured per second from this time on.
    watch_from: SimTime,
    /// Scratch space for a balancer's view of its targets' loads, and for
    /// the serving instances of an autoscaled stage.
    loads: Vec<u32>,
    serving: Vec<u32>,
    /// Per route, the call site of the client's call to its first stage.
    client_sites: Vec<usize>,
    /// Per route, whether its client call is direct: a plain policy into
    /// stages that answer with the request at hand (services, queues, and
    /// balancers and limiters in front of them). Such a call needs no
    /// [`CallState`]: its visit answers [`CLIENT`], and the answer goes
    /// straight to the request's end, as the full path would take it.
    direct_client: Vec<bool>,
    /// Scratch space for finished queries and expired pool waiters.
    db_done: Vec<DbToken>,
    expired: Vec<DbToken>,
    /// Requests that arrived, by priority class.
    class_arrivals: [u64; 3],
    /// Requests scheduled to start (batch and scheduled sources).
    starts: Slab<Request>,
    /// Messages out for delivery: their queue stage and bookkeeping.
    deliveries: Slab<(StageId, crate::parts::Job<Request>)>,
    /// Set while a queue hands out messages, so that a delivery answered
    /// at once does not start a nested hand-out.
    dispatching: bool,
    /// Whether any fault changes the traffic (arrivals then check them).
    traffic_faults: bool,
    /// Migrations still to go on the timeline: their span (from asking
    /// for the lock to letting go or giving up) is known only at its end.
    migrations_unshown: Vec<u32>,
    /// Per object, the writes committed at a system of record (empty
    /// without one).
    versions: Vec<u32>,
    /// Reads waiting at a cache for a recompute in flight, by (stage,
    /// object), in arrival order.
    coalesced: std::collections::BTreeMap<(StageId, u32, u32), Vec<CacheWaiter>>,
    /// Reads waiting to look at a cache again (lock).
    lock_waiters: Slab<CacheWaiter>,
}

// Events move on every push and pop of the event heap: keep them small.
const _: () = assert!(std::mem::size_of::<Ev>() <= 24);

/// The slot [`Sim::retries_peak`] counts retries in.
pub const RETRY_SLOT: SimTime = 100 * crate::engine::time::MILLISECOND;

/// A placeholder request for a call whose caller has just gone.
const REQUEST_NONE: Request = Request {
    id: 0,
    born: 0,
    route: 0,
    source: 0,
    class: 0,
    key: 0,
    client: 0,
};

impl<'t> Sim<'t> {
    /// A run of `topo` for `duration`, every random stream derived from
    /// `seed` and named after the stage or source that draws from it.
    /// Only the series named in `publish` are kept (the data file's list).
    #[inline(never)]
    pub fn new(
        topo: &'t Topology,
        seed: u64,
        duration: SimTime,
        publish: &[&str],
    ) -> Result<Self, String> {
        topo.validate()?;
        let mut rec = Recorder::new(duration);
        rec.keep_only(publish);
        let mut stages = Vec::with_capacity(topo.stages.len());
        let mut sites = Vec::new();
        for s in &topo.stages {
            let name = &s.name;
            let series =
                |rec: &mut Recorder, what: &str, kind| rec.series(format!("{name}.{what}"), kind);
            let (instances, balancer, handlers) = match &s.kind {
                StageKind::Service(svc) => (
                    svc.instances,
                    Some(Balancer::new(
                        svc.balance,
                        RngStream::new(seed, &format!("{name}.balance")),
                    )),
                    svc.handlers.as_slice(),
                ),
                StageKind::Balancer(b) => (
                    0,
                    Some(Balancer::new(
                        b.policy,
                        RngStream::new(seed, &format!("{name}.balance")),
                    )),
                    &[][..],
                ),
                StageKind::ThirdParty(_)
                | StageKind::Limiter(_)
                | StageKind::Database(_)
                | StageKind::Replicated(_)
                | StageKind::Queue(_) => (0, None, &[][..]),
            };
            let mut stage_sites = Vec::new();
            for h in handlers {
                let mut firsts = Vec::new();
                for step in &h.steps {
                    firsts.push(sites.len());
                    let calls: &[Call] = match step {
                        Step::Work(_) => &[],
                        Step::Call(c) => std::slice::from_ref(c),
                        Step::Parallel(cs) => cs,
                    };
                    for c in calls {
                        sites.push(Site::new(topo, &mut rec, seed, name, c));
                    }
                }
                stage_sites.push(firsts);
            }
            let quota = match &s.kind {
                StageKind::ThirdParty(tp) => tp.quota.map(|q| match q.rule {
                    QuotaRule::FixedWindow => {
                        Limiter::Window(Quota::new(q.limit, q.window, q.keys as usize))
                    }
                    QuotaRule::TokenBucket {
                        burst,
                        charge_refused,
                    } => Limiter::Bucket(TokenBucket::new(
                        q.limit,
                        q.window,
                        burst,
                        charge_refused,
                        q.keys as usize,
                    )),
                }),
                _ => None,
            };
            // A cache's index covers every object any source asks for.
            let objects = topo
                .sources
                .iter()
                .filter_map(|src| src.objects().map(|o| o.count))
                .max()
                .unwrap_or(1);
            let limiter = match &s.kind {
                StageKind::Limiter(l) => Some(Box::new(LimiterState {
                    limiter: RateLimiter::new(l.algorithm, l.limit, l.window, l.refill_per_s),
                    peak: WindowPeak::new(l.window),
                    allowed: 0,
                    allowed_by_client: Vec::new(),
                    s_allowed: series(&mut rec, "allowed_rps", SeriesKind::Rate),
                    s_rejected: series(&mut rec, "rejected_rps", SeriesKind::Rate),
                    s_window: series(&mut rec, "window_count", SeriesKind::Gauge),
                })),
                _ => None,
            };
            // A fault that takes the table's lock makes every query take it.
            let locked = topo.faults.iter().any(|f| {
                topo.stages[f.target].name == *name
                    && matches!(
                        f.kind,
                        FaultKind::LongTransaction | FaultKind::Migration { .. }
                    )
            });
            let db = match &s.kind {
                StageKind::Database(d) => Some(Box::new(DbState {
                    db: Database::new(d.cores as usize, d.max_connections as usize, d.contention),
                    query_rng: RngStream::new(seed, &format!("{name}.query")),
                    wake_at: None,
                    wait: Histogram::new(Histogram::PRECISE),
                    opened: 0,
                    refused: 0,
                    sessions_max: 0,
                    sessions: LevelArea::default(),
                    shown: (0, 0),
                    s_sessions: series(&mut rec, "sessions", SeriesKind::Gauge),
                    s_running: series(&mut rec, "running", SeriesKind::Gauge),
                    disk: crate::parts::Disk::new(d.storage.map_or(1.0, |st| st.iops)),
                    disk_rng: RngStream::new(seed, &format!("{name}.disk")),
                    queries: 0,
                    rows_examined: 0,
                    lock: locked.then(crate::parts::Lock::new),
                    lock_wait: Histogram::new(Histogram::PRECISE),
                    live: (locked || d.statement_timeout.is_some())
                        .then(std::collections::BTreeMap::new),
                    deadlines: VecDeque::new(),
                    timer_armed: false,
                    statement_timeouts: 0,
                    migrations_gave_up: 0,
                    s_lock_waiting: series(&mut rec, "lock_waiting", SeriesKind::Gauge),
                    s_disk_backlog: series(&mut rec, "disk_backlog_ms", SeriesKind::Gauge),
                })),
                _ => None,
            };
            let mq = match &s.kind {
                StageKind::Queue(q) => {
                    sites.push(Site::new(topo, &mut rec, seed, name, &q.deliver));
                    Some(Box::new(QueueState {
                        messages: JobQueue::new(q.prefetch as usize, q.max_deliveries),
                        capacity: q.capacity as usize,
                        site: sites.len() - 1,
                        enqueued: 0,
                        consumed: 0,
                        redelivered: 0,
                        age: Histogram::new(Histogram::PRECISE),
                    }))
                }
                _ => None,
            };
            let cache = match &s.kind {
                StageKind::Service(svc) => svc.cache.map(|c| {
                    let swr = match c.protection {
                        Protection::StaleWhileRevalidate { grace } => grace,
                        _ => 0,
                    };
                    Cache::new(c.capacity, c.ttl, objects)
                        .keeping_stale(c.stale_if_error.unwrap_or(0).max(swr))
                }),
                _ => None,
            };
            let per_instance = match &s.kind {
                StageKind::Service(svc) => svc.cache.is_some_and(|c| c.per_instance),
                _ => false,
            };
            let scaler = match &s.kind {
                StageKind::Service(svc) => svc.autoscale.as_ref().map(|a| {
                    let ready = svc.instances.clamp(a.hpa.min, a.hpa.max);
                    let mut capacity = LevelArea::default();
                    capacity.set(0, u64::from(ready) * u64::from(svc.slots));
                    Box::new(ScalerState {
                        hpa: Autoscaler::new(a.hpa.clone()),
                        fleet: Fleet::new(ready, a.warmup),
                        capacity,
                        at_sync: (0, 0),
                        running_max: ready,
                        s_instances: series(&mut rec, "instances", SeriesKind::Gauge),
                        s_running: series(&mut rec, "instances_running", SeriesKind::Gauge),
                    })
                }),
                _ => None,
            };
            let shedder = match &s.kind {
                StageKind::Service(svc) => svc.shed.map(|sh| {
                    Box::new(ShedState {
                        shedder: Shedder::new(sh.spec),
                        at_check: 0,
                        refused: 0,
                        s_shed: series(&mut rec, "shed_classes", SeriesKind::Gauge),
                    })
                }),
                _ => None,
            };
            let cluster = match &s.kind {
                StageKind::Replicated(r) => {
                    let crash = topo
                        .faults
                        .iter()
                        .filter(|f| f.target == r.primary && f.kind == FaultKind::Down)
                        .min_by_key(|f| f.start);
                    let recovery = match r.failover {
                        Some((detect, promote)) => Recovery::Failover { detect, promote },
                        None => Recovery::Manual {
                            after: crash.map_or(0, |f| f.duration),
                        },
                    };
                    let s_writable = series(&mut rec, "writable", SeriesKind::Gauge);
                    rec.gauge(s_writable, 0, 1.0);
                    Some(Box::new(ClusterRun {
                        db: ReplicatedDb::new(r.replication, recovery),
                        crash_at: crash.map(|f| f.start),
                        reads_from_replica: 0,
                        read_only_refused: 0,
                        s_writable,
                    }))
                }
                _ => None,
            };
            // An autoscaled stage starts with its count within the bounds.
            let instances = scaler.as_ref().map_or(instances, |sc| sc.fleet.ready());
            stages.push(StageState {
                instances: (0..instances).map(|_| Instance::new(true)).collect(),
                busy_area: (scaler.is_some() || shedder.is_some()).then(LevelArea::default),
                scaler,
                shedder,
                cluster,
                balancer,
                work_rng: RngStream::new(seed, &format!("{name}.work")),
                error_rng: RngStream::new(seed, &format!("{name}.errors")),
                latency_rng: RngStream::new(seed, &format!("{name}.latency")),
                quota,
                next_key: 0,
                caches: match &cache {
                    Some(c) if per_instance => vec![c.clone(); instances.max(1) as usize],
                    Some(c) => vec![c.clone()],
                    None => Vec::new(),
                },
                cache_empty: cache,
                cache_rng: RngStream::new(seed, &format!("{name}.cache")),
                fetching: vec![InFlight::new(objects)],
                per_instance_cache: per_instance,
                object_count: objects,
                recomputing: InFlight::new(objects),
                cache_stats: CacheStats::default(),
                limiter,
                db,
                mq,
                in_flight: 0,
                busy_max: 0,
                queue_max: 0,

                arrivals: 0,
                errors: 0,
                sites: stage_sites,
                s_in_flight: series(&mut rec, "in_flight", SeriesKind::Gauge),
                s_queue: series(&mut rec, "queue", SeriesKind::Gauge),
                s_busy: series(&mut rec, "busy", SeriesKind::Gauge),
                s_errors: series(&mut rec, "errors_rps", SeriesKind::Rate),
                s_calls: series(&mut rec, "calls_rps", SeriesKind::Rate),
                s_stale: series(&mut rec, "stale_rps", SeriesKind::Rate),
            });
        }
        let client_sites = topo
            .routes
            .iter()
            .map(|r| {
                let call = Call {
                    to: r.entry,
                    policy: r.client.clone(),
                };
                sites.push(Site::new(
                    topo,
                    &mut rec,
                    seed,
                    &format!("client.{}", r.name),
                    &call,
                ));
                sites.len() - 1
            })
            .collect();
        let route_series = topo
            .routes
            .iter()
            .map(|r| {
                (
                    rec.series(format!("{}.ok_rps", r.name), SeriesKind::Rate),
                    rec.series(format!("{}.failed_rps", r.name), SeriesKind::Rate),
                    rec.series(format!("{}.late_rps", r.name), SeriesKind::Rate),
                )
            })
            .collect();
        let traffic_boost = topo
            .faults
            .iter()
            .filter_map(|f| match f.kind {
                FaultKind::Traffic(x) => Some(x),
                _ => None,
            })
            .fold(1.0_f64, f64::max);
        let sources = topo
            .sources
            .iter()
            .enumerate()
            .map(|(i, src)| SourceState {
                rng: RngStream::new(seed, &format!("arrivals.{i}")),
                route_rng: RngStream::new(seed, &format!("routes.{i}")),
                object_rng: RngStream::new(seed, &format!("objects.{i}")),
                client_rng: RngStream::new(seed, &format!("clients.{i}")),
                think_rng: RngStream::new(seed, &format!("think.{i}")),
                zipf: src.objects().and_then(|o| match o.popularity {
                    Popularity::Zipf(x) => Some(Zipf::new(o.count, x)),
                    Popularity::Uniform => None,
                }),
                redo: VecDeque::new(),
                peak_rate: match src {
                    Source::Open { shape, .. } => shape.max_rate() * traffic_boost,
                    Source::Batch { .. } | Source::Scheduled { .. } => 0.0,
                },
                remaining: match src {
                    Source::Batch { jobs, .. } => *jobs,
                    Source::Open { .. } | Source::Scheduled { .. } => 0,
                },
            })
            .collect();
        let routes = vec![RouteStats::default(); topo.routes.len()];
        Ok(Self {
            topo,
            end: duration,
            q: EventQueue::new(),
            rec,
            jobs: Slab::new(),
            calls: Slab::new(),
            stages,
            sites,
            route_latency: vec![Histogram::new(Histogram::PRECISE); topo.routes.len()],
            routes,
            route_series,
            sources,
            next_id: 0,
            totals: FlowTotals::default(),
            watch_from: SimTime::MAX,
            loads: Vec::new(),
            serving: Vec::new(),
            direct_client: topo
                .routes
                .iter()
                .map(|r| r.client.is_plain() && answers_with_request(topo, r.entry, 0))
                .collect(),
            client_sites,
            db_done: Vec::new(),
            expired: Vec::new(),
            class_arrivals: [0; 3],
            starts: Slab::new(),
            deliveries: Slab::new(),
            dispatching: false,
            migrations_unshown: Vec::new(),
            versions: if topo
                .stages
                .iter()
                .any(|s| matches!(&s.kind, StageKind::Service(svc) if svc.system_of_record))
            {
                let objects = topo
                    .sources
                    .iter()
                    .filter_map(|src| src.objects().map(|o| o.count))
                    .max()
                    .unwrap_or(1);
                vec![0; usize::try_from(objects).unwrap_or(0)]
            } else {
                Vec::new()
            },
            coalesced: std::collections::BTreeMap::new(),
            lock_waiters: Slab::new(),
            traffic_faults: topo
                .faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::Traffic(_))),
        })
    }

    /// Keeps per-second success counts from `t` on, for [`Sim::recovery`].
    pub fn watch_recovery_from(&mut self, t: SimTime) {
        self.watch_from = t;
    }

    /// The recorder, for a scenario's own series and marks.
    pub fn recorder(&mut self) -> &mut Recorder {
        &mut self.rec
    }

    /// Runs to the end of the run.
    #[inline(never)]
    pub fn run(&mut self) {
        self.open_pools_at_start();
        for i in 0..self.stages.len() {
            if let StageKind::Service(Service { shed: Some(sh), .. }) = &self.topo.stages[i].kind {
                self.q.schedule(sh.every, Ev::ShedCheck(i as u32));
            }
            if let (Some(sc), StageKind::Service(svc)) =
                (&self.stages[i].scaler, &self.topo.stages[i].kind)
            {
                let sync = sc.hpa.spec().sync;
                self.q.schedule(sync, Ev::Autoscale(i as u32));
                self.show_capacity(0, i, svc.slots);
            }
        }
        for i in 0..self.topo.sources.len() {
            match &self.topo.sources[i] {
                Source::Open { .. } => {
                    if let Some(t) = self.next_arrival(i, 0) {
                        self.q.schedule_lane(i, t);
                    }
                }
                Source::Batch { workers, .. } => {
                    for _ in 0..*workers {
                        // Callers who think start after a first think.
                        let at = self.think(i, 0);
                        if at > self.end {
                            continue;
                        }
                        if let Some(req) = self.batch_next(i, at) {
                            self.schedule_start(at, req);
                        }
                    }
                }
                Source::Scheduled { times, .. } => {
                    for &t in times {
                        if t <= self.end {
                            let req = self.new_request(i, t);
                            self.schedule_start(t, req);
                        }
                    }
                }
            }
        }
        // Faults go on the timeline: the charts shade them and the diagram
        // marks their stage while they last.
        for (i, f) in self.topo.faults.iter().enumerate() {
            if matches!(f.kind, FaultKind::Migration { .. }) {
                self.migrations_unshown.push(i as u32);
                continue;
            }
            let stage = match f.kind {
                FaultKind::Traffic(_) => "users",
                _ => self.topo.stages[f.target].name.as_str(),
            };
            self.rec.fault(f.start, f.duration, stage, f.kind.label());
        }
        for (i, f) in self.topo.faults.iter().enumerate() {
            if matches!(
                f.kind,
                FaultKind::LongTransaction | FaultKind::Migration { .. }
            ) && f.start <= self.end
            {
                self.q
                    .schedule(f.start, Ev::LockFault(i as u32, LockStep::Begin));
            }
        }
        for (i, st) in self.stages.iter().enumerate() {
            if let Some(t) = st.cluster.as_ref().and_then(|c| c.crash_at) {
                if t <= self.end {
                    self.q.schedule(t, Ev::Crash(i as u32));
                }
            }
        }
        // Each open source's next arrival waits in its own lane of the
        // queue (lane = source index), out of the heap.
        while let Some((now, next)) = self.q.pop_until_with_lanes(self.end) {
            let ev = match next {
                Next::Lane(i) => {
                    if let Some(t) = self.next_arrival(i, now) {
                        self.q.schedule_lane(i, t);
                    }
                    let req = self.new_request(i, now);
                    self.start(now, req);
                    continue;
                }
                Next::Event(ev) => ev,
            };
            match ev {
                Ev::CacheRetry(r) => {
                    if let Some(w) = self.lock_waiters.remove(r) {
                        self.enter_service(now, w.stage, w.req, w.parent, Some(w.copy));
                    }
                }
                Ev::Start(r) => {
                    if let Some(req) = self.starts.remove(r) {
                        self.start(now, req);
                    }
                }
                Ev::ClientAnswer(r, outcome) => {
                    if let Some(req) = self.starts.remove(r) {
                        self.client_answer(now, req, outcome);
                    }
                }
                Ev::WorkDone(job) => self.work_done(now, job),
                Ev::SiteTimer(site) => self.site_timer(now, site as usize),
                Ev::Retry(call) => self.retry(now, call),
                Ev::Answer(call, gen, outcome) => self.on_reply(now, call, gen, outcome),
                Ev::Connected(stage, token) => self.db_connected(now, stage as usize, token),
                Ev::DbWake(stage, at) => self.db_wake(now, stage as usize, at),
                Ev::DiskRead(stage, token) => self.disk_read(now, stage as usize, token),
                Ev::PoolTimer(site) => self.pool_timer(now, site as usize),
                Ev::Autoscale(stage) => self.autoscale(now, stage as usize),
                Ev::ShedCheck(stage) => self.shed_check(now, stage as usize),
                Ev::InstanceReady(stage, i) => self.instance_ready(now, stage as usize, i),
                Ev::StatementTimer(stage) => self.statement_timer(now, stage as usize),
                Ev::LockFault(fault, step) => self.lock_fault(now, fault, step),
                Ev::TxnEnd(stage, token) => self.commit(now, stage as usize, token),
                Ev::Crash(stage) => self.crash(now, stage as usize),
                Ev::Writable(stage) => {
                    if let Some(cl) = self.stages[stage as usize].cluster.as_ref() {
                        self.rec.gauge(cl.s_writable, now, 1.0);
                    }
                }
                Ev::WriteAcked(call, gen) => self.write_acked(now, call, gen),
            }
        }
        self.totals.peak_jobs = self.totals.peak_jobs.max(self.jobs.len());
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.q.processed()
    }

    /// What queue stage `s` did (None: not a queue).
    pub fn queue(&self, s: StageId) -> Option<QueueStats> {
        self.stages.get(s)?.mq.as_ref().map(|mq| QueueStats {
            enqueued: mq.enqueued,
            consumed: mq.consumed,
            redelivered: mq.redelivered,
            dead_lettered: mq.messages.dead_lettered(),
            depth_max: mq.messages.depth_max() as u64,
            waiting: mq.messages.queued() as u64,
            age_mean_ms: mq.age.mean() / 1e6,
            age_p99_ms: mq.age.quantile(0.99) / 1e6,
        })
    }

    /// What happened to route `r`'s requests.
    pub fn route(&self, r: RouteId) -> &RouteStats {
        &self.routes[r]
    }

    /// Latency of route `r`'s completed requests.
    pub fn route_latency(&self, r: RouteId) -> &Histogram {
        &self.route_latency[r]
    }

    /// Calls stage `s` received (attempts, retries included).
    pub fn stage_arrivals(&self, s: StageId) -> u64 {
        self.stages[s].arrivals
    }

    /// The most slots of stage `s` busy at once.
    pub fn busy_max(&self, s: StageId) -> u32 {
        self.stages[s].busy_max
    }

    /// The most requests waiting in stage `s`'s queues at once.
    pub fn queue_max(&self, s: StageId) -> usize {
        self.stages[s].queue_max
    }

    /// The most retries into stage `to` made within one [`RETRY_SLOT`] of
    /// the run (slots aligned on multiples of it), by any one call site:
    /// callers that back off in lock-step retry together.
    pub fn retries_peak(&self, to: StageId) -> u64 {
        self.sites
            .iter()
            .filter(|s| s.call.to == to)
            .map(|s| s.retry_peak)
            .max()
            .unwrap_or(0)
    }

    /// Stage `s`'s cache lookups over its copies: (hits, lookups); (0, 0)
    /// without a cache.
    pub fn cache_lookups(&self, s: StageId) -> (u64, u64) {
        self.stages[s].caches.iter().fold((0, 0), |(h, n), c| {
            (h + c.hits(), n + c.hits() + c.misses() + c.expired())
        })
    }

    /// What stage `s`'s cache did about misses and expiries: recomputes,
    /// their peak per object, waits, stale answers, invalidations.
    pub fn cache_stats(&self, s: StageId) -> CacheStats {
        let st = &self.stages[s];
        CacheStats {
            recompute_peak: st.fetching.iter().map(InFlight::peak).max().unwrap_or(0),
            ..st.cache_stats
        }
    }

    /// At a system of record: the most reads of one object it had in
    /// flight at once (0 elsewhere).
    pub fn reads_in_flight_peak(&self, s: StageId) -> u32 {
        self.stages[s].recomputing.peak()
    }

    /// Reads stage `s`'s cache answered from a stale entry because its
    /// handlers failed them ([`super::CacheSpec::stale_if_error`]).
    pub fn stale_served(&self, s: StageId) -> u64 {
        self.stages[s].caches.iter().map(Cache::stale_served).sum()
    }

    /// Requests that arrived, by priority class (P0, P1, P2).
    pub fn arrivals_by_class(&self) -> [u64; 3] {
        self.class_arrivals
    }

    /// Requests limiter stage `s` admitted: (all, from `client`); (0, 0)
    /// for another kind of stage.
    pub fn admitted(&self, s: StageId, client: u32) -> (u64, u64) {
        self.stages[s].limiter.as_ref().map_or((0, 0), |l| {
            let mine = l.allowed_by_client.get(client as usize).copied();
            (l.allowed, mine.unwrap_or(0))
        })
    }

    /// The most requests limiter stage `s` admitted for one client within
    /// one window length (0 for another kind of stage).
    pub fn admitted_peak(&self, s: StageId) -> u64 {
        self.stages[s].limiter.as_ref().map_or(0, |l| l.peak.peak())
    }

    /// Database stage `s`'s counts (None for another kind of stage).
    pub fn database(&self, s: StageId) -> Option<DatabaseStats> {
        let d = self.stages[s].db.as_ref()?;
        Some(DatabaseStats {
            wait_mean_ms: d.wait.mean() / 1e6,
            wait_p99_ms: d.wait.quantile(0.99) / 1e6,
            opened: d.opened,
            refused: d.refused,
            sessions_max: d.sessions_max as u64,
            sessions_mean: d.sessions.mean(self.end),
            rows_examined_per_query: if d.queries == 0 {
                0.0
            } else {
                d.rows_examined as f64 / d.queries as f64
            },
            disk_busy_pct: if self.end == 0 {
                0.0
            } else {
                100.0 * d.disk.busy_by(self.end) as f64 / self.end as f64
            },
            cpu_busy_pct: 100.0 * d.db.cpu_busy(self.end),
            lock_wait_p99_ms: d.lock_wait.quantile(0.99) / 1e6,
            lock_wait_max_ms: d.lock_wait.max() as f64 / 1e6,
            statement_timeouts: d.statement_timeouts,
            migrations_gave_up: d.migrations_gave_up,
        })
    }

    /// What stage `s`'s autoscaler did, up to the end of the run (None:
    /// not autoscaled).
    pub fn scaling(&self, s: StageId) -> Option<ScalingStats> {
        let st = self.stages.get(s)?;
        let sc = st.scaler.as_ref()?;
        let mut fleet = sc.fleet.clone();
        Some(ScalingStats {
            running_max: u64::from(sc.running_max),
            serving_at_end: st.instances.iter().filter(|i| i.serving).count() as u64,
            instance_hours: fleet.instance_hours(self.end),
        })
    }

    /// The connection pool on calls into stage `to` (None without one).
    pub fn pool(&self, to: StageId) -> Option<PoolStats> {
        let site = self
            .sites
            .iter()
            .find(|s| s.call.to == to && s.pool.is_some())?;
        let p = site.pool.as_ref()?;
        Some(PoolStats {
            size: p.pool.size() as u64,
            in_use_mean: p.in_use.mean(self.end),
            timeouts: p.timeouts,
        })
    }

    /// Calls stage `s` answered 429 (third parties with a quota).
    pub fn rate_limited(&self, s: StageId) -> u64 {
        self.stages[s].quota.as_ref().map_or(0, Limiter::limited)
    }

    /// Requests stage `s`'s load shedder turned away (0 without one).
    pub fn shed(&self, s: StageId) -> u64 {
        self.stages[s].shedder.as_ref().map_or(0, |sh| sh.refused)
    }

    /// Visits or calls that failed at stage `s`.
    pub fn stage_errors(&self, s: StageId) -> u64 {
        self.stages[s].errors
    }

    /// Totals over the run.
    pub fn totals(&self) -> &FlowTotals {
        &self.totals
    }

    /// The sum of `count` over every call site into stage `to`.
    fn over_calls_into(&self, to: StageId, count: impl Fn(&Site) -> u64) -> u64 {
        self.sites
            .iter()
            .filter(|s| s.call.to == to)
            .map(count)
            .sum()
    }

    /// How many times any breaker on calls into stage `to` opened.
    pub fn breaker_opens(&self, to: StageId) -> u64 {
        self.over_calls_into(to, |s| s.breaker.as_ref().map_or(0, CircuitBreaker::opens))
    }

    /// Retries made on calls into stage `to`.
    pub fn retries(&self, to: StageId) -> u64 {
        self.over_calls_into(to, |s| s.retries)
    }

    /// Calls into stage `to` answered by their fallback.
    pub fn fallbacks(&self, to: StageId) -> u64 {
        self.over_calls_into(to, |s| s.degraded)
    }

    /// Percentage of route `r`'s requests ending in the whole seconds
    /// `[from, to)` that succeeded (None when none ended then, or when
    /// [`Sim::watch_recovery_from`] was not called at or before `from`).
    pub fn success_between(&self, r: RouteId, from: SimTime, to: SimTime) -> Option<f64> {
        if self.watch_from > from {
            return None;
        }
        let first = ((from - self.watch_from) / SECOND) as usize;
        let last = ((to.saturating_sub(self.watch_from)) / SECOND) as usize;
        let (ok, ended) = self.routes[r]
            .per_second
            .get(first..last.min(self.routes[r].per_second.len()).max(first))
            .unwrap_or(&[])
            .iter()
            .fold((0u64, 0u64), |(a, b), &(ok, n)| {
                (a + u64::from(ok), b + u64::from(n))
            });
        (ended > 0).then(|| 100.0 * ok as f64 / ended as f64)
    }

    /// Seconds from `from` until every route in `routes` has had at least
    /// `pct` % success in each of `hold` consecutive seconds (seconds with
    /// no request ending count as good); `None` if that never happened
    /// before the end of the run. Needs [`Sim::watch_recovery_from`] at or
    /// before `from`.
    pub fn recovery(&self, routes: &[RouteId], from: SimTime, pct: f64, hold: u32) -> Option<f64> {
        if self.watch_from > from {
            return None;
        }
        let offset = ((from - self.watch_from) / SECOND) as usize;
        let seconds = ((self.end.saturating_sub(from)) / SECOND) as usize;
        let good = |s: usize| {
            routes.iter().all(|&r| {
                let (ok, ended) = self.routes[r]
                    .per_second
                    .get(offset + s)
                    .copied()
                    .unwrap_or((0, 0));
                ended == 0 || 100.0 * f64::from(ok) >= pct * f64::from(ended)
            })
        };
        let hold = hold as usize;
        let mut run = 0;
        for s in 0..seconds {
            if good(s) {
                run += 1;
                if run == hold {
                    return Some((s + 1 - hold) as f64);
                }
            } else {
                run = 0;
            }
        }
        None
    }

    /// Seconds in which route `r` missed its latency objective, judged
    /// over windows of `window` whole seconds from the start: a window
    /// misses when fewer than `pct` % of the requests that ended in it were
    /// answered within the objective (a refused or failed request counts as
    /// never answered). That is "the `pct`th percentile latency over the
    /// window, failures counted as infinitely slow, was above the
    /// objective", as a dashboard's quantile over a range would show it.
    /// Windows in which nothing ended do not count; the result is the
    /// missed windows × `window`. 0 for a route with no objective.
    pub fn slo_missed_s(&self, r: RouteId, pct: f64, window: u32) -> u32 {
        let window = window.max(1);
        self.routes[r]
            .slo_per_second
            .chunks(window as usize)
            .map(|w| {
                w.iter()
                    .fold((0, 0), |(met, ended), &(m, e)| (met + m, ended + e))
            })
            .filter(|&(met, ended)| ended > 0 && 100.0 * f64::from(met) < pct * f64::from(ended))
            .count() as u32
            * window
    }

    /// Closes the run with the scenario's own metrics.
    #[inline(never)]
    pub fn finish(mut self, own: Vec<(&'static str, f64)>) -> RunResult {
        // A migration still waiting or holding at the end lasts to the end.
        for i in std::mem::take(&mut self.migrations_unshown) {
            self.show_migration(self.end, i, "migration");
        }
        let events = self.q.processed();
        self.rec.finish(events, own)
    }

    // ---- sources ----

    fn next_arrival(&mut self, i: usize, after: SimTime) -> Option<SimTime> {
        let Source::Open { shape, poisson, .. } = &self.topo.sources[i] else {
            return None;
        };
        // Traffic faults multiply the rate; thinning at the highest rate
        // keeps the draw exact (Lewis and Shedler).
        let max = self.sources[i].peak_rate;
        if max <= 0.0 {
            return None;
        }
        let traffic_faults = self.traffic_faults;
        let rng = &mut self.sources[i].rng;
        let mut t = as_secs(after);
        for _ in 0..1_000_000 {
            t += if *poisson {
                -libm::log(1.0 - rng.uniform()) / max
            } else {
                1.0 / max
            };
            let at = secs(t);
            if at > self.end {
                return None;
            }
            let mut rate = shape.rate_at(t);
            if traffic_faults {
                rate *= self
                    .topo
                    .faults
                    .iter()
                    .filter(|f| f.active(at))
                    .filter_map(|f| match f.kind {
                        FaultKind::Traffic(x) => Some(x),
                        _ => None,
                    })
                    .product::<f64>();
            }
            if rate >= max || rng.uniform() * max < rate {
                return Some(at.max(after + 1));
            }
        }
        None
    }

    fn new_request(&mut self, source: usize, now: SimTime) -> Request {
        let route = match &self.topo.sources[source] {
            Source::Open { routes, .. } => {
                let total: f64 = routes.iter().map(|r| r.1).sum();
                let mut pick = self.sources[source].route_rng.uniform() * total;
                let mut chosen = routes.first().map_or(0, |r| r.0);
                for &(r, w) in routes {
                    if pick < w {
                        chosen = r;
                        break;
                    }
                    pick -= w;
                }
                chosen
            }
            Source::Batch { route, .. } | Source::Scheduled { route, .. } => *route,
        };
        let st = &mut self.sources[source];
        let class = self.topo.routes.get(route).map_or(0, |r| r.class);
        let client = match self.topo.sources[source] {
            Source::Open { clients, .. } if clients > 1 => st.client_rng.below(clients) as u32,
            Source::Scheduled { client, .. } => client,
            _ => 0,
        };
        let key = match (self.topo.sources[source].objects(), &st.zipf) {
            (None, _) => 0,
            (Some(_), Some(z)) => z.sample(&mut st.object_rng),
            (Some(o), None) => st.object_rng.below(o.count),
        };
        self.next_id += 1;
        Request {
            id: self.next_id,
            born: now,
            route: route as u16,
            source: source as u16,
            class,
            key: key as u32,
            client,
        }
    }

    /// When a caller of closed source `source` who is ready at `at` starts
    /// its next request: after a think time, if its callers think.
    fn think(&mut self, source: usize, at: SimTime) -> SimTime {
        match &self.topo.sources[source] {
            Source::Batch {
                think: Some(think), ..
            } => at.saturating_add(secs(think.sample(&mut self.sources[source].think_rng))),
            _ => at,
        }
    }

    fn batch_next(&mut self, source: usize, now: SimTime) -> Option<Request> {
        let st = &mut self.sources[source];
        if st.remaining > 0 {
            st.remaining -= 1;
            return Some(self.new_request(source, now));
        }
        let key = st.redo.pop_front()?;
        let mut req = self.new_request(source, now);
        req.key = key;
        Some(req)
    }

    // ---- requests ----

    fn schedule_start(&mut self, at: SimTime, req: Request) {
        let r = self.starts.insert(req);
        self.q.schedule(at, Ev::Start(r));
    }

    /// A request arrives: the client's call to its route's first stage,
    /// made with the route's client policy (how long it waits, retries).
    fn start(&mut self, now: SimTime, req: Request) {
        self.rec.arrival(now);
        self.class_arrivals[usize::from(req.class.min(2))] += 1;
        let r = req.route as usize;
        self.routes[r].requests += 1;
        if self.direct_client[r] {
            // What the full path does for a plain call, without the call.
            let site = &mut self.sites[self.client_sites[r]];
            site.in_flight += 1;
            site.attempts += 1;
            let to = site.call.to;
            self.enter(now, to, req, (CLIENT, 0));
            return;
        }
        let call = self.calls.insert(CallState::new(
            self.client_sites[r],
            Caller::Client,
            req,
            now,
        ));
        self.start_call(now, call);
    }

    /// A request's end: recorded once, for its route and the run.
    fn end_request(&mut self, now: SimTime, req: Request, outcome: Outcome, at_door: bool) {
        let r = req.route as usize;
        let (ok_series, bad_series, late_series) = self.route_series[r];
        let slo = self.topo.routes[r].slo;
        let stats = &mut self.routes[r];
        let mut within_slo = false;
        let good = match outcome {
            Outcome::Ok { degraded, version } => {
                if self.topo.routes[r].cacheable && !self.versions.is_empty() {
                    self.totals.versioned_reads += 1;
                    let latest = self.versions.get(req.key as usize).copied().unwrap_or(0);
                    if version < latest {
                        self.totals.stale_reads += 1;
                    }
                }
                let stats = &mut self.routes[r];
                stats.completed += 1;
                stats.last_completed_at = now;
                if degraded {
                    stats.degraded += 1;
                }
                let latency = now - req.born;
                self.route_latency[r].record(latency);
                self.rec.complete(now, latency);
                self.rec.count(ok_series, now, 1.0);
                if let Some(slo) = slo {
                    within_slo = latency <= slo;
                    if !within_slo {
                        self.rec.count(late_series, now, 1.0);
                    }
                }
                true
            }
            Outcome::Fail { reason, .. } => {
                if at_door {
                    stats.rejected += 1;
                    self.rec.reject(now, reason.name());
                } else {
                    stats.failed += 1;
                    self.rec.fail(now, reason.name());
                }
                self.rec.count(bad_series, now, 1.0);
                false
            }
        };
        if slo.is_some() {
            let s = (now / SECOND) as usize;
            let bins = &mut self.routes[r].slo_per_second;
            if bins.len() <= s {
                bins.resize(s + 1, (0, 0));
            }
            bins[s].1 += 1;
            if within_slo {
                bins[s].0 += 1;
            }
        }
        if now >= self.watch_from {
            let s = ((now - self.watch_from) / SECOND) as usize;
            let bins = &mut self.routes[r].per_second;
            if bins.len() <= s {
                bins.resize(s + 1, (0, 0));
            }
            bins[s].1 += 1;
            if good {
                bins[s].0 += 1;
            }
        }
        let source = req.source as usize;
        if let Source::Batch { requeue_failed, .. } = self.topo.sources[source] {
            let mut at = now;
            if requeue_failed && !good {
                // The job goes back to the end of the batch's queue, and
                // the worker does not start another within a pause of the
                // failed one's start: a job that fails at once (a stage
                // down) must not spin the batch in no simulated time.
                self.sources[source].redo.push_back(req.key);
                at = now.max(req.born.saturating_add(super::topology::REQUEUE_PAUSE));
            }
            at = self.think(source, at);
            if at > self.end {
                return;
            }
            if let Some(mut next) = self.batch_next(source, at) {
                if at == now {
                    self.start(now, next);
                } else {
                    next.born = at;
                    self.schedule_start(at, next);
                }
            }
        }
    }

    /// A request arrives at stage `stage`, answering `parent` (a call) or
    /// as its route's first stage.
    fn enter(&mut self, now: SimTime, stage: StageId, req: Request, parent: (Ref, u32)) {
        let st = &mut self.stages[stage];
        st.arrivals += 1;
        self.rec.count(st.s_calls, now, 1.0);
        if self.fault_down(stage, now) {
            self.refuse(now, stage, req, parent, Reason::Down);
            return;
        }
        match &self.topo.stages[stage].kind {
            StageKind::Balancer(b) => {
                let mut loads = std::mem::take(&mut self.loads);
                loads.clear();
                loads.extend(b.targets.iter().map(|&t| self.stages[t].in_flight));
                let pick = self.stages[stage]
                    .balancer
                    .as_mut()
                    .map_or(0, |bal| bal.pick(&loads));
                self.loads = loads;
                let target = b.targets[pick.min(b.targets.len() - 1)];
                self.enter(now, target, req, parent);
            }
            StageKind::Replicated(r) => {
                let write = self.topo.routes[req.route as usize].is_write();
                let Some(cl) = self.stages[stage].cluster.as_mut() else {
                    return;
                };
                let target = match cl.db.state(now) {
                    ClusterState::Up => Ok(r.primary),
                    ClusterState::Recovered if cl.db.promoted(now) => Ok(r.replica),
                    ClusterState::Recovered => Ok(r.primary),
                    ClusterState::WritesDown if r.read_only && write => {
                        cl.read_only_refused += 1;
                        Err(Reason::ReadOnly)
                    }
                    ClusterState::WritesDown if r.read_only && cl.db.promoting(now) => {
                        Err(Reason::Promoting)
                    }
                    ClusterState::WritesDown if r.read_only => {
                        cl.reads_from_replica += 1;
                        Ok(r.replica)
                    }
                    // Nobody told the app: it keeps asking the dead primary.
                    ClusterState::WritesDown => Ok(r.primary),
                };
                match target {
                    Ok(node) => {
                        if let Some(c) = self.calls.get_mut(parent.0) {
                            c.node = Some(node);
                        }
                        self.enter(now, node, req, parent);
                    }
                    Err(reason) => self.refuse(now, stage, req, parent, reason),
                }
            }
            StageKind::Database(_) => {
                let token = DbToken {
                    call: parent.0,
                    gen: parent.1,
                    site: NO_POOL,
                };
                self.db_open(now, stage, token);
            }
            StageKind::Queue(_) => {
                let Some(mq) = self.stages[stage].mq.as_mut() else {
                    return;
                };
                if mq.messages.push_bounded(now, req, mq.capacity).is_err() {
                    self.refuse(now, stage, req, parent, Reason::QueueFull);
                    return;
                }
                mq.enqueued += 1;
                // Stored: the producer's answer.
                self.answer_now(now, req, parent, Outcome::DONE);
                self.dispatch(now, stage);
            }
            StageKind::Limiter(l) => {
                let client = req.client as usize;
                let Some(lim) = self.stages[stage].limiter.as_mut() else {
                    return;
                };
                if lim.limiter.allow(client, now) {
                    lim.allowed += 1;
                    if lim.allowed_by_client.len() <= client {
                        lim.allowed_by_client.resize(client + 1, 0);
                    }
                    lim.allowed_by_client[client] += 1;
                    lim.peak.admitted(client, now);
                    self.rec.count(lim.s_allowed, now, 1.0);
                    self.rec
                        .gauge(lim.s_window, now, lim.peak.current(client) as f64);
                    self.enter(now, l.next, req, parent);
                } else {
                    self.rec.count(lim.s_rejected, now, 1.0);
                    self.refuse(now, stage, req, parent, Reason::Throttled);
                }
            }
            StageKind::ThirdParty(tp) => {
                let slow = self.fault_slow(stage, now);
                let st = &mut self.stages[stage];
                let latency = secs(tp.latency.sample(&mut st.latency_rng) * slow);
                let outcome = match st.quota.as_mut() {
                    Some(q) => {
                        let key = (st.next_key % q.keys() as u64) as usize;
                        st.next_key += 1;
                        match q.try_call(key, now) {
                            QuotaAnswer::Allowed => None,
                            QuotaAnswer::Limited { retry_after } => Some(Outcome::Fail {
                                reason: Reason::RateLimited,
                                retry_after_s: retry_after.div_ceil(SECOND).max(1) as u32,
                            }),
                        }
                    }
                    None => None,
                };
                let outcome = outcome.unwrap_or_else(|| {
                    let p = self.fault_errors(stage, now);
                    if p > 0.0 && self.stages[stage].error_rng.chance(p) {
                        Outcome::fail(Reason::Error)
                    } else {
                        Outcome::DONE
                    }
                });
                let st = &mut self.stages[stage];
                if matches!(outcome, Outcome::Fail { .. }) {
                    st.errors += 1;
                    self.rec.count(st.s_errors, now, 1.0);
                }
                st.in_flight += 1;
                self.rec.gauge(st.s_in_flight, now, f64::from(st.in_flight));
                self.rec.gauge(st.s_busy, now, f64::from(st.in_flight));
                let (call, gen) = parent;
                self.q
                    .schedule(now + latency, Ev::Answer(call, gen, outcome));
            }
            StageKind::Service(_) => self.enter_service(now, stage, req, parent, None),
        }
    }

    /// A visit to a service: its cache first (reads), then its shedder,
    /// then a slot or a place in its instance's queue. A read that waited
    /// for an in-process lock comes back `pinned` to its instance.
    fn enter_service(
        &mut self,
        now: SimTime,
        stage: StageId,
        req: Request,
        parent: (Ref, u32),
        pinned: Option<u32>,
    ) {
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        let Some(handler) = handler_for(svc, req.route) else {
            // Nothing to do here: answered at once.
            self.answer_now(now, req, parent, Outcome::DONE);
            return;
        };
        let cacheable = self.topo.routes[req.route as usize].cacheable;
        let mut picked = None;
        let mut fetch = false;
        if let Some(spec) = svc.cache.filter(|_| cacheable) {
            // An in-process cache is the picked instance's own.
            let copy = if spec.per_instance {
                let i = pinned.unwrap_or_else(|| self.pick_instance(stage));
                picked = Some(i);
                i
            } else {
                0
            };
            match self.read_cache(now, stage, copy, &spec, req, parent) {
                CacheRead::Answered | CacheRead::Parked => return,
                CacheRead::Fetch => fetch = true,
            }
        }
        if let Some(sh) = self.stages[stage]
            .shedder
            .as_mut()
            .filter(|sh| !sh.shedder.admits(req.class))
        {
            sh.refused += 1;
            self.abandon_fetch(now, stage, picked.unwrap_or(0), req, fetch);
            self.refuse(now, stage, req, parent, Reason::Shed);
            return;
        }
        let instance = picked.unwrap_or_else(|| self.pick_instance(stage));
        if !self.admit(now, stage, instance, handler, req, parent, fetch) {
            self.abandon_fetch(now, stage, picked.unwrap_or(0), req, fetch);
            self.refuse(now, stage, req, parent, Reason::QueueFull);
        }
    }

    /// The instance of `stage` the balancer gives the next visit.
    fn pick_instance(&mut self, stage: StageId) -> u32 {
        let st = &mut self.stages[stage];
        if st.scaler.is_some() {
            // Only serving instances take requests: the balancer picks
            // among them.
            let mut loads = std::mem::take(&mut self.loads);
            let mut serving = std::mem::take(&mut self.serving);
            serving.clear();
            serving.extend(
                (0..st.instances.len() as u32).filter(|&i| st.instances[i as usize].serving),
            );
            loads.clear();
            loads.extend(serving.iter().map(|&i| st.instances[i as usize].load));
            let pick = st.balancer.as_mut().map_or(0, |b| b.pick(&loads));
            let chosen = serving.get(pick).copied().unwrap_or(0);
            self.loads = loads;
            self.serving = serving;
            chosen
        } else if st.instances.len() == 1 {
            0
        } else {
            let mut loads = std::mem::take(&mut self.loads);
            loads.clear();
            loads.extend(st.instances.iter().map(|i| i.load));
            let pick = st.balancer.as_mut().map_or(0, |b| b.pick(&loads)) as u32;
            self.loads = loads;
            pick
        }
    }

    /// Starts a job for `req` at `instance` of `stage`: at once when a
    /// slot is free, else in its queue. False when the queue is full.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        now: SimTime,
        stage: StageId,
        instance: u32,
        handler: usize,
        req: Request,
        parent: (Ref, u32),
        fetch: bool,
    ) -> bool {
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return false;
        };
        let slots = svc.slots;
        let queue_limit = svc.queue_limit as usize;
        // A system of record reads the version committed when the visit
        // begins, as a query's snapshot does.
        let version = if svc.system_of_record {
            self.versions.get(req.key as usize).copied().unwrap_or(0)
        } else {
            0
        };
        let reads_record = svc.system_of_record && self.topo.routes[req.route as usize].cacheable;
        let st = &mut self.stages[stage];
        let inst = &mut st.instances[instance as usize];
        let free = inst.busy < slots;
        if !free && inst.queue.len() >= queue_limit {
            return false;
        }
        inst.load += 1;
        st.in_flight += 1;
        if reads_record {
            st.recomputing.start(u64::from(req.key));
        }
        let job = self.jobs.insert(Job {
            req,
            stage,
            instance,
            handler: handler as u16,
            step: 0,
            phase: Phase::Queued,
            has_slot: false,
            pending: 0,
            step_failed: None,
            degraded: false,
            parent,
            calls: None,
            version,
            fetch,
            started: now,
        });
        self.totals.peak_jobs = self.totals.peak_jobs.max(self.jobs.len());
        if let Some(c) = self.calls.get_mut(parent.0) {
            c.callee = Some(job);
        }
        let inst = &mut self.stages[stage].instances[instance as usize];
        if free {
            inst.busy += 1;
            if let Some(j) = self.jobs.get_mut(job) {
                j.has_slot = true;
            }
            self.show_stage(now, stage);
            self.run_step(now, job);
        } else {
            inst.queue.push_back(job);
            self.show_stage(now, stage);
        }
        true
    }

    /// A read of `req`'s object at `stage`'s cache `copy`, under the
    /// cache's stampede protection.
    fn read_cache(
        &mut self,
        now: SimTime,
        stage: StageId,
        copy: u32,
        spec: &crate::flow::CacheSpec,
        req: Request,
        parent: (Ref, u32),
    ) -> CacheRead {
        let key = u64::from(req.key);
        let st = &mut self.stages[stage];
        while st.caches.len() <= copy as usize {
            // An instance added by the autoscaler starts cold.
            let Some(empty) = st.cache_empty.clone() else {
                return CacheRead::Fetch;
            };
            st.caches.push(empty);
        }
        let Some(cache) = st.caches.get_mut(copy as usize) else {
            return CacheRead::Fetch;
        };
        st.cache_stats.lookups += 1;
        let lookup = cache.get(key, now);
        let entry = cache.entry(key);
        let stale_usable = cache.stale_usable(key, now);
        let in_flight = st.fetching_of(copy).of(key);
        match (lookup, entry) {
            (Lookup::Hit, Some(e)) => {
                st.cache_stats.hits += 1;
                if let Protection::EarlyExpiration { beta } = spec.protection {
                    let u = st.cache_rng.uniform();
                    if stampede::xfetch_recomputes(now, e.expires_at, e.cost, beta, u) {
                        // This reader recomputes; the others keep reading
                        // the value until the new one lands.
                        if in_flight == 0 {
                            st.cache_stats.early_refreshes += 1;
                        }
                        st.fetching_of(copy).start(key);
                        st.cache_stats.recomputes += 1;
                        return CacheRead::Fetch;
                    }
                }
                let answer = Outcome::Ok {
                    degraded: false,
                    version: e.version,
                };
                self.answer_at(now + spec.hit_latency, req, parent, answer);
                CacheRead::Answered
            }
            _ => match spec.protection {
                Protection::StaleWhileRevalidate { .. } if stale_usable => {
                    st.cache_stats.stale_while_revalidate += 1;
                    let version = entry.map_or(0, |e| e.version);
                    if in_flight == 0 {
                        st.cache_stats.refreshes += 1;
                        st.cache_stats.recomputes += 1;
                        st.fetching_of(copy).start(key);
                        self.refresh_in_background(now, stage, copy, req);
                    }
                    let answer = Outcome::Ok {
                        degraded: false,
                        version,
                    };
                    self.answer_at(now + spec.hit_latency, req, parent, answer);
                    CacheRead::Answered
                }
                Protection::Lock { retry } if in_flight > 0 => {
                    st.cache_stats.lock_waits += 1;
                    let w = CacheWaiter {
                        stage,
                        req,
                        parent,
                        copy,
                    };
                    let r = self.lock_waiters.insert(w);
                    self.q.schedule(now + retry.max(1), Ev::CacheRetry(r));
                    CacheRead::Parked
                }
                Protection::Coalesce if in_flight > 0 => {
                    st.cache_stats.coalesced += 1;
                    let w = CacheWaiter {
                        stage,
                        req,
                        parent,
                        copy,
                    };
                    self.coalesced
                        .entry((stage, copy, req.key))
                        .or_default()
                        .push(w);
                    CacheRead::Parked
                }
                _ => {
                    if in_flight == 0 {
                        st.cache_stats.refreshes += 1;
                    }
                    st.cache_stats.recomputes += 1;
                    st.fetching_of(copy).start(key);
                    CacheRead::Fetch
                }
            },
        }
    }

    /// Stale while revalidate: a job nobody waits for recomputes `req`'s
    /// object at `stage` and fills cache `copy` (dropped if the queue is
    /// full).
    fn refresh_in_background(&mut self, now: SimTime, stage: StageId, copy: u32, req: Request) {
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        let Some(handler) = handler_for(svc, req.route) else {
            return;
        };
        let per_instance = svc.cache.is_some_and(|c| c.per_instance);
        let instance = if per_instance {
            copy
        } else {
            self.pick_instance(stage)
        };
        if !self.admit(now, stage, instance, handler, req, (BACKGROUND, 0), true) {
            self.abandon_fetch(now, stage, copy, req, true);
        }
    }

    /// A recompute that will not happen after all (refused at the door):
    /// its in-flight mark goes, and readers waiting on it fail with it.
    fn abandon_fetch(
        &mut self,
        now: SimTime,
        stage: StageId,
        copy: u32,
        req: Request,
        fetch: bool,
    ) {
        if !fetch {
            return;
        }
        self.stages[stage].fetching_of(copy).end(u64::from(req.key));
        let failed = Outcome::fail(Reason::QueueFull);
        self.release_waiters(now, stage, copy, req.key, failed, None);
    }

    /// Answers the reads coalesced on a recompute of `key` at `stage`'s
    /// cache `copy` with its `outcome`, filling each one's cache copy with
    /// `fill` if any.
    fn release_waiters(
        &mut self,
        now: SimTime,
        stage: StageId,
        copy: u32,
        key: u32,
        outcome: Outcome,
        fill: Option<Fill>,
    ) {
        let Some(waiters) = self.coalesced.remove(&(stage, copy, key)) else {
            return;
        };
        for w in waiters {
            if let (Some(f), Some(c)) = (fill, self.stages[stage].caches.get_mut(w.copy as usize)) {
                c.store(u64::from(key), now, f);
            }
            self.answer_now(now, w.req, w.parent, outcome);
        }
    }

    /// Stage `stage` turns `req` away at once, for `reason`.
    fn refuse(
        &mut self,
        now: SimTime,
        stage: StageId,
        req: Request,
        parent: (Ref, u32),
        reason: Reason,
    ) {
        let st = &mut self.stages[stage];
        st.errors += 1;
        self.rec.count(st.s_errors, now, 1.0);
        self.answer_now(now, req, parent, Outcome::fail(reason));
    }

    /// Answers a visit that ended before it began (refused, or nothing to
    /// do), through the queue so that callers never re-enter themselves.
    fn answer_now(&mut self, now: SimTime, req: Request, parent: (Ref, u32), outcome: Outcome) {
        self.answer_at(now, req, parent, outcome);
    }

    /// [`answer_now`](Self::answer_now), at time `at`.
    fn answer_at(&mut self, at: SimTime, req: Request, parent: (Ref, u32), outcome: Outcome) {
        let (call, gen) = parent;
        if call == CLIENT {
            let r = self.starts.insert(req);
            self.q.schedule(at, Ev::ClientAnswer(r, outcome));
            return;
        }
        self.q.schedule(at, Ev::Answer(call, gen, outcome));
    }

    /// The answer to a direct client call (see [`Sim::direct_client`]):
    /// what [`Sim::on_reply`] and [`Sim::call_done`] do with a plain call's
    /// answer, which is always current and never retried.
    fn client_answer(&mut self, now: SimTime, req: Request, outcome: Outcome) {
        let site = &mut self.sites[self.client_sites[req.route as usize]];
        site.in_flight = site.in_flight.saturating_sub(1);
        let at_door = matches!(outcome, Outcome::Fail { reason, .. } if reason.at_door());
        self.end_request(now, req, outcome, at_door);
    }

    fn show_stage(&mut self, now: SimTime, stage: StageId) {
        let st = &mut self.stages[stage];
        let (busy, queued) = match st.instances.as_slice() {
            [one] => (one.busy, one.queue.len()),
            many => (
                many.iter().map(|i| i.busy).sum(),
                many.iter().map(|i| i.queue.len()).sum(),
            ),
        };
        st.busy_max = st.busy_max.max(busy);
        st.queue_max = st.queue_max.max(queued);
        if let Some(area) = st.busy_area.as_mut() {
            area.set(now, u64::from(busy));
        }
        self.rec.gauge(st.s_in_flight, now, f64::from(st.in_flight));
        self.rec.gauge(st.s_busy, now, f64::from(busy));
        self.rec.gauge(st.s_queue, now, queued as f64);
    }

    /// Runs `job`'s current step (it holds a slot).
    fn run_step(&mut self, now: SimTime, job: Ref) {
        let Some(j) = self.jobs.get_mut(job) else {
            return;
        };
        let (stage, handler, step) = (j.stage, j.handler as usize, j.step as usize);
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        let steps = &svc.handlers[handler].steps;
        let Some(s) = steps.get(step) else {
            let degraded = j.degraded;
            self.finish_job(
                now,
                job,
                Outcome::Ok {
                    degraded,
                    version: 0,
                },
            );
            return;
        };
        match s {
            Step::Work(d) => {
                j.phase = Phase::Running;
                let slow = self.fault_slow(stage, now);
                let t = secs(d.sample(&mut self.stages[stage].work_rng) * slow);
                self.q.schedule(now + t, Ev::WorkDone(job));
            }
            Step::Call(_) | Step::Parallel(_) => {
                let n = match s {
                    Step::Parallel(cs) => cs.len(),
                    _ => 1,
                };
                j.phase = Phase::Waiting;
                j.pending = n as u16;
                j.step_failed = None;
                let hold = svc.hold_slot_while_waiting;
                let first = self.stages[stage].sites[handler][step];
                if !hold {
                    self.give_back_slot(now, job);
                }
                let mut previous: Option<Ref> = None;
                for site in first..first + n {
                    let req = self.jobs.get(job).map_or(REQUEST_NONE, |j| j.req);
                    let call = self
                        .calls
                        .insert(CallState::new(site, Caller::Job(job), req, now));
                    match previous {
                        Some(p) => {
                            if let Some(c) = self.calls.get_mut(p) {
                                c.sibling = Some(call);
                            }
                        }
                        None => {
                            if let Some(j) = self.jobs.get_mut(job) {
                                j.calls = Some(call);
                            }
                        }
                    }
                    previous = Some(call);
                }
                let mut next = self.jobs.get(job).and_then(|j| j.calls);
                while let Some(call) = next {
                    next = self.calls.get(call).and_then(|c| c.sibling);
                    self.start_call(now, call);
                }
            }
        }
    }

    fn work_done(&mut self, now: SimTime, job: Ref) {
        let Some(j) = self.jobs.get_mut(job) else {
            return; // cancelled while working
        };
        let stage = j.stage;
        let p = self.fault_errors(stage, now);
        if p > 0.0 && self.stages[stage].error_rng.chance(p) {
            self.finish_job(now, job, Outcome::fail(Reason::Error));
            return;
        }
        if let Some(j) = self.jobs.get_mut(job) {
            j.step += 1;
        }
        self.run_step(now, job);
    }

    /// `job` ends with `outcome`: its slot goes to the next in line, and
    /// its caller (or the request's record) gets the answer.
    fn finish_job(&mut self, now: SimTime, job: Ref, outcome: Outcome) {
        let Some(j) = self.jobs.remove(job) else {
            return;
        };
        self.leave_stage(now, &j);
        let route = &self.topo.routes[j.req.route as usize];
        let (cacheable, key) = (route.cacheable, j.req.key);
        let (system_of_record, spec) = match &self.topo.stages[j.stage].kind {
            StageKind::Service(svc) => (svc.system_of_record, svc.cache),
            _ => (false, None),
        };
        let mut outcome = outcome;
        if let Outcome::Ok { version, .. } = &mut outcome {
            // The answer carries the object as this visit has it; a write
            // that commits here makes its next version.
            *version = j.version;
            if system_of_record && !cacheable {
                if let Some(v) = self.versions.get_mut(key as usize) {
                    *v += 1;
                    *version = *v;
                }
            }
        }
        if let Some(spec) = spec {
            let st = &mut self.stages[j.stage];
            let copy = if spec.per_instance {
                j.instance as usize
            } else {
                0
            };
            match outcome {
                Outcome::Ok {
                    degraded: false,
                    version,
                } if cacheable => {
                    let ttl = match (spec.protection, spec.ttl) {
                        (Protection::TtlJitter { fraction }, Some(ttl)) => Some(
                            stampede::jittered_ttl(ttl, fraction, st.cache_rng.uniform()),
                        ),
                        (_, ttl) => ttl,
                    };
                    let fill = Fill {
                        version,
                        cost: now - j.started,
                        ttl,
                    };
                    if let Some(c) = st.caches.get_mut(copy) {
                        c.store(u64::from(key), now, fill);
                    }
                    if j.fetch {
                        self.release_waiters(now, j.stage, copy as u32, key, outcome, Some(fill));
                    }
                }
                Outcome::Ok { version, .. } if !cacheable => {
                    // A write has committed below: every copy hears of it.
                    match spec.invalidation {
                        Invalidation::TtlOnly => {}
                        Invalidation::DeleteOnWrite => {
                            st.cache_stats.invalidations += 1;
                            for c in &mut st.caches {
                                c.invalidate(u64::from(key));
                            }
                        }
                        Invalidation::WriteThrough => {
                            st.cache_stats.invalidations += 1;
                            let fill = Fill {
                                version,
                                cost: now - j.started,
                                ttl: spec.ttl,
                            };
                            for c in &mut st.caches {
                                c.store(u64::from(key), now, fill);
                            }
                        }
                    }
                }
                // stale-if-error: an old answer rather than none.
                Outcome::Fail { .. }
                    if cacheable
                        && st
                            .caches
                            .get_mut(copy)
                            .is_some_and(|c| c.serve_stale(u64::from(key), now)) =>
                {
                    let version = st.caches.get(copy).and_then(|c| c.entry(u64::from(key)));
                    outcome = Outcome::Ok {
                        degraded: true,
                        version: version.map_or(0, |e| e.version),
                    };
                    self.rec.count(st.s_stale, now, 1.0);
                    if j.fetch {
                        self.release_waiters(now, j.stage, copy as u32, key, outcome, None);
                    }
                }
                _ if j.fetch => self.release_waiters(now, j.stage, copy as u32, key, outcome, None),
                _ => {}
            }
        }
        if matches!(outcome, Outcome::Fail { .. }) {
            let st = &mut self.stages[j.stage];
            st.errors += 1;
            self.rec.count(st.s_errors, now, 1.0);
        }
        if j.parent.0 == BACKGROUND {
            return;
        }
        let (call, gen) = j.parent;
        if call == CLIENT {
            self.client_answer(now, j.req, outcome);
            return;
        }
        self.on_reply(now, call, gen, outcome);
    }

    /// Takes a finished or cancelled job off its stage's books.
    fn leave_stage(&mut self, now: SimTime, j: &Job) {
        let st = &mut self.stages[j.stage];
        st.in_flight = st.in_flight.saturating_sub(1);
        if j.fetch {
            let copy = if st.per_instance_cache { j.instance } else { 0 };
            st.fetching_of(copy).end(u64::from(j.req.key));
        }
        if st.recomputing.of(u64::from(j.req.key)) > 0
            && self.topo.routes[j.req.route as usize].cacheable
        {
            st.recomputing.end(u64::from(j.req.key));
        }
        let inst = &mut st.instances[j.instance as usize];
        inst.load = inst.load.saturating_sub(1);
        if j.has_slot {
            inst.busy = inst.busy.saturating_sub(1);
            self.hand_slot_on(now, j.stage, j.instance);
        }
        self.show_stage(now, j.stage);
    }

    /// An async job waits for replies without its slot.
    fn give_back_slot(&mut self, now: SimTime, job: Ref) {
        let Some(j) = self.jobs.get_mut(job) else {
            return;
        };
        if !j.has_slot {
            return;
        }
        j.has_slot = false;
        let (stage, instance) = (j.stage, j.instance);
        let inst = &mut self.stages[stage].instances[instance as usize];
        inst.busy = inst.busy.saturating_sub(1);
        self.hand_slot_on(now, stage, instance);
        self.show_stage(now, stage);
    }

    /// A slot came free at an instance: the first job in its queue takes it.
    fn hand_slot_on(&mut self, now: SimTime, stage: StageId, instance: u32) {
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        loop {
            let inst = &mut self.stages[stage].instances[instance as usize];
            if inst.busy >= svc.slots {
                return;
            }
            let Some(next) = inst.queue.pop_front() else {
                return;
            };
            let Some(j) = self.jobs.get_mut(next) else {
                continue; // cancelled while queued
            };
            inst.busy += 1;
            j.has_slot = true;
            let resuming = j.phase == Phase::Resuming;
            if resuming {
                j.step += 1;
            }
            self.run_step(now, next);
        }
    }

    // ---- calls ----

    fn start_call(&mut self, now: SimTime, call: Ref) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let site = &self.sites[c.site as usize];
        if let Some(limit) = site.call.policy.bulkhead {
            if site.in_flight >= limit {
                self.call_done(now, call, Outcome::fail(Reason::BulkheadFull));
                return;
            }
        }
        if let Some(b) = self.sites[c.site as usize].budget.as_mut() {
            b.record_request(now);
        }
        self.launch_attempt(now, call);
    }

    fn launch_attempt(&mut self, now: SimTime, call: Ref) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        let site = &mut self.sites[c.site as usize];
        if let Some(b) = site.breaker.as_mut() {
            let permitted = b.try_acquire(now);
            if let Some(s) = site.s_breaker {
                self.rec.gauge(s, now, f64::from(b.state().code()));
            }
            if !permitted {
                // Fail fast: no retry while the breaker is open.
                let fallback = site.call.policy.fallback;
                let outcome = if fallback {
                    site.degraded += 1;
                    Outcome::Ok {
                        degraded: true,
                        version: 0,
                    }
                } else {
                    Outcome::fail(Reason::BreakerOpen)
                };
                self.call_done(now, call, outcome);
                return;
            }
        }
        c.attempt += 1;
        c.attempt_gen = c.attempt_gen.wrapping_add(1);
        c.attempt_started = now;
        c.phase = CallPhase::InFlight;
        c.callee = None;
        let gen = c.attempt_gen;
        let (req, to, site_id) = (c.req, site.call.to, c.site);
        site.in_flight += 1;
        site.attempts += 1;
        if c.attempt > 1 {
            let slot = now / RETRY_SLOT;
            site.retry_slot = match site.retry_slot {
                (s, n) if s == slot => (s, n + 1),
                _ => (slot, 1),
            };
            site.retry_peak = site.retry_peak.max(site.retry_slot.1);
        }
        if let Some(t) = site.call.policy.timeout {
            // A site's timeout is the same for every attempt, so its
            // deadlines come in the order the attempts start: a queue per
            // site with one timer event at its head, instead of one event
            // per attempt in the shared heap.
            site.deadlines.push_back((now + t, call, gen));
            self.arm_site_timer(site_id as usize);
        }
        if self.sites[site_id as usize].pool.is_some() {
            let token = DbToken {
                call,
                gen,
                site: site_id,
            };
            self.pool_acquire(now, to, token);
            return;
        }
        self.enter(now, to, req, (call, gen));
    }

    /// An attempt's answer arrived (from a job, a third party or a refusal).
    fn on_reply(&mut self, now: SimTime, call: Ref, gen: u32, outcome: Outcome) {
        if let Some(outcome) = self.cluster_reply(now, call, gen, outcome) {
            self.reply_arrived(now, call, gen, outcome);
        }
    }

    /// A reply through a replicated stage: the primary's answers to what
    /// it was doing when it died are lost, and a write is acknowledged
    /// only as its replication allows (None: later, by
    /// [`Ev::WriteAcked`]). Other replies pass unchanged.
    fn cluster_reply(
        &mut self,
        now: SimTime,
        call: Ref,
        gen: u32,
        outcome: Outcome,
    ) -> Option<Outcome> {
        let Some(c) = self
            .calls
            .get(call)
            .filter(|c| c.attempt_gen == gen && c.phase == CallPhase::InFlight)
        else {
            return Some(outcome);
        };
        let to = self.sites[c.site as usize].call.to;
        let StageKind::Replicated(r) = &self.topo.stages[to].kind else {
            return Some(outcome);
        };
        let (node, started) = (c.node, c.attempt_started);
        let write = self.topo.routes[c.req.route as usize].is_write();
        let cl = self.stages[to].cluster.as_mut()?;
        let died_meanwhile = cl.db.crashed_at().is_some_and(|t| t > started && t <= now);
        if node == Some(r.primary) && died_meanwhile {
            return Some(Outcome::fail(Reason::Down));
        }
        if !(write && matches!(outcome, Outcome::Ok { .. })) {
            return Some(outcome);
        }
        match cl.db.write(now) {
            WriteOutcome::Unavailable => Some(Outcome::fail(Reason::Down)),
            WriteOutcome::Acked(at) if at > now => {
                self.q.schedule(at, Ev::WriteAcked(call, gen));
                None
            }
            WriteOutcome::Acked(_) => Some(outcome),
        }
    }

    /// A synchronous write confirmed by the replica: its answer goes back,
    /// unless the primary died before sending it.
    fn write_acked(&mut self, now: SimTime, call: Ref, gen: u32) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let to = self.sites[c.site as usize].call.to;
        let started = c.attempt_started;
        let died = self.stages[to]
            .cluster
            .as_ref()
            .and_then(|cl| cl.db.crashed_at())
            .is_some_and(|t| t > started && t <= now);
        let outcome = if died {
            Outcome::fail(Reason::Down)
        } else {
            Outcome::DONE
        };
        self.reply_arrived(now, call, gen, outcome);
    }

    /// A replicated stage's primary dies now.
    fn crash(&mut self, now: SimTime, stage: StageId) {
        let Some(cl) = self.stages[stage].cluster.as_mut() else {
            return;
        };
        cl.db.crash(now);
        self.rec.gauge(cl.s_writable, now, 0.0);
        if let Some(t) = cl.db.writable_again_at().filter(|&t| t <= self.end) {
            self.q.schedule(t, Ev::Writable(stage as u32));
        }
    }

    /// What replicated stage `s` did (None: not one).
    pub fn replication(&self, s: StageId) -> Option<ReplicationStats> {
        let cl = self.stages.get(s)?.cluster.as_ref()?;
        Some(ReplicationStats {
            acked_writes: cl.db.acked(),
            lost_writes: cl.db.lost_writes(),
            write_unavailable_s: cl.db.write_unavailable(self.end) as f64 / SECOND as f64,
            reads_from_replica: cl.reads_from_replica,
            read_only_refused: cl.read_only_refused,
        })
    }

    /// A reply reaches its call: the attempt's outcome.
    fn reply_arrived(&mut self, now: SimTime, call: Ref, gen: u32, outcome: Outcome) {
        let current = self
            .calls
            .get(call)
            .is_some_and(|c| c.attempt_gen == gen && c.phase == CallPhase::InFlight);
        if let Some(site) = self.calls.get(call).map(|c| c.site as usize) {
            if let StageKind::ThirdParty(_) = self.topo.stages[self.sites[site].call.to].kind {
                self.third_party_done(now, self.sites[site].call.to);
            }
        }
        if !current {
            // Nobody waits for this answer any more: the work was orphaned.
            if !matches!(outcome, Outcome::Fail { reason, .. } if reason.at_door()) {
                self.totals.orphaned_work += 1;
            }
            return;
        }
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        c.callee = None;
        let site = &mut self.sites[c.site as usize];
        site.in_flight = site.in_flight.saturating_sub(1);
        let took = now - c.attempt_started;
        if let Some(b) = site.breaker.as_mut() {
            b.on_result(now, took, matches!(outcome, Outcome::Ok { .. }));
            if let Some(s) = site.s_breaker {
                self.rec.gauge(s, now, f64::from(b.state().code()));
            }
        }
        match outcome {
            Outcome::Ok { .. } => self.call_done(now, call, outcome),
            Outcome::Fail {
                reason,
                retry_after_s,
            } => self.attempt_failed(now, call, reason, retry_after_s),
        }
    }

    fn third_party_done(&mut self, now: SimTime, stage: StageId) {
        let st = &mut self.stages[stage];
        st.in_flight = st.in_flight.saturating_sub(1);
        self.rec.gauge(st.s_in_flight, now, f64::from(st.in_flight));
        self.rec.gauge(st.s_busy, now, f64::from(st.in_flight));
    }

    /// Fails every attempt of `site` whose deadline has come, then sets the
    /// timer for the next one.
    fn site_timer(&mut self, now: SimTime, site: usize) {
        self.sites[site].timer_armed = false;
        while let Some(&(deadline, call, gen)) = self.sites[site].deadlines.front() {
            if deadline > now {
                break;
            }
            self.sites[site].deadlines.pop_front();
            // May retry, which adds a later deadline and arms the timer.
            self.timeout(now, call, gen);
        }
        self.arm_site_timer(site);
    }

    /// Schedules `site`'s timer for its earliest deadline still awaited,
    /// dropping the deadlines of attempts already answered: a call that
    /// answers in time costs no timer event.
    fn arm_site_timer(&mut self, site: usize) {
        if self.sites[site].timer_armed {
            return;
        }
        while let Some(&(deadline, call, gen)) = self.sites[site].deadlines.front() {
            let waiting = self
                .calls
                .get(call)
                .is_some_and(|c| c.attempt_gen == gen && c.phase == CallPhase::InFlight);
            if waiting {
                self.sites[site].timer_armed = true;
                self.q.schedule(deadline, Ev::SiteTimer(site as u32));
                return;
            }
            self.sites[site].deadlines.pop_front();
        }
    }

    fn timeout(&mut self, now: SimTime, call: Ref, gen: u32) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        if c.attempt_gen != gen || c.phase != CallPhase::InFlight {
            return;
        }
        // Later answers to this attempt are stale.
        c.attempt_gen = c.attempt_gen.wrapping_add(1);
        c.phase = CallPhase::Backoff;
        let callee = c.callee.take();
        let site = &mut self.sites[c.site as usize];
        site.in_flight = site.in_flight.saturating_sub(1);
        let took = now - c.attempt_started;
        if let Some(b) = site.breaker.as_mut() {
            b.on_result(now, took, false);
            if let Some(s) = site.s_breaker {
                self.rec.gauge(s, now, f64::from(b.state().code()));
            }
        }
        if site.call.policy.on_timeout == OnTimeout::Cancel {
            if let Some(job) = callee {
                self.cancel_job(now, job);
            }
        }
        self.attempt_failed(now, call, Reason::Timeout, 0);
    }

    fn attempt_failed(&mut self, now: SimTime, call: Ref, reason: Reason, retry_after_s: u32) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        let site = &mut self.sites[c.site as usize];
        let policy = &site.call.policy;
        let may_retry =
            c.attempt <= policy.retries && site.budget.as_mut().is_none_or(|b| b.try_withdraw(now));
        if may_retry {
            let mut delay =
                policy
                    .backoff
                    .delay(c.attempt, c.previous_delay, &mut site.backoff_rng);
            if policy.honour_retry_after && retry_after_s > 0 {
                delay = delay.max(SimTime::from(retry_after_s) * SECOND);
            }
            c.previous_delay = delay;
            c.phase = CallPhase::Backoff;
            site.retries += 1;
            self.q.schedule(now + delay, Ev::Retry(call));
            return;
        }
        let outcome = if policy.fallback {
            site.degraded += 1;
            Outcome::Ok {
                degraded: true,
                version: 0,
            }
        } else {
            Outcome::Fail {
                reason,
                retry_after_s,
            }
        };
        self.call_done(now, call, outcome);
    }

    fn retry(&mut self, now: SimTime, call: Ref) {
        if self
            .calls
            .get(call)
            .is_some_and(|c| c.phase == CallPhase::Backoff)
        {
            self.launch_attempt(now, call);
        }
    }

    /// A call is over: its caller continues when the step's last call is.
    fn call_done(&mut self, now: SimTime, call: Ref, outcome: Outcome) {
        let Some(c) = self.calls.remove(call) else {
            return;
        };
        let job = match c.caller {
            Caller::Client => {
                // The request is over.
                let at_door = matches!(outcome, Outcome::Fail { reason, .. } if reason.at_door());
                self.end_request(now, c.req, outcome, at_door);
                return;
            }
            Caller::Message(msg) => {
                self.message_done(now, msg, outcome);
                return;
            }
            Caller::Job(job) => job,
        };
        let Some(j) = self.jobs.get_mut(job) else {
            return;
        };
        match outcome {
            Outcome::Ok { degraded, version } => {
                j.degraded |= degraded;
                j.version = j.version.max(version);
            }
            Outcome::Fail { reason, .. } => {
                j.step_failed.get_or_insert(reason);
            }
        }
        j.pending = j.pending.saturating_sub(1);
        if j.pending > 0 {
            return;
        }
        j.calls = None;
        if let Some(reason) = j.step_failed {
            self.finish_job(now, job, Outcome::fail(reason));
            return;
        }
        if j.has_slot {
            j.step += 1;
            self.run_step(now, job);
            return;
        }
        let (stage, instance) = (j.stage, j.instance);
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        if usize::from(j.step) + 1 >= svc.handlers[usize::from(j.handler)].steps.len() {
            // Nothing left to do: the answer goes back without a slot.
            let degraded = j.degraded;
            self.finish_job(
                now,
                job,
                Outcome::Ok {
                    degraded,
                    version: 0,
                },
            );
            return;
        }
        // An async job needs a slot again to go on.
        let inst = &mut self.stages[stage].instances[instance as usize];
        if inst.busy < svc.slots && inst.queue.is_empty() {
            inst.busy += 1;
            j.has_slot = true;
            j.step += 1;
            self.show_stage(now, stage);
            self.run_step(now, job);
        } else {
            j.phase = Phase::Resuming;
            inst.queue.push_back(job);
            self.show_stage(now, stage);
        }
    }

    /// Cancels `job` and everything it is waiting for.
    fn cancel_job(&mut self, now: SimTime, job: Ref) {
        let Some(j) = self.jobs.remove(job) else {
            return;
        };
        self.totals.cancelled += 1;
        if j.fetch {
            // Readers waiting on this recompute would wait forever.
            let copy = if self.stages[j.stage].per_instance_cache {
                j.instance
            } else {
                0
            };
            let failed = Outcome::fail(Reason::Timeout);
            self.release_waiters(now, j.stage, copy, j.req.key, failed, None);
        }
        if matches!(j.phase, Phase::Queued | Phase::Resuming) {
            let inst = &mut self.stages[j.stage].instances[j.instance as usize];
            if let Some(pos) = inst.queue.iter().position(|&r| r == job) {
                inst.queue.remove(pos);
            }
        }
        self.leave_stage(now, &j);
        let mut next = j.calls;
        while let Some(call) = next {
            let Some(c) = self.calls.remove(call) else {
                break;
            };
            next = c.sibling;
            if c.phase == CallPhase::InFlight {
                let site = &mut self.sites[c.site as usize];
                site.in_flight = site.in_flight.saturating_sub(1);
                if let Some(callee) = c.callee {
                    self.cancel_job(now, callee);
                }
            }
        }
    }

    // ---- queues ----

    /// Hands `stage`'s waiting messages to its consumers while it has
    /// deliveries to spare.
    fn dispatch(&mut self, now: SimTime, stage: StageId) {
        if !self.dispatching {
            self.dispatching = true;
            while let Some(mq) = self.stages[stage].mq.as_mut() {
                let Some(message) = mq.messages.take() else {
                    break;
                };
                let (site, req) = (mq.site, message.payload);
                let delivery = self.deliveries.insert((stage, message));
                let call =
                    self.calls
                        .insert(CallState::new(site, Caller::Message(delivery), req, now));
                self.start_call(now, call);
            }
            self.dispatching = false;
        }
        self.show_queue(now, stage);
    }

    /// A delivery is over: consumed, or put back (dead-lettered after its
    /// last attempt); the consumer's slot goes to the next message.
    fn message_done(&mut self, now: SimTime, delivery: Ref, outcome: Outcome) {
        let Some((stage, message)) = self.deliveries.remove(delivery) else {
            return;
        };
        let st = &mut self.stages[stage];
        let Some(mq) = st.mq.as_mut() else {
            return;
        };
        match outcome {
            Outcome::Ok { .. } => {
                mq.messages.succeed();
                mq.consumed += 1;
                mq.age.record(now - message.enqueued.min(now));
            }
            Outcome::Fail { .. } => match mq.messages.fail(message, false) {
                Retry::Requeued => mq.redelivered += 1,
                Retry::DeadLetter(_) => {
                    st.errors += 1;
                    self.rec.count(st.s_errors, now, 1.0);
                }
            },
        }
        self.dispatch(now, stage);
    }

    fn show_queue(&mut self, now: SimTime, stage: StageId) {
        let st = &mut self.stages[stage];
        if let Some(mq) = st.mq.as_ref() {
            let (waiting, busy) = (mq.messages.queued(), mq.messages.busy());
            st.queue_max = st.queue_max.max(waiting);
            st.busy_max = st.busy_max.max(busy as u32);
            st.in_flight = busy as u32;
            self.rec.gauge(st.s_queue, now, waiting as f64);
            self.rec.gauge(st.s_in_flight, now, busy as f64);
            self.rec.gauge(st.s_busy, now, busy as f64);
        }
    }

    // ---- databases and connection pools ----

    /// An autoscaled stage's controller syncs: it reads the slot
    /// utilization since its last sync and sets the instance count.
    fn autoscale(&mut self, now: SimTime, stage: StageId) {
        let slots = match &self.topo.stages[stage].kind {
            StageKind::Service(svc) => svc.slots,
            _ => return,
        };
        let st = &mut self.stages[stage];
        let Some(sc) = st.scaler.as_mut() else {
            return;
        };
        let busy = st.busy_area.map_or(0, |a| a.area_at(now));
        let areas = (busy, sc.capacity.area_at(now));
        let (used, offered) = (areas.0 - sc.at_sync.0, areas.1 - sc.at_sync.1);
        sc.at_sync = areas;
        let utilization = if offered == 0 {
            0.0
        } else {
            used as f64 / offered as f64
        };
        sc.fleet.advance(now);
        let (current, ready) = (sc.fleet.running(), sc.fleet.ready());
        let target = sc.hpa.evaluate_warming(now, current, ready, utilization);
        sc.fleet.scale_to(now, target);
        sc.running_max = sc.running_max.max(sc.fleet.running());
        if target > current {
            for _ in current..target {
                // A removed instance that has finished its work is reused,
                // so the list stays as long as the most ever running.
                let gone = st
                    .instances
                    .iter()
                    .position(|i| !i.serving && !i.warming && i.load == 0 && i.queue.is_empty());
                let i = match gone {
                    Some(i) => {
                        st.instances[i] = Instance::new(false);
                        i as u32
                    }
                    None => {
                        st.instances.push(Instance::new(false));
                        (st.instances.len() - 1) as u32
                    }
                };
                self.q
                    .schedule(now + sc.fleet.warmup(), Ev::InstanceReady(stage as u32, i));
            }
        } else if target < current {
            // As the fleet does: warming instances go first (the newest),
            // then the serving ones with the least work, which finish what
            // they hold but take nothing new.
            let mut remove = current - target;
            for inst in st.instances.iter_mut().rev() {
                if remove > 0 && inst.warming {
                    inst.warming = false;
                    remove -= 1;
                }
            }
            while remove > 0 {
                let Some(idle) = (0..st.instances.len())
                    .filter(|&i| st.instances[i].serving)
                    .min_by_key(|&i| (st.instances[i].load, std::cmp::Reverse(i)))
                else {
                    break;
                };
                st.instances[idle].serving = false;
                remove -= 1;
            }
        }
        self.show_capacity(now, stage, slots);
        let sync = self.stages[stage]
            .scaler
            .as_ref()
            .map_or(0, |sc| sc.hpa.spec().sync);
        if sync > 0 {
            self.q.schedule(now + sync, Ev::Autoscale(stage as u32));
        }
    }

    /// A load shedder looks at its signal and sheds or restores a class.
    fn shed_check(&mut self, now: SimTime, stage: StageId) {
        let StageKind::Service(svc) = &self.topo.stages[stage].kind else {
            return;
        };
        let Some(sh) = svc.shed else {
            return;
        };
        let st = &mut self.stages[stage];
        let slots: u64 = st
            .instances
            .iter()
            .filter(|i| i.serving)
            .map(|_| u64::from(svc.slots))
            .sum();
        let queued: usize = st.instances.iter().map(|i| i.queue.len()).sum();
        let Some(state) = st.shedder.as_mut() else {
            return;
        };
        let area = st.busy_area.map_or(0, |a| a.area_at(now));
        let used = area - state.at_check;
        state.at_check = area;
        let signal = match sh.signal {
            ShedSignal::Queue => queued as f64,
            ShedSignal::Utilization => {
                let offered = slots.saturating_mul(sh.every);
                if offered == 0 {
                    0.0
                } else {
                    used as f64 / offered as f64
                }
            }
        };
        state.shedder.observe(signal);
        let shed = f64::from(state.shedder.shed_classes());
        self.rec.gauge(state.s_shed, now, shed);
        self.q.schedule(now + sh.every, Ev::ShedCheck(stage as u32));
    }

    /// Instance `i` of `stage` has warmed up: it serves, unless the
    /// autoscaler has removed it meanwhile.
    fn instance_ready(&mut self, now: SimTime, stage: StageId, i: u32) {
        let slots = match &self.topo.stages[stage].kind {
            StageKind::Service(svc) => svc.slots,
            _ => return,
        };
        let st = &mut self.stages[stage];
        if let Some(sc) = st.scaler.as_mut() {
            sc.fleet.advance(now);
        }
        if let Some(inst) = st.instances.get_mut(i as usize) {
            if inst.warming {
                inst.warming = false;
                inst.serving = true;
            }
        }
        self.show_capacity(now, stage, slots);
    }

    /// Records an autoscaled stage's serving instances and their slots.
    fn show_capacity(&mut self, now: SimTime, stage: StageId, slots: u32) {
        let st = &mut self.stages[stage];
        let serving = st.instances.iter().filter(|i| i.serving).count() as u64;
        if let Some(sc) = st.scaler.as_mut() {
            sc.capacity.set(now, serving * u64::from(slots));
            self.rec.gauge(sc.s_instances, now, serving as f64);
            self.rec
                .gauge(sc.s_running, now, f64::from(sc.fleet.running()));
        }
    }

    /// Opens the connections each pool keeps from the start, before any
    /// request: sessions at its database, counted as opened, idle in the pool.
    fn open_pools_at_start(&mut self) {
        for site in 0..self.sites.len() {
            let stage = self.sites[site].call.to;
            let Some(spec) = self.sites[site].call.policy.pool else {
                continue;
            };
            let (Some(p), Some(d)) = (
                self.sites[site].pool.as_mut(),
                self.stages[stage].db.as_mut(),
            ) else {
                continue;
            };
            let want = (spec.open_at_start as usize).min(p.pool.size());
            let opened = (0..want).take_while(|_| d.db.connect()).count();
            d.opened += opened as u64;
            p.pool.open_idle(opened);
            self.show_db(0, stage);
        }
    }

    /// A pooled call asks its site's pool for a connection to `stage`.
    fn pool_acquire(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        let st = &mut self.stages[stage];
        st.arrivals += 1;
        self.rec.count(st.s_calls, now, 1.0);
        if self.fault_down(stage, now) {
            self.refuse_token(now, stage, token, Reason::Down);
            return;
        }
        let site = token.site as usize;
        let Some(p) = self.sites[site].pool.as_mut() else {
            return;
        };
        let grant = p.pool.acquire(now, token);
        if matches!(grant, Acquire::Wait) {
            self.arm_pool_timer(site);
        }
        self.pool_serve(now, stage, site, Some(grant));
    }

    /// Serves what a pool hands out: a ready connection, or a slot whose
    /// connection must be opened first (a refused open frees it again).
    fn pool_serve(
        &mut self,
        now: SimTime,
        stage: StageId,
        site: usize,
        mut grant: Option<Acquire<DbToken>>,
    ) {
        while let Some(g) = grant.take() {
            match g {
                Acquire::Ready(token) => self.db_query(now, stage, token),
                Acquire::MustOpen(token) => {
                    if !self.db_open(now, stage, token) {
                        self.pool_expire(now, site);
                        if let Some(p) = self.sites[site].pool.as_mut() {
                            p.pool.open_failed();
                            grant = p.pool.release(now).map(|(g, _)| g);
                        }
                    }
                }
                Acquire::Wait | Acquire::Full(_) => {}
            }
        }
        self.show_pool(now, site);
    }

    /// Opens a session for `token`: after the handshake its query starts;
    /// refused when the database has no session left.
    fn db_open(&mut self, now: SimTime, stage: StageId, token: DbToken) -> bool {
        let Some(d) = self.stages[stage].db.as_mut() else {
            return false;
        };
        if !d.db.connect() {
            d.refused += 1;
            self.refuse_token(now, stage, token, Reason::DbRefused);
            return false;
        }
        d.opened += 1;
        d.sessions_max = d.sessions_max.max(d.db.connections());
        let StageKind::Database(spec) = &self.topo.stages[stage].kind else {
            return false;
        };
        self.q
            .schedule(now + spec.connect, Ev::Connected(stage as u32, token));
        self.show_db(now, stage);
        true
    }

    fn refuse_token(&mut self, now: SimTime, stage: StageId, token: DbToken, reason: Reason) {
        let st = &mut self.stages[stage];
        st.errors += 1;
        self.rec.count(st.s_errors, now, 1.0);
        self.q.schedule(
            now,
            Ev::Answer(token.call, token.gen, Outcome::fail(reason)),
        );
    }

    fn db_connected(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        if token.site != NO_POOL {
            if let Some(p) = self.sites[token.site as usize].pool.as_mut() {
                p.pool.opened_one();
            }
        }
        self.db_query(now, stage, token);
    }

    /// A statement reaches the server on its connection. From now on its
    /// `statement_timeout` runs; it takes the table's shared lock (when a
    /// fault locks the table) before it reads pages and gets CPU.
    fn db_query(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        let started = self
            .calls
            .get(token.call)
            .map_or(now, |c| c.attempt_started);
        let StageKind::Database(spec) = &self.topo.stages[stage].kind else {
            return;
        };
        let timeout = spec.statement_timeout;
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        d.wait.record(now - started.min(now));
        if let Some(t) = timeout {
            d.deadlines.push_back((now.saturating_add(t), token));
            self.arm_statement_timer(stage);
        }
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        let Some(lock) = d.lock.as_mut() else {
            return self.db_read(now, stage, token);
        };
        match lock.acquire(now, LockHolder::Query(token), LockMode::Shared) {
            LockGrant::Granted => self.db_read(now, stage, token),
            LockGrant::Queued => {
                set_phase(d, token, StmtPhase::Lock { since: now });
                self.show_lock(now, stage);
            }
        }
    }

    /// Records how many wait for the table's lock.
    fn show_lock(&mut self, now: SimTime, stage: StageId) {
        if let Some(d) = self.stages[stage].db.as_ref() {
            if let Some(lock) = d.lock.as_ref() {
                self.rec.gauge(d.s_lock_waiting, now, lock.waiting() as f64);
            }
        }
    }

    /// A statement with its lock reads the pages its buffer cache lacks
    /// (queued with everyone's reads at the disk), then gets CPU.
    fn db_read(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        let StageKind::Database(spec) = &self.topo.stages[stage].kind else {
            return;
        };
        let Some(st) = spec.storage else {
            return self.db_run(now, stage, token);
        };
        let path = self.access_path(stage, now, st.path);
        let cache_pages = (st.cache_pages as f64 * self.cache_share(stage, now)).floor() as u64;
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        let cost = st.table.query(path, st.matching);
        d.queries += 1;
        d.rows_examined += cost.rows_examined;
        let hit = crate::parts::query::buffer_hit_ratio(cache_pages, st.table.pages());
        let expected = cost.pages as f64 * (1.0 - hit);
        let mut misses = expected.floor() as u64;
        if d.disk_rng.uniform() < expected - expected.floor() {
            misses += 1;
        }
        if misses == 0 {
            return self.db_run(now, stage, token);
        }
        set_phase(d, token, StmtPhase::Disk);
        let read = d.disk.read(now, misses);
        self.rec
            .gauge(d.s_disk_backlog, now, d.disk.backlog(now) as f64 / 1e6);
        self.q.schedule(read, Ev::DiskRead(stage as u32, token));
    }

    /// A statement's pages have come; one cancelled meanwhile is gone (its
    /// reads were already queued at the disk, which does them anyway).
    fn disk_read(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        let gone = self.stages[stage]
            .db
            .as_ref()
            .and_then(|d| d.live.as_ref())
            .is_some_and(|live| live.get(&token) != Some(&StmtPhase::Disk));
        // The backlog falls as reads complete (it is shown at its peaks
        // when reads are asked for, and here on the way down).
        if let Some(d) = self.stages[stage].db.as_ref() {
            self.rec
                .gauge(d.s_disk_backlog, now, d.disk.backlog(now) as f64 / 1e6);
        }
        if !gone {
            self.db_run(now, stage, token);
        }
    }

    /// A query whose pages are in memory gets its CPU: `query`'s draw plus
    /// its rows examined (by the access path in force now).
    fn db_run(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        let StageKind::Database(spec) = &self.topo.stages[stage].kind else {
            return;
        };
        let path = spec.storage.map(|st| self.access_path(stage, now, st.path));
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        let mut seconds = spec.query.sample(&mut d.query_rng);
        if let (Some(st), Some(path)) = (spec.storage, path) {
            seconds += st.table.query(path, st.matching).rows_examined as f64 * st.cpu_per_row;
        }
        set_phase(d, token, StmtPhase::Cpu);
        d.db.start_query(now, secs(seconds), token);
        self.wake_db(now, stage);
        self.show_db(now, stage);
    }

    /// Keeps one wake-up per database, at the earliest finish it has been
    /// told: a query that would finish sooner gets a new one, and one that
    /// comes early (queries started since, each running slower) sets the
    /// next. Heap entries it replaces are skipped when their time comes.
    fn wake_db(&mut self, now: SimTime, stage: StageId) {
        if let Some(d) = self.stages[stage].db.as_mut() {
            if let Some(at) = d.db.next_finish(now) {
                if d.wake_at.is_none_or(|w| w > at) {
                    d.wake_at = Some(at);
                    self.q.schedule(at, Ev::DbWake(stage as u32, at));
                }
            }
        }
    }

    /// Queries due at `now` are done: each commits (or sits idle in its
    /// transaction first) and answers its call.
    fn db_wake(&mut self, now: SimTime, stage: StageId, at: SimTime) {
        let mut done = std::mem::take(&mut self.db_done);
        let due = self.stages[stage].db.as_mut().is_some_and(|d| {
            if d.wake_at != Some(at) {
                return false; // replaced by an earlier one
            }
            d.wake_at = None;
            d.db.finish_due(now, &mut done);
            true
        });
        if due {
            let idle = self.fault_idle(stage, now);
            for token in done.drain(..) {
                if idle > 0 {
                    if let Some(d) = self.stages[stage].db.as_mut() {
                        set_phase(d, token, StmtPhase::Idle);
                    }
                    self.q.schedule(now + idle, Ev::TxnEnd(stage as u32, token));
                } else {
                    self.commit(now, stage, token);
                }
            }
            self.wake_db(now, stage);
            self.show_db(now, stage);
        }
        done.clear();
        self.db_done = done;
    }

    /// A statement's transaction commits: it answers its call.
    fn commit(&mut self, now: SimTime, stage: StageId, token: DbToken) {
        self.end_statement(now, stage, token, Outcome::DONE);
    }

    /// A statement ends (committed or cancelled): it lets go of the table's
    /// lock, or stops waiting for it; gives its connection back (to the
    /// next waiter, or closes it); and its call hears `outcome`.
    fn end_statement(&mut self, now: SimTime, stage: StageId, token: DbToken, outcome: Outcome) {
        let phase = self.stages[stage]
            .db
            .as_mut()
            .and_then(|d| d.live.as_mut())
            .and_then(|live| live.remove(&token));
        let waiting = matches!(phase, Some(StmtPhase::Lock { .. }));
        // A waiter cancelled still waited: its wait counts.
        if let (Some(StmtPhase::Lock { since }), Some(d)) = (phase, self.stages[stage].db.as_mut())
        {
            d.lock_wait.record(now - since.min(now));
        }
        self.unlock(now, stage, LockHolder::Query(token), waiting);
        if token.site == NO_POOL {
            if let Some(d) = self.stages[stage].db.as_mut() {
                d.db.disconnect();
            }
        } else {
            let site = token.site as usize;
            self.pool_expire(now, site);
            let next = self.sites[site]
                .pool
                .as_mut()
                .and_then(|p| p.pool.release(now).map(|(g, _)| g));
            self.pool_serve(now, stage, site, next);
        }
        self.on_reply(now, token.call, token.gen, outcome);
        self.show_db(now, stage);
    }

    // ---- the table's lock ----

    /// `who` lets go of the table's lock (or, `waiting`, leaves its queue);
    /// whoever that lets through goes on.
    fn unlock(&mut self, now: SimTime, stage: StageId, who: LockHolder, waiting: bool) {
        let Some(lock) = self.stages[stage].db.as_mut().and_then(|d| d.lock.as_mut()) else {
            return;
        };
        let granted = if waiting {
            lock.give_up(who)
        } else {
            lock.release(who)
        };
        for g in granted {
            match g {
                LockHolder::Query(token) => {
                    if let Some(d) = self.stages[stage].db.as_mut() {
                        let since = d.live.as_ref().and_then(|l| match l.get(&token) {
                            Some(&StmtPhase::Lock { since }) => Some(since),
                            _ => None,
                        });
                        d.lock_wait.record(now - since.unwrap_or(now).min(now));
                    }
                    self.db_read(now, stage, token);
                }
                LockHolder::Fault(i) => self.lock_fault_granted(now, i),
            }
        }
        self.wake_db(now, stage);
        self.show_lock(now, stage);
    }

    /// A lock-taking fault asks for its lock, lets go, or gives up.
    fn lock_fault(&mut self, now: SimTime, i: u32, step: LockStep) {
        let Some(&f) = self.topo.faults.get(i as usize) else {
            return;
        };
        let who = LockHolder::Fault(i);
        let stage = f.target;
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        let Some(lock) = d.lock.as_mut() else {
            return;
        };
        match (step, f.kind) {
            (LockStep::Begin, FaultKind::LongTransaction) => {
                lock.acquire(now, who, LockMode::Shared);
                self.q.schedule(f.end(), Ev::LockFault(i, LockStep::End));
            }
            (LockStep::Begin, FaultKind::Migration { lock_timeout }) => {
                let grant = lock.acquire(now, who, LockMode::Exclusive);
                self.show_lock(now, stage);
                match grant {
                    LockGrant::Granted => self.lock_fault_granted(now, i),
                    LockGrant::Queued => {
                        if let Some(t) = lock_timeout {
                            self.q.schedule(now + t, Ev::LockFault(i, LockStep::GiveUp));
                        }
                    }
                }
            }
            (LockStep::GiveUp, _) => {
                if lock.is_waiting(who) {
                    d.migrations_gave_up += 1;
                    self.unlock(now, stage, who, true);
                    self.show_migration(now, i, "migration gave up");
                }
            }
            (LockStep::End, kind) => {
                let waiting = lock.is_waiting(who);
                self.unlock(now, stage, who, waiting);
                if matches!(kind, FaultKind::Migration { .. }) {
                    self.show_migration(now, i, "migration");
                }
            }
            (LockStep::Begin, _) => {}
        }
    }

    /// Puts migration `i` on the timeline, from asking for its lock to
    /// `now`, once.
    fn show_migration(&mut self, now: SimTime, i: u32, label: &str) {
        let Some(at) = self.migrations_unshown.iter().position(|&m| m == i) else {
            return;
        };
        self.migrations_unshown.swap_remove(at);
        if let Some(f) = self.topo.faults.get(i as usize) {
            let stage = self.topo.stages[f.target].name.as_str();
            self.rec
                .fault(f.start, now.saturating_sub(f.start), stage, label.into());
        }
    }

    /// A migration got its exclusive lock: it holds it for its duration.
    /// (A long transaction's end is fixed from its start.)
    fn lock_fault_granted(&mut self, now: SimTime, i: u32) {
        if let Some(f) = self.topo.faults.get(i as usize) {
            if matches!(f.kind, FaultKind::Migration { .. }) {
                self.q
                    .schedule(now + f.duration, Ev::LockFault(i, LockStep::End));
            }
        }
    }

    // ---- statement_timeout ----

    /// One timer per database, at its oldest statement's deadline (they
    /// come in arrival order, one timeout for all).
    fn arm_statement_timer(&mut self, stage: StageId) {
        let Some(d) = self.stages[stage].db.as_mut() else {
            return;
        };
        if d.timer_armed {
            return;
        }
        if let Some(&(deadline, _)) = d.deadlines.front() {
            d.timer_armed = true;
            self.q.schedule(deadline, Ev::StatementTimer(stage as u32));
        }
    }

    /// Cancels every statement whose `statement_timeout` has come and is
    /// still waiting for the lock, the disk or CPU (one done and idle in
    /// its transaction is no longer a statement; one answered is gone).
    fn statement_timer(&mut self, now: SimTime, stage: StageId) {
        if let Some(d) = self.stages[stage].db.as_mut() {
            d.timer_armed = false;
        }
        loop {
            let Some(d) = self.stages[stage].db.as_mut() else {
                return;
            };
            let Some(&(deadline, token)) = d.deadlines.front() else {
                break;
            };
            if deadline > now {
                break;
            }
            d.deadlines.pop_front();
            let phase = d.live.as_ref().and_then(|l| l.get(&token).copied());
            match phase {
                None | Some(StmtPhase::Idle) => continue,
                Some(StmtPhase::Cpu) => {
                    d.db.cancel(now, |t| *t == token);
                }
                Some(StmtPhase::Lock { .. } | StmtPhase::Disk) => {}
            }
            d.statement_timeouts += 1;
            self.end_statement(now, stage, token, Outcome::fail(Reason::StatementTimeout));
        }
        self.wake_db(now, stage);
        self.arm_statement_timer(stage);
        self.show_db(now, stage);
    }

    // ---- storage faults ----

    /// The access path queries take now: a full scan while a
    /// [`FaultKind::FullScan`] lasts.
    fn access_path(&self, stage: StageId, now: SimTime, usual: AccessPath) -> AccessPath {
        let dropped = self
            .topo
            .faults
            .iter()
            .any(|f| f.target == stage && f.kind == FaultKind::FullScan && f.active(now));
        if dropped {
            AccessPath::FullScan
        } else {
            usual
        }
    }

    /// The share of the buffer cache still holding the working set.
    fn cache_share(&self, stage: StageId, now: SimTime) -> f64 {
        self.topo
            .faults
            .iter()
            .filter(|f| f.target == stage && f.active(now))
            .filter_map(|f| match f.kind {
                FaultKind::ColdCache(share) => Some(share),
                _ => None,
            })
            .product()
    }

    /// How long a finished statement's transaction stays open now.
    fn fault_idle(&self, stage: StageId, now: SimTime) -> SimTime {
        let s: f64 = self
            .topo
            .faults
            .iter()
            .filter(|f| f.target == stage && f.active(now))
            .filter_map(|f| match f.kind {
                FaultKind::IdleInTransaction(s) => Some(s),
                _ => None,
            })
            .sum();
        secs(s)
    }

    /// Waiters time out in the order they came (one timeout for all), so
    /// a pool needs one timer, at its oldest waiter's deadline, rather than
    /// one event per waiter: most are served long before theirs.
    fn arm_pool_timer(&mut self, site: usize) {
        let Some(p) = self.sites[site].pool.as_mut() else {
            return;
        };
        if p.timer_armed {
            return;
        }
        if let Some(deadline) = p.pool.next_timeout() {
            p.timer_armed = true;
            self.q.schedule(deadline, Ev::PoolTimer(site as u32));
        }
    }

    /// `site`'s pool timer: fails the waiters whose deadline has come and
    /// sets the timer for the next one.
    fn pool_timer(&mut self, now: SimTime, site: usize) {
        if let Some(p) = self.sites[site].pool.as_mut() {
            p.timer_armed = false;
        }
        self.pool_expire(now, site);
        self.arm_pool_timer(site);
    }

    /// Fails every waiter of `site`'s pool whose acquire timeout has come.
    fn pool_expire(&mut self, now: SimTime, site: usize) {
        let Some(p) = self.sites[site].pool.as_mut() else {
            return;
        };
        if p.pool.next_timeout().is_none_or(|due| due > now) {
            return; // nobody's wait is over: nothing changes
        }
        let mut expired = std::mem::take(&mut self.expired);
        p.pool.expire(now, |_, token| expired.push(token));
        p.timeouts += expired.len() as u64;
        for token in expired.drain(..) {
            self.on_reply(
                now,
                token.call,
                token.gen,
                Outcome::fail(Reason::AcquireTimeout),
            );
        }
        self.expired = expired;
        self.show_pool(now, site);
    }

    fn show_pool(&mut self, now: SimTime, site: usize) {
        if let Some(p) = self.sites[site].pool.as_mut() {
            let levels = (p.pool.in_use(), p.pool.waiting());
            if levels == p.shown {
                return; // a gauge set to its own value records nothing new
            }
            p.shown = levels;
            p.in_use.set(now, levels.0 as u64);
            self.rec.gauge(p.s_in_use, now, levels.0 as f64);
            self.rec.gauge(p.s_waiting, now, levels.1 as f64);
        }
    }

    fn show_db(&mut self, now: SimTime, stage: StageId) {
        if let Some(d) = self.stages[stage].db.as_mut() {
            let levels = (d.db.connections(), d.db.running());
            if levels == d.shown {
                return; // a gauge set to its own value records nothing new
            }
            d.shown = levels;
            d.sessions.set(now, levels.0 as u64);
            d.sessions_max = d.sessions_max.max(levels.0);
            self.rec.gauge(d.s_sessions, now, levels.0 as f64);
            self.rec.gauge(d.s_running, now, levels.1 as f64);
        }
    }

    // ---- faults ----

    fn fault_down(&self, stage: StageId, now: SimTime) -> bool {
        self.topo
            .faults
            .iter()
            .any(|f| f.target == stage && f.kind == FaultKind::Down && f.active(now))
    }

    fn fault_slow(&self, stage: StageId, now: SimTime) -> f64 {
        self.topo
            .faults
            .iter()
            .filter(|f| f.target == stage && f.active(now))
            .filter_map(|f| match f.kind {
                FaultKind::Slow(x) => Some(x),
                _ => None,
            })
            .product()
    }

    fn fault_errors(&self, stage: StageId, now: SimTime) -> f64 {
        self.topo
            .faults
            .iter()
            .filter(|f| f.target == stage && f.active(now))
            .filter_map(|f| match f.kind {
                FaultKind::Errors(p) => Some(p),
                _ => None,
            })
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod level_area_tests {
    use super::LevelArea;
    use crate::engine::time::SECOND;

    #[test]
    fn the_mean_level_weights_each_level_by_how_long_it_held() {
        // 0 for 1 s, 2 for 3 s, 5 for the last 1 s (set twice, at 4 s: the
        // second call changes nothing): (0 + 6 + 5) / 5 = 2.2.
        let mut l = LevelArea::default();
        l.set(SECOND, 2);
        l.set(4 * SECOND, 5);
        l.set(4 * SECOND, 5);
        assert_eq!(l.mean(5 * SECOND), 2.2);
        assert_eq!(LevelArea::default().mean(0), 0.0);
        // An absurd level saturates instead of wrapping round.
        let mut huge = LevelArea::default();
        huge.set(0, u64::MAX / 2);
        assert_eq!(huge.mean(4), u64::MAX as f64 / 4.0);
    }
}
