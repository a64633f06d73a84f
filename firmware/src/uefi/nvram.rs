//! Non-volatile variables that survive a warm reset of the same VM, and
//! VM runs when the guest's disk carries a variable file.
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
//! in that file too. vmfw never changes the FAT: it overwrites the file's
//! own bytes in place through the mounted volume (so every reader of that
//! volume sees the new bytes), a whole slot at a time, then flushes; a
//! torn write fails its checksum and the other slot wins. Changes made
//! while boot services run go to the file at once; changes made by the OS
//! at runtime (the disk is the OS's then) reach it at the next boot of
//! the same VM.

use super::state::{Runtime, VarFile, DISKS, RUNTIME};
use crate::disks::BootDisk;
use crate::memory;
use alloc::vec::Vec;
use vmfw_efi::persist;
use vmfw_memmap::{MemoryType, PAGE_SIZE};

/// Where the slots live: 15 MiB above the start of RAM (rounded down to
/// a MiB): on x86 at 15 MiB, below where kernels load (16 MiB) and above
/// what BIOSes and VMMs use; on arm64 VMMs (RAM from 1 GiB) past the
/// device tree and the firmware, which loaders put at the start of RAM.
/// The same on every boot of the same VM, so a warm reset finds them.
fn base() -> u64 {
    const OFFSET: u64 = 0x00f0_0000;
    let ram = memory::with_map(|m| m.regions().iter().find(|r| r.ty.is_ram()).map(|r| r.start));
    (ram.unwrap_or(0) & !0xf_ffff) + OFFSET
}
/// Bytes per slot: the 64 KiB store plus per-record headers.
const SLOT: u64 = 96 * 1024;

/// The variable file on an ESP, relative to the partition's volume.
pub const FILE: &str = "/EFI/vmfw/VARS.BIN";
/// The same, as the log shows it.
const FILE_SHOWN: &str = "\\EFI\\vmfw\\VARS.BIN";

/// An encoded slot and its sequence number.
pub struct Image {
    seq: u64,
    bytes: Vec<u8>,
}

fn slot(i: u64) -> &'static mut [u8] {
    // SAFETY: the region was reserved for this module in the memory map
    // (callers check `Nvram::ram`), is identity mapped (also under the
    // OS's runtime page tables, as runtime data), and only this module
    // touches it, one slot at a time, under the runtime lock.
    unsafe { core::slice::from_raw_parts_mut((base() + i * SLOT) as *mut u8, SLOT as usize) }
}

/// Claims the RAM slots and loads the records of the previous run into
/// the store (nothing on a cold start or when the region is not free).
pub fn init(r: &mut Runtime) {
    let pages = 2 * SLOT / PAGE_SIZE;
    let base = base();
    let ok = memory::with_map(|m| m.allocate_at(base, pages, MemoryType::RuntimeServicesData));
    if ok.is_err() {
        crate::warn!("variables: {base:#x} is not free RAM; non-volatile variables last one boot");
        return;
    }
    let (seq, records) = persist::newest(slot(0), slot(1)).unwrap_or_default();
    r.nvram.sequence = seq;
    r.nvram.ram = true;
    restore(r, &records, "kept from before the reset");
}

fn restore(r: &mut Runtime, records: &[persist::Record], from: &str) {
    if records.is_empty() {
        return;
    }
    let n = persist::restore(&mut r.vars, records);
    if n != records.len() {
        crate::warn!(
            "variables: {} of {} saved variables refused",
            records.len() - n,
            records.len()
        );
    }
    crate::info!("variables: {n} {from}");
}

/// The newest slot a previous run left in RAM, read without claiming the
/// region (for the boot manager's plan).
fn peek_ram() -> Option<Saved> {
    let len = 2 * SLOT;
    let base = base();
    let free = memory::with_map(|m| {
        m.regions()
            .iter()
            .any(|r| r.ty == MemoryType::Free && r.start <= base && r.end >= base + len)
    });
    if !free {
        return None;
    }
    let mut buf = alloc::vec![0u8; len as usize];
    vmfw_platform::PhysMem::read(&memory::Phys, base, &mut buf).ok()?;
    let (a, b) = buf.split_at(SLOT as usize);
    persist::newest(a, b)
}

/// The newest saved state: the RAM slots' or the first variable file's,
/// whichever has the higher sequence number (for the boot manager's
/// plan, before the UEFI environment exists).
pub fn peek(disks: &mut [BootDisk]) -> Vec<persist::Record> {
    let ram = peek_ram();
    let file = find_file(disks).and_then(|(_, newest)| newest);
    match (ram, file) {
        (Some((r, _)), Some((f, records))) if f > r => records,
        (None, Some((_, records))) => records,
        (Some((_, records)), _) => records,
        (None, None) => Vec::new(),
    }
}

/// A slot's sequence number and records.
type Saved = (u64, Vec<persist::Record>);

/// The first `\EFI\vmfw\VARS.BIN` that is large enough (ESPs in disk and
/// table order) and its newest slot, if one is valid.
fn find_file(disks: &mut [BootDisk]) -> Option<(VarFile, Option<Saved>)> {
    for d in disks.iter_mut() {
        let index = d.index;
        for v in d.volumes.iter_mut().filter(|v| v.esp) {
            let Ok(entry) = v.fs.lookup(FILE) else { continue };
            if entry.size() < 2 * SLOT {
                continue;
            }
            let Ok(mut f) = v.fs.open_file(&entry) else { continue };
            let mut buf = alloc::vec![0u8; 2 * SLOT as usize];
            if !matches!(v.fs.read_at(&mut f, 0, &mut buf), Ok(n) if n == buf.len()) {
                crate::warn!("variables: disk{index} {FILE_SHOWN} cannot be read; not used");
                continue;
            }
            let (a, b) = buf.split_at(SLOT as usize);
            let file = VarFile { disk: index, partition: v.partition, entry, warned: false };
            return Some((file, persist::newest(a, b)));
        }
    }
    None
}

/// Attaches the first variable file and reconciles it with the RAM
/// slots: a newer file is loaded into the store; newer RAM contents
/// (runtime changes before a warm reset) are written to the file.
/// Called with the disks lent.
pub fn attach(disks: &mut [BootDisk]) {
    let Some((file, newest)) = find_file(disks) else { return };
    let disk = file.disk;
    let writable = disks
        .iter()
        .find(|d| d.index == disk)
        .is_some_and(|d| !vmfw_block::BlockIo::read_only(&d.disk));
    let update = RUNTIME.with(|r| {
        let ram = r.nvram.sequence;
        r.nvram.file = Some(file);
        match newest {
            Some((seq, records)) if seq > ram => {
                r.nvram.sequence = seq;
                restore(r, &records, &alloc::format!("restored from disk{disk} {FILE_SHOWN}"));
                None
            }
            _ if ram > 0 && writable => {
                crate::info!("variables: disk{disk} {FILE_SHOWN} brought up to date");
                save_ram(r)
            }
            _ => {
                crate::info!(
                    "variables: kept in disk{disk} {FILE_SHOWN}{}",
                    if writable { "" } else { " (read-only disk: not updated)" }
                );
                None
            }
        }
    });
    if let Some(img) = update {
        let file = RUNTIME.with(|r| r.nvram.file.clone());
        if let Some(file) = file {
            write_file(disks, &file, &img);
        }
    }
}

fn encode(r: &mut Runtime) -> Option<Image> {
    let seq = r.nvram.sequence.wrapping_add(1);
    r.nvram.sequence = seq;
    let bytes = persist::encode(&r.vars, seq);
    if bytes.len() as u64 > SLOT {
        log::debug!("variables: image of {} bytes does not fit a slot; not saved", bytes.len());
        return None;
    }
    Some(Image { seq, bytes })
}

/// Saves the store's non-volatile variables into the older RAM slot and
/// returns the image for the file (see [`save_file`]).
pub fn save_ram(r: &mut Runtime) -> Option<Image> {
    let img = encode(r)?;
    if r.nvram.ram {
        let dst = slot(img.seq % 2);
        let b = &img.bytes;
        // Invalidate first, so a cut-short write cannot leave a valid
        // header over partial records; the other slot keeps the last state.
        dst[..8].fill(0);
        dst[8..b.len()].copy_from_slice(&b[8..]);
        dst[..8].copy_from_slice(&b[..8]);
    }
    (r.nvram.file.is_some() && !r.at_runtime).then_some(img)
}

/// Writes an image to the attached variable file, through the lent disks
/// (while boot services run).
pub fn save_file(img: &Image) {
    let Some(file) = RUNTIME.with(|r| r.nvram.file.clone()) else { return };
    if DISKS.with(|d| write_file(d, &file, img)) == Some(Written::ReadOnly) {
        RUNTIME.with(|r| r.nvram.file.as_mut().map(|f| f.warned = true));
    }
}

#[derive(PartialEq, Eq)]
enum Written {
    Done,
    ReadOnly,
}

/// Writes slot `img.seq % 2` of `file`; says whether the disk was
/// read-only (warned about once).
fn write_file(disks: &mut [BootDisk], file: &VarFile, img: &Image) -> Written {
    let Some(d) = disks.iter_mut().find(|d| d.index == file.disk) else { return Written::Done };
    if vmfw_block::BlockIo::read_only(&d.disk) {
        if !file.warned {
            crate::warn!("variables: disk{} is read-only; {FILE_SHOWN} not updated", file.disk);
        }
        return Written::ReadOnly;
    }
    let Some(fs) = d.volume(file.partition) else { return Written::Done };
    let mut slot = alloc::vec![0u8; SLOT as usize];
    slot[..img.bytes.len()].copy_from_slice(&img.bytes);
    let r = fs
        .open_file(&file.entry)
        .and_then(|mut f| fs.overwrite_at(&mut f, (img.seq % 2) * SLOT, &slot))
        .and_then(|_| fs.flush());
    if let Err(e) = r {
        crate::warn!("variables: disk{} {FILE_SHOWN}: {e}", file.disk);
    }
    Written::Done
}
