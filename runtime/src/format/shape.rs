//! Shapes: a stored tensor's dimensions ([`Dims`]) and an image's
//! channels, height and width ([`Shape`]).

use core::fmt;

use super::numbers::parse_uint;
use super::MAX_ACTIVATION;
use crate::error::Name;

/// A tensor shape of rank at most 4, as the format needs (larger ranks are
/// remembered by their rank only, for error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    dims: [usize; 4],
    rank: usize,
}

impl Dims {
    pub fn new(dims: &[usize]) -> Self {
        let mut d = [0; 4];
        for (slot, v) in d.iter_mut().zip(dims) {
            *slot = *v;
        }
        Dims {
            dims: d,
            rank: dims.len(),
        }
    }

    /// Appends a dimension (beyond the fourth only the rank grows).
    pub fn push(&mut self, v: usize) {
        if let Some(slot) = self.dims.get_mut(self.rank) {
            *slot = v;
        }
        self.rank = self.rank.saturating_add(1);
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The text of [`Dims`]'s `Display`, made without `core::fmt` (see
    /// [`Name::and`]).
    pub fn to_name(&self) -> Name {
        match self.as_slice() {
            Some(d) => Name::list(d),
            None => {
                let head = Name::list(&self.dims);
                // "[a, b, c, d" then ", ... (N dims)]".
                let kept = head.as_str().strip_suffix(']').unwrap_or(head.as_str());
                Name::new(kept)
                    .and(", ... (")
                    .and_uint(self.rank)
                    .and(" dims)]")
            }
        }
    }

    /// The dimensions, `None` when the rank exceeds 4.
    pub fn as_slice(&self) -> Option<&[usize]> {
        self.dims.get(..self.rank)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims.iter().take(self.rank).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > 4 {
            write!(f, ", ... ({} dims)", self.rank)?;
        }
        f.write_str("]")
    }
}

/// An image shape, channels first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    /// `c * h * w` (saturating; the loader bounds it).
    pub fn len(&self) -> usize {
        self.c.saturating_mul(self.h).saturating_mul(self.w)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[c, h, w]`, as `Display` shows it, without `core::fmt`.
    pub fn to_name(&self) -> Name {
        Name::list(&[self.c, self.h, self.w])
    }

    /// Reads the `output_shape` value `C,H,W`: integers >= 1 whose product
    /// is at most [`MAX_ACTIVATION`].
    pub fn parse(v: &str) -> Option<Shape> {
        let mut it = v.split(',');
        let c = parse_uint(it.next()?)?;
        let h = parse_uint(it.next()?)?;
        let w = parse_uint(it.next()?)?;
        if it.next().is_some() || c == 0 || h == 0 || w == 0 {
            return None;
        }
        let len = c.checked_mul(h)?.checked_mul(w)?;
        (len <= MAX_ACTIVATION).then_some(Shape { c, h, w })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.c, self.h, self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn dims_display() {
        assert_eq!(Dims::new(&[2, 3]).to_string(), "[2, 3]");
        let mut d = Dims::new(&[1, 2, 3, 4]);
        d.push(5);
        assert_eq!(d.rank(), 5);
        assert!(d.as_slice().is_none());
        assert_eq!(d.to_string(), "[1, 2, 3, 4, ... (5 dims)]");
    }

    #[test]
    fn dims_name_matches_display() {
        extern crate alloc;
        use alloc::format;
        let mut d = Dims::new(&[]);
        for v in [1568, 100, 4, 4, 9, 11] {
            assert_eq!(d.to_name().as_str(), format!("{d}"));
            d.push(v);
        }
        assert_eq!(d.to_name().as_str(), "[1568, 100, 4, 4, ... (6 dims)]");
    }

    #[test]
    fn shape_name_matches_display() {
        let s = Shape {
            c: 1,
            h: 28,
            w: 280,
        };
        assert_eq!(s.to_name().as_str(), s.to_string());
    }
}
