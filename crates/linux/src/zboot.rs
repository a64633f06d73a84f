//! EFI zboot images: a small PE executable (the decompressing EFI stub)
//! carrying a compressed kernel `Image`, as Linux builds with
//! `CONFIG_EFI_ZBOOT` (`drivers/firmware/efi/libstub/zboot-header.S`).
//!
//! The header overlays the MS-DOS stub of the PE file:
//!
//! | offset | field |
//! |---|---|
//! | 0x00 | "MZ" (the DOS signature) |
//! | 0x04 | "zimg" (image type) |
//! | 0x08 | payload offset from the start of the file (u32 LE) |
//! | 0x0c | payload size (u32 LE) |
//! | 0x10 | reserved (two u32) |
//! | 0x18 | compression type: NUL-terminated ASCII (`gzip`, `zstd22`, `lzma`, `xzkern`, `lz4`, `lzo`, `bzip2`) |
//! | 0x38 | Linux PE magic |
//! | 0x3c | PE header offset (u32 LE) |
//!
//! For gzip the payload is a complete gzip file, which [`crate::gzip`]
//! inflates natively into the `Image`; for every other type the payload
//! is followed by the inflated size (u32 LE) and vmfw hands the whole PE
//! to the UEFI path, where the stub decompresses it itself.

use crate::le::u32_at;

/// "zimg" at offset 4.
pub const ZIMG: [u8; 4] = *b"zimg";
/// Offset of the compression type string.
const COMP_TYPE_AT: usize = 0x18;
/// The compression type string ends (with its NUL) before this offset,
/// where the PE magic is.
const COMP_TYPE_END: usize = 0x38;
/// The header's length: up to and including the PE header offset.
pub const HEADER_LEN: usize = 0x40;

/// Why a file is not a zboot image vmfw can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No "MZ" at 0 and "zimg" at 4 (or the file is shorter than that).
    NotZboot,
    /// The file ends before the 64-byte header does.
    Truncated,
    /// The compression type at 0x18 has no NUL before 0x38, is empty, or
    /// is not printable ASCII.
    BadCompressionType,
    /// The payload (`offset`, `size`) does not lie inside the file, or
    /// starts inside the header.
    BadPayload {
        /// Payload offset from the header.
        offset: u32,
        /// Payload size from the header.
        size: u32,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotZboot => f.write_str("not an EFI zboot image"),
            Error::Truncated => f.write_str("EFI zboot header truncated"),
            Error::BadCompressionType => f.write_str("bad zboot compression type"),
            Error::BadPayload { offset, size } => {
                write!(f, "zboot payload {offset:#x}+{size:#x} outside the file")
            }
        }
    }
}

/// The compression of a zboot payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression<'a> {
    /// `gzip`: vmfw inflates it natively ([`crate::gzip`]).
    Gzip,
    /// Anything else, by its name in the header (`zstd22`, `lzma`, ...):
    /// for the UEFI path.
    Other(&'a str),
}

/// Whether `file` starts with the zboot signature ("MZ" at 0, "zimg" at
/// 4). Cheap: for choosing between the native and UEFI paths.
pub fn is_zboot(file: &[u8]) -> bool {
    file.get(..2) == Some(b"MZ") && file.get(4..8) == Some(&ZIMG[..])
}

/// A zboot image whose header has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zboot<'a> {
    payload: &'a [u8],
    comp_type: &'a str,
    size_suffix: Option<u32>,
    pe_offset: u32,
}

impl<'a> Zboot<'a> {
    /// Reads the header of `file` (the whole file).
    ///
    /// Fails with [`Error::NotZboot`], [`Error::Truncated`],
    /// [`Error::BadCompressionType`] or [`Error::BadPayload`].
    pub fn parse(file: &'a [u8]) -> Result<Self, Error> {
        if !is_zboot(file) {
            return Err(Error::NotZboot);
        }
        let head = file.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        let offset = u32_at(head, 8).ok_or(Error::Truncated)?;
        let size = u32_at(head, 12).ok_or(Error::Truncated)?;
        let pe_offset = u32_at(head, 0x3c).ok_or(Error::Truncated)?;
        let field = head.get(COMP_TYPE_AT..COMP_TYPE_END).ok_or(Error::Truncated)?;
        let nul = field.iter().position(|&b| b == 0).ok_or(Error::BadCompressionType)?;
        let name = field.get(..nul).ok_or(Error::BadCompressionType)?;
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Error::BadCompressionType);
        }
        let comp_type = core::str::from_utf8(name).map_err(|_| Error::BadCompressionType)?;
        let bad = Error::BadPayload { offset, size };
        let start = usize::try_from(offset).map_err(|_| bad)?;
        let end = usize::try_from(size).ok().and_then(|s| start.checked_add(s)).ok_or(bad)?;
        if start < HEADER_LEN {
            return Err(bad);
        }
        let payload = file.get(start..end).ok_or(bad)?;
        let size_suffix =
            end.checked_add(4).and_then(|e| file.get(end..e)).and_then(|s| u32_at(s, 0));
        Ok(Zboot { payload, comp_type, size_suffix, pe_offset })
    }

    /// The compressed payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The compression type string as the header gives it.
    pub fn compression_type(&self) -> &'a str {
        self.comp_type
    }

    /// The compression, for choosing the native or the UEFI path.
    pub fn compression(&self) -> Compression<'a> {
        if self.comp_type == "gzip" {
            Compression::Gzip
        } else {
            Compression::Other(self.comp_type)
        }
    }

    /// The inflated size the image records for non-gzip payloads (the u32
    /// after the payload), if the file has those bytes. A hint only.
    pub fn size_suffix(&self) -> Option<u32> {
        match self.compression() {
            Compression::Gzip => None,
            Compression::Other(_) => self.size_suffix,
        }
    }

    /// The PE header's offset (0x3c), for the UEFI path's PE loader.
    pub fn pe_offset(&self) -> u32 {
        self.pe_offset
    }
}
