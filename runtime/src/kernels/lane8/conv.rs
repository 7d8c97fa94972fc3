//! Convolutions over 8-lane vectors, output pixels grouped by the taps
//! they read (see the parent module).

use core::mem::MaybeUninit;

use super::narrow::{convt_narrow, narrow_supported};
use super::Lane8;
use crate::format::DType;
use crate::kernels::f16::weight;
use crate::kernels::taps::{conv_supported, tap, tap_masks, KMAX};
use crate::kernels::{ConvArgs, ConvGeom, Weights};

/// Output pixels per register tile when vectors run across channels.
const PIX: usize = 6;
/// Pixel vectors per register tile when vectors run across pixels.
const PV: usize = 4;
/// f32 in the transposed weight buffer (64 KiB on the stack: a 64 -> 32
/// channel layer with 4x4 kernels fits in one block).
const WTF: usize = 16384;

/// `conv2d` (`transpose == false`, weight `[out, in, k, k]`) or
/// `conv_transpose2d` (weight `[in, out, k, k]`); `pre` holds the weights
/// [`prepare_wide`] wrote where it is at least [`wide_prepared_len`] long
/// (else it is ignored).
///
/// # Safety
///
/// `V`'s CPU features must be present, `conv_fits(w, b, g, x, y)` and
/// [`conv_supported`](crate::kernels::taps::conv_supported) must hold.
#[inline(always)]
pub(crate) unsafe fn conv<V: Lane8>(c: ConvArgs<'_>, y: &mut [f32], pre: &[f32]) {
    let ConvArgs {
        w,
        b,
        g,
        x,
        transpose,
    } = c;
    if transpose && narrow_supported(g) {
        return convt_narrow::<V>(&w, &b, g, x, y);
    }
    let k = g.kernel;
    let kk = k * k;
    let (rmask, cmask) = tap_masks(g, transpose);
    let rmask = &rmask[..g.out_h];
    let cmask = &cmask[..g.out_w];
    // Consecutive pixels of a group read consecutive inputs only where the
    // input advances by one per pixel.
    let pixels = g.out_c < 8 && (transpose || g.stride == 1);
    let width = if !pixels && g.out_c > 8 { 16 } else { 8 };
    let pre = (width == 16 && pre.len() >= wide_prepared_len(g)).then_some(pre);
    let mut wbuf = MaybeUninit::<[f32; WTF]>::uninit();
    let mut e = Taps {
        t: [(0, 0); KMAX * KMAX],
        n: 0,
        max_x: 0,
    };
    // Input channels per block: their transposed weights fill `wt`
    // (kk * width <= 64 * 16 = 1024, so at least 16).
    let cb = (WTF / (kk * width)).max(1);
    let mut ob = 0;
    while ob < g.out_c {
        let nl = width.min(g.out_c - ob);
        let mut c0 = 0;
        while c0 < g.in_c {
            let cn = cb.min(g.in_c - c0);
            let len = cn * kk * width;
            let wt: &[f32] = match pre {
                // The block's channels as `prepare_wide` laid them out.
                Some(p) => p
                    .get(((ob / 16) * g.in_c + c0) * kk * 16..)
                    .and_then(|p| p.get(..len))
                    .unwrap_or(&[]),
                None => {
                    let dst = wbuf.as_mut_ptr().cast::<f32>();
                    // SAFETY: `len <= WTF`; `transpose_block` initialises
                    // every element of `dst[..len]`.
                    transpose_block::<V>(&w, g, transpose, (ob, width), (c0, cn), dst);
                    core::slice::from_raw_parts(dst, len)
                }
            };
            if wt.len() < len {
                return;
            }
            let mut bias = [0.0f32; 16];
            for (l, v) in bias.iter_mut().enumerate().take(nl) {
                *v = weight(&b, ob + l);
            }
            let blk = Block {
                g,
                x,
                wt,
                bias,
                width,
                c0,
                cn,
                ob,
                nl,
                first: c0 == 0,
                transpose,
            };
            blk.run::<V>(rmask, cmask, pixels, &b, &mut e, y);
            c0 += cn;
        }
        ob += width;
    }
}

/// f32 values [`prepare_wide`] writes for a convolution whose output
/// channels run 16 to a pair of vectors (more than 8 output channels):
/// every block of 16 output channels as `[input channel][tap][16]`, the
/// layout of the AVX-512 kernels' prepared weights. 0 for other
/// geometries.
pub(crate) fn wide_prepared_len(g: &ConvGeom) -> usize {
    if !conv_supported(g) || g.out_c <= 8 {
        return 0;
    }
    g.out_c
        .div_ceil(16)
        .saturating_mul(g.in_c)
        .saturating_mul(g.kernel * g.kernel * 16)
}

/// Converts and transposes a convolution's weights into `dst` once, as
/// [`conv`] reads them (see [`wide_prepared_len`]); lanes past the last
/// output channel hold zeros. False, with nothing written, where there is
/// nothing to prepare or `w` or `dst` is too short.
///
/// # Safety
///
/// `V`'s CPU features must be present.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
pub(crate) unsafe fn prepare_wide<V: Lane8>(
    w: &Weights<'_>,
    g: &ConvGeom,
    transpose: bool,
    dst: &mut [f32],
) -> bool {
    let n = wide_prepared_len(g);
    let kk = g.kernel * g.kernel;
    let wl = g.out_c.checked_mul(g.in_c).and_then(|v| v.checked_mul(kk));
    if n == 0 || dst.len() < n || wl.is_none_or(|wl| w.len() < wl) {
        return false;
    }
    for ob in (0..g.out_c).step_by(16) {
        let at = (ob / 16) * g.in_c * kk * 16;
        // SAFETY: the block's `in_c * kk * 16` elements end at or before
        // `n <= dst.len()`.
        transpose_block::<V>(
            w,
            g,
            transpose,
            (ob, 16),
            (0, g.in_c),
            dst.as_mut_ptr().add(at),
        );
    }
    true
}

/// The weights of output channels `ob..ob + width` and input channels
/// `c0..c0 + cn` as `dst[c][tap][width]` (`c` from 0), every element
/// written (zeros in lanes past the last output channel). With a multiple
/// of 8 taps, 8 channels' rows of 8 taps are converted 8 at a time and
/// transposed in registers; otherwise element by element.
///
/// # Safety
///
/// `V`'s CPU features must be present, `dst` valid for `cn * kk * width`
/// writes, and `w` must hold every weight of the convolution.
#[inline(always)]
unsafe fn transpose_block<V: Lane8>(
    w: &Weights<'_>,
    g: &ConvGeom,
    transpose: bool,
    (ob, width): (usize, usize),
    (c0, cn): (usize, usize),
    dst: *mut f32,
) {
    let kk = g.kernel * g.kernel;
    let size = w.dtype().size();
    let p = w.bytes().as_ptr();
    let base = |o: usize, ci: usize| {
        if transpose {
            (ci * g.out_c + o) * kk
        } else {
            (o * g.in_c + ci) * kk
        }
    };
    for c in 0..cn {
        let dc = dst.add(c * kk * width);
        for l0 in (0..width).step_by(8) {
            if !kk.is_multiple_of(8) {
                for t in 0..kk {
                    for l in l0..l0 + 8 {
                        let o = ob + l;
                        let v = if o < g.out_c {
                            weight(w, base(o, c0 + c) + t)
                        } else {
                            0.0
                        };
                        dc.add(t * width + l).write(v);
                    }
                }
                continue;
            }
            for t in (0..kk).step_by(8) {
                let rows: [V; 8] = core::array::from_fn(|r| {
                    let o = ob + l0 + r;
                    if o >= g.out_c {
                        return V::zero();
                    }
                    // SAFETY: elements `base + t..base + t + 8` lie inside
                    // `w` (t + 8 <= kk).
                    let q = p.add((base(o, c0 + c) + t) * size);
                    match w.dtype() {
                        DType::F16 => V::load_f16(q),
                        DType::F32 => V::load_f32_bytes(q),
                        // Integer tensors: the size checks turned them away.
                        DType::I8 | DType::I16 | DType::I32 => V::zero(),
                    }
                });
                for (j, v) in V::transpose8(rows).iter().enumerate() {
                    v.store(dc.add((t + j) * width + l0));
                }
            }
        }
    }
}

/// One block of `width` output channels and `cn` input channels.
struct Block<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    /// `[c][tap][width]`, `cn * kk * width` long.
    wt: &'a [f32],
    /// The block's biases (0 in lanes past `nl`).
    bias: [f32; 16],
    width: usize,
    c0: usize,
    cn: usize,
    ob: usize,
    /// Channels of the block that exist (the rest of the lanes are junk).
    nl: usize,
    /// Whether this block starts the sums (from the bias) or continues the
    /// partial sums left in `y` by the previous block of input channels.
    first: bool,
    transpose: bool,
}

/// A group's taps in kernel order, the same in every input channel:
/// offset of the weight (lane 0) within a channel's `[tap][width]` block,
/// and of the input relative to each pixel's first-tap offset within a
/// channel. The kernels walk them once per input channel, in order.
struct Taps {
    t: [(usize, isize); KMAX * KMAX],
    n: usize,
    /// Largest input offset read, over the block's channels (0 when there
    /// are no taps).
    max_x: isize,
}

/// Up to 8 pixels of a group that read consecutive inputs: first-tap
/// offset of the first, its output offset, output step, count.
#[derive(Clone, Copy, Default)]
struct Run {
    base: usize,
    out: usize,
    step: usize,
    n: usize,
}

impl Block<'_> {
    /// Every group of pixels with the same row and column masks.
    #[inline(always)]
    unsafe fn run<V: Lane8>(
        &self,
        rmask: &[u64],
        cmask: &[u64],
        pixels: bool,
        b: &Weights<'_>,
        e: &mut Taps,
        y: &mut [f32],
    ) {
        for (oy0, &rm) in rmask.iter().enumerate() {
            if rmask[..oy0].contains(&rm) {
                continue;
            }
            for (ox0, &cm) in cmask.iter().enumerate() {
                if cmask[..ox0].contains(&cm) {
                    continue;
                }
                self.entries(oy0, ox0, rm, cm, e);
                if pixels {
                    self.group_pixels::<V>(e, rmask, cmask, rm, cm, b, y);
                } else if self.width == 16 {
                    self.group_channels::<V, 2>(e, rmask, cmask, rm, cm, b, y);
                } else {
                    self.group_channels::<V, 1>(e, rmask, cmask, rm, cm, b, y);
                }
            }
        }
    }

    /// Lists the group's taps into `e`.
    fn entries(&self, oy0: usize, ox0: usize, rm: u64, cm: u64, e: &mut Taps) {
        let g = self.g;
        let k = g.kernel;
        let first_tap = self.index(oy0, ox0, rm, cm) as isize;
        e.n = 0;
        e.max_x = 0;
        for ky in (0..k).filter(|ky| rm >> ky & 1 == 1) {
            let iy = tap(self.transpose, oy0, ky, g, g.in_h).unwrap_or(0);
            for kx in (0..k).filter(|kx| cm >> kx & 1 == 1) {
                let ix = tap(self.transpose, ox0, kx, g, g.in_w).unwrap_or(0);
                if let Some(t) = e.t.get_mut(e.n) {
                    let tx = (iy * g.in_w + ix) as isize - first_tap;
                    *t = ((ky * k + kx) * self.width, tx);
                    e.max_x = e.max_x.max(tx);
                    e.n += 1;
                }
            }
        }
        if e.n > 0 {
            let last = self.c0 + self.cn - 1;
            e.max_x += (last * g.in_h * g.in_w) as isize;
        }
    }

    /// Input offset (within a channel) of the first tap of pixel `(oy, ox)`,
    /// 0 when it has none.
    #[inline(always)]
    fn index(&self, oy: usize, ox: usize, rm: u64, cm: u64) -> usize {
        let g = self.g;
        if rm == 0 || cm == 0 {
            return 0;
        }
        let ky = rm.trailing_zeros() as usize;
        let kx = cm.trailing_zeros() as usize;
        let iy = tap(self.transpose, oy, ky, g, g.in_h).unwrap_or(0);
        let ix = tap(self.transpose, ox, kx, g, g.in_w).unwrap_or(0);
        iy * g.in_w + ix
    }

    /// The partial sum output `at` of channel `ob + l` starts from.
    #[inline(always)]
    fn start(&self, b: &Weights<'_>, y: &[f32], l: usize, at: usize) -> f32 {
        let ch = self.ob + l;
        if self.first {
            weight(b, ch)
        } else {
            let plane_out = self.g.out_h * self.g.out_w;
            y.get(ch * plane_out + at).copied().unwrap_or(0.0)
        }
    }

    /// Channel vectors: the group's pixels in tiles of [`PIX`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn group_channels<V: Lane8, const VB: usize>(
        &self,
        e: &Taps,
        rmask: &[u64],
        cmask: &[u64],
        rm: u64,
        cm: u64,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let g = self.g;
        let mut pix = [(0usize, 0usize); PIX];
        let mut np = 0;
        for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
            for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
                pix[np] = (self.index(oy, ox, rm, cm), oy * g.out_w + ox);
                np += 1;
                if np == PIX {
                    self.tile_channels::<V, VB, PIX>(e, &pix, b, y);
                    np = 0;
                }
            }
        }
        match np {
            1 => self.tile_channels::<V, VB, 1>(e, &pix[..1], b, y),
            2 => self.tile_channels::<V, VB, 2>(e, &pix[..2], b, y),
            3 => self.tile_channels::<V, VB, 3>(e, &pix[..3], b, y),
            4 => self.tile_channels::<V, VB, 4>(e, &pix[..4], b, y),
            5 => self.tile_channels::<V, VB, 5>(e, &pix[..5], b, y),
            _ => {}
        }
    }

    /// `P` pixels `(first-tap input offset, output offset)`, `8 * VB`
    /// channels each, through the group's entries.
    #[inline(always)]
    unsafe fn tile_channels<V: Lane8, const VB: usize, const P: usize>(
        &self,
        e: &Taps,
        pix: &[(usize, usize)],
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let plane_out = self.g.out_h * self.g.out_w;
        let mut acc = [[V::zero(); VB]; P];
        let mut base = [0usize; P];
        for ((a, bj), p) in acc.iter_mut().zip(base.iter_mut()).zip(pix) {
            *bj = p.0;
            for (v, av) in a.iter_mut().enumerate() {
                if self.first {
                    // SAFETY: `bias` holds 16 f32 and v < VB <= 2.
                    *av = V::load(self.bias.as_ptr().add(8 * v));
                    continue;
                }
                let mut init = [0.0f32; 8];
                for (l, s) in init.iter_mut().enumerate() {
                    if v * 8 + l < self.nl {
                        *s = self.start(b, y, v * 8 + l, p.1);
                    }
                }
                // SAFETY: `init` holds 8 f32.
                *av = V::load(init.as_ptr());
            }
        }
        let acc = self.sweep_channels::<V, VB, P>(acc, e, &base);
        let mut out = [0.0f32; 16];
        for (a, p) in acc.iter().zip(pix) {
            for (v, av) in a.iter().enumerate() {
                // SAFETY: `out` holds 16 f32 and v < VB <= 2.
                av.store(out.as_mut_ptr().add(8 * v));
            }
            // One bounds check per pixel (`conv_fits` makes it pass).
            let Some(d) = y.get_mut(self.ob * plane_out + p.1..) else {
                continue;
            };
            if (self.nl - 1) * plane_out < d.len() {
                for (l, val) in out.iter().enumerate().take(self.nl) {
                    // SAFETY: checked just above.
                    *d.get_unchecked_mut(l * plane_out) = *val;
                }
            }
        }
    }

    /// The block's input channels, each through the group's taps, into the
    /// sums of a tile of `P` pixels (first-tap offsets `base`) of `8 * VB`
    /// channels each.
    #[inline(always)]
    unsafe fn sweep_channels<V: Lane8, const VB: usize, const P: usize>(
        &self,
        mut acc: [[V; VB]; P],
        e: &Taps,
        base: &[usize; P],
    ) -> [[V; VB]; P] {
        let g = self.g;
        let taps = &e.t[..e.n];
        let plane_in = g.in_h * g.in_w;
        let step = g.kernel * g.kernel * self.width;
        let mut wc = self.wt.as_ptr();
        let mut xc = self.x.as_ptr().wrapping_add(self.c0 * plane_in);
        for _ in 0..self.cn {
            for &(tw, tx) in taps {
                let mut wv = [V::zero(); VB];
                for (v, wv) in wv.iter_mut().enumerate() {
                    // SAFETY: `tw + 8 * VB <= kk * width`, inside the
                    // channel's block of `wt`.
                    *wv = V::load(wc.add(tw + 8 * v));
                }
                let xt = xc.wrapping_offset(tx);
                for (a, &bj) in acc.iter_mut().zip(base) {
                    // SAFETY: every pixel of the group reads this tap at its
                    // first-tap offset plus `tx`, a valid input position
                    // (the tap is in its row and column masks, `conv_fits`
                    // bounds the channel).
                    let xv = V::splat(xt.wrapping_add(bj));
                    for (a, wv) in a.iter_mut().zip(&wv) {
                        *a = a.add_mul(*wv, xv);
                    }
                }
            }
            wc = wc.wrapping_add(step);
            xc = xc.wrapping_add(plane_in);
        }
        acc
    }

    /// Pixel vectors: the group's rows cut into runs of up to 8 pixels
    /// that read consecutive inputs, [`PV`] runs per tile, once per channel.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn group_pixels<V: Lane8>(
        &self,
        e: &Taps,
        rmask: &[u64],
        cmask: &[u64],
        rm: u64,
        cm: u64,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let g = self.g;
        let mut runs = [Run::default(); PV];
        let mut nr = 0;
        for (oy, _) in rmask.iter().enumerate().filter(|(_, &m)| m == rm) {
            let mut cur: Option<(Run, usize)> = None;
            for (ox, _) in cmask.iter().enumerate().filter(|(_, &m)| m == cm) {
                let base = self.index(oy, ox, rm, cm);
                let at = oy * g.out_w + ox;
                let extend = match cur {
                    Some((r, last)) if r.n < 8 => {
                        let step_ok = r.n == 1 || ox - last == r.step;
                        base == r.base + r.n && step_ok
                    }
                    _ => false,
                };
                if extend {
                    if let Some((r, last)) = cur.as_mut() {
                        if r.n == 1 {
                            r.step = ox - *last;
                        }
                        r.n += 1;
                        *last = ox;
                    }
                    continue;
                }
                if let Some((r, _)) = cur.take() {
                    runs[nr] = r;
                    nr += 1;
                    if nr == PV {
                        self.flush::<V>(e, &runs, b, y);
                        nr = 0;
                    }
                }
                cur = Some((
                    Run {
                        base,
                        out: at,
                        step: 1,
                        n: 1,
                    },
                    ox,
                ));
            }
            if let Some((r, _)) = cur {
                runs[nr] = r;
                nr += 1;
                if nr == PV {
                    self.flush::<V>(e, &runs, b, y);
                    nr = 0;
                }
            }
        }
        self.flush::<V>(e, &runs[..nr], b, y);
    }

    /// A tile of runs, once per channel of the block. (A method rather than
    /// a closure: everything here must inline into the function that
    /// enables the CPU features.)
    #[inline(always)]
    unsafe fn flush<V: Lane8>(&self, e: &Taps, runs: &[Run], b: &Weights<'_>, y: &mut [f32]) {
        for l in 0..self.nl {
            match runs.len() {
                1 => self.tile_pixels::<V, 1>(e, runs, l, b, y),
                2 => self.tile_pixels::<V, 2>(e, runs, l, b, y),
                3 => self.tile_pixels::<V, 3>(e, runs, l, b, y),
                4 => self.tile_pixels::<V, 4>(e, runs, l, b, y),
                _ => {}
            }
        }
    }

    /// `Q` runs of pixels of channel `ob + l` through the group's entries.
    #[inline(always)]
    unsafe fn tile_pixels<V: Lane8, const Q: usize>(
        &self,
        e: &Taps,
        runs: &[Run],
        l: usize,
        b: &Weights<'_>,
        y: &mut [f32],
    ) {
        let plane_out = self.g.out_h * self.g.out_w;
        let mut acc = [V::zero(); Q];
        let mut base = [0usize; Q];
        let mut reach = 0;
        for ((a, bq), r) in acc.iter_mut().zip(base.iter_mut()).zip(runs) {
            *bq = r.base;
            reach = reach.max(r.base);
            let mut init = [0.0f32; 8];
            for (i, s) in init.iter_mut().enumerate().take(r.n) {
                *s = self.start(b, y, l, r.out + i * r.step);
            }
            // SAFETY: `init` holds 8 f32.
            *a = V::load(init.as_ptr());
        }
        // Whole 8-lane loads stay inside `x` unless the last lanes of a
        // run near its end; lanes past a run's pixels are never stored.
        let whole = e.max_x + reach as isize + 8 <= self.x.len() as isize;
        let g = self.g;
        let plane_in = g.in_h * g.in_w;
        let step = g.kernel * g.kernel * self.width;
        let mut wc = self.wt.as_ptr();
        let mut xo = (self.c0 * plane_in) as isize;
        for _ in 0..self.cn {
            for &(tw, tx) in &e.t[..e.n] {
                // SAFETY: `tw + l < kk * width`, inside the channel's block.
                let wv = V::splat(wc.add(tw + l));
                let at = xo + tx;
                for (a, &bq) in acc.iter_mut().zip(&base) {
                    let xv = if whole {
                        // SAFETY: lane 0 is a valid input of the run's
                        // first pixel and `whole` bounds the eighth lane by
                        // x.len().
                        V::load(self.x.as_ptr().wrapping_offset(at).wrapping_add(bq))
                    } else {
                        let mut tmp = [0.0f32; 8];
                        let at = (at + bq as isize) as usize;
                        for (i, t) in tmp.iter_mut().enumerate() {
                            *t = self.x.get(at + i).copied().unwrap_or(0.0);
                        }
                        V::load(tmp.as_ptr())
                    };
                    *a = a.add_mul(wv, xv);
                }
            }
            wc = wc.wrapping_add(step);
            xo += plane_in as isize;
        }
        let mut out = [0.0f32; 8];
        for (a, r) in acc.iter().zip(runs) {
            a.store(out.as_mut_ptr());
            for (i, v) in out.iter().enumerate().take(r.n) {
                let at = (self.ob + l) * plane_out + r.out + i * r.step;
                if let Some(d) = y.get_mut(at) {
                    *d = *v;
                }
            }
        }
    }
}
