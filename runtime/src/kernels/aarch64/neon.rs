//! AArch64 kernels with NEON (the Raspberry Pi 4 and 5): f16 weights are
//! converted eight at a time by `fcvtl`/`fcvtl2`, and every
//! multiply-accumulate is an `fmul` then an `fadd` (never `fmla`), so the
//! results equal the plain kernels bit for bit. The loops are shared with
//! AVX2 (module `lane8`); this module only names the instructions.
//!
//! NEON is part of every AArch64 target that Rust builds for an operating
//! system, so these kernels are chosen at compile time; a target built
//! without it (soft-float) uses the portable kernels.

use core::arch::aarch64::*;
use core::arch::asm;

use crate::kernels::lane8::{lane8_kernels, Lane8};
use crate::kernels::{integer, IntConvFn, IntDenseFn};

/// Whether this CPU runs the kernels of this module.
#[inline]
pub(crate) fn available() -> bool {
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
pub(crate) struct Neon(float32x4_t, float32x4_t);

// SAFETY: every method needs NEON, which the entry points of `lane8`
// establish with `available()` before calling in.
unsafe impl Lane8 for Neon {
    // NEON is baseline on AArch64: plain Rust compiles to it (the dense
    // row as `SMLAL`, the blocked convolutions 16 channels at a time).
    const INT_DENSE: IntDenseFn = integer::portable::dense;
    const INT_CONV2D: IntConvFn = integer::blocked::conv2d;
    const INT_CONV_TRANSPOSE2D: IntConvFn = integer::blocked::conv_transpose2d;
    #[inline]
    fn available() -> bool {
        available()
    }
    lane8_kernels!("neon");
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
    unsafe fn or(self, bits: Self) -> Self {
        let or = |a: float32x4_t, b: float32x4_t| {
            vreinterpretq_f32_u32(vorrq_u32(
                vreinterpretq_u32_f32(a),
                vreinterpretq_u32_f32(b),
            ))
        };
        Neon(or(self.0, bits.0), or(self.1, bits.1))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        vst1q_f32(p, self.0);
        vst1q_f32(p.add(4), self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fcvtl` agrees with the reference conversion on every finite f16.
    #[test]
    fn f16_conversion_is_exact_for_every_finite_value() {
        assert!(available());
        crate::kernels::f16::assert_converts_every_finite_f16(8, |bytes, got| {
            // SAFETY: NEON is present; both buffers hold 8 elements.
            unsafe { Neon::load_f16(bytes.as_ptr()).store(got.as_mut_ptr()) }
        });
    }
}
