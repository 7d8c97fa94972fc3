//! Fast kernels: the plain kernels' per-output summation order, with the work
//! arranged so that LLVM vectorises it on any target. Dense layers run four
//! output rows at a time, each with its 16 independent partial sums, reading
//! weights in 16-element chunks converted to f32 as a block; convolutions
//! keep a tile of up to 16 outputs of one row in registers through the whole
//! reduction. Element types are monomorphised, so nothing is dispatched per
//! element, and slices are walked with `chunks_exact`/`zip`, so the hot loops
//! carry no bounds checks.

use super::f16::{f16_to_f32, weight};
use super::{conv_fits, dense_fits, ConvGeom, Weights, LANES};
use crate::format::DType;

/// A stored element type.
trait Elem {
    const SIZE: usize;
    /// One element from exactly `SIZE` bytes.
    fn one(b: &[u8]) -> f32;
    /// [`LANES`] elements from `LANES * SIZE` bytes (zeros if `b` is not
    /// that long, which the callers rule out).
    fn chunk(b: &[u8]) -> [f32; LANES];
}

struct F16;
struct F32;

impl Elem for F16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn one(b: &[u8]) -> f32 {
        match *b {
            [lo, hi] => f16_to_f32(u16::from_le_bytes([lo, hi])),
            _ => 0.0,
        }
    }
    #[inline(always)]
    fn chunk(b: &[u8]) -> [f32; LANES] {
        // A fixed-size array: constant indices, so the conversion unrolls
        // and vectorises with no bounds checks.
        let Ok(b) = <&[u8; 2 * LANES]>::try_from(b) else {
            return [0.0; LANES];
        };
        // Two steps: the first is a plain (unaligned) load on little-endian
        // targets, the second a vector conversion.
        let mut h = [0u16; LANES];
        for (v, c) in h.iter_mut().zip(b.chunks_exact(2)) {
            *v = u16::from_le_bytes([c[0], c[1]]);
        }
        h.map(f16_to_f32)
    }
}

impl Elem for F32 {
    const SIZE: usize = 4;
    #[inline(always)]
    fn one(b: &[u8]) -> f32 {
        match *b {
            [a, b, c, d] => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        }
    }
    #[inline(always)]
    fn chunk(b: &[u8]) -> [f32; LANES] {
        let Ok(b) = <&[u8; 4 * LANES]>::try_from(b) else {
            return [0.0; LANES];
        };
        core::array::from_fn(|j| {
            f32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]])
        })
    }
}

/// `y[o] = sum_i w[o, i] * x[i] + b[o]`, in the order of the module docs.
pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    match w.dtype() {
        DType::F16 => dense_typed::<F16>(w.bytes(), b, x, y),
        DType::F32 => dense_typed::<F32>(w.bytes(), b, x, y),
        // Integer weights: `dense_fits` rejected them.
        DType::I8 | DType::I16 | DType::I32 => {}
    }
}

fn dense_typed<E: Elem>(w: &[u8], b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    let row_bytes = x.len() * E::SIZE;
    if row_bytes == 0 {
        for (o, v) in y.iter_mut().enumerate() {
            *v = 0.0 + b.at(o);
        }
        return;
    }
    // Four rows share each chunk of x where there are vector registers to
    // hold 64 partial sums; a Cortex-M has not, and one row keeps the code
    // small there.
    const R: usize = if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        4
    } else {
        1
    };
    // R is 1 on some targets, where the remainder is always 0.
    #[allow(clippy::modulo_one)]
    let split = y.len() - y.len() % R;
    let (y4, y1) = y.split_at_mut(split);
    let (w4, w1) = w.split_at(split * row_bytes);
    for (blk, (out, rows)) in y4
        .chunks_exact_mut(R)
        .zip(w4.chunks_exact(R * row_bytes))
        .enumerate()
    {
        let mut r = rows.chunks_exact(row_bytes);
        let rows = [(); R].map(|_| r.next().unwrap_or(&[]));
        rows_block::<E, R>(rows, x, out, b, blk * R);
    }
    if R > 1 {
        for (i, (out, row)) in y1
            .chunks_exact_mut(1)
            .zip(w1.chunks_exact(row_bytes))
            .enumerate()
        {
            rows_block::<E, 1>([row], x, out, b, split + i);
        }
    }
}

/// `R` output rows at once: `R * LANES` independent partial sums.
#[inline(always)]
fn rows_block<E: Elem, const R: usize>(
    rows: [&[u8]; R],
    x: &[f32],
    out: &mut [f32],
    b: Weights<'_>,
    first: usize,
) {
    let full = x.len() - x.len() % LANES;
    let (xf, xt) = x.split_at(full);
    let mut acc = [[0.0f32; LANES]; R];
    for (k, xc) in xf.chunks_exact(LANES).enumerate() {
        let start = k * LANES * E::SIZE;
        for (a, row) in acc.iter_mut().zip(rows) {
            let wb = row.get(start..start + LANES * E::SIZE).unwrap_or(&[]);
            let wc = E::chunk(wb);
            for ((a, wv), xv) in a.iter_mut().zip(wc).zip(xc) {
                *a += wv * xv;
            }
        }
    }
    for (r, ((a, row), o)) in acc.iter().zip(rows).zip(out.iter_mut()).enumerate() {
        let mut s = a[0];
        for v in &a[1..] {
            s += *v;
        }
        let tail = row.get(full * E::SIZE..).unwrap_or(&[]);
        for (wb, xv) in tail.chunks_exact(E::SIZE).zip(xt) {
            s += E::one(wb) * xv;
        }
        *o = s + b.at(first + r);
    }
}

/// Output columns (or input positions for a transposed convolution) `t` in
/// `0..n` for which `t * stride + offset` lands in `0..len`, as a range.
#[inline]
pub(crate) fn valid(n: usize, stride: usize, offset: isize, len: usize) -> core::ops::Range<usize> {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let hi = if (len as isize) > offset {
        ((len as isize - offset + s - 1) / s).min(n as isize)
    } else {
        0
    };
    let lo = lo.min(n as isize) as usize;
    lo..(hi.max(lo as isize) as usize)
}

/// `r` cut to the tile `lo..lo + n`, as (start, end); empty where
/// `start >= end`.
#[inline(always)]
fn clip(r: core::ops::Range<usize>, lo: usize, n: usize) -> (usize, usize) {
    (r.start.max(lo), r.end.min(lo + n))
}

/// [`conv2d`] or [`conv_transpose2d`] (`transpose`): where a vector
/// kernel leaves a geometry, it runs this.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn conv(c: super::ConvArgs<'_>, y: &mut [f32]) {
    let super::ConvArgs {
        w,
        b,
        g,
        x,
        transpose,
    } = c;
    if transpose {
        conv_transpose2d(w, b, g, x, y)
    } else {
        conv2d(w, b, g, x, y)
    }
}

/// Outputs per register tile.
const TILE: usize = 16;

/// PyTorch `Conv2d`, one output row tile at a time.
pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    let k = g.kernel;
    let plane_in = g.in_h * g.in_w;
    for o in 0..g.out_c {
        let bias = b.at(o);
        for oy in 0..g.out_h {
            let row_out = (o * g.out_h + oy) * g.out_w;
            for t0 in (0..g.out_w).step_by(TILE) {
                let tn = TILE.min(g.out_w - t0);
                let mut acc = [bias; TILE];
                for c in 0..g.in_c {
                    for ky in 0..k {
                        let Some(iy) = (oy * g.stride + ky).checked_sub(g.padding) else {
                            continue;
                        };
                        if iy >= g.in_h {
                            continue;
                        }
                        let xrow = x.get(c * plane_in + iy * g.in_w..).unwrap_or(&[]);
                        let wbase = ((o * g.in_c + c) * k + ky) * k;
                        for kx in 0..k {
                            let wv = weight(&w, wbase + kx);
                            let off = kx as isize - g.padding as isize;
                            let r = valid(g.out_w, g.stride, off, g.in_w);
                            let (lo, hi) = (r.start.max(t0), r.end.min(t0 + tn));
                            if lo >= hi {
                                continue;
                            }
                            let acc = acc.get_mut(lo - t0..hi - t0).unwrap_or(&mut []);
                            let first = (lo * g.stride + kx) - g.padding;
                            if g.stride == 1 {
                                let xs = xrow.get(first..first + (hi - lo)).unwrap_or(&[]);
                                for (a, xv) in acc.iter_mut().zip(xs) {
                                    *a += wv * xv;
                                }
                            } else {
                                let xs = xrow.get(first..).unwrap_or(&[]);
                                for (a, xv) in acc.iter_mut().zip(xs.iter().step_by(g.stride)) {
                                    *a += wv * xv;
                                }
                            }
                        }
                    }
                }
                if let Some(dst) = y.get_mut(row_out + t0..row_out + t0 + tn) {
                    dst.copy_from_slice(acc.get(..tn).unwrap_or(&[]));
                }
            }
        }
    }
}

/// Outputs of one phase plane kept in the accumulator tile.
const PLANE: usize = 256;

/// PyTorch `ConvTranspose2d` as a gather, one output phase plane at a time.
/// The outputs `(py + s u, px + s t)` of a phase `(py, px)` all take the
/// same kernel taps, from input `(u + dy, t + dx)`: a tile of them stays in
/// an accumulator array through the whole reduction, and each weight is
/// applied to the tile row by row over consecutive input columns.
pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    if !conv_fits(&w, &b, g, x, y) {
        return;
    }
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
        && g.out_c >= OC
        && g.kernel * g.kernel <= MAX_TAPS
        && g.out_w <= PIXELS
    {
        conv_transpose2d_channels(w, b, g, x, y);
        return;
    }
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let plane_in = g.in_h * g.in_w;
    let mut acc = [0.0f32; PLANE];
    for o in 0..g.out_c {
        let bias = b.at(o);
        for py in 0..s.min(g.out_h) {
            let nu = (g.out_h - py).div_ceil(s);
            for px in 0..s.min(g.out_w) {
                let nt = (g.out_w - px).div_ceil(s);
                let tw = nt.min(PLANE);
                let uh = (PLANE / tw).max(1);
                for u0 in (0..nu).step_by(uh) {
                    let un = uh.min(nu - u0);
                    for t0 in (0..nt).step_by(tw) {
                        let tn = tw.min(nt - t0);
                        let tile = acc.get_mut(..un * tn).unwrap_or(&mut []);
                        tile.fill(bias);
                        for c in 0..g.in_c {
                            let xc = x.get(c * plane_in..(c + 1) * plane_in).unwrap_or(&[]);
                            // oy + p - ky = iy * s for every s-th ky.
                            for ky in ((py + p) % s..k).step_by(s) {
                                let dy = ((py + p) as isize - ky as isize) / s as isize;
                                let (ulo, uhi) = clip(valid(nu, 1, dy, g.in_h), u0, un);
                                if ulo >= uhi {
                                    continue;
                                }
                                let wbase = ((c * g.out_c + o) * k + ky) * k;
                                for kx in ((px + p) % s..k).step_by(s) {
                                    let dx = ((px + p) as isize - kx as isize) / s as isize;
                                    let (tlo, thi) = clip(valid(nt, 1, dx, g.in_w), t0, tn);
                                    if tlo >= thi {
                                        continue;
                                    }
                                    let wv = weight(&w, wbase + kx);
                                    let len = thi - tlo;
                                    for u in ulo..uhi {
                                        let xi = (u as isize + dy) as usize * g.in_w
                                            + (tlo as isize + dx) as usize;
                                        let ai = (u - u0) * tn + (tlo - t0);
                                        let xs = xc.get(xi..xi + len).unwrap_or(&[]);
                                        let acc_row = tile.get_mut(ai..ai + len).unwrap_or(&mut []);
                                        for (a, xv) in acc_row.iter_mut().zip(xs) {
                                            *a += wv * xv;
                                        }
                                    }
                                }
                            }
                        }
                        for (i, v) in tile.iter().enumerate() {
                            let (u, t) = (u0 + i / tn, t0 + i % tn);
                            let at = (o * g.out_h + py + s * u) * g.out_w + px + s * t;
                            if let Some(dst) = y.get_mut(at) {
                                *dst = *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Output channels per vector in [`conv_transpose2d_channels`].
const OC: usize = 8;
/// Largest `kernel * kernel` that kernel keeps converted on the stack.
const MAX_TAPS: usize = 64;
/// Output pixels per accumulator tile there.
const PIXELS: usize = 256;

/// `ConvTranspose2d` with [`OC`] output channels in each vector: for one
/// input channel, the weights of `OC` output channels are contiguous in the
/// file (layout `[in, out, k, k]`), so they are converted once into a
/// `[tap][channel]` block. A tile of whole output rows accumulates `OC`
/// channels per pixel; the loops run input channel, kernel row, kernel
/// column outermost, so every output still adds its taps in the documented
/// order, and the innermost loop scatters one weight vector over a row of
/// input pixels with no per-pixel tap search.
fn conv_transpose2d_channels(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) {
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let kk = k * k;
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let rows_per_tile = (PIXELS / g.out_w).max(1);
    let mut acc = [[0.0f32; OC]; PIXELS];
    let mut wt = [[0.0f32; OC]; MAX_TAPS];
    let mut o0 = 0;
    while o0 < g.out_c {
        // The last block may overlap the previous one: recomputing a channel
        // gives the same bits.
        let ob = o0.min(g.out_c - OC);
        for oy0 in (0..g.out_h).step_by(rows_per_tile) {
            let rn = rows_per_tile.min(g.out_h - oy0);
            let tile = acc.get_mut(..rn * g.out_w).unwrap_or(&mut []);
            for a in tile.iter_mut() {
                for (lane, v) in a.iter_mut().enumerate() {
                    *v = b.at(ob + lane);
                }
            }
            for c in 0..g.in_c {
                for (lane, ch) in (ob..ob + OC).enumerate() {
                    let base = (c * g.out_c + ch) * kk;
                    for (t, row) in wt.iter_mut().take(kk).enumerate() {
                        row[lane] = weight(&w, base + t);
                    }
                }
                let xc = x.get(c * plane_in..(c + 1) * plane_in).unwrap_or(&[]);
                for ky in 0..k {
                    // Input rows whose output row iy * s + ky - p is in the tile.
                    let ys = valid(g.in_h, s, ky as isize - p as isize - oy0 as isize, rn);
                    for kx in 0..k {
                        let xs = valid(g.in_w, s, kx as isize - p as isize, g.out_w);
                        if xs.is_empty() {
                            continue;
                        }
                        let wv = wt.get(ky * k + kx).copied().unwrap_or([0.0; OC]);
                        let first_ox = xs.start * s + kx - p;
                        for iy in ys.clone() {
                            let row = (iy * s + ky - p - oy0) * g.out_w;
                            let acc_row = tile.get_mut(row + first_ox..).unwrap_or(&mut []);
                            let x_row = xc
                                .get(iy * g.in_w + xs.start..iy * g.in_w + xs.end)
                                .unwrap_or(&[]);
                            for (a, &xv) in acc_row.iter_mut().step_by(s).zip(x_row) {
                                // Whole-array arithmetic: one vector operation.
                                let mut v = *a;
                                for l in 0..OC {
                                    v[l] += wv[l] * xv;
                                }
                                *a = v;
                            }
                        }
                    }
                }
            }
            let p0 = oy0 * g.out_w;
            for (lane, ch) in (ob..ob + OC).enumerate() {
                let start = ch * plane_out + p0;
                let dst = y.get_mut(start..start + tile.len()).unwrap_or(&mut []);
                for (d, a) in dst.iter_mut().zip(tile.iter()) {
                    *d = a[lane];
                }
            }
        }
        o0 += OC;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges() {
        assert_eq!(valid(5, 1, -1, 5), 1..5);
        assert_eq!(valid(5, 1, 1, 5), 0..4);
        assert_eq!(valid(3, 2, -1, 6), 1..3);
        assert_eq!(valid(3, 2, 10, 6), 0..0);
        assert_eq!(valid(3, 1, -10, 6), 3..3);
    }
}
