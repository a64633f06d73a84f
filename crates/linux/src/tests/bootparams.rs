//! The zero page builder, checked byte by byte against the offsets of
//! boot.rst and zero-page.rst (written out here as literals, not through
//! the constants under test).

use super::*;
use crate::{load_initrd_plan, load_kernel_plan, Error, SetupHeader, ZeroPage};
use vmfw_memmap::PAGE_SIZE;

fn u16_at(p: &[u8], off: usize) -> u16 {
    vmfw_bytes::u16_at(p, off).unwrap()
}
fn u32_at(p: &[u8], off: usize) -> u32 {
    vmfw_bytes::u32_at(p, off).unwrap()
}
fn u64_at(p: &[u8], off: usize) -> u64 {
    vmfw_bytes::u64_at(p, off).unwrap()
}

fn page_for(s: &Synth) -> (ZeroPage, Vec<u8>) {
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    (ZeroPage::new(&h), img)
}

/// E820 entries `(addr, size, type)` as the kernel would read them.
fn e820(p: &[u8]) -> Vec<(u64, u64, u32)> {
    (0..usize::from(p[0x1e8]))
        .map(|i| {
            let off = 0x2d0 + 20 * i;
            (u64_at(p, off), u64_at(p, off + 8), u32_at(p, off + 16))
        })
        .collect()
}

#[test]
fn offsets_match_boot_rst_and_zero_page_rst() {
    let table: &[(&str, usize, usize)] = &[
        ("acpi_rsdp_addr", zp::ACPI_RSDP_ADDR, 0x070),
        ("ext_ramdisk_image", zp::EXT_RAMDISK_IMAGE, 0x0c0),
        ("ext_ramdisk_size", zp::EXT_RAMDISK_SIZE, 0x0c4),
        ("ext_cmd_line_ptr", zp::EXT_CMD_LINE_PTR, 0x0c8),
        ("e820_entries", zp::E820_ENTRIES, 0x1e8),
        ("sentinel", zp::SENTINEL, 0x1ef),
        ("setup_sects", zp::SETUP_SECTS, 0x1f1),
        ("root_flags", zp::ROOT_FLAGS, 0x1f2),
        ("syssize", zp::SYSSIZE, 0x1f4),
        ("vid_mode", zp::VID_MODE, 0x1fa),
        ("root_dev", zp::ROOT_DEV, 0x1fc),
        ("boot_flag", zp::BOOT_FLAG, 0x1fe),
        ("jump", zp::JUMP, 0x200),
        ("header", zp::HEADER, 0x202),
        ("version", zp::VERSION, 0x206),
        ("realmode_swtch", zp::REALMODE_SWTCH, 0x208),
        ("kernel_version", zp::KERNEL_VERSION, 0x20e),
        ("type_of_loader", zp::TYPE_OF_LOADER, 0x210),
        ("loadflags", zp::LOADFLAGS, 0x211),
        ("code32_start", zp::CODE32_START, 0x214),
        ("ramdisk_image", zp::RAMDISK_IMAGE, 0x218),
        ("ramdisk_size", zp::RAMDISK_SIZE, 0x21c),
        ("heap_end_ptr", zp::HEAP_END_PTR, 0x224),
        ("ext_loader_ver", zp::EXT_LOADER_VER, 0x226),
        ("ext_loader_type", zp::EXT_LOADER_TYPE, 0x227),
        ("cmd_line_ptr", zp::CMD_LINE_PTR, 0x228),
        ("initrd_addr_max", zp::INITRD_ADDR_MAX, 0x22c),
        ("kernel_alignment", zp::KERNEL_ALIGNMENT, 0x230),
        ("relocatable_kernel", zp::RELOCATABLE_KERNEL, 0x234),
        ("min_alignment", zp::MIN_ALIGNMENT, 0x235),
        ("xloadflags", zp::XLOADFLAGS, 0x236),
        ("cmdline_size", zp::CMDLINE_SIZE, 0x238),
        ("hardware_subarch", zp::HARDWARE_SUBARCH, 0x23c),
        ("hardware_subarch_data", zp::HARDWARE_SUBARCH_DATA, 0x240),
        ("payload_offset", zp::PAYLOAD_OFFSET, 0x248),
        ("payload_length", zp::PAYLOAD_LENGTH, 0x24c),
        ("setup_data", zp::SETUP_DATA, 0x250),
        ("pref_address", zp::PREF_ADDRESS, 0x258),
        ("init_size", zp::INIT_SIZE, 0x260),
        ("handover_offset", zp::HANDOVER_OFFSET, 0x264),
        ("kernel_info_offset", zp::KERNEL_INFO_OFFSET, 0x268),
        ("e820_table", zp::E820_TABLE, 0x2d0),
    ];
    for (name, ours, doc) in table {
        assert_eq!(ours, doc, "{name}");
    }
    // "2D0/A00 e820_table": 128 entries of 20 bytes.
    assert_eq!(zp::E820_MAX * zp::E820_ENTRY_SIZE, 0xa00);
    // The longest setup header stays inside the hole before 0x290.
    const _: () = assert!(zp::SETUP_HEADER_MAX_END <= 0x290);
    assert_eq!(zp::HEADER_MAGIC.to_le_bytes(), *b"HdrS");
}

#[test]
fn new_copies_the_header_and_sets_loader_fields() {
    let s = Synth { loadflags: 0x01 | 0x20 | 0x40 | 0x80 | 0x02, ..Synth::default() };
    let (z, img) = page_for(&s);
    let p = z.as_bytes();
    assert_eq!(p.len(), 4096);
    // Nothing before the header, not even the sentinel.
    assert!(p[..0x1f1].iter().all(|b| *b == 0));
    // The header, except the fields a loader writes, is the file's.
    let written = [
        0x208..0x20c, // realmode_swtch
        0x210..0x212, // type_of_loader, loadflags
        0x214..0x220, // code32_start, ramdisk_image, ramdisk_size
        0x224..0x22c, // heap_end_ptr, ext_loader_*, cmd_line_ptr
        0x23c..0x248, // hardware_subarch(_data)
        0x250..0x258, // setup_data
    ];
    for off in 0x1f1..0x26c {
        if !written.iter().any(|r| r.contains(&off)) {
            assert_eq!(p[off], img[off], "offset {off:#x}");
        }
    }
    assert_eq!(p[0x210], 0xff, "type_of_loader");
    assert_eq!((p[0x226], p[0x227]), (0, 0), "ext_loader_ver/type");
    assert_eq!(p[0x211], 0x01, "loadflags: LOADED_HIGH only");
    assert_eq!(u16_at(p, 0x224), 0, "heap_end_ptr");
    assert_eq!(u32_at(p, 0x214), 0, "code32_start until set_kernel");
    assert_eq!(u16_at(p, 0x1fa), 0xffff, "vid_mode kept");
    assert_eq!(u32_at(p, 0x238), 2047, "cmdline_size kept");
    // Nothing after the header.
    assert!(p[0x26c..].iter().all(|b| *b == 0));
}

#[test]
fn a_short_header_copies_only_itself() {
    let s = Synth { version: 0x020c, jump: 0x66, ..Synth::default() };
    let (z, img) = page_for(&s);
    assert_ne!(&img[0x268..0x26c], &[0; 4]);
    assert_eq!(&z.as_bytes()[0x268..0x26c], &[0; 4]);
}

#[test]
fn kernel_fields() {
    let s = Synth { kernel_alignment: 0x100_0000, ..Synth::default() };
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    let mut map = MemoryMap::new();
    map.add(MIB, 59 * MIB, MemoryType::Free).unwrap();
    map.reserve(16 * MIB, 2 * MIB, MemoryType::FirmwareData).unwrap();
    let k = load_kernel_plan(&h, img.len() as u64, &mut map).unwrap();
    let mut z = ZeroPage::new(&h);
    assert_eq!(u32_at(z.as_bytes(), 0x230), 0x100_0000);
    z.set_kernel(&k);
    let p = z.as_bytes();
    assert_eq!(u32_at(p, 0x214), 24 * MIB as u32, "code32_start");
    assert_eq!(u32_at(p, 0x230), 8 * MIB as u32, "kernel_alignment: what was used");
}

#[test]
fn command_line_fields() {
    let (mut z, _) = page_for(&Synth::default());
    z.set_cmdline(0x7fff_e000, 2047).unwrap();
    assert_eq!(u32_at(z.as_bytes(), 0x228), 0x7fff_e000);
    assert_eq!(u32_at(z.as_bytes(), 0xc8), 0);
    assert_eq!(z.set_cmdline(0x1000, 2048), Err(Error::CmdlineTooLong { len: 2048, max: 2047 }));
    // Above 4 GiB with XLF_CAN_BE_LOADED_ABOVE_4G: both halves.
    z.set_cmdline(0x1_2345_6000, 10).unwrap();
    assert_eq!(u32_at(z.as_bytes(), 0x228), 0x2345_6000);
    assert_eq!(u32_at(z.as_bytes(), 0xc8), 1);
    assert_eq!(z.set_cmdline(u64::MAX, 1), Err(Error::CmdlineTooHigh { last: u64::MAX }));

    // Without the flag the NUL must be below 4 GiB.
    let low = Synth { xloadflags: zp::XLF_KERNEL_64, cmdline_size: 0x1000, ..Synth::default() };
    let (mut z, _) = page_for(&low);
    z.set_cmdline(0xffff_f000, 0xfff).unwrap();
    assert_eq!(z.set_cmdline(0xffff_f000, 0x1000), Err(Error::CmdlineTooHigh { last: 1 << 32 }));
    assert_eq!(u32_at(z.as_bytes(), 0x228), 0xffff_f000, "failed calls change nothing");
}

#[test]
fn initrd_fields_with_and_without_above_4g() {
    // q35 with a 2.5 GiB initrd: only fits above 4 GiB.
    let len = 2 * GIB + GIB / 2;
    let s = Synth::default();
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    let mut map = q35();
    let a = load_initrd_plan(&h, len, &mut map).unwrap();
    let mut z = ZeroPage::new(&h);
    z.set_initrd(a, len).unwrap();
    let p = z.as_bytes();
    assert_eq!((u32_at(p, 0x218), u32_at(p, 0xc0)), (0, 1), "ramdisk_image");
    assert_eq!((u32_at(p, 0x21c), u32_at(p, 0xc4)), (0xa000_0000, 0), "ramdisk_size");

    // A kernel without the flag refuses the same placement.
    let (mut z, _) = page_for(&Synth { xloadflags: zp::XLF_KERNEL_64, ..Synth::default() });
    assert_eq!(
        z.set_initrd(4 * GIB, len),
        Err(Error::InitrdTooHigh { last: 4 * GIB + len - 1, max: 0x7fff_ffff })
    );
    // initrd_addr_max is the last byte allowed.
    z.set_initrd(0x8000_0000 - 0x2_0000, 0x2_0000).unwrap();
    assert_eq!(
        z.set_initrd(0x8000_0000 - 0x2_0000, 0x2_0001),
        Err(Error::InitrdTooHigh { last: 0x8000_0000, max: 0x7fff_ffff })
    );
    assert_eq!(u32_at(z.as_bytes(), 0x218), 0x7ffe_0000);
    assert_eq!(u32_at(z.as_bytes(), 0x21c), 0x2_0000);
    assert_eq!(z.set_initrd(0x1000, 0), Err(Error::EmptyInitrd));
    // Overflowing ranges are refused, even with the flag.
    let (mut z, _) = page_for(&Synth::default());
    assert!(matches!(z.set_initrd(u64::MAX, 2), Err(Error::InitrdTooHigh { .. })));
}

#[test]
fn rsdp_and_setup_data() {
    let (mut z, _) = page_for(&Synth::default());
    z.set_acpi_rsdp(0xf_5a40);
    z.set_setup_data(0x1_0000_1000);
    assert_eq!(u64_at(z.as_bytes(), 0x70), 0xf_5a40);
    assert_eq!(u64_at(z.as_bytes(), 0x250), 0x1_0000_1000);
}

#[test]
fn e820_merges_equal_types() {
    let s = Synth::default();
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    let mut map = q35();
    let k = load_kernel_plan(&h, img.len() as u64, &mut map).unwrap();
    map.reserve(0x7000, PAGE_SIZE, MemoryType::AcpiReclaim).unwrap();
    let mut z = ZeroPage::new(&h);
    z.set_kernel(&k);
    assert_eq!(z.set_e820(&map), Ok(9));
    // Firmware code at 1-2 MiB and the kernel at 16-48 MiB are RAM, merged
    // with the free RAM around them into one entry.
    assert_eq!(
        e820(z.as_bytes()),
        [
            (0, 0x7000, 1),
            (0x7000, 0x1000, 3),
            (0x8000, 0x9f000 - 0x8000, 1),
            (0x9f000, 0x1000, 2),
            (0xf0000, 0x10000, 2),
            (MIB, 2 * GIB - MIB, 1),
            (0xb000_0000, 0x1000_0000, 2),
            (0xfeff_c000, 0x4000, 2),
            (4 * GIB, 3 * GIB, 1),
        ]
    );
}

#[test]
fn e820_limit_is_128_entries() {
    // 2n alternating pages of RAM and reserved memory: 2n entries.
    let alternating = |n: u64| {
        let mut m = MemoryMap::new();
        for i in 0..2 * n {
            let ty = if i % 2 == 0 { MemoryType::Free } else { MemoryType::Reserved };
            m.add(i * PAGE_SIZE, PAGE_SIZE, ty).unwrap();
        }
        m
    };
    let (mut z, _) = page_for(&Synth::default());
    assert_eq!(z.set_e820(&alternating(64)), Ok(128));
    assert_eq!(z.as_bytes()[0x1e8], 128);
    let last = 0x2d0 + 127 * 20;
    assert_eq!(u64_at(z.as_bytes(), last), 127 * PAGE_SIZE);
    assert_eq!(u32_at(z.as_bytes(), last + 16), 2);

    let mut big = alternating(64);
    big.add(128 * PAGE_SIZE, PAGE_SIZE, MemoryType::Free).unwrap();
    assert_eq!(z.set_e820(&big), Err(Error::TooManyE820Entries(129)));
    assert_eq!(z.as_bytes()[0x1e8], 128, "unchanged on failure");

    // A shorter table replaces a longer one completely.
    assert_eq!(z.set_e820(&tiny()), Ok(2));
    assert_eq!(z.as_bytes()[0x1e8], 2);
    assert_eq!(e820(z.as_bytes()), [(0, 0x9f000, 1), (MIB, 127 * MIB, 1)]);
    assert!(z.as_bytes()[0x2d0 + 2 * 20..0xcd0].iter().all(|b| *b == 0));
    assert_eq!(z.set_e820(&MemoryMap::new()), Ok(0));
}

#[test]
fn ram_above_64_gib_is_used_and_handed_on() {
    // A VMM declaring 1 TiB above 4 GiB (or a hotplug range the host cannot
    // back here): the kernel and initrd still go below 4 GiB where the
    // protocol wants them, an initrd too large for low memory goes high,
    // and the E820 table hands every byte on.
    let mut map = vmfw_memmap::testing::q35(1 << 40);
    map.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    let s = Synth::default();
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    let k = load_kernel_plan(&h, img.len() as u64, &mut map).unwrap();
    let len = 3 * GIB;
    let initrd = load_initrd_plan(&h, len, &mut map).unwrap();
    assert!(initrd >= 4 * GIB && initrd + len <= 4 * GIB + (1 << 40), "initrd at {initrd:#x}");
    let mut z = ZeroPage::new(&h);
    z.set_kernel(&k);
    z.set_initrd(initrd, len).unwrap();
    assert_eq!(z.set_e820(&map), Ok(7));
    let table = e820(z.as_bytes());
    assert_eq!(table.last(), Some(&(4 * GIB, 1 << 40, 1)), "{table:x?}");
    assert_eq!(map.ram_end(), 4 * GIB + (1 << 40));
}
