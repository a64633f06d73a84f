//! Boot Loader Specification Type #1 for vmfw: `/loader/loader.conf`,
//! `/loader/entries/*.conf`, menu order and the default entry.
//!
//! Specifications: the UAPI group's "UAPI.1 Boot Loader Specification"
//! (cited as BLS with the heading of its section: "Type #1 Boot Loader
//! Specification Entries", "Type #1 Boot Loader Entry Keys", "Boot
//! counting", "Sorting"), "UAPI.10 Version Format Specification" (module
//! `version`) and, for loader.conf, which the BLS only names, systemd-boot's
//! loader.conf(5). Where the texts leave room, we do what systemd-boot does,
//! so that a disk set up for systemd-boot boots the same entry here; each
//! such place says so.
//!
//! ```
//! use vmfw_bls::{Arch, Entry, LoaderConf, Menu};
//!
//! let (conf, _warnings) = LoaderConf::parse(b"# managed by bootctl\ndefault debian-*\ntimeout 3\n")?;
//! let mut entries = Vec::new();
//! for (name, text) in [
//!     ("debian-6.1.0-18-amd64.conf", "title Debian\nlinux /vmlinuz-6.1.0-18\noptions root=/dev/vda2\n"),
//!     ("debian-6.1.0-9-amd64.conf", "title Debian\nlinux /vmlinuz-6.1.0-9\n"),
//! ] {
//!     let (entry, warnings) = Entry::parse(name, text.as_bytes())?;
//!     for w in warnings {
//!         println!("{name}: {w}"); // e.g. "line 3: key without a value, ignored"
//!     }
//!     entries.push(entry);
//! }
//! let menu = Menu::new(&conf, entries, Arch::X64);
//! assert_eq!(menu.default_entry().map(|e| e.id()), Some("debian-6.1.0-18-amd64.conf"));
//! # Ok::<(), vmfw_bls::Error>(())
//! ```
//!
//! Invariants and choices:
//! - Input is bytes, read by the caller (vmfw reads them from FAT). A file
//!   larger than [`MAX_FILE_SIZE`] is refused as a whole
//!   ([`Error::TooLarge`]); there is no limit on the number of entries.
//! - A line that breaks the syntax is skipped and reported as a
//!   [`Warning`] with its line number; the rest of the file still counts.
//!   Non-UTF-8 lines are such lines: nothing is converted lossily, so a
//!   kernel command line reaches the kernel byte for byte or not at all.
//! - Nothing here panics on any input: no indexing with untrusted values,
//!   no `unwrap`; all orders are total (see [`compare_versions`] for the
//!   one point where the version spec's text had to be read carefully).
//! - The crate does no I/O and no logging; callers log [`Warning`]s,
//!   [`Error`]s and [`Excluded`] entries, one line each.
//! - Boot counters are parsed and used for ordering; renaming files to
//!   count boots is up to the caller (vmfw's FAT is read-only).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod entry;
mod glob;
mod lines;
mod loader_conf;
mod menu;
#[cfg(test)]
mod tests;
mod version;

use core::fmt;

pub use entry::{Arch, BootCounter, Entry};
pub use glob::glob_match;
pub use loader_conf::{LoaderConf, Timeout};
pub use menu::{compare_entries, select_default, sort_entries, Excluded, Exclusion, Menu};
pub use version::compare_versions;

/// Largest loader.conf or entry file accepted (64 KiB). Real files are a
/// few hundred bytes; the bound keeps a hostile file from costing much time
/// or memory, and a caller can use it as its read limit.
pub const MAX_FILE_SIZE: usize = 64 * 1024;

/// Why a whole file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The file is larger than [`MAX_FILE_SIZE`] (its size is given).
    TooLarge(usize),
    /// An entry file name is not `NAME.conf` with a non-empty `NAME` that
    /// does not start with `.`, is at most 255 characters long and holds
    /// no control character, `/` or `\`.
    BadFileName,
    /// An entry has none of `linux`, `efi` and `uki` (BLS: "Each boot
    /// loader menu entry drop-in snippet must include at least a `linux` or
    /// an `efi` key").
    NoKernel,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge(n) => {
                write!(f, "file is {n} bytes, more than the {MAX_FILE_SIZE} allowed")
            }
            Error::BadFileName => f.write_str("not a valid entry file name (NAME.conf)"),
            Error::NoKernel => f.write_str("entry has no linux, efi or uki key"),
        }
    }
}

/// A line that was skipped or only partly used. `Display` gives one log
/// line: `line 4: key without a value, ignored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number in the file.
    pub line: usize,
    /// What was wrong.
    pub kind: WarningKind,
}

/// What was wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// The line is not valid UTF-8; skipped.
    NotUtf8,
    /// The line holds an ASCII control character other than tab (a lone
    /// `\r` included); skipped.
    ControlCharacter,
    /// The key holds characters other than ASCII letters, digits, `-` and
    /// `_` (often `key=value`); skipped.
    BadKey,
    /// A key without a value; skipped.
    MissingValue,
    /// A key that takes one value appeared again; this later line wins (as
    /// in systemd-boot).
    Duplicate(&'static str),
    /// loader.conf `timeout` is not a number of seconds (0 to 2^32 - 1),
    /// `menu-hidden`, `menu-force` or `menu-disabled`; skipped.
    BadTimeout,
    /// loader.conf `default` names a special entry (`@saved`), which needs
    /// EFI variables; ignored, the first entry is the default.
    UnsupportedDefault,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match self.kind {
            WarningKind::NotUtf8 => f.write_str("not UTF-8, ignored"),
            WarningKind::ControlCharacter => f.write_str("control character, ignored"),
            WarningKind::BadKey => f.write_str("malformed key (want `key value`), ignored"),
            WarningKind::MissingValue => f.write_str("key without a value, ignored"),
            WarningKind::Duplicate(key) => write!(f, "`{key}` given again, this one wins"),
            WarningKind::BadTimeout => f.write_str("bad `timeout` value, ignored"),
            WarningKind::UnsupportedDefault => {
                f.write_str("`default @...` needs EFI variables, ignored")
            }
        }
    }
}
