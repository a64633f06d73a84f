//! virtio over MMIO (virtio 1.2 §4.2): version 2 (§4.2.2) and the legacy
//! version 1 register layout (§4.2.4).
//!
//! Differences handled here for version 1: the driver writes
//! GuestPageSize once before configuring queues, and describes each queue
//! by QueueAlign and a page frame number (QueuePFN) of one contiguous
//! allocation instead of three 64-bit addresses and QueueReady. Legacy
//! devices have no FEATURES_OK step and no configuration generation; those
//! differences are reported through [`Transport::is_legacy`] and handled by
//! the generic initialisation code.

use super::{QueueLayout, Transport};
use crate::{Error, RegisterAccess, PAGE_SIZE};

/// "virt" in little-endian, the first register of every virtio-mmio window.
const MAGIC: u32 = 0x7472_6976;

const REG_MAGIC: usize = 0x000;
const REG_VERSION: usize = 0x004;
const REG_DEVICE_ID: usize = 0x008;
const REG_DEVICE_FEATURES: usize = 0x010;
const REG_DEVICE_FEATURES_SEL: usize = 0x014;
const REG_DRIVER_FEATURES: usize = 0x020;
const REG_DRIVER_FEATURES_SEL: usize = 0x024;
/// Legacy only.
const REG_GUEST_PAGE_SIZE: usize = 0x028;
const REG_QUEUE_SEL: usize = 0x030;
const REG_QUEUE_NUM_MAX: usize = 0x034;
const REG_QUEUE_NUM: usize = 0x038;
/// Legacy only.
const REG_QUEUE_ALIGN: usize = 0x03c;
/// Legacy only.
const REG_QUEUE_PFN: usize = 0x040;
const REG_QUEUE_READY: usize = 0x044;
const REG_QUEUE_NOTIFY: usize = 0x050;
const REG_INTERRUPT_STATUS: usize = 0x060;
const REG_INTERRUPT_ACK: usize = 0x064;
const REG_STATUS: usize = 0x070;
const REG_QUEUE_DESC_LOW: usize = 0x080;
const REG_QUEUE_DESC_HIGH: usize = 0x084;
const REG_QUEUE_DRIVER_LOW: usize = 0x090;
const REG_QUEUE_DRIVER_HIGH: usize = 0x094;
const REG_QUEUE_DEVICE_LOW: usize = 0x0a0;
const REG_QUEUE_DEVICE_HIGH: usize = 0x0a4;
const REG_CONFIG_GENERATION: usize = 0x0fc;
const REG_CONFIG: usize = 0x100;

/// Bytes of device configuration this transport will read. The smallest
/// windows in use (QEMU's) are 0x200 bytes, leaving 0x100 for
/// configuration; virtio-blk needs 60.
const CONFIG_LEN: u32 = 0x100;

/// Which virtio-mmio register layout a device uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioVersion {
    /// Version 1, the legacy interface (§4.2.4).
    Legacy,
    /// Version 2 (§4.2.2).
    Modern,
}

/// A virtio-mmio device.
#[derive(Debug)]
pub struct MmioTransport<R: RegisterAccess> {
    regs: R,
    version: MmioVersion,
    device_type: u32,
}

impl<R: RegisterAccess> MmioTransport<R> {
    /// Checks the magic value, version and device id of the window behind
    /// `regs`.
    ///
    /// Fails with [`Error::NoDevice`] for an empty slot (device id 0), which
    /// VMMs leave for hot-plug.
    pub fn new(mut regs: R) -> Result<Self, Error> {
        let magic = regs.read_u32(REG_MAGIC);
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let version = match regs.read_u32(REG_VERSION) {
            1 => MmioVersion::Legacy,
            2 => MmioVersion::Modern,
            v => return Err(Error::UnsupportedMmioVersion(v)),
        };
        let device_type = regs.read_u32(REG_DEVICE_ID);
        if device_type == 0 {
            return Err(Error::NoDevice);
        }
        Ok(Self { regs, version, device_type })
    }

    /// The register layout version of the device.
    pub fn version(&self) -> MmioVersion {
        self.version
    }

    /// Gives back the register window.
    pub fn into_inner(self) -> R {
        self.regs
    }

    fn config_offset(offset: u32, width: u32) -> Result<usize, Error> {
        match offset.checked_add(width) {
            Some(end) if end <= CONFIG_LEN => Ok(REG_CONFIG + offset as usize),
            _ => Err(Error::ConfigOutOfRange(offset)),
        }
    }

    fn enable_legacy(&mut self, layout: &QueueLayout) -> Result<(), Error> {
        // The legacy device derives the ring addresses from the page number
        // and QueueAlign, so the layout must be exactly the one it computes.
        let size = u64::from(layout.size);
        let page = PAGE_SIZE as u64;
        let expected_driver = layout.desc.checked_add(16 * size);
        let expected_device = expected_driver
            .and_then(|d| d.checked_add(6 + 2 * size))
            .and_then(|e| e.checked_next_multiple_of(page));
        let pfn = layout.desc / page;
        if !layout.desc.is_multiple_of(page)
            || expected_driver != Some(layout.driver)
            || expected_device != Some(layout.device)
        {
            return Err(Error::AddressNotRepresentable(layout.desc));
        }
        let pfn = u32::try_from(pfn).map_err(|_| Error::AddressNotRepresentable(layout.desc))?;
        self.regs.write_u32(REG_QUEUE_NUM, u32::from(layout.size));
        self.regs.write_u32(REG_QUEUE_ALIGN, PAGE_SIZE as u32);
        self.regs.write_u32(REG_QUEUE_PFN, pfn);
        Ok(())
    }

    fn enable_modern(&mut self, layout: &QueueLayout) {
        let r = &mut self.regs;
        r.write_u32(REG_QUEUE_NUM, u32::from(layout.size));
        r.write_u32(REG_QUEUE_DESC_LOW, layout.desc as u32);
        r.write_u32(REG_QUEUE_DESC_HIGH, (layout.desc >> 32) as u32);
        r.write_u32(REG_QUEUE_DRIVER_LOW, layout.driver as u32);
        r.write_u32(REG_QUEUE_DRIVER_HIGH, (layout.driver >> 32) as u32);
        r.write_u32(REG_QUEUE_DEVICE_LOW, layout.device as u32);
        r.write_u32(REG_QUEUE_DEVICE_HIGH, (layout.device >> 32) as u32);
        r.write_u32(REG_QUEUE_READY, 1);
    }
}

impl<R: RegisterAccess> Transport for MmioTransport<R> {
    fn device_type(&mut self) -> u32 {
        self.device_type
    }

    fn is_legacy(&self) -> bool {
        self.version == MmioVersion::Legacy
    }

    fn status(&mut self) -> u8 {
        // The register is 32 bits wide; only the low byte is defined.
        self.regs.read_u32(REG_STATUS) as u8
    }

    fn set_status(&mut self, status: u8) {
        self.regs.write_u32(REG_STATUS, u32::from(status));
    }

    fn device_features(&mut self) -> u64 {
        self.regs.write_u32(REG_DEVICE_FEATURES_SEL, 0);
        let lo = self.regs.read_u32(REG_DEVICE_FEATURES);
        self.regs.write_u32(REG_DEVICE_FEATURES_SEL, 1);
        let hi = self.regs.read_u32(REG_DEVICE_FEATURES);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    fn set_driver_features(&mut self, features: u64) {
        self.regs.write_u32(REG_DRIVER_FEATURES_SEL, 0);
        self.regs.write_u32(REG_DRIVER_FEATURES, features as u32);
        self.regs.write_u32(REG_DRIVER_FEATURES_SEL, 1);
        self.regs.write_u32(REG_DRIVER_FEATURES, (features >> 32) as u32);
    }

    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error> {
        self.regs.write_u32(REG_QUEUE_SEL, u32::from(queue));
        let live = match self.version {
            MmioVersion::Legacy => self.regs.read_u32(REG_QUEUE_PFN) != 0,
            MmioVersion::Modern => self.regs.read_u32(REG_QUEUE_READY) != 0,
        };
        if live {
            return Err(Error::QueueUnavailable(queue));
        }
        Ok(self.regs.read_u32(REG_QUEUE_NUM_MAX))
    }

    fn enable_queue(&mut self, queue: u16, layout: &QueueLayout) -> Result<u32, Error> {
        if self.version == MmioVersion::Legacy {
            // §4.2.4: the page size must be known before a queue's page
            // number is written.
            self.regs.write_u32(REG_GUEST_PAGE_SIZE, PAGE_SIZE as u32);
        }
        self.regs.write_u32(REG_QUEUE_SEL, u32::from(queue));
        match self.version {
            MmioVersion::Legacy => self.enable_legacy(layout)?,
            MmioVersion::Modern => self.enable_modern(layout),
        }
        Ok(0)
    }

    fn notify(&mut self, queue: u16, _token: u32) {
        self.regs.write_u32(REG_QUEUE_NOTIFY, u32::from(queue));
    }

    fn config_generation(&mut self) -> u32 {
        match self.version {
            MmioVersion::Legacy => 0,
            MmioVersion::Modern => self.regs.read_u32(REG_CONFIG_GENERATION),
        }
    }

    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error> {
        let at = Self::config_offset(offset, 1)?;
        Ok(self.regs.read_u8(at))
    }

    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error> {
        if !offset.is_multiple_of(2) {
            return Err(Error::ConfigOutOfRange(offset));
        }
        let at = Self::config_offset(offset, 2)?;
        Ok(self.regs.read_u16(at))
    }

    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error> {
        if !offset.is_multiple_of(4) {
            return Err(Error::ConfigOutOfRange(offset));
        }
        let at = Self::config_offset(offset, 4)?;
        Ok(self.regs.read_u32(at))
    }

    fn read_isr(&mut self) -> u8 {
        let isr = self.regs.read_u32(REG_INTERRUPT_STATUS);
        if isr != 0 {
            self.regs.write_u32(REG_INTERRUPT_ACK, isr);
        }
        isr as u8
    }
}
