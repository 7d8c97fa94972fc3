//! The pixel groups of a convolution walked as an iterator: the AVX-512
//! kernels' tiling runs over [`groups`]. (The 8-lane kernels keep the same
//! walk as a nested loop in `lane8/conv.rs`: with the iterator their AVX2
//! convolutions measured 5-7 % slower.)

use crate::kernels::taps::tap;
use crate::kernels::ConvGeom;

/// Output pixels that read the same kernel taps: the rows whose mask is
/// `rm` crossed with the columns whose mask is `cm`, `(oy0, ox0)` the
/// first. The grouped kernels list a group's taps once and run them over
/// all its pixels.
#[derive(Clone, Copy)]
pub(crate) struct Group<'m> {
    rmask: &'m [u64],
    cmask: &'m [u64],
    pub(crate) rm: u64,
    pub(crate) cm: u64,
    pub(crate) oy0: usize,
    pub(crate) ox0: usize,
}

/// Every group of [`tap_masks`] (cut to `out_h` and `out_w`) once, by
/// first row, then first column.
#[inline(always)]
pub(crate) fn groups<'m>(rmask: &'m [u64], cmask: &'m [u64]) -> Groups<'m> {
    Groups {
        rmask,
        cmask,
        oy0: 0,
        ox0: 0,
    }
}

/// The iterator of [`groups`]: the next group's first row and column.
pub(crate) struct Groups<'m> {
    rmask: &'m [u64],
    cmask: &'m [u64],
    oy0: usize,
    ox0: usize,
}

impl<'m> Iterator for Groups<'m> {
    type Item = Group<'m>;

    #[inline(always)]
    fn next(&mut self) -> Option<Group<'m>> {
        let (rmask, cmask) = (self.rmask, self.cmask);
        while self.oy0 < rmask.len() {
            let rm = rmask[self.oy0];
            if !rmask[..self.oy0].contains(&rm) {
                while self.ox0 < cmask.len() {
                    let (ox0, cm) = (self.ox0, cmask[self.ox0]);
                    self.ox0 += 1;
                    if !cmask[..ox0].contains(&cm) {
                        let oy0 = self.oy0;
                        return Some(Group {
                            rmask,
                            cmask,
                            rm,
                            cm,
                            oy0,
                            ox0,
                        });
                    }
                }
            }
            self.oy0 += 1;
            self.ox0 = 0;
        }
        None
    }
}

/// The indices whose mask is `m`, in order.
#[inline(always)]
fn matching(masks: &[u64], m: u64) -> impl Iterator<Item = usize> + '_ {
    masks
        .iter()
        .enumerate()
        .filter(move |(_, &mi)| mi == m)
        .map(|(i, _)| i)
}

impl<'m> Group<'m> {
    /// The group's output rows, in order.
    #[inline(always)]
    pub(crate) fn rows(&self) -> impl Iterator<Item = usize> + 'm {
        matching(self.rmask, self.rm)
    }

    /// The group's output columns, in order.
    #[inline(always)]
    pub(crate) fn cols(&self) -> impl Iterator<Item = usize> + 'm {
        matching(self.cmask, self.cm)
    }

    /// The taps the group reads in summation order (kernel row, then
    /// column): `(ky, kx, iy, ix)` with the input row and column that its
    /// first pixel reads through them.
    pub(crate) fn taps<'g>(
        &self,
        transpose: bool,
        g: &'g ConvGeom,
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + 'g {
        let (rm, cm, oy0, ox0) = (self.rm, self.cm, self.oy0, self.ox0);
        let k = g.kernel;
        (0..k)
            .filter(move |ky| rm >> ky & 1 == 1)
            .flat_map(move |ky| {
                let iy = tap(transpose, oy0, ky, g, g.in_h).unwrap_or(0);
                (0..k).filter(move |kx| cm >> kx & 1 == 1).map(move |kx| {
                    let ix = tap(transpose, ox0, kx, g, g.in_w).unwrap_or(0);
                    (ky, kx, iy, ix)
                })
            })
    }
}
