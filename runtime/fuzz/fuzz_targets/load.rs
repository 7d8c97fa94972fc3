//! `Generator::load` on arbitrary bytes: it must return, never panic, and a generator it accepts
//! must answer every query without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime::Generator;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(g) = Generator::load(bytes) {
        let _ = (g.latent_dim(), g.num_classes(), g.output_shape());
        let _ = (g.output_len(), g.scratch_len(), g.output_activation());
        let _ = (g.param_count(), g.macs(), g.metadata("provenance.seed"));
        for layer in g.layers() {
            let _ = layer;
        }
    }
});
