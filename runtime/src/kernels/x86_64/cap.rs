//! The cap on run-time dispatch ([`CAP_VAR`]), read once per process.

use core::sync::atomic::{AtomicU8, Ordering};

/// Environment variable that caps the x86-64 kernels under `std`: `avx2`
/// keeps every dispatch (the kernels, `tanh`, prepared weights) on the
/// AVX2 + F16C set even where the CPU, or the build, has AVX-512. Any
/// other value, or none, leaves the choice to the CPU. Read at the first
/// dispatch; later changes to the environment are not seen.
pub const CAP_VAR: &str = "MICROGAN_KERNELS";

const UNREAD: u8 = 0;
const ALLOWED: u8 = 1;
const CAPPED: u8 = 2;

static AVX512: AtomicU8 = AtomicU8::new(UNREAD);

/// Whether dispatch may pick the AVX-512 kernels ([`CAP_VAR`] is not
/// `avx2`; always without `std`, which has no environment). One relaxed
/// load after the first call.
#[inline]
pub fn avx512_allowed() -> bool {
    match AVX512.load(Ordering::Relaxed) {
        ALLOWED => true,
        CAPPED => false,
        _ => {
            let allowed = !capped_to_avx2();
            let v = if allowed { ALLOWED } else { CAPPED };
            AVX512.store(v, Ordering::Relaxed);
            allowed
        }
    }
}

#[cfg(feature = "std")]
fn capped_to_avx2() -> bool {
    std::env::var_os(CAP_VAR).is_some_and(|v| v.eq_ignore_ascii_case("avx2"))
}

#[cfg(not(feature = "std"))]
fn capped_to_avx2() -> bool {
    false
}
