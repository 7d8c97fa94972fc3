//! Integer convolutions with few output channels (an image's last layer)
//! on AVX2: lanes over input channels instead of output channels, which
//! would leave most lanes idle. The input is copied once channel-minor
//! (each pixel's channels contiguous, zero-padded to a multiple of 16) and
//! each output channel's weights likewise per tap, so that every tap of
//! every output pixel is a run of `VPMADDWD` over 16 channels at a time
//! into one register, summed across lanes at the end. Integer sums are
//! exact, so the result equals the plain kernels bit for bit. Inputs and
//! weights beyond the copies' room (64 KiB of stack with the band's tap
//! lists) take the portable loops instead.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_setzero_si256,
};

use crate::kernels::integer::blocked::{tap_lists, Tap, TAPS};
use crate::kernels::integer::IntParams;
use crate::kernels::ConvGeom;

/// Input channels per register.
const CB: usize = 16;
/// Room for the channel-minor input: channels (padded) x input pixels.
const X_ROOM: usize = 16 * 1024;
/// Room for one output channel's weights: channels (padded) x taps.
const W_ROOM: usize = 4 * 1024;
/// Output pixels per band.
const PX: usize = 128;

/// Either convolution (`transpose`) with lanes over input channels, if the
/// copies fit (else `false`, having written nothing). The caller has
/// checked the buffers ([`crate::kernels::integer::int_conv_fits`]).
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
) -> bool {
    let cpad = g.in_c.div_ceil(CB) * CB;
    let (in_plane, kk) = (g.in_h * g.in_w, g.kernel * g.kernel);
    if cpad * in_plane > X_ROOM || cpad * kk > W_ROOM {
        return false;
    }
    let mut xt = [0i16; X_ROOM];
    for (c, xc) in x.chunks_exact(in_plane).take(g.in_c).enumerate() {
        for (d, &v) in xt.iter_mut().skip(c).step_by(cpad).zip(xc) {
            *d = v;
        }
    }
    let plane = g.out_h * g.out_w;
    for o in 0..g.out_c {
        let wt = weights(p, g, o, cpad, transpose);
        let (bias, rq) = (p.bias(o), p.requant(o));
        for p0 in (0..plane).step_by(PX) {
            let p1 = (p0 + PX).min(plane);
            let acc = band(g, &xt, &wt, cpad, (p0, p1), transpose);
            for (d, a) in y[o * plane + p0..o * plane + p1].iter_mut().zip(&acc) {
                // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
                let lanes: [i32; 8] = core::mem::transmute(*a);
                let sum = lanes.iter().fold(bias, |s, &v| s.wrapping_add(v));
                *d = rq.apply(sum);
            }
        }
    }
    true
}

/// Output channel `o`'s weights as int16, tap-major: tap `t`'s input
/// channels from `t * cpad`, zero past the last.
#[inline(always)]
fn weights(
    p: &IntParams<'_>,
    g: &ConvGeom,
    o: usize,
    cpad: usize,
    transpose: bool,
) -> [i16; W_ROOM] {
    let (w, kk) = (p.weights(), g.kernel * g.kernel);
    let mut wt = [0i16; W_ROOM];
    for c in 0..g.in_c {
        let plane = if transpose {
            c * g.out_c + o
        } else {
            o * g.in_c + c
        };
        let taps = &w[plane * kk..(plane + 1) * kk];
        for (d, &v) in wt.iter_mut().skip(c).step_by(cpad).zip(taps) {
            *d = i16::from(v);
        }
    }
    wt
}

/// The lane-wise sums of output pixels `p0..p1` over every tap.
#[inline(always)]
unsafe fn band(
    g: &ConvGeom,
    xt: &[i16; X_ROOM],
    wt: &[i16; W_ROOM],
    cpad: usize,
    (p0, p1): (usize, usize),
    transpose: bool,
) -> [__m256i; PX] {
    let mut acc = [_mm256_setzero_si256(); PX];
    let kk = g.kernel * g.kernel;
    for t0 in (0..kk).step_by(TAPS) {
        let t1 = (t0 + TAPS).min(kk);
        let mut taps = [[Tap::default(); TAPS]; PX];
        let mut counts = [0u8; PX];
        tap_lists(g, (p0, p1), (t0, t1), transpose, &mut taps, &mut counts);
        for ((a, list), &n) in acc.iter_mut().zip(&taps).zip(&counts).take(p1 - p0) {
            let mut s = *a;
            for tap in &list[..usize::from(n)] {
                let xr = &xt[tap.at as usize * cpad..][..cpad];
                let wr = &wt[(t0 + usize::from(tap.t)) * cpad..][..cpad];
                for (xb, wb) in xr.chunks_exact(CB).zip(wr.chunks_exact(CB)) {
                    let xv = _mm256_loadu_si256(xb.as_ptr().cast());
                    let wv = _mm256_loadu_si256(wb.as_ptr().cast());
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(xv, wv));
                }
            }
            *a = s;
        }
    }
    acc
}
