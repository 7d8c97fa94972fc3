//! `reshape`: a flat vector (or an image) read as an image of shape `to`
//! with the same elements. It moves no data, floats or integers.

use super::{Act, Input};
use crate::error::{Error, Name};
use crate::format::Shape;

pub(super) fn chain(input: &Input, to: Shape) -> Result<(Act, u64), Error> {
    let Shape { c, h, w } = to;
    let len = c.checked_mul(h).and_then(|v| v.checked_mul(w));
    if len != Some(input.act.len()) {
        return Err(input.mismatch(
            Name::new("")
                .and_uint(len.unwrap_or(usize::MAX))
                .and(" elements (")
                .and_uint(c)
                .and("x")
                .and_uint(h)
                .and("x")
                .and_uint(w)
                .and(")"),
        ));
    }
    Ok((Act::Image(to), 0))
}
