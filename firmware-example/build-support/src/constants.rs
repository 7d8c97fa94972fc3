//! Rust constants a build script generates for the firmware to `include!`.

use std::fmt::{Debug, Write as _};
use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;

/// The source of documented `pub const` items, one after the other.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Constants(String);

impl Constants {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `/// doc` and `pub const NAME: TYPE = value;`, the value written as Rust source
    /// (`Debug`: numbers as they are, strings quoted and escaped).
    pub fn add(&mut self, doc: &str, name: &str, ty: &str, value: impl Debug) -> &mut Self {
        let _ = writeln!(self.0, "/// {doc}\npub const {name}: {ty} = {value:?};");
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Writes the source to `dir/file` and returns that path.
    pub fn write(&self, dir: &Path, file: &str) -> Result<PathBuf, Error> {
        let path = dir.join(file);
        match fs::write(&path, &self.0) {
            Ok(()) => Ok(path),
            Err(source) => Err(Error::Write { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_documented_rust_items() {
        let mut c = Constants::new();
        c.add("Frames to make.", "FRAMES", "u32", 2u32).add(
            "File name.",
            "NAME",
            "&str",
            "a \"b\".safetensors",
        );
        assert_eq!(
            c.as_str(),
            "/// Frames to make.\npub const FRAMES: u32 = 2;\n\
             /// File name.\npub const NAME: &str = \"a \\\"b\\\".safetensors\";\n"
        );
    }
}
