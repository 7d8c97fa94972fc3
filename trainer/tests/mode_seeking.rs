//! `--mode-seeking WEIGHT` (MSGAN): option checks, paired class labels, and that the term changes
//! the generator's update and nothing else.

mod common;

use candle_core::Device;
use common::{snapshot, tiny_args};
use trainer::config::TrainConfig;
use trainer::models::Arch;
use trainer::train::Trainer;

fn trainer(weight: Option<f64>) -> Trainer {
    let mut a = tiny_args(Arch::Dcgan, true, &std::env::temp_dir());
    a.mode_seeking = weight;
    Trainer::new(TrainConfig::from_args(&a).unwrap(), &Device::Cpu).unwrap()
}

#[test]
fn the_weight_is_checked_and_defaults_to_none() {
    let dir = std::env::temp_dir();
    let mut a = tiny_args(Arch::Dcgan, true, &dir);
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        a.mode_seeking = Some(bad);
        let err = TrainConfig::from_args(&a).unwrap_err().to_string();
        assert!(err.contains("--mode-seeking"), "{err}");
    }
    a.mode_seeking = Some(1.0);
    a.batch_size = Some(15);
    let err = TrainConfig::from_args(&a).unwrap_err().to_string();
    assert!(
        err.contains("--batch-size 15") && err.contains("odd"),
        "{err}"
    );
    a.mode_seeking = None;
    a.batch_size = Some(16);
    let cfg = TrainConfig::from_args(&a).unwrap();
    assert_eq!(cfg.mode_seeking, 0.0);
    let mut json = serde_json::to_value(&cfg).unwrap();
    json.as_object_mut().unwrap().remove("mode_seeking");
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.mode_seeking, 0.0);
}

#[test]
fn paired_samples_share_their_class_and_not_their_latent() {
    let mut t = trainer(Some(1.0));
    let b = t.batch(0).unwrap();
    let labels = b.fake_labels.unwrap().to_vec1::<u32>().unwrap();
    let (first, second) = labels.split_at(8);
    assert_eq!(first, second);
    let z = b.z.to_vec2::<f32>().unwrap();
    assert_ne!(z[0], z[8]);
    // Without the term the labels are drawn independently.
    let mut plain = trainer(None);
    let labels = plain
        .batch(0)
        .unwrap()
        .fake_labels
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    assert_ne!(labels[..8], labels[8..]);
}

#[test]
fn the_term_changes_the_generator_update_only() {
    let (mut with, mut without) = (trainer(Some(1.0)), trainer(None));
    let d_before = snapshot(&with.gan.d_params);
    assert_eq!(d_before, snapshot(&without.gan.d_params));
    let batch = with.batch(0).unwrap();
    let (_, loss_with) = with.generator_update(&batch).unwrap();
    let (_, loss_without) = without.generator_update(&batch).unwrap();
    // The reported loss is the adversarial one in both runs; the update is not the same.
    assert_eq!(
        loss_with.to_scalar::<f32>().unwrap(),
        loss_without.to_scalar::<f32>().unwrap()
    );
    assert_ne!(
        snapshot(&with.gan.g_params),
        snapshot(&without.gan.g_params)
    );
    assert_eq!(snapshot(&with.gan.d_params), d_before);
}
