//! vmfw's UEFI environment: enough of UEFI 2.10 for Linux's EFI stub,
//! unified kernel images, systemd-boot, shim and GRUB. The logic lives in
//! `vmfw-efi` (host-tested); this module holds the ABI glue.
//!
//! Module graph (each imports only modules listed before it):
//! - [`global`], [`ffi`] (status conversion, pointer arguments), [`abi`]
//!   (the `uefi-raw` layouts, checked at compile time, and GUIDs): leaves;
//! - [`state`]: the owners of the state ([`state::BOOT`],
//!   [`state::RUNTIME`], [`state::TABLES`], the lent [`state::DISKS`]);
//! - [`console`] (text protocols), [`events`] (timers, notifications,
//!   watchdog), [`devpath`] (device paths in guest memory, the path
//!   protocols), [`fs`] (Simple File System over the boot manager's FAT
//!   volumes), [`disk`] (Block I/O, Disk I/O), [`image`] (LoadImage and
//!   friends), [`rng`], [`nvram`] (where variables are saved),
//!   [`boot`] and [`runtime`] (the services);
//! - [`tables`]: the system and services tables built from all of the
//!   above, and the services that change the tables;
//! - this module: bringing the environment up and starting boot options
//!   for the boot manager.

mod abi;
mod boot;
mod console;
mod devpath;
mod disk;
mod events;
mod ffi;
mod fs;
mod global;
mod image;
mod nvram;
mod rng;
mod runtime;
#[cfg(feature = "secure-boot")]
pub mod secureboot;
mod state;
mod tables;
#[cfg(test)]
mod tests;

use crate::disks::BootDisk;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use state::{Boot, Input, Runtime, BOOT, DISKS, RUNTIME};
use vmfw_boot::{Arch, Attempt};
use vmfw_efi::handles::{Database, Handle};
use vmfw_efi::load_option::{self, LoadOption};
use vmfw_efi::{Error, Events, Status};

pub use nvram::peek as saved_variables;

/// The UEFI environment once it is up: per disk, its partitions' handles.
pub struct Env {
    partitions: Vec<Vec<(u32, Handle)>>,
    firmware: Handle,
}

/// Brings up the UEFI environment over the boot manager's disks, which it
/// borrows only while it runs. `None` when that fails (logged).
pub fn init(disks: &mut [BootDisk], rsdp: Option<u64>, fdt: Option<u64>) -> Option<Env> {
    let t0 = crate::time::now_ns();
    if !crate::memory::init_runtime_heap() {
        crate::error!("UEFI: no memory for the runtime heap");
        return None;
    }
    crate::memory::image_is_runtime();
    // Every page of the map identity-mapped, page 0 included (UEFI §2.3.4).
    crate::arch::paging::map_page_zero();
    BOOT.set(Boot {
        db: Database::new(),
        events: Events::new(),
        pool: vmfw_efi::pool::Pool::new(),
        monotonic_low: 0,
        watchdog: None,
        images: Vec::new(),
        running: Vec::new(),
        open_files: Vec::new(),
        input: Input {
            decoder: vmfw_keys::Decoder::new(),
            keys: VecDeque::new(),
            wait: None,
            wait_ex: None,
        },
        volumes: Vec::new(),
    });
    RUNTIME.set(Runtime {
        vars: runtime::new_store(),
        nvram: Default::default(),
        at_runtime: false,
        virtual_map: None,
        va_events: Vec::new(),
        high_count: 0,
        timezone: (vmfw_efi::time::UNSPECIFIED_TIMEZONE, 0),
    });
    RUNTIME.with(nvram::init);
    match install(disks, rsdp, fdt) {
        Ok(env) => {
            log::debug!("UEFI environment ready after {} us", (crate::time::now_ns() - t0) / 1000);
            Some(env)
        }
        Err(e) => {
            crate::error!("UEFI: cannot set up the environment: {e}");
            None
        }
    }
}

/// The tables, the firmware's image and every protocol.
fn install(disks: &mut [BootDisk], rsdp: Option<u64>, fdt: Option<u64>) -> Result<Env, Error> {
    let (wait, wait_ex) = console::init()?;
    tables::init(wait, wait_ex)?;
    let firmware = image::init()?;
    tables::install_platform_tables(rsdp, fdt);
    if let Some((base, len)) = crate::arch::rtc::mmio() {
        // The OS maps it for GetTime()/SetTime() at runtime.
        if crate::memory::with_map(|m| m.reserve(base, len, vmfw_memmap::MemoryType::RuntimeMmio))
            .is_err()
        {
            crate::warn!("cannot describe the RTC to the OS: runtime time services will fault");
        }
    }
    rng::install();
    devpath::install_protocols()?;
    let partitions = disk::install(disks);
    nvram::attach(disks);
    Ok(Env { partitions, firmware })
}

const BS_RT: u32 = vmfw_efi::variables::BOOTSERVICE_ACCESS | vmfw_efi::variables::RUNTIME_ACCESS;

impl Env {
    /// Tries load option `Boot####` `n` (`BootNext` when `next`, which is
    /// deleted first: it is used once, whatever happens, UEFI §3.1.2).
    pub fn boot_option(&self, disks: &mut [BootDisk], n: u16, next: bool) -> Attempt {
        DISKS.lend(disks, || self.boot_option_lent(n, next))
    }

    fn boot_option_lent(&self, n: u16, next: bool) -> Attempt {
        if next {
            let _ = runtime::set_global("BootNext", 0, &[]);
        }
        let name = load_option::boot_name(n);
        match runtime::get_global(&name).map(|d| LoadOption::parse(&d)) {
            None => Attempt::Absent("no such variable".into()),
            Some(Err(e)) => Attempt::Failed(format!("malformed: {e}")),
            Some(Ok(o)) if !o.is_bootable() => Attempt::Absent("not active".into()),
            Some(Ok(o)) => match self.expand(&o.file_path) {
                Ok(path) => {
                    crate::info!("{name} ({}):", o.description);
                    Attempt::Failed(self.boot_path(&path, Some(n), o.optional_data))
                }
                Err(e) => Attempt::Failed(format!("{e}")),
            },
        }
    }

    /// Tries the removable-media boot file on ESP `esp` of disk `disk`.
    pub fn boot_removable(
        &self,
        disks: &mut [BootDisk],
        disk: usize,
        esp: u32,
        arch: Arch,
    ) -> Attempt {
        let file = arch.removable_file();
        if !fs::exists(disks, disk, esp, file) {
            return Attempt::Absent("not found".into());
        }
        DISKS.lend(disks, || self.boot_removable_lent(disk, esp, file))
    }

    fn boot_removable_lent(&self, disk: usize, esp: u32, file: &str) -> Attempt {
        let Some(&(_, h)) =
            self.partitions.get(disk).and_then(|p| p.iter().find(|(n, _)| *n == esp))
        else {
            return Attempt::Failed("the partition has no handle".into());
        };
        let path = match self.path_of(h, file) {
            Ok(p) => p,
            Err(e) => return Attempt::Failed(format!("cannot build its device path: {e}")),
        };
        let desc = format!("disk{disk} ESP #{esp} {file}");
        let n = self.option_for(&desc, &path);
        Attempt::Failed(self.boot_path(&path, n, Vec::new()))
    }

    /// A load option's path as a full device path: short forms that start
    /// with a hard-drive node are completed with the disk it names (UEFI
    /// §3.1.2).
    fn expand(&self, path: &[u8]) -> Result<Vec<u8>, Error> {
        use vmfw_efi::devpath::{Node, SUBTYPE_MEDIA_HARD_DRIVE, TYPE_MEDIA};
        let first = Node::parse(path)?;
        if (first.ty, first.subtype) != (TYPE_MEDIA, SUBTYPE_MEDIA_HARD_DRIVE) {
            return Ok(path.to_vec());
        }
        let hd_len = first.size();
        let hd = path.get(..hd_len).ok_or(Error::InvalidParameter)?;
        for &(_, h) in self.partitions.iter().flatten() {
            let Ok(dp) = boot::device_path_of(h) else { continue };
            // SAFETY: the firmware's own partition path.
            let Ok(full) = (unsafe { devpath::from_raw(dp) }) else { continue };
            let body = full.get(..full.len().saturating_sub(4)).unwrap_or(&[]);
            if body.ends_with(hd) {
                let mut v = body.to_vec();
                v.extend_from_slice(path.get(hd_len..).unwrap_or(&[]));
                return Ok(v);
            }
        }
        Err(Error::NotFound)
    }

    /// `path` on the partition with handle `part`.
    fn path_of(&self, part: Handle, path: &str) -> Result<Vec<u8>, Error> {
        let dp = boot::device_path_of(part)?;
        // SAFETY: the firmware's own partition path.
        let dev = unsafe { devpath::from_raw(dp) }?;
        devpath::file(dev, path)
    }

    /// The number of the boot option for `path`, created (not added to
    /// `BootOrder`) when none has that path, as firmware boot managers
    /// register removable media; `None` when all numbers are taken.
    fn option_for(&self, desc: &str, path: &[u8]) -> Option<u16> {
        let existing: Vec<(u16, Vec<u8>)> =
            RUNTIME.with(|r| r.vars.boot_options().map(|(n, d)| (n, d.to_vec())).collect());
        let n = match load_option::option_for_path(
            existing.iter().map(|(n, d)| (*n, d.as_slice())),
            path,
        ) {
            load_option::OptionSlot::Existing(n) => return Some(n),
            load_option::OptionSlot::Free(n) => n,
            load_option::OptionSlot::Full => return None,
        };
        let o = LoadOption {
            attributes: load_option::ACTIVE,
            description: desc.into(),
            file_path: path.to_vec(),
            optional_data: Vec::new(),
        };
        let nv = vmfw_efi::variables::NON_VOLATILE;
        runtime::set_global(&load_option::boot_name(n), nv | BS_RT, &o.to_bytes()).ok()?;
        Some(n)
    }

    /// Loads and starts the image at `path` as boot option `n` (which
    /// becomes `BootCurrent`); returns what happened, for the log. Runs
    /// with the disks lent.
    fn boot_path(&self, path: &[u8], n: Option<u16>, options: Vec<u8>) -> String {
        let h = match image::load(Some(self.firmware), Some(path), image::Source::Path) {
            Ok(h) => h,
            Err(f) => return format!("cannot load: {}", f.why),
        };
        image::set_load_options(h, options);
        if let Some(n) = n {
            let _ = runtime::set_global("BootCurrent", BS_RT, &n.to_le_bytes());
        }
        let text = vmfw_efi::devpath::path_to_text(path).unwrap_or_default();
        crate::info!("starting {text} (UEFI)");
        // The boot manager's 5-minute watchdog (UEFI §3.1.2).
        events::set_watchdog(300);
        events::signal_group(&vmfw_efi::events::EVENT_GROUP_READY_TO_BOOT);
        let r = image::start(h);
        events::set_watchdog(0);
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
