//! GUID Partition Table reader (UEFI 2.10 §5.3).
//!
//! Layout (§5.3.1, §5.3.2): the primary GPT header lives at LBA 1, the
//! backup header at the disk's last LBA (the primary's `AlternateLBA`).
//! Each header names its own partition entry array (`PartitionEntryLBA`,
//! `NumberOfPartitionEntries` entries of `SizeOfPartitionEntry` bytes) and
//! carries two CRC-32s: one over the first `HeaderSize` bytes of the header
//! with the CRC field itself taken as zero, one over the entry array.
//!
//! A header is accepted only if (§5.3.2 "GPT Header", validity checks):
//!
//! 1. its signature is `EFI PART`;
//! 2. `HeaderSize` is in 92..=block size and the header CRC matches;
//! 3. `MyLBA` is the LBA it was read from;
//! 4. `FirstUsableLBA ≤ LastUsableLBA < number of blocks`, LBA 0 and the
//!    header's own block lie outside the usable range;
//! 5. `SizeOfPartitionEntry` is a multiple of 128 and at least 128 (the spec
//!    requires `128 × 2^n`; any multiple is read the same way, so we accept
//!    the superset);
//! 6. the array size `NumberOfPartitionEntries × SizeOfPartitionEntry` is at
//!    most [`MAX_ENTRY_ARRAY_BYTES`] (computed in 64 bits, so it cannot
//!    overflow; the bound caps the one allocation the array needs);
//! 7. the array lies inside the disk, does not touch LBA 0, the header's
//!    block or the usable range;
//! 8. the entry-array CRC matches.
//!
//! If the primary fails any check, the backup is tried (§5.3.2: a corrupt
//! primary means software checks the header at the last LBA): first at the
//! primary's `AlternateLBA` when the primary header itself passed its CRC
//! (so that field can be trusted; it matters for disks grown after
//! partitioning), then at the last LBA. The backup is validated by the same rules against
//! its own location and its own entry array. Which header was used is
//! reported as [`crate::Scheme`]; when neither is usable the error is
//! [`crate::Error::BadGpt`] with a [`GptFault`] for each.
//!
//! Entries (§5.3.3): an entry whose type GUID is zero is unused and skipped
//! silently. An entry with `StartingLBA > EndingLBA` or outside
//! `FirstUsableLBA..=LastUsableLBA` is skipped with a recorded
//! [`crate::SkipReason`]; the rest of the table stays usable. Partition
//! numbers are 1-based indices into the array, so they stay stable when
//! earlier entries are unused. Overlaps between partitions are not checked.

use alloc::vec::Vec;

use crate::le::{array, u32_at, u64_at};
use crate::table::{GptEntry, PartitionInfo, PartitionKind, Scheme, SkipReason, SkippedEntry};
use crate::{crc32, try_push, zeroed_vec, BlockIo, Crc32, Error, Guid};

/// The header signature, "EFI PART".
pub const SIGNATURE: [u8; 8] = *b"EFI PART";

/// Smallest valid `HeaderSize` (the size of the fields defined by the spec).
pub const MIN_HEADER_SIZE: u32 = 92;

/// Smallest valid `SizeOfPartitionEntry`; every valid size is a multiple.
pub const MIN_ENTRY_SIZE: u32 = 128;

/// Largest partition entry array (in bytes) this reader accepts: 1 MiB.
///
/// The array is read in one request into one allocation of this size at
/// most. Tools create 16 KiB arrays (128 entries × 128 bytes); 1 MiB still
/// allows 8192 entries of 128 bytes, or 128 entries of 8 KiB.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;

/// Why one GPT header (with its entry array) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GptFault {
    /// The device has no block at the header's location.
    HeaderOutsideDisk,
    /// The block does not start with "EFI PART".
    NoSignature,
    /// `HeaderSize` is below 92 or above the block size.
    BadHeaderSize(u32),
    /// The header CRC-32 does not match.
    HeaderCrc,
    /// `MyLBA` (the value given) is not where the header was found.
    MyLbaMismatch(u64),
    /// The usable range is empty, beyond the disk, or covers LBA 0 or the
    /// header itself.
    BadUsableRange,
    /// `SizeOfPartitionEntry` (the value given) is not a multiple of 128 ≥ 128.
    BadEntrySize(u32),
    /// The entry array is larger than [`MAX_ENTRY_ARRAY_BYTES`].
    EntryArrayTooLarge,
    /// The entry array does not fit on the disk.
    EntryArrayOutsideDisk,
    /// The entry array overlaps LBA 0, the header or the usable range.
    EntryArrayOverlap,
    /// The entry array CRC-32 does not match.
    EntriesCrc,
    /// There is no backup location distinct from LBA 0 and LBA 1 (the disk
    /// is too small).
    NoBackup,
}

impl core::fmt::Display for GptFault {
    /// Through `vmfw_bytes::write_template` (`\x01` is `{}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, n): (&str, u64) = match *self {
            GptFault::HeaderOutsideDisk => ("header location beyond the disk", 0),
            GptFault::NoSignature => ("no GPT signature", 0),
            GptFault::BadHeaderSize(s) => ("bad header size \x01", s.into()),
            GptFault::HeaderCrc => ("header CRC mismatch", 0),
            GptFault::MyLbaMismatch(l) => ("header claims to be at LBA \x01", l),
            GptFault::BadUsableRange => ("bad usable LBA range", 0),
            GptFault::BadEntrySize(s) => ("bad partition entry size \x01", s.into()),
            GptFault::EntryArrayTooLarge => ("partition entry array too large", 0),
            GptFault::EntryArrayOutsideDisk => ("partition entry array beyond the disk", 0),
            GptFault::EntryArrayOverlap => ("partition entry array overlaps other data", 0),
            GptFault::EntriesCrc => ("partition entry array CRC mismatch", 0),
            GptFault::NoBackup => ("no backup header location", 0),
        };
        vmfw_bytes::write_template(f, t, &[n])
    }
}

// Header field offsets (UEFI 2.10 table 5.5).
const OFF_HEADER_SIZE: usize = 12;
const OFF_HEADER_CRC: usize = 16;
const OFF_MY_LBA: usize = 24;
const OFF_ALTERNATE_LBA: usize = 32;
const OFF_FIRST_USABLE: usize = 40;
const OFF_LAST_USABLE: usize = 48;
const OFF_DISK_GUID: usize = 56;
const OFF_ENTRY_LBA: usize = 72;
const OFF_NUM_ENTRIES: usize = 80;
const OFF_ENTRY_SIZE: usize = 84;
const OFF_ENTRIES_CRC: usize = 88;

// Entry field offsets (UEFI 2.10 table 5.6).
const ENT_TYPE: usize = 0;
const ENT_UNIQUE: usize = 16;
const ENT_FIRST: usize = 32;
const ENT_LAST: usize = 40;
const ENT_ATTRS: usize = 48;
const ENT_NAME: usize = 56;
/// UTF-16 code units in the 72-byte name field.
pub const NAME_UNITS: usize = 36;

/// A validated GPT header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) disk_guid: Guid,
    first_usable: u64,
    last_usable: u64,
    entry_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entries_crc: u32,
    /// `num_entries × entry_size`, ≤ [`MAX_ENTRY_ARRAY_BYTES`].
    array_bytes: usize,
    /// Blocks the array occupies (rounded up).
    array_blocks: u64,
}

/// A GPT that passed every check: its header and its usable entries.
#[derive(Debug)]
pub(crate) struct Gpt {
    pub(crate) header: Header,
    pub(crate) partitions: Vec<PartitionInfo>,
    pub(crate) skipped: Vec<SkippedEntry>,
}

/// Result of looking at one header location: the table, or why not, plus
/// the header's `AlternateLBA` if its CRC was good.
struct Probe {
    alternate: Option<u64>,
    result: Result<Gpt, GptFault>,
}

/// Whether `block` starts with the GPT signature.
pub(crate) fn has_signature(block: &[u8]) -> bool {
    block.get(..SIGNATURE.len()) == Some(&SIGNATURE[..])
}

/// Reads the GPT of `dev` (`n` blocks of `bs` bytes, `n ≥ 1`), primary
/// first, then backup. Device errors propagate; table faults become
/// [`Error::BadGpt`] when no header is usable. Also returns the primary's
/// fault when the backup was used.
pub(crate) fn read<D: BlockIo + ?Sized>(
    dev: &mut D,
    n: u64,
    bs: usize,
) -> Result<(Scheme, Gpt, Option<GptFault>), Error> {
    let primary = probe(dev, 1, n, bs)?;
    let primary_fault = match primary.result {
        Ok(g) => return Ok((Scheme::GptPrimary, g, None)),
        Err(f) => f,
    };
    let last = n.saturating_sub(1);
    let mut backup_fault = None;
    let hint = primary.alternate;
    for cand in [hint, Some(last).filter(|&l| Some(l) != hint)] {
        // LBA 0 is the MBR and LBA 1 the primary we just rejected.
        let Some(lba) = cand.filter(|&l| l > 1) else { continue };
        match probe(dev, lba, n, bs)?.result {
            Ok(g) => return Ok((Scheme::GptBackup, g, Some(primary_fault))),
            Err(f) => {
                backup_fault.get_or_insert(f);
            }
        }
    }
    Err(Error::BadGpt {
        primary: primary_fault,
        backup: backup_fault.unwrap_or(GptFault::NoBackup),
    })
}

/// Reads and validates the header at `lba` and, if it is good, its entries.
fn probe<D: BlockIo + ?Sized>(dev: &mut D, lba: u64, n: u64, bs: usize) -> Result<Probe, Error> {
    if lba >= n {
        return Ok(Probe { alternate: None, result: Err(GptFault::HeaderOutsideDisk) });
    }
    let mut block = zeroed_vec(bs)?;
    dev.read_blocks(lba, &mut block)?;
    let (alternate, header) = parse_header(&block, lba, n, bs);
    let result = match header {
        Ok(h) => load_entries(dev, h, bs)?,
        Err(f) => Err(f),
    };
    Ok(Probe { alternate, result })
}

/// Validates the header in `block`, read from `lba` of a disk of `n` blocks
/// of `bs` bytes. Returns `AlternateLBA` once the CRC has been verified.
fn parse_header(
    block: &[u8],
    lba: u64,
    n: u64,
    bs: usize,
) -> (Option<u64>, Result<Header, GptFault>) {
    match check_crc(block, bs) {
        Ok(()) => {}
        Err(f) => return (None, Err(f)),
    }
    // check_crc verified 92 <= HeaderSize <= block.len(), so every field
    // read below is in bounds; the error is for form's sake.
    let field = |off| u64_at(block, off).ok_or(GptFault::NoSignature);
    let alternate = u64_at(block, OFF_ALTERNATE_LBA);
    (alternate, check_fields(block, lba, n, bs, field))
}

/// Signature, `HeaderSize` and header CRC (checks 1 and 2).
fn check_crc(block: &[u8], bs: usize) -> Result<(), GptFault> {
    if !has_signature(block) {
        return Err(GptFault::NoSignature);
    }
    let size = u32_at(block, OFF_HEADER_SIZE).ok_or(GptFault::NoSignature)?;
    let size_usize = usize::try_from(size).map_err(|_| GptFault::BadHeaderSize(size))?;
    if size < MIN_HEADER_SIZE || size_usize > bs || size_usize > block.len() {
        return Err(GptFault::BadHeaderSize(size));
    }
    let stored = u32_at(block, OFF_HEADER_CRC).ok_or(GptFault::HeaderCrc)?;
    let (before, after) = (
        block.get(..OFF_HEADER_CRC).ok_or(GptFault::HeaderCrc)?,
        block.get(OFF_HEADER_CRC + 4..size_usize).ok_or(GptFault::HeaderCrc)?,
    );
    let mut c = Crc32::new();
    c.update(before);
    c.update(&[0; 4]);
    c.update(after);
    if c.finish() != stored {
        return Err(GptFault::HeaderCrc);
    }
    Ok(())
}

/// Checks 3 to 7 on a header whose CRC is good.
fn check_fields(
    block: &[u8],
    lba: u64,
    n: u64,
    bs: usize,
    field: impl Fn(usize) -> Result<u64, GptFault>,
) -> Result<Header, GptFault> {
    let my_lba = field(OFF_MY_LBA)?;
    if my_lba != lba {
        return Err(GptFault::MyLbaMismatch(my_lba));
    }
    let first_usable = field(OFF_FIRST_USABLE)?;
    let last_usable = field(OFF_LAST_USABLE)?;
    if first_usable == 0
        || first_usable > last_usable
        || last_usable >= n
        || (first_usable..=last_usable).contains(&lba)
    {
        return Err(GptFault::BadUsableRange);
    }
    let entry_size = u32_at(block, OFF_ENTRY_SIZE).ok_or(GptFault::BadEntrySize(0))?;
    if entry_size < MIN_ENTRY_SIZE || entry_size % MIN_ENTRY_SIZE != 0 {
        return Err(GptFault::BadEntrySize(entry_size));
    }
    let num_entries = u32_at(block, OFF_NUM_ENTRIES).ok_or(GptFault::EntryArrayTooLarge)?;
    let array_bytes = u64::from(num_entries)
        .checked_mul(u64::from(entry_size))
        .filter(|&b| b <= MAX_ENTRY_ARRAY_BYTES)
        .ok_or(GptFault::EntryArrayTooLarge)?;
    let bs64 = bs as u64;
    let array_blocks = array_bytes.div_ceil(bs64);
    let entry_lba = field(OFF_ENTRY_LBA)?;
    let array_end = entry_lba
        .checked_add(array_blocks)
        .filter(|&e| e <= n)
        .ok_or(GptFault::EntryArrayOutsideDisk)?;
    if array_blocks != 0 {
        // Half-open [entry_lba, array_end) against the inclusive usable range.
        let overlaps_usable = entry_lba <= last_usable && array_end > first_usable;
        let covers_header = (entry_lba..array_end).contains(&lba);
        if entry_lba == 0 || overlaps_usable || covers_header {
            return Err(GptFault::EntryArrayOverlap);
        }
    }
    Ok(Header {
        disk_guid: Guid::from_bytes(array(block, OFF_DISK_GUID).ok_or(GptFault::NoSignature)?),
        first_usable,
        last_usable,
        entry_lba,
        num_entries,
        entry_size,
        entries_crc: u32_at(block, OFF_ENTRIES_CRC).ok_or(GptFault::EntriesCrc)?,
        array_bytes: usize::try_from(array_bytes).map_err(|_| GptFault::EntryArrayTooLarge)?,
        array_blocks,
    })
}

/// Reads the entry array of `h` in one request, checks its CRC (check 8)
/// and collects the used entries.
fn load_entries<D: BlockIo + ?Sized>(
    dev: &mut D,
    h: Header,
    bs: usize,
) -> Result<Result<Gpt, GptFault>, Error> {
    let total = usize::try_from(h.array_blocks)
        .ok()
        .and_then(|b| b.checked_mul(bs))
        .ok_or(Error::OutOfMemory)?;
    let mut buf = zeroed_vec(total)?;
    if total != 0 {
        dev.read_blocks(h.entry_lba, &mut buf)?;
    }
    let Some(arr) = buf.get(..h.array_bytes) else {
        return Ok(Err(GptFault::EntryArrayOutsideDisk));
    };
    if crc32(arr) != h.entries_crc {
        return Ok(Err(GptFault::EntriesCrc));
    }
    let mut partitions = Vec::new();
    let mut skipped = Vec::new();
    let size = usize::try_from(h.entry_size).map_err(|_| Error::OutOfMemory)?;
    // chunks_exact of an array of num_entries × size bytes yields exactly
    // num_entries entries; zip with the 1-based numbers.
    for (raw, number) in arr.chunks_exact(size).zip(1..=h.num_entries) {
        let Some(entry) = parse_entry(raw) else { continue };
        if entry.type_guid.is_zero() {
            continue;
        }
        let reason = if entry.first > entry.last {
            Some(SkipReason::StartAfterEnd)
        } else if entry.first < h.first_usable || entry.last > h.last_usable {
            Some(SkipReason::OutsideUsableRange)
        } else {
            None
        };
        match reason {
            Some(reason) => try_push(&mut skipped, SkippedEntry { number, reason })?,
            None => try_push(
                &mut partitions,
                PartitionInfo {
                    number,
                    first_lba: entry.first,
                    last_lba: entry.last,
                    kind: PartitionKind::Gpt(entry.info),
                },
            )?,
        }
    }
    Ok(Ok(Gpt { header: h, partitions, skipped }))
}

/// One decoded entry.
struct RawEntry {
    type_guid: Guid,
    first: u64,
    last: u64,
    info: GptEntry,
}

fn parse_entry(raw: &[u8]) -> Option<RawEntry> {
    let type_guid = Guid::from_bytes(array(raw, ENT_TYPE)?);
    let mut name = [0u16; NAME_UNITS];
    let name_bytes = raw.get(ENT_NAME..ENT_NAME + 2 * NAME_UNITS)?;
    for (dst, pair) in name.iter_mut().zip(name_bytes.chunks_exact(2)) {
        *dst = u16::from_le_bytes(pair.try_into().ok()?);
    }
    Some(RawEntry {
        type_guid,
        first: u64_at(raw, ENT_FIRST)?,
        last: u64_at(raw, ENT_LAST)?,
        info: GptEntry {
            type_guid,
            unique_guid: Guid::from_bytes(array(raw, ENT_UNIQUE)?),
            attributes: u64_at(raw, ENT_ATTRS)?,
            name,
        },
    })
}
