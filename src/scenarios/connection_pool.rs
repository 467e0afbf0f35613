//! Database connection pooling: connect per request versus a reused pool,
//! and why a pool far bigger than the database's CPUs makes things worse.
//!
//! ```text
//!   requests ──> [ app: get a connection ] ──> [ database ]
//!  (Poisson,        pooling on:  pool of      db_cores CPUs shared by the
//!   arrival_rps)    pool_size, FIFO wait,     running queries; at most
//!                   acquire timeout           db_max_connections sessions
//!                   pooling off: open a new
//!                   connection (connect_ms)
//!                   per request, close after
//! ```
//!
//! Demonstrates: without a pool every request pays `connect_ms` and under
//! load the open sessions pass the database's limit (refusals); with a pool
//! the overhead is near zero; with exponential queries and enough cores the
//! pool is an M/M/c queue whose mean wait matches Erlang C; a pool far larger
//! than the cores lets hundreds of queries share the CPUs, the contention
//! overhead cuts the server's useful work below the arrival rate, every
//! connection stays busy in the database and the backlog waits in the app
//! until the acquire timeout. With `contention_pct` = 0 a pool of at least
//! `db_cores` connections keeps every core busy whenever there is enough
//! work, so a bigger pool changes neither throughput nor the mean latency:
//! the slowdown is the contention, made visible as a parameter.
//!
//! Parameters: `arrival_rps` (req/s), `query_ms` (mean single-core CPU time of
//! one query, ms), `query_dist` (constant | exponential | lognormal),
//! `pooling` (toggle), `pool_size` (connections), `warm_pool` (toggle: the
//! pool's connections are open before the traffic starts; off, each opens
//! on first use, as just after a deploy), `connect_ms` (ms to open one), `acquire_timeout_ms` (ms; 0 waits forever), `db_max_connections`
//! (sessions), `db_cores` (CPUs), `contention_pct` (% of CPU efficiency lost
//! per multiple of the cores in use beyond them: with `n` queries on `c`
//! cores the server does `1 / (1 + pct/100 × (n − c)/c)` of its best work;
//! it stands for context switches, lock and cache-line contention).

use crate::engine::time::millis;
use crate::engine::{Dist, RunResult};
use crate::flow::{
    Call, CallPolicy, DatabaseStage, PoolSpec, Route, Service, Source, Stage, StageKind, Step,
    Topology,
};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Spread (sigma of the underlying normal) of log-normal query times.
const LOGNORMAL_SIGMA: f64 = 0.8;

/// How query times are distributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueryDist {
    Constant,
    Exponential,
    Lognormal,
}

crate::choices!(QueryDist {
    QueryDist::Constant = "constant",
    QueryDist::Exponential = "exponential",
    QueryDist::Lognormal = "lognormal",
});

/// The parameters, read once.
struct Knobs {
    rps: f64,
    query: Dist,
    pooling: bool,
    warm: bool,
    pool_size: u32,
    connect_ms: f64,
    timeout_ms: f64,
    db_max: u32,
    cores: u32,
    contention: f64,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        let query_s = p.number("query_ms")? / 1_000.0;
        Ok(Self {
            rps: p.number("arrival_rps")?,
            query: match p.pick::<QueryDist>("query_dist")? {
                QueryDist::Constant => Dist::constant(query_s),
                QueryDist::Lognormal => Dist::lognormal(query_s, LOGNORMAL_SIGMA),
                QueryDist::Exponential => Dist::exponential(query_s),
            },
            pooling: p.flag("pooling")?,
            warm: p.flag("warm_pool")?,
            pool_size: p.count("pool_size")?.clamp(1, u64::from(u32::MAX)) as u32,
            connect_ms: p.number("connect_ms")?,
            timeout_ms: p.number("acquire_timeout_ms")?,
            db_max: p.count("db_max_connections")?.min(u64::from(u32::MAX)) as u32,
            cores: p.count("db_cores")?.clamp(1, u64::from(u32::MAX)) as u32,
            contention: p.number("contention_pct")?.max(0.0) / 100.0,
        })
    }
}

/// Stage indices, in the order [`topology`] builds them.
const APP: usize = 0;
const DB: usize = 1;

fn topology(k: &Knobs) -> Topology {
    let pool = k.pooling.then(|| PoolSpec {
        size: k.pool_size,
        acquire_timeout: (k.timeout_ms > 0.0).then(|| millis(k.timeout_ms)),
        // A warm pool's connections are open when the traffic starts: the
        // run shows the steady state, not a start-up where the first
        // requests wait for connects.
        open_at_start: if k.warm { k.pool_size } else { 0 },
    });
    let to_db = Call {
        to: DB,
        policy: CallPolicy {
            pool,
            ..CallPolicy::plain()
        },
    };
    Topology {
        stages: vec![
            Stage {
                name: "app".into(),
                // The app's own work is negligible next to the query: it
                // takes every request at once and waits for the database.
                kind: StageKind::Service(Service::new(u32::MAX, 0, true, vec![Step::Call(to_db)])),
            },
            Stage {
                name: "db".into(),
                kind: StageKind::Database(DatabaseStage {
                    cores: k.cores,
                    max_connections: k.db_max,
                    contention: k.contention,
                    connect: millis(k.connect_ms),
                    query: k.query.clone(),
                    storage: None,
                    statement_timeout: None,
                }),
            },
        ],
        routes: vec![Route::new("requests", APP)],
        sources: vec![Source::poisson(k.rps)],
        faults: vec![],
    }
}

/// The topology `p` describes (for checks that its stages are the
/// diagram's nodes).
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(topology(&Knobs::read(p)?))
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let k = Knobs::read(p)?;
    let topo = topology(&k);
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.run();
    let db = sim
        .database(DB)
        .ok_or_else(|| SpecError::Invalid("connection-pool: no database".into()))?;
    let pool = sim.pool(DB);
    // Busy share of the pool's connections, or of the database's sessions
    // when every request opens its own.
    let utilization = match &pool {
        Some(p) => p.in_use_mean / p.size.max(1) as f64,
        None => db.sessions_mean / f64::from(k.db_max.max(1)),
    };
    let own = vec![
        ("pool_wait_mean_ms", db.wait_mean_ms),
        ("pool_wait_p99_ms", db.wait_p99_ms),
        ("pool_utilization", utilization),
        ("connections_opened", db.opened as f64),
        ("db_active_max", db.sessions_max as f64),
        ("acquire_timeouts", pool.map_or(0, |p| p.timeouts) as f64),
        ("db_refused", db.refused as f64),
    ];
    Ok(sim.finish(own))
}
