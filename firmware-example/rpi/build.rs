//! Embeds the model chosen by `MICROGAN_MODEL` (the same setting as the microcontroller builds).

use gan_build_support::{budget, embed_model, or_exit};

fn main() {
    or_exit(embed_model(&budget::RASPBERRY_PI));
}
