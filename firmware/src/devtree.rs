//! The device tree the VMM handed over (arm64), read once the firmware
//! has a heap: the devices the boot flow drives (PCI host bridges,
//! virtio-mmio transports) and a one-line summary in the log. The console,
//! RTC and PSCI conduit were taken from it earlier, by the entry code.

use vmfw_fdt::{Fdt, Machine, PciSpace};
use vmfw_platform::Platform;

/// The blob at the address the platform recorded.
pub fn blob(platform: &Platform) -> Option<&'static [u8]> {
    if !crate::arch::HAS_DEVICE_TREE {
        return None;
    }
    let addr = platform.fdt?;
    let mut head = [0u8; 8];
    vmfw_platform::PhysMem::read(&crate::memory::Phys, addr, &mut head).ok()?;
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    // SAFETY: `vmfw_platform::from_fdt` reserved `[addr, addr + len)` in
    // the memory map (firmware data: no allocator hands it out), it is
    // mapped as RAM, and nothing writes the VMM's blob.
    Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

/// What the device tree describes, or `None` (logged) when there is none
/// or it does not parse.
pub fn describe(platform: &Platform) -> Option<Machine<'static>> {
    if !crate::arch::HAS_DEVICE_TREE {
        return None;
    }
    let fdt = Fdt::new(blob(platform)?).map_err(|e| crate::warn!("device tree: {e}")).ok()?;
    let m = vmfw_fdt::describe(&fdt).map_err(|e| crate::warn!("device tree: {e}")).ok()?;
    crate::info!(
        "device tree: {} PCI host bridge{}, {} virtio-mmio slot{}, console {}, RTC {}, PSCI {}",
        m.pci.len(),
        if m.pci.len() == 1 { "" } else { "s" },
        m.virtio_mmio.len(),
        if m.virtio_mmio.len() == 1 { "" } else { "s" },
        m.stdout.map_or("none", |u| match u.kind {
            vmfw_fdt::UartKind::Pl011 => "PL011",
            vmfw_fdt::UartKind::Ns16550a => "16550 (not driven)",
        }),
        if m.rtc_pl031.is_some() { "PL031" } else { "none" },
        match m.psci {
            Some(vmfw_fdt::PsciMethod::Hvc) => "hvc",
            Some(vmfw_fdt::PsciMethod::Smc) => "smc",
            None => "none",
        },
    );
    Some(m)
}

/// The ECAM windows of the PCI host bridges, as the ACPI MCFG would give
/// them.
pub fn ecam_windows(m: &Machine<'_>) -> alloc::vec::Vec<vmfw_acpi::Ecam> {
    m.pci
        .iter()
        .map(|h| vmfw_acpi::Ecam {
            base: h.ecam.base,
            segment: h.segment.and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
            start_bus: h.bus_start,
            end_bus: h.bus_end,
        })
        .collect()
}

/// Address windows for BARs the VMM left unassigned (QEMU `virt` leaves
/// them all zero), from the first host bridge's `ranges`: its 32-bit and
/// 64-bit memory windows. Only windows that the CPU sees at the PCI
/// address are used (BARs hold PCI addresses; the firmware maps CPU ones).
pub fn bar_windows(m: &Machine<'_>) -> Option<vmfw_pci::BarWindows> {
    let host = m.pci.first()?;
    let window = |space: PciSpace| {
        host.ranges
            .iter()
            .filter(|r| r.space == space && r.pci_addr == r.cpu.base && r.cpu.size > 0)
            .max_by_key(|r| r.cpu.size)
            .map(|r| (r.cpu.base, r.cpu.end()))
    };
    let low = window(PciSpace::Mem32).unwrap_or((0, 0));
    let high = window(PciSpace::Mem64).unwrap_or((0, 0));
    Some(vmfw_pci::BarWindows { low, high })
}
