//! The training algorithm on tiny data: finite losses, the update order, resume.

mod common;

use common::{resume_args, snapshot, tiny_args, tiny_trainer};
use trainer::models::Arch;

#[test]
fn losses_are_finite_and_the_generator_learns() {
    for (arch, cond) in [(Arch::Mlp, false), (Arch::Dcgan, true)] {
        let mut t = tiny_trainer(arch, cond);
        let before = snapshot(&t.gan.g_params);
        for _ in 0..3 {
            let s = t.train_step().unwrap();
            for v in [s.d_loss, s.g_loss, s.d_real, s.d_fake] {
                assert!(v.is_finite(), "{arch}: {s:?}");
            }
            assert!((0.0..=1.0).contains(&s.d_real) && (0.0..=1.0).contains(&s.d_fake));
        }
        assert_eq!(t.step, 3);
        let after = snapshot(&t.gan.g_params);
        for (name, v) in &before {
            if name.contains("running") {
                continue;
            }
            assert_ne!(
                v, &after[name],
                "{arch}: generator tensor {name} did not change"
            );
        }
    }
}

#[test]
fn each_update_touches_only_its_own_network() {
    for (arch, cond) in [(Arch::Mlp, true), (Arch::Dcgan, false), (Arch::Toy, false)] {
        let mut t = if arch == Arch::Toy {
            let mut a = tiny_args(arch, cond, &std::env::temp_dir());
            a.toy = Some(trainer::data::toy::ToyKind::Ring8);
            let cfg = trainer::config::TrainConfig::from_args(&a).unwrap();
            trainer::train::Trainer::new(cfg, &candle_core::Device::Cpu).unwrap()
        } else {
            tiny_trainer(arch, cond)
        };
        let batch = t.batch(0).unwrap();
        let (g0, d0) = (snapshot(&t.gan.g_params), snapshot(&t.gan.d_params));
        let (fake, _) = t.generator_update(&batch).unwrap();
        let (g1, d1) = (snapshot(&t.gan.g_params), snapshot(&t.gan.d_params));
        assert_eq!(
            d0, d1,
            "{arch}: the generator update changed the discriminator"
        );
        assert_ne!(g0, g1, "{arch}: the generator update changed nothing");
        t.discriminator_update(&batch, &fake).unwrap();
        let (g2, d2) = (snapshot(&t.gan.g_params), snapshot(&t.gan.d_params));
        assert_eq!(
            g1, g2,
            "{arch}: the discriminator update changed the generator"
        );
        assert_ne!(d1, d2, "{arch}: the discriminator update changed nothing");
    }
}

#[test]
fn the_step_draws_are_reproducible() {
    let mut a = tiny_trainer(Arch::Mlp, false);
    let mut b = tiny_trainer(Arch::Mlp, false);
    for _ in 0..2 {
        let (sa, sb) = (a.train_step().unwrap(), b.train_step().unwrap());
        assert_eq!(sa.g_loss.to_bits(), sb.g_loss.to_bits());
    }
    let x = a.batch(7).unwrap().z.to_vec2::<f32>().unwrap();
    let y = b.batch(7).unwrap().z.to_vec2::<f32>().unwrap();
    assert_eq!(x, y);
}

#[test]
fn resume_continues_the_step_count_and_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // An uninterrupted 6-step run ...
    let mut whole = tiny_args(Arch::Mlp, false, dir.path());
    whole.steps = Some(6);
    whole.name = Some("whole".into());
    let full = trainer::train::run(&whole).unwrap();
    assert_eq!(full.steps, 6);
    // ... and one stopped after 4 steps, then resumed to 6.
    let mut part = tiny_args(Arch::Mlp, false, dir.path());
    part.steps = Some(4);
    part.checkpoint_every = Some(2);
    part.name = Some("split".into());
    let first = trainer::train::run(&part).unwrap();
    assert_eq!(first.steps, 4);
    let resume = resume_args(&first.run_dir, 6);
    let second = trainer::train::run(&resume).unwrap();
    assert_eq!(second.steps, 6);
    let metrics = std::fs::read_to_string(first.run_dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // One line per step (log_every 1): the resumed part continues at 5, nothing is repeated.
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6], "metrics lines: {metrics}");
    // Same batches, latents and optimiser state: the two runs end with the same weights.
    let a = trainer::checkpoint::read(&full.checkpoint).unwrap();
    let b = trainer::checkpoint::read(&second.checkpoint).unwrap();
    for (name, t) in &a.tensors {
        let (x, y) = (
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.tensors[name]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
        );
        let diff = x
            .iter()
            .zip(&y)
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(diff <= 1e-5, "{name} differs by {diff} after resume");
    }
}

#[test]
fn a_corrupted_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Mlp, false, dir.path());
    a.steps = Some(4);
    a.checkpoint_every = Some(2);
    let run = trainer::train::run(&a).unwrap();
    // Flip a byte in the newest checkpoint's tensor data.
    let mut bytes = std::fs::read(&run.checkpoint).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    std::fs::write(&run.checkpoint, &bytes).unwrap();
    let err = trainer::checkpoint::read(&run.checkpoint)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("checksum"), "{err}");
    let loaded = trainer::checkpoint::newest_valid(&run.run_dir).unwrap();
    assert_eq!(loaded.info.step, 2);
    // A truncated file is refused too.
    std::fs::write(&run.checkpoint, &bytes[..n / 2]).unwrap();
    assert!(trainer::checkpoint::read(&run.checkpoint).is_err());
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Mlp, false, dir.path());
    a.steps = Some(1);
    let run = trainer::train::run(&a).unwrap();
    let loaded = trainer::checkpoint::read(&run.checkpoint).unwrap();
    let other = tiny_trainer(Arch::Dcgan, false);
    let err = trainer::checkpoint::restore(&loaded, &other.gan, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("architecture mlp in the checkpoint, dcgan in this run"),
        "{err}"
    );
}

#[test]
fn bad_data_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tiny_args(Arch::Mlp, false, dir.path());
    a.data = Some(dir.path().join("nowhere"));
    let err = trainer::train::run(&a).err().unwrap().to_string();
    assert!(
        err.contains("nowhere") && err.contains("not found"),
        "{err}"
    );

    let data = dir.path().join("corrupt");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("train-images-idx3-ubyte"),
        [0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28],
    )
    .unwrap();
    std::fs::write(
        data.join("train-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 2, 1, 2],
    )
    .unwrap();
    a.data = Some(data.clone());
    let err = trainer::train::run(&a).err().unwrap().to_string();
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("not a valid IDX file"),
        "{err}"
    );

    // A gzip file cut short.
    let full =
        std::fs::read(trainer::run_dir::default_data_dir().join("train-labels-idx1-ubyte.gz"))
            .unwrap();
    std::fs::write(
        data.join("train-labels-idx1-ubyte.gz"),
        &full[..full.len() / 2],
    )
    .unwrap();
    let err = trainer::data::idx::read_idx(&data.join("train-labels-idx1-ubyte.gz"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("train-labels-idx1-ubyte.gz"), "{err}");
}
