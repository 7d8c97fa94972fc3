//! The board-independent part of the firmware example: every board (Raspberry Pi Pico, QEMU's
//! MPS2 machines, a Raspberry Pi, the host simulator) runs this frame loop and only supplies a
//! display, a stopwatch and the buffers.
//!
//! One frame: draw the next latent from a seeded [`runtime::rng::LatentRng`], pick the next class
//! (0, 1, 2, ... for a conditional model), run the generator, average the channels to grey, scale
//! the image to the display, dither it to 1 bit and draw it with a caption (class, frame number,
//! time per image). With a latent walk ([`walk`]), the frames step from one latent to the next
//! so that the image morphs.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

pub mod app;
pub mod buffers;
pub mod caption;
pub mod display;
pub mod dither;
pub mod error;
pub mod files;
pub mod layout;
pub mod model;
pub mod netpbm;
pub mod walk;

/// Development models (untrained, deterministic weights) for unit tests; shared with tests/.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod dev_models;

pub use app::{App, Classes, Config, Frame};
#[cfg(feature = "std")]
pub use buffers::HeapBuffers;
pub use buffers::{Buffers, StaticBuffers};
pub use caption::{Stopwatch, Timing};
pub use dither::Dither;
pub use error::Error;

/// The seed every board starts from, so that a frame `n` made anywhere can be compared with the
/// same frame made on the host.
pub const DEFAULT_SEED: u64 = 2026;
