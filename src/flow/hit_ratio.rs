//! Expected cache hit ratios in closed form, for models that serve too many
//! requests to look each one up (a CDN edge at 10^5 req/s): what the
//! [`Cache`](super::cache::Cache) would answer on average, given how often
//! each object is asked for. The tests check each formula against the
//! cache itself.
//!
//! * **TTL, room for everything.** An object asked for as a Poisson stream
//!   of `rate` per second is fetched on a miss and kept for `ttl`; the
//!   requests of the next `ttl` hit, on average `rate × ttl` of them, and
//!   the first one after is a miss again. Each cycle is one miss and
//!   `rate × ttl` hits: a hit ratio of `rate·ttl / (1 + rate·ttl)`.
//! * **LRU, no TTL (Che's approximation).** An object stays while fewer
//!   than `capacity` other distinct objects are asked for; Che, Tung and
//!   Wang (2002) treat that as a fixed *characteristic time* `t` with
//!   `Σ (1 − e^(−rate_i·t)) = capacity`, so object `i` hits with
//!   probability `1 − e^(−rate_i·t)`.
//!
//! A mix of objects hits in proportion to their traffic:
//! `Σ rate_i·h_i / Σ rate_i`.

/// Hit ratio of one object asked for `rate` times a second (Poisson) when
/// each miss caches it for `ttl_s` seconds and nothing is evicted.
pub fn ttl_hit_ratio(rate: f64, ttl_s: f64) -> f64 {
    let x = (rate * ttl_s).max(0.0);
    if x.is_finite() {
        x / (1.0 + x)
    } else {
        1.0
    }
}

/// The traffic-weighted mean of `hit(rate)` over objects with `rates`.
fn weighted(rates: &[f64], hit: impl Fn(f64) -> f64) -> f64 {
    let total: f64 = rates.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    rates.iter().map(|&r| r * hit(r)).sum::<f64>() / total
}

/// Hit ratio of a TTL cache with room for every object, over objects
/// asked for at `rates` per second.
pub fn ttl_hit_ratio_of(rates: &[f64], ttl_s: f64) -> f64 {
    weighted(rates, |r| ttl_hit_ratio(r, ttl_s))
}

/// Che's characteristic time (seconds) of an LRU cache holding `capacity`
/// of the objects asked for at `rates`: the `t` where the expected number
/// of distinct objects asked for within `t` equals the capacity. Infinite
/// when everything fits.
pub fn che_time(rates: &[f64], capacity: usize) -> f64 {
    let asked = rates.iter().filter(|&&r| r > 0.0).count();
    if capacity >= asked {
        return f64::INFINITY;
    }
    let distinct = |t: f64| -> f64 { rates.iter().map(|&r| 1.0 - libm::exp(-r * t)).sum() };
    let c = capacity as f64;
    // `distinct` grows from 0 to `asked` > c: bracket, then bisect.
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while distinct(hi) < c && hi < 1e18 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if distinct(mid) < c {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Hit ratio of an LRU cache of `capacity` objects (no TTL) over objects
/// asked for at `rates`, by Che's approximation.
pub fn lru_hit_ratio(rates: &[f64], capacity: usize) -> f64 {
    let t = che_time(rates, capacity);
    if t.is_infinite() {
        // Everything fits: only each object's first request misses, which
        // a long run makes negligible.
        return if rates.iter().any(|&r| r > 0.0) {
            1.0
        } else {
            0.0
        };
    }
    weighted(rates, |r| 1.0 - libm::exp(-r * t))
}

/// Request rates of `n` objects under Zipf popularity with exponent `s`
/// (rank k is asked for in proportion to k^−s), `total` per second in all.
pub fn zipf_rates(n: usize, s: f64, total: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| libm::pow(k as f64, -s)).collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| total * w / sum).collect()
}

/// Ranks summed term by term before [`zipf_ttl_hit_ratio`] integrates
/// the rest.
const ZIPF_HEAD: usize = 1_000;

/// Hit ratio of a TTL cache with room for everything over `n` objects of
/// Zipf popularity `s`, `total` requests a second in all: the same as
/// [`ttl_hit_ratio_of`] over [`zipf_rates`], without a term per object (a
/// model that is re-run as a slider moves cannot afford 10^5 powers). The
/// first [`ZIPF_HEAD`] ranks are summed exactly; the tail, where both the
/// weight `k^−s` and the hit ratio change slowly from rank to rank, is the
/// midpoint-rule integral `∫ f(x) dx` over `[HEAD + ½, n + ½]`, taken by
/// Simpson's rule in `ln x`.
pub fn zipf_ttl_hit_ratio(n: usize, s: f64, total: f64, ttl_s: f64) -> f64 {
    if n == 0 || total <= 0.0 || ttl_s <= 0.0 {
        return 0.0;
    }
    let weight = |x: f64| libm::pow(x, -s);
    let head = n.min(ZIPF_HEAD);
    // ∫ g(x) dx over the tail, in u = ln x (dx = x du).
    let tail = |g: &dyn Fn(f64) -> f64| -> f64 {
        if n <= head {
            return 0.0;
        }
        let (a, b) = (libm::log(head as f64 + 0.5), libm::log(n as f64 + 0.5));
        const STEPS: usize = 256;
        let h = (b - a) / STEPS as f64;
        let at = |i: usize| {
            let x = libm::exp(a + h * i as f64);
            g(x) * x
        };
        let inner: f64 = (1..STEPS)
            .map(|i| if i % 2 == 1 { 4.0 } else { 2.0 } * at(i))
            .sum();
        (at(0) + inner + at(STEPS)) * h / 3.0
    };
    let norm = (1..=head).map(|k| weight(k as f64)).sum::<f64>() + tail(&weight);
    let hit = |w: f64| w * ttl_hit_ratio(total * w / norm, ttl_s);
    let hits = (1..=head).map(|k| hit(weight(k as f64))).sum::<f64>() + tail(&|x| hit(weight(x)));
    hits / norm
}

#[cfg(test)]
mod tests {
    use super::super::cache::{Cache, Lookup};
    use super::*;
    use crate::engine::dist::Zipf;
    use crate::engine::time::secs;
    use crate::engine::RngStream;

    /// Hit ratio of `requests` Poisson arrivals at `rate` per second, each
    /// for an object drawn by `pick`, through `cache` (filled on a miss).
    fn simulate(
        cache: &mut Cache,
        rate: f64,
        requests: u64,
        mut pick: impl FnMut(&mut RngStream) -> u64,
    ) -> f64 {
        let mut arrivals = RngStream::new(7, "arrivals");
        let mut objects = RngStream::new(7, "objects");
        let (mut t, mut hits) = (0.0, 0u64);
        for _ in 0..requests {
            t += -libm::log(1.0 - arrivals.uniform()) / rate;
            let key = pick(&mut objects);
            if cache.get(key, secs(t)) == Lookup::Hit {
                hits += 1;
            } else {
                cache.insert(key, secs(t));
            }
        }
        hits as f64 / requests as f64
    }

    #[test]
    fn a_ttl_cache_hits_rate_times_ttl_over_one_plus_that() {
        // 20 req/s, 0.5 s TTL: 10 hits per miss, 10/11 = 0.909.
        assert!((ttl_hit_ratio(20.0, 0.5) - 10.0 / 11.0).abs() < 1e-12);
        let mut cache = Cache::new(1, Some(secs(0.5)), 1);
        let sim = simulate(&mut cache, 20.0, 200_000, |_| 0);
        // About 18 000 cycles: the miss share is within 1 % of 1/11, so
        // the hit ratio within 0.001; 0.005 leaves room.
        assert!((sim - 10.0 / 11.0).abs() < 0.005, "{sim}");
        // Ten objects, uniformly asked for at 1 req/s each, 2 s TTL: 2/3.
        let rates = vec![1.0; 10];
        assert!((ttl_hit_ratio_of(&rates, 2.0) - 2.0 / 3.0).abs() < 1e-12);
        let mut cache = Cache::new(10, Some(secs(2.0)), 10);
        let sim = simulate(&mut cache, 10.0, 200_000, |rng| rng.below(10));
        assert!((sim - 2.0 / 3.0).abs() < 0.005, "{sim}");
    }

    #[test]
    fn che_predicts_an_lru_under_zipf_popularity() {
        // 1 000 objects, Zipf 0.8, a cache of 100: Che's approximation is
        // known to be within about a percent for such mixes.
        let (n, s, capacity) = (1_000, 0.8, 100);
        let rates = zipf_rates(n, s, 1_000.0);
        let t = che_time(&rates, capacity);
        let distinct: f64 = rates.iter().map(|&r| 1.0 - libm::exp(-r * t)).sum();
        assert!((distinct - capacity as f64).abs() < 1e-6);
        let predicted = lru_hit_ratio(&rates, capacity);
        let zipf = Zipf::new(n as u64, s);
        let mut cache = Cache::new(capacity, None, n as u64);
        let sim = simulate(&mut cache, 1_000.0, 500_000, |rng| zipf.sample(rng));
        assert!((sim - predicted).abs() < 0.02, "{sim} vs {predicted}");
        // Everything fits: every request but the first of each object hits.
        assert_eq!(lru_hit_ratio(&rates, n), 1.0);
        assert!(che_time(&rates, n).is_infinite());
    }

    #[test]
    fn zipf_rates_add_up_and_fall_by_rank() {
        let rates = zipf_rates(4, 1.0, 100.0);
        // Weights 1, 1/2, 1/3, 1/4 sum to 25/12: rank 1 gets 48 req/s.
        assert!((rates[0] - 48.0).abs() < 1e-9);
        assert!((rates.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert!(rates.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn the_fast_zipf_ttl_ratio_matches_the_sum_over_every_object() {
        // The integral stands in for the per-object sum beyond rank 1 000;
        // it must agree with the sum itself (to 10^−4) over the sizes,
        // skews, rates and TTLs the models use, and be the sum exactly
        // when every rank is in the head.
        for (n, s, total, ttl) in [
            (20_000, 1.0, 60_000.0, 300.0),
            (20_000, 1.0, 600.0, 300.0),
            (100_000, 0.9, 32_000.0, 30.0),
            (100_000, 0.9, 320.0, 30.0),
            (100_000, 0.6, 1_000.0, 5.0),
            (50_000, 1.2, 100.0, 600.0),
        ] {
            let exact = ttl_hit_ratio_of(&zipf_rates(n, s, total), ttl);
            let fast = zipf_ttl_hit_ratio(n, s, total, ttl);
            assert!(
                (fast - exact).abs() < 1e-4,
                "{n} {s} {total} {ttl}: {fast} vs {exact}"
            );
        }
        let exact = ttl_hit_ratio_of(&zipf_rates(800, 0.9, 50.0), 10.0);
        assert!((zipf_ttl_hit_ratio(800, 0.9, 50.0, 10.0) - exact).abs() < 1e-12);
        assert_eq!(zipf_ttl_hit_ratio(1_000, 0.9, 50.0, 0.0), 0.0);
    }
}
