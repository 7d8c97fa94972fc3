//! Fused CPU kernels for the training step, as candle custom ops.
//!
//! candle runs every tensor operation as its own pass over memory with a fresh output buffer; at
//! the sizes of these GANs (a few million parameters, batch 64) that per-operation cost, not the
//! arithmetic, dominates a step. Each op here does in one pass what took several.
//!
//! Every op has a CPU implementation only. On other devices the callers use the plain candle
//! formulas they replace (see each caller), so a CUDA build computes the same thing, unfused.
//! Every op is tested against those plain formulas on random inputs, values and gradients.

pub mod act;
pub mod adam;
pub mod conv;
mod custom;
pub mod linear;
pub mod norm;

#[cfg(test)]
mod testing;

use candle_core::Tensor;

pub(crate) use custom::Slices;

/// `t` itself if contiguous, else a contiguous copy: the ops read their inputs as slices.
pub(crate) fn contiguous(t: &Tensor) -> candle_core::Result<Tensor> {
    if t.is_contiguous() {
        Ok(t.clone())
    } else {
        t.contiguous()
    }
}

/// `sum f(x_i)` over a slice in 16 independent partial sums (then added together), so the
/// additions vectorise instead of waiting on one another as a single running sum does.
#[inline]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    acc.iter().sum::<f32>() + tail
}

/// `(sum a_i, sum a_i b_i)` over two slices, in independent partial sums like [`lane_sum`].
#[inline]
fn lane_sum_dot(a: &[f32], b: &[f32], f: impl Fn(f32) -> f32) -> (f32, f32) {
    let (mut s, mut d) = ([0f32; 16], [0f32; 16]);
    let (mut ca, mut cb) = (a.chunks_exact(16), b.chunks_exact(16));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            s[i] += x[i];
            d[i] += x[i] * f(y[i]);
        }
    }
    let (mut ts, mut td) = (0f32, 0f32);
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        ts += x;
        td += x * f(y);
    }
    (s.iter().sum::<f32>() + ts, d.iter().sum::<f32>() + td)
}

/// Keeps freed memory in the process instead of returning it to the kernel at once.
///
/// A training step allocates and frees the same few-megabyte buffers (activations, gradients,
/// `im2col` matrices) every step. glibc serves large ones with `mmap` and trims the heap top
/// eagerly, so each step paid page faults and kernel page clearing for memory it had just
/// released: a quarter of the DCGAN step at batch 1024. Raising the mmap threshold to its
/// maximum (32 MiB) and the trim threshold to 1 GiB makes those buffers come back from the
/// heap. Does nothing on other C libraries. Called once by the binary at start-up.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt only changes glibc's allocator tunables; both values are in range.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

/// Compute threads when the user did not choose (`RAYON_NUM_THREADS`, which candle and its
/// matrix products follow): one. On the 2-core machines this trainer is measured on, a second
/// thread made every configuration slower, 2-5x at batch 64 (`docs/trainer-speed.md`): candle
/// splits even small element-wise ops across threads and pays a synchronisation per op, and
/// the fused kernels here run on one thread anyway. Must run before any thread is started.
pub fn default_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}
