//! `cargo xtask run` and `cargo xtask demo`: boot the firmware under QEMU
//! with the serial console on this terminal, and end with the guest's
//! outcome.
//!
//! The firmware says how a boot ended only on its console (on q35 and
//! microvm it powers off through ACPI S5 whatever happened, and QEMU then
//! exits with 0), so QEMU keeps a copy of the console in a file
//! (`logfile=` of the stdio character device) and [`judge`] reads the
//! firmware's lines from it afterwards. QEMU also gets an `isa-debug-exit`
//! device: where ACPI cannot power off (`microvm-noacpi`), the firmware's
//! power-off writes 0 to its port and QEMU exits with 1, which then means
//! the firmware stopped the VM.

use crate::build;
use itest::{Accel, Machine};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The exit status of `run` and `demo` when the firmware found nothing to
/// boot.
pub const EXIT_NOTHING_BOOTED: u8 = 3;
/// The exit status of `run` and `demo` when the firmware failed (a fatal
/// error, an exception, a panic).
pub const EXIT_FIRMWARE_FAILED: u8 = 4;

/// How a boot ended, from the firmware's lines on the serial console and
/// QEMU's exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The firmware started a kernel (the line that says so).
    Booted(String),
    /// The firmware found nothing to boot (its line).
    NothingBooted(String),
    /// The firmware stopped on an error (its line).
    FirmwareFailed(String),
    /// QEMU ended before the firmware said anything decisive: the user
    /// quit, or `vmfw.log=off` hid the firmware's lines.
    Undecided,
    /// QEMU itself failed, or was killed.
    QemuFailed(String),
}

impl Verdict {
    /// This command's exit status for the verdict.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Verdict::Booted(_) | Verdict::Undecided => ExitCode::SUCCESS,
            Verdict::NothingBooted(_) => ExitCode::from(EXIT_NOTHING_BOOTED),
            Verdict::FirmwareFailed(_) => ExitCode::from(EXIT_FIRMWARE_FAILED),
            Verdict::QemuFailed(_) => ExitCode::FAILURE,
        }
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Booted(l) => format!("the firmware started a kernel ({l})"),
            Verdict::NothingBooted(l) => format!("nothing booted ({l})"),
            Verdict::FirmwareFailed(l) => format!("the firmware failed ({l})"),
            Verdict::Undecided => "QEMU ended before the firmware booted anything".into(),
            Verdict::QemuFailed(why) => why.clone(),
        }
    }
}

/// The firmware's log lines start with a level tag (`[INFO ] `, `[ERROR] `,
/// firmware/src/console.rs); the text after it, for a tagged line.
fn log_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let (tag, text) = rest.split_at_checked(5)?;
    let known = ["ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"].contains(&tag);
    known.then(|| text.strip_prefix("] ")).flatten()
}

/// Reads how a boot ended from the serial console's text and QEMU's exit
/// code (`None`: killed by a signal).
///
/// Only the firmware's own lines count: its log lines (tagged with a
/// level) and the lines it prints untagged when it stops. The last
/// decisive one wins (a kernel that fails to load after its command line
/// was logged is followed by the next attempt's lines), except that a
/// firmware failure stands whatever follows. Decisive lines:
/// `kernel command line: …` (a native boot's last step) and
/// `ExitBootServices: …` (a UEFI loader handing over to the OS): started;
/// `no bootable entry …`, `no bootable device` and `vmfw: powering off`:
/// nothing booted; `vmfw: fatal: …` and `!!! vmfw panicked …`: failed.
pub fn judge(console: &str, code: Option<i32>) -> Verdict {
    let Some(code) = code else {
        return Verdict::QemuFailed("QEMU was killed by a signal".into());
    };
    let mut verdict = Verdict::Undecided;
    let mut firmware_spoke = false;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        if matches!(verdict, Verdict::FirmwareFailed(_)) {
            break;
        }
        let tagged = log_text(line);
        firmware_spoke |= tagged.is_some() || line.starts_with("vmfw ");
        if line.starts_with("vmfw: fatal:") || line.starts_with("!!! vmfw panicked") {
            verdict = Verdict::FirmwareFailed(line.into());
        } else if line == "vmfw: powering off" {
            if !matches!(verdict, Verdict::NothingBooted(_)) {
                verdict = Verdict::NothingBooted(line.into());
            }
        } else if let Some(text) = tagged {
            if text.starts_with("kernel command line:") || text.starts_with("ExitBootServices:") {
                verdict = Verdict::Booted(line.into());
            } else if text.starts_with("no bootable entry")
                || text.starts_with("no bootable device")
            {
                verdict = Verdict::NothingBooted(line.into());
            }
        }
    }
    match code {
        0 => verdict,
        // isa-debug-exit with the firmware's 0: the firmware powered off.
        1 if firmware_spoke => match verdict {
            Verdict::Undecided => Verdict::FirmwareFailed(
                "it powered the VM off through isa-debug-exit without saying why".into(),
            ),
            v => v,
        },
        c => {
            Verdict::QemuFailed(format!("QEMU failed with exit status {c} (its message is above)"))
        }
    }
}

/// The accelerator `VMFW_ACCEL` asks for, checked before anything is built.
fn accel() -> Result<Accel, String> {
    Accel::from_env()
}

/// Where QEMU keeps a copy of the serial console for [`judge`].
fn console_log(name: &str) -> Result<PathBuf, String> {
    let dir = build::target_dir().join("xtask");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir.join(format!("{name}-console.log")))
}

/// A QEMU command line for an interactive session: the serial console and
/// QEMU's monitor share this terminal (Ctrl-A X quits QEMU, Ctrl-A C
/// switches to the monitor, Ctrl-C reaches the guest), QEMU copies the
/// console to `log`, and the firmware can end QEMU through isa-debug-exit.
fn interactive(machine: Machine, elf: &Path, memory: &str, append: &str, log: &Path) -> Command {
    let mut cmd = itest::qemu_command_with_serial(machine, elf, memory, append, "chardev:console");
    // QEMU's option syntax doubles a comma inside a value.
    let log = log.to_string_lossy().replace(',', ",,");
    cmd.arg("-chardev").arg(format!("stdio,id=console,mux=on,signal=off,logfile={log}"));
    cmd.args(["-mon", "chardev=console,mode=readline"]);
    cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
    cmd
}

/// Runs `cmd` (an [`interactive`] QEMU) to its end and judges the boot.
fn boot(mut cmd: Command, log: &Path) -> Result<ExitCode, String> {
    eprintln!("+ {cmd:?}");
    let _ = std::fs::remove_file(log);
    let status = cmd.status().map_err(|e| format!("cannot start QEMU: {e} (run .ci/deps)"))?;
    let console = std::fs::read(log).unwrap_or_default();
    let verdict = judge(&String::from_utf8_lossy(&console), status.code());
    eprintln!("xtask: {} (console log: {})", verdict.describe(), log.display());
    Ok(verdict.exit_code())
}

/// `cargo xtask run`'s options (see its `--help`).
pub struct RunOptions {
    /// The QEMU machine.
    pub machine: Machine,
    /// Build the firmware with the release profile.
    pub release: bool,
    /// Guest RAM, in QEMU's syntax.
    pub memory: String,
    /// The firmware's command line.
    pub append: String,
    /// More QEMU arguments.
    pub qemu_args: Vec<String>,
}

/// `cargo xtask run`: build the firmware and boot it under QEMU.
pub fn cmd_run(o: RunOptions) -> Result<ExitCode, String> {
    accel()?;
    let elf = build::build(&build::ARCHES[0], o.release)?;
    let log = console_log("run")?;
    let mut cmd = interactive(o.machine, &elf, &o.memory, &o.append, &log);
    cmd.args(&o.qemu_args);
    boot(cmd, &log)
}

/// The README's first command: build the firmware and the demo disk
/// ([`crate::demo::disk`]), and boot it under QEMU to a shell on the
/// serial console: natively from the Boot Loader Specification entries, or
/// with `uefi`, through systemd-boot.
pub fn cmd_demo(machine: Machine, uefi: bool) -> Result<ExitCode, String> {
    let accel = accel()?;
    let elf = build::build(&build::ARCHES[0], true)?;
    let img = crate::demo::disk()?;
    let attach = if machine == Machine::Q35 { "virtio-blk-pci" } else { "virtio-blk-device" };
    // vmfw.boot=uefi: leave the entries to systemd-boot (\EFI\BOOT\BOOTX64.EFI).
    let append = if uefi { "vmfw.boot=uefi" } else { "" };
    let log = console_log("demo")?;
    let mut cmd = interactive(machine, &elf, "1G", append, &log);
    let img = img.to_string_lossy().replace(',', ",,");
    cmd.arg("-drive").arg(format!("file={img},if=none,id=d0,format=raw,snapshot=on"));
    cmd.args(["-device", &format!("{attach},drive=d0")]);
    if accel == Accel::Tcg {
        // Linux calibrates its TSC against the PIT: it reads the PIT in a
        // tight loop and rejects the result when consecutive reads are
        // unevenly spaced in TSC ticks. Under TCG both clocks follow the
        // host's clock, so whenever the host deschedules QEMU's vCPU
        // thread mid-loop (a loaded host) the guest sees a jump, and the
        // kernel says "tsc: Fast TSC calibration failed" and "tsc: Unable
        // to calibrate against PIT" (3 boots of 3 with three busy loops
        // on a 2-core host). With -icount both follow the guest's
        // instruction count, which does not move while the thread is
        // descheduled, and the fast calibration succeeds (as in itest's
        // Vm::boots_kernel).
        cmd.args(["-icount", "shift=auto"]);
    }
    let menu = if uefi { "systemd-boot's menu" } else { "vmfw's boot menu" };
    // Without ACPI the kernel cannot power off; a reboot ends QEMU
    // (-no-reboot). The initrd says the same.
    let off = if machine == Machine::MicrovmNoAcpi { "reboot -f" } else { "poweroff -f" };
    eprintln!(
        "xtask: {menu} counts down {} s; in the shell, `{off}` ends the VM; Ctrl-A X quits QEMU",
        crate::demo::TIMEOUT_S
    );
    boot(cmd, &log)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &str = "vmfw 0.1.0 (x86_64), entered via PVH\n[INFO ] command line: \"\"\n";

    #[test]
    fn a_native_boot_is_a_boot() {
        let log = format!(
            "{BANNER}[INFO ] disk0: booting entry \"a.conf\" (A)\n\
             [INFO ] kernel command line: \"console=ttyS0\"\n\
             [    0.000000] Linux version 6.1.0\n(initramfs) poweroff -f\n[    9.1] reboot: Power down\n"
        );
        assert!(matches!(judge(&log, Some(0)), Verdict::Booted(l) if l.contains("kernel command")));
    }

    #[test]
    fn a_uefi_boot_is_a_boot() {
        let log = format!("{BANNER}[INFO ] ExitBootServices: the OS owns the machine now\n");
        assert!(matches!(judge(&log, Some(0)), Verdict::Booted(_)));
    }

    #[test]
    fn nothing_to_boot_is_an_error() {
        let log = format!("{BANNER}[ERROR] no bootable device\nvmfw: powering off\n");
        let v = judge(&log, Some(0));
        assert_eq!(v, Verdict::NothingBooted("[ERROR] no bootable device".into()));
        assert_eq!(v.exit_code(), ExitCode::from(EXIT_NOTHING_BOOTED));
        // With the log level at error and above hidden, the untagged line
        // still says it; through isa-debug-exit too.
        let quiet = format!("{BANNER}vmfw: powering off\n");
        assert!(matches!(judge(&quiet, Some(1)), Verdict::NothingBooted(_)));
    }

    /// A kernel that failed after its command line was logged, then nothing else.
    #[test]
    fn the_last_attempt_counts() {
        let log = format!(
            "{BANNER}[INFO ] kernel command line: \"x\"\n\
             [WARN ] disk0: entry \"a.conf\" failed: no room; trying the next\n\
             [ERROR] no bootable entry on 1 disk(s) (1 failed)\nvmfw: powering off\n"
        );
        assert!(
            matches!(judge(&log, Some(0)), Verdict::NothingBooted(l) if l.contains("1 failed"))
        );
    }

    #[test]
    fn a_panic_is_a_failure_and_stands() {
        let log = format!(
            "{BANNER}\n!!! vmfw panicked at firmware/src/x.rs:1: boom\n\
             vmfw: fatal: panic; powering off\n"
        );
        let v = judge(&log, Some(0));
        assert!(matches!(&v, Verdict::FirmwareFailed(l) if l.contains("boom")), "{v:?}");
        assert_eq!(v.exit_code(), ExitCode::from(EXIT_FIRMWARE_FAILED));
        let fault = format!("{BANNER}vmfw: fatal: CPU exception; powering off\n");
        assert!(matches!(judge(&fault, Some(1)), Verdict::FirmwareFailed(_)));
    }

    /// Text that only looks like the firmware's (the kernel's, the user's)
    /// decides nothing.
    #[test]
    fn only_the_firmwares_lines_count() {
        let log = format!(
            "{BANNER}[INFO ] kernel command line: \"x\"\n\
             [    1.0] no bootable device\n(initramfs) echo no bootable device\nno bootable device\n"
        );
        assert!(matches!(judge(&log, Some(0)), Verdict::Booted(_)));
    }

    #[test]
    fn quitting_is_not_an_error_but_qemu_failing_is() {
        assert_eq!(judge(BANNER, Some(0)), Verdict::Undecided);
        assert_eq!(Verdict::Undecided.exit_code(), ExitCode::SUCCESS);
        assert!(matches!(judge("", Some(1)), Verdict::QemuFailed(_)));
        assert!(matches!(judge(BANNER, Some(2)), Verdict::QemuFailed(_)));
        assert!(matches!(judge(BANNER, None), Verdict::QemuFailed(_)));
        // isa-debug-exit without a reason is the firmware stopping.
        assert!(matches!(judge(BANNER, Some(1)), Verdict::FirmwareFailed(_)));
    }

    /// The lines [`judge`] looks for are the ones the firmware prints (it
    /// cannot import them: the firmware is a bare-metal binary).
    #[test]
    fn the_firmware_prints_the_lines_judge_reads() {
        let root = build::root();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let expect = [
            ("firmware/src/arch/x86_64/linux.rs", "crate::info!(\"kernel command line: "),
            ("firmware/src/arch/aarch64/linux.rs", "crate::info!(\"kernel command line: "),
            ("firmware/src/uefi/tables.rs", "crate::info!(\"ExitBootServices: "),
            ("crates/boot/src/lib.rs", "\"no bootable device\""),
            ("crates/boot/src/lib.rs", "\"no bootable entry on {disks} disk(s)\""),
            ("firmware/src/power.rs", "println!(\"vmfw: powering off\")"),
            ("firmware/src/power.rs", "println!(\"vmfw: fatal: {why}; powering off\")"),
            ("firmware/src/main.rs", "println!(\"\\n!!! vmfw panicked at "),
            ("firmware/src/console.rs", "\"[{tag}] {args}\""),
            ("firmware/src/arch/x86_64/power.rs", "outl(0xf4, 0)"),
        ];
        for (file, text) in expect {
            assert!(read(file).contains(text), "{file} no longer has {text:?}");
        }
    }
}
