//! Writes the seed corpora of the `gpt`, `mbr` and `block_io` fuzz targets
//! (`fuzz/seeds/<target>/`), generated with `vmfw_block::testing`.
//!
//! ```text
//! cargo run -p vmfw-block --features testing --example write_fuzz_seeds -- fuzz/seeds
//! ```
//!
//! The input formats are defined in `fuzz/src/lib.rs`; keep both in step:
//!
//! * every input starts with a flags byte: bit 0 selects 4096-byte blocks
//!   (else 512), bit 1 a "sparse" disk, bit 2 has the target recompute the
//!   GPT CRCs after mutation;
//! * sparse: then `num_blocks` (u64 LE) and `head_blocks` (u16 LE); the
//!   data's first `head_blocks` blocks sit at the start of the disk, the
//!   rest at its end, zeros in between;
//! * `gpt` inputs leave out LBA 0: the target puts a protective MBR there;
//! * `block_io` inputs are described in `fuzz/fuzz_targets/block_io.rs`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use vmfw_block::testing::{mbr_image, write_ebr, GptImage, GptPart, MbrRecord};
use vmfw_block::Guid;

fn sparse_header(flags: u8, num_blocks: u64, head_blocks: u16) -> Vec<u8> {
    let mut v = vec![flags | 2];
    v.extend_from_slice(&num_blocks.to_le_bytes());
    v.extend_from_slice(&head_blocks.to_le_bytes());
    v
}

/// A small GPT disk, as the `gpt` target wants it (LBA 0 dropped).
fn gpt_seed(img: &GptImage) -> Vec<u8> {
    let bs = img.block_size;
    let flags = u8::from(bs == 4096);
    let mut v = vec![flags];
    v.extend_from_slice(&img.build()[bs..]);
    v
}

/// The same disk, stored sparsely: LBA 1 up to the first usable block, and
/// the backup array and header at the end of a much larger disk.
fn gpt_sparse_seed(img: &GptImage) -> Vec<u8> {
    let bs = img.block_size;
    let (head, tail) = img.head_and_tail();
    let flags = u8::from(bs == 4096);
    // The target adds LBA 0 itself, so the disk and the head are one
    // block shorter in the input.
    let head_blocks = (head.len() / bs - 1) as u16;
    let mut v = sparse_header(flags, img.num_blocks - 1, head_blocks);
    v.extend_from_slice(&head[bs..]);
    v.extend_from_slice(&tail);
    v
}

fn with_flag(mut seed: Vec<u8>, flag: u8) -> Vec<u8> {
    seed[0] |= flag;
    seed
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    assert!(data.len() < 64 * 1024, "{target}/{name} is {} bytes", data.len());
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), data).unwrap();
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds".into()));
    let esp = Guid::EFI_SYSTEM_PARTITION;
    let linux = Guid::LINUX_FILESYSTEM;

    // gpt: 512-byte blocks, 16 entries, ESP + root.
    let small = GptImage::new(512, 40)
        .entries(16, 128)
        .part(1, GptPart::new(esp, 6, 20).named("EFI system"))
        .part(2, GptPart::new(linux, 21, 33).named("root"));
    let seed = gpt_seed(&small);
    write(&dir, "gpt", "512-16x128", &seed);
    write(&dir, "gpt", "512-16x128-reseal", &with_flag(seed, 4));
    // 4096-byte blocks, 128 entries of 128 bytes (array of 4 blocks).
    let big = GptImage::new(4096, 14)
        .part(1, GptPart::new(esp, 6, 7).named("ESP"))
        .part(3, GptPart::new(Guid::XBOOTLDR, 8, 8));
    write(&dir, "gpt", "4096-128x128", &gpt_seed(&big));
    // 256-byte entries, ESP as the 20th entry.
    let mut wide = GptImage::new(512, 64).entries(24, 256);
    for i in 1..=19u32 {
        wide = wide.part(i, GptPart::new(linux, 14 + u64::from(i), 14 + u64::from(i)));
    }
    wide = wide.part(20, GptPart::new(esp, 40, 49).named("ESP"));
    write(&dir, "gpt", "512-24x256-esp20", &gpt_seed(&wide));
    // Sparse: a 1 TiB disk of 512-byte blocks and a 16 TiB one of 4096.
    let huge = GptImage::new(512, 1 << 31)
        .entries(8, 128)
        .part(1, GptPart::new(esp, 2048, 4095))
        .part(2, GptPart::new(linux, 4096, (1 << 31) - 40));
    let seed = gpt_sparse_seed(&huge);
    write(&dir, "gpt", "512-sparse-1TiB", &seed);
    write(&dir, "gpt", "512-sparse-1TiB-reseal", &with_flag(seed, 4));
    let huge4k = GptImage::new(4096, 1 << 32)
        .entries(32, 128)
        .part(1, GptPart::new(esp, 256, 511))
        .part(2, GptPart::new(linux, 512, (1 << 32) - 8));
    write(&dir, "gpt", "4096-sparse-16TiB", &gpt_sparse_seed(&huge4k));

    // mbr: ESP + Linux + extended with two logical partitions.
    let mut m = mbr_image(
        512,
        64,
        0x1234_5678,
        &[
            MbrRecord { status: 0x80, ..MbrRecord::new(0xEF, 2, 10) },
            MbrRecord::new(0x83, 12, 10),
            MbrRecord::new(0x05, 30, 30),
        ],
    );
    write_ebr(&mut m, 512, 30, MbrRecord::new(0x83, 1, 9), Some(MbrRecord::new(0x05, 12, 10)));
    write_ebr(&mut m, 512, 42, MbrRecord::new(0xEA, 2, 5), None);
    let mut v = vec![0u8];
    v.extend_from_slice(&m);
    write(&dir, "mbr", "512-ext", &v);
    let m4k = mbr_image(4096, 8, 0xCAFE_F00D, &[MbrRecord::new(0xEF, 1, 6)]);
    let mut v = vec![1u8];
    v.extend_from_slice(&m4k);
    write(&dir, "mbr", "4096-esp", &v);
    // A sparse MBR disk whose partition ends at the 2 TiB limit.
    let m2t = mbr_image(512, 1, 0, &[MbrRecord::new(0x83, 1, u32::MAX)]);
    let mut v = sparse_header(0, 1 << 32, 1);
    v.extend_from_slice(&m2t);
    write(&dir, "mbr", "512-sparse-2TiB", &v);

    // block_io: flags, nops, part_start, part_len, ops of (kind, u64
    // offset, u16 length), then the image.
    for (name, bs, flags) in [("512-mixed", 512u64, 0u8), ("4096-mixed", 4096, 1)] {
        let mut v = vec![flags, 6];
        v.extend_from_slice(&2u64.to_le_bytes());
        v.extend_from_slice(&3u64.to_le_bytes());
        let ops = [
            (0u8, 0u64, 512u16),
            (1, 100, 1000),
            (2, bs - 1, 2),
            (2, bs - 1, 2),
            (3, 1, bs as u16),
            (0, 3 * bs / 2, 3000),
        ];
        for (kind, off, len) in ops {
            v.push(kind);
            v.extend_from_slice(&off.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
        }
        v.extend((0..8 * bs as u32).map(|i| (i * 31 % 251) as u8));
        write(&dir, "block_io", name, &v);
    }
    println!("seeds written to {}", dir.display());
}
