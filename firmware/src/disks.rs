//! The boot manager's disks: each virtio disk opened once, with its
//! partition table read once and each FAT volume mounted once.
//!
//! One owner: the boot manager holds the `Vec<BootDisk>`; the native
//! loader, the diagnostics and the UEFI environment (which borrows the
//! disks while it runs a boot option) all read files through the same
//! mounted volumes, so a write through a volume (the variable file) is
//! seen by every later read through it. Volumes on one disk share the
//! device through [`SharedDisk`]; the FAT reader's caches are per volume
//! and partitions do not overlap, UEFI Block I/O reads go to the device
//! uncached, and a UEFI Block I/O or Disk I/O write makes every volume on
//! its disk forget its cached blocks (`uefi::disk`), so nobody reads
//! stale bytes.
//!
//! ESPs are mounted when the disk is opened (every boot path reads them);
//! other FAT partitions only when the UEFI environment asks
//! ([`BootDisk::mount_all`]), since only its Simple File System protocol
//! offers them.

use crate::storage::Disk;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use vmfw_block::{read_partition_table, BlockIo, Error, Partition, PartitionTable, Scheme};
use vmfw_fat::FileSystem;

/// Whether this build writes disks at all (feature `esp-write`, in the
/// default build): BLS boot counting, and UEFI Block I/O, Disk I/O and
/// file writes. Without it every disk is read-only to everyone but the
/// variable file, which is rewritten in place (no FAT metadata changes).
pub const WRITES: bool = cfg!(feature = "esp-write");

/// A disk shared by the volumes on it. Single CPU, no interrupts: a
/// borrow that is already taken can only be a firmware bug, reported as
/// an I/O error rather than a hang.
#[derive(Clone)]
pub struct SharedDisk(Rc<RefCell<Disk>>);

impl SharedDisk {
    /// Runs `f` on the device.
    pub fn with<R>(&self, f: impl FnOnce(&mut Disk) -> R) -> Option<R> {
        self.0.try_borrow_mut().ok().map(|mut d| f(&mut d))
    }
}

impl BlockIo for SharedDisk {
    fn block_size(&self) -> u32 {
        self.0.try_borrow().map_or(512, |d| d.block_size())
    }
    fn num_blocks(&self) -> u64 {
        self.0.try_borrow().map_or(0, |d| d.num_blocks())
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.with(|d| d.read_blocks(lba, buf)).unwrap_or(Err(Error::NotResponding))
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        self.with(|d| d.write_blocks(lba, buf)).unwrap_or(Err(Error::NotResponding))
    }
    fn read_only(&self) -> bool {
        self.0.try_borrow().map_or(true, |d| d.read_only())
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.with(|d| d.flush()).unwrap_or(Err(Error::NotResponding))
    }
}

/// A FAT volume on a partition.
pub type Fs = FileSystem<Partition<SharedDisk>>;

/// One mounted FAT volume.
pub struct Volume {
    /// Its partition's number in the table.
    pub partition: u32,
    /// Whether the partition is an EFI System Partition.
    pub esp: bool,
    pub fs: Fs,
}

/// One disk, opened once.
pub struct BootDisk {
    /// Its place in discovery order (`disk0`, `disk1`, … in the log).
    pub index: usize,
    pub disk: SharedDisk,
    pub table: Option<PartitionTable>,
    /// Mounted volumes: the ESPs in partition table order, then (once
    /// the UEFI environment asked) the other FAT partitions.
    pub volumes: Vec<Volume>,
    mounted_all: bool,
}

impl BootDisk {
    /// Reads the partition table (one log line) and mounts every ESP (a
    /// line for each that is not FAT).
    pub fn open(index: usize, mut disk: Disk) -> BootDisk {
        let table = match read_partition_table(&mut disk) {
            Ok(t) => {
                crate::info!("disk{index}: {}", describe(&t, disk.block_size()));
                Some(t)
            }
            // A blank disk: the error says all there is to say.
            Err(e @ vmfw_block::Error::NoPartitionTable) => {
                crate::info!("disk{index}: {e}");
                None
            }
            Err(e) => {
                crate::info!("disk{index}: no partition table ({e})");
                None
            }
        };
        let mut d = BootDisk {
            index,
            disk: SharedDisk(Rc::new(RefCell::new(disk))),
            table,
            volumes: Vec::new(),
            mounted_all: false,
        };
        d.mount(true);
        d
    }

    /// Mounts the ESPs, or the other FAT partitions (each pass once).
    fn mount(&mut self, esps: bool) {
        let Some(t) = &self.table else { return };
        for p in t.partitions.iter().filter(|p| p.is_esp() == esps) {
            let Ok(part) = p.open(self.disk.clone()) else { continue };
            match FileSystem::mount(part) {
                Ok(fs) => self.volumes.push(Volume { partition: p.number, esp: p.is_esp(), fs }),
                Err(e) if p.is_esp() => {
                    crate::warn!("disk{}: ESP #{}: not FAT: {e}", self.index, p.number)
                }
                Err(_) => {}
            }
        }
    }

    /// Mounts every FAT partition (for the UEFI Simple File System).
    pub fn mount_all(&mut self) {
        if !self.mounted_all {
            self.mounted_all = true;
            self.mount(false);
        }
    }

    /// The ESPs' partition numbers, in table order (mounted or not: an
    /// ESP that is not FAT is still a place a boot option names).
    pub fn esps(&self) -> Vec<u32> {
        self.table
            .as_ref()
            .map(|t| t.partitions.iter().filter(|p| p.is_esp()).map(|p| p.number).collect())
            .unwrap_or_default()
    }

    /// The volume on partition `number`, if it is mounted.
    pub fn volume(&mut self, number: u32) -> Option<&mut Fs> {
        self.volumes.iter_mut().find(|v| v.partition == number).map(|v| &mut v.fs)
    }

    /// Resets the device so the OS finds it untouched.
    pub fn quiesce(&self) {
        self.disk.with(Disk::quiesce);
    }
}

fn describe(t: &PartitionTable, block_size: u32) -> String {
    let scheme = match t.scheme {
        Scheme::GptPrimary => "GPT",
        Scheme::GptBackup => "GPT (backup header; primary damaged)",
        Scheme::Mbr => "MBR",
    };
    let mut s = format!("{scheme}, {} partition(s)", t.partitions.len());
    const SHOWN: usize = 8;
    for p in t
        .partitions
        .iter()
        .filter(|p| p.is_esp())
        .chain(t.partitions.iter().filter(|p| !p.is_esp()))
        .take(SHOWN)
    {
        let mib = p.num_blocks().saturating_mul(u64::from(block_size)) >> 20;
        let kind = if p.is_esp() { " ESP" } else { "" };
        s.push_str(&format!("; #{}{kind} {mib} MiB at LBA {}", p.number, p.first_lba));
    }
    if t.partitions.len() > SHOWN {
        s.push_str("; ...");
    }
    // Say which entries were left out and why: a partition the owner
    // expects to boot from must not vanish without a word.
    for e in t.skipped.iter().take(SHOWN) {
        s.push_str(&format!("; entry #{} skipped: {}", e.number, e.reason));
    }
    if t.skipped.len() > SHOWN {
        s.push_str(&format!("; {} more entries skipped", t.skipped.len() - SHOWN));
    }
    s
}
