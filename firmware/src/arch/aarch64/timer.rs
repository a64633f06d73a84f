//! The generic timer's virtual counter (CNTVCT_EL0) as the firmware's
//! monotonic counter; its rate is CNTFRQ_EL0, which the VMM sets.

/// What the counter is called in the log.
pub const NAME: &str = "CNTVCT";

/// Armv8.6 fixes the counter at 1 GHz; earlier systems run slower.
pub const HZ_MAX: u64 = 1_000_000_000;

/// Reads the virtual counter (after an ISB, so it is not read early).
pub fn read() -> u64 {
    let v: u64;
    // SAFETY: reads CNTVCT_EL0, which EL1 may always read.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Ticks per second (CNTFRQ_EL0), or a guess when it reads 0.
pub fn hz() -> (u64, &'static str) {
    let f: u64;
    // SAFETY: reads CNTFRQ_EL0, no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
    if f == 0 {
        (62_500_000, "guessed: CNTFRQ_EL0 is 0")
    } else {
        (f, "CNTFRQ_EL0")
    }
}
