//! The generator's update runs D with its parameters as constants (`DiscriminatorNet::frozen`)
//! so that no gradient is computed for them. That must not change what the update computes: the
//! same logits and the same gradient reaching the generated images, bit for bit, for every
//! architecture, conditional or not, packed or not; and no gradient for any of D's parameters.

use candle_core::{DType, Device, Tensor};
use trainer::models::{Arch, Gan, ModelSpec, ToyNet};

fn spec(arch: Arch, classes: usize, pack: usize, toy_net: ToyNet) -> ModelSpec {
    let (channels, side) = match arch {
        Arch::Toy => (2, 1),
        _ => (1, 8),
    };
    ModelSpec {
        arch,
        latent_dim: 4,
        num_classes: classes,
        embed_dim: classes,
        channels,
        height: side,
        width: side,
        pack,
        toy_net,
        g_width: 1,
        d_width: 1,
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn frozen_discriminator_gives_the_same_logits_and_input_gradients() {
    let dev = Device::Cpu;
    let cases = [
        (Arch::Mlp, 0, 1, ToyNet::Small),
        (Arch::Mlp, 3, 2, ToyNet::Small),
        (Arch::Dcgan, 0, 1, ToyNet::Small),
        (Arch::Dcgan, 3, 1, ToyNet::Small),
        (Arch::Dcgan, 0, 2, ToyNet::Small),
        (Arch::Toy, 0, 1, ToyNet::Small),
        (Arch::Toy, 0, 2, ToyNet::Large),
    ];
    for (arch, classes, pack, net) in cases {
        let s = spec(arch, classes, pack, net);
        let gan = Gan::new(&s, &dev, 1).unwrap();
        let b = 4;
        // A tracked input, like G's output.
        let z = candle_core::Var::from_tensor(
            &Tensor::randn(0f32, 1.0, (b, s.channels, s.height, s.width), &dev).unwrap(),
        )
        .unwrap();
        let labels = (classes > 0).then(|| Tensor::new(&[0u32, 1, 2, 1], &dev).unwrap());
        let x = (z.as_tensor() * 0.5).unwrap();

        let trained = gan.d.forward(&x, labels.as_ref()).unwrap();
        let frozen_d = gan.d.frozen();
        let frozen = frozen_d.forward(&x, labels.as_ref()).unwrap();
        let what = format!("{arch:?}, {classes} classes, pack {pack}, {net:?}");
        assert_eq!(bits(&trained), bits(&frozen), "{what}: logits differ");

        let gt = trained.sum_all().unwrap().backward().unwrap();
        let gf = frozen.sum_all().unwrap().backward().unwrap();
        assert_eq!(
            bits(gt.get(&z).unwrap()),
            bits(gf.get(&z).unwrap()),
            "{what}: input gradients differ"
        );
        for (name, var) in gan.d_params.all() {
            if var.dtype() != DType::F32 {
                continue;
            }
            assert!(
                gf.get(var).is_none(),
                "{what}: a gradient was computed for {name}"
            );
        }
        // The ordinary forward pass still gives D's parameters their gradients.
        assert!(gan
            .d_params
            .trainable()
            .iter()
            .all(|(_, v)| gt.get(v).is_some()));
    }
}
