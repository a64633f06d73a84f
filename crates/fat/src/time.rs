//! FAT timestamps (FAT spec "FAT Directory Structure", date and time
//! formats).
//!
//! A date is 7 bits of years since 1980, 4 bits of month, 5 bits of day; a
//! time is 5 bits of hours, 6 of minutes and 5 of two-second units. The
//! creation time adds `DIR_CrtTimeTenth`, a count of 10 ms units in 0..=199.
//! Last-access has a date only. A zero date means "not recorded".
//!
//! Decoding never fails: values outside the calendar (month 13, 25 o'clock,
//! a creation tenth above 199) make the field read as absent rather than be
//! passed on to UEFI callers that would trust them.

/// A calendar time as recorded by FAT (local time; FAT has no time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// 1980..=2107.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// Sub-second part (non-zero only for creation times).
    pub nanosecond: u32,
}

impl Timestamp {
    /// Decodes a FAT date, time and creation tenth (pass 0 for fields that
    /// have none). Returns `None` for a zero date or out-of-range fields.
    pub fn from_fat(date: u16, time: u16, tenth: u8) -> Option<Self> {
        if date == 0 || tenth > 199 {
            return None;
        }
        let month = ((date >> 5) & 0x0F) as u8;
        let day = (date & 0x1F) as u8;
        let hour = (time >> 11) as u8;
        let minute = ((time >> 5) & 0x3F) as u8;
        let second = (time & 0x1F) as u8 * 2 + tenth / 100;
        if !(1..=12).contains(&month) || day == 0 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        Some(Timestamp {
            year: 1980 + (date >> 9),
            month,
            day,
            hour,
            minute,
            second,
            nanosecond: u32::from(tenth % 100) * 10_000_000,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fields() {
        // 2024-05-17 13:45:30, plus 1.23 s of tenths
        let date = ((2024 - 1980) << 9) | (5 << 5) | 17;
        let time = (13 << 11) | (45 << 5) | 15;
        let t = Timestamp::from_fat(date, time, 123).unwrap();
        assert_eq!(
            t,
            Timestamp {
                year: 2024,
                month: 5,
                day: 17,
                hour: 13,
                minute: 45,
                second: 31,
                nanosecond: 230_000_000
            }
        );
        assert_eq!(Timestamp::from_fat(0, time, 0), None);
        assert_eq!(Timestamp::from_fat(date, time, 200), None);
        assert_eq!(Timestamp::from_fat(date | (13 << 5), time, 0), None);
        assert_eq!(Timestamp::from_fat(date, 24 << 11, 0), None);
        assert_eq!(Timestamp::from_fat(date, 0x1F, 199), None);
        assert_eq!(
            Timestamp::from_fat((127 << 9) | (12 << 5) | 31, 0, 0).map(|t| t.year),
            Some(2107)
        );
    }
}
