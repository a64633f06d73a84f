//! In-place writes through a mounted volume (`FileSystem::write_at`):
//! they land where the file's clusters are, change nothing else, are seen
//! by later reads through the same (caching) file system, and are refused
//! past 4 GiB or on a read-only device (growing files: tests/replay.rs). Images are written by
//! the independent `fatfs` crate, which also reads the results back.
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

use common::*;
use vmfw_block::{BlockIo, Error as BlockError, MemDisk, Partition};
use vmfw_fat::{Error, File, FileSystem};

const MIB: usize = 1 << 20;

/// A volume layout to test on.
struct Case {
    fat: fatfs::FatType,
    bps: u16,
    dev_bs: u32,
    bytes: usize,
    cluster: u32,
}

fn cases() -> Vec<Case> {
    use fatfs::FatType as F;
    vec![
        Case { fat: F::Fat12, bps: 512, dev_bs: 512, bytes: 2 * MIB, cluster: 1024 },
        // Device blocks larger than clusters: a partial block holds other
        // files' bytes, which a read-modify-write must keep.
        Case { fat: F::Fat12, bps: 512, dev_bs: 4096, bytes: 2 * MIB, cluster: 512 },
        Case { fat: F::Fat16, bps: 512, dev_bs: 512, bytes: 16 * MIB, cluster: 2048 },
        Case { fat: F::Fat16, bps: 4096, dev_bs: 512, bytes: 16 * MIB, cluster: 8192 },
        Case { fat: F::Fat32, bps: 512, dev_bs: 512, bytes: 40 * MIB, cluster: 512 },
    ]
}

impl Case {
    fn what(&self) -> String {
        format!(
            "{:?} bps {} cluster {} on {}-byte blocks",
            self.fat, self.bps, self.cluster, self.dev_bs
        )
    }

    /// A formatted image with the standard tree, and that tree.
    fn image(&self) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let mut img = format(self.fat, self.bps, self.bytes, Some(self.cluster));
        let files = standard_tree(&mut img, self.cluster as usize);
        (img, files)
    }
}

/// What a [`Logged`] device saw.
#[derive(Debug, Default)]
struct Log {
    reads: usize,
    /// `(lba, blocks)` of each write.
    writes: Vec<(u64, u64)>,
    flushes: usize,
}

/// A device that records reads, writes and flushes.
struct Logged {
    inner: MemDisk,
    log: Rc<RefCell<Log>>,
}

impl Logged {
    fn new(inner: MemDisk) -> (Self, Rc<RefCell<Log>>) {
        let log = Rc::new(RefCell::new(Log::default()));
        (Logged { inner, log: log.clone() }, log)
    }
}

impl BlockIo for Logged {
    fn block_size(&self) -> u32 {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.log.borrow_mut().reads += 1;
        self.inner.read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let blocks = buf.len() as u64 / u64::from(self.block_size());
        self.log.borrow_mut().writes.push((lba, blocks));
        self.inner.write_blocks(lba, buf)
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.log.borrow_mut().flushes += 1;
        Ok(())
    }
}

/// `path`'s contents as fatfs reads them from `img` (a copy is mounted,
/// so fatfs's own bookkeeping cannot touch the image under test).
fn fatfs_read(img: &[u8], path: &str) -> Vec<u8> {
    let mut copy = img.to_vec();
    let mut out = Vec::new();
    populate(&mut copy, |root| {
        root.open_file(path).expect("fatfs open").read_to_end(&mut out).expect("fatfs read");
    });
    out
}

/// Checks that `img` differs from `before` only inside `extents` (device
/// byte ranges of the written file).
fn only_file_bytes_changed(before: &[u8], img: &[u8], extents: &[(u64, u64)], what: &str) {
    assert_eq!(before.len(), img.len());
    let inside = |i: usize| extents.iter().any(|&(s, l)| (s..s + l).contains(&(i as u64)));
    for (i, (a, b)) in before.iter().zip(img).enumerate() {
        if a != b {
            assert!(inside(i), "{what}: byte {i:#x} outside the file changed");
        }
    }
}

fn read_range(fs: &mut FileSystem<impl BlockIo>, f: &mut File, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let n = fs.read_at(f, off, &mut buf).expect("read back");
    assert_eq!(n, len);
    buf
}

#[test]
fn write_then_read_back_through_the_same_file_system() {
    for c in cases() {
        let what = c.what();
        let (img, files) = c.image();
        let before = img.clone();
        let (dev, log) = Logged::new(MemDisk::new(img, c.dev_bs).writable());
        let mut fs = FileSystem::mount(dev).expect(&what);
        let mut f = fs.open("/EFI/BOOT/BOOTX64.EFI").expect(&what);
        let mut model = files.iter().find(|(p, _)| p == "EFI/BOOT/BOOTX64.EFI").unwrap().1.clone();

        // Read a few bytes twice: the second read comes from the block
        // cache, so a write the cache ignored would be read back stale.
        let old = read_range(&mut fs, &mut f, 5, 10);
        assert_eq!(old, model[5..15], "{what}");
        let reads = log.borrow().reads;
        assert_eq!(read_range(&mut fs, &mut f, 5, 10), old, "{what}");
        assert_eq!(log.borrow().reads, reads, "{what}: second read not cached");

        let new: Vec<u8> = old.iter().map(|b| !b).collect();
        assert_eq!(fs.write_at(&mut f, 5, &new).expect(&what), 10);
        model[5..15].copy_from_slice(&new);
        assert_eq!(read_range(&mut fs, &mut f, 5, 10), new, "{what}: stale read");
        assert_eq!(read_range(&mut fs, &mut f, 0, 20), model[..20], "{what}");
        assert!(fs.read_to_vec(&mut f, 1 << 20).expect(&what) == model, "{what}");
        assert_eq!(f.size(), model.len() as u64, "{what}: size changed");

        fs.flush().expect(&what);
        assert_eq!(log.borrow().flushes, 1, "{what}");
        let extents = fs.extents(&mut f).expect(&what);
        let img = fs.into_inner().inner.data().to_vec();
        only_file_bytes_changed(&before, &img, &extents, &what);
        assert!(fatfs_read(&img, "EFI/BOOT/BOOTX64.EFI") == model, "{what}: fatfs disagrees");
        // Everything else, including the metadata, reads as before.
        let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs)).expect(&what);
        let (got, err) = walk(&mut fs, 32, 10_000);
        assert_eq!(err, None, "{what}");
        for (path, data) in got {
            let want = if path == "/EFI/BOOT/BOOTX64.EFI" {
                &model
            } else {
                &files.iter().find(|(p, _)| format!("/{p}") == path).unwrap().1
            };
            assert!(data.as_ref() == Ok(want), "{what}: {path}");
        }
    }
}

#[test]
fn partial_block_writes_at_odd_offsets() {
    for c in cases() {
        let what = c.what();
        let (img, files) = c.image();
        let before = img.clone();
        let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs).writable()).expect(&what);
        let mut f = fs.open("/big.bin").expect(&what);
        let mut model = files.iter().find(|(p, _)| p == "big.bin").unwrap().1.clone();
        let size = model.len() as u64;
        let cs = u64::from(c.cluster);
        // Warm the caches over the whole file first.
        assert!(fs.read_to_vec(&mut f, 8 << 20).expect(&what) == model);
        for (i, (off, len)) in [
            (0u64, 1usize),
            (1, 1),
            (511, 2),
            (513, 1000),
            (cs - 1, 2),
            (3 * cs + 17, 2 * cs as usize + 5),
            (7 * cs + 100, 1),
            (size - 1, 1),
            (size - 7, 7),
            (size / 2 + 3, 4099),
        ]
        .into_iter()
        .enumerate()
        {
            // Read the block-sized neighbourhood so it is cached.
            let lo = off.saturating_sub(600);
            let hi = (off + len as u64 + 600).min(size);
            let _ = read_range(&mut fs, &mut f, lo, (hi - lo) as usize);
            let data: Vec<u8> =
                (0..len).map(|j| (j as u8).wrapping_mul(13) ^ i as u8 ^ 0xc3).collect();
            assert_eq!(fs.write_at(&mut f, off, &data).expect(&what), len, "{what}: {off}+{len}");
            model[off as usize..off as usize + len].copy_from_slice(&data);
            assert_eq!(
                read_range(&mut fs, &mut f, lo, (hi - lo) as usize),
                model[lo as usize..hi as usize],
                "{what}: {off}+{len}"
            );
        }
        assert!(fs.read_to_vec(&mut f, 8 << 20).expect(&what) == model, "{what}");
        let extents = fs.extents(&mut f).expect(&what);
        let img = fs.into_inner().data().to_vec();
        only_file_bytes_changed(&before, &img, &extents, &what);
        assert!(fatfs_read(&img, "big.bin") == model, "{what}: fatfs disagrees");
    }
}

#[test]
fn writes_span_clusters_and_fragments() {
    let runs = [2usize, 1, 3, 1];
    for c in cases() {
        let what = c.what();
        let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
        let mut model = fragmented(&mut img, c.cluster as usize, &runs);
        let before = img.clone();
        let (dev, log) = Logged::new(MemDisk::new(img, c.dev_bs).writable());
        let mut fs = FileSystem::mount(dev).expect(&what);
        let mut f = fs.open("/frag.bin").expect(&what);
        assert!(fs.read_to_vec(&mut f, 1 << 20).expect(&what) == model);
        assert_eq!(f.run_count(), Some(runs.len()), "{what}");

        // All of the file but 100 bytes at the start and 50 at the end.
        let (off, len) = (100usize, model.len() - 150);
        let data: Vec<u8> = (0..len).map(|j| (j % 253) as u8).collect();
        log.borrow_mut().writes.clear();
        assert_eq!(fs.write_at(&mut f, off as u64, &data).expect(&what), len);
        model[off..off + len].copy_from_slice(&data);
        // Each device block of the range is written once, with at most
        // one request per run plus a read-modify-write at either end.
        let bs = u64::from(c.dev_bs);
        let mut want = std::collections::BTreeSet::new();
        let mut pos = 0u64;
        for (start, plen) in fs.extents(&mut f).expect(&what) {
            let (a, b) = (pos.max(off as u64), (pos + plen).min((off + len) as u64));
            if a < b {
                let (d0, d1) = (start + (a - pos), start + (b - pos));
                want.extend(d0 / bs..d1.div_ceil(bs));
            }
            pos += plen;
        }
        let mut got = Vec::new();
        for &(lba, n) in &log.borrow().writes {
            got.extend(lba..lba + n);
        }
        let got_set: std::collections::BTreeSet<u64> = got.iter().copied().collect();
        if c.dev_bs <= c.cluster {
            assert_eq!(got.len(), got_set.len(), "{what}: a block written twice");
        }
        assert_eq!(got_set, want, "{what}");
        assert!(log.borrow().writes.len() <= runs.len() + 2, "{what}: {:?}", log.borrow());
        assert!(fs.read_to_vec(&mut f, 1 << 20).expect(&what) == model, "{what}");
        // Across each run boundary, unaligned.
        let cs = c.cluster as usize;
        for b in [2 * cs, 3 * cs, 6 * cs] {
            let d = [0xEEu8, 0xDD, 0xCC];
            fs.write_at(&mut f, (b - 1) as u64, &d).expect(&what);
            model[b - 1..b + 2].copy_from_slice(&d);
            assert_eq!(
                read_range(&mut fs, &mut f, (b - 2) as u64, 5),
                model[b - 2..b + 3],
                "{what}"
            );
        }
        let extents = fs.extents(&mut f).expect(&what);
        assert_eq!(extents.len(), runs.len(), "{what}");
        let img = fs.into_inner().inner.data().to_vec();
        only_file_bytes_changed(&before, &img, &extents, &what);
        assert!(fatfs_read(&img, "frag.bin") == model, "{what}: fatfs disagrees");
    }
}

#[test]
fn writes_past_4_gib_are_refused() {
    let c = &cases()[0];
    let (img, _) = c.image();
    let before = img.clone();
    let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs).writable()).unwrap();
    let mut f = fs.open("/loader/entries/a.conf").unwrap();
    let size = f.size();
    for (off, len, end) in
        [(u64::MAX, 1usize, u64::MAX), (u64::MAX, 0, u64::MAX), (0xFFFF_FFFF, 1, 0x1_0000_0000)]
    {
        assert_eq!(
            fs.write_at(&mut f, off, &vec![0xFF; len]),
            Err(Error::WriteBeyondEnd { end, size }),
            "{off}+{len}"
        );
    }
    // Empty writes inside the file (its end included) touch nothing.
    assert_eq!(fs.write_at(&mut f, size, &[]), Ok(0));
    assert_eq!(fs.write_at(&mut f, 0, &[]), Ok(0));
    let mut empty = fs.open("/empty").unwrap();
    assert_eq!(fs.write_at(&mut empty, 0, &[]), Ok(0));
    assert_eq!(empty.size(), 0);
    assert!(fs.into_inner().data() == &before[..], "a refused write changed the image");
    assert!(
        Error::WriteBeyondEnd { end: 9, size: 8 }.to_string().contains("9"),
        "the message names the numbers"
    );
}

#[test]
fn read_only_devices_are_refused() {
    let c = &cases()[0];
    let (img, _) = c.image();
    let before = img.clone();
    let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs)).unwrap();
    let mut f = fs.open("/big.bin").unwrap();
    assert_eq!(fs.write_at(&mut f, 0, b"abc"), Err(Error::ReadOnly));
    assert_eq!(fs.write_at(&mut f, 0, &[]), Err(Error::ReadOnly));
    assert_eq!(Error::ReadOnly.to_string(), "volume is read-only");
    // Flushing a read-only volume is harmless.
    assert_eq!(fs.flush(), Ok(()));
    assert!(fs.into_inner().data() == &before[..]);
}

#[test]
fn writes_and_flush_go_through_a_partition_view() {
    // The volume at block 64 of a larger disk, as on an ESP.
    let c = &cases()[0];
    let (img, files) = c.image();
    let lead = 64 * c.dev_bs as usize;
    let mut disk_img = vec![0x11u8; lead];
    disk_img.extend_from_slice(&img);
    disk_img.extend_from_slice(&[0x22u8; 4096]);
    let (mut disk, log) = Logged::new(MemDisk::new(disk_img.clone(), c.dev_bs).writable());
    let blocks = (img.len() / c.dev_bs as usize) as u64;
    {
        let view = Partition::new(&mut disk, 64, blocks).unwrap();
        let mut fs = FileSystem::mount(view).unwrap();
        let mut f = fs.open("/loader/loader.conf").unwrap();
        assert_eq!(fs.write_at(&mut f, 0, b"DEFAULT").unwrap(), 7);
        fs.flush().unwrap();
        let mut text = files[0].1.clone();
        text[..7].copy_from_slice(b"DEFAULT");
        assert!(fs.read_to_vec(&mut f, 4096).unwrap() == text);
    }
    assert_eq!(log.borrow().flushes, 1);
    assert!(log.borrow().writes.iter().all(|&(lba, n)| lba >= 64 && lba + n <= 64 + blocks));
    let data = disk.inner.data();
    assert!(data[..lead].iter().all(|&b| b == 0x11));
    assert!(data[lead + img.len()..].iter().all(|&b| b == 0x22));
    let mut text = fatfs_read(&data[lead..lead + img.len()], "loader/loader.conf");
    assert_eq!(&text[..7], b"DEFAULT");
    text[..7].copy_from_slice(&files[0].1[..7]);
    assert!(text == files[0].1);
}
