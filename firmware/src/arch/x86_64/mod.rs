//! x86_64 support: entry doors, CPU tables, paging, port I/O, and the
//! platform devices every x86 VMM emulates (16550 UART, CMOS RTC, PIT,
//! PCI configuration ports, reset ports).
//!
//! Nothing outside `arch` names these modules (except the transition paths
//! in `arch/mod.rs`): the boot flow goes through the interface there.

pub mod efi_call;
pub mod gdt;
pub mod handoff;
pub mod idt;
pub mod io;
pub mod linux;
pub mod paging;
pub mod pci;
pub mod power;
pub mod rng;
pub mod rtc;
pub mod serial;
pub mod tsc;

pub use self::tsc as counter;

use vmfw_platform::{Door, Platform};

/// The architecture's name in the log.
/// The PE machine type of UEFI images for this CPU.
pub const PE_MACHINE: vmfw_pe::Machine = vmfw_pe::Machine::X86_64;

/// Whether the runtime services offer `SetVirtualAddressMap()` (see
/// `arch::RUNTIME_VIRTUAL_MAP`).
pub const RUNTIME_VIRTUAL_MAP: bool = true;

/// Whether the VMM hands over a device tree.
pub const HAS_DEVICE_TREE: bool = false;

/// The architecture's name in the log.
pub const NAME: &str = "x86_64";

/// The door numbers `entry.s` passes to `vmfw_start`.
pub fn door(door: u32) -> Door {
    if door == 0 {
        Door::Pvh
    } else {
        Door::Linux64
    }
}

/// Reads the PVH start info or the zero page, as the door says.
pub fn platform(info: u64, door_number: u32) -> Result<Platform, vmfw_platform::Error> {
    match door(door_number) {
        Door::Pvh => vmfw_platform::from_pvh(&crate::memory::Phys, info),
        _ => vmfw_platform::from_zero_page(&crate::memory::Phys, info),
    }
}

core::arch::global_asm!(include_str!("entry.s"));

/// Loads the firmware's GDT and TSS, then the IDT with the exception
/// handlers.
pub fn init_cpu() {
    gdt::init();
    idt::init();
}

/// Stops this CPU for good: interrupts off, halt forever.
pub fn halt() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops the CPU; no memory is touched.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Writes `value` (truncated to `width`) to I/O port `port`.
///
/// # Safety
/// As for [`io::outb`]: the port must belong to a device whose reaction
/// cannot break memory safety.
pub unsafe fn port_write(port: u16, width: super::PortWidth, value: u32) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe {
        match width {
            super::PortWidth::U8 => io::outb(port, value as u8),
            super::PortWidth::U16 => io::outw(port, value as u16),
            super::PortWidth::U32 => io::outl(port, value),
        }
    }
    true
}
