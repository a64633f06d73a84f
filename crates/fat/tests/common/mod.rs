//! Shared test fixtures: images written by the independent `fatfs` crate,
//! a hand-built FAT12 image for corruption tests, device wrappers that
//! record or mutate reads, and a bounded whole-tree walk.
#![allow(dead_code)]
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::expect_used)]

pub mod vol;

use std::cell::RefCell;
use std::io::{Cursor, Write};
use std::rc::Rc;

use vmfw_block::{BlockIo, Error as BlockError};
use vmfw_fat::{Entry, Error, FileSystem};

/// The clock fatfs stamps new entries with.
#[derive(Debug)]
pub struct Clock;

static CLOCK_STATIC: Clock = Clock;

impl fatfs::TimeProvider for Clock {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date { year: 2024, month: 5, day: 17 }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time { hour: 13, min: 45, sec: 30, millis: 120 },
        }
    }
}

/// Deterministic file contents: byte `i` of file `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32).wrapping_mul(31).wrapping_add(u32::from(seed) * 7 + (i as u32 >> 9)) as u8
        })
        .collect()
}

/// Formats an image of `bytes` bytes with fatfs.
pub fn format(fat: fatfs::FatType, bps: u16, bytes: usize, cluster: Option<u32>) -> Vec<u8> {
    let mut img = vec![0u8; bytes];
    let mut opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fat)
        .bytes_per_sector(bps)
        .volume_label(*b"VMFW TEST  ")
        .volume_id(0x1234_5678);
    if let Some(c) = cluster {
        opts = opts.bytes_per_cluster(c);
    }
    fatfs::format_volume(Cursor::new(&mut img[..]), opts).expect("format");
    img
}

/// Runs `f` on the root directory of `img` as fatfs sees it.
pub fn populate(img: &mut [u8], f: impl FnOnce(&fatfs::Dir<'_, Cursor<&mut [u8]>>)) {
    let fs = fatfs::FileSystem::new(
        Cursor::new(img),
        fatfs::FsOptions::new().time_provider(&CLOCK_STATIC),
    )
    .expect("fatfs mount");
    f(&fs.root_dir());
    fs.unmount().expect("unmount");
}

pub fn write_file(dir: &fatfs::Dir<'_, Cursor<&mut [u8]>>, path: &str, data: &[u8]) {
    let mut f = dir.create_file(path).expect("create");
    f.write_all(data).expect("write");
}

/// `path`'s contents as fatfs reads them from (a copy of) `img`, or
/// `None` if fatfs does not find it.
pub fn fatfs_read(img: &[u8], path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut copy = img.to_vec();
    let mut out = None;
    populate(&mut copy, |root| {
        if let Ok(mut f) = root.open_file(path) {
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("fatfs read");
            out = Some(v);
        }
    });
    out
}

/// The standard tree every fatfs image gets. Returns `(path, contents)` of
/// every file in it.
pub fn standard_tree(img: &mut [u8], cluster: usize) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("loader/loader.conf".into(), b"default debian*\ntimeout 3\n".to_vec()),
        ("loader/entries/a.conf".into(), b"title A\nlinux /vmlinuz\n".to_vec()),
        (
            "loader/entries/Debian-6.1.0-13-amd64.conf".into(),
            b"title Debian GNU/Linux\nlinux /debian/vmlinuz\ninitrd /debian/initrd.img\n".to_vec(),
        ),
        ("EFI/BOOT/BOOTX64.EFI".into(), pattern(1, 3 * cluster + 123)),
        ("deep/a/b/c/d/e/f/g/h/leaf.txt".into(), b"deep leaf".to_vec()),
        ("Grüße aus Köln.txt".into(), b"unicode".to_vec()),
        ("empty".into(), Vec::new()),
        ("big.bin".into(), pattern(2, 200 * cluster + 7)),
    ];
    populate(img, |root| {
        for d in ["loader", "loader/entries", "EFI", "EFI/BOOT", "EFI/Linux", "deep"] {
            root.create_dir(d).expect("mkdir");
        }
        let mut p = String::from("deep");
        for c in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            p.push('/');
            p.push_str(c);
            root.create_dir(&p).expect("mkdir deep");
        }
        for (path, data) in &files {
            write_file(root, path, data);
        }
    });
    files
}

/// Writes `frag.bin` interleaved with `filler-N` files so that its chain has
/// runs of `runs` clusters each. Returns the contents.
pub fn fragmented(img: &mut [u8], cluster: usize, runs: &[usize]) -> Vec<u8> {
    let total: usize = runs.iter().sum();
    let data = pattern(9, total * cluster - 100);
    populate(img, |root| {
        let mut f = root.create_file("frag.bin").expect("create");
        let mut off = 0;
        for (i, n) in runs.iter().enumerate() {
            let end = (off + n * cluster).min(data.len());
            f.write_all(&data[off..end]).expect("write frag");
            f.flush().expect("flush");
            off = end;
            write_file(root, &format!("filler-{i}"), &pattern(i as u8, cluster));
        }
    });
    data
}

/// Reads seen by a [`Recorder`], as `(lba, blocks)`.
pub type ReadLog = Rc<RefCell<Vec<(u64, u64)>>>;

/// A BlockIo that records every read as `(lba, blocks)`.
pub struct Recorder<D> {
    pub inner: D,
    pub log: ReadLog,
}

impl<D: BlockIo> Recorder<D> {
    pub fn new(inner: D) -> (Self, ReadLog) {
        let log = Rc::new(RefCell::new(Vec::new()));
        (Recorder { inner, log: log.clone() }, log)
    }
}

impl<D: BlockIo> BlockIo for Recorder<D> {
    fn block_size(&self) -> u32 {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.log.borrow_mut().push((lba, buf.len() as u64 / u64::from(self.block_size())));
        self.inner.read_blocks(lba, buf)
    }
}

/// A read-only view of `base` with one byte replaced, without copying it.
pub struct Mutated<'a> {
    pub base: &'a [u8],
    pub block: u32,
    pub at: usize,
    pub val: u8,
}

impl BlockIo for Mutated<'_> {
    fn block_size(&self) -> u32 {
        self.block
    }
    fn num_blocks(&self) -> u64 {
        (self.base.len() / self.block as usize) as u64
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        vmfw_block::check_range(self.block, self.num_blocks(), lba, buf.len())?;
        let start = lba as usize * self.block as usize;
        buf.copy_from_slice(&self.base[start..start + buf.len()]);
        if (start..start + buf.len()).contains(&self.at) {
            buf[self.at - start] = self.val;
        }
        Ok(())
    }
}

/// A file found by [`walk`]: its path and contents (or why not).
pub type WalkedFile = (String, Result<Vec<u8>, Error>);

/// Walks the whole tree below the root (skipping `.`/`..`, at most `depth`
/// levels and `max_entries` entries) and reads every file. Returns the
/// `(path, contents or error)` pairs and the first directory error.
pub fn walk<D: BlockIo>(
    fs: &mut FileSystem<D>,
    depth: usize,
    max_entries: usize,
) -> (Vec<WalkedFile>, Option<Error>) {
    let mut out = Vec::new();
    let mut first_err = None;
    let mut stack: Vec<(String, Entry, usize)> = vec![(String::new(), fs.root_entry(), 0)];
    let mut seen = 0usize;
    while let Some((path, dir_entry, level)) = stack.pop() {
        let dir = match fs.dir_of(&dir_entry) {
            Ok(d) => d,
            Err(e) => {
                first_err.get_or_insert(e);
                continue;
            }
        };
        let entries: Vec<Result<Entry, Error>> = fs.read_dir(dir).take(max_entries).collect();
        for e in entries {
            seen += 1;
            if seen > max_entries {
                return (out, first_err);
            }
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    first_err.get_or_insert(err);
                    break;
                }
            };
            if e.is_dot() {
                continue;
            }
            let p = format!("{path}/{}", e.name());
            if e.is_dir() {
                if level < depth {
                    stack.push((p, e, level + 1));
                }
            } else {
                let r = fs.open_file(&e).and_then(|mut f| fs.read_to_vec(&mut f, 4 << 20));
                out.push((p, r));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (out, first_err)
}

/// A FAT12 image built by hand: 512-byte sectors, one sector per cluster,
/// one reserved sector, one FAT sector at sector 1, a 16-entry root
/// directory at sector 2, data from sector 3; 64 sectors, so clusters
/// 2..=62 are valid.
pub struct Hand {
    pub img: Vec<u8>,
}

pub const HAND_MAX_CLUSTER: u32 = 62;

impl Hand {
    pub fn new() -> Self {
        let mut img = vec![0u8; 64 * 512];
        img[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        img[3..11].copy_from_slice(b"VMFWTEST");
        img[11..13].copy_from_slice(&512u16.to_le_bytes());
        img[13] = 1;
        img[14..16].copy_from_slice(&1u16.to_le_bytes());
        img[16] = 1;
        img[17..19].copy_from_slice(&16u16.to_le_bytes());
        img[19..21].copy_from_slice(&64u16.to_le_bytes());
        img[21] = 0xF8;
        img[22..24].copy_from_slice(&1u16.to_le_bytes());
        img[38] = 0x29;
        img[39..43].copy_from_slice(&0xCAFEu32.to_le_bytes());
        img[43..54].copy_from_slice(b"HANDMADE   ");
        img[510] = 0x55;
        img[511] = 0xAA;
        let mut h = Hand { img };
        h.fat(0, 0xFF8);
        h.fat(1, 0xFFF);
        h
    }

    /// Sets FAT12 entry `c` to `v`.
    pub fn fat(&mut self, c: u32, v: u16) {
        let off = 512 + (c + c / 2) as usize;
        let w = u16::from_le_bytes([self.img[off], self.img[off + 1]]);
        let w = if c & 1 == 1 { (w & 0x000F) | (v << 4) } else { (w & 0xF000) | (v & 0x0FFF) };
        self.img[off..off + 2].copy_from_slice(&w.to_le_bytes());
    }

    /// Links `clusters` into one chain ending in EOC.
    pub fn chain(&mut self, clusters: &[u32]) {
        for w in clusters.windows(2) {
            self.fat(w[0], w[1] as u16);
        }
        if let Some(&last) = clusters.last() {
            self.fat(last, 0xFFF);
        }
    }

    pub fn cluster_off(c: u32) -> usize {
        (3 + c as usize - 2) * 512
    }

    /// Writes 32-byte slot `idx` of the root directory.
    pub fn root_slot(&mut self, idx: usize, e: [u8; 32]) {
        let off = 2 * 512 + idx * 32;
        self.img[off..off + 32].copy_from_slice(&e);
    }

    /// Writes 32-byte slot `idx` of directory cluster `c`.
    pub fn slot(&mut self, c: u32, idx: usize, e: [u8; 32]) {
        let off = Self::cluster_off(c) + idx * 32;
        self.img[off..off + 32].copy_from_slice(&e);
    }

    pub fn fill_cluster(&mut self, c: u32, data: &[u8]) {
        let off = Self::cluster_off(c);
        self.img[off..off + data.len()].copy_from_slice(data);
    }

    pub fn mount(&self) -> FileSystem<vmfw_block::MemDisk> {
        FileSystem::mount(vmfw_block::MemDisk::new(self.img.clone(), 512))
            .expect("mount hand image")
    }
}

/// A short directory entry.
pub fn short(name: &[u8; 11], attr: u8, cluster: u32, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = attr;
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

/// The long-name entries for `name`, in on-disk order, for short name
/// `short` (checksum computed as FAT spec §7.2 says, then xor-ed with
/// `sum_xor` to make it wrong on purpose).
pub fn lfn(name: &str, short: &[u8; 11], sum_xor: u8) -> Vec<[u8; 32]> {
    let sum = short.iter().fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b)) ^ sum_xor;
    let mut units: Vec<u16> = name.encode_utf16().collect();
    if !units.len().is_multiple_of(13) {
        units.push(0);
    }
    while !units.len().is_multiple_of(13) {
        units.push(0xFFFF);
    }
    let n = units.len() / 13;
    let offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    (1..=n)
        .rev()
        .map(|seq| {
            let mut e = [0u8; 32];
            e[0] = seq as u8 | if seq == n { 0x40 } else { 0 };
            e[11] = 0x0F;
            e[13] = sum;
            for (i, off) in offs.iter().enumerate() {
                e[*off..*off + 2].copy_from_slice(&units[(seq - 1) * 13 + i].to_le_bytes());
            }
            e
        })
        .collect()
}
