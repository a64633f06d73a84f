//! Input decoding and invariant checks shared by vmfw's fuzz targets.
//!
//! Disk inputs (targets `gpt` and `mbr`) are:
//!
//! ```text
//! flags: u8        bit 0: 4096-byte blocks (else 512); bit 1: sparse;
//!                  bit 2: reseal GPT CRCs (see below)
//! [sparse only]    num_blocks: u64 LE, head_blocks: u16 LE
//! data: [u8]       the image; a trailing partial block is dropped
//! ```
//!
//! A plain disk is a `MemDisk` over `data`. A sparse disk is `num_blocks`
//! long (at least as long as `data`): the first `head_blocks` blocks of
//! `data` are at its start, the remaining blocks at its very end, zeros in
//! between, so a few KiB describe a primary and a backup GPT on a disk of
//! any size, up to `u64::MAX` blocks.
//!
//! Reseal: before the disk is used, the GPT headers at LBA 1 and at the
//! last LBA get their entry-array CRC (when the array lies in the data) and
//! then their header CRC recomputed, so that mutations get past the
//! checksums and reach the checks behind them.
//!
//! The seeds in `seeds/<target>/` are written by
//! `cargo run -p vmfw-block --features testing --example write_fuzz_seeds`
//! (see that example for the `block_io` format) plus one image made by
//! sgdisk.
#![forbid(unsafe_code)]

use vmfw_block::{check_range, BlockIo, CachedDisk, Error, MemDisk, PartitionTable, Scheme};

/// A sparse device: see the crate docs.
#[derive(Debug)]
pub struct SparseDisk {
    data: Vec<u8>,
    bs: u32,
    num_blocks: u64,
    head_blocks: u64,
    tail_blocks: u64,
}

impl SparseDisk {
    fn block(&self, lba: u64) -> Option<&[u8]> {
        let bs = self.bs as usize;
        let at = self.index(lba)?.checked_mul(bs)?;
        self.data.get(at..at + bs)
    }
}

impl BlockIo for SparseDisk {
    fn block_size(&self) -> u32 {
        self.bs
    }
    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        check_range(self.bs, self.num_blocks, lba, buf.len())?;
        for (i, chunk) in buf.chunks_exact_mut(self.bs as usize).enumerate() {
            match self.block(lba + i as u64) {
                Some(src) => chunk.copy_from_slice(src),
                None => chunk.fill(0),
            }
        }
        Ok(())
    }
}

/// A fuzzed disk.
#[derive(Debug)]
pub enum FuzzDisk {
    /// The data as it is.
    Mem(MemDisk),
    /// The data spread over a larger disk.
    Sparse(SparseDisk),
}

impl BlockIo for FuzzDisk {
    fn block_size(&self) -> u32 {
        match self {
            FuzzDisk::Mem(d) => d.block_size(),
            FuzzDisk::Sparse(d) => d.block_size(),
        }
    }
    fn num_blocks(&self) -> u64 {
        match self {
            FuzzDisk::Mem(d) => d.num_blocks(),
            FuzzDisk::Sparse(d) => d.num_blocks(),
        }
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        match self {
            FuzzDisk::Mem(d) => d.read_blocks(lba, buf),
            FuzzDisk::Sparse(d) => d.read_blocks(lba, buf),
        }
    }
}

/// The block size selected by a flags byte.
pub fn block_size(flags: u8) -> u32 {
    if flags & 1 != 0 {
        4096
    } else {
        512
    }
}

/// Decodes a disk input. With `protective_mbr`, a protective MBR block is
/// put in front of the data (the `gpt` target: its inputs start at LBA 1).
pub fn decode_disk(input: &[u8], protective_mbr: bool) -> Option<FuzzDisk> {
    let (&flags, rest) = input.split_first()?;
    let bs = block_size(flags);
    let bsz = bs as usize;
    let (sparse, data) = if flags & 2 != 0 {
        let num_blocks = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let head = u16::from_le_bytes(rest.get(8..10)?.try_into().ok()?);
        (Some((num_blocks, u64::from(head))), rest.get(10..)?)
    } else {
        (None, rest)
    };
    let whole = data.len() / bsz;
    let mut image = Vec::with_capacity((whole + 1) * bsz);
    let extra = u64::from(protective_mbr);
    if protective_mbr {
        let mut mbr = vec![0u8; bsz];
        // Size in LBAs of the 0xEE record: the disk less LBA 0, capped.
        let disk_blocks = match sparse {
            Some((n, _)) => n.max(whole as u64).saturating_add(1),
            None => whole as u64 + 1,
        };
        let size = u32::try_from(disk_blocks - 1).unwrap_or(u32::MAX);
        mbr[446 + 4] = 0xEE;
        mbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        mbr[446 + 12..446 + 16].copy_from_slice(&size.to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        image.extend_from_slice(&mbr);
    }
    image.extend_from_slice(&data[..whole * bsz]);
    let total = whole as u64 + extra;
    let (num_blocks, head_blocks) = match sparse {
        None => (total, total),
        Some((num_blocks, head)) => {
            (num_blocks.saturating_add(extra).max(total), head.saturating_add(extra).min(total))
        }
    };
    let mut disk =
        SparseDisk { data: image, bs, num_blocks, head_blocks, tail_blocks: total - head_blocks };
    if flags & 4 != 0 {
        disk.reseal(1);
        disk.reseal(num_blocks.saturating_sub(1));
    }
    Some(match sparse {
        None => FuzzDisk::Mem(MemDisk::new(disk.data, bs)),
        Some(_) => FuzzDisk::Sparse(disk),
    })
}

impl SparseDisk {
    /// Index in `data` of the block at `lba`, if it is stored.
    fn index(&self, lba: u64) -> Option<usize> {
        let idx = if lba >= self.num_blocks {
            return None;
        } else if lba < self.head_blocks {
            lba
        } else if lba >= self.num_blocks - self.tail_blocks {
            self.head_blocks + (lba - (self.num_blocks - self.tail_blocks))
        } else {
            return None;
        };
        usize::try_from(idx).ok()
    }

    /// Recomputes the CRCs of a GPT header at `lba` (see the crate docs).
    fn reseal(&mut self, lba: u64) {
        let bs = self.bs as usize;
        let Some(at) = self.index(lba).map(|i| i * bs) else { return };
        let Some(h) = self.data.get(at..at + bs) else { return };
        let rd32 = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().unwrap());
        let rd64 = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
        let size = rd32(12) as usize;
        if !(92..=bs).contains(&size) {
            return;
        }
        let (entry_lba, count, esize) = (rd64(72), u64::from(rd32(80)), u64::from(rd32(84)));
        // The array, if it is stored contiguously in `data`.
        let bytes = count.saturating_mul(esize);
        if bytes <= 1 << 20 {
            let blocks = bytes.div_ceil(bs as u64);
            let start = self.index(entry_lba);
            let end = entry_lba.checked_add(blocks.saturating_sub(1)).and_then(|l| self.index(l));
            if let (Some(s), Some(e)) = (start, end) {
                if e + 1 == s + blocks as usize {
                    let crc = vmfw_block::crc32(&self.data[s * bs..s * bs + bytes as usize]);
                    self.data[at + 88..at + 92].copy_from_slice(&crc.to_le_bytes());
                }
            }
        }
        self.data[at + 16..at + 20].fill(0);
        let crc = vmfw_block::crc32(&self.data[at..at + size]);
        self.data[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Reads the table of `disk` directly and through a [`CachedDisk`], and
/// checks the invariants every result must keep. Panics (a fuzz finding)
/// when one is broken.
pub fn check_partition_table(mut disk: FuzzDisk) {
    let n = disk.num_blocks();
    let direct = vmfw_block::read_partition_table(&mut disk);
    let mut cached = CachedDisk::with_capacity(&mut disk, 4, 2).expect("cache");
    let via_cache = vmfw_block::read_partition_table(&mut cached);
    assert_eq!(direct, via_cache, "the cache changed the result");
    let Ok(t) = direct else { return };
    check_invariants(&t, n);
    for p in &t.partitions {
        let mut view = p.open(&mut disk).expect("every partition fits its disk");
        assert_eq!(view.num_blocks(), p.last_lba - p.first_lba + 1);
        let mut buf = vec![0u8; view.block_size() as usize];
        view.read_blocks(0, &mut buf).expect("first block readable");
        view.read_blocks(view.num_blocks() - 1, &mut buf).expect("last block readable");
    }
}

fn check_invariants(t: &PartitionTable, n: u64) {
    assert_eq!(t.scheme.is_gpt(), t.disk_guid.is_some());
    assert_eq!(t.scheme == Scheme::GptBackup, t.primary_fault.is_some());
    if t.scheme == Scheme::Mbr {
        assert!(t.mbr_signature.is_some());
    }
    let mut last_number = 0;
    for p in &t.partitions {
        assert!(p.first_lba <= p.last_lba, "{p:?}");
        assert!(p.last_lba < n, "{p:?} beyond {n} blocks");
        assert!(p.number > last_number, "numbers increase in table order");
        last_number = p.number;
        assert_eq!(p.gpt().is_some(), t.scheme.is_gpt());
        if let Some(g) = p.gpt() {
            assert!(!g.type_guid.is_zero());
            let _ = g.name();
        }
        let _ = (p.is_esp(), p.is_xbootldr());
    }
    // Display must not panic either.
    let _ = format!("{:?} {:?}", t.primary_fault, t.skipped);
}

pub mod fatdisk;
pub mod phys;

/// Checks what every platform description must keep, whichever door
/// produced it: RAM present, regions sorted, disjoint and non-empty, the
/// command line within its bound. Panics (a fuzz finding) otherwise.
pub fn check_platform(p: &vmfw_platform::Platform) {
    use vmfw_platform::{MemoryType, CMDLINE_MAX};
    assert!(p.memory.total(MemoryType::Free) > 0, "a platform without RAM was accepted");
    let regions = p.memory.regions();
    for r in regions {
        assert!(r.start < r.end, "empty or inverted region {r:?}");
    }
    for w in regions.windows(2) {
        assert!(w[0].end <= w[1].start, "regions overlap or are unsorted: {w:?}");
    }
    assert!(p.memory.ram_end() >= regions.first().map_or(0, |r| r.start));
    assert!(p.cmdline.as_str().len() <= CMDLINE_MAX);
    assert_ne!(p.rsdp, Some(0), "an RSDP address of 0 means none");
    let _ = p.cmdline.words().count();
    let _ = format!("{p:?}");
}
