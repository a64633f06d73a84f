//! The arm64 Linux boot protocol: the `Image` header, where to load the
//! kernel, and the cache maintenance the firmware owes it at the jump.
//!
//! Reference: Linux `Documentation/arch/arm64/booting.rst`. In the order
//! the firmware uses it:
//!
//! 1. [`ImageHeader::parse`] reads the 64-byte header at the start of the
//!    (decompressed) `Image` and rejects what vmfw cannot boot;
//! 2. [`ImageHeader::plan`] turns it and the file length into an
//!    [`ImagePlan`]: the offset from a 2 MiB-aligned base, the bytes to
//!    reserve, the highest address the image may reach;
//! 3. [`load_image_plan`] reserves the lowest fit in a
//!    [`MemoryMap`] (or [`ImagePlan::at`] checks a base the caller chose)
//!    and gives an [`ImagePlacement`];
//! 4. the firmware copies (or inflates) the file to
//!    [`ImagePlacement::load_addr`], loads the initrd and writes the device
//!    tree; then, after its last write to them and with the MMU and data
//!    cache still on, it cleans every line [`CleanPlan`] lists to the
//!    point of coherency (`dc cvac`), `dsb sy`, turns the MMU and data
//!    cache off (SCTLR_EL1 M and C) with interrupts masked, `isb`,
//!    invalidates the instruction cache (`ic iallu`, `dsb`, `isb`) and
//!    jumps to the load address with `x0` = the device tree, `x1`..`x3` =
//!    0.
//!
//! A compressed kernel (Debian's gzip `vmlinuz`, or the gzip payload of an
//! EFI zboot image, see [`crate::zboot`]) takes the same steps with
//! [`crate::gzip`]: [`Gzip::peek`](crate::gzip::Gzip::peek) inflates the
//! first 64 bytes for [`ImageHeader::parse`]; [`ImageHeader::plan`] gets
//! the inflated length the gzip trailer claims
//! ([`Gzip::size_hint`](crate::gzip::Gzip::size_hint), 0 if there is
//! none); then [`Gzip::inflate_into`](crate::gzip::Gzip::inflate_into)
//! inflates into the `span` bytes at the load address. A hint that lies
//! cannot hurt: an `Image` longer than its `image_size` (or than the
//! legacy margin) fails the inflate with `OutputTooLarge` instead of
//! overrunning the reservation.
//!
//! Invariants: every header field goes through checked arithmetic, every
//! way an image can be wrong is a named [`Error`], nothing here panics.

use vmfw_memmap::{MemoryMap, MemoryType, Placement, PAGE_SIZE};

use crate::le::{u32_at, u64_at};
use crate::Error;

/// Length of the `Image` header.
pub const HEADER_LEN: usize = 64;
/// `magic` at 0x38: "ARM\x64", little endian.
pub const MAGIC: u32 = 0x644d_5241;
/// The kernel's base (load address minus `text_offset`) is aligned to this.
pub const BASE_ALIGN: u64 = 2 << 20;
/// `text_offset` assumed for kernels older than v3.17, whose header has
/// `image_size` = 0 (booting.rst: "text_offset can be assumed to be
/// 0x80000").
pub const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// What vmfw reserves beyond the file for a kernel older than v3.17, which
/// does not say how much memory past its file it uses (`.bss`, early page
/// tables). 16 MiB is vmfw's own generous allowance: such kernels are
/// small, the reservation is made once at the lowest free address and the
/// kernel takes the memory back as RAM anyway.
pub const LEGACY_MARGIN: u64 = 16 << 20;
/// With flags bit 3 set, the whole image must lie in the 48-bit physical
/// address range (booting.rst, "Bit 3: Kernel physical placement").
pub const PLACEMENT_LIMIT_48BIT: u64 = 1 << 48;

/// flags bit 0: the kernel is big-endian.
const FLAG_BE: u64 = 1 << 0;
/// flags bits 1-2: the kernel's page size.
const FLAG_PAGE_SHIFT: u32 = 1;
/// flags bit 3: the base may be anywhere in RAM (below 2^48), not only
/// as close as possible to its start.
const FLAG_ANYWHERE: u64 = 1 << 3;

/// The kernel's page size, from flags bits 1-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// 0: not said (kernels before v3.17 and some since).
    Unspecified,
    /// 1: 4 KiB pages.
    Size4K,
    /// 2: 16 KiB pages.
    Size16K,
    /// 3: 64 KiB pages.
    Size64K,
}

/// The validated 64-byte header of an arm64 `Image`.
///
/// Made only by [`ImageHeader::parse`], which has checked the magic and
/// the endianness; the numbers are as the file gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    code0: u32,
    code1: u32,
    text_offset: u64,
    image_size: u64,
    flags: u64,
    pe_offset: u32,
}

impl ImageHeader {
    /// Reads the header from the first 64 bytes of `data` (the start of
    /// the decompressed kernel is enough).
    ///
    /// Fails with [`Error::Truncated`], [`Error::NotArm64Image`] or
    /// [`Error::BigEndianKernel`].
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let len = data.len() as u64;
        let head =
            data.get(..HEADER_LEN).ok_or(Error::Truncated { needed: HEADER_LEN as u64, len })?;
        let w32 =
            |off| u32_at(head, off).ok_or(Error::Truncated { needed: HEADER_LEN as u64, len });
        let w64 =
            |off| u64_at(head, off).ok_or(Error::Truncated { needed: HEADER_LEN as u64, len });
        let magic = w32(0x38)?;
        if magic != MAGIC {
            return Err(Error::NotArm64Image(magic));
        }
        let hdr = ImageHeader {
            code0: w32(0)?,
            code1: w32(4)?,
            text_offset: w64(8)?,
            image_size: w64(16)?,
            flags: w64(24)?,
            pe_offset: w32(0x3c)?,
        };
        // Kernels before v3.17 (image_size 0) have no flags, so a
        // big-endian one of that age is not recognised here; its
        // text_offset is in its own byte order, one reason the legacy
        // plan uses 0x80000 rather than that field.
        if hdr.flags & FLAG_BE != 0 {
            return Err(Error::BigEndianKernel);
        }
        Ok(hdr)
    }

    /// The first two instruction words (`code0`, `code1`). An image with
    /// an EFI stub starts with "MZ" in `code0`.
    pub fn code(&self) -> (u32, u32) {
        (self.code0, self.code1)
    }

    /// `text_offset` as the header gives it.
    pub fn text_offset(&self) -> u64 {
        self.text_offset
    }

    /// `image_size` as the header gives it (0 for kernels before v3.17).
    pub fn image_size(&self) -> u64 {
        self.image_size
    }

    /// The raw `flags` word.
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// The page size flags bits 1-2 give.
    pub fn page_size(&self) -> PageSize {
        match (self.flags >> FLAG_PAGE_SHIFT) & 3 {
            1 => PageSize::Size4K,
            2 => PageSize::Size16K,
            3 => PageSize::Size64K,
            _ => PageSize::Unspecified,
        }
    }

    /// flags bit 3: whether the base may be anywhere in RAM below 2^48.
    /// When clear, memory below the base is lost to the kernel, so it must
    /// be as close as possible to the start of RAM.
    pub fn place_anywhere(&self) -> bool {
        self.flags & FLAG_ANYWHERE != 0
    }

    /// The PE header's offset (the word at 0x3c) when the image has an EFI
    /// stub (`code0` starts with "MZ"); the word is reserved otherwise.
    pub fn pe_offset(&self) -> Option<u32> {
        (self.code0 & 0xffff == 0x5a4d).then_some(self.pe_offset)
    }

    /// The placement constraints for an image whose file is `file_len`
    /// bytes long.
    ///
    /// With `image_size` set: `text_offset` and `image_size` from the
    /// header, rejecting an `image_size` below `file_len`
    /// ([`Error::ImageSizeTooSmall`]). With `image_size` = 0 (before
    /// v3.17): [`LEGACY_TEXT_OFFSET`], and the file plus
    /// [`LEGACY_MARGIN`].
    pub fn plan(&self, file_len: u64) -> Result<ImagePlan, Error> {
        let (text_offset, span) = if self.image_size == 0 {
            let span = file_len.checked_add(LEGACY_MARGIN).ok_or(Error::ImageSizeOverflow)?;
            (LEGACY_TEXT_OFFSET, span)
        } else {
            if self.image_size < file_len {
                return Err(Error::ImageSizeTooSmall { image_size: self.image_size, file_len });
            }
            (self.text_offset, self.image_size)
        };
        let size =
            text_offset.checked_add(span).and_then(page_up).ok_or(Error::ImageSizeOverflow)?;
        let limit = if self.place_anywhere() { PLACEMENT_LIMIT_48BIT } else { u64::MAX };
        Ok(ImagePlan { text_offset, span, size, limit, lowest: !self.place_anywhere() })
    }
}

/// `x` rounded up to whole pages, or `None` if that wraps.
fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Where an `Image` may go: the result of [`ImageHeader::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePlan {
    /// The load address is a 2 MiB-aligned base plus this.
    pub text_offset: u64,
    /// Bytes from the load address the kernel may use (`image_size`, or
    /// the file plus [`LEGACY_MARGIN`]): the range to reserve and to clean.
    pub span: u64,
    /// Bytes to reserve from the base: `text_offset + span` in whole pages.
    /// The reservation ends at or below [`ImagePlan::limit`], so
    /// `base + size` never wraps.
    pub size: u64,
    /// The reservation must end at or below this address (2^48 for
    /// kernels with flags bit 3, else `u64::MAX`: anywhere below the top
    /// of the address space).
    pub limit: u64,
    /// flags bit 3 is clear: the base must be as low in RAM as possible.
    /// [`load_image_plan`] takes the lowest fit either way; this says that
    /// a caller choosing the base itself must do the same.
    pub lowest: bool,
}

impl ImagePlan {
    /// The placement with its base at `base`, which must be 2 MiB aligned
    /// and keep the image below [`ImagePlan::limit`]. Reserves nothing:
    /// for a caller that has found the memory itself.
    pub fn at(&self, base: u64) -> Result<ImagePlacement, Error> {
        if !base.is_multiple_of(BASE_ALIGN) {
            return Err(Error::MisalignedBase(base));
        }
        let above = Error::KernelAboveLimit { base, size: self.size, limit: self.limit };
        let end = base.checked_add(self.size).ok_or(above)?;
        if end > self.limit {
            return Err(above);
        }
        let load_addr = base.checked_add(self.text_offset).ok_or(Error::ImageSizeOverflow)?;
        Ok(ImagePlacement { base, load_addr, span: self.span, size: self.size })
    }
}

/// Where the kernel goes. Only [`ImagePlan::at`] and [`load_image_plan`]
/// make one: the base is 2 MiB aligned and `base + size` does not wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePlacement {
    base: u64,
    load_addr: u64,
    span: u64,
    size: u64,
}

impl ImagePlacement {
    /// The 2 MiB-aligned base: the start of the reservation.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Where the file's first byte goes, and the entry point.
    pub fn load_addr(&self) -> u64 {
        self.load_addr
    }

    /// Bytes from [`ImagePlacement::load_addr`] the kernel may use: the
    /// most the file may inflate to, and the range to clean before the
    /// jump.
    pub fn span(&self) -> u64 {
        self.span
    }

    /// Bytes reserved from [`ImagePlacement::base`] (whole pages).
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Reserves the lowest 2 MiB-aligned fit for `plan` in `map` (as
/// [`MemoryType::LoaderData`], which the kernel sees as RAM) and returns
/// where the kernel goes.
///
/// Lowest because a kernel without flags bit 3 cannot use memory below its
/// base, and because it costs a kernel with bit 3 nothing; so place the
/// kernel before the initrd and the device tree. Fails with
/// [`Error::NoRoomForKernel`] (the map unchanged) or [`Error::Memory`].
pub fn load_image_plan(plan: &ImagePlan, map: &mut MemoryMap) -> Result<ImagePlacement, Error> {
    let pages = plan.size / PAGE_SIZE;
    let base = match map.allocate(pages, BASE_ALIGN, Placement::Above(0), MemoryType::LoaderData) {
        Ok(b) => b,
        Err(vmfw_memmap::Error::OutOfMemory) => {
            return Err(Error::NoRoomForKernel { size: plan.size });
        }
        Err(e) => return Err(e.into()),
    };
    match plan.at(base) {
        Ok(p) => Ok(p),
        Err(_) => {
            // The lowest fit is above the kernel's limit, so every fit is.
            map.free(base, pages)?;
            Err(Error::NoRoomForKernel { size: plan.size })
        }
    }
}

/// The most ranges one [`CleanPlan`] takes: the kernel, the initrd, the
/// device tree, with room to spare.
pub const MAX_CLEAN_RANGES: usize = 8;

/// One run of cache lines: `first`, `first + step`, ... up to and
/// including `last` (all line aligned, `first <= last`).
///
/// The firmware's loop is a do-while, so it never computes an address
/// past `last` (which may be the last line of the address space):
///
/// ```text
///     x = first
/// 1:  dc cvac, x
///     cmp x, last
///     b.eq 2f
///     add x, x, step
///     b 1b
/// 2:
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRun {
    /// Address of the first line.
    pub first: u64,
    /// Address of the last line.
    pub last: u64,
}

impl LineRun {
    /// Number of lines in the run for lines of `line` bytes.
    pub fn lines(&self, line: u64) -> u64 {
        // first <= last and both are multiples of line (>= 4).
        let gaps = self.last.saturating_sub(self.first).checked_div(line).unwrap_or(0);
        gaps.saturating_add(1)
    }
}

/// The data cache lines to clean to the point of coherency by virtual
/// address (`dc cvac`) before the jump to the kernel: the line-aligned
/// union of the ranges given, sorted, with overlapping and adjacent ranges
/// merged into one run.
///
/// booting.rst wants the loaded kernel image cleaned to the PoC; vmfw also
/// cleans the initrd and the device tree because it wrote them with the
/// cache on and the kernel first reads them with it off. TCG models no
/// caches, so a missing line only shows on hardware: this is the pure half
/// of the sequence, which host tests check, and the firmware's loop walks
/// exactly [`CleanPlan::runs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanPlan {
    line: u64,
    runs: [LineRun; MAX_CLEAN_RANGES],
    len: usize,
}

impl CleanPlan {
    /// The smallest data cache line size `CTR_EL0` (its raw value) gives:
    /// `4 << DminLine`, DminLine being bits 19:16 (log2 of the line length
    /// in 4-byte words). Between 4 bytes and 128 KiB.
    pub fn line_size(ctr_el0: u64) -> u64 {
        // At most 4 << 15: never shifts anything out.
        4u64.checked_shl(((ctr_el0 >> 16) & 0xf) as u32).unwrap_or(4)
    }

    /// The plan for `ranges`, each `(start, len)` in bytes (zero-length
    /// ranges contribute nothing), with lines as `ctr_el0` gives them.
    ///
    /// Fails with [`Error::CleanRangeWraps`] when a range's last byte is past
    /// `u64::MAX`, [`Error::TooManyCleanRanges`] for more than
    /// [`MAX_CLEAN_RANGES`] ranges.
    pub fn new(ctr_el0: u64, ranges: &[(u64, u64)]) -> Result<Self, Error> {
        let line = Self::line_size(ctr_el0);
        // !(line - 1) for a power of two.
        let mask = line.wrapping_neg();
        if ranges.len() > MAX_CLEAN_RANGES {
            return Err(Error::TooManyCleanRanges);
        }
        let mut runs = [LineRun { first: 0, last: 0 }; MAX_CLEAN_RANGES];
        let mut len = 0;
        for &(start, n) in ranges {
            if n == 0 {
                continue;
            }
            let wraps = Error::CleanRangeWraps { start, len: n };
            let last_byte = n.checked_sub(1).and_then(|m| start.checked_add(m)).ok_or(wraps)?;
            let run = LineRun { first: start & mask, last: last_byte & mask };
            if let Some(slot) = runs.get_mut(len) {
                *slot = run;
                len = len.saturating_add(1);
            }
        }
        let used = runs.get_mut(..len).unwrap_or(&mut []);
        used.sort_unstable_by_key(|r| r.first);
        // Merge in place: `out` runs are final, the rest are still to see.
        let mut out = 0usize;
        for i in 0..len {
            let Some(&r) = runs.get(i) else { break };
            let merged = match out.checked_sub(1).and_then(|p| runs.get_mut(p)) {
                // Overlapping or adjacent: the previous run's next line is
                // at or past this run's first (no wrap: the previous run's
                // last line is below this one's or equal).
                Some(prev) if prev.last.checked_add(line).is_none_or(|n| n >= r.first) => {
                    prev.last = prev.last.max(r.last);
                    true
                }
                _ => false,
            };
            if !merged {
                if let Some(slot) = runs.get_mut(out) {
                    *slot = r;
                }
                out = out.saturating_add(1);
            }
        }
        Ok(CleanPlan { line, runs, len: out })
    }

    /// The line size in bytes: the step of every run.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The runs to clean, sorted by address, disjoint and not adjacent.
    pub fn runs(&self) -> &[LineRun] {
        self.runs.get(..self.len).unwrap_or(&[])
    }

    /// Every line address the firmware's loop visits, in order.
    pub fn lines(&self) -> impl Iterator<Item = u64> + '_ {
        let line = self.line;
        self.runs().iter().flat_map(move |r| {
            let mut next = Some(r.first);
            core::iter::from_fn(move || {
                let x = next?;
                next = if x >= r.last { None } else { x.checked_add(line) };
                Some(x)
            })
        })
    }

    /// Total number of lines to clean.
    pub fn line_count(&self) -> u64 {
        self.runs().iter().fold(0u64, |n, r| n.saturating_add(r.lines(self.line)))
    }
}

/// Whether a device tree at `addr` of `len` bytes is where booting.rst
/// wants it: 8-byte aligned and at most 2 MiB long.
pub fn dtb_placement_ok(addr: u64, len: u64) -> bool {
    addr.is_multiple_of(8) && len <= 2 << 20 && addr.checked_add(len).is_some()
}

/// Whether an initrd at `initrd` (`(start, len)`) is where booting.rst
/// wants it relative to the kernel at `kernel` (`(start, len)`): both
/// inside one 1 GiB-aligned window of at most 32 GiB.
pub fn initrd_window_ok(kernel: (u64, u64), initrd: (u64, u64)) -> bool {
    const GIB: u64 = 1 << 30;
    let end = |(s, n): (u64, u64)| s.checked_add(n);
    let (Some(k_end), Some(i_end)) = (end(kernel), end(initrd)) else {
        return false;
    };
    let lo = kernel.0.min(initrd.0) & !(GIB - 1);
    let hi = k_end.max(i_end);
    hi.checked_sub(lo).is_some_and(|span| span <= 32 * GIB)
}
