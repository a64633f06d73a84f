//! Time from the TSC.
//!
//! The TSC frequency comes from CPUID when the CPU or hypervisor reports it
//! (leaf 0x15; the hypervisor timing leaf 0x40000010 that KVM-based VMMs
//! fill), else from a 10 ms calibration against PIT channel 2. It is
//! measured lazily, the first time something needs wall-clock time
//! (benchmarks, timeouts), so a plain boot never waits for it.

use crate::arch::{self, io};
use spin::Once;

static TSC_HZ: Once<u64> = Once::new();

/// Ticks of the TSC per second.
pub fn tsc_hz() -> u64 {
    *TSC_HZ.call_once(|| {
        let (hz, how) = match cpuid_hz() {
            Some(v) => v,
            None => match pit_hz() {
                Some(hz) => (hz, "PIT calibration"),
                None => (2_000_000_000, "a guess (no CPUID leaf, no PIT)"),
            },
        };
        log::debug!("TSC {} MHz from {how}", hz / 1_000_000);
        hz
    })
}

/// The TSC rate if it was measured already (never measures: safe to call
/// on the way down from a fault).
pub fn tsc_hz_if_known() -> Option<u64> {
    TSC_HZ.get().copied()
}

/// Nanoseconds between two TSC readings.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(tsc_hz().max(1))) as u64
}

/// Microseconds since the TSC reading `t0`.
pub fn us_since(t0: u64) -> u64 {
    ticks_to_ns(arch::rdtsc().wrapping_sub(t0)) / 1000
}

fn cpuid_hz() -> Option<(u64, &'static str)> {
    let max = io::cpuid(0).0;
    if max >= 0x15 {
        let (den, num, crystal, _) = io::cpuid(0x15);
        if den != 0 && num != 0 && crystal != 0 {
            return Some((u64::from(crystal) * u64::from(num) / u64::from(den), "CPUID 0x15"));
        }
    }
    let (hv_max, ..) = io::cpuid(0x4000_0000);
    if (0x4000_0010..0x4001_0000).contains(&hv_max) {
        let khz = io::cpuid(0x4000_0010).0;
        if khz != 0 {
            return Some((u64::from(khz) * 1000, "the hypervisor timing leaf"));
        }
    }
    None
}

/// Counts TSC ticks over 10 ms of PIT channel 2 in one-shot mode (8254
/// datasheet, mode 0); None when there is no PIT (the gate reads back
/// all ones, or the count never ends).
fn pit_hz() -> Option<u64> {
    const PIT_HZ: u64 = 1_193_182;
    const COUNT: u64 = PIT_HZ / 100;
    // SAFETY: ports 0x61 (NMI status/control: channel 2 gate and speaker),
    // 0x43 (PIT mode) and 0x42 (PIT channel 2 data); no memory effects.
    unsafe {
        let ctl = io::inb(0x61);
        if ctl == 0xff {
            return None;
        }
        io::outb(0x61, (ctl & !0x02) | 0x01);
        io::outb(0x43, 0xb0);
        io::outb(0x42, COUNT as u8);
        io::outb(0x42, (COUNT >> 8) as u8);
        let t0 = arch::rdtsc();
        let mut done = false;
        for _ in 0..50_000_000u32 {
            if io::inb(0x61) & 0x20 != 0 {
                done = true;
                break;
            }
        }
        let ticks = arch::rdtsc().wrapping_sub(t0);
        io::outb(0x61, ctl);
        // Below 10 MHz is not a real TSC: the PIT did not count.
        (done && ticks > 100_000).then_some(ticks * 100)
    }
}
