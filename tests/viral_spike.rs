//! The viral-spike lessons, asserted on numbers.
//!
//! Independent facts used below (the model's documented constants): 5
//! req/s for 30 s, then a straight climb to 10 × 5 = 50 req/s over 120 s
//! (until 150 s), held to the end of the 240 s run; 20 % checkout, 30 %
//! search, 50 % recommendations; every request needs 200 ms of CPU on
//! average; an instance has 2 cores, so it serves 2 ÷ 0.2 = 10 req/s at
//! full CPU, and lets 50 requests wait; the HPA targets 60 % CPU with a
//! 0.1 tolerance and syncs every 15 s from 15 s; warm-up 60 s; the shedder
//! sheds above 80 % CPU and restores below 40 %.

mod common;
use common::{claim, metric, run, series};
use prodsim::engine::RunResult;

const ID: &str = "viral-spike";
const RUN_S: f64 = 240.0;
/// Requests per second at `t` seconds.
fn rate(t: f64) -> f64 {
    if t < 30.0 {
        5.0
    } else if t >= 150.0 {
        50.0
    } else {
        5.0 + 45.0 * (t - 30.0) / 120.0
    }
}
/// What one instance serves at full CPU, req/s.
const PER_INSTANCE_RPS: f64 = 2.0 / 0.2;

fn preset(name: &str, sets: &[(&str, &str)]) -> RunResult {
    run(ID, Some(name), sets, 42, RUN_S)
}

/// The first chart bucket's start time at which series `key` is above
/// `level`.
fn first_above(out: &RunResult, key: &str, level: f64) -> Option<f64> {
    series(out, key)
        .iter()
        .position(|&v| v > level)
        .map(|i| i as f64 * out.bucket_s)
}

#[test]
fn the_autoscaler_lags_the_climb_by_a_sync_and_a_warm_up() {
    claim("viral-spike/autoscaler-lags");
    // The climb passes two instances' 20 req/s at 30 + (20 − 5) ÷ 0.375 =
    // 70 s.
    let outgrown = 30.0 + (2.0 * PER_INSTANCE_RPS - 5.0) / (45.0 / 120.0);
    assert!((outgrown - 70.0).abs() < 1e-9);
    // CPU passes 60 % × 1.1 (the tolerance) of 20 req/s, 13.2 req/s, at
    // 30 + 8.2 ÷ 0.375 ≈ 51.9 s; the sync at 60 s (covering 45–60 s, a
    // mean of about 13.4 req/s, 67 %) is the first that can ask for more,
    // and a new instance serves 60 s after it is asked for.
    let crossing = 30.0 + (0.66 * 2.0 * PER_INSTANCE_RPS - 5.0) / (45.0 / 120.0);
    assert!((51.0..52.0).contains(&crossing));
    assert!(rate(52.5) / (2.0 * PER_INSTANCE_RPS) > 0.66);
    let out = preset("bad", &[]);
    let asked = first_above(&out, "app.instances_running", 2.0).unwrap_or(f64::MAX);
    assert!((60.0..75.0).contains(&asked), "asked at {asked}");
    let serving = first_above(&out, "app.instances", 2.0).unwrap_or(f64::MAX);
    assert!((120.0..135.0).contains(&serving), "serving at {serving}");
    // Until then the line of 2 × 50 fills.
    let w = out.bucket_s;
    let queue_before: f64 = series(&out, "app.queue")
        .iter()
        .take((serving / w) as usize)
        .copied()
        .fold(0.0, f64::max);
    assert_eq!(queue_before, 100.0);
    // "More than two minutes" out of the objective.
    let breach = metric(&out, "slo_breach_s");
    assert!(breach > 120.0, "{breach}");
}

#[test]
fn shedding_keeps_checkout_within_its_objective() {
    claim("viral-spike/shedding-protects-checkout");
    let out = preset("good", &[]);
    assert_eq!(metric(&out, "p0_success_pct"), 100.0);
    assert_eq!(metric(&out, "slo_breach_s"), 0.0);
    assert!(metric(&out, "shed_requests") > 0.0);
    // Recommendations first, search next: the shed count reaches 1 before
    // it reaches 2.
    let one = first_above(&out, "app.shed_classes", 0.0).unwrap_or(f64::MAX);
    let two = first_above(&out, "app.shed_classes", 1.0).unwrap_or(f64::MAX);
    assert!(one < two && two < RUN_S, "{one} then {two}");
    // Same climb without shedding: the objective is missed.
    assert!(metric(&preset("bad", &[]), "slo_breach_s") > 0.0);
}

#[test]
fn shedding_hides_the_demand_from_a_cpu_autoscaler() {
    claim("viral-spike/shedding-hides-demand");
    for seed in [42, 1, 7] {
        let shed = run(ID, Some("good"), &[], seed, RUN_S);
        let alone = run(ID, Some("bad"), &[], seed, RUN_S);
        let (few, many) = (
            metric(&shed, "instances_max"),
            metric(&alone, "instances_max"),
        );
        assert!(few <= 5.0, "seed {seed}: {few}");
        if seed == 42 {
            // The page's default seed: "grows to 4 instances".
            assert_eq!(few, 4.0);
        }
        assert_eq!(many, 12.0, "seed {seed}");
        let p2 = metric(&shed, "p2_success_pct");
        assert!(p2 < 10.0, "seed {seed}: {p2}");
    }
    // The peak needs 50 × 0.2 = 10 cores busy; at 60 % that is 16.7
    // cores, 9 instances: 12 overshoots it, 5 is far short.
    let needed = (50.0 * 0.2 / 0.6 / 2.0_f64).ceil();
    assert_eq!(needed, 9.0);
}

#[test]
fn instances_in_reserve_shorten_the_damage_and_cost_every_day() {
    claim("viral-spike/headroom-costs");
    let two = preset("bad", &[]);
    let four = preset("bad", &[("min_instances", "4")]);
    let six = preset("headroom", &[]);
    let breach = |o: &RunResult| metric(o, "slo_breach_s");
    assert!(breach(&two) > breach(&four));
    assert!((40.0..=100.0).contains(&breach(&four)), "{}", breach(&four));
    assert_eq!(breach(&six), 0.0);
    // With no spike (× 1), CPU stays at 5 × 0.2 ÷ 4 cores = 25 % or less,
    // below the target: neither fleet leaves its minimum, so the cost is
    // min × 240 s, and 6 cost exactly 3 times what 2 do.
    let calm = |p: &str| {
        let out = preset(p, &[("peak_multiplier", "1")]);
        metric(&out, "instance_hours")
    };
    let (small, big) = (calm("bad"), calm("headroom"));
    assert!((small - 2.0 * RUN_S / 3_600.0).abs() < 1e-9, "{small}");
    assert!((big / small - 3.0).abs() < 1e-9, "{big} / {small}");
}

#[test]
fn without_warm_up_the_autoscaler_keeps_up() {
    claim("viral-spike/no-warmup");
    let out = preset("bad", &[("warmup_s", "0")]);
    assert_eq!(metric(&out, "slo_breach_s"), 0.0);
    assert_eq!(metric(&out, "p0_success_pct"), 100.0);
}

#[test]
fn a_page_cache_takes_the_cached_share_off_the_cpu() {
    claim("viral-spike/cache-ttl");
    let cached = preset("bad", &[("cache_ttl_s", "60")]);
    let plain = preset("bad", &[]);
    // The TTL cache's hit ratio for Poisson requests: an item asked for λ
    // times a second hits λT ÷ (1 + λT) of the time (each miss starts T
    // seconds of hits). Weighted over 10 000 Zipf(1) items and over the
    // run's rate second by second (80 % of requests look in the cache):
    let n = 10_000;
    let h: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
    let (mut hits, mut looks) = (0.0, 0.0);
    for t in 0..RUN_S as usize {
        let lambda = 0.8 * rate(t as f64 + 0.5);
        for i in 1..=n {
            let l = lambda / (i as f64 * h);
            let x = l * 60.0;
            hits += l * x / (1.0 + x);
            looks += l;
        }
    }
    let expected = 100.0 * hits / looks;
    // About 59 %; the run hits a little less, since a miss fills the
    // cache only once its answer is ready (seconds, while the app is
    // saturated).
    let measured = metric(&cached, "cache_hit_pct");
    assert!(
        measured <= expected + 1.0 && measured >= expected - 4.0,
        "{measured} vs {expected}"
    );
    assert!((54.0..60.0).contains(&measured), "about 57 %: {measured}");
    assert!(metric(&cached, "instances_max") <= 7.0);
    assert_eq!(metric(&plain, "instances_max"), 12.0);
    assert!(metric(&cached, "slo_breach_s") < metric(&plain, "slo_breach_s"));
}

#[test]
fn predict_shedding_only_recommendations_is_not_enough() {
    claim("viral-spike/predict");
    // At the peak, checkout and search are 50 % of 50 req/s = 25 req/s,
    // more than two instances' 20.
    assert!(0.5 * rate(200.0) > 2.0 * PER_INSTANCE_RPS);
    let out = common::run_predict(ID, 42, RUN_S);
    let breach = metric(&out, "slo_breach_s");
    assert!((30.0..=100.0).contains(&breach), "about a minute: {breach}");
}
