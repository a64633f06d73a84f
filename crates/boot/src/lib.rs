//! vmfw's boot manager policy, testable on the host: which boot options
//! there are, in which order they are tried, and what each outcome logs.
//!
//! The firmware describes what it found ([`Inventory`], [`BootVars`]),
//! [`plan`] turns that into one ordered list of [`BootOption`]s, and
//! [`run`] tries them front to back through a [`Booter`], the firmware's
//! part that actually boots (natively or through UEFI). Nothing is probed
//! in advance: the plan lists candidates, and an attempt that finds nothing
//! there says so ([`Attempt::Absent`]).
//!
//! ```
//! use vmfw_boot::{plan, run, Arch, Attempt, BootOption, BootVars, Booter, Inventory, Line, Mode};
//!
//! struct Firmware(Vec<String>);
//! impl Booter for Firmware {
//!     fn attempt(&mut self, option: &BootOption) -> Attempt {
//!         match option {
//!             BootOption::Bls { .. } => Attempt::Absent("no /loader/entries".into()),
//!             _ => Attempt::Failed("cannot load: not a loadable PE32+ image".into()),
//!         }
//!     }
//!     fn log(&mut self, line: &Line) {
//!         self.0.push(line.text.clone());
//!     }
//! }
//!
//! let (mode, _line) = Mode::parse(Some("auto"));
//! // BootOrder = Boot0001, as saved in the variable records.
//! let vars = BootVars::from_data(None, Some(&[1, 0]));
//! // One disk whose partition 1 is an ESP.
//! let inventory = Inventory { arch: Arch::X64, disks: vec![vec![1]] };
//! let options = plan(mode, &vars, &inventory);
//! let mut fw = Firmware(Vec::new());
//! let summary = run(&options, &mut fw);
//! assert_eq!(fw.0[1..], [
//!     "Boot0001: cannot load: not a loadable PE32+ image; trying the next",
//!     "disk0: ESP #1: BLS entries: no /loader/entries",
//!     "disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI: cannot load: not a loadable PE32+ image",
//! ]);
//! assert_eq!(summary.final_line(inventory.disks.len()).text, "no bootable entry on 1 disk(s) (2 failed)");
//! ```
//!
//! # Boot order
//!
//! 1. `BootNext`, once (UEFI §3.1.2; the booter deletes the variable
//!    before trying it, whatever the outcome).
//! 2. Each `Boot####` of `BootOrder`, in order. A number already listed
//!    (as `BootNext` or earlier in `BootOrder`) is not tried again.
//! 3. For each disk in discovery order, for each ESP in partition table
//!    order: the ESP's Boot Loader Specification Type #1 entries, booted
//!    natively; then its removable-media file `\EFI\BOOT\BOOTX64.EFI` or
//!    `\EFI\BOOT\BOOTAA64.EFI` (UEFI §3.5.1.1), started in the UEFI
//!    environment.
//!
//! Why this order: `BootNext` and `BootOrder` are the explicit choice of
//! the guest's owner (made from Linux with `efibootmgr`, or by an
//! installer), so they come before anything vmfw finds on its own, as on
//! any UEFI firmware, wherever the variables were kept (RAM across a warm
//! reset, or `\EFI\vmfw\VARS.BIN`). What vmfw finds goes disk by disk, so
//! the VMM's disk order stays the priority among disks; on one ESP the BLS
//! entries go first because they boot without the UEFI environment (a
//! disk set up for systemd-boot carries both, and the entries are what
//! systemd-boot would boot).
//!
//! `vmfw.boot=` ([`Mode`]) narrows the list: `native` keeps only BLS
//! entries, `uefi` drops them, `auto` (the default) keeps everything.
//!
//! # Log lines
//!
//! One line per decision, worded here so that the firmware only prints
//! them ([`Line`]):
//! - an option with nothing there (no such variable, no entries, no file):
//!   info, `<option>: <reason>`, e.g. `disk0: ESP #1: \EFI\BOOT\BOOTX64.EFI:
//!   not found`;
//! - an option that was tried and did not boot: warn, `<option>: <reason>;
//!   trying the next` (without the suffix when it was the last one);
//! - when nothing booted: error, [`Summary::final_line`], `no bootable
//!   device` or `no bootable entry on N disk(s)`.
//!
//! `<option>` is the option's [`Display`](core::fmt::Display) text:
//! `BootNext Boot0003`, `Boot0001`, `disk0: ESP #1: BLS entries`,
//! `disk0: ESP #1: \EFI\BOOT\BOOTX64.EFI`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use vmfw_efi::load_option::{boot_name, parse_order};
use vmfw_efi::persist::Record;
use vmfw_efi::variables::GLOBAL_VARIABLE;

/// How much a log line matters; the firmware maps it to its logger's
/// levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Nothing booted.
    Error,
    /// Something was tried and failed, or a setting was not understood.
    Warn,
    /// A normal decision.
    Info,
    /// Detail for `vmfw.log=debug`.
    Debug,
}

/// One log line, text and level decided by this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its level.
    pub level: Level,
    /// Its text, without a trailing newline.
    pub text: String,
}

impl Line {
    fn new(level: Level, text: String) -> Line {
        Line { level, text }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which boot paths `vmfw.boot=` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything, in the order of the crate docs (the default).
    #[default]
    Auto,
    /// BLS entries only: no option needs the UEFI environment.
    Native,
    /// Everything but BLS entries: load options and removable-media files.
    Uefi,
}

impl Mode {
    /// The mode for the value of `vmfw.boot=` (`None` when the command line
    /// does not set it), and the line to log about it: an info line when a
    /// mode other than `auto` is forced, a warning for a value that is not
    /// `auto`, `native` or `uefi` (then the mode is `auto`).
    pub fn parse(value: Option<&str>) -> (Mode, Option<Line>) {
        match value {
            None | Some("auto") => (Mode::Auto, None),
            Some("native") => (
                Mode::Native,
                Some(Line::new(Level::Info, "vmfw.boot=native: BLS entries only".into())),
            ),
            Some("uefi") => (
                Mode::Uefi,
                Some(Line::new(Level::Info, "vmfw.boot=uefi: no BLS entries, UEFI only".into())),
            ),
            Some(other) => (
                Mode::Auto,
                Some(Line::new(
                    Level::Warn,
                    format!(
                        "vmfw.boot={} is not auto, native or uefi; using auto",
                        vmfw_bytes::Quoted(other)
                    ),
                )),
            ),
        }
    }

    /// Whether this mode tries `option`.
    pub fn allows(self, option: &BootOption) -> bool {
        match self {
            Mode::Auto => true,
            Mode::Native => matches!(option, BootOption::Bls { .. }),
            Mode::Uefi => !matches!(option, BootOption::Bls { .. }),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Native => "native",
            Mode::Uefi => "uefi",
        })
    }
}

/// The firmware's architecture, for the removable-media file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64.
    X64,
    /// AArch64.
    Aa64,
}

impl Arch {
    /// The removable-media boot file on an ESP (UEFI §3.5.1.1), as a path
    /// relative to the volume's root, with backslashes.
    pub const fn removable_file(self) -> &'static str {
        match self {
            Arch::X64 => "\\EFI\\BOOT\\BOOTX64.EFI",
            Arch::Aa64 => "\\EFI\\BOOT\\BOOTAA64.EFI",
        }
    }
}

/// What the firmware found, without looking inside anything: its
/// architecture, and per disk its ESPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The firmware's architecture.
    pub arch: Arch,
    /// One element per disk, in discovery order (the index is the disk
    /// number used in log lines, `disk0`, …): the partition numbers of its
    /// ESPs in partition table order; empty for a disk without an ESP or
    /// without a partition table.
    pub disks: Vec<Vec<u32>>,
}

/// The boot manager variables that decide the first options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootVars {
    /// `BootNext`: the option to try first, once.
    pub next: Option<u16>,
    /// `BootOrder`, as stored (duplicates included; [`plan`] drops them).
    pub order: Vec<u16>,
}

impl BootVars {
    /// From the data of the `BootNext` and `BootOrder` variables (`None`
    /// when a variable does not exist). `BootNext` is one `UINT16`; extra
    /// bytes are ignored, and data shorter than that counts as no
    /// `BootNext`. An odd trailing byte of `BootOrder` is ignored.
    pub fn from_data(next: Option<&[u8]>, order: Option<&[u8]>) -> BootVars {
        BootVars {
            next: next.and_then(|d| parse_order(d).first().copied()),
            order: order.map(parse_order).unwrap_or_default(),
        }
    }

    /// From saved non-volatile variables (`vmfw_efi::persist`: the RAM
    /// slots or `\EFI\vmfw\VARS.BIN`), so that the firmware can plan before
    /// its UEFI environment exists. Only the global-GUID `BootNext` and
    /// `BootOrder` count; when a name appears twice, the first record wins.
    pub fn from_records(records: &[Record]) -> BootVars {
        let find = |name: &str| {
            records
                .iter()
                .find(|r| {
                    r.guid == GLOBAL_VARIABLE && r.name.iter().copied().eq(name.encode_utf16())
                })
                .map(|r| r.data.as_slice())
        };
        BootVars::from_data(find("BootNext"), find("BootOrder"))
    }
}

/// One thing to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOption {
    /// Load option `Boot####` named by `BootNext`. The booter deletes
    /// `BootNext` before trying it (UEFI §3.1.2), whatever happens.
    BootNext(u16),
    /// Load option `Boot####` from `BootOrder`.
    BootOrder(u16),
    /// The BLS Type #1 entries on partition `esp` of disk `disk`, booted
    /// natively in the entries' own order (the booter tries them all and
    /// logs each entry's failure itself).
    Bls {
        /// Disk index in [`Inventory::disks`].
        disk: usize,
        /// ESP partition number.
        esp: u32,
    },
    /// The removable-media file ([`Arch::removable_file`]) on partition
    /// `esp` of disk `disk`, started in the UEFI environment.
    Removable {
        /// Disk index in [`Inventory::disks`].
        disk: usize,
        /// ESP partition number.
        esp: u32,
        /// Which file.
        arch: Arch,
    },
}

impl BootOption {
    /// The `Boot####` number of a load option; `None` for options found on
    /// disks.
    pub fn number(&self) -> Option<u16> {
        match *self {
            BootOption::BootNext(n) | BootOption::BootOrder(n) => Some(n),
            BootOption::Bls { .. } | BootOption::Removable { .. } => None,
        }
    }

    /// Whether the option boots through the UEFI environment (everything
    /// but BLS entries), so the firmware knows when to bring it up.
    pub fn needs_uefi(&self) -> bool {
        !matches!(self, BootOption::Bls { .. })
    }
}

impl fmt::Display for BootOption {
    /// The option as the log names it: `BootNext Boot0003`, `Boot0001`,
    /// `disk0: ESP #1: BLS entries`, `disk0: ESP #1: \EFI\BOOT\BOOTX64.EFI`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BootOption::BootNext(n) => write!(f, "BootNext {}", boot_name(n)),
            BootOption::BootOrder(n) => f.write_str(&boot_name(n)),
            BootOption::Bls { disk, esp } => write!(f, "disk{disk}: ESP #{esp}: BLS entries"),
            BootOption::Removable { disk, esp, arch } => {
                write!(f, "disk{disk}: ESP #{esp}: {}", arch.removable_file())
            }
        }
    }
}

/// The boot options to try, in order (see the crate docs for the order
/// and why).
pub fn plan(mode: Mode, vars: &BootVars, inventory: &Inventory) -> Vec<BootOption> {
    let mut options = Vec::new();
    let load_options = vars.next.map(BootOption::BootNext).into_iter();
    for o in load_options.chain(vars.order.iter().copied().map(BootOption::BootOrder)) {
        push_new(&mut options, o);
    }
    for (disk, esps) in inventory.disks.iter().enumerate() {
        for &esp in esps {
            push_new(&mut options, BootOption::Bls { disk, esp });
            push_new(&mut options, BootOption::Removable { disk, esp, arch: inventory.arch });
        }
    }
    options.retain(|o| mode.allows(o));
    options
}

/// Appends `o` unless it is listed already (for load options: the same
/// number, whether as `BootNext` or from `BootOrder`).
fn push_new(options: &mut Vec<BootOption>, o: BootOption) {
    let listed =
        options.iter().any(|x| *x == o || (o.number().is_some() && x.number() == o.number()));
    if !listed {
        options.push(o);
    }
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// It booted. A real boot never returns, so only fakes say this.
    Booted,
    /// Nothing to try there, e.g. `no such variable`, `not active`,
    /// `no /loader/entries`, `not found`. The reason is the end of an info
    /// line.
    Absent(String),
    /// It was tried and did not boot, e.g. `cannot load: …`, `returned Not
    /// Found`, `no entry could be booted`. The reason is the middle of a
    /// warning line.
    Failed(String),
}

/// The firmware's side of the loop.
pub trait Booter {
    /// Tries `option`; returns only when it did not boot (a real boot
    /// hands the machine over and never returns).
    fn attempt(&mut self, option: &BootOption) -> Attempt;
    /// Prints one line of the loop's log.
    fn log(&mut self, line: &Line);
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Options that found nothing there.
    pub absent: usize,
    /// Options that were tried and did not boot.
    pub failed: usize,
    /// Whether one booted (only with a fake booter).
    pub booted: bool,
}

impl Summary {
    /// How many options were attempted.
    pub fn tried(&self) -> usize {
        self.absent.saturating_add(self.failed).saturating_add(usize::from(self.booted))
    }

    /// The error line before powering off when nothing booted: `no bootable
    /// device` without disks, else `no bootable entry on N disk(s)`, each
    /// followed by ` (F failed)` when options failed (their warnings are
    /// above it).
    pub fn final_line(&self, disks: usize) -> Line {
        let mut text = if disks == 0 {
            String::from("no bootable device")
        } else {
            format!("no bootable entry on {disks} disk(s)")
        };
        if self.failed > 0 {
            text.push_str(&format!(" ({} failed)", self.failed));
        }
        Line::new(Level::Error, text)
    }
}

/// Tries `options` in order until one boots, logging one line per option
/// that did not (see the crate docs), after a debug line with the whole
/// list. Returns when none booted, or when a fake booter says one did.
pub fn run(options: &[BootOption], booter: &mut impl Booter) -> Summary {
    let list: Vec<String> = options.iter().map(|o| format!("{o}")).collect();
    let list = if list.is_empty() { String::from("nothing to try") } else { list.join(", ") };
    booter.log(&Line::new(Level::Debug, format!("boot order: {list}")));
    let mut summary = Summary::default();
    let mut rest = options.iter().peekable();
    while let Some(option) = rest.next() {
        match booter.attempt(option) {
            Attempt::Booted => {
                summary.booted = true;
                break;
            }
            Attempt::Absent(why) => {
                summary.absent = summary.absent.saturating_add(1);
                booter.log(&Line::new(Level::Info, format!("{option}: {why}")));
            }
            Attempt::Failed(why) => {
                summary.failed = summary.failed.saturating_add(1);
                let then = if rest.peek().is_some() { "; trying the next" } else { "" };
                booter.log(&Line::new(Level::Warn, format!("{option}: {why}{then}")));
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests;
