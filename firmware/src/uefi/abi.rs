//! The UEFI 2.10 ABI as vmfw lays it out: table headers, the system table,
//! the boot and runtime services tables, configuration tables and the
//! GUIDs of the protocols vmfw installs or is asked for.
//!
//! Function pointers are stored as `usize` (every shim is an
//! `extern "efiapi" fn`, cast when the table is built), which keeps these
//! structs plain data with the exact UEFI layout.

use vmfw_efi::Guid;

/// `EFI_TABLE_HEADER` (UEFI §4.2).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TableHeader {
    pub signature: u64,
    pub revision: u32,
    pub header_size: u32,
    pub crc32: u32,
    pub reserved: u32,
}

/// UEFI 2.10.
pub const SPEC_REVISION: u32 = (2 << 16) | 100;

pub const SYSTEM_TABLE_SIGNATURE: u64 = u64::from_le_bytes(*b"IBI SYST");
pub const BOOT_SERVICES_SIGNATURE: u64 = u64::from_le_bytes(*b"BOOTSERV");
pub const RUNTIME_SERVICES_SIGNATURE: u64 = u64::from_le_bytes(*b"RUNTSERV");

/// `EFI_SYSTEM_TABLE` (UEFI §4.3).
#[repr(C)]
pub struct SystemTable {
    pub hdr: TableHeader,
    pub firmware_vendor: u64,
    pub firmware_revision: u32,
    pub console_in_handle: usize,
    pub con_in: u64,
    pub console_out_handle: usize,
    pub con_out: u64,
    pub standard_error_handle: usize,
    pub std_err: u64,
    pub runtime_services: u64,
    pub boot_services: u64,
    pub number_of_table_entries: usize,
    pub configuration_table: u64,
}

/// `EFI_CONFIGURATION_TABLE` (UEFI §4.6).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ConfigurationTable {
    pub vendor_guid: Guid,
    pub vendor_table: u64,
}

/// `EFI_BOOT_SERVICES` (UEFI §4.4): the header and 44 function pointers in
/// the specification's order.
#[repr(C)]
pub struct BootServices {
    pub hdr: TableHeader,
    pub raise_tpl: usize,
    pub restore_tpl: usize,
    pub allocate_pages: usize,
    pub free_pages: usize,
    pub get_memory_map: usize,
    pub allocate_pool: usize,
    pub free_pool: usize,
    pub create_event: usize,
    pub set_timer: usize,
    pub wait_for_event: usize,
    pub signal_event: usize,
    pub close_event: usize,
    pub check_event: usize,
    pub install_protocol_interface: usize,
    pub reinstall_protocol_interface: usize,
    pub uninstall_protocol_interface: usize,
    pub handle_protocol: usize,
    pub reserved: usize,
    pub register_protocol_notify: usize,
    pub locate_handle: usize,
    pub locate_device_path: usize,
    pub install_configuration_table: usize,
    pub load_image: usize,
    pub start_image: usize,
    pub exit: usize,
    pub unload_image: usize,
    pub exit_boot_services: usize,
    pub get_next_monotonic_count: usize,
    pub stall: usize,
    pub set_watchdog_timer: usize,
    pub connect_controller: usize,
    pub disconnect_controller: usize,
    pub open_protocol: usize,
    pub close_protocol: usize,
    pub open_protocol_information: usize,
    pub protocols_per_handle: usize,
    pub locate_handle_buffer: usize,
    pub locate_protocol: usize,
    pub install_multiple_protocol_interfaces: usize,
    pub uninstall_multiple_protocol_interfaces: usize,
    pub calculate_crc32: usize,
    pub copy_mem: usize,
    pub set_mem: usize,
    pub create_event_ex: usize,
}

/// `EFI_RUNTIME_SERVICES` (UEFI §4.5).
#[repr(C)]
pub struct RuntimeServices {
    pub hdr: TableHeader,
    pub get_time: usize,
    pub set_time: usize,
    pub get_wakeup_time: usize,
    pub set_wakeup_time: usize,
    pub set_virtual_address_map: usize,
    pub convert_pointer: usize,
    pub get_variable: usize,
    pub get_next_variable_name: usize,
    pub set_variable: usize,
    pub get_next_high_monotonic_count: usize,
    pub reset_system: usize,
    pub update_capsule: usize,
    pub query_capsule_capabilities: usize,
    pub query_variable_info: usize,
}

/// The CRC32 of a table whose header says how long it is, computed with
/// the header's CRC field zero (UEFI §4.2).
pub fn table_crc(bytes: &[u8]) -> u32 {
    let mut c = vmfw_block::Crc32::new();
    // The CRC field is at offset 16..20.
    c.update(bytes.get(..16).unwrap_or(&[]));
    c.update(&[0; 4]);
    c.update(bytes.get(20..).unwrap_or(&[]));
    c.finish()
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
    pub const ACPI_20_TABLE: Guid =
        g(0x8868e871, 0xe4f1, 0x11d3, [0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81]);
    pub const ACPI_10_TABLE: Guid =
        g(0xeb9d2d30, 0x2d88, 0x11d3, [0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d]);
    pub const SMBIOS_TABLE: Guid =
        g(0xeb9d2d31, 0x2d88, 0x11d3, [0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d]);
    pub const SMBIOS3_TABLE: Guid =
        g(0xf2fd1544, 0x9794, 0x4a2c, [0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94]);
}
