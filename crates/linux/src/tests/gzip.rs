//! gzip: header fields, inflating into a bounded buffer, the trailer.

use super::*;
use crate::gzip::*;

/// `gzip -9 -n` of "hello, vmfw\n", as the gzip tool wrote it.
const HELLO_GZ: [u8; 32] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
    0x51, 0x28, 0xcb, 0x4d, 0x2b, 0xe7, 0x02, 0x00, 0x68, 0x1f, 0xd1, 0x70, 0x0c, 0x00, 0x00, 0x00,
];
/// The same with FNAME "h.txt" and an MTIME.
const HELLO_NAMED_GZ: [u8; 38] = [
    0x1f, 0x8b, 0x08, 0x08, 0x3c, 0x55, 0x13, 0x6b, 0x02, 0x03, 0x68, 0x2e, 0x74, 0x78, 0x74, 0x00,
    0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x28, 0xcb, 0x4d, 0x2b, 0xe7, 0x02, 0x00, 0x68, 0x1f,
    0xd1, 0x70, 0x0c, 0x00, 0x00, 0x00,
];

/// Optional header fields for [`gz`].
#[derive(Default)]
pub(crate) struct Fields<'a> {
    pub extra: Option<&'a [u8]>,
    pub name: Option<&'a [u8]>,
    pub comment: Option<&'a [u8]>,
    pub hcrc: bool,
    pub level: u8,
}

/// A gzip member of `data` with the given header fields.
pub(crate) fn gz(data: &[u8], f: &Fields<'_>) -> Vec<u8> {
    let mut flg = 0u8;
    let mut opt = Vec::new();
    if let Some(x) = f.extra {
        flg |= 4;
        opt.extend_from_slice(&(x.len() as u16).to_le_bytes());
        opt.extend_from_slice(x);
    }
    if let Some(n) = f.name {
        flg |= 8;
        opt.extend_from_slice(n);
        opt.push(0);
    }
    if let Some(c) = f.comment {
        flg |= 16;
        opt.extend_from_slice(c);
        opt.push(0);
    }
    if f.hcrc {
        flg |= 2;
    }
    let mut out = std::vec![0x1f, 0x8b, 8, flg, 0x78, 0x56, 0x34, 0x12, 0, 3];
    out.extend_from_slice(&opt);
    if f.hcrc {
        let crc = vmfw_bytes::crc32(&out) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, f.level));
    out.extend_from_slice(&vmfw_bytes::crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Something shaped like a kernel: a header, runs of code-like bytes,
/// zero padding, repeats.
pub(crate) fn kernelish(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x = 0x9e37_79b9u32;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        match x % 4 {
            0 => v.extend_from_slice(&[0u8; 97]),
            1 => v.extend_from_slice(&x.to_le_bytes()),
            _ => v.extend_from_slice(&[0xd5, 0x03, 0x20, 0x1f, (x >> 8) as u8, 0x91]),
        }
    }
    v.truncate(len);
    v
}

#[test]
fn inflates_what_the_gzip_tool_wrote() {
    for file in [&HELLO_GZ[..], &HELLO_NAMED_GZ[..]] {
        assert!(is_gzip(file));
        let g = Gzip::parse(file).unwrap();
        assert_eq!(g.size_hint(), Some(12));
        let mut out = [0u8; 64];
        let r = g.inflate_into(&mut out).unwrap();
        assert_eq!(&out[..r.len], b"hello, vmfw\n");
        assert_eq!(r.member_len, file.len());
    }
    let g = Gzip::parse(&HELLO_NAMED_GZ).unwrap();
    assert_eq!(g.name(), Some(&b"h.txt"[..]));
    assert_eq!(g.mtime(), 0x6b13_553c);
    assert_eq!(g.os(), 3);
    assert_eq!(g.header_len(), 16);
    assert_eq!(Gzip::parse(&HELLO_GZ).unwrap().name(), None);
}

#[test]
fn every_header_field() {
    let data = kernelish(100_000);
    let f = Fields {
        extra: Some(b"AB\x02\x00hi"),
        name: Some(b"Image"),
        comment: Some(b"a comment"),
        hcrc: true,
        level: 9,
    };
    let file = gz(&data, &f);
    let g = Gzip::parse(&file).unwrap();
    assert_eq!(g.flags(), 2 | 4 | 8 | 16);
    assert!(!g.is_text());
    assert_eq!(g.name(), Some(&b"Image"[..]));
    assert_eq!(g.header_len(), 10 + 2 + 6 + 6 + 10 + 2);
    let mut out = std::vec![0u8; data.len()];
    assert_eq!(g.inflate_into(&mut out).unwrap().len, data.len());
    assert_eq!(out, data);

    // A wrong header CRC.
    let mut bad = file.clone();
    bad[g.header_len() - 1] ^= 1;
    assert!(matches!(Gzip::parse(&bad), Err(Error::HeaderCrc { .. })));
}

#[test]
fn header_errors() {
    let file = gz(b"x", &Fields { level: 6, ..Default::default() });
    assert_eq!(Gzip::parse(&[]), Err(Error::BadMagic));
    assert_eq!(Gzip::parse(&[0x1f]), Err(Error::BadMagic));
    assert_eq!(Gzip::parse(&[0x1f, 0x8b]), Err(Error::TruncatedHeader));
    assert_eq!(Gzip::parse(&[0x1f, 0x8c, 8]), Err(Error::BadMagic));
    let mut m = file.clone();
    m[2] = 7;
    assert_eq!(Gzip::parse(&m), Err(Error::UnsupportedMethod(7)));
    assert!(!is_gzip(&m));
    for bit in [0x20u8, 0x40, 0x80] {
        let mut m = file.clone();
        m[3] |= bit;
        assert_eq!(Gzip::parse(&m), Err(Error::ReservedFlags(bit)));
    }
    // The fixed header cut short, and each optional field running off
    // the end.
    for n in 2..10 {
        assert_eq!(Gzip::parse(&file[..n]), Err(Error::TruncatedHeader), "{n} bytes");
    }
    let named = gz(b"x", &Fields { name: Some(b"name"), ..Default::default() });
    assert_eq!(Gzip::parse(&named[..14]), Err(Error::TruncatedHeader));
    assert!(Gzip::parse(&named[..15]).is_ok());
    let extra = gz(b"x", &Fields { extra: Some(&[7; 300]), ..Default::default() });
    assert_eq!(Gzip::parse(&extra[..11]), Err(Error::TruncatedHeader));
    assert_eq!(Gzip::parse(&extra[..311]), Err(Error::TruncatedHeader));
    assert!(Gzip::parse(&extra[..312]).is_ok());
    let crc = gz(b"x", &Fields { hcrc: true, ..Default::default() });
    assert_eq!(Gzip::parse(&crc[..11]), Err(Error::TruncatedHeader));
    let comment = gz(b"x", &Fields { comment: Some(b"c"), ..Default::default() });
    assert_eq!(Gzip::parse(&comment[..11]), Err(Error::TruncatedHeader));
}

#[test]
fn output_is_bounded_by_the_buffer() {
    let data = kernelish(300_000);
    let file = gz(&data, &Fields { level: 9, ..Default::default() });
    let g = Gzip::parse(&file).unwrap();
    // Exactly enough room.
    let mut out = std::vec![0u8; data.len()];
    assert_eq!(g.inflate_into(&mut out).unwrap().len, data.len());
    assert_eq!(out, data);
    // More room than needed: the rest is untouched.
    let mut out = std::vec![0xeeu8; data.len() + 100];
    assert_eq!(g.inflate_into(&mut out).unwrap().len, data.len());
    assert_eq!(&out[..data.len()], &data[..]);
    assert!(out[data.len()..].iter().all(|&b| b == 0xee));
    // One byte short, or none at all: an error, never a cut kernel.
    for cap in [data.len() - 1, 4096, 1, 0] {
        let mut out = std::vec![0u8; cap];
        assert_eq!(g.inflate_into(&mut out), Err(Error::OutputTooLarge { capacity: cap }));
        assert_eq!(out[..], data[..cap]);
    }
}

#[test]
fn peek_reads_just_the_start() {
    let data = kernelish(200_000);
    let file = gz(&data, &Fields { level: 9, ..Default::default() });
    let g = Gzip::parse(&file).unwrap();
    let mut head = [0u8; 64];
    assert_eq!(g.peek(&mut head), Ok(64));
    assert_eq!(head[..], data[..64]);
    // Shorter data than the buffer.
    let g2file = gz(b"short", &Fields::default());
    assert_eq!(Gzip::parse(&g2file).unwrap().peek(&mut head), Ok(5));
    assert_eq!(&head[..5], b"short");
    // Corrupt from the first block: an error.
    let mut bad = file.clone();
    bad[10] = 0xff;
    assert!(Gzip::parse(&bad).unwrap().peek(&mut head).is_err());
}

#[test]
fn trailer_is_checked() {
    let data = kernelish(50_000);
    let file = gz(&data, &Fields { level: 6, ..Default::default() });
    let n = file.len();
    let mut out = std::vec![0u8; 60_000];

    let mut m = file.clone();
    m[n - 8] ^= 1;
    assert!(matches!(
        Gzip::parse(&m).unwrap().inflate_into(&mut out),
        Err(Error::CrcMismatch { .. })
    ));
    let mut m = file.clone();
    m[n - 4] ^= 1;
    assert_eq!(
        Gzip::parse(&m).unwrap().inflate_into(&mut out),
        Err(Error::SizeMismatch { stored: 50_000 ^ 1, actual: 50_000 })
    );
    // size_hint follows the file's last four bytes.
    assert_eq!(Gzip::parse(&m).unwrap().size_hint(), Some(50_000 ^ 1));

    // Trailing bytes after the member are not read.
    let mut m = file.clone();
    m.extend_from_slice(&[0; 100]);
    let r = Gzip::parse(&m).unwrap().inflate_into(&mut out).unwrap();
    assert_eq!((r.len, r.member_len), (50_000, n));
}

#[test]
fn truncation_anywhere_is_an_error() {
    let data = kernelish(20_000);
    let file = gz(&data, &Fields { name: Some(b"Image"), level: 9, ..Default::default() });
    let mut out = std::vec![0u8; 20_000];
    for cut in 0..file.len() {
        let r = Gzip::parse(&file[..cut]).and_then(|g| g.inflate_into(&mut out));
        assert!(r.is_err(), "cut at {cut}");
    }
    let g = Gzip::parse(&file[..file.len() - 3]).unwrap();
    assert_eq!(g.inflate_into(&mut out), Err(Error::TruncatedData));
    let g = Gzip::parse(&file[..file.len() / 2]).unwrap();
    assert_eq!(g.inflate_into(&mut out), Err(Error::TruncatedData));
}

#[test]
fn stored_and_empty_members() {
    let data = kernelish(70_000);
    let file = gz(&data, &Fields { level: 0, ..Default::default() });
    let mut out = std::vec![0u8; data.len()];
    assert_eq!(Gzip::parse(&file).unwrap().inflate_into(&mut out).unwrap().len, data.len());
    assert_eq!(out, data);

    let file = gz(b"", &Fields::default());
    let r = Gzip::parse(&file).unwrap().inflate_into(&mut []).unwrap();
    assert_eq!((r.len, r.member_len), (0, file.len()));
}

/// Flipping bytes of a valid file never panics; whatever inflates without
/// an error passed the CRC.
#[test]
fn mutations_fail_cleanly() {
    let data = kernelish(4000);
    let file = gz(&data, &Fields { level: 9, ..Default::default() });
    let mut out = std::vec![0u8; 8000];
    let mut ok = 0;
    for i in 0..file.len() {
        for v in [0x00, 0x55, 0xff] {
            let mut m = file.clone();
            m[i] = v;
            let Ok(g) = Gzip::parse(&m) else { continue };
            if let Ok(r) = g.inflate_into(&mut out) {
                assert_eq!(
                    vmfw_bytes::crc32(&out[..r.len]),
                    u32::from_le_bytes(m[r.member_len - 8..r.member_len - 4].try_into().unwrap())
                );
                ok += 1;
            }
        }
    }
    assert!(ok > 0);
}

#[test]
fn decoder_state_size() {
    // What inflating puts on the stack (reported in the module docs).
    let size = core::mem::size_of::<miniz_oxide::inflate::core::DecompressorOxide>();
    assert!(size < 12 * 1024, "{size}");
}

/// The compressed-kernel flow of the `arm64` module docs: peek, plan with
/// the trailer's size, inflate into the span. A trailer that understates
/// the size cannot make the kernel overrun its reservation.
#[test]
fn compressed_kernel_flow() {
    use crate::arm64::{ImageHeader, ImagePlan};
    fn plan_for(file: &[u8]) -> (Gzip<'_>, ImagePlan) {
        let g = Gzip::parse(file).unwrap();
        let mut head = [0u8; 64];
        assert_eq!(g.peek(&mut head), Ok(64));
        let h = ImageHeader::parse(&head).unwrap();
        (g, h.plan(u64::from(g.size_hint().unwrap_or(0))).unwrap())
    }
    // An honest kernel: inflates into its span.
    let img = super::arm64::image(0, 0x2_0000, 0b1010, 0x8000);
    let file = gz(&img, &Fields { level: 9, ..Default::default() });
    let (g, plan) = plan_for(&file);
    let mut ram = std::vec![0u8; plan.span as usize];
    assert_eq!(g.inflate_into(&mut ram).unwrap().len, img.len());
    assert_eq!(&ram[..img.len()], &img[..]);
    // image_size smaller than the Image, and a trailer that says it is
    // tiny: planning passes, the inflate stops at the span.
    let img = super::arm64::image(0, 0x4000, 0b1010, 0x8000);
    let mut file = gz(&img, &Fields { level: 9, ..Default::default() });
    let n = file.len();
    file[n - 4..].copy_from_slice(&100u32.to_le_bytes());
    let (g, plan) = plan_for(&file);
    assert_eq!(plan.span, 0x4000);
    let mut ram = std::vec![0u8; plan.span as usize];
    assert_eq!(g.inflate_into(&mut ram), Err(Error::OutputTooLarge { capacity: 0x4000 }));
}
