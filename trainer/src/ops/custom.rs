//! The ops' bridge to candle's custom-op traits. An op here works on contiguous f32 slices
//! ([`SliceOp1`], [`SliceOp2`], [`SliceOp3`], [`SliceInplace2`]); [`Slices`] wraps it as candle's
//! `CustomOp1/2/3` or `InplaceOp2`, taking each input's slice out of its storage in place (no
//! copy) and handing the op's output vector to candle as its storage. So each op says only what
//! it computes, not how candle passes storages and layouts.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, InplaceOp2, Layout, Shape, Tensor};

/// The range of a storage's values a contiguous layout describes, or an error naming the op.
fn range(l: &Layout, op: &str) -> candle_core::Result<std::ops::Range<usize>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expects contiguous tensors")
    };
    Ok(start..end)
}

/// The contiguous f32 slice a layout describes, or an error naming the op.
pub(crate) fn f32_slice<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32 tensors")
    };
    Ok(&v[range(l, op)?])
}

/// The mutable version of [`f32_slice`].
fn f32_slice_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a mut [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32 tensors")
    };
    Ok(&mut v[range(l, op)?])
}

/// One input of an op: its values, in order, and its shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct In<'a> {
    pub v: &'a [f32],
    pub shape: &'a Shape,
}

impl<'a> In<'a> {
    fn new(s: &'a CpuStorage, l: &'a Layout, op: &str) -> candle_core::Result<Self> {
        Ok(In {
            v: f32_slice(s, l, op)?,
            shape: l.shape(),
        })
    }
}

/// An op's output: its values and its shape.
pub(crate) type Out = candle_core::Result<(Vec<f32>, Shape)>;
/// The gradients of a two-input op's inputs (`None`: not needed).
pub(crate) type Grads2 = candle_core::Result<(Option<Tensor>, Option<Tensor>)>;
/// The gradients of a three-input op's inputs (`None`: not needed).
pub(crate) type Grads3 = candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)>;

/// What candle says of an op without a backward pass.
fn no_backward<T>(op: &'static str) -> candle_core::Result<T> {
    Err(candle_core::Error::BackwardNotSupported { op })
}

/// A one-input op on slices; `backward` from the input, the output and the output's gradient.
pub(crate) trait SliceOp1 {
    fn name(&self) -> &'static str;
    fn forward(&self, x: In) -> Out;
    fn backward(
        &self,
        _x: &Tensor,
        _y: &Tensor,
        _dy: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        no_backward(self.name())
    }
}

/// A two-input op on slices.
pub(crate) trait SliceOp2 {
    fn name(&self) -> &'static str;
    fn forward(&self, a: In, b: In) -> Out;
    fn backward(&self, _a: &Tensor, _b: &Tensor, _y: &Tensor, _dy: &Tensor) -> Grads2 {
        no_backward(self.name())
    }
}

/// A three-input op on slices.
pub(crate) trait SliceOp3 {
    fn name(&self) -> &'static str;
    fn forward(&self, a: In, b: In, c: In) -> Out;
    fn backward(&self, _a: &Tensor, _b: &Tensor, _c: &Tensor, _y: &Tensor, _dy: &Tensor) -> Grads3 {
        no_backward(self.name())
    }
}

/// An in-place op on slices: updates `dst` from `src`.
pub(crate) trait SliceInplace2 {
    fn name(&self) -> &'static str;
    fn update(&self, dst: &mut [f32], src: &[f32]) -> candle_core::Result<()>;
}

/// A slice op as candle's custom op (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slices<T>(pub T);

impl<T: SliceOp1> CustomOp1 for Slices<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, shape) = self.0.forward(In::new(s, l, self.name())?)?;
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.0.backward(x, y, dy)
    }
}

impl<T: SliceOp2> CustomOp2 for Slices<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (y, shape) = self.0.forward(In::new(s1, l1, op)?, In::new(s2, l2, op)?)?;
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(&self, a: &Tensor, b: &Tensor, y: &Tensor, dy: &Tensor) -> Grads2 {
        self.0.backward(a, b, y, dy)
    }
}

impl<T: SliceOp3> CustomOp3 for Slices<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (a, b) = (In::new(s1, l1, op)?, In::new(s2, l2, op)?);
        let (y, shape) = self.0.forward(a, b, In::new(s3, l3, op)?)?;
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(&self, a: &Tensor, b: &Tensor, c: &Tensor, y: &Tensor, dy: &Tensor) -> Grads3 {
        self.0.backward(a, b, c, y, dy)
    }
}

impl<T: SliceInplace2> InplaceOp2 for Slices<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let src = f32_slice(s2, l2, self.name())?;
        self.0.update(f32_slice_mut(s1, l1, self.name())?, src)
    }
}
