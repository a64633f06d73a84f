//! The native boot path: Boot Loader Specification Type #1 entries on each
//! disk's ESP, booted with the architecture's Linux boot protocol
//! (`arch::linux`: x86 bzImage + zero page, arm64 `Image` + device tree),
//! no UEFI involved.
//!
//! Per ESP, when the boot manager gets to it: read `/loader/loader.conf` and
//! `/loader/entries/*.conf`, build the menu (sorted and with the default as
//! the spec says), optionally let the user choose on the serial console,
//! then try entries in boot order (the chosen or default one first). An
//! entry that cannot be booted (missing file, bad kernel, options with
//! unexpanded `$variables`) gets one log line saying why and the next one
//! is tried. Files are read straight into their final place.
//!
//! Kernel command line rule (`vmfw_linux::kernel_cmdline`): the entry's
//! `options` (or the line edited in the menu), plus each
//! `virtio_mmio.device=` hint from the VMM's command line that the options
//! do not already contain, because the kernel cannot discover virtio-mmio
//! devices without ACPI or a device tree.

use crate::disks::{BootDisk, Fs};
use crate::memory;
use crate::menu;
use crate::progress::{self, Code};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use vmfw_bls::{Entry, LoaderConf, Menu, Timeout};
use vmfw_boot::Attempt;
use vmfw_bytes::Quoted;
use vmfw_memmap::PAGE_SIZE;
use vmfw_platform::Platform;

/// Why an entry (or its files) could not be used: one log line each.
// Each architecture's kernel protocol uses its own variants.
#[allow(dead_code)]
pub(crate) enum Error {
    /// The entry names no kernel.
    NoLinux,
    /// A file of the entry could not be opened or read.
    File { path: String, error: vmfw_fat::Error },
    /// The kernel is not one vmfw can boot, or has no room.
    Kernel { path: String, error: vmfw_linux::Error },
    /// A file ended before its directory entry said.
    ShortRead { path: String, got: usize, want: usize },
    /// Sizes that do not fit the address space.
    TooLarge(&'static str),
    /// No room or no valid place for the initrds.
    Initrd(vmfw_linux::Error),
    /// An initrd does not lie inside the initrd image (a bug, reported).
    InitrdLayout,
    /// No room or no valid place for the command line.
    CommandLine(vmfw_linux::Error),
    /// The memory map does not fit the zero page.
    E820(vmfw_linux::Error),
    /// An entry file could not be read.
    Read(vmfw_fat::Error),
    /// An entry file is not a valid BLS entry.
    Entry(vmfw_bls::Error),
    /// What the architecture's kernel protocol refused (`path` empty when
    /// it is not about a file).
    Protocol { path: String, error: crate::arch::linux::ProtocolError },
    /// No room for something the kernel needs.
    NoMemory(&'static str),
}

impl Error {
    pub(crate) fn file(path: &str, error: vmfw_fat::Error) -> Error {
        Error::File { path: path.into(), error }
    }
    #[allow(dead_code)] // the x86 kernel protocol's
    pub(crate) fn kernel(path: &str, error: vmfw_linux::Error) -> Error {
        Error::Kernel { path: path.into(), error }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NoLinux => f.write_str("no 'linux' line"),
            Error::File { path, error } => write!(f, "{path}: {error}"),
            Error::Kernel { path, error } => write!(f, "{path}: {error}"),
            Error::ShortRead { path, got, want } => {
                write!(f, "{path}: short read ({got} of {want} bytes)")
            }
            Error::TooLarge(what) => write!(f, "{what} too large"),
            Error::Initrd(e) => write!(f, "initrd: {e}"),
            Error::InitrdLayout => f.write_str("initrd layout"),
            Error::CommandLine(e) => write!(f, "command line: {e}"),
            Error::E820(e) => write!(f, "E820: {e}"),
            Error::Read(e) => write!(f, "{e}"),
            Error::Entry(e) => write!(f, "{e}"),
            Error::Protocol { path, error } if path.is_empty() => write!(f, "{error}"),
            Error::Protocol { path, error } => write!(f, "{path}: {error}"),
            Error::NoMemory(what) => write!(f, "no memory for the {what}"),
        }
    }
}

/// Where a prepared kernel starts.
pub(crate) struct Prepared {
    /// The kernel's entry point.
    pub entry: u64,
    /// The boot parameters (x86_64: zero page; aarch64: device tree).
    pub param: u64,
    /// What the kernel reads before its caches are on: `(start, len)`.
    pub loaded: Vec<(u64, u64)>,
}

/// Page ranges taken for one boot attempt; given back unless the attempt
/// succeeds (so a failed entry does not leak memory into the next).
pub(crate) struct Taken(pub Vec<(u64, u64)>);

impl Taken {
    pub(crate) fn add(&mut self, addr: u64, bytes: u64) {
        self.0.push((addr, bytes.div_ceil(PAGE_SIZE)));
    }
    pub(crate) fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        for (addr, pages) in self.0.drain(..) {
            let _ = memory::with_map(|m| m.free(addr, pages));
        }
    }
}

/// Tries the BLS entries on ESP `esp` of disk `disk`; returns only when
/// none could be booted (or there are none), saying which.
pub fn boot_esp(
    disks: &mut [BootDisk],
    disk: usize,
    esp: u32,
    platform: &Platform,
    ask: &mut bool,
) -> Attempt {
    // vmfw verifies what LoadImage() loads; a kernel booted natively would
    // bypass that, so with Secure Boot on the entries are left to a signed
    // loader (systemd-boot, shim + GRUB) that the UEFI path verifies.
    #[cfg(feature = "secure-boot")]
    if crate::uefi::secureboot::enforcing() {
        return Attempt::Absent(
            "Secure Boot is on: BLS entries boot through a signed loader".into(),
        );
    }
    let prepared = {
        let Some(fs) = disks.iter_mut().find(|d| d.index == disk).and_then(|d| d.volume(esp))
        else {
            return Attempt::Absent("not a FAT volume".into());
        };
        match try_esp(disk, fs, platform, ask) {
            Ok(p) => p,
            Err(a) => return a,
        }
    };
    for d in disks.iter() {
        d.quiesce();
    }
    progress::handoff();
    progress::post(Code::NativeHandoff);
    // SAFETY: `prepare` loaded the kernel, initrd and boot parameters
    // into memory reserved in the map (which the parameters' memory map
    // protects), every device is quiesced, and nothing of the firmware
    // runs after this.
    unsafe { crate::arch::linux_handoff(prepared.entry, prepared.param, &prepared.loaded) }
}

fn read_text(fs: &mut Fs, path: &str) -> Result<Vec<u8>, vmfw_fat::Error> {
    let mut f = fs.open(path)?;
    fs.read_to_vec(&mut f, vmfw_bls::MAX_FILE_SIZE)
}

fn load_menu(disk: usize, fs: &mut Fs) -> Option<(Menu, LoaderConf)> {
    let entries_dir = fs.lookup("/loader/entries").ok()?;
    let dir = fs.dir_of(&entries_dir).ok()?;
    let mut names: Vec<String> = Vec::new();
    for e in fs.read_dir(dir) {
        match e {
            Ok(e) if !e.is_dir() && e.name().to_ascii_lowercase().ends_with(".conf") => {
                names.push(e.name().to_string());
            }
            Ok(_) => {}
            // A damaged directory (its chain loops or leaves the volume)
            // still yields the entries read before the damage: say so, and
            // go on with those.
            Err(e) => {
                crate::warn!(
                    "disk{disk}: /loader/entries: {e}; using the {} entr{} read before it",
                    names.len(),
                    if names.len() == 1 { "y" } else { "ies" }
                );
                break;
            }
        }
    }
    let conf = match read_text(fs, "/loader/loader.conf") {
        Ok(text) => match LoaderConf::parse(&text) {
            Ok((conf, warnings)) => {
                for w in warnings {
                    crate::warn!("disk{disk}: loader.conf: {w}");
                }
                conf
            }
            Err(e) => {
                crate::warn!("disk{disk}: loader.conf: {e}");
                LoaderConf::default()
            }
        },
        Err(_) => LoaderConf::default(),
    };
    let mut entries = Vec::new();
    for name in names {
        let parsed = read_text(fs, &format!("/loader/entries/{name}"))
            .map_err(Error::Read)
            .and_then(|text| Entry::parse(&name, &text).map_err(Error::Entry));
        match parsed {
            Ok((entry, warnings)) => {
                for w in warnings {
                    crate::warn!("disk{disk}: {name}: {w}");
                }
                entries.push(entry);
            }
            Err(e) => crate::warn!("disk{disk}: {name}: {e}"),
        }
    }
    let menu = Menu::new(&conf, entries, crate::arch::BLS_ARCH);
    for x in menu.excluded() {
        crate::info!("disk{disk}: {x}");
    }
    Some((menu, conf))
}

fn title(e: &Entry) -> String {
    e.title().map_or_else(|| e.id().to_string(), str::to_string)
}

fn try_esp(
    disk: usize,
    fs: &mut Fs,
    platform: &Platform,
    ask: &mut bool,
) -> Result<Prepared, Attempt> {
    let Some((menu, conf)) = load_menu(disk, fs) else {
        return Err(Attempt::Absent("no /loader/entries".into()));
    };
    let Some(default) = menu.default_entry() else {
        return Err(Attempt::Absent("no entry for this machine".into()));
    };
    crate::info!(
        "disk{disk}: {} boot entr{}, default {}",
        menu.entries().len(),
        if menu.entries().len() == 1 { "y" } else { "ies" },
        Quoted(default.id())
    );
    let timeout = conf.timeout.unwrap_or(Timeout::MenuHidden);
    let (show, countdown) = match timeout {
        Timeout::Seconds(s) => (true, Some(u64::from(s))),
        Timeout::MenuForce => (true, None),
        Timeout::MenuHidden => (*ask, None),
        Timeout::MenuDisabled => (false, None),
    };
    let mut first: Option<(usize, Option<String>)> = None;
    if show {
        *ask = false;
        let items: Vec<menu::Item> = menu
            .entries()
            .iter()
            .map(|e| menu::Item { title: title(e), cmdline: e.options().unwrap_or("").to_string() })
            .collect();
        // The menu waits for the user: not the firmware's work.
        let wait = progress::wait();
        let choice = menu::run(&items, menu.default_index().unwrap_or(0), countdown);
        drop(wait);
        first = Some((choice.index, choice.cmdline));
    }
    let chosen = first.as_ref().and_then(|(i, _)| menu.get(*i));
    let order: Vec<&Entry> = chosen
        .into_iter()
        .chain(menu.boot_order().filter(|e| Some(e.id()) != chosen.map(|c| c.id())))
        .collect();
    for (n, entry) in order.into_iter().enumerate() {
        let edited = if n == 0 { first.as_ref().and_then(|(_, c)| c.clone()) } else { None };
        if edited.is_none() && entry.has_unexpanded_variables() {
            crate::info!(
                "disk{disk}: entry {}: options use $variables vmfw cannot expand; left to the UEFI path",
                Quoted(entry.id())
            );
            continue;
        }
        crate::info!("disk{disk}: booting entry {} ({})", Quoted(entry.id()), title(entry));
        progress::post(Code::NativeEntry);
        match prepare(fs, entry, edited, platform) {
            Ok(p) => {
                count_try(disk, fs, entry);
                return Ok(p);
            }
            Err(e) => {
                crate::warn!(
                    "disk{disk}: entry {} failed: {e}; trying the next",
                    Quoted(entry.id())
                )
            }
        }
    }
    Err(Attempt::Failed("no entry could be booted".into()))
}

/// BLS boot counting: a boot of an entry with tries left is counted by
/// renaming its file before the kernel starts (`+3` → `+2-1`), flushed,
/// so a kernel that never comes up to bless itself
/// (`systemd-bless-boot.service`) uses up its tries and the entries
/// sorted after it boot instead. A rename that fails costs the counting,
/// not the boot.
#[inline(never)]
fn count_try(disk: usize, fs: &mut Fs, entry: &Entry) {
    let Some(new) = entry.counted_file_name() else { return };
    let old = entry.file_name();
    if !crate::disks::WRITES {
        crate::info!(
            "disk{disk}: boot counting: {} not renamed (a build without disk writes)",
            Quoted(old)
        );
        return;
    }
    let renamed = fs
        .lookup("/loader/entries")
        .and_then(|d| fs.dir_of(&d))
        .and_then(|dir| fs.rename(dir, old, &new))
        .and_then(|()| fs.flush());
    match renamed {
        Ok(()) => {
            crate::info!("disk{disk}: boot counting: renamed {} to {}", Quoted(old), Quoted(&new))
        }
        Err(e) => {
            let why: &dyn core::fmt::Display = if crate::storage::forced_read_only() {
                &"disks are read-only (vmfw.readonly)"
            } else {
                &e
            };
            crate::warn!(
                "disk{disk}: boot counting: cannot rename {}: {why}; booting it anyway",
                Quoted(old)
            )
        }
    }
}

/// Reads the entry's initrds, in order, into one contiguous image placed
/// by `place` (which reserves `total` bytes and returns the address),
/// each starting on a 4-byte boundary as the initramfs format wants.
/// Returns `(address, total)`, or `None` when the entry has no initrd.
pub(crate) fn load_initrds(
    fs: &mut Fs,
    entry: &Entry,
    taken: &mut Taken,
    place: impl FnOnce(u64) -> Result<u64, Error>,
) -> Result<Option<(u64, u64)>, Error> {
    let mut initrds = Vec::new();
    let mut total = 0u64;
    for path in entry.initrd() {
        let f = fs.open(path).map_err(|e| Error::file(path, e))?;
        total = total.next_multiple_of(4);
        initrds.push((path.as_str(), f, total));
        total = total
            .checked_add(initrds.last().map_or(0, |(_, f, _)| f.size()))
            .ok_or(Error::TooLarge("initrds"))?;
    }
    if total == 0 {
        return Ok(None);
    }
    let addr = place(total)?;
    taken.add(addr, total);
    // SAFETY: just reserved for this attempt, `total` bytes long.
    let image = unsafe { memory::reserved_slice(addr, total as usize) };
    for (path, mut f, off) in initrds {
        let size = f.size() as usize;
        let dst = image.get_mut(off as usize..off as usize + size).ok_or(Error::InitrdLayout)?;
        let n = fs.read_at(&mut f, 0, dst).map_err(|e| Error::file(path, e))?;
        if n != size {
            return Err(Error::ShortRead { path: path.into(), got: n, want: size });
        }
    }
    Ok(Some((addr, total)))
}

/// Loads the entry's kernel and initrds and builds the boot parameters
/// by the architecture's kernel protocol (`arch::linux`); the files go
/// straight into their final place.
fn prepare(
    fs: &mut Fs,
    entry: &Entry,
    edited: Option<String>,
    platform: &Platform,
) -> Result<Prepared, Error> {
    let mut taken = Taken(Vec::new());
    let options = edited.as_deref().unwrap_or(entry.options().unwrap_or(""));
    let cmdline =
        vmfw_linux::kernel_cmdline(options, platform.cmdline.values("virtio_mmio.device"));
    let prepared = crate::arch::linux::prepare(fs, entry, &cmdline, platform, &mut taken)?;
    taken.keep();
    Ok(prepared)
}
