//! Caching: reads go through an in-process cache on each app instance
//! (L1), then a shared cache (L2, Redis-like), then the database, which
//! recomputes the value; writes change the database and, depending on the
//! invalidation pattern, the caches.
//!
//! ```text
//!   users ──> [ app × instances ] ──> [ l2: shared cache ] ──> [ db ]
//!              each with its own L1    one copy for all         system of record,
//!              (in its memory)         (a network hop)          recompute_ms a read
//! ```
//!
//! `layers` chooses which caches exist (the boxes stay; an absent cache is
//! passed by). Reads ask for one of `keys` objects, uniformly or by Zipf
//! popularity; `write_pct` of requests write one (by the same popularity).
//! The stampede protection applies at the cache nearest the database (L2
//! when there is one, else L1). Everything is the shared flow layer: the
//! caches, their versions and invalidation ([`crate::flow::CacheSpec`]),
//! the protections ([`crate::flow::stampede`]) and the run loop.

use crate::engine::time::{millis, secs};
use crate::engine::{Dist, RunResult};
use crate::flow::stampede::Protection;
use crate::flow::{
    CacheSpec, Call, CallPolicy, Invalidation, Objects, Popularity, Route, Service, Source, Stage,
    StageKind, Step, Topology,
};
use crate::parts::RateShape;
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// A shared cache's round trip (a Redis GET in the same zone), ms: what an
/// L2 hit takes, and what an L2 miss adds before the database.
pub const L2_ROUND_TRIP_MS: f64 = 0.5;
/// How long a reader that finds the lock taken waits before it reads the
/// cache again, ms (the notes' lock pattern waits 100 ms).
pub const LOCK_RETRY_MS: f64 = 100.0;
/// TTL jitter cuts each entry's TTL by up to this share.
pub const JITTER_FRACTION: f64 = 0.2;
/// Concurrent requests per app instance, and connections at the database:
/// enough that neither runs out before the caches matter.
pub const APP_SLOTS: u32 = 1_000;
/// See [`APP_SLOTS`].
pub const DB_CONNECTIONS: u32 = 1_000;
/// Requests that may wait for a database connection.
pub const DB_QUEUE: u32 = 100_000;

/// Which caches exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// Every read reaches the database.
    None,
    /// Only each instance's own cache.
    L1,
    /// Only the shared cache.
    L2,
    /// Both, L1 first.
    L1L2,
}

crate::choices!(Layers {
    Layers::None = "none",
    Layers::L1 = "l1",
    Layers::L2 = "l2",
    Layers::L1L2 = "l1_l2",
});

/// How requests pick an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyPopularity {
    Uniform,
    Zipf,
}

crate::choices!(KeyPopularity {
    KeyPopularity::Uniform = "uniform",
    KeyPopularity::Zipf = "zipf",
});

/// The invalidation pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InvalidationChoice {
    TtlOnly,
    DeleteOnWrite,
    WriteThrough,
}

crate::choices!(InvalidationChoice {
    InvalidationChoice::TtlOnly = "ttl_only",
    InvalidationChoice::DeleteOnWrite = "delete_on_write",
    InvalidationChoice::WriteThrough = "write_through",
});

/// The stampede protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProtectionChoice {
    None,
    Lock,
    Coalesce,
    EarlyExpiration,
    TtlJitter,
    StaleWhileRevalidate,
}

crate::choices!(ProtectionChoice {
    ProtectionChoice::None = "none",
    ProtectionChoice::Lock = "lock",
    ProtectionChoice::Coalesce = "coalesce",
    ProtectionChoice::EarlyExpiration = "early_expiration",
    ProtectionChoice::TtlJitter = "ttl_jitter",
    ProtectionChoice::StaleWhileRevalidate = "stale_while_revalidate",
});

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    layers: Layers,
    l1_capacity: usize,
    l2_capacity: usize,
    l1_ttl_s: f64,
    l2_ttl_s: f64,
    keys: u64,
    popularity: Popularity,
    instances: u32,
    write_share: f64,
    invalidation: Invalidation,
    protection: ProtectionChoice,
    beta: f64,
    recompute_ms: f64,
    rps: f64,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        let zipf_s = p.number("zipf_s")?.max(0.0);
        Ok(Self {
            layers: p.pick::<Layers>("layers")?,
            l1_capacity: p.number("l1_capacity")?.max(0.0) as usize,
            l2_capacity: p.number("l2_capacity")?.max(0.0) as usize,
            l1_ttl_s: p.number("l1_ttl_s")?.max(0.0),
            l2_ttl_s: p.number("l2_ttl_s")?.max(0.0),
            keys: (p.number("keys")?.max(1.0)) as u64,
            popularity: match p.pick::<KeyPopularity>("key_popularity")? {
                KeyPopularity::Uniform => Popularity::Uniform,
                KeyPopularity::Zipf => Popularity::Zipf(zipf_s),
            },
            instances: (p.number("instances")?.max(1.0)) as u32,
            write_share: (p.number("write_pct")? / 100.0).clamp(0.0, 1.0),
            invalidation: match p.pick::<InvalidationChoice>("invalidation")? {
                InvalidationChoice::TtlOnly => Invalidation::TtlOnly,
                InvalidationChoice::DeleteOnWrite => Invalidation::DeleteOnWrite,
                InvalidationChoice::WriteThrough => Invalidation::WriteThrough,
            },
            protection: p.pick::<ProtectionChoice>("stampede_protection")?,
            beta: p.number("early_expiration_beta")?.max(0.0),
            recompute_ms: p.number("recompute_ms")?.max(0.0),
            rps: p.number("rps")?.max(0.0),
        })
    }

    fn has_l1(&self) -> bool {
        matches!(self.layers, Layers::L1 | Layers::L1L2)
    }

    fn has_l2(&self) -> bool {
        matches!(self.layers, Layers::L2 | Layers::L1L2)
    }

    /// The protection, for a cache whose entries live `ttl_s`.
    fn protection_for(&self, ttl_s: f64) -> Protection {
        match self.protection {
            ProtectionChoice::None => Protection::None,
            ProtectionChoice::Lock => Protection::Lock {
                retry: millis(LOCK_RETRY_MS),
            },
            ProtectionChoice::Coalesce => Protection::Coalesce,
            ProtectionChoice::EarlyExpiration => Protection::EarlyExpiration { beta: self.beta },
            ProtectionChoice::TtlJitter => Protection::TtlJitter {
                fraction: JITTER_FRACTION,
            },
            // An expired entry may answer for another TTL while it is
            // refreshed.
            ProtectionChoice::StaleWhileRevalidate => {
                Protection::StaleWhileRevalidate { grace: secs(ttl_s) }
            }
        }
    }
}

/// The stages.
pub const APP: usize = 0;
/// See [`APP`].
pub const L2: usize = 1;
/// See [`APP`].
pub const DB: usize = 2;
/// The routes.
pub const READS: usize = 0;
/// See [`READS`].
pub const WRITES: usize = 1;

fn plain_call(to: usize) -> Step {
    Step::Call(Call {
        to,
        policy: CallPolicy::plain(),
    })
}

fn topology(k: &Knobs) -> Topology {
    let below_app = if k.has_l2() { L2 } else { DB };
    let mut app = Service::new(APP_SLOTS, u32::MAX, false, vec![plain_call(below_app)]);
    app.instances = k.instances;
    if k.has_l1() {
        app.cache = Some(CacheSpec {
            per_instance: true,
            invalidation: k.invalidation,
            protection: if k.has_l2() {
                Protection::None
            } else {
                k.protection_for(k.l1_ttl_s)
            },
            ..CacheSpec::new(k.l1_capacity, Some(secs(k.l1_ttl_s)))
        });
    }
    // Redis: one copy, a round trip to look, as many requests at once as
    // come (it answers in well under a millisecond).
    let mut l2 = Service::new(
        u32::MAX,
        0,
        false,
        vec![
            Step::Work(Dist::constant(L2_ROUND_TRIP_MS / 1e3)),
            plain_call(DB),
        ],
    );
    if k.has_l2() {
        l2.cache = Some(CacheSpec {
            hit_latency: millis(L2_ROUND_TRIP_MS),
            invalidation: k.invalidation,
            protection: k.protection_for(k.l2_ttl_s),
            ..CacheSpec::new(k.l2_capacity, Some(secs(k.l2_ttl_s)))
        });
    }
    let mut db = Service::new(
        DB_CONNECTIONS,
        DB_QUEUE,
        true,
        vec![Step::Work(Dist::constant(k.recompute_ms / 1e3))],
    );
    db.system_of_record = true;
    let mut writes = Route::new("writes", APP);
    writes.cacheable = false;
    let stage = |name: &str, svc| Stage {
        name: name.into(),
        kind: StageKind::Service(svc),
    };
    Topology {
        stages: vec![stage("app", app), stage("l2", l2), stage("db", db)],
        routes: vec![Route::new("reads", APP), writes],
        sources: vec![Source::Open {
            shape: RateShape::Flat(k.rps),
            poisson: true,
            routes: vec![(READS, 1.0 - k.write_share), (WRITES, k.write_share)],
            objects: Some(Objects {
                count: k.keys,
                popularity: k.popularity,
            }),
            clients: 0,
        }],
        faults: vec![],
    }
}

/// The topology `p` describes (for checks that its stages are the
/// diagram's nodes, and for the sandbox later).
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(super::flow_topology(p, Knobs::read, topology)?.1)
}

/// Hits as a percentage of lookups (0 with none).
fn hit_pct((hits, lookups): (u64, u64)) -> f64 {
    if lookups == 0 {
        0.0
    } else {
        100.0 * hits as f64 / lookups as f64
    }
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let (k, topo) = super::flow_topology(p, Knobs::read, topology)?;
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.run();
    let totals = sim.totals().clone();
    let stale_pct = if totals.versioned_reads == 0 {
        0.0
    } else {
        100.0 * totals.stale_reads as f64 / totals.versioned_reads as f64
    };
    let reads = sim.route_latency(READS);
    // The cache nearest the database is the one whose refreshes reach it.
    let nearest = sim.cache_stats(if k.has_l2() { L2 } else { APP });
    let cycles = nearest.refreshes + nearest.early_refreshes;
    let early_pct = if cycles == 0 {
        0.0
    } else {
        100.0 * nearest.early_refreshes as f64 / cycles as f64
    };
    let own = vec![
        ("l1_hit_pct", hit_pct(sim.cache_lookups(APP))),
        ("l2_hit_pct", hit_pct(sim.cache_lookups(L2))),
        (
            "db_rps",
            sim.stage_arrivals(DB) as f64 / cfg.duration_s.max(1e-9),
        ),
        ("stampede_peak", f64::from(sim.reads_in_flight_peak(DB))),
        ("stale_read_pct", stale_pct),
        ("p50_ms", reads.quantile(0.5) / 1e6),
        ("p99_ms", reads.quantile(0.99) / 1e6),
        ("early_refresh_pct", early_pct),
    ];
    Ok(sim.finish(own))
}
