//! The arm64 `Image` header, its placement and the cache clean plan.

use super::*;
use crate::arm64::*;
use crate::Error;

/// A 64-byte arm64 header with the given fields, followed by `body`
/// bytes of recognisable code.
pub(crate) fn image(text_offset: u64, image_size: u64, flags: u64, body: usize) -> Vec<u8> {
    let mut b = std::vec![0u8; HEADER_LEN + body];
    // code0: "MZ" plus an instruction, as an EFI-stub kernel has it.
    b[0..4].copy_from_slice(&0x9100_5a4du32.to_le_bytes());
    b[4..8].copy_from_slice(&0x1400_0000u32.to_le_bytes());
    b[8..16].copy_from_slice(&text_offset.to_le_bytes());
    b[16..24].copy_from_slice(&image_size.to_le_bytes());
    b[24..32].copy_from_slice(&flags.to_le_bytes());
    b[0x38..0x3c].copy_from_slice(&MAGIC.to_le_bytes());
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    for (i, x) in b[HEADER_LEN..].iter_mut().enumerate() {
        *x = (i % 251) as u8;
    }
    b
}

/// Flags a current distribution kernel has: little-endian, 4 KiB pages,
/// placement anywhere.
const MODERN: u64 = 0b1010;

/// A QEMU `virt` memory map: RAM from 1 GiB, with the firmware and its
/// data in the first 8 MiB.
fn virt(ram: u64) -> MemoryMap {
    let mut m = MemoryMap::new();
    m.add(GIB, ram, MemoryType::Free).unwrap();
    m.reserve(GIB, 8 * MIB, MemoryType::FirmwareCode).unwrap();
    m
}

#[test]
fn parses_the_header_fields() {
    let img = image(0, 0x260_0000, MODERN, 0x1000);
    let h = ImageHeader::parse(&img).unwrap();
    assert_eq!(h.text_offset(), 0);
    assert_eq!(h.image_size(), 0x260_0000);
    assert_eq!(h.flags(), MODERN);
    assert_eq!(h.page_size(), PageSize::Size4K);
    assert!(h.place_anywhere());
    assert_eq!(h.pe_offset(), Some(0x40));
    assert_eq!(h.code(), (0x9100_5a4d, 0x1400_0000));
    // The header alone is enough.
    assert_eq!(ImageHeader::parse(&img[..64]), Ok(h));

    for (bits, size) in [
        (0, PageSize::Unspecified),
        (1, PageSize::Size4K),
        (2, PageSize::Size16K),
        (3, PageSize::Size64K),
    ] {
        let h = ImageHeader::parse(&image(0, 0x100_0000, bits << 1, 0)).unwrap();
        assert_eq!(h.page_size(), size);
        assert!(!h.place_anywhere());
    }
    // Without "MZ" the word at 0x3c is reserved.
    let mut raw = image(0, 0x100_0000, 0, 0);
    raw[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes());
    assert_eq!(ImageHeader::parse(&raw).unwrap().pe_offset(), None);
    // Reserved flag bits are ignored (booting.rst reserves them for later).
    assert!(ImageHeader::parse(&image(0, 0x100_0000, !0u64 << 4, 0)).is_ok());
}

#[test]
fn rejects_what_it_cannot_boot() {
    let img = image(0, 0x100_0000, MODERN, 0);
    assert_eq!(ImageHeader::parse(&img[..63]), Err(Error::Truncated { needed: 64, len: 63 }));
    assert_eq!(ImageHeader::parse(&[]), Err(Error::Truncated { needed: 64, len: 0 }));
    let mut bad = img.clone();
    bad[0x38] = b'X';
    assert_eq!(ImageHeader::parse(&bad), Err(Error::NotArm64Image(0x644d_5258)));
    let be = image(0, 0x100_0000, MODERN | 1, 0);
    assert_eq!(ImageHeader::parse(&be), Err(Error::BigEndianKernel));
}

#[test]
fn plan_uses_image_size_and_text_offset() {
    let img = image(0x8_0000, 0x180_0123, MODERN, 0x1000);
    let h = ImageHeader::parse(&img).unwrap();
    let plan = h.plan(img.len() as u64).unwrap();
    assert_eq!(
        plan,
        ImagePlan {
            text_offset: 0x8_0000,
            span: 0x180_0123,
            size: 0x188_1000,
            limit: PLACEMENT_LIMIT_48BIT,
            lowest: false,
        }
    );
    let p = plan.at(0x4020_0000).unwrap();
    assert_eq!(p.base(), 0x4020_0000);
    assert_eq!(p.load_addr(), 0x4028_0000);
    assert_eq!(p.span(), 0x180_0123);
    assert_eq!(p.size(), 0x188_1000);
    assert_eq!(plan.at(0x4010_0000), Err(Error::MisalignedBase(0x4010_0000)));
    // Bit 3: the whole image below 2^48.
    let top = PLACEMENT_LIMIT_48BIT - 2 * MIB;
    assert!(matches!(plan.at(top), Err(Error::KernelAboveLimit { .. })));
    assert!(plan.at(PLACEMENT_LIMIT_48BIT - 32 * MIB).is_ok());
    // Without bit 3 there is no such limit, but the plan says "lowest".
    let h = ImageHeader::parse(&image(0, 0x100_0000, 0, 0)).unwrap();
    let plan = h.plan(64).unwrap();
    assert!(plan.lowest);
    assert!(plan.at(top).is_ok());
    assert!(matches!(plan.at(!(BASE_ALIGN - 1)), Err(Error::KernelAboveLimit { .. })));
}

#[test]
fn image_size_below_the_file_is_rejected() {
    let img = image(0, 0x1000, MODERN, 0x1000);
    let h = ImageHeader::parse(&img).unwrap();
    assert_eq!(
        h.plan(img.len() as u64),
        Err(Error::ImageSizeTooSmall { image_size: 0x1000, file_len: 0x1040 })
    );
    assert!(h.plan(0x1000).is_ok());
}

#[test]
fn old_kernels_get_the_legacy_offset_and_margin() {
    // Pre-3.17: image_size 0, text_offset in the kernel's byte order
    // (here garbage, which the plan ignores).
    let img = image(0x0000_0800_0000_0000, 0, 0, 0x3000);
    let h = ImageHeader::parse(&img).unwrap();
    let plan = h.plan(img.len() as u64).unwrap();
    assert_eq!(plan.text_offset, LEGACY_TEXT_OFFSET);
    assert_eq!(plan.span, img.len() as u64 + LEGACY_MARGIN);
    assert_eq!(plan.size, 0x8_0000 + 0x4000 + LEGACY_MARGIN);
    assert!(plan.lowest);
    assert_eq!(h.plan(u64::MAX - 10), Err(Error::ImageSizeOverflow));
}

#[test]
fn plan_arithmetic_never_wraps() {
    for (off, size) in [(u64::MAX, 1), (1, u64::MAX), (u64::MAX - 0xfff, 1), (0, u64::MAX)] {
        let h = ImageHeader::parse(&image(off, size, MODERN, 0)).unwrap();
        assert_eq!(h.plan(1), Err(Error::ImageSizeOverflow), "{off:#x} {size:#x}");
    }
    // Fits in 64 bits, but not at any base but 0.
    let h = ImageHeader::parse(&image(0, u64::MAX - 0xfff, 0, 0)).unwrap();
    let plan = h.plan(64).unwrap();
    assert!(plan.at(0).is_ok());
    assert!(matches!(plan.at(BASE_ALIGN), Err(Error::KernelAboveLimit { .. })));
}

#[test]
fn loads_at_the_lowest_2mib_base() {
    let mut map = virt(GIB);
    let h = ImageHeader::parse(&image(0, 0x260_0000, MODERN, 0)).unwrap();
    let plan = h.plan(0x1000).unwrap();
    let p = load_image_plan(&plan, &mut map).unwrap();
    assert_eq!(p.base(), GIB + 8 * MIB);
    assert_eq!(p.load_addr(), GIB + 8 * MIB);
    assert_eq!(map.type_at(p.base()), Some(MemoryType::LoaderData));
    assert_eq!(map.type_at(p.base() + 0x260_0000 - 1), Some(MemoryType::LoaderData));
    assert_eq!(map.type_at(p.base() + 0x260_0000), Some(MemoryType::Free));

    // A misaligned start of free RAM: the base moves up to 2 MiB.
    let mut map = MemoryMap::new();
    map.add(GIB + 0x1000, GIB, MemoryType::Free).unwrap();
    let h = ImageHeader::parse(&image(0x8_0000, 0x100_0000, 0, 0)).unwrap();
    let p = load_image_plan(&h.plan(64).unwrap(), &mut map).unwrap();
    assert_eq!(p.base(), GIB + 2 * MIB);
    assert_eq!(p.load_addr(), GIB + 2 * MIB + 0x8_0000);
}

#[test]
fn no_room_leaves_the_map_alone() {
    let mut map = virt(32 * MIB);
    let before = map.clone();
    let h = ImageHeader::parse(&image(0, 0x200_0000, MODERN, 0)).unwrap();
    let plan = h.plan(64).unwrap();
    assert_eq!(load_image_plan(&plan, &mut map), Err(Error::NoRoomForKernel { size: 0x200_0000 }));
    assert_eq!(map.regions(), before.regions());

    // RAM only above 2^48: a bit-3 kernel cannot go there.
    let mut map = MemoryMap::new();
    map.add(PLACEMENT_LIMIT_48BIT, GIB, MemoryType::Free).unwrap();
    let before = map.clone();
    assert_eq!(load_image_plan(&plan, &mut map), Err(Error::NoRoomForKernel { size: 0x200_0000 }));
    assert_eq!(map.regions(), before.regions());
    // Without bit 3 it can.
    let h = ImageHeader::parse(&image(0, 0x200_0000, 0, 0)).unwrap();
    let p = load_image_plan(&h.plan(64).unwrap(), &mut map).unwrap();
    assert_eq!(p.base(), PLACEMENT_LIMIT_48BIT);
}

/// QEMU's `-cpu max` CTR_EL0: DminLine = 4, 64-byte lines.
const CTR_QEMU_MAX: u64 = 0x8444_c004;

#[test]
fn line_size_from_ctr() {
    assert_eq!(CleanPlan::line_size(CTR_QEMU_MAX), 64);
    assert_eq!(CleanPlan::line_size(0), 4);
    assert_eq!(CleanPlan::line_size(0x5 << 16), 128);
    assert_eq!(CleanPlan::line_size(0xf << 16), 128 * 1024);
    // Only bits 19:16 count.
    assert_eq!(CleanPlan::line_size(!(0xf << 16) | (3 << 16)), 32);
}

#[test]
fn ranges_are_rounded_to_lines() {
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1003, 0x10)]).unwrap();
    assert_eq!(p.line(), 64);
    assert_eq!(p.runs(), [LineRun { first: 0x1000, last: 0x1000 }]);
    assert_eq!(p.lines().collect::<Vec<_>>(), [0x1000]);
    // Crossing a line boundary by one byte.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x103f, 2)]).unwrap();
    assert_eq!(p.lines().collect::<Vec<_>>(), [0x1000, 0x1040]);
    // Exactly aligned: the end line is not included.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1000, 0x80)]).unwrap();
    assert_eq!(p.lines().collect::<Vec<_>>(), [0x1000, 0x1040]);
    assert_eq!(p.line_count(), 2);
}

#[test]
fn empty_ranges_clean_nothing() {
    let p = CleanPlan::new(CTR_QEMU_MAX, &[]).unwrap();
    assert!(p.runs().is_empty());
    assert_eq!(p.lines().count(), 0);
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1000, 0), (u64::MAX, 0), (0, 0)]).unwrap();
    assert!(p.runs().is_empty());
    assert_eq!(p.line_count(), 0);
}

#[test]
fn adjacent_and_overlapping_ranges_merge() {
    // Kernel, then the device tree right after it, then an initrd that
    // overlaps the device tree's last line; and a separate range below.
    let ranges = [(0x4020_0000, 0x1000), (0x4020_1000, 0x800), (0x4020_17c0, 0x100), (0x100, 1)];
    let p = CleanPlan::new(CTR_QEMU_MAX, &ranges).unwrap();
    assert_eq!(
        p.runs(),
        [LineRun { first: 0x100, last: 0x100 }, LineRun { first: 0x4020_0000, last: 0x4020_1880 }]
    );
    assert_eq!(p.line_count(), 1 + 0x1880 / 64 + 1);
    // Adjacent only in lines: 0x..103f and 0x..1040 share no line but
    // touch, so one run.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1040, 0x40), (0x1000, 0x40)]).unwrap();
    assert_eq!(p.runs(), [LineRun { first: 0x1000, last: 0x1040 }]);
    // A gap of one line: two runs.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1000, 0x40), (0x1080, 0x40)]).unwrap();
    assert_eq!(p.runs().len(), 2);
    // Contained range.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(0x1000, 0x1000), (0x1100, 0x10)]).unwrap();
    assert_eq!(p.runs(), [LineRun { first: 0x1000, last: 0x1fc0 }]);
}

#[test]
fn a_range_ending_at_the_top_of_memory() {
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(u64::MAX - 99, 100)]).unwrap();
    let lines: Vec<u64> = p.lines().collect();
    assert_eq!(lines, [u64::MAX - 127, u64::MAX - 63]);
    assert_eq!(p.runs(), [LineRun { first: u64::MAX - 127, last: u64::MAX - 63 }]);
    // The last byte alone, and merged with a range just below.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(u64::MAX, 1), (u64::MAX - 200, 10)]).unwrap();
    assert_eq!(p.runs().len(), 2);
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(u64::MAX, 1), (u64::MAX - 64, 1)]).unwrap();
    assert_eq!(p.runs(), [LineRun { first: u64::MAX - 127, last: u64::MAX - 63 }]);
    // Two ranges both in the top line.
    let p = CleanPlan::new(CTR_QEMU_MAX, &[(u64::MAX, 1), (u64::MAX - 1, 2)]).unwrap();
    assert_eq!(p.lines().collect::<Vec<_>>(), [u64::MAX - 63]);
    // The whole address space with the largest lines.
    let p = CleanPlan::new(0xf << 16, &[(0, u64::MAX), (u64::MAX, 1)]).unwrap();
    assert_eq!(p.runs(), [LineRun { first: 0, last: u64::MAX - 0x1_ffff }]);
    assert_eq!(p.line_count(), 1 << 47);
    // Past the top: an error, not a wrap.
    assert_eq!(
        CleanPlan::new(CTR_QEMU_MAX, &[(u64::MAX, 2)]),
        Err(Error::CleanRangeWraps { start: u64::MAX, len: 2 })
    );
}

#[test]
fn too_many_ranges() {
    let ranges = [(0x1000, 1); MAX_CLEAN_RANGES + 1];
    assert_eq!(CleanPlan::new(CTR_QEMU_MAX, &ranges), Err(Error::TooManyCleanRanges));
    let p = CleanPlan::new(CTR_QEMU_MAX, &ranges[1..]).unwrap();
    assert_eq!(p.lines().collect::<Vec<_>>(), [0x1000]);
}

/// Against a byte-level model: the plan's lines are exactly the lines
/// that hold a byte of some range, each once, in increasing order.
#[test]
fn lines_match_a_byte_model() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let ctr = (next() % 4) << 16;
        let line = CleanPlan::line_size(ctr);
        let n = (next() % 5) as usize;
        let ranges: Vec<(u64, u64)> = (0..n).map(|_| (next() % 512, next() % 96)).collect();
        let p = CleanPlan::new(ctr, &ranges).unwrap();
        let got: Vec<u64> = p.lines().collect();
        let mut want: Vec<u64> = Vec::new();
        for &(s, len) in &ranges {
            for b in s..s + len {
                want.push(b & !(line - 1));
            }
        }
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want, "{ranges:?} with {line}-byte lines");
        assert_eq!(p.line_count(), want.len() as u64);
        for w in p.runs().windows(2) {
            assert!(w[0].last + line < w[1].first, "runs {w:?} should have merged");
        }
    }
}

#[test]
fn dtb_and_initrd_rules() {
    assert!(dtb_placement_ok(0x4800_0000, 2 * MIB));
    assert!(!dtb_placement_ok(0x4800_0004, 0x1000));
    assert!(!dtb_placement_ok(0x4800_0000, 2 * MIB + 1));
    assert!(!dtb_placement_ok(u64::MAX - 7, 16));

    let kernel = (GIB + 2 * MIB, 40 * MIB);
    assert!(initrd_window_ok(kernel, (2 * GIB, 100 * MIB)));
    assert!(initrd_window_ok(kernel, (33 * GIB - 100 * MIB, 100 * MIB)));
    assert!(!initrd_window_ok(kernel, (33 * GIB - 100 * MIB, 100 * MIB + 1)));
    // Below the kernel, inside the same 1 GiB-aligned window.
    assert!(initrd_window_ok((31 * GIB, MIB), (0, 4 * MIB)));
    assert!(!initrd_window_ok((32 * GIB, MIB), (0, 4 * MIB)));
    assert!(!initrd_window_ok(kernel, (u64::MAX, 2)));
}
