//! virtio for vmfw: transports, the split virtqueue and a polling virtio-blk
//! driver, after the virtio 1.2 specification (OASIS, 2022).
//!
//! * [`Transport`] (virtio 1.2 §4) abstracts the register interface; it is
//!   implemented by [`MmioTransport`] (§4.2, version 2 and legacy version 1)
//!   and [`PciTransport`] (§4.1, modern capabilities). Both reach their
//!   registers through [`RegisterAccess`], so tests can replace the hardware.
//! * [`VirtQueue`] is a split virtqueue (§2.7) in memory from a [`Dma`]
//!   allocator.
//! * [`VirtioBlk`] (§5.2) drives a block device through any transport and
//!   implements [`vmfw_block::BlockIo`].
//!
//! Invariants the whole crate relies on:
//!
//! * The firmware is identity-mapped: a pointer's address is its physical
//!   address and the address a device uses for DMA. Buffers handed to the
//!   device are therefore described by their address.
//! * Single-threaded, interrupts off: drivers poll the used ring in memory,
//!   with a caller-supplied spin limit, and never wait forever.
//! * Every value read from a device (queue size, capacity, limits, used
//!   ring entries, capability offsets) is checked before use; a bad value
//!   becomes an [`Error`], never a panic.
//! * Only little-endian CPUs are supported (x86_64, aarch64): modern virtio
//!   is little-endian, and legacy devices use the guest's byte order, which
//!   is then the same.
#![cfg_attr(not(test), no_std)]

mod blk;
mod dma;
mod queue;
mod regs;
mod transport;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests;

pub use blk::{BlkOptions, Stats, VirtioBlk};
pub use dma::{Dma, PAGE_SIZE};
pub use queue::{Segment, UsedElem, VirtQueue, QUEUE_SIZE_LIMIT};
pub use regs::{MmioRegion, RegisterAccess};
pub use transport::mmio::{MmioTransport, MmioVersion};
pub use transport::pci::{
    read_bar, PciCapKind, PciConfig, PciRegion, PciTransport, PCI_DEVICE_ID_BLK_MODERN,
    PCI_DEVICE_ID_BLK_TRANSITIONAL, PCI_VENDOR_ID_VIRTIO,
};
pub use transport::{features, status, QueueLayout, Transport};

/// virtio device type of a block device (virtio 1.2 §5).
pub const DEVICE_TYPE_BLOCK: u32 = 2;

/// Everything that can go wrong while finding, initialising or driving a
/// virtio device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The MMIO window does not start with the magic value "virt".
    BadMagic(u32),
    /// The MMIO version register holds neither 1 (legacy) nor 2.
    UnsupportedMmioVersion(u32),
    /// The MMIO window is a placeholder without a device (device id 0).
    NoDevice,
    /// The device is not of the type the driver drives.
    WrongDeviceType {
        /// Device type the driver wants.
        expected: u32,
        /// Device type found.
        found: u32,
    },
    /// The PCI function is not a virtio device this crate drives.
    UnsupportedPciDevice {
        /// PCI vendor id.
        vendor: u16,
        /// PCI device id.
        device: u16,
    },
    /// The PCI function has a header type without BARs (not an endpoint).
    PciHeaderType(u8),
    /// The PCI capability list visits the same offset twice.
    PciCapabilityLoop(u8),
    /// A PCI capability pointer or a capability's body lies outside the
    /// capability area (0x40..0x100) of configuration space.
    PciCapabilityOutOfRange(u8),
    /// A required virtio PCI capability (its `cfg_type`) is missing or
    /// too short.
    PciCapabilityMissing(u8),
    /// A BAR needed by a capability is an I/O BAR, a reserved type, a 64-bit
    /// BAR in the last slot, or unassigned (address 0).
    PciBarUnusable(u8),
    /// A capability's region (offset + length) does not fit its BAR, or a
    /// queue's notify address lies outside the notify region.
    PciRegionOutOfRange,
    /// The firmware could not map a register region.
    MapFailed,
    /// The device does not offer a feature the driver requires (bit mask).
    MissingFeatures(u64),
    /// The device did not keep FEATURES_OK set: it refused the features.
    FeaturesRejected,
    /// The device set DEVICE_NEEDS_RESET or refused DRIVER_OK.
    DeviceFailed(u8),
    /// The queue does not exist (maximum size 0) or is already in use.
    QueueUnavailable(u16),
    /// The queue is too small for the driver (needs at least 4 entries).
    QueueTooSmall(u32),
    /// A queue address cannot be expressed to the device (legacy PFN above
    /// 32 bits, or not page-aligned) or does not fit this CPU's addresses.
    AddressNotRepresentable(u64),
    /// The DMA allocator returned nothing, or memory that is not
    /// page-aligned.
    DmaAllocFailed,
    /// A device-configuration read lies outside the device's configuration
    /// structure.
    ConfigOutOfRange(u32),
    /// The device configuration kept changing while it was read (the
    /// generation counter never settled).
    ConfigUnstable,
    /// The device reports a logical block size this driver cannot use.
    InvalidBlockSize(u32),
    /// The device's segment limits are too small for one logical block.
    DeviceLimits,
    /// The device did not complete a request, or did not acknowledge a
    /// reset, within the spin limit.
    NotResponding,
    /// Not enough free descriptors for the chain.
    QueueFull,
    /// The device put an entry in the used ring that does not name a chain
    /// in flight, or advanced the used index by more than was in flight.
    BadUsedRing {
        /// The descriptor id (or index distance) the device wrote.
        id: u32,
    },
    /// A request failed with `VIRTIO_BLK_S_IOERR`.
    IoError {
        /// First 512-byte sector of the failed request.
        sector: u64,
    },
    /// A request failed with `VIRTIO_BLK_S_UNSUPP`.
    Unsupported {
        /// First 512-byte sector of the failed request.
        sector: u64,
    },
    /// A request completed with a status byte that is not defined.
    BadStatus {
        /// The status byte.
        status: u8,
        /// First 512-byte sector of the request.
        sector: u64,
    },
    /// A write was attempted on a read-only device.
    ReadOnly,
    /// The range ends beyond the last block of the device.
    OutOfRange,
    /// The buffer is not a whole number of logical blocks.
    UnalignedBuffer,
    /// The driver was reset (or gave up on the device); no more I/O.
    Stopped,
    /// After 0 was written to the status, the device kept showing FAILED:
    /// the VMM cannot reset it (Firecracker 1.16 and older, virtio-mmio).
    ResetRefused,
    /// The device read back 0 after its reset but then refused to start
    /// initialisation again (status ACKNOWLEDGE did not stick): the VMM
    /// acknowledged a reset it did not perform (Firecracker 1.16 and older,
    /// virtio-pci), and the OS will not be able to use the device.
    ReinitRefused,
}

use vmfw_bytes::write_number;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic(m) => {
                write_number(f, "virtio-mmio: bad magic ", u64::from(*m), true, "")
            }
            Error::UnsupportedMmioVersion(v) => {
                write_number(f, "virtio-mmio: unsupported version ", u64::from(*v), false, "")
            }
            Error::NoDevice => f.write_str("virtio-mmio: no device behind the window"),
            Error::WrongDeviceType { expected, found } => {
                write!(f, "virtio: device type {found}, expected {expected}")
            }
            Error::UnsupportedPciDevice { vendor, device } => {
                write!(f, "virtio-pci: unsupported device {vendor:04x}:{device:04x}")
            }
            Error::PciHeaderType(t) => {
                write_number(f, "virtio-pci: header type ", u64::from(*t), true, " has no BARs")
            }
            Error::PciCapabilityLoop(o) => {
                write_number(f, "virtio-pci: capability list loops at ", u64::from(*o), true, "")
            }
            Error::PciCapabilityOutOfRange(o) => {
                write_number(f, "virtio-pci: capability at ", u64::from(*o), true, " out of range")
            }
            Error::PciCapabilityMissing(t) => write_number(
                f,
                "virtio-pci: capability cfg_type ",
                u64::from(*t),
                false,
                " missing",
            ),
            Error::PciBarUnusable(b) => {
                write_number(f, "virtio-pci: BAR", u64::from(*b), false, " unusable")
            }
            Error::PciRegionOutOfRange => f.write_str("virtio-pci: region outside its BAR"),
            Error::MapFailed => f.write_str("virtio: register region could not be mapped"),
            Error::MissingFeatures(m) => {
                write_number(f, "virtio: device lacks features ", *m, true, "")
            }
            Error::FeaturesRejected => f.write_str("virtio: device refused FEATURES_OK"),
            Error::DeviceFailed(s) => {
                write_number(f, "virtio: device failed (status ", u64::from(*s), true, ")")
            }
            Error::QueueUnavailable(q) => {
                write_number(f, "virtio: queue ", u64::from(*q), false, " unavailable")
            }
            Error::QueueTooSmall(n) => {
                write_number(f, "virtio: queue of ", u64::from(*n), false, " entries too small")
            }
            Error::AddressNotRepresentable(a) => {
                write_number(f, "virtio: address ", *a, true, " cannot be given to the device")
            }
            Error::DmaAllocFailed => f.write_str("virtio: DMA allocation failed"),
            Error::ConfigOutOfRange(o) => {
                write_number(f, "virtio: config offset ", u64::from(*o), true, " out of range")
            }
            Error::ConfigUnstable => f.write_str("virtio: device config never settled"),
            Error::InvalidBlockSize(b) => {
                write_number(f, "virtio-blk: invalid block size ", u64::from(*b), false, "")
            }
            Error::DeviceLimits => f.write_str("virtio-blk: segment limits below one block"),
            Error::NotResponding => f.write_str("virtio: device not responding"),
            Error::QueueFull => f.write_str("virtio: queue full"),
            Error::BadUsedRing { id } => {
                write_number(f, "virtio: bad used ring entry ", u64::from(*id), false, "")
            }
            Error::IoError { sector } => {
                write_number(f, "virtio-blk: I/O error at sector ", *sector, false, "")
            }
            Error::Unsupported { sector } => {
                write_number(f, "virtio-blk: request unsupported at sector ", *sector, false, "")
            }
            Error::BadStatus { status, sector } => {
                write!(f, "virtio-blk: status {status:#x} at sector {sector}")
            }
            Error::ReadOnly => f.write_str("virtio-blk: device is read-only"),
            Error::OutOfRange => f.write_str("virtio-blk: range beyond the end of the device"),
            Error::UnalignedBuffer => f.write_str("virtio-blk: buffer not whole blocks"),
            Error::Stopped => f.write_str("virtio: driver stopped"),
            Error::ResetRefused => f.write_str("virtio: the device refused the reset"),
            Error::ReinitRefused => {
                f.write_str("virtio: the device cannot be initialised again after its reset")
            }
        }
    }
}

impl From<Error> for vmfw_block::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::OutOfRange => vmfw_block::Error::OutOfRange,
            Error::UnalignedBuffer => vmfw_block::Error::UnalignedBuffer,
            Error::ReadOnly => vmfw_block::Error::ReadOnly,
            Error::IoError { .. } => vmfw_block::Error::Device(blk::STATUS_IOERR),
            Error::Unsupported { .. } => vmfw_block::Error::Device(blk::STATUS_UNSUPP),
            Error::BadStatus { status, .. } => vmfw_block::Error::Device(status),
            _ => vmfw_block::Error::NotResponding,
        }
    }
}
