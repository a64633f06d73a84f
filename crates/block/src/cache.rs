//! A small read cache in front of a [`BlockIo`].
//!
//! File-system metadata (FAT sectors, directory clusters) is read in small
//! pieces, often the same blocks again and again; file contents are read in
//! large runs that should go straight from the device into their final
//! place. [`CachedDisk`] keeps a handful of recently read blocks (LRU) and
//! serves a request from them when every block of it is present. Requests
//! longer than `max_run` blocks bypass the cache entirely: one device call,
//! no copy, nothing evicted.
//!
//! Invariants: a slot holds a copy of the device block named by its tag,
//! because the cache is filled only from successful reads and writes go
//! through to the device first and then refresh any cached copy. A request
//! through the cache is range-checked exactly like one to the device.

use alloc::vec::Vec;

use crate::{block_size_of, check_range, zeroed_vec, BlockIo, Error};

/// One cache line's bookkeeping.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The cached block, or `None` for an empty slot.
    lba: Option<u64>,
    /// Value of the use clock at the last hit or fill (for LRU).
    used: u64,
}

/// A block device with a small LRU read cache.
#[derive(Debug)]
pub struct CachedDisk<D> {
    inner: D,
    bs: usize,
    data: Vec<u8>,
    slots: Vec<Slot>,
    max_run: u64,
    clock: u64,
    hits: u64,
    misses: u64,
    bypassed: u64,
}

impl<D: BlockIo> CachedDisk<D> {
    /// Slots used by [`CachedDisk::new`].
    pub const DEFAULT_SLOTS: usize = 32;
    /// Longest request (in blocks) that [`CachedDisk::new`] caches.
    pub const DEFAULT_MAX_RUN: u64 = 8;
    /// Upper bound on the number of slots.
    pub const MAX_SLOTS: usize = 1024;

    /// A cache of [`Self::DEFAULT_SLOTS`] blocks that caches requests of up
    /// to [`Self::DEFAULT_MAX_RUN`] blocks.
    pub fn new(inner: D) -> Result<Self, Error> {
        Self::with_capacity(inner, Self::DEFAULT_SLOTS, Self::DEFAULT_MAX_RUN)
    }

    /// A cache of `slots` blocks (clamped to 1..=[`Self::MAX_SLOTS`]) that
    /// caches requests of up to `max_run` blocks (clamped to 1..=`slots`);
    /// longer requests go straight to the device.
    ///
    /// Fails with [`Error::UnsupportedBlockSize`] for a device whose block
    /// size is not a power of two in 512..=[`crate::MAX_BLOCK_SIZE`] and
    /// with [`Error::OutOfMemory`] if the cache cannot be allocated.
    pub fn with_capacity(inner: D, slots: usize, max_run: u64) -> Result<Self, Error> {
        let bs = block_size_of(&inner)?;
        let slots = slots.clamp(1, Self::MAX_SLOTS);
        let max_run = max_run.clamp(1, slots as u64);
        let data = zeroed_vec(slots.checked_mul(bs).ok_or(Error::OutOfMemory)?)?;
        let mut tags = Vec::new();
        tags.try_reserve_exact(slots).map_err(|_| Error::OutOfMemory)?;
        tags.resize(slots, Slot { lba: None, used: 0 });
        Ok(Self {
            inner,
            bs,
            data,
            slots: tags,
            max_run,
            clock: 0,
            hits: 0,
            misses: 0,
            bypassed: 0,
        })
    }

    /// Forgets every cached block (for example after the device was written
    /// behind the cache's back through [`CachedDisk::inner_mut`]).
    pub fn invalidate(&mut self) {
        for s in &mut self.slots {
            s.lba = None;
        }
    }

    /// Requests served entirely from the cache.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Cacheable requests that went to the device.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Requests longer than `max_run` that bypassed the cache.
    pub fn bypassed(&self) -> u64 {
        self.bypassed
    }

    /// The underlying device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The underlying device, mutably. Writes made through it are not seen
    /// by the cache; call [`CachedDisk::invalidate`] afterwards.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Gives the underlying device back.
    pub fn into_inner(self) -> D {
        self.inner
    }

    fn find(&self, lba: u64) -> Option<usize> {
        self.slots.iter().position(|s| s.lba == Some(lba))
    }

    fn slot_bytes(&self, slot: usize) -> Option<&[u8]> {
        let start = slot.checked_mul(self.bs)?;
        self.data.get(start..start.checked_add(self.bs)?)
    }

    fn slot_bytes_mut(&mut self, slot: usize) -> Option<&mut [u8]> {
        let start = slot.checked_mul(self.bs)?;
        self.data.get_mut(start..start.checked_add(self.bs)?)
    }

    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }

    /// Stores `block` as the cached copy of `lba`, evicting the least
    /// recently used slot if `lba` is not cached yet.
    fn store(&mut self, lba: u64, block: &[u8]) {
        let slot = match self.find(lba) {
            Some(s) => s,
            None => {
                let mut victim = 0;
                let mut oldest = u64::MAX;
                for (i, s) in self.slots.iter().enumerate() {
                    if s.lba.is_none() {
                        victim = i;
                        break;
                    }
                    if s.used < oldest {
                        oldest = s.used;
                        victim = i;
                    }
                }
                victim
            }
        };
        let now = self.tick();
        let filled = match self.slot_bytes_mut(slot) {
            Some(dst) if dst.len() == block.len() => {
                dst.copy_from_slice(block);
                true
            }
            _ => false,
        };
        if let (true, Some(s)) = (filled, self.slots.get_mut(slot)) {
            *s = Slot { lba: Some(lba), used: now };
        }
    }

    /// Copies the cached blocks `lba..lba + count` into `buf` if all of
    /// them are present.
    fn serve(&mut self, lba: u64, buf: &mut [u8]) -> bool {
        // First make sure every block is there, so a partial hit copies
        // nothing and the device read that follows sees a clean slate.
        let mut lba_i = lba;
        for _ in buf.chunks_exact(self.bs) {
            if self.find(lba_i).is_none() {
                return false;
            }
            lba_i = match lba_i.checked_add(1) {
                Some(l) => l,
                None => return false,
            };
        }
        let now = self.tick();
        let mut lba_i = lba;
        for chunk in buf.chunks_exact_mut(self.bs) {
            let Some(slot) = self.find(lba_i) else { return false };
            match self.slot_bytes(slot) {
                Some(src) => chunk.copy_from_slice(src),
                None => return false,
            }
            if let Some(s) = self.slots.get_mut(slot) {
                s.used = now;
            }
            lba_i = lba_i.wrapping_add(1);
        }
        true
    }
}

impl<D: BlockIo> BlockIo for CachedDisk<D> {
    fn block_size(&self) -> u32 {
        self.inner.block_size()
    }

    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        let count = check_range(self.inner.block_size(), self.inner.num_blocks(), lba, buf.len())?;
        if count == 0 {
            return Ok(());
        }
        if count > self.max_run {
            self.bypassed = self.bypassed.wrapping_add(1);
            return self.inner.read_blocks(lba, buf);
        }
        if self.serve(lba, buf) {
            self.hits = self.hits.wrapping_add(1);
            return Ok(());
        }
        self.misses = self.misses.wrapping_add(1);
        // One device call for the whole (short) request, then remember it.
        self.inner.read_blocks(lba, buf)?;
        let mut lba_i = lba;
        for chunk in buf.chunks_exact(self.bs) {
            self.store(lba_i, chunk);
            lba_i = lba_i.checked_add(1).ok_or(Error::OutOfRange)?;
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        self.inner.write_blocks(lba, buf)?;
        // Write-through: refresh the blocks we hold, cache nothing new.
        let mut lba_i = lba;
        for chunk in buf.chunks_exact(self.bs) {
            if let Some(slot) = self.find(lba_i) {
                if let Some(dst) = self.slot_bytes_mut(slot) {
                    dst.copy_from_slice(chunk);
                }
            }
            lba_i = lba_i.checked_add(1).ok_or(Error::OutOfRange)?;
        }
        Ok(())
    }

    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    fn flush(&mut self) -> Result<(), Error> {
        // Write-through: nothing of ours to write out.
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_bytes, MemDisk};
    use alloc::vec;

    fn img(blocks: usize) -> Vec<u8> {
        (0..blocks * 512).map(|i| (i / 512) as u8 ^ (i % 7) as u8).collect()
    }

    #[test]
    fn repeated_small_reads_hit() {
        let data = img(64);
        let mut c = CachedDisk::with_capacity(MemDisk::new(data.clone(), 512), 4, 2).unwrap();
        let mut b = vec![0u8; 512];
        c.read_blocks(3, &mut b).unwrap();
        c.read_blocks(3, &mut b).unwrap();
        assert_eq!(b, &data[3 * 512..4 * 512]);
        assert_eq!((c.hits(), c.misses(), c.inner().read_calls()), (1, 1, 1));
        // A two-block read of cached+uncached blocks goes to the device once.
        let mut b2 = vec![0u8; 1024];
        c.read_blocks(3, &mut b2).unwrap();
        assert_eq!(c.inner().read_calls(), 2);
        assert_eq!(b2, &data[3 * 512..5 * 512]);
        c.read_blocks(3, &mut b2).unwrap();
        assert_eq!(c.inner().read_calls(), 2);
        assert_eq!(c.hits(), 2);
    }

    #[test]
    fn large_reads_bypass_and_do_not_evict() {
        let data = img(64);
        let mut c = CachedDisk::with_capacity(MemDisk::new(data.clone(), 512), 4, 2).unwrap();
        let mut b = vec![0u8; 512];
        c.read_blocks(1, &mut b).unwrap();
        let mut big = vec![0u8; 512 * 20];
        c.read_blocks(10, &mut big).unwrap();
        assert_eq!(big, &data[10 * 512..30 * 512]);
        assert_eq!(c.bypassed(), 1);
        assert_eq!(c.inner().read_calls(), 2);
        c.read_blocks(1, &mut b).unwrap();
        assert_eq!(c.inner().read_calls(), 2, "block 1 still cached");
        // read_bytes over the cache keeps the big middle one device call.
        let before = c.inner().read_calls();
        let mut bytes = vec![0u8; 512 * 30 + 10];
        read_bytes(&mut c, 700, &mut bytes).unwrap();
        assert_eq!(bytes, &data[700..700 + bytes.len()]);
        assert!(c.inner().read_calls() - before <= 3);
    }

    #[test]
    fn evicts_least_recently_used() {
        let data = img(64);
        let mut c = CachedDisk::with_capacity(MemDisk::new(data.clone(), 512), 3, 1).unwrap();
        let mut b = vec![0u8; 512];
        for lba in [0, 1, 2, 0, 3] {
            // 0 is touched again before 3 arrives, so 1 is evicted.
            c.read_blocks(lba, &mut b).unwrap();
        }
        let calls = c.inner().read_calls();
        c.read_blocks(0, &mut b).unwrap();
        c.read_blocks(2, &mut b).unwrap();
        c.read_blocks(3, &mut b).unwrap();
        assert_eq!(c.inner().read_calls(), calls);
        c.read_blocks(1, &mut b).unwrap();
        assert_eq!(c.inner().read_calls(), calls + 1);
        assert_eq!(b, &data[512..1024]);
    }

    #[test]
    fn writes_go_through_and_refresh() {
        let data = img(16);
        let mut c = CachedDisk::new(MemDisk::new(data, 512).writable()).unwrap();
        let mut b = vec![0u8; 512];
        c.read_blocks(5, &mut b).unwrap();
        c.write_blocks(4, &[0x5Au8; 1024]).unwrap();
        c.read_blocks(5, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0x5A));
        assert_eq!(c.inner().data()[4 * 512], 0x5A);
        assert_eq!(c.hits(), 1);
        c.invalidate();
        c.read_blocks(5, &mut b).unwrap();
        assert_eq!(c.misses(), 2);
    }

    #[test]
    fn range_errors_match_the_device() {
        let mut c = CachedDisk::new(MemDisk::new(img(8), 512)).unwrap();
        let mut b = vec![0u8; 1024];
        assert_eq!(c.read_blocks(7, &mut b), Err(Error::OutOfRange));
        assert_eq!(c.read_blocks(u64::MAX, &mut b), Err(Error::OutOfRange));
        assert_eq!(c.read_blocks(0, &mut b[..3]), Err(Error::UnalignedBuffer));
        assert_eq!(c.read_blocks(8, &mut []), Ok(()));
        assert_eq!(c.write_blocks(0, &b), Err(Error::ReadOnly));
        assert_eq!(
            CachedDisk::new(MemDisk::new(img(8), 100)).err(),
            Some(Error::UnsupportedBlockSize(100))
        );
    }
}
