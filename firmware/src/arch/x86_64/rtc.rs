//! The CMOS real-time clock (MC146818-compatible, as QEMU, Cloud
//! Hypervisor and Firecracker emulate it) behind index port 0x70 and data
//! port 0x71. The register arithmetic lives in `vmfw_efi::time`.
//!
//! Runtime-safe: UEFI runtime services call these after
//! `ExitBootServices()`, so they touch only I/O ports and statics in the
//! firmware image, and never log. Index/data accesses are serialised by
//! one lock; a caller that finds it taken (a runtime service re-entered,
//! say from an NMI handler) gets `DeviceError` instead of a deadlock.

use super::io;
use vmfw_efi::time::{self as t, CmosTime, Time};
use vmfw_efi::{Error, Result};

/// Serialises the index/data port pairs.
static CMOS: spin::Mutex<()> = spin::Mutex::new(());

/// CMOS alarm registers: seconds, minutes, hours.
const REG_ALARM: [u8; 3] = [0x01, 0x03, 0x05];
/// Status C: interrupt flags, cleared by reading.
const REG_STATUS_C: u8 = 0x0c;
/// Status B: alarm interrupt enable.
const ALARM_ENABLE: u8 = 0x20;
/// Status C: the alarm time was reached.
const ALARM_FLAG: u8 = 0x20;

fn cmos_read(reg: u8) -> u8 {
    // SAFETY: the RTC's index and data ports; callers hold `CMOS`.
    unsafe {
        io::outb(0x70, reg);
        io::inb(0x71)
    }
}

fn cmos_write(reg: u8, v: u8) {
    // SAFETY: as for `cmos_read`.
    unsafe {
        io::outb(0x70, reg);
        io::outb(0x71, v);
    }
}

/// Reads the time registers outside an update, until two reads agree (at
/// most ten tries; the last read wins).
fn read_registers() -> CmosTime {
    let mut last = CmosTime::default();
    for _ in 0..10 {
        for _ in 0..100_000 {
            if cmos_read(t::REG_STATUS_A) & t::STATUS_A_UPDATE_IN_PROGRESS == 0 {
                break;
            }
        }
        let now = CmosTime::read(cmos_read);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// The current time (see `arch::rtc::get_time`).
pub fn get_time() -> Result<Time> {
    let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
    read_registers().to_time()
}

/// Sets the clock (see `arch::rtc::set_time`): halts updates with status
/// B's SET bit while the registers are written, in the format (BCD or
/// binary, 12- or 24-hour) the RTC is in.
pub fn set_time(time: &Time) -> Result<()> {
    time.validate()?;
    let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
    let b = cmos_read(t::REG_STATUS_B);
    let regs = CmosTime::from_time(time, b)?;
    cmos_write(t::REG_STATUS_B, b | t::STATUS_B_SET);
    for (reg, v) in regs.registers() {
        cmos_write(reg, v);
    }
    cmos_write(t::REG_STATUS_B, b & !t::STATUS_B_SET);
    Ok(())
}

/// The alarm (see `arch::rtc::get_wakeup`). The CMOS alarm holds a time
/// of day only; the date reported is today's. Reading the pending flag
/// (status C) clears the RTC's interrupt flags, as on real hardware.
pub fn get_wakeup() -> Result<crate::arch::rtc::Wakeup> {
    let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
    let mut now = read_registers();
    let b = now.status_b;
    now.seconds = cmos_read(REG_ALARM[0]);
    now.minutes = cmos_read(REG_ALARM[1]);
    now.hours = cmos_read(REG_ALARM[2]);
    let time = now.to_time()?;
    let pending = cmos_read(REG_STATUS_C) & ALARM_FLAG != 0;
    Ok(crate::arch::rtc::Wakeup { enabled: b & ALARM_ENABLE != 0, pending, time })
}

/// Arms the alarm at `alarm`'s time of day, or disarms it for `None` (see
/// `arch::rtc::set_wakeup`).
pub fn set_wakeup(alarm: Option<&Time>) -> Result<()> {
    let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
    let b = cmos_read(t::REG_STATUS_B);
    let Some(time) = alarm else {
        cmos_write(t::REG_STATUS_B, b & !ALARM_ENABLE);
        return Ok(());
    };
    time.validate()?;
    let regs = CmosTime::from_time(time, b)?;
    cmos_write(REG_ALARM[0], regs.seconds);
    cmos_write(REG_ALARM[1], regs.minutes);
    cmos_write(REG_ALARM[2], regs.hours);
    cmos_write(t::REG_STATUS_B, b | ALARM_ENABLE);
    Ok(())
}

/// The CMOS RTC is reached through I/O ports: nothing to map.
pub fn mmio() -> Option<(u64, u64)> {
    None
}

/// What the CMOS RTC offers: one-second resolution, accuracy not
/// reported, setting the time keeps the sub-second phase.
pub fn capabilities() -> t::Capabilities {
    t::Capabilities::CMOS
}
