//! Boot Loader Specification test disks: a Debian 12 kernel and a busybox
//! initrd on the ESP, `loader.conf` and two or more entries.
//!
//! The default entry is chosen by a glob in `loader.conf`, which starts with
//! a comment line on purpose (a firmware once picked the wrong entry when
//! it did). Each entry's options carry `vmfw.test.entry=<id>`, so the
//! marker line the initrd prints says which entry booted.

use crate::arch::Arch;
use crate::images::{Contents, Disk, Fat, Scheme};
use crate::initrd::{self, Then, EXTRA_FILE};
use std::path::PathBuf;

/// Options every test entry carries: a serial console, reboot on panic
/// (QEMU's `-no-reboot` turns it into an exit), kernel warnings shown (so a
/// failed TSC calibration is visible, see `itest::kernel_clock_failed`).
pub const BASE_OPTIONS: &str = "console=ttyS0 panic=-1 loglevel=5";

/// [`BASE_OPTIONS`] for `arch`: the same, with that architecture's serial
/// console (`ttyAMA0` on arm64).
pub fn base_options(arch: Arch) -> String {
    match arch {
        Arch::X86_64 => BASE_OPTIONS.into(),
        Arch::Aarch64 => BASE_OPTIONS.replace("ttyS0", arch.console()),
    }
}

/// A BLS disk variant.
#[derive(Debug, Clone)]
pub struct BlsDisk {
    /// Image name.
    pub name: String,
    /// Logical block size.
    pub block_size: u32,
    /// FAT type of the ESP.
    pub fat: Fat,
    /// GPT partition number of the ESP.
    pub esp_number: u32,
    /// The default entry loads a second initrd too.
    pub two_initrds: bool,
    /// `loader.conf`'s `default` matches an entry whose kernel is missing,
    /// so the firmware must fall back to the next entry.
    pub broken_default: bool,
    /// What `/init` does after the marker.
    pub then: Then,
    /// `timeout` in `loader.conf`.
    pub timeout: u32,
    /// The guest architecture: whose kernel and busybox the disk holds.
    pub arch: Arch,
    /// With `broken_default`: the broken entry's kernel file exists but is
    /// garbage (a gzip header, then pseudo-random bytes) instead of
    /// missing.
    pub garbage_kernel: bool,
    /// arm64 only: the kernel file is gzip-compressed
    /// ([`crate::debian::arm64_vmlinuz_gz`]) instead of Debian's `vmlinuz`
    /// as shipped.
    pub gzip_kernel: bool,
}

impl BlsDisk {
    /// The plain variant: 512-byte sectors, FAT32 ESP as partition 1.
    pub fn new(name: &str) -> Self {
        BlsDisk {
            name: name.into(),
            block_size: 512,
            fat: Fat::Fat32,
            esp_number: 1,
            two_initrds: false,
            broken_default: false,
            then: Then::PowerOff,
            timeout: 0,
            arch: Arch::X86_64,
            garbage_kernel: false,
            gzip_kernel: false,
        }
    }

    /// As [`BlsDisk::new`], for `arch`; the image's name gets the
    /// architecture's prefix ([`Arch::prefix`]).
    pub fn for_arch(name: &str, arch: Arch) -> Self {
        BlsDisk { arch, ..BlsDisk::new(&format!("{}{name}", arch.prefix())) }
    }

    /// Builds (or reuses) the image.
    pub fn build(&self) -> Result<PathBuf, String> {
        let kernel = match (self.arch, self.gzip_kernel) {
            (_, false) => crate::debian::kernel_for(self.arch)?,
            (Arch::Aarch64, true) => crate::debian::arm64_vmlinuz_gz()?,
            (Arch::X86_64, true) => return Err("gzip_kernel is for arm64 disks".into()),
        };
        let busybox =
            std::fs::read(crate::debian::busybox_for(self.arch)?).map_err(|e| e.to_string())?;
        let options = base_options(self.arch);
        let initrd = initrd::build(&busybox, self.then);
        let default_id = if self.broken_default { "broken-7.0" } else { "debian-6.1" };
        let loader = format!(
            "# vmfw test loader.conf: this comment comes first on purpose\n\
             \n\
             timeout {}\n\
             default {}*\n",
            self.timeout,
            default_id.split('-').next().unwrap_or("debian"),
        );
        let mut default_entry = String::from(
            "# Debian 12, the entry that must boot by default\n\
             title      Debian GNU/Linux 12 (vmfw test default)\n\
             version    6.1.0\n\
             linux      /debian/vmlinuz\n\
             initrd     /debian/initrd.img\n",
        );
        if self.two_initrds {
            default_entry.push_str("initrd     /debian/second.img\n");
        }
        default_entry
            .push_str(&format!("options    {options}\noptions    vmfw.test.entry=debian-6.1\n"));
        let other = format!(
            "title   Other entry (must not boot by default)\n\
             version 9.9\n\
             linux   /debian/vmlinuz\n\
             initrd  /debian/initrd.img\n\
             options {options} vmfw.test.entry=other\n"
        );
        let mut disk = Disk {
            block_size: self.block_size,
            fat: self.fat,
            scheme: Scheme::Gpt { esp_number: self.esp_number },
            esp_mib: if self.fat == Fat::Fat32 && self.block_size == 512 { 96 } else { 128 },
            ..Disk::new(&self.name)
        }
        .file("/loader/loader.conf", Contents::Bytes(loader.into_bytes()))
        .file("/loader/entries/debian-6.1.conf", Contents::Bytes(default_entry.into_bytes()))
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(initrd));
        // The fallback test keeps just the broken default and one good
        // entry, so "the next candidate" is the same whatever the order.
        if !self.broken_default {
            disk = disk.file("/loader/entries/other.conf", Contents::Bytes(other.into_bytes()));
        }
        if self.two_initrds {
            disk = disk.file(
                "/debian/second.img",
                Contents::Bytes(initrd::extra(EXTRA_FILE, b"second\n")),
            );
        }
        if self.broken_default && self.garbage_kernel {
            // A gzip member header (deflate, no flags), then noise: the
            // loader must reject it while inflating, not jump into it.
            let mut garbage = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03];
            garbage.extend(crate::images::pseudo_bytes(4 << 20, 0x6172_6d36));
            disk = disk.file("/debian/garbage-vmlinuz", Contents::Bytes(garbage));
            let broken = format!(
                "title   Broken entry (kernel file is garbage)\n\
                 linux   /debian/garbage-vmlinuz\n\
                 initrd  /debian/initrd.img\n\
                 options {options} vmfw.test.entry=broken\n"
            );
            disk =
                disk.file("/loader/entries/broken-7.0.conf", Contents::Bytes(broken.into_bytes()));
        } else if self.broken_default {
            let broken = format!(
                "title   Broken entry (kernel file missing)\n\
                 linux   /debian/no-such-vmlinuz\n\
                 options {options} vmfw.test.entry=broken\n"
            );
            disk =
                disk.file("/loader/entries/broken-7.0.conf", Contents::Bytes(broken.into_bytes()));
        }
        Ok(disk.build())
    }
}

/// The entry of [`boot_counting_disk`] with one try left (BLS "Boot
/// counting"); it sorts first while it has tries left.
pub const COUNTED_ENTRY: &str = "accept+1.conf";

/// [`COUNTED_ENTRY`]'s name once a boot loader counted its one try down.
pub const COUNTED_ENTRY_USED_UP: &str = "accept+0-1.conf";

/// The entry of [`boot_counting_disk`] without a counter, which sorts
/// after [`COUNTED_ENTRY`] (a lower `version`) until that entry's tries are
/// used up.
pub const OLDER_ENTRY: &str = "older.conf";

/// The options token of [`COUNTED_ENTRY`]: it is on the kernel command
/// line the initrd prints when that entry booted.
pub const COUNTED_TOKEN: &str = "vmfw.test.entry=accept";

/// The options token of [`OLDER_ENTRY`].
pub const OLDER_TOKEN: &str = "vmfw.test.entry=older";

/// A disk for native boot counting: `loader.conf` with no menu and no
/// `default`, and two entries booting the Debian kernel and the busybox
/// initrd (which powers off): [`COUNTED_ENTRY`] and [`OLDER_ENTRY`]. Both
/// have the same `sort-key`, so the higher `version` (the counted entry's
/// 6.2.0 against 6.1.0) decides the order: the counted entry boots while
/// it has tries left, the older one once they are used up. Cached.
pub fn boot_counting_disk() -> Result<PathBuf, String> {
    // Three tests boot this disk, in parallel threads: the first to get
    // here builds it, the others wait and find it cached (two builds of
    // one image in one process would share their scratch files).
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let kernel = crate::debian::kernel()?;
    let busybox = std::fs::read(crate::debian::busybox()?).map_err(|e| e.to_string())?;
    let entry = |title: &str, version: &str, token: &str| {
        format!(
            "title    {title}\n\
             sort-key vmfw-test\n\
             version  {version}\n\
             linux    /debian/vmlinuz\n\
             initrd   /debian/initrd.img\n\
             options  {BASE_OPTIONS} {token}\n"
        )
    };
    let counted = entry("New kernel on trial (one try)", "6.2.0", COUNTED_TOKEN);
    let older = entry("Older kernel, known good", "6.1.0", OLDER_TOKEN);
    Ok(Disk::new("bls-counting")
        .file("/loader/loader.conf", Contents::Bytes(b"timeout 0\n".to_vec()))
        .file(&format!("/loader/entries/{COUNTED_ENTRY}"), Contents::Bytes(counted.into_bytes()))
        .file(&format!("/loader/entries/{OLDER_ENTRY}"), Contents::Bytes(older.into_bytes()))
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(initrd::build(&busybox, Then::PowerOff)))
        .build())
}

#[cfg(test)]
mod tests {
    use super::{base_options, BASE_OPTIONS};
    use crate::arch::Arch;

    #[test]
    fn base_options_per_arch() {
        assert_eq!(base_options(Arch::X86_64), BASE_OPTIONS);
        assert_eq!(base_options(Arch::Aarch64), "console=ttyAMA0 panic=-1 loglevel=5");
    }
}
