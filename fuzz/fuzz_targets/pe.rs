//! PE32+ images: arbitrary bytes are an `.efi` file. Parse it; if it is
//! accepted (and small enough to allocate quickly), check the accessors'
//! promises and load it at its own base and at another aligned address.
//! Nothing may panic, and a successful load must contain each section's
//! file content at its RVA.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_pe::{Error, PeImage};

fn load(img: &PeImage, data: &[u8], at: u64) {
    let mut dest = vec![0xa5u8; img.size_of_image() as usize];
    match img.load_into(data, &mut dest, at) {
        Ok(()) => {
            // Fixups may change section bytes; without relocations every
            // section must hold exactly its file content.
            if img.reloc_directory().is_none() {
                for s in img.sections() {
                    let r = s.file_range();
                    let start = s.rva() as usize;
                    assert_eq!(&dest[start..start + r.len()], &data[r]);
                }
            }
            // The headers are copied verbatim, except ImageBase.
            assert_eq!(&dest[..2], b"MZ");
        }
        Err(Error::NotRelocatable { .. }) => assert!(!img.is_relocatable()),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(img) = PeImage::parse(data) else { return };
    assert!(img.size_of_image() >= 1 && img.size_of_image() <= vmfw_pe::MAX_IMAGE_SIZE);
    assert!(img.section_alignment().is_power_of_two());
    assert!(img.size_of_headers() <= img.size_of_image());
    assert!(img.section_at(img.entry_point_rva()).is_some());
    for s in img.sections() {
        let r = s.file_range();
        assert!(r.end <= data.len());
        assert!(u64::from(s.rva()) + u64::from(s.virtual_size()) <= u64::from(img.size_of_image()));
        if let Ok(name) = core::str::from_utf8(s.name()) {
            assert!(img.section_by_name(name).is_some());
        }
    }
    if let Some(r) = img.security_directory() {
        assert!(r.end <= data.len());
    }
    if let Some(r) = img.reloc_directory() {
        assert!(r.end <= img.size_of_image());
    }
    if img.size_of_image() > 16 << 20 {
        return;
    }
    let align = u64::from(img.section_alignment());
    load(&img, data, img.image_base());
    load(&img, data, (0x1_2340_0000u64).div_ceil(align) * align);
});
