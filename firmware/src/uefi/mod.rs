//! vmfw's UEFI environment: enough of UEFI 2.10 for Linux's EFI stub,
//! unified kernel images, systemd-boot, shim and GRUB. The logic lives in
//! `vmfw-efi` (host-tested); this module holds the ABI: the tables, one
//! `extern "efiapi"` shim per service and protocol function, and the glue
//! to the firmware's disks, console and memory map.
//!
//! Layout: [`abi`] (table and protocol layouts, GUIDs), [`boot`] (boot
//! services), [`runtime`] (runtime services), [`image`] (LoadImage and
//! friends), [`tables`] (system and configuration tables), [`disk`]
//! (Block I/O, Disk I/O), [`fs`] (Simple File System, File), [`console`]
//! (text input and output), [`misc`] (RNG, device path text and
//! utilities), [`devpath`] (device paths in guest memory).

pub mod abi;
mod boot;
mod console;
mod devpath;
mod disk;
mod fs;
mod global;
mod image;
mod misc;
mod runtime;
mod tables;

use crate::storage::Disk;
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use vmfw_block::PartitionTable;
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Status};

static RUNTIME: AtomicBool = AtomicBool::new(false);

/// True after `ExitBootServices()`.
pub fn at_runtime() -> bool {
    RUNTIME.load(Ordering::Relaxed)
}

/// The system table's address.
pub fn system_table() -> u64 {
    tables::SYSTEM.addr()
}

/// The UEFI environment once it is up: per disk, its partitions' handles.
pub struct Uefi {
    partitions: Vec<Vec<(u32, Handle)>>,
}

/// Brings up the UEFI environment over the firmware's disks (which it
/// takes over). `None` when that fails (logged).
pub fn init(
    disks: Vec<Disk>,
    tables_: &[Option<PartitionTable>],
    rsdp: Option<u64>,
) -> Option<Uefi> {
    let t0 = crate::arch::rdtsc();
    if !crate::memory::init_runtime_heap() {
        log::error!("UEFI: no memory for the runtime heap");
        return None;
    }
    crate::memory::image_is_runtime();
    boot::init();
    runtime::init();
    fs::init();
    let r = (|| -> Result<Uefi, Error> {
        image::init()?;
        let con = console::init()?;
        tables::init(&con);
        tables::install_platform_tables(rsdp);
        misc::init();
        devpath::install_protocols()?;
        let partitions = disk::install(disks, tables_);
        Ok(Uefi { partitions })
    })();
    match r {
        Ok(u) => {
            log::debug!("UEFI environment ready after {} us", crate::time::us_since(t0));
            Some(u)
        }
        Err(e) => {
            log::error!("UEFI: cannot set up the environment: {e}");
            None
        }
    }
}

/// The removable-media boot file for x86_64 (UEFI §3.5.1.1).
pub const DEFAULT_BOOT_FILE: &str = "\\EFI\\BOOT\\BOOTX64.EFI";

impl Uefi {
    /// Tries `\EFI\BOOT\BOOTX64.EFI` on each ESP of disk `i`; returns when
    /// there is none or it returned.
    pub fn boot_disk(&self, i: usize, tables_: &[Option<PartitionTable>]) {
        let Some(table) = tables_.get(i).and_then(|t| t.as_ref()) else { return };
        let Some(parts) = self.partitions.get(i) else { return };
        for p in table.partitions.iter().filter(|p| p.is_esp()) {
            let Some(&(_, h)) = parts.iter().find(|(n, _)| *n == p.number) else { continue };
            if !fs::exists(h, DEFAULT_BOOT_FILE) {
                log::info!("disk{i}: ESP #{}: no {DEFAULT_BOOT_FILE}", p.number);
                continue;
            }
            let outcome = self.boot_file(h, DEFAULT_BOOT_FILE);
            log::warn!(
                "disk{i}: ESP #{}: {DEFAULT_BOOT_FILE}: {outcome}; trying the next",
                p.number
            );
        }
    }

    /// Loads and starts one file; returns what happened, for the log.
    fn boot_file(&self, part: Handle, path: &str) -> alloc::string::String {
        let dp = boot::CORE.with(|c| c.db.handle_protocol(part, abi::guid::DEVICE_PATH));
        let Ok(dp) = dp else { return "partition has no device path".into() };
        // SAFETY: the firmware's own partition path.
        let Ok(dev) = (unsafe { devpath::from_raw(dp) }) else { return "bad device path".into() };
        let Ok(full) = devpath::file(dev, path) else { return "bad file path".into() };
        let h = match image::load(Some(image::firmware_handle()), Some(&full), image::Source::Path)
        {
            Ok(h) => h,
            Err(e) => return format!("cannot load: {e}"),
        };
        log::info!("starting {path} (UEFI)");
        boot::arm_boot_watchdog();
        boot::signal_ready_to_boot();
        let r = image::start(h);
        boot::disarm_watchdog();
        match r {
            Ok((st, _)) if st == Status::SUCCESS => "returned success".into(),
            Ok((st, _)) => match st.to_error() {
                Some(e) => format!("returned {e}"),
                None => format!("returned status {:#x}", st.0),
            },
            Err(e) => format!("cannot start: {e}"),
        }
    }
}

/// Runs `f` on the disks the UEFI environment holds (for native boots
/// after it came up).
pub fn with_disks(f: impl FnOnce(&mut [Disk])) {
    disk::DISKS.try_with(|d| f(d));
}

/// Resets every disk (before powering off when nothing booted).
pub fn quiesce_disks() {
    disk::DISKS.try_with(|d| d.iter_mut().for_each(Disk::quiesce));
}

/// `ExitBootServices()` (UEFI §7.4).
pub extern "efiapi" fn exit_boot_services(image: usize, key: usize) -> usize {
    if at_runtime() {
        return Status::from(Error::InvalidParameter).0;
    }
    if boot::handle(image).is_err() {
        return Status::from(Error::InvalidParameter).0;
    }
    if let Err(e) = crate::memory::with_map(|m| vmfw_efi::memory::check_map_key(m, key)) {
        log::debug!("ExitBootServices: stale map key");
        return Status::from(e).0;
    }
    // Tell the registered components (UEFI §7.1 event groups), then keep
    // the address-change notifications that can live on at runtime.
    let va = boot::exit_boot_services_events();
    quiesce_disks();
    log::info!("ExitBootServices: the OS owns the machine now");
    log::set_max_level(log::LevelFilter::Off);
    crate::memory::switch_to_runtime_heap();
    // Copied into the runtime heap; the original stays in boot memory.
    runtime::VA_EVENTS.set(va.to_vec());
    core::mem::forget(va);
    runtime::exit_boot_services();
    tables::clear_boot_fields();
    RUNTIME.store(true, Ordering::Relaxed);
    0
}
