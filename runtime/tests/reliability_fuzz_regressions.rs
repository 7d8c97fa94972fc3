//! The fuzz targets' contract as plain tests: a file is refused with an error or it loads, and a
//! loaded generator runs on buffers of exactly `scratch_len()` / `output_len()`. Replays the
//! committed fuzz seeds (`fuzz/corpus-seeds/`), the shipped models, and every truncation and
//! every single-byte change of a small file's header.

mod common;

use std::path::Path;

use common::conv_embed;
use runtime::format::DType;
use runtime::rng::LatentRng;
use runtime::Generator;

/// Loads `bytes`; if accepted, generates every class with exactly-sized buffers, which must work,
/// and with one element less of each buffer, which must be refused. Returns whether it loaded.
fn contract(bytes: &[u8], what: &str) -> bool {
    let Ok(g) = Generator::load(bytes) else {
        return false;
    };
    let mut z = vec![0.0f32; g.latent_dim()];
    LatentRng::new(3).fill_normal(&mut z);
    let mut scratch = vec![0.0f32; g.scratch_len()];
    let mut out = vec![0.0f32; g.output_len()];
    let classes: Vec<Option<usize>> = match g.num_classes() {
        0 => vec![None],
        n => (0..n).map(Some).collect(),
    };
    for class in classes {
        if let Err(e) = g.generate(&z, class, &mut scratch, &mut out) {
            panic!("{what}: loaded but cannot generate class {class:?}: {e}");
        }
        let (s, o) = (scratch.len(), out.len());
        assert!(
            g.generate(&z, class, &mut scratch[..s - 1], &mut out)
                .is_err(),
            "{what}: ran with a scratch buffer one element short"
        );
        assert!(
            g.generate(&z, class, &mut scratch, &mut out[..o - 1])
                .is_err(),
            "{what}: ran with an output buffer one element short"
        );
    }
    true
}

#[test]
fn committed_fuzz_seeds_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // no seeds committed: nothing the fuzzer found to replay
    };
    for e in entries {
        let path = e.unwrap().path();
        contract(&std::fs::read(&path).unwrap(), &path.display().to_string());
    }
}

#[test]
fn shipped_generators_run_on_exact_buffers() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut seen = 0;
    for e in std::fs::read_dir(&models).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".safetensors") || name.contains("classifier") {
            continue;
        }
        assert!(
            contract(&std::fs::read(&path).unwrap(), &name),
            "{name} does not load"
        );
        seen += 1;
    }
    assert!(seen > 0, "no generator in models/");
}

#[test]
fn every_truncation_is_refused() {
    for dtype in [DType::F16, DType::F32] {
        let file = conv_embed().build(dtype);
        for len in 0..file.len() {
            assert!(
                Generator::load(&file[..len]).is_err(),
                "{dtype:?} file cut to {len} of {} bytes was accepted",
                file.len()
            );
        }
        assert!(contract(&file, "conv_embed"));
    }
}

#[test]
fn every_header_byte_change_is_safe() {
    let file = conv_embed().build(DType::F16);
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut accepted = 0;
    for i in 0..header_end {
        for v in [0u8, b' ', b'"', b'0', b'9', b'{', b']', 0xff, file[i] ^ 1] {
            if v == file[i] {
                continue;
            }
            let mut m = file.clone();
            m[i] = v;
            if contract(&m, &format!("byte {i} set to {v:#04x}")) {
                accepted += 1;
            }
        }
    }
    // Some changes are harmless (a digit of a provenance value, whitespace), most are not.
    assert!(
        accepted < header_end,
        "{accepted} of the changes were accepted"
    );
}
