//! Every fast kernel set this CPU can run (the portable ones, the vector
//! ones of the target: AVX2 + F16C and AVX-512 on x86-64, NEON on AArch64,
//! and the Cortex-M ones, whose assembly the host runs as Rust) equals the
//! plain ones bit for bit on random shapes, weights (every finite f16,
//! including subnormals) and inputs.

use proptest::prelude::*;
use runtime::format::DType;
use runtime::kernels::{
    every_set, integer, kernel_sets, reference, ConvGeom, IntParams, KernelSet, Weights,
};

/// The kernel sets under test (all but the plain reference).
fn fast_sets() -> Vec<KernelSet> {
    every_set().filter(|k| k.name != "plain").collect()
}

/// The vector kernels are offered exactly where the CPU can run them, so
/// the property tests below do cover them on such a CPU.
#[test]
fn vector_kernels_are_listed_where_the_cpu_has_them() {
    let names: Vec<_> = kernel_sets().map(|k| k.name).collect();
    assert_eq!(names[..2], ["plain", "portable"]);
    #[cfg(target_arch = "x86_64")]
    let expect = {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c");
        // `MICROGAN_KERNELS=avx2` keeps the AVX-512 set out.
        let avx512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && runtime::kernels::x86_64::avx512_allowed();
        assert_eq!(names.contains(&"x86-64 AVX2+F16C"), avx2, "{names:?}");
        assert_eq!(names.contains(&"x86-64 AVX-512"), avx512, "{names:?}");
        2 + usize::from(avx2) + usize::from(avx512)
    };
    #[cfg(target_arch = "aarch64")]
    let expect = 3;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let expect = 2;
    assert_eq!(names.len(), expect, "{names:?}");
}

/// Finite weight bytes of `dtype`: f16 from arbitrary finite bit patterns,
/// f32 from a range of magnitudes.
fn weight_bytes(dtype: DType, n: usize) -> impl Strategy<Value = Vec<u8>> {
    match dtype {
        DType::F16 => prop::collection::vec(
            any::<u16>().prop_map(|b| if b & 0x7c00 == 0x7c00 { b & 0x83ff } else { b }),
            n,
        )
        .prop_map(|v| v.iter().flat_map(|b| b.to_le_bytes()).collect())
        .boxed(),
        _ => prop::collection::vec(
            prop_oneof![-2.0f32..2.0, Just(0.0f32), Just(-0.0f32), -1e-30f32..1e-30],
            n,
        )
        .prop_map(|v| v.iter().flat_map(|b| b.to_le_bytes()).collect())
        .boxed(),
    }
}

fn inputs(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![8 => -3.0f32..3.0, 1 => Just(0.0f32), 1 => Just(-0.0f32)],
        n,
    )
}

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F16), Just(DType::F32)]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[derive(Debug, Clone)]
struct DenseCase {
    dtype: DType,
    n_in: usize,
    w: Vec<u8>,
    b: Vec<u8>,
    x: Vec<f32>,
}

fn dense_case() -> impl Strategy<Value = DenseCase> {
    (dtype(), 1usize..80, 1usize..21).prop_flat_map(|(dtype, n_in, n_out)| {
        (
            weight_bytes(dtype, n_in * n_out),
            weight_bytes(dtype, n_out),
            inputs(n_in),
        )
            .prop_map(move |(w, b, x)| DenseCase {
                dtype,
                n_in,
                w,
                b,
                x,
            })
    })
}

#[derive(Debug, Clone)]
struct ConvCase {
    dtype: DType,
    transpose: bool,
    g: ConvGeom,
    w: Vec<u8>,
    b: Vec<u8>,
    x: Vec<f32>,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        dtype(),
        any::<bool>(),
        1usize..6,
        // Past one block of 8 (AVX2) or 16 (AVX-512) output channels, with
        // a partial last one.
        1usize..36,
        1usize..6,
        1usize..4,
        0usize..6,
        1usize..10,
        1usize..20,
        0usize..3,
    )
        .prop_filter_map(
            "empty output",
            |(dtype, transpose, in_c, out_c, k, s, p, h, w, op)| {
                let p = p % k;
                let (oh, ow) = if transpose {
                    let op = op % s;
                    let f = |d: usize| {
                        ((d - 1) * s + k + op)
                            .checked_sub(2 * p)
                            .filter(|&v| v >= 1)
                    };
                    (f(h)?, f(w)?)
                } else {
                    let f = |d: usize| (d + 2 * p).checked_sub(k).map(|v| v / s + 1);
                    (f(h)?, f(w)?)
                };
                let g = ConvGeom {
                    in_c,
                    in_h: h,
                    in_w: w,
                    out_c,
                    out_h: oh,
                    out_w: ow,
                    kernel: k,
                    stride: s,
                    padding: p,
                };
                Some((dtype, transpose, g))
            },
        )
        .prop_flat_map(|(dtype, transpose, g)| {
            (
                weight_bytes(dtype, g.in_c * g.out_c * g.kernel * g.kernel),
                weight_bytes(dtype, g.out_c),
                inputs(g.in_c * g.in_h * g.in_w),
            )
                .prop_map(move |(w, b, x)| ConvCase {
                    dtype,
                    transpose,
                    g,
                    w,
                    b,
                    x,
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn fast_dense_equals_plain(c in dense_case()) {
        let (w, b) = (Weights::new(&c.w, c.dtype), Weights::new(&c.b, c.dtype));
        let n_out = b.len();
        prop_assert_eq!(w.len(), n_out * c.n_in);
        let mut want = vec![f32::NAN; n_out];
        reference::dense(w, b, &c.x, &mut want);
        prop_assert!(want.iter().all(|v| !v.is_nan()));
        for k in fast_sets() {
            let mut got = vec![f32::NAN; n_out];
            (k.dense)(w, b, &c.x, &mut got);
            prop_assert_eq!(bits(&got), bits(&want), "{}", k.name);
        }
    }

    #[test]
    fn fast_convolutions_equal_plain(c in conv_case()) {
        let (w, b) = (Weights::new(&c.w, c.dtype), Weights::new(&c.b, c.dtype));
        let n = c.g.out_c * c.g.out_h * c.g.out_w;
        let mut want = vec![f32::NAN; n];
        if c.transpose {
            reference::conv_transpose2d(w, b, &c.g, &c.x, &mut want);
        } else {
            reference::conv2d(w, b, &c.g, &c.x, &mut want);
        }
        prop_assert!(want.iter().all(|v| !v.is_nan()), "plain left outputs unwritten");
        for k in fast_sets() {
            let mut got = vec![f32::NAN; n];
            let f = if c.transpose { k.conv_transpose2d } else { k.conv2d };
            f(w, b, &c.g, &c.x, &mut got);
            prop_assert_eq!(bits(&got), bits(&want), "{}", k.name);
        }
    }
}

/// The stored tensors and fraction bits of an integer layer.
#[derive(Debug, Clone)]
struct IntLayer {
    w: Vec<u8>,
    b: Vec<u8>,
    s: Vec<u8>,
    f_in: u32,
    f_out: u32,
}

impl IntLayer {
    fn params(&self) -> IntParams<'_> {
        IntParams {
            weight: Weights::new(&self.w, DType::I8),
            bias: Weights::new(&self.b, DType::I32),
            scale: Weights::new(&self.s, DType::F32),
            f_in: self.f_in,
            f_out: self.f_out,
        }
    }
}

/// Random int8 weights (the extremes often), int32 biases, and scales
/// whose shifts cover 1 ..= 62 (now and then an invalid scale, which
/// every set must map to the same zeros), for `out` channels.
fn int_layer(n_w: usize, out: usize) -> impl Strategy<Value = IntLayer> {
    let weight = prop_oneof![6 => any::<i8>(), 1 => Just(-128i8), 1 => Just(127i8), 1 => Just(0i8)];
    let bias = prop_oneof![4 => -100_000i32..100_000, 1 => any::<i32>()];
    let scale = prop_oneof![
        20 => (1u32..=62, 0u32..1 << 23).prop_map(|(sh, m)| (sh, m, true)),
        1 => (0u32..64, 0u32..1 << 23).prop_map(|(sh, m)| (sh, m, false)),
    ];
    (
        prop::collection::vec(weight, n_w),
        prop::collection::vec(bias, out),
        0u32..=24,
        0u32..=24,
        prop::collection::vec(scale, out),
    )
        .prop_map(|(w, b, f_in, f_out, scales)| {
            // E = 150 + f_in - f_out - sh lies in 64 ..= 173 for a valid
            // shift; the invalid ones are zero or negative.
            let s = scales.iter().flat_map(|&(sh, m, valid)| {
                let e = 150 + f_in - f_out - sh.clamp(1, 62);
                let bits = if valid {
                    e << 23 | m
                } else if m % 2 == 0 {
                    0
                } else {
                    1 << 31 | e << 23
                };
                f32::from_bits(bits).to_le_bytes()
            });
            IntLayer {
                w: w.iter().map(|&v| v as u8).collect(),
                b: b.iter().flat_map(|v| v.to_le_bytes()).collect(),
                s: s.collect(),
                f_in,
                f_out,
            }
        })
}

/// Random int16 activations (the extremes often).
fn int_inputs(n: usize) -> impl Strategy<Value = Vec<i16>> {
    prop::collection::vec(
        prop_oneof![6 => any::<i16>(), 1 => Just(i16::MIN), 1 => Just(i16::MAX), 1 => -300i16..300],
        n,
    )
}

fn int_dense_case() -> impl Strategy<Value = (IntLayer, Vec<i16>, usize)> {
    (1usize..300, 1usize..21).prop_flat_map(|(n_in, n_out)| {
        (
            int_layer(n_in * n_out, n_out),
            int_inputs(n_in),
            Just(n_out),
        )
    })
}

fn int_conv_case() -> impl Strategy<Value = (IntLayer, Vec<i16>, ConvGeom, bool)> {
    conv_case().prop_flat_map(|c| {
        let g = c.g;
        (
            int_layer(g.in_c * g.out_c * g.kernel * g.kernel, g.out_c),
            int_inputs(g.in_c * g.in_h * g.in_w),
            Just(g),
            Just(c.transpose),
        )
    })
}

/// A doubling transposed convolution (kernel 4, stride 2, padding 1), which
/// the AVX2 set splits into its four parity classes: 1 to 40 output
/// channels (the narrow form below 8, blocks of 8, 16 or 32 with a partial
/// last one above), odd and even input channel counts up to 70, and sides
/// up to 16 (some copies too large for the split form).
fn int_doubling_case() -> impl Strategy<Value = (IntLayer, Vec<i16>, ConvGeom)> {
    (1usize..71, 1usize..41, 1usize..17, 1usize..17).prop_flat_map(|(in_c, out_c, h, w)| {
        let g = k4s2(in_c, out_c, h, w);
        (
            int_layer(in_c * out_c * 16, out_c),
            int_inputs(in_c * h * w),
            Just(g),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn fast_integer_dense_equals_plain((layer, x, n_out) in int_dense_case()) {
        let p = layer.params();
        let mut want = vec![0x5555i16; n_out];
        integer::reference::dense(&p, &x, &mut want);
        for k in fast_sets() {
            let mut got = vec![0x2aaai16; n_out];
            (k.int_dense)(&p, &x, &mut got);
            prop_assert_eq!(&got, &want, "{}", k.name);
        }
    }

    #[test]
    fn fast_integer_convolutions_equal_plain((layer, x, g, transpose) in int_conv_case()) {
        let p = layer.params();
        let n = g.out_c * g.out_h * g.out_w;
        let mut want = vec![0x5555i16; n];
        if transpose {
            integer::reference::conv_transpose2d(&p, &g, &x, &mut want);
        } else {
            integer::reference::conv2d(&p, &g, &x, &mut want);
        }
        for k in fast_sets() {
            let mut got = vec![0x2aaai16; n];
            let f = if transpose { k.int_conv_transpose2d } else { k.int_conv2d };
            f(&p, &g, &x, &mut got);
            prop_assert_eq!(&got, &want, "{}", k.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn fast_integer_doubling_convolutions_equal_plain((layer, x, g) in int_doubling_case()) {
        let p = layer.params();
        let n = g.out_c * g.out_h * g.out_w;
        let mut want = vec![0x5555i16; n];
        integer::reference::conv_transpose2d(&p, &g, &x, &mut want);
        for k in fast_sets() {
            let mut got = vec![0x2aaai16; n];
            (k.int_conv_transpose2d)(&p, &g, &x, &mut got);
            prop_assert_eq!(&got, &want, "{}", k.name);
        }
    }
}

/// The plain integer kernels write every output, and follow the format on
/// a case worked out by hand.
#[test]
fn plain_integer_kernels_follow_the_format() {
    // Dense 3 -> 1, bias 7, weights [-128, 127, 2], input [-32768, 32767, 5]:
    // acc = 7 + 4194304 + 4161409 + 10 = 8355730; scale 1.0, F 0 -> 8
    // (sh = 150 - 127 + 0 - 8 = 15, m = 2^23): 8355730 * 256 saturates.
    let layer = IntLayer {
        w: vec![0x80, 0x7f, 2],
        b: 7i32.to_le_bytes().to_vec(),
        s: 1.0f32.to_le_bytes().to_vec(),
        f_in: 0,
        f_out: 8,
    };
    let mut y = [0i16; 1];
    integer::reference::dense(&layer.params(), &[-32768, 32767, 5], &mut y);
    assert_eq!(y, [i16::MAX]);
    // F 8 -> 0 (sh = 31): 8355730 / 256 = 32639.57 -> 32640.
    let layer = IntLayer {
        f_in: 8,
        f_out: 0,
        ..layer
    };
    integer::reference::dense(&layer.params(), &[-32768, 32767, 5], &mut y);
    assert_eq!(y, [32640]);
}

/// Kernels given buffers that do not fit their shapes do nothing rather
/// than panic.
#[test]
fn mismatched_buffers_are_ignored() {
    let w = [0u8; 8];
    let x = [1.0f32; 3];
    let mut y = [7.0f32; 2];
    for k in kernel_sets() {
        (k.dense)(
            Weights::new(&w, DType::F16),
            Weights::new(&w, DType::F16),
            &x,
            &mut y,
        );
    }
    assert_eq!(y, [7.0; 2]);
    let g = ConvGeom {
        in_c: 1,
        in_h: 4,
        in_w: 4,
        out_c: 1,
        out_h: 4,
        out_w: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let mut y = [7.0f32; 16];
    for f in kernel_sets().flat_map(|k| [k.conv2d, k.conv_transpose2d]) {
        f(
            Weights::new(&w, DType::F32),
            Weights::new(&w, DType::F32),
            &g,
            &x,
            &mut y,
        );
    }
    assert_eq!(y, [7.0; 16]);
    let huge = ConvGeom {
        stride: usize::MAX,
        ..g
    };
    for f in kernel_sets().flat_map(|k| [k.conv2d, k.conv_transpose2d]) {
        f(
            Weights::new(&w, DType::F32),
            Weights::new(&w, DType::F32),
            &huge,
            &[0.0; 16],
            &mut y,
        );
    }
}

/// Rows wider than the accumulator tile, tall phase planes, more input
/// channels than one block of transposed weights holds, and kernels or
/// images too large for the vector kernels (which then fall back) all give
/// the plain kernels' bits.
#[test]
fn wide_and_tall_images_tile_exactly() {
    for (in_c, h, w, s, k, p) in [
        (2, 2, 300, 1, 3, 1),
        (2, 40, 40, 2, 4, 1),
        (2, 3, 600, 3, 5, 2),
        (2, 70, 5, 1, 2, 0),
        // 70 * 4 * 4 taps: three blocks of input channels.
        (70, 5, 6, 2, 4, 1),
        // The same with 2 output channels: vectors across pixels.
        (70, 3, 6, 2, 4, 1),
        (3, 12, 12, 1, 9, 4),
    ] {
        // 11 output channels: two blocks of 8, the second partial, for the
        // tall cases.
        let out_c = if h > 4 { 11 } else { 2 };
        let kinds = both_kinds((in_c, h, w), out_c, (k, s, p));
        let wb: Vec<u8> = (0..in_c * out_c * k * k)
            .flat_map(|i| half::f16::from_f32((i as f32 * 0.37).sin()).to_le_bytes())
            .collect();
        let bb: Vec<u8> = (0..out_c)
            .map(|i| i as f32 * 0.1 - 0.3)
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let x: Vec<f32> = (0..in_c * h * w).map(|i| (i as f32 * 0.11).cos()).collect();
        let (wt, bt) = (Weights::new(&wb, DType::F16), Weights::new(&bb, DType::F16));
        for (g, transpose) in kinds {
            assert_conv_equals_plain(wt, bt, &g, &x, transpose);
        }
    }
}

/// A transposed convolution (`true`) and a convolution (`false`) over the
/// same input `(in_c, h, w)` and weights, kernel `k`, stride `s`, padding
/// `p`.
fn both_kinds(
    (in_c, h, w): (usize, usize, usize),
    out_c: usize,
    (k, s, p): (usize, usize, usize),
) -> [(ConvGeom, bool); 2] {
    let g_t = ConvGeom {
        in_c,
        in_h: h,
        in_w: w,
        out_c,
        out_h: (h - 1) * s + k - 2 * p,
        out_w: (w - 1) * s + k - 2 * p,
        kernel: k,
        stride: s,
        padding: p,
    };
    let g_c = ConvGeom {
        out_h: (h + 2 * p - k) / s + 1,
        out_w: (w + 2 * p - k) / s + 1,
        ..g_t
    };
    [(g_t, true), (g_c, false)]
}

/// Every fast set's convolution (`transpose` picks the kind) equals the
/// plain one bit for bit on these operands, which leave no output unset.
fn assert_conv_equals_plain(
    wt: Weights<'_>,
    bt: Weights<'_>,
    g: &ConvGeom,
    x: &[f32],
    transpose: bool,
) {
    let n = g.out_c * g.out_h * g.out_w;
    let mut want = vec![f32::NAN; n];
    if transpose {
        reference::conv_transpose2d(wt, bt, g, x, &mut want);
    } else {
        reference::conv2d(wt, bt, g, x, &mut want);
    }
    assert!(want.iter().all(|v| !v.is_nan()));
    for kset in fast_sets() {
        let mut got = vec![f32::NAN; n];
        let f = if transpose {
            kset.conv_transpose2d
        } else {
            kset.conv2d
        };
        f(wt, bt, g, x, &mut got);
        assert_eq!(bits(&got), bits(&want), "{} {g:?} {transpose}", kset.name);
    }
}

/// Deterministic f16 or f32 bytes for `n` weights.
fn det_weights(dtype: DType, n: usize, seed: f32) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as f32 + seed) * 0.37).sin() * 0.5)
        .flat_map(|v| match dtype {
            DType::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        })
        .collect()
}

/// Dense layers with several blocks of 16 rows and a partial last block,
/// rows shorter than 16 and every tail length (the AVX-512 kernel gathers
/// tail columns across rows, two f16 at a time).
#[test]
fn many_rows_and_every_tail_length() {
    for dtype in [DType::F16, DType::F32] {
        for n_in in (1..=35).chain([48, 100, 111]) {
            for n_out in [16, 37, 64] {
                let wb = det_weights(dtype, n_in * n_out, 0.0);
                let bb = det_weights(dtype, n_out, 7.0);
                let (w, b) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
                let x: Vec<f32> = (0..n_in).map(|i| (i as f32 * 0.11).cos()).collect();
                let mut want = vec![f32::NAN; n_out];
                reference::dense(w, b, &x, &mut want);
                for k in fast_sets() {
                    let mut got = vec![f32::NAN; n_out];
                    (k.dense)(w, b, &x, &mut got);
                    assert_eq!(bits(&got), bits(&want), "{} {n_in}->{n_out}", k.name);
                }
            }
        }
    }
}

/// Blocks of 16 output channels (one AVX-512 register): 16, 32 and 35
/// channels, input channels past one block of transposed weights, both
/// convolutions, strides 1 to 3 (a `conv2d` of stride 2 reads inputs two
/// apart per pixel), and the generator's own layer shapes.
#[test]
fn channel_blocks_of_sixteen() {
    let cases = [
        // (in_c, out_c, h, w, k, s, p)
        (64, 32, 7, 7, 4, 2, 1),
        (32, 1, 14, 14, 4, 2, 1),
        (32, 16, 14, 14, 4, 2, 1),
        (70, 35, 5, 6, 4, 2, 1),
        (3, 16, 9, 11, 3, 1, 1),
        (5, 32, 12, 13, 3, 2, 1),
        (5, 17, 10, 9, 5, 3, 2),
        (2, 33, 3, 40, 2, 2, 0),
        (4, 3, 9, 20, 3, 1, 1),
    ];
    for (in_c, out_c, h, w, k, s, p) in cases {
        let kinds = both_kinds((in_c, h, w), out_c, (k, s, p));
        for dtype in [DType::F16, DType::F32] {
            let wb = det_weights(dtype, in_c * out_c * k * k, 1.0);
            let bb = det_weights(dtype, out_c, 3.0);
            let (wt, bt) = (Weights::new(&wb, dtype), Weights::new(&bb, dtype));
            let x: Vec<f32> = (0..in_c * h * w).map(|i| (i as f32 * 0.13).cos()).collect();
            for (g, transpose) in kinds {
                assert_conv_equals_plain(wt, bt, &g, &x, transpose);
            }
        }
    }
}

/// Out-of-range element indices and impossible upsampling shapes are
/// harmless.
#[test]
fn public_helpers_never_panic() {
    let w = Weights::new(&[0, 60], DType::F16);
    assert_eq!(w.at(0), 1.0);
    assert_eq!(w.at(1), 0.0);
    assert_eq!(w.at(usize::MAX), 0.0);
    assert!(w.slice(usize::MAX, 2).is_empty());
    let mut y = [5.0f32; 4];
    runtime::kernels::upsample_nearest(&[1.0], 1, 1, 1, usize::MAX, &mut y);
    runtime::kernels::upsample_nearest(&[1.0], 1, 1, 1, 4, &mut y);
    runtime::kernels::upsample_nearest(&[1.0], usize::MAX, 2, 2, 2, &mut y);
    assert_eq!(y, [5.0; 4]);
    runtime::kernels::upsample_nearest(&[1.0], 1, 1, 1, 2, &mut y);
    assert_eq!(y, [1.0; 4]);
}

/// A transposed convolution of kernel 4, stride 2 and padding 1 that
/// doubles the side.
fn k4s2(in_c: usize, out_c: usize, h: usize, w: usize) -> ConvGeom {
    ConvGeom {
        in_c,
        in_h: h,
        in_w: w,
        out_c,
        out_h: 2 * h,
        out_w: 2 * w,
        kernel: 4,
        stride: 2,
        padding: 1,
    }
}

/// Every kernel set, a transposed convolution of kernel 4, stride 2 and
/// padding 1 against the plain one, on raw f16/f32 bytes.
fn check_convt_k4s2(
    (in_c, out_c, h, w): (usize, usize, usize, usize),
    wb: &[u8],
    bb: &[u8],
    x: &[f32],
    dtype: DType,
) {
    let g = k4s2(in_c, out_c, h, w);
    let (wt, bt) = (Weights::new(wb, dtype), Weights::new(bb, dtype));
    assert_conv_equals_plain(wt, bt, &g, x, true);
}

/// The last layer of most generators (kernel 4, stride 2, padding 1, to
/// fewer than 16 channels), which the AVX-512 kernels run as four 2x2
/// convolutions: rows of more than 16 columns, odd and tiny sides, 1 to
/// 15 output channels, 1 to 257 input channels (256 is the most that
/// path takes). The AVX2 and NEON kernels do the same below 8 output
/// channels, from a zero-padded copy of the input.
#[test]
fn narrow_transposed_convolutions() {
    let cases = [
        // (in_c, out_c, h, w)
        (32, 1, 14, 14),
        (16, 3, 16, 16),
        (8, 2, 5, 17),
        (3, 15, 3, 33),
        (1, 1, 1, 1),
        (2, 4, 1, 2),
        (5, 1, 7, 40),
        (256, 1, 4, 5),
        (257, 2, 3, 3),
        // Past what the AVX2 and NEON forms stage (64 KiB of input).
        (64, 1, 16, 16),
        (7, 7, 9, 10),
        (4, 8, 6, 6),
    ];
    for (in_c, out_c, h, w) in cases {
        for dtype in [DType::F16, DType::F32] {
            let wb = det_weights(dtype, in_c * out_c * 16, 2.0);
            let bb = det_weights(dtype, out_c, 5.0);
            let x: Vec<f32> = (0..in_c * h * w).map(|i| (i as f32 * 0.17).cos()).collect();
            check_convt_k4s2((in_c, out_c, h, w), &wb, &bb, &x, dtype);
        }
    }
}

/// A tap in the padding is skipped, not added as a zero product: with a
/// bias of -0.0 and every input -0.0, each output is -0.0, which adding
/// `+0.0 = w * 0.0` for a skipped tap would turn into +0.0.
#[test]
fn negative_zero_sums_survive_padding_taps() {
    for (in_c, out_c, h, w) in [(4, 1, 14, 14), (3, 20, 5, 6), (2, 3, 2, 18)] {
        let wb: Vec<u8> = (0..in_c * out_c * 16)
            .flat_map(|i| half::f16::from_f32(0.25 + i as f32 * 0.01).to_le_bytes())
            .collect();
        let bb: Vec<u8> = (0..out_c)
            .flat_map(|_| half::f16::from_f32(-0.0).to_le_bytes())
            .collect();
        let x = vec![-0.0f32; in_c * h * w];
        check_convt_k4s2((in_c, out_c, h, w), &wb, &bb, &x, DType::F16);
        let mut y = vec![f32::NAN; out_c * 4 * h * w];
        let g = k4s2(in_c, out_c, h, w);
        reference::conv_transpose2d(
            Weights::new(&wb, DType::F16),
            Weights::new(&bb, DType::F16),
            &g,
            &x,
            &mut y,
        );
        assert!(y.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()));
    }
}

/// Integer kernels given buffers that do not fit their shapes, or tensors
/// of the wrong dtypes, do nothing rather than panic.
#[test]
fn mismatched_integer_buffers_are_ignored() {
    let bytes = [1u8; 8];
    let ok = IntParams {
        weight: Weights::new(&bytes, DType::I8),
        bias: Weights::new(&bytes, DType::I32),
        scale: Weights::new(&bytes, DType::F32),
        f_in: 8,
        f_out: 8,
    };
    let wrong_dtype = IntParams {
        weight: Weights::new(&bytes, DType::F16),
        ..ok
    };
    let g = ConvGeom {
        in_c: 1,
        in_h: 4,
        in_w: 4,
        out_c: 1,
        out_h: 4,
        out_w: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    for k in every_set() {
        let mut y = [7i16; 3];
        // 3 outputs of 4 inputs need 12 weights and 3 biases.
        (k.int_dense)(&ok, &[1; 4], &mut y);
        (k.int_dense)(&wrong_dtype, &[1; 2], &mut y[..1]);
        assert_eq!(y, [7; 3], "{}", k.name);
        let mut y = [7i16; 16];
        (k.int_conv2d)(&ok, &g, &[1; 16], &mut y);
        (k.int_conv_transpose2d)(&ok, &g, &[1; 16], &mut y);
        assert_eq!(y, [7; 16], "{}", k.name);
    }
}
