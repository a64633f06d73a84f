//! UEFI boot: the firmware, told to take the UEFI path (`vmfw.boot=uefi`),
//! starts `\EFI\BOOT\BOOTX64.EFI` from the ESP: a unified kernel image
//! (systemd-stub with Debian 12's kernel and a busybox initrd), or
//! systemd-boot, which boots a Type #1 entry for the same kernel. On q35
//! (virtio-blk-pci) and microvm (virtio-mmio).
//!
//! The initrd prints the usual marker with `/proc/cmdline`, then a
//! `VMFW-EFI ...` line with systemd's loader-interface variables as the
//! kernel sees them through the firmware's runtime services.
//!
//! `uki_*` and `sdboot_*` check that the kernel booted, from the right
//! loader; `*_variables_q35` check, in addition, the variables systemd-stub
//! and systemd-boot set at boot time and the kernel reads back after
//! `ExitBootServices` (runtime `GetVariable`/`GetNextVariableName`), and
//! what those say about the firmware's loaded-image protocol (file path,
//! device path down to the ESP's GPT partition).

use itest::bls::BASE_OPTIONS;
use itest::initrd::{Then, EFI_ABSENT, EFI_MARKER, MARKER};
use itest::uefi::{
    self, FIRMWARE_CMDLINE, SDBOOT_ENTRY, SDBOOT_INITRD_ARG, SDBOOT_TOKEN, UKI_TOKEN,
};
use itest::{Attach, Machine, Outcome, Vm};
use std::path::Path;

/// Boots `img` with the firmware on the UEFI path, booting again (at most
/// twice) when the guest kernel failed to calibrate its TSC, as the native
/// tests do.
fn boot(name: &str, machine: Machine, img: &Path) -> Outcome {
    let attach = if machine == Machine::Q35 { Attach::PciModern } else { Attach::Mmio };
    let vm = Vm::new(name, machine).append(FIRMWARE_CMDLINE).disk(img, attach).boots_kernel();
    vm.run_retrying_clock(MARKER, 3)
}

/// The marker line: the kernel ran the initrd with these options.
fn marker(out: &Outcome) -> &str {
    out.line(MARKER)
}

/// The `VMFW-EFI` line; panics when the kernel saw no UEFI at all (it was
/// not started through UEFI, or the firmware gave it no system table).
fn efi_report(out: &Outcome) -> &str {
    let l = out.line(EFI_MARKER);
    assert!(
        !l.contains(EFI_ABSENT),
        "the kernel saw no UEFI (/sys/firmware/efi missing): {l} ({})",
        out.log_path.display()
    );
    l
}

fn uki_boots(machine: Machine) {
    let img =
        uefi::uki_disk(Then::PowerOff).unwrap_or_else(|e| panic!("building the UKI disk: {e}"));
    let out = boot("uefi-uki", machine, &img);
    let cmdline = marker(&out);
    // Only the stub knows the UKI's .cmdline.
    assert!(cmdline.contains(UKI_TOKEN), "the UKI's .cmdline did not reach the kernel: {cmdline}");
    assert!(
        cmdline.contains(BASE_OPTIONS),
        "the UKI's .cmdline did not reach the kernel: {cmdline}"
    );
    efi_report(&out);
    out.expect_exited();
}

fn sdboot_boots(machine: Machine) {
    let img = uefi::sdboot_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the systemd-boot disk: {e}"));
    let out = boot("uefi-sdboot", machine, &img);
    let cmdline = marker(&out);
    assert!(
        cmdline.contains(SDBOOT_TOKEN),
        "the entry's options did not reach the kernel: {cmdline}"
    );
    // systemd-boot puts initrd=<path> first; the native loader never does.
    assert!(
        cmdline.contains(SDBOOT_INITRD_ARG),
        "no {SDBOOT_INITRD_ARG:?}: systemd-boot did not start the kernel: {cmdline}"
    );
    efi_report(&out);
    out.expect_exited();
}

#[test]
fn uki_q35() {
    uki_boots(Machine::Q35);
}

#[test]
fn uki_microvm() {
    uki_boots(Machine::Microvm);
}

#[test]
fn sdboot_q35() {
    sdboot_boots(Machine::Q35);
}

#[test]
fn sdboot_microvm() {
    sdboot_boots(Machine::Microvm);
}

/// The value of `label=[...]` in the `VMFW-EFI` line.
fn field<'a>(report: &'a str, label: &str) -> &'a str {
    let start =
        report.find(&format!(" {label}=[")).unwrap_or_else(|| panic!("no {label}= in {report}"))
            + label.len()
            + 3;
    let len = report[start..].find("] ").unwrap_or_else(|| panic!("{label}= unterminated"));
    &report[start..start + len]
}

/// The unique GUID of the disk's first GPT partition (the ESP), as text.
fn esp_partition_guid(img: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).expect("open disk image");
    // 512-byte blocks: the entry array starts at LBA 2; the unique GUID is
    // bytes 16..32 of the first entry, in the mixed-endian GUID layout.
    f.seek(SeekFrom::Start(2 * 512 + 16)).expect("seek to the GPT entry");
    let mut g = [0u8; 16];
    f.read_exact(&mut g).expect("read the GPT entry");
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10..].iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Checks what both systemd-stub and systemd-boot set: the image's path
/// on the ESP and the ESP's partition GUID.
fn check_common_variables(report: &str, img: &Path) {
    assert_eq!(
        field(report, "image"),
        "\\EFI\\BOOT\\BOOTX64.EFI",
        "LoaderImageIdentifier: {report}"
    );
    let part = field(report, "part");
    assert!(
        part.eq_ignore_ascii_case(&esp_partition_guid(img)),
        "LoaderDevicePartUUID {part:?} is not the ESP's GUID {}: {report}",
        esp_partition_guid(img)
    );
    assert!(!field(report, "fwinfo").is_empty(), "no LoaderFirmwareInfo: {report}");
}

#[test]
fn uki_variables_q35() {
    let img =
        uefi::uki_disk(Then::PowerOff).unwrap_or_else(|e| panic!("building the UKI disk: {e}"));
    let out = boot("uefi-uki-vars", Machine::Q35, &img);
    marker(&out);
    let report = efi_report(&out);
    assert!(
        field(report, "stubinfo").starts_with("systemd-stub "),
        "no StubInfo from systemd-stub: {report}"
    );
    check_common_variables(report, &img);
}

#[test]
fn sdboot_variables_q35() {
    let img = uefi::sdboot_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the systemd-boot disk: {e}"));
    let out = boot("uefi-sdboot-vars", Machine::Q35, &img);
    marker(&out);
    let report = efi_report(&out);
    assert_eq!(field(report, "loader"), SDBOOT_ENTRY, "LoaderEntrySelected: {report}");
    assert!(
        field(report, "loaderinfo").starts_with("systemd-boot "),
        "no LoaderInfo from systemd-boot: {report}"
    );
    check_common_variables(report, &img);
}

/// Variables survive a warm reset of the same VM: the first boot writes a
/// non-volatile variable through efivarfs (runtime `SetVariable()` after
/// `SetVirtualAddressMap()`) and reboots; QEMU resets the VM instead of
/// exiting; the firmware finds its saved variables in RAM and the second
/// boot reads the variable back. The first boot also made `Boot0001` the
/// only entry of `BootOrder`: the firmware must follow it and set
/// `BootCurrent` to it.
#[test]
fn variables_survive_a_warm_reset_q35() {
    use itest::initrd::{KEPT_MARKER, REBOOTING_MARKER};
    let img =
        uefi::uki_disk(Then::RebootOnce).unwrap_or_else(|e| panic!("building the UKI disk: {e}"));
    let vm = Vm::new("uefi-warm-reset", Machine::Q35)
        .append(FIRMWARE_CMDLINE)
        .disk(&img, Attach::PciModern)
        .boots_kernel()
        // Later than the harness's -no-reboot: a reset resets the VM.
        .arg("-action")
        .arg("reboot=reset");
    let out = vm.run();
    out.line(REBOOTING_MARKER);
    let kept = out.line(KEPT_MARKER);
    assert!(kept.contains("warm-reset-ok"), "the variable lost its value: {kept}");
    out.line("kept from before the reset");
    // The second boot followed BootOrder to Boot0001 and said so.
    out.line("Boot0001 (");
    assert!(kept.contains("bootcurrent=0100"), "BootCurrent is not Boot0001: {kept}");
    out.expect_exited();
}

/// A boot file that is not a loadable image (here: an MS-DOS header whose
/// PE offset points past the file) costs one log line, and the firmware
/// goes on to the next disk, whose UKI boots.
#[test]
fn broken_boot_file_falls_back_to_the_next_disk_q35() {
    use itest::images::{Contents, Disk};
    let mut bad = b"MZ".to_vec();
    bad.resize(0x40, 0);
    bad[0x3c..0x40].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    bad.extend_from_slice(&[0xcc; 512]);
    let broken =
        Disk::new("uefi-broken").file("/EFI/BOOT/BOOTX64.EFI", Contents::Bytes(bad)).build();
    let img =
        uefi::uki_disk(Then::PowerOff).unwrap_or_else(|e| panic!("building the UKI disk: {e}"));
    let out = Vm::new("uefi-broken-first", Machine::Q35)
        .append(FIRMWARE_CMDLINE)
        .disk(&broken, Attach::PciModern)
        .disk(&img, Attach::PciModern)
        .boots_kernel()
        .run();
    let l = out.line("disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI: cannot load");
    assert!(l.contains("trying the next"), "{l}");
    assert!(l.contains("not a loadable PE32+ image"), "{l}");
    marker(&out);
    out.expect_exited();
}

/// Variables survive separate VM runs through `\EFI\vmfw\VARS.BIN` on a
/// writable ESP. Run 1 is the warm-reset scenario: Linux writes a variable
/// and a `BootOrder` at runtime and reboots, and the second boot (which
/// finds them in RAM) brings the file up to date. Run 2 is a new QEMU
/// process on the same disk: RAM starts empty, so everything it sees came
/// from the file.
#[test]
fn variables_survive_a_new_vm_run_through_the_esp_file_q35() {
    use itest::initrd::{KEPT_MARKER, REBOOTING_MARKER};
    let cached = uefi::uki_disk_with_vars(Then::RebootOnce)
        .unwrap_or_else(|e| panic!("building the UKI disk: {e}"));
    let disk = itest::esp::scratch_copy(&cached, "uefi-vars-file");
    let vm = |name: &str| {
        Vm::new(name, Machine::Q35)
            .append(FIRMWARE_CMDLINE)
            .writable_disk(&disk, Attach::PciModern)
            .boots_kernel()
            .arg("-action")
            .arg("reboot=reset")
    };
    let first = vm("uefi-vars-file-1").run();
    first.line(REBOOTING_MARKER);
    first.line("brought up to date");
    first.line(KEPT_MARKER);
    first.expect_exited();

    let second = vm("uefi-vars-file-2").run();
    second.line("restored from disk0 \\EFI\\vmfw\\VARS.BIN");
    second.line("Boot0001 (");
    let kept = second.line(KEPT_MARKER);
    assert!(kept.contains("warm-reset-ok"), "the variable lost its value: {kept}");
    assert!(!second.log.contains(REBOOTING_MARKER), "run 2 did not see the variable");
    second.expect_exited();
}
