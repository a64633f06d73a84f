//! Writes: in-place overwrites, growing and shrinking files, and the FAT
//! primitives under them (the directory operations are in module `dirw`).
//!
//! # Safety gate
//!
//! Before its first metadata write a mount checks, once, that the volume
//! is one we may change ([`FileSystem::check_writable`]):
//! - the device is writable ([`Error::ReadOnly`]);
//! - no walk of this mount met a corrupt chain or directory
//!   ([`Error::VolumeDamaged`]; remembered for the rest of the mount);
//! - the dirty bit is clear: FAT16 FAT\[1\] bit 15 and FAT32 FAT\[1\] bit
//!   27 are the "clean shutdown" bits, and a clear one means the volume was
//!   not unmounted cleanly ([`Error::VolumeDirty`]; FAT12 has no such bit);
//! - every FAT copy that is kept mirrored holds the same bytes over the
//!   entries of clusters `0..count + 2` ([`Error::FatCopiesDiffer`]). A
//!   power cut in the middle of one of our own operations can leave the
//!   copies different (see below), so after such a cut this crate writes
//!   nothing more until fsck has repaired the volume, which is the point.
//!
//! The same first write invalidates the FAT32 FSInfo hints: free count and
//! next-free are set to 0xFFFFFFFF ("unknown", which every reader
//! recomputes) rather than kept up to date, so no later cut can leave them
//! wrong in a way that matters; `fsck.fat` at most notes the unknown
//! count. The backup FSInfo is not touched.
//!
//! # Order of writes, and what a power cut leaves
//!
//! The model: a device writes each block atomically, may reorder writes
//! between two flushes, and keeps everything before a completed flush.
//! Every step below ends with a flush, and each step is safe whatever
//! subset of its own writes lands. `fsck.fat` counts as errors a chain
//! longer or shorter than its file's size, two files sharing a cluster,
//! and orphaned long-name slots, so no step may create one:
//! - A directory entry (long-name slots and short slot together) is only
//!   ever changed by one write of one device block: new entries are placed
//!   in a run of free slots inside one block (the directory grows by a
//!   cluster when it has none; the fixed FAT12/16 root cannot, so there
//!   [`Error::DirectoryFull`]), and an entry whose slots straddle a block
//!   is refused ([`Error::EntrySpansBlocks`]).
//! - A file's cluster count never changes under its entry. Growing past
//!   the last cluster, or shrinking to fewer clusters, is copy-on-write:
//!   1. pick free clusters and write the whole new content into them
//!      (old bytes, new bytes, zeros); they are free, nobody sees them;
//!   2. for each FAT copy in turn: link the new chain (each cluster to the
//!      next, the last to end-of-chain). A cut here leaves clusters that
//!      are in use but owned by no entry (lost clusters) and, between the
//!      copies, FATs that differ only in those lost clusters;
//!   3. rewrite the short entry (first cluster and size) in one block
//!      write: the atomic switch from the old chain to the new;
//!   4. for each FAT copy in turn: free the old chain. A cut here leaves
//!      lost clusters (part of the old chain) and copies that differ in them.
//!
//!   Changes that keep the cluster count (a size inside the last cluster)
//!   write the bytes past the old size first (invisible until the size
//!   says so), then the new size in one block write.
//! - Delete writes 0xE5 into all of the entry's slots (one block write),
//!   then frees the chain copy by copy: lost clusters at worst.
//! - Create writes the new slots (one block write) for an empty file with
//!   no clusters. If the run of free slots lies past the end marker's
//!   block, the slots from the marker on are first marked deleted, block
//!   by block (harmless alone).
//! - Rename rewrites the old and the new slots with one block write when
//!   the new slots fit in the old entry's block, so the file has exactly
//!   one name at every moment. Otherwise it renames by copy: the content
//!   goes to a new chain (steps 1 and 2 above), a new entry names that
//!   chain, then the old entry is deleted and its chain freed; a cut in
//!   between leaves the file under both names, each with its own copy.
//!   Writing a new entry for the old chain instead would leave two entries
//!   sharing one chain, a cross-link fsck reports, if the cut came before
//!   the old slots were deleted.
//!
//! So an interrupted operation leaves at most lost clusters, FAT copies
//! that differ only in those clusters, and an unknown free count, and the
//! file has either its old or its new name, size and content (or, for a
//! rename by copy, both names with the same content).
//!
//! Costs and limits of this order: growing a file past its last cluster
//! rewrites the whole file (the ESP's files are small: loader entries,
//! `grubenv`, the variable file; a UEFI application appending a large file
//! in small pieces pays O(n²)). A directory with no free run of slots in
//! one block grows by one cluster: zeroed, marked end-of-chain, then
//! linked from its last cluster, each step flushed (a lost cluster, then a
//! directory with an empty cluster more: both consistent).
//!
//! The caches of module `dev` see every write, so reads through the same
//! [`FileSystem`] are never stale.

#[cfg(feature = "write")]
use alloc::vec::Vec;

use vmfw_block::BlockIo;

#[cfg(feature = "write")]
use crate::bpb::FatType;
use crate::table::{self, Run};
use crate::{Error, File, FileSystem};

#[cfg(feature = "write")]
/// What the write side of one mount has learned.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteState {
    /// The gate's one-time checks passed (and FSInfo was invalidated).
    checked: bool,
    /// A walk met corruption: refuse all writes.
    damaged: bool,
    /// Where the next free-cluster scan starts.
    next_free: u32,
}

#[cfg(feature = "write")]
impl WriteState {
    /// Records an error a walk returned; corruption closes the gate.
    pub(crate) fn note(&mut self, e: Error) {
        if matches!(
            e,
            Error::ClusterOutOfRange(_)
                | Error::ChainLoop
                | Error::TruncatedChain
                | Error::SizeBeyondVolume(_)
                | Error::DirectoryTooLarge
        ) {
            self.damaged = true;
        }
    }
}

#[cfg(feature = "write")]
impl WriteState {
    /// Makes the next metadata write run the gate's one-time checks again.
    pub(crate) fn recheck(&mut self) {
        self.checked = false;
    }
}

#[cfg(feature = "write")]
const OUT_OF_RANGE: Error = Error::Io(vmfw_block::Error::OutOfRange);

#[cfg(feature = "write")]
/// FSInfo signatures (FAT spec "FAT32 FSInfo Sector Structure").
const FSI_LEAD: u32 = 0x4161_5252;
#[cfg(feature = "write")]
const FSI_STRUC: u32 = 0x6141_7272;
#[cfg(feature = "write")]
const FSI_TRAIL: u32 = 0xAA55_0000;

#[cfg(feature = "write")]
/// Largest FAT file size.
const MAX_FILE: u64 = 0xFFFF_FFFF;

impl<D: BlockIo> FileSystem<D> {
    #[cfg(feature = "write")]
    /// Checks that this volume may be written (see the module docs for the
    /// rule); the one-time checks run on the first call of a mount.
    ///
    /// Errors: [`Error::ReadOnly`], [`Error::VolumeDamaged`],
    /// [`Error::VolumeDirty`], [`Error::FatCopiesDiffer`], [`Error::Io`].
    pub fn check_writable(&mut self) -> Result<(), Error> {
        if self.dev.dev.read_only() {
            return Err(Error::ReadOnly);
        }
        if self.wstate.damaged {
            return Err(Error::VolumeDamaged);
        }
        if self.wstate.checked {
            return Ok(());
        }
        let f1 = self.fat_get(self.geo.fat_offset, 1)?;
        let clean = match self.geo.fat_type {
            FatType::Fat12 => true,
            FatType::Fat16 => f1 & 0x8000 != 0,
            FatType::Fat32 => f1 & 0x0800_0000 != 0,
        };
        if !clean {
            return Err(Error::VolumeDirty);
        }
        self.compare_fats()?;
        self.invalidate_fsinfo()?;
        self.wstate.checked = true;
        self.wstate.next_free = 2;
        Ok(())
    }

    #[cfg(feature = "write")]
    /// Compares every mirrored FAT copy with the first, over the entries
    /// of the volume's clusters.
    fn compare_fats(&mut self) -> Result<(), Error> {
        let copies = self.geo.fat_copies.clone();
        let Some((&first, rest)) = copies.split_first() else {
            return Ok(());
        };
        // Large pieces: the gate runs before the first write of a boot
        // (a boot-counting rename), and a 4 KiB piece cost a FAT32 ESP of
        // 64 MiB some 250 requests where 64 KiB ones take 16.
        const PIECE: u64 = 64 * 1024;
        let total = self.geo.fat_used_bytes;
        let len = usize::try_from(total.min(PIECE)).map_err(|_| OUT_OF_RANGE)?;
        let mut a = Vec::new();
        let mut b = Vec::new();
        a.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
        b.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
        a.resize(len, 0);
        b.resize(len, 0);
        for &other in rest {
            let mut done = 0u64;
            while done < total {
                let n = usize::try_from((total - done).min(PIECE)).map_err(|_| OUT_OF_RANGE)?;
                let (Some(x), Some(y)) = (a.get_mut(..n), b.get_mut(..n)) else {
                    return Err(OUT_OF_RANGE);
                };
                self.dev.read_bytes(first.checked_add(done).ok_or(OUT_OF_RANGE)?, x)?;
                self.dev.read_bytes(other.checked_add(done).ok_or(OUT_OF_RANGE)?, y)?;
                if x != y {
                    return Err(Error::FatCopiesDiffer);
                }
                done += n as u64;
            }
        }
        Ok(())
    }

    #[cfg(feature = "write")]
    /// Sets the FAT32 FSInfo free count and next-free hint to "unknown".
    fn invalidate_fsinfo(&mut self) -> Result<(), Error> {
        let Some(at) = self.geo.fsinfo else {
            return Ok(());
        };
        let mut s = [0u8; 512];
        self.dev.read_bytes(at, &mut s)?;
        let sig = |o: usize| vmfw_bytes::u32_at(&s, o);
        if sig(0) != Some(FSI_LEAD) || sig(484) != Some(FSI_STRUC) || sig(508) != Some(FSI_TRAIL) {
            return Ok(());
        }
        if sig(488) == Some(u32::MAX) && sig(492) == Some(u32::MAX) {
            return Ok(());
        }
        self.dev.write_bytes(at.checked_add(488).ok_or(OUT_OF_RANGE)?, &[0xFF; 8])?;
        self.dev.flush()
    }

    #[cfg(feature = "write")]
    /// Byte offset (in the FAT copy at `base`) and width of cluster `c`'s entry.
    fn fat_pos(&self, base: u64, c: u32) -> Result<(u64, usize), Error> {
        let c64 = u64::from(c);
        let (pos, len) = match self.geo.fat_type {
            FatType::Fat12 => (c64 + c64 / 2, 2),
            FatType::Fat16 => (c64 * 2, 2),
            FatType::Fat32 => (c64 * 4, 4),
        };
        if c > self.geo.max_cluster() {
            return Err(Error::ClusterOutOfRange(c));
        }
        Ok((base.checked_add(pos).ok_or(OUT_OF_RANGE)?, len))
    }

    #[cfg(feature = "write")]
    /// The raw entry of cluster `c` (0..=max) in the FAT copy at `base`
    /// (FAT32: the low 28 bits).
    pub(crate) fn fat_get(&mut self, base: u64, c: u32) -> Result<u32, Error> {
        let (off, len) = self.fat_pos(base, c)?;
        let mut b = [0u8; 4];
        self.dev.read_bytes(off, b.get_mut(..len).ok_or(OUT_OF_RANGE)?)?;
        let w = u32::from_le_bytes(b);
        Ok(match self.geo.fat_type {
            FatType::Fat12 if c & 1 == 1 => (w >> 4) & 0x0FFF,
            FatType::Fat12 => w & 0x0FFF,
            FatType::Fat16 => w & 0xFFFF,
            FatType::Fat32 => w & 0x0FFF_FFFF,
        })
    }

    #[cfg(feature = "write")]
    /// Applies `(cluster, value)` FAT updates to every mirrored copy, one
    /// copy at a time with a flush after each (module docs, steps 2 and 4).
    /// The updates are applied in cluster order, each FAT block read and
    /// written once; the neighbouring FAT12 nibble and FAT32's top 4 bits
    /// are kept.
    pub(crate) fn fat_update(&mut self, updates: &[(u32, u32)]) -> Result<(), Error> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<(u32, u32)> = Vec::new();
        sorted.try_reserve_exact(updates.len()).map_err(|_| Error::OutOfMemory)?;
        sorted.extend_from_slice(updates);
        vmfw_bytes::sort_by_key(&mut sorted, |u| u.0);
        let r = self.fat_update_copies(&sorted);
        if r.is_err() {
            // The copies may now differ: check them again before the next
            // write.
            self.wstate.checked = false;
        }
        r
    }

    #[cfg(feature = "write")]
    fn fat_update_copies(&mut self, sorted: &[(u32, u32)]) -> Result<(), Error> {
        let bs = self.dev.block_bytes();
        let bsz = usize::try_from(bs).map_err(|_| Error::OutOfMemory)?;
        let mut blk = BlockPatch { lba: None, buf: Vec::new() };
        blk.buf.try_reserve_exact(bsz).map_err(|_| Error::OutOfMemory)?;
        blk.buf.resize(bsz, 0);
        let copies = self.geo.fat_copies.clone();
        for base in copies {
            for &(c, v) in sorted {
                let (off, len) = self.fat_pos(base, c)?;
                let mut b = [0u8; 4];
                for (k, byte) in b.iter_mut().enumerate().take(len) {
                    *byte = *self.fat_byte(&mut blk, off.saturating_add(k as u64))?;
                }
                let w = u32::from_le_bytes(b);
                let new = match self.geo.fat_type {
                    FatType::Fat12 if c & 1 == 1 => (w & 0xFFFF_000F) | ((v & 0x0FFF) << 4),
                    FatType::Fat12 => (w & 0xFFFF_F000) | (v & 0x0FFF),
                    FatType::Fat16 => (w & 0xFFFF_0000) | (v & 0xFFFF),
                    FatType::Fat32 => (w & 0xF000_0000) | (v & 0x0FFF_FFFF),
                };
                for (k, nb) in new.to_le_bytes().iter().enumerate().take(len) {
                    *self.fat_byte(&mut blk, off.saturating_add(k as u64))? = *nb;
                }
            }
            self.put_block(&mut blk)?;
            self.dev.flush()?;
        }
        Ok(())
    }

    #[cfg(feature = "write")]
    /// The byte at device offset `off`, in `blk` (which is written back
    /// and replaced when `off` lies in another block).
    fn fat_byte<'b>(&mut self, blk: &'b mut BlockPatch, off: u64) -> Result<&'b mut u8, Error> {
        let bs = self.dev.block_bytes();
        let lba = off / bs;
        if blk.lba != Some(lba) {
            self.put_block(blk)?;
            self.dev.read_bytes(lba.checked_mul(bs).ok_or(OUT_OF_RANGE)?, &mut blk.buf)?;
            blk.lba = Some(lba);
        }
        let at = usize::try_from(off % bs).map_err(|_| OUT_OF_RANGE)?;
        blk.buf.get_mut(at).ok_or(OUT_OF_RANGE)
    }

    #[cfg(feature = "write")]
    /// Writes `blk` back (one block write) if it holds a block.
    fn put_block(&mut self, blk: &mut BlockPatch) -> Result<(), Error> {
        if let Some(lba) = blk.lba.take() {
            let off = lba.checked_mul(self.dev.block_bytes()).ok_or(OUT_OF_RANGE)?;
            self.dev.write_bytes(off, &blk.buf)?;
        }
        Ok(())
    }

    #[cfg(feature = "write")]
    /// Whether cluster `c`'s FAT12 entry straddles a device block in some
    /// copy: such an entry cannot be written atomically, so allocation
    /// skips these clusters (one in about 340 on a 512-byte device).
    fn straddles(&self, c: u32) -> bool {
        if self.geo.fat_type != FatType::Fat12 {
            return false;
        }
        let bs = self.dev.block_bytes();
        self.geo
            .fat_copies
            .iter()
            .any(|&base| self.fat_pos(base, c).map_or(true, |(off, _)| off % bs == bs - 1))
    }

    #[cfg(feature = "write")]
    /// Finds `n` free clusters (entry 0 in the active FAT), scanning at
    /// most once around the volume from the last allocation.
    ///
    /// Errors: [`Error::VolumeFull`], [`Error::OutOfMemory`], [`Error::Io`].
    pub(crate) fn find_free(&mut self, n: u32) -> Result<Vec<u32>, Error> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        if n > self.geo.cluster_count {
            return Err(Error::VolumeFull);
        }
        out.try_reserve_exact(n as usize).map_err(|_| Error::OutOfMemory)?;
        let count = self.geo.cluster_count;
        let mut c = self.wstate.next_free;
        let active = self.geo.fat_offset;
        for _ in 0..count {
            if !self.geo.valid_cluster(c) {
                c = 2;
            }
            if !self.straddles(c) && self.fat_get(active, c)? == 0 {
                out.push(c);
                if out.len() == n as usize {
                    self.wstate.next_free = c.saturating_add(1);
                    return Ok(out);
                }
            }
            c = c.saturating_add(1);
        }
        Err(Error::VolumeFull)
    }

    #[cfg(feature = "write")]
    /// The end-of-chain value written for a file's last cluster.
    pub(crate) fn eoc(&self) -> u32 {
        match self.geo.fat_type {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }

    #[cfg(feature = "write")]
    /// Overwrites bytes of `file` at `offset` with `data`, growing the
    /// file when the write ends past its size (the gap, if `offset` is past
    /// the end, reads as zeros). Returns `data.len()`. The file's
    /// attributes are not looked at: that is for the caller's file API.
    ///
    /// A write inside the file changes no metadata: each contiguous run is
    /// one [`BlockIo::write_blocks`] call for its block-aligned part plus a
    /// read-modify-write of a partial block at either end, so after a cut
    /// the range may be half old and half new. A write that grows the file
    /// goes through the gate and the order of the module docs: bytes past
    /// the old size become visible only with the new size, together with
    /// any new clusters (copy-on-write when the cluster count grows, so
    /// the old bytes are then written anew too).
    ///
    /// Errors: [`Error::ReadOnly`]; [`Error::WriteBeyondEnd`] past 4 GiB;
    /// the gate's errors when the file grows; those of the chain walk as
    /// for [`FileSystem::read_at`]; [`Error::VolumeFull`]; [`Error::Io`].
    pub fn write_at(&mut self, file: &mut File, offset: u64, data: &[u8]) -> Result<usize, Error> {
        if self.dev.dev.read_only() {
            return Err(Error::ReadOnly);
        }
        let size = file.size();
        let end = u64::try_from(data.len()).ok().and_then(|n| offset.checked_add(n));
        let end = match end {
            Some(end) if end <= MAX_FILE => end,
            _ => return Err(Error::WriteBeyondEnd { end: end.unwrap_or(u64::MAX), size }),
        };
        if end > size {
            self.resize(file, end, offset, data)?;
            return Ok(data.len());
        }
        if data.is_empty() {
            return Ok(0);
        }
        self.overwrite(file, offset, data)?;
        Ok(data.len())
    }

    /// Overwrites bytes inside `file` only: `offset..offset + data.len()`
    /// must lie within its size ([`Error::WriteBeyondEnd`] otherwise,
    /// before anything is written). Writes no FAT, directory entry or
    /// FSInfo, so it needs no gate and no crash can damage the volume's
    /// metadata (the file's bytes may be half old, half new). For callers
    /// that preallocate and rewrite a file (the firmware's variable
    /// store): it links none of the code that grows files.
    pub fn overwrite_at(
        &mut self,
        file: &mut File,
        offset: u64,
        data: &[u8],
    ) -> Result<usize, Error> {
        if self.dev.dev.read_only() {
            return Err(Error::ReadOnly);
        }
        let size = file.size();
        let end = u64::try_from(data.len()).ok().and_then(|n| offset.checked_add(n));
        match end {
            Some(end) if end <= size => {}
            _ => return Err(Error::WriteBeyondEnd { end: end.unwrap_or(u64::MAX), size }),
        }
        if data.is_empty() {
            return Ok(0);
        }
        self.overwrite(file, offset, data)?;
        Ok(data.len())
    }

    /// Writes `data` at `offset` into the clusters of `file`'s chain,
    /// which must cover `offset..offset + data.len()`.
    fn overwrite(&mut self, file: &mut File, offset: u64, data: &[u8]) -> Result<(), Error> {
        let cs = u64::from(self.geo.cluster_size);
        let runs = self.walk_chain(file)?;
        let mut pos = offset;
        let mut done = 0usize;
        while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            let (disk_off, seg) = self.locate(runs, cs, pos, rest.len())?;
            let src = rest.get(..seg).ok_or(Error::TruncatedChain)?;
            self.dev.write_bytes(disk_off, src)?;
            done = done.checked_add(seg).ok_or(Error::TruncatedChain)?;
            pos = pos.saturating_add(seg as u64);
        }
        Ok(())
    }

    #[cfg(feature = "write")]
    /// Sets the size of `file` to `len`: growing zero-fills, shrinking
    /// frees the clusters no longer needed. See the module docs for the
    /// order of writes (copy-on-write when the cluster count changes).
    ///
    /// Errors: [`Error::WriteBeyondEnd`] past 4 GiB; the gate's errors;
    /// [`Error::NotFound`] if the file's entry is gone or changed;
    /// [`Error::VolumeFull`]; chain-walk errors; [`Error::Io`].
    pub fn set_len(&mut self, file: &mut File, len: u64) -> Result<(), Error> {
        if len > MAX_FILE {
            return Err(Error::WriteBeyondEnd { end: len, size: file.size() });
        }
        if len == file.size() {
            return Ok(());
        }
        self.resize(file, len, len, &[])
    }

    #[cfg(feature = "write")]
    /// Gives `file` size `len` and `data` at `at` (inside `0..len`).
    fn resize(&mut self, file: &mut File, len: u64, at: u64, data: &[u8]) -> Result<(), Error> {
        self.check_writable()?;
        if file.entry.is_dir() {
            return Err(Error::IsADirectory);
        }
        let pos = file.entry.pos.ok_or(Error::NotFound)?;
        let cs = u64::from(self.geo.cluster_size);
        let old_len = file.size();
        let old_n = old_len.div_ceil(cs);
        let new_n = len.div_ceil(cs);
        // Walk the old chain first: a damaged one refuses before any write.
        let old_runs: Vec<Run> = self.walk_chain(file)?.to_vec();
        let short = self.check_short(pos.short_off, &file.entry)?;
        if old_n == new_n {
            // Same clusters: bytes past the old size are invisible until
            // the size covers them.
            if len > old_len {
                let gap = usize::try_from(len - old_len).map_err(|_| Error::OutOfMemory)?;
                let mut tail = Vec::new();
                tail.try_reserve_exact(gap).map_err(|_| Error::OutOfMemory)?;
                tail.resize(gap, 0);
                overlay(&mut tail, old_len, at, data);
                self.overwrite(file, old_len, &tail)?;
            }
            // The part of `data` inside the old size: in place.
            if at < old_len && !data.is_empty() {
                let inside =
                    usize::try_from(old_len - at).map_or(data.len(), |n| n.min(data.len()));
                self.overwrite(file, at, data.get(..inside).unwrap_or(&[]))?;
            }
            self.dev.flush()?;
            let first = file.entry.first_cluster;
            self.set_short(pos.short_off, short, first, len)?;
            file.entry.size = u32::try_from(len).map_err(|_| OUT_OF_RANGE)?;
            return Ok(());
        }
        // Copy-on-write: steps 1 and 2.
        let fresh = self.new_chain(file, len, at, data)?;
        // Step 3: switch the entry.
        let first = fresh.first().copied().unwrap_or(0);
        self.set_short(pos.short_off, short, first, len)?;
        file.entry.size = u32::try_from(len).map_err(|_| OUT_OF_RANGE)?;
        file.entry.first_cluster = first;
        file.runs = None;
        // Step 4: free the old chain.
        self.free_runs(&old_runs)?;
        Ok(())
    }

    #[cfg(feature = "write")]
    /// Steps 1 and 2 of copy-on-write (module docs): writes `file`'s first
    /// `len` bytes, with `data` at `at` over them and zeros past the old
    /// size, into new clusters, then links them in every FAT copy. Returns
    /// the new chain (empty for `len` 0), which no entry owns yet.
    pub(crate) fn new_chain(
        &mut self,
        file: &mut File,
        len: u64,
        at: u64,
        data: &[u8],
    ) -> Result<Vec<u32>, Error> {
        let cs = u64::from(self.geo.cluster_size);
        let old_len = file.size();
        let new_n = len.div_ceil(cs);
        // Step 1: the new content in free clusters.
        let want = u32::try_from(new_n).map_err(|_| Error::VolumeFull)?;
        let fresh = self.find_free(want)?;
        let csz = usize::try_from(cs).map_err(|_| Error::OutOfMemory)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(csz).map_err(|_| Error::OutOfMemory)?;
        buf.resize(csz, 0);
        let keep = old_len.min(len);
        for (i, &c) in fresh.iter().enumerate() {
            let start = (i as u64).checked_mul(cs).ok_or(OUT_OF_RANGE)?;
            buf.fill(0);
            if start < keep {
                let n = usize::try_from((keep - start).min(cs)).map_err(|_| OUT_OF_RANGE)?;
                let dst = buf.get_mut(..n).ok_or(OUT_OF_RANGE)?;
                self.read_into(file, start, dst, n)?;
            }
            overlay(&mut buf, start, at, data);
            let end = start.saturating_add(cs);
            if end > len {
                // Bytes past the size stay zero (fsck does not look, but
                // old data must not leak into a new file's slack).
                let from = usize::try_from(len.saturating_sub(start)).map_err(|_| OUT_OF_RANGE)?;
                if let Some(t) = buf.get_mut(from..) {
                    t.fill(0);
                }
            }
            let off = self.geo.cluster_offset(c)?;
            self.dev.write_bytes(off, &buf)?;
        }
        self.dev.flush()?;
        // Step 2: link the new chain in every copy.
        let eoc = self.eoc();
        let mut links = Vec::new();
        links.try_reserve_exact(fresh.len()).map_err(|_| Error::OutOfMemory)?;
        for (i, &c) in fresh.iter().enumerate() {
            links.push((c, fresh.get(i + 1).copied().unwrap_or(eoc)));
        }
        self.fat_update(&links)?;
        Ok(fresh)
    }

    #[cfg(feature = "write")]
    /// Frees every cluster of `runs` in every FAT copy.
    pub(crate) fn free_runs(&mut self, runs: &[Run]) -> Result<(), Error> {
        let mut frees = Vec::new();
        for r in runs {
            for k in 0..r.len {
                frees.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                frees.push((r.disk_cluster.checked_add(k).ok_or(OUT_OF_RANGE)?, 0));
            }
        }
        self.fat_update(&frees)
    }

    #[cfg(feature = "write")]
    /// Reads the short slot at `off` and checks that it still describes
    /// `entry` (same first cluster and size, not deleted): a stale handle
    /// must not overwrite another file's entry.
    pub(crate) fn check_short(
        &mut self,
        off: u64,
        entry: &crate::Entry,
    ) -> Result<[u8; 32], Error> {
        let raw = self.dev.dir_entry(off)?;
        let fat32 = self.geo.fat_type == FatType::Fat32;
        let now = crate::dir::entry_from(&raw, None, fat32);
        if matches!(raw[0], 0x00 | 0xE5)
            || now.first_cluster != entry.first_cluster
            || now.size != entry.size
            || now.attr != entry.attr
        {
            return Err(Error::NotFound);
        }
        Ok(raw)
    }

    #[cfg(feature = "write")]
    /// Rewrites the short slot at `off` (currently `raw`) with first
    /// cluster `first` and size `len`: one block write, then a flush.
    fn set_short(
        &mut self,
        off: u64,
        mut raw: [u8; 32],
        first: u32,
        len: u64,
    ) -> Result<(), Error> {
        let size = u32::try_from(len).map_err(|_| OUT_OF_RANGE)?;
        if self.geo.fat_type == FatType::Fat32 {
            vmfw_bytes::put(&mut raw, 20, &((first >> 16) as u16).to_le_bytes());
        }
        vmfw_bytes::put(&mut raw, 26, &(first as u16).to_le_bytes());
        vmfw_bytes::put(&mut raw, 28, &size.to_le_bytes());
        self.dev.write_bytes(off, &raw)?;
        self.dev.flush()
    }

    /// Makes the writes made so far durable: [`BlockIo::flush`] on the
    /// device (which does nothing for a device without a write cache).
    ///
    /// Errors: [`Error::Io`].
    pub fn flush(&mut self) -> Result<(), Error> {
        self.dev.flush()
    }

    /// Where file byte `pos` is on the device, and how many of the `want`
    /// bytes from there on are contiguous there (up to the end of its
    /// cluster run): `(device byte offset, length)`, length at least 1.
    pub(crate) fn locate(
        &self,
        runs: &[Run],
        cs: u64,
        pos: u64,
        want: usize,
    ) -> Result<(u64, usize), Error> {
        let fc = pos.checked_div(cs).and_then(|c| u32::try_from(c).ok());
        let fc = fc.ok_or(Error::TruncatedChain)?;
        let run =
            table::find_run(runs, fc).and_then(|i| runs.get(i)).ok_or(Error::TruncatedChain)?;
        let disk_cluster = run
            .disk_cluster
            .checked_add(fc.saturating_sub(run.file_cluster))
            .ok_or(Error::ClusterOutOfRange(run.disk_cluster))?;
        let disk_off = self
            .geo
            .cluster_offset(disk_cluster)?
            .checked_add(pos.checked_rem(cs).ok_or(Error::TruncatedChain)?)
            .ok_or(Error::ClusterOutOfRange(disk_cluster))?;
        let run_end = u64::from(run.file_cluster.saturating_add(run.len)).saturating_mul(cs);
        let seg = usize::try_from(run_end.saturating_sub(pos)).map_or(want, |s| s.min(want));
        if seg == 0 {
            return Err(Error::TruncatedChain);
        }
        Ok((disk_off, seg))
    }
}

#[cfg(feature = "write")]
/// One device block of FAT being changed by [`FileSystem::fat_update`].
struct BlockPatch {
    lba: Option<u64>,
    buf: Vec<u8>,
}

#[cfg(feature = "write")]
/// Copies the part of `data` (file bytes from `at`) that falls into `buf`
/// (file bytes from `start`).
fn overlay(buf: &mut [u8], start: u64, at: u64, data: &[u8]) {
    let buf_end = start.saturating_add(buf.len() as u64);
    let data_end = at.saturating_add(data.len() as u64);
    let (lo, hi) = (start.max(at), buf_end.min(data_end));
    if lo >= hi {
        return;
    }
    let (Ok(b0), Ok(d0), Ok(n)) =
        (usize::try_from(lo - start), usize::try_from(lo - at), usize::try_from(hi - lo))
    else {
        return;
    };
    if let (Some(dst), Some(src)) =
        (buf.get_mut(b0..b0.saturating_add(n)), data.get(d0..d0.saturating_add(n)))
    {
        dst.copy_from_slice(src);
    }
}
