//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the machine), and sets the number of frames from `MICROGAN_FRAMES`.

use gan_build_support::{budget, embed_model, link_memory_x, number_setting, out_dir};
use gan_build_support::{or_exit, Constants, Error};

fn main() {
    or_exit(build());
}

fn build() -> Result<(), Error> {
    link_memory_x()?;
    embed_model(&budget::RISCV_VIRT)?;
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
