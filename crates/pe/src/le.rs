//! Little-endian field access over byte slices. Readers are bounds-checked
//! and return `None` instead of panicking.

/// `N` bytes at `off`, or `None` if the slice is too short.
fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
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

/// Eight bytes at `off` (a section name).
pub(crate) fn name_at(b: &[u8], off: usize) -> Option<[u8; 8]> {
    array(b, off)
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
