//! Distributions for durations and sizes, sampled from an [`RngStream`].
//!
//! Sampling goes through `rand_distr` built without `std`, so its logarithms
//! and exponentials come from `libm`: native and wasm builds draw the same bits.

use super::rng::RngStream;
use rand_distr::Distribution;

/// A distribution of non-negative values (typically seconds).
#[derive(Clone, Debug)]
pub enum Dist {
    /// Always the same value.
    Constant(f64),
    /// Uniform between `lo` and `hi`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Exponential with the given mean (memoryless service or inter-arrival).
    Exponential(rand_distr::Exp<f64>),
    /// Log-normal: right-skewed, like real query and response times.
    LogNormal(rand_distr::LogNormal<f64>),
    /// Pareto: heavy-tailed, a few huge values dominate.
    Pareto(rand_distr::Pareto<f64>),
}

impl Dist {
    /// A constant.
    pub fn constant(value: f64) -> Self {
        Dist::Constant(value.max(0.0))
    }

    /// Uniform on `[lo, hi]` (the bounds are swapped if given backwards).
    pub fn uniform(lo: f64, hi: f64) -> Self {
        Dist::Uniform {
            lo: lo.min(hi).max(0.0),
            hi: hi.max(lo).max(0.0),
        }
    }

    /// Exponential with the given mean; a non-positive mean gives constant 0.
    pub fn exponential(mean: f64) -> Self {
        match rand_distr::Exp::new(1.0 / mean) {
            Ok(d) if mean > 0.0 && mean.is_finite() => Dist::Exponential(d),
            _ => Dist::constant(0.0),
        }
    }

    /// Log-normal with the given *mean* and spread `sigma` (the standard
    /// deviation of the underlying normal; 0.5 is moderate, 1.0 very skewed).
    pub fn lognormal(mean: f64, sigma: f64) -> Self {
        if !(mean > 0.0 && mean.is_finite()) {
            return Dist::constant(0.0);
        }
        // E[X] = exp(mu + sigma^2 / 2), so pick mu to hit the requested mean.
        let mu = libm::log(mean) - sigma * sigma / 2.0;
        match rand_distr::LogNormal::new(mu, sigma) {
            Ok(d) => Dist::LogNormal(d),
            Err(_) => Dist::constant(mean),
        }
    }

    /// Pareto with the given mean and tail index `shape` (> 1; smaller is
    /// heavier). A shape at or below 1 has no mean and falls back to 1.1.
    pub fn pareto(mean: f64, shape: f64) -> Self {
        let shape = if shape > 1.0 { shape } else { 1.1 };
        if !(mean > 0.0 && mean.is_finite()) {
            return Dist::constant(0.0);
        }
        let scale = mean * (shape - 1.0) / shape;
        match rand_distr::Pareto::new(scale, shape) {
            Ok(d) => Dist::Pareto(d),
            Err(_) => Dist::constant(mean),
        }
    }

    /// Draws one value.
    #[inline]
    pub fn sample(&self, rng: &mut RngStream) -> f64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Uniform { lo, hi } => lo + (hi - lo) * rng.uniform(),
            Dist::Exponential(d) => d.sample(rng.generator()),
            Dist::LogNormal(d) => d.sample(rng.generator()),
            Dist::Pareto(d) => d.sample(rng.generator()),
        }
    }
}

/// How many events of a Poisson process with `mean` events fall in one
/// interval: for models that count arrivals per interval rather than
/// drawing each one. 0 for a mean that is not positive.
pub fn poisson_count(mean: f64, rng: &mut RngStream) -> u64 {
    match rand_distr::Poisson::new(mean) {
        Ok(d) => {
            let n: f64 = d.sample(rng.generator());
            n as u64
        }
        Err(_) => 0,
    }
}

/// Zipf-distributed ranks over `0..n`: rank 0 is the most popular.
#[derive(Clone, Debug)]
pub struct Zipf {
    inner: Option<rand_distr::Zipf<f64>>,
}

impl Zipf {
    /// `n` keys with exponent `s` (1.0 is the classic web-cache skew).
    pub fn new(n: u64, s: f64) -> Self {
        Self {
            inner: rand_distr::Zipf::new(n.max(1) as f64, s.max(0.0)).ok(),
        }
    }

    /// Draws a rank in `0..n`.
    #[inline]
    pub fn sample(&self, rng: &mut RngStream) -> u64 {
        match &self.inner {
            Some(z) => (z.sample(rng.generator()) as u64).saturating_sub(1),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_counts_have_the_poisson_mean_and_variance() {
        // A Poisson count's variance equals its mean.
        for mean in [0.7, 3.0, 3_000.0] {
            let mut rng = RngStream::new(5, "counts");
            let draws: Vec<f64> = (0..20_000)
                .map(|_| poisson_count(mean, &mut rng) as f64)
                .collect();
            let m = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / draws.len() as f64;
            assert!((m - mean).abs() / mean < 0.02, "mean {m} vs {mean}");
            assert!((var - mean).abs() / mean < 0.05, "variance {var} vs {mean}");
        }
        let mut rng = RngStream::new(5, "counts");
        for bad in [0.0, -1.0, f64::NAN] {
            assert_eq!(poisson_count(bad, &mut rng), 0);
        }
    }

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut rng = RngStream::new(11, "dist");
        (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_match_the_requested_means() {
        let n = 200_000;
        assert_eq!(mean_of(&Dist::constant(2.5), 10), 2.5);
        assert!((mean_of(&Dist::uniform(1.0, 3.0), n) - 2.0).abs() < 0.01);
        assert!((mean_of(&Dist::exponential(0.5), n) - 0.5).abs() < 0.005);
        assert!((mean_of(&Dist::lognormal(1.0, 0.5), n) - 1.0).abs() < 0.01);
        // Heavy tail converges slowly: shape 3 has finite variance.
        assert!((mean_of(&Dist::pareto(1.0, 3.0), n) - 1.0).abs() < 0.02);
    }

    #[test]
    fn exponential_is_memoryless_in_its_variance() {
        // For an exponential, the standard deviation equals the mean.
        let d = Dist::exponential(2.0);
        let mut rng = RngStream::new(5, "var");
        let xs: Vec<f64> = (0..200_000).map(|_| d.sample(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!((var.sqrt() - 2.0).abs() < 0.03, "sd {}", var.sqrt());
    }

    #[test]
    fn bad_parameters_degrade_to_constants_not_panics() {
        assert!(matches!(Dist::exponential(0.0), Dist::Constant(_)));
        assert!(matches!(Dist::exponential(f64::NAN), Dist::Constant(_)));
        assert!(matches!(Dist::lognormal(-1.0, 0.5), Dist::Constant(_)));
        let mut rng = RngStream::new(1, "p");
        assert!(Dist::pareto(1.0, 0.5).sample(&mut rng) > 0.0);
    }

    #[test]
    fn zipf_rank_zero_dominates() {
        let z = Zipf::new(100, 1.0);
        let mut rng = RngStream::new(9, "keys");
        let n = 100_000;
        let mut top = 0;
        for _ in 0..n {
            let k = z.sample(&mut rng);
            assert!(k < 100);
            if k == 0 {
                top += 1;
            }
        }
        // P(rank 1) = 1 / H(100, 1) = 1 / 5.187 ≈ 0.193.
        let p = f64::from(top) / n as f64;
        assert!((p - 0.193).abs() < 0.01, "p {p}");
    }
}
