//! FAT: the input is a disk image; mount it, walk the whole tree (bounded)
//! and read every file (bounded), through every read path of `vmfw-fat`.
//!
//! Input format (its own, because a FAT32 volume needs ≥ 65525 clusters,
//! so its data region lies tens of MiB into the disk):
//!
//! ```text
//! flags: u8        bit 0: 4096-byte blocks (else 512); bit 1: sparse
//! plain:  data: [u8]   the image; a trailing partial block is dropped
//! sparse: num_blocks: u32 LE, then records until the input ends:
//!         block: u32 LE, len: u16 LE, bytes: [u8; len]
//!         placed at byte block * block_size of a zeroed disk
//! ```
//!
//! A sparse disk is at least as long as its records and at most
//! `MAX_SPARSE_BYTES`. The seeds in `seeds/fat/` are written by
//! `cargo test -p vmfw-fat --test fuzz_seeds -- --ignored`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_fat::{Entry, FileSystem};
use vmfw_fuzz::fatdisk::{decode, Disk};

/// Entries looked at per input, over all directories.
const MAX_ENTRIES: usize = 4096;
/// Directory levels followed (a hostile tree can point back at an ancestor).
const MAX_DEPTH: usize = 16;
/// Bytes read per file at most.
const MAX_FILE: u64 = 1 << 20;

fn read_file(fs: &mut FileSystem<Disk>, e: &Entry) {
    let Ok(mut f) = fs.open_file(e) else { return };
    let size = f.size();
    if size <= MAX_FILE {
        if let Ok(v) = fs.read_to_vec(&mut f, MAX_FILE as usize) {
            assert_eq!(v.len() as u64, size);
            // Unaligned reads must agree with the whole-file read.
            let mut buf = [0u8; 700];
            for off in [1, size / 3, size.saturating_sub(5)] {
                let n = fs.read_at(&mut f, off, &mut buf).expect("chain already checked");
                let want = &v[(off as usize).min(v.len())..];
                assert_eq!(&buf[..n], &want[..n.min(want.len())]);
                assert_eq!(n, want.len().min(buf.len()));
            }
        }
    } else {
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = size - MAX_FILE;
        while off < size {
            match fs.read_at(&mut f, off, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => off += n as u64,
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(disk) = decode(data) else { return };
    let Ok(mut fs) = FileSystem::mount(disk) else { return };
    let _ = fs.info();
    let _ = fs.volume_label();
    let mut seen = 0usize;
    let mut stack = vec![(fs.root_entry(), 0usize)];
    while let Some((dir_entry, depth)) = stack.pop() {
        let Ok(dir) = fs.dir_of(&dir_entry) else { continue };
        let mut cursor = vmfw_fat::DirCursor::new(dir);
        while let Ok(Some(e)) = fs.next_entry(&mut cursor) {
            seen += 1;
            if seen > MAX_ENTRIES {
                return;
            }
            let _ = (e.name(), e.short_name(), e.created(), e.modified(), e.accessed());
            // Lookup by name (a few per input: each is a directory scan).
            if seen <= 64 && !e.is_dot() {
                let name = e.name().to_owned();
                let _ = fs.lookup_from(&dir_entry, &name);
                let short = e.short_name().to_owned();
                let _ = fs.lookup_from(&dir_entry, &short);
            }
            if e.is_dir() {
                if !e.is_dot() && depth < MAX_DEPTH {
                    stack.push((e, depth + 1));
                }
            } else {
                read_file(&mut fs, &e);
            }
        }
    }
    for p in ["/EFI/BOOT/BOOTX64.EFI", "\\loader\\entries\\a.conf", "/a/../b/./c"] {
        let _ = fs.open(p);
    }
});
