//! Trains GAN generators on digits, image folders or 2-D toy data with candle, and exports them in
//! the microgan model format that the `runtime` crate runs on microcontrollers and hosts.
//!
//! The binary (`src/main.rs`) only parses arguments; everything it runs lives here, so tests and
//! other tools can drive training step by step.

pub mod bench;
pub mod budget;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod grid;
pub mod import;
pub mod interrupt;
pub mod losses;
pub mod models;
pub mod ops;
pub mod optim;
pub mod output_file;
pub mod run_dir;
pub mod sample;
pub mod train;

pub use error::{Error, Result};
