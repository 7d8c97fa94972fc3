//! The latent walk: frames that move from one latent to the next along the great circle between
//! them (spherical interpolation), so the image morphs instead of jumping.
//!
//! Every target must compute the same bits for every step, so the arithmetic is f32, written out
//! operation by operation (Rust never fuses a multiply and an add unless asked to), and the
//! transcendental functions are the `libm` crate's: plain Rust, the same code on x86-64, AArch64
//! and Cortex-M. The exact definition is in the firmware README ("Latent walk").

/// The most frames per walk segment the boards' build setting and the simulator accept: a
/// bound that keeps `k / steps` exact in its operands and a walk's frame numbers small.
pub const MAX_STEPS: u32 = 1000;

/// Below this `sin(omega)` the two latents are treated as parallel and interpolated linearly:
/// the slerp weights would divide by a number near zero, and for such small angles (or angles
/// near pi, which independent normal latents never have) the straight line is as good.
pub const MIN_SIN: f32 = 1e-3;

/// How to get from one latent to the next: along the great circle through both, or, for
/// (nearly) parallel latents, along the straight line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Segment {
    /// The angle between the latents and its sine.
    Slerp { omega: f32, sin_omega: f32 },
    /// `(1 - t) * a + t * b`.
    Lerp,
}

impl Segment {
    /// The segment from `a` to `b` (same length).
    pub fn between(a: &[f32], b: &[f32]) -> Segment {
        let (mut dot, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
        for (&x, &y) in a.iter().zip(b) {
            dot += x * y;
            aa += x * x;
            bb += y * y;
        }
        let norms = libm::sqrtf(aa) * libm::sqrtf(bb);
        // A zero latent has no direction: the straight line (also for a NaN).
        if norms == 0.0 || norms.is_nan() {
            return Segment::Lerp;
        }
        let cos = (dot / norms).clamp(-1.0, 1.0);
        let omega = libm::acosf(cos);
        let sin_omega = libm::sinf(omega);
        if sin_omega < MIN_SIN {
            Segment::Lerp
        } else {
            Segment::Slerp { omega, sin_omega }
        }
    }

    /// The weights of `a` and `b` at fraction `t` of the way.
    pub fn weights(self, t: f32) -> (f32, f32) {
        match self {
            Segment::Slerp { omega, sin_omega } => (
                libm::sinf((1.0 - t) * omega) / sin_omega,
                libm::sinf(t * omega) / sin_omega,
            ),
            Segment::Lerp => (1.0 - t, t),
        }
    }

    /// Writes the point at fraction `t` from `a` to `b` into `out`.
    pub fn point(self, a: &[f32], b: &[f32], t: f32, out: &mut [f32]) {
        let (wa, wb) = self.weights(t);
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = wa * x + wb * y;
        }
    }
}

/// `k / steps` in f32: the fraction of the way at step `k` of a segment of `steps` frames
/// (both operands exact in f32; the quotient is the division's rounding).
pub fn fraction(k: u32, steps: u32) -> f32 {
    k as f32 / steps as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::rng::LatentRng;

    fn latents(seed: u64) -> ([f32; 100], [f32; 100]) {
        let mut rng = LatentRng::new(seed);
        let (mut a, mut b) = ([0.0; 100], [0.0; 100]);
        rng.fill_normal(&mut a);
        rng.fill_normal(&mut b);
        (a, b)
    }

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn the_walk_starts_exactly_at_the_first_latent() {
        let (a, b) = latents(1);
        let segment = Segment::between(&a, &b);
        assert!(matches!(segment, Segment::Slerp { .. }), "{segment:?}");
        let mut out = [0.0; 100];
        segment.point(&a, &b, 0.0, &mut out);
        assert_eq!(out.map(f32::to_bits), a.map(f32::to_bits));
    }

    #[test]
    fn the_walk_ends_at_the_second_latent_and_keeps_its_length_in_between() {
        let (a, b) = latents(2);
        let segment = Segment::between(&a, &b);
        let mut out = [0.0; 100];
        segment.point(&a, &b, 1.0, &mut out);
        for (x, y) in out.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        // Independent normal latents are nearly orthogonal and of nearly equal length: the
        // midpoint of the arc stays near their length, the straight line's would be ~0.71.
        segment.point(&a, &b, 0.5, &mut out);
        let ratio = norm(&out) / (0.5 * (norm(&a) + norm(&b)));
        assert!((ratio - 1.0).abs() < 0.1, "{ratio}");
    }

    #[test]
    fn the_angle_is_the_angle_between_the_latents() {
        let a = [1.0, 0.0, 0.0];
        let b = [0.0, 2.0, 0.0];
        let Segment::Slerp { omega, sin_omega } = Segment::between(&a, &b) else {
            panic!("orthogonal latents make a slerp");
        };
        assert!((omega - core::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert!((sin_omega - 1.0).abs() < 1e-6);
        let mut out = [0.0; 3];
        Segment::Slerp { omega, sin_omega }.point(&a, &b, 0.5, &mut out);
        let half = core::f32::consts::FRAC_1_SQRT_2;
        assert!((out[0] - half).abs() < 1e-6 && (out[1] - 2.0 * half).abs() < 1e-6);
    }

    #[test]
    fn parallel_and_zero_latents_fall_back_to_the_straight_line() {
        let a = [1.0, 2.0, 3.0];
        let twice = [2.0, 4.0, 6.0];
        assert_eq!(Segment::between(&a, &twice), Segment::Lerp);
        assert_eq!(Segment::between(&a, &[0.0; 3]), Segment::Lerp);
        let mut out = [0.0; 3];
        Segment::Lerp.point(&a, &twice, 0.25, &mut out);
        assert_eq!(out, [1.25, 2.5, 3.75]);
    }

    #[test]
    fn fractions_are_k_over_steps() {
        assert_eq!(fraction(0, 8), 0.0);
        assert_eq!(fraction(2, 8), 0.25);
        assert_eq!(fraction(1, 3).to_bits(), (1.0f32 / 3.0).to_bits());
    }
}
