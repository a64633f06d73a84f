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

/// The README's first command: build and boot under QEMU so a newcomer sees
/// the serial log. (No disk yet: the firmware reports the platform, finds
/// nothing to boot, and powers the VM off.)
pub fn cmd_demo(args: &[String]) -> Result<(), String> {
    let mut all = vec!["--memory".to_string(), "5G".to_string()];
    all.extend(args.iter().cloned());
    cmd_run(&all)
}
