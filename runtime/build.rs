//! Names the Cortex-M targets once, as `cfg` aliases, so that the kernels
//! say `cfg(cortex_m)` rather than spelling out the target each time:
//!
//! - `cortex_m`: bare-metal 32-bit Arm (`target_arch = "arm"`,
//!   `target_os = "none"`), with or without an FPU;
//! - `cortex_m_fpu`: those with a single-precision FPU the kernels' assembly
//!   runs on (hard-float `eabihf`, little-endian: thumbv7em-none-eabihf,
//!   thumbv8m.main-none-eabihf);
//! - `cortex_m_soft`: those without one (not `eabihf`: thumbv6m-none-eabi),
//!   where every float operation is a library call;
//! - `cortex_m_dsp`: `cortex_m_fpu` targets with the DSP extension the
//!   integer kernels' assembly needs (`SMLAD`, `SXTB16`, `PKHBT`). Armv7E-M
//!   always has it; on Armv8-M Mainline it is optional, and stable Rust
//!   does not report the `dsp` target feature, so it is read off the flags:
//!   `-C target-cpu=` a core that has it (Cortex-M33, M35P, M55, M85) or
//!   `-C target-feature=+dsp`. Without it the integer kernels run their
//!   Rust stand-ins and the FPU kernels still apply. The assembler
//!   directive that enables the extension for `global_asm!` is passed as
//!   `MICROGAN_DSP_DIRECTIVE`.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for alias in ["cortex_m", "cortex_m_fpu", "cortex_m_soft", "cortex_m_dsp"] {
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
        if let Some(directive) = dsp_directive(&var("TARGET"), &var("CARGO_ENCODED_RUSTFLAGS")) {
            println!("cargo::rustc-cfg=cortex_m_dsp");
            println!("cargo::rustc-env=MICROGAN_DSP_DIRECTIVE={directive}");
        }
    }
}

/// Cores of Armv8-M Mainline that always have the DSP extension.
const DSP_CORES: [&str; 4] = ["cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"];

/// Whether the target, or the flags it is built with (cargo's
/// `CARGO_ENCODED_RUSTFLAGS`: arguments separated by 0x1f), promise the
/// DSP extension, and if so the directive the assembly needs for it:
/// module-level assembly does not see `-C target-cpu`, so on Armv8-M it
/// names the core (`.cpu cortex-m33`); Armv7E-M needs none.
fn dsp_directive(target: &str, rustflags: &str) -> Option<String> {
    if target.starts_with("thumbv7em") {
        return Some(String::new());
    }
    // The core sets the default; `target-feature` overrides it, whatever
    // the order of the flags (as in rustc), the last mention winning.
    let (mut cpu, mut feature) = (None, None);
    for flag in rustflags.split('\x1f') {
        let flag = flag.strip_prefix("-C").unwrap_or(flag);
        if let Some(name) = flag.strip_prefix("target-cpu=") {
            cpu = Some(name);
        } else if let Some(features) = flag.strip_prefix("target-feature=") {
            for f in features.split(',') {
                match f {
                    "+dsp" => feature = Some(true),
                    "-dsp" => feature = Some(false),
                    _ => {}
                }
            }
        }
    }
    let dsp_core = cpu.filter(|name| DSP_CORES.contains(name));
    match (feature, dsp_core) {
        (Some(false), _) | (None, None) => None,
        (_, Some(core)) => Some(format!(".cpu {core}")),
        (Some(true), None) => Some(".cpu cortex-m33".into()),
    }
}
