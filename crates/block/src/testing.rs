//! Writers for GPT and MBR disk images, for tests and fuzz seeds (feature
//! `testing`; always on in this crate's own tests).
//!
//! These write what a partitioning tool would (UEFI 2.10 §5.2.3 protective
//! MBR, §5.3 GPT with primary and backup), with knobs to write what no sane
//! tool would. They are test helpers: they trust their arguments and panic
//! on nonsense (a layout that does not fit the disk), which is why the
//! crate's no-panic lints are lifted here. Nothing on the firmware's input
//! path uses them.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::{crc32, Guid};

/// One GPT partition entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPart {
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub unique_guid: Guid,
    /// First LBA (inclusive).
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name (at most 36 UTF-16 code units are written).
    pub name: String,
}

impl GptPart {
    /// A partition of type `type_guid` over `first_lba..=last_lba`, with a
    /// unique GUID derived from the range and an empty name.
    pub fn new(type_guid: Guid, first_lba: u64, last_lba: u64) -> Self {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&first_lba.to_le_bytes());
        u[8..].copy_from_slice(&last_lba.to_le_bytes());
        u[15] |= 0x80;
        Self {
            type_guid,
            unique_guid: Guid::from_bytes(u),
            first_lba,
            last_lba,
            attributes: 0,
            name: String::new(),
        }
    }

    /// Sets the name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = String::from(name);
        self
    }
}

/// A GPT disk layout: protective MBR at LBA 0, primary header at LBA 1 with
/// its array at LBA 2, backup array just before the backup header at the
/// last LBA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptImage {
    /// Logical block size in bytes.
    pub block_size: usize,
    /// Disk size in blocks.
    pub num_blocks: u64,
    /// `SizeOfPartitionEntry`.
    pub entry_size: u32,
    /// `NumberOfPartitionEntries`.
    pub num_entries: u32,
    /// `DiskGUID`.
    pub disk_guid: Guid,
    /// Entries to fill, with their 1-based index in the array.
    pub parts: Vec<(u32, GptPart)>,
}

impl GptImage {
    /// A disk of `num_blocks` blocks of `block_size` bytes with the usual
    /// 128 entries of 128 bytes and no partitions.
    pub fn new(block_size: usize, num_blocks: u64) -> Self {
        Self {
            block_size,
            num_blocks,
            entry_size: 128,
            num_entries: 128,
            disk_guid: "11223344-5566-7788-99AA-BBCCDDEEFF00".parse().unwrap(),
            parts: Vec::new(),
        }
    }

    /// Sets the entry count and size.
    pub fn entries(mut self, num_entries: u32, entry_size: u32) -> Self {
        self.num_entries = num_entries;
        self.entry_size = entry_size;
        self
    }

    /// Puts `part` at 1-based index `number` of the array.
    pub fn part(mut self, number: u32, part: GptPart) -> Self {
        self.parts.push((number, part));
        self
    }

    /// Bytes of entry array covered by the CRC.
    pub fn array_bytes(&self) -> usize {
        self.num_entries as usize * self.entry_size as usize
    }

    /// Blocks the entry array occupies.
    pub fn array_blocks(&self) -> u64 {
        self.array_bytes().div_ceil(self.block_size) as u64
    }

    /// `FirstUsableLBA` as written.
    pub fn first_usable(&self) -> u64 {
        2 + self.array_blocks()
    }

    /// `LastUsableLBA` as written.
    pub fn last_usable(&self) -> u64 {
        self.num_blocks - 2 - self.array_blocks()
    }

    /// LBA of the backup header.
    pub fn backup_lba(&self) -> u64 {
        self.num_blocks - 1
    }

    /// LBA of the backup entry array.
    pub fn backup_array_lba(&self) -> u64 {
        self.num_blocks - 1 - self.array_blocks()
    }

    /// The entry array, padded to whole blocks.
    pub fn entry_array(&self) -> Vec<u8> {
        let mut a = vec![0u8; self.array_blocks() as usize * self.block_size];
        let es = self.entry_size as usize;
        for (number, p) in &self.parts {
            let off = (*number as usize - 1) * es;
            let e = &mut a[off..off + es];
            e[0..16].copy_from_slice(&p.type_guid.to_bytes());
            e[16..32].copy_from_slice(&p.unique_guid.to_bytes());
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (i, u) in p.name.encode_utf16().take(36).enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
        }
        a
    }

    /// The header block for the primary (`backup == false`) or backup copy.
    pub fn header_block(&self, backup: bool) -> Vec<u8> {
        let array = self.entry_array();
        let (my, alt, entries) = if backup {
            (self.backup_lba(), 1, self.backup_array_lba())
        } else {
            (1, self.backup_lba(), 2)
        };
        let mut h = vec![0u8; self.block_size];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable().to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable().to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid.to_bytes());
        h[72..80].copy_from_slice(&entries.to_le_bytes());
        h[80..84].copy_from_slice(&self.num_entries.to_le_bytes());
        h[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&array[..self.array_bytes()]).to_le_bytes());
        seal_header(&mut h);
        h
    }

    /// The table's blocks without the disk in between: `head` is LBA 0 up
    /// to the first usable LBA (protective MBR, primary header and array),
    /// `tail` the backup array and header, which end at the last LBA. For
    /// disks too large to build in memory.
    pub fn head_and_tail(&self) -> (Vec<u8>, Vec<u8>) {
        let bs = self.block_size;
        let array = self.entry_array();
        let mut head = vec![0u8; self.first_usable() as usize * bs];
        head[..bs].copy_from_slice(&protective_mbr(bs, self.num_blocks));
        head[bs..2 * bs].copy_from_slice(&self.header_block(false));
        head[2 * bs..2 * bs + array.len()].copy_from_slice(&array);
        let mut tail = array;
        tail.extend_from_slice(&self.header_block(true));
        (head, tail)
    }

    /// The whole disk image.
    pub fn build(&self) -> Vec<u8> {
        let (head, tail) = self.head_and_tail();
        let mut img = vec![0u8; self.num_blocks as usize * self.block_size];
        img[..head.len()].copy_from_slice(&head);
        let at = img.len() - tail.len();
        img[at..].copy_from_slice(&tail);
        img
    }
}

/// Recomputes the header CRC of the header at the start of `h` (over its
/// `HeaderSize` bytes, CRC field zeroed), after a test edited a field.
pub fn seal_header(h: &mut [u8]) {
    let size = vmfw_bytes::u32_at(h, 12).unwrap() as usize;
    h[16..20].fill(0);
    let crc = crc32(&h[..size]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// Reads a little-endian `u64` header field at `off` of block `lba` of `img`.
pub fn header_u64(img: &[u8], bs: usize, lba: u64, off: usize) -> u64 {
    let at = lba as usize * bs + off;
    vmfw_bytes::u64_at(img, at).unwrap()
}

/// Overwrites `bytes` at `off` in block `lba` of `img` and reseals that
/// block's header CRC, so only the edited field is wrong.
pub fn edit_header(img: &mut [u8], bs: usize, lba: u64, off: usize, bytes: &[u8]) {
    let at = lba as usize * bs;
    let h = &mut img[at..at + bs];
    h[off..off + bytes.len()].copy_from_slice(bytes);
    seal_header(h);
}

/// One MBR partition record to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MbrRecord {
    /// Boot indicator (0x00 or 0x80).
    pub status: u8,
    /// Partition type.
    pub os_type: u8,
    /// `StartingLBA`.
    pub start: u32,
    /// `SizeInLBA`.
    pub count: u32,
}

impl MbrRecord {
    /// A non-bootable record.
    pub fn new(os_type: u8, start: u32, count: u32) -> Self {
        Self { status: 0, os_type, start, count }
    }
}

/// Writes `records` (at most 4), the disk signature and 0x55AA into the
/// first 512 bytes of `block` (an MBR or EBR).
pub fn write_mbr(block: &mut [u8], disk_signature: u32, records: &[MbrRecord]) {
    assert!(records.len() <= 4);
    block[440..444].copy_from_slice(&disk_signature.to_le_bytes());
    for (i, r) in records.iter().enumerate() {
        let e = &mut block[446 + 16 * i..462 + 16 * i];
        e[0] = r.status;
        // CHS fields: the "beyond CHS" marker, as modern tools write.
        e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
        e[4] = r.os_type;
        e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
        e[8..12].copy_from_slice(&r.start.to_le_bytes());
        e[12..16].copy_from_slice(&r.count.to_le_bytes());
    }
    block[510] = 0x55;
    block[511] = 0xAA;
}

/// A protective MBR block (UEFI 2.10 §5.2.3) for a disk of `num_blocks`.
pub fn protective_mbr(block_size: usize, num_blocks: u64) -> Vec<u8> {
    let mut b = vec![0u8; block_size];
    let size = u32::try_from(num_blocks - 1).unwrap_or(u32::MAX);
    write_mbr(&mut b, 0, &[MbrRecord::new(0xEE, 1, size)]);
    b
}

/// A disk of `num_blocks` blocks with a legacy MBR holding `records`.
pub fn mbr_image(
    block_size: usize,
    num_blocks: u64,
    disk_signature: u32,
    records: &[MbrRecord],
) -> Vec<u8> {
    let mut img = vec![0u8; num_blocks as usize * block_size];
    write_mbr(&mut img[..block_size], disk_signature, records);
    img
}

/// Writes an EBR at block `lba` of `img`: `logical` (its start relative to
/// the EBR) and, if any, the link `next` to the following EBR (type 0x05,
/// its start relative to the start of the extended partition).
pub fn write_ebr(
    img: &mut [u8],
    block_size: usize,
    lba: u64,
    logical: MbrRecord,
    next: Option<MbrRecord>,
) {
    let at = lba as usize * block_size;
    let mut recs = vec![logical];
    if let Some(n) = next {
        recs.push(n);
    }
    write_mbr(&mut img[at..at + block_size], 0, &recs);
}
