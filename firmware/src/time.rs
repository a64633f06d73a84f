//! Time from the architecture's monotonic counter ([`arch::counter`]).
//!
//! The counter's rate is learnt lazily, the first time something needs
//! wall-clock time (timeouts, the timing line at the handoff), because on
//! x86 without a CPUID rate that means a 2 ms calibration against the PIT:
//! a boot at the default log level (which prints the timing line) waits for
//! it once; at `vmfw.log=warn` a native boot never does.

use crate::arch;
use spin::Once;

static HZ: Once<u64> = Once::new();

/// Ticks of the counter per second.
pub fn counter_hz() -> u64 {
    *HZ.call_once(|| {
        // A calibration waits on a timer: not the firmware's work.
        let wait = crate::progress::wait();
        let (hz, how) = arch::counter_hz();
        drop(wait);
        log::debug!("{} {} MHz from {how}", arch::COUNTER_NAME, hz / 1_000_000);
        hz
    })
}

/// The counter rate if it was learnt already (never measures: safe to
/// call on the way down from a fault).
pub fn counter_hz_if_known() -> Option<u64> {
    HZ.get().copied()
}

/// Nanoseconds in `ticks` of the counter.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(counter_hz().max(1))) as u64
}

/// Microseconds since the counter reading `t0`.
pub fn us_since(t0: u64) -> u64 {
    ticks_to_ns(arch::counter().wrapping_sub(t0)) / 1000
}

/// Nanoseconds since the counter started (an arbitrary but fixed origin).
pub fn now_ns() -> u64 {
    ticks_to_ns(arch::counter())
}

/// The counter value `us` microseconds from now (saturating).
pub fn deadline_us(us: u64) -> u64 {
    let ticks = (u128::from(us) * u128::from(counter_hz()) / 1_000_000).min(u128::from(u64::MAX));
    arch::counter().saturating_add(ticks as u64)
}

/// Whether the counter reached `deadline`.
pub fn passed(deadline: u64) -> bool {
    arch::counter() >= deadline
}

/// Microseconds left until `deadline` (0 when it passed).
pub fn us_until(deadline: u64) -> u64 {
    ticks_to_ns(deadline.saturating_sub(arch::counter())) / 1000
}
