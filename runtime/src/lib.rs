#![cfg_attr(not(any(feature = "std", test)), no_std)]
//! Runs GAN generators stored as microgan generator files (f16 safetensors,
//! or int8 ones in format version 2; see `docs/model-format.md`) anywhere
//! from a Cortex-M0+ to a host.
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
//! # What loading guarantees
//!
//! Every byte of a file is untrusted. [`Generator::load`] checks the whole
//! file before it returns (header bounds and JSON, dtypes, shapes, offsets
//! tiling the data section, the metadata, every layer's parameters, that the
//! layers chain, finite weights) and reports the first problem as an
//! [`Error`] naming the tensor, layer or key with what was expected and what
//! was found. No input makes the crate panic, loop or read out of bounds: the
//! tests feed it arbitrary bytes and mutated files, and hold its container
//! parser to the verdicts of the `safetensors` crate.
//!
//! # Arithmetic
//!
//! Kernels fix the order of every sum and never fuse a multiply and an add
//! (see [`kernels`]), and element-wise functions come from `libm`, so a file
//! and a latent give bit-identical images on x86-64, AArch64 and Cortex-M.
//! The fast kernels equal the plain reference kernels bit for bit (property
//! tests). Rust never contracts `a * b + c` into an FMA on its own, and the
//! crate uses no `mul_add`.
//!
//! # Integer generators (format version 2)
//!
//! A version-2 file holds int8 weights with a scale per output channel and
//! computes on int16 activations: [`Generator::generate`] takes the same
//! buffers (the int16 activations sit two to an f32 slot of `scratch`, so
//! [`Generator::scratch_len`] is half a float generator's), quantises the
//! latent once, runs every layer in integers (exact 32-bit sums, then the
//! requantisation of [`kernels::requant_params`]) and converts the output
//! exactly to f32. Integer sums are exact, so the integer kernels may add
//! in any order and still agree bit for bit on every target.
//! [`Generator::format_version`] tells the two apart; `runtime/footprint`
//! with its `integer` feature checks the integer path on QEMU.
//!
//! # Footprint on a Cortex-M0+
//!
//! `runtime/footprint` is a minimal thumbv6m-none-eabi firmware that embeds a
//! small generator using every layer kind, loads it, generates one image and
//! dithers it to 1 bit. On QEMU (mps2-an385 for thumbv6m, mps2-an386 for
//! thumbv7em-none-eabihf) it exits 0 only if its image is bit-identical to
//! the one the host generated from the same file and latent at build time.
//! Built with `opt-level = "s"` and LTO, with and without the runtime calls
//! (both builds hold the same 35 KB of weights), `llvm-size` gives:
//!
//! | build | flash (text) |
//! |---|---|
//! | load + latents + generate + grey + dithering | 42,072 bytes (32,216 before format version 2) |
//! | load and validate only | 24,040 bytes (19,564 before) |
//!
//! The figures include what the runtime pulls in: compiler builtins (about
//! 4 KB: software floating point, `memcpy`, division), `libm` (1 KB) and
//! `core::fmt` for error values (2 KB). A
//! loaded [`Generator`] takes 6,736 bytes of RAM on this target; loading uses
//! about 1 KB of stack more; generating needs only the caller's buffers.
//!
//! ```text
//! cd runtime/footprint
//! cargo build --release && llvm-size ../../target/thumbv6m-none-eabi/release/runtime-footprint
//! cargo build --release --no-default-features && llvm-size ../../target/thumbv6m-none-eabi/release/runtime-footprint
//! cargo build --release --features load-only && llvm-size ../../target/thumbv6m-none-eabi/release/runtime-footprint
//! cargo run --release   # on QEMU (qemu-system-arm), exit status 0
//! cargo run --release --target thumbv7em-none-eabihf
//! ```
//!
//! Instructions per multiply-accumulate of a dense layer (256 -> 64, feature
//! `dense-bench`, counted with `shared/tools/qemu-insncount` around
//! `generate`; `opt-level = 3` / `"s"`):
//!
//! | target | f16 weights | f32 weights |
//! |---|---|---|
//! | thumbv6m-none-eabi (Cortex-M0+, soft float) | 254 / 273 | 247 / 257 |
//! | thumbv7em-none-eabihf (Cortex-M4F) | 15.3 / 35.5 | 6.7 / 20.3 |
//!
//! On the M0+ the software f32 multiply and add dominate; f16 costs only a
//! few instructions more than f32 thanks to an integer-only conversion.
//!
//! # Speed
//!
//! `cargo bench -p runtime` times one image of the classic MLP generator
//! (100-128-256-512-1024-784) and a small DCGAN (dense to 7x7x64, transposed
//! convolutions 64-32-1), each through the runtime, through its plain
//! reference kernels, and through a naive scalar forward pass in the same
//! process, and prints a table of medians, GFLOP/s and ratios. The portable
//! dense kernel runs four rows of 16 partial sums at once on f16 weights
//! converted in blocks with a branch-free exact conversion (vectorised even
//! on baseline x86-64, where `half` without `std` falls back to a scalar
//! software path); the x86-64 vector kernels (AVX-512, or AVX2 + F16C,
//! detected at run time under `std`) keep 8 or 16 output channels or pixels
//! per vector, and with AVX-512 one register holds a dense row's 16 partial
//! sums. `RUSTFLAGS="-C target-cpu=native"` selects them at compile time.
//!
//! # Dependencies
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
mod layers;
pub mod model;
pub mod output;
pub mod prepared;
#[cfg(feature = "std")]
pub mod quantize;
#[cfg(feature = "std")]
pub mod reference;
pub mod rng;
#[cfg(feature = "std")]
pub mod write;

pub use error::Error;
pub use model::{Generator, Shape};
pub use prepared::Prepared;
