//! The time-stamp counter as the firmware's monotonic counter.
//!
//! Its rate comes from CPUID when the CPU or hypervisor reports it (leaf
//! 0x15; the hypervisor timing leaf 0x40000010 that KVM-based VMMs fill),
//! else from a 2 ms calibration against PIT channel 2, else a guess.

use super::io;

/// What the counter is called in the log.
pub const NAME: &str = "TSC";

/// A fast TSC rate (few hosts exceed it), for waits that must not measure
/// the rate (the way down from a fault).
pub const HZ_MAX: u64 = 4_000_000_000;

/// Reads the time-stamp counter.
pub fn read() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in the firmware.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Ticks per second and how that was learnt. May take 2 ms (the PIT
/// calibration) and logs nothing.
pub fn hz() -> (u64, &'static str) {
    match cpuid_hz() {
        Some(v) => v,
        None => match pit_hz() {
            Some(hz) => (hz, "PIT calibration"),
            None => (2_000_000_000, "a guess (no CPUID leaf, no PIT)"),
        },
    }
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

/// Counts TSC ticks over 2 ms of PIT channel 2 in one-shot mode (8254
/// datasheet, mode 0); None when there is no PIT (the gate reads back
/// all ones, or the count never ends). 2 ms is 2386 PIT ticks: one tick of
/// error is 0.04 %, finer than the port reads' own jitter, and the timing
/// line at the handoff (which needs the rate) costs the boot only that.
fn pit_hz() -> Option<u64> {
    const PIT_HZ: u64 = 1_193_182;
    const WINDOWS_PER_SECOND: u64 = 500;
    const COUNT: u64 = PIT_HZ / WINDOWS_PER_SECOND;
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
        let t0 = read();
        let mut done = false;
        for _ in 0..50_000_000u32 {
            if io::inb(0x61) & 0x20 != 0 {
                done = true;
                break;
            }
        }
        let ticks = read().wrapping_sub(t0);
        io::outb(0x61, ctl);
        // Below 10 MHz is not a real TSC: the PIT did not count.
        (done && ticks > 10_000_000 / WINDOWS_PER_SECOND).then_some(ticks * WINDOWS_PER_SECOND)
    }
}
