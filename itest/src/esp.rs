//! Looking at a disk image's ESP after a VM run wrote to it: listing a
//! directory and reading a file back with the `fatfs` crate (an
//! implementation independent of vmfw's), checking the whole file system
//! with `fsck.fat -n`, and making the scratch copy of a cached image that a
//! writing test attaches ([`crate::Vm::writable_disk`]).
//!
//! Nothing here needs root: the partition is found in the image's GPT (or
//! MBR) and read through a window on the file, which refuses writes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory writing tests keep their scratch disk images in.
pub fn scratch_dir() -> PathBuf {
    let dir = crate::root().join("target").join("itest-tmp");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// Copies the (cached, never written) image `cached` to
/// `target/itest-tmp/<name>.img`, replacing what a previous run left there,
/// and returns the copy's path: the disk a writing test attaches writable.
pub fn scratch_copy(cached: &Path, name: &str) -> PathBuf {
    let copy = scratch_dir().join(format!("{name}.img"));
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(cached, &copy)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", cached.display(), copy.display()));
    copy
}

/// The EFI System Partition's GPT type GUID in its on-disk (mixed-endian)
/// byte order: C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
const ESP_TYPE: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
];

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn read_at(f: &mut File, at: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Where the first EFI System Partition of `img` is: `(offset, length)` in
/// bytes. GPT with 512- or 4096-byte blocks, or an MBR partition of type
/// 0xEF.
pub fn find_esp(img: &Path) -> Result<(u64, u64), String> {
    let err = |e: io::Error| format!("{}: {e}", img.display());
    let mut f = File::open(img).map_err(err)?;
    for bs in [512u64, 4096] {
        let header = read_at(&mut f, bs, 92).map_err(err)?;
        if &header[..8] != b"EFI PART" {
            continue;
        }
        let entries = u64_at(&header, 72);
        let count = u32_at(&header, 80);
        let size = u64::from(u32_at(&header, 84));
        for i in 0..u64::from(count) {
            let e = read_at(&mut f, entries * bs + i * size, 48).map_err(err)?;
            if e[..16] == ESP_TYPE {
                let (first, last) = (u64_at(&e, 32), u64_at(&e, 40));
                return Ok((first * bs, (last + 1 - first) * bs));
            }
        }
        return Err(format!("{}: no EFI System Partition in the GPT", img.display()));
    }
    let mbr = read_at(&mut f, 0, 512).map_err(err)?;
    if mbr[510..512] == [0x55, 0xaa] {
        for i in 0..4 {
            let rec = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
            if rec[4] == 0xef {
                let (first, len) = (u32_at(rec, 8), u32_at(rec, 12));
                return Ok((u64::from(first) * 512, u64::from(len) * 512));
            }
        }
    }
    Err(format!("{}: neither a GPT nor an MBR with an ESP", img.display()))
}

/// A read-only window on a partition of an image file: what `fatfs` reads
/// the ESP through. Writes fail, so looking at a disk cannot change it.
struct Window {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.file.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| io::Error::other("seek before the partition's start"))?;
        Ok(self.pos)
    }
}

impl Write for Window {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "the ESP is opened read-only"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The FAT file system on a disk image's ESP, opened read-only.
pub struct Esp {
    image: PathBuf,
    fs: fatfs::FileSystem<Window>,
}

impl Esp {
    /// Opens the ESP of `img` ([`find_esp`]).
    pub fn open(img: &Path) -> Result<Esp, String> {
        let (start, len) = find_esp(img)?;
        let file = File::open(img).map_err(|e| format!("{}: {e}", img.display()))?;
        let window = Window { file, start, len, pos: 0 };
        let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new())
            .map_err(|e| format!("{}: the ESP does not mount: {e}", img.display()))?;
        Ok(Esp { image: img.to_path_buf(), fs })
    }

    /// The names (long names where there are any) in directory `dir`
    /// (`/loader/entries`), without `.` and `..`, sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let path = dir.trim_matches('/');
        let root = self.fs.root_dir();
        let d = if path.is_empty() {
            root
        } else {
            root.open_dir(path).map_err(|e| self.err(dir, e))?
        };
        let mut names = Vec::new();
        for entry in d.iter() {
            let name = entry.map_err(|e| self.err(dir, e))?.file_name();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The contents of file `path` (`/EFI/debian/grubenv`).
    pub fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut f = self
            .fs
            .root_dir()
            .open_file(path.trim_start_matches('/'))
            .map_err(|e| self.err(path, e))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(|e| self.err(path, e))?;
        Ok(out)
    }

    fn err(&self, path: &str, e: io::Error) -> String {
        format!("{}: ESP {path}: {e}", self.image.display())
    }
}

/// Runs `fsck.fat -n` (check only, change nothing) on the ESP of `img`
/// (copied out to a scratch file: fsck.fat takes no offset). `Ok` with its
/// report when it found nothing wrong, `Err` with the report when it did.
pub fn fsck(img: &Path) -> Result<String, String> {
    let (start, len) = find_esp(img)?;
    let name = img.file_name().map_or("disk".into(), |n| n.to_string_lossy().into_owned());
    let part = scratch_dir().join(format!("{name}.esp"));
    copy_range(img, start, len, &part).map_err(|e| format!("copying the ESP out: {e}"))?;
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(&part)
        .output()
        .map_err(|e| format!("cannot run fsck.fat: {e} (run .ci/deps)"));
    let _ = std::fs::remove_file(&part);
    let out = out?;
    let report =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(report)
    } else {
        Err(format!("fsck.fat -n on the ESP of {} ({}):\n{report}", img.display(), out.status))
    }
}

/// Copies `len` bytes at `start` of `src` to a new file `dst`, leaving
/// all-zero 64 KiB chunks as holes.
fn copy_range(src: &Path, start: u64, len: u64, dst: &Path) -> io::Result<()> {
    let mut s = File::open(src)?;
    s.seek(SeekFrom::Start(start))?;
    let mut d = File::create(dst)?;
    d.set_len(len)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        s.read_exact(&mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            d.seek(SeekFrom::Start(at))?;
            d.write_all(&buf[..n])?;
        }
        at += n as u64;
    }
    Ok(())
}

/// The offset of the first byte in which files `a` and `b` differ (the
/// shorter one's length when one is a prefix of the other), or `None`
/// when they are byte-identical.
pub fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>, String> {
    let open = |p: &Path| File::open(p).map_err(|e| format!("{}: {e}", p.display()));
    let (mut fa, mut fb) = (io::BufReader::new(open(a)?), io::BufReader::new(open(b)?));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| format!("{}: {e}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| format!("{}: {e}", b.display()))?;
        if let Some(i) = ba[..na.min(nb)].iter().zip(&bb[..na.min(nb)]).position(|(x, y)| x != y) {
            return Ok(Some(at + i as u64));
        }
        if na != nb {
            return Ok(Some(at + na.min(nb) as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        at += na as u64;
    }
}

/// Reads until `buf` is full or the end of the file; returns the count.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
