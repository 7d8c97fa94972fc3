//! AArch64 kernels with NEON (the Raspberry Pi 4 and 5): f16 weights are
//! converted eight at a time by `fcvtl`/`fcvtl2`, and every
//! multiply-accumulate is an `fmul` then an `fadd` (never `fmla`), so the
//! results equal the plain kernels bit for bit. The loops are shared with
//! the other vector targets (module `simd`).
//!
//! NEON is part of every AArch64 target that Rust builds for an operating
//! system, so these kernels are chosen at compile time; a target built
//! without it (soft-float) uses the portable kernels.

use core::arch::aarch64::*;
use core::arch::asm;

use super::simd::{self, Lane8};
use super::{conv_fits, dense_fits, fast, ConvGeom, Weights};

/// Whether this CPU runs the kernels of this module.
#[inline]
pub fn available() -> bool {
    if cfg!(target_feature = "neon") {
        return true;
    }
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(feature = "std"))]
    {
        false
    }
}

/// Two NEON registers of four f32.
#[derive(Clone, Copy)]
struct Neon(float32x4_t, float32x4_t);

// SAFETY: every method needs NEON, which the entry points below establish
// with `available()` before calling in.
unsafe impl Lane8 for Neon {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Neon(vdupq_n_f32(0.0), vdupq_n_f32(0.0))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Neon(vld1q_f32(p), vld1q_f32(p.add(4)))
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u8) -> Self {
        let h: uint16x8_t = core::ptr::read_unaligned(p.cast());
        let (lo, hi): (float32x4_t, float32x4_t);
        // `fcvtl` widens f16 to f32 exactly (subnormals included); the
        // intrinsic `vcvt_f32_f16` needs the unstable `f16` type.
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags)
        );
        Neon(lo, hi)
    }
    #[inline(always)]
    unsafe fn load_f32_bytes(p: *const u8) -> Self {
        Neon(
            core::ptr::read_unaligned(p.cast()),
            core::ptr::read_unaligned(p.add(16).cast()),
        )
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> Self {
        let v = vld1q_dup_f32(p);
        Neon(v, v)
    }
    #[inline(always)]
    unsafe fn add_mul(self, a: Self, b: Self) -> Self {
        Neon(
            vaddq_f32(self.0, vmulq_f32(a.0, b.0)),
            vaddq_f32(self.1, vmulq_f32(a.1, b.1)),
        )
    }
    #[inline(always)]
    unsafe fn add(self, a: Self) -> Self {
        Neon(vaddq_f32(self.0, a.0), vaddq_f32(self.1, a.1))
    }
    #[inline(always)]
    unsafe fn select(self, mask: Self, a: Self) -> Self {
        Neon(
            vbslq_f32(vreinterpretq_u32_f32(mask.0), a.0, self.0),
            vbslq_f32(vreinterpretq_u32_f32(mask.1), a.1, self.1),
        )
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        vst1q_f32(p, self.0);
        vst1q_f32(p.add(4), self.1);
    }
}

#[target_feature(enable = "neon")]
unsafe fn dense_neon(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    simd::dense::<Neon>(w, b, x, y)
}

#[target_feature(enable = "neon")]
unsafe fn conv_neon(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
) {
    simd::conv::<Neon>(w, b, g, x, y, transpose)
}

/// Dense layer (see the module docs of `kernels` for the order).
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !available() {
        return fast::dense(w, b, x, y);
    }
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    // SAFETY: NEON is present and the sizes checked.
    unsafe { dense_neon(w, b, x, y) }
}

/// `conv2d`; the portable kernel where the geometry is outside what the
/// vector kernel handles.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if !available() || !simd::conv_supported(g) {
        return fast::conv2d(w, b, g, x, y);
    }
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    // SAFETY: NEON is present and the sizes checked.
    unsafe { conv_neon(w, b, g, x, y, false) }
}

/// `conv_transpose2d`; falls back like [`conv2d`].
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if !available() || !simd::conv_supported(g) {
        return fast::conv_transpose2d(w, b, g, x, y);
    }
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    // SAFETY: NEON is present and the sizes checked.
    unsafe { conv_neon(w, b, g, x, y, true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fcvtl` agrees with the reference conversion on every finite f16.
    #[test]
    fn f16_conversion_is_exact_for_every_finite_value() {
        assert!(available());
        super::super::assert_converts_every_finite_f16(8, |bytes, got| {
            // SAFETY: NEON is present; both buffers hold 8 elements.
            unsafe { Neon::load_f16(bytes.as_ptr()).store(got.as_mut_ptr()) }
        });
    }
}
