//! Convolutions and transposed convolutions, each one op forward and one backward, as
//! per-image matrix products: `im2col` (one image's patches, a cache-sized tile) and its adjoint
//! `col2im` around a product by the `gemm` crate (candle's own), with strides chosen so the
//! output comes out in `[B, C, H, W]` directly and the weight's gradient is summed over the
//! batch inside the product. candle's own CPU backward of `conv2d` calls `conv_transpose2d`, a
//! direct loop that dominated the DCGAN step; an earlier version of this module built `im2col`
//! over the whole batch (falling out of cache at batch 1024) and copied every output from
//! `[B * P, C]` to `[B, C, H, W]` and back.
//! One op serves both directions ([`Direction`]): a transposed convolution is the same pair of
//! products read the other way round, so its forward pass is a convolution's input gradient
//! and its input gradient a convolution's forward pass.
//! CPU only: [`conv2d`] and [`conv_transpose2d`] call candle's own ops on other devices.

pub mod patches;
mod tiles;

use candle_core::{Shape, Tensor};

pub use self::patches::Geometry;
use self::tiles::{add_channel_sums, Side, Tiles};
use super::act::Act;
use super::contiguous;
use super::custom::{Grads3, In, Out, SliceOp3, Slices};
use crate::error::Result;

/// Which way a [`ConvOp`] runs over its [`Geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `conv2d`: from the geometry's image `x [B, C, H, W]` to its output positions, weight
    /// `[O, C, K, K]`, bias `[O]`; per group of images the `im2col` tile (cache-sized) and one
    /// product `cols @ W^T`.
    Forward,
    /// `conv_transpose2d`: from the output positions `x [B, C_in, OH, OW]` back to the image,
    /// weight `[C_in, C_out, K, K]` (PyTorch's layout), bias `[C_out]`; per group one product
    /// `x^T @ W` into a cache-sized tile, then `col2im`. The geometry is that of the
    /// convolution the transposed one inverts.
    Transposed,
}

impl Direction {
    /// The side the input lies on.
    fn input(self) -> Side {
        match self {
            Direction::Forward => Side::Image,
            Direction::Transposed => Side::Positions,
        }
    }

    /// The names of the op ([`ConvOp`]) and of its backward pass ([`ConvGrad`]).
    fn names(self) -> [&'static str; 2] {
        match self {
            Direction::Forward => ["conv2d", "conv2d-grad"],
            Direction::Transposed => ["conv-transpose2d", "conv-transpose2d-grad"],
        }
    }

    /// The side the output lies on.
    fn output(self) -> Side {
        match self {
            Direction::Forward => Side::Positions,
            Direction::Transposed => Side::Image,
        }
    }
}

/// `conv2d(x, weight) + bias` or `conv_transpose2d(x, weight) + bias`, through an activation, as
/// one op, straight into `[B, C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub struct ConvOp {
    pub geometry: Geometry,
    pub act: Act,
    pub direction: Direction,
}

/// The backward pass of [`ConvOp`]: `(x, weight, dy)` -> `[dx | dweight | dbias]` flattened (no
/// `dx` unless `need_dx`, no `dweight` and `dbias` unless `need_dw`).
#[derive(Debug, Clone, Copy)]
struct ConvGrad {
    g: Geometry,
    direction: Direction,
    need_dx: bool,
    need_dw: bool,
}

impl SliceOp3 for ConvOp {
    fn name(&self) -> &'static str {
        self.direction.names()[0]
    }

    fn forward(&self, x_in: In, w_in: In, bias: In) -> Out {
        let (g, dir) = (self.geometry, self.direction);
        g.check()?;
        let (b, c_in, _, _) = x_in.shape.dims4()?;
        let (x, w, bias) = (x_in.v, w_in.v, bias.v);
        // The positions side's channels: the output's (the bias) or the input's.
        let cp = match dir {
            Direction::Forward => bias.len(),
            Direction::Transposed => c_in,
        };
        let (input, output) = (dir.input(), dir.output());
        if x.len() != b * input.len(&g, cp)
            || w.len() != cp * g.cols()
            || bias.len() != output.planes(&g, cp).0
        {
            candle_core::bail!(
                "{}: input {:?}, weight {:?} do not match {g:?}",
                self.name(),
                x_in.shape,
                w_in.shape
            )
        }
        let mut t = Tiles::new(&g, cp);
        let mut y = vec![0f32; b * t.len(output)];
        let (xs, ys) = (
            x.chunks(t.n * t.len(input)),
            y.chunks_mut(t.n * t.len(output)),
        );
        for (xg, yg) in xs.zip(ys) {
            t.load(input, xg);
            t.store(output, w, Some(bias), self.act, yg);
        }
        let (oh, ow) = g.out_hw();
        let shape = match dir {
            Direction::Forward => Shape::from((b, cp, oh, ow)),
            Direction::Transposed => Shape::from((b, g.channels, g.height, g.width)),
        };
        Ok((y, shape))
    }

    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Grads3 {
        let grad = self.act.backward(res, grad)?;
        let (need_dx, need_dw) = needs(x, w, bias);
        let op = ConvGrad {
            g: self.geometry,
            direction: self.direction,
            need_dx,
            need_dw,
        };
        let packed = x.apply_op3_no_bwd(w, &grad, &Slices(op))?;
        unpack(packed, x, w, bias, need_dx, need_dw)
    }
}

/// Which gradients a backward pass computes: the input's unless it is data or detached, the
/// parameters' unless they are constants (a frozen discriminator in the generator's update).
fn needs(x: &Tensor, w: &Tensor, bias: &Tensor) -> (bool, bool) {
    (x.track_op(), w.track_op() || bias.track_op())
}

/// Splits `[dx | dweight | dbias]` into the three gradients.
fn unpack(
    packed: Tensor,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    need_dx: bool,
    need_dw: bool,
) -> Grads3 {
    let nx = if need_dx { x.elem_count() } else { 0 };
    let nw = w.elem_count();
    let dx = if need_dx {
        Some(packed.narrow(0, 0, nx)?.reshape(x.shape())?)
    } else {
        None
    };
    if !need_dw {
        return Ok((dx, None, None));
    }
    Ok((
        dx,
        Some(packed.narrow(0, nx, nw)?.reshape(w.shape())?),
        Some(packed.narrow(0, nx + nw, bias.elem_count())?),
    ))
}

impl SliceOp3 for ConvGrad {
    fn name(&self) -> &'static str {
        self.direction.names()[1]
    }

    /// Per group of images: the output gradient's tile, then (for `dW`) the input's, whose
    /// product is the weight's gradient; `dx` is the output gradient carried back through the
    /// weight to the input's side, as the forward pass carries `x` to the output's.
    fn forward(&self, x: In, w: In, dy: In) -> Out {
        let (g, dir) = (self.g, self.direction);
        let (b, _, _, _) = x.shape.dims4()?;
        let (x, w, dy) = (x.v, w.v, dy.v);
        let cp = w.len() / g.cols();
        let (input, output) = (dir.input(), dir.output());
        if x.len() != b * input.len(&g, cp)
            || w.len() != cp * g.cols()
            || dy.len() != b * output.len(&g, cp)
        {
            candle_core::bail!("{}: shapes do not match {g:?}", self.name())
        }
        let mut t = Tiles::new(&g, cp);
        let (channels, plane) = output.planes(&g, cp);
        let nx = if self.need_dx { x.len() } else { 0 };
        let (nw, nb) = if self.need_dw {
            (w.len(), channels)
        } else {
            (0, 0)
        };
        let mut out = vec![0f32; nx + nw + nb];
        let (dx, rest) = out.split_at_mut(nx);
        let (dw, db) = rest.split_at_mut(nw);
        let (xs, dys) = (x.chunks(t.n * t.len(input)), dy.chunks(t.n * t.len(output)));
        for (i, (xg, dyg)) in xs.zip(dys).enumerate() {
            t.load(output, dyg);
            if self.need_dw {
                t.load(input, xg);
                t.weight_grad(dw, i > 0);
            }
            if self.need_dx {
                let dxg = &mut dx[i * t.n * t.len(input)..][..xg.len()];
                t.store(input, w, None, Act::Identity, dxg);
            }
        }
        if self.need_dw {
            add_channel_sums(dy, channels, plane, db);
        }
        let len = out.len();
        Ok((out, Shape::from(len)))
    }
}

/// [`ConvOp`] on contiguous copies of the three inputs.
fn apply(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    geometry: Geometry,
    act: Act,
    direction: Direction,
) -> Result<Tensor> {
    geometry.check()?;
    let (weight, bias) = (contiguous(weight)?, contiguous(bias)?);
    let op = ConvOp {
        geometry,
        act,
        direction,
    };
    Ok(contiguous(x)?.apply_op3(&weight, &bias, Slices(op))?)
}

/// `conv2d(x, weight) + bias`, stride and padding as given, weight `[O, C, K, K]`, bias `[O]`:
/// [`ConvOp`] on the CPU (whose backward also skips the input's gradient when `x` is data),
/// candle's `conv2d` and a broadcast addition elsewhere.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    act: Act,
) -> Result<Tensor> {
    let (o, _, k, _) = weight.dims4()?;
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return act.unfused(
            &x.conv2d(weight, padding, stride, 1, 1)?
                .broadcast_add(&bias.reshape((1, o, 1, 1))?)?,
        );
    }
    let (_, c, h, w) = x.dims4()?;
    let g = Geometry {
        channels: c,
        height: h,
        width: w,
        kernel: k,
        stride,
        padding,
    };
    apply(x, weight, bias, g, act, Direction::Forward)
}

/// `conv_transpose2d(x, weight) + bias` without output padding, weight `[C_in, C_out, K, K]`
/// (PyTorch's layout), bias `[C_out]`: [`ConvOp`] on the CPU, candle's op and a
/// broadcast addition elsewhere.
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    act: Act,
) -> Result<Tensor> {
    let (_, cout, k, _) = weight.dims4()?;
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return act.unfused(
            &x.conv_transpose2d(weight, padding, 0, stride, 1)?
                .broadcast_add(&bias.reshape((1, cout, 1, 1))?)?,
        );
    }
    let (_, _, h, w) = x.dims4()?;
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
    apply(x, weight, bias, g, act, Direction::Transposed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{flat, grads, max_diff};
    use candle_core::{Device, Var};

    /// With its parameters detached, a layer's output `frozen` (weighted by `r`) gives `x` the
    /// gradient `dx`, bit for bit, and computes none for `params`.
    fn assert_frozen(frozen: &Tensor, r: &Tensor, x: &Var, params: [&Var; 2], dx: &[f32]) {
        let g = grads(frozen, r);
        assert!(params.iter().all(|p| g.get(p).is_none()));
        assert_eq!(flat(g.get(x).unwrap()), dx);
    }

    /// Values and gradients (input, weight, bias) of both convolutions with a fused activation
    /// match candle's own ops followed by the activation, for the DCGAN's shapes and odd ones.
    #[test]
    fn convolutions_match_candle() {
        let dev = Device::Cpu;
        let acts = [Act::Leaky(0.2), Act::Identity, Act::Tanh, Act::RELU];
        // (batch, cin, cout, size, k, stride, padding)
        for (case, (b, cin, cout, n, k, s, p)) in [
            (3, 1, 16, 28, 4, 2, 1),
            (2, 16, 32, 14, 4, 2, 1),
            (2, 3, 5, 9, 3, 2, 0),
            (1, 4, 2, 5, 3, 1, 1),
            (7, 2, 3, 6, 4, 2, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let (act, act_t) = (acts[case % 4], acts[(case + 2) % 4]);
            let x =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, cin, n, n), &dev).unwrap()).unwrap();
            let wc = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cout, cin, k, k), &dev).unwrap())
                .unwrap();
            let bias = Var::from_tensor(&Tensor::randn(0f32, 1.0, cout, &dev).unwrap()).unwrap();
            let ours = conv2d(&x, &wc, &bias, s, p, act).unwrap();
            let theirs = act
                .unfused(
                    &x.conv2d(&wc, p, s, 1, 1)
                        .unwrap()
                        .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = grads(&ours, &r);
            let dx_ref = go.get(&x).unwrap().clone();
            let gt = grads(&theirs, &r);
            for v in [&x, &wc, &bias] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(max_diff(a, b) < 1e-3, "conv2d grad {:?}", v.dims());
            }
            // On data (untracked input) the weight and bias gradients stay the same.
            let data = x.as_tensor().detach();
            let ours = conv2d(&data, &wc, &bias, s, p, act).unwrap();
            let go = grads(&ours, &r);
            assert!(go.get(&x).is_none());
            assert!(max_diff(go.get(&wc).unwrap(), gt.get(&wc).unwrap()) < 1e-3);
            // Constant parameters (a frozen layer).
            let (wf, bf) = (wc.as_tensor().detach(), bias.as_tensor().detach());
            let ours = conv2d(&x, &wf, &bf, s, p, act).unwrap();
            assert_frozen(&ours, &r, &x, [&wc, &bias], &flat(&dx_ref));

            let wt = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cin, cout, k, k), &dev).unwrap())
                .unwrap();
            let bt = Var::from_tensor(&Tensor::randn(0f32, 1.0, cout, &dev).unwrap()).unwrap();
            let ours = conv_transpose2d(&x, &wt, &bt, s, p, act_t).unwrap();
            let theirs = act_t
                .unfused(
                    &x.conv_transpose2d(&wt, p, 0, s, 1)
                        .unwrap()
                        .broadcast_add(&bt.reshape((1, cout, 1, 1)).unwrap())
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = grads(&ours, &r);
            let gt = grads(&theirs, &r);
            for v in [&x, &wt, &bt] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(
                    max_diff(a, b) < 1e-3,
                    "conv_transpose2d grad {:?}",
                    v.dims()
                );
            }
            let (wf, bf) = (wt.as_tensor().detach(), bt.as_tensor().detach());
            let ours = conv_transpose2d(&x, &wf, &bf, s, p, act_t).unwrap();
            assert_frozen(&ours, &r, &x, [&wt, &bt], &flat(go.get(&x).unwrap()));
        }
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        let w = Tensor::zeros((1, 1, 5, 5), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(1, candle_core::DType::F32, &dev).unwrap();
        assert!(conv2d(&x, &w, &b, 1, 0, Act::Identity).is_err());
    }
}
