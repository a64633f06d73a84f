//! The Secure Boot keys (`PK`, `KEK`, `db`, `dbx`) the operator embedded
//! in the firmware image with `cargo xtask enroll`.
//!
//! Why in the image: the guest can write the variable store on its ESP
//! and any RAM it keeps across a reset, but not the image the VMM loads
//! (QEMU reloads `-kernel` images on every reset; Cloud Hypervisor and
//! Firecracker load them once per VM).
//!
//! How: [`DESCRIPTOR`] sits in the read-only data, all zero in a plain
//! build. `enroll` appends the key blob (format: `vmfw_efi::sbkeys`)
//! after the image's last byte in memory, past .bss and the stack (x86_64:
//! a new PT_LOAD segment; aarch64: the flat Image with its `image_size`
//! raised), and writes the blob's offset from the image's first byte and
//! its length into the descriptor. An offset rather than an address
//! because the arm64 image runs wherever its loader put it; on x86_64 the
//! image runs where it is linked, and the same rule holds.
//!
//! The blob's pages are reserved in the memory map before anything is
//! allocated ([`reserve`]), as firmware data: never handed out, reported
//! as `EfiBootServicesData`, so the OS may reuse them after
//! `ExitBootServices()`: the keys are read from here only before that.
//!
//! An image that carries keys which cannot be used (the blob outside RAM,
//! overlapping the image, or malformed) stops the firmware: booting in
//! setup mode instead would turn a mistake into a silently unverified
//! boot. `cargo xtask enroll --inspect` says what is wrong with a blob;
//! the firmware only says that something is (the error texts would cost
//! it a kilobyte).
//!
//! Kept small on purpose (it is in every build): atomics rather than
//! once-cells, two log lines.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use vmfw_efi::sbkeys;
use vmfw_memmap::{MemoryMap, MemoryType};

/// The descriptor `cargo xtask enroll` finds by its magic and patches:
/// magic `VMFWKD01`, then the blob's offset from the image's first byte
/// and its length (u32 little endian each); a length of zero: no keys.
#[repr(C, align(8))]
struct Descriptor {
    /// Never compared here: a second copy of it in the code would leave
    /// xtask two places to patch.
    #[allow(dead_code)]
    magic: [u8; 8],
    offset: u32,
    len: u32,
}

/// Kept (`#[used]`) and in its own section so that the linker keeps it
/// whole in the read-only segment; read only with a volatile read, since
/// to the compiler it is a constant zero.
#[used]
#[link_section = ".rodata.vmfw_keys"]
static DESCRIPTOR: Descriptor = Descriptor { magic: *b"VMFWKD01", offset: 0, len: 0 };

/// The blob's address and length once [`reserve`] placed it (length 0:
/// no keys), and whether [`init`] checked its contents.
static ADDR: AtomicU64 = AtomicU64::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
static CHECKED: AtomicBool = AtomicBool::new(false);

/// Reads the descriptor and, when it names a blob, checks that the blob
/// lies in free RAM after the firmware image and reserves its pages in
/// `map` (the VMM's map, before the page allocator takes it); stops the
/// firmware if not. Call once, before `memory::init`.
pub fn reserve(map: &mut MemoryMap) {
    // SAFETY: a plain read of an aligned, initialised static; volatile so
    // that what enroll patched into the image is read, not the constant.
    let d = unsafe { core::ptr::read_volatile(&raw const DESCRIPTOR) };
    if d.len == 0 {
        return;
    }
    let (start, end) = crate::memory::image_range();
    // An image address plus two u32s cannot overflow; saturating anyway.
    let addr = start.saturating_add(u64::from(d.offset));
    let len = u64::from(d.len);
    if addr < end
        || !all_free(map, addr, addr.saturating_add(len))
        || map.reserve(addr, len, MemoryType::FirmwareData).is_err()
    {
        crate::power::fatal("secure boot key blob not in free RAM after the image");
    }
    ADDR.store(addr, Ordering::Relaxed);
    LEN.store(d.len as usize, Ordering::Relaxed);
}

/// True when `[start, end)` lies in one free region of `map` (the map
/// merges neighbours of the same type, so free RAM is one region).
fn all_free(map: &MemoryMap, start: u64, end: u64) -> bool {
    map.regions().iter().any(|r| r.ty == MemoryType::Free && r.start <= start && end <= r.end)
}

/// Checks the blob [`reserve`] placed and logs what it holds, one line;
/// stops the firmware if it is malformed. Call once, after `memory::init`
/// (which maps all RAM).
pub fn init() {
    let Some(blob) = placed() else {
        crate::info!("secure boot keys: none (setup mode)");
        return;
    };
    let Ok(keys) = sbkeys::parse(blob) else {
        crate::power::fatal("secure boot key blob malformed (cargo xtask enroll --inspect)")
    };
    CHECKED.store(true, Ordering::Relaxed);
    // `parse` walked every list, so counting cannot fail; an absent
    // variable counts 0 ("PK 0": setup mode; enroll warns about that).
    // One format string with four numbers is about 200 bytes less code
    // than listing only the variables present.
    let n = |c: Option<&[u8]>| c.map_or(0, |c| sbkeys::count_signatures(c).unwrap_or(0));
    let (pk, kek, db, dbx) = (n(keys.pk), n(keys.kek), n(keys.db), n(keys.dbx));
    crate::info!(
        "secure boot keys: PK {pk}, KEK {kek}, db {db}, dbx {dbx} entries (from the firmware \
         image)"
    );
}

/// The blob [`reserve`] placed, unchecked.
fn placed() -> Option<&'static [u8]> {
    let len = LEN.load(Ordering::Relaxed);
    if len == 0 {
        return None;
    }
    // SAFETY: `reserve` checked that the range is RAM outside the image
    // and reserved its pages as firmware data, so the page allocator never
    // hands them out; all RAM is identity-mapped after memory::init, which
    // precedes every caller; nothing writes the blob.
    Some(unsafe { core::slice::from_raw_parts(ADDR.load(Ordering::Relaxed) as *const u8, len) })
}

/// The key blob the image carries (checked: format, signature lists), or
/// `None` in setup mode. Only valid before `ExitBootServices()`: the
/// pages are boot services data, the OS's afterwards; whatever serves the
/// variables at runtime copies them first (`uefi::secureboot` defines
/// them in the variable store, which is runtime memory).
pub fn blob() -> Option<&'static [u8]> {
    placed().filter(|_| CHECKED.load(Ordering::Relaxed))
}
