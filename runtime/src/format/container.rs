//! The safetensors layer of a model file, read without allocating.
//!
//! Everything the safetensors crate checks is checked here (header length and
//! bounds, UTF-8, JSON, each tensor's byte length against its shape and dtype,
//! tensors tiling the data section exactly), plus the format's stricter rules:
//! F16/F32 only, no duplicate keys, no escapes, no unknown fields, no empty
//! tensors, bounded counts. Whatever this module accepts, the safetensors crate
//! accepts with the same tensors (the property tests hold it to that).

use super::json::{self, Cursor};
use super::{DType, Dims, MAX_HEADER_LEN, MAX_METADATA_ENTRIES, MAX_TENSORS};
use crate::error::{Error, Name};

/// Bytes before the header: its length, u64 little-endian.
pub const LEN_BYTES: usize = 8;
/// The header key that holds the metadata object.
pub const METADATA_KEY: &str = "__metadata__";

/// One tensor entry of the header. Offsets are relative to the data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: Dims,
    pub begin: usize,
    pub end: usize,
}

impl TensorInfo<'_> {
    /// Element count (the product of the shape; validated not to overflow).
    pub fn len(&self) -> usize {
        (self.end - self.begin) / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.begin == self.end
    }
}

/// A validated safetensors file borrowed from its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Container<'a> {
    header: &'a str,
    data: &'a [u8],
    /// Position in `header` of the `{` of `__metadata__`, if present.
    metadata: Option<usize>,
    tensor_count: usize,
}

impl<'a> Container<'a> {
    /// Validates the container. Work is bounded by the header size and the
    /// format's count limits; nothing is allocated.
    // Inlined into the loader: a thumbv6m build is about 0.5 KB smaller so.
    #[inline(always)]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let (header, data) = split_file(bytes)?;
        // Offsets of the tensors (no allocation; a few KB of stack at most).
        let mut ranges = [(0usize, 0usize); MAX_TENSORS];
        let (metadata, tensor_count) = read_header(header, &mut ranges)?;
        let ranges = ranges.get_mut(..tensor_count).unwrap_or(&mut []);
        check_tiling(header, ranges, data.len())?;
        Ok(Container {
            header,
            data,
            metadata,
            tensor_count,
        })
    }

    /// The header text.
    pub fn header(&self) -> &'a str {
        self.header
    }

    /// The data section.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The file offset of the data section.
    pub fn data_offset(&self) -> usize {
        LEN_BYTES + self.header.len()
    }

    pub fn has_metadata(&self) -> bool {
        self.metadata.is_some()
    }

    /// A metadata value.
    pub fn metadata(&self, key: &str) -> Option<&'a str> {
        json::lookup_string(self.header, self.metadata?, key)
    }

    /// All metadata entries in file order.
    pub fn metadata_entries(&self) -> json::StringEntries<'a> {
        match self.metadata {
            Some(pos) => json::string_entries(self.header, pos),
            // An empty object: iterates nothing.
            None => json::string_entries("{}", 0),
        }
    }

    pub fn tensor_count(&self) -> usize {
        self.tensor_count
    }

    /// The tensors in header order.
    pub fn tensors(&self) -> Tensors<'a> {
        Tensors::new(self.header)
    }

    /// The bytes of a tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo<'_>) -> &'a [u8] {
        self.data.get(info.begin..info.end).unwrap_or(&[])
    }
}

/// The header text and the data section of a file.
fn split_file(bytes: &[u8]) -> Result<(&str, &[u8]), Error> {
    let len_bytes: [u8; LEN_BYTES] = bytes
        .get(..LEN_BYTES)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::FileTooShort { len: bytes.len() })?;
    let declared = u64::from_le_bytes(len_bytes);
    let available = bytes.len() - LEN_BYTES;
    let n = usize::try_from(declared)
        .ok()
        .filter(|&n| n <= MAX_HEADER_LEN)
        .ok_or(Error::HeaderTooLarge {
            declared,
            max: MAX_HEADER_LEN,
        })?;
    let header_bytes = bytes
        .get(LEN_BYTES..LEN_BYTES + n)
        .ok_or(Error::HeaderOutOfBounds {
            declared,
            available,
        })?;
    let header = core::str::from_utf8(header_bytes).map_err(|e| Error::HeaderNotUtf8 {
        offset: e.valid_up_to(),
    })?;
    Ok((header, bytes.get(LEN_BYTES + n..).unwrap_or(&[])))
}

/// Reads the header's object: the metadata, validated, and each tensor,
/// whose byte range goes to `ranges`. Returns where the metadata object
/// begins and the number of tensors.
fn read_header(
    header: &str,
    ranges: &mut [(usize, usize); MAX_TENSORS],
) -> Result<(Option<usize>, usize), Error> {
    let mut names = [""; MAX_TENSORS];
    let mut tensor_count = 0usize;
    let mut metadata = None;
    let mut c = Cursor::new(header);
    c.begin_object()?;
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        if key == METADATA_KEY {
            if metadata.is_some() {
                return Err(Error::DuplicateKey {
                    key: Name::new(key),
                });
            }
            metadata = Some(read_metadata(&mut c, header)?);
        } else {
            let info = parse_tensor(&mut c, key)?;
            let slot = ranges
                .get_mut(tensor_count)
                .ok_or(Error::TooManyTensors { max: MAX_TENSORS })?;
            *slot = (info.begin, info.end);
            let earlier = names.get(..tensor_count).unwrap_or(&[]);
            if earlier.contains(&key) {
                return Err(Error::DuplicateKey {
                    key: Name::new(key),
                });
            }
            if let Some(name) = names.get_mut(tensor_count) {
                *name = key;
            }
            tensor_count += 1;
        }
    }
    c.end()?;
    Ok((metadata, tensor_count))
}

/// Reads the `__metadata__` object (the cursor is after its key's `:`):
/// string values, bounded in number, no key twice. Returns the position of
/// its `{` in `header`.
fn read_metadata(c: &mut Cursor<'_>, header: &str) -> Result<usize, Error> {
    c.ws();
    let start = c.pos();
    c.begin_object()?;
    let mut first_entry = true;
    let mut count = 0usize;
    while c.next_key(&mut first_entry)?.is_some() {
        c.string()?;
        count += 1;
        if count > MAX_METADATA_ENTRIES {
            return Err(Error::TooManyMetadataEntries {
                max: MAX_METADATA_ENTRIES,
            });
        }
    }
    json::check_unique_string_keys(header, start)?;
    Ok(start)
}

/// Tiling, as safetensors checks it: sorted by offsets, each tensor begins
/// where the previous one ended, the last ends at the data end.
fn check_tiling(header: &str, ranges: &mut [(usize, usize)], data_len: usize) -> Result<(), Error> {
    // Insertion sort: at most MAX_TENSORS entries, and a fraction of the
    // flash of the standard library's sort.
    for i in 1..ranges.len() {
        let mut j = i;
        while j > 0 && ranges[j - 1] > ranges[j] {
            ranges.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut expected = 0usize;
    for &(begin, end) in ranges.iter() {
        if begin != expected {
            let name = Tensors::new(header)
                .find(|t| t.begin == begin && t.end == end)
                .map(|t| t.name)
                .unwrap_or("");
            return Err(Error::TensorOffset {
                tensor: Name::new(name),
                expected_begin: expected,
                found_begin: begin,
            });
        }
        expected = end;
    }
    if expected != data_len {
        return Err(Error::DataSectionLength {
            expected,
            found: data_len,
        });
    }
    Ok(())
}

/// Reads one tensor entry (the cursor is after the key's `:`), with the
/// format's checks. One copy serves both callers (re-reading a header that
/// [`Container::parse`] accepted, the checks pass): a firmware that inlines
/// the loader into its entry point would otherwise carry two.
fn parse_tensor<'a>(c: &mut Cursor<'a>, name: &'a str) -> Result<TensorInfo<'a>, Error> {
    let tensor = || Name::new(name);
    c.begin_object()?;
    let mut dtype = None;
    let mut shape: Option<(Dims, Option<usize>)> = None;
    let mut offsets = None;
    let mut first = true;
    while let Some(field) = c.next_key(&mut first)? {
        let duplicate = match field {
            "dtype" => {
                let s = c.string()?;
                let d = DType::from_header(s).ok_or(Error::UnsupportedDType {
                    tensor: tensor(),
                    dtype: Name::new(s),
                });
                dtype.replace(d?).is_some()
            }
            "shape" => shape.replace(read_shape(c)?).is_some(),
            "data_offsets" => offsets.replace(read_offsets(c)?).is_some(),
            other => {
                return Err(Error::UnknownTensorField {
                    tensor: tensor(),
                    field: Name::new(other),
                })
            }
        };
        if duplicate {
            return Err(Error::DuplicateKey {
                key: Name::new(field),
            });
        }
    }
    // One error site for the three fields.
    let (Some(dtype), Some((shape, elems)), Some((begin, end))) = (dtype, shape, offsets) else {
        let field = match (dtype, shape) {
            (None, _) => "dtype",
            (_, None) => "shape",
            _ => "data_offsets",
        };
        return Err(Error::MissingTensorField {
            tensor: tensor(),
            field,
        });
    };
    check_extent(name, dtype, elems, begin, end)?;
    Ok(TensorInfo {
        name,
        dtype,
        shape,
        begin,
        end,
    })
}

/// A shape array: the dimensions and their product (`None` on overflow).
fn read_shape(c: &mut Cursor<'_>) -> Result<(Dims, Option<usize>), Error> {
    c.expect(b'[', "'[' (a shape array)")?;
    let mut dims = Dims::new(&[]);
    let mut elems = Some(1usize);
    let mut first_dim = true;
    while let Some(d) = c.next_uint(&mut first_dim)? {
        dims.push(d);
        elems = elems.and_then(|e| e.checked_mul(d));
    }
    Ok((dims, elems))
}

/// A `data_offsets` array: `[begin, end]`.
fn read_offsets(c: &mut Cursor<'_>) -> Result<(usize, usize), Error> {
    c.expect(b'[', "'[' (a data_offsets array)")?;
    let begin = c.uint()?;
    c.expect(b',', "',' (data_offsets holds two integers)")?;
    let end = c.uint()?;
    c.expect(b']', "']' (data_offsets holds two integers)")?;
    Ok((begin, end))
}

/// The byte range `begin..end` of tensor `name` holds exactly its `elems`
/// elements of `dtype`, at least one.
fn check_extent(
    name: &str,
    dtype: DType,
    elems: Option<usize>,
    begin: usize,
    end: usize,
) -> Result<(), Error> {
    let tensor = || Name::new(name);
    if end < begin {
        return Err(Error::InvalidOffsets {
            tensor: tensor(),
            begin,
            end,
        });
    }
    let bytes = elems
        .and_then(|e| e.checked_mul(dtype.size()))
        .ok_or(Error::TensorSizeOverflow { tensor: tensor() })?;
    if bytes == 0 {
        return Err(Error::EmptyTensor { tensor: tensor() });
    }
    if end - begin != bytes {
        return Err(Error::TensorByteLength {
            tensor: tensor(),
            expected: bytes,
            found: end - begin,
        });
    }
    Ok(())
}

/// Skips the `__metadata__` object (validated before).
fn skip_metadata(c: &mut Cursor<'_>) -> Result<(), Error> {
    c.begin_object()?;
    let mut first = true;
    while c.next_key(&mut first)?.is_some() {
        c.string()?;
    }
    Ok(())
}

/// The tensor entries of a header, re-read on demand. Stops at the first
/// error, which cannot happen on a header [`Container::parse`] accepted.
pub struct Tensors<'a> {
    cursor: Cursor<'a>,
    first: bool,
    done: bool,
}

impl<'a> Tensors<'a> {
    fn new(header: &'a str) -> Self {
        let mut cursor = Cursor::new(header);
        let done = cursor.begin_object().is_err();
        Tensors {
            cursor,
            first: true,
            done,
        }
    }

    fn step(&mut self) -> Result<Option<TensorInfo<'a>>, Error> {
        while let Some(key) = self.cursor.next_key(&mut self.first)? {
            if key == METADATA_KEY {
                skip_metadata(&mut self.cursor)?;
            } else {
                return parse_tensor(&mut self.cursor, key).map(Some);
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Tensors<'a> {
    type Item = TensorInfo<'a>;
    fn next(&mut self) -> Option<TensorInfo<'a>> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(t)) => Some(t),
            _ => {
                self.done = true;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.resize(v.len() + data_len, 0);
        v
    }

    #[test]
    fn reads_tensors_and_metadata() {
        let h = r#"{"__metadata__":{"a":"b"},"x":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"y":{"data_offsets":[12,16],"shape":[1],"dtype":"F32"}}  "#;
        let f = file(h, 16);
        let c = Container::parse(&f).unwrap();
        assert_eq!(c.tensor_count(), 2);
        assert_eq!(c.metadata("a"), Some("b"));
        let ts: Vec<_> = c.tensors().collect();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0].name, "x");
        assert_eq!(ts[0].shape.as_slice(), Some(&[2usize, 3][..]));
        assert_eq!(ts[1].dtype, DType::F32);
        assert_eq!(ts[1].len(), 1);
    }

    #[test]
    fn container_errors() {
        let ok = r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
        assert!(Container::parse(&file(ok, 4)).is_ok());
        assert!(matches!(
            Container::parse(&file(ok, 5)),
            Err(Error::DataSectionLength {
                expected: 4,
                found: 5
            })
        ));
        assert!(matches!(
            Container::parse(&[1, 2, 3]),
            Err(Error::FileTooShort { len: 3 })
        ));
        let mut big = file(ok, 4);
        big[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Container::parse(&big),
            Err(Error::HeaderTooLarge { .. })
        ));
        big[..8].copy_from_slice(&1000u64.to_le_bytes());
        assert!(matches!(
            Container::parse(&big),
            Err(Error::HeaderOutOfBounds { .. })
        ));
        let cases: &[(&str, usize)] = &[
            (
                r#"{"x":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#,
                2,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,2]}}"#,
                2,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[0],"data_offsets":[0,0]}}"#,
                0,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[4,0]}}"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#,
                6,
            ),
            (r#"{"x":{"dtype":"F16","shape":[2]}}"#, 4),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"y":1}}"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"x":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#,
                8,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"y":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[9999999999999,9999999999999],"data_offsets":[0,4]}}"#,
                4,
            ),
            (r#"{"__metadata__":{"a":"1","a":"2"}}"#, 0),
            (r#"{"__metadata__":{"a":1}}"#, 0),
            (r#"{"__metadata__":{"a":"\u0041"}}"#, 0),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}} x"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4],}}"#,
                4,
            ),
            (
                r#"{"x":{"dtype":"F16","shape":[[2]],"data_offsets":[0,4]}}"#,
                4,
            ),
            (r#"{"#, 0),
            ("", 0),
        ];
        for (h, n) in cases {
            assert!(Container::parse(&file(h, *n)).is_err(), "{h}");
        }
        let mut bad_utf8 = file(r#"{"__metadata__":{"a":"xx"}}"#, 0);
        let at = bad_utf8.len() - 4;
        bad_utf8[at] = 0xff;
        assert!(matches!(
            Container::parse(&bad_utf8),
            Err(Error::HeaderNotUtf8 { .. })
        ));
    }

    #[test]
    fn counts_are_bounded() {
        let mut h = std::string::String::from("{");
        let mut off = 0;
        for i in 0..=MAX_TENSORS {
            if i > 0 {
                h.push(',');
            }
            h.push_str(&std::format!(
                r#""t{i}":{{"dtype":"F16","shape":[1],"data_offsets":[{off},{}]}}"#,
                off + 2
            ));
            off += 2;
        }
        h.push('}');
        assert!(matches!(
            Container::parse(&file(&h, off)),
            Err(Error::TooManyTensors { .. })
        ));
    }
}
