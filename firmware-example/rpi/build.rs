//! Embeds the model chosen by `MICROGAN_MODEL` (the same setting as the microcontroller builds).

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    gan_app::build_support::embed_model_or_exit(&root, &gan_app::budget::RASPBERRY_PI);
}
