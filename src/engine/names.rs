// The names every scenario's results carry. A plain file of constants,
// included by `metrics.rs` and by `build.rs` (which checks the data files
// against them before the crate is compiled).

/// Keys of the summary metrics every scenario reports.
pub const COMMON_METRICS: &[&str] = &[
    "requests",
    "completed",
    "failed",
    "rejected",
    "in_flight",
    "throughput_rps",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
];

/// Keys of the series every scenario reports.
pub const COMMON_SERIES: &[&str] = &[
    "throughput_rps",
    "errors_rps",
    "in_flight",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
];
