//! The boot manager: the binary's side of `vmfw-boot`. It owns the disks
//! (each opened once, see `disks`), builds the one ordered list of boot
//! options from the `vmfw.boot=` mode, the saved `BootNext`/`BootOrder`
//! and the disks' ESPs, and tries them in one loop. The order, the mode
//! rules and every line the loop logs are `vmfw-boot`'s (host-tested);
//! this module only carries out each attempt: BLS entries natively, the
//! rest through the UEFI environment, which comes up the first time an
//! option needs it and borrows the disks for each attempt.

use crate::disks::BootDisk;
use crate::{native, progress, uefi};
use alloc::vec::Vec;
use vmfw_boot::{Arch, Attempt, BootOption, BootVars, Booter, Inventory, Level, Line, Mode};
use vmfw_platform::Platform;

/// Tries every boot option; returns when none booted, with every disk
/// quiesced, after logging the final line.
pub fn run(mut disks: Vec<BootDisk>, platform: &Platform, ask: bool) {
    progress::post(progress::Code::BootManager);
    let (mode, line) = Mode::parse(platform.cmdline.value("vmfw.boot"));
    if let Some(l) = line {
        emit(&l);
    }
    // The saved BootNext/BootOrder, read without bringing up the UEFI
    // environment (a native boot then hands the kernel a memory map
    // without runtime ranges).
    let vars = if mode == Mode::Native {
        BootVars::default()
    } else {
        BootVars::from_records(&uefi::saved_variables(&mut disks))
    };
    let inventory = Inventory { arch: ARCH, disks: disks.iter().map(BootDisk::esps).collect() };
    let options = vmfw_boot::plan(mode, &vars, &inventory);
    let count = disks.len();
    let mut m = Manager { disks, platform, ask, uefi: Uefi::NotYet };
    let summary = vmfw_boot::run(&options, &mut m);
    for d in &m.disks {
        d.quiesce();
    }
    progress::post(progress::Code::NothingBooted);
    emit(&summary.final_line(count));
}

/// This architecture's removable-media boot file.
const ARCH: Arch = match crate::arch::BLS_ARCH {
    vmfw_bls::Arch::Aa64 => Arch::Aa64,
    _ => Arch::X64,
};

enum Uefi {
    NotYet,
    Up(uefi::Env),
    Failed,
}

struct Manager<'a> {
    disks: Vec<BootDisk>,
    platform: &'a Platform,
    /// A key arrived before boot selection: show the first BLS menu.
    ask: bool,
    uefi: Uefi,
}

/// The UEFI environment, brought up the first time it is asked for.
fn env<'a>(
    uefi: &'a mut Uefi,
    disks: &mut [BootDisk],
    platform: &Platform,
) -> Option<&'a uefi::Env> {
    if let Uefi::NotYet = uefi {
        *uefi = match uefi::init(disks, platform.rsdp, platform.fdt) {
            Some(e) => {
                progress::post(progress::Code::UefiUp);
                Uefi::Up(e)
            }
            None => Uefi::Failed,
        };
    }
    match uefi {
        Uefi::Up(e) => Some(e),
        _ => None,
    }
}

impl Booter for Manager<'_> {
    fn attempt(&mut self, option: &BootOption) -> Attempt {
        if let BootOption::Bls { disk, esp } = *option {
            return native::boot_esp(&mut self.disks, disk, esp, self.platform, &mut self.ask);
        }
        let Some(env) = env(&mut self.uefi, &mut self.disks, self.platform) else {
            return Attempt::Failed("the UEFI environment is not available".into());
        };
        match *option {
            BootOption::BootNext(n) => env.boot_option(&mut self.disks, n, true),
            BootOption::BootOrder(n) => env.boot_option(&mut self.disks, n, false),
            BootOption::Removable { disk, esp, arch } => {
                env.boot_removable(&mut self.disks, disk, esp, arch)
            }
            BootOption::Bls { .. } => Attempt::Absent("handled above".into()),
        }
    }

    fn log(&mut self, line: &Line) {
        emit(line);
    }
}

fn emit(line: &Line) {
    let level = match line.level {
        Level::Error => log::Level::Error,
        Level::Warn => log::Level::Warn,
        Level::Info => log::Level::Info,
        Level::Debug => log::Level::Debug,
    };
    crate::console::log(level, format_args!("{}", line.text));
}
