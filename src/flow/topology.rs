//! A topology as plain values: stages, what each does per route, the calls
//! between them with their policies, the traffic and the faults.
//!
//! Nothing here runs; [`super::Sim`] does. A topology is data so that it can
//! be built at run time (from a scenario's parameters today, from a URL in
//! the sandbox later) and checked before a run ([`Topology::validate`]).

use super::balance::Policy;
use super::breaker::BreakerConfig;
use super::retry::BackoffPolicy;
use crate::engine::{Dist, SimTime};
use crate::parts::RateShape;

/// Index of a stage in [`Topology::stages`].
pub type StageId = usize;
/// Index of a route in [`Topology::routes`].
pub type RouteId = usize;

/// A whole system to simulate.
#[derive(Clone, Debug)]
pub struct Topology {
    /// The stages, by index.
    pub stages: Vec<Stage>,
    /// The endpoints requests arrive at.
    pub routes: Vec<Route>,
    /// Where the requests come from.
    pub sources: Vec<Source>,
    /// What goes wrong, and when.
    pub faults: Vec<Fault>,
}

/// An endpoint: the name results are reported under and the stage that
/// receives its requests.
#[derive(Clone, Debug)]
pub struct Route {
    /// Short name ("checkout"); metrics and series use it.
    pub name: String,
    /// The stage a request of this route enters first.
    pub entry: StageId,
    /// How the client calls it: how long it waits before giving up
    /// (`timeout`), whether it retries. A client that gives up leaves the
    /// work it started orphaned, as a browser or a gateway does.
    pub client: CallPolicy,
    /// Its requests' priority class: 0 (P0, the most important: checkout,
    /// login) to 2 (P2: recommendations); a load shedder turns away the
    /// highest numbers first. Importance belongs to the endpoint.
    pub class: u8,
    /// The latency its users are promised: a request that ends without an
    /// answer within it misses the objective (counted per second, and as
    /// `<route>.late_rps` when it is answered late). None: no objective.
    pub slo: Option<SimTime>,
    /// Whether a stage's cache may answer it (a read). A write, such as a
    /// checkout, always reaches the handler.
    pub cacheable: bool,
}

impl Route {
    /// Whether its requests write (a [`ReplicatedStage`] sends them to the
    /// primary): the routes no cache may answer.
    pub fn is_write(&self) -> bool {
        !self.cacheable
    }

    /// A route whose clients wait as long as it takes and never retry.
    pub fn new(name: &str, entry: StageId) -> Self {
        Self {
            name: name.into(),
            entry,
            client: CallPolicy::plain(),
            class: 0,
            slo: None,
            cacheable: true,
        }
    }
}

/// A stage: a named node of the diagram.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The data file's node id; the stage's series are `<name>.<series>`.
    pub name: String,
    /// What it is.
    pub kind: StageKind,
}

/// The closed set of stage kinds (a `match` per hop, no dynamic calls).
#[derive(Clone, Debug)]
pub enum StageKind {
    /// Instances with concurrency slots and a bounded queue, running a
    /// handler per route.
    Service(Service),
    /// Someone else's API: answers after its latency, with its own quota.
    ThirdParty(ThirdParty),
    /// Forwards each request to one of its targets, chosen by a policy.
    Balancer(BalancerStage),
    /// A database: sessions (connections) up to a limit, each running one
    /// query at a time on shared CPUs ([`crate::parts::Database`]).
    Database(DatabaseStage),
    /// Admits each request by its client's key, or refuses it at the door
    /// (`rate_limited`), with one of the algorithms of
    /// [`crate::parts::rate_limit`]; admitted ones go on to `next`.
    Limiter(LimiterStage),
    /// A message queue with consumers: the producer is answered as soon
    /// as its message is stored, and the work happens later.
    Queue(QueueStage),
    /// A primary database and its replica behind one address
    /// ([`crate::parts::ReplicatedDb`]): replication, failover when the
    /// primary goes down, and read-only mode.
    Replicated(ReplicatedStage),
}

/// A primary and a replica, both [`StageKind::Database`] stages, behind
/// one address (a proxy or a cluster manager such as Patroni in front of
/// PostgreSQL). Every query goes to the primary while it is up. A `Down`
/// fault on the primary is its crash: what it was answering is lost, and
/// the fault's duration is how long a manual recovery takes. A route that
/// is not `cacheable` writes; the others read.
#[derive(Clone, Debug)]
pub struct ReplicatedStage {
    /// Takes every query while it is up.
    pub primary: StageId,
    /// Follows the primary; promoted on failover.
    pub replica: StageId,
    /// Asynchronous (acknowledged at once, applied `lag` later, so a
    /// failover loses what was on its way) or synchronous (each write
    /// waits a round trip for the replica).
    pub replication: crate::parts::Replication,
    /// Automatic failover: the crash is noticed after `detect`, and the
    /// replica takes writes `promote` later, answering nothing while it is
    /// promoted. None: everything waits for the primary to come back.
    pub failover: Option<(SimTime, SimTime)>,
    /// Read-only mode: from the crash until a primary takes writes again,
    /// writes are refused at once (`read_only`) and reads go to the
    /// replica (except while it is promoted).
    pub read_only: bool,
}

/// A message queue in front of its consumers (SQS, RabbitMQ, a Kafka
/// consumer group). A call into it is answered as soon as the message is
/// stored; up to `capacity` messages wait, more are refused (`queue_full`).
/// Messages go out in arrival order, at most `prefetch` unacknowledged at
/// once (RabbitMQ's prefetch count; one per worker), through `deliver`,
/// whose timeout is the visibility timeout. A failed delivery puts the
/// message back at the end of the line, up to `max_deliveries` in all;
/// after the last one it goes to the dead-letter queue.
#[derive(Clone, Debug)]
pub struct QueueStage {
    /// Messages that may wait.
    pub capacity: u32,
    /// Deliveries in flight at most.
    pub prefetch: u32,
    /// Deliveries a message gets at most (at least 1).
    pub max_deliveries: u32,
    /// The consumers, and how messages are delivered to them.
    pub deliver: Call,
}

/// A database's capacity and its queries.
#[derive(Clone, Debug)]
pub struct DatabaseStage {
    /// CPUs shared by the running queries.
    pub cores: u32,
    /// Sessions it accepts at once; a connection beyond them is refused
    /// (`db_refused`).
    pub max_connections: u32,
    /// Efficiency lost per multiple of the cores in use beyond them (0.1:
    /// 10 %), for context switches and lock contention.
    pub contention: f64,
    /// Time to open a connection (the handshake).
    pub connect: SimTime,
    /// A query's CPU time on one core, seconds.
    pub query: Dist,
    /// The table the queries read, which adds CPU per row examined and
    /// disk reads for pages the buffer cache misses (None: `query` alone).
    pub storage: Option<Storage>,
    /// PostgreSQL's `statement_timeout`: a statement still unanswered this
    /// long after it reached the server (waiting for a lock, for the disk
    /// or for CPU) is cancelled and fails (`statement_timeout`); its
    /// connection and locks are freed at once. None: no limit.
    pub statement_timeout: Option<SimTime>,
}

/// The table a database stage's queries read, and what reading it costs
/// ([`crate::parts::query`]): each row examined by the access path costs
/// `cpu_per_row` on top of `query`, and each page the buffer cache misses
/// is read from the disk, in line with every other query's reads, before
/// the query gets CPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Storage {
    /// Its rows and layout.
    pub table: crate::parts::Table,
    /// Through an index or by a full scan.
    pub path: crate::parts::AccessPath,
    /// Rows each query returns.
    pub matching: u64,
    /// CPU per row examined, seconds.
    pub cpu_per_row: f64,
    /// Pages the buffer cache holds (the table's pages are the working
    /// set, touched uniformly).
    pub cache_pages: u64,
    /// Page reads per second the disk serves.
    pub iops: f64,
}

/// A client-side connection pool on a call into a database: at most `size`
/// connections, opened on first use and reused; callers wait in line for
/// one (FIFO) and give up after `acquire_timeout` (`acquire_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// Connections at most.
    pub size: u32,
    /// How long a caller waits for one (None: forever).
    pub acquire_timeout: Option<SimTime>,
    /// Connections already open when the run starts, idle (at most `size`,
    /// and only as many as the database accepts): a pool that fills itself
    /// at start-up, as HikariCP's fixed-size pool and MongoDB's
    /// `minPoolSize` do. The rest open on first use.
    pub open_at_start: u32,
}

/// A rate limiter in front of another stage.
#[derive(Clone, Debug)]
pub struct LimiterStage {
    /// Fixed window, sliding log, sliding counter or token bucket.
    pub algorithm: crate::parts::Algorithm,
    /// Requests per window per key (the bucket's capacity).
    pub limit: u64,
    /// The window.
    pub window: SimTime,
    /// The token bucket's refill, tokens per second.
    pub refill_per_s: f64,
    /// Where admitted requests go.
    pub next: StageId,
}

/// A service: `instances` × `slots` concurrent requests, the rest queued.
#[derive(Clone, Debug)]
pub struct Service {
    /// Identical instances behind the stage's own balancer.
    pub instances: u32,
    /// Concurrent requests per instance (threads, workers, connections).
    pub slots: u32,
    /// Requests that may wait for a slot, per instance; beyond it they are
    /// rejected (`queue_full`).
    pub queue_limit: u32,
    /// How the stage picks an instance.
    pub balance: Policy,
    /// Thread-per-request (true): a request keeps its slot while it waits
    /// for a downstream reply. Async (false): it gives the slot back and
    /// queues for one again when the reply arrives.
    pub hold_slot_while_waiting: bool,
    /// What a request does here, by route (the first handler that lists
    /// the request's route, or lists none, applies).
    pub handlers: Vec<Handler>,
    /// A read-through cache in front of the handlers: a request for an
    /// object (its [`Request::key`](super::Request::key)) cached and fresh
    /// is answered at once, without a slot; one that completes fills it.
    pub cache: Option<CacheSpec>,
    /// A horizontal autoscaler sizing the instances (`instances` is then
    /// the count at the start); none keeps the count fixed.
    pub autoscale: Option<Autoscale>,
    /// A load shedder at the door: under pressure it turns away the lowest
    /// priority classes first (answered `shed`, rejected).
    pub shed: Option<Shedding>,
    /// The system of record for the objects: a write (a route that is not
    /// cacheable) commits when its visit here ends well, making a new
    /// version of its object, and a read here sees the version committed
    /// when its visit began. Caches above it keep the version they were
    /// given, so a read answered with an older one than the latest commit
    /// is stale.
    pub system_of_record: bool,
}

/// When a service sheds load ([`crate::parts::shed`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shedding {
    /// Thresholds on the signal, with hysteresis.
    pub spec: crate::parts::ShedSpec,
    /// What it watches.
    pub signal: ShedSignal,
    /// How often it looks.
    pub every: SimTime,
}

/// The pressure a shedder watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedSignal {
    /// Requests waiting for a slot, over all instances, when it looks.
    Queue,
    /// Share of the slots busy, averaged since it last looked (0 to 1).
    Utilization,
}

/// How a service's instance count follows its load.
#[derive(Clone, Debug, PartialEq)]
pub struct Autoscale {
    /// The controller's rules ([`crate::parts::autoscale`]). Its metric is
    /// the stage's slot utilization over each sync period: slot-time used
    /// ÷ slot-time of the instances that were serving.
    pub hpa: crate::parts::HpaSpec,
    /// From an instance being asked for until it serves (image pull,
    /// start-up, warm caches).
    pub warmup: SimTime,
}

impl Service {
    /// One instance with `slots` slots and a queue of `queue_limit`, doing
    /// `steps` for every route, holding its slot while it waits for a
    /// reply or not (`hold_slot_while_waiting`), with no cache.
    pub fn new(
        slots: u32,
        queue_limit: u32,
        hold_slot_while_waiting: bool,
        steps: Vec<Step>,
    ) -> Self {
        Self {
            instances: 1,
            slots,
            queue_limit,
            balance: Policy::RoundRobin,
            hold_slot_while_waiting,
            handlers: vec![Handler {
                routes: vec![],
                steps,
            }],
            cache: None,
            autoscale: None,
            shed: None,
            system_of_record: false,
        }
    }
}

/// A cache's size and freshness ([`super::cache::Cache`]: LRU with a TTL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheSpec {
    /// Objects it holds at most (each copy, when per instance).
    pub capacity: usize,
    /// How long an entry stays fresh (None: forever).
    pub ttl: Option<SimTime>,
    /// `stale-if-error` (RFC 5861): a read the handlers fail is answered
    /// from a cached entry expired less than this long ago, as a degraded
    /// success (None: failures stay failures).
    pub stale_if_error: Option<SimTime>,
    /// One copy per instance, in its memory (an in-process L1: a request
    /// sees only the copy of the instance the balancer picked), or one
    /// copy the whole stage shares (false: Redis, Memcached).
    pub per_instance: bool,
    /// The time a hit takes to answer (0 in process; a network round trip
    /// for a shared cache). A miss's lookup belongs in the handler.
    pub hit_latency: SimTime,
    /// What a write passing through does to the cached object.
    pub invalidation: Invalidation,
    /// What readers do when the object is missing or about to expire
    /// ([`super::stampede`]). Its in-flight table belongs to the copy: a
    /// shared cache's is shared by every instance (a lock in Redis), an
    /// in-process one sees only its own instance's readers.
    pub protection: super::stampede::Protection,
}

impl CacheSpec {
    /// `capacity` objects fresh for `ttl` (None: forever), shared by the
    /// stage, answering hits at once, serving nothing stale, left alone by
    /// writes and with no stampede protection.
    pub fn new(capacity: usize, ttl: Option<SimTime>) -> Self {
        Self {
            capacity,
            ttl,
            stale_if_error: None,
            per_instance: false,
            hit_latency: 0,
            invalidation: Invalidation::TtlOnly,
            protection: super::stampede::Protection::None,
        }
    }
}

/// What a write (a route that is not cacheable) does to a cache it passes
/// through, once the system of record has taken it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// Nothing: the old value stays until its TTL ends.
    TtlOnly,
    /// The object is deleted from every copy (per-instance copies hear of
    /// it at once, as through a pub/sub channel), so the next read
    /// recomputes it.
    DeleteOnWrite,
    /// Every copy is given the new value.
    WriteThrough,
}

/// The steps a request goes through at a service.
#[derive(Clone, Debug)]
pub struct Handler {
    /// The routes this handler serves (empty: every route).
    pub routes: Vec<RouteId>,
    /// In order.
    pub steps: Vec<Step>,
}

/// One step of a handler.
#[derive(Clone, Debug)]
pub enum Step {
    /// Busy for a time drawn from the distribution, in seconds.
    Work(Dist),
    /// One downstream call; the next step waits for its reply.
    Call(Call),
    /// Several downstream calls at once; the next step waits for all.
    Parallel(Vec<Call>),
}

/// A call to another stage and the policies it is made with.
#[derive(Clone, Debug)]
pub struct Call {
    /// The callee.
    pub to: StageId,
    /// Timeout, retries, breaker, fallback, bulkhead.
    pub policy: CallPolicy,
}

/// What the callee's work becomes when its caller stops waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    /// It goes on and still costs capacity (counted as `orphaned_work`).
    Orphan,
    /// It is cancelled: dequeued, or its slot freed, and its own calls too.
    Cancel,
}

/// How a caller makes a call.
#[derive(Clone, Debug)]
pub struct CallPolicy {
    /// Fail the attempt at this deadline (None: wait forever).
    pub timeout: Option<SimTime>,
    /// What the callee's work becomes after a timeout.
    pub on_timeout: OnTimeout,
    /// Extra attempts after a failed one.
    pub retries: u32,
    /// The wait before each retry.
    pub backoff: BackoffPolicy,
    /// Wait at least what a 429's Retry-After says.
    pub honour_retry_after: bool,
    /// Retries allowed only while under this percentage of recent calls.
    pub retry_budget_pct: Option<f64>,
    /// A circuit breaker on this call.
    pub breaker: Option<BreakerConfig>,
    /// On final failure, answer with a fallback (the request completes
    /// `degraded`) instead of failing the caller.
    pub fallback: bool,
    /// At most this many of these calls in flight from the caller; more
    /// fail at once (`bulkhead_full`), so they cannot take every slot.
    pub bulkhead: Option<u32>,
    /// Calls into a database through a connection pool (None: each call
    /// opens its own connection and closes it after).
    pub pool: Option<PoolSpec>,
}

impl CallPolicy {
    /// True when nothing happens between the call and its answer: no
    /// deadline, retry, breaker, fallback, bulkhead or pool (the backoff
    /// and Retry-After settings only matter with retries).
    pub fn is_plain(&self) -> bool {
        self.timeout.is_none()
            && self.retries == 0
            && self.retry_budget_pct.is_none()
            && self.breaker.is_none()
            && !self.fallback
            && self.bulkhead.is_none()
            && self.pool.is_none()
    }

    /// Wait forever, never retry: a plain call.
    pub fn plain() -> Self {
        Self {
            timeout: None,
            on_timeout: OnTimeout::Orphan,
            retries: 0,
            backoff: BackoffPolicy {
                kind: super::retry::Backoff::None,
                base: 0,
                cap: 0,
            },
            honour_retry_after: false,
            retry_budget_pct: None,
            breaker: None,
            fallback: false,
            bulkhead: None,
            pool: None,
        }
    }
}

/// A third-party API: unlimited concurrency, a latency, a quota per key.
#[derive(Clone, Debug)]
pub struct ThirdParty {
    /// Time to answer, seconds.
    pub latency: Dist,
    /// Calls allowed per window per API key (None: no quota).
    pub quota: Option<Quota>,
}

/// A provider's quota.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    /// Calls per window per key.
    pub limit: u64,
    /// Window length.
    pub window: SimTime,
    /// API keys the callers rotate through (round robin).
    pub keys: u32,
    /// How the provider counts.
    pub rule: QuotaRule,
}

/// How a provider counts calls against a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaRule {
    /// `limit` per window, the windows aligned on multiples of its length
    /// ([`super::quota::Quota`]).
    FixedWindow,
    /// One call earned every `window / limit`, up to `burst` saved
    /// ([`super::quota::TokenBucket`]); with `charge_refused`, refused
    /// calls cost a call too.
    TokenBucket {
        /// Calls a key may save up.
        burst: u64,
        /// Whether a 429 still counts against the key.
        charge_refused: bool,
    },
}

/// A load balancer in front of other stages.
#[derive(Clone, Debug)]
pub struct BalancerStage {
    /// How it picks.
    pub policy: Policy,
    /// The stages it spreads requests over.
    pub targets: Vec<StageId>,
}

/// Where requests come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Open loop: arrivals at a rate whatever the responses (users).
    Open {
        /// Requests per second over time.
        shape: RateShape,
        /// Poisson (true) or evenly spaced arrivals.
        poisson: bool,
        /// Each arrival's route, by share (the shares need not sum to 1).
        routes: Vec<(RouteId, f64)>,
        /// Which object each request asks for (None: all ask for object 0).
        objects: Option<Objects>,
        /// Client keys the requests come from, equally likely (0 or 1: all
        /// from client 0); a limiter counts per key.
        clients: u64,
    },
    /// Requests at given times, all from one client (a scripted burst).
    Scheduled {
        /// When each request arrives.
        times: Vec<SimTime>,
        /// Their route.
        route: RouteId,
        /// Their client key.
        client: u32,
    },
    /// Closed loop: `jobs` requests worked through by `workers` callers,
    /// each starting its next when the last one ended (a batch), or a
    /// think time after it (users: `jobs` at `u64::MAX` for as long as the
    /// run lasts).
    Batch {
        /// How many in all.
        jobs: u64,
        /// How many at a time.
        workers: u32,
        /// Their route.
        route: RouteId,
        /// Which object each job asks for (None: all ask for object 0).
        objects: Option<Objects>,
        /// A job that fails goes back to the end of the batch's queue (as a
        /// job queue retries it), instead of being given up; its worker
        /// starts its next job no sooner than [`REQUEUE_PAUSE`] after the
        /// failed one started.
        requeue_failed: bool,
        /// Seconds each caller waits after a request ends before it starts
        /// the next, and before its first (None: none). Users who read a
        /// page before clicking on: with N of them, a think time Z and a
        /// response time R, they send N ÷ (Z + R) requests per second (the
        /// interactive response-time law), so a slower system is sent less.
        think: Option<Dist>,
    },
}

/// The least time between the start of a batch job that failed and its
/// worker's next start, when failed jobs are requeued.
pub const REQUEUE_PAUSE: SimTime = crate::engine::time::SECOND;

impl Source {
    /// Poisson arrivals at a steady `rate` per second, all to route 0, from
    /// anonymous clients with no objects: the plainest traffic.
    pub fn poisson(rate: f64) -> Self {
        Source::Open {
            shape: RateShape::Flat(rate),
            poisson: true,
            routes: vec![(0, 1.0)],
            objects: None,
            clients: 0,
        }
    }

    /// The objects its requests ask for.
    pub fn objects(&self) -> Option<Objects> {
        match self {
            Source::Open { objects, .. } | Source::Batch { objects, .. } => *objects,
            Source::Scheduled { .. } => None,
        }
    }
}

/// The objects requests ask for, and how popular each is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objects {
    /// Objects `0..count`.
    pub count: u64,
    /// How requests pick one.
    pub popularity: Popularity,
}

/// How requests spread over objects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Popularity {
    /// Every object equally likely.
    Uniform,
    /// Object k (from 0) has weight (k + 1)^−s.
    Zipf(f64),
}

/// Something going wrong at a stage for a while.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    /// When it starts.
    pub start: SimTime,
    /// How long it lasts.
    pub duration: SimTime,
    /// Which stage.
    pub target: StageId,
    /// What happens.
    pub kind: FaultKind,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// Refuses every request (`down`).
    Down,
    /// Work and latency take this many times longer.
    Slow(f64),
    /// Each request fails with this probability (`error`).
    Errors(f64),
    /// Open sources send this many times their rate (the target is ignored).
    Traffic(f64),
    /// The database's queries read their table by a full scan (an index
    /// dropped, or a deploy shipped a query no index covers).
    FullScan,
    /// The database's buffer cache holds only this share of its pages (a
    /// report or a backup read through it and evicted the working set), so
    /// more reads go to the disk.
    ColdCache(f64),
    /// Every statement that finishes keeps its transaction, its connection
    /// and its locks this many more seconds ("idle in transaction": the
    /// code now calls another service before it commits). The database's
    /// CPU is idle meanwhile; the pool is not.
    IdleInTransaction(f64),
    /// A session holds a shared lock on the database's table for the
    /// fault's duration (a long report, or a transaction someone left
    /// open). It conflicts with nothing but an exclusive request.
    LongTransaction,
    /// A schema change (`ALTER TABLE`) asks for the table's exclusive lock
    /// at the fault's start and holds it for the fault's duration once
    /// granted. While it waits, every later query of the table waits
    /// behind it. With a `lock_timeout`, it gives up waiting after that
    /// long (and the queries behind it go on).
    Migration {
        /// Its `lock_timeout` (None: wait as long as it takes).
        lock_timeout: Option<SimTime>,
    },
}

impl FaultKind {
    /// What it does, short, as the charts and the diagram label it.
    pub fn label(&self) -> String {
        match *self {
            FaultKind::Down => "down".into(),
            FaultKind::Slow(x) => format!("slow ×{}", trim(x)),
            FaultKind::Errors(p) => format!("errors {} %", trim(100.0 * p)),
            FaultKind::Traffic(x) => format!("traffic ×{}", trim(x)),
            FaultKind::FullScan => "full scans".into(),
            FaultKind::ColdCache(f) => format!("cache {} %", trim(100.0 * f)),
            FaultKind::IdleInTransaction(s) => format!("idle in transaction {} s", trim(s)),
            FaultKind::LongTransaction => "long transaction".into(),
            FaultKind::Migration { .. } => "migration".into(),
        }
    }

    /// Whether it acts on a database's storage or locks, so its target
    /// must be a database (with storage, for the first two).
    fn needs_database(&self) -> Option<bool> {
        match self {
            FaultKind::FullScan | FaultKind::ColdCache(_) => Some(true),
            FaultKind::IdleInTransaction(_)
            | FaultKind::LongTransaction
            | FaultKind::Migration { .. } => Some(false),
            _ => None,
        }
    }
}

/// A factor as people write it: 20, 1.5, 0.25 (at most 3 decimals).
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Fault {
    /// Whether the fault is on at `now`.
    pub fn active(&self, now: SimTime) -> bool {
        now >= self.start && now - self.start < self.duration
    }

    /// When it ends.
    pub fn end(&self) -> SimTime {
        self.start.saturating_add(self.duration)
    }
}

impl Topology {
    /// Checks that every index points at something, every stage name is
    /// unique and non-empty, and every number is usable: a topology that
    /// passes runs without panicking.
    pub fn validate(&self) -> Result<(), String> {
        let stages = self.stages.len();
        let stage = |i: StageId, what: &str| -> Result<(), String> {
            if i < stages {
                Ok(())
            } else {
                Err(format!("{what} names stage {i}, but there are {stages}"))
            }
        };
        for (i, s) in self.stages.iter().enumerate() {
            if s.name.is_empty() || s.name.contains(char::is_whitespace) {
                return Err(format!("stage {i} needs a name without spaces"));
            }
            if self.stages[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("two stages are called '{}'", s.name));
            }
            match &s.kind {
                StageKind::Service(svc) => {
                    if svc.instances == 0 || svc.slots == 0 {
                        return Err(format!("'{}' needs at least one instance and slot", s.name));
                    }
                    if svc.shed.is_some_and(|sh| sh.every == 0) {
                        return Err(format!("'{}' sheds load but never looks", s.name));
                    }
                    if let Some(a) = &svc.autoscale {
                        let h = &a.hpa;
                        if h.min == 0
                            || h.min > h.max
                            || h.sync == 0
                            || h.target.is_nan()
                            || h.target <= 0.0
                        {
                            return Err(format!(
                                "'{}' autoscales with min {} max {}, sync {} ns and target {}: \
                                 it needs 1 ≤ min ≤ max, a sync period and a positive target",
                                s.name, h.min, h.max, h.sync, h.target
                            ));
                        }
                    }
                    for h in &svc.handlers {
                        for &r in &h.routes {
                            if r >= self.routes.len() {
                                return Err(format!("'{}' handles unknown route {r}", s.name));
                            }
                        }
                        for step in &h.steps {
                            let calls: &[Call] = match step {
                                Step::Work(_) => &[],
                                Step::Call(c) => std::slice::from_ref(c),
                                Step::Parallel(cs) => cs,
                            };
                            for c in calls {
                                stage(c.to, &format!("a call from '{}'", s.name))?;
                                if c.to == i {
                                    return Err(format!("'{}' calls itself", s.name));
                                }
                                let into_db =
                                    matches!(self.stages[c.to].kind, StageKind::Database(_));
                                if c.policy.pool.is_some() && !into_db {
                                    return Err(format!(
                                        "'{}' pools a call that is not into a database",
                                        s.name
                                    ));
                                }
                                // A running query cannot be taken back.
                                let into_cluster =
                                    matches!(self.stages[c.to].kind, StageKind::Replicated(_));
                                if (into_db || into_cluster)
                                    && c.policy.on_timeout == OnTimeout::Cancel
                                {
                                    return Err(format!(
                                        "'{}' cannot cancel a database query",
                                        s.name
                                    ));
                                }
                            }
                        }
                    }
                }
                StageKind::ThirdParty(tp) => {
                    if let Some(q) = tp.quota {
                        if q.window == 0
                            || q.keys == 0
                            || (q.limit == 0 && q.rule != QuotaRule::FixedWindow)
                        {
                            return Err(format!("'{}': a quota needs a window and a key", s.name));
                        }
                    }
                }
                StageKind::Database(d) => {
                    if d.cores == 0 || !(d.contention.is_finite() && d.contention >= 0.0) {
                        return Err(format!(
                            "database '{}' needs a core and a usable contention",
                            s.name
                        ));
                    }
                }
                StageKind::Queue(q) => {
                    stage(q.deliver.to, &format!("queue '{}'", s.name))?;
                    if q.deliver.to == i || q.prefetch == 0 {
                        return Err(format!(
                            "queue '{}' needs consumers other than itself and a prefetch of at least 1",
                            s.name
                        ));
                    }
                    if q.deliver.policy.pool.is_some() || q.deliver.policy.retries > 0 {
                        return Err(format!(
                            "queue '{}' neither pools nor retries its deliveries (it redelivers: max_deliveries)",
                            s.name
                        ));
                    }
                }
                StageKind::Limiter(l) => {
                    stage(l.next, &format!("limiter '{}'", s.name))?;
                    if l.next == i {
                        return Err(format!("limiter '{}' forwards to itself", s.name));
                    }
                }
                StageKind::Replicated(r) => {
                    stage(r.primary, &format!("replicated '{}'", s.name))?;
                    stage(r.replica, &format!("replicated '{}'", s.name))?;
                    let db = |t: StageId| matches!(self.stages[t].kind, StageKind::Database(_));
                    if r.primary == r.replica || !db(r.primary) || !db(r.replica) {
                        return Err(format!(
                            "replicated '{}' needs two different databases",
                            s.name
                        ));
                    }
                }
                StageKind::Balancer(b) => {
                    if b.targets.is_empty() {
                        return Err(format!("balancer '{}' has no targets", s.name));
                    }
                    for &t in &b.targets {
                        stage(t, &format!("balancer '{}'", s.name))?;
                        if matches!(self.stages[t].kind, StageKind::Balancer(_)) {
                            return Err(format!("balancer '{}' targets another balancer", s.name));
                        }
                    }
                }
            }
        }
        for r in &self.routes {
            stage(r.entry, &format!("route '{}'", r.name))?;
            if r.class >= crate::parts::shed::CLASSES {
                return Err(format!(
                    "route '{}' has priority class {}; the classes are 0, 1 and 2",
                    r.name, r.class
                ));
            }
        }
        for src in &self.sources {
            match src {
                Source::Open { routes, .. } => {
                    if routes
                        .iter()
                        .any(|&(r, w)| r >= self.routes.len() || w.is_nan() || w < 0.0)
                    {
                        return Err("a source names an unknown route or a bad share".into());
                    }
                }
                Source::Batch { route, .. } | Source::Scheduled { route, .. } => {
                    if *route >= self.routes.len() {
                        return Err("a batch or schedule names an unknown route".into());
                    }
                }
            }
            if let Some(o) = src.objects() {
                let bad_s =
                    matches!(o.popularity, Popularity::Zipf(x) if !(x.is_finite() && x >= 0.0));
                if o.count == 0 || o.count > u64::from(u32::MAX) || bad_s {
                    return Err(
                        "a source needs 1 to 2^32 − 1 objects and a usable Zipf exponent".into(),
                    );
                }
            }
        }
        for f in &self.faults {
            stage(f.target, "a fault")?;
            let bad = match f.kind {
                FaultKind::Slow(x) | FaultKind::Traffic(x) | FaultKind::IdleInTransaction(x) => {
                    !(x.is_finite() && x >= 0.0)
                }
                FaultKind::Errors(p) | FaultKind::ColdCache(p) => !(0.0..=1.0).contains(&p),
                FaultKind::Down
                | FaultKind::FullScan
                | FaultKind::LongTransaction
                | FaultKind::Migration { .. } => false,
            };
            if let Some(storage) = f.kind.needs_database() {
                let ok = match &self.stages[f.target].kind {
                    StageKind::Database(d) => !storage || d.storage.is_some(),
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "fault '{}' acts on a database{}, and '{}' is not one",
                        f.kind.label(),
                        if storage { " with storage" } else { "" },
                        self.stages[f.target].name
                    ));
                }
            }
            if bad {
                return Err(format!(
                    "fault on '{}' has a bad factor",
                    self.stages[f.target].name
                ));
            }
        }
        Ok(())
    }

    /// The stage called `name`.
    pub fn stage_id(&self, name: &str) -> Option<StageId> {
        self.stages.iter().position(|s| s.name == name)
    }
}
