//! Identity paging (Intel SDM vol. 3, §4.5, 4-level paging).
//!
//! [`init`] builds static tables that identity-map the first 4 GiB (RAM
//! below 4 GiB and the 32-bit device window: LAPIC, IOAPIC, ECAM, virtio-mmio)
//! with 2 MiB pages, except the first 2 MiB, which use 4 KiB pages so that
//! page 0 stays unmapped (null dereferences fault). [`map_identity`] later
//! adds RAM above 4 GiB and 64-bit device windows (PCI BARs far above
//! 4 GiB), with 1 GiB pages where the CPU has them; [`unmap_page`] punches
//! the stack guard.
//!
//! Invariant: virtual == physical for everything mapped, so addresses the
//! firmware hands to devices (DMA) or to the OS are the pointers it uses.

use core::cell::UnsafeCell;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;

type Table = [u64; 512];

/// [`init`] maps everything below this (page 0 excepted).
pub const INIT_MAP_END: u64 = 4 * GIB;

/// The static tables: PML4, one PDPT, four PDs (0–4 GiB), and the PT for
/// the first 2 MiB.
#[repr(C, align(4096))]
struct Static(UnsafeCell<[Table; 7]>);

// SAFETY: the tables are only modified by this module, which runs on the
// single firmware CPU with interrupts off.
unsafe impl Sync for Static {}

static TABLES: Static = Static(UnsafeCell::new([[0; 512]; 7]));

/// Builds the static identity map and switches to it.
///
/// # Safety
/// Must be called once, early, while the code, stack and data in use are
/// below 4 GiB (always true: the image is linked at 1 MiB).
pub unsafe fn init() {
    let base = TABLES.0.get() as *mut Table;
    // SAFETY: TABLES is ours; nothing else references it before the CR3
    // load below, so these exclusive accesses do not alias.
    unsafe {
        let t = &mut *TABLES.0.get();
        let addr = |i: usize| base.add(i) as u64;
        t[0][0] = addr(1) | PRESENT | WRITABLE;
        for gib in 0..4 {
            t[1][gib] = addr(2 + gib) | PRESENT | WRITABLE;
            for (j, e) in t[2 + gib].iter_mut().enumerate() {
                *e = ((gib as u64) * GIB + (j as u64) * MIB2) | PRESENT | WRITABLE | HUGE;
            }
        }
        t[2][0] = addr(6) | PRESENT | WRITABLE;
        for (k, e) in t[6].iter_mut().enumerate().skip(1) {
            *e = ((k as u64) << 12) | PRESENT | WRITABLE;
        }
        core::arch::asm!("mov cr3, {}", in(reg) addr(0), options(nostack));
    }
}

/// Maps page 0, which [`init`] leaves out to catch null pointers. The UEFI
/// environment needs it: UEFI 2.10 §2.3.4 has every page of the memory map
/// identity-mapped, and loaders use low memory after
/// `ExitBootServices()` (GRUB's relocator copies its trampoline to the
/// lowest free page, address 0).
pub fn map_page_zero() {
    // SAFETY: entry 0 of the static page table of the first 2 MiB; setting
    // it maps physical page 0 at virtual 0, as for every other low page,
    // and INVLPG drops any stale (not-present) translation.
    unsafe {
        let t = &mut *TABLES.0.get();
        t[6][0] = PRESENT | WRITABLE;
        core::arch::asm!("invlpg [{}]", in(reg) 0u64, options(nostack));
    }
}

fn has_1g_pages() -> bool {
    super::io::cpuid(0x8000_0000).0 >= 0x8000_0001
        && super::io::cpuid(0x8000_0001).3 & (1 << 26) != 0
}

fn root() -> *mut Table {
    (super::io::cr3() & ADDR_MASK) as *mut Table
}

/// Returns the table an entry points to, allocating a zeroed one when the
/// entry is empty. Fails when the entry maps a large page (callers split
/// first) or allocation fails.
///
/// # Safety
/// `entry` must be a live paging-structure entry of the current tables.
// Inlined into the 2 MiB loop of `map_identity`, which runs thousands of
// times for a large device window: at opt-level "z" a call per step costs
// more than the few bytes the two copies take.
#[inline(always)]
unsafe fn next_table(
    entry: *mut u64,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Option<*mut Table> {
    // SAFETY: the caller guarantees `entry` is valid.
    let e = unsafe { *entry };
    if e & PRESENT != 0 {
        return (e & HUGE == 0).then_some((e & ADDR_MASK) as *mut Table);
    }
    let page = alloc()?;
    let table = page as *mut Table;
    // SAFETY: `alloc` returns a fresh, identity-mapped page owned by the
    // paging code; writing it cannot alias other Rust data.
    unsafe {
        table.write_bytes(0, 1);
        *entry = page | PRESENT | WRITABLE;
    }
    Some(table)
}

/// Identity-maps `[start, start + len)` (rounded out to 2 MiB) read-write;
/// device ranges alike (see `arch::paging::Kind`).
/// Already-mapped parts are left alone. `alloc` supplies zeroable 4 KiB
/// pages for new tables. Returns false when a table could not be allocated.
pub fn map_identity(
    start: u64,
    len: u64,
    _device: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> bool {
    let Some(end) = start.checked_add(len).and_then(|e| e.checked_add(MIB2 - 1)) else {
        return false;
    };
    let end = end & !(MIB2 - 1);
    // Identity mapping only exists in the lower canonical half.
    if end > 1 << 47 {
        return false;
    }
    let mut addr = start & !(MIB2 - 1);
    let big = has_1g_pages();
    while addr < end {
        let (l4, l3, l2) = ((addr >> 39) & 511, (addr >> 30) & 511, (addr >> 21) & 511);
        // SAFETY: we walk the live tables built by `init` and by earlier
        // calls; entries are indexed within their 512-entry tables; new
        // tables come from `alloc`. Single CPU, interrupts off.
        unsafe {
            let Some(pdpt) = next_table(&mut (*root())[l4 as usize], alloc) else { return false };
            let pdpte = &mut (*pdpt)[l3 as usize];
            if *pdpte & PRESENT != 0 && *pdpte & HUGE != 0 {
                addr = (addr & !(GIB - 1)) + GIB;
                continue;
            }
            if big && *pdpte & PRESENT == 0 && addr.is_multiple_of(GIB) && end - addr >= GIB {
                *pdpte = addr | PRESENT | WRITABLE | HUGE;
                addr += GIB;
                continue;
            }
            let Some(pd) = next_table(pdpte, alloc) else { return false };
            let pde = &mut (*pd)[l2 as usize];
            if *pde & PRESENT == 0 {
                *pde = addr | PRESENT | WRITABLE | HUGE;
            }
        }
        addr += MIB2;
    }
    true
}

/// Unmaps the 4 KiB page at `addr` (splitting a 2 MiB page if needed), so
/// any access faults. Used for the stack guard page.
pub fn unmap_page(addr: u64, alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
    let (l4, l3, l2, l1) =
        ((addr >> 39) & 511, (addr >> 30) & 511, (addr >> 21) & 511, (addr >> 12) & 511);
    // SAFETY: as in `map_identity`; the split keeps every other page of the
    // 2 MiB region mapped to the same physical address before the switch.
    unsafe {
        let pml4e = &mut (*root())[l4 as usize];
        if *pml4e & PRESENT == 0 {
            return false;
        }
        let pdpt = (*pml4e & ADDR_MASK) as *mut Table;
        let pdpte = (*pdpt)[l3 as usize];
        if pdpte & PRESENT == 0 || pdpte & HUGE != 0 {
            return false;
        }
        let pd = (pdpte & ADDR_MASK) as *mut Table;
        let pde = &mut (*pd)[l2 as usize];
        if *pde & PRESENT == 0 {
            return false;
        }
        if *pde & HUGE != 0 {
            let Some(page) = alloc() else { return false };
            let pt = page as *mut Table;
            let base = *pde & ADDR_MASK & !(MIB2 - 1);
            for (k, e) in (*pt).iter_mut().enumerate() {
                *e = (base + ((k as u64) << 12)) | PRESENT | WRITABLE;
            }
            *pde = page | PRESENT | WRITABLE;
            core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
        }
        let pt = (*pde & ADDR_MASK) as *mut Table;
        (*pt)[l1 as usize] = 0;
        core::arch::asm!("invlpg [{}]", in(reg) addr, options(nostack));
    }
    true
}

/// True when `addr` is mapped (used to keep reads of VMM-provided
/// pointers from faulting).
pub fn is_mapped(addr: u64) -> bool {
    let (l4, l3, l2, l1) =
        ((addr >> 39) & 511, (addr >> 30) & 511, (addr >> 21) & 511, (addr >> 12) & 511);
    // SAFETY: read-only walk of the live tables.
    unsafe {
        let e4 = (*root())[l4 as usize];
        if e4 & PRESENT == 0 {
            return false;
        }
        let e3 = (*((e4 & ADDR_MASK) as *const Table))[l3 as usize];
        if e3 & PRESENT == 0 || e3 & HUGE != 0 {
            return e3 & PRESENT != 0;
        }
        let e2 = (*((e3 & ADDR_MASK) as *const Table))[l2 as usize];
        if e2 & PRESENT == 0 || e2 & HUGE != 0 {
            return e2 & PRESENT != 0;
        }
        let e1 = (*((e2 & ADDR_MASK) as *const Table))[l1 as usize];
        e1 & PRESENT != 0
    }
}
