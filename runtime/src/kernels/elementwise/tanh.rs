//! `tanh` over a slice, bit for bit `libm::tanhf`, in a form that vectorises.
//!
//! `libm::tanhf` (and the `expm1f` it calls) picks one of several formulas
//! by branching on the argument, which keeps a loop over an image scalar:
//! 5-13 ns a value, 4-10 us for a 28x28 output, up to a tenth of a small
//! DCGAN's whole pass. [`lane`] evaluates every formula that `libm` could
//! pick for a value, with the same f32 operations in the same order, and
//! then selects the one `libm` would have returned, so the compiler turns a
//! loop over it into straight-line vector code with blends. IEEE f32
//! operations give the same bits in any lane of any target, so the result
//! is `libm`'s; a test compares the two on every f32 bit pattern (and the
//! `expm1` here only has to match for the arguments `tanh` gives it,
//! `|a| <= 20`).
//!
//! Computing every formula costs more operations than `libm`'s one branch,
//! which only pays where there are vector lanes to share it: the module is
//! built for x86-64 and AArch64, and other targets (Cortex-M) keep calling
//! `libm`.

/// `ln 2` split so that `k * LN2_HI` is exact, and `1 / ln 2` (the bit
/// patterns of `libm`'s `expm1f`).
const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
/// `expm1f`'s rational approximation on the reduced range.
const Q1: f32 = f32::from_bits(0xbd08_8868);
const Q2: f32 = f32::from_bits(0x3acf_3010);

/// `libm::expm1f(a)` for `|a| <= 20`, every branch computed, one selected.
#[inline(always)]
fn expm1(a: f32) -> f32 {
    let bits = a.to_bits();
    let sign = bits >> 31 != 0;
    let hx = bits & 0x7fff_ffff;
    // Argument reduction: a = k ln2 + x (+ c), where |a| > ln2 / 2.
    let reduce = hx > 0x3eb1_7218;
    let near = hx < 0x3f85_1592;
    let kf = (INV_LN2 * a + if sign { -0.5 } else { 0.5 }) as i32;
    let k = match (reduce, near, sign) {
        (false, _, _) => 0,
        (true, true, false) => 1,
        (true, true, true) => -1,
        (true, false, _) => kf,
    };
    let t = k as f32;
    let (hi, lo) = match (near, sign) {
        (true, false) => (a - LN2_HI, LN2_LO),
        (true, true) => (a + LN2_HI, -LN2_LO),
        (false, _) => (a - t * LN2_HI, t * LN2_LO),
    };
    let xr = hi - lo;
    let cr = (hi - xr) - lo;
    let x = if reduce { xr } else { a };
    let c = if reduce { cr } else { 0.0 };

    let hfx = 0.5 * x;
    let hxs = x * hfx;
    let r1 = 1. + hxs * (Q1 + hxs * Q2);
    let t = 3. - r1 * hfx;
    let e = hxs * ((r1 - t) / (6. - x * t));
    let k0 = x - (x * e - hxs);
    let e = x * (e - c) - c;
    let e = e - hxs;
    let km1 = 0.5 * (x - e) - 0.5;
    let k1 = if x < -0.25 {
        -2. * (e - (x + 0.5))
    } else {
        1. + 2. * (x - e)
    };
    // 2^k and 2^-k; `k` stays within [-1, 29] for |a| <= 20.
    let twopk = f32::from_bits((0x7f_i32.wrapping_add(k) as u32).wrapping_shl(23));
    let uf = f32::from_bits((0x7f_i32.wrapping_sub(k) as u32).wrapping_shl(23));
    let kn = if k < 23 {
        (x - e + (1. - uf)) * twopk
    } else {
        (x - (e + uf) + 1.) * twopk
    };

    if !reduce && hx < 0x3300_0000 {
        a
    } else if k == 0 {
        k0
    } else if k == -1 {
        km1
    } else if k == 1 {
        k1
    } else {
        kn
    }
}

/// `libm::tanhf(v)`, every branch computed, one selected.
#[inline(always)]
pub fn lane(v: f32) -> f32 {
    let bits = v.to_bits();
    let sign = bits >> 31 != 0;
    let w = bits & 0x7fff_ffff;
    let x = f32::from_bits(w);
    // |x| in (log(5/3)/2, 10]: expm1(2x); below: expm1(-2x); above 10 (or
    // NaN) unused, so a harmless argument keeps `expm1` in its range.
    let a = if w > 0x4120_0000 {
        1.
    } else if w > 0x3e82_c578 {
        2. * x
    } else {
        -2. * x
    };
    let t = expm1(a);
    let tt = if w > 0x4120_0000 {
        1. + 0. / x
    } else if w > 0x3f0c_9f54 {
        1. - 2. / (t + 2.)
    } else if w > 0x3e82_c578 {
        t / (t + 2.)
    } else if w >= 0x0080_0000 {
        -t / (t + 2.)
    } else {
        x
    };
    if sign {
        -tt
    } else {
        tt
    }
}

/// Values handled per step: enough for a 512-bit register, and a fixed
/// width the compiler unrolls.
const CHUNK: usize = 16;

/// `x[i] = tanh(x[i])` with [`lane`], chunk by chunk.
#[inline(always)]
fn slice_lanes(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(CHUNK);
    for c in &mut chunks {
        for v in c.iter_mut() {
            *v = lane(*v);
        }
    }
    for v in chunks.into_remainder() {
        *v = lane(*v);
    }
}

/// [`slice_lanes`] compiled for AVX-512 (picked at run time).
///
/// # Safety
///
/// The CPU has AVX-512 F, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn slice_avx512(x: &mut [f32]) {
    slice_lanes(x);
}

/// [`slice_lanes`] compiled for AVX2 (picked at run time).
///
/// # Safety
///
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn slice_avx2(x: &mut [f32]) {
    slice_lanes(x);
}

/// `tanh` of every value, equal to `libm::tanhf` bit for bit: the widest
/// vector form the CPU runs.
pub fn slice(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::kernels::x86_64::avx512::available() {
            // SAFETY: the features were detected (or enabled at compile time).
            unsafe { slice_avx512(x) };
            return;
        }
        if crate::kernels::x86_64::avx2::available() {
            // SAFETY: AVX2 (and F16C, unused here) was detected or enabled.
            unsafe { slice_avx2(x) };
            return;
        }
        slice_lanes(x);
    }
    #[cfg(target_arch = "aarch64")]
    slice_lanes(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits()
    }

    type Form = (&'static str, fn(&mut [f32]));

    /// Every form this CPU can run: `slice` (what the runtime picks) and
    /// each compiled variant.
    fn forms() -> Vec<Form> {
        let f: Vec<Form> = vec![("slice", slice), ("baseline", slice_lanes)];
        #[cfg(target_arch = "x86_64")]
        let f = {
            let mut f = f;
            if crate::kernels::x86_64::avx2::available() {
                // SAFETY: AVX2 is present.
                f.push(("avx2", |x| unsafe { slice_avx2(x) }));
            }
            if crate::kernels::x86_64::avx512::available() {
                // SAFETY: AVX-512 F/BW/VL are present.
                f.push(("avx512", |x| unsafe { slice_avx512(x) }));
            }
            f
        };
        f
    }

    /// Every `step`-th f32 bit pattern from `start`, through each form
    /// and `lane`, against `libm`.
    fn check(start: u32, step: u32) {
        let forms = forms();
        let mut input = [0.0f32; 4096];
        let mut bits = start as u64;
        while bits <= u32::MAX as u64 {
            let n = input.len();
            for (i, v) in input.iter_mut().enumerate() {
                *v = f32::from_bits((bits + i as u64 * step as u64).min(u32::MAX as u64) as u32);
            }
            let want: Vec<f32> = input.iter().map(|&x| libm::tanhf(x)).collect();
            for (name, f) in &forms {
                let mut buf = input;
                f(&mut buf);
                for ((&x, &y), &w) in input.iter().zip(&buf).zip(&want) {
                    assert!(
                        same(y, w),
                        "{name}: tanh({x:e}) = {y:e} ({:#x}), libm {w:e} ({:#x})",
                        y.to_bits(),
                        w.to_bits()
                    );
                }
            }
            for (&x, &w) in input.iter().zip(&want) {
                assert!(same(lane(x), w), "lane: tanh({x:e})");
            }
            bits += n as u64 * step as u64;
        }
    }

    #[test]
    fn equals_libm_on_a_sample_of_every_range() {
        // Every 127th pattern: all exponents, both signs, NaNs and infinities.
        check(0, 127);
    }

    #[test]
    fn equals_libm_at_the_branch_boundaries() {
        for b in [
            0x4120_0000u32,
            0x3f0c_9f54,
            0x3e82_c578,
            0x0080_0000,
            // expm1's own boundaries, on 2x.
            0x3eb1_7218 - 0x0080_0000,
            0x3f85_1592 - 0x0080_0000,
            0x3300_0000 - 0x0080_0000,
            // k = 23 in expm1(2x).
            0x4100_0000,
            0x7f80_0000,
        ] {
            for s in [0, 0x8000_0000] {
                let mut v: Vec<f32> = (b.saturating_sub(2000)..b.saturating_add(2000))
                    .map(|x| f32::from_bits(x | s))
                    .collect();
                let input = v.clone();
                for (name, f) in forms() {
                    f(&mut v);
                    for (x, y) in input.iter().zip(&v) {
                        assert!(same(*y, libm::tanhf(*x)), "{name}: tanh({x:e})");
                    }
                    v.copy_from_slice(&input);
                }
            }
        }
    }

    /// Every f32 bit pattern (a few minutes in release):
    /// `cargo test -p runtime --release -- --ignored every_f32`.
    #[test]
    #[ignore = "4.3 billion values; run in release"]
    fn equals_libm_on_every_f32() {
        check(0, 1);
    }
}
