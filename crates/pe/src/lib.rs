//! PE32+ image loading for vmfw's UEFI environment: the hardware-independent
//! part of `LoadImage` (UEFI 2.10 §2.1.1 "UEFI Images", §7.4.1
//! `EFI_BOOT_SERVICES.LoadImage()`), following the Microsoft PE/COFF
//! specification ("PE Format": §3 "Section Table", §4 "Image Only" for the
//! MS-DOS stub and signature, §3.3 "COFF File Header", §3.4 "Optional
//! Header", §6.6 "The .reloc Section").
//!
//! The firmware's flow, and which call does what:
//!
//! 1. read the `.efi` file into memory and call [`PeImage::parse`], which
//!    validates every header field it relies on and returns a load plan
//!    ([`PeImage::size_of_image`], [`PeImage::section_alignment`],
//!    [`PeImage::image_base`]);
//! 2. allocate `size_of_image` bytes aligned to `section_alignment`
//!    (preferably anywhere; at `image_base` if [`PeImage::is_relocatable`]
//!    is false);
//! 3. call [`PeImage::load_into`] to copy the headers and sections into that
//!    buffer, zero the rest, and apply the base relocations for the actual
//!    load address;
//! 4. jump to `load address + entry_point_rva()`.
//!
//! Invariants of a parsed [`PeImage`]: `SizeOfImage` is in
//! 1..=[`MAX_IMAGE_SIZE`]; the headers (`SizeOfHeaders`) lie inside both the
//! file and the image; every section's raw data lies inside the file, its
//! virtual range inside the image, after the headers, and overlapping no
//! other section; the entry point lies inside a section; the base
//! relocation directory lies inside the image and the security directory
//! inside the file. Relocation blocks live in the *loaded* image and are
//! checked by [`PeImage::load_into`] before any fixup is applied.
//!
//! Where real EFI toolchains and the spec disagree, this crate follows what
//! the toolchains emit (and what EDK2 accepts), and says so on the check:
//! section addresses need not be multiples of `SectionAlignment`
//! (`objcopy`-built systemd stubs place `.sbat` at 0x…040 with 0x200
//! alignment), `SizeOfImage` need not be one either, `ImageBase` need not be
//! 64 KiB aligned (gnu-efi links at 0), and a `VirtualSize` of 0 means
//! "use `SizeOfRawData`".
//!
//! Everything read from the file is treated as hostile: offsets and sizes go
//! through checked arithmetic and every way an image can be wrong maps to a
//! named [`Error`]. The crate has no logging; callers report what they get.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod image;
mod le;
mod load;
#[cfg(test)]
mod tests;

pub use image::{DllCharacteristics, Machine, PeImage, Section, Subsystem};

/// Largest `SizeOfImage` accepted: 1 GiB. Unified kernel images are tens of
/// MiB (kernel plus initrd); nothing bootable comes close to this, and the
/// bound keeps a hostile header from asking the firmware for absurd
/// allocations.
pub const MAX_IMAGE_SIZE: u32 = 1 << 30;

/// Most sections accepted (the PE/COFF spec notes the Windows loader limits
/// images to 96 sections; UKIs have about ten).
pub const MAX_SECTIONS: u16 = 96;

/// Largest `SectionAlignment` accepted: 2 MiB (a large page). The firmware
/// allocates the image at this alignment, so an absurd value would be a
/// denial of service. EFI images use 0x200 (gnu-efi), 0x1000 or 0x10000.
pub const MAX_SECTION_ALIGNMENT: u32 = 2 << 20;

/// Errors [`PeImage::parse`] and [`PeImage::load_into`] can report. Each
/// names one broken rule, with the offending value where it helps a log
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A header structure extends past the end of the file: the file has
    /// `len` bytes, the structure needs `needed`.
    Truncated {
        /// Bytes the structure needs from the start of the file.
        needed: u64,
        /// Length of the file.
        len: usize,
    },
    /// The file does not start with the MS-DOS signature "MZ".
    BadDosSignature(u16),
    /// The bytes at `e_lfanew` are not the PE signature "PE\0\0".
    BadPeSignature(u32),
    /// COFF `Machine` is neither x86-64 (0x8664) nor AArch64 (0xAA64).
    UnsupportedMachine(u16),
    /// More than [`MAX_SECTIONS`] sections.
    TooManySections(u16),
    /// `SizeOfOptionalHeader` is smaller than the PE32+ optional header
    /// with the data directories it declares.
    OptionalHeaderTooSmall(u16),
    /// Optional header magic 0x10B: a 32-bit PE32 image, which a 64-bit
    /// UEFI cannot run.
    Pe32NotSupported,
    /// Optional header magic is neither PE32 (0x10B) nor PE32+ (0x20B).
    BadOptionalMagic(u16),
    /// `NumberOfRvaAndSizes` is larger than the 16 directories the spec
    /// defines.
    TooManyDataDirectories(u32),
    /// `SectionAlignment` is not a power of two in
    /// 1..=[`MAX_SECTION_ALIGNMENT`].
    BadSectionAlignment(u32),
    /// `FileAlignment` is not a power of two, or exceeds `SectionAlignment`.
    BadFileAlignment(u32),
    /// `SizeOfImage` is 0 or larger than [`MAX_IMAGE_SIZE`].
    BadSizeOfImage(u32),
    /// `SizeOfHeaders` does not cover the section table, or extends past the
    /// file or the image.
    BadSizeOfHeaders(u32),
    /// `ImageBase + SizeOfImage` does not fit in 64 bits.
    ImageBaseWraps(u64),
    /// `Subsystem` is not an EFI application (10), boot service driver
    /// (11) or runtime driver (12).
    UnsupportedSubsystem(u16),
    /// `AddressOfEntryPoint` is not inside any section's virtual range.
    EntryPointOutsideSections(u32),
    /// The base relocation directory is not inside the image.
    RelocDirectoryOutsideImage {
        /// Directory RVA.
        rva: u32,
        /// Directory size in bytes.
        size: u32,
    },
    /// The security (certificate table) directory is not inside the file
    /// (its "address" is a file offset, not an RVA).
    SecurityDirectoryOutsideFile {
        /// File offset of the certificate table.
        offset: u32,
        /// Size in bytes.
        size: u32,
    },
    /// Section `index`'s raw data (`PointerToRawData`, `SizeOfRawData`)
    /// extends past the end of the file.
    SectionDataOutsideFile(u16),
    /// Section `index`'s virtual range extends past `SizeOfImage`.
    SectionOutsideImage(u16),
    /// Reading section `index`'s raw data from the file failed (the
    /// reader given to [`PeImage::load_with`] said so).
    SectionReadFailed(u16),
    /// Section `index` starts inside the headers (`SizeOfHeaders`).
    SectionOverlapsHeaders(u16),
    /// The virtual ranges of two sections overlap.
    SectionsOverlap(u16, u16),
    /// [`PeImage::load_into`] was given a file of a different length than
    /// [`PeImage::parse`].
    FileMismatch {
        /// Length at parse time.
        expected: usize,
        /// Length now.
        got: usize,
    },
    /// The destination buffer is not exactly `SizeOfImage` bytes.
    BadDestinationSize {
        /// `SizeOfImage`.
        expected: u32,
        /// Length of the buffer given.
        got: usize,
    },
    /// The load address is not a multiple of `SectionAlignment`.
    MisalignedLoadAddress {
        /// The load address given.
        address: u64,
        /// `SectionAlignment`.
        alignment: u32,
    },
    /// `load_address + SizeOfImage` does not fit in 64 bits.
    LoadAddressWraps(u64),
    /// The image's relocations were stripped (`IMAGE_FILE_RELOCS_STRIPPED`)
    /// and it must be loaded at its `ImageBase`.
    NotRelocatable {
        /// The address the image must be loaded at.
        image_base: u64,
    },
    /// A base relocation block at `offset` bytes into the directory has a
    /// `SizeOfBlock` below 8, odd, or running past the directory's end.
    BadRelocBlock {
        /// Offset of the block inside the relocation directory.
        offset: u32,
        /// Its `SizeOfBlock`.
        size: u32,
    },
    /// A relocation type other than ABSOLUTE (0), HIGHLOW (3) or DIR64
    /// (10).
    UnsupportedRelocation {
        /// The 4-bit relocation type.
        kind: u8,
        /// RVA the fixup would apply to.
        rva: u64,
    },
    /// A fixup's bytes extend past `SizeOfImage`.
    RelocationOutsideImage(u64),
    /// A fixup would patch the image's own headers (below `SizeOfHeaders`);
    /// no real image does that, and the firmware reads the loaded headers
    /// back, so it is refused.
    RelocationInHeaders(u64),
    /// A HIGHLOW (32-bit) fixup in an image that would end above 4 GiB,
    /// where a 32-bit absolute address cannot point into it.
    HighLowAbove4G(u64),
    /// A buffer could not be allocated.
    OutOfMemory,
}

impl core::fmt::Display for Error {
    /// One template per variant (`vmfw_bytes::write_template`: `\x01` is
    /// `{}`, `\x03` `{:#x}`, `\x05` `{:#010x}`, `\x06` `{:#06x}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, a, b): (&str, u64, u64) = match *self {
            Error::Truncated { needed, len } => {
                ("PE file truncated: headers need \x01 bytes, file has \x01", needed, len as u64)
            }
            Error::BadDosSignature(v) => ("not a PE image (MS-DOS signature \x06)", v.into(), 0),
            Error::BadPeSignature(v) => ("not a PE image (PE signature \x05)", v.into(), 0),
            Error::UnsupportedMachine(m) => ("unsupported machine type \x06", m.into(), 0),
            Error::TooManySections(n) => {
                ("\x01 sections (at most \x01 supported)", n.into(), MAX_SECTIONS as u64)
            }
            Error::OptionalHeaderTooSmall(n) => {
                ("optional header too small (\x01 bytes)", n.into(), 0)
            }
            Error::Pe32NotSupported => ("32-bit PE32 image, need PE32+", 0, 0),
            Error::BadOptionalMagic(m) => ("bad optional header magic \x06", m.into(), 0),
            Error::TooManyDataDirectories(n) => ("\x01 data directories (at most 16)", n.into(), 0),
            Error::BadSectionAlignment(a) => ("bad SectionAlignment \x03", a.into(), 0),
            Error::BadFileAlignment(a) => ("bad FileAlignment \x03", a.into(), 0),
            Error::BadSizeOfImage(s) => ("bad SizeOfImage \x03", s.into(), 0),
            Error::BadSizeOfHeaders(s) => ("bad SizeOfHeaders \x03", s.into(), 0),
            Error::ImageBaseWraps(b) => ("ImageBase \x03 + SizeOfImage wraps", b, 0),
            Error::UnsupportedSubsystem(s) => ("subsystem \x01 is not an EFI image", s.into(), 0),
            Error::EntryPointOutsideSections(e) => {
                ("entry point \x03 is not inside a section", e.into(), 0)
            }
            Error::RelocDirectoryOutsideImage { rva, size } => {
                ("relocation directory \x03+\x03 outside the image", rva.into(), size.into())
            }
            Error::SecurityDirectoryOutsideFile { offset, size } => {
                ("certificate table \x03+\x03 outside the file", offset.into(), size.into())
            }
            Error::SectionDataOutsideFile(i) => ("section \x01 data outside the file", i.into(), 0),
            Error::SectionOutsideImage(i) => ("section \x01 outside SizeOfImage", i.into(), 0),
            Error::SectionReadFailed(i) => ("section \x01 could not be read", i.into(), 0),
            Error::SectionOverlapsHeaders(i) => ("section \x01 overlaps the headers", i.into(), 0),
            Error::SectionsOverlap(a, b) => ("sections \x01 and \x01 overlap", a.into(), b.into()),
            Error::FileMismatch { expected, got } => {
                ("file is \x01 bytes, was \x01 when parsed", got as u64, expected as u64)
            }
            Error::BadDestinationSize { expected, got } => {
                ("load buffer is \x01 bytes, image needs \x01", got as u64, expected.into())
            }
            Error::MisalignedLoadAddress { address, alignment } => {
                ("load address \x03 not aligned to \x03", address, alignment.into())
            }
            Error::LoadAddressWraps(a) => ("load address \x03 + SizeOfImage wraps", a, 0),
            Error::NotRelocatable { image_base } => {
                ("relocations stripped: must load at \x03", image_base, 0)
            }
            Error::BadRelocBlock { offset, size } => {
                ("bad relocation block at \x03 (size \x03)", offset.into(), size.into())
            }
            Error::UnsupportedRelocation { kind, rva } => {
                ("unsupported relocation type \x01 at \x03", kind.into(), rva)
            }
            Error::RelocationOutsideImage(rva) => ("relocation at \x03 outside the image", rva, 0),
            Error::RelocationInHeaders(rva) => {
                ("relocation at \x03 inside the image headers", rva, 0)
            }
            Error::HighLowAbove4G(rva) => {
                ("32-bit relocation at \x03 in an image above 4 GiB", rva, 0)
            }
            Error::OutOfMemory => ("out of memory", 0, 0),
        };
        vmfw_bytes::write_template(f, t, &[a, b])
    }
}
