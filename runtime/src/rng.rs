//! Seeded standard-normal latent vectors, the same numbers on every target.
//!
//! The bits come from Xoshiro256++ (`rand_xoshiro`, seeded with SplitMix64 by
//! its `seed_from_u64`); pairs of normals come from Marsaglia's polar method
//! computed in f32 with `libm`, which is plain Rust arithmetic without fused
//! multiply-adds and so rounds identically on x86-64, AArch64 and Cortex-M.
//! The polar method needs only `logf` and `sqrtf` (the trigonometry of
//! Box-Muller would pull f64 arithmetic into a Cortex-M0+ build).
//! `rand_distr`'s ziggurat is not used: it calls `exp`/`ln` through
//! `num-traits`, which switches to the platform's math library whenever any
//! crate in the build enables `std`, so a trainer and a firmware would
//! disagree on rare samples.
//!
//! For each pair: `u = (next_u64() >> 40) * 2^-23 - 1` and likewise `v`, both
//! in [-1, 1); `s = u * u + v * v`; if `s >= 1` or `s == 0` draw again;
//! otherwise `f = sqrtf(-2 * logf(s) / s)` and the pair is `(u f, v f)`. A
//! pair's second value is kept for the next call, so filling 100 values twice
//! gives the same stream as filling 200 once.

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded source of latent vectors.
#[derive(Clone, Debug)]
pub struct LatentRng {
    bits: Xoshiro256PlusPlus,
    spare: Option<f32>,
}

const SCALE: f32 = 1.0 / (1u32 << 23) as f32;

impl LatentRng {
    pub fn new(seed: u64) -> Self {
        LatentRng {
            bits: Xoshiro256PlusPlus::seed_from_u64(seed),
            spare: None,
        }
    }

    /// The next standard normal value.
    pub fn next_normal(&mut self) -> f32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        loop {
            let u = (self.bits.next_u64() >> 40) as f32 * SCALE - 1.0;
            let v = (self.bits.next_u64() >> 40) as f32 * SCALE - 1.0;
            let s = u * u + v * v;
            if s < 1.0 && s > 0.0 {
                let f = libm::sqrtf(-2.0 * libm::logf(s) / s);
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }

    /// Fills `out` with standard normal values.
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        for v in out {
            *v = self.next_normal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_in_any_chunking() {
        let mut a = [0.0f32; 200];
        LatentRng::new(7).fill_normal(&mut a);
        let mut b = [0.0f32; 200];
        let mut rng = LatentRng::new(7);
        let (x, y) = b.split_at_mut(101);
        rng.fill_normal(x);
        rng.fill_normal(y);
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        let mut c = [0.0f32; 200];
        LatentRng::new(8).fill_normal(&mut c);
        assert_ne!(a, c);
    }

    #[test]
    fn moments_are_standard_normal() {
        let mut rng = LatentRng::new(1);
        let n = 100_000;
        let (mut sum, mut sq, mut max) = (0.0f64, 0.0f64, 0.0f32);
        for _ in 0..n {
            let v = rng.next_normal();
            assert!(v.is_finite());
            sum += f64::from(v);
            sq += f64::from(v) * f64::from(v);
            max = max.max(v.abs());
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
        assert!(max < 8.0 && max > 3.5, "max {max}");
    }

    /// The stream is part of the contract (trainer samples and firmware
    /// frames must agree): pin its first values.
    #[test]
    fn stream_is_pinned() {
        let mut v = [0.0f32; 4];
        LatentRng::new(0).fill_normal(&mut v);
        let bits = v.map(f32::to_bits);
        assert_eq!(bits, PINNED, "{v:?}");
    }
    const PINNED: [u32; 4] = [3217376631, 3213126933, 3146017862, 3201415664];
}
