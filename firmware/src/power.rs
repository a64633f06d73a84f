//! Stopping the VM on purpose: power off (ACPI S5), or failing that, reset
//! through every mechanism VMMs implement, so the firmware never spins
//! forever. Run QEMU with `-no-reboot` to make a reset end the VM too.
//!
//! Order: ACPI S5 from the FADT/DSDT (QEMU q35 and microvm, Cloud
//! Hypervisor), the keyboard controller's reset line (Firecracker stops the
//! VM on it), the PCI reset control register 0xCF9, the FADT reset
//! register, QEMU's `isa-debug-exit` port when present, and finally a
//! triple fault. Between attempts the firmware waits a few milliseconds by
//! the TSC (not with PAUSE loops, which trap on some nested hypervisors).

use crate::arch::{self, io};
use spin::Once;
use vmfw_acpi::{Gas, GasSpace, PowerControl};

static ACPI: Once<PowerControl> = Once::new();

/// Records how ACPI says to power off and reset.
pub fn set_acpi(pc: PowerControl) {
    ACPI.call_once(|| pc);
}

/// Powers the VM off after a normal end (nothing to boot).
pub fn off() -> ! {
    crate::println!("vmfw: powering off");
    off_quiet()
}

/// Reports a fatal error and powers the VM off.
pub fn fatal(why: &str) -> ! {
    crate::println!("vmfw: fatal: {why}; powering off");
    off_quiet()
}

/// Powers off without printing (also used when printing itself failed).
pub fn off_quiet() -> ! {
    if let Some(pc) = ACPI.get() {
        for (gas, value) in pc.s5_writes.iter().flatten() {
            write_gas(gas, *value);
        }
        settle();
    }
    // SAFETY: each write below targets a fixed platform port whose only
    // effect is to stop or reset the VM: the i8042 command port (0x64,
    // pulse reset) and the reset control register (0xcf9, hard reset).
    unsafe {
        io::outb(0x64, 0xfe);
        settle();
        io::outb(0xcf9, 0x02);
        io::outb(0xcf9, 0x06);
        settle();
    }
    if let Some((gas, value)) = ACPI.get().and_then(|pc| pc.reset) {
        write_gas(&gas, u16::from(value));
        settle();
    }
    // SAFETY: QEMU's isa-debug-exit port (0xf4), present only when the VMM
    // adds it; elsewhere the write goes nowhere.
    unsafe { io::outl(0xf4, 0) };
    settle();
    arch::triple_fault()
}

/// Gives the VMM a moment (about 20 ms) to act on a write before trying
/// the next way. Measured with the TSC, using the calibrated rate when one
/// exists and otherwise assuming a fast 4 GHz clock (so the wait is at most
/// a little long, never endless).
fn settle() {
    let hz = crate::time::tsc_hz_if_known().unwrap_or(4_000_000_000);
    let start = arch::rdtsc();
    while arch::rdtsc().wrapping_sub(start) < hz / 50 {}
}

fn write_gas(gas: &Gas, value: u16) {
    match gas.space {
        GasSpace::Io => {
            let Ok(port) = u16::try_from(gas.address) else { return };
            // SAFETY: an ACPI power-management register named by the FADT;
            // writing it can only change the machine's power state.
            unsafe {
                match gas.bit_width {
                    8 => io::outb(port, value as u8),
                    32 => io::outl(port, u32::from(value)),
                    _ => io::outw(port, value),
                }
            }
        }
        GasSpace::Memory => {
            if !arch::paging::is_mapped(gas.address) {
                return;
            }
            // SAFETY: a mapped MMIO power-management register named by the
            // FADT; a volatile write of the register's width.
            unsafe {
                match gas.bit_width {
                    8 => core::ptr::write_volatile(gas.address as *mut u8, value as u8),
                    32 => core::ptr::write_volatile(gas.address as *mut u32, u32::from(value)),
                    _ => core::ptr::write_volatile(gas.address as *mut u16, value),
                }
            }
        }
        GasSpace::Other(_) => {}
    }
}

/// Powers off from a UEFI runtime service, under the OS's page tables:
/// only I/O-port registers are touched (memory-mapped ones may not be
/// mapped), and nothing is printed. Falls back to a reset.
pub fn off_at_runtime() -> ! {
    if let Some(pc) = ACPI.get() {
        for (gas, value) in pc.s5_writes.iter().flatten() {
            if gas.space == GasSpace::Io {
                write_gas(gas, *value);
            }
        }
        settle();
    }
    reset()
}

/// Resets the machine (UEFI `ResetSystem()` cold and warm): the reset
/// control register, the keyboard controller, the FADT reset register
/// when it is an I/O port, then a triple fault.
pub fn reset() -> ! {
    // SAFETY: fixed platform ports whose only effect is a reset: 0xcf9
    // (reset control, full reset) and the i8042 command port (pulse reset).
    unsafe {
        io::outb(0xcf9, 0x02);
        io::outb(0xcf9, 0x06);
        settle();
        io::outb(0x64, 0xfe);
        settle();
    }
    if let Some((gas, value)) = ACPI.get().and_then(|pc| pc.reset) {
        if gas.space == GasSpace::Io {
            write_gas(&gas, u16::from(value));
            settle();
        }
    }
    arch::triple_fault()
}
