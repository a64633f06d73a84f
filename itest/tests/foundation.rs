//! Foundation tests: the firmware starts through each door, reports the
//! platform, and stops the VM by itself.

use itest::{boot_qemu, Machine};

/// Banner, memory map (with RAM above 4 GiB), command line, and a clean
/// "no bootable device" power-off, on every QEMU machine.
#[test]
fn boots_reports_and_powers_off() {
    for m in Machine::ALL {
        let out = boot_qemu("foundation", m, "5G", "vmfw.log=info hello=world");
        out.expect("entered via PVH")
            .expect("command line: \"vmfw.log=info hello=world")
            .expect("memory map:")
            .expect("no bootable device")
            .expect("powering off")
            .expect_clean_poweroff();
        // 5 GiB of RAM cannot all sit below 4 GiB: the map must list RAM
        // starting at or above 0x1_0000_0000.
        assert!(
            out.log.lines().any(|l| l.contains("0x0001") && l.contains("Free")),
            "no RAM above 4 GiB in the memory map on {}:\n{}",
            m.name(),
            out.log
        );
    }
}

/// A deliberate fault prints the exception report instead of resetting.
#[test]
fn fault_prints_exception_report() {
    for m in [Machine::Q35, Machine::Microvm] {
        let out = boot_qemu("fault", m, "256M", "vmfw.debug=fault");
        out.expect("CPU exception 14 (page fault)")
            .expect("CR2 0x00007fffdead0000")
            .expect("RIP ")
            .expect("vmfw: fatal: CPU exception")
            .expect_exited();
    }
}

/// A stack overflow hits the guard page and is reported (exception
/// handlers run on their own stack), instead of corrupting memory.
#[test]
fn stack_overflow_is_reported() {
    let out = boot_qemu("stack-overflow", Machine::Q35, "256M", "vmfw.debug=stack-overflow");
    out.expect("CPU exception 14 (page fault)")
        .expect("vmfw: fatal: CPU exception")
        .expect_exited();
}

/// A panic prints file:line and the message, then powers off.
#[test]
fn panic_prints_location() {
    let out = boot_qemu("panic", Machine::Q35, "256M", "vmfw.debug=panic");
    out.expect("vmfw panicked at firmware/src/main.rs:")
        .expect("panic requested with vmfw.debug=panic")
        .expect_clean_poweroff();
}

/// Debug logging is opt-in from the command line.
#[test]
fn log_level_from_command_line() {
    let quiet = boot_qemu("log-default", Machine::Microvm, "256M", "");
    assert!(!quiet.log.contains("[DEBUG]"), "debug lines at the default level:\n{}", quiet.log);
    let loud = boot_qemu("log-debug", Machine::Microvm, "256M", "vmfw.log=debug");
    loud.expect("[DEBUG]");
}
