//! EFI zboot: the header, then for gzip payloads the native path's next
//! steps (gzip header, the kernel header from `peek`, a bounded inflate).
//!
//! Input: the zboot file.
//!
//! Checks: the payload lies inside the file after the 64-byte header;
//! the compression type is non-empty printable ASCII and `Gzip` exactly
//! when it is "gzip"; only non-gzip payloads give a size hint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_linux::arm64::ImageHeader;
use vmfw_linux::gzip::Gzip;
use vmfw_linux::zboot::{is_zboot, Compression, Zboot, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(z) = Zboot::parse(data) else {
        return;
    };
    assert!(is_zboot(data));
    let p = z.payload();
    let start = p.as_ptr() as usize - data.as_ptr() as usize;
    assert!(start >= HEADER_LEN && start + p.len() <= data.len());
    let t = z.compression_type();
    assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()) && t.len() < 32);
    let _ = z.pe_offset();
    match z.compression() {
        Compression::Gzip => {
            assert_eq!(t, "gzip");
            assert_eq!(z.size_suffix(), None);
            let Ok(g) = Gzip::parse(p) else {
                return;
            };
            let mut head = [0u8; 64];
            if g.peek(&mut head) == Ok(64) {
                let _ = ImageHeader::parse(&head).map(|h| h.plan(1 << 20));
            }
            let mut out = vec![0u8; 256 * 1024];
            if let Ok(r) = g.inflate_into(&mut out) {
                let _ = ImageHeader::parse(&out[..r.len]);
            }
        }
        Compression::Other(name) => assert!(name != "gzip" && name == t),
    }
});
