//! Inputs the `pe` fuzz target found, kept so the fixes stay fixed.

use vmfw_pe::{Error, PeImage};

/// A relocation block whose DIR64 fixup points into the image's own
/// headers: loading relocated it over the "MZ" signature. Fixups below
/// SizeOfHeaders are refused now.
#[test]
fn relocation_into_the_headers_is_refused() {
    let file = include_bytes!("fixtures/fuzz-reloc-in-headers.efi");
    let img = PeImage::parse(file).expect("the header checks accept it");
    let align = u64::from(img.section_alignment());
    let mut dest = vec![0u8; img.size_of_image() as usize];
    // At an aligned address the relocation is applied, so it must be refused.
    let at = (0x1_2340_0000u64).div_ceil(align) * align;
    match img.load_into(file, &mut dest, at) {
        Err(Error::RelocationInHeaders(rva)) => assert!(rva < u64::from(img.size_of_headers())),
        other => panic!("expected RelocationInHeaders, got {other:?}"),
    }
    // Its own ImageBase is misaligned; whatever the loader says there, it
    // never hands back patched headers.
    if img.load_into(file, &mut dest, img.image_base()).is_ok() {
        assert_eq!(&dest[..2], b"MZ");
    }
}
