//! The Cortex-M0+ integer kernels (version-2 files). `MULS` is a
//! single-cycle 32-bit multiply there, so a MAC is a load or two, a
//! multiply and an add; what matters is keeping the loops' pointers and
//! values in the eight low registers, which LLVM does not manage here, so
//! the loops are assembly (module `m0plus_int_asm`; on other targets the
//! Rust stand-ins below):
//!
//! - dense: three rows share each input load, their sums in high
//!   registers (13 instructions per 3 MACs);
//! - the stride-2 transposed convolution (module `stride2`): a row of
//!   32-bit sums on the stack (at most [`MAX_W`] columns), and for each
//!   input channel and kernel row one pass along the input row, each input
//!   value `x[j]` read once for the four output columns it reaches (22
//!   instructions per 4 MACs).
//!
//! Integer sums are exact, so the order is free and the results equal the
//! plain kernels' bit for bit. Other convolutions run the portable kernels.

use super::{requant, stride2};
use crate::kernels::integer::{int_conv_fits, int_dense_fits, portable, IntParams};
use crate::kernels::ConvGeom;

/// Rows a dense step computes together.
const ROWS: usize = 3;
/// Widest output row the transposed convolution keeps on the stack.
const MAX_W: usize = 128;

/// Integer dense layer, [`ROWS`] rows at a time (a last group of fewer
/// rows repeats its last row).
pub(super) fn dense(p: &IntParams<'_>, x: &[i16], y: &mut [i16]) {
    let n = x.len();
    if n == 0 || !int_dense_fits(p, n, y.len()) {
        return;
    }
    let w = p.weights();
    for (k, out) in y.chunks_mut(ROWS).enumerate() {
        let o = k * ROWS;
        let row = |r: usize| {
            let at = (o + r.min(out.len() - 1)) * n;
            w.get(at..at + n).unwrap_or(&[])
        };
        let sums = dot3([row(0), row(1), row(2)], x);
        for (r, (dst, sum)) in out.iter_mut().zip(sums).enumerate() {
            let (bias, rq) = requant::channel(p, o + r);
            *dst = requant::apply(rq, bias.wrapping_add(sum));
        }
    }
}

/// The dot products of three rows of `x.len()` weights with `x`.
#[inline(always)]
fn dot3(rows: [&[i8]; 3], x: &[i16]) -> [i32; 3] {
    if rows.iter().any(|r| r.len() != x.len()) {
        return [0; 3];
    }
    #[cfg(cortex_m_soft)]
    {
        let mut a = rows.map(|r| r.as_ptr() as u32);
        let mut args = [a[0], a[1], a[2], x.as_ptr() as u32, x.len() as u32];
        // SAFETY: each row holds `x.len() >= 1` weights (checked above by
        // the caller's `n > 0`), the reads the routine makes; it writes
        // the three sums into `args`. AAPCS (r4-r11 saved and restored).
        unsafe { super::m0plus_int_asm::microgan_int_dot3_m0(args.as_mut_ptr()) };
        a.copy_from_slice(&args[..3]);
        a.map(|v| v as i32)
    }
    #[cfg(not(cortex_m_soft))]
    rows.map(|r| {
        r.iter().zip(x).fold(0i32, |s, (&w, &v)| {
            s.wrapping_add(i32::from(w) * i32::from(v))
        })
    })
}

/// Integer `conv_transpose2d`: the stride-2 kernel of module `stride2`
/// where the geometry suits it and a row fits [`MAX_W`], else the portable
/// one.
pub(super) fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    if !int_conv_fits(p, g, x, y) {
        return;
    }
    if !stride2::suits(g) || g.out_w > MAX_W {
        return portable::conv_transpose2d(p, g, x, y);
    }
    let w = p.weights();
    let mut sums = [0i32; MAX_W];
    let sums = &mut sums[..g.out_w];
    for o in 0..g.out_c {
        let (bias, rq) = requant::channel(p, o);
        for oy in 0..g.out_h {
            sums.fill(bias);
            let (taps, n_taps) = stride2::row_taps(oy, g.in_h);
            for &(ky, iy) in &taps[..n_taps] {
                let tap = RowTap {
                    sums: sums.as_mut_ptr(),
                    x: x[iy * g.in_w..].as_ptr(),
                    w: w[(o * 4 + ky) * 4..].as_ptr(),
                    in_w: g.in_w,
                    in_c: g.in_c,
                    x_step: 2 * g.in_h * g.in_w,
                    w_step: g.out_c * 16,
                };
                // SAFETY: `int_conv_fits` checked that the weights hold
                // `w[c, o, ky, 0..4]` and `x` the rows `x[c, iy, ..]` for
                // every channel `c`; `sums` holds `2 * in_w` sums.
                unsafe { tap.run() };
            }
            let at = (o * g.out_h + oy) * g.out_w;
            for (dst, &s) in y[at..at + g.out_w].iter_mut().zip(sums.iter()) {
                *dst = requant::apply(rq, s);
            }
        }
    }
}

/// One kernel row over every input channel, laid out for the assembly
/// (`#[repr(C)]`, words): channel `c` adds the kernel row at
/// `w + c * w_step` applied to the input row at `x + c * x_step` (bytes)
/// to the `2 * in_w` sums.
#[repr(C)]
struct RowTap {
    sums: *mut i32,
    x: *const i16,
    w: *const i8,
    in_w: usize,
    in_c: usize,
    x_step: usize,
    w_step: usize,
}

impl RowTap {
    /// # Safety
    /// Every row and kernel row it reads lies inside the tensors, and
    /// `sums` holds `2 * in_w` values; `in_w >= 2`, `in_c >= 1`.
    unsafe fn run(&self) {
        #[cfg(cortex_m_soft)]
        super::m0plus_int_asm::microgan_ct_row_m0((self as *const RowTap).cast());
        #[cfg(not(cortex_m_soft))]
        {
            let sums = core::slice::from_raw_parts_mut(self.sums, 2 * self.in_w);
            for c in 0..self.in_c {
                let k = self.w.add(c * self.w_step).cast::<[i8; 4]>().read();
                let x = self.x.byte_add(c * self.x_step);
                row_tap(sums, k, core::slice::from_raw_parts(x, self.in_w));
            }
        }
    }
}

/// Adds one kernel row `k` applied to input row `x` to the output row
/// `sums` (`2 * x.len()` long): column `2j - 1` takes
/// `k0 * x[j] + k2 * x[j - 1]`, column `2j` takes `k1 * x[j] + k3 * x[j - 1]`,
/// the first column `k1 * x[0]`, the last `k2 * x[n - 1]` (what the
/// assembly does on the Cortex-M0+).
#[cfg(not(cortex_m_soft))]
fn row_tap(sums: &mut [i32], k: [i8; 4], x: &[i16]) {
    let [k0, k1, k2, k3] = k.map(i32::from);
    let (Some((first, rest)), Some(&x0)) = (sums.split_first_mut(), x.first()) else {
        return;
    };
    let mut prev = i32::from(x0);
    *first = first.wrapping_add(k1 * prev);
    let mut pairs = rest.chunks_exact_mut(2);
    for (pair, &xv) in (&mut pairs).zip(&x[1..]) {
        let cur = i32::from(xv);
        pair[0] = pair[0].wrapping_add(k0 * cur).wrapping_add(k2 * prev);
        pair[1] = pair[1].wrapping_add(k1 * cur).wrapping_add(k3 * prev);
        prev = cur;
    }
    if let Some(last) = pairs.into_remainder().first_mut() {
        *last = last.wrapping_add(k2 * prev);
    }
}
