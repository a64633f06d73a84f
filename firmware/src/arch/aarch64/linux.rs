//! The arm64 Linux boot protocol for the native path (Linux
//! `Documentation/arch/arm64/booting.rst`): the `Image` at a 2 MiB-aligned
//! base plus its `text_offset` with room to its `image_size`, the initrds
//! in the same 32 GiB window, and a copy of the VMM's device tree with
//! `/chosen` set (`bootargs`, `linux,initrd-start`/`-end`).
//!
//! The kernel file may be a raw `Image`, Debian's gzip-compressed
//! `vmlinuz`, or an EFI zboot image (a PE whose payload is compressed)
//! with a gzip payload; both are inflated straight into the kernel's
//! place. A zboot image with another compression is left to the UEFI path
//! (its own EFI stub unpacks it). The kernel learns about RAM from the
//! device tree's memory nodes, as the VMM wrote them: everything the
//! firmware used is free again once it jumps, but for what the kernel,
//! initrd and tree occupy, which the kernel knows.

use crate::disks::Fs;
use crate::memory;
use crate::native::{self, Prepared, Taken};
use crate::progress::{self, Code, Phase};
use alloc::string::ToString;
use alloc::vec::Vec;
use vmfw_bls::Entry;
use vmfw_linux::arm64::{self, ImageHeader, HEADER_LEN};
use vmfw_linux::{gzip, zboot};
use vmfw_memmap::{MemoryType, Placement, PAGE_SIZE};
use vmfw_platform::Platform;

/// The BLS `architecture` value entries for this kernel protocol carry.
pub const BLS_ARCH: vmfw_bls::Arch = vmfw_bls::Arch::Aa64;

/// What this kernel protocol refuses (`native::Error::Protocol`).
/// (A kernel that cannot be booted is `native::Error::Kernel`.)
pub enum ProtocolError {
    /// An EFI zboot image with a payload only its own EFI stub unpacks.
    ZbootOther(alloc::string::String),
    /// The device tree for the kernel could not be built.
    DeviceTree(vmfw_fdt::Error),
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::ZbootOther(c) => {
                write!(f, "EFI zboot image with a {c} payload: left to the UEFI path")
            }
            ProtocolError::DeviceTree(e) => write!(f, "device tree: {e}"),
        }
    }
}

fn protocol(path: &str, error: ProtocolError) -> native::Error {
    native::Error::Protocol { path: path.to_string(), error }
}

/// Room added to the VMM's device tree for the new `/chosen` properties.
const DT_SLACK: usize = 4096;

/// A page-granular scratch buffer from the memory map (the compressed
/// kernel), given back on drop.
struct Scratch {
    addr: u64,
    pages: u64,
    len: usize,
}

impl Scratch {
    fn new(len: usize) -> Result<Self, native::Error> {
        let pages = (len as u64).div_ceil(PAGE_SIZE).max(1);
        let addr = memory::with_map(|m| {
            m.allocate(pages, PAGE_SIZE, Placement::Anywhere, MemoryType::FirmwareData)
        })
        .map_err(|_| native::Error::NoMemory("compressed kernel"))?;
        Ok(Self { addr, pages, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: allocated above for this buffer alone, `len` bytes fit
        // in its pages, freed only on drop.
        unsafe { memory::reserved_slice(self.addr, self.len) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = memory::with_map(|m| m.free(self.addr, self.pages));
    }
}

/// Places the kernel per `header` and returns where it went.
fn place(
    header: &ImageHeader,
    file_len: u64,
    path: &str,
    taken: &mut Taken,
) -> Result<arm64::ImagePlacement, native::Error> {
    let image = |e| native::Error::kernel(path, e);
    let plan = header.plan(file_len).map_err(image)?;
    let placed = memory::with_map(|m| arm64::load_image_plan(&plan, m)).map_err(image)?;
    taken.add(placed.base(), placed.size());
    Ok(placed)
}

/// The kernel slot: `span` bytes at the load address.
fn slot(placed: &arm64::ImagePlacement) -> Result<&'static mut [u8], native::Error> {
    let len = usize::try_from(placed.span()).map_err(|_| native::Error::TooLarge("kernel"))?;
    // SAFETY: `place` reserved `[base, base + size)` for this attempt,
    // and the load address plus `span` lies within it.
    Ok(unsafe { memory::reserved_slice(placed.load_addr(), len) })
}

/// Inflates the gzip stream `data` into its place.
fn inflate(
    data: &[u8],
    path: &str,
    taken: &mut Taken,
) -> Result<arm64::ImagePlacement, native::Error> {
    let gz_err = |e: gzip::Error| native::Error::kernel(path, e.into());
    let gz = gzip::Gzip::parse(data).map_err(gz_err)?;
    let mut head = [0u8; HEADER_LEN];
    let n = gz.peek(&mut head).map_err(gz_err)?;
    let header = ImageHeader::parse(&head[..n]).map_err(|e| native::Error::kernel(path, e))?;
    // The inflated length is known only afterwards: plan for the header's
    // image_size (checked against the real length below).
    let placed = place(&header, u64::from(gz.size_hint().unwrap_or(0)), path, taken)?;
    let out = gz.inflate_into(slot(&placed)?).map_err(gz_err)?;
    log::debug!("{path}: inflated {} bytes of gzip into {} bytes", data.len(), out.len);
    Ok(placed)
}

/// Loads the entry's kernel, initrds and device tree.
pub fn prepare(
    fs: &mut Fs,
    entry: &Entry,
    cmdline: &str,
    platform: &Platform,
    taken: &mut Taken,
) -> Result<Prepared, native::Error> {
    let linux = entry.linux().ok_or(native::Error::NoLinux)?;
    let mut kfile = fs.open(linux).map_err(|e| native::Error::file(linux, e))?;
    let ksize = kfile.size();
    let mut head = [0u8; HEADER_LEN];
    let n = fs.read_at(&mut kfile, 0, &mut head).map_err(|e| native::Error::file(linux, e))?;
    let head = &head[..n];

    let placed = if gzip::is_gzip(head) || zboot::is_zboot(head) {
        // Compressed: read the whole file, then inflate it into place.
        let len = usize::try_from(ksize).map_err(|_| native::Error::TooLarge("kernel"))?;
        let mut scratch = Scratch::new(len)?;
        let buf = scratch.bytes();
        let got = fs.read_at(&mut kfile, 0, buf).map_err(|e| native::Error::file(linux, e))?;
        if got != len {
            return Err(native::Error::ShortRead { path: linux.into(), got, want: len });
        }
        if gzip::is_gzip(buf) {
            inflate(buf, linux, taken)?
        } else {
            let z = zboot::Zboot::parse(buf).map_err(|e| native::Error::kernel(linux, e.into()))?;
            match z.compression() {
                zboot::Compression::Gzip => inflate(z.payload(), linux, taken)?,
                zboot::Compression::Other(c) => {
                    return Err(protocol(linux, ProtocolError::ZbootOther(c.into())))
                }
            }
        }
    } else {
        let header = ImageHeader::parse(head).map_err(|e| native::Error::kernel(linux, e))?;
        let placed = place(&header, ksize, linux, taken)?;
        let len = usize::try_from(ksize).map_err(|_| native::Error::TooLarge("kernel"))?;
        let dst = slot(&placed)?.get_mut(..len).ok_or(native::Error::TooLarge("kernel"))?;
        let got = fs.read_at(&mut kfile, 0, dst).map_err(|e| native::Error::file(linux, e))?;
        if got != len {
            return Err(native::Error::ShortRead { path: linux.into(), got, want: len });
        }
        placed
    };
    progress::post(Code::NativeKernel);
    let kernel = (placed.load_addr(), placed.span());

    // The initrds anywhere in RAM (high, as the allocator prefers), but in
    // the kernel's 32 GiB window.
    let initrd = native::load_initrds(fs, entry, taken, |total| {
        let pages = total.div_ceil(PAGE_SIZE);
        let addr = memory::with_map(|m| {
            m.allocate(pages, PAGE_SIZE, Placement::Anywhere, MemoryType::LoaderData)
        })
        .map_err(|_| native::Error::NoMemory("initrd"))?;
        if !arm64::initrd_window_ok(kernel, (addr, total)) {
            let _ = memory::with_map(|m| m.free(addr, pages));
            return Err(native::Error::NoMemory("initrd within 32 GiB of the kernel"));
        }
        Ok(addr)
    })?;
    progress::post(Code::NativeInitrd);
    progress::mark(Phase::Files);

    crate::info!("kernel command line: {}", vmfw_bytes::Quoted(cmdline));
    // The device tree: the VMM's, with /chosen set for this boot.
    let blob = crate::devtree::blob(platform).ok_or(native::Error::NoMemory("device tree"))?;
    let fdt = vmfw_fdt::Fdt::new(blob).map_err(|e| protocol("", ProtocolError::DeviceTree(e)))?;
    let chosen = vmfw_fdt::Chosen {
        bootargs: Some(cmdline),
        initrd: initrd.map(|(a, n)| (a, a + n)),
        memreserve: &[],
    };
    let tree = vmfw_fdt::with_chosen(&fdt, &chosen, blob.len() + cmdline.len() + DT_SLACK)
        .map_err(|e| protocol("", ProtocolError::DeviceTree(e)))?;
    let dt_len = tree.len() as u64;
    let dt_addr = memory::with_map(|m| {
        m.allocate(
            dt_len.div_ceil(PAGE_SIZE),
            PAGE_SIZE,
            Placement::Anywhere,
            MemoryType::LoaderData,
        )
    })
    .map_err(|_| native::Error::NoMemory("device tree"))?;
    taken.add(dt_addr, dt_len);
    if !arm64::dtb_placement_ok(dt_addr, dt_len) {
        return Err(native::Error::TooLarge("device tree"));
    }
    // SAFETY: reserved just now for the tree, `dt_len` bytes long.
    unsafe { memory::reserved_slice(dt_addr, tree.len()) }.copy_from_slice(&tree);

    let mut loaded = Vec::with_capacity(3);
    loaded.push(kernel);
    loaded.extend(initrd);
    loaded.push((dt_addr, dt_len));
    Ok(Prepared { entry: placed.load_addr(), param: dt_addr, loaded })
}
