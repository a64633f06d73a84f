//! A complete Debian 12 system booted through the firmware's UEFI path:
//! shim, Debian's signed GRUB, the kernel and its initramfs from ext4,
//! systemd up to `multi-user.target`, where a unit reports what the system
//! sees of the UEFI variables and runs `systemctl poweroff` (see
//! `itest::debian_system` for the image).
//!
//! **Long-running.** Building the image takes one and a half to three
//! minutes (debootstrap; packages are downloaded once and kept), and is then
//! cached. Booting the whole system under TCG takes about a minute more.
//! The image needs root and debootstrap to build, so the test is
//! `#[ignore]`d: `cargo xtask test` runs it (`--include-ignored`) when the
//! image is cached or can be built (`itest::debian_system_inputs`). Run
//! anyway without them, it fails and says what is missing.

use itest::debian_system::{self, Error, EFIVARS_MARKER, MARKER, ROOT_UUID};
use itest::{Machine, Outcome, Vm};
use std::path::Path;
use std::time::Duration;

/// Generous: the boot takes 40–65 s under TCG with `-icount` on an idle
/// machine (about 35 s of it from the kernel's start to the report).
const TIMEOUT: Duration = Duration::from_secs(600);

/// Boots `img` on q35 (1 GiB, virtio-blk-pci), with `-icount shift=auto`
/// under TCG as for every kernel boot (see `Vm::boots_kernel`). The disk is
/// writable for the guest (`snapshot=on`: writes go to a temporary file
/// QEMU drops), as a system disk is; the cached image is never changed.
fn boot(img: &Path) -> Outcome {
    Vm::new("debian-system", Machine::Q35)
        .memory("1G")
        .boots_kernel()
        .timeout(TIMEOUT)
        .arg("-drive")
        .arg(&format!("file={},if=none,id=d0,format=raw,snapshot=on", img.display()))
        .arg("-device")
        .arg("virtio-blk-pci,drive=d0,disable-legacy=on")
        .run_retrying_clock(MARKER, 2)
}

/// The value of `name=` in `line` (up to the next space).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    Some(line[start..].split(' ').next().unwrap_or(""))
}

/// Long-running (minutes): see the module documentation.
#[test]
#[ignore = "needs root and debootstrap, or the cached image"]
fn debian_system_q35() {
    if let Err(why) = itest::debian_system_inputs() {
        panic!("cannot build the Debian system image: {why}");
    }
    let img = match debian_system::image() {
        Ok(p) => p,
        Err(Error::Skip(why) | Error::Failed(why)) => {
            panic!("building the Debian system image: {why}")
        }
    };
    let out = boot(&img);
    eprintln!(
        "debian-system: VM ran {:.0} s (log: {})",
        out.elapsed.as_secs_f64(),
        out.log_path.display()
    );
    let line = |needle: &str| {
        out.log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| {
            out.expect(needle);
            unreachable!()
        })
    };
    // GRUB started the kernel: it puts BOOT_IMAGE= first on the command line.
    let cmdline = line("Command line: ");
    assert!(
        cmdline.contains("BOOT_IMAGE=/boot/vmlinuz-")
            && cmdline.contains(&format!("root=UUID={ROOT_UUID}")),
        "the kernel was not started by the image's GRUB entry: {cmdline}"
    );
    // systemd reached multi-user.target and ran the report.
    let report = line(MARKER);
    eprintln!("{report}");
    let count = field(report, "efivars").unwrap_or("");
    assert!(
        count.parse::<u32>().is_ok_and(|n| n > 0),
        "efivarfs was not readable (efivars={count}): {report} ({})",
        out.log_path.display()
    );
    assert_eq!(
        field(report, "SecureBoot"),
        Some("0"),
        "SecureBoot should read as 0 through efivarfs: {report}"
    );
    let names = line(EFIVARS_MARKER);
    eprintln!("{names}");
    // shim ran: it mirrors its MOK state into runtime variables.
    assert!(names.contains("MokListRT"), "no MokListRT: shim did not run? {names}");
    // The VM powered itself off: `systemctl poweroff`, the kernel's ACPI
    // power-off, QEMU's exit with status 0, before the timeout.
    out.expect("reboot: Power down");
    out.expect_clean_poweroff();
}
