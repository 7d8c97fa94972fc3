//! Weights prepared once for the x86-64 kernels (`Generator::prepare`):
//! the AVX-512 layouts where dispatch runs that set, else the AVX2 one of
//! the convolutions with more than 8 output channels, which is the same
//! `[block of 16 output channels][input channel][tap][16]` layout, and
//! dense layers' f16 weights as `[block of 8 rows][input][row]` (16 rows
//! for AVX-512).

use super::{avx2, avx2::Avx, avx512};
use crate::kernels::{dense_fits, lane8, ConvArgs, ConvGeom, Weights};

/// f32 slots of a dense layer's prepared weights for the set dispatch
/// runs (f16 weights only); 0 where it reads them as stored.
pub fn dense_prepared_len(w: &Weights<'_>, n_in: usize, n_out: usize) -> usize {
    if avx512::available() {
        avx512::dense_prepared_len(w, n_in, n_out)
    } else if avx2::available() {
        lane8::dense_prepared_len(w, n_in, n_out)
    } else {
        0
    }
}

/// Reorders a dense layer's f16 weights into `dst` (at least
/// [`dense_prepared_len`] values). False, with nothing written, when there
/// is nothing to prepare or `w` or `dst` is too short.
pub fn prepare_dense(w: Weights<'_>, n_in: usize, n_out: usize, dst: &mut [f32]) -> bool {
    if avx512::available() {
        avx512::prepare_dense(w, n_in, n_out, dst)
    } else {
        avx2::available() && lane8::prepare_dense(&w, n_in, n_out, dst)
    }
}

/// Dense layer with the weights [`prepare_dense`] wrote into `pre`; the
/// kernel on the stored weights where `pre` is shorter than
/// [`dense_prepared_len`] (the same bits either way).
pub fn dense_prepared(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32], pre: &[f32]) {
    if avx512::available() {
        return avx512::dense_prepared(w, b, x, y, pre);
    }
    let n = dense_prepared_len(&w, x.len(), y.len());
    if n == 0 || pre.len() < n {
        return lane8::dense::<Avx>(w, b, x, y);
    }
    if !dense_fits(&w, &b, x.len(), y.len()) {
        return;
    }
    // SAFETY: AVX2 and F16C are present (n > 0), the sizes checked and
    // `pre` holds the prepared length.
    unsafe { avx2::dense_prepared(w, b, x, y, pre) }
}

/// f32 values of a convolution's prepared weights for the set dispatch
/// runs; 0 where it reads them as stored.
pub fn prepared_len(g: &ConvGeom, transpose: bool) -> usize {
    if avx512::available() {
        avx512::prepared_len(g, transpose)
    } else if avx2::available() {
        lane8::wide_prepared_len(g)
    } else {
        0
    }
}

/// Converts and transposes a convolution's weights into `dst` (at least
/// [`prepared_len`] values). False, with nothing written, when there is
/// nothing to prepare or the weights or `dst` are too short.
pub fn prepare_conv(w: Weights<'_>, g: &ConvGeom, transpose: bool, dst: &mut [f32]) -> bool {
    if avx512::available() {
        avx512::prepare_conv(w, g, transpose, dst)
    } else {
        lane8::prepare::<Avx>(w, g, transpose, dst)
    }
}

/// Either convolution (`c.transpose`) with the weights [`prepare_conv`]
/// wrote into `pre`; the kernels without them where `pre` is shorter than
/// [`prepared_len`] (so the result is the same either way).
pub(crate) fn conv_prepared(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
    if avx512::available() {
        avx512::conv_prepared(c, y, pre)
    } else {
        lane8::conv_prepared::<Avx>(c, y, pre)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::DType;
    use crate::kernels::reference;

    /// A xorshift stream: weights and inputs for the test below.
    struct Stream(u64);

    impl Stream {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// `n` finite weights of `dtype` as bytes (every finite f16
        /// pattern, subnormals and signed zeros included).
        fn weights(&mut self, dtype: DType, n: usize) -> Vec<u8> {
            (0..n)
                .flat_map(|_| match dtype {
                    DType::F16 => {
                        let b = self.next() as u16;
                        let b = if b & 0x7c00 == 0x7c00 { b & 0x83ff } else { b };
                        b.to_le_bytes().to_vec()
                    }
                    DType::F32 => self.value().to_le_bytes().to_vec(),
                    // The float kernels under test take no integer weights.
                    DType::I8 | DType::I16 | DType::I32 => unreachable!("float weights only"),
                })
                .collect()
        }

        /// A value in -2..2, one in eight of them a signed zero.
        fn value(&mut self) -> f32 {
            let r = self.next();
            match r % 8 {
                0 if r & 8 == 0 => 0.0,
                0 => -0.0,
                _ => ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0,
            }
        }
    }

    /// The AVX2 dense kernel with prepared f16 weights gives the plain
    /// kernel's bits whichever set dispatch runs: blocks of 8 rows full and
    /// partial, tails of several lengths, f16 and f32 biases (a file may
    /// mix the two dtypes).
    #[test]
    fn avx2_prepared_dense_gives_the_plain_bits() {
        if !avx2::available() {
            return;
        }
        let mut s = Stream(0x2545_f491_4f6c_dd1d);
        for (n_in, n_out) in [(100, 3136), (1, 8), (15, 9), (16, 17), (33, 40), (47, 7)] {
            for bias in [DType::F16, DType::F32] {
                let wb = s.weights(DType::F16, n_in * n_out);
                let bb = s.weights(bias, n_out);
                let (w, b) = (Weights::new(&wb, DType::F16), Weights::new(&bb, bias));
                let x: Vec<f32> = (0..n_in).map(|_| s.value()).collect();
                let mut pre = vec![0.0; lane8::dense_prepared_len(&w, n_in, n_out)];
                assert!(pre.is_empty() || lane8::prepare_dense(&w, n_in, n_out, &mut pre));
                let mut got = vec![0.0; n_out];
                let mut want = vec![0.0; n_out];
                if pre.is_empty() {
                    lane8::dense::<Avx>(w, b, &x, &mut got);
                } else {
                    // SAFETY: AVX2 and F16C are present; the sizes fit and
                    // `pre` was prepared from `w`.
                    unsafe { avx2::dense_prepared(w, b, &x, &mut got, &pre) };
                }
                reference::dense(w, b, &x, &mut want);
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{n_in} -> {n_out}, bias {bias:?}");
                // And without prepared weights (a bias of the other dtype).
                lane8::dense::<Avx>(w, b, &x, &mut got);
                assert_eq!(bits(&got), bits(&want), "{n_in} -> {n_out}, bias {bias:?}");
            }
        }
    }

    /// The AVX2 kernels with prepared weights give the plain kernels' bits
    /// whichever set dispatch runs (the property tests reach them through
    /// `Generator::prepare` only where dispatch runs AVX2): blocks of 16
    /// channels full and partial, both kinds, f16 and f32, taps in and
    /// outside multiples of 8.
    #[test]
    fn avx2_prepared_convolutions_give_the_plain_bits() {
        if !avx2::available() {
            return;
        }
        let mut s = Stream(0x9e37_79b9_7f4a_7c15);
        // (in_c, out_c, kernel, stride, padding, transpose, input side)
        let cases = [
            (64, 32, 4, 2, 1, true, 7),
            (5, 33, 4, 2, 1, true, 5),
            (2, 9, 3, 2, 0, true, 4),
            (3, 17, 3, 1, 1, false, 9),
            (16, 16, 5, 2, 2, false, 11),
            (7, 40, 4, 1, 0, false, 6),
        ];
        for (in_c, out_c, k, stride, padding, transpose, h) in cases {
            let out = if transpose {
                (h - 1) * stride + k - 2 * padding
            } else {
                (h + 2 * padding - k) / stride + 1
            };
            let g = ConvGeom {
                in_c,
                in_h: h,
                in_w: h,
                out_c,
                out_h: out,
                out_w: out,
                kernel: k,
                stride,
                padding,
            };
            for dtype in [DType::F16, DType::F32] {
                let wb = s.weights(dtype, in_c * out_c * k * k);
                let bb = s.weights(dtype, out_c);
                let (w, b) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
                let x: Vec<f32> = (0..in_c * h * h).map(|_| s.value()).collect();
                let mut pre = vec![0.0; lane8::wide_prepared_len(&g)];
                assert!(lane8::prepare::<Avx>(w, &g, transpose, &mut pre));
                let mut got = vec![0.0; out_c * out * out];
                lane8::conv_prepared::<Avx>(ConvArgs::new(w, b, &g, &x, transpose), &mut got, &pre);
                let mut want = vec![0.0; got.len()];
                if transpose {
                    reference::conv_transpose2d(w, b, &g, &x, &mut want);
                } else {
                    reference::conv2d(w, b, &g, &x, &mut want);
                }
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{g:?} {dtype:?}");
            }
        }
    }
}
