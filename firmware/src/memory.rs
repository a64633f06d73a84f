//! The firmware's memory: the page allocator over the platform's RAM map,
//! the heap, and reads of VMM-provided physical memory.
//!
//! The map starts as the VMM reported it; the firmware image (with its
//! stack and static page tables) is carved out before anything is
//! allocated. Allocations prefer the top of RAM below 4 GiB so that low
//! memory and the kernel's preferred load address stay free.
//!
//! After [`init`] the map lives behind one lock here: drivers allocate DMA
//! rings from it, loaders allocate kernel memory, and at hand-over it
//! becomes the OS's memory map.

use crate::arch::paging;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use linked_list_allocator::LockedHeap;
use spin::{Mutex, Once};
use vmfw_memmap::{MemoryMap, MemoryType, Placement, PAGE_SIZE};

static MAP: Once<Mutex<MemoryMap>> = Once::new();

/// Pages taken from free RAM since the image was carved out (frees do not
/// subtract), for the timing line.
static PAGES_ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// Free pages in the map when [`PAGES_ALLOCATED`] was last brought up to
/// date.
static FREE_PAGES: AtomicU64 = AtomicU64::new(0);

/// Runs `f` on the memory map. Panics if called before [`init`] (a
/// firmware bug, reported like any panic).
pub fn with_map<R>(f: impl FnOnce(&mut MemoryMap) -> R) -> R {
    let mut m = map().lock();
    let generation = m.generation();
    let r = f(&mut m);
    // Every allocator (DMA, loaders, UEFI pages and pools) takes pages
    // through here.
    count_allocations(&m, Some(generation));
    r
}

/// The memory map's lock. Out of line: `with_map` is inlined in some
/// seventy places, and the check with its panic path at each cost KiB.
#[inline(never)]
fn map() -> &'static Mutex<MemoryMap> {
    MAP.get().expect("memory map used before memory::init")
}

/// Adds the drop in free pages since the last look to
/// [`PAGES_ALLOCATED`], if the map changed since `generation` (`None`:
/// look anyway). Each `with_map` call allocates or frees, rarely both, so
/// the drop is what it allocated. Out of line: `with_map` is inlined at
/// every caller.
#[inline(never)]
fn count_allocations(map: &MemoryMap, generation: Option<u64>) {
    if generation == Some(map.generation()) {
        return;
    }
    let free = map.total(MemoryType::Free) / PAGE_SIZE;
    let last = FREE_PAGES.swap(free, Ordering::Relaxed);
    PAGES_ALLOCATED.fetch_add(last.saturating_sub(free), Ordering::Relaxed);
}

/// Pages the page allocator handed out so far: the heap, page tables,
/// DMA rings, buffers, kernels and initrds, UEFI pages and pools. Pages
/// freed and allocated again count again.
pub fn pages_allocated() -> u64 {
    PAGES_ALLOCATED.load(Ordering::Relaxed)
}

/// Allocates `pages` zeroed pages of `ty` anywhere (preferring high memory
/// below 4 GiB).
pub fn alloc_zeroed(pages: u64, ty: MemoryType) -> Option<u64> {
    let addr = with_map(|m| m.allocate(pages, PAGE_SIZE, Placement::Anywhere, ty).ok())?;
    // SAFETY: the pages were just allocated (free RAM, identity-mapped, not
    // referenced by anything), so zeroing them cannot alias Rust data.
    unsafe { core::ptr::write_bytes(addr as *mut u8, 0, (pages * PAGE_SIZE) as usize) };
    Some(addr)
}

/// A page-granular buffer from the memory map (for data too large for the
/// heap: file images, kernels), returned to the map on drop. Only the
/// diagnostics use one now (loaders read straight into their place).
#[cfg(feature = "diagnostics")]
pub struct PageBuf {
    addr: u64,
    len: usize,
    pages: u64,
}

#[cfg(feature = "diagnostics")]
impl PageBuf {
    /// Allocates a zeroed buffer of `len` bytes, typed `ty` in the map.
    pub fn new(len: usize, ty: MemoryType) -> Option<Self> {
        let pages = (len as u64).div_ceil(PAGE_SIZE).max(1);
        let addr = alloc_zeroed(pages, ty)?;
        Some(Self { addr, len, pages })
    }
}

#[cfg(feature = "diagnostics")]
impl core::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the pages were allocated for this buffer alone, are
        // identity-mapped and zero-initialised, and live until drop.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

#[cfg(feature = "diagnostics")]
impl core::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.len) }
    }
}

#[cfg(feature = "diagnostics")]
impl Drop for PageBuf {
    fn drop(&mut self) {
        let _ = with_map(|m| m.free(self.addr, self.pages));
    }
}

/// A mutable view of memory the caller reserved in the map (kernel, initrd,
/// boot parameters), for loading files straight into their final place.
///
/// # Safety
/// `[addr, addr + len)` must have been allocated from the map by the caller
/// (so it is RAM, identity-mapped and owned by nobody else) and must not be
/// viewed through another reference while the slice lives.
pub unsafe fn reserved_slice<'a>(addr: u64, len: usize) -> &'a mut [u8] {
    // SAFETY: forwarded from the caller.
    unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) }
}

/// Makes sure `[start, start + len)` is identity-mapped as device memory
/// (device windows above 4 GiB); page tables come from the map.
pub fn map_device(start: u64, len: u64) -> bool {
    paging::map(start, len, paging::Kind::Device, &mut || alloc_zeroed(1, MemoryType::FirmwareData))
}

/// The DMA allocator drivers use: zeroed, page-aligned, contiguous,
/// identity-mapped firmware memory.
pub struct FirmwareDma;

// SAFETY: allocations come from free RAM (never handed out twice by the
// map), are zeroed, page-aligned, physically contiguous and identity-mapped,
// as the trait requires.
unsafe impl vmfw_virtio::Dma for FirmwareDma {
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64> {
        alloc_zeroed(pages as u64, MemoryType::FirmwareData)
    }

    unsafe fn free_pages(&mut self, addr: u64, pages: usize) {
        if with_map(|m| m.free(addr, pages as u64)).is_err() {
            crate::warn!("DMA free of {pages} pages at {addr:#x} refused by the memory map");
        }
    }
}

/// The firmware's heaps: the boot heap (most of it, given back to the OS
/// at `ExitBootServices()`) and a small runtime heap in runtime services
/// memory, which is all UEFI runtime services may allocate from once the
/// OS owns the machine.
struct Heaps {
    boot: LockedHeap,
    boot_start: AtomicU64,
    boot_end: AtomicU64,
    runtime: LockedHeap,
    at_runtime: AtomicBool,
}

// SAFETY: both heaps are `LockedHeap`s (their own locks make them
// thread-safe); the dispatch only reads atomics. Blocks are freed into the
// heap whose range holds them; after the switch to runtime, boot-heap
// blocks are leaked rather than freed, because that memory belongs to the
// OS then.
unsafe impl GlobalAlloc for Heaps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; `layout` comes from the caller unchanged.
        unsafe {
            if self.at_runtime.load(Ordering::Acquire) {
                self.runtime.alloc(layout)
            } else {
                self.boot.alloc(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let a = ptr as u64;
        let in_boot = a >= self.boot_start.load(Ordering::Relaxed)
            && a < self.boot_end.load(Ordering::Relaxed);
        // SAFETY: the block came from the heap whose range holds it.
        unsafe {
            if !in_boot {
                self.runtime.dealloc(ptr, layout)
            } else if !self.at_runtime.load(Ordering::Acquire) {
                self.boot.dealloc(ptr, layout)
            }
        }
    }
}

#[cfg_attr(target_os = "none", global_allocator)]
static HEAP: Heaps = Heaps {
    boot: LockedHeap::empty(),
    boot_start: AtomicU64::new(0),
    boot_end: AtomicU64::new(0),
    runtime: LockedHeap::empty(),
    at_runtime: AtomicBool::new(false),
};

/// Size of the runtime heap: the variable store (64 KiB of variables) and
/// its bookkeeping, with room for fragmentation.
const RUNTIME_HEAP: u64 = 512 << 10;

/// Sets up the runtime heap in runtime services memory; called once when
/// the UEFI environment starts. False when there is no memory for it.
pub fn init_runtime_heap() -> bool {
    static DONE: Once<bool> = Once::new();
    *DONE.call_once(|| {
        let Some(addr) = alloc_zeroed(RUNTIME_HEAP / PAGE_SIZE, MemoryType::RuntimeServicesData)
        else {
            return false;
        };
        // SAFETY: the range was just allocated for this heap alone, is
        // identity-mapped, and stays runtime memory for the OS's lifetime.
        unsafe { HEAP.runtime.lock().init(addr as *mut u8, RUNTIME_HEAP as usize) };
        true
    })
}

/// From now on every allocation comes from the runtime heap and boot-heap
/// blocks are never written again (`ExitBootServices()`).
pub fn switch_to_runtime_heap() {
    HEAP.at_runtime.store(true, Ordering::Release);
}

/// Retypes the firmware image in the map as UEFI runtime services code
/// (text and read-only data) and data (data, bss, stack, static page
/// tables): runtime services run from it after `ExitBootServices()`.
pub fn image_is_runtime() {
    let (start, end) = image_range();
    let data = &raw const __data_start as u64;
    with_map(|m| {
        let a = m.reserve(start, data - start, MemoryType::RuntimeServicesCode);
        let b = m.reserve(data, end - data, MemoryType::RuntimeServicesData);
        if a.is_err() || b.is_err() {
            crate::warn!("cannot mark the firmware image as runtime memory");
        }
    });
}

#[cfg(target_os = "none")]
extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __data_start: u8;
    static __stack_guard: u8;
}

/// Host tests: a stand-in for the image's linker symbols (the image is
/// the test program, not in the test's RAM).
#[cfg(not(target_os = "none"))]
#[allow(non_upper_case_globals)]
static __image_start: u8 = 0;
#[cfg(not(target_os = "none"))]
use self::__image_start as __image_end;
#[cfg(not(target_os = "none"))]
use self::__image_start as __data_start;
#[cfg(not(target_os = "none"))]
use self::__image_start as __stack_guard;

/// The address range `[start, end)` of the loaded firmware image.
pub fn image_range() -> (u64, u64) {
    // Linker-defined symbols: only their addresses are taken.
    (&raw const __image_start as u64, &raw const __image_end as u64)
}

/// Guest-physical memory as the VMM's hand-over structures see it.
///
/// Only addresses that are mapped may be read; the check keeps a hostile or
/// broken pointer from faulting the firmware.
pub struct Phys;

impl Phys {
    fn read(addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else { return false };
        if buf.is_empty() {
            return true;
        }
        let mut page = addr & !(PAGE_SIZE - 1);
        while page < end {
            if !paging::is_mapped(page) {
                return false;
            }
            page += PAGE_SIZE;
        }
        // SAFETY: every page of [addr, end) is identity-mapped (checked
        // above); the source is VMM-owned data or ACPI tables that nothing
        // writes concurrently, and `buf` is a distinct Rust buffer.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

impl vmfw_platform::PhysMem for Phys {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), vmfw_platform::Error> {
        Phys::read(addr, buf).then_some(()).ok_or(vmfw_platform::Error::Unreadable(addr))
    }
}

impl vmfw_acpi::Memory for Phys {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), vmfw_acpi::Error> {
        Phys::read(addr, buf).then_some(()).ok_or(vmfw_acpi::Error::Unreadable(addr))
    }
}

/// Most of RAM the heap takes.
const HEAP_MAX: u64 = 32 << 20;
/// Least heap the firmware runs with.
const HEAP_MIN: u64 = 2 << 20;

/// Carves the firmware out of the map, maps all RAM above what
/// `paging::init` mapped (4 GiB on x86, nothing on aarch64), punches
/// the stack guard page, sets up the heap, and takes the map into this
/// module. Returns the heap size.
pub fn init(mut map: MemoryMap) -> Result<u64, &'static str> {
    let heap = prepare(&mut map)?;
    count_allocations(&map, None);
    MAP.call_once(|| Mutex::new(map));
    Ok(heap)
}

/// Host tests: takes `map` as the memory map, as it is (the test program
/// has its own heap and image).
#[cfg(test)]
pub fn init_for_test(map: MemoryMap) {
    MAP.call_once(|| Mutex::new(map));
}

fn prepare(map: &mut MemoryMap) -> Result<u64, &'static str> {
    let (start, end) = image_range();
    map.reserve(start, end - start, MemoryType::FirmwareCode)
        .map_err(|_| "cannot reserve the firmware image")?;
    // Allocations count from here (the image is not one).
    FREE_PAGES.store(map.total(MemoryType::Free) / PAGE_SIZE, Ordering::Relaxed);

    let alloc_table = |map: &mut MemoryMap| {
        map.allocate(1, PAGE_SIZE, Placement::Anywhere, MemoryType::FirmwareData).ok()
    };
    // What the VMM described above the initial map, but for plain reserved
    // ranges: those are device windows (mapped by `map_device` when a
    // driver needs one) or holes nothing reads, and can be huge: QEMU q35
    // reserves 12 GiB at 1012 GiB, which took 6144 steps of 2 MiB pages
    // (no 1 GiB pages under TCG) on every boot. Iterate a snapshot because
    // mapping allocates from the map.
    let snapshot = map.clone();
    for r in snapshot
        .regions()
        .iter()
        .filter(|r| r.end > paging::INIT_MAP_END && r.ty != MemoryType::Reserved)
    {
        // INIT_MAP_END is 0 where the entry maps nothing ahead (aarch64).
        #[allow(clippy::unnecessary_min_or_max)]
        let s = r.start.max(paging::INIT_MAP_END);
        let kind = if r.ty.is_ram() { paging::Kind::Ram } else { paging::Kind::Device };
        if !paging::map(s, r.end - s, kind, &mut || alloc_table(map)) {
            return Err("cannot map memory above the initial map");
        }
    }
    let guard = &raw const __stack_guard as u64;
    if !paging::unmap_page(guard, &mut || alloc_table(map)) {
        crate::warn!("no stack guard page");
    }

    let ram = map.total(MemoryType::Free);
    let size = (ram / 8).clamp(HEAP_MIN, HEAP_MAX) & !(PAGE_SIZE - 1);
    let heap = map
        .allocate(size / PAGE_SIZE, PAGE_SIZE, Placement::Anywhere, MemoryType::FirmwareData)
        .map_err(|_| "no memory for the heap")?;
    // SAFETY: the range was just allocated for the heap from free RAM,
    // is identity-mapped, and is used by nothing else; `init` runs once.
    unsafe { HEAP.boot.lock().init(heap as *mut u8, size as usize) };
    HEAP.boot_start.store(heap, Ordering::Relaxed);
    HEAP.boot_end.store(heap + size, Ordering::Relaxed);
    Ok(size)
}
