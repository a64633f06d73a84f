//! Hostile disks: each test breaks one structure of a good test disk on
//! purpose and boots it under QEMU. The firmware must print one line that
//! names the problem and then either boot what is still good or power off
//! cleanly within the timeout: never hang, fault, panic or reset.
//!
//! The good disks are the cached test images (`itest::bls`, the kernel and
//! systemd-boot from Debian's packages); the edits are made by
//! `itest::hostile`, which reads the structures with its own small parser.

use itest::bls::{BlsDisk, BASE_OPTIONS};
use itest::hostile::{FatView, Image, PeView};
use itest::images::{Contents, Disk, Scheme};
use itest::initrd::MARKER;
use itest::{Attach, Machine, Outcome, Vm};
use std::path::Path;
use std::time::Duration;

/// The BLS disk's ESP starts at LBA 2048 (1 MiB).
const ESP: usize = 1 << 20;

/// How long a hostile run may take before it counts as a hang. Runs that
/// end in a power-off take a few seconds under TCG.
const BOUND: Duration = Duration::from_secs(60);

fn bls_image() -> Image {
    let path = BlsDisk::new("bls").build().unwrap_or_else(|e| panic!("BLS disk: {e}"));
    Image::open(&path, 512)
}

fn boot(name: &str, img: &Path, memory: &str) -> Outcome {
    Vm::new(name, Machine::Q35)
        .memory(memory)
        .disk(img, Attach::PciModern)
        .timeout(BOUND)
        .boots_kernel()
        .run()
}

/// The firmware named the problem (`line`), did not fault, and powered off
/// by itself because nothing else was bootable.
fn ends_cleanly(out: &Outcome, line: &str) {
    out.expect(line);
    out.expect("no bootable");
    for bad in ["EXCEPTION", "panicked", "triple"] {
        assert!(!out.log.contains(bad), "{bad} in {}", out.log_path.display());
    }
    out.expect_clean_poweroff();
}

/// The firmware named the problem and still booted the kernel.
fn boots_anyway(out: &Outcome, line: &str) {
    out.expect(line);
    out.expect(MARKER);
    out.expect_exited();
}

fn fat(img: &Image) -> FatView {
    img.fat(ESP)
}

// ---- GPT ----

#[test]
fn gpt_primary_header_crc_bad_backup_boots() {
    let mut img = bls_image();
    let h = img.lba(1) + 16;
    let crc = img.u32_at(h) ^ 0x5a5a_5a5a;
    img.put(h, &crc.to_le_bytes());
    let path = img.save("gpt-crc");
    boots_anyway(&boot("hostile-gpt-crc", &path, "512M"), "backup header");
}

#[test]
fn gpt_partition_past_the_disk_end() {
    let mut img = bls_image();
    let end = img.bytes.len() as u64 / 512 + 1000;
    img.edit_gpt(|img, _, array| img.put(array + 40, &end.to_le_bytes()));
    let path = img.save("gpt-past-end");
    ends_cleanly(
        &boot("hostile-gpt-past-end", &path, "512M"),
        "entry #1 skipped: outside the usable LBA range",
    );
}

#[test]
fn gpt_absurd_entry_count_and_size() {
    let mut img = bls_image();
    img.edit_gpt(|img, h, _| {
        img.put(h + 80, &0xffff_fff0u32.to_le_bytes());
        img.put(h + 84, &0x8000_0000u32.to_le_bytes());
    });
    let path = img.save("gpt-absurd");
    ends_cleanly(&boot("hostile-gpt-absurd", &path, "512M"), "partition entry array too large");
}

#[test]
fn gpt_128_partitions_with_the_esp_last() {
    let img = Disk { scheme: Scheme::Gpt { esp_number: 128 }, ..Disk::new("hostile-p128") }
        .file("/vmfw/test.txt", Contents::Bytes(b"found on partition 128\n".to_vec()))
        .build();
    let out = Vm::new("hostile-p128", Machine::Q35)
        .disk(&img, Attach::PciModern)
        .timeout(BOUND)
        .append("vmfw.hash=/vmfw/test.txt")
        .run();
    out.expect("#128 ESP").expect("vmfw: sha256 disk0 /vmfw/test.txt").expect_clean_poweroff();
}

// ---- FAT ----

#[test]
fn fat_directory_chain_loops() {
    let mut img = bls_image();
    let v = fat(&img);
    let dir = v.find(&img, "/loader/entries");
    let chain = v.chain(&img, dir.cluster);
    // Fill every free slot after the last entry with deleted entries, so a
    // reader finds no end mark and must follow the chain, which then comes
    // back to its start.
    for &c in &chain {
        let at = v.cluster(c);
        for slot in (at..at + v.cluster_bytes()).step_by(32) {
            if img.bytes[slot] == 0 {
                img.put(slot, &[0xe5]);
            }
        }
    }
    v.set_next(&mut img, *chain.last().expect("a chain"), dir.cluster);
    let path = img.save("fat-dir-loop");
    // The entries read before the loop closed are still good.
    boots_anyway(
        &boot("hostile-fat-dir-loop", &path, "512M"),
        "/loader/entries: cluster chain loops; using the 2 entries read before it",
    );
}

#[test]
fn fat_directory_contains_itself() {
    // /loader/entries' entry for `.` is rewritten into a directory named
    // ENTRIES that points back at /loader/entries itself.
    let mut img = bls_image();
    let v = fat(&img);
    let dir = v.find(&img, "/loader/entries");
    let dot = v.list(&img, dir.cluster).into_iter().find(|e| e.name == ".").expect(". entry");
    img.put(dot.offset, b"SELF       ");
    let path = img.save("fat-dir-self");
    // The firmware lists /loader/entries once; a subdirectory in it is not
    // an entry, so the disk's entries still boot.
    boots_anyway(&boot("hostile-fat-dir-self", &path, "512M"), "booting entry");
}

#[test]
fn fat_cross_linked_kernel_and_initrd() {
    let mut img = bls_image();
    let v = fat(&img);
    let kernel = v.find(&img, "/debian/vmlinuz");
    let initrd = v.find(&img, "/debian/initrd.img");
    v.set_cluster(&mut img, &kernel, initrd.cluster);
    let path = img.save("fat-cross");
    // The kernel's chain is now the (shorter) initrd's.
    ends_cleanly(
        &boot("hostile-fat-cross", &path, "512M"),
        "/debian/vmlinuz: cluster chain shorter than the file size",
    );
}

#[test]
fn fat_file_larger_than_its_chain() {
    let mut img = bls_image();
    let v = fat(&img);
    let kernel = v.find(&img, "/debian/vmlinuz");
    v.set_size(&mut img, &kernel, kernel.size + (16 << 20));
    let path = img.save("fat-short-chain");
    ends_cleanly(
        &boot("hostile-fat-short-chain", &path, "512M"),
        "/debian/vmlinuz: cluster chain shorter than the file size",
    );
}

#[test]
fn fat_zero_cluster_size() {
    let mut img = bls_image();
    let off = fat(&img).boot_sector(13);
    img.put(off, &[0]);
    let path = img.save("fat-zero-cluster");
    ends_cleanly(
        &boot("hostile-fat-zero-cluster", &path, "512M"),
        "not FAT: bad sectors per cluster 0",
    );
}

// ---- Boot Loader Specification entries ----

#[test]
fn bls_entry_with_invalid_utf8() {
    let mut img = bls_image();
    let v = fat(&img);
    let entry = v.find(&img, "/loader/entries/debian-6.1.conf");
    let at = v.cluster(entry.cluster);
    let text = &img.bytes[at..at + entry.size as usize];
    let title = text.windows(6).position(|w| w == b"title ").expect("a title line");
    img.put(at + title + 8, &[0xff, 0xfe]);
    let path = img.save("bls-utf8");
    // The line is ignored with a warning; the entry still has its kernel.
    let out = boot("hostile-bls-utf8", &path, "512M");
    boots_anyway(&out, "debian-6.1.conf: line 2: not UTF-8");
    assert!(out.log.contains("vmfw.test.entry=debian-6.1"), "{}", out.log_path.display());
}

#[test]
fn bls_entry_with_a_1_mib_line() {
    let mut entry = b"title ".to_vec();
    entry.resize(1 << 20, b'x');
    entry.extend_from_slice(b"\nlinux /vmlinuz\n");
    let img = Disk::new("hostile-long-line")
        .file("/loader/entries/long.conf", Contents::Bytes(entry))
        .build();
    ends_cleanly(&boot("hostile-bls-long-line", &img, "512M"), "long.conf: file too large");
}

// ---- Kernels ----

/// A disk with one BLS entry for `kernel` (and a small initrd of
/// `initrd_len` bytes when given).
fn kernel_disk(name: &str, kernel: Vec<u8>, initrd_len: Option<u64>) -> std::path::PathBuf {
    let mut entry = format!("title {name}\nlinux /vmlinuz\noptions {BASE_OPTIONS}\n");
    let mut disk = Disk { esp_mib: 64, ..Disk::new(name) };
    if let Some(len) = initrd_len {
        entry.push_str("initrd /initrd.img\n");
        disk.esp_mib = 64 + (len >> 20);
        disk = disk.file("/initrd.img", Contents::Pseudo { len, seed: 7 });
    }
    disk.file("/loader/entries/k.conf", Contents::Bytes(entry.into_bytes()))
        .file("/vmlinuz", Contents::Bytes(kernel))
        .build()
}

fn debian_kernel() -> Vec<u8> {
    let path = itest::debian::kernel().unwrap_or_else(|e| panic!("kernel: {e}"));
    std::fs::read(path).expect("read kernel")
}

#[test]
fn kernel_with_bogus_setup_sects() {
    let mut k = debian_kernel();
    k[0x1f1] = 0xff;
    let img = kernel_disk("hostile-setup-sects", k, None);
    ends_cleanly(&boot("hostile-setup-sects", &img, "512M"), "/vmlinuz: kernel image truncated");
}

#[test]
fn kernel_asking_for_more_memory_than_exists() {
    let mut k = debian_kernel();
    k[0x260..0x264].copy_from_slice(&0xf000_0000u32.to_le_bytes());
    let img = kernel_disk("hostile-init-size", k, None);
    ends_cleanly(&boot("hostile-init-size", &img, "512M"), "/vmlinuz: no room for the kernel");
}

#[test]
fn initrd_larger_than_ram() {
    let img = kernel_disk("hostile-big-initrd", debian_kernel(), Some(160 << 20));
    ends_cleanly(&boot("hostile-big-initrd", &img, "128M"), "no room for the initrd");
}

// ---- PE images ----

/// A disk with `pe` as the removable-media boot file and nothing else.
fn pe_disk(name: &str, pe: Vec<u8>) -> std::path::PathBuf {
    Disk::new(name).file("/EFI/BOOT/BOOTX64.EFI", Contents::Bytes(pe)).build()
}

fn systemd_boot() -> Vec<u8> {
    let path = itest::uefi::systemd_boot().unwrap_or_else(|e| panic!("systemd-boot: {e}"));
    std::fs::read(path).expect("read systemd-boot")
}

#[test]
fn pe_with_overlapping_sections() {
    let mut pe = systemd_boot();
    let v = PeView::new(&pe);
    let (a, b) = (v.section(0), v.section(1));
    let va = pe[a + 12..a + 16].to_vec();
    pe[b + 12..b + 16].copy_from_slice(&va);
    let img = pe_disk("hostile-pe-overlap", pe);
    ends_cleanly(&boot("hostile-pe-overlap", &img, "512M"), "sections 0 and 1 overlap");
}

#[test]
fn pe_with_a_huge_size_of_image() {
    let mut pe = systemd_boot();
    let v = PeView::new(&pe);
    pe[v.optional + 56..v.optional + 60].copy_from_slice(&0xffff_f000u32.to_le_bytes());
    let img = pe_disk("hostile-pe-huge", pe);
    ends_cleanly(&boot("hostile-pe-huge", &img, "512M"), "bad SizeOfImage");
}

#[test]
fn pe_with_relocations_outside_the_image() {
    let mut pe = systemd_boot();
    let v = PeView::new(&pe);
    let dir = v.directory(5);
    let rva = u32::from_le_bytes(pe[dir..dir + 4].try_into().unwrap());
    let at = v.file_offset(&pe, rva).expect("relocation table in a section");
    // The first block: a page far outside the image, and its first entry
    // a 64-bit fixup there (systemd-boot's own block holds only padding).
    pe[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    pe[at + 8..at + 10].copy_from_slice(&0xa008u16.to_le_bytes());
    let img = pe_disk("hostile-pe-reloc", pe);
    ends_cleanly(&boot("hostile-pe-reloc", &img, "512M"), "relocation");
}

// ---- Resource extremes ----

#[test]
fn vm_with_64_mib_of_ram() {
    let path = BlsDisk::new("bls").build().unwrap_or_else(|e| panic!("BLS disk: {e}"));
    // Debian's kernel alone asks for 64 MiB once decompressed.
    ends_cleanly(&boot("hostile-64m", &path, "64M"), "/debian/vmlinuz: no room for the kernel");
}

#[test]
fn eight_disks_seven_of_them_blank_4_tib() {
    let good = BlsDisk::new("bls").build().unwrap_or_else(|e| panic!("BLS disk: {e}"));
    let dir = itest::root().join("target").join("itest-tmp");
    std::fs::create_dir_all(&dir).expect("itest-tmp");
    let mut vm = Vm::new("hostile-8-disks", Machine::Q35).timeout(BOUND).boots_kernel();
    for i in 0..7 {
        let blank = dir.join(format!("hostile-blank-4t-{i}.img"));
        let f = std::fs::File::create(&blank).expect("create blank disk");
        f.set_len(4 << 40).expect("a sparse 4 TiB file");
        vm = vm.disk(&blank, Attach::PciModern);
    }
    let out = vm.disk(&good, Attach::PciModern).run();
    out.expect("disk0: virtio-blk pci")
        .expect("4194304 MiB")
        .expect("disk6: no partition table (no MBR, no GPT)")
        .expect("disk7: GPT")
        .expect(MARKER)
        .expect_exited();
}
