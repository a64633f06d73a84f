use super::*;

fn t(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Time {
    Time::new(y, mo, d, h, mi, s)
}

const BCD_24: u8 = STATUS_B_24_HOUR;
const BCD_12: u8 = 0;
const BIN_24: u8 = STATUS_B_BINARY | STATUS_B_24_HOUR;
const BIN_12: u8 = STATUS_B_BINARY;

#[test]
fn layout() {
    let time = Time {
        year: 2024,
        month: 2,
        day: 29,
        hour: 13,
        minute: 30,
        second: 45,
        pad1: 0xaa,
        nanosecond: 123_456_789,
        timezone: -60,
        daylight: ADJUST_DAYLIGHT | IN_DAYLIGHT,
        pad2: 0xbb,
    };
    let b = time.to_bytes();
    assert_eq!(
        b,
        [0xe8, 0x07, 2, 29, 13, 30, 45, 0xaa, 0x15, 0xcd, 0x5b, 0x07, 0xc4, 0xff, 3, 0xbb]
    );
    assert_eq!(Time::from_bytes(&b), time);
    assert_eq!(Time::from_bytes(&[0; TIME_SIZE]), Time::default());
    let u = Time { timezone: UNSPECIFIED_TIMEZONE, ..time }.to_bytes();
    assert_eq!(u[12..14], [0xff, 0x07]);
}

#[test]
fn calendar() {
    assert!(is_leap_year(2024) && is_leap_year(2000) && is_leap_year(1600));
    assert!(!is_leap_year(2023) && !is_leap_year(1900) && !is_leap_year(2100));
    let days: [u8; 12] = core::array::from_fn(|m| days_in_month(2023, m as u8 + 1));
    assert_eq!(days, [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);
    assert_eq!(days_in_month(2024, 2), 29);
    assert_eq!(days_in_month(2024, 0), 0);
    assert_eq!(days_in_month(2024, 13), 0);
}

#[test]
fn validate_accepts_the_spec_ranges() {
    for good in [
        t(1900, 1, 1, 0, 0, 0),
        t(9999, 12, 31, 23, 59, 59),
        t(2024, 2, 29, 12, 0, 0),
        t(2000, 2, 29, 12, 0, 0),
        t(2023, 4, 30, 12, 0, 0),
        Time { nanosecond: MAX_NANOSECOND, ..t(2023, 1, 1, 0, 0, 0) },
        Time { timezone: -1440, ..t(2023, 1, 1, 0, 0, 0) },
        Time { timezone: 1440, ..t(2023, 1, 1, 0, 0, 0) },
        Time { timezone: 0, ..t(2023, 1, 1, 0, 0, 0) },
        Time { daylight: 3, ..t(2023, 1, 1, 0, 0, 0) },
        Time { pad1: 0xff, pad2: 0xff, ..t(2023, 1, 1, 0, 0, 0) },
    ] {
        assert_eq!(good.validate(), Ok(()), "{good:?}");
    }
}

#[test]
fn validate_refuses_out_of_range_fields() {
    let ok = t(2023, 6, 15, 12, 30, 30);
    for bad in [
        Time { year: 1899, ..ok },
        Time { year: 10000, ..ok },
        Time { month: 0, ..ok },
        Time { month: 13, ..ok },
        Time { day: 0, ..ok },
        Time { day: 31, ..ok },
        t(2023, 2, 29, 0, 0, 0),
        t(1900, 2, 29, 0, 0, 0),
        t(2024, 2, 30, 0, 0, 0),
        t(2024, 1, 32, 0, 0, 0),
        Time { hour: 24, ..ok },
        Time { minute: 60, ..ok },
        Time { second: 60, ..ok },
        Time { nanosecond: 1_000_000_000, ..ok },
        Time { nanosecond: u32::MAX, ..ok },
        Time { timezone: -1441, ..ok },
        Time { timezone: 1441, ..ok },
        Time { timezone: 0x07fe, ..ok },
        Time { timezone: i16::MIN, ..ok },
        Time { daylight: 4, ..ok },
        Time { daylight: 0x80, ..ok },
        Time::default(),
    ] {
        assert_eq!(bad.validate(), Err(Error::InvalidParameter), "{bad:?}");
    }
}

#[test]
fn capabilities() {
    assert_eq!(Capabilities::default(), Capabilities::CMOS);
    assert_eq!(Capabilities::CMOS.to_bytes(), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let c = Capabilities { resolution: 2, accuracy: 50_000_000, sets_to_zero: true };
    assert_eq!(c.to_bytes(), [2, 0, 0, 0, 0x80, 0xf0, 0xfa, 0x02, 1, 0, 0, 0]);
}

/// Registers in CMOS index order: seconds, minutes, hours, day, month,
/// year, century, status B.
fn regs(r: [u8; 8]) -> CmosTime {
    let [seconds, minutes, hours, day, month, year, century, status_b] = r;
    CmosTime { seconds, minutes, hours, day, month, year, century, status_b }
}

#[test]
fn decode_bcd_and_binary() {
    let want = t(2024, 2, 29, 13, 30, 45);
    assert_eq!(regs([0x45, 0x30, 0x13, 0x29, 0x02, 0x24, 0x20, BCD_24]).to_time(), Ok(want));
    assert_eq!(regs([45, 30, 13, 29, 2, 24, 20, BIN_24]).to_time(), Ok(want));
    assert_eq!(regs([0x45, 0x30, 0x81, 0x29, 0x02, 0x24, 0x20, BCD_12]).to_time(), Ok(want));
    assert_eq!(regs([45, 30, 0x81, 29, 2, 24, 20, BIN_12]).to_time(), Ok(want));
    // Other status B bits do not matter.
    assert_eq!(regs([0x45, 0x30, 0x13, 0x29, 0x02, 0x24, 0x20, BCD_24 | 0x71]).to_time(), Ok(want));
    // What a read reports besides the date and time.
    let r = regs([0, 0, 0, 1, 1, 0, 0x20, BCD_24]).to_time().unwrap();
    assert_eq!((r.timezone, r.daylight, r.nanosecond), (UNSPECIFIED_TIMEZONE, 0, 0));
    assert_eq!(r, t(2000, 1, 1, 0, 0, 0));
}

#[test]
fn decode_12_hour_mode() {
    for (raw, hour) in [
        (0x12, 0), // 12 AM: midnight
        (0x01, 1),
        (0x11, 11),
        (0x92, 12), // 12 PM: noon
        (0x81, 13),
        (0x91, 23),
    ] {
        let r = regs([0, 0, raw, 1, 1, 0x24, 0x20, BCD_12]).to_time().unwrap();
        assert_eq!(r.hour, hour, "{raw:#x}");
    }
    for (raw, hour) in [(12, 0), (0x8c, 12), (0x8b, 23), (1, 1)] {
        assert_eq!(regs([0, 0, raw, 1, 1, 24, 20, BIN_12]).to_time().unwrap().hour, hour);
    }
    for bad in [0x00, 0x80, 0x13, 0x93, 0x1a] {
        assert_eq!(regs([0, 0, bad, 1, 1, 0x24, 0x20, BCD_12]).to_time(), Err(Error::DeviceError));
    }
    // In 24-hour mode a PM bit is garbage.
    assert_eq!(regs([0, 0, 0x81, 1, 1, 0x24, 0x20, BCD_24]).to_time(), Err(Error::DeviceError));
    assert_eq!(regs([0, 0, 24, 1, 1, 24, 20, BIN_24]).to_time(), Err(Error::DeviceError));
}

#[test]
fn decode_century() {
    let at = |c: u8, b: u8| {
        regs([0, 0, 0, 1, 1, if b & STATUS_B_BINARY != 0 { 99 } else { 0x99 }, c, b])
    };
    assert_eq!(at(0x19, BCD_24).to_time().unwrap().year, 1999);
    assert_eq!(at(0x21, BCD_24).to_time().unwrap().year, 2199);
    assert_eq!(at(19, BIN_24).to_time().unwrap().year, 1999);
    assert_eq!(at(99, BIN_24).to_time().unwrap().year, 9999);
    // Absent or nonsensical century registers mean the 21st century.
    for c in [0x00, 0xff, 0x18, 0x1a] {
        assert_eq!(at(c, BCD_24).to_time().unwrap().year, 2099, "{c:#x}");
    }
    for c in [0, 18, 100, 0xff] {
        assert_eq!(at(c, BIN_24).to_time().unwrap().year, 2099, "{c}");
    }
}

#[test]
fn decode_refuses_garbage() {
    let good = regs([0x45, 0x30, 0x13, 0x29, 0x02, 0x24, 0x20, BCD_24]);
    assert!(good.to_time().is_ok());
    for bad in [
        CmosTime { seconds: 0x4a, ..good },
        CmosTime { seconds: 0x60, ..good },
        CmosTime { minutes: 0xa0, ..good },
        CmosTime { hours: 0x24, ..good },
        CmosTime { day: 0x30, ..good }, // 30 February
        CmosTime { day: 0x00, ..good },
        CmosTime { month: 0x13, ..good },
        CmosTime { month: 0x00, ..good },
        CmosTime { year: 0x9a, ..good },
        CmosTime { year: 0x23, ..good }, // 29 February 2023
        regs([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // no RTC
        regs([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, BCD_24]),
    ] {
        assert_eq!(bad.to_time(), Err(Error::DeviceError), "{bad:?}");
    }
    assert_eq!(regs([0, 0, 0, 1, 1, 100, 20, BIN_24]).to_time(), Err(Error::DeviceError));
    // Every byte in every register: no panic, and what decodes is valid.
    for reg in 0..8 {
        for v in 0..=255u8 {
            for b in [BCD_24, BCD_12, BIN_24, BIN_12] {
                let mut r = CmosTime { status_b: b, ..good };
                match reg {
                    0 => r.seconds = v,
                    1 => r.minutes = v,
                    2 => r.hours = v,
                    3 => r.day = v,
                    4 => r.month = v,
                    5 => r.year = v,
                    6 => r.century = v,
                    _ => r.status_b = v,
                }
                if let Ok(time) = r.to_time() {
                    assert_eq!(time.validate(), Ok(()));
                }
            }
        }
    }
}

#[test]
fn encode_every_format() {
    let time = t(2024, 2, 29, 13, 30, 45);
    assert_eq!(
        CmosTime::from_time(&time, BCD_24),
        Ok(regs([0x45, 0x30, 0x13, 0x29, 0x02, 0x24, 0x20, BCD_24]))
    );
    assert_eq!(CmosTime::from_time(&time, BIN_24), Ok(regs([45, 30, 13, 29, 2, 24, 20, BIN_24])));
    assert_eq!(
        CmosTime::from_time(&time, BCD_12),
        Ok(regs([0x45, 0x30, 0x81, 0x29, 0x02, 0x24, 0x20, BCD_12]))
    );
    assert_eq!(CmosTime::from_time(&time, BIN_12), Ok(regs([45, 30, 0x81, 29, 2, 24, 20, BIN_12])));
    let old = t(1987, 12, 31, 0, 0, 9);
    assert_eq!(
        CmosTime::from_time(&old, BCD_12),
        Ok(regs([0x09, 0x00, 0x12, 0x31, 0x12, 0x87, 0x19, BCD_12]))
    );
    // Time zone, daylight and nanoseconds are not stored.
    let zoned = Time { timezone: 60, daylight: 1, nanosecond: 5, ..time };
    assert_eq!(CmosTime::from_time(&zoned, BCD_24), CmosTime::from_time(&time, BCD_24));
}

#[test]
fn encode_refuses_invalid_times() {
    for b in [BCD_24, BIN_12] {
        assert_eq!(CmosTime::from_time(&t(2023, 2, 29, 0, 0, 0), b), Err(Error::InvalidParameter));
        assert_eq!(CmosTime::from_time(&t(2023, 1, 1, 24, 0, 0), b), Err(Error::InvalidParameter));
        let tz = Time { timezone: 2000, ..t(2023, 1, 1, 0, 0, 0) };
        assert_eq!(CmosTime::from_time(&tz, b), Err(Error::InvalidParameter));
    }
}

#[test]
fn round_trips() {
    let dates =
        [(1900, 1, 1), (1999, 12, 31), (2000, 2, 29), (2024, 7, 4), (2099, 11, 30), (9999, 12, 31)];
    for b in [BCD_24, BCD_12, BIN_24, BIN_12] {
        for (y, mo, d) in dates {
            for hour in 0..24 {
                let time = t(y, mo, d, hour, 59, 7);
                let r = CmosTime::from_time(&time, b).unwrap();
                assert_eq!(r.status_b, b);
                assert_eq!(r.to_time(), Ok(time), "{time:?} status B {b:#x}");
            }
        }
    }
}

#[test]
fn register_access() {
    let mut cmos = [0u8; 128];
    let time = t(2031, 10, 9, 22, 8, 1);
    let r = CmosTime::from_time(&time, BCD_12).unwrap();
    let pairs = r.registers();
    assert_eq!(pairs.map(|(i, _)| i), [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32]);
    for (i, v) in pairs {
        cmos[usize::from(i)] = v;
    }
    cmos[usize::from(REG_STATUS_B)] = BCD_12;
    assert_eq!(cmos[4], 0x90);
    let mut reads = 0;
    let back = CmosTime::read(|i| {
        reads += 1;
        cmos[usize::from(i)]
    });
    assert_eq!(reads, 8);
    assert_eq!(back, r);
    assert_eq!(back.to_time(), Ok(time));
}

#[test]
fn unix_seconds_round_trip() {
    assert_eq!(Time::from_unix(0), Some(Time::new(1970, 1, 1, 0, 0, 0)));
    // 2000-02-29 12:34:56, a leap day in a year divisible by 400.
    assert_eq!(Time::from_unix(951_827_696), Some(Time::new(2000, 2, 29, 12, 34, 56)));
    assert_eq!(Time::new(2000, 2, 29, 12, 34, 56).to_unix(), Some(951_827_696));
    // The last second a u32 PL031 counter holds: 2106-02-07 06:28:15.
    assert_eq!(Time::from_unix(u64::from(u32::MAX)), Some(Time::new(2106, 2, 7, 6, 28, 15)));
    for secs in (0..5_000_000_000u64).step_by(86_399 * 37) {
        assert_eq!(Time::from_unix(secs).and_then(|t| t.to_unix()), Some(secs), "{secs}");
    }
    // Before the epoch, and beyond what EFI_TIME holds.
    assert_eq!(Time::new(1969, 12, 31, 23, 59, 59).to_unix(), None);
    assert_eq!(Time::from_unix(u64::MAX), None);
    assert_eq!(Time::from_unix(253_402_300_800), None); // 10000-01-01
    assert_eq!(Time::new(2023, 2, 29, 0, 0, 0).to_unix(), None);
}
