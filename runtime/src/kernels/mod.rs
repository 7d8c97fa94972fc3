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
//!   same bits; module `elementwise`.)
//!
//! # Layout
//!
//! - [`reference`](mod@reference): the plain kernels, this order written as directly as
//!   possible ([`PLAIN`]).
//! - [`portable`]: the same order arranged so that LLVM vectorises it on
//!   any target ([`PORTABLE`]); every other set hands it what it leaves.
//! - `x86_64`: AVX2 + F16C and AVX-512 F/BW/VL; `aarch64`: NEON. The
//!   8-lane loops that AVX2 and NEON share are written once (module
//!   `lane8`), and which kernel taps an output reads once for every vector
//!   set (module `taps`).
//! - [`cortex_m`]: the Cortex-M4F assembly and the Cortex-M0+ dense kernel.
//! - [`f16`](mod@f16): the exact f16 conversion the fast kernels share.
//! - [`integer`]: version 2's integer arithmetic (requantisation, the
//!   latent's quantisation) and its plain and portable kernels; every set
//!   carries integer kernels too (`int_dense`, `int_conv2d`,
//!   `int_conv_transpose2d`), whose sums are exact in any order.
//!
//! The fast kernels reorder loops across outputs, rows and tiles, and the
//! vector ones run across outputs (8 or 16 output channels or pixels per
//! vector) or across the 16 partial sums, but every single output keeps
//! this order; a property test checks each of them against the plain ones
//! bit for bit.
//!
//! # Selection
//!
//! [`dense`], [`conv2d`] and [`conv_transpose2d`] pick the fastest kernel
//! the target has: chosen at compile time from `target_arch`,
//! `target_feature` and the Cortex-M aliases of `build.rs`, and on x86-64
//! without AVX-512 (or AVX2/F16C) enabled at compile time by run-time
//! detection under the `std` feature (so a plain `cargo build --release`
//! runs the AVX-512 kernels on a CPU that has them, else the AVX2 ones).
//! The plain kernels are always available. This module only dispatches;
//! each target's folder decides what it runs, and falls back in one place.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(not(target_arch = "x86_64"))]
mod as_stored;
pub mod cortex_m;
mod elementwise;
pub mod f16;
pub mod integer;
mod interface;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod lane8;
pub mod portable;
pub mod reference;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod taps;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

// Weights prepared once for the kernels that read them faster in another
// order (the x86-64 ones; [`conv_prepared`], [`dense_prepared`]): the same
// bits as without.
#[cfg(not(target_arch = "x86_64"))]
use as_stored as prepared;
pub use elementwise::{leaky_relu, relu, sigmoid, tanh, upsample_nearest};
pub use integer::{quantize_latent, requant_params, IntParams};
use interface::ConvArgs;
pub use interface::{
    conv_fits, dense_fits, ConvFn, ConvGeom, DenseFn, IntConvFn, IntDenseFn, KernelSet, Weights,
    LANES,
};
pub use prepared::{dense_prepared, dense_prepared_len, prepare_conv, prepare_dense, prepared_len};
#[cfg(target_arch = "x86_64")]
use x86_64::prepared;

/// [`conv2d`] or [`conv_transpose2d`] (`transpose`) with the weights that
/// [`prepare_conv`] transposed into `pre`; the kernels without them where
/// `pre` is shorter than [`prepared_len`] (so the result is the same either
/// way).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn conv_prepared(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
    pre: &[f32],
) {
    prepared::conv_prepared(ConvArgs::new(w, b, g, x, transpose), y, pre)
}

/// The reference kernels.
pub const PLAIN: KernelSet = KernelSet {
    name: "plain",
    dense: reference::dense,
    conv2d: reference::conv2d,
    conv_transpose2d: reference::conv_transpose2d,
    int_dense: integer::reference::dense,
    int_conv2d: integer::reference::conv2d,
    int_conv_transpose2d: integer::reference::conv_transpose2d,
};

/// The portable fast kernels (what a `no_std` build for a target without
/// vector kernels runs).
pub const PORTABLE: KernelSet = KernelSet {
    name: "portable",
    dense: portable::dense,
    conv2d: portable::conv2d,
    conv_transpose2d: portable::conv_transpose2d,
    int_dense: integer::portable::dense,
    int_conv2d: integer::portable::conv2d,
    int_conv_transpose2d: integer::portable::conv_transpose2d,
};

/// Every kernel set this CPU can run: plain, portable, then the vector
/// kernels of this target where the CPU has them, slowest first (on x86-64
/// and AArch64 the last one is what [`dense`], [`conv2d`] and
/// [`conv_transpose2d`] run; a Cortex-M target runs its own, [`cortex_m`]).
pub fn kernel_sets() -> impl Iterator<Item = KernelSet> {
    [Some(PLAIN), Some(PORTABLE)]
        .into_iter()
        .chain(vector_kernels())
        .flatten()
}

/// [`kernel_sets`], then the Cortex-M sets, which every target builds
/// (on a host with Rust standing in for their assembly): every set that
/// can be held to the plain kernels here, each once.
pub fn every_set() -> impl Iterator<Item = KernelSet> {
    kernel_sets().chain([cortex_m::M4F, cortex_m::M0PLUS])
}

#[cfg(target_arch = "x86_64")]
use x86_64::available as vector_kernels;

#[cfg(target_arch = "aarch64")]
use aarch64::available as vector_kernels;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn vector_kernels() -> [Option<KernelSet>; 0] {
    []
}

/// The set [`dense`], [`conv2d`] and [`conv_transpose2d`] run: the
/// fastest this target and CPU have.
#[inline]
fn fastest() -> KernelSet {
    #[cfg(target_arch = "x86_64")]
    return x86_64::fastest();
    #[cfg(target_arch = "aarch64")]
    return aarch64::fastest();
    #[cfg(cortex_m)]
    return cortex_m::fastest();
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", cortex_m)))]
    PORTABLE
}

/// The set [`dense`], [`conv2d`] and [`conv_transpose2d`] run here (on
/// x86-64 after the cap of `x86_64::CAP_VAR`), for reports and benchmarks.
pub fn dispatched() -> KernelSet {
    fastest()
}

/// Dense layer with the fastest kernel this target has.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    (fastest().dense)(w, b, x, y)
}

/// `conv2d` with the fastest kernel this target has.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    (fastest().conv2d)(w, b, g, x, y)
}

/// `conv_transpose2d` with the fastest kernel this target has.
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    (fastest().conv_transpose2d)(w, b, g, x, y)
}

/// Integer dense layer (version 2) with the fastest kernel this target has.
pub fn int_dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    (fastest().int_dense)(p, x, y)
}

/// Integer `conv2d` (version 2) with the fastest kernel this target has.
pub fn int_conv2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    (fastest().int_conv2d)(p, g, x, y)
}

/// Integer `conv_transpose2d` (version 2) with the fastest kernel this
/// target has.
pub fn int_conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    (fastest().int_conv_transpose2d)(p, g, x, y)
}
