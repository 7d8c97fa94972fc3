#![cfg_attr(not(any(feature = "std", test)), no_std)]
//! Runs GAN generators stored as microgan generator files (f16 safetensors,
//! see `docs/model-format.md`) anywhere from a Cortex-M0+ to a host.
//!
//! The crate is `no_std` and never allocates: a program keeps the file in a
//! byte slice (`include_bytes!` in flash, or read from disk), loads it once
//! with [`Generator::load`], which validates every byte, and then generates
//! images into buffers it owns, sized by [`Generator::scratch_len`] and
//! [`Generator::output_len`].
//!
//! ```
//! # fn main() -> Result<(), runtime::Error> {
//! # let file = runtime::write::ModelBuilder::new(4, 0, runtime::Shape { c: 1, h: 2, w: 2 })
//! #     .layer(runtime::format::LayerSpec::Dense { in_features: 4, out_features: 4 },
//! #            Some(vec![0.5; 16]), Some(vec![0.0; 4]))
//! #     .layer(runtime::format::LayerSpec::Tanh, None, None)
//! #     .build()?;
//! use runtime::{rng::LatentRng, Generator};
//! let generator = Generator::load(&file)?;
//! let mut z = vec![0.0; generator.latent_dim()];
//! let mut scratch = vec![0.0; generator.scratch_len()];
//! let mut image = vec![0.0; generator.output_len()];
//! LatentRng::new(42).fill_normal(&mut z);
//! generator.generate(&z, None, &mut scratch, &mut image)?;
//! let mut grey = vec![0u8; image.len()];
//! runtime::output::to_grey_u8(&image, generator.output_activation(), &mut grey);
//! # Ok(()) }
//! ```
//!
//! Only `core` is used, so `no-std-compat` is not needed: the one piece that
//! wants `std` (building files, [`write`]) sits behind the `std` feature.
//! The header is read by the crate's own allocation-free JSON reader rather
//! than the `safetensors` crate, whose `alloc` build brings `serde_json` and a
//! hash map (about 66 KB of flash on thumbv6m); the tests hold the two to the
//! same verdicts.

pub mod error;
pub mod format;
pub mod kernels;
pub mod model;
pub mod output;
pub mod rng;
#[cfg(feature = "std")]
pub mod write;

pub use error::Error;
pub use model::{Generator, Shape};
