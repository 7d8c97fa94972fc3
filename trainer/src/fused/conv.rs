//! Convolutions as matrix products: `im2col` and its adjoint `col2im` as candle custom ops, so a
//! convolution, a transposed convolution and both their backward passes become one `im2col` or
//! `col2im` plus matrix products (which candle runs with its fast gemm). candle's own CPU
//! backward of `conv2d` calls `conv_transpose2d`, a direct loop that dominated the DCGAN step.
//!
//! The two ops are linear and each other's adjoint, so each one's backward is the other.
//! CPU only: [`conv2d`] and [`conv_transpose2d`] call candle's own ops on other devices.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::f32_slice;
use crate::error::Result;

/// Geometry of a square-kernel convolution over `[B, C, H, W]` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    /// Output height and width of the convolution over the image.
    pub fn out_hw(&self) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (o(self.height), o(self.width))
    }

    /// Columns of the `im2col` matrix: one per (channel, ky, kx), in a weight's order.
    pub fn cols(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// An error unless the kernel fits the padded image (so [`Geometry::out_hw`] is defined).
    pub fn check(&self) -> candle_core::Result<()> {
        if self.kernel == 0
            || self.stride == 0
            || self.height + 2 * self.padding < self.kernel
            || self.width + 2 * self.padding < self.kernel
        {
            candle_core::bail!("im2col: kernel {self:?} does not fit the image")
        }
        Ok(())
    }

    /// For output position `o` and kernel offset `k`, the input coordinate if it is inside.
    #[inline]
    fn src(&self, o: usize, k: usize, n: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < n)
    }
}

/// `[B, C, H, W]` -> `[B * OH * OW, C * K * K]`: row `(b, oy, ox)` holds the input patch that
/// output position sees, zeros where it hangs over the padding.
pub fn im2col_ref(x: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * oh * ow * cols];
    for b in 0..batch {
        let img = &x[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut out[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        for kx in 0..k {
                            if let Some(ix) = g.src(ox, kx, w) {
                                row[(ci * k + ky) * k + kx] = plane[iy * w + ix];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The adjoint of [`im2col_ref`]: `[B * OH * OW, C * K * K]` -> `[B, C, H, W]`, summing every
/// entry into the pixel it came from.
pub fn col2im_ref(cols_in: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * c * h * w];
    for b in 0..batch {
        let img = &mut out[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &cols_in[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &mut img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        for kx in 0..k {
                            if let Some(ix) = g.src(ox, kx, w) {
                                plane[iy * w + ix] += row[(ci * k + ky) * k + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

impl Geometry {
    /// For output column `ox`, the kernel offsets `kx` whose input column is inside the image,
    /// and the input column of the first: consecutive `kx` read consecutive input columns.
    #[inline]
    fn kx_span(&self, ox: usize) -> (usize, usize, usize) {
        let base = ox * self.stride; // input column of kx, plus padding
        let lo = self.padding.saturating_sub(base).min(self.kernel);
        let hi = (self.width + self.padding)
            .saturating_sub(base)
            .min(self.kernel)
            .max(lo);
        (lo, hi, (base + lo).saturating_sub(self.padding))
    }
}

/// [`im2col_ref`] with each kernel row copied as one slice (no per-element bounds test).
pub fn im2col(x: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * oh * ow * cols];
    let spans: Vec<(usize, usize, usize)> = (0..ow).map(|ox| g.kx_span(ox)).collect();
    for b in 0..batch {
        let img = &x[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for (ox, &(lo, hi, ix0)) in spans.iter().enumerate() {
                let row = &mut out[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        let dst = (ci * k + ky) * k;
                        row[dst + lo..dst + hi]
                            .copy_from_slice(&plane[iy * w + ix0..iy * w + ix0 + (hi - lo)]);
                    }
                }
            }
        }
    }
    out
}

/// [`col2im_ref`] with each kernel row added as one slice.
pub fn col2im(cols_in: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * c * h * w];
    let spans: Vec<(usize, usize, usize)> = (0..ow).map(|ox| g.kx_span(ox)).collect();
    for b in 0..batch {
        let img = &mut out[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for (ox, &(lo, hi, ix0)) in spans.iter().enumerate() {
                let row = &cols_in[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &mut img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        let src = (ci * k + ky) * k;
                        plane[iy * w + ix0..iy * w + ix0 + (hi - lo)]
                            .iter_mut()
                            .zip(&row[src + lo..src + hi])
                            .for_each(|(d, &v)| *d += v);
                    }
                }
            }
        }
    }
    out
}

/// candle op for [`im2col_ref`]; input `[B, C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub struct Im2Col(pub Geometry);

/// candle op for [`col2im_ref`]; input `[B * OH * OW, C * K * K]`.
#[derive(Debug, Clone, Copy)]
pub struct Col2Im(pub Geometry);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.check()?;
        let (b, c, h, w) = l.shape().dims4()?;
        if (c, h, w) != (g.channels, g.height, g.width) {
            candle_core::bail!("im2col: input {:?} does not match {g:?}", l.shape())
        }
        let x = f32_slice(s, l, self.name())?;
        let (oh, ow) = g.out_hw();
        Ok((
            CpuStorage::F32(im2col(x, b, &g)),
            Shape::from((b * oh * ow, g.cols())),
        ))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let b = arg.dim(0)?;
        let grad = grad.contiguous()?;
        let g = self.0;
        Ok(Some(
            grad.apply_op1_no_bwd(&Col2Im(g))?
                .reshape((b, g.channels, g.height, g.width))?,
        ))
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.check()?;
        let (rows, cols) = l.shape().dims2()?;
        let (oh, ow) = g.out_hw();
        if cols != g.cols() || rows % (oh * ow) != 0 {
            candle_core::bail!("col2im: input {:?} does not match {g:?}", l.shape())
        }
        let b = rows / (oh * ow);
        let x = f32_slice(s, l, self.name())?;
        Ok((
            CpuStorage::F32(col2im(x, b, &g)),
            Shape::from((b, g.channels, g.height, g.width)),
        ))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(grad.apply_op1_no_bwd(&Im2Col(self.0))?))
    }
}

/// `conv2d(x, weight) + bias`, stride and padding as given, weight `[O, C, K, K]`, bias `[O]`.
/// On the CPU as `im2col(x) @ weight^T + bias` with the fused dense op (which also skips the
/// input's gradient when `x` is data); elsewhere candle's `conv2d` and a broadcast addition.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (o, _, k, _) = weight.dims4()?;
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return Ok(x
            .conv2d(weight, padding, stride, 1, 1)?
            .broadcast_add(&bias.reshape((1, o, 1, 1))?)?);
    }
    let (b, c, h, w) = x.dims4()?;
    let g = Geometry {
        channels: c,
        height: h,
        width: w,
        kernel: k,
        stride,
        padding,
    };
    g.check()?;
    let (oh, ow) = g.out_hw();
    let x = if x.is_contiguous() {
        x.clone()
    } else {
        x.contiguous()?
    };
    let cols = x.apply_op1(Im2Col(g))?;
    let y = super::linear::dense(&cols, &weight.reshape((o, g.cols()))?, bias)?;
    Ok(y.reshape((b, oh * ow, o))?
        .transpose(1, 2)?
        .reshape((b, o, oh, ow))?)
}

/// `conv_transpose2d(x, weight)` without bias and output padding, weight `[C_in, C_out, K, K]`
/// (PyTorch's layout); on the CPU as `col2im(x_rows @ weight)`, elsewhere candle's op.
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return Ok(x.conv_transpose2d(weight, padding, 0, stride, 1)?);
    }
    let (b, cin, h, w) = x.dims4()?;
    let (_, cout, k, _) = weight.dims4()?;
    let (oh, ow) = ((h - 1) * stride + k, (w - 1) * stride + k);
    if oh <= 2 * padding || ow <= 2 * padding {
        return Err(candle_core::Error::Msg(format!(
            "conv_transpose2d: padding {padding} leaves no output for a {h}x{w} input"
        ))
        .into());
    }
    let g = Geometry {
        channels: cout,
        height: oh - 2 * padding,
        width: ow - 2 * padding,
        kernel: k,
        stride,
        padding,
    };
    // Rows are input pixels, columns input channels.
    let rows = x.permute((0, 2, 3, 1))?.reshape((b * h * w, cin))?;
    let cols = rows.matmul(&weight.reshape((cin, g.cols()))?)?;
    Ok(cols.apply_op1(Col2Im(g))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// `<im2col(x), y> == <x, col2im(y)>`: the two are adjoint, which makes each the other's
    /// backward pass.
    #[test]
    fn im2col_and_col2im_are_adjoint() {
        let g = Geometry {
            channels: 3,
            height: 7,
            width: 6,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 7, 6), &dev).unwrap();
        let cols = x.apply_op1(Im2Col(g)).unwrap();
        let y = Tensor::randn(0f32, 1.0, cols.shape(), &dev).unwrap();
        let back = y.apply_op1(Col2Im(g)).unwrap();
        let lhs = (&cols * &y)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let rhs = (&x * &back)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
            "{lhs} vs {rhs}"
        );
    }

    /// Values and gradients (input, weight) of both convolutions match candle's own ops, for the
    /// DCGAN's shapes and an odd one.
    #[test]
    fn convolutions_match_candle() {
        let dev = Device::Cpu;
        // (batch, cin, cout, size, k, stride, padding)
        for (b, cin, cout, n, k, s, p) in [
            (3, 1, 16, 28, 4, 2, 1),
            (2, 16, 32, 14, 4, 2, 1),
            (2, 3, 5, 9, 3, 2, 0),
            (1, 4, 2, 5, 3, 1, 1),
        ] {
            let x =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, cin, n, n), &dev).unwrap()).unwrap();
            let wc = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cout, cin, k, k), &dev).unwrap())
                .unwrap();
            let bias = Var::from_tensor(&Tensor::randn(0f32, 1.0, cout, &dev).unwrap()).unwrap();
            let ours = conv2d(&x, &wc, &bias, s, p).unwrap();
            let theirs = x
                .conv2d(&wc, p, s, 1, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gt = (&theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &wc, &bias] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(max_diff(a, b) < 1e-3, "conv2d grad {:?}", v.dims());
            }
            // On data (untracked input) the weight and bias gradients stay the same.
            let data = x.as_tensor().detach();
            let ours = conv2d(&data, &wc, &bias, s, p).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            assert!(go.get(&x).is_none());
            assert!(max_diff(go.get(&wc).unwrap(), gt.get(&wc).unwrap()) < 1e-3);

            let wt = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cin, cout, k, k), &dev).unwrap())
                .unwrap();
            let ours = conv_transpose2d(&x, &wt, s, p).unwrap();
            let theirs = x.conv_transpose2d(&wt, p, 0, s, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gt = (&theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &wt] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(
                    max_diff(a, b) < 1e-3,
                    "conv_transpose2d grad {:?}",
                    v.dims()
                );
            }
        }
    }

    /// The slice-copying kernels equal the per-element reference ones, including geometries
    /// where the kernel hangs over both edges.
    #[test]
    fn fast_kernels_match_reference() {
        for (c, h, w, k, s, p) in [
            (1, 28, 28, 4, 2, 1),
            (3, 7, 6, 3, 2, 1),
            (2, 5, 5, 5, 1, 2),
            (2, 4, 9, 3, 3, 0),
            (1, 3, 3, 4, 1, 2),
        ] {
            let g = Geometry {
                channels: c,
                height: h,
                width: w,
                kernel: k,
                stride: s,
                padding: p,
            };
            let x: Vec<f32> = (0..2 * c * h * w)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            assert_eq!(im2col(&x, 2, &g), im2col_ref(&x, 2, &g), "{g:?}");
            let cols = im2col_ref(&x, 2, &g);
            let y: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let (a, b) = (col2im(&y, 2, &g), col2im_ref(&y, 2, &g));
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() < 1e-5, "{g:?}");
            }
        }
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        let w = Tensor::zeros((1, 1, 5, 5), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(1, candle_core::DType::F32, &dev).unwrap();
        assert!(conv2d(&x, &w, &b, 1, 0).is_err());
    }
}
