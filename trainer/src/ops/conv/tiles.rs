//! The matrix products of the convolution ops and the layout changes around them: a product by
//! the `gemm` crate on slices with strides, the tile size, and `[n, C, P]` planes to and from
//! `[n * P, C]` rows.

use super::patches::{col2im_image, im2col_image, Geometry};
use crate::ops::act::Act;

/// A matrix in a slice: (row stride, column stride).
pub(super) type Strides = (usize, usize);

/// `dst = lhs @ rhs` (`acc`: `dst += lhs @ rhs`) for `m x k` and `k x n` matrices held in slices
/// with the given strides, by the `gemm` crate candle's own matrix product uses. Panics if a
/// matrix does not fit its slice.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    ds: Strides,
    acc: bool,
    lhs: &[f32],
    ls: Strides,
    rhs: &[f32],
    rs: Strides,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, (r, c): Strides| (rows - 1) * r + (cols - 1) * c;
    assert!(last(m, n, ds) < dst.len(), "matmul: destination too small");
    if k == 0 {
        if !acc {
            (0..m).for_each(|i| (0..n).for_each(|j| dst[i * ds.0 + j * ds.1] = 0.0));
        }
        return;
    }
    assert!(last(m, k, ls) < lhs.len() && last(k, n, rs) < rhs.len());
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the product touches, (rows - 1) * row stride + (cols - 1) * column
    // stride at most, is inside its slice (checked above); `dst` is borrowed mutably, so it
    // overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            ds.1 as isize,
            ds.0 as isize,
            acc,
            lhs.as_ptr(),
            ls.1 as isize,
            ls.0 as isize,
            rhs.as_ptr(),
            rs.1 as isize,
            rs.0 as isize,
            if acc { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Per-channel sums of `[B, C, P]` data, added into `out` (`C`).
pub(super) fn add_channel_sums(x: &[f32], c: usize, p: usize, out: &mut [f32]) {
    for img in x.chunks_exact(c * p) {
        for (o, plane) in out.iter_mut().zip(img.chunks_exact(p)) {
            *o += crate::ops::lane_sum(plane, |v| v);
        }
    }
}

/// Images per tile: enough that the products have a few hundred rows (one image of the DCGAN's
/// second layer has 49 positions; a product that small spends its time packing and on edges),
/// few enough that the tile (`rows * cols` values) stays within 256 KB of cache.
pub(super) fn group(p: usize, cols: usize) -> usize {
    (512 / p.max(1)).min((64 << 10) / (p * cols).max(1)).max(1)
}

/// `[n, C, P]` images -> `[n * P, C]` rows.
pub(super) fn to_rows(img: &[f32], c: usize, p: usize, rows: &mut [f32]) {
    for (im, r) in img.chunks_exact(c * p).zip(rows.chunks_exact_mut(p * c)) {
        for (ch, plane) in im.chunks_exact(p).enumerate() {
            for (i, &v) in plane.iter().enumerate() {
                r[i * c + ch] = v;
            }
        }
    }
}

/// `[n * P, C]` rows -> `[n, C, P]` images, plus `bias[C]` if given, through `act`.
pub(super) fn from_rows(
    rows: &[f32],
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
    act: Act,
    img: &mut [f32],
) {
    for (r, im) in rows.chunks_exact(p * c).zip(img.chunks_exact_mut(c * p)) {
        for (ch, plane) in im.chunks_exact_mut(p).enumerate() {
            let b = bias.map_or(0.0, |b| b[ch]);
            for (i, v) in plane.iter_mut().enumerate() {
                *v = r[i * c + ch] + b;
            }
            act.apply_all(plane);
        }
    }
}

/// Fills every channel plane of `[C, P]` `y` with its bias.
pub(super) fn fill_bias(y: &mut [f32], bias: &[f32], p: usize) {
    for (plane, &b) in y.chunks_exact_mut(p).zip(bias) {
        plane.fill(b);
    }
}

/// The two sides of a convolution's geometry: its image (`[C, H, W]`, the input of a
/// convolution, the output of a transposed one) and its output positions (`[Cp, P]`, `Cp` the
/// channels of the weight's first axis, the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Image,
    Positions,
}

impl Side {
    /// Channels and plane size of one image on this side, `cp` the positions side's channels.
    pub(super) fn planes(self, g: &Geometry, cp: usize) -> (usize, usize) {
        match self {
            Side::Image => (g.channels, g.height * g.width),
            Side::Positions => (cp, g.positions()),
        }
    }

    /// Values of one image on this side.
    pub(super) fn len(self, g: &Geometry, cp: usize) -> usize {
        let (c, plane) = self.planes(g, cp);
        c * plane
    }
}

/// One op call's working tiles, for a group of images at a time: the patches `cols`
/// (`[n P, C K K]`, the image side as `im2col` rows) and `rows` (`[n P, Cp]`, the positions side
/// transposed), which one product by the weight `[Cp, C K K]` turns into each other.
pub(super) struct Tiles<'g> {
    g: &'g Geometry,
    spans: Vec<(usize, usize, usize)>,
    /// Channels of the positions side.
    cp: usize,
    /// Images per group ([`group`]).
    pub(super) n: usize,
    cols: Vec<f32>,
    rows: Vec<f32>,
    /// Rows of the current group, `n P` or fewer for the last.
    m: usize,
}

impl<'g> Tiles<'g> {
    pub(super) fn new(g: &'g Geometry, cp: usize) -> Self {
        let (p, ckk) = (g.positions(), g.cols());
        let n = group(p, ckk);
        Tiles {
            g,
            spans: g.spans(),
            cp,
            n,
            cols: vec![0f32; n * p * ckk],
            rows: vec![0f32; n * p * cp],
            m: 0,
        }
    }

    /// Values of one image on `side`.
    pub(super) fn len(&self, side: Side) -> usize {
        side.len(self.g, self.cp)
    }

    /// Reads a group of images of `side`: the image side into `cols`, the positions side into
    /// `rows`.
    pub(super) fn load(&mut self, side: Side, data: &[f32]) {
        let (g, p) = (self.g, self.g.positions());
        self.m = data.len() / self.len(side) * p;
        match side {
            Side::Image => {
                for (img, c) in data
                    .chunks_exact(g.image_len())
                    .zip(self.cols.chunks_exact_mut(p * g.cols()))
                {
                    im2col_image(img, g, &self.spans, c);
                }
            }
            Side::Positions => to_rows(data, self.cp, p, &mut self.rows),
        }
    }

    /// Carries the loaded tile through the weight `w` to `side` and writes the group's images of
    /// that side into `out`, each plus `bias` if given and through `act`: `cols = rows @ W` then
    /// `col2im` for the image side, `rows = cols @ W^T` then `[n, Cp, P]` for the positions side.
    pub(super) fn store(
        &mut self,
        side: Side,
        w: &[f32],
        bias: Option<&[f32]>,
        act: Act,
        out: &mut [f32],
    ) {
        let (g, m, cp, ckk) = (self.g, self.m, self.cp, self.g.cols());
        match side {
            Side::Image => {
                let cols = &mut self.cols[..m * ckk];
                matmul(
                    (m, ckk, cp),
                    cols,
                    (ckk, 1),
                    false,
                    &self.rows,
                    (cp, 1),
                    w,
                    (ckk, 1),
                );
                let per = g.positions() * ckk;
                for (c, img) in cols
                    .chunks_exact(per)
                    .zip(out.chunks_exact_mut(g.image_len()))
                {
                    if let Some(b) = bias {
                        fill_bias(img, b, g.height * g.width);
                    }
                    col2im_image(c, g, &self.spans, img);
                    act.apply_all(img);
                }
            }
            Side::Positions => {
                let rows = &mut self.rows[..m * cp];
                matmul(
                    (m, cp, ckk),
                    rows,
                    (cp, 1),
                    false,
                    &self.cols,
                    (ckk, 1),
                    w,
                    (1, ckk),
                );
                from_rows(rows, cp, g.positions(), bias, act, out);
            }
        }
    }

    /// `dW (+)= rows^T [Cp, n P] @ cols [n P, C K K]`: the weight's gradient of the loaded
    /// group, summed over its images inside the product (`acc`: added to `dw`).
    pub(super) fn weight_grad(&self, dw: &mut [f32], acc: bool) {
        let (m, cp, ckk) = (self.m, self.cp, self.g.cols());
        let (rows, cols) = (&self.rows[..m * cp], &self.cols[..m * ckk]);
        matmul(
            (cp, ckk, m),
            dw,
            (ckk, 1),
            acc,
            rows,
            (1, cp),
            cols,
            (ckk, 1),
        );
    }
}
