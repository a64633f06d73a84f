//! The transport abstraction (virtio 1.2 §4): how a driver reaches a
//! device's status, features, queues, notifications and configuration,
//! whatever bus the device sits on.
//!
//! The provided methods of [`Transport`] implement the generic parts of
//! device initialisation (§3.1.1) and reset (§2.4), so every transport and
//! driver performs them the same way: reset and wait for the device to read
//! back 0, ACKNOWLEDGE, DRIVER, feature negotiation with a FEATURES_OK
//! read-back (skipped for legacy devices, §3.1.2), and DRIVER_OK.

pub mod mmio;
pub mod pci;

use crate::Error;

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest knows how to drive the device.
    pub const DRIVER: u8 = 2;
    /// The driver is ready; the device may be used.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u8 = 128;
}

/// Device-independent feature bits (virtio 1.2 §6).
pub mod features {
    /// Descriptors may point to indirect tables (§2.7.5.3).
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    /// used_event / avail_event suppression (§2.7.7).
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// The device conforms to virtio 1.0 or later (not legacy).
    pub const VERSION_1: u64 = 1 << 32;
    /// The device sits behind a platform IOMMU or similar.
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
}

/// Bounded number of attempts to read a configuration field consistently
/// (§2.5.1): a device that keeps bumping its generation is broken.
const CONFIG_READ_ATTEMPTS: u32 = 16;

/// Where a queue's three parts live, as handed to
/// [`Transport::enable_queue`].
///
/// The addresses always follow the legacy contiguous layout (descriptor
/// table, available ring, used ring at the next [`crate::PAGE_SIZE`]
/// boundary) so that legacy transports, which only take one page number,
/// can use them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLayout {
    /// Number of entries (a power of two).
    pub size: u16,
    /// Address of the descriptor table.
    pub desc: u64,
    /// Address of the available ring (the driver area).
    pub driver: u64,
    /// Address of the used ring (the device area).
    pub device: u64,
}

/// A virtio transport (virtio 1.2 §4): the register interface of one
/// device.
///
/// Implementations only move values to and from registers; the sequencing
/// (reset, negotiation, DRIVER_OK) lives in the provided methods. Those
/// are for sized transports only (`Self: Sized`), which keeps them out of
/// `dyn Transport` vtables: a firmware that boxes its transports (one
/// block driver for all of them) would otherwise carry a copy of each per
/// transport type that nothing calls.
pub trait Transport {
    /// The virtio device type (§5: 2 = block).
    fn device_type(&mut self) -> u32;

    /// Whether the device only speaks the legacy interface (virtio-mmio
    /// version 1): no FEATURES_OK step, no VERSION_1, page-number queue
    /// addresses.
    fn is_legacy(&self) -> bool;

    /// Reads the device status byte.
    fn status(&mut self) -> u8;

    /// Writes the device status byte (0 resets the device).
    fn set_status(&mut self, status: u8);

    /// Reads all 64 device feature bits (through the feature selector).
    fn device_features(&mut self) -> u64;

    /// Writes the 64 driver feature bits (through the feature selector).
    fn set_driver_features(&mut self, features: u64);

    /// Selects `queue` and returns the largest size the device supports
    /// for it (0 if the queue does not exist).
    ///
    /// Fails with [`Error::QueueUnavailable`] if the queue is already live.
    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error>;

    /// Selects `queue`, programs its size and addresses and enables it.
    ///
    /// Returns a token that [`Transport::notify`] takes for this queue (for
    /// PCI, the precomputed notify offset, so that a notification costs one
    /// register write).
    fn enable_queue(&mut self, queue: u16, layout: &QueueLayout) -> Result<u32, Error>;

    /// Tells the device that `queue` has new available buffers. `token` is
    /// what [`Transport::enable_queue`] returned for the queue.
    fn notify(&mut self, queue: u16, token: u32);

    /// The configuration generation counter (0 where there is none).
    fn config_generation(&mut self) -> u32;

    /// Reads a byte of device-specific configuration.
    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error>;

    /// Reads a 16-bit field of device-specific configuration.
    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error>;

    /// Reads a 32-bit field of device-specific configuration.
    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error>;

    /// Reads (and thereby acknowledges) the ISR status.
    fn read_isr(&mut self) -> u8;

    /// Reads a 64-bit configuration field as two 32-bit halves, retrying
    /// while the configuration generation changes (§2.5.1, §4.2.2.2).
    fn read_config_u64(&mut self, offset: u32) -> Result<u64, Error>
    where
        Self: Sized,
    {
        let hi_offset = offset.checked_add(4).ok_or(Error::ConfigOutOfRange(offset))?;
        for _ in 0..CONFIG_READ_ATTEMPTS {
            let before = self.config_generation();
            let lo = self.read_config_u32(offset)?;
            let hi = self.read_config_u32(hi_offset)?;
            if self.config_generation() == before {
                return Ok(u64::from(lo) | (u64::from(hi) << 32));
            }
        }
        Err(Error::ConfigUnstable)
    }

    /// Resets the device (§2.4) and waits, at most `spin_limit` status
    /// reads, for it to read back 0.
    ///
    /// Afterwards the device has forgotten features and queues and will not
    /// touch guest memory, so the memory can be reused and another driver
    /// (the OS) can probe it fresh.
    ///
    /// A device that still shows FAILED after a few reads did not take the
    /// reset at all ([`Error::ResetRefused`]); one that shows anything else
    /// may just be slow ([`Error::NotResponding`] at the spin limit).
    fn reset(&mut self, spin_limit: u32) -> Result<(), Error>
    where
        Self: Sized,
    {
        /// Reads after which FAILED still showing means a refusal: a device
        /// resets at the write in every VMM seen, and each read is a VM
        /// exit (Firecracker 1.16 took seconds over the whole spin limit).
        const FAILED_READS: u32 = 64;
        self.set_status(0);
        let mut last = 0;
        for i in 0..=spin_limit {
            last = self.status();
            if last == 0 {
                return Ok(());
            }
            if last & status::FAILED != 0 && i >= FAILED_READS {
                return Err(Error::ResetRefused);
            }
            core::hint::spin_loop();
        }
        if last & status::FAILED != 0 {
            Err(Error::ResetRefused)
        } else {
            Err(Error::NotResponding)
        }
    }

    /// After a reset, checks that the device can be initialised again, as
    /// the OS's driver will: sets ACKNOWLEDGE, reads it back, and resets the
    /// device again. Some VMMs read back 0 after the reset of an active
    /// device without performing it and then refuse every status change
    /// ([`Error::ReinitRefused`]); better to say so than to let the OS
    /// fail to find its disk without a word. Costs three register accesses.
    fn check_reinit(&mut self, spin_limit: u32) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.set_status(status::ACKNOWLEDGE);
        let took = self.status() == status::ACKNOWLEDGE;
        self.reset(spin_limit)?;
        if took {
            Ok(())
        } else {
            Err(Error::ReinitRefused)
        }
    }

    /// Marks the device FAILED (§3.1.1): the driver gives up on it.
    fn fail(&mut self)
    where
        Self: Sized,
    {
        let s = self.status();
        self.set_status(s | status::FAILED);
    }

    /// Steps 1–6 of device initialisation (§3.1.1): reset, ACKNOWLEDGE,
    /// DRIVER, offer the device's features intersected with `supported`,
    /// and (non-legacy) confirm FEATURES_OK.
    ///
    /// Non-legacy devices must offer VERSION_1; `required` names further
    /// features without which the driver cannot work. Returns the
    /// negotiated features. On a refused negotiation the device is marked
    /// FAILED.
    fn negotiate(&mut self, supported: u64, required: u64, spin_limit: u32) -> Result<u64, Error>
    where
        Self: Sized,
    {
        self.reset(spin_limit)?;
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);

        let legacy = self.is_legacy();
        let offered = self.device_features();
        let (supported, required) = if legacy {
            // Legacy devices have 32 feature bits and no VERSION_1.
            (supported & 0xffff_ffff & !features::VERSION_1, required & !features::VERSION_1)
        } else {
            (supported | features::VERSION_1, required | features::VERSION_1)
        };
        let missing = required & !offered;
        if missing != 0 {
            self.fail();
            return Err(Error::MissingFeatures(missing));
        }
        let negotiated = offered & supported;
        self.set_driver_features(negotiated);

        if !legacy {
            self.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
            if self.status() & status::FEATURES_OK == 0 {
                self.fail();
                return Err(Error::FeaturesRejected);
            }
        }
        Ok(negotiated)
    }

    /// Step 8 of initialisation: sets DRIVER_OK and checks that the device
    /// accepted it.
    fn driver_ok(&mut self) -> Result<(), Error>
    where
        Self: Sized,
    {
        let s = self.status();
        self.set_status(s | status::DRIVER_OK);
        let s = self.status();
        if s & (status::DEVICE_NEEDS_RESET | status::FAILED) != 0 || s & status::DRIVER_OK == 0 {
            return Err(Error::DeviceFailed(s));
        }
        Ok(())
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn device_type(&mut self) -> u32 {
        (**self).device_type()
    }
    fn is_legacy(&self) -> bool {
        (**self).is_legacy()
    }
    fn status(&mut self) -> u8 {
        (**self).status()
    }
    fn set_status(&mut self, status: u8) {
        (**self).set_status(status)
    }
    fn device_features(&mut self) -> u64 {
        (**self).device_features()
    }
    fn set_driver_features(&mut self, features: u64) {
        (**self).set_driver_features(features)
    }
    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error> {
        (**self).queue_max_size(queue)
    }
    fn enable_queue(&mut self, queue: u16, layout: &QueueLayout) -> Result<u32, Error> {
        (**self).enable_queue(queue, layout)
    }
    fn notify(&mut self, queue: u16, token: u32) {
        (**self).notify(queue, token)
    }
    fn config_generation(&mut self) -> u32 {
        (**self).config_generation()
    }
    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error> {
        (**self).read_config_u8(offset)
    }
    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error> {
        (**self).read_config_u16(offset)
    }
    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error> {
        (**self).read_config_u32(offset)
    }
    fn read_isr(&mut self) -> u8 {
        (**self).read_isr()
    }
}
