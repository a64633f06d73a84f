//! `EFI_GUID` (UEFI Appendix A).
//!
//! The GUID type is the project's one [`vmfw_bytes::Guid`] (same byte
//! layout as `EFI_GUID`: the first three fields little endian); this module
//! adds the protocol and table GUIDs the UEFI environment needs.

pub use vmfw_bytes::Guid;

/// `EFI_DEVICE_PATH_PROTOCOL_GUID`.
pub const DEVICE_PATH: Guid = Guid::from_fields(
    0x0957_6e91,
    0x6d3f,
    0x11d2,
    [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order() {
        let b = DEVICE_PATH.to_bytes();
        assert_eq!(b[..4], [0x91, 0x6e, 0x57, 0x09]);
        assert_eq!(b[8..], [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    }
}
