//! Distributions for durations, sizes and counts, sampled from an
//! [`RngStream`].
//!
//! Every logarithm, exponential, power and cosine here is `libm`'s, written
//! out rather than borrowed from a distributions crate: the standard
//! library's versions call the platform's maths library natively but not in
//! wasm, and one last-bit difference in a rejection test would send two
//! runs of the same seed apart. With `libm` native and wasm builds draw the
//! same bits.

use super::rng::RngStream;

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
    /// Exponential with this mean (memoryless service or inter-arrival).
    Exponential(f64),
    /// Log-normal, `exp(mu + sigma × z)` for a standard normal `z`: right-
    /// skewed, like real query and response times.
    LogNormal {
        /// Mean of the underlying normal.
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// Pareto: heavy-tailed, a few huge values dominate.
    Pareto {
        /// The smallest value.
        scale: f64,
        /// Tail index (> 1).
        shape: f64,
    },
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
        if mean > 0.0 && mean.is_finite() {
            Dist::Exponential(mean)
        } else {
            Dist::constant(0.0)
        }
    }

    /// Log-normal with the given *mean* and spread `sigma` (the standard
    /// deviation of the underlying normal; 0.5 is moderate, 1.0 very skewed).
    pub fn lognormal(mean: f64, sigma: f64) -> Self {
        if !(mean > 0.0 && mean.is_finite()) {
            return Dist::constant(0.0);
        }
        if !(sigma >= 0.0 && sigma.is_finite()) {
            return Dist::constant(mean);
        }
        // E[X] = exp(mu + sigma^2 / 2), so pick mu to hit the requested mean.
        let mu = libm::log(mean) - sigma * sigma / 2.0;
        Dist::LogNormal { mu, sigma }
    }

    /// Pareto with the given mean and tail index `shape` (> 1; smaller is
    /// heavier). A shape at or below 1 has no mean and falls back to 1.1.
    pub fn pareto(mean: f64, shape: f64) -> Self {
        let shape = if shape > 1.0 && shape.is_finite() {
            shape
        } else {
            1.1
        };
        if !(mean > 0.0 && mean.is_finite()) {
            return Dist::constant(0.0);
        }
        // E[X] = scale × shape / (shape − 1).
        let scale = mean * (shape - 1.0) / shape;
        Dist::Pareto { scale, shape }
    }

    /// Draws one value.
    #[inline]
    pub fn sample(&self, rng: &mut RngStream) -> f64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Uniform { lo, hi } => lo + (hi - lo) * rng.uniform(),
            Dist::Exponential(mean) => mean * standard_exponential(rng),
            Dist::LogNormal { mu, sigma } => libm::exp(mu + sigma * standard_normal(rng)),
            // Inversion: U^(−1/shape) is Pareto with scale 1.
            Dist::Pareto { scale, shape } => scale * libm::pow(open_unit(rng), -1.0 / shape),
        }
    }
}

/// Ziggurat layers for the exponential (Marsaglia and Tsang, 2000): 256
/// strips of equal area under e^−x, so most draws cost one random number and
/// a comparison, no logarithm. Built once, with `libm`, at first use.
struct Ziggurat {
    /// Right edge of each strip; `x[0]` is the base strip's notional width
    /// and `x[256]` is 0.
    x: [f64; 257],
    /// e^−x at each edge.
    f: [f64; 257],
}

/// Where the tail beyond the last strip starts, and each strip's area.
const ZIGGURAT_R: f64 = 7.697_117_470_131_05;
const ZIGGURAT_AREA: f64 = 0.003_949_659_822_581_557;

fn exponential_ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut x = [0.0; 257];
        // The base strip holds the rectangle under f(R) and the whole tail.
        x[0] = ZIGGURAT_AREA / libm::exp(-ZIGGURAT_R);
        x[1] = ZIGGURAT_R;
        for i in 2..256 {
            x[i] = -libm::log(ZIGGURAT_AREA / x[i - 1] + libm::exp(-x[i - 1]));
        }
        let f = x.map(|xi| libm::exp(-xi));
        Ziggurat { x, f }
    })
}

/// An exponential draw with mean 1.
fn standard_exponential(rng: &mut RngStream) -> f64 {
    let z = exponential_ziggurat();
    loop {
        let bits = rng.next_u64();
        // The low 8 bits pick a strip, the top 53 a point across it.
        let i = (bits & 0xff) as usize;
        let u = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let x = u * z.x[i];
        if x < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            // Past the strips: the tail is R plus another exponential.
            return ZIGGURAT_R - libm::log(open_unit(rng));
        }
        // In the strip's sliver beside the curve: accept under e^−x.
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * rng.uniform() < libm::exp(-x) {
            return x;
        }
    }
}

/// A uniform draw on (0, 1]: never 0, so its logarithm is finite.
#[inline]
fn open_unit(rng: &mut RngStream) -> f64 {
    1.0 - rng.uniform()
}

/// A standard normal draw (Box–Muller, one of the pair).
fn standard_normal(rng: &mut RngStream) -> f64 {
    let radius = libm::sqrt(-2.0 * libm::log(open_unit(rng)));
    radius * libm::cos(2.0 * std::f64::consts::PI * rng.uniform())
}

/// How many events of a Poisson process with `mean` events fall in one
/// interval: for models that count arrivals per interval rather than
/// drawing each one. 0 for a mean that is not positive.
pub fn poisson_count(mean: f64, rng: &mut RngStream) -> u64 {
    if !(mean > 0.0 && mean.is_finite()) {
        return 0;
    }
    if mean < 10.0 {
        // Multiply uniforms until the product drops below e^−mean.
        let floor = libm::exp(-mean);
        let mut product = 1.0;
        let mut count = 0;
        loop {
            product *= rng.uniform();
            if product <= floor {
                return count;
            }
            count += 1;
        }
    }
    poisson_ptrs(mean, rng)
}

/// Hörmann's transformed rejection with squeeze (PTRS, 1993): a Poisson
/// draw in about 1.1 pairs of uniforms whatever the mean (≥ 10).
fn poisson_ptrs(mean: f64, rng: &mut RngStream) -> u64 {
    let log_mean = libm::log(mean);
    let b = 0.931 + 2.53 * libm::sqrt(mean);
    let a = -0.059 + 0.02483 * b;
    let log_inv_alpha = libm::log(1.1239 + 1.1328 / (b - 3.4));
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.uniform() - 0.5;
        let v = rng.uniform();
        let us = 0.5 - libm::fabs(u);
        let k = libm::floor((2.0 * a / us + b) * u + mean + 0.43);
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        if k.is_nan() || k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        let accept = libm::log(v) + log_inv_alpha - libm::log(a / (us * us) + b);
        if accept <= -mean + k * log_mean - libm::lgamma(k + 1.0) {
            return k as u64;
        }
    }
}

/// How many of `n` independent trials, each succeeding with probability
/// `p`, succeed: the exact binomial distribution, by jumping from one
/// success to the next (geometric gaps), so the work grows with
/// `n × min(p, 1 − p)`.
pub fn binomial_count(n: u64, p: f64, rng: &mut RngStream) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial_count(n, 1.0 - p, rng);
    }
    let log_miss = libm::log1p(-p);
    let mut successes = 0;
    let mut trials: u64 = 0;
    loop {
        // Trials up to and including the next success: geometric on 1, 2, ...
        let gap = libm::floor(libm::log(open_unit(rng)) / log_miss) as u64 + 1;
        trials = trials.saturating_add(gap);
        if trials > n {
            return successes;
        }
        successes += 1;
    }
}

/// Zipf-distributed ranks over `0..n`: rank 0 is the most popular.
///
/// Rejection-inversion (Hörmann and Derflinger, 1996): constant time per
/// draw whatever `n`, with no table.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    squeeze: f64,
}

impl Zipf {
    /// `n` keys with exponent `s` (1.0 is the classic web-cache skew).
    pub fn new(n: u64, s: f64) -> Self {
        let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
        let mut z = Self {
            n: n.max(1) as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.squeeze = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// Draws a rank in `0..n`.
    pub fn sample(&self, rng: &mut RngStream) -> u64 {
        loop {
            let u = self.h_integral_n + rng.uniform() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = libm::floor(x + 0.5).clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64 - 1;
            }
        }
    }

    /// The unnormalised probability of rank `x`: x^−s.
    fn h(&self, x: f64) -> f64 {
        libm::exp(-self.s * libm::log(x))
    }

    /// An antiderivative of `h`: (x^(1−s) − 1) / (1 − s), ln x at s = 1.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = libm::log(x);
        expm1_over((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        libm::exp(log1p_over(t) * x)
    }
}

/// ln(1 + x) / x, continuous at 0.
fn log1p_over(x: f64) -> f64 {
    if libm::fabs(x) > 1e-8 {
        libm::log1p(x) / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x − 1) / x, continuous at 0.
fn expm1_over(x: f64) -> f64 {
    if libm::fabs(x) > 1e-8 {
        libm::expm1(x) / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_counts_have_the_poisson_mean_and_variance() {
        // A Poisson count's variance equals its mean.
        for mean in [0.7, 3.0, 12.0, 3_000.0] {
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

    /// Mean and variance of `n` draws.
    fn moments(n: usize, mut draw: impl FnMut() -> f64) -> (f64, f64) {
        let xs: Vec<f64> = (0..n).map(|_| draw()).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        (
            m,
            xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64,
        )
    }

    #[test]
    fn binomial_counts_have_the_binomial_mean_and_variance() {
        // Mean n p, variance n p (1 − p); p above one half takes the mirror path.
        for (n, p) in [(1_000_u64, 0.02), (1_000, 0.3), (50, 0.9)] {
            let mut rng = RngStream::new(8, "binomial");
            let (m, var) = moments(20_000, || binomial_count(n, p, &mut rng) as f64);
            let (want_m, want_var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!((m - want_m).abs() / want_m < 0.01, "{n} {p}: mean {m}");
            assert!(
                (var - want_var).abs() / want_var < 0.05,
                "{n} {p}: variance {var}"
            );
        }
        let mut rng = RngStream::new(8, "binomial");
        assert_eq!(binomial_count(10, 0.0, &mut rng), 0);
        assert_eq!(binomial_count(10, 1.0, &mut rng), 10);
        assert_eq!(binomial_count(10, f64::NAN, &mut rng), 0);
        assert!((0..1_000).all(|_| binomial_count(7, 0.5, &mut rng) <= 7));
    }

    #[test]
    fn lognormal_and_pareto_have_their_textbook_shapes() {
        let mut rng = RngStream::new(3, "shapes");
        // Log-normal: the median is exp(mu) = mean × exp(−sigma² / 2).
        let d = Dist::lognormal(1.0, 0.8);
        let mut xs: Vec<f64> = (0..100_001).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[50_000];
        assert!((median - libm::exp(-0.32)).abs() < 0.01, "median {median}");
        // Pareto: P(X > 2 × scale) = 2^−shape; scale = mean (shape − 1) / shape.
        let d = Dist::pareto(1.5, 3.0);
        let tail = (0..100_000).filter(|_| d.sample(&mut rng) > 2.0).count();
        assert!((tail as f64 / 1e5 - 0.125).abs() < 0.005, "tail {tail}");
    }

    #[test]
    fn zipf_with_exponent_zero_is_uniform() {
        let z = Zipf::new(4, 0.0);
        let mut rng = RngStream::new(2, "flat");
        let mut counts = [0_u32; 4];
        for _ in 0..40_000 {
            counts[z.sample(&mut rng) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (c as f64 - 10_000.0).abs() < 400.0),
            "{counts:?}"
        );
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
    fn the_ziggurat_strips_have_equal_areas_and_close_at_zero() {
        let z = exponential_ziggurat();
        for i in 1..255 {
            // Strip i spans x[i+1]..x[i] in height and x[i] in width.
            let area = z.x[i] * (z.f[i + 1] - z.f[i]);
            assert!((area - ZIGGURAT_AREA).abs() < 1e-12, "strip {i}: {area}");
        }
        // The last strip reaches the top of the curve (e^0 = 1) exactly.
        let top = ZIGGURAT_AREA / z.x[255] + z.f[255];
        assert!((top - 1.0).abs() < 1e-9, "top {top}");
        assert!(z.x[255] > 0.0 && z.x[256] == 0.0);
    }

    #[test]
    fn exponential_draws_follow_e_to_the_minus_x() {
        let d = Dist::exponential(1.0);
        let mut rng = RngStream::new(21, "exp");
        let n = 2_000_000;
        let mut xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        // The tail beyond the last strip (R ≈ 7.7) included: P(X > t) = e^−t.
        for t in [0.1, 0.5, 1.0, 2.0, 4.0, 7.0, 8.0, 9.0] {
            let want = libm::exp(-t) * n as f64;
            let got = xs.iter().filter(|&&x| x > t).count() as f64;
            // Five binomial standard deviations.
            let sd = (want * (1.0 - want / n as f64)).sqrt();
            assert!((got - want).abs() < 5.0 * sd, "P(X > {t}): {got} vs {want}");
        }
        // Between consecutive strip edges, where draws beside the curve are
        // tested against e^−x, the density must fall from left to right:
        // count the left and right halves of every such interval against
        // their exact probabilities (a wrong acceptance test shows up here,
        // though it barely moves the tail counts or the KS gap).
        let z = exponential_ziggurat();
        let (mut left, mut right, mut want_left, mut want_right) = (0.0, 0.0, 0.0, 0.0);
        for i in 1..256 {
            let (a, b) = (z.x[i + 1], z.x[i]);
            let mid = (a + b) / 2.0;
            let p = |lo: f64, hi: f64| libm::exp(-lo) - libm::exp(-hi);
            want_left += p(a, mid) * n as f64;
            want_right += p(mid, b) * n as f64;
            left += xs.iter().filter(|&&x| a <= x && x < mid).count() as f64;
            right += xs.iter().filter(|&&x| mid <= x && x < b).count() as f64;
        }
        for (got, want) in [(left, want_left), (right, want_right)] {
            assert!(
                (got - want).abs() < 5.0 * want.sqrt(),
                "interval halves: {got} vs {want}"
            );
        }
        // Kolmogorov–Smirnov: the largest gap between the sample's CDF and
        // 1 − e^−x, against the 1 % critical value 1.63 / √n.
        xs.sort_by(f64::total_cmp);
        let gap = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let cdf = 1.0 - libm::exp(-x);
                (cdf - i as f64 / n as f64)
                    .abs()
                    .max((cdf - (i + 1) as f64 / n as f64).abs())
            })
            .fold(0.0, f64::max);
        assert!(gap < 1.63 / (n as f64).sqrt(), "KS gap {gap}");
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
