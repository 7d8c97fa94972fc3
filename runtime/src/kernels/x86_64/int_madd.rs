//! Integer convolutions on AVX2 by `VPMADDWD`: 8, 16 or 32 output channels
//! (one, two or four `ymm` registers of 32-bit lanes) of a band of [`PX`]
//! output pixels accumulate in registers, and each tap adds, for a pair of
//! input channels at once, the pair's two inputs (one 32-bit broadcast)
//! times each channel's two int16-widened weights: one `VPMADDWD` +
//! `VPADDD` per 8 channels x 2 inputs, where LLVM's vectorisation of the
//! blocked kernel (`integer::blocked`) spends a `VPMULLD` + `VPADDD` per 8
//! channels x 1 input. The weights of a block are widened and interleaved
//! once per input pair and band, and which input pixel each tap of each
//! band pixel reads is worked out once per band (as in the blocked
//! kernel). Integer sums are exact (weights are int8, so no product pair
//! leaves 32 bits), so the result equals the plain kernels bit for bit.
//! Fewer than 8 output channels (an image's last layer) take module
//! `int_narrow`, lanes over input channels. About 36 KB of
//! stack at 32 channels, more than the portable set (what a
//! microcontroller runs) may take.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi32,
    _mm256_setzero_si256,
};

use super::int_narrow;
use crate::kernels::integer::blocked::{tap_lists, Tap, TAPS};
use crate::kernels::integer::{int_conv_fits, portable, IntParams};
use crate::kernels::ConvGeom;

/// Output channels per `ymm` register of 32-bit lanes.
const LANES: usize = 8;
/// Output pixels per band.
const PX: usize = 128;

/// The accumulators of a band: `8 * H` output channels of each pixel.
type Acc<const H: usize> = [[__m256i; H]; PX];

/// Either convolution (`transpose`), output channels in blocks of [`OC`].
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn conv(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
    transpose: bool,
) {
    let fits = int_conv_fits(p, g, x, y)
        && u32::try_from(g.in_h * g.in_w).is_ok()
        && u16::try_from(g.kernel * g.kernel).is_ok();
    if !fits {
        return;
    }
    // Few output channels would leave most lanes idle: lanes over input
    // channels do better there (or, where their copies do not fit, the
    // row-by-row loops). One register of channels where a second
    // would stay mostly idle.
    if g.out_c < LANES {
        if !int_narrow::conv(p, g, x, y, transpose) {
            portable::conv_body(p, g, x, y, transpose)
        }
    } else if g.out_c <= LANES {
        blocks::<1>(p, g, x, y, transpose)
    } else if g.out_c <= 2 * LANES {
        blocks::<2>(p, g, x, y, transpose)
    } else {
        blocks::<4>(p, g, x, y, transpose)
    }
}

/// The convolution in blocks of `8 * H` output channels and bands of
/// [`PX`] output pixels.
#[inline(always)]
unsafe fn blocks<const H: usize>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
    transpose: bool,
) {
    let plane = g.out_h * g.out_w;
    for o0 in (0..g.out_c).step_by(LANES * H) {
        let ob = (LANES * H).min(g.out_c - o0);
        for p0 in (0..plane).step_by(PX) {
            let p1 = (p0 + PX).min(plane);
            let mut acc = [[_mm256_setzero_si256(); H]; PX];
            for t0 in (0..g.kernel * g.kernel).step_by(TAPS) {
                let t1 = (t0 + TAPS).min(g.kernel * g.kernel);
                band(p, g, x, &mut acc, (o0, ob), (p0, p1), (t0, t1), transpose);
            }
            store(p, &acc, y, (o0, ob), (p0, p1), plane);
        }
    }
}

/// Adds taps `t0..t1` of every input channel to the band `p0..p1` of
/// output channels `o0..o0 + ob`, input channels two at a time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn band<const H: usize>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    acc: &mut Acc<H>,
    (o0, ob): (usize, usize),
    (p0, p1): (usize, usize),
    (t0, t1): (usize, usize),
    transpose: bool,
) {
    let mut taps = [[Tap::default(); TAPS]; PX];
    let mut counts = [0u8; PX];
    tap_lists(g, (p0, p1), (t0, t1), transpose, &mut taps, &mut counts);
    let in_plane = g.in_h * g.in_w;
    for c in (0..g.in_c).step_by(2) {
        let wt = pair_weights::<H>(p, g, c, (o0, ob), (t0, t1), transpose);
        let x0 = &x[c * in_plane..(c + 1) * in_plane];
        // A last odd channel pairs with zero weights; any input will do.
        let x1 = x.get((c + 1) * in_plane..(c + 2) * in_plane).unwrap_or(x0);
        for ((a, list), &n) in acc.iter_mut().zip(&taps).zip(&counts).take(p1 - p0) {
            let mut s = *a;
            for tap in &list[..usize::from(n)] {
                let at = tap.at as usize;
                let pair = u32::from(x0[at] as u16) | (u32::from(x1[at] as u16) << 16);
                let xv = _mm256_set1_epi32(pair as i32);
                for (s, &w) in s.iter_mut().zip(&wt[usize::from(tap.t)]) {
                    *s = _mm256_add_epi32(*s, _mm256_madd_epi16(w, xv));
                }
            }
            *a = s;
        }
    }
}

/// The weights of input channels `c` and `c + 1` (zero past the last) for
/// taps `t0..t1` of output channels `o0..o0 + ob`, as int16 pairs: lane
/// `j` of a tap's registers holds channel `o0 + j`'s two weights.
#[inline(always)]
unsafe fn pair_weights<const H: usize>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    c: usize,
    (o0, ob): (usize, usize),
    (t0, t1): (usize, usize),
    transpose: bool,
) -> [[__m256i; H]; TAPS] {
    let (w, kk) = (p.weights(), g.kernel * g.kernel);
    let mut table = [[[0i16; 2 * LANES]; H]; TAPS];
    for (i, ci) in [c, c + 1]
        .into_iter()
        .enumerate()
        .filter(|&(_, ci)| ci < g.in_c)
    {
        for j in 0..ob {
            let plane = if transpose {
                ci * g.out_c + o0 + j
            } else {
                (o0 + j) * g.in_c + ci
            };
            let row = &w[plane * kk + t0..plane * kk + t1];
            for (entry, &v) in table.iter_mut().zip(row) {
                entry[j / LANES][2 * (j % LANES) + i] = i16::from(v);
            }
        }
    }
    let mut regs = [[_mm256_setzero_si256(); H]; TAPS];
    for (r, t) in regs.iter_mut().zip(&table) {
        for (r, t) in r.iter_mut().zip(t) {
            *r = _mm256_loadu_si256(t.as_ptr().cast());
        }
    }
    regs
}

/// Writes the band's sums, bias added and requantised, to `y`.
#[inline(always)]
unsafe fn store<const H: usize>(
    p: &IntParams<'_>,
    acc: &Acc<H>,
    y: &mut [i16],
    (o0, ob): (usize, usize),
    (p0, p1): (usize, usize),
    plane: usize,
) {
    // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
    let sums = &*(acc as *const Acc<H>).cast::<[[[i32; LANES]; H]; PX]>();
    for j in 0..ob {
        let (bias, rq) = (p.bias(o0 + j), p.requant(o0 + j));
        let out = &mut y[(o0 + j) * plane + p0..(o0 + j) * plane + p1];
        for (d, s) in out.iter_mut().zip(sums) {
            *d = rq.apply(bias.wrapping_add(s[j / LANES][j % LANES]));
        }
    }
}
