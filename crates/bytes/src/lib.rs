//! The leaf crate of primitives that vmfw's parsers share; it depends on
//! nothing, so any crate can use it without pulling in another's domain.
//!
//! * Bounds-checked little-endian field access ([`u8_at`], [`u16_at`],
//!   [`u32_at`], [`u64_at`], [`array`], [`put`]) for every parser of
//!   untrusted bytes (partition tables, FAT, kernel headers, PE images,
//!   ACPI tables, UEFI variables).
//! * [`Guid`], the one GUID type: GPT partition types and `EFI_GUID` share
//!   its mixed-endian byte layout (UEFI 2.10 Appendix A).
//! * [`Crc32`] and [`crc32()`], the IEEE CRC-32 of GPT headers, UEFI table
//!   headers and the variable store.
//!
//! The readers have one meaning: a field that does not lie wholly inside
//! the slice (including when `offset + size` overflows) is `None`, so
//! callers turn a short input into their own named error instead of
//! panicking or reading a made-up zero; writes report the same condition
//! as `false`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate alloc;

mod crc;
mod guid;

pub use crc::{crc32, Crc32};
pub use guid::{Guid, ParseGuidError};

/// The `N` bytes at `off`, if they lie inside `b`.
pub fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The byte at `off`.
pub fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// The little-endian `u16` at `off`.
pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    array(b, off).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `off`.
pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array(b, off).map(u32::from_le_bytes)
}

/// The little-endian `u64` at `off`.
pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    array(b, off).map(u64::from_le_bytes)
}

/// Copies `v` into `b` at `off`; false (and nothing written) when it does
/// not fit.
pub fn put(b: &mut [u8], off: usize, v: &[u8]) -> bool {
    match off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        Some(d) => {
            d.copy_from_slice(v);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_bounds_and_refuses_out_of_bounds() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(array::<2>(&b, 0), Some([1, 2]));
        assert_eq!(u8_at(&b, 8), Some(9));
        assert_eq!(u8_at(&b, 9), None);
        assert_eq!(u16_at(&b, 7), Some(0x0908));
        assert_eq!(u16_at(&b, 8), None);
        assert_eq!(u32_at(&b, 5), Some(0x0908_0706));
        assert_eq!(u32_at(&b, 6), None);
        assert_eq!(u64_at(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u64_at(&b, usize::MAX), None);
    }

    #[test]
    fn writes_only_what_fits() {
        let mut b = [0u8; 4];
        assert!(put(&mut b, 2, &[7, 8]));
        assert_eq!(b, [0, 0, 7, 8]);
        assert!(!put(&mut b, 3, &[1, 2]));
        assert!(!put(&mut b, usize::MAX, &[1]));
        assert_eq!(b, [0, 0, 7, 8]);
    }
}
