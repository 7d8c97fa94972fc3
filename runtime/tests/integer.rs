//! Version-2 (integer) generators: hand-built files of every layer kind
//! generate the values worked out by hand from `docs/model-format.md`,
//! quantised test generators stay close to their float forward pass, and
//! the `safetensors` crate reads the files with the same tensors.

mod common;

use common::{conv_embed, dcgan_plain, mlp_onehot, Spec};
use runtime::format::{LayerSpec, TensorRole, TABLE_LEN};
use runtime::write::{IntTensor, ModelBuilder};
use runtime::{Error, Generator, Shape};

/// Weight, bias and scale tensors.
fn wbs(w: &[i8], b: &[i32], s: &[f32]) -> Vec<(TensorRole, IntTensor)> {
    vec![
        (TensorRole::Weight, IntTensor::I8(w.to_vec())),
        (TensorRole::Bias, IntTensor::I32(b.to_vec())),
        (TensorRole::Scale, IntTensor::F32(s.to_vec())),
    ]
}

/// A table `T[j] = base + step * j`, easy to interpolate by hand.
fn table(base: i16, step: i16) -> Vec<(TensorRole, IntTensor)> {
    let t = (0..TABLE_LEN as i16).map(|j| base + step * j).collect();
    vec![(TensorRole::Table, IntTensor::I16(t))]
}

/// Runs `file` and returns the output in units of `2^-15`.
fn generate(file: &[u8], z: &[f32], class: Option<usize>) -> Vec<f32> {
    let g = Generator::load(file).unwrap();
    assert_eq!(g.format_version(), 2);
    assert!(g.is_integer() && !g.all_f16());
    let mut scratch = vec![f32::NAN; g.scratch_len()];
    let mut out = vec![f32::NAN; g.output_len()];
    g.generate(z, class, &mut scratch, &mut out).unwrap();
    out.iter().map(|v| v * 32768.0).collect()
}

/// One-hot conditioning, dense (a tie rounding up), leaky ReLU, reshape,
/// a stride-2 transposed convolution and a sigmoid with a negative input.
fn onehot_file() -> Vec<u8> {
    let mut b =
        ModelBuilder::new_integer(2, 2, Shape { c: 1, h: 2, w: 2 }, vec![4, 4, 6, 6, 6, 8, 15]);
    b.int_layer(LayerSpec::OneHotConcat { classes: 2 }, vec![])
        .int_layer(
            LayerSpec::Dense {
                in_features: 4,
                out_features: 2,
            },
            wbs(&[2, -1, 3, 0, 1, 1, 0, -4], &[5, -5], &[0.375, 0.0625]),
        )
        .int_layer(LayerSpec::LeakyRelu { slope: 0.5 }, vec![])
        .int_layer(LayerSpec::Reshape { c: 2, h: 1, w: 1 }, vec![])
        .int_layer(
            LayerSpec::ConvTranspose2d {
                in_channels: 2,
                out_channels: 1,
                kernel: 2,
                stride: 2,
                padding: 0,
                output_padding: 0,
            },
            wbs(&[-2, 2, 3, 4, -1, 0, 2, -3], &[10], &[0.125]),
        )
        .int_layer(LayerSpec::Sigmoid, table(16384, 60));
    b.build().unwrap()
}

#[test]
fn onehot_dense_leaky_convt_sigmoid_by_hand() {
    // Latent, F0 = 4: 1.03 * 16 = 16.48 -> 16; -0.53125 * 16 = -8.5 -> -9
    // (halves away from zero). One-hot of class 1 appends [0, 16].
    // Dense, F 4 -> 6:
    //   acc0 = 5 + 2*16 + (-1)(-9) = 46; scale 0.375 = 0xC00000 * 2^(125-150),
    //     sh = 150 - 125 + 4 - 6 = 23: (46 * 0xC00000 + 2^22) >> 23 = 69.
    //   acc1 = -5 + 16 - 9 - 4*16 = -62; scale 0.0625: m = 2^23, E = 123,
    //     sh = 25: -62 / 4 = -15.5 rounds up to -15.
    // Leaky ReLU 0.5: k = 16384; (-15 * 16384 + 16384) >> 15 = -7.
    // Transposed convolution (stride 2, one input pixel): output (y, x) is
    //   10 + w0[y, x] * 69 + w1[y, x] * (-7) = -121, 148, 203, 307; scale
    //   0.125, sh = 150 - 124 + 6 - 8 = 24: halves up -> -60, 74, 102, 154.
    // Sigmoid, F = 8 <= 11: u = |q| << 3 = 480, 592, 816, 1232;
    //   j = u >> 6, r = u & 63, T[j] = 16384 + 60 j:
    //   480: j 7, r 32: 16804 + ((60*32 + 32) >> 6 = 30) = 16834; q < 0: 32768 - 16834 = 15934
    //   592: j 9, r 16: 16924 + 15 = 16939
    //   816: j 12, r 48: 17104 + 45 = 17149
    //   1232: j 19, r 16: 17524 + 15 = 17539
    let out = generate(&onehot_file(), &[1.03, -0.53125], Some(1));
    assert_eq!(out, [15934.0, 16939.0, 17149.0, 17539.0]);
}

/// Embedding, dense, ReLU, reshape, upsampling, a strided padded
/// convolution and a tanh whose input has more than 11 fraction bits.
fn embed_file() -> Vec<u8> {
    let fracs = vec![3, 3, 13, 13, 13, 13, 12, 15];
    let mut b = ModelBuilder::new_integer(2, 2, Shape { c: 1, h: 2, w: 2 }, fracs);
    b.int_layer(
        LayerSpec::EmbedConcat { classes: 2, dim: 1 },
        vec![(TensorRole::Weight, IntTensor::I16(vec![5, -3]))],
    )
    .int_layer(
        LayerSpec::Dense {
            in_features: 3,
            out_features: 4,
        },
        wbs(
            &[1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1],
            &[0, 0, 0, 3],
            &[1.0, 1.0, 1.0, 0.75],
        ),
    )
    .int_layer(LayerSpec::Relu, vec![])
    .int_layer(LayerSpec::Reshape { c: 1, h: 2, w: 2 }, vec![])
    .int_layer(LayerSpec::UpsampleNearest { scale: 2 }, vec![])
    .int_layer(
        LayerSpec::Conv2d {
            in_channels: 1,
            out_channels: 1,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        wbs(&[0, 0, 0, 0, 1, 0, 0, 0, 2], &[-98], &[0.5]),
    )
    .int_layer(LayerSpec::Tanh, table(0, 120));
    b.build().unwrap()
}

#[test]
fn embed_dense_relu_upsample_conv_tanh_by_hand() {
    // Latent, F0 = 3: 0.7 * 8 = 5.6 -> 6; -1.2 * 8 = -9.6 -> -10; class 0's
    // row appends 5.
    // Dense, F 3 -> 13, scale 1.0 (E = 127): sh = 150 - 127 + 3 - 13 = 13,
    //   acc * 2^23 / 2^13 = acc * 1024: 6, -10, 5 -> 6144, -10240, 5120;
    //   row 3: acc = 3 + 6 - 10 + 5 = 4, scale 0.75 (0xC00000, E = 126),
    //   sh = 14: 4 * 0xC00000 >> 14 = 3072.
    // ReLU: 6144, 0, 5120, 3072; reshape to 2x2, upsample to 4x4.
    // Conv 3x3, stride 2, padding 1: taps (1, 1) weight 1 reads
    //   x[2y, 2x], (2, 2) weight 2 reads x[2y + 1, 2x + 1]:
    //   -98 + 6144 + 2*6144 = 18334, -98 + 0 + 0 = -98,
    //   -98 + 5120 + 2*5120 = 15262, -98 + 3072 + 2*3072 = 9118;
    //   scale 0.5, F 13 -> 12: sh = 150 - 126 + 1 = 25, acc / 4 rounded
    //   half up: 4584, -24, 3816, 2280.
    // Tanh, F = 12 > 11: u = (|q| + 1) >> 1 = 2292, 12, 1908, 1140;
    //   T[j] = 120 j: 2292: j 35, r 52: 4200 + ((120*52 + 32) >> 6 = 98) = 4298
    //   12: j 0, r 12: 0 + 23 = 23, q < 0: -23
    //   1908: j 29, r 52: 3480 + 98 = 3578
    //   1140: j 17, r 52: 2040 + 98 = 2138
    let out = generate(&embed_file(), &[0.7, -1.2], Some(0));
    assert_eq!(out, [4298.0, -23.0, 3578.0, 2138.0]);
}

#[test]
fn tanh_saturates_past_the_table_and_latent_saturates() {
    // F0 = 0: q = 9, -300, 32767 (40000 saturates), 0 (NaN).
    // u = |q| << 11, capped at 16384: j = 256 for all but NaN -> T[256].
    let mut b = ModelBuilder::new_integer(4, 0, Shape { c: 4, h: 1, w: 1 }, vec![0, 15]);
    b.int_layer(LayerSpec::Tanh, table(0, 120));
    let out = generate(&b.build().unwrap(), &[9.0, -300.0, 40000.0, f32::NAN], None);
    assert_eq!(out, [30720.0, -30720.0, 30720.0, 0.0]);
}

#[test]
fn quantised_generators_follow_their_float_pass() {
    let cases: [(Spec, Option<usize>, f64); 3] = [
        (mlp_onehot(), Some(2), 0.03),
        (conv_embed(), Some(1), 0.03),
        (dcgan_plain(), None, 0.05),
    ];
    for (spec, class, tol) in cases {
        let file = spec.build_integer();
        let g = Generator::load(&file).unwrap();
        let z: Vec<f32> = (0..g.latent_dim())
            .map(|i| ((i as f32) * 0.7).sin())
            .collect();
        let mut scratch = vec![0.0; g.scratch_len()];
        let mut out = vec![0.0; g.output_len()];
        g.generate(&z, class, &mut scratch, &mut out).unwrap();
        let want = spec.reference(runtime::format::DType::F32, &z, class);
        let worst = out
            .iter()
            .zip(&want)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < tol, "worst error {worst}");
    }
}

#[test]
fn scratch_holds_two_int16_activations_per_slot() {
    let file = conv_embed().build_integer();
    let g = Generator::load(&file).unwrap();
    let float_file = conv_embed().build(runtime::format::DType::F16);
    let float = Generator::load(&float_file).unwrap();
    assert_eq!(2 * g.scratch_len(), float.scratch_len());
    assert_eq!(float.format_version(), 1);
    assert!(!float.is_integer());
    let z = vec![0.1; g.latent_dim()];
    let mut out = vec![0.0; g.output_len()];
    let mut short = vec![0.0; g.scratch_len() - 1];
    assert!(matches!(
        g.generate(&z, Some(0), &mut short, &mut out),
        Err(Error::ScratchTooSmall { .. })
    ));
}

#[test]
fn safetensors_reads_version_2_files() {
    use safetensors::{Dtype, SafeTensors};
    for file in [onehot_file(), embed_file(), conv_embed().build_integer()] {
        let st = SafeTensors::deserialize(&file).unwrap();
        let g = Generator::load(&file).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&file).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta.get("format_version").map(String::as_str), Some("2"));
        assert_eq!(
            meta.get("activation_frac").map(String::as_str),
            g.metadata("activation_frac")
        );
        for (name, view) in st.tensors() {
            let role = name.rsplit('.').next().unwrap();
            let expected = match role {
                "weight" if view.dtype() == Dtype::I16 => Dtype::I16,
                "weight" => Dtype::I8,
                "bias" => Dtype::I32,
                "scale" => Dtype::F32,
                "table" => Dtype::I16,
                other => panic!("unexpected role {other}"),
            };
            assert_eq!(view.dtype(), expected, "{name}");
        }
        let total: usize = st
            .tensors()
            .iter()
            .map(|(_, v)| v.shape().iter().product::<usize>())
            .sum();
        assert_eq!(total, g.param_count());
    }
}

#[test]
fn prepared_integer_generators_generate_the_same_bits() {
    let file = conv_embed().build_integer();
    let g = Generator::load(&file).unwrap();
    assert_eq!(g.prepared_len(), 0);
    let mut buf = vec![0.0; g.prepared_len()];
    let p = g.prepare(&mut buf).unwrap();
    let z: Vec<f32> = (0..g.latent_dim()).map(|i| i as f32 * 0.3 - 0.8).collect();
    let (mut s1, mut s2) = (vec![0.0; g.scratch_len()], vec![0.0; g.scratch_len()]);
    let (mut a, mut b) = (vec![0.0; g.output_len()], vec![1.0; g.output_len()]);
    g.generate(&z, Some(3), &mut s1, &mut a).unwrap();
    p.generate(&z, Some(3), &mut s2, &mut b).unwrap();
    assert_eq!(a, b);
}
