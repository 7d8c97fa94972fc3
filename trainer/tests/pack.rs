//! PacGAN (`--pack N`): option checks, packed discriminators for every architecture, training,
//! resume and export of a packed run.

mod common;

use candle_core::{Device, Tensor};
use common::{export_run, resume_args, snapshot, tiny_args};
use trainer::config::TrainConfig;
use trainer::models::{Arch, Gan};
use trainer::train::Trainer;

fn packed_trainer(arch: Arch, conditional: bool, pack: usize) -> Trainer {
    let mut a = tiny_args(arch, conditional, &std::env::temp_dir());
    if arch == Arch::Toy {
        a.toy = Some(trainer::data::toy::ToyKind::Ring8);
    }
    a.pack = Some(pack);
    let cfg = TrainConfig::from_args(&a).unwrap();
    Trainer::new(cfg, &Device::Cpu).unwrap()
}

#[test]
fn pack_must_divide_the_batch_and_be_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Mlp, false, dir.path());
    a.pack = Some(3); // batch 16
    let err = TrainConfig::from_args(&a).err().unwrap().to_string();
    assert!(
        err.contains("--batch-size 16") && err.contains("--pack 3"),
        "{err}"
    );
    for bad in [0, 65] {
        a.pack = Some(bad);
        let err = TrainConfig::from_args(&a).err().unwrap().to_string();
        assert!(err.contains(&format!("--pack {bad}")), "{err}");
    }
    a.pack = Some(4);
    let cfg = TrainConfig::from_args(&a).unwrap();
    assert_eq!(cfg.pack, 4);
    // Without the option, and in a configuration written before it existed, the pack is 1.
    a.pack = None;
    assert_eq!(TrainConfig::from_args(&a).unwrap().pack, 1);
    let mut json: serde_json::Value =
        serde_json::to_value(TrainConfig::from_args(&a).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("pack");
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.pack, 1);
}

#[test]
fn a_packed_discriminator_scores_one_logit_per_pack() {
    for arch in [Arch::Toy, Arch::Mlp, Arch::Dcgan] {
        for conditional in [false, true] {
            let mut t = packed_trainer(arch, conditional, 4);
            let b = t.batch(0).unwrap();
            let batch = (b.real, b.real_labels);
            let logits = t
                .gan
                .d
                .forward(&batch.0, batch.1.as_ref())
                .unwrap_or_else(|e| panic!("{arch} cond={conditional}: {e}"));
            assert_eq!(logits.dims(), &[16 / 4], "{arch} cond={conditional}");
            // A batch the pack does not divide is refused with a clear error, not a panic.
            let odd = batch.0.narrow(0, 0, 6).unwrap();
            let odd_labels = batch.1.as_ref().map(|l| l.narrow(0, 0, 6).unwrap());
            let err = t
                .gan
                .d
                .forward(&odd, odd_labels.as_ref())
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("packs 4 samples") && err.contains("batch of 6"),
                "{arch}: {err}"
            );
        }
    }
}

#[test]
fn a_pack_sees_its_members_in_order() {
    // Swapping two samples of one pack changes its score; swapping two whole packs swaps scores.
    let mut t = packed_trainer(Arch::Mlp, false, 2);
    let x = t.batch(0).unwrap().real;
    let base = t.gan.d.forward(&x, None).unwrap().to_vec1::<f32>().unwrap();
    // The scores of the batch in the order `order`.
    let scores = |order: Vec<u32>| {
        let order = Tensor::new(order, &Device::Cpu).unwrap();
        let x = x.index_select(&order, 0).unwrap();
        t.gan.d.forward(&x, None).unwrap().to_vec1::<f32>().unwrap()
    };
    let mut within: Vec<u32> = (0..16).collect();
    within.swap(0, 1);
    let s = scores(within);
    assert!((s[0] - base[0]).abs() > 1e-6 && s[1..] == base[1..]);
    let mut across: Vec<u32> = (0..16).collect();
    across.swap(0, 2);
    across.swap(1, 3);
    let s = scores(across);
    assert_eq!((s[0], s[1]), (base[1], base[0]));
}

#[test]
fn packed_runs_train_with_finite_losses() {
    for (arch, conditional, pack) in [
        (Arch::Toy, false, 2),
        (Arch::Mlp, false, 2),
        (Arch::Dcgan, false, 4),
        (Arch::Dcgan, true, 2),
    ] {
        let mut t = packed_trainer(arch, conditional, pack);
        let before = (snapshot(&t.gan.g_params), snapshot(&t.gan.d_params));
        for _ in 0..3 {
            let s = t.train_step().unwrap();
            for v in [s.d_loss, s.g_loss, s.d_real, s.d_fake] {
                assert!(v.is_finite(), "{arch} pack {pack}: {s:?}");
            }
        }
        assert_ne!(before.0, snapshot(&t.gan.g_params), "{arch}: G unchanged");
        assert_ne!(before.1, snapshot(&t.gan.d_params), "{arch}: D unchanged");
    }
}

#[test]
fn resume_and_export_keep_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Dcgan, false, dir.path());
    a.pack = Some(2);
    a.steps = Some(2);
    let first = trainer::train::run(&a).unwrap();
    let saved = TrainConfig::load(&first.run_dir).unwrap();
    assert_eq!(saved.pack, 2);
    // Resume without --pack: the run's configuration supplies it, and its checkpoint matches.
    let resume = resume_args(&first.run_dir, 4);
    let second = trainer::train::run(&resume).unwrap();
    assert_eq!(second.steps, 4);
    let loaded = trainer::checkpoint::read(&second.checkpoint).unwrap();
    assert_eq!(loaded.info.spec.pack, 2);
    assert_eq!(TrainConfig::load(&first.run_dir).unwrap().pack, 2);
    // A checkpoint of the packed run does not load into an unpacked discriminator.
    let mut spec = loaded.info.spec.clone();
    spec.pack = 1;
    let plain = Gan::new(&spec, &Device::Cpu, 0).unwrap();
    assert!(trainer::checkpoint::restore(&loaded, &plain, None).is_err());
    // Export only needs the generator: the file is written and verified by the runtime.
    let out = dir.path().join("packed.mgan");
    export_run(&first.run_dir, &out);
    assert!(out.metadata().unwrap().len() > 0);
}
