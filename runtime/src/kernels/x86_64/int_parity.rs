//! The doubling transposed convolution (kernel 4, stride 2, padding 1: how
//! DCGAN generators grow their images) in integers on AVX2, split into its
//! four output parity classes. Output pixel `(2m + py, 2n + px)` takes
//! exactly taps `ky = 3 - py - 2ty`, `kx = 3 - px - 2tx` (`ty`, `tx` in
//! `0..2`) of input pixel `(m + py + ty - 1, n + px + tx - 1)`, so each
//! class is a dense 2x2 convolution: no tap lists, and no tests for the
//! padding, since the input is copied with a border of zeros. The copy (32
//! KiB at most) and a block of output channels' weights, widened to int16
//! and transposed once per call (64 KiB at most), live on the stack;
//! layers beyond that take module `int_madd`.
//!
//! With 8 or more output channels, lanes are output channels (`8 * H` per
//! block, as in `int_madd`) and each `VPMADDWD` adds a pair of input
//! channels: the copy interleaves channel pairs, so a pixel's pair is one
//! 32-bit broadcast, and `P` pixels share each load of weights. With fewer
//! (an image's last layer), lanes are input channels, 16 per `VPMADDWD`,
//! from a channel-minor copy, and eight output pixels' lanes are summed
//! together. Both requantise eight outputs at once ([`Requant8`]), and
//! fuse each multiply-add into one `VPDPWSSD` where the caller enables
//! AVX-512 VNNI (`VNNI`). Integer sums are exact, so the result equals
//! the plain kernels bit for bit.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_loadu_si256, _mm256_permute2x128_si256,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_unpackhi_epi16, _mm256_unpackhi_epi32,
    _mm256_unpackhi_epi64, _mm256_unpacklo_epi16, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64,
    _mm_loadu_si128,
};

use super::int_lanes::{madd_add, sum_lanes};
use super::int_requant::Requant8;
use crate::kernels::integer::{int_conv_fits, IntParams, Requant};
use crate::kernels::ConvGeom;

/// Output channels per `ymm` register of 32-bit lanes.
const LANES: usize = 8;
/// Input channels per `VPMADDWD` in the narrow form.
const CB: usize = 16;
/// Room for the padded input copy, in int16 (32 KiB).
const X_ROOM: usize = 16 * 1024;
/// Room for a block of channels' weights, in registers (64 KiB).
const W_REGS: usize = 2048;
/// Room for one output channel's weights in the narrow form, in int16.
const WN_ROOM: usize = 2048;

/// Whether `g` doubles its input with kernel 4, stride 2 and padding 1.
fn doubling(g: &ConvGeom) -> bool {
    (g.kernel, g.stride, g.padding) == (4, 2, 1) && g.out_h == 2 * g.in_h && g.out_w == 2 * g.in_w
}

/// The kernel tap (`ky * 4 + kx`) of tap `t` of class `(py, px)`.
#[inline(always)]
fn tap(t: usize, (py, px): (usize, usize)) -> usize {
    (3 - py - 2 * (t / 2)) * 4 + 3 - px - 2 * (t % 2)
}

/// The transposed convolution, if `g` doubles its input and the copies fit
/// (else `false`, having written nothing); `VNNI`: by `VPDPWSSD`.
///
/// # Safety
/// The CPU must have AVX2, and with `VNNI` AVX-512 VNNI and VL; the
/// caller enables them.
#[inline(always)]
pub(crate) unsafe fn conv_transpose<const VNNI: bool>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
) -> bool {
    if !doubling(g) || !int_conv_fits(p, g, x, y) {
        return false;
    }
    if g.out_c < LANES {
        narrow::<VNNI>(p, g, x, y)
    } else if g.out_c <= LANES {
        wide::<VNNI, 1, 8>(p, g, x, y)
    } else if g.out_c <= 2 * LANES {
        wide::<VNNI, 2, 4>(p, g, x, y)
    } else {
        wide::<VNNI, 4, 2>(p, g, x, y)
    }
}

/// Copies `x` into `xp` with a border of one zero pixel, channel-minor:
/// channel `c` of padded pixel `i` at `i * stride + c`.
#[inline(always)]
fn copy_padded(g: &ConvGeom, x: &[i16], stride: usize, xp: &mut [i16; X_ROOM]) {
    let pw = g.in_w + 2;
    for (c, plane) in x.chunks_exact(g.in_h * g.in_w).take(g.in_c).enumerate() {
        for (iy, row) in plane.chunks_exact(g.in_w).enumerate() {
            let start = ((iy + 1) * pw + 1) * stride + c;
            for (d, &v) in xp[start..].iter_mut().step_by(stride).zip(row) {
                *d = v;
            }
        }
    }
}

/// Output channels in lanes, blocks of `8 * H`, `P` pixels at a time.
#[inline(always)]
unsafe fn wide<const VNNI: bool, const H: usize, const P: usize>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
) -> bool {
    let pairs = g.in_c.div_ceil(2);
    if 2 * pairs * (g.in_h + 2) * (g.in_w + 2) > X_ROOM || 16 * pairs * H > W_REGS {
        return false;
    }
    let mut xp = [0i16; X_ROOM];
    copy_padded(g, x, 2 * pairs, &mut xp);
    let mut wq = [_mm256_setzero_si256(); W_REGS];
    for o0 in (0..g.out_c).step_by(LANES * H) {
        let ob = (LANES * H).min(g.out_c - o0);
        let (bias, rq) = block_constants::<H>(p, o0, ob);
        block_weights::<H>(p, g, (o0, ob), pairs, &mut wq);
        let block = Block {
            g,
            xp: &xp,
            wq: &wq,
            pairs,
            bias,
            rq,
            o0,
            ob,
        };
        for class in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            block.class_sums::<VNNI, P>(class, y);
        }
    }
    true
}

/// The biases and requantisations of channels `o0..o0 + ob` (zero past).
#[inline(always)]
unsafe fn block_constants<const H: usize>(
    p: &IntParams<'_>,
    o0: usize,
    ob: usize,
) -> ([__m256i; H], [Requant8; H]) {
    let zero = Requant { m: 0, sh: 1 };
    let mut bias = [_mm256_setzero_si256(); H];
    let mut rq = [Requant8::splat(zero); H];
    for h in 0..H {
        let (mut b, mut r) = ([0i32; LANES], [zero; LANES]);
        for j in (0..LANES).filter(|j| LANES * h + j < ob) {
            b[j] = p.bias(o0 + LANES * h + j);
            r[j] = p.requant(o0 + LANES * h + j);
        }
        bias[h] = _mm256_loadu_si256(b.as_ptr().cast());
        rq[h] = Requant8::new(&r);
    }
    (bias, rq)
}

/// The weights of channels `o0..o0 + ob` as int16 pairs: register
/// `(k * pairs + c / 2) * H + j / 8` holds, in lane `j % 8`, channel
/// `o0 + j`'s kernel tap `k` of input channels `c` and `c + 1` (zero past
/// the last of either). Eight channels of a pair at a time: each
/// channel's 16 taps of both inputs widened and interleaved into two
/// registers, then two 8x8 transpositions of 32-bit lanes.
#[inline(always)]
unsafe fn block_weights<const H: usize>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    (o0, ob): (usize, usize),
    pairs: usize,
    wq: &mut [__m256i; W_REGS],
) {
    let w = p.weights();
    // A channel's 16 taps, widened; zero past the last channel.
    let taps = |c: usize, o: usize| {
        if c < g.in_c && o < o0 + ob {
            let at = (c * g.out_c + o) * 16;
            // SAFETY: 16 bytes of `w` (sliced, so checked).
            unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(w[at..at + 16].as_ptr().cast())) }
        } else {
            // SAFETY: AVX2 is present in every caller.
            unsafe { _mm256_setzero_si256() }
        }
    };
    for cp in 0..pairs {
        for h in 0..H {
            let (mut lo, mut hi) = (
                [_mm256_setzero_si256(); LANES],
                [_mm256_setzero_si256(); LANES],
            );
            for j in 0..LANES {
                let o = o0 + LANES * h + j;
                let (a, b) = (taps(2 * cp, o), taps(2 * cp + 1, o));
                // Pairs of taps 0-3 | 8-11, and 4-7 | 12-15.
                lo[j] = _mm256_unpacklo_epi16(a, b);
                hi[j] = _mm256_unpackhi_epi16(a, b);
            }
            let (lo, hi) = (transpose(&lo), transpose(&hi));
            for (d, (l, u)) in lo.into_iter().zip(hi).enumerate() {
                let k = (d / 4) * 8 + d % 4;
                wq[(k * pairs + cp) * H + h] = l;
                wq[((k + 4) * pairs + cp) * H + h] = u;
            }
        }
    }
}

/// The 8x8 transposition of 32-bit lanes: lane `j` of result `d` is lane
/// `d` of `r[j]`.
#[inline(always)]
unsafe fn transpose(r: &[__m256i; LANES]) -> [__m256i; LANES] {
    let t = [
        _mm256_unpacklo_epi32(r[0], r[1]),
        _mm256_unpackhi_epi32(r[0], r[1]),
        _mm256_unpacklo_epi32(r[2], r[3]),
        _mm256_unpackhi_epi32(r[2], r[3]),
        _mm256_unpacklo_epi32(r[4], r[5]),
        _mm256_unpackhi_epi32(r[4], r[5]),
        _mm256_unpacklo_epi32(r[6], r[7]),
        _mm256_unpackhi_epi32(r[6], r[7]),
    ];
    // Lanes 0..4 | 4..8 of rows 0..4 (u[0..4]) and 4..8 (u[4..8]), in
    // columns 0, 1, 2, 3 | 4, 5, 6, 7.
    let u = [
        _mm256_unpacklo_epi64(t[0], t[2]),
        _mm256_unpackhi_epi64(t[0], t[2]),
        _mm256_unpacklo_epi64(t[1], t[3]),
        _mm256_unpackhi_epi64(t[1], t[3]),
        _mm256_unpacklo_epi64(t[4], t[6]),
        _mm256_unpackhi_epi64(t[4], t[6]),
        _mm256_unpacklo_epi64(t[5], t[7]),
        _mm256_unpackhi_epi64(t[5], t[7]),
    ];
    [
        _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
        _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
    ]
}

/// What a class's sums read for one block of output channels.
struct Block<'a, const H: usize> {
    g: &'a ConvGeom,
    xp: &'a [i16; X_ROOM],
    wq: &'a [__m256i; W_REGS],
    pairs: usize,
    bias: [__m256i; H],
    rq: [Requant8; H],
    o0: usize,
    ob: usize,
}

impl<const H: usize> Block<'_, H> {
    /// Writes class `(py, px)` of the block's channels, `P` pixels at a
    /// time.
    #[inline(always)]
    unsafe fn class_sums<const VNNI: bool, const P: usize>(
        &self,
        (py, px): (usize, usize),
        y: &mut [i16],
    ) {
        let g = self.g;
        let (pw, n) = (g.in_w + 2, g.in_h * g.in_w);
        let stride = 2 * self.pairs;
        for q0 in (0..n).step_by(P) {
            // A last group short of `P` repeats its last pixel.
            let mut base = [0usize; P];
            for (k, b) in base.iter_mut().enumerate() {
                let q = (q0 + k).min(n - 1);
                *b = ((q / g.in_w + py) * pw + q % g.in_w + px) * stride;
            }
            let acc = self.sums::<VNNI, P>((py, px), &base, pw * stride);
            for (k, a) in acc.iter().enumerate().take(n - q0) {
                let q = q0 + k;
                let at = (2 * (q / g.in_w) + py) * g.out_w + 2 * (q % g.in_w) + px;
                self.store(a, at, y);
            }
        }
    }

    /// The sums of the pixels whose top-left taps read the copy at `base`
    /// (the row below: `row` further on).
    #[inline(always)]
    unsafe fn sums<const VNNI: bool, const P: usize>(
        &self,
        cls: (usize, usize),
        base: &[usize; P],
        row: usize,
    ) -> [[__m256i; H]; P] {
        let xb = self.xp.as_ptr();
        let mut acc = [self.bias; P];
        let offsets = [0, 2 * self.pairs, row, row + 2 * self.pairs];
        for (t, off) in offsets.into_iter().enumerate() {
            let wk = &self.wq[tap(t, cls) * self.pairs * H..][..self.pairs * H];
            for (c, w) in wk.chunks_exact(H).enumerate() {
                for (a, &b) in acc.iter_mut().zip(base) {
                    // SAFETY: the pixel's taps lie within the padded copy
                    // (checked against `X_ROOM` in `wide`).
                    let pair = xb.add(b + off + 2 * c).cast::<i32>().read_unaligned();
                    let xv = _mm256_set1_epi32(pair);
                    for (a, &w) in a.iter_mut().zip(w) {
                        *a = madd_add::<VNNI>(*a, w, xv);
                    }
                }
            }
        }
        acc
    }

    /// Writes one pixel's sums, requantised, at `at` in each channel's plane.
    #[inline(always)]
    unsafe fn store(&self, acc: &[__m256i; H], at: usize, y: &mut [i16]) {
        let plane = self.g.out_h * self.g.out_w;
        for (h, (&a, rq)) in acc.iter().zip(&self.rq).enumerate() {
            // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
            let v: [i32; LANES] = core::mem::transmute(rq.apply(a));
            let o = self.o0 + LANES * h;
            for (j, &v) in v.iter().enumerate().take(self.ob.saturating_sub(LANES * h)) {
                y[(o + j) * plane + at] = v as i16;
            }
        }
    }
}

/// Input channels in lanes: one output channel at a time, eight pixels of
/// a row at a time.
#[inline(always)]
unsafe fn narrow<const VNNI: bool>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
) -> bool {
    let cpad = g.in_c.div_ceil(CB) * CB;
    let pw = g.in_w + 2;
    if cpad * (g.in_h + 2) * pw > X_ROOM || 16 * cpad > WN_ROOM {
        return false;
    }
    let mut xt = [0i16; X_ROOM];
    copy_padded(g, x, cpad, &mut xt);
    let mut wn = [0i16; WN_ROOM];
    for o in 0..g.out_c {
        narrow_weights(p, g, o, cpad, &mut wn);
        let (bias, rq) = (_mm256_set1_epi32(p.bias(o)), Requant8::splat(p.requant(o)));
        for oy in 0..g.out_h {
            let row = &mut y[(o * g.out_h + oy) * g.out_w..][..g.out_w];
            for ox0 in (0..g.out_w).step_by(LANES) {
                let mut acc = [_mm256_setzero_si256(); LANES];
                for (k, a) in acc.iter_mut().enumerate() {
                    // A last group short of 8 repeats its last pixel.
                    let ox = (ox0 + k).min(g.out_w - 1);
                    *a = pixel::<VNNI>(&xt, &wn, cpad, pw, (oy, ox));
                }
                let sums = _mm256_add_epi32(bias, sum_lanes(&acc));
                // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
                let v: [i32; LANES] = core::mem::transmute(rq.apply(sums));
                for (d, &v) in row[ox0..].iter_mut().zip(&v) {
                    *d = v as i16;
                }
            }
        }
    }
    true
}

/// Output channel `o`'s weights as int16: kernel tap `k` of input channel
/// `c` at `k * cpad + c` (zero past the last).
#[inline(always)]
fn narrow_weights(p: &IntParams<'_>, g: &ConvGeom, o: usize, cpad: usize, wn: &mut [i16; WN_ROOM]) {
    let w = p.weights();
    for c in 0..g.in_c {
        let taps = &w[(c * g.out_c + o) * 16..][..16];
        for (k, &v) in taps.iter().enumerate() {
            wn[k * cpad + c] = i16::from(v);
        }
    }
}

/// The lane-wise sums of output pixel `(oy, ox)` over its four taps.
#[inline(always)]
unsafe fn pixel<const VNNI: bool>(
    xt: &[i16; X_ROOM],
    wn: &[i16; WN_ROOM],
    cpad: usize,
    pw: usize,
    (oy, ox): (usize, usize),
) -> __m256i {
    let (py, px) = (oy % 2, ox % 2);
    let base = ((oy / 2 + py) * pw + ox / 2 + px) * cpad;
    let mut s = _mm256_setzero_si256();
    for (t, off) in [0, 1, pw, pw + 1].into_iter().enumerate() {
        // SAFETY: the pixel's taps lie within the padded copy, and its
        // class's weights within `wn` (both checked in `narrow`).
        let (xr, wr) = (
            xt.as_ptr().add(base + off * cpad),
            wn.as_ptr().add(tap(t, (py, px)) * cpad),
        );
        for c in (0..cpad).step_by(CB) {
            let xv = _mm256_loadu_si256(xr.add(c).cast());
            let wv = _mm256_loadu_si256(wr.add(c).cast());
            s = madd_add::<VNNI>(s, xv, wv);
        }
    }
    s
}
