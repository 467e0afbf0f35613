//! A service's cache in the run loop: stampedes and their remedies,
//! versions and invalidation, per-instance copies. Each expected value is
//! worked out by hand in its test.

use super::stampede::Protection;
use super::*;
use crate::engine::time::{millis, secs, SECOND};
use crate::engine::Dist;
use crate::parts::RateShape;

/// Reads (route 0) and writes (route 1) of `keys` equally likely objects,
/// Poisson at `reads` and `writes` per second, through `app` (a cache in
/// front, calling `db`) to `db`, the system of record, which takes
/// `recompute_ms` for each.
fn cached(
    cache: CacheSpec,
    instances: u32,
    keys: u64,
    reads: f64,
    writes: f64,
    recompute_ms: f64,
) -> Topology {
    let mut app = Service::new(
        100_000,
        0,
        false,
        vec![Step::Call(Call {
            to: 1,
            policy: CallPolicy::plain(),
        })],
    );
    app.instances = instances;
    app.cache = Some(cache);
    let mut db = Service::new(
        100_000,
        0,
        true,
        vec![Step::Work(Dist::constant(recompute_ms / 1e3))],
    );
    db.system_of_record = true;
    let mut write = Route::new("write", 0);
    write.cacheable = false;
    let source = |rate: f64, route| Source::Open {
        shape: RateShape::Flat(rate),
        poisson: true,
        routes: vec![(route, 1.0)],
        objects: Some(Objects {
            count: keys,
            popularity: Popularity::Uniform,
        }),
        clients: 0,
    };
    let mut sources = vec![source(reads, 0)];
    if writes > 0.0 {
        sources.push(source(writes, 1));
    }
    Topology {
        stages: vec![
            Stage {
                name: "app".into(),
                kind: StageKind::Service(app),
            },
            Stage {
                name: "db".into(),
                kind: StageKind::Service(db),
            },
        ],
        routes: vec![Route::new("read", 0), write],
        sources,
        faults: vec![],
    }
}

struct Ran {
    stats: CacheStats,
    db_peak: u32,
    totals: FlowTotals,
    reads: RouteStats,
    hits: (u64, u64),
}

fn run(topo: &Topology, seconds: f64) -> Ran {
    let mut sim = Sim::new(topo, 3, secs(seconds), &[]).unwrap_or_else(|e| panic!("{e}"));
    sim.run();
    Ran {
        stats: sim.cache_stats(0),
        db_peak: sim.reads_in_flight_peak(1),
        totals: sim.totals().clone(),
        reads: sim.route(0).clone(),
        hits: sim.cache_lookups(0),
    }
}

fn hot_key(protection: Protection) -> Topology {
    let spec = CacheSpec {
        protection,
        ..CacheSpec::new(10, Some(secs(5.0)))
    };
    cached(spec, 1, 1, 200.0, 0.0, 100.0)
}

#[test]
fn an_unprotected_hot_key_recomputes_once_per_read_that_arrives_during_the_recompute() {
    // One key read 200 times a second, recomputed in 100 ms, fresh 5 s.
    // When it expires, the first read starts a recompute; every read in
    // the next 100 ms misses too: 200 × 0.1 = 20 more on average, so a
    // cycle costs 1 + 20 = 21 recomputes, and the most at once (the
    // largest of ~40 Poisson(20) draws, plus the first) is at least 20
    // and at most about 20 + 4·√20 + 1 ≈ 39.
    let r = run(&hot_key(Protection::None), 200.0);
    let per_cycle = r.stats.recomputes as f64 / r.stats.refreshes as f64;
    assert!(
        (per_cycle - 21.0).abs() < 2.0,
        "{per_cycle} recomputes per cycle"
    );
    assert!((20..=39).contains(&r.db_peak), "peak {}", r.db_peak);
    assert_eq!(r.db_peak, r.stats.recompute_peak);
    // A cycle lasts the TTL plus the recompute: 200 s ÷ 5.1 s ≈ 39.
    assert!(
        (37..=41).contains(&r.stats.refreshes),
        "{}",
        r.stats.refreshes
    );
}

#[test]
fn a_lock_or_coalescing_keeps_the_recomputes_of_a_key_to_one() {
    for protection in [
        Protection::Lock {
            retry: millis(100.0),
        },
        Protection::Coalesce,
    ] {
        let r = run(&hot_key(protection), 200.0);
        assert_eq!(
            (r.db_peak, r.stats.recompute_peak),
            (1, 1),
            "{protection:?}"
        );
        assert_eq!(r.stats.recomputes, r.stats.refreshes, "{protection:?}");
        // Nobody is lost: every read that arrived is answered.
        assert_eq!(r.reads.failed + r.reads.rejected, 0, "{protection:?}");
        assert!(r.reads.completed > 39_000, "{protection:?}");
    }
    // The waiting: about 20 readers a cycle find the lock taken (each
    // tries again after 100 ms, when the value is back) or join the
    // recompute.
    let locked = run(
        &hot_key(Protection::Lock {
            retry: millis(100.0),
        }),
        200.0,
    );
    let waits = locked.stats.lock_waits as f64 / locked.stats.refreshes as f64;
    assert!((waits - 20.0).abs() < 2.5, "{waits} lock waits per cycle");
    let joined = run(&hot_key(Protection::Coalesce), 200.0);
    let coalesced = joined.stats.coalesced as f64 / joined.stats.refreshes as f64;
    assert!(
        (coalesced - 20.0).abs() < 2.5,
        "{coalesced} joined per cycle"
    );
}

#[test]
fn xfetch_refreshes_early_as_often_as_its_formula_says() {
    // A reader `g` before expiry recomputes with probability e^(−g/(δβ));
    // Poisson readers at λ trigger at least one early recompute in a cycle
    // with probability 1 − exp(−∫λ e^(−g/(δβ)) dg) = 1 − e^(−λδβ) (the
    // TTL, 10 s, is far longer than δβ). δ is the 100 ms recompute.
    for (reads, beta) in [(2.0, 1.0), (20.0, 1.0), (2.0, 3.0)] {
        let spec = CacheSpec {
            protection: Protection::EarlyExpiration { beta },
            ..CacheSpec::new(10, Some(secs(10.0)))
        };
        let topo = cached(spec, 1, 1, reads, 0.0, 100.0);
        let r = run(&topo, 36_000.0);
        let cycles = (r.stats.early_refreshes + r.stats.refreshes) as f64;
        let early = r.stats.early_refreshes as f64 / cycles;
        let expected = 1.0 - libm::exp(-reads * 0.1 * beta);
        // ~3 600 cycles: a standard error under 0.009.
        assert!(
            (early - expected).abs() < 0.03,
            "λ {reads} β {beta}: {early} early vs {expected}"
        );
    }
}

#[test]
fn ttl_only_serves_stale_reads_until_expiry_and_delete_on_write_almost_never() {
    // One key, 100 reads/s, a write every 10 s on average (Poisson, ν =
    // 0.1/s), fresh for T = 10 s, 1 ms to recompute. With TTL only, a read
    // at age a of its entry is stale when a write came since the fill:
    // 1 − e^(−νa); reads spread evenly over the cycle, so the stale share
    // is 1 − (1 − e^(−νT)) ÷ (νT) = 1 − (1 − e^−1) = e^−1 = 0.368.
    let topo = |invalidation| {
        let spec = CacheSpec {
            invalidation,
            ..CacheSpec::new(10, Some(secs(10.0)))
        };
        cached(spec, 1, 1, 100.0, 0.1, 1.0)
    };
    let ttl_only = run(&topo(Invalidation::TtlOnly), 20_000.0);
    let share = ttl_only.totals.stale_reads as f64 / ttl_only.totals.versioned_reads as f64;
    assert!((share - 0.368).abs() < 0.03, "ttl only: {share}");
    // Deleting on write leaves only the reads answered while a write is
    // being committed (1 ms of every 10 s: 1e-4) and the rare fill of a
    // value read just before a write.
    for invalidation in [Invalidation::DeleteOnWrite, Invalidation::WriteThrough] {
        let r = run(&topo(invalidation), 20_000.0);
        let share = r.totals.stale_reads as f64 / r.totals.versioned_reads as f64;
        assert!(share < 0.001, "{invalidation:?}: {share}");
        assert!(r.stats.invalidations > 1_800, "{invalidation:?}");
    }
}

#[test]
fn per_instance_copies_each_warm_on_their_own_share_of_the_reads() {
    // 100 equally likely keys read 1 000 times a second, fresh for 1 s,
    // room for all. One copy sees each key at λ = 10/s: a TTL cache's hit
    // ratio for Poisson reads is λT ÷ (1 + λT) = 10/11 = 0.909 (one miss,
    // then λT hits on average). Round robin over 4 instances' own copies
    // gives each copy λ = 2.5/s: 2.5/3.5 = 0.714.
    for (instances, expected) in [(1, 10.0 / 11.0), (4, 2.5 / 3.5)] {
        let spec = CacheSpec {
            per_instance: instances > 1,
            ..CacheSpec::new(1_000, Some(SECOND))
        };
        let r = run(&cached(spec, instances, 100, 1_000.0, 0.0, 1.0), 200.0);
        let ratio = r.hits.0 as f64 / r.hits.1 as f64;
        assert!(
            (ratio - expected).abs() < 0.01,
            "{instances} instances: {ratio} vs {expected}"
        );
    }
}

#[test]
fn stale_while_revalidate_answers_at_once_and_refreshes_once_per_cycle() {
    // The hot key of the stampede test, served stale for up to 5 s past
    // expiry: after the cold start (whose ~20 extra recomputes nothing can
    // prevent: there is no entry yet), every cycle costs one recompute,
    // and the read that finds it expired plus the ~20 during the refresh
    // are answered from the old entry: 21 a cycle.
    let r = run(
        &hot_key(Protection::StaleWhileRevalidate { grace: secs(5.0) }),
        200.0,
    );
    let extra = r.stats.recomputes - r.stats.refreshes;
    assert!(extra <= 40, "{extra} recomputes beyond one a cycle");
    let served = r.stats.stale_while_revalidate as f64 / r.stats.refreshes as f64;
    assert!(
        (served - 21.0).abs() < 2.5,
        "{served} stale answers per cycle"
    );
    // The same cycles unprotected cost ~20 extra recomputes each.
    let none = run(&hot_key(Protection::None), 200.0);
    assert!(none.stats.recomputes - none.stats.refreshes > 600);
}

#[test]
fn an_in_process_lock_or_coalescing_only_merges_its_own_instances_readers() {
    // The hot key on 4 instances, each with its own cache: a lock or a
    // coalescing table in one process cannot see the others' readers, so
    // each instance recomputes the key itself when its copy is cold or
    // expired: at most 4 at once at the database, and at least 2 at the
    // cold start (200 reads a second reach all 4 within a few ms, well
    // inside the 100 ms recompute).
    for protection in [
        Protection::Lock {
            retry: millis(100.0),
        },
        Protection::Coalesce,
    ] {
        let spec = CacheSpec {
            protection,
            per_instance: true,
            ..CacheSpec::new(10, Some(secs(5.0)))
        };
        let r = run(&cached(spec, 4, 1, 200.0, 0.0, 100.0), 200.0);
        assert!(
            (2..=4).contains(&r.db_peak),
            "{protection:?}: {}",
            r.db_peak
        );
        assert_eq!(r.stats.recompute_peak, 1, "{protection:?}: one per copy");
        assert_eq!(r.reads.failed + r.reads.rejected, 0, "{protection:?}");
    }
}
