//! A small DCGAN-style pair sized for a microcontroller.
//!
//! G: z (+ class embedding) -> dense to 32 x H/4 x W/4 -> BatchNorm -> ReLU -> transposed conv
//! (k4 s2 p1) to 16 x H/2 x W/2 -> BatchNorm -> ReLU -> transposed conv to C x H x W -> tanh.
//! For 28x28 digits the exported file has 166,833 parameters (335 KB in f16; conditional:
//! 182,613, 367 KB), costs about 0.55 M multiply-accumulates per image, and the runtime needs a
//! 25 KB scratch buffer: it fits the RP2040's 2 MB flash and 264 KB RAM with room to spare.
//! D: conv k4 s2 (C->16) -> LeakyReLU -> conv k4 s2 (16->32) -> LeakyReLU -> dense to one logit.
//! Conditional, D reads the label twice: as K one-hot planes beside the pixels (the classic
//! conditional GAN's input, so its first filters can be class-specific) and through a projection
//! term (the class embedding dotted with the features). Projection alone left the generator free to
//! draw one image per class or to ignore the label. With `--pack N` D's first convolution reads N
//! images (with their planes) stacked along the channel axis, and the projection term uses the sum
//! of the N class embeddings.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::layers::{Act, BatchNorm, Conv2d, ConvSize, ConvTranspose2d, Embedding, Linear};
use super::params::ParamStore;
use super::{pack_channels, with_label, DiscriminatorNet, ExportedLayer, GeneratorNet, ModelSpec};
use crate::error::Result;
use runtime::format::LayerSpec;

/// The DCGAN paper's initialisation (Radford et al. 2016), which these small convolutional nets
/// need to train in a few thousand steps: weights N(0, 0.02), biases 0, batch-norm scales
/// N(1, 0.02). Class embeddings keep PyTorch's N(0, 1).
fn dcgan_init(p: &ParamStore, rng: &mut ChaCha8Rng) -> Result<()> {
    let names: Vec<String> = p.trainable().into_iter().map(|(n, _)| n).collect();
    for name in names {
        if name.starts_with("label_emb") || name.starts_with("project") {
            continue;
        }
        let bn = name.starts_with("bn");
        if name.ends_with(".weight") {
            p.redraw_normal(&name, if bn { 1.0 } else { 0.0 }, 0.02, rng)?;
        } else if name.ends_with(".bias") {
            p.redraw_normal(&name, 0.0, 0.0, rng)?;
        }
    }
    Ok(())
}

/// Channels after the dense layer and after the first transposed convolution, at width 1.
const G_CHANNELS: [usize; 2] = [32, 16];
/// Channels of the discriminator's convolutions, at width 1.
const D_CHANNELS: [usize; 2] = [16, 32];

/// The generator's channels for `spec.g_width` (`--width`): the base channels times the width.
pub fn g_channels(spec: &ModelSpec) -> [usize; 2] {
    G_CHANNELS.map(|c| c * spec.g_width)
}

/// The discriminator's channels for `spec.d_width` (`--d-width`).
pub fn d_channels(spec: &ModelSpec) -> [usize; 2] {
    D_CHANNELS.map(|c| c * spec.d_width)
}
const BN_EPS: f64 = 1e-5;
const SLOPE: f64 = 0.2;

/// The DCGAN's convolutions: kernel 4, stride 2, padding 1, which halve the image (or, transposed,
/// double it).
fn by_two(cin: usize, cout: usize) -> ConvSize {
    ConvSize {
        cin,
        cout,
        k: 4,
        stride: 2,
        padding: 1,
    }
}

/// The convolutional generator.
pub struct Generator {
    embed: Option<Embedding>,
    fc: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
    /// Channels after the dense layer.
    c0: usize,
    h4: usize,
    w4: usize,
}

impl Generator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embed = Embedding::label(spec, p, rng)?;
        let (h4, w4) = (spec.height / 4, spec.width / 4);
        let in0 = spec.latent_dim
            + if spec.conditional() {
                spec.embed_dim
            } else {
                0
            };
        let [c0, c1] = g_channels(spec);
        let g = Generator {
            embed,
            fc: Linear::new(p, "fc", in0, c0 * h4 * w4, rng)?,
            bn0: BatchNorm::new(p, "bn0", c0, BN_EPS)?,
            up1: ConvTranspose2d::new(p, "up1", by_two(c0, c1), rng)?,
            bn1: BatchNorm::new(p, "bn1", c1, BN_EPS)?,
            up2: ConvTranspose2d::new(p, "up2", by_two(c1, spec.channels), rng)?,
            c0,
            h4,
            w4,
        };
        dcgan_init(p, rng)?;
        Ok(g)
    }
}

impl GeneratorNet for Generator {
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let x = with_label(z, self.embed.as_ref(), labels)?;
        let x = self
            .fc
            .forward(&x)?
            .reshape(((), self.c0, self.h4, self.w4))?;
        // Each activation is fused into the op before it on the CPU (`crate::ops::act::Act`).
        let x = self.bn0.forward_act_t(&x, train, Act::RELU)?;
        let x = self
            .bn1
            .forward_act_t(&self.up1.forward(&x)?, train, Act::RELU)?;
        self.up2.forward_act(&x, Act::Tanh)
    }

    fn export(&self) -> Result<Vec<ExportedLayer>> {
        let mut layers = Vec::new();
        if let Some(e) = &self.embed {
            layers.push(e.export()?);
        }
        layers.push(self.fc.export(Some((&self.bn0, self.h4 * self.w4)))?);
        layers.push(
            LayerSpec::Reshape {
                c: self.c0,
                h: self.h4,
                w: self.w4,
            }
            .into(),
        );
        layers.push(LayerSpec::Relu.into());
        layers.push(self.up1.export(Some(&self.bn1))?);
        layers.push(LayerSpec::Relu.into());
        layers.push(self.up2.export(None)?);
        layers.push(LayerSpec::Tanh.into());
        Ok(layers)
    }
}

/// The convolutional discriminator.
pub struct Discriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    out: Linear,
    project: Option<Embedding>,
    /// Classes whose one-hot planes join the input (0 for an unconditional D).
    classes: usize,
    pack: usize,
}

impl Discriminator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let [c1, c2] = d_channels(spec);
        let features = c2 * (spec.height / 4) * (spec.width / 4);
        let project = if spec.conditional() {
            Some(Embedding::new(
                p,
                "project",
                spec.num_classes,
                features,
                rng,
            )?)
        } else {
            None
        };
        // One-hot class planes beside each sample's channels, `pack` samples deep.
        let cin = spec.pack * (spec.channels + spec.num_classes);
        let d = Discriminator {
            conv1: Conv2d::new(p, "conv1", by_two(cin, c1), rng)?,
            conv2: Conv2d::new(p, "conv2", by_two(c1, c2), rng)?,
            out: Linear::new(p, "out", features, 1, rng)?,
            project,
            classes: spec.num_classes,
            pack: spec.pack,
        };
        dcgan_init(p, rng)?;
        Ok(d)
    }
}

impl DiscriminatorNet for Discriminator {
    fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let x = match labels {
            Some(l) if self.classes > 0 => {
                let (b, _, h, w) = x.dims4()?;
                let planes = Tensor::eye(self.classes, x.dtype(), x.device())?
                    .index_select(l, 0)?
                    .reshape((b, self.classes, 1, 1))?
                    .broadcast_as((b, self.classes, h, w))?;
                Tensor::cat(&[x, &planes], 1)?
            }
            _ => x.clone(),
        };
        let x = pack_channels(&x, self.pack)?;
        let leaky = Act::Leaky(SLOPE as f32);
        let h = self.conv1.forward_act(&x, leaky)?;
        let h = self.conv2.forward_act(&h, leaky)?.flatten_from(1)?;
        let logit = self.out.forward(&h)?.squeeze(1)?;
        match (&self.project, labels) {
            // Projection discriminator (Miyato & Koyama 2018): <embed(y), features>.
            (Some(e), Some(l)) => {
                let scale = 1.0 / (h.dim(1)? as f64).sqrt();
                let emb = e.forward(l)?;
                // A pack's embedding is the sum of its members' (the labels of one pack).
                let emb = if self.pack > 1 {
                    let (b, f) = emb.dims2()?;
                    emb.reshape((b / self.pack, self.pack, f))?.sum(1)?
                } else {
                    emb
                };
                Ok((logit + (emb * &h)?.sum(1)? * scale)?)
            }
            _ => Ok(logit),
        }
    }

    fn frozen(&self) -> Box<dyn DiscriminatorNet> {
        Box::new(Discriminator {
            conv1: self.conv1.frozen(),
            conv2: self.conv2.frozen(),
            out: self.out.frozen(),
            project: self.project.as_ref().map(Embedding::frozen),
            classes: self.classes,
            pack: self.pack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, Gan, ToyNet};
    use candle_core::{DType, Device};

    fn spec(classes: usize) -> ModelSpec {
        ModelSpec {
            arch: Arch::Dcgan,
            latent_dim: 8,
            num_classes: classes,
            embed_dim: classes,
            channels: 1,
            height: 8,
            width: 8,
            pack: 1,
            toy_net: ToyNet::Small,
            g_width: 1,
            d_width: 1,
        }
    }

    #[test]
    fn the_conditional_discriminator_reads_label_planes() {
        let dev = Device::Cpu;
        let plain = Gan::new(&spec(0), &dev, 0).unwrap();
        assert_eq!(plain.d_params.all()["conv1.weight"].dims(), &[16, 1, 4, 4]);
        let gan = Gan::new(&spec(3), &dev, 0).unwrap();
        assert_eq!(gan.d_params.all()["conv1.weight"].dims(), &[16, 4, 4, 4]);
        // With the projection term silenced, the label still changes the score: through the planes.
        let project = &gan.d_params.all()["project.weight"];
        project
            .set(&Tensor::zeros(project.shape(), DType::F32, &dev).unwrap())
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 1, 8, 8), &dev).unwrap();
        let x = Tensor::cat(&[&x.narrow(0, 0, 1).unwrap(); 3], 0).unwrap();
        let labels = Tensor::new(&[0u32, 1, 2], &dev).unwrap();
        let logits = gan
            .d
            .forward(&x, Some(&labels))
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            logits[0] != logits[1] && logits[1] != logits[2],
            "{logits:?}"
        );
    }
}
