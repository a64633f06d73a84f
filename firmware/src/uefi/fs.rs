//! Simple File System and File protocols (UEFI §13.4, §13.5) over the
//! boot manager's mounted FAT volumes, which the UEFI environment reaches
//! while the disks are lent to it.
//!
//! Volumes are read-only to loaders: opening for write, `Write()`,
//! `SetInfo()` and `Flush()` fail with `EFI_WRITE_PROTECTED` (or
//! `EFI_ACCESS_DENIED` where the file was opened read-only), `Delete()`
//! closes the file and warns `EFI_WARN_DELETE_FAILURE`, as the
//! specification describes for write-protected media.

use super::abi::{guid, FileProtocolV1, SimpleFileSystemProtocol};
use super::ffi::{err, guid as guid_arg, out, read, status, utf16_arg, Efi};
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
        log::warn!("cannot install the file system protocol: {e}");
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
    match e {
        vmfw_fat::Error::NotFound | vmfw_fat::Error::InvalidPath => Error::NotFound,
        vmfw_fat::Error::OutOfMemory => Error::OutOfResources,
        // `EFI_VOLUME_CORRUPTED` has no `vmfw_efi::Error` of its own: I/O
        // trouble and corruption are both reported as a device error.
        _ => Error::DeviceError,
    }
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

fn new_file(vol: Vol, entry: Entry) -> Result<*mut FileObj> {
    let (file, cursor) = with_volume(vol, |fs| {
        if entry.is_dir() {
            let d = fs.dir_of(&entry).map_err(fat_err)?;
            Ok((None, Some(DirCursor::new(d))))
        } else {
            Ok((Some(fs.open_file(&entry).map_err(fat_err)?), None))
        }
    })?;
    let obj =
        Box::leak(Box::new(FileObj { protocol: FILE_PROTOCOL, vol, entry, file, cursor, pos: 0 }));
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
    let f = new_file(vol, entry)?;
    out(root, f.cast())
}

unsafe extern "efiapi" fn file_open(
    this: *mut FileProtocolV1,
    new: *mut *mut FileProtocolV1,
    name: *const u16,
    mode: FileMode,
    _attributes: FileAttribute,
) -> Efi {
    status(file_open_impl(this, new, name, mode))
}

fn file_open_impl(
    this: *mut FileProtocolV1,
    new: *mut *mut FileProtocolV1,
    name: *const u16,
    mode: FileMode,
) -> Result<()> {
    let f = file(this)?;
    let name: String = char::decode_utf16(utf16_arg(name, 4096)?)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if new.is_null() || !mode.contains(FileMode::READ) {
        return Err(Error::InvalidParameter);
    }
    if mode.intersects(FileMode::WRITE | FileMode::CREATE) {
        return Err(Error::WriteProtected);
    }
    let start = f.entry.clone();
    let vol = f.vol;
    let entry = with_volume(vol, |fs| {
        let path = to_fat_path(&name);
        let base = if start.is_dir() { start } else { fs.root_entry() };
        fs.lookup_from(&base, &path).map_err(fat_err)
    })?;
    let nf = new_file(vol, entry)?;
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
    match close_obj(this) {
        // EFI_WARN_DELETE_FAILURE: closed, not deleted (read-only volume).
        Ok(()) => uefi_raw::Status::WARN_DELETE_FAILURE,
        Err(e) => err(e),
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
    _size: *mut usize,
    _buf: *const c_void,
) -> Efi {
    status(file(this).and(Err(Error::AccessDenied)))
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
        b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // ReadOnly
        b.extend_from_slice(&bytes.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // no space to write
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
    _ty: *const RawGuid,
    _size: usize,
    _buf: *const c_void,
) -> Efi {
    status(file(this).and(Err(Error::WriteProtected)))
}

unsafe extern "efiapi" fn file_flush(this: *mut FileProtocolV1) -> Efi {
    status(file(this).and(Err(Error::AccessDenied)))
}

/// Whether the volume on (`disk`, `partition`) has a file at `path`.
pub fn exists(disks: &mut [BootDisk], disk: usize, partition: u32, path: &str) -> bool {
    disks
        .iter_mut()
        .find(|d| d.index == disk)
        .and_then(|d| d.volume(partition))
        .is_some_and(|fs| fs.lookup(&to_fat_path(path)).is_ok())
}
