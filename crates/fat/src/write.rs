//! In-place overwrites of existing file bytes, for a file the firmware
//! preallocates and then rewrites (the UEFI variable store's
//! `\EFI\vmfw\VARS.BIN`).
//!
//! What a write may touch: the bytes `0..size` of the file's own clusters,
//! found by the same bounded chain walk as reads. It never extends or
//! truncates a file, never allocates or frees a cluster, and never writes
//! the FAT, a directory entry or a timestamp, so the volume's metadata is
//! exactly what it was and no crash in the middle can corrupt it (the
//! file's bytes, of course, can be half old and half new: a caller that
//! needs atomic updates keeps two copies, as `vmfw_efi::persist` does).
//!
//! Writes go through the module `dev`, which keeps its block and FAT
//! caches coherent, so reads through the same [`FileSystem`] see them.
//! [`FileSystem::flush`] makes them durable.

use vmfw_block::BlockIo;

use crate::table::{self, Run};
use crate::{Error, File, FileSystem};

impl<D: BlockIo> FileSystem<D> {
    /// Overwrites the bytes `offset..offset + data.len()` of `file` with
    /// `data` and returns `data.len()`. The range must lie inside the file
    /// (an empty write at `offset <= size` succeeds and touches nothing);
    /// see the module docs for what is never changed. The file's
    /// attributes (read-only or not) are not looked at: that is for the
    /// caller's file API to decide.
    ///
    /// Each contiguous cluster run in the range is written with one
    /// [`BlockIo::write_blocks`] call for its block-aligned part, plus a
    /// read-modify-write of a partial block at either end.
    ///
    /// Errors: [`Error::ReadOnly`] and [`Error::WriteBeyondEnd`] before
    /// anything is written; those of the chain walk as for
    /// [`FileSystem::read_at`]; [`Error::Io`] from the device, after which
    /// part of the range may hold the new bytes.
    pub fn write_at(&mut self, file: &mut File, offset: u64, data: &[u8]) -> Result<usize, Error> {
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
        Ok(data.len())
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
