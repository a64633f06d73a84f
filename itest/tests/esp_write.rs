//! A writable ESP (issue 14): what vmfw and the loaders it starts write to
//! the disk, read back on the host after the VM stopped.
//!
//! - Native boot counting (BLS "Boot counting"): before it boots an entry
//!   `NAME+LEFT[-DONE].conf` with tries left, vmfw renames it to
//!   `NAME+(LEFT-1)-(DONE+1).conf`; an entry with none left sorts last, so
//!   the next run boots the older entry. `vmfw.readonly` on the firmware
//!   command line, or a disk the VMM attaches read-only, keep the disk as
//!   it is: the entry boots anyway, after one line that says why it was
//!   not renamed.
//! - systemd-boot counts its `+N` entries itself, renaming the file
//!   through the firmware's Simple File System (`SetInfo`).
//! - GRUB's `save_env` rewrites its environment block in place through
//!   Block I/O: a `next_entry` left by `grub-reboot` is consumed by the
//!   next boot.
//!
//! Every writing test boots a scratch copy of its cached image
//! (`target/itest-tmp/<name>.img`), attached writable; the cached images
//! are never written. After a run that wrote, `fsck.fat -n` must find the
//! ESP clean.
//!
//! These tests boot once per VM run, never again on a missing marker (as
//! the read-only tests do when the guest kernel failed its TSC
//! calibration): a second run would start from a disk the first one
//! already changed.

use itest::bls::{
    self, COUNTED_ENTRY, COUNTED_ENTRY_USED_UP, COUNTED_TOKEN, OLDER_ENTRY, OLDER_TOKEN,
};
use itest::esp::{self, Esp};
use itest::initrd::{Then, MARKER};
use itest::shim::{self, GRUBENV, GRUBENV_ECHO, GRUBENV_ENTRIES};
use itest::uefi::{
    self, FIRMWARE_CMDLINE, SDBOOT_COUNTED_ENTRY, SDBOOT_COUNTED_ENTRY_AFTER, SDBOOT_INITRD_ARG,
    SDBOOT_TOKEN,
};
use itest::{Attach, Machine, Outcome, Vm};
use std::path::Path;

/// What vmfw's boot counting lines start with (after the level tag).
const COUNTING: &str = "disk0: boot counting: ";

/// Every line of `out` containing `needle`, one a line (for messages).
fn lines_with(out: &Outcome, needle: &str) -> String {
    let found: Vec<&str> = out.log.lines().filter(|l| l.contains(needle)).collect();
    if found.is_empty() {
        format!("(no line contains {needle:?})")
    } else {
        found.join("\n")
    }
}

/// Panics unless `out` has the line `want` exactly, showing the boot
/// counting lines it has instead.
fn exact_line(out: &Outcome, want: &str) {
    assert!(
        out.log.lines().any(|l| l.trim_end() == want),
        "expected the line\n  {want}\nin {}; its boot counting lines:\n{}\nlast lines:\n{}",
        out.log_path.display(),
        lines_with(out, COUNTING),
        tail(out, 30)
    );
}

fn tail(out: &Outcome, n: usize) -> String {
    let lines: Vec<&str> = out.log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Panics unless the kernel booted with `token` on its command line (the
/// entry that carries it booted).
fn booted(out: &Outcome, token: &str, what: &str) {
    let c = out.kernel_cmdline();
    assert!(
        c.split_whitespace().any(|w| w == token),
        "{what}: expected the entry with {token:?} to boot; the kernel's command line is [{c}] \
         ({}); boot counting lines:\n{}",
        out.log_path.display(),
        lines_with(out, COUNTING)
    );
}

/// The names in `/loader/entries` of the ESP of `img`.
fn entries(img: &Path) -> Vec<String> {
    Esp::open(img)
        .and_then(|e| e.list("/loader/entries"))
        .unwrap_or_else(|e| panic!("reading the ESP back: {e}"))
}

/// The text of entry file `name` on the ESP of `img`.
fn entry_text(img: &Path, name: &str) -> String {
    let bytes = Esp::open(img)
        .and_then(|e| e.read(&format!("/loader/entries/{name}")))
        .unwrap_or_else(|e| panic!("reading the ESP back: {e}"));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("{name} is not UTF-8: {e}"))
}

/// Panics unless `fsck.fat -n` finds the ESP of `img` clean; `after` says
/// after what, for the message.
fn fsck_clean(img: &Path, after: &str) {
    if let Err(report) = esp::fsck(img) {
        panic!("after {after}, the ESP is not clean: {report}");
    }
}

/// A q35 VM booting a Debian kernel from `disk`, attached writable.
fn writable_vm(name: &str, disk: &Path, append: &str) -> Vm {
    Vm::new(name, Machine::Q35).append(append).writable_disk(disk, Attach::PciModern).boots_kernel()
}

/// Builds the native boot counting disk.
fn counting_disk() -> std::path::PathBuf {
    bls::boot_counting_disk().unwrap_or_else(|e| panic!("building the boot counting disk: {e}"))
}

/// The line vmfw logs when the rename of [`COUNTED_ENTRY`] fails: the
/// start and the end (the reason goes between).
fn cannot_rename() -> (String, &'static str) {
    (format!("[WARN ] {COUNTING}cannot rename \"{COUNTED_ENTRY}\": "), "; booting it anyway")
}

/// Two runs on one writable disk: the first counts `accept+1.conf` down
/// to `accept+0-1.conf` and boots it; the second boots the older entry,
/// since the counted one has no tries left.
#[test]
fn native_boot_counting_q35() {
    let disk = esp::scratch_copy(&counting_disk(), "esp-write-native-counting");
    let before = entries(&disk);
    assert_eq!(before, [COUNTED_ENTRY, OLDER_ENTRY], "the disk as built");
    let text = entry_text(&disk, COUNTED_ENTRY);

    let first = writable_vm("esp-write-counting-1", &disk, "").run();
    let renamed =
        format!("[INFO ] {COUNTING}renamed \"{COUNTED_ENTRY}\" to \"{COUNTED_ENTRY_USED_UP}\"");
    exact_line(&first, &renamed);
    booted(&first, COUNTED_TOKEN, "run 1");
    // Renamed (and flushed) before the handoff, not after.
    let at = |needle: &str| first.log.find(needle).expect("seen above");
    assert!(
        at(&renamed) < at(MARKER),
        "the rename was logged after the kernel started ({})",
        first.log_path.display()
    );
    first.expect_exited();
    let after = entries(&disk);
    assert_eq!(
        after,
        [COUNTED_ENTRY_USED_UP, OLDER_ENTRY],
        "after run 1, /loader/entries should hold {COUNTED_ENTRY_USED_UP} and no \
         {COUNTED_ENTRY} ({}); boot counting lines:\n{}",
        first.log_path.display(),
        lines_with(&first, COUNTING)
    );
    assert_eq!(
        entry_text(&disk, COUNTED_ENTRY_USED_UP),
        text,
        "the rename changed what the entry file holds"
    );
    fsck_clean(&disk, "run 1 renamed the entry");

    let second = writable_vm("esp-write-counting-2", &disk, "").run();
    booted(&second, OLDER_TOKEN, "run 2 (the counted entry's tries are used up)");
    assert!(
        !second.log.contains(&format!("{COUNTING}renamed")),
        "run 2 renamed something, though {OLDER_ENTRY} has no counter:\n{}",
        lines_with(&second, COUNTING)
    );
    second.expect_exited();
    assert_eq!(entries(&disk), after, "run 2 changed /loader/entries");
}

/// `vmfw.readonly`: the disk is writable, but vmfw writes nothing; the
/// counted entry boots after one line that says why it was not renamed.
#[test]
fn native_boot_counting_readonly_q35() {
    let cached = counting_disk();
    let disk = esp::scratch_copy(&cached, "esp-write-native-readonly");
    let out = writable_vm("esp-write-counting-readonly", &disk, "vmfw.readonly").run();
    let (start, end) = cannot_rename();
    exact_line(&out, &format!("{start}disks are read-only (vmfw.readonly){end}"));
    booted(&out, COUNTED_TOKEN, "with vmfw.readonly");
    out.expect_exited();
    match esp::first_difference(&cached, &disk) {
        Ok(None) => {}
        Ok(Some(at)) => panic!(
            "with vmfw.readonly the disk changed: first at byte {at:#x} ({}); /loader/entries \
             now holds {:?}",
            out.log_path.display(),
            entries(&disk)
        ),
        Err(e) => panic!("comparing the disk with its image: {e}"),
    }
}

/// A disk the VMM attaches read-only (virtio-blk's `VIRTIO_BLK_F_RO`): the
/// rename fails, and the counted entry boots anyway.
#[test]
fn native_boot_counting_on_a_read_only_disk_q35() {
    let cached = counting_disk();
    let out = Vm::new("esp-write-counting-rodisk", Machine::Q35)
        .disk(&cached, Attach::PciModern)
        .boots_kernel()
        .run();
    let (start, end) = cannot_rename();
    let warned = out
        .log
        .lines()
        .map(str::trim_end)
        .find(|l| l.starts_with(&start) && l.ends_with(end))
        .unwrap_or_else(|| {
            panic!(
                "expected a line {start}<reason>{end} ({}); boot counting lines:\n{}\nlast \
                 lines:\n{}",
                out.log_path.display(),
                lines_with(&out, COUNTING),
                tail(&out, 30)
            )
        });
    let reason = &warned[start.len()..warned.len() - end.len()];
    assert!(reason.contains("read-only"), "the reason does not say read-only: {warned}");
    booted(&out, COUNTED_TOKEN, "on a read-only disk");
    out.expect_exited();
}

/// A volume whose dirty bit says it was not unmounted cleanly is not
/// written: the rename is refused with the reason, the entry boots, and
/// not one byte of the disk changes.
#[test]
fn native_boot_counting_on_a_dirty_volume_q35() {
    let disk = esp::scratch_copy(&counting_disk(), "esp-write-counting-dirty");
    let (start, _) = esp::find_esp(&disk).unwrap_or_else(|e| panic!("finding the ESP: {e}"));
    // FAT32 (the test ESPs are 64 MiB): FAT[1] bit 27 set means "clean".
    let mut img = std::fs::read(&disk).expect("read the disk copy");
    let esp = usize::try_from(start).expect("ESP offset");
    let reserved = usize::from(u16::from_le_bytes([img[esp + 14], img[esp + 15]]));
    let bps = usize::from(u16::from_le_bytes([img[esp + 11], img[esp + 12]]));
    let fat1 = esp + reserved * bps + 4;
    let nfats = usize::from(img[esp + 16]);
    let fat_bytes = u32::from_le_bytes(img[esp + 36..esp + 40].try_into().unwrap()) as usize * bps;
    for copy in 0..nfats {
        let at = fat1 + copy * fat_bytes;
        let v = u32::from_le_bytes(img[at..at + 4].try_into().unwrap()) & !(1 << 27);
        img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&disk, &img).expect("write the dirty copy");
    let out = writable_vm("esp-write-counting-dirty", &disk, "").run();
    let (start, end) = cannot_rename();
    let warned =
        out.log.lines().map(str::trim_end).find(|l| l.starts_with(&start) && l.ends_with(end));
    let warned = warned.unwrap_or_else(|| {
        panic!(
            "expected a line {start}<reason>{end} ({}); boot counting lines:\n{}",
            out.log_path.display(),
            lines_with(&out, COUNTING)
        )
    });
    assert!(warned.contains("dirty"), "the reason does not name the dirty bit: {warned}");
    booted(&out, COUNTED_TOKEN, "on a dirty volume");
    out.expect_exited();
    let after = std::fs::read(&disk).expect("read the disk back");
    assert!(after == img, "vmfw changed a dirty volume");
}

/// systemd-boot's own boot counting: it renames `debian+3.conf` to
/// `debian+2-1.conf` through the firmware's file protocol before it boots
/// the entry (vmfw takes the UEFI path, so it counts nothing itself).
#[test]
fn systemd_boot_counting_q35() {
    let cached = uefi::sdboot_counting_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the systemd-boot counting disk: {e}"));
    let disk = esp::scratch_copy(&cached, "esp-write-sdboot-counting");
    let out = writable_vm("esp-write-sdboot-counting", &disk, FIRMWARE_CMDLINE).run();
    let c = out.kernel_cmdline();
    assert!(c.contains(SDBOOT_TOKEN), "the entry's options did not reach the kernel: {c}");
    assert!(
        c.contains(SDBOOT_INITRD_ARG),
        "no {SDBOOT_INITRD_ARG:?}: systemd-boot did not start the kernel: {c}"
    );
    assert!(
        !out.log.contains(COUNTING),
        "vmfw counted on the UEFI path:\n{}",
        lines_with(&out, COUNTING)
    );
    out.expect_exited();
    let names = entries(&disk);
    assert_eq!(
        names,
        [SDBOOT_COUNTED_ENTRY_AFTER],
        "systemd-boot should have renamed {SDBOOT_COUNTED_ENTRY} to \
         {SDBOOT_COUNTED_ENTRY_AFTER} ({}); last lines:\n{}",
        out.log_path.display(),
        tail(&out, 30)
    );
    fsck_clean(&disk, "systemd-boot renamed its entry");
    let seed = Esp::open(&disk)
        .and_then(|e| e.read(uefi::SDBOOT_RANDOM_SEED))
        .unwrap_or_else(|e| panic!("reading {} back: {e}", uefi::SDBOOT_RANDOM_SEED));
    assert!(
        seed.len() == uefi::SDBOOT_RANDOM_SEED_BEFORE.len()
            && seed != uefi::SDBOOT_RANDOM_SEED_BEFORE,
        "systemd-boot did not rewrite {} through Write() ({} bytes: {seed:02x?})",
        uefi::SDBOOT_RANDOM_SEED,
        seed.len()
    );
}

/// GRUB's `next_entry` (what `grub-reboot` sets): run 1 boots the entry it
/// names and clears it with `save_env`, which writes the environment block
/// in place through Block I/O; run 2 boots the default entry.
#[test]
fn grub_saves_its_environment_q35() {
    let cached = shim::grubenv_disk(Then::PowerOff)
        .unwrap_or_else(|e| panic!("building the shim + GRUB disk with a grubenv: {e}"));
    let disk = esp::scratch_copy(&cached, "esp-write-grubenv");
    let [(_, first_variant, first_token), (second_title, second_variant, second_token)] =
        GRUBENV_ENTRIES;

    let first = writable_vm("esp-write-grubenv-1", &disk, "").run();
    let seen = first.line(GRUBENV_ECHO);
    assert!(
        seen.contains(&format!("[{second_title}]")),
        "GRUB did not load next_entry={second_title:?} from its grubenv: {seen}"
    );
    shim::check_boot(&first, second_variant, second_token);
    let block = Esp::open(&disk)
        .and_then(|e| e.read(GRUBENV))
        .unwrap_or_else(|e| panic!("reading the grubenv back: {e}"));
    let vars = shim::grubenv_vars(&block).unwrap_or_else(|e| {
        panic!("after run 1, {GRUBENV} is no environment block: {e}; GRUB's errors:\n{}", {
            lines_with(&first, "error:")
        })
    });
    let next = vars.iter().find(|(k, _)| k == "next_entry").map(|(_, v)| v.as_str());
    assert!(
        next.is_none_or(str::is_empty),
        "after run 1, next_entry is still {next:?}: save_env did not write ({}); GRUB's \
         errors:\n{}",
        first.log_path.display(),
        lines_with(&first, "error:")
    );
    fsck_clean(&disk, "GRUB's save_env");

    let second = writable_vm("esp-write-grubenv-2", &disk, "").run();
    let seen = second.line(GRUBENV_ECHO);
    assert!(seen.contains("[]"), "run 2 still found a next_entry: {seen}");
    shim::check_boot(&second, first_variant, first_token);
}
