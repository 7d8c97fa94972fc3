//! AVX-512 convolutions: output pixels grouped by the taps they read,
//! sixteen channels per register (the channel path) or up to sixteen
//! pixels of a run per register (the pixel path, module `pixels`).

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::groups::{groups, Group};
use super::{load_w, transpose16};
use crate::kernels::taps::{tap, tap_masks, KMAX, SIDE};
use crate::kernels::{ConvArgs, ConvGeom, Weights};

/// f32 in the transposed weight buffer (64 KiB: a 64 -> 16 channel block
/// with 4x4 kernels fits in one piece).
const WT: usize = 16384;
/// Pixels per run (one register in the pixel path).
const RUN: usize = 16;
/// Largest pixel run of a tile in the channel path.
const CHUNK: usize = 8;

/// Whether [`conv_prepared`](super::conv_prepared) handles this geometry
/// with AVX-512 (otherwise the AVX2 kernels run).
pub(super) fn conv_512_supported(g: &ConvGeom, transpose: bool) -> bool {
    crate::kernels::taps::conv_supported(g) && (g.out_c >= 16 || transpose || g.stride == 1)
}

/// Input position of the first tap of output position `o` with tap mask
/// `m` (0 when it has none).
#[inline(always)]
pub(super) fn first_tap(transpose: bool, o: usize, m: u64, g: &ConvGeom, n: usize) -> usize {
    if m == 0 {
        return 0;
    }
    tap(transpose, o, m.trailing_zeros() as usize, g, n).unwrap_or(0)
}

/// Pixels of one output row of a group whose first taps are `xstep` input
/// columns apart: first output column, output column step, first tap's
/// input column, count.
#[derive(Clone, Copy, Default)]
pub(super) struct Run {
    pub(super) ox: u32,
    pub(super) ostep: u32,
    pub(super) ix: u32,
    pub(super) n: u32,
}

/// One block of 16 output channels and `cn` input channels.
pub(super) struct Block<'a> {
    pub(super) g: &'a ConvGeom,
    pub(super) x: &'a [f32],
    /// `[c][tap][16]`, written for the block's `cn * kk * 16` elements.
    pub(super) wt: *const f32,
    pub(super) bias: __m512,
    pub(super) c0: usize,
    pub(super) cn: usize,
    pub(super) ob: usize,
    pub(super) nl: usize,
    pub(super) first: bool,
    pub(super) transpose: bool,
}

/// A group's taps in summation order (kernel row, then column) for every
/// input channel: offset of the weights within a channel's block of the
/// transposed buffer, and of the input relative to each pixel's first-tap
/// offset within a channel.
pub(super) struct Taps {
    pub(super) w: [usize; KMAX * KMAX],
    pub(super) x: [isize; KMAX * KMAX],
    pub(super) n: usize,
}

/// With `pre`, the weights already transposed by
/// [`prepare_conv`](super::prepare_conv) (`pre` holds
/// [`prepared_len`](super::prepared_len) values); without, each block's
/// are transposed here.
///
/// # Safety
///
/// The features are present, `conv_fits` holds and `conv_512_supported`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn conv_512(c: ConvArgs<'_>, y: &mut [f32], pre: Option<&[f32]>) {
    let ConvArgs {
        w,
        b,
        g,
        x,
        transpose,
    } = c;
    let k = g.kernel;
    let kk = k * k;
    let (rmask, cmask) = tap_masks(g, transpose);
    let rmask = &rmask[..g.out_h];
    let cmask = &cmask[..g.out_w];
    let mut wt = MaybeUninit::<[f32; WT]>::uninit();
    let wtp = wt.as_mut_ptr().cast::<f32>();
    // Input channels per block (kk <= 64, so at least 16).
    let cb = (WT / (kk * 16)).max(1);
    let mut e = Taps {
        w: [0; KMAX * KMAX],
        x: [0; KMAX * KMAX],
        n: 0,
    };
    let mut ob = 0;
    while ob < g.out_c {
        let nl = 16.min(g.out_c - ob);
        let mut c0 = 0;
        while c0 < g.in_c {
            let cn = cb.min(g.in_c - c0);
            let wt = match pre {
                // SAFETY: `pre` holds every block's transposed weights, in
                // this order (`prepared_len`, `prepare`).
                Some(p) => p.as_ptr().add(((ob / 16) * g.in_c + c0) * kk * 16),
                None => {
                    for c in 0..cn {
                        // SAFETY: (c + 1) * kk * 16 <= cn * kk * 16 <= WT.
                        transpose_weights(&w, g, transpose, c0 + c, ob, nl, wtp.add(c * kk * 16));
                    }
                    wtp.cast_const()
                }
            };
            let blk = Block {
                g,
                x,
                wt,
                bias: load_w(&b, ob, nl),
                c0,
                cn,
                ob,
                nl,
                first: c0 == 0,
                transpose,
            };
            for grp in groups(rmask, cmask) {
                blk.entries(&grp, &mut e);
                blk.group(&e, &grp, y);
            }
            c0 += cn;
        }
        ob += 16;
    }
}

/// The taps of input channel `c` for output channels `ob..ob + nl` into
/// `dst[t * 16 + l]` (zeros for `l >= nl`): sixteen channels' rows of taps
/// are loaded, converted and transposed in registers.
///
/// # Safety
///
/// The features are present, `conv_fits` holds for `w`, and `dst` is
/// valid for `kk * 16` f32.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn transpose_weights(
    w: &Weights<'_>,
    g: &ConvGeom,
    transpose: bool,
    c: usize,
    ob: usize,
    nl: usize,
    dst: *mut f32,
) {
    let kk = g.kernel * g.kernel;
    let base = |l: usize| {
        let o = ob + l;
        if transpose {
            (c * g.out_c + o) * kk
        } else {
            (o * g.in_c + c) * kk
        }
    };
    if nl < 4 {
        // Few channels (the pixel path reads lanes below `nl` only).
        for l in 0..nl {
            for t in 0..kk {
                // SAFETY: element `base(l) + t` lies inside `w`.
                *dst.add(t * 16 + l) = _mm512_cvtss_f32(load_w(w, base(l) + t, 1));
            }
        }
        return;
    }
    let mut t0 = 0;
    while t0 < kk {
        let m = 16.min(kk - t0);
        // Sixteen loads whatever `nl` (rows past it masked off), so that
        // the rows stay in registers.
        let mut r = [_mm512_setzero_ps(); 16];
        for (l, v) in r.iter_mut().enumerate() {
            let mm = if l < nl { m } else { 0 };
            // SAFETY: elements `base + t0..base + t0 + m` lie inside `w`
            // for l < nl; nothing is read for the other rows.
            *v = load_w(w, base(l.min(nl - 1)) + t0, mm);
        }
        transpose16(&mut r);
        for (j, v) in r.iter().enumerate() {
            if j < m {
                _mm512_storeu_ps(dst.add((t0 + j) * 16), *v);
            }
        }
        t0 += 16;
    }
}

/// Splits `n` pixels into chunks of at most [`CHUNK`], as even as possible.
#[inline(always)]
fn chunks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let parts = n.div_ceil(CHUNK);
    (0..parts).map(move |i| {
        let start = i * n / parts;
        (start, (i + 1) * n / parts - start)
    })
}

/// Rows of a channel-path tile for a chunk of `l` pixels (at most 18
/// accumulators, at most 6 row pointers).
#[inline(always)]
fn tile_rows(l: usize) -> usize {
    (18 / l.max(1)).clamp(1, 6)
}

macro_rules! tile_dispatch {
    ($self:ident, $unit:expr, $r:expr, $l:expr, $args:tt; $( ($rr:literal, $ll:literal) ),* ) => {
        match ($unit, $r, $l) {
            $(
                (true, $rr, $ll) => $self.tile_channels::<$rr, $ll, true> $args,
                (false, $rr, $ll) => $self.tile_channels::<$rr, $ll, false> $args,
            )*
            _ => {}
        }
    };
}

impl Block<'_> {
    /// Lists the group's taps into `e`.
    #[inline]
    fn entries(&self, grp: &Group<'_>, e: &mut Taps) {
        let g = self.g;
        let k = g.kernel;
        let first = (first_tap(self.transpose, grp.oy0, grp.rm, g, g.in_h) * g.in_w
            + first_tap(self.transpose, grp.ox0, grp.cm, g, g.in_w)) as isize;
        e.n = 0;
        for (ky, kx, iy, ix) in grp.taps(self.transpose, g) {
            if let (Some(w), Some(x)) = (e.w.get_mut(e.n), e.x.get_mut(e.n)) {
                *w = (ky * k + kx) * 16;
                *x = (iy * g.in_w + ix) as isize - first;
                e.n += 1;
            }
        }
    }

    /// Every pixel of the group, in tiles.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn group(&self, e: &Taps, grp: &Group<'_>, y: &mut [f32]) {
        let g = self.g;
        let xstep = if self.transpose { 1 } else { g.stride };
        let mut rows = [0u16; SIDE];
        let mut nr = 0;
        for oy in grp.rows() {
            if let Some(r) = rows.get_mut(nr) {
                *r = oy as u16;
                nr += 1;
            }
        }
        let rows = &rows[..nr];
        // Column runs, the same for every row of the group.
        let mut runs = [MaybeUninit::<Run>::uninit(); SIDE];
        let nrun = self.column_runs(grp, xstep, &mut runs);
        // SAFETY: runs[..nrun] are written.
        let runs = core::slice::from_raw_parts(runs.as_ptr().cast::<Run>(), nrun);
        if g.out_c >= 16 {
            self.channel_tiles(e, rows, runs, xstep, grp.rm, y)
        } else {
            self.pixel_tiles(e, rows, runs, grp.rm, y)
        }
    }

    /// The runs of pixels of one output row of the group whose first taps
    /// are `xstep` input columns apart, into `runs`; how many.
    #[inline(always)]
    fn column_runs(
        &self,
        grp: &Group<'_>,
        xstep: usize,
        runs: &mut [MaybeUninit<Run>; SIDE],
    ) -> usize {
        let g = self.g;
        let mut nrun = 0;
        let mut last = 0;
        for ox in grp.cols() {
            let ix = first_tap(self.transpose, ox, grp.cm, g, g.in_w);
            if nrun > 0 {
                // SAFETY: runs[..nrun] are written.
                let r = unsafe { runs[nrun - 1].assume_init_mut() };
                let (n, rix) = (r.n as usize, r.ix as usize);
                let step_ok = n == 1 || ox - last == r.ostep as usize;
                if n < RUN && ix == rix + n * xstep && step_ok {
                    if n == 1 {
                        r.ostep = (ox - last) as u32;
                    }
                    r.n += 1;
                    last = ox;
                    continue;
                }
            }
            runs[nrun].write(Run {
                ox: ox as u32,
                ostep: 1,
                ix: ix as u32,
                n: 1,
            });
            nrun += 1;
            last = ox;
        }
        nrun
    }

    /// Channel path over the group's rows and runs: chunks of up to
    /// [`CHUNK`] pixels, [`tile_rows`] rows at a time.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn channel_tiles(
        &self,
        e: &Taps,
        rows: &[u16],
        runs: &[Run],
        xstep: usize,
        rm: u64,
        y: &mut [f32],
    ) {
        for run in runs {
            for (s, l) in chunks(run.n as usize) {
                let chunk = Run {
                    ox: run.ox + (s * run.ostep as usize) as u32,
                    ostep: run.ostep,
                    ix: run.ix + (s * xstep) as u32,
                    n: l as u32,
                };
                let tr = tile_rows(l);
                for rs in rows.chunks(tr) {
                    tile_dispatch!(self, xstep == 1, rs.len(), l, (e, rs, chunk, xstep, rm, y);
                        (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1),
                        (1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2),
                        (1, 3), (2, 3), (3, 3), (4, 3), (5, 3), (6, 3),
                        (1, 4), (2, 4), (3, 4), (4, 4),
                        (1, 5), (2, 5), (3, 5),
                        (1, 6), (2, 6), (3, 6),
                        (1, 7), (2, 7),
                        (1, 8), (2, 8));
                }
            }
        }
    }

    /// Pixel path over the group's rows and runs, once per output channel,
    /// up to 8 rows at a time (the 2x2 grid where it applies).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn pixel_tiles(&self, e: &Taps, rows: &[u16], runs: &[Run], rm: u64, y: &mut [f32]) {
        for l in 0..self.nl {
            for run in runs {
                for rs in rows.chunks(8) {
                    macro_rules! tile {
                        ($r:literal) => {
                            if !self.tile_grid::<$r>(e, rs, *run, l, rm, y) {
                                self.tile_pixels::<$r>(e, rs, *run, l, rm, y)
                            }
                        };
                    }
                    match rs.len() {
                        1 => tile!(1),
                        2 => tile!(2),
                        3 => tile!(3),
                        4 => tile!(4),
                        5 => tile!(5),
                        6 => tile!(6),
                        7 => tile!(7),
                        8 => tile!(8),
                        _ => {}
                    }
                }
            }
        }
    }

    /// Channel path: `R` rows times `L` pixels of a run, 16 channels each.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tile_channels<const R: usize, const L: usize, const UNIT: bool>(
        &self,
        e: &Taps,
        rows: &[u16],
        run: Run,
        xstep: usize,
        rm: u64,
        y: &mut [f32],
    ) {
        let g = self.g;
        let plane_out = g.out_h * g.out_w;
        let xs = if UNIT { 1 } else { xstep };
        let mut base = [0usize; R];
        let mut at = [0usize; R];
        for ((bs, a), &oy) in base.iter_mut().zip(at.iter_mut()).zip(rows) {
            let oy = oy as usize;
            *bs = first_tap(self.transpose, oy, rm, g, g.in_h) * g.in_w + run.ix as usize;
            *a = oy * g.out_w + run.ox as usize;
        }
        let ostep = run.ostep as usize;
        let mut acc = [[self.bias; L]; R];
        if !self.first {
            for (ar, &a0) in acc.iter_mut().zip(&at) {
                for (j, a) in ar.iter_mut().enumerate() {
                    let mut init = [0.0f32; 16];
                    for (l, v) in init.iter_mut().enumerate().take(self.nl) {
                        let i = (self.ob + l) * plane_out + a0 + j * ostep;
                        *v = y.get(i).copied().unwrap_or(0.0);
                    }
                    *a = _mm512_loadu_ps(init.as_ptr());
                }
            }
        }
        let kk16 = g.kernel * g.kernel * 16;
        let plane_in = g.in_h * g.in_w;
        let taps = e.n.min(KMAX * KMAX);
        for c in 0..self.cn {
            // SAFETY: (c + 1) * kk * 16 <= cn * kk * 16 <= WT, all written.
            let wc = self.wt.add(c * kk16);
            let xc = self.x.as_ptr().wrapping_add((self.c0 + c) * plane_in);
            for t in 0..taps {
                // SAFETY: `t < e.n <= KMAX * KMAX`; the tap's weights lie
                // inside the channel's block.
                let wv = _mm512_loadu_ps(wc.add(*e.w.get_unchecked(t)));
                let xt = xc.wrapping_offset(*e.x.get_unchecked(t));
                for (ar, &bs) in acc.iter_mut().zip(&base) {
                    let xr = xt.wrapping_add(bs);
                    for (j, a) in ar.iter_mut().enumerate() {
                        // SAFETY: every pixel of the group reads this tap
                        // at its first-tap offset plus the tap's offset, a
                        // valid input (the tap is in its masks, `conv_fits`
                        // bounds the channel); pixel j of the run has its
                        // first tap j * xs further.
                        let xv = _mm512_set1_ps(*xr.wrapping_add(j * xs));
                        *a = _mm512_add_ps(*a, _mm512_mul_ps(wv, xv));
                    }
                }
            }
        }
        let mut out = [0.0f32; 16];
        for (ar, &a0) in acc.iter().zip(&at) {
            for (j, a) in ar.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr(), *a);
                let p = a0 + j * ostep;
                // One bounds check per pixel (`conv_fits` makes it pass).
                let Some(d) = y.get_mut(self.ob * plane_out + p..) else {
                    continue;
                };
                if (self.nl - 1) * plane_out < d.len() {
                    for (l, v) in out.iter().enumerate().take(self.nl) {
                        // SAFETY: checked just above.
                        *d.get_unchecked_mut(l * plane_out) = *v;
                    }
                }
            }
        }
    }
}
