//! The image builder makes disks that standard tools read back.

use itest::images::{Contents, Disk, Fat, Scheme};
use std::process::Command;

#[test]
fn gpt_fat32_image_reads_back() {
    let d = Disk::new("smoke")
        .file("/vmfw/test.bin", Contents::Pseudo { len: 5000, seed: 1 })
        .file("/EFI/BOOT/A Long Name.txt", Contents::Bytes(b"hello".to_vec()));
    let p = d.build();
    let out = Command::new("sgdisk").arg("-p").arg(&p).output().expect("sgdisk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EF00"), "{text}");
    let out = Command::new("mdir")
        .args(["-i", &format!("{}@@1M", p.display()), "::/EFI/BOOT"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("A Long Name.txt"));
    let mbr = Disk { scheme: Scheme::Mbr, fat: Fat::Fat16, esp_mib: 16, ..Disk::new("smoke-mbr") }
        .build();
    assert!(mbr.exists());
}
