//! Setup header parsing and whole-image validation.

use super::*;
use crate::{load_initrd_plan, load_kernel_plan, load_params_plan, BzImage, Error, SetupHeader};
use crate::{ZeroPage, MIN_PROTOCOL};

fn parse(s: &Synth) -> Result<SetupHeader, Error> {
    SetupHeader::parse(&s.image())
}

/// Parse with one header byte at `off` replaced.
fn parse_with(off: usize, v: &[u8]) -> Result<SetupHeader, Error> {
    let mut img = Synth::default().image();
    img[off..off + v.len()].copy_from_slice(v);
    SetupHeader::parse(&img)
}

#[test]
fn parses_a_synthetic_header() {
    let s = Synth::default();
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    assert_eq!(h.version(), 0x020f);
    assert_eq!(h.setup_sects(), 4);
    assert_eq!(h.setup_size(), 0xa00);
    assert_eq!(h.syssize(), 0x100);
    assert_eq!(h.loadflags(), zp::LOADFLAG_LOADED_HIGH);
    assert_eq!(h.xloadflags(), zp::XLF_KERNEL_64 | zp::XLF_CAN_BE_LOADED_ABOVE_4G);
    assert!(h.can_load_above_4g());
    assert!(h.relocatable());
    assert_eq!(h.kernel_alignment(), 0x20_0000);
    assert_eq!(h.min_alignment(), 0x20_0000);
    assert_eq!(h.pref_address(), 0x100_0000);
    assert_eq!(h.init_size(), 0x200_0000);
    assert_eq!(h.cmdline_size(), 2047);
    assert_eq!(h.initrd_addr_max(), 0x7fff_ffff);
    assert_eq!((h.payload_offset(), h.payload_length()), (0x200, 0x800));
    assert_eq!(h.handover_offset(), 0x190);
    assert_eq!(h.kernel_info_offset(), Some(0xc00));
    assert_eq!(h.raw(), &img[0x1f1..0x26c]);
    assert_eq!(h.kernel_version(&img), Some(SYNTH_VERSION));
    // Debug output is one readable line, not the raw bytes.
    let dbg = std::format!("{h:?}");
    assert!(dbg.contains("pref_address: 0x1000000"), "{dbg}");
}

#[test]
fn header_only_parse_needs_only_the_header() {
    let img = Synth::default().image();
    let h = SetupHeader::parse(&img[..0x26c]).unwrap();
    assert_eq!(h, SetupHeader::parse(&img).unwrap());
    assert_eq!(
        SetupHeader::parse(&img[..0x26b]),
        Err(Error::Truncated { needed: 0x26c, len: 0x26b })
    );
    // The whole-image check on the same prefix reports the missing code.
    assert_eq!(
        BzImage::parse(&img[..0x26c]),
        Err(Error::Truncated { needed: 0xa00 + 0x1000, len: 0x26c })
    );
}

#[test]
fn every_truncation_is_an_error_and_never_panics() {
    let img = Synth::default().image();
    for len in 0..img.len() {
        let prefix = &img[..len];
        let h = SetupHeader::parse(prefix);
        assert_eq!(h.is_ok(), len >= 0x26c, "len {len}");
        // Every prefix of a valid image fails for the same reason.
        match BzImage::parse(prefix) {
            Err(Error::Truncated { needed, len: l }) => {
                assert!(needed > l, "len {len}");
                assert_eq!(l, len as u64);
            }
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    assert!(BzImage::parse(&img).is_ok());
}

#[test]
fn specific_corruptions_give_specific_errors() {
    assert_eq!(parse_with(zp::BOOT_FLAG, &[0x55, 0x55]), Err(Error::BadBootFlag(0x5555)));
    assert_eq!(parse_with(zp::HEADER, b"HdrX"), Err(Error::NotABzImage));
    assert_eq!(parse_with(zp::VERSION, &[0x0b, 0x02]), Err(Error::ProtocolTooOld(0x020b)));
    assert_eq!(parse_with(zp::VERSION, &[0x06, 0x02]), Err(Error::ProtocolTooOld(0x0206)));
    assert_eq!(parse_with(zp::JUMP_OFFSET, &[0x65]), Err(Error::BadHeaderLength(0x65)));
    assert_eq!(parse_with(zp::JUMP_OFFSET, &[0x80]), Err(Error::BadHeaderLength(0x80)));
    assert_eq!(parse_with(zp::JUMP_OFFSET, &[0xff]), Err(Error::BadHeaderLength(0xff)));
    assert_eq!(parse_with(zp::LOADFLAGS, &[0x80]), Err(Error::NotLoadedHigh));
    assert_eq!(parse_with(zp::XLOADFLAGS, &[0x02, 0]), Err(Error::Not64Bit));
    assert_eq!(
        parse_with(zp::KERNEL_ALIGNMENT, &0x30_0000u32.to_le_bytes()),
        Err(Error::BadAlignment(0x30_0000))
    );
    assert_eq!(parse_with(zp::KERNEL_ALIGNMENT, &[0; 4]), Err(Error::BadAlignment(0)));
    assert_eq!(parse_with(zp::MIN_ALIGNMENT, &[22]), Err(Error::BadMinAlignment(22)));
    assert_eq!(parse_with(zp::MIN_ALIGNMENT, &[32]), Err(Error::BadMinAlignment(32)));
    assert_eq!(parse_with(zp::MIN_ALIGNMENT, &[0xff]), Err(Error::BadMinAlignment(0xff)));
    assert_eq!(parse_with(zp::PREF_ADDRESS, &[0; 8]), Err(Error::BadPrefAddress(0)));
    assert_eq!(
        parse_with(zp::PREF_ADDRESS, &0x100_0800u64.to_le_bytes()),
        Err(Error::BadPrefAddress(0x100_0800))
    );
    let top = !0xfffu64;
    assert_eq!(parse_with(zp::PREF_ADDRESS, &top.to_le_bytes()), Err(Error::BadPrefAddress(top)));
    assert_eq!(parse_with(zp::INIT_SIZE, &[0; 4]), Err(Error::BadInitSize));
    // An empty or tiny file.
    assert_eq!(SetupHeader::parse(&[]), Err(Error::Truncated { needed: 0x200, len: 0 }));
    assert_eq!(
        SetupHeader::parse(&[0u8; 0x1ff]),
        Err(Error::Truncated { needed: 0x200, len: 0x1ff })
    );
    assert_eq!(SetupHeader::parse(&[0u8; 0x200]), Err(Error::BadBootFlag(0)));
    let mut boot_sector_only = [0u8; 0x200];
    boot_sector_only[0x1fe..].copy_from_slice(&[0x55, 0xaa]);
    assert_eq!(
        SetupHeader::parse(&boot_sector_only),
        Err(Error::Truncated { needed: 0x206, len: 0x200 })
    );
}

#[test]
fn checks_that_need_the_whole_image() {
    let s = Synth::default();
    let full = s.image().len() as u64;
    let h = parse(&s).unwrap();
    assert_eq!(h.protected_mode_len(full), Ok(0x1000));
    assert_eq!(
        h.protected_mode_len(full - 1),
        Err(Error::Truncated { needed: full, len: full - 1 })
    );
    // Bytes past syssize (an appended signature) are part of the kernel.
    assert_eq!(h.protected_mode_len(full + 1472), Ok(0x1000 + 1472));

    // syssize larger than the file.
    let big = Synth { syssize: Some(0x101), ..Synth::default() };
    let img = big.image();
    assert_eq!(
        BzImage::parse(&img),
        Err(Error::Truncated { needed: img.len() as u64 + 16, len: img.len() as u64 })
    );
    // No room for even the 64-bit entry point.
    let stub = Synth { kernel_len: 0x200, payload_length: 0, ..Synth::default() };
    let img = stub.image();
    assert_eq!(
        BzImage::parse(&img),
        Err(Error::Truncated { needed: img.len() as u64 + 1, len: img.len() as u64 })
    );
    // Payload beyond the protected-mode code.
    let bad = Synth { payload_offset: 0x900, payload_length: 0x800, ..Synth::default() };
    assert_eq!(
        BzImage::parse(&bad.image()),
        Err(Error::BadPayload { offset: 0x900, length: 0x800 })
    );
    let huge = Synth { payload_offset: u32::MAX, payload_length: u32::MAX, ..Synth::default() };
    assert!(matches!(BzImage::parse(&huge.image()), Err(Error::BadPayload { .. })));
}

#[test]
fn bzimage_splits_setup_and_kernel() {
    let s = Synth::default();
    let img = s.image();
    let bz = BzImage::parse(&img).unwrap();
    assert_eq!(bz.setup(), &img[..0xa00]);
    assert_eq!(bz.kernel(), &img[0xa00..]);
    assert_eq!(bz.len(), img.len() as u64);
    assert!(!bz.is_empty());
    assert_eq!(bz.kernel_version(), Some(SYNTH_VERSION));
    assert_eq!(bz.header().setup_size(), 0xa00);
}

#[test]
fn setup_sects_zero_means_four() {
    let s = Synth { setup_sects: 0, ..Synth::default() };
    let img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    assert_eq!(h.setup_sects(), 4);
    assert_eq!(h.setup_size(), 5 * 512);
    let one = Synth { setup_sects: 1, ..Synth::default() };
    let img = one.image();
    let bz = BzImage::parse(&img).unwrap();
    assert_eq!(bz.kernel().len(), 0x1000);
    // The version string would be outside the setup code: not reported.
    assert_eq!(bz.kernel_version(), None);
}

#[test]
fn optional_and_defaulted_fields() {
    // A 2.12 header that ends right after handover_offset.
    let s = Synth { version: 0x020c, jump: 0x66, ..Synth::default() };
    let h = parse(&s).unwrap();
    assert_eq!(h.kernel_info_offset(), None);
    assert_eq!(h.raw().len(), 0x268 - 0x1f1);
    assert_eq!(MIN_PROTOCOL, 0x020c);
    // A 2.15 header that is too short for kernel_info_offset.
    let s = Synth { jump: 0x68, ..Synth::default() };
    assert_eq!(parse(&s).unwrap().kernel_info_offset(), None);
    // The longest header the jump byte can describe.
    let s = Synth { jump: 0x7f, ..Synth::default() };
    assert_eq!(parse(&s).unwrap().raw().len(), 0x281 - 0x1f1);
    // initrd_addr_max of 0 reads as the protocol default.
    let s = Synth { initrd_addr_max: 0, ..Synth::default() };
    assert_eq!(parse(&s).unwrap().initrd_addr_max(), 0x37ff_ffff);
    // min_alignment of 0: nothing below kernel_alignment.
    let s = Synth { min_alignment: 0, kernel_alignment: 0x100_0000, ..Synth::default() };
    assert_eq!(parse(&s).unwrap().min_alignment(), 0x100_0000);
    let s = Synth { min_alignment: 21, kernel_alignment: 0x100_0000, ..Synth::default() };
    assert_eq!(parse(&s).unwrap().min_alignment(), 0x20_0000);
}

#[test]
fn kernel_version_is_bounded_by_the_setup_code() {
    let s = Synth::default();
    let mut img = s.image();
    let h = SetupHeader::parse(&img).unwrap();
    // No NUL before the end of the setup code.
    img[0x600..0xa00].fill(b'x');
    assert_eq!(h.kernel_version(&img), None);
    // Not UTF-8.
    img[0x600] = 0xff;
    img[0x601] = 0;
    assert_eq!(h.kernel_version(&img), None);
    // Pointer past the setup code, or absent.
    img[zp::KERNEL_VERSION..zp::KERNEL_VERSION + 2].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(SetupHeader::parse(&img).unwrap().kernel_version(&img), None);
    img[zp::KERNEL_VERSION..zp::KERNEL_VERSION + 2].fill(0);
    assert_eq!(SetupHeader::parse(&img).unwrap().kernel_version(&img), None);
}

/// Runs everything the firmware would on `img` against a q35 map; must
/// never panic, whatever the bytes.
pub(crate) fn whole_flow(img: &[u8]) {
    let Ok(h) = SetupHeader::parse(img) else { return };
    let _ = h.kernel_version(img);
    let _ = BzImage::parse(img);
    let mut map = q35();
    let mut page = ZeroPage::new(&h);
    if let Ok(k) = load_kernel_plan(&h, img.len() as u64, &mut map) {
        assert!(k.addr() >= h.pref_address());
        assert!(k.addr() + k.size() <= 4 * GIB);
        page.set_kernel(&k);
    }
    if let Ok(a) = load_initrd_plan(&h, 3 * MIB, &mut map) {
        page.set_initrd(a, 3 * MIB).unwrap();
    }
    if let Ok(p) = load_params_plan(&h, 100, &mut map) {
        page.set_cmdline(p.cmdline, 100).unwrap();
    }
    page.set_e820(&map).unwrap();
}

#[test]
fn one_byte_mutations_never_panic() {
    let img = Synth::default().image();
    let mut accepted = 0;
    for off in 0..0x300 {
        let orig = img[off];
        for v in [0u8, 1, 0x15, 0x7f, 0x80, 0xff, orig ^ 1, orig ^ 0x80, orig.wrapping_add(1)] {
            let mut m = img.clone();
            m[off] = v;
            whole_flow(&m);
            accepted += usize::from(SetupHeader::parse(&m).is_ok());
        }
    }
    // Most mutations land in fields the parser ignores.
    assert!(accepted > 0x300);
}

#[test]
fn display_says_what_is_wrong() {
    let e = Error::ProtocolTooOld(0x0206);
    assert_eq!(std::format!("{e}"), "boot protocol 2.06 too old (need 2.12)");
    let e = Error::CmdlineTooLong { len: 3000, max: 2047 };
    assert_eq!(std::format!("{e}"), "command line is 3000 bytes, kernel accepts 2047");
}
