//! Little-endian field access over byte slices: the project's shared,
//! bounds-checked helpers (`vmfw-bytes`).

pub(crate) use vmfw_bytes::{put, u16_at, u32_at, u64_at};

/// The 8-byte section name at `off`.
pub(crate) fn name_at(b: &[u8], off: usize) -> Option<[u8; 8]> {
    vmfw_bytes::array(b, off)
}
