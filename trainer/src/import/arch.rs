//! The architectures `trainer import` knows, each written as a layer list over its state-dict
//! keys: the PyTorch-GAN collection's `gan.py` and `dcgan.py` generators, and the trainer's own
//! `mlp` and `dcgan` layouts (the names of [`crate::models`]' parameters).

use runtime::Shape;

use super::layer_list::{ConvArgs, Step};
use super::state_dict::StateDict;
use crate::error::{Error, Result};

/// A generator architecture, or `auto` to tell it from the state dict's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ImportArch {
    /// Recognise the architecture by its keys.
    #[default]
    Auto,
    /// `gan.py`: Sequential of Linear, BatchNorm1d (eps 0.8), LeakyReLU(0.2), Tanh; keys
    /// `model.N.*` or `N.*`.
    PytorchGan,
    /// `dcgan.py`: Linear to 128 x s x s, BatchNorm2d, Upsample x2, Conv2d 3x3, BatchNorm2d
    /// (eps 0.8), LeakyReLU(0.2), ..., Tanh; keys `l1.0.*`, `conv_blocks.N.*`.
    PytorchDcgan,
    /// The trainer's `mlp` generator (`fc0`..`fc3`, `bn1`..`bn3`, `out`, `label_emb`).
    Mlp,
    /// The trainer's `dcgan` generator (`fc`, `bn0`, `up1`, `bn1`, `up2`, `label_emb`).
    Dcgan,
}

impl ImportArch {
    /// The name on the command line and in `provenance.arch`.
    pub fn name(self) -> &'static str {
        match self {
            ImportArch::Auto => "auto",
            ImportArch::PytorchGan => "pytorch-gan",
            ImportArch::PytorchDcgan => "pytorch-dcgan",
            ImportArch::Mlp => "mlp",
            ImportArch::Dcgan => "dcgan",
        }
    }

    /// The architecture whose keys `sd` has (`self` unless it is `auto`).
    pub fn resolve(self, sd: &StateDict) -> Result<ImportArch> {
        if self != ImportArch::Auto {
            return Ok(self);
        }
        let has_all = |keys: &[&str]| keys.iter().all(|k| sd.has(k));
        let arch = if has_all(&["model.0.weight", "model.11.weight"])
            || has_all(&["0.weight", "11.weight"])
        {
            ImportArch::PytorchGan
        } else if has_all(&["l1.0.weight", "conv_blocks.0.weight"]) {
            ImportArch::PytorchDcgan
        } else if has_all(&["fc0.weight", "out.weight"]) {
            ImportArch::Mlp
        } else if has_all(&["fc.weight", "up1.weight"]) {
            ImportArch::Dcgan
        } else {
            let mut keys: Vec<String> = sd.keys().take(4).map(|k| format!("`{k}`")).collect();
            keys.push("...".into());
            return Err(Error::UnknownArchitecture { keys });
        };
        Ok(arch)
    }

    /// The layer list of this architecture over `sd`'s keys (`image_shape` sets the starting
    /// image of the convolutional ones when it is not square).
    pub fn steps(self, sd: &StateDict, image_shape: Option<Shape>) -> Result<Vec<Step>> {
        match self.resolve(sd)? {
            ImportArch::PytorchGan => Ok(gan_py(sd)),
            ImportArch::PytorchDcgan => dcgan_py(sd, image_shape),
            ImportArch::Mlp => Ok(trainer_mlp(sd)),
            ImportArch::Dcgan | ImportArch::Auto => trainer_dcgan(sd, image_shape),
        }
    }
}

fn dense(key: &str) -> Step {
    Step::Dense {
        key: key.into(),
        bias: true,
    }
}

fn batch_norm(key: &str, eps: f64) -> Step {
    Step::BatchNorm {
        key: key.into(),
        eps,
    }
}

const LEAKY: Step = Step::LeakyRelu { slope: 0.2 };

/// `gan.py`'s Sequential: Linear at 0, 2, 5, 8, 11; BatchNorm1d(n, 0.8) at 3, 6, 9.
fn gan_py(sd: &StateDict) -> Vec<Step> {
    let p = if sd.has("model.0.weight") {
        "model."
    } else {
        ""
    };
    let mut steps = vec![dense(&format!("{p}0")), LEAKY];
    for i in [2, 5, 8] {
        steps.push(dense(&format!("{p}{i}")));
        steps.push(batch_norm(&format!("{p}{}", i + 1), 0.8));
        steps.push(LEAKY);
    }
    steps.push(dense(&format!("{p}11")));
    steps.push(Step::Tanh);
    steps
}

/// `dcgan.py`: `l1` dense, viewed as 128 x s x s, then `conv_blocks`.
fn dcgan_py(sd: &StateDict, image_shape: Option<Shape>) -> Result<Vec<Step>> {
    let conv = |key: &str| Step::Conv2d {
        key: key.into(),
        conv: ConvArgs {
            stride: 1,
            padding: 1,
            bias: true,
        },
    };
    let up = Step::Upsample { scale: 2 };
    let mut steps = vec![
        dense("l1.0"),
        start_image(sd, "l1.0", "conv_blocks.0", image_shape)?,
    ];
    steps.extend([batch_norm("conv_blocks.0", 1e-5), up.clone()]);
    steps.extend([
        conv("conv_blocks.2"),
        batch_norm("conv_blocks.3", 0.8),
        LEAKY,
    ]);
    steps.extend([
        up,
        conv("conv_blocks.6"),
        batch_norm("conv_blocks.7", 0.8),
        LEAKY,
    ]);
    steps.extend([conv("conv_blocks.9"), Step::Tanh]);
    Ok(steps)
}

/// The class embedding the trainer's conditional generators start with, if `sd` has one.
fn label_embedding(sd: &StateDict) -> Option<Step> {
    sd.has("label_emb.weight").then(|| Step::Embed {
        key: "label_emb".into(),
    })
}

/// The trainer's `mlp` ([`crate::models::mlp`]).
fn trainer_mlp(sd: &StateDict) -> Vec<Step> {
    let mut steps: Vec<Step> = label_embedding(sd).into_iter().collect();
    steps.extend([dense("fc0"), LEAKY]);
    for i in 1..=3 {
        steps.extend([
            dense(&format!("fc{i}")),
            batch_norm(&format!("bn{i}"), 0.8),
            LEAKY,
        ]);
    }
    steps.extend([dense("out"), Step::Tanh]);
    steps
}

/// The trainer's `dcgan` ([`crate::models::dcgan`]).
fn trainer_dcgan(sd: &StateDict, image_shape: Option<Shape>) -> Result<Vec<Step>> {
    let up = |key: &str| Step::ConvTranspose2d {
        key: key.into(),
        conv: ConvArgs {
            stride: 2,
            padding: 1,
            bias: true,
        },
        output_padding: 0,
    };
    let mut steps: Vec<Step> = label_embedding(sd).into_iter().collect();
    steps.extend([dense("fc"), start_image(sd, "fc", "bn0", image_shape)?]);
    steps.extend([batch_norm("bn0", 1e-5), Step::Relu, up("up1")]);
    steps.extend([batch_norm("bn1", 1e-5), Step::Relu, up("up2"), Step::Tanh]);
    Ok(steps)
}

/// The view of dense layer `dense`'s output as the first image: as many channels as batch norm
/// `norm` has, a quarter of `image_shape` (both architectures double the size twice), else
/// square.
fn start_image(
    sd: &StateDict,
    dense: &str,
    norm: &str,
    image_shape: Option<Shape>,
) -> Result<Step> {
    let wkey = format!("{dense}.weight");
    let c = first(&sd.dims(&format!("{norm}.weight"), "the first batch norm's scale")?);
    let dims = sd.dims(&wkey, "the first dense layer's weight")?;
    let rows = first(&dims);
    let (h, w) = match image_shape {
        Some(s) => (s.h / 4, s.w / 4),
        None => {
            let side = ((rows / c.max(1)) as f64).sqrt().round() as usize;
            (side, side)
        }
    };
    if c * h * w != rows || h == 0 || w == 0 {
        return Err(Error::TensorShape {
            key: wkey,
            expected: format!("[{c} * h * w, latent] for a first image of {c} x h x w (h, w a quarter of the image's)"),
            found: dims,
        });
    }
    Ok(Step::Reshape { c, h, w })
}

/// The first dimension (0 for a scalar): shapes are checked in full when the tensor is taken.
fn first(dims: &[usize]) -> usize {
    dims.first().copied().unwrap_or(0)
}
