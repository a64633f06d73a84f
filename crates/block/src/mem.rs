//! An in-memory disk, so that every parser test runs without hardware.

use alloc::vec::Vec;

use crate::{check_range, BlockIo, Error};

/// A disk image held in memory.
#[derive(Debug, Clone)]
pub struct MemDisk {
    data: Vec<u8>,
    block_size: u32,
    writable: bool,
    reads: u64,
}

impl MemDisk {
    /// Wraps `data` as a read-only disk with `block_size`-byte blocks. A
    /// trailing partial block is ignored, like a real device would.
    pub fn new(data: Vec<u8>, block_size: u32) -> Self {
        Self { data, block_size, writable: false, reads: 0 }
    }

    /// Makes the disk accept writes.
    pub fn writable(mut self) -> Self {
        self.writable = true;
        self
    }

    /// The image bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// How many `read_blocks` calls the disk has served (tests use it to
    /// check that readers issue large requests).
    pub fn read_calls(&self) -> u64 {
        self.reads
    }

    fn byte_range(&self, lba: u64, len: usize) -> Result<core::ops::Range<usize>, Error> {
        check_range(self.block_size, self.num_blocks(), lba, len)?;
        let start = lba
            .checked_mul(u64::from(self.block_size))
            .and_then(|s| usize::try_from(s).ok())
            .ok_or(Error::OutOfRange)?;
        let end = start.checked_add(len).ok_or(Error::OutOfRange)?;
        Ok(start..end)
    }
}

impl BlockIo for MemDisk {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        if self.block_size == 0 {
            return 0;
        }
        self.data.len() as u64 / u64::from(self.block_size)
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        let range = self.byte_range(lba, buf.len())?;
        let src = self.data.get(range).ok_or(Error::OutOfRange)?;
        buf.copy_from_slice(src);
        self.reads += 1;
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let range = self.byte_range(lba, buf.len())?;
        let dst = self.data.get_mut(range).ok_or(Error::OutOfRange)?;
        dst.copy_from_slice(buf);
        Ok(())
    }

    fn read_only(&self) -> bool {
        !self.writable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn reads_whole_blocks_and_rejects_bad_ranges() {
        let mut d = MemDisk::new((0..4096u32).map(|i| i as u8).collect(), 512);
        assert_eq!(d.num_blocks(), 8);
        let mut buf = vec![0u8; 1024];
        d.read_blocks(1, &mut buf).unwrap();
        assert_eq!(buf[0], 0);
        assert_eq!(buf[1], 1);
        assert_eq!(d.read_blocks(7, &mut buf), Err(Error::OutOfRange));
        assert_eq!(d.read_blocks(u64::MAX, &mut buf), Err(Error::OutOfRange));
        assert_eq!(d.read_blocks(0, &mut buf[..100]), Err(Error::UnalignedBuffer));
        assert_eq!(d.write_blocks(0, &buf), Err(Error::ReadOnly));
    }
}
