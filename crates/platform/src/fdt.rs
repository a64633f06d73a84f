//! The arm64 door: everything comes from the flattened device tree the VMM
//! passes in `x0` (Linux `Documentation/arch/arm64/booting.rst`).
//!
//! Read without a heap (the firmware has none yet): RAM from the
//! `device_type = "memory"` nodes under the root, reserved memory from the
//! reservation block and `/reserved-memory`, the command line from
//! `/chosen/bootargs`. The blob itself is kept out of the page allocator's
//! pool: the firmware reads it again for devices and hands it on.

use crate::{Cmdline, Door, Error, MemoryType, Platform};
use vmfw_fdt::Fdt;

/// Reads a [`Platform`] from the device tree `fdt`, whose blob lies at
/// physical address `addr`. Malformed `reg` properties of memory nodes are
/// skipped (the tree was validated by [`Fdt::new`]; a node the parser
/// cannot decode describes no RAM the firmware can trust).
pub fn from_fdt(fdt: &Fdt<'_>, addr: u64) -> Result<Platform, Error> {
    let mut p = Platform::new(Door::DeviceTree);
    let root = fdt.root();
    for node in root.children().filter(|n| n.device_type() == Some("memory")) {
        let Ok(reg) = node.reg() else { continue };
        for (base, size) in reg {
            p.memory.add(base, size, MemoryType::Free)?;
        }
    }
    for (base, size) in fdt.reservations() {
        reserve(&mut p, base, size)?;
    }
    if let Some(rm) = root.child("reserved-memory") {
        for child in rm.children() {
            let Ok(reg) = child.reg() else { continue };
            for (base, size) in reg {
                reserve(&mut p, base, size)?;
            }
        }
    }
    let blob_len = fdt.as_bytes().len() as u64;
    p.memory.reserve(addr, blob_len, MemoryType::FirmwareData)?;
    if let Some(args) = root.child("chosen").and_then(|c| c.property("bootargs")) {
        p.cmdline = Cmdline::from_bytes(args.as_str().unwrap_or("").as_bytes());
    }
    p.fdt = Some(addr);
    p.finish()
}

/// Marks `[base, base + size)` reserved (an empty range is nothing).
fn reserve(p: &mut Platform, base: u64, size: u64) -> Result<(), Error> {
    if size == 0 {
        return Ok(());
    }
    Ok(p.memory.reserve(base, size, MemoryType::Reserved)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU 7.2 `virt` (GICv3, virtio-blk-pci), as dumped by `-M dumpdtb`.
    const QEMU_VIRT: &[u8] = include_bytes!("../../fdt/tests/data/qemu-virt-gicv3-pci.dtb");

    #[test]
    fn qemu_virt_ram_and_blob() {
        let fdt = Fdt::new(QEMU_VIRT).unwrap();
        let addr = 0x4000_0000;
        let p = from_fdt(&fdt, addr).unwrap();
        assert_eq!(p.door, Door::DeviceTree);
        assert_eq!(p.fdt, Some(addr));
        assert_eq!(p.rsdp, None);
        assert_eq!(p.memory.type_at(addr), Some(MemoryType::FirmwareData));
        let blob_end = (addr + QEMU_VIRT.len() as u64).next_multiple_of(4096);
        assert_eq!(p.memory.type_at(blob_end), Some(MemoryType::Free));
        assert!(p.memory.total(MemoryType::Free) > 0);
    }
}
