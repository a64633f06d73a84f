//! The one error type of this crate.

use core::fmt;

/// Everything that can go wrong while mounting a FAT volume, walking its
/// directories, reading its files or overwriting their bytes in place.
///
/// Variants that carry a value report the offending on-disk value, so that a
/// failed boot option can log one line that says what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The block device failed.
    Io(vmfw_block::Error),
    /// The device reports a block size that is not a power of two in
    /// 512..=65536.
    BadBlockSize(u32),
    /// Sector 0 does not end in the 0x55 0xAA signature (FAT spec "Boot Sector and BPB").
    NoBootSignature,
    /// `BPB_BytsPerSec` is not 512, 1024, 2048 or 4096.
    BadBytesPerSector(u16),
    /// `BPB_SecPerClus` is zero or not a power of two.
    BadSectorsPerCluster(u8),
    /// `BPB_RsvdSecCnt` is zero (the boot sector itself is reserved).
    BadReservedSectors,
    /// `BPB_NumFATs` is zero.
    BadFatCount,
    /// FAT32 `BPB_ExtFlags` names an active FAT that does not exist.
    BadActiveFat(u8),
    /// Both `BPB_TotSec16` and `BPB_TotSec32` are zero.
    ZeroTotalSectors,
    /// Both `BPB_FATSz16` and `BPB_FATSz32` are zero.
    ZeroFatSize,
    /// `BPB_RootEntCnt` is zero on FAT12/16 or non-zero on FAT32.
    BadRootEntryCount(u16),
    /// Reserved sectors, FATs and the root directory do not fit in the
    /// volume's total sector count.
    MetadataBeyondVolume,
    /// The cluster count exceeds what FAT32's 28-bit entries can address.
    TooManyClusters(u32),
    /// A FAT is too small to hold an entry for every cluster of the volume.
    FatTooSmall,
    /// The FATs, root directory or data region end beyond the device.
    VolumeBeyondDevice,
    /// FAT32 `BPB_RootClus` is not a valid cluster number.
    BadRootCluster(u32),
    /// A directory entry or FAT entry names a cluster outside `2..=max`
    /// (this includes free, reserved and bad-cluster markers inside a chain).
    ClusterOutOfRange(u32),
    /// A cluster chain visits the same cluster twice.
    ChainLoop,
    /// A file's cluster chain ends before the file's size is covered.
    TruncatedChain,
    /// A file claims more bytes than the volume's data region holds.
    SizeBeyondVolume(u64),
    /// A directory has more than 65536 entries (FAT spec "Other Notes Relating to FAT Directories"), which only a
    /// corrupt (e.g. looping) chain produces.
    DirectoryTooLarge,
    /// No entry of that name exists.
    NotFound,
    /// A path component that must be a directory is a file.
    NotADirectory,
    /// A directory was opened as a file.
    IsADirectory,
    /// A path component is longer than 255 UTF-16 units or holds a NUL.
    InvalidPath,
    /// The caller's buffer is smaller than the file.
    BufferTooSmall {
        /// Bytes the whole file needs.
        needed: u64,
    },
    /// The file is larger than the caller allowed.
    FileTooLarge(u64),
    /// An allocation failed (the cluster-run list of a badly fragmented
    /// file, or a file read into a new vector).
    OutOfMemory,
    /// A write was asked of a volume whose device is read-only; nothing
    /// was written.
    ReadOnly,
    /// A write or new length would end at byte `end` of a file of `size`
    /// bytes, past what a FAT file can hold (4 GiB - 1); an `end` of
    /// `u64::MAX` stands for one past the range of offsets. Nothing was
    /// written.
    WriteBeyondEnd {
        /// Offset one past the last byte the write would touch.
        end: u64,
        /// The file's size.
        size: u64,
    },
    #[cfg(feature = "write")]
    /// Writing was refused: the FAT copies differ over the clusters the
    /// volume has (a previous writer stopped half-way; run fsck).
    FatCopiesDiffer,
    #[cfg(feature = "write")]
    /// Writing was refused: the volume's dirty bit is set (FAT\[1\]'s
    /// clean-shutdown bit is clear; it was not unmounted cleanly).
    VolumeDirty,
    #[cfg(feature = "write")]
    /// Writing was refused: an earlier walk of this mount met a corrupt
    /// chain or directory.
    VolumeDamaged,
    #[cfg(feature = "write")]
    /// No free cluster is left.
    VolumeFull,
    #[cfg(feature = "write")]
    /// The directory has no run of free slots for the new entry inside one
    /// device block (new entries are written with one block write) and
    /// cannot grow: the fixed FAT12/16 root, or 65536 entries.
    DirectoryFull,
    #[cfg(feature = "write")]
    /// An entry of that name already exists.
    AlreadyExists,
    #[cfg(feature = "write")]
    /// The name cannot be stored: empty, `.` or `..`, longer than 255
    /// UTF-16 units (or than one device block of long-name slots), ending
    /// in a dot or space, or holding a character FAT forbids.
    InvalidName,
    #[cfg(feature = "write")]
    /// The entry's slots are not contiguous inside one device block (a
    /// long name written by another system across a block boundary), so it
    /// cannot be changed with one atomic block write.
    EntrySpansBlocks,
}

impl From<vmfw_block::Error> for Error {
    fn from(e: vmfw_block::Error) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "block device: {e}"),
            Error::BadBlockSize(s) => write!(f, "unusable device block size {s}"),
            Error::NoBootSignature => f.write_str("no 0x55AA boot sector signature"),
            Error::BadBytesPerSector(v) => write!(f, "bad bytes per sector {v}"),
            Error::BadSectorsPerCluster(v) => write!(f, "bad sectors per cluster {v}"),
            Error::BadReservedSectors => f.write_str("zero reserved sectors"),
            Error::BadFatCount => f.write_str("zero FATs"),
            Error::BadActiveFat(v) => write!(f, "active FAT {v} does not exist"),
            Error::ZeroTotalSectors => f.write_str("zero total sectors"),
            Error::ZeroFatSize => f.write_str("zero FAT size"),
            Error::BadRootEntryCount(v) => write!(f, "bad root entry count {v}"),
            Error::MetadataBeyondVolume => f.write_str("FATs and root directory exceed the volume"),
            Error::TooManyClusters(v) => write!(f, "too many clusters ({v})"),
            Error::FatTooSmall => f.write_str("FAT too small for the cluster count"),
            Error::VolumeBeyondDevice => f.write_str("volume extends beyond the device"),
            Error::BadRootCluster(v) => write!(f, "bad root directory cluster {v}"),
            Error::ClusterOutOfRange(v) => write!(f, "cluster {v:#x} out of range"),
            Error::ChainLoop => f.write_str("cluster chain loops"),
            Error::TruncatedChain => f.write_str("cluster chain shorter than the file size"),
            Error::SizeBeyondVolume(v) => write!(f, "file size {v} exceeds the volume"),
            Error::DirectoryTooLarge => f.write_str("directory exceeds 65536 entries"),
            Error::NotFound => f.write_str("not found"),
            Error::NotADirectory => f.write_str("not a directory"),
            Error::IsADirectory => f.write_str("is a directory"),
            Error::InvalidPath => f.write_str("invalid path"),
            Error::BufferTooSmall { needed } => write!(f, "buffer too small, need {needed} bytes"),
            Error::FileTooLarge(v) => write!(f, "file too large ({v} bytes)"),
            Error::OutOfMemory => f.write_str("out of memory"),
            Error::ReadOnly => f.write_str("volume is read-only"),
            Error::WriteBeyondEnd { end, size } => {
                write!(f, "write up to byte {end} of a {size}-byte file is too far")
            }
            #[cfg(feature = "write")]
            Error::FatCopiesDiffer => f.write_str("FAT copies differ, not writing"),
            #[cfg(feature = "write")]
            Error::VolumeDirty => f.write_str("volume dirty bit set, not writing"),
            #[cfg(feature = "write")]
            Error::VolumeDamaged => f.write_str("volume has a damaged chain or directory"),
            #[cfg(feature = "write")]
            Error::VolumeFull => f.write_str("no free cluster"),
            #[cfg(feature = "write")]
            Error::DirectoryFull => f.write_str("no free directory slots in one block"),
            #[cfg(feature = "write")]
            Error::AlreadyExists => f.write_str("name already exists"),
            #[cfg(feature = "write")]
            Error::InvalidName => f.write_str("invalid file name"),
            #[cfg(feature = "write")]
            Error::EntrySpansBlocks => f.write_str("directory entry spans device blocks"),
        }
    }
}
