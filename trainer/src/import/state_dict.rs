//! A PyTorch generator's weights as `torch.save(generator.state_dict())` writes them (PyTorch's
//! zip/pickle format, read by candle) or as a safetensors file of the same state dict.
//!
//! Every tensor the architecture takes is fetched through [`StateDict::take`], which checks its
//! shape, dtype and values and remembers it, so that [`StateDict::finish`] can refuse a state dict
//! with tensors nobody used: a sign of the wrong architecture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Batch-norm counters PyTorch stores beside the statistics; inference has no use for them.
const IGNORED_SUFFIX: &str = ".num_batches_tracked";
/// The prefix `torch.nn.DataParallel` puts before every key.
const DATA_PARALLEL_PREFIX: &str = "module.";

/// The tensors of a state dict, by key.
pub struct StateDict {
    tensors: BTreeMap<String, Tensor>,
    taken: BTreeSet<String>,
}

/// How a file's first bytes say it was written.
enum Container {
    /// `torch.save` since PyTorch 1.6: a zip archive holding `data.pkl` and the storages.
    TorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: a bare pickle stream.
    TorchLegacy,
    Safetensors,
}

fn container(bytes: &[u8]) -> Container {
    match bytes {
        [b'P', b'K', 3, 4, ..] => Container::TorchZip,
        // Pickle protocol 2 and above start with PROTO (0x80).
        [0x80, ..] => Container::TorchLegacy,
        _ => Container::Safetensors,
    }
}

impl StateDict {
    /// Reads a `.pt`/`.pth` file or a safetensors file, whichever its first bytes say it is.
    pub fn read(path: &Path) -> Result<Self> {
        let head = read_head(path)?;
        let bad = |e: candle_core::Error| Error::StateDict {
            path: path.to_path_buf(),
            reason: first_line(&e.to_string()),
        };
        let tensors = match container(&head) {
            Container::TorchZip => candle_core::pickle::read_all(path).map_err(bad)?,
            Container::TorchLegacy => {
                return Err(Error::StateDict {
                    path: path.to_path_buf(),
                    reason: "PyTorch's legacy (pre-1.6) format; load it in PyTorch and save it \
                             again with torch.save(state_dict, file)"
                        .into(),
                })
            }
            Container::Safetensors => candle_core::safetensors::load(path, &Device::Cpu)
                .map_err(bad)?
                .into_iter()
                .collect(),
        };
        if tensors.is_empty() {
            return Err(Error::StateDict {
                path: path.to_path_buf(),
                reason: "no tensors found (a state dict is a flat dictionary of tensors)".into(),
            });
        }
        Ok(Self::from_tensors(tensors))
    }

    /// A state dict of the given tensors; a `module.` prefix on every key is dropped.
    pub fn from_tensors(tensors: impl IntoIterator<Item = (String, Tensor)>) -> Self {
        let mut tensors: BTreeMap<String, Tensor> = tensors
            .into_iter()
            .filter(|(k, _)| !k.ends_with(IGNORED_SUFFIX))
            .collect();
        if !tensors.is_empty() && tensors.keys().all(|k| k.starts_with(DATA_PARALLEL_PREFIX)) {
            tensors = tensors
                .into_iter()
                .map(|(k, t)| (k[DATA_PARALLEL_PREFIX.len()..].to_string(), t))
                .collect();
        }
        StateDict {
            tensors,
            taken: BTreeSet::new(),
        }
    }

    /// True when the state dict has `key`.
    pub fn has(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The dimensions of `key`, or [`Error::MissingTensor`] naming its `role`.
    pub fn dims(&self, key: &str, role: &str) -> Result<Vec<usize>> {
        self.tensors
            .get(key)
            .map(|t| t.dims().to_vec())
            .ok_or_else(|| Error::MissingTensor {
                key: key.into(),
                role: role.into(),
            })
    }

    /// `key` as f32, checked against `expected` (`None` matches any size on that axis) and for
    /// finite values, and marked used.
    pub fn take(&mut self, key: &str, role: &str, expected: &[Option<usize>]) -> Result<Tensor> {
        let dims = self.dims(key, role)?;
        let fits = dims.len() == expected.len()
            && dims
                .iter()
                .zip(expected)
                .all(|(d, e)| e.is_none_or(|e| e == *d));
        if !fits {
            return Err(Error::TensorShape {
                key: key.into(),
                expected: describe_shape(expected),
                found: dims,
            });
        }
        let t = &self.tensors[key];
        if !matches!(
            t.dtype(),
            DType::F16 | DType::BF16 | DType::F32 | DType::F64
        ) {
            return Err(Error::TensorDtype {
                key: key.into(),
                found: format!("{:?}", t.dtype()).to_lowercase(),
            });
        }
        let t = t.to_dtype(DType::F32)?;
        if t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .any(|v| !v.is_finite())
        {
            return Err(Error::NonFiniteTensor { key: key.into() });
        }
        self.taken.insert(key.to_string());
        Ok(t)
    }

    /// `Ok` when every tensor was taken, else [`Error::UnusedTensors`] naming (up to five of)
    /// the others.
    pub fn finish(&self) -> Result<()> {
        let unused: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !self.taken.contains(*k))
            .cloned()
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<String> = unused.iter().take(5).map(|k| format!("`{k}`")).collect();
        if unused.len() > 5 {
            keys.push(format!("and {} more", unused.len() - 5));
        }
        Err(Error::UnusedTensors { keys })
    }
}

/// `[128, _]`-style text for an expected shape.
pub fn describe_shape(expected: &[Option<usize>]) -> String {
    let dims: Vec<String> = expected
        .iter()
        .map(|d| d.map_or_else(|| "_".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// The first bytes of `path`, enough to tell the container.
fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .and_then(|f| f.take(8).read_to_end(&mut head))
        .map_err(|e| Error::io(PathBuf::from(path), e))?;
    Ok(head)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(entries: &[(&str, &[usize])]) -> StateDict {
        StateDict::from_tensors(entries.iter().map(|(k, shape)| {
            let t = Tensor::zeros(*shape, DType::F32, &Device::Cpu).unwrap();
            (k.to_string(), t)
        }))
    }

    #[test]
    fn take_checks_shape_and_marks_the_key_used() {
        let mut sd = dict(&[("a.weight", &[4, 3]), ("a.bias", &[4])]);
        let err = sd.take("a.weight", "w", &[Some(3), None]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a.weight` has shape [4, 3], expected [3, _]"
        );
        sd.take("a.weight", "w", &[None, Some(3)]).unwrap();
        let err = sd.finish().unwrap_err().to_string();
        assert!(
            err.contains("`a.bias`") && !err.contains("a.weight"),
            "{err}"
        );
        sd.take("a.bias", "b", &[Some(4)]).unwrap();
        sd.finish().unwrap();
        let err = sd
            .take("b.weight", "the weight of dense b", &[None])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the state dict has no `b.weight` (the weight of dense b)"
        );
    }

    #[test]
    fn data_parallel_prefix_and_counters_are_dropped() {
        let sd = dict(&[
            ("module.x.weight", &[2]),
            ("module.bn.num_batches_tracked", &[]),
        ]);
        assert_eq!(sd.keys().collect::<Vec<_>>(), ["x.weight"]);
    }

    #[test]
    fn nan_and_integer_tensors_are_refused() {
        let t = Tensor::new(&[1f32, f32::NAN], &Device::Cpu).unwrap();
        let i = Tensor::new(&[1i64, 2], &Device::Cpu).unwrap();
        let mut sd = StateDict::from_tensors([("n".to_string(), t), ("i".to_string(), i)]);
        let err = sd.take("n", "w", &[Some(2)]).unwrap_err().to_string();
        assert_eq!(err, "`n` contains NaN or infinity");
        let err = sd.take("i", "w", &[Some(2)]).unwrap_err().to_string();
        assert_eq!(err, "`i` holds i64 values, expected floating-point weights");
    }
}
