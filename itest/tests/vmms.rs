//! Cloud Hypervisor and Firecracker, when their binaries are given.
//!
//! `/dev/kvm` on the CI machines is a nested software KVM; these VMMs run
//! there only as far as a firmware's first steps, so the tests assert on
//! what the firmware itself prints.

use itest::{boot_cloud_hypervisor, boot_firecracker, cloud_hypervisor, firecracker};

#[test]
fn cloud_hypervisor_pvh() {
    let Some(bin) = cloud_hypervisor() else {
        eprintln!("skipped: set CLOUD_HYPERVISOR=/path/to/cloud-hypervisor to run this test");
        return;
    };
    let out = boot_cloud_hypervisor(&bin, "foundation", "vmfw.log=info hello=world");
    out.expect("entered via PVH")
        .expect("hello=world")
        .expect("no bootable device")
        .expect_exited();
}

#[test]
fn firecracker_both_doors() {
    let Some(bin) = firecracker() else {
        eprintln!("skipped: set FIRECRACKER=/path/to/firecracker to run this test");
        return;
    };
    let out = boot_firecracker(&bin, "foundation", "vmfw.log=info hello=world", true);
    out.expect("entered via PVH")
        .expect("hello=world")
        .expect("no bootable device")
        .expect_exited();
    let out = boot_firecracker(&bin, "foundation", "vmfw.log=info hello=world", false);
    out.expect("entered via the Linux 64-bit boot protocol")
        .expect("hello=world")
        .expect("no bootable device")
        .expect_exited();
}
