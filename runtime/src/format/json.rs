//! A small JSON reader for the safetensors header: no allocation, no
//! recursion, and only the subset the format allows (objects, arrays of
//! integers, strings without escapes, non-negative integers). Anything else,
//! including deeper nesting, is a syntax error at a byte offset.

use crate::error::{Error, Name};

/// A position in the header text.
#[derive(Clone)]
pub struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    /// Byte offset within the header.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub fn error(&self, expected: &'static str) -> Error {
        Error::Json {
            offset: self.pos,
            expected,
        }
    }

    /// Skips JSON whitespace.
    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` after optional whitespace.
    pub fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// After the last value: only whitespace may remain.
    pub fn end(&mut self) -> Result<(), Error> {
        self.ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(self.error("the end of the header"))
        }
    }

    /// A string without escape sequences or control characters.
    pub fn string(&mut self) -> Result<&'a str, Error> {
        self.expect(b'"', "a string")?;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("the closing quote of a string")),
                Some(b'"') => break,
                Some(b'\\') => return Err(self.error("a string without escape sequences")),
                Some(b) if b < 0x20 => {
                    return Err(self.error("a string without control characters"))
                }
                Some(_) => self.pos += 1,
            }
        }
        let s = self
            .text
            .get(start..self.pos)
            .ok_or(self.error("a string"))?;
        self.pos += 1;
        Ok(s)
    }

    /// A non-negative integer that fits `usize` (no sign, fraction, exponent
    /// or leading zero).
    pub fn uint(&mut self) -> Result<usize, Error> {
        self.ws();
        let start = self.pos;
        let mut v: usize = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if self.pos > start && v == 0 {
                return Err(self.error("an integer without leading zeros"));
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(b - b'0')))
                .ok_or(Error::Json {
                    offset: start,
                    expected: "an integer that fits the address space",
                })?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("a non-negative integer"));
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.error("an integer"));
        }
        Ok(v)
    }

    /// Walks the members of an object: call after `{` (use
    /// [`Cursor::begin_object`]) with `first = true`; returns the next key
    /// (after its `:`), or `None` after the closing `}`.
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<&'a str>, Error> {
        if !self.next_item(first, b'}', "',' or '}'")? {
            return Ok(None);
        }
        let key = self.string()?;
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    pub fn begin_object(&mut self) -> Result<(), Error> {
        self.expect(b'{', "'{'")
    }

    /// Walks the integers of an array the same way as [`Cursor::next_key`];
    /// call after `[`.
    pub fn next_uint(&mut self, first: &mut bool) -> Result<Option<usize>, Error> {
        if !self.next_item(first, b']', "',' or ']'")? {
            return Ok(None);
        }
        self.uint().map(Some)
    }

    /// Steps over what stands before the next item of an object or array
    /// closed by `close` (a `,` unless `first`): `false`, after `close`,
    /// at its end. `expected` names the separator in the error.
    fn next_item(
        &mut self,
        first: &mut bool,
        close: u8,
        expected: &'static str,
    ) -> Result<bool, Error> {
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        if !*first {
            self.expect(b',', expected)?;
        }
        *first = false;
        Ok(true)
    }
}

/// Checks that no key of the string-to-string object starting at `object`
/// (the position of its `{`) repeats, by comparing each key with those before
/// it; the caller bounds the member count, which bounds the work.
pub fn check_unique_string_keys(text: &str, object: usize) -> Result<(), Error> {
    let mut outer = Cursor { text, pos: object };
    outer.begin_object()?;
    let mut first = true;
    let mut index = 0usize;
    while let Some(key) = outer.next_key(&mut first)? {
        outer.string()?;
        let mut inner = Cursor { text, pos: object };
        inner.begin_object()?;
        let mut inner_first = true;
        for _ in 0..index {
            match inner.next_key(&mut inner_first)? {
                Some(k) if k == key => {
                    return Err(Error::DuplicateKey {
                        key: Name::new(key),
                    })
                }
                Some(_) => {
                    inner.string()?;
                }
                None => break,
            }
        }
        index += 1;
    }
    Ok(())
}

/// Finds `key` in the string-to-string object at `object` (validated before).
pub fn lookup_string<'a>(text: &'a str, object: usize, key: &str) -> Option<&'a str> {
    let mut c = Cursor { text, pos: object };
    c.begin_object().ok()?;
    let mut first = true;
    while let Some(k) = c.next_key(&mut first).ok()? {
        let v = c.string().ok()?;
        if k == key {
            return Some(v);
        }
    }
    None
}

/// Iterates the members of the string-to-string object at `object`
/// (validated before).
pub fn string_entries(text: &str, object: usize) -> StringEntries<'_> {
    let mut cursor = Cursor { text, pos: object };
    let ok = cursor.begin_object().is_ok();
    StringEntries {
        cursor,
        first: true,
        done: !ok,
    }
}

pub struct StringEntries<'a> {
    cursor: Cursor<'a>,
    first: bool,
    done: bool,
}

impl<'a> Iterator for StringEntries<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let entry = match self.cursor.next_key(&mut self.first) {
            Ok(Some(k)) => self.cursor.string().ok().map(|v| (k, v)),
            _ => None,
        };
        if entry.is_none() {
            self.done = true;
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(Cursor::new("0").uint(), Ok(0));
        assert_eq!(Cursor::new(" 123,").uint(), Ok(123));
        assert!(Cursor::new("01").uint().is_err());
        assert!(Cursor::new("-1").uint().is_err());
        assert!(Cursor::new("1.0").uint().is_err());
        assert!(Cursor::new("1e3").uint().is_err());
        assert!(Cursor::new("99999999999999999999999").uint().is_err());
    }

    #[test]
    fn strings() {
        assert_eq!(Cursor::new(" \"ab c\"").string(), Ok("ab c"));
        assert!(Cursor::new("\"a\\\"b\"").string().is_err());
        assert!(Cursor::new("\"a\nb\"").string().is_err());
        assert!(Cursor::new("\"abc").string().is_err());
    }

    #[test]
    fn duplicate_keys() {
        let text = r#"{"a":"1","b":"2","a":"3"}"#;
        assert!(matches!(
            check_unique_string_keys(text, 0),
            Err(Error::DuplicateKey { .. })
        ));
        assert!(check_unique_string_keys(r#"{"a":"1","b":"2"}"#, 0).is_ok());
        assert_eq!(lookup_string(r#"{"a":"1","b":"2"}"#, 0, "b"), Some("2"));
        assert_eq!(string_entries(r#"{ "a" : "1" , "b":"2" }"#, 0).count(), 2);
    }
}
