//! gzip: header parsing, `peek`, and inflating into a bounded buffer,
//! which must end (one decoder call, no loop), never write past the
//! buffer, and only succeed with a matching CRC and length.
//!
//! Input:
//!
//! ```text
//! capacity: u16 LE    the output buffer's size in units of 16 bytes
//!                     (up to 1 MiB)
//! file: [u8]          the gzip file
//! ```
//!
//! Checks: `peek` agrees with the start of a full inflate; a success
//! fits the buffer, its CRC-32 is the trailer's, and inflating again
//! into exactly its length succeeds while one byte less is
//! `OutputTooLarge`; `OutputTooLarge` only when the buffer is full.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_linux::gzip::{Error, Gzip};

fuzz_target!(|data: &[u8]| {
    let Some(cap) = data.get(..2).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) * 16)
    else {
        return;
    };
    let file = &data[2..];
    let Ok(g) = Gzip::parse(file) else {
        return;
    };
    assert!(g.header_len() <= file.len());
    let _ = (g.size_hint(), g.name(), g.mtime(), g.os(), g.is_text());
    let mut head = [0u8; 64];
    let peeked = g.peek(&mut head);
    let mut out = vec![0u8; cap];
    match g.inflate_into(&mut out) {
        Ok(r) => {
            assert!(r.len <= cap);
            assert!(r.member_len <= file.len());
            let trailer = &file[r.member_len - 8..r.member_len];
            let crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
            assert_eq!(vmfw_bytes::crc32(&out[..r.len]), crc);
            assert_eq!(u32::from_le_bytes(trailer[4..].try_into().unwrap()), r.len as u32);
            let n = peeked.expect("peek fails where inflate succeeds");
            assert_eq!(n, r.len.min(64));
            assert_eq!(head[..n], out[..n]);
            let mut exact = vec![0u8; r.len];
            assert_eq!(g.inflate_into(&mut exact), Ok(r));
            if r.len > 0 {
                let mut short = vec![0u8; r.len - 1];
                let e = g.inflate_into(&mut short);
                assert_eq!(e, Err(Error::OutputTooLarge { capacity: r.len - 1 }));
            }
        }
        Err(Error::OutputTooLarge { capacity }) => {
            assert_eq!(capacity, cap);
            if cap >= 64 {
                assert_eq!(peeked, Ok(64));
                assert_eq!(head[..], out[..64]);
            }
        }
        Err(_) => {}
    }
});
