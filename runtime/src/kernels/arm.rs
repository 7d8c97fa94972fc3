//! Kernels for Cortex-M cores. With a single-precision FPU (bare-metal,
//! little-endian `eabihf` targets: thumbv7em-none-eabihf for the
//! Cortex-M4F/M7, thumbv8m.main-none-eabihf for the M33F; the FPU must have
//! the half-precision conversions, as VFPv4 and later do), f16 dense rows
//! and the taps of transposed convolutions run in assembly where the
//! compiler cannot reach the hardware. Without an FPU (thumbv6m-none-eabi),
//! [`dense_compact`] trades unrolling for flash. The Rust parts are
//! portable and tested on the host against the plain kernels.
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

use super::{conv_fits, ConvGeom, Weights};
#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
use super::{dense_fits, LANES};
#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
use crate::format::DType;

#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
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
    "mov.w r12, #0",
    "vmov s16, s17, r12, r12",
    "vmov s18, s19, r12, r12",
    "vmov s20, s21, r12, r12",
    "vmov s22, s23, r12, r12",
    "vmov s24, s25, r12, r12",
    "vmov s26, s27, r12, r12",
    "vmov s28, s29, r12, r12",
    "vmov s30, s31, r12, r12",
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
    "bx lr",
    ".size microgan_dense_f32_m4f, . - microgan_dense_f32_m4f",
    ".purgem microgan_macs8",
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

#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
extern "C" {
    /// The left-to-right sum of the 16 lane accumulators of one dense row:
    /// `chunks * 16` f16 weights from `w` (any alignment: unaligned rows take `LDR`) times
    /// as many f32 activations from `x`. `chunks` must be at least 1.
    fn microgan_dense_f16_m4f(w: *const u8, x: *const f32, chunks: usize) -> f32;
    /// The same for f32 weights; `w` must be word-aligned.
    fn microgan_dense_f32_m4f(w: *const u8, x: *const f32, chunks: usize) -> f32;
    /// One tap of [`conv_transpose2d`] (see [`Tap`]; `tap` holds its fields
    /// as byte addresses and byte steps).
    fn microgan_tap8_m4f(w: *const f32, tap: *const usize);
    /// The one-channel tap (see [`Tap`]).
    fn microgan_tap1_m4f(w: *const f32, tap: *const usize);
    /// `n >= 1` f16 values from `src` to f32s `dst_step` bytes apart.
    fn microgan_f16_column_m4f(src: *const u8, dst: *mut f32, n: usize, dst_step: usize);
}

/// Dense layer on the FPU. Returns `false` (and does nothing) for what it
/// does not handle: f32 weights that are not word-aligned, fewer than 16
/// inputs, or buffers that do not fit; the caller then uses the portable
/// kernel.
#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) -> bool {
    // VLDM needs word-aligned f32 weights (rows of 4 n bytes then all are).
    let aligned = w.dtype() == DType::F16 || (w.bytes().as_ptr() as usize).is_multiple_of(4);
    if !aligned || x.len() < LANES || !dense_fits(&w, &b, x.len(), y.len()) {
        return false;
    }
    match w.dtype() {
        DType::F16 => fpu_rows::<2>(w.bytes(), b, x, y, microgan_dense_f16_m4f, |e| {
            super::fast::f16_to_f32(u16::from_le_bytes([e[0], e[1]]))
        }),
        DType::F32 => fpu_rows::<4>(w.bytes(), b, x, y, microgan_dense_f32_m4f, |e| {
            f32::from_le_bytes([e[0], e[1], e[2], e[3]])
        }),
    }
    true
}

/// [`dense`] for weights of `SIZE` bytes: `routine` sums the full chunks of
/// a row, `elem` reads one tail weight.
#[cfg(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none",
    target_endian = "little"
))]
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

/// Dense layer for cores without an FPU (thumbv6m-none-eabi: Cortex-M0+).
/// There every multiply and add is a software routine of about a hundred
/// instructions, so unrolling and per-dtype copies of the loop (what the
/// portable kernel does for vector units) buy almost nothing and cost about
/// 2.5 KB of flash. This one walks each row once with its 16 partial sums in
/// the format's order and converts each weight on the fly (f16 exactly, in
/// the integer domain).
pub fn dense_compact(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !super::dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    match w.dtype() {
        crate::format::DType::F16 => dense_rows::<2>(w.bytes(), b, x, y, |e| {
            super::fast::f16_to_f32_integer(u16::from_le_bytes([e[0], e[1]]))
        }),
        crate::format::DType::F32 => dense_rows::<4>(w.bytes(), b, x, y, |e| {
            f32::from_le_bytes([e[0], e[1], e[2], e[3]])
        }),
    }
}

/// [`dense_compact`] for elements of `SIZE` bytes read by `elem`.
fn dense_rows<const SIZE: usize>(
    w: &[u8],
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    elem: impl Fn(&[u8; SIZE]) -> f32,
) {
    let n = x.len();
    let full = n - n % super::LANES;
    let (x_full, x_tail) = x.split_at(full);
    for (o, out) in y.iter_mut().enumerate() {
        let row = w.get(o * n * SIZE..(o + 1) * n * SIZE).unwrap_or(&[]);
        let (row_full, row_tail) = row.split_at(full * SIZE);
        let mut acc = [0.0f32; super::LANES];
        for (xc, wc) in x_full
            .chunks_exact(super::LANES)
            .zip(row_full.chunks_exact(super::LANES * SIZE))
        {
            for (a, (xv, e)) in acc.iter_mut().zip(xc.iter().zip(wc.chunks_exact(SIZE))) {
                if let Ok(e) = <&[u8; SIZE]>::try_from(e) {
                    *a += elem(e) * xv;
                }
            }
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s += *a;
        }
        for (xv, e) in x_tail.iter().zip(row_tail.chunks_exact(SIZE)) {
            if let Ok(e) = <&[u8; SIZE]>::try_from(e) {
                s += elem(e) * xv;
            }
        }
        *out = s + b.at(o);
    }
}

/// Output channels per accumulator vector in [`conv_transpose2d`].
const OC: usize = 8;
/// Largest `kernel * kernel` whose converted weights it keeps on the stack.
const MAX_TAPS: usize = 16;
/// Output pixels per accumulator tile (`OC * PIXELS * 4` = 4 KiB of stack).
const PIXELS: usize = 128;

/// `ConvTranspose2d` with 8 output channels per pixel accumulated
/// together, for cores with an FPU but no vector unit. For one input channel
/// the weights of 8 output channels are converted once into a
/// `[tap][channel]` block; then, for each kernel tap, the eight converted
/// weights stay in FP registers while the loop walks a row of input pixels,
/// loading each pixel's eight accumulators, applying eight multiply-adds and
/// storing them back. Loops run input channel, kernel row, kernel column
/// outermost, so every output adds its taps in the format's order.
///
/// Layers with fewer than 8 output channels run one channel at a time, each
/// tap streaming one weight over the pixels. Returns `false` (doing nothing)
/// when the layer does not suit it (a kernel over 4 x 4, rows over 128
/// pixels wide, or over 1,024 with fewer than 8 channels, buffers that do
/// not fit); the caller then uses the portable kernel.
/// Portable Rust: the host tests hold it to the plain kernel bit for bit.
pub fn conv_transpose2d(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) -> bool {
    if !conv_fits(&w, &b, g, x, y) || g.kernel * g.kernel > MAX_TAPS || g.out_w == 0 {
        return false;
    }
    if g.out_c >= OC {
        g.out_w <= PIXELS && conv_t::<OC, PIXELS>(w, b, g, x, y)
    } else {
        // One channel at a time (the last layer of an image generator has
        // one to three): the tap routine then streams a shared weight over
        // the pixels instead.
        g.out_w <= OC * PIXELS && conv_t::<1, { OC * PIXELS }>(w, b, g, x, y)
    }
}

/// [`conv_transpose2d`] with `L` channels per pixel and `P` pixels per tile.
fn conv_t<const L: usize, const P: usize>(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) -> bool {
    if g.out_c < L || g.out_w > P || g.out_w == 0 {
        return false;
    }
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let kk = k * k;
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let rows_per_tile = P / g.out_w;
    let mut acc = [[0.0f32; L]; P];
    let mut wt = [[0.0f32; L]; MAX_TAPS];
    let mut o0 = 0;
    while o0 < g.out_c {
        // The last block may overlap the previous one: recomputing a channel
        // gives the same bits.
        let ob = o0.min(g.out_c - L);
        for oy0 in (0..g.out_h).step_by(rows_per_tile) {
            let rn = rows_per_tile.min(g.out_h - oy0);
            let tile = acc.get_mut(..rn * g.out_w).unwrap_or(&mut []);
            let bias: [f32; L] = core::array::from_fn(|lane| b.at(ob + lane));
            tile.fill(bias);
            // The taps that reach this tile, in (ky, kx) order, with their
            // geometry: the same for every input channel.
            let mut taps = [(0, EMPTY_TAP); MAX_TAPS];
            let mut n_taps = 0;
            for ky in 0..k {
                // Input rows whose output row iy * s + ky - p is in the tile.
                let ys = valid(g.in_h, s, ky as isize - p as isize - oy0 as isize, rn);
                for kx in 0..k {
                    let xs = valid(g.in_w, s, kx as isize - p as isize, g.out_w);
                    if xs.is_empty() || ys.is_empty() {
                        continue;
                    }
                    let t = Tap {
                        acc: (ys.start * s + ky - p - oy0) * g.out_w + xs.start * s + kx - p,
                        x: ys.start * g.in_w + xs.start,
                        cols: xs.len(),
                        rows: ys.len(),
                        acc_col: s,
                        acc_row: s * g.out_w,
                        x_row: g.in_w,
                    };
                    if let Some(slot) = taps.get_mut(n_taps) {
                        *slot = (ky * k + kx, t);
                        n_taps += 1;
                    }
                }
            }
            let taps = taps.get(..n_taps).unwrap_or(&[]);
            for c in 0..g.in_c {
                for (lane, ch) in (ob..ob + L).enumerate() {
                    convert_column(&w, (c * g.out_c + ch) * kk, kk, &mut wt, lane);
                }
                let xc = x.get(c * plane_in..(c + 1) * plane_in).unwrap_or(&[]);
                for (i, t) in taps {
                    if let Some(wv) = wt.get(*i) {
                        apply_tap(wv, tile, xc, t);
                    }
                }
            }
            let p0 = oy0 * g.out_w;
            for (lane, ch) in (ob..ob + L).enumerate() {
                let start = ch * plane_out + p0;
                let dst = y.get_mut(start..start + tile.len()).unwrap_or(&mut []);
                for (d, a) in dst.iter_mut().zip(tile.iter()) {
                    *d = a[lane];
                }
            }
        }
        o0 += L;
    }
    true
}

/// One kernel tap over a block of the tile: for `rows` x `cols` input
/// pixels, starting at `x` and stepping 1 across and `x_row` down, the
/// accumulators at `acc`, stepping `acc_col` across and `acc_row` down,
/// each take `w[lane] * x` (all indices in elements of the slices).
/// `#[repr(C)]`: the assembly reads it as seven words.
#[repr(C)]
#[derive(Clone, Copy)]
struct Tap {
    acc: usize,
    x: usize,
    cols: usize,
    rows: usize,
    acc_col: usize,
    acc_row: usize,
    x_row: usize,
}

const EMPTY_TAP: Tap = Tap {
    acc: 0,
    x: 0,
    cols: 0,
    rows: 0,
    acc_col: 0,
    acc_row: 0,
    x_row: 0,
};

impl Tap {
    /// Whether every index it reaches lies inside the slices (and it has
    /// at least one pixel), so that the assembly stays in bounds.
    fn fits(&self, acc_len: usize, x_len: usize) -> bool {
        let last = |start: usize, col: usize, row: usize| {
            let c = (self.cols - 1).checked_mul(col)?;
            let r = (self.rows - 1).checked_mul(row)?;
            start.checked_add(c)?.checked_add(r)
        };
        self.cols > 0
            && self.rows > 0
            && last(self.acc, self.acc_col, self.acc_row).is_some_and(|i| i < acc_len)
            && last(self.x, 1, self.x_row).is_some_and(|i| i < x_len)
    }
}

/// Applies one tap (see [`Tap`]); does nothing if it does not fit.
fn apply_tap<const L: usize>(w: &[f32; L], acc: &mut [[f32; L]], x: &[f32], t: &Tap) {
    if !t.fits(acc.len(), x.len()) {
        return;
    }
    #[cfg(all(
        target_arch = "arm",
        target_abi = "eabihf",
        target_os = "none",
        target_endian = "little"
    ))]
    {
        let raw = [
            acc.as_mut_ptr() as usize + t.acc * 4 * L,
            x.as_ptr() as usize + t.x * 4,
            t.cols,
            t.rows,
            t.acc_col * 4 * L,
            t.acc_row * 4 * L,
            t.x_row * 4,
        ];
        // SAFETY: `fits` checked that every accumulator (`L` f32s) and
        // input the routine reaches lies inside `acc` and `x`, and that it
        // has at least one row and column; the routine for `L` lanes reads
        // `L` weights from `w`. `acc` is borrowed mutably, `x` and `w`
        // immutably, and they cannot overlap. The routines follow AAPCS-VFP
        // (r4-r9 and s16 saved and restored).
        match L {
            OC => unsafe { microgan_tap8_m4f(w.as_ptr(), raw.as_ptr()) },
            1 => unsafe { microgan_tap1_m4f(w.as_ptr(), raw.as_ptr()) },
            _ => {}
        }
    }
    #[cfg(not(all(
        target_arch = "arm",
        target_abi = "eabihf",
        target_os = "none",
        target_endian = "little"
    )))]
    {
        for r in 0..t.rows {
            let acc_row = acc.get_mut(t.acc + r * t.acc_row..).unwrap_or(&mut []);
            let x_row = x.get(t.x + r * t.x_row..).unwrap_or(&[]);
            for (a, &xv) in acc_row
                .iter_mut()
                .step_by(t.acc_col)
                .zip(x_row)
                .take(t.cols)
            {
                for (a, wv) in a.iter_mut().zip(w) {
                    *a += wv * xv;
                }
            }
        }
    }
}

/// Weights `base..base + kk` of `w` into `wt[0..kk][lane]` (a tensor too
/// short leaves zeros, which the loader's shape checks rule out).
fn convert_column<const L: usize>(
    w: &Weights<'_>,
    base: usize,
    kk: usize,
    wt: &mut [[f32; L]; MAX_TAPS],
    lane: usize,
) {
    #[cfg(all(
        target_arch = "arm",
        target_abi = "eabihf",
        target_os = "none",
        target_endian = "little"
    ))]
    if w.dtype() == crate::format::DType::F16 && kk > 0 && kk <= MAX_TAPS && lane < L {
        if let Some(src) = w.bytes().get(2 * base..2 * (base + kk)) {
            // SAFETY: `src` holds `kk` f16 values; the destinations
            // `wt[t][lane]` for `t < kk <= MAX_TAPS`, `lane < L`, lie
            // inside `wt`, `4 * L` bytes apart.
            unsafe {
                microgan_f16_column_m4f(
                    src.as_ptr(),
                    wt.as_mut_ptr().cast::<f32>().add(lane),
                    kk,
                    4 * L,
                )
            };
            return;
        }
    }
    for (t, row) in wt.iter_mut().take(kk).enumerate() {
        if let Some(v) = row.get_mut(lane) {
            *v = weight(w, base + t);
        }
    }
}

/// Element `i` of `w` (0.0 past the end), f16 with the branch-free exact
/// conversion rather than `half`'s slower software path.
#[inline(always)]
fn weight(w: &Weights<'_>, i: usize) -> f32 {
    match w.dtype() {
        crate::format::DType::F16 => {
            let b = w.bytes().get(2 * i..2 * i + 2).unwrap_or(&[]);
            match *b {
                [lo, hi] => super::fast::f16_to_f32(u16::from_le_bytes([lo, hi])),
                _ => 0.0,
            }
        }
        crate::format::DType::F32 => w.at(i),
    }
}

/// Indices `t` in `0..n` for which `t * stride + offset` lands in `0..len`.
fn valid(n: usize, stride: usize, offset: isize, len: usize) -> core::ops::Range<usize> {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let hi = if (len as isize) > offset {
        ((len as isize - offset + s - 1) / s).min(n as isize)
    } else {
        0
    };
    let lo = lo.min(n as isize) as usize;
    lo..(hi.max(lo as isize) as usize)
}

#[cfg(test)]
mod tests {
    use super::super::plain;
    use super::*;
    use crate::format::DType;

    #[test]
    fn dense_compact_equals_plain() {
        let mut seed = 99u32;
        let mut next = |n: u32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) % n
        };
        for case in 0..200 {
            let (n_in, n_out) = (next(70) as usize, 1 + next(9) as usize);
            let dtype = if case % 2 == 0 {
                DType::F16
            } else {
                DType::F32
            };
            let mut val = || match next(8) {
                0 => -0.0,
                _ => (next(2000) as f32 - 1000.0) * 0.01,
            };
            let mut elems = |n: usize| -> Vec<u8> {
                (0..n)
                    .flat_map(|_| match dtype {
                        DType::F16 => half::f16::from_f32(val()).to_le_bytes().to_vec(),
                        DType::F32 => val().to_le_bytes().to_vec(),
                    })
                    .collect()
            };
            let (wb, bb) = (elems(n_in * n_out), elems(n_out));
            let x: Vec<f32> = (0..n_in)
                .map(|_| (next(2000) as f32 - 1000.0) * 0.003)
                .collect();
            let (wt, bt) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
            let (mut want, mut got) = (vec![f32::NAN; n_out], vec![f32::NAN; n_out]);
            plain::dense(wt, bt, &x, &mut want);
            dense_compact(wt, bt, &x, &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{n_in} -> {n_out} {dtype:?}");
        }
    }

    /// Random shapes and values (a fixed LCG, so failures reproduce):
    /// bit for bit the plain kernel's outputs, F16 and F32 weights, with
    /// negative zeros among the biases and activations.
    #[test]
    fn conv_transpose2d_equals_plain() {
        let mut seed = 12345u32;
        let mut next = |n: u32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) % n
        };
        let mut checked = 0;
        for case in 0..300 {
            let k = 1 + next(4) as usize;
            let s = 1 + next(3) as usize;
            let p = next(k as u32) as usize;
            let (in_c, out_c) = (1 + next(4) as usize, 1 + next(20) as usize);
            let (in_h, in_w) = (1 + next(9) as usize, 1 + next(9) as usize);
            let (Some(oh), Some(ow)) = (
                ((in_h - 1) * s + k).checked_sub(2 * p),
                ((in_w - 1) * s + k).checked_sub(2 * p),
            ) else {
                continue;
            };
            if oh == 0 || ow == 0 {
                continue;
            }
            let g = ConvGeom {
                in_c,
                in_h,
                in_w,
                out_c,
                out_h: oh,
                out_w: ow,
                kernel: k,
                stride: s,
                padding: p,
            };
            let dtype = if case % 2 == 0 {
                DType::F16
            } else {
                DType::F32
            };
            let mut val = |i: usize| match next(8) {
                0 => -0.0,
                _ => (next(2000) as f32 - 1000.0) * 0.001 * (1.0 + i as f32 * 1e-3),
            };
            let elems = |n: usize, val: &mut dyn FnMut(usize) -> f32| -> Vec<u8> {
                (0..n)
                    .flat_map(|i| {
                        let v = val(i);
                        match dtype {
                            DType::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
                            DType::F32 => v.to_le_bytes().to_vec(),
                        }
                    })
                    .collect()
            };
            let wb = elems(in_c * out_c * k * k, &mut val);
            let bb = elems(out_c, &mut val);
            let x: Vec<f32> = (0..in_c * in_h * in_w).map(&mut val).collect();
            let (wt, bt) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
            let n = out_c * oh * ow;
            let (mut want, mut got) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            plain::conv_transpose2d(wt, bt, &g, &x, &mut want);
            let used = conv_transpose2d(wt, bt, &g, &x, &mut got);
            assert_eq!(used, k * k <= MAX_TAPS && ow <= PIXELS, "{g:?}");
            if used {
                checked += 1;
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{g:?}");
            }
        }
        assert!(checked > 50, "only {checked} cases exercised the kernel");
    }
}
