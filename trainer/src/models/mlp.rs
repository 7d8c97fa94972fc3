//! The classic fully connected GAN, layer for layer as the widely used PyTorch reference
//! (`gan.py`): G is 100 -> 128 -> 256 -> 512 -> 1024 -> C*H*W with LeakyReLU(0.2) and, after the
//! first hidden layer, BatchNorm1d with eps 0.8 (the reference passes 0.8 positionally, where
//! PyTorch expects eps); tanh out. D is C*H*W -> 512 -> 256 -> 1 with LeakyReLU(0.2); with
//! `--pack N` its input is N samples (each with its class embedding) side by side.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::layers::{Act, BatchNorm, Embedding, Linear};
use super::params::ParamStore;
use super::{with_label, DenseD, DiscriminatorNet, ExportedLayer, GeneratorNet, ModelSpec};
use crate::error::Result;
use runtime::format::LayerSpec;

const SLOPE: f64 = 0.2;
const BN_EPS: f64 = 0.8;
const G_HIDDEN: [usize; 4] = [128, 256, 512, 1024];
const D_HIDDEN: [usize; 2] = [512, 256];

/// The MLP generator.
pub struct Generator {
    embed: Option<Embedding>,
    first: Linear,
    blocks: Vec<(Linear, BatchNorm)>,
    out: Linear,
    shape: (usize, usize, usize),
}

impl Generator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embed = Embedding::label(spec, p, rng)?;
        let in0 = spec.latent_dim
            + if spec.conditional() {
                spec.embed_dim
            } else {
                0
            };
        let first = Linear::new(p, "fc0", in0, G_HIDDEN[0], rng)?;
        let mut blocks = Vec::new();
        for i in 1..G_HIDDEN.len() {
            let lin = Linear::new(p, &format!("fc{i}"), G_HIDDEN[i - 1], G_HIDDEN[i], rng)?;
            let bn = BatchNorm::new(p, &format!("bn{i}"), G_HIDDEN[i], BN_EPS)?;
            blocks.push((lin, bn));
        }
        let out = Linear::new(p, "out", G_HIDDEN[3], spec.output_len(), rng)?;
        Ok(Generator {
            embed,
            first,
            blocks,
            out,
            shape: (spec.channels, spec.height, spec.width),
        })
    }
}

impl GeneratorNet for Generator {
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let mut x = with_label(z, self.embed.as_ref(), labels)?;
        // Each activation is fused into the op before it on the CPU (`crate::ops::act::Act`).
        let leaky = Act::Leaky(SLOPE as f32);
        x = self.first.forward_act(&x, leaky)?;
        for (lin, bn) in &self.blocks {
            x = bn.forward_act_t(&lin.forward(&x)?, train, leaky)?;
        }
        let (c, h, w) = self.shape;
        Ok(self
            .out
            .forward_act(&x, Act::Tanh)?
            .reshape(((), c, h, w))?)
    }

    fn export(&self) -> Result<Vec<ExportedLayer>> {
        let mut layers = Vec::new();
        if let Some(e) = &self.embed {
            layers.push(e.export()?);
        }
        layers.push(self.first.export(None)?);
        layers.push(
            LayerSpec::LeakyRelu {
                slope: SLOPE as f32,
            }
            .into(),
        );
        for (lin, bn) in &self.blocks {
            layers.push(lin.export(Some((bn, 1)))?);
            layers.push(
                LayerSpec::LeakyRelu {
                    slope: SLOPE as f32,
                }
                .into(),
            );
        }
        layers.push(self.out.export(None)?);
        layers.push(LayerSpec::Tanh.into());
        Ok(layers)
    }
}

/// The MLP discriminator; conditional, it sees the class embedding beside the pixels.
pub struct Discriminator(DenseD);

impl Discriminator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let widths = D_HIDDEN.map(|h| (h, h));
        Ok(Discriminator(DenseD::new(spec, p, rng, widths)?))
    }
}

impl DiscriminatorNet for Discriminator {
    fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let leaky = Act::Leaky(SLOPE as f32);
        self.0
            .forward(x, labels, |lin, x| lin.forward_act(x, leaky))
    }

    fn frozen(&self) -> Box<dyn DiscriminatorNet> {
        Box::new(Discriminator(self.0.frozen()))
    }
}
