//! Kernels for Cortex-M cores (the `cortex_m` targets of `build.rs`).
//!
//! - With a single-precision FPU (`cortex_m_fpu`: bare-metal,
//!   little-endian `eabihf` targets, thumbv7em-none-eabihf for the
//!   Cortex-M4F/M7, thumbv8m.main-none-eabihf for the M33F; the FPU must
//!   have the half-precision conversions, as VFPv4 and later do), [`M4F`]:
//!   f16 dense rows and the taps of transposed convolutions run in assembly
//!   (module `m4f`) where the compiler cannot reach the hardware.
//! - Without an FPU (`cortex_m_soft`: thumbv6m-none-eabi, the Cortex-M0+),
//!   [`M0PLUS`]: a dense kernel that trades unrolling for flash (module
//!   `m0plus`).
//!
//! Their integer kernels (version-2 files): dense rows and the stride-2
//! transposed convolution of DCGAN generators (module `stride2`) in
//! assembly, on `SMLAD`/`SMLADX` on the M4F and M33 (modules `m4f_int`,
//! `m4f_int_asm`, `dsp`; only where `cortex_m_dsp` says the core has the
//! DSP extension, else their Rust stand-ins) and on `MULS` with the weights
//! in high registers on the M0+ (`m0plus_int`, `m0plus_int_asm`), with a
//! cheaper requantisation (`requant`); other integer convolutions are the
//! portable ones.
//!
//! Both sets are built on every target, so that the property test holds
//! them to the plain kernels on the host: there the assembly cannot run,
//! and the Rust it stands beside takes its place (the portable dense
//! kernel for the assembly rows, Rust loops for the tap routines of
//! `conv_transpose` and for the integer routines). Everything else is the
//! code the cores run.
//!
//! # Why assembly, and why it stays bit-identical
//!
//! The FPU converts f16 to f32 in one instruction (`VCVTB`/`VCVTT`, bottom
//! and top half of a register), but Rust cannot name the FP registers in
//! `asm!` on this target without an unstable target feature, and LLVM never
//! emits the conversion for `half`'s software path. A whole dense row is
//! therefore one assembly routine: a 32-bit load brings two f16 weights,
//! `VCVTB` and `VCVTT` widen them exactly (every finite f16 is an f32; the
//! loader rejects infinities and NaNs), and `VMLA.F32` accumulates. `VMLA` on
//! this FPU is *not* fused: it rounds the product to f32 and then adds it,
//! exactly like `acc += w * x` (ARMv7-M ARM, A7.7.233), so it keeps the
//! format's arithmetic. (`VFMA` would round once and is never used.)
//!
//! The summation order is the format's (see the parent module): lanes
//! `acc[i % 16]` over the full 16-element chunks in increasing order, then
//! `acc[0] + acc[1] + ... + acc[15]` left to right, then the tail, then the
//! bias. The routine returns the left-to-right lane sum; the tail and bias
//! are added here in Rust.
//!
//! Instructions per multiply-accumulate (QEMU, counted around a generation;
//! see `docs/microcontrollers.md`): a 16-element chunk takes 2 `VLDM`s of
//! weights (or 8 `LDR`s and 4 `VMOV`s when the row is not word-aligned),
//! 2 `VLDM`s of activations, 16 conversions, 16 `VMLA`s and a 2-instruction
//! loop: 2.4 (aligned) to 3.1 per MAC, plus about 40 per row.

mod conv_transpose;
mod dsp;
mod m0plus;
mod m0plus_int;
#[cfg(cortex_m_soft)]
mod m0plus_int_asm;
#[cfg(cortex_m_fpu)]
mod m4f;
mod m4f_int;
#[cfg(cortex_m_dsp)]
mod m4f_int_asm;
mod requant;
mod stride2;

use super::{integer, portable, ConvGeom, KernelSet, Weights};

/// The Cortex-M4F kernels (on other targets, their host stand-ins).
pub const M4F: KernelSet = KernelSet {
    name: "Cortex-M4F",
    dense: m4f_dense,
    conv2d: portable::conv2d,
    conv_transpose2d: m4f_conv_transpose,
    int_dense: m4f_int::dense,
    int_conv2d: integer::portable::conv2d,
    int_conv_transpose2d: m4f_int::conv_transpose2d,
};

/// The Cortex-M0+ kernels.
pub const M0PLUS: KernelSet = KernelSet {
    name: "Cortex-M0+",
    dense: m0plus::dense_compact,
    conv2d: portable::conv2d,
    conv_transpose2d: portable::conv_transpose2d,
    int_dense: m0plus_int::dense,
    int_conv2d: integer::portable::conv2d,
    int_conv_transpose2d: m0plus_int::conv_transpose2d,
};

/// Dense layer: the assembly rows on a `cortex_m_fpu` target where they
/// apply, else the portable kernel (always, on other targets).
#[inline]
fn m4f_dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    #[cfg(cortex_m_fpu)]
    if m4f::dense(w, b, x, y) {
        return;
    }
    portable::dense(w, b, x, y)
}

/// `conv_transpose2d`: eight channels per pixel where the geometry suits
/// it, else the portable kernel.
#[inline]
fn m4f_conv_transpose(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if conv_transpose::run(w, b, g, x, y) {
        return;
    }
    portable::conv_transpose2d(w, b, g, x, y)
}

/// The set this target runs.
#[cfg(cortex_m)]
#[inline]
pub(crate) fn fastest() -> KernelSet {
    #[cfg(cortex_m_fpu)]
    return M4F;
    #[cfg(cortex_m_soft)]
    return M0PLUS;
    #[cfg(not(any(cortex_m_fpu, cortex_m_soft)))]
    super::PORTABLE
}

/// A fixed linear congruential generator for the tests (a failure
/// reproduces): each call `next(n)` gives a value in `0..n`.
#[cfg(test)]
fn lcg(mut seed: u32) -> impl FnMut(u32) -> u32 {
    move |n| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) % n
    }
}
