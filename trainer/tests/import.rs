//! `trainer import`: PyTorch's files (made by tests/fixtures/import/make_fixtures.py, so no
//! PyTorch is needed here), the trainer's own networks under PyTorch's key names, user layer
//! lists, and hostile state dicts.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use common::{tiny_trainer, trainer};
use trainer::export::{check_inputs, runtime_outputs, ExportDtype, CHECK_LATENTS};
use trainer::import::layer_list::parse;
use trainer::import::{import, ImportArch, ImportOptions, ImportReport, Source};
use trainer::models::{Arch, Gan};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn options(out: &Path, dtype: ExportDtype) -> ImportOptions {
    ImportOptions {
        out: out.to_path_buf(),
        dtype,
        force: false,
        against: None,
        no_samples: true,
    }
}

/// Imports `file` as `source` into `dir/out.safetensors`.
fn run(
    file: &Path,
    source: Source,
    dtype: ExportDtype,
    dir: &Path,
) -> trainer::Result<(ImportReport, String)> {
    let opts = options(&dir.join("out.safetensors"), dtype);
    import(file, &source, None, &opts)
}

fn auto() -> Source {
    Source::Arch(ImportArch::Auto)
}

#[test]
fn pytorch_files_reproduce_pytorchs_images() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "gan_tiny.pt",
            "gan_tiny_reference.safetensors",
            "pytorch-gan",
        ),
        (
            "gan_tiny_bare.safetensors",
            "gan_tiny_reference.safetensors",
            "pytorch-gan",
        ),
        (
            "dcgan_tiny.pt",
            "dcgan_tiny_reference.safetensors",
            "pytorch-dcgan",
        ),
    ];
    for (file, reference, arch) in cases {
        // An integer file is held to PyTorch's images within the i8 tolerance's 0.25.
        let dtypes = [
            (ExportDtype::F16, 5e-3),
            (ExportDtype::F32, 1e-6),
            (ExportDtype::I8, 0.25),
        ];
        for (dtype, limit) in dtypes {
            let out = dir.path().join(format!("{file}-{dtype:?}.safetensors"));
            let mut opts = options(&out, dtype);
            opts.against = Some(fixture(reference));
            opts.no_samples = dtype != ExportDtype::F16;
            let (r, name) = import(&fixture(file), &auto(), None, &opts).unwrap();
            assert_eq!(name, arch);
            let (max_abs, _, n) = r.against.unwrap();
            assert!(max_abs <= limit, "{file} {dtype:?}: {max_abs}");
            assert_eq!((n, r.latent_dim, r.num_classes), (4, 8, 0));
            let bytes = std::fs::read(&out).unwrap();
            let g = runtime::Generator::load(&bytes).unwrap();
            assert_eq!(g.metadata("provenance.source"), Some(file));
            assert_eq!(g.metadata("provenance.arch"), Some(arch));
            assert_eq!(g.metadata("provenance.batchnorm"), Some("folded"));
            assert_eq!(g.is_integer(), dtype == ExportDtype::I8);
            assert_eq!(out.with_extension("png").is_file(), !opts.no_samples);
        }
    }
    let out = dir.path().join("gan_tiny.pt-F16.safetensors");
    let s = runtime::Generator::load(&std::fs::read(&out).unwrap())
        .unwrap()
        .output_shape();
    assert_eq!((s.c, s.h, s.w), (1, 4, 4));
}

/// The trainer's generator parameters, keys renamed by `rename`.
fn state_dict(gan: &Gan, rename: impl Fn(&str) -> String) -> HashMap<String, Tensor> {
    gan.g_params
        .all()
        .iter()
        .map(|(k, v)| (rename(k), v.as_tensor().clone()))
        .collect()
}

/// `gan.py`'s key for a parameter of the trainer's `mlp` generator, which is the same network.
fn gan_py_key(k: &str) -> String {
    let (module, rest) = k.split_once('.').unwrap();
    let index = match module {
        "fc0" => 0,
        "fc1" => 2,
        "bn1" => 3,
        "fc2" => 5,
        "bn2" => 6,
        "fc3" => 8,
        "bn3" => 9,
        "out" => 11,
        _ => panic!("{k}"),
    };
    format!("model.{index}.{rest}")
}

/// The runtime's images from a file on the check latents.
fn images(file: &[u8]) -> Vec<f32> {
    let g = runtime::Generator::load(file).unwrap();
    let (z, classes) = check_inputs(g.latent_dim(), g.num_classes(), CHECK_LATENTS);
    runtime_outputs(&g, &z, &classes).unwrap()
}

/// Candle's evaluation-mode output of the trainer's generator on the check latents.
fn candle_images(gan: &Gan) -> Vec<f32> {
    let s = &gan.spec;
    let (z, classes) = check_inputs(s.latent_dim, s.num_classes, CHECK_LATENTS);
    let z = Tensor::from_slice(&z, (CHECK_LATENTS, s.latent_dim), &Device::Cpu).unwrap();
    let l = Tensor::from_slice(&classes, CHECK_LATENTS, &Device::Cpu).unwrap();
    let y = gan.g.forward_t(&z, s.conditional().then_some(&l), false);
    y.unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn trainer_networks_import_under_pytorch_and_their_own_key_names() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Arch, bool, Source, &str); 5] = [
        (
            Arch::Mlp,
            false,
            Source::Arch(ImportArch::PytorchGan),
            "pytorch-gan",
        ),
        (Arch::Mlp, false, auto(), "mlp"),
        (Arch::Mlp, true, auto(), "mlp"),
        (Arch::Dcgan, false, auto(), "dcgan"),
        (Arch::Dcgan, true, Source::Arch(ImportArch::Dcgan), "dcgan"),
    ];
    for (arch, cond, source, name) in cases {
        let mut t = tiny_trainer(arch, cond);
        // Batch-norm statistics away from their initial values.
        for _ in 0..3 {
            t.train_step().unwrap();
        }
        let tensors = if name == "pytorch-gan" {
            state_dict(&t.gan, gan_py_key)
        } else {
            state_dict(&t.gan, str::to_string)
        };
        let file = dir.path().join(format!("{name}-{cond}.safetensors"));
        candle_core::safetensors::save(&tensors, &file).unwrap();
        let (r, found) = run(&file, source, ExportDtype::F32, dir.path()).unwrap();
        assert_eq!(found, name);
        assert_eq!(r.num_classes, if cond { 10 } else { 0 });
        assert_eq!((r.output.c, r.output.h, r.output.w), (1, 28, 28));
        let imported = std::fs::read(&r.path).unwrap();
        // Within f32 rounding of candle's own network, and the same bits as `trainer export`'s
        // file: the same fold of the same weights.
        let got = images(&imported);
        let want = candle_images(&t.gan);
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-4, "{name} {cond}: {max}");
        let exported = trainer::export::build_bytes(&t.gan, &[], ExportDtype::F32).unwrap();
        assert_eq!(got, images(&exported), "{name} {cond}");
        std::fs::remove_file(&r.path).unwrap();
    }
}

const DCGAN_PY: &str = "
    dense l1.0
    reshape c=4 h=2 w=2
    batchnorm conv_blocks.0          # BatchNorm2d(128): PyTorch's eps
    upsample scale=2
    conv2d conv_blocks.2 padding=1; batchnorm conv_blocks.3 eps=0.8; leaky_relu slope=0.2
    upsample scale=2
    conv2d conv_blocks.6 padding=1; batchnorm conv_blocks.7 eps=0.8; leaky_relu slope=0.2
    conv2d conv_blocks.9 padding=1
    tanh
";

#[test]
fn a_layer_list_imports_what_the_built_in_architecture_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("dcgan_tiny.pt");
    let (listed, name) = run(
        &file,
        Source::Layers(parse(DCGAN_PY).unwrap()),
        ExportDtype::F32,
        dir.path(),
    )
    .unwrap();
    assert_eq!(name, "layers");
    let listed = std::fs::read(&listed.path).unwrap();
    let other = tempfile::tempdir().unwrap();
    let (built_in, _) = run(&file, auto(), ExportDtype::F32, other.path()).unwrap();
    assert_eq!(
        images(&listed),
        images(&std::fs::read(built_in.path).unwrap())
    );

    // The wrong eps: the file is still checked against the same (wrong) network, so it is
    // written, but it no longer matches PyTorch.
    let wrong = DCGAN_PY.replace("eps=0.8", "eps=0.00001");
    let mut opts = options(&dir.path().join("wrong.safetensors"), ExportDtype::F32);
    opts.against = Some(fixture("dcgan_tiny_reference.safetensors"));
    let err = import(&file, &Source::Layers(parse(&wrong).unwrap()), None, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("differ from") && err.contains("nothing written"),
        "{err}"
    );
    assert!(!opts.out.exists());
}

/// The import's error for `file` read with the layer list `steps`.
fn list_error(file: &str, steps: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Layers(parse(steps).unwrap());
    let err = run(&fixture(file), source, ExportDtype::F16, dir.path()).unwrap_err();
    assert!(!dir.path().join("out.safetensors").exists());
    err.to_string()
}

#[test]
fn layer_lists_that_do_not_fit_the_weights_are_refused() {
    let swapped = DCGAN_PY.replace(
        "batchnorm conv_blocks.3 eps=0.8; leaky_relu slope=0.2",
        "leaky_relu slope=0.2; batchnorm conv_blocks.3 eps=0.8",
    );
    let err = list_error("dcgan_tiny.pt", &swapped);
    assert!(
        err.contains("batch norm `conv_blocks.3` follows `leaky_relu slope=0.2`"),
        "{err}"
    );
    let err = list_error(
        "dcgan_tiny.pt",
        &DCGAN_PY.replace("c=4 h=2 w=2", "c=1 h=4 w=4"),
    );
    assert_eq!(err, "`conv_blocks.0.weight` has shape [4], expected [1]");
    let err = list_error("dcgan_tiny.pt", "dense l1.0; conv2d conv_blocks.2");
    assert!(
        err.contains("needs a [C, H, W] image, the previous layer gives 16 flat values"),
        "{err}"
    );
    let err = list_error(
        "dcgan_tiny.pt",
        &DCGAN_PY.replace("reshape c=4 h=2 w=2", "reshape c=2 h=2 w=2"),
    );
    assert!(
        err.contains("16 values cannot be viewed as 2 x 2 x 2"),
        "{err}"
    );
    let err = list_error("dcgan_tiny.pt", "dense l1.0; tanh");
    assert!(
        err.contains("does not use") && err.contains("`conv_blocks.0.bias`"),
        "{err}"
    );
    let err = list_error("dcgan_tiny.pt", "leaky_relu; dense l1.0");
    assert!(err.contains("the first layer must be dense"), "{err}");
    let err = list_error(
        "gan_tiny.pt",
        "dense model.0; leaky_relu; batchnorm model.3",
    );
    assert!(
        err.contains("batch norm `model.3` follows `leaky_relu slope=0.01`"),
        "{err}"
    );
}

/// Writes `tensors` as a safetensors state dict in `dir` and imports it with `--arch auto`.
fn import_tensors(dir: &Path, tensors: &HashMap<String, Tensor>) -> String {
    let file = dir.join("hostile.safetensors");
    candle_core::safetensors::save(tensors, &file).unwrap();
    let err = run(&file, auto(), ExportDtype::F16, dir).unwrap_err();
    assert!(!dir.join("out.safetensors").exists());
    err.to_string()
}

#[test]
fn hostile_state_dicts_get_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good: HashMap<String, Tensor> = candle_core::pickle::read_all(fixture("gan_tiny.pt"))
        .unwrap()
        .into_iter()
        .collect();
    let edit = |f: &dyn Fn(&mut HashMap<String, Tensor>)| {
        let mut t = good.clone();
        f(&mut t);
        import_tensors(dir.path(), &t)
    };
    let err = edit(&|t| {
        t.remove("model.6.running_var");
    });
    assert_eq!(
        err,
        "the state dict has no `model.6.running_var` (the running_var of batch norm model.6)"
    );
    let err = edit(&|t| {
        let w = t["model.5.weight"].t().unwrap().contiguous().unwrap();
        t.insert("model.5.weight".into(), w);
    });
    assert_eq!(err, "`model.5.weight` has shape [16, 20], expected [_, 16]");
    let err = edit(&|t| {
        let w = t["model.3.weight"].narrow(0, 0, 15).unwrap();
        t.insert("model.3.weight".into(), w);
    });
    assert_eq!(err, "`model.3.weight` has shape [15], expected [16]");
    let err = edit(&|t| {
        let b = &t["model.11.bias"];
        let nan = Tensor::full(f32::NAN, b.dims(), &Device::Cpu).unwrap();
        t.insert("model.11.bias".into(), nan);
    });
    assert_eq!(err, "`model.11.bias` contains NaN or infinity");
    let err = edit(&|t| {
        let v = t["model.9.running_var"].affine(0.0, -1.0).unwrap();
        t.insert("model.9.running_var".into(), v);
    });
    assert!(
        err.starts_with("`model.9.running_var`: running_var + eps is not positive"),
        "{err}"
    );
    let err = edit(&|t| {
        t.insert(
            "extra.weight".into(),
            Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(err.contains("does not use: `extra.weight`"), "{err}");
    let err = edit(&|t| {
        t.retain(|k, _| !k.starts_with("model.11"));
    });
    assert!(
        err.starts_with("no known architecture has these keys"),
        "{err}"
    );
}

#[test]
fn damaged_and_foreign_files_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(
        &fixture("gan_legacy.pt"),
        auto(),
        ExportDtype::F16,
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("legacy (pre-1.6) format"), "{err}");
    let bytes = std::fs::read(fixture("gan_tiny.pt")).unwrap();
    for (name, content) in [
        ("truncated.pt", &bytes[..bytes.len() / 2]),
        ("empty.pt", &[][..]),
        ("text.pt", &b"not a state dict"[..]),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let err = run(&file, auto(), ExportDtype::F16, dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a readable PyTorch state dict"),
            "{name}: {err}"
        );
    }
    let err = run(
        &dir.path().join("missing.pt"),
        auto(),
        ExportDtype::F16,
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing.pt"), "{err}");
}

#[test]
fn image_shapes_come_from_the_weights_or_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("gan_tiny.pt");
    let mut opts = options(&dir.path().join("a.safetensors"), ExportDtype::F16);
    let shape = runtime::Shape { c: 1, h: 2, w: 8 };
    let (r, _) = import(&file, &auto(), Some(shape), &opts).unwrap();
    assert_eq!(r.output, shape);
    opts.out = dir.path().join("b.safetensors");
    let err = import(
        &file,
        &auto(),
        Some(runtime::Shape { c: 3, h: 2, w: 2 }),
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "the generator's 16 outputs: --image-shape 3,2,2 has 12 values"
    );
    let err = import(&fixture("dcgan_tiny.pt"), &auto(), Some(shape), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`l1.0.weight` has shape [16, 8]"), "{err}");
}

#[test]
fn the_command_writes_once_and_reports_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.safetensors");
    let src = fixture("gan_tiny.pt");
    let reference = fixture("gan_tiny_reference.safetensors");
    let args = [
        "import",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--against",
        reference.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = trainer(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("architecture       pytorch-gan"),
        "{stdout}"
    );
    assert!(stdout.contains("runtime vs PyTorch"), "{stdout}");
    assert!(out.is_file() && out.with_extension("png").is_file());
    let (code, _, stderr) = trainer(&args);
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    let list = dir.path().join("dcgan.layers");
    std::fs::write(&list, DCGAN_PY).unwrap();
    let dcgan = fixture("dcgan_tiny.pt");
    let (code, stdout, stderr) = trainer(&[
        "import",
        dcgan.to_str().unwrap(),
        "--layers-file",
        list.to_str().unwrap(),
        "--out",
        dir.path().join("d.safetensors").to_str().unwrap(),
        "--no-samples",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("architecture       layers"), "{stdout}");
    assert!(!dir.path().join("d.png").exists());
    let (code, _, stderr) = trainer(&[
        "import",
        src.to_str().unwrap(),
        "--layers",
        "dense",
        "--force",
    ]);
    assert_eq!((code, stderr.lines().count()), (1, 1), "{stderr}");
    assert!(stderr.contains("layer list, line 1"), "{stderr}");
    let (code, _, stderr) = trainer(&["import", src.to_str().unwrap(), "--image-shape", "1,x,2"]);
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
}

#[test]
fn a_conditional_generator_is_held_to_reference_images_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny_trainer(Arch::Dcgan, true);
    for _ in 0..3 {
        t.train_step().unwrap();
    }
    let d = t.gan.spec.latent_dim;
    let file = dir.path().join("cond.safetensors");
    candle_core::safetensors::save(&state_dict(&t.gan, str::to_string), &file).unwrap();
    // Candle's images of the trainer's network stand in for PyTorch's.
    let (z, classes) = check_inputs(d, 10, CHECK_LATENTS);
    let images =
        Tensor::from_slice(&candle_images(&t.gan), (CHECK_LATENTS, 784), &Device::Cpu).unwrap();
    let reference = |labels: Vec<i64>| {
        let path = dir.path().join("reference.safetensors");
        let tensors = HashMap::from([
            (
                "z".to_string(),
                Tensor::from_slice(&z, (CHECK_LATENTS, d), &Device::Cpu).unwrap(),
            ),
            ("images".to_string(), images.clone()),
            (
                "labels".to_string(),
                Tensor::new(labels, &Device::Cpu).unwrap(),
            ),
        ]);
        candle_core::safetensors::save(&tensors, &path).unwrap();
        path
    };
    let labels: Vec<i64> = classes.iter().map(|&c| i64::from(c)).collect();
    // f32: a few training steps leave the class a small (but, in f32, far too large) effect.
    let mut opts = options(&dir.path().join("out.safetensors"), ExportDtype::F32);
    opts.against = Some(reference(labels.clone()));
    let (r, _) = import(&file, &auto(), None, &opts).unwrap();
    assert_eq!(r.against.unwrap().2, CHECK_LATENTS);
    // Other labels give other images; a label beyond the classes is refused.
    opts.force = true;
    let shifted = labels.iter().map(|c| (c + 1) % 10).collect();
    opts.against = Some(reference(shifted));
    let err = import(&file, &auto(), None, &opts).unwrap_err().to_string();
    assert!(err.contains("differ from"), "{err}");
    let mut bad = labels;
    bad[3] = 10;
    opts.against = Some(reference(bad));
    let err = import(&file, &auto(), None, &opts).unwrap_err().to_string();
    assert!(err.ends_with("label 10 is not a class of 0..10"), "{err}");
}
