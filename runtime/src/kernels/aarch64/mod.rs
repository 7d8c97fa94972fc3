//! AArch64: the 8-lane kernels of `lane8` on pairs of NEON registers.

pub(crate) mod neon;

use self::neon::Neon;
use super::{lane8, ConvGeom, KernelSet, Weights};

/// The NEON kernels.
pub const NEON: KernelSet = KernelSet {
    name: "AArch64 NEON",
    dense: lane8::dense::<Neon>,
    conv2d: lane8::conv2d::<Neon>,
    conv_transpose2d: lane8::conv_transpose2d::<Neon>,
};

/// The sets this CPU runs.
pub(crate) fn available() -> [Option<KernelSet>; 1] {
    [neon::available().then_some(NEON)]
}

/// Dense layer with NEON (the portable kernel on a CPU without it).
#[inline]
pub(crate) fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    lane8::dense::<Neon>(w, b, x, y)
}

/// Either convolution with NEON where it applies.
#[inline]
pub(crate) fn conv(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
) {
    lane8::conv::<Neon>(w, b, g, x, y, transpose)
}
