//! The summary of a tree that the aarch64 entry needs: [`describe`].
//!
//! What the firmware must get right is strict: a malformed `reg` on a
//! memory node or a `/reserved-memory` child is an error (a child with
//! no `reg`, a dynamically placed one, is skipped). Optional devices are
//! lenient: a
//! console, RTC, PSCI node, GIC, PCI bridge or virtio-mmio node whose
//! properties do not decode is left out of the summary, so one odd node
//! does not stop the boot. Counts are capped ([`MAX_REGIONS`] and friends);
//! more is [`Error::TooMany`], never a silent truncation.

use alloc::vec::Vec;

use crate::{Cells, Error, Fdt, Node, Reg};

/// Most memory or reserved regions [`describe`] keeps (each kind).
pub const MAX_REGIONS: usize = 128;
/// Most PCI host bridges [`describe`] keeps.
pub const MAX_PCI_HOSTS: usize = 8;
/// Most `ranges` entries of one PCI host bridge.
pub const MAX_PCI_RANGES: usize = 16;
/// Most virtio-mmio transports [`describe`] keeps.
pub const MAX_VIRTIO_MMIO: usize = 64;

/// A physical address range; `base + size` never overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// A region, or [`Error::RegionOverflow`] if it wraps past `u64::MAX`.
    pub fn new(base: u64, size: u64) -> Result<Region, Error> {
        match base.checked_add(size) {
            Some(_) => Ok(Region { base, size }),
            None => Err(Error::RegionOverflow { base, size }),
        }
    }

    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// The console UART's programming model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind {
    /// ARM PrimeCell PL011 (`"arm,pl011"`).
    Pl011,
    /// 16550-compatible, MMIO (`"ns16550a"` or `"ns16550"`).
    Ns16550a,
}

/// The console named by `/chosen/stdout-path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uart {
    /// Its register window (first `reg` entry).
    pub mmio: Region,
    /// Which kind of UART it is.
    pub kind: UartKind,
}

/// How PSCI calls reach the hypervisor or secure firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciMethod {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

/// The address space of a PCI `ranges` entry (bits 24-25 of its first
/// cell, PCI Bus Binding to Open Firmware §2.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciSpace {
    /// Configuration space (code 0; unusual in `ranges`).
    Config,
    /// I/O space (code 1).
    Io,
    /// 32-bit memory space (code 2).
    Mem32,
    /// 64-bit memory space (code 3).
    Mem64,
}

/// One `ranges` entry of a PCI host bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciRange {
    /// The address space on the PCI side.
    pub space: PciSpace,
    /// The prefetchable bit (bit 30 of the first cell).
    pub prefetchable: bool,
    /// The address on the PCI side (cells 2 and 3).
    pub pci_addr: u64,
    /// The CPU physical address it is reached at, and the window's size.
    pub cpu: Region,
}

/// A `"pci-host-ecam-generic"` host bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciHost {
    /// The ECAM window (first `reg` entry).
    pub ecam: Region,
    /// `linux,pci-domain`, if given (the ECAM segment).
    pub segment: Option<u32>,
    /// First bus of `bus-range` (0 without one).
    pub bus_start: u8,
    /// Last bus of `bus-range` (255 without one).
    pub bus_end: u8,
    /// The decoded `ranges` entries.
    pub ranges: Vec<PciRange>,
}

/// A `"virtio,mmio"` transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmio {
    /// Its register window.
    pub mmio: Region,
    /// The SPI number of its first interrupt when `interrupts` has the
    /// GIC's three-cell form with type 0 (SPI); the GIC interrupt ID is
    /// this plus 32.
    pub spi: Option<u32>,
}

/// The GIC generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (`"arm,cortex-a15-gic"`, `"arm,gic-400"`): `reg` is the
    /// distributor, then the CPU interface.
    V2,
    /// GICv3 (`"arm,gic-v3"`): `reg` is the distributor, then the
    /// redistributors.
    V3,
}

/// The interrupt controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gic {
    /// Which generation.
    pub version: GicVersion,
    /// The distributor's registers.
    pub distributor: Region,
    /// GICv3: the redistributor region; GICv2: the CPU interface.
    pub second: Option<Region>,
}

/// What [`describe`] found in a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine<'a> {
    /// `reg` of every `device_type = "memory"` node, in document order.
    pub memory: Vec<Region>,
    /// The reservation block's entries, then `reg` of every child of
    /// `/reserved-memory` that has one.
    pub reserved: Vec<Region>,
    /// `/chosen/bootargs`.
    pub bootargs: Option<&'a str>,
    /// The console from `/chosen/stdout-path`, if it is a known UART.
    pub stdout: Option<Uart>,
    /// The first `"arm,pl031"` RTC's registers.
    pub rtc_pl031: Option<Region>,
    /// The PSCI conduit, if a PSCI node with a known `method` exists.
    pub psci: Option<PsciMethod>,
    /// `"pci-host-ecam-generic"` bridges.
    pub pci: Vec<PciHost>,
    /// `"virtio,mmio"` transports, in document order.
    pub virtio_mmio: Vec<VirtioMmio>,
    /// The first GIC found.
    pub gic: Option<Gic>,
}

/// Compatible strings of PSCI nodes, newest first.
const PSCI_COMPATIBLE: [&str; 3] = ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];

fn push_limited<T>(v: &mut Vec<T>, item: T, what: &'static str, limit: usize) -> Result<(), Error> {
    if v.len() >= limit {
        return Err(Error::TooMany { what, limit });
    }
    v.push(item);
    Ok(())
}

/// The first `reg` entry of `node` as a region, if it decodes.
fn first_reg(node: &Node<'_>) -> Option<Region> {
    let (base, size) = node.reg().ok()?.next()?;
    Region::new(base, size).ok()
}

/// Summarises a tree for the firmware (see [`Machine`]). One pass over all
/// nodes plus a few path lookups: linear in the blob's size.
pub fn describe<'a>(fdt: &Fdt<'a>) -> Result<Machine<'a>, Error> {
    let mut m = Machine {
        memory: Vec::new(),
        reserved: Vec::new(),
        bootargs: None,
        stdout: None,
        rtc_pl031: None,
        psci: None,
        pci: Vec::new(),
        virtio_mmio: Vec::new(),
        gic: None,
    };
    for (base, size) in fdt.reservations() {
        let r = Region::new(base, size)?;
        push_limited(&mut m.reserved, r, "reserved regions", MAX_REGIONS)?;
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            for (base, size) in child.reg()? {
                let r = Region::new(base, size)?;
                push_limited(&mut m.reserved, r, "reserved regions", MAX_REGIONS)?;
            }
        }
    }
    let chosen = fdt.find_node("/chosen");
    m.bootargs = chosen.and_then(|c| c.property("bootargs")).and_then(|p| p.as_str());
    m.stdout = stdout_uart(fdt);

    // The GIC first: its #interrupt-cells says how to read `interrupts`.
    let mut irq_cells = None;
    for node in fdt.nodes() {
        if let Some(g) = gic(&node) {
            irq_cells = node.property("#interrupt-cells").and_then(|p| p.as_u32());
            m.gic = Some(g);
            break;
        }
    }

    for node in fdt.nodes() {
        if node.device_type() == Some("memory") {
            for (base, size) in node.reg()? {
                let r = Region::new(base, size)?;
                push_limited(&mut m.memory, r, "memory regions", MAX_REGIONS)?;
            }
            continue;
        }
        let Some(compat) = node.property("compatible") else {
            continue;
        };
        let has = |c: &str| compat.as_str_list().any(|s| s == c);
        if has("virtio,mmio") {
            if let Some(mmio) = first_reg(&node) {
                let spi = spi(&node, irq_cells);
                let dev = VirtioMmio { mmio, spi };
                push_limited(&mut m.virtio_mmio, dev, "virtio-mmio nodes", MAX_VIRTIO_MMIO)?;
            }
        } else if has("pci-host-ecam-generic") {
            if let Some(host) = pci_host(&node)? {
                push_limited(&mut m.pci, host, "PCI host bridges", MAX_PCI_HOSTS)?;
            }
        } else if has("arm,pl031") {
            if m.rtc_pl031.is_none() {
                m.rtc_pl031 = first_reg(&node);
            }
        } else if PSCI_COMPATIBLE.iter().any(|c| has(c)) && m.psci.is_none() {
            m.psci = match node.property("method").and_then(|p| p.as_str()) {
                Some("hvc") => Some(PsciMethod::Hvc),
                Some("smc") => Some(PsciMethod::Smc),
                _ => None,
            };
        }
    }
    Ok(m)
}

/// The console `/chosen/stdout-path` names, if it is a known UART.
/// Allocates nothing, so the firmware can find its console before it has
/// a heap.
pub fn stdout_uart(fdt: &Fdt<'_>) -> Option<Uart> {
    fdt.stdout().and_then(|n| uart(&n))
}

fn uart(node: &Node<'_>) -> Option<Uart> {
    let kind = if node.is_compatible("arm,pl011") {
        UartKind::Pl011
    } else if node.is_compatible("ns16550a") || node.is_compatible("ns16550") {
        UartKind::Ns16550a
    } else {
        return None;
    };
    Some(Uart { mmio: first_reg(node)?, kind })
}

fn gic(node: &Node<'_>) -> Option<Gic> {
    let version = if node.is_compatible("arm,gic-v3") {
        GicVersion::V3
    } else if node.is_compatible("arm,cortex-a15-gic") || node.is_compatible("arm,gic-400") {
        GicVersion::V2
    } else {
        return None;
    };
    let mut reg = node.reg().ok()?;
    let (base, size) = reg.next()?;
    let distributor = Region::new(base, size).ok()?;
    let second = reg.next().and_then(|(b, s)| Region::new(b, s).ok());
    Some(Gic { version, distributor, second })
}

/// The first interrupt's SPI number, when the GIC's three-cell form
/// applies: the GIC says `#interrupt-cells = 3`, or (no GIC found) the
/// property is a whole number of three-cell entries.
fn spi(node: &Node<'_>, irq_cells: Option<u32>) -> Option<u32> {
    let p = node.property("interrupts")?;
    let three = match irq_cells {
        Some(n) => n == 3,
        None => !p.value.is_empty() && p.value.len().is_multiple_of(12),
    };
    if !three {
        return None;
    }
    let mut cells = p.as_cells();
    let (kind, number) = (cells.next()?, cells.next()?);
    cells.next()?;
    (kind == 0).then_some(number)
}

/// Decodes a `"pci-host-ecam-generic"` node. `Ok(None)` when its `reg`,
/// `bus-range` or `ranges` do not decode (the bridge is skipped);
/// `Err` only for too many `ranges` entries.
fn pci_host(node: &Node<'_>) -> Result<Option<PciHost>, Error> {
    let Some(ecam) = first_reg(node) else {
        return Ok(None);
    };
    let segment = node.property("linux,pci-domain").and_then(|p| p.as_u32());
    let (bus_start, bus_end) = match node.property("bus-range") {
        None => (0, 255),
        Some(p) => {
            let mut c = p.as_cells();
            let (Some(s), Some(e), None) = (c.next(), c.next(), c.next()) else {
                return Ok(None);
            };
            match (u8::try_from(s), u8::try_from(e)) {
                (Ok(s), Ok(e)) if s <= e => (s, e),
                _ => return Ok(None),
            }
        }
    };
    let own = node.cells();
    let parent = node.parent_cells();
    let value = node.property("ranges").map_or(&[][..], |p| p.value);
    let Some(ranges) = pci_ranges(value, own, parent)? else {
        return Ok(None);
    };
    Ok(Some(PciHost { ecam, segment, bus_start, bus_end, ranges }))
}

/// Decodes a PCI bridge's `ranges`: three child address cells, the
/// parent's address cells, the bridge's size cells per entry.
fn pci_ranges(value: &[u8], own: Cells, parent: Cells) -> Result<Option<Vec<PciRange>>, Error> {
    if own.address != 3 || own.size > 2 || own.size == 0 || parent.address > 2 {
        return Ok(None);
    }
    // Bounded: at most 3 + 2 + 2 cells.
    let entry = (3 + parent.address + own.size) as usize * 4;
    if !value.len().is_multiple_of(entry) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for c in value.chunks_exact(entry) {
        // The parent address and size are decoded through `Reg`, which
        // reads them with the given cell counts.
        let Some(tail) = c.get(12..) else {
            return Ok(None);
        };
        let cells = Cells { address: parent.address, size: own.size };
        let Some((cpu_addr, size)) =
            Reg::new(tail, cells, "ranges").ok().and_then(|mut r| r.next())
        else {
            return Ok(None);
        };
        let (Some(hi), Some(pci_addr)) = (crate::be32(c, 0), crate::be64(c, 4)) else {
            return Ok(None);
        };
        let space = match (hi >> 24) & 3 {
            0 => PciSpace::Config,
            1 => PciSpace::Io,
            2 => PciSpace::Mem32,
            _ => PciSpace::Mem64,
        };
        let Ok(cpu) = Region::new(cpu_addr, size) else {
            return Ok(None);
        };
        let range = PciRange { space, prefetchable: hi & (1 << 30) != 0, pci_addr, cpu };
        push_limited(&mut out, range, "PCI ranges", MAX_PCI_RANGES)?;
    }
    Ok(Some(out))
}
