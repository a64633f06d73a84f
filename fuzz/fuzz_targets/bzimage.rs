//! bzImage: arbitrary bytes are a kernel file. Parse the setup header; if
//! it is accepted, check the whole-image rules, plan kernel, initrd and
//! boot parameters in fixed memory maps (a q35 VM and a 128 MiB VM), and
//! build the zero page, checking the planner's promises on the way.
//!
//! Planning runs twice: with the input's own length (a whole file) and with
//! the length the header claims (setup + `syssize` paragraphs), as when the
//! firmware parses just the first sectors of a file before reading the rest
//! straight into place; so a header-only seed such as the real kernel's
//! first 16 KiB still reaches the planner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_linux::zeropage as zp;
use vmfw_linux::{
    load_initrd_plan, load_kernel_plan, load_params_plan, BzImage, Error, SetupHeader, ZeroPage,
    FOUR_GIB,
};
use vmfw_memmap::{MemoryMap, MemoryType};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn q35() -> MemoryMap {
    let mut m = vmfw_memmap::testing::q35(3 * GIB);
    m.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    m
}

fn tiny() -> MemoryMap {
    let mut m = vmfw_memmap::testing::small(128 * MIB);
    m.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    m
}

fn boot(h: &SetupHeader, image_len: u64, mut map: MemoryMap) {
    let mut page = ZeroPage::new(h);
    match load_kernel_plan(h, image_len, &mut map) {
        Ok(k) => {
            assert!(k.addr() >= h.pref_address());
            assert!(k.addr() + k.size() <= FOUR_GIB);
            assert!(k.size() >= u64::from(h.init_size()));
            assert!(k.alignment().is_power_of_two());
            if h.relocatable() {
                assert_eq!(k.addr() % u64::from(k.alignment()), 0);
                let page = 4096u64;
                let min = u64::from(h.min_alignment()).max(page);
                let max = u64::from(h.kernel_alignment()).max(page);
                assert!((min..=max).contains(&u64::from(k.alignment())));
            } else {
                assert_eq!(k.addr(), h.pref_address());
            }
            assert_eq!(map.type_at(k.addr()), Some(MemoryType::LoaderData));
            assert_eq!(map.type_at(k.addr() + k.size() - 1), Some(MemoryType::LoaderData));
            page.set_kernel(&k);
        }
        Err(Error::NoRoomForKernel { .. } | Error::KernelAddressTaken(_)) => {}
        Err(Error::Truncated { .. } | Error::BadPayload { .. }) => {
            assert!(h.protected_mode_len(image_len).is_err())
        }
        Err(e) => panic!("unexpected kernel placement error {e:?}"),
    }
    for len in [16 * MIB, 3 * GIB] {
        match load_initrd_plan(h, len, &mut map) {
            Ok(addr) => {
                if !h.can_load_above_4g() {
                    assert!(addr + len - 1 <= u64::from(h.initrd_addr_max()));
                }
                page.set_initrd(addr, len).unwrap();
            }
            Err(e) => assert_eq!(e, Error::NoRoomForInitrd { size: len }),
        }
    }
    let len = u64::from(h.cmdline_size().min(4096));
    match load_params_plan(h, len, &mut map) {
        Ok(p) => {
            assert!(h.can_load_above_4g() || p.zero_page + p.size <= FOUR_GIB);
            page.set_cmdline(p.cmdline, len).unwrap();
        }
        Err(e) => assert!(matches!(e, Error::NoRoomForParams { .. }), "{e:?}"),
    }
    let too_long = u64::from(h.cmdline_size()) + 1;
    assert!(matches!(load_params_plan(h, too_long, &mut map), Err(Error::CmdlineTooLong { .. })));
    page.set_acpi_rsdp(0xf_5a40);
    page.set_e820(&map).unwrap();
    let b = page.as_bytes();
    assert_eq!(b[zp::TYPE_OF_LOADER], zp::LOADER_TYPE_UNDEFINED);
    assert_eq!(b[zp::SENTINEL], 0);
    // The header up to realmode_swtch is the file's, untouched.
    let n = zp::REALMODE_SWTCH - zp::SETUP_HEADER;
    assert_eq!(&b[zp::SETUP_HEADER..zp::REALMODE_SWTCH], &h.raw()[..n]);
}

fuzz_target!(|data: &[u8]| {
    let Ok(h) = SetupHeader::parse(data) else { return };
    assert!(h.version() >= vmfw_linux::MIN_PROTOCOL);
    let _ = h.kernel_version(data);
    match BzImage::parse(data) {
        Ok(bz) => {
            assert_eq!(bz.len(), data.len() as u64);
            assert_eq!(bz.setup().len() as u64, h.setup_size());
            assert_eq!(Ok(bz.kernel().len() as u64), h.protected_mode_len(data.len() as u64));
        }
        Err(_) => assert!(h.protected_mode_len(data.len() as u64).is_err()),
    }
    let claimed = h.setup_size() + u64::from(h.syssize()) * 16;
    for len in [data.len() as u64, claimed, claimed.max(h.setup_size() + 0x201)] {
        boot(&h, len, q35());
        boot(&h, len, tiny());
    }
});
