//! The element-wise kernels: activations in place and nearest-neighbour
//! upsampling. They compute with `libm` (`tanhf`, `expf`), the same code on
//! every target; `tanh` runs a vectorised form of `libm::tanhf` with the
//! same bits where there are vector units (module `tanh`).

// Targets without vector units call `libm` directly.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod tanh;

/// `max(x, 0)`, with NaN mapped to 0.
pub fn relu(x: &mut [f32]) {
    for v in x {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

pub fn leaky_relu(x: &mut [f32], slope: f32) {
    for v in x {
        *v = if *v >= 0.0 { *v } else { *v * slope };
    }
}

/// `libm::tanhf` of every value (vectorised where the target has vectors;
/// see `tanh`).
pub fn tanh(x: &mut [f32]) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    tanh::slice(x);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    for v in x {
        *v = libm::tanhf(*v);
    }
}

pub fn sigmoid(x: &mut [f32]) {
    for v in x {
        *v = 1.0 / (1.0 + libm::expf(-*v));
    }
}

/// Nearest-neighbour upsampling of `[c, h, w]` by `scale`, of f32 values
/// (version 1) or int16 activations (version 2) alike.
pub fn upsample_nearest<T: Copy + Default>(
    x: &[T],
    c: usize,
    h: usize,
    w: usize,
    scale: usize,
    y: &mut [T],
) {
    let (Some(oh), Some(ow)) = (h.checked_mul(scale), w.checked_mul(scale)) else {
        return;
    };
    let fits = |n: usize, a: usize, b: usize, len: usize| {
        n.checked_mul(a)
            .and_then(|v| v.checked_mul(b))
            .is_some_and(|v| v <= len)
    };
    if scale == 0 || !fits(c, h, w, x.len()) || !fits(c, oh, ow, y.len()) {
        return;
    }
    for ch in 0..c {
        for oy in 0..oh {
            let src = x.get((ch * h + oy / scale) * w..).unwrap_or(&[]);
            let dst = y.get_mut((ch * oh + oy) * ow..).unwrap_or(&mut []);
            for (ox, d) in dst.iter_mut().take(ow).enumerate() {
                *d = src.get(ox / scale).copied().unwrap_or_default();
            }
        }
    }
}
