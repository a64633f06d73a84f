//! The x86 ways to stop a VM besides ACPI's registers: the keyboard
//! controller's reset line (Firecracker stops the VM on it), the PCI reset
//! control register 0xCF9, QEMU's `isa-debug-exit` port, and a triple
//! fault. Each is a port write, so all are safe to use at runtime.

/// Pulses the reset line through the i8042 command port.
fn i8042_reset() {
    // SAFETY: the i8042 command port (0x64); command 0xfe pulses the reset
    // line, which can only reset the VM.
    unsafe { super::io::outb(0x64, 0xfe) };
}

/// A hard reset through the reset control register.
fn cf9_reset() {
    // SAFETY: the reset control register (0xcf9): select hard reset, then
    // request it; the only effect is a reset.
    unsafe {
        super::io::outb(0xcf9, 0x02);
        super::io::outb(0xcf9, 0x06);
    }
}

/// QEMU's `isa-debug-exit` device, which ends QEMU.
fn debug_exit() {
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit when the VMM adds it;
    // elsewhere the write goes nowhere.
    unsafe { super::io::outl(0xf4, 0) };
}

/// Power-off steps after ACPI S5: i8042 reset, then 0xCF9.
pub fn off(mut settle: impl FnMut()) {
    i8042_reset();
    settle();
    cf9_reset();
    settle();
}

/// Power-off steps after the ACPI reset register: `isa-debug-exit`.
pub fn off_last(mut settle: impl FnMut()) {
    debug_exit();
    settle();
}

/// Reset steps before the ACPI reset register: 0xCF9, then i8042.
pub fn reset(mut settle: impl FnMut()) {
    cf9_reset();
    settle();
    i8042_reset();
    settle();
}

/// Forces a triple fault: loads an empty IDT and raises an exception. The
/// VMM resets the VM (or ends it, with QEMU's `-no-reboot`).
pub fn stop() -> ! {
    let empty: [u8; 10] = [0; 10];
    // SAFETY: deliberately makes the CPU shut down; nothing after runs.
    unsafe {
        core::arch::asm!("lidt [{}]", "int3", in(reg) empty.as_ptr(), options(nostack));
    }
    super::halt()
}
