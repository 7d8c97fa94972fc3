//! What this CPU's vector unit does at best, for the benchmark's floors.
//!
//! Every multiply-accumulate of the runtime is a `vmulps` then a `vaddps`
//! (no FMA, for bit-identity), and a dense layer's f16 weight is used once,
//! so each of its 16-lane steps also pays a `vcvtph2ps`. Two loops in
//! assembly (so that no compiler can fold them away), eight independent
//! sums each, time those steps from registers and L1: the best a dense
//! layer (`cvt_mul_add`) and a convolution whose weights are converted
//! once (`mul_add`) can do per 16 multiply-accumulates. A generator's floor
//! is its dense MACs at the first rate plus its other MACs at the second;
//! memory is not counted, so no real pass reaches it.

/// Nanoseconds per 16-lane step, the best of several timings (noise only
/// ever slows a loop down; the benchmark measures at its start and at its
/// end and keeps the better).
pub struct Limits {
    pub mul_add_ns: f64,
    pub cvt_mul_add_ns: f64,
}

impl Limits {
    /// The better of two measurements, field by field: a neighbour that
    /// slows one of them down does not raise the floor.
    pub fn best(self, other: Option<Limits>) -> Limits {
        match other {
            Some(o) => Limits {
                mul_add_ns: self.mul_add_ns.min(o.mul_add_ns),
                cvt_mul_add_ns: self.cvt_mul_add_ns.min(o.cvt_mul_add_ns),
            },
            None => self,
        }
    }

    /// Microseconds for `dense_macs` multiply-accumulates with f16 weights
    /// used once and `other_macs` with f32 weights in registers or L1.
    pub fn floor_us(&self, dense_macs: u64, other_macs: u64) -> f64 {
        (dense_macs as f64 * self.cvt_mul_add_ns + other_macs as f64 * self.mul_add_ns) / 16.0 / 1e3
    }
}

/// The two rates on an x86-64 CPU with AVX-512; `None` elsewhere.
pub fn measure() -> Option<Limits> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::time::Instant;
        if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("f16c")) {
            return None;
        }
        let best = |f: fn(u64)| {
            const STEPS: u64 = 20_000_000;
            (0..25)
                .map(|_| {
                    let t = Instant::now();
                    f(STEPS / 8);
                    t.elapsed().as_secs_f64() * 1e9 / STEPS as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        Some(Limits {
            mul_add_ns: best(x86::mul_add),
            cvt_mul_add_ns: best(x86::cvt_mul_add),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// The eight sums, zmm0-zmm7, set to zero (a VEX `vxorps` on the low
    /// 128 bits clears the whole register).
    macro_rules! zero_sums {
        () => {
            concat!(
                "vxorps xmm0, xmm0, xmm0\n",
                "vxorps xmm1, xmm1, xmm1\n",
                "vxorps xmm2, xmm2, xmm2\n",
                "vxorps xmm3, xmm3, xmm3\n",
                "vxorps xmm4, xmm4, xmm4\n",
                "vxorps xmm5, xmm5, xmm5\n",
                "vxorps xmm6, xmm6, xmm6\n",
                "vxorps xmm7, xmm7, xmm7",
            )
        };
    }

    /// `iters` times eight `vmulps` + `vaddps` pairs into eight sums, all
    /// in registers (operands 1.0, so nothing turns subnormal).
    pub fn mul_add(iters: u64) {
        // SAFETY: the caller checked AVX-512F; only the named registers
        // change.
        unsafe {
            asm!(
                "vbroadcastss zmm16, [{one}]",
                "vbroadcastss zmm17, [{one}]",
                zero_sums!(),
                "2:",
                "vmulps zmm8, zmm16, zmm17", "vaddps zmm0, zmm0, zmm8",
                "vmulps zmm9, zmm16, zmm17", "vaddps zmm1, zmm1, zmm9",
                "vmulps zmm10, zmm16, zmm17", "vaddps zmm2, zmm2, zmm10",
                "vmulps zmm11, zmm16, zmm17", "vaddps zmm3, zmm3, zmm11",
                "vmulps zmm12, zmm16, zmm17", "vaddps zmm4, zmm4, zmm12",
                "vmulps zmm13, zmm16, zmm17", "vaddps zmm5, zmm5, zmm13",
                "vmulps zmm14, zmm16, zmm17", "vaddps zmm6, zmm6, zmm14",
                "vmulps zmm15, zmm16, zmm17", "vaddps zmm7, zmm7, zmm15",
                "dec {n}",
                "jnz 2b",
                one = in(reg) &1.0f32,
                n = inout(reg) iters.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                out("zmm16") _, out("zmm17") _,
                options(nostack, readonly),
            );
        }
    }

    /// `iters` times eight steps of a dense row block: sixteen f16 weights
    /// from L1 converted, multiplied and added into one of eight sums.
    pub fn cvt_mul_add(iters: u64) {
        // f16 1.0 in every element: 256 bytes, read over and over.
        let w = [0x3c00u16; 128];
        // SAFETY: as above; the loads stay inside `w`.
        unsafe {
            asm!(
                "vbroadcastss zmm17, [{one}]",
                zero_sums!(),
                "2:",
                "vcvtph2ps zmm8, [{w}]", "vmulps zmm8, zmm8, zmm17", "vaddps zmm0, zmm0, zmm8",
                "vcvtph2ps zmm9, [{w} + 32]", "vmulps zmm9, zmm9, zmm17", "vaddps zmm1, zmm1, zmm9",
                "vcvtph2ps zmm10, [{w} + 64]", "vmulps zmm10, zmm10, zmm17", "vaddps zmm2, zmm2, zmm10",
                "vcvtph2ps zmm11, [{w} + 96]", "vmulps zmm11, zmm11, zmm17", "vaddps zmm3, zmm3, zmm11",
                "vcvtph2ps zmm12, [{w} + 128]", "vmulps zmm12, zmm12, zmm17", "vaddps zmm4, zmm4, zmm12",
                "vcvtph2ps zmm13, [{w} + 160]", "vmulps zmm13, zmm13, zmm17", "vaddps zmm5, zmm5, zmm13",
                "vcvtph2ps zmm14, [{w} + 192]", "vmulps zmm14, zmm14, zmm17", "vaddps zmm6, zmm6, zmm14",
                "vcvtph2ps zmm15, [{w} + 224]", "vmulps zmm15, zmm15, zmm17", "vaddps zmm7, zmm7, zmm15",
                "dec {n}",
                "jnz 2b",
                one = in(reg) &1.0f32,
                w = in(reg) w.as_ptr(),
                n = inout(reg) iters.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                out("zmm17") _,
                options(nostack, readonly),
            );
        }
    }
}
