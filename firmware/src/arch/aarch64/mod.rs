//! aarch64 support: the arm64 `Image` door, the MMU, exception vectors,
//! the generic timer, and the devices the device tree names (PL011
//! console, PL031 RTC, PSCI for power).
//!
//! Nothing outside `arch` names these modules: the boot flow goes through
//! the interface in `arch/mod.rs`.

pub mod efi_call;
pub mod exceptions;
pub mod handoff;
pub mod linux;
pub mod paging;
pub mod pci;
pub mod power;
pub mod rng;
pub mod rtc;
pub mod serial;
pub mod timer;

pub use self::timer as counter;

use vmfw_platform::{Door, Platform};

core::arch::global_asm!(include_str!("entry.s"));

/// The architecture's name in the log.
/// The PE machine type of UEFI images for this CPU.
pub const PE_MACHINE: vmfw_pe::Machine = vmfw_pe::Machine::Aarch64;

/// Whether the runtime services offer `SetVirtualAddressMap()` (see
/// `arch::RUNTIME_VIRTUAL_MAP`).
pub const RUNTIME_VIRTUAL_MAP: bool = false;

/// Whether the VMM hands over a device tree.
pub const HAS_DEVICE_TREE: bool = true;

/// The architecture's name in the log.
pub const NAME: &str = "aarch64";

/// The door number `vmfw_start` receives from this architecture's entry.
const DOOR_DEVICE_TREE: u32 = 2;
/// Device trees larger than this are not believed (QEMU's are 1 MiB at
/// most, Cloud Hypervisor's a few KiB).
const FDT_MAX: u64 = 2 << 20;
const FDT_MAGIC: u32 = 0xd00d_feed;

/// Runs from `entry.s` with the MMU off, on the firmware stack: maps the
/// image and the device tree, turns the MMU and caches on, finds the
/// console, the RTC and the PSCI conduit in the tree (before there is a
/// heap: nothing here allocates), then enters the common code.
#[no_mangle]
extern "C" fn vmfw_aarch64_entry(fdt: u64, _base: u64) -> ! {
    let len = fdt_len(fdt);
    // SAFETY: called once, first, with the MMU off and the image
    // relocated by the entry code.
    unsafe { paging::init_early(fdt, len) };
    if len != 0 {
        // SAFETY: `[fdt, fdt + len)` was mapped as RAM just above; the
        // VMM's blob is not written by anyone while the firmware runs.
        let blob = unsafe { core::slice::from_raw_parts(fdt as *const u8, len as usize) };
        if let Ok(tree) = vmfw_fdt::Fdt::new(blob) {
            find_devices(&tree);
        }
    }
    crate::vmfw_start(fdt, DOOR_DEVICE_TREE)
}

/// `totalsize` of the blob at `fdt` when it starts with the FDT magic, else 0.
fn fdt_len(fdt: u64) -> u64 {
    if fdt == 0 || !fdt.is_multiple_of(8) {
        return 0;
    }
    // SAFETY: the VMM put a device tree at `fdt` (booting.rst: x0), in RAM;
    // with the MMU off these aligned reads go straight to memory.
    let (magic, size) = unsafe {
        (
            u32::from_be(core::ptr::read_volatile(fdt as *const u32)),
            u32::from_be(core::ptr::read_volatile((fdt + 4) as *const u32)),
        )
    };
    if magic != FDT_MAGIC || u64::from(size) > FDT_MAX {
        return 0;
    }
    u64::from(size)
}

fn find_devices(tree: &vmfw_fdt::Fdt<'_>) {
    if let Some(uart) = vmfw_fdt::stdout_uart(tree) {
        if uart.kind == vmfw_fdt::UartKind::Pl011
            && paging::map_identity(uart.mmio.base, uart.mmio.size, true, &mut paging::early_table)
        {
            serial::set_base(uart.mmio.base);
        }
    }
    for node in tree.root().children() {
        if node.is_compatible("arm,pl031") {
            if let Some((base, size)) = node.reg().ok().and_then(|mut r| r.next()) {
                if paging::map_identity(base, size, true, &mut paging::early_table) {
                    rtc::set_base(base);
                }
            }
        } else if ["arm,psci-1.0", "arm,psci-0.2"].iter().any(|c| node.is_compatible(c)) {
            match node.property("method").and_then(|p| p.as_str()) {
                Some("hvc") => power::set_conduit(power::Conduit::Hvc),
                Some("smc") => power::set_conduit(power::Conduit::Smc),
                _ => {}
            }
        }
    }
}

/// The platform description from the device tree the entry found.
pub fn platform(info: u64, door: u32) -> Result<Platform, vmfw_platform::Error> {
    let _ = door;
    let len = fdt_len(info);
    if len == 0 {
        return Err(vmfw_platform::Error::Unreadable(info));
    }
    // SAFETY: mapped by `init_early` (the same check found the same
    // length); nothing writes the blob.
    let blob = unsafe { core::slice::from_raw_parts(info as *const u8, len as usize) };
    let tree = vmfw_fdt::Fdt::new(blob).map_err(|_| vmfw_platform::Error::Unreadable(info))?;
    vmfw_platform::from_fdt(&tree, info)
}

/// This architecture's door (there is one).
pub fn door(_door: u32) -> Door {
    Door::DeviceTree
}

/// Installs the exception vectors.
pub fn init_cpu() {
    exceptions::init();
}

/// Stops this CPU for good: interrupts masked, waiting forever.
pub fn halt() -> ! {
    loop {
        // SAFETY: masks interrupts and waits; no memory is touched.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}

/// No I/O port space on arm64.
///
/// # Safety
/// None; `unsafe` to match the architecture-neutral interface.
pub unsafe fn port_write(_port: u16, _width: super::PortWidth, _value: u32) -> bool {
    false
}
