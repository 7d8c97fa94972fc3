//! The element-wise activations `relu`, `leaky_relu`, `tanh` and
//! `sigmoid`: any input, the same shape out, computed in place.

use crate::format::LayerSpec;
use crate::kernels;

/// Applies the activation `spec` to `x` in place.
pub(super) fn run(spec: LayerSpec, x: &mut [f32]) {
    match spec {
        LayerSpec::Relu => kernels::relu(x),
        LayerSpec::LeakyRelu { slope } => kernels::leaky_relu(x, slope),
        LayerSpec::Tanh => kernels::tanh(x),
        LayerSpec::Sigmoid => kernels::sigmoid(x),
        _ => {}
    }
}
