//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the Pico 2's 4 MiB of flash and 520 KiB of RAM before anything compiles),
//! and sets the latent walk and class from `MICROGAN_WALK_STEPS` and `MICROGAN_CLASS`.

use gan_build_support::{budget, embed_model, link_memory_x, or_exit, walk_settings, Error};

fn main() {
    or_exit(build());
}

fn build() -> Result<(), Error> {
    link_memory_x()?;
    walk_settings(&embed_model(&budget::PICO2)?)
}
