//! Seed images for the `fat` fuzz target (format: see
//! `fuzz/fuzz_targets/fat.rs`). `write_fuzz_seeds` is ignored by default;
//! run `cargo test -p vmfw-fat --test fuzz_seeds -- --ignored` to rewrite
//! `fuzz/seeds/fat/`. The other test checks the seeds still mount.
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use common::*;
use vmfw_block::MemDisk;
use vmfw_fat::FileSystem;

/// A small tree; with `frag`, also a fragmented file and two fillers.
fn tree(img: &mut [u8], cluster: usize, frag: bool) {
    populate(img, |root| {
        for d in ["EFI", "EFI/BOOT", "loader", "loader/entries", "a", "a/b"] {
            root.create_dir(d).unwrap();
        }
        write_file(root, "EFI/BOOT/BOOTX64.EFI", &pattern(1, 600));
        write_file(root, "loader/entries/a.conf", b"title A\n");
        write_file(root, "loader/entries/Debian-6.1.0-13-amd64.conf", b"title D\n");
        write_file(root, "a/b/x.txt", b"x");
    });
    if frag {
        fragmented(img, cluster, &[1, 2]);
    }
}

/// Plain input: flags, then the image.
fn plain(img: &[u8], bs: u32) -> Vec<u8> {
    let mut v = vec![u8::from(bs == 4096)];
    v.extend_from_slice(img);
    v
}

/// Sparse input: flags, block count, then one record per non-zero block,
/// without its trailing zeros (the disk is zero wherever no record says
/// otherwise).
fn sparse(img: &[u8], bs: u32) -> Vec<u8> {
    let mut v = vec![u8::from(bs == 4096) | 2];
    v.extend_from_slice(&((img.len() / bs as usize) as u32).to_le_bytes());
    for (i, block) in img.chunks(bs as usize).enumerate() {
        let Some(last) = block.iter().rposition(|&b| b != 0) else { continue };
        v.extend_from_slice(&(i as u32).to_le_bytes());
        v.extend_from_slice(&((last + 1) as u16).to_le_bytes());
        v.extend_from_slice(&block[..=last]);
    }
    v
}

fn seeds() -> Vec<(&'static str, Vec<u8>, Vec<u8>, u32)> {
    // A small root directory keeps the plain image small.
    let mut fat12 = vec![0u8; 24 << 10];
    let opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat12)
        .bytes_per_cluster(512)
        .max_root_dir_entries(32)
        .volume_label(*b"FUZZ SEED  ");
    fatfs::format_volume(std::io::Cursor::new(&mut fat12[..]), opts).unwrap();
    tree(&mut fat12, 512, true);
    let mut fat16 = format(fatfs::FatType::Fat16, 4096, 17 << 20, Some(4096));
    tree(&mut fat16, 4096, false);
    let mut fat32 = format(fatfs::FatType::Fat32, 512, 33 << 20, Some(512));
    tree(&mut fat32, 512, true);
    vec![
        ("fat12-512-plain", plain(&fat12, 512), fat12, 512),
        ("fat16-4096-sparse", sparse(&fat16, 4096), fat16, 4096),
        ("fat32-512-sparse", sparse(&fat32, 512), fat32, 512),
    ]
}

#[test]
fn seed_images_are_valid_and_small() {
    for (name, input, img, bs) in seeds() {
        let want = if name.starts_with("fat16") { 4 } else { 7 };
        assert!(input.len() < 40 << 10, "{name}: {} bytes", input.len());
        let mut fs = FileSystem::mount(MemDisk::new(img, bs)).unwrap();
        let (files, err) = walk(&mut fs, 8, 100);
        assert_eq!(err, None, "{name}");
        assert_eq!(files.len(), want, "{name}");
        assert!(files.iter().all(|f| f.1.is_ok()), "{name}");
    }
}

#[test]
#[ignore = "rewrites fuzz/seeds/fat"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/fat");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, input, _, _) in seeds() {
        std::fs::write(dir.join(name), input).unwrap();
    }
}
