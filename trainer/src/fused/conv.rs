//! Convolutions and transposed convolutions, each one op forward and one backward, as
//! per-image matrix products: `im2col` (one image's patches, a cache-sized tile) and its adjoint
//! `col2im` around a product by the `gemm` crate (candle's own), with strides chosen so the
//! output comes out in `[B, C, H, W]` directly and the weight's gradient is summed over the
//! batch inside the product. candle's own CPU backward of `conv2d` calls `conv_transpose2d`, a
//! direct loop that dominated the DCGAN step; an earlier version of this module built `im2col`
//! over the whole batch (falling out of cache at batch 1024) and copied every output from
//! `[B * P, C]` to `[B, C, H, W]` and back.
//! CPU only: [`conv2d`] and [`conv_transpose2d`] call candle's own ops on other devices.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::act::Act;
use super::f32_slice;
use crate::error::Result;

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
    fn spans(&self) -> Vec<(usize, usize, usize)> {
        (0..self.out_hw().1).map(|ox| self.kx_span(ox)).collect()
    }

    /// Values of one image, `C * H * W`.
    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Output positions, `OH * OW`.
    fn positions(&self) -> usize {
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

/// A matrix in a slice: (row stride, column stride).
type Strides = (usize, usize);

/// `dst = lhs @ rhs` (`acc`: `dst += lhs @ rhs`) for `m x k` and `k x n` matrices held in slices
/// with the given strides, by the `gemm` crate candle's own matrix product uses. Panics if a
/// matrix does not fit its slice.
#[allow(clippy::too_many_arguments)]
fn matmul(
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
fn add_channel_sums(x: &[f32], c: usize, p: usize, out: &mut [f32]) {
    for img in x.chunks_exact(c * p) {
        for (o, plane) in out.iter_mut().zip(img.chunks_exact(p)) {
            *o += super::lane_sum(plane, |v| v);
        }
    }
}

/// Images per tile: enough that the products have a few hundred rows (one image of the DCGAN's
/// second layer has 49 positions; a product that small spends its time packing and on edges),
/// few enough that the tile (`rows * cols` values) stays within 256 KB of cache.
fn group(p: usize, cols: usize) -> usize {
    (512 / p.max(1)).min((64 << 10) / (p * cols).max(1)).max(1)
}

/// `[n, C, P]` images -> `[n * P, C]` rows.
fn to_rows(img: &[f32], c: usize, p: usize, rows: &mut [f32]) {
    for (im, r) in img.chunks_exact(c * p).zip(rows.chunks_exact_mut(p * c)) {
        for (ch, plane) in im.chunks_exact(p).enumerate() {
            for (i, &v) in plane.iter().enumerate() {
                r[i * c + ch] = v;
            }
        }
    }
}

/// `[n * P, C]` rows -> `[n, C, P]` images, plus `bias[C]` if given, through `act`.
fn from_rows(rows: &[f32], c: usize, p: usize, bias: Option<&[f32]>, act: Act, img: &mut [f32]) {
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
fn fill_bias(y: &mut [f32], bias: &[f32], p: usize) {
    for (plane, &b) in y.chunks_exact_mut(p).zip(bias) {
        plane.fill(b);
    }
}

/// Batch size and the three inputs of a convolution op.
type Three<'a> = (usize, &'a [f32], &'a [f32], &'a [f32]);

/// The batch size and the three f32 slices of a 3-input op: `x [B, C, H, W]` (`[B, C_in, H, W]`
/// for a transposed convolution), a weight, and a bias or an output gradient (the callers check
/// their sizes against the geometry).
fn three<'a>(
    op: &str,
    (s1, l1): (&'a CpuStorage, &Layout),
    (s2, l2): (&'a CpuStorage, &Layout),
    (s3, l3): (&'a CpuStorage, &Layout),
) -> candle_core::Result<Three<'a>> {
    let (b, _, _, _) = l1.shape().dims4()?;
    Ok((
        b,
        f32_slice(s1, l1, op)?,
        f32_slice(s2, l2, op)?,
        f32_slice(s3, l3, op)?,
    ))
}

/// `conv2d(x, weight) + bias` as one op, straight into `[B, O, OH, OW]`: per image, the
/// `im2col` tile (cache-sized) and one product `W [O, CKK] @ cols^T`. Inputs `x [B, C, H, W]`,
/// `weight [O, C, K, K]`, `bias [O]`.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dOp(pub Geometry, pub Act);

/// The backward pass of [`Conv2dOp`]: `(x, weight, dy)` -> `[dx | dweight | dbias]` flattened
/// (no `dx` unless `need_dx`, no `dweight` and `dbias` unless `need_dw`).
#[derive(Debug, Clone, Copy)]
struct Conv2dGrad {
    g: Geometry,
    need_dx: bool,
    need_dw: bool,
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.check()?;
        let (b, x, w, bias) = three(self.name(), (s1, l1), (s2, l2), (s3, l3))?;
        let (o, ckk, p) = (bias.len(), g.cols(), g.positions());
        if x.len() != b * g.image_len() || w.len() != o * ckk {
            candle_core::bail!(
                "conv2d: input {:?}, weight {:?} do not match {g:?}",
                l1.shape(),
                l2.shape()
            )
        }
        let (spans, n) = (g.spans(), group(p, ckk));
        let mut cols = vec![0f32; n * p * ckk];
        let mut rows = vec![0f32; n * p * o];
        let mut y = vec![0f32; b * o * p];
        let (xs, ys) = (x.chunks(n * g.image_len()), y.chunks_mut(n * o * p));
        for (xg, yg) in xs.zip(ys) {
            let m = xg.len() / g.image_len() * p;
            for (img, c) in xg
                .chunks_exact(g.image_len())
                .zip(cols.chunks_exact_mut(p * ckk))
            {
                im2col_image(img, &g, &spans, c);
            }
            // Y^T [n P, O] = cols [n P, CKK] @ W^T, then into [n, O, P] with the bias.
            matmul(
                (m, o, ckk),
                &mut rows,
                (o, 1),
                false,
                &cols,
                (ckk, 1),
                w,
                (1, ckk),
            );
            from_rows(&rows[..m * o], o, p, Some(bias), self.1, yg);
        }
        let (oh, ow) = g.out_hw();
        Ok((CpuStorage::F32(y), Shape::from((b, o, oh, ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = self.1.backward(res, grad)?;
        let (need_dx, need_dw) = needs(x, w, bias);
        let op = Conv2dGrad {
            g: self.0,
            need_dx,
            need_dw,
        };
        let packed = x.apply_op3_no_bwd(w, &grad, &op)?;
        unpack(packed, x, w, bias, need_dx, need_dw)
    }
}

/// Which gradients a backward pass computes: the input's unless it is data or detached, the
/// parameters' unless they are constants (a frozen discriminator in the generator's update).
fn needs(x: &Tensor, w: &Tensor, bias: &Tensor) -> (bool, bool) {
    (x.track_op(), w.track_op() || bias.track_op())
}

/// Splits `[dx | dweight | dbias]` into the three gradients.
fn unpack(
    packed: Tensor,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    need_dx: bool,
    need_dw: bool,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let nx = if need_dx { x.elem_count() } else { 0 };
    let nw = w.elem_count();
    let dx = if need_dx {
        Some(packed.narrow(0, 0, nx)?.reshape(x.shape())?)
    } else {
        None
    };
    if !need_dw {
        return Ok((dx, None, None));
    }
    Ok((
        dx,
        Some(packed.narrow(0, nx, nw)?.reshape(w.shape())?),
        Some(packed.narrow(0, nx + nw, bias.elem_count())?),
    ))
}

impl CustomOp3 for Conv2dGrad {
    fn name(&self) -> &'static str {
        "conv2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        let (b, x, w, dy) = three(self.name(), (s1, l1), (s2, l2), (s3, l3))?;
        let (ckk, p) = (g.cols(), g.positions());
        let o = w.len() / ckk;
        if x.len() != b * g.image_len() || w.len() != o * ckk || dy.len() != b * o * p {
            candle_core::bail!("conv2d-grad: shapes do not match {g:?}")
        }
        let nx = if self.need_dx { x.len() } else { 0 };
        let (nw, nb) = if self.need_dw { (w.len(), o) } else { (0, 0) };
        let mut out = vec![0f32; nx + nw + nb];
        let (dx, rest) = out.split_at_mut(nx);
        let (dw, db) = rest.split_at_mut(nw);
        let (spans, n) = (g.spans(), group(p, ckk));
        let mut cols = vec![0f32; n * p * ckk];
        let mut rows = vec![0f32; n * p * o];
        for (i, (xg, dyg)) in x
            .chunks(n * g.image_len())
            .zip(dy.chunks(n * o * p))
            .enumerate()
        {
            let m = xg.len() / g.image_len() * p;
            to_rows(dyg, o, p, &mut rows);
            let (cols, rows) = (&mut cols[..m * ckk], &rows[..m * o]);
            if self.need_dw {
                for (img, c) in xg
                    .chunks_exact(g.image_len())
                    .zip(cols.chunks_exact_mut(p * ckk))
                {
                    im2col_image(img, &g, &spans, c);
                }
                // dW += dY^T [O, n P] @ cols [n P, CKK]
                matmul(
                    (o, ckk, m),
                    dw,
                    (ckk, 1),
                    i > 0,
                    rows,
                    (1, o),
                    cols,
                    (ckk, 1),
                );
            }
            if self.need_dx {
                // dcols = dY [n P, O] @ W [O, CKK], then back onto the images.
                matmul(
                    (m, ckk, o),
                    cols,
                    (ckk, 1),
                    false,
                    rows,
                    (o, 1),
                    w,
                    (ckk, 1),
                );
                let dxg = &mut dx[i * n * g.image_len()..][..xg.len()];
                for (c, img) in cols
                    .chunks_exact(p * ckk)
                    .zip(dxg.chunks_exact_mut(g.image_len()))
                {
                    col2im_image(c, &g, &spans, img);
                }
            }
        }
        if self.need_dw {
            add_channel_sums(dy, o, p, db);
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// `conv_transpose2d(x, weight) + bias` as one op, straight into `[B, C_out, H', W']`: per image,
/// one product `x_b^T [P, C_in] @ W [C_in, C_out K K]` into a cache-sized tile, then `col2im`.
/// The geometry is that of the convolution the transposed one inverts: its image is the output,
/// its output positions are the input pixels. Inputs `x [B, C_in, H, W]`,
/// `weight [C_in, C_out, K, K]`, `bias [C_out]`.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dOp(pub Geometry, pub Act);

/// The backward pass of [`ConvTranspose2dOp`]: `(x, weight, dy)` -> `[dx | dweight | dbias]`.
#[derive(Debug, Clone, Copy)]
struct ConvTranspose2dGrad {
    g: Geometry,
    need_dx: bool,
    need_dw: bool,
}

impl CustomOp3 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.check()?;
        let (b, x, w, bias) = three(self.name(), (s1, l1), (s2, l2), (s3, l3))?;
        let (_, cin, h, wd) = l1.shape().dims4()?;
        let (ckk, p) = (g.cols(), g.positions());
        if g.out_hw() != (h, wd) || w.len() != cin * ckk || bias.len() != g.channels {
            candle_core::bail!(
                "conv-transpose2d: input {:?}, weight {:?} do not match {g:?}",
                l1.shape(),
                l2.shape()
            )
        }
        let (spans, n) = (g.spans(), group(p, ckk));
        let mut cols = vec![0f32; n * p * ckk];
        let mut rows = vec![0f32; n * p * cin];
        let mut y = vec![0f32; b * g.image_len()];
        let (xs, ys) = (x.chunks(n * cin * p), y.chunks_mut(n * g.image_len()));
        for (xg, yg) in xs.zip(ys) {
            let m = xg.len() / cin;
            to_rows(xg, cin, p, &mut rows);
            // cols [n P, CKK] = x^T [n P, C_in] @ W [C_in, CKK], then onto the images.
            matmul(
                (m, ckk, cin),
                &mut cols,
                (ckk, 1),
                false,
                &rows,
                (cin, 1),
                w,
                (ckk, 1),
            );
            for (c, yb) in cols
                .chunks_exact(p * ckk)
                .zip(yg.chunks_exact_mut(g.image_len()))
            {
                fill_bias(yb, bias, g.height * g.width);
                col2im_image(c, &g, &spans, yb);
                self.1.apply_all(yb);
            }
        }
        Ok((
            CpuStorage::F32(y),
            Shape::from((b, g.channels, g.height, g.width)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = self.1.backward(res, grad)?;
        let (need_dx, need_dw) = needs(x, w, bias);
        let op = ConvTranspose2dGrad {
            g: self.0,
            need_dx,
            need_dw,
        };
        let packed = x.apply_op3_no_bwd(w, &grad, &op)?;
        unpack(packed, x, w, bias, need_dx, need_dw)
    }
}

impl CustomOp3 for ConvTranspose2dGrad {
    fn name(&self) -> &'static str {
        "conv-transpose2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        let (b, x, w, dy) = three(self.name(), (s1, l1), (s2, l2), (s3, l3))?;
        let (ckk, p, cout) = (g.cols(), g.positions(), g.channels);
        let cin = w.len() / ckk;
        if x.len() != b * cin * p || w.len() != cin * ckk || dy.len() != b * g.image_len() {
            candle_core::bail!("conv-transpose2d-grad: shapes do not match {g:?}")
        }
        let nx = if self.need_dx { x.len() } else { 0 };
        let (nw, nb) = if self.need_dw {
            (w.len(), cout)
        } else {
            (0, 0)
        };
        let mut out = vec![0f32; nx + nw + nb];
        let (dx, rest) = out.split_at_mut(nx);
        let (dw, db) = rest.split_at_mut(nw);
        let (spans, n) = (g.spans(), group(p, ckk));
        let mut cols = vec![0f32; n * p * ckk];
        let mut rows = vec![0f32; n * p * cin];
        let mut drows = vec![0f32; n * p * cin];
        for (i, (xg, dyg)) in x
            .chunks(n * cin * p)
            .zip(dy.chunks(n * g.image_len()))
            .enumerate()
        {
            let m = xg.len() / cin;
            for (img, c) in dyg
                .chunks_exact(g.image_len())
                .zip(cols.chunks_exact_mut(p * ckk))
            {
                im2col_image(img, &g, &spans, c);
            }
            let cols = &cols[..m * ckk];
            if self.need_dw {
                to_rows(xg, cin, p, &mut rows);
                let rows = &rows[..m * cin];
                // dW += x [C_in, n P] @ dcols [n P, CKK]
                matmul(
                    (cin, ckk, m),
                    dw,
                    (ckk, 1),
                    i > 0,
                    rows,
                    (1, cin),
                    cols,
                    (ckk, 1),
                );
            }
            if self.need_dx {
                // dx^T [n P, C_in] = dcols [n P, CKK] @ W^T, then into [n, C_in, P].
                let drows = &mut drows[..m * cin];
                matmul(
                    (m, cin, ckk),
                    drows,
                    (cin, 1),
                    false,
                    cols,
                    (ckk, 1),
                    w,
                    (1, ckk),
                );
                let dxg = &mut dx[i * n * cin * p..][..xg.len()];
                from_rows(drows, cin, p, None, Act::Identity, dxg);
            }
        }
        if self.need_dw {
            add_channel_sums(dy, cout, g.height * g.width, db);
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

fn contiguous(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.is_contiguous() {
        Ok(x.clone())
    } else {
        x.contiguous()
    }
}

/// `conv2d(x, weight) + bias`, stride and padding as given, weight `[O, C, K, K]`, bias `[O]`:
/// [`Conv2dOp`] on the CPU (whose backward also skips the input's gradient when `x` is data),
/// candle's `conv2d` and a broadcast addition elsewhere.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    act: Act,
) -> Result<Tensor> {
    let (o, _, k, _) = weight.dims4()?;
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return act.unfused(
            &x.conv2d(weight, padding, stride, 1, 1)?
                .broadcast_add(&bias.reshape((1, o, 1, 1))?)?,
        );
    }
    let (_, c, h, w) = x.dims4()?;
    let g = Geometry {
        channels: c,
        height: h,
        width: w,
        kernel: k,
        stride,
        padding,
    };
    g.check()?;
    let (weight, bias) = (contiguous(weight)?, contiguous(bias)?);
    Ok(contiguous(x)?.apply_op3(&weight, &bias, Conv2dOp(g, act))?)
}

/// `conv_transpose2d(x, weight) + bias` without output padding, weight `[C_in, C_out, K, K]`
/// (PyTorch's layout), bias `[C_out]`: [`ConvTranspose2dOp`] on the CPU, candle's op and a
/// broadcast addition elsewhere.
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    act: Act,
) -> Result<Tensor> {
    let (_, cout, k, _) = weight.dims4()?;
    if !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return act.unfused(
            &x.conv_transpose2d(weight, padding, 0, stride, 1)?
                .broadcast_add(&bias.reshape((1, cout, 1, 1))?)?,
        );
    }
    let (_, _, h, w) = x.dims4()?;
    let (oh, ow) = ((h - 1) * stride + k, (w - 1) * stride + k);
    if oh <= 2 * padding || ow <= 2 * padding {
        return Err(candle_core::Error::Msg(format!(
            "conv_transpose2d: padding {padding} leaves no output for a {h}x{w} input"
        ))
        .into());
    }
    let g = Geometry {
        channels: cout,
        height: oh - 2 * padding,
        width: ow - 2 * padding,
        kernel: k,
        stride,
        padding,
    };
    g.check()?;
    let (weight, bias) = (contiguous(weight)?, contiguous(bias)?);
    Ok(contiguous(x)?.apply_op3(&weight, &bias, ConvTranspose2dOp(g, act))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// With its parameters detached, a layer's output `frozen` (weighted by `r`) gives `x` the
    /// gradient `dx`, bit for bit, and computes none for `params`.
    fn assert_frozen(frozen: &Tensor, r: &Tensor, x: &Var, params: [&Var; 2], dx: &[f32]) {
        let g = (frozen * r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(params.iter().all(|p| g.get(p).is_none()));
        assert_eq!(flat(g.get(x).unwrap()), dx);
    }

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

    /// Values and gradients (input, weight, bias) of both convolutions with a fused activation
    /// match candle's own ops followed by the activation, for the DCGAN's shapes and odd ones.
    #[test]
    fn convolutions_match_candle() {
        let dev = Device::Cpu;
        let acts = [Act::Leaky(0.2), Act::Identity, Act::Tanh, Act::RELU];
        // (batch, cin, cout, size, k, stride, padding)
        for (case, (b, cin, cout, n, k, s, p)) in [
            (3, 1, 16, 28, 4, 2, 1),
            (2, 16, 32, 14, 4, 2, 1),
            (2, 3, 5, 9, 3, 2, 0),
            (1, 4, 2, 5, 3, 1, 1),
            (7, 2, 3, 6, 4, 2, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let (act, act_t) = (acts[case % 4], acts[(case + 2) % 4]);
            let x =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, cin, n, n), &dev).unwrap()).unwrap();
            let wc = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cout, cin, k, k), &dev).unwrap())
                .unwrap();
            let bias = Var::from_tensor(&Tensor::randn(0f32, 1.0, cout, &dev).unwrap()).unwrap();
            let ours = conv2d(&x, &wc, &bias, s, p, act).unwrap();
            let theirs = act
                .unfused(
                    &x.conv2d(&wc, p, s, 1, 1)
                        .unwrap()
                        .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let dx_ref = go.get(&x).unwrap().clone();
            let gt = (&theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &wc, &bias] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(max_diff(a, b) < 1e-3, "conv2d grad {:?}", v.dims());
            }
            // On data (untracked input) the weight and bias gradients stay the same.
            let data = x.as_tensor().detach();
            let ours = conv2d(&data, &wc, &bias, s, p, act).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            assert!(go.get(&x).is_none());
            assert!(max_diff(go.get(&wc).unwrap(), gt.get(&wc).unwrap()) < 1e-3);
            // Constant parameters (a frozen layer).
            let (wf, bf) = (wc.as_tensor().detach(), bias.as_tensor().detach());
            let ours = conv2d(&x, &wf, &bf, s, p, act).unwrap();
            assert_frozen(&ours, &r, &x, [&wc, &bias], &flat(&dx_ref));

            let wt = Var::from_tensor(&Tensor::randn(0f32, 1.0, (cin, cout, k, k), &dev).unwrap())
                .unwrap();
            let bt = Var::from_tensor(&Tensor::randn(0f32, 1.0, cout, &dev).unwrap()).unwrap();
            let ours = conv_transpose2d(&x, &wt, &bt, s, p, act_t).unwrap();
            let theirs = act_t
                .unfused(
                    &x.conv_transpose2d(&wt, p, 0, s, 1)
                        .unwrap()
                        .broadcast_add(&bt.reshape((1, cout, 1, 1)).unwrap())
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-4);
            let r = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
            let go = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gt = (&theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &wt, &bt] {
                let (a, b) = (go.get(v).unwrap(), gt.get(v).unwrap());
                assert!(
                    max_diff(a, b) < 1e-3,
                    "conv_transpose2d grad {:?}",
                    v.dims()
                );
            }
            let (wf, bf) = (wt.as_tensor().detach(), bt.as_tensor().detach());
            let ours = conv_transpose2d(&x, &wf, &bf, s, p, act_t).unwrap();
            assert_frozen(&ours, &r, &x, [&wt, &bt], &flat(go.get(&x).unwrap()));
        }
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

    #[test]
    fn bad_geometry_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        let w = Tensor::zeros((1, 1, 5, 5), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(1, candle_core::DType::F32, &dev).unwrap();
        assert!(conv2d(&x, &w, &b, 1, 0, Act::Identity).is_err());
    }
}
