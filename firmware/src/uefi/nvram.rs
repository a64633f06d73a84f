//! Non-volatile variables that survive a warm reset of the same VM.
//!
//! VMMs keep guest RAM across a reset (QEMU's `system_reset`, a guest's
//! `reboot`), so vmfw keeps the non-volatile variables in two checksummed
//! slots (`vmfw_efi::persist`) at a fixed RAM address, runtime services
//! data in the memory map. Each `SetVariable()` that changes a
//! non-volatile variable writes the other slot, so a write cut short by a
//! reset leaves the previous state intact. A cold start finds no valid
//! slot and starts empty. Persistence across separate VM runs needs a
//! store on disk; see the README's design note.

use super::global::Global;
use crate::memory;
use vmfw_efi::persist;
use vmfw_memmap::{MemoryType, PAGE_SIZE};

/// Where the slots live: 15 MiB, below where kernels load (16 MiB) and
/// above what BIOSes and VMMs use.
const BASE: u64 = 0x00f0_0000;
/// Bytes per slot: the 64 KiB store plus per-record headers.
const SLOT: u64 = 96 * 1024;

/// The sequence number of the newest slot, once the region is ours.
static SEQUENCE: Global<u64> = Global::new();

fn slot(i: u64) -> &'static mut [u8] {
    // SAFETY: the region was reserved for this module in the memory map
    // (checked by the caller through SEQUENCE being set), is identity
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
    SEQUENCE.set(seq);
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

/// Saves the store's non-volatile variables into the older slot.
pub fn save(store: &vmfw_efi::VariableStore) {
    let Some(seq) = SEQUENCE.try_with(|s| {
        *s += 1;
        *s
    }) else {
        return;
    };
    let img = persist::encode(store, seq);
    let dst = slot(seq % 2);
    if img.len() > dst.len() {
        log::debug!("variables: image of {} bytes does not fit a slot; not saved", img.len());
        return;
    }
    // Invalidate first, so a cut-short write cannot leave a valid header
    // over partial records; the other slot still holds the last state.
    dst[..8].fill(0);
    dst[8..img.len()].copy_from_slice(&img[8..]);
    dst[..8].copy_from_slice(&img[..8]);
}
