//! The Cortex-M0+ dense kernel (no FPU).

use crate::format::DType;
use crate::kernels::f16::f16_to_f32_integer;
use crate::kernels::{dense_fits, Weights, LANES};

/// Dense layer for cores without an FPU (thumbv6m-none-eabi: Cortex-M0+).
/// There every multiply and add is a software routine of about a hundred
/// instructions, so unrolling and per-dtype copies of the loop (what the
/// portable kernel does for vector units) buy almost nothing and cost about
/// 2.5 KB of flash. This one walks each row once with its 16 partial sums in
/// the format's order and converts each weight on the fly (f16 exactly, in
/// the integer domain).
pub(crate) fn dense_compact(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    match w.dtype() {
        DType::F16 => dense_rows::<2>(w.bytes(), b, x, y, |e| {
            f16_to_f32_integer(u16::from_le_bytes([e[0], e[1]]))
        }),
        DType::F32 => dense_rows::<4>(w.bytes(), b, x, y, |e| {
            f32::from_le_bytes([e[0], e[1], e[2], e[3]])
        }),
        // Integer weights: `dense_fits` rejected them.
        DType::I8 | DType::I16 | DType::I32 => {}
    }
}

/// [`dense_compact`] for elements of `SIZE` bytes read by `elem`.
fn dense_rows<const SIZE: usize>(
    w: &[u8],
    b: Weights<'_>,
    x: &[f32],
    y: &mut [f32],
    elem: impl Fn(&[u8; SIZE]) -> f32,
) {
    let n = x.len();
    let full = n - n % LANES;
    let (x_full, x_tail) = x.split_at(full);
    for (o, out) in y.iter_mut().enumerate() {
        let row = w.get(o * n * SIZE..(o + 1) * n * SIZE).unwrap_or(&[]);
        let (row_full, row_tail) = row.split_at(full * SIZE);
        let mut acc = [0.0f32; LANES];
        for (xc, wc) in x_full
            .chunks_exact(LANES)
            .zip(row_full.chunks_exact(LANES * SIZE))
        {
            for (a, (xv, e)) in acc.iter_mut().zip(xc.iter().zip(wc.chunks_exact(SIZE))) {
                if let Ok(e) = <&[u8; SIZE]>::try_from(e) {
                    *a += elem(e) * xv;
                }
            }
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s += *a;
        }
        for (xv, e) in x_tail.iter().zip(row_tail.chunks_exact(SIZE)) {
            if let Ok(e) = <&[u8; SIZE]>::try_from(e) {
                s += elem(e) * xv;
            }
        }
        *out = s + b.at(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference;

    #[test]
    fn dense_compact_equals_plain() {
        let mut next = super::super::lcg(99u32);
        for case in 0..200 {
            let (n_in, n_out) = (next(70) as usize, 1 + next(9) as usize);
            let dtype = if case % 2 == 0 {
                DType::F16
            } else {
                DType::F32
            };
            let mut val = || match next(8) {
                0 => -0.0,
                _ => (next(2000) as f32 - 1000.0) * 0.01,
            };
            let mut elems = |n: usize| -> Vec<u8> {
                (0..n)
                    .flat_map(|_| match dtype {
                        DType::F16 => half::f16::from_f32(val()).to_le_bytes().to_vec(),
                        _ => val().to_le_bytes().to_vec(),
                    })
                    .collect()
            };
            let (wb, bb) = (elems(n_in * n_out), elems(n_out));
            let x: Vec<f32> = (0..n_in)
                .map(|_| (next(2000) as f32 - 1000.0) * 0.003)
                .collect();
            let (wt, bt) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
            let (mut want, mut got) = (vec![f32::NAN; n_out], vec![f32::NAN; n_out]);
            reference::dense(wt, bt, &x, &mut want);
            dense_compact(wt, bt, &x, &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{n_in} -> {n_out} {dtype:?}");
        }
    }
}
