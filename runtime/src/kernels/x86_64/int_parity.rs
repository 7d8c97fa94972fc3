//! The doubling transposed convolution (kernel 4, stride 2, padding 1: how
//! DCGAN generators grow their images) in integers on AVX2, split into its
//! four output parity classes. Output pixel `(2m + py, 2n + px)` takes
//! exactly taps `ky = 3 - py - 2ty`, `kx = 3 - px - 2tx` (`ty`, `tx` in
//! `0..2`) of input pixel `(m + py + ty - 1, n + px + tx - 1)`, so each
//! class is a dense 2x2 convolution: no tap lists, and no tests for the
//! padding, since the input is copied with a border of zeros. The copy (32
//! KiB at most) and a block of output channels' weights, widened to int16
//! and transposed once per call (64 KiB at most), live on the stack, of
//! which only the part a layer uses is written (zeroing all of it took
//! about a twentieth of a small generator's time); layers beyond that
//! take module `int_madd`.
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
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16,
    _mm256_loadu_si256, _mm256_packs_epi32, _mm256_permute2x128_si256, _mm256_permute4x64_epi64,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256, _mm256_unpackhi_epi16,
    _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi16, _mm256_unpacklo_epi32,
    _mm256_unpacklo_epi64, _mm_loadu_si128, _mm_storeu_si128, _mm_unpackhi_epi16,
    _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi16, _mm_unpacklo_epi32,
    _mm_unpacklo_epi64,
};
use core::mem::MaybeUninit;

use super::int_lanes::madd_add;
use super::int_requant::Requant8;
use crate::kernels::integer::{int_conv_fits, IntParams, Requant};
use crate::kernels::ConvGeom;

/// Output channels per `ymm` register of 32-bit lanes.
const LANES: usize = 8;
/// Room for the padded input copy, in int16 (32 KiB).
const X_ROOM: usize = 16 * 1024;
/// Room for a block of channels' weights, in registers (64 KiB).
const W_REGS: usize = 2048;

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

/// The first `len` elements of `room`, zeroed: a stack buffer of which a
/// layer writes only what it uses.
#[inline(always)]
fn zeroed<T: Copy>(room: &mut [MaybeUninit<T>], len: usize, zero: T) -> &mut [T] {
    let used = &mut room[..len];
    for v in used.iter_mut() {
        v.write(zero);
    }
    // SAFETY: every element of `used` was written just above, and
    // `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(used as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Copies `x` into the zeroed `xp` with a border of one zero pixel,
/// channel-minor: channel `c` of padded pixel `i` at `i * stride + c`.
/// Eight channels of eight pixels at a time by a transposition of 16-bit
/// lanes, the rest one by one (the strided copy one by one took about a
/// tenth of the convolution's time).
///
/// # Safety
/// The CPU must have AVX2 (enabled in the caller); `x` holds the input
/// (`int_conv_fits`), `xp` its padded copy and `stride >= g.in_c`.
#[inline(always)]
unsafe fn copy_padded(g: &ConvGeom, x: &[i16], stride: usize, xp: &mut [i16]) {
    let (n, pw) = (g.in_h * g.in_w, g.in_w + 2);
    let at = |q: usize| ((q / g.in_w + 1) * pw + q % g.in_w + 1) * stride;
    let (c8, q8) = (g.in_c / 8 * 8, n / 8 * 8);
    for c0 in (0..c8).step_by(8) {
        for q0 in (0..q8).step_by(8) {
            let rows: [__m128i; 8] = core::array::from_fn(|k| {
                let row = &x[(c0 + k) * n + q0..][..8];
                // SAFETY: eight int16 (sliced, so checked); AVX2 is present.
                unsafe { _mm_loadu_si128(row.as_ptr().cast()) }
            });
            for (j, v) in transpose16(&rows).into_iter().enumerate() {
                let d = &mut xp[at(q0 + j) + c0..][..8];
                _mm_storeu_si128(d.as_mut_ptr().cast(), v);
            }
        }
    }
    for c in 0..g.in_c {
        let first = if c < c8 { q8 } else { 0 };
        for q in first..n {
            xp[at(q) + c] = x[c * n + q];
        }
    }
}

/// The 8x8 transposition of 16-bit lanes: lane `k` of result `j` is lane
/// `j` of `r[k]`.
#[inline(always)]
unsafe fn transpose16(r: &[__m128i; 8]) -> [__m128i; 8] {
    let a = [
        _mm_unpacklo_epi16(r[0], r[1]),
        _mm_unpackhi_epi16(r[0], r[1]),
        _mm_unpacklo_epi16(r[2], r[3]),
        _mm_unpackhi_epi16(r[2], r[3]),
        _mm_unpacklo_epi16(r[4], r[5]),
        _mm_unpackhi_epi16(r[4], r[5]),
        _mm_unpacklo_epi16(r[6], r[7]),
        _mm_unpackhi_epi16(r[6], r[7]),
    ];
    // Lanes 0, 1 | 2, 3 | 4, 5 | 6, 7 of rows 0..4 (b[0..4]) and 4..8.
    let b = [
        _mm_unpacklo_epi32(a[0], a[2]),
        _mm_unpackhi_epi32(a[0], a[2]),
        _mm_unpacklo_epi32(a[1], a[3]),
        _mm_unpackhi_epi32(a[1], a[3]),
        _mm_unpacklo_epi32(a[4], a[6]),
        _mm_unpackhi_epi32(a[4], a[6]),
        _mm_unpacklo_epi32(a[5], a[7]),
        _mm_unpackhi_epi32(a[5], a[7]),
    ];
    [
        _mm_unpacklo_epi64(b[0], b[4]),
        _mm_unpackhi_epi64(b[0], b[4]),
        _mm_unpacklo_epi64(b[1], b[5]),
        _mm_unpackhi_epi64(b[1], b[5]),
        _mm_unpacklo_epi64(b[2], b[6]),
        _mm_unpackhi_epi64(b[2], b[6]),
        _mm_unpacklo_epi64(b[3], b[7]),
        _mm_unpackhi_epi64(b[3], b[7]),
    ]
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
    let (x_len, w_len) = (2 * pairs * (g.in_h + 2) * (g.in_w + 2), 16 * pairs * H);
    if x_len > X_ROOM || w_len > W_REGS {
        return false;
    }
    let mut x_room = [const { MaybeUninit::uninit() }; X_ROOM];
    let xp = zeroed(&mut x_room, x_len, 0i16);
    copy_padded(g, x, 2 * pairs, xp);
    let mut w_room = [const { MaybeUninit::uninit() }; W_REGS];
    let wq = zeroed(&mut w_room, w_len, _mm256_setzero_si256());
    let plane = g.out_h * g.out_w;
    let mut s_room = [const { MaybeUninit::uninit() }; S_ROOM];
    let mut stage =
        (plane * LANES * H <= S_ROOM).then(|| zeroed(&mut s_room, plane * LANES * H, 0));
    for o0 in (0..g.out_c).step_by(LANES * H) {
        let ob = (LANES * H).min(g.out_c - o0);
        let (bias, rq) = block_constants::<H>(p, o0, ob);
        block_weights::<H>(p, g, (o0, ob), pairs, wq);
        let block = Block {
            g,
            xp,
            wq,
            pairs,
            bias,
            rq,
            o0,
            ob,
        };
        for class in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            match stage.as_deref_mut() {
                Some(stage) => block.class_sums::<VNNI, P, true>(class, stage),
                None => block.class_sums::<VNNI, P, false>(class, y),
            }
        }
        if let Some(stage) = stage.as_deref() {
            unstage::<H>(stage, (o0, ob), plane, y);
        }
    }
    true
}

/// Room for a block's staged outputs, in int16 (32 KiB).
const S_ROOM: usize = 16 * 1024;

/// Copies the staged outputs of channels `o0..o0 + ob` (pixel `at`'s
/// channels at `at * 8H`) into their planes of `y`: eight pixels of eight
/// channels at a time by a transposition of 16-bit lanes.
#[inline(always)]
unsafe fn unstage<const H: usize>(
    stage: &[i16],
    (o0, ob): (usize, usize),
    plane: usize,
    y: &mut [i16],
) {
    let row = LANES * H;
    let p8 = plane / LANES * LANES;
    for cb in (0..ob).step_by(LANES) {
        for at0 in (0..p8).step_by(LANES) {
            let rows: [__m128i; LANES] = core::array::from_fn(|k| {
                let v = &stage[(at0 + k) * row + cb..][..LANES];
                // SAFETY: eight int16 (sliced, so checked); AVX2 is present.
                unsafe { _mm_loadu_si128(v.as_ptr().cast()) }
            });
            for (j, v) in transpose16(&rows).into_iter().enumerate().take(ob - cb) {
                let d = &mut y[(o0 + cb + j) * plane + at0..][..LANES];
                _mm_storeu_si128(d.as_mut_ptr().cast(), v);
            }
        }
    }
    for c in 0..ob {
        for at in p8..plane {
            y[(o0 + c) * plane + at] = stage[at * row + c];
        }
    }
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
    wq: &mut [__m256i],
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
    xp: &'a [i16],
    wq: &'a [__m256i],
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
    unsafe fn class_sums<const VNNI: bool, const P: usize, const STAGED: bool>(
        &self,
        (py, px): (usize, usize),
        y: &mut [i16],
    ) {
        let g = self.g;
        let (pw, n) = (g.in_w + 2, g.in_h * g.in_w);
        let stride = 2 * self.pairs;
        // Input pixel `(iy, ix)` of the group's next pixel, walked without
        // the divisions by the width that cost as much as the stores.
        let (mut iy, mut ix) = (0, 0);
        for q0 in (0..n).step_by(P) {
            let mut pix = [(0, 0); P];
            for (k, d) in pix.iter_mut().enumerate() {
                *d = (iy, ix);
                // A last group short of `P` repeats its last pixel.
                if q0 + k + 1 < n {
                    ix += 1;
                    if ix == g.in_w {
                        (iy, ix) = (iy + 1, 0);
                    }
                }
            }
            let base = pix.map(|(iy, ix)| ((iy + py) * pw + ix + px) * stride);
            let acc = self.sums::<VNNI, P>((py, px), &base, pw * stride);
            for (a, &(iy, ix)) in acc.iter().zip(&pix).take(n - q0) {
                let at = (2 * iy + py) * g.out_w + 2 * ix + px;
                if STAGED {
                    stage_pixel(&self.rq, a, &mut y[at * LANES * H..][..LANES * H]);
                } else {
                    self.store(a, at, y);
                }
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
                    // (its length set in `wide`).
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

/// One pixel's `8 * H` sums, requantised and narrowed to int16, into `out`
/// in channel order.
#[inline(always)]
unsafe fn stage_pixel<const H: usize>(rq: &[Requant8; H], acc: &[__m256i; H], out: &mut [i16]) {
    let mut r = [_mm256_setzero_si256(); H];
    for ((r, rq), &a) in r.iter_mut().zip(rq).zip(acc) {
        *r = rq.apply(a);
    }
    if H == 1 {
        // Lanes 0-3 | 0-3 | 4-7 | 4-7 as 64-bit quarters; quarters 0 and 2.
        let v = _mm256_permute4x64_epi64::<0x88>(_mm256_packs_epi32(r[0], r[0]));
        _mm_storeu_si128(out.as_mut_ptr().cast(), _mm256_castsi256_si128(v));
        return;
    }
    for (h, d) in r.chunks_exact(2).zip(out.chunks_exact_mut(2 * LANES)) {
        // Lanes 0-3 of each, then 4-7 of each; quarters in order 0, 2, 1, 3.
        let v = _mm256_permute4x64_epi64::<0xd8>(_mm256_packs_epi32(h[0], h[1]));
        _mm256_storeu_si256(d.as_mut_ptr().cast(), v);
    }
}

/// Output pixels in lanes (fewer than eight output channels: an image's
/// last layer): one channel, one parity class and one row at a time, eight
/// pixels of the row per register. Each 32-bit lane takes a pixel's two
/// horizontal taps of one input channel and kernel row as one `VPMADDWD`
/// pair: the input is copied once as pairs of neighbours ([`copy_pairs`]),
/// and the class's two weights broadcast. No sums across lanes, and no
/// padding of the input channels.
#[inline(always)]
unsafe fn narrow<const VNNI: bool>(
    p: &IntParams<'_>,
    g: &ConvGeom,
    x: &[i16],
    y: &mut [i16],
) -> bool {
    // A row's last group reads up to eight pairs past the copy.
    let len = g.in_c * (g.in_h + 2) * (g.in_w + 2) + LANES;
    if len > PAIR_ROOM || 2 * g.in_c > WP_ROOM {
        return false;
    }
    let mut room = [const { MaybeUninit::uninit() }; PAIR_ROOM];
    let pairs = zeroed(&mut room, len, 0i32);
    copy_pairs(g, x, pairs);
    let mut wp_room = [0i32; WP_ROOM];
    let plane = g.out_h * g.out_w;
    for o in 0..g.out_c {
        let (bias, rq) = (_mm256_set1_epi32(p.bias(o)), Requant8::splat(p.requant(o)));
        let out = &mut y[o * plane..][..plane];
        for class in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let wp = &mut wp_room[..2 * g.in_c];
            class_weights(p, g, o, class, wp);
            for m in 0..g.in_h {
                narrow_row::<VNNI>(g, pairs, wp, (bias, &rq), (m, class), out);
            }
        }
    }
    true
}

/// Room for the copy of pairs, in 32-bit pairs (64 KiB: 32 channels of
/// 28x28, or 16 of 56x56).
const PAIR_ROOM: usize = 16 * 1024;
/// Room for one class's weight pairs (two per input channel).
const WP_ROOM: usize = 1024;

/// Copies `x` into the zeroed `pairs` with a border of one zero pixel,
/// channel-major, each element a pixel and its right neighbour: padded
/// pixel `j` of row `r` of channel `c` at `(c * (in_h + 2) + r) * (in_w + 2)
/// + j`, that pixel in the low half and the next one in the high half.
fn copy_pairs(g: &ConvGeom, x: &[i16], pairs: &mut [i32]) {
    let (ph, pw) = (g.in_h + 2, g.in_w + 2);
    for (c, plane) in x.chunks_exact(g.in_h * g.in_w).take(g.in_c).enumerate() {
        for (iy, row) in plane.chunks_exact(g.in_w).enumerate() {
            // Padded pixel `j` is `row[j - 1]`, zero at both ends.
            let dst = &mut pairs[(c * ph + iy + 1) * pw..][..pw];
            let pair = |a: i16, b: i16| i32::from(a as u16) | (i32::from(b) << 16);
            dst[0] = pair(0, row[0]);
            for (d, ab) in dst[1..].iter_mut().zip(row.windows(2)) {
                *d = pair(ab[0], ab[1]);
            }
            dst[g.in_w] = pair(row[g.in_w - 1], 0);
        }
    }
}

/// Class `(py, px)`'s weights of output channel `o` as pairs: input channel
/// `c`'s taps of kernel row `3 - py - 2ty` at index `2c + ty`, kernel column
/// `3 - px` (the left pixel of a pair) in the low half and `1 - px` in the
/// high half.
fn class_weights(
    p: &IntParams<'_>,
    g: &ConvGeom,
    o: usize,
    (py, px): (usize, usize),
    wp: &mut [i32],
) {
    let w = p.weights();
    for (c, pair) in wp.chunks_exact_mut(2).enumerate() {
        let taps = &w[(c * g.out_c + o) * 16..][..16];
        for (ty, d) in pair.iter_mut().enumerate() {
            let ky = 3 - py - 2 * ty;
            let (left, right) = (taps[ky * 4 + 3 - px], taps[ky * 4 + 1 - px]);
            *d = i32::from(i16::from(left) as u16) | (i32::from(right) << 16);
        }
    }
}

/// Writes row `2m + py` of class `(py, px)` of a channel's plane `out`.
#[inline(always)]
unsafe fn narrow_row<const VNNI: bool>(
    g: &ConvGeom,
    pairs: &[i32],
    wp: &[i32],
    (bias, rq): (__m256i, &Requant8),
    (m, (py, px)): (usize, (usize, usize)),
    out: &mut [i16],
) {
    let (ph, pw) = (g.in_h + 2, g.in_w + 2);
    let out = &mut out[(2 * m + py) * g.out_w..][..g.out_w];
    // Padded pixel `px` of row `m + py` of channel 0.
    let row = pairs.as_ptr().add((m + py) * pw + px);
    let zero = _mm256_setzero_si256();
    for n0 in (0..g.in_w).step_by(LANES) {
        // Four sums (kernel row, channel parity) apart, so that the
        // multiply-adds do not wait on one another; named, not an array, so
        // that they stay in registers.
        let (mut a0, mut a1, mut a2, mut a3) = (bias, zero, zero, zero);
        let load = |c: usize, ty: usize| {
            // SAFETY: eight pairs from padded pixel `n0 + px` of row
            // `m + py + ty` of channel `c`, within the copy and its slack
            // (`narrow`).
            unsafe { _mm256_loadu_si256(row.add((c * ph + ty) * pw + n0).cast()) }
        };
        let mut quads = wp.chunks_exact(4);
        for (k, w) in quads.by_ref().enumerate() {
            a0 = madd_add::<VNNI>(a0, load(2 * k, 0), _mm256_set1_epi32(w[0]));
            a1 = madd_add::<VNNI>(a1, load(2 * k, 1), _mm256_set1_epi32(w[1]));
            a2 = madd_add::<VNNI>(a2, load(2 * k + 1, 0), _mm256_set1_epi32(w[2]));
            a3 = madd_add::<VNNI>(a3, load(2 * k + 1, 1), _mm256_set1_epi32(w[3]));
        }
        if let [w0, w1] = *quads.remainder() {
            let c = wp.len() / 2 - 1;
            a0 = madd_add::<VNNI>(a0, load(c, 0), _mm256_set1_epi32(w0));
            a1 = madd_add::<VNNI>(a1, load(c, 1), _mm256_set1_epi32(w1));
        }
        let sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        // SAFETY: `__m256i` is eight `i32`s with no invalid bits.
        let v: [i32; LANES] = core::mem::transmute(rq.apply(sum));
        for (k, &v) in v.iter().enumerate().take(g.in_w - n0) {
            out[2 * (n0 + k) + px] = v as i16;
        }
    }
}
