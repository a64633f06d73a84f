//! Test disk images, built on the host without root: a GPT written with
//! `vmfw_block::testing`, FAT file systems made by `mkfs.fat` and filled by
//! mtools (both from Debian's packages; `.ci/deps` installs them).
//!
//! Images are cached in `~/.cache/vmfw/images` (or `$VMFW_CACHE/images`)
//! under a key computed from everything that goes into them, so a second
//! test run reuses them and a changed recipe rebuilds them.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use vmfw_block::testing::{GptImage, GptPart};
use vmfw_block::Guid;

/// Bump when the way images are built changes, to invalidate caches.
const RECIPE: &str = "images-v1";
const MIB: u64 = 1 << 20;

/// Where downloaded packages and built images are kept between runs.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("VMFW_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
        home.join(".cache").join("vmfw")
    });
    let _ = fs::create_dir_all(&base);
    base
}

/// What a file on the ESP contains.
#[derive(Debug, Clone)]
pub enum Contents {
    /// These bytes.
    Bytes(Vec<u8>),
    /// A copy of a host file.
    Host(PathBuf),
    /// `len` deterministic pseudo-random bytes from `seed`.
    Pseudo {
        /// Length in bytes.
        len: u64,
        /// Generator seed.
        seed: u64,
    },
}

impl Contents {
    /// Their length in bytes (0 for a host file that cannot be read; the
    /// build then fails on it).
    pub fn byte_len(&self) -> u64 {
        match self {
            Contents::Bytes(b) => b.len() as u64,
            Contents::Host(p) => fs::metadata(p).map_or(0, |m| m.len()),
            Contents::Pseudo { len, .. } => *len,
        }
    }

    /// The bytes themselves.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Contents::Bytes(b) => b.clone(),
            Contents::Host(p) => {
                fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            }
            Contents::Pseudo { len, seed } => pseudo_bytes(*len, *seed),
        }
    }
}

/// Deterministic bytes (xorshift64*), the same on every machine.
pub fn pseudo_bytes(len: u64, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        let v = s.wrapping_mul(0x2545_f491_4f6c_dd1d);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// FAT variant of the ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fat {
    /// FAT12.
    Fat12,
    /// FAT16.
    Fat16,
    /// FAT32.
    Fat32,
}

/// How the disk is partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// GPT with the ESP as partition `esp_number` (1-based); the partitions
    /// before it are small Linux data partitions.
    Gpt {
        /// Partition number of the ESP.
        esp_number: u32,
    },
    /// A legacy MBR with the ESP as primary partition 1, type 0xEF.
    Mbr,
}

/// A recipe for one disk image.
#[derive(Debug, Clone)]
pub struct Disk {
    /// Short name, part of the file name.
    pub name: String,
    /// Logical block size (512 or 4096).
    pub block_size: u32,
    /// Partitioning.
    pub scheme: Scheme,
    /// FAT type of the ESP.
    pub fat: Fat,
    /// Size of the ESP in MiB.
    pub esp_mib: u64,
    /// Files to put on the ESP: (path like `/EFI/BOOT/BOOTX64.EFI`, contents).
    pub files: Vec<(String, Contents)>,
    /// Partitions after the ESP (GPT only), in order, each 1 MiB-aligned.
    pub after_esp: Vec<RawPart>,
}

/// A partition whose contents are a ready-made file-system image (for
/// example one made by `mkfs.ext4 -d`), written as is.
#[derive(Debug, Clone)]
pub struct RawPart {
    /// GPT partition type.
    pub type_guid: Guid,
    /// GPT partition name.
    pub name: String,
    /// The partition's contents; the partition is this long, rounded up to
    /// 1 MiB.
    pub image: Contents,
}

impl Disk {
    /// A GPT disk with 512-byte blocks and a FAT32 ESP as partition 1.
    pub fn new(name: &str) -> Self {
        Disk {
            name: name.into(),
            block_size: 512,
            scheme: Scheme::Gpt { esp_number: 1 },
            fat: Fat::Fat32,
            esp_mib: 64,
            files: Vec::new(),
            after_esp: Vec::new(),
        }
    }

    /// Adds a file.
    pub fn file(mut self, path: &str, contents: Contents) -> Self {
        self.files.push((path.into(), contents));
        self
    }

    /// Adds a partition after the ESP (and after those added before),
    /// holding `image` as is.
    pub fn partition(mut self, type_guid: Guid, name: &str, image: Contents) -> Self {
        self.after_esp.push(RawPart { type_guid, name: name.into(), image });
        self
    }

    fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(RECIPE);
        h.update(format!(
            "{:?} {:?} {:?} {:?} {}",
            self.block_size, self.scheme, self.fat, self.esp_mib, self.name
        ));
        for (path, c) in &self.files {
            h.update(path.as_bytes());
            match c {
                Contents::Pseudo { len, seed } => h.update(format!("pseudo {len} {seed}")),
                other => h.update(Sha256::digest(other.bytes())),
            }
        }
        // Hashed only when present, so that the keys of disks without such
        // partitions stay what they were.
        for p in &self.after_esp {
            h.update(format!("part {} {}", p.type_guid, p.name));
            h.update(Sha256::digest(p.image.bytes()));
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Builds the image (or reuses the cached one) and returns its path.
    pub fn build(&self) -> PathBuf {
        let dir = cache_dir().join("images");
        fs::create_dir_all(&dir).expect("create image cache");
        let path = dir.join(format!("{}-{}.img", self.name, self.key()));
        if path.exists() {
            return path;
        }
        let bytes: u64 = self.files.iter().map(|(_, c)| c.byte_len()).sum::<u64>()
            + self.after_esp.iter().map(|p| p.image.byte_len()).sum::<u64>();
        crate::progress!(
            "image: building {} ({} MiB ESP, {} file(s), {})",
            self.name,
            self.esp_mib,
            self.files.len(),
            crate::size(bytes)
        );
        let start = std::time::Instant::now();
        let tmp = dir.join(format!(".{}-{}.tmp", self.name, std::process::id()));
        self.write(&tmp, &dir);
        fs::rename(&tmp, &path).expect("rename built image");
        crate::progress!(
            "image: built {} in {:.1} s",
            path.display(),
            start.elapsed().as_secs_f64()
        );
        path
    }

    fn write(&self, out: &Path, scratch: &Path) {
        let bs = u64::from(self.block_size);
        let esp_bytes = self.esp_mib * MIB;
        let esp = scratch.join(format!(".esp-{}-{}.fat", self.name, std::process::id()));
        self.make_fat(&esp, esp_bytes);

        // 1 MiB alignment for every partition, 1 MiB of slack at the end
        // for the backup GPT.
        let align = MIB / bs;
        let mut after = Vec::new();
        let (esp_first, total_blocks, head, tail) = match self.scheme {
            Scheme::Gpt { esp_number } => {
                let esp_first = align * u64::from(esp_number);
                let mut next = esp_first + esp_bytes / bs;
                for p in &self.after_esp {
                    let bytes = p.image.bytes();
                    let blocks = ((bytes.len() as u64).next_multiple_of(MIB) / bs).max(align);
                    after.push((next, blocks, bytes));
                    next += blocks;
                }
                let total = next + align;
                let entries = 128.max(esp_number.next_multiple_of(4));
                let mut gpt = GptImage::new(self.block_size as usize, total).entries(entries, 128);
                for n in 1..esp_number {
                    let first = align * u64::from(n);
                    gpt = gpt.part(
                        n,
                        GptPart::new(Guid::LINUX_FILESYSTEM, first, first + align - 1)
                            .named("data"),
                    );
                }
                let last = esp_first + esp_bytes / bs - 1;
                gpt = gpt.part(
                    esp_number,
                    GptPart::new(Guid::EFI_SYSTEM_PARTITION, esp_first, last).named("ESP"),
                );
                for (i, (p, (first, blocks, _))) in self.after_esp.iter().zip(&after).enumerate() {
                    gpt = gpt.part(
                        esp_number + 1 + i as u32,
                        GptPart::new(p.type_guid, *first, first + blocks - 1).named(&p.name),
                    );
                }
                let (head, tail) = gpt.head_and_tail();
                (esp_first, total, head, Some(tail))
            }
            Scheme::Mbr => {
                assert!(self.after_esp.is_empty(), "partitions after the ESP need GPT");
                let esp_first = align;
                let total = esp_first + esp_bytes / bs;
                let mut mbr = vec![0u8; self.block_size as usize];
                let rec = vmfw_block::testing::MbrRecord::new(
                    0xef,
                    esp_first as u32,
                    (esp_bytes / bs) as u32,
                );
                vmfw_block::testing::write_mbr(&mut mbr, 0x766d_6677, &[rec]);
                (esp_first, total, mbr, None)
            }
        };
        let mut f = File::create(out).expect("create image");
        f.set_len(total_blocks * bs).expect("size image");
        f.write_all(&head).expect("write partition table");
        if let Some(tail) = tail {
            f.seek(SeekFrom::Start(total_blocks * bs - tail.len() as u64)).expect("seek");
            f.write_all(&tail).expect("write backup GPT");
        }
        f.seek(SeekFrom::Start(esp_first * bs)).expect("seek");
        let mut src = File::open(&esp).expect("open FAT image");
        std::io::copy(&mut src, &mut f).expect("copy FAT image");
        let _ = fs::remove_file(&esp);
        for (first, _, bytes) in after {
            f.seek(SeekFrom::Start(first * bs)).expect("seek");
            f.write_all(&bytes).expect("write partition");
        }
    }

    fn make_fat(&self, esp: &Path, bytes: u64) {
        let _ = fs::remove_file(esp);
        let fat = match self.fat {
            Fat::Fat12 => "12",
            Fat::Fat16 => "16",
            Fat::Fat32 => "32",
        };
        let sector = self.block_size.to_string();
        run(Command::new("mkfs.fat")
            .args(["-C", "-F", fat, "-S", &sector, "-n", "VMFW-ESP", "-i", "766d6677"])
            .arg(esp)
            .arg((bytes / 1024).to_string()));
        let img = esp.to_string_lossy().to_string();
        let mut made = std::collections::BTreeSet::new();
        for (path, contents) in &self.files {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            for i in 1..parts.len() {
                let dir = format!("::/{}", parts[..i].join("/"));
                if made.insert(dir.clone()) {
                    run(mtools("mmd").args(["-D", "s", "-i", &img, &dir]));
                }
            }
            let host = esp.with_extension("file");
            fs::write(&host, contents.bytes()).expect("write file for mcopy");
            run(mtools("mcopy")
                .args(["-o", "-i", &img])
                .arg(&host)
                .arg(format!("::/{}", parts.join("/"))));
            let _ = fs::remove_file(&host);
        }
    }
}

fn mtools(tool: &str) -> Command {
    let mut c = Command::new(tool);
    // 4 KiB-sector file systems are valid FAT; mtools' sanity check is not
    // needed for images we just made.
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e} (run .ci/deps)", cmd.get_program()));
    if !out.status.success() {
        panic!("{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}

impl Disk {
    /// Writes only the ESP's FAT file system (no partition table) to
    /// `path`: a partition image for [`assemble_gpt`].
    pub fn write_esp_image(&self, path: &Path) {
        self.make_fat(path, self.esp_mib * MIB);
    }
}

/// One partition of a disk put together by [`assemble_gpt`]: a file system
/// image made elsewhere (e.g. by `mkfs.ext4 -d`).
#[derive(Debug, Clone)]
pub struct PartImage {
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Partition name in the GPT.
    pub name: String,
    /// The file holding the partition's contents; its length, rounded up
    /// to a MiB, is the partition's size.
    pub image: PathBuf,
}

/// Writes a GPT disk with 512-byte blocks to `out`: `parts` as partitions
/// 1, 2, … in order, each starting on a MiB boundary, with 1 MiB before the
/// first for the primary table and 1 MiB after the last for the backup.
/// The disk is a sparse file: blocks of zeros in the images are not written.
pub fn assemble_gpt(out: &Path, parts: &[PartImage]) {
    const BS: u64 = 512;
    let align = MIB / BS;
    let mut first = align;
    let mut layout = Vec::new();
    for p in parts {
        let len = fs::metadata(&p.image)
            .unwrap_or_else(|e| panic!("{}: {e}", p.image.display()))
            .len()
            .next_multiple_of(MIB);
        layout.push((first, len / BS));
        first += len / BS;
    }
    let total = first + align;
    let mut gpt = GptImage::new(BS as usize, total);
    for (n, (p, &(start, blocks))) in (1u32..).zip(parts.iter().zip(&layout)) {
        gpt = gpt.part(n, GptPart::new(p.type_guid, start, start + blocks - 1).named(&p.name));
    }
    let (head, tail) = gpt.head_and_tail();
    let mut f = File::create(out).expect("create image");
    f.set_len(total * BS).expect("size image");
    f.write_all(&head).expect("write partition table");
    f.seek(SeekFrom::Start(total * BS - tail.len() as u64)).expect("seek");
    f.write_all(&tail).expect("write backup GPT");
    for (p, &(start, _)) in parts.iter().zip(&layout) {
        copy_sparse(&p.image, &mut f, start * BS);
    }
    f.sync_all().expect("sync image");
}

/// Copies `src` into `dst` at `offset`, skipping (leaving as holes) every
/// 64 KiB chunk that is all zeros; `dst` must read as zeros there already.
fn copy_sparse(src: &Path, dst: &mut File, offset: u64) {
    use std::io::Read;
    let mut s = File::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut buf = vec![0u8; 64 << 10];
    let mut at = offset;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match s.read(&mut buf[n..]).expect("read partition image") {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            dst.seek(SeekFrom::Start(at)).expect("seek");
            dst.write_all(&buf[..n]).expect("write partition image");
        }
        at += n as u64;
    }
}
