//! The Cortex-M4F/M7/M33F assembly (see the parent module for why it
//! exists and why it keeps the format's bits): f16 and f32 dense rows, the
//! taps of the transposed convolution, and an f16 column conversion. Built
//! for `cortex_m_fpu` targets only; everything here needs the FPU.

use crate::format::DType;
use crate::kernels::f16::f16_to_f32;
use crate::kernels::{dense_fits, Weights, LANES};

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
    // The sixteen accumulators s16-s31 set to +0.0 (r12 is scratch).
    ".macro microgan_zero16",
    "mov.w r12, #0",
    "vmov s16, s17, r12, r12",
    "vmov s18, s19, r12, r12",
    "vmov s20, s21, r12, r12",
    "vmov s22, s23, r12, r12",
    "vmov s24, s25, r12, r12",
    "vmov s26, s27, r12, r12",
    "vmov s28, s29, r12, r12",
    "vmov s30, s31, r12, r12",
    ".endm",
    // acc[0] + acc[1] + ... + acc[15] (s16-s31), left to right, into s0.
    ".macro microgan_sum16",
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
    "microgan_zero16",
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
    // The sum, returned in s0.
    "3:",
    "microgan_sum16",
    "vpop {{s16-s31}}",
    "pop {{r4-r7}}",
    "bx lr",
    ".size microgan_dense_f16_m4f, . - microgan_dense_f16_m4f",
    // float microgan_dense_f32_m4f(const f32 *w (r0, word-aligned),
    //                              const f32 *x (r1), usize chunks (r2, >= 1)):
    // the same with f32 weights, eight weights per VLDM.
    ".section .text.microgan_dense_f32_m4f,\"ax\",%progbits",
    ".global microgan_dense_f32_m4f",
    ".type microgan_dense_f32_m4f,%function",
    ".p2align 2",
    ".thumb_func",
    "microgan_dense_f32_m4f:",
    "vpush {{s16-s31}}",
    "microgan_zero16",
    "9:",
    "vldm r0!, {{s0-s7}}",
    "vldm r1!, {{s8-s15}}",
    "vmla.f32 s16, s0, s8",
    "vmla.f32 s17, s1, s9",
    "vmla.f32 s18, s2, s10",
    "vmla.f32 s19, s3, s11",
    "vmla.f32 s20, s4, s12",
    "vmla.f32 s21, s5, s13",
    "vmla.f32 s22, s6, s14",
    "vmla.f32 s23, s7, s15",
    "vldm r0!, {{s0-s7}}",
    "vldm r1!, {{s8-s15}}",
    "vmla.f32 s24, s0, s8",
    "vmla.f32 s25, s1, s9",
    "vmla.f32 s26, s2, s10",
    "vmla.f32 s27, s3, s11",
    "vmla.f32 s28, s4, s12",
    "vmla.f32 s29, s5, s13",
    "vmla.f32 s30, s6, s14",
    "vmla.f32 s31, s7, s15",
    "subs r2, r2, #1",
    "bne 9b",
    "microgan_sum16",
    "vpop {{s16-s31}}",
    "bx lr",
    ".size microgan_dense_f32_m4f, . - microgan_dense_f32_m4f",
    ".purgem microgan_macs8",
    ".purgem microgan_zero16",
    ".purgem microgan_sum16",
    // void microgan_tap8_m4f(const f32 w[8] (r0), const usize tap[7] (r1)):
    // tap = acc address, x address, cols, rows, acc column step, acc row
    // step, x row step (bytes). For every pixel: acc[0..8] += w[0..8] * x,
    // each product rounded (VMLA), in lane order.
    ".section .text.microgan_tap8_m4f,\"ax\",%progbits",
    ".global microgan_tap8_m4f",
    ".type microgan_tap8_m4f,%function",
    ".p2align 2",
    ".thumb_func",
    "microgan_tap8_m4f:",
    "push {{r4-r9}}",
    "vpush {{s16}}",
    "vldm r0, {{s0-s7}}",
    "ldm r1, {{r2-r8}}",
    "4:",
    "mov r9, r4",
    "mov r0, r2",
    "mov r12, r3",
    "5:",
    "vldmia r12!, {{s16}}",
    "vldm r0, {{s8-s15}}",
    "vmla.f32 s8, s0, s16",
    "vmla.f32 s9, s1, s16",
    "vmla.f32 s10, s2, s16",
    "vmla.f32 s11, s3, s16",
    "vmla.f32 s12, s4, s16",
    "vmla.f32 s13, s5, s16",
    "vmla.f32 s14, s6, s16",
    "vmla.f32 s15, s7, s16",
    "vstm r0, {{s8-s15}}",
    "add r0, r0, r6",
    "subs r9, r9, #1",
    "bne 5b",
    "add r2, r2, r7",
    "add r3, r3, r8",
    "subs r5, r5, #1",
    "bne 4b",
    "vpop {{s16}}",
    "pop {{r4-r9}}",
    "bx lr",
    ".size microgan_tap8_m4f, . - microgan_tap8_m4f",
    // void microgan_tap1_m4f(const f32 *w (r0), const usize tap[7] (r1)):
    // the same walk with one channel: acc += w * x for every pixel.
    ".section .text.microgan_tap1_m4f,\"ax\",%progbits",
    ".global microgan_tap1_m4f",
    ".type microgan_tap1_m4f,%function",
    ".p2align 2",
    ".thumb_func",
    "microgan_tap1_m4f:",
    "push {{r4-r9}}",
    "vldr s0, [r0]",
    "ldm r1, {{r2-r8}}",
    "7:",
    "mov r9, r4",
    "mov r0, r2",
    "mov r12, r3",
    "8:",
    "vldmia r12!, {{s1}}",
    "vldr s2, [r0]",
    "vmla.f32 s2, s0, s1",
    "vstr s2, [r0]",
    "add r0, r0, r6",
    "subs r9, r9, #1",
    "bne 8b",
    "add r2, r2, r7",
    "add r3, r3, r8",
    "subs r5, r5, #1",
    "bne 7b",
    "pop {{r4-r9}}",
    "bx lr",
    ".size microgan_tap1_m4f, . - microgan_tap1_m4f",
    // void microgan_f16_column_m4f(const u8 *src (r0), f32 *dst (r1),
    //                              usize n (r2, >= 1), usize dst_step (r3, bytes)):
    // n consecutive f16 values, converted exactly, stored dst_step apart.
    ".section .text.microgan_f16_column_m4f,\"ax\",%progbits",
    ".global microgan_f16_column_m4f",
    ".type microgan_f16_column_m4f,%function",
    ".p2align 2",
    ".thumb_func",
    "microgan_f16_column_m4f:",
    "6:",
    "ldrh r12, [r0], #2",
    "vmov s0, r12",
    "vcvtb.f32.f16 s0, s0",
    "vstr s0, [r1]",
    "add r1, r1, r3",
    "subs r2, r2, #1",
    "bne 6b",
    "bx lr",
    ".size microgan_f16_column_m4f, . - microgan_f16_column_m4f",
    ".text",
);

extern "C" {
    /// The left-to-right sum of the 16 lane accumulators of one dense row:
    /// `chunks * 16` f16 weights from `w` (any alignment: unaligned rows take `LDR`) times
    /// as many f32 activations from `x`. `chunks` must be at least 1.
    fn microgan_dense_f16_m4f(w: *const u8, x: *const f32, chunks: usize) -> f32;
    /// The same for f32 weights; `w` must be word-aligned.
    fn microgan_dense_f32_m4f(w: *const u8, x: *const f32, chunks: usize) -> f32;
    /// One tap of [`conv_transpose2d`] (see [`Tap`]; `tap` holds its fields
    /// as byte addresses and byte steps).
    pub(super) fn microgan_tap8_m4f(w: *const f32, tap: *const usize);
    /// The one-channel tap (see [`Tap`]).
    pub(super) fn microgan_tap1_m4f(w: *const f32, tap: *const usize);
    /// `n >= 1` f16 values from `src` to f32s `dst_step` bytes apart.
    pub(super) fn microgan_f16_column_m4f(src: *const u8, dst: *mut f32, n: usize, dst_step: usize);
}

/// Dense layer on the FPU. Returns `false` (and does nothing) for what it
/// does not handle: f32 weights that are not word-aligned, fewer than 16
/// inputs, or buffers that do not fit; the caller then uses the portable
/// kernel.
pub(super) fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) -> bool {
    // VLDM needs word-aligned f32 weights (rows of 4 n bytes then all are).
    let aligned = w.dtype() == DType::F16 || (w.bytes().as_ptr() as usize).is_multiple_of(4);
    if !aligned || x.len() < LANES || !dense_fits(&w, &b, x.len(), y.len()) {
        return false;
    }
    match w.dtype() {
        DType::F16 => fpu_rows::<2>(w.bytes(), b, x, y, microgan_dense_f16_m4f, |e| {
            f16_to_f32(u16::from_le_bytes([e[0], e[1]]))
        }),
        DType::F32 => fpu_rows::<4>(w.bytes(), b, x, y, microgan_dense_f32_m4f, |e| {
            f32::from_le_bytes([e[0], e[1], e[2], e[3]])
        }),
        // Integer weights: `dense_fits` rejected them.
        DType::I8 | DType::I16 | DType::I32 => return false,
    }
    true
}

/// [`dense`] for weights of `SIZE` bytes: `routine` sums the full chunks of
/// a row, `elem` reads one tail weight.
fn fpu_rows<const SIZE: usize>(
    w: &[u8],
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    routine: unsafe extern "C" fn(*const u8, *const f32, usize) -> f32,
    elem: impl Fn(&[u8; SIZE]) -> f32,
) {
    let chunks = x.len() / LANES;
    let full = chunks * LANES;
    let (x_full, x_tail) = x.split_at(full);
    for ((o, out), row) in y.iter_mut().enumerate().zip(w.chunks_exact(SIZE * x.len())) {
        let (row_full, row_tail) = row.split_at(SIZE * full);
        // SAFETY: `row_full` holds `chunks * 16` weights of `SIZE` bytes
        // and `x_full` as many f32s, `chunks >= 1` ([`dense`] checked
        // `x.len() >= 16`); the routines read exactly those, with load
        // forms that the pointer alignment allows (checked in [`dense`] for
        // f32 weights, at run time inside the f16 routine; `x` is an f32
        // slice, so word-aligned), and touch no other memory. They follow
        // the AAPCS-VFP calling convention (callee-saved r4-r7 and s16-s31
        // are saved and restored).
        let mut s = unsafe { routine(row_full.as_ptr(), x_full.as_ptr(), chunks) };
        for (e, xv) in row_tail.chunks_exact(SIZE).zip(x_tail) {
            if let Ok(e) = <&[u8; SIZE]>::try_from(e) {
                s += elem(e) * xv;
            }
        }
        *out = s + b.at(o);
    }
}
