//! Independent replications of one run, and what they say together: per
//! metric the mean, the standard deviation and a 95 % confidence interval
//! from Student's t. One run of a stochastic model is one sample; this is
//! how a user checks a scenario against theory without trusting it.

use crate::engine::{RngStream, RunResult};
use crate::scenarios::Scenario;
use crate::spec::{Params, RunConfig, SpecError};

/// The seed of replication `i` of a run seeded `seed`: drawn from a stream
/// of its own, so replications are independent of each other and of how
/// many there are.
pub fn replication_seed(seed: u64, i: u64) -> u64 {
    RngStream::new(seed, &format!("replication.{i}")).next_u64()
}

/// One metric over the replications.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The metric's key.
    pub key: String,
    /// Mean over the replications.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 for one).
    pub sd: f64,
    /// The 95 % confidence interval of the mean: mean ± t × sd / √n.
    pub ci95: (f64, f64),
    /// Replications.
    pub n: usize,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: the
/// factor of a two-sided 95 % interval. Exact to the table's four decimals
/// up to 30 degrees of freedom (the values every statistics text prints),
/// then the Cornish-Fisher expansion around the normal quantile, within
/// 1e-4 beyond.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let v = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
        }
    }
}

/// Mean, standard deviation and 95 % interval of each metric, in the
/// first result's order.
pub fn summarize(results: &[RunResult]) -> Vec<Summary> {
    let Some(first) = results.first() else {
        return Vec::new();
    };
    first
        .metrics
        .iter()
        .map(|m| {
            let values: Vec<f64> = results.iter().filter_map(|r| r.metric(&m.key)).collect();
            let n = values.len();
            let mean = values.iter().sum::<f64>() / n.max(1) as f64;
            let sd = if n > 1 {
                let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
                (ss / (n - 1) as f64).sqrt()
            } else {
                0.0
            };
            let half = if n > 1 {
                t_975(n - 1) * sd / (n as f64).sqrt()
            } else {
                0.0
            };
            Summary {
                key: m.key.clone(),
                mean,
                sd,
                ci95: (mean - half, mean + half),
                n,
            }
        })
        .collect()
}

/// Runs `n` replications of `scenario` with `params` for `duration_s`,
/// seeds derived from `seed`, on up to `threads` threads. The results are
/// in replication order and the same however many threads run them.
pub fn run(
    scenario: &Scenario,
    params: &Params,
    seed: u64,
    duration_s: f64,
    n: u64,
    threads: usize,
) -> Result<Vec<RunResult>, SpecError> {
    let one = |i: u64| {
        let config = RunConfig {
            seed: replication_seed(seed, i),
            duration_s,
        };
        scenario.run(params, &config)
    };
    let threads = threads.clamp(1, n.max(1) as usize) as u64;
    if threads == 1 {
        return (0..n).map(one).collect();
    }
    let mut done: Vec<(u64, Result<RunResult, SpecError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(threads as usize)
                        .map(|i| (i, one(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if done.len() as u64 != n {
        return Err(SpecError::Invalid("a replication's thread panicked".into()));
    }
    done.sort_by_key(|d| d.0);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_printed_tables() {
        // Student's t, 0.975: df 9 → 2.262157, 29 → 2.045230, 60 →
        // 2.000298, 100 → 1.983972, 1000 → 1.962339 (any table, or R's
        // qt(0.975, df)).
        assert_eq!(t_975(9), 2.2622);
        assert_eq!(t_975(29), 2.0452);
        for (df, exact) in [
            (31, 2.039513),
            (60, 2.000298),
            (100, 1.983972),
            (1000, 1.962339),
        ] {
            assert!((t_975(df) - exact).abs() < 1e-4, "{df}: {}", t_975(df));
        }
        assert!(t_975(0).is_infinite());
    }

    #[test]
    fn a_summary_is_mean_sd_and_t_interval() {
        // Values 1, 2, 3, 4, 5: mean 3, sd √2.5 = 1.5811, half-width
        // 2.7764 × 1.5811 / √5 = 1.9632.
        let runs: Vec<RunResult> = (1..=5)
            .map(|v| RunResult {
                events: 0,
                duration_s: 1.0,
                bucket_s: 1.0,
                metrics: vec![crate::engine::metrics::Metric {
                    key: "x".into(),
                    value: f64::from(v),
                }],
                series: vec![],
                outcomes: vec![],
                marks: vec![],
                faults: vec![],
            })
            .collect();
        let s = &summarize(&runs)[0];
        assert_eq!((s.key.as_str(), s.n, s.mean), ("x", 5, 3.0));
        assert!((s.sd - 2.5f64.sqrt()).abs() < 1e-12);
        assert!((s.ci95.0 - (3.0 - 1.9632)).abs() < 1e-3, "{:?}", s.ci95);
        assert!((s.ci95.1 - (3.0 + 1.9632)).abs() < 1e-3, "{:?}", s.ci95);
        // One replication: no spread to speak of.
        let one = &summarize(&runs[..1])[0];
        assert_eq!((one.sd, one.ci95), (0.0, (1.0, 1.0)));
    }

    #[test]
    fn replication_seeds_differ_and_do_not_depend_on_the_count() {
        let seeds: Vec<u64> = (0..100).map(|i| replication_seed(42, i)).collect();
        let mut sorted = seeds.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        assert_eq!(replication_seed(42, 7), seeds[7]);
        assert_ne!(replication_seed(43, 7), seeds[7]);
    }
}
