//! A sub-range view of a block device.
//!
//! Invariant: `start + len <= inner.num_blocks()` at construction, checked
//! with overflow-free arithmetic, and every request is range-checked against
//! `len` (with [`check_range`]) before `start` is added (checked again), so
//! no request through a [`Partition`] can reach a block outside it.

use crate::{check_range, BlockIo, Error};

/// Blocks `first_lba .. first_lba + num_blocks` of `D`, presented as a
/// device of its own whose LBA 0 is `first_lba`.
///
/// `D` may be a borrowed device: `Partition<&mut D>` works because
/// `&mut D` is a [`BlockIo`] too.
#[derive(Debug, Clone)]
pub struct Partition<D> {
    inner: D,
    start: u64,
    len: u64,
}

impl<D: BlockIo> Partition<D> {
    /// A view of `num_blocks` blocks of `inner` starting at `first_lba`.
    ///
    /// Fails with [`Error::OutOfRange`] unless the whole range lies inside
    /// `inner`.
    pub fn new(inner: D, first_lba: u64, num_blocks: u64) -> Result<Self, Error> {
        let end = first_lba.checked_add(num_blocks).ok_or(Error::OutOfRange)?;
        if end > inner.num_blocks() {
            return Err(Error::OutOfRange);
        }
        Ok(Self { inner, start: first_lba, len: num_blocks })
    }

    /// The first block of the view on the underlying device.
    pub fn start_lba(&self) -> u64 {
        self.start
    }

    /// The underlying device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The underlying device, mutably (requests made through it are not
    /// confined to the view).
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Gives the underlying device back.
    pub fn into_inner(self) -> D {
        self.inner
    }

    /// Translates a view-relative request to the device.
    fn map(&self, lba: u64, len: usize) -> Result<u64, Error> {
        check_range(self.inner.block_size(), self.len, lba, len)?;
        self.start.checked_add(lba).ok_or(Error::OutOfRange)
    }
}

impl<D: BlockIo> BlockIo for Partition<D> {
    fn block_size(&self) -> u32 {
        self.inner.block_size()
    }

    fn num_blocks(&self) -> u64 {
        self.len
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        let abs = self.map(lba, buf.len())?;
        self.inner.read_blocks(abs, buf)
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        let abs = self.map(lba, buf.len())?;
        self.inner.write_blocks(abs, buf)
    }

    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDisk;
    use alloc::vec;
    use alloc::vec::Vec;

    fn disk() -> MemDisk {
        // Block i is filled with the byte i.
        let data: Vec<u8> = (0..16u8).flat_map(|i| [i; 512]).collect();
        MemDisk::new(data, 512)
    }

    #[test]
    fn translates_and_confines_reads() {
        let mut d = disk();
        let mut p = Partition::new(&mut d, 4, 8).unwrap();
        assert_eq!(p.num_blocks(), 8);
        assert_eq!(p.block_size(), 512);
        let mut buf = vec![0u8; 1024];
        p.read_blocks(0, &mut buf).unwrap();
        assert_eq!((buf[0], buf[600]), (4, 5));
        p.read_blocks(6, &mut buf).unwrap();
        assert_eq!((buf[0], buf[600]), (10, 11));
        assert_eq!(p.read_blocks(7, &mut buf), Err(Error::OutOfRange));
        assert_eq!(p.read_blocks(8, &mut buf[..512]), Err(Error::OutOfRange));
        assert_eq!(p.read_blocks(u64::MAX, &mut buf), Err(Error::OutOfRange));
        assert_eq!(p.read_blocks(0, &mut buf[..100]), Err(Error::UnalignedBuffer));
        // Zero-length reads at the end are fine, past the end are not.
        assert_eq!(p.read_blocks(8, &mut []), Ok(()));
        assert_eq!(p.read_blocks(9, &mut []), Err(Error::OutOfRange));
    }

    #[test]
    fn construction_is_checked() {
        let d = disk();
        assert!(Partition::new(d.clone(), 0, 16).is_ok());
        assert!(Partition::new(d.clone(), 16, 0).is_ok());
        assert_eq!(Partition::new(d.clone(), 1, 16).err(), Some(Error::OutOfRange));
        assert_eq!(Partition::new(d.clone(), 17, 0).err(), Some(Error::OutOfRange));
        assert_eq!(Partition::new(d.clone(), u64::MAX, 2).err(), Some(Error::OutOfRange));
        assert_eq!(Partition::new(d, 2, u64::MAX).err(), Some(Error::OutOfRange));
    }

    #[test]
    fn nested_views_and_writes() {
        let mut d = disk().writable();
        {
            let outer = Partition::new(&mut d, 2, 10).unwrap();
            let mut inner = Partition::new(outer, 3, 4).unwrap();
            assert_eq!(inner.num_blocks(), 4);
            let mut buf = vec![0u8; 512];
            inner.read_blocks(0, &mut buf).unwrap();
            assert_eq!(buf[0], 5);
            inner.write_blocks(3, &[0xAB; 512]).unwrap();
            assert_eq!(inner.write_blocks(4, &[0xAB; 512]), Err(Error::OutOfRange));
            assert!(!inner.read_only());
        }
        assert_eq!(d.data()[8 * 512], 0xAB);
        assert_eq!(d.data()[9 * 512], 9);
    }

    /// Counts flushes, for checking that adapters pass them on.
    struct Flushes(MemDisk, u32);

    impl BlockIo for Flushes {
        fn block_size(&self) -> u32 {
            self.0.block_size()
        }
        fn num_blocks(&self) -> u64 {
            self.0.num_blocks()
        }
        fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
            self.0.read_blocks(lba, buf)
        }
        fn flush(&mut self) -> Result<(), Error> {
            self.1 += 1;
            Ok(())
        }
    }

    #[test]
    fn flush_reaches_the_device_through_every_adapter() {
        let mut d = Flushes(disk(), 0);
        {
            let view = Partition::new(&mut d, 2, 10).unwrap();
            let mut cached = crate::CachedDisk::new(view).unwrap();
            cached.flush().unwrap();
            let mut by_ref = &mut cached;
            BlockIo::flush(&mut by_ref).unwrap();
        }
        assert_eq!(d.1, 2);
        // The default: nothing to do.
        assert_eq!(disk().flush(), Ok(()));
    }
}
