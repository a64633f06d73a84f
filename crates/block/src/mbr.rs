//! Master Boot Record reader (UEFI 2.10 §5.2).
//!
//! LBA 0 holds the MBR: a 4-byte disk signature at offset 440, four 16-byte
//! partition records at 446 and the signature `0x55 0xAA` at 510 (§5.2.1,
//! table 5.1). With 4096-byte blocks the MBR is still the first 512 bytes
//! of LBA 0 and its LBAs count 4096-byte blocks.
//!
//! * Any record of type `0xEE` makes it a protective MBR (§5.2.3): the disk
//!   is GPT and the records mean nothing else. Hybrid MBRs therefore read as
//!   GPT.
//! * Otherwise it is a legacy MBR (§5.2.1) if every record's boot indicator
//!   is `0x00` or `0x80`. That rule rejects most file-system boot sectors
//!   (a FAT "superfloppy" has code there), which also end in `0x55 0xAA`.
//! * A record of type `0xEF` is an EFI System Partition (§5.2.2), `0xEA` an
//!   XBOOTLDR partition (Boot Loader Specification).
//! * Records are numbered 1 to 4 by slot. A record with a non-zero type but
//!   no blocks, starting at LBA 0, or reaching past the disk is skipped with
//!   a recorded reason.
//! * The first extended partition (types `0x05`, `0x0F`, `0x85`) is walked:
//!   each Extended Boot Record (EBR) holds one logical partition, relative
//!   to the EBR, and a link to the next EBR, relative to the extended
//!   partition. Logical partitions are numbered from 5 in chain order. The
//!   walk visits at most [`MAX_EBRS`] records, never the same one twice, and
//!   never leaves the extended partition; where it stops early the reason is
//!   recorded. Extended partitions themselves are not reported.

use alloc::vec::Vec;

use crate::le::{u32_at, u8_at};
use crate::table::{MbrEntry, PartitionInfo, PartitionKind, SkipReason, SkippedEntry};
use crate::{try_push, zeroed_vec, BlockIo, Error};

/// Offset of the 32-bit disk signature in LBA 0.
pub const DISK_SIGNATURE_OFFSET: usize = 440;
/// Offset of the first of the four partition records.
pub const RECORDS_OFFSET: usize = 446;
/// Size of one partition record.
pub const RECORD_SIZE: usize = 16;
/// Offset of the `0x55 0xAA` boot signature.
pub const BOOT_SIGNATURE_OFFSET: usize = 510;
/// Partition type of a GPT protective MBR record.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// Partition type of an EFI System Partition.
pub const TYPE_EFI_SYSTEM: u8 = 0xEF;
/// Partition type of an XBOOTLDR partition (Boot Loader Specification).
pub const TYPE_XBOOTLDR: u8 = 0xEA;
/// Most Extended Boot Records followed in one chain.
pub const MAX_EBRS: usize = 128;

/// One of the four 16-byte records of an MBR or EBR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Record {
    status: u8,
    os_type: u8,
    start: u32,
    count: u32,
}

/// What LBA 0 turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lba0 {
    /// No `0x55 0xAA` signature, or boot indicators that no MBR has.
    NotMbr,
    /// A protective (or hybrid) MBR: read the GPT.
    Protective {
        /// The disk signature at offset 440.
        disk_signature: u32,
    },
    /// A legacy MBR.
    Legacy {
        /// The disk signature at offset 440.
        disk_signature: u32,
        /// The four partition records.
        records: [Record; 4],
    },
}

fn has_boot_signature(block: &[u8]) -> bool {
    block.get(BOOT_SIGNATURE_OFFSET..BOOT_SIGNATURE_OFFSET + 2) == Some(&[0x55, 0xAA][..])
}

fn is_extended(os_type: u8) -> bool {
    matches!(os_type, 0x05 | 0x0F | 0x85)
}

/// Record `i` (0..4) of an MBR or EBR block.
fn record(block: &[u8], i: usize) -> Option<Record> {
    let off = RECORDS_OFFSET.checked_add(i.checked_mul(RECORD_SIZE)?)?;
    let r = block.get(off..off.checked_add(RECORD_SIZE)?)?;
    Some(Record {
        status: u8_at(r, 0)?,
        os_type: u8_at(r, 4)?,
        start: u32_at(r, 8)?,
        count: u32_at(r, 12)?,
    })
}

/// Classifies LBA 0.
pub(crate) fn classify(block: &[u8]) -> Lba0 {
    if !has_boot_signature(block) {
        return Lba0::NotMbr;
    }
    let Some(disk_signature) = u32_at(block, DISK_SIGNATURE_OFFSET) else { return Lba0::NotMbr };
    let mut records = [Record::default(); 4];
    for (i, slot) in records.iter_mut().enumerate() {
        match record(block, i) {
            Some(r) => *slot = r,
            None => return Lba0::NotMbr,
        }
    }
    if records.iter().any(|r| r.os_type == TYPE_GPT_PROTECTIVE) {
        return Lba0::Protective { disk_signature };
    }
    if records.iter().any(|r| r.status != 0x00 && r.status != 0x80) {
        return Lba0::NotMbr;
    }
    Lba0::Legacy { disk_signature, records }
}

/// Partitions and skipped records of a legacy MBR.
pub(crate) type Found = (Vec<PartitionInfo>, Vec<SkippedEntry>);

/// Turns a record into a partition spanning `base + r.start` for `r.count`
/// blocks, or says why not. `limit` is the last LBA it may reach.
fn place(r: &Record, base: u64, limit: u64, outside: SkipReason) -> Result<(u64, u64), SkipReason> {
    if r.count == 0 {
        return Err(SkipReason::Empty);
    }
    if r.start == 0 {
        return Err(SkipReason::OverlapsTable);
    }
    let first = base.checked_add(u64::from(r.start)).ok_or(outside)?;
    let last = first.checked_add(u64::from(r.count) - 1).ok_or(outside)?;
    if last > limit {
        return Err(outside);
    }
    Ok((first, last))
}

fn entry(number: u32, first: u64, last: u64, r: &Record, logical: bool) -> PartitionInfo {
    PartitionInfo {
        number,
        first_lba: first,
        last_lba: last,
        kind: PartitionKind::Mbr(MbrEntry {
            os_type: r.os_type,
            bootable: r.status == 0x80,
            logical,
        }),
    }
}

/// Reads the partitions of a legacy MBR on a disk of `n ≥ 1` blocks of
/// `bs` bytes, following the first extended partition's EBR chain.
pub(crate) fn read_legacy<D: BlockIo + ?Sized>(
    dev: &mut D,
    n: u64,
    bs: usize,
    records: &[Record; 4],
) -> Result<Found, Error> {
    let last_lba = n.saturating_sub(1);
    let mut parts = Vec::new();
    let mut skipped = Vec::new();
    let mut extended = None;
    for (r, number) in records.iter().zip(1u32..) {
        if r.os_type == 0 {
            continue;
        }
        match place(r, 0, last_lba, SkipReason::OutsideDisk) {
            Err(reason) => try_push(&mut skipped, SkippedEntry { number, reason })?,
            Ok(range) if is_extended(r.os_type) => {
                if extended.is_none() {
                    extended = Some(range);
                } else {
                    try_push(
                        &mut skipped,
                        SkippedEntry { number, reason: SkipReason::ExtraExtended },
                    )?;
                }
            }
            Ok((first, last)) => try_push(&mut parts, entry(number, first, last, r, false))?,
        }
    }
    if let Some(range) = extended {
        walk_extended(dev, bs, range, &mut parts, &mut skipped)?;
    }
    Ok((parts, skipped))
}

/// Follows the EBR chain of the extended partition `ext_first..=ext_last`.
fn walk_extended<D: BlockIo + ?Sized>(
    dev: &mut D,
    bs: usize,
    (ext_first, ext_last): (u64, u64),
    parts: &mut Vec<PartitionInfo>,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<(), Error> {
    let mut block = zeroed_vec(bs)?;
    let mut visited: Vec<u64> = Vec::new();
    let mut number: u32 = 5;
    let mut ebr = ext_first;
    for _ in 0..MAX_EBRS {
        if visited.contains(&ebr) {
            return try_push(
                skipped,
                SkippedEntry { number, reason: SkipReason::ExtendedChainLoop },
            );
        }
        if !(ext_first..=ext_last).contains(&ebr) {
            return try_push(
                skipped,
                SkippedEntry { number, reason: SkipReason::ExtendedChainBroken },
            );
        }
        try_push(&mut visited, ebr)?;
        dev.read_blocks(ebr, &mut block)?;
        let (Some(logical), Some(link)) = (record(&block, 0), record(&block, 1)) else {
            return try_push(
                skipped,
                SkippedEntry { number, reason: SkipReason::ExtendedChainBroken },
            );
        };
        if !has_boot_signature(&block) {
            return try_push(
                skipped,
                SkippedEntry { number, reason: SkipReason::ExtendedChainBroken },
            );
        }
        if logical.os_type != 0 && !is_extended(logical.os_type) {
            match place(&logical, ebr, ext_last, SkipReason::OutsideExtended) {
                Ok((first, last)) => try_push(parts, entry(number, first, last, &logical, true))?,
                Err(reason) => try_push(skipped, SkippedEntry { number, reason })?,
            }
            number = number.saturating_add(1);
        }
        if !is_extended(link.os_type) || link.count == 0 {
            return Ok(());
        }
        match ext_first.checked_add(u64::from(link.start)) {
            Some(next) => ebr = next,
            None => {
                return try_push(
                    skipped,
                    SkippedEntry { number, reason: SkipReason::ExtendedChainBroken },
                )
            }
        }
    }
    try_push(skipped, SkippedEntry { number, reason: SkipReason::ExtendedChainTooLong })
}
