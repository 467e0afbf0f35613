//! A million concurrent users: where the load lands, and which lever takes
//! it off the database.
//!
//! ```text
//!   users ──static──> [ cdn ] ──miss──> [ app: instances × 4 cores ] ──> [ db: (1 + replicas) × 16 cores ]
//!         ──pages───> [ cache ] ──miss─────^        ^ autoscaler (HPA, CPU 60 %)
//!         ──recommendations, scrapers' searches ────┘
//! ```
//!
//! `users` people, each sending a request every `think_s` seconds, and a
//! few scrapers, make 10^5 requests a second at the defaults: too many to
//! simulate one by one within a frame. So the run steps an aggregate model
//! ([`crate::flow::aggregate`]) through time a second at a time: the
//! tiers' steady state at the traffic they see, with the autoscaler
//! resizing the app fleet every sync. The same knobs also build the
//! request-by-request topology ([`topology_for`]); a test runs both at
//! 10 000 users and holds the aggregate to the request-by-request result
//! (throughput within 2 %, errors within 1 point, p95 within 10 %).
//!
//! **Assumptions**, beyond the aggregate model's own:
//! - caches are warm: the hit ratios are the steady state of a TTL cache
//!   with room for every object ([`crate::flow::hit_ratio`]), as on a site
//!   that has been up for a while. The CDN counts as one cache (its edges
//!   fetch through one origin shield);
//! - the traffic is flat: the users are all there from the start, so a
//!   fleet that starts too small is overloaded until the autoscaler has
//!   grown it;
//! - a per-user rate limit lets a steady sender through at its limit and
//!   refuses the excess (429) at the edge, as a token bucket does once its
//!   burst is spent; users, at one request per `think_s`, stay under any
//!   limit the page offers;
//! - refusals are the only failures: a full tier turns requests away; no
//!   one times out or retries (the model's stated limit is overload: see
//!   the aggregate module);
//! - writes are left out: they are few, all go to the primary, and do not
//!   change which tier saturates;
//! - `p95_ms` is time inside the system: the network to the user is left
//!   out, so an answer from the CDN or the cache counts as 0 ms.
//!
//! Fixed facts (on the page): 20 000 static files with Zipf (s = 1)
//! popularity, cached 300 s at the CDN; 100 000 pages with Zipf (s = 0.9)
//! popularity in the shared cache; 20 % of page requests are non-critical
//! (recommendations), never cached, one database read each, and a 1 ms
//! fallback with `degrade_noncritical`; 0.1 % of the users are scrapers
//! sending 10 uncacheable searches a second; CPU per request 1 ms for a
//! static file or a fallback, 4 ms for a page; one database read 2 ms; an
//! app instance has 4 cores and lets 50 requests wait, a database server
//! 16 cores and 200.

use crate::engine::time::{secs, SimTime, SECOND};
use crate::engine::{Dist, RngStream, RunResult, SeriesKind};
use crate::flow::aggregate::{Network, Path, SpanRecorder, Steady, Tier};
use crate::flow::balance::Policy;
use crate::flow::hit_ratio::zipf_ttl_hit_ratio;
use crate::flow::{
    CacheSpec, Call, CallPolicy, Handler, Objects, Popularity, Route, Service, Source, Stage,
    StageKind, Step, Topology,
};
use crate::parts::{Autoscaler, Fleet, HpaSpec, RateShape};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Static files (scripts, styles, images), and their popularity exponent.
pub const STATIC_FILES: usize = 20_000;
/// See [`STATIC_FILES`].
pub const STATIC_ZIPF: f64 = 1.0;
/// How long the CDN keeps a static file, seconds.
pub const CDN_TTL_S: f64 = 300.0;
/// Pages in the shared cache's catalogue, and their popularity exponent.
pub const PAGES: usize = 100_000;
/// See [`PAGES`].
pub const PAGE_ZIPF: f64 = 0.9;
/// Share of the users' page requests that are non-critical.
pub const NONCRITICAL_SHARE: f64 = 0.2;
/// Share of the users who are scrapers, and the searches a second each
/// sends.
pub const SCRAPER_SHARE: f64 = 0.001;
/// See [`SCRAPER_SHARE`].
pub const SCRAPER_RPS: f64 = 10.0;
/// App CPU per static file from the origin, seconds.
pub const STATIC_CPU_S: f64 = 0.001;
/// App CPU per page (or scraper search) built, seconds.
pub const PAGE_CPU_S: f64 = 0.004;
/// App CPU per non-critical request answered by its fallback, seconds.
pub const FALLBACK_CPU_S: f64 = 0.001;
/// Database CPU per read, seconds.
pub const READ_S: f64 = 0.002;
/// Cores of an app instance, and the requests it lets wait.
pub const APP_CORES: u32 = 4;
/// See [`APP_CORES`].
pub const APP_QUEUE: u32 = 50;
/// Cores of a database server, and the queries it lets wait.
pub const DB_CORES: u32 = 16;
/// See [`DB_CORES`].
pub const DB_QUEUE: u32 = 200;
/// The autoscaler's CPU target, and how long a new instance warms up.
pub const TARGET: f64 = 0.6;
/// See [`TARGET`].
pub const WARMUP_S: f64 = 60.0;
/// Dollars an hour: an app instance (4 vCPU), a database server
/// (16 vCPU), a million requests through the CDN.
pub const INSTANCE_PER_HOUR: f64 = 0.17;
/// See [`INSTANCE_PER_HOUR`].
pub const DB_SERVER_PER_HOUR: f64 = 2.0;
/// See [`INSTANCE_PER_HOUR`].
pub const CDN_PER_MILLION: f64 = 1.0;

/// Length of one step of the aggregate run.
const STEP: SimTime = SECOND;
/// Latencies drawn per steady state; every step at that state shares out
/// its answers over their quantile points.
const DRAWS: usize = 4_096;

/// The parameters, read once.
#[derive(Clone, Debug)]
struct Knobs {
    users: f64,
    think_s: f64,
    static_share: f64,
    cdn: bool,
    cache_ttl_s: f64,
    replicas: u32,
    autoscale: bool,
    min_instances: u32,
    max_instances: u32,
    /// Requests a second per user (None: no limit).
    rate_limit: Option<f64>,
    degrade: bool,
}

impl Knobs {
    fn read(p: &Params) -> Result<Self, SpecError> {
        let min_instances = (p.count("min_instances")? as u32).max(1);
        let limit = p.number("rate_limit_per_user")?;
        Ok(Self {
            users: p.number("users")?.max(0.0),
            think_s: p.number("think_s")?.max(0.1),
            static_share: (p.number("static_share_pct")? / 100.0).clamp(0.0, 1.0),
            cdn: p.flag("cdn")?,
            cache_ttl_s: p.number("cache_ttl_s")?.max(0.0),
            replicas: p.count("replicas")? as u32,
            autoscale: p.flag("autoscale")?,
            min_instances,
            max_instances: (p.count("max_instances")? as u32).max(min_instances),
            rate_limit: (limit > 0.0).then_some(limit),
            degrade: p.flag("degrade_noncritical")?,
        })
    }

    /// Database servers: the primary and its replicas, reads spread over all.
    fn db_servers(&self) -> u32 {
        1 + self.replicas
    }
}

/// The traffic a second past the edge's rate limit, and the caches' hit
/// ratios.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// Users' static files.
    pub static_rps: f64,
    /// Users' cacheable pages.
    pub page_rps: f64,
    /// Users' non-critical requests.
    pub noncritical_rps: f64,
    /// Scrapers' searches let through.
    pub scraper_rps: f64,
    /// Users' requests refused by the rate limit.
    pub users_limited_rps: f64,
    /// Scrapers' searches refused by the rate limit.
    pub scrapers_limited_rps: f64,
    /// Share of static files the CDN answers (0 without it).
    pub cdn_hit: f64,
    /// Share of pages the shared cache answers (0 without it).
    pub page_hit: f64,
}

impl Traffic {
    fn of(k: &Knobs) -> Self {
        let people = k.users * (1.0 - SCRAPER_SHARE);
        let scrapers = k.users * SCRAPER_SHARE;
        // What a limit lets through of one sender's steady rate.
        let through = |rate: f64| k.rate_limit.map_or(1.0, |l| (l / rate).min(1.0));
        let user_rate = 1.0 / k.think_s;
        let users_sent = people * user_rate;
        let users_in = users_sent * through(user_rate);
        let scrapers_sent = scrapers * SCRAPER_RPS;
        let scraper_rps = scrapers_sent * through(SCRAPER_RPS);
        let static_rps = users_in * k.static_share;
        let pages = users_in - static_rps;
        let page_rps = pages * (1.0 - NONCRITICAL_SHARE);
        Self {
            static_rps,
            page_rps,
            noncritical_rps: pages * NONCRITICAL_SHARE,
            scraper_rps,
            users_limited_rps: users_sent - users_in,
            scrapers_limited_rps: scrapers_sent - scraper_rps,
            cdn_hit: if k.cdn {
                zipf_ttl_hit_ratio(STATIC_FILES, STATIC_ZIPF, static_rps, CDN_TTL_S)
            } else {
                0.0
            },
            page_hit: zipf_ttl_hit_ratio(PAGES, PAGE_ZIPF, page_rps, k.cache_ttl_s),
        }
    }

    /// The users' requests a second, limited ones included.
    pub fn users_rps(&self) -> f64 {
        self.static_rps + self.page_rps + self.noncritical_rps + self.users_limited_rps
    }
}

/// The aggregate network's tiers.
const APP: usize = 0;
const DB: usize = 1;
/// Its paths, in the order [`network`] lists them: CDN hits, static files
/// from the origin, page cache hits, page misses, non-critical requests,
/// and last the scrapers' (every path before it is the users').
const PATH_CDN_HIT: usize = 0;
const PATH_PAGE_HIT: usize = 2;
const PATH_SCRAPER: usize = 5;

/// The tiers with `ready` app instances serving, and the traffic's paths
/// through them (each path's share is its requests a second).
fn network(k: &Knobs, t: &Traffic, ready: u32) -> Network {
    let servers = k.db_servers();
    let page = vec![(APP, PAGE_CPU_S), (DB, READ_S)];
    let noncritical = if k.degrade {
        vec![(APP, FALLBACK_CPU_S)]
    } else {
        page.clone()
    };
    let path = |share: f64, visits: Vec<(usize, f64)>| Path {
        share,
        visits,
        fixed_s: 0.0,
    };
    Network {
        tiers: vec![
            Tier {
                servers: ready * APP_CORES,
                room: ready * (APP_CORES + APP_QUEUE),
            },
            Tier {
                servers: servers * DB_CORES,
                room: servers * (DB_CORES + DB_QUEUE),
            },
        ],
        paths: vec![
            path(t.static_rps * t.cdn_hit, vec![]),
            path(t.static_rps * (1.0 - t.cdn_hit), vec![(APP, STATIC_CPU_S)]),
            path(t.page_rps * t.page_hit, vec![]),
            path(t.page_rps * (1.0 - t.page_hit), page.clone()),
            path(t.noncritical_rps, noncritical),
            path(t.scraper_rps, page),
        ],
    }
}

/// The request-by-request topology's stages and routes.
const CDN_STAGE: usize = 0;
const CACHE_STAGE: usize = 1;
const APP_STAGE: usize = 2;
const DB_STAGE: usize = 3;
/// Route ids: static, page, non-critical, scraper.
pub const ROUTE_STATIC: usize = 0;
/// See [`ROUTE_STATIC`].
pub const ROUTE_PAGE: usize = 1;
/// See [`ROUTE_STATIC`].
pub const ROUTE_NONCRITICAL: usize = 2;
/// See [`ROUTE_STATIC`].
pub const ROUTE_SCRAPER: usize = 3;

/// The same system request by request: the CDN and the shared cache as
/// stages whose cache answers hits at once and passes misses on, the app
/// fleet (async: a core is free while its request waits for the
/// database), the database servers behind least connections. The rate
/// limit is applied to the scrapers' source rate (its steady effect), the
/// autoscaler as the flow layer's own.
fn topology(k: &Knobs) -> Topology {
    let t = Traffic::of(k);
    let call = |to: usize| {
        Step::Call(Call {
            to,
            policy: CallPolicy::plain(),
        })
    };
    // A stage that only holds a cache: room for every request, no work.
    let front = |cache: Option<CacheSpec>| {
        let mut s = Service::new(1_000_000, 0, false, vec![call(APP_STAGE)]);
        s.cache = cache;
        s
    };
    let cdn = front(
        k.cdn
            .then(|| CacheSpec::new(STATIC_FILES, Some(secs(CDN_TTL_S)))),
    );
    let cache =
        front((k.cache_ttl_s > 0.0).then(|| CacheSpec::new(PAGES, Some(secs(k.cache_ttl_s)))));
    let work = |s: f64| Step::Work(Dist::exponential(s));
    let mut app = Service::new(APP_CORES, APP_QUEUE, false, vec![]);
    app.instances = k.min_instances;
    app.balance = Policy::LeastConnections;
    let page = vec![work(PAGE_CPU_S), call(DB_STAGE)];
    app.handlers = vec![
        Handler {
            routes: vec![ROUTE_STATIC],
            steps: vec![work(STATIC_CPU_S)],
        },
        Handler {
            routes: vec![ROUTE_NONCRITICAL],
            steps: if k.degrade {
                vec![work(FALLBACK_CPU_S)]
            } else {
                page.clone()
            },
        },
        Handler {
            routes: vec![ROUTE_PAGE, ROUTE_SCRAPER],
            steps: page,
        },
    ];
    app.autoscale = k.autoscale.then(|| crate::flow::Autoscale {
        hpa: HpaSpec::kubernetes_defaults(k.min_instances, k.max_instances, TARGET),
        warmup: secs(WARMUP_S),
    });
    let mut db = Service::new(DB_CORES, DB_QUEUE, true, vec![work(READ_S)]);
    db.instances = k.db_servers();
    db.balance = Policy::LeastConnections;
    let stage = |name: &str, s: Service| Stage {
        name: name.into(),
        kind: StageKind::Service(s),
    };
    let uncached = |name: &str| Route {
        cacheable: false,
        ..Route::new(name, APP_STAGE)
    };
    let open = |rate: f64, routes: Vec<(usize, f64)>, objects: Objects| Source::Open {
        shape: RateShape::Flat(rate),
        poisson: true,
        routes,
        objects: Some(objects),
        clients: 0,
    };
    Topology {
        stages: vec![
            stage("cdn", cdn),
            stage("cache", cache),
            stage("app", app),
            stage("db", db),
        ],
        routes: vec![
            Route::new("static", CDN_STAGE),
            Route::new("page", CACHE_STAGE),
            uncached("recommendations"),
            uncached("scraper"),
        ],
        sources: vec![
            open(
                t.static_rps,
                vec![(ROUTE_STATIC, 1.0)],
                Objects {
                    count: STATIC_FILES as u64,
                    popularity: Popularity::Zipf(STATIC_ZIPF),
                },
            ),
            open(
                t.page_rps + t.noncritical_rps,
                vec![
                    (ROUTE_PAGE, 1.0 - NONCRITICAL_SHARE),
                    (ROUTE_NONCRITICAL, NONCRITICAL_SHARE),
                ],
                Objects {
                    count: PAGES as u64,
                    popularity: Popularity::Zipf(PAGE_ZIPF),
                },
            ),
            open(
                t.scraper_rps,
                vec![(ROUTE_SCRAPER, 1.0)],
                Objects {
                    count: PAGES as u64,
                    popularity: Popularity::Uniform,
                },
            ),
        ],
        faults: vec![],
    }
}

/// The request-by-request topology `p` describes: for the check that its
/// stages are the diagram's boxes, and for the test that holds the
/// aggregate model to it.
pub fn topology_for(p: &Params) -> Result<Topology, SpecError> {
    Ok(topology(&Knobs::read(p)?))
}

/// The hit ratios and traffic `p` gives (for tests and the page).
pub fn traffic_for(p: &Params) -> Result<Traffic, SpecError> {
    Ok(Traffic::of(&Knobs::read(p)?))
}

/// Steady states by the number of serving instances: the traffic is flat,
/// so only the fleet changes them, and a run sees a handful of sizes.
struct Steadies {
    solved: Vec<Solved>,
    rng: RngStream,
}

/// One fleet size's network, steady state and latency points.
type Solved = (u32, Network, Steady, Vec<(f64, f64)>);

impl Steadies {
    fn at(&mut self, k: &Knobs, t: &Traffic, ready: u32) -> Result<usize, SpecError> {
        if let Some(i) = self.solved.iter().position(|(n, ..)| *n == ready) {
            return Ok(i);
        }
        let net = network(k, t, ready);
        let lambda: f64 = net.paths.iter().map(|p| p.share).sum();
        let steady = net
            .steady(lambda)
            .ok_or_else(|| SpecError::Invalid("million-users: no usable tiers".into()))?;
        let latencies = steady.latency_points(&net, &mut self.rng, DRAWS);
        self.solved.push((ready, net, steady, latencies));
        Ok(self.solved.len() - 1)
    }
}

/// Runs the scenario.
pub fn run(spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let k = Knobs::read(p)?;
    let t = Traffic::of(&k);
    let end = secs(cfg.duration_s).max(STEP);
    let mut rec = crate::engine::Recorder::new(end);
    let keys: Vec<&str> = spec.series.iter().map(|s| s.key.as_str()).collect();
    rec.keep_only(&keys);
    let s_users = rec.series("users.rps", SeriesKind::Rate);
    let s_cdn = rec.series("cdn.hit_rps", SeriesKind::Rate);
    let s_cache = rec.series("cache.hit_rps", SeriesKind::Rate);
    let s_app_rps = rec.series("app.rps", SeriesKind::Rate);
    let s_running = rec.series("app.instances_running", SeriesKind::Gauge);
    let s_ready = rec.series("app.instances", SeriesKind::Gauge);
    let s_app_cpu = rec.series("app.cpu_pct", SeriesKind::Gauge);
    let s_reads = rec.series("db.reads_rps", SeriesKind::Rate);
    let s_db_cpu = rec.series("db.cpu_pct", SeriesKind::Gauge);

    let hpa = HpaSpec::kubernetes_defaults(k.min_instances, k.max_instances, TARGET);
    let sync = hpa.sync.max(STEP);
    let mut scaler = Autoscaler::new(hpa);
    let mut fleet = Fleet::new(k.min_instances, secs(WARMUP_S));
    let mut steadies = Steadies {
        solved: vec![],
        rng: RngStream::new(cfg.seed, "latency"),
    };
    let mut spans = SpanRecorder::new();
    // The rate limit's refusals, whole requests, fractions carried over.
    let mut limited_carry = 0.0;

    let limited_rps = t.users_limited_rps + t.scrapers_limited_rps;
    let db_cores = f64::from(k.db_servers() * DB_CORES);
    let mut events = 0u64;
    let (mut users_refused, mut app_busy_sum, mut db_busy_sum) = (0.0, 0.0, 0.0);
    let (mut origin_sum, mut reads_sum, mut instances_max) = (0.0, 0.0, 0u32);
    let mut now: SimTime = 0;
    while now < end {
        let next = (now + STEP).min(end);
        let dt = (next - now) as f64 / SECOND as f64;
        fleet.advance(now);
        if k.autoscale && now > 0 && now.is_multiple_of(sync) {
            let i = steadies.at(&k, &t, fleet.ready().max(1))?;
            let (_, net, steady, _) = &steadies.solved[i];
            let cores = f64::from(net.tiers[APP].servers.max(1));
            let want = scaler.evaluate_warming(
                now,
                fleet.running(),
                fleet.ready(),
                steady.queues[APP].busy() / cores,
            );
            fleet.scale_to(now, want);
        }
        let ready = fleet.ready().max(1);
        instances_max = instances_max.max(fleet.running());
        let i = steadies.at(&k, &t, ready)?;
        let (_, net, steady, latencies) = &steadies.solved[i];

        spans.record(steady, latencies, &mut rec, now, next);
        events += 1 + latencies.len() as u64;
        let limited = limited_rps * dt + limited_carry;
        let whole = limited.floor().max(0.0);
        limited_carry = limited - whole;
        if whole > 0.0 {
            rec.arrivals(now, whole as u64);
            rec.reject_many(now, "rate_limited", whole as u64);
        }

        let app_busy = steady.queues[APP].busy() / f64::from(net.tiers[APP].servers.max(1));
        let db_busy = steady.queues[DB].busy() / db_cores;
        let origin = steady.lambda - net.paths[PATH_CDN_HIT].share;
        let user_paths = PATH_CDN_HIT..PATH_SCRAPER;
        let refused: f64 = user_paths
            .map(|p| net.paths[p].share - steady.answered_on(p))
            .sum();
        users_refused += refused * dt;
        app_busy_sum += app_busy * dt;
        db_busy_sum += db_busy * dt;
        origin_sum += origin * dt;
        reads_sum += steady.offered[DB] * dt;

        rec.count(s_users, now, (steady.lambda + limited_rps) * dt);
        rec.count(s_cdn, now, net.paths[PATH_CDN_HIT].share * dt);
        rec.count(s_cache, now, net.paths[PATH_PAGE_HIT].share * dt);
        rec.count(s_app_rps, now, steady.offered[APP] * dt);
        rec.count(s_reads, now, steady.offered[DB] * dt);
        rec.gauge(s_running, now, f64::from(fleet.running()));
        rec.gauge(s_ready, now, f64::from(fleet.ready()));
        rec.gauge(s_app_cpu, now, 100.0 * app_busy);
        rec.gauge(s_db_cpu, now, 100.0 * db_busy);
        now = next;
    }
    let run_s = end as f64 / SECOND as f64;
    let hours = run_s / 3_600.0;
    let mean = |sum: f64| sum / run_s;
    let users_sent = t.users_rps() * run_s;
    let users_failed = users_refused + t.users_limited_rps * run_s;
    // The CDN bills every request it handles: the static files.
    let cdn_rps = if k.cdn { t.static_rps } else { 0.0 };
    let cost = fleet.instance_hours(end) / hours * INSTANCE_PER_HOUR
        + f64::from(k.db_servers()) * DB_SERVER_PER_HOUR
        + cdn_rps * 3_600.0 / 1e6 * CDN_PER_MILLION;
    let pct = |x: f64| 100.0 * x;
    let own = vec![
        ("origin_rps", mean(origin_sum)),
        ("cdn_hit_pct", pct(t.cdn_hit)),
        ("cache_hit_pct", pct(t.page_hit)),
        ("db_reads_per_s", mean(reads_sum)),
        ("db_cpu_pct", pct(mean(db_busy_sum))),
        ("app_cpu_pct", pct(mean(app_busy_sum))),
        ("instances_max", f64::from(instances_max)),
        // Filled in below from the run's latency histogram.
        ("p95_ms", 0.0),
        (
            "error_pct",
            if users_sent > 0.0 {
                pct((users_failed / users_sent).clamp(0.0, 1.0))
            } else {
                0.0
            },
        ),
        ("cost_per_hour", cost),
    ];
    let mut out = rec.finish(events, own);
    let p95 = out.metric("latency_p95_ms").unwrap_or(0.0);
    if let Some(m) = out.metrics.iter_mut().find(|m| m.key == "p95_ms") {
        m.value = p95;
    }
    Ok(out)
}
