//! A FAT12/16/32 volume built by hand with any cluster count and cluster
//! size, for the chain tests and the chain benchmark (which includes this
//! file with `#[path]`, so it needs nothing but `std` and `vmfw-block`).
//!
//! Layout: 512-byte sectors, one reserved sector (or more), two FATs (every entry
//! written to both), a 512-entry fixed root directory on FAT12/16 or a
//! one-cluster root directory at cluster 2 on FAT32, then the data region.
//! The FAT type follows from the cluster count, as the FAT spec demands.
#![allow(dead_code)]
#![allow(clippy::indexing_slicing, clippy::expect_used)]

/// Which FAT the cluster count gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

impl Kind {
    pub fn of(clusters: u32) -> Kind {
        if clusters < 4085 {
            Kind::Fat12
        } else if clusters < 65525 {
            Kind::Fat16
        } else {
            Kind::Fat32
        }
    }

    /// The end-of-chain value written by [`Vol::chain`].
    pub fn eoc(self) -> u32 {
        match self {
            Kind::Fat12 => 0xFFF,
            Kind::Fat16 => 0xFFFF,
            Kind::Fat32 => 0x0FFF_FFFF,
        }
    }
}

#[derive(Clone)]
pub struct Vol {
    pub img: Vec<u8>,
    pub kind: Kind,
    pub clusters: u32,
    pub cluster_size: usize,
    pub fat_off: usize,
    pub fat_bytes: usize,
    pub root_off: usize,
    pub data_off: usize,
}

const BPS: usize = 512;

impl Vol {
    /// An empty volume of `clusters` clusters of `spc` sectors each.
    pub fn new(clusters: u32, spc: u8) -> Vol {
        Vol::with_reserved(clusters, spc, 1)
    }

    /// Like [`Vol::new`] with `reserved` reserved sectors, which moves the
    /// FATs to byte `512 * reserved`.
    pub fn with_reserved(clusters: u32, spc: u8, reserved: u16) -> Vol {
        let kind = Kind::of(clusters);
        let entries = clusters as usize + 2;
        let need = match kind {
            Kind::Fat12 => (entries * 3).div_ceil(2),
            Kind::Fat16 => entries * 2,
            Kind::Fat32 => entries * 4,
        };
        let fat_sectors = need.div_ceil(BPS);
        let root_sectors = if kind == Kind::Fat32 { 0 } else { 512 * 32 / BPS };
        let meta = reserved as usize + 2 * fat_sectors + root_sectors;
        let cluster_size = BPS * spc as usize;
        let total = meta + clusters as usize * spc as usize;
        // Whole 4 KiB blocks, so that the image also works as a 4Kn disk.
        let mut img = vec![0u8; (total * BPS).next_multiple_of(4096)];
        let b = &mut img[..BPS];
        b[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
        b[3..11].copy_from_slice(b"VMFWVOL ");
        b[11..13].copy_from_slice(&(BPS as u16).to_le_bytes());
        b[13] = spc;
        b[14..16].copy_from_slice(&reserved.to_le_bytes());
        b[16] = 2;
        b[21] = 0xF8;
        b[32..36].copy_from_slice(&(total as u32).to_le_bytes());
        let ebr = if kind == Kind::Fat32 {
            b[36..40].copy_from_slice(&(fat_sectors as u32).to_le_bytes());
            b[44..48].copy_from_slice(&2u32.to_le_bytes());
            66
        } else {
            b[17..19].copy_from_slice(&512u16.to_le_bytes());
            b[22..24].copy_from_slice(&(fat_sectors as u16).to_le_bytes());
            38
        };
        b[ebr] = 0x29;
        b[ebr + 1..ebr + 5].copy_from_slice(&0x5EEDu32.to_le_bytes());
        b[ebr + 5..ebr + 16].copy_from_slice(b"HANDVOL    ");
        b[510] = 0x55;
        b[511] = 0xAA;
        let fat_off = BPS * reserved as usize;
        let root_off = fat_off + 2 * fat_sectors * BPS;
        let data_off = root_off + root_sectors * BPS;
        let mut v = Vol {
            img,
            kind,
            clusters,
            cluster_size,
            fat_off,
            fat_bytes: fat_sectors * BPS,
            root_off,
            data_off,
        };
        v.set(0, 0x0FFF_FFF8);
        v.set(1, 0x0FFF_FFFF);
        if kind == Kind::Fat32 {
            v.set(2, kind.eoc());
        }
        v
    }

    /// Byte offset of FAT entry `c` (FAT12: of its first byte).
    pub fn entry_off(&self, c: u32) -> usize {
        let c = c as usize;
        self.fat_off
            + match self.kind {
                Kind::Fat12 => c + c / 2,
                Kind::Fat16 => 2 * c,
                Kind::Fat32 => 4 * c,
            }
    }

    /// Sets FAT entry `c` to `v` (truncated to the entry width) in both FATs.
    pub fn set(&mut self, c: u32, v: u32) {
        for copy in 0..2 {
            let off = self.entry_off(c) + copy * self.fat_bytes;
            match self.kind {
                Kind::Fat12 => {
                    let w = u16::from_le_bytes([self.img[off], self.img[off + 1]]);
                    let v = v as u16 & 0x0FFF;
                    let w = if c & 1 == 1 { (w & 0x000F) | (v << 4) } else { (w & 0xF000) | v };
                    self.img[off..off + 2].copy_from_slice(&w.to_le_bytes());
                }
                Kind::Fat16 => self.img[off..off + 2].copy_from_slice(&(v as u16).to_le_bytes()),
                Kind::Fat32 => self.img[off..off + 4].copy_from_slice(&v.to_le_bytes()),
            }
        }
    }

    /// Links `clusters` into one chain ending in an end-of-chain mark.
    pub fn chain(&mut self, clusters: &[u32]) {
        for w in clusters.windows(2) {
            self.set(w[0], w[1]);
        }
        if let Some(&last) = clusters.last() {
            self.set(last, self.kind.eoc());
        }
    }

    pub fn cluster_off(&self, c: u32) -> usize {
        self.data_off + (c as usize - 2) * self.cluster_size
    }

    /// Fills the clusters of a chain with `data` in chain order.
    pub fn fill(&mut self, clusters: &[u32], data: &[u8]) {
        for (c, piece) in clusters.iter().zip(data.chunks(self.cluster_size)) {
            let off = self.cluster_off(*c);
            self.img[off..off + piece.len()].copy_from_slice(piece);
        }
    }

    /// Writes root directory slot `idx`: a file named `name` (8.3, padded)
    /// starting at `first`, `size` bytes long.
    pub fn file(&mut self, idx: usize, name: &[u8; 11], first: u32, size: u32) {
        let off = match self.kind {
            Kind::Fat32 => self.cluster_off(2),
            _ => self.root_off,
        } + idx * 32;
        let e = &mut self.img[off..off + 32];
        e.fill(0);
        e[..11].copy_from_slice(name);
        e[20..22].copy_from_slice(&((first >> 16) as u16).to_le_bytes());
        e[26..28].copy_from_slice(&(first as u16).to_le_bytes());
        e[28..32].copy_from_slice(&size.to_le_bytes());
    }

    /// `chain` + `fill` + `file` in one: a file in root slot `idx`.
    pub fn add(&mut self, idx: usize, name: &[u8; 11], clusters: &[u32], data: &[u8]) {
        assert!(data.len() <= clusters.len() * self.cluster_size);
        self.chain(clusters);
        self.fill(clusters, data);
        self.file(idx, name, clusters.first().copied().unwrap_or(0), data.len() as u32);
    }
}

/// A deterministic shuffle (xorshift), so fixtures need no randomness.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed | 1;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
}
