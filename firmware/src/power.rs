//! Stopping the VM on purpose: power off (ACPI S5), or failing that, reset
//! through every mechanism VMMs implement, so the firmware never spins
//! forever. Run QEMU with `-no-reboot` to make a reset end the VM too.
//!
//! Power-off order: ACPI S5 from the FADT/DSDT (QEMU q35 and microvm,
//! Cloud Hypervisor), the architecture's power-off steps
//! ([`arch::power::off`]; x86: the keyboard controller's reset line, which
//! Firecracker stops the VM on, and the reset control register 0xCF9), the
//! FADT reset register, the architecture's last steps
//! ([`arch::power::off_last`]; x86: QEMU's `isa-debug-exit` port when
//! present), and finally [`arch::power::stop`] (x86: a triple fault).
//! Between attempts the firmware waits a few milliseconds by the counter
//! (not with PAUSE loops, which trap on some nested hypervisors).

use crate::arch::{self, PortWidth};
use spin::Once;
use vmfw_acpi::{Gas, GasSpace, PowerControl};

static ACPI: Once<PowerControl> = Once::new();

/// Shows a [`PowerControl`] for the debug log: each register write as
/// `space address <- value`. (Written out instead of `{:?}`, whose
/// derived struct formatting would be the only user of `core`'s Debug
/// builders in the image.)
pub struct Described<'a>(pub &'a PowerControl);

impl core::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn reg(f: &mut core::fmt::Formatter<'_>, g: &Gas, value: u64) -> core::fmt::Result {
            match g.space {
                GasSpace::Memory => f.write_str("mem")?,
                GasSpace::Io => f.write_str("io")?,
                GasSpace::Other(n) => write!(f, "space {n}")?,
            }
            write!(f, " {:#x}/{} <- {value:#x}", g.address, g.bit_width)
        }
        f.write_str("S5")?;
        let mut any = false;
        for (g, v) in self.0.s5_writes.iter().flatten() {
            f.write_str(if any { ", " } else { " " })?;
            reg(f, g, u64::from(*v))?;
            any = true;
        }
        if !any {
            f.write_str(" none")?;
        }
        f.write_str("; reset ")?;
        match &self.0.reset {
            Some((g, v)) => reg(f, g, u64::from(*v)),
            None => f.write_str("none"),
        }
    }
}

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
    arch::power::off(settle);
    if let Some((gas, value)) = ACPI.get().and_then(|pc| pc.reset) {
        write_gas(&gas, u16::from(value));
        settle();
    }
    arch::power::off_last(settle);
    arch::power::stop()
}

/// Gives the VMM a moment (about 20 ms) to act on a write before trying
/// the next way. Measured with the counter, using its rate when it is
/// known and otherwise the architecture's upper bound (so the wait is at
/// most a little long, never endless).
fn settle() {
    let hz = crate::time::counter_hz_if_known().unwrap_or(arch::COUNTER_HZ_MAX);
    let start = arch::counter();
    while arch::counter().wrapping_sub(start) < hz / 50 {}
}

fn write_gas(gas: &Gas, value: u16) {
    match gas.space {
        GasSpace::Io => {
            let Ok(port) = u16::try_from(gas.address) else { return };
            let width = match gas.bit_width {
                8 => PortWidth::U8,
                32 => PortWidth::U32,
                _ => PortWidth::U16,
            };
            // SAFETY: an ACPI power-management register named by the FADT;
            // writing it can only change the machine's power state. Where
            // there are no ports (aarch64) nothing is written.
            unsafe { arch::port_write(port, width, u32::from(value)) };
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
/// mapped), then the architecture's own power-off steps (aarch64: PSCI
/// `SYSTEM_OFF`; x86: resets), and nothing is printed. Falls back to a
/// reset.
pub fn off_at_runtime() -> ! {
    if let Some(pc) = ACPI.get() {
        for (gas, value) in pc.s5_writes.iter().flatten() {
            if gas.space == GasSpace::Io {
                write_gas(gas, *value);
            }
        }
        settle();
    }
    arch::power::off(settle);
    reset()
}

/// Resets the machine (UEFI `ResetSystem()` cold and warm): the
/// architecture's reset steps ([`arch::power::reset`]; x86: the reset
/// control register, the keyboard controller), the FADT reset register
/// when it is an I/O port, then [`arch::power::stop`].
pub fn reset() -> ! {
    arch::power::reset(settle);
    if let Some((gas, value)) = ACPI.get().and_then(|pc| pc.reset) {
        if gas.space == GasSpace::Io {
            write_gas(&gas, u16::from(value));
            settle();
        }
    }
    arch::power::stop()
}
