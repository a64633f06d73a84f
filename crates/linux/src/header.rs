//! The bzImage setup header (boot.rst, "The Real-Mode Kernel Header" and
//! "Details of Header Fields").
//!
//! A bzImage file is the boot sector and `setup_sects` sectors of 16-bit
//! setup code (together `(setup_sects + 1) * 512` bytes, `setup_sects == 0`
//! meaning 4), followed by the protected-mode code, whose first byte is
//! loaded at the load address and whose 64-bit entry point is at
//! load address + 0x200. The setup header lives in the boot sector at 0x1f1
//! and ends at `0x202 + jump offset byte`.
//!
//! [`SetupHeader::parse`] needs only the header bytes (a prefix of the
//! file), so a loader can read a few sectors, plan, and then read the rest
//! of the file straight to its final place; [`SetupHeader::protected_mode_len`]
//! and [`BzImage::parse`] add the checks that need the file's length.

use core::fmt;

use crate::le::{u16_at, u32_at, u64_at, u8_at};
use crate::zeropage as zp;
use crate::Error;

/// The oldest boot protocol vmfw boots: 2.12, the first with `xloadflags`
/// and so the first in which a kernel can declare its 64-bit entry point
/// (`XLF_KERNEL_64`). It also guarantees `cmdline_size` (2.06),
/// `pref_address` and `init_size` (2.10).
pub const MIN_PROTOCOL: u16 = 0x020c;

/// Bytes of the largest possible setup header.
const RAW_MAX: usize = zp::SETUP_HEADER_MAX_END - zp::SETUP_HEADER;

/// Page size the placement code rounds to.
const PAGE_SIZE: u64 = vmfw_memmap::PAGE_SIZE;

/// A validated setup header.
///
/// Only [`SetupHeader::parse`] makes one, so every value here passed its
/// checks: the image is a bzImage (`LOADED_HIGH`) with boot protocol ≥
/// [`MIN_PROTOCOL`] and a 64-bit entry point; `kernel_alignment` is a power
/// of two and `min_alignment` no larger; `pref_address` is non-zero and
/// page aligned; `init_size` is non-zero and `pref_address + init_size`
/// does not wrap. It also keeps the raw header bytes for the zero page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SetupHeader {
    raw: [u8; RAW_MAX],
    raw_len: usize,
    setup_sects: u8,
    syssize: u32,
    version: u16,
    kernel_version: u16,
    loadflags: u8,
    initrd_addr_max: u32,
    kernel_alignment: u32,
    relocatable: bool,
    min_alignment: u8,
    xloadflags: u16,
    cmdline_size: u32,
    payload_offset: u32,
    payload_length: u32,
    pref_address: u64,
    init_size: u32,
    handover_offset: u32,
    kernel_info_offset: Option<u32>,
}

/// A field of `size` bytes at `off` that `read` got from `b`, or the
/// [`Error::Truncated`] saying how far `b` must reach.
fn field<T>(read: Option<T>, off: usize, size: usize, b: &[u8]) -> Result<T, Error> {
    read.ok_or(Error::Truncated { needed: off.saturating_add(size) as u64, len: b.len() as u64 })
}

impl SetupHeader {
    /// Parses and validates the setup header from the start of a kernel
    /// file. `image` may be just a prefix: it must reach the end of the
    /// header (at most 0x281 bytes; 0x26c for current kernels). Checks that
    /// need the file length are in [`SetupHeader::protected_mode_len`].
    pub fn parse(image: &[u8]) -> Result<Self, Error> {
        let boot_flag = field(u16_at(image, zp::BOOT_FLAG), zp::BOOT_FLAG, 2, image)?;
        if boot_flag != zp::BOOT_FLAG_MAGIC {
            return Err(Error::BadBootFlag(boot_flag));
        }
        let magic = field(u32_at(image, zp::HEADER), zp::HEADER, 4, image)?;
        if magic != zp::HEADER_MAGIC {
            return Err(Error::NotABzImage);
        }
        let version = field(u16_at(image, zp::VERSION), zp::VERSION, 2, image)?;
        if version < MIN_PROTOCOL {
            return Err(Error::ProtocolTooOld(version));
        }
        // The jump is `0xEB rel8` relative to 0x202; rel8 is signed, so a
        // header can never be longer than 0x7f bytes past 0x202.
        let jump = field(u8_at(image, zp::JUMP_OFFSET), zp::JUMP_OFFSET, 1, image)?;
        let end = zp::HEADER.saturating_add(usize::from(jump));
        if jump > 0x7f || end < zp::SETUP_HEADER_MIN_END {
            return Err(Error::BadHeaderLength(jump));
        }
        let raw_bytes = image
            .get(zp::SETUP_HEADER..end)
            .ok_or(Error::Truncated { needed: end as u64, len: image.len() as u64 })?;
        let mut raw = [0u8; RAW_MAX];
        let raw_len = raw_bytes.len();
        raw.get_mut(..raw_len).ok_or(Error::BadHeaderLength(jump))?.copy_from_slice(raw_bytes);

        // From here on every field lies below `end`, which the slice
        // reaches; `field` only guards against a mistake in that reasoning.
        let at8 = |off: usize| field(u8_at(image, off), off, 1, image);
        let at16 = |off: usize| field(u16_at(image, off), off, 2, image);
        let at32 = |off: usize| field(u32_at(image, off), off, 4, image);
        let at64 = |off: usize| field(u64_at(image, off), off, 8, image);

        let setup_sects = match at8(zp::SETUP_SECTS)? {
            0 => 4,
            n => n,
        };
        let loadflags = at8(zp::LOADFLAGS)?;
        if loadflags & zp::LOADFLAG_LOADED_HIGH == 0 {
            return Err(Error::NotLoadedHigh);
        }
        let xloadflags = at16(zp::XLOADFLAGS)?;
        if xloadflags & zp::XLF_KERNEL_64 == 0 {
            return Err(Error::Not64Bit);
        }
        let kernel_alignment = at32(zp::KERNEL_ALIGNMENT)?;
        if !kernel_alignment.is_power_of_two() {
            return Err(Error::BadAlignment(kernel_alignment));
        }
        let min_alignment = at8(zp::MIN_ALIGNMENT)?;
        if min_alignment != 0 {
            // checked_shl refuses exponents of 32 and more.
            let min = 1u32.checked_shl(u32::from(min_alignment));
            if min.is_none_or(|m| m > kernel_alignment) {
                return Err(Error::BadMinAlignment(min_alignment));
            }
        }
        let init_size = at32(zp::INIT_SIZE)?;
        if init_size == 0 {
            return Err(Error::BadInitSize);
        }
        let pref_address = at64(zp::PREF_ADDRESS)?;
        if pref_address == 0
            || !pref_address.is_multiple_of(PAGE_SIZE)
            || pref_address.checked_add(u64::from(init_size)).is_none()
        {
            return Err(Error::BadPrefAddress(pref_address));
        }
        let kernel_info_offset = match zp::KERNEL_INFO_OFFSET.checked_add(4) {
            Some(e) if version >= 0x020f && e <= end => Some(at32(zp::KERNEL_INFO_OFFSET)?),
            _ => None,
        };

        Ok(SetupHeader {
            raw,
            raw_len,
            setup_sects,
            syssize: at32(zp::SYSSIZE)?,
            version,
            kernel_version: at16(zp::KERNEL_VERSION)?,
            loadflags,
            initrd_addr_max: at32(zp::INITRD_ADDR_MAX)?,
            kernel_alignment,
            relocatable: at8(zp::RELOCATABLE_KERNEL)? != 0,
            min_alignment,
            xloadflags,
            cmdline_size: at32(zp::CMDLINE_SIZE)?,
            payload_offset: at32(zp::PAYLOAD_OFFSET)?,
            payload_length: at32(zp::PAYLOAD_LENGTH)?,
            pref_address,
            init_size,
            handover_offset: at32(zp::HANDOVER_OFFSET)?,
            kernel_info_offset,
        })
    }

    /// The header bytes as the file has them, from 0x1f1 to the end the
    /// jump byte gives: what a loader copies into the zero page.
    pub fn raw(&self) -> &[u8] {
        self.raw.get(..self.raw_len).unwrap_or(&[])
    }

    /// Boot protocol version, `(major << 8) | minor` (0x020f for 2.15).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Setup code sectors after the boot sector (0 in the file reads as 4).
    pub fn setup_sects(&self) -> u8 {
        self.setup_sects
    }

    /// Bytes before the protected-mode code: `(setup_sects + 1) * 512`.
    pub fn setup_size(&self) -> u64 {
        // At most 256 * 512: cannot overflow.
        u64::from(self.setup_sects).saturating_add(1).saturating_mul(zp::SECTOR_SIZE as u64)
    }

    /// `syssize`: protected-mode code size in 16-byte paragraphs.
    pub fn syssize(&self) -> u32 {
        self.syssize
    }

    /// `loadflags` as the file has them.
    pub fn loadflags(&self) -> u8 {
        self.loadflags
    }

    /// `xloadflags` (`XLF_*` bits in [`zp`](crate::zeropage)).
    pub fn xloadflags(&self) -> u16 {
        self.xloadflags
    }

    /// Whether the kernel, its boot parameters, command line and initrd
    /// may lie above 4 GiB (`XLF_CAN_BE_LOADED_ABOVE_4G`).
    pub fn can_load_above_4g(&self) -> bool {
        self.xloadflags & zp::XLF_CAN_BE_LOADED_ABOVE_4G != 0
    }

    /// `relocatable_kernel`: the protected-mode code may be loaded at any
    /// address that satisfies the alignment.
    pub fn relocatable(&self) -> bool {
        self.relocatable
    }

    /// `kernel_alignment` in bytes: the preferred alignment (a power of
    /// two).
    pub fn kernel_alignment(&self) -> u32 {
        self.kernel_alignment
    }

    /// The minimum alignment in bytes the kernel boots with:
    /// `1 << min_alignment`, or `kernel_alignment` when the field is 0.
    pub fn min_alignment(&self) -> u32 {
        match self.min_alignment {
            0 => self.kernel_alignment,
            m => 1u32.checked_shl(u32::from(m)).unwrap_or(self.kernel_alignment),
        }
    }

    /// `pref_address`: where the kernel wants to be loaded (and where a
    /// non-relocatable kernel must be).
    pub fn pref_address(&self) -> u64 {
        self.pref_address
    }

    /// `init_size`: bytes from the runtime start address the kernel needs
    /// before it reads the memory map.
    pub fn init_size(&self) -> u32 {
        self.init_size
    }

    /// `cmdline_size`: the longest command line, without its NUL.
    pub fn cmdline_size(&self) -> u32 {
        self.cmdline_size
    }

    /// `initrd_addr_max`, the highest byte an initrd may occupy (below
    /// 4 GiB), or the protocol's default 0x37FFFFFF when the field is 0.
    pub fn initrd_addr_max(&self) -> u32 {
        match self.initrd_addr_max {
            0 => zp::DEFAULT_INITRD_ADDR_MAX,
            m => m,
        }
    }

    /// `payload_offset` (from the start of the protected-mode code).
    pub fn payload_offset(&self) -> u32 {
        self.payload_offset
    }

    /// `payload_length`.
    pub fn payload_length(&self) -> u32 {
        self.payload_length
    }

    /// `handover_offset`: EFI handover entry, from the protected-mode start.
    pub fn handover_offset(&self) -> u32 {
        self.handover_offset
    }

    /// `kernel_info_offset` (protocol 2.15+, when the header reaches it).
    pub fn kernel_info_offset(&self) -> Option<u32> {
        self.kernel_info_offset
    }

    /// Checks a kernel file of `image_len` bytes against the header and
    /// returns the length of its protected-mode part (everything after the
    /// setup code, which the firmware copies to the load address).
    ///
    /// The file must hold the setup code, the `syssize` paragraphs of
    /// protected-mode code, and at least the 64-bit entry point; the
    /// payload must lie inside the protected-mode code. Bytes after
    /// `syssize` (a signature appended by `sbsign`, say) are allowed and
    /// counted: they are loaded too.
    pub fn protected_mode_len(&self, image_len: u64) -> Result<u64, Error> {
        let setup = self.setup_size();
        let min_kernel =
            u64::from(self.syssize).saturating_mul(16).max(zp::ENTRY_64_OFFSET.saturating_add(1));
        let needed = setup.saturating_add(min_kernel);
        if image_len < needed {
            return Err(Error::Truncated { needed, len: image_len });
        }
        let kernel_len = image_len.saturating_sub(setup);
        if self.payload_length != 0 {
            let end = u64::from(self.payload_offset).saturating_add(u64::from(self.payload_length));
            if end > kernel_len {
                return Err(Error::BadPayload {
                    offset: self.payload_offset,
                    length: self.payload_length,
                });
            }
        }
        Ok(kernel_len)
    }

    /// The protected-mode part of a whole kernel file (after the checks of
    /// [`SetupHeader::protected_mode_len`]).
    pub fn protected_mode<'a>(&self, image: &'a [u8]) -> Result<&'a [u8], Error> {
        self.protected_mode_len(image.len() as u64)?;
        let setup = usize::try_from(self.setup_size()).unwrap_or(usize::MAX);
        image
            .get(setup..)
            .ok_or(Error::Truncated { needed: self.setup_size(), len: image.len() as u64 })
    }

    /// The kernel's version string ("6.1.0-13-amd64 (debian-kernel@...)
    /// #1 SMP ..."), if the header points at one inside the setup code of
    /// `image` and it is NUL-terminated UTF-8. For log lines only.
    pub fn kernel_version<'a>(&self, image: &'a [u8]) -> Option<&'a str> {
        if self.kernel_version == 0 {
            return None;
        }
        let start = usize::from(self.kernel_version).checked_add(0x200)?;
        let setup_end = usize::try_from(self.setup_size()).ok()?.min(image.len());
        let bytes = image.get(start..setup_end)?;
        let nul = bytes.iter().position(|b| *b == 0)?;
        core::str::from_utf8(bytes.get(..nul)?).ok()
    }
}

impl fmt::Debug for SetupHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<T>(T);
        impl<T: fmt::LowerHex> fmt::Debug for Hex<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
        f.debug_struct("SetupHeader")
            .field("version", &Hex(self.version))
            .field("header_len", &self.raw_len)
            .field("setup_sects", &self.setup_sects)
            .field("syssize", &Hex(self.syssize))
            .field("loadflags", &Hex(self.loadflags))
            .field("xloadflags", &Hex(self.xloadflags))
            .field("relocatable", &self.relocatable)
            .field("kernel_alignment", &Hex(self.kernel_alignment))
            .field("min_alignment", &self.min_alignment)
            .field("pref_address", &Hex(self.pref_address))
            .field("init_size", &Hex(self.init_size))
            .field("cmdline_size", &self.cmdline_size)
            .field("initrd_addr_max", &Hex(self.initrd_addr_max))
            .field("payload", &(Hex(self.payload_offset), Hex(self.payload_length)))
            .field("handover_offset", &Hex(self.handover_offset))
            .field("kernel_info_offset", &self.kernel_info_offset.map(Hex))
            .finish()
    }
}

/// A whole bzImage file in memory, validated: the header, the setup code
/// and the protected-mode code the firmware copies to the load address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BzImage<'a> {
    header: SetupHeader,
    setup: &'a [u8],
    kernel: &'a [u8],
}

impl<'a> BzImage<'a> {
    /// Parses the header of `image` and checks the whole file against it
    /// ([`SetupHeader::parse`] plus [`SetupHeader::protected_mode_len`]).
    pub fn parse(image: &'a [u8]) -> Result<Self, Error> {
        let header = SetupHeader::parse(image)?;
        let kernel = header.protected_mode(image)?;
        let setup_len = image.len().saturating_sub(kernel.len());
        let setup = image.get(..setup_len).unwrap_or(&[]);
        Ok(BzImage { header, setup, kernel })
    }

    /// The setup header.
    pub fn header(&self) -> &SetupHeader {
        &self.header
    }

    /// The boot sector and 16-bit setup code (`setup_size()` bytes).
    pub fn setup(&self) -> &'a [u8] {
        self.setup
    }

    /// The protected-mode code: copy it to
    /// [`KernelPlacement::addr`](crate::KernelPlacement::addr).
    pub fn kernel(&self) -> &'a [u8] {
        self.kernel
    }

    /// Length of the whole file.
    pub fn len(&self) -> u64 {
        (self.setup.len() as u64).saturating_add(self.kernel.len() as u64)
    }

    /// Always false: a valid image is never empty (here for clippy's
    /// `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kernel's version string, for log lines (see
    /// [`SetupHeader::kernel_version`]).
    pub fn kernel_version(&self) -> Option<&'a str> {
        self.header.kernel_version(self.setup)
    }
}
