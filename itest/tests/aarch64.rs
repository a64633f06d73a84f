//! arm64: vmfw's arm64 build (`target/vmfw-aarch64.bin`) under QEMU
//! `virt` (TCG, `-cpu max,pauth-impdef=on`) boots test disks built from
//! Debian 12's arm64 packages, each on virtio-blk-pci and on virtio-mmio:
//!
//! - natively, from Boot Loader Specification entries whose kernel is
//!   Debian's arm64 `vmlinuz` as shipped (an uncompressed `Image` in
//!   6.1.192) or that kernel gzip-compressed (as older Debian builds
//!   shipped it), falling back past a default entry whose kernel is
//!   missing or garbage;
//! - through UEFI: a unified kernel image (`linuxaa64.efi.stub`),
//!   systemd-boot (`systemd-bootaa64.efi`), and Debian's signed shim +
//!   GRUB (`shimaa64.efi`, `grubaa64.efi`);
//! - with no disk, or a blank one: a clean stop (PSCI power-off);
//! - entered at EL2 (`virtualization=on`), natively and through UEFI;
//! - runtime services from Linux: a variable written, a reset through
//!   `ResetSystem()`, the variable read back.
//!
//! The markers and log lines are those of the x86_64 tests (`native.rs`,
//! `uefi.rs`, `shim_grub.rs`, `foundation.rs`). Every `vmfw_*` test fails
//! with "run `cargo xtask build --arch aarch64`" until that file exists.
//!
//! The `reference_*` tests boot the same disks without vmfw: QEMU's
//! direct kernel boot for the native content, edk2's `QEMU_EFI.fd`
//! (Debian's `qemu-efi-aarch64`) for the UEFI disks, so that a failure of
//! vmfw is not a broken test image. `boot_times` (ignored unless
//! `VMFW_ARM64_TIMES` is set) times the UEFI disks to their markers under
//! edk2, QEMU's direct boot and, when it is built, vmfw.

use itest::arch::Arch;
use itest::arm64::{self, median, times_to_marker, ArmVm, Transport};
use itest::bls::{base_options, BlsDisk};
use itest::initrd::{Then, EFI_ABSENT, EFI_MARKER, MARKER};
use itest::shim::{self, ESP_TOKEN, EXT4_TOKEN};
use itest::uefi::{self, FIRMWARE_CMDLINE, SDBOOT_INITRD_ARG, SDBOOT_TOKEN, UKI_TOKEN};
use itest::Outcome;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ARM: Arch = Arch::Aarch64;

/// The `VMFW-EFI` line; panics when the kernel saw no UEFI.
fn efi_report(out: &Outcome) -> &str {
    let l = out.line(EFI_MARKER);
    assert!(
        !l.contains(EFI_ABSENT),
        "the kernel saw no UEFI (/sys/firmware/efi missing): {l} ({})",
        out.log_path.display()
    );
    no_firmware_bug(out);
    l
}

/// Linux found nothing wrong with the runtime services it called (it
/// checks, for one, that x18 survives each call).
fn no_firmware_bug(out: &Outcome) {
    if let Some(bad) = out.log.lines().find(|l| l.contains("[Firmware Bug]")) {
        panic!("Linux reports a firmware bug: {bad} ({})", out.log_path.display());
    }
}

fn built(what: &str, r: Result<PathBuf, String>) -> PathBuf {
    r.unwrap_or_else(|e| panic!("building the arm64 {what}: {e}"))
}

/// Boots `img` with vmfw on `transport`, with vmfw's command line `append`.
fn vmfw(name: &str, img: &Path, transport: Transport, append: &str) -> Outcome {
    ArmVm::vmfw(&format!("arm64-{name}-{}", transport.name()))
        .append(append)
        .disk(img, transport)
        .run()
}

// ---- Native boot (Boot Loader Specification entries) -------------------

fn bls_disk(name: &str) -> BlsDisk {
    BlsDisk::for_arch(name, ARM)
}

/// The first two bytes of `path`.
fn magic(path: &Path) -> [u8; 2] {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    [bytes.first().copied().unwrap_or(0), bytes.get(1).copied().unwrap_or(0)]
}

/// Boots the BLS disk (its kernel gzip-compressed or as shipped) and
/// checks that the default entry booted with its options.
fn bls_default_boots(transport: Transport, gzip: bool) {
    let (name, log) = if gzip { ("bls-gz", "native-gz") } else { ("bls", "native") };
    let disk = BlsDisk { gzip_kernel: gzip, ..bls_disk(name) };
    let img = built("BLS disk", disk.build());
    let out = vmfw(log, &img, transport, "");
    let c = out.kernel_cmdline();
    assert!(c.contains("vmfw.test.entry=debian-6.1"), "wrong entry booted: {c}");
    assert!(c.contains(&base_options(ARM)), "options did not reach the kernel: {c}");
    out.expect_exited();
}

/// Entered at EL2 (QEMU `virtualization=on`, as a loader may do per
/// booting.rst): the firmware drops to EL1 with nothing trapped that the
/// kernel uses, and boots the gzip kernel natively and the UKI through
/// UEFI.
#[test]
fn vmfw_entered_at_el2_pci() {
    let disk = BlsDisk { gzip_kernel: true, ..bls_disk("bls-gz") };
    let img = built("BLS disk", disk.build());
    let out = ArmVm::vmfw("arm64-el2-native-pci")
        .arg("-machine")
        .arg("virtualization=on")
        .disk(&img, Transport::Pci)
        .run();
    let c = out.kernel_cmdline();
    assert!(c.contains("vmfw.test.entry=debian-6.1"), "wrong entry booted: {c}");
    out.expect_exited();
    let out = ArmVm::vmfw("arm64-el2-uki-pci")
        .arg("-machine")
        .arg("virtualization=on")
        .append(FIRMWARE_CMDLINE)
        .disk(&uki_disk(), Transport::Pci)
        .run();
    check_uki(&out);
}

/// The entry's kernel is gzip-compressed (`1f 8b`), as Debian's arm64
/// `vmlinuz` was before 6.1.192 and as other distributions ship it: the
/// firmware inflates it.
#[test]
fn vmfw_bls_gzip_vmlinuz_pci() {
    bls_default_boots(Transport::Pci, true);
}

#[test]
fn vmfw_bls_gzip_vmlinuz_mmio() {
    bls_default_boots(Transport::Mmio, true);
}

/// The entry's kernel is Debian 12's current arm64 `vmlinuz` as shipped:
/// an uncompressed `Image` (an EFI PE, `MZ` first).
#[test]
fn vmfw_bls_image_pci() {
    bls_default_boots(Transport::Pci, false);
}

#[test]
fn vmfw_bls_image_mmio() {
    bls_default_boots(Transport::Mmio, false);
}

/// `loader.conf`'s default names a broken entry (its kernel missing, or
/// garbage behind a gzip header): the firmware says so and boots the next.
fn broken_default_falls_back(transport: Transport, garbage: bool) {
    let (name, what) = if garbage { ("bls-garbage", "garbage") } else { ("bls-broken", "missing") };
    let disk = BlsDisk {
        broken_default: true,
        garbage_kernel: garbage,
        gzip_kernel: true,
        ..bls_disk(name)
    };
    let img = built("BLS disk with a broken default", disk.build());
    let out = vmfw(&format!("native-fallback-{what}"), &img, transport, "");
    out.expect("broken-7.0");
    let c = out.kernel_cmdline();
    assert!(c.contains("vmfw.test.entry=debian-6.1"), "fallback booted the wrong entry: {c}");
    out.expect_exited();
}

#[test]
fn vmfw_bls_missing_kernel_falls_back_pci() {
    broken_default_falls_back(Transport::Pci, false);
}

#[test]
fn vmfw_bls_missing_kernel_falls_back_mmio() {
    broken_default_falls_back(Transport::Mmio, false);
}

#[test]
fn vmfw_bls_garbage_kernel_falls_back_pci() {
    broken_default_falls_back(Transport::Pci, true);
}

#[test]
fn vmfw_bls_garbage_kernel_falls_back_mmio() {
    broken_default_falls_back(Transport::Mmio, true);
}

// ---- UEFI ----------------------------------------------------------------

fn uki_disk() -> PathBuf {
    built("UKI disk", uefi::uki_disk_for(ARM, Then::PowerOff))
}

fn sdboot_disk() -> PathBuf {
    built("systemd-boot disk", uefi::sdboot_disk_for(ARM, Then::PowerOff))
}

fn shim_esp_disk() -> PathBuf {
    built("shim + GRUB disk", shim::esp_disk_for(ARM, Then::PowerOff))
}

fn shim_ext4_disk() -> PathBuf {
    built("shim + GRUB disk with ext4 /boot", shim::ext4_disk_for(ARM, Then::PowerOff))
}

/// The UKI's `.cmdline` reached the kernel (only systemd-stub knows it),
/// through UEFI.
fn check_uki(out: &Outcome) {
    let c = out.kernel_cmdline();
    assert!(c.contains(UKI_TOKEN), "the UKI's .cmdline did not reach the kernel: {c}");
    assert!(c.contains(&base_options(ARM)), "the UKI's .cmdline did not reach the kernel: {c}");
    efi_report(out);
    out.expect_exited();
}

/// systemd-boot started the entry's kernel: its options, and the
/// `initrd=` systemd-boot puts first.
fn check_sdboot(out: &Outcome) {
    let c = out.kernel_cmdline();
    assert!(c.contains(SDBOOT_TOKEN), "the entry's options did not reach the kernel: {c}");
    assert!(
        c.contains(SDBOOT_INITRD_ARG),
        "no {SDBOOT_INITRD_ARG:?}: systemd-boot did not start the kernel: {c}"
    );
    efi_report(out);
    out.expect_exited();
}

/// What every shim + GRUB boot must show (`itest::shim::check_boot`, as
/// on x86_64), and no firmware bug reported by Linux.
fn check_shim_grub(out: &Outcome, variant: &str, token: &str) {
    no_firmware_bug(out);
    shim::check_boot(out, variant, token);
}

/// Secure Boot on arm64 (issue 16's code, the same as on x86_64): with
/// Debian's OVMF keys enrolled into the arm64 image, vmfw verifies
/// Debian's arm64 shim against the Microsoft UEFI CA in `db`, shim and
/// GRUB verify the rest, and the kernel sees Secure Boot on.
#[test]
fn vmfw_secure_boot_shim_grub_pci() {
    let fw =
        built("Secure Boot firmware", itest::secure_boot::enrolled_image(&arm64::firmware(), &[]));
    let out = ArmVm::new("arm64-secure-boot-shim-grub-pci", arm64::Loader::VmfwImage(fw))
        .disk(&shim_esp_disk(), Transport::Pci)
        .run();
    out.line("secure boot keys: PK 1, KEK 2, db 2");
    out.line("EFI stub: UEFI Secure Boot is enabled.");
    let efi = efi_report(&out);
    assert!(
        efi.contains("secureboot=[01] setupmode=[00]"),
        "the kernel did not see Secure Boot on: {efi} ({})",
        out.log_path.display()
    );
    assert!(
        out.kernel_cmdline().contains(ESP_TOKEN),
        "GRUB's entry did not boot ({})",
        out.log_path.display()
    );
    out.expect_exited();
}

#[test]
fn vmfw_uki_pci() {
    check_uki(&vmfw("uki", &uki_disk(), Transport::Pci, FIRMWARE_CMDLINE));
}

#[test]
fn vmfw_uki_mmio() {
    check_uki(&vmfw("uki", &uki_disk(), Transport::Mmio, FIRMWARE_CMDLINE));
}

#[test]
fn vmfw_sdboot_pci() {
    check_sdboot(&vmfw("sdboot", &sdboot_disk(), Transport::Pci, FIRMWARE_CMDLINE));
}

#[test]
fn vmfw_sdboot_mmio() {
    check_sdboot(&vmfw("sdboot", &sdboot_disk(), Transport::Mmio, FIRMWARE_CMDLINE));
}

#[test]
fn vmfw_shim_grub_esp_pci() {
    check_shim_grub(&vmfw("shim-grub-esp", &shim_esp_disk(), Transport::Pci, ""), "esp", ESP_TOKEN);
}

#[test]
fn vmfw_shim_grub_esp_mmio() {
    let out = vmfw("shim-grub-esp", &shim_esp_disk(), Transport::Mmio, "");
    check_shim_grub(&out, "esp", ESP_TOKEN);
}

#[test]
fn vmfw_shim_grub_ext4_pci() {
    let out = vmfw("shim-grub-ext4", &shim_ext4_disk(), Transport::Pci, "");
    check_shim_grub(&out, "ext4", EXT4_TOKEN);
}

/// Runtime services from Linux, end to end: the initrd writes a
/// non-volatile variable through efivarfs (`SetVariable()` at runtime),
/// makes `Boot0001` the only `BootOrder` entry and reboots, which arm64
/// Linux does through `ResetSystem()`; QEMU resets the VM (not exits),
/// vmfw finds the variables it kept in RAM, follows `BootOrder`, and the
/// second boot reads the variable back (`GetVariable()`).
#[test]
fn vmfw_runtime_variables_and_reset_pci() {
    use itest::initrd::{KEPT_MARKER, REBOOTING_MARKER};
    let img = built("UKI disk", uefi::uki_disk_for(ARM, Then::RebootOnce));
    let out = ArmVm::vmfw("arm64-uki-warm-reset-pci")
        .append(FIRMWARE_CMDLINE)
        .disk(&img, Transport::Pci)
        // Later than the harness's -no-reboot: a reset resets the VM.
        .arg("-action")
        .arg("reboot=reset")
        .run();
    out.line(REBOOTING_MARKER);
    let kept = out.line(KEPT_MARKER);
    assert!(kept.contains("warm-reset-ok"), "the variable lost its value: {kept}");
    out.line("kept from before the reset");
    out.line("Boot0001 (");
    assert!(kept.contains("bootcurrent=0100"), "BootCurrent is not Boot0001: {kept}");
    no_firmware_bug(&out);
    out.expect_exited();
}

// ---- Nothing to boot -------------------------------------------------------

/// A 64 MiB disk of zeros (no partition table), made once (sparse).
fn blank_disk() -> PathBuf {
    let dir = itest::images::cache_dir().join("images");
    std::fs::create_dir_all(&dir).expect("create image cache");
    let path = dir.join("arm64-blank-64M.img");
    if !path.exists() {
        let tmp = dir.join(format!(".arm64-blank-{}.tmp", std::process::id()));
        let f = std::fs::File::create(&tmp).expect("create blank disk");
        f.set_len(64 << 20).expect("size blank disk");
        std::fs::rename(&tmp, &path).expect("rename blank disk");
    }
    path
}

/// The clean stop the x86_64 tests expect: the firmware's last error
/// line (`no bootable device` without disks, `no bootable entry on <n>
/// disk(s)` with), no fault, and a power-off through PSCI (QEMU exits 0).
fn check_clean_stop(out: &Outcome, line: &str) {
    out.expect(line).expect("vmfw: powering off");
    for bad in ["EXCEPTION", "panicked", "fatal"] {
        assert!(!out.log.contains(bad), "{bad} in {}", out.log_path.display());
    }
    out.expect_clean_poweroff();
}

#[test]
fn vmfw_no_disk_powers_off() {
    let out = ArmVm::vmfw("arm64-no-disk").timeout(Duration::from_secs(120)).run();
    check_clean_stop(&out, "no bootable device");
}

#[test]
fn vmfw_blank_disk_powers_off_pci() {
    let out = vmfw("blank-disk", &blank_disk(), Transport::Pci, "");
    check_clean_stop(&out, "no bootable entry on 1 disk(s)");
}

#[test]
fn vmfw_blank_disk_powers_off_mmio() {
    let out = vmfw("blank-disk", &blank_disk(), Transport::Mmio, "");
    check_clean_stop(&out, "no bootable entry on 1 disk(s)");
}

// ---- References: the same content without vmfw ------------------------------

/// A file in the image cache holding `bytes`, named by their hash.
fn cached_file(stem: &str, bytes: &[u8]) -> PathBuf {
    let dir = itest::images::cache_dir().join("images");
    std::fs::create_dir_all(&dir).expect("create image cache");
    let key = &itest::images::sha256_hex(bytes)[..16];
    let path = dir.join(format!("{stem}-{key}"));
    if !path.exists() {
        let tmp = dir.join(format!(".{stem}-{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).expect("write cached file");
        std::fs::rename(&tmp, &path).expect("rename cached file");
    }
    path
}

/// The BLS disks' initrd (busybox, plain marker) as a file.
fn native_initrd() -> PathBuf {
    let busybox = itest::debian::busybox_for(ARM).unwrap_or_else(|e| panic!("busybox: {e}"));
    let busybox = std::fs::read(&busybox).unwrap_or_else(|e| panic!("{}: {e}", busybox.display()));
    cached_file("arm64-initrd", &itest::initrd::build(&busybox, Then::PowerOff))
}

/// The UEFI disks' initrd ([`itest::initrd::build_efi`]) as a file.
fn efi_initrd() -> PathBuf {
    let bytes = uefi::efi_initrd_for(ARM, Then::PowerOff).unwrap_or_else(|e| panic!("{e}"));
    cached_file("arm64-efi-initrd", &bytes)
}

/// What each UEFI disk boots, for QEMU's direct kernel boot: its kernel
/// file (the one the disk holds), the initrd and the command line its
/// loader would give.
fn direct_content(image: UefiImage) -> (PathBuf, PathBuf, String) {
    let options = base_options(ARM);
    match image {
        UefiImage::Uki => (
            uefi::efi_kernel(ARM).unwrap_or_else(|e| panic!("{e}")),
            efi_initrd(),
            uefi::uki_cmdline_for(ARM),
        ),
        UefiImage::Sdboot => (
            uefi::efi_kernel(ARM).unwrap_or_else(|e| panic!("{e}")),
            efi_initrd(),
            format!("{SDBOOT_INITRD_ARG} {options} {SDBOOT_TOKEN}"),
        ),
        UefiImage::ShimGrub => (
            itest::debian::kernel_for(ARM).unwrap_or_else(|e| panic!("{e}")),
            efi_initrd(),
            format!("BOOT_IMAGE=/debian/vmlinuz {options} {ESP_TOKEN}"),
        ),
    }
}

/// The UEFI disks.
#[derive(Debug, Clone, Copy)]
enum UefiImage {
    Uki,
    Sdboot,
    ShimGrub,
}

impl UefiImage {
    const ALL: [UefiImage; 3] = [UefiImage::Uki, UefiImage::Sdboot, UefiImage::ShimGrub];

    fn name(self) -> &'static str {
        match self {
            UefiImage::Uki => "uki",
            UefiImage::Sdboot => "sdboot",
            UefiImage::ShimGrub => "shim-grub-esp",
        }
    }

    fn disk(self) -> PathBuf {
        match self {
            UefiImage::Uki => uki_disk(),
            UefiImage::Sdboot => sdboot_disk(),
            UefiImage::ShimGrub => shim_esp_disk(),
        }
    }

    /// vmfw's command line for this disk.
    fn vmfw_cmdline(self) -> &'static str {
        match self {
            UefiImage::ShimGrub => "",
            _ => FIRMWARE_CMDLINE,
        }
    }

    fn check(self, out: &Outcome) {
        match self {
            UefiImage::Uki => check_uki(out),
            UefiImage::Sdboot => check_sdboot(out),
            UefiImage::ShimGrub => check_shim_grub(out, "esp", ESP_TOKEN),
        }
    }
}

/// QEMU boots the BLS disks' kernels (the gzip-compressed one and
/// Debian's as shipped) and initrd directly: the kernel, initrd and
/// console options work.
#[test]
fn reference_direct_boot_of_native_content() {
    let gz = itest::debian::arm64_vmlinuz_gz().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(magic(&gz), [0x1f, 0x8b], "{} is not gzip", gz.display());
    let shipped = itest::debian::kernel_for(ARM).unwrap_or_else(|e| panic!("{e}"));
    for (kernel, what) in [(gz, "gz"), (shipped, "shipped")] {
        let append = format!("{} vmfw.test.entry=direct-{what}", base_options(ARM));
        let name = format!("arm64-reference-direct-{what}");
        let out = ArmVm::direct(&name, &kernel, Some(&native_initrd()), &append).run();
        let c = out.kernel_cmdline();
        assert!(c.contains(&format!("vmfw.test.entry=direct-{what}")), "{c}");
        out.expect_clean_poweroff();
    }
}

fn edk2_boots(image: UefiImage, transport: Transport) {
    let name = format!("arm64-reference-edk2-{}-{}", image.name(), transport.name());
    let out = ArmVm::edk2(&name).disk(&image.disk(), transport).run();
    image.check(&out);
}

#[test]
fn reference_edk2_uki_pci() {
    edk2_boots(UefiImage::Uki, Transport::Pci);
}

#[test]
fn reference_edk2_sdboot_pci() {
    edk2_boots(UefiImage::Sdboot, Transport::Pci);
}

#[test]
fn reference_edk2_shim_grub_esp_pci() {
    edk2_boots(UefiImage::ShimGrub, Transport::Pci);
}

#[test]
fn reference_edk2_uki_mmio() {
    edk2_boots(UefiImage::Uki, Transport::Mmio);
}

#[test]
fn reference_edk2_sdboot_mmio() {
    edk2_boots(UefiImage::Sdboot, Transport::Mmio);
}

#[test]
fn reference_edk2_shim_grub_esp_mmio() {
    edk2_boots(UefiImage::ShimGrub, Transport::Mmio);
}

#[test]
fn reference_edk2_shim_grub_ext4_pci() {
    let out = ArmVm::edk2("arm64-reference-edk2-shim-grub-ext4-pci")
        .disk(&shim_ext4_disk(), Transport::Pci)
        .run();
    check_shim_grub(&out, "ext4", EXT4_TOKEN);
}

// ---- Times to the marker ------------------------------------------------------

/// How many boots each time is the median of.
const RUNS: u32 = 3;

/// Times each disk to its marker ([`RUNS`] boots, the median): the UEFI
/// disks under edk2 (`-bios QEMU_EFI.fd`, disk on virtio-blk-pci), every
/// disk's kernel, initrd and command line under QEMU's direct kernel boot,
/// and every disk under vmfw when `vmfw-aarch64.bin` is built; prints a
/// table, then fails if edk2 or the direct boot did. Minutes of TCG:
/// ignored unless `VMFW_ARM64_TIMES` is set.
#[test]
#[ignore = "needs VMFW_ARM64_TIMES=1 (times 3 boots of each disk per loader; slow)"]
fn boot_times() {
    assert!(
        std::env::var_os("VMFW_ARM64_TIMES").is_some(),
        "set VMFW_ARM64_TIMES=1 to time the arm64 boots"
    );
    let have_vmfw = itest::elf_dir().join("vmfw-aarch64.bin").exists();
    let mut failed = Vec::new();
    let mut time =
        |label: String, reference: bool, make: &dyn Fn(u32) -> ArmVm| match times_to_marker(
            RUNS, MARKER, make,
        ) {
            Ok(t) => {
                let all: Vec<String> =
                    t.iter().map(|d| format!("{:.1}", d.as_secs_f64())).collect();
                let m = median(&t).unwrap_or_default().as_secs_f64();
                format!("{m:.1} s (runs: {})", all.join(", "))
            }
            Err(e) => {
                if reference {
                    failed.push(format!("{label}: {e}"));
                }
                format!("failed: {e}")
            }
        };
    let mut table = Vec::new();
    for image in UefiImage::ALL {
        let name = image.name();
        let disk = image.disk();
        let edk2 = time(format!("edk2 {name}"), true, &|i| {
            ArmVm::edk2(&format!("arm64-time-edk2-{name}-{i}")).disk(&disk, Transport::Pci)
        });
        let (kernel, initrd, append) = direct_content(image);
        let direct = time(format!("direct {name}"), true, &|i| {
            ArmVm::direct(&format!("arm64-time-direct-{name}-{i}"), &kernel, Some(&initrd), &append)
        });
        let vmfw = if have_vmfw {
            time(format!("vmfw {name}"), false, &|i| {
                ArmVm::vmfw(&format!("arm64-time-vmfw-{name}-{i}"))
                    .append(image.vmfw_cmdline())
                    .disk(&disk, Transport::Pci)
            })
        } else {
            "not built".into()
        };
        table.push(format!("{name:<14} edk2 {edk2}; direct -kernel {direct}; vmfw {vmfw}"));
    }
    for gzip in [true, false] {
        let (name, kernel) = if gzip {
            ("bls-gz", itest::debian::arm64_vmlinuz_gz())
        } else {
            ("bls", itest::debian::kernel_for(ARM))
        };
        let kernel = kernel.unwrap_or_else(|e| panic!("{e}"));
        let disk = built("BLS disk", BlsDisk { gzip_kernel: gzip, ..bls_disk(name) }.build());
        let initrd = native_initrd();
        let append = format!("{} vmfw.test.entry=debian-6.1", base_options(ARM));
        let direct = time(format!("direct {name}"), true, &|i| {
            ArmVm::direct(&format!("arm64-time-direct-{name}-{i}"), &kernel, Some(&initrd), &append)
        });
        let vmfw = if have_vmfw {
            time(format!("vmfw {name}"), false, &|i| {
                ArmVm::vmfw(&format!("arm64-time-vmfw-{name}-{i}")).disk(&disk, Transport::Pci)
            })
        } else {
            "not built".into()
        };
        table.push(format!("{name:<14} edk2 n/a (native); direct -kernel {direct}; vmfw {vmfw}"));
    }
    itest::progress!("arm64 wall time from QEMU's start to {MARKER} (median of {RUNS}):");
    for l in &table {
        itest::progress!("  {l}");
    }
    assert!(failed.is_empty(), "reference boots failed:\n{}", failed.join("\n"));
}

// ---- Cloud Hypervisor ----------------------------------------------------------

/// vmfw under Cloud Hypervisor on arm64: the clean stop with no disk, and
/// the native BLS boot from a virtio-blk-pci disk. Needs an arm64 binary
/// and an arm64 host with KVM (none here).
#[test]
#[ignore = "needs CLOUD_HYPERVISOR_AARCH64=<path to an arm64 cloud-hypervisor> on an arm64 KVM host"]
fn cloud_hypervisor_aarch64() {
    let bin = arm64::cloud_hypervisor()
        .unwrap_or_else(|why| panic!("cannot test Cloud Hypervisor on arm64: {why}"));
    let out = arm64::boot_cloud_hypervisor(&bin, "arm64-no-disk", "", None);
    check_clean_stop(&out, "no bootable device");
    let img = built("BLS disk", bls_disk("bls").build());
    let out = arm64::boot_cloud_hypervisor(&bin, "arm64-native", "", Some(&img));
    let c = out.kernel_cmdline();
    assert!(c.contains("vmfw.test.entry=debian-6.1"), "wrong entry booted: {c}");
    out.expect_exited();
}
