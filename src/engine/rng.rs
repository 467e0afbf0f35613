//! Seeded random streams, one per source of randomness.
//!
//! Each stream is derived from the run seed and the *name* of the component
//! that draws from it ("arrivals", "db.query"...). Changing one component, say
//! the rate-limiter algorithm, therefore never changes the numbers another
//! component sees: two variants of a scenario run on the same arrivals, which
//! is what makes an A/B comparison fair ("common random numbers").

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// An independent pseudo-random stream (xoshiro256++).
#[derive(Clone, Debug)]
pub struct RngStream {
    inner: Xoshiro256PlusPlus,
}

/// FNV-1a: a stable, platform-independent hash of the stream name.
fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: spreads nearby inputs over the whole 64-bit range.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RngStream {
    /// The stream called `name` within the run seeded by `seed`.
    pub fn new(seed: u64, name: &str) -> Self {
        let key = splitmix(seed) ^ splitmix(fnv1a(name).rotate_left(17));
        Self {
            inner: Xoshiro256PlusPlus::seed_from_u64(key),
        }
    }

    /// A uniform 64-bit integer.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform float in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (0 when `n` is 0). Uses Lemire's
    /// multiply-shift, whose bias is below 2^-32 for the sizes we use.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.inner.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_name_repeat_exactly() {
        let mut a = RngStream::new(7, "arrivals");
        let mut b = RngStream::new(7, "arrivals");
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn names_and_seeds_give_independent_streams() {
        let first = |seed, name| RngStream::new(seed, name).next_u64();
        assert_ne!(first(7, "arrivals"), first(7, "service"));
        assert_ne!(first(7, "arrivals"), first(8, "arrivals"));
        // Correlation check: two streams' uniforms should be uncorrelated.
        let (mut a, mut b) = (RngStream::new(1, "x"), RngStream::new(1, "y"));
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            sum += (a.uniform() - 0.5) * (b.uniform() - 0.5);
        }
        // Covariance of independent U(0,1) is 0 with std 1/12/sqrt(n) ≈ 0.0006.
        assert!((sum / n as f64).abs() < 0.003);
    }

    #[test]
    fn uniform_and_below_stay_in_range_with_the_right_mean() {
        let mut r = RngStream::new(3, "u");
        let n = 100_000;
        let mut sum = 0.0;
        let mut counts = [0u32; 5];
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            sum += u;
            counts[r.below(5) as usize] += 1;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
        for c in counts {
            assert!((f64::from(c) / n as f64 - 0.2).abs() < 0.01);
        }
        assert_eq!(r.below(0), 0);
    }
}
