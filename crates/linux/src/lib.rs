//! The Linux x86 boot protocols as vmfw speaks them, on both sides: reading
//! the zero page a VMM hands to the firmware ([`zeropage`] offsets, used by
//! `vmfw-platform`), and booting a bzImage with the 64-bit boot protocol.
//!
//! The hardware-independent half of a bzImage boot, in the order the
//! firmware uses it:
//!
//! 1. [`BzImage::parse`] (whole file in memory) or [`SetupHeader::parse`]
//!    (just the first sectors) reads and validates the setup header at
//!    0x1f1; [`SetupHeader::protected_mode_len`] checks a file length;
//! 2. [`load_kernel_plan`] reserves the kernel's load range in the
//!    [`MemoryMap`](vmfw_memmap::MemoryMap), [`load_initrd_plan`] the
//!    initrd's and [`load_params_plan`] the zero page's and command line's;
//! 3. the firmware copies the protected-mode code, initrd and command line
//!    there;
//! 4. [`ZeroPage`] builds `struct boot_params` from the header and those
//!    placements plus the final E820 map; the firmware copies it to the
//!    reserved page and jumps to [`KernelPlacement::entry_64`] with `rsi`
//!    pointing at it.
//!
//! [`kernel_cmdline`] is the rule for the command line the firmware
//! passes: the entry's options plus the VMM's `virtio_mmio.device=` hints
//! they lack.
//!
//! Invariants: every field read from the image goes through checked
//! arithmetic and every way a header can be wrong is a named [`Error`];
//! nothing here panics on any input. A [`SetupHeader`] can only be made by
//! parsing, so the planning and zero page code can rely on what parsing
//! checked (and still never panics if it could not).
//!
//! Reference: Linux `Documentation/arch/x86/boot.rst` ("The Real-Mode Kernel
//! Header", "Details of Header Fields", "64-bit Boot Protocol") and
//! `Documentation/arch/x86/zero-page.rst`.
//!
//! The arm64 side lives in its own modules, built with the `arm64`
//! feature: `arm64` (the `Image` header, its placement, the cache lines to
//! clean before the jump), `gzip` (inflating a gzip-compressed `Image`
//! straight to its load address) and `zboot` (the header of an EFI zboot
//! image and its payload).
#![no_std]
#![forbid(unsafe_code)]
// On top of the workspace's no-panic lints: every load address and size in
// this crate comes from a kernel header, so arithmetic must be checked too.
// Crate-local because tests build fixtures with plain arithmetic and
// clippy has no setting that lifts this lint in tests.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

#[cfg(feature = "arm64")]
pub mod arm64;
mod bootparams;
mod cmdline;
#[cfg(feature = "arm64")]
pub mod gzip;
mod header;
mod le;
mod plan;
#[cfg(feature = "arm64")]
pub mod zboot;
pub mod zeropage;

#[cfg(test)]
mod tests;

pub use bootparams::ZeroPage;
pub use cmdline::kernel_cmdline;
pub use header::{BzImage, SetupHeader, MIN_PROTOCOL};
pub use plan::{
    load_initrd_plan, load_kernel_plan, load_params_plan, plan_kernel, KernelPlacement, KernelPlan,
    ParamsPlacement, FOUR_GIB,
};

/// Everything that can be wrong with a kernel image, or with booting it in
/// a given memory map.
///
/// Header variants say what the kernel file got wrong; placement variants
/// say what the machine could not provide. Either way the firmware logs one
/// line and moves on to the next boot option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The data ends before byte `needed` (the setup header, or the setup
    /// code and protected-mode code the header describes; for arm64 the
    /// 64-byte `Image` header); it is `len` bytes long.
    Truncated {
        /// Bytes the header says there must be.
        needed: u64,
        /// Bytes there are.
        len: u64,
    },
    /// `boot_flag` at 0x1fe is not 0xAA55: not a Linux kernel.
    BadBootFlag(u16),
    /// No "HdrS" signature at 0x202: not a bzImage (maybe a pre-1996 zImage,
    /// maybe not a kernel).
    NotABzImage,
    /// Boot protocol older than [`MIN_PROTOCOL`] (the version given).
    ProtocolTooOld(u16),
    /// The jump offset byte at 0x201 (given) ends the setup header before
    /// the fields vmfw needs, or is negative.
    BadHeaderLength(u8),
    /// `loadflags` lacks `LOADED_HIGH`: a zImage, which only the 16-bit
    /// protocol can load.
    NotLoadedHigh,
    /// `xloadflags` lacks `XLF_KERNEL_64`: no 64-bit entry point.
    Not64Bit,
    /// `kernel_alignment` (given) is not a power of two.
    BadAlignment(u32),
    /// `min_alignment` (given, a power of two exponent) asks for more than
    /// `kernel_alignment` or more than 2 GiB.
    BadMinAlignment(u8),
    /// `pref_address` (given) is zero or not page aligned, or the range
    /// `pref_address + init_size` wraps.
    BadPrefAddress(u64),
    /// `init_size` is zero.
    BadInitSize,
    /// The payload `payload_offset..+payload_length` lies outside the
    /// protected-mode code.
    BadPayload {
        /// `payload_offset` from the header.
        offset: u32,
        /// `payload_length` from the header.
        length: u32,
    },
    /// The kernel is not relocatable and its fixed address range (starting
    /// at the `pref_address` given) is not free RAM.
    KernelAddressTaken(u64),
    /// No free RAM range the kernel accepts holds its `size` bytes at any
    /// acceptable alignment (x86: below 4 GiB, at or above
    /// `pref_address`; arm64: from a 2 MiB-aligned base, below its limit).
    NoRoomForKernel {
        /// Bytes needed.
        size: u64,
    },
    /// An initrd of length zero was given.
    EmptyInitrd,
    /// No free RAM range the kernel accepts holds the initrd.
    NoRoomForInitrd {
        /// Bytes needed.
        size: u64,
    },
    /// No free RAM range the kernel can reach holds the zero page and the
    /// command line.
    NoRoomForParams {
        /// Bytes needed.
        size: u64,
    },
    /// The command line (`len` bytes without its NUL) is longer than the
    /// kernel's `cmdline_size`. vmfw refuses rather than truncates: a cut
    /// command line can silently lose `root=` or a security option.
    CmdlineTooLong {
        /// Length of the command line, without the terminating NUL.
        len: u64,
        /// `cmdline_size` from the header.
        max: u32,
    },
    /// The command line's last byte (`last`) is above 4 GiB and the kernel
    /// lacks `XLF_CAN_BE_LOADED_ABOVE_4G`.
    CmdlineTooHigh {
        /// Address of the terminating NUL.
        last: u64,
    },
    /// The initrd's last byte (`last`) is above the highest address the
    /// kernel accepts (`max`).
    InitrdTooHigh {
        /// Address of the initrd's last byte.
        last: u64,
        /// Highest address the kernel accepts.
        max: u64,
    },
    /// The memory map needs this many E820 entries after merging, more than
    /// the zero page's 128. vmfw does not chain `SETUP_E820_EXT` data.
    TooManyE820Entries(usize),
    /// The memory map refused an update (for example it is full).
    Memory(vmfw_memmap::Error),
    /// arm64: the word at 0x38 (given) is not "ARM\x64": not an arm64
    /// `Image`.
    #[cfg(feature = "arm64")]
    NotArm64Image(u32),
    /// arm64: flags bit 0 says the kernel is big-endian; vmfw hands over
    /// little-endian.
    #[cfg(feature = "arm64")]
    BigEndianKernel,
    /// arm64: `image_size` is non-zero but smaller than the file
    /// (`file_len`): the header contradicts the file, which would spill
    /// past the reservation.
    #[cfg(feature = "arm64")]
    ImageSizeTooSmall {
        /// `image_size` from the header.
        image_size: u64,
        /// Length of the (inflated) file.
        file_len: u64,
    },
    /// arm64: `text_offset + image_size` (or, for a kernel older than
    /// v3.17, the file plus the margin) does not fit in 64 bits or in
    /// whole pages.
    #[cfg(feature = "arm64")]
    ImageSizeOverflow,
    /// arm64: the base given (a caller's choice) is not 2 MiB aligned.
    #[cfg(feature = "arm64")]
    MisalignedBase(u64),
    /// arm64: the kernel's `size` bytes from `base` would end above its
    /// `limit` (2^48 when flags bit 3 allows placement anywhere) or past
    /// the top of the address space.
    #[cfg(feature = "arm64")]
    KernelAboveLimit {
        /// The 2 MiB-aligned base.
        base: u64,
        /// Bytes reserved from it.
        size: u64,
        /// The highest end the kernel accepts.
        limit: u64,
    },
    /// arm64: a range to clean before the jump has its last byte beyond
    /// `u64::MAX`.
    #[cfg(feature = "arm64")]
    CleanRangeWraps {
        /// The range's first byte.
        start: u64,
        /// Its length.
        len: u64,
    },
    /// arm64: more ranges to clean than
    /// [`arm64::MAX_CLEAN_RANGES`].
    #[cfg(feature = "arm64")]
    TooManyCleanRanges,
    /// A gzip-compressed kernel could not be inflated.
    #[cfg(feature = "arm64")]
    Gzip(gzip::Error),
    /// An EFI zboot image's header is malformed.
    #[cfg(feature = "arm64")]
    Zboot(zboot::Error),
}

impl core::fmt::Display for Error {
    /// One template per variant (`vmfw_bytes::write_template`: `\x01` is
    /// `{}`, `\x02` `{:02}`, `\x03` `{:#x}`, `\x04` `{:#04x}`, `\x05`
    /// `{:#010x}`, `\x06` `{:#06x}`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (t, a, b): (&str, u64, u64) = match *self {
            Error::Truncated { needed, len } => {
                ("kernel image truncated: needs \x01 bytes, has \x01", needed, len)
            }
            Error::BadBootFlag(v) => ("not a Linux kernel (boot flag \x06)", v.into(), 0),
            Error::NotABzImage => ("not a bzImage (no HdrS signature)", 0, 0),
            Error::ProtocolTooOld(v) => {
                let (v, min) = (u64::from(v), u64::from(MIN_PROTOCOL));
                return vmfw_bytes::write_template(
                    f,
                    "boot protocol \x01.\x02 too old (need \x01.\x02)",
                    &[v >> 8, v & 0xff, min >> 8, min & 0xff],
                );
            }
            Error::BadHeaderLength(j) => ("setup header too short (jump offset \x04)", j.into(), 0),
            Error::NotLoadedHigh => ("zImage kernels are not supported", 0, 0),
            Error::Not64Bit => ("kernel has no 64-bit entry point", 0, 0),
            Error::BadAlignment(a) => ("kernel_alignment \x03 is not a power of two", a.into(), 0),
            Error::BadMinAlignment(m) => ("bad min_alignment 2^\x01", m.into(), 0),
            Error::BadPrefAddress(a) => ("bad pref_address \x03", a, 0),
            Error::BadInitSize => ("init_size is zero", 0, 0),
            Error::BadPayload { offset, length } => {
                ("payload \x03+\x03 outside the kernel", offset.into(), length.into())
            }
            Error::KernelAddressTaken(a) => {
                ("non-relocatable kernel's range at \x03 is not free", a, 0)
            }
            Error::NoRoomForKernel { size } => ("no room for the kernel (\x01 bytes)", size, 0),
            Error::EmptyInitrd => ("initrd is empty", 0, 0),
            Error::NoRoomForInitrd { size } => ("no room for the initrd (\x01 bytes)", size, 0),
            Error::NoRoomForParams { size } => {
                ("no room for boot parameters (\x01 bytes)", size, 0)
            }
            Error::CmdlineTooLong { len, max } => {
                ("command line is \x01 bytes, kernel accepts \x01", len, max.into())
            }
            Error::CmdlineTooHigh { last } => ("command line at \x03 is above 4 GiB", last, 0),
            Error::InitrdTooHigh { last, max } => {
                ("initrd ends at \x03, above the kernel's limit \x03", last, max)
            }
            Error::TooManyE820Entries(n) => ("memory map needs \x01 E820 entries", n as u64, 0),
            Error::Memory(e) => return write!(f, "memory map: {e}"),
            // The arm64 kernel protocol's, only in that build.
            #[cfg(feature = "arm64")]
            Error::NotArm64Image(m) => return write!(f, "not an arm64 Image (magic {m:#010x})"),
            #[cfg(feature = "arm64")]
            Error::BigEndianKernel => {
                return f.write_str("big-endian arm64 kernels are not supported")
            }
            #[cfg(feature = "arm64")]
            Error::ImageSizeTooSmall { image_size, file_len } => {
                return write!(
                    f,
                    "image_size {image_size:#x} is smaller than the file ({file_len:#x})"
                )
            }
            #[cfg(feature = "arm64")]
            Error::ImageSizeOverflow => return f.write_str("arm64 Image size overflows"),
            #[cfg(feature = "arm64")]
            Error::MisalignedBase(b) => {
                return write!(f, "kernel base {b:#x} is not 2 MiB aligned")
            }
            #[cfg(feature = "arm64")]
            Error::KernelAboveLimit { base, size, limit } => {
                return write!(f, "kernel at {base:#x}+{size:#x} would end above {limit:#x}")
            }
            #[cfg(feature = "arm64")]
            Error::CleanRangeWraps { start, len } => {
                return write!(f, "range {start:#x}+{len:#x} wraps the address space")
            }
            #[cfg(feature = "arm64")]
            Error::TooManyCleanRanges => {
                return write!(f, "more than {} ranges to clean", arm64::MAX_CLEAN_RANGES)
            }
            #[cfg(feature = "arm64")]
            Error::Gzip(e) => return write!(f, "gzip: {e}"),
            #[cfg(feature = "arm64")]
            Error::Zboot(e) => return write!(f, "zboot: {e}"),
        };
        vmfw_bytes::write_template(f, t, &[a, b])
    }
}

impl From<vmfw_memmap::Error> for Error {
    fn from(e: vmfw_memmap::Error) -> Self {
        Error::Memory(e)
    }
}

#[cfg(feature = "arm64")]
impl From<gzip::Error> for Error {
    fn from(e: gzip::Error) -> Self {
        Error::Gzip(e)
    }
}

#[cfg(feature = "arm64")]
impl From<zboot::Error> for Error {
    fn from(e: zboot::Error) -> Self {
        Error::Zboot(e)
    }
}
