//! Third-party rate limits: a batch of jobs that each need one call to a
//! provider that allows `quota_per_min` calls a minute per API key and
//! answers 429 with `Retry-After` beyond it.
//!
//! ```text
//!   batch ──> [ workers: `clients` ] ──> [ cache ] ──> [ pacer ] ──> [ provider ]
//!             (contending callers)      (cache_and_pace) (queue_and_pace,   (quota per key)
//!                                                       cache_and_pace)
//! ```
//!
//! `jobs` jobs are worked through by `clients` workers at once, each
//! starting its next job when the last one ends. A job asks the provider
//! for one object (of [`OBJECTS`], picked by `key_popularity`). What the
//! workers do about the quota is the `strategy`:
//!
//! * `naive_retry`: call the provider; on a 429, call again at once, up to
//!   `max_attempts` calls;
//! * `backoff`: the same, waiting the `backoff` schedule between attempts
//!   (and at least the `Retry-After` with `honour_retry_after`);
//! * `queue_and_pace`: put the call in a queue that one pacer drains at the
//!   quota (one call every 60 s ÷ (`quota_per_min` × `keys`));
//! * `cache_and_pace`: look the object up in a cache first (fresh for
//!   `cache_ttl_s`); only misses join the pacer's queue.
//!
//! A job whose attempts all fail goes back to the end of the batch's queue
//! (as a job queue retries it later), so the batch is done only when every
//! job has succeeded.
//!
//! Fixed facts of the model (documented on the page): the provider answers
//! in a log-normal time, mean [`PROVIDER_MEAN_S`] (σ [`PROVIDER_SIGMA`]),
//! 429s included; it keeps each key's quota as a token bucket (one call
//! earned every 60 s ÷ `quota_per_min`, up to one second's worth saved,
//! [`burst`]); with `counts_refused`, as OpenAI documents for its API, a
//! refused call counts against the key too, down to a debt of one burst;
//! API keys are used in
//! rotation; backoff waits start at [`BACKOFF_BASE_S`] (the first retry
//! waits twice that) and are capped at [`BACKOFF_CAP_S`]; the cache holds
//! every object. Everything else is wiring of the shared flow layer.

use crate::engine::time::{secs, SimTime, SECOND};
use crate::engine::{Dist, RunResult};
use crate::flow::retry::{Backoff, BackoffPolicy};
use crate::flow::{
    CacheSpec, Call, CallPolicy, Objects, Popularity, Quota, QuotaRule, Route, Service, Source,
    Stage, StageKind, Step, ThirdParty, Topology,
};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Distinct objects the jobs ask for.
pub const OBJECTS: u64 = 1_000;
/// Exponent of the Zipf popularity (1.0: the classic web skew).
pub const ZIPF_S: f64 = 1.0;
/// Mean provider latency, seconds.
pub const PROVIDER_MEAN_S: f64 = 0.2;
/// Spread of the provider's log-normal latency.
pub const PROVIDER_SIGMA: f64 = 0.3;
/// First backoff wait (the first retry waits twice this), seconds.
pub const BACKOFF_BASE_S: f64 = 0.5;
/// The cap on any one backoff wait, seconds.
pub const BACKOFF_CAP_S: f64 = 30.0;

/// Calls a key may save up: one second's worth of its quota, at least 1.
pub fn burst(quota_per_min: u64) -> u64 {
    (quota_per_min / 60).max(1)
}

/// What the workers do about the quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    NaiveRetry,
    Backoff,
    QueueAndPace,
    CacheAndPace,
}

crate::choices!(Strategy {
    Strategy::NaiveRetry = "naive_retry",
    Strategy::Backoff = "backoff",
    Strategy::QueueAndPace = "queue_and_pace",
    Strategy::CacheAndPace = "cache_and_pace",
});

/// Which objects jobs ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyPopularity {
    Uniform,
    Zipf,
}

crate::choices!(KeyPopularity {
    KeyPopularity::Uniform = "uniform",
    KeyPopularity::Zipf = "zipf",
});

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    strategy: Strategy,
    backoff: Backoff,
    honour_retry_after: bool,
    clients: u32,
    quota_per_min: u64,
    keys: u32,
    cache_ttl: SimTime,
    zipf: bool,
    jobs: u64,
    max_attempts: u32,
    counts_refused: bool,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        Ok(Self {
            strategy: p.pick("strategy")?,
            backoff: p.pick::<super::BackoffOption>("backoff")?.kind(),
            honour_retry_after: p.flag("honour_retry_after")?,
            clients: p.count("clients")?.clamp(1, 10_000) as u32,
            quota_per_min: p.count("quota_per_min")?.max(1),
            keys: p.count("keys")?.clamp(1, 1_000) as u32,
            cache_ttl: secs(p.number("cache_ttl_s")?.max(0.0)),
            zipf: p.pick::<KeyPopularity>("key_popularity")? == KeyPopularity::Zipf,
            jobs: p.count("jobs")?,
            max_attempts: p.count("max_attempts")?.clamp(1, 1_000) as u32,
            counts_refused: p.flag("counts_refused")?,
        })
    }

    /// The pacer's spacing: the quota of every key together, rounded up to
    /// the nanosecond so that each key's calls are never closer than its
    /// bucket's interval.
    fn pace(&self) -> SimTime {
        (60 * SECOND).div_ceil(self.quota_per_min * u64::from(self.keys))
    }
}

/// Stage indices, in the order [`topology`] builds them.
const WORKERS: usize = 0;
const CACHE: usize = 1;
const PACER: usize = 2;
const PROVIDER: usize = 3;
/// The one route.
const JOBS: usize = 0;

fn topology(k: &Knobs) -> Topology {
    // The call that meets the quota, with the strategy's retries.
    let to_provider = Call {
        to: PROVIDER,
        policy: CallPolicy {
            retries: k.max_attempts - 1,
            backoff: BackoffPolicy {
                kind: match k.strategy {
                    Strategy::NaiveRetry => Backoff::None,
                    _ => k.backoff,
                },
                base: secs(BACKOFF_BASE_S),
                cap: secs(BACKOFF_CAP_S),
            },
            honour_retry_after: match k.strategy {
                Strategy::NaiveRetry => false,
                Strategy::Backoff => k.honour_retry_after,
                Strategy::QueueAndPace | Strategy::CacheAndPace => true,
            },
            ..CallPolicy::plain()
        },
    };
    let plain = |to| Call {
        to,
        policy: CallPolicy::plain(),
    };
    let workers_call = match k.strategy {
        Strategy::NaiveRetry | Strategy::Backoff => to_provider.clone(),
        Strategy::QueueAndPace => plain(PACER),
        Strategy::CacheAndPace => plain(CACHE),
    };
    // A worker stays on its job until the answer is in; the pacer and the
    // cache do not hold their slot while the provider answers.
    let service = |slots, steps, cache, hold| {
        StageKind::Service(Service {
            cache,
            ..Service::new(slots, u32::MAX, hold, steps)
        })
    };
    let stage = |name: &str, kind| Stage {
        name: name.into(),
        kind,
    };
    Topology {
        stages: vec![
            stage(
                "workers",
                service(k.clients, vec![Step::Call(workers_call)], None, true),
            ),
            stage(
                "cache",
                service(
                    u32::MAX,
                    vec![Step::Call(plain(PACER))],
                    Some(CacheSpec::new(OBJECTS as usize, Some(k.cache_ttl))),
                    false,
                ),
            ),
            stage(
                "pacer",
                // One slot held for the pacing interval per call: calls
                // leave at most one per interval, the rest wait in line.
                service(
                    1,
                    vec![
                        Step::Work(Dist::constant(k.pace() as f64 / SECOND as f64)),
                        Step::Call(to_provider),
                    ],
                    None,
                    false,
                ),
            ),
            stage(
                "provider",
                StageKind::ThirdParty(ThirdParty {
                    latency: Dist::lognormal(PROVIDER_MEAN_S, PROVIDER_SIGMA),
                    quota: Some(Quota {
                        limit: k.quota_per_min,
                        window: 60 * SECOND,
                        keys: k.keys,
                        rule: QuotaRule::TokenBucket {
                            burst: burst(k.quota_per_min),
                            charge_refused: k.counts_refused,
                        },
                    }),
                }),
            ),
        ],
        routes: vec![Route::new("jobs", WORKERS)],
        sources: vec![Source::Batch {
            jobs: k.jobs,
            workers: k.clients,
            route: JOBS,
            objects: Some(Objects {
                count: OBJECTS,
                popularity: if k.zipf {
                    Popularity::Zipf(ZIPF_S)
                } else {
                    Popularity::Uniform
                },
            }),
            requeue_failed: true,
            think: None,
        }],
        faults: vec![],
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
    sim.run();

    let jobs = sim.route(JOBS).clone();
    let finished = jobs.completed >= k.jobs;
    let (hits, lookups) = sim.cache_lookups(CACHE);
    let own = vec![
        ("provider_calls", sim.stage_arrivals(PROVIDER) as f64),
        ("rejected_429", jobs.failed as f64),
        (
            "success_pct",
            if k.jobs == 0 {
                100.0
            } else {
                100.0 * jobs.completed as f64 / k.jobs as f64
            },
        ),
        (
            "completion_s",
            if finished {
                jobs.last_completed_at as f64 / SECOND as f64
            } else {
                0.0
            },
        ),
        ("finished", f64::from(u8::from(finished))),
        (
            "cache_hit_pct",
            if lookups == 0 {
                0.0
            } else {
                100.0 * hits as f64 / lookups as f64
            },
        ),
        ("wasted_calls", sim.rate_limited(PROVIDER) as f64),
        ("max_queue", sim.queue_max(PACER) as f64),
        ("peak_retries_100ms", sim.retries_peak(PROVIDER) as f64),
    ];
    Ok(sim.finish(own))
}
