//! The caching lessons, asserted on numbers worked out by hand (Che's
//! approximation, TTL renewal cycles, Poisson pile-ups, XFetch's formula).

mod common;

use common::{claim, metric, run, run_predict, series};
use prodsim::engine::RunResult;

const ID: &str = "caching";
/// The page's default seed.
const SEED: u64 = 42;

/// Zipf(s) popularity over `n` objects: object k (from 1) has weight k^−s.
fn zipf(n: usize, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|x| x / sum).collect()
}

/// Che's approximation of an LRU of `capacity` objects read at `rates`:
/// the characteristic time T solves Σ (1 − e^(−λᵢT)) = capacity (found
/// here by bisection), and the hit ratio is Σ λᵢ (1 − e^(−λᵢT)) ÷ Σ λᵢ.
fn che_hit_ratio(rates: &[f64], capacity: f64) -> f64 {
    let filled = |t: f64| rates.iter().map(|r| 1.0 - (-r * t).exp()).sum::<f64>();
    let (mut lo, mut hi) = (0.0, 1e9);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if filled(mid) < capacity {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let total: f64 = rates.iter().sum();
    rates
        .iter()
        .map(|r| r * (1.0 - (-r * lo).exp()))
        .sum::<f64>()
        / total
}

/// The largest value of series `key` from `from_s` seconds on.
fn max_after(out: &RunResult, key: &str, from_s: f64) -> f64 {
    let skip = (from_s / out.bucket_s).ceil() as usize;
    series(out, key)
        .iter()
        .skip(skip)
        .fold(0.0, |m: f64, &v| m.max(v))
}

/// The hot key of 'Hot key stampede': object 1 of 100 (Zipf s = 1) of
/// 200 reads a second (no writes).
fn hot_key_rate() -> f64 {
    200.0 * zipf(100, 1.0)[0]
}

#[test]
fn without_a_cache_every_read_is_a_recompute() {
    claim("caching/no-cache-every-read-recomputes");
    // 100 requests a second, all at the database; each read waits the
    // 100 ms recompute.
    let bad = run(ID, Some("bad"), &[], SEED, 60.0);
    let db = metric(&bad, "db_rps");
    assert!((db - 100.0).abs() < 4.0, "{db}");
    assert!((metric(&bad, "p50_ms") - 100.0).abs() < 0.5);
    // Both layers: about 21 a second, and the median read is an L1 hit.
    let layered = run(ID, None, &[], SEED, 60.0);
    let db = metric(&layered, "db_rps");
    assert!((18.0..24.0).contains(&db), "about 21: {db}");
    assert!(metric(&layered, "p50_ms") < 0.01);
    assert!(metric(&layered, "l1_hit_pct") > 50.0);
    // TTL-only invalidation: about 24 % of the defaults' reads are stale.
    let stale = metric(&layered, "stale_read_pct");
    assert!((21.0..27.0).contains(&stale), "{stale}");
}

#[test]
fn a_shared_lru_hits_what_ches_approximation_predicts() {
    claim("caching/lru-hit-ratio-follows-che");
    let che = che_hit_ratio(&zipf(1_000, 1.0), 500.0);
    assert!((che - 0.868).abs() < 0.0005, "Che: {che}");
    // An hour: within 2 % of Che (measured 86.7 %).
    let long = run(ID, Some("l2_only"), &[], SEED, 3_600.0);
    let hit = metric(&long, "l2_hit_pct") / 100.0;
    assert!((hit - che).abs() / che < 0.02, "{hit} vs Che {che}");
    assert!((hit - 0.867).abs() < 0.002, "{hit}");
    // The default minute: lower, every object's first read a miss.
    let minute = metric(&run(ID, Some("l2_only"), &[], SEED, 60.0), "l2_hit_pct");
    assert!((minute - 82.4).abs() < 0.7, "{minute}");
    assert!(minute < 100.0 * hit);
}

#[test]
fn each_instances_own_l1_hits_less_as_instances_grow() {
    claim("caching/l1-falls-with-instances");
    // Room for every object, TTL T = 10 s, recompute R = 0.1 s, 99 reads
    // a second (1 % of 100 are writes) spread by Zipf s = 1 over 1 000
    // objects and evenly over N instances: an object read λ a second per
    // instance hits λT ÷ (1 + λ(T + R)) of its reads there.
    let expected = |n: f64| -> f64 {
        zipf(1_000, 1.0)
            .iter()
            .map(|p| {
                let lambda = 99.0 * p / n;
                p * lambda * 10.0 / (1.0 + lambda * 10.1)
            })
            .sum::<f64>()
    };
    assert!((expected(16.0) - 0.364).abs() < 0.001);
    assert!((expected(1.0) - 0.708).abs() < 0.001);
    let mut last = 101.0;
    for n in [1, 4, 16] {
        let count = n.to_string();
        // A long run for the renewal formula; the minute for the page.
        let long = run(
            ID,
            Some("many_instances"),
            &[("instances", &count)],
            SEED,
            600.0,
        );
        let hit = metric(&long, "l1_hit_pct");
        let want = 100.0 * expected(f64::from(n));
        assert!((hit - want).abs() < 0.5, "{n}: {hit} vs {want}");
        assert!(hit < last, "falls with instances");
        last = hit;
    }
    let sixteen = metric(
        &run(ID, Some("many_instances"), &[], SEED, 60.0),
        "l1_hit_pct",
    );
    let one = metric(
        &run(
            ID,
            Some("many_instances"),
            &[("instances", "1")],
            SEED,
            60.0,
        ),
        "l1_hit_pct",
    );
    assert!((sixteen - 36.0).abs() < 0.7, "{sixteen}");
    assert!((one - 70.0).abs() < 0.7, "{one}");
}

#[test]
fn a_hot_key_expiring_piles_up_its_rate_times_the_recompute() {
    claim("caching/hot-key-stampede");
    let hot = hot_key_rate();
    assert!((hot - 38.6).abs() < 0.05, "{hot}");
    // About 1 + Poisson(λR) at once at each of ~6 expiries (the cold start
    // included), λR = 38.6 × 0.5005 ≈ 19.3: the worst is at least the
    // mean and rarely above 19.3 + 2.5·√19.3 + 1 ≈ 31.
    let lambda_r = hot * 0.5005;
    for seed in [SEED, 1, 2, 3, 4] {
        let out = run(ID, Some("stampede"), &[], seed, 60.0);
        let peak = metric(&out, "stampede_peak");
        assert!(
            peak >= lambda_r - 0.5 && peak <= lambda_r + 2.5 * lambda_r.sqrt() + 1.0,
            "seed {seed}: {peak}"
        );
        // The duplicates double the database's load: about 18 against 9.
        let db = metric(&out, "db_rps");
        assert!((16.5..20.5).contains(&db), "seed {seed}: {db}");
        let locked = run(ID, Some("stampede_lock"), &[], seed, 60.0);
        assert!(db > 1.8 * metric(&locked, "db_rps"), "seed {seed}");
    }
}

#[test]
fn a_lock_or_coalescing_recomputes_each_object_once() {
    claim("caching/lock-or-coalescing-one-recompute");
    for (preset, sets) in [
        ("stampede_lock", vec![]),
        ("stampede", vec![("stampede_protection", "coalesce")]),
    ] {
        let out = run(ID, Some(preset), &sets, SEED, 60.0);
        assert_eq!(metric(&out, "stampede_peak"), 1.0, "{preset} {sets:?}");
        let db = metric(&out, "db_rps");
        assert!((8.5..10.0).contains(&db), "{preset}: about 9: {db}");
        let lost = metric(&out, "failed") + metric(&out, "rejected");
        assert_eq!(lost, 0.0, "{preset}: nobody fails");
    }
    // The lock's waiting readers look again every 100 ms, each look a
    // lookup that missed: 84 % against 91 %; coalescing keeps 91 %.
    let hit = |preset, sets: &[(&str, &str)]| {
        metric(&run(ID, Some(preset), sets, SEED, 60.0), "l2_hit_pct")
    };
    let (plain, locked) = (hit("stampede", &[]), hit("stampede_lock", &[]));
    let joined = hit("stampede", &[("stampede_protection", "coalesce")]);
    assert!(
        (plain - 91.0).abs() < 1.0 && (locked - 84.0).abs() < 1.0,
        "{plain} {locked}"
    );
    assert!((joined - plain).abs() < 0.5, "{joined}");
}

#[test]
fn early_expiration_refreshes_before_expiry_as_its_formula_says() {
    claim("caching/early-expiration-refreshes-before-expiry");
    // One object, 10 reads a second, L2 only, 2 s TTL, β = 0.5: δ is the
    // 100 ms recompute plus the 0.5 ms L2 round trip, so a cycle is
    // refreshed early with probability 1 − e^(−λδβ) = 1 − e^(−0.5025) =
    // 0.395. An hour is 1 800 cycles: a standard error of 0.012.
    let expected = 1.0 - (-10.0_f64 * 0.1005 * 0.5).exp();
    assert!((expected - 0.395).abs() < 0.001);
    let one_key = [
        ("keys", "1"),
        ("rps", "10"),
        ("layers", "l2"),
        ("l2_ttl_s", "2"),
        ("write_pct", "0"),
        ("stampede_protection", "early_expiration"),
        ("early_expiration_beta", "0.5"),
    ];
    let out = run(ID, None, &one_key, SEED, 3_600.0);
    let early = metric(&out, "early_refresh_pct") / 100.0;
    assert!((early - expected).abs() < 0.04, "{early} vs {expected}");
    // The hot key of the preset: λδβ ≈ 38.6 × 0.5005 ≈ 19, certain.
    assert!(1.0 - (-hot_key_rate() * 0.5005).exp() > 0.999_999);
    // Over all 100 objects, about 38 % of refreshes are early.
    let preset = run(ID, Some("stampede_early"), &[], SEED, 60.0);
    let share = metric(&preset, "early_refresh_pct");
    assert!((35.0..42.0).contains(&share), "{share}");
    // After the cold start, the spikes at the database fall from about 70
    // to about 35 (two seeds); the peak is the cold start's, about λR.
    for seed in [SEED, 1] {
        let early = run(ID, Some("stampede_early"), &[], seed, 60.0);
        let plain = run(ID, Some("stampede"), &[], seed, 60.0);
        let (with_early, without) = (
            max_after(&early, "db.in_flight", 2.0),
            max_after(&plain, "db.in_flight", 2.0),
        );
        assert!(without > 60.0 && without < 85.0, "seed {seed}: {without}");
        assert!(
            (25.0..42.0).contains(&with_early),
            "seed {seed}: {with_early}"
        );
        // The peak falls at most to the cold start's pile-up (1 +
        // Poisson(19.3): rarely under 10).
        let peak = metric(&early, "stampede_peak");
        assert!(peak > 0.5 * hot_key_rate() * 0.5, "seed {seed}: {peak}");
        assert!(peak <= metric(&plain, "stampede_peak"), "seed {seed}");
    }
}

#[test]
fn ttl_only_serves_stale_and_delete_on_write_almost_never() {
    claim("caching/ttl-only-serves-stale");
    // First, by hand on one object: 100 reads a second, a write every 10 s
    // on average (0.1 % of 100), fresh T = 10 s in L2 only. A read at age a
    // of its entry is stale when a write came since the fill, 1 − e^(−νa);
    // reads spread evenly over a cycle, so the stale share is
    // 1 − (1 − e^(−νT)) ÷ (νT) = e^−1 = 0.368 (for νT = 1).
    let one_key = |invalidation| {
        run(
            ID,
            None,
            &[
                ("keys", "1"),
                ("rps", "100"),
                ("write_pct", "0.1"),
                ("layers", "l2"),
                ("l2_ttl_s", "10"),
                ("recompute_ms", "1"),
                ("invalidation", invalidation),
            ],
            SEED,
            3_600.0,
        )
    };
    let stale = metric(&one_key("ttl_only"), "stale_read_pct");
    assert!((stale - 36.8).abs() < 3.0, "{stale}");
    assert!(metric(&one_key("delete_on_write"), "stale_read_pct") < 0.1);
    // The preset: 42 %, about 2 % deleting, almost none writing through.
    let ttl_only = run(ID, Some("stale_ttl_only"), &[], SEED, 60.0);
    let deleting = run(
        ID,
        Some("stale_ttl_only"),
        &[("invalidation", "delete_on_write")],
        SEED,
        60.0,
    );
    let through = run(
        ID,
        Some("stale_ttl_only"),
        &[("invalidation", "write_through")],
        SEED,
        60.0,
    );
    let s = |o: &RunResult| metric(o, "stale_read_pct");
    assert!((s(&ttl_only) - 42.0).abs() < 1.5, "{}", s(&ttl_only));
    assert!((1.0..3.5).contains(&s(&deleting)), "{}", s(&deleting));
    assert!(s(&through) < 0.3, "{}", s(&through));
    // Deleting turns writes of popular objects into misses: 25 → 29.
    let (before, after) = (metric(&ttl_only, "db_rps"), metric(&deleting, "db_rps"));
    assert!(
        (before - 24.7).abs() < 1.0 && (after - 28.6).abs() < 1.0,
        "{before} {after}"
    );
}

#[test]
fn jitter_does_not_save_one_hot_key() {
    claim("caching/jitter-does-not-save-one-hot-key");
    // The hot key still expires, once a cycle: the same Poisson pile-up.
    let lambda_r = hot_key_rate() * 0.5005;
    for seed in [SEED, 1, 2] {
        let jitter = run(
            ID,
            Some("stampede"),
            &[("stampede_protection", "ttl_jitter")],
            seed,
            60.0,
        );
        let peak = metric(&jitter, "stampede_peak");
        assert!(
            peak >= lambda_r - 0.5 && peak <= lambda_r + 2.5 * lambda_r.sqrt() + 1.0,
            "seed {seed}: {peak}"
        );
        // The spikes of all 100 objects filled at the cold start expiring
        // together shrink, from about 70 to about 50: they now expire over
        // 8 to 10 s.
        let plain = run(ID, Some("stampede"), &[], seed, 60.0);
        let (spread, together) = (
            max_after(&jitter, "db.in_flight", 2.0),
            max_after(&plain, "db.in_flight", 2.0),
        );
        assert!(
            together - spread > 15.0,
            "seed {seed}: {together} → {spread}"
        );
        assert!((38.0..60.0).contains(&spread), "seed {seed}: {spread}");
    }
}

#[test]
fn stale_while_revalidate_refreshes_once_in_the_background() {
    claim("caching/stale-while-revalidate-one-refresh");
    let swr = run(
        ID,
        Some("stampede"),
        &[("stampede_protection", "stale_while_revalidate")],
        SEED,
        60.0,
    );
    let plain = run(ID, Some("stampede"), &[], SEED, 60.0);
    let (db, before) = (metric(&swr, "db_rps"), metric(&plain, "db_rps"));
    assert!(
        (16.5..20.5).contains(&before) && (9.5..12.0).contains(&db),
        "{before} → {db}"
    );
    // After the cold start the spikes fall from about 70 to about 20,
    // what a lock leaves.
    for seed in [SEED, 1] {
        let swr = run(
            ID,
            Some("stampede"),
            &[("stampede_protection", "stale_while_revalidate")],
            seed,
            60.0,
        );
        let plain = run(ID, Some("stampede"), &[], seed, 60.0);
        let (after, before) = (
            max_after(&swr, "db.in_flight", 2.0),
            max_after(&plain, "db.in_flight", 2.0),
        );
        assert!(
            before > 60.0 && after < 30.0,
            "seed {seed}: {before} → {after}"
        );
        // What is left of the peak is the cold start's pile-up.
        let peak = metric(&swr, "stampede_peak");
        assert!(peak > 0.5 * hot_key_rate() * 0.5, "seed {seed}: {peak}");
    }
}

#[test]
fn predict_a_slower_recompute_doubles_the_pile_up() {
    claim("caching/predict");
    // λR = 38.6 × 1.0005 ≈ 39 on average at each expiry; the worst of ~6
    // is between that and about 39 + 2.7·√39 + 1 ≈ 57.
    let lambda_r = hot_key_rate() * 1.0005;
    for seed in [SEED, 1, 2, 3] {
        let peak = metric(&run_predict(ID, seed, 60.0), "stampede_peak");
        assert!(
            peak >= lambda_r - 1.0 && peak <= lambda_r + 2.7 * lambda_r.sqrt() + 1.0,
            "seed {seed}: {peak}"
        );
    }
}
