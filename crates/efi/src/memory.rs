//! The UEFI view of vmfw's one memory map: memory types, `AllocatePages`,
//! `FreePages` and `GetMemoryMap` (UEFI §7.2).
//!
//! There is no second map: every function here reads or updates the
//! [`MemoryMap`] the rest of the firmware uses, so the E820 table a native
//! boot gets and the UEFI map an OS loader gets can never disagree. The map
//! key is the map's [`MemoryMap::generation`], which changes on every
//! update, so `ExitBootServices()` with a stale key fails as UEFI §7.4
//! requires.
//!
//! Types are translated in exactly two functions, [`vmfw_type`] and
//! [`efi_type`]. vmfw's [`MemoryType`] is coarser than UEFI's, so today:
//! - `EfiLoaderCode` and OS-loader-defined types are kept as `LoaderData`;
//! - `EfiBootServicesCode`/`Data` are kept as `FirmwareData` (not
//!   `FirmwareCode`, which is the firmware's own image and must never be
//!   freed by a guest), and reported as `EfiBootServicesData`;
//! - runtime types are kept as `Reserved`: the OS then never reuses them,
//!   which is safe, but they cannot be freed and are not reported with
//!   `EFI_MEMORY_RUNTIME`.
//!
//! Once `vmfw_memmap` grows matching variants (`LoaderCode`,
//! `BootServicesCode`/`Data`, `RuntimeServicesCode`/`Data`), only these two
//! functions, [`is_freeable`] and memmap's own `free` rule change.

use crate::{Error, Result};
use vmfw_memmap::{MemoryMap, MemoryType, Placement, Region, PAGE_SIZE};

/// An `EFI_MEMORY_TYPE` (UEFI §7.2, `EFI_BOOT_SERVICES.AllocatePages()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct EfiMemoryType(pub u32);

impl EfiMemoryType {
    /// `EfiReservedMemoryType`: not usable.
    pub const RESERVED: Self = Self(0);
    /// `EfiLoaderCode`: code of a loaded UEFI application.
    pub const LOADER_CODE: Self = Self(1);
    /// `EfiLoaderData`: data a UEFI application allocated.
    pub const LOADER_DATA: Self = Self(2);
    /// `EfiBootServicesCode`: code of a boot-service driver.
    pub const BOOT_SERVICES_CODE: Self = Self(3);
    /// `EfiBootServicesData`: data of boot-service drivers and the firmware.
    pub const BOOT_SERVICES_DATA: Self = Self(4);
    /// `EfiRuntimeServicesCode`: code that must survive `ExitBootServices`.
    pub const RUNTIME_SERVICES_CODE: Self = Self(5);
    /// `EfiRuntimeServicesData`: data that must survive `ExitBootServices`.
    pub const RUNTIME_SERVICES_DATA: Self = Self(6);
    /// `EfiConventionalMemory`: free memory.
    pub const CONVENTIONAL: Self = Self(7);
    /// `EfiUnusableMemory`: memory with errors.
    pub const UNUSABLE: Self = Self(8);
    /// `EfiACPIReclaimMemory`: ACPI tables, reusable after they are read.
    pub const ACPI_RECLAIM: Self = Self(9);
    /// `EfiACPIMemoryNVS`: ACPI non-volatile storage.
    pub const ACPI_NVS: Self = Self(10);
    /// `EfiMemoryMappedIO`.
    pub const MMIO: Self = Self(11);
    /// `EfiMemoryMappedIOPortSpace`.
    pub const MMIO_PORT_SPACE: Self = Self(12);
    /// `EfiPalCode` (Itanium).
    pub const PAL_CODE: Self = Self(13);
    /// `EfiPersistentMemory`.
    pub const PERSISTENT: Self = Self(14);
    /// `EfiUnacceptedMemoryType`: memory a confidential guest must accept.
    pub const UNACCEPTED: Self = Self(15);
    /// `EfiMaxMemoryType`: first value that is not a type.
    pub const MAX: Self = Self(16);
    /// First value of the range reserved for OEMs.
    pub const OEM_MIN: Self = Self(0x7000_0000);
    /// First value of the range reserved for OS loaders.
    pub const OS_LOADER_MIN: Self = Self(0x8000_0000);

    /// True for the types whose memory the OS must keep and map at runtime
    /// (they get [`attribute::RUNTIME`] in the map).
    pub fn is_runtime(self) -> bool {
        self == Self::RUNTIME_SERVICES_CODE || self == Self::RUNTIME_SERVICES_DATA
    }
}

/// `EFI_MEMORY_DESCRIPTOR.Attribute` bits (UEFI §7.2, `GetMemoryMap()`).
pub mod attribute {
    /// Uncacheable.
    pub const UC: u64 = 0x1;
    /// Write combining.
    pub const WC: u64 = 0x2;
    /// Write through.
    pub const WT: u64 = 0x4;
    /// Write back.
    pub const WB: u64 = 0x8;
    /// Uncacheable, exported, supports "fetch and add".
    pub const UCE: u64 = 0x10;
    /// Write protected.
    pub const WP: u64 = 0x1000;
    /// Read protected.
    pub const RP: u64 = 0x2000;
    /// Execute protected.
    pub const XP: u64 = 0x4000;
    /// Non-volatile (persistent) memory.
    pub const NV: u64 = 0x8000;
    /// Higher reliability than other memory.
    pub const MORE_RELIABLE: u64 = 0x1_0000;
    /// Read only.
    pub const RO: u64 = 0x2_0000;
    /// Specific purpose memory.
    pub const SP: u64 = 0x4_0000;
    /// Protected by the CPU's memory cryptography.
    pub const CPU_CRYPTO: u64 = 0x8_0000;
    /// Must be given a virtual mapping by the OS for runtime services.
    pub const RUNTIME: u64 = 0x8000_0000_0000_0000;
    /// The cacheability a VM's RAM supports: all of them.
    pub const RAM: u64 = UC | WC | WT | WB;
}

/// The vmfw type that records an allocation of EFI type `ty`, or
/// `InvalidParameter` for the types `AllocatePages()`/`AllocatePool()` must
/// refuse (UEFI §7.2): values from `EfiMaxMemoryType` to `0x6FFFFFFF`,
/// `EfiPersistentMemory`, `EfiUnacceptedMemoryType`, and (as EDK II does)
/// `EfiConventionalMemory`, which is what "free" means.
pub fn vmfw_type(ty: EfiMemoryType) -> Result<MemoryType> {
    Ok(match ty {
        EfiMemoryType::LOADER_CODE => MemoryType::LoaderCode,
        EfiMemoryType::LOADER_DATA => MemoryType::LoaderData,
        EfiMemoryType::BOOT_SERVICES_CODE => MemoryType::BootServicesCode,
        EfiMemoryType::BOOT_SERVICES_DATA => MemoryType::BootServicesData,
        EfiMemoryType::RUNTIME_SERVICES_CODE => MemoryType::RuntimeServicesCode,
        EfiMemoryType::RUNTIME_SERVICES_DATA => MemoryType::RuntimeServicesData,
        EfiMemoryType::ACPI_RECLAIM => MemoryType::AcpiReclaim,
        EfiMemoryType::ACPI_NVS => MemoryType::AcpiNvs,
        EfiMemoryType::UNUSABLE => MemoryType::Unusable,
        EfiMemoryType::RESERVED
        | EfiMemoryType::MMIO
        | EfiMemoryType::MMIO_PORT_SPACE
        | EfiMemoryType::PAL_CODE => MemoryType::Reserved,
        EfiMemoryType::CONVENTIONAL | EfiMemoryType::PERSISTENT | EfiMemoryType::UNACCEPTED => {
            return Err(Error::InvalidParameter)
        }
        t if t >= EfiMemoryType::OS_LOADER_MIN => MemoryType::LoaderData,
        t if t >= EfiMemoryType::OEM_MIN => MemoryType::Reserved,
        _ => return Err(Error::InvalidParameter),
    })
}

/// The EFI type reported in the memory map for a vmfw type.
pub fn efi_type(ty: MemoryType) -> EfiMemoryType {
    match ty {
        MemoryType::Free => EfiMemoryType::CONVENTIONAL,
        MemoryType::FirmwareCode => EfiMemoryType::BOOT_SERVICES_CODE,
        MemoryType::FirmwareData => EfiMemoryType::BOOT_SERVICES_DATA,
        MemoryType::LoaderData => EfiMemoryType::LOADER_DATA,
        MemoryType::LoaderCode => EfiMemoryType::LOADER_CODE,
        MemoryType::BootServicesCode => EfiMemoryType::BOOT_SERVICES_CODE,
        MemoryType::BootServicesData => EfiMemoryType::BOOT_SERVICES_DATA,
        MemoryType::RuntimeServicesCode => EfiMemoryType::RUNTIME_SERVICES_CODE,
        MemoryType::RuntimeServicesData => EfiMemoryType::RUNTIME_SERVICES_DATA,
        MemoryType::AcpiReclaim => EfiMemoryType::ACPI_RECLAIM,
        MemoryType::AcpiNvs => EfiMemoryType::ACPI_NVS,
        MemoryType::Unusable => EfiMemoryType::UNUSABLE,
        MemoryType::Persistent => EfiMemoryType::PERSISTENT,
        MemoryType::Reserved => EfiMemoryType::RESERVED,
        MemoryType::RuntimeMmio => EfiMemoryType::MMIO,
    }
}

/// True when `FreePages()` may return memory of this vmfw type to the free
/// pool: what `AllocatePages()` can have produced. The firmware's own
/// memory (`FirmwareCode`, `FirmwareData`: its image, heap, page tables and
/// DMA rings) has types of its own and is never freeable by a guest.
pub fn is_freeable(ty: MemoryType) -> bool {
    matches!(
        ty,
        MemoryType::LoaderCode
            | MemoryType::LoaderData
            | MemoryType::BootServicesCode
            | MemoryType::BootServicesData
            | MemoryType::RuntimeServicesCode
            | MemoryType::RuntimeServicesData
    )
}

/// The attributes reported for a range of type `ty` (UEFI §7.2): RAM
/// supports every cacheability; runtime types also carry
/// [`attribute::RUNTIME`]; persistent memory carries [`attribute::NV`];
/// reserved ranges (possibly device windows) report none, so that no OS
/// maps them write-back on our word; memory-mapped I/O is only ever in the
/// map because a runtime service uses it: uncached and runtime.
pub fn attributes(ty: EfiMemoryType) -> u64 {
    match ty {
        EfiMemoryType::MMIO => attribute::UC | attribute::RUNTIME,
        EfiMemoryType::RESERVED | EfiMemoryType::MMIO_PORT_SPACE => 0,
        EfiMemoryType::PERSISTENT => attribute::RAM | attribute::NV,
        t if t.is_runtime() => attribute::RAM | attribute::RUNTIME,
        _ => attribute::RAM,
    }
}

/// `EFI_ALLOCATE_TYPE` with its address operand (UEFI §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocateType {
    /// `AllocateAnyPages`: anywhere.
    AnyPages,
    /// `AllocateMaxAddress`: the last byte at or below the address.
    MaxAddress(u64),
    /// `AllocateAddress`: exactly at the address.
    Address(u64),
}

impl AllocateType {
    /// Decodes the ABI's `Type` and the in-value of `*Memory`;
    /// `InvalidParameter` for an unknown type (UEFI §7.2).
    pub fn from_raw(ty: u32, memory: u64) -> Result<Self> {
        match ty {
            0 => Ok(Self::AnyPages),
            1 => Ok(Self::MaxAddress(memory)),
            2 => Ok(Self::Address(memory)),
            _ => Err(Error::InvalidParameter),
        }
    }
}

/// `AllocatePages()` (UEFI §7.2): allocates `pages` 4 KiB pages of type
/// `ty` and returns their address.
///
/// Errors: `InvalidParameter` for a type that cannot be allocated (see
/// [`vmfw_type`]) or `pages == 0`; `NotFound` when the exact range of
/// `AllocateAddress` is not page aligned or not entirely free;
/// `OutOfResources` when no range fits or the map is full.
pub fn allocate_pages(
    map: &mut MemoryMap,
    how: AllocateType,
    ty: EfiMemoryType,
    pages: u64,
) -> Result<u64> {
    let vty = vmfw_type(ty)?;
    if pages == 0 {
        return Err(Error::InvalidParameter);
    }
    match how {
        AllocateType::AnyPages => {
            map.allocate(pages, PAGE_SIZE, Placement::Anywhere, vty).map_err(alloc_error)
        }
        AllocateType::MaxAddress(max) => {
            map.allocate(pages, PAGE_SIZE, Placement::Below(max), vty).map_err(alloc_error)
        }
        AllocateType::Address(addr) => match map.allocate_at(addr, pages, vty) {
            Ok(()) => Ok(addr),
            Err(vmfw_memmap::Error::MapFull) => Err(Error::OutOfResources),
            Err(_) => Err(Error::NotFound),
        },
    }
}

fn alloc_error(e: vmfw_memmap::Error) -> Error {
    match e {
        vmfw_memmap::Error::BadRange | vmfw_memmap::Error::BadAlignment => Error::InvalidParameter,
        _ => Error::OutOfResources,
    }
}

/// `FreePages()` (UEFI §7.2).
///
/// Errors: `InvalidParameter` when `addr` is not page aligned or `pages`
/// is 0 or makes the range wrap; `NotFound` when any page of the range is
/// not memory [`is_freeable`] says `AllocatePages()` handed out.
pub fn free_pages(map: &mut MemoryMap, addr: u64, pages: u64) -> Result<()> {
    if !addr.is_multiple_of(PAGE_SIZE) || pages == 0 {
        return Err(Error::InvalidParameter);
    }
    let end = pages
        .checked_mul(PAGE_SIZE)
        .and_then(|len| addr.checked_add(len))
        .ok_or(Error::InvalidParameter)?;
    if !covered_by(map.regions(), addr, end, is_freeable) {
        return Err(Error::NotFound);
    }
    map.free(addr, pages).map_err(|e| match e {
        vmfw_memmap::Error::MapFull => Error::OutOfResources,
        vmfw_memmap::Error::BadAlignment | vmfw_memmap::Error::BadRange => Error::InvalidParameter,
        _ => Error::NotFound,
    })
}

/// True when `[start, end)` is covered without gaps by regions whose type
/// satisfies `pred`.
fn covered_by(regions: &[Region], start: u64, end: u64, pred: fn(MemoryType) -> bool) -> bool {
    let mut cursor = start;
    for r in regions {
        if cursor >= end {
            break;
        }
        if r.end <= cursor {
            continue;
        }
        if r.start > cursor || !pred(r.ty) {
            return false;
        }
        cursor = r.end;
    }
    cursor >= end
}

/// `EFI_MEMORY_DESCRIPTOR_VERSION` (UEFI §7.2).
pub const DESCRIPTOR_VERSION: u32 = 1;

/// The bytes of `EFI_MEMORY_DESCRIPTOR` as the spec lays it out: `Type`
/// (u32), 4 bytes of padding, then `PhysicalStart`, `VirtualStart`,
/// `NumberOfPages` and `Attribute` (u64 each).
pub const DESCRIPTOR_STRUCT_SIZE: usize = 40;

/// The `DescriptorSize` vmfw reports: 48 bytes, larger than the 40-byte
/// structure. UEFI §7.2 lets the firmware return a larger size so that the
/// descriptor can grow, and requires callers to step through the map by
/// `DescriptorSize`, never by `sizeof(EFI_MEMORY_DESCRIPTOR)`. Reporting
/// 48, as EDK II does, keeps loaders honest about that rule and matches
/// what they meet on every other firmware; the 8 extra bytes are zero.
pub const DESCRIPTOR_SIZE: usize = 48;

/// One `EFI_MEMORY_DESCRIPTOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryDescriptor {
    /// `Type`.
    pub ty: EfiMemoryType,
    /// `PhysicalStart`: 4 KiB aligned.
    pub physical_start: u64,
    /// `VirtualStart`: 0 until `SetVirtualAddressMap()`.
    pub virtual_start: u64,
    /// `NumberOfPages`: 4 KiB pages.
    pub number_of_pages: u64,
    /// `Attribute`: [`attribute`] bits.
    pub attribute: u64,
}

impl MemoryDescriptor {
    /// The descriptor for one region of the map.
    pub fn from_region(r: &Region) -> Self {
        let ty = efi_type(r.ty);
        Self {
            ty,
            physical_start: r.start,
            virtual_start: 0,
            number_of_pages: r.len() / PAGE_SIZE,
            attribute: attributes(ty),
        }
    }

    /// The descriptor's [`DESCRIPTOR_SIZE`] bytes, little endian, padding
    /// zeroed.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_SIZE] {
        let mut out = [0u8; DESCRIPTOR_SIZE];
        let fields: [(usize, &[u8]); 5] = [
            (0, &self.ty.0.to_le_bytes()),
            (8, &self.physical_start.to_le_bytes()),
            (16, &self.virtual_start.to_le_bytes()),
            (24, &self.number_of_pages.to_le_bytes()),
            (32, &self.attribute.to_le_bytes()),
        ];
        for (at, bytes) in fields {
            if let Some(dst) = out.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        out
    }

    /// Parses a descriptor from at least [`DESCRIPTOR_STRUCT_SIZE`] bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self {
            ty: EfiMemoryType(vmfw_bytes::u32_at(b, 0)?),
            physical_start: vmfw_bytes::u64_at(b, 8)?,
            virtual_start: vmfw_bytes::u64_at(b, 16)?,
            number_of_pages: vmfw_bytes::u64_at(b, 24)?,
            attribute: vmfw_bytes::u64_at(b, 32)?,
        })
    }
}

/// The descriptors of the map, in address order.
pub fn descriptors(map: &MemoryMap) -> impl Iterator<Item = MemoryDescriptor> + '_ {
    map.regions().iter().map(MemoryDescriptor::from_region)
}

/// The map key for the map's current state (UEFI §7.2, §7.4).
pub fn map_key(map: &MemoryMap) -> usize {
    // Truncation on 32-bit targets keeps the key changing on every update.
    map.generation() as usize
}

/// The `ExitBootServices()` key check (UEFI §7.4): `InvalidParameter` when
/// the map changed since the caller's `GetMemoryMap()`.
pub fn check_map_key(map: &MemoryMap, key: usize) -> Result<()> {
    if key == map_key(map) {
        Ok(())
    } else {
        Err(Error::InvalidParameter)
    }
}

/// What a successful [`get_memory_map`] returns besides the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapInfo {
    /// `*MemoryMapSize` out: bytes written.
    pub size: usize,
    /// `*MapKey`.
    pub key: usize,
    /// `*DescriptorSize`: [`DESCRIPTOR_SIZE`].
    pub descriptor_size: usize,
    /// `*DescriptorVersion`: [`DESCRIPTOR_VERSION`].
    pub descriptor_version: u32,
}

/// `GetMemoryMap()` failed with `EFI_BUFFER_TOO_SMALL`; `required` is the
/// `*MemoryMapSize` to report (UEFI §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes the map needs now. Allocating the buffer may add entries, so
    /// callers allocate a little more; that is their business.
    pub required: usize,
}

impl From<BufferTooSmall> for Error {
    fn from(_: BufferTooSmall) -> Error {
        Error::BufferTooSmall
    }
}

/// `GetMemoryMap()` (UEFI §7.2): writes the map into `buf`.
///
/// When `buf` is too small nothing is written and the size needed is
/// returned (the shim stores it in `*MemoryMapSize` and also fills
/// `*DescriptorSize`/`*DescriptorVersion`, which callers read even then).
pub fn get_memory_map(
    map: &MemoryMap,
    buf: &mut [u8],
) -> core::result::Result<MapInfo, BufferTooSmall> {
    let required = map.regions().len().saturating_mul(DESCRIPTOR_SIZE);
    if buf.len() < required {
        return Err(BufferTooSmall { required });
    }
    for (desc, chunk) in descriptors(map).zip(buf.chunks_exact_mut(DESCRIPTOR_SIZE)) {
        chunk.copy_from_slice(&desc.to_bytes());
    }
    Ok(MapInfo {
        size: required,
        key: map_key(map),
        descriptor_size: DESCRIPTOR_SIZE,
        descriptor_version: DESCRIPTOR_VERSION,
    })
}

#[cfg(test)]
mod tests;
