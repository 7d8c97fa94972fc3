//! The patches of a convolution: its [`Geometry`], `im2col` (each output position's input patch
//! as one row) and its adjoint `col2im` (every row summed back into the pixels it came from), as
//! obviously-right per-element references and the fast per-image kernels the ops use.

/// Geometry of a square-kernel convolution over `[B, C, H, W]` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    /// Output height and width of the convolution over the image.
    pub fn out_hw(&self) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (o(self.height), o(self.width))
    }

    /// Columns of the `im2col` matrix: one per (channel, ky, kx), in a weight's order.
    pub fn cols(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// An error unless the kernel fits the padded image (so [`Geometry::out_hw`] is defined).
    pub fn check(&self) -> candle_core::Result<()> {
        if self.kernel == 0
            || self.stride == 0
            || self.height + 2 * self.padding < self.kernel
            || self.width + 2 * self.padding < self.kernel
        {
            candle_core::bail!("im2col: kernel {self:?} does not fit the image")
        }
        Ok(())
    }

    /// For output position `o` and kernel offset `k`, the input coordinate if it is inside.
    #[inline]
    fn src(&self, o: usize, k: usize, n: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < n)
    }
}

/// `[B, C, H, W]` -> `[B * OH * OW, C * K * K]`: row `(b, oy, ox)` holds the input patch that
/// output position sees, zeros where it hangs over the padding.
pub fn im2col_ref(x: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * oh * ow * cols];
    for b in 0..batch {
        let img = &x[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut out[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        for kx in 0..k {
                            if let Some(ix) = g.src(ox, kx, w) {
                                row[(ci * k + ky) * k + kx] = plane[iy * w + ix];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The adjoint of [`im2col_ref`]: `[B * OH * OW, C * K * K]` -> `[B, C, H, W]`, summing every
/// entry into the pixel it came from.
pub fn col2im_ref(cols_in: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    let mut out = vec![0f32; batch * c * h * w];
    for b in 0..batch {
        let img = &mut out[b * c * h * w..(b + 1) * c * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &cols_in[((b * oh + oy) * ow + ox) * cols..][..cols];
                for ci in 0..c {
                    let plane = &mut img[ci * h * w..(ci + 1) * h * w];
                    for ky in 0..k {
                        let Some(iy) = g.src(oy, ky, h) else { continue };
                        for kx in 0..k {
                            if let Some(ix) = g.src(ox, kx, w) {
                                plane[iy * w + ix] += row[(ci * k + ky) * k + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

impl Geometry {
    /// For output row `oy`, the kernel offsets `ky` whose input row is inside the image, and the
    /// input row of the first ([`Geometry::kx_span`] for rows).
    #[inline]
    fn ky_span(&self, oy: usize) -> (usize, usize, usize) {
        let base = oy * self.stride;
        let lo = self.padding.saturating_sub(base).min(self.kernel);
        let hi = (self.height + self.padding)
            .saturating_sub(base)
            .min(self.kernel)
            .max(lo);
        (lo, hi, (base + lo).saturating_sub(self.padding))
    }

    /// For output column `ox`, the kernel offsets `kx` whose input column is inside the image,
    /// and the input column of the first: consecutive `kx` read consecutive input columns.
    #[inline]
    fn kx_span(&self, ox: usize) -> (usize, usize, usize) {
        let base = ox * self.stride; // input column of kx, plus padding
        let lo = self.padding.saturating_sub(base).min(self.kernel);
        let hi = (self.width + self.padding)
            .saturating_sub(base)
            .min(self.kernel)
            .max(lo);
        (lo, hi, (base + lo).saturating_sub(self.padding))
    }
}

/// One image of [`im2col_ref`] into `out` (`OH * OW * C * K * K` values, overwritten), each
/// kernel row copied as one slice; `spans` is `Geometry::spans`.
pub fn im2col_image(img: &[f32], g: &Geometry, spans: &[(usize, usize, usize)], out: &mut [f32]) {
    match g.kernel {
        3 => im2col_image_k::<3>(img, g, spans, out),
        4 => im2col_image_k::<4>(img, g, spans, out),
        5 => im2col_image_k::<5>(img, g, spans, out),
        _ => im2col_image_any(img, g, spans, out),
    }
}

/// One image of [`col2im_ref`], added into `img` (`C * H * W` values).
pub fn col2im_image(
    cols_in: &[f32],
    g: &Geometry,
    spans: &[(usize, usize, usize)],
    img: &mut [f32],
) {
    match g.kernel {
        3 => col2im_image_k::<3>(cols_in, g, spans, img),
        4 => col2im_image_k::<4>(cols_in, g, spans, img),
        5 => col2im_image_k::<5>(cols_in, g, spans, img),
        _ => col2im_image_any(cols_in, g, spans, img),
    }
}

/// [`im2col_image`] for a kernel of `K`, one output position's row at a time (sequential
/// writes; the image it reads is small enough to stay in L1). Inside the image every kernel row
/// is a fixed-size copy (no loop, no `memcpy` call); rows over the padding are zeroed first.
fn im2col_image_k<const K: usize>(
    img: &[f32],
    g: &Geometry,
    spans: &[(usize, usize, usize)],
    out: &mut [f32],
) {
    let (oh, ow) = g.out_hw();
    let (c, h, w) = (g.channels, g.height, g.width);
    let cols = c * K * K;
    let mut rows = out.chunks_exact_mut(cols);
    for oy in 0..oh {
        let (kylo, kyhi, iy0) = g.ky_span(oy);
        for &(lo, hi, ix0) in spans.iter().take(ow) {
            let row = rows.next().expect("im2col: output too small");
            if kyhi - kylo == K && hi - lo == K {
                for (ci, dst) in row.chunks_exact_mut(K * K).enumerate() {
                    let src = &img[(ci * h + iy0) * w + ix0..];
                    for (ky, d) in dst.chunks_exact_mut(K).enumerate() {
                        let d: &mut [f32; K] = d.try_into().unwrap();
                        *d = src[ky * w..ky * w + K].try_into().unwrap();
                    }
                }
            } else {
                row.fill(0.0);
                for (ci, dst) in row.chunks_exact_mut(K * K).enumerate() {
                    for ky in (kylo..kyhi).filter(|_| hi > lo) {
                        let src = &img[(ci * h + iy0 + ky - kylo) * w + ix0..][..hi - lo];
                        dst[ky * K + lo..ky * K + hi].copy_from_slice(src);
                    }
                }
            }
        }
    }
}

/// [`col2im_image`] for a kernel of `K`, in the order of [`im2col_image_k`].
fn col2im_image_k<const K: usize>(
    cols_in: &[f32],
    g: &Geometry,
    spans: &[(usize, usize, usize)],
    img: &mut [f32],
) {
    let (oh, ow) = g.out_hw();
    let (c, h, w) = (g.channels, g.height, g.width);
    let cols = c * K * K;
    let mut rows = cols_in.chunks_exact(cols);
    for oy in 0..oh {
        let (kylo, kyhi, iy0) = g.ky_span(oy);
        for &(lo, hi, ix0) in spans.iter().take(ow) {
            let row = rows.next().expect("col2im: input too small");
            if kyhi - kylo == K && hi - lo == K {
                for (ci, src) in row.chunks_exact(K * K).enumerate() {
                    let dst = &mut img[(ci * h + iy0) * w + ix0..];
                    for (ky, s) in src.chunks_exact(K).enumerate() {
                        let d: &mut [f32; K] = (&mut dst[ky * w..ky * w + K]).try_into().unwrap();
                        let s: &[f32; K] = s.try_into().unwrap();
                        (0..K).for_each(|i| d[i] += s[i]);
                    }
                }
            } else {
                for (ci, src) in row.chunks_exact(K * K).enumerate() {
                    for ky in (kylo..kyhi).filter(|_| hi > lo) {
                        let dst = &mut img[(ci * h + iy0 + ky - kylo) * w + ix0..][..hi - lo];
                        dst.iter_mut()
                            .zip(&src[ky * K + lo..ky * K + hi])
                            .for_each(|(d, &v)| *d += v);
                    }
                }
            }
        }
    }
}

/// [`im2col_image`] for any kernel size.
fn im2col_image_any(img: &[f32], g: &Geometry, spans: &[(usize, usize, usize)], out: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    debug_assert_eq!(out.len(), oh * ow * cols);
    if g.padding > 0 {
        out.fill(0.0);
    }
    for oy in 0..oh {
        for (ox, &(lo, hi, ix0)) in spans.iter().enumerate() {
            let row = &mut out[(oy * ow + ox) * cols..][..cols];
            for ci in 0..c {
                let plane = &img[ci * h * w..(ci + 1) * h * w];
                for ky in 0..k {
                    let Some(iy) = g.src(oy, ky, h) else { continue };
                    let (dst, src) = ((ci * k + ky) * k + lo, iy * w + ix0);
                    row[dst..dst + hi - lo].copy_from_slice(&plane[src..src + hi - lo]);
                }
            }
        }
    }
}

/// [`col2im_image`] for any kernel size.
fn col2im_image_any(
    cols_in: &[f32],
    g: &Geometry,
    spans: &[(usize, usize, usize)],
    img: &mut [f32],
) {
    let (oh, ow) = g.out_hw();
    let (c, h, w, k) = (g.channels, g.height, g.width, g.kernel);
    let cols = g.cols();
    for oy in 0..oh {
        for (ox, &(lo, hi, ix0)) in spans.iter().enumerate() {
            let row = &cols_in[(oy * ow + ox) * cols..][..cols];
            for ci in 0..c {
                let plane = &mut img[ci * h * w..(ci + 1) * h * w];
                for ky in 0..k {
                    let Some(iy) = g.src(oy, ky, h) else { continue };
                    let (src, dst) = ((ci * k + ky) * k + lo, iy * w + ix0);
                    plane[dst..dst + hi - lo]
                        .iter_mut()
                        .zip(&row[src..src + hi - lo])
                        .for_each(|(d, &v)| *d += v);
                }
            }
        }
    }
}

impl Geometry {
    /// [`Geometry::kx_span`] of every output column.
    pub(super) fn spans(&self) -> Vec<(usize, usize, usize)> {
        (0..self.out_hw().1).map(|ox| self.kx_span(ox)).collect()
    }

    /// Values of one image, `C * H * W`.
    pub(super) fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Output positions, `OH * OW`.
    pub(super) fn positions(&self) -> usize {
        let (oh, ow) = self.out_hw();
        oh * ow
    }
}

/// [`im2col_ref`] over a batch with the fast per-image kernel.
pub fn im2col(x: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let per = g.positions() * g.cols();
    let mut out = vec![0f32; batch * per];
    let spans = g.spans();
    for (img, o) in x.chunks_exact(g.image_len()).zip(out.chunks_exact_mut(per)) {
        im2col_image(img, g, &spans, o);
    }
    out
}

/// [`col2im_ref`] over a batch with the fast per-image kernel.
pub fn col2im(cols_in: &[f32], batch: usize, g: &Geometry) -> Vec<f32> {
    let per = g.positions() * g.cols();
    let mut out = vec![0f32; batch * g.image_len()];
    let spans = g.spans();
    for (c, img) in cols_in
        .chunks_exact(per)
        .zip(out.chunks_exact_mut(g.image_len()))
    {
        col2im_image(c, g, &spans, img);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<im2col(x), y> == <x, col2im(y)>`: the two are adjoint, which makes each the other's
    /// backward pass.
    #[test]
    fn im2col_and_col2im_are_adjoint() {
        let g = Geometry {
            channels: 3,
            height: 7,
            width: 6,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let x: Vec<f32> = (0..2 * 3 * 7 * 6)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let cols = im2col(&x, 2, &g);
        let y: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
        let back = col2im(&y, 2, &g);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f32>();
        let (lhs, rhs) = (dot(&cols, &y), dot(&x, &back));
        assert!(
            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
            "{lhs} vs {rhs}"
        );
    }

    /// The slice-copying kernels equal the per-element reference ones, including geometries
    /// where the kernel hangs over both edges.
    #[test]
    fn fast_kernels_match_reference() {
        for (c, h, w, k, s, p) in [
            (1, 28, 28, 4, 2, 1),
            (3, 7, 6, 3, 2, 1),
            (2, 5, 5, 5, 1, 2),
            (2, 4, 9, 3, 3, 0),
            (1, 3, 3, 4, 1, 2),
        ] {
            let g = Geometry {
                channels: c,
                height: h,
                width: w,
                kernel: k,
                stride: s,
                padding: p,
            };
            let x: Vec<f32> = (0..2 * c * h * w)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            assert_eq!(im2col(&x, 2, &g), im2col_ref(&x, 2, &g), "{g:?}");
            let cols = im2col_ref(&x, 2, &g);
            let y: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let (a, b) = (col2im(&y, 2, &g), col2im_ref(&y, 2, &g));
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() < 1e-5, "{g:?}");
            }
        }
    }
}
