//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the Pico's 2 MiB of flash and 264 KiB of RAM before anything compiles), and
//! sets the latent walk and class from `MICROGAN_WALK_STEPS` and `MICROGAN_CLASS` and the I2C
//! clock from `MICROGAN_I2C_KHZ`.

use gan_build_support::{budget, embed_model, link_memory_x, number_setting, or_exit, out_dir};
use gan_build_support::{walk_settings, Constants, Error};

fn main() {
    or_exit(build());
}

fn build() -> Result<(), Error> {
    link_memory_x()?;
    walk_settings(&embed_model(&budget::PICO)?)?;
    // 400 kHz is the SSD1306's fast mode; many modules also take the RP2040's 1 MHz fast mode
    // plus, which sends a frame in less than half the time.
    let khz = number_setting("MICROGAN_I2C_KHZ", 400, 100..=1000)?;
    let mut constants = Constants::new();
    constants.add(
        "I2C clock of the display in kHz (MICROGAN_I2C_KHZ).",
        "I2C_KHZ",
        "u32",
        khz,
    );
    constants.write(&out_dir()?, "i2c.rs")?;
    Ok(())
}
