//! GAN losses on discriminator logits, computed without ever forming `sigmoid(x)` and taking its
//! log, so they stay finite however confident the discriminator becomes.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The generator's objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    /// Non-saturating: minimise -log D(G(z)).
    Ns,
    /// Minimax, as in the original paper: minimise log(1 - D(G(z))).
    Mm,
}

impl GanLoss {
    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Ns => "ns",
            GanLoss::Mm => "mm",
        }
    }
}

/// `log(1 + exp(x))`, stable for any `x`: `max(x, 0) + log(1 + exp(-|x|))`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Binary cross-entropy of logits against the label "real": mean of -log sigmoid(x).
pub fn bce_real(logits: &Tensor) -> Result<Tensor> {
    Ok(softplus(&logits.neg()?)?.mean_all()?)
}

/// Binary cross-entropy of logits against the label "fake": mean of -log(1 - sigmoid(x)).
pub fn bce_fake(logits: &Tensor) -> Result<Tensor> {
    Ok(softplus(logits)?.mean_all()?)
}

/// The generator loss on the discriminator's logits for generated samples.
pub fn generator_loss(kind: GanLoss, fake_logits: &Tensor) -> Result<Tensor> {
    match kind {
        GanLoss::Ns => bce_real(fake_logits),
        // log(1 - sigmoid(x)) = -softplus(x)
        GanLoss::Mm => Ok(bce_fake(fake_logits)?.neg()?),
    }
}

/// The mode-seeking term of MSGAN (Mao et al. 2019), to be minimised by the generator: the
/// inverse of how far apart the two halves of a batch of fakes are, relative to how far apart
/// their latents are (mean absolute differences). A generator that ignores z, drawing one image
/// per class, makes it large; one whose output follows z makes it small. The halves must share
/// their class labels, so only z differs between paired samples.
pub fn mode_seeking(fake: &Tensor, z: &Tensor) -> Result<Tensor> {
    let half = fake.dim(0)? / 2;
    let fake = fake.flatten_from(1)?;
    let images = (fake.narrow(0, 0, half)? - fake.narrow(0, half, half)?)?
        .abs()?
        .mean_all()?;
    let latents = (z.narrow(0, 0, half)? - z.narrow(0, half, half)?)?
        .abs()?
        .mean_all()?;
    Ok(((images / latents)? + 1e-5)?.recip()?)
}

/// The discriminator loss: the mean of its real and fake cross-entropies.
pub fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
    Ok(((bce_real(real_logits)? + bce_fake(fake_logits)?)? * 0.5)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn naive_bce(x: f32, real: bool) -> f32 {
        let s = 1.0 / (1.0 + (-x).exp());
        if real {
            -s.ln()
        } else {
            -(1.0 - s).ln()
        }
    }

    #[test]
    fn mode_seeking_punishes_outputs_that_ignore_z() {
        let dev = Device::Cpu;
        let z = Tensor::new(&[[0f32, 1.0], [2.0, 3.0], [1.0, 1.0], [0.0, 5.0]], &dev).unwrap();
        // Pairs (0, 2) and (1, 3): latents differ by (1 + 0 + 2 + 2) / 4 = 1.25 on average.
        let same = Tensor::ones((4, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        let apart = Tensor::new(&[1f32, 1.0, 4.0, 4.0], &dev)
            .unwrap()
            .reshape((4, 1, 1, 1))
            .unwrap();
        let collapsed: f32 = mode_seeking(&same, &z).unwrap().to_scalar().unwrap();
        let varied: f32 = mode_seeking(&apart, &z).unwrap().to_scalar().unwrap();
        assert!((collapsed - 1e5).abs() < 1.0, "{collapsed}");
        // |1 - 4| = 3 against 1.25: ratio 2.4, term 1 / 2.40001.
        assert!((varied - 1.0 / 2.4).abs() < 1e-4, "{varied}");
    }

    #[test]
    fn matches_the_naive_formula_and_stays_finite() {
        let xs = [-5.0f32, -0.3, 0.0, 0.7, 4.0];
        let t = Tensor::new(&xs, &Device::Cpu).unwrap();
        let real: f32 = bce_real(&t).unwrap().to_scalar().unwrap();
        let fake: f32 = bce_fake(&t).unwrap().to_scalar().unwrap();
        let want_real = xs.iter().map(|&x| naive_bce(x, true)).sum::<f32>() / 5.0;
        let want_fake = xs.iter().map(|&x| naive_bce(x, false)).sum::<f32>() / 5.0;
        assert!((real - want_real).abs() < 1e-5, "{real} vs {want_real}");
        assert!((fake - want_fake).abs() < 1e-5, "{fake} vs {want_fake}");

        let extreme = Tensor::new(&[-1e4f32, 1e4], &Device::Cpu).unwrap();
        for v in [
            bce_real(&extreme),
            bce_fake(&extreme),
            generator_loss(GanLoss::Mm, &extreme),
        ] {
            let v: f32 = v.unwrap().to_scalar().unwrap();
            assert!(v.is_finite());
        }
        let mm: f32 = generator_loss(GanLoss::Mm, &t)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((mm + want_fake).abs() < 1e-5);
    }
}
