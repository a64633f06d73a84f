//! Little-endian field access over byte slices. Readers are bounds-checked
//! and return `None` instead of panicking; the writer ignores a write that
//! does not fit (callers only write at constant offsets inside the page).

/// `N` bytes at `off`, or `None` if the slice is too short.
fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The byte at `off`.
pub(crate) fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// A little-endian `u16` at `off`.
pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    array(b, off).map(u16::from_le_bytes)
}

/// A little-endian `u32` at `off`.
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array(b, off).map(u32::from_le_bytes)
}

/// A little-endian `u64` at `off`.
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    array(b, off).map(u64::from_le_bytes)
}

/// Copies `v` to `b[off..]` if it fits; returns whether it did.
pub(crate) fn put(b: &mut [u8], off: usize, v: &[u8]) -> bool {
    let dst = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end));
    match dst {
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
        assert_eq!(u16_at(&b, 7), Some(0x0908));
        assert_eq!(u16_at(&b, 8), None);
        assert_eq!(u32_at(&b, 5), Some(0x0908_0706));
        assert_eq!(u32_at(&b, 6), None);
        assert_eq!(u64_at(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u64_at(&b, usize::MAX), None);
        assert_eq!(u8_at(&b, 9), None);
    }

    #[test]
    fn writes_only_what_fits() {
        let mut b = [0u8; 4];
        assert!(put(&mut b, 1, &[7, 8]));
        assert_eq!(b, [0, 7, 8, 0]);
        assert!(!put(&mut b, 3, &[1, 2]));
        assert!(!put(&mut b, usize::MAX, &[1]));
        assert_eq!(b, [0, 7, 8, 0]);
    }
}
