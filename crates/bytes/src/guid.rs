//! GUIDs as GPT and UEFI store them (UEFI 2.10 Appendix A, §5.3.3): one
//! type for partition types and GUIDs on disk and for `EFI_GUID` in the
//! UEFI environment, which share the byte layout.
//!
//! On disk a GUID is 16 bytes in "mixed-endian" order: the first three
//! fields (`u32`, `u16`, `u16`) are little-endian, the last eight bytes are
//! stored as written. The text form prints the fields big-endian, so the
//! ESP type `C12A7328-F81F-11D2-BA4B-00A0C93EC93B` is stored as
//! `28 73 2A C1 1F F8 D2 11 BA 4B 00 A0 C9 3E C9 3B`.

use core::fmt;
use core::str::FromStr;

/// A GUID, kept in its on-disk byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The all-zero GUID; as a GPT partition type it marks an unused entry.
    pub const ZERO: Guid = Guid([0; 16]);

    /// EFI System Partition type, `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`
    /// (UEFI 2.10 §5.3.3, table 5.7).
    pub const EFI_SYSTEM_PARTITION: Guid = Guid::from_fields(
        0xC12A_7328,
        0xF81F,
        0x11D2,
        [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B],
    );

    /// Extended Boot Loader Partition (XBOOTLDR) type,
    /// `BC13C2FF-59E6-4262-A352-B275FD6F7172` (Boot Loader Specification;
    /// Discoverable Partitions Specification). BLS entries may live here.
    pub const XBOOTLDR: Guid = Guid::from_fields(
        0xBC13_C2FF,
        0x59E6,
        0x4262,
        [0xA3, 0x52, 0xB2, 0x75, 0xFD, 0x6F, 0x71, 0x72],
    );

    /// Linux filesystem data type, `0FC63DAF-8483-4772-8E79-3D69D8477DE4`.
    pub const LINUX_FILESYSTEM: Guid = Guid::from_fields(
        0x0FC6_3DAF,
        0x8483,
        0x4772,
        [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4],
    );

    /// A GUID from its 16 on-disk bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 on-disk bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// A GUID from the fields of its text form
    /// `data1-data2-data3-data4[0..2]-data4[2..8]`.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Self {
        let a = data1.to_le_bytes();
        let b = data2.to_le_bytes();
        let c = data3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2], data4[3],
            data4[4], data4[5], data4[6], data4[7],
        ])
    }

    /// Whether this is the all-zero GUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

/// A GUID string was not of the form `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseGuidError;

impl fmt::Display for ParseGuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed GUID string")
    }
}

/// Order in which the text form's 32 hex digits (pairs) fill the on-disk
/// bytes: the first three fields are byte-swapped.
const TEXT_ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

impl fmt::Display for Guid {
    /// Upper-case `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &idx) in TEXT_ORDER.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{:02X}", self.0.get(idx).copied().unwrap_or(0))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = ParseGuidError;

    /// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (either case).
    fn from_str(s: &str) -> Result<Self, ParseGuidError> {
        let s = s.as_bytes();
        if s.len() != 36 {
            return Err(ParseGuidError);
        }
        let mut digits = [0u8; 32];
        let mut n = 0usize;
        for (pos, &c) in s.iter().enumerate() {
            if matches!(pos, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(ParseGuidError);
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(ParseGuidError),
            };
            *digits.get_mut(n).ok_or(ParseGuidError)? = v;
            n += 1;
        }
        let mut bytes = [0u8; 16];
        for (pair, &idx) in digits.chunks_exact(2).zip(TEXT_ORDER.iter()) {
            if let (Some(&hi), Some(&lo), Some(dst)) =
                (pair.first(), pair.get(1), bytes.get_mut(idx))
            {
                *dst = (hi << 4) | lo;
            }
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn esp_round_trips_in_mixed_endian() {
        let g = Guid::EFI_SYSTEM_PARTITION;
        assert_eq!(
            g.to_bytes(),
            [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
                0xC9, 0x3B
            ]
        );
        assert_eq!(g.to_string(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b".parse::<Guid>(), Ok(g));
        assert_eq!(Guid::XBOOTLDR.to_string(), "BC13C2FF-59E6-4262-A352-B275FD6F7172");
        assert_eq!(Guid::LINUX_FILESYSTEM.to_string(), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
        assert!(Guid::ZERO.is_zero());
        assert_eq!(Guid::ZERO.to_string(), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93BB",
            "C12A7328F-81F-11D2-BA4B-00A0C93EC93B",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC9+B",
            "{12A7328-F81F-11D2-BA4B-00A0C93EC93B}",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC9\u{e9}",
        ] {
            assert_eq!(bad.parse::<Guid>(), Err(ParseGuidError), "{bad}");
        }
    }
}
