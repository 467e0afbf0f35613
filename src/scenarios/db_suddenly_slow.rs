//! A database suddenly slow: it was fine, and at [`ONSET_S`] one cause
//! strikes. Each cause shows first in its own signal, which is how an
//! on-call engineer tells them apart.
//!
//! ```text
//!   users ──> [ app: threads, a connection pool ] ──pool──> [ db: cores, a table, a disk ]
//! ```
//!
//! Requests (Poisson, `rps`) each do a little app work and one indexed
//! lookup in a table of `table_rows` rows through the app's connection
//! pool (`pool_size`, opened at start, callers give up after
//! [`ACQUIRE_TIMEOUT_S`]). The table is cached in memory until a cause
//! strikes. The causes are faults of the shared flow layer on the
//! database, from [`ONSET_S`]:
//! - `missing_index`: a deploy ships a query the index does not cover, so
//!   every lookup scans the table (CPU per row examined); `add_index` is
//!   the fix, the index exists and nothing changes;
//! - `lock_contention`: a long transaction holds a shared lock on the table
//!   for `blocker_duration_s`; a second later a migration asks for the
//!   exclusive lock, holds it [`MIGRATION_S`] once granted, and gives up
//!   after `lock_timeout_ms` (0: never);
//! - `pool_exhaustion`: the handler now calls another service inside its
//!   transaction, so every connection stays busy [`IDLE_IN_TXN_S`] after
//!   its query, with the database idle;
//! - `disk_io`: a backup reads through the buffer cache for
//!   [`BACKUP_S`] and evicts the table: lookups read their pages from a
//!   disk of [`IOPS`] reads a second.
//!
//! `statement_timeout_ms` (0: none) cancels statements that wait or run
//! too long; `query_cache` puts a result cache in the app in front of the
//! database. Everything else is wiring of the shared flow layer.

use crate::engine::time::{millis, secs};
use crate::engine::{Dist, RunResult};
use crate::flow::{
    CacheSpec, Call, CallPolicy, DatabaseStage, Fault, FaultKind, Objects, PoolSpec, Popularity,
    Route, Service, Source, Stage, StageKind, Step, Storage, Topology,
};
use crate::parts::{AccessPath, Table};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// When the cause strikes, seconds into the run.
pub const ONSET_S: f64 = 30.0;
/// The app's own work per request, seconds.
pub const APP_S: f64 = 0.001;
/// A query's CPU time before its rows, seconds (mean, exponential).
pub const QUERY_S: f64 = 0.000_5;
/// CPU per row examined, seconds (0.1 µs: a million rows, 100 ms).
pub const CPU_PER_ROW_S: f64 = 1e-7;
/// Rows per 8 KB page, and keys per index page.
pub const ROWS_PER_PAGE: u64 = 80;
/// See [`ROWS_PER_PAGE`].
pub const INDEX_FANOUT: u64 = 300;
/// The database's cores and its session limit.
pub const DB_CORES: u32 = 4;
/// See [`DB_CORES`].
pub const DB_MAX_CONNECTIONS: u32 = 200;
/// Page reads a second the database's disk serves (a small cloud volume).
pub const IOPS: f64 = 500.0;
/// How long a caller waits for a pooled connection, seconds.
pub const ACQUIRE_TIMEOUT_S: f64 = 5.0;
/// How long users wait for an answer, seconds.
pub const PATIENCE_S: f64 = 10.0;
/// How long the migration holds the exclusive lock once granted, seconds.
pub const MIGRATION_S: f64 = 2.0;
/// The migration asks for its lock this long after the blocker starts.
pub const MIGRATION_AFTER_S: f64 = 1.0;
/// With pool exhaustion, how long each transaction stays open after its
/// query (the external call made inside it), seconds.
pub const IDLE_IN_TXN_S: f64 = 0.2;
/// With disk I/O, how long the backup runs, seconds.
pub const BACKUP_S: f64 = 60.0;
/// Distinct lookups (keys), Zipf-popular with exponent [`ZIPF_S`], and
/// the query cache's capacity and TTL.
pub const KEYS: u64 = 100_000;
/// See [`KEYS`].
pub const ZIPF_S: f64 = 1.0;
/// See [`KEYS`].
pub const QUERY_CACHE_ENTRIES: usize = 10_000;
/// See [`KEYS`].
pub const QUERY_CACHE_TTL_S: f64 = 60.0;

/// What strikes at the onset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The lookups scan the table.
    MissingIndex,
    /// A migration queues behind a long transaction.
    LockContention,
    /// Connections are held while the database idles.
    PoolExhaustion,
    /// The buffer cache is evicted and the disk saturates.
    DiskIo,
}

crate::choices!(Cause {
    Cause::MissingIndex = "missing_index",
    Cause::LockContention = "lock_contention",
    Cause::PoolExhaustion = "pool_exhaustion",
    Cause::DiskIo = "disk_io",
});

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    cause: Cause,
    table_rows: u64,
    add_index: bool,
    blocker_s: f64,
    lock_timeout_ms: f64,
    statement_timeout_ms: f64,
    pool_size: u32,
    query_cache: bool,
    rps: f64,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        Ok(Self {
            cause: p.pick::<Cause>("cause")?,
            table_rows: p.count("table_rows")?.max(1),
            add_index: p.flag("add_index")?,
            blocker_s: p.number("blocker_duration_s")?.max(0.0),
            lock_timeout_ms: p.number("lock_timeout_ms")?.max(0.0),
            statement_timeout_ms: p.number("statement_timeout_ms")?.max(0.0),
            pool_size: (p.count("pool_size")? as u32).max(1),
            query_cache: p.flag("query_cache")?,
            rps: p.number("rps")?.max(0.0),
        })
    }
}

/// The stages.
const APP: usize = 0;
const DB: usize = 1;

/// A fault on the database from `start_s` for `for_s` seconds.
fn on_db(start_s: f64, for_s: f64, kind: FaultKind) -> Fault {
    Fault {
        start: secs(start_s),
        duration: secs(for_s),
        target: DB,
        kind,
    }
}

fn topology(k: &Knobs) -> Topology {
    let table = Table {
        rows: k.table_rows,
        rows_per_page: ROWS_PER_PAGE,
        index_fanout: INDEX_FANOUT,
    };
    let to_db = Call {
        to: DB,
        policy: CallPolicy {
            pool: Some(PoolSpec {
                size: k.pool_size,
                acquire_timeout: Some(secs(ACQUIRE_TIMEOUT_S)),
                open_at_start: k.pool_size,
            }),
            ..CallPolicy::plain()
        },
    };
    // Threads enough for every request in flight: the app waits on the
    // database, it never runs out of threads first.
    let mut app = Service::new(
        10_000,
        0,
        true,
        vec![Step::Work(Dist::constant(APP_S)), Step::Call(to_db)],
    );
    app.cache = k
        .query_cache
        .then(|| CacheSpec::new(QUERY_CACHE_ENTRIES, Some(secs(QUERY_CACHE_TTL_S))));
    // Until the end of any run: the cause lasts until someone fixes it.
    let rest = 1e6;
    let faults = match k.cause {
        Cause::MissingIndex if k.add_index => vec![],
        Cause::MissingIndex => vec![on_db(ONSET_S, rest, FaultKind::FullScan)],
        Cause::LockContention => vec![
            on_db(ONSET_S, k.blocker_s, FaultKind::LongTransaction),
            on_db(
                ONSET_S + MIGRATION_AFTER_S,
                MIGRATION_S,
                FaultKind::Migration {
                    lock_timeout: (k.lock_timeout_ms > 0.0).then(|| millis(k.lock_timeout_ms)),
                },
            ),
        ],
        Cause::PoolExhaustion => vec![on_db(
            ONSET_S,
            rest,
            FaultKind::IdleInTransaction(IDLE_IN_TXN_S),
        )],
        Cause::DiskIo => vec![on_db(ONSET_S, BACKUP_S, FaultKind::ColdCache(0.0))],
    };
    let mut route = Route::new("lookups", APP);
    route.client.timeout = Some(secs(PATIENCE_S));
    Topology {
        stages: vec![
            Stage {
                name: "app".into(),
                kind: StageKind::Service(app),
            },
            Stage {
                name: "db".into(),
                kind: StageKind::Database(DatabaseStage {
                    cores: DB_CORES,
                    max_connections: DB_MAX_CONNECTIONS,
                    contention: 0.0,
                    connect: millis(5.0),
                    query: Dist::exponential(QUERY_S),
                    storage: Some(Storage {
                        table,
                        path: AccessPath::Index,
                        matching: 1,
                        cpu_per_row: CPU_PER_ROW_S,
                        cache_pages: table.pages(),
                        iops: IOPS,
                    }),
                    statement_timeout: (k.statement_timeout_ms > 0.0)
                        .then(|| millis(k.statement_timeout_ms)),
                }),
            },
        ],
        routes: vec![route],
        sources: vec![Source::Open {
            shape: crate::parts::RateShape::Flat(k.rps),
            poisson: true,
            routes: vec![(0, 1.0)],
            objects: Some(Objects {
                count: KEYS,
                popularity: Popularity::Zipf(ZIPF_S),
            }),
            clients: 0,
        }],
        faults,
    }
}

/// The topology `p` describes (for checks that its stages are the
/// diagram's nodes, and for the sandbox later).
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(super::flow_topology(p, Knobs::read, topology)?.1)
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let (_, topo) = super::flow_topology(p, Knobs::read, topology)?;
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.run();
    let db = sim
        .database(DB)
        .ok_or_else(|| SpecError::Invalid("db-suddenly-slow: no database".into()))?;
    let pool_timeouts = sim.pool(DB).map_or(0, |p| p.timeouts);
    let own = vec![
        ("p95_ms", sim.route_latency(0).quantile(0.95) / 1e6),
        ("db_cpu_pct", db.cpu_busy_pct),
        ("lock_wait_p99_ms", db.lock_wait_p99_ms),
        ("pool_wait_p99_ms", db.wait_p99_ms),
        ("disk_util_pct", db.disk_busy_pct),
        ("rows_scanned_per_query", db.rows_examined_per_query),
        ("timeouts", (db.statement_timeouts + pool_timeouts) as f64),
    ];
    Ok(sim.finish(own))
}
