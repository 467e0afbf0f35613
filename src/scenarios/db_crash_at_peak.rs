//! A database crash at peak: the primary dies at `crash_at_s` while
//! traffic is at its highest, and what happens next depends on what was
//! prepared.
//!
//! ```text
//!   users ──/reads──> [ app (a cache in front, ] ──> [ db: primary + replica ] ──> db-primary
//!         ──/writes─> [ with the cache strategy) ]     one address, failover    ──> db-replica
//! ```
//!
//! Reads and writes (Poisson, `rps`, `write_share_pct` of them writes) each
//! do a little app work and one query on the database cluster: a primary
//! and one replica behind one address ([`crate::flow::ReplicatedStage`]).
//! The crash is a `down` fault on the primary. The strategies:
//! - `none`: no failover; everything waits for the primary to be restored
//!   by hand, `manual_recovery_min` after the crash;
//! - `failover`: the crash is noticed after `detect_s`, and the replica is
//!   promoted and takes writes `promote_s` later; until then every query
//!   asks the dead primary and fails;
//! - `failover_read_only`: the same failover, and the app goes read-only
//!   meanwhile: writes are refused at once with a clear answer, reads go
//!   to the replica (except while it is being promoted);
//! - `failover_read_only_cache`: as well, a read cache in the app (TTL
//!   `cache_ttl_s`) that answers a read the database fails from its entry
//!   even after it expired (HTTP's `stale-if-error`, RFC 5861).
//!
//! With `replication = async` the primary acknowledges a write at once and
//! the replica applies it `replication_lag_ms` later, so the promoted
//! replica never received the last writes before the crash; with `sync`
//! each write waits [`SYNC_ROUND_TRIP_MS`] for the replica and none is
//! lost. Everything else is wiring of the shared flow layer.

use crate::engine::time::{millis, secs};
use crate::engine::{Dist, RunResult};
use crate::flow::{
    CacheSpec, Call, CallPolicy, DatabaseStage, Fault, FaultKind, Objects, Popularity,
    ReplicatedStage, Route, Service, Source, Stage, StageKind, Step, Topology,
};
use crate::parts::{RateShape, Replication};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// The app's own work per request, seconds.
pub const APP_S: f64 = 0.001;
/// A query's time on the database, seconds (mean, exponential).
pub const QUERY_S: f64 = 0.002;
/// Cores and session limit of each database server.
pub const DB_CORES: u32 = 8;
/// See [`DB_CORES`].
pub const DB_MAX_CONNECTIONS: u32 = 500;
/// With synchronous replication, primary to replica and back, ms (two
/// servers in one region).
pub const SYNC_ROUND_TRIP_MS: f64 = 2.0;
/// How long users wait for an answer, seconds.
pub const PATIENCE_S: f64 = 10.0;
/// Objects the reads ask for (Zipf-popular with exponent [`ZIPF_S`]); the
/// app's cache holds them all.
pub const KEYS: u64 = 10_000;
/// See [`KEYS`].
pub const ZIPF_S: f64 = 1.0;
/// How long past its TTL a cached entry may still answer a read the
/// database fails, seconds (RFC 5861's example: `stale-if-error=1200`).
pub const STALE_IF_ERROR_S: f64 = 1_200.0;

/// What was prepared for the crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Wait for the primary to be restored.
    None,
    /// Promote the replica.
    Failover,
    /// Promote it, and refuse writes and read from the replica meanwhile.
    FailoverReadOnly,
    /// As well, answer failed reads from a cache.
    FailoverReadOnlyCache,
}

crate::choices!(Strategy {
    Strategy::None = "none",
    Strategy::Failover = "failover",
    Strategy::FailoverReadOnly = "failover_read_only",
    Strategy::FailoverReadOnlyCache = "failover_read_only_cache",
});

/// How writes reach the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Async,
    Sync,
}

crate::choices!(Mode {
    Mode::Async = "async",
    Mode::Sync = "sync",
});

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    strategy: Strategy,
    mode: Mode,
    lag_ms: f64,
    detect_s: f64,
    promote_s: f64,
    manual_recovery_min: f64,
    cache_ttl_s: f64,
    write_share: f64,
    rps: f64,
    crash_at_s: f64,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        Ok(Self {
            strategy: p.pick::<Strategy>("strategy")?,
            mode: p.pick::<Mode>("replication")?,
            lag_ms: p.number("replication_lag_ms")?.max(0.0),
            detect_s: p.number("detect_s")?.max(0.0),
            promote_s: p.number("promote_s")?.max(0.0),
            manual_recovery_min: p.number("manual_recovery_min")?.max(0.0),
            cache_ttl_s: p.number("cache_ttl_s")?.max(0.0),
            write_share: (p.number("write_share_pct")? / 100.0).clamp(0.0, 1.0),
            rps: p.number("rps")?.max(0.0),
            crash_at_s: p.number("crash_at_s")?.max(0.0),
        })
    }
}

/// The stages.
const APP: usize = 0;
const CLUSTER: usize = 1;
const PRIMARY: usize = 2;
const REPLICA: usize = 3;
/// The routes.
const READS: usize = 0;
const WRITES: usize = 1;

fn database() -> StageKind {
    StageKind::Database(DatabaseStage {
        cores: DB_CORES,
        max_connections: DB_MAX_CONNECTIONS,
        contention: 0.0,
        connect: 0,
        query: Dist::exponential(QUERY_S),
        storage: None,
        statement_timeout: None,
    })
}

fn topology(k: &Knobs) -> Topology {
    let to_db = Call {
        to: CLUSTER,
        policy: CallPolicy::plain(),
    };
    // Threads enough for every request in flight: the app waits on the
    // database, it never runs out of threads first.
    let mut app = Service::new(
        10_000,
        0,
        true,
        vec![Step::Work(Dist::constant(APP_S)), Step::Call(to_db)],
    );
    if k.strategy == Strategy::FailoverReadOnlyCache {
        app.cache = Some(CacheSpec {
            stale_if_error: Some(secs(STALE_IF_ERROR_S)),
            ..CacheSpec::new(KEYS as usize, Some(secs(k.cache_ttl_s)))
        });
    }
    let replication = match k.mode {
        Mode::Async => Replication::Async {
            lag: millis(k.lag_ms),
        },
        Mode::Sync => Replication::Sync {
            round_trip: millis(SYNC_ROUND_TRIP_MS),
        },
    };
    // Without failover the primary is down until it is restored by hand;
    // with it, the old primary stays dead and the replica replaces it.
    let (failover, down_s) = match k.strategy {
        Strategy::None => (None, 60.0 * k.manual_recovery_min),
        _ => (Some((secs(k.detect_s), secs(k.promote_s))), 1e6),
    };
    let read_only = matches!(
        k.strategy,
        Strategy::FailoverReadOnly | Strategy::FailoverReadOnlyCache
    );
    let mut reads = Route::new("reads", APP);
    reads.client.timeout = Some(secs(PATIENCE_S));
    let mut writes = Route::new("writes", APP);
    writes.client.timeout = Some(secs(PATIENCE_S));
    writes.cacheable = false;
    let stage = |name: &str, kind| Stage {
        name: name.into(),
        kind,
    };
    Topology {
        stages: vec![
            stage("app", StageKind::Service(app)),
            stage(
                "db",
                StageKind::Replicated(ReplicatedStage {
                    primary: PRIMARY,
                    replica: REPLICA,
                    replication,
                    failover,
                    read_only,
                }),
            ),
            stage("db-primary", database()),
            stage("db-replica", database()),
        ],
        routes: vec![reads, writes],
        sources: vec![Source::Open {
            shape: RateShape::Flat(k.rps),
            poisson: true,
            routes: vec![(READS, 1.0 - k.write_share), (WRITES, k.write_share)],
            objects: Some(Objects {
                count: KEYS,
                popularity: Popularity::Zipf(ZIPF_S),
            }),
            clients: 0,
        }],
        faults: vec![Fault {
            start: secs(k.crash_at_s),
            duration: secs(down_s),
            target: PRIMARY,
            kind: FaultKind::Down,
        }],
    }
}

/// The topology `p` describes (for checks that its stages are the
/// diagram's nodes, and for the sandbox later).
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(super::flow_topology(p, Knobs::read, topology)?.1)
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let (k, topo) = super::flow_topology(p, Knobs::read, topology)?;
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.watch_recovery_from(0);
    sim.run();
    let rep = sim
        .replication(CLUSTER)
        .ok_or_else(|| SpecError::Invalid("db-crash-at-peak: no replicated database".into()))?;
    let mut latency = sim.route_latency(READS).clone();
    latency.merge(sim.route_latency(WRITES));
    // The failover: from the crash until a primary takes writes again.
    let crash = secs(k.crash_at_s);
    let recovered = crash.saturating_add(secs(rep.write_unavailable_s));
    let during = sim
        .success_between(READS, crash, recovered)
        .unwrap_or(100.0);
    let own = vec![
        ("read_success_pct", sim.route(READS).success_pct()),
        ("write_success_pct", sim.route(WRITES).success_pct()),
        ("lost_writes", rep.lost_writes as f64),
        ("stale_reads", sim.stale_served(APP) as f64),
        ("write_unavailable_s", rep.write_unavailable_s),
        ("p95_ms", latency.quantile(0.95) / 1e6),
        (
            "write_p50_ms",
            sim.route_latency(WRITES).quantile(0.5) / 1e6,
        ),
        ("acked_writes", rep.acked_writes as f64),
        ("outage_read_success_pct", during),
    ];
    Ok(sim.finish(own))
}
