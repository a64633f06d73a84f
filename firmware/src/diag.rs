//! The diagnostics that prove the storage stack end to end, on each
//! disk's first ESP: `vmfw.hash=PATH` prints a file's SHA-256;
//! `vmfw.bench=PATH` times a whole-file read with large requests against
//! 512-byte requests.

use crate::disks::{BootDisk, Fs};
use crate::memory::PageBuf;
use crate::time;
use alloc::format;
use alloc::string::String;
use sha2::{Digest, Sha256};
use vmfw_memmap::MemoryType;

/// Runs the `vmfw.hash=` and `vmfw.bench=` diagnostics on every ESP.
pub fn diagnostics(disks: &mut [BootDisk], hash: Option<&str>, bench: Option<&str>) {
    if hash.is_none() && bench.is_none() {
        return;
    }
    for d in disks.iter_mut() {
        let i = d.index;
        // The first ESP of each disk.
        let Some(v) = d.volumes.iter_mut().find(|v| v.esp) else { continue };
        let fs = &mut v.fs;
        crate::info!("disk{i}: ESP #{} is {:?}", v.partition, fs.fat_type());
        if let Some(path) = hash {
            hash_file(i, fs, path);
        }
        if let Some(path) = bench {
            bench_file(i, fs, path);
        }
    }
}

fn requests(fs: &Fs) -> u64 {
    fs.device().inner().with(|d| d.stats().requests).unwrap_or(0)
}

/// Reads a whole file into page memory with as few calls as the FAT
/// layout allows (one per contiguous run).
/// Why a diagnostic could not read its file.
enum Error {
    Fat(vmfw_fat::Error),
    TooLarge,
    OutOfMemory,
    ShortRead { got: usize, want: usize },
}

impl From<vmfw_fat::Error> for Error {
    fn from(e: vmfw_fat::Error) -> Self {
        Error::Fat(e)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Fat(e) => write!(f, "{e}"),
            Error::TooLarge => f.write_str("file too large"),
            Error::OutOfMemory => f.write_str("out of memory"),
            Error::ShortRead { got, want } => write!(f, "short read: {got} of {want} bytes"),
        }
    }
}

fn read_whole(fs: &mut Fs, path: &str) -> Result<PageBuf, Error> {
    let mut file = fs.open(path)?;
    let size = usize::try_from(file.size()).map_err(|_| Error::TooLarge)?;
    let mut buf = PageBuf::new(size, MemoryType::LoaderData).ok_or(Error::OutOfMemory)?;
    let n = fs.read_at(&mut file, 0, &mut buf)?;
    if n != size {
        return Err(Error::ShortRead { got: n, want: size });
    }
    Ok(buf)
}

fn hash_file(disk: usize, fs: &mut Fs, path: &str) {
    let before = requests(fs);
    match read_whole(fs, path) {
        Ok(buf) => {
            let digest = Sha256::digest(&buf[..]);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            crate::println!(
                "vmfw: sha256 disk{disk} {path} {hex} ({} bytes, {} requests)",
                buf.len(),
                requests(fs) - before
            );
        }
        Err(e) => crate::println!("vmfw: sha256 disk{disk} {path}: {e}"),
    }
}

fn bench_file(disk: usize, fs: &mut Fs, path: &str) {
    let hz = time::counter_hz();
    // MiB/s with one decimal, in integer arithmetic (no float formatting
    // code in the image).
    let mib_s = |bytes: usize, us: u64| {
        let tenths = (bytes as u128 * 10_000_000 / u128::from(us.max(1)) / (1 << 20)) as u64;
        format!("{}.{}", tenths / 10, tenths % 10)
    };

    let (r0, t0) = (requests(fs), crate::arch::counter());
    let buf = match read_whole(fs, path) {
        Ok(b) => b,
        Err(e) => {
            crate::println!("vmfw: bench disk{disk} {path}: {e}");
            return;
        }
    };
    let (big_us, big_reqs) = (time::us_since(t0), requests(fs) - r0);
    let size = buf.len();
    drop(buf);

    // The same file, one 512-byte request at a time (what a naive loader
    // does): every read_at of one aligned sector becomes one request.
    let mut file = match fs.open(path) {
        Ok(f) => f,
        Err(e) => {
            crate::println!("vmfw: bench disk{disk} {path}: {e}");
            return;
        }
    };
    let mut sector = [0u8; 512];
    let (r1, t1) = (requests(fs), crate::arch::counter());
    let mut off = 0u64;
    while off < file.size() {
        match fs.read_at(&mut file, off, &mut sector) {
            Ok(0) => break,
            Ok(n) => off += n as u64,
            Err(e) => {
                crate::println!("vmfw: bench disk{disk} {path}: {e}");
                return;
            }
        }
    }
    let (small_us, small_reqs) = (time::us_since(t1), requests(fs) - r1);
    crate::println!(
        "vmfw: bench disk{disk} {path}: {size} bytes ({} {} MHz)\n\
         vmfw: bench   large requests: {big_reqs} requests, {} us, {} MiB/s, {} KiB/request\n\
         vmfw: bench   512 B requests: {small_reqs} requests, {} us, {} MiB/s",
        crate::arch::COUNTER_NAME,
        hz / 1_000_000,
        big_us,
        mib_s(size, big_us),
        size as u64 / big_reqs.max(1) / 1024,
        small_us,
        mib_s(size, small_us),
    );
}
