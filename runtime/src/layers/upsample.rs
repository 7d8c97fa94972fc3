//! `upsample_nearest`: each pixel repeated `scale` times along both axes.

use super::{Act, Input};
use crate::error::{Error, Name};
use crate::format::Shape;
use crate::kernels;

pub(super) fn chain(input: &Input, scale: usize) -> Result<(Act, u64), Error> {
    let Act::Image(s) = input.act else {
        return Err(input.mismatch(Name::new("an image")));
    };
    let (h, w) = (s.h.saturating_mul(scale), s.w.saturating_mul(scale));
    input.bounded(s.c.checked_mul(h).and_then(|v| v.checked_mul(w)))?;
    Ok((Act::Image(Shape { c: s.c, h, w }), 0))
}

/// `s`: the input image's shape; f32 values (version 1) or int16
/// activations (version 2), which move alike.
pub(super) fn run<T: Copy + Default>(s: Shape, scale: usize, x: &[T], y: &mut [T]) {
    kernels::upsample_nearest(x, s.c, s.h, s.w, scale, y);
}
