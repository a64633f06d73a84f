//! PCI configuration access for the firmware: ECAM windows from the ACPI
//! MCFG table or the device tree where the VMM provides them, else the architecture's legacy
//! configuration ports where it has them (x86 CF8/CFC, PCI Local Bus 3.0
//! §3.2.2.3.2), which reach the first 256 bytes of each function, all
//! virtio needs.

use crate::arch::{self, PciConfigPorts};
use crate::memory;
use vmfw_acpi::Ecam;
use vmfw_pci::{Bdf, ConfigSpace};

/// How configuration space is reached.
pub enum Access {
    /// Memory-mapped windows (one per segment / bus range).
    Ecam(alloc::vec::Vec<Ecam>),
    /// The architecture's configuration ports (x86: 0xCF8 address, 0xCFC
    /// data).
    Ports(PciConfigPorts),
}

impl Access {
    /// ECAM when the MCFG or the device tree (`from_dt`) lists usable
    /// windows (mapped here), else ports; with neither, ECAM without
    /// windows (nothing to enumerate).
    pub fn new(acpi: Option<&vmfw_acpi::Tables>, from_dt: alloc::vec::Vec<Ecam>) -> Self {
        let windows = acpi.map(|t| t.mcfg(&memory::Phys)).transpose().unwrap_or_else(|e| {
            crate::warn!("ACPI MCFG: {e}; using PCI ports");
            None
        });
        let mut windows = windows.unwrap_or_default();
        if arch::HAS_DEVICE_TREE {
            windows.extend(from_dt);
        }
        windows.retain(|w| {
            let ok = memory::map_device(w.base, w.size());
            if !ok {
                crate::warn!("cannot map ECAM window at {:#x}", w.base);
            }
            ok
        });
        match arch::pci_config_ports() {
            Some(p) if windows.is_empty() => Access::Ports(p),
            _ => Access::Ecam(windows),
        }
    }

    /// The segments to enumerate.
    pub fn segments(&self) -> alloc::vec::Vec<u16> {
        match self {
            Access::Ecam(w) => {
                let mut s: alloc::vec::Vec<u16> = w.iter().map(|e| e.segment).collect();
                vmfw_bytes::sort(&mut s);
                s.dedup();
                s
            }
            Access::Ports(_) => alloc::vec![0],
        }
    }

    fn ecam_address(windows: &[Ecam], bdf: Bdf, offset: u16) -> Option<u64> {
        windows
            .iter()
            .filter(|w| w.segment == bdf.segment)
            .find_map(|w| w.address(bdf.bus, bdf.device, bdf.function, offset & !3))
    }

    fn port_address(bdf: Bdf, offset: u16) -> Option<u32> {
        (bdf.segment == 0 && offset < 256 && bdf.device < 32 && bdf.function < 8).then(|| {
            0x8000_0000
                | (u32::from(bdf.bus) << 16)
                | (u32::from(bdf.device) << 11)
                | (u32::from(bdf.function) << 8)
                | u32::from(offset & 0xfc)
        })
    }
}

impl ConfigSpace for Access {
    fn read(&mut self, bdf: Bdf, offset: u16) -> u32 {
        match self {
            Access::Ecam(w) => match Self::ecam_address(w, bdf, offset) {
                // SAFETY: the address lies in an ECAM window named by the
                // MCFG and identity-mapped in `new`; a dword read of
                // configuration space has no memory side effects.
                Some(a) => unsafe { core::ptr::read_volatile(a as *const u32) },
                None => 0xffff_ffff,
            },
            Access::Ports(p) => match Self::port_address(bdf, offset) {
                Some(a) => p.read(a),
                None => 0xffff_ffff,
            },
        }
    }

    fn write(&mut self, bdf: Bdf, offset: u16, value: u32) {
        match self {
            Access::Ecam(w) => {
                if let Some(a) = Self::ecam_address(w, bdf, offset) {
                    // SAFETY: as for `read`; callers only write registers
                    // of functions the firmware drives (BARs, command).
                    unsafe { core::ptr::write_volatile(a as *mut u32, value) }
                }
            }
            Access::Ports(p) => {
                if let Some(a) = Self::port_address(bdf, offset) {
                    p.write(a, value);
                }
            }
        }
    }
}

/// One function's configuration space, as the virtio transport wants it.
pub struct FunctionConfig<'a> {
    /// The bus access.
    pub access: &'a mut Access,
    /// The function.
    pub bdf: Bdf,
}

impl vmfw_virtio::PciConfig for FunctionConfig<'_> {
    fn read_u32(&mut self, offset: u8) -> u32 {
        self.access.read(self.bdf, u16::from(offset))
    }

    fn write_u32(&mut self, offset: u8, value: u32) {
        self.access.write(self.bdf, u16::from(offset), value)
    }
}
