//! The numbers of the metadata: integers and floats read exactly, without
//! the standard library's parsers (which cost a Cortex-M0+ flash).

/// Reads a metadata integer: decimal digits, no sign, no leading zeros.
pub fn parse_uint(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || (bytes.len() > 1 && bytes.first() == Some(&b'0')) {
        return None;
    }
    let mut v: usize = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
    }
    Some(v)
}

/// Exact powers of ten in f32.
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Reads a metadata float: an optional `-`, decimal digits with an optional
/// `.` (no exponent), at most 2^24 once leading and trailing zeros are
/// dropped, with at most 10 digits of scale either way (`0.2`, `0.01`,
/// `0.00001`, `-1.5`, `300`). Every f32 whose `Display` fits these bounds
/// reads back exactly. The value is the significand times or divided by an
/// exact power of ten: one correctly rounded f32 operation on exact operands,
/// so it equals `f32::from_str` on the same text. This replaces
/// `f32::from_str`, whose tables cost over 14 KB of flash on thumbv6m.
pub fn parse_float(s: &str) -> Option<f32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    // u32 arithmetic: 64-bit division would cost a Cortex-M0+ a library call.
    let mut m: u32 = 0;
    let mut scale: i32 = 0;
    for (i, b) in int.bytes().chain(frac.bytes()).enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        if m == 0 && b == b'0' {
            // Leading zero: only the scale moves.
        } else if m < 1 << 28 {
            m = m * 10 + u32::from(b - b'0');
        } else if b != b'0' {
            return None;
        } else {
            // A trailing zero beyond the significand's digits.
            scale += 1;
        }
        if i >= int.len() {
            scale -= 1;
        }
    }
    while m != 0 && m.is_multiple_of(10) {
        m /= 10;
        scale += 1;
    }
    if m > 1 << 24 {
        return None;
    }
    let v = m as f32;
    let v = if m == 0 {
        0.0
    } else if scale >= 0 {
        v * *POW10.get(scale as usize)?
    } else {
        v / *POW10.get(scale.unsigned_abs() as usize)?
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn floats_read_like_from_str() {
        for text in [
            "0.2",
            "0.01",
            "0.00001",
            "-1.5",
            "300",
            "1",
            "0",
            "-0",
            "0.0",
            "1.",
            ".5",
            "16777216",
            "0.1234567",
            "12345.678",
            "1000000000",
            "-0.0000000001",
        ] {
            let want: f32 = text.parse().unwrap();
            let got = parse_float(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
        for text in [
            "",
            ".",
            "-",
            "1e5",
            "inf",
            "NaN",
            "+1",
            "1.2.3",
            "0.00000000001",
            "16777217",
            "123456789",
            "1 ",
            "0.30000001",
            "1000000000000",
        ] {
            assert_eq!(parse_float(text), None, "{text}");
        }
        // Every f32 that Display writes within the bounds reads back exactly.
        let mut x = 0x3f80_0001u32;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = f32::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let text = v.to_string();
            if let Some(got) = parse_float(&text) {
                assert_eq!(got.to_bits(), v.to_bits(), "{text}");
            }
        }
        for slope in [0.2f32, 0.01, 0.1, 0.3, 1e-5, 0.05, 0.25] {
            assert_eq!(parse_float(&slope.to_string()), Some(slope));
        }
    }
}
