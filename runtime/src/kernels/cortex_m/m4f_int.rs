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
//!   (`PKHBT`/`PKHTB`) for the four rows: 25 instructions per 16 MACs;
//! - the stride-2 transposed convolution (module `stride2`): the weights of
//!   a kernel row `w0 w1 w2 w3` give `w0 w2` and `w1 w3`, and the two
//!   output columns `2j - 1` and `2j` are `w0 * x[j] + w2 * x[j - 1]` and
//!   `w1 * x[j] + w3 * x[j - 1]`: one (unaligned) load of `x[j - 1], x[j]`
//!   and two `SMLADX` (which exchanges the input's halves). A block of up
//!   to three column pairs (and the first or last column, one `SMLABB` or
//!   `SMLATT`) keeps its sums in registers across all input channels (16
//!   or 17 instructions per 12 or 13 MACs), then requantises and stores
//!   them itself.
//!
//! The loops are assembly (module `m4f_int_asm`); this module sets them
//! up, and on other targets runs their Rust stand-ins.
//!
//! Integer sums are exact, so the order is free and the results equal the
//! plain kernels' bit for bit. Other convolutions run the portable kernels.

use super::dsp::{pack_hi, pack_lo, smlad, sxtb16, sxtb16_ror8};
#[cfg(not(cortex_m_dsp))]
use super::dsp::{smlabb, smladx, smlatt};
use super::{requant, stride2};
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
    let store = |o: usize, sum: i32| {
        let (bias, rq) = requant::channel(p, o);
        requant::apply(rq, bias.wrapping_add(sum))
    };
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
    #[cfg(cortex_m_dsp)]
    if R == 4 && quads > 0 {
        let mut out = [0i32; 4];
        let at = |r: usize| rows.as_ptr().wrapping_add(r * n) as u32;
        let a = [at(0), at(1), at(2), at(3), x.as_ptr() as u32, quads as u32];
        // SAFETY: each of the four rows holds `n >= 4 * quads` weights
        // and `x` `n` values, the reads the routine makes; `out` takes
        // four sums. AAPCS (r4-r11 saved and restored).
        unsafe { super::m4f_int_asm::microgan_int_dot4_m4f(a.as_ptr(), out.as_mut_ptr()) };
        acc.iter_mut().zip(out).for_each(|(a, v)| *a = v);
    } else {
        dot_quads(rows, x, quads, &mut acc);
    }
    #[cfg(not(cortex_m_dsp))]
    dot_quads(rows, x, quads, &mut acc);
    for i in 4 * quads..n {
        for (r, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_add(i32::from(rows[r * n + i]) * i32::from(x[i]));
        }
    }
    acc
}

/// The first `4 * quads` products of each of the `R` rows of `rows`
/// with `x`, added to `acc` (what the assembly does on the Cortex-M4F).
#[cfg_attr(cortex_m_dsp, inline(never))]
fn dot_quads<const R: usize>(rows: &[i8], x: &[i16], quads: usize, acc: &mut [i32; R]) {
    let n = x.len();
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
    let w = p.weights();
    for o in 0..g.out_c {
        let (bias, rq) = requant::channel(p, o);
        let fast = rq.fast_parts();
        for oy in 0..g.out_h {
            let at = (o * g.out_h + oy) * g.out_w;
            let Some(row) = y.get_mut(at..at + g.out_w) else {
                return;
            };
            let (taps, n_taps) = stride2::row_taps(oy, g.in_h);
            let mut b = Block {
                w: [w.as_ptr(); 2],
                x: [x.as_ptr(); 2],
                tap_end: 4 * n_taps,
                in_c: g.in_c,
                w_step: g.out_c * 16,
                x_step: 2 * g.in_h * g.in_w,
                bias,
                m: fast.map_or(0, |f| f.0),
                t: fast.map_or(0, |f| f.1),
                out: core::ptr::null_mut(),
                first: row.as_mut_ptr(),
                last: row.as_mut_ptr().wrapping_add(g.out_w - 1),
            };
            let pairs = g.in_w - 1;
            let mut j0 = 1;
            while j0 <= pairs {
                let shape = Shape::of(j0, pairs);
                for (t, &(ky, iy)) in taps[..n_taps].iter().enumerate() {
                    b.w[t] = w[(o * 4 + ky) * 4..].as_ptr();
                    b.x[t] = x[iy * g.in_w + j0 - 1..].as_ptr();
                }
                if fast.is_some() {
                    b.out = row[2 * j0 - 1..].as_mut_ptr();
                }
                let acc = b.run(shape);
                if fast.is_some() {
                    // The block stored its outputs.
                    j0 += shape.pairs;
                    continue;
                }
                if shape.left {
                    row[0] = requant::apply(rq, acc[0]);
                }
                for q in 0..shape.pairs {
                    let ox = 2 * (j0 + q) - 1;
                    row[ox] = requant::apply(rq, acc[1 + 2 * q]);
                    row[ox + 1] = requant::apply(rq, acc[2 + 2 * q]);
                }
                if shape.right {
                    row[g.out_w - 1] = requant::apply(rq, acc[7]);
                }
                j0 += shape.pairs;
            }
        }
    }
}

/// A block of output columns: `pairs` column pairs, with the row's first
/// column (`left`) or last (`right`).
#[derive(Clone, Copy)]
struct Shape {
    pairs: usize,
    left: bool,
    right: bool,
}

impl Shape {
    /// The block from pair `j0` of `pairs`: three pairs, fewer at the end
    /// of the row, two where three would need eight sums.
    fn of(j0: usize, pairs: usize) -> Shape {
        let left = j0 == 1;
        let mut n = (pairs + 1 - j0).min(3);
        if left && n == 3 && pairs == 3 {
            n = 2;
        }
        Shape {
            pairs: n,
            left,
            right: j0 + n - 1 == pairs,
        }
    }
}

/// What a block reads, laid out for the assembly (`#[repr(C)]`, words):
/// for each of `tap_end / 4` taps the weights `w[0, o, ky, 0..4]` and the
/// input `x[0, iy, j0 - 1..]`, each stepping `w_step` bytes and `x_step`
/// bytes per input channel, and the sums' start, the bias.
#[repr(C)]
struct Block {
    w: [*const i8; 2],
    x: [*const i16; 2],
    tap_end: usize,
    in_c: usize,
    w_step: usize,
    x_step: usize,
    bias: i32,
    /// The requantisation's fast path (module `requant`), used when `out`
    /// is not null: the block then stores its outputs requantised, the
    /// pairs from `out` on, the first column at `first`, the last at
    /// `last`; else it returns its sums.
    m: i32,
    t: u32,
    out: *mut i16,
    first: *mut i16,
    last: *mut i16,
}

impl Block {
    /// The block's sums: pair `q` in `[1 + 2q]` and `[2 + 2q]`, the first
    /// column in `[0]`, the last in `[7]`. The caller keeps every read
    /// inside the layer's tensors: the weight words `w[c, o, ky, 0..4]` and
    /// the input words `x[c, iy, j - 1..=j]` for `1 <= j < in_w`.
    #[inline(always)]
    fn run(&self, s: Shape) -> [i32; 8] {
        #[cfg(cortex_m_dsp)]
        let acc = {
            let mut acc = [0i32; 8];
            use super::m4f_int_asm::*;
            let f = match (s.pairs, s.left, s.right) {
                (3, false, false) => microgan_ct_3_m4f,
                (3, true, _) => microgan_ct_3l_m4f,
                (3, false, true) => microgan_ct_3r_m4f,
                (2, true, false) => microgan_ct_2l_m4f,
                (2, false, _) => microgan_ct_2r_m4f,
                (2, true, true) => microgan_ct_2lr_m4f,
                (_, false, _) => microgan_ct_1r_m4f,
                (_, true, _) => microgan_ct_1lr_m4f,
            };
            // SAFETY: `Shape::of` gives only the shapes matched here; the
            // reads stay in the tensors (see above) and the routine writes
            // the eight sums. AAPCS (r4-r11 saved and restored).
            unsafe { f((self as *const Block).cast(), acc.as_mut_ptr()) };
            acc
        };
        #[cfg(not(cortex_m_dsp))]
        let acc = {
            let mut acc = [self.bias; 8];
            for t in 0..self.tap_end / 4 {
                // SAFETY: see above.
                unsafe { self.tap(t, s, &mut acc) };
            }
            if !self.out.is_null() {
                // SAFETY: the caller points `out` at the block's `2 *
                // pairs` outputs in the row, `first` and `last` at its
                // ends.
                unsafe { self.store(s, &acc) };
            }
            acc
        };
        acc
    }

    /// What the assembly does with the sums when `out` is set.
    ///
    /// # Safety
    /// `out`, `first` and `last` point at the block's outputs.
    #[cfg(not(cortex_m_dsp))]
    unsafe fn store(&self, s: Shape, acc: &[i32; 8]) {
        let rq = |v| requant::apply_fast(self.m, self.t, v);
        for (i, &v) in acc[1..1 + 2 * s.pairs].iter().enumerate() {
            *self.out.add(i) = rq(v);
        }
        if s.left {
            *self.first = rq(acc[0]);
        }
        if s.right {
            *self.last = rq(acc[7]);
        }
    }

    /// What the assembly does for tap `t`.
    ///
    /// # Safety
    /// The reads stay inside the tensors (see [`Block::run`]).
    #[cfg(not(cortex_m_dsp))]
    unsafe fn tap(&self, t: usize, s: Shape, acc: &mut [i32; 8]) {
        let (mut wp, mut xp) = (self.w[t], self.x[t]);
        for _ in 0..self.in_c {
            let wv = wp.cast::<u32>().read_unaligned();
            let (w02, w13) = (sxtb16(wv), sxtb16_ror8(wv));
            for q in 0..s.pairs {
                let xv = xp.add(q).cast::<u32>().read_unaligned();
                if s.left && q == 0 {
                    acc[0] = smlabb(w13, xv, acc[0]);
                }
                acc[1 + 2 * q] = smladx(w02, xv, acc[1 + 2 * q]);
                acc[2 + 2 * q] = smladx(w13, xv, acc[2 + 2 * q]);
                if s.right && q == s.pairs - 1 {
                    acc[7] = smlatt(w02, xv, acc[7]);
                }
            }
            wp = wp.wrapping_add(self.w_step);
            xp = xp.wrapping_byte_add(self.x_step);
        }
    }
}
