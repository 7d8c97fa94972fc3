//! f16 weights to f32, exactly: the branch-free conversion every fast
//! kernel uses where it converts one element at a time, its integer form
//! for cores without an FPU, and one stored element read with it.

use super::Weights;
use crate::format::DType;

/// f16 bits to f32, exactly for every finite value, in three vector-friendly
/// operations and no branch: shifting the exponent and mantissa into f32
/// position gives the value times 2^-112 (a subnormal f16 lands on an f32
/// subnormal, still exact), and multiplying by 2^112 restores it. Infinities
/// and NaNs come out as large finite numbers: the loader rejects files that
/// hold them, so the fast kernels never see one.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    if cfg!(all(target_arch = "arm", not(target_abi = "eabihf"))) {
        f16_to_f32_integer(h)
    } else {
        let magnitude = f32::from_bits(u32::from(h & 0x7fff) << 13) * 5.192_297e33; // 2^112
        f32::from_bits(magnitude.to_bits() | (u32::from(h & 0x8000) << 16))
    }
}

/// The same conversion for targets without a floating-point unit, where the
/// multiplication is a library call: normal numbers are re-biased in the
/// integer domain, and only zeros and subnormals (rare in weights) take the
/// float path.
#[inline(always)]
pub fn f16_to_f32_integer(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let em = u32::from(h & 0x7fff);
    let bits = if em >= 0x0400 {
        (em << 13) + (112 << 23)
    } else {
        subnormal_bits(em)
    };
    f32::from_bits(bits | sign)
}

/// f32 bits of a zero or subnormal f16 magnitude, out of line so that the
/// compiler does not turn the branch above into a select that always pays
/// for a software multiplication.
#[cold]
#[inline(never)]
fn subnormal_bits(em: u32) -> u32 {
    (f32::from_bits(em << 13) * 5.192_297e33).to_bits()
}

/// Stored element `i` of `w`, f16 with [`f16_to_f32`] rather than
/// `half`'s slower software path (0.0 past the end, which the callers'
/// size checks rule out).
#[inline(always)]
pub(crate) fn weight(w: &Weights<'_>, i: usize) -> f32 {
    let size = w.dtype().size();
    let b = i
        .checked_mul(size)
        .and_then(|s0| w.bytes().get(s0..s0.checked_add(size)?))
        .unwrap_or(&[]);
    match w.dtype() {
        DType::F16 => match *b {
            [lo, hi] => f16_to_f32(u16::from_le_bytes([lo, hi])),
            _ => 0.0,
        },
        DType::F32 => match *b {
            [a, b, c, d] => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        },
        // Integer weights: the float kernels' size checks reject them.
        DType::I8 | DType::I16 | DType::I32 => 0.0,
    }
}

/// Holds a vector kernel's f16 conversion to the reference on every finite
/// f16 bit pattern, `lanes` (at most 16) at a time: `convert` gets
/// `2 * lanes` little-endian bytes and fills `lanes` floats.
#[cfg(test)]
pub(crate) fn assert_converts_every_finite_f16(
    lanes: usize,
    mut convert: impl FnMut(&[u8], &mut [f32]),
) {
    assert!(lanes <= 16 && (u16::MAX as usize + 1).is_multiple_of(lanes));
    let (mut bytes, mut got) = ([0u8; 32], [0f32; 16]);
    for first in (0..=u16::MAX as usize).step_by(lanes) {
        let bits = |i: usize| (first + i) as u16;
        for i in 0..lanes {
            bytes[2 * i..2 * i + 2].copy_from_slice(&bits(i).to_le_bytes());
        }
        convert(&bytes[..2 * lanes], &mut got[..lanes]);
        for (i, g) in got[..lanes].iter().enumerate() {
            let want = half::f16::from_bits(bits(i)).to_f32();
            if want.is_finite() {
                assert_eq!(g.to_bits(), want.to_bits(), "{:#06x}", bits(i));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact_for_every_finite_value() {
        assert_eq!(5.192_297e33f32.to_bits(), ((127 + 112) as u32) << 23);
        for bits in 0..=u16::MAX {
            let want = half::f16::from_bits(bits).to_f32();
            if want.is_finite() {
                assert_eq!(f16_to_f32(bits).to_bits(), want.to_bits(), "{bits:#06x}");
                assert_eq!(
                    f16_to_f32_integer(bits).to_bits(),
                    want.to_bits(),
                    "{bits:#06x}"
                );
            }
        }
    }
}
