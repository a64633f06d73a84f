//! Layout of `struct boot_params` (the "zero page"), as far as vmfw needs it.
//!
//! Offsets are from `Documentation/arch/x86/zero-page.rst`; the setup
//! header starts at 0x1f1 (`Documentation/arch/x86/boot.rst`, "The real-mode
//! kernel header").

/// Size of the zero page.
pub const SIZE: usize = 4096;
/// `acpi_rsdp_addr` (u64, protocol 2.14+).
pub const ACPI_RSDP_ADDR: usize = 0x070;
/// `ext_cmd_line_ptr` (u32): high 32 bits of the command line address.
pub const EXT_CMD_LINE_PTR: usize = 0x0c8;
/// `e820_entries` (u8).
pub const E820_ENTRIES: usize = 0x1e8;
/// Start of the setup header.
pub const SETUP_HEADER: usize = 0x1f1;
/// `hdr.type_of_loader` (u8).
pub const TYPE_OF_LOADER: usize = 0x210;
/// `hdr.cmd_line_ptr` (u32).
pub const CMD_LINE_PTR: usize = 0x228;
/// `hdr.cmdline_size` (u32), protocol 2.06+.
pub const CMDLINE_SIZE: usize = 0x238;
/// `e820_table`: up to [`E820_MAX`] entries of [`E820_ENTRY_SIZE`] bytes.
pub const E820_TABLE: usize = 0x2d0;
/// Capacity of the zero page's E820 table.
pub const E820_MAX: usize = 128;
/// One E820 entry: `u64 addr, u64 size, u32 type`, packed.
pub const E820_ENTRY_SIZE: usize = 20;
