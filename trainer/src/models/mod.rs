//! The generator and discriminator architectures and their export as model-file layers.
//!
//! Every generator produces `[B, C, H, W]` in training; its `export` lists the layers the runtime
//! will run, with batch norms folded, so the exported file computes exactly the evaluation-mode
//! network.

pub mod dcgan;
pub mod ema;
pub mod layers;
pub mod mlp;
pub mod params;
pub mod size;
pub mod toy;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runtime::format::LayerSpec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use params::ParamStore;

/// The network families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// The classic fully connected GAN (100-128-256-512-1024-784, batch norm eps 0.8).
    Mlp,
    /// A small convolutional generator (dense to 7x7x32, two transposed convolutions).
    Dcgan,
    /// A small MLP for the 2-D toy distributions.
    Toy,
}

impl Arch {
    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Dcgan => "dcgan",
            Arch::Toy => "toy",
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a pair of networks is built for; stored in `config.json` and in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub latent_dim: usize,
    /// 0 for an unconditional GAN.
    pub num_classes: usize,
    /// Width of the class embedding concatenated after z (conditional only).
    pub embed_dim: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Samples the discriminator judges together (PacGAN): it sees `pack` samples concatenated
    /// along the feature (or channel) axis and gives one score per pack. 1 is the usual GAN.
    /// Only the discriminator's input width depends on it, so export is unchanged.
    #[serde(default = "default_pack")]
    pub pack: usize,
    /// Size of the `toy` networks (ignored by the image architectures).
    #[serde(default)]
    pub toy_net: ToyNet,
    /// Channel multiplier of the dcgan generator (1: 32 and 16 channels; 2: 64 and 32; ...).
    /// 1 for specs written before it existed; other architectures have a fixed size.
    #[serde(default = "default_width")]
    pub g_width: usize,
    /// Channel multiplier of the dcgan discriminator (1: 16 and 32 channels).
    #[serde(default = "default_width")]
    pub d_width: usize,
}

/// The two sizes of the `toy` networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ToyNet {
    /// G latent -> 128 -> 128 -> 2 (ReLU), D 2 -> 128 -> 128 -> 1 (LeakyReLU 0.2): seconds per
    /// thousand steps.
    #[default]
    Small,
    /// The networks of the published mode-collapse benchmark (VEEGAN, PacGAN): G latent -> 400 x 4
    /// (batch norm, ReLU) -> 2, D 2 -> 200 x 3 (maxout, 5 pieces) -> 1.
    Large,
}

impl ToyNet {
    pub fn name(self) -> &'static str {
        match self {
            ToyNet::Small => "small",
            ToyNet::Large => "large",
        }
    }
}

/// Largest `--pack` accepted: PacGAN uses 2 to 4; beyond a few dozen the first layer is huge.
pub const MAX_PACK: usize = 64;

/// Largest `--width` / `--d-width`: 16 makes a 512-channel dense layer, far past any board.
pub const MAX_WIDTH: usize = 16;

fn default_pack() -> usize {
    1
}

fn default_width() -> usize {
    1
}

/// An error unless `width` (given as `option`) is a channel multiplier `arch` can take: 1 to
/// [`MAX_WIDTH`] for dcgan, 1 for the fixed-size networks.
pub fn check_width(arch: Arch, option: &str, width: usize) -> Result<()> {
    if width == 0 || width > MAX_WIDTH {
        return Err(Error::InvalidArgument(format!(
            "{option} {width} must be 1..={MAX_WIDTH}"
        )));
    }
    if width != 1 && arch != Arch::Dcgan {
        return Err(Error::InvalidArgument(format!(
            "{option} {width} widens the dcgan networks; {arch} has a fixed size"
        )));
    }
    Ok(())
}

impl ModelSpec {
    /// Values per generated sample.
    pub fn output_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Features per row of a dense discriminator: `pack` samples, each flattened with its class
    /// embedding when conditional.
    pub fn dense_input_len(&self) -> usize {
        self.pack
            * (self.output_len()
                + if self.conditional() {
                    self.embed_dim
                } else {
                    0
                })
    }

    /// True when the generator takes a class label.
    pub fn conditional(&self) -> bool {
        self.num_classes > 0
    }

    /// Checks that the architecture can produce this output shape.
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim == 0 || self.latent_dim > 4096 {
            return Err(Error::InvalidArgument(format!(
                "--latent-dim {} must be 1..=4096",
                self.latent_dim
            )));
        }
        if self.pack == 0 || self.pack > MAX_PACK {
            return Err(Error::InvalidArgument(format!(
                "--pack {} must be 1..={MAX_PACK}",
                self.pack
            )));
        }
        check_width(self.arch, "--width", self.g_width)?;
        check_width(self.arch, "--d-width", self.d_width)?;
        match self.arch {
            Arch::Dcgan if !self.height.is_multiple_of(4) || !self.width.is_multiple_of(4) => Err(Error::InvalidArgument(format!(
                "dcgan needs an image size divisible by 4, the data is {}x{}",
                self.height, self.width
            ))),
            Arch::Toy if self.height != 1 || self.width != 1 => Err(Error::InvalidArgument(
                "the toy architecture is for the 2-D distributions (--toy ring8|grid25); use mlp or dcgan for images"
                    .into(),
            )),
            Arch::Mlp | Arch::Dcgan if self.height == 1 && self.width == 1 => Err(Error::InvalidArgument(format!(
                "{} is for images; use --arch toy with --toy",
                self.arch
            ))),
            _ => Ok(()),
        }
    }
}

/// One layer of the exported generator: the runtime's own [`LayerSpec`] and its f32 tensors in
/// the model format's layout, batch norm folded.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedLayer {
    pub spec: LayerSpec,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

impl From<LayerSpec> for ExportedLayer {
    /// A layer without tensors (a reshape, an activation).
    fn from(spec: LayerSpec) -> Self {
        ExportedLayer {
            spec,
            weight: None,
            bias: None,
        }
    }
}

/// A generator network.
pub trait GeneratorNet {
    /// `z` is `[B, latent]`, `labels` `[B]` u32 when conditional; returns `[B, C, H, W]`.
    fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor>;
    /// The layers of the model file, batch norms folded with their running statistics.
    fn export(&self) -> Result<Vec<ExportedLayer>>;
}

/// Groups consecutive rows of `x` (`[B, F]`) into packs: `[B / pack, pack * F]`, sample `i` of a
/// pack at columns `i * F .. (i + 1) * F`. Refuses a batch that `pack` does not divide, so real and
/// generated samples can never share a pack.
pub fn pack_rows(x: &Tensor, pack: usize) -> Result<Tensor> {
    let (b, f) = x.dims2()?;
    check_packable(b, pack)?;
    Ok(x.reshape((b / pack, pack * f))?)
}

/// A dense discriminator's input: each sample of `x` flattened, its label's embedding appended
/// when conditional, then grouped into packs ([`pack_rows`]).
pub fn dense_input(
    x: &Tensor,
    embed: Option<&layers::Embedding>,
    labels: Option<&Tensor>,
    pack: usize,
) -> Result<Tensor> {
    let x = with_label(&x.flatten_from(1)?, embed, labels)?;
    pack_rows(&x, pack)
}

/// `x` `[B, F]` with each row's label embedding appended when conditional (an embedding and
/// labels), else `x` itself.
pub fn with_label(
    x: &Tensor,
    embed: Option<&layers::Embedding>,
    labels: Option<&Tensor>,
) -> Result<Tensor> {
    Ok(match (embed, labels) {
        (Some(e), Some(l)) => Tensor::cat(&[x, &e.forward(l)?], 1)?,
        _ => x.clone(),
    })
}

/// What the dense discriminators (MLP, toy) share: the class embedding, the hidden layers `fc0`,
/// `fc1`, ... and the output logit `out`, over [`dense_input`]. Each model adds its hidden
/// layers' activation.
pub struct DenseD {
    embed: Option<layers::Embedding>,
    layers: Vec<layers::Linear>,
    out: layers::Linear,
    pack: usize,
}

impl DenseD {
    /// Hidden layer `i` has `widths[i].0` outputs, of which its activation passes `widths[i].1`
    /// on (fewer after maxout). Parameters are drawn in order: embedding, hidden layers, output.
    pub fn new(
        spec: &ModelSpec,
        p: &mut params::ParamStore,
        rng: &mut rand_chacha::ChaCha8Rng,
        widths: impl IntoIterator<Item = (usize, usize)>,
    ) -> Result<Self> {
        let embed = layers::Embedding::label(spec, p, rng)?;
        let mut fan_in = spec.dense_input_len();
        let mut hidden = Vec::new();
        for (i, (outputs, passed)) in widths.into_iter().enumerate() {
            hidden.push(layers::Linear::new(
                p,
                &format!("fc{i}"),
                fan_in,
                outputs,
                rng,
            )?);
            fan_in = passed;
        }
        let out = layers::Linear::new(p, "out", fan_in, 1, rng)?;
        Ok(DenseD {
            embed,
            layers: hidden,
            out,
            pack: spec.pack,
        })
    }

    /// One logit per pack; `hidden` runs a hidden layer and its activation.
    pub fn forward(
        &self,
        x: &Tensor,
        labels: Option<&Tensor>,
        hidden: impl Fn(&layers::Linear, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let mut x = dense_input(x, self.embed.as_ref(), labels, self.pack)?;
        for lin in &self.layers {
            x = hidden(lin, &x)?;
        }
        Ok(self.out.forward(&x)?.squeeze(1)?)
    }

    /// The same layers with constant parameters.
    pub fn frozen(&self) -> Self {
        DenseD {
            embed: self.embed.as_ref().map(layers::Embedding::frozen),
            layers: self.layers.iter().map(layers::Linear::frozen).collect(),
            out: self.out.frozen(),
            pack: self.pack,
        }
    }
}

/// Stacks the channels of consecutive images: `[B, C, H, W]` becomes `[B / pack, pack * C, H, W]`.
pub fn pack_channels(x: &Tensor, pack: usize) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    check_packable(b, pack)?;
    Ok(x.reshape((b / pack, pack * c, h, w))?)
}

fn check_packable(batch: usize, pack: usize) -> Result<()> {
    if pack == 0 || !batch.is_multiple_of(pack) {
        return Err(Error::InvalidArgument(format!(
            "the discriminator packs {pack} samples together; a batch of {batch} does not divide into packs"
        )));
    }
    Ok(())
}

/// A discriminator network.
pub trait DiscriminatorNet {
    /// `x` is `[B, C, H, W]`; returns logits `[B / pack]`, one per pack of consecutive samples.
    fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor>;
    /// The same network over the same parameters, read as constants: the generator's update
    /// back-propagates through D to the fakes but has no use for D's own gradients, which were
    /// a weight-gradient product per layer (about a sixteenth of an MLP step). Same outputs and
    /// the same gradients for the input, bit for bit.
    fn frozen(&self) -> Box<dyn DiscriminatorNet>;
}

/// A generator, its discriminator, and their parameters.
pub struct Gan {
    pub spec: ModelSpec,
    pub g: Box<dyn GeneratorNet>,
    pub d: Box<dyn DiscriminatorNet>,
    pub g_params: ParamStore,
    pub d_params: ParamStore,
}

impl Gan {
    /// Builds both networks with PyTorch's initialisation, drawn from `seed`.
    pub fn new(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Self> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gp = ParamStore::new(device);
        let mut dp = ParamStore::new(device);
        let (g, d): (Box<dyn GeneratorNet>, Box<dyn DiscriminatorNet>) = match spec.arch {
            Arch::Mlp => (
                Box::new(mlp::Generator::new(spec, &mut gp, &mut rng)?),
                Box::new(mlp::Discriminator::new(spec, &mut dp, &mut rng)?),
            ),
            Arch::Dcgan => (
                Box::new(dcgan::Generator::new(spec, &mut gp, &mut rng)?),
                Box::new(dcgan::Discriminator::new(spec, &mut dp, &mut rng)?),
            ),
            Arch::Toy => (
                Box::new(toy::Generator::new(spec, &mut gp, &mut rng)?),
                Box::new(toy::Discriminator::new(spec, &mut dp, &mut rng)?),
            ),
        };
        Ok(Gan {
            spec: spec.clone(),
            g,
            d,
            g_params: gp,
            d_params: dp,
        })
    }
}
