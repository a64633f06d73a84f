//! `read_bytes`, `write_bytes`, `Partition` and `CachedDisk` against a
//! plain slice model.
//!
//! Input: `flags: u8` (bit 0: 4096-byte blocks), `nops: u8`,
//! `part_start: u64`, `part_len: u64` (a `Partition` view, in blocks), then
//! `nops % 32` operations of `kind: u8, offset: u64, len: u16`, then the
//! image. Kinds (mod 5): 0 `read_bytes` on the disk, 1 `read_bytes` on the
//! view, 2 `read_bytes` through a persistent `CachedDisk`, 3 `read_blocks`
//! on the view at LBA `offset`, 4 `write_bytes` of `len` bytes on a
//! writable copy of the disk (which must then equal the model's bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_block::{read_bytes, write_bytes, BlockIo, CachedDisk, Error, MemDisk, Partition};

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The bytes `off..off + len` of a device whose contents are `img`, or why
/// a byte read of them must fail.
fn model(img: &[u8], off: u64, len: usize) -> Result<&[u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    let start = usize::try_from(off).map_err(|_| Error::OutOfRange)?;
    let end = start.checked_add(len).ok_or(Error::OutOfRange)?;
    img.get(start..end).ok_or(Error::OutOfRange)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let bs = vmfw_fuzz::block_size(data[0]) as usize;
    let nops = usize::from(data[1] % 32);
    let (Some(part_start), Some(part_len)) = (u64_at(data, 2), u64_at(data, 10)) else { return };
    let ops_end = 18 + nops * 11;
    let Some(ops) = data.get(18..ops_end) else { return };
    let image = &data[ops_end..];
    let image = &image[..image.len() / bs * bs];
    let n = (image.len() / bs) as u64;

    let mut disk = MemDisk::new(image.to_vec(), bs as u32);
    let mut wdisk = MemDisk::new(image.to_vec(), bs as u32).writable();
    let mut wmodel = image.to_vec();
    let mut cached =
        CachedDisk::with_capacity(MemDisk::new(image.to_vec(), bs as u32), 3, 2).expect("cache");
    let part_ok = part_start.checked_add(part_len).is_some_and(|e| e <= n);
    let view_img = if part_ok {
        &image[part_start as usize * bs..(part_start + part_len) as usize * bs]
    } else {
        &[][..]
    };
    match Partition::new(&mut disk, part_start, part_len) {
        Ok(_) => assert!(part_ok),
        Err(e) => {
            assert!(!part_ok);
            assert_eq!(e, Error::OutOfRange);
        }
    }

    for op in ops.chunks_exact(11) {
        let kind = op[0] % 5;
        let off = u64::from_le_bytes(op[1..9].try_into().unwrap());
        let len = usize::from(u16::from_le_bytes(op[9..11].try_into().unwrap()));
        let mut buf = vec![0xA5u8; len];
        match kind {
            0 => {
                let r = read_bytes(&mut disk, off, &mut buf);
                assert_eq!(r.map(|()| &buf[..]), model(image, off, len));
            }
            1 if part_ok => {
                let mut view = Partition::new(&mut disk, part_start, part_len).unwrap();
                let r = read_bytes(&mut view, off, &mut buf);
                assert_eq!(r.map(|()| &buf[..]), model(view_img, off, len));
            }
            2 => {
                let r = read_bytes(&mut cached, off, &mut buf);
                assert_eq!(r.map(|()| &buf[..]), model(image, off, len));
            }
            3 if part_ok => {
                let mut view = Partition::new(&mut disk, part_start, part_len).unwrap();
                let r = view.read_blocks(off, &mut buf);
                let want = if len % bs != 0 {
                    Err(Error::UnalignedBuffer)
                } else {
                    match off.checked_mul(bs as u64) {
                        Some(b) => model(view_img, b, len),
                        None if len == 0 && off <= part_len => Ok(&[][..]),
                        None => Err(Error::OutOfRange),
                    }
                };
                // A zero-length read is fine up to the end of the view only.
                let want = if len == 0 && off > part_len { Err(Error::OutOfRange) } else { want };
                assert_eq!(r.map(|()| &buf[..]), want, "read_blocks({off}, {len})");
            }
            4 => {
                let data: Vec<u8> = (0..len).map(|i| (i as u8) ^ op[0]).collect();
                let r = write_bytes(&mut wdisk, off, &data);
                let want = model(&wmodel, off, len).map(|_| ());
                assert_eq!(r, want, "write_bytes({off}, {len})");
                if r.is_ok() && len > 0 {
                    wmodel[off as usize..off as usize + len].copy_from_slice(&data);
                }
                assert!(
                    wdisk.data() == &wmodel[..],
                    "write_bytes({off}, {len}) wrote outside its range"
                );
            }
            _ => {}
        }
    }
});
