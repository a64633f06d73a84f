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
mod nvram;
mod runtime;
mod tables;

use crate::storage::Disk;
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use vmfw_block::PartitionTable;
use vmfw_efi::handles::Handle;
use vmfw_efi::load_option::{self, LoadOption};
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
    // Every page of the map identity-mapped, page 0 included (UEFI §2.3.4).
    crate::arch::paging::map_page_zero();
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
        attach_variable_file(&partitions, tables_);
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

/// Finds `\EFI\vmfw\VARS.BIN` on the ESPs and lets the variable store use
/// it (see `nvram`).
fn attach_variable_file(partitions: &[Vec<(u32, Handle)>], tables_: &[Option<PartitionTable>]) {
    let mut found = Vec::new();
    for (i, parts) in partitions.iter().enumerate() {
        let Some(t) = tables_.get(i).and_then(|t| t.as_ref()) else { continue };
        for p in t.partitions.iter().filter(|p| p.is_esp()) {
            let Some(&(_, h)) = parts.iter().find(|(n, _)| *n == p.number) else { continue };
            if let Ok(e) = fs::file_extents(h, nvram::FILE) {
                found.push(e);
            }
        }
    }
    if !found.is_empty() {
        runtime::VARS.with(|s| nvram::attach(&found, s));
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
            let outcome = match self.path_of(h, DEFAULT_BOOT_FILE) {
                Ok(path) => {
                    let desc = format!("disk{i} ESP #{} {DEFAULT_BOOT_FILE}", p.number);
                    let n = self.option_for(&desc, &path);
                    self.boot_path(&path, n, Vec::new())
                }
                Err(e) => format!("cannot build its device path: {e}"),
            };
            log::warn!(
                "disk{i}: ESP #{}: {DEFAULT_BOOT_FILE}: {outcome}; trying the next",
                p.number
            );
        }
    }

    /// Tries `BootNext` (once) and then each option of `BootOrder`;
    /// returns when none of them booted. One log line per option.
    pub fn boot_options(&self) {
        let next = get_var("BootNext").and_then(|d| load_option::parse_order(&d).first().copied());
        if let Some(n) = next {
            // BootNext is used once, whatever happens (UEFI §3.1.2).
            let _ = set_var("BootNext", 0, &[]);
            self.boot_option(n);
        }
        let order = get_var("BootOrder").map(|d| load_option::parse_order(&d)).unwrap_or_default();
        for n in order {
            self.boot_option(n);
        }
    }

    fn boot_option(&self, n: u16) {
        let name = load_option::boot_name(n);
        let outcome = match get_var(&name).map(|d| LoadOption::parse(&d)) {
            None => "no such variable".into(),
            Some(Err(e)) => format!("malformed: {e}"),
            Some(Ok(o)) if !o.is_bootable() => "not active; skipped".into(),
            Some(Ok(o)) => match self.expand(&o.file_path) {
                Ok(path) => {
                    log::info!("{name} ({}):", o.description);
                    self.boot_path(&path, Some(n), o.optional_data)
                }
                Err(e) => format!("{e}"),
            },
        };
        log::warn!("{name}: {outcome}; trying the next");
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
            let Ok(dp) = boot::CORE.with(|c| c.db.handle_protocol(h, abi::guid::DEVICE_PATH))
            else {
                continue;
            };
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
        let dp = boot::CORE.with(|c| c.db.handle_protocol(part, abi::guid::DEVICE_PATH))?;
        // SAFETY: the firmware's own partition path.
        let dev = unsafe { devpath::from_raw(dp) }?;
        devpath::file(dev, path)
    }

    /// The number of the boot option for `path`, created (not added to
    /// `BootOrder`) when none has that path, as firmware boot managers
    /// register removable media; `None` when the store is full.
    fn option_for(&self, desc: &str, path: &[u8]) -> Option<u16> {
        let mut free = None;
        for n in 0..=0xffffu16 {
            match get_var(&load_option::boot_name(n)).map(|d| LoadOption::parse(&d)) {
                Some(Ok(o)) if o.file_path == path => return Some(n),
                None if free.is_none() => {
                    free = Some(n);
                    break;
                }
                _ => {}
            }
        }
        let n = free?;
        let o = LoadOption {
            attributes: load_option::ACTIVE,
            description: desc.into(),
            file_path: path.to_vec(),
            optional_data: Vec::new(),
        };
        let nv = vmfw_efi::variables::NON_VOLATILE;
        set_var(&load_option::boot_name(n), nv | BS_RT, &o.to_bytes()).ok()?;
        Some(n)
    }

    /// Loads and starts the image at `path` as boot option `n` (which
    /// becomes `BootCurrent`); returns what happened, for the log.
    fn boot_path(&self, path: &[u8], n: Option<u16>, options: Vec<u8>) -> alloc::string::String {
        let h = match image::load(Some(image::firmware_handle()), Some(path), image::Source::Path) {
            Ok(h) => h,
            Err(f) => return format!("cannot load: {}", f.why),
        };
        image::set_load_options(h, options);
        if let Some(n) = n {
            let _ = set_var("BootCurrent", BS_RT, &n.to_le_bytes());
        }
        let text = vmfw_efi::devpath::path_to_text(path).unwrap_or_default();
        log::info!("starting {text} (UEFI)");
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

const BS_RT: u32 = vmfw_efi::variables::BOOTSERVICE_ACCESS | vmfw_efi::variables::RUNTIME_ACCESS;

/// A global variable's data.
fn get_var(name: &str) -> Option<Vec<u8>> {
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    let n = vmfw_efi::variables::utf16(name);
    runtime::VARS.with(|s| s.get_variable(&n, g, usize::MAX)).ok().map(|(_, d)| d)
}

/// Sets (or with empty data, deletes) a global variable, saving
/// non-volatile ones.
fn set_var(name: &str, attributes: u32, data: &[u8]) -> Result<(), Error> {
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    let n = vmfw_efi::variables::utf16(name);
    runtime::VARS.with(|s| runtime::set_and_save(s, &n, g, attributes, data))
}

/// Whether the variables kept from before a warm reset hold a `BootOrder`
/// or `BootNext` (then the UEFI environment comes up first, to honour
/// them).
pub fn saved_boot_options() -> bool {
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    let names = [vmfw_efi::variables::utf16("BootOrder"), vmfw_efi::variables::utf16("BootNext")];
    nvram::peek().iter().any(|r| r.guid == g && names.contains(&r.name))
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
