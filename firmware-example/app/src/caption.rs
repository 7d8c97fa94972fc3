//! The caption beside the image: class, frame number and how long the image took.

use core::fmt::{self, Write};

/// How long one image took to generate, in whatever unit the board can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The board has no clock.
    Unknown,
    /// Wall-clock microseconds (Pico timer, host clock).
    Micros(u64),
    /// Executed instructions (QEMU with `-icount shift=0`, where time counts instructions).
    Instructions(u64),
}

/// Measures one generator call. Boards implement it with whatever they have: a hardware timer,
/// SysTick under QEMU, `std::time::Instant`.
pub trait Stopwatch {
    /// Called right before the generator runs.
    fn start(&mut self);
    /// Called right after it returns.
    fn stop(&mut self) -> Timing;
}

/// A stopwatch for boards without a clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoClock;

impl Stopwatch for NoClock {
    fn start(&mut self) {}
    fn stop(&mut self) -> Timing {
        Timing::Unknown
    }
}

/// Wall-clock time on a host (the simulator, a Raspberry Pi).
#[cfg(feature = "std")]
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock(Option<std::time::Instant>);

#[cfg(feature = "std")]
impl Stopwatch for WallClock {
    fn start(&mut self) {
        self.0 = Some(std::time::Instant::now());
    }
    fn stop(&mut self) -> Timing {
        match self.0.take() {
            Some(t) => Timing::Micros(t.elapsed().as_micros() as u64),
            None => Timing::Unknown,
        }
    }
}

/// Writes `value / unit` with one decimal, e.g. `1234, 1000` -> `1.2`.
fn one_decimal(f: &mut fmt::Formatter<'_>, value: u64, unit: u64) -> fmt::Result {
    let tenths = value.saturating_mul(10) / unit;
    write!(f, "{}.{}", tenths / 10, tenths % 10)
}

impl fmt::Display for Timing {
    /// At most 10 characters, the caption column's width in the 6x10 font.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timing::Unknown => f.write_str("- ms"),
            Timing::Micros(us) if us < 10_000 => write!(f, "{us} us"),
            Timing::Micros(us) if us < 10_000_000 => write!(f, "{} ms", us / 1000),
            Timing::Micros(us) => {
                one_decimal(f, us, 1_000_000)?;
                f.write_str(" s")
            }
            Timing::Instructions(n) if n < 100_000 => write!(f, "{n} insn"),
            Timing::Instructions(n) if n < 100_000_000 => {
                one_decimal(f, n, 1_000_000)?;
                f.write_str(" Minsn")
            }
            Timing::Instructions(n) => write!(f, "{} Minsn", n / 1_000_000),
        }
    }
}

/// One caption line: short enough for the SSD1306's caption column, and for any error message
/// when drawn as a whole-screen error.
pub type Line = heapless::String<32>;

/// Formats `value` into a caption line, cutting it off if it is longer than a line.
pub fn line(value: impl fmt::Display) -> Line {
    text(value)
}

/// Formats `value` into at most `N` bytes, cutting off what does not fit: the display could not
/// show the rest anyway.
pub fn text<const N: usize>(value: impl fmt::Display) -> heapless::String<N> {
    let mut out = heapless::String::new();
    let _ = write!(Cut(&mut out), "{value}");
    out
}

/// Writes what fits and silently drops the rest.
struct Cut<'a, const N: usize>(&'a mut heapless::String<N>);

impl<const N: usize> Write for Cut<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// The caption's lines for a frame.
pub fn lines(class: Option<usize>, frame: u32, timing: Timing) -> [Line; 3] {
    [
        match class {
            Some(k) => line(format_args!("class {k}")),
            None => line("any class"),
        },
        line(format_args!("#{frame}")),
        line(timing),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_read_naturally_and_fit_the_column() {
        let cases = [
            (Timing::Unknown, "- ms"),
            (Timing::Micros(850), "850 us"),
            (Timing::Micros(42_500), "42 ms"),
            (Timing::Micros(2_345_678), "2345 ms"),
            (Timing::Micros(12_345_678), "12.3 s"),
            (Timing::Instructions(4_321), "4321 insn"),
            (Timing::Instructions(12_345_678), "12.3 Minsn"),
            (Timing::Instructions(456_000_000), "456 Minsn"),
        ];
        for (timing, text) in cases {
            let l = line(timing);
            assert_eq!(l.as_str(), text);
            assert!(l.len() <= 10, "{text} is too wide");
        }
    }

    #[test]
    fn caption_names_class_frame_and_time() {
        let [a, b, c] = lines(Some(3), 12, Timing::Micros(850_000));
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("class 3", "#12", "850 ms")
        );
        let [a, _, _] = lines(None, 0, Timing::Unknown);
        assert_eq!(a.as_str(), "any class");
    }

    #[test]
    fn long_lines_are_cut_not_dropped() {
        let l = line("0123456789012345678901234567890123456789");
        assert_eq!(l.as_str(), "01234567890123456789012345678901");
    }
}
