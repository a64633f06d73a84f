//! Little-endian field access over byte slices: the project's shared,
//! bounds-checked helpers (`vmfw-bytes`).

pub(crate) use vmfw_bytes::{put, u16_at, u32_at, u64_at, u8_at};
