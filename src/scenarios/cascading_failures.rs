//! Cascading failures: one slow dependency takes down endpoints that never
//! call it, unless timeouts, breakers or bulkheads stop it.
//!
//! ```text
//!   users ──> [ api: `threads` slots, ──/checkout──> [ payments ] ──> [ provider ]
//!              shared by both routes ]                                 (third party)
//!                     └──────/browse──> [ catalogue_db ]
//! ```
//!
//! The API is thread-per-request: a request holds one of `threads` slots
//! until its answer is ready, calls included. `/checkout` (30 % of the
//! traffic) calls payments, which calls the provider; `/browse` (70 %) only
//! reads the catalogue database. From `fault_start_s` for
//! `fault_duration_s` the provider answers `provider_slow_factor` times
//! slower. The API's call to payments carries the policies under test: a
//! timeout, retries with a backoff, a resilience4j circuit breaker, a
//! fallback ("payment pending") and a bulkhead. Everything else is wiring of
//! the shared flow layer.
//!
//! Fixed facts of the model (documented on the page): the API's own work is
//! negligible next to its calls; payments is async and passes each call on
//! to the provider; the provider works on 25 calls at once and answers each
//! in a log-normal time with mean 100 ms (σ 0.5); the catalogue database has
//! 8 slots and 5 ms exponential queries; the API queues at most 25
//! requests; users give up after 10 s; the bulkhead gives payment calls a quarter of the threads;
//! the breaker is resilience4j's with a window of 20 calls, at least 10
//! calls before it judges, 5 probes in half-open, and its default slow-call
//! rule (100 % of calls slower than 60 s), so only failures trip it.

use crate::engine::time::{millis, secs, SimTime};
use crate::engine::{Dist, RunResult};
use crate::flow::balance::Policy;
use crate::flow::breaker::BreakerConfig;
use crate::flow::retry::{Backoff, BackoffPolicy};
use crate::flow::{
    Call, CallPolicy, Fault, FaultKind, Handler, OnTimeout, Route, Service, Source, Stage,
    StageKind, Step, Topology,
};
use crate::parts::RateShape;
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Share of requests that are `/checkout`.
pub const CHECKOUT_SHARE: f64 = 0.3;
/// Mean provider latency when healthy, seconds.
pub const PROVIDER_MEAN_S: f64 = 0.100;
/// Spread of the provider's log-normal latency.
pub const PROVIDER_SIGMA: f64 = 0.5;
/// Calls the provider works on at once; the rest wait in its queue.
pub const PROVIDER_CAPACITY: u32 = 25;
/// Requests the API lets wait for a thread.
pub const API_QUEUE: u32 = 25;
/// Calls the payments service and the provider let wait, beyond which they
/// answer 503 at once (`queue_full`): no real service queues without end,
/// and a backlog that only grows would make memory grow with the run
/// (the simulation checker found that case).
pub const BACKLOG_LIMIT: u32 = 10_000;
/// How long users wait before giving up, seconds.
pub const USER_PATIENCE_S: f64 = 10.0;
/// First backoff wait and its cap, seconds.
pub const BACKOFF_BASE_S: f64 = 0.1;
/// The cap on any one backoff wait, seconds.
pub const BACKOFF_CAP_S: f64 = 5.0;
/// Success both endpoints must hold, for [`HOLD_S`] seconds, to count as
/// recovered.
pub const RECOVERED_PCT: f64 = 99.0;
/// Seconds the success must hold.
pub const HOLD_S: u32 = 10;

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    rps: f64,
    threads: u32,
    slow: f64,
    fault_start: SimTime,
    fault_duration: SimTime,
    timeout: Option<SimTime>,
    retries: u32,
    backoff: Backoff,
    breaker: Option<BreakerConfig>,
    fallback: bool,
    bulkhead: bool,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        let backoff = p.pick::<super::BackoffOption>("backoff")?.kind();
        let timeout_ms = p.number("timeout_ms")?;
        let breaker = p
            .flag("breaker")?
            .then(|| -> Result<BreakerConfig, SpecError> {
                Ok(BreakerConfig {
                    sliding_window_size: 20,
                    minimum_number_of_calls: 10,
                    failure_rate_threshold: p.number("breaker_failure_pct")? as f32,
                    wait_duration_in_open_state: secs(p.number("breaker_wait_s")?),
                    permitted_number_of_calls_in_half_open_state: 5,
                    ..BreakerConfig::default()
                })
            });
        Ok(Self {
            rps: p.number("rps")?,
            threads: p.count("threads")?.max(1) as u32,
            slow: p.number("provider_slow_factor")?.max(0.0),
            fault_start: secs(p.number("fault_start_s")?),
            fault_duration: secs(p.number("fault_duration_s")?),
            timeout: (timeout_ms > 0.0).then(|| millis(timeout_ms)),
            retries: p.count("retries")? as u32,
            backoff,
            breaker: breaker.transpose()?,
            fallback: p.flag("fallback")?,
            bulkhead: p.flag("bulkhead")?,
        })
    }
}

/// Stage indices, in the order [`topology`] builds them.
const API: usize = 0;
const PAYMENTS: usize = 1;
const PROVIDER: usize = 2;
const CATALOGUE: usize = 3;
/// Route indices.
const CHECKOUT: usize = 0;
const BROWSE: usize = 1;

fn topology(k: &Knobs) -> Topology {
    let service = |slots, queue, work: Dist| {
        StageKind::Service(Service::new(slots, queue, true, vec![Step::Work(work)]))
    };
    let to_payments = Call {
        to: PAYMENTS,
        policy: CallPolicy {
            timeout: k.timeout,
            on_timeout: OnTimeout::Orphan,
            retries: k.retries,
            backoff: BackoffPolicy {
                kind: k.backoff,
                base: secs(BACKOFF_BASE_S),
                cap: secs(BACKOFF_CAP_S),
            },
            breaker: k.breaker,
            fallback: k.fallback,
            bulkhead: k.bulkhead.then_some((k.threads / 4).max(1)),
            ..CallPolicy::plain()
        },
    };
    let api = StageKind::Service(Service {
        instances: 1,
        slots: k.threads,
        queue_limit: API_QUEUE,
        balance: Policy::RoundRobin,
        hold_slot_while_waiting: true,
        cache: None,
        autoscale: None,
        shed: None,
        system_of_record: false,
        handlers: vec![
            Handler {
                routes: vec![CHECKOUT],
                steps: vec![Step::Call(to_payments)],
            },
            Handler {
                routes: vec![BROWSE],
                steps: vec![Step::Call(Call {
                    to: CATALOGUE,
                    policy: CallPolicy::plain(),
                })],
            },
        ],
    });
    let stages = vec![
        Stage {
            name: "api".into(),
            kind: api,
        },
        Stage {
            name: "payments".into(),
            // An async service (Node-style): it waits for the provider
            // without holding a slot, so it passes on every call it gets.
            kind: StageKind::Service(Service::new(
                64,
                BACKLOG_LIMIT,
                false,
                vec![Step::Call(Call {
                    to: PROVIDER,
                    policy: CallPolicy::plain(),
                })],
            )),
        },
        Stage {
            name: "provider".into(),
            // The provider serves PROVIDER_CAPACITY calls at once for this
            // account and queues the rest: a slowdown, or a storm of
            // retries, builds a backlog that takes time to clear.
            kind: service(
                PROVIDER_CAPACITY,
                BACKLOG_LIMIT,
                Dist::lognormal(PROVIDER_MEAN_S, PROVIDER_SIGMA),
            ),
        },
        Stage {
            name: "catalogue_db".into(),
            kind: service(8, 1_000, Dist::exponential(0.005)),
        },
    ];
    let patient = |name: &str, entry| {
        let mut r = Route::new(name, entry);
        r.client.timeout = Some(secs(USER_PATIENCE_S));
        r
    };
    Topology {
        stages,
        routes: vec![patient("checkout", API), patient("browse", API)],
        sources: vec![Source::Open {
            shape: RateShape::Flat(k.rps),
            poisson: true,
            routes: vec![(CHECKOUT, CHECKOUT_SHARE), (BROWSE, 1.0 - CHECKOUT_SHARE)],
            objects: None,
            clients: 0,
        }],
        faults: vec![Fault {
            start: k.fault_start,
            duration: k.fault_duration,
            target: PROVIDER,
            kind: FaultKind::Slow(k.slow),
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
    let end = secs(cfg.duration_s);
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    let fault_end = k.fault_start.saturating_add(k.fault_duration);
    sim.watch_recovery_from(fault_end);
    sim.run();

    let checkout = sim.route(CHECKOUT).clone();
    let browse = sim.route(BROWSE).clone();
    let provider_calls = sim.stage_arrivals(PROVIDER) as f64;
    let recovery = if fault_end >= end {
        None
    } else {
        sim.recovery(&[CHECKOUT, BROWSE], fault_end, RECOVERED_PCT, HOLD_S)
    };
    let totals = sim.totals().clone();
    let own = vec![
        ("checkout_success_pct", checkout.success_pct()),
        ("browse_success_pct", browse.success_pct()),
        ("threads_busy_max", sim.busy_max(API) as f64),
        ("breaker_opens", sim.breaker_opens(PAYMENTS) as f64),
        ("provider_calls", provider_calls),
        (
            "retry_amplification",
            provider_calls / (checkout.requests.max(1) as f64),
        ),
        ("orphaned_work", totals.orphaned_work as f64),
        ("degraded", checkout.degraded as f64),
        ("recovery_s", recovery.unwrap_or(0.0)),
        ("recovered", f64::from(u8::from(recovery.is_some()))),
    ];
    Ok(sim.finish(own))
}
