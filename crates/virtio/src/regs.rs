//! Register access: the one seam between the transports and the hardware.
//!
//! Transports read and write device registers only through
//! [`RegisterAccess`], at byte offsets inside one register window (an MMIO
//! device window, or one virtio structure inside a PCI BAR). The firmware
//! uses [`MmioRegion`]; tests substitute fakes.
//!
//! Accesses use the natural width of the register (virtio 1.2 §4.1.3.1 and
//! §4.2.2 require it: 32-bit registers with 32-bit accesses, and so on).

/// Reads and writes registers at byte offsets within one register window.
///
/// Methods take `&mut self` because register reads can have side effects
/// (reading the ISR status clears it).
pub trait RegisterAccess {
    /// Reads the byte at `offset`.
    fn read_u8(&mut self, offset: usize) -> u8;
    /// Reads the little-endian 16-bit register at `offset`.
    fn read_u16(&mut self, offset: usize) -> u16;
    /// Reads the little-endian 32-bit register at `offset`.
    fn read_u32(&mut self, offset: usize) -> u32;
    /// Writes the byte at `offset`.
    fn write_u8(&mut self, offset: usize, value: u8);
    /// Writes the little-endian 16-bit register at `offset`.
    fn write_u16(&mut self, offset: usize, value: u16);
    /// Writes the little-endian 32-bit register at `offset`.
    fn write_u32(&mut self, offset: usize, value: u32);
}

impl<R: RegisterAccess + ?Sized> RegisterAccess for &mut R {
    fn read_u8(&mut self, offset: usize) -> u8 {
        (**self).read_u8(offset)
    }
    fn read_u16(&mut self, offset: usize) -> u16 {
        (**self).read_u16(offset)
    }
    fn read_u32(&mut self, offset: usize) -> u32 {
        (**self).read_u32(offset)
    }
    fn write_u8(&mut self, offset: usize, value: u8) {
        (**self).write_u8(offset, value)
    }
    fn write_u16(&mut self, offset: usize, value: u16) {
        (**self).write_u16(offset, value)
    }
    fn write_u32(&mut self, offset: usize, value: u32) {
        (**self).write_u32(offset, value)
    }
}

/// A window of memory-mapped device registers, accessed with volatile
/// loads and stores.
///
/// Accesses that do not lie entirely inside the window, or are not aligned
/// to their width, are not performed: reads return all ones (what a bus
/// returns for nothing there) and writes are dropped. The transports never
/// issue such accesses; the check keeps a bug from touching memory outside
/// the window.
#[derive(Debug)]
pub struct MmioRegion {
    base: usize,
    len: usize,
}

impl MmioRegion {
    /// Describes the register window of `len` bytes at address `base`.
    ///
    /// Returns `None` if the window does not fit this CPU's address space.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be device registers mapped (identity,
    /// uncached/device memory) for as long as the region is used, must not
    /// be ordinary memory that Rust code also accesses, and must not be
    /// driven by any other owner at the same time.
    pub unsafe fn new(base: u64, len: usize) -> Option<Self> {
        let base = usize::try_from(base).ok()?;
        base.checked_add(len)?;
        Some(Self { base, len })
    }

    /// Address of the window.
    pub fn base(&self) -> u64 {
        self.base as u64
    }

    /// Length of the window in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of an access of `width` bytes at `offset`, if it is
    /// inside the window and naturally aligned.
    fn addr(&self, offset: usize, width: usize) -> Option<usize> {
        let end = offset.checked_add(width)?;
        if end > self.len || !offset.is_multiple_of(width) {
            return None;
        }
        self.base.checked_add(offset)
    }
}

/// Single loads and stores to device registers.
///
/// On aarch64 they are written in assembly with plain register addressing:
/// a compiler-chosen load/store with writeback or a pair instruction gives
/// the hypervisor no decodable syndrome for the MMIO fault, and KVM then
/// cannot emulate the access. Elsewhere a volatile access is one plain
/// instruction already.
mod io {
    #[cfg(target_arch = "aarch64")]
    macro_rules! io_fns {
        ($read:ident, $write:ident, $t:ty, $ld:literal, $st:literal) => {
            /// # Safety
            ///
            /// `addr` must be a mapped, naturally aligned device register.
            pub(super) unsafe fn $read(addr: usize) -> $t {
                let v: u32;
                // SAFETY: the caller guarantees a mapped, aligned register;
                // the instruction touches nothing else.
                unsafe {
                    core::arch::asm!(
                        concat!($ld, " {v:w}, [{a}]"),
                        a = in(reg) addr,
                        v = out(reg) v,
                        options(nostack, preserves_flags)
                    )
                };
                v as $t
            }
            /// # Safety
            ///
            /// `addr` must be a mapped, naturally aligned device register.
            pub(super) unsafe fn $write(addr: usize, value: $t) {
                // SAFETY: as for the read.
                unsafe {
                    core::arch::asm!(
                        concat!($st, " {v:w}, [{a}]"),
                        a = in(reg) addr,
                        v = in(reg) u32::from(value),
                        options(nostack, preserves_flags)
                    )
                };
            }
        };
    }

    #[cfg(not(target_arch = "aarch64"))]
    macro_rules! io_fns {
        ($read:ident, $write:ident, $t:ty, $ld:literal, $st:literal) => {
            /// # Safety
            ///
            /// `addr` must be a mapped, naturally aligned device register.
            pub(super) unsafe fn $read(addr: usize) -> $t {
                // SAFETY: the caller guarantees a mapped, aligned register.
                unsafe { core::ptr::read_volatile(core::ptr::with_exposed_provenance::<$t>(addr)) }
            }
            /// # Safety
            ///
            /// `addr` must be a mapped, naturally aligned device register.
            pub(super) unsafe fn $write(addr: usize, value: $t) {
                // SAFETY: as for the read.
                unsafe {
                    core::ptr::write_volatile(
                        core::ptr::with_exposed_provenance_mut::<$t>(addr),
                        value,
                    )
                }
            }
        };
    }

    io_fns!(read_u8, write_u8, u8, "ldrb", "strb");
    io_fns!(read_u16, write_u16, u16, "ldrh", "strh");
    io_fns!(read_u32, write_u32, u32, "ldr", "str");
}

macro_rules! mmio_rw {
    ($read:ident, $write:ident, $t:ty) => {
        fn $read(&mut self, offset: usize) -> $t {
            match self.addr(offset, core::mem::size_of::<$t>()) {
                // SAFETY: `new`'s contract makes every aligned address inside
                // the window a device register that this region owns; `addr`
                // checked bounds and alignment.
                Some(a) => <$t>::from_le(unsafe { io::$read(a) }),
                None => <$t>::MAX,
            }
        }
        fn $write(&mut self, offset: usize, value: $t) {
            if let Some(a) = self.addr(offset, core::mem::size_of::<$t>()) {
                // SAFETY: as for the read above: an owned, in-bounds, aligned
                // device register.
                unsafe { io::$write(a, value.to_le()) }
            }
        }
    };
}

impl RegisterAccess for MmioRegion {
    mmio_rw!(read_u8, write_u8, u8);
    mmio_rw!(read_u16, write_u16, u16);
    mmio_rw!(read_u32, write_u32, u32);
}
