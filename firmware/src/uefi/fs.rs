//! Simple File System and File protocols (UEFI §13.4, §13.5) over the
//! FAT reader, for every partition that holds a FAT volume.
//!
//! Volumes are read-only: opening for write, `Write()`, `SetInfo()` and
//! `Flush()` fail with `EFI_WRITE_PROTECTED` (or `EFI_ACCESS_DENIED` where
//! the file was opened read-only), `Delete()` closes the file and warns
//! `EFI_WARN_DELETE_FAILURE`, as the specification describes for
//! write-protected media.

use super::abi::guid;
use super::boot::{err, out, read, status, Efi, CORE};
use super::disk::DiskRef;
use super::global::Global;
use crate::memory::PageBuf;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use vmfw_block::Partition;
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Guid, Result};
use vmfw_fat::{DirCursor, Entry, FileSystem, Timestamp};
use vmfw_memmap::MemoryType;

type Fs = FileSystem<Partition<DiskRef>>;

struct Volume {
    handle: Handle,
    fs: Fs,
}

static VOLUMES: Global<Vec<Volume>> = Global::new();
/// Addresses of live file objects, to refuse stale or forged pointers.
static OPEN: Global<Vec<u64>> = Global::new();

pub fn init() {
    VOLUMES.set(Vec::new());
    OPEN.set(Vec::new());
}

/// `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL`, with the volume index after it.
#[repr(C)]
struct Sfs {
    revision: u64,
    open_volume: usize,
    volume: usize,
}

/// `EFI_FILE_PROTOCOL` (revision 1), with the open file's state after it.
#[repr(C)]
struct FileObj {
    revision: u64,
    open: usize,
    close: usize,
    delete: usize,
    read: usize,
    write: usize,
    get_position: usize,
    set_position: usize,
    get_info: usize,
    set_info: usize,
    flush: usize,
    volume: usize,
    entry: Entry,
    file: Option<vmfw_fat::File>,
    cursor: Option<DirCursor>,
    pos: u64,
}

/// Mounts the FAT volume of a partition, if it holds one, and installs the
/// Simple File System protocol on its handle.
pub fn install(h: Handle, disk: usize, first_lba: u64, blocks: u64) {
    let Ok(part) = Partition::new(DiskRef(disk), first_lba, blocks) else { return };
    let Ok(fs) = FileSystem::mount(part) else { return };
    let index = VOLUMES.with(|v| {
        v.push(Volume { handle: h, fs });
        v.len() - 1
    });
    let sfs = Box::leak(Box::new(Sfs {
        revision: 0x0001_0000,
        open_volume: open_volume as *const () as usize,
        volume: index,
    }));
    let r = CORE.with(|c| {
        c.db.install_protocol_interface(Some(h), guid::SIMPLE_FILE_SYSTEM, sfs as *const _ as u64)
    });
    if let Err(e) = r {
        log::warn!("cannot install the file system protocol: {e}");
    }
}

/// The handle with a file system whose device path is the longest prefix
/// of `path`, and where the rest of the path starts.
pub fn locate(path: &[u8]) -> Result<(Handle, usize)> {
    super::boot::locate_device(guid::SIMPLE_FILE_SYSTEM, path)
}

fn volume_of(h: Handle) -> Result<usize> {
    VOLUMES.with(|v| v.iter().position(|x| x.handle == h)).ok_or(Error::NotFound)
}

fn fat_err(e: vmfw_fat::Error) -> Error {
    match e {
        vmfw_fat::Error::NotFound | vmfw_fat::Error::InvalidPath => Error::NotFound,
        vmfw_fat::Error::OutOfMemory => Error::OutOfResources,
        vmfw_fat::Error::Io(_) => Error::DeviceError,
        _ => VOLUME_CORRUPTED_ERR,
    }
}

/// `EFI_VOLUME_CORRUPTED` has no `vmfw_efi::Error` of its own; the FAT
/// reader's corruption errors are reported as a device error.
const VOLUME_CORRUPTED_ERR: Error = Error::DeviceError;

fn to_fat_path(p: &str) -> String {
    p.replace('\\', "/")
}

/// Reads the file the FilePath nodes of `file_path` name on volume
/// handle `h` into fresh pages.
pub fn read_path(h: Handle, file_path: &[u8]) -> Result<PageBuf> {
    let name = vmfw_efi::devpath::file_path(file_path)?;
    let vol = volume_of(h)?;
    VOLUMES.with(|v| {
        let fs = &mut v.get_mut(vol).ok_or(Error::NotFound)?.fs;
        let mut f = fs.open(&to_fat_path(&name)).map_err(|e| {
            log::debug!("{name}: {e}");
            fat_err(e)
        })?;
        let size = usize::try_from(f.size()).map_err(|_| Error::OutOfResources)?;
        let mut buf = PageBuf::new(size, MemoryType::FirmwareData).ok_or(Error::OutOfResources)?;
        fs.read_all(&mut f, &mut buf).map_err(fat_err)?;
        Ok(buf)
    })
}

/// Where the file at `path` on volume handle `h` lies: the disk's index
/// and `(byte offset on the disk, length)` pieces in file order.
pub fn file_extents(h: Handle, path: &str) -> Result<(usize, Vec<(u64, u64)>)> {
    let vol = volume_of(h)?;
    VOLUMES.with(|v| {
        let fs = &mut v.get_mut(vol).ok_or(Error::NotFound)?.fs;
        let mut f = fs.open(&to_fat_path(path)).map_err(fat_err)?;
        let pieces = fs.extents(&mut f).map_err(fat_err)?;
        let part = fs.device();
        let base =
            part.start_lba().saturating_mul(u64::from(vmfw_block::BlockIo::block_size(part)));
        let disk = part.inner().0;
        Ok((disk, pieces.into_iter().map(|(o, l)| (base + o, l)).collect()))
    })
}

/// Whether volume handle `h` has a file at `path`.
pub fn exists(h: Handle, path: &str) -> bool {
    let Ok(vol) = volume_of(h) else { return false };
    VOLUMES.with(|v| v.get_mut(vol).is_some_and(|x| x.fs.lookup(&to_fat_path(path)).is_ok()))
}

fn new_file(volume: usize, entry: Entry) -> Result<u64> {
    let (file, cursor) = VOLUMES.with(|v| -> Result<_> {
        let fs = &mut v.get_mut(volume).ok_or(Error::InvalidParameter)?.fs;
        if entry.is_dir() {
            let d = fs.dir_of(&entry).map_err(fat_err)?;
            Ok((None, Some(DirCursor::new(d))))
        } else {
            Ok((Some(fs.open_file(&entry).map_err(fat_err)?), None))
        }
    })?;
    let obj = Box::leak(Box::new(FileObj {
        revision: 0x0001_0000,
        open: file_open as *const () as usize,
        close: file_close as *const () as usize,
        delete: file_delete as *const () as usize,
        read: file_read as *const () as usize,
        write: file_write as *const () as usize,
        get_position: file_get_position as *const () as usize,
        set_position: file_set_position as *const () as usize,
        get_info: file_get_info as *const () as usize,
        set_info: file_set_info as *const () as usize,
        flush: file_flush as *const () as usize,
        volume,
        entry,
        file,
        cursor,
        pos: 0,
    }));
    let addr = obj as *mut FileObj as u64;
    OPEN.with(|o| o.push(addr));
    Ok(addr)
}

/// The open file behind `this`, if it is one.
fn file<'a>(this: *mut FileObj) -> Result<&'a mut FileObj> {
    let a = this as u64;
    if OPEN.with(|o| o.contains(&a)) {
        // SAFETY: `a` is a live file object created by `new_file` (the
        // list holds exactly those not yet closed).
        Ok(unsafe { &mut *this })
    } else {
        Err(Error::InvalidParameter)
    }
}

extern "efiapi" fn open_volume(this: *const Sfs, root: *mut u64) -> Efi {
    status((|| {
        if this.is_null() {
            return Err(Error::InvalidParameter);
        }
        // SAFETY: `this` is a Simple File System interface of the firmware.
        let volume = unsafe { (*this).volume };
        let entry = VOLUMES.with(|v| v.get(volume).map(|x| x.fs.root_entry()));
        let f = new_file(volume, entry.ok_or(Error::InvalidParameter)?)?;
        out(root, f)
    })())
}

const MODE_READ: u64 = 1;
const MODE_WRITE: u64 = 2;
const MODE_CREATE: u64 = 0x8000_0000_0000_0000;

/// A NUL-terminated UTF-16 string from the caller, bounded.
fn utf16_arg(p: *const u16) -> Result<String> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    let mut units = Vec::new();
    for i in 0..4096 {
        // SAFETY: the caller's NUL-terminated string, read up to the NUL.
        let u = unsafe { p.add(i).read_unaligned() };
        if u == 0 {
            return Ok(char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect());
        }
        units.push(u);
    }
    Err(Error::InvalidParameter)
}

extern "efiapi" fn file_open(
    this: *mut FileObj,
    new: *mut u64,
    name: *const u16,
    mode: u64,
    _attributes: u64,
) -> Efi {
    status((|| {
        let f = file(this)?;
        let name = utf16_arg(name)?;
        if new.is_null() || mode & MODE_READ == 0 {
            return Err(Error::InvalidParameter);
        }
        if mode & (MODE_WRITE | MODE_CREATE) != 0 {
            return Err(Error::WriteProtected);
        }
        let start = f.entry.clone();
        let volume = f.volume;
        let entry = VOLUMES.with(|v| -> Result<Entry> {
            let fs = &mut v.get_mut(volume).ok_or(Error::InvalidParameter)?.fs;
            let path = to_fat_path(&name);
            let base = if start.is_dir() { start } else { fs.root_entry() };
            fs.lookup_from(&base, &path).map_err(fat_err)
        })?;
        let nf = new_file(volume, entry)?;
        out(new, nf)
    })())
}

fn close_obj(this: *mut FileObj) -> Result<()> {
    file(this)?;
    OPEN.with(|o| o.retain(|&a| a != this as u64));
    // SAFETY: a live object from `new_file` (checked above), leaked from a
    // Box there and now removed from the open list, so freed exactly once.
    drop(unsafe { Box::from_raw(this) });
    Ok(())
}

extern "efiapi" fn file_close(this: *mut FileObj) -> Efi {
    status(close_obj(this))
}

extern "efiapi" fn file_delete(this: *mut FileObj) -> Efi {
    match close_obj(this) {
        // EFI_WARN_DELETE_FAILURE: closed, not deleted (read-only volume).
        Ok(()) => 2,
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

fn cluster_size(volume: usize) -> u64 {
    VOLUMES.with(|v| v.get(volume).map_or(512, |x| u64::from(x.fs.info().cluster_size)))
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

extern "efiapi" fn file_read(this: *mut FileObj, size: *mut usize, buf: *mut u8) -> Efi {
    status((|| {
        let f = file(this)?;
        let volume = f.volume;
        if let Some(cursor) = f.cursor.as_mut() {
            // Directory: one EFI_FILE_INFO per call, skipping nothing the
            // FAT reader reports; 0 bytes at the end.
            let mut next = *cursor;
            let entry = VOLUMES.with(|v| {
                let fs = &mut v.get_mut(volume).ok_or(Error::InvalidParameter)?.fs;
                fs.next_entry(&mut next).map_err(fat_err)
            })?;
            let Some(entry) = entry else {
                return out(size, 0);
            };
            let info = file_info(&entry, cluster_size(volume));
            give(size, buf, &info)?;
            *cursor = next;
            return Ok(());
        }
        let cap = read(size)?;
        if f.pos > f.entry.size() {
            return Err(Error::DeviceError);
        }
        if cap == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return Err(Error::InvalidParameter);
        }
        // SAFETY: the caller's buffer of `cap` bytes.
        let dst = unsafe { core::slice::from_raw_parts_mut(buf, cap) };
        let pos = f.pos;
        let file = f.file.as_mut().ok_or(Error::DeviceError)?;
        let n = VOLUMES.with(|v| {
            let fs = &mut v.get_mut(volume).ok_or(Error::InvalidParameter)?.fs;
            fs.read_at(file, pos, dst).map_err(fat_err)
        })?;
        f.pos += n as u64;
        out(size, n)
    })())
}

extern "efiapi" fn file_write(this: *mut FileObj, _size: *mut usize, _buf: *const u8) -> Efi {
    status(file(this).and(Err(Error::AccessDenied)))
}

extern "efiapi" fn file_get_position(this: *mut FileObj, pos: *mut u64) -> Efi {
    status((|| {
        let f = file(this)?;
        if f.cursor.is_some() {
            return Err(Error::Unsupported);
        }
        out(pos, f.pos)
    })())
}

extern "efiapi" fn file_set_position(this: *mut FileObj, pos: u64) -> Efi {
    status((|| {
        let f = file(this)?;
        let volume = f.volume;
        if let Some(c) = f.cursor.as_mut() {
            if pos != 0 {
                return Err(Error::Unsupported);
            }
            *c = DirCursor::new(c.dir());
            let _ = volume;
            return Ok(());
        }
        f.pos = if pos == u64::MAX { f.entry.size() } else { pos };
        Ok(())
    })())
}

extern "efiapi" fn file_get_info(
    this: *mut FileObj,
    ty: *const Guid,
    size: *mut usize,
    buf: *mut u8,
) -> Efi {
    status((|| {
        let f = file(this)?;
        let ty = read(ty)?;
        let volume = f.volume;
        if ty == guid::FILE_INFO {
            let info = file_info(&f.entry, cluster_size(volume));
            give(size, buf, &info)
        } else if ty == guid::FILE_SYSTEM_INFO {
            let (bytes, csize) = VOLUMES.with(|v| {
                v.get(volume).map_or((0, 512), |x| {
                    let i = x.fs.info();
                    (i.data_bytes, i.cluster_size)
                })
            });
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
    })())
}

extern "efiapi" fn file_set_info(
    this: *mut FileObj,
    _ty: *const Guid,
    _size: usize,
    _buf: *const u8,
) -> Efi {
    status(file(this).and(Err(Error::WriteProtected)))
}

extern "efiapi" fn file_flush(this: *mut FileObj) -> Efi {
    status(file(this).and(Err(Error::AccessDenied)))
}
