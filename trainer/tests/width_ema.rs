//! `--width` (wider dcgan networks) and `--ema` (the generator's weight average, exported in place
//! of the raw weights), on tiny runs.

mod common;

use common::{fails_with_one_line, resume_args, snapshot, tiny_args};
use trainer::models::Arch;

#[test]
fn width_multiplies_the_dcgan_channels_and_the_exported_file_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Dcgan, false, dir.path());
    a.width = Some(2);
    a.d_width = Some(3);
    let cfg = trainer::config::TrainConfig::from_args(&a).unwrap();
    let t = trainer::train::Trainer::new(cfg, &candle_core::Device::Cpu).unwrap();
    let g = t.gan.g_params.all();
    assert_eq!(g["fc.weight"].dims(), &[64 * 7 * 7, 100]);
    assert_eq!(g["up1.weight"].dims(), &[64, 32, 4, 4]);
    assert_eq!(t.gan.d_params.all()["conv1.weight"].dims(), &[48, 1, 4, 4]);
    let bytes =
        trainer::export::build_bytes(&t.gan, &[], trainer::export::ExportDtype::F16).unwrap();
    let gen = runtime::Generator::load(&bytes).unwrap();
    assert_eq!(gen.output_len(), 28 * 28);
}

#[test]
fn dcgan_networks_are_twice_as_wide_by_default_and_the_others_keep_their_size() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, width) in [(Arch::Dcgan, 2), (Arch::Mlp, 1)] {
        let a = tiny_args(arch, false, dir.path());
        assert_eq!(a.width, None);
        let cfg = trainer::config::TrainConfig::from_args(&a).unwrap();
        assert_eq!(cfg.width, width, "{arch}");
    }
    let a = tiny_args(Arch::Dcgan, false, dir.path());
    let t = trainer::train::Trainer::new(
        trainer::config::TrainConfig::from_args(&a).unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(t.gan.g_params.all()["up1.weight"].dims(), &[64, 32, 4, 4]);
}

#[test]
fn width_is_refused_for_the_fixed_size_networks_and_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, width, needle) in [
        (
            Arch::Mlp,
            2,
            "--width 2 widens the dcgan networks; mlp has a fixed size",
        ),
        (Arch::Dcgan, 0, "--width 0 must be 1..=16"),
        (Arch::Dcgan, 17, "--width 17 must be 1..=16"),
    ] {
        let mut a = tiny_args(arch, false, dir.path());
        a.width = Some(width);
        let err = trainer::config::TrainConfig::from_args(&a)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    let mut a = tiny_args(Arch::Dcgan, false, dir.path());
    a.ema = Some(1.0);
    let err = trainer::config::TrainConfig::from_args(&a)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--ema 1 must be a decay in [0, 1)"), "{err}");
}

#[test]
fn the_average_is_checkpointed_resumed_and_exported_in_place_of_the_raw_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Dcgan, false, dir.path());
    a.ema = Some(0.9);
    a.steps = Some(4);
    a.checkpoint_every = Some(2);
    a.name = Some("split".into());
    let first = trainer::train::run(&a).unwrap();
    // Resumed to 6 steps, the run ends where an uninterrupted one does, average included.
    let second = trainer::train::run(&resume_args(&first.run_dir, 6)).unwrap();
    a.steps = Some(6);
    a.name = Some("whole".into());
    let whole = trainer::train::run(&a).unwrap();
    let (x, y) = (
        trainer::checkpoint::read(&second.checkpoint).unwrap(),
        trainer::checkpoint::read(&whole.checkpoint).unwrap(),
    );
    let name = "ema.up2.weight";
    let (p, q) = (
        x.tensors[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        y.tensors[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
    );
    let diff = p
        .iter()
        .zip(&q)
        .fold(0f32, |m, (s, t)| m.max((s - t).abs()));
    assert!(diff <= 1e-5, "{name} differs by {diff} after resume");
    // The exported generator is the average, not the raw weights.
    let gan = trainer::checkpoint::load_gan(&y).unwrap();
    let exported = snapshot(&gan.g_params);
    let raw = y.tensors["g.up2.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(exported["up2.weight"], q);
    assert_ne!(exported["up2.weight"], raw);
    // Its batch-norm statistics are measured for the averaged weights, the same way every time.
    let raw_var = y.tensors["g.bn1.running_var"].to_vec1::<f32>().unwrap();
    assert_ne!(exported["bn1.running_var"], raw_var);
    let again = snapshot(&trainer::checkpoint::load_gan(&y).unwrap().g_params);
    assert_eq!(exported, again);
    // A resume may not change the decay or the width.
    let mut changed = resume_args(&whole.run_dir, 8);
    changed.ema = Some(0.5);
    changed.width = Some(1);
    let err = trainer::train::run(&changed).err().unwrap().to_string();
    assert!(
        err.contains("--ema 0.5 (the run has 0.9)") && err.contains("--width 1 (the run has 2)"),
        "{err}"
    );
}

#[test]
fn scale_and_raw_weights_refuse_what_they_cannot_do() {
    fails_with_one_line(
        &[
            "sample",
            "--model",
            "m.safetensors",
            "--out",
            "o.png",
            "--scale",
            "0",
        ],
        &["--scale", "expected a whole number from 1 to 16"],
    );
    fails_with_one_line(
        &["eval", "--model", "m.safetensors", "--raw-weights"],
        &["--raw-weights", "use it with --run"],
    );
}
