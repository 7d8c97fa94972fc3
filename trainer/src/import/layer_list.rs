//! The layer list: what a state dict's tensors are, in the order the generator runs them.
//!
//! The built-in architectures are layer lists ([`super::arch`]); for any other network the user
//! writes one, a step per line (or separated by `;`), `#` starting a comment:
//!
//! ```text
//! dense l1.0
//! reshape c=128 h=8 w=8
//! batchnorm conv_blocks.0 eps=0.8
//! upsample scale=2
//! conv2d conv_blocks.2 stride=1 padding=1
//! leaky_relu slope=0.2
//! tanh
//! ```
//!
//! A step names its module's key prefix (`KEY.weight`, `KEY.bias`, `KEY.running_mean`, ...) and
//! takes PyTorch's constructor arguments, with PyTorch's defaults: `dense`, `conv2d`,
//! `conv_transpose2d` (`stride=1 padding=0 output_padding=0 bias=true`), `batchnorm`
//! (`eps=0.00001`), `embed` (a class embedding whose row is appended to z), and the steps without
//! tensors: `reshape c= h= w=`, `upsample scale=`, `relu`, `leaky_relu` (`slope=0.01`), `tanh`,
//! `sigmoid`. Kernel sizes and channel counts come from the weights.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One module of the generator.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `nn.Embedding` of class labels, its row concatenated after z (the first step).
    Embed {
        key: String,
    },
    /// `nn.Linear`.
    Dense {
        key: String,
        bias: bool,
    },
    /// `nn.Conv2d`, square kernel.
    Conv2d {
        key: String,
        conv: ConvArgs,
    },
    /// `nn.ConvTranspose2d`, square kernel.
    ConvTranspose2d {
        key: String,
        conv: ConvArgs,
        output_padding: usize,
    },
    /// `nn.BatchNorm1d` / `nn.BatchNorm2d` in evaluation mode.
    BatchNorm {
        key: String,
        eps: f64,
    },
    /// `view(B, c, h, w)`.
    Reshape {
        c: usize,
        h: usize,
        w: usize,
    },
    /// `nn.Upsample(scale_factor=scale)`, nearest neighbour.
    Upsample {
        scale: usize,
    },
    Relu,
    LeakyRelu {
        slope: f32,
    },
    Tanh,
    Sigmoid,
}

/// A convolution's arguments besides the sizes its weight gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvArgs {
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl Step {
    /// The step as the layer list writes it (errors name layers this way).
    pub fn describe(&self) -> String {
        match self {
            Step::Embed { key } => format!("embed {key}"),
            Step::Dense { key, .. } => format!("dense {key}"),
            Step::Conv2d { key, .. } => format!("conv2d {key}"),
            Step::ConvTranspose2d { key, .. } => format!("conv_transpose2d {key}"),
            Step::BatchNorm { key, .. } => format!("batchnorm {key}"),
            Step::Reshape { c, h, w } => format!("reshape c={c} h={h} w={w}"),
            Step::Upsample { scale } => format!("upsample scale={scale}"),
            Step::Relu => "relu".into(),
            Step::LeakyRelu { slope } => format!("leaky_relu slope={slope}"),
            Step::Tanh => "tanh".into(),
            Step::Sigmoid => "sigmoid".into(),
        }
    }
}

/// Parses a layer list (see the module documentation).
pub fn parse(text: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            steps.push(parse_step(part).map_err(|reason| Error::LayerList {
                line: i + 1,
                reason,
            })?);
        }
    }
    if steps.is_empty() {
        return Err(Error::LayerList {
            line: 1,
            reason: "the list is empty".into(),
        });
    }
    Ok(steps)
}

/// One step, or why it cannot be read.
fn parse_step(text: &str) -> std::result::Result<Step, String> {
    let mut words = text.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    const KEYED: [&str; 5] = ["embed", "dense", "conv2d", "conv_transpose2d", "batchnorm"];
    const PLAIN: [&str; 6] = [
        "reshape",
        "upsample",
        "relu",
        "leaky_relu",
        "tanh",
        "sigmoid",
    ];
    let keyed = KEYED.contains(&kind);
    if !keyed && !PLAIN.contains(&kind) {
        return Err(format!(
            "unknown step `{kind}` ({}, {})",
            KEYED.join(", "),
            PLAIN.join(", ")
        ));
    }
    let (key, params) = match (keyed, rest.split_first()) {
        (true, Some((key, params))) if !key.contains('=') => (key.to_string(), params),
        (true, _) => {
            return Err(format!(
                "`{kind}` needs its module's key, e.g. `{kind} model.0`"
            ))
        }
        (false, _) => (String::new(), rest.as_slice()),
    };
    let mut p = Params::new(params)?;
    let step = match kind {
        "embed" => Step::Embed { key },
        "dense" => Step::Dense {
            key,
            bias: p.get("bias", true)?,
        },
        "conv2d" => Step::Conv2d {
            key,
            conv: p.conv()?,
        },
        "conv_transpose2d" => Step::ConvTranspose2d {
            key,
            conv: p.conv()?,
            output_padding: p.get("output_padding", 0)?,
        },
        "batchnorm" => Step::BatchNorm {
            key,
            eps: p.finite("eps", 1e-5)?,
        },
        "reshape" => Step::Reshape {
            c: p.required("c")?,
            h: p.required("h")?,
            w: p.required("w")?,
        },
        "upsample" => Step::Upsample {
            scale: p.required("scale")?,
        },
        "relu" => Step::Relu,
        "leaky_relu" => Step::LeakyRelu {
            slope: p.finite("slope", 0.01)?,
        },
        "tanh" => Step::Tanh,
        // The last kind of PLAIN.
        _ => Step::Sigmoid,
    };
    p.finish(kind)?;
    Ok(step)
}

/// A step's `name=value` parameters; each must be used once.
struct Params<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Params<'a> {
    fn new(words: &[&'a str]) -> std::result::Result<Self, String> {
        let mut map = BTreeMap::new();
        for w in words {
            let (name, value) = w
                .split_once('=')
                .ok_or_else(|| format!("`{w}` is not a name=value parameter"))?;
            if map.insert(name, value).is_some() {
                return Err(format!("`{name}` is given twice"));
            }
        }
        Ok(Params(map))
    }

    fn get<T: FromStr>(&mut self, name: &str, default: T) -> std::result::Result<T, String> {
        match self.0.remove(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("`{name}={v}`: not a valid value")),
        }
    }

    /// A float parameter, which NaN or infinity would carry into every image.
    fn finite<T: FromStr + Into<f64> + Copy>(
        &mut self,
        name: &str,
        default: T,
    ) -> std::result::Result<T, String> {
        let v = self.get(name, default)?;
        if !v.into().is_finite() {
            return Err(format!("`{name}` must be a finite number"));
        }
        Ok(v)
    }

    fn required(&mut self, name: &str) -> std::result::Result<usize, String> {
        if !self.0.contains_key(name) {
            return Err(format!("`{name}=` is required"));
        }
        self.get(name, 0)
    }

    fn conv(&mut self) -> std::result::Result<ConvArgs, String> {
        Ok(ConvArgs {
            stride: self.get("stride", 1)?,
            padding: self.get("padding", 0)?,
            bias: self.get("bias", true)?,
        })
    }

    fn finish(self, kind: &str) -> std::result::Result<(), String> {
        match self.0.keys().next() {
            Some(name) => Err(format!("`{kind}` takes no parameter `{name}`")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_with_pytorch_defaults() {
        let steps = parse(
            "dense l1.0  # the first layer\nreshape c=4 h=2 w=2; batchnorm bn eps=0.8\n\
             conv_transpose2d up stride=2 padding=1 bias=false\nleaky_relu; tanh",
        )
        .unwrap();
        assert_eq!(
            steps,
            [
                Step::Dense {
                    key: "l1.0".into(),
                    bias: true
                },
                Step::Reshape { c: 4, h: 2, w: 2 },
                Step::BatchNorm {
                    key: "bn".into(),
                    eps: 0.8
                },
                Step::ConvTranspose2d {
                    key: "up".into(),
                    conv: ConvArgs {
                        stride: 2,
                        padding: 1,
                        bias: false
                    },
                    output_padding: 0
                },
                Step::LeakyRelu { slope: 0.01 },
                Step::Tanh,
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            err("dense a\nconv2d b strid=2"),
            "layer list, line 2: `conv2d` takes no parameter `strid`"
        );
        assert!(err("dense").contains("needs its module's key"));
        assert!(err("upsample").contains("`scale=` is required"));
        assert!(err("pool x").contains("unknown step `pool`"));
        assert!(err("dense a stride=x=1 stride=2").contains("given twice"));
        assert!(err("leaky_relu slope=abc").contains("`slope=abc`"));
        assert!(err("# nothing\n").contains("empty"));
    }
}
