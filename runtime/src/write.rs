//! Building generator files (feature `std`): used by the trainer's export and
//! by tests. A file is only returned after [`Generator::load`] accepted it, so
//! a writer cannot produce a file the runtime rejects.

use std::string::String;
use std::vec::Vec;

use crate::error::{Error, Name};
use crate::format::{
    tensor_name, DType, LayerSpec, OutputActivation, TensorRole, FORMAT_NAME, FORMAT_VERSION,
    METADATA_KEYS,
};
use crate::model::{Generator, Shape};

/// A layer with its weight and bias values.
type LayerEntry = (LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>);

/// Collects the layers and weights of a generator, then writes the file.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    latent_dim: usize,
    num_classes: usize,
    output: Shape,
    dtype: DType,
    layers: Vec<LayerEntry>,
    provenance: Vec<(String, String)>,
}

impl ModelBuilder {
    /// A generator from `latent_dim` values (plus a class among
    /// `num_classes`, 0 for none) to images of shape `output`.
    pub fn new(latent_dim: usize, num_classes: usize, output: Shape) -> Self {
        ModelBuilder {
            latent_dim,
            num_classes,
            output,
            dtype: DType::F16,
            layers: Vec::new(),
            provenance: Vec::new(),
        }
    }

    /// The dtype every tensor is stored in (F16 by default).
    pub fn dtype(&mut self, d: DType) -> &mut Self {
        self.dtype = d;
        self
    }

    /// Appends a layer with its weight and bias in the format's layout (f32,
    /// batch norm already folded); `None` for a layer without that tensor.
    pub fn layer(
        &mut self,
        spec: LayerSpec,
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
    ) -> &mut Self {
        self.layers.push((spec, weight, bias));
        self
    }

    /// Records `provenance.{key}` = `value` (a later call with the same key
    /// replaces the value).
    pub fn provenance(&mut self, key: &str, value: &str) -> &mut Self {
        if let Some(entry) = self.provenance.iter_mut().find(|(k, _)| k == key) {
            entry.1 = value.into();
        } else {
            self.provenance.push((key.into(), value.into()));
        }
        self
    }

    /// Serialises the file, then proves it by loading it with the runtime.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        self.check_provenance()?;
        let mut header = String::from("{\"__metadata__\":{");
        for (i, (k, v)) in self.metadata().iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!("\"{k}\":\"{v}\""));
        }
        header.push('}');
        let data = self.tensors(&mut header)?;
        header.push('}');
        // Pad so the data section starts 8-byte aligned.
        while (8 + header.len()) % 8 != 0 {
            header.push(' ');
        }
        let mut file = Vec::with_capacity(8 + header.len() + data.len());
        file.extend_from_slice(&(header.len() as u64).to_le_bytes());
        file.extend_from_slice(header.as_bytes());
        file.extend_from_slice(&data);
        Generator::load(&file)?;
        Ok(file)
    }

    /// Every provenance key and value can be stored.
    fn check_provenance(&self) -> Result<(), Error> {
        for (key, value) in &self.provenance {
            let invalid = |reason| Error::InvalidProvenance {
                key: Name::new(key),
                reason,
            };
            if key.is_empty() {
                return Err(invalid("the key is empty"));
            }
            if !json_safe(key) || !json_safe(value) {
                return Err(invalid(
                    "quotes, backslashes and control characters cannot be stored",
                ));
            }
        }
        Ok(())
    }

    /// The metadata entries, in the order the format lists the keys.
    fn metadata(&self) -> Vec<(String, String)> {
        let activation = self
            .layers
            .last()
            .map(|l| OutputActivation::of_last_layer(&l.0))
            .unwrap_or(OutputActivation::None);
        let o = self.output;
        let values = [
            FORMAT_NAME.into(),
            FORMAT_VERSION.to_string(),
            self.latent_dim.to_string(),
            self.num_classes.to_string(),
            format!("{},{},{}", o.c, o.h, o.w),
            activation.as_str().into(),
            activation.range_str().into(),
            self.layers.len().to_string(),
        ];
        let mut meta: Vec<(String, String)> = METADATA_KEYS
            .iter()
            .map(|k| k.to_string())
            .zip(values)
            .collect();
        for (i, (spec, _, _)) in self.layers.iter().enumerate() {
            meta.push((format!("layer.{i}"), spec.to_string()));
        }
        for (k, v) in &self.provenance {
            meta.push((format!("provenance.{k}"), v.clone()));
        }
        meta
    }

    /// Appends each tensor's header entry to `header` and returns the data
    /// section.
    fn tensors(&self, header: &mut String) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        for (i, (spec, weight, bias)) in self.layers.iter().enumerate() {
            for (role, values) in [(TensorRole::Weight, weight), (TensorRole::Bias, bias)] {
                let expected = spec.tensor_len(role).unwrap_or(usize::MAX);
                let found = values.as_ref().map_or(0, Vec::len);
                if expected != found {
                    return Err(Error::ParameterLength {
                        layer: i,
                        tensor: role.as_str(),
                        expected,
                        found,
                    });
                }
                let (Some(values), Some(shape)) = (values, spec.tensor_shape(role)) else {
                    continue;
                };
                let begin = data.len();
                for &v in values {
                    match self.dtype {
                        DType::F16 => data.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                        DType::F32 => data.extend_from_slice(&v.to_le_bytes()),
                    }
                }
                let dims: Vec<String> = shape
                    .as_slice()
                    .unwrap_or(&[])
                    .iter()
                    .map(usize::to_string)
                    .collect();
                header.push_str(&format!(
                    ",\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                    tensor_name(i, role),
                    self.dtype,
                    dims.join(","),
                    begin,
                    data.len()
                ));
            }
        }
        Ok(data)
    }
}

/// Whether `s` can sit in a JSON string of the header as is.
fn json_safe(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}
