//! File cluster chains on hand-built FAT12/16/32 volumes (big enough that
//! the FAT spans several of the crate's FAT windows): fragmented files read
//! back byte for byte, every kind of broken chain maps to its named error
//! on both the contiguous fast path and the general one, FAT12 entries that
//! straddle a sector or a window are decoded right, and reads cost one
//! device request per run with no second walk of the chain.
// Test helpers outside #[test] functions, which clippy.toml's
// allow-*-in-tests settings do not reach: a failure here is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::vol::{shuffle, Kind, Vol};
use common::{pattern, Recorder};
use vmfw_block::MemDisk;
use vmfw_fat::{Error, FatType, FileSystem};

/// One volume per FAT type; the FAT16 and FAT32 FATs are larger than the
/// 64 KiB FAT window, so chains cross windows in both directions.
fn volumes() -> Vec<Vol> {
    vec![Vol::new(4000, 1), Vol::new(65000, 1), Vol::new(70000, 1)]
}

fn fat_type(k: Kind) -> FatType {
    match k {
        Kind::Fat12 => FatType::Fat12,
        Kind::Fat16 => FatType::Fat16,
        Kind::Fat32 => FatType::Fat32,
    }
}

fn mount(v: &Vol, bs: u32) -> FileSystem<MemDisk> {
    let fs = FileSystem::mount(MemDisk::new(v.img.clone(), bs)).expect("mount");
    assert_eq!(fs.fat_type(), fat_type(v.kind));
    fs
}

fn read(fs: &mut FileSystem<MemDisk>, path: &str) -> Result<Vec<u8>, Error> {
    let mut f = fs.open(path)?;
    fs.read_to_vec(&mut f, 64 << 20)
}

/// Highest valid cluster.
fn max(v: &Vol) -> u32 {
    v.clusters + 1
}

/// A chain of `n` clusters from `3..hi` made of runs of 1..=9 clusters in
/// shuffled order (so it jumps forwards and backwards across the FAT).
fn scattered(hi: u32, n: usize, seed: u64) -> Vec<u32> {
    let mut runs = Vec::new();
    let mut c = 3u32;
    let mut len = 1u32;
    while c + len <= hi {
        runs.push((c, len));
        c += len;
        len = len % 9 + 1;
    }
    shuffle(&mut runs, seed);
    let chain: Vec<u32> = runs.iter().flat_map(|&(c, l)| c..c + l).take(n).collect();
    assert_eq!(chain.len(), n);
    chain
}

/// Number of maximal contiguous runs in `chain`.
fn run_count(chain: &[u32]) -> usize {
    1 + chain.windows(2).filter(|w| w[1] != w[0] + 1).count()
}

#[test]
fn fragmented_files_read_back() {
    for mut v in volumes() {
        let cs = v.cluster_size;
        let n = if v.kind == Kind::Fat12 { 1500 } else { 6000 };
        // Clusters from max - 600 on are the other file's.
        let frag = scattered(max(&v) - 600, n, 7);
        let frag_data = pattern(1, n * cs - 99);
        v.add(0, b"FRAG    BIN", &frag, &frag_data);
        // Every cluster its own run, walking backwards through the FAT.
        let back: Vec<u32> = (0..300).map(|i| max(&v) - 2 * i).collect();
        let back_data = pattern(2, 300 * cs);
        v.add(1, b"BACK    BIN", &back, &back_data);
        for bs in [512, 4096] {
            let mut fs = mount(&v, bs);
            let what = format!("{:?} bs {bs}", v.kind);
            assert_eq!(read(&mut fs, "/frag.bin").unwrap(), frag_data, "{what}");
            assert_eq!(read(&mut fs, "/back.bin").unwrap(), back_data, "{what}");

            let mut f = fs.open("/frag.bin").unwrap();
            let ext = fs.extents(&mut f).unwrap();
            assert_eq!(ext.len(), run_count(&frag), "{what}");
            assert_eq!(f.run_count(), Some(run_count(&frag)));
            assert_eq!(ext.iter().map(|e| e.1).sum::<u64>(), frag_data.len() as u64);
            assert_eq!(ext[0].0, v.cluster_off(frag[0]) as u64);
            // Reads at any offset and length, in any order, through one
            // open file (the chain is walked once).
            let mut seed = 0x9E37_79B9u64;
            for _ in 0..200 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let off = (seed >> 20) as usize % frag_data.len();
                let len = (seed >> 8) as usize % (3 * cs + 7);
                let mut buf = vec![0u8; len];
                let got = fs.read_at(&mut f, off as u64, &mut buf).unwrap();
                let want = &frag_data[off..(off + len).min(frag_data.len())];
                assert_eq!(&buf[..got], want, "{what} off {off} len {len}");
            }
        }
    }
}

#[test]
fn contiguous_chain_stops_at_the_last_valid_cluster() {
    for mut v in volumes() {
        let cs = v.cluster_size;
        // A contiguous run up to the last cluster whose entry names the
        // cluster after it, which does not exist.
        let m = max(&v);
        let chain: Vec<u32> = (m - 5..=m).collect();
        v.add(0, b"EDGE    BIN", &chain, &pattern(3, 6 * cs));
        let mut bad = v.clone();
        bad.set(m, m + 1);
        bad.file(0, b"EDGE    BIN", m - 5, (7 * cs) as u32);
        let mut fs = mount(&bad, 512);
        assert_eq!(
            read(&mut fs, "/edge.bin"),
            Err(Error::ClusterOutOfRange(m + 1)),
            "{:?}",
            v.kind
        );
        // The same chain, ending properly, but the file claims one more.
        v.file(0, b"EDGE    BIN", m - 5, (6 * cs + 1) as u32);
        let mut fs = mount(&v, 512);
        assert_eq!(read(&mut fs, "/edge.bin"), Err(Error::TruncatedChain), "{:?}", v.kind);
    }
}

#[test]
fn loops_are_named() {
    for v in volumes() {
        let cs = v.cluster_size as u32;
        let m = max(&v);
        let case = |chain: &[u32], last_to: u32, clusters: u32| {
            let mut v2 = v.clone();
            v2.chain(chain);
            v2.set(*chain.last().unwrap(), last_to);
            v2.file(0, b"LOOP    BIN", chain[0], clusters * cs);
            let mut fs = mount(&v2, 512);
            read(&mut fs, "/loop.bin")
        };
        // A self-loop.
        assert_eq!(case(&[5], 5, 10), Err(Error::ChainLoop), "{:?}", v.kind);
        // Back into the middle of an earlier contiguous run.
        let run: Vec<u32> = (20..=30).collect();
        assert_eq!(case(&run, 25, 20), Err(Error::ChainLoop), "{:?}", v.kind);
        // Back to the start, across the FAT (and windows on FAT16/32).
        assert_eq!(case(&[10, m - 3, 11, m - 100], 10, 6), Err(Error::ChainLoop));
        // A loop that the file's size never reaches is not followed.
        assert!(case(&[10, 11, 12], 10, 3).is_ok(), "{:?}", v.kind);
    }
}

#[test]
fn bad_entries_are_named() {
    for v in volumes() {
        let cs = v.cluster_size;
        let m = max(&v);
        let (bad, reserved, eoc) = match v.kind {
            Kind::Fat12 => (0xFF7, 0xFF0, [0xFF8, 0xFFF]),
            Kind::Fat16 => (0xFFF7, 0xFFF0, [0xFFF8, 0xFFFF]),
            Kind::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF0, [0x0FFF_FFF8, 0xFFFF_FFFF]),
        };
        // Entry 20 of a contiguous chain 10..=40 (so the fast path meets
        // it), or of the jump 20 -> 60.
        for jump in [false, true] {
            let chain: Vec<u32> =
                if jump { (10..=20).chain(60..80).collect() } else { (10..=40).collect() };
            let data = pattern(4, chain.len() * cs);
            let mut base = v.clone();
            base.add(0, b"FILE    BIN", &chain, &data);
            let what = format!("{:?} jump {jump}", v.kind);
            assert_eq!(read(&mut mount(&base, 512), "/file.bin").unwrap(), data, "{what}");
            for val in [0, 1, m + 1, reserved, bad] {
                let mut b = base.clone();
                b.set(20, val);
                let r = read(&mut mount(&b, 512), "/file.bin");
                assert_eq!(r, Err(Error::ClusterOutOfRange(val)), "{what} value {val:#x}");
            }
            for val in eoc {
                let mut b = base.clone();
                b.set(20, val);
                let r = read(&mut mount(&b, 512), "/file.bin");
                assert_eq!(r, Err(Error::TruncatedChain), "{what} value {val:#x}");
            }
            if v.kind == Kind::Fat32 {
                // The high 4 bits of a FAT32 entry are reserved: ignored.
                let mut b = base.clone();
                let next = if jump { 60 } else { 21 };
                b.set(20, 0xF000_0000 | next);
                assert_eq!(read(&mut mount(&b, 512), "/file.bin").unwrap(), data, "{what}");
            }
        }
    }
}

#[test]
fn chain_shorter_or_longer_than_the_size() {
    for mut v in volumes() {
        let cs = v.cluster_size;
        let chain: Vec<u32> = (100..110).collect();
        let data = pattern(5, 10 * cs);
        v.add(0, b"FILE    BIN", &chain, &data);
        // Longer than the size: only the clusters the size needs count,
        // and what the chain does after them is never looked at.
        v.file(0, b"FILE    BIN", 100, (3 * cs + 1) as u32);
        v.set(103, 0);
        let mut fs = mount(&v, 512);
        assert_eq!(read(&mut fs, "/file.bin").unwrap(), data[..3 * cs + 1], "{:?}", v.kind);
        // Shorter: the fifth cluster's entry is now free (inside the chain).
        v.file(0, b"FILE    BIN", 100, (5 * cs) as u32);
        let mut fs = mount(&v, 512);
        assert_eq!(read(&mut fs, "/file.bin"), Err(Error::ClusterOutOfRange(0)));
        v.set(103, v.kind.eoc());
        let mut fs = mount(&v, 512);
        assert_eq!(read(&mut fs, "/file.bin"), Err(Error::TruncatedChain));
        // Exactly the size: fine; and a size of zero reads nothing.
        v.file(0, b"FILE    BIN", 100, (4 * cs) as u32);
        assert_eq!(read(&mut mount(&v, 512), "/file.bin").unwrap(), data[..4 * cs]);
        v.file(0, b"FILE    BIN", 0, 0);
        assert_eq!(read(&mut mount(&v, 512), "/file.bin").unwrap(), b"");
    }
    // FAT32: a chain that ends exactly where the first FAT window does.
    // The FAT starts at byte 512, so the first 64 KiB window holds the
    // entries of clusters below 16256.
    let mut v = Vol::new(70000, 1);
    let chain: Vec<u32> = (16250..16256).collect();
    v.add(0, b"FILE    BIN", &chain, &pattern(6, 6 * 512));
    v.file(0, b"FILE    BIN", 16250, 7 * 512);
    assert_eq!(read(&mut mount(&v, 512), "/file.bin"), Err(Error::TruncatedChain));
    let chain: Vec<u32> = (16250..16262).collect();
    let data = pattern(6, 12 * 512);
    v.add(0, b"FILE    BIN", &chain, &data);
    assert_eq!(read(&mut mount(&v, 512), "/file.bin").unwrap(), data);
}

#[test]
fn fat12_entries_straddling_sectors_and_windows() {
    // Entry 341 of a FAT at byte 512 lies in FAT bytes 511 and 512 (two
    // sectors). With 126 reserved sectors the FAT starts at byte 64512
    // and entry 682 lies in device bytes 65535 and 65536: two FAT windows.
    for (reserved, at) in [(1u16, 341u32), (126, 682)] {
        let mut v = Vol::with_reserved(4000, 1, reserved);
        assert_eq!(v.kind, Kind::Fat12);
        let split = v.entry_off(at);
        assert_eq!((split + 1) % if reserved == 1 { 512 } else { 65536 }, 0);
        // Contiguous through the split entry, and jumping into and out
        // of it from the far end of the FAT.
        let contig: Vec<u32> = (at - 40..at + 40).collect();
        let jumps: Vec<u32> = vec![3900, at, 3901, at - 1, 3950, at + 1, 2, at + 100];
        let d1 = pattern(7, 80 * 512 - 3);
        let d2 = pattern(8, jumps.len() * 512);
        v.add(0, b"CONTIG  BIN", &contig, &d1);
        let mut w = Vol::with_reserved(4000, 1, reserved);
        w.add(0, b"JUMPS   BIN", &jumps, &d2);
        for bs in [512, 4096] {
            assert_eq!(read(&mut mount(&v, bs), "/contig.bin").unwrap(), d1, "{reserved} {bs}");
            assert_eq!(read(&mut mount(&w, bs), "/jumps.bin").unwrap(), d2, "{reserved} {bs}");
        }
        // The split entry holding a bad value or an early end.
        for (val, err) in [
            (0u32, Error::ClusterOutOfRange(0)),
            (0xFF7, Error::ClusterOutOfRange(0xFF7)),
            (0xFFF, Error::TruncatedChain),
        ] {
            let mut b = Vol::with_reserved(4000, 1, reserved);
            b.add(0, b"CONTIG  BIN", &contig, &d1);
            b.set(at, val);
            for bs in [512, 4096] {
                assert_eq!(
                    read(&mut mount(&b, bs), "/contig.bin"),
                    Err(err),
                    "{reserved} {val:#x}"
                );
            }
        }
    }
}

#[test]
fn reads_are_one_request_per_run_and_seeks_do_not_rewalk() {
    let mut v = Vol::new(70000, 1);
    let chain = scattered(max(&v), 3000, 11);
    let data = pattern(9, 3000 * 512);
    v.add(0, b"FRAG    BIN", &chain, &data);
    let (rec, log) = Recorder::new(MemDisk::new(v.img.clone(), 512));
    let mut fs = FileSystem::mount(rec).unwrap();
    let mut f = fs.open("/frag.bin").unwrap();
    log.borrow_mut().clear();
    let mut buf = vec![0u8; data.len()];
    assert_eq!(fs.read_all(&mut f, &mut buf).unwrap(), data.len());
    assert_eq!(buf, data);
    let fat_end = (v.fat_off + v.fat_bytes) as u64 / 512;
    let fat_reads = log.borrow().iter().filter(|(lba, _)| *lba < fat_end).count();
    let data_reads = log.borrow().len() - fat_reads;
    assert_eq!(data_reads, run_count(&chain), "one request per run, straight into the buffer");
    // The FAT (280 KiB) is read in 64 KiB windows; a scattered chain may
    // reload a window per jump, never per entry.
    assert!(fat_reads <= run_count(&chain), "{fat_reads} FAT reads");
    assert!(log.borrow().iter().filter(|(lba, _)| *lba < fat_end).all(|(_, n)| *n == 128));
    // Seeks: reads anywhere in the file touch the data only.
    log.borrow_mut().clear();
    for k in 0..100usize {
        let off = (k * 7919 * 97) % (data.len() - 600);
        let mut small = [0u8; 600];
        assert_eq!(fs.read_at(&mut f, off as u64, &mut small).unwrap(), 600);
        assert_eq!(small[..], data[off..off + 600]);
    }
    assert!(log.borrow().iter().all(|(lba, _)| *lba >= fat_end), "no FAT reads after the first");
}
