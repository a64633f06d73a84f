//! [`Quoted`]: a string in double quotes for log lines.
//!
//! `{:?}` on a `str` does the same for ordinary text, but it brings
//! `core`'s Unicode-aware escaping (grapheme tables, `char` escapes and
//! the string slicing error path: about 4 KiB) into the firmware image.
//! Log lines quote names that come from the disk, and what matters there
//! is that the line stays one line and cannot drive the terminal: quotes,
//! backslashes and control characters (C0, DEL, C1) are escaped the way
//! `{:?}` escapes them; everything else is written as it is.

use core::fmt;

/// Displays the string in double quotes, escaped as the module says.
/// For printable ASCII it is exactly what `{:?}` writes.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let (s, b) = (self.0, self.0.as_bytes());
        // Unescaped runs go out in one piece, escapes one by one. Byte by
        // byte: every character to escape is ASCII or a C1 control, whose
        // UTF-8 is 0xC2 then the code point itself (0x80..=0x9F), so each
        // run ends on a character boundary.
        let (mut start, mut i) = (0, 0);
        while let Some(&c) = b.get(i) {
            let (len, code) = match (c, b.get(i + 1)) {
                (b'"' | b'\\' | 0..=0x1f | 0x7f, _) => (1, Some(c)),
                (0xc2, Some(&c1 @ 0x80..=0x9f)) => (2, Some(c1)),
                _ => (1, None),
            };
            let Some(code) = code else {
                i += 1;
                continue;
            };
            f.write_str(s.get(start..i).unwrap_or(""))?;
            match code {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                0 => f.write_str("\\0")?,
                c => write!(f, "\\u{{{c:x}}}")?,
            }
            i += len;
            start = i;
        }
        f.write_str(s.get(start..).unwrap_or(""))?;
        f.write_str("\"")
    }
}

/// Writes `before`, `n` (as `{:#x}` when `hex`, else as `{}`), then
/// `after`: one shared path for the many one-number error messages of the
/// parser crates, where a `write!` each costs its own formatting call and
/// argument tables.
pub fn write_number(
    f: &mut core::fmt::Formatter<'_>,
    before: &str,
    n: u64,
    hex: bool,
    after: &str,
) -> core::fmt::Result {
    f.write_str(before)?;
    if hex {
        write!(f, "{n:#x}")?;
    } else {
        write!(f, "{n}")?;
    }
    f.write_str(after)
}

/// Writes `template` with each control character `\x01`..`\x06` in it
/// replaced by the next of `args` (0 when they run out), formatted as:
///
/// | mark | as |
/// |---|---|
/// | `\x01` | `{}` |
/// | `\x02` | `{:02}` |
/// | `\x03` | `{:#x}` |
/// | `\x04` | `{:#04x}` |
/// | `\x05` | `{:#010x}` |
/// | `\x06` | `{:#06x}` |
///
/// The error enums' messages go through it: each variant then costs its
/// text and a call, where a `write!` costs its own argument tables and
/// formatting call.
pub fn write_template(f: &mut fmt::Formatter<'_>, template: &str, args: &[u64]) -> fmt::Result {
    let mut args = args.iter().copied();
    let mut start = 0;
    for (i, b) in template.bytes().enumerate() {
        let (hex, width) = match b {
            1 => (false, 0),
            2 => (false, 2),
            3 => (true, 0),
            4 => (true, 4),
            5 => (true, 10),
            6 => (true, 6),
            _ => continue,
        };
        // The marks are ASCII, so both ends are character boundaries.
        f.write_str(template.get(start..i).unwrap_or(""))?;
        start = i + 1;
        let n = args.next().unwrap_or(0);
        if hex {
            write!(f, "{n:#0width$x}")?;
        } else {
            write!(f, "{n:0width$}")?;
        }
    }
    f.write_str(template.get(start..).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn printable_ascii_is_as_debug() {
        for s in ["", "debian-6.1.conf", "console=ttyS0 panic=-1 a\"b\\c", "x86-64 'q'"] {
            assert_eq!(format!("{}", Quoted(s)), format!("{s:?}"));
        }
    }

    #[test]
    fn controls_are_escaped_as_debug() {
        for s in ["a\nb\r\t\0", "\u{1b}[31m", "\u{7f}", "\u{85}x", "é\u{9b}"] {
            assert_eq!(format!("{}", Quoted(s)), format!("{s:?}"));
        }
    }

    struct T<'a>(&'a str, &'a [u64]);
    impl fmt::Display for T<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_template(f, self.0, self.1)
        }
    }

    #[test]
    fn templates_format_as_write_does() {
        let n = 0x1a2u64;
        assert_eq!(format!("{}", T("no marks", &[])), "no marks");
        assert_eq!(format!("{}", T("\x01", &[n])), format!("{n}"));
        assert_eq!(format!("{}", T("v\x01.\x02!", &[2, 6])), "v2.06!");
        assert_eq!(format!("{}", T("a \x03 b", &[n])), format!("a {n:#x} b"));
        assert_eq!(format!("{}", T("\x04", &[5])), format!("{:#04x}", 5));
        assert_eq!(format!("{}", T("\x05", &[n])), format!("{n:#010x}"));
        assert_eq!(format!("{}", T("\x06", &[n])), format!("{n:#06x}"));
        assert_eq!(format!("{}", T("\x03", &[u64::MAX])), format!("{:#x}", u64::MAX));
        assert_eq!(format!("{}", T("é \x01 ü \x01", &[1])), "é 1 ü 0");
    }

    #[test]
    fn every_control_and_only_controls_are_escaped() {
        for c in (0u32..0x800).filter_map(char::from_u32) {
            let s = alloc::format!("a{c}b");
            let want = if c.is_control() || c == '"' || c == '\\' {
                alloc::format!("{s:?}")
            } else {
                alloc::format!("\"{s}\"")
            };
            assert_eq!(format!("{}", Quoted(&s)), want, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn other_unicode_is_written_as_is() {
        assert_eq!(format!("{}", Quoted("Grüße \u{200b}")), "\"Grüße \u{200b}\"");
    }
}
