//! x86-64 kernels with AVX-512 (F, BW, VL): sixteen f32 lanes per `zmm`
//! register, f16 weights converted sixteen at a time by `vcvtph2ps`, and
//! every multiply-accumulate a `vmulps` then a `vaddps` (never an FMA), so
//! the results equal the plain kernels bit for bit.
//!
//! - `dense`: the 16 partial sums of a row are exactly one register.
//!   Sixteen rows run at once; their sums are then transposed in registers
//!   so that register `j` holds partial sum `j` of the sixteen rows, and the
//!   left-to-right sum of the lanes, the tail (whose weights are transposed
//!   the same way) and the bias run sixteen rows per instruction. Short
//!   rows (the 100 inputs of a latent vector) spend most of their time in
//!   this finish, which is why it is vectorised across rows. The last rows
//!   (fewer than 16) and rows of 1,024 inputs or more go to the AVX2
//!   kernel.
//! - convolutions: output pixels are grouped by the taps they read, as in
//!   the AVX2 kernels (module `lane8`). With 16 or more output channels one
//!   register runs across 16 channels and a tile holds up to 18 pixels:
//!   up to 6 output rows of a group times up to 8 pixels of a row that read
//!   consecutive inputs (a transposed convolution's phase) or inputs
//!   `stride` apart, so the input a pixel reads is one pointer per row plus
//!   a constant offset, and the inner loop is a weight load and, per pixel,
//!   a broadcast multiply and an add. With fewer channels (an RGB or
//!   grey-scale output layer) a register runs across up to 16 pixels of a
//!   row that read consecutive inputs (masked loads at the row's end), up
//!   to 8 rows per tile; where the taps form a 2x2 grid (kernel 4, stride
//!   2, inside the image) each input vector is loaded once for the two
//!   output rows that read it. Either way each lane adds its output's taps in
//!   the documented order (input channel, kernel row, kernel column). The
//!   weights of a block of 16 output channels are converted to f32 and
//!   transposed to `[input channel][tap][output channel]` once per layer
//!   (sixteen rows at a time, in registers). Geometries outside these two
//!   paths (fewer than 16 channels with a stride-2 `conv2d`) run the AVX2
//!   kernels.
//! - the usual last layer, a transposed convolution with kernel 4, stride
//!   2 and padding 1 to fewer than 16 channels, runs as four 2x2
//!   convolutions over whole rows (`convt_narrow`): no tap groups to plan,
//!   which for a 32 -> 1 channel 28x28 layer cost more than its arithmetic
//!   (8.8 us before, 3.1 us now).
//! - with prepared weights (`prepare`, `prepare_dense`) the convolutions
//!   read their transposed blocks as they are, and dense layers with f16
//!   weights read them reordered as `[block of 16 rows][input][row]`.
//!
//! Stack use of a convolution: 64 KiB of transposed weights, 8 KiB of
//! masks and 9 KiB of row and run lists (the AVX2 kernels, which run
//! instead where this set does not apply, take 72 KiB).

mod conv;
mod dense;
mod groups;
mod narrow;
mod pixels;

use core::arch::x86_64::*;

use self::conv::{conv_512, conv_512_supported, transpose_weights};
pub use self::dense::{dense, dense_prepared, dense_prepared_len, prepare_dense};
use self::narrow::{convt_narrow, narrow_supported};
use super::avx2::Avx;
use crate::format::DType;
use crate::kernels::{conv_fits, lane8, ConvArgs, ConvGeom, Weights};

/// Whether this CPU runs the kernels of this module (and
/// [`CAP_VAR`](super::CAP_VAR) does not keep dispatch off them).
#[inline]
pub(crate) fn available() -> bool {
    if !super::avx512_allowed() {
        return false;
    }
    if cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl"
    )) {
        return true;
    }
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(feature = "std"))]
    {
        false
    }
}

/// Lane mask of the first `m` lanes (`m <= 16`).
#[inline(always)]
pub(super) fn lanes(m: usize) -> __mmask16 {
    if m >= 16 {
        0xffff
    } else {
        (1u16 << m) - 1
    }
}

/// `m` (1 to 16) stored elements of `w` from element `i`, zeros in the
/// other lanes.
///
/// # Safety
///
/// The features are present and `w` holds elements `i..i + m`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn load_w(w: &Weights<'_>, i: usize, m: usize) -> __m512 {
    let p = w.bytes().as_ptr();
    match w.dtype() {
        DType::F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(m), p.add(2 * i).cast())),
        DType::F32 => _mm512_maskz_loadu_ps(lanes(m), p.add(4 * i).cast()),
        // Integer weights: `dense_fits` and `conv_fits` reject them.
        DType::I8 | DType::I16 | DType::I32 => _mm512_setzero_ps(),
    }
}

/// Lane `j` of register `r` to lane `r` of register `j`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn transpose16(r: &mut [__m512; 16]) {
    // Pairs of rows interleaved within 128-bit blocks.
    let mut t = [_mm512_setzero_ps(); 16];
    for a in 0..8 {
        t[2 * a] = _mm512_unpacklo_ps(r[2 * a], r[2 * a + 1]);
        t[2 * a + 1] = _mm512_unpackhi_ps(r[2 * a], r[2 * a + 1]);
    }
    // e[k][b]: in 128-bit block q, lane 4q + k of rows 4b..4b + 4.
    let mut e = [[_mm512_setzero_pd(); 4]; 4];
    for b in 0..4 {
        let lo = |i: usize| _mm512_castps_pd(t[4 * b + i]);
        e[0][b] = _mm512_unpacklo_pd(lo(0), lo(2));
        e[1][b] = _mm512_unpackhi_pd(lo(0), lo(2));
        e[2][b] = _mm512_unpacklo_pd(lo(1), lo(3));
        e[3][b] = _mm512_unpackhi_pd(lo(1), lo(3));
    }
    // A 4x4 transpose of 128-bit blocks for each k.
    for (k, ek) in e.iter().enumerate() {
        let ek = ek.map(|v| _mm512_castpd_ps(v));
        let f0 = _mm512_shuffle_f32x4::<0x44>(ek[0], ek[1]);
        let f1 = _mm512_shuffle_f32x4::<0xee>(ek[0], ek[1]);
        let f2 = _mm512_shuffle_f32x4::<0x44>(ek[2], ek[3]);
        let f3 = _mm512_shuffle_f32x4::<0xee>(ek[2], ek[3]);
        r[k] = _mm512_shuffle_f32x4::<0x88>(f0, f2);
        r[4 + k] = _mm512_shuffle_f32x4::<0xdd>(f0, f2);
        r[8 + k] = _mm512_shuffle_f32x4::<0x88>(f1, f3);
        r[12 + k] = _mm512_shuffle_f32x4::<0xdd>(f1, f3);
    }
}

/// `conv2d`; the AVX2 kernel where the CPU lacks AVX-512 or the geometry
/// is outside the two paths above, the portable one where the vector
/// kernels do not apply.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv_prepared(ConvArgs::new(w, b, g, x, false), y, &[])
}

/// `conv_transpose2d`; falls back like [`conv2d`].
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv_prepared(ConvArgs::new(w, b, g, x, true), y, &[])
}

// ---- prepared weights ----

/// f32 values of a convolution's weights transposed once by [`prepare_conv`]:
/// every block of 16 output channels as `[input channel][tap][16]`. 0 where
/// this CPU or geometry does not run these kernels (nothing to prepare).
pub fn prepared_len(g: &ConvGeom, transpose: bool) -> usize {
    if !available() || !conv_512_supported(g, transpose) || narrow_supported(g, transpose) {
        return 0;
    }
    g.out_c
        .div_ceil(16)
        .saturating_mul(g.in_c)
        .saturating_mul(g.kernel * g.kernel * 16)
}

/// Transposes the weights of a convolution into `dst` (at least
/// [`prepared_len`] values; lanes past the last output channel of a block
/// are left as they were and never read). False, with nothing written,
/// when there is nothing to prepare or the weights or `dst` are too short.
pub fn prepare_conv(w: Weights<'_>, g: &ConvGeom, transpose: bool, dst: &mut [f32]) -> bool {
    let n = prepared_len(g, transpose);
    let wl = g
        .out_c
        .checked_mul(g.in_c)
        .and_then(|v| v.checked_mul(g.kernel * g.kernel));
    if n == 0 || dst.len() < n || wl.is_none_or(|wl| w.len() < wl) {
        return false;
    }
    let kk = g.kernel * g.kernel;
    for ob in (0..g.out_c).step_by(16) {
        let nl = 16.min(g.out_c - ob);
        for c in 0..g.in_c {
            let at = ((ob / 16) * g.in_c + c) * kk * 16;
            // SAFETY: the features are present (n > 0); `at + kk * 16 <= n
            // <= dst.len()`, and the weights hold every element read.
            unsafe { transpose_weights(&w, g, transpose, c, ob, nl, dst.as_mut_ptr().add(at)) };
        }
    }
    true
}

/// [`conv2d`](crate::kernels::conv2d) or
/// [`conv_transpose2d`](crate::kernels::conv_transpose2d) (`c.transpose`)
/// with the weights that [`prepare_conv`] transposed into `pre`; the
/// kernels without them where `pre` is shorter than [`prepared_len`] (so
/// the result is the same either way).
pub(crate) fn conv_prepared(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
    let ConvArgs {
        w,
        b,
        g,
        x,
        transpose,
    } = c;
    if !available() || !conv_512_supported(g, transpose) {
        return lane8::conv::<Avx>(c, y);
    }
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    if narrow_supported(g, transpose) {
        // SAFETY: the features are present and the sizes checked.
        return unsafe { convt_narrow(&w, &b, g, x, y) };
    }
    let n = prepared_len(g, transpose);
    let pre = (n > 0 && pre.len() >= n).then_some(pre);
    // SAFETY: the features are present and the sizes checked; `pre` holds
    // the prepared length if any.
    unsafe { conv_512(c, y, pre) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_moves_lane_j_of_r_to_lane_r_of_j() {
        if !available() {
            return;
        }
        let m: [[f32; 16]; 16] =
            core::array::from_fn(|r| core::array::from_fn(|j| (r * 16 + j) as f32));
        let mut got = [[0.0f32; 16]; 16];
        // SAFETY: the features are present; every row holds 16 f32.
        unsafe { transpose_rows(&m, &mut got) };
        for r in 0..16 {
            for j in 0..16 {
                assert_eq!(got[j][r], m[r][j], "{r} {j}");
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn transpose_rows(m: &[[f32; 16]; 16], out: &mut [[f32; 16]; 16]) {
        let mut r = m.map(|row| _mm512_loadu_ps(row.as_ptr()));
        transpose16(&mut r);
        for (o, v) in out.iter_mut().zip(&r) {
            _mm512_storeu_ps(o.as_mut_ptr(), *v);
        }
    }
}
