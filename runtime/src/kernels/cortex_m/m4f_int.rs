//! The Cortex-M4F integer kernels (version-2 files): int8 weights times
//! int16 activations with the DSP extension's dual 16-bit multiply-adds
//! (module `dsp`), two MACs per instruction.
//!
//! A 32-bit load brings four weights; `SXTB16` sign-extends bytes 0 and 2
//! into two halfwords, `SXTB16` rotated by 8 bytes 1 and 3. `SMLAD`
//! multiplies halfword by halfword and adds both products to a sum, so the
//! activations must be paired the same way:
//!
//! - dense: four rows share each group of four inputs; the inputs
//!   `x0 x1 | x2 x3` (two loads) are repacked once as `x0 x2 | x1 x3`
//!   (`PKHBT`/`PKHTB`) for the four rows: 26 instructions per 16 MACs;
//! - the stride-2 transposed convolution (module `stride2`): the weights of
//!   a kernel row `w0 w1 w2 w3` give `w0 w2` and `w1 w3`, and the two
//!   output columns `2j - 1` and `2j` are `w0 * x[j] + w2 * x[j - 1]` and
//!   `w1 * x[j] + w3 * x[j - 1]`: one (unaligned) load of `x[j - 1], x[j]`
//!   and two `SMLADX` (which exchanges the input's halves). A block of up
//!   to three column pairs (and the first or last column, one `SMLABB` or
//!   `SMLATT`) keeps its sums in registers across all input channels: 15
//!   instructions per 12 MACs.
//!
//! Integer sums are exact, so the order is free and the results equal the
//! plain kernels' bit for bit. Other convolutions run the portable kernels.

use super::dsp::{pack_hi, pack_lo, smlabb, smlad, smladx, smlatt, sxtb16, sxtb16_ror8};
use super::stride2;
use crate::kernels::integer::{int_conv_fits, int_dense_fits, portable, IntParams};
use crate::kernels::ConvGeom;

/// Rows a dense step computes together.
const ROWS: usize = 4;

/// Integer dense layer, [`ROWS`] rows at a time.
pub(super) fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    let n = x.len();
    if n == 0 || !int_dense_fits(p, n, y.len()) {
        return;
    }
    let w = p.weights();
    let store = |o: usize, sum: i32| p.requant(o).apply(p.bias(o).wrapping_add(sum));
    for (k, out) in y.chunks_mut(ROWS).enumerate() {
        let o = k * ROWS;
        if let Ok(out) = <&mut [i16; ROWS]>::try_from(&mut *out) {
            let sums = dot_rows::<ROWS>(w, x, o);
            for (r, (dst, sum)) in out.iter_mut().zip(sums).enumerate() {
                *dst = store(o + r, sum);
            }
        } else {
            for (r, dst) in out.iter_mut().enumerate() {
                *dst = store(o + r, dot_rows::<1>(w, x, o + r)[0]);
            }
        }
    }
}

/// The dot products of rows `o..o + R` of `w` (rows of `x.len()`
/// weights) with `x`; `w` holds them (checked by the caller).
#[inline(always)]
fn dot_rows<const R: usize>(w: &[i8], x: &[i16], o: usize) -> [i32; R] {
    let n = x.len();
    let mut acc = [0i32; R];
    let Some(rows) = w.get(o * n..(o + R) * n) else {
        return acc;
    };
    let quads = n / 4;
    let (wp, xp) = (rows.as_ptr(), x.as_ptr());
    for q in 0..quads {
        // SAFETY: input `4q + 3 < n` and weight `r * n + 4q + 3 < R * n`
        // lie inside `x` and `rows`; unaligned reads are allowed.
        let (x01, x23) = unsafe {
            (
                xp.add(4 * q).cast::<u32>().read_unaligned(),
                xp.add(4 * q + 2).cast::<u32>().read_unaligned(),
            )
        };
        let (x02, x13) = (pack_lo(x01, x23), pack_hi(x01, x23));
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: see above.
            let wv = unsafe { wp.add(r * n + 4 * q).cast::<u32>().read_unaligned() };
            *a = smlad(sxtb16_ror8(wv), x13, smlad(sxtb16(wv), x02, *a));
        }
    }
    for i in 4 * quads..n {
        for (r, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_add(i32::from(rows[r * n + i]) * i32::from(x[i]));
        }
    }
    acc
}

/// Integer `conv_transpose2d`: the stride-2 kernel of module `stride2`
/// where the geometry suits it, else the portable one.
pub(super) fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    if !stride2::suits(g) {
        return portable::conv_transpose2d(p, g, x, y);
    }
    for o in 0..g.out_c {
        let (bias, rq) = (p.bias(o), p.requant(o));
        for oy in 0..g.out_h {
            let at = (o * g.out_h + oy) * g.out_w;
            let Some(row) = y.get_mut(at..at + g.out_w) else {
                return;
            };
            let (taps, n_taps) = stride2::row_taps(oy, g.in_h);
            let ctx = Row {
                p,
                g,
                x,
                o,
                bias,
                taps: &taps[..n_taps],
            };
            let pairs = g.in_w - 1;
            let mut j0 = 1;
            while j0 <= pairs {
                let n = (pairs + 1 - j0).min(3);
                let acc = match (n, j0 == 1, j0 + n - 1 == pairs) {
                    (3, false, false) => ctx.block::<3, false, false>(j0),
                    (3, true, false) => ctx.block::<3, true, false>(j0),
                    (3, false, true) => ctx.block::<3, false, true>(j0),
                    (3, true, true) => ctx.block::<3, true, true>(j0),
                    (2, false, false) => ctx.block::<2, false, false>(j0),
                    (2, true, false) => ctx.block::<2, true, false>(j0),
                    (2, false, true) => ctx.block::<2, false, true>(j0),
                    (2, true, true) => ctx.block::<2, true, true>(j0),
                    (_, false, false) => ctx.block::<1, false, false>(j0),
                    (_, true, false) => ctx.block::<1, true, false>(j0),
                    (_, false, true) => ctx.block::<1, false, true>(j0),
                    (_, true, true) => ctx.block::<1, true, true>(j0),
                };
                if j0 == 1 {
                    row[0] = rq.apply(acc[0]);
                }
                for q in 0..n {
                    let ox = 2 * (j0 + q) - 1;
                    row[ox] = rq.apply(acc[1 + 2 * q]);
                    row[ox + 1] = rq.apply(acc[2 + 2 * q]);
                }
                if j0 + n - 1 == pairs {
                    row[g.out_w - 1] = rq.apply(acc[7]);
                }
                j0 += n;
            }
        }
    }
}

/// One output row of one channel: what its blocks read.
struct Row<'a, 'p> {
    p: &'a IntParams<'p>,
    g: &'a ConvGeom,
    x: &'a [i16],
    o: usize,
    bias: i32,
    taps: &'a [(usize, usize)],
}

impl Row<'_, '_> {
    /// The sums of the `P` column pairs from `j0` (output columns
    /// `2 * j0 - 1 ..`): pair `q` in `[1 + 2q]` and `[2 + 2q]`, the first
    /// column in `[0]` when `L`, the last in `[7]` when `R`.
    #[inline(always)]
    fn block<const P: usize, const L: bool, const R: bool>(&self, j0: usize) -> [i32; 8] {
        let g = self.g;
        let mut acc = [self.bias; 8];
        let w = self.p.weights();
        let (w_step, x_step) = (g.out_c * 16, g.in_h * g.in_w);
        for &(ky, iy) in self.taps {
            // SAFETY: the caller checked `int_conv_fits`: the weights hold
            // `in_c * out_c * 16` bytes and `x` `in_c * in_h * in_w`
            // values; every weight word read is `w[c, o, ky, 0..4]`, every
            // input word `x[c, iy, j - 1..=j]` with `1 <= j < in_w`.
            unsafe {
                let mut wp = w.as_ptr().add(self.o * 16 + ky * 4);
                let mut xp = self.x.as_ptr().add(iy * g.in_w + j0 - 1);
                for _ in 0..g.in_c {
                    let wv = wp.cast::<u32>().read_unaligned();
                    let (w02, w13) = (sxtb16(wv), sxtb16_ror8(wv));
                    for q in 0..P {
                        let xv = xp.add(q).cast::<u32>().read_unaligned();
                        if L && q == 0 {
                            acc[0] = smlabb(w13, xv, acc[0]);
                        }
                        acc[1 + 2 * q] = smladx(w02, xv, acc[1 + 2 * q]);
                        acc[2 + 2 * q] = smladx(w13, xv, acc[2 + 2 * q]);
                        if R && q == P - 1 {
                            acc[7] = smlatt(w02, xv, acc[7]);
                        }
                    }
                    wp = wp.wrapping_add(w_step);
                    xp = xp.wrapping_add(x_step);
                }
            }
        }
        acc
    }
}
