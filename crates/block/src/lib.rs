//! Block devices for vmfw: one [`BlockIo`] trait that every disk driver
//! implements, adapters that let every parser run on in-memory images, and
//! the partition-table readers built on top of it.
//!
//! Invariants: a [`BlockIo`] read always covers whole logical blocks and
//! lands directly in the caller's buffer, so a driver can turn one call into
//! as few large device requests as it likes.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod mem;

pub use mem::MemDisk;

/// Errors a block device or an adapter over one can report.
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
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::OutOfRange => f.write_str("read beyond the end of the device"),
            Error::UnalignedBuffer => f.write_str("buffer is not a whole number of blocks"),
            Error::Device(s) => write!(f, "device reported status {s}"),
            Error::NotResponding => f.write_str("device not responding"),
            Error::ReadOnly => f.write_str("device is read-only"),
        }
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
