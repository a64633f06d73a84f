//! The Linux x86 boot protocol for the native path (Linux
//! `Documentation/arch/x86/boot.rst`): a bzImage's protected-mode part
//! loaded where its setup header allows, the initrds and the command line
//! below their limits, and the zero page with the E820 map last.

use crate::disks::Fs;
use crate::memory;
use crate::native::{self, Error, Prepared, Taken};
use crate::progress::{self, Code, Phase};
use alloc::vec::Vec;
use vmfw_bls::Entry;
use vmfw_bytes::Quoted;
use vmfw_linux::{SetupHeader, ZeroPage};
use vmfw_platform::Platform;

/// This protocol's refusals are all `native::Error`'s own variants.
pub type ProtocolError = core::convert::Infallible;

/// The BLS `architecture` value entries for this kernel protocol carry.
pub const BLS_ARCH: vmfw_bls::Arch = vmfw_bls::Arch::X64;

/// Most of a bzImage read to find and check its setup header (the real-mode
/// part is at most 64 sectors of setup in practice, 32 KiB in the spec's
/// worst case, plus the boot sector).
const HEADER_READ: usize = 64 * 1024;

pub fn prepare(
    fs: &mut Fs,
    entry: &Entry,
    cmdline: &str,
    platform: &Platform,
    taken: &mut Taken,
) -> Result<Prepared, Error> {
    let linux = entry.linux().ok_or(Error::NoLinux)?;
    let mut kfile = fs.open(linux).map_err(|e| Error::file(linux, e))?;
    let ksize = kfile.size();
    let mut head = alloc::vec![0u8; HEADER_READ.min(ksize as usize)];
    fs.read_at(&mut kfile, 0, &mut head).map_err(|e| Error::file(linux, e))?;
    let hdr = SetupHeader::parse(&head).map_err(|e| Error::kernel(linux, e))?;
    let setup = hdr.setup_size();
    let pm_len = hdr.protected_mode_len(ksize).map_err(|e| Error::kernel(linux, e))?;

    let kernel = memory::with_map(|m| vmfw_linux::load_kernel_plan(&hdr, ksize, m))
        .map_err(|e| Error::kernel(linux, e))?;
    taken.add(kernel.addr(), kernel.size());
    let pm_len = usize::try_from(pm_len).map_err(|_| Error::TooLarge("kernel"))?;
    // SAFETY: the kernel's range was just reserved for this attempt, and
    // its size is at least the protected-mode part (load_kernel_plan).
    let dst = unsafe { memory::reserved_slice(kernel.addr(), pm_len) };
    let n = fs.read_at(&mut kfile, setup, dst).map_err(|e| Error::file(linux, e))?;
    if n != pm_len {
        return Err(Error::ShortRead { path: linux.into(), got: n, want: pm_len });
    }
    progress::post(Code::NativeKernel);

    let mut zp = ZeroPage::new(&hdr);
    zp.set_kernel(&kernel);
    let initrd = native::load_initrds(fs, entry, taken, |total| {
        memory::with_map(|m| vmfw_linux::load_initrd_plan(&hdr, total, m)).map_err(Error::Initrd)
    })?;
    if let Some((addr, total)) = initrd {
        zp.set_initrd(addr, total).map_err(Error::Initrd)?;
    }
    // The files are in place: what follows is the handoff's.
    progress::post(Code::NativeInitrd);
    progress::mark(Phase::Files);

    crate::info!("kernel command line: {}", Quoted(cmdline));
    let params = memory::with_map(|m| vmfw_linux::load_params_plan(&hdr, cmdline.len() as u64, m))
        .map_err(Error::CommandLine)?;
    taken.add(params.zero_page, params.size);
    // SAFETY: reserved just now: the command line area follows the zero
    // page and has room for the line and its NUL.
    let line = unsafe { memory::reserved_slice(params.cmdline, cmdline.len() + 1) };
    line[..cmdline.len()].copy_from_slice(cmdline.as_bytes());
    line[cmdline.len()] = 0;
    zp.set_cmdline(params.cmdline, cmdline.len() as u64).map_err(Error::CommandLine)?;
    if let Some(rsdp) = platform.rsdp {
        zp.set_acpi_rsdp(rsdp);
    }
    // The memory map last, after every allocation above.
    memory::with_map(|m| zp.set_e820(m)).map_err(Error::E820)?;
    // SAFETY: the zero page's first 4 KiB of the reservation above.
    let page = unsafe { memory::reserved_slice(params.zero_page, 4096) };
    page.copy_from_slice(zp.as_bytes());
    Ok(Prepared { entry: kernel.entry_64(), param: params.zero_page, loaded: Vec::new() })
}
