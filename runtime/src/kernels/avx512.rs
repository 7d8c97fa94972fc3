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
//!   the AVX2 kernels (module `simd`). With 16 or more output channels one
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
//! masks and 9 KiB of row and run lists (less than the AVX2 kernels' 104
//! KiB, which run instead where this set does not apply).

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::simd::{narrow_taps, tap, tap_masks, KMAX, NARROW_CMAX, SIDE};
use super::{conv_fits, dense_fits, x86, ConvGeom, Weights, LANES};
use crate::format::DType;

/// Whether this CPU runs the kernels of this module.
#[inline]
pub fn available() -> bool {
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
fn lanes(m: usize) -> __mmask16 {
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
unsafe fn load_w(w: &Weights<'_>, i: usize, m: usize) -> __m512 {
    let p = w.bytes().as_ptr();
    match w.dtype() {
        DType::F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(m), p.add(2 * i).cast())),
        DType::F32 => _mm512_maskz_loadu_ps(lanes(m), p.add(4 * i).cast()),
    }
}

/// Lane `j` of register `r` to lane `r` of register `j`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn transpose16(r: &mut [__m512; 16]) {
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

// ---- dense ----

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dense_512(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let blocks = y.len() / 16;
    for blk in 0..blocks {
        rows16(&w, &b, x, y, blk * 16);
    }
}

/// Rows `first..first + 16`.
///
/// # Safety
///
/// The features are present, `dense_fits(w, b, x.len(), y.len())` holds
/// and `first + 16 <= y.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn rows16(w: &Weights<'_>, b: &Weights<'_>, x: &[f32], y: &mut [f32], first: usize) {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let xp = x.as_ptr();
    let mut acc = [_mm512_setzero_ps(); 16];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 <= full <= x.len(); row `first + r` holds elements
        // `(first + r) * n..` + n of `w`, inside the checked length.
        let xv = _mm512_loadu_ps(xp.add(i));
        for (r, a) in acc.iter_mut().enumerate() {
            let wv = load_w(w, (first + r) * n + i, 16);
            *a = _mm512_add_ps(*a, _mm512_mul_ps(wv, xv));
        }
        i += LANES;
    }
    transpose16(&mut acc);
    let mut s = acc[0];
    for a in &acc[1..] {
        s = _mm512_add_ps(s, *a);
    }
    if tail > 0 && (tail > 1 || full > 0) && 16 * n * 4 < i32::MAX as usize {
        s = tail_gathered(w, x, first, s);
    } else if tail > 0 {
        let mut t = [_mm512_setzero_ps(); 16];
        for (r, tv) in t.iter_mut().enumerate() {
            *tv = load_w(w, (first + r) * n + full, tail);
        }
        transpose16(&mut t);
        for (j, tv) in t.iter().enumerate() {
            if j < tail {
                // SAFETY: full + j < n = x.len().
                let xv = _mm512_set1_ps(*xp.add(full + j));
                s = _mm512_add_ps(s, _mm512_mul_ps(*tv, xv));
            }
        }
    }
    s = _mm512_add_ps(s, load_w(b, first, 16));
    // SAFETY: first + 16 <= y.len().
    _mm512_storeu_ps(y.as_mut_ptr().add(first), s);
}

/// `s` plus the tail products of rows `first..first + 16`, column by
/// column: each column is gathered across the sixteen rows (f16 columns two
/// at a time, as the halves of 32-bit words, every word inside its row).
///
/// # Safety
///
/// As for [`rows16`]; the tail is not empty, `n > 1` and `16 * n * 4`
/// fits an `i32`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn tail_gathered(w: &Weights<'_>, x: &[f32], first: usize, mut s: __m512) -> __m512 {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let size = w.dtype().size();
    let rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((n * size) as i32),
    );
    // SAFETY: the block's rows start here.
    let p = w.bytes().as_ptr().add(first * n * size);
    let mut add = |j: usize, col: __m512| {
        // SAFETY: j < tail, so full + j < n = x.len().
        let xv = _mm512_set1_ps(*x.as_ptr().add(full + j));
        s = _mm512_add_ps(s, _mm512_mul_ps(col, xv));
    };
    match w.dtype() {
        DType::F16 => {
            let mut j = 0;
            while j < tail {
                // Columns j and j + 1, or for a last odd column the word
                // that ends with it (full + j >= 1 as n > 1).
                let pair = j + 1 < tail;
                let at = if pair { full + j } else { full + j - 1 };
                let off = _mm512_add_epi32(rows, _mm512_set1_epi32((at * 2) as i32));
                // SAFETY: every word read holds elements `at` and `at + 1`
                // of a row of the block, inside `w`.
                let v = _mm512_i32gather_epi32::<1>(off, p.cast());
                let lo = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
                let hi = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(v)));
                if pair {
                    add(j, lo);
                    add(j + 1, hi);
                } else {
                    add(j, hi);
                }
                j += 2;
            }
        }
        DType::F32 => {
            for j in 0..tail {
                let off = _mm512_add_epi32(rows, _mm512_set1_epi32(((full + j) * 4) as i32));
                // SAFETY: element `full + j` of each row of the block.
                add(j, _mm512_i32gather_ps::<1>(off, p.cast()));
            }
        }
    }
    s
}

/// Rows at least this long run the AVX2 kernel: the finish is then a few
/// per cent of a row, and reading four rows at once (rather than sixteen)
/// streams large weight matrices from memory slightly faster.
const LONG: usize = 1024;

/// Dense layer (see the module docs of `kernels` for the order); the AVX2
/// kernel for the last rows (fewer than 16), rows of `LONG` inputs or
/// more, and where the CPU lacks AVX-512.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !available() {
        return x86::dense(w, b, x, y);
    }
    let n = x.len();
    if n >= LONG {
        return x86::dense(w, b, x, y);
    }
    if !dense_fits(&w, &b, n, y.len()) {
        return;
    }
    // SAFETY: the features are present and the sizes checked.
    unsafe { dense_512(w, b, x, y) };
    last_rows(w, b, x, y);
}

/// The rows after the last full block of 16, which the AVX2 kernel runs.
fn last_rows(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let done = y.len() - y.len() % 16;
    if done < y.len() {
        let rest = y.len() - done;
        x86::dense(
            w.slice(done * n, rest * n),
            b.slice(done, rest),
            x,
            &mut y[done..],
        );
    }
}

// ---- prepared dense ----

/// f32 slots [`prepare_dense`] fills for a dense layer: its full blocks of
/// 16 rows as f16, `[block][input][row]`, two f16 per slot. 0 for f32
/// weights (their f32 copy would outgrow L2 and gain nothing) and where
/// this CPU lacks AVX-512.
pub fn dense_prepared_len(w: &Weights<'_>, n_in: usize, n_out: usize) -> usize {
    if !available() || w.dtype() != DType::F16 {
        return 0;
    }
    (n_out / 16).saturating_mul(n_in).saturating_mul(8)
}

/// Writes a dense layer's f16 weights in the order [`dense_prepared`]
/// reads them: for every block of 16 rows, input by input, the 16 rows'
/// weights side by side. False, with nothing written, where there is
/// nothing to prepare or `w` or `dst` is too short.
pub fn prepare_dense(w: Weights<'_>, n_in: usize, n_out: usize, dst: &mut [f32]) -> bool {
    let n = dense_prepared_len(&w, n_in, n_out);
    let src = w.bytes();
    if n == 0 || dst.len() < n || n_in.saturating_mul(n_out).saturating_mul(2) > src.len() {
        return false;
    }
    let half = |row: usize, i: usize| {
        let at = 2 * (row * n_in + i);
        u32::from(u16::from_le_bytes([src[at], src[at + 1]]))
    };
    for (blk, out) in dst[..n].chunks_exact_mut(n_in * 8).enumerate() {
        for (i, pairs) in out.chunks_exact_mut(8).enumerate() {
            for (p, slot) in pairs.iter_mut().enumerate() {
                let r = blk * 16 + 2 * p;
                // The bits travel unchanged: f32 moves never touch them.
                *slot = f32::from_bits(half(r, i) | half(r + 1, i) << 16);
            }
        }
    }
    true
}

/// Dense layer reading the weights [`prepare_dense`] wrote to `pre`: each
/// register holds one partial sum of 16 rows, so the sums need no
/// transposition and every weight load is one contiguous 32-byte read.
/// Rows past the last full block, and every row where `pre` is shorter
/// than [`dense_prepared_len`], run [`dense`]; the bits are the same.
pub fn dense_prepared(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    let n = dense_prepared_len(&w, x.len(), y.len());
    if n == 0 || pre.len() < n {
        return dense(w, b, x, y);
    }
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    // SAFETY: the features are present (n > 0), the sizes checked and
    // `pre` holds every full block.
    unsafe { dense_prepared_512(b, x, y, pre) };
    last_rows(w, b, x, y);
}

/// # Safety
///
/// The features are present, `b` holds `y.len()` elements and `pre`
/// `(y.len() / 16) * x.len() * 8`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dense_prepared_512(b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    let n = x.len();
    let tail = n % LANES;
    let full = n - tail;
    let xp = x.as_ptr();
    let row = |p: *const u8| _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
    for blk in 0..y.len() / 16 {
        // SAFETY (loads): input i of the block is 32 bytes at `wp + 32 i`.
        let wp = pre.as_ptr().add(blk * n * 8).cast::<u8>();
        let mut acc = [_mm512_setzero_ps(); 16];
        let mut i = 0;
        while i < full {
            for (j, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*xp.add(i + j));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(row(wp.add(32 * (i + j))), xv));
            }
            i += LANES;
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s = _mm512_add_ps(s, *a);
        }
        for i in full..n {
            let xv = _mm512_set1_ps(*xp.add(i));
            s = _mm512_add_ps(s, _mm512_mul_ps(row(wp.add(32 * i)), xv));
        }
        s = _mm512_add_ps(s, load_w(&b, blk * 16, 16));
        _mm512_storeu_ps(y.as_mut_ptr().add(blk * 16), s);
    }
}

// ---- convolutions ----

/// f32 in the transposed weight buffer (64 KiB: a 64 -> 16 channel block
/// with 4x4 kernels fits in one piece).
const WT: usize = 16384;
/// Pixels per run (one register in the pixel path).
const RUN: usize = 16;
/// Largest pixel run of a tile in the channel path.
const CHUNK: usize = 8;

/// Whether [`conv`] handles this geometry with AVX-512 (otherwise the AVX2
/// kernels run).
fn conv_512_supported(g: &ConvGeom, transpose: bool) -> bool {
    super::simd::conv_supported(g) && (g.out_c >= 16 || transpose || g.stride == 1)
}

/// Input position of the first tap of output position `o` with tap mask
/// `m` (0 when it has none).
#[inline(always)]
fn first_tap(transpose: bool, o: usize, m: u64, g: &ConvGeom, n: usize) -> usize {
    if m == 0 {
        return 0;
    }
    tap(transpose, o, m.trailing_zeros() as usize, g, n).unwrap_or(0)
}

/// Pixels of one output row of a group whose first taps are `xstep` input
/// columns apart: first output column, output column step, first tap's
/// input column, count.
#[derive(Clone, Copy, Default)]
struct Run {
    ox: u32,
    ostep: u32,
    ix: u32,
    n: u32,
}

/// One block of 16 output channels and `cn` input channels.
struct Block<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    /// `[c][tap][16]`, written for the block's `cn * kk * 16` elements.
    wt: *const f32,
    bias: __m512,
    c0: usize,
    cn: usize,
    ob: usize,
    nl: usize,
    first: bool,
    transpose: bool,
}

/// A group's taps in summation order (kernel row, then column) for every
/// input channel: offset of the weights within a channel's block of the
/// transposed buffer, and of the input relative to each pixel's first-tap
/// offset within a channel.
struct Taps {
    w: [usize; KMAX * KMAX],
    x: [isize; KMAX * KMAX],
    n: usize,
}

/// With `pre`, the weights already transposed by [`prepare`] (`pre` holds
/// [`prepared_len`] values); without, each block's are transposed here.
///
/// # Safety
///
/// The features are present, `conv_fits` holds and `conv_512_supported`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn conv_512(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
    pre: Option<&[f32]>,
) {
    let k = g.kernel;
    let kk = k * k;
    let (rmask, cmask) = tap_masks(g, transpose);
    let rmask = &rmask[..g.out_h];
    let cmask = &cmask[..g.out_w];
    let mut wt = MaybeUninit::<[f32; WT]>::uninit();
    let wtp = wt.as_mut_ptr().cast::<f32>();
    // Input channels per block (kk <= 64, so at least 16).
    let cb = (WT / (kk * 16)).max(1);
    let mut e = Taps {
        w: [0; KMAX * KMAX],
        x: [0; KMAX * KMAX],
        n: 0,
    };
    let mut ob = 0;
    while ob < g.out_c {
        let nl = 16.min(g.out_c - ob);
        let mut c0 = 0;
        while c0 < g.in_c {
            let cn = cb.min(g.in_c - c0);
            let wt = match pre {
                // SAFETY: `pre` holds every block's transposed weights, in
                // this order (`prepared_len`, `prepare`).
                Some(p) => p.as_ptr().add(((ob / 16) * g.in_c + c0) * kk * 16),
                None => {
                    for c in 0..cn {
                        // SAFETY: (c + 1) * kk * 16 <= cn * kk * 16 <= WT.
                        transpose_weights(&w, g, transpose, c0 + c, ob, nl, wtp.add(c * kk * 16));
                    }
                    wtp.cast_const()
                }
            };
            let blk = Block {
                g,
                x,
                wt,
                bias: load_w(&b, ob, nl),
                c0,
                cn,
                ob,
                nl,
                first: c0 == 0,
                transpose,
            };
            for (oy0, &rm) in rmask.iter().enumerate() {
                if rmask[..oy0].contains(&rm) {
                    continue;
                }
                for (ox0, &cm) in cmask.iter().enumerate() {
                    if cmask[..ox0].contains(&cm) {
                        continue;
                    }
                    blk.entries(oy0, ox0, rm, cm, &mut e);
                    blk.group(&e, rmask, cmask, rm, cm, y);
                }
            }
            c0 += cn;
        }
        ob += 16;
    }
}

/// The taps of input channel `c` for output channels `ob..ob + nl` into
/// `dst[t * 16 + l]` (zeros for `l >= nl`): sixteen channels' rows of taps
/// are loaded, converted and transposed in registers.
///
/// # Safety
///
/// The features are present, `conv_fits` holds for `w`, and `dst` is
/// valid for `kk * 16` f32.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn transpose_weights(
    w: &Weights<'_>,
    g: &ConvGeom,
    transpose: bool,
    c: usize,
    ob: usize,
    nl: usize,
    dst: *mut f32,
) {
    let kk = g.kernel * g.kernel;
    let base = |l: usize| {
        let o = ob + l;
        if transpose {
            (c * g.out_c + o) * kk
        } else {
            (o * g.in_c + c) * kk
        }
    };
    if nl < 4 {
        // Few channels (the pixel path reads lanes below `nl` only).
        for l in 0..nl {
            for t in 0..kk {
                // SAFETY: element `base(l) + t` lies inside `w`.
                *dst.add(t * 16 + l) = _mm512_cvtss_f32(load_w(w, base(l) + t, 1));
            }
        }
        return;
    }
    let mut t0 = 0;
    while t0 < kk {
        let m = 16.min(kk - t0);
        // Sixteen loads whatever `nl` (rows past it masked off), so that
        // the rows stay in registers.
        let mut r = [_mm512_setzero_ps(); 16];
        for (l, v) in r.iter_mut().enumerate() {
            let mm = if l < nl { m } else { 0 };
            // SAFETY: elements `base + t0..base + t0 + m` lie inside `w`
            // for l < nl; nothing is read for the other rows.
            *v = load_w(w, base(l.min(nl - 1)) + t0, mm);
        }
        transpose16(&mut r);
        for (j, v) in r.iter().enumerate() {
            if j < m {
                _mm512_storeu_ps(dst.add((t0 + j) * 16), *v);
            }
        }
        t0 += 16;
    }
}

/// Splits `n` pixels into chunks of at most [`CHUNK`], as even as possible.
#[inline(always)]
fn chunks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let parts = n.div_ceil(CHUNK);
    (0..parts).map(move |i| {
        let start = i * n / parts;
        (start, (i + 1) * n / parts - start)
    })
}

/// Rows of a channel-path tile for a chunk of `l` pixels (at most 18
/// accumulators, at most 6 row pointers).
#[inline(always)]
fn tile_rows(l: usize) -> usize {
    (18 / l.max(1)).clamp(1, 6)
}

macro_rules! tile_dispatch {
    ($self:ident, $unit:expr, $r:expr, $l:expr, $args:tt; $( ($rr:literal, $ll:literal) ),* ) => {
        match ($unit, $r, $l) {
            $(
                (true, $rr, $ll) => $self.tile_channels::<$rr, $ll, true> $args,
                (false, $rr, $ll) => $self.tile_channels::<$rr, $ll, false> $args,
            )*
            _ => {}
        }
    };
}

impl Block<'_> {
    /// Lists the group's taps into `e`.
    #[inline]
    fn entries(&self, oy0: usize, ox0: usize, rm: u64, cm: u64, e: &mut Taps) {
        let g = self.g;
        let k = g.kernel;
        let first = (first_tap(self.transpose, oy0, rm, g, g.in_h) * g.in_w
            + first_tap(self.transpose, ox0, cm, g, g.in_w)) as isize;
        e.n = 0;
        for ky in (0..k).filter(|ky| rm >> ky & 1 == 1) {
            let iy = tap(self.transpose, oy0, ky, g, g.in_h).unwrap_or(0);
            for kx in (0..k).filter(|kx| cm >> kx & 1 == 1) {
                let ix = tap(self.transpose, ox0, kx, g, g.in_w).unwrap_or(0);
                if let (Some(w), Some(x)) = (e.w.get_mut(e.n), e.x.get_mut(e.n)) {
                    *w = (ky * k + kx) * 16;
                    *x = (iy * g.in_w + ix) as isize - first;
                    e.n += 1;
                }
            }
        }
    }

    /// Every pixel of the group with masks `(rm, cm)`, in tiles.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn group(
        &self,
        e: &Taps,
        rmask: &[u64],
        cmask: &[u64],
        rm: u64,
        cm: u64,
        y: &mut [f32],
    ) {
        let g = self.g;
        let xstep = if self.transpose { 1 } else { g.stride };
        let mut rows = [0u16; SIDE];
        let mut nr = 0;
        for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
            if let Some(r) = rows.get_mut(nr) {
                *r = oy as u16;
                nr += 1;
            }
        }
        let rows = &rows[..nr];
        // Column runs, the same for every row of the group.
        let mut runs = [MaybeUninit::<Run>::uninit(); SIDE];
        let mut nrun = 0;
        let mut last = 0;
        for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
            let ix = first_tap(self.transpose, ox, cm, g, g.in_w);
            if nrun > 0 {
                // SAFETY: runs[..nrun] are written.
                let r = runs[nrun - 1].assume_init_mut();
                let (n, rix) = (r.n as usize, r.ix as usize);
                let step_ok = n == 1 || ox - last == r.ostep as usize;
                if n < RUN && ix == rix + n * xstep && step_ok {
                    if n == 1 {
                        r.ostep = (ox - last) as u32;
                    }
                    r.n += 1;
                    last = ox;
                    continue;
                }
            }
            runs[nrun].write(Run {
                ox: ox as u32,
                ostep: 1,
                ix: ix as u32,
                n: 1,
            });
            nrun += 1;
            last = ox;
        }
        // SAFETY: runs[..nrun] are written.
        let runs = core::slice::from_raw_parts(runs.as_ptr().cast::<Run>(), nrun);
        if g.out_c >= 16 {
            for run in runs {
                for (s, l) in chunks(run.n as usize) {
                    let chunk = Run {
                        ox: run.ox + (s * run.ostep as usize) as u32,
                        ostep: run.ostep,
                        ix: run.ix + (s * xstep) as u32,
                        n: l as u32,
                    };
                    let tr = tile_rows(l);
                    for rs in rows.chunks(tr) {
                        tile_dispatch!(self, xstep == 1, rs.len(), l, (e, rs, chunk, xstep, rm, y);
                            (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1),
                            (1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2),
                            (1, 3), (2, 3), (3, 3), (4, 3), (5, 3), (6, 3),
                            (1, 4), (2, 4), (3, 4), (4, 4),
                            (1, 5), (2, 5), (3, 5),
                            (1, 6), (2, 6), (3, 6),
                            (1, 7), (2, 7),
                            (1, 8), (2, 8));
                    }
                }
            }
        } else {
            for l in 0..self.nl {
                for run in runs {
                    for rs in rows.chunks(8) {
                        macro_rules! tile {
                            ($r:literal) => {
                                if !self.tile_grid::<$r>(e, rs, *run, l, rm, y) {
                                    self.tile_pixels::<$r>(e, rs, *run, l, rm, y)
                                }
                            };
                        }
                        match rs.len() {
                            1 => tile!(1),
                            2 => tile!(2),
                            3 => tile!(3),
                            4 => tile!(4),
                            5 => tile!(5),
                            6 => tile!(6),
                            7 => tile!(7),
                            8 => tile!(8),
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    /// Channel path: `R` rows times `L` pixels of a run, 16 channels each.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tile_channels<const R: usize, const L: usize, const UNIT: bool>(
        &self,
        e: &Taps,
        rows: &[u16],
        run: Run,
        xstep: usize,
        rm: u64,
        y: &mut [f32],
    ) {
        let g = self.g;
        let plane_out = g.out_h * g.out_w;
        let xs = if UNIT { 1 } else { xstep };
        let mut base = [0usize; R];
        let mut at = [0usize; R];
        for ((bs, a), &oy) in base.iter_mut().zip(at.iter_mut()).zip(rows) {
            let oy = oy as usize;
            *bs = first_tap(self.transpose, oy, rm, g, g.in_h) * g.in_w + run.ix as usize;
            *a = oy * g.out_w + run.ox as usize;
        }
        let ostep = run.ostep as usize;
        let mut acc = [[self.bias; L]; R];
        if !self.first {
            for (ar, &a0) in acc.iter_mut().zip(&at) {
                for (j, a) in ar.iter_mut().enumerate() {
                    let mut init = [0.0f32; 16];
                    for (l, v) in init.iter_mut().enumerate().take(self.nl) {
                        let i = (self.ob + l) * plane_out + a0 + j * ostep;
                        *v = y.get(i).copied().unwrap_or(0.0);
                    }
                    *a = _mm512_loadu_ps(init.as_ptr());
                }
            }
        }
        let kk16 = g.kernel * g.kernel * 16;
        let plane_in = g.in_h * g.in_w;
        let taps = e.n.min(KMAX * KMAX);
        for c in 0..self.cn {
            // SAFETY: (c + 1) * kk * 16 <= cn * kk * 16 <= WT, all written.
            let wc = self.wt.add(c * kk16);
            let xc = self.x.as_ptr().wrapping_add((self.c0 + c) * plane_in);
            for t in 0..taps {
                // SAFETY: `t < e.n <= KMAX * KMAX`; the tap's weights lie
                // inside the channel's block.
                let wv = _mm512_loadu_ps(wc.add(*e.w.get_unchecked(t)));
                let xt = xc.wrapping_offset(*e.x.get_unchecked(t));
                for (ar, &bs) in acc.iter_mut().zip(&base) {
                    let xr = xt.wrapping_add(bs);
                    for (j, a) in ar.iter_mut().enumerate() {
                        // SAFETY: every pixel of the group reads this tap
                        // at its first-tap offset plus the tap's offset, a
                        // valid input (the tap is in its masks, `conv_fits`
                        // bounds the channel); pixel j of the run has its
                        // first tap j * xs further.
                        let xv = _mm512_set1_ps(*xr.wrapping_add(j * xs));
                        *a = _mm512_add_ps(*a, _mm512_mul_ps(wv, xv));
                    }
                }
            }
        }
        let mut out = [0.0f32; 16];
        for (ar, &a0) in acc.iter().zip(&at) {
            for (j, a) in ar.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr(), *a);
                let p = a0 + j * ostep;
                // One bounds check per pixel (`conv_fits` makes it pass).
                let Some(d) = y.get_mut(self.ob * plane_out + p..) else {
                    continue;
                };
                if (self.nl - 1) * plane_out < d.len() {
                    for (l, v) in out.iter().enumerate().take(self.nl) {
                        // SAFETY: checked just above.
                        *d.get_unchecked_mut(l * plane_out) = *v;
                    }
                }
            }
        }
    }

    /// Pixel path for a 2x2 grid of taps (a transposed convolution with
    /// kernel 4 and stride 2 inside the image) over `R` rows whose inputs
    /// are consecutive rows: a row's second kernel row reads the input row
    /// of the previous row's first, so each input vector is loaded once
    /// and used by two rows (loads, not arithmetic, bound this path).
    /// Returns false, doing nothing, where the taps or rows do not line up.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tile_grid<const R: usize>(
        &self,
        e: &Taps,
        rows: &[u16],
        run: Run,
        l: usize,
        rm: u64,
        y: &mut [f32],
    ) -> bool {
        let g = self.g;
        let in_w = g.in_w as isize;
        // Taps at input offsets 0, d, -in_w, d - in_w: whatever the kernel,
        // tap t of row r then reads the vector of input row r + 1 (taps 0
        // and 1) or r (taps 2 and 3), counted from the row before the
        // tile's first, at column offset 0 (taps 0 and 2) or d (1 and 3).
        if e.n != 4 || rows.len() != R || e.x[2] != -in_w || e.x[3] != e.x[1] - in_w {
            return false;
        }
        let iy = |oy: u16| first_tap(self.transpose, oy as usize, rm, g, g.in_h);
        let iy0 = iy(rows[0]);
        if rows.iter().enumerate().any(|(r, &oy)| iy(oy) != iy0 + r) {
            return false;
        }
        let plane_out = g.out_h * g.out_w;
        let plane_in = g.in_h * g.in_w;
        let n = run.n as usize;
        let m = lanes(n);
        let ostep = run.ostep as usize;
        let mut at = [0usize; R];
        for (a, &oy) in at.iter_mut().zip(rows) {
            *a = (self.ob + l) * plane_out + oy as usize * g.out_w + run.ox as usize;
        }
        let mut acc = self.pixel_sums_start(l, &at, n, ostep, y);
        let kk16 = g.kernel * g.kernel * 16;
        let d = e.x[1];
        let base = iy0 * g.in_w + run.ix as usize;
        for c in 0..self.cn {
            // SAFETY: as in `tile_channels`; `l < 16`.
            let wc = self.wt.add(c * kk16 + (l & 15));
            let wv: [__m512; 4] = core::array::from_fn(|t| _mm512_set1_ps(*wc.add(e.w[t])));
            // Input row iy0 - 1 of the channel at the run's first column.
            let x0 = self
                .x
                .as_ptr()
                .wrapping_add((self.c0 + c) * plane_in + base)
                .wrapping_offset(-in_w);
            // SAFETY (loads): each vector is what some row reads for some
            // tap (lanes 0..n valid inputs, the rest masked off).
            let load = |q: usize, off: isize| {
                _mm512_maskz_loadu_ps(m, x0.wrapping_add(q * g.in_w).wrapping_offset(off))
            };
            let mut prev = [load(0, 0), load(0, d)];
            for (r, a) in acc.iter_mut().enumerate() {
                let cur = [load(r + 1, 0), load(r + 1, d)];
                *a = _mm512_add_ps(*a, _mm512_mul_ps(wv[0], cur[0]));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(wv[1], cur[1]));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(wv[2], prev[0]));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(wv[3], prev[1]));
                prev = cur;
            }
        }
        store_pixel_sums(&acc, &at, n, ostep, y);
        true
    }

    /// Pixel path: `R` rows of a run of up to 16 pixels that read
    /// consecutive inputs, output channel `ob + l`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tile_pixels<const R: usize>(
        &self,
        e: &Taps,
        rows: &[u16],
        run: Run,
        l: usize,
        rm: u64,
        y: &mut [f32],
    ) {
        let g = self.g;
        let plane_out = g.out_h * g.out_w;
        let n = run.n as usize;
        let m = lanes(n);
        let ostep = run.ostep as usize;
        let mut base = [0usize; R];
        let mut at = [0usize; R];
        for ((bs, a), &oy) in base.iter_mut().zip(at.iter_mut()).zip(rows) {
            let oy = oy as usize;
            *bs = first_tap(self.transpose, oy, rm, g, g.in_h) * g.in_w + run.ix as usize;
            *a = (self.ob + l) * plane_out + oy * g.out_w + run.ox as usize;
        }
        let mut acc = self.pixel_sums_start(l, &at, n, ostep, y);
        let kk16 = g.kernel * g.kernel * 16;
        let plane_in = g.in_h * g.in_w;
        let taps = e.n.min(KMAX * KMAX);
        for c in 0..self.cn {
            // SAFETY: as in `tile_channels`; `l < 16`.
            let wc = self.wt.add(c * kk16 + (l & 15));
            let xc = self.x.as_ptr().wrapping_add((self.c0 + c) * plane_in);
            for t in 0..taps {
                let wv = _mm512_set1_ps(*wc.add(*e.w.get_unchecked(t)));
                let xt = xc.wrapping_offset(*e.x.get_unchecked(t));
                for (a, &bs) in acc.iter_mut().zip(&base) {
                    // SAFETY: lanes 0..n are valid consecutive inputs (see
                    // `tile_channels`); the other lanes are masked off, and
                    // masked lanes of a load never fault.
                    let xv = _mm512_maskz_loadu_ps(m, xt.wrapping_add(bs));
                    *a = _mm512_add_ps(*a, _mm512_mul_ps(wv, xv));
                }
            }
        }
        store_pixel_sums(&acc, &at, n, ostep, y);
    }

    /// The starting sums of `R` pixel runs of output channel `ob + l`: its
    /// bias in the first block of input channels, then what the earlier
    /// blocks left in `y` (`n` outputs `ostep` apart from each `at`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn pixel_sums_start<const R: usize>(
        &self,
        l: usize,
        at: &[usize; R],
        n: usize,
        ostep: usize,
        y: &[f32],
    ) -> [__m512; R] {
        let mut bias = [0.0f32; 16];
        _mm512_storeu_ps(bias.as_mut_ptr(), self.bias);
        let mut acc = [_mm512_set1_ps(bias[l & 15]); R];
        if !self.first {
            for (a, &a0) in acc.iter_mut().zip(at) {
                let mut init = [0.0f32; 16];
                for (i, v) in init.iter_mut().enumerate().take(n) {
                    *v = y.get(a0 + i * ostep).copied().unwrap_or(0.0);
                }
                *a = _mm512_loadu_ps(init.as_ptr());
            }
        }
        acc
    }
}

/// Writes `R` pixel runs' sums back: lanes `0..n` of each to `n` outputs
/// `ostep` apart from its `at`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn store_pixel_sums<const R: usize>(
    acc: &[__m512; R],
    at: &[usize; R],
    n: usize,
    ostep: usize,
    y: &mut [f32],
) {
    let mut out = [0.0f32; 16];
    for (a, &a0) in acc.iter().zip(at) {
        _mm512_storeu_ps(out.as_mut_ptr(), *a);
        for (i, v) in out.iter().enumerate().take(n) {
            if let Some(d) = y.get_mut(a0 + i * ostep) {
                *d = *v;
            }
        }
    }
}

/// `conv2d`; the AVX2 kernel where the CPU lacks AVX-512 or the geometry
/// is outside the two paths above, the portable one where the vector
/// kernels do not apply.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv(w, b, g, x, y, false, None)
}

/// `conv_transpose2d`; falls back like [`conv2d`].
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    conv(w, b, g, x, y, true, None)
}

/// Either convolution, with the weights [`prepare`] wrote if `pre` holds
/// them (at least [`prepared_len`] values).
#[allow(clippy::too_many_arguments)]
fn conv(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
    pre: Option<&[f32]>,
) {
    if !available() || !conv_512_supported(g, transpose) {
        return if transpose {
            x86::conv_transpose2d(w, b, g, x, y)
        } else {
            x86::conv2d(w, b, g, x, y)
        };
    }
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    if narrow_supported(g, transpose) {
        // SAFETY: the features are present and the sizes checked.
        return unsafe { convt_narrow(&w, &b, g, x, y) };
    }
    // SAFETY: the features are present and the sizes checked; a `pre` is
    // only passed with the prepared length.
    unsafe { conv_512(w, b, g, x, y, transpose, pre) }
}

// ---- narrow transposed convolution, kernel 4, stride 2 ----

/// Whether [`convt_narrow`] runs this geometry: the last layer of most
/// image generators (a transposed convolution with kernel 4, stride 2 and
/// padding 1 that doubles the side, to fewer than 16 channels).
fn narrow_supported(g: &ConvGeom, transpose: bool) -> bool {
    transpose && super::simd::k4s2_narrow(g, 16)
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
unsafe fn convt_narrow(w: &Weights<'_>, b: &Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
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

// ---- prepared weights ----

/// f32 values of a convolution's weights transposed once by [`prepare`]:
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
pub fn prepare(w: Weights<'_>, g: &ConvGeom, transpose: bool, dst: &mut [f32]) -> bool {
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

/// [`conv2d`] or [`conv_transpose2d`] (`transpose`) with the weights that
/// [`prepare`] transposed into `pre`; the kernels without them where `pre`
/// is shorter than [`prepared_len`] (so the result is the same either way).
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
    let n = prepared_len(g, transpose);
    conv(
        w,
        b,
        g,
        x,
        y,
        transpose,
        (n > 0 && pre.len() >= n).then_some(pre),
    )
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

    fn f16_bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .flat_map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = ((s >> 8) as f32 / 16_777_216.0 - 0.5) * 0.2;
                half::f16::from_f32(v).to_bits().to_le_bytes()
            })
            .collect()
    }

    /// The reordered weights give [`dense`]'s bits: full blocks and a rest
    /// of rows, inputs below, at and above a multiple of 16, long rows.
    #[test]
    fn prepared_dense_equals_dense() {
        if !available() {
            return;
        }
        for (n_in, n_out) in [(1, 16), (15, 33), (16, 16), (17, 47), (100, 64), (1030, 20)] {
            let (wb, bb) = (f16_bytes(n_in * n_out, 1), f16_bytes(n_out, 2));
            let (w, b) = (Weights::new(&wb, DType::F16), Weights::new(&bb, DType::F16));
            let x: Vec<f32> = (0..n_in).map(|i| (i as f32 * 0.37).sin()).collect();
            let n = dense_prepared_len(&w, n_in, n_out);
            assert_eq!(n, (n_out / 16) * n_in * 8);
            let mut pre = vec![f32::NAN; n];
            assert!(prepare_dense(w, n_in, n_out, &mut pre));
            let (mut want, mut got) = (vec![0.0; n_out], vec![0.0; n_out]);
            dense(w, b, &x, &mut want);
            dense_prepared(w, b, &x, &mut got, &pre);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&want), bits(&got), "{n_in} -> {n_out}");
        }
    }

    /// Nothing is written for f32 weights, a short buffer or short weights,
    /// and a short buffer at run time means the unprepared kernel.
    #[test]
    fn prepare_dense_refuses_what_it_cannot_fill() {
        if !available() {
            return;
        }
        let wb = f16_bytes(32 * 20, 3);
        let w = Weights::new(&wb, DType::F16);
        let mut dst = vec![1.0f32; 2 * 20 * 8];
        assert!(!prepare_dense(w, 20, 32, &mut dst[..2 * 20 * 8 - 1]));
        assert!(!prepare_dense(w.slice(0, 32 * 20 - 1), 20, 32, &mut dst));
        assert!(dst.iter().all(|&v| v == 1.0));
        let f32_bytes = vec![0u8; 32 * 20 * 4];
        assert_eq!(
            dense_prepared_len(&Weights::new(&f32_bytes, DType::F32), 20, 32),
            0
        );
        let bb = f16_bytes(32, 4);
        let b = Weights::new(&bb, DType::F16);
        let x = vec![0.5f32; 20];
        let (mut want, mut got) = (vec![0.0; 32], vec![0.0; 32]);
        dense(w, b, &x, &mut want);
        dense_prepared(w, b, &x, &mut got, &dst[..7]);
        assert_eq!(want, got);
    }

    /// `vcvtph2ps` on `zmm` agrees with the reference conversion on every
    /// finite f16.
    #[test]
    fn f16_conversion_is_exact_for_every_finite_value() {
        if !available() {
            return;
        }
        super::super::assert_converts_every_finite_f16(16, |bytes, got| {
            // SAFETY: the features are present; both buffers hold 16 elements.
            unsafe { convert(bytes.try_into().unwrap(), got.try_into().unwrap()) }
        });
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn convert(bytes: &[u8; 32], out: &mut [f32; 16]) {
        let w = Weights::new(bytes, DType::F16);
        _mm512_storeu_ps(out.as_mut_ptr(), load_w(&w, 0, 16))
    }
}
