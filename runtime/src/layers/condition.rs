//! The class input of a conditional generator: `embed_concat` appends the
//! class's row of a learned `[classes, dim]` table to the latent vector,
//! `onehot_concat` appends a one-hot vector of `classes` elements. A
//! conditional generator has exactly one such layer, whose `classes` is the
//! file's `num_classes`.

use super::{Act, Input};
use crate::error::{Error, Name};
use crate::format::{LayerSpec, MAX_ONEHOT_FRAC};
use crate::kernels::Weights;

/// Takes a flat vector and appends `extra` elements to it.
pub(super) fn chain(input: &Input, extra: usize) -> Result<(Act, u64), Error> {
    match input.act {
        Act::Flat(n) => Ok((Act::Flat(input.bounded(n.checked_add(extra))?), 0)),
        Act::Image(_) => Err(input.mismatch(Name::new("a flat vector"))),
    }
}

/// Checks layer `i` of kind `spec` against the file's `num_classes` and the
/// conditioning layer seen so far (`conditioning`, updated when `spec` is
/// one).
pub(crate) fn check_conditioning(
    i: usize,
    spec: &LayerSpec,
    num_classes: usize,
    conditioning: &mut Option<usize>,
) -> Result<(), Error> {
    if let LayerSpec::EmbedConcat { classes, .. } | LayerSpec::OneHotConcat { classes } = *spec {
        if num_classes == 0 || conditioning.is_some() {
            return Err(Error::UnexpectedConditioning { layer: i });
        }
        if classes != num_classes {
            return Err(Error::ConditioningClasses {
                layer: i,
                expected: num_classes,
                found: classes,
            });
        }
        *conditioning = Some(i);
    }
    Ok(())
}

/// Writes the `label` row of the `[classes, tail.len()]` table `w` into
/// `tail`.
pub(super) fn embed(w: Weights<'_>, label: usize, tail: &mut [f32]) {
    let dim = tail.len();
    let row = w.slice(label * dim, dim);
    for (i, v) in tail.iter_mut().enumerate() {
        *v = row.at(i);
    }
}

/// Writes the one-hot vector of `label` into `tail`.
pub(super) fn one_hot(label: usize, tail: &mut [f32]) {
    for (i, v) in tail.iter_mut().enumerate() {
        *v = if i == label { 1.0 } else { 0.0 };
    }
}

/// Version 2: `onehot_concat`'s `1.0` is `2^F` of its input's `F`, which
/// must fit in 16 bits.
pub(super) fn check_one_hot_frac(i: usize, frac: u32) -> Result<(), Error> {
    if frac > MAX_ONEHOT_FRAC {
        return Err(Error::OneHotFrac { layer: i, frac });
    }
    Ok(())
}

/// Version 2: writes the `label` row of the int16 `[classes, tail.len()]`
/// table `w` into `tail`, as stored (already in the activation's units).
pub(super) fn embed_int(w: Weights<'_>, label: usize, tail: &mut [i16]) {
    let row = w.slice(label * tail.len(), tail.len());
    for (i, v) in tail.iter_mut().enumerate() {
        *v = row.int_at(i) as i16;
    }
}

/// Version 2: writes the one-hot vector of `label` into `tail`, `2^frac`
/// at the label (`frac <= 14`, checked at load).
pub(super) fn one_hot_int(label: usize, frac: u32, tail: &mut [i16]) {
    let one = 1i16 << frac.min(MAX_ONEHOT_FRAC);
    for (i, v) in tail.iter_mut().enumerate() {
        *v = if i == label { one } else { 0 };
    }
}
