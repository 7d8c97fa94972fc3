//! Hostile files: arbitrary bytes and mutations of valid files never panic,
//! and the container layer agrees with the safetensors crate: whatever we
//! accept, it accepts with the same tensors, dtypes, shapes and offsets.

mod common;

use common::{conv_embed, dcgan_plain, mlp_onehot, raw_file, split};
use proptest::prelude::*;
use runtime::format::container::Container;
use runtime::format::DType;
use runtime::Generator;

fn valid_files() -> Vec<Vec<u8>> {
    let mut with_provenance = mlp_onehot().builder(DType::F32);
    with_provenance
        .provenance("dataset", "mnist")
        .provenance("seed", "7");
    vec![
        mlp_onehot().build(DType::F16),
        conv_embed().build(DType::F32),
        dcgan_plain().build(DType::F16),
        with_provenance.build().unwrap(),
        // Version 2 (integer).
        conv_embed().build_integer(),
        mlp_onehot().build_integer(),
    ]
}

/// Checks our container verdict against the safetensors crate's, and that a
/// loaded generator runs.
fn judge(bytes: &[u8]) -> Result<(), TestCaseError> {
    let ours = Container::parse(bytes);
    let theirs = safetensors::SafeTensors::read_metadata(bytes);
    if let Ok(c) = &ours {
        let (n, meta) = match theirs {
            Ok(t) => t,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "we accept, safetensors rejects: {e:?}"
                )))
            }
        };
        prop_assert_eq!(n + 8, c.data_offset());
        prop_assert_eq!(meta.tensors().len(), c.tensor_count());
        for t in c.tensors() {
            let info = meta
                .info(t.name)
                .ok_or_else(|| TestCaseError::fail(format!("{} unknown to safetensors", t.name)))?;
            let dtype = match t.dtype {
                DType::F16 => safetensors::Dtype::F16,
                DType::F32 => safetensors::Dtype::F32,
                DType::I8 => safetensors::Dtype::I8,
                DType::I16 => safetensors::Dtype::I16,
                DType::I32 => safetensors::Dtype::I32,
            };
            prop_assert_eq!(info.dtype, dtype);
            prop_assert_eq!(Some(&info.shape[..]), t.shape.as_slice());
            prop_assert_eq!(info.data_offsets, (t.begin, t.end));
        }
        let theirs_meta = meta.metadata().clone().unwrap_or_default();
        prop_assert_eq!(theirs_meta.len(), c.metadata_entries().count());
        for (k, v) in c.metadata_entries() {
            prop_assert_eq!(theirs_meta.get(k).map(String::as_str), Some(v));
        }
    }
    if let Ok(g) = Generator::load(bytes) {
        prop_assert!(ours.is_ok());
        let z = vec![0.5; g.latent_dim()];
        let mut scratch = vec![0.0; g.scratch_len()];
        let mut out = vec![0.0; g.output_len()];
        let class = g.num_classes().checked_sub(1);
        prop_assert_eq!(g.generate(&z, class, &mut scratch, &mut out), Ok(()));
        let _ = g.layers().count() + g.param_count();
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// Replace a header digit with another digit (offsets, shapes, values).
    Digit(usize, u8),
    /// Replace a header byte with a JSON-significant one.
    Token(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0u8..10).prop_map(|(i, d)| Mutation::Digit(i, d)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",: 0-.e\\".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Token(i, b)),
    ]
}

fn apply(file: &mut Vec<u8>, m: &Mutation) {
    if file.is_empty() {
        return;
    }
    let len = file.len();
    let header_len = if len >= 8 {
        (u64::from_le_bytes(file[..8].try_into().unwrap()) as usize).min(len - 8)
    } else {
        0
    };
    match *m {
        Mutation::Set(i, b) => file[i % len] = b,
        Mutation::Insert(i, b) => file.insert(i % (len + 1), b),
        Mutation::Remove(i) => {
            file.remove(i % len);
        }
        Mutation::Truncate(i) => file.truncate(i % len),
        Mutation::Digit(i, d) | Mutation::Token(i, d) => {
            if header_len == 0 {
                return;
            }
            let want_digit = matches!(m, Mutation::Digit(..));
            // The first header position at or after i that fits.
            for k in 0..header_len {
                let at = 8 + (i + k) % header_len;
                if !want_digit || file[at].is_ascii_digit() {
                    file[at] = if want_digit { b'0' + d } else { d };
                    break;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        judge(&bytes)?;
    }

    #[test]
    fn arbitrary_headers_never_panic(header in "[{}\\[\\]\",:0-9a-z_ .]{0,200}", data in prop::collection::vec(any::<u8>(), 0..64)) {
        judge(&raw_file(&header, &data))?;
    }

    #[test]
    fn mutated_valid_files_never_panic(which in 0usize..6, muts in prop::collection::vec(mutation(), 1..6)) {
        let mut file = valid_files().swap_remove(which);
        for m in &muts {
            apply(&mut file, m);
        }
        judge(&file)?;
    }
}

/// A random container within the format's syntax rules (unique names,
/// F16/F32/I8/I16/I32, no empty tensors), sometimes with wrong offsets or data length:
/// here both readers must reach the same verdict.
#[derive(Clone, Debug)]
struct Case {
    tensors: Vec<(DType, Vec<usize>)>,
    order: Vec<usize>,
    offset_shift: Option<(usize, i8)>,
    data_extra: i8,
    pretty: bool,
    metadata: Vec<(u8, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(
        (
            prop_oneof![
                Just(DType::F16),
                Just(DType::F32),
                Just(DType::I8),
                Just(DType::I16),
                Just(DType::I32)
            ],
            prop::collection::vec(1usize..5, 0..4),
        ),
        0..6,
    )
    .prop_flat_map(|tensors| {
        let n = tensors.len();
        (
            Just(tensors),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            prop::option::weighted(0.3, (any::<usize>(), -3i8..4)),
            prop_oneof![4 => Just(0i8), 1 => -3i8..4],
            any::<bool>(),
            prop::collection::vec((any::<u8>(), any::<u8>()), 0..3),
        )
    })
    .prop_map(
        |(tensors, order, offset_shift, data_extra, pretty, metadata)| Case {
            tensors,
            order,
            offset_shift,
            data_extra,
            pretty,
            metadata,
        },
    )
}

fn render(c: &Case) -> Vec<u8> {
    let sep = if c.pretty { ", " } else { "," };
    let colon = if c.pretty { ": " } else { ":" };
    let mut ranges = vec![(0usize, 0usize); c.tensors.len()];
    let mut at = 0usize;
    for &i in &c.order {
        let (dtype, shape) = &c.tensors[i];
        let len = shape.iter().product::<usize>() * dtype.size();
        ranges[i] = (at, at + len);
        at += len;
    }
    if let Some((i, d)) = c.offset_shift {
        if !ranges.is_empty() {
            let k = i % ranges.len();
            ranges[k].0 = (ranges[k].0 as i64 + i64::from(d)).max(0) as usize;
        }
    }
    let mut parts = Vec::new();
    if !c.metadata.is_empty() {
        let entries: Vec<String> = c
            .metadata
            .iter()
            .map(|(k, v)| format!("\"k{k}\"{colon}\"v{v}\""))
            .collect();
        let mut entries = entries;
        entries.dedup();
        parts.push(format!("\"__metadata__\"{colon}{{{}}}", entries.join(sep)));
    }
    for (i, (dtype, shape)) in c.tensors.iter().enumerate() {
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        parts.push(format!(
            "\"t{i}\"{colon}{{\"dtype\"{colon}\"{dtype}\"{sep}\"shape\"{colon}[{}]{sep}\"data_offsets\"{colon}[{},{}]}}",
            dims.join(sep),
            ranges[i].0,
            ranges[i].1
        ));
    }
    let header = format!("{{{}}}", parts.join(sep));
    let data_len = (at as i64 + i64::from(c.data_extra)).max(0) as usize;
    raw_file(&header, &vec![0x3c; data_len])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn container_verdicts_match_safetensors(c in case()) {
        let file = render(&c);
        let ours = Container::parse(&file);
        let theirs = safetensors::SafeTensors::read_metadata(&file);
        // Duplicate metadata keys are ours alone to reject.
        let dup_meta = {
            let mut keys: Vec<u8> = c.metadata.iter().map(|m| m.0).collect();
            let n = keys.len();
            keys.sort_unstable();
            keys.dedup();
            keys.len() != n
        };
        if !dup_meta {
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "ours {:?}, theirs {:?}", ours.err(), theirs.err());
        }
        judge(&file)?;
    }
}

#[test]
fn valid_files_pass_the_oracle() {
    for f in valid_files() {
        judge(&f).unwrap();
        let (h, _) = split(&f);
        assert!(h.starts_with("{\"__metadata__\""));
    }
}
