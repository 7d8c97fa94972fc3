//! The usual last layer of an image generator (a transposed convolution
//! with kernel 4, stride 2 and padding 1 to fewer than 8 channels) over
//! 8-lane vectors.

use super::Lane8;
use crate::format::DType;
use crate::kernels::f16::weight;
use crate::kernels::taps::{k4s2_narrow, narrow_taps, NARROW_CMAX};
use crate::kernels::{ConvGeom, Weights};

/// f32 of the zero-padded copy of the input [`convt_narrow`] reads (64 KiB
/// of stack).
const NARROW_STAGE: usize = 16384;

/// Whether [`convt_narrow`] runs this transposed convolution: fewer than 8
/// output channels and an input small enough to stage.
pub(super) fn narrow_supported(g: &ConvGeom) -> bool {
    k4s2_narrow(g, 8)
        && g.in_c
            .checked_mul(g.in_h)
            .and_then(|r| r.checked_mul(g.in_w + 1))
            .is_some_and(|n| n + 1 + 8 <= NARROW_STAGE)
}

/// A transposed convolution with kernel 4, stride 2 and padding 1 as four
/// 2x2 convolutions, one output channel at a time: output `(2m + py,
/// 2n + px)` reads input rows `m` and `m - 1` (`py = 0`, kernel rows 1 and
/// 3) or `m + 1` and `m` (`py = 1`, rows 0 and 2), and columns likewise. A
/// vector holds 8 consecutive `n` of one output row and phase; each input
/// row is read at column offsets -1, 0 and +1 from a copy of the input
/// with a `+0.0` between rows (so no read leaves the copy). A tap in the
/// padding reads that `+0.0` with its weight's sign bit set: the product
/// is `-0.0`, and `s + -0.0` is `s` for every `s` (`-0.0` included, which a
/// `+0.0` product would turn into `+0.0`), so the sum keeps its bits
/// without a select. Each output adds its taps in the documented order. No per-call plan of tap groups,
/// which for a 32 -> 1 channel layer of 28x28 cost more than the
/// arithmetic.
///
/// # Safety
///
/// `V`'s features are present, `conv_fits` holds and `narrow_supported`.
#[inline(always)]
pub(super) unsafe fn convt_narrow<V: Lane8>(
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
    let size = w.dtype().size();
    for o in 0..g.out_c {
        for c in 0..g.in_c {
            // SAFETY: the 16 weights of (c, o) lie inside `w` (`conv_fits`);
            // c < in_c <= NARROW_CMAX, and every element read below is
            // written here first.
            let p = w.bytes().as_ptr().add((c * g.out_c + o) * 16 * size);
            for h in 0..2 {
                let q = p.add(8 * h * size);
                let v = match w.dtype() {
                    DType::F16 => V::load_f16(q),
                    DType::F32 => V::load_f32_bytes(q),
                    // Integer tensors: the size checks turned them away.
                    DType::I8 | DType::I16 | DType::I32 => V::zero(),
                };
                v.store(wf.add(c * 16 + 8 * h));
            }
        }
        let bias = weight(b, o);
        let mut n0 = 0;
        while n0 < iw {
            let l = 8.min(iw - n0);
            // The sign bit in lanes whose column n - 1 (left) or n + 1
            // (right) is padding.
            let mut left = [0u32; 8];
            let mut right = [0u32; 8];
            if n0 == 0 {
                left[0] = 1 << 31;
            }
            if n0 + l == iw {
                right[l - 1] = 1 << 31;
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
                a[0] = a[0].add_mul(wk(3).or(left), xm);
                // px = 1: kernel columns 0 (n + 1) then 2 (n).
                a[1] = a[1].add_mul(wk(0).or(right), xp);
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
