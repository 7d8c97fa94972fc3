//! AArch64: the 8-lane kernels of `lane8` on pairs of NEON registers.

pub(crate) mod neon;

use self::neon::Neon;
use super::{lane8, KernelSet, PORTABLE};

/// The NEON kernels.
pub const NEON: KernelSet = lane8::set::<Neon>("AArch64 NEON");

/// The sets this CPU runs.
pub(crate) fn available() -> [Option<KernelSet>; 1] {
    [neon::available().then_some(NEON)]
}

/// The set this CPU runs fastest.
#[inline]
pub(crate) fn fastest() -> KernelSet {
    if neon::available() {
        NEON
    } else {
        PORTABLE
    }
}
