//! Which kernel taps each output pixel of a convolution reads, for the
//! vector kernels (the 8-lane ones and AVX-512): the tap of one axis, its
//! masks per output row and column, and the geometry of the usual last
//! layer of an image generator that both run as four 2x2 convolutions.

use super::ConvGeom;

/// Largest kernel side handled here (taps are tracked in a `u64` mask per
/// row and column, and the buffer must hold one input channel's taps for
/// 16 output channels).
pub(crate) const KMAX: usize = 8;
/// Largest output side handled here (per-row and per-column masks live in
/// fixed arrays).
pub(crate) const SIDE: usize = 512;

/// Whether [`conv`] handles this geometry; otherwise the portable kernel
/// runs.
pub(crate) fn conv_supported(g: &ConvGeom) -> bool {
    g.kernel <= KMAX && g.out_h <= SIDE && g.out_w <= SIDE && g.out_c > 0
}

/// Tap geometry of one axis: for output position `o` and kernel index
/// `kk`, the input position it reads, if any.
#[inline(always)]
pub(crate) fn tap(transpose: bool, o: usize, kk: usize, g: &ConvGeom, n: usize) -> Option<usize> {
    let i = if transpose {
        let t = (o + g.padding).checked_sub(kk)?;
        // Division is slow and runs per pixel in the AVX-512 kernels:
        // strides 1 and 2 (the usual ones) by shifting.
        let (q, r) = match g.stride {
            1 => (t, 0),
            2 => (t >> 1, t & 1),
            s => (t / s, t % s),
        };
        if r != 0 {
            return None;
        }
        q
    } else {
        (o * g.stride + kk).checked_sub(g.padding)?
    };
    (i < n).then_some(i)
}

/// Bit `kk` set when kernel index `kk` reads an input position.
pub(crate) fn mask(transpose: bool, o: usize, g: &ConvGeom, n: usize) -> u64 {
    (0..g.kernel)
        .filter(|&kk| tap(transpose, o, kk, g, n).is_some())
        .fold(0, |m, kk| m | 1 << kk)
}

/// The tap masks of every output row and column (entries past `out_h` and
/// `out_w` stay 0). Needs [`conv_supported`].
pub(crate) fn tap_masks(g: &ConvGeom, transpose: bool) -> ([u64; SIDE], [u64; SIDE]) {
    let mut rmask = [0u64; SIDE];
    let mut cmask = [0u64; SIDE];
    for (o, m) in rmask.iter_mut().enumerate().take(g.out_h) {
        *m = mask(transpose, o, g, g.in_h);
    }
    for (o, m) in cmask.iter_mut().enumerate().take(g.out_w) {
        *m = mask(transpose, o, g, g.in_w);
    }
    (rmask, cmask)
}

/// Largest input channel count of the narrow transposed convolutions (the
/// 8-lane and the AVX-512 ones): one output channel's weights as f32 on the
/// stack, 16 KiB.
pub(crate) const NARROW_CMAX: usize = 256;

/// Whether `g` is the usual last layer of an image generator, which the
/// narrow kernels run: a transposed convolution with kernel 4, stride 2 and
/// padding 1 that doubles the side, to fewer than `max_out_c` channels,
/// from at most [`NARROW_CMAX`].
pub(crate) fn k4s2_narrow(g: &ConvGeom, max_out_c: usize) -> bool {
    g.kernel == 4
        && g.stride == 2
        && g.padding == 1
        && g.out_c < max_out_c
        && (1..=NARROW_CMAX).contains(&g.in_c)
        && g.in_h > 0
        && g.in_w > 0
        && g.out_h == 2 * g.in_h
        && g.out_w == 2 * g.in_w
}

/// The kernel rows output row `oy` of a narrow transposed convolution adds,
/// in order, each with the input row it reads (`None` in the padding):
/// rows 1 and 3 reading `m` and `m - 1` for `oy = 2m`, rows 0 and 2 reading
/// `m + 1` and `m` for `oy = 2m + 1`.
#[inline(always)]
pub(crate) fn narrow_taps(oy: usize, in_h: usize) -> [(usize, Option<usize>); 2] {
    let m = oy >> 1;
    if oy & 1 == 0 {
        [(1, Some(m)), (3, m.checked_sub(1))]
    } else {
        [(0, Some(m + 1).filter(|&i| i < in_h)), (2, Some(m))]
    }
}
