//! Open files: an [`Entry`] plus the list of its contiguous cluster runs.
//!
//! The run list is built on the first read by one walk of the chain
//! (bounded by the clusters the size needs) and then answers every offset
//! without touching the FAT again. Reads go to the device as one request
//! per run (see [`crate::FileSystem::read_at`]).

use alloc::vec::Vec;

use crate::dir::Entry;
use crate::table::Run;

/// A file opened for reading with [`crate::FileSystem::open_file`].
///
/// Plain data (no borrow of the file system), so a UEFI layer can keep many
/// open at once; reads take the file system explicitly.
#[derive(Debug, Clone)]
pub struct File {
    pub(crate) entry: Entry,
    /// `None` until the first read walks the chain.
    pub(crate) runs: Option<Vec<Run>>,
}

impl File {
    /// The directory entry the file was opened from.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.entry.size()
    }

    /// Number of contiguous cluster runs, once a read has walked the chain
    /// (a defragmented file has one).
    pub fn run_count(&self) -> Option<usize> {
        self.runs.as_ref().map(Vec::len)
    }
}
