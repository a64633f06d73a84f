//! FAT12/16/32 with long file names, over any [`BlockIo`]: reading, and
//! writing files in a directory: [`FileSystem::create`],
//! [`FileSystem::write_at`] (in place, or growing the file),
//! [`FileSystem::set_len`], [`FileSystem::rename`] and
//! [`FileSystem::delete`]. Directories are not created, removed or renamed
//! by copy; they only grow by a zeroed cluster when a new name needs room.
//!
//! Writes are ordered so that a power cut at any point leaves a volume
//! that fsck finds consistent but for lost clusters, FAT copies that
//! differ only in those, and an unknown FAT32 free count, with each file
//! under its old or its new name and content; and they are refused on a
//! volume that looks unsafe to change (dirty, FAT copies differ, or a
//! damaged chain met). The rules and the order are in the module docs of
//! `write` (private), summarised at [`FileSystem::check_writable`].
//!
//! Specifications: Microsoft "FAT: General Overview of On-Disk Format" 1.03
//! (cited as "FAT spec" with the heading of its section, as the document
//! has no section numbers) and UEFI 2.10 §13.3 "File System Format" (the
//! EFI System Partition is FAT12/16/32).
//!
//! ```no_run
//! # fn main() -> Result<(), vmfw_fat::Error> {
//! use vmfw_block::MemDisk;
//! use vmfw_fat::FileSystem;
//!
//! let disk = MemDisk::new(std::vec::Vec::new(), 512); // a partition view
//! let mut fs = FileSystem::mount(disk)?;
//! let mut file = fs.open("/loader/entries/a.conf")?;
//! let text = fs.read_to_vec(&mut file, 64 * 1024)?;
//! for entry in fs.read_dir(fs.root_dir()) {
//!     let entry = entry?;
//!     let _ = (entry.name(), entry.size(), entry.is_dir(), entry.modified());
//! }
//! # let _ = text;
//! # Ok(())
//! # }
//! ```
//!
//! Structure and invariants:
//! - [`FileSystem::mount`] validates the boot sector once (module `bpb`):
//!   afterwards every region lies inside the device and every cluster number
//!   in `2..=max` maps to readable bytes, so later code only has to check
//!   cluster numbers, never recompute the layout.
//! - Sector size and device block size are independent: all positions are
//!   byte offsets, turned into whole-block reads in one place (module `dev`).
//! - Every value read from the disk is checked before use: cluster numbers
//!   against `2..=max`, sizes against the data region, arithmetic with
//!   `checked_*`. Nothing here indexes with an untrusted value or panics on
//!   any image; corruption maps to one [`Error`] variant.
//! - Every walk is bounded: file chains by the clusters the size needs plus
//!   a revisit check, directory chains by Brent's cycle detection, the
//!   cluster count and the 65536-entry limit, path lookups by the number of
//!   path components. A tree walk that follows subdirectories must bound its
//!   own depth: a hostile image can make a subdirectory point at an
//!   ancestor.
//! - Reads are big: a file's contiguous cluster runs are each read with one
//!   [`BlockIo::read_blocks`] call straight into the caller's buffer; only
//!   unaligned ends go through a one-block cache. The FAT is read in 64 KiB
//!   windows, and a file's chain is walked once, on its first read, by a
//!   tight loop that decodes the entries straight from the window (module
//!   `table`); the resulting run list then answers every offset.
//!
//! Handles ([`Dir`], [`DirCursor`], [`Entry`], [`File`]) are plain data that
//! do not borrow the file system; operations take `&mut FileSystem`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod bpb;
mod dev;
mod dir;
#[cfg(feature = "write")]
mod dirw;
mod error;
mod file;
mod name;
mod table;
mod time;
/// The write side: safety gate, FAT allocation, and the order of writes
/// that keeps every power-cut state consistent (read this module's docs).
pub mod write;

use alloc::string::String;
use alloc::vec::Vec;

use vmfw_block::BlockIo;

pub use bpb::FatType;
pub use dir::{Attributes, Dir, DirCursor, Entry};
pub use error::Error;
pub use file::File;
pub use time::Timestamp;

use bpb::{Geometry, RootLocation};
use dev::Dev;
use dir::{classify, entry_from, LongName, Slot, MAX_DIR_ENTRIES};
use table::Next;

/// Facts about a mounted volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeInfo {
    /// FAT12, FAT16 or FAT32, by cluster count.
    pub fat_type: FatType,
    /// `BPB_BytsPerSec`.
    pub bytes_per_sector: u32,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Number of data clusters (valid cluster numbers are `2..=count + 1`).
    pub cluster_count: u32,
    /// Bytes in the data region (`cluster_count * cluster_size`).
    pub data_bytes: u64,
    /// `BS_VolID`, when the extended boot signature is present.
    pub volume_id: Option<u32>,
}

/// A mounted FAT volume on block device `D` (typically a partition view).
#[derive(Debug)]
pub struct FileSystem<D: BlockIo> {
    dev: Dev<D>,
    geo: Geometry,
    /// What the write side knows about the volume (module `write`).
    #[cfg(feature = "write")]
    wstate: write::WriteState,
}

impl<D: BlockIo> FileSystem<D> {
    /// Reads and validates the boot sector of the volume that starts at
    /// byte 0 of `dev`.
    ///
    /// Errors: the BPB variants of [`Error`] for a malformed boot sector,
    /// [`Error::VolumeBeyondDevice`] if the volume does not fit on `dev`,
    /// [`Error::BadBlockSize`] or [`Error::Io`] for device trouble.
    pub fn mount(dev: D) -> Result<Self, Error> {
        let mut dev = Dev::new(dev)?;
        let mut boot = [0u8; 512];
        dev.read_bytes(0, &mut boot)?;
        let geo = Geometry::parse(&boot, dev.size_bytes())?;
        Ok(FileSystem {
            dev,
            geo,
            #[cfg(feature = "write")]
            wstate: write::WriteState::default(),
        })
    }

    /// Layout facts about the volume.
    pub fn info(&self) -> VolumeInfo {
        VolumeInfo {
            fat_type: self.geo.fat_type,
            bytes_per_sector: self.geo.bytes_per_sector,
            cluster_size: self.geo.cluster_size,
            cluster_count: self.geo.cluster_count,
            data_bytes: self.geo.data_bytes(),
            volume_id: self.geo.volume_id,
        }
    }

    /// The FAT variant.
    pub fn fat_type(&self) -> FatType {
        self.geo.fat_type
    }

    /// The underlying device.
    pub fn device(&self) -> &D {
        &self.dev.dev
    }

    /// Unmounts and returns the device.
    pub fn into_inner(self) -> D {
        self.dev.dev
    }

    /// Forgets every cached block of the volume, for when something
    /// wrote the device underneath this mount (a UEFI Block I/O client):
    /// the next read goes to the device, and the next metadata write runs
    /// the write gate's checks again. The geometry read at mount time is
    /// kept (a rewritten boot sector needs a new mount).
    pub fn invalidate(&mut self) {
        self.dev.forget();
        #[cfg(feature = "write")]
        self.wstate.recheck();
    }

    /// The root directory.
    pub fn root_dir(&self) -> Dir {
        match self.geo.root {
            RootLocation::Fixed { .. } => Dir { cluster: 0 },
            RootLocation::Cluster(c) => Dir { cluster: c },
        }
    }

    /// An [`Entry`] standing for the root directory, which has none on
    /// disk: empty name, directory attribute, no timestamps.
    pub fn root_entry(&self) -> Entry {
        Entry {
            long_name: None,
            short_name: String::new(),
            attr: Attributes(Attributes::DIRECTORY),
            size: 0,
            first_cluster: self.root_dir().cluster,
            created: None,
            modified: None,
            accessed: None,
            is_root: true,
            #[cfg(feature = "write")]
            pos: None,
        }
    }

    /// The directory that `entry` describes. A `..` entry with cluster 0
    /// (FAT spec "FAT Directory Structure": the parent is the root) yields the root.
    ///
    /// Errors: [`Error::NotADirectory`], [`Error::ClusterOutOfRange`].
    pub fn dir_of(&self, entry: &Entry) -> Result<Dir, Error> {
        if !entry.is_dir() {
            return Err(Error::NotADirectory);
        }
        if entry.is_root {
            return Ok(self.root_dir());
        }
        let c = entry.first_cluster;
        if c == 0 && entry.is_dot() && entry.short_name == ".." {
            return Ok(self.root_dir());
        }
        if !self.geo.valid_cluster(c) {
            return Err(Error::ClusterOutOfRange(c));
        }
        Ok(Dir { cluster: c })
    }

    /// Iterates over the entries of `dir`, `.` and `..` included. After an
    /// error the iterator ends.
    pub fn read_dir(&mut self, dir: Dir) -> DirIter<'_, D> {
        DirIter { fs: self, cursor: DirCursor::new(dir) }
    }

    /// Returns the entry at `cursor` and advances it; `Ok(None)` at the end
    /// of the directory. After an error the cursor stays at the end.
    pub fn next_entry(&mut self, cursor: &mut DirCursor) -> Result<Option<Entry>, Error> {
        let r = self.next_entry_inner(cursor);
        #[cfg(feature = "write")]
        if let Err(e) = r {
            self.wstate.note(e);
        }
        if !matches!(r, Ok(Some(_))) {
            cursor.done = true;
        }
        r
    }

    fn next_entry_inner(&mut self, cursor: &mut DirCursor) -> Result<Option<Entry>, Error> {
        if cursor.done {
            return Ok(None);
        }
        let mut long = LongName::new();
        // Offset and index of the slot that began the current long-name run.
        #[cfg(feature = "write")]
        let mut run_start = (0u64, 0u32);
        loop {
            #[cfg(feature = "write")]
            let index = cursor.index;
            let Some((off, raw)) = self.slot(cursor)? else {
                return Ok(None);
            };
            cursor.index = cursor.index.saturating_add(1);
            match classify(&raw) {
                Slot::End => return Ok(None),
                Slot::Skip => long.reset(),
                Slot::Long => {
                    #[cfg(feature = "write")]
                    if raw[0] & 0x40 != 0 {
                        run_start = (off, index);
                    }
                    long.push(&raw)
                }
                Slot::Short => {
                    let mut short = [0u8; 11];
                    if let Some(s) = raw.first_chunk::<11>() {
                        short = *s;
                    }
                    let name = long.take(&short);
                    let fat32 = self.geo.fat_type == FatType::Fat32;
                    #[cfg(feature = "write")]
                    let (first_off, first_index) =
                        if name.is_some() { run_start } else { (off, index) };
                    #[allow(unused_mut)] // set only with the write side
                    let mut e = entry_from(&raw, name, fat32);
                    #[cfg(feature = "write")]
                    {
                        e.pos = Some(dir::SlotPos {
                            dir: cursor.dir,
                            first_off,
                            short_off: off,
                            slots: index.saturating_sub(first_index).saturating_add(1),
                        });
                    }
                    let _ = off;
                    return Ok(Some(e));
                }
            }
        }
    }

    /// Reads the raw 32-byte slot at the cursor, following the cluster
    /// chain as needed, with its device byte offset; `None` past the last
    /// slot the directory has.
    // Out of line: inlined into the directory reader it cost the x86_64
    // firmware 270 bytes of its size budget, for one call per 32-byte slot.
    #[inline(never)]
    pub(crate) fn slot(
        &mut self,
        cursor: &mut DirCursor,
    ) -> Result<Option<(u64, [u8; 32])>, Error> {
        let idx = cursor.index;
        let off = match (cursor.dir.cluster, self.geo.root) {
            (0, RootLocation::Fixed { offset, entries }) => {
                if idx >= entries {
                    return Ok(None);
                }
                offset.checked_add(u64::from(idx) * 32).ok_or(Error::DirectoryTooLarge)?
            }
            (0, RootLocation::Cluster(_)) => return Err(Error::ClusterOutOfRange(0)),
            _ => {
                if idx >= MAX_DIR_ENTRIES {
                    return Err(Error::DirectoryTooLarge);
                }
                let per = (self.geo.cluster_size / 32).max(1);
                let ci = idx / per;
                while cursor.cluster_index < ci {
                    match table::next(&mut self.dev, &self.geo, cursor.cluster)? {
                        Next::End => return Ok(None),
                        Next::Cluster(n) => {
                            cursor.guard.step(n, self.geo.cluster_count)?;
                            cursor.cluster = n;
                            cursor.cluster_index += 1;
                        }
                    }
                }
                self.geo
                    .cluster_offset(cursor.cluster)?
                    .checked_add(u64::from(idx % per) * 32)
                    .ok_or(Error::ClusterOutOfRange(cursor.cluster))?
            }
        };
        self.dev.dir_entry(off).map(|raw| Some((off, raw)))
    }

    /// Finds `name` (long or short, case-insensitive) in `dir`.
    ///
    /// Errors: [`Error::NotFound`], or whatever reading the directory hit
    /// before the name was found.
    pub fn find(&mut self, dir: Dir, name: &str) -> Result<Entry, Error> {
        let mut cursor = DirCursor::new(dir);
        while let Some(e) = self.next_entry(&mut cursor)? {
            let long = e.long_name.as_deref().is_some_and(|l| name::eq_ignore_case(l, name));
            if long || name::eq_ignore_case(&e.short_name, name) {
                return Ok(e);
            }
        }
        Err(Error::NotFound)
    }

    /// Looks up an absolute path such as `/loader/entries/a.conf` or
    /// `\EFI\BOOT\BOOTX64.EFI`: `/` and `\` both separate, empty and `.`
    /// components are skipped, `..` goes to the parent (and stays at the
    /// root), and names match long or short names case-insensitively.
    /// `"/"` or `""` yields [`FileSystem::root_entry`].
    ///
    /// Errors: [`Error::NotFound`], [`Error::NotADirectory`] for a file used
    /// as a directory, [`Error::InvalidPath`] for a component no FAT name
    /// can match, or a corruption error met on the way.
    pub fn lookup(&mut self, path: &str) -> Result<Entry, Error> {
        let root = self.root_entry();
        self.lookup_from(&root, path)
    }

    /// Like [`FileSystem::lookup`], relative to directory `start` unless
    /// `path` begins with a separator.
    ///
    /// `..` returns to the entry this lookup came through; above `start` it
    /// follows the directory's on-disk `..` entry (so the result is named
    /// `..`, or is the root entry when that points at the root).
    pub fn lookup_from(&mut self, start: &Entry, path: &str) -> Result<Entry, Error> {
        let mut cur = if path.starts_with(['/', '\\']) { self.root_entry() } else { start.clone() };
        // Entries walked through, for `..`; bounded by the path's length.
        let mut parents: Vec<Entry> = Vec::new();
        for comp in path.split(['/', '\\']) {
            if comp.is_empty() || comp == "." {
                continue;
            }
            // No FAT name is longer than 255 UTF-16 units or holds a NUL.
            if comp.encode_utf16().nth(255).is_some() || comp.contains('\0') {
                return Err(Error::InvalidPath);
            }
            let dir = self.dir_of(&cur)?;
            if comp == ".." {
                if let Some(p) = parents.pop() {
                    cur = p;
                    continue;
                }
                if cur.is_root {
                    continue;
                }
            }
            let found = self.find(dir, comp)?;
            let next = if found.short_name == ".." && self.is_root_cluster(found.first_cluster) {
                self.root_entry()
            } else {
                found
            };
            if comp != ".." {
                parents.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                parents.push(cur);
            }
            cur = next;
        }
        Ok(cur)
    }

    fn is_root_cluster(&self, c: u32) -> bool {
        c == 0 || self.root_dir().cluster == c
    }

    /// Opens the file that `entry` describes for reading. Cheap: the chain
    /// is walked by the first read.
    ///
    /// Errors: [`Error::IsADirectory`], [`Error::SizeBeyondVolume`] if the
    /// size exceeds the data region, [`Error::ClusterOutOfRange`] for a
    /// non-empty file without a valid first cluster.
    pub fn open_file(&self, entry: &Entry) -> Result<File, Error> {
        if entry.is_dir() {
            return Err(Error::IsADirectory);
        }
        let size = entry.size();
        if size > self.geo.data_bytes() {
            return Err(Error::SizeBeyondVolume(size));
        }
        if size > 0 && !self.geo.valid_cluster(entry.first_cluster) {
            return Err(Error::ClusterOutOfRange(entry.first_cluster));
        }
        Ok(File { entry: entry.clone(), runs: None })
    }

    /// [`FileSystem::lookup`] followed by [`FileSystem::open_file`].
    pub fn open(&mut self, path: &str) -> Result<File, Error> {
        let e = self.lookup(path)?;
        self.open_file(&e)
    }

    /// Reads up to `buf.len()` bytes at byte `offset` of `file`; returns the
    /// number read, which is short only at the end of the file (0 at or past
    /// it). Bytes of `buf` past the returned count are left untouched.
    ///
    /// Each contiguous cluster run in the range is one device request
    /// straight into `buf` when the range is block-aligned on the device;
    /// an unaligned start or end adds one small cached read.
    ///
    /// Errors: [`Error::TruncatedChain`], [`Error::ChainLoop`],
    /// [`Error::ClusterOutOfRange`] from the chain walk (done by the first
    /// read), [`Error::OutOfMemory`], [`Error::Io`].
    pub fn read_at(
        &mut self,
        file: &mut File,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let size = file.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = usize::try_from(size - offset).map_or(buf.len(), |left| left.min(buf.len()));
        let dst = buf.get_mut(..n).ok_or(Error::BufferTooSmall { needed: size })?;
        self.read_into(file, offset, dst, n)?;
        Ok(n)
    }

    /// Reads the whole file into the start of `buf` and returns its size.
    ///
    /// `buf` must hold at least [`File::size`] bytes. Bytes past the size
    /// may be overwritten: a buffer rounded up to the device block size lets
    /// the last run's partial block land in place too, so every run is
    /// exactly one device request.
    ///
    /// Errors: [`Error::BufferTooSmall`] and those of [`FileSystem::read_at`].
    pub fn read_all(&mut self, file: &mut File, buf: &mut [u8]) -> Result<usize, Error> {
        let size = file.size();
        let n = usize::try_from(size)
            .ok()
            .filter(|n| *n <= buf.len())
            .ok_or(Error::BufferTooSmall { needed: size })?;
        if n > 0 {
            self.read_into(file, 0, buf, n)?;
        }
        Ok(n)
    }

    /// Reads the whole file into a new vector, refusing files larger than
    /// `max_len` bytes.
    ///
    /// Errors: [`Error::FileTooLarge`], [`Error::OutOfMemory`] and those of
    /// [`FileSystem::read_at`].
    pub fn read_to_vec(&mut self, file: &mut File, max_len: usize) -> Result<Vec<u8>, Error> {
        let size = file.size();
        let n = usize::try_from(size)
            .ok()
            .filter(|n| *n <= max_len)
            .ok_or(Error::FileTooLarge(size))?;
        let bs = usize::try_from(self.dev.dev.block_size()).map_err(|_| Error::OutOfMemory)?;
        let cap = n.div_ceil(bs.max(1)).checked_mul(bs).ok_or(Error::OutOfMemory)?;
        let mut v = Vec::new();
        v.try_reserve_exact(cap).map_err(|_| Error::OutOfMemory)?;
        v.resize(cap, 0);
        self.read_all(file, &mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// Where `file`'s bytes are on the device: `(byte offset, length)`
    /// pieces in file order, one per cluster run, together exactly
    /// [`File::size`] bytes long (the tests use it to check where
    /// [`FileSystem::write_at`] lands).
    ///
    /// Errors: those of the chain walk, as for [`FileSystem::read_at`].
    pub fn extents(&mut self, file: &mut File) -> Result<Vec<(u64, u64)>, Error> {
        let cs = u64::from(self.geo.cluster_size);
        let mut left = file.size();
        let mut out = Vec::new();
        for run in self.walk_chain(file)? {
            if left == 0 {
                break;
            }
            let start = self.geo.cluster_offset(run.disk_cluster)?;
            let len = (u64::from(run.len) * cs).min(left);
            out.push((start, len));
            left -= len;
        }
        if left != 0 {
            return Err(Error::TruncatedChain);
        }
        Ok(out)
    }

    /// The file's cluster runs, walking its chain on first use (bounded by
    /// the clusters its size needs).
    fn walk_chain<'f>(&mut self, file: &'f mut File) -> Result<&'f [table::Run], Error> {
        if file.runs.is_none() {
            let cs = u64::from(self.geo.cluster_size);
            let needed = u32::try_from(file.size().div_ceil(cs))
                .map_err(|_| Error::SizeBeyondVolume(file.size()))?;
            let r = table::runs(&mut self.dev, &self.geo, file.entry.first_cluster, needed);
            #[cfg(feature = "write")]
            if let Err(e) = &r {
                self.wstate.note(*e);
            }
            file.runs = Some(r?);
        }
        Ok(file.runs.as_deref().unwrap_or(&[]))
    }

    /// Reads bytes `offset..offset + n` of `file` into `buf[..n]`, using
    /// `buf[n..]` as scratch.
    fn read_into(
        &mut self,
        file: &mut File,
        offset: u64,
        buf: &mut [u8],
        n: usize,
    ) -> Result<(), Error> {
        let cs = u64::from(self.geo.cluster_size);
        let runs = self.walk_chain(file)?;
        let mut pos = offset;
        let mut done = 0usize;
        while done < n {
            let (disk_off, seg) = self.locate(runs, cs, pos, n - done)?;
            let dst = buf.get_mut(done..).unwrap_or(&mut []);
            self.dev.read_span(disk_off, dst, seg)?;
            done += seg;
            pos = pos.saturating_add(seg as u64);
        }
        Ok(())
    }

    /// The volume label: the root directory's volume-label entry if there is
    /// one (what Windows and mtools write), else the boot sector's
    /// `BS_VolLab` unless it is the placeholder `NO NAME`. Trailing spaces
    /// are removed.
    pub fn volume_label(&mut self) -> Result<Option<String>, Error> {
        let mut cursor = DirCursor::new(self.root_dir());
        while let Some((_, raw)) = self.slot(&mut cursor)? {
            cursor.index = cursor.index.saturating_add(1);
            match raw[0] {
                0x00 => break,
                0xE5 => continue,
                _ => {}
            }
            let attr = raw[11];
            if attr & 0x3F != 0x0F && attr & Attributes::VOLUME_ID != 0 {
                let mut label = [0u8; 11];
                if let Some(s) = raw.first_chunk::<11>() {
                    label = *s;
                }
                return Ok(Some(label_string(&label)));
            }
        }
        Ok(self.geo.volume_label.filter(|l| l != b"NO NAME    ").map(|l| label_string(&l)))
    }
}

fn label_string(raw: &[u8; 11]) -> String {
    let mut s: String = raw.iter().map(|&b| name::oem_char(b, false)).collect();
    let trimmed = s.trim_end_matches(' ').len();
    s.truncate(trimmed);
    s
}

/// Iterator over one directory; see [`FileSystem::read_dir`].
#[derive(Debug)]
pub struct DirIter<'a, D: BlockIo> {
    fs: &'a mut FileSystem<D>,
    cursor: DirCursor,
}

impl<D: BlockIo> Iterator for DirIter<'_, D> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fs.next_entry(&mut self.cursor).transpose()
    }
}
