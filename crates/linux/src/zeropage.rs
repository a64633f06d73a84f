//! Layout of `struct boot_params` (the "zero page") and of the setup header
//! inside it, as far as vmfw needs it.
//!
//! Offsets are from `Documentation/arch/x86/zero-page.rst`; the setup
//! header starts at 0x1f1 (`Documentation/arch/x86/boot.rst`, "The real-mode
//! kernel header"). The setup header sits at the same offsets in a bzImage
//! file and in the zero page, so every `0x1f1..` constant here serves both
//! for reading the kernel file and for writing the zero page.

/// Size of the zero page.
pub const SIZE: usize = 4096;

// ---------------------------------------------------------------------------
// `struct boot_params` outside the setup header (zero-page.rst).
// ---------------------------------------------------------------------------

/// `acpi_rsdp_addr` (u64, protocol 2.14+).
pub const ACPI_RSDP_ADDR: usize = 0x070;
/// `ext_ramdisk_image` (u32): high 32 bits of `ramdisk_image`.
pub const EXT_RAMDISK_IMAGE: usize = 0x0c0;
/// `ext_ramdisk_size` (u32): high 32 bits of `ramdisk_size`.
pub const EXT_RAMDISK_SIZE: usize = 0x0c4;
/// `ext_cmd_line_ptr` (u32): high 32 bits of the command line address.
pub const EXT_CMD_LINE_PTR: usize = 0x0c8;
/// `e820_entries` (u8).
pub const E820_ENTRIES: usize = 0x1e8;
/// `sentinel` (u8): the kernel clears parts of the zero page when this is
/// non-zero, assuming a loader that copied the whole boot sector. Loaders
/// that start from zeros and copy from [`SETUP_HEADER`] leave it 0.
pub const SENTINEL: usize = 0x1ef;
/// `e820_table`: up to [`E820_MAX`] entries of [`E820_ENTRY_SIZE`] bytes.
pub const E820_TABLE: usize = 0x2d0;
/// Capacity of the zero page's E820 table.
pub const E820_MAX: usize = 128;
/// One E820 entry: `u64 addr, u64 size, u32 type`, packed.
pub const E820_ENTRY_SIZE: usize = 20;

// ---------------------------------------------------------------------------
// The setup header (boot.rst, "The Real-Mode Kernel Header").
// ---------------------------------------------------------------------------

/// Start of the setup header: `setup_sects` (u8).
pub const SETUP_HEADER: usize = 0x1f1;
/// `hdr.setup_sects` (u8): setup code size in 512-byte sectors; 0 means 4.
pub const SETUP_SECTS: usize = 0x1f1;
/// `hdr.root_flags` (u16).
pub const ROOT_FLAGS: usize = 0x1f2;
/// `hdr.syssize` (u32, 2.04+): protected-mode code size in 16-byte units.
pub const SYSSIZE: usize = 0x1f4;
/// `hdr.vid_mode` (u16).
pub const VID_MODE: usize = 0x1fa;
/// `hdr.root_dev` (u16).
pub const ROOT_DEV: usize = 0x1fc;
/// `hdr.boot_flag` (u16): [`BOOT_FLAG_MAGIC`].
pub const BOOT_FLAG: usize = 0x1fe;
/// `hdr.jump` (u16): `0xEB, rel8`; the offset byte at 0x201 gives the header
/// length: the header ends at `0x202 + offset`.
pub const JUMP: usize = 0x200;
/// The jump's offset byte (i8, relative to 0x202): the setup header ends
/// at `0x202 + offset`.
pub const JUMP_OFFSET: usize = 0x201;
/// `hdr.header` (u32): [`HEADER_MAGIC`].
pub const HEADER: usize = 0x202;
/// `hdr.version` (u16): boot protocol version, `(major << 8) | minor`.
pub const VERSION: usize = 0x206;
/// `hdr.realmode_swtch` (u32): real-mode boot loader hook.
pub const REALMODE_SWTCH: usize = 0x208;
/// `hdr.kernel_version` (u16): offset of the version string, less 0x200.
pub const KERNEL_VERSION: usize = 0x20e;
/// `hdr.type_of_loader` (u8).
pub const TYPE_OF_LOADER: usize = 0x210;
/// `hdr.loadflags` (u8): see the `LOADFLAG_*` constants.
pub const LOADFLAGS: usize = 0x211;
/// `hdr.code32_start` (u32): 32-bit entry / load address.
pub const CODE32_START: usize = 0x214;
/// `hdr.ramdisk_image` (u32): low 32 bits of the initrd address.
pub const RAMDISK_IMAGE: usize = 0x218;
/// `hdr.ramdisk_size` (u32): low 32 bits of the initrd size.
pub const RAMDISK_SIZE: usize = 0x21c;
/// `hdr.heap_end_ptr` (u16): end of the real-mode heap, less 0x200.
pub const HEAP_END_PTR: usize = 0x224;
/// `hdr.ext_loader_ver` (u8, 2.02+).
pub const EXT_LOADER_VER: usize = 0x226;
/// `hdr.ext_loader_type` (u8, 2.02+).
pub const EXT_LOADER_TYPE: usize = 0x227;
/// `hdr.cmd_line_ptr` (u32).
pub const CMD_LINE_PTR: usize = 0x228;
/// `hdr.initrd_addr_max` (u32, 2.03+): highest byte an initrd may occupy.
pub const INITRD_ADDR_MAX: usize = 0x22c;
/// `hdr.kernel_alignment` (u32, 2.05+; writable 2.10+).
pub const KERNEL_ALIGNMENT: usize = 0x230;
/// `hdr.relocatable_kernel` (u8, 2.05+).
pub const RELOCATABLE_KERNEL: usize = 0x234;
/// `hdr.min_alignment` (u8, 2.10+): minimum alignment as a power of two.
pub const MIN_ALIGNMENT: usize = 0x235;
/// `hdr.xloadflags` (u16, 2.12+): see the `XLF_*` constants.
pub const XLOADFLAGS: usize = 0x236;
/// `hdr.cmdline_size` (u32), protocol 2.06+.
pub const CMDLINE_SIZE: usize = 0x238;
/// `hdr.hardware_subarch` (u32, 2.07+).
pub const HARDWARE_SUBARCH: usize = 0x23c;
/// `hdr.hardware_subarch_data` (u64, 2.07+).
pub const HARDWARE_SUBARCH_DATA: usize = 0x240;
/// `hdr.payload_offset` (u32, 2.08+): from the start of the protected-mode
/// code.
pub const PAYLOAD_OFFSET: usize = 0x248;
/// `hdr.payload_length` (u32, 2.08+).
pub const PAYLOAD_LENGTH: usize = 0x24c;
/// `hdr.setup_data` (u64, 2.09+): physical address of a `setup_data` list.
pub const SETUP_DATA: usize = 0x250;
/// `hdr.pref_address` (u64, 2.10+).
pub const PREF_ADDRESS: usize = 0x258;
/// `hdr.init_size` (u32, 2.10+).
pub const INIT_SIZE: usize = 0x260;
/// `hdr.handover_offset` (u32, 2.11+).
pub const HANDOVER_OFFSET: usize = 0x264;
/// `hdr.kernel_info_offset` (u32, 2.15+).
pub const KERNEL_INFO_OFFSET: usize = 0x268;

/// End (exclusive) of the header fields vmfw needs: through
/// `handover_offset`. A kernel whose header (per its jump byte) ends
/// earlier is rejected.
pub const SETUP_HEADER_MIN_END: usize = 0x268;
/// Largest possible end of the setup header: the jump offset is a signed
/// byte, so `0x202 + 0x7f` (boot.rst: "setup_header is permanently limited
/// to 144 bytes").
pub const SETUP_HEADER_MAX_END: usize = 0x202 + 0x7f;

/// Value of `boot_flag`.
pub const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// Value of `header`: "HdrS" read as a little-endian u32.
pub const HEADER_MAGIC: u32 = 0x5372_6448;

/// `loadflags` bit 0 (read): the protected-mode code is loaded at 1 MiB
/// (bzImage).
pub const LOADFLAG_LOADED_HIGH: u8 = 1 << 0;
/// `loadflags` bit 1 (kernel internal): KASLR status.
pub const LOADFLAG_KASLR: u8 = 1 << 1;
/// `loadflags` bit 5 (write): suppress early messages.
pub const LOADFLAG_QUIET: u8 = 1 << 5;
/// `loadflags` bit 6: obsolete `KEEP_SEGMENTS`.
pub const LOADFLAG_KEEP_SEGMENTS: u8 = 1 << 6;
/// `loadflags` bit 7 (write): `heap_end_ptr` is valid.
pub const LOADFLAG_CAN_USE_HEAP: u8 = 1 << 7;

/// `xloadflags` bit 0: the kernel has the 64-bit entry point at 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: kernel, boot_params, cmdline and ramdisk can be
/// above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `xloadflags` bit 2: 32-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// `xloadflags` bit 3: 64-bit EFI handover entry.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// `xloadflags` bit 4: kexec EFI boot with runtime services.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;
/// `xloadflags` bit 5: the kernel supports 5-level paging.
pub const XLF_5LEVEL: u16 = 1 << 5;
/// `xloadflags` bit 6: 5-level paging is enabled in the kernel build.
pub const XLF_5LEVEL_ENABLED: u16 = 1 << 6;

/// `type_of_loader` value for a loader without an assigned id (boot.rst:
/// "Otherwise, enter 0xFF here").
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;

/// Offset of the 64-bit entry point from the start of the protected-mode
/// code (boot.rst, "64-bit Boot Protocol").
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// Size of one boot sector; the setup code is `setup_sects` of them after
/// the boot sector.
pub const SECTOR_SIZE: usize = 512;
/// `initrd_addr_max` assumed when the header does not give one (boot.rst:
/// "the maximum address is 0x37FFFFFF").
pub const DEFAULT_INITRD_ADDR_MAX: u32 = 0x37ff_ffff;
