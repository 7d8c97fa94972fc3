//! The frame loop's memory, provided by the board so that the loop allocates nothing: statics on
//! a microcontroller ([`StaticBuffers`]), `Vec`s on a host ([`HeapBuffers`]).

use runtime::Generator;

use crate::layout::MAX_IMAGE_PIXELS;
use crate::Error;

/// The buffers the frame loop borrows. Each may be longer than needed; [`Buffers::fit`] shortens
/// them to a model's sizes.
pub struct Buffers<'b> {
    /// `latent_dim` f32: the generator's input.
    pub latent: &'b mut [f32],
    /// `latent_dim` f32: a latent walk's current segment starts here...
    pub walk_from: &'b mut [f32],
    /// ... and ends here (`latent_dim` f32; unused without a walk).
    pub walk_to: &'b mut [f32],
    /// `scratch_len` f32.
    pub scratch: &'b mut [f32],
    /// `output_len` f32.
    pub output: &'b mut [f32],
    /// `output_len` bytes.
    pub grey: &'b mut [u8],
    /// [`MAX_IMAGE_PIXELS`] bytes.
    pub image: &'b mut [u8],
}

impl<'b> Buffers<'b> {
    /// Shortens each buffer to what `generator` and an image of `image_pixels` need, or says
    /// which one is too short.
    pub fn fit(self, generator: &Generator<'_>, image_pixels: usize) -> Result<Self, Error> {
        let output_len = generator.output_len();
        Ok(Buffers {
            latent: exact(self.latent, generator.latent_dim(), "latent")?,
            walk_from: exact(self.walk_from, generator.latent_dim(), "walk_from")?,
            walk_to: exact(self.walk_to, generator.latent_dim(), "walk_to")?,
            scratch: exact(self.scratch, generator.scratch_len(), "scratch")?,
            output: exact(self.output, output_len, "output")?,
            grey: exact(self.grey, output_len, "grey")?,
            image: exact(self.image, image_pixels, "image")?,
        })
    }
}

/// Shortens `buffer` to `needed` elements, or says which buffer is too short.
fn exact<'b, T>(
    buffer: &'b mut [T],
    needed: usize,
    name: &'static str,
) -> Result<&'b mut [T], Error> {
    let available = buffer.len();
    buffer.get_mut(..needed).ok_or(Error::BufferTooSmall {
        buffer: name,
        needed,
        available,
    })
}

/// [`Buffers`] borrowing the fields of the same names of an owner of all seven.
macro_rules! borrow_all {
    ($owner:expr) => {
        Buffers {
            latent: &mut $owner.latent,
            walk_from: &mut $owner.walk_from,
            walk_to: &mut $owner.walk_to,
            scratch: &mut $owner.scratch,
            output: &mut $owner.output,
            grey: &mut $owner.grey,
            image: &mut $owner.image,
        }
    };
}

/// All the buffers in one value, sized at compile time from the constants the board's build
/// script writes. Zero initialised, so a `static` of it sits in `.bss` and costs no flash.
pub struct StaticBuffers<const LATENT: usize, const SCRATCH: usize, const OUTPUT: usize> {
    latent: [f32; LATENT],
    walk_from: [f32; LATENT],
    walk_to: [f32; LATENT],
    scratch: [f32; SCRATCH],
    output: [f32; OUTPUT],
    grey: [u8; OUTPUT],
    image: [u8; MAX_IMAGE_PIXELS],
}

impl<const LATENT: usize, const SCRATCH: usize, const OUTPUT: usize>
    StaticBuffers<LATENT, SCRATCH, OUTPUT>
{
    pub const fn new() -> Self {
        StaticBuffers {
            latent: [0.0; LATENT],
            walk_from: [0.0; LATENT],
            walk_to: [0.0; LATENT],
            scratch: [0.0; SCRATCH],
            output: [0.0; OUTPUT],
            grey: [0; OUTPUT],
            image: [0; MAX_IMAGE_PIXELS],
        }
    }

    /// Out of line on purpose: inlined into a board's frame loop, the field addresses are
    /// kept in registers and spilled across it, and the thumbv6m firmware grows by about 150
    /// bytes.
    #[inline(never)]
    pub fn buffers(&mut self) -> Buffers<'_> {
        borrow_all!(self)
    }
}

impl<const LATENT: usize, const SCRATCH: usize, const OUTPUT: usize> Default
    for StaticBuffers<LATENT, SCRATCH, OUTPUT>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Buffers on the heap, sized for a generator loaded at run time (host programs).
#[cfg(feature = "std")]
pub struct HeapBuffers {
    pub latent: Vec<f32>,
    pub walk_from: Vec<f32>,
    pub walk_to: Vec<f32>,
    pub scratch: Vec<f32>,
    pub output: Vec<f32>,
    pub grey: Vec<u8>,
    pub image: Vec<u8>,
}

#[cfg(feature = "std")]
impl HeapBuffers {
    pub fn for_model(generator: &Generator<'_>) -> HeapBuffers {
        HeapBuffers {
            latent: vec![0.0; generator.latent_dim()],
            walk_from: vec![0.0; generator.latent_dim()],
            walk_to: vec![0.0; generator.latent_dim()],
            scratch: vec![0.0; generator.scratch_len()],
            output: vec![0.0; generator.output_len()],
            grey: vec![0; generator.output_len()],
            image: vec![0; MAX_IMAGE_PIXELS],
        }
    }

    pub fn buffers(&mut self) -> Buffers<'_> {
        borrow_all!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_buffers_have_the_sizes_of_their_parameters() {
        let mut statics = StaticBuffers::<3, 5, 7>::new();
        let b = statics.buffers();
        let lens = [b.latent.len(), b.scratch.len(), b.output.len()];
        assert_eq!(lens, [3, 5, 7]);
        assert_eq!([b.grey.len(), b.image.len()], [7, MAX_IMAGE_PIXELS]);
        assert!(b.scratch.iter().all(|&x| x == 0.0));
    }
}
