//! The physical memory map and the page allocator built on it.
//!
//! One [`MemoryMap`] describes all of guest-physical memory the firmware
//! knows about: RAM the VMM reported, ranges the VMM reserved, and what the
//! firmware itself has taken. The same map later becomes the E820 table
//! handed to Linux and the UEFI memory map, so there is exactly one truth.
//!
//! Invariants, kept by every operation:
//! - entries are sorted by start address and never overlap;
//! - adjacent entries with the same [`MemoryType`] are merged;
//! - every entry starts and ends on a page boundary: a free range the VMM
//!   reports unaligned is shrunk inwards, any other range is widened
//!   outwards (a reserved byte reserves its whole page);
//! - the map works without a heap: storage is a fixed array of
//!   `MAX_ENTRIES` entries, so it can exist before the heap does.
#![no_std]
#![forbid(unsafe_code)]

/// Size of a page: the allocation granule.
pub const PAGE_SIZE: u64 = 4096;

/// How many distinct ranges the map can describe.
pub const MAX_ENTRIES: usize = 256;

/// What a range of physical memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemoryType {
    /// RAM nobody uses: the page allocator's pool.
    Free,
    /// RAM holding the firmware image, its stack and its page tables.
    FirmwareCode,
    /// RAM the firmware allocated for its own data (heap, DMA rings).
    FirmwareData,
    /// RAM holding what the firmware hands to the OS loader or kernel
    /// (kernel image, initrd, boot parameters).
    LoaderData,
    /// Code of a UEFI application the firmware loaded (EfiLoaderCode).
    LoaderCode,
    /// UEFI boot services code allocated by an image (EfiBootServicesCode);
    /// RAM again once the OS has called ExitBootServices.
    BootServicesCode,
    /// UEFI boot services data allocated by an image (EfiBootServicesData).
    BootServicesData,
    /// UEFI runtime services code: kept by the OS for the rest of its life.
    RuntimeServicesCode,
    /// UEFI runtime services data: kept by the OS for the rest of its life.
    RuntimeServicesData,
    /// ACPI tables the OS may reclaim after reading them.
    AcpiReclaim,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Memory reported as unusable (E820 type 5).
    Unusable,
    /// Persistent memory (E820 type 7).
    Persistent,
    /// Anything else the VMM reserved, and device windows.
    Reserved,
    /// Device registers a UEFI runtime service uses after
    /// `ExitBootServices()` (aarch64: the PL031 RTC), which the OS must
    /// map for it (`EfiMemoryMappedIO` with `EFI_MEMORY_RUNTIME`).
    RuntimeMmio,
}

impl MemoryType {
    /// The E820 type Linux should see for this range. Firmware ranges are
    /// RAM to a kernel booted natively (the firmware is gone by then), so
    /// only truly reserved memory stays reserved.
    pub fn e820_type(self) -> u32 {
        match self {
            MemoryType::Free
            | MemoryType::FirmwareCode
            | MemoryType::FirmwareData
            | MemoryType::LoaderData
            | MemoryType::LoaderCode
            | MemoryType::BootServicesCode
            | MemoryType::BootServicesData => 1,
            // Runtime services stay in use after the hand-over.
            MemoryType::Reserved
            | MemoryType::RuntimeMmio
            | MemoryType::RuntimeServicesCode
            | MemoryType::RuntimeServicesData => 2,
            MemoryType::AcpiReclaim => 3,
            MemoryType::AcpiNvs => 4,
            MemoryType::Unusable => 5,
            MemoryType::Persistent => 7,
        }
    }

    /// Maps an E820 / PVH memory map type to a [`MemoryType`]. Unknown
    /// types are treated as reserved, as the ACPI specification asks.
    pub fn from_e820(ty: u32) -> Self {
        match ty {
            1 => MemoryType::Free,
            3 => MemoryType::AcpiReclaim,
            4 => MemoryType::AcpiNvs,
            5 => MemoryType::Unusable,
            7 => MemoryType::Persistent,
            _ => MemoryType::Reserved,
        }
    }

    /// True for any kind of RAM (whoever uses it now).
    pub fn is_ram(self) -> bool {
        matches!(
            self,
            MemoryType::Free
                | MemoryType::FirmwareCode
                | MemoryType::FirmwareData
                | MemoryType::LoaderData
                | MemoryType::LoaderCode
                | MemoryType::BootServicesCode
                | MemoryType::BootServicesData
                | MemoryType::RuntimeServicesCode
                | MemoryType::RuntimeServicesData
                | MemoryType::AcpiReclaim
        )
    }

    /// Precedence when the VMM's ranges overlap: the more restrictive
    /// type wins, so overlapping RAM can never hide a reserved range.
    fn rank(self) -> u8 {
        match self {
            MemoryType::Free => 0,
            MemoryType::AcpiReclaim => 1,
            MemoryType::Persistent => 2,
            MemoryType::AcpiNvs => 3,
            MemoryType::Unusable => 4,
            _ => 5,
        }
    }
}

/// One contiguous range `[start, end)` of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// What the range is.
    pub ty: MemoryType,
}

impl Region {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when the range is empty (never the case for stored regions).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Errors of map updates and allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// More distinct ranges than [`MAX_ENTRIES`].
    MapFull,
    /// No free range satisfies the request.
    OutOfMemory,
    /// The range wraps around the address space or is empty.
    BadRange,
    /// The alignment is not a power of two multiple of the page size.
    BadAlignment,
    /// The requested pages are not (all) free.
    NotFree,
    /// The pages to free were not allocated.
    NotAllocated,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::MapFull => "memory map full",
            Error::OutOfMemory => "out of memory",
            Error::BadRange => "bad address range",
            Error::BadAlignment => "bad alignment",
            Error::NotFree => "pages are not free",
            Error::NotAllocated => "pages were not allocated",
        })
    }
}

/// Where [`MemoryMap::allocate`] may place an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere, preferring high addresses below 4 GiB (so that low memory
    /// stays free for the kernel and memory above 4 GiB for the OS).
    Anywhere,
    /// Highest fit whose last byte is at or below the given address.
    Below(u64),
    /// Lowest fit at or above the given address.
    Above(u64),
}

/// The physical memory map. See the crate docs for its invariants.
#[derive(Clone)]
pub struct MemoryMap {
    entries: [Region; MAX_ENTRIES],
    len: usize,
    generation: u64,
}

impl core::fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.regions()).finish()
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

const EMPTY: Region = Region { start: 0, end: 0, ty: MemoryType::Reserved };
const FOUR_GIB: u64 = 1 << 32;

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self { entries: [EMPTY; MAX_ENTRIES], len: 0, generation: 0 }
    }

    /// The ranges, sorted by address.
    pub fn regions(&self) -> &[Region] {
        // `len` is only ever set by `set`, which stops at MAX_ENTRIES, so
        // the range always lies inside `entries`; the fallback is never
        // taken.
        self.entries.get(..self.len).unwrap_or(&[])
    }

    /// A number that changes whenever the map changes (the UEFI map key).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds a range reported by the VMM. Where it overlaps what is already
    /// there, the more restrictive type wins (reserved beats RAM), so the
    /// order in which the VMM lists ranges does not matter. Free RAM is
    /// trimmed to whole pages, other types are widened to whole pages.
    pub fn add(&mut self, start: u64, len: u64, ty: MemoryType) -> Result<(), Error> {
        let end = start.checked_add(len).ok_or(Error::BadRange)?;
        let (start, end) = if ty == MemoryType::Free {
            (page_up(start).ok_or(Error::BadRange)?, page_down(end))
        } else {
            (page_down(start), page_up(end).ok_or(Error::BadRange)?)
        };
        if start >= end {
            return Ok(());
        }
        // Paint the new range only over the parts where it wins.
        let mut cursor = start;
        while cursor < end {
            // Find the first existing region that overlaps [cursor, end).
            let overlap = self.regions().iter().find(|r| r.end > cursor && r.start < end).copied();
            match overlap {
                None => {
                    self.set(cursor, end, ty)?;
                    cursor = end;
                }
                Some(r) if r.start > cursor => {
                    self.set(cursor, r.start, ty)?;
                    cursor = r.start;
                }
                Some(r) => {
                    let seg_end = r.end.min(end);
                    if ty.rank() > r.ty.rank() {
                        self.set(cursor, seg_end, ty)?;
                    }
                    cursor = seg_end;
                }
            }
        }
        Ok(())
    }

    /// Marks `[start, start+len)` as `ty` unconditionally (for ranges the
    /// firmware knows it occupies, such as its own image). The range is
    /// widened to whole pages.
    pub fn reserve(&mut self, start: u64, len: u64, ty: MemoryType) -> Result<(), Error> {
        let end = start.checked_add(len).ok_or(Error::BadRange)?;
        let (start, end) = (page_down(start), page_up(end).ok_or(Error::BadRange)?);
        if start >= end {
            return Err(Error::BadRange);
        }
        self.set(start, end, ty)
    }

    /// Allocates `pages` pages aligned to `align` bytes (a power of two,
    /// at least [`PAGE_SIZE`]) and marks them `ty`.
    pub fn allocate(
        &mut self,
        pages: u64,
        align: u64,
        placement: Placement,
        ty: MemoryType,
    ) -> Result<u64, Error> {
        if ty == MemoryType::Free {
            return Err(Error::BadRange);
        }
        if align < PAGE_SIZE || !align.is_power_of_two() {
            return Err(Error::BadAlignment);
        }
        let size = pages.checked_mul(PAGE_SIZE).filter(|s| *s > 0).ok_or(Error::BadRange)?;
        let addr = match placement {
            Placement::Anywhere => self
                .find_highest(size, align, FOUR_GIB - 1)
                .or_else(|| self.find_lowest(size, align, FOUR_GIB)),
            Placement::Below(max) => self.find_highest(size, align, max),
            Placement::Above(min) => self.find_lowest(size, align, min),
        }
        .ok_or(Error::OutOfMemory)?;
        self.set(addr, addr + size, ty)?;
        Ok(addr)
    }

    /// Allocates exactly `[addr, addr + pages * PAGE_SIZE)`, which must be
    /// page aligned and entirely free.
    pub fn allocate_at(&mut self, addr: u64, pages: u64, ty: MemoryType) -> Result<(), Error> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadAlignment);
        }
        let size = pages.checked_mul(PAGE_SIZE).filter(|s| *s > 0).ok_or(Error::BadRange)?;
        let end = addr.checked_add(size).ok_or(Error::BadRange)?;
        if !self.is_all(addr, end, |t| t == MemoryType::Free) {
            return Err(Error::NotFree);
        }
        self.set(addr, end, ty)
    }

    /// Returns pages to the free pool. Only what [`MemoryMap::allocate`] can
    /// produce (every type but `Free` and the VMM's own kinds) can be freed;
    /// VMM-reserved ranges cannot. Callers acting for a guest (UEFI
    /// FreePages) narrow this further.
    pub fn free(&mut self, addr: u64, pages: u64) -> Result<(), Error> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadAlignment);
        }
        let size = pages.checked_mul(PAGE_SIZE).filter(|s| *s > 0).ok_or(Error::BadRange)?;
        let end = addr.checked_add(size).ok_or(Error::BadRange)?;
        let allocatable = |t: MemoryType| {
            matches!(
                t,
                MemoryType::FirmwareData
                    | MemoryType::LoaderData
                    | MemoryType::FirmwareCode
                    | MemoryType::LoaderCode
                    | MemoryType::BootServicesCode
                    | MemoryType::BootServicesData
                    | MemoryType::RuntimeServicesCode
                    | MemoryType::RuntimeServicesData
            )
        };
        if !self.is_all(addr, end, allocatable) {
            return Err(Error::NotAllocated);
        }
        self.set(addr, end, MemoryType::Free)
    }

    /// Total bytes of the given type.
    pub fn total(&self, ty: MemoryType) -> u64 {
        self.regions().iter().filter(|r| r.ty == ty).map(Region::len).sum()
    }

    /// The type at `addr`, if the map covers it.
    pub fn type_at(&self, addr: u64) -> Option<MemoryType> {
        self.regions().iter().find(|r| r.start <= addr && addr < r.end).map(|r| r.ty)
    }

    /// Highest address covered by RAM, or 0.
    pub fn ram_end(&self) -> u64 {
        self.regions().iter().filter(|r| r.ty.is_ram()).map(|r| r.end).max().unwrap_or(0)
    }

    /// True when every byte of `[start, end)` is covered by regions whose
    /// type satisfies `pred`.
    fn is_all(&self, start: u64, end: u64, pred: impl Fn(MemoryType) -> bool) -> bool {
        let mut cursor = start;
        for r in self.regions() {
            if r.end <= cursor {
                continue;
            }
            if r.start > cursor || !pred(r.ty) {
                return false;
            }
            cursor = r.end;
            if cursor >= end {
                return true;
            }
        }
        cursor >= end
    }

    fn find_highest(&self, size: u64, align: u64, max_last: u64) -> Option<u64> {
        self.regions().iter().rev().filter(|r| r.ty == MemoryType::Free).find_map(|r| {
            let limit = r.end.min(max_last.saturating_add(1));
            let top = limit.checked_sub(size)?;
            let addr = top & !(align - 1);
            (addr >= r.start).then_some(addr)
        })
    }

    fn find_lowest(&self, size: u64, align: u64, min: u64) -> Option<u64> {
        self.regions().iter().filter(|r| r.ty == MemoryType::Free).find_map(|r| {
            let base = r.start.max(min);
            let addr = base.checked_add(align - 1)? & !(align - 1);
            let end = addr.checked_add(size)?;
            (end <= r.end).then_some(addr)
        })
    }

    /// Sets `[start, end)` to `ty`, splitting and merging entries so the
    /// invariants hold. Fails without changing the map when it would need
    /// more than [`MAX_ENTRIES`] entries.
    fn set(&mut self, start: u64, end: u64, ty: MemoryType) -> Result<(), Error> {
        if start >= end {
            return Err(Error::BadRange);
        }
        let mut out = [EMPTY; MAX_ENTRIES];
        let mut n = 0usize;
        let mut push = |r: Region| -> Result<(), Error> {
            if r.start >= r.end {
                return Ok(());
            }
            if let Some(last) = n.checked_sub(1).and_then(|i| out.get_mut(i)) {
                if last.end == r.start && last.ty == r.ty {
                    last.end = r.end;
                    return Ok(());
                }
            }
            *out.get_mut(n).ok_or(Error::MapFull)? = r;
            n += 1;
            Ok(())
        };
        let mut placed = false;
        for r in self.regions() {
            if r.end <= start || r.start >= end {
                if !placed && r.start >= end {
                    push(Region { start, end, ty })?;
                    placed = true;
                }
                push(*r)?;
                continue;
            }
            push(Region { start: r.start, end: start.max(r.start).min(r.end), ty: r.ty })?;
            if !placed {
                push(Region { start, end, ty })?;
                placed = true;
            }
            push(Region { start: end.min(r.end).max(r.start), end: r.end, ty: r.ty })?;
        }
        if !placed {
            push(Region { start, end, ty })?;
        }
        self.entries = out;
        self.len = n;
        self.generation = self.generation.wrapping_add(1);
        Ok(())
    }
}

/// Memory maps shaped like the ones VMMs report, for the tests (and fuzz
/// targets) of every crate that places things in memory (feature
/// `testing`).
// Fixture builders: their ranges are constants that fit the map, and a
// failure is a bug in the fixture that should stop the test at once.
// Nothing on the firmware's input path uses them.
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::expect_used)]
pub mod testing {
    use super::{MemoryMap, MemoryType};

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// QEMU q35 as its PVH start info describes it: low RAM up to 2 GiB,
    /// the BIOS areas, the ECAM window and the 32-bit PCI hole reserved, and
    /// `high` bytes of RAM from 4 GiB up.
    pub fn q35(high: u64) -> MemoryMap {
        let mut m = MemoryMap::new();
        let add = |m: &mut MemoryMap, start: u64, len: u64, ty| {
            m.add(start, len, ty).expect("fixture ranges fit the map")
        };
        add(&mut m, 0, 0x9fc00, MemoryType::Free);
        add(&mut m, 0x9fc00, 0x400, MemoryType::Reserved);
        add(&mut m, 0xf0000, 0x10000, MemoryType::Reserved);
        add(&mut m, MIB, 2 * GIB - MIB, MemoryType::Free);
        add(&mut m, 0xb000_0000, 0x1000_0000, MemoryType::Reserved);
        add(&mut m, 0xfeff_c000, 0x4000, MemoryType::Reserved);
        if high > 0 {
            add(&mut m, 4 * GIB, high, MemoryType::Free);
        }
        m
    }

    /// A small Firecracker-style VM: `ram` bytes of RAM, all below 4 GiB
    /// (low memory up to 0x9fc00, the rest from 1 MiB).
    pub fn small(ram: u64) -> MemoryMap {
        let mut m = MemoryMap::new();
        m.add(0, 0x9fc00, MemoryType::Free).expect("fixture ranges fit the map");
        m.add(MIB, ram.saturating_sub(MIB), MemoryType::Free).expect("fixture ranges fit the map");
        m
    }
}

#[cfg(test)]
mod tests;
