//! The architecture seam: everything the firmware does differently on
//! each CPU architecture, as a small set of functions and types.
//!
//! The boot flow, drivers, loaders and the UEFI layer call only what this
//! file defines; each function here forwards to the active architecture's
//! module (`x86_64/`, `aarch64/`), which implements it. A new
//! architecture adds its directory, an entry door in its linker script
//! and the two `cfg` lines below this comment; no boot-flow code changes.
//! The README's architecture section has the same list as a table, with
//! what each architecture uses.
//!
//! | group | items |
//! |---|---|
//! | CPU | [`init_cpu`], [`halt`] |
//! | time | [`counter`], [`counter_hz`], [`COUNTER_HZ_MAX`], [`COUNTER_NAME`] |
//! | memory | [`paging`] |
//! | console | [`serial`] |
//! | devices | [`port_write`], [`pci_config_ports`] |
//! | power | [`power`] |
//! | boot | [`linux_handoff`] |
//! | UEFI | [`rtc`], [`rng`], [`efi_call`] |
//!
//! Rules for implementations: every function that UEFI runtime services
//! reach ([`power`], [`rtc`], [`counter`]) must run under the OS's page
//! tables after `ExitBootServices()`: no logging, no heap, no memory but
//! the firmware image and registers the VMM emulates in I/O space (or
//! MMIO that the runtime memory map describes).

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
use self::x86_64 as imp;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod aarch64;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use self::aarch64 as imp;

// Host unit tests (`cargo test -p vmfw`): the same interface over the
// process's own memory and clock, with no devices.
#[cfg(not(target_os = "none"))]
mod host;
#[cfg(not(target_os = "none"))]
use self::host as imp;
#[cfg(not(target_os = "none"))]
pub use self::host::set_test_ram;

// ---------------------------------------------------------------------
// Entry.

/// The architecture's name in the log ("x86_64", "aarch64").
pub const NAME: &str = imp::NAME;

/// Reads the VMM's hand-over data for the door the entry code reports
/// (`info` and `door` as `vmfw_start` received them): x86_64's PVH start
/// info or zero page, aarch64's device tree.
pub fn platform(info: u64, door: u32) -> Result<vmfw_platform::Platform, vmfw_platform::Error> {
    imp::platform(info, door)
}

/// Whether the VMM describes the machine with a device tree (aarch64). A
/// constant, so that x86_64 builds carry no device-tree code.
pub const HAS_DEVICE_TREE: bool = imp::HAS_DEVICE_TREE;

/// The door the entry code's number names.
pub fn door(door: u32) -> vmfw_platform::Door {
    imp::door(door)
}

// ---------------------------------------------------------------------
// CPU.

/// Sets up the CPU's exception handling, right after the console is up:
/// every exception then prints a report on the console and powers off.
/// x86_64: GDT with a TSS (an IST stack for faults), IDT; aarch64: the
/// exception vector table (VBAR_EL1).
pub fn init_cpu() {
    imp::init_cpu()
}

/// Stops this CPU for good (interrupts masked, waiting forever).
#[allow(dead_code)] // no caller outside `arch` yet: power::stop halts by itself
pub fn halt() -> ! {
    imp::halt()
}

// ---------------------------------------------------------------------
// Time.

/// The architecture's monotonic counter (x86_64: TSC; aarch64: CNTVCT_EL0).
/// Cheap (no VM exit), never goes backwards, runtime-safe.
pub fn counter() -> u64 {
    imp::counter::read()
}

/// The counter's ticks per second and how that was learnt (for the log).
/// Calls may take a while (x86_64 can calibrate against the PIT for
/// 2 ms) and do not log: `time::counter_hz` caches the answer.
/// aarch64 reads CNTFRQ_EL0.
pub fn counter_hz() -> (u64, &'static str) {
    imp::counter::hz()
}

/// A counter rate at the fast end of what hosts run at (x86_64: 4 GHz;
/// aarch64: 1 GHz, the rate Armv8.6 fixes the generic timer at), for
/// waits that must not measure the rate (the way down from a fault): they
/// then last about as long as asked or longer, never endlessly.
pub const COUNTER_HZ_MAX: u64 = imp::counter::HZ_MAX;

/// What the counter is called in the log ("TSC").
pub const COUNTER_NAME: &str = imp::counter::NAME;

// ---------------------------------------------------------------------
// Memory.

/// The firmware's page tables. Invariant on every architecture: virtual ==
/// physical for everything mapped, so addresses handed to devices (DMA)
/// or to the OS are the pointers the firmware uses.
pub mod paging {
    use super::imp;

    /// What a range holds, which decides its memory attributes (aarch64:
    /// Normal write-back for RAM, Device-nGnRE for MMIO). x86_64 maps both
    /// alike, as it always did: under KVM an access to emulated MMIO exits
    /// to the VMM whatever the cache type.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// RAM, whoever uses it (free, firmware, ACPI tables).
        Ram,
        /// Device registers (PCI BARs, ECAM windows, MMIO devices), and
        /// ranges the VMM reserves without saying what they hold.
        Device,
    }

    /// [`init`] identity-maps `[0, INIT_MAP_END)` (page 0 excepted);
    /// whatever the VMM describes above it is mapped with [`map`].
    pub const INIT_MAP_END: u64 = imp::paging::INIT_MAP_END;

    /// Builds the firmware's own identity map and switches to it.
    ///
    /// # Safety
    /// Must be called once, early, before anything relies on mappings
    /// other than the entry door's; the code, data and stack in use must
    /// lie below [`INIT_MAP_END`].
    pub unsafe fn init() {
        // SAFETY: forwarded from the caller.
        unsafe { imp::paging::init() }
    }

    /// Identity-maps `[start, start + len)` read-write as `kind`, rounded
    /// out to the architecture's block size. Mapped parts stay as they
    /// are. `alloc` supplies zeroed 4 KiB pages for new tables. False when
    /// a table could not be allocated or the range cannot be
    /// identity-mapped (beyond the virtual address width).
    pub fn map(start: u64, len: u64, kind: Kind, alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
        imp::paging::map_identity(start, len, kind == Kind::Device, alloc)
    }

    /// Unmaps the 4 KiB page at `addr` so that any access faults (the
    /// stack guard), splitting a block mapping when needed; false when it
    /// was not mapped or a table could not be allocated.
    pub fn unmap_page(addr: u64, alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
        imp::paging::unmap_page(addr, alloc)
    }

    /// True when `addr` is mapped in the current tables (so reads of
    /// VMM-provided pointers cannot fault).
    pub fn is_mapped(addr: u64) -> bool {
        imp::paging::is_mapped(addr)
    }

    /// Maps page 0, which [`init`] leaves out to catch null pointers: the
    /// UEFI environment maps every page of its memory map (UEFI 2.10
    /// §2.3.4), and loaders use low memory after `ExitBootServices()`.
    /// Where no RAM is at 0 (aarch64 VMMs) there is nothing to do.
    pub fn map_page_zero() {
        imp::paging::map_page_zero()
    }
}

// ---------------------------------------------------------------------
// Console.

/// The serial port the console writes to (x86_64: COM1, a 16550 at port
/// 0x3f8; aarch64: a PL011). Polled, never interrupt-driven; runs without
/// locks so the exception handler can always print.
pub mod serial {
    use super::imp;

    /// Programs the UART (115200 8N1, FIFOs on). False when there is none
    /// to write to.
    pub fn init() -> bool {
        imp::serial::init()
    }

    /// One received byte, if any; never waits.
    pub fn rx() -> Option<u8> {
        imp::serial::rx()
    }

    /// Waits (a bounded time) until the transmitter can take bytes, and
    /// returns how many [`tx`] may put without asking again. Each register
    /// access is a VM exit, so the console asks once per FIFO load rather
    /// than once per byte. After a timeout it answers as if ready: a
    /// wedged UART loses bytes but never hangs the firmware.
    pub fn tx_room() -> usize {
        imp::serial::tx_room()
    }

    /// Puts one byte into the transmitter.
    pub fn tx(byte: u8) {
        imp::serial::tx(byte)
    }
}

// ---------------------------------------------------------------------
// Devices.

/// Width of an I/O port access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortWidth {
    /// 8 bits.
    U8,
    /// 16 bits.
    U16,
    /// 32 bits.
    U32,
}

/// Writes `value`, truncated to `width`, to I/O port `port` (ACPI system-I/O
/// registers). False when the architecture has no I/O port space (aarch64):
/// the caller then skips the register. Runtime-safe.
///
/// # Safety
/// The port must belong to a device whose reaction cannot break memory
/// safety; the caller names it.
pub unsafe fn port_write(port: u16, width: PortWidth, value: u32) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { imp::port_write(port, width, value) }
}

/// PCI configuration mechanism #1 (ports 0xCF8/0xCFC, PCI Local Bus 3.0
/// §3.2.2.3.2), where the architecture has it: segment 0, the first 256
/// bytes of each function. Get it from [`pci_config_ports`].
#[derive(Debug, Clone, Copy)]
pub struct PciConfigPorts(());

impl PciConfigPorts {
    /// Reads the dword that `address` selects (bit 31 enable, bus in
    /// 23:16, device in 15:11, function in 10:8, register in 7:2).
    pub fn read(&self, address: u32) -> u32 {
        imp::pci::read(address)
    }

    /// Writes the dword that `address` selects.
    pub fn write(&self, address: u32, value: u32) {
        imp::pci::write(address, value)
    }
}

/// The legacy PCI configuration ports, or `None` where only ECAM exists
/// (aarch64).
pub fn pci_config_ports() -> Option<PciConfigPorts> {
    imp::pci::PRESENT.then_some(PciConfigPorts(()))
}

// ---------------------------------------------------------------------
// Power.

/// The architecture's own ways to stop the VM. The order around them, and
/// ACPI's registers (S5 sleep control, the FADT reset register), are
/// `power.rs`'s. Each function tries its steps in order and calls `settle`
/// after each (a wait of a few milliseconds for the VMM to act); it
/// returns when none worked. Runtime-safe: direct calls and port or
/// hypervisor-call writes only, no function-pointer tables (the OS may
/// run the firmware at another virtual address).
pub mod power {
    use super::imp;

    /// Power-off steps tried after ACPI S5 and before the ACPI reset
    /// register (x86_64: i8042 reset pulse, 0xCF9 hard reset; aarch64:
    /// PSCI `SYSTEM_OFF`).
    pub fn off(settle: impl FnMut()) {
        imp::power::off(settle)
    }

    /// Power-off steps tried after the ACPI reset register (x86_64: QEMU's
    /// `isa-debug-exit`; aarch64: none).
    pub fn off_last(settle: impl FnMut()) {
        imp::power::off_last(settle)
    }

    /// Reset steps tried before the ACPI reset register (x86_64: 0xCF9,
    /// then i8042; aarch64: PSCI `SYSTEM_RESET`).
    pub fn reset(settle: impl FnMut()) {
        imp::power::reset(settle)
    }

    /// The last resort when nothing stopped the VM (x86_64: a triple
    /// fault, which resets it; aarch64: halt).
    pub fn stop() -> ! {
        imp::power::stop()
    }
}

// ---------------------------------------------------------------------
// Boot.

/// Jumps to a Linux kernel by the architecture's boot protocol:
/// x86_64: the 64-bit protocol, `param` = zero page (boot_params);
/// aarch64: `Image` entry with MMU and caches off, `param` = FDT, after
/// cleaning `loaded` (kernel, initrd, device tree: `(start, len)` pairs)
/// to the point of coherency. x86_64's caches are coherent: it ignores
/// `loaded`.
///
/// # Safety
/// `entry` must be the kernel's entry point, loaded in identity-mapped
/// memory, and `param` a complete boot parameter block whose memory map
/// protects everything the kernel must not overwrite. Devices must be
/// quiesced: nothing of the firmware runs afterwards.
pub unsafe fn linux_handoff(entry: u64, param: u64, loaded: &[(u64, u64)]) -> ! {
    // SAFETY: forwarded from the caller.
    unsafe { imp::handoff::linux64(entry, param, loaded) }
}

/// The kernel protocol of the native path: where the kernel, initrds and
/// boot parameters go (x86_64: bzImage + zero page; aarch64: `Image` +
/// device tree). `prepare(fs, entry, cmdline, platform, taken)` loads an
/// entry's files into memory it records in `taken`.
pub mod linux {
    pub use super::imp::linux::{prepare, ProtocolError};
}

/// The BLS `architecture` value of entries for this machine.
pub const BLS_ARCH: vmfw_bls::Arch = imp::linux::BLS_ARCH;

// ---------------------------------------------------------------------
// UEFI support.

/// The PE machine type of UEFI images for this CPU.
pub const PE_MACHINE: vmfw_pe::Machine = imp::PE_MACHINE;

/// Whether the runtime services support `SetVirtualAddressMap()`. x86_64:
/// yes (the firmware's code is position-dependent, but Linux keeps the
/// runtime regions mapped 1:1 as well). aarch64: no. Linux there maps
/// each runtime region only at the virtual address it gives it, at
/// offsets that may differ between regions, which no single relocation
/// of the image survives; without `SetVirtualAddressMap()` (announced by
/// `EFI_RT_PROPERTIES_TABLE`) it maps them 1:1 and calls the firmware
/// where it is.
pub const RUNTIME_VIRTUAL_MAP: bool = imp::RUNTIME_VIRTUAL_MAP;

/// The real-time clock behind UEFI `GetTime()`/`SetTime()`/
/// `GetWakeupTime()`/`SetWakeupTime()` (x86_64: the CMOS RTC; aarch64: a
/// PL031). Runtime-safe. The clock keeps no time zone, daylight flags or
/// nanoseconds: times read have `UNSPECIFIED_TIMEZONE`, daylight 0 and
/// 0 ns, and those fields of times written are ignored (the UEFI layer
/// remembers the zone itself). `DeviceError` when the registers do not
/// decode to a valid time or another call holds the clock.
pub mod rtc {
    use super::imp;
    use vmfw_efi::time::{Capabilities, Time};
    use vmfw_efi::Result;

    /// The alarm as `GetWakeupTime()` reports it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Wakeup {
        /// The alarm is armed.
        pub enabled: bool,
        /// The alarm time was reached (reading clears it on the CMOS RTC).
        pub pending: bool,
        /// The alarm time (the CMOS alarm has a time of day only: the date
        /// is today's).
        pub time: Time,
    }

    /// The current time.
    pub fn get_time() -> Result<Time> {
        imp::rtc::get_time()
    }

    /// Sets the clock; `InvalidParameter` when `time` fails
    /// [`Time::validate`].
    pub fn set_time(time: &Time) -> Result<()> {
        imp::rtc::set_time(time)
    }

    /// The clock's register window when it is memory-mapped (aarch64's
    /// PL031), which the OS must map for runtime calls.
    pub fn mmio() -> Option<(u64, u64)> {
        imp::rtc::mmio()
    }

    /// `EFI_TIME_CAPABILITIES` of the clock.
    pub fn capabilities() -> Capabilities {
        imp::rtc::capabilities()
    }

    /// The alarm.
    pub fn get_wakeup() -> Result<Wakeup> {
        imp::rtc::get_wakeup()
    }

    /// Arms the alarm at `alarm`, or disarms it for `None`;
    /// `InvalidParameter` when the time fails [`Time::validate`].
    pub fn set_wakeup(alarm: Option<&Time>) -> Result<()> {
        imp::rtc::set_wakeup(alarm)
    }
}

/// Random numbers from the CPU, for `EFI_RNG_PROTOCOL` (x86_64: RDRAND and
/// RDSEED; aarch64: RNDR where FEAT_RNG exists).
pub mod rng {
    use super::imp;

    /// A kind of randomness; the UEFI layer maps each to its
    /// `EFI_RNG_ALGORITHM` GUID.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    // The host has none; each CPU offers only its own.
    #[allow(dead_code)]
    pub enum Algorithm {
        /// SP 800-90A CTR_DRBG with AES-256 (RDRAND).
        CtrDrbg256,
        /// Conditioned entropy-source output (RDSEED).
        Raw,
        /// Arm's RNDR (`EFI_RNG_ALGORITHM_ARM_RNDR`).
        ArmRndr,
    }

    /// The algorithms this CPU offers, the preferred (default) first;
    /// empty when it has none. Asks the CPU each time (CPUID).
    pub fn algorithms() -> alloc::vec::Vec<Algorithm> {
        imp::rng::algorithms()
    }

    /// Fills `buf` from `alg`. False when the CPU does not offer `alg` or
    /// it failed to deliver after bounded retries (`EFI_NOT_READY`).
    pub fn fill(alg: Algorithm, buf: &mut [u8]) -> bool {
        imp::rng::fill(alg, buf)
    }
}

/// Calls between the firmware and UEFI code: the image trampoline and the
/// variadic boot services.
///
/// The variadic entry points call two functions the UEFI layer defines
/// with `#[no_mangle]`:
/// `extern "efiapi" fn vmfw_install_multiple_impl(args: *const u64) -> Status`
/// and `extern "efiapi" fn vmfw_uninstall_multiple_impl(args: *const u64)
/// -> Status`, where `args` points at all the caller's arguments as one
/// array of 64-bit slots (handle or handle pointer first, then GUID
/// pointer / interface pairs up to a NULL GUID pointer).
pub mod efi_call {
    use super::imp;

    // Each architecture's `efi_call.rs` defines these symbols in assembly.
    extern "C" {
        fn vmfw_arch_call_image(
            entry: u64,
            handle: usize,
            system_table: u64,
            saved_sp: *mut u64,
        ) -> usize;
        fn vmfw_arch_exit_image(saved_sp: u64, status: usize) -> !;
        // Typed as the boot services table types them (a variadic
        // `extern "C"` pointer); the stubs implement the calling
        // convention the callers really use.
        fn vmfw_arch_install_multiple(handle: *mut uefi_raw::Handle, ...) -> uefi_raw::Status;
        fn vmfw_arch_uninstall_multiple(handle: uefi_raw::Handle, ...) -> uefi_raw::Status;
    }

    /// `InstallMultipleProtocolInterfaces()` as the boot services table
    /// types it.
    pub type InstallMultiple = unsafe extern "C" fn(*mut uefi_raw::Handle, ...) -> uefi_raw::Status;
    /// `UninstallMultipleProtocolInterfaces()` as the boot services table
    /// types it.
    pub type UninstallMultiple = unsafe extern "C" fn(uefi_raw::Handle, ...) -> uefi_raw::Status;

    /// Calls the UEFI image entry point `entry(handle, system_table)` with
    /// the UEFI calling convention and returns its status. Before the
    /// call the firmware's callee-saved registers and stack pointer are
    /// saved on its stack, and that stack pointer stored in `*jump`, so
    /// that [`exit_image`] can return here.
    ///
    /// # Safety
    /// `entry` must be the entry point of a loaded, relocated image;
    /// `jump` must stay valid while the image runs.
    pub unsafe fn call_image(
        entry: u64,
        handle: usize,
        system_table: u64,
        jump: *mut u64,
    ) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { vmfw_arch_call_image(entry, handle, system_table, jump) }
    }

    /// Returns from the [`call_image`] that stored `jump`, with `status`
    /// (UEFI `Exit()`): everything the image pushed since is abandoned.
    ///
    /// # Safety
    /// `jump` must be the value a [`call_image`] that has not returned yet
    /// stored; nothing on the abandoned stack may need dropping.
    pub unsafe fn exit_image(jump: u64, status: usize) -> ! {
        // SAFETY: forwarded from the caller.
        unsafe { vmfw_arch_exit_image(jump, status) }
    }

    /// The entry point the runtime services table gives the OS for
    /// runtime service number `index` (0..16, one per service), whose
    /// Rust function is `service` (a function pointer of the table's
    /// type). x86_64: `service` itself. aarch64: a stub that preserves
    /// x18, the platform register, around the call.
    pub fn runtime_entry<F: Copy>(index: usize, service: F) -> F {
        imp::efi_call::runtime_entry(index, service)
    }

    /// The boot services table's `InstallMultipleProtocolInterfaces()`.
    pub fn install_multiple() -> InstallMultiple {
        vmfw_arch_install_multiple
    }

    /// The boot services table's `UninstallMultipleProtocolInterfaces()`.
    pub fn uninstall_multiple() -> UninstallMultiple {
        vmfw_arch_uninstall_multiple
    }
}
