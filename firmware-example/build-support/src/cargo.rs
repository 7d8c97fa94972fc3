//! Talking to cargo from a build script: where to write, what to link, which settings to read.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::{env, fs};

use crate::Error;

/// The build script's output folder (`OUT_DIR`).
pub fn out_dir() -> Result<PathBuf, Error> {
    env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or(Error::Cargo("OUT_DIR"))
}

/// Copies the board's `memory.x` (beside its Cargo.toml) into `OUT_DIR` and puts that folder on
/// the linker path, where cortex-m-rt's `link.x` looks for it.
pub fn link_memory_x() -> Result<(), Error> {
    link_memory_file("memory.x")
}

/// Like [`link_memory_x`] for a crate that runs on several machines, one memory map each: copies
/// `file` (beside its Cargo.toml) into `OUT_DIR` as `memory.x`.
pub fn link_memory_file(file: &str) -> Result<(), Error> {
    let out = out_dir()?;
    let board = env::var_os("CARGO_MANIFEST_DIR").ok_or(Error::Cargo("CARGO_MANIFEST_DIR"))?;
    let target = out.join("memory.x");
    fs::copy(PathBuf::from(board).join(file), &target).map_err(|source| Error::Write {
        path: target,
        source,
    })?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={file}");
    Ok(())
}

/// The target triple cargo builds for (`TARGET`), for crates that run on several machines.
pub fn target() -> Result<String, Error> {
    env::var("TARGET").map_err(|_| Error::Cargo("TARGET"))
}

/// A whole number from the environment variable `name`, `default` when it is not set; the build
/// runs again when it changes.
pub fn number_setting(
    name: &'static str,
    default: u32,
    range: RangeInclusive<u32>,
) -> Result<u32, Error> {
    println!("cargo:rerun-if-env-changed={name}");
    parse_setting(name, env::var(name).ok(), default, range)
}

fn parse_setting(
    name: &'static str,
    value: Option<String>,
    default: u32,
    range: RangeInclusive<u32>,
) -> Result<u32, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Error::Setting {
            name,
            value,
            min: *range.start(),
            max: *range.end(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_its_default_when_unset_and_refused_out_of_range() {
        assert_eq!(parse_setting("FRAMES", None, 2, 1..=1000).unwrap(), 2);
        assert_eq!(
            parse_setting("FRAMES", Some("1000".into()), 2, 1..=1000).unwrap(),
            1000
        );
        for bad in ["0", "1001", "-1", "two", ""] {
            let err = parse_setting("FRAMES", Some(bad.into()), 2, 1..=1000).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("FRAMES={bad:?}: expected a number from 1 to 1000")
            );
        }
    }
}
