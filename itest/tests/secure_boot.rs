//! UEFI Secure Boot (issue 16): the firmware with keys from Debian's
//! enrolled OVMF store (`cargo xtask enroll --from-ovmf-vars`, see
//! `itest::secure_boot`) boots Debian's signed chain (shim, GRUB, kernel)
//! and refuses what is unsigned, changed or forbidden; the keys cannot be
//! changed from the guest, neither by an authenticated write signed by a
//! key it does not trust nor through the variable file on the ESP. Without
//! keys the firmware is in setup mode and verifies nothing.
//!
//! Every disk boots the busybox initrd of `initrd::build_secure_boot`,
//! which reports what the kernel sees: `SecureBoot`/`SetupMode`, the
//! lockdown state, and a hash of each key variable.
//!
//! - `secure_boot_shim_grub_kernel_q35`: Debian's signed shim, GRUB and
//!   kernel boot; the kernel sees Secure Boot on, locks itself down and
//!   reads the image's keys.
//! - `..._refuses_an_unsigned_uki_and_boots_the_next_q35`: an unsigned
//!   UKI on the first disk is refused (one line), the shim chain on the
//!   second boots.
//! - `..._shim_refuses_a_modified_grub_q35`: shim refuses GRUB with one
//!   byte changed; `..._refuses_a_modified_shim_q35`: vmfw refuses shim
//!   with one byte changed; `..._dbx_refuses_shim_q35`: vmfw refuses shim
//!   when its hash is in `dbx`. Nothing boots, the firmware powers off.
//! - `..._setup_mode_boots_unsigned_q35`: without keys the unsigned UKI
//!   boots and the kernel sees Secure Boot off.
//! - `..._refuses_a_badly_signed_db_update_q35`: Linux writes a `db`
//!   update signed by a key in no `KEK` through efivarfs; the firmware's
//!   runtime `SetVariable()` refuses it and `db` stays the image's.
//! - `..._keys_do_not_come_from_vars_bin_q35`: a `VARS.BIN` with forged
//!   `PK` and `db` records changes no key, with keys or without.

use itest::initrd::{self, Then, EFI_MARKER, MARKER, SB_KERNEL_MARKER, SB_MARKER};
use itest::secure_boot::{self, Key};
use itest::shim::{self, ESP_TOKEN, GRUB_ECHO};
use itest::{esp, uefi, Attach, Machine, Outcome, Vm};
use std::path::{Path, PathBuf};

/// What vmfw logs when Secure Boot refuses an image, after the image's
/// path and `cannot load: `.
const REFUSED: &str = "refused by Secure Boot: ";

/// The firmware's line for a firmware image with the store's keys.
const STANDARD_KEYS: &str =
    "secure boot keys: PK 1, KEK 2, db 2, dbx 1 entries (from the firmware image)";

/// The firmware's line without keys.
const SETUP_MODE: &str = "secure boot keys: none (setup mode)";

fn standard_firmware() -> PathBuf {
    secure_boot::standard_firmware().unwrap_or_else(|e| panic!("enrolling the firmware: {e}"))
}

fn built(what: &str, r: Result<PathBuf, String>) -> PathBuf {
    r.unwrap_or_else(|e| panic!("building {what}: {e}"))
}

/// A q35 VM with `elf` and `disks` (read-only), booting a kernel.
fn vm(name: &str, elf: &Path, disks: &[&Path]) -> Vm {
    let mut vm = Vm::new(name, Machine::Q35).firmware(elf).boots_kernel();
    for d in disks {
        vm = vm.disk(d, Attach::PciModern);
    }
    vm
}

/// Every line containing `needle`.
fn lines<'a>(out: &'a Outcome, needle: &str) -> Vec<&'a str> {
    out.log.lines().filter(|l| l.contains(needle)).collect()
}

/// Panics when `needle` appears in the log.
fn absent(out: &Outcome, needle: &str, why: &str) {
    if let Some(l) = out.log.lines().find(|l| l.contains(needle)) {
        panic!("{why}: {l:?} ({})", out.log_path.display());
    }
}

/// The `[...]` value of `field=` in `line`.
fn field<'a>(line: &'a str, field: &str) -> &'a str {
    line.split_once(&format!(" {field}=["))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(v, _)| v)
        .unwrap_or_else(|| panic!("no {field}=[...] in {line}"))
}

/// Checks the `VMFW-EFI` line: `SecureBoot` and `SetupMode` as the kernel
/// read them (hex bytes).
fn mode(out: &Outcome, secure_boot: &str, setup_mode: &str) {
    let report = out.line(EFI_MARKER);
    assert_eq!(
        (field(report, "secureboot"), field(report, "setupmode")),
        (secure_boot, setup_mode),
        "SecureBoot/SetupMode as the kernel reads them: {report} ({})",
        out.log_path.display()
    );
}

/// The hash the `VMFW-SB` line shows for `key`, and what the image's
/// keys (Debian's store) hash to.
fn key_hashes(out: &Outcome, key: Key) -> (String, String) {
    let sb = out.line(&format!("{SB_MARKER} "));
    let seen = field(sb, &key.name().to_lowercase()).to_string();
    let store = secure_boot::store_key(key).unwrap_or_else(|e| panic!("{e}"));
    (seen, secure_boot::variable_hash(&store))
}

/// Checks that nothing booted and the firmware said so and powered off:
/// the `[ERROR]` line for the one disk, then its last line.
fn nothing_booted(out: &Outcome) {
    absent(out, MARKER, "a kernel booted");
    out.line("[ERROR] no bootable entry on 1 disk(s) (1 failed)");
    let last = out.log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    assert_eq!(last.trim_end(), "vmfw: powering off", "({})", out.log_path.display());
    out.expect_clean_poweroff();
}

/// Checks that the shim + GRUB chain booted the kernel from the ESP.
fn shim_chain_booted(out: &Outcome) {
    out.line(&format!("{GRUB_ECHO} esp"));
    let marker = out.line(MARKER);
    assert!(marker.contains(ESP_TOKEN), "grub.cfg's options did not reach the kernel: {marker}");
}

#[test]
fn secure_boot_shim_grub_kernel_q35() {
    let elf = standard_firmware();
    let img = built("the Secure Boot shim disk", secure_boot::shim_disk());
    let out = vm("sb-shim-grub", &elf, &[&img]).run_retrying_clock(MARKER, 3);
    out.line(STANDARD_KEYS);
    absent(&out, REFUSED, "an image of the signed chain was refused");
    shim_chain_booted(&out);
    mode(&out, "01", "00");
    let sb = out.line(&format!("{SB_MARKER} "));
    let lockdown = field(sb, "lockdown");
    assert!(
        lockdown == "integrity" || lockdown == "confidentiality",
        "the kernel is not locked down: lockdown=[{lockdown}] ({})",
        out.log_path.display()
    );
    let kernel = lines(&out, SB_KERNEL_MARKER);
    let said = |what: &str| kernel.iter().any(|l| l.contains(what));
    assert!(
        said("Secure boot enabled") && said("Kernel is locked down from EFI Secure Boot"),
        "the kernel did not log Secure Boot and the lockdown: {kernel:#?} ({})",
        out.log_path.display()
    );
    for key in [Key::Pk, Key::Kek, Key::Db, Key::Dbx] {
        let (seen, store) = key_hashes(&out, key);
        assert_eq!(seen, store, "{} as the kernel reads it is not the image's", key.name());
    }
    out.expect_clean_poweroff();
}

#[test]
fn secure_boot_refuses_an_unsigned_uki_and_boots_the_next_q35() {
    let elf = standard_firmware();
    let uki = built("the UKI disk", uefi::uki_disk(Then::PowerOff));
    let img = built("the Secure Boot shim disk", secure_boot::shim_disk());
    let out = vm("sb-uki-then-shim", &elf, &[&uki, &img]).run_retrying_clock(MARKER, 3);
    let refused = lines(&out, REFUSED);
    assert_eq!(refused.len(), 1, "expected one refusal: {refused:#?} ({})", out.log_path.display());
    let want = "[WARN ] disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI: cannot load: refused by Secure \
                Boot: unsigned, and its hash is not in db";
    assert_eq!(
        refused[0].trim_end(),
        format!("{want}; trying the next"),
        "({})",
        out.log_path.display()
    );
    shim_chain_booted(&out);
    mode(&out, "01", "00");
    out.expect_clean_poweroff();
}

#[test]
fn secure_boot_shim_refuses_a_modified_grub_q35() {
    let elf = standard_firmware();
    let img = built("the disk with a modified GRUB", secure_boot::modified_grub_disk());
    // shim shows its error in a box and waits for a key (its OK button).
    let out = vm("sb-modified-grub", &elf, &[&img])
        .timeout(std::time::Duration::from_secs(90))
        .run_scripted(&[("Verification failed", "\r")]);
    // vmfw itself loads shim: it is Debian's, untouched.
    absent(&out, REFUSED, "vmfw refused an image");
    out.line("Verification failed: (0x1A) Security Violation");
    absent(&out, &format!("{GRUB_ECHO} "), "the modified GRUB ran");
    // shim then looks for MokManager, which the disk does not have, and
    // returns; vmfw has no other option.
    nothing_booted(&out);
}

#[test]
fn secure_boot_refuses_a_modified_shim_q35() {
    let elf = standard_firmware();
    let img = built("the disk with a modified shim", secure_boot::modified_shim_disk());
    let out =
        vm("sb-modified-shim", &elf, &[&img]).timeout(std::time::Duration::from_secs(60)).run();
    let refused = lines(&out, REFUSED);
    assert_eq!(refused.len(), 1, "expected one refusal: {refused:#?} ({})", out.log_path.display());
    assert!(
        refused[0].contains(
            "\\EFI\\BOOT\\BOOTX64.EFI: cannot load: refused by Secure Boot: the \
                             signed image hash differs from the image's"
        ),
        "{} ({})",
        refused[0],
        out.log_path.display()
    );
    nothing_booted(&out);
}

#[test]
fn secure_boot_dbx_refuses_shim_q35() {
    let shim_hash = secure_boot::authenticode_sha256(&built("shim", shim::shim()))
        .unwrap_or_else(|e| panic!("{e}"));
    let elf = secure_boot::enrolled_firmware(&["--dbx-sha256", &shim_hash])
        .unwrap_or_else(|e| panic!("enrolling the firmware: {e}"));
    let img = built("the Secure Boot shim disk", secure_boot::shim_disk());
    let out = vm("sb-dbx-shim", &elf, &[&img]).timeout(std::time::Duration::from_secs(60)).run();
    out.line("secure boot keys: PK 1, KEK 2, db 2, dbx 2 entries (from the firmware image)");
    let refused = lines(&out, REFUSED);
    assert_eq!(refused.len(), 1, "expected one refusal: {refused:#?} ({})", out.log_path.display());
    assert!(
        refused[0].contains(
            "\\EFI\\BOOT\\BOOTX64.EFI: cannot load: refused by Secure Boot: its \
                             hash is in dbx"
        ),
        "{} ({})",
        refused[0],
        out.log_path.display()
    );
    nothing_booted(&out);
}

#[test]
fn secure_boot_setup_mode_boots_unsigned_q35() {
    let img = built("the UKI disk", uefi::uki_disk(Then::PowerOff));
    let elf = itest::firmware();
    let out = vm("sb-setup-mode-uki", &elf, &[&img]).run_retrying_clock(MARKER, 3);
    out.line(SETUP_MODE);
    absent(&out, REFUSED, "setup mode refused an image");
    out.line(uefi::UKI_TOKEN);
    mode(&out, "00", "01");
    out.expect_clean_poweroff();
}

#[test]
fn secure_boot_refuses_a_badly_signed_db_update_q35() {
    let elf = standard_firmware();
    let img = built("the db update disk", secure_boot::db_update_disk());
    let out = vm("sb-db-update", &elf, &[&img]).run_retrying_clock(MARKER, 3);
    shim_chain_booted(&out);
    mode(&out, "01", "00");
    let write = out.line(initrd::SB_WRITE_MARKER);
    assert!(
        !write.contains("rc=0 ") && write.contains("Permission denied"),
        "the write to db did not fail with EACCES (EFI_SECURITY_VIOLATION): {write} ({})",
        out.log_path.display()
    );
    // The firmware's refusal line (`secure boot: an update of db
    // refused: ...`) is not printed: after ExitBootServices the serial
    // port is the OS's and the firmware logs nothing. The status says it:
    // EACCES is Linux's code for EFI_SECURITY_VIOLATION (a signature that
    // does not verify); a correct one would get EFI_WRITE_PROTECTED
    // (EROFS, "Read-only file system").
    let (seen, store) = key_hashes(&out, Key::Db);
    assert_eq!(seen, store, "db changed ({})", out.log_path.display());
    out.expect_clean_poweroff();
}

/// Boots a writable scratch copy of `cached` (the firmware may rewrite
/// its `VARS.BIN`) with `elf` or the plain firmware; boots again, from a
/// fresh copy, when the guest kernel failed to calibrate its TSC (at most
/// three runs, as `Vm::run_retrying_clock`).
fn boot_writable(name: &str, cached: &Path, elf: Option<&Path>) -> Outcome {
    let mut attempt = 1;
    loop {
        let disk = esp::scratch_copy(cached, name);
        let mut vm = Vm::new(name, Machine::Q35).writable_disk(&disk, Attach::PciModern);
        if let Some(elf) = elf {
            vm = vm.firmware(elf);
        }
        let out = vm.boots_kernel().run();
        if out.log.contains(MARKER) || !itest::kernel_clock_failed(&out.log) || attempt >= 3 {
            return out;
        }
        itest::progress!("{name}: the guest kernel could not calibrate its TSC; booting again");
        attempt += 1;
    }
}

#[test]
fn secure_boot_keys_do_not_come_from_vars_bin_q35() {
    let cached = built("the disk with a forged VARS.BIN", secure_boot::forged_vars_disk());
    let forged_db = secure_boot::variable_hash(&secure_boot::forged_db());
    let forged_pk = secure_boot::variable_hash(&secure_boot::forged_pk());

    // Enrolled: the image's keys, whatever the file says.
    let out = boot_writable("sb-forged-vars-enrolled", &cached, Some(&standard_firmware()));
    out.line(STANDARD_KEYS);
    shim_chain_booted(&out);
    mode(&out, "01", "00");
    // PK and db refused, VmfwForged restored.
    out.line("[WARN ] variables: 2 of 3 saved variables refused");
    out.line("[INFO ] variables: 1 restored from disk0 \\EFI\\vmfw\\VARS.BIN");
    for key in [Key::Pk, Key::Db] {
        let (seen, store) = key_hashes(&out, key);
        assert_eq!(seen, store, "{} is not the image's ({})", key.name(), out.log_path.display());
    }
    let sb = out.line(&format!("{SB_MARKER} "));
    assert!(!sb.contains(&forged_db) && !sb.contains(&forged_pk), "a forged key was seen: {sb}");

    // Setup mode: the forged PK does not turn Secure Boot on.
    let out = boot_writable("sb-forged-vars-setup", &cached, None);
    out.line(SETUP_MODE);
    shim_chain_booted(&out);
    mode(&out, "00", "01");
    out.line("[WARN ] variables: 2 of 3 saved variables refused");
    let sb = out.line(&format!("{SB_MARKER} "));
    assert_eq!((field(sb, "pk"), field(sb, "db")), ("", ""), "keys in setup mode: {sb}");
}
