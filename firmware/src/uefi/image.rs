//! Image services: `LoadImage()`, `StartImage()`, `Exit()`,
//! `UnloadImage()` (UEFI §7.4) and the Loaded Image protocols (§9).
//!
//! `StartImage()` calls the entry point through a small assembly
//! trampoline that saves the firmware's callee-saved registers and stack
//! pointer; `Exit()` from anywhere inside the image (or an image it
//! started) restores them, so control comes back out of the caller's
//! `StartImage()` with the exit status, as the specification requires.

use super::abi::guid;
use super::boot::{err, handle, out, status, Efi, CORE};
use super::global::Global;
use super::{devpath, fs};
use crate::memory;
use alloc::boxed::Box;
use alloc::vec::Vec;
use vmfw_efi::handles::Handle;
use vmfw_efi::memory::EfiMemoryType;
use vmfw_efi::{Error, Result, Status};
use vmfw_memmap::{MemoryType, Placement, PAGE_SIZE};
use vmfw_pe::{Machine, PeImage, Subsystem};

/// `EFI_LOADED_IMAGE_PROTOCOL` (UEFI §9.1).
#[repr(C)]
pub struct LoadedImage {
    pub revision: u32,
    pub parent_handle: usize,
    pub system_table: u64,
    pub device_handle: usize,
    pub file_path: u64,
    pub reserved: u64,
    pub load_options_size: u32,
    pub load_options: u64,
    pub image_base: u64,
    pub image_size: u64,
    pub image_code_type: u32,
    pub image_data_type: u32,
    pub unload: usize,
}

/// One loaded image.
struct Image {
    handle: Handle,
    base: u64,
    pages: u64,
    entry: u64,
    loaded: Box<LoadedImage>,
    /// The paths the protocols point at.
    file_path: Vec<u8>,
    device_path: Option<Vec<u8>>,
    /// Where the trampoline saved the stack pointer while the image runs.
    jump: Box<u64>,
    /// The load options the boot manager gave the image.
    options: Vec<u8>,
    started: bool,
    exit_data: (usize, u64),
    is_app: bool,
}

static IMAGES: Global<Vec<Image>> = Global::new();

/// The images currently running, innermost last.
static RUNNING: Global<Vec<Handle>> = Global::new();

/// Sets up the image table with the firmware's own image.
pub fn init() -> Result<()> {
    IMAGES.set(Vec::new());
    RUNNING.set(Vec::new());
    let h = register_firmware_image()?;
    FIRMWARE.call_once(|| h);
    Ok(())
}

core::arch::global_asm!(
    // u64 vmfw_call_image(entry, handle, system_table, *saved_rsp)
    // (System V: rdi, rsi, rdx, rcx). Calls entry(handle, system_table)
    // with the MS x64 convention.
    ".pushsection .text.vmfw_call_image, \"ax\", @progbits",
    ".global vmfw_call_image",
    "vmfw_call_image:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rcx], rsp",
    "mov rax, rdi",
    "mov rcx, rsi",
    // rdx already holds the system table. Six pushes and the return
    // address leave rsp 8 off 16-byte alignment: 32 bytes of home area
    // plus 8 align the call.
    "sub rsp, 40",
    "call rax",
    "add rsp, 40",
    "vmfw_image_return:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    // ! vmfw_exit_image(saved_rsp, status) (System V: rdi, rsi)
    ".global vmfw_exit_image",
    "vmfw_exit_image:",
    "mov rsp, rdi",
    "mov rax, rsi",
    "jmp vmfw_image_return",
    ".popsection",
);

extern "C" {
    fn vmfw_call_image(entry: u64, handle: usize, system_table: u64, saved_rsp: *mut u64) -> usize;
    fn vmfw_exit_image(saved_rsp: u64, status: usize) -> !;
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
    let (device, file_path): (usize, Vec<u8>) = match (&located, path) {
        (Some((h, rest)), Some(p)) => (h.0.get(), p.get(*rest..).unwrap_or(&[]).to_vec()),
        (None, Some(p)) => (0, p.to_vec()),
        _ => (0, END_PATH.to_vec()),
    };
    let file_buf;
    let bytes: &[u8] = match source {
        Source::Buffer(b) => b,
        Source::Path => {
            let Some((h, _)) = located else {
                return Err(fail(Error::NotFound, "no file system on the device path"));
            };
            file_buf = fs::read_path(h, &file_path)?;
            &file_buf
        }
    };
    let pe = PeImage::parse(bytes)
        .map_err(|e| fail(Error::LoadError, format_args!("not a loadable PE32+ image: {e}")))?;
    if pe.machine() != Machine::X86_64 {
        let why = format_args!("the image is for {:?}, not x86_64", pe.machine());
        return Err(fail(Error::Unsupported, why));
    }
    let (code, data, is_app) = match pe.subsystem() {
        Subsystem::EfiApplication => (MemoryType::LoaderCode, EfiMemoryType::LOADER_DATA, true),
        Subsystem::EfiBootServiceDriver => {
            (MemoryType::BootServicesCode, EfiMemoryType::BOOT_SERVICES_DATA, false)
        }
        Subsystem::EfiRuntimeDriver => {
            (MemoryType::RuntimeServicesCode, EfiMemoryType::RUNTIME_SERVICES_DATA, false)
        }
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
    // SAFETY: `pages` pages just allocated for this image.
    let all = unsafe { memory::reserved_slice(base, (pages * PAGE_SIZE) as usize) };
    let (dest, tail) = all.split_at_mut(size as usize);
    tail.fill(0);
    if let Err(e) = pe.load_into(bytes, dest, base) {
        let _ = memory::with_map(|m| m.free(base, pages));
        return Err(fail(Error::LoadError, e));
    }
    let entry = base + u64::from(pe.entry_point_rva());

    let mut image = Image {
        handle: Handle(core::num::NonZeroUsize::MIN),
        base,
        pages,
        entry,
        loaded: Box::new(LoadedImage {
            revision: 0x1000,
            parent_handle: parent.map_or(0, |h| h.0.get()),
            system_table: super::system_table(),
            device_handle: device,
            file_path: 0,
            reserved: 0,
            load_options_size: 0,
            load_options: 0,
            image_base: base,
            image_size: size,
            image_code_type: vmfw_efi::memory::efi_type(code).0,
            image_data_type: data.0,
            unload: 0,
        }),
        file_path,
        device_path: path.map(<[u8]>::to_vec),
        jump: Box::new(0),
        options: Vec::new(),
        started: false,
        exit_data: (0, 0),
        is_app,
    };
    image.loaded.file_path = image.file_path.as_ptr() as u64;
    let loaded = &*image.loaded as *const LoadedImage as u64;
    let mut pairs = alloc::vec![(guid::LOADED_IMAGE, loaded)];
    if let Some(dp) = &image.device_path {
        pairs.push((guid::LOADED_IMAGE_DEVICE_PATH, dp.as_ptr() as u64));
    }
    let h = CORE.with(|c| c.db.install_multiple_protocol_interfaces(None, &pairs, |_, _| false));
    let h = match h {
        Ok(h) => h,
        Err(e) => {
            let _ = memory::with_map(|m| m.free(base, pages));
            return Err(e.into());
        }
    };
    image.handle = h;
    log::debug!("LoadImage: handle {} at {base:#x}, {size} bytes, entry {entry:#x}", h.0);
    IMAGES.with(|v| v.push(image));
    Ok(h)
}

const END_PATH: [u8; 4] = [0x7f, 0xff, 4, 0];

/// Gives a loaded image its load options (a boot option's optional data).
pub fn set_load_options(h: Handle, options: Vec<u8>) {
    IMAGES.with(|v| {
        if let Some(i) = v.iter_mut().find(|i| i.handle == h) {
            i.options = options;
            i.loaded.load_options =
                if i.options.is_empty() { 0 } else { i.options.as_ptr() as u64 };
            i.loaded.load_options_size = i.options.len() as u32;
        }
    });
}

/// Starts a loaded image; returns its exit status and exit data.
pub fn start(h: Handle) -> Result<(Status, (usize, u64))> {
    let (entry, jump) = IMAGES.with(|v| {
        let i = v.iter_mut().find(|i| i.handle == h).ok_or(Error::InvalidParameter)?;
        if i.started {
            return Err(Error::InvalidParameter);
        }
        i.started = true;
        Ok((i.entry, &mut *i.jump as *mut u64))
    })?;
    RUNNING.with(|r| r.push(h));
    // SAFETY: `entry` is the entry point of an image loaded and relocated
    // by `load`; it is called with the UEFI image entry signature, and
    // `jump` is a heap slot that outlives the call.
    let st = unsafe { vmfw_call_image(entry, h.0.get(), super::system_table(), jump) };
    RUNNING.with(|r| r.retain(|x| *x != h));
    let (unload, data) = IMAGES.with(|v| {
        v.iter()
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
    let image = IMAGES.with(|v| -> Result<Image> {
        let idx = v.iter().position(|i| i.handle == h).ok_or(Error::InvalidParameter)?;
        Ok(v.remove(idx))
    })?;
    let loaded = &*image.loaded as *const LoadedImage as u64;
    CORE.with(|c| {
        let _ = c.db.uninstall_protocol_interface(h, guid::LOADED_IMAGE, loaded);
        if let Some(dp) = &image.device_path {
            let _ = c.db.uninstall_protocol_interface(
                h,
                guid::LOADED_IMAGE_DEVICE_PATH,
                dp.as_ptr() as u64,
            );
        }
    });
    let _ = memory::with_map(|m| m.free(image.base, image.pages));
    Ok(())
}

/// True when `h` is a loaded image.
pub fn is_image(h: Handle) -> bool {
    IMAGES.with(|v| v.iter().any(|i| i.handle == h))
}

// ---------------------------------------------------------------------
// The shims.

pub extern "efiapi" fn load_image(
    _boot_policy: u8,
    parent: usize,
    path: u64,
    source: *const u8,
    source_size: usize,
    image_handle: *mut usize,
) -> Efi {
    let r = (|| {
        let parent = handle(parent)?;
        if !is_image(parent) || image_handle.is_null() {
            return Err(Error::InvalidParameter);
        }
        // SAFETY: a device path the caller passed, or NULL.
        let dp = if path == 0 { None } else { Some(unsafe { devpath::from_raw(path) }?) };
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
        out(image_handle, h.0.get())
    })();
    status(r)
}

pub extern "efiapi" fn start_image(h: usize, exit_size: *mut usize, exit_data: *mut u64) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    match start(h) {
        Ok((st, (size, ptr))) => {
            if !exit_size.is_null() {
                let _ = out(exit_size, size);
                let _ = out(exit_data, ptr);
            }
            st.0
        }
        Err(e) => err(e),
    }
}

pub extern "efiapi" fn exit(h: usize, st: usize, data_size: usize, data: u64) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    let current = RUNNING.with(|r| r.last().copied());
    if current != Some(h) {
        // Loaded but never started: Exit() unloads it (UEFI §7.4).
        let not_started = IMAGES.with(|v| v.iter().any(|i| i.handle == h && !i.started));
        if not_started {
            return status(free(h));
        }
        return err(Error::InvalidParameter);
    }
    let saved = IMAGES.with(|v| {
        v.iter_mut().find(|i| i.handle == h).map(|i| {
            i.exit_data = (data_size, data);
            *i.jump
        })
    });
    let Some(saved) = saved else { return err(Error::InvalidParameter) };
    // SAFETY: `saved` is the stack pointer `vmfw_call_image` recorded when
    // it started this image, still live because the image is running
    // (its StartImage() has not returned). Everything between is the
    // image's frames and this shim, which holds no lock and nothing to
    // drop at this point.
    unsafe { vmfw_exit_image(saved, st) }
}

pub extern "efiapi" fn unload_image(h: usize) -> Efi {
    let Ok(h) = handle(h) else { return err(Error::InvalidParameter) };
    let info =
        IMAGES.with(|v| v.iter().find(|i| i.handle == h).map(|i| (i.started, i.loaded.unload)));
    match info {
        None => err(Error::InvalidParameter),
        Some((false, _)) => status(free(h)),
        Some((true, 0)) => err(Error::Unsupported),
        Some((true, f)) => {
            // SAFETY: the image's own Unload function (UEFI §9.1).
            let st = unsafe {
                let f: extern "efiapi" fn(usize) -> usize = core::mem::transmute(f);
                f(h.0.get())
            };
            if Status(st).is_error() {
                return st;
            }
            status(free(h))
        }
    }
}

static FIRMWARE: spin::Once<Handle> = spin::Once::new();

/// The firmware's own image handle: the parent of the boot options it
/// loads. Created by [`init`].
pub fn firmware_handle() -> Handle {
    *FIRMWARE.get().expect("UEFI images used before init")
}

fn register_firmware_image() -> Result<Handle> {
    let (start, end) = memory::image_range();
    let loaded = Box::new(LoadedImage {
        revision: 0x1000,
        parent_handle: 0,
        system_table: super::system_table(),
        device_handle: 0,
        file_path: END_PATH.as_ptr() as u64,
        reserved: 0,
        load_options_size: 0,
        load_options: 0,
        image_base: start,
        image_size: end - start,
        image_code_type: EfiMemoryType::RUNTIME_SERVICES_CODE.0,
        image_data_type: EfiMemoryType::RUNTIME_SERVICES_DATA.0,
        unload: 0,
    });
    let addr = &*loaded as *const LoadedImage as u64;
    let h = CORE.with(|c| c.db.install_protocol_interface(None, guid::LOADED_IMAGE, addr))?;
    IMAGES.with(|v| {
        v.push(Image {
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
        })
    });
    Ok(h)
}
