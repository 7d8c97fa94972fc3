//! Export then run with the runtime: every architecture, conditional or not, matches candle.

mod common;

use common::tiny_trainer;
use trainer::export::{ExportDtype, ExportOptions, Tolerance};
use trainer::models::Arch;

#[test]
fn exported_generators_match_candle() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::Mlp, Arch::Dcgan] {
        for cond in [false, true] {
            let mut t = tiny_trainer(arch, cond);
            // A few steps so batch-norm statistics are far from their initial values.
            for _ in 0..3 {
                t.train_step().unwrap();
            }
            for dtype in [ExportDtype::F16, ExportDtype::F32, ExportDtype::I8] {
                let out = dir
                    .path()
                    .join(format!("{arch}-{cond}-{dtype:?}.safetensors"));
                // One picture per architecture is enough to prove the path.
                let no_samples = cond || dtype != ExportDtype::F16;
                let opts = ExportOptions {
                    out: Some(out.clone()),
                    dtype,
                    force: false,
                    no_samples,
                    check_latents: 4,
                    scale: None,
                };
                let r = t.export(&opts).unwrap();
                let tol = Tolerance::for_dtype(dtype);
                assert!(
                    r.max_abs_error <= tol.max_abs_error && r.psnr_db >= tol.min_psnr_db,
                    "{arch} {cond}: {r:?}"
                );
                let bytes = std::fs::read(&out).unwrap();
                let g = runtime::Generator::load(&bytes).unwrap();
                assert_eq!(g.num_classes(), if cond { 10 } else { 0 });
                assert_eq!(g.metadata("provenance.arch"), Some(arch.name()));
                assert_eq!(g.metadata("provenance.steps"), Some("3"));
                assert_eq!(g.metadata("provenance.batchnorm"), Some("folded"));
                // An integer file is version 2, records its quantisation and says what it chose.
                let integer = dtype == ExportDtype::I8;
                assert_eq!(g.is_integer(), integer);
                assert_eq!(g.metadata("provenance.quantization").is_some(), integer);
                assert_eq!(r.quantization.is_some(), integer);
                assert_eq!(out.with_extension("png").is_file(), !no_samples);
                // Refuses to replace it silently.
                let again = t.export(&opts).err().unwrap().to_string();
                assert!(again.contains("already exists"), "{again}");
            }
        }
    }
}

#[test]
fn batch_norm_folding_is_exact_in_f32() {
    let mut t = tiny_trainer(Arch::Dcgan, false);
    let start = std::time::Instant::now();
    for _ in 0..3 {
        t.train_step().unwrap();
    }
    let bytes = trainer::export::build_bytes(&t.gan, &[], ExportDtype::F32).unwrap();
    eprintln!("train {:?}", start.elapsed());
    let start = std::time::Instant::now();
    let (max_abs, psnr) = trainer::export::compare(&t.gan, &bytes, 4).unwrap();
    eprintln!("compare {:?}", start.elapsed());
    assert!(max_abs < 1e-4 && psnr > 90.0, "{max_abs} {psnr}");
}

#[test]
fn sample_writes_raw_bytes_and_checks_the_class() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny_trainer(Arch::Dcgan, true);
    t.train_step().unwrap();
    let bytes = trainer::export::build_bytes(&t.gan, &[], ExportDtype::F16).unwrap();
    let gen = runtime::Generator::load(&bytes).unwrap();
    let raw = dir.path().join("x.raw");
    let fmt = trainer::sample::SampleFormat::Raw;
    trainer::sample::write_samples(&gen, &raw, fmt, 3, Some(7), Some(3), None).unwrap();
    assert_eq!(std::fs::read(&raw).unwrap().len(), 3 * 28 * 28);
    let png = dir.path().join("x.png");
    let png_fmt = trainer::sample::SampleFormat::Png;
    trainer::sample::write_samples(&gen, &png, png_fmt, 3, None, Some(10), Some(2)).unwrap();
    assert!(image::open(&png).is_ok());
    let err = trainer::sample::write_samples(&gen, &raw, fmt, 3, Some(10), Some(3), None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("--class 10"), "{err}");
}
