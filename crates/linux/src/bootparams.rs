//! Building `struct boot_params`, the zero page handed to the kernel in
//! `rsi` (boot.rst, "64-bit Boot Protocol"; zero-page.rst).
//!
//! The page starts as zeros, the kernel's setup header is copied in from
//! 0x1f1 to its end (`0x202 + jump offset`), and then vmfw writes the fields
//! a loader owns. Choices where boot.rst leaves room:
//!
//! - `type_of_loader` is 0xFF ("undefined"; vmfw has no assigned id),
//!   `ext_loader_type`/`ext_loader_ver` are 0.
//! - `loadflags` keeps only `LOADED_HIGH`. `CAN_USE_HEAP` and
//!   `heap_end_ptr` describe the 16-bit setup code's heap, which the 64-bit
//!   protocol never runs, so the bit is clear and the pointer 0;
//!   `KEEP_SEGMENTS` is obsolete; `QUIET_FLAG` is clear so the kernel may
//!   print early messages.
//! - `realmode_swtch`, `setup_data`, `hardware_subarch(_data)` are 0 (no
//!   hooks, no setup_data list, plain x86/PC); `vid_mode`, `root_flags`
//!   and `root_dev` keep the kernel's defaults.
//! - The command line is refused, not truncated, when longer than
//!   `cmdline_size` ([`Error::CmdlineTooLong`]).
//! - The E820 table merges adjacent ranges of equal E820 type; a map that
//!   still needs more than 128 entries is refused
//!   ([`Error::TooManyE820Entries`]) rather than extended with a
//!   `SETUP_E820_EXT` setup_data node: vmfw's memory map holds at most 256
//!   ranges, and no VMM reports anything close to 128.
//! - `sentinel` (0x1ef) stays 0: the page was zeroed, only the header was
//!   copied.

use vmfw_memmap::{MemoryMap, Region};

use crate::le::put;
use crate::plan::{KernelPlacement, FOUR_GIB};
use crate::zeropage as zp;
use crate::{Error, SetupHeader};

/// A zero page under construction. See the module docs for what
/// [`ZeroPage::new`] sets; call the setters once the placements are known,
/// [`ZeroPage::set_e820`] last (after every allocation), then copy
/// [`ZeroPage::as_bytes`] to the zero page's address.
#[derive(Clone)]
pub struct ZeroPage {
    page: [u8; zp::SIZE],
    cmdline_size: u32,
    initrd_max: u64,
    params_max: u64,
}

impl core::fmt::Debug for ZeroPage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ZeroPage")
            .field("cmdline_size", &self.cmdline_size)
            .field("initrd_max", &self.initrd_max)
            .field("params_max", &self.params_max)
            .finish_non_exhaustive()
    }
}

/// Splits `v` into its low and high 32 bits.
fn halves(v: u64) -> ([u8; 4], [u8; 4]) {
    let b = v.to_le_bytes();
    ([b[0], b[1], b[2], b[3]], [b[4], b[5], b[6], b[7]])
}

impl ZeroPage {
    /// A zero page for the kernel whose header is `hdr`: zeros, the setup
    /// header copied in, and the loader fields set as the module docs say.
    pub fn new(hdr: &SetupHeader) -> Self {
        let mut this = ZeroPage {
            page: [0; zp::SIZE],
            cmdline_size: hdr.cmdline_size(),
            initrd_max: if hdr.can_load_above_4g() {
                u64::MAX
            } else {
                u64::from(hdr.initrd_addr_max())
            },
            params_max: if hdr.can_load_above_4g() { u64::MAX } else { FOUR_GIB - 1 },
        };
        put(&mut this.page, zp::SETUP_HEADER, hdr.raw());
        let p = &mut this.page;
        put(p, zp::TYPE_OF_LOADER, &[zp::LOADER_TYPE_UNDEFINED]);
        put(p, zp::EXT_LOADER_VER, &[0]);
        put(p, zp::EXT_LOADER_TYPE, &[0]);
        put(p, zp::LOADFLAGS, &[hdr.loadflags() & zp::LOADFLAG_LOADED_HIGH]);
        put(p, zp::HEAP_END_PTR, &0u16.to_le_bytes());
        put(p, zp::REALMODE_SWTCH, &0u32.to_le_bytes());
        put(p, zp::CODE32_START, &0u32.to_le_bytes());
        put(p, zp::RAMDISK_IMAGE, &0u32.to_le_bytes());
        put(p, zp::RAMDISK_SIZE, &0u32.to_le_bytes());
        put(p, zp::CMD_LINE_PTR, &0u32.to_le_bytes());
        put(p, zp::HARDWARE_SUBARCH, &0u32.to_le_bytes());
        put(p, zp::HARDWARE_SUBARCH_DATA, &0u64.to_le_bytes());
        put(p, zp::SETUP_DATA, &0u64.to_le_bytes());
        this
    }

    /// Records where the kernel was loaded: `code32_start` = load address
    /// (boot.rst: a loader that places a relocatable kernel elsewhere "will
    /// have to modify this field") and `kernel_alignment` = the alignment
    /// it was placed with (boot.rst, `min_alignment`), which the 64-bit
    /// entry code uses to find its runtime address.
    pub fn set_kernel(&mut self, kernel: &KernelPlacement) {
        // The planner keeps kernels below 4 GiB.
        let addr = u32::try_from(kernel.addr()).unwrap_or(0);
        put(&mut self.page, zp::CODE32_START, &addr.to_le_bytes());
        put(&mut self.page, zp::KERNEL_ALIGNMENT, &kernel.alignment().to_le_bytes());
    }

    /// Points `cmd_line_ptr`/`ext_cmd_line_ptr` at a NUL-terminated command
    /// line of `len` bytes (without the NUL) at `addr`.
    ///
    /// Fails with [`Error::CmdlineTooLong`] past `cmdline_size` and with
    /// [`Error::CmdlineTooHigh`] when the line (with its NUL) reaches above
    /// 4 GiB and the kernel lacks `XLF_CAN_BE_LOADED_ABOVE_4G`.
    pub fn set_cmdline(&mut self, addr: u64, len: u64) -> Result<(), Error> {
        if len > u64::from(self.cmdline_size) {
            return Err(Error::CmdlineTooLong { len, max: self.cmdline_size });
        }
        let last = addr.checked_add(len).ok_or(Error::CmdlineTooHigh { last: u64::MAX })?;
        if last > self.params_max {
            return Err(Error::CmdlineTooHigh { last });
        }
        let (lo, hi) = halves(addr);
        put(&mut self.page, zp::CMD_LINE_PTR, &lo);
        put(&mut self.page, zp::EXT_CMD_LINE_PTR, &hi);
        Ok(())
    }

    /// Records the initrd: `ramdisk_image`/`ramdisk_size` and their
    /// `ext_` high halves.
    ///
    /// Fails with [`Error::EmptyInitrd`] for `len == 0` (leave the fields
    /// alone when there is no initrd) and [`Error::InitrdTooHigh`] when its
    /// last byte is above `initrd_addr_max` and the kernel lacks
    /// `XLF_CAN_BE_LOADED_ABOVE_4G`.
    pub fn set_initrd(&mut self, addr: u64, len: u64) -> Result<(), Error> {
        let last_off = len.checked_sub(1).ok_or(Error::EmptyInitrd)?;
        let last = addr
            .checked_add(last_off)
            .ok_or(Error::InitrdTooHigh { last: u64::MAX, max: self.initrd_max })?;
        if last > self.initrd_max {
            return Err(Error::InitrdTooHigh { last, max: self.initrd_max });
        }
        let (addr_lo, addr_hi) = halves(addr);
        let (len_lo, len_hi) = halves(len);
        put(&mut self.page, zp::RAMDISK_IMAGE, &addr_lo);
        put(&mut self.page, zp::EXT_RAMDISK_IMAGE, &addr_hi);
        put(&mut self.page, zp::RAMDISK_SIZE, &len_lo);
        put(&mut self.page, zp::EXT_RAMDISK_SIZE, &len_hi);
        Ok(())
    }

    /// Records the ACPI RSDP's address (`acpi_rsdp_addr`), so the kernel
    /// need not scan for it.
    pub fn set_acpi_rsdp(&mut self, addr: u64) {
        put(&mut self.page, zp::ACPI_RSDP_ADDR, &addr.to_le_bytes());
    }

    /// Sets `hdr.setup_data`, the head of a `struct setup_data` list the
    /// firmware has placed in memory (0 for none, the default).
    pub fn set_setup_data(&mut self, addr: u64) {
        put(&mut self.page, zp::SETUP_DATA, &addr.to_le_bytes());
    }

    /// Writes the E820 table from `map`, merging adjacent ranges of equal
    /// [`e820_type`](vmfw_memmap::MemoryType::e820_type), and returns the
    /// number of entries. Call it after the last allocation, so the table
    /// is the final map.
    ///
    /// Fails with [`Error::TooManyE820Entries`] (leaving the table as it
    /// was) when more than 128 entries are needed.
    pub fn set_e820(&mut self, map: &MemoryMap) -> Result<usize, Error> {
        let needed = E820Merge::new(map).count();
        if needed > zp::E820_MAX {
            return Err(Error::TooManyE820Entries(needed));
        }
        let mut off = zp::E820_TABLE;
        for (start, len, ty) in E820Merge::new(map) {
            put(&mut self.page, off, &start.to_le_bytes());
            put(&mut self.page, off.saturating_add(8), &len.to_le_bytes());
            put(&mut self.page, off.saturating_add(16), &ty.to_le_bytes());
            off = off.saturating_add(zp::E820_ENTRY_SIZE);
        }
        // Clear entries a previous, longer table left behind.
        for _ in needed..zp::E820_MAX {
            put(&mut self.page, off, &[0; zp::E820_ENTRY_SIZE]);
            off = off.saturating_add(zp::E820_ENTRY_SIZE);
        }
        put(&mut self.page, zp::E820_ENTRIES, &[u8::try_from(needed).unwrap_or(0)]);
        Ok(needed)
    }

    /// The finished page, to be copied to the zero page's address.
    pub fn as_bytes(&self) -> &[u8; zp::SIZE] {
        &self.page
    }
}

/// The regions of a [`MemoryMap`] as E820 entries `(addr, size, type)`,
/// adjacent regions of equal E820 type merged (the map itself only merges
/// equal [`MemoryType`](vmfw_memmap::MemoryType)s, and several of those are
/// all E820 RAM).
struct E820Merge<'a> {
    regions: core::slice::Iter<'a, Region>,
    pending: Option<(u64, u64, u32)>,
}

impl<'a> E820Merge<'a> {
    fn new(map: &'a MemoryMap) -> Self {
        E820Merge { regions: map.regions().iter(), pending: None }
    }
}

impl Iterator for E820Merge<'_> {
    type Item = (u64, u64, u32);

    fn next(&mut self) -> Option<Self::Item> {
        for r in self.regions.by_ref() {
            let ty = r.ty.e820_type();
            match self.pending.as_mut() {
                Some((_, end, t)) if *end == r.start && *t == ty => *end = r.end,
                _ => {
                    if let Some(done) = self.pending.replace((r.start, r.end, ty)) {
                        return Some(entry(done));
                    }
                }
            }
        }
        self.pending.take().map(entry)
    }
}

/// `(start, end, type)` to `(start, size, type)`.
fn entry((start, end, ty): (u64, u64, u32)) -> (u64, u64, u32) {
    (start, end.saturating_sub(start), ty)
}
