//! Non-volatile variables that survive a warm reset of the same VM.
//!
//! VMMs keep guest RAM across a reset (QEMU's `system_reset`, a guest's
//! `reboot`), so vmfw keeps the non-volatile variables in two checksummed
//! slots (`vmfw_efi::persist`) at a fixed RAM address, runtime services
//! data in the memory map. Each `SetVariable()` that changes a
//! non-volatile variable writes the other slot, so a write cut short by a
//! reset leaves the previous state intact. A cold start finds no valid
//! slot in RAM.
//!
//! Across VM runs: when an ESP holds a preallocated `\EFI\vmfw\VARS.BIN`
//! (at least two slots long) on a writable disk, the same two slots live
//! in that file too. vmfw never changes the FAT: it writes the file's own
//! sectors in place, a whole slot at a time, then flushes; a torn write
//! fails its checksum and the other slot wins. Changes made while boot
//! services run go to the file at once; changes made by the OS at runtime
//! (the disk is the OS's then) reach it at the next boot of the same VM.

use super::disk::DISKS;
use super::global::Global;
use crate::memory;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use vmfw_block::BlockIo;
use vmfw_efi::persist;
use vmfw_memmap::{MemoryType, PAGE_SIZE};

/// Where the slots live: 15 MiB, below where kernels load (16 MiB) and
/// above what BIOSes and VMMs use.
const BASE: u64 = 0x00f0_0000;
/// Bytes per slot: the 64 KiB store plus per-record headers.
const SLOT: u64 = 96 * 1024;

/// The sequence number of the newest slot written or found.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
/// Whether the RAM region is ours (claimed in the memory map).
static RAM: AtomicBool = AtomicBool::new(false);

fn slot(i: u64) -> &'static mut [u8] {
    // SAFETY: the region was reserved for this module in the memory map
    // (callers check RAM), is identity
    // mapped (also under the OS's runtime page tables, as runtime data),
    // and only this module touches it, one slot at a time.
    unsafe { core::slice::from_raw_parts_mut((BASE + i * SLOT) as *mut u8, SLOT as usize) }
}

/// Claims the region and returns the saved records of the previous run
/// (empty on a cold start or when the region is not free RAM).
pub fn init() -> alloc::vec::Vec<persist::Record> {
    let pages = 2 * SLOT / PAGE_SIZE;
    let ok = memory::with_map(|m| m.allocate_at(BASE, pages, MemoryType::RuntimeServicesData));
    if ok.is_err() {
        log::warn!("variables: {BASE:#x} is not free RAM; non-volatile variables last one boot");
        return alloc::vec::Vec::new();
    }
    let found = persist::newest(slot(0), slot(1));
    let (seq, records) = found.unwrap_or_default();
    SEQUENCE.store(seq, Ordering::Relaxed);
    RAM.store(true, Ordering::Relaxed);
    if !records.is_empty() {
        log::info!("variables: {} kept from before the reset", records.len());
    }
    records
}

/// The records a previous run left, read without claiming the region
/// (for the boot manager's first decision).
pub fn peek() -> alloc::vec::Vec<persist::Record> {
    let len = 2 * SLOT;
    let free = memory::with_map(|m| {
        m.regions()
            .iter()
            .any(|r| r.ty == MemoryType::Free && r.start <= BASE && r.end >= BASE + len)
    });
    if !free {
        return alloc::vec::Vec::new();
    }
    let mut buf = alloc::vec![0u8; len as usize];
    if vmfw_platform::PhysMem::read(&memory::Phys, BASE, &mut buf).is_err() {
        return alloc::vec::Vec::new();
    }
    let (a, b) = buf.split_at(SLOT as usize);
    persist::newest(a, b).map(|(_, r)| r).unwrap_or_default()
}

/// Saves the store's non-volatile variables into the older slot, in RAM
/// and in the attached file.
pub fn save(store: &vmfw_efi::VariableStore) {
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    let img = persist::encode(store, seq);
    if img.len() as u64 > SLOT {
        log::debug!("variables: image of {} bytes does not fit a slot; not saved", img.len());
        return;
    }
    if RAM.load(Ordering::Relaxed) {
        let dst = slot(seq % 2);
        // Invalidate first, so a cut-short write cannot leave a valid
        // header over partial records; the other slot keeps the last state.
        dst[..8].fill(0);
        dst[8..img.len()].copy_from_slice(&img[8..]);
        dst[..8].copy_from_slice(&img[..8]);
    }
    save_to_file(seq, &img);
}

/// The variable file on an ESP, relative to the partition's volume.
pub const FILE: &str = "\\EFI\\vmfw\\VARS.BIN";

/// The attached file: its disk and `(disk byte offset, length)` pieces.
struct EspFile {
    disk: usize,
    pieces: Vec<(u64, u64)>,
    warned: bool,
}

static ESP_FILE: Global<EspFile> = Global::new();

/// Reads `buf.len()` bytes at file offset `off` of the attached file.
fn file_io(f: &EspFile, off: u64, len: u64, mut each: impl FnMut(u64, u64, u64) -> bool) -> bool {
    // Calls each(disk offset, buffer offset, length) for every piece of
    // [off, off + len) in file order.
    let mut pos = 0u64;
    for &(disk_off, plen) in &f.pieces {
        let (a, b) = (pos.max(off), (pos + plen).min(off + len));
        if a < b && !each(disk_off + (a - pos), a - off, b - a) {
            return false;
        }
        pos += plen;
    }
    pos >= off + len
}

fn read_slot(f: &EspFile, i: u64) -> Option<Vec<u8>> {
    let mut buf = alloc::vec![0u8; SLOT as usize];
    let ok = file_io(f, i * SLOT, SLOT, |disk_off, b, n| {
        let dst = &mut buf[b as usize..(b + n) as usize];
        DISKS.with(|d| {
            d.get_mut(f.disk).is_some_and(|d| vmfw_block::read_bytes(d, disk_off, dst).is_ok())
        })
    });
    ok.then_some(buf)
}

fn write_slot(f: &EspFile, i: u64, img: &[u8]) -> Result<(), &'static str> {
    let mut buf = alloc::vec![0u8; SLOT as usize];
    buf[..img.len()].copy_from_slice(img);
    let ok = file_io(f, i * SLOT, SLOT, |disk_off, b, n| {
        DISKS.with(|d| {
            d.get_mut(f.disk).is_some_and(|d| {
                let bs = u64::from(d.block_size());
                disk_off % bs == 0
                    && n % bs == 0
                    && d.write_blocks(disk_off / bs, &buf[b as usize..(b + n) as usize]).is_ok()
            })
        })
    });
    if !ok {
        return Err("write failed");
    }
    DISKS
        .with(|d| d.get_mut(f.disk).map(|d| d.flush()))
        .map_or(Err("no disk"), |r| r.map_err(|_| "flush failed"))
}

/// Attaches the first `\EFI\vmfw\VARS.BIN` found (ESPs in disk order)
/// and reconciles it with the RAM slots: a newer file is loaded into
/// `store`; newer RAM contents (runtime changes before a warm reset) are
/// written to the file.
pub fn attach(candidates: &[(usize, Vec<(u64, u64)>)], store: &mut vmfw_efi::VariableStore) {
    let Some((disk, pieces)) =
        candidates.iter().find(|(_, p)| p.iter().map(|x| x.1).sum::<u64>() >= 2 * SLOT)
    else {
        return;
    };
    let f = EspFile { disk: *disk, pieces: pieces.clone(), warned: false };
    let (a, b) = (read_slot(&f, 0), read_slot(&f, 1));
    let (Some(a), Some(b)) = (a, b) else {
        log::warn!("variables: disk{disk} {FILE} cannot be read; not used");
        return;
    };
    let ram = SEQUENCE.load(Ordering::Relaxed);
    let file = persist::newest(&a, &b);
    let writable = DISKS.with(|d| d.get(*disk).is_some_and(|d| !d.read_only()));
    ESP_FILE.set(f);
    match file {
        Some((seq, records)) if seq > ram => {
            let n = persist::restore(store, &records);
            SEQUENCE.store(seq, Ordering::Relaxed);
            log::info!("variables: {n} restored from disk{disk} {FILE}");
        }
        _ if ram > 0 && writable => {
            save(store);
            log::info!("variables: disk{disk} {FILE} brought up to date");
        }
        _ => log::info!(
            "variables: kept in disk{disk} {FILE}{}",
            if writable { "" } else { " (read-only disk: not updated)" }
        ),
    }
}

/// Writes slot `seq % 2` of the attached file (while boot services run).
fn save_to_file(seq: u64, img: &[u8]) {
    if super::at_runtime() {
        return;
    }
    ESP_FILE.try_with(|f| {
        let ro = DISKS.with(|d| d.get(f.disk).is_none_or(|d| d.read_only()));
        if ro {
            if !f.warned {
                log::warn!("variables: disk{} is read-only; {FILE} not updated", f.disk);
                f.warned = true;
            }
            return;
        }
        if let Err(e) = write_slot(f, seq % 2, img) {
            log::warn!("variables: disk{} {FILE}: {e}", f.disk);
        }
    });
}
