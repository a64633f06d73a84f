//! Byte-granular reads and writes over a [`BlockIo`].
//!
//! A request is split into at most three device calls: an unaligned head
//! served through a one-block bounce buffer, the block-aligned middle read
//! straight into the caller's buffer with **one** `read_blocks` call, and an
//! unaligned tail through the bounce buffer again. Large contiguous reads
//! (a kernel, an initrd, a FAT cluster run) therefore stay one device
//! request and are never copied.

use crate::{block_size_of, zeroed_vec, BlockIo, Error};

/// Bounce blocks up to this size live on the stack; larger ones (up to
/// [`crate::MAX_BLOCK_SIZE`]) are allocated.
const STACK_BOUNCE: usize = 4096;

/// Reads `buf.len()` bytes starting at byte `byte_offset` of `dev`.
///
/// The whole range is checked against the device size before anything is
/// read, so a failing call never does partial work: it returns
/// [`Error::OutOfRange`] if the range does not fit and
/// [`Error::UnsupportedBlockSize`] for a device whose block size is not a
/// power of two in 512..=[`crate::MAX_BLOCK_SIZE`]. A zero-length read
/// succeeds without touching the device.
pub fn read_bytes<D: BlockIo + ?Sized>(
    dev: &mut D,
    byte_offset: u64,
    buf: &mut [u8],
) -> Result<(), Error> {
    if buf.is_empty() {
        return Ok(());
    }
    let bs = block_size_of(dev)?;
    // u128 cannot overflow here: both sides are products/sums of 64-bit values.
    let end = u128::from(byte_offset) + buf.len() as u128;
    let disk_bytes = u128::from(dev.num_blocks()) * bs as u128;
    if end > disk_bytes {
        return Err(Error::OutOfRange);
    }
    let bs64 = bs as u64;
    let mut lba = byte_offset / bs64;
    // < bs, so it fits in usize.
    let head_skip = (byte_offset % bs64) as usize;

    let mut stack = [0u8; STACK_BOUNCE];
    let mut heap;
    let bounce: &mut [u8] = if bs <= STACK_BOUNCE {
        stack.get_mut(..bs).ok_or(Error::UnsupportedBlockSize(dev.block_size()))?
    } else {
        heap = zeroed_vec(bs)?;
        &mut heap
    };

    let mut rest = buf;
    // Head: the request starts inside a block, or is shorter than one.
    if head_skip != 0 || rest.len() < bs {
        let take = (bs - head_skip).min(rest.len());
        dev.read_blocks(lba, bounce)?;
        let (head, tail) = rest.split_at_mut_checked(take).ok_or(Error::OutOfRange)?;
        let src = head_skip.checked_add(take).and_then(|e| bounce.get(head_skip..e));
        head.copy_from_slice(src.ok_or(Error::OutOfRange)?);
        rest = tail;
        lba = lba.checked_add(1).ok_or(Error::OutOfRange)?;
    }
    // Middle: whole blocks, one call, straight into the caller's buffer.
    let whole = rest.len() - rest.len() % bs;
    if whole != 0 {
        let (mid, tail) = rest.split_at_mut_checked(whole).ok_or(Error::OutOfRange)?;
        dev.read_blocks(lba, mid)?;
        rest = tail;
        lba = lba.checked_add((whole / bs) as u64).ok_or(Error::OutOfRange)?;
    }
    // Tail: a partial last block.
    if !rest.is_empty() {
        dev.read_blocks(lba, bounce)?;
        rest.copy_from_slice(bounce.get(..rest.len()).ok_or(Error::OutOfRange)?);
    }
    Ok(())
}

/// Writes `data` at byte `byte_offset` of `dev` (UEFI Disk I/O): the
/// block-aligned middle as one `write_blocks` call straight from `data`,
/// an unaligned head or tail as a read-modify-write of its block.
///
/// The range is checked before anything is written ([`Error::OutOfRange`]);
/// a device error part-way leaves what came before it written. A
/// zero-length write succeeds without touching the device.
pub fn write_bytes<D: BlockIo + ?Sized>(
    dev: &mut D,
    byte_offset: u64,
    data: &[u8],
) -> Result<(), Error> {
    if data.is_empty() {
        return Ok(());
    }
    let bs = block_size_of(dev)?;
    let end = u128::from(byte_offset) + data.len() as u128;
    if end > u128::from(dev.num_blocks()) * bs as u128 {
        return Err(Error::OutOfRange);
    }
    let bs64 = bs as u64;
    let mut lba = byte_offset / bs64;
    let head_skip = (byte_offset % bs64) as usize;
    let mut bounce = zeroed_vec(bs)?;
    let mut rest = data;
    if head_skip != 0 || rest.len() < bs {
        let take = (bs - head_skip).min(rest.len());
        let (head, tail) = rest.split_at_checked(take).ok_or(Error::OutOfRange)?;
        dev.read_blocks(lba, &mut bounce)?;
        let dst = head_skip.checked_add(take).and_then(|e| bounce.get_mut(head_skip..e));
        dst.ok_or(Error::OutOfRange)?.copy_from_slice(head);
        dev.write_blocks(lba, &bounce)?;
        rest = tail;
        lba = lba.checked_add(1).ok_or(Error::OutOfRange)?;
    }
    let whole = rest.len() - rest.len() % bs;
    if whole != 0 {
        let (mid, tail) = rest.split_at_checked(whole).ok_or(Error::OutOfRange)?;
        dev.write_blocks(lba, mid)?;
        rest = tail;
        lba = lba.checked_add((whole / bs) as u64).ok_or(Error::OutOfRange)?;
    }
    if !rest.is_empty() {
        dev.read_blocks(lba, &mut bounce)?;
        bounce.get_mut(..rest.len()).ok_or(Error::OutOfRange)?.copy_from_slice(rest);
        dev.write_blocks(lba, &bounce)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemDisk, Partition};
    use alloc::vec;
    use alloc::vec::Vec;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / 251) as u8).collect()
    }

    #[test]
    fn matches_the_image_for_every_alignment() {
        for bs in [512usize, 4096] {
            let img = pattern(bs * 8);
            let mut d = MemDisk::new(img.clone(), bs as u32);
            let offsets = [0, 1, 17, bs - 1, bs, bs + 3, 3 * bs - 2, 7 * bs + 5];
            let lens = [0, 1, 2, bs - 1, bs, bs + 1, 2 * bs, 3 * bs + 7];
            for &off in &offsets {
                for &len in &lens {
                    let mut buf = vec![0xEEu8; len];
                    let r = read_bytes(&mut d, off as u64, &mut buf);
                    if off + len <= img.len() {
                        r.unwrap();
                        assert_eq!(buf, &img[off..off + len], "bs {bs} off {off} len {len}");
                    } else {
                        assert_eq!(r, Err(Error::OutOfRange));
                        assert!(buf.iter().all(|&b| b == 0xEE), "no partial work");
                    }
                }
            }
        }
    }

    #[test]
    fn aligned_middle_is_one_read() {
        let img = pattern(512 * 64);
        let mut d = MemDisk::new(img.clone(), 512);
        // Unaligned head and tail around 40 whole blocks: 3 calls in all.
        let mut buf = vec![0u8; 100 + 40 * 512 + 200];
        read_bytes(&mut d, 412, &mut buf).unwrap();
        assert_eq!(buf, &img[412..412 + buf.len()]);
        assert_eq!(d.read_calls(), 3);
        // Fully aligned: exactly one call.
        let mut buf = vec![0u8; 50 * 512];
        read_bytes(&mut d, 512, &mut buf).unwrap();
        assert_eq!(d.read_calls(), 4);
        // Aligned start, partial tail: two calls.
        let mut buf = vec![0u8; 3 * 512 + 1];
        read_bytes(&mut d, 1024, &mut buf).unwrap();
        assert_eq!(d.read_calls(), 6);
        // Inside one block: one call.
        let mut buf = vec![0u8; 10];
        read_bytes(&mut d, 1030, &mut buf).unwrap();
        assert_eq!(d.read_calls(), 7);
        assert_eq!(buf, &img[1030..1040]);
    }

    #[test]
    fn huge_offsets_and_bad_block_sizes_are_errors() {
        let mut d = MemDisk::new(pattern(4096), 512);
        let mut buf = [0u8; 16];
        assert_eq!(read_bytes(&mut d, u64::MAX, &mut buf), Err(Error::OutOfRange));
        assert_eq!(read_bytes(&mut d, u64::MAX - 3, &mut buf), Err(Error::OutOfRange));
        assert_eq!(read_bytes(&mut d, 4096 - 16, &mut buf), Ok(()));
        assert_eq!(read_bytes(&mut d, 4096 - 15, &mut buf), Err(Error::OutOfRange));
        assert_eq!(read_bytes(&mut d, u64::MAX, &mut []), Ok(()));
        for bs in [0u32, 100, 256, 1 << 17] {
            let mut d = MemDisk::new(pattern(1 << 18), bs);
            assert_eq!(read_bytes(&mut d, 0, &mut buf), Err(Error::UnsupportedBlockSize(bs)));
        }
        // Large (heap-bounced) blocks still work.
        let img = pattern(1 << 17);
        let mut d = MemDisk::new(img.clone(), 1 << 16);
        let mut buf = vec![0u8; 70_000];
        read_bytes(&mut d, 30_000, &mut buf).unwrap();
        assert_eq!(buf, &img[30_000..100_000]);
    }

    #[test]
    fn works_through_a_partition() {
        let img = pattern(512 * 32);
        let mut d = MemDisk::new(img.clone(), 512);
        let mut p = Partition::new(&mut d, 8, 4).unwrap();
        let mut buf = vec![0u8; 700];
        read_bytes(&mut p, 1000, &mut buf).unwrap();
        assert_eq!(buf, &img[8 * 512 + 1000..8 * 512 + 1700]);
        assert_eq!(read_bytes(&mut p, 2048 - 699, &mut buf), Err(Error::OutOfRange));
    }

    #[test]
    fn write_bytes_touches_only_its_range() {
        for bs in [512u32, 4096] {
            let len = 8 * bs as usize;
            let orig: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for (off, n) in [
                (0, 1),
                (3, 10),
                (bs as u64 - 1, 2),
                (5, 3 * bs as usize),
                (0, len),
                (bs as u64, bs as usize),
            ] {
                let mut d = MemDisk::new(orig.clone(), bs).writable();
                let data: Vec<u8> = (0..n).map(|i| (i % 13) as u8 ^ 0xA5).collect();
                write_bytes(&mut d, off, &data).unwrap();
                let mut want = orig.clone();
                want[off as usize..off as usize + n].copy_from_slice(&data);
                assert_eq!(d.data(), &want[..], "bs {bs} off {off} n {n}");
            }
            let mut d = MemDisk::new(orig.clone(), bs).writable();
            assert_eq!(write_bytes(&mut d, len as u64 - 1, &[1, 2]), Err(Error::OutOfRange));
            assert_eq!(write_bytes(&mut d, u64::MAX, &[1]), Err(Error::OutOfRange));
            assert_eq!(d.data(), &orig[..]);
            write_bytes(&mut d, u64::MAX, &[]).unwrap();
        }
    }
}
