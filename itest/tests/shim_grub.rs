//! shim + GRUB as Debian 12 ships them: the firmware starts
//! `\EFI\BOOT\BOOTX64.EFI` (signed shim) from the ESP, shim loads and
//! starts GRUB (`\EFI\BOOT\grubx64.efi`, signed, monolithic), GRUB reads
//! its `grub.cfg` from the ESP and boots Debian 12's kernel with the
//! busybox initrd, from the ESP (`shim_grub_esp_q35`) or from an ext4
//! partition it finds by UUID (`shim_grub_ext4_q35`).
//!
//! The disks have no Boot Loader Specification entries, so the firmware
//! takes the UEFI path by default (no firmware command line). Evidence that
//! GRUB booted the kernel: the `vmfw.test=` token exists only in
//! `grub.cfg`, GRUB printed the line `grub.cfg` echoes, and the kernel's
//! command line has no `initrd=` (which systemd-boot would have added).
//! The initrd's `VMFW-EFI` line shows that the kernel was started through
//! UEFI and could read the variables through runtime services.

use itest::initrd::{Then, EFI_ABSENT, EFI_MARKER, MARKER};
use itest::shim::{self, ESP_TOKEN, EXT4_TOKEN, GRUB_ECHO};
use itest::{Attach, Machine, Outcome, Vm};
use std::path::Path;

/// Boots `img` with the firmware, booting again (at most twice) when the
/// guest kernel failed to calibrate its TSC, as the other kernel tests do.
fn boot(name: &str, machine: Machine, img: &Path) -> Outcome {
    let attach = if machine == Machine::Q35 { Attach::PciModern } else { Attach::Mmio };
    let vm = Vm::new(name, machine).disk(img, attach).boots_kernel();
    vm.run_retrying_clock(MARKER, 3)
}

/// The first line containing `needle`, or a panic with the log.
fn line<'a>(out: &'a Outcome, needle: &str) -> &'a str {
    out.log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| {
        panic!("{needle:?} never appeared ({}):\n{}", out.log_path.display(), out.log)
    })
}

/// Checks what every shim + GRUB boot must show: GRUB ran the `variant`'s
/// `grub.cfg`, the kernel got its `linux` line with `token` and without
/// `initrd=`, and it was started through UEFI with readable variables.
fn check(out: &Outcome, variant: &str, token: &str) {
    line(out, &format!("{GRUB_ECHO} {variant}"));
    let marker = line(out, MARKER);
    let cmdline = marker
        .split_once("cmdline=[")
        .and_then(|(_, rest)| rest.rsplit_once(']'))
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("malformed marker line: {marker}"));
    assert!(
        cmdline.split_whitespace().any(|w| w == token),
        "grub.cfg's options ({token}) did not reach the kernel: {cmdline}"
    );
    assert!(
        !cmdline.split_whitespace().any(|w| w.starts_with("initrd=")),
        "initrd= on the command line: GRUB did not start the kernel: {cmdline}"
    );
    let report = line(out, EFI_MARKER);
    assert!(
        !report.contains(EFI_ABSENT),
        "the kernel saw no UEFI (/sys/firmware/efi missing): {report} ({})",
        out.log_path.display()
    );
    // Secure Boot is off, and says so (UEFI §3.3: SecureBoot 0).
    assert!(
        report.contains("secureboot=[00]") && report.contains("setupmode=[01]"),
        "SecureBoot/SetupMode missing or not off: {report}"
    );
    let n = report
        .rsplit_once(" efivars=")
        .map(|(_, n)| n.trim())
        .unwrap_or_else(|| panic!("no efivars= in {report}"));
    // shim leaves runtime-visible variables (MokListRT, SbatLevelRT, ...).
    assert!(
        n.parse::<u32>().is_ok_and(|n| n > 0),
        "efivarfs could not be mounted or listed no variables (runtime variable services): \
         {report} ({})",
        out.log_path.display()
    );
    out.expect_exited();
}

#[test]
fn shim_grub_esp_q35() {
    let img = shim::esp_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the shim + GRUB disk: {e}"));
    let out = boot("shim-grub-esp", Machine::Q35, &img);
    check(&out, "esp", ESP_TOKEN);
}

#[test]
fn shim_grub_ext4_q35() {
    let img = shim::ext4_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the shim + GRUB disk with ext4 /boot: {e}"));
    let out = boot("shim-grub-ext4", Machine::Q35, &img);
    check(&out, "ext4", EXT4_TOKEN);
}
