//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the machine), and sets the number of frames from `MICROGAN_FRAMES` and the
//! latent walk and class from `MICROGAN_WALK_STEPS` and `MICROGAN_CLASS`.

use gan_build_support::{budget, embed_model, link_memory_x, number_setting, out_dir};
use gan_build_support::{or_exit, walk_settings, Constants, Error};

fn main() {
    or_exit(build());
}

fn build() -> Result<(), Error> {
    link_memory_x()?;
    walk_settings(&embed_model(&budget::RISCV_VIRT)?)?;
    let frames = number_setting("MICROGAN_FRAMES", 2, 1..=1000)?;
    let mut constants = Constants::new();
    constants.add(
        "Frames to make before exiting QEMU.",
        "FRAMES",
        "u32",
        frames,
    );
    constants.write(&out_dir()?, "frames.rs")?;
    Ok(())
}
