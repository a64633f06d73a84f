//! `cargo xtask run`: boot the firmware under QEMU interactively.

use itest::Machine;
use std::process::ExitCode;

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
    itest::Accel::from_env()?;
    let RunOptions { machine, release, memory, append, qemu_args: extra } = o;
    let elf = crate::build::build(&crate::build::ARCHES[0], release)?;
    let mut cmd = itest::qemu_command(machine, &elf, &memory, &append);
    cmd.args(&extra);
    eprintln!("+ {cmd:?}");
    let status =
        cmd.status().map_err(|e| format!("cannot start QEMU: {e} (install qemu-system-x86)"))?;
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("QEMU exited with {status}"))
    }
}

/// The README's first command: build the firmware and a GPT disk whose ESP
/// holds Boot Loader Specification entries, Debian 12's kernel and a busybox
/// initrd (packages fetched with apt and cached), and boot it under QEMU to
/// an interactive shell on the serial console.
pub fn cmd_demo(machine: Machine) -> Result<ExitCode, String> {
    itest::Accel::from_env()?;
    let elf = crate::build::build(&crate::build::ARCHES[0], true)?;
    let disk = itest::bls::BlsDisk {
        then: itest::initrd::Then::Shell,
        timeout: 3,
        ..itest::bls::BlsDisk::new("demo")
    };
    let img = disk.build()?;
    let attach = if machine == Machine::Q35 { "virtio-blk-pci" } else { "virtio-blk-device" };
    let mut cmd = itest::qemu_command_with_serial(machine, &elf, "1G", "", "mon:stdio");
    cmd.arg("-drive").arg(format!("file={},if=none,id=d0,format=raw,snapshot=on", img.display()));
    cmd.args(["-device", &format!("{attach},drive=d0")]);
    eprintln!("+ {cmd:?}");
    eprintln!(
        "(the boot menu waits 3 s; in the shell, `poweroff -f` ends the VM; Ctrl-A X quits QEMU)"
    );
    let status = cmd.status().map_err(|e| format!("cannot start QEMU: {e} (run .ci/deps)"))?;
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("QEMU exited with {status}"))
    }
}
