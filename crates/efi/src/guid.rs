//! `EFI_GUID` (UEFI Appendix A).

/// An `EFI_GUID` in its in-memory byte order: `Data1`..`Data3` little
/// endian, `Data4` as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Builds a GUID from the fields of its registry form
    /// `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// `EFI_DEVICE_PATH_PROTOCOL_GUID` (UEFI §10.2).
    pub const DEVICE_PATH: Guid = Guid::from_fields(
        0x0957_6e91,
        0x6d3f,
        0x11d2,
        [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order() {
        assert_eq!(Guid::DEVICE_PATH.0[..4], [0x91, 0x6e, 0x57, 0x09]);
        assert_eq!(Guid::DEVICE_PATH.0[8..], [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    }
}
