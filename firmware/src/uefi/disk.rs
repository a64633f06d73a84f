//! Block I/O and Disk I/O protocols (UEFI §13.9, §13.7) for each disk
//! and each partition, with their device paths.
//!
//! Every disk gets a handle with `PciRoot(0)/Pci(d,f)` or, for
//! virtio-mmio, `VenHw(vmfw-mmio, base)`; every partition a child handle
//! with the disk's path plus `HD(...)`, and a Simple File System when the
//! boot manager mounted a FAT volume there. Reads go straight from the
//! virtio device into the caller's buffer, writes straight from it.
//!
//! Media are writable when the device is (not virtio RO, not
//! `vmfw.readonly`, and the build has `esp-write`); otherwise they are
//! reported read-only and writes answer `EFI_WRITE_PROTECTED`. Every write
//! makes the mounted volumes of its disk forget their cached blocks, so
//! the Simple File System and the boot manager never read stale FAT or
//! directory blocks after a loader wrote underneath them (GRUB's
//! `save_env` does).

use super::abi::{guid, BlockIoMedia, BlockIoProtocol, DiskIoProtocol};
use super::ffi::{err, status, Efi, SUCCESS};
use super::state::{BOOT, DISKS};
use super::{devpath, fs};
use crate::disks::BootDisk;
use crate::storage::Location;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::mem::offset_of;
use uefi_raw::Boolean;
use vmfw_block::BlockIo;
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Result};

/// One disk or partition: both protocols and what they read.
#[repr(C)]
struct Device {
    block_io: BlockIoProtocol,
    disk_io: DiskIoProtocol,
    media: BlockIoMedia,
    disk: usize,
    first_lba: u64,
    blocks: u64,
    block_size: u32,
    path: Vec<u8>,
}

const MEDIA_ID: u32 = 1;

/// `EFI_MEDIA_CHANGED`.
const MEDIA_CHANGED: Efi = uefi_raw::Status::MEDIA_CHANGED;

impl Device {
    fn new(d: &BootDisk, first_lba: u64, blocks: u64, path: Vec<u8>) -> Box<Device> {
        let (bs, total) = (d.disk.block_size(), d.disk.num_blocks());
        let mut dev = Box::new(Device {
            block_io: BlockIoProtocol {
                revision: 0x0002_0001,
                media: core::ptr::null(),
                reset,
                read_blocks,
                write_blocks,
                flush_blocks,
            },
            disk_io: DiskIoProtocol { revision: 0x0001_0000, read_disk, write_disk },
            media: BlockIoMedia {
                media_id: MEDIA_ID,
                removable_media: Boolean(0),
                media_present: Boolean(1),
                logical_partition: Boolean(u8::from(first_lba != 0 || blocks != total)),
                read_only: Boolean(u8::from(!writable(d))),
                write_caching: Boolean(0),
                block_size: bs,
                io_align: 0,
                last_block: blocks.saturating_sub(1),
                lowest_aligned_lba: 0,
                logical_blocks_per_physical_block: 1,
                optimal_transfer_length_granularity: 0,
            },
            disk: d.index,
            first_lba,
            blocks,
            block_size: bs,
            path,
        });
        dev.block_io.media = &dev.media;
        dev
    }
}

/// Whether UEFI programs may write disk `d`.
fn writable(d: &BootDisk) -> bool {
    crate::disks::WRITES && !d.disk.read_only()
}

/// Creates the handles of every disk and partition (mounting every FAT
/// partition for the Simple File System); returns, per disk, the handles
/// of its partitions by partition number.
pub fn install(disks: &mut [BootDisk]) -> Vec<Vec<(u32, Handle)>> {
    let mut out = Vec::new();
    for d in disks.iter_mut() {
        d.mount_all();
        let i = d.index;
        let location = d.disk.with(|x| x.location);
        let path = match location {
            Some(Location::Pci(bdf)) => devpath::pci_disk(bdf.device, bdf.function),
            Some(Location::Mmio(base)) => devpath::mmio_disk(base),
            None => Err(Error::DeviceError),
        };
        let Ok(path) = path else {
            crate::warn!("disk{i}: cannot build its device path");
            out.push(Vec::new());
            continue;
        };
        let mut handles = Vec::new();
        let _ = install_device(Device::new(d, 0, d.disk.num_blocks(), path.clone()));
        if let Some(t) = &d.table {
            for p in &t.partitions {
                let pp = match devpath::partition(&path, p, t.mbr_signature.unwrap_or(0)) {
                    Ok(pp) => pp,
                    Err(e) => {
                        crate::warn!("disk{i}: partition {}: device path: {e}", p.number);
                        continue;
                    }
                };
                let Ok(h) = install_device(Device::new(d, p.first_lba, p.num_blocks(), pp)) else {
                    continue;
                };
                if d.volumes.iter().any(|v| v.partition == p.number) {
                    fs::install(h, i, p.number);
                }
                handles.push((p.number, h));
            }
        }
        out.push(handles);
    }
    out
}

fn install_device(dev: Box<Device>) -> Result<Handle> {
    let dev = Box::leak(dev);
    let pairs = [
        (guid::BLOCK_IO, &dev.block_io as *const _ as u64),
        (guid::DISK_IO, &dev.disk_io as *const _ as u64),
        (guid::DEVICE_PATH, dev.path.as_ptr() as u64),
    ];
    BOOT.with(|b| b.db.install_multiple_protocol_interfaces(None, &pairs, |_, _| false))
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

unsafe extern "efiapi" fn reset(_this: *mut BlockIoProtocol, _extended: Boolean) -> Efi {
    SUCCESS
}

fn read_into(dev: &Device, lba: u64, buf: &mut [u8]) -> Result<()> {
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
        .with(|d| match d.iter_mut().find(|d| d.index == dev.disk) {
            Some(d) => d.disk.read_blocks(dev.first_lba + lba, buf),
            None => Err(vmfw_block::Error::OutOfRange),
        })
        .unwrap_or(Err(vmfw_block::Error::NotResponding))
        .map_err(|e| {
            crate::warn!("BlockIo read at LBA {lba}: {e}");
            Error::DeviceError
        })
}

/// The checks a Block I/O or Disk I/O read starts with; `Some(status)`
/// answers at once: the media changed, there is nothing to read, or there
/// is no buffer.
fn precheck(media_id: u32, size: usize, buf: *mut c_void) -> Option<Efi> {
    if media_id != MEDIA_ID {
        return Some(MEDIA_CHANGED);
    }
    if size == 0 {
        return Some(SUCCESS);
    }
    buf.is_null().then(|| err(Error::InvalidParameter))
}

unsafe extern "efiapi" fn read_blocks(
    this: *const BlockIoProtocol,
    media_id: u32,
    lba: u64,
    size: usize,
    buf: *mut c_void,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_block_io(this) }) else { return err(Error::InvalidParameter) };
    if let Some(answer) = precheck(media_id, size, buf) {
        return answer;
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
    status(read_into(dev, lba, slice))
}

/// Writes whole blocks at `lba` of `dev`, then makes the volumes on its
/// disk forget their cached blocks.
fn write_from(dev: &Device, lba: u64, data: &[u8]) -> Result<()> {
    if !crate::disks::WRITES {
        return Err(Error::WriteProtected);
    }
    let bs = u64::from(dev.block_size);
    if !(data.len() as u64).is_multiple_of(bs) {
        return Err(Error::BadBufferSize);
    }
    let end = lba.checked_add(data.len() as u64 / bs).ok_or(Error::InvalidParameter)?;
    if end > dev.blocks {
        return Err(Error::InvalidParameter);
    }
    with_disk(dev, |d| {
        if !writable(d) {
            return Err(Error::WriteProtected);
        }
        let r = d.disk.write_blocks(dev.first_lba + lba, data);
        for v in d.volumes.iter_mut() {
            v.fs.invalidate();
        }
        r.map_err(|e| {
            crate::warn!("disk{}: BlockIo write at LBA {lba}: {e}", d.index);
            Error::DeviceError
        })
    })
}

/// Runs `f` on the lent disk `dev` belongs to.
fn with_disk<R>(dev: &Device, f: impl FnOnce(&mut BootDisk) -> Result<R>) -> Result<R> {
    DISKS
        .with(|d| match d.iter_mut().find(|d| d.index == dev.disk) {
            Some(d) => f(d),
            None => Err(Error::DeviceError),
        })
        .unwrap_or(Err(Error::DeviceError))
}

unsafe extern "efiapi" fn write_blocks(
    this: *mut BlockIoProtocol,
    media_id: u32,
    lba: u64,
    size: usize,
    buf: *const c_void,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_block_io(this) }) else { return err(Error::InvalidParameter) };
    if let Some(answer) = precheck(media_id, size, buf.cast_mut()) {
        return answer;
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
    status(write_from(dev, lba, data))
}

unsafe extern "efiapi" fn flush_blocks(this: *mut BlockIoProtocol) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_block_io(this) }) else { return err(Error::InvalidParameter) };
    status(with_disk(dev, |d| {
        if !writable(d) {
            return Ok(());
        }
        d.disk.flush().map_err(|e| {
            crate::warn!("disk{}: BlockIo flush: {e}", d.index);
            Error::DeviceError
        })
    }))
}

unsafe extern "efiapi" fn read_disk(
    this: *const DiskIoProtocol,
    media_id: u32,
    offset: u64,
    size: usize,
    buf: *mut c_void,
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
    let slice = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
    let mut view = PartView { dev };
    status(vmfw_block::read_bytes(&mut view, offset, slice).map_err(|e| {
        crate::warn!("DiskIo read at {offset:#x}: {e}");
        Error::DeviceError
    }))
}

unsafe extern "efiapi" fn write_disk(
    this: *mut DiskIoProtocol,
    media_id: u32,
    offset: u64,
    size: usize,
    buf: *const c_void,
) -> Efi {
    // SAFETY: `this` is the interface the caller got from this handle.
    let Some(dev) = (unsafe { from_disk_io(this) }) else { return err(Error::InvalidParameter) };
    if let Some(answer) = precheck(media_id, size, buf.cast_mut()) {
        return answer;
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
    let mut view = PartView { dev };
    status(vmfw_block::write_bytes(&mut view, offset, data).map_err(|e| match e {
        vmfw_block::Error::OutOfRange => Error::InvalidParameter,
        vmfw_block::Error::ReadOnly => Error::WriteProtected,
        _ => Error::DeviceError,
    }))
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
    fn read_blocks(
        &mut self,
        lba: u64,
        buf: &mut [u8],
    ) -> core::result::Result<(), vmfw_block::Error> {
        read_into(self.dev, lba, buf).map_err(|_| vmfw_block::Error::NotResponding)
    }
    fn write_blocks(
        &mut self,
        lba: u64,
        buf: &[u8],
    ) -> core::result::Result<(), vmfw_block::Error> {
        write_from(self.dev, lba, buf).map_err(|e| match e {
            Error::WriteProtected => vmfw_block::Error::ReadOnly,
            _ => vmfw_block::Error::NotResponding,
        })
    }
}
