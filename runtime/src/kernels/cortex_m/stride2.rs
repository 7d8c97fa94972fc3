//! The transposed convolution both Cortex-M integer sets run fast: kernel
//! 4, stride 2, padding 1, the output twice the input (`output_padding`
//! 0), the upsampling layer of DCGAN-style generators. There each output
//! pixel reads at most two kernel rows and two kernel columns:
//!
//! - output row `2m` reads input row `m` through kernel row 1 and row
//!   `m - 1` through kernel row 3; row `2m + 1` reads row `m + 1` through
//!   kernel row 0 and row `m` through kernel row 2 (where those rows exist);
//! - likewise across: output column `2j` is `w1 * x[j] + w3 * x[j - 1]`,
//!   column `2j + 1` is `w0 * x[j + 1] + w2 * x[j]`.
//!
//! So the columns `2j - 1` and `2j` (`j` in `1..in_w`) both read the input
//! pair `x[j - 1], x[j]`, and only the first and last columns read one input.

use crate::kernels::ConvGeom;

/// Whether `g` is the geometry of this module (with at least two input
/// columns, so that every output column pair exists).
pub(super) fn suits(g: &ConvGeom) -> bool {
    g.kernel == 4
        && g.stride == 2
        && g.padding == 1
        && g.in_w >= 2
        && g.in_h >= 1
        && g.out_h == 2 * g.in_h
        && g.out_w == 2 * g.in_w
}

/// The `(kernel row, input row)` taps of output row `oy`, and how many
/// there are (1 or 2).
pub(super) fn row_taps(oy: usize, in_h: usize) -> ([(usize, usize); 2], usize) {
    let m = oy / 2;
    let mut taps = [(0, 0); 2];
    let mut n = 0;
    let candidates = if oy.is_multiple_of(2) {
        [(1, Some(m)), (3, m.checked_sub(1))]
    } else {
        [(0, Some(m + 1)), (2, Some(m))]
    };
    for (ky, iy) in candidates {
        if let Some(iy) = iy.filter(|&iy| iy < in_h) {
            taps[n] = (ky, iy);
            n += 1;
        }
    }
    (taps, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::DType;
    use crate::kernels::cortex_m::{lcg, M0PLUS, M4F};
    use crate::kernels::integer::reference;
    use crate::kernels::{IntParams, Weights};

    /// The geometry the property test of every set rarely draws: both
    /// Cortex-M sets against the plain kernel on random stride-2 layers
    /// (extreme weights and activations included), and their dense kernels
    /// on random shapes.
    #[test]
    fn integer_kernels_equal_plain() {
        let mut next = lcg(2024);
        for case in 0..300 {
            let (in_c, out_c) = (1 + next(6) as usize, 1 + next(9) as usize);
            let (in_h, in_w) = (1 + next(8) as usize, 1 + next(12) as usize);
            let g = ConvGeom {
                in_c,
                in_h,
                in_w,
                out_c,
                out_h: 2 * in_h,
                out_w: 2 * in_w,
                kernel: 4,
                stride: 2,
                padding: 1,
            };
            let mut byte = |extreme: bool| match next(if extreme { 4 } else { 1 }) {
                1 => 0x80,
                2 => 0x7f,
                _ => next(256) as u8,
            };
            let extreme = case % 3 == 0;
            let w: Vec<u8> = (0..in_c * out_c * 16).map(|_| byte(extreme)).collect();
            let b: Vec<u8> = (0..out_c)
                .flat_map(|_| (next(20_000) as i32 - 10_000).to_le_bytes())
                .collect();
            let s: Vec<u8> = (0..out_c)
                .flat_map(|_| (1.0f32 / (1 + next(4000)) as f32).to_le_bytes())
                .collect();
            let x: Vec<i16> = (0..in_c * in_h * in_w)
                .map(|_| match next(if extreme { 3 } else { 1 }) {
                    1 => i16::MIN,
                    2 => i16::MAX,
                    _ => next(8000) as i16 - 4000,
                })
                .collect();
            let p = IntParams {
                weight: Weights::new(&w, DType::I8),
                bias: Weights::new(&b, DType::I32),
                scale: Weights::new(&s, DType::F32),
                f_in: 10,
                f_out: 11,
            };
            let n = out_c * g.out_h * g.out_w;
            let mut want = vec![0x5555i16; n];
            reference::conv_transpose2d(&p, &g, &x, &mut want);
            for set in [M4F, M0PLUS] {
                let mut got = vec![0x2aaai16; n];
                (set.int_conv_transpose2d)(&p, &g, &x, &mut got);
                assert_eq!(got, want, "{} {g:?}", set.name);
            }
            // The same bytes as a dense layer of `in_c * in_h * in_w`
            // inputs, as many rows as they hold.
            let n_in = x.len();
            let rows = (w.len() / n_in).min(out_c);
            let mut want = vec![0x5555i16; rows];
            reference::dense(&p, &x, &mut want);
            for set in [M4F, M0PLUS] {
                let mut got = vec![0x2aaai16; rows];
                (set.int_dense)(&p, &x, &mut got);
                assert_eq!(got, want, "{} dense {n_in} -> {rows}", set.name);
            }
        }
    }

    #[test]
    fn taps_of_rows() {
        assert_eq!(row_taps(0, 7), ([(1, 0), (0, 0)], 1));
        assert_eq!(row_taps(1, 7), ([(0, 1), (2, 0)], 2));
        assert_eq!(row_taps(4, 7), ([(1, 2), (3, 1)], 2));
        assert_eq!(row_taps(13, 7), ([(2, 6), (0, 0)], 1));
    }
}
