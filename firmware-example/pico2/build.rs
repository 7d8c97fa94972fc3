//! Puts memory.x on the linker path and embeds the model chosen by `MICROGAN_MODEL`, refusing
//! one that does not fit the Pico 2's 4 MiB of flash and 520 KiB of RAM before anything compiles.

use gan_build_support::{budget, embed_model, link_memory_x, or_exit};

fn main() {
    or_exit(link_memory_x());
    or_exit(embed_model(&budget::PICO2));
}
