//! The integer arithmetic of version-2 (integer) generators: the
//! requantisation of a 32-bit sum to an int16 activation, the quantisation
//! of the latent, the weights an integer layer reads ([`IntParams`]), and
//! the integer kernels of dense and convolution layers: [`reference`](mod@reference) (the
//! plain ones, which define the result) and [`portable`] (vectorisable).
//!
//! Integer sums are exact, so unlike the float kernels these may add in
//! any order: every kernel set equals the plain one bit for bit whatever
//! its loop order, and the format needs no fixed summation order.
//! Sums wrap rather than trap: the loader's accumulator bound
//! (`|bias| + 32768 * sum |w| <= 2^31 - 1` per channel) rules out overflow
//! in every order for a loaded file, and a kernel called directly with
//! weights beyond it gives wrapped sums, never a panic.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) mod blocked;
pub mod portable;
pub mod reference;

use super::interface::conv_lens_fit;
use super::{ConvGeom, Weights};
use crate::format::DType;

/// Requantisation of one output channel: `y = (acc * m + 2^(sh-1)) >> sh`
/// saturated to 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    pub m: i64,
    pub sh: u32,
}

impl Requant {
    /// Maps every sum to 0 (what a kernel uses for a channel whose scale the
    /// loader would have rejected).
    const ZERO: Requant = Requant { m: 0, sh: 1 };

    /// The channel of weight scale `scale` from `f_in` to `f_out` fraction
    /// bits, or one that maps every sum to 0 if [`requant_params`] rejects
    /// it.
    #[inline]
    pub fn new(scale: f32, f_in: u32, f_out: u32) -> Requant {
        match requant_params(scale, f_in, f_out) {
            Some((m, sh)) => Requant { m, sh },
            None => Requant::ZERO,
        }
    }

    /// `acc` in the output's units: `acc * m / 2^sh` rounded half up,
    /// saturated to `-32768 ..= 32767`.
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i16 {
        let sh = self.sh.clamp(1, 62);
        let y = i64::from(acc)
            .wrapping_mul(self.m)
            .wrapping_add(1i64 << (sh - 1))
            >> sh;
        y.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
    }
}

/// The requantisation of an output channel with weight scale `scale`, from
/// an input with `f_in` fraction bits to an output with `f_out`: the
/// significand `m` (24 bits, leading 1 included) and the shift
/// `sh = 150 - E + f_in - f_out` (`E` the exponent field), so that
/// `acc * scale * 2^-f_in` is `acc * m / 2^sh` in units of `2^-f_out`.
/// `None` when the scale is not a normal, positive, finite f32 or `sh` is
/// outside `1 ..= 62`.
pub fn requant_params(scale: f32, f_in: u32, f_out: u32) -> Option<(i64, u32)> {
    let (m, sh) = (significand(scale)?, shift(scale, f_in, f_out));
    u32::try_from(sh)
        .ok()
        .filter(|s| (1..=62).contains(s))
        .map(|s| (m, s))
}

/// The 24-bit significand of a normal positive finite `scale`, else `None`.
pub(crate) fn significand(scale: f32) -> Option<i64> {
    let bits = scale.to_bits();
    let e = bits >> 23;
    (1..=254)
        .contains(&e)
        .then(|| i64::from((bits & 0x7f_ffff) | 0x80_0000))
}

/// `150 - E + f_in - f_out` for `scale`'s exponent field `E` (whatever
/// the scale), which the loader reports when it is out of range.
pub(crate) fn shift(scale: f32, f_in: u32, f_out: u32) -> i64 {
    let e = i64::from((scale.to_bits() >> 23) & 0xff);
    150 - e + i64::from(f_in) - i64::from(f_out)
}

/// `v` rounded to the nearest integer, halves away from zero, for
/// `|v| <= 2^30` (larger values and NaN: 0, which no caller passes).
/// The float operations are exact: the truncation, and `v - t`.
pub fn round_half_away(v: f32) -> i32 {
    // NaN fails the comparison too.
    let in_range = v.abs() <= (1u32 << 30) as f32;
    if !in_range {
        return 0;
    }
    let t = v as i32;
    let frac = v - t as f32;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// A latent value `z` as an activation with `f` fraction bits: `z * 2^f`
/// rounded to the nearest integer, halves away from zero, saturated to
/// 16 bits; NaN gives 0.
pub fn quantize_latent(z: f32, f: u32) -> i16 {
    // 2^f as f32 (exact up to 2^127), so the product is exact or infinite.
    let v = z * f32::from_bits((127 + f.min(127)) << 23);
    if v.is_nan() {
        0
    } else if v >= 32767.0 {
        i16::MAX
    } else if v <= -32768.0 {
        i16::MIN
    } else {
        round_half_away(v) as i16
    }
}

/// The stored tensors and fraction bits an integer dense or convolution
/// layer reads: int8 weights, int32 biases and f32 weight scales, one per
/// output channel, from an input with `f_in` fraction bits to an output
/// with `f_out`.
#[derive(Clone, Copy, Debug)]
pub struct IntParams<'a> {
    pub weight: Weights<'a>,
    pub bias: Weights<'a>,
    pub scale: Weights<'a>,
    pub f_in: u32,
    pub f_out: u32,
}

impl<'a> IntParams<'a> {
    /// The weights as `i8` (empty unless the dtype is I8).
    #[inline]
    pub fn weights(&self) -> &'a [i8] {
        if self.weight.dtype() == DType::I8 {
            bytemuck::cast_slice(self.weight.bytes())
        } else {
            &[]
        }
    }

    /// The bias of output channel `o`.
    #[inline]
    pub fn bias(&self, o: usize) -> i32 {
        self.bias.int_at(o)
    }

    /// The requantisation of output channel `o`.
    #[inline]
    pub fn requant(&self, o: usize) -> Requant {
        Requant::new(self.scale.at(o), self.f_in, self.f_out)
    }

    /// Whether the tensors hold what `n_out` output channels with `n_w`
    /// weights in all need, in the right dtypes.
    fn holds(&self, n_w: Option<usize>, n_out: usize) -> bool {
        self.bias.dtype() == DType::I32
            && self.scale.dtype() == DType::F32
            && n_w.is_some_and(|n| self.weights().len() >= n)
            && self.bias.len() >= n_out
            && self.scale.len() >= n_out
    }
}

/// Whether the buffers hold what an integer dense layer reads and writes
/// (kernels do nothing otherwise; the loader guarantees it).
pub fn int_dense_fits(p: &IntParams<'_>, n_in: usize, n_out: usize) -> bool {
    p.holds(n_in.checked_mul(n_out), n_out)
}

/// Like [`int_dense_fits`] for a convolution in either direction.
pub fn int_conv_fits(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &[i16]) -> bool {
    let n_w = g
        .in_c
        .checked_mul(g.out_c)
        .and_then(|n| n.checked_mul(g.kernel))
        .and_then(|n| n.checked_mul(g.kernel));
    p.holds(n_w, g.out_c) && conv_lens_fit(n_w.unwrap_or(0), g.out_c, g, x.len(), y.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantisation_follows_the_spec() {
        // 0.5 = 2^23 * 2^(126 - 150): m = 2^23, E = 126.
        assert_eq!(requant_params(0.5, 8, 8), Some((1 << 23, 24)));
        assert_eq!(requant_params(0.5, 8, 40), None);
        assert_eq!(requant_params(0.0, 8, 8), None);
        assert_eq!(requant_params(-0.5, 8, 8), None);
        assert_eq!(requant_params(f32::MIN_POSITIVE / 2.0, 8, 8), None);
        assert_eq!(requant_params(f32::INFINITY, 8, 8), None);
        assert_eq!(requant_params(f32::NAN, 8, 8), None);
        let r = Requant { m: 1 << 23, sh: 24 };
        // Halves round up: 3 * 0.5 = 1.5 -> 2, -3 * 0.5 = -1.5 -> -1.
        assert_eq!(r.apply(3), 2);
        assert_eq!(r.apply(-3), -1);
        assert_eq!(r.apply(i32::MAX), i16::MAX);
        assert_eq!(r.apply(i32::MIN), i16::MIN);
    }

    #[test]
    fn latent_quantisation_rounds_halves_away() {
        assert_eq!(quantize_latent(0.5, 0), 1);
        assert_eq!(quantize_latent(-0.5, 0), -1);
        assert_eq!(quantize_latent(0.49999997, 0), 0);
        assert_eq!(quantize_latent(1.25, 2), 5);
        assert_eq!(quantize_latent(-1.375, 2), -6);
        assert_eq!(quantize_latent(32767.5, 0), i16::MAX);
        assert_eq!(quantize_latent(-32768.5, 0), i16::MIN);
        assert_eq!(quantize_latent(1e30, 24), i16::MAX);
        assert_eq!(quantize_latent(f32::NEG_INFINITY, 3), i16::MIN);
        assert_eq!(quantize_latent(f32::NAN, 3), 0);
        assert_eq!(round_half_away(0.2 * 32768.0), 6554);
        assert_eq!(round_half_away(-32768.0), -32768);
    }
}
