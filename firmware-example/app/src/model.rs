//! Embedding a model file in the firmware image.

/// Puts its contents at an 8-byte boundary. `include_bytes!` alone gives byte alignment, and the
/// runtime reads f16 and f32 tensors straight out of the embedded bytes: the format pads the
/// header so that the data section starts at a multiple of 8 from the start of the file.
#[repr(C, align(8))]
pub struct Aligned<B: ?Sized>(pub B);

/// Embeds the model file the board's build script chose (`MICROGAN_MODEL`, checked against the
/// board's budget there) as an 8-byte aligned `&'static [u8]`.
///
/// The build script (through the `gan-build-support` crate) exports the file's absolute path as
/// `MICROGAN_MODEL_FILE`.
#[macro_export]
macro_rules! include_model {
    () => {{
        static MODEL: &$crate::model::Aligned<[u8]> =
            &$crate::model::Aligned(*include_bytes!(env!("MICROGAN_MODEL_FILE")));
        &MODEL.0
    }};
}

#[cfg(test)]
mod tests {
    use super::Aligned;

    #[test]
    fn embedded_bytes_start_on_an_8_byte_boundary() {
        static BYTES: &Aligned<[u8]> = &Aligned(*b"abcdefghijk");
        assert_eq!(BYTES.0.as_ptr() as usize % 8, 0);
        assert_eq!(&BYTES.0, b"abcdefghijk");
    }
}
