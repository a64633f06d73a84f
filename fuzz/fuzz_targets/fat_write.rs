//! `vmfw_fat`'s write side on a hostile image: create, write (in place and
//! growing), set_len, rename, set_attributes and delete, in any order,
//! through the public API only.
//!
//! Input format:
//!
//! ```text
//! ops_len: u16 LE, ops: [u8; ops_len]   operations (see `fuzz_target!`)
//! disk: the rest, as for the `fat` target (`src/fatdisk.rs`); a sparse
//!       disk is materialised when it is at most 64 MiB
//! ```
//!
//! Checks: nothing panics or hangs; after every successful operation the
//! image still mounts and its root directory lists without error; a
//! successful write reads back, a created file is found empty, a renamed
//! file is found under its new name with its old size, new attributes
//! read back, a deleted one is gone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_block::{BlockIo, MemDisk};
use vmfw_fat::{Dir, FileSystem};
use vmfw_fuzz::fatdisk::decode;

const MAX_OPS: usize = 64;
const MAX_MATERIAL: u64 = 64 << 20;

const NAMES: [&str; 8] = [
    "a.conf",
    "A.CON",
    "accept+1.conf",
    "accept+0-1.conf",
    "grubenv",
    "Grüße aus Köln.txt",
    "a name that needs three long-name slots.conf",
    "BOOTX64.EFI",
];

fn remount_ok(img: &[u8], bs: u32) {
    let mut fs = FileSystem::mount(MemDisk::new(img.to_vec(), bs))
        .expect("an image that mounted and was written must still mount");
    let root = fs.root_dir();
    for e in fs.read_dir(root).take(4096) {
        if e.is_err() {
            break;
        }
    }
}

fn dir_of(fs: &mut FileSystem<MemDisk>, sel: u8) -> Option<Dir> {
    if sel & 1 == 0 {
        return Some(fs.root_dir());
    }
    let e = fs.lookup("/loader/entries").ok()?;
    fs.dir_of(&e).ok()
}

fuzz_target!(|data: &[u8]| {
    let [l0, l1, rest @ ..] = data else { return };
    let n = usize::from(u16::from_le_bytes([*l0, *l1])).min(rest.len());
    let (ops, disk) = rest.split_at(n);
    let Some(mut disk) = decode(disk) else { return };
    let bs = disk.block_size();
    let bytes = disk.num_blocks().saturating_mul(u64::from(bs));
    if bytes > MAX_MATERIAL {
        return;
    }
    let mut img = vec![0u8; bytes as usize];
    if disk.read_blocks(0, &mut img).is_err() {
        return;
    }
    let Ok(mut fs) = FileSystem::mount(MemDisk::new(img, bs).writable()) else { return };
    let mut ops = ops.iter().copied();
    let mut next = move || ops.next();
    for _ in 0..MAX_OPS {
        let Some(op) = next() else { break };
        let a = next().unwrap_or(0);
        let b = next().unwrap_or(0);
        let Some(dir) = dir_of(&mut fs, op >> 4) else { continue };
        let name = NAMES[usize::from(a) % NAMES.len()];
        let other = NAMES[usize::from(b) % NAMES.len()];
        let ok = match op % 7 {
            0 => match fs.create(dir, name) {
                Ok(f) => {
                    assert_eq!(f.size(), 0);
                    let e = fs.find(dir, name).expect("created file is found");
                    assert_eq!(e.size(), 0);
                    true
                }
                Err(_) => false,
            },
            1 | 2 => {
                let Ok(e) = fs.find(dir, name) else { continue };
                let Ok(mut f) = fs.open_file(&e) else { continue };
                let off = u64::from(b) << (op % 4 * 3);
                let len = usize::from(next().unwrap_or(0)) << (op >> 6);
                let buf: Vec<u8> = (0..len).map(|i| (i as u8) ^ a).collect();
                match fs.write_at(&mut f, off, &buf) {
                    Ok(n) => {
                        assert_eq!(n, buf.len());
                        let mut back = vec![0u8; buf.len()];
                        let got = fs.read_at(&mut f, off, &mut back).expect("read back");
                        assert_eq!(got, buf.len());
                        assert!(back == buf, "write reads back");
                        true
                    }
                    Err(_) => false,
                }
            }
            3 => {
                let Ok(e) = fs.find(dir, name) else { continue };
                let Ok(mut f) = fs.open_file(&e) else { continue };
                let len = u64::from(b) << (op % 4 * 4);
                match fs.set_len(&mut f, len) {
                    Ok(()) => {
                        assert_eq!(f.size(), len);
                        true
                    }
                    Err(_) => false,
                }
            }
            4 => {
                let size = fs.find(dir, name).map(|e| e.size());
                match fs.rename(dir, name, other) {
                    Ok(()) => {
                        let e = fs.find(dir, other).expect("renamed file is found");
                        assert_eq!(Ok(e.size()), size);
                        true
                    }
                    Err(_) => false,
                }
            }
            5 => match fs.set_attributes(dir, name, b) {
                Ok(()) => {
                    let e = fs.find(dir, name).expect("the entry is still found");
                    assert_eq!(e.attributes().0 & 0x27, b & 0x27, "attributes read back");
                    true
                }
                Err(_) => false,
            },
            _ => match fs.delete(dir, name) {
                Ok(()) => {
                    assert!(fs.find(dir, name).is_err(), "deleted file is gone");
                    true
                }
                Err(_) => false,
            },
        };
        if ok {
            remount_ok(fs.device().data(), bs);
        }
    }
});
