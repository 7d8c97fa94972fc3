//! The IDX format of MNIST and Fashion-MNIST: a big-endian header, then raw unsigned bytes.
//!
//! Files may be gzip-compressed (detected by content, not by name). Every header field is checked
//! against the file's length so a truncated or foreign file fails with its name and the reason.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest decompressed IDX file accepted: the full MNIST training images are 47 MB.
const MAX_IDX_BYTES: u64 = 1 << 31;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file, gunzipping it if it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Idx {
                path: path.into(),
                reason: format!("bad gzip data: {e}"),
            })?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(Error::Idx {
                path: path.into(),
                reason: "larger than 2 GiB".into(),
            });
        }
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| Error::Idx {
        path: path.into(),
        reason,
    })
}

/// Parses IDX bytes; the error is the reason, for the caller to attach the file name.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    let magic = bytes
        .get(..4)
        .ok_or_else(|| format!("{} bytes is too short for an IDX header", bytes.len()))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(format!(
            "magic number {:02x}{:02x}{:02x}{:02x} does not start with two zero bytes",
            magic[0], magic[1], magic[2], magic[3]
        ));
    }
    if magic[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} is not unsigned byte (0x08)",
            magic[2]
        ));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 || ndim > 4 {
        return Err(format!("{ndim} dimensions (expected 1 to 4)"));
    }
    let header_len = 4 + 4 * ndim;
    let header = bytes.get(4..header_len).ok_or_else(|| {
        format!(
            "truncated header: {} bytes, {ndim} dimensions need {header_len}",
            bytes.len()
        )
    })?;
    let mut dims = Vec::with_capacity(ndim);
    let mut count: usize = 1;
    for chunk in header.chunks_exact(4) {
        let d = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
        if d == 0 {
            return Err("a dimension is zero".into());
        }
        count = count.checked_mul(d).ok_or("dimensions overflow")?;
        dims.push(d);
    }
    let body = &bytes[header_len..];
    if body.len() != count {
        return Err(format!(
            "header declares dimensions {dims:?} ({count} bytes of data) but the file holds {}",
            body.len()
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_a_valid_array() {
        let a = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_bad_headers_and_lengths() {
        assert!(parse_idx(&[0, 0]).unwrap_err().contains("too short"));
        assert!(parse_idx(&[1, 0, 8, 1, 0, 0, 0, 1, 5])
            .unwrap_err()
            .contains("magic"));
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 5])
            .unwrap_err()
            .contains("element type"));
        assert!(parse_idx(&idx(&[2, 3], &[1, 2, 3]))
            .unwrap_err()
            .contains("holds 3"));
        assert!(parse_idx(&idx(&[2, 0], &[])).unwrap_err().contains("zero"));
        assert!(parse_idx(&[0, 0, 8, 2, 0, 0])
            .unwrap_err()
            .contains("truncated"));
    }
}
