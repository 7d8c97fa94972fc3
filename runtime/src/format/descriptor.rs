//! Layer descriptors: `dense in=100 out=128` and the like, read
//! table-driven into a [`LayerSpec`]. What each kind takes (names, minimums,
//! constraints) is in [`spec`](super::spec); this is the reading.

use super::numbers::{parse_float, parse_uint};
use super::spec::{constraint, from_values, minimums, params_of, LayerSpec};
use crate::error::{Error, Name};

/// Reads a descriptor; `layer` (the index in the file, `None` for a lone
/// descriptor) goes into the errors. Written table-driven, with one
/// construction site per error, because every site costs a Cortex-M0+ flash
/// (and out of line: inlined into the loader it takes about 0.5 KB more).
#[inline(never)]
pub(crate) fn parse_descriptor(s: &str, layer: Option<usize>) -> Result<LayerSpec, Error> {
    let mut parts = s.split(' ');
    let kind = parts.next().unwrap_or("");
    let names = params_of(kind).ok_or(Error::UnknownLayerKind {
        layer,
        kind: Name::new(kind),
    })?;
    let (values, slope) = read_params(kind, names, parts, layer)?;
    check_constraints(kind, &values, layer)?;
    Ok(from_values(kind, values, slope))
}

/// The `key=value` parameters of a descriptor of `kind` (whose parameter
/// names are `names`): the integers in `params_of` order and the slope.
// Out of line (0.4 KB less flash on thumbv6m than inlined).
#[inline(never)]
fn read_params<'s>(
    kind: &str,
    names: &'static [&'static str],
    parts: impl Iterator<Item = &'s str>,
    layer: Option<usize>,
) -> Result<([usize; 6], Option<f32>), Error> {
    let min = minimums(kind);
    let mut values = [0usize; 6];
    let mut slope = None;
    let mut seen = 0u32;
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let Some(idx) = names.iter().position(|n| *n == key) else {
            return Err(Error::UnknownParameter {
                layer,
                param: Name::new(key),
            });
        };
        if seen & (1 << idx) != 0 {
            return Err(Error::DuplicateParameter {
                layer,
                param: Name::new(key),
            });
        }
        seen |= 1 << idx;
        let param = names.get(idx).copied().unwrap_or("");
        let parsed = if kind == "leaky_relu" {
            slope = parse_float(value);
            slope.map(|_| 0)
        } else {
            parse_uint(value).filter(|&v| v >= min.get(idx).copied().unwrap_or(1))
        };
        let (Some(v), Some(slot)) = (parsed, values.get_mut(idx)) else {
            let expected = match (kind, min.get(idx)) {
                ("leaky_relu", _) => "a decimal number with at most 8 significant digits",
                (_, Some(0)) => "an integer >= 0",
                _ => "an integer >= 1",
            };
            return Err(Error::InvalidParameter {
                layer,
                param,
                value: Name::new(value),
                expected,
            });
        };
        *slot = v;
    }
    if let Some(param) = names.iter().enumerate().find(|(i, _)| seen & (1 << i) == 0) {
        return Err(Error::MissingParameter {
            layer,
            param: param.1,
        });
    }
    Ok((values, slope))
}

/// Constraints between parameters (see [`constraint`]).
fn check_constraints(kind: &str, values: &[usize; 6], layer: Option<usize>) -> Result<(), Error> {
    match constraint(kind, values) {
        Some((param, v, expected)) => Err(Error::InvalidParameter {
            layer,
            param,
            value: Name::new("").and_uint(v),
            expected,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn descriptors_round_trip() {
        let specs = [
            LayerSpec::Dense {
                in_features: 100,
                out_features: 128,
            },
            LayerSpec::Conv2d {
                in_channels: 3,
                out_channels: 8,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::ConvTranspose2d {
                in_channels: 64,
                out_channels: 32,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0,
            },
            LayerSpec::UpsampleNearest { scale: 2 },
            LayerSpec::Reshape { c: 64, h: 7, w: 7 },
            LayerSpec::Relu,
            LayerSpec::LeakyRelu { slope: 0.2 },
            LayerSpec::LeakyRelu { slope: 1e-5 },
            LayerSpec::Tanh,
            LayerSpec::Sigmoid,
            LayerSpec::EmbedConcat {
                classes: 10,
                dim: 10,
            },
            LayerSpec::OneHotConcat { classes: 10 },
        ];
        for spec in specs {
            let text = spec.to_string();
            assert_eq!(LayerSpec::parse(&text), Ok(spec), "{text}");
        }
        assert_eq!(
            LayerSpec::ConvTranspose2d {
                in_channels: 64,
                out_channels: 32,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0
            }
            .to_string(),
            "conv_transpose2d in=64 out=32 kernel=4 stride=2 padding=1 output_padding=0"
        );
        assert_eq!(
            LayerSpec::LeakyRelu { slope: 0.2 }.to_string(),
            "leaky_relu slope=0.2"
        );
    }

    #[test]
    fn parameters_in_any_order() {
        assert_eq!(
            LayerSpec::parse("dense out=3 in=2"),
            Ok(LayerSpec::Dense {
                in_features: 2,
                out_features: 3
            })
        );
    }

    #[test]
    fn descriptor_errors() {
        assert!(matches!(
            LayerSpec::parse("densely in=1 out=1"),
            Err(Error::UnknownLayerKind { layer: None, .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1"),
            Err(Error::MissingParameter { param: "out", .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1 in=1 out=2"),
            Err(Error::DuplicateParameter { .. })
        ));
        assert!(matches!(
            LayerSpec::parse("dense in=1 out=2 bias=1"),
            Err(Error::UnknownParameter { .. })
        ));
        assert!(matches!(
            LayerSpec::parse("relu x"),
            Err(Error::UnknownParameter { .. })
        ));
        for bad in [
            "dense in=01 out=2",
            "dense in=0 out=2",
            "dense in=-1 out=2",
            "dense in= out=2",
            "dense in=1e3 out=2",
        ] {
            assert!(
                matches!(
                    LayerSpec::parse(bad),
                    Err(Error::InvalidParameter { param: "in", .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            LayerSpec::parse("dense  in=1 out=2"),
            Err(Error::UnknownParameter { .. })
        ));
        for (bad, param) in [
            ("leaky_relu slope=NaN", "slope"),
            ("leaky_relu slope=1e-5", "slope"),
            ("conv2d in=1 out=1 kernel=3 stride=1 padding=3", "padding"),
            (
                "conv_transpose2d in=1 out=1 kernel=3 stride=2 padding=0 output_padding=2",
                "output_padding",
            ),
            ("upsample_nearest scale=65", "scale"),
        ] {
            assert!(
                matches!(
                    LayerSpec::parse(bad),
                    Err(Error::InvalidParameter { param: p, .. }) if p == param
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            LayerSpec::parse("dense in=99999999999999999999999 out=1"),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
