//! virtio over PCI, modern interface (virtio 1.2 §4.1).
//!
//! The device's registers are not at fixed places: vendor-specific PCI
//! capabilities (§4.1.4) point into memory BARs at the common configuration
//! (§4.1.4.3), the notification area (§4.1.4.4, one address per queue:
//! `cap.offset + queue_notify_off * notify_off_multiplier`), the ISR byte
//! (§4.1.4.5) and the device-specific configuration (§4.1.4.6).
//!
//! Configuration space comes from the firmware through [`PciConfig`] (CF8/CFC
//! or ECAM) and is treated as untrusted input: the capability walk detects
//! loops and pointers outside 0x40..0x100, BARs are decoded with their type
//! checked (32- and 64-bit memory BARs, addresses above 4 GiB included) and
//! every offset is added with overflow checks. The transport does not size
//! or move BARs: it uses the addresses the VMM or the firmware's PCI
//! enumeration assigned, and hands each region to a mapping callback that
//! checks it against the firmware's device windows.
//!
//! Transitional devices (device id 0x1000 + n, e.g. 0x1001 for block) are
//! driven through the same modern capabilities; the generic initialisation
//! then requires VERSION_1, so a transitional device is never used through
//! its legacy I/O BAR.

use super::{QueueLayout, Transport};
use crate::{Error, RegisterAccess};

/// PCI vendor id of virtio devices.
pub const PCI_VENDOR_ID_VIRTIO: u16 = 0x1af4;
/// PCI device id of a modern (virtio 1.0+ only) block device.
pub const PCI_DEVICE_ID_BLK_MODERN: u16 = 0x1042;
/// PCI device id of a transitional block device.
pub const PCI_DEVICE_ID_BLK_TRANSITIONAL: u16 = 0x1001;

/// Modern device ids are 0x1040 + the virtio device type (§4.1.2.1).
const MODERN_ID_BASE: u16 = 0x1040;
const MODERN_ID_LAST: u16 = 0x107f;

/// Transitional device ids and their virtio device types (§4.1.2.1).
const TRANSITIONAL_IDS: [(u16, u32); 7] = [
    (0x1000, 1), // network
    (0x1001, 2), // block
    (0x1002, 5), // balloon
    (0x1003, 3), // console
    (0x1004, 8), // SCSI host
    (0x1005, 4), // entropy
    (0x1009, 9), // 9P transport
];

// Type-0 configuration header.
const CFG_ID: u8 = 0x00;
const CFG_COMMAND_STATUS: u8 = 0x04;
const CFG_HEADER_TYPE_DWORD: u8 = 0x0c;
const CFG_BAR0: u8 = 0x10;
const CFG_CAP_PTR: u8 = 0x34;
const STATUS_CAP_LIST: u32 = 1 << 4;
const COMMAND_MEMORY: u32 = 1 << 1;
const COMMAND_BUS_MASTER: u32 = 1 << 2;
/// First byte after the standard header: capabilities live above it.
const CAP_AREA_START: u16 = 0x40;
/// End of the conventional configuration space.
const CAP_AREA_END: u16 = 0x100;

const CAP_ID_VENDOR: u8 = 0x09;
/// `struct virtio_pci_cap` is 16 bytes; the notify capability adds the
/// 32-bit multiplier.
const VIRTIO_CAP_LEN: u8 = 16;
const VIRTIO_NOTIFY_CAP_LEN: u8 = 20;

const CFG_TYPE_COMMON: u8 = 1;
const CFG_TYPE_NOTIFY: u8 = 2;
const CFG_TYPE_ISR: u8 = 3;
const CFG_TYPE_DEVICE: u8 = 4;

// Common configuration structure (§4.1.4.3).
const COMMON_DFSELECT: usize = 0x00;
const COMMON_DF: usize = 0x04;
const COMMON_GFSELECT: usize = 0x08;
const COMMON_GF: usize = 0x0c;
const COMMON_STATUS: usize = 0x14;
const COMMON_CFGGENERATION: usize = 0x15;
const COMMON_Q_SELECT: usize = 0x16;
const COMMON_Q_SIZE: usize = 0x18;
const COMMON_Q_ENABLE: usize = 0x1c;
const COMMON_Q_NOFF: usize = 0x1e;
const COMMON_Q_DESCLO: usize = 0x20;
const COMMON_Q_DESCHI: usize = 0x24;
const COMMON_Q_AVAILLO: usize = 0x28;
const COMMON_Q_AVAILHI: usize = 0x2c;
const COMMON_Q_USEDLO: usize = 0x30;
const COMMON_Q_USEDHI: usize = 0x34;
/// Fields up to and including `queue_device` (virtio 1.0 layout).
const COMMON_MIN_LEN: u32 = 0x38;

/// Access to the configuration space of one PCI function.
///
/// The firmware implements it with port I/O (CF8/CFC) or ECAM for the
/// bus/device/function it found.
pub trait PciConfig {
    /// Reads the 32-bit dword at `offset` (a multiple of 4).
    fn read_u32(&mut self, offset: u8) -> u32;
    /// Writes the 32-bit dword at `offset` (a multiple of 4).
    fn write_u32(&mut self, offset: u8, value: u32);
}

impl<C: PciConfig + ?Sized> PciConfig for &mut C {
    fn read_u32(&mut self, offset: u8) -> u32 {
        (**self).read_u32(offset)
    }
    fn write_u32(&mut self, offset: u8, value: u32) {
        (**self).write_u32(offset, value)
    }
}

/// Which virtio structure a [`PciRegion`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciCapKind {
    /// Common configuration (§4.1.4.3).
    Common,
    /// Queue notification area (§4.1.4.4).
    Notify,
    /// ISR status byte (§4.1.4.5).
    Isr,
    /// Device-specific configuration (§4.1.4.6).
    Device,
}

/// A virtio structure inside a memory BAR, as found by the capability walk.
/// The mapping callback of [`PciTransport::new`] turns it into registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciRegion {
    /// What the region holds.
    pub kind: PciCapKind,
    /// BAR index (0..=5).
    pub bar: u8,
    /// Decoded base address of the BAR.
    pub bar_address: u64,
    /// Offset of the structure within the BAR.
    pub offset: u32,
    /// Length of the structure in bytes.
    pub length: u32,
}

impl PciRegion {
    /// Address of the structure (`bar_address + offset`), if it does not
    /// overflow, and if the end of the structure does not either.
    pub fn address(&self) -> Option<u64> {
        let start = self.bar_address.checked_add(u64::from(self.offset))?;
        start.checked_add(u64::from(self.length))?;
        Some(start)
    }
}

/// Decodes memory BAR `index` (0..=5) of a type-0 function: 32-bit or
/// 64-bit, address possibly above 4 GiB. I/O BARs, reserved types, a 64-bit
/// BAR in slot 5 and unassigned BARs (address 0) are
/// [`Error::PciBarUnusable`].
pub fn read_bar<C: PciConfig + ?Sized>(config: &mut C, index: u8) -> Result<u64, Error> {
    if index > 5 {
        return Err(Error::PciBarUnusable(index));
    }
    let lo = config.read_u32(CFG_BAR0 + 4 * index);
    if lo & 1 != 0 {
        return Err(Error::PciBarUnusable(index));
    }
    let base = u64::from(lo & !0xf);
    let address = match (lo >> 1) & 3 {
        0 => base,
        2 if index < 5 => base | (u64::from(config.read_u32(CFG_BAR0 + 4 * (index + 1))) << 32),
        _ => return Err(Error::PciBarUnusable(index)),
    };
    if address == 0 {
        return Err(Error::PciBarUnusable(index));
    }
    Ok(address)
}

/// The device type a virtio PCI device id stands for, if this crate knows
/// it.
fn device_type_of(device_id: u16) -> Option<u32> {
    if (MODERN_ID_BASE..=MODERN_ID_LAST).contains(&device_id) {
        return Some(u32::from(device_id - MODERN_ID_BASE));
    }
    TRANSITIONAL_IDS.iter().find(|(id, _)| *id == device_id).map(|&(_, t)| t)
}

/// One `struct virtio_pci_cap` found in configuration space.
#[derive(Debug, Clone, Copy)]
struct VirtioCap {
    bar: u8,
    offset: u32,
    length: u32,
}

/// The virtio capabilities of a function (the first usable one of each
/// type, as §4.1.4 asks).
#[derive(Debug, Default)]
struct Caps {
    common: Option<VirtioCap>,
    notify: Option<(VirtioCap, u32)>,
    isr: Option<VirtioCap>,
    device: Option<VirtioCap>,
}

fn walk_capabilities<C: PciConfig + ?Sized>(config: &mut C) -> Result<Caps, Error> {
    let mut caps = Caps::default();
    if (config.read_u32(CFG_COMMAND_STATUS) >> 16) & STATUS_CAP_LIST == 0 {
        return Ok(caps);
    }
    // One bit per dword of configuration space; a capability list can
    // visit each dword at most once, so the walk ends after ≤ 48 steps.
    let mut visited = [false; 64];
    // The bottom two bits of capability pointers are reserved (PCI 3.0
    // §6.7) and must be masked.
    let mut ptr = (config.read_u32(CFG_CAP_PTR) & 0xfc) as u8;
    while ptr != 0 {
        if u16::from(ptr) < CAP_AREA_START {
            return Err(Error::PciCapabilityOutOfRange(ptr));
        }
        // A u8 pointer over 4 is at most 63: every dword has its slot.
        match visited.get_mut(usize::from(ptr / 4)) {
            Some(seen) if !*seen => *seen = true,
            _ => return Err(Error::PciCapabilityLoop(ptr)),
        }

        let header = config.read_u32(ptr);
        let [id, next, cap_len, cfg_type] = header.to_le_bytes();
        if id == CAP_ID_VENDOR && cap_len >= VIRTIO_CAP_LEN {
            if u16::from(ptr) + u16::from(cap_len) > CAP_AREA_END {
                return Err(Error::PciCapabilityOutOfRange(ptr));
            }
            // `ptr + cap_len <= 0x100` with `cap_len >= 16` keeps these
            // offsets below 0x100.
            let bar = config.read_u32(ptr + 4) as u8;
            let cap = VirtioCap {
                bar,
                offset: config.read_u32(ptr + 8),
                length: config.read_u32(ptr + 12),
            };
            // §4.1.4: BAR values above 5 are reserved; drivers ignore such
            // capabilities.
            if bar <= 5 {
                match cfg_type {
                    CFG_TYPE_COMMON if caps.common.is_none() => caps.common = Some(cap),
                    CFG_TYPE_NOTIFY
                        if caps.notify.is_none() && cap_len >= VIRTIO_NOTIFY_CAP_LEN =>
                    {
                        caps.notify = Some((cap, config.read_u32(ptr + 16)));
                    }
                    CFG_TYPE_ISR if caps.isr.is_none() => caps.isr = Some(cap),
                    CFG_TYPE_DEVICE if caps.device.is_none() => caps.device = Some(cap),
                    _ => {}
                }
            }
        }
        ptr = next & 0xfc;
    }
    Ok(caps)
}

/// A virtio device on PCI, driven through its modern capabilities.
#[derive(Debug)]
pub struct PciTransport<R: RegisterAccess> {
    device_type: u32,
    common: R,
    notify: R,
    notify_len: u32,
    notify_off_multiplier: u32,
    isr: R,
    device: Option<(R, u32)>,
}

impl<R: RegisterAccess> PciTransport<R> {
    /// Finds the virtio structures of the function behind `config` and maps
    /// them with `map`.
    ///
    /// Accepts vendor 0x1af4 with a modern device id (0x1040..=0x107f, e.g.
    /// [`PCI_DEVICE_ID_BLK_MODERN`]) or a transitional one (e.g.
    /// [`PCI_DEVICE_ID_BLK_TRANSITIONAL`]). `map` receives each region
    /// (common, notify, ISR and, if present, device configuration) and
    /// returns its registers, or `None` if the address is not in a window
    /// the firmware has mapped as device memory. Also enables memory
    /// decoding and bus mastering in the command register, which the device
    /// needs to be reached and to do DMA.
    pub fn new<C, F>(config: &mut C, mut map: F) -> Result<Self, Error>
    where
        C: PciConfig + ?Sized,
        F: FnMut(&PciRegion) -> Option<R>,
    {
        let id = config.read_u32(CFG_ID);
        let (vendor, device) = (id as u16, (id >> 16) as u16);
        let device_type = match device_type_of(device) {
            Some(t) if vendor == PCI_VENDOR_ID_VIRTIO => t,
            _ => return Err(Error::UnsupportedPciDevice { vendor, device }),
        };
        let header_type = ((config.read_u32(CFG_HEADER_TYPE_DWORD) >> 16) & 0x7f) as u8;
        if header_type != 0 {
            return Err(Error::PciHeaderType(header_type));
        }

        let caps = walk_capabilities(config)?;
        let common = caps
            .common
            .filter(|c| c.length >= COMMON_MIN_LEN)
            .ok_or(Error::PciCapabilityMissing(CFG_TYPE_COMMON))?;
        let (notify, notify_off_multiplier) = caps
            .notify
            .filter(|(c, _)| c.length >= 2)
            .ok_or(Error::PciCapabilityMissing(CFG_TYPE_NOTIFY))?;
        let isr =
            caps.isr.filter(|c| c.length >= 1).ok_or(Error::PciCapabilityMissing(CFG_TYPE_ISR))?;

        let mut map_cap = |kind: PciCapKind, cap: &VirtioCap| -> Result<R, Error> {
            let region = PciRegion {
                kind,
                bar: cap.bar,
                bar_address: read_bar(config, cap.bar)?,
                offset: cap.offset,
                length: cap.length,
            };
            if region.address().is_none() {
                return Err(Error::PciRegionOutOfRange);
            }
            map(&region).ok_or(Error::MapFailed)
        };
        let common_regs = map_cap(PciCapKind::Common, &common)?;
        let notify_regs = map_cap(PciCapKind::Notify, &notify)?;
        let isr_regs = map_cap(PciCapKind::Isr, &isr)?;
        let device_regs = match caps.device {
            Some(cap) => Some((map_cap(PciCapKind::Device, &cap)?, cap.length)),
            None => None,
        };

        // Enable memory decoding and bus mastering. The upper half of the
        // dword is the status register, whose bits are read-only or
        // write-one-to-clear: writing zeros there changes nothing.
        let command = config.read_u32(CFG_COMMAND_STATUS) & 0xffff;
        config.write_u32(CFG_COMMAND_STATUS, command | COMMAND_MEMORY | COMMAND_BUS_MASTER);

        Ok(Self {
            device_type,
            common: common_regs,
            notify: notify_regs,
            notify_len: notify.length,
            notify_off_multiplier,
            isr: isr_regs,
            device: device_regs,
        })
    }

    fn device_offset(&self, offset: u32, width: u32) -> Result<usize, Error> {
        let len = self.device.as_ref().map_or(0, |(_, len)| *len);
        match offset.checked_add(width) {
            Some(end) if end <= len && offset.is_multiple_of(width) => Ok(offset as usize),
            _ => Err(Error::ConfigOutOfRange(offset)),
        }
    }
}

impl<R: RegisterAccess> Transport for PciTransport<R> {
    fn device_type(&mut self) -> u32 {
        self.device_type
    }

    fn is_legacy(&self) -> bool {
        false
    }

    fn status(&mut self) -> u8 {
        self.common.read_u8(COMMON_STATUS)
    }

    fn set_status(&mut self, status: u8) {
        self.common.write_u8(COMMON_STATUS, status);
    }

    fn device_features(&mut self) -> u64 {
        self.common.write_u32(COMMON_DFSELECT, 0);
        let lo = self.common.read_u32(COMMON_DF);
        self.common.write_u32(COMMON_DFSELECT, 1);
        let hi = self.common.read_u32(COMMON_DF);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    fn set_driver_features(&mut self, features: u64) {
        self.common.write_u32(COMMON_GFSELECT, 0);
        self.common.write_u32(COMMON_GF, features as u32);
        self.common.write_u32(COMMON_GFSELECT, 1);
        self.common.write_u32(COMMON_GF, (features >> 32) as u32);
    }

    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error> {
        self.common.write_u16(COMMON_Q_SELECT, queue);
        if self.common.read_u16(COMMON_Q_ENABLE) != 0 {
            return Err(Error::QueueUnavailable(queue));
        }
        Ok(u32::from(self.common.read_u16(COMMON_Q_SIZE)))
    }

    fn enable_queue(&mut self, queue: u16, layout: &QueueLayout) -> Result<u32, Error> {
        self.common.write_u16(COMMON_Q_SELECT, queue);
        // The queue's notification address, checked against the notify
        // region before the queue goes live (§4.1.4.4).
        let notify_off = u64::from(self.common.read_u16(COMMON_Q_NOFF));
        let byte_off = notify_off * u64::from(self.notify_off_multiplier);
        let token = match u32::try_from(byte_off) {
            Ok(off) if off.checked_add(2).is_some_and(|end| end <= self.notify_len) => off,
            _ => return Err(Error::PciRegionOutOfRange),
        };
        let c = &mut self.common;
        c.write_u16(COMMON_Q_SIZE, layout.size);
        c.write_u32(COMMON_Q_DESCLO, layout.desc as u32);
        c.write_u32(COMMON_Q_DESCHI, (layout.desc >> 32) as u32);
        c.write_u32(COMMON_Q_AVAILLO, layout.driver as u32);
        c.write_u32(COMMON_Q_AVAILHI, (layout.driver >> 32) as u32);
        c.write_u32(COMMON_Q_USEDLO, layout.device as u32);
        c.write_u32(COMMON_Q_USEDHI, (layout.device >> 32) as u32);
        c.write_u16(COMMON_Q_ENABLE, 1);
        Ok(token)
    }

    fn notify(&mut self, queue: u16, token: u32) {
        // Without VIRTIO_F_NOTIFICATION_DATA the notification carries the
        // queue index (§4.1.5.2).
        self.notify.write_u16(token as usize, queue);
    }

    fn config_generation(&mut self) -> u32 {
        u32::from(self.common.read_u8(COMMON_CFGGENERATION))
    }

    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error> {
        let at = self.device_offset(offset, 1)?;
        match &mut self.device {
            Some((r, _)) => Ok(r.read_u8(at)),
            None => Err(Error::ConfigOutOfRange(offset)),
        }
    }

    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error> {
        let at = self.device_offset(offset, 2)?;
        match &mut self.device {
            Some((r, _)) => Ok(r.read_u16(at)),
            None => Err(Error::ConfigOutOfRange(offset)),
        }
    }

    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error> {
        let at = self.device_offset(offset, 4)?;
        match &mut self.device {
            Some((r, _)) => Ok(r.read_u32(at)),
            None => Err(Error::ConfigOutOfRange(offset)),
        }
    }

    fn read_isr(&mut self) -> u8 {
        self.isr.read_u8(0)
    }
}
