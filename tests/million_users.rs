//! The million-users lessons, asserted on numbers, and the aggregate
//! model held to the request-by-request run of the same system.

mod common;

use common::{claim, metric, params, run};
use prodsim::engine::time::SECOND;
use prodsim::flow::Sim;
use prodsim::scenarios::million_users::{
    topology_for, traffic_for, NONCRITICAL_SHARE, ROUTE_SCRAPER, SCRAPER_RPS, SCRAPER_SHARE,
};

const ID: &str = "million-users";

/// An app fleet big enough never to turn anyone away (autoscaler off, 150
/// instances = 600 cores), so the database sees every read sent to it and
/// each lever's effect on the reads is its own.
const ROOMY: [(&str, &str); 2] = [("autoscale", "false"), ("min_instances", "150")];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    ROOMY.iter().copied().chain(extra.iter().copied()).collect()
}

/// Hit ratio of a TTL cache over `n` objects of Zipf popularity `s`,
/// `total` requests a second: each object at rate r is fetched on a miss
/// and kept `ttl` s, so it hits r·ttl ÷ (1 + r·ttl) of its requests (one
/// miss, then on average r·ttl hits, per cycle), weighted by traffic.
/// Summed here over every object, independently of the model's shortcut.
fn ttl_zipf_hits(n: usize, s: f64, total: f64, ttl: f64) -> f64 {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let sum: f64 = w.iter().sum();
    w.iter()
        .map(|wk| {
            let r = total * wk / sum;
            (r / total) * (r * ttl / (1.0 + r * ttl))
        })
        .sum()
}

/// Users' requests a second at the defaults: 99.9 % of a million users,
/// one request per 10 s.
const USERS_RPS: f64 = 999_000.0 / 10.0;

#[test]
fn without_cdn_and_cache_the_database_saturates_first() {
    claim("million-users/db-saturates-first");
    // 'No CDN, no cache': every page reads the database. Users' pages are
    // 40 % of 99 900 req/s, plus the scrapers' 1 000 × 10 searches: 49 960
    // reads/s × 2 ms = 99.9 cores of work for 3 × 16 = 48. The app needs
    // 59 940 × 1 ms + 49 960 × 4 ms = 260 cores, which the autoscaler
    // finds (up to 150 × 4 = 600). So the database is pinned while the app
    // has room, and the database refuses about 1 − 48 ÷ 99.9 = 52 % of
    // the reads: about 0.52 × 39 960 ÷ 99 900 = 21 % of the users'
    // requests, a little more while the fleet is still growing.
    let out = run(ID, Some("bad"), &[], 1, 300.0);
    let reads = 0.4 * USERS_RPS + 1_000.0 * SCRAPER_RPS;
    assert!((reads - 49_960.0).abs() < 1.0);
    assert!(
        metric(&out, "db_cpu_pct") > 97.0,
        "{}",
        metric(&out, "db_cpu_pct")
    );
    assert!(
        metric(&out, "app_cpu_pct") < 80.0,
        "{}",
        metric(&out, "app_cpu_pct")
    );
    let refused = 100.0 * (1.0 - 48.0 / (reads * 0.002)) * 0.4;
    assert!((refused - 20.8).abs() < 0.05);
    // More, while the fleet grows from 40 instances to what it needs.
    let errors = metric(&out, "error_pct");
    assert!(errors > refused - 1.0, "{errors} vs {refused}");
    assert!((26.0..28.0).contains(&errors), "27 %: {errors}");
    assert!(metric(&out, "instances_max") > 100.0);
    // The defaults (CDN, 30 s cache) at the same load: no refusals.
    let fine = run(ID, None, &[], 1, 300.0);
    assert!(metric(&fine, "error_pct") < 0.1);
    assert!(metric(&fine, "db_cpu_pct") < 90.0);
}

#[test]
fn the_cache_takes_its_hit_ratio_of_the_pages_off_the_database() {
    claim("million-users/cache-lever");
    // Users' cacheable pages: 80 % of the 40 % of page traffic, 31 968
    // req/s; a 30 s TTL over 100 000 pages of Zipf 0.9 hits the share
    // computed here object by object.
    let page_rps = USERS_RPS * 0.4 * (1.0 - NONCRITICAL_SHARE);
    let h = ttl_zipf_hits(100_000, 0.9, page_rps, 30.0);
    let off = run(ID, None, &with(&[("cache_ttl_s", "0")]), 1, 120.0);
    let on = run(ID, None, &with(&[]), 1, 120.0);
    assert!((metric(&on, "cache_hit_pct") - 100.0 * h).abs() < 0.05);
    assert!((h - 0.92).abs() < 0.005 && (page_rps - 31_968.0).abs() < 0.5);
    let saved = metric(&off, "db_reads_per_s") - metric(&on, "db_reads_per_s");
    assert!(
        (saved / (page_rps * h) - 1.0).abs() < 0.005,
        "{saved} vs {}",
        page_rps * h
    );
    assert!((page_rps * h - 29_500.0).abs() < 100.0);
    // At 60 s: 96 %.
    let h60 = ttl_zipf_hits(100_000, 0.9, page_rps, 60.0);
    let long = run(ID, None, &with(&[("cache_ttl_s", "60")]), 1, 60.0);
    assert!((metric(&long, "cache_hit_pct") - 100.0 * h60).abs() < 0.05);
    assert!((h60 - 0.96).abs() < 0.005);
}

#[test]
fn the_cdn_takes_its_hit_ratio_of_the_static_files_off_the_origin_not_the_database() {
    claim("million-users/cdn-lever");
    // Static files: 60 % of the users' requests, 59 940 req/s, over
    // 20 000 files of Zipf 1 kept 300 s.
    let static_rps = USERS_RPS * 0.6;
    let h = ttl_zipf_hits(20_000, 1.0, static_rps, 300.0);
    let off = run(ID, None, &with(&[("cdn", "false")]), 1, 120.0);
    let on = run(ID, None, &with(&[]), 1, 120.0);
    assert!((metric(&on, "cdn_hit_pct") - 100.0 * h).abs() < 0.05);
    assert!(h > 0.9985 && h < 0.9995, "99.9 %: {h}");
    let saved = metric(&off, "origin_rps") - metric(&on, "origin_rps");
    assert!((saved / (static_rps * h) - 1.0).abs() < 0.005);
    // Static files never read the database.
    assert!((metric(&off, "db_reads_per_s") - metric(&on, "db_reads_per_s")).abs() < 1.0);
}

#[test]
fn turning_off_noncritical_features_saves_their_reads() {
    claim("million-users/degrade-lever");
    // 20 % of the 39 960 page requests a second: 7 992 reads a second.
    let off = run(ID, None, &with(&[]), 1, 120.0);
    let on = run(
        ID,
        None,
        &with(&[("degrade_noncritical", "true")]),
        1,
        120.0,
    );
    let saved = metric(&off, "db_reads_per_s") - metric(&on, "db_reads_per_s");
    let expected = USERS_RPS * 0.4 * NONCRITICAL_SHARE;
    assert!((expected - 7_992.0).abs() < 0.5);
    assert!((saved / expected - 1.0).abs() < 0.005, "{saved}");
}

#[test]
fn a_per_user_rate_limit_cuts_the_scrapers_to_the_limit() {
    claim("million-users/rate-limit-lever");
    // 1 000 scrapers at 10 searches a second, limited to 2 each: 8 000
    // reads a second fewer, and no person is limited (they send 0.1/s).
    let off = run(ID, None, &with(&[]), 1, 120.0);
    let on = run(ID, None, &with(&[("rate_limit_per_user", "2")]), 1, 120.0);
    let scrapers = 1e6 * SCRAPER_SHARE;
    let expected = scrapers * (SCRAPER_RPS - 2.0);
    assert!((expected - 8_000.0).abs() < 0.5);
    let saved = metric(&off, "db_reads_per_s") - metric(&on, "db_reads_per_s");
    assert!((saved / expected - 1.0).abs() < 0.005, "{saved}");
    assert!(metric(&on, "error_pct") < 0.01);
}

#[test]
fn autoscaling_alone_cannot_save_a_saturated_database() {
    claim("million-users/autoscaling-alone");
    // The app may grow to 500 instances (2 000 cores, eight times what it
    // needs) and the database still refuses the same share: its 48 cores
    // are the limit, and more app instances only send it reads faster.
    let more = run(ID, Some("autoscaler_only"), &[], 1, 300.0);
    assert!(metric(&more, "app_cpu_pct") < 40.0);
    assert!(metric(&more, "db_cpu_pct") > 97.0);
    // What the database refuses: 1 − 48 ÷ 99.9 of the reads, 40 % of the
    // users' requests read (see db-saturates-first).
    let refused = 100.0 * (1.0 - 48.0 / 99.92) * 0.4;
    let errors = metric(&more, "error_pct");
    assert!((errors - refused).abs() < 1.0, "{errors} vs {refused}");
}

/// The request-by-request run of `sets`: throughput (answered a second),
/// the users' refused share (%), p95 (ms) over every answer.
fn request_by_request(sets: &[(&str, &str)], run_s: u64) -> [f64; 3] {
    let params = params(ID, None, sets);
    let topo = topology_for(&params).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Sim::new(&topo, 7, run_s * SECOND, &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    let (mut answered, mut users_ended, mut users_refused) = (0u64, 0u64, 0u64);
    let mut latency = sim.route_latency(0).clone();
    for r in 0..topo.routes.len() {
        let s = sim.route(r);
        answered += s.completed;
        if r != ROUTE_SCRAPER {
            users_ended += s.completed + s.failed + s.rejected;
            users_refused += s.failed + s.rejected;
        }
        if r > 0 {
            latency.merge(sim.route_latency(r));
        }
    }
    [
        answered as f64 / run_s as f64,
        100.0 * users_refused as f64 / users_ended.max(1) as f64,
        latency.quantile(0.95) / 1e6,
    ]
}

#[test]
fn the_aggregate_model_agrees_with_the_request_by_request_run_at_ten_thousand_users() {
    claim("million-users/aggregate-checked");
    // The same knobs build both: the scenario's aggregate run and the flow
    // layer's topology, request by request, with real caches at the CDN
    // and in front of the app (filled cold, so their first minutes miss
    // more than the model's warm steady state). The bar: throughput within
    // 2 %, users' errors within 1 point, p95 within 10 %.
    const RUN_S: u64 = 600;
    let cases: [&[(&str, &str)]; 4] = [
        // One instance, 60 % busy: 2 000 req/s from 10 000 users at 5 s.
        &[
            ("users", "10000"),
            ("think_s", "5"),
            ("autoscale", "false"),
            ("min_instances", "1"),
        ],
        // No CDN, no cache: two instances, every page read.
        &[
            ("users", "10000"),
            ("cdn", "false"),
            ("cache_ttl_s", "0"),
            ("replicas", "0"),
            ("autoscale", "false"),
            ("min_instances", "2"),
        ],
        // The database 95 % busy: 10 000 users every second, a quarter
        // of it static, no page cache: 7 492 pages and 100 searches a
        // second read it, 15.2 of its 16 cores.
        &[
            ("users", "10000"),
            ("think_s", "1"),
            ("static_share_pct", "25"),
            ("cache_ttl_s", "0"),
            ("replicas", "0"),
            ("autoscale", "false"),
            ("min_instances", "12"),
        ],
        // Fallbacks for the non-critical work and a 120 s cache.
        &[
            ("users", "10000"),
            ("think_s", "4"),
            ("cache_ttl_s", "120"),
            ("degrade_noncritical", "true"),
            ("autoscale", "false"),
            ("min_instances", "1"),
        ],
    ];
    for sets in cases {
        let flow = request_by_request(sets, RUN_S);
        let out = run(ID, None, sets, 7, RUN_S as f64);
        let model = [
            metric(&out, "throughput_rps"),
            metric(&out, "error_pct"),
            metric(&out, "p95_ms"),
        ];
        let t = traffic_for(&params(ID, None, sets)).unwrap_or_else(|e| panic!("{e}"));
        let case = format!("{sets:?}: run {flow:?}, model {model:?}, traffic {t:?}");
        assert!(
            (model[0] / flow[0] - 1.0).abs() < 0.02,
            "throughput, {case}"
        );
        assert!((model[1] - flow[1]).abs() < 1.0, "errors, {case}");
        assert!((model[2] / flow[2] - 1.0).abs() < 0.10, "p95, {case}");
    }
}

/// The hit ratio of the users' pages in the shared cache at `ttl`.
fn page_hits(ttl: f64) -> f64 {
    ttl_zipf_hits(
        100_000,
        0.9,
        USERS_RPS * 0.4 * (1.0 - NONCRITICAL_SHARE),
        ttl,
    )
}

#[test]
fn replicas_add_capacity_and_a_cache_removes_the_need() {
    claim("million-users/more-replicas-or-fewer-reads");
    let bad = run(ID, Some("bad"), &[], 1, 300.0);
    let six = run(ID, Some("bad"), &[("replicas", "6")], 1, 300.0);
    // 7 × 16 = 112 cores for 99.9 cores of reads: 89 % busy at most.
    assert!(metric(&six, "db_cpu_pct") < 90.0);
    let errors = metric(&six, "error_pct");
    assert!((8.0..12.0).contains(&errors), "about 10 %: {errors}");
    // Four more servers at $2.00 an hour.
    let extra = metric(&six, "cost_per_hour") - metric(&bad, "cost_per_hour");
    assert!((extra - 8.0).abs() < 0.01, "{extra}");
    // The cache instead: 31 968 pages a second miss 1 − h, and the 7 992
    // non-critical reads and 10 000 scraper searches remain.
    let cached = run(ID, Some("bad"), &[("cache_ttl_s", "30")], 1, 300.0);
    let reads = 31_968.0 * (1.0 - page_hits(30.0)) + 7_992.0 + 10_000.0;
    assert!((metric(&cached, "db_reads_per_s") / reads - 1.0).abs() < 0.005);
    assert!((reads - 20_000.0).abs() < 1_000.0);
    assert!(metric(&cached, "error_pct") < 0.05);
}

#[test]
fn the_cdn_costs_more_than_the_instances_it_saves() {
    claim("million-users/cdn-cost");
    // 40 instances × $0.17 + 3 servers × $2 + 59 940 files/s × 3 600 s
    // × $1 per million = $228.58 an hour.
    let with_cdn = run(ID, None, &[], 1, 300.0);
    let by_hand = 40.0 * 0.17 + 3.0 * 2.0 + USERS_RPS * 0.6 * 3_600.0 / 1e6;
    assert!((metric(&with_cdn, "cost_per_hour") - by_hand).abs() < 0.01);
    assert!((by_hand - 229.0).abs() < 0.5);
    let without = run(ID, None, &[("cdn", "false")], 1, 300.0);
    let added = metric(&without, "instances_max") - 40.0;
    assert!((15.0..=25.0).contains(&added), "about 20: {added}");
    assert!((metric(&without, "cost_per_hour") - 16.0).abs() < 0.5);
    assert!((metric(&without, "db_reads_per_s") - metric(&with_cdn, "db_reads_per_s")).abs() < 1.0);
}

#[test]
fn two_million_users_saturate_the_defaults_but_not_every_lever() {
    claim("million-users/double-the-users");
    let defaults = run(ID, None, &[("users", "2000000")], 1, 300.0);
    assert!(metric(&defaults, "db_cpu_pct") > 97.0);
    let errors = metric(&defaults, "error_pct");
    assert!((3.0..5.0).contains(&errors), "about 4 %: {errors}");
    let levers = run(ID, Some("good"), &[("users", "2000000")], 1, 300.0);
    assert!(metric(&levers, "db_cpu_pct") < 25.0);
}

#[test]
fn predict_turning_the_features_back_on() {
    claim("million-users/predict");
    // 'Every lever': pages miss 1 − h(60 s), scrapers limited to 2 000
    // searches a second; the non-critical reads add 7 992.
    let good = run(ID, Some("good"), &[], 1, 300.0);
    let on = run(
        ID,
        Some("good"),
        &[("degrade_noncritical", "false")],
        1,
        300.0,
    );
    let good_reads = 31_968.0 * (1.0 - page_hits(60.0)) + 2_000.0;
    assert!((metric(&good, "db_reads_per_s") / good_reads - 1.0).abs() < 0.005);
    assert!((good_reads - 3_400.0).abs() < 100.0);
    let reads = good_reads + 7_992.0;
    assert!((metric(&on, "db_reads_per_s") / reads - 1.0).abs() < 0.005);
    assert!((reads - 11_400.0).abs() < 100.0);
}
