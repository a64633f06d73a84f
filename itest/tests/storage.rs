//! Storage stack tests: the firmware finds each kind of virtio disk, reads
//! the partition table and the ESP's FAT, and prints the SHA-256 of a known
//! file, which must match the host's.

use itest::images::{pseudo_bytes, sha256_hex, Contents, Disk, Fat, Scheme};
use itest::{Attach, Machine, Vm};
use std::path::PathBuf;

const TEST_LEN: u64 = 3 * 1024 * 1024 + 517;
const SEED: u64 = 0x766d_6677;

fn test_file() -> Contents {
    Contents::Pseudo { len: TEST_LEN, seed: SEED }
}

fn expected() -> String {
    sha256_hex(&pseudo_bytes(TEST_LEN, SEED))
}

fn esp(name: &str) -> Disk {
    Disk::new(name)
        .file("/vmfw/test.bin", test_file())
        .file("/EFI/BOOT/A File With A Long Name.txt", Contents::Bytes(b"long names work".to_vec()))
}

/// Boots with `vmfw.hash` and checks the digest and that the file came in
/// large requests (at most one per 64 KiB, plus a few for metadata).
fn check(vm: Vm, path: &str) {
    let out = vm.append(&format!("vmfw.hash={path}")).run();
    let line =
        out.log.lines().find(|l| l.starts_with("vmfw: sha256 disk0")).unwrap_or_else(|| {
            panic!("no sha256 line in {}:\n{}", out.log_path.display(), out.log)
        });
    assert!(line.contains(&expected()), "digest mismatch: {line} (want {})", expected());
    let requests: u64 = line
        .rsplit('(')
        .next()
        .and_then(|s| s.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {line}"));
    let limit = TEST_LEN.div_ceil(64 * 1024) + 8;
    assert!(requests <= limit, "{requests} requests for {TEST_LEN} bytes (limit {limit}): {line}");
    out.expect_clean_poweroff();
}

fn image(d: Disk) -> PathBuf {
    d.build()
}

#[test]
fn q35_pci_modern() {
    let img = image(esp("storage"));
    check(Vm::new("storage-modern", Machine::Q35).disk(&img, Attach::PciModern), "/vmfw/test.bin");
}

#[test]
fn q35_pci_transitional() {
    let img = image(esp("storage"));
    // Upper case: lookups are case-insensitive, as UEFI requires.
    check(
        Vm::new("storage-transitional", Machine::Q35).disk(&img, Attach::PciTransitional),
        "/VMFW/TEST.BIN",
    );
}

#[test]
fn microvm_mmio_from_acpi() {
    let img = image(esp("storage"));
    check(
        Vm::new("storage-mmio-acpi", Machine::Microvm).disk(&img, Attach::Mmio),
        "/vmfw/test.bin",
    );
}

#[test]
fn microvm_mmio_from_command_line() {
    let img = image(esp("storage"));
    check(
        Vm::new("storage-mmio-cmdline", Machine::MicrovmNoAcpi).disk(&img, Attach::Mmio),
        "/vmfw/test.bin",
    );
}

#[test]
fn q35_4k_sectors_fat16() {
    let img = image(Disk { block_size: 4096, fat: Fat::Fat16, ..esp("storage-4k") });
    check(
        Vm::new("storage-4k", Machine::Q35).disk_with(&img, Attach::PciModern, 4096),
        "/vmfw/test.bin",
    );
}

#[test]
fn esp_is_20th_gpt_partition() {
    let img = image(Disk { scheme: Scheme::Gpt { esp_number: 20 }, ..esp("storage-p20") });
    check(Vm::new("storage-p20", Machine::Microvm).disk(&img, Attach::Mmio), "/vmfw/test.bin");
}

#[test]
fn legacy_mbr_fat12() {
    let img =
        image(Disk { scheme: Scheme::Mbr, fat: Fat::Fat12, esp_mib: 8, ..esp("storage-mbr") });
    check(Vm::new("storage-mbr", Machine::Q35).disk(&img, Attach::PciModern), "/vmfw/test.bin");
}

#[test]
fn damaged_primary_gpt_falls_back_to_backup() {
    let src = image(esp("storage"));
    let dir = itest::root().join("target").join("itest-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("storage-badgpt.img");
    std::fs::copy(&src, &img).unwrap();
    // Flip a byte of the primary header's signature (LBA 1).
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[512] ^= 0xff;
    std::fs::write(&img, bytes).unwrap();
    let vm = Vm::new("storage-badgpt", Machine::Q35).disk(&img, Attach::PciModern);
    let out = vm.append("vmfw.hash=/vmfw/test.bin").run();
    out.expect("GPT (backup header; primary damaged)").expect(&expected()).expect_clean_poweroff();
}

#[test]
fn several_disks_in_stable_order() {
    let a = image(esp("storage"));
    let b = image(Disk::new("storage-other").file("/other.txt", Contents::Bytes(b"x".to_vec())));
    let out = Vm::new("storage-order", Machine::Q35)
        .disk(&a, Attach::PciModern)
        .disk(&b, Attach::PciTransitional)
        .append("vmfw.hash=/vmfw/test.bin vmfw.log=debug")
        .run();
    // Every device the firmware drove is reset before it stops.
    out.expect("pci 0000:00:01.0: ").expect("pci 0000:00:02.0: ");
    assert_eq!(
        out.log.lines().filter(|l| l.contains("KiB read, reset")).count(),
        2,
        "both disks must be reset: {}",
        out.log_path.display()
    );
    out.expect("disk0: virtio-blk pci 0000:00:01.0")
        .expect("disk1: virtio-blk pci 0000:00:02.0")
        .expect(&format!("vmfw: sha256 disk0 /vmfw/test.bin {}", expected()))
        .expect("vmfw: sha256 disk1 /vmfw/test.bin: not found")
        .expect_clean_poweroff();
}

/// `vmfw.disks=1`: the second disk is left untouched (never initialised,
/// so never reset), for VMMs whose disks cannot be reset.
#[test]
fn disks_beyond_the_limit_are_left_alone() {
    let a = image(esp("storage"));
    let b = image(Disk::new("storage-other").file("/other.txt", Contents::Bytes(b"x".to_vec())));
    let out = Vm::new("storage-limit", Machine::Q35)
        .disk(&a, Attach::PciModern)
        .disk(&b, Attach::PciModern)
        .append("vmfw.hash=/vmfw/test.bin vmfw.disks=1")
        .run();
    out.expect("disk0: virtio-blk pci 0000:00:01.0")
        .expect("pci 0000:00:02.0: virtio-blk left untouched (vmfw.disks=1)")
        .expect(&format!("vmfw: sha256 disk0 /vmfw/test.bin {}", expected()))
        .expect_clean_poweroff();
    assert!(!out.log.contains("disk1:"), "disk1 was driven: {}", out.log_path.display());
}
