//! One-byte mutations of valid images: mounting, walking the whole tree and
//! reading every file must never panic and must finish quickly, whatever
//! the byte.
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use vmfw_fat::FileSystem;

/// Values tried at each offset: the extremes and small changes of the
/// original byte (which hit counts, flags and cluster numbers).
fn values(orig: u8) -> [u8; 5] {
    [0x00, 0xFF, orig ^ 0x01, orig ^ 0x80, orig.wrapping_add(0x10)]
}

/// Mutates every byte at `offsets` of `img`, one at a time; returns how many
/// of the mutated images still mounted.
fn mutate_all(img: &[u8], block: u32, offsets: impl IntoIterator<Item = usize>) -> usize {
    let mut mounted = 0;
    let mut slowest = Duration::ZERO;
    for at in offsets {
        for val in values(img[at]) {
            if val == img[at] {
                continue;
            }
            let t = Instant::now();
            let dev = Mutated { base: img, block, at, val };
            if let Ok(mut fs) = FileSystem::mount(dev) {
                mounted += 1;
                let _ = fs.volume_label();
                let _ = walk(&mut fs, 12, 2000);
                let _ = fs.lookup("/EFI/BOOT/BOOTX64.EFI");
                let _ = fs.lookup("/a/b/../b/c/file.txt");
            }
            slowest = slowest.max(t.elapsed());
        }
    }
    assert!(slowest < Duration::from_secs(2), "one image took {slowest:?}");
    mounted
}

fn small_tree(img: &mut [u8], cluster: usize) {
    populate(img, |root| {
        root.create_dir("EFI").unwrap();
        root.create_dir("EFI/BOOT").unwrap();
        root.create_dir("a").unwrap();
        root.create_dir("a/b").unwrap();
        root.create_dir("a/b/c").unwrap();
        write_file(root, "EFI/BOOT/BOOTX64.EFI", &pattern(1, 2 * cluster + 5));
        write_file(root, "a/b/c/file.txt", b"file");
        write_file(root, "A rather long name for a file.conf", b"x");
    });
    fragmented(img, cluster, &[2, 1, 2]);
}

/// Byte ranges of a fatfs image worth mutating: the boot sector, the FATs,
/// the start of the root directory and the first data clusters.
fn metadata(img: &[u8]) -> impl Iterator<Item = usize> {
    let le16 = |o: usize| usize::from(u16::from_le_bytes([img[o], img[o + 1]]));
    let bps = le16(11);
    let fats = usize::from(img[16]) * if le16(22) != 0 { le16(22) } else { le16(36) } * bps;
    let fat = le16(14) * bps;
    let root = fat + fats;
    (0..512).chain(fat..root).chain(root..root + 4096)
}

#[test]
fn fat12_fatfs_image() {
    let mut img = format(fatfs::FatType::Fat12, 512, 256 << 10, Some(512));
    small_tree(&mut img, 512);
    let mounted = mutate_all(&img, 512, metadata(&img));
    assert!(mounted > 1000, "{mounted}");
}

#[test]
fn fat12_hand_image() {
    let mut h = Hand::new();
    h.root_slot(0, short(b"HELLO   TXT", 0, 2, 1100));
    h.chain(&[2, 3, 4]);
    h.root_slot(1, short(b"SUB        ", 0x10, 10, 0));
    h.chain(&[10]);
    h.slot(10, 0, short(b".          ", 0x10, 10, 0));
    h.slot(10, 1, short(b"..         ", 0x10, 0, 0));
    for (i, e) in lfn("A long name.txt", b"ALONGN~1TXT", 0).iter().enumerate() {
        h.slot(10, 2 + i, *e);
    }
    h.slot(10, 4, short(b"ALONGN~1TXT", 0, 11, 5));
    h.chain(&[11]);
    // Boot sector, FAT, root directory, and every cluster in use.
    let used = [2u32, 3, 4, 10, 11].map(|c| Hand::cluster_off(c)..Hand::cluster_off(c) + 512);
    let mounted = mutate_all(&h.img, 512, (0..3 * 512).chain(used.into_iter().flatten()));
    assert!(mounted > 1000, "{mounted}");
}

#[test]
fn fat32_4k_blocks() {
    let mut img = format(fatfs::FatType::Fat32, 512, 34 << 20, Some(512));
    small_tree(&mut img, 512);
    let le16 = |o: usize| usize::from(u16::from_le_bytes([img[o], img[o + 1]]));
    let le32 = |o: usize| u32::from_le_bytes([img[o], img[o + 1], img[o + 2], img[o + 3]]) as usize;
    let fat = le16(14) * 512;
    let data = fat + usize::from(img[16]) * le32(36) * 512;
    let root = data + (le32(44) - 2) * 512;
    let mounted = mutate_all(&img, 4096, (0..512).chain(fat..fat + 512).chain(root..root + 4096));
    assert!(mounted > 1000, "{mounted}");
}
