//! Little-endian field readers over untrusted byte slices: the project's
//! shared, bounds-checked helpers (`vmfw-bytes`).

pub(crate) use vmfw_bytes::{array, u32_at, u64_at, u8_at};
