//! The run loop's call semantics, each checked against a hand calculation.

use super::balance::Policy;
use super::breaker::BreakerConfig;
use super::retry::{Backoff, BackoffPolicy};
use super::*;
use crate::engine::time::{as_secs, millis, MILLISECOND, SECOND};
use crate::engine::{Dist, RunResult, SimTime};
use crate::parts::{AccessPath, RateShape, Table};

fn service(slots: u32, queue_limit: u32, hold: bool, steps: Vec<Step>) -> StageKind {
    StageKind::Service(Service::new(slots, queue_limit, hold, steps))
}

fn provider(latency_s: f64) -> StageKind {
    StageKind::ThirdParty(ThirdParty {
        latency: Dist::constant(latency_s),
        quota: None,
    })
}

fn stage(name: &str, kind: StageKind) -> Stage {
    Stage {
        name: name.into(),
        kind,
    }
}

fn even(rps: f64) -> Source {
    Source::Open {
        shape: RateShape::Flat(rps),
        poisson: false,
        routes: vec![(0, 1.0)],
        objects: None,
        clients: 0,
    }
}

fn work_ms(ms: f64) -> Step {
    Step::Work(Dist::constant(ms / 1e3))
}

fn call(to: StageId, policy: CallPolicy) -> Step {
    Step::Call(Call { to, policy })
}

/// `api` (stage 0) calling `provider` (stage 1), one route.
fn api_calling(api: StageKind, provider: StageKind, rps: f64, faults: Vec<Fault>) -> Topology {
    Topology {
        stages: vec![stage("api", api), stage("provider", provider)],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(rps)],
        faults,
    }
}

fn run(topo: &Topology, seconds: u64) -> (RunResult, FlowTotals, RouteStats, Vec<u64>) {
    let mut sim = Sim::new(topo, 1, seconds * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let totals = sim.totals().clone();
    let route = sim.route(0).clone();
    let arrivals = (0..topo.stages.len())
        .map(|s| sim.stage_arrivals(s))
        .collect();
    (sim.finish(vec![]), totals, route, arrivals)
}

fn m(out: &RunResult, key: &str) -> f64 {
    out.metric(key).unwrap_or(f64::NAN)
}

fn conserved(out: &RunResult) {
    assert_eq!(
        m(out, "requests"),
        m(out, "completed") + m(out, "failed") + m(out, "rejected") + m(out, "in_flight")
    );
}

#[test]
fn an_idle_service_answers_in_exactly_its_work_time() {
    // 50 req/s evenly spaced (one every 20 ms), 10 ms of work, one slot:
    // nobody ever waits, so every latency is 10 ms and 50 × 10 s arrive.
    let topo = Topology {
        stages: vec![stage("api", service(1, 0, true, vec![work_ms(10.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(50.0)],
        faults: vec![],
    };
    let (out, _, route, _) = run(&topo, 10);
    conserved(&out);
    assert!((m(&out, "requests") - 500.0).abs() <= 1.0);
    assert_eq!(m(&out, "rejected"), 0.0);
    assert!((m(&out, "latency_p99_ms") - 10.0).abs() < 0.05);
    assert!(route.requests - route.completed <= 1);
}

#[test]
fn a_slow_dependency_exhausts_thread_per_request_slots_but_not_async_ones() {
    // 20 req/s, each waiting 1 s for the provider. Little's law: 20 requests
    // in flight. Thread-per-request with 10 slots and no queue: a slot is
    // held 1.001 s (1 ms of work, then the wait), and the next arrival it
    // can take comes on the 50 ms grid, 1.05 s after the last, so each slot
    // accepts 1 / 1.05 s: 10 / 1.05 = 9.52 of the 20 req/s (47.6 %), the
    // rest are turned away. Async, a slot is held only for the 1 ms of
    // work, so everyone is served.
    let steps = || vec![work_ms(1.0), call(1, CallPolicy::plain())];
    let held = api_calling(service(10, 0, true, steps()), provider(1.0), 20.0, vec![]);
    let (out, _, _, _) = run(&held, 60);
    conserved(&out);
    let accepted = 1.0 - m(&out, "rejected") / m(&out, "requests");
    assert!((accepted - 1.0 / 2.1).abs() < 0.005, "{accepted}");
    assert!(out.outcomes.iter().any(|o| o.reason == "queue_full"));

    let released = api_calling(service(10, 0, false, steps()), provider(1.0), 20.0, vec![]);
    let (out, _, _, _) = run(&released, 60);
    conserved(&out);
    assert_eq!(m(&out, "rejected"), 0.0);
    assert_eq!(m(&out, "failed"), 0.0);
    // 1 ms of work + 1 s of waiting.
    assert!((m(&out, "latency_p50_ms") - 1_001.0).abs() < 5.0);
}

#[test]
fn a_timeout_fails_the_caller_at_the_deadline_and_orphans_the_work() {
    // The provider takes 1 s; the call times out at 100 ms: every request
    // fails after 100 ms of waiting (plus 1 ms of work), and every provider
    // answer that arrives later is orphaned work.
    let policy = CallPolicy {
        timeout: Some(100 * MILLISECOND),
        ..CallPolicy::plain()
    };
    let topo = api_calling(
        service(100, 100, true, vec![work_ms(1.0), call(1, policy)]),
        provider(1.0),
        10.0,
        vec![],
    );
    let (out, totals, route, arrivals) = run(&topo, 10);
    conserved(&out);
    assert_eq!(route.completed, 0);
    assert!(out.outcomes.iter().all(|o| o.reason == "timeout"));
    // Answers due after the end of the run never arrive: those made in the
    // last second are not counted.
    let answered = arrivals[1] - 10;
    assert!(
        totals.orphaned_work.abs_diff(answered) <= 1,
        "{totals:?} {arrivals:?}"
    );
}

#[test]
fn a_cancelled_callee_frees_its_slot_and_an_orphaned_one_does_not() {
    // A worker stage with 1 slot and 1 s of work, called with a 100 ms
    // timeout at 2 req/s (one every 500 ms). Orphaned: the worker stays
    // busy for the whole second, so it accepts a call only every second
    // and the queue (limit 0) refuses the one in between: half the calls
    // are refused. Cancelled: its slot frees at 100 ms, every call gets in.
    let topo = |on_timeout| Topology {
        stages: vec![
            stage(
                "api",
                service(
                    100,
                    100,
                    true,
                    vec![call(
                        1,
                        CallPolicy {
                            timeout: Some(100 * MILLISECOND),
                            on_timeout,
                            ..CallPolicy::plain()
                        },
                    )],
                ),
            ),
            stage("worker", service(1, 0, true, vec![work_ms(1_000.0)])),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(2.0)],
        faults: vec![],
    };
    let (orphan, cancel) = (topo(OnTimeout::Orphan), topo(OnTimeout::Cancel));
    let mut sim_o = Sim::new(&orphan, 1, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim_o.run();
    let refused_o = sim_o.stage_errors(1);
    let mut sim_c = Sim::new(&cancel, 1, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim_c.run();
    let refused_c = sim_c.stage_errors(1);
    let calls = sim_o.stage_arrivals(1);
    assert!(refused_o.abs_diff(calls / 2) <= 1, "{refused_o} of {calls}");
    assert_eq!(refused_c, 0);
    assert!(sim_c.totals().cancelled >= calls - 1);
    assert_eq!(sim_c.totals().orphaned_work, 0);
}

#[test]
fn retries_multiply_the_calls_and_backoff_spaces_them() {
    // The provider fails every call (an error fault over the whole run).
    // With 2 retries each request makes 3 attempts: 3 × the requests.
    let policy = CallPolicy {
        retries: 2,
        backoff: BackoffPolicy {
            kind: Backoff::Constant,
            base: 50 * MILLISECOND,
            cap: SECOND,
        },
        ..CallPolicy::plain()
    };
    let fault = Fault {
        start: 0,
        duration: 100 * SECOND,
        target: 1,
        kind: FaultKind::Errors(1.0),
    };
    let topo = api_calling(
        service(100, 100, true, vec![call(1, policy)]),
        provider(0.010),
        10.0,
        vec![fault],
    );
    let (out, _, route, arrivals) = run(&topo, 10);
    conserved(&out);
    let done = route.failed;
    assert!(done >= 98, "{done}");
    // Every finished request made 3 attempts; the last ones may be mid-way.
    assert!(
        arrivals[1] >= 3 * done && arrivals[1] <= 3 * route.requests,
        "{arrivals:?}"
    );
    let fail_ms = out
        .outcomes
        .iter()
        .find(|o| o.reason == "error")
        .map(|o| o.count);
    assert_eq!(fail_ms, Some(done));
}

#[test]
fn a_breaker_stops_calls_while_open_except_its_half_open_probes() {
    // The provider errors on every call from 10 s to 40 s. The breaker
    // (window 10, minimum 10 calls, 50 %) opens after the 10th failure,
    // waits 5 s, lets 3 probes through, which fail, and opens again: per
    // 5 s open interval only 3 calls reach the provider.
    let breaker = BreakerConfig {
        sliding_window_size: 10,
        minimum_number_of_calls: 10,
        failure_rate_threshold: 50.0,
        wait_duration_in_open_state: 5 * SECOND,
        permitted_number_of_calls_in_half_open_state: 3,
        ..BreakerConfig::default()
    };
    let policy = CallPolicy {
        breaker: Some(breaker),
        ..CallPolicy::plain()
    };
    let fault = Fault {
        start: 10 * SECOND,
        duration: 30 * SECOND,
        target: 1,
        kind: FaultKind::Errors(1.0),
    };
    let topo = api_calling(
        service(100, 100, true, vec![call(1, policy)]),
        provider(0.010),
        20.0,
        vec![fault],
    );
    let mut sim = Sim::new(&topo, 1, 60 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    // 30 s of fault: 10 failures to open (0.5 s at 20/s), then cycles of
    // 5 s open + 3 probes (0.15 s): about 30 / 5.15 ≈ 5.8, so 6 opens.
    let opens = sim.breaker_opens(1);
    assert!((5..=7).contains(&opens), "{opens}");
    // Calls reaching the provider: 10 s × 20 before, 10 to open, 3 probes
    // per reopening, and 20 × (20 s − time to close) after.
    let calls = sim.stage_arrivals(1);
    let during = calls - 200 - 20 * 20;
    assert!(
        during <= 10 + 3 * opens + 20,
        "{calls} calls, {during} during the fault"
    );
}

#[test]
fn a_fallback_answers_degraded_instead_of_failing() {
    let policy = CallPolicy {
        fallback: true,
        ..CallPolicy::plain()
    };
    let fault = Fault {
        start: 0,
        duration: 100 * SECOND,
        target: 1,
        kind: FaultKind::Down,
    };
    let topo = api_calling(
        service(10, 10, true, vec![call(1, policy)]),
        provider(0.010),
        10.0,
        vec![fault],
    );
    let (out, _, route, _) = run(&topo, 10);
    conserved(&out);
    assert_eq!(route.failed, 0);
    assert_eq!(route.degraded, route.completed);
    assert!(route.completed >= 99);
}

#[test]
fn a_bulkhead_caps_the_calls_in_flight_and_fails_the_rest_fast() {
    // 20 req/s to a 1 s provider would keep 20 calls in flight; a bulkhead
    // of 5 lets 5 through per second and fails the others at once.
    let policy = CallPolicy {
        bulkhead: Some(5),
        ..CallPolicy::plain()
    };
    let topo = api_calling(
        service(100, 100, true, vec![call(1, policy)]),
        provider(1.0),
        20.0,
        vec![],
    );
    let (out, _, route, _) = run(&topo, 30);
    conserved(&out);
    let ok_share = route.completed as f64 / route.requests as f64;
    assert!((ok_share - 0.25).abs() < 0.03, "{ok_share}");
    assert!(out.outcomes.iter().any(|o| o.reason == "bulkhead_full"));
}

#[test]
fn parallel_calls_take_the_longest_and_sequential_ones_the_sum() {
    let two = |parallel: bool| {
        let a = Call {
            to: 1,
            policy: CallPolicy::plain(),
        };
        let b = Call {
            to: 2,
            policy: CallPolicy::plain(),
        };
        let steps = if parallel {
            vec![Step::Parallel(vec![a, b])]
        } else {
            vec![Step::Call(a), Step::Call(b)]
        };
        Topology {
            stages: vec![
                stage("api", service(100, 100, true, steps)),
                stage("fast", provider(0.100)),
                stage("slow", provider(0.300)),
            ],
            routes: vec![Route::new("r", 0)],
            sources: vec![even(5.0)],
            faults: vec![],
        }
    };
    let (par, ..) = run(&two(true), 10);
    let (seq, ..) = run(&two(false), 10);
    assert!((m(&par, "latency_p50_ms") - 300.0).abs() < 1.0);
    assert!((m(&seq, "latency_p50_ms") - 400.0).abs() < 1.0);
}

#[test]
fn a_balancer_spreads_requests_and_a_down_target_refuses() {
    let topo = Topology {
        stages: vec![
            stage(
                "lb",
                StageKind::Balancer(BalancerStage {
                    policy: Policy::RoundRobin,
                    targets: vec![1, 2],
                }),
            ),
            stage("a", service(10, 10, true, vec![work_ms(1.0)])),
            stage("b", service(10, 10, true, vec![work_ms(1.0)])),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(100.0)],
        faults: vec![Fault {
            start: 5 * SECOND,
            duration: 5 * SECOND,
            target: 2,
            kind: FaultKind::Down,
        }],
    };
    let (out, _, route, arrivals) = run(&topo, 10);
    conserved(&out);
    assert!(arrivals[1].abs_diff(arrivals[2]) <= 1, "{arrivals:?}");
    // Round robin keeps sending half to b; while b is down (5 s), those
    // 250 are refused.
    assert!(route.rejected.abs_diff(250) <= 2, "{}", route.rejected);
}

#[test]
fn a_quota_answers_429_and_honouring_retry_after_gets_everyone_through() {
    // 10 calls/s against 5 per 1 s window: half are limited. Retrying after
    // the advertised Retry-After (whole seconds, the window's end) succeeds
    // in the next window while there is room.
    let tp = |honour| {
        let policy = CallPolicy {
            retries: if honour { 10 } else { 0 },
            honour_retry_after: honour,
            ..CallPolicy::plain()
        };
        let mut t = api_calling(
            service(1_000, 1_000, false, vec![call(1, policy)]),
            StageKind::ThirdParty(ThirdParty {
                latency: Dist::constant(0.001),
                quota: Some(Quota {
                    limit: 5,
                    window: SECOND,
                    keys: 1,
                    rule: QuotaRule::FixedWindow,
                }),
            }),
            10.0,
            vec![],
        );
        t.sources = vec![even(10.0)];
        t
    };
    let (out, _, route, _) = run(&tp(false), 20);
    conserved(&out);
    let limited = route.failed as f64 / route.requests as f64;
    assert!((limited - 0.5).abs() < 0.05, "{limited}");
    assert!(out.outcomes.iter().all(|o| o.reason == "rate_limited"));
    // Honouring Retry-After: demand (10/s) exceeds the quota (5/s), so the
    // backlog grows, but every attempt that is made lands in a fresh window
    // and nothing fails while retries last.
    let (out, _, route, _) = run(&tp(true), 20);
    conserved(&out);
    assert!(route.completed as f64 >= 5.0 * 19.0, "{}", route.completed);
}

#[test]
fn a_batch_source_keeps_its_workers_busy_until_the_jobs_are_done() {
    // 100 jobs of 100 ms on 4 slots, 4 workers: 25 rounds of 100 ms = 2.5 s.
    let topo = Topology {
        stages: vec![stage("api", service(4, 0, true, vec![work_ms(100.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![Source::Batch {
            jobs: 100,
            workers: 4,
            route: 0,
            objects: None,
            requeue_failed: false,
            think: None,
        }],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 1, 60 * SECOND, &["api.busy"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route(0).completed, 100);
    let out = sim.finish(vec![]);
    assert_eq!(out.series.len(), 6 + 1);
    let busy = out
        .series("api.busy")
        .map(|s| s.values.clone())
        .unwrap_or_default();
    let last_busy = busy.iter().rposition(|&v| v > 0.0).unwrap_or(0) as f64 * out.bucket_s;
    assert!((last_busy - 2.5).abs() <= 2.0 * out.bucket_s, "{last_busy}");
    assert!((as_secs(SECOND) - 1.0).abs() < 1e-12);
}

#[test]
fn the_same_seed_gives_the_same_run_and_memory_follows_what_is_in_flight() {
    let policy = CallPolicy {
        timeout: Some(200 * MILLISECOND),
        retries: 2,
        backoff: BackoffPolicy {
            kind: Backoff::FullJitter,
            base: 10 * MILLISECOND,
            cap: SECOND,
        },
        ..CallPolicy::plain()
    };
    let topo = Topology {
        sources: vec![Source::Open {
            shape: RateShape::Flat(200.0),
            poisson: true,
            routes: vec![(0, 1.0)],
            objects: None,
            clients: 0,
        }],
        ..api_calling(
            service(50, 50, true, vec![work_ms(2.0), call(1, policy)]),
            StageKind::ThirdParty(ThirdParty {
                latency: Dist::exponential(0.05),
                quota: None,
            }),
            200.0,
            vec![],
        )
    };
    let go = || {
        let mut sim =
            Sim::new(&topo, 7, 600 * SECOND, &["api.busy"]).unwrap_or_else(|e| panic!("{e}"));
        sim.run();
        let peak = sim.totals().peak_jobs;
        (sim.finish(vec![]), peak)
    };
    let (a, peak) = go();
    let (b, _) = go();
    assert_eq!(a, b);
    conserved(&a);
    // 120 000 requests over the run, but never more than a few dozen jobs
    // at once (200/s × ~55 ms ≈ 11 on average).
    assert!(m(&a, "requests") > 100_000.0);
    assert!(peak < 200, "{peak}");
}

#[test]
fn a_topology_with_a_dangling_index_is_refused() {
    let mut topo = api_calling(
        service(1, 0, true, vec![call(5, CallPolicy::plain())]),
        provider(0.1),
        1.0,
        vec![],
    );
    assert!(Sim::new(&topo, 1, SECOND, &[]).is_err());
    topo.stages[0].kind = service(1, 0, true, vec![call(0, CallPolicy::plain())]);
    assert!(Sim::new(&topo, 1, SECOND, &[]).is_err());
}

#[test]
fn a_client_that_gives_up_fails_the_request_and_orphans_its_work() {
    // One slot, 1 s of work, a request every 2 s (never a queue), and
    // clients that wait 300 ms: each request fails at 300 ms and its work
    // still runs to the end, orphaned.
    let mut topo = Topology {
        stages: vec![stage("api", service(1, 10, true, vec![work_ms(1_000.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(0.5)],
        faults: vec![],
    };
    topo.routes[0].client.timeout = Some(300 * MILLISECOND);
    let (out, totals, route, _) = run(&topo, 20);
    conserved(&out);
    // Requests at 2, 4, …, 20 s: ten. The last one arrives as the run
    // ends, so it neither fails (at 20.3 s) nor finishes its work (21 s);
    // each of the other nine fails and leaves its work orphaned.
    assert_eq!(route.requests, 10);
    assert_eq!(route.completed, 0);
    assert_eq!(route.failed, 9);
    assert!(out.outcomes.iter().all(|o| o.reason == "timeout"));
    assert_eq!(totals.orphaned_work, 9);
}

/// A batch of `jobs` on `workers` over `objects`, entering stage 0.
fn batch(jobs: u64, workers: u32, objects: Option<Objects>, requeue_failed: bool) -> Source {
    Source::Batch {
        jobs,
        workers,
        route: 0,
        objects,
        requeue_failed,
        think: None,
    }
}

fn with_cache(kind: StageKind, capacity: usize, ttl: Option<SimTime>) -> StageKind {
    match kind {
        StageKind::Service(mut svc) => {
            svc.cache = Some(CacheSpec::new(capacity, ttl));
            StageKind::Service(svc)
        }
        other => other,
    }
}

#[test]
fn a_cache_answers_repeated_objects_and_only_misses_reach_the_backend() {
    // One worker, 100 jobs all for object 0: the first misses and fills
    // the cache; the other 99 hit. With a TTL of 1.5 s and 1 s per miss
    // (hits take no time), every job after the first hits until 1.5 s
    // after the fill at 1 s, that is all of them (they come in no time).
    let topo = |ttl| Topology {
        stages: vec![
            stage(
                "cache",
                with_cache(
                    service(1_000, 0, false, vec![call(1, CallPolicy::plain())]),
                    10,
                    ttl,
                ),
            ),
            stage("origin", provider(1.0)),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(
            100,
            1,
            Some(Objects {
                count: 1,
                popularity: Popularity::Uniform,
            }),
            false,
        )],
        faults: vec![],
    };
    let topo_forever = topo(None);
    let mut sim = Sim::new(&topo_forever, 1, 60 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route(0).completed, 100);
    assert_eq!(sim.stage_arrivals(1), 1);
    assert_eq!(sim.cache_lookups(0), (99, 100));
    // A TTL of 0: every entry is stale at once, so every job misses.
    let topo_zero = topo(Some(0));
    let mut sim = Sim::new(&topo_zero, 1, 600 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route(0).completed, 100);
    assert_eq!(sim.stage_arrivals(1), 100);
    assert_eq!(sim.cache_lookups(0).0, 0);
}

#[test]
fn zipf_objects_follow_their_weights() {
    // 10 objects, s = 1: object k (from 1) has probability 1 / (k H(10)),
    // H(10) ≈ 2.929. A cache that holds them all misses each once.
    let topo = Topology {
        stages: vec![
            stage(
                "cache",
                with_cache(
                    service(1_000, 0, false, vec![call(1, CallPolicy::plain())]),
                    100,
                    None,
                ),
            ),
            stage("origin", provider(0.0)),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(
            20_000,
            1,
            Some(Objects {
                count: 10,
                popularity: Popularity::Zipf(1.0),
            }),
            false,
        )],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 3, 600 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.stage_arrivals(1), 10);
    // And with a cache of 1 (only the last object asked for is kept),
    // a hit needs the same object twice in a row: Σ p_k² for Zipf(1, 10).
    let h: f64 = (1..=10).map(|k| 1.0 / k as f64).sum();
    let repeat: f64 = (1..=10).map(|k| (1.0 / (k as f64 * h)).powi(2)).sum();
    let mut one = topo.clone();
    one.stages[0].kind = with_cache(
        service(1_000, 0, false, vec![call(1, CallPolicy::plain())]),
        1,
        None,
    );
    let mut sim = Sim::new(&one, 3, 600 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (hits, lookups) = sim.cache_lookups(0);
    let share = hits as f64 / lookups as f64;
    assert!((share - repeat).abs() < 0.01, "{share} vs {repeat}");
}

#[test]
fn a_batch_that_requeues_failures_does_every_job_in_the_end() {
    // Half the calls fail; a failed job goes back to the end of the queue.
    // Each job then needs a geometric number of runs, 2 on average.
    let topo = |requeue| Topology {
        stages: vec![stage("api", service(4, 0, true, vec![work_ms(10.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(1_000, 4, None, requeue)],
        faults: vec![Fault {
            start: 0,
            duration: 3_600 * SECOND,
            target: 0,
            kind: FaultKind::Errors(0.5),
        }],
    };
    let (out, _, route, _) = run(&topo(true), 600);
    conserved(&out);
    assert_eq!(route.completed, 1_000);
    let runs = route.requests as f64 / 1_000.0;
    assert!((runs - 2.0).abs() < 0.15, "{runs}");
    let (_, _, given_up, _) = run(&topo(false), 600);
    assert_eq!(given_up.requests, 1_000);
    assert!((given_up.completed as f64 - 500.0).abs() < 60.0);
}

#[test]
fn an_async_job_whose_last_step_was_a_call_answers_without_a_slot() {
    // A pacer: one slot held 100 ms per job, then a 250 ms call made
    // without the slot. Ten jobs at once leave at 0.1, 0.2, … 1.0 s and
    // are answered 250 ms later: the first at 0.35 s, the last at 1.25 s,
    // on average at 0.55 + 0.25 = 0.80 s. Had answered jobs queued for
    // the slot again behind the ones still waiting, the first answers
    // would come only after the last job had left, at 1.0 s.
    let topo = Topology {
        stages: vec![
            stage(
                "pacer",
                service(
                    1,
                    u32::MAX,
                    false,
                    vec![work_ms(100.0), call(1, CallPolicy::plain())],
                ),
            ),
            stage("provider", provider(0.25)),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(10, 10, None, false)],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 1, 60 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let r = sim.route(0);
    assert_eq!(r.completed, 10);
    assert_eq!(r.last_completed_at, 1_250 * MILLISECOND);
    let mean = sim.route_latency(0).mean() / SECOND as f64;
    assert!((mean - 0.80).abs() < 0.01, "{mean}");
    assert_eq!(sim.queue_max(0), 9);
}

#[test]
fn callers_refused_together_retry_together_unless_jittered() {
    // 50 callers at once against a bucket of 1 call (60 a minute): 49
    // refused at the same instant (the provider answers in exactly 10 ms),
    // and with a fixed backoff they all retry in the same 100 ms slot.
    let topo = |kind| Topology {
        stages: vec![
            stage(
                "workers",
                service(
                    50,
                    0,
                    false,
                    vec![call(
                        1,
                        CallPolicy {
                            retries: 3,
                            backoff: BackoffPolicy {
                                kind,
                                base: SECOND,
                                cap: 60 * SECOND,
                            },
                            ..CallPolicy::plain()
                        },
                    )],
                ),
            ),
            stage(
                "provider",
                StageKind::ThirdParty(ThirdParty {
                    latency: Dist::constant(0.01),
                    quota: Some(Quota {
                        limit: 60,
                        window: 60 * SECOND,
                        keys: 1,
                        rule: QuotaRule::TokenBucket {
                            burst: 1,
                            charge_refused: false,
                        },
                    }),
                }),
            ),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(50, 50, None, false)],
        faults: vec![],
    };
    let peak = |kind| {
        let t = topo(kind);
        let mut sim = Sim::new(&t, 1, 60 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
        sim.run();
        (sim.retries_peak(1), sim.rate_limited(1))
    };
    let (together, refused) = peak(Backoff::Exponential);
    assert_eq!(together, 49);
    assert!(refused >= 49);
    // Full jitter over [0, 2 s]: about 49 / 20 ≈ 2.5 per 100 ms slot.
    let (spread, _) = peak(Backoff::FullJitter);
    assert!(spread <= 10, "{spread}");
}

#[test]
fn a_requeued_job_that_fails_at_once_waits_before_its_worker_starts_again() {
    // Every job is refused at the door (the stage is down). Requeued,
    // each of the 4 workers starts a job once a second instead of
    // spinning: at 0, 1, … 10 s (the run's last instant included), so
    // 4 × 11 = 44 runs.
    let topo = Topology {
        stages: vec![stage("api", service(4, 0, true, vec![work_ms(10.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![batch(100, 4, None, true)],
        faults: vec![Fault {
            start: 0,
            duration: 3_600 * SECOND,
            target: 0,
            kind: FaultKind::Down,
        }],
    };
    let (out, _, route, _) = run(&topo, 10);
    conserved(&out);
    assert_eq!(route.completed, 0);
    assert_eq!(route.requests, 44);
}

#[test]
fn a_limiter_admits_per_client_and_refuses_the_rest_at_the_door() {
    // A fixed window of 5 per second per client. Client 7 sends 8
    // requests within 0.1–0.8 s: 5 admitted, 3 refused at the door as
    // rate_limited. Four other clients share 20 evenly spaced req/s for
    // 10 s (about 5 each a second): under their own limits nearly always.
    let topo = Topology {
        stages: vec![
            stage(
                "limiter",
                StageKind::Limiter(LimiterStage {
                    algorithm: crate::parts::Algorithm::FixedWindow,
                    limit: 5,
                    window: SECOND,
                    refill_per_s: 0.0,
                    next: 1,
                }),
            ),
            stage("api", service(1_000, 0, true, vec![work_ms(1.0)])),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![
            Source::Scheduled {
                times: (1..=8).map(|k| k * 100 * MILLISECOND).collect(),
                route: 0,
                client: 7,
            },
            Source::Open {
                shape: RateShape::Flat(20.0),
                poisson: false,
                routes: vec![(0, 1.0)],
                objects: None,
                clients: 4,
            },
        ],
        faults: vec![],
    };
    let mut sim =
        Sim::new(&topo, 5, 10 * SECOND, &["limiter.allowed_rps"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (all, seven) = sim.admitted(0, 7);
    assert_eq!(seven, 5);
    let others: u64 = (0..4).map(|c| sim.admitted(0, c).1).sum();
    assert_eq!(all, seven + others);
    assert_eq!(sim.admitted(0, 4).1, 0, "clients are 0..4");
    // A fixed window admits at most 2 × limit within one window length
    // (a limit's worth either side of a boundary).
    assert!(sim.admitted_peak(0) <= 10);
    let out = sim.finish(vec![]);
    conserved(&out);
    let refused: u64 = out
        .outcomes
        .iter()
        .filter(|o| o.kind == "rejected" && o.reason == "rate_limited")
        .map(|o| o.count)
        .sum();
    assert!(refused >= 3, "{refused}");
    assert_eq!(m(&out, "rejected"), refused as f64);
    assert_eq!(m(&out, "requests"), 8.0 + 200.0);
    assert!(out.series("limiter.allowed_rps").is_some());
}

/// An app calling a database with `policy`: three requests at once.
fn app_and_db(policy: CallPolicy, max_connections: u32) -> Topology {
    Topology {
        stages: vec![
            stage("app", service(1_000, 0, true, vec![call(1, policy)])),
            stage(
                "db",
                StageKind::Database(DatabaseStage {
                    cores: 2,
                    max_connections,
                    contention: 0.0,
                    connect: 10 * MILLISECOND,
                    query: Dist::constant(0.1),
                    storage: None,
                    statement_timeout: None,
                }),
            ),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![Source::Scheduled {
            times: vec![0, 0, 0],
            route: 0,
            client: 0,
        }],
        faults: vec![],
    }
}

#[test]
fn without_a_pool_each_call_opens_a_session_and_one_too_many_is_refused() {
    // Two sessions allowed: two calls connect (10 ms) and run their 100 ms
    // queries on the two cores, done at 110 ms; the third is refused.
    let topo = app_and_db(CallPolicy::plain(), 2);
    let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let r = sim.route(0).clone();
    assert_eq!((r.completed, r.failed), (2, 1));
    assert_eq!(r.last_completed_at, 110 * MILLISECOND);
    let db = sim.database(1).unwrap_or_else(|| panic!("a database"));
    assert_eq!((db.opened, db.refused, db.sessions_max), (2, 1, 2));
    assert!((db.wait_mean_ms - 10.0).abs() < 1e-9, "{}", db.wait_mean_ms);
    // Two sessions for 110 ms of a 1 s run: 0.22 on average.
    assert!(
        (db.sessions_mean - 0.22).abs() < 1e-9,
        "{}",
        db.sessions_mean
    );
    assert_eq!(sim.pool(1), None);
    let out = sim.finish(vec![]);
    conserved(&out);
    assert!(out.outcomes.iter().all(|o| o.reason == "db_refused"));
}

#[test]
fn a_pool_lends_its_connections_in_turn_and_waiters_time_out() {
    // One pooled connection, waiters give up after 150 ms. The first call
    // opens it (10 ms) and queries until 110 ms; the second gets it then
    // and queries until 210 ms; the third gives up at 150 ms.
    let policy = CallPolicy {
        pool: Some(PoolSpec {
            size: 1,
            acquire_timeout: Some(150 * MILLISECOND),
            open_at_start: 0,
        }),
        ..CallPolicy::plain()
    };
    let topo = app_and_db(policy, 100);
    let mut sim = Sim::new(&topo, 1, SECOND, &["db.pool_in_use"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let r = sim.route(0).clone();
    assert_eq!((r.completed, r.failed), (2, 1));
    assert_eq!(r.last_completed_at, 210 * MILLISECOND);
    let db = sim.database(1).unwrap_or_else(|| panic!("a database"));
    // One session opened, reused; waits of 10 ms and 110 ms.
    assert_eq!((db.opened, db.refused), (1, 0));
    assert!((db.wait_mean_ms - 60.0).abs() < 1e-9, "{}", db.wait_mean_ms);
    let pool = sim.pool(1).unwrap_or_else(|| panic!("a pool"));
    assert_eq!((pool.size, pool.timeouts), (1, 1));
    // In use from 0 to 210 ms of a 1 s run.
    assert!(
        (pool.in_use_mean - 0.21).abs() < 1e-9,
        "{}",
        pool.in_use_mean
    );
    let out = sim.finish(vec![]);
    conserved(&out);
    assert!(out.outcomes.iter().all(|o| o.reason == "acquire_timeout"));
}

#[test]
fn a_pool_open_at_start_skips_the_connect_and_stops_at_the_database_limit() {
    // The same three calls as above, with the pool's one connection open
    // before the run: no 10 ms connect, so the first query runs 0–100 ms,
    // the second 100–200 ms, and the third still gives up at 150 ms.
    let policy = |size, open_at_start| CallPolicy {
        pool: Some(PoolSpec {
            size,
            acquire_timeout: Some(150 * MILLISECOND),
            open_at_start,
        }),
        ..CallPolicy::plain()
    };
    let topo = app_and_db(policy(1, 1), 100);
    let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let r = sim.route(0).clone();
    assert_eq!((r.completed, r.failed), (2, 1));
    assert_eq!(r.last_completed_at, 200 * MILLISECOND);
    let db = sim.database(1).unwrap_or_else(|| panic!("a database"));
    // Opened once, at the start; waits of 0 and 100 ms.
    assert_eq!((db.opened, db.sessions_max), (1, 1));
    assert!((db.wait_mean_ms - 50.0).abs() < 1e-9, "{}", db.wait_mean_ms);
    // The session is open for the whole 1 s run.
    assert!(
        (db.sessions_mean - 1.0).abs() < 1e-9,
        "{}",
        db.sessions_mean
    );

    // A pool of 3 asking for 3 at the start of a database that takes 2:
    // two open at once; the third call opens one of its own and is refused.
    let topo = app_and_db(policy(3, 3), 2);
    let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let r = sim.route(0).clone();
    assert_eq!((r.completed, r.failed), (2, 1));
    // Both queries start at once on the two cores: done at 100 ms.
    assert_eq!(r.last_completed_at, 100 * MILLISECOND);
    let db = sim.database(1).unwrap_or_else(|| panic!("a database"));
    assert_eq!((db.opened, db.refused, db.sessions_max), (2, 1, 2));
}

#[test]
fn a_pool_only_goes_on_calls_into_a_database_and_a_query_cannot_be_cancelled() {
    let pooled = CallPolicy {
        pool: Some(PoolSpec {
            size: 1,
            acquire_timeout: None,
            open_at_start: 0,
        }),
        ..CallPolicy::plain()
    };
    let topo = api_calling(
        service(1, 0, true, vec![call(1, pooled)]),
        provider(0.1),
        1.0,
        vec![],
    );
    assert!(Sim::new(&topo, 1, SECOND, &[]).is_err());
    let cancelling = CallPolicy {
        timeout: Some(MILLISECOND),
        on_timeout: OnTimeout::Cancel,
        ..CallPolicy::plain()
    };
    assert!(Sim::new(&app_and_db(cancelling, 10), 1, SECOND, &[]).is_err());
}

/// Routes "p0", "p1" and "p2" into stage 0, of priority classes 0, 1
/// and 2, sent by `shares`.
fn prioritised(mut source: Source, shares: [f64; 3]) -> (Vec<Route>, Source) {
    let routes = (0..3)
        .map(|c| Route {
            class: c as u8,
            ..Route::new(&format!("p{c}"), 0)
        })
        .collect();
    if let Source::Open { routes, .. } = &mut source {
        *routes = vec![(0, shares[0]), (1, shares[1]), (2, shares[2])];
    }
    (routes, source)
}

#[test]
fn a_request_carries_its_routes_priority_class() {
    // 50 / 30 / 20 % of 20 000 requests: each count within 4 standard
    // deviations of n × p (binomial: sd = sqrt(n p (1 − p)), at most 71).
    let (routes, source) = prioritised(Source::poisson(1_000.0), [5.0, 3.0, 2.0]);
    let topo = Topology {
        routes,
        sources: vec![source],
        ..api_calling(
            service(1_000, 0, true, vec![work_ms(1.0)]),
            provider(0.1),
            1.0,
            vec![],
        )
    };
    let mut sim = Sim::new(&topo, 9, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let by_class = sim.arrivals_by_class();
    let n: u64 = by_class.iter().sum();
    assert!((19_000..=21_000).contains(&n), "{n}");
    for (c, (count, p)) in by_class.iter().zip([0.5, 0.3, 0.2]).enumerate() {
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (*count as f64 - n as f64 * p).abs() < 4.0 * sd,
            "{by_class:?}"
        );
        // Each class is exactly its route's requests.
        assert_eq!(*count, sim.route(c).requests);
    }
    // A class beyond P2 is refused.
    let mut bad = topo.clone();
    bad.routes[2].class = 3;
    let err = Sim::new(&bad, 9, SECOND, &[]).err().unwrap_or_default();
    assert!(err.contains("route 'p2' has priority class 3"), "{err}");
}

#[test]
fn a_route_counts_the_seconds_it_misses_its_objective() {
    // One slot, 100 ms per request, a 250 ms objective. At 5 req/s evenly
    // spaced no one waits: every answer takes 100 ms, no second misses.
    // At 20 req/s one arrives every 50 ms and one is served every 100 ms:
    // the k-th (from 0) takes 100 + 50 k ms, so all but the first four are
    // late, and every one of the 10 seconds misses a 95 % objective.
    // Nothing fails (the queue has room).
    let at = |rps: f64| Topology {
        stages: vec![stage("api", service(1, 1_000, true, vec![work_ms(100.0)]))],
        routes: vec![Route {
            slo: Some(millis(250.0)),
            ..Route::new("r", 0)
        }],
        sources: vec![even(rps)],
        faults: vec![],
    };
    let topo = at(5.0);
    let mut sim = Sim::new(&topo, 1, 10 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.slo_missed_s(0, 95.0, 1), 0);
    let topo = at(20.0);
    let mut sim =
        Sim::new(&topo, 1, 10 * SECOND, &["r.late_rps"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.slo_missed_s(0, 95.0, 1), 10);
    // Judged over 5 s windows: both miss, 10 s.
    assert_eq!(sim.slo_missed_s(0, 95.0, 5), 10);
    // Answered: about 10 a second for 10 s; late: all but the first four.
    let answered = sim.route(0).completed as f64;
    let out = sim.finish(vec![]);
    let s = out
        .series("r.late_rps")
        .unwrap_or_else(|| panic!("a late series"));
    let late = s.values.iter().sum::<f64>() * out.bucket_s;
    assert!(
        (late - (answered - 4.0)).abs() < 1e-6,
        "{late} of {answered}"
    );
    assert_eq!(m(&out, "failed") + m(&out, "rejected"), 0.0);
    // With no objective nothing is counted.
    let mut topo = at(20.0);
    topo.routes[0].slo = None;
    let mut sim = Sim::new(&topo, 1, 10 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.slo_missed_s(0, 95.0, 1), 0);
}

#[test]
fn a_cache_answers_only_cacheable_routes() {
    // Every request asks for object 0; the first one fills the cache. A
    // cacheable route is then answered from it, a write never is.
    let mut svc = Service::new(10, 100, true, vec![work_ms(10.0)]);
    svc.cache = Some(CacheSpec::new(10, None));
    let mut topo = Topology {
        stages: vec![stage("api", StageKind::Service(svc))],
        routes: vec![Route::new("read", 0)],
        sources: vec![Source::Open {
            shape: RateShape::Flat(10.0),
            poisson: false,
            routes: vec![(0, 1.0)],
            objects: Some(Objects {
                count: 1,
                popularity: Popularity::Uniform,
            }),
            clients: 0,
        }],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 1, 10 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (hits, lookups) = sim.cache_lookups(0);
    assert_eq!((hits + 1, lookups), (100, 100));
    topo.routes[0].cacheable = false;
    let mut sim = Sim::new(&topo, 1, 10 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.cache_lookups(0), (0, 0));
    assert_eq!(sim.stage_arrivals(0), 100);
}

/// A queue (stage 0, room for `capacity`, `prefetch` deliveries at once,
/// `max_deliveries` each, delivered with `deliver`) in front of a consumer
/// service (stage 1) of `slots` slots doing `work_ms`, and `n` messages
/// produced together at 100 ms.
fn queue_and_consumer(
    capacity: u32,
    prefetch: u32,
    max_deliveries: u32,
    deliver: CallPolicy,
    slots: u32,
    work: f64,
    n: u64,
) -> Topology {
    Topology {
        stages: vec![
            stage(
                "queue",
                StageKind::Queue(QueueStage {
                    capacity,
                    prefetch,
                    max_deliveries,
                    deliver: Call {
                        to: 1,
                        policy: deliver,
                    },
                }),
            ),
            stage("consumer", service(slots, 0, true, vec![work_ms(work)])),
        ],
        routes: vec![Route::new("r", 0)],
        sources: vec![Source::Scheduled {
            times: vec![100 * MILLISECOND; n as usize],
            route: 0,
            client: 0,
        }],
        faults: vec![],
    }
}

fn run_queue(topo: &Topology, seconds: u64) -> (Sim<'_>, QueueStats) {
    let mut sim = Sim::new(topo, 3, seconds * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let stats = sim.queue(0).unwrap_or_else(|| panic!("stage 0 is a queue"));
    (sim, stats)
}

#[test]
fn a_queue_answers_the_producer_at_once_and_its_consumers_drain_the_backlog() {
    // 20 messages at 0.1 s; 2 deliveries at a time (the consumer has 10
    // slots, but the prefetch caps it) of 100 ms each. The producers are
    // answered at 0.1 s (latency 0). Message i is consumed at 0.1 s +
    // (floor(i/2) + 1) × 0.1 s: the last at 1.1 s, their mean age
    // 0.1 × (1 + … + 10) × 2 / 20 = 0.55 s. Two are handed out as they
    // come, so at most 18 wait.
    let topo = queue_and_consumer(100, 2, 1, CallPolicy::plain(), 10, 100.0, 20);
    let (sim, q) = run_queue(&topo, 5);
    assert_eq!(sim.route(0).completed, 20);
    assert_eq!(sim.route_latency(0).max(), 0);
    assert_eq!((q.enqueued, q.consumed, q.waiting), (20, 20, 0));
    assert_eq!((q.redelivered, q.dead_lettered), (0, 0));
    assert_eq!(q.depth_max, 18);
    assert_eq!(sim.busy_max(1), 2);
    assert_eq!(sim.queue_max(0), 18);
    assert!((q.age_mean_ms - 550.0).abs() < 1.0, "{}", q.age_mean_ms);
    assert!((q.age_p99_ms - 1_000.0).abs() < 5.0, "{}", q.age_p99_ms);
    conserved(&sim.finish(vec![]));
}

#[test]
fn a_full_queue_refuses_the_producer_at_the_door() {
    // Room for 5, one delivery at a time of 1 s: of 10 produced together
    // one goes out, 5 wait and 4 are refused (queue_full).
    let topo = queue_and_consumer(5, 1, 1, CallPolicy::plain(), 1, 1_000.0, 10);
    let (sim, q) = run_queue(&topo, 3);
    let route = sim.route(0).clone();
    assert_eq!((route.completed, route.rejected), (6, 4));
    assert_eq!((q.enqueued, q.depth_max), (6, 5));
    // By 3 s: the first at 1.1 s, the second at 2.1 s.
    assert_eq!(q.consumed, 2);
    let out = sim.finish(vec![]);
    conserved(&out);
    assert!(out
        .outcomes
        .iter()
        .any(|o| o.kind == "rejected" && o.reason == "queue_full" && o.count == 4));
}

#[test]
fn failed_deliveries_come_back_until_the_dead_letter_queue() {
    // Every consumer run fails; 3 deliveries each: 4 messages make 12
    // consumer visits, 8 redeliveries and 4 dead letters. The producers
    // were answered when their messages were stored: 4 completed.
    let mut topo = queue_and_consumer(100, 2, 3, CallPolicy::plain(), 2, 10.0, 4);
    topo.faults.push(Fault {
        start: 0,
        duration: 10 * SECOND,
        target: 1,
        kind: FaultKind::Errors(1.0),
    });
    let (sim, q) = run_queue(&topo, 10);
    assert_eq!(sim.stage_arrivals(1), 12);
    assert_eq!((q.consumed, q.redelivered, q.dead_lettered), (0, 8, 4));
    assert_eq!(sim.route(0).completed, 4);
    assert_eq!(sim.stage_errors(0), 4);
    conserved(&sim.finish(vec![]));
}

#[test]
fn a_visibility_timeout_shorter_than_the_work_processes_a_message_twice() {
    // Work takes 80 ms, the visibility timeout is 50 ms: the first
    // delivery times out at 50 ms and the message goes out again while the
    // first run goes on (at-least-once delivery: a duplicate); the second
    // times out too, so the message is dead-lettered although the consumer
    // ran it to the end twice (2 orphaned runs).
    let mut deliver = CallPolicy::plain();
    deliver.timeout = Some(50 * MILLISECOND);
    let topo = queue_and_consumer(10, 1, 2, deliver, 2, 80.0, 1);
    let (sim, q) = run_queue(&topo, 2);
    assert_eq!(sim.stage_arrivals(1), 2);
    assert_eq!((q.consumed, q.redelivered, q.dead_lettered), (0, 1, 1));
    assert_eq!(sim.totals().orphaned_work, 2);
}

#[test]
fn a_queue_that_would_retry_its_deliveries_itself_is_refused() {
    let mut deliver = CallPolicy::plain();
    deliver.retries = 1;
    let topo = queue_and_consumer(10, 1, 2, deliver, 2, 80.0, 1);
    let err = Sim::new(&topo, 1, SECOND, &[]).err().unwrap_or_default();
    assert!(err.contains("max_deliveries"), "{err}");
    let topo = queue_and_consumer(10, 0, 2, CallPolicy::plain(), 2, 80.0, 1);
    assert!(Sim::new(&topo, 1, SECOND, &[]).is_err());
}

#[test]
fn a_plain_client_call_skips_its_bookkeeping_but_not_its_outcome() {
    // A route whose client call has a plain policy goes straight to its
    // entry stage (no call state). A bulkhead that can never fill makes the
    // same call non-plain, so it takes the full path; both must give the
    // same run to the last bit: every refusal, queue, cache hit and answer
    // in the same order. The topology has each kind of first stage that
    // allows the direct path: a limiter in front of a balancer over two
    // services (one with a small cache and queue, so some requests are
    // refused and some answered from cache), one of which calls a database.
    let topo = |client: CallPolicy| {
        let db = DatabaseStage {
            cores: 2,
            max_connections: 3,
            contention: 0.0,
            connect: 2 * MILLISECOND,
            query: Dist::exponential(0.004),
            storage: None,
            statement_timeout: None,
        };
        let mut route = Route::new("r", 0);
        route.client = client;
        let mut source = Source::poisson(400.0);
        if let Source::Open {
            objects, clients, ..
        } = &mut source
        {
            *objects = Some(Objects {
                count: 50,
                popularity: Popularity::Uniform,
            });
            *clients = 4;
        }
        Topology {
            stages: vec![
                stage(
                    "limit",
                    StageKind::Limiter(LimiterStage {
                        algorithm: crate::parts::Algorithm::TokenBucket,
                        limit: 60,
                        window: SECOND,
                        refill_per_s: 60.0,
                        next: 1,
                    }),
                ),
                stage(
                    "lb",
                    StageKind::Balancer(BalancerStage {
                        policy: Policy::RoundRobin,
                        targets: vec![2, 3],
                    }),
                ),
                stage(
                    "a",
                    with_cache(service(2, 3, true, vec![work_ms(3.0)]), 10, None),
                ),
                stage(
                    "b",
                    service(4, 100, true, vec![call(4, CallPolicy::plain())]),
                ),
                stage("db", StageKind::Database(db)),
            ],
            routes: vec![route],
            sources: vec![source],
            faults: vec![Fault {
                target: 2,
                kind: FaultKind::Down,
                start: 3 * SECOND,
                duration: SECOND,
            }],
        }
    };
    let direct = run(&topo(CallPolicy::plain()), 8);
    let full = run(
        &topo(CallPolicy {
            bulkhead: Some(u32::MAX),
            ..CallPolicy::plain()
        }),
        8,
    );
    // The outcome mix this checks is there: some refused, some failed,
    // most completed.
    assert!(m(&direct.0, "rejected") > 0.0 && m(&direct.0, "completed") > 1_000.0);
    conserved(&direct.0);
    assert_eq!(format!("{:?}", direct.0), format!("{:?}", full.0));
    assert_eq!(format!("{:?}", direct.1), format!("{:?}", full.1));
    assert_eq!(format!("{:?}", direct.2), format!("{:?}", full.2));
    assert_eq!(direct.3, full.3);
}

/// One service of single-slot instances doing 100 ms of work per request,
/// 20 req/s evenly: 2 slots' worth of work, so 4 instances at a 50 %
/// target. Autoscaled between 1 and `max` with Kubernetes' defaults.
fn autoscaled(instances: u32, warmup_s: u64, max: u32) -> Topology {
    let mut svc = Service::new(1, 1_000, true, vec![work_ms(100.0)]);
    svc.instances = instances;
    svc.autoscale = Some(Autoscale {
        hpa: crate::parts::HpaSpec::kubernetes_defaults(1, max, 0.5),
        warmup: warmup_s * SECOND,
    });
    Topology {
        stages: vec![stage("web", StageKind::Service(svc))],
        routes: vec![Route::new("r", 0)],
        sources: vec![even(20.0)],
        faults: vec![],
    }
}

fn instances_at(out: &RunResult, t_s: f64) -> f64 {
    let s = out
        .series("web.instances")
        .unwrap_or_else(|| panic!("an instances series"));
    s.values[((t_s / out.bucket_s) as usize).min(s.values.len() - 1)]
}

#[test]
fn an_autoscaler_adds_instances_at_its_sync_and_then_holds() {
    // 2 instances, both busy from the first requests (50 and 100 ms): at
    // the 15 s sync the utilization is 29.85 / 30 = 0.995, ratio 1.99,
    // ceil(2 × 1.99) = 4, within the limit max(2 × 2, 2 + 4). With no
    // warm-up they serve at once, each busy half the time: ratio 1, within
    // the tolerance, so 4 from then on.
    let topo = autoscaled(2, 0, 20);
    let mut sim =
        Sim::new(&topo, 1, 60 * SECOND, &["web.instances"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let scaling = sim.scaling(0).unwrap_or_else(|| panic!("autoscaled"));
    assert_eq!((scaling.running_max, scaling.serving_at_end), (4, 4));
    // 2 instances for 15 s and 4 for 45 s: 210 instance-seconds.
    assert!((scaling.instance_hours - 210.0 / 3_600.0).abs() < 1e-9);
    let out = sim.finish(vec![]);
    assert_eq!(instances_at(&out, 10.0), 2.0);
    assert_eq!(instances_at(&out, 20.0), 4.0);
    assert_eq!(instances_at(&out, 59.0), 4.0);
    conserved(&out);
    assert_eq!(m(&out, "failed") + m(&out, "rejected"), 0.0);
}

#[test]
fn a_warm_up_delays_the_new_capacity_and_the_controller_overshoots() {
    // The same load with a 10 s warm-up. At 15 s: 4 asked for, 2 of them
    // serve from 25 s. The 30 s sync sees 15–25 s with 2 instances fully
    // busy (20 slot-s of 20) and 25–30 s with 4 half busy (10 of 20):
    // 30 / 40 = 0.75, ratio 1.5, ceil(4 × 1.5) = 6 (the +2 of 15 s is
    // exactly 15 s old, so the limit is max(4 × 2, 4 + 4) = 8). Two more
    // serve from 40 s: 6 for a load that needs 4. At 45 s the utilization
    // is (20 + 10) / (40 + 30) = 0.43, ceil(6 × 0.857) = 6 again.
    let topo = autoscaled(2, 10, 20);
    let mut sim =
        Sim::new(&topo, 1, 55 * SECOND, &["web.instances"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let scaling = sim.scaling(0).unwrap_or_else(|| panic!("autoscaled"));
    assert_eq!((scaling.running_max, scaling.serving_at_end), (6, 6));
    // Paid from the moment they are asked for: 2 × 15 + 4 × 15 + 6 × 25 =
    // 240 instance-seconds.
    assert!((scaling.instance_hours - 240.0 / 3_600.0).abs() < 1e-9);
    let out = sim.finish(vec![]);
    assert_eq!(instances_at(&out, 20.0), 2.0);
    assert_eq!(instances_at(&out, 35.0), 4.0);
    assert_eq!(instances_at(&out, 50.0), 6.0);
    conserved(&out);
}

#[test]
fn scaling_down_drains_instances_instead_of_dropping_their_work() {
    // 8 instances for a load that needs 4: the 15 s sync sees 2 / 8 =
    // 0.25, ratio 0.5, desired 4, and with no history scales down at once
    // (the 300 s window holds only this recommendation). The 4 removed
    // finish what they hold; nothing fails.
    let topo = autoscaled(8, 0, 20);
    let mut sim =
        Sim::new(&topo, 1, 30 * SECOND, &["web.instances"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let scaling = sim.scaling(0).unwrap_or_else(|| panic!("autoscaled"));
    assert_eq!((scaling.running_max, scaling.serving_at_end), (8, 4));
    let out = sim.finish(vec![]);
    assert_eq!(instances_at(&out, 10.0), 8.0);
    assert_eq!(instances_at(&out, 20.0), 4.0);
    conserved(&out);
    assert_eq!(m(&out, "failed") + m(&out, "rejected"), 0.0);
}

#[test]
fn autoscaling_bounds_are_checked() {
    let mut topo = autoscaled(2, 0, 20);
    if let StageKind::Service(svc) = &mut topo.stages[0].kind {
        if let Some(a) = svc.autoscale.as_mut() {
            a.hpa.min = 0;
        }
    }
    let err = Sim::new(&topo, 1, SECOND, &[]).err().unwrap_or_default();
    assert!(err.contains("'web' autoscales with min 0"), "{err}");
}

/// One instance with 2 slots doing 100 ms per request (20 req/s of
/// capacity) under 40 req/s, evenly spaced, 20 % P0, 30 % P1, 50 % P2;
/// shedding on the queue above 10, restoring below 2, looking every second.
fn overloaded(shed: bool) -> Topology {
    let mut svc = Service::new(2, 10_000, true, vec![work_ms(100.0)]);
    svc.shed = shed.then_some(Shedding {
        spec: crate::parts::ShedSpec {
            shed_above: 10.0,
            restore_below: 2.0,
            deepest: 2,
        },
        signal: ShedSignal::Queue,
        every: SECOND,
    });
    let (routes, source) = prioritised(even(40.0), [0.2, 0.3, 0.5]);
    Topology {
        stages: vec![stage("web", StageKind::Service(svc))],
        routes,
        sources: vec![source],
        faults: vec![],
    }
}

#[test]
fn shedding_the_lowest_classes_keeps_the_queue_short() {
    // Without shedding the queue grows by 40 − 20 = 20 a second: about 400
    // after 20 s.
    let topo = overloaded(false);
    let mut sim = Sim::new(&topo, 1, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert!(sim.queue_max(0) >= 350, "{}", sim.queue_max(0));
    // With it: about 20 queued at the 1 s check, so P2 goes; half the
    // traffic is left, 20 req/s, the capacity, so the queue still holds
    // about 20 at 2 s and P1 goes too; 8 req/s of P0 then drain it. The
    // queue never passes the 20 of the first second by much (the P2 share
    // of 40 arrivals varies by about 3).
    let topo = overloaded(true);
    let mut sim =
        Sim::new(&topo, 1, 20 * SECOND, &["web.shed_classes"]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert!(sim.queue_max(0) < 40, "{}", sim.queue_max(0));
    let [_, p1, p2] = sim.arrivals_by_class();
    let out = sim.finish(vec![]);
    let shed = out
        .series("web.shed_classes")
        .unwrap_or_else(|| panic!("a shed series"));
    // At most P1 and P2 shed, never P0; both were at some point.
    assert_eq!(shed.values.iter().copied().fold(0.0, f64::max), 2.0);
    // Every refusal is a shed, and only P1 and P2 requests are refused.
    assert!(out
        .outcomes
        .iter()
        .all(|o| o.reason == "shed" && o.kind == "rejected"));
    assert!(m(&out, "rejected") > 0.0 && m(&out, "rejected") <= (p1 + p2) as f64);
    conserved(&out);
}

/// Users who think between requests: `users` callers with no end of work.
fn thinking_users(users: u32, think: Dist) -> Source {
    Source::Batch {
        jobs: u64::MAX,
        workers: users,
        route: 0,
        objects: None,
        requeue_failed: false,
        think: Some(think),
    }
}

#[test]
fn users_who_think_send_one_request_per_think_and_response_time() {
    // 100 users, 1 s of thought, 100 ms answers with a slot for everyone:
    // each starts at 1 s, then every 1.1 s. Starts at 1 + 1.1 k s ≤ 110.5 s
    // are k = 0..99: 100 requests each, all answered by 110 s.
    let topo = Topology {
        stages: vec![stage("api", service(1_000, 0, true, vec![work_ms(100.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![thinking_users(100, Dist::constant(1.0))],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 1, 110_500 * MILLISECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route(0).requests, 10_000);
    assert_eq!(sim.route(0).completed, 10_000);
}

#[test]
fn a_slower_system_is_sent_less_by_users_who_wait_for_it() {
    // The same 100 users against one slot of 100 ms: capacity 10/s, below
    // the 100 ÷ 1.1 s = 90.9/s they would send. The slot never idles from
    // 1 s on, so 10 answers a second; each user has at most one request
    // out, so what was sent exceeds what was answered by at most 100.
    // The response-time law gives R = N ÷ X − Z = 100 ÷ 10 − 1 = 9 s.
    let topo = Topology {
        stages: vec![stage("api", service(1, 1_000, true, vec![work_ms(100.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![thinking_users(100, Dist::constant(1.0))],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 1, 200 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let route = sim.route(0).clone();
    // Answers at 1.1 s, 1.2 s, … up to 200 s: 1 990 (one fewer if the last
    // lands a rounding past the end).
    assert!(
        (1_989..=1_990).contains(&route.completed),
        "{}",
        route.completed
    );
    assert!(route.requests - route.completed <= 100, "{route:?}");
    // Past the first round (users queued behind each other from the
    // start), answers take about 9 s.
    let p50 = sim.route_latency(0).quantile(0.5) as f64 / SECOND as f64;
    assert!((p50 - 9.0).abs() < 0.3, "{p50}");
}

#[test]
fn random_think_times_average_to_the_response_time_law() {
    // 50 users, exponential thought of mean 0.5 s, 100 ms answers with no
    // waiting: X = N ÷ (Z + R) = 50 ÷ 0.6 = 83.3/s, so 50 000 in 600 s
    // (the count's relative spread is about 0.4 %; allow 2 %).
    let topo = Topology {
        stages: vec![stage("api", service(1_000, 0, true, vec![work_ms(100.0)]))],
        routes: vec![Route::new("r", 0)],
        sources: vec![thinking_users(50, Dist::exponential(0.5))],
        faults: vec![],
    };
    let (_, _, route, _) = run(&topo, 600);
    let expected = 50.0 / 0.6 * 600.0;
    let got = route.completed as f64;
    assert!((got / expected - 1.0).abs() < 0.02, "{got} vs {expected}");
}

/// `requests` requests at 0 through an app to a database (2 cores, 1 ms of
/// CPU a query, 10 ms to connect) that reads `storage`.
fn app_and_table(storage: Storage, requests: usize) -> Topology {
    let mut topo = app_and_db(CallPolicy::plain(), 100);
    if let StageKind::Database(d) = &mut topo.stages[1].kind {
        d.query = Dist::constant(0.001);
        d.storage = Some(storage);
    }
    topo.sources = vec![Source::Scheduled {
        times: vec![0; requests],
        route: 0,
        client: 0,
    }];
    topo
}

/// A million rows, 80 to a page (12 500 pages), 300 keys per index page,
/// 0.1 µs of CPU per row examined, all in memory, one row per query.
fn million_rows(path: AccessPath) -> Storage {
    Storage {
        table: Table {
            rows: 1_000_000,
            rows_per_page: 80,
            index_fanout: 300,
        },
        path,
        matching: 1,
        cpu_per_row: 1e-7,
        cache_pages: 12_500,
        iops: 1_000.0,
    }
}

#[test]
fn a_full_scan_examines_the_table_and_an_index_log2_of_it() {
    // Full scan: 10^6 rows × 0.1 µs = 100 ms of CPU on top of the 1 ms
    // query and the 10 ms connect: answered at 111 ms. Index: ⌈log₂ 10^6⌉
    // + 1 = 21 rows, 2.1 µs: answered at 11.0021 ms. Nothing from disk.
    for (path, rows, latency) in [
        (AccessPath::FullScan, 1_000_000.0, 111 * MILLISECOND),
        (AccessPath::Index, 21.0, 11_002_100),
    ] {
        let topo = app_and_table(million_rows(path), 1);
        let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
        sim.run();
        let db = sim
            .database(1)
            .unwrap_or_else(|| panic!("stage 1 is a database"));
        assert_eq!(db.rows_examined_per_query, rows, "{path:?}");
        assert_eq!(db.disk_busy_pct, 0.0);
        assert_eq!(sim.route_latency(0).max(), latency, "{path:?}");
    }
}

#[test]
fn pages_the_buffer_cache_misses_queue_for_the_disk() {
    // No cache: an index lookup reads 4 pages (3 tree levels, 1 row), at
    // 1 000 reads/s 4 ms. Ten queries at 10 ms read one after another,
    // done at 14, 18, … 50 ms; each then runs 1 ms and 21 rows × 0.1 µs
    // alone: the last is answered at 51.0021 ms. The disk is busy 40 ms of
    // the 1 s run: 4 %.
    let mut storage = million_rows(AccessPath::Index);
    storage.cache_pages = 0;
    let topo = app_and_table(storage, 10);
    let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route(0).completed, 10);
    assert_eq!(sim.route_latency(0).max(), 51_002_100);
    let db = sim
        .database(1)
        .unwrap_or_else(|| panic!("stage 1 is a database"));
    assert!(
        (db.disk_busy_pct - 4.0).abs() < 1e-9,
        "{}",
        db.disk_busy_pct
    );
    // Half the table cached: each query misses half its 4 pages, 2 ms.
    storage.cache_pages = 6_250;
    let topo = app_and_table(storage, 10);
    let mut sim = Sim::new(&topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route_latency(0).max(), 31_002_100);
}

// ---- a database that suddenly slows: faults on its storage and locks,
// and statement_timeout ----

/// Index lookups into [`million_rows`] (answered 11.0021 ms after they
/// are asked: 10 ms connect, 1 ms query, 21 rows × 0.1 µs), one request at
/// each of `at_ms`, with `faults` on the database.
fn lookups_at(at_ms: &[u64], faults: Vec<Fault>) -> Topology {
    let mut topo = app_and_table(million_rows(AccessPath::Index), 0);
    topo.sources = vec![Source::Scheduled {
        times: at_ms.iter().map(|&t| t * MILLISECOND).collect(),
        route: 0,
        client: 0,
    }];
    topo.faults = faults;
    topo
}

fn db_fault(start_ms: u64, duration_ms: u64, kind: FaultKind) -> Fault {
    Fault {
        start: start_ms * MILLISECOND,
        duration: duration_ms * MILLISECOND,
        target: 1,
        kind,
    }
}

fn set_statement_timeout(topo: &mut Topology, ms: u64) {
    if let StageKind::Database(d) = &mut topo.stages[1].kind {
        d.statement_timeout = Some(ms * MILLISECOND);
    }
}

/// Runs one second and returns the simulator for its statistics.
fn run_db(topo: &Topology) -> (Sim<'_>, DatabaseStats) {
    let mut sim = Sim::new(topo, 1, SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let db = sim
        .database(1)
        .unwrap_or_else(|| panic!("stage 1 is a database"));
    (sim, db)
}

const LOOKUP: SimTime = 11_002_100;

#[test]
fn a_queued_migration_stops_every_later_reader_until_it_has_run() {
    // A transaction holds a shared lock 100–600 ms. At 200 ms a migration
    // asks for the exclusive lock and queues behind it, holding it 50 ms
    // once granted (600–650 ms). A lookup reaching the server at 160 ms
    // (asked at 150) shares the lock with the transaction: answered in
    // 11.0021 ms. One reaching it at 310 ms is compatible with the holder
    // but not with the queued migration, so it waits until 650 ms: a lock
    // wait of 340 ms, answered 650 + 1.0021 − 300 = 351.0021 ms after it
    // was asked.
    let faults = vec![
        db_fault(100, 500, FaultKind::LongTransaction),
        db_fault(200, 50, FaultKind::Migration { lock_timeout: None }),
    ];
    let topo = lookups_at(&[150, 300], faults);
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route(0).completed, 2);
    assert_eq!(sim.route_latency(0).min(), LOOKUP);
    assert_eq!(sim.route_latency(0).max(), 351_002_100);
    assert_eq!(db.lock_wait_max_ms, 340.0);
    assert_eq!(db.migrations_gave_up, 0);
    // The timeline shows the migration from asking (200 ms) to letting go
    // (650 ms), not just the 50 ms it holds the lock.
    let out = sim.finish(vec![]);
    let shown = out.faults.iter().find(|f| f.label == "migration");
    assert_eq!(shown.map(|f| (f.start_s, f.end_s)), Some((0.2, 0.65)));
    // Without the migration, the long transaction alone blocks nobody.
    let topo = lookups_at(
        &[150, 300],
        vec![db_fault(100, 500, FaultKind::LongTransaction)],
    );
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route_latency(0).max(), LOOKUP);
    assert_eq!(db.lock_wait_max_ms, 0.0);
}

#[test]
fn a_lock_timeout_on_the_migration_lets_the_readers_through() {
    // The same, with lock_timeout = 100 ms: the migration gives up at
    // 300 ms, before the second lookup reaches the server (310 ms), which
    // then shares the lock with the transaction and waits for nothing.
    let faults = vec![
        db_fault(100, 500, FaultKind::LongTransaction),
        db_fault(
            200,
            50,
            FaultKind::Migration {
                lock_timeout: Some(100 * MILLISECOND),
            },
        ),
    ];
    let topo = lookups_at(&[150, 300], faults.clone());
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route(0).completed, 2);
    assert_eq!(sim.route_latency(0).max(), LOOKUP);
    assert_eq!((db.migrations_gave_up, db.lock_wait_max_ms), (1, 0.0));
    let out = sim.finish(vec![]);
    let shown = out.faults.iter().find(|f| f.label == "migration gave up");
    assert_eq!(shown.map(|f| (f.start_s, f.end_s)), Some((0.2, 0.3)));
    // A reader already queued behind the migration (reaching the server
    // at 260 ms) goes when it gives up: a 40 ms wait.
    let topo = lookups_at(&[250], faults);
    let (sim, db) = run_db(&topo);
    assert_eq!(db.lock_wait_max_ms, 40.0);
    assert_eq!(sim.route_latency(0).max(), LOOKUP + 40 * MILLISECOND);
}

#[test]
fn statement_timeout_counts_the_lock_wait_and_cancels_the_waiter() {
    // As in the migration test, with statement_timeout = 200 ms: the lookup
    // reaching the server at 310 ms is still waiting at 510 ms and is
    // cancelled there, failing 210 ms after it was asked.
    let faults = vec![
        db_fault(100, 500, FaultKind::LongTransaction),
        db_fault(200, 50, FaultKind::Migration { lock_timeout: None }),
    ];
    let mut topo = lookups_at(&[150, 300], faults);
    set_statement_timeout(&mut topo, 200);
    let (sim, db) = run_db(&topo);
    let route = sim.route(0).clone();
    assert_eq!((route.completed, route.failed), (1, 1));
    assert_eq!(db.statement_timeouts, 1);
    let out = sim.finish(vec![]);
    assert!(out
        .outcomes
        .iter()
        .any(|o| o.reason == "statement_timeout" && o.count == 1));
}

#[test]
fn statement_timeout_cancels_a_running_query_and_frees_its_core() {
    // A full scan needs 101 ms of CPU (1 ms + 10^6 rows × 0.1 µs); with
    // statement_timeout = 50 ms it is cancelled 50 ms after it reached the
    // server (at 10 ms): it fails at 60 ms, after 50 ms on one of the two
    // cores: 2.5 % of the CPU over the 1 s run. Without the timeout it runs
    // its 101 ms: 5.05 %.
    let mut topo = app_and_table(million_rows(AccessPath::FullScan), 1);
    set_statement_timeout(&mut topo, 50);
    let (sim, db) = run_db(&topo);
    assert_eq!((sim.route(0).completed, sim.route(0).failed), (0, 1));
    assert_eq!(db.statement_timeouts, 1);
    assert!((db.cpu_busy_pct - 2.5).abs() < 1e-6, "{}", db.cpu_busy_pct);
    let topo = app_and_table(million_rows(AccessPath::FullScan), 1);
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route(0).completed, 1);
    assert!((db.cpu_busy_pct - 5.05).abs() < 1e-6, "{}", db.cpu_busy_pct);
    // Its share of a core goes to the others at once. One core, 20 ms per
    // query: a full scan (index dropped until 20 ms) reaches the server at
    // 10 ms needing 120 ms; a lookup asked at 30 ms reaches it at 40 ms
    // needing 20.0021 ms. The scan runs alone to 40 ms (30 ms done); both
    // share the core to 60 ms (10 ms each), when the scan is cancelled; the
    // lookup's last 10.0021 ms run alone: done at 70.0021 ms, 40.0021 ms
    // after it was asked. Without the timeout they share to the end:
    // 40 + 2 × 20.0021 − 30 = 50.0042 ms.
    for (timeout, latency) in [(Some(50), 40_002_100), (None, 50_004_200)] {
        let mut topo = lookups_at(&[0, 30], vec![db_fault(0, 20, FaultKind::FullScan)]);
        if let StageKind::Database(d) = &mut topo.stages[1].kind {
            d.cores = 1;
            d.query = Dist::constant(0.02);
            d.statement_timeout = timeout.map(|ms| ms * MILLISECOND);
        }
        let (sim, _) = run_db(&topo);
        let got = sim.route_latency(0).min() as i64;
        assert!((got - latency).abs() <= 2, "{timeout:?}: {got}");
    }
}

#[test]
fn a_dropped_index_makes_queries_scan_the_table_while_it_lasts() {
    // Index dropped 500–1000 ms: a lookup at 100 ms examines 21 rows, one
    // at 600 ms the whole table, 10^6 rows (answered in 111 ms).
    let topo = lookups_at(&[100, 600], vec![db_fault(500, 500, FaultKind::FullScan)]);
    let (sim, db) = run_db(&topo);
    assert_eq!(db.rows_examined_per_query, (21.0 + 1e6) / 2.0);
    assert_eq!(sim.route_latency(0).min(), LOOKUP);
    assert_eq!(sim.route_latency(0).max(), 111 * MILLISECOND);
}

#[test]
fn a_cold_buffer_cache_sends_lookups_to_the_disk() {
    // The whole table is cached until a fault leaves half of it: a lookup
    // then misses half its 4 pages, 2 reads at 1 000/s = 2 ms more, and
    // the disk is busy 2 ms of the second.
    let topo = lookups_at(&[100], vec![db_fault(0, 1000, FaultKind::ColdCache(0.5))]);
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route_latency(0).max(), LOOKUP + 2 * MILLISECOND);
    assert!(
        (db.disk_busy_pct - 0.2).abs() < 1e-9,
        "{}",
        db.disk_busy_pct
    );
}

#[test]
fn idle_in_transaction_exhausts_the_pool_while_the_cpu_rests() {
    // One pooled connection; each transaction stays open 100 ms after its
    // 1.0021 ms query. Three calls at 0: the first opens the connection
    // (10 ms), queries, commits at 111.0021 ms; the second gets the
    // connection then, commits at 212.0042; the third at 313.0063. The
    // pool waits are 0 (the handshake aside), 111.0021 and 212.0042 ms;
    // the CPU works 3 × 1.0021 ms of 2 cores × 1 s: 0.150315 %.
    let mut policy = CallPolicy::plain();
    policy.pool = Some(PoolSpec {
        size: 1,
        acquire_timeout: None,
        open_at_start: 0,
    });
    let mut topo = app_and_db(policy, 10);
    if let StageKind::Database(d) = &mut topo.stages[1].kind {
        d.query = Dist::constant(0.001);
        d.storage = Some(million_rows(AccessPath::Index));
    }
    topo.faults = vec![db_fault(0, 1000, FaultKind::IdleInTransaction(0.1))];
    let (sim, db) = run_db(&topo);
    assert_eq!(sim.route(0).completed, 3);
    assert_eq!(sim.route_latency(0).max(), 313_006_300);
    assert!(
        (db.wait_p99_ms - 212.0042).abs() < 0.01,
        "{}",
        db.wait_p99_ms
    );
    assert!(
        (db.cpu_busy_pct - 0.150315).abs() < 1e-6,
        "{}",
        db.cpu_busy_pct
    );
}

#[test]
fn database_faults_need_a_database_to_act_on() {
    let mut topo = lookups_at(&[100], vec![]);
    topo.faults = vec![Fault {
        target: 0,
        ..db_fault(0, 10, FaultKind::FullScan)
    }];
    assert!(topo.validate().is_err());
    topo.faults = vec![db_fault(0, 10, FaultKind::ColdCache(1.5))];
    assert!(topo.validate().is_err());
    if let StageKind::Database(d) = &mut topo.stages[1].kind {
        d.storage = None;
    }
    topo.faults = vec![db_fault(0, 10, FaultKind::FullScan)];
    assert!(topo.validate().is_err(), "a full scan needs a table");
    topo.faults = vec![db_fault(0, 10, FaultKind::LongTransaction)];
    assert!(topo.validate().is_ok(), "a lock needs no table");
}

/// An app (stage 0) in front of a replicated database (1): primary (2) and
/// replica (3), each query `query_ms` with no connect time. Route 0 reads
/// every 10 ms from 2 ms, route 1 writes every 10 ms from 5 ms, for 20 s
/// (so nothing arrives exactly at a whole second). The primary crashes at
/// 10 s for `down_s`.
fn replicated(
    replication: crate::parts::Replication,
    failover: Option<(SimTime, SimTime)>,
    read_only: bool,
    query_ms: f64,
    down_s: u64,
) -> Topology {
    let db = || {
        StageKind::Database(DatabaseStage {
            cores: 64,
            max_connections: 1_000,
            contention: 0.0,
            connect: 0,
            query: Dist::constant(query_ms / 1e3),
            storage: None,
            statement_timeout: None,
        })
    };
    let every_10ms_from = |first_ms: u64| -> Vec<SimTime> {
        (0..2_000)
            .map(|k| (first_ms + 10 * k) * MILLISECOND)
            .collect()
    };
    let mut write = Route::new("write", 0);
    write.cacheable = false;
    Topology {
        stages: vec![
            stage(
                "app",
                service(1_000, 0, true, vec![call(1, CallPolicy::plain())]),
            ),
            stage(
                "cluster",
                StageKind::Replicated(ReplicatedStage {
                    primary: 2,
                    replica: 3,
                    replication,
                    failover,
                    read_only,
                }),
            ),
            stage("primary", db()),
            stage("replica", db()),
        ],
        routes: vec![Route::new("read", 0), write],
        sources: vec![
            Source::Scheduled {
                times: every_10ms_from(2),
                route: 0,
                client: 0,
            },
            Source::Scheduled {
                times: every_10ms_from(5),
                route: 1,
                client: 0,
            },
        ],
        faults: vec![Fault {
            start: 10 * SECOND,
            duration: down_s * SECOND,
            target: 2,
            kind: FaultKind::Down,
        }],
    }
}

/// Runs `topo` for 20 s: (reads, writes, replication, the run).
fn run_replicated(topo: &Topology) -> (RouteStats, RouteStats, ReplicationStats, RunResult) {
    let mut sim = Sim::new(topo, 1, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (reads, writes) = (sim.route(0).clone(), sim.route(1).clone());
    let rep = sim
        .replication(1)
        .unwrap_or_else(|| panic!("a replicated stage"));
    let out = sim.finish(vec![]);
    conserved(&out);
    (reads, writes, rep, out)
}

fn failed_by(out: &RunResult, reason: &str) -> u64 {
    out.outcomes
        .iter()
        .filter(|o| o.reason == reason)
        .map(|o| o.count)
        .sum()
}

const DETECT_2_PROMOTE_3: Option<(SimTime, SimTime)> = Some((2 * SECOND, 3 * SECOND));

#[test]
fn async_failover_loses_the_writes_still_on_their_way_and_refuses_until_promoted() {
    use crate::parts::Replication;
    // 100 writes/s, each committed 1 ms after it arrives, shipped with a
    // 500 ms lag. The writes from 9.505 s commit after 9.5 s and have not
    // landed by the crash at 10 s: 9.505, 9.515, … 9.995 s, 50 of them,
    // rate × lag = 100 × 0.5. Without read-only mode the app keeps asking
    // the dead primary until the replica is promoted at 10 + 2 + 3 = 15 s:
    // the 500 reads and 500 writes that arrive in [10 s, 15 s) fail.
    let lag = Replication::Async {
        lag: 500 * MILLISECOND,
    };
    let (reads, writes, rep, out) =
        run_replicated(&replicated(lag, DETECT_2_PROMOTE_3, false, 1.0, 100));
    assert_eq!(rep.lost_writes, 50);
    assert_eq!(
        (reads.completed, reads.failed + reads.rejected),
        (1_500, 500)
    );
    assert_eq!(
        (writes.completed, writes.failed + writes.rejected),
        (1_500, 500)
    );
    assert_eq!(rep.acked_writes, 1_500);
    assert_eq!(failed_by(&out, "down"), 1_000);
    assert!((rep.write_unavailable_s - 5.0).abs() < 1e-9);
    assert_eq!((rep.reads_from_replica, rep.read_only_refused), (0, 0));
}

#[test]
fn read_only_mode_reads_from_the_replica_until_it_is_promoted_and_refuses_writes() {
    use crate::parts::Replication;
    // Read-only from the crash at 10 s until 15 s: the 500 writes of
    // [10 s, 15 s) are refused at once; the reads of [10 s, 12 s) (200) go
    // to the replica, those of [12 s, 15 s) (300) find it being promoted.
    let (reads, writes, rep, out) = run_replicated(&replicated(
        Replication::Async { lag: 0 },
        DETECT_2_PROMOTE_3,
        true,
        1.0,
        100,
    ));
    assert_eq!(
        (reads.completed, reads.failed + reads.rejected),
        (1_700, 300)
    );
    assert_eq!(
        (writes.completed, writes.failed + writes.rejected),
        (1_500, 500)
    );
    assert_eq!(failed_by(&out, "read_only"), 500);
    assert_eq!(failed_by(&out, "promoting"), 300);
    assert_eq!((rep.reads_from_replica, rep.read_only_refused), (200, 500));
    assert_eq!(rep.lost_writes, 0);
}

#[test]
fn sync_replication_loses_nothing_and_each_write_waits_a_round_trip() {
    use crate::parts::Replication;
    // Each write: its 1 ms query, then 2 ms for the replica's confirmation,
    // 3 ms in all, until the failover; the promoted replica has no standby
    // to wait for, so from 15 s a write takes its 1 ms. Reads take 1 ms.
    let sync = Replication::Sync {
        round_trip: 2 * MILLISECOND,
    };
    let topo = replicated(sync, DETECT_2_PROMOTE_3, false, 1.0, 100);
    let mut sim = Sim::new(&topo, 1, 20 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    assert_eq!(sim.route_latency(1).max(), 3 * MILLISECOND);
    assert_eq!(sim.route_latency(1).min(), MILLISECOND);
    assert_eq!(sim.route_latency(0).max(), MILLISECOND);
    let rep = sim.replication(1).unwrap_or_else(|| panic!("replicated"));
    assert_eq!(rep.lost_writes, 0);
    assert_eq!(sim.route(1).completed, 1_500);
}

#[test]
fn without_failover_everything_waits_for_the_primary_and_its_queries_in_flight_fail() {
    use crate::parts::Replication;
    // 20 ms queries: at the crash (10 s) the reads of 9.982 s and 9.992 s
    // and the writes of 9.985 s and 9.995 s are running, and fail; then
    // everything fails until the primary is back at 15 s (500 of each).
    // It comes back with its own disk: nothing is lost. The last two of
    // each (19.98x s, 19.99x s) are still running at the end: 2 000 −
    // 502 − 2 = 1 496 answered.
    let lag = Replication::Async {
        lag: 500 * MILLISECOND,
    };
    let (reads, writes, rep, out) = run_replicated(&replicated(lag, None, false, 20.0, 5));
    assert_eq!(
        (reads.completed, reads.failed + reads.rejected),
        (1_496, 502)
    );
    assert_eq!(
        (writes.completed, writes.failed + writes.rejected),
        (1_496, 502)
    );
    assert_eq!(failed_by(&out, "down"), 1_004);
    assert_eq!(rep.lost_writes, 0);
    assert!((rep.write_unavailable_s - 5.0).abs() < 1e-9);
}

#[test]
fn a_replicated_stage_needs_two_databases() {
    use crate::parts::Replication;
    let mut topo = replicated(Replication::Async { lag: 0 }, None, false, 1.0, 5);
    if let StageKind::Replicated(r) = &mut topo.stages[1].kind {
        r.replica = 0;
    }
    let err = topo.validate().err().unwrap_or_default();
    assert!(err.contains("two different databases"), "{err}");
}

#[test]
fn a_cache_serving_stale_on_error_answers_reads_the_database_fails() {
    // Reads of one object every 100 ms (0 to 9.9 s) through an app whose
    // cache keeps an entry 1 s, to a database that answers in 1 ms and is
    // down from 5 s to 8 s. Fills happen at the misses 0, 1.1, 2.2, 3.3 and
    // 4.4 s (each entry expires 1.001 s after its miss, so the read 1.1 s
    // later is the first to find it stale); the 4.4 s entry expires at
    // 5.401 s. The reads 5.5 … 7.9 s (25) find it stale, ask the dead
    // database and, with stale-if-error, get the old entry; without it
    // they fail. Writes at the same times are never cached: the 30 of
    // [5 s, 8 s) fail either way.
    let topo = |stale: Option<SimTime>| {
        let mut svc = Service::new(100, 0, true, vec![call(1, CallPolicy::plain())]);
        svc.cache = Some(CacheSpec {
            stale_if_error: stale,
            ..CacheSpec::new(10, Some(SECOND))
        });
        let mut write = Route::new("write", 0);
        write.cacheable = false;
        let times: Vec<SimTime> = (0..100).map(|k| k * 100 * MILLISECOND).collect();
        Topology {
            stages: vec![
                stage("app", StageKind::Service(svc)),
                stage(
                    "db",
                    StageKind::Database(DatabaseStage {
                        cores: 8,
                        max_connections: 100,
                        contention: 0.0,
                        connect: 0,
                        query: Dist::constant(0.001),
                        storage: None,
                        statement_timeout: None,
                    }),
                ),
            ],
            routes: vec![Route::new("read", 0), write],
            sources: vec![
                Source::Scheduled {
                    times: times.clone(),
                    route: 0,
                    client: 0,
                },
                Source::Scheduled {
                    times,
                    route: 1,
                    client: 0,
                },
            ],
            faults: vec![Fault {
                start: 5 * SECOND,
                duration: 3 * SECOND,
                target: 1,
                kind: FaultKind::Down,
            }],
        }
    };
    let run = |stale| {
        let t = topo(stale);
        let mut sim = Sim::new(&t, 1, 11 * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
        sim.run();
        let (reads, writes, served) = (
            sim.route(0).clone(),
            sim.route(1).clone(),
            sim.stale_served(0),
        );
        conserved(&sim.finish(vec![]));
        (reads, writes, served)
    };
    let (reads, writes, served) = run(Some(60 * SECOND));
    assert_eq!((reads.completed, reads.degraded, served), (100, 25, 25));
    assert_eq!(
        (writes.completed, writes.failed + writes.rejected),
        (70, 30)
    );
    let (reads, writes, served) = run(None);
    assert_eq!(
        (reads.completed, reads.failed + reads.rejected, served),
        (75, 25, 0)
    );
    assert_eq!(
        (writes.completed, writes.failed + writes.rejected),
        (70, 30)
    );
    // A grace period shorter than the outage: the entry that expired at
    // 5.401 s answers until 5.401 + 1 = 6.401 s (5.5 … 6.4 s: 10 reads).
    let (reads, _, served) = run(Some(SECOND));
    assert_eq!((reads.completed, served), (85, 10));
}

/// The aggregate model ([`super::aggregate`]) and the request-by-request
/// run of the same system: Poisson arrivals, 70 % of them a static page
/// (1 ms of app work) and 30 % a dynamic one (8 ms of app work, then a
/// 4 ms database query), all exponential; an async app of `instances` ×
/// `slots` with a queue of 20 per instance (least connections), and a
/// database of 16 slots with a queue of 500. Returns (throughput/s,
/// refused %, p95 s) for the run and for the model.
fn aggregate_and_flow(rate: f64, instances: u32, slots: u32) -> ([f64; 3], [f64; 3]) {
    use super::aggregate::{Network, Path, Tier};
    const RUN_S: u64 = 300;
    let mut app = Service::new(slots, 20, false, vec![]);
    app.instances = instances;
    app.balance = Policy::LeastConnections;
    app.handlers = vec![
        Handler {
            routes: vec![0],
            steps: vec![Step::Work(Dist::exponential(0.001))],
        },
        Handler {
            routes: vec![1],
            steps: vec![
                Step::Work(Dist::exponential(0.008)),
                call(1, CallPolicy::plain()),
            ],
        },
    ];
    let db = Service::new(16, 500, true, vec![Step::Work(Dist::exponential(0.004))]);
    let topo = Topology {
        stages: vec![
            stage("app", StageKind::Service(app)),
            stage("db", StageKind::Service(db)),
        ],
        routes: vec![Route::new("static", 0), Route::new("dynamic", 0)],
        sources: vec![Source::Open {
            shape: RateShape::Flat(rate),
            poisson: true,
            routes: vec![(0, 0.7), (1, 0.3)],
            objects: None,
            clients: 0,
        }],
        faults: vec![],
    };
    let mut sim = Sim::new(&topo, 7, RUN_S * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (s, d) = (sim.route(0).clone(), sim.route(1).clone());
    let mut latency = sim.route_latency(0).clone();
    latency.merge(sim.route_latency(1));
    let ended = (s.completed + s.failed + s.rejected + d.completed + d.failed + d.rejected) as f64;
    let refused = (s.failed + s.rejected + d.failed + d.rejected) as f64;
    let flow = [
        (s.completed + d.completed) as f64 / RUN_S as f64,
        100.0 * refused / ended,
        latency.quantile(0.95) / 1e9,
    ];
    // The model: the app's instances pooled into one queue (least
    // connections keeps them about equally loaded), the database as it is.
    let net = Network {
        tiers: vec![
            Tier {
                servers: instances * slots,
                room: instances * (slots + 20),
            },
            Tier {
                servers: 16,
                room: 516,
            },
        ],
        paths: vec![
            Path {
                share: 0.7,
                visits: vec![(0, 0.001)],
                fixed_s: 0.0,
            },
            Path {
                share: 0.3,
                visits: vec![(0, 0.008), (1, 0.004)],
                fixed_s: 0.0,
            },
        ],
    };
    let steady = net
        .steady(rate)
        .unwrap_or_else(|| panic!("a usable network"));
    let mut rng = crate::engine::RngStream::new(7, "aggregate.sample");
    let mut draws: Vec<f64> = (0..50_000)
        .filter_map(|_| steady.sample(&net, &mut rng))
        .collect();
    draws.sort_by(f64::total_cmp);
    let p95 = draws[(0.95 * draws.len() as f64) as usize];
    let model = [steady.answered, 100.0 * steady.refused_share(), p95];
    (flow, model)
}

#[test]
fn the_aggregate_model_agrees_with_the_request_by_request_run() {
    // The million-users bar: throughput within 2 %, refused share within
    // 1 point, p95 within 10 %. The app does 1 000 × (0.7 × 1 + 0.3 × 8)
    // ms = 3.1 slot-seconds of work a second: on 2 × 8 slots it is 19 %
    // busy, on one instance of 5 slots 62 %, of 4 slots 78 %. (The mix of
    // 1 ms and 8 ms jobs queues worse than one exponential of mean 3.1 ms:
    // without the Allen–Cunneen factor, 2.07 here, the model's p95 at 78 %
    // was 11 % low.)
    // Two instances of 2 slots (78 % busy, each with its own queue behind
    // least connections) come within the bar too, although the model
    // pools them into one queue.
    for (instances, slots) in [(2, 8), (1, 5), (1, 4), (2, 2)] {
        let (flow, model) = aggregate_and_flow(1_000.0, instances, slots);
        let case = format!("{instances} × {slots} slots: run {flow:?}, model {model:?}");
        assert!(
            (model[0] / flow[0] - 1.0).abs() < 0.02,
            "throughput, {case}"
        );
        assert!((model[1] - flow[1]).abs() < 1.0, "refused, {case}");
        assert!((model[2] / flow[2] - 1.0).abs() < 0.10, "p95, {case}");
    }
    // Its known limit is overload: on 3 slots (103 % busy) the async
    // app's jobs queue again for a slot after their reply and some are
    // turned away then, with their work done, which the model does not
    // know: it overstates the throughput (measured 939 against 904 a
    // second) and understates the refusals.
    let (flow, model) = aggregate_and_flow(1_000.0, 1, 3);
    assert!(
        model[0] > flow[0] && model[1] < flow[1],
        "run {flow:?}, model {model:?}"
    );
}
