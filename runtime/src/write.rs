//! Building generator files (feature `std`): used by the trainer's export and
//! by tests. A file is only returned after [`Generator::load`] accepted it, so
//! a writer cannot produce a file the runtime rejects.

use std::string::String;
use std::vec::Vec;

use crate::error::{Error, Name};
use crate::format::{
    tensor_name, DType, LayerSpec, OutputActivation, TensorRole, ACTIVATION_FRAC_KEY, FORMAT_NAME,
    FORMAT_VERSION, FORMAT_VERSION_INTEGER, METADATA_KEYS,
};
use crate::model::{Generator, Shape};

/// A stored tensor of a version-2 file, in the format's layout.
#[derive(Clone, Debug, PartialEq)]
pub enum IntTensor {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    F32(Vec<f32>),
}

impl IntTensor {
    fn len(&self) -> usize {
        match self {
            IntTensor::I8(v) => v.len(),
            IntTensor::I16(v) => v.len(),
            IntTensor::I32(v) => v.len(),
            IntTensor::F32(v) => v.len(),
        }
    }

    fn dtype(&self) -> DType {
        match self {
            IntTensor::I8(_) => DType::I8,
            IntTensor::I16(_) => DType::I16,
            IntTensor::I32(_) => DType::I32,
            IntTensor::F32(_) => DType::F32,
        }
    }

    /// Appends the values, little-endian, to `data`.
    fn write(&self, data: &mut Vec<u8>) {
        match self {
            IntTensor::I8(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            IntTensor::I16(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            IntTensor::I32(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            IntTensor::F32(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        }
    }
}

/// A layer with its tensors: a version-1 layer's f32 weight and bias, or
/// a version-2 layer's stored tensors by role.
#[derive(Clone, Debug)]
enum LayerEntry {
    Float(LayerSpec, Option<Vec<f32>>, Option<Vec<f32>>),
    Int(LayerSpec, Vec<(TensorRole, IntTensor)>),
}

impl LayerEntry {
    fn spec(&self) -> &LayerSpec {
        match self {
            LayerEntry::Float(spec, ..) | LayerEntry::Int(spec, _) => spec,
        }
    }
}

/// Collects the layers and weights of a generator, then writes the file.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    latent_dim: usize,
    num_classes: usize,
    output: Shape,
    dtype: DType,
    /// 1 (float) or 2 (integer) and, for 2, `activation_frac`.
    version: u32,
    activation_frac: Vec<u32>,
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
            version: FORMAT_VERSION,
            activation_frac: Vec::new(),
            layers: Vec::new(),
            provenance: Vec::new(),
        }
    }

    /// A version-2 (integer) generator; `activation_frac` holds layer_count + 1 values.
    pub fn new_integer(
        latent_dim: usize,
        num_classes: usize,
        output: Shape,
        activation_frac: Vec<u32>,
    ) -> Self {
        ModelBuilder {
            version: FORMAT_VERSION_INTEGER,
            activation_frac,
            ..ModelBuilder::new(latent_dim, num_classes, output)
        }
    }

    /// Appends a layer of a version-2 file with its stored tensors by role.
    pub fn int_layer(
        &mut self,
        spec: LayerSpec,
        tensors: Vec<(TensorRole, IntTensor)>,
    ) -> &mut Self {
        self.layers.push(LayerEntry::Int(spec, tensors));
        self
    }

    /// The dtype every tensor of a version-1 file is stored in (F16 by
    /// default).
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
        self.layers.push(LayerEntry::Float(spec, weight, bias));
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
        self.check_version()?;
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

    /// Every layer is of the builder's version, and a version-2 builder has
    /// a fraction count for every boundary.
    fn check_version(&self) -> Result<(), Error> {
        let integer = self.version == FORMAT_VERSION_INTEGER;
        let wrong = self
            .layers
            .iter()
            .position(|l| matches!(l, LayerEntry::Int(..)) != integer);
        if let Some(layer) = wrong {
            return Err(Error::LayerVersion {
                layer,
                version: self.version,
            });
        }
        if !integer && self.dtype.is_integer() {
            // The first tensor that would carry it.
            let layer = self.layers.iter().position(|l| {
                l.spec().tensor_shape(TensorRole::Weight).is_some()
                    || l.spec().tensor_shape(TensorRole::Bias).is_some()
            });
            return Err(Error::UnsupportedDType {
                tensor: tensor_name(layer.unwrap_or(0), TensorRole::Weight),
                dtype: Name::new(self.dtype.as_str()),
            });
        }
        let expected = self.layers.len() + 1;
        if integer && self.activation_frac.len() != expected {
            return Err(Error::FracCount {
                expected,
                found: self.activation_frac.len(),
            });
        }
        Ok(())
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
            .map(|l| OutputActivation::of_last_layer(l.spec()))
            .unwrap_or(OutputActivation::None);
        let o = self.output;
        let values = [
            FORMAT_NAME.into(),
            self.version.to_string(),
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
        if self.version == FORMAT_VERSION_INTEGER {
            let fracs: Vec<String> = self.activation_frac.iter().map(u32::to_string).collect();
            meta.push((ACTIVATION_FRAC_KEY.into(), fracs.join(",")));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            meta.push((format!("layer.{i}"), layer.spec().to_string()));
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
        for (i, layer) in self.layers.iter().enumerate() {
            let (spec, weight, bias) = match layer {
                LayerEntry::Float(spec, weight, bias) => (spec, weight, bias),
                LayerEntry::Int(spec, tensors) => {
                    int_tensors(i, spec, tensors, header, &mut data)?;
                    continue;
                }
            };
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
                        // Rejected by `check_version`.
                        DType::I8 | DType::I16 | DType::I32 => {}
                    }
                }
                let entry = Entry {
                    layer: i,
                    role,
                    dtype: self.dtype,
                    shape: shape.as_slice().unwrap_or(&[]),
                    begin,
                    end: data.len(),
                };
                entry.push_to(header);
            }
        }
        Ok(data)
    }
}

/// A tensor's header entry.
struct Entry<'a> {
    layer: usize,
    role: TensorRole,
    dtype: DType,
    shape: &'a [usize],
    begin: usize,
    end: usize,
}

impl Entry<'_> {
    fn push_to(&self, header: &mut String) {
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        header.push_str(&format!(
            ",\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            tensor_name(self.layer, self.role),
            self.dtype,
            dims.join(","),
            self.begin,
            self.end
        ));
    }
}

/// Writes the tensors of version-2 layer `i` in the order given: each must
/// be one the kind has in version 2, with its element count. The dtype is
/// the one given; the loader, proving the file, rejects a wrong one.
fn int_tensors(
    i: usize,
    spec: &LayerSpec,
    tensors: &[(TensorRole, IntTensor)],
    header: &mut String,
    data: &mut Vec<u8>,
) -> Result<(), Error> {
    for role in TensorRole::ALL {
        let found = tensors
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(0, |(_, t)| t.len());
        let expected = spec.integer_tensor(role).map_or(0, |(shape, _)| {
            shape.as_slice().unwrap_or(&[]).iter().product()
        });
        if found != expected {
            return Err(Error::ParameterLength {
                layer: i,
                tensor: role.as_str(),
                expected,
                found,
            });
        }
    }
    for (role, tensor) in tensors {
        let Some((shape, _)) = spec.integer_tensor(*role) else {
            continue;
        };
        let begin = data.len();
        tensor.write(data);
        let entry = Entry {
            layer: i,
            role: *role,
            dtype: tensor.dtype(),
            shape: shape.as_slice().unwrap_or(&[]),
            begin,
            end: data.len(),
        };
        entry.push_to(header);
    }
    Ok(())
}

/// Whether `s` can sit in a JSON string of the header as is.
fn json_safe(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}
