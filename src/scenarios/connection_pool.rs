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
//! `pooling` (toggle), `pool_size` (connections), `connect_ms` (ms to open
//! one), `acquire_timeout_ms` (ms; 0 waits forever), `db_max_connections`
//! (sessions), `db_cores` (CPUs), `contention_pct` (% of CPU efficiency lost
//! per multiple of the cores in use beyond them: with `n` queries on `c`
//! cores the server does `1 / (1 + pct/100 × (n − c)/c)` of its best work;
//! it stands for context switches, lock and cache-line contention).

use crate::engine::time::{millis, secs, SimTime};
use crate::engine::{Dist, EventQueue, Histogram, Recorder, RngStream, RunResult, SeriesKind};
use crate::parts::db::Acquire;
use crate::parts::{Arrivals, ConnectionPool, Database};
use crate::spec::{Params, RunConfig, ScenarioSpec, SpecError};

/// Spread (sigma of the underlying normal) of log-normal query times.
const LOGNORMAL_SIGMA: f64 = 0.8;

#[derive(Clone, Copy)]
struct Req {
    arrived: SimTime,
}

enum Ev {
    Arrival,
    /// A new connection finished its handshake.
    Connected(Req),
    /// The database may have finished queries (stale if generation differs).
    DbWake(u64),
}

struct Model {
    pooling: bool,
    pool: ConnectionPool<Req>,
    db: Database<Req>,
    connect: SimTime,
    query: Dist,
    query_rng: RngStream,
    wait: Histogram,
    opened: u64,
    refused: u64,
    timeouts: u64,
    db_active_max: usize,
    // Time-integral of connections in use, for the utilisation metric.
    busy_area: f64,
    busy_now: usize,
    busy_since: SimTime,
}

impl Model {
    fn set_busy(&mut self, now: SimTime, busy: usize) {
        self.busy_area += self.busy_now as f64 * (now - self.busy_since) as f64;
        self.busy_now = busy;
        self.busy_since = now;
    }

    fn start_query(&mut self, q: &mut EventQueue<Ev>, now: SimTime, req: Req) {
        self.wait.record(now - req.arrived);
        let work = secs(self.query.sample(&mut self.query_rng));
        self.db.start_query(now, work, req);
        self.wake_db(q, now);
    }

    fn wake_db(&mut self, q: &mut EventQueue<Ev>, now: SimTime) {
        if let Some((at, generation)) = self.db.next_finish(now) {
            q.schedule(at, Ev::DbWake(generation));
        }
    }

    /// Opens a database session for `req`, or fails it if refused.
    fn open(&mut self, q: &mut EventQueue<Ev>, rec: &mut Recorder, now: SimTime, req: Req) -> bool {
        if self.db.connect() {
            self.opened += 1;
            self.db_active_max = self.db_active_max.max(self.db.connections());
            q.schedule(now + self.connect, Ev::Connected(req));
            true
        } else {
            self.refused += 1;
            rec.fail(now, "db_refused");
            false
        }
    }

    /// Serves what the pool hands out: a ready connection, or a slot whose
    /// connection must be opened first. A refused open frees the slot again.
    fn serve(
        &mut self,
        q: &mut EventQueue<Ev>,
        rec: &mut Recorder,
        now: SimTime,
        mut grant: Option<Acquire<Req>>,
    ) {
        while let Some(g) = grant.take() {
            match g {
                Acquire::Ready(req) => self.start_query(q, now, req),
                Acquire::MustOpen(req) => {
                    if !self.open(q, rec, now, req) {
                        self.pool.open_failed();
                        self.expire(rec, now);
                        grant = self.pool.release(now).map(|(g, _)| g);
                    }
                }
                Acquire::Wait | Acquire::Full(_) => {}
            }
        }
        self.set_busy(now, self.pool.in_use());
    }

    fn expire(&mut self, rec: &mut Recorder, now: SimTime) {
        let mut timed_out = 0;
        self.pool.expire(now, |deadline, _| {
            rec.fail(deadline, "acquire_timeout");
            timed_out += 1;
        });
        self.timeouts += timed_out;
    }
}

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

/// Runs the scenario.
pub fn run(_spec: &ScenarioSpec, p: &Params, cfg: &RunConfig) -> Result<RunResult, SpecError> {
    let rps = p.number("arrival_rps")?;
    let query_s = p.number("query_ms")? / 1_000.0;
    let query = match p.pick::<QueryDist>("query_dist")? {
        QueryDist::Constant => Dist::constant(query_s),
        QueryDist::Lognormal => Dist::lognormal(query_s, LOGNORMAL_SIGMA),
        QueryDist::Exponential => Dist::exponential(query_s),
    };
    let pooling = p.flag("pooling")?;
    let pool_size = p.count("pool_size")?.max(1) as usize;
    let timeout_ms = p.number("acquire_timeout_ms")?;
    let db_max = p.count("db_max_connections")? as usize;
    let cores = p.count("db_cores")?.max(1) as usize;
    let contention = p.number("contention_pct")?.max(0.0) / 100.0;
    let end = secs(cfg.duration_s);

    let mut m = Model {
        pooling,
        pool: ConnectionPool::new(pool_size, (timeout_ms > 0.0).then(|| millis(timeout_ms))),
        db: Database::new(cores, db_max, contention),
        connect: millis(p.number("connect_ms")?),
        query,
        query_rng: RngStream::new(cfg.seed, "query"),
        wait: Histogram::new(Histogram::PRECISE),
        opened: 0,
        refused: 0,
        timeouts: 0,
        db_active_max: 0,
        busy_area: 0.0,
        busy_now: 0,
        busy_since: 0,
    };
    let mut rec = Recorder::new(end);
    let s_in_use = rec.series("pool_in_use", SeriesKind::Gauge);
    let s_waiting = rec.series("pool_waiting", SeriesKind::Gauge);
    let s_sessions = rec.series("db_connections", SeriesKind::Gauge);
    let s_running = rec.series("db_running", SeriesKind::Gauge);
    let mut arrivals = Arrivals::poisson(rps, cfg.seed, "arrivals");
    let mut q = EventQueue::new();
    if let Some(t) = arrivals.next_after(0) {
        q.schedule(t, Ev::Arrival);
    }

    let mut done = Vec::new();
    while let Some((now, ev)) = q.pop_until(end) {
        m.expire(&mut rec, now);
        match ev {
            Ev::Arrival => {
                if let Some(t) = arrivals.next_after(now) {
                    q.schedule(t, Ev::Arrival);
                }
                rec.arrival(now);
                let req = Req { arrived: now };
                if m.pooling {
                    let grant = m.pool.acquire(now, req);
                    m.serve(&mut q, &mut rec, now, Some(grant));
                } else if m.open(&mut q, &mut rec, now, req) {
                    m.set_busy(now, m.db.connections());
                }
            }
            Ev::Connected(req) => {
                if m.pooling {
                    m.pool.opened_one();
                }
                m.start_query(&mut q, now, req);
            }
            Ev::DbWake(generation) => {
                if !m.db.finish_due(now, generation, &mut done) {
                    continue;
                }
                for req in done.drain(..) {
                    rec.complete(now, now - req.arrived);
                    if m.pooling {
                        let next = m.pool.release(now).map(|(g, _)| g);
                        m.serve(&mut q, &mut rec, now, next);
                    } else {
                        m.db.disconnect();
                        m.set_busy(now, m.db.connections());
                    }
                }
                m.wake_db(&mut q, now);
            }
        }
        rec.gauge(s_in_use, now, m.pool.in_use() as f64);
        rec.gauge(s_waiting, now, m.pool.waiting() as f64);
        rec.gauge(s_sessions, now, m.db.connections() as f64);
        rec.gauge(s_running, now, m.db.running() as f64);
    }
    m.expire(&mut rec, end);
    m.set_busy(end, m.busy_now);

    let capacity = if pooling { pool_size } else { db_max.max(1) };
    let utilization = m.busy_area / (end.max(1) as f64 * capacity as f64);
    let events = q.processed();
    Ok(rec.finish(
        events,
        vec![
            ("pool_wait_mean_ms", m.wait.mean() / 1e6),
            ("pool_wait_p99_ms", m.wait.quantile(0.99) / 1e6),
            ("pool_utilization", utilization),
            ("connections_opened", m.opened as f64),
            ("db_active_max", m.db_active_max as f64),
            ("acquire_timeouts", m.timeouts as f64),
            ("db_refused", m.refused as f64),
        ],
    ))
}
