//! The files a board writes for each frame, named and encoded the same way everywhere, so that
//! frames from QEMU, a Raspberry Pi and the host can be compared with `cmp`.

use core::fmt;

use crate::display::{self, DisplayBuffer};
use crate::netpbm;
use crate::Frame;

/// One of a frame's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFile {
    /// `NAME-NNN.pbm`: the whole 128x64 display, caption included (its time line differs
    /// between boards).
    Display,
    /// `NAME-NNN-image.pbm`: the dithered image at display resolution.
    Image,
    /// `NAME-NNN-output.pgm`: the generator's output as 8-bit grey (first channel).
    Grey,
    /// `NAME-NNN-output.f32`: the generator's output, raw little-endian f32.
    Raw,
}

impl FrameFile {
    pub const ALL: [FrameFile; 4] = [
        FrameFile::Display,
        FrameFile::Image,
        FrameFile::Grey,
        FrameFile::Raw,
    ];

    /// The files that must be bit-identical on every target for the same model, seed and
    /// frame: everything but the caption's measured time.
    pub const PORTABLE: [FrameFile; 3] = [FrameFile::Image, FrameFile::Grey, FrameFile::Raw];

    fn suffix(self) -> &'static str {
        match self {
            FrameFile::Display => ".pbm",
            FrameFile::Image => "-image.pbm",
            FrameFile::Grey => "-output.pgm",
            FrameFile::Raw => "-output.f32",
        }
    }

    /// `prefix-NNN<suffix>`, e.g. `an385-000-output.f32`.
    pub fn name(self, prefix: &str, index: u32) -> heapless::String<64> {
        crate::caption::text(format_args!("{prefix}-{index:03}{}", self.suffix()))
    }

    /// Encodes this file of `frame` (drawn into `screen`) into `sink`.
    pub fn write<E>(
        self,
        frame: &Frame<'_>,
        screen: &DisplayBuffer,
        sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let (_, h, w) = frame.shape;
        let size = frame.layout.image.size;
        match self {
            FrameFile::Display => {
                netpbm::write_packed_pbm(display::WIDTH, display::HEIGHT, screen.data(), sink)
            }
            FrameFile::Image => {
                netpbm::write_pbm(size.width as usize, size.height as usize, frame.image, sink)
            }
            FrameFile::Grey => netpbm::write_pgm(w, h, frame.grey, sink),
            FrameFile::Raw => netpbm::write_f32_le(frame.output, sink),
        }
    }
}

/// Writes all of a frame's files into `dir` (host programs: the simulator, the Raspberry Pi).
#[cfg(feature = "std")]
pub fn write_all(
    dir: &std::path::Path,
    prefix: &str,
    frame: &Frame<'_>,
    screen: &DisplayBuffer,
) -> Result<(), crate::Error> {
    use std::io::Write;
    for file in FrameFile::ALL {
        let path = dir.join(file.name(prefix, frame.index).as_str());
        let written = std::fs::File::create(&path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            file.write(frame, screen, |bytes| w.write_all(bytes))?;
            w.flush()
        });
        written.map_err(|source| crate::Error::FrameFile { path, source })?;
    }
    Ok(())
}

impl fmt::Display for FrameFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_frame() {
        assert_eq!(
            FrameFile::Display.name("an385", 7).as_str(),
            "an385-007.pbm"
        );
        assert_eq!(
            FrameFile::Raw.name("host", 12).as_str(),
            "host-012-output.f32"
        );
        assert_eq!(
            FrameFile::Image.name("pi", 1234).as_str(),
            "pi-1234-image.pbm"
        );
    }
}
