//! Fast kernels: same per-output summation order as [`super::plain`].

use super::{plain, ConvGeom, Weights};

pub fn dense(w: Weights<'_>, b: Weights<'_>, x: &[f32], y: &mut [f32]) {
    plain::dense(w, b, x, y)
}

pub fn conv2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    plain::conv2d(w, b, g, x, y)
}

pub fn conv_transpose2d(w: Weights<'_>, b: Weights<'_>, g: &ConvGeom, x: &[f32], y: &mut [f32]) {
    plain::conv_transpose2d(w, b, g, x, y)
}
