//! Reading the ACPI tables a VMM provides (ACPI 6.5 §5.2).
//!
//! vmfw needs few things from ACPI: how to power off and reset (FADT and
//! the `\_S5_` package in the DSDT), later the PCI ECAM window (MCFG) and
//! virtio-mmio devices described in the DSDT. A full AML interpreter is a
//! large attack surface for that, so this crate walks the tables with
//! bounds-checked reads and recognises only the fixed AML patterns it
//! needs (see [`aml`]).
//!
//! Tables are read through [`Memory`]; every address and length in them is
//! untrusted: lengths are capped at [`MAX_TABLE_LEN`], checksums verified,
//! and all arithmetic checked.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
// Little-endian field readers: `None` when the slice is too short, so
// callers turn that into a named error.
use vmfw_bytes::{u16_at, u32_at, u64_at, u8_at};

pub mod aml;
mod fadt;

pub use fadt::{Fadt, Gas, GasSpace, PowerControl};

/// Largest table vmfw reads (a DSDT of a large VM is tens of KiB).
pub const MAX_TABLE_LEN: u32 = 4 << 20;
/// Most entries read from the XSDT/RSDT.
pub const MAX_TABLES: usize = 256;

/// Reads guest-physical memory.
pub trait Memory {
    /// Fills `buf` from physical address `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error>;
}

/// Errors reading ACPI tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The memory at this address cannot be read.
    Unreadable(u64),
    /// The RSDP signature or checksum is wrong.
    BadRsdp,
    /// A table's checksum is wrong (signature given).
    BadChecksum([u8; 4]),
    /// A table is shorter than its header or than the field read needs.
    TooShort([u8; 4]),
    /// A table's length is above [`MAX_TABLE_LEN`].
    TooLong([u8; 4]),
    /// The table is not present.
    NotFound([u8; 4]),
    /// The `\_S5_` object is missing or not a package of integers.
    NoS5,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unreadable(a) => write!(f, "cannot read ACPI memory at {a:#x}"),
            Error::BadRsdp => f.write_str("bad RSDP"),
            Error::BadChecksum(s) => write!(f, "bad checksum in {}", sig_str(s)),
            Error::TooShort(s) => write!(f, "{} too short", sig_str(s)),
            Error::TooLong(s) => write!(f, "{} too long", sig_str(s)),
            Error::NotFound(s) => write!(f, "no {} table", sig_str(s)),
            Error::NoS5 => f.write_str("no usable \\_S5_ object"),
        }
    }
}

/// A table signature as text, for messages.
fn sig_str(s: &[u8; 4]) -> &str {
    core::str::from_utf8(s).unwrap_or("????")
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0
}

const HEADER_LEN: usize = 36;

/// Looks for the RSDP the legacy way (ACPI 6.5 §5.2.5.1): on a 16-byte
/// boundary in the BIOS read-only area 0xE0000–0xFFFFF, with the signature
/// and a valid checksum. For VMMs that build ACPI tables but do not pass
/// the RSDP's address through the door they use (Firecracker with PVH).
pub fn scan_rsdp(mem: &impl Memory) -> Option<u64> {
    const START: u64 = 0xe_0000;
    const END: u64 = 0x10_0000;
    let mut area = vec![0u8; (END - START) as usize];
    mem.read(START, &mut area).ok()?;
    area.chunks_exact(16).enumerate().find_map(|(i, _)| {
        let off = i * 16;
        let candidate = area.get(off..off + 20)?;
        (candidate.get(..8) == Some(b"RSD PTR ".as_slice()) && checksum_ok(candidate))
            .then_some(START + off as u64)
    })
}

/// One memory-mapped PCI configuration window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecam {
    /// Physical address of bus `start_bus`'s configuration space.
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub start_bus: u8,
    /// Last bus decoded.
    pub end_bus: u8,
}

impl Ecam {
    /// Address of `offset` in the configuration space of bus/device/function,
    /// or None when the bus is outside the window.
    pub fn address(&self, bus: u8, device: u8, function: u8, offset: u16) -> Option<u64> {
        if bus < self.start_bus
            || bus > self.end_bus
            || device > 31
            || function > 7
            || offset > 0xffc
        {
            return None;
        }
        let rel = (u64::from(bus - self.start_bus) << 20)
            | (u64::from(device) << 15)
            | (u64::from(function) << 12)
            | u64::from(offset);
        self.base.checked_add(rel)
    }

    /// Size of the window in bytes.
    pub fn size(&self) -> u64 {
        (u64::from(self.end_bus - self.start_bus) + 1) << 20
    }
}

/// The system description tables reachable from one RSDP.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Physical addresses of the tables listed by the XSDT (or RSDT).
    entries: [u64; MAX_TABLES],
    count: usize,
    /// The RSDP's OEM ID (ACPI 6.5 §5.2.5.3): names the VMM that wrote it.
    oem_id: [u8; 6],
}

impl Tables {
    /// The OEM ID of the (checksum-validated) RSDP, e.g. `CLOUDH` for
    /// Cloud Hypervisor or `BOCHS ` for QEMU.
    pub fn oem_id(&self) -> [u8; 6] {
        self.oem_id
    }

    /// Validates the RSDP at `rsdp` and reads the XSDT (ACPI 2.0+) or the
    /// RSDT (ACPI 1.0) it points to.
    pub fn new(mem: &impl Memory, rsdp: u64) -> Result<Self, Error> {
        let mut r = [0u8; 36];
        mem.read(rsdp, &mut r[..20])?;
        if &r[..8] != b"RSD PTR " || !checksum_ok(&r[..20]) {
            return Err(Error::BadRsdp);
        }
        let revision = r[15];
        let (root, entry_size) = if revision >= 2 {
            mem.read(rsdp, &mut r)?;
            if !checksum_ok(&r) {
                return Err(Error::BadRsdp);
            }
            (u64_at(&r, 24).ok_or(Error::BadRsdp)?, 8)
        } else {
            (u64::from(u32_at(&r, 16).ok_or(Error::BadRsdp)?), 4)
        };
        let mut oem_id = [0u8; 6];
        if let Some(id) = r.get(9..15) {
            oem_id.copy_from_slice(id);
        }
        let mut t = Tables { entries: [0; MAX_TABLES], count: 0, oem_id };
        let sig = if entry_size == 8 { *b"XSDT" } else { *b"RSDT" };
        with_table(mem, root, sig, |body| {
            // At most MAX_TABLES entries: the zip stops at the last slot.
            for (slot, chunk) in t.entries.iter_mut().zip(body.chunks_exact(entry_size)) {
                // Each chunk is one whole entry, so the read cannot miss;
                // if it did, the list would end there rather than hold a
                // made-up address 0.
                let addr = if entry_size == 8 {
                    u64_at(chunk, 0)
                } else {
                    u32_at(chunk, 0).map(u64::from)
                };
                let Some(addr) = addr else { break };
                *slot = addr;
                t.count += 1;
            }
        })?;
        Ok(t)
    }

    /// Physical address of the first table with signature `sig`.
    pub fn find(&self, mem: &impl Memory, sig: [u8; 4]) -> Result<u64, Error> {
        // `count` never exceeds MAX_TABLES (one per slot filled in `new`).
        for &addr in self.entries.get(..self.count).unwrap_or(&[]) {
            let mut s = [0u8; 4];
            if mem.read(addr, &mut s).is_ok() && s == sig {
                return Ok(addr);
            }
        }
        Err(Error::NotFound(sig))
    }

    /// The FADT ("FACP").
    pub fn fadt(&self, mem: &impl Memory) -> Result<Fadt, Error> {
        let addr = self.find(mem, *b"FACP")?;
        read_table(mem, addr, *b"FACP", Fadt::parse)?
    }

    /// The PCI ECAM windows from the MCFG table (PCI Firmware 3.2 §4.1.2);
    /// empty when there is no MCFG.
    pub fn mcfg(&self, mem: &impl Memory) -> Result<Vec<Ecam>, Error> {
        let addr = match self.find(mem, *b"MCFG") {
            Ok(a) => a,
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        read_table(mem, addr, *b"MCFG", |whole| {
            whole
                .get(44..)
                .unwrap_or(&[])
                .chunks_exact(16)
                .take(MAX_TABLES)
                .filter_map(|e| {
                    let base = u64_at(e, 0)?;
                    let segment = u16_at(e, 8)?;
                    let (start_bus, end_bus) = (u8_at(e, 10)?, u8_at(e, 11)?);
                    (base != 0 && start_bus <= end_bus).then_some(Ecam {
                        base,
                        segment,
                        start_bus,
                        end_bus,
                    })
                })
                .collect()
        })
    }

    /// The DSDT's AML (after the table header).
    pub fn dsdt_aml(&self, mem: &impl Memory) -> Result<Vec<u8>, Error> {
        let fadt = self.fadt(mem)?;
        read_table(mem, fadt.dsdt, *b"DSDT", |whole| {
            whole.get(HEADER_LEN..).unwrap_or(&[]).to_vec()
        })
    }

    /// How to power the machine off and reset it: FADT registers plus the
    /// `\_S5_` sleep type from the DSDT.
    pub fn power_control(&self, mem: &impl Memory) -> Result<PowerControl, Error> {
        let fadt = self.fadt(mem)?;
        let s5 = read_table(mem, fadt.dsdt, *b"DSDT", |whole| {
            aml::find_s5(whole.get(HEADER_LEN..).unwrap_or(&[]))
        })?;
        Ok(PowerControl::new(&fadt, s5))
    }
}

/// Reads the whole table at `addr` (checking signature, length and
/// checksum) and gives its body (after the 36-byte header) to `f`.
fn with_table<R>(
    mem: &impl Memory,
    addr: u64,
    sig: [u8; 4],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, Error> {
    read_table(mem, addr, sig, |whole| f(whole.get(HEADER_LEN..).unwrap_or(&[])))
}

/// Reads the whole table at `addr`, checked, and gives it to `f`.
pub fn read_table<R>(
    mem: &impl Memory,
    addr: u64,
    sig: [u8; 4],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, Error> {
    let mut hdr = [0u8; HEADER_LEN];
    mem.read(addr, &mut hdr)?;
    if hdr[..4] != sig {
        return Err(Error::NotFound(sig));
    }
    let len = u32_at(&hdr, 4).ok_or(Error::TooShort(sig))?;
    if (len as usize) < HEADER_LEN {
        return Err(Error::TooShort(sig));
    }
    if len > MAX_TABLE_LEN {
        return Err(Error::TooLong(sig));
    }
    let mut whole = vec![0u8; len as usize];
    mem.read(addr, &mut whole)?;
    if !checksum_ok(&whole) {
        return Err(Error::BadChecksum(sig));
    }
    Ok(f(&whole))
}

#[cfg(test)]
mod tests;
