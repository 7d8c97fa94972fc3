//! The toy benchmark's options: `--toy-net small|large` and `--lr-decay none|linear`: checks,
//! defaults for configurations written before they existed, training, resume and export.

mod common;

use candle_core::Device;
use common::{export_run, resume_args, snapshot, tiny_args};
use trainer::config::{TrainArgs, TrainConfig};
use trainer::data::toy::ToyKind;
use trainer::models::{Arch, ToyNet};
use trainer::optim::LrDecay;
use trainer::train::Trainer;

fn toy_args(runs: &std::path::Path) -> TrainArgs {
    let mut a = tiny_args(Arch::Toy, false, runs);
    a.toy = Some(ToyKind::Grid25);
    a.limit = None;
    a
}

#[test]
fn options_are_checked_and_default_to_the_old_behaviour() {
    let dir = std::env::temp_dir();
    let mut a = tiny_args(Arch::Dcgan, false, &dir);
    a.toy_net = Some(ToyNet::Large);
    let err = TrainConfig::from_args(&a).unwrap_err().to_string();
    assert!(err.contains("--toy-net") && err.contains("dcgan"), "{err}");

    let cfg = TrainConfig::from_args(&toy_args(&dir)).unwrap();
    assert_eq!(cfg.toy_net, ToyNet::Small);
    assert_eq!(cfg.adam.decay, LrDecay::None);
    // A configuration written before the options existed reads as small and constant.
    let mut json = serde_json::to_value(&cfg).unwrap();
    json.as_object_mut().unwrap().remove("toy_net");
    json["adam"].as_object_mut().unwrap().remove("decay");
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.toy_net, ToyNet::Small);
    assert_eq!(old.adam.decay, LrDecay::None);
}

#[test]
fn linear_decay_changes_the_updates_after_the_first() {
    let dir = std::env::temp_dir();
    let make = |decay: Option<LrDecay>| {
        let mut a = toy_args(&dir);
        a.steps = Some(4);
        a.lr_decay = decay;
        Trainer::new(TrainConfig::from_args(&a).unwrap(), &Device::Cpu).unwrap()
    };
    let (mut constant, mut decayed) = (make(None), make(Some(LrDecay::Linear)));
    assert_eq!(decayed.opt_g.horizon, 4);
    constant.train_step().unwrap();
    decayed.train_step().unwrap();
    // The first update uses the full learning rate in both runs.
    assert_eq!(
        snapshot(&constant.gan.g_params),
        snapshot(&decayed.gan.g_params)
    );
    constant.train_step().unwrap();
    decayed.train_step().unwrap();
    assert_ne!(
        snapshot(&constant.gan.g_params),
        snapshot(&decayed.gan.g_params)
    );
}

#[test]
fn a_large_decayed_run_trains_resumes_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = toy_args(dir.path());
    a.toy_net = Some(ToyNet::Large);
    a.lr_decay = Some(LrDecay::Linear);
    a.pack = Some(2);
    a.steps = Some(3);
    let first = trainer::train::run(&a).unwrap();
    let saved = TrainConfig::load(&first.run_dir).unwrap();
    assert_eq!(saved.toy_net, ToyNet::Large);
    assert_eq!(saved.adam.decay, LrDecay::Linear);
    assert!(first.run_dir.to_string_lossy().contains("toy"));
    // Resume without the options: the run's configuration supplies them.
    let resume = resume_args(&first.run_dir, 5);
    let second = trainer::train::run(&resume).unwrap();
    assert_eq!(second.steps, 5);
    let loaded = trainer::checkpoint::read(&second.checkpoint).unwrap();
    assert_eq!(loaded.info.spec.toy_net, ToyNet::Large);
    // Export folds the four batch norms and checks the runtime against candle.
    let out = dir.path().join("toy-large.safetensors");
    export_run(&first.run_dir, &out);
    let bytes = std::fs::read(&out).unwrap();
    let model = runtime::Generator::load(&bytes).unwrap();
    assert_eq!(model.layers().count(), 9, "4 x (dense, relu) + dense");
}
