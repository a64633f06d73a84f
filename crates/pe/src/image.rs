//! Header parsing and validation (PE/COFF spec §2 "Overview", §3.3 "COFF
//! File Header", §3.4 "Optional Header", §3 "Section Table"; UEFI 2.10
//! §2.1.1 for the EFI subsystems and machine types).

use alloc::vec::Vec;
use core::ops::Range;

use crate::le::{name_at, u16_at, u32_at, u64_at};
use crate::{Error, MAX_IMAGE_SIZE, MAX_SECTIONS, MAX_SECTION_ALIGNMENT};

/// Offset of `e_lfanew` (the PE header's file offset) in the MS-DOS header.
const E_LFANEW: usize = 0x3c;
/// Size of the PE signature plus the COFF file header.
const COFF_END: usize = 4 + 20;
/// Size of the PE32+ optional header without data directories.
const OPT_FIXED: usize = 112;
/// Size of one section table entry.
const SECTION_ENTRY: usize = 40;
/// Data directories the spec defines.
const MAX_DIRECTORIES: u32 = 16;
/// Index of the certificate table (whose address is a file offset).
const DIR_SECURITY: u32 = 4;
/// Index of the base relocation table.
const DIR_BASERELOC: u32 = 5;

/// `IMAGE_FILE_RELOCS_STRIPPED`: the image must load at its `ImageBase`.
const FILE_RELOCS_STRIPPED: u16 = 0x0001;

/// `IMAGE_SCN_CNT_CODE`.
const SCN_CNT_CODE: u32 = 0x0000_0020;
/// `IMAGE_SCN_MEM_EXECUTE`.
const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
/// `IMAGE_SCN_MEM_WRITE`.
const SCN_MEM_WRITE: u32 = 0x8000_0000;

/// The processor an image is built for (COFF `Machine`; UEFI 2.10 §2.1.1
/// lists the values a UEFI image may carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `IMAGE_FILE_MACHINE_AMD64` (0x8664).
    X86_64,
    /// `IMAGE_FILE_MACHINE_ARM64` (0xAA64).
    Aarch64,
}

impl Machine {
    /// The raw COFF `Machine` value.
    pub fn raw(self) -> u16 {
        match self {
            Machine::X86_64 => 0x8664,
            Machine::Aarch64 => 0xaa64,
        }
    }
}

/// The kind of UEFI image (optional header `Subsystem`, UEFI 2.10 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsystem {
    /// `IMAGE_SUBSYSTEM_EFI_APPLICATION` (10): unloaded when it returns.
    EfiApplication,
    /// `IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER` (11).
    EfiBootServiceDriver,
    /// `IMAGE_SUBSYSTEM_EFI_RUNTIME_DRIVER` (12): must live in runtime
    /// memory.
    EfiRuntimeDriver,
}

impl Subsystem {
    /// The raw `Subsystem` value.
    pub fn raw(self) -> u16 {
        match self {
            Subsystem::EfiApplication => 10,
            Subsystem::EfiBootServiceDriver => 11,
            Subsystem::EfiRuntimeDriver => 12,
        }
    }
}

/// Optional header `DllCharacteristics` (PE/COFF §3.4.2). Reported, not
/// enforced: the firmware decides what to do with, say, an image that is
/// not NX compatible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DllCharacteristics(pub u16);

impl DllCharacteristics {
    /// `IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA` (0x0020).
    pub fn high_entropy_va(self) -> bool {
        self.0 & 0x0020 != 0
    }
    /// `IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE` (0x0040): may be relocated.
    pub fn dynamic_base(self) -> bool {
        self.0 & 0x0040 != 0
    }
    /// `IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY` (0x0080).
    pub fn force_integrity(self) -> bool {
        self.0 & 0x0080 != 0
    }
    /// `IMAGE_DLLCHARACTERISTICS_NX_COMPAT` (0x0100): the image keeps code
    /// and writable data apart, so the loader may map data non-executable
    /// and code read-only.
    pub fn nx_compat(self) -> bool {
        self.0 & 0x0100 != 0
    }
}

/// One validated section table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    name: [u8; 8],
    rva: u32,
    virtual_size: u32,
    raw_offset: u32,
    raw_size: u32,
    characteristics: u32,
}

impl Section {
    /// The name as stored: up to 8 bytes, NUL padding removed. (Executables
    /// have no string table, so `/nnn` long names are returned verbatim.)
    pub fn name(&self) -> &[u8] {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        self.name.get(..len).unwrap_or(&[])
    }

    /// The raw 8-byte name field.
    pub fn raw_name(&self) -> [u8; 8] {
        self.name
    }

    /// `VirtualAddress`: the section's offset in the loaded image.
    pub fn rva(&self) -> u32 {
        self.rva
    }

    /// The section's size in memory: `VirtualSize`, or `SizeOfRawData` when
    /// `VirtualSize` is 0 (some toolchains leave it 0).
    pub fn virtual_size(&self) -> u32 {
        if self.virtual_size == 0 {
            self.raw_size
        } else {
            self.virtual_size
        }
    }

    /// `Characteristics` (`IMAGE_SCN_*` flags).
    pub fn characteristics(&self) -> u32 {
        self.characteristics
    }

    /// Whether the section holds code (`IMAGE_SCN_MEM_EXECUTE` or
    /// `IMAGE_SCN_CNT_CODE`).
    pub fn is_executable(&self) -> bool {
        self.characteristics & (SCN_MEM_EXECUTE | SCN_CNT_CODE) != 0
    }

    /// Whether the section is writable (`IMAGE_SCN_MEM_WRITE`).
    pub fn is_writable(&self) -> bool {
        self.characteristics & SCN_MEM_WRITE != 0
    }

    /// Bytes copied from the file: `SizeOfRawData` is padded to
    /// `FileAlignment`, so only `min(SizeOfRawData, virtual_size())` of it
    /// is content; the rest of the section in memory is zero.
    pub(crate) fn loaded_len(&self) -> u32 {
        self.raw_size.min(self.virtual_size())
    }

    /// The file range holding the section's content (the part that is
    /// loaded, see [`Section::virtual_size`]): for a UKI's `.linux`,
    /// `.initrd` or `.cmdline` this is exactly the payload, without the
    /// `FileAlignment` padding. Valid for the file the image was parsed
    /// from.
    pub fn file_range(&self) -> Range<usize> {
        // parse() checked raw_offset + raw_size <= file length (a usize)
        // when raw_size != 0; without raw data PointerToRawData means
        // nothing and may point anywhere.
        let start = if self.raw_size == 0 { 0 } else { self.raw_offset as usize };
        start..start.saturating_add(self.loaded_len() as usize)
    }

    /// The section's virtual range (RVAs), `rva()..rva() + virtual_size()`.
    pub fn rva_range(&self) -> Range<u64> {
        let start = u64::from(self.rva);
        start..start + u64::from(self.virtual_size())
    }
}

/// A validated PE32+ EFI image: the load plan for one file. See the crate
/// docs for the invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    file_len: usize,
    machine: Machine,
    characteristics: u16,
    entry_point: u32,
    image_base: u64,
    section_alignment: u32,
    file_alignment: u32,
    size_of_image: u32,
    size_of_headers: u32,
    subsystem: Subsystem,
    dll_characteristics: DllCharacteristics,
    /// File offset of the `ImageBase` field (inside the headers).
    image_base_offset: usize,
    reloc: Option<(u32, u32)>,
    security: Option<(u32, u32)>,
    sections: Vec<Section>,
}

fn truncated(needed: usize, len: usize) -> Error {
    Error::Truncated { needed: needed as u64, len }
}

/// Reads with `read` at `off`, mapping a short file to [`Error::Truncated`].
fn field<T>(
    file: &[u8],
    off: usize,
    width: usize,
    read: fn(&[u8], usize) -> Option<T>,
) -> Result<T, Error> {
    read(file, off).ok_or_else(|| truncated(off.saturating_add(width), file.len()))
}

/// `a + b` as a `u64` (cannot overflow for two `u32`s).
fn end(a: u32, b: u32) -> u64 {
    u64::from(a) + u64::from(b)
}

impl PeImage {
    /// Parses and validates the headers of a PE32+ EFI image held entirely
    /// in `file`.
    pub fn parse(file: &[u8]) -> Result<PeImage, Error> {
        Self::parse_headers(file, file.len())
    }

    /// Parses and validates the headers of a PE32+ EFI image of `file_len`
    /// bytes from its first bytes, `head`, which must hold at least the
    /// headers (`SizeOfHeaders`; else [`Error::Truncated`] says how many
    /// are needed). Every range is checked against `file_len`, so the
    /// sections can then be read straight from the file into their place
    /// ([`PeImage::load_with`]) without the whole file in memory.
    pub fn parse_headers(head: &[u8], file_len: usize) -> Result<PeImage, Error> {
        if head.len() > file_len {
            return Err(Error::FileMismatch { expected: file_len, got: head.len() });
        }
        let file = head;
        let len = file_len;
        // MS-DOS stub (§2.1) and PE signature (§2.2).
        let mz = field(file, 0, 2, u16_at)?;
        if mz != 0x5a4d {
            return Err(Error::BadDosSignature(mz));
        }
        let pe = field(file, E_LFANEW, 4, u32_at)? as usize;
        let coff = pe.checked_add(4).ok_or(truncated(usize::MAX, len))?;
        let opt = pe.checked_add(COFF_END).ok_or(truncated(usize::MAX, len))?;
        if opt > len {
            return Err(truncated(opt, len));
        }
        let sig = field(file, pe, 4, u32_at)?;
        if sig != 0x0000_4550 {
            return Err(Error::BadPeSignature(sig));
        }

        // COFF file header (§3.3).
        let machine = match field(file, coff, 2, u16_at)? {
            0x8664 => Machine::X86_64,
            0xaa64 => Machine::Aarch64,
            m => return Err(Error::UnsupportedMachine(m)),
        };
        let nsections = field(file, coff + 2, 2, u16_at)?;
        if nsections > MAX_SECTIONS {
            return Err(Error::TooManySections(nsections));
        }
        let opt_size = field(file, coff + 16, 2, u16_at)?;
        let characteristics = field(file, coff + 18, 2, u16_at)?;

        // Optional header (§3.4). The magic first, so a PE32 image gets its
        // own error whatever its size.
        match field(file, opt, 2, u16_at)? {
            0x20b => {}
            0x10b => return Err(Error::Pe32NotSupported),
            m => return Err(Error::BadOptionalMagic(m)),
        }
        if usize::from(opt_size) < OPT_FIXED {
            return Err(Error::OptionalHeaderTooSmall(opt_size));
        }
        let opt_end = opt + usize::from(opt_size);
        if opt_end > len {
            return Err(truncated(opt_end, len));
        }
        let u32f = |off: usize| field(file, opt + off, 4, u32_at);
        let entry_point = u32f(16)?;
        let image_base = field(file, opt + 24, 8, u64_at)?;
        let section_alignment = u32f(32)?;
        let file_alignment = u32f(36)?;
        let size_of_image = u32f(56)?;
        let size_of_headers = u32f(60)?;
        let subsystem = field(file, opt + 68, 2, u16_at)?;
        let dll_characteristics = DllCharacteristics(field(file, opt + 70, 2, u16_at)?);
        let ndirs = u32f(108)?;

        if ndirs > MAX_DIRECTORIES {
            return Err(Error::TooManyDataDirectories(ndirs));
        }
        // ndirs <= 16, so this is at most 112 + 128.
        if OPT_FIXED + 8 * ndirs as usize > usize::from(opt_size) {
            return Err(Error::OptionalHeaderTooSmall(opt_size));
        }
        // The spec wants SectionAlignment >= 4 KiB unless it equals
        // FileAlignment; gnu-efi images use 0x200 for both. Require only
        // powers of two, FileAlignment <= SectionAlignment, and a bound.
        if !section_alignment.is_power_of_two() || section_alignment > MAX_SECTION_ALIGNMENT {
            return Err(Error::BadSectionAlignment(section_alignment));
        }
        if !file_alignment.is_power_of_two() || file_alignment > section_alignment {
            return Err(Error::BadFileAlignment(file_alignment));
        }
        if size_of_image == 0 || size_of_image > MAX_IMAGE_SIZE {
            return Err(Error::BadSizeOfImage(size_of_image));
        }
        let table_end = (nsections as usize)
            .checked_mul(SECTION_ENTRY)
            .and_then(|n| n.checked_add(opt_end))
            .ok_or(truncated(usize::MAX, len))?;
        let headers = size_of_headers as usize;
        if headers < table_end || headers > len || size_of_headers > size_of_image {
            return Err(Error::BadSizeOfHeaders(size_of_headers));
        }
        if headers > file.len() {
            return Err(truncated(headers, file.len()));
        }
        if image_base.checked_add(u64::from(size_of_image)).is_none() {
            return Err(Error::ImageBaseWraps(image_base));
        }
        let subsystem = match subsystem {
            10 => Subsystem::EfiApplication,
            11 => Subsystem::EfiBootServiceDriver,
            12 => Subsystem::EfiRuntimeDriver,
            s => return Err(Error::UnsupportedSubsystem(s)),
        };

        // Data directories (§3.4.3); absent ones read as empty.
        let dir = |i: u32| -> Result<Option<(u32, u32)>, Error> {
            if i >= ndirs {
                return Ok(None);
            }
            let off = opt + OPT_FIXED + 8 * i as usize;
            let rva = field(file, off, 4, u32_at)?;
            let size = field(file, off + 4, 4, u32_at)?;
            Ok((size != 0).then_some((rva, size)))
        };
        let reloc = dir(DIR_BASERELOC)?;
        if let Some((rva, size)) = reloc {
            if end(rva, size) > u64::from(size_of_image) {
                return Err(Error::RelocDirectoryOutsideImage { rva, size });
            }
        }
        // The certificate table is not loaded; its "RVA" is a file offset
        // (§4.7 "The Attribute Certificate Table").
        let security = dir(DIR_SECURITY)?;
        if let Some((offset, size)) = security {
            if end(offset, size) > len as u64 {
                return Err(Error::SecurityDirectoryOutsideFile { offset, size });
            }
        }

        // Section table (§3).
        let mut sections: Vec<Section> = Vec::new();
        sections.try_reserve_exact(usize::from(nsections)).map_err(|_| Error::OutOfMemory)?;
        for i in 0..nsections {
            let off = opt_end + usize::from(i) * SECTION_ENTRY;
            let s = Section {
                name: field(file, off, 8, name_at)?,
                virtual_size: field(file, off + 8, 4, u32_at)?,
                rva: field(file, off + 12, 4, u32_at)?,
                raw_size: field(file, off + 16, 4, u32_at)?,
                raw_offset: field(file, off + 20, 4, u32_at)?,
                characteristics: field(file, off + 36, 4, u32_at)?,
            };
            // PointerToRawData is meaningless when there is no raw data
            // (.bss-like sections often leave it 0).
            if s.raw_size != 0 && end(s.raw_offset, s.raw_size) > len as u64 {
                return Err(Error::SectionDataOutsideFile(i));
            }
            let vsize = s.virtual_size();
            if end(s.rva, vsize) > u64::from(size_of_image) {
                return Err(Error::SectionOutsideImage(i));
            }
            // VirtualAddress need not be a multiple of SectionAlignment
            // (systemd stubs built with objcopy are not); it only must not
            // land on the headers, which load_into copies first.
            if vsize != 0 && s.rva < size_of_headers {
                return Err(Error::SectionOverlapsHeaders(i));
            }
            for (j, t) in (0u16..).zip(sections.iter()) {
                let (a, b) = (s.rva_range(), t.rva_range());
                if !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end {
                    return Err(Error::SectionsOverlap(j, i));
                }
            }
            sections.push(s);
        }
        let ep = u64::from(entry_point);
        if !sections.iter().any(|s| s.rva_range().contains(&ep)) {
            return Err(Error::EntryPointOutsideSections(entry_point));
        }

        Ok(PeImage {
            file_len: len,
            machine,
            characteristics,
            entry_point,
            image_base,
            section_alignment,
            file_alignment,
            size_of_image,
            size_of_headers,
            subsystem,
            dll_characteristics,
            image_base_offset: opt + 24,
            reloc,
            security,
            sections,
        })
    }

    /// The processor the image is for.
    pub fn machine(&self) -> Machine {
        self.machine
    }

    /// What kind of EFI image this is.
    pub fn subsystem(&self) -> Subsystem {
        self.subsystem
    }

    /// COFF `Characteristics` (`IMAGE_FILE_*` flags).
    pub fn characteristics(&self) -> u16 {
        self.characteristics
    }

    /// `DllCharacteristics` (NX compatibility and friends).
    pub fn dll_characteristics(&self) -> DllCharacteristics {
        self.dll_characteristics
    }

    /// `AddressOfEntryPoint`: the entry point's offset from the load
    /// address. Always inside a section.
    pub fn entry_point_rva(&self) -> u32 {
        self.entry_point
    }

    /// `ImageBase`: the address the image was linked for.
    pub fn image_base(&self) -> u64 {
        self.image_base
    }

    /// `SizeOfImage`: bytes to allocate, in 1..=[`crate::MAX_IMAGE_SIZE`].
    pub fn size_of_image(&self) -> u32 {
        self.size_of_image
    }

    /// `SizeOfHeaders`: bytes of headers copied to the start of the image.
    pub fn size_of_headers(&self) -> u32 {
        self.size_of_headers
    }

    /// `SectionAlignment`: the alignment to allocate the image at (a power
    /// of two, at most [`crate::MAX_SECTION_ALIGNMENT`]).
    pub fn section_alignment(&self) -> u32 {
        self.section_alignment
    }

    /// `FileAlignment` (a power of two, at most `section_alignment()`).
    pub fn file_alignment(&self) -> u32 {
        self.file_alignment
    }

    /// The sections, in table order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The first section named `name` (compared with the NUL padding
    /// removed; names longer than 8 bytes never match).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name() == name.as_bytes())
    }

    /// The file range of the content of the first section named `name`
    /// (see [`Section::file_range`]); e.g. `.linux`, `.initrd`, `.cmdline`
    /// or `.osrel` in a unified kernel image.
    pub fn section_by_name(&self, name: &str) -> Option<Range<usize>> {
        self.section(name).map(Section::file_range)
    }

    /// The section whose virtual range contains `rva`.
    pub fn section_at(&self, rva: u32) -> Option<&Section> {
        let rva = u64::from(rva);
        self.sections.iter().find(|s| s.rva_range().contains(&rva))
    }

    /// Whether the section named `name` exists and holds code.
    pub fn is_executable_section(&self, name: &str) -> bool {
        self.section(name).is_some_and(Section::is_executable)
    }

    /// The base relocation directory as an RVA range inside the image, if
    /// the image has one.
    pub fn reloc_directory(&self) -> Option<Range<u32>> {
        // parse() checked rva + size <= SizeOfImage <= 1 GiB.
        self.reloc.map(|(rva, size)| rva..rva.saturating_add(size))
    }

    /// The certificate table (Authenticode signatures, PE/COFF §4.7) as a
    /// range of the *file*, if the image has one.
    pub fn security_directory(&self) -> Option<Range<usize>> {
        // parse() checked offset + size <= file length.
        self.security.map(|(off, size)| {
            let start = off as usize;
            start..start.saturating_add(size as usize)
        })
    }

    /// Whether the image may be loaded at an address other than
    /// [`PeImage::image_base`]: false only when the linker marked its
    /// relocations stripped (`IMAGE_FILE_RELOCS_STRIPPED`).
    ///
    /// An image with an empty relocation directory and no such flag is
    /// position independent as far as the loader can tell (Debian's signed
    /// x86 kernel is one: `ImageBase` 0, no `.reloc`), so it is loaded
    /// anywhere without fixups, as EDK2 does.
    pub fn is_relocatable(&self) -> bool {
        self.characteristics & FILE_RELOCS_STRIPPED == 0
    }

    pub(crate) fn file_len(&self) -> usize {
        self.file_len
    }

    pub(crate) fn image_base_offset(&self) -> usize {
        self.image_base_offset
    }
}
