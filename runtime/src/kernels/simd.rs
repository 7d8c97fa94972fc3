//! Kernels written once over an 8-lane f32 vector ([`Lane8`]) and
//! instantiated per instruction set (`x86` for AVX2 + F16C, `neon` for
//! AArch64). Every lane only ever computes `acc + w * x` with the product
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
//!   vectors) channels, which share every tap, and a tile of up to [`PIX`]
//!   pixels of one group stays in registers through the whole reduction.
//!   With fewer channels, vectors run across up to 8 pixels of a group
//!   that read consecutive inputs (a row of a transposed convolution's
//!   phase, or of a stride-1 convolution), [`PV`] vectors per tile. Either
//!   way each lane adds exactly the taps its output adds, in order (input
//!   channel, kernel row, kernel column). The weights of a block of
//!   channels are first converted to f32 and transposed to
//!   `[input channel][tap][output channel]` in a stack buffer, and a
//!   group's (input channel, tap) pairs are listed once with their weight
//!   and input offsets, so the inner loop is one list walk.
//!
//! Stack use of a convolution: 64 KiB of transposed weights, 32 KiB of
//! tap lists and 8 KiB of masks (host and Raspberry Pi targets only; the
//! Cortex-M kernels do not use this module).
//!
//! Callers check the buffer sizes (`dense_fits`, `conv_fits`) and the CPU
//! features before calling in; inside, raw pointers are only formed for
//! indices those checks bound, as each `SAFETY` comment says.

use super::fast::f16_to_f32;
use super::{ConvGeom, Weights, LANES};
use crate::format::DType;

/// Eight f32 lanes and the few operations the kernels need.
///
/// # Safety
///
/// Implementations may require CPU features: the methods may only be
/// called where the implementing module has established them, and every
/// pointer must be valid for the elements read or written.
pub(crate) unsafe trait Lane8: Copy {
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
    /// Per lane, `a` where `mask` (loaded with [`load`](Self::load) from
    /// all-ones or all-zeros bit patterns) is all ones, else `self`.
    unsafe fn select(self, mask: Self, a: Self) -> Self;
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

/// Stored element `i` of `w` with the branch-free conversion (0.0 past the
/// end, which the callers' size checks rule out).
#[inline(always)]
fn scalar(w: &Weights<'_>, i: usize) -> f32 {
    let bytes = w.bytes();
    match w.dtype() {
        DType::F16 => match bytes.get(2 * i..2 * i + 2) {
            Some(&[a, b]) => f16_to_f32(u16::from_le_bytes([a, b])),
            _ => 0.0,
        },
        DType::F32 => match bytes.get(4 * i..4 * i + 4) {
            Some(&[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        },
    }
}

/// Rows per dense block: 2 vectors each, 8 accumulators in all, which
/// leaves registers for the input and weight vectors on AVX2 (16 registers).
const ROWS: usize = 4;

/// Dense layer, `dense_fits(w, b, x.len(), y.len())` already checked.
///
/// # Safety
///
/// `V`'s CPU features must be present, and `w`, `b` must hold at least
/// `x.len() * y.len()` and `y.len()` elements.
#[inline(always)]
pub(crate) unsafe fn dense<V: Lane8>(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    match w.dtype() {
        DType::F16 => dense_typed::<V, 2>(w, b, x, y),
        DType::F32 => dense_typed::<V, 4>(w, b, x, y),
    }
}

#[inline(always)]
unsafe fn dense_typed<V: Lane8, const SIZE: usize>(
    w: Weights<'_>,
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
) {
    let n = x.len();
    let split8 = y.len() - y.len() % 8;
    let (y8, rest) = y.split_at_mut(split8);
    for (blk, out) in y8.chunks_exact_mut(8).enumerate() {
        rows8::<V, SIZE>(&w, &b, x, out, blk * 8, n);
    }
    let split4 = rest.len() - rest.len() % ROWS;
    let (y4, y1) = rest.split_at_mut(split4);
    for (blk, out) in y4.chunks_exact_mut(ROWS).enumerate() {
        rows::<V, SIZE, ROWS>(&w, &b, x, out, split8 + blk * ROWS, n);
    }
    for (i, out) in y1.chunks_exact_mut(1).enumerate() {
        rows::<V, SIZE, 1>(&w, &b, x, out, split8 + split4 + i, n);
    }
}

/// The 16 partial sums of rows `first..first + R` over the whole 16-element
/// chunks of `x`.
#[inline(always)]
unsafe fn sums<V: Lane8, const SIZE: usize, const R: usize>(
    w: &Weights<'_>,
    x: &[f32],
    first: usize,
    n: usize,
) -> [[V; 2]; R] {
    let full = n - n % LANES;
    let row_bytes = n * SIZE;
    let wp = w.bytes().as_ptr();
    let xp = x.as_ptr();
    let load = |p: *const u8| {
        if SIZE == 2 {
            V::load_f16(p)
        } else {
            V::load_f32_bytes(p)
        }
    };
    let mut acc = [[V::zero(); 2]; R];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 <= full <= n = x.len(), and row `first + r` spans
        // bytes `(first + r) * row_bytes..` + row_bytes, inside the
        // `n * y.len()` elements the caller checked.
        let x0 = V::load(xp.add(i));
        let x1 = V::load(xp.add(i + 8));
        for (r, a) in acc.iter_mut().enumerate() {
            let p = wp.add((first + r) * row_bytes + i * SIZE);
            a[0] = a[0].add_mul(load(p), x0);
            a[1] = a[1].add_mul(load(p.add(8 * SIZE)), x1);
        }
        i += LANES;
    }
    acc
}

/// Eight output rows: the partial sums of two blocks of four rows are
/// transposed so that one vector holds lane `j` of all eight rows, and the
/// left-to-right sum of the 16 lanes, the tail and the bias run eight rows
/// per vector operation.
#[inline(always)]
unsafe fn rows8<V: Lane8, const SIZE: usize>(
    w: &Weights<'_>,
    b: &Weights<'_>,
    x: &[f32],
    out: &mut [f32],
    first: usize,
    n: usize,
) {
    let full = n - n % LANES;
    let lo = sums::<V, SIZE, ROWS>(w, x, first, n);
    let hi = sums::<V, SIZE, ROWS>(w, x, first + ROWS, n);
    let half = |h: usize| core::array::from_fn(|r| if r < 4 { lo[r][h] } else { hi[r - 4][h] });
    let t0 = V::transpose8(half(0));
    let t1 = V::transpose8(half(1));
    let mut s = t0[0];
    for t in t0[1..].iter().chain(&t1) {
        s = s.add(*t);
    }
    for (i, xv) in x.iter().enumerate().skip(full) {
        let col: [f32; 8] = core::array::from_fn(|r| scalar(w, (first + r) * n + i));
        // SAFETY: `col` holds 8 f32, `xv` is one.
        s = s.add_mul(V::load(col.as_ptr()), V::splat(xv));
    }
    // SAFETY: `b` holds at least y.len() >= first + 8 elements.
    let bp = b.bytes().as_ptr().add(first * SIZE);
    let bias = if SIZE == 2 {
        V::load_f16(bp)
    } else {
        V::load_f32_bytes(bp)
    };
    let mut res = [0.0f32; 8];
    s.add(bias).store(res.as_mut_ptr());
    out.copy_from_slice(&res[..out.len().min(8)]);
}

/// Output rows `first..first + R` into `out` (`R` long).
#[inline(always)]
unsafe fn rows<V: Lane8, const SIZE: usize, const R: usize>(
    w: &Weights<'_>,
    b: &Weights<'_>,
    x: &[f32],
    out: &mut [f32],
    first: usize,
    n: usize,
) {
    let full = n - n % LANES;
    let acc = sums::<V, SIZE, R>(w, x, first, n);
    let mut lanes = [[0.0f32; LANES]; R];
    for (l, a) in lanes.iter_mut().zip(&acc) {
        // SAFETY: each `l` holds 16 f32.
        a[0].store(l.as_mut_ptr());
        a[1].store(l.as_mut_ptr().add(8));
    }
    // Left to right within each row; rows interleaved.
    let mut s = [0.0f32; R];
    for (s, l) in s.iter_mut().zip(&lanes) {
        *s = l[0];
    }
    for j in 1..LANES {
        for (s, l) in s.iter_mut().zip(&lanes) {
            *s += l[j];
        }
    }
    for (r, (s, o)) in s.iter_mut().zip(out.iter_mut()).enumerate() {
        let row = (first + r) * n;
        for (i, xv) in x.iter().enumerate().skip(full) {
            *s += scalar(w, row + i) * xv;
        }
        *o = *s + scalar(b, first + r);
    }
}

/// Output pixels per register tile when vectors run across channels.
const PIX: usize = 6;
/// Pixel vectors per register tile when vectors run across pixels.
const PV: usize = 4;
/// f32 in the transposed weight buffer (64 KiB on the stack: a 64 -> 32
/// channel layer with 4x4 kernels fits in one block).
const WTF: usize = 16384;
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

/// Largest input channel count of the narrow transposed convolutions (here
/// and in `avx512`): one output channel's weights as f32 on the stack, 16
/// KiB.
pub(crate) const NARROW_CMAX: usize = 256;
/// f32 of the zero-padded copy of the input [`convt_narrow`] reads (64 KiB
/// of stack).
const NARROW_STAGE: usize = 16384;

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

/// Whether [`convt_narrow`] runs this transposed convolution: fewer than 8
/// output channels and an input small enough to stage.
pub(crate) fn narrow_supported(g: &ConvGeom) -> bool {
    k4s2_narrow(g, 8)
        && g.in_c
            .checked_mul(g.in_h)
            .and_then(|r| r.checked_mul(g.in_w + 1))
            .is_some_and(|n| n + 1 + 8 <= NARROW_STAGE)
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

/// A transposed convolution with kernel 4, stride 2 and padding 1 as four
/// 2x2 convolutions, one output channel at a time: output `(2m + py,
/// 2n + px)` reads input rows `m` and `m - 1` (`py = 0`, kernel rows 1 and
/// 3) or `m + 1` and `m` (`py = 1`, rows 0 and 2), and columns likewise. A
/// vector holds 8 consecutive `n` of one output row and phase; each input
/// row is read at column offsets -1, 0 and +1 from a copy of the input
/// with a zero between rows (so no read leaves the copy), and a tap in the
/// padding is dropped by a select (the sum keeps its bits). Each output
/// adds its taps in the documented order. No per-call plan of tap groups,
/// which for a 32 -> 1 channel layer of 28x28 cost more than the
/// arithmetic.
///
/// # Safety
///
/// `V`'s features are present, `conv_fits` holds and `narrow_supported`.
#[inline(always)]
unsafe fn convt_narrow<V: Lane8>(
    w: &Weights<'_>,
    b: &Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) {
    let (ih, iw) = (g.in_h, g.in_w);
    let pitch = iw + 1;
    let rows = g.in_c * ih;
    let used = 1 + rows * pitch + 8;
    if used > NARROW_STAGE {
        return;
    }
    let mut buf = core::mem::MaybeUninit::<[f32; NARROW_STAGE]>::uninit();
    // Only the part in use is zeroed (then filled), not all 64 KiB.
    // SAFETY: `used <= NARROW_STAGE` elements, zeroed before the slice
    // exists.
    let stage = {
        let p = buf.as_mut_ptr().cast::<f32>();
        core::ptr::write_bytes(p, 0, used);
        core::slice::from_raw_parts_mut(p, used)
    };
    // Row r starts at 1 + r * pitch; a zero before it, and after the last.
    for (r, row) in x.chunks_exact(iw).take(rows).enumerate() {
        let at = 1 + r * pitch;
        if let Some(d) = stage.get_mut(at..at + iw) {
            d.copy_from_slice(row);
        }
    }
    let mut wbuf = core::mem::MaybeUninit::<[f32; 16 * NARROW_CMAX]>::uninit();
    let wf = wbuf.as_mut_ptr().cast::<f32>();
    for o in 0..g.out_c {
        for c in 0..g.in_c {
            for t in 0..16 {
                // SAFETY: c < in_c <= NARROW_CMAX; every element read below
                // is written here first.
                wf.add(c * 16 + t)
                    .write(scalar(w, (c * g.out_c + o) * 16 + t));
            }
        }
        let bias = scalar(b, o);
        let mut n0 = 0;
        while n0 < iw {
            let l = 8.min(iw - n0);
            // Lanes whose column n - 1 (left) and n + 1 (right) exist.
            let mut left = [u32::MAX; 8];
            let mut right = [u32::MAX; 8];
            if n0 == 0 {
                left[0] = 0;
            }
            if n0 + l == iw {
                right[l - 1] = 0;
            }
            let left = V::load(left.as_ptr().cast());
            let right = V::load(right.as_ptr().cast());
            let mut oy = 0;
            while oy + 4 <= g.out_h {
                narrow_rows::<V, 4>(g, stage, wf, bias, (o, oy), (n0, l), (left, right), y);
                oy += 4;
            }
            // out_h is even: at most two rows are left.
            if g.out_h - oy == 2 {
                narrow_rows::<V, 2>(g, stage, wf, bias, (o, oy), (n0, l), (left, right), y);
            }
            n0 += 8;
        }
    }
}

/// Output rows `oy0..oy0 + R` of channel `o`, columns `2 n0..2 (n0 + l)`,
/// for [`convt_narrow`]: `R` rows at once, so that `2 R` sums are in
/// flight rather than a chain of dependent adds.
///
/// # Safety
///
/// As for [`convt_narrow`]; `wf` holds the channel's `in_c * 16` weights,
/// `stage` the padded input, `oy0 + R <= out_h`, `n0 + l <= in_w`,
/// `1 <= l <= 8`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn narrow_rows<V: Lane8, const R: usize>(
    g: &ConvGeom,
    stage: &[f32],
    wf: *const f32,
    bias: f32,
    (o, oy0): (usize, usize),
    (n0, l): (usize, usize),
    (left, right): (V, V),
    y: &mut [f32],
) {
    let (ih, iw) = (g.in_h, g.in_w);
    let pitch = iw + 1;
    let taps: [_; R] = core::array::from_fn(|r| narrow_taps(oy0 + r, ih));
    let mut acc = [[V::splat(&bias); 2]; R];
    for c in 0..g.in_c {
        let wc = wf.add(c * 16);
        for (a, t) in acc.iter_mut().zip(&taps) {
            for &(ky, iy) in t {
                let Some(iy) = iy else { continue };
                // SAFETY: the row's first element sits at
                // 1 + (c * ih + iy) * pitch; 8 lanes from one before it to
                // one after stay inside the staged length.
                let row = stage.as_ptr().add(1 + (c * ih + iy) * pitch + n0);
                let xm = V::load(row.sub(1));
                let x0 = V::load(row);
                let xp = V::load(row.add(1));
                let wk = |kx: usize| V::splat(wc.add(ky * 4 + kx));
                // px = 0: kernel columns 1 (column n) then 3 (n - 1).
                a[0] = a[0].add_mul(wk(1), x0);
                a[0] = a[0].select(left, a[0].add_mul(wk(3), xm));
                // px = 1: kernel columns 0 (n + 1) then 2 (n).
                a[1] = a[1].select(right, a[1].add_mul(wk(0), xp));
                a[1] = a[1].add_mul(wk(2), x0);
            }
        }
    }
    let mut out = [[0.0f32; 8]; 2];
    for (r, a) in acc.iter().enumerate() {
        a[0].store(out[0].as_mut_ptr());
        a[1].store(out[1].as_mut_ptr());
        let at = (o * g.out_h + oy0 + r) * g.out_w + 2 * n0;
        if let Some(d) = y.get_mut(at..at + 2 * l) {
            for (j, pair) in d.chunks_exact_mut(2).enumerate() {
                pair[0] = out[0][j];
                pair[1] = out[1][j];
            }
        }
    }
}

/// `conv2d` (`transpose == false`, weight `[out, in, k, k]`) or
/// `conv_transpose2d` (weight `[in, out, k, k]`).
///
/// # Safety
///
/// `V`'s CPU features must be present, `conv_fits(w, b, g, x, y)` and
/// [`conv_supported`] must hold.
#[inline(always)]
pub(crate) unsafe fn conv<V: Lane8>(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
    transpose: bool,
) {
    if transpose && narrow_supported(g) {
        return convt_narrow::<V>(&w, &b, g, x, y);
    }
    let k = g.kernel;
    let kk = k * k;
    let (rmask, cmask) = tap_masks(g, transpose);
    let rmask = &rmask[..g.out_h];
    let cmask = &cmask[..g.out_w];
    // Consecutive pixels of a group read consecutive inputs only where the
    // input advances by one per pixel.
    let pixels = g.out_c < 8 && (transpose || g.stride == 1);
    let width = if !pixels && g.out_c > 8 { 16 } else { 8 };
    let mut wt = [0.0f32; WTF];
    // Input channels per block: their transposed weights fill `wt`
    // (kk * width <= 64 * 16 = 1024, so at least 8).
    let cb = (WTF / (kk * width)).max(1);
    let mut ob = 0;
    while ob < g.out_c {
        let nl = width.min(g.out_c - ob);
        let mut c0 = 0;
        while c0 < g.in_c {
            let cn = cb.min(g.in_c - c0);
            for c in 0..cn {
                for l in 0..nl {
                    let (o, ci) = (ob + l, c0 + c);
                    let base = if transpose {
                        (ci * g.out_c + o) * kk
                    } else {
                        (o * g.in_c + ci) * kk
                    };
                    let dst = &mut wt[c * kk * width..(c + 1) * kk * width];
                    transpose_taps::<V>(&w, base, kk, dst, width, l);
                }
            }
            let mut bias = [0.0f32; 16];
            for (l, v) in bias.iter_mut().enumerate().take(nl) {
                *v = scalar(&b, ob + l);
            }
            let blk = Block {
                g,
                x,
                wt: &wt,
                bias,
                width,
                c0,
                cn,
                ob,
                nl,
                first: c0 == 0,
                transpose,
            };
            blk.run::<V>(rmask, cmask, pixels, &b, y);
            c0 += cn;
        }
        ob += width;
    }
}

/// Weights `base..base + kk` (one output channel's taps for one input
/// channel) into `dst[t * width + l]`, eight at a time with the vector
/// conversion.
///
/// # Safety
///
/// `V`'s CPU features must be present and `w` must hold `base + kk`
/// elements.
#[inline(always)]
unsafe fn transpose_taps<V: Lane8>(
    w: &Weights<'_>,
    base: usize,
    kk: usize,
    dst: &mut [f32],
    width: usize,
    l: usize,
) {
    let size = w.dtype().size();
    let p = w.bytes().as_ptr();
    let mut t = 0;
    let mut buf = [0.0f32; 8];
    while t + 8 <= kk {
        // SAFETY: elements `base + t..base + t + 8` lie inside `w`.
        let q = p.add((base + t) * size);
        let v = match w.dtype() {
            DType::F16 => V::load_f16(q),
            DType::F32 => V::load_f32_bytes(q),
        };
        v.store(buf.as_mut_ptr());
        for (i, v) in buf.iter().enumerate() {
            if let Some(d) = dst.get_mut((t + i) * width + l) {
                *d = *v;
            }
        }
        t += 8;
    }
    for i in t..kk {
        if let Some(d) = dst.get_mut(i * width + l) {
            *d = scalar(w, base + i);
        }
    }
}

/// One block of `width` output channels and `cn` input channels.
struct Block<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    /// `[c][tap][width]`.
    wt: &'a [f32; WTF],
    /// The block's biases (0 in lanes past `nl`).
    bias: [f32; 16],
    width: usize,
    c0: usize,
    cn: usize,
    ob: usize,
    /// Channels of the block that exist (the rest of the lanes are junk).
    nl: usize,
    /// Whether this block starts the sums (from the bias) or continues the
    /// partial sums left in `y` by the previous block of input channels.
    first: bool,
    transpose: bool,
}

/// A group's (input channel, tap) pairs in summation order: offset of the
/// weight (lane 0) in the transposed buffer, and of the input relative to
/// each pixel's first-tap offset.
struct Entries {
    w: [usize; WTF / 8],
    x: [isize; WTF / 8],
    n: usize,
    /// Largest `x` offset (0 when there are none).
    max_x: isize,
}

/// Up to 8 pixels of a group that read consecutive inputs: first-tap
/// offset of the first, its output offset, output step, count.
#[derive(Clone, Copy, Default)]
struct Run {
    base: usize,
    out: usize,
    step: usize,
    n: usize,
}

impl Block<'_> {
    /// Every group of pixels with the same row and column masks.
    #[inline(always)]
    unsafe fn run<V: Lane8>(
        &self,
        rmask: &[u64],
        cmask: &[u64],
        pixels: bool,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let mut e = Entries {
            w: [0; WTF / 8],
            x: [0; WTF / 8],
            n: 0,
            max_x: 0,
        };
        for (oy0, &rm) in rmask.iter().enumerate() {
            if rmask[..oy0].contains(&rm) {
                continue;
            }
            for (ox0, &cm) in cmask.iter().enumerate() {
                if cmask[..ox0].contains(&cm) {
                    continue;
                }
                self.entries(oy0, ox0, rm, cm, &mut e);
                if pixels {
                    self.group_pixels::<V>(&e, rmask, cmask, rm, cm, b, y);
                } else if self.width == 16 {
                    self.group_channels::<V, 2>(&e, rmask, cmask, rm, cm, b, y);
                } else {
                    self.group_channels::<V, 1>(&e, rmask, cmask, rm, cm, b, y);
                }
            }
        }
    }

    /// Lists the group's (input channel, tap) pairs into `e`.
    fn entries(&self, oy0: usize, ox0: usize, rm: u64, cm: u64, e: &mut Entries) {
        let g = self.g;
        let k = g.kernel;
        let kk = k * k;
        let plane_in = g.in_h * g.in_w;
        let first_tap = self.index(oy0, ox0, rm, cm) as isize;
        // The taps once: weight index within a channel, input offset.
        let mut taps = [(0usize, 0isize); KMAX * KMAX];
        let mut nt = 0;
        for ky in (0..k).filter(|ky| rm >> ky & 1 == 1) {
            let iy = tap(self.transpose, oy0, ky, g, g.in_h).unwrap_or(0);
            for kx in (0..k).filter(|kx| cm >> kx & 1 == 1) {
                let ix = tap(self.transpose, ox0, kx, g, g.in_w).unwrap_or(0);
                if let Some(t) = taps.get_mut(nt) {
                    *t = (ky * k + kx, (iy * g.in_w + ix) as isize - first_tap);
                    nt += 1;
                }
            }
        }
        let taps = &taps[..nt];
        e.n = 0;
        e.max_x = 0;
        for c in 0..self.cn {
            let wc = c * kk;
            let xc = ((self.c0 + c) * plane_in) as isize;
            for &(tw, tx) in taps {
                if let (Some(wv), Some(xv)) = (e.w.get_mut(e.n), e.x.get_mut(e.n)) {
                    *wv = (wc + tw) * self.width;
                    *xv = xc + tx;
                    e.max_x = e.max_x.max(xc + tx);
                    e.n += 1;
                }
            }
        }
    }

    /// Input offset (within a channel) of the first tap of pixel `(oy, ox)`,
    /// 0 when it has none.
    #[inline(always)]
    fn index(&self, oy: usize, ox: usize, rm: u64, cm: u64) -> usize {
        let g = self.g;
        if rm == 0 || cm == 0 {
            return 0;
        }
        let ky = rm.trailing_zeros() as usize;
        let kx = cm.trailing_zeros() as usize;
        let iy = tap(self.transpose, oy, ky, g, g.in_h).unwrap_or(0);
        let ix = tap(self.transpose, ox, kx, g, g.in_w).unwrap_or(0);
        iy * g.in_w + ix
    }

    /// The partial sum output `at` of channel `ob + l` starts from.
    #[inline(always)]
    fn start(&self, b: &Weights<'_>, y: &[f32], l: usize, at: usize) -> f32 {
        let ch = self.ob + l;
        if self.first {
            scalar(b, ch)
        } else {
            let plane_out = self.g.out_h * self.g.out_w;
            y.get(ch * plane_out + at).copied().unwrap_or(0.0)
        }
    }

    /// Channel vectors: the group's pixels in tiles of [`PIX`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn group_channels<V: Lane8, const VB: usize>(
        &self,
        e: &Entries,
        rmask: &[u64],
        cmask: &[u64],
        rm: u64,
        cm: u64,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let g = self.g;
        let mut pix = [(0usize, 0usize); PIX];
        let mut np = 0;
        for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
            for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
                pix[np] = (self.index(oy, ox, rm, cm), oy * g.out_w + ox);
                np += 1;
                if np == PIX {
                    self.tile_channels::<V, VB, PIX>(e, &pix, b, y);
                    np = 0;
                }
            }
        }
        match np {
            1 => self.tile_channels::<V, VB, 1>(e, &pix[..1], b, y),
            2 => self.tile_channels::<V, VB, 2>(e, &pix[..2], b, y),
            3 => self.tile_channels::<V, VB, 3>(e, &pix[..3], b, y),
            4 => self.tile_channels::<V, VB, 4>(e, &pix[..4], b, y),
            5 => self.tile_channels::<V, VB, 5>(e, &pix[..5], b, y),
            _ => {}
        }
    }

    /// `P` pixels `(first-tap input offset, output offset)`, `8 * VB`
    /// channels each, through the group's entries.
    #[inline(always)]
    unsafe fn tile_channels<V: Lane8, const VB: usize, const P: usize>(
        &self,
        e: &Entries,
        pix: &[(usize, usize)],
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let plane_out = self.g.out_h * self.g.out_w;
        let mut acc = [[V::zero(); VB]; P];
        let mut base = [0usize; P];
        for ((a, bj), p) in acc.iter_mut().zip(base.iter_mut()).zip(pix) {
            *bj = p.0;
            for (v, av) in a.iter_mut().enumerate() {
                if self.first {
                    // SAFETY: `bias` holds 16 f32 and v < VB <= 2.
                    *av = V::load(self.bias.as_ptr().add(8 * v));
                    continue;
                }
                let mut init = [0.0f32; 8];
                for (l, s) in init.iter_mut().enumerate() {
                    if v * 8 + l < self.nl {
                        *s = self.start(b, y, v * 8 + l, p.1);
                    }
                }
                // SAFETY: `init` holds 8 f32.
                *av = V::load(init.as_ptr());
            }
        }
        let xp = self.x.as_ptr();
        let wp = self.wt.as_ptr().cast::<f32>();
        for (&wo, &xo) in e.w[..e.n].iter().zip(&e.x[..e.n]) {
            let mut wv = [V::zero(); VB];
            for (v, wv) in wv.iter_mut().enumerate() {
                // SAFETY: `wo + 8 * VB <= cn * kk * width <= WTF`.
                *wv = V::load(wp.add(wo + 8 * v));
            }
            let xt = xp.wrapping_offset(xo);
            for (a, &bj) in acc.iter_mut().zip(&base) {
                // SAFETY: every pixel of the group reads this tap at its
                // first-tap offset plus `xo`, a valid input position (the
                // tap is in its row and column masks, `conv_fits` bounds
                // the channel).
                let xv = V::splat(xt.wrapping_add(bj));
                for (a, wv) in a.iter_mut().zip(&wv) {
                    *a = a.add_mul(*wv, xv);
                }
            }
        }
        let mut out = [0.0f32; 16];
        for (a, p) in acc.iter().zip(pix) {
            for (v, av) in a.iter().enumerate() {
                // SAFETY: `out` holds 16 f32 and v < VB <= 2.
                av.store(out.as_mut_ptr().add(8 * v));
            }
            // One bounds check per pixel (`conv_fits` makes it pass).
            let Some(d) = y.get_mut(self.ob * plane_out + p.1..) else {
                continue;
            };
            if (self.nl - 1) * plane_out < d.len() {
                for (l, val) in out.iter().enumerate().take(self.nl) {
                    // SAFETY: checked just above.
                    *d.get_unchecked_mut(l * plane_out) = *val;
                }
            }
        }
    }

    /// Pixel vectors: the group's rows cut into runs of up to 8 pixels
    /// that read consecutive inputs, [`PV`] runs per tile, once per channel.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn group_pixels<V: Lane8>(
        &self,
        e: &Entries,
        rmask: &[u64],
        cmask: &[u64],
        rm: u64,
        cm: u64,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let g = self.g;
        let mut runs = [Run::default(); PV];
        let mut nr = 0;
        for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
            let mut cur: Option<(Run, usize)> = None;
            for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
                let base = self.index(oy, ox, rm, cm);
                let at = oy * g.out_w + ox;
                let extend = match cur {
                    Some((r, last)) if r.n < 8 => {
                        let step_ok = r.n == 1 || ox - last == r.step;
                        base == r.base + r.n && step_ok
                    }
                    _ => false,
                };
                if extend {
                    if let Some((r, last)) = cur.as_mut() {
                        if r.n == 1 {
                            r.step = ox - *last;
                        }
                        r.n += 1;
                        *last = ox;
                    }
                    continue;
                }
                if let Some((r, _)) = cur.take() {
                    runs[nr] = r;
                    nr += 1;
                    if nr == PV {
                        self.flush::<V>(e, &runs, b, y);
                        nr = 0;
                    }
                }
                cur = Some((
                    Run {
                        base,
                        out: at,
                        step: 1,
                        n: 1,
                    },
                    ox,
                ));
            }
            if let Some((r, _)) = cur {
                runs[nr] = r;
                nr += 1;
                if nr == PV {
                    self.flush::<V>(e, &runs, b, y);
                    nr = 0;
                }
            }
        }
        self.flush::<V>(e, &runs[..nr], b, y);
    }

    /// A tile of runs, once per channel of the block. (A method rather than
    /// a closure: everything here must inline into the function that
    /// enables the CPU features.)
    #[inline(always)]
    unsafe fn flush<V: Lane8>(&self, e: &Entries, runs: &[Run], b: &Weights<'_>, y: &mut [f32]) {
        for l in 0..self.nl {
            match runs.len() {
                1 => self.tile_pixels::<V, 1>(e, runs, l, b, y),
                2 => self.tile_pixels::<V, 2>(e, runs, l, b, y),
                3 => self.tile_pixels::<V, 3>(e, runs, l, b, y),
                4 => self.tile_pixels::<V, 4>(e, runs, l, b, y),
                _ => {}
            }
        }
    }

    /// `Q` runs of pixels of channel `ob + l` through the group's entries.
    #[inline(always)]
    unsafe fn tile_pixels<V: Lane8, const Q: usize>(
        &self,
        e: &Entries,
        runs: &[Run],
        l: usize,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let plane_out = self.g.out_h * self.g.out_w;
        let mut acc = [V::zero(); Q];
        let mut base = [0usize; Q];
        let mut reach = 0;
        for ((a, bq), r) in acc.iter_mut().zip(base.iter_mut()).zip(runs) {
            *bq = r.base;
            reach = reach.max(r.base);
            let mut init = [0.0f32; 8];
            for (i, s) in init.iter_mut().enumerate().take(r.n) {
                *s = self.start(b, y, l, r.out + i * r.step);
            }
            // SAFETY: `init` holds 8 f32.
            *a = V::load(init.as_ptr());
        }
        let xp = self.x.as_ptr();
        let wp = self.wt.as_ptr().cast::<f32>();
        // Whole 8-lane loads stay inside `x` unless the last lanes of a
        // run near its end; lanes past a run's pixels are never stored.
        let whole = e.max_x + reach as isize + 8 <= self.x.len() as isize;
        for (&wo, &xo) in e.w[..e.n].iter().zip(&e.x[..e.n]) {
            // SAFETY: `wo + l < cn * kk * width <= WTF`.
            let wv = V::splat(wp.add(wo + l));
            let xt = xp.wrapping_offset(xo);
            for (a, &bq) in acc.iter_mut().zip(&base) {
                let xv = if whole {
                    // SAFETY: lane 0 is a valid input of the run's first
                    // pixel and `whole` bounds the eighth lane by x.len().
                    V::load(xt.wrapping_add(bq))
                } else {
                    let mut tmp = [0.0f32; 8];
                    let at = (xo + bq as isize) as usize;
                    for (i, t) in tmp.iter_mut().enumerate() {
                        *t = self.x.get(at + i).copied().unwrap_or(0.0);
                    }
                    V::load(tmp.as_ptr())
                };
                *a = a.add_mul(wv, xv);
            }
        }
        let mut out = [0.0f32; 8];
        for (a, r) in acc.iter().zip(runs) {
            a.store(out.as_mut_ptr());
            for (i, v) in out.iter().enumerate().take(r.n) {
                let at = (self.ob + l) * plane_out + r.out + i * r.step;
                if let Some(d) = y.get_mut(at) {
                    *d = *v;
                }
            }
        }
    }
}
