//! The model file format, versions 1 (floats) and 2 (integers): the single definition in code of
//! `docs/model-format.md`. [`spec`] names the layer kinds with their
//! parameters and tensors, the metadata keys, tensor names, dtypes and output
//! activations once; `descriptor` reads a layer's descriptor, `numbers` the
//! metadata's integers and floats, `shape` the shapes, `metadata` the header's
//! metadata as a whole (everything public is re-exported here); [`container`]
//! reads the safetensors layer and [`json`] is the small allocation-free JSON
//! reader underneath it.

pub mod container;
mod descriptor;
pub mod json;
pub(crate) mod metadata;
mod numbers;
mod shape;
pub mod spec;

pub use numbers::{parse_float, parse_uint};
pub use shape::{Dims, Shape};
pub use spec::{
    layer_key, parse_tensor_name, tensor_name, DType, LayerSpec, OutputActivation, TensorRole,
    METADATA_KEYS, TABLE_LEN,
};

pub(crate) use descriptor::parse_descriptor;

/// The value of the `format` metadata key.
pub const FORMAT_NAME: &str = "microgan-generator";
/// The `format_version` of a float generator (f16 or f32 weights, f32
/// arithmetic).
pub const FORMAT_VERSION: u32 = 1;
/// The `format_version` of an integer generator (int8 weights, int16
/// activations, integer arithmetic).
pub const FORMAT_VERSION_INTEGER: u32 = 2;
/// The metadata key of a version-2 file that fixes each layer boundary's
/// fraction bits.
pub const ACTIVATION_FRAC_KEY: &str = "activation_frac";
/// Largest fraction bits of an activation in a version-2 file.
pub const MAX_FRAC: u32 = 24;
/// Largest fraction bits of the input of `onehot_concat` in a version-2
/// file: its `1.0` is `2^F`, which must fit in 16 bits.
pub const MAX_ONEHOT_FRAC: u32 = 14;
/// Largest header this runtime reads. Safetensors allows 100,000,000 bytes;
/// a valid generator header is a few tens of kilobytes, and a smaller bound
/// keeps a hostile header from costing seconds of parsing on a microcontroller.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Most layers in a generator.
pub const MAX_LAYERS: usize = 64;
/// Most tensors in a file: a weight and a bias per layer (a version-2 file
/// with three tensors per layer has fewer layers).
pub const MAX_TENSORS: usize = 2 * MAX_LAYERS;
/// Most `provenance.*` metadata entries.
pub const MAX_PROVENANCE: usize = 64;
/// Most metadata entries in all: the fixed keys, the layers, the provenance.
pub const MAX_METADATA_ENTRIES: usize = METADATA_KEYS.len() + MAX_LAYERS + MAX_PROVENANCE;
/// Most elements in any activation (input, intermediate or output).
pub const MAX_ACTIVATION: usize = 1 << 24;
/// Largest `upsample_nearest` scale.
pub const MAX_SCALE: usize = 64;
