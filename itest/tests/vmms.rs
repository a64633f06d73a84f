//! Cloud Hypervisor and Firecracker. Both tests are `#[ignore]`d: they need
//! the VMM's binary (`CLOUD_HYPERVISOR=/path`, `FIRECRACKER=/path`), and
//! `cargo xtask test` runs each one (`--include-ignored`) exactly when its
//! variable names an executable. Run anyway, a test fails without it.
//!
//! `/dev/kvm` on the CI machines is a nested software KVM; these VMMs run
//! there only as far as a firmware's first steps, so the tests assert on
//! what the firmware itself prints: the door it came through, the command
//! line, a disk found and a file on its ESP hashed correctly, and a clean
//! stop.

use itest::images::{pseudo_bytes, sha256_hex, Contents, Disk};
use itest::{boot_cloud_hypervisor, boot_firecracker, cloud_hypervisor, firecracker};

/// Small: on the nested software KVM these machines have, the firmware's
/// code runs far slower than natively, and hashing a megabyte takes minutes.
const LEN: u64 = 64 * 1024 + 123;

fn disk() -> (std::path::PathBuf, String) {
    let img =
        Disk::new("vmm-esp").file("/vmfw/test.bin", Contents::Pseudo { len: LEN, seed: 7 }).build();
    (img, sha256_hex(&pseudo_bytes(LEN, 7)))
}

#[test]
#[ignore = "needs CLOUD_HYPERVISOR=<path to cloud-hypervisor>"]
fn cloud_hypervisor_pvh() {
    let bin =
        cloud_hypervisor().unwrap_or_else(|why| panic!("cannot test Cloud Hypervisor: {why}"));
    let out = boot_cloud_hypervisor(&bin, "foundation", "vmfw.log=info hello=world", None);
    out.expect("entered via PVH")
        .expect("hello=world")
        .expect("no bootable device")
        .expect_exited();
    let (img, sum) = disk();
    let out = boot_cloud_hypervisor(&bin, "storage", "vmfw.hash=/vmfw/test.bin", Some(&img));
    out.expect("virtio-blk pci")
        .expect(&format!("sha256 disk0 /vmfw/test.bin {sum}"))
        .expect_exited();
}

#[test]
#[ignore = "needs FIRECRACKER=<path to firecracker>"]
fn firecracker_both_doors() {
    let bin = firecracker().unwrap_or_else(|why| panic!("cannot test Firecracker: {why}"));
    let (img, sum) = disk();
    for (pvh, door) in
        [(true, "entered via PVH"), (false, "entered via the Linux 64-bit boot protocol")]
    {
        let out = boot_firecracker(&bin, "foundation", "vmfw.log=info hello=world", pvh, None);
        out.expect(door).expect("hello=world").expect("no bootable device").expect_exited();
        let out = boot_firecracker(&bin, "storage", "vmfw.hash=/vmfw/test.bin", pvh, Some(&img));
        out.expect(door)
            .expect("virtio-blk mmio")
            .expect(&format!("sha256 disk0 /vmfw/test.bin {sum}"))
            .expect_exited();
    }
}
