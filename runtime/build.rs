//! Names the Cortex-M targets once, as `cfg` aliases, so that the kernels
//! say `cfg(cortex_m)` rather than spelling out the target each time:
//!
//! - `cortex_m`: bare-metal 32-bit Arm (`target_arch = "arm"`,
//!   `target_os = "none"`), with or without an FPU;
//! - `cortex_m_fpu`: those with a single-precision FPU the kernels' assembly
//!   runs on (hard-float `eabihf`, little-endian: thumbv7em-none-eabihf,
//!   thumbv8m.main-none-eabihf);
//! - `cortex_m_soft`: those without one (not `eabihf`: thumbv6m-none-eabi),
//!   where every float operation is a library call.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for alias in ["cortex_m", "cortex_m_fpu", "cortex_m_soft"] {
        println!("cargo::rustc-check-cfg=cfg({alias})");
    }
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "arm" || var("CARGO_CFG_TARGET_OS") != "none" {
        return;
    }
    println!("cargo::rustc-cfg=cortex_m");
    if var("CARGO_CFG_TARGET_ABI") != "eabihf" {
        println!("cargo::rustc-cfg=cortex_m_soft");
    } else if var("CARGO_CFG_TARGET_ENDIAN") == "little" {
        println!("cargo::rustc-cfg=cortex_m_fpu");
    }
}
