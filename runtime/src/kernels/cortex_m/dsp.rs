//! The Cortex-M4F DSP instructions the integer kernels use: in plain Rust
//! on other targets, where the kernels' Rust stands in for their assembly
//! (module `m4f_int_asm`) so that the host tests run it, and as one `asm!`
//! statement each on `cortex_m_dsp` targets for the few rows the assembly
//! leaves to Rust (stable Rust has no intrinsics for them). Halfwords are signed; "lo"
//! is bits 0-15, "hi" bits 16-31. Sums wrap like the kernels' (`SMLAD`
//! only sets the Q flag on overflow, which nothing reads).

/// `(sext(b0), sext(b2))`: bytes 0 and 2 of `w` as two halfwords.
#[inline(always)]
pub(crate) fn sxtb16(w: u32) -> u32 {
    #[cfg(cortex_m_dsp)]
    {
        let r: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {w}", r = lateout(reg) r, w = in(reg) w,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(cortex_m_dsp))]
    {
        let lo = u32::from((w as u8 as i8) as i16 as u16);
        let hi = u32::from(((w >> 16) as u8 as i8) as i16 as u16);
        lo | hi << 16
    }
}

/// `(sext(b1), sext(b3))`: bytes 1 and 3 of `w` (`SXTB16` rotated by 8).
#[inline(always)]
pub(crate) fn sxtb16_ror8(w: u32) -> u32 {
    #[cfg(cortex_m_dsp)]
    {
        let r: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {w}, ror #8", r = lateout(reg) r, w = in(reg) w,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(cortex_m_dsp))]
    {
        sxtb16(w >> 8)
    }
}

/// The signed halfwords of `v`, (lo, hi).
#[cfg(not(cortex_m_dsp))]
#[inline(always)]
fn halves(v: u32) -> (i32, i32) {
    (
        i32::from(v as u16 as i16),
        i32::from((v >> 16) as u16 as i16),
    )
}

/// `acc + a.lo * b.lo + a.hi * b.hi` (`SMLAD`).
#[inline(always)]
pub(crate) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(cortex_m_dsp)]
    {
        let r: i32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(cortex_m_dsp))]
    {
        let ((al, ah), (bl, bh)) = (halves(a), halves(b));
        acc.wrapping_add(al * bl).wrapping_add(ah * bh)
    }
}

/// `acc + a.lo * b.hi + a.hi * b.lo` (`SMLADX`: `b`'s halves exchanged).
#[cfg(not(cortex_m_dsp))]
#[inline(always)]
pub(crate) fn smladx(a: u32, b: u32, acc: i32) -> i32 {
    smlad(a, b.rotate_left(16), acc)
}

/// `acc + a.lo * b.lo` (`SMLABB`).
#[cfg(not(cortex_m_dsp))]
#[inline(always)]
pub(crate) fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    smlad(a & 0xffff, b & 0xffff, acc)
}

/// `acc + a.hi * b.hi` (`SMLATT`).
#[cfg(not(cortex_m_dsp))]
#[inline(always)]
pub(crate) fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
    smlad(a & 0xffff_0000, b & 0xffff_0000, acc)
}

/// `(a.lo, b.lo)`: `PKHBT` with `b` shifted left 16.
#[inline(always)]
pub(crate) fn pack_lo(a: u32, b: u32) -> u32 {
    (a & 0xffff) | (b << 16)
}

/// `(a.hi, b.hi)`: `PKHTB` with `a` shifted right 16.
#[inline(always)]
pub(crate) fn pack_hi(a: u32, b: u32) -> u32 {
    (a >> 16) | (b & 0xffff_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfword_arithmetic() {
        let w = u32::from_le_bytes([0x80, 0x7f, 0xff, 0x01]);
        assert_eq!(sxtb16(w), 0xffff_ff80);
        assert_eq!(sxtb16_ror8(w), 0x0001_007f);
        let (a, b) = (0xfffe_0003u32, 0x0005_fff9u32); // (3, -2), (-7, 5)
        assert_eq!(smlad(a, b, 100), 100 - 21 - 10);
        assert_eq!(smladx(a, b, 100), 100 + 15 + 14);
        assert_eq!(smlabb(a, b, 1), 1 - 21);
        assert_eq!(smlatt(a, b, 1), 1 - 10);
        assert_eq!(pack_lo(a, b), 0xfff9_0003);
        assert_eq!(pack_hi(a, b), 0x0005_fffe);
    }
}
