//! Simulated time: an integer count of nanoseconds since the start of a run.
//!
//! Integers, not floats, so that event ordering never depends on rounding and a
//! run is bit-identical on every platform.

/// Nanoseconds since the start of the run.
pub type SimTime = u64;

/// One microsecond.
pub const MICROSECOND: SimTime = 1_000;
/// One millisecond.
pub const MILLISECOND: SimTime = 1_000_000;
/// One second.
pub const SECOND: SimTime = 1_000_000_000;

/// Converts seconds to simulated time, rounding to the nearest nanosecond.
/// Negative and NaN inputs become zero; huge inputs saturate.
pub fn secs(s: f64) -> SimTime {
    if s.is_nan() || s <= 0.0 {
        return 0;
    }
    let ns = s * SECOND as f64 + 0.5;
    if ns >= u64::MAX as f64 {
        u64::MAX
    } else {
        ns as u64
    }
}

/// Converts milliseconds to simulated time (see [`secs`]).
pub fn millis(ms: f64) -> SimTime {
    secs(ms / 1_000.0)
}

/// Simulated time as seconds.
pub fn as_secs(t: SimTime) -> f64 {
    t as f64 / SECOND as f64
}

/// Simulated time as milliseconds.
pub fn as_millis(t: SimTime) -> f64 {
    t as f64 / MILLISECOND as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_clamp() {
        assert_eq!(secs(1.5), 1_500_000_000);
        assert_eq!(millis(50.0), 50 * MILLISECOND);
        assert_eq!(secs(-3.0), 0);
        assert_eq!(secs(f64::NAN), 0);
        assert_eq!(secs(1e30), u64::MAX);
        assert_eq!(as_millis(millis(12.25)), 12.25);
    }
}
