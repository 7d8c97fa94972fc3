//! What the ops' tests share: gradients of a weighted sum, comparing tensors.

use candle_core::backprop::GradStore;
use candle_core::Tensor;

/// The gradients of `sum(y * r)`: a random weighting `r` gives every output its own gradient.
pub fn grads(y: &Tensor, r: &Tensor) -> GradStore {
    (y * r).unwrap().sum_all().unwrap().backward().unwrap()
}

/// The largest absolute difference between two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
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

/// A tensor's values in order.
pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}
