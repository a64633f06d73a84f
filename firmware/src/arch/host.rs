//! The arch interface for host unit tests (`cargo test -p vmfw` on the
//! development machine): the firmware's logic runs as an ordinary
//! process. Test code hands the firmware a RAM region it allocated
//! ([`set_test_ram`]); "physical" addresses are pointers into it. Devices
//! are absent (no UART, no ports, no PCI legacy access), time comes from
//! the OS, and anything that would stop the machine panics, which fails
//! the test. The UEFI call trampolines are the x86_64 ones, which are
//! ordinary System V code.

#[path = "x86_64/efi_call.rs"]
pub mod efi_call;

use core::sync::atomic::{AtomicU64, Ordering};

static RAM_START: AtomicU64 = AtomicU64::new(0);
static RAM_END: AtomicU64 = AtomicU64::new(0);

/// The region test code allocated as the machine's RAM: only it counts as
/// mapped.
pub fn set_test_ram(start: u64, len: u64) {
    RAM_START.store(start, Ordering::Relaxed);
    RAM_END.store(start + len, Ordering::Relaxed);
}

/// The PE machine type of UEFI images for this CPU.
pub const PE_MACHINE: vmfw_pe::Machine = vmfw_pe::Machine::X86_64;

/// Whether the runtime services offer `SetVirtualAddressMap()` (see
/// `arch::RUNTIME_VIRTUAL_MAP`).
pub const RUNTIME_VIRTUAL_MAP: bool = true;

/// Whether the VMM hands over a device tree.
pub const HAS_DEVICE_TREE: bool = true;

/// The architecture's name in the log.
pub const NAME: &str = "host";

pub fn door(_door: u32) -> vmfw_platform::Door {
    vmfw_platform::Door::Pvh
}

pub fn platform(_info: u64, _door: u32) -> Result<vmfw_platform::Platform, vmfw_platform::Error> {
    Err(vmfw_platform::Error::NoRam)
}

pub fn init_cpu() {}

pub fn halt() -> ! {
    panic!("halt in a host test")
}

/// # Safety
/// Nothing to uphold: there are no ports.
pub unsafe fn port_write(_port: u16, _width: super::PortWidth, _value: u32) -> bool {
    false
}

pub mod counter {
    pub const NAME: &str = "host clock";
    pub const HZ_MAX: u64 = 1_000_000_000;

    pub fn read() -> u64 {
        extern crate std;
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
    }

    pub fn hz() -> (u64, &'static str) {
        (HZ_MAX, "the host")
    }
}

pub mod paging {
    use super::{RAM_END, RAM_START};
    use core::sync::atomic::Ordering;

    /// Everything the tests use is "mapped" from the start.
    pub const INIT_MAP_END: u64 = 1 << 63;

    /// # Safety
    /// Nothing to uphold on the host.
    pub unsafe fn init() {}

    pub fn map_identity(
        _start: u64,
        _len: u64,
        _device: bool,
        _alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> bool {
        true
    }

    pub fn unmap_page(_addr: u64, _alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
        false
    }

    pub fn is_mapped(addr: u64) -> bool {
        (RAM_START.load(Ordering::Relaxed)..RAM_END.load(Ordering::Relaxed)).contains(&addr)
    }

    pub fn map_page_zero() {}
}

pub mod serial {
    pub fn init() -> bool {
        false
    }
    pub fn rx() -> Option<u8> {
        None
    }
    pub fn tx_room() -> usize {
        usize::MAX
    }
    pub fn tx(_byte: u8) {}
}

pub mod pci {
    pub const PRESENT: bool = false;
    pub fn read(_address: u32) -> u32 {
        u32::MAX
    }
    pub fn write(_address: u32, _value: u32) {}
}

pub mod power {
    pub fn off(_settle: impl FnMut()) {}
    pub fn off_last(_settle: impl FnMut()) {}
    pub fn reset(_settle: impl FnMut()) {}
    pub fn stop() -> ! {
        panic!("the firmware stopped the machine in a host test")
    }
}

pub mod handoff {
    /// # Safety
    /// Never returns; panics on the host.
    pub unsafe fn linux64(_entry: u64, _boot_params: u64, _loaded: &[(u64, u64)]) -> ! {
        panic!("kernel handoff in a host test")
    }
}

pub mod rtc {
    use vmfw_efi::time::{Capabilities, Time};
    use vmfw_efi::{Error, Result};

    pub fn get_time() -> Result<Time> {
        Err(Error::DeviceError)
    }
    pub fn set_time(_time: &Time) -> Result<()> {
        Err(Error::DeviceError)
    }
    pub fn mmio() -> Option<(u64, u64)> {
        None
    }
    pub fn capabilities() -> Capabilities {
        Capabilities::CMOS
    }
    pub fn get_wakeup() -> Result<crate::arch::rtc::Wakeup> {
        Err(Error::DeviceError)
    }
    pub fn set_wakeup(_alarm: Option<&Time>) -> Result<()> {
        Err(Error::DeviceError)
    }
}

pub mod rng {
    use crate::arch::rng::Algorithm;

    pub fn algorithms() -> alloc::vec::Vec<Algorithm> {
        alloc::vec::Vec::new()
    }
    pub fn fill(_alg: Algorithm, _buf: &mut [u8]) -> bool {
        false
    }
}

// The x86 kernel protocol: plain Rust over the firmware's memory and disk
// modules, compiled here so that the host tests build what it uses.
#[path = "x86_64/linux.rs"]
pub mod linux;
