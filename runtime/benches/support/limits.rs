//! What this CPU's vector unit does at best, for the benchmark's floors.
//!
//! Every multiply-accumulate of the runtime is a `vmulps` then a `vaddps`
//! (no FMA, for bit-identity), and a dense layer's f16 weight is used once,
//! so each of its 16-lane steps also pays a `vcvtph2ps`. Two loops in
//! assembly (so that no compiler can fold them away), eight independent
//! sums each, time those steps from registers and L1: the best a dense
//! layer (`cvt_mul_add`) and a convolution whose weights are converted
//! once (`mul_add`) can do per 16 multiply-accumulates, on `zmm` registers
//! (AVX-512) and on `ymm` ones (AVX2, two steps per 16). A generator's floor
//! is its dense MACs at the first rate plus its other MACs at the second;
//! memory is not counted, so no real pass reaches it.

/// Nanoseconds per 16-lane step, the best of several timings (noise only
/// ever slows a loop down; the benchmark measures at its start and at its
/// end and keeps the better).
#[derive(Clone, Copy)]
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

/// The rates of one vector width.
#[derive(Clone, Copy)]
pub enum Width {
    /// `zmm` registers (AVX-512 F).
    Zmm,
    /// `ymm` registers (AVX2 + F16C): two steps per 16 lanes.
    Ymm,
}

/// The two rates on `ymm` or `zmm` registers of an x86-64 CPU that has the
/// width's features; `None` elsewhere.
pub fn measure(width: Width) -> Option<Limits> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::time::Instant;
        /// The two timing loops of a width: without, then with conversion.
        type Loops = [fn(u64); 2];
        let (present, lanes, loops): (bool, f64, Loops) = match width {
            Width::Zmm => (
                std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("f16c"),
                16.0,
                [x86::mul_add, x86::cvt_mul_add],
            ),
            Width::Ymm => (
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c"),
                8.0,
                [x86::mul_add_ymm, x86::cvt_mul_add_ymm],
            ),
        };
        if !present {
            return None;
        }
        // Nanoseconds per 16 lanes: 16 / lanes steps of one register.
        let best = |f: fn(u64)| {
            const STEPS: u64 = 20_000_000;
            (0..25)
                .map(|_| {
                    let t = Instant::now();
                    f(STEPS / 8);
                    t.elapsed().as_secs_f64() * 1e9 / STEPS as f64 * (16.0 / lanes)
                })
                .fold(f64::INFINITY, f64::min)
        };
        Some(Limits {
            mul_add_ns: best(loops[0]),
            cvt_mul_add_ns: best(loops[1]),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = width;
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

    /// The eight `ymm` sums, ymm0-ymm7, set to zero.
    macro_rules! zero_sums_ymm {
        () => {
            concat!(
                "vxorps ymm0, ymm0, ymm0\n",
                "vxorps ymm1, ymm1, ymm1\n",
                "vxorps ymm2, ymm2, ymm2\n",
                "vxorps ymm3, ymm3, ymm3\n",
                "vxorps ymm4, ymm4, ymm4\n",
                "vxorps ymm5, ymm5, ymm5\n",
                "vxorps ymm6, ymm6, ymm6\n",
                "vxorps ymm7, ymm7, ymm7",
            )
        };
    }

    /// [`mul_add`] on `ymm` registers (AVX2 has 16: the eight products
    /// take ymm8-ymm13, two of them twice, which renaming makes free).
    pub fn mul_add_ymm(iters: u64) {
        // SAFETY: the caller checked AVX2; only the named registers change.
        unsafe {
            asm!(
                "vbroadcastss ymm14, [{one}]",
                "vbroadcastss ymm15, [{one}]",
                zero_sums_ymm!(),
                "2:",
                "vmulps ymm8, ymm14, ymm15", "vaddps ymm0, ymm0, ymm8",
                "vmulps ymm9, ymm14, ymm15", "vaddps ymm1, ymm1, ymm9",
                "vmulps ymm10, ymm14, ymm15", "vaddps ymm2, ymm2, ymm10",
                "vmulps ymm11, ymm14, ymm15", "vaddps ymm3, ymm3, ymm11",
                "vmulps ymm12, ymm14, ymm15", "vaddps ymm4, ymm4, ymm12",
                "vmulps ymm13, ymm14, ymm15", "vaddps ymm5, ymm5, ymm13",
                "vmulps ymm8, ymm14, ymm15", "vaddps ymm6, ymm6, ymm8",
                "vmulps ymm9, ymm14, ymm15", "vaddps ymm7, ymm7, ymm9",
                "dec {n}",
                "jnz 2b",
                one = in(reg) &1.0f32,
                n = inout(reg) iters.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack, readonly),
            );
        }
    }

    /// [`cvt_mul_add`] on `ymm` registers: eight f16 weights per step.
    pub fn cvt_mul_add_ymm(iters: u64) {
        // f16 1.0 in every element: 128 bytes, read over and over.
        let w = [0x3c00u16; 64];
        // SAFETY: as above; the loads stay inside `w`.
        unsafe {
            asm!(
                "vbroadcastss ymm15, [{one}]",
                zero_sums_ymm!(),
                "2:",
                "vcvtph2ps ymm8, [{w}]", "vmulps ymm8, ymm8, ymm15", "vaddps ymm0, ymm0, ymm8",
                "vcvtph2ps ymm9, [{w} + 16]", "vmulps ymm9, ymm9, ymm15", "vaddps ymm1, ymm1, ymm9",
                "vcvtph2ps ymm10, [{w} + 32]", "vmulps ymm10, ymm10, ymm15", "vaddps ymm2, ymm2, ymm10",
                "vcvtph2ps ymm11, [{w} + 48]", "vmulps ymm11, ymm11, ymm15", "vaddps ymm3, ymm3, ymm11",
                "vcvtph2ps ymm12, [{w} + 64]", "vmulps ymm12, ymm12, ymm15", "vaddps ymm4, ymm4, ymm12",
                "vcvtph2ps ymm13, [{w} + 80]", "vmulps ymm13, ymm13, ymm15", "vaddps ymm5, ymm5, ymm13",
                "vcvtph2ps ymm14, [{w} + 96]", "vmulps ymm14, ymm14, ymm15", "vaddps ymm6, ymm6, ymm14",
                "vcvtph2ps ymm8, [{w} + 112]", "vmulps ymm8, ymm8, ymm15", "vaddps ymm7, ymm7, ymm8",
                "dec {n}",
                "jnz 2b",
                one = in(reg) &1.0f32,
                w = in(reg) w.as_ptr(),
                n = inout(reg) iters.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack, readonly),
            );
        }
    }
}
