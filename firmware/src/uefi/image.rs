//! Image services: `LoadImage()`, `StartImage()`, `Exit()`,
//! `UnloadImage()` (UEFI §7.4) and the Loaded Image protocols (§9).
//!
//! `StartImage()` calls the entry point through the arch layer's
//! trampoline, which saves the firmware's callee-saved registers and
//! stack pointer; `Exit()` from anywhere inside the image (or an image it
//! started) restores them, so control comes back out of the caller's
//! `StartImage()` with the exit status, as the specification requires.

use super::abi::{guid, LoadedImageProtocol, SystemTable};
use super::ffi::{err, from_raw, handle, out, raw_handle, raw_opt_handle, status, Efi};
use super::state::{self, Image, BOOT};
use super::{devpath, fs};
use crate::{arch, memory};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::table::boot::MemoryType as RawMemoryType;
use uefi_raw::{Boolean, Handle as RawHandle};
use vmfw_efi::handles::Handle;
use vmfw_efi::memory::EfiMemoryType;
use vmfw_efi::{Error, Result, Status};
use vmfw_memmap::{MemoryType, Placement, PAGE_SIZE};
use vmfw_pe::{PeImage, Subsystem};

/// `EFI_LOADED_IMAGE_PROTOCOL_REVISION`.
const LOADED_IMAGE_REVISION: u32 = 0x1000;

/// Registers the firmware's own image (the parent of the boot options it
/// loads) and returns its handle.
pub fn init() -> Result<Handle> {
    let (start, end) = memory::image_range();
    let loaded = Box::new(LoadedImageProtocol {
        revision: LOADED_IMAGE_REVISION,
        parent_handle: core::ptr::null_mut(),
        system_table: state::system_table() as *const SystemTable,
        device_handle: core::ptr::null_mut(),
        file_path: END_PATH.as_ptr().cast(),
        reserved: core::ptr::null(),
        load_options_size: 0,
        load_options: core::ptr::null(),
        image_base: start as *const c_void,
        image_size: end - start,
        image_code_type: RawMemoryType(EfiMemoryType::RUNTIME_SERVICES_CODE.0),
        image_data_type: RawMemoryType(EfiMemoryType::RUNTIME_SERVICES_DATA.0),
        unload: None,
    });
    let addr = &*loaded as *const LoadedImageProtocol as u64;
    BOOT.with(|b| {
        let h = b.db.install_protocol_interface(None, guid::LOADED_IMAGE, addr)?;
        b.images.push(Image {
            handle: h,
            base: start,
            pages: 0,
            entry: 0,
            loaded,
            file_path: Vec::new(),
            device_path: None,
            jump: Box::new(0),
            options: Vec::new(),
            started: true,
            exit_data: (0, 0),
            is_app: false,
        });
        Ok(h)
    })
}

/// Where a file to load comes from.
pub enum Source<'a> {
    /// A buffer in memory.
    Buffer(&'a [u8]),
    /// The device path to resolve.
    Path,
}

/// Why `LoadImage()` failed: the status for the caller and a sentence for
/// the log.
pub struct LoadFailure {
    pub error: Error,
    pub why: alloc::string::String,
}

impl From<Error> for LoadFailure {
    fn from(error: Error) -> Self {
        LoadFailure { error, why: alloc::format!("{error}") }
    }
}

fn fail(error: Error, why: impl core::fmt::Display) -> LoadFailure {
    LoadFailure { error, why: alloc::format!("{why}") }
}

fn not_loadable(e: vmfw_pe::Error) -> LoadFailure {
    fail(Error::LoadError, format_args!("not a loadable PE32+ image: {e}"))
}

/// Checks that `pe` can run here and allocates its pages: the memory type
/// of its code, its base and page count, and the image's bytes (the pages
/// past `SizeOfImage` already zeroed).
fn place(
    pe: &PeImage,
) -> core::result::Result<(MemoryType, u64, u64, &'static mut [u8]), LoadFailure> {
    if pe.machine() != crate::arch::PE_MACHINE {
        let why = format_args!("the image is for another CPU ({:?})", pe.machine());
        return Err(fail(Error::Unsupported, why));
    }
    let code = match pe.subsystem() {
        Subsystem::EfiApplication => MemoryType::LoaderCode,
        Subsystem::EfiBootServiceDriver => MemoryType::BootServicesCode,
        Subsystem::EfiRuntimeDriver => MemoryType::RuntimeServicesCode,
    };
    let size = u64::from(pe.size_of_image());
    let pages = size.div_ceil(PAGE_SIZE);
    let align = u64::from(pe.section_alignment()).max(PAGE_SIZE);
    let base = memory::with_map(|m| {
        if pe.is_relocatable() {
            m.allocate(pages, align, Placement::Anywhere, code)
        } else {
            m.allocate_at(pe.image_base(), pages, code).map(|()| pe.image_base())
        }
    })
    .map_err(|_| fail(Error::OutOfResources, format_args!("no room for {size} bytes")))?;
    // SAFETY: `pages` pages just allocated for this image, referenced by
    // nothing else until the image is freed.
    let all = unsafe { memory::reserved_slice(base, (pages * PAGE_SIZE) as usize) };
    let (dest, tail) = all.split_at_mut(size as usize);
    tail.fill(0);
    Ok((code, base, pages, dest))
}

/// Loads an image; returns its handle. `path` is the full device path
/// (when known), `parent` the loading image. Logs nothing: the caller
/// reports the failure once.
pub fn load(
    parent: Option<Handle>,
    path: Option<&[u8]>,
    source: Source<'_>,
) -> core::result::Result<Handle, LoadFailure> {
    // Which device the path names, and the file path on it.
    let located = path.and_then(|p| fs::locate(p).ok());
    let (device, file_path): (Option<Handle>, Vec<u8>) = match (&located, path) {
        (Some((h, rest)), Some(p)) => (Some(*h), p.get(*rest..).unwrap_or(&[]).to_vec()),
        (None, Some(p)) => (None, p.to_vec()),
        _ => (None, END_PATH.to_vec()),
    };
    // A file is read straight into the image, section by section; a
    // buffer (an image already in memory) is copied.
    let (pe, base, pages, code) = match source {
        Source::Buffer(bytes) => from_buffer(bytes)?,
        Source::Path => {
            let Some((h, _)) = located else {
                return Err(fail(Error::NotFound, "no file system on the device path"));
            };
            // Secure Boot hashes the whole file before anything of it is
            // placed: read it into memory first.
            #[cfg(feature = "secure-boot")]
            if super::secureboot::enforcing() {
                let whole = fs::with_file(h, &file_path, |_, len, read| {
                    let mut buf = WholeFile::new(len).ok_or_else(|| {
                        fail(Error::OutOfResources, format_args!("no room to verify {len} bytes"))
                    })?;
                    read(0, buf.bytes()).map_err(|e| fail(Error::DeviceError, e))?;
                    Ok::<_, LoadFailure>(buf)
                })?;
                let mut whole = whole?;
                return finish(parent, path, device, file_path, from_buffer(whole.bytes())?);
            }
            let mut why = None;
            let loaded = fs::with_file(h, &file_path, |head, len, read| {
                let pe = PeImage::parse_headers(head, len).map_err(not_loadable)?;
                let (code, base, pages, dest) = place(&pe)?;
                let mut read = |offset: usize, out: &mut [u8]| match read(offset, out) {
                    Ok(()) => true,
                    Err(e) => {
                        why = Some(e);
                        false
                    }
                };
                if let Err(e) = pe.load_with(head, dest, base, &mut read) {
                    let _ = memory::with_map(|m| m.free(base, pages));
                    return Err(match why.take() {
                        Some(io) => fail(Error::DeviceError, format_args!("{e}: {io}")),
                        None => fail(Error::LoadError, e),
                    });
                }
                Ok((pe, base, pages, code))
            });
            loaded??
        }
    };
    finish(parent, path, device, file_path, (pe, base, pages, code))
}

/// A whole image file read for Secure Boot to hash, in pages from the
/// memory map rather than the heap (a UKI with its initrd is larger than
/// the heap); freed when dropped.
#[cfg(feature = "secure-boot")]
struct WholeFile {
    addr: u64,
    pages: u64,
    len: usize,
}

#[cfg(feature = "secure-boot")]
impl WholeFile {
    fn new(len: usize) -> Option<WholeFile> {
        let pages = (len as u64).div_ceil(PAGE_SIZE).max(1);
        let addr = memory::with_map(|m| {
            m.allocate(pages, PAGE_SIZE, Placement::Anywhere, MemoryType::BootServicesData).ok()
        })?;
        Some(WholeFile { addr, pages, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes of pages this buffer allocated and owns; the
        // borrow of `self` keeps any other view away.
        unsafe { memory::reserved_slice(self.addr, self.len) }
    }
}

#[cfg(feature = "secure-boot")]
impl Drop for WholeFile {
    fn drop(&mut self) {
        let _ = memory::with_map(|m| m.free(self.addr, self.pages));
    }
}

/// Verifies (Secure Boot) and places an image that is in memory.
fn from_buffer(bytes: &[u8]) -> core::result::Result<(PeImage, u64, u64, MemoryType), LoadFailure> {
    #[cfg(feature = "secure-boot")]
    {
        let t0 = crate::arch::counter();
        super::secureboot::check_image(bytes).map_err(|why| fail(Error::SecurityViolation, why))?;
        let ticks = crate::arch::counter().wrapping_sub(t0);
        log::debug!("secure boot: {} bytes verified in {ticks} counter ticks", bytes.len());
    }
    let pe = PeImage::parse(bytes).map_err(not_loadable)?;
    let (code, base, pages, dest) = place(&pe)?;
    if let Err(e) = pe.load_into(bytes, dest, base) {
        let _ = memory::with_map(|m| m.free(base, pages));
        return Err(fail(Error::LoadError, e));
    }
    Ok((pe, base, pages, code))
}

/// Creates the handle of an image `load` placed.
fn finish(
    parent: Option<Handle>,
    path: Option<&[u8]>,
    device: Option<Handle>,
    file_path: Vec<u8>,
    (pe, base, pages, code): (PeImage, u64, u64, MemoryType),
) -> core::result::Result<Handle, LoadFailure> {
    let data = match pe.subsystem() {
        Subsystem::EfiApplication => EfiMemoryType::LOADER_DATA,
        Subsystem::EfiBootServiceDriver => EfiMemoryType::BOOT_SERVICES_DATA,
        Subsystem::EfiRuntimeDriver => EfiMemoryType::RUNTIME_SERVICES_DATA,
    };
    let is_app = pe.subsystem() == Subsystem::EfiApplication;
    let size = u64::from(pe.size_of_image());
    let entry = base + u64::from(pe.entry_point_rva());

    let mut image = Image {
        handle: Handle(core::num::NonZeroUsize::MIN),
        base,
        pages,
        entry,
        loaded: Box::new(LoadedImageProtocol {
            revision: LOADED_IMAGE_REVISION,
            parent_handle: raw_opt_handle(parent),
            system_table: state::system_table() as *const SystemTable,
            device_handle: raw_opt_handle(device),
            file_path: core::ptr::null(),
            reserved: core::ptr::null(),
            load_options_size: 0,
            load_options: core::ptr::null(),
            image_base: base as *const c_void,
            image_size: size,
            image_code_type: RawMemoryType(vmfw_efi::memory::efi_type(code).0),
            image_data_type: RawMemoryType(data.0),
            unload: None,
        }),
        file_path,
        device_path: path.map(<[u8]>::to_vec),
        jump: Box::new(0),
        options: Vec::new(),
        started: false,
        exit_data: (0, 0),
        is_app,
    };
    image.loaded.file_path = image.file_path.as_ptr().cast();
    let loaded = &*image.loaded as *const LoadedImageProtocol as u64;
    let mut pairs = alloc::vec![(guid::LOADED_IMAGE, loaded)];
    if let Some(dp) = &image.device_path {
        pairs.push((guid::LOADED_IMAGE_DEVICE_PATH, dp.as_ptr() as u64));
    }
    let h = BOOT.with(|b| b.db.install_multiple_protocol_interfaces(None, &pairs, |_, _| false));
    let h = match h {
        Ok(h) => h,
        Err(e) => {
            let _ = memory::with_map(|m| m.free(base, pages));
            return Err(e.into());
        }
    };
    image.handle = h;
    log::debug!("LoadImage: handle {} at {base:#x}, {size} bytes, entry {entry:#x}", h.0);
    BOOT.with(|b| b.images.push(image));
    crate::progress::post(crate::progress::Code::UefiImageLoaded);
    Ok(h)
}

const END_PATH: [u8; 4] = [0x7f, 0xff, 4, 0];

/// Gives a loaded image its load options (a boot option's optional data).
pub fn set_load_options(h: Handle, options: Vec<u8>) {
    BOOT.with(|b| {
        if let Some(i) = b.images.iter_mut().find(|i| i.handle == h) {
            i.options = options;
            i.loaded.load_options =
                if i.options.is_empty() { core::ptr::null() } else { i.options.as_ptr().cast() };
            i.loaded.load_options_size = i.options.len() as u32;
        }
    });
}

/// Starts a loaded image; returns its exit status and exit data.
pub fn start(h: Handle) -> Result<(Status, (usize, u64))> {
    let (entry, jump) = BOOT.with(|b| {
        let i = b.images.iter_mut().find(|i| i.handle == h).ok_or(Error::InvalidParameter)?;
        if i.started {
            return Err(Error::InvalidParameter);
        }
        i.started = true;
        let jump: *mut u64 = &mut *i.jump;
        b.running.push(h);
        Ok((i.entry, jump))
    })?;
    crate::progress::post(crate::progress::Code::UefiStartImage);
    log::debug!("StartImage: busy={} so far", crate::progress::busy_so_far());
    // SAFETY: `entry` is the entry point of an image loaded and relocated
    // by `load`; it is called with the UEFI image entry signature, and
    // `jump` is a heap slot that outlives the call (the image's record is
    // only freed below).
    let st = unsafe { arch::efi_call::call_image(entry, h.0.get(), state::system_table(), jump) };
    let (unload, data) = BOOT.with(|b| {
        b.running.retain(|x| *x != h);
        b.images
            .iter()
            .find(|i| i.handle == h)
            .map_or((false, (0, 0)), |i| (i.is_app || Status(st).is_error(), i.exit_data))
    });
    if unload {
        let _ = free(h);
    }
    Ok((Status(st), data))
}

/// Frees an image: its memory and its handle's protocols.
fn free(h: Handle) -> Result<()> {
    let image = BOOT.with(|b| -> Result<Image> {
        let idx = b.images.iter().position(|i| i.handle == h).ok_or(Error::InvalidParameter)?;
        let image = b.images.remove(idx);
        let loaded = &*image.loaded as *const LoadedImageProtocol as u64;
        let _ = b.db.uninstall_protocol_interface(h, guid::LOADED_IMAGE, loaded);
        if let Some(dp) = &image.device_path {
            let _ = b.db.uninstall_protocol_interface(
                h,
                guid::LOADED_IMAGE_DEVICE_PATH,
                dp.as_ptr() as u64,
            );
        }
        Ok(image)
    })?;
    let _ = memory::with_map(|m| m.free(image.base, image.pages));
    Ok(())
}

/// True when `h` is a loaded image.
fn is_image(h: Handle) -> bool {
    BOOT.with(|b| b.images.iter().any(|i| i.handle == h))
}

// ---------------------------------------------------------------------
// The shims.

pub unsafe extern "efiapi" fn load_image(
    _boot_policy: Boolean,
    parent: RawHandle,
    path: *const DevicePathProtocol,
    source: *const u8,
    source_size: usize,
    image_handle: *mut RawHandle,
) -> Efi {
    status(load_image_impl(parent, path, source, source_size, image_handle))
}

fn load_image_impl(
    parent: RawHandle,
    path: *const DevicePathProtocol,
    source: *const u8,
    source_size: usize,
    image_handle: *mut RawHandle,
) -> Result<()> {
    let parent = handle(parent)?;
    if !is_image(parent) || image_handle.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: a device path the caller passed, or NULL.
    let dp = if path.is_null() { None } else { Some(unsafe { devpath::from_raw(path as u64) }?) };
    let src = if source.is_null() {
        if dp.is_none() {
            return Err(Error::NotFound);
        }
        Source::Path
    } else {
        // SAFETY: the caller's buffer of `source_size` bytes.
        Source::Buffer(unsafe { core::slice::from_raw_parts(source, source_size) })
    };
    let h = load(Some(parent), dp, src).map_err(|f| {
        log::debug!("LoadImage: {}", f.why);
        f.error
    })?;
    out(image_handle, raw_handle(h))
}

pub unsafe extern "efiapi" fn start_image(
    h: RawHandle,
    exit_size: *mut usize,
    exit_data: *mut *mut u16,
) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    match start(h) {
        Ok((st, (size, ptr))) => {
            if !exit_size.is_null() {
                let _ = out(exit_size, size);
                let _ = out(exit_data, ptr as *mut u16);
            }
            uefi_raw::Status(st.0)
        }
        Err(e) => err(e),
    }
}

pub unsafe extern "efiapi" fn exit(
    h: RawHandle,
    st: uefi_raw::Status,
    data_size: usize,
    data: *mut u16,
) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    let current = BOOT.with(|b| b.running.last().copied());
    if current != Some(h) {
        // Loaded but never started: Exit() unloads it (UEFI §7.4).
        let not_started = BOOT.with(|b| b.images.iter().any(|i| i.handle == h && !i.started));
        if not_started {
            return status(free(h));
        }
        return err(Error::InvalidParameter);
    }
    let saved = BOOT.with(|b| {
        b.images.iter_mut().find(|i| i.handle == h).map(|i| {
            i.exit_data = (data_size, data as u64);
            *i.jump
        })
    });
    let Some(saved) = saved else { return err(Error::InvalidParameter) };
    // SAFETY: `saved` is the stack pointer the trampoline recorded when it
    // started this image, still live because the image is running (its
    // StartImage() has not returned). Everything between is the image's
    // frames and this shim, which holds no lock and nothing to drop at
    // this point.
    unsafe { arch::efi_call::exit_image(saved, st.0) }
}

pub unsafe extern "efiapi" fn unload_image(h: RawHandle) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    let info = BOOT
        .with(|b| b.images.iter().find(|i| i.handle == h).map(|i| (i.started, i.loaded.unload)));
    match info {
        None => err(Error::InvalidParameter),
        Some((false, _)) => status(free(h)),
        Some((true, None)) => err(Error::Unsupported),
        Some((true, Some(f))) => {
            // SAFETY: the image's own Unload function (UEFI §9.1).
            let st = unsafe { f(raw_handle(h)) };
            if from_raw(st).is_error() {
                return st;
            }
            status(free(h))
        }
    }
}
