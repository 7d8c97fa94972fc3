//! Each output channel's bias and requantisation for the Cortex-M integer
//! kernels, read straight from the tensors' bytes (the kernels checked
//! their dtypes and lengths first): through [`IntParams::bias`] and
//! [`IntParams::requant`] a channel costs about a hundred instructions,
//! as much as a dense row's MACs on the Cortex-M4F, and [`Requant::apply`]
//! about twenty-five (module-level [`apply`] takes five).

use crate::kernels::integer::{IntParams, Requant};

/// Output channel `o`'s bias and requantisation (0 and a requantisation
/// to zero past the end, which the kernels' checks rule out).
#[inline(always)]
pub(super) fn channel(p: &IntParams<'_>, o: usize) -> (i32, Rq) {
    let word = |b: &[u8]| {
        b.get(4 * o..4 * o + 4)
            .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    };
    (
        word(p.bias.bytes()) as i32,
        Rq::from_bits(word(p.scale.bytes()), p.f_in, p.f_out),
    )
}

/// A [`Requant`] prepared for a 32-bit core. `(acc * m + 2^(sh-1)) >> sh`
/// is `((acc * m >> (sh - 1)) + 1) >> 1` (flooring twice), and with `m`
/// shifted left by `k = 32 - (sh - 1)` (when `sh - 1 >= 25`, so that it
/// still fits 31 bits) the inner shift takes the high word of one
/// `SMULL` and shifts it right by `sh - 1 + k - 32`: five instructions
/// instead of a 64-bit shift and clamp. Smaller shifts take
/// [`Requant::apply`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Rq {
    m: i32,
    t: u32,
    fast: bool,
    slow: Requant,
}

impl Rq {
    /// `(m, t)` of the fast path, if it applies.
    #[cfg_attr(cortex_m_soft, allow(dead_code))]
    pub(super) fn fast_parts(self) -> Option<(i32, u32)> {
        self.fast.then_some((self.m, self.t))
    }
}

/// The requantisation to zero (unused on the fast path).
const NONE: Requant = Requant { m: 0, sh: 1 };

impl Rq {
    /// [`Requant::new`] of the scale with bits `bits`, worked out from the
    /// bits (a scale [`Requant::new`] rejects maps every sum to 0), from an
    /// input with `f_in` fraction bits to an output with `f_out`.
    #[inline(always)]
    pub(super) fn from_bits(bits: u32, f_in: u32, f_out: u32) -> Rq {
        let e = bits >> 23;
        // sh = 150 + f_in - f_out - E.
        let sh = shift_base(f_in, f_out).wrapping_sub(e as i32) as u32;
        if e.wrapping_sub(1) >= 254 || sh.wrapping_sub(1) >= 62 {
            return Rq {
                m: 0,
                t: 0,
                fast: true,
                slow: NONE,
            };
        }
        if sh < 26 {
            return Rq {
                m: 0,
                t: 0,
                fast: false,
                slow: Requant::new(f32::from_bits(bits), f_in, f_out),
            };
        }
        // k = 32 - (sh - 1) when positive: m << k stays below 2^31.
        let m = (bits & 0x7f_ffff) | 0x80_0000;
        Rq {
            m: (m << 33u32.saturating_sub(sh)) as i32,
            t: sh.saturating_sub(33),
            fast: true,
            slow: NONE,
        }
    }
}

/// `150 + f_in - f_out`, the shift of a scale with exponent field 0.
#[inline(always)]
fn shift_base(f_in: u32, f_out: u32) -> i32 {
    150 + f_in.min(1 << 20) as i32 - f_out.min(1 << 20) as i32
}

/// `acc` requantised: [`Requant::apply`], bit for bit.
#[inline(always)]
pub(super) fn apply(r: Rq, acc: i32) -> i16 {
    if r.fast {
        apply_fast(r.m, r.t, acc)
    } else {
        r.slow.apply(acc)
    }
}

/// The fast path of [`apply`] with its `m` and `t` (what the Cortex-M4F
/// assembly does: `SMMUL`, `ASR`, `ADD`, `SSAT` with `ASR #1`).
#[inline(always)]
pub(super) fn apply_fast(m: i32, t: u32, acc: i32) -> i16 {
    // |acc * m| < 2^62: the high word is below 2^30.
    #[cfg(not(cortex_m_soft))]
    let hi = ((i64::from(acc) * i64::from(m)) >> 32) as i32;
    #[cfg(cortex_m_soft)]
    let hi = mul_hi(acc, m);
    (((hi >> t) + 1) >> 1).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// `(a * m) >> 32` for `0 <= m < 2^31` in 16-bit halves, each product
/// within 32 bits: Thumb-1 has no long multiply, and the compiler's 64-bit
/// multiply routine costs about forty instructions and a call.
#[cfg_attr(not(cortex_m_soft), allow(dead_code))]
#[inline(always)]
fn mul_hi(a: i32, m: i32) -> i32 {
    let (ah, al) = (a >> 16, a & 0xffff);
    let (mh, ml) = (m >> 16, m & 0xffff);
    // |ah * ml| < 2^31, al * mh < 2^31, al * ml < 2^32.
    let (p2, p3) = (ah * ml, al * mh);
    let p4 = (al as u32 * ml as u32) >> 16;
    let carry = ((p2 & 0xffff) + (p3 & 0xffff) + p4 as i32) >> 16;
    ah * mh + (p2 >> 16) + (p3 >> 16) + carry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_word_in_halves() {
        let mut next = super::super::lcg(11);
        for i in 0..50_000 {
            let a = match i % 5 {
                0 => i32::MIN + next(5) as i32,
                1 => i32::MAX - next(5) as i32,
                _ => (next(1 << 31) as i32 ^ -(next(2) as i32)) >> next(31),
            };
            let m = (next(1 << 31) >> next(31)) as i32;
            let want = ((i64::from(a) * i64::from(m)) >> 32) as i32;
            assert_eq!(mul_hi(a, m), want, "{a} {m}");
        }
    }

    #[test]
    fn rejected_scales_give_zero() {
        for bits in [0, 1 << 31 | 120 << 23, 255 << 23, 1 << 23, 200 << 23] {
            let rq = Rq::from_bits(bits, 10, 8);
            let r = Requant::new(f32::from_bits(bits), 10, 8);
            for acc in [i32::MIN, -5, 0, 7, i32::MAX] {
                assert_eq!(apply(rq, acc), r.apply(acc), "{bits:#x} {acc}");
            }
        }
    }

    #[test]
    fn apply_equals_the_format() {
        let mut next = super::super::lcg(7);
        for _ in 0..20_000 {
            let r = Requant {
                m: i64::from(next(1 << 23) | 1 << 23),
                sh: if next(4) == 0 {
                    1 + next(62)
                } else {
                    24 + next(16)
                },
            };
            let acc = match next(4) {
                0 => i32::MIN + next(3) as i32,
                1 => i32::MAX - next(3) as i32,
                _ => (next(1 << 31) as i32) >> next(31),
            };
            let acc = if next(2) == 0 {
                acc
            } else {
                acc.wrapping_neg()
            };
            let bits = ((150 + 4 - 6 - r.sh) << 23) | (r.m as u32 & 0x7f_ffff);
            let rq = Rq::from_bits(bits, 4, 6);
            assert_eq!(Requant::new(f32::from_bits(bits), 4, 6), r);
            assert_eq!(apply(rq, acc), r.apply(acc), "{r:?} {acc}");
        }
    }
}
