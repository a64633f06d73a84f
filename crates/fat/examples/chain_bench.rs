//! Host benchmark of cluster-chain walks and whole-file reads, with a
//! counting in-memory device: how long one walk of a long chain takes and
//! how many device requests (and bytes) a walk and a read cost.
//!
//! ```text
//! cargo run --release -p vmfw-fat --example chain_bench [-- ROUNDS]
//! valgrind --tool=callgrind target/release/examples/chain_bench walks CASE K
//! ```
//!
//! The second form does nothing but K walks over one volume, so two runs
//! with different K give the instructions of one walk by subtraction.
//!
//! Volumes (built by hand in memory, see `tests/common/vol.rs`):
//! - `esp`: like the test ESP the firmware boots from (FAT32, 512-byte
//!   clusters, ~96 MiB) with a contiguous 9 MiB file;
//! - `contig`, `alternate`, `runs16`: FAT32 with 4 KiB clusters and a
//!   64 MiB file that is contiguous, uses every other cluster (16384 runs
//!   of one cluster, FAT read forwards), or is made of 16-cluster runs in
//!   shuffled order across the volume.
//!
//! Per volume: the median time of one walk (mount untimed, then open the
//! file and compute its extents) and its device requests; the median time
//! of reading the whole file from a fresh mount and its requests; and the
//! requests of 256 scattered 4 KiB reads through one open file.

// A benchmark, not an input path: a failed expectation is a failed run.
#![allow(clippy::indexing_slicing, clippy::expect_used)]

#[path = "../tests/common/vol.rs"]
mod vol;

use std::time::{Duration, Instant};

use vmfw_block::{check_range, BlockIo, Error as BlockError};
use vmfw_fat::{Entry, FileSystem};
use vol::{shuffle, Vol};

/// A read-only in-memory device that counts requests and bytes.
struct Counting<'a> {
    data: &'a [u8],
    calls: u64,
    bytes: u64,
}

impl BlockIo for Counting<'_> {
    fn block_size(&self) -> u32 {
        512
    }
    fn num_blocks(&self) -> u64 {
        self.data.len() as u64 / 512
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(512, self.num_blocks(), lba, buf.len())?;
        let start = lba as usize * 512;
        let src = self.data.get(start..start + buf.len()).ok_or(BlockError::OutOfRange)?;
        buf.copy_from_slice(src);
        self.calls += 1;
        self.bytes += buf.len() as u64;
        Ok(())
    }
}

fn mount(img: &[u8]) -> FileSystem<Counting<'_>> {
    FileSystem::mount(Counting { data: img, calls: 0, bytes: 0 }).expect("mount")
}

fn counts(fs: &FileSystem<Counting<'_>>) -> (u64, u64) {
    (fs.device().calls, fs.device().bytes)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Case {
    name: &'static str,
    vol: Vol,
    size: usize,
}

fn build(name: &'static str, clusters: u32, spc: u8, chain: &[u32], size: usize) -> Case {
    let mut vol = Vol::new(clusters, spc);
    vol.chain(chain);
    // Contents: the file cluster index in every cluster's first bytes, so
    // a read can be checked cheaply.
    for (i, c) in chain.iter().enumerate() {
        let off = vol.cluster_off(*c);
        vol.img[off..off + 8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    vol.file(0, b"BIG     BIN", chain[0], size as u32);
    Case { name, vol, size }
}

/// The benchmark volumes, built on demand (`only`: just that one).
fn cases(only: Option<usize>) -> Vec<Case> {
    const MIB: usize = 1 << 20;
    let n = (64 * MIB / 4096) as u32;
    let want = |i: usize| only.is_none_or(|o| o == i);
    let mut out = Vec::new();
    if want(0) {
        // FAT32 needs at least 65525 clusters; the root directory is cluster 2.
        let chain: Vec<u32> = (3..3 + (9 * MIB / 512) as u32).collect();
        out.push(build("esp 9 MiB/512 B", 196_000, 1, &chain, 9 * MIB));
    }
    if want(1) {
        let chain: Vec<u32> = (3..3 + n).collect();
        out.push(build("contig 64 MiB/4 KiB", 70_000, 8, &chain, 64 * MIB));
    }
    if want(2) {
        let chain: Vec<u32> = (0..n).map(|i| 3 + 2 * i).collect();
        out.push(build("alternate 64 MiB/4 KiB", 70_000, 8, &chain, 64 * MIB));
    }
    if want(3) {
        let mut blocks: Vec<u32> = (0..(70_000 - 16) / 16).collect();
        shuffle(&mut blocks, 0x5EED);
        let chain: Vec<u32> = blocks
            .iter()
            .take((n / 16) as usize)
            .flat_map(|b| (0..16).map(move |k| 3 + b * 16 + k))
            .collect();
        out.push(build("runs16 64 MiB/4 KiB", 70_000, 8, &chain, 64 * MIB));
    }
    out
}

/// `walks CASE K`: only K walks over volume CASE (0..=3), for counting
/// instructions with an external tool (run it with two K and subtract).
fn walks_only(case: usize, k: usize) {
    let cases = cases(Some(case));
    let img = &cases[0].vol.img[..];
    let entry = mount(img).lookup("/big.bin").expect("lookup");
    for _ in 0..k {
        let mut fs = mount(img);
        let mut f = fs.open_file(&entry).expect("open");
        std::hint::black_box(fs.extents(&mut f).expect("extents"));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("walks") {
        let num = |i: usize| args.get(i).and_then(|a| a.parse().ok()).expect("walks CASE K");
        return walks_only(num(1), num(2));
    }
    let rounds: usize = args.first().map_or(21, |a| a.parse().expect("rounds"));
    const MIB: usize = 1 << 20;
    let cases = cases(None);

    println!("| volume | runs | walk: time | walk: reads | read all: time | read all: reads | 256 × 4 KiB reads |");
    println!("|---|---|---|---|---|---|---|");
    let mut buf = vec![0u8; 64 * MIB];
    for case in &cases {
        let img = &case.vol.img[..];
        let entry: Entry = {
            let mut fs = mount(img);
            fs.lookup("/big.bin").expect("lookup")
        };
        // Walk.
        let mut times = Vec::new();
        let mut walk_counts = (0, 0);
        let mut run_count = 0;
        for _ in 0..rounds {
            let mut fs = mount(img);
            let before = counts(&fs);
            let t = Instant::now();
            let mut f = fs.open_file(&entry).expect("open");
            let ext = fs.extents(&mut f).expect("extents");
            times.push(t.elapsed());
            let after = counts(&fs);
            walk_counts = (after.0 - before.0, after.1 - before.1);
            run_count = ext.len();
        }
        let walk = median(times);
        // Whole-file read.
        let mut times = Vec::new();
        let mut read_counts = (0, 0);
        for _ in 0..rounds.min(7) {
            let mut fs = mount(img);
            let before = counts(&fs);
            let t = Instant::now();
            let mut f = fs.open_file(&entry).expect("open");
            let got = fs.read_all(&mut f, &mut buf).expect("read");
            times.push(t.elapsed());
            let after = counts(&fs);
            read_counts = (after.0 - before.0, after.1 - before.1);
            assert_eq!(got, case.size);
        }
        let cs = case.vol.cluster_size;
        for i in [0, 1, case.size / cs - 1] {
            assert_eq!(
                buf[i * cs..i * cs + 8],
                (i as u64).to_le_bytes(),
                "{} cluster {i}",
                case.name
            );
        }
        let read = median(times);
        // Scattered reads through one open file.
        let mut fs = mount(img);
        let mut f = fs.open_file(&entry).expect("open");
        let before = counts(&fs);
        let mut small = [0u8; 4096];
        for k in 0..256usize {
            let off = (k * 7919 * 4096) % (case.size - 4096);
            fs.read_at(&mut f, off as u64, &mut small).expect("read_at");
        }
        let scattered = counts(&fs).0 - before.0;
        println!(
            "| {} | {} | {:.3} ms | {} ({} KiB) | {:.2} ms | {} ({} KiB) | {} |",
            case.name,
            run_count,
            walk.as_secs_f64() * 1e3,
            walk_counts.0,
            walk_counts.1 / 1024,
            read.as_secs_f64() * 1e3,
            read_counts.0,
            read_counts.1 / 1024,
            scattered,
        );
    }
}
