//! The demo's disk: one EFI System Partition laid out as on a Debian 12
//! machine that boots with systemd-boot and `kernel-install`:
//!
//! ```text
//! /EFI/BOOT/BOOTX64.EFI                       systemd-boot (Debian's systemd-boot-efi)
//! /loader/loader.conf                         timeout 5, default: the newest kernel's entry
//! /loader/entries/<machine-id>-<kver>.conf    Debian GNU/Linux 12 (bookworm)
//! /loader/entries/<machine-id>-<kver>-recovery.conf
//!                                             the same kernel with `single` (recovery mode)
//! /<machine-id>/<kver>/linux                  Debian 12's kernel (linux-image-amd64)
//! /<machine-id>/<kver>/initrd.img-<kver>      a busybox initrd (itest::initrd::demo)
//! ```
//!
//! vmfw boots the entries itself (`cargo xtask demo`); with `vmfw.boot=uefi`
//! it starts systemd-boot instead, which reads the same `loader.conf` and
//! entries (`cargo xtask demo --uefi`). The initrd is the whole system, so
//! the entries have no `root=`.

use itest::images::{Contents, Disk};
use std::path::PathBuf;

/// The machine ID the entries are filed under (`/etc/machine-id` on a real
/// system; any 32 hex digits).
pub const MACHINE_ID: &str = "8d2c5e0a4b7f4c1e9a3d6b2f0e1c7a95";

/// Seconds the menu (vmfw's or systemd-boot's) waits before booting the
/// default entry.
pub const TIMEOUT_S: u32 = 5;

/// The kernel options of both entries: the serial console, and a kernel
/// panic ends the VM (a reboot, which `-no-reboot` turns into QEMU's exit)
/// instead of leaving it hanging.
const OPTIONS: &str = "ro console=ttyS0 panic=-1";

/// The title of the default entry.
pub const TITLE: &str = "Debian GNU/Linux 12 (bookworm)";

fn read(p: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// One Boot Loader Specification entry for kernel `kver`.
fn entry(title: &str, sort_key: &str, kver: &str, options: &str) -> String {
    let dir = format!("/{MACHINE_ID}/{kver}");
    format!(
        "title      {title}\n\
         version    {kver}\n\
         machine-id {MACHINE_ID}\n\
         sort-key   {sort_key}\n\
         options    {options}\n\
         linux      {dir}/linux\n\
         initrd     {dir}/initrd.img-{kver}\n"
    )
}

/// `loader.conf` and the two entries for kernel `kver`: `(path on the
/// ESP, contents)`.
fn text_files(kver: &str) -> [(String, String); 3] {
    let id = format!("{MACHINE_ID}-{kver}");
    let loader = format!("timeout {TIMEOUT_S}\ndefault {id}.conf\n");
    // Sort keys put the recovery entry after the normal one in both menus
    // (the entries have the same machine ID and version).
    let normal = entry(TITLE, "debian", kver, OPTIONS);
    let recovery = entry(
        &format!("{TITLE} (recovery mode)"),
        "debian-recovery",
        kver,
        &format!("{OPTIONS} single"),
    );
    [
        ("/loader/loader.conf".into(), loader),
        (format!("/loader/entries/{id}.conf"), normal),
        (format!("/loader/entries/{id}-recovery.conf"), recovery),
    ]
}

/// Builds the demo disk (or reuses it from the image cache): the Debian
/// packages are fetched with apt on the first run. Returns the image's path.
pub fn disk() -> Result<PathBuf, String> {
    let vmlinuz = itest::debian::kernel()?;
    let kver = vmlinuz
        .file_name()
        .and_then(|n| n.to_str()?.strip_prefix("vmlinuz-"))
        .ok_or_else(|| format!("{}: not named vmlinuz-<version>", vmlinuz.display()))?
        .to_string();
    let busybox = read(&itest::debian::busybox()?)?;
    let efivarfs = read(&itest::debian::kernel_module("fs/efivarfs/efivarfs.ko")?)?;
    let systemd_boot = itest::uefi::systemd_boot()?;
    let initrd = itest::initrd::demo(&busybox, &efivarfs);

    let dir = format!("/{MACHINE_ID}/{kver}");
    let mut disk = Disk::new("demo").file("/EFI/BOOT/BOOTX64.EFI", Contents::Host(systemd_boot));
    for (path, text) in text_files(&kver) {
        disk = disk.file(&path, Contents::Bytes(text.into_bytes()));
    }
    Ok(disk
        .file(&format!("{dir}/linux"), Contents::Host(vmlinuz))
        .file(&format!("{dir}/initrd.img-{kver}"), Contents::Bytes(initrd))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmfw_bls::{Arch, Entry, LoaderConf, Menu, Timeout};

    /// The firmware's own BLS code reads the files without a warning, shows
    /// the normal entry first, makes it the default and counts down 5 s.
    #[test]
    fn the_firmware_reads_the_demo_entries() {
        let kver = "6.1.0-28-amd64";
        let [(_, loader), entries @ ..] = text_files(kver);
        let (conf, warnings) = LoaderConf::parse(loader.as_bytes()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(conf.timeout, Some(Timeout::Seconds(TIMEOUT_S)));
        let mut parsed = Vec::new();
        // Reversed, so the order below comes from sorting, not from here.
        for (path, text) in entries.iter().rev() {
            let name = path.rsplit('/').next().unwrap();
            let (e, warnings) = Entry::parse(name, text.as_bytes()).unwrap();
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            assert_eq!(e.linux(), Some(format!("/{MACHINE_ID}/{kver}/linux").as_str()));
            parsed.push(e);
        }
        let menu = Menu::new(&conf, parsed, Arch::X64);
        let titles: Vec<_> = menu.entries().iter().map(|e| e.title().unwrap()).collect();
        assert_eq!(titles, [TITLE, &format!("{TITLE} (recovery mode)")]);
        assert_eq!(menu.default_index(), Some(0));
        assert_eq!(menu.entries()[1].options(), Some("ro console=ttyS0 panic=-1 single"));
    }
}
