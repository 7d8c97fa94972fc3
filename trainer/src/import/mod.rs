//! `trainer import`: a generator trained in PyTorch, as its state dict, becomes a model file.
//!
//! The state dict ([`state_dict`]) is read as a layer list ([`layer_list`]): a built-in
//! architecture's ([`arch`]) or the user's. Resolving the list against the tensors
//! ([`network`]) checks every shape and reads the latent size and image shape from the weights.
//! The file is then made as `trainer export` makes one ([`file`]): batch norm folded, the bytes
//! built by the runtime's writer, the runtime's images held to an f32 reference forward of the
//! unfolded network ([`reference`]) and, when given, to PyTorch's own images ([`against`]) before
//! anything is written.

mod against;
pub mod arch;
mod command;
pub mod file;
pub mod layer_list;
pub mod network;
pub mod reference;
pub mod state_dict;

pub use arch::ImportArch;
pub use command::{import, run, ImportArgs, Source};
pub use file::{ImportOptions, ImportReport};
