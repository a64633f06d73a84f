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

impl core::fmt::Display for Error {
    /// One template per variant (`vmfw_bytes::write_template`: `\x01` is
    /// `{}`, `\x03` `{:#x}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, a, b): (&str, u64, u64) = match *self {
            Error::BadMagic(m) => ("virtio-mmio: bad magic \x03", u64::from(m), 0),
            Error::UnsupportedMmioVersion(v) => {
                ("virtio-mmio: unsupported version \x01", u64::from(v), 0)
            }
            Error::NoDevice => ("virtio-mmio: no device behind the window", 0, 0),
            Error::WrongDeviceType { expected, found } => {
                ("virtio: device type \x01, expected \x01", found.into(), expected.into())
            }
            Error::UnsupportedPciDevice { vendor, device } => {
                return write!(f, "virtio-pci: unsupported device {vendor:04x}:{device:04x}");
            }
            Error::PciHeaderType(t) => {
                ("virtio-pci: header type \x03 has no BARs", u64::from(t), 0)
            }
            Error::PciCapabilityLoop(o) => {
                ("virtio-pci: capability list loops at \x03", u64::from(o), 0)
            }
            Error::PciCapabilityOutOfRange(o) => {
                ("virtio-pci: capability at \x03 out of range", u64::from(o), 0)
            }
            Error::PciCapabilityMissing(t) => {
                ("virtio-pci: capability cfg_type \x01 missing", u64::from(t), 0)
            }
            Error::PciBarUnusable(b) => ("virtio-pci: BAR\x01 unusable", u64::from(b), 0),
            Error::PciRegionOutOfRange => ("virtio-pci: region outside its BAR", 0, 0),
            Error::MapFailed => ("virtio: register region could not be mapped", 0, 0),
            Error::MissingFeatures(m) => ("virtio: device lacks features \x03", m, 0),
            Error::FeaturesRejected => ("virtio: device refused FEATURES_OK", 0, 0),
            Error::DeviceFailed(s) => ("virtio: device failed (status \x03)", u64::from(s), 0),
            Error::QueueUnavailable(q) => ("virtio: queue \x01 unavailable", u64::from(q), 0),
            Error::QueueTooSmall(n) => ("virtio: queue of \x01 entries too small", u64::from(n), 0),
            Error::AddressNotRepresentable(a) => {
                ("virtio: address \x03 cannot be given to the device", a, 0)
            }
            Error::DmaAllocFailed => ("virtio: DMA allocation failed", 0, 0),
            Error::ConfigOutOfRange(o) => {
                ("virtio: config offset \x03 out of range", u64::from(o), 0)
            }
            Error::ConfigUnstable => ("virtio: device config never settled", 0, 0),
            Error::InvalidBlockSize(b) => ("virtio-blk: invalid block size \x01", u64::from(b), 0),
            Error::DeviceLimits => ("virtio-blk: segment limits below one block", 0, 0),
            Error::NotResponding => ("virtio: device not responding", 0, 0),
            Error::QueueFull => ("virtio: queue full", 0, 0),
            Error::BadUsedRing { id } => ("virtio: bad used ring entry \x01", u64::from(id), 0),
            Error::IoError { sector } => ("virtio-blk: I/O error at sector \x01", sector, 0),
            Error::Unsupported { sector } => {
                ("virtio-blk: request unsupported at sector \x01", sector, 0)
            }
            Error::BadStatus { status, sector } => {
                ("virtio-blk: status \x03 at sector \x01", status.into(), sector)
            }
            Error::ReadOnly => ("virtio-blk: device is read-only", 0, 0),
            Error::OutOfRange => ("virtio-blk: range beyond the end of the device", 0, 0),
            Error::UnalignedBuffer => ("virtio-blk: buffer not whole blocks", 0, 0),
            Error::Stopped => ("virtio: driver stopped", 0, 0),
            Error::ResetRefused => ("virtio: the device refused the reset", 0, 0),
            Error::ReinitRefused => {
                ("virtio: the device cannot be initialised again after its reset", 0, 0)
            }
        };
        vmfw_bytes::write_template(f, t, &[a, b])
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
