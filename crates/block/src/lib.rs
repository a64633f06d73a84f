//! Block devices for vmfw: one [`BlockIo`] trait that every disk driver
//! implements, adapters that let every parser run on in-memory images, and
//! the partition-table readers built on top of it.
//!
//! Invariants: a [`BlockIo`] read always covers whole logical blocks and
//! lands directly in the caller's buffer, so a driver can turn one call into
//! as few large device requests as it likes.
//!
//! What lives here:
//!
//! * [`BlockIo`], [`check_range`] and [`MemDisk`] (the in-memory device);
//! * [`Partition`], a sub-range view of a device that is itself a
//!   [`BlockIo`];
//! * [`read_bytes`], byte-granular reads that keep the aligned middle of a
//!   request one device call;
//! * [`CachedDisk`], a small LRU read cache for metadata-sized requests;
//! * the partition-table readers: GPT (UEFI 2.10 §5.3, see [`gpt`]) and
//!   MBR (UEFI 2.10 §5.2, see [`mbr`]), joined by [`read_partition_table`].
//!
//! [`Guid`], [`Crc32`] and [`crc32()`] belong to the leaf crate `vmfw-bytes`;
//! they are re-exported here because partition tables are made of them and
//! existing code names them through this crate.
//!
//! Everything read from a disk is treated as hostile: offsets and sizes go
//! through checked arithmetic and every way a table can be wrong maps to a
//! named [`Error`] (or, for a single bad partition entry, a recorded
//! [`SkipReason`]). The crate has no logging; callers report what they get.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod bytes;
mod cache;
pub mod gpt;
mod le;
pub mod mbr;
mod mem;
mod partition;
mod table;
#[cfg(test)]
mod table_tests;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use bytes::{read_bytes, write_bytes};
pub use cache::CachedDisk;
pub use gpt::GptFault;
pub use mem::MemDisk;
pub use partition::Partition;
pub use table::{
    read_partition_table, GptEntry, MbrEntry, PartitionInfo, PartitionKind, PartitionTable, Scheme,
    SkipReason, SkippedEntry,
};
pub use vmfw_bytes::{crc32, Crc32, Guid, ParseGuidError};

/// Largest logical block size the partition readers, [`read_bytes`] and
/// [`CachedDisk`] accept (64 KiB). Real disks use 512 or 4096; the bound
/// keeps every per-block buffer small.
pub const MAX_BLOCK_SIZE: u32 = 64 * 1024;

/// Errors a block device, an adapter over one, or a partition-table reader
/// can report.
///
/// Device errors ([`Error::Device`], [`Error::NotResponding`]) pass through
/// the table readers unchanged; everything about the *contents* of a disk
/// has its own variant, so a caller can log one line that says what was
/// wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The requested range ends beyond the last block of the device.
    OutOfRange,
    /// The buffer length is not a whole number of logical blocks.
    UnalignedBuffer,
    /// The device completed a request with an error status.
    Device(u8),
    /// The device does not answer (queue broken, timeout).
    NotResponding,
    /// A write was attempted on a read-only device.
    ReadOnly,
    /// The device's block size is not a power of two in
    /// 512..=[`MAX_BLOCK_SIZE`].
    UnsupportedBlockSize(u32),
    /// A buffer could not be allocated.
    OutOfMemory,
    /// Neither a GPT nor an MBR was found: LBA 0 has no usable MBR and LBA 1
    /// no GPT signature (or the device is empty).
    NoPartitionTable,
    /// The disk claims GPT (protective MBR or a GPT signature at LBA 1) but
    /// neither the primary nor the backup GPT is usable; says why for each
    /// (UEFI 2.10 §5.3.2).
    BadGpt {
        /// Why the primary GPT (header at LBA 1) was rejected.
        primary: GptFault,
        /// Why the backup GPT was rejected.
        backup: GptFault,
    },
    /// A GUID string was not of the form `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
    InvalidGuid,
}

impl core::fmt::Display for Error {
    /// Through `vmfw_bytes::write_template` (`\x01` is `{}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, n): (&str, u64) = match *self {
            Error::OutOfRange => ("read beyond the end of the device", 0),
            Error::UnalignedBuffer => ("buffer is not a whole number of blocks", 0),
            Error::Device(s) => ("device reported status \x01", s.into()),
            Error::NotResponding => ("device not responding", 0),
            Error::ReadOnly => ("device is read-only", 0),
            Error::UnsupportedBlockSize(s) => ("unsupported block size \x01", s.into()),
            Error::OutOfMemory => ("out of memory", 0),
            Error::NoPartitionTable => ("no partition table (no MBR, no GPT)", 0),
            Error::BadGpt { primary, backup } => {
                return write!(f, "GPT unusable: primary: {primary}; backup: {backup}");
            }
            Error::InvalidGuid => ("malformed GUID string", 0),
        };
        vmfw_bytes::write_template(f, t, &[n])
    }
}

/// Lets code that parses a [`Guid`] with `?` keep returning this crate's
/// [`Error`].
impl From<vmfw_bytes::ParseGuidError> for Error {
    fn from(_: vmfw_bytes::ParseGuidError) -> Self {
        Error::InvalidGuid
    }
}

/// A device made of fixed-size logical blocks.
pub trait BlockIo {
    /// Size of one logical block in bytes (512 or 4096 in practice; always a
    /// power of two ≥ 512).
    fn block_size(&self) -> u32;

    /// Number of logical blocks on the device.
    fn num_blocks(&self) -> u64;

    /// Reads `buf.len() / block_size()` blocks starting at `lba` into `buf`.
    ///
    /// `buf.len()` must be a multiple of [`BlockIo::block_size`]; the range
    /// must lie inside the device. Implementations should serve a large
    /// buffer with few large requests.
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error>;

    /// Writes whole blocks starting at `lba`. Read-only devices (the default)
    /// return [`Error::ReadOnly`].
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        let _ = (lba, buf);
        Err(Error::ReadOnly)
    }

    /// Whether [`BlockIo::write_blocks`] can succeed.
    fn read_only(&self) -> bool {
        true
    }

    /// Makes every completed write durable (a disk's volatile write cache
    /// written out, a virtio-blk `VIRTIO_BLK_T_FLUSH`). Devices without a
    /// write cache, and read-only ones, have nothing to do (the default).
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

impl<T: BlockIo + ?Sized> BlockIo for &mut T {
    fn block_size(&self) -> u32 {
        (**self).block_size()
    }
    fn num_blocks(&self) -> u64 {
        (**self).num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        (**self).write_blocks(lba, buf)
    }
    fn read_only(&self) -> bool {
        (**self).read_only()
    }
    fn flush(&mut self) -> Result<(), Error> {
        (**self).flush()
    }
}

/// Checks that `buf_len` bytes starting at `lba` form whole blocks inside a
/// device of `num_blocks` blocks of `block_size` bytes; returns the block
/// count. Drivers and adapters share this so they reject the same requests.
pub fn check_range(
    block_size: u32,
    num_blocks: u64,
    lba: u64,
    buf_len: usize,
) -> Result<u64, Error> {
    let bs = u64::from(block_size);
    let len = buf_len as u64;
    if bs == 0 || !len.is_multiple_of(bs) {
        return Err(Error::UnalignedBuffer);
    }
    let count = len / bs;
    let end = lba.checked_add(count).ok_or(Error::OutOfRange)?;
    if end > num_blocks {
        return Err(Error::OutOfRange);
    }
    Ok(count)
}

/// The device's block size as a `usize`, checked to be a power of two in
/// 512..=[`MAX_BLOCK_SIZE`].
pub(crate) fn block_size_of<D: BlockIo + ?Sized>(dev: &D) -> Result<usize, Error> {
    let bs = dev.block_size();
    if !bs.is_power_of_two() || !(512..=MAX_BLOCK_SIZE).contains(&bs) {
        return Err(Error::UnsupportedBlockSize(bs));
    }
    usize::try_from(bs).map_err(|_| Error::UnsupportedBlockSize(bs))
}

/// A zeroed buffer of `len` bytes, allocated without aborting on failure.
pub(crate) fn zeroed_vec(len: usize) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
    v.resize(len, 0);
    Ok(v)
}

/// Pushes onto `v`, reporting allocation failure instead of aborting.
pub(crate) fn try_push<T>(v: &mut alloc::vec::Vec<T>, item: T) -> Result<(), Error> {
    v.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
    v.push(item);
    Ok(())
}
