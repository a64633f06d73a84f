//! Identity paging with the MMU and caches on (Arm ARM D8, VMSAv8-64:
//! 4 KiB granule, 48-bit virtual addresses, four levels, TTBR0_EL1 only).
//!
//! Memory types come from MAIR_EL1: attribute 0 is Device-nGnRE (device
//! registers, PCI windows), attribute 1 Normal write-back cacheable (RAM).
//! The firmware image is mapped with 4 KiB pages: text read-only and
//! executable, read-only data read-only and non-executable, data, .bss and
//! stacks read-write and non-executable; the stack guard page is left out.
//! RAM is read-write and executable (UEFI images run from it), device
//! memory never executable. Other ranges use 1 GiB or 2 MiB blocks.
//!
//! [`init_early`] runs with the MMU off, straight from the entry code: it
//! maps the image (and the rest of the 2 MiB blocks it occupies, which
//! are RAM) and the device tree from a small static pool of tables, and
//! turns on the MMU and caches. Everything else is mapped later by
//! [`map_identity`] from pages of the memory map.
//!
//! Invariant: virtual == physical for everything mapped.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const VALID: u64 = 1;
/// Bit 1: "table" at levels 0-2, "page" at level 3; clear for a block.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const AP_READ_ONLY: u64 = 1 << 7;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

const PAGE: u64 = 4096;
const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
/// The top of the 48-bit virtual address space (T0SZ = 16).
const VA_END: u64 = 1 << 48;

/// MAIR_EL1: attribute 0 Device-nGnRE (0x04), attribute 1 Normal inner
/// and outer write-back, read- and write-allocate (0xff).
const MAIR: u64 = 0x04 | (0xff << 8);

/// The early mappings are all made by [`init_early`]; nothing is mapped
/// "below an initial end" as on x86_64, so the memory manager maps all RAM.
pub const INIT_MAP_END: u64 = 0;

type Table = [u64; 512];

/// Tables for [`init_early`]: the root, and enough lower levels for the
/// image and the device tree in different gigabytes (2 x (L1 + L2) + L3s).
const POOL_TABLES: usize = 12;

#[repr(C, align(4096))]
struct Pool(UnsafeCell<[Table; POOL_TABLES]>);

// SAFETY: only this module touches the pool, on the single firmware CPU
// with interrupts masked.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool(UnsafeCell::new([[0; 512]; POOL_TABLES]));
/// The pool pages [`init_early`] left, for device mappings made before
/// the memory manager exists ([`early_table`]).
static POOL_NEXT: AtomicUsize = AtomicUsize::new(POOL_TABLES);

/// What a range is mapped as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// Firmware text: read-only, executable.
    Text,
    /// Firmware read-only data.
    ReadOnly,
    /// Firmware data: read-write, not executable.
    Data,
    /// RAM: read-write, executable.
    Ram,
    /// Device registers: Device-nGnRE, never executable.
    Device,
}

fn bits(attr: Attr) -> u64 {
    let normal = ATTR_NORMAL | INNER_SHAREABLE | ACCESS_FLAG;
    match attr {
        Attr::Text => normal | AP_READ_ONLY | UXN,
        Attr::ReadOnly => normal | AP_READ_ONLY | PXN | UXN,
        Attr::Data => normal | PXN | UXN,
        Attr::Ram => normal | UXN,
        Attr::Device => ATTR_DEVICE | ACCESS_FLAG | PXN | UXN,
    }
}

/// Page `i` of the static pool (zeroed: it is in .bss). A plain
/// counter, no atomics: exclusive accesses with the MMU off (Device
/// memory) are not guaranteed to work.
fn pool_page(used: &mut usize) -> Option<u64> {
    let i = *used;
    *used += 1;
    (i < POOL_TABLES).then(|| POOL.0.get() as u64 + (i as u64) * PAGE)
}

/// A zeroed page-table page from the static pool, for mappings made
/// after [`init_early`] and before the memory manager runs (the console,
/// the RTC); `None` when the pool is used up.
pub fn early_table() -> Option<u64> {
    let i = POOL_NEXT.fetch_add(1, Ordering::Relaxed);
    (i < POOL_TABLES).then(|| POOL.0.get() as u64 + (i as u64) * PAGE)
}

fn root() -> *mut Table {
    let ttbr: u64;
    // SAFETY: reads TTBR0_EL1, no side effects.
    unsafe { core::arch::asm!("mrs {}, ttbr0_el1", out(reg) ttbr, options(nomem, nostack)) };
    (ttbr & ADDR_MASK) as *mut Table
}

fn index(addr: u64, level: u32) -> usize {
    ((addr >> (39 - 9 * level)) & 511) as usize
}

/// Makes table writes visible to the table walker.
fn sync_tables() {
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack)) };
}

/// The next-level table an entry points to, allocated (zeroed) when the
/// entry is empty; `None` when it maps a block or allocation fails.
///
/// # Safety
/// `entry` must be a live entry of the tables in use (or being built).
unsafe fn next_table(
    entry: *mut u64,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Option<*mut Table> {
    // SAFETY: valid per the caller.
    let e = unsafe { *entry };
    if e & VALID != 0 {
        return (e & TABLE_OR_PAGE != 0).then_some((e & ADDR_MASK) as *mut Table);
    }
    let page = alloc()?;
    let table = page as *mut Table;
    // SAFETY: `alloc` returns a fresh identity-mapped (or, before the MMU
    // is on, physical) page owned by the paging code.
    unsafe {
        table.write_bytes(0, 1);
        *entry = page | VALID | TABLE_OR_PAGE;
    }
    Some(table)
}

/// Maps the pages of `[start, end)` (4 KiB aligned) as `attr` with level-3
/// entries, splitting nothing: the 2 MiB slots they fall in must be empty
/// or already tables.
///
/// # Safety
/// `root` must be the root table being built or in use.
unsafe fn map_pages(
    root: *mut Table,
    start: u64,
    end: u64,
    attr: Attr,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> bool {
    let mut addr = start;
    while addr < end {
        // SAFETY: walking tables this module owns, indices < 512.
        unsafe {
            let Some(l1) = next_table(&mut (*root)[index(addr, 0)], alloc) else { return false };
            let Some(l2) = next_table(&mut (*l1)[index(addr, 1)], alloc) else { return false };
            let Some(l3) = next_table(&mut (*l2)[index(addr, 2)], alloc) else { return false };
            (*l3)[index(addr, 3)] = addr | VALID | TABLE_OR_PAGE | bits(attr);
        }
        addr += PAGE;
    }
    true
}

extern "C" {
    static __image_start: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __image_end: u8;
}

/// Builds the first tables and turns on the MMU and caches: the image
/// with its per-section permissions, the rest of its 2 MiB blocks as RAM,
/// and the 2 MiB blocks holding `[fdt, fdt + fdt_len)` as RAM.
///
/// # Safety
/// Called once, by the entry shim, with the MMU off and the image
/// relocated; nothing may rely on other mappings afterwards until the
/// memory manager maps RAM.
pub unsafe fn init_early(fdt: u64, fdt_len: u64) {
    let image = &raw const __image_start as u64;
    let rodata = &raw const __rodata_start as u64;
    let data = &raw const __data_start as u64;
    let end = (&raw const __image_end as u64).next_multiple_of(PAGE);
    let block_start = image & !(MIB2 - 1);
    let block_end = end.next_multiple_of(MIB2);
    let mut used = 0;
    let Some(root_page) = pool_page(&mut used) else { return };
    let root = root_page as *mut Table;
    let alloc = &mut || pool_page(&mut used);
    // SAFETY: the pool is ours; the MMU is off, so these writes reach
    // memory directly and the walker reads them once it is on.
    unsafe {
        let _ = map_pages(root, block_start, image, Attr::Ram, alloc);
        let _ = map_pages(root, image, rodata, Attr::Text, alloc);
        let _ = map_pages(root, rodata, data, Attr::ReadOnly, alloc);
        let _ = map_pages(root, data, end, Attr::Data, alloc);
        let _ = map_pages(root, end, block_end, Attr::Ram, alloc);
        map_blocks(root, fdt, fdt_len, Attr::Ram, alloc);
    }
    let parange: u64;
    // SAFETY: reads ID_AA64MMFR0_EL1, no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64mmfr0_el1", out(reg) parange, options(nomem, nostack))
    };
    // TCR_EL1: T0SZ = 16; walks inner/outer write-back, inner shareable;
    // 4 KiB granule; TTBR1 walks off (EPD1); IPS = the CPU's PA size.
    let tcr: u64 = 16 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | ((parange & 7) << 32);
    // SAFETY: programs the translation regime for the tables above, which
    // map the code running now, its stack and data identically; caches
    // are invalidated for the image by the entry code.
    unsafe {
        core::arch::asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {root}",
            "dsb sy",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            "mrs {t}, sctlr_el1",
            // M (MMU), C (data cache), I (instruction cache) on; A
            // (alignment checks), WXN and EE off.
            "orr {t}, {t}, #(1 << 0)",
            "orr {t}, {t}, #(1 << 2)",
            "orr {t}, {t}, #(1 << 12)",
            "bic {t}, {t}, #(1 << 1)",
            "bic {t}, {t}, #(1 << 19)",
            "bic {t}, {t}, #(1 << 25)",
            "msr sctlr_el1, {t}",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) tcr,
            root = in(reg) root_page,
            t = out(reg) _,
            options(nostack)
        )
    };
    POOL_NEXT.store(used, Ordering::Relaxed);
}

/// Maps `[start, start + len)` rounded out to 2 MiB (1 GiB blocks where
/// a whole aligned gigabyte is free), leaving mapped slots alone.
///
/// # Safety
/// `root` must be the root table in use or being built.
unsafe fn map_blocks(
    root: *mut Table,
    start: u64,
    len: u64,
    attr: Attr,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> bool {
    let Some(end) = start.checked_add(len).and_then(|e| e.checked_add(MIB2 - 1)) else {
        return false;
    };
    let end = end & !(MIB2 - 1);
    if end > VA_END {
        return false;
    }
    let mut addr = start & !(MIB2 - 1);
    while addr < end {
        // SAFETY: walking tables this module owns, indices < 512.
        unsafe {
            let Some(l1) = next_table(&mut (*root)[index(addr, 0)], alloc) else { return false };
            let l1e = &mut (*l1)[index(addr, 1)];
            if *l1e & VALID != 0 && *l1e & TABLE_OR_PAGE == 0 {
                addr = (addr & !(GIB - 1)) + GIB;
                continue;
            }
            if *l1e & VALID == 0 && addr.is_multiple_of(GIB) && end - addr >= GIB {
                *l1e = addr | VALID | bits(attr);
                addr += GIB;
                continue;
            }
            let Some(l2) = next_table(l1e, alloc) else { return false };
            let l2e = &mut (*l2)[index(addr, 2)];
            if *l2e & VALID == 0 {
                *l2e = addr | VALID | bits(attr);
            }
        }
        addr += MIB2;
    }
    true
}

/// Nothing to do: [`init_early`] switched to the firmware's tables before
/// any Rust code but the entry shim ran.
///
/// # Safety
/// None; `unsafe` to match the architecture-neutral interface.
pub unsafe fn init() {}

/// No RAM at address 0 on the arm64 VMMs (RAM starts at 1 GiB on QEMU
/// virt and Cloud Hypervisor); whatever is there is mapped like the rest.
pub fn map_page_zero() {}

/// Identity-maps `[start, start + len)` as RAM or device memory; see
/// `arch::paging::map`.
pub fn map_identity(
    start: u64,
    len: u64,
    device: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> bool {
    let attr = if device { Attr::Device } else { Attr::Ram };
    // SAFETY: the live tables, on the single firmware CPU.
    let ok = unsafe { map_blocks(root(), start, len, attr, alloc) };
    sync_tables();
    ok
}

/// The level-3 entry for `addr`, if it is mapped by a page.
fn page_entry(addr: u64) -> Option<*mut u64> {
    let mut table = root();
    for level in 0..3 {
        // SAFETY: read-only walk of the live tables, indices < 512.
        let e = unsafe { (*table)[index(addr, level)] };
        if e & VALID == 0 || e & TABLE_OR_PAGE == 0 {
            return None;
        }
        table = (e & ADDR_MASK) as *mut Table;
    }
    // SAFETY: `table` is a live level-3 table.
    Some(unsafe { &mut (*table)[index(addr, 3)] as *mut u64 })
}

/// Unmaps the 4 KiB page at `addr` (the stack guard, inside the image,
/// which is mapped by pages).
pub fn unmap_page(addr: u64, _alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
    let Some(e) = page_entry(addr) else { return false };
    // SAFETY: clears a live level-3 entry of the firmware's own image and
    // invalidates its translation (break-before-make is not needed when
    // going to invalid).
    unsafe {
        *e = 0;
        core::arch::asm!(
            "dsb ishst",
            "tlbi vaae1, {page}",
            "dsb ish",
            "isb",
            page = in(reg) addr >> 12,
            options(nostack)
        );
    }
    true
}

/// True when `addr` is mapped.
pub fn is_mapped(addr: u64) -> bool {
    if addr >= VA_END {
        return false;
    }
    let mut table = root();
    for level in 0..4 {
        // SAFETY: read-only walk of the live tables, indices < 512.
        let e = unsafe { (*table)[index(addr, level)] };
        if e & VALID == 0 {
            return false;
        }
        if level == 3 || e & TABLE_OR_PAGE == 0 {
            return true;
        }
        table = (e & ADDR_MASK) as *mut Table;
    }
    true
}
