//! The UEFI file protocol's use of `vmfw-fat`, as a loader drives it:
//! sequences of Open (relative to a handle, `\` or `/` separated, `.` and
//! `..`), Read (a file at its position; a directory one entry per call),
//! SetPosition (0, end-of-file, anywhere), GetPosition, GetInfo, Close and
//! whole-file reads, over a fuzzed FAT image, through `vmfw_fat`'s public
//! API only, with the same handle rules as `firmware/src/uefi/fs.rs`.
//!
//! Input format:
//!
//! ```text
//! ops_len: u16 LE, ops: [u8; ops_len]   operations (see `fuzz_target!`)
//! disk: the rest, as for the `fat` target (`src/fatdisk.rs`)
//! ```
//!
//! Checks: nothing panics or hangs; a read returns at most what was asked,
//! exactly `min(asked, size - position)` when it succeeds, and the same
//! bytes as a whole-file read of that file; the position moves by what was
//! read; bytes past a read's count stay untouched; a name read from a
//! directory is found in it by `find`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_fat::{DirCursor, Entry, File, FileSystem};
use vmfw_fuzz::fatdisk::{decode, Disk};

/// Open handles at most (the root stays open).
const MAX_HANDLES: usize = 8;
/// Largest file read whole for comparison.
const MAX_WHOLE: u64 = 1 << 20;
/// Operations per input.
const MAX_OPS: usize = 256;

const PATHS: [&str; 12] = [
    "EFI",
    "\\EFI\\BOOT\\BOOTX64.EFI",
    "\\loader\\entries",
    "loader\\loader.conf",
    "..",
    ".",
    "\\",
    "a.conf",
    "EFI\\..\\EFI\\.\\BOOT",
    "/EFI/BOOT/",
    "BOOT\\..\\..\\..",
    "\\loader\\entries\\a.conf\\x",
];

struct Handle {
    entry: Entry,
    file: Option<File>,
    cursor: Option<DirCursor>,
    pos: u64,
    /// The whole file, once read (None: not yet, or too large / broken).
    whole: Option<Option<Vec<u8>>>,
}

fn new_handle(fs: &mut FileSystem<Disk>, entry: Entry) -> Option<Handle> {
    let (file, cursor) = if entry.is_dir() {
        (None, Some(DirCursor::new(fs.dir_of(&entry).ok()?)))
    } else {
        (Some(fs.open_file(&entry).ok()?), None)
    };
    Some(Handle { entry, file, cursor, pos: 0, whole: None })
}

fn whole(fs: &mut FileSystem<Disk>, h: &mut Handle) -> Option<Vec<u8>> {
    if h.whole.is_none() {
        let file = h.file.as_mut()?;
        let v = if file.size() <= MAX_WHOLE {
            let mut f = file.clone();
            fs.read_to_vec(&mut f, MAX_WHOLE as usize).ok()
        } else {
            None
        };
        h.whole = Some(v);
    }
    h.whole.clone().flatten()
}

fuzz_target!(|data: &[u8]| {
    let [l0, l1, rest @ ..] = data else { return };
    let n = usize::from(u16::from_le_bytes([*l0, *l1])).min(rest.len());
    let (ops, disk) = rest.split_at(n);
    let Some(disk) = decode(disk) else { return };
    let Ok(mut fs) = FileSystem::mount(disk) else { return };
    let root = fs.root_entry();
    let Some(root_handle) = new_handle(&mut fs, root) else { return };
    let mut handles = vec![root_handle];
    // Names seen in directory listings, to open by name later.
    let mut names: Vec<String> = Vec::new();
    let mut ops = ops.iter().copied();
    let mut next = move || ops.next();
    for _ in 0..MAX_OPS {
        let Some(op) = next() else { break };
        let hi = usize::from(next().unwrap_or(0)) % handles.len();
        match op % 8 {
            // Open, relative to the handle (a file's handle opens from the
            // root, as the firmware does).
            0 => {
                let sel = usize::from(next().unwrap_or(0));
                let path = match names.get(sel.wrapping_sub(PATHS.len())) {
                    Some(name) if sel >= PATHS.len() => name.clone(),
                    _ => PATHS[sel % PATHS.len()].to_string(),
                };
                let path = path.replace('\\', "/");
                let base = &handles[hi].entry;
                let base = if base.is_dir() { base.clone() } else { fs.root_entry() };
                if let Ok(e) = fs.lookup_from(&base, &path) {
                    if handles.len() < MAX_HANDLES {
                        if let Some(h) = new_handle(&mut fs, e) {
                            handles.push(h);
                        }
                    }
                }
            }
            // Read.
            1 => {
                let asked = usize::from(next().unwrap_or(0)) << (op >> 5);
                let h = &mut handles[hi];
                if let Some(c) = h.cursor.as_mut() {
                    let dir = h.entry.clone();
                    if let Ok(Some(e)) = fs.next_entry(c) {
                        let _ = (e.name(), e.created(), e.modified(), e.accessed(), e.attributes());
                        if !e.is_dot() && names.len() < 64 {
                            names.push(e.name().to_string());
                            // Looking the name up again walks the same
                            // directory by name: what a loader just listed
                            // it must be able to open.
                            let found = fs.find(c.dir(), e.name());
                            assert!(
                                found.is_ok(),
                                "{:?} listed but not found: {found:?}",
                                e.name()
                            );
                            let _ = fs.lookup_from(&dir, e.name());
                        }
                    }
                    continue;
                }
                let size = h.entry.size();
                let pos = h.pos;
                let Some(file) = h.file.as_mut() else { continue };
                if pos > size || asked == 0 {
                    continue;
                }
                let mut buf = vec![0xa5u8; asked];
                let r = fs.read_at(file, pos, &mut buf);
                if let Ok(n) = r {
                    assert!(n <= asked);
                    assert_eq!(
                        n as u64,
                        (size - pos).min(asked as u64),
                        "short read inside the file"
                    );
                    assert!(buf[n..].iter().all(|b| *b == 0xa5), "bytes past the count written");
                    h.pos += n as u64;
                    let (pos, n) = (pos as usize, n);
                    let h = &mut handles[hi];
                    if let Some(w) = whole(&mut fs, h) {
                        assert_eq!(&buf[..n], &w[pos..pos + n], "read differs from the whole file");
                    }
                }
            }
            // SetPosition.
            2 => {
                let h = &mut handles[hi];
                let to = match op >> 6 {
                    0 => 0,
                    1 => u64::MAX,
                    2 => u64::from(next().unwrap_or(0)) << 4,
                    _ => h.entry.size().saturating_sub(u64::from(next().unwrap_or(0))),
                };
                if let Some(c) = h.cursor.as_mut() {
                    if to == 0 {
                        *c = DirCursor::new(c.dir());
                    }
                } else {
                    h.pos = if to == u64::MAX { h.entry.size() } else { to };
                }
            }
            // GetInfo.
            3 => {
                let e = &handles[hi].entry;
                let _ = (e.name().encode_utf16().count(), e.size(), e.attributes().bits());
                let _ = (e.created(), e.modified(), e.accessed(), e.is_dir(), e.is_root());
                let info = fs.info();
                let _ = e.size().div_ceil(u64::from(info.cluster_size).max(1));
            }
            // Close (never the root).
            4 => {
                if hi > 0 {
                    handles.swap_remove(hi);
                }
            }
            // Whole-file read into a buffer of the file's size.
            5 => {
                let h = &mut handles[hi];
                if let Some(file) = h.file.as_mut() {
                    if file.size() <= MAX_WHOLE {
                        let mut buf = vec![0u8; file.size() as usize];
                        if let Ok(n) = fs.read_all(file, &mut buf) {
                            assert_eq!(n as u64, h.entry.size());
                            if let Some(w) = whole(&mut fs, &mut handles[hi]) {
                                assert_eq!(buf, w);
                            }
                        }
                    }
                }
            }
            // Absolute open, as LoadImage by file path does.
            6 => {
                let sel = usize::from(next().unwrap_or(0));
                let path = match names.get(sel % names.len().max(1)) {
                    Some(name) if op & 0x80 != 0 => format!("/{name}"),
                    _ => PATHS[sel % PATHS.len()].replace('\\', "/"),
                };
                if let Ok(mut f) = fs.open(&path) {
                    let _ = fs.extents(&mut f);
                }
            }
            // Volume facts.
            _ => {
                let _ = fs.volume_label();
                let _ = fs.fat_type();
            }
        }
    }
});
