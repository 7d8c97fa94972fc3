//! Flash and RAM budgets: does a model fit a board?
//!
//! Board build scripts check this before compiling, so a model that cannot fit is refused with a
//! sentence instead of a linker overflow (or, worse, a stack overflow on the board). Everything
//! the frame loop needs is static: the model in flash, the buffers in RAM; there is no heap.

use gan_app::{display, layout};

use crate::Error;

/// What a board offers the model and the frame loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    /// Flash for the firmware image, in bytes.
    pub flash: usize,
    /// RAM, in bytes.
    pub ram: usize,
    /// Flash kept for the program itself (runtime, HAL, display driver, fonts).
    pub code_reserve: usize,
    /// RAM kept for the stack and the drivers' own statics.
    pub stack_reserve: usize,
}

/// Raspberry Pi Pico: 2 MiB of QSPI flash less the 256-byte second-stage boot loader, 264 KiB
/// of SRAM.
pub const PICO: Board =
    Board::microcontroller("Raspberry Pi Pico (RP2040)", 2048 * 1024 - 256, 264 * 1024);

/// Raspberry Pi Pico 2: the RP2350 with 4 MiB of QSPI flash on the board (the RP2350 boots
/// from flash without a second-stage loader) and 520 KiB of SRAM.
pub const PICO2: Board =
    Board::microcontroller("Raspberry Pi Pico 2 (RP2350)", 4 * 1024 * 1024, 520 * 1024);

/// QEMU's MPS2 boards (AN385, AN386): 4 MiB of code memory at 0, 4 MiB of RAM at 0x2000_0000.
pub const MPS2: Board =
    Board::microcontroller("MPS2 board (QEMU)", 4 * 1024 * 1024, 4 * 1024 * 1024);

/// QEMU's MPS2 AN505 (Cortex-M33): 4 MiB of SSRAM1 for code at 0x1000_0000 and 4 MiB of SSRAM2
/// and 3 at 0x3800_0000 (their Secure aliases: the core starts in the Secure state).
pub const MPS2_AN505: Board = Board::microcontroller(
    "MPS2 AN505 board (QEMU, Cortex-M33)",
    4 * 1024 * 1024,
    4 * 1024 * 1024,
);

/// QEMU's RISC-V `virt` machine, of whose 128 MiB of DRAM the firmware's memory map uses 4 MiB
/// for code and 4 MiB for RAM, like the MPS2 boards.
pub const RISCV_VIRT: Board =
    Board::microcontroller("RISC-V virt board (QEMU)", 4 * 1024 * 1024, 4 * 1024 * 1024);

/// A Raspberry Pi 4/5 running Linux: the model is part of a program on the SD card, the buffers
/// are on the heap. The limits only keep absurd files out of the binary.
pub const RASPBERRY_PI: Board = Board {
    name: "Raspberry Pi (Linux)",
    flash: 256 * 1024 * 1024,
    ram: 1024 * 1024 * 1024,
    code_reserve: 0,
    stack_reserve: 0,
};

/// What a model needs from a board, in elements of each static buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Size of the model file, embedded in flash.
    pub model_bytes: usize,
    /// f32 elements of the latent vector.
    pub latent: usize,
    /// f32 elements of the runtime's scratch buffer.
    pub scratch: usize,
    /// f32 elements of one generated image.
    pub output: usize,
}

impl Needs {
    /// Reads the buffer sizes off a loaded generator.
    pub fn of(generator: &runtime::Generator<'_>, model_bytes: usize) -> Needs {
        Needs {
            model_bytes,
            latent: generator.latent_dim(),
            scratch: generator.scratch_len(),
            output: generator.output_len(),
        }
    }

    /// RAM for the frame loop's static buffers: three latents (the generator's input and a
    /// latent walk's two ends), scratch and output (f32), the output as grey bytes, the
    /// display-resolution image and a 1-bit display frame.
    pub fn ram_bytes(&self) -> usize {
        let floats = self
            .latent
            .saturating_mul(3)
            .saturating_add(self.scratch)
            .saturating_add(self.output);
        floats
            .saturating_mul(4)
            .saturating_add(self.output)
            .saturating_add(layout::MAX_IMAGE_PIXELS)
            .saturating_add(display::BUFFER_BYTES)
    }
}

/// How much of a board a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Flash bytes for the model.
    pub flash: usize,
    /// Flash bytes the model may use on this board.
    pub flash_available: usize,
    /// RAM bytes for the static buffers.
    pub ram: usize,
    /// RAM bytes the buffers may use on this board.
    pub ram_available: usize,
}

impl Board {
    /// A microcontroller: the firmware's own code and constants are about 100 KiB (the runtime
    /// with its header parser, the HAL, the display driver, fonts), so 256 KiB of flash are kept
    /// for them, which leaves room to grow; 16 KiB of RAM are kept for the stack.
    const fn microcontroller(name: &'static str, flash: usize, ram: usize) -> Board {
        Board {
            name,
            flash,
            ram,
            code_reserve: 256 * 1024,
            stack_reserve: 16 * 1024,
        }
    }

    /// Checks that a model and its buffers fit beside the program and the stack.
    pub fn check(&self, needs: &Needs) -> Result<Usage, Error> {
        let flash_available = self.flash.saturating_sub(self.code_reserve);
        let ram_available = self.ram.saturating_sub(self.stack_reserve);
        let usage = Usage {
            flash: needs.model_bytes,
            flash_available,
            ram: needs.ram_bytes(),
            ram_available,
        };
        let refuse = |resource, needed, available| Error::DoesNotFit {
            board: self.name,
            resource,
            needed,
            available,
        };
        if usage.flash > flash_available {
            return Err(refuse("flash", usage.flash, flash_available));
        }
        if usage.ram > ram_available {
            return Err(refuse("RAM", usage.ram, ram_available));
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DCGAN: Needs = Needs {
        model_bytes: 700 * 1024,
        latent: 100,
        scratch: 2 * 6272,
        output: 784,
    };

    #[test]
    fn a_small_dcgan_fits_the_pico() {
        let usage = PICO.check(&DCGAN).unwrap();
        assert_eq!(usage.flash, 700 * 1024);
        assert_eq!(
            usage.ram,
            (3 * 100 + 2 * 6272 + 784) * 4 + 784 + 64 * 64 + 128 * 64 / 8
        );
        assert!(usage.ram < usage.ram_available);
    }

    #[test]
    fn a_3_mb_mlp_is_refused_for_flash() {
        let mlp = Needs {
            model_bytes: 3 * 1024 * 1024,
            latent: 100,
            scratch: 2 * 1024,
            output: 784,
        };
        let err = PICO.check(&mlp).unwrap_err();
        assert!(matches!(
            err,
            Error::DoesNotFit {
                resource: "flash",
                ..
            }
        ));
        assert!(MPS2.check(&mlp).is_ok());
        assert!(PICO2.check(&mlp).is_ok());
        let text = format!("{err}");
        assert!(text.contains("Raspberry Pi Pico"), "{text}");
    }

    #[test]
    fn the_pico_2_refuses_what_outgrows_its_4_mib_and_520_kib() {
        let huge = Needs {
            model_bytes: 4 * 1024 * 1024 - 200 * 1024,
            ..DCGAN
        };
        let err = PICO2.check(&huge).unwrap_err();
        assert!(
            err.to_string().contains("Raspberry Pi Pico 2 (RP2350)"),
            "{err}"
        );
        let wide = Needs {
            scratch: 130_000,
            ..DCGAN
        };
        assert!(PICO.check(&wide).is_err());
        assert!(matches!(
            PICO2.check(&wide),
            Err(Error::DoesNotFit {
                resource: "RAM",
                ..
            })
        ));
        let usage = PICO2.check(&DCGAN).unwrap();
        assert_eq!(usage.ram_available, 520 * 1024 - 16 * 1024);
    }

    #[test]
    fn a_model_with_huge_activations_is_refused_for_ram() {
        let wide = Needs {
            scratch: 100_000,
            ..DCGAN
        };
        assert!(matches!(
            PICO.check(&wide),
            Err(Error::DoesNotFit {
                resource: "RAM",
                ..
            })
        ));
    }

    #[test]
    fn sizes_from_hostile_models_saturate_instead_of_wrapping() {
        let absurd = Needs {
            scratch: usize::MAX,
            ..DCGAN
        };
        assert_eq!(absurd.ram_bytes(), usize::MAX);
        assert!(PICO.check(&absurd).is_err());
    }
}
