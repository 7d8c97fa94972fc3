//! The usual last layer of an image generator with AVX-512: a transposed
//! convolution with kernel 4, stride 2 and padding 1 to fewer than 16
//! channels, as four 2x2 convolutions over whole rows.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{lanes, load_w};
use crate::kernels::taps::{k4s2_narrow, narrow_taps, NARROW_CMAX};
use crate::kernels::{ConvGeom, Weights};

/// Whether [`convt_narrow`] runs this geometry: the last layer of most
/// image generators (a transposed convolution with kernel 4, stride 2 and
/// padding 1 that doubles the side, to fewer than 16 channels).
pub(super) fn narrow_supported(g: &ConvGeom, transpose: bool) -> bool {
    transpose && k4s2_narrow(g, 16)
}

/// A transposed convolution with kernel 4, stride 2 and padding 1, one
/// output channel at a time, as four 2x2 convolutions: output pixel
/// `(2m + py, 2n + px)` reads input rows `m` and `m - 1` (`py = 0`, kernel
/// rows 1 and 3) or `m + 1` and `m` (`py = 1`, rows 0 and 2), and likewise
/// for columns. A register holds 16 consecutive `n` of one output row and
/// phase `px`; the input row is read at column offsets -1, 0 and +1, and a
/// tap in the padding is skipped with a masked add (the sum keeps its bits,
/// where adding a zero product could turn `-0.0` into `+0.0`). Each output
/// adds its taps in the documented order (input channel, kernel row,
/// kernel column); the two phases of a row are interleaved on the way out.
/// Four output rows run at once, eight independent sums. Unlike the
/// general kernels this needs no per-call plan of tap groups, which cost
/// more than the arithmetic for a 32 -> 1 channel layer of 28x28.
///
/// # Safety
///
/// The features are present, `conv_fits` holds and `narrow_supported`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn convt_narrow(
    w: &Weights<'_>,
    b: &Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) {
    let mut wf = MaybeUninit::<[f32; 16 * NARROW_CMAX]>::uninit();
    let wfp = wf.as_mut_ptr().cast::<f32>();
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for o in 0..g.out_c {
        for c in 0..g.in_c {
            // SAFETY: the 16 taps of (c, o) lie inside `w` (`conv_fits`);
            // c < in_c <= NARROW_CMAX.
            _mm512_storeu_ps(wfp.add(c * 16), load_w(w, (c * g.out_c + o) * 16, 16));
        }
        let bias = _mm512_set1_ps(_mm512_cvtss_f32(load_w(b, o, 1)));
        let mut n0 = 0;
        while n0 < g.in_w {
            let l = 16.min(g.in_w - n0);
            let mut oy = 0;
            while oy + 4 <= g.out_h {
                narrow_rows::<4>(g, x, wfp, bias, o, oy, n0, l, y, lo, hi);
                oy += 4;
            }
            // out_h is even: at most two rows are left.
            if g.out_h - oy == 2 {
                narrow_rows::<2>(g, x, wfp, bias, o, oy, n0, l, y, lo, hi);
            }
            n0 += 16;
        }
    }
}

/// Output rows `oy0..oy0 + R` of channel `o`, columns `2 n0..2 (n0 + l)`.
///
/// # Safety
///
/// As for [`convt_narrow`]; `wf` holds the channel's `in_c * 16` weights,
/// `oy0 + R <= out_h` and `n0 + l <= in_w`, `1 <= l <= 16`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn narrow_rows<const R: usize>(
    g: &ConvGeom,
    x: &[f32],
    wf: *const f32,
    bias: __m512,
    o: usize,
    oy0: usize,
    n0: usize,
    l: usize,
    y: &mut [f32],
    lo: __m512i,
    hi: __m512i,
) {
    let (ih, iw) = (g.in_h, g.in_w);
    let valid = lanes(l);
    // Column n - 1 exists except for n = 0; n + 1 except for n = iw - 1.
    let left = if n0 == 0 { valid & !1 } else { valid };
    let right = if n0 + l == iw { valid >> 1 } else { valid };
    let taps: [_; R] = core::array::from_fn(|r| narrow_taps(oy0 + r, ih));
    let mut acc = [[bias; 2]; R];
    let plane = ih * iw;
    for c in 0..g.in_c {
        let wc = wf.add(c * 16);
        let xc = x.as_ptr().wrapping_add(c * plane + n0);
        for (a, t) in acc.iter_mut().zip(&taps) {
            for &(ky, iy) in t {
                let Some(iy) = iy else { continue };
                // SAFETY: row iy < ih of channel c; lanes past the row's
                // ends are masked off (masked lanes never fault).
                let row = xc.wrapping_add(iy * iw);
                let xm = _mm512_maskz_loadu_ps(left, row.wrapping_sub(1));
                let x0 = _mm512_maskz_loadu_ps(valid, row);
                let xp = _mm512_maskz_loadu_ps(right, row.wrapping_add(1));
                let wk = |kx: usize| _mm512_set1_ps(*wc.add(ky * 4 + kx));
                // px = 0: kernel columns 1 (column n) then 3 (n - 1).
                a[0] = _mm512_add_ps(a[0], _mm512_mul_ps(wk(1), x0));
                a[0] = _mm512_mask_add_ps(a[0], left, a[0], _mm512_mul_ps(wk(3), xm));
                // px = 1: kernel columns 0 (n + 1) then 2 (n).
                a[1] = _mm512_mask_add_ps(a[1], right, a[1], _mm512_mul_ps(wk(0), xp));
                a[1] = _mm512_add_ps(a[1], _mm512_mul_ps(wk(2), x0));
            }
        }
    }
    let m2 = 2 * l;
    for (r, a) in acc.iter().enumerate() {
        // SAFETY: row oy0 + r of channel o, columns 2 n0..2 n0 + 2 l, inside
        // `y` (`conv_fits`); stores past them are masked off.
        let at = y
            .as_mut_ptr()
            .add((o * g.out_h + oy0 + r) * g.out_w + 2 * n0);
        _mm512_mask_storeu_ps(at, lanes(m2), _mm512_permutex2var_ps(a[0], lo, a[1]));
        if m2 > 16 {
            _mm512_mask_storeu_ps(
                at.add(16),
                lanes(m2 - 16),
                _mm512_permutex2var_ps(a[0], hi, a[1]),
            );
        }
    }
}
