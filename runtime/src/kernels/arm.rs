//! Kernels for Cortex-M cores with a single-precision FPU (thumbv7em-none-eabihf:
//! Cortex-M4F/M7; thumbv8m.main-none-eabihf: Cortex-M33F), in assembly where
//! the compiler cannot reach the hardware.
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

use super::{dense_fits, Weights, LANES};
use crate::format::DType;

core::arch::global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    // Eight MACs: weights packed two per register in s0-s3, activations in
    // s4-s11, accumulators a0..a7. Each pair converts the top half into a
    // scratch register first, then the bottom half in place.
    ".macro microgan_macs8 a0, a1, a2, a3, a4, a5, a6, a7",
    "vcvtt.f32.f16 s12, s0",
    "vcvtb.f32.f16 s0, s0",
    "vmla.f32 \\a0, s0, s4",
    "vmla.f32 \\a1, s12, s5",
    "vcvtt.f32.f16 s13, s1",
    "vcvtb.f32.f16 s1, s1",
    "vmla.f32 \\a2, s1, s6",
    "vmla.f32 \\a3, s13, s7",
    "vcvtt.f32.f16 s14, s2",
    "vcvtb.f32.f16 s2, s2",
    "vmla.f32 \\a4, s2, s8",
    "vmla.f32 \\a5, s14, s9",
    "vcvtt.f32.f16 s15, s3",
    "vcvtb.f32.f16 s3, s3",
    "vmla.f32 \\a6, s3, s10",
    "vmla.f32 \\a7, s15, s11",
    ".endm",
    ".section .text.microgan_dense_f16_m4f,\"ax\",%progbits",
    ".global microgan_dense_f16_m4f",
    ".type microgan_dense_f16_m4f,%function",
    ".p2align 2",
    ".thumb_func",
    // float microgan_dense_f16_m4f(const u8 *w (r0), const f32 *x (r1),
    //                              usize chunks (r2, >= 1))
    "microgan_dense_f16_m4f:",
    "push {{r4-r7}}",
    "vpush {{s16-s31}}",
    "mov.w r12, #0",
    "vmov s16, s17, r12, r12",
    "vmov s18, s19, r12, r12",
    "vmov s20, s21, r12, r12",
    "vmov s22, s23, r12, r12",
    "vmov s24, s25, r12, r12",
    "vmov s26, s27, r12, r12",
    "vmov s28, s29, r12, r12",
    "vmov s30, s31, r12, r12",
    "tst r0, #3",
    "bne 2f",
    // Word-aligned weights: VLDM straight into the FP registers.
    "1:",
    "vldm r0!, {{s0-s3}}",
    "vldm r1!, {{s4-s11}}",
    "microgan_macs8 s16, s17, s18, s19, s20, s21, s22, s23",
    "vldm r0!, {{s0-s3}}",
    "vldm r1!, {{s4-s11}}",
    "microgan_macs8 s24, s25, s26, s27, s28, s29, s30, s31",
    "subs r2, r2, #1",
    "bne 1b",
    "b 3f",
    // Halfword-aligned weights: LDR allows unaligned addresses, VLDM does not.
    "2:",
    "ldr r4, [r0]",
    "ldr r5, [r0, #4]",
    "ldr r6, [r0, #8]",
    "ldr r7, [r0, #12]",
    "vmov s0, s1, r4, r5",
    "vmov s2, s3, r6, r7",
    "vldm r1!, {{s4-s11}}",
    "microgan_macs8 s16, s17, s18, s19, s20, s21, s22, s23",
    "ldr r4, [r0, #16]",
    "ldr r5, [r0, #20]",
    "ldr r6, [r0, #24]",
    "ldr r7, [r0, #28]",
    "adds r0, r0, #32",
    "vmov s0, s1, r4, r5",
    "vmov s2, s3, r6, r7",
    "vldm r1!, {{s4-s11}}",
    "microgan_macs8 s24, s25, s26, s27, s28, s29, s30, s31",
    "subs r2, r2, #1",
    "bne 2b",
    // acc[0] + acc[1] + ... + acc[15], left to right, returned in s0.
    "3:",
    "vadd.f32 s0, s16, s17",
    "vadd.f32 s0, s0, s18",
    "vadd.f32 s0, s0, s19",
    "vadd.f32 s0, s0, s20",
    "vadd.f32 s0, s0, s21",
    "vadd.f32 s0, s0, s22",
    "vadd.f32 s0, s0, s23",
    "vadd.f32 s0, s0, s24",
    "vadd.f32 s0, s0, s25",
    "vadd.f32 s0, s0, s26",
    "vadd.f32 s0, s0, s27",
    "vadd.f32 s0, s0, s28",
    "vadd.f32 s0, s0, s29",
    "vadd.f32 s0, s0, s30",
    "vadd.f32 s0, s0, s31",
    "vpop {{s16-s31}}",
    "pop {{r4-r7}}",
    "bx lr",
    ".size microgan_dense_f16_m4f, . - microgan_dense_f16_m4f",
    ".purgem microgan_macs8",
    ".text",
);

extern "C" {
    /// The left-to-right sum of the 16 lane accumulators of one dense row:
    /// `chunks * 16` f16 weights from `w` (any alignment: unaligned rows take `LDR`) times
    /// as many f32 activations from `x`. `chunks` must be at least 1.
    fn microgan_dense_f16_m4f(w: *const u8, x: *const f32, chunks: usize) -> f32;
}

/// Dense layer with f16 weights on the FPU. Returns `false` (and does
/// nothing) for what it does not handle: f32 weights, fewer than 16 inputs,
/// or buffers that do not fit; the caller then uses the portable kernel.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) -> bool {
    let n = x.len();
    let chunks = n / LANES;
    if w.dtype() != DType::F16 || chunks == 0 || !dense_fits(&w, &b, n, y.len()) {
        return false;
    }
    let full = chunks * LANES;
    let (x_full, x_tail) = x.split_at(full);
    let row_bytes = 2 * n;
    for ((o, out), row) in y
        .iter_mut()
        .enumerate()
        .zip(w.bytes().chunks_exact(row_bytes))
    {
        let (row_full, row_tail) = row.split_at(2 * full);
        // SAFETY: `row_full` holds `chunks * 16` f16 weights (2 bytes each)
        // and `x_full` as many f32s; the routine reads exactly those, with
        // LDR/VLDM forms that the checked pointer alignment allows (`x` is
        // an f32 slice, so word-aligned), and touches no other memory. It
        // follows the AAPCS-VFP calling convention (callee-saved r4-r7 and
        // s16-s31 are saved and restored).
        let mut s = unsafe { microgan_dense_f16_m4f(row_full.as_ptr(), x_full.as_ptr(), chunks) };
        for (wb, xv) in row_tail.chunks_exact(2).zip(x_tail) {
            s += super::fast::f16_to_f32(u16::from_le_bytes([wb[0], wb[1]])) * xv;
        }
        *out = s + b.at(o);
    }
    true
}
