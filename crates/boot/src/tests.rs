use super::*;
use alloc::string::ToString;
use alloc::vec;
use vmfw_efi::variables::utf16;
use vmfw_efi::Guid;

use BootOption::{BootNext, BootOrder};

fn bls(disk: usize, esp: u32) -> BootOption {
    BootOption::Bls { disk, esp }
}

fn file(disk: usize, esp: u32) -> BootOption {
    BootOption::Removable { disk, esp, arch: Arch::X64 }
}

fn inventory(disks: &[&[u32]]) -> Inventory {
    Inventory { arch: Arch::X64, disks: disks.iter().map(|d| d.to_vec()).collect() }
}

fn vars(next: Option<u16>, order: &[u16]) -> BootVars {
    BootVars { next, order: order.to_vec() }
}

/// A booter whose outcomes are scripted per option; every other option is
/// absent. Keeps what was attempted and logged.
#[derive(Default)]
struct Fake {
    script: Vec<(BootOption, Attempt)>,
    attempted: Vec<BootOption>,
    lines: Vec<Line>,
}

impl Fake {
    fn with(script: &[(BootOption, Attempt)]) -> Fake {
        Fake { script: script.to_vec(), ..Fake::default() }
    }

    /// The lines above debug level, as `level text`.
    fn shown(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.level != Level::Debug)
            .map(|l| format!("{:?} {}", l.level, l.text))
            .collect()
    }
}

impl Booter for Fake {
    fn attempt(&mut self, option: &BootOption) -> Attempt {
        self.attempted.push(*option);
        self.script
            .iter()
            .find(|(o, _)| o == option)
            .map_or_else(|| Attempt::Absent("not found".into()), |(_, a)| a.clone())
    }

    fn log(&mut self, line: &Line) {
        self.lines.push(line.clone());
    }
}

#[test]
fn auto_order_is_load_options_then_per_esp_bls_then_file() {
    let inv = inventory(&[&[1, 3], &[], &[2]]);
    let got = plan(Mode::Auto, &vars(Some(5), &[1, 2]), &inv);
    assert_eq!(
        got,
        [
            BootNext(5),
            BootOrder(1),
            BootOrder(2),
            bls(0, 1),
            file(0, 1),
            bls(0, 3),
            file(0, 3),
            bls(2, 2),
            file(2, 2)
        ]
    );
}

#[test]
fn native_keeps_only_bls_and_uefi_drops_it() {
    let inv = inventory(&[&[1], &[2]]);
    let v = vars(Some(5), &[1]);
    assert_eq!(plan(Mode::Native, &v, &inv), [bls(0, 1), bls(1, 2)]);
    assert_eq!(plan(Mode::Uefi, &v, &inv), [BootNext(5), BootOrder(1), file(0, 1), file(1, 2)]);
    assert!(plan(Mode::Native, &v, &inv).iter().all(|o| !o.needs_uefi()));
    assert!(plan(Mode::Uefi, &v, &inv).iter().all(BootOption::needs_uefi));
}

/// The surprise this crate fixes: a `BootOrder` restored from the variable
/// file was tried only after disk 0's BLS entries.
#[test]
fn boot_order_goes_before_any_disk() {
    let inv = inventory(&[&[1], &[1]]);
    let got = plan(Mode::Auto, &vars(None, &[1]), &inv);
    assert_eq!(got.first(), Some(&BootOrder(1)));
    let first_disk = got.iter().position(|o| o.number().is_none()).unwrap();
    assert!(got[..first_disk].iter().all(|o| o.number().is_some()));
    assert!(got[first_disk..].iter().all(|o| o.number().is_none()));

    // And the loop really tries it first.
    let mut fake = Fake::with(&[(BootOrder(1), Attempt::Booted)]);
    let s = run(&got, &mut fake);
    assert_eq!(fake.attempted, [BootOrder(1)]);
    assert!(s.booted);
}

#[test]
fn boot_next_comes_first_and_only_once() {
    let inv = inventory(&[&[1]]);
    let got = plan(Mode::Auto, &vars(Some(2), &[1, 2, 3, 2]), &inv);
    assert_eq!(got, [BootNext(2), BootOrder(1), BootOrder(3), bls(0, 1), file(0, 1)]);
    // Tried once even when it fails.
    let mut fake = Fake::with(&[(BootNext(2), Attempt::Failed("returned Aborted".into()))]);
    run(&got, &mut fake);
    assert_eq!(fake.attempted.iter().filter(|o| o.number() == Some(2)).count(), 1);
}

#[test]
fn duplicates_are_listed_once() {
    let inv = inventory(&[&[1, 1]]);
    let got = plan(Mode::Auto, &vars(None, &[7, 7, 0, 7]), &inv);
    assert_eq!(got, [BootOrder(7), BootOrder(0), bls(0, 1), file(0, 1)]);
}

#[test]
fn no_disks_or_no_esps_leave_only_load_options() {
    assert_eq!(plan(Mode::Auto, &BootVars::default(), &inventory(&[])), []);
    assert_eq!(plan(Mode::Auto, &BootVars::default(), &inventory(&[&[], &[]])), []);
    assert_eq!(plan(Mode::Auto, &vars(Some(1), &[]), &inventory(&[&[]])), [BootNext(1)]);
    assert_eq!(plan(Mode::Native, &vars(Some(1), &[2]), &inventory(&[])), []);

    // An empty plan: the loop tries nothing and the final line says why.
    let mut fake = Fake::default();
    let s = run(&[], &mut fake);
    assert!(fake.attempted.is_empty());
    assert_eq!(s, Summary::default());
    assert_eq!(s.final_line(0).text, "no bootable device");
    assert_eq!(s.final_line(2).text, "no bootable entry on 2 disk(s)");
    assert_eq!(
        fake.lines,
        [Line { level: Level::Debug, text: "boot order: nothing to try".into() }]
    );
}

#[test]
fn a_failure_logs_one_warning_and_the_next_is_tried() {
    let options = [file(0, 1), BootOrder(1), bls(1, 2), file(1, 2)];
    let mut fake = Fake::with(&[
        (file(0, 1), Attempt::Failed("cannot load: not a loadable PE32+ image".into())),
        (file(1, 2), Attempt::Booted),
    ]);
    let s = run(&options, &mut fake);
    assert_eq!(fake.attempted, options);
    assert_eq!(
        fake.shown(),
        [
            "Warn disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI: cannot load: not a loadable PE32+ image; trying the next",
            "Info Boot0001: not found",
            "Info disk1: ESP #2: BLS entries: not found",
        ]
    );
    assert_eq!(s, Summary { absent: 2, failed: 1, booted: true });
    assert_eq!(s.tried(), 4);
}

#[test]
fn the_last_failure_does_not_promise_a_next_one() {
    let options = [BootNext(3), bls(0, 1)];
    let mut fake = Fake::with(&[
        (BootNext(3), Attempt::Absent("no such variable".into())),
        (bls(0, 1), Attempt::Failed("no entry could be booted".into())),
    ]);
    let s = run(&options, &mut fake);
    assert_eq!(
        fake.shown(),
        [
            "Info BootNext Boot0003: no such variable",
            "Warn disk0: ESP #1: BLS entries: no entry could be booted"
        ]
    );
    assert_eq!(s, Summary { absent: 1, failed: 1, booted: false });
    let last = s.final_line(1);
    assert_eq!(
        (last.level, last.text.as_str()),
        (Level::Error, "no bootable entry on 1 disk(s) (1 failed)")
    );
}

#[test]
fn the_debug_line_lists_the_plan() {
    let mut fake = Fake::default();
    run(&[BootNext(0x1a), BootOrder(1), file(0, 1)], &mut fake);
    assert_eq!(
        fake.lines.first().map(|l| (l.level, l.text.as_str())),
        Some((
            Level::Debug,
            "boot order: BootNext Boot001A, Boot0001, disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI"
        ))
    );
}

#[test]
fn removable_file_follows_the_arch() {
    let inv = Inventory { arch: Arch::Aa64, disks: vec![vec![1]] };
    let got = plan(Mode::Uefi, &BootVars::default(), &inv);
    assert_eq!(got, [BootOption::Removable { disk: 0, esp: 1, arch: Arch::Aa64 }]);
    assert_eq!(got[0].to_string(), "disk0: ESP #1: \\EFI\\BOOT\\BOOTAA64.EFI");
}

#[test]
fn mode_values() {
    assert_eq!(Mode::parse(None), (Mode::Auto, None));
    assert_eq!(Mode::parse(Some("auto")), (Mode::Auto, None));
    let (m, l) = Mode::parse(Some("native"));
    assert_eq!((m, l.map(|l| l.level)), (Mode::Native, Some(Level::Info)));
    let (m, l) = Mode::parse(Some("uefi"));
    assert_eq!((m, l.map(|l| l.level)), (Mode::Uefi, Some(Level::Info)));
    for bad in ["UEFI", "", "bios"] {
        let (m, l) = Mode::parse(Some(bad));
        let l = l.unwrap();
        assert_eq!((m, l.level), (Mode::Auto, Level::Warn));
        assert_eq!(l.text, format!("vmfw.boot={bad:?} is not auto, native or uefi; using auto"));
    }
    assert_eq!(Mode::Native.to_string(), "native");
}

#[test]
fn vars_from_data_and_records() {
    assert_eq!(BootVars::from_data(None, None), BootVars::default());
    assert_eq!(BootVars::from_data(Some(&[3, 0]), Some(&[1, 0, 2, 0, 9])), vars(Some(3), &[1, 2]));
    assert_eq!(BootVars::from_data(Some(&[3]), Some(&[])), vars(None, &[]));

    let rec = |guid: Guid, name: &str, data: &[u8]| Record {
        guid,
        name: utf16(name),
        attributes: 7,
        data: data.to_vec(),
    };
    let other = Guid::from_fields(1, 2, 3, [4; 8]);
    let records = [
        rec(other, "BootOrder", &[9, 0]),
        rec(GLOBAL_VARIABLE, "Boot0001", &[1; 8]),
        rec(GLOBAL_VARIABLE, "BootOrder", &[1, 0, 0, 1]),
        rec(GLOBAL_VARIABLE, "BootNext", &[0, 1]),
        rec(GLOBAL_VARIABLE, "BootOrderX", &[5, 0]),
    ];
    assert_eq!(BootVars::from_records(&records), vars(Some(0x100), &[1, 0x100]));
    assert_eq!(BootVars::from_records(&records[..1]), BootVars::default());
}

#[test]
fn option_texts() {
    assert_eq!(BootNext(3).to_string(), "BootNext Boot0003");
    assert_eq!(BootOrder(0xbeef).to_string(), "BootBEEF");
    assert_eq!(bls(1, 12).to_string(), "disk1: ESP #12: BLS entries");
    assert_eq!(file(0, 1).to_string(), "disk0: ESP #1: \\EFI\\BOOT\\BOOTX64.EFI");
    assert_eq!(BootNext(3).number(), Some(3));
    assert_eq!(bls(0, 1).number(), None);
}
