//! Adam's update in two in-place passes per parameter tensor instead of about fourteen allocating
//! candle operations: the first updates both moments (kept side by side in one `[2, n]` tensor,
//! so one op can write them), the second the parameter. candle's in-place ops can write one tensor
//! each, hence two passes rather than one.

use super::custom::SliceInplace2;

/// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2` on the moments tensor `[m | v]`.
pub struct AdamMoments {
    pub beta1: f32,
    pub beta2: f32,
}

impl SliceInplace2 for AdamMoments {
    fn name(&self) -> &'static str {
        "adam-moments"
    }

    fn update(&self, mv: &mut [f32], g: &[f32]) -> candle_core::Result<()> {
        if mv.len() != 2 * g.len() {
            candle_core::bail!(
                "adam-moments: {} moments for {} gradients",
                mv.len(),
                g.len()
            )
        }
        let (m, v) = mv.split_at_mut(g.len());
        moments(m, v, g, self.beta1, self.beta2);
        Ok(())
    }
}

/// The moment update on plain slices of equal length.
pub fn moments(m: &mut [f32], v: &mut [f32], g: &[f32], beta1: f32, beta2: f32) {
    let (a1, a2) = (1.0 - beta1, 1.0 - beta2);
    for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(g) {
        *m = beta1 * *m + a1 * g;
        *v = beta2 * *v + a2 * g * g;
    }
}

/// `p -= step_size * m / (sqrt(v) / sqrt_bc2 + eps)` with `step_size = lr / bc1`, PyTorch's
/// formula, reading the moments tensor `[m | v]`.
pub struct AdamParam {
    pub step_size: f32,
    pub sqrt_bc2: f32,
    pub eps: f32,
}

impl SliceInplace2 for AdamParam {
    fn name(&self) -> &'static str {
        "adam-param"
    }

    fn update(&self, p: &mut [f32], mv: &[f32]) -> candle_core::Result<()> {
        if mv.len() != 2 * p.len() {
            candle_core::bail!("adam-param: {} moments for {} weights", mv.len(), p.len())
        }
        let (m, v) = mv.split_at(p.len());
        param(p, m, v, self.step_size, self.sqrt_bc2, self.eps);
        Ok(())
    }
}

/// The parameter update on plain slices of equal length.
pub fn param(p: &mut [f32], m: &[f32], v: &[f32], step_size: f32, sqrt_bc2: f32, eps: f32) {
    for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
        *p -= step_size * m / (v.sqrt() / sqrt_bc2 + eps);
    }
}
