//! Directory entries (FAT spec, "FAT Directory Structure" and "FAT Long
//! Directory Entries").
//!
//! A directory is a sequence of 32-byte entries: the fixed root region on
//! FAT12/16, or a cluster chain. Reading rules, in order, for each entry:
//! - first byte 0x00: end of directory, nothing after it is read;
//! - first byte 0xE5: deleted, skipped;
//! - attribute `& 0x3F == 0x0F`: a long-name entry, collected;
//! - attribute has `VOLUME_ID`: the volume label, skipped;
//! - anything else is a short entry and ends one [`Entry`].
//!
//! A long name is used only if its run is whole: it starts with the entry
//! flagged 0x40 (`LAST_LONG_ENTRY`) with sequence N in 1..=20, continues with
//! N-1 down to 1 without gaps, every entry carries the same checksum, that
//! checksum matches the short entry that follows immediately, and the name is
//! 1..=255 UTF-16 units. Anything else discards the run and the entry keeps
//! its short name (the orphan handling "FAT Long Directory Entries" describes). Unpaired surrogates become
//! U+FFFD.
//!
//! A directory holds at most 65536 entries ("Other Notes Relating to FAT
//! Directories"); a longer chain is reported
//! as [`crate::Error::DirectoryTooLarge`], and a looping chain as
//! [`crate::Error::ChainLoop`], so iteration always ends.

use alloc::string::String;
use vmfw_bytes::{u16_at, u16_in, u32_in};

use crate::name;
use crate::table::LoopGuard;
use crate::time::Timestamp;

/// The FAT attribute byte (`DIR_Attr`, FAT spec "FAT Directory Structure").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub u8);

impl Attributes {
    /// Writes should fail.
    pub const READ_ONLY: u8 = 0x01;
    /// Hidden from normal listings.
    pub const HIDDEN: u8 = 0x02;
    /// An operating-system file.
    pub const SYSTEM: u8 = 0x04;
    /// The volume label entry.
    pub const VOLUME_ID: u8 = 0x08;
    /// A directory.
    pub const DIRECTORY: u8 = 0x10;
    /// Changed since the last backup.
    pub const ARCHIVE: u8 = 0x20;

    /// Whether every bit of `mask` is set.
    pub fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }

    /// The raw attribute byte.
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// Entries a directory may hold (FAT spec "Other Notes Relating to FAT Directories").
pub(crate) const MAX_DIR_ENTRIES: u32 = 65536;

/// One file or directory as its directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub(crate) long_name: Option<String>,
    pub(crate) short_name: String,
    pub(crate) attr: Attributes,
    pub(crate) size: u32,
    pub(crate) first_cluster: u32,
    pub(crate) created: Option<Timestamp>,
    pub(crate) modified: Option<Timestamp>,
    pub(crate) accessed: Option<Timestamp>,
    pub(crate) is_root: bool,
    /// Where the entry's slots are; `None` for the root.
    #[cfg(feature = "write")]
    pub(crate) pos: Option<SlotPos>,
}

#[cfg(feature = "write")]
/// Where an entry's directory slots lie: its long-name slots (if it has a
/// valid long name) followed by its short slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotPos {
    /// The directory holding the entry.
    pub dir: Dir,
    /// Device byte offset of the first slot (the short slot when there is
    /// no long name).
    pub first_off: u64,
    /// Device byte offset of the short slot.
    pub short_off: u64,
    /// Number of slots, the short one included.
    pub slots: u32,
}

impl Entry {
    #[cfg(feature = "write")]
    /// The directory holding this entry (`None` for the root).
    pub fn parent(&self) -> Option<Dir> {
        self.pos.map(|p| p.dir)
    }

    /// The name to show: the long name if the entry has a valid one, else
    /// the short name. The root directory's name is empty.
    pub fn name(&self) -> &str {
        self.long_name.as_deref().unwrap_or(&self.short_name)
    }

    /// The long file name, if a valid one precedes the entry.
    pub fn long_name(&self) -> Option<&str> {
        self.long_name.as_deref()
    }

    /// The 8.3 name, with the NT lowercase flags applied (`"BOOTX64.EFI"`).
    pub fn short_name(&self) -> &str {
        &self.short_name
    }

    /// File size in bytes (0 for directories).
    pub fn size(&self) -> u64 {
        if self.is_dir() {
            0
        } else {
            u64::from(self.size)
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.attr.contains(Attributes::DIRECTORY)
    }

    /// Whether this is the volume's root directory (which has no entry of
    /// its own; see [`crate::FileSystem::root_entry`]).
    pub fn is_root(&self) -> bool {
        self.is_root
    }

    /// The attribute byte.
    pub fn attributes(&self) -> Attributes {
        self.attr
    }

    /// First cluster of the data as recorded (0 for an empty file, and for
    /// a `..` entry that points at the root).
    pub fn first_cluster(&self) -> u32 {
        self.first_cluster
    }

    /// Creation time (10 ms resolution), if recorded.
    pub fn created(&self) -> Option<Timestamp> {
        self.created
    }

    /// Last modification time (2 s resolution), if recorded.
    pub fn modified(&self) -> Option<Timestamp> {
        self.modified
    }

    /// Last access date (at midnight), if recorded.
    pub fn accessed(&self) -> Option<Timestamp> {
        self.accessed
    }

    /// Whether this is the `.` or `..` entry of a subdirectory (decided by
    /// the short name; some writers also give them long names).
    pub fn is_dot(&self) -> bool {
        self.short_name == "." || self.short_name == ".."
    }
}

/// A directory to iterate: plain data, cheap to copy and keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dir {
    /// 0 stands for the fixed FAT12/16 root region.
    pub(crate) cluster: u32,
}

impl Dir {
    /// First cluster of the directory (0 for the fixed FAT12/16 root).
    pub fn first_cluster(&self) -> u32 {
        self.cluster
    }
}

/// A position inside a directory, for reading it one entry at a time (what
/// the UEFI File protocol's `Read` on a directory needs). Plain data: keep
/// one per open directory handle; make a new one to rewind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirCursor {
    pub(crate) dir: Dir,
    /// Index of the next 32-byte slot to read.
    pub(crate) index: u32,
    /// Cluster that holds slot `cluster_index * per_cluster` onwards.
    pub(crate) cluster: u32,
    pub(crate) cluster_index: u32,
    pub(crate) guard: LoopGuard,
    pub(crate) done: bool,
}

impl DirCursor {
    /// A cursor at the first entry of `dir`.
    pub fn new(dir: Dir) -> Self {
        DirCursor {
            dir,
            index: 0,
            cluster: dir.cluster,
            cluster_index: 0,
            guard: LoopGuard::new(dir.cluster),
            done: false,
        }
    }

    /// The directory this cursor walks.
    pub fn dir(&self) -> Dir {
        self.dir
    }
}

/// Attribute value of a long-name entry (under mask 0x3F).
const ATTR_LONG_NAME: u8 = 0x0F;
/// Flag on the first physical (last logical) long-name entry.
const LAST_LONG_ENTRY: u8 = 0x40;
/// UTF-16 units per long-name entry.
const LFN_UNITS: usize = 13;
/// Byte offsets of the 13 UTF-16 units in a long-name entry.
const LFN_OFFSETS: [usize; LFN_UNITS] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// How one raw slot is to be treated.
pub(crate) enum Slot {
    End,
    Skip,
    Long,
    Short,
}

pub(crate) fn classify(raw: &[u8; 32]) -> Slot {
    match raw[0] {
        0x00 => Slot::End,
        0xE5 => Slot::Skip,
        _ if raw[11] & 0x3F == ATTR_LONG_NAME => Slot::Long,
        _ if raw[11] & Attributes::VOLUME_ID != 0 => Slot::Skip,
        _ => Slot::Short,
    }
}

/// Collects one run of long-name entries.
pub(crate) struct LongName {
    units: [u16; 20 * LFN_UNITS],
    total: u8,
    expect: u8,
    checksum: u8,
    active: bool,
}

impl LongName {
    pub fn new() -> Self {
        LongName {
            units: [0xFFFF; 20 * LFN_UNITS],
            total: 0,
            expect: 0,
            checksum: 0,
            active: false,
        }
    }

    pub fn reset(&mut self) {
        self.active = false;
    }

    /// Adds a long-name entry; breaks the run if it does not continue it.
    pub fn push(&mut self, raw: &[u8; 32]) {
        let ord = raw[0];
        let seq = ord & !LAST_LONG_ENTRY;
        // LDIR_Type must be 0 and LDIR_FstClusLO 0 for a name entry.
        let sane = (1..=20).contains(&seq) && raw[12] == 0 && u16_in::<26, _>(raw) == 0;
        if !sane {
            self.active = false;
            return;
        }
        if ord & LAST_LONG_ENTRY != 0 {
            self.active = true;
            self.total = seq;
            self.checksum = raw[13];
        } else if !(self.active && seq == self.expect && raw[13] == self.checksum) {
            self.active = false;
            return;
        }
        let base = usize::from(seq - 1) * LFN_UNITS;
        for (i, off) in LFN_OFFSETS.iter().enumerate() {
            // Every offset in LFN_OFFSETS leaves room for a unit in the
            // 32-byte entry, so the read always succeeds.
            if let (Some(u), Some(v)) = (self.units.get_mut(base + i), u16_at(raw, *off)) {
                *u = v;
            }
        }
        self.expect = seq - 1;
    }

    /// Ends the run at short entry `short` and returns the name if the run
    /// is complete and belongs to it.
    pub fn take(&mut self, short: &[u8; 11]) -> Option<String> {
        let ok = self.active && self.expect == 0 && self.checksum == name::checksum(short);
        self.active = false;
        if !ok {
            return None;
        }
        let all = self.units.get(..usize::from(self.total) * LFN_UNITS).unwrap_or(&[]);
        let len = all.iter().position(|&u| u == 0).unwrap_or(all.len());
        if len == 0 || len > 255 {
            return None;
        }
        let units = all.get(..len).unwrap_or(&[]);
        Some(
            char::decode_utf16(units.iter().copied())
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        )
    }
}

/// Builds an [`Entry`] from a short entry and the long name before it.
pub(crate) fn entry_from(raw: &[u8; 32], long_name: Option<String>, fat32: bool) -> Entry {
    let mut short = [0u8; 11];
    if let Some(s) = raw.first_chunk::<11>() {
        short = *s;
    }
    let lo = u32::from(u16_in::<26, _>(raw));
    let hi = u32::from(u16_in::<20, _>(raw));
    // DIR_FstClusHI is only meaningful on FAT32; FAT12/16 may keep
    // other data there. The top 4 bits of a FAT32 cluster are reserved.
    let first_cluster = if fat32 { ((hi << 16) | lo) & 0x0FFF_FFFF } else { lo };
    let size = u32_in::<28, _>(raw);
    Entry {
        long_name,
        short_name: name::short_name(&short, raw[12]),
        attr: Attributes(raw[11]),
        size,
        first_cluster,
        created: Timestamp::from_fat(u16_in::<16, _>(raw), u16_in::<14, _>(raw), raw[13]),
        modified: Timestamp::from_fat(u16_in::<24, _>(raw), u16_in::<22, _>(raw), 0),
        accessed: Timestamp::from_fat(u16_in::<18, _>(raw), 0, 0),
        is_root: false,
        #[cfg(feature = "write")]
        pos: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn lfn(ord: u8, sum: u8, chars: &[u16]) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = ord;
        e[11] = ATTR_LONG_NAME;
        e[13] = sum;
        for (i, off) in LFN_OFFSETS.iter().enumerate() {
            let u = chars.get(i).copied().unwrap_or(if i == chars.len() { 0 } else { 0xFFFF });
            e[*off..*off + 2].copy_from_slice(&u.to_le_bytes());
        }
        e
    }

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    const SHORT: &[u8; 11] = b"LONGNA~1TXT";

    #[test]
    fn assembles_a_run() {
        let name = units("A long file name.txt");
        let sum = name::checksum(SHORT);
        let mut l = LongName::new();
        l.push(&lfn(0x42, sum, &name[13..]));
        l.push(&lfn(0x01, sum, &name[..13]));
        assert_eq!(l.take(SHORT).as_deref(), Some("A long file name.txt"));
        // taking again yields nothing: the run was consumed
        assert_eq!(l.take(SHORT), None);
    }

    #[test]
    fn broken_runs_are_dropped() {
        let name = units("A long file name.txt");
        let sum = name::checksum(SHORT);
        let cases: Vec<Vec<[u8; 32]>> = alloc::vec![
            // wrong checksum
            alloc::vec![lfn(0x42, sum ^ 1, &name[13..]), lfn(0x01, sum ^ 1, &name[..13])],
            // checksum differs between entries
            alloc::vec![lfn(0x42, sum, &name[13..]), lfn(0x01, sum ^ 1, &name[..13])],
            // missing the last-entry flag
            alloc::vec![lfn(0x02, sum, &name[13..]), lfn(0x01, sum, &name[..13])],
            // gap in the sequence
            alloc::vec![lfn(0x43, sum, &name[13..]), lfn(0x01, sum, &name[..13])],
            // incomplete
            alloc::vec![lfn(0x42, sum, &name[13..])],
            // out of order
            alloc::vec![lfn(0x01, sum, &name[..13]), lfn(0x42, sum, &name[13..])],
            // sequence 0 and 21
            alloc::vec![lfn(0x40, sum, &name[..13])],
            alloc::vec![lfn(0x55, sum, &name[..13])],
            // empty name
            alloc::vec![lfn(0x41, sum, &[])],
        ];
        for (i, run) in cases.iter().enumerate() {
            let mut l = LongName::new();
            for e in run {
                l.push(e);
            }
            assert_eq!(l.take(SHORT), None, "case {i}");
        }
    }

    #[test]
    fn decodes_bad_surrogates_lossily() {
        let sum = name::checksum(SHORT);
        let mut l = LongName::new();
        l.push(&lfn(0x41, sum, &[0x61, 0xD800, 0x62]));
        assert_eq!(l.take(SHORT).as_deref(), Some("a\u{FFFD}b"));
    }

    #[test]
    fn decodes_short_entries() {
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(b"KERNEL  EFI");
        e[11] = Attributes::ARCHIVE;
        e[12] = name::NT_LOWER_BASE;
        e[20..22].copy_from_slice(&0x0001u16.to_le_bytes());
        e[26..28].copy_from_slice(&0x0203u16.to_le_bytes());
        e[28..32].copy_from_slice(&1234u32.to_le_bytes());
        let fat32 = entry_from(&e, None, true);
        assert_eq!(fat32.name(), "kernel.EFI");
        assert_eq!(fat32.first_cluster(), 0x1_0203);
        assert_eq!(fat32.size(), 1234);
        assert!(!fat32.is_dir());
        assert_eq!(fat32.created(), None);
        let fat16 = entry_from(&e, None, false);
        assert_eq!(fat16.first_cluster(), 0x0203);
    }
}
