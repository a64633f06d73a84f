//! Byte-addressed access to a [`BlockIo`] with two small caches.
//!
//! The FAT's sector size may differ from the device's block size (a 512-byte
//! sector volume on a 4Kn disk, or 4096-byte sectors on a 512-byte disk), so
//! everything above this module works in byte offsets and this module turns
//! them into whole-block reads.
//!
//! Caches (both are plain copies; the device is only read, so they never go
//! stale):
//! - one device block, for directory entries and the unaligned ends of data
//!   reads;
//! - a window of [`FAT_WINDOW`] bytes of FAT, so that following a chain reads
//!   each FAT block once rather than once per cluster.
//!
//! Invariant: `bs` is a power of two in 512..=65536 (checked in
//! [`Dev::new`]), so
//! every 32-byte directory entry lies inside one block.

use alloc::vec;
use alloc::vec::Vec;

use vmfw_block::BlockIo;

use crate::Error;

/// Bytes of FAT kept in memory (rounded up to whole device blocks).
const FAT_WINDOW: u32 = 64 * 1024;

/// A device plus its caches.
#[derive(Debug)]
pub(crate) struct Dev<D> {
    pub dev: D,
    bs: u64,
    block: Vec<u8>,
    block_lba: Option<u64>,
    fat: Vec<u8>,
    /// First LBA and number of valid bytes in `fat`.
    fat_win: Option<(u64, usize)>,
}

impl<D: BlockIo> Dev<D> {
    pub fn new(dev: D) -> Result<Self, Error> {
        let bs = dev.block_size();
        // 64 KiB is far above any real block size; the cap keeps a confused
        // driver from making us allocate a huge cache block.
        if !(512..=65536).contains(&bs) || !bs.is_power_of_two() {
            return Err(Error::BadBlockSize(bs));
        }
        let bsz = usize::try_from(bs).map_err(|_| Error::BadBlockSize(bs))?;
        let fat_len = usize::try_from(FAT_WINDOW.max(bs)).map_err(|_| Error::BadBlockSize(bs))?;
        Ok(Dev {
            dev,
            bs: u64::from(bs),
            block: vec![0; bsz],
            block_lba: None,
            fat: vec![0; fat_len],
            fat_win: None,
        })
    }

    /// Size of the device in bytes (saturating: only used as an upper bound).
    pub fn size_bytes(&self) -> u64 {
        self.dev.num_blocks().saturating_mul(self.bs)
    }

    /// Makes the block cache hold block `lba`.
    fn load_block(&mut self, lba: u64) -> Result<(), Error> {
        if self.block_lba != Some(lba) {
            self.block_lba = None;
            self.dev.read_blocks(lba, &mut self.block)?;
            self.block_lba = Some(lba);
        }
        Ok(())
    }

    /// Copies the bytes at `off..off + buf.len()` out of the device,
    /// whatever their alignment.
    ///
    /// This is the crate-private `read_bytes` helper that the block crate
    /// may grow a shared version of; it goes through the one-block cache.
    pub fn read_bytes(&mut self, off: u64, buf: &mut [u8]) -> Result<(), Error> {
        let want = buf.len();
        self.read_span(off, buf, want)
    }

    /// Reads `want` bytes at byte offset `off` into `buf[..want]`.
    ///
    /// `buf[want..]` is scratch: when the span ends inside a block and the
    /// scratch has room for the rest of that block, the whole aligned part
    /// and that last block go to the device as one request, straight into
    /// `buf`. Otherwise an unaligned head or tail goes through the block
    /// cache. So a block-aligned span costs exactly one `read_blocks` call.
    pub fn read_span(&mut self, off: u64, buf: &mut [u8], want: usize) -> Result<(), Error> {
        let want = want.min(buf.len());
        let bs = self.bs;
        let bsz = self.block.len();
        let mut done = 0usize;
        let mut pos = off;

        let head = usize::try_from(pos % bs).unwrap_or(0);
        if head != 0 && want != 0 {
            self.load_block(pos / bs)?;
            let take = want.min(bsz - head);
            copy(&mut buf[..], 0, &self.block, head, take);
            done = take;
            pos = pos.checked_add(take as u64).ok_or(Error::Io(vmfw_block::Error::OutOfRange))?;
        }
        if done == want {
            return Ok(());
        }
        let rest = want - done;
        let full = rest - rest % bsz;
        let tail = rest % bsz;
        let room = buf.len() - done;
        let lba = pos / bs;
        if tail != 0 && room >= full + bsz {
            let dst = buf
                .get_mut(done..done + full + bsz)
                .ok_or(Error::Io(vmfw_block::Error::UnalignedBuffer))?;
            self.dev.read_blocks(lba, dst)?;
            return Ok(());
        }
        if full != 0 {
            let dst = buf
                .get_mut(done..done + full)
                .ok_or(Error::Io(vmfw_block::Error::UnalignedBuffer))?;
            self.dev.read_blocks(lba, dst)?;
            done += full;
        }
        if tail != 0 {
            let tail_lba = lba
                .checked_add((full / bsz) as u64)
                .ok_or(Error::Io(vmfw_block::Error::OutOfRange))?;
            self.load_block(tail_lba)?;
            copy(buf, done, &self.block, 0, tail);
        }
        Ok(())
    }

    /// Returns the 32-byte directory entry at byte offset `off` (a multiple
    /// of 32).
    pub fn dir_entry(&mut self, off: u64) -> Result<[u8; 32], Error> {
        let lba = off / self.bs;
        let within = usize::try_from(off % self.bs).unwrap_or(usize::MAX);
        self.load_block(lba)?;
        self.block
            .get(within..)
            .and_then(|s| s.first_chunk::<32>())
            .copied()
            .ok_or(Error::Io(vmfw_block::Error::UnalignedBuffer))
    }

    /// Returns the byte at byte offset `off` of the FAT region, through the
    /// FAT window.
    pub fn fat_byte(&mut self, off: u64) -> Result<u8, Error> {
        let lba = off / self.bs;
        if let Some((start, len)) = self.fat_win {
            if lba >= start {
                let rel = (lba - start)
                    .checked_mul(self.bs)
                    .and_then(|r| r.checked_add(off % self.bs))
                    .and_then(|r| usize::try_from(r).ok());
                if let Some(rel) = rel.filter(|r| *r < len) {
                    if let Some(b) = self.fat.get(rel) {
                        return Ok(*b);
                    }
                }
            }
        }
        // Align the window to its own size so that a walk in either
        // direction keeps hitting it; clamp it to the device end.
        let win_blocks = (self.fat.len() as u64) / self.bs;
        let start = lba - lba % win_blocks.max(1);
        let avail = self.dev.num_blocks().saturating_sub(start).min(win_blocks);
        if avail == 0 || lba >= start.saturating_add(avail) {
            return Err(Error::Io(vmfw_block::Error::OutOfRange));
        }
        let len = usize::try_from(avail.saturating_mul(self.bs))
            .map_err(|_| Error::Io(vmfw_block::Error::OutOfRange))?;
        self.fat_win = None;
        let dst = self.fat.get_mut(..len).ok_or(Error::Io(vmfw_block::Error::OutOfRange))?;
        self.dev.read_blocks(start, dst)?;
        self.fat_win = Some((start, len));
        let rel = usize::try_from((lba - start) * self.bs + off % self.bs)
            .map_err(|_| Error::Io(vmfw_block::Error::OutOfRange))?;
        self.fat.get(rel).copied().ok_or(Error::Io(vmfw_block::Error::OutOfRange))
    }
}

/// Copies `len` bytes from `src[from..]` to `dst[to..]`, clamped to both
/// slices (callers compute in-bounds ranges; the clamp keeps that a
/// non-panicking property rather than an assumption).
fn copy(dst: &mut [u8], to: usize, src: &[u8], from: usize, len: usize) {
    let s = src.get(from..).unwrap_or(&[]);
    let d = dst.get_mut(to..).unwrap_or(&mut []);
    let n = len.min(s.len()).min(d.len());
    if let (Some(d), Some(s)) = (d.get_mut(..n), s.get(..n)) {
        d.copy_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmfw_block::MemDisk;

    fn disk(bs: u32) -> Dev<MemDisk> {
        Dev::new(MemDisk::new((0..32768u32).map(|i| (i % 251) as u8).collect(), bs)).unwrap()
    }

    #[test]
    fn unaligned_reads_match_the_image() {
        for bs in [512, 4096] {
            let mut d = disk(bs);
            for (off, len) in [(0u64, 512usize), (1, 1), (511, 2), (100, 5000), (4095, 4098)] {
                let mut buf = vec![0u8; len];
                d.read_bytes(off, &mut buf).unwrap();
                let exp: Vec<u8> = (off..off + len as u64).map(|i| (i % 251) as u8).collect();
                assert_eq!(buf, exp, "bs {bs} off {off} len {len}");
            }
        }
    }

    #[test]
    fn aligned_span_is_one_request() {
        let mut d = disk(512);
        let mut buf = vec![0u8; 2048];
        d.read_span(1024, &mut buf, 1500).unwrap();
        assert_eq!(d.dev.read_calls(), 1, "tail read into scratch");
        d.read_span(1024, &mut buf[..1500], 1500).unwrap();
        assert_eq!(d.dev.read_calls(), 3, "no scratch: body + tail");
    }

    #[test]
    fn fat_window_is_reused() {
        let mut d = disk(512);
        for off in 0..8192u64 {
            assert_eq!(d.fat_byte(off).unwrap(), (off % 251) as u8);
        }
        assert_eq!(d.dev.read_calls(), 1);
        assert!(d.fat_byte(40000).is_err());
    }

    #[test]
    fn rejects_odd_block_sizes() {
        assert!(matches!(
            Dev::new(MemDisk::new(vec![0; 1000], 500)),
            Err(Error::BadBlockSize(500))
        ));
    }
}
