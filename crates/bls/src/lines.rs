//! The line syntax shared by loader.conf and entry files.
//!
//! BLS "Type #1 Boot Loader Specification Entries": "UNIX-style text files
//! (i.e. lines separated by a single newline character), in the UTF-8
//! encoding … Lines beginning with "#" are used for comments and shall be
//! ignored. The first word of a line is used as key and is separated by one
//! or more spaces from the value. The rest of the line contains the value,
//! a literal string." loader.conf(5) uses the same syntax.
//!
//! Like systemd-boot we also accept tabs as separators, leading whitespace
//! before the key or the `#`, and a `\r` before the newline; trailing spaces
//! and tabs are not part of the value. On top of that, a UTF-8 byte order
//! mark at the start of the file is ignored. Everything else that does not
//! fit is one [`Warning`] and the line is skipped:
//! - a line that is not valid UTF-8 (we neither guess an encoding nor
//!   replace bytes: a kernel command line must reach the kernel unchanged),
//! - a line with an ASCII control character other than tab (a NUL would cut
//!   a command line short in the kernel),
//! - a key with characters other than ASCII letters, digits, `-` and `_`
//!   (typically `key=value`),
//! - a key without a value.

use alloc::vec::Vec;

use crate::{Warning, WarningKind};

/// One `key value` line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    pub key: &'a str,
    /// Not empty; no leading or trailing spaces or tabs.
    pub value: &'a str,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn trim_blanks(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits `data` into key/value lines; malformed lines become warnings.
pub(crate) fn parse_lines(data: &[u8]) -> (Vec<Line<'_>>, Vec<Warning>) {
    let data = data.strip_prefix(BOM).unwrap_or(data);
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    for (index, raw) in data.split(|&c| c == b'\n').enumerate() {
        let number = index.saturating_add(1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = trim_blanks(raw);
        if line.is_empty() || line.first() == Some(&b'#') {
            continue;
        }
        let mut warn = |kind| warnings.push(Warning { line: number, kind });
        if line.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
            warn(WarningKind::ControlCharacter);
            continue;
        }
        let Ok(line) = core::str::from_utf8(line) else {
            warn(WarningKind::NotUtf8);
            continue;
        };
        let (key, value) = match line.split_once([' ', '\t']) {
            Some((k, v)) => (k, v.trim_start_matches([' ', '\t'])),
            None => (line, ""),
        };
        if !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
            warn(WarningKind::BadKey);
            continue;
        }
        if value.is_empty() {
            warn(WarningKind::MissingValue);
            continue;
        }
        lines.push(Line { number, key, value });
    }
    (lines, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn keys(data: &[u8]) -> Vec<(usize, &str, &str)> {
        let (lines, _) = parse_lines(data);
        lines.iter().map(|l| (l.number, l.key, l.value)).collect()
    }

    fn warnings(data: &[u8]) -> Vec<(usize, WarningKind)> {
        let (_, w) = parse_lines(data);
        w.iter().map(|w| (w.line, w.kind)).collect()
    }

    #[test]
    fn splits_keys_and_values() {
        let text = b"# c\n\n  title   Fedora Linux 40  \r\n\toptions\troot=/dev/vda1  quiet\t\nlinux /vmlinuz";
        assert_eq!(
            keys(text),
            vec![
                (3, "title", "Fedora Linux 40"),
                (4, "options", "root=/dev/vda1  quiet"),
                (5, "linux", "/vmlinuz"),
            ]
        );
        assert!(warnings(text).is_empty());
    }

    #[test]
    fn comments_anywhere() {
        let text = b"# first\n   # indented\ntitle a # not a comment\n#last";
        assert_eq!(keys(text), vec![(3, "title", "a # not a comment")]);
    }

    #[test]
    fn bom_is_ignored() {
        assert_eq!(keys(b"\xEF\xBB\xBFtitle x\n"), vec![(1, "title", "x")]);
    }

    #[test]
    fn malformed_lines_are_reported() {
        let text = b"timeout=5\ntitle\ntitle\xff x\nlinux /a\0b\nversion 1\x7f\ntitle \xc3\x28\nsort-key ok\n";
        assert_eq!(
            warnings(text),
            vec![
                (1, WarningKind::BadKey),
                (2, WarningKind::MissingValue),
                (3, WarningKind::NotUtf8),
                (4, WarningKind::ControlCharacter),
                (5, WarningKind::ControlCharacter),
                (6, WarningKind::NotUtf8),
            ]
        );
        assert_eq!(keys(text), vec![(7, "sort-key", "ok")]);
    }

    #[test]
    fn lone_cr_is_a_control_character() {
        assert_eq!(warnings(b"title a\rb\n"), vec![(1, WarningKind::ControlCharacter)]);
    }
}
