//! The transposed convolution of cores with an FPU but no vector unit:
//! eight output channels per pixel accumulated together. Portable Rust but
//! for the two tap routines and the f16 column conversion, which run in
//! assembly on `cortex_m_fpu` targets (module `m4f`) and as the Rust loops
//! here everywhere else, so that the host tests hold the rest to the plain
//! kernel bit for bit.

#[cfg(cortex_m_fpu)]
use super::m4f::{microgan_f16_column_m4f, microgan_tap1_m4f, microgan_tap8_m4f};
use crate::kernels::f16::weight;
use crate::kernels::{conv_fits, ConvGeom, Weights};

/// Output channels per accumulator vector in [`run`].
const OC: usize = 8;
/// Largest `kernel * kernel` whose converted weights it keeps on the stack.
const MAX_TAPS: usize = 16;
/// Output pixels per accumulator tile (`OC * PIXELS * 4` = 4 KiB of stack).
const PIXELS: usize = 128;

/// `ConvTranspose2d` with 8 output channels per pixel accumulated
/// together, for cores with an FPU but no vector unit. For one input channel
/// the weights of 8 output channels are converted once into a
/// `[tap][channel]` block; then, for each kernel tap, the eight converted
/// weights stay in FP registers while the loop walks a row of input pixels,
/// loading each pixel's eight accumulators, applying eight multiply-adds and
/// storing them back. Loops run input channel, kernel row, kernel column
/// outermost, so every output adds its taps in the format's order.
///
/// Layers with fewer than 8 output channels run one channel at a time, each
/// tap streaming one weight over the pixels. Returns `false` (doing nothing)
/// when the layer does not suit it (a kernel over 4 x 4, rows over 128
/// pixels wide, or over 1,024 with fewer than 8 channels, buffers that do
/// not fit); the caller then uses the portable kernel.
/// Portable Rust: the host tests hold it to the plain kernel bit for bit.
pub(super) fn run(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) -> bool {
    if !conv_fits(&w, &b, g, x, y) || g.kernel * g.kernel > MAX_TAPS || g.out_w == 0 {
        return false;
    }
    if g.out_c >= OC {
        g.out_w <= PIXELS && conv_t::<OC, PIXELS>(w, b, g, x, y)
    } else {
        // One channel at a time (the last layer of an image generator has
        // one to three): the tap routine then streams a shared weight over
        // the pixels instead.
        g.out_w <= OC * PIXELS && conv_t::<1, { OC * PIXELS }>(w, b, g, x, y)
    }
}

/// [`run`] with `L` channels per pixel and `P` pixels per tile.
fn conv_t<const L: usize, const P: usize>(
    w: Weights<'_>,
    b: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    y: &mut [f32],
) -> bool {
    if g.out_c < L || g.out_w > P || g.out_w == 0 {
        return false;
    }
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let kk = k * k;
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h * g.out_w;
    let rows_per_tile = P / g.out_w;
    let mut acc = [[0.0f32; L]; P];
    let mut wt = [[0.0f32; L]; MAX_TAPS];
    let mut o0 = 0;
    while o0 < g.out_c {
        // The last block may overlap the previous one: recomputing a channel
        // gives the same bits.
        let ob = o0.min(g.out_c - L);
        for oy0 in (0..g.out_h).step_by(rows_per_tile) {
            let rn = rows_per_tile.min(g.out_h - oy0);
            let tile = acc.get_mut(..rn * g.out_w).unwrap_or(&mut []);
            let bias: [f32; L] = core::array::from_fn(|lane| b.at(ob + lane));
            tile.fill(bias);
            // The taps that reach this tile, in (ky, kx) order, with their
            // geometry: the same for every input channel.
            let mut taps = [(0, EMPTY_TAP); MAX_TAPS];
            let mut n_taps = 0;
            for ky in 0..k {
                // Input rows whose output row iy * s + ky - p is in the tile.
                let ys = valid(g.in_h, s, ky as isize - p as isize - oy0 as isize, rn);
                for kx in 0..k {
                    let xs = valid(g.in_w, s, kx as isize - p as isize, g.out_w);
                    if xs.is_empty() || ys.is_empty() {
                        continue;
                    }
                    let t = Tap {
                        acc: (ys.start * s + ky - p - oy0) * g.out_w + xs.start * s + kx - p,
                        x: ys.start * g.in_w + xs.start,
                        cols: xs.len(),
                        rows: ys.len(),
                        acc_col: s,
                        acc_row: s * g.out_w,
                        x_row: g.in_w,
                    };
                    if let Some(slot) = taps.get_mut(n_taps) {
                        *slot = (ky * k + kx, t);
                        n_taps += 1;
                    }
                }
            }
            let taps = taps.get(..n_taps).unwrap_or(&[]);
            for c in 0..g.in_c {
                for (lane, ch) in (ob..ob + L).enumerate() {
                    convert_column(&w, (c * g.out_c + ch) * kk, kk, &mut wt, lane);
                }
                let xc = x.get(c * plane_in..(c + 1) * plane_in).unwrap_or(&[]);
                for (i, t) in taps {
                    if let Some(wv) = wt.get(*i) {
                        apply_tap(wv, tile, xc, t);
                    }
                }
            }
            let p0 = oy0 * g.out_w;
            for (lane, ch) in (ob..ob + L).enumerate() {
                let start = ch * plane_out + p0;
                let dst = y.get_mut(start..start + tile.len()).unwrap_or(&mut []);
                for (d, a) in dst.iter_mut().zip(tile.iter()) {
                    *d = a[lane];
                }
            }
        }
        o0 += L;
    }
    true
}

/// One kernel tap over a block of the tile: for `rows` x `cols` input
/// pixels, starting at `x` and stepping 1 across and `x_row` down, the
/// accumulators at `acc`, stepping `acc_col` across and `acc_row` down,
/// each take `w[lane] * x` (all indices in elements of the slices).
/// `#[repr(C)]`: the assembly reads it as seven words.
#[repr(C)]
#[derive(Clone, Copy)]
struct Tap {
    acc: usize,
    x: usize,
    cols: usize,
    rows: usize,
    acc_col: usize,
    acc_row: usize,
    x_row: usize,
}

const EMPTY_TAP: Tap = Tap {
    acc: 0,
    x: 0,
    cols: 0,
    rows: 0,
    acc_col: 0,
    acc_row: 0,
    x_row: 0,
};

impl Tap {
    /// Whether every index it reaches lies inside the slices (and it has
    /// at least one pixel), so that the assembly stays in bounds.
    fn fits(&self, acc_len: usize, x_len: usize) -> bool {
        let last = |start: usize, col: usize, row: usize| {
            let c = (self.cols - 1).checked_mul(col)?;
            let r = (self.rows - 1).checked_mul(row)?;
            start.checked_add(c)?.checked_add(r)
        };
        self.cols > 0
            && self.rows > 0
            && last(self.acc, self.acc_col, self.acc_row).is_some_and(|i| i < acc_len)
            && last(self.x, 1, self.x_row).is_some_and(|i| i < x_len)
    }
}

/// Applies one tap (see [`Tap`]); does nothing if it does not fit.
fn apply_tap<const L: usize>(w: &[f32; L], acc: &mut [[f32; L]], x: &[f32], t: &Tap) {
    if !t.fits(acc.len(), x.len()) {
        return;
    }
    #[cfg(cortex_m_fpu)]
    {
        let raw = [
            acc.as_mut_ptr() as usize + t.acc * 4 * L,
            x.as_ptr() as usize + t.x * 4,
            t.cols,
            t.rows,
            t.acc_col * 4 * L,
            t.acc_row * 4 * L,
            t.x_row * 4,
        ];
        // SAFETY: `fits` checked that every accumulator (`L` f32s) and
        // input the routine reaches lies inside `acc` and `x`, and that it
        // has at least one row and column; the routine for `L` lanes reads
        // `L` weights from `w`. `acc` is borrowed mutably, `x` and `w`
        // immutably, and they cannot overlap. The routines follow AAPCS-VFP
        // (r4-r9 and s16 saved and restored).
        match L {
            OC => unsafe { microgan_tap8_m4f(w.as_ptr(), raw.as_ptr()) },
            1 => unsafe { microgan_tap1_m4f(w.as_ptr(), raw.as_ptr()) },
            _ => {}
        }
    }
    #[cfg(not(cortex_m_fpu))]
    {
        for r in 0..t.rows {
            let acc_row = acc.get_mut(t.acc + r * t.acc_row..).unwrap_or(&mut []);
            let x_row = x.get(t.x + r * t.x_row..).unwrap_or(&[]);
            for (a, &xv) in acc_row
                .iter_mut()
                .step_by(t.acc_col)
                .zip(x_row)
                .take(t.cols)
            {
                for (a, wv) in a.iter_mut().zip(w) {
                    *a += wv * xv;
                }
            }
        }
    }
}

/// Weights `base..base + kk` of `w` into `wt[0..kk][lane]` (a tensor too
/// short leaves zeros, which the loader's shape checks rule out).
fn convert_column<const L: usize>(
    w: &Weights<'_>,
    base: usize,
    kk: usize,
    wt: &mut [[f32; L]; MAX_TAPS],
    lane: usize,
) {
    #[cfg(cortex_m_fpu)]
    if w.dtype() == crate::format::DType::F16 && kk > 0 && kk <= MAX_TAPS && lane < L {
        if let Some(src) = w.bytes().get(2 * base..2 * (base + kk)) {
            // SAFETY: `src` holds `kk` f16 values; the destinations
            // `wt[t][lane]` for `t < kk <= MAX_TAPS`, `lane < L`, lie
            // inside `wt`, `4 * L` bytes apart.
            unsafe {
                microgan_f16_column_m4f(
                    src.as_ptr(),
                    wt.as_mut_ptr().cast::<f32>().add(lane),
                    kk,
                    4 * L,
                )
            };
            return;
        }
    }
    for (t, row) in wt.iter_mut().take(kk).enumerate() {
        if let Some(v) = row.get_mut(lane) {
            *v = weight(w, base + t);
        }
    }
}

/// [`portable::valid`](crate::kernels::portable::valid), out of line:
/// inlined into each of its calls it costs about 400 bytes of flash on the
/// Cortex-M4F.
#[inline(never)]
fn valid(n: usize, stride: usize, offset: isize, len: usize) -> core::ops::Range<usize> {
    crate::kernels::portable::valid(n, stride, offset, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::DType;
    use crate::kernels::reference;

    /// Random shapes and values (a fixed LCG, so failures reproduce):
    /// bit for bit the plain kernel's outputs, F16 and F32 weights, with
    /// negative zeros among the biases and activations.
    #[test]
    fn conv_transpose2d_equals_plain() {
        let mut next = super::super::lcg(12345u32);
        let mut checked = 0;
        for case in 0..300 {
            let k = 1 + next(4) as usize;
            let s = 1 + next(3) as usize;
            let p = next(k as u32) as usize;
            let (in_c, out_c) = (1 + next(4) as usize, 1 + next(20) as usize);
            let (in_h, in_w) = (1 + next(9) as usize, 1 + next(9) as usize);
            let (Some(oh), Some(ow)) = (
                ((in_h - 1) * s + k).checked_sub(2 * p),
                ((in_w - 1) * s + k).checked_sub(2 * p),
            ) else {
                continue;
            };
            if oh == 0 || ow == 0 {
                continue;
            }
            let g = ConvGeom {
                in_c,
                in_h,
                in_w,
                out_c,
                out_h: oh,
                out_w: ow,
                kernel: k,
                stride: s,
                padding: p,
            };
            let dtype = if case % 2 == 0 {
                DType::F16
            } else {
                DType::F32
            };
            let mut val = |i: usize| match next(8) {
                0 => -0.0,
                _ => (next(2000) as f32 - 1000.0) * 0.001 * (1.0 + i as f32 * 1e-3),
            };
            let elems = |n: usize, val: &mut dyn FnMut(usize) -> f32| -> Vec<u8> {
                (0..n)
                    .flat_map(|i| {
                        let v = val(i);
                        match dtype {
                            DType::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
                            _ => v.to_le_bytes().to_vec(),
                        }
                    })
                    .collect()
            };
            let wb = elems(in_c * out_c * k * k, &mut val);
            let bb = elems(out_c, &mut val);
            let x: Vec<f32> = (0..in_c * in_h * in_w).map(&mut val).collect();
            let (wt, bt) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
            let n = out_c * oh * ow;
            let (mut want, mut got) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            reference::conv_transpose2d(wt, bt, &g, &x, &mut want);
            let used = run(wt, bt, &g, &x, &mut got);
            assert_eq!(used, k * k <= MAX_TAPS && ow <= PIXELS, "{g:?}");
            if used {
                checked += 1;
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{g:?}");
            }
        }
        assert!(checked > 50, "only {checked} cases exercised the kernel");
    }
}
