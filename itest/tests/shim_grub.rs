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

use itest::initrd::{Then, MARKER};
use itest::shim::{self, ESP_TOKEN, EXT4_TOKEN};
use itest::{Attach, Machine, Outcome, Vm};
use std::path::Path;

/// Boots `img` with the firmware, booting again (at most twice) when the
/// guest kernel failed to calibrate its TSC, as the other kernel tests do.
fn boot(name: &str, machine: Machine, img: &Path) -> Outcome {
    let attach = if machine == Machine::Q35 { Attach::PciModern } else { Attach::Mmio };
    let vm = Vm::new(name, machine).disk(img, attach).boots_kernel();
    vm.run_retrying_clock(MARKER, 3)
}

#[test]
fn shim_grub_esp_q35() {
    let img = shim::esp_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the shim + GRUB disk: {e}"));
    let out = boot("shim-grub-esp", Machine::Q35, &img);
    shim::check_boot(&out, "esp", ESP_TOKEN);
}

#[test]
fn shim_grub_ext4_q35() {
    let img = shim::ext4_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the shim + GRUB disk with ext4 /boot: {e}"));
    let out = boot("shim-grub-ext4", Machine::Q35, &img);
    shim::check_boot(&out, "ext4", EXT4_TOKEN);
}
