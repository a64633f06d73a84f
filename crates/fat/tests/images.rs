//! Valid images written by the independent `fatfs` crate: FAT12/16/32,
//! 512- and 4096-byte sectors, on devices with the same or another block
//! size.
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use vmfw_block::MemDisk;
use vmfw_fat::{Error, FatType, FileSystem, Timestamp};

struct Case {
    fat: fatfs::FatType,
    expect: FatType,
    bps: u16,
    dev_bs: u32,
    bytes: usize,
    cluster: u32,
}

const MIB: usize = 1 << 20;

fn cases() -> Vec<Case> {
    use fatfs::FatType as F;
    vec![
        Case {
            fat: F::Fat12,
            expect: FatType::Fat12,
            bps: 512,
            dev_bs: 512,
            bytes: 2 * MIB,
            cluster: 1024,
        },
        Case {
            fat: F::Fat12,
            expect: FatType::Fat12,
            bps: 4096,
            dev_bs: 4096,
            bytes: 8 * MIB,
            cluster: 4096,
        },
        Case {
            fat: F::Fat12,
            expect: FatType::Fat12,
            bps: 512,
            dev_bs: 4096,
            bytes: 2 * MIB,
            cluster: 512,
        },
        Case {
            fat: F::Fat16,
            expect: FatType::Fat16,
            bps: 512,
            dev_bs: 512,
            bytes: 16 * MIB,
            cluster: 2048,
        },
        Case {
            fat: F::Fat16,
            expect: FatType::Fat16,
            bps: 4096,
            dev_bs: 512,
            bytes: 64 * MIB,
            cluster: 8192,
        },
        Case {
            fat: F::Fat32,
            expect: FatType::Fat32,
            bps: 512,
            dev_bs: 512,
            bytes: 40 * MIB,
            cluster: 512,
        },
        Case {
            fat: F::Fat32,
            expect: FatType::Fat32,
            bps: 512,
            dev_bs: 4096,
            bytes: 40 * MIB,
            cluster: 512,
        },
        Case {
            fat: F::Fat32,
            expect: FatType::Fat32,
            bps: 4096,
            dev_bs: 4096,
            bytes: 300 * MIB,
            cluster: 4096,
        },
    ]
}

fn stamp() -> (Timestamp, Timestamp, Timestamp) {
    let base = Timestamp {
        year: 2024,
        month: 5,
        day: 17,
        hour: 13,
        minute: 45,
        second: 30,
        nanosecond: 0,
    };
    let created = Timestamp { nanosecond: 120_000_000, ..base };
    let accessed = Timestamp { hour: 0, minute: 0, second: 0, ..base };
    (created, base, accessed)
}

fn check_case(c: &Case) {
    let what = format!("{:?} bps {} on {}-byte blocks", c.expect, c.bps, c.dev_bs);
    let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
    let files = standard_tree(&mut img, c.cluster as usize);
    let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs)).expect(&what);
    let info = fs.info();
    assert_eq!(info.fat_type, c.expect, "{what}");
    assert_eq!(info.bytes_per_sector, u32::from(c.bps), "{what}");
    assert_eq!(info.cluster_size, c.cluster, "{what}");
    assert_eq!(info.volume_id, Some(0x1234_5678), "{what}");
    assert_eq!(fs.volume_label().unwrap().as_deref(), Some("VMFW TEST"), "{what}");

    // The whole tree, every file byte for byte.
    let (got, err) = walk(&mut fs, 32, 10_000);
    assert_eq!(err, None, "{what}");
    let mut want: Vec<(String, Result<Vec<u8>, Error>)> =
        files.iter().map(|(p, d)| (format!("/{p}"), Ok(d.clone()))).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0, "{what}");
        assert!(g.1 == w.1, "{what}: {} differs", g.0);
    }

    // Lookup: case-insensitive, both separators, long and short names.
    for p in [
        "/loader/entries/a.conf",
        "loader/entries/A.CONF",
        "\\LOADER\\Entries\\a.Conf",
        "//loader/./entries//a.conf",
        "/loader/entries/../entries/a.conf",
        "/../../loader/entries/a.conf",
    ] {
        let e = fs.lookup(p).unwrap_or_else(|e| panic!("{what}: {p}: {e}"));
        assert_eq!(e.name(), "a.conf", "{what}: {p}");
    }
    let efi = fs.lookup("\\efi\\boot\\bootx64.efi").expect(&what);
    assert_eq!(efi.size(), 3 * u64::from(c.cluster) + 123);
    let deb = fs.lookup("/LOADER/ENTRIES/debian-6.1.0-13-AMD64.CONF").expect(&what);
    assert_eq!(deb.long_name(), Some("Debian-6.1.0-13-amd64.conf"), "{what}");
    assert!(deb.short_name().contains('~'), "{what}: {}", deb.short_name());
    let by_short =
        fs.lookup(&format!("/loader/entries/{}", deb.short_name().to_lowercase())).expect(&what);
    assert_eq!(by_short, deb, "{what}");
    assert_eq!(fs.lookup("/GRÜßE AUS KÖLN.TXT").expect(&what).name(), "Grüße aus Köln.txt");
    assert_eq!(fs.lookup("/deep/A/b/C/d/E/f/G/h/LEAF.TXT").expect(&what).size(), 9);
    let root = fs.lookup("/").expect(&what);
    assert!(root.is_root() && root.is_dir());
    assert!(fs.lookup("/loader/..").expect(&what).is_root(), "{what}");
    let parent = fs.lookup("/deep/a/b/..").expect(&what);
    assert_eq!(parent.name(), "a", "{what}");
    assert_eq!(fs.lookup("/nope"), Err(Error::NotFound));
    assert_eq!(fs.lookup("/loader/entries/a.conf/x"), Err(Error::NotADirectory));
    assert_eq!(fs.open("/EFI").err(), Some(Error::IsADirectory));

    // Metadata.
    let (created, modified, accessed) = stamp();
    assert_eq!(efi.created(), Some(created), "{what}");
    assert_eq!(efi.modified(), Some(modified), "{what}");
    assert_eq!(efi.accessed(), Some(accessed), "{what}");
    assert!(!efi.is_dir());
    let entries_dir = fs.lookup("/loader/entries").expect(&what);
    assert!(
        entries_dir.is_dir() && entries_dir.attributes().contains(vmfw_fat::Attributes::DIRECTORY)
    );
    let dir = fs.dir_of(&entries_dir).expect(&what);
    let names: Vec<String> = fs.read_dir(dir).map(|e| e.expect(&what).name().to_owned()).collect();
    assert_eq!(names, [".", "..", "a.conf", "Debian-6.1.0-13-amd64.conf"], "{what}");

    // Reads at unaligned offsets, across cluster boundaries.
    let data = &files.iter().find(|(p, _)| p == "EFI/BOOT/BOOTX64.EFI").expect("file").1;
    let mut f = fs.open_file(&efi).expect(&what);
    let cs = c.cluster as u64;
    for (off, len) in [
        (0, 1),
        (1, 7),
        (cs - 1, 2),
        (cs - 3, cs + 6),
        (cs + 17, 2 * cs),
        (3 * cs - 1, 200),
        (3 * cs + 122, 1),
        (3 * cs + 122, 10),
        (3 * cs + 123, 10),
        (u64::MAX, 10),
    ] {
        let mut buf = vec![0xAAu8; len as usize];
        let n = fs.read_at(&mut f, off, &mut buf).expect(&what);
        let start = (off as usize).min(data.len());
        let end = (start + len as usize).min(data.len());
        assert_eq!(n, end - start, "{what}: off {off} len {len}");
        assert_eq!(&buf[..n], &data[start..end], "{what}: off {off} len {len}");
        assert!(buf[n..].iter().all(|&b| b == 0xAA), "{what}: wrote past the count");
    }
    let mut small = vec![0u8; data.len() - 1];
    assert_eq!(
        fs.read_all(&mut f, &mut small),
        Err(Error::BufferTooSmall { needed: data.len() as u64 })
    );
    assert_eq!(fs.read_to_vec(&mut f, 10), Err(Error::FileTooLarge(data.len() as u64)));
    let mut empty = fs.open("/empty").expect(&what);
    assert_eq!(fs.read_to_vec(&mut empty, 10).expect(&what), Vec::<u8>::new());
}

#[test]
fn fat12_512() {
    check_case(&cases()[0]);
}
#[test]
fn fat12_4096() {
    check_case(&cases()[1]);
}
#[test]
fn fat12_512_sectors_on_4k_device() {
    check_case(&cases()[2]);
}
#[test]
fn fat16_512() {
    check_case(&cases()[3]);
}
#[test]
fn fat16_4096_sectors_on_512_device() {
    check_case(&cases()[4]);
}
#[test]
fn fat32_512() {
    check_case(&cases()[5]);
}
#[test]
fn fat32_512_sectors_on_4k_device() {
    check_case(&cases()[6]);
}
#[test]
fn fat32_4096() {
    check_case(&cases()[7]);
}

/// Reads a fragmented file; returns (run count, data requests of
/// `read_all`, data requests of an exact-length `read_at`).
fn fragmented_case(c: &Case, runs: &[usize]) -> (usize, usize, usize) {
    let what = format!("{:?} bps {} on {}-byte blocks", c.expect, c.bps, c.dev_bs);
    let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
    let data = fragmented(&mut img, c.cluster as usize, runs);
    let (dev, log) = Recorder::new(MemDisk::new(img, c.dev_bs));
    let mut fs = FileSystem::mount(dev).expect(&what);
    let mut f = fs.open("/FRAG.BIN").expect(&what);
    // The first read walks the chain; later reads touch only data.
    let mut one = [0u8; 1];
    assert_eq!(fs.read_at(&mut f, 0, &mut one).expect(&what), 1);
    let bs = c.dev_bs as usize;
    let mut buf = vec![0u8; data.len().div_ceil(bs) * bs];
    log.borrow_mut().clear();
    assert_eq!(fs.read_all(&mut f, &mut buf).expect(&what), data.len());
    assert!(buf[..data.len()] == data[..], "{what}");
    let all_calls = log.borrow().len();
    let mut exact = vec![0u8; data.len()];
    log.borrow_mut().clear();
    assert_eq!(fs.read_at(&mut f, 0, &mut exact).expect(&what), data.len());
    assert!(exact == data, "{what}");
    let exact_calls = log.borrow().len();
    // Unaligned reads spanning run boundaries.
    let cs = c.cluster as usize;
    for (off, len) in [(cs - 5, 10), (3 * cs - 1, 2 * cs + 2), (cs / 2, data.len())] {
        let mut b = vec![0u8; len];
        let n = fs.read_at(&mut f, off as u64, &mut b).expect(&what);
        let end = (off + len).min(data.len());
        assert_eq!(&b[..n], &data[off..end], "{what}: off {off}");
    }
    (f.run_count().expect("walked"), all_calls, exact_calls)
}

#[test]
fn fragmented_file_reads_one_request_per_run() {
    let runs = [3, 1, 2, 4, 1];
    for c in [&cases()[0], &cases()[1], &cases()[3], &cases()[5]] {
        let (n_runs, all_calls, exact_calls) = fragmented_case(c, &runs);
        assert_eq!(n_runs, runs.len());
        assert_eq!(all_calls, runs.len(), "{:?}/{}: read_all", c.expect, c.bps);
        // Without scratch room the last run's partial block is one more.
        assert!(exact_calls <= runs.len() + 1, "{:?}/{}: read_at {exact_calls}", c.expect, c.bps);
    }
    // Sector and block sizes differ: still correct, still few requests.
    for c in [&cases()[2], &cases()[4], &cases()[6]] {
        let (n_runs, all_calls, _) = fragmented_case(c, &runs);
        assert_eq!(n_runs, runs.len());
        assert!(all_calls <= 3 * runs.len(), "{:?}: {all_calls}", c.expect);
    }
}

#[test]
fn chain_walk_reads_each_fat_block_once() {
    for c in [&cases()[0], &cases()[3], &cases()[5]] {
        let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
        standard_tree(&mut img, c.cluster as usize);
        let (dev, log) = Recorder::new(MemDisk::new(img, c.dev_bs));
        let mut fs = FileSystem::mount(dev).unwrap();
        let mut f = fs.open("/big.bin").unwrap();
        assert!(f.size() > 200 * u64::from(c.cluster));
        log.borrow_mut().clear();
        let v = fs.read_to_vec(&mut f, usize::MAX).unwrap();
        assert_eq!(v, pattern(2, 200 * c.cluster as usize + 7));
        // 201 clusters: a 12/16/32-bit FAT entry each is well inside one
        // or two 8 KiB FAT windows; the data is one run.
        let calls = log.borrow().len();
        assert!(calls <= 3, "{:?}: {calls} reads: {:?}", c.expect, log.borrow());
        assert_eq!(f.run_count(), Some(1));
    }
}

#[test]
fn directory_cursor_resumes() {
    let c = &cases()[3];
    let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
    standard_tree(&mut img, c.cluster as usize);
    let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs)).unwrap();
    let mut cursor = vmfw_fat::DirCursor::new(fs.root_dir());
    let mut names = Vec::new();
    while let Some(e) = fs.next_entry(&mut cursor).unwrap() {
        names.push(e.name().to_owned());
        // Interleave other work on the same file system.
        fs.lookup("/deep/a/b").unwrap();
    }
    assert_eq!(fs.next_entry(&mut cursor), Ok(None));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["EFI", "Grüße aus Köln.txt", "big.bin", "deep", "empty", "loader"]);
}

#[test]
fn extents_locate_every_byte_of_a_fragmented_file() {
    let runs = [3, 1, 2, 4, 1];
    for c in [&cases()[0], &cases()[3], &cases()[5]] {
        let mut img = format(c.fat, c.bps, c.bytes, Some(c.cluster));
        let data = fragmented(&mut img, c.cluster as usize, &runs);
        let raw = img.clone();
        let mut fs = FileSystem::mount(MemDisk::new(img, c.dev_bs)).expect("mount");
        let mut f = fs.open("/FRAG.BIN").expect("open");
        let ext = fs.extents(&mut f).expect("extents");
        assert_eq!(ext.len(), runs.len());
        let mut joined = Vec::new();
        for (off, len) in ext {
            joined.extend_from_slice(&raw[off as usize..(off + len) as usize]);
        }
        assert!(joined == data, "{:?}", c.expect);
    }
}
