//! What every kernel takes and promises: the stored weights it reads
//! ([`Weights`]), a convolution's geometry ([`ConvGeom`]), the size checks
//! that keep a kernel from reading or writing out of bounds, and the
//! signatures of a set of kernels ([`KernelSet`]).

use super::integer::IntParams;
use crate::format::DType;

/// Width of the dense kernel's partial sums (fixed by the format).
pub const LANES: usize = 16;

/// A stored tensor's elements, read from the file bytes in place. The bytes
/// may sit at any alignment, so elements are assembled from bytes.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    bytes: &'a [u8],
    dtype: DType,
}

impl<'a> Weights<'a> {
    /// Views `bytes` as little-endian elements of `dtype` (a trailing partial
    /// element is ignored).
    pub fn new(bytes: &'a [u8], dtype: DType) -> Self {
        Weights { bytes, dtype }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Element count.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` of a float tensor as f32 (exact for F16); 0.0 past the
    /// end, which the loader's shape checks rule out, and for an integer
    /// tensor (read with [`int_at`](Self::int_at)).
    #[inline]
    pub fn at(&self, i: usize) -> f32 {
        let size = self.dtype.size();
        let bytes = i
            .checked_mul(size)
            .and_then(|b| self.bytes.get(b..b.checked_add(size)?));
        match (self.dtype, bytes) {
            (DType::F16, Some(&[a, b])) => {
                half::f16::from_bits(u16::from_le_bytes([a, b])).to_f32()
            }
            (DType::F32, Some(&[a, b, c, d])) => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        }
    }

    /// Element `i` of an integer tensor (I8, I16, I32), sign-extended; 0
    /// past the end or for a float tensor.
    #[inline]
    pub fn int_at(&self, i: usize) -> i32 {
        let size = self.dtype.size();
        let bytes = i
            .checked_mul(size)
            .and_then(|b| self.bytes.get(b..b.checked_add(size)?));
        match (self.dtype, bytes) {
            (DType::I8, Some(&[a])) => i32::from(a as i8),
            (DType::I16, Some(&[a, b])) => i32::from(i16::from_le_bytes([a, b])),
            (DType::I32, Some(&[a, b, c, d])) => i32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// Elements `start..start + len` as a sub-view (empty when out of range).
    pub fn slice(&self, start: usize, len: usize) -> Weights<'a> {
        let size = self.dtype.size();
        let bytes = start
            .checked_mul(size)
            .and_then(|b| Some((b, b.checked_add(len.checked_mul(size)?)?)))
            .and_then(|(b, e)| self.bytes.get(b..e))
            .unwrap_or(&[]);
        Weights {
            bytes,
            dtype: self.dtype,
        }
    }

    /// The index of the first element that is NaN or infinite.
    pub fn first_non_finite(&self) -> Option<usize> {
        match self.dtype {
            DType::F16 => self
                .bytes
                .chunks_exact(2)
                .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
            DType::F32 => self.bytes.chunks_exact(4).position(|b| {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000
            }),
            DType::I8 | DType::I16 | DType::I32 => None,
        }
    }
}

/// Geometry of a convolution: input `[in_c, in_h, in_w]`, output
/// `[out_c, out_h, out_w]`, square kernel, same stride and padding on both
/// axes. `output_padding` only enters through `out_h`/`out_w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Whether the buffers hold what a dense layer reads and writes; kernels do
/// nothing otherwise (the loader guarantees it, so this never triggers
/// inside `generate`, but the kernels are public and must not panic).
pub fn dense_fits(w: &Weights<'_>, b: &Weights<'_>, n_in: usize, n_out: usize) -> bool {
    float_tensors(w, b) && n_in.checked_mul(n_out).is_some_and(|n| w.len() >= n) && b.len() >= n_out
}

/// Like [`dense_fits`] for a convolution (either kind: both weights hold
/// `in_c * out_c * k * k` elements).
pub fn conv_fits(w: &Weights<'_>, b: &Weights<'_>, g: &ConvGeom, x: &[f32], y: &[f32]) -> bool {
    float_tensors(w, b) && conv_lens_fit(w.len(), b.len(), g, x.len(), y.len())
}

/// The float kernels read only F16 and F32 tensors (the integer kernels,
/// module `integer`, the others).
fn float_tensors(w: &Weights<'_>, b: &Weights<'_>) -> bool {
    !w.dtype().is_integer() && !b.dtype().is_integer()
}

/// [`conv_fits`] on the element counts of weights, bias, input and output
/// (the integer kernels' check too).
pub(crate) fn conv_lens_fit(w: usize, b: usize, g: &ConvGeom, x: usize, y: usize) -> bool {
    let wl = g
        .in_c
        .checked_mul(g.out_c)
        .and_then(|n| n.checked_mul(g.kernel))
        .and_then(|n| n.checked_mul(g.kernel));
    let il = g
        .in_c
        .checked_mul(g.in_h)
        .and_then(|n| n.checked_mul(g.in_w));
    let ol = g
        .out_c
        .checked_mul(g.out_h)
        .and_then(|n| n.checked_mul(g.out_w));
    // Index arithmetic in the kernels stays below this bound.
    let reach = g
        .out_h
        .max(g.out_w)
        .max(g.in_h)
        .max(g.in_w)
        .checked_mul(g.stride)
        .and_then(|n| n.checked_add(g.kernel))
        .and_then(|n| n.checked_add(g.padding));
    g.stride > 0
        && reach.is_some()
        && wl.is_some_and(|n| w >= n)
        && b >= g.out_c
        && il.is_some_and(|n| x >= n)
        && ol.is_some_and(|n| y >= n)
}

/// What a convolution kernel of either kind reads: weights, bias,
/// geometry, input, and which kind (the vector kernels run both with one
/// body).
#[derive(Clone, Copy)]
pub(crate) struct ConvArgs<'a> {
    pub(crate) w: Weights<'a>,
    pub(crate) b: Weights<'a>,
    pub(crate) g: &'a ConvGeom,
    pub(crate) x: &'a [f32],
    /// `conv_transpose2d` (weights `[in, out, k, k]`) rather than `conv2d`
    /// (`[out, in, k, k]`).
    pub(crate) transpose: bool,
}

impl<'a> ConvArgs<'a> {
    pub(crate) fn new(
        w: Weights<'a>,
        b: Weights<'a>,
        g: &'a ConvGeom,
        x: &'a [f32],
        transpose: bool,
    ) -> Self {
        ConvArgs {
            w,
            b,
            g,
            x,
            transpose,
        }
    }
}

/// A dense kernel: `(weight, bias, input, output)`.
pub type DenseFn = fn(Weights<'_>, Weights<'_>, &[f32], &mut [f32]);
/// A convolution kernel: `(weight, bias, geometry, input, output)`.
pub type ConvFn = fn(Weights<'_>, Weights<'_>, &ConvGeom, &[f32], &mut [f32]);

/// An integer dense kernel (version 2): `(params, input, output)`.
pub type IntDenseFn = fn(&IntParams<'_>, &[i16], &mut [i16]);
/// An integer convolution kernel (version 2): `(params, geometry, input,
/// output)`.
pub type IntConvFn = fn(&IntParams<'_>, &ConvGeom, &[i16], &mut [i16]);

/// One implementation of the arithmetic kernels, float and integer, so
/// that tests and benchmarks can hold every implementation against the
/// plain one.
#[derive(Clone, Copy, Debug)]
pub struct KernelSet {
    pub name: &'static str,
    pub dense: DenseFn,
    pub conv2d: ConvFn,
    pub conv_transpose2d: ConvFn,
    pub int_dense: IntDenseFn,
    pub int_conv2d: IntConvFn,
    pub int_conv_transpose2d: IntConvFn,
}
