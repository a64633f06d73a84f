//! EFI zboot headers.

use super::gzip::{gz, Fields};
use super::*;
use crate::zboot::*;

/// A zboot image: header, `pad` bytes of "stub", the payload, then the
/// inflated size when `suffix` is given.
fn zboot(comp: &[u8], payload: &[u8], suffix: Option<u32>) -> Vec<u8> {
    let mut b = std::vec![0u8; 0x200];
    b[0..2].copy_from_slice(b"MZ");
    b[4..8].copy_from_slice(b"zimg");
    b[8..12].copy_from_slice(&0x200u32.to_le_bytes());
    b[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[0x18..0x18 + comp.len()].copy_from_slice(comp);
    b[0x38..0x3c].copy_from_slice(&0x8182_23cdu32.to_le_bytes());
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b.extend_from_slice(payload);
    if let Some(s) = suffix {
        b.extend_from_slice(&s.to_le_bytes());
    }
    // The rest of the PE (its sections after the payload).
    b.extend_from_slice(&[0xcc; 0x100]);
    b
}

#[test]
fn gzip_payload_inflates_to_an_image() {
    let img = super::arm64::image(0, 0x20_0000, 0b1010, 0x4000);
    let payload = gz(&img, &Fields { level: 9, ..Default::default() });
    let file = zboot(b"gzip", &payload, None);
    assert!(is_zboot(&file));
    let z = Zboot::parse(&file).unwrap();
    assert_eq!(z.compression_type(), "gzip");
    assert_eq!(z.compression(), Compression::Gzip);
    assert_eq!(z.payload(), &payload[..]);
    assert_eq!(z.pe_offset(), 0x80);
    assert_eq!(z.size_suffix(), None);
    let g = crate::gzip::Gzip::parse(z.payload()).unwrap();
    let mut out = std::vec![0u8; 0x20_0000];
    let r = g.inflate_into(&mut out).unwrap();
    assert_eq!(&out[..r.len], &img[..]);
    let h = crate::arm64::ImageHeader::parse(&out).unwrap();
    assert_eq!(h.image_size(), 0x20_0000);
}

#[test]
fn other_types_are_named() {
    let file = zboot(b"zstd22", &[1, 2, 3, 4, 5], Some(0x123_4567));
    let z = Zboot::parse(&file).unwrap();
    assert_eq!(z.compression(), Compression::Other("zstd22"));
    assert_eq!(z.payload(), [1, 2, 3, 4, 5]);
    assert_eq!(z.size_suffix(), Some(0x123_4567));
    // The longest name that leaves room for the NUL.
    let long = [b'x'; 31];
    let z2 = zboot(&long, &[1], None);
    assert_eq!(Zboot::parse(&z2).unwrap().compression_type().len(), 31);
}

#[test]
fn rejects_bad_headers() {
    let good = zboot(b"lzma", &[9; 16], Some(100));
    assert!(Zboot::parse(&good).is_ok());
    assert_eq!(Zboot::parse(&[]), Err(Error::NotZboot));
    assert_eq!(Zboot::parse(&good[..8]), Err(Error::Truncated));
    assert_eq!(Zboot::parse(&good[..0x3f]), Err(Error::Truncated));
    let mut m = good.clone();
    m[4] = b'Z';
    assert_eq!(Zboot::parse(&m), Err(Error::NotZboot));
    assert!(!is_zboot(&m));
    // A plain arm64 Image (MZ, but no zimg) is not zboot.
    assert!(!is_zboot(&super::arm64::image(0, 0x1000, 0, 0)));

    // Compression type: empty, unterminated, not printable ASCII.
    assert_eq!(Zboot::parse(&zboot(b"", &[1], None)), Err(Error::BadCompressionType));
    assert_eq!(Zboot::parse(&zboot(&[b'x'; 32], &[1], None)), Err(Error::BadCompressionType));
    assert_eq!(Zboot::parse(&zboot(b"gz ip", &[1], None)), Err(Error::BadCompressionType));
    assert_eq!(Zboot::parse(&zboot(b"\xc3\xa9", &[1], None)), Err(Error::BadCompressionType));

    // Payload outside the file, inside the header, or wrapping.
    let set = |off: u32, size: u32| {
        let mut m = good.clone();
        m[8..12].copy_from_slice(&off.to_le_bytes());
        m[12..16].copy_from_slice(&size.to_le_bytes());
        // The size hint after the payload, if there is room for it.
        Zboot::parse(&m).map(|z| z.size_suffix())
    };
    let len = good.len() as u32;
    assert!(set(0x40, len - 0x40).is_ok());
    assert!(set(len, 0).is_ok());
    assert_eq!(set(0x3f, 1), Err(Error::BadPayload { offset: 0x3f, size: 1 }));
    assert_eq!(
        set(0x200, len - 0x1ff),
        Err(Error::BadPayload { offset: 0x200, size: len - 0x1ff })
    );
    assert_eq!(set(len + 1, 0), Err(Error::BadPayload { offset: len + 1, size: 0 }));
    assert!(set(u32::MAX, u32::MAX).is_err());
    // No room for the size after the payload: no hint, still valid.
    assert_eq!(set(0x40, len - 0x40), Ok(None));
    assert_eq!(set(0x40, len - 0x44), Ok(Some(0xcccc_cccc)));
}
