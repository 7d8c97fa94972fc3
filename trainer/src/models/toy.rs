//! MLP pairs for the 2-D toy mixtures, in two sizes ([`ToyNet`]).
//!
//! `small`: G is latent -> 128 -> 128 -> 2 with ReLU and a linear output (the points are not
//! bounded); D is 2 -> 128 -> 128 -> 1 with LeakyReLU(0.2). Thousands of steps take seconds.
//!
//! `large`: the networks of the published mode-collapse benchmark (VEEGAN, PacGAN), so that our
//! figures compare with its tables: G is latent -> 400 x 4 with batch norm and ReLU -> 2; D is
//! 2 -> 200 x 3 maxout layers (5 pieces each) -> 1.
//!
//! With `--pack N`, D's input is N samples side by side.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::layers::{leaky_relu, BatchNorm, Embedding, Linear};
use super::params::ParamStore;
use super::{with_label, DenseD, DiscriminatorNet, ExportedLayer, GeneratorNet, ModelSpec, ToyNet};
use crate::error::Result;
use runtime::format::LayerSpec;

const SLOPE: f64 = 0.2;
/// PyTorch's default; the benchmark's code uses the framework default too.
const BN_EPS: f64 = 1e-5;
const MAXOUT_PIECES: usize = 5;

/// (width, layers) of the generator's and the discriminator's hidden layers.
fn sizes(net: ToyNet) -> ((usize, usize), (usize, usize)) {
    match net {
        ToyNet::Small => ((128, 2), (128, 2)),
        ToyNet::Large => ((400, 4), (200, 3)),
    }
}

/// The toy generator.
pub struct Generator {
    embed: Option<Embedding>,
    /// Hidden layers, each with a batch norm in the large size.
    layers: Vec<(Linear, Option<BatchNorm>)>,
    out: Linear,
    shape: (usize, usize, usize),
}

impl Generator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embed = Embedding::label(spec, p, rng)?;
        let mut width = spec.latent_dim
            + if spec.conditional() {
                spec.embed_dim
            } else {
                0
            };
        let ((hidden, count), _) = sizes(spec.toy_net);
        let mut layers = Vec::with_capacity(count);
        for i in 0..count {
            let lin = Linear::new(p, &format!("fc{i}"), width, hidden, rng)?;
            let bn = match spec.toy_net {
                ToyNet::Small => None,
                ToyNet::Large => Some(BatchNorm::new(p, &format!("bn{i}"), hidden, BN_EPS)?),
            };
            layers.push((lin, bn));
            width = hidden;
        }
        let out = Linear::new(p, "out", width, spec.output_len(), rng)?;
        Ok(Generator {
            embed,
            layers,
            out,
            shape: (spec.channels, spec.height, spec.width),
        })
    }
}

impl GeneratorNet for Generator {
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let mut x = with_label(z, self.embed.as_ref(), labels)?;
        for (lin, bn) in &self.layers {
            x = lin.forward(&x)?;
            if let Some(bn) = bn {
                x = bn.forward_t(&x, train)?;
            }
            x = x.relu()?;
        }
        let (c, h, w) = self.shape;
        Ok(self.out.forward(&x)?.reshape(((), c, h, w))?)
    }

    fn export(&self) -> Result<Vec<ExportedLayer>> {
        let mut layers = Vec::new();
        if let Some(e) = &self.embed {
            layers.push(e.export()?);
        }
        for (lin, bn) in &self.layers {
            layers.push(lin.export(bn.as_ref().map(|bn| (bn, 1)))?);
            layers.push(LayerSpec::Relu.into());
        }
        layers.push(self.out.export(None)?);
        Ok(layers)
    }
}

/// The toy discriminator.
pub struct Discriminator {
    body: DenseD,
    /// 1 (LeakyReLU layers) or the number of maxout pieces per unit.
    pieces: usize,
}

impl Discriminator {
    pub fn new(spec: &ModelSpec, p: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let (_, (hidden, count)) = sizes(spec.toy_net);
        let pieces = match spec.toy_net {
            ToyNet::Small => 1,
            ToyNet::Large => MAXOUT_PIECES,
        };
        let widths = (0..count).map(|_| (hidden * pieces, hidden));
        Ok(Discriminator {
            body: DenseD::new(spec, p, rng, widths)?,
            pieces,
        })
    }
}

impl DiscriminatorNet for Discriminator {
    fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let pieces = self.pieces;
        self.body.forward(x, labels, |lin, x| {
            let y = lin.forward(x)?;
            if pieces > 1 {
                // Maxout: each unit is the largest of its `pieces` consecutive outputs.
                let (b, f) = y.dims2()?;
                Ok(y.reshape((b, f / pieces, pieces))?.max(2)?)
            } else {
                leaky_relu(&y, SLOPE)
            }
        })
    }

    fn frozen(&self) -> Box<dyn DiscriminatorNet> {
        Box::new(Discriminator {
            body: self.body.frozen(),
            pieces: self.pieces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, Gan};
    use candle_core::{DType, Device};

    /// The number of trainable values in a store.
    fn trainable_len(store: &ParamStore) -> usize {
        store.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn spec(net: ToyNet, pack: usize) -> ModelSpec {
        ModelSpec {
            arch: Arch::Toy,
            latent_dim: 2,
            num_classes: 0,
            embed_dim: 0,
            channels: 2,
            height: 1,
            width: 1,
            pack,
            toy_net: net,
            g_width: 1,
            d_width: 1,
        }
    }

    #[test]
    fn large_has_the_published_sizes() {
        let gan = Gan::new(&spec(ToyNet::Large, 1), &Device::Cpu, 0).unwrap();
        // G: 2*400+400 + 3*(400*400+400) + 400*2+2, plus 4 batch norms of 400 (scale, shift).
        let g = trainable_len(&gan.g_params);
        assert_eq!(g, 1200 + 3 * 160_400 + 802 + 4 * 800);
        // D: 2 -> 1000, 200 -> 1000 twice (maxout 5 x 200), 200 -> 1.
        let d = trainable_len(&gan.d_params);
        assert_eq!(d, 3 * 1000 + 2 * 201_000 + 201);
    }

    #[test]
    fn large_trains_through_maxout_and_packs() {
        let gan = Gan::new(&spec(ToyNet::Large, 2), &Device::Cpu, 1).unwrap();
        let z = Tensor::randn(0f32, 1.0, (8, 2), &Device::Cpu).unwrap();
        let fake = gan.g.forward_t(&z, None, true).unwrap();
        assert_eq!(fake.dims(), &[8, 2, 1, 1]);
        assert_eq!(fake.dtype(), DType::F32);
        let logits = gan.d.forward(&fake, None).unwrap();
        assert_eq!(logits.dims(), &[4]);
        // Gradients reach the first layers of both networks through the maxout units.
        let grads = logits.sum_all().unwrap().backward().unwrap();
        for store in [&gan.g_params, &gan.d_params] {
            let (name, w) = store
                .trainable()
                .into_iter()
                .find(|(n, _)| n == "fc0.weight")
                .unwrap();
            let g = grads
                .get(&w)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: {norm}");
        }
    }
}
