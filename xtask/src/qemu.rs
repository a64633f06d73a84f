//! `cargo xtask run`: boot the firmware under QEMU interactively.

use itest::Machine;

pub fn cmd_run(args: &[String]) -> Result<(), String> {
    let mut machine = Machine::Q35;
    let mut release = true;
    let mut memory = "512M".to_string();
    let mut append = String::new();
    let mut extra: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--machine" => {
                let m = it.next().ok_or("--machine needs a value")?;
                machine = Machine::from_name(m).ok_or_else(|| format!("unknown machine {m:?}"))?;
            }
            "--memory" => memory = it.next().ok_or("--memory needs a value")?.clone(),
            "--append" => append = it.next().ok_or("--append needs a value")?.clone(),
            "--debug" => release = false,
            "--" => {
                extra.extend(it.by_ref().cloned());
            }
            other => return Err(format!("unknown run option {other:?}")),
        }
    }
    let elf = crate::build::build(&crate::build::ARCHES[0], release)?;
    let mut cmd = itest::qemu_command(machine, &elf, &memory, &append);
    cmd.args(&extra);
    eprintln!("+ {cmd:?}");
    let status =
        cmd.status().map_err(|e| format!("cannot start QEMU: {e} (install qemu-system-x86)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("QEMU exited with {status}"))
    }
}

/// The README's first command: build the firmware and a GPT disk whose ESP
/// holds Boot Loader Specification entries, Debian 12's kernel and a busybox
/// initrd (packages fetched with apt and cached), and boot it under QEMU to
/// an interactive shell on the serial console.
pub fn cmd_demo(args: &[String]) -> Result<(), String> {
    let mut machine = Machine::Q35;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--machine" => {
                let m = it.next().ok_or("--machine needs a value")?;
                machine = Machine::from_name(m).ok_or_else(|| format!("unknown machine {m:?}"))?;
            }
            other => return Err(format!("unknown demo option {other:?}")),
        }
    }
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
        Ok(())
    } else {
        Err(format!("QEMU exited with {status}"))
    }
}
