//! Kernels written once over an 8-lane f32 vector ([`Lane8`]) and
//! instantiated per instruction set (`x86_64::avx2` for AVX2 + F16C,
//! `aarch64::neon`). Every lane only ever computes `acc + w * x` with the product
//! rounded before the add (never a fused multiply-add), and every output
//! keeps the summation order of the module docs:
//!
//! - `dense`: an output row's 16 partial sums are exactly two vectors, lane
//!   `i % 16` of the format being lane `i % 8` of vector `(i / 8) % 2`.
//!   Four rows run at once so that their sums are independent. Blocks of
//!   eight rows are then transposed so that one vector holds lane `j` of
//!   eight rows, and the left-to-right sum of the 16 lanes, the tail and
//!   the bias run eight rows per vector operation; the last rows (fewer
//!   than eight) add their lanes in scalar code.
//! - convolutions: output pixels are grouped by the set of taps they read
//!   (pixels with the same valid kernel rows and columns read the same
//!   taps, at input offsets that differ from pixel to pixel by a constant).
//!   With 8 or more output channels, vectors run across 8 (or 16, two
//!   vectors) channels, which share every tap, and a tile of up to `PIX`
//!   pixels of one group stays in registers through the whole reduction.
//!   With fewer channels, vectors run across up to 8 pixels of a group
//!   that read consecutive inputs (a row of a transposed convolution's
//!   phase, or of a stride-1 convolution), `PV` vectors per tile. Either
//!   way each lane adds exactly the taps its output adds, in order (input
//!   channel, kernel row, kernel column). The weights of a block of
//!   channels are first converted to f32 and transposed to
//!   `[input channel][tap][output channel]` in a stack buffer (eight
//!   channels' rows of eight taps at a time, transposed in registers), or
//!   read as [`prepare`] left them; a group's taps are listed once with
//!   their weight and input offsets, and the inner loops walk the input
//!   channels, then that short list.
//!
//! Stack use of a convolution: 64 KiB of transposed weights and 8 KiB of
//! masks (host and Raspberry Pi targets only; the Cortex-M kernels do not
//! use this module).
//!
//! The entry points here ([`dense`], [`conv2d`], [`conv_transpose2d`])
//! check the buffer sizes (`dense_fits`, `conv_fits`) and the CPU features
//! before calling in, and send what the vector kernels do not handle to the
//! portable ones; inside, raw pointers are only formed for indices those
//! checks bound, as each `SAFETY` comment says.

mod conv;
mod dense;
mod narrow;

pub(crate) use self::conv::conv as conv_body;
pub(crate) use self::conv::prepare_wide as prepare_body;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::conv::wide_prepared_len;
pub(crate) use self::dense::dense as dense_body;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::dense::{
    prepare as prepare_dense, prepared as dense_prepared_body, prepared_len as dense_prepared_len,
};

use super::taps::conv_supported;
use super::{conv_fits, dense_fits, portable, ConvArgs, ConvGeom, KernelSet, Weights};
use super::{IntConvFn, IntDenseFn};

/// Eight f32 lanes and the few operations the kernels need.
///
/// # Safety
///
/// Implementations may require CPU features: the methods may only be
/// called where the implementing module has established them, and every
/// pointer must be valid for the elements read or written.
pub(crate) unsafe trait Lane8: Copy {
    /// Whether this CPU has the features the methods need.
    fn available() -> bool;
    /// The set's integer kernels (version 2), which are plain Rust compiled
    /// for the set's features rather than 8-lane loops.
    const INT_DENSE: IntDenseFn;
    const INT_CONV2D: IntConvFn;
    const INT_CONV_TRANSPOSE2D: IntConvFn;
    /// [`dense::dense`] with the features enabled ([`lane8_kernels`]).
    unsafe fn dense_kernel(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]);
    /// [`conv::conv`] with the features enabled ([`lane8_kernels`]).
    unsafe fn conv_kernel(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]);
    /// [`conv::prepare_wide`] with the features enabled (prepared weights
    /// are read on x86-64 only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    unsafe fn prepare_kernel(
        w: Weights<'_>,
        g: &ConvGeom,
        transpose: bool,
        dst: &mut [f32],
    ) -> bool;
    /// All lanes `+0.0`.
    unsafe fn zero() -> Self;
    /// Eight f32 at `p` (any alignment).
    unsafe fn load(p: *const f32) -> Self;
    /// Eight little-endian f16 at `p` (any alignment), converted exactly.
    unsafe fn load_f16(p: *const u8) -> Self;
    /// Eight little-endian f32 at `p` (any alignment).
    unsafe fn load_f32_bytes(p: *const u8) -> Self;
    /// `*p` in every lane.
    unsafe fn splat(p: *const f32) -> Self;
    /// `self + a * b` per lane, the product rounded to f32 first.
    unsafe fn add_mul(self, a: Self, b: Self) -> Self;
    /// `self + a` per lane.
    unsafe fn add(self, a: Self) -> Self;
    /// Per lane, the bits of `self` OR those of `bits` (which set sign
    /// bits: see `narrow`).
    unsafe fn or(self, bits: Self) -> Self;
    /// Lane `j` of vector `r` to lane `r` of vector `j`. This default goes
    /// through memory; targets override it with register shuffles.
    #[inline(always)]
    unsafe fn transpose8(r: [Self; 8]) -> [Self; 8] {
        let mut m = [[0.0f32; 8]; 8];
        for (row, v) in m.iter_mut().zip(&r) {
            v.store(row.as_mut_ptr());
        }
        let mut t = [[0.0f32; 8]; 8];
        for (i, row) in m.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                t[j][i] = *v;
            }
        }
        t.map(|row| Self::load(row.as_ptr()))
    }
    /// The eight lanes to `p` (any alignment).
    unsafe fn store(self, p: *mut f32);
}

/// The kernel methods of a [`Lane8`] implementation, compiled with
/// `$features` enabled so that the kernels inline into them.
macro_rules! lane8_kernels {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn dense_kernel(
            w: $crate::kernels::Weights<'_>,
            b: $crate::kernels::Weights<'_>,
            x: &[f32],
            y: &mut [f32],
        ) {
            $crate::kernels::lane8::dense_body::<Self>(w, b, x, y)
        }
        #[target_feature(enable = $features)]
        unsafe fn conv_kernel(c: $crate::kernels::ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
            $crate::kernels::lane8::conv_body::<Self>(c, y, pre)
        }
        #[target_feature(enable = $features)]
        unsafe fn prepare_kernel(
            w: $crate::kernels::Weights<'_>,
            g: &$crate::kernels::ConvGeom,
            transpose: bool,
            dst: &mut [f32],
        ) -> bool {
            $crate::kernels::lane8::prepare_body::<Self>(&w, g, transpose, dst)
        }
    };
}
pub(crate) use lane8_kernels;

/// Dense layer (see the module docs of `kernels` for the order); the
/// portable kernel where the CPU lacks `V`'s features.
pub(crate) fn dense<V: Lane8>(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !V::available() {
        return portable::dense(w, b, x, y);
    }
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    // SAFETY: the features are present and the sizes checked.
    unsafe { V::dense_kernel(w, b, x, y) }
}

/// Either convolution; the portable kernel where the CPU lacks `V`'s
/// features or the geometry is outside what the vector kernel handles.
pub(crate) fn conv<V: Lane8>(c: ConvArgs<'_>, y: &mut [f32]) {
    conv_prepared::<V>(c, y, &[])
}

/// [`conv`] reading the weights [`prepare`] wrote into `pre` (the same
/// bits; ignored where shorter than [`wide_prepared_len`]).
pub(crate) fn conv_prepared<V: Lane8>(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
    if !V::available() || !conv_supported(c.g) {
        return portable::conv(c, y);
    }
    if !conv_fits(&c.w, &c.b, c.g, c.x, y) {
        return;
    }
    // SAFETY: the features are present and the sizes checked.
    unsafe { V::conv_kernel(c, y, pre) }
}

/// Converts and transposes a convolution's weights into `dst` once, for
/// [`conv_prepared`] (at least [`wide_prepared_len`] values). False, with
/// nothing written, where the CPU lacks `V`'s features, there is nothing to
/// prepare, or the weights or `dst` are too short.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn prepare<V: Lane8>(
    w: Weights<'_>,
    g: &ConvGeom,
    transpose: bool,
    dst: &mut [f32],
) -> bool {
    // SAFETY: the features are present; the kernel checks the lengths.
    V::available() && unsafe { V::prepare_kernel(w, g, transpose, dst) }
}

fn forward<V: Lane8>(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv::<V>(ConvArgs::new(w, b, g, x, false), y)
}

fn transposed<V: Lane8>(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv::<V>(ConvArgs::new(w, b, g, x, true), y)
}

/// `V`'s kernels as a set named `name`.
pub(crate) const fn set<V: Lane8>(name: &'static str) -> KernelSet {
    KernelSet {
        name,
        dense: dense::<V>,
        conv2d: forward::<V>,
        conv_transpose2d: transposed::<V>,
        int_dense: V::INT_DENSE,
        int_conv2d: V::INT_CONV2D,
        int_conv_transpose2d: V::INT_CONV_TRANSPOSE2D,
    }
}
