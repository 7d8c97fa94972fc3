//! Embeds the model chosen by `MICROGAN_MODEL` and sets the latent walk and class from
//! `MICROGAN_WALK_STEPS` and `MICROGAN_CLASS` (the same settings as the microcontroller builds).

use gan_build_support::{budget, embed_model, or_exit, walk_settings};

fn main() {
    let embedded = or_exit(embed_model(&budget::RASPBERRY_PI));
    or_exit(walk_settings(&embedded));
}
