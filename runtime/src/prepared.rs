//! A generator whose weights are reordered once, into memory the caller
//! lends, for the kernels that read them fastest in another order.
//!
//! A loaded [`Generator`] reads its file in place, so on every image the
//! vector convolutions convert each block of output channels' weights to
//! f32 in `[input channel][tap][channel]` order, and the dense layers sum
//! 16 rows in registers that must then be transposed. Done once instead:
//! the convolutions read their f32 blocks as they are, and a dense layer
//! with f16 weights reads them as `[block of 16 rows][input][row]`, so each
//! register holds one partial sum of 16 rows and nothing is transposed (the
//! copy is as large as the weights). On an AVX-512 host this took a small
//! DCGAN from 75-78 us to 65-68 (convolutions) and then about 59 (dense
//! layer too). A host that draws many images can lend a buffer of
//! [`prepared_len`](Generator::prepared_len) f32 and skip that work, as
//! inference engines do when they pre-pack weights at load time. The images
//! are the same bits either way. Only the AVX-512 kernels take prepared
//! weights so far (the AVX2 and NEON ones transpose per call, into 64 KiB
//! of stack); elsewhere `prepared_len` is 0 and a prepared generator runs
//! the ordinary path, so the same code works on every target. A
//! microcontroller has no RAM to spare for this and keeps calling
//! [`Generator::generate`].

use crate::model::Generator;
use crate::Error;

/// A [`Generator`] with its weights prepared in a borrowed
/// buffer; the buffer cannot change while this exists.
#[derive(Clone, Copy, Debug)]
pub struct Prepared<'g, 'a> {
    generator: &'g Generator<'a>,
    weights: &'g [f32],
}

impl<'a> Generator<'a> {
    /// f32 elements [`prepare`](Self::prepare) needs: every convolution's
    /// transposed weights and every f16 dense layer's reordered ones, or 0
    /// where this CPU's kernels take none.
    pub fn prepared_len(&self) -> usize {
        self.prepared_lens().fold(0, usize::saturating_add)
    }

    /// Reorders the layers' weights into `buf` (at
    /// least [`prepared_len`](Self::prepared_len) elements, an empty slice
    /// where that is 0) once, for [`Prepared::generate`].
    pub fn prepare<'g>(&'g self, buf: &'g mut [f32]) -> Result<Prepared<'g, 'a>, Error> {
        let needed = self.prepared_len();
        let found = buf.len();
        let buf = buf
            .get_mut(..needed)
            .ok_or(Error::PreparedTooSmall { needed, found })?;
        self.prepare_into(buf);
        Ok(Prepared {
            generator: self,
            weights: buf,
        })
    }
}

impl<'a> Prepared<'_, 'a> {
    /// [`Generator::generate`] with the prepared weights: the same checks
    /// and the same bits.
    pub fn generate(
        &self,
        z: &[f32],
        class: Option<usize>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.generator
            .generate_with(z, class, scratch, out, self.weights, None)
    }

    pub fn generator(&self) -> &Generator<'a> {
        self.generator
    }
}
