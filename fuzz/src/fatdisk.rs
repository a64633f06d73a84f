//! FAT disk inputs, shared by the `fat` and `fat_ops` targets.
//!
//! Format (its own, because a FAT32 volume needs ≥ 65525 clusters, so its
//! data region lies tens of MiB into the disk):
//!
//! ```text
//! flags: u8        bit 0: 4096-byte blocks (else 512); bit 1: sparse
//! plain:  data: [u8]   the image; a trailing partial block is dropped
//! sparse: num_blocks: u32 LE, then records until the input ends:
//!         block: u32 LE, len: u16 LE, bytes: [u8; len]
//!         placed at byte block * block_size of a zeroed disk
//! ```
//!
//! A sparse disk is at least as long as its records and at most
//! [`MAX_SPARSE_BYTES`].

use vmfw_block::{check_range, BlockIo, Error as BlockError, MemDisk};

/// Largest virtual disk a sparse input describes.
pub const MAX_SPARSE_BYTES: u64 = 1 << 31;

#[derive(Debug)]
/// A zeroed disk with some byte ranges filled in.
pub struct Sparse {
    bs: u32,
    num_blocks: u64,
    records: Vec<(u64, Vec<u8>)>,
}

impl BlockIo for Sparse {
    fn block_size(&self) -> u32 {
        self.bs
    }
    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.bs, self.num_blocks, lba, buf.len())?;
        buf.fill(0);
        let start = lba * u64::from(self.bs);
        let end = start + buf.len() as u64;
        for (off, bytes) in &self.records {
            let r_end = off + bytes.len() as u64;
            let lo = start.max(*off);
            let hi = end.min(r_end);
            if lo < hi {
                let dst = (lo - start) as usize..(hi - start) as usize;
                let src = (lo - off) as usize..(hi - off) as usize;
                buf[dst].copy_from_slice(&bytes[src]);
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum Disk {
    /// The image as it is.
    Mem(MemDisk),
    /// Records over a zeroed disk.
    Sparse(Sparse),
}

impl BlockIo for Disk {
    fn block_size(&self) -> u32 {
        match self {
            Disk::Mem(d) => d.block_size(),
            Disk::Sparse(d) => d.block_size(),
        }
    }
    fn num_blocks(&self) -> u64 {
        match self {
            Disk::Mem(d) => d.num_blocks(),
            Disk::Sparse(d) => d.num_blocks(),
        }
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        match self {
            Disk::Mem(d) => d.read_blocks(lba, buf),
            Disk::Sparse(d) => d.read_blocks(lba, buf),
        }
    }
}

pub fn decode(input: &[u8]) -> Option<Disk> {
    let (&flags, rest) = input.split_first()?;
    let bs: u32 = if flags & 1 != 0 { 4096 } else { 512 };
    if flags & 2 == 0 {
        return Some(Disk::Mem(MemDisk::new(rest.to_vec(), bs)));
    }
    let mut num_blocks = u64::from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?));
    let mut rest = &rest[4..];
    let mut records = Vec::new();
    while rest.len() >= 6 {
        let block = u64::from(u32::from_le_bytes(rest[..4].try_into().ok()?));
        let len = usize::from(u16::from_le_bytes(rest[4..6].try_into().ok()?));
        let bytes = rest.get(6..6 + len).unwrap_or(&rest[6..]);
        let off = block * u64::from(bs);
        if off + bytes.len() as u64 > MAX_SPARSE_BYTES {
            return None;
        }
        num_blocks = num_blocks.max((off + bytes.len() as u64).div_ceil(u64::from(bs)));
        records.push((off, bytes.to_vec()));
        rest = &rest[6 + bytes.len()..];
    }
    num_blocks = num_blocks.min(MAX_SPARSE_BYTES / u64::from(bs));
    Some(Disk::Sparse(Sparse { bs, num_blocks, records }))
}
