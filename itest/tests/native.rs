//! Native boot: the firmware reads Boot Loader Specification entries from
//! the ESP and boots Debian 12's kernel with the Linux boot protocol into a
//! busybox initrd, on q35 (virtio-blk-pci) and microvm (virtio-mmio), for
//! every disk variant.

use itest::bls::{BlsDisk, BASE_OPTIONS};
use itest::images::Fat;
use itest::initrd::{EXTRA_MARKER, MARKER};
use itest::{Attach, Machine, Outcome, Vm};

fn boot(name: &str, machine: Machine, disk: &BlsDisk) -> Outcome {
    let img = disk.build().unwrap_or_else(|e| panic!("building {}: {e}", disk.name));
    let attach = if machine == Machine::Q35 { Attach::PciModern } else { Attach::Mmio };
    let vm = Vm::new(name, machine).disk_with(&img, attach, disk.block_size).boots_kernel();
    vm.run_retrying_clock(MARKER, 3)
}

/// The marker line the initrd printed.
fn marker(out: &Outcome) -> &str {
    out.log.lines().find(|l| l.contains(MARKER)).unwrap_or_else(|| {
        panic!("the initrd's marker never appeared ({}):\n{}", out.log_path.display(), out.log)
    })
}

/// Boots `disk` on q35 and microvm and checks that the default entry
/// booted with its options.
fn default_entry_boots(name: &str, disk: BlsDisk) {
    for machine in [Machine::Q35, Machine::Microvm] {
        let out = boot(name, machine, &disk);
        let line = marker(&out);
        assert!(line.contains("vmfw.test.entry=debian-6.1"), "wrong entry booted: {line}");
        assert!(line.contains(BASE_OPTIONS), "options did not reach the kernel: {line}");
        if disk.two_initrds {
            out.expect(EXTRA_MARKER);
        }
        out.expect_exited();
    }
}

#[test]
fn bls_default_entry() {
    default_entry_boots("native", BlsDisk::new("bls"));
}

#[test]
fn bls_two_initrds() {
    default_entry_boots(
        "native-2initrd",
        BlsDisk { two_initrds: true, ..BlsDisk::new("bls-2initrd") },
    );
}

#[test]
fn bls_fat16_esp() {
    default_entry_boots("native-fat16", BlsDisk { fat: Fat::Fat16, ..BlsDisk::new("bls-fat16") });
}

#[test]
fn bls_4k_sectors() {
    default_entry_boots(
        "native-4k",
        BlsDisk { block_size: 4096, fat: Fat::Fat16, ..BlsDisk::new("bls-4k") },
    );
}

#[test]
fn bls_esp_is_20th_partition() {
    default_entry_boots("native-p20", BlsDisk { esp_number: 20, ..BlsDisk::new("bls-p20") });
}

#[test]
fn bls_broken_default_falls_back() {
    for machine in [Machine::Q35, Machine::Microvm] {
        let out = boot(
            "native-fallback",
            machine,
            &BlsDisk { broken_default: true, ..BlsDisk::new("bls-broken") },
        );
        out.expect("broken-7.0");
        let line = marker(&out);
        assert!(
            line.contains("vmfw.test.entry=debian-6.1"),
            "fallback booted the wrong entry: {line}"
        );
    }
}

/// Without ACPI the kernel cannot find virtio-mmio devices by itself: the
/// firmware passes the VMM's `virtio_mmio.device=` hints on.
#[test]
fn bls_microvm_without_acpi_passes_mmio_hints() {
    let disk = BlsDisk::new("bls");
    let out = boot("native-noacpi", Machine::MicrovmNoAcpi, &disk);
    let line = marker(&out);
    assert!(line.contains("vmfw.test.entry=debian-6.1"), "wrong entry booted: {line}");
    assert!(
        line.contains("virtio_mmio.device="),
        "no virtio-mmio hint on the kernel command line: {line}"
    );
}

/// The boot menu (loader.conf `timeout`): pick the other entry by number.
#[test]
fn menu_picks_an_entry_by_number() {
    let disk = BlsDisk { timeout: 30, ..BlsDisk::new("bls-menu") };
    let img = disk.build().unwrap_or_else(|e| panic!("building {}: {e}", disk.name));
    let out = Vm::new("native-menu-pick", Machine::Q35)
        .disk(&img, Attach::PciModern)
        .boots_kernel()
        .run_scripted(&[("(arrows or 1-9 choose", "1"), ("vmfw boot menu:", "\r")]);
    // Find what the menu listed as item 1, then check that it booted.
    let first = out
        .log
        .lines()
        .find_map(|l| l.trim_start_matches([' ', '>']).strip_prefix("1) "))
        .unwrap_or_else(|| panic!("no menu in {}", out.log_path.display()))
        .to_string();
    out.expect(&format!("({first})"));
    let id = if first.starts_with("Other") { "other" } else { "debian-6.1" };
    assert!(
        marker(&out).contains(&format!("vmfw.test.entry={id}")),
        "menu choice {first:?} not booted"
    );
}

/// `e` in the menu edits the command line for this boot.
#[test]
fn menu_edits_the_command_line() {
    let disk = BlsDisk { timeout: 30, ..BlsDisk::new("bls-menu") };
    let img = disk.build().unwrap_or_else(|e| panic!("building {}: {e}", disk.name));
    let out = Vm::new("native-menu-edit", Machine::Q35)
        .disk(&img, Attach::PciModern)
        .boots_kernel()
        .run_scripted(&[
            ("(arrows or 1-9 choose", "e"),
            ("Edit the command line", " vmfw.test.edited=yes\r"),
        ]);
    let line = marker(&out);
    assert!(line.contains("vmfw.test.edited=yes"), "edited command line not used: {line}");
    assert!(
        line.contains("vmfw.test.entry=debian-6.1"),
        "the edit should start from the default entry: {line}"
    );
}
