//! Hostile disks: copies of good test images with one structure broken on
//! purpose (a GPT header, a FAT chain, a directory entry, a kernel header,
//! a PE header), for `tests/hostile.rs`.
//!
//! The edits are made on the host with a small reader of its own (GPT
//! headers, the FAT boot sector, directory entries with long names), kept
//! separate from the firmware's parsers so that a bug in those cannot hide
//! itself. Edited images go to `target/itest-tmp`; the good images they
//! start from are the cached ones.

use std::path::{Path, PathBuf};
use vmfw_block::testing::seal_header;

/// A whole disk image in memory, to be edited and written out.
pub struct Image {
    /// The image's bytes.
    pub bytes: Vec<u8>,
    /// Logical block size.
    pub block_size: usize,
}

impl Image {
    /// Reads `path` (a disk with `block_size`-byte blocks).
    pub fn open(path: &Path, block_size: usize) -> Image {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Image { bytes, block_size }
    }

    /// Writes the edited image to `target/itest-tmp/hostile-<name>.img`
    /// and returns its path.
    pub fn save(&self, name: &str) -> PathBuf {
        let dir = crate::root().join("target").join("itest-tmp");
        std::fs::create_dir_all(&dir).expect("create itest-tmp");
        let path = dir.join(format!("hostile-{name}.img"));
        std::fs::write(&path, &self.bytes).expect("write hostile image");
        path
    }

    fn blocks(&self) -> u64 {
        (self.bytes.len() / self.block_size) as u64
    }

    /// The byte offset of `lba`.
    pub fn lba(&self, lba: u64) -> usize {
        lba as usize * self.block_size
    }

    /// Little-endian u32 at `off`.
    pub fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().expect("4 bytes"))
    }

    /// Little-endian u64 at `off`.
    pub fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes[off..off + 8].try_into().expect("8 bytes"))
    }

    /// Writes `v` little-endian at `off`.
    pub fn put(&mut self, off: usize, v: &[u8]) {
        self.bytes[off..off + v.len()].copy_from_slice(v);
    }

    /// The two GPT header LBAs: primary (1) and backup (last block).
    pub fn gpt_headers(&self) -> [u64; 2] {
        [1, self.blocks() - 1]
    }

    /// Edits both GPT headers' partition-entry arrays and headers with `f`
    /// (given the image, the header LBA and its array's byte offset), then
    /// recomputes both array CRCs and header CRCs, so the tables are
    /// self-consistent and only the edited values are wrong.
    pub fn edit_gpt(&mut self, mut f: impl FnMut(&mut Image, usize, usize)) {
        for lba in self.gpt_headers() {
            let h = self.lba(lba);
            let array = self.lba(self.u64_at(h + 72));
            f(self, h, array);
        }
        self.reseal_gpt();
    }

    /// Recomputes the entry-array CRC (over what the header says the array
    /// is, where that fits the image) and the header CRC of both headers.
    pub fn reseal_gpt(&mut self) {
        for lba in self.gpt_headers() {
            let h = self.lba(lba);
            let array = self.lba(self.u64_at(h + 72));
            let len = u64::from(self.u32_at(h + 80)) * u64::from(self.u32_at(h + 84));
            if let Some(bytes) = self.bytes.get(array..).and_then(|a| a.get(..len as usize)) {
                let crc = vmfw_bytes::crc32(bytes);
                self.put(h + 88, &crc.to_le_bytes());
            }
            let bs = self.block_size;
            seal_header(&mut self.bytes[h..h + bs]);
        }
    }

    /// The FAT volume starting at byte `offset`.
    pub fn fat(&self, offset: usize) -> FatView {
        FatView::new(&self.bytes, offset)
    }
}

/// Where the parts of a FAT16/FAT32 volume are, from its boot sector.
#[derive(Debug, Clone, Copy)]
pub struct FatView {
    start: usize,
    bytes_per_sector: usize,
    cluster_bytes: usize,
    fats: usize,
    fat_bytes: usize,
    fat_start: usize,
    root_dir: usize,
    root_dir_bytes: usize,
    data: usize,
    fat32: bool,
    root_cluster: u32,
}

/// One directory entry as found on the disk.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// Byte offset of the 32-byte short entry in the image.
    pub offset: usize,
    /// The long name if there is one, else the short name, as stored.
    pub name: String,
    /// First cluster.
    pub cluster: u32,
    /// File size.
    pub size: u32,
    /// A directory.
    pub is_dir: bool,
}

impl FatView {
    fn new(b: &[u8], start: usize) -> FatView {
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([b[start + o], b[start + o + 1]]));
        let u32_at =
            |o: usize| u32::from_le_bytes(b[start + o..start + o + 4].try_into().expect("4 bytes"));
        let bps = u16_at(11);
        let spc = usize::from(b[start + 13]);
        let reserved = u16_at(14);
        let fats = usize::from(b[start + 16]);
        let root_entries = u16_at(17);
        let fat16_size = u16_at(22);
        let fat32 = fat16_size == 0;
        let fat_sectors = if fat32 { u32_at(36) as usize } else { fat16_size };
        let fat_start = start + reserved * bps;
        let root_dir = fat_start + fats * fat_sectors * bps;
        let root_dir_bytes = (root_entries * 32).next_multiple_of(bps);
        FatView {
            start,
            bytes_per_sector: bps,
            cluster_bytes: bps * spc,
            fats,
            fat_bytes: fat_sectors * bps,
            fat_start,
            root_dir,
            root_dir_bytes,
            data: root_dir + root_dir_bytes,
            fat32,
            root_cluster: if fat32 { u32_at(44) } else { 0 },
        }
    }

    /// Byte offset of the boot sector's field at `field`.
    pub fn boot_sector(&self, field: usize) -> usize {
        self.start + field
    }

    /// Byte offset of `cluster`'s data.
    pub fn cluster(&self, cluster: u32) -> usize {
        self.data + (cluster as usize - 2) * self.cluster_bytes
    }

    /// The FAT entry of `cluster` (from the first FAT).
    pub fn next(&self, img: &Image, cluster: u32) -> u32 {
        if self.fat32 {
            img.u32_at(self.fat_start + 4 * cluster as usize) & 0x0fff_ffff
        } else {
            let o = self.fat_start + 2 * cluster as usize;
            u32::from(u16::from_le_bytes([img.bytes[o], img.bytes[o + 1]]))
        }
    }

    /// Sets `cluster`'s FAT entry to `value` in every FAT copy.
    pub fn set_next(&self, img: &mut Image, cluster: u32, value: u32) {
        for copy in 0..self.fats {
            let base = self.fat_start + copy * self.fat_bytes;
            if self.fat32 {
                img.put(base + 4 * cluster as usize, &value.to_le_bytes());
            } else {
                img.put(base + 2 * cluster as usize, &(value as u16).to_le_bytes());
            }
        }
    }

    /// The clusters of the chain starting at `first`, up to its end mark
    /// (at most 1 << 20, so a broken chain cannot hang the test).
    pub fn chain(&self, img: &Image, first: u32) -> Vec<u32> {
        let end = if self.fat32 { 0x0fff_fff8 } else { 0xfff8 };
        let mut out = vec![first];
        let mut c = first;
        while out.len() < 1 << 20 {
            c = self.next(img, c);
            if c < 2 || c >= end {
                break;
            }
            out.push(c);
        }
        out
    }

    /// The entries of the directory starting at `cluster` (0: the root).
    pub fn list(&self, img: &Image, cluster: u32) -> Vec<DirEntry> {
        let regions: Vec<(usize, usize)> = if cluster == 0 && !self.fat32 {
            vec![(self.root_dir, self.root_dir_bytes)]
        } else {
            let first = if cluster == 0 { self.root_cluster } else { cluster };
            self.chain(img, first).iter().map(|&c| (self.cluster(c), self.cluster_bytes)).collect()
        };
        let mut out = Vec::new();
        let mut long: Vec<(u8, Vec<u16>)> = Vec::new();
        for (start, len) in regions {
            for off in (start..start + len).step_by(32) {
                let e = &img.bytes[off..off + 32];
                match e[0] {
                    0 => return out,
                    0xe5 => {
                        long.clear();
                        continue;
                    }
                    _ => {}
                }
                if e[11] == 0x0f {
                    let mut units = Vec::new();
                    for r in [1..11, 14..26, 28..32] {
                        units.extend(e[r].chunks(2).map(|p| u16::from_le_bytes([p[0], p[1]])));
                    }
                    long.push((e[0] & 0x3f, units));
                    continue;
                }
                let short = {
                    let base = String::from_utf8_lossy(&e[0..8]).trim_end().to_string();
                    let ext = String::from_utf8_lossy(&e[8..11]).trim_end().to_string();
                    if ext.is_empty() {
                        base
                    } else {
                        format!("{base}.{ext}")
                    }
                };
                long.sort_by_key(|(n, _)| *n);
                let name = if long.is_empty() {
                    short
                } else {
                    let units: Vec<u16> = long
                        .iter()
                        .flat_map(|(_, u)| u.iter().copied())
                        .take_while(|&u| u != 0 && u != 0xffff)
                        .collect();
                    String::from_utf16_lossy(&units)
                };
                long.clear();
                let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
                let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
                out.push(DirEntry {
                    offset: off,
                    name,
                    cluster: hi << 16 | lo,
                    size: u32::from_le_bytes(e[28..32].try_into().expect("4 bytes")),
                    is_dir: e[11] & 0x10 != 0,
                });
            }
        }
        out
    }

    /// The entry at `path` (like `/loader/entries`), matched without regard
    /// to case; panics when it is not there (the good image has it).
    pub fn find(&self, img: &Image, path: &str) -> DirEntry {
        let mut dir = 0;
        let mut found = None;
        for part in path.trim_start_matches('/').split('/') {
            let e = self
                .list(img, dir)
                .into_iter()
                .find(|e| e.name.eq_ignore_ascii_case(part))
                .unwrap_or_else(|| panic!("{path}: no {part} in the test image"));
            dir = e.cluster;
            found = Some(e);
        }
        found.expect("a non-empty path")
    }

    /// Sets the first cluster of the entry at `entry`.
    pub fn set_cluster(&self, img: &mut Image, entry: &DirEntry, cluster: u32) {
        img.put(entry.offset + 20, &((cluster >> 16) as u16).to_le_bytes());
        img.put(entry.offset + 26, &(cluster as u16).to_le_bytes());
    }

    /// Sets the size of the entry at `entry`.
    pub fn set_size(&self, img: &mut Image, entry: &DirEntry, size: u32) {
        img.put(entry.offset + 28, &size.to_le_bytes());
    }

    /// Bytes per sector.
    pub fn bytes_per_sector(&self) -> usize {
        self.bytes_per_sector
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> usize {
        self.cluster_bytes
    }
}

/// PE/COFF header offsets of an image in memory.
#[derive(Debug, Clone, Copy)]
pub struct PeView {
    /// Offset of the optional header.
    pub optional: usize,
    /// Offset of the section table.
    pub sections: usize,
    /// Number of sections.
    pub count: usize,
}

impl PeView {
    /// Finds the headers of the PE32+ image `b`.
    pub fn new(b: &[u8]) -> PeView {
        let pe = u32::from_le_bytes(b[0x3c..0x40].try_into().expect("4 bytes")) as usize;
        assert_eq!(&b[pe..pe + 4], b"PE\0\0", "not a PE image");
        let count = usize::from(u16::from_le_bytes([b[pe + 6], b[pe + 7]]));
        let opt_size = usize::from(u16::from_le_bytes([b[pe + 20], b[pe + 21]]));
        let optional = pe + 24;
        PeView { optional, sections: optional + opt_size, count }
    }

    /// Offset of section `i`'s 40-byte header.
    pub fn section(&self, i: usize) -> usize {
        assert!(i < self.count);
        self.sections + 40 * i
    }

    /// Offset of data directory `i` (RVA, size) in the optional header.
    pub fn directory(&self, i: usize) -> usize {
        self.optional + 112 + 8 * i
    }

    /// The file offset of `rva`, from the section table.
    pub fn file_offset(&self, b: &[u8], rva: u32) -> Option<usize> {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        (0..self.count).map(|i| self.section(i)).find_map(|s| {
            let (va, vsize, raw) = (u32_at(s + 12), u32_at(s + 8), u32_at(s + 20));
            (rva >= va && rva < va + vsize).then(|| (raw + (rva - va)) as usize)
        })
    }
}
