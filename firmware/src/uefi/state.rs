//! The UEFI environment's state, with one owner for each part:
//!
//! - [`BOOT`]: everything the boot services own (handle database, events,
//!   pool, loaded images, open files, console input, watchdog). Gone, in
//!   spirit, after `ExitBootServices()`: only boot-services shims use it.
//! - [`RUNTIME`]: what the runtime services need after the OS took over
//!   (variables and where they are saved, the virtual address map, the
//!   monotonic count's high half, the time zone). It lives in the runtime
//!   heap from `ExitBootServices()` on.
//! - [`TABLES`]: the system table, both services tables, the
//!   configuration table array and the console's mutable protocol data,
//!   at fixed addresses that guest code reads (and, for the boot services
//!   table, may patch: shim replaces some entries).
//! - [`DISKS`]: the boot manager's disks, lent while the UEFI environment
//!   runs a boot option; the UEFI environment never owns them.
//!
//! Lock discipline: a shim takes at most one of `BOOT`, `RUNTIME` and
//! `DISKS` at a time (it copies what it needs out of one before taking
//! the next), and never calls guest code while holding any.

use super::abi::{
    ConfigurationTable, LoadedImageProtocol, RuntimeServices, SimpleTextInputExProtocol,
    SimpleTextInputProtocol, SimpleTextOutputMode, SimpleTextOutputProtocol, SystemTable,
};
use super::global::{Global, Lent, Shared};
use crate::disks::BootDisk;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use vmfw_efi::handles::{Database, Handle};
use vmfw_efi::memory::EfiMemoryType;
use vmfw_efi::pool::Pool;
use vmfw_efi::{EventId, Events, Result, VariableStore};

/// The boot-services state.
pub struct Boot {
    pub db: Database,
    pub events: Events,
    pub pool: Pool,
    /// `GetNextMonotonicCount()`'s low 32 bits.
    pub monotonic_low: u32,
    /// Counter deadline of the watchdog, if armed.
    pub watchdog: Option<u64>,
    /// Loaded images, the firmware's own first.
    pub images: Vec<Image>,
    /// The images currently running, innermost last.
    pub running: Vec<Handle>,
    /// Addresses of live file protocol objects, to refuse stale or forged
    /// pointers.
    pub open_files: Vec<u64>,
    /// Console input not yet turned into keys.
    pub input: Input,
    /// The handles with a Simple File System: (handle, disk, partition).
    pub volumes: Vec<(Handle, usize, u32)>,
}

/// One loaded image.
pub struct Image {
    pub handle: Handle,
    pub base: u64,
    pub pages: u64,
    pub entry: u64,
    pub loaded: Box<LoadedImageProtocol>,
    /// The paths the protocols point at.
    pub file_path: Vec<u8>,
    pub device_path: Option<Vec<u8>>,
    /// Where the trampoline saved the stack pointer while the image runs.
    pub jump: Box<u64>,
    /// The load options the boot manager gave the image.
    pub options: Vec<u8>,
    pub started: bool,
    pub exit_data: (usize, u64),
    /// An application (unloaded when it returns) rather than a driver.
    pub is_app: bool,
}

/// Console input: the decoder (with any partial escape sequence), the
/// keys not yet read, and the key events.
pub struct Input {
    pub decoder: vmfw_keys::Decoder,
    pub keys: VecDeque<vmfw_keys::EfiInputKey>,
    pub wait: Option<EventId>,
    pub wait_ex: Option<EventId>,
}

/// The runtime state.
pub struct Runtime {
    pub vars: VariableStore,
    /// Where non-volatile variables are saved.
    pub nvram: Nvram,
    /// True after `ExitBootServices()`.
    pub at_runtime: bool,
    /// The runtime ranges the OS gave virtual addresses: (physical start,
    /// virtual start, bytes); `Some` once `SetVirtualAddressMap()` ran.
    pub virtual_map: Option<Vec<(u64, u64, u64)>>,
    /// Virtual-address-change notifications that live in runtime code:
    /// (function, context), collected at `ExitBootServices()`.
    pub va_events: Vec<(u64, u64)>,
    /// `GetNextHighMonotonicCount()`.
    pub high_count: u32,
    /// Time zone and daylight flags last given to `SetTime()` (the RTC
    /// keeps neither).
    pub timezone: (i16, u8),
}

impl Runtime {
    /// A copy in the current heap (the runtime heap, at
    /// `ExitBootServices()`), with the runtime access rules applied and
    /// the address-change notifications to call.
    pub fn to_runtime(&self, va_events: Vec<(u64, u64)>) -> Runtime {
        let mut vars = self.vars.clone();
        vars.exit_boot_services();
        Runtime {
            vars,
            nvram: self.nvram.clone(),
            at_runtime: true,
            virtual_map: None,
            va_events,
            high_count: self.high_count,
            timezone: self.timezone,
        }
    }
}

/// The saved variables' places: the RAM slots and the variable file.
#[derive(Default, Clone)]
pub struct Nvram {
    /// The sequence number of the newest slot written or found.
    pub sequence: u64,
    /// Whether the RAM slots are claimed in the memory map.
    pub ram: bool,
    /// The attached variable file.
    pub file: Option<VarFile>,
}

/// `\EFI\vmfw\VARS.BIN` on one of the boot manager's volumes.
#[derive(Clone)]
pub struct VarFile {
    pub disk: usize,
    pub partition: u32,
    pub entry: vmfw_fat::Entry,
    /// Whether "read-only" was reported already.
    pub warned: bool,
}

/// The tables guest code reads, in one place: runtime services data,
/// since the system table, the runtime services table and the
/// configuration tables outlive `ExitBootServices()`.
#[repr(C)]
pub struct Tables {
    pub system: SystemTable,
    pub boot: super::abi::BootServices,
    pub runtime: RuntimeServices,
    pub config: [ConfigurationTable; MAX_CONFIG_TABLES],
    pub text_mode: SimpleTextOutputMode,
    pub text_out: SimpleTextOutputProtocol,
    pub text_in: SimpleTextInputProtocol,
    pub text_in_ex: SimpleTextInputExProtocol,
}

/// Room for configuration tables (vmfw installs four; loaders add a few).
pub const MAX_CONFIG_TABLES: usize = 32;

pub static BOOT: Global<Boot> = Global::new();
pub static RUNTIME: Global<Runtime> = Global::new();
/// Written once by `tables::init` before any guest code runs.
pub static TABLES: Shared<MaybeUninit<Tables>> = Shared::new(MaybeUninit::uninit());
pub static DISKS: Lent<[BootDisk]> = Lent::new();

/// The tables, once `tables::init` wrote them.
pub fn tables() -> *mut Tables {
    TABLES.get().cast()
}

/// The system table's address (known before the tables are written).
pub fn system_table() -> u64 {
    // SAFETY: only the address of the field is computed; nothing is read.
    unsafe { core::ptr::addr_of_mut!((*tables()).system) as u64 }
}

/// Recomputes the system table's CRC after a change.
pub fn update_system_crc() {
    // SAFETY: the firmware's own table, written by `tables::init`; no
    // guest code runs while the firmware updates it.
    unsafe { super::abi::update_crc(core::ptr::addr_of_mut!((*tables()).system)) }
}

/// True after `ExitBootServices()`.
pub fn at_runtime() -> bool {
    RUNTIME.try_with(|r| r.at_runtime).unwrap_or(false)
}

/// Copies `items` into a new pool allocation (for services that return
/// buffers the caller frees with `FreePool()`).
pub fn pool_copy<T: Copy>(items: &[T]) -> Result<u64> {
    let bytes = core::mem::size_of_val(items) as u64;
    let addr = BOOT.with(|b| {
        crate::memory::with_map(|m| b.pool.allocate(m, EfiMemoryType::BOOT_SERVICES_DATA, bytes))
    })?;
    // SAFETY: a fresh pool allocation of `bytes` bytes, 8-byte aligned.
    unsafe { core::ptr::copy_nonoverlapping(items.as_ptr(), addr as *mut T, items.len()) };
    Ok(addr)
}

/// Moves `items` into a new pool allocation (as [`pool_copy`], for ABI
/// structures that are plain data but not `Copy`).
pub fn pool_move<T>(items: Vec<T>) -> Result<u64> {
    let bytes = core::mem::size_of_val(items.as_slice()) as u64;
    let addr = BOOT.with(|b| {
        crate::memory::with_map(|m| b.pool.allocate(m, EfiMemoryType::BOOT_SERVICES_DATA, bytes))
    })?;
    for (i, item) in items.into_iter().enumerate() {
        // SAFETY: a fresh pool allocation of `bytes` bytes, 8-byte
        // aligned, with room for every item; each is moved in once.
        unsafe { (addr as *mut T).add(i).write(item) };
    }
    Ok(addr)
}
