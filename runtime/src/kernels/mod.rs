//! Arithmetic kernels over `&[f32]` activations and stored weights.
//!
//! # Summation order (part of the format's arithmetic)
//!
//! Every kernel computes in f32, rounds each product to f32 before adding it
//! (never a fused multiply-add) and adds in exactly this order, so that every
//! target produces bit-identical outputs:
//!
//! - `dense`, output `o` with `n` inputs: [`LANES`] = 16 partial sums
//!   `acc[0..16]`, all starting at `+0.0`. For `i` in `0..n - n % 16`, in
//!   increasing order, `acc[i % 16] += w[o, i] * x[i]`. Then
//!   `s = acc[0]; s += acc[1]; ...; s += acc[15]` (left to right), then for
//!   the tail `i` in `n - n % 16..n`, in increasing order, `s += w[o, i] * x[i]`,
//!   and finally `y[o] = s + bias[o]`.
//! - `conv2d` and `conv_transpose2d`, output `(o, y, x)`: `s = bias[o]`, then
//!   for input channel `c`, kernel row `ky`, kernel column `kx`, each in
//!   increasing order (outermost first), if the tap lands inside the input,
//!   `s += w[..] * input[c, iy, ix]`; taps in the padding are skipped, not
//!   added as zeros. For `conv2d` `iy = y * stride + ky - padding`; for
//!   `conv_transpose2d` the tap exists when `y + padding - ky` is a
//!   non-negative multiple of `stride` and `iy = (y + padding - ky) / stride`
//!   (likewise for `x`).
//! - Element-wise layers use `libm` (`tanhf`, `expf`), which is the same code
//!   on every target, never the platform's math library. (On x86-64 and
//!   AArch64 `tanh` runs a vectorised form of `libm::tanhf` that gives the
//!   same bits; module `tanh`.)
//!
//! The fast kernels (module `fast`, portable; `x86` with AVX2 + F16C;
//! `avx512` with AVX-512 F/BW/VL; `neon` on AArch64) reorder loops across
//! outputs, rows and tiles, and the vector ones run across outputs (8 or 16
//! output channels or pixels per vector) or across the 16 partial sums,
//! but every single output keeps this order; a property test checks each of
//! them against the plain ones bit for bit.
//!
//! # Selection
//!
//! [`dense`], [`conv2d`] and [`conv_transpose2d`] pick the fastest kernel
//! the target has: chosen at compile time from `target_arch` and
//! `target_feature`, and on x86-64 without AVX-512 (or AVX2/F16C) enabled
//! at compile time by run-time detection under the `std` feature (so a
//! plain `cargo build --release` runs the AVX-512 kernels on a CPU that has
//! them, else the AVX2 ones). The plain kernels are always available.

// Cortex-M with an FPU: f16 dense rows in assembly, transposed convolutions
// eight channels at a time (see `arm`; the portable part is tested on hosts).
pub mod arm;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod fast;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod plain;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod simd;
// Targets without vector units call `libm` directly.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod tanh;
#[cfg(target_arch = "x86_64")]
pub mod x86;

use crate::format::DType;

/// Width of the dense kernel's partial sums (fixed by the format).
pub const LANES: usize = 16;

/// A stored tensor's elements, read from the file bytes in place. The bytes
/// may sit at any alignment, so elements are assembled from bytes.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    bytes: &'a [u8],
    dtype: DType,
}

impl<'a> Weights<'a> {
    /// Views `bytes` as little-endian elements of `dtype` (a trailing partial
    /// element is ignored).
    pub fn new(bytes: &'a [u8], dtype: DType) -> Self {
        Weights { bytes, dtype }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Element count.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as f32 (exact for F16); 0.0 past the end, which the
    /// loader's shape checks rule out.
    #[inline]
    pub fn at(&self, i: usize) -> f32 {
        let size = self.dtype.size();
        let bytes = i
            .checked_mul(size)
            .and_then(|b| self.bytes.get(b..b.checked_add(size)?));
        match bytes {
            Some(&[a, b]) => half::f16::from_bits(u16::from_le_bytes([a, b])).to_f32(),
            Some(&[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        }
    }

    /// Elements `start..start + len` as a sub-view (empty when out of range).
    pub fn slice(&self, start: usize, len: usize) -> Weights<'a> {
        let size = self.dtype.size();
        let bytes = start
            .checked_mul(size)
            .and_then(|b| Some((b, b.checked_add(len.checked_mul(size)?)?)))
            .and_then(|(b, e)| self.bytes.get(b..e))
            .unwrap_or(&[]);
        Weights {
            bytes,
            dtype: self.dtype,
        }
    }

    /// The index of the first element that is NaN or infinite.
    pub fn first_non_finite(&self) -> Option<usize> {
        match self.dtype {
            DType::F16 => self
                .bytes
                .chunks_exact(2)
                .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
            DType::F32 => self.bytes.chunks_exact(4).position(|b| {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000
            }),
        }
    }
}

/// Geometry of a convolution: input `[in_c, in_h, in_w]`, output
/// `[out_c, out_h, out_w]`, square kernel, same stride and padding on both
/// axes. `output_padding` only enters through `out_h`/`out_w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Whether the buffers hold what a dense layer reads and writes; kernels do
/// nothing otherwise (the loader guarantees it, so this never triggers
/// inside `generate`, but the kernels are public and must not panic).
pub fn dense_fits(w: &Weights<'_>, b: &Weights<'_>, n_in: usize, n_out: usize) -> bool {
    n_in.checked_mul(n_out).is_some_and(|n| w.len() >= n) && b.len() >= n_out
}

/// Like [`dense_fits`] for a convolution (either kind: both weights hold
/// `in_c * out_c * k * k` elements).
pub fn conv_fits(w: &Weights<'_>, b: &Weights<'_>, g: &ConvGeom, x: &[f32], y: &[f32]) -> bool {
    let wl = g
        .in_c
        .checked_mul(g.out_c)
        .and_then(|n| n.checked_mul(g.kernel))
        .and_then(|n| n.checked_mul(g.kernel));
    let il = g
        .in_c
        .checked_mul(g.in_h)
        .and_then(|n| n.checked_mul(g.in_w));
    let ol = g
        .out_c
        .checked_mul(g.out_h)
        .and_then(|n| n.checked_mul(g.out_w));
    // Index arithmetic in the kernels stays below this bound.
    let reach = g
        .out_h
        .max(g.out_w)
        .max(g.in_h)
        .max(g.in_w)
        .checked_mul(g.stride)
        .and_then(|n| n.checked_add(g.kernel))
        .and_then(|n| n.checked_add(g.padding));
    g.stride > 0
        && reach.is_some()
        && wl.is_some_and(|n| w.len() >= n)
        && b.len() >= g.out_c
        && il.is_some_and(|n| x.len() >= n)
        && ol.is_some_and(|n| y.len() >= n)
}

/// `max(x, 0)`, with NaN mapped to 0.
pub fn relu(x: &mut [f32]) {
    for v in x {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

pub fn leaky_relu(x: &mut [f32], slope: f32) {
    for v in x {
        *v = if *v >= 0.0 { *v } else { *v * slope };
    }
}

/// `libm::tanhf` of every value (vectorised where the target has vectors;
/// see `tanh`).
pub fn tanh(x: &mut [f32]) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    tanh::slice(x);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    for v in x {
        *v = libm::tanhf(*v);
    }
}

pub fn sigmoid(x: &mut [f32]) {
    for v in x {
        *v = 1.0 / (1.0 + libm::expf(-*v));
    }
}

/// Nearest-neighbour upsampling of `[c, h, w]` by `scale`.
pub fn upsample_nearest(x: &[f32], c: usize, h: usize, w: usize, scale: usize, y: &mut [f32]) {
    let (Some(oh), Some(ow)) = (h.checked_mul(scale), w.checked_mul(scale)) else {
        return;
    };
    let fits = |n: usize, a: usize, b: usize, len: usize| {
        n.checked_mul(a)
            .and_then(|v| v.checked_mul(b))
            .is_some_and(|v| v <= len)
    };
    if scale == 0 || !fits(c, h, w, x.len()) || !fits(c, oh, ow, y.len()) {
        return;
    }
    for ch in 0..c {
        for oy in 0..oh {
            let src = x.get((ch * h + oy / scale) * w..).unwrap_or(&[]);
            let dst = y.get_mut((ch * oh + oy) * ow..).unwrap_or(&mut []);
            for (ox, d) in dst.iter_mut().take(ow).enumerate() {
                *d = src.get(ox / scale).copied().unwrap_or(0.0);
            }
        }
    }
}

/// A dense kernel: `(weight, bias, input, output)`.
pub type DenseFn = fn(Weights<'_>, Weights<'_>, &[f32], &mut [f32]);
/// A convolution kernel: `(weight, bias, geometry, input, output)`.
pub type ConvFn = fn(Weights<'_>, Weights<'_>, &ConvGeom, &[f32], &mut [f32]);

/// One implementation of the three arithmetic kernels, so that tests and
/// benchmarks can hold every implementation against the plain one.
#[derive(Clone, Copy, Debug)]
pub struct KernelSet {
    pub name: &'static str,
    pub dense: DenseFn,
    pub conv2d: ConvFn,
    pub conv_transpose2d: ConvFn,
}

/// The reference kernels.
pub const PLAIN: KernelSet = KernelSet {
    name: "plain",
    dense: plain::dense,
    conv2d: plain::conv2d,
    conv_transpose2d: plain::conv_transpose2d,
};

/// The portable fast kernels (what a `no_std` build for a target without
/// vector kernels runs).
pub const PORTABLE: KernelSet = KernelSet {
    name: "portable",
    dense: fast::dense,
    conv2d: fast::conv2d,
    conv_transpose2d: fast::conv_transpose2d,
};

/// Every kernel set this CPU can run: plain, portable, then the vector
/// kernels of this target where the CPU has them, slowest first (the last
/// one is what [`dense`], [`conv2d`] and [`conv_transpose2d`] run).
pub fn kernel_sets() -> impl Iterator<Item = KernelSet> {
    [Some(PLAIN), Some(PORTABLE)]
        .into_iter()
        .chain(vector_kernels())
        .flatten()
}

// ---- Dispatch: x86-64 ----

#[cfg(target_arch = "x86_64")]
fn vector_kernels() -> [Option<KernelSet>; 2] {
    [
        x86::available().then_some(KernelSet {
            name: "x86-64 AVX2+F16C",
            dense: x86::dense,
            conv2d: x86::conv2d,
            conv_transpose2d: x86::conv_transpose2d,
        }),
        avx512::available().then_some(KernelSet {
            name: "x86-64 AVX-512",
            dense: avx512::dense,
            conv2d: avx512::conv2d,
            conv_transpose2d: avx512::conv_transpose2d,
        }),
    ]
}

// ---- Dispatch: AArch64 ----

#[cfg(target_arch = "aarch64")]
fn vector_kernels() -> [Option<KernelSet>; 1] {
    [neon::available().then_some(KernelSet {
        name: "AArch64 NEON",
        dense: neon::dense,
        conv2d: neon::conv2d,
        conv_transpose2d: neon::conv_transpose2d,
    })]
}

// ---- Dispatch: other targets ----

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn vector_kernels() -> [Option<KernelSet>; 0] {
    []
}

/// Dense layer with the fastest kernel this target has.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return avx512::dense(w, b, x, y);
    }
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return x86::dense(w, b, x, y);
    }
    #[cfg(target_arch = "aarch64")]
    if neon::available() {
        return neon::dense(w, b, x, y);
    }
    // ---- Cortex-M with an FPU ----
    #[cfg(all(
        target_arch = "arm",
        target_abi = "eabihf",
        target_os = "none",
        target_endian = "little"
    ))]
    if arm::dense(w, b, x, y) {
        return;
    }
    // ---- Cortex-M without an FPU: the compact kernel (flash over unrolling) ----
    #[cfg(all(target_arch = "arm", not(target_abi = "eabihf"), target_os = "none"))]
    arm::dense_compact(w, b, x, y);
    // ---- every other target, and what `arm` leaves ----
    #[cfg(not(all(target_arch = "arm", not(target_abi = "eabihf"), target_os = "none")))]
    fast::dense(w, b, x, y)
}

/// `conv2d` with the fastest kernel this target has.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return avx512::conv2d(w, b, g, x, y);
    }
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return x86::conv2d(w, b, g, x, y);
    }
    #[cfg(target_arch = "aarch64")]
    if neon::available() {
        return neon::conv2d(w, b, g, x, y);
    }
    fast::conv2d(w, b, g, x, y)
}

/// `conv_transpose2d` with the fastest kernel this target has.
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return avx512::conv_transpose2d(w, b, g, x, y);
    }
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return x86::conv_transpose2d(w, b, g, x, y);
    }
    #[cfg(target_arch = "aarch64")]
    if neon::available() {
        return neon::conv_transpose2d(w, b, g, x, y);
    }
    // ---- Cortex-M with an FPU ----
    #[cfg(all(
        target_arch = "arm",
        target_abi = "eabihf",
        target_os = "none",
        target_endian = "little"
    ))]
    if arm::conv_transpose2d(w, b, g, x, y) {
        return;
    }
    // ---- every other target, and what `arm` leaves ----
    fast::conv_transpose2d(w, b, g, x, y)
}

/// f32 values a convolution's weights take once transposed for the fastest
/// kernel ([`prepare_conv`]); 0 where that kernel transposes nothing, or
/// does it per call with no gain from doing it once (every target but
/// x86-64 with AVX-512).
pub fn prepared_len(g: &ConvGeom, transpose: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    return avx512::prepared_len(g, transpose);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (g, transpose);
        0
    }
}

/// Transposes a convolution's weights once into `dst` (at least
/// [`prepared_len`] values) for [`conv_prepared`]; false when there is
/// nothing to prepare.
pub fn prepare_conv(w: Weights<'_>, g: &ConvGeom, transpose: bool, dst: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512::prepare(w, g, transpose, dst);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (w, g, transpose, dst);
        false
    }
}

/// [`conv2d`] or [`conv_transpose2d`] (`transpose`), reading the weights
/// [`prepare_conv`] wrote to `pre` where there are any: the same bits as
/// without them, minus the per-call conversion and transposition.
#[allow(clippy::too_many_arguments)]
pub fn conv_prepared(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
    pre: &[f32],
) {
    #[cfg(target_arch = "x86_64")]
    if !pre.is_empty() {
        return avx512::conv_prepared(w, b, g, x, y, transpose, pre);
    }
    let _ = pre;
    if transpose {
        conv_transpose2d(w, b, g, x, y)
    } else {
        conv2d(w, b, g, x, y)
    }
}

/// f32 slots a dense layer's weights take once reordered for the fastest
/// kernel ([`prepare_dense`]); 0 where that kernel reads them as stored
/// (f32 weights, and every target but x86-64 with AVX-512).
pub fn dense_prepared_len(w: &Weights<'_>, n_in: usize, n_out: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    return avx512::dense_prepared_len(w, n_in, n_out);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (w, n_in, n_out);
        0
    }
}

/// Reorders a dense layer's weights once into `dst` (at least
/// [`dense_prepared_len`] values) for [`dense_prepared`]; false when there
/// is nothing to prepare.
pub fn prepare_dense(w: Weights<'_>, n_in: usize, n_out: usize, dst: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512::prepare_dense(w, n_in, n_out, dst);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (w, n_in, n_out, dst);
        false
    }
}

/// [`dense`], reading the weights [`prepare_dense`] wrote to `pre` where
/// there are any: the same bits as without them.
pub fn dense_prepared(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if !pre.is_empty() {
        return avx512::dense_prepared(w, b, x, y, pre);
    }
    let _ = pre;
    dense(w, b, x, y)
}

/// Holds a vector kernel's f16 conversion to the reference on every finite
/// f16 bit pattern, `lanes` (at most 16) at a time: `convert` gets
/// `2 * lanes` little-endian bytes and fills `lanes` floats.
#[cfg(test)]
pub(crate) fn assert_converts_every_finite_f16(
    lanes: usize,
    mut convert: impl FnMut(&[u8], &mut [f32]),
) {
    assert!(lanes <= 16 && (u16::MAX as usize + 1).is_multiple_of(lanes));
    let (mut bytes, mut got) = ([0u8; 32], [0f32; 16]);
    for first in (0..=u16::MAX as usize).step_by(lanes) {
        let bits = |i: usize| (first + i) as u16;
        for i in 0..lanes {
            bytes[2 * i..2 * i + 2].copy_from_slice(&bits(i).to_le_bytes());
        }
        convert(&bytes[..2 * lanes], &mut got[..lanes]);
        for (i, g) in got[..lanes].iter().enumerate() {
            let want = half::f16::from_bits(bits(i)).to_f32();
            if want.is_finite() {
                assert_eq!(g.to_bits(), want.to_bits(), "{:#06x}", bits(i));
            }
        }
    }
}
