//! x86_64 support: entry doors, CPU tables, paging and port I/O.

pub mod gdt;
pub mod handoff;
pub mod idt;
pub mod io;
pub mod paging;

core::arch::global_asm!(include_str!("entry.s"));

/// Stops this CPU for good: interrupts off, halt forever.
pub fn halt() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops the CPU; no memory is touched.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in the firmware.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Forces a triple fault: loads an empty IDT and raises an exception. The
/// last resort when no reset or power-off register works.
pub fn triple_fault() -> ! {
    let empty: [u8; 10] = [0; 10];
    // SAFETY: deliberately makes the CPU shut down; nothing after runs.
    unsafe {
        core::arch::asm!("lidt [{}]", "int3", in(reg) empty.as_ptr(), options(nostack));
    }
    halt()
}
