//! `/loader/loader.conf`, as systemd-boot's loader.conf(5) defines it (the
//! BLS itself only names the file). We read the two keys that matter to a
//! firmware, `default` and `timeout`; every other key (`editor`,
//! `console-mode`, `auto-entries`, …) is ignored without a warning.
//!
//! Line syntax: see [`crate`] and module `lines`. Values may be wrapped in
//! one pair of matching `"` or `'` quotes, which systemd-boot strips.

use alloc::string::String;
use alloc::vec::Vec;

use crate::lines::parse_lines;
use crate::{Error, Warning, WarningKind, MAX_FILE_SIZE};

/// What `timeout` asks for, as loader.conf(5) describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// `timeout N` with `N >= 1`: show the menu for `N` seconds, then boot
    /// the default entry.
    Seconds(u32),
    /// `timeout 0` or `timeout menu-hidden`: boot the default entry at once
    /// without showing the menu; a key held down at start may still bring
    /// it up. This is also systemd-boot's behaviour when `timeout` is absent
    /// (see [`LoaderConf::timeout_or_default`]).
    MenuHidden,
    /// `timeout menu-force`: always show the menu and wait without a
    /// timeout.
    MenuForce,
    /// `timeout menu-disabled`: never show the menu, not even on a key
    /// press.
    MenuDisabled,
}

impl Timeout {
    fn parse(value: &str) -> Option<Timeout> {
        match value {
            "menu-hidden" => Some(Timeout::MenuHidden),
            "menu-force" => Some(Timeout::MenuForce),
            "menu-disabled" => Some(Timeout::MenuDisabled),
            // Digits only: no sign, no spaces, no fraction; as systemd-boot,
            // anything else (including overflow) is rejected.
            v if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => match v.parse() {
                Ok(0) => Some(Timeout::MenuHidden),
                Ok(n) => Some(Timeout::Seconds(n)),
                Err(_) => None,
            },
            _ => None,
        }
    }
}

/// The parts of `/loader/loader.conf` that vmfw uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderConf {
    /// The `default` glob pattern, matched by [`crate::select_default`];
    /// `None` if the key is absent or names an unsupported special value
    /// (`@saved`, which needs EFI variables).
    pub default: Option<String>,
    /// The `timeout` setting; `None` if absent or unparsable.
    pub timeout: Option<Timeout>,
}

impl LoaderConf {
    /// Parses the contents of `loader.conf`.
    ///
    /// Malformed lines, unparsable `timeout` values, unsupported `default`
    /// values and repeated keys (the last one wins, as in systemd-boot) are
    /// returned as warnings, one per line. Comment and blank lines may
    /// appear anywhere, including first.
    ///
    /// Errors: [`Error::TooLarge`] if `data` is longer than
    /// [`MAX_FILE_SIZE`].
    pub fn parse(data: &[u8]) -> Result<(LoaderConf, Vec<Warning>), Error> {
        if data.len() > MAX_FILE_SIZE {
            return Err(Error::TooLarge(data.len()));
        }
        let (lines, mut warnings) = parse_lines(data);
        let mut conf = LoaderConf::default();
        let mut seen_default = false;
        let mut seen_timeout = false;
        for line in lines {
            let value = unquote(line.value);
            let mut warn = |kind| warnings.push(Warning { line: line.number, kind });
            match line.key {
                "default" => {
                    if seen_default {
                        warn(WarningKind::Duplicate("default"));
                    }
                    seen_default = true;
                    if value.starts_with('@') {
                        // systemd-boot knows `@saved` (the last booted
                        // entry, from an EFI variable) and rejects every
                        // other `@` name. We have no variables: fall back to
                        // the first entry.
                        conf.default = None;
                        warn(WarningKind::UnsupportedDefault);
                    } else {
                        conf.default = Some(String::from(value));
                    }
                }
                "timeout" => {
                    if seen_timeout {
                        warn(WarningKind::Duplicate("timeout"));
                    }
                    seen_timeout = true;
                    match Timeout::parse(value) {
                        Some(t) => conf.timeout = Some(t),
                        // systemd-boot ignores the bad line and keeps what
                        // an earlier line set.
                        None => warn(WarningKind::BadTimeout),
                    }
                }
                _ => {}
            }
        }
        Ok((conf, warnings))
    }

    /// The effective timeout: `timeout`, or [`Timeout::MenuHidden`] when it
    /// is absent (systemd-boot's default: boot the default entry at once).
    pub fn timeout_or_default(&self) -> Timeout {
        self.timeout.unwrap_or(Timeout::MenuHidden)
    }
}

/// Strips one pair of matching surrounding quotes, as systemd-boot does.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse(text: &str) -> (LoaderConf, Vec<(usize, WarningKind)>) {
        let (c, w) = LoaderConf::parse(text.as_bytes()).unwrap();
        (c, w.iter().map(|w| (w.line, w.kind)).collect())
    }

    #[test]
    fn debian_style() {
        let (c, w) = parse("#timeout 3\n#console-mode keep\ndefault 3a6f*\ntimeout 5\neditor no\n");
        assert_eq!(c.default.as_deref(), Some("3a6f*"));
        assert_eq!(c.timeout, Some(Timeout::Seconds(5)));
        assert!(w.is_empty());
    }

    /// A competing firmware lost `default` when the file began with a
    /// comment; every position of comments and blank lines must work.
    #[test]
    fn comment_first_line() {
        for text in [
            "# This file is managed by bootctl\ndefault fedora-*\ntimeout 2\n",
            "#\ndefault fedora-*\ntimeout 2",
            "\n\n# x\n\ndefault fedora-*\n# y\ntimeout 2\n# z\n",
            "   # indented comment\n\tdefault fedora-*\ntimeout 2\n",
            "\u{feff}# BOM, then comment\r\ndefault fedora-*\r\ntimeout 2\r\n",
        ] {
            let (c, w) = parse(text);
            assert_eq!(c.default.as_deref(), Some("fedora-*"), "{text:?}");
            assert_eq!(c.timeout, Some(Timeout::Seconds(2)), "{text:?}");
            assert!(w.is_empty(), "{text:?}: {w:?}");
        }
    }

    #[test]
    fn timeout_values() {
        for (v, want) in [
            ("0", Some(Timeout::MenuHidden)),
            ("00", Some(Timeout::MenuHidden)),
            ("menu-hidden", Some(Timeout::MenuHidden)),
            ("menu-force", Some(Timeout::MenuForce)),
            ("menu-disabled", Some(Timeout::MenuDisabled)),
            ("10", Some(Timeout::Seconds(10))),
            ("4294967295", Some(Timeout::Seconds(u32::MAX))),
            ("4294967296", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("5s", None),
            ("menu", None),
        ] {
            let (c, w) = parse(&alloc::format!("timeout {v}\n"));
            assert_eq!(c.timeout, want, "{v}");
            assert_eq!(w.is_empty(), want.is_some(), "{v}");
        }
        assert_eq!(LoaderConf::default().timeout_or_default(), Timeout::MenuHidden);
    }

    #[test]
    fn bad_timeout_keeps_earlier_value() {
        let (c, w) = parse("timeout 4\ntimeout soon\n");
        assert_eq!(c.timeout, Some(Timeout::Seconds(4)));
        assert_eq!(w, vec![(2, WarningKind::Duplicate("timeout")), (2, WarningKind::BadTimeout)]);
    }

    #[test]
    fn last_default_wins() {
        let (c, w) = parse("default a.conf\ndefault b.conf\n");
        assert_eq!(c.default.as_deref(), Some("b.conf"));
        assert_eq!(w, vec![(2, WarningKind::Duplicate("default"))]);
    }

    #[test]
    fn quotes_and_special_defaults() {
        let (c, _) = parse("default \"debian-*\"  \n");
        assert_eq!(c.default.as_deref(), Some("debian-*"));
        let (c, _) = parse("default 'x y'\n");
        assert_eq!(c.default.as_deref(), Some("x y"));
        let (c, _) = parse("default \"half\n");
        assert_eq!(c.default.as_deref(), Some("\"half"));
        let (c, w) = parse("default a\ndefault @saved\n");
        assert_eq!(c.default, None);
        assert_eq!(
            w,
            vec![(2, WarningKind::Duplicate("default")), (2, WarningKind::UnsupportedDefault)]
        );
    }

    #[test]
    fn unknown_keys_and_malformed_lines() {
        let (c, w) = parse(
            "editor no\nconsole-mode max\nrandom-seed-mode off\ntimeout=3\ndefault\nbeep yes\n",
        );
        assert_eq!(c, LoaderConf::default());
        assert_eq!(w, vec![(4, WarningKind::BadKey), (5, WarningKind::MissingValue)]);
    }

    #[test]
    fn size_limit() {
        let big = vec![b'#'; MAX_FILE_SIZE + 1];
        assert_eq!(LoaderConf::parse(&big), Err(Error::TooLarge(MAX_FILE_SIZE + 1)));
        assert!(LoaderConf::parse(&big[1..]).is_ok());
    }
}
