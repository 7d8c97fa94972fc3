//! The imported model file: batch norm folded, the bytes built by the runtime's own writer for a
//! dtype, held to the unfolded f32 reference (and to PyTorch's own images when given), and only
//! then written, atomically.

use std::path::PathBuf;

use candle_core::{Device, Tensor, Var};
use runtime::format::{DType, LayerSpec};
use runtime::Generator;

use super::network::{Layer, Network, Norm};
use super::{against, reference};
use crate::error::{Error, Result};
use crate::export::{
    check_inputs, error_stats, runtime_outputs, ExportDtype, Tolerance, CHECK_LATENTS,
};
use crate::models::layers::BatchNorm;
use crate::models::ExportedLayer;

/// What to write and how to check it.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub out: PathBuf,
    pub dtype: ExportDtype,
    pub force: bool,
    /// A file of PyTorch's images to hold the runtime's to ([`against`]).
    pub against: Option<PathBuf>,
    /// Skip the PNG of samples written next to the model.
    pub no_samples: bool,
}

/// What an import measured and wrote.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub path: PathBuf,
    pub bytes: usize,
    pub latent_dim: usize,
    pub num_classes: usize,
    pub output: runtime::Shape,
    pub params: usize,
    pub macs: u64,
    pub scratch_bytes: usize,
    /// The runtime against the unfolded f32 reference on [`CHECK_LATENTS`] latents.
    pub max_abs_error: f32,
    pub psnr_db: f64,
    /// The runtime against PyTorch's images: (max abs error, PSNR, images).
    pub against: Option<(f32, f64, usize)>,
}

/// The layers of the file: each batch norm folded into the layer it follows, in f32.
pub fn fold(net: &Network) -> Result<Vec<ExportedLayer>> {
    let mut out: Vec<ExportedLayer> = Vec::new();
    let mut index = vec![usize::MAX; net.layers.len()];
    for (i, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Weighted { spec, weight, bias } => {
                index[i] = out.len();
                out.push(ExportedLayer {
                    spec: *spec,
                    weight: Some(weight.flatten_all()?.to_vec1::<f32>()?),
                    bias: bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?,
                });
            }
            Layer::BatchNorm(n) => fold_norm(&mut out[index[n.into]], n)?,
            Layer::Plain(spec) => out.push((*spec).into()),
        }
    }
    Ok(out)
}

/// Folds batch norm `n` into `target`, the layer it follows, with the exporter's own arithmetic
/// ([`BatchNorm::fold`]).
fn fold_norm(target: &mut ExportedLayer, n: &Norm) -> Result<()> {
    let (units, outer) = match target.spec {
        LayerSpec::Dense { out_features, .. } => (out_features, 1),
        LayerSpec::Conv2d { out_channels, .. } => (out_channels, 1),
        LayerSpec::ConvTranspose2d {
            in_channels,
            out_channels,
            ..
        } => (out_channels, in_channels),
        _ => unreachable!("batch norms only fold into dense and convolution layers"),
    };
    let bn = BatchNorm {
        gamma: Var::from_tensor(&n.gamma)?,
        beta: Var::from_tensor(&n.beta)?,
        running_mean: Var::from_tensor(&n.mean)?,
        running_var: Var::from_tensor(&n.var)?,
        eps: n.eps,
        momentum: 0.1,
    };
    let (w, b) = (target.weight.take(), target.bias.take());
    let (w, b) = bn.fold(
        w.unwrap_or_default(),
        b.unwrap_or_default(),
        units,
        outer,
        n.per_channel,
    )?;
    (target.weight, target.bias) = (Some(w), Some(b));
    Ok(())
}

/// The file's bytes for `dtype`, from the folded layers (already loaded once by the runtime's
/// writer): the one place that knows how each dtype is stored.
pub fn file_bytes(
    net: &Network,
    layers: Vec<ExportedLayer>,
    provenance: &[(String, String)],
    dtype: ExportDtype,
) -> Result<Vec<u8>> {
    let mut b = runtime::write::ModelBuilder::new(net.latent_dim, net.num_classes, net.output);
    b.dtype(match dtype {
        ExportDtype::F16 => DType::F16,
        // An integer file is quantised from the f32 one.
        ExportDtype::F32 | ExportDtype::I8 => DType::F32,
    });
    for layer in layers {
        b.layer(layer.spec, layer.weight, layer.bias);
    }
    for (k, v) in provenance {
        b.provenance(k, v);
    }
    let float = b.build().map_err(|e| Error::Model {
        path: "(import)".into(),
        reason: e.to_string(),
    })?;
    match dtype {
        ExportDtype::I8 => crate::export::quantized(&float).map(|(bytes, _)| bytes),
        _ => Ok(float),
    }
}

/// Folds, builds and checks the file of `net`, then writes it; nothing is written unless the
/// runtime reproduces the unfolded reference within [`Tolerance`] (and PyTorch's images, when
/// given).
pub fn write_model(
    net: &Network,
    provenance: &[(String, String)],
    opts: &ImportOptions,
) -> Result<ImportReport> {
    if opts.out.exists() && !opts.force {
        return Err(Error::WouldOverwrite {
            path: opts.out.clone(),
        });
    }
    let bytes = file_bytes(net, fold(net)?, provenance, opts.dtype)?;
    let gen = Generator::load(&bytes).map_err(|e| model_error(&opts.out, e))?;
    let tol = Tolerance::for_dtype(opts.dtype);
    let (max_abs_error, psnr_db) = check_reference(net, &gen)?;
    tol.check(max_abs_error, psnr_db)?;
    let against = match &opts.against {
        Some(file) => Some(against::check(&gen, file, tol)?),
        None => None,
    };
    if let Some(dir) = opts.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::export::write_model(&opts.out, &bytes, &gen, (!opts.no_samples).then_some(None))?;
    Ok(ImportReport {
        path: opts.out.clone(),
        bytes: bytes.len(),
        latent_dim: net.latent_dim,
        num_classes: net.num_classes,
        output: net.output,
        params: gen.param_count(),
        macs: gen.macs(),
        scratch_bytes: gen.scratch_len() * 4,
        max_abs_error,
        psnr_db,
        against,
    })
}

/// The runtime's images against the unfolded network's on the export's fixed latents.
pub fn check_reference(net: &Network, gen: &Generator<'_>) -> Result<(f32, f64)> {
    let count = CHECK_LATENTS;
    let (z, classes) = check_inputs(net.latent_dim, net.num_classes, count);
    let zt = Tensor::from_slice(&z, (count, net.latent_dim), &Device::Cpu)?;
    let lt = Tensor::from_slice(&classes, count, &Device::Cpu)?;
    let labels = (net.num_classes > 0).then_some(&lt);
    let want = reference::forward(net, &zt, labels)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let got = runtime_outputs(gen, &z, &classes).map_err(|e| model_error("(import)", e))?;
    Ok(error_stats(&want, &got, gen.output_activation()))
}

fn model_error(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.into(),
        reason: e.to_string(),
    }
}
