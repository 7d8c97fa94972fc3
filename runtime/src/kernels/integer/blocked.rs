//! Integer convolutions across output channels, for targets with wide
//! vectors (the NEON set; the AVX2 one shares [`tap_lists`] and pairs input
//! channels on top, in `x86_64::int_madd`): [`OC`] output channels of a band of
//! [`PX`] output pixels accumulate in 32-bit lanes, each tap adding its
//! [`OC`] weights times one input value, so the inner loop is one
//! 16-lane multiply-add whatever the image width and stride. The weights
//! of a block of channels are gathered once per input channel and band
//! into a small table (the file's layouts put them `k * k` or more apart),
//! and which input pixel each tap of each band pixel reads is worked out
//! once per band, outside the loop over input channels. About 13 KB of
//! stack, which is why the portable set (what a microcontroller runs) keeps
//! its row-by-row loops.

use super::{int_conv_fits, IntParams};
use crate::kernels::ConvGeom;

/// Output channels per block: the accumulator lanes.
const OC: usize = 16;
/// Output pixels per band.
const PX: usize = 64;
/// Kernel taps per pass.
pub(crate) const TAPS: usize = 16;

/// A tap of a band pixel: its index among the pass's taps, and the input
/// pixel it reads within a channel's plane.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tap {
    pub(crate) t: u16,
    pub(crate) at: u32,
}

/// Integer `conv2d` (the NEON set's).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn conv2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv_body(p, g, x, y, false)
}

/// Integer `conv_transpose2d` (the NEON set's).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn conv_transpose2d(p: &IntParams<'_>, g: &ConvGeom, x: &[i16], y: &mut [i16]) {
    conv_body(p, g, x, y, true)
}

/// Either convolution (`transpose`), output channels in blocks of [`OC`].
#[inline(always)]
pub(crate) fn conv_body(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
    transpose: bool,
) {
    let plane = g.out_h * g.out_w;
    let fits = int_conv_fits(p, g, x, y)
        && u32::try_from(g.in_h * g.in_w).is_ok()
        && u16::try_from(g.kernel * g.kernel).is_ok();
    if !fits {
        return;
    }
    // Few output channels would leave most lanes idle: the row-by-row
    // loops do better there.
    if g.out_c < OC / 2 {
        return super::portable::conv_body(p, g, x, y, transpose);
    }
    for o0 in (0..g.out_c).step_by(OC) {
        let ob = OC.min(g.out_c - o0);
        for p0 in (0..plane).step_by(PX) {
            let p1 = (p0 + PX).min(plane);
            let mut acc = [[0i32; OC]; PX];
            for a in &mut acc[..p1 - p0] {
                for (j, v) in a.iter_mut().enumerate().take(ob) {
                    *v = p.bias(o0 + j);
                }
            }
            for t0 in (0..g.kernel * g.kernel).step_by(TAPS) {
                let t1 = (t0 + TAPS).min(g.kernel * g.kernel);
                band(p, g, x, &mut acc, (o0, ob), (p0, p1), (t0, t1), transpose);
            }
            for j in 0..ob {
                let rq = p.requant(o0 + j);
                let out = &mut y[(o0 + j) * plane + p0..(o0 + j) * plane + p1];
                for (d, a) in out.iter_mut().zip(&acc) {
                    *d = rq.apply(a[j]);
                }
            }
        }
    }
}

/// Adds taps `t0..t1` of every input channel to the band `p0..p1` of
/// output channels `o0..o0 + ob`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn band(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    acc: &mut [[i32; OC]; PX],
    (o0, ob): (usize, usize),
    (p0, p1): (usize, usize),
    (t0, t1): (usize, usize),
    transpose: bool,
) {
    // Which input pixel each tap of each band pixel reads, once.
    let mut taps = [[Tap::default(); TAPS]; PX];
    let mut counts = [0u8; PX];
    tap_lists(g, (p0, p1), (t0, t1), transpose, &mut taps, &mut counts);
    let (w, kk, in_plane) = (p.weights(), g.kernel * g.kernel, g.in_h * g.in_w);
    for c in 0..g.in_c {
        // The block's weights of these taps, channel-minor.
        let mut wt = [[0i32; OC]; TAPS];
        for (t, row) in wt.iter_mut().enumerate().take(t1 - t0) {
            for (j, v) in row.iter_mut().enumerate().take(ob) {
                let plane = if transpose {
                    c * g.out_c + o0 + j
                } else {
                    (o0 + j) * g.in_c + c
                };
                *v = i32::from(w[plane * kk + t0 + t]);
            }
        }
        let xc = &x[c * in_plane..(c + 1) * in_plane];
        for ((a, list), &n) in acc.iter_mut().zip(&taps).zip(&counts).take(p1 - p0) {
            for tap in &list[..usize::from(n)] {
                let xv = i32::from(xc[tap.at as usize]);
                for (s, &wv) in a.iter_mut().zip(&wt[usize::from(tap.t)]) {
                    *s = s.wrapping_add(wv * xv);
                }
            }
        }
    }
}

/// Lists, for each pixel `p0..p1` of the output plane (entry `px - p0`),
/// the taps `t0..t1` (at most [`TAPS`]) that reach an input pixel and the
/// pixel each reads, and how many there are. A transposed convolution of
/// stride `s` visits only the kernel rows and columns of its pixel's
/// class (every `s`-th); pixel coordinates advance by counting, and
/// strides 1 and 2 divide by shifting: this runs per pixel and tap, where
/// divisions would cost more than the multiply-adds the lists feed.
#[inline(always)]
pub(crate) fn tap_lists(
    g: &ConvGeom,
    (p0, p1): (usize, usize),
    (t0, t1): (usize, usize),
    transpose: bool,
    taps: &mut [[Tap; TAPS]],
    counts: &mut [u8],
) {
    let (k, out_w) = (g.kernel.max(1), g.out_w.max(1));
    let step = if transpose { g.stride.max(1) } else { 1 };
    // The input index output `o` reads through tap `kk` (of its class).
    let tap = |o: usize, kk: usize, n: usize| {
        let v = if transpose {
            div_rem((o + g.padding).checked_sub(kk)?, step).0
        } else {
            (o * g.stride + kk).checked_sub(g.padding)?
        };
        (v < n).then_some(v)
    };
    // The first kernel index from `lo` in output `o`'s class.
    let first = |o: usize, lo: usize| {
        let r = div_rem(o + g.padding, step).1;
        lo + div_rem(r + step - div_rem(lo, step).1, step).1
    };
    let (ky_lo, ky_hi) = (t0 / k, (t1 - 1) / k);
    let (mut oy, mut ox) = (p0 / out_w, p0 % out_w);
    for (list, count) in taps.iter_mut().zip(counts.iter_mut()).take(p1 - p0) {
        *count = 0;
        let kx0 = first(ox, 0);
        for ky in (first(oy, ky_lo)..=ky_hi).step_by(step) {
            let Some(iy) = tap(oy, ky, g.in_h) else {
                continue;
            };
            for kx in (kx0..k).step_by(step) {
                let t = ky * k + kx;
                if t < t0 || t >= t1 {
                    continue;
                }
                if let Some(ix) = tap(ox, kx, g.in_w) {
                    list[usize::from(*count)] = Tap {
                        t: (t - t0) as u16,
                        at: (iy * g.in_w + ix) as u32,
                    };
                    *count += 1;
                }
            }
        }
        ox += 1;
        if ox == out_w {
            (oy, ox) = (oy + 1, 0);
        }
    }
}

/// `(v / s, v % s)`, by shifting for the usual strides.
#[inline(always)]
fn div_rem(v: usize, s: usize) -> (usize, usize) {
    match s {
        1 => (v, 0),
        2 => (v >> 1, v & 1),
        _ => (v / s, v % s),
    }
}
