//! Times `vmfw_linux::gzip` on a gzip file (such as Debian's arm64
//! `vmlinuz`): the header, then the inflate into one buffer with the CRC
//! and length check, best of a few runs, in ms and ns per output byte.
//!
//! `cargo run --release -p vmfw-linux --example inflate_bench -- FILE.gz [RUNS]`
//! (RUNS defaults to 5; 1 under an instruction counter such as callgrind).

// A host tool, not an input path: a bad file just stops it.
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::time::Instant;

use vmfw_linux::gzip::Gzip;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: inflate_bench FILE.gz");
        std::process::exit(2);
    };
    let runs: u32 = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let g = Gzip::parse(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cap = g.size_hint().map_or(256 << 20, |n| n as usize);
    let mut out = vec![0u8; cap];
    let mut best = f64::MAX;
    let mut len = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let r = g.inflate_into(&mut out).unwrap_or_else(|e| panic!("{path}: {e}"));
        best = best.min(t.elapsed().as_secs_f64());
        len = r.len;
    }
    let t = Instant::now();
    let crc = vmfw_bytes::crc32(&out[..len]);
    let crc_s = t.elapsed().as_secs_f64();
    let mib = len as f64 / f64::from(1 << 20);
    println!(
        "{path}: {} -> {len} bytes; inflate+check {:.1} ms ({:.2} ms/MiB, {:.0} MiB/s); \
         of which CRC-32 {:.1} ms ({crc:#010x})",
        file.len(),
        best * 1e3,
        best * 1e3 / mib,
        mib / best,
        crc_s * 1e3,
    );
}
