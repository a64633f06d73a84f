//! Where the kernel, its initrd and its boot parameters go in guest RAM.
//!
//! The kernel (boot.rst, `pref_address`, `kernel_alignment`,
//! `min_alignment`, `init_size`): the decompressor runs at the *runtime
//! start address*, `align_up(load address, kernel_alignment)` but never
//! below `pref_address` (`LOAD_PHYSICAL_ADDR`; the 64-bit entry code in
//! `arch/x86/boot/compressed/head_64.S` clamps to it), and needs `init_size`
//! bytes from there. vmfw therefore only ever loads the kernel at an
//! address that is at or above `pref_address` and aligned to the alignment
//! it writes into the zero page's `kernel_alignment`; then the runtime start
//! *is* the load address and one reservation of `init_size` bytes (or the
//! file's protected-mode part, if that is larger) covers everything the
//! kernel touches before it reads the E820 map.
//!
//! Order of preference: exactly `pref_address`; else (relocatable kernels
//! only) the lowest free range above it aligned to `kernel_alignment`, then
//! to each smaller power of two down to `min_alignment` (boot.rst: "a loader
//! should typically try each power-of-two alignment from kernel_alignment
//! down to this alignment"). The kernel always stays below 4 GiB, even with
//! `XLF_CAN_BE_LOADED_ABOVE_4G`: `code32_start` is 32 bits wide, every VMM
//! leaves far more than `init_size` of RAM below 4 GiB, and KASLR moves the
//! kernel higher on its own if it wants to.
//!
//! The initrd: as high as possible with its last byte at or below
//! `initrd_addr_max` (and 4 GiB); if that fails and the kernel sets
//! `XLF_CAN_BE_LOADED_ABOVE_4G`, the lowest fit above that limit (which may
//! be above 4 GiB).
//!
//! The zero page and command line: one allocation, high below 4 GiB, or
//! anywhere (still preferring below 4 GiB) with `XLF_CAN_BE_LOADED_ABOVE_4G`.
//!
//! Every reservation is of type [`MemoryType::LoaderData`], which the E820
//! table shows as RAM: the kernel protects what it still needs itself.

use vmfw_memmap::{MemoryMap, MemoryType, Placement, PAGE_SIZE};

use crate::zeropage as zp;
use crate::{Error, SetupHeader};

/// 4 GiB: the end of what 32-bit header fields can address.
pub const FOUR_GIB: u64 = 1 << 32;

/// `x` rounded up to whole pages, or `None` if that wraps.
fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// What the kernel needs from the page allocator, before any allocation:
/// the result of [`plan_kernel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlan {
    /// `pref_address`: tried first, and the lowest address considered.
    pub pref_address: u64,
    /// Bytes to reserve from the load address: `init_size` or the
    /// protected-mode part of the file, whichever is larger, in whole pages.
    pub size: u64,
    /// Preferred alignment: `kernel_alignment`, at least a page.
    pub alignment: u64,
    /// Smallest acceptable alignment: `1 << min_alignment`, at least a page
    /// and at most [`KernelPlan::alignment`].
    pub min_alignment: u64,
    /// Whether any address but `pref_address` will do.
    pub relocatable: bool,
    /// The reservation must end at or below this address (4 GiB).
    pub limit: u64,
}

/// Where [`load_kernel_plan`] put the kernel. Only the planner makes one,
/// so its address is below 4 GiB and aligned to its alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlacement {
    addr: u64,
    size: u64,
    alignment: u32,
}

impl KernelPlacement {
    /// Load address: copy the protected-mode part of the file here.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Bytes reserved at [`KernelPlacement::addr`] (whole pages).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The alignment the kernel was placed with, which the zero page's
    /// `kernel_alignment` must say (see [`ZeroPage::set_kernel`](crate::ZeroPage::set_kernel)).
    pub fn alignment(&self) -> u32 {
        self.alignment
    }

    /// The 64-bit entry point: load address + 0x200.
    pub fn entry_64(&self) -> u64 {
        // The reservation is at least a page and ends below 4 GiB.
        self.addr.saturating_add(zp::ENTRY_64_OFFSET)
    }
}

/// Where [`load_params_plan`] put the zero page and the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamsPlacement {
    /// Address of the zero page (one page; pass it in `rsi`).
    pub zero_page: u64,
    /// Address of the command line, right after the zero page; it has room
    /// for the requested length plus a NUL.
    pub cmdline: u64,
    /// Bytes reserved from [`ParamsPlacement::zero_page`] (whole pages).
    pub size: u64,
}

/// The kernel's placement constraints for a kernel file of `image_len`
/// bytes (checked against the header first, see
/// [`SetupHeader::protected_mode_len`]).
pub fn plan_kernel(hdr: &SetupHeader, image_len: u64) -> Result<KernelPlan, Error> {
    let kernel_len = hdr.protected_mode_len(image_len)?;
    let need = kernel_len.max(u64::from(hdr.init_size()));
    let size = page_up(need).ok_or(Error::NoRoomForKernel { size: need })?;
    let alignment = u64::from(hdr.kernel_alignment()).max(PAGE_SIZE);
    let min_alignment = u64::from(hdr.min_alignment()).clamp(PAGE_SIZE, alignment);
    Ok(KernelPlan {
        pref_address: hdr.pref_address(),
        size,
        alignment,
        min_alignment,
        relocatable: hdr.relocatable(),
        limit: FOUR_GIB,
    })
}

/// Reserves the kernel's range in `map` (see the module docs for the
/// order of preference) for a kernel file of `image_len` bytes.
///
/// Fails with [`Error::KernelAddressTaken`] for a non-relocatable kernel
/// whose `pref_address` range is not free, [`Error::NoRoomForKernel`] when
/// nothing fits, or [`Error::Memory`] when the map cannot record the
/// reservation. On failure the map holds the same ranges as before (a
/// trial allocation above 4 GiB is given back).
pub fn load_kernel_plan(
    hdr: &SetupHeader,
    image_len: u64,
    map: &mut MemoryMap,
) -> Result<KernelPlacement, Error> {
    let plan = plan_kernel(hdr, image_len)?;
    let pages = plan.size / PAGE_SIZE;
    let placed = |addr: u64, alignment: u64| -> Option<KernelPlacement> {
        let end = addr.checked_add(plan.size)?;
        (end <= plan.limit).then_some(KernelPlacement {
            addr,
            size: plan.size,
            alignment: u32::try_from(alignment).ok()?,
        })
    };

    // The preferred address: the runtime start is then the load address
    // whenever pref_address is aligned to what the zero page will say.
    let pref_ok = !plan.relocatable || plan.pref_address.is_multiple_of(plan.alignment);
    if let (true, Some(p)) = (pref_ok, placed(plan.pref_address, plan.alignment)) {
        match map.allocate_at(p.addr, pages, MemoryType::LoaderData) {
            Ok(()) => return Ok(p),
            Err(vmfw_memmap::Error::MapFull) => return Err(vmfw_memmap::Error::MapFull.into()),
            Err(_) => {}
        }
    }
    if !plan.relocatable {
        return Err(Error::KernelAddressTaken(plan.pref_address));
    }

    let mut align = plan.alignment;
    loop {
        match map.allocate(
            pages,
            align,
            Placement::Above(plan.pref_address),
            MemoryType::LoaderData,
        ) {
            Ok(addr) => match placed(addr, align) {
                Some(p) => return Ok(p),
                // The lowest fit at this alignment is above 4 GiB: give it
                // back and try a smaller alignment, which may fit lower.
                None => map.free(addr, pages)?,
            },
            Err(vmfw_memmap::Error::OutOfMemory) => {}
            Err(e) => return Err(e.into()),
        }
        if align <= plan.min_alignment {
            return Err(Error::NoRoomForKernel { size: plan.size });
        }
        align /= 2;
    }
}

/// Reserves `len` bytes for the initrd (several initrd files are loaded
/// back to back into one reservation; pad each to 4 bytes, as the kernel's
/// cpio reader expects) and returns its address.
///
/// Highest fit whose last byte is at or below
/// [`SetupHeader::initrd_addr_max`]; failing that, with
/// `XLF_CAN_BE_LOADED_ABOVE_4G`, the lowest fit above that limit.
pub fn load_initrd_plan(hdr: &SetupHeader, len: u64, map: &mut MemoryMap) -> Result<u64, Error> {
    if len == 0 {
        return Err(Error::EmptyInitrd);
    }
    let size = page_up(len).ok_or(Error::NoRoomForInitrd { size: len })?;
    let pages = size / PAGE_SIZE;
    let max = u64::from(hdr.initrd_addr_max());
    let mut tries = [Some(Placement::Below(max)), None];
    if hdr.can_load_above_4g() {
        tries[1] = max.checked_add(1).map(Placement::Above);
    }
    for placement in tries.into_iter().flatten() {
        match map.allocate(pages, PAGE_SIZE, placement, MemoryType::LoaderData) {
            Ok(addr) => return Ok(addr),
            Err(vmfw_memmap::Error::OutOfMemory) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::NoRoomForInitrd { size: len })
}

/// Reserves one range for the zero page followed by a command line of
/// `cmdline_len` bytes (without its NUL, which gets room too), high below
/// 4 GiB — or anywhere with `XLF_CAN_BE_LOADED_ABOVE_4G`, still preferring
/// below 4 GiB.
///
/// Fails with [`Error::CmdlineTooLong`] when the kernel's `cmdline_size`
/// is smaller than `cmdline_len`.
pub fn load_params_plan(
    hdr: &SetupHeader,
    cmdline_len: u64,
    map: &mut MemoryMap,
) -> Result<ParamsPlacement, Error> {
    if cmdline_len > u64::from(hdr.cmdline_size()) {
        return Err(Error::CmdlineTooLong { len: cmdline_len, max: hdr.cmdline_size() });
    }
    // cmdline_size is a u32, so none of this can wrap; stay checked anyway.
    let need = cmdline_len.checked_add(1).and_then(|n| n.checked_add(zp::SIZE as u64));
    let size = need.and_then(page_up).ok_or(Error::NoRoomForParams { size: u64::MAX })?;
    let placement =
        if hdr.can_load_above_4g() { Placement::Anywhere } else { Placement::Below(FOUR_GIB - 1) };
    let zero_page =
        match map.allocate(size / PAGE_SIZE, PAGE_SIZE, placement, MemoryType::LoaderData) {
            Ok(a) => a,
            Err(vmfw_memmap::Error::OutOfMemory) => return Err(Error::NoRoomForParams { size }),
            Err(e) => return Err(e.into()),
        };
    Ok(ParamsPlacement { zero_page, cmdline: zero_page.saturating_add(zp::SIZE as u64), size })
}
