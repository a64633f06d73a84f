//! Synthetic PE32+ images built in memory, every validation error, the
//! loader and relocations, robustness against truncation and mutation, and
//! the real systemd-boot and Debian kernel binaries when they are cached.

extern crate std;

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use std::path::PathBuf;

use crate::{Error, Machine, PeImage, Subsystem};

/// File offset of the optional header in built images.
const OPT: usize = 0x58;
/// File offset of the section table in built images (16 directories).
const SEC: usize = OPT + 240;
/// Default `ImageBase` of built images.
const BASE: u64 = 0x1000_0000;

const CODE: u32 = 0x6000_0020;
const DATA: u32 = 0xc000_0040;
const RODATA: u32 = 0x4000_0040;

struct Sec {
    name: &'static [u8],
    rva: u32,
    /// `VirtualSize` as written (0 allowed).
    vsize: u32,
    data: Vec<u8>,
    chars: u32,
}

/// A small PE32+ writer: MS-DOS header, PE signature, COFF header, PE32+
/// optional header with 16 directories, section table, then each section's
/// data padded to `FileAlignment`.
struct Builder {
    machine: u16,
    characteristics: u16,
    image_base: u64,
    section_alignment: u32,
    file_alignment: u32,
    size_of_image: u32,
    entry: u32,
    subsystem: u16,
    dll: u16,
    sections: Vec<Sec>,
    /// Index of the section that is the base relocation directory.
    reloc: Option<usize>,
    /// Bytes appended after the sections and described by the security
    /// directory.
    signature: Vec<u8>,
}

fn align(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

fn reloc_block(page: u32, entries: &[u16]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&page.to_le_bytes());
    v.extend_from_slice(&(8 + 2 * entries.len() as u32).to_le_bytes());
    for e in entries {
        v.extend_from_slice(&e.to_le_bytes());
    }
    v
}

fn dir64(off: u16) -> u16 {
    0xa000 | off
}

impl Builder {
    /// `.text` at 0x1000 (entry point), `.data` at 0x2000 holding a pointer
    /// to `.text + 0x10` at 0x2000 and a 32-bit one at 0x2010, `.reloc` at
    /// 0x3000 with one DIR64 fixup (plus padding); `.bss` at 0x4000.
    fn standard() -> Builder {
        let mut data = vec![0u8; 0x40];
        data[..8].copy_from_slice(&(BASE + 0x1010).to_le_bytes());
        data[0x10..0x14].copy_from_slice(&(BASE as u32 + 0x1020).to_le_bytes());
        data[0x20..0x28].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        Builder {
            machine: 0x8664,
            characteristics: 0x0206,
            image_base: BASE,
            section_alignment: 0x1000,
            file_alignment: 0x200,
            size_of_image: 0x5000,
            entry: 0x1000,
            subsystem: 10,
            dll: 0x0140,
            sections: vec![
                Sec {
                    name: b".text",
                    rva: 0x1000,
                    vsize: 0x30,
                    data: vec![0xc3; 0x30],
                    chars: CODE,
                },
                Sec { name: b".data", rva: 0x2000, vsize: 0x40, data, chars: DATA },
                Sec {
                    name: b".reloc",
                    rva: 0x3000,
                    vsize: 12,
                    data: reloc_block(0x2000, &[dir64(0), 0]),
                    chars: RODATA,
                },
                Sec { name: b".bss", rva: 0x4000, vsize: 0x800, data: vec![], chars: DATA },
            ],
            reloc: Some(2),
            signature: vec![],
        }
    }

    fn build(&self) -> Vec<u8> {
        let fa = self.file_alignment as usize;
        let headers = align(SEC + 40 * self.sections.len(), fa);
        let mut f = vec![0u8; headers];
        f[0..2].copy_from_slice(b"MZ");
        f[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        f[0x40..0x44].copy_from_slice(b"PE\0\0");
        let coff = 0x44;
        f[coff..coff + 2].copy_from_slice(&self.machine.to_le_bytes());
        f[coff + 2..coff + 4].copy_from_slice(&(self.sections.len() as u16).to_le_bytes());
        f[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        f[coff + 18..coff + 20].copy_from_slice(&self.characteristics.to_le_bytes());
        let o = OPT;
        f[o..o + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        f[o + 16..o + 20].copy_from_slice(&self.entry.to_le_bytes());
        f[o + 24..o + 32].copy_from_slice(&self.image_base.to_le_bytes());
        f[o + 32..o + 36].copy_from_slice(&self.section_alignment.to_le_bytes());
        f[o + 36..o + 40].copy_from_slice(&self.file_alignment.to_le_bytes());
        f[o + 56..o + 60].copy_from_slice(&self.size_of_image.to_le_bytes());
        f[o + 60..o + 64].copy_from_slice(&(headers as u32).to_le_bytes());
        f[o + 68..o + 70].copy_from_slice(&self.subsystem.to_le_bytes());
        f[o + 70..o + 72].copy_from_slice(&self.dll.to_le_bytes());
        f[o + 108..o + 112].copy_from_slice(&16u32.to_le_bytes());
        for (i, s) in self.sections.iter().enumerate() {
            let raw_size = align(s.data.len(), fa);
            let raw_ptr = if raw_size == 0 { 0 } else { f.len() };
            let e = SEC + 40 * i;
            f[e..e + s.name.len()].copy_from_slice(s.name);
            f[e + 8..e + 12].copy_from_slice(&s.vsize.to_le_bytes());
            f[e + 12..e + 16].copy_from_slice(&s.rva.to_le_bytes());
            f[e + 16..e + 20].copy_from_slice(&(raw_size as u32).to_le_bytes());
            f[e + 20..e + 24].copy_from_slice(&(raw_ptr as u32).to_le_bytes());
            f[e + 36..e + 40].copy_from_slice(&s.chars.to_le_bytes());
            f.extend_from_slice(&s.data);
            f.resize(f.len() + raw_size - s.data.len(), 0);
            if self.reloc == Some(i) {
                set32(&mut f, o + 112 + 8 * 5, s.rva);
                set32(&mut f, o + 112 + 8 * 5 + 4, s.data.len() as u32);
            }
        }
        if !self.signature.is_empty() {
            let at = f.len() as u32;
            set32(&mut f, o + 112 + 8 * 4, at);
            set32(&mut f, o + 112 + 8 * 4 + 4, self.signature.len() as u32);
            f.extend_from_slice(&self.signature);
        }
        f
    }
}

fn set16(f: &mut [u8], off: usize, v: u16) {
    f[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn set32(f: &mut [u8], off: usize, v: u32) {
    f[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set64(f: &mut [u8], off: usize, v: u64) {
    f[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get64(f: &[u8], off: usize) -> u64 {
    vmfw_bytes::u64_at(f, off).unwrap()
}

fn get32(f: &[u8], off: usize) -> u32 {
    vmfw_bytes::u32_at(f, off).unwrap()
}

fn load(img: &PeImage, file: &[u8], at: u64) -> Result<Vec<u8>, Error> {
    let mut dest = vec![0xaau8; img.size_of_image() as usize];
    img.load_into(file, &mut dest, at).map(|()| dest)
}

fn parse_err(f: &[u8]) -> Error {
    PeImage::parse(f).unwrap_err()
}

#[test]
fn parses_standard_image() {
    let f = Builder::standard().build();
    let img = PeImage::parse(&f).unwrap();
    assert_eq!(img.machine(), Machine::X86_64);
    assert_eq!(img.subsystem(), Subsystem::EfiApplication);
    assert_eq!(img.entry_point_rva(), 0x1000);
    assert_eq!(img.image_base(), BASE);
    assert_eq!(img.size_of_image(), 0x5000);
    assert_eq!(img.size_of_headers(), 0x200);
    assert_eq!(img.section_alignment(), 0x1000);
    assert_eq!(img.file_alignment(), 0x200);
    assert!(img.dll_characteristics().nx_compat());
    assert!(img.dll_characteristics().dynamic_base());
    assert!(!img.dll_characteristics().high_entropy_va());
    assert!(img.is_relocatable());
    assert_eq!(img.reloc_directory(), Some(0x3000..0x300c));
    assert_eq!(img.security_directory(), None);
    let names: Vec<&[u8]> = img.sections().iter().map(|s| s.name()).collect();
    assert_eq!(names, [&b".text"[..], b".data", b".reloc", b".bss"]);
    assert!(img.is_executable_section(".text"));
    assert!(!img.is_executable_section(".data"));
    assert!(!img.is_executable_section(".nope"));
    assert!(img.section(".data").unwrap().is_writable());
    assert_eq!(img.section_at(0x2010).unwrap().name(), b".data");
    assert!(img.section_at(0x2800).is_none());
    let text = img.section(".text").unwrap();
    assert_eq!((text.rva(), text.virtual_size(), text.characteristics()), (0x1000, 0x30, CODE));
    assert_eq!(img.section_by_name(".text"), Some(0x200..0x230));
    assert_eq!(img.section_by_name(".bss"), Some(0..0));
    assert_eq!(img.section_by_name(".textextra"), None);
}

#[test]
fn aarch64_and_drivers() {
    for (sub, want) in [(11, Subsystem::EfiBootServiceDriver), (12, Subsystem::EfiRuntimeDriver)] {
        let mut b = Builder::standard();
        b.machine = 0xaa64;
        b.subsystem = sub;
        let img = PeImage::parse(&b.build()).unwrap();
        assert_eq!(img.machine(), Machine::Aarch64);
        assert_eq!(img.machine().raw(), 0xaa64);
        assert_eq!(img.subsystem(), want);
        assert_eq!(img.subsystem().raw(), sub);
    }
}

#[test]
fn loads_at_image_base_without_changes() {
    let f = Builder::standard().build();
    let img = PeImage::parse(&f).unwrap();
    let m = load(&img, &f, BASE).unwrap();
    assert_eq!(&m[..0x200], &f[..0x200]);
    assert_eq!(&m[0x1000..0x1030], &[0xc3; 0x30][..]);
    // Only VirtualSize bytes are copied; the FileAlignment padding and the
    // rest of the page are zero.
    assert!(m[0x1030..0x2000].iter().all(|&b| b == 0));
    assert_eq!(get64(&m, 0x2000), BASE + 0x1010);
    assert!(m[0x4000..].iter().all(|&b| b == 0));
    assert!(m[0x200..0x1000].iter().all(|&b| b == 0));
}

#[test]
fn relocates_dir64_up_and_down() {
    let f = Builder::standard().build();
    let img = PeImage::parse(&f).unwrap();
    for at in [BASE + 0x7654_3000, 0x1000, 0xffff_ffff_0000_0000] {
        let m = load(&img, &f, at).unwrap();
        assert_eq!(get64(&m, 0x2000), at + 0x1010, "at {at:#x}");
        // Not listed in .reloc: untouched.
        assert_eq!(get64(&m, 0x2020), 0x1122_3344_5566_7788);
        assert_eq!(get32(&m, 0x2010), BASE as u32 + 0x1020);
        // The loaded header's ImageBase says where the image is.
        assert_eq!(get64(&m, OPT + 24), at);
        assert_eq!(get64(&f, OPT + 24), BASE);
    }
}

#[test]
fn relocates_highlow_only_below_4g() {
    let mut b = Builder::standard();
    b.sections[2].data = reloc_block(0x2000, &[dir64(0), 0x3010]);
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    let m = load(&img, &f, 0x2000_0000).unwrap();
    assert_eq!(get32(&m, 0x2010), 0x2000_1020);
    assert_eq!(get64(&m, 0x2000), 0x2000_1010);
    assert_eq!(load(&img, &f, 0xffff_f000).unwrap_err(), Error::HighLowAbove4G(0x2010));
    assert_eq!(load(&img, &f, 1 << 33).unwrap_err(), Error::HighLowAbove4G(0x2010));
}

#[test]
fn relocation_errors() {
    let cases: [(Vec<u8>, Error); 6] = [
        (reloc_block(0x2000, &[0x1000]), Error::UnsupportedRelocation { kind: 1, rva: 0x2000 }),
        (
            reloc_block(0x2000, &[dir64(0), 0x4008]),
            Error::UnsupportedRelocation { kind: 4, rva: 0x2008 },
        ),
        (reloc_block(0x4000, &[dir64(0xffc)]), Error::RelocationOutsideImage(0x4ffc)),
        (reloc_block(0xffff_f000, &[dir64(0xff8)]), Error::RelocationOutsideImage(0xffff_fff8)),
        (
            {
                let mut v = reloc_block(0x2000, &[dir64(0)]);
                v[4] = 4;
                v
            },
            Error::BadRelocBlock { offset: 0, size: 4 },
        ),
        (
            {
                let mut v = reloc_block(0x2000, &[dir64(0), 0]);
                v[4] = 11;
                v
            },
            Error::BadRelocBlock { offset: 0, size: 11 },
        ),
    ];
    for (block, want) in cases {
        let mut b = Builder::standard();
        b.sections[2].data = block;
        b.sections[2].vsize = b.sections[2].data.len() as u32;
        let f = b.build();
        let img = PeImage::parse(&f).unwrap();
        let mut dest = vec![0; 0x5000];
        assert_eq!(img.load_into(&f, &mut dest, BASE + 0x10_0000), Err(want));
        // Nothing was applied: the pointer is still the linked one.
        assert_eq!(get64(&dest, 0x2000), BASE + 0x1010);
    }
    // A block running past the directory's end, and trailing bytes too
    // short for a block header.
    for (extra, want) in [
        (vec![0, 0x20, 0, 0, 0x10, 0, 0, 0], Error::BadRelocBlock { offset: 12, size: 16 }),
        (vec![0, 0, 0, 0], Error::BadRelocBlock { offset: 12, size: 0 }),
    ] {
        let mut b = Builder::standard();
        b.sections[2].data.extend_from_slice(&extra);
        b.sections[2].vsize = b.sections[2].data.len() as u32;
        let f = b.build();
        let img = PeImage::parse(&f).unwrap();
        assert_eq!(load(&img, &f, BASE + 0x10_0000).unwrap_err(), want);
    }
}

#[test]
fn absolute_padding_is_not_bounds_checked() {
    // gnu-efi emits a dummy block at an odd page RVA with only ABSOLUTE
    // entries (systemd-boot 252 has one at 0x68f2).
    let mut b = Builder::standard();
    b.sections[2].data = reloc_block(0x7fff_fff2, &[0, 0]);
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    let m = load(&img, &f, 0x20_0000).unwrap();
    assert_eq!(get64(&m, 0x2000), BASE + 0x1010);
}

#[test]
fn relocations_stripped_or_absent() {
    let mut b = Builder::standard();
    b.characteristics |= 1;
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    assert!(!img.is_relocatable());
    assert_eq!(load(&img, &f, 0x20_0000).unwrap_err(), Error::NotRelocatable { image_base: BASE });
    assert!(load(&img, &f, BASE).is_ok());

    // No relocation directory and no "stripped" flag: position
    // independent, loaded anywhere without fixups (like Debian's kernel).
    let mut b = Builder::standard();
    b.reloc = None;
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    assert!(img.is_relocatable());
    assert_eq!(img.reloc_directory(), None);
    let m = load(&img, &f, 0x20_0000).unwrap();
    assert_eq!(get64(&m, 0x2000), BASE + 0x1010);
}

#[test]
fn load_argument_errors() {
    let f = Builder::standard().build();
    let img = PeImage::parse(&f).unwrap();
    let mut dest = vec![0; 0x5000];
    assert_eq!(
        img.load_into(&f[..f.len() - 1], &mut dest, BASE),
        Err(Error::FileMismatch { expected: f.len(), got: f.len() - 1 })
    );
    assert_eq!(
        img.load_into(&f, &mut dest[..0x4fff], BASE),
        Err(Error::BadDestinationSize { expected: 0x5000, got: 0x4fff })
    );
    assert_eq!(
        img.load_into(&f, &mut dest, BASE + 0x200),
        Err(Error::MisalignedLoadAddress { address: BASE + 0x200, alignment: 0x1000 })
    );
    assert_eq!(
        img.load_into(&f, &mut dest, 0xffff_ffff_ffff_f000),
        Err(Error::LoadAddressWraps(0xffff_ffff_ffff_f000))
    );
}

#[test]
fn virtual_size_zero_means_raw_size() {
    let mut b = Builder::standard();
    b.sections[1].vsize = 0;
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    let data = img.section(".data").unwrap();
    assert_eq!(data.virtual_size(), 0x200);
    assert_eq!(img.section_by_name(".data").map(|r| r.len()), Some(0x200));
    let m = load(&img, &f, BASE).unwrap();
    assert_eq!(get64(&m, 0x2020), 0x1122_3344_5566_7788);
}

#[test]
fn uki_sections_give_exact_payloads() {
    let mut b = Builder::standard();
    b.sections.push(Sec {
        name: b".cmdline",
        rva: 0x5000,
        vsize: 13,
        data: b"console=ttyS0".to_vec(),
        chars: RODATA,
    });
    b.sections.push(Sec {
        name: b".linux",
        rva: 0x6000,
        vsize: 0x1234,
        data: (0..0x1234u32).map(|i| i as u8).collect(),
        chars: RODATA,
    });
    b.size_of_image = 0x8000;
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    assert_eq!(&f[img.section_by_name(".cmdline").unwrap()], b"console=ttyS0");
    let linux = img.section_by_name(".linux").unwrap();
    assert_eq!(linux.len(), 0x1234);
    assert_eq!(f[linux.start + 0x123], 0x23);
    let m = load(&img, &f, 0x40_0000).unwrap();
    assert_eq!(&m[0x5000..0x500d], b"console=ttyS0");
    assert!(m[0x500d..0x6000].iter().all(|&b| b == 0));
}

#[test]
fn security_directory_is_a_file_range() {
    let mut b = Builder::standard();
    b.signature = vec![0x5a; 0x48];
    let f = b.build();
    let img = PeImage::parse(&f).unwrap();
    assert_eq!(img.security_directory(), Some(f.len() - 0x48..f.len()));
    let mut g = f.clone();
    set32(&mut g, OPT + 112 + 36, 0x49);
    let off = (f.len() - 0x48) as u32;
    assert_eq!(parse_err(&g), Error::SecurityDirectoryOutsideFile { offset: off, size: 0x49 });
}

#[test]
fn header_errors() {
    let good = Builder::standard().build();
    let s = |i: usize, field: usize| SEC + 40 * i + field;
    type Patch = fn(&mut Vec<u8>);
    let cases: Vec<(Patch, Error)> = vec![
        (|f| f[1] = b'X', Error::BadDosSignature(0x584d)),
        (|f| f.truncate(0x20), Error::Truncated { needed: 0x40, len: 0x20 }),
        (|f| set32(f, 0x3c, 0xffff_fff0), Error::Truncated { needed: 0xffff_fff0 + 24, len: 0 }),
        (|f| f[0x42] = b'X', Error::BadPeSignature(0x0058_4550)),
        (|f| set16(f, 0x44, 0x14c), Error::UnsupportedMachine(0x14c)),
        (|f| set16(f, 0x46, 97), Error::TooManySections(97)),
        (|f| set16(f, OPT, 0x10b), Error::Pe32NotSupported),
        (|f| set16(f, OPT, 0x107), Error::BadOptionalMagic(0x107)),
        (|f| set16(f, 0x54, 100), Error::OptionalHeaderTooSmall(100)),
        (|f| set16(f, 0x54, 232), Error::OptionalHeaderTooSmall(232)),
        (|f| set32(f, OPT + 108, 17), Error::TooManyDataDirectories(17)),
        (|f| set32(f, OPT + 32, 0x1800), Error::BadSectionAlignment(0x1800)),
        (|f| set32(f, OPT + 32, 4 << 20), Error::BadSectionAlignment(4 << 20)),
        (|f| set32(f, OPT + 32, 0), Error::BadSectionAlignment(0)),
        (|f| set32(f, OPT + 36, 0x2000), Error::BadFileAlignment(0x2000)),
        (|f| set32(f, OPT + 36, 0x300), Error::BadFileAlignment(0x300)),
        (|f| set32(f, OPT + 56, 0), Error::BadSizeOfImage(0)),
        (|f| set32(f, OPT + 56, (1 << 30) + 1), Error::BadSizeOfImage((1 << 30) + 1)),
        (|f| set32(f, OPT + 60, 0x100), Error::BadSizeOfHeaders(0x100)),
        (|f| set32(f, OPT + 60, 0x10_0000), Error::BadSizeOfHeaders(0x10_0000)),
        (|f| set64(f, OPT + 24, u64::MAX - 0x1000), Error::ImageBaseWraps(u64::MAX - 0x1000)),
        (|f| set16(f, OPT + 68, 3), Error::UnsupportedSubsystem(3)),
        (|f| set32(f, OPT + 16, 0x1030), Error::EntryPointOutsideSections(0x1030)),
        (|f| set32(f, OPT + 16, 0x100), Error::EntryPointOutsideSections(0x100)),
        (|f| set32(f, OPT + 16, 0x9000), Error::EntryPointOutsideSections(0x9000)),
        (
            |f| set32(f, OPT + 112 + 40, 0x4ff8),
            Error::RelocDirectoryOutsideImage { rva: 0x4ff8, size: 12 },
        ),
    ];
    for (i, (patch, want)) in cases.into_iter().enumerate() {
        let mut f = good.clone();
        patch(&mut f);
        let got = parse_err(&f);
        match want {
            Error::Truncated { needed, .. } => {
                assert_eq!(got, Error::Truncated { needed, len: f.len() }, "case {i}")
            }
            _ => assert_eq!(got, want, "case {i}"),
        }
    }
    let section_cases: [(usize, usize, u32, Error); 7] = [
        (1, 20, 0xffff_ff00, Error::SectionDataOutsideFile(1)),
        (1, 16, 0x1_0000, Error::SectionDataOutsideFile(1)),
        (3, 8, 0x1001, Error::SectionOutsideImage(3)),
        (3, 12, 0xffff_f000, Error::SectionOutsideImage(3)),
        (0, 12, 0x100, Error::SectionOverlapsHeaders(0)),
        (1, 12, 0x1020, Error::SectionsOverlap(0, 1)),
        (3, 12, 0x2ff0, Error::SectionsOverlap(2, 3)),
    ];
    for (sec, field, value, want) in section_cases {
        let mut f = good.clone();
        set32(&mut f, s(sec, field), value);
        assert_eq!(parse_err(&f), want, "section {sec} field {field} = {value:#x}");
    }
}

#[test]
fn pointer_to_raw_data_ignored_without_raw_data() {
    let mut f = Builder::standard().build();
    set32(&mut f, SEC + 3 * 40 + 20, 0xffff_fff0);
    let img = PeImage::parse(&f).unwrap();
    assert_eq!(img.section_by_name(".bss"), Some(0..0));
    assert!(load(&img, &f, 0x20_0000).is_ok());
}

#[test]
fn empty_sections_may_sit_anywhere_in_the_image() {
    let mut b = Builder::standard();
    b.sections.push(Sec { name: b".empty", rva: 0x10, vsize: 0, data: vec![], chars: 0 });
    PeImage::parse(&b.build()).unwrap();
}

#[test]
fn every_truncation_fails_cleanly() {
    let mut b = Builder::standard();
    b.sections[2].data = reloc_block(0x2000, &[dir64(0), 0x3010]);
    let f = b.build();
    PeImage::parse(&f).unwrap();
    for n in 0..f.len() {
        assert!(PeImage::parse(&f[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn header_mutations_never_panic() {
    let mut b = Builder::standard();
    b.sections[2].data = reloc_block(0x2000, &[dir64(0), 0x3010, dir64(0x20), 0]);
    b.sections[2].vsize = 16;
    let f = b.build();
    let mut accepted = 0;
    for i in 0..0x200 {
        for v in [0u8, 0xff, f[i] ^ 1, f[i] ^ 0x80, f[i].wrapping_add(0x10), 0x7f] {
            let mut g = f.clone();
            g[i] = v;
            let Ok(img) = PeImage::parse(&g) else { continue };
            accepted += 1;
            if img.size_of_image() <= 1 << 24 {
                let align = u64::from(img.section_alignment());
                for at in [img.image_base(), 0x20_0000u64.div_ceil(align) * align] {
                    let _ = load(&img, &g, at);
                }
            }
        }
    }
    assert!(accepted > 100);
}

/// `$VMFW_CACHE` (else `~/.cache/vmfw`), as `itest/src/images.rs` picks it.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("VMFW_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/vmfw")))
}

/// Files under `debs/<prefix>*/<rel>` in the cache (where the itest
/// harness unpacks Debian packages).
fn cached(prefix: &str, rel: &str) -> Vec<PathBuf> {
    let Some(debs) = cache_dir().map(|c| c.join("debs")) else { return vec![] };
    let Ok(rd) = std::fs::read_dir(debs) else { return vec![] };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix) && e.path().is_dir())
        .map(|e| e.path().join(rel))
        .filter(|p| p.exists())
        .collect();
    out.sort();
    out
}

fn check_real(path: &std::path::Path) -> PeImage {
    let f = std::fs::read(path).unwrap();
    let img = PeImage::parse(&f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(img.machine(), Machine::X86_64);
    assert_eq!(img.subsystem(), Subsystem::EfiApplication);
    let ep = img.section_at(img.entry_point_rva()).unwrap();
    assert!(ep.is_executable(), "{}: entry in {:?}", path.display(), ep);
    let align = u64::from(img.section_alignment());
    for at in [img.image_base(), 0x4000_0000, 0x1_2345_0000u64.div_ceil(align) * align] {
        let m = load(&img, &f, at).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for s in img.sections() {
            let r = s.file_range();
            let at = s.rva() as usize;
            assert_eq!(&m[at..at + r.len()], &f[r], "{}", path.display());
        }
    }
    img
}

#[test]
fn real_systemd_boot_binaries() {
    let dir = "usr/lib/systemd/boot/efi";
    let boot = cached("systemd-boot-efi_", &format!("{dir}/systemd-bootx64.efi"));
    let stub = cached("systemd-boot-efi_", &format!("{dir}/linuxx64.efi.stub"));
    if boot.is_empty() || stub.is_empty() {
        std::eprintln!(
            "skipped: no systemd-boot-efi package unpacked under $VMFW_CACHE/debs or \
             ~/.cache/vmfw/debs (apt-get download systemd-boot-efi && dpkg -x …)"
        );
        return;
    }
    for p in boot.iter().chain(&stub) {
        let img = check_real(p);
        assert!(img.section(".sbat").is_some(), "{}", p.display());
        assert!(img.reloc_directory().is_some());
    }
    let f = std::fs::read(&boot[0]).unwrap();
    let img = PeImage::parse(&f).unwrap();
    let osrel = &f[img.section_by_name(".osrel").unwrap()];
    assert!(
        osrel.starts_with(b"ID=systemd-boot"),
        "{:?}",
        std::string::String::from_utf8_lossy(osrel)
    );
}

#[test]
fn real_debian_kernel() {
    let found = cached("linux-image-", "boot");
    let Some(vmlinuz) = found
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
    else {
        std::eprintln!("skipped: no linux-image package unpacked in the vmfw cache");
        return;
    };
    let img = check_real(&vmlinuz);
    // Signed, position independent, no .reloc.
    assert!(img.security_directory().is_some());
    assert!(img.is_relocatable());
    assert!(img.dll_characteristics().nx_compat());
}

/// Writes the synthetic fuzz seed when `VMFW_PE_SEED_DIR` is set.
#[test]
fn write_fuzz_seed() {
    let Some(dir) = std::env::var_os("VMFW_PE_SEED_DIR") else { return };
    let mut b = Builder::standard();
    b.sections[2].data = reloc_block(0x2000, &[dir64(0), 0x3010, dir64(0x20), 0]);
    b.sections[2].vsize = 16;
    b.signature = vec![0; 16];
    std::fs::write(PathBuf::from(dir).join("synthetic-standard"), b.build()).unwrap();
}

#[test]
fn loads_from_headers_and_a_reader_as_from_the_whole_file() {
    let f = Builder::standard().build();
    let whole = PeImage::parse(&f).unwrap();
    let expected = load(&whole, &f, BASE + 0x10_0000).unwrap();
    let headers = whole.size_of_headers() as usize;

    // Too few bytes for the headers: the error says how many are needed.
    assert_eq!(
        PeImage::parse_headers(&f[..headers - 1], f.len()).unwrap_err(),
        Error::Truncated { needed: headers as u64, len: headers - 1 }
    );
    assert!(matches!(PeImage::parse_headers(&f, f.len() - 1), Err(Error::FileMismatch { .. })));

    let img = PeImage::parse_headers(&f[..headers], f.len()).unwrap();
    let mut dest = vec![0xaa; img.size_of_image() as usize];
    let mut reads = Vec::new();
    img.load_with(&f[..headers], &mut dest, BASE + 0x10_0000, |off, out| {
        reads.push((off, out.len()));
        out.copy_from_slice(&f[off..off + out.len()]);
        true
    })
    .unwrap();
    assert_eq!(dest, expected);
    // One read per section with raw data, nothing else.
    assert_eq!(reads.len(), img.sections().iter().filter(|s| !s.file_range().is_empty()).count());

    // A failing read names the section and stops the load.
    let err = img.load_with(&f[..headers], &mut dest, BASE, |_, _| false).unwrap_err();
    assert!(matches!(err, Error::SectionReadFailed(_)), "{err:?}");
}
