//! Puts memory.x on the linker path, embeds the model chosen by `MICROGAN_MODEL` (refusing one
//! that does not fit the Pico's 2 MiB of flash and 264 KiB of RAM before anything compiles), and
//! sets the latent walk and class from `MICROGAN_WALK_STEPS` and `MICROGAN_CLASS`.

use gan_build_support::{budget, embed_model, link_memory_x, or_exit, walk_settings};

fn main() {
    or_exit(link_memory_x());
    let embedded = or_exit(embed_model(&budget::PICO));
    or_exit(walk_settings(&embedded));
}
