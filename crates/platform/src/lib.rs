//! The one description of the machine that every entry door normalises into.
//!
//! A VMM starts vmfw through one of several doors (PVH, the Linux 64-bit boot
//! protocol, the arm64 `Image` header). Each door hands over the same
//! facts in its own format: where RAM is, what is reserved, the command line
//! and the ACPI RSDP or device tree. This crate reads those formats through [`PhysMem`] and
//! produces a [`Platform`]; nothing after the door knows which door was used.
//!
//! Every value the VMM provides is treated as untrusted: counts are bounded,
//! addresses go through checked arithmetic, and failures are named
//! [`Error`]s rather than panics.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod cmdline;
mod fdt;
mod mmio;
mod pvh;
mod zeropage;

pub use cmdline::{Cmdline, CMDLINE_MAX};
pub use fdt::from_fdt;
pub use mmio::{parse_virtio_mmio, MmioDevice, MmioParseError};
pub use pvh::{from_pvh, PVH_MAGIC};
pub use vmfw_memmap::{MemoryMap, MemoryType, Region};
pub use zeropage::from_zero_page;

/// Reads guest-physical memory. The firmware implements it over its
/// identity map; tests implement it over a byte vector.
pub trait PhysMem {
    /// Fills `buf` from physical address `addr`, or fails with
    /// [`Error::Unreadable`] when the range is not readable.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error>;
}

/// Which door the VMM used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// PVH: 32-bit protected mode, `ebx` = `hvm_start_info`.
    Pvh,
    /// Linux x86_64 64-bit boot protocol, `rsi` = zero page.
    Linux64,
    /// The arm64 Linux `Image` header, `x0` = flattened device tree.
    DeviceTree,
}

/// Errors reading the VMM's hand-over data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The PVH start info does not carry the expected magic value.
    BadMagic(u32),
    /// The PVH start info is version 0, which has no memory map.
    NoMemoryMap,
    /// More memory map entries than the firmware accepts.
    TooManyEntries(u64),
    /// A memory map entry could not be added (overflow, map full).
    MemoryMap(vmfw_memmap::Error),
    /// The memory map lists no usable RAM at all.
    NoRam,
    /// A physical range the VMM pointed at cannot be read.
    Unreadable(u64),
}

impl core::fmt::Display for Error {
    /// Through `vmfw_bytes::write_template` (`\x01` is `{}`, `\x03`
    /// `{:#x}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, n): (&str, u64) = match *self {
            Error::BadMagic(m) => ("bad PVH start info magic \x03", m.into()),
            Error::NoMemoryMap => ("PVH start info version 0 has no memory map", 0),
            Error::TooManyEntries(n) => ("memory map has \x01 entries", n),
            Error::MemoryMap(e) => return write!(f, "memory map: {e}"),
            Error::NoRam => ("memory map lists no RAM", 0),
            Error::Unreadable(a) => ("cannot read VMM data at \x03", a),
        };
        vmfw_bytes::write_template(f, t, &[n])
    }
}

impl From<vmfw_memmap::Error> for Error {
    fn from(e: vmfw_memmap::Error) -> Self {
        Error::MemoryMap(e)
    }
}

/// Upper bound on memory map entries read from the VMM; real VMMs report
/// a handful, and the map itself holds [`vmfw_memmap::MAX_ENTRIES`].
pub const MAX_VMM_ENTRIES: u64 = 1024;

/// What the firmware knows about the machine after the door.
#[derive(Debug, Clone)]
pub struct Platform {
    /// The door the VMM used.
    pub door: Door,
    /// RAM and reserved ranges as the VMM reported them.
    pub memory: MemoryMap,
    /// The VMM's command line.
    pub cmdline: Cmdline,
    /// Physical address of the ACPI RSDP, when the VMM gave one.
    pub rsdp: Option<u64>,
    /// Physical address of the flattened device tree, when the VMM gave
    /// one (arm64); the blob is reserved in [`Platform::memory`].
    pub fdt: Option<u64>,
}

impl Platform {
    fn new(door: Door) -> Self {
        Self { door, memory: MemoryMap::new(), cmdline: Cmdline::empty(), rsdp: None, fdt: None }
    }

    fn finish(self) -> Result<Self, Error> {
        if self.memory.total(MemoryType::Free) == 0 {
            return Err(Error::NoRam);
        }
        Ok(self)
    }
}

#[cfg(test)]
pub(crate) mod testmem {
    extern crate std;
    use std::vec::Vec;

    /// Guest memory for tests: a byte vector at physical address 0.
    pub struct VecMem(pub Vec<u8>);

    impl VecMem {
        pub fn new(size: usize) -> Self {
            Self(std::vec![0; size])
        }
        pub fn put(&mut self, addr: u64, bytes: &[u8]) {
            let a = addr as usize;
            self.0[a..a + bytes.len()].copy_from_slice(bytes);
        }
    }

    impl super::PhysMem for VecMem {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), super::Error> {
            let a = usize::try_from(addr).map_err(|_| super::Error::Unreadable(addr))?;
            let src = a
                .checked_add(buf.len())
                .and_then(|e| self.0.get(a..e))
                .ok_or(super::Error::Unreadable(addr))?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }
}
