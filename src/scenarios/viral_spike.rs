//! Viral spike: traffic climbs tenfold in minutes; the autoscaler is too
//! slow to follow, and shedding the least important work keeps the most
//! important answered meanwhile.
//!
//! ```text
//!   users ──/checkout (P0)────────> [ app: instances × 2 cores, ] <── autoscaler
//!         ──/search (P1)──────────> [ page cache in front,      ]     (HPA, CPU 60 %)
//!         ──/recommendations (P2)─> [ load shedder at the door  ]
//! ```
//!
//! One open source sends `base_rps` for the first [`CALM_S`] seconds, then
//! climbs linearly to `peak_multiplier` × `base_rps` over `ramp_min`
//! minutes and stays there. Every request costs the app CPU; search and
//! recommendations may be answered by a shared page cache (TTL
//! `cache_ttl_s`, a Zipf-popular catalogue), checkout never is. The app is
//! async: its slots are its cores. With `autoscale` on, a
//! HorizontalPodAutoscaler with Kubernetes' defaults sizes it on CPU
//! utilization, and new instances serve after `warmup_s`. With `shedding`
//! on, a shedder at the door turns away P2 (and then P1) while CPU stays
//! above `shed_trigger_pct`, and lets them back once it falls below half of
//! it. Everything else is wiring of the shared flow layer.
//!
//! Fixed facts of the model (documented on the page): 20 % of requests are
//! checkout, 30 % search, 50 % recommendations; each needs 200 ms of CPU
//! on average (exponential); an instance has 2 cores and lets 50 requests
//! wait; users give up after 10 s; checkout's objective is 95 % of
//! requests answered within 2 s, judged over 10 s windows; the HPA targets 60 % CPU, syncs every
//! 15 s, adds at most the larger of 100 % or 4 instances per 15 s, and
//! removes instances only after 300 s of lower recommendations; the
//! shedder looks every 2 s; the catalogue has 10 000 items with Zipf
//! (s = 1) popularity.

use crate::engine::time::{millis, secs, SimTime};
use crate::engine::{Dist, RunResult};
use crate::flow::{
    Autoscale, CacheSpec, Objects, Popularity, Route, Service, ShedSignal, Shedding, Source, Stage,
    StageKind, Step, Topology,
};
use crate::parts::{HpaSpec, RateShape, ShedSpec};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Seconds of calm at `base_rps` before the climb.
pub const CALM_S: f64 = 30.0;
/// Shares of checkout (P0), search (P1) and recommendations (P2).
pub const SHARES: [f64; 3] = [0.2, 0.3, 0.5];
/// Mean CPU time of a request, seconds.
pub const CPU_S: f64 = 0.200;
/// Cores (slots) per instance.
pub const CORES: u32 = 2;
/// Requests an instance lets wait for a core.
pub const QUEUE: u32 = 50;
/// How long users wait before giving up, seconds.
pub const PATIENCE_S: f64 = 10.0;
/// Checkout's objective: [`SLO_PCT`] % answered within this, ms.
pub const SLO_MS: f64 = 2_000.0;
/// See [`SLO_MS`].
pub const SLO_PCT: f64 = 95.0;
/// Seconds over which the objective is judged (a dashboard's range).
pub const SLO_WINDOW_S: u32 = 10;
/// The HPA's CPU target.
pub const TARGET: f64 = 0.6;
/// How often the shedder looks, seconds.
pub const SHED_EVERY_S: f64 = 2.0;
/// Items in the catalogue, and their popularity exponent.
pub const ITEMS: u64 = 10_000;
/// See [`ITEMS`].
pub const ZIPF_S: f64 = 1.0;
/// What one instance costs per hour, dollars (a 2-vCPU on-demand VM).
pub const DOLLARS_PER_INSTANCE_HOUR: f64 = 0.10;

/// How far the shedder goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedLevel {
    /// No shedding.
    Off,
    /// Recommendations only.
    P2,
    /// Recommendations, then search.
    P2ThenP1,
}

crate::choices!(ShedLevel {
    ShedLevel::Off = "off",
    ShedLevel::P2 = "p2",
    ShedLevel::P2ThenP1 = "p2_then_p1",
});

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    base_rps: f64,
    peak_multiplier: f64,
    ramp_s: f64,
    autoscale: bool,
    warmup: SimTime,
    min_instances: u32,
    max_instances: u32,
    shedding: ShedLevel,
    shed_trigger: f64,
    cache_ttl: Option<SimTime>,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        let min_instances = p.count("min_instances")?.max(1) as u32;
        let ttl = p.number("cache_ttl_s")?;
        Ok(Self {
            base_rps: p.number("base_rps")?.max(0.0),
            peak_multiplier: p.number("peak_multiplier")?.max(0.0),
            ramp_s: 60.0 * p.number("ramp_min")?.max(0.0),
            autoscale: p.flag("autoscale")?,
            warmup: secs(p.number("warmup_s")?.max(0.0)),
            min_instances,
            max_instances: (p.count("max_instances")? as u32).max(min_instances),
            shedding: p.pick::<ShedLevel>("shedding")?,
            shed_trigger: p.number("shed_trigger_pct")? / 100.0,
            cache_ttl: (ttl > 0.0).then(|| secs(ttl)),
        })
    }
}

/// The app stage; the routes, by priority.
const APP: usize = 0;
const CHECKOUT: usize = 0;
const SEARCH: usize = 1;
const RECOMMENDATIONS: usize = 2;

fn topology(k: &Knobs) -> Topology {
    let mut app = Service::new(
        CORES,
        QUEUE,
        false,
        vec![Step::Work(Dist::exponential(CPU_S))],
    );
    app.instances = k.min_instances;
    app.balance = crate::flow::balance::Policy::LeastConnections;
    app.cache = k
        .cache_ttl
        .map(|ttl| CacheSpec::new(ITEMS as usize, Some(ttl)));
    app.autoscale = k.autoscale.then(|| Autoscale {
        hpa: HpaSpec::kubernetes_defaults(k.min_instances, k.max_instances, TARGET),
        warmup: k.warmup,
    });
    let deepest = match k.shedding {
        ShedLevel::Off => 0,
        ShedLevel::P2 => 1,
        ShedLevel::P2ThenP1 => 2,
    };
    // With shedding off the shedder is there but sheds nothing, so the
    // page still charts "classes shed: 0".
    app.shed = Some(Shedding {
        spec: ShedSpec {
            shed_above: k.shed_trigger,
            restore_below: k.shed_trigger / 2.0,
            deepest,
        },
        signal: ShedSignal::Utilization,
        every: secs(SHED_EVERY_S),
    });
    let route = |name: &str, class: u8, cacheable: bool| {
        let mut r = Route::new(name, APP);
        r.client.timeout = Some(secs(PATIENCE_S));
        r.class = class;
        r.cacheable = cacheable;
        r
    };
    let checkout = Route {
        slo: Some(millis(SLO_MS)),
        ..route("checkout", 0, false)
    };
    let peak = k.base_rps * k.peak_multiplier;
    Topology {
        stages: vec![Stage {
            name: "app".into(),
            kind: StageKind::Service(app),
        }],
        routes: vec![
            checkout,
            route("search", 1, true),
            route("recommendations", 2, true),
        ],
        sources: vec![Source::Open {
            shape: RateShape::Ramp {
                from: k.base_rps,
                to: peak,
                start: CALM_S,
                end: CALM_S + k.ramp_s,
            },
            poisson: true,
            routes: vec![
                (CHECKOUT, SHARES[0]),
                (SEARCH, SHARES[1]),
                (RECOMMENDATIONS, SHARES[2]),
            ],
            objects: Some(Objects {
                count: ITEMS,
                popularity: Popularity::Zipf(ZIPF_S),
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

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let (k, topo) = super::flow_topology(p, Knobs::read, topology)?;
    let mut sim = super::new_sim(spec, &topo, cfg)?;
    sim.run();

    let pct = |r: usize| sim.route(r).success_pct();
    let shed = sim.shed(APP);
    let (instances_max, instance_hours) = match sim.scaling(APP) {
        Some(s) => (s.running_max as f64, s.instance_hours),
        None => (
            f64::from(k.min_instances),
            f64::from(k.min_instances) * cfg.duration_s / 3_600.0,
        ),
    };
    let (hits, lookups) = sim.cache_lookups(APP);
    let own = vec![
        ("p0_success_pct", pct(CHECKOUT)),
        ("p1_success_pct", pct(SEARCH)),
        ("p2_success_pct", pct(RECOMMENDATIONS)),
        ("shed_requests", shed as f64),
        ("instances_max", instances_max),
        (
            "slo_breach_s",
            f64::from(sim.slo_missed_s(CHECKOUT, SLO_PCT, SLO_WINDOW_S)),
        ),
        ("instance_hours", instance_hours),
        ("cost_dollars", instance_hours * DOLLARS_PER_INSTANCE_HOUR),
        (
            "cache_hit_pct",
            if lookups == 0 {
                0.0
            } else {
                100.0 * hits as f64 / lookups as f64
            },
        ),
    ];
    Ok(sim.finish(own))
}
