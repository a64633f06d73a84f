//! Byte-addressed access to a [`BlockIo`] with two small caches.
//!
//! The FAT's sector size may differ from the device's block size (a 512-byte
//! sector volume on a 4Kn disk, or 4096-byte sectors on a 512-byte disk), so
//! everything above this module works in byte offsets and this module turns
//! them into whole-block reads and writes.
//!
//! Caches (plain copies of device blocks):
//! - one device block, for directory entries, the unaligned ends of data
//!   reads and the read-modify-write of partial blocks;
//! - a window of [`FAT_WINDOW`] bytes of FAT ([`Dev::fat_window`]), which
//!   the chain walks of module `table` decode entries from directly, so
//!   following a chain reads each FAT block once, in large requests.
//!
//! Coherence: every write goes through [`Dev::write_bytes`], which writes
//! whole blocks with [`BlockIo::write_blocks`] and then puts the written
//! bytes into whichever cache holds those blocks; a failed write drops both
//! caches, as the device's contents are then unknown. So the caches are
//! always copies of what the device holds, as long as nothing else writes
//! to the device underneath: a write made through another handle on the
//! same disk (bypassing [`crate::FileSystem::write_at`]) can leave them
//! stale.
//!
//! Invariant: `bs` is a power of two in 512..=65536 (checked in
//! [`Dev::new`]), so
//! every 32-byte directory entry lies inside one block.

use alloc::vec;
use alloc::vec::Vec;

use vmfw_block::BlockIo;

use crate::Error;

/// Bytes of FAT kept in memory: at least two device blocks, so that a
/// FAT12 entry split by a block boundary always fits in one window.
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
        let fat_len =
            usize::try_from(FAT_WINDOW.max(2 * bs)).map_err(|_| Error::BadBlockSize(bs))?;
        Ok(Dev {
            dev,
            bs: u64::from(bs),
            block: vec![0; bsz],
            block_lba: None,
            fat: vec![0; fat_len],
            fat_win: None,
        })
    }

    #[cfg(feature = "write")]
    /// The device block size: the unit a write replaces atomically.
    pub fn block_bytes(&self) -> u64 {
        self.bs
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

    /// Makes the FAT window hold the device bytes `off..off + len` and
    /// returns the window: the device byte offset of its first byte and its
    /// bytes. Callers decode as many FAT entries from one window as it
    /// holds, so a chain walk costs one device request per window rather
    /// than per entry.
    ///
    /// A new window starts at a multiple of its own size, so that a walk in
    /// either direction keeps hitting it; only if `off..off + len` straddles
    /// that window's end (a FAT12 entry split by a block boundary) does it
    /// start at the block of `off` instead. It is clamped to the device end.
    ///
    /// Errors: [`Error::Io`] if the device fails or the bytes lie (partly)
    /// beyond its end.
    pub fn fat_window(&mut self, off: u64, len: usize) -> Result<(u64, &[u8]), Error> {
        let bs = self.bs;
        // A multiple of `bs` (both are powers of two, the window the larger).
        let size = self.fat.len() as u64;
        let end = u64::try_from(len).ok().and_then(|n| off.checked_add(n)).ok_or(OUT_OF_RANGE)?;
        // Whether a window of `valid` bytes from `from` holds `off..end`.
        let holds = |from: u64, valid: u64| from <= off && end - from <= valid;
        if let Some((lba, valid)) = self.fat_win {
            let from = lba.saturating_mul(bs);
            if holds(from, valid as u64) {
                return self.fat.get(..valid).map(|w| (from, w)).ok_or(OUT_OF_RANGE);
            }
        }
        let mut from = off - off % size;
        if end - from > size {
            from = off - off % bs;
        }
        let valid = self.size_bytes().saturating_sub(from).min(size);
        if !holds(from, valid) {
            return Err(OUT_OF_RANGE);
        }
        self.fat_win = None;
        let valid = usize::try_from(valid).map_err(|_| OUT_OF_RANGE)?;
        let dst = self.fat.get_mut(..valid).ok_or(OUT_OF_RANGE)?;
        self.dev.read_blocks(from / bs, dst)?;
        self.fat_win = Some((from / bs, valid));
        Ok((from, dst))
    }
}

impl<D: BlockIo> Dev<D> {
    /// Writes `data` at byte offset `off` of the device, whatever its
    /// alignment: the block-aligned middle as one [`BlockIo::write_blocks`]
    /// call straight from `data`, an unaligned head or tail as a
    /// read-modify-write of its block through the block cache. Both caches
    /// stay coherent (see the module docs).
    ///
    /// Errors: [`Error::ReadOnly`] before anything is written when the
    /// device says it is read-only; [`Error::Io`] from the device (what
    /// came before the failing request is written).
    pub fn write_bytes(&mut self, off: u64, data: &[u8]) -> Result<(), Error> {
        if self.dev.read_only() {
            return Err(Error::ReadOnly);
        }
        let bs = self.bs;
        let bsz = self.block.len();
        let mut pos = off;
        let mut done = 0usize;
        while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            let lba = pos.checked_div(bs).ok_or(OUT_OF_RANGE)?;
            let within = pos.checked_rem(bs).and_then(|w| usize::try_from(w).ok());
            let within = within.ok_or(OUT_OF_RANGE)?;
            let n = if within == 0 && rest.len() >= bsz {
                let whole = rest.len().checked_rem(bsz).and_then(|r| rest.len().checked_sub(r));
                let whole = whole.ok_or(OUT_OF_RANGE)?;
                let src = rest.get(..whole).ok_or(OUT_OF_RANGE)?;
                if let Err(e) = self.dev.write_blocks(lba, src) {
                    self.forget();
                    return Err(e.into());
                }
                self.patch_caches(lba, src);
                whole
            } else {
                let take = rest.len().min(bsz.saturating_sub(within));
                if take == 0 {
                    // Only if the block cache were not one block long.
                    return Err(OUT_OF_RANGE);
                }
                self.load_block(lba)?;
                copy(&mut self.block, within, rest, 0, take);
                if let Err(e) = self.dev.write_blocks(lba, &self.block) {
                    self.forget();
                    return Err(e.into());
                }
                // The block cache now holds the written block; the FAT
                // window may hold it too.
                if let Some((start, len)) = self.fat_win {
                    if !patch(&mut self.fat, start, len, bs, lba, &self.block) {
                        self.fat_win = None;
                    }
                }
                take
            };
            done = done.checked_add(n).ok_or(OUT_OF_RANGE)?;
            pos = pos.checked_add(n as u64).ok_or(OUT_OF_RANGE)?;
        }
        Ok(())
    }

    /// Makes the device's completed writes durable.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.dev.flush().map_err(Error::Io)
    }

    /// Puts `data`, just written at block `lba`, into the caches that hold
    /// any of its blocks (or drops a cache that cannot be patched).
    fn patch_caches(&mut self, lba: u64, data: &[u8]) {
        if let Some(b) = self.block_lba {
            let len = self.block.len();
            if !patch(&mut self.block, b, len, self.bs, lba, data) {
                self.block_lba = None;
            }
        }
        if let Some((start, len)) = self.fat_win {
            if !patch(&mut self.fat, start, len, self.bs, lba, data) {
                self.fat_win = None;
            }
        }
    }

    /// Drops both caches: a write failed, so the device may hold the old
    /// bytes, the new ones or a mix.
    pub(crate) fn forget(&mut self) {
        self.block_lba = None;
        self.fat_win = None;
    }
}

const OUT_OF_RANGE: Error = Error::Io(vmfw_block::Error::OutOfRange);

/// Copies the part of `data` (device bytes written at block `lba`) that
/// falls into `cache[..len]` (a copy of the device from block `start` on).
/// False when the overlap cannot be computed or copied (the caller then
/// drops the cache); true when it was copied or there is none.
fn patch(cache: &mut [u8], start: u64, len: usize, bs: u64, lba: u64, data: &[u8]) -> bool {
    let span = |block: u64, n: usize| -> Option<(u64, u64)> {
        let from = block.checked_mul(bs)?;
        Some((from, from.checked_add(u64::try_from(n).ok()?)?))
    };
    let (Some((c0, c1)), Some((d0, d1))) = (span(start, len), span(lba, data.len())) else {
        return false;
    };
    let (lo, hi) = (c0.max(d0), c1.min(d1));
    if lo >= hi {
        return true;
    }
    let at = |a: u64, base: u64| usize::try_from(a.checked_sub(base)?).ok();
    let (Some(cs), Some(ce), Some(ds), Some(de)) = (at(lo, c0), at(hi, c0), at(lo, d0), at(hi, d0))
    else {
        return false;
    };
    match (cache.get_mut(cs..ce), data.get(ds..de)) {
        (Some(dst), Some(src)) => {
            dst.copy_from_slice(src);
            true
        }
        _ => false,
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

    /// The FAT byte at device offset `off`, through the window.
    fn fat_byte(d: &mut Dev<MemDisk>, off: u64) -> Result<u8, Error> {
        let (from, w) = d.fat_window(off, 1)?;
        Ok(w[(off - from) as usize])
    }

    #[test]
    fn fat_window_is_reused() {
        let mut d = disk(512);
        for off in 0..8192u64 {
            assert_eq!(fat_byte(&mut d, off).unwrap(), (off % 251) as u8);
        }
        assert_eq!(d.dev.read_calls(), 1);
        assert!(fat_byte(&mut d, 40000).is_err());
        assert!(d.fat_window(32767, 2).is_err(), "past the device end");
        assert!(d.fat_window(u64::MAX, 2).is_err());
    }

    #[test]
    fn fat_window_moves_for_a_straddling_entry() {
        let mut d = disk(512);
        let (from, w) = d.fat_window(100, 4).unwrap();
        assert_eq!((from, w.len()), (0, 32768), "clamped to the device end");
        // Bytes 65535 and 65536 lie in two aligned windows: the new window
        // starts at the block of the first.
        let mut d = Dev::new(MemDisk::new(vec![7; 1 << 18], 512)).unwrap();
        let (from, w) = d.fat_window(65535, 2).unwrap();
        assert_eq!((from, w.len()), (65024, 65536));
        assert_eq!(w[65535 - 65024..][..2], [7, 7]);
        // Anything inside it is served without a request.
        let (from2, _) = d.fat_window(65536 + 4000, 4).unwrap();
        assert_eq!((from2, d.dev.read_calls()), (65024, 1));
        // Past it: back to an aligned window.
        let (from3, _) = d.fat_window(3 * 65536 + 8, 4).unwrap();
        assert_eq!((from3, d.dev.read_calls()), (3 * 65536, 2));
        // The largest blocks: the window is two of them, so an entry split
        // by any block boundary still fits.
        let mut d = Dev::new(MemDisk::new(vec![7; 1 << 18], 65536)).unwrap();
        for off in [65535, 2 * 65536 - 1, 3 * 65536 - 1] {
            let (from, w) = d.fat_window(off, 2).unwrap();
            assert_eq!(w[(off - from) as usize..][..2], [7, 7], "{off}");
        }
    }

    fn writable(bs: u32) -> Dev<MemDisk> {
        let img = (0..32768u32).map(|i| (i % 251) as u8).collect();
        Dev::new(MemDisk::new(img, bs).writable()).unwrap()
    }

    #[test]
    fn writes_keep_both_caches_coherent() {
        for bs in [512, 4096] {
            let mut d = writable(bs);
            let mut model: Vec<u8> = d.dev.data().to_vec();
            // Fill the FAT window and the block cache.
            assert_eq!(fat_byte(&mut d, 700).unwrap(), model[700]);
            let mut b = [0u8; 3];
            d.read_bytes(1000, &mut b).unwrap();
            for (off, len) in [(699u64, 3usize), (1001, 1), (0, 8192), (511, 1030), (4095, 2)] {
                let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ 0x5a).collect();
                d.write_bytes(off, &data).unwrap();
                model[off as usize..off as usize + len].copy_from_slice(&data);
                assert_eq!(d.dev.data(), &model[..], "bs {bs} write {off}+{len}");
                // Cached reads see the write.
                for at in [699u64, 700, 701, 1000, 1001, 1002, 4095, 4096] {
                    assert_eq!(fat_byte(&mut d, at).unwrap(), model[at as usize], "fat {at}");
                    let mut one = [0u8; 1];
                    d.read_bytes(at, &mut one).unwrap();
                    assert_eq!(one[0], model[at as usize], "byte {at}");
                }
            }
        }
    }

    #[test]
    fn aligned_writes_are_one_request_and_read_only_is_refused() {
        let mut d = disk(512);
        assert!(matches!(d.write_bytes(0, &[1]), Err(Error::ReadOnly)));
        let mut d = writable(512);
        d.write_bytes(1024, &[9u8; 4096]).unwrap();
        assert_eq!(&d.dev.data()[1024..5120], &[9u8; 4096][..]);
        assert_eq!(d.dev.read_calls(), 0, "no read-modify-write for whole blocks");
        d.write_bytes(100, &[8u8; 10]).unwrap();
        assert_eq!(d.dev.read_calls(), 1);
        assert!(d.write_bytes(32768 - 1, &[0, 0]).is_err());
    }

    #[test]
    fn patch_copies_only_the_overlap() {
        let mut cache = [0u8; 8];
        // Cache holds bytes 512..520 (block 1 of 512, first 8 bytes).
        assert!(patch(&mut cache, 1, 8, 512, 0, &[1u8; 516]));
        assert_eq!(cache, [1, 1, 1, 1, 0, 0, 0, 0]);
        assert!(patch(&mut cache, 1, 8, 512, 2, &[2u8; 512]), "no overlap");
        assert_eq!(cache, [1, 1, 1, 1, 0, 0, 0, 0]);
        assert!(!patch(&mut cache, u64::MAX, 8, 512, 0, &[3u8; 8]), "overflow");
        assert!(!patch(&mut cache, 1, 16, 512, 1, &[3u8; 16]), "cache shorter than len");
    }

    #[test]
    fn rejects_odd_block_sizes() {
        assert!(matches!(
            Dev::new(MemDisk::new(vec![0; 1000], 500)),
            Err(Error::BadBlockSize(500))
        ));
    }
}
