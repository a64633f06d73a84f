//! Simple File System and File protocols (UEFI §13.4, §13.5) over the
//! boot manager's mounted FAT volumes, which the UEFI environment reaches
//! while the disks are lent to it.
//!
//! On a writable disk (see [`crate::disks::WRITES`]) loaders may create
//! files (not directories), write them, change their size, name (inside
//! their directory) and attributes with `SetInfo()`, delete them and
//! flush, all through the FAT crate's power-cut-safe write order; this is
//! how systemd-boot counts boots and how it and other loaders keep state.
//! Timestamps are not recorded (FAT's "not set"). On a read-only disk
//! opening for write fails with `EFI_WRITE_PROTECTED`, `Write()`,
//! `SetInfo()` and `Flush()` on a file opened read-only with
//! `EFI_ACCESS_DENIED`, and `Delete()` closes the file and warns
//! `EFI_WARN_DELETE_FAILURE`, as the specification describes.
//!
//! Every refused or failed write logs one line naming the volume, the
//! file and the FAT crate's reason (a dirty or damaged volume, FAT copies
//! that differ, a full volume).

use super::abi::{guid, FileProtocolV1, SimpleFileSystemProtocol};
use super::ffi::{err, guid as guid_arg, out, read, status, utf16_arg, Efi, SUCCESS};
use super::state::{BOOT, DISKS};
use crate::disks::{BootDisk, Fs};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use uefi_raw::protocol::file_system::{FileAttribute, FileMode, FileProtocolRevision};
use uefi_raw::Guid as RawGuid;
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Result};
use vmfw_fat::{DirCursor, Entry, Timestamp};

/// A volume: its disk's index and partition number.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Vol {
    disk: usize,
    partition: u32,
}

/// `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL`, with its volume after it.
#[repr(C)]
struct Sfs {
    protocol: SimpleFileSystemProtocol,
    vol: Vol,
}

/// `EFI_FILE_PROTOCOL` (revision 1), with the open file's state after it.
#[repr(C)]
struct FileObj {
    protocol: FileProtocolV1,
    vol: Vol,
    entry: Entry,
    file: Option<vmfw_fat::File>,
    cursor: Option<DirCursor>,
    pos: u64,
    /// Opened with `EFI_FILE_MODE_WRITE`.
    write: bool,
}

const FILE_PROTOCOL: FileProtocolV1 = FileProtocolV1 {
    revision: FileProtocolRevision::REVISION_1,
    open: file_open,
    close: file_close,
    delete: file_delete,
    read: file_read,
    write: file_write,
    get_position: file_get_position,
    set_position: file_set_position,
    get_info: file_get_info,
    set_info: file_set_info,
    flush: file_flush,
};

/// Installs the Simple File System protocol on partition handle `h`,
/// whose volume the boot manager has mounted.
pub fn install(h: Handle, disk: usize, partition: u32) {
    let sfs = Box::leak(Box::new(Sfs {
        protocol: SimpleFileSystemProtocol { revision: 0x0001_0000, open_volume },
        vol: Vol { disk, partition },
    }));
    let r = BOOT.with(|b| {
        b.volumes.push((h, disk, partition));
        b.db.install_protocol_interface(Some(h), guid::SIMPLE_FILE_SYSTEM, sfs as *const _ as u64)
    });
    if let Err(e) = r {
        crate::warn!("cannot install the file system protocol: {e}");
    }
}

/// Runs `f` on a volume of the lent disks.
fn with_volume<R>(vol: Vol, f: impl FnOnce(&mut Fs) -> Result<R>) -> Result<R> {
    DISKS
        .with(|d: &mut [BootDisk]| {
            let fs = d
                .iter_mut()
                .find(|x| x.index == vol.disk)
                .and_then(|x| x.volume(vol.partition))
                .ok_or(Error::NotFound)?;
            f(fs)
        })
        .unwrap_or(Err(Error::DeviceError))
}

/// The handle with a file system whose device path is the longest prefix
/// of `path`, and where the rest of the path starts.
pub fn locate(path: &[u8]) -> Result<(Handle, usize)> {
    super::devpath::locate_device(guid::SIMPLE_FILE_SYSTEM, path)
}

fn volume_of(h: Handle) -> Result<Vol> {
    BOOT.with(|b| b.volumes.iter().find(|v| v.0 == h).map(|v| Vol { disk: v.1, partition: v.2 }))
        .ok_or(Error::NotFound)
}

fn fat_err(e: vmfw_fat::Error) -> Error {
    use vmfw_fat::Error as F;
    match e {
        F::NotFound | F::InvalidPath => Error::NotFound,
        F::OutOfMemory => Error::OutOfResources,
        F::ReadOnly => Error::WriteProtected,
        F::VolumeFull | F::DirectoryFull | F::WriteBeyondEnd { .. } => Error::VolumeFull,
        F::AlreadyExists | F::IsADirectory | F::EntrySpansBlocks => Error::AccessDenied,
        F::InvalidName => Error::InvalidParameter,
        F::FatCopiesDiffer
        | F::VolumeDirty
        | F::VolumeDamaged
        | F::ClusterOutOfRange(_)
        | F::ChainLoop
        | F::TruncatedChain
        | F::SizeBeyondVolume(_)
        | F::DirectoryTooLarge => Error::VolumeCorrupted,
        _ => Error::DeviceError,
    }
}

/// Whether loaders may write volume `vol`.
fn writable(vol: Vol) -> bool {
    crate::disks::WRITES
        && DISKS
            .with(|d: &mut [BootDisk]| {
                d.iter().any(|x| x.index == vol.disk && !vmfw_block::BlockIo::read_only(&x.disk))
            })
            .unwrap_or(false)
}

/// Runs write operation `f` on volume `vol`; a failure logs one line
/// naming what was being written (`what`) and why.
fn write_op<R>(
    vol: Vol,
    what: &str,
    f: impl FnOnce(&mut Fs) -> core::result::Result<R, vmfw_fat::Error>,
) -> Result<R> {
    with_volume(vol, |fs| {
        f(fs).map_err(|e| {
            crate::warn!("disk{} #{}: {what}: {e}", vol.disk, vol.partition);
            fat_err(e)
        })
    })
}

fn to_fat_path(p: &str) -> String {
    p.replace('\\', "/")
}

/// How much of a file [`with_file`] reads before calling back: enough for
/// any PE image's headers (`SizeOfHeaders` is a few KiB in practice).
const HEAD: usize = 64 << 10;

/// Opens the file the FilePath nodes of `file_path` name on volume handle
/// `h` and calls `f` with its first bytes (at most [`HEAD`]), its length,
/// and a reader for any part of it (`read(offset, buf)` fills `buf`): a
/// loader places what it needs straight where it goes, with no copy of
/// the whole file in between.
pub fn with_file<R>(
    h: Handle,
    file_path: &[u8],
    f: impl FnOnce(
        &[u8],
        usize,
        &mut dyn FnMut(usize, &mut [u8]) -> core::result::Result<(), vmfw_fat::Error>,
    ) -> R,
) -> Result<R> {
    let name = vmfw_efi::devpath::file_path(file_path)?;
    with_volume(volume_of(h)?, |fs| {
        let mut file = fs.open(&to_fat_path(&name)).map_err(|e| {
            log::debug!("{name}: {e}");
            fat_err(e)
        })?;
        let len = usize::try_from(file.size()).map_err(|_| Error::OutOfResources)?;
        let mut head = alloc::vec![0u8; len.min(HEAD)];
        let n = fs.read_at(&mut file, 0, &mut head).map_err(fat_err)?;
        if n != head.len() {
            return Err(Error::DeviceError);
        }
        let mut read =
            |offset: usize, buf: &mut [u8]| match fs.read_at(&mut file, offset as u64, buf)? {
                n if n == buf.len() => Ok(()),
                _ => Err(vmfw_fat::Error::TruncatedChain),
            };
        Ok(f(&head, len, &mut read))
    })
}

fn new_file(vol: Vol, entry: Entry, write: bool) -> Result<*mut FileObj> {
    let (file, cursor) = with_volume(vol, |fs| {
        if entry.is_dir() {
            let d = fs.dir_of(&entry).map_err(fat_err)?;
            Ok((None, Some(DirCursor::new(d))))
        } else {
            Ok((Some(fs.open_file(&entry).map_err(fat_err)?), None))
        }
    })?;
    let obj = Box::leak(Box::new(FileObj {
        protocol: FILE_PROTOCOL,
        vol,
        entry,
        file,
        cursor,
        pos: 0,
        write,
    }));
    let addr = obj as *mut FileObj;
    BOOT.with(|b| b.open_files.push(addr as u64));
    Ok(addr)
}

/// The open file behind `this`, if it is one.
fn file<'a>(this: *mut FileProtocolV1) -> Result<&'a mut FileObj> {
    let a = this as u64;
    if BOOT.with(|b| b.open_files.contains(&a)) {
        // SAFETY: `a` is a live file object created by `new_file` (the
        // list holds exactly those not yet closed), whose first field is
        // the protocol.
        Ok(unsafe { &mut *this.cast::<FileObj>() })
    } else {
        Err(Error::InvalidParameter)
    }
}

unsafe extern "efiapi" fn open_volume(
    this: *mut SimpleFileSystemProtocol,
    root: *mut *mut FileProtocolV1,
) -> Efi {
    status(open_volume_impl(this, root))
}

fn open_volume_impl(
    this: *mut SimpleFileSystemProtocol,
    root: *mut *mut FileProtocolV1,
) -> Result<()> {
    if this.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: `this` is a Simple File System interface of the firmware,
    // the first field of an `Sfs`.
    let vol = unsafe { (*this.cast::<Sfs>()).vol };
    let entry = with_volume(vol, |fs| Ok(fs.root_entry()))?;
    let f = new_file(vol, entry, false)?;
    out(root, f.cast())
}

unsafe extern "efiapi" fn file_open(
    this: *mut FileProtocolV1,
    new: *mut *mut FileProtocolV1,
    name: *const u16,
    mode: FileMode,
    attributes: FileAttribute,
) -> Efi {
    status(file_open_impl(this, new, name, mode, attributes))
}

fn file_open_impl(
    this: *mut FileProtocolV1,
    new: *mut *mut FileProtocolV1,
    name: *const u16,
    mode: FileMode,
    attributes: FileAttribute,
) -> Result<()> {
    let f = file(this)?;
    let name: String = char::decode_utf16(utf16_arg(name, 4096)?)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    // The modes the specification allows: READ, READ|WRITE, READ|WRITE|CREATE.
    let write = mode.contains(FileMode::WRITE);
    let create = mode.contains(FileMode::CREATE);
    if new.is_null() || !mode.contains(FileMode::READ) || (create && !write) {
        return Err(Error::InvalidParameter);
    }
    let vol = f.vol;
    if write && !writable(vol) {
        return Err(Error::WriteProtected);
    }
    let start = f.entry.clone();
    let path = to_fat_path(&name);
    let entry = with_volume(vol, |fs| {
        let base = if start.is_dir() { start } else { fs.root_entry() };
        match fs.lookup_from(&base, &path) {
            Err(vmfw_fat::Error::NotFound) if create && crate::disks::WRITES => {}
            r => return r.map_err(fat_err),
        }
        if attributes.contains(FileAttribute::DIRECTORY) {
            crate::warn!(
                "disk{} #{}: {name}: vmfw does not create directories",
                vol.disk,
                vol.partition
            );
            return Err(Error::Unsupported);
        }
        let trimmed = path.trim_end_matches('/');
        let (parent, leaf) = match trimmed.rsplit_once('/') {
            Some(("", leaf)) => (fs.root_entry(), leaf),
            Some((dir, leaf)) => (fs.lookup_from(&base, dir).map_err(fat_err)?, leaf),
            None => (base, trimmed),
        };
        let dir = fs.dir_of(&parent).map_err(fat_err)?;
        fs.create(dir, leaf).map(|file| file.entry().clone()).map_err(|e| {
            crate::warn!("disk{} #{}: create {name}: {e}", vol.disk, vol.partition);
            fat_err(e)
        })
    })?;
    if write && entry.attributes().contains(vmfw_fat::Attributes::READ_ONLY) {
        return Err(Error::AccessDenied);
    }
    let nf = new_file(vol, entry, write)?;
    out(new, nf.cast())
}

fn close_obj(this: *mut FileProtocolV1) -> Result<()> {
    file(this)?;
    BOOT.with(|b| b.open_files.retain(|&a| a != this as u64));
    // SAFETY: a live object from `new_file` (checked above), leaked from a
    // Box there and now removed from the open list, so freed exactly once.
    drop(unsafe { Box::from_raw(this.cast::<FileObj>()) });
    Ok(())
}

unsafe extern "efiapi" fn file_close(this: *mut FileProtocolV1) -> Efi {
    status(close_obj(this))
}

unsafe extern "efiapi" fn file_delete(this: *mut FileProtocolV1) -> Efi {
    let deleted = file(this).map(|f| {
        let (vol, e) = (f.vol, &f.entry);
        crate::disks::WRITES
            && f.write
            && !e.is_dir()
            && e.parent().is_some_and(|dir| {
                write_op(vol, e.name(), |fs| fs.delete(dir, e.name()).and_then(|()| fs.flush()))
                    .is_ok()
            })
    });
    match (deleted, close_obj(this)) {
        (Ok(true), Ok(())) => SUCCESS,
        // EFI_WARN_DELETE_FAILURE: closed, not deleted (a read-only
        // volume or handle, a directory, or the failure logged above).
        (_, Ok(())) => uefi_raw::Status::WARN_DELETE_FAILURE,
        (_, Err(e)) => err(e),
    }
}

/// Size of `EFI_FILE_INFO` without the name.
const FILE_INFO_SIZE: usize = 80;

fn efi_time(t: Option<Timestamp>) -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Some(t) = t {
        b[0..2].copy_from_slice(&t.year.to_le_bytes());
        b[2] = t.month;
        b[3] = t.day;
        b[4] = t.hour;
        b[5] = t.minute;
        b[6] = t.second;
        // Time zone unspecified (EFI_UNSPECIFIED_TIMEZONE).
        b[12..14].copy_from_slice(&0x07ffu16.to_le_bytes());
    }
    b
}

fn file_info(e: &Entry, cluster_size: u64) -> Vec<u8> {
    let name: Vec<u16> = e.name().encode_utf16().chain(core::iter::once(0)).collect();
    let size = FILE_INFO_SIZE + name.len() * 2;
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(&(size as u64).to_le_bytes());
    b.extend_from_slice(&e.size().to_le_bytes());
    b.extend_from_slice(
        &e.size().div_ceil(cluster_size.max(1)).saturating_mul(cluster_size).to_le_bytes(),
    );
    b.extend_from_slice(&efi_time(e.created()));
    b.extend_from_slice(&efi_time(e.accessed()));
    b.extend_from_slice(&efi_time(e.modified()));
    let attr = u64::from(e.attributes().bits() & 0x37) | if e.is_dir() { 0x10 } else { 0 };
    b.extend_from_slice(&attr.to_le_bytes());
    for u in name {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b
}

fn cluster_size(vol: Vol) -> u64 {
    with_volume(vol, |fs| Ok(u64::from(fs.info().cluster_size))).unwrap_or(512)
}

/// Copies `data` to the caller's buffer, or says how much room it needs.
fn give(size: *mut usize, buf: *mut u8, data: &[u8]) -> Result<()> {
    let cap = read(size)?;
    if cap < data.len() {
        out(size, data.len())?;
        return Err(Error::BufferTooSmall);
    }
    if buf.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: the caller's buffer of `cap >= data.len()` bytes.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    out(size, data.len())
}

unsafe extern "efiapi" fn file_read(
    this: *mut FileProtocolV1,
    size: *mut usize,
    buf: *mut c_void,
) -> Efi {
    status(file_read_impl(this, size, buf.cast()))
}

fn file_read_impl(this: *mut FileProtocolV1, size: *mut usize, buf: *mut u8) -> Result<()> {
    let f = file(this)?;
    let vol = f.vol;
    if let Some(cursor) = f.cursor.as_mut() {
        // Directory: one EFI_FILE_INFO per call, skipping nothing the FAT
        // reader reports; 0 bytes at the end.
        let mut next = *cursor;
        let entry = with_volume(vol, |fs| fs.next_entry(&mut next).map_err(fat_err))?;
        let Some(entry) = entry else {
            return out(size, 0);
        };
        let info = file_info(&entry, cluster_size(vol));
        give(size, buf, &info)?;
        *cursor = next;
        return Ok(());
    }
    let cap = read(size)?;
    if f.pos > f.entry.size() {
        return Err(Error::DeviceError);
    }
    // SAFETY: the caller's buffer of `cap` bytes.
    let dst = unsafe { super::ffi::buffer_mut(buf, cap) }?;
    if dst.is_empty() {
        return Ok(());
    }
    let pos = f.pos;
    let file = f.file.as_mut().ok_or(Error::DeviceError)?;
    let n = with_volume(vol, |fs| fs.read_at(file, pos, dst).map_err(fat_err))?;
    f.pos += n as u64;
    out(size, n)
}

unsafe extern "efiapi" fn file_write(
    this: *mut FileProtocolV1,
    size: *mut usize,
    buf: *const c_void,
) -> Efi {
    status(file_write_impl(this, size, buf.cast()))
}

fn file_write_impl(this: *mut FileProtocolV1, size: *mut usize, buf: *const u8) -> Result<()> {
    let f = file(this)?;
    if f.cursor.is_some() {
        return Err(Error::Unsupported);
    }
    if !crate::disks::WRITES || !f.write {
        return Err(Error::AccessDenied);
    }
    let len = read(size)?;
    // SAFETY: the caller's buffer of `len` bytes.
    let data = unsafe { super::ffi::buffer(buf, len) }?;
    let (vol, pos) = (f.vol, f.pos);
    let file = f.file.as_mut().ok_or(Error::DeviceError)?;
    let n = write_op(vol, f.entry.name(), |fs| fs.write_at(file, pos, data))?;
    f.entry = file.entry().clone();
    f.pos = pos.saturating_add(n as u64);
    out(size, n)
}

unsafe extern "efiapi" fn file_get_position(this: *const FileProtocolV1, pos: *mut u64) -> Efi {
    status(file(this.cast_mut()).and_then(|f| {
        if f.cursor.is_some() {
            return Err(Error::Unsupported);
        }
        out(pos, f.pos)
    }))
}

unsafe extern "efiapi" fn file_set_position(this: *mut FileProtocolV1, pos: u64) -> Efi {
    status(file(this).and_then(|f| {
        if let Some(c) = f.cursor.as_mut() {
            if pos != 0 {
                return Err(Error::Unsupported);
            }
            *c = DirCursor::new(c.dir());
            return Ok(());
        }
        f.pos = if pos == u64::MAX { f.entry.size() } else { pos };
        Ok(())
    }))
}

unsafe extern "efiapi" fn file_get_info(
    this: *mut FileProtocolV1,
    ty: *const RawGuid,
    size: *mut usize,
    buf: *mut c_void,
) -> Efi {
    status(file_get_info_impl(this, ty, size, buf.cast()))
}

fn file_get_info_impl(
    this: *mut FileProtocolV1,
    ty: *const RawGuid,
    size: *mut usize,
    buf: *mut u8,
) -> Result<()> {
    let f = file(this)?;
    let ty = guid_arg(ty)?;
    let vol = f.vol;
    if ty == guid::FILE_INFO {
        let info = file_info(&f.entry, cluster_size(vol));
        give(size, buf, &info)
    } else if ty == guid::FILE_SYSTEM_INFO {
        let (bytes, csize) = with_volume(vol, |fs| {
            let i = fs.info();
            Ok((i.data_bytes, i.cluster_size))
        })
        .unwrap_or((0, 512));
        let label: [u16; 1] = [0];
        let mut b = Vec::new();
        let total = 36 + label.len() * 2;
        b.extend_from_slice(&(total as u64).to_le_bytes());
        b.extend_from_slice(&u64::from(!writable(vol)).to_le_bytes()); // ReadOnly
        b.extend_from_slice(&bytes.to_le_bytes());
        // FreeSpace: not computed (it would take a scan of the whole FAT).
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&csize.to_le_bytes());
        for u in label {
            b.extend_from_slice(&u.to_le_bytes());
        }
        give(size, buf, &b)
    } else if ty == guid::FILE_SYSTEM_VOLUME_LABEL {
        give(size, buf, &[0, 0])
    } else {
        Err(Error::Unsupported)
    }
}

unsafe extern "efiapi" fn file_set_info(
    this: *mut FileProtocolV1,
    ty: *const RawGuid,
    size: usize,
    buf: *const c_void,
) -> Efi {
    status(file_set_info_impl(this, ty, size, buf.cast()))
}

/// `SetInfo(EFI_FILE_INFO)`: a new size, attributes or name (inside the
/// file's directory). Times are accepted and ignored (FAT timestamps are
/// not recorded).
fn file_set_info_impl(
    this: *mut FileProtocolV1,
    ty: *const RawGuid,
    size: usize,
    buf: *const u8,
) -> Result<()> {
    let f = file(this)?;
    let ty = guid_arg(ty)?;
    if !crate::disks::WRITES {
        return Err(Error::WriteProtected);
    }
    if ty != guid::FILE_INFO {
        return Err(if ty == guid::FILE_SYSTEM_INFO || ty == guid::FILE_SYSTEM_VOLUME_LABEL {
            Error::WriteProtected
        } else {
            Error::Unsupported
        });
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let info = unsafe { super::ffi::buffer(buf, size) }?;
    let u64_at = |o: usize| vmfw_bytes::u64_at(info, o).ok_or(Error::BadBufferSize);
    if size < FILE_INFO_SIZE + 2 || u64_at(0)? > size as u64 {
        return Err(Error::BadBufferSize);
    }
    let new_size = u64_at(8)?;
    let attr = u64_at(72)?;
    // The name is read up to its NUL, as edk2 does, not up to `size`:
    // systemd-boot renames by writing a longer name into the buffer
    // GetInfo() filled and passes that buffer's old size.
    // SAFETY: `buf` holds at least `FILE_INFO_SIZE + 2` bytes (checked
    // above); the name runs on to its NUL in the caller's buffer.
    let name_units = utf16_arg(unsafe { buf.add(FILE_INFO_SIZE) }.cast::<u16>(), 1024)?;
    let new_name: String =
        char::decode_utf16(name_units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    let (vol, is_dir) = (f.vol, f.entry.is_dir());
    let old_name = String::from(f.entry.name());
    let rename = new_name != old_name;
    let resize = !is_dir && new_size != f.entry.size();
    let settable = u64::from(vmfw_fat::Attributes::READ_ONLY | 0x26);
    let attrs = attr & settable != u64::from(f.entry.attributes().0) & settable;
    if attr & 0x10 != u64::from(is_dir) << 4 || new_name.is_empty() {
        return Err(Error::AccessDenied);
    }
    if !(rename || resize || attrs) {
        return Ok(());
    }
    if (!f.write && (rename || resize)) || !writable(vol) {
        return Err(if writable(vol) { Error::AccessDenied } else { Error::WriteProtected });
    }
    let Some(dir) = f.entry.parent() else { return Err(Error::AccessDenied) };
    if rename {
        // Only a new name in the same directory: a path would be a move.
        if new_name.contains(['\\', '/']) {
            crate::warn!(
                "disk{} #{}: {old_name}: moving a file is not supported",
                vol.disk,
                vol.partition
            );
            return Err(Error::Unsupported);
        }
        write_op(vol, &old_name, |fs| fs.rename(dir, &old_name, &new_name))?;
        // A rename by copy moves the content to a new chain: reopen.
        let (entry, file) = with_volume(vol, |fs| {
            let e = fs.find(dir, &new_name).map_err(fat_err)?;
            let file = if is_dir { None } else { Some(fs.open_file(&e).map_err(fat_err)?) };
            Ok((e, file))
        })?;
        f.entry = entry;
        if !is_dir {
            f.file = file;
        }
    }
    let name = String::from(f.entry.name());
    if resize {
        let file = f.file.as_mut().ok_or(Error::DeviceError)?;
        write_op(vol, &name, |fs| fs.set_len(file, new_size))?;
        f.entry = file.entry().clone();
    }
    if attrs {
        write_op(vol, &name, |fs| fs.set_attributes(dir, &name, attr as u8))?;
        let e = with_volume(vol, |fs| fs.find(dir, &name).map_err(fat_err))?;
        if let Some(file) = f.file.as_mut() {
            *file = with_volume(vol, |fs| fs.open_file(&e).map_err(fat_err))?;
        }
        f.entry = e;
    }
    Ok(())
}

unsafe extern "efiapi" fn file_flush(this: *mut FileProtocolV1) -> Efi {
    status(file(this).and_then(|f| {
        if !crate::disks::WRITES || !f.write {
            return Err(Error::AccessDenied);
        }
        write_op(f.vol, f.entry.name(), |fs| fs.flush())
    }))
}

/// Whether the volume on (`disk`, `partition`) has a file at `path`.
pub fn exists(disks: &mut [BootDisk], disk: usize, partition: u32, path: &str) -> bool {
    disks
        .iter_mut()
        .find(|d| d.index == disk)
        .and_then(|d| d.volume(partition))
        .is_some_and(|fs| fs.lookup(&to_fat_path(path)).is_ok())
}
