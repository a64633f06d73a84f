//! PCI enumeration (PCI Local Bus 3.0 §6, PCI-to-PCI Bridge 1.2 §3.2).
//!
//! The firmware reaches configuration space through ECAM (from the ACPI
//! MCFG table) or the legacy CF8/CFC ports; both hide behind
//! [`ConfigSpace`], so this crate is tested on the host with a fake bus.
//!
//! VMMs normally program bus numbers and BARs before the firmware runs
//! (SeaBIOS on q35, Cloud Hypervisor and Firecracker themselves). The walk
//! trusts what is programmed and only fills in what was left unassigned:
//! bridges with secondary bus 0 get fresh bus numbers, memory BARs at
//! address 0 get space from [`BarWindows`]. Every loop is bounded: a bus is
//! visited once, and at most [`MAX_FUNCTIONS`] functions are reported.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

/// A PCI function address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// PCI segment (ECAM group).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0..32.
    pub device: u8,
    /// Function number, 0..8.
    pub function: u8,
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{}", self.segment, self.bus, self.device, self.function)
    }
}

/// Access to configuration space, dword-granular.
pub trait ConfigSpace {
    /// Reads the dword at `offset` (a multiple of 4, below 4096) of `bdf`;
    /// absent functions read as all ones.
    fn read(&mut self, bdf: Bdf, offset: u16) -> u32;
    /// Writes the dword at `offset` of `bdf`.
    fn write(&mut self, bdf: Bdf, offset: u16, value: u32);
}

/// Most functions reported by [`enumerate`].
pub const MAX_FUNCTIONS: usize = 1024;

const ID: u16 = 0x00;
const COMMAND: u16 = 0x04;
const CLASS: u16 = 0x08;
const HEADER: u16 = 0x0c;
const BAR0: u16 = 0x10;
const BUS_NUMBERS: u16 = 0x18;
const CMD_IO: u32 = 1 << 0;
const CMD_MEMORY: u32 = 1 << 1;

/// One present function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Its address.
    pub bdf: Bdf,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Class code, subclass and programming interface (`0xCCSSPP`).
    pub class: u32,
    /// Header type without the multi-function bit (0 device, 1 bridge).
    pub header_type: u8,
}

/// Enumerates every function reachable from bus `0` of `segment`, behind
/// bridges too, sorted by bus, device and function. Bridges whose secondary
/// bus number is 0 are given the next free bus number.
pub fn enumerate(cs: &mut dyn ConfigSpace, segment: u16) -> Vec<Function> {
    let mut found = Vec::new();
    let mut visited = [false; 256];
    let mut next_bus: u16 = 1;
    scan_bus(cs, segment, 0, &mut visited, &mut next_bus, &mut found);
    vmfw_bytes::sort_by_key(&mut found, |f: &Function| f.bdf);
    found
}

fn scan_bus(
    cs: &mut dyn ConfigSpace,
    segment: u16,
    bus: u8,
    visited: &mut [bool; 256],
    next_bus: &mut u16,
    found: &mut Vec<Function>,
) {
    // Each bus is scanned at most once, so a bridge pointing back at an
    // earlier bus cannot make the walk loop (and the recursion depth is at
    // most 256). A u8 bus number always has its slot in the 256 entries.
    let Some(seen) = visited.get_mut(usize::from(bus)) else { return };
    if core::mem::replace(seen, true) {
        return;
    }
    for device in 0..32u8 {
        let f0 = Bdf { segment, bus, device, function: 0 };
        if cs.read(f0, ID) & 0xffff == 0xffff {
            continue;
        }
        let multi = (cs.read(f0, HEADER) >> 16) & 0x80 != 0;
        for function in 0..if multi { 8 } else { 1 } {
            if found.len() >= MAX_FUNCTIONS {
                return;
            }
            let bdf = Bdf { segment, bus, device, function };
            let id = cs.read(bdf, ID);
            if id & 0xffff == 0xffff {
                continue;
            }
            let header_type = ((cs.read(bdf, HEADER) >> 16) & 0x7f) as u8;
            let f = Function {
                bdf,
                vendor: id as u16,
                device: (id >> 16) as u16,
                class: cs.read(bdf, CLASS) >> 8,
                header_type,
            };
            found.push(f);
            if header_type == 1 {
                if let Some(secondary) = bridge_secondary(cs, bdf, next_bus) {
                    scan_bus(cs, segment, secondary, visited, next_bus, found);
                }
            }
        }
    }
}

/// The secondary bus of a bridge, assigning one when the VMM did not.
fn bridge_secondary(cs: &mut dyn ConfigSpace, bdf: Bdf, next_bus: &mut u16) -> Option<u8> {
    let buses = cs.read(bdf, BUS_NUMBERS);
    let secondary = ((buses >> 8) & 0xff) as u8;
    if secondary != 0 {
        return Some(secondary);
    }
    let bus = u8::try_from(*next_bus).ok()?;
    *next_bus += 1;
    // primary = this bus, secondary = new bus, subordinate = 0xff so that
    // everything below is reachable (ranges are not narrowed afterwards:
    // the firmware is the only one walking them before the OS).
    let value = (buses & 0xff00_0000) | (0xff << 16) | (u32::from(bus) << 8) | u32::from(bdf.bus);
    cs.write(bdf, BUS_NUMBERS, value);
    Some(bus)
}

/// A memory BAR after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Index of the (first) BAR register, 0..=5.
    pub index: u8,
    /// Address it decodes (0 when unassigned).
    pub address: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// True for a 64-bit BAR (it uses two registers).
    pub is_64: bool,
}

/// Address windows for BARs the VMM left unassigned: simple bump
/// allocators, one below 4 GiB and one above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarWindows {
    /// Next free address and end of the 32-bit window.
    pub low: (u64, u64),
    /// Next free address and end of the 64-bit window.
    pub high: (u64, u64),
}

impl BarWindows {
    fn take(&mut self, size: u64, is_64: bool) -> Option<u64> {
        let try_in = |w: &mut (u64, u64)| {
            let start = w.0.checked_add(size - 1)? & !(size - 1);
            let end = start.checked_add(size)?;
            (end <= w.1).then(|| {
                w.0 = end;
                start
            })
        };
        if is_64 {
            try_in(&mut self.high).or_else(|| try_in(&mut self.low))
        } else {
            try_in(&mut self.low)
        }
    }
}

/// Errors of BAR handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The function is not a type-0 header.
    NotADevice,
    /// No window has room for the BAR.
    NoSpace {
        /// BAR index.
        index: u8,
        /// Its size.
        size: u64,
    },
}

/// Decodes the memory BARs of a type-0 function, sizing each one (with
/// memory decoding briefly off, as sizing requires) and assigning space from
/// `windows` to those left at address 0. Returns the memory BARs.
pub fn memory_bars(
    cs: &mut dyn ConfigSpace,
    bdf: Bdf,
    windows: &mut BarWindows,
) -> Result<Vec<Bar>, Error> {
    if (cs.read(bdf, HEADER) >> 16) & 0x7f != 0 {
        return Err(Error::NotADevice);
    }
    let command = cs.read(bdf, COMMAND);
    cs.write(bdf, COMMAND, command & !(CMD_IO | CMD_MEMORY) & 0xffff);
    let mut bars = Vec::new();
    let mut result = Ok(());
    let mut index = 0u8;
    while index < 6 {
        let off = BAR0 + 4 * u16::from(index);
        let lo = cs.read(bdf, off);
        if lo & 1 != 0 {
            index += 1; // I/O BAR: not used by the firmware
            continue;
        }
        let is_64 = (lo >> 1) & 3 == 2 && index < 5;
        let hi = if is_64 { cs.read(bdf, off + 4) } else { 0 };
        // Size: write all ones, read back the mask, restore.
        cs.write(bdf, off, 0xffff_ffff);
        let mask_lo = cs.read(bdf, off) & !0xf;
        cs.write(bdf, off, lo);
        let mask_hi = if is_64 {
            cs.write(bdf, off + 4, 0xffff_ffff);
            let m = cs.read(bdf, off + 4);
            cs.write(bdf, off + 4, hi);
            m
        } else {
            0xffff_ffff
        };
        let mask = (u64::from(mask_hi) << 32) | u64::from(mask_lo);
        let step = if is_64 { 2 } else { 1 };
        if mask_lo == 0 && (!is_64 || mask_hi == 0) {
            index += step; // unimplemented BAR
            continue;
        }
        let size = (!mask).wrapping_add(1);
        let mut address = (u64::from(hi) << 32) | u64::from(lo & !0xf);
        if size == 0 || !size.is_power_of_two() {
            index += step;
            continue;
        }
        if address == 0 {
            match windows.take(size, is_64) {
                Some(a) => {
                    address = a;
                    cs.write(bdf, off, (a as u32) | (lo & 0xf));
                    if is_64 {
                        cs.write(bdf, off + 4, (a >> 32) as u32);
                    }
                }
                None => {
                    result = Err(Error::NoSpace { index, size });
                    index += step;
                    continue;
                }
            }
        }
        bars.push(Bar { index, address, size, is_64 });
        index += step;
    }
    cs.write(bdf, COMMAND, command & 0xffff);
    result.map(|()| bars)
}

#[cfg(test)]
mod tests;
