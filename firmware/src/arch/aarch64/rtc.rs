//! The PL031 real-time clock (ARM PrimeCell RTC (PL031) Technical
//! Reference Manual) that the device tree names: a 32-bit count of
//! seconds, read as Unix time (what Linux's rtc-pl031 driver and QEMU
//! keep in it), with a match register for the alarm.
//!
//! Runtime-safe: only the register window (described to the OS as runtime
//! MMIO) and statics of the image; no logging. Without a PL031 every call
//! reports `DeviceError`.

use core::sync::atomic::{AtomicU64, Ordering};
use vmfw_efi::time::{self as t, Time};
use vmfw_efi::{Error, Result};

static BASE: AtomicU64 = AtomicU64::new(0);

const DR: u64 = 0x00;
const MR: u64 = 0x04;
const LR: u64 = 0x08;
const CR: u64 = 0x0c;
const IMSC: u64 = 0x10;
const RIS: u64 = 0x14;

/// Sets the register base (mapped as device memory by the caller).
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// The register window's base, if there is a PL031.
pub fn base() -> Option<u64> {
    let b = BASE.load(Ordering::Relaxed);
    (b != 0).then_some(b)
}

fn read(offset: u64) -> Result<u32> {
    let base = base().ok_or(Error::DeviceError)?;
    // SAFETY: a PL031 register in the window the device tree named,
    // identity-mapped as device memory; reads have no memory effects.
    Ok(unsafe { core::ptr::read_volatile((base + offset) as *const u32) })
}

fn write(offset: u64, value: u32) -> Result<()> {
    let base = base().ok_or(Error::DeviceError)?;
    // SAFETY: as for `read`; the RTC does no DMA.
    unsafe { core::ptr::write_volatile((base + offset) as *mut u32, value) };
    Ok(())
}

/// The current time.
pub fn get_time() -> Result<Time> {
    Time::from_unix(u64::from(read(DR)?)).ok_or(Error::DeviceError)
}

/// Sets the clock (seconds since 1970 must fit the 32-bit counter).
pub fn set_time(time: &Time) -> Result<()> {
    time.validate()?;
    let secs = time.to_unix().and_then(|s| u32::try_from(s).ok()).ok_or(Error::InvalidParameter)?;
    write(LR, secs)?;
    write(CR, 1)
}

/// The alarm: the match register, its interrupt mask and raw status.
pub fn get_wakeup() -> Result<crate::arch::rtc::Wakeup> {
    let time = Time::from_unix(u64::from(read(MR)?)).ok_or(Error::DeviceError)?;
    Ok(crate::arch::rtc::Wakeup {
        enabled: read(IMSC)? & 1 != 0,
        pending: read(RIS)? & 1 != 0,
        time,
    })
}

/// Arms the alarm at `alarm`, or disarms it for `None`.
pub fn set_wakeup(alarm: Option<&Time>) -> Result<()> {
    let Some(time) = alarm else { return write(IMSC, 0) };
    time.validate()?;
    let secs = time.to_unix().and_then(|s| u32::try_from(s).ok()).ok_or(Error::InvalidParameter)?;
    write(MR, secs)?;
    write(IMSC, 1)
}

/// The PL031's register window (one 4 KiB page).
pub fn mmio() -> Option<(u64, u64)> {
    base().map(|b| (b & !0xfff, 0x1000))
}

/// One-second resolution; setting the time does not reset the phase.
pub fn capabilities() -> t::Capabilities {
    t::Capabilities::CMOS
}
