//! gzip files (RFC 1952) inflated straight into their final place: Debian's
//! arm64 `vmlinuz` is a gzip-compressed `Image`, and so is the payload of
//! most EFI zboot images.
//!
//! [`Gzip::parse`] checks the member header; [`Gzip::peek`] inflates just
//! the first bytes (the `Image` header, to plan the load); then
//! [`Gzip::inflate_into`] inflates the whole stream into the caller's
//! buffer (the kernel's load address), in one pass with no intermediate
//! copy, and checks the trailer's CRC-32 and length. The buffer bounds the
//! output: a stream that would grow past it is an error
//! ([`Error::OutputTooLarge`]), never a silently cut kernel.
//!
//! The deflate decoder is `miniz_oxide`'s core (no allocation; its state,
//! 10.5 KB, lives on the stack for the length of one call). Each call
//! hands it the whole input and says there is no more, so it either
//! finishes, fails, or stops at the end of the output buffer: it cannot
//! loop.

use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use vmfw_bytes::Crc32;

use crate::le::{u16_at, u32_at, u8_at};

/// ID1, ID2: every gzip member starts with these.
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];
/// CM = 8: deflate, the only method RFC 1952 defines.
const CM_DEFLATE: u8 = 8;
/// FLG bits.
const FTEXT: u8 = 1 << 0;
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xe0;
/// The fixed part of the header: ID1 ID2 CM FLG MTIME(4) XFL OS.
const FIXED_LEN: usize = 10;
/// CRC32 and ISIZE.
const TRAILER_LEN: usize = 8;

/// Why a gzip file cannot be inflated, or not into the space given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The file does not start with 1f 8b.
    BadMagic,
    /// The compression method (given) is not 8 (deflate).
    UnsupportedMethod(u8),
    /// FLG (given) has reserved bits 5-7 set.
    ReservedFlags(u8),
    /// The header (its optional fields, a name without its NUL) runs past
    /// the end of the file.
    TruncatedHeader,
    /// The header's CRC-16 (FHCRC) does not match the header.
    HeaderCrc {
        /// The value stored in the file.
        stored: u16,
        /// The low 16 bits of the header's CRC-32.
        computed: u16,
    },
    /// The deflate stream is malformed.
    Corrupt,
    /// The file ends inside the deflate stream or its 8-byte trailer.
    TruncatedData,
    /// The data inflates to more than `capacity` bytes, the space given.
    OutputTooLarge {
        /// Bytes the caller had room for.
        capacity: usize,
    },
    /// The trailer's CRC-32 does not match the inflated data.
    CrcMismatch {
        /// The value stored in the trailer.
        stored: u32,
        /// The CRC-32 of the inflated data.
        computed: u32,
    },
    /// The trailer's ISIZE (the length modulo 2^32) does not match.
    SizeMismatch {
        /// The value stored in the trailer.
        stored: u32,
        /// The inflated length modulo 2^32.
        actual: u32,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic => f.write_str("not a gzip file"),
            Error::UnsupportedMethod(m) => write!(f, "gzip method {m} is not deflate"),
            Error::ReservedFlags(g) => write!(f, "gzip header flags {g:#04x} has reserved bits"),
            Error::TruncatedHeader => f.write_str("gzip header truncated"),
            Error::HeaderCrc { stored, computed } => {
                write!(f, "gzip header CRC {stored:#06x}, computed {computed:#06x}")
            }
            Error::Corrupt => f.write_str("corrupt deflate data"),
            Error::TruncatedData => f.write_str("gzip data truncated"),
            Error::OutputTooLarge { capacity } => {
                write!(f, "gzip data inflates to more than {capacity} bytes")
            }
            Error::CrcMismatch { stored, computed } => {
                write!(f, "gzip CRC {stored:#010x}, data has {computed:#010x}")
            }
            Error::SizeMismatch { stored, actual } => {
                write!(f, "gzip size {stored} (mod 2^32), data has {actual}")
            }
        }
    }
}

/// Whether `data` starts like a gzip file (the magic and method 8).
pub fn is_gzip(data: &[u8]) -> bool {
    data.get(..3) == Some(&[MAGIC[0], MAGIC[1], CM_DEFLATE])
}

/// A gzip member whose header has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gzip<'a> {
    file: &'a [u8],
    /// Offset of the deflate stream (the end of the header).
    data_start: usize,
    flags: u8,
    mtime: u32,
    os: u8,
    name: Option<&'a [u8]>,
}

/// What [`Gzip::inflate_into`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflated {
    /// Bytes written to the start of the output buffer.
    pub len: usize,
    /// Bytes of the file the member took, header to trailer. Anything
    /// after it (padding, a second member) is not read.
    pub member_len: usize,
}

/// The offset just past the NUL that ends the string at `at`.
fn skip_string(file: &[u8], at: usize) -> Result<usize, Error> {
    let rest = file.get(at..).ok_or(Error::TruncatedHeader)?;
    let nul = rest.iter().position(|&b| b == 0).ok_or(Error::TruncatedHeader)?;
    at.checked_add(nul).and_then(|e| e.checked_add(1)).ok_or(Error::TruncatedHeader)
}

impl<'a> Gzip<'a> {
    /// Checks the member header at the start of `file` (the whole file,
    /// which the later calls inflate).
    ///
    /// Fails with [`Error::BadMagic`], [`Error::UnsupportedMethod`],
    /// [`Error::ReservedFlags`], [`Error::TruncatedHeader`] or
    /// [`Error::HeaderCrc`].
    pub fn parse(file: &'a [u8]) -> Result<Self, Error> {
        if file.get(..2) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let cm = u8_at(file, 2).ok_or(Error::TruncatedHeader)?;
        if cm != CM_DEFLATE {
            return Err(Error::UnsupportedMethod(cm));
        }
        let flags = u8_at(file, 3).ok_or(Error::TruncatedHeader)?;
        if flags & FRESERVED != 0 {
            return Err(Error::ReservedFlags(flags));
        }
        let mtime = u32_at(file, 4).ok_or(Error::TruncatedHeader)?;
        let os = u8_at(file, 9).ok_or(Error::TruncatedHeader)?;
        let mut at = FIXED_LEN;
        if flags & FEXTRA != 0 {
            let xlen = u16_at(file, at).ok_or(Error::TruncatedHeader)?;
            let end = at.checked_add(2).and_then(|a| a.checked_add(usize::from(xlen)));
            at = end.ok_or(Error::TruncatedHeader)?;
        }
        let mut name = None;
        if flags & FNAME != 0 {
            let end = skip_string(file, at)?;
            // Without its NUL; skip_string found the NUL at end - 1.
            name = file.get(at..end.saturating_sub(1));
            at = end;
        }
        if flags & FCOMMENT != 0 {
            at = skip_string(file, at)?;
        }
        if flags & FHCRC != 0 {
            let stored = u16_at(file, at).ok_or(Error::TruncatedHeader)?;
            let head = file.get(..at).ok_or(Error::TruncatedHeader)?;
            let computed = vmfw_bytes::crc32(head) as u16;
            if stored != computed {
                return Err(Error::HeaderCrc { stored, computed });
            }
            at = at.checked_add(2).ok_or(Error::TruncatedHeader)?;
        }
        if at > file.len() {
            return Err(Error::TruncatedHeader);
        }
        Ok(Gzip { file, data_start: at, flags, mtime, os, name })
    }

    /// Length of the header: the deflate stream starts here.
    pub fn header_len(&self) -> usize {
        self.data_start
    }

    /// The raw FLG byte (FTEXT and the other bits RFC 1952 defines).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether FTEXT is set (a hint only; it changes nothing here).
    pub fn is_text(&self) -> bool {
        self.flags & FTEXT != 0
    }

    /// MTIME: seconds since 1970, or 0.
    pub fn mtime(&self) -> u32 {
        self.mtime
    }

    /// The OS byte.
    pub fn os(&self) -> u8 {
        self.os
    }

    /// The original file name (FNAME), without its NUL.
    pub fn name(&self) -> Option<&'a [u8]> {
        self.name
    }

    /// The inflated length modulo 2^32 as the file's last four bytes say,
    /// if the file is a single member with nothing after it. A hint for
    /// sizing a buffer, never trusted: [`Gzip::inflate_into`] checks the
    /// real length against its buffer.
    pub fn size_hint(&self) -> Option<u32> {
        let at = self.file.len().checked_sub(4)?;
        if at < self.data_start {
            return None;
        }
        u32_at(self.file, at)
    }

    /// Inflates the first `out.len()` bytes (fewer if the data is
    /// shorter) and returns how many were written: enough to read a
    /// kernel header before deciding where the kernel goes. Checks
    /// nothing past those bytes.
    pub fn peek(&self, out: &mut [u8]) -> Result<usize, Error> {
        match self.run(out)? {
            (TINFLStatus::HasMoreOutput, _, n) | (TINFLStatus::Done, _, n) => Ok(n),
            (status, _, _) => Err(status_error(status, out.len())),
        }
    }

    /// Inflates the whole member into `out`, which must have room for all
    /// of it, and checks the trailer.
    ///
    /// Fails with [`Error::OutputTooLarge`] if the data needs more room
    /// (`out` then holds its first `out.len()` bytes), [`Error::Corrupt`],
    /// [`Error::TruncatedData`], [`Error::CrcMismatch`] or
    /// [`Error::SizeMismatch`].
    pub fn inflate_into(&self, out: &mut [u8]) -> Result<Inflated, Error> {
        let (status, used, len) = self.run(out)?;
        if status != TINFLStatus::Done {
            return Err(status_error(status, out.len()));
        }
        let trailer_at = self.data_start.checked_add(used).ok_or(Error::TruncatedData)?;
        let member_len = trailer_at.checked_add(TRAILER_LEN).ok_or(Error::TruncatedData)?;
        let trailer = self.file.get(trailer_at..member_len).ok_or(Error::TruncatedData)?;
        let stored_crc = u32_at(trailer, 0).ok_or(Error::TruncatedData)?;
        let stored_len = u32_at(trailer, 4).ok_or(Error::TruncatedData)?;
        // ISIZE is the length modulo 2^32 by definition.
        let actual = len as u32;
        if stored_len != actual {
            return Err(Error::SizeMismatch { stored: stored_len, actual });
        }
        let mut crc = Crc32::new();
        crc.update(out.get(..len).ok_or(Error::Corrupt)?);
        let computed = crc.finish();
        if stored_crc != computed {
            return Err(Error::CrcMismatch { stored: stored_crc, computed });
        }
        Ok(Inflated { len, member_len })
    }

    /// One call of the decoder over the whole deflate stream into `out`:
    /// (status, input bytes used, output bytes written).
    fn run(&self, out: &mut [u8]) -> Result<(TINFLStatus, usize, usize), Error> {
        let input = self.file.get(self.data_start..).ok_or(Error::TruncatedData)?;
        let mut state = DecompressorOxide::new();
        // No TINFL_FLAG_HAS_MORE_INPUT: the input is complete, so running
        // out of it is a failure rather than a request for more. Non-
        // wrapping: `out` is the final buffer, not a ring.
        let flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        let (status, used, written) = decompress(&mut state, input, out, 0, flags);
        if used > input.len() || written > out.len() {
            return Err(Error::Corrupt);
        }
        Ok((status, used, written))
    }
}

/// The error for a decoder status other than `Done`.
fn status_error(status: TINFLStatus, capacity: usize) -> Error {
    match status {
        TINFLStatus::HasMoreOutput => Error::OutputTooLarge { capacity },
        TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => Error::TruncatedData,
        _ => Error::Corrupt,
    }
}
