//! The leaf crate of primitives that vmfw's parsers share; it depends on
//! nothing, so any crate can use it without pulling in another's domain.
//!
//! * Bounds-checked little-endian field access ([`u8_at`], [`u16_at`],
//!   [`u32_at`], [`u64_at`], [`array()`], [`put`]) for every parser of
//!   untrusted bytes (partition tables, FAT, kernel headers, PE images,
//!   ACPI tables, UEFI variables), and the compile-time-checked
//!   [`u16_in`], [`u32_in`], [`u64_in`] for fields at fixed offsets of a
//!   fixed-size record (a FAT boot sector, a directory entry, a PVH start
//!   info).
//! * [`Guid`], the one GUID type: GPT partition types and `EFI_GUID` share
//!   its mixed-endian byte layout (UEFI 2.10 Appendix A).
//! * [`Crc32`] and [`crc32()`], the IEEE CRC-32 of GPT headers, UEFI table
//!   headers and the variable store.
//! * [`sort()`], [`sort_by`], [`sort_by_key`]: the firmware's one small
//!   in-place sort, shared by every caller instead of `core`'s large
//!   per-type sorts.
//! * [`Quoted`], a string in quotes for log lines, escaped without
//!   `core`'s Unicode tables, and [`write_number`] and [`write_template`],
//!   the shared paths of the error messages.
//! * [`upcase`], the upper case of a character for case-insensitive
//!   names, from a table far smaller than `core`'s.
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
mod quoted;
mod sort;
mod upcase;

pub use crc::{crc32, Crc32};
pub use guid::{Guid, ParseGuidError};
pub use quoted::{write_number, write_template, Quoted};
pub use sort::{sort, sort_by, sort_by_key};
pub use upcase::upcase;

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

/// The `W` bytes at the constant offset `OFF` of the fixed-size record `b`.
///
/// A field that does not lie inside the record is a build error (checked
/// when the function is instantiated), so the read itself cannot fail and
/// the caller needs no error path for it.
///
/// ```
/// let sector = [0x55u8; 512];
/// assert_eq!(vmfw_bytes::u16_in::<510, _>(&sector), 0x5555);
/// ```
///
/// ```compile_fail
/// let sector = [0x55u8; 512];
/// let _ = vmfw_bytes::u16_in::<511, _>(&sector); // one byte past the end
/// ```
pub fn array_in<const OFF: usize, const W: usize, const N: usize>(b: &[u8; N]) -> [u8; W] {
    const { assert!(OFF <= N && W <= N - OFF, "field does not lie inside the record") };
    // Always `Some`: the assertion above held at compile time.
    array(b, OFF).unwrap_or([0; W])
}

/// The little-endian `u16` at the constant offset `OFF` of `b`; see
/// [`array_in`].
pub fn u16_in<const OFF: usize, const N: usize>(b: &[u8; N]) -> u16 {
    u16::from_le_bytes(array_in::<OFF, 2, N>(b))
}

/// The little-endian `u32` at the constant offset `OFF` of `b`; see
/// [`array_in`].
pub fn u32_in<const OFF: usize, const N: usize>(b: &[u8; N]) -> u32 {
    u32::from_le_bytes(array_in::<OFF, 4, N>(b))
}

/// The little-endian `u64` at the constant offset `OFF` of `b`; see
/// [`array_in`].
pub fn u64_in<const OFF: usize, const N: usize>(b: &[u8; N]) -> u64 {
    u64::from_le_bytes(array_in::<OFF, 8, N>(b))
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
    fn fixed_offsets_read_the_record() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(array_in::<7, 2, 9>(&b), [8, 9]);
        assert_eq!(array_in::<9, 0, 9>(&b), []);
        assert_eq!(u16_in::<7, _>(&b), 0x0908);
        assert_eq!(u32_in::<0, _>(&b), 0x0403_0201);
        assert_eq!(u64_in::<1, _>(&b), 0x0908_0706_0504_0302);
        // `u16_in::<8, _>(&b)` would not build.
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
