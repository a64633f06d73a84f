//! The one entry point the firmware calls: [`read_partition_table`].
//!
//! Discovery order (UEFI 2.10 §5.2.3, and §13.3.2 "Partition Discovery"):
//!
//! 1. LBA 0 with a protective MBR (a record of type `0xEE`) → GPT, primary
//!    then backup (see [`crate::gpt`]).
//! 2. LBA 0 with a legacy MBR → its partitions (see [`crate::mbr`]).
//! 3. LBA 0 with no MBR, but LBA 1 starting with `EFI PART` → GPT as in 1.
//!    §5.2.3 requires the protective MBR; some tools wipe it, and reading
//!    the GPT anyway costs nothing and loses nothing.
//! 4. Otherwise [`Error::NoPartitionTable`].
//!
//! §13.3.2 lists "check for GPT headers" before "legacy MBR". Like EDK2
//! and Linux we let a legacy MBR without a `0xEE` record win (step 2 before
//! looking at LBA 1): a disk repartitioned as MBR by a tool that left the
//! old GPT behind would otherwise show stale partitions.
//!
//! Invariant of every returned [`PartitionInfo`]: `first_lba ≤ last_lba <
//! num_blocks` of the device it was read from, and for GPT it lies inside
//! the header's usable range. Partitions are listed in table order.

use alloc::string::String;
use alloc::vec::Vec;

use crate::gpt::{self, GptFault, NAME_UNITS};
use crate::mbr::{self, Lba0};
use crate::{block_size_of, zeroed_vec, BlockIo, Error, Guid, Partition};

/// Which table a [`PartitionTable`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// GPT, from the primary header at LBA 1.
    GptPrimary,
    /// GPT, from the backup header because the primary was unusable
    /// ([`PartitionTable::primary_fault`] says why).
    GptBackup,
    /// A legacy MBR.
    Mbr,
}

impl Scheme {
    /// Whether the table is a GPT (either header).
    pub fn is_gpt(self) -> bool {
        matches!(self, Scheme::GptPrimary | Scheme::GptBackup)
    }
}

/// The GPT-specific part of a partition (UEFI 2.10 §5.3.3, table 5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptEntry {
    /// `PartitionTypeGUID`.
    pub type_guid: Guid,
    /// `UniquePartitionGUID` (what a UEFI hard-drive device path names).
    pub unique_guid: Guid,
    /// `Attributes` (bit 0 required, bit 1 no block I/O, bit 2 legacy BIOS
    /// bootable, bits 48–63 type-specific).
    pub attributes: u64,
    /// `PartitionName`, 36 UTF-16 code units, NUL-padded.
    pub name: [u16; NAME_UNITS],
}

impl GptEntry {
    /// The name's code units up to the first NUL.
    pub fn name_utf16(&self) -> &[u16] {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(self.name.len());
        self.name.get(..end).unwrap_or(&[])
    }

    /// The name as a string; unpaired surrogates become U+FFFD.
    pub fn name(&self) -> String {
        char::decode_utf16(self.name_utf16().iter().copied())
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// The MBR-specific part of a partition (UEFI 2.10 §5.2.1, table 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrEntry {
    /// `OSType` (0xEF: EFI System Partition, 0x83: Linux, ...).
    pub os_type: u8,
    /// Boot indicator 0x80.
    pub bootable: bool,
    /// A logical partition inside an extended partition.
    pub logical: bool,
}

/// Scheme-specific details of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// From a GPT entry.
    Gpt(GptEntry),
    /// From an MBR or EBR record.
    Mbr(MbrEntry),
}

/// One partition of a [`PartitionTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// GPT: 1-based index in the entry array. MBR: 1–4 for primary records,
    /// 5 and up for logical partitions in chain order.
    pub number: u32,
    /// First block (inclusive).
    pub first_lba: u64,
    /// Last block (inclusive).
    pub last_lba: u64,
    /// Scheme-specific details.
    pub kind: PartitionKind,
}

impl PartitionInfo {
    /// Whether this is an EFI System Partition (GPT type
    /// [`Guid::EFI_SYSTEM_PARTITION`] or MBR type 0xEF).
    pub fn is_esp(&self) -> bool {
        match &self.kind {
            PartitionKind::Gpt(g) => g.type_guid == Guid::EFI_SYSTEM_PARTITION,
            PartitionKind::Mbr(m) => m.os_type == mbr::TYPE_EFI_SYSTEM,
        }
    }

    /// Whether this is an XBOOTLDR partition (GPT type [`Guid::XBOOTLDR`]
    /// or MBR type 0xEA), where Boot Loader Specification entries may live.
    pub fn is_xbootldr(&self) -> bool {
        match &self.kind {
            PartitionKind::Gpt(g) => g.type_guid == Guid::XBOOTLDR,
            PartitionKind::Mbr(m) => m.os_type == mbr::TYPE_XBOOTLDR,
        }
    }

    /// Number of blocks (saturating, should the fields have been edited
    /// into an inverted range).
    pub fn num_blocks(&self) -> u64 {
        self.last_lba.saturating_sub(self.first_lba).saturating_add(1)
    }

    /// The GPT details, if it came from a GPT.
    pub fn gpt(&self) -> Option<&GptEntry> {
        match &self.kind {
            PartitionKind::Gpt(g) => Some(g),
            PartitionKind::Mbr(_) => None,
        }
    }

    /// The MBR details, if it came from an MBR.
    pub fn mbr(&self) -> Option<&MbrEntry> {
        match &self.kind {
            PartitionKind::Mbr(m) => Some(m),
            PartitionKind::Gpt(_) => None,
        }
    }

    /// A [`Partition`] view of this partition on `dev` (the device the table
    /// was read from, or a borrow of it). Fails with [`Error::OutOfRange`]
    /// if the partition does not fit on `dev`.
    pub fn open<D: BlockIo>(&self, dev: D) -> Result<Partition<D>, Error> {
        if self.first_lba > self.last_lba {
            return Err(Error::OutOfRange);
        }
        Partition::new(dev, self.first_lba, self.num_blocks())
    }
}

/// Why a non-empty table entry was not turned into a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// GPT: `StartingLBA > EndingLBA`.
    StartAfterEnd,
    /// GPT: the entry reaches outside `FirstUsableLBA..=LastUsableLBA`.
    OutsideUsableRange,
    /// MBR: a non-zero type with a size of zero blocks.
    Empty,
    /// MBR: the partition starts at its own table's block (LBA 0 or the
    /// EBR).
    OverlapsTable,
    /// MBR: the partition reaches past the end of the disk.
    OutsideDisk,
    /// MBR: a logical partition reaches outside its extended partition.
    OutsideExtended,
    /// MBR: a second extended partition (only the first is followed).
    ExtraExtended,
    /// MBR: an EBR link points outside the extended partition or to a
    /// block without the 0x55AA signature; the chain stops there.
    ExtendedChainBroken,
    /// MBR: the EBR chain comes back to an EBR already read.
    ExtendedChainLoop,
    /// MBR: the EBR chain is longer than [`mbr::MAX_EBRS`].
    ExtendedChainTooLong,
}

impl core::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SkipReason::StartAfterEnd => "starts after it ends",
            SkipReason::OutsideUsableRange => "outside the usable LBA range",
            SkipReason::Empty => "zero size",
            SkipReason::OverlapsTable => "overlaps its partition table",
            SkipReason::OutsideDisk => "beyond the end of the disk",
            SkipReason::OutsideExtended => "outside its extended partition",
            SkipReason::ExtraExtended => "second extended partition ignored",
            SkipReason::ExtendedChainBroken => "extended partition chain broken",
            SkipReason::ExtendedChainLoop => "extended partition chain loops",
            SkipReason::ExtendedChainTooLong => "extended partition chain too long",
        })
    }
}

/// A table entry that was skipped, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The number the partition would have had (see
    /// [`PartitionInfo::number`]).
    pub number: u32,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    /// Which table (and which GPT header) was used.
    pub scheme: Scheme,
    /// The GPT `DiskGUID`, for GPT disks.
    pub disk_guid: Option<Guid>,
    /// The 32-bit MBR disk signature at offset 440 of LBA 0, whenever LBA 0
    /// carries an MBR (protective ones included, where it is usually 0).
    pub mbr_signature: Option<u32>,
    /// Why the primary GPT was rejected, when [`Scheme::GptBackup`].
    pub primary_fault: Option<GptFault>,
    /// Usable partitions, in table order.
    pub partitions: Vec<PartitionInfo>,
    /// Entries that were skipped, in table order.
    pub skipped: Vec<SkippedEntry>,
}

impl PartitionTable {
    /// The first EFI System Partition, in table order.
    pub fn esp(&self) -> Option<&PartitionInfo> {
        self.partitions.iter().find(|p| p.is_esp())
    }

    /// The partition with the given number.
    pub fn by_number(&self, number: u32) -> Option<&PartitionInfo> {
        self.partitions.iter().find(|p| p.number == number)
    }
}

/// Reads the partition table of `dev`: GPT (primary, else backup) or
/// legacy MBR.
///
/// Discovery order (UEFI 2.10 §5.2.3, §13.3.2): a protective MBR (any
/// record of type 0xEE) at LBA 0 means GPT; a legacy MBR means MBR; no MBR
/// at all but `EFI PART` at LBA 1 still means GPT (some tools wipe the
/// protective MBR); anything else is [`Error::NoPartitionTable`]. See
/// [`gpt`] and [`mbr`] for the checks made on each.
///
/// Every returned partition satisfies `first_lba ≤ last_lba <
/// dev.num_blocks()`, so [`PartitionInfo::open`] on the same device
/// succeeds.
///
/// Errors: device errors pass through; [`Error::UnsupportedBlockSize`] for
/// block sizes that are not a power of two in 512..=64 KiB;
/// [`Error::NoPartitionTable`] when there is neither an MBR nor a GPT;
/// [`Error::BadGpt`] when the disk is GPT but no header is usable;
/// [`Error::OutOfMemory`] when a buffer (at most one block, or the entry
/// array bounded by [`gpt::MAX_ENTRY_ARRAY_BYTES`]) cannot be allocated.
pub fn read_partition_table<D: BlockIo + ?Sized>(dev: &mut D) -> Result<PartitionTable, Error> {
    let bs = block_size_of(dev)?;
    let n = dev.num_blocks();
    if n == 0 {
        return Err(Error::NoPartitionTable);
    }
    let mut block = zeroed_vec(bs)?;
    dev.read_blocks(0, &mut block)?;
    match mbr::classify(&block) {
        Lba0::Protective { disk_signature } => read_gpt(dev, n, bs, Some(disk_signature)),
        Lba0::Legacy { disk_signature, records } => {
            let (partitions, skipped) = mbr::read_legacy(dev, n, bs, &records)?;
            Ok(PartitionTable {
                scheme: Scheme::Mbr,
                disk_guid: None,
                mbr_signature: Some(disk_signature),
                primary_fault: None,
                partitions,
                skipped,
            })
        }
        Lba0::NotMbr => {
            if n < 2 {
                return Err(Error::NoPartitionTable);
            }
            dev.read_blocks(1, &mut block)?;
            if !gpt::has_signature(&block) {
                return Err(Error::NoPartitionTable);
            }
            read_gpt(dev, n, bs, None)
        }
    }
}

fn read_gpt<D: BlockIo + ?Sized>(
    dev: &mut D,
    n: u64,
    bs: usize,
    mbr_signature: Option<u32>,
) -> Result<PartitionTable, Error> {
    let (scheme, table, primary_fault) = gpt::read(dev, n, bs)?;
    Ok(PartitionTable {
        scheme,
        disk_guid: Some(table.header.disk_guid),
        mbr_signature,
        primary_fault,
        partitions: table.partitions,
        skipped: table.skipped,
    })
}
