//! The pixel path of the AVX-512 convolutions: fewer than 16 output
//! channels, a register across up to 16 pixels of a run.

use core::arch::x86_64::*;

use super::conv::{first_tap, Block, Run, Taps};
use super::lanes;
use crate::kernels::taps::KMAX;

impl Block<'_> {
    /// Pixel path for a 2x2 grid of taps (a transposed convolution with
    /// kernel 4 and stride 2 inside the image) over `R` rows whose inputs
    /// are consecutive rows: a row's second kernel row reads the input row
    /// of the previous row's first, so each input vector is loaded once
    /// and used by two rows (loads, not arithmetic, bound this path).
    /// Returns false, doing nothing, where the taps or rows do not line up.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn tile_grid<const R: usize>(
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
    pub(super) unsafe fn tile_pixels<const R: usize>(
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
