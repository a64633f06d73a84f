//! Block I/O and Disk I/O protocols (UEFI §13.9, §13.7) for each disk
//! and each partition, with their device paths.
//!
//! Every disk gets a handle with `PciRoot(0)/Pci(d,f)` or, for
//! virtio-mmio, `VenHw(vmfw-mmio, base)`; every partition a child handle
//! with the disk's path plus `HD(...)`. Reads go straight from the virtio
//! device into the caller's buffer. vmfw's virtio driver does not write,
//! so media report `ReadOnly` and writes answer `EFI_WRITE_PROTECTED`.

use super::boot::{err, Efi, CORE};
use super::global::Global;
use super::{abi::guid, devpath, fs};
use crate::storage::{Disk, Location};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::mem::offset_of;
use vmfw_block::{BlockIo, PartitionTable};
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Status};

/// The disks, shared by every protocol that reads them.
pub static DISKS: Global<Vec<Disk>> = Global::new();

/// A `BlockIo` view of disk `n` of [`DISKS`] (for the FAT reader).
pub struct DiskRef(pub usize);

impl BlockIo for DiskRef {
    fn block_size(&self) -> u32 {
        DISKS.with(|d| d.get(self.0).map_or(512, |d| d.block_size()))
    }
    fn num_blocks(&self) -> u64 {
        DISKS.with(|d| d.get(self.0).map_or(0, |d| d.num_blocks()))
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), vmfw_block::Error> {
        DISKS.with(|d| match d.get_mut(self.0) {
            Some(d) => d.read_blocks(lba, buf),
            None => Err(vmfw_block::Error::OutOfRange),
        })
    }
}

/// `EFI_BLOCK_IO_MEDIA`.
#[repr(C)]
struct Media {
    media_id: u32,
    removable_media: bool,
    media_present: bool,
    logical_partition: bool,
    read_only: bool,
    write_caching: bool,
    block_size: u32,
    io_align: u32,
    last_block: u64,
    lowest_aligned_lba: u64,
    logical_blocks_per_physical_block: u32,
    optimal_transfer_length_granularity: u32,
}

/// `EFI_BLOCK_IO_PROTOCOL`.
#[repr(C)]
struct BlockIoProtocol {
    revision: u64,
    media: *const Media,
    reset: usize,
    read_blocks: usize,
    write_blocks: usize,
    flush_blocks: usize,
}

/// `EFI_DISK_IO_PROTOCOL`.
#[repr(C)]
struct DiskIoProtocol {
    revision: u64,
    read_disk: usize,
    write_disk: usize,
}

/// One disk or partition: both protocols and what they read.
#[repr(C)]
struct Device {
    block_io: BlockIoProtocol,
    disk_io: DiskIoProtocol,
    media: Media,
    disk: usize,
    first_lba: u64,
    blocks: u64,
    block_size: u32,
    path: Vec<u8>,
}

const MEDIA_ID: u32 = 1;

impl Device {
    fn new(disk: usize, d: &Disk, first_lba: u64, blocks: u64, path: Vec<u8>) -> Box<Device> {
        let mut dev = Box::new(Device {
            block_io: BlockIoProtocol {
                revision: 0x0002_0001,
                media: core::ptr::null(),
                reset: reset as *const () as usize,
                read_blocks: read_blocks as *const () as usize,
                write_blocks: write_blocks as *const () as usize,
                flush_blocks: flush_blocks as *const () as usize,
            },
            disk_io: DiskIoProtocol {
                revision: 0x0001_0000,
                read_disk: read_disk as *const () as usize,
                write_disk: write_disk as *const () as usize,
            },
            media: Media {
                media_id: MEDIA_ID,
                removable_media: false,
                media_present: true,
                logical_partition: first_lba != 0 || blocks != d.num_blocks(),
                read_only: true,
                write_caching: false,
                block_size: d.block_size(),
                io_align: 0,
                last_block: blocks.saturating_sub(1),
                lowest_aligned_lba: 0,
                logical_blocks_per_physical_block: 1,
                optimal_transfer_length_granularity: 0,
            },
            disk,
            first_lba,
            blocks,
            block_size: d.block_size(),
            path,
        });
        dev.block_io.media = &dev.media;
        dev
    }
}

/// Creates the handles of every disk and partition; returns, per disk,
/// the handles of its partitions by partition number.
pub fn install(disks: Vec<Disk>, tables: &[Option<PartitionTable>]) -> Vec<Vec<(u32, Handle)>> {
    let mut devices = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        let path = match d.location {
            Location::Pci(bdf) => devpath::pci_disk(bdf.device, bdf.function),
            Location::Mmio(base) => devpath::mmio_disk(base),
        };
        let Ok(path) = path else {
            log::warn!("disk{i}: cannot build its device path");
            continue;
        };
        let mut parts = Vec::new();
        if let Some(t) = tables.get(i).and_then(|t| t.as_ref()) {
            for p in &t.partitions {
                match devpath::partition(&path, p, t.mbr_signature.unwrap_or(0)) {
                    Ok(pp) => {
                        parts.push((p.number, Device::new(i, d, p.first_lba, p.num_blocks(), pp)))
                    }
                    Err(e) => log::warn!("disk{i}: partition {}: device path: {e}", p.number),
                }
            }
        }
        devices.push((Device::new(i, d, 0, d.num_blocks(), path), parts));
    }
    DISKS.set(disks);
    let mut out = Vec::new();
    for (disk, parts) in devices {
        let _ = install_device(disk);
        let mut handles = Vec::new();
        for (n, p) in parts {
            if let Ok(h) = install_device(p) {
                handles.push((n, h));
            }
        }
        out.push(handles);
    }
    out
}

fn install_device(dev: Box<Device>) -> Result<Handle, Error> {
    let dev = Box::leak(dev);
    let pairs = [
        (guid::BLOCK_IO, &dev.block_io as *const _ as u64),
        (guid::DISK_IO, &dev.disk_io as *const _ as u64),
        (guid::DEVICE_PATH, dev.path.as_ptr() as u64),
    ];
    let h = CORE.with(|c| c.db.install_multiple_protocol_interfaces(None, &pairs, |_, _| false))?;
    if dev.media.logical_partition {
        fs::install(h, dev.disk, dev.first_lba, dev.blocks);
    }
    Ok(h)
}

/// The device behind a Block I/O interface.
///
/// # Safety
/// `this` must be a Block I/O interface installed by [`install`].
unsafe fn from_block_io<'a>(this: *const BlockIoProtocol) -> Option<&'a Device> {
    // SAFETY: `block_io` is the first field of a leaked `Device`.
    (!this.is_null()).then(|| unsafe { &*(this as *const Device) })
}

/// # Safety
/// `this` must be a Disk I/O interface installed by [`install`].
unsafe fn from_disk_io<'a>(this: *const DiskIoProtocol) -> Option<&'a Device> {
    // SAFETY: `disk_io` lives at a fixed offset inside a leaked `Device`.
    (!this.is_null()).then(|| unsafe {
        &*((this as *const u8).sub(offset_of!(Device, disk_io)) as *const Device)
    })
}

extern "efiapi" fn reset(_this: *const BlockIoProtocol, _extended: bool) -> Efi {
    0
}

fn read_into(dev: &Device, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
    let bs = u64::from(dev.block_size);
    if !(buf.len() as u64).is_multiple_of(bs) {
        return Err(Error::BadBufferSize);
    }
    let count = buf.len() as u64 / bs;
    let end = lba.checked_add(count).ok_or(Error::InvalidParameter)?;
    if end > dev.blocks {
        return Err(Error::InvalidParameter);
    }
    DISKS
        .with(|d| {
            d.get_mut(dev.disk)
                .ok_or(vmfw_block::Error::OutOfRange)?
                .read_blocks(dev.first_lba + lba, buf)
        })
        .map_err(|e| {
            log::warn!("BlockIo read at LBA {lba}: {e}");
            Error::DeviceError
        })
}

extern "efiapi" fn read_blocks(
    this: *const BlockIoProtocol,
    media_id: u32,
    lba: u64,
    size: usize,
    buf: *mut u8,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_block_io(this) }) else { return err(Error::InvalidParameter) };
    if let Some(answer) = precheck(media_id, size, buf) {
        return answer;
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf, size) };
    Status::from(read_into(dev, lba, slice)).0
}

/// The checks a Block I/O or Disk I/O read starts with; `Some(status)`
/// answers at once: the media changed, there is nothing to read, or there
/// is no buffer.
fn precheck(media_id: u32, size: usize, buf: *mut u8) -> Option<Efi> {
    if media_id != MEDIA_ID {
        return Some(MEDIA_CHANGED);
    }
    if size == 0 {
        return Some(0);
    }
    buf.is_null().then(|| err(Error::InvalidParameter))
}

/// `EFI_MEDIA_CHANGED`.
const MEDIA_CHANGED: Efi = vmfw_efi::status::ERROR_BIT | 13;

extern "efiapi" fn write_blocks(
    this: *const BlockIoProtocol,
    media_id: u32,
    _lba: u64,
    _size: usize,
    _buf: *const u8,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    if unsafe { from_block_io(this) }.is_none() {
        return err(Error::InvalidParameter);
    }
    if media_id != MEDIA_ID {
        return MEDIA_CHANGED;
    }
    err(Error::WriteProtected)
}

extern "efiapi" fn flush_blocks(_this: *const BlockIoProtocol) -> Efi {
    0
}

extern "efiapi" fn read_disk(
    this: *const DiskIoProtocol,
    media_id: u32,
    offset: u64,
    size: usize,
    buf: *mut u8,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_disk_io(this) }) else { return err(Error::InvalidParameter) };
    if let Some(answer) = precheck(media_id, size, buf) {
        return answer;
    }
    let total = dev.blocks.saturating_mul(u64::from(dev.block_size));
    match offset.checked_add(size as u64) {
        Some(end) if end <= total => {}
        _ => return err(Error::InvalidParameter),
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf, size) };
    let mut view = super::disk::PartView { dev };
    Status::from(vmfw_block::read_bytes(&mut view, offset, slice).map_err(|e| {
        log::warn!("DiskIo read at {offset:#x}: {e}");
        Error::DeviceError
    }))
    .0
}

extern "efiapi" fn write_disk(
    this: *const DiskIoProtocol,
    media_id: u32,
    _offset: u64,
    _size: usize,
    _buf: *const u8,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    if unsafe { from_disk_io(this) }.is_none() {
        return err(Error::InvalidParameter);
    }
    if media_id != MEDIA_ID {
        return MEDIA_CHANGED;
    }
    err(Error::WriteProtected)
}

/// A device as a `BlockIo` (for byte-granular reads).
struct PartView<'a> {
    dev: &'a Device,
}

impl BlockIo for PartView<'_> {
    fn block_size(&self) -> u32 {
        self.dev.block_size
    }
    fn num_blocks(&self) -> u64 {
        self.dev.blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), vmfw_block::Error> {
        read_into(self.dev, lba, buf).map_err(|_| vmfw_block::Error::OutOfRange)
    }
}
