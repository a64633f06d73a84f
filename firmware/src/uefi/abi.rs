//! The UEFI 2.10 ABI: the tables and protocol layouts come from the
//! `uefi-raw` crate (every function field is a typed
//! `unsafe extern "efiapi" fn`, so a shim with the wrong signature does
//! not compile); this module adds compile-time checks of their sizes and
//! offsets against the specification, the header CRC, and the GUIDs vmfw
//! installs or is asked for, as `vmfw-efi` GUIDs.

pub use uefi_raw::protocol::block::{BlockIoMedia, BlockIoProtocol};
pub use uefi_raw::protocol::console::{
    InputKey, KeyData, SimpleTextInputExProtocol, SimpleTextInputProtocol, SimpleTextOutputMode,
    SimpleTextOutputProtocol,
};
pub use uefi_raw::protocol::device_path::{
    DevicePathProtocol, DevicePathToTextProtocol, DevicePathUtilitiesProtocol,
};
pub use uefi_raw::protocol::disk::DiskIoProtocol;
pub use uefi_raw::protocol::file_system::{FileProtocolV1, SimpleFileSystemProtocol};
pub use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
pub use uefi_raw::protocol::rng::RngProtocol;
pub use uefi_raw::table::boot::BootServices;
pub use uefi_raw::table::configuration::ConfigurationTable;
pub use uefi_raw::table::runtime::RuntimeServices;
pub use uefi_raw::table::system::SystemTable;
pub use uefi_raw::table::{Header, Revision};

use core::mem::{offset_of, size_of};
use vmfw_efi::Guid;

/// UEFI 2.10.
pub const SPEC_REVISION: Revision = Revision::new(2, 100);

// Layouts, UEFI 2.10 §4.2–§4.6 and the protocol chapters, for a 64-bit
// target: a shim table whose layout drifted would call the wrong function.
const P: usize = size_of::<usize>();
const _: () = {
    assert!(P == 8);
    assert!(size_of::<Header>() == 24);
    assert!(size_of::<SystemTable>() == 24 + 12 * P);
    assert!(offset_of!(SystemTable, runtime_services) == 24 + 8 * P);
    assert!(offset_of!(SystemTable, configuration_table) == 24 + 11 * P);
    // 44 services after the header.
    assert!(size_of::<BootServices>() == 24 + 44 * P);
    assert!(offset_of!(BootServices, handle_protocol) == 24 + 16 * P);
    assert!(offset_of!(BootServices, load_image) == 24 + 22 * P);
    assert!(offset_of!(BootServices, exit_boot_services) == 24 + 26 * P);
    assert!(offset_of!(BootServices, open_protocol) == 24 + 32 * P);
    assert!(offset_of!(BootServices, install_multiple_protocol_interfaces) == 24 + 38 * P);
    assert!(offset_of!(BootServices, create_event_ex) == 24 + 43 * P);
    // 14 services after the header.
    assert!(size_of::<RuntimeServices>() == 24 + 14 * P);
    assert!(offset_of!(RuntimeServices, get_variable) == 24 + 6 * P);
    assert!(offset_of!(RuntimeServices, reset_system) == 24 + 10 * P);
    assert!(offset_of!(RuntimeServices, query_variable_info) == 24 + 13 * P);
    assert!(size_of::<ConfigurationTable>() == 16 + P);
    assert!(size_of::<BlockIoMedia>() == 48);
    assert!(size_of::<BlockIoProtocol>() == 8 + 5 * P);
    assert!(size_of::<DiskIoProtocol>() == 8 + 2 * P);
    assert!(size_of::<SimpleFileSystemProtocol>() == 8 + P);
    assert!(size_of::<FileProtocolV1>() == 8 + 10 * P);
    assert!(size_of::<SimpleTextOutputMode>() == 24);
    assert!(size_of::<SimpleTextOutputProtocol>() == 10 * P);
    assert!(size_of::<SimpleTextInputProtocol>() == 3 * P);
    assert!(size_of::<SimpleTextInputExProtocol>() == 6 * P);
    assert!(size_of::<InputKey>() == 4);
    assert!(size_of::<LoadedImageProtocol>() == 12 * P);
    assert!(offset_of!(LoadedImageProtocol, load_options_size) == 6 * P);
    assert!(offset_of!(LoadedImageProtocol, image_base) == 8 * P);
    assert!(offset_of!(LoadedImageProtocol, unload) == 11 * P);
    assert!(size_of::<DevicePathToTextProtocol>() == 2 * P);
    assert!(size_of::<DevicePathUtilitiesProtocol>() == 8 * P);
    assert!(size_of::<RngProtocol>() == 2 * P);
};

pub const SYSTEM_TABLE_SIGNATURE: u64 = SystemTable::SIGNATURE;
pub const BOOT_SERVICES_SIGNATURE: u64 = u64::from_le_bytes(*b"BOOTSERV");
pub const RUNTIME_SERVICES_SIGNATURE: u64 = u64::from_le_bytes(*b"RUNTSERV");

/// A table header for a table of type `T`.
pub const fn header<T>(signature: u64) -> Header {
    Header { signature, revision: SPEC_REVISION, size: size_of::<T>() as u32, crc: 0, reserved: 0 }
}

/// Recomputes the CRC32 of the table at `t`, whose header says how long
/// it is (UEFI §4.2: computed with the CRC field zero).
///
/// # Safety
/// `t` must point at a table of type `T` owned by the firmware, with no
/// other reference to it alive.
pub unsafe fn update_crc<T>(t: *mut T) {
    let hdr = t as *mut Header;
    // SAFETY: every UEFI table starts with its header; the table is the
    // firmware's own plain data (caller's contract).
    unsafe {
        (*hdr).crc = 0;
        let bytes = core::slice::from_raw_parts(t as *const u8, size_of::<T>());
        (*hdr).crc = vmfw_block::crc32(bytes);
    }
}

const fn g(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
    Guid::from_fields(d1, d2, d3, d4)
}

pub mod guid {
    use super::g;
    use vmfw_efi::Guid;

    pub const LOADED_IMAGE: Guid =
        g(0x5b1b31a1, 0x9562, 0x11d2, [0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const LOADED_IMAGE_DEVICE_PATH: Guid =
        g(0xbc62157e, 0x3e33, 0x4fec, [0x99, 0x20, 0x2d, 0x3b, 0x36, 0xd7, 0x50, 0xdf]);
    pub const DEVICE_PATH: Guid = vmfw_efi::guid::DEVICE_PATH;
    pub const DEVICE_PATH_TO_TEXT: Guid =
        g(0x8b843e20, 0x8132, 0x4852, [0x90, 0xcc, 0x55, 0x1a, 0x4e, 0x4a, 0x7f, 0x1c]);
    pub const DEVICE_PATH_UTILITIES: Guid =
        g(0x0379be4e, 0xd706, 0x437d, [0xb0, 0x37, 0xed, 0xb8, 0x2f, 0xb7, 0x72, 0xa4]);
    pub const BLOCK_IO: Guid =
        g(0x964e5b21, 0x6459, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const DISK_IO: Guid =
        g(0xce345171, 0xba0b, 0x11d2, [0x8e, 0x4f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const SIMPLE_FILE_SYSTEM: Guid =
        g(0x964e5b22, 0x6459, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const FILE_INFO: Guid =
        g(0x09576e92, 0x6d3f, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const FILE_SYSTEM_INFO: Guid =
        g(0x09576e93, 0x6d3f, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const FILE_SYSTEM_VOLUME_LABEL: Guid =
        g(0xdb47d7d3, 0xfe81, 0x11d3, [0x9a, 0x35, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d]);
    pub const SIMPLE_TEXT_INPUT: Guid =
        g(0x387477c1, 0x69c7, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const SIMPLE_TEXT_INPUT_EX: Guid =
        g(0xdd9e7534, 0x7762, 0x4698, [0x8c, 0x14, 0xf5, 0x85, 0x17, 0xa6, 0x25, 0xaa]);
    pub const SIMPLE_TEXT_OUTPUT: Guid =
        g(0x387477c2, 0x69c7, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
    pub const RNG: Guid =
        g(0x3152bca5, 0xeade, 0x433d, [0x86, 0x2e, 0xc0, 0x1c, 0xdc, 0x29, 0x1f, 0x44]);
    pub const RNG_ALGORITHM_RAW: Guid =
        g(0xe43176d7, 0xb6e8, 0x4827, [0xb7, 0x84, 0x7f, 0xfd, 0xc4, 0xb6, 0x85, 0x61]);
    /// `EFI_RNG_ALGORITHM_SP800_90_CTR_256_GUID`: what RDRAND delivers.
    pub const RNG_ALGORITHM_CTR_DRBG_256: Guid =
        g(0x44f0de6e, 0x4d8c, 0x4045, [0xa8, 0xc7, 0x4d, 0xd1, 0x68, 0x85, 0x6b, 0x9e]);
    /// `EFI_RNG_ALGORITHM_ARM_RNDR`.
    pub const RNG_ALGORITHM_ARM_RNDR: Guid =
        g(0x43d2fde3, 0x9d4e, 0x4d79, [0x02, 0x96, 0xa8, 0x9b, 0xca, 0x78, 0x08, 0x41]);
    pub const ACPI_20_TABLE: Guid =
        g(0x8868e871, 0xe4f1, 0x11d3, [0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81]);
    pub const ACPI_10_TABLE: Guid =
        g(0xeb9d2d30, 0x2d88, 0x11d3, [0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d]);
    pub const SMBIOS_TABLE: Guid =
        g(0xeb9d2d31, 0x2d88, 0x11d3, [0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d]);
    /// `EFI_DTB_TABLE_GUID`: the flattened device tree.
    pub const DEVICE_TREE_TABLE: Guid =
        g(0xb1b621d5, 0xf19c, 0x41a5, [0x83, 0x0b, 0xd9, 0x15, 0x2c, 0x69, 0xaa, 0xe0]);
    /// `EFI_RT_PROPERTIES_TABLE_GUID` (UEFI 2.10 §4.6.2).
    pub const RT_PROPERTIES_TABLE: Guid =
        g(0xeb66918a, 0x7eef, 0x402a, [0x84, 0x2e, 0x93, 0x1d, 0x21, 0xc3, 0x8a, 0xe9]);
    pub const SMBIOS3_TABLE: Guid =
        g(0xf2fd1544, 0x9794, 0x4a2c, [0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94]);
}
