//! A generator whose convolution weights are converted and transposed once,
//! into memory the caller lends, instead of on every image.
//!
//! The vector convolutions need each block of output channels' weights as
//! f32 in `[input channel][tap][channel]` order, and a loaded [`Generator`]
//! reads its f16 file in place, so every call converts and transposes them
//! again: preparing them once saved 9-12 us of a small DCGAN's 75-78 us on
//! an AVX-512 host. A host that draws many images can lend a buffer of
//! [`prepared_len`](Generator::prepared_len) f32 (128 KiB for a 64 -> 32
//! transposed convolution) and skip that work, as inference engines do when
//! they pre-pack weights at load time. The images are the same bits either
//! way. Only the AVX-512 kernels take prepared weights so far (the AVX2 and
//! NEON ones transpose per call, into 64 KiB of stack); elsewhere
//! `prepared_len` is 0 and a prepared generator runs the ordinary path, so
//! the same code works on every target. A microcontroller has no RAM to
//! spare for this and keeps calling [`Generator::generate`].

use crate::kernels;
use crate::model::Generator;
use crate::Error;

/// A [`Generator`] with its convolution weights prepared in a borrowed
/// buffer; the buffer cannot change while this exists.
#[derive(Clone, Copy, Debug)]
pub struct Prepared<'g, 'a> {
    generator: &'g Generator<'a>,
    weights: &'g [f32],
}

impl<'a> Generator<'a> {
    /// f32 elements [`prepare`](Self::prepare) needs: every convolution's
    /// transposed weights, or 0 where this CPU's kernels take none.
    pub fn prepared_len(&self) -> usize {
        self.convolutions()
            .map(|(_, g, transpose)| kernels::prepared_len(&g, transpose))
            .fold(0, usize::saturating_add)
    }

    /// Converts and transposes the convolutions' weights into `buf` (at
    /// least [`prepared_len`](Self::prepared_len) elements, an empty slice
    /// where that is 0) once, for [`Prepared::generate`].
    pub fn prepare<'g>(&'g self, buf: &'g mut [f32]) -> Result<Prepared<'g, 'a>, Error> {
        let needed = self.prepared_len();
        let found = buf.len();
        let buf = buf
            .get_mut(..needed)
            .ok_or(Error::PreparedTooSmall { needed, found })?;
        let mut at = 0;
        for (layer, g, transpose) in self.convolutions() {
            let n = kernels::prepared_len(&g, transpose);
            if let Some(dst) = buf.get_mut(at..at + n) {
                kernels::prepare_conv(self.layer_weights(layer), &g, transpose, dst);
            }
            at += n;
        }
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
            .generate_with(z, class, scratch, out, self.weights)
    }

    pub fn generator(&self) -> &Generator<'a> {
        self.generator
    }
}
