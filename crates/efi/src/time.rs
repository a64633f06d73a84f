//! `EFI_TIME` and the logic behind `GetTime()`/`SetTime()` (UEFI §8.3)
//! over a PC CMOS real-time clock (MC146818-compatible, as QEMU and Cloud
//! Hypervisor emulate it).
//!
//! [`Time`] is `EFI_TIME` field for field, with its 16-byte layout
//! ([`Time::from_bytes`], [`Time::to_bytes`]) and the spec's range checks
//! ([`Time::validate`]).
//!
//! [`CmosTime`] holds the raw RTC registers; the shim reads them (waiting
//! while status A's update-in-progress bit is set, or reading twice until
//! two reads agree) and this module does the arithmetic:
//! - status B bit 2 ([`STATUS_B_BINARY`]) set means binary values,
//!   clear means BCD;
//! - status B bit 1 ([`STATUS_B_24_HOUR`]) set means 24-hour mode; clear
//!   means 12-hour mode, hours 1–12 with [`HOUR_PM`] (bit 7) marking PM,
//!   12 AM being midnight and 12 PM noon;
//! - the year is century register (0x32, the usual ACPI FADT `CENTURY`
//!   index) × 100 + year register. A century register that does not hold
//!   19–99 (absent on some VMMs: it reads as 0 or 0xff) is taken as 20.
//!
//! The RTC keeps no time zone, daylight flags or sub-second time: a read
//! reports [`UNSPECIFIED_TIMEZONE`], daylight 0 and 0 ns; a write stores
//! only the fields the RTC has (the shim may keep the rest in memory).
//! Registers that do not decode to a valid time make `GetTime()` fail with
//! `EFI_DEVICE_ERROR` ([`Error::DeviceError`]); a [`Time`] outside the
//! spec's ranges given to `SetTime()` is `EFI_INVALID_PARAMETER`.

use crate::{Error, Result};

/// Size of `EFI_TIME` in bytes.
pub const TIME_SIZE: usize = 16;

/// `EFI_UNSPECIFIED_TIMEZONE`: the time is local time.
pub const UNSPECIFIED_TIMEZONE: i16 = 0x07ff;
/// `EFI_TIME_ADJUST_DAYLIGHT`: the time is affected by daylight saving.
pub const ADJUST_DAYLIGHT: u8 = 0x01;
/// `EFI_TIME_IN_DAYLIGHT`: the time has been adjusted for daylight saving.
pub const IN_DAYLIGHT: u8 = 0x02;

/// Largest valid `Nanosecond`.
pub const MAX_NANOSECOND: u32 = 999_999_999;
/// Valid `TimeZone` range in minutes from UTC (besides
/// [`UNSPECIFIED_TIMEZONE`]).
pub const TIMEZONE_RANGE: core::ops::RangeInclusive<i16> = -1440..=1440;

/// `EFI_TIME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    /// 1900–9999.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31, valid for the month.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
    /// Padding.
    pub pad1: u8,
    /// 0–999,999,999.
    pub nanosecond: u32,
    /// Minutes from UTC, −1440..=1440, or [`UNSPECIFIED_TIMEZONE`].
    pub timezone: i16,
    /// [`ADJUST_DAYLIGHT`] and [`IN_DAYLIGHT`] bits.
    pub daylight: u8,
    /// Padding.
    pub pad2: u8,
}

/// True for a Gregorian leap year.
pub const fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1–12) of `year`; 0 for an invalid month.
pub const fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Time {
    /// A time with the date and time of day given, no nanoseconds,
    /// unspecified time zone and no daylight flags (not validated).
    pub const fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Self {
        Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            pad1: 0,
            nanosecond: 0,
            timezone: UNSPECIFIED_TIMEZONE,
            daylight: 0,
            pad2: 0,
        }
    }

    /// The time `secs` seconds after 1970-01-01 00:00:00 (the count a
    /// PL031 RTC keeps), or `None` past 9999 (not representable).
    pub fn from_unix(secs: u64) -> Option<Self> {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        // Civil date from days since the epoch, counting in 400-year eras
        // of 146,097 days that start on 0000-03-01.
        let z = days.checked_add(719_468)?;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = era.checked_mul(400)?.checked_add(yoe)? + u64::from(month <= 2);
        let year = u16::try_from(year).ok().filter(|y| *y <= 9999)?;
        Some(Self::new(
            year,
            month,
            day,
            (rem / 3600) as u8,
            (rem % 3600 / 60) as u8,
            (rem % 60) as u8,
        ))
    }

    /// Seconds since 1970-01-01 00:00:00 of this time's date and time of
    /// day (time zone and daylight ignored), or `None` before the epoch
    /// or for a date [`Time::validate`] rejects.
    pub fn to_unix(&self) -> Option<u64> {
        self.validate().ok()?;
        let (y, m) = (u64::from(self.year), u64::from(self.month));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y / 400;
        let yoe = y % 400;
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + u64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = (era * 146_097 + doe).checked_sub(719_468)?;
        Some(
            days * 86_400
                + u64::from(self.hour) * 3600
                + u64::from(self.minute) * 60
                + u64::from(self.second),
        )
    }

    /// The fields of an `EFI_TIME` as laid out in memory (not validated).
    pub fn from_bytes(b: &[u8; TIME_SIZE]) -> Self {
        let [y0, y1, month, day, hour, minute, second, pad1, n0, n1, n2, n3, z0, z1, daylight, pad2] =
            *b;
        Self {
            year: u16::from_le_bytes([y0, y1]),
            month,
            day,
            hour,
            minute,
            second,
            pad1,
            nanosecond: u32::from_le_bytes([n0, n1, n2, n3]),
            timezone: i16::from_le_bytes([z0, z1]),
            daylight,
            pad2,
        }
    }

    /// The `EFI_TIME` bytes.
    pub fn to_bytes(&self) -> [u8; TIME_SIZE] {
        let [y0, y1] = self.year.to_le_bytes();
        let [n0, n1, n2, n3] = self.nanosecond.to_le_bytes();
        let [z0, z1] = self.timezone.to_le_bytes();
        [
            y0,
            y1,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.pad1,
            n0,
            n1,
            n2,
            n3,
            z0,
            z1,
            self.daylight,
            self.pad2,
        ]
    }

    /// The range checks of UEFI §8.3 (`SetTime()`, `SetWakeupTime()`):
    /// year 1900–9999, month 1–12, a day that exists in that month (leap
    /// years included), hour < 24, minute < 60, second < 60, nanosecond <
    /// 10⁹, time zone −1440..=1440 or unspecified, daylight with no bits
    /// but [`ADJUST_DAYLIGHT`] and [`IN_DAYLIGHT`]. Padding is not
    /// checked. Failure is `InvalidParameter`.
    pub fn validate(&self) -> Result<()> {
        let ok = (1900..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.nanosecond <= MAX_NANOSECOND
            && (TIMEZONE_RANGE.contains(&self.timezone) || self.timezone == UNSPECIFIED_TIMEZONE)
            && self.daylight & !(ADJUST_DAYLIGHT | IN_DAYLIGHT) == 0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidParameter)
        }
    }
}

/// `EFI_TIME_CAPABILITIES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `Resolution`: counts per second (1 for an RTC with 1 s resolution).
    pub resolution: u32,
    /// `Accuracy`: error rate of 1E-6 parts per million (0: not reported).
    pub accuracy: u32,
    /// `SetsToZero`: whether a time set clears the sub-resolution part.
    pub sets_to_zero: bool,
}

/// Size of `EFI_TIME_CAPABILITIES` in bytes (two `UINT32`, a `BOOLEAN`,
/// padding to 4-byte alignment).
pub const CAPABILITIES_SIZE: usize = 12;

impl Capabilities {
    /// What a CMOS RTC offers: 1 count per second, accuracy not reported,
    /// setting does not zero the sub-second part.
    pub const CMOS: Capabilities = Capabilities { resolution: 1, accuracy: 0, sets_to_zero: false };

    /// The `EFI_TIME_CAPABILITIES` bytes (padding zero).
    pub fn to_bytes(&self) -> [u8; CAPABILITIES_SIZE] {
        let [r0, r1, r2, r3] = self.resolution.to_le_bytes();
        let [a0, a1, a2, a3] = self.accuracy.to_le_bytes();
        [r0, r1, r2, r3, a0, a1, a2, a3, u8::from(self.sets_to_zero), 0, 0, 0]
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::CMOS
    }
}

/// CMOS index of the seconds register.
pub const REG_SECONDS: u8 = 0x00;
/// CMOS index of the minutes register.
pub const REG_MINUTES: u8 = 0x02;
/// CMOS index of the hours register.
pub const REG_HOURS: u8 = 0x04;
/// CMOS index of the day-of-month register.
pub const REG_DAY: u8 = 0x07;
/// CMOS index of the month register.
pub const REG_MONTH: u8 = 0x08;
/// CMOS index of the year-in-century register.
pub const REG_YEAR: u8 = 0x09;
/// CMOS index of status register A.
pub const REG_STATUS_A: u8 = 0x0a;
/// CMOS index of status register B.
pub const REG_STATUS_B: u8 = 0x0b;
/// CMOS index of the century register.
pub const REG_CENTURY: u8 = 0x32;

/// Status A: an update is in progress; the time registers may be
/// inconsistent.
pub const STATUS_A_UPDATE_IN_PROGRESS: u8 = 0x80;
/// Status B: hours run 0–23 (else 1–12 with [`HOUR_PM`]).
pub const STATUS_B_24_HOUR: u8 = 0x02;
/// Status B: registers hold binary values (else BCD).
pub const STATUS_B_BINARY: u8 = 0x04;
/// Status B: updates are halted so the time can be set.
pub const STATUS_B_SET: u8 = 0x80;
/// Hours register in 12-hour mode: PM.
pub const HOUR_PM: u8 = 0x80;

/// The RTC's time registers as read from, or to be written to, CMOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CmosTime {
    /// Register 0x00.
    pub seconds: u8,
    /// Register 0x02.
    pub minutes: u8,
    /// Register 0x04 (with [`HOUR_PM`] in 12-hour mode).
    pub hours: u8,
    /// Register 0x07.
    pub day: u8,
    /// Register 0x08.
    pub month: u8,
    /// Register 0x09.
    pub year: u8,
    /// Register 0x32.
    pub century: u8,
    /// Register 0x0B: decides the format of the others.
    pub status_b: u8,
}

/// Decodes one register value; `None` for a BCD digit above 9.
fn decode(v: u8, binary: bool) -> Option<u8> {
    if binary {
        return Some(v);
    }
    let (hi, lo) = (v >> 4, v & 0x0f);
    if hi > 9 || lo > 9 {
        return None;
    }
    Some(hi * 10 + lo)
}

/// Encodes a value below 100.
fn encode(v: u8, binary: bool) -> u8 {
    if binary {
        v
    } else {
        ((v / 10) << 4) | (v % 10)
    }
}

impl CmosTime {
    /// Reads every register through `read` (CMOS index → value). The
    /// caller makes sure no update is in progress (or repeats until two
    /// reads agree).
    pub fn read(mut read: impl FnMut(u8) -> u8) -> Self {
        Self {
            seconds: read(REG_SECONDS),
            minutes: read(REG_MINUTES),
            hours: read(REG_HOURS),
            day: read(REG_DAY),
            month: read(REG_MONTH),
            year: read(REG_YEAR),
            century: read(REG_CENTURY),
            status_b: read(REG_STATUS_B),
        }
    }

    /// `GetTime()`: the time these registers hold, with an unspecified
    /// time zone, no daylight flags and 0 ns; `DeviceError` when they do
    /// not decode to a valid time (bad BCD, hour out of range, 31 April).
    pub fn to_time(&self) -> Result<Time> {
        let binary = self.status_b & STATUS_B_BINARY != 0;
        let h24 = self.status_b & STATUS_B_24_HOUR != 0;
        let dec = |v| decode(v, binary).ok_or(Error::DeviceError);
        let hour = if h24 {
            dec(self.hours)?
        } else {
            let h = dec(self.hours & !HOUR_PM)?;
            if !(1..=12).contains(&h) {
                return Err(Error::DeviceError);
            }
            let pm = if self.hours & HOUR_PM != 0 { 12 } else { 0 };
            h % 12 + pm
        };
        let yy = dec(self.year)?;
        if yy > 99 {
            return Err(Error::DeviceError);
        }
        let century = decode(self.century, binary).filter(|c| (19..=99).contains(c)).unwrap_or(20);
        let t = Time::new(
            u16::from(century) * 100 + u16::from(yy),
            dec(self.month)?,
            dec(self.day)?,
            hour,
            dec(self.minutes)?,
            dec(self.seconds)?,
        );
        t.validate().map_err(|_| Error::DeviceError)?;
        Ok(t)
    }

    /// `SetTime()`: the register values for `time` in the format
    /// `status_b` selects (kept in the result; the shim writes status B
    /// only to set and clear [`STATUS_B_SET`] around the update).
    /// `InvalidParameter` when `time` fails [`Time::validate`]. Time zone,
    /// daylight and nanoseconds are not stored.
    pub fn from_time(time: &Time, status_b: u8) -> Result<Self> {
        time.validate()?;
        let binary = status_b & STATUS_B_BINARY != 0;
        let enc = |v| encode(v, binary);
        let hours = if status_b & STATUS_B_24_HOUR != 0 {
            enc(time.hour)
        } else {
            let h12 = match time.hour % 12 {
                0 => 12,
                h => h,
            };
            enc(h12) | if time.hour >= 12 { HOUR_PM } else { 0 }
        };
        // validate() bounds the year to 1900..=9999.
        let century = u8::try_from(time.year / 100).map_err(|_| Error::InvalidParameter)?;
        let yy = u8::try_from(time.year % 100).map_err(|_| Error::InvalidParameter)?;
        Ok(Self {
            seconds: enc(time.second),
            minutes: enc(time.minute),
            hours,
            day: enc(time.day),
            month: enc(time.month),
            year: enc(yy),
            century: enc(century),
            status_b,
        })
    }

    /// The (CMOS index, value) pairs to write for a `SetTime()`, status B
    /// excluded.
    pub fn registers(&self) -> [(u8, u8); 7] {
        [
            (REG_SECONDS, self.seconds),
            (REG_MINUTES, self.minutes),
            (REG_HOURS, self.hours),
            (REG_DAY, self.day),
            (REG_MONTH, self.month),
            (REG_YEAR, self.year),
            (REG_CENTURY, self.century),
        ]
    }
}

#[cfg(test)]
mod tests;
