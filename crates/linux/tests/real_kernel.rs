//! The setup header of a real kernel: the first 16 KiB of Debian 12's
//! `vmlinuz-6.1.0-56-amd64` (see `fixtures/README.md`).
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use vmfw_linux::zeropage as zp;
use vmfw_linux::{
    load_initrd_plan, load_kernel_plan, load_params_plan, BzImage, Error, SetupHeader, ZeroPage,
};
use vmfw_memmap::{MemoryMap, MemoryType};

const HEAD: &[u8] = include_bytes!("fixtures/debian12-6.1.0-56-amd64.head16k");
/// Length of the whole `vmlinuz-6.1.0-56-amd64`.
const FULL_LEN: u64 = 8_247_232;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn q35() -> MemoryMap {
    let mut m = vmfw_memmap::testing::q35(2 * GIB);
    m.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    m
}

#[test]
fn parses_debian_6_1_header() {
    assert_eq!(HEAD.len(), 16384);
    let h = SetupHeader::parse(HEAD).unwrap();
    assert_eq!(h.version(), 0x020f, "protocol 2.15");
    assert_eq!(h.setup_sects(), 39);
    assert_eq!(h.setup_size(), 20480);
    assert_eq!(h.syssize(), 0x7d820);
    assert_eq!(h.loadflags(), zp::LOADFLAG_LOADED_HIGH);
    assert_eq!(
        h.xloadflags(),
        zp::XLF_KERNEL_64
            | zp::XLF_CAN_BE_LOADED_ABOVE_4G
            | zp::XLF_EFI_HANDOVER_32
            | zp::XLF_EFI_HANDOVER_64
            | zp::XLF_EFI_KEXEC
            | zp::XLF_5LEVEL
            | zp::XLF_5LEVEL_ENABLED
    );
    assert!(h.can_load_above_4g());
    assert!(h.relocatable());
    assert_eq!(h.kernel_alignment(), 0x20_0000);
    assert_eq!(h.min_alignment(), 0x20_0000, "min_alignment 21");
    assert_eq!(h.pref_address(), 0x100_0000);
    assert_eq!(h.init_size(), 0x3f9_8000);
    assert_eq!(h.cmdline_size(), 2047);
    assert_eq!(h.initrd_addr_max(), 0x7fff_ffff);
    assert_eq!((h.payload_offset(), h.payload_length()), (0x2cc, 0x7b_f070));
    assert_eq!(h.handover_offset(), 0x7c_8db0);
    assert_eq!(h.kernel_info_offset(), Some(0x7d_579c));
    assert_eq!(h.raw().len(), 0x26c - 0x1f1, "jump 0xeb 0x6a");
    // The version string is at 0x44c0, past this 16 KiB prefix.
    assert_eq!(h.kernel_version(HEAD), None);
}

#[test]
fn prefix_is_truncated_for_the_whole_image_check() {
    let h = SetupHeader::parse(HEAD).unwrap();
    let needed = 20480 + 0x7d820 * 16;
    assert_eq!(BzImage::parse(HEAD), Err(Error::Truncated { needed, len: 16384 }));
    assert_eq!(h.protected_mode_len(16384), Err(Error::Truncated { needed, len: 16384 }));
    // The real file is longer than setup + syssize: the Secure Boot
    // signature is appended after the CRC.
    assert_eq!(h.protected_mode_len(FULL_LEN), Ok(FULL_LEN - 20480));
}

#[test]
fn plans_and_builds_a_zero_page_for_it() {
    let h = SetupHeader::parse(HEAD).unwrap();
    let mut map = q35();
    let k = load_kernel_plan(&h, FULL_LEN, &mut map).unwrap();
    assert_eq!((k.addr(), k.size(), k.alignment()), (0x100_0000, 0x3f9_8000, 0x20_0000));
    assert_eq!(k.entry_64(), 0x100_0200);
    let initrd = load_initrd_plan(&h, 40 * MIB, &mut map).unwrap();
    assert_eq!(initrd, 2 * GIB - 40 * MIB);
    let cmdline = b"root=/dev/vda1 console=ttyS0";
    let p = load_params_plan(&h, cmdline.len() as u64, &mut map).unwrap();

    let mut z = ZeroPage::new(&h);
    z.set_kernel(&k);
    z.set_initrd(initrd, 40 * MIB).unwrap();
    z.set_cmdline(p.cmdline, cmdline.len() as u64).unwrap();
    z.set_acpi_rsdp(0xf_5a40);
    // RAM below 640 KiB, EBDA, BIOS area, RAM to 2 GiB, ECAM, the
    // 0xfeffc000 page q35 reserves, RAM above 4 GiB.
    assert_eq!(z.set_e820(&map), Ok(7));
    let b = z.as_bytes();
    assert_eq!(&b[0x1f1..0x210], &HEAD[0x1f1..0x210]);
    assert_eq!(&b[0x22c..0x23c], &HEAD[0x22c..0x23c]);
    assert_eq!(&b[0x258..0x26c], &HEAD[0x258..0x26c]);
    assert_eq!(b[0x210], 0xff);
    assert_eq!(u32::from_le_bytes(b[0x214..0x218].try_into().unwrap()), 0x100_0000);
    assert_eq!(u32::from_le_bytes(b[0x228..0x22c].try_into().unwrap()) as u64, p.cmdline);
    assert_eq!(b[0x1ef], 0, "sentinel (0xff in the file) stays clear");
    assert_eq!(HEAD[0x1ef], 0xff);
}
