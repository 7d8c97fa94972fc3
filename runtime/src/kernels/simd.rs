//! Kernels written once over an 8-lane f32 vector ([`Lane8`]) and
//! instantiated per instruction set (`x86` for AVX2 + F16C, `neon` for
//! AArch64). Every lane only ever computes `acc + w * x` with the product
//! rounded before the add (never a fused multiply-add), and every output
//! keeps the summation order of the module docs:
//!
//! - `dense`: an output row's 16 partial sums are exactly two vectors, lane
//!   `i % 16` of the format being lane `i % 8` of vector `(i / 8) % 2`.
//!   Several rows run at once so that their sums are independent; the 16
//!   lanes of each row are then added left to right in scalar code (the
//!   rows interleaved, so the additions of different rows overlap).
//! - convolutions: the vector runs across 8 output channels, which share
//!   every tap, so each lane adds exactly the taps its output adds, in
//!   order (input channel, kernel row, kernel column). A tile of up to
//!   [`PIX`] output pixels with the same set of valid taps stays in
//!   registers through the whole reduction; the weights of 8 channels are
//!   first converted to f32 and transposed to `[channel][tap][lane]` in a
//!   stack buffer, so that each tap's weight vector is one load.
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
    let split = y.len() - y.len() % ROWS;
    let (y4, y1) = y.split_at_mut(split);
    for (blk, out) in y4.chunks_exact_mut(ROWS).enumerate() {
        rows::<V, SIZE, ROWS>(&w, &b, x, out, blk * ROWS, n);
    }
    for (i, out) in y1.chunks_exact_mut(1).enumerate() {
        rows::<V, SIZE, 1>(&w, &b, x, out, split + i, n);
    }
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

/// Output pixels per register tile.
pub(crate) const PIX: usize = 6;
/// Weight vectors in the transposed stack buffer (32 KiB).
const WT: usize = 1024;
/// Largest kernel side handled here (taps are tracked in a `u64` mask per
/// row and column, and a tile's tap list has at most `KMAX * KMAX` entries).
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
fn tap(transpose: bool, o: usize, kk: usize, g: &ConvGeom, n: usize) -> Option<usize> {
    let i = if transpose {
        let t = (o + g.padding).checked_sub(kk)?;
        if t % g.stride != 0 {
            return None;
        }
        t / g.stride
    } else {
        (o * g.stride + kk).checked_sub(g.padding)?
    };
    (i < n).then_some(i)
}

/// Bit `kk` set when kernel index `kk` reads an input position.
fn mask(transpose: bool, o: usize, g: &ConvGeom, n: usize) -> u64 {
    (0..g.kernel)
        .filter(|&kk| tap(transpose, o, kk, g, n).is_some())
        .fold(0, |m, kk| m | 1 << kk)
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
    let k = g.kernel;
    let kk = k * k;
    let mut rmask = [0u64; SIDE];
    let mut cmask = [0u64; SIDE];
    for (o, m) in rmask.iter_mut().enumerate().take(g.out_h) {
        *m = mask(transpose, o, g, g.in_h);
    }
    for (o, m) in cmask.iter_mut().enumerate().take(g.out_w) {
        *m = mask(transpose, o, g, g.in_w);
    }
    let rmask = &rmask[..g.out_h];
    let cmask = &cmask[..g.out_w];
    let mut wt = [[0.0f32; 8]; WT];
    // Input channels per block: their transposed weights fill `wt`.
    let cb = (WT / kk.max(1)).max(1);
    let mut ob = 0;
    while ob < g.out_c {
        let nl = 8.min(g.out_c - ob);
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
                    transpose_taps::<V>(&w, base, kk, &mut wt[c * kk..(c + 1) * kk], l);
                }
            }
            let blk = Block {
                g,
                x,
                wt: &wt,
                c0,
                cn,
                ob,
                nl,
                first: c0 == 0,
                transpose,
            };
            blk.run::<V>(rmask, cmask, &b, y);
            c0 += cn;
        }
        ob += 8;
    }
}

/// Weights `base..base + kk` (one output channel's taps for one input
/// channel) into lane `l` of `dst[0..kk]`, eight at a time with the vector
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
    dst: &mut [[f32; 8]],
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
        for (d, v) in dst[t..t + 8].iter_mut().zip(buf) {
            d[l] = v;
        }
        t += 8;
    }
    for (i, d) in dst.iter_mut().enumerate().take(kk).skip(t) {
        d[l] = scalar(w, base + i);
    }
}

/// One block of 8 output channels and `cn` input channels.
struct Block<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    wt: &'a [[f32; 8]; WT],
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

impl Block<'_> {
    /// Every output pixel, grouped by the set of taps it reads: pixels whose
    /// row mask and column mask are the same read the same taps, at input
    /// offsets that differ from pixel to pixel by a constant.
    #[inline(always)]
    unsafe fn run<V: Lane8>(&self, rmask: &[u64], cmask: &[u64], b: &Weights<'_>, y: &mut [f32]) {
        let g = self.g;
        let k = g.kernel;
        for (oy0, &rm) in rmask.iter().enumerate() {
            if rmask[..oy0].contains(&rm) {
                continue;
            }
            for (ox0, &cm) in cmask.iter().enumerate() {
                if cmask[..ox0].contains(&cm) {
                    continue;
                }
                // Taps (weight index within a channel, input offset
                // relative to the pixel's first tap) for this group.
                let mut tw = [0usize; KMAX * KMAX];
                let mut tx = [0isize; KMAX * KMAX];
                let mut nt = 0;
                let first_tap = self.index(oy0, ox0, rm, cm);
                for ky in (0..k).filter(|ky| rm >> ky & 1 == 1) {
                    for kx in (0..k).filter(|kx| cm >> kx & 1 == 1) {
                        let iy = tap(self.transpose, oy0, ky, g, g.in_h).unwrap_or(0);
                        let ix = tap(self.transpose, ox0, kx, g, g.in_w).unwrap_or(0);
                        tw[nt] = ky * k + kx;
                        tx[nt] = (iy * g.in_w + ix) as isize - first_tap as isize;
                        nt += 1;
                    }
                }
                let taps = Taps {
                    w: &tw[..nt],
                    x: &tx[..nt],
                };
                let mut pix = [(0usize, 0usize); PIX];
                let mut np = 0;
                for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
                    for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
                        pix[np] = (self.index(oy, ox, rm, cm), oy * g.out_w + ox);
                        np += 1;
                        if np == PIX {
                            self.tile::<V, PIX>(&taps, &pix, b, y);
                            np = 0;
                        }
                    }
                }
                match np {
                    1 => self.tile::<V, 1>(&taps, &pix[..1], b, y),
                    2 => self.tile::<V, 2>(&taps, &pix[..2], b, y),
                    3 => self.tile::<V, 3>(&taps, &pix[..3], b, y),
                    4 => self.tile::<V, 4>(&taps, &pix[..4], b, y),
                    5 => self.tile::<V, 5>(&taps, &pix[..5], b, y),
                    _ => {}
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

    /// `P` pixels `(first-tap input offset, output offset)` through all of
    /// this block's input channels and the taps.
    #[inline(always)]
    unsafe fn tile<V: Lane8, const P: usize>(
        &self,
        taps: &Taps<'_>,
        pix: &[(usize, usize)],
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let g = self.g;
        let plane_in = g.in_h * g.in_w;
        let plane_out = g.out_h * g.out_w;
        let kk = g.kernel * g.kernel;
        let mut init = [0.0f32; 8];
        let mut acc = [V::zero(); P];
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, v) in init.iter_mut().enumerate().take(self.nl) {
                let ch = self.ob + l;
                *v = if self.first {
                    scalar(b, ch)
                } else {
                    // The partial sum the previous input block stored.
                    y.get(ch * plane_out + pix[j].1).copied().unwrap_or(0.0)
                };
            }
            // SAFETY: `init` holds 8 f32.
            *a = V::load(init.as_ptr());
        }
        let mut base = [0usize; P];
        for (bj, p) in base.iter_mut().zip(pix) {
            *bj = p.0;
        }
        let xp = self.x.as_ptr();
        let wp = self.wt.as_ptr().cast::<f32>();
        for c in 0..self.cn {
            // SAFETY: channel `c0 + c < in_c`, and `conv_fits` checked
            // `x.len() >= in_c * plane_in`; `wt` holds `cn * kk` vectors.
            let xc = xp.add((self.c0 + c) * plane_in);
            let wc = wp.add(c * kk * 8);
            for (&tw, &tx) in taps.w.iter().zip(taps.x) {
                let wv = V::load(wc.add(tw * 8));
                let xt = xc.wrapping_offset(tx);
                for (a, &bj) in acc.iter_mut().zip(&base) {
                    // SAFETY: every pixel of the tile reads this tap at its
                    // first-tap offset plus `tx`, a valid input position
                    // (the tap is in its row and column masks).
                    *a = a.add_mul(wv, V::splat(xt.wrapping_add(bj)));
                }
            }
        }
        let mut out = [0.0f32; 8];
        for (a, p) in acc.iter().zip(pix) {
            a.store(out.as_mut_ptr());
            for (l, v) in out.iter().enumerate().take(self.nl) {
                if let Some(d) = y.get_mut((self.ob + l) * plane_out + p.1) {
                    *d = *v;
                }
            }
        }
    }
}

/// A tile's taps: weight index within a channel and input offset relative
/// to each pixel's first tap.
struct Taps<'a> {
    w: &'a [usize],
    x: &'a [isize],
}
