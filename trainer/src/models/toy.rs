//! A small MLP pair for the 2-D toy mixtures: G is latent -> 128 -> 128 -> 2 with ReLU and a
//! linear output (the points are not bounded); D is 2 -> 128 -> 128 -> 1 with LeakyReLU(0.2)
//! (its input `pack` times wider when it judges packs of samples).

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::layers::{leaky_relu, Embedding, Linear};
use super::params::ParamStore;
use super::{pack_rows, DiscriminatorNet, ExportLayer, GeneratorNet, ModelSpec};
use crate::error::Result;

const HIDDEN: usize = 128;
const SLOPE: f64 = 0.2;

/// The toy generator.
pub struct Generator {
    embed: Option<Embedding>,
    layers: Vec<Linear>,
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
        let layers = vec![
            Linear::new(p, "fc0", in0, HIDDEN, rng)?,
            Linear::new(p, "fc1", HIDDEN, HIDDEN, rng)?,
        ];
        let out = Linear::new(p, "out", HIDDEN, spec.output_len(), rng)?;
        Ok(Generator {
            embed,
            layers,
            out,
            shape: (spec.channels, spec.height, spec.width),
        })
    }
}

impl GeneratorNet for Generator {
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        let mut x = match (&self.embed, labels) {
            (Some(e), Some(l)) => Tensor::cat(&[z, &e.forward(l)?], 1)?,
            _ => z.clone(),
        };
        for lin in &self.layers {
            x = lin.forward(&x)?.relu()?;
        }
        let (c, h, w) = self.shape;
        Ok(self.out.forward(&x)?.reshape(((), c, h, w))?)
    }

    fn export(&self) -> Result<Vec<ExportLayer>> {
        let mut layers = Vec::new();
        if let Some(e) = &self.embed {
            layers.push(e.export()?);
        }
        for lin in &self.layers {
            layers.push(lin.export(None)?);
            layers.push(ExportLayer::Relu);
        }
        layers.push(self.out.export(None)?);
        Ok(layers)
    }
}

/// The toy discriminator.
pub struct Discriminator {
    embed: Option<Embedding>,
    layers: Vec<Linear>,
    out: Linear,
    pack: usize,
}

impl Discriminator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embed = Embedding::label(spec, p, rng)?;
        let in0 = spec.pack
            * (spec.output_len()
                + if spec.conditional() {
                    spec.embed_dim
                } else {
                    0
                });
        let layers = vec![
            Linear::new(p, "fc0", in0, HIDDEN, rng)?,
            Linear::new(p, "fc1", HIDDEN, HIDDEN, rng)?,
        ];
        let out = Linear::new(p, "out", HIDDEN, 1, rng)?;
        Ok(Discriminator {
            embed,
            layers,
            out,
            pack: spec.pack,
        })
    }
}

impl DiscriminatorNet for Discriminator {
    fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let mut x = x.flatten_from(1)?;
        if let (Some(e), Some(l)) = (&self.embed, labels) {
            x = Tensor::cat(&[&x, &e.forward(l)?], 1)?;
        }
        let mut x = pack_rows(&x, self.pack)?;
        for lin in &self.layers {
            x = leaky_relu(&lin.forward(&x)?, SLOPE)?;
        }
        Ok(self.out.forward(&x)?.squeeze(1)?)
    }
}
