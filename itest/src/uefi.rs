//! UEFI boot test disks, built from Debian 12's `systemd-boot-efi`:
//!
//! - a unified kernel image (UKI): systemd-stub (`linuxx64.efi.stub`) with
//!   `.osrel`, `.cmdline`, `.linux` and `.initrd` sections added by
//!   `objcopy`, as `\EFI\BOOT\BOOTX64.EFI` (the removable-media path, UEFI
//!   2.10 §3.5.1.1);
//! - systemd-boot as `\EFI\BOOT\BOOTX64.EFI`, with `loader.conf` and one
//!   Boot Loader Specification Type #1 entry for the Debian 12 kernel.
//!
//! Both boot the busybox initrd of [`initrd::build_efi`], which prints the
//! usual marker and a line on what the kernel sees of UEFI.
//!
//! systemd-boot 252 puts `initrd=<path>` (the entry's initrd, with
//! backslashes) in front of the entry's options when it starts the kernel;
//! vmfw's native loader never does. [`SDBOOT_INITRD_ARG`] is therefore the
//! evidence, visible in `/proc/cmdline`, that systemd-boot started the
//! kernel. (The disk's entry would boot natively too: the tests give the
//! firmware [`FIRMWARE_CMDLINE`] to force the UEFI path.)
//!
//! The UKI's new sections are placed after the stub's last section, each at
//! a page-aligned virtual address, in the order added, computed from the
//! stub's own PE headers (read with `vmfw-pe`); the result is parsed again
//! with `vmfw-pe` and checked before it is used. UKIs are cached in
//! `~/.cache/vmfw/images` keyed by everything that goes into them, like the
//! disks.

use crate::arch::Arch;
use crate::bls::{base_options, BASE_OPTIONS};
use crate::images::{cache_dir, sha256_hex, Contents, Disk};
use crate::initrd::{self, Then};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Bump when the way UKIs are built changes, to invalidate caches.
const RECIPE: &str = "uki-v1";

/// Hashed into the keys of UKIs built by [`append_sections`] (bump when it
/// changes).
const APPEND_RECIPE: &str = "pe-append-v1";

/// The Debian package with systemd-boot and systemd-stub.
pub const PACKAGE: &str = "systemd-boot-efi";

/// The firmware command line the UEFI tests use: take the UEFI path even
/// where a native (BLS) boot would be possible.
pub const FIRMWARE_CMDLINE: &str = "vmfw.boot=uefi";

/// Token in the UKI's `.cmdline`.
pub const UKI_TOKEN: &str = "vmfw.test=uki";

/// Token in the systemd-boot entry's `options`.
pub const SDBOOT_TOKEN: &str = "vmfw.test=sdboot";

/// The systemd-boot entry's file name, which systemd-boot reports as
/// `LoaderEntrySelected`.
pub const SDBOOT_ENTRY: &str = "debian.conf";

/// What systemd-boot 252 puts first on the kernel command line for the
/// entry's `initrd /debian/initrd.img` (seen under OVMF).
pub const SDBOOT_INITRD_ARG: &str = "initrd=\\debian\\initrd.img";

/// Virtual addresses of added sections are multiples of this (a page; the
/// stub's own `SectionAlignment` is 0x200, which divides it).
const UKI_SECTION_ALIGN: u64 = 0x1000;

/// Building the same image from two test threads at once would race on
/// the scratch files; builds take turns.
static BUILD: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    BUILD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a host file, naming it in the error.
fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// A file from the unpacked `systemd-boot-efi` package of `arch`.
fn efi_file(arch: Arch, name: &str) -> Result<PathBuf, String> {
    let p = crate::debian::unpack(PACKAGE, arch.deb())?.join("usr/lib/systemd/boot/efi").join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{PACKAGE} has no {}", p.display()))
    }
}

/// systemd-stub for x86_64 (`linuxx64.efi.stub`).
pub fn stub() -> Result<PathBuf, String> {
    stub_for(Arch::X86_64)
}

/// systemd-stub for `arch` (`linuxx64.efi.stub`, `linuxaa64.efi.stub`).
pub fn stub_for(arch: Arch) -> Result<PathBuf, String> {
    efi_file(arch, &format!("linux{}.efi.stub", arch.efi()))
}

/// systemd-boot for x86_64 (`systemd-bootx64.efi`).
pub fn systemd_boot() -> Result<PathBuf, String> {
    systemd_boot_for(Arch::X86_64)
}

/// systemd-boot for `arch` (`systemd-bootx64.efi`, `systemd-bootaa64.efi`).
pub fn systemd_boot_for(arch: Arch) -> Result<PathBuf, String> {
    efi_file(arch, &format!("systemd-boot{}.efi", arch.efi()))
}

/// The `.osrel` section of the test UKI.
pub fn os_release() -> String {
    "NAME=\"vmfw test\"\n\
     ID=vmfw-test\n\
     PRETTY_NAME=\"vmfw test UKI (Debian 12 kernel, busybox initrd)\"\n\
     VERSION_ID=1\n"
        .into()
}

/// The `.cmdline` section of the test UKI.
pub fn uki_cmdline() -> String {
    format!("{BASE_OPTIONS} {UKI_TOKEN}")
}

/// [`uki_cmdline`] for `arch` (its console).
pub fn uki_cmdline_for(arch: Arch) -> String {
    format!("{} {UKI_TOKEN}", base_options(arch))
}

/// Where [`build_uki`] places sections of the given sizes: at consecutive
/// virtual addresses after `end` (the end of the stub's last section), each
/// rounded up to [`UKI_SECTION_ALIGN`], none overlapping the next (an
/// empty section still gets a page). Returns the relative virtual
/// addresses.
pub fn place_sections(end: u64, sizes: &[u64]) -> Vec<u64> {
    let mut next = end.next_multiple_of(UKI_SECTION_ALIGN);
    sizes
        .iter()
        .map(|&len| {
            let at = next;
            next = (at + len.max(1)).next_multiple_of(UKI_SECTION_ALIGN);
            at
        })
        .collect()
}

/// Builds a UKI: `stub` with `sections` (`(name, contents)`, names of at
/// most 8 bytes) appended by `objcopy`. Returns the image's bytes.
pub fn build_uki(stub: &[u8], sections: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let pe = vmfw_pe::PeImage::parse(stub).map_err(|e| format!("stub: {e:?}"))?;
    let end = pe
        .sections()
        .iter()
        .map(|s| u64::from(s.rva()) + u64::from(s.virtual_size()))
        .max()
        .ok_or("stub has no sections")?;
    let sizes: Vec<u64> = sections.iter().map(|(_, c)| c.len() as u64).collect();
    let rvas = place_sections(end, &sizes);

    static SCRATCH: AtomicU32 = AtomicU32::new(0);
    let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
    let scratch = cache_dir().join("images").join(format!(".uki-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let input = scratch.join("stub.efi");
    let output = scratch.join("uki.efi");
    std::fs::write(&input, stub).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut cmd = Command::new("objcopy");
    for ((name, contents), rva) in sections.iter().zip(&rvas) {
        if name.len() > 8 || !name.starts_with('.') {
            return Err(format!("bad PE section name {name:?}"));
        }
        let file = scratch.join(name.trim_start_matches('.'));
        std::fs::write(&file, contents).map_err(|e| format!("{}: {e}", file.display()))?;
        // objcopy takes a PE section's VMA as ImageBase + RVA.
        let vma = pe.image_base() + rva;
        cmd.arg("--add-section")
            .arg(format!("{name}={}", file.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={vma:#x}"));
    }
    cmd.arg(&input).arg(&output);
    let out = cmd.output().map_err(|e| format!("cannot run objcopy: {e} (run .ci/deps)"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let uki = read(&output);
    let _ = std::fs::remove_dir_all(&scratch);
    let mut uki = uki?;
    reproducible(&mut uki, stub)?;
    check_uki(&uki, sections, &rvas)?;
    Ok(uki)
}

/// `IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ`: what objcopy
/// gives the sections it adds (read-only data).
const ADDED_SECTION_FLAGS: u32 = 0x4000_0040;

/// Builds a UKI as [`build_uki`] does, without objcopy: `sections` get new
/// section headers after the stub's (there must be room before the first
/// section's data and within `SizeOfHeaders`, as there is in
/// systemd-stub's 4 KiB of headers), their
/// contents are appended at the end of the file, each padded to
/// `FileAlignment`, at the virtual addresses [`place_sections`] gives;
/// `NumberOfSections`, `SizeOfImage`, `SizeOfInitializedData` and the
/// checksum are updated, the time stamp stays the stub's. The result is
/// checked like objcopy's. Any machine type: used for arm64 stubs, which
/// the host's x86 objcopy cannot write.
pub fn append_sections(stub: &[u8], sections: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let pe = vmfw_pe::PeImage::parse(stub).map_err(|e| format!("stub: {e:?}"))?;
    if pe.security_directory().is_some_and(|r| !r.is_empty()) {
        return Err("the stub is signed: appending would invalidate the signature".into());
    }
    let file_align = u64::from(pe.file_alignment()).max(1);
    let section_align = u64::from(pe.section_alignment()).max(1);
    if !UKI_SECTION_ALIGN.is_multiple_of(section_align) {
        return Err(format!("stub's SectionAlignment {section_align:#x} does not divide a page"));
    }
    let end = pe
        .sections()
        .iter()
        .map(|s| u64::from(s.rva()) + u64::from(s.virtual_size()))
        .max()
        .ok_or("stub has no sections")?;
    let sizes: Vec<u64> = sections.iter().map(|(_, c)| c.len() as u64).collect();
    let rvas = place_sections(end, &sizes);

    let u16_at = |at: usize| -> Result<u16, String> {
        let b = stub.get(at..at + 2).ok_or("stub too short")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let lfanew = stub.get(0x3c..0x40).ok_or("stub too short")?;
    let lfanew = u32::from_le_bytes([lfanew[0], lfanew[1], lfanew[2], lfanew[3]]) as usize;
    let coff = lfanew + 4;
    let count = usize::from(u16_at(coff + 2)?);
    let optional = coff + 20;
    let table = optional + usize::from(u16_at(coff + 16)?);
    let new_end = table + 40 * (count + sections.len());
    // The headers may grow up to SizeOfHeaders and the first raw data.
    let first_data = pe
        .sections()
        .iter()
        .filter(|s| !s.file_range().is_empty())
        .map(|s| s.file_range().start)
        .min()
        .unwrap_or(stub.len());
    if new_end > pe.size_of_headers() as usize || new_end > first_data {
        return Err(format!("no room for {} more section headers in the stub", sections.len()));
    }
    // The space is header padding (zeros, or in gnu-efi's arm64 header
    // NOP instructions up to its 4 KiB alignment): nothing loads or runs
    // it, unless the entry point were there.
    let entry = pe.entry_point_rva() as usize;
    if (table + 40 * count..new_end).contains(&entry) {
        return Err("the stub's entry point is where the new section headers go".into());
    }

    let mut out = stub.to_vec();
    let mut added_data = 0u64;
    let mut image_end = end;
    for (i, ((name, contents), &rva)) in sections.iter().zip(&rvas).enumerate() {
        if name.len() > 8 || !name.starts_with('.') {
            return Err(format!("bad PE section name {name:?}"));
        }
        out.resize((out.len() as u64).next_multiple_of(file_align) as usize, 0);
        let raw_at = out.len() as u64;
        let raw_len = (contents.len() as u64).next_multiple_of(file_align);
        out.extend_from_slice(contents);
        out.resize((raw_at + raw_len) as usize, 0);
        added_data += raw_len;
        image_end = image_end.max(rva + contents.len() as u64);

        let mut header = [0u8; 40];
        header[..name.len()].copy_from_slice(name.as_bytes());
        let field = |v: u64| u32::try_from(v).map_err(|_| format!("{name}: beyond 4 GiB"));
        header[8..12].copy_from_slice(&field(contents.len() as u64)?.to_le_bytes());
        header[12..16].copy_from_slice(&field(rva)?.to_le_bytes());
        header[16..20].copy_from_slice(&field(raw_len)?.to_le_bytes());
        header[20..24].copy_from_slice(&field(raw_at)?.to_le_bytes());
        header[36..40].copy_from_slice(&ADDED_SECTION_FLAGS.to_le_bytes());
        let at = table + 40 * (count + i);
        out[at..at + 40].copy_from_slice(&header);
    }
    let count = u16::try_from(count + sections.len()).map_err(|_| "too many sections")?;
    out[coff + 2..coff + 4].copy_from_slice(&count.to_le_bytes());
    // SizeOfInitializedData (optional header offset 8) and SizeOfImage (56).
    let init = u32::from_le_bytes(out[optional + 8..optional + 12].try_into().expect("4 bytes"));
    let init = u64::from(init) + added_data;
    let init = u32::try_from(init).map_err(|_| "SizeOfInitializedData beyond 4 GiB")?;
    out[optional + 8..optional + 12].copy_from_slice(&init.to_le_bytes());
    let size = u32::try_from(image_end.next_multiple_of(section_align))
        .map_err(|_| "SizeOfImage beyond 4 GiB")?;
    out[optional + 56..optional + 60].copy_from_slice(&size.to_le_bytes());
    let (_, checksum) = stamp_and_checksum_offsets(&out)?;
    let sum = pe_checksum(&out, checksum);
    out[checksum..checksum + 4].copy_from_slice(&sum.to_le_bytes());
    check_uki(&out, sections, &rvas)?;
    let built = vmfw_pe::PeImage::parse(&out).map_err(|e| format!("built UKI: {e:?}"))?;
    if built.machine() != pe.machine() || built.size_of_image() != size {
        return Err("built UKI's headers do not read back".into());
    }
    Ok(out)
}

/// Offsets of the COFF `TimeDateStamp` and the optional header's
/// `CheckSum` in a PE file.
fn stamp_and_checksum_offsets(pe: &[u8]) -> Result<(usize, usize), String> {
    let lfanew = pe.get(0x3c..0x40).ok_or("PE file too short")?;
    let lfanew = u32::from_le_bytes(lfanew.try_into().map_err(|_| "PE file too short")?) as usize;
    // "PE\0\0", then the COFF header (TimeDateStamp at 4), then the
    // optional header (CheckSum at 64) after the 20-byte COFF header.
    let stamp = lfanew + 4 + 4;
    let checksum = lfanew + 4 + 20 + 64;
    if checksum + 4 > pe.len() {
        return Err("PE file too short".into());
    }
    Ok((stamp, checksum))
}

/// The PE image checksum (the algorithm of `CheckSumMappedFile`): the
/// file as 16-bit little-endian words, the `CheckSum` field counted as
/// zero, summed with end-around carry into 16 bits, plus the file length.
fn pe_checksum(pe: &[u8], checksum_at: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, w) in pe.chunks(2).enumerate() {
        if (checksum_at..checksum_at + 4).contains(&(i * 2)) {
            continue;
        }
        sum += u64::from(w[0]) | u64::from(w.get(1).copied().unwrap_or(0)) << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(pe.len() as u32)
}

/// objcopy stamps a PE file with the current time; give the UKI the
/// stub's stamp instead (and the checksum to match), so that the same
/// inputs always make the same bytes.
fn reproducible(uki: &mut [u8], stub: &[u8]) -> Result<(), String> {
    let (stamp, checksum) = stamp_and_checksum_offsets(uki)?;
    let field = |b: &[u8], at: usize| b.get(at..at + 4).map(<[u8]>::to_vec);
    // Check this checksum against objcopy's before relying on it.
    if field(uki, checksum) != Some(pe_checksum(uki, checksum).to_le_bytes().to_vec()) {
        return Err("objcopy's PE checksum differs from ours".into());
    }
    let (stub_stamp, _) = stamp_and_checksum_offsets(stub)?;
    let value = field(stub, stub_stamp).ok_or("stub too short")?;
    uki[stamp..stamp + 4].copy_from_slice(&value);
    let sum = pe_checksum(uki, checksum);
    uki[checksum..checksum + 4].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

/// Checks that `uki` parses and carries each of `sections` at its RVA,
/// with its contents.
fn check_uki(uki: &[u8], sections: &[(&str, Vec<u8>)], rvas: &[u64]) -> Result<(), String> {
    let pe = vmfw_pe::PeImage::parse(uki).map_err(|e| format!("built UKI: {e:?}"))?;
    for ((name, contents), &rva) in sections.iter().zip(rvas) {
        let s = pe.section(name).ok_or_else(|| format!("built UKI has no {name} section"))?;
        if u64::from(s.rva()) != rva {
            return Err(format!("{name} is at RVA {:#x}, not {rva:#x}", s.rva()));
        }
        let data = uki.get(s.file_range()).ok_or_else(|| format!("{name}: bad file range"))?;
        // The raw data is padded to FileAlignment; the start must match.
        if data.get(..contents.len()) != Some(&contents[..])
            || (s.virtual_size() as usize) < contents.len()
        {
            return Err(format!("built UKI's {name} section does not hold what was added"));
        }
    }
    Ok(())
}

/// The initrd for UEFI tests ([`initrd::build_efi`]).
pub fn efi_initrd(then: Then) -> Result<Vec<u8>, String> {
    efi_initrd_for(Arch::X86_64, then)
}

/// [`efi_initrd`] for `arch` (its busybox and efivarfs module).
pub fn efi_initrd_for(arch: Arch, then: Then) -> Result<Vec<u8>, String> {
    let busybox = read(&crate::debian::busybox_for(arch)?)?;
    let efivarfs = read(&crate::debian::kernel_module_for(arch, "fs/efivarfs/efivarfs.ko")?)?;
    Ok(initrd::build_efi(&busybox, &efivarfs, then))
}

/// The kernel file UEFI loaders get on `arch`: Debian's `vmlinuz` on
/// x86_64 (an EFI PE as shipped), the decompressed `Image` on arm64.
pub fn efi_kernel(arch: Arch) -> Result<PathBuf, String> {
    match arch {
        Arch::X86_64 => crate::debian::kernel(),
        Arch::Aarch64 => crate::debian::arm64_image(),
    }
}

/// The test UKI (systemd-stub, `.osrel`, `.cmdline` = [`uki_cmdline`],
/// Debian 12's kernel, the [`initrd::build_efi`] initrd), cached; returns
/// its path.
pub fn uki(then: Then) -> Result<PathBuf, String> {
    uki_for(Arch::X86_64, then)
}

/// [`uki`] for `arch`: on arm64 `linuxaa64.efi.stub` with the
/// decompressed arm64 `Image` ([`efi_kernel`]), sections appended by
/// [`append_sections`].
pub fn uki_for(arch: Arch, then: Then) -> Result<PathBuf, String> {
    let _turn = take_turn();
    let stub = read(&stub_for(arch)?)?;
    let kernel = read(&efi_kernel(arch)?)?;
    let sections = [
        (".osrel", os_release().into_bytes()),
        (".cmdline", uki_cmdline_for(arch).into_bytes()),
        (".linux", kernel),
        (".initrd", efi_initrd_for(arch, then)?),
    ];
    let mut h = Sha256::new();
    h.update(RECIPE);
    if arch != Arch::X86_64 {
        // Another builder (x86_64's keys stay what they were).
        h.update(APPEND_RECIPE);
    }
    h.update(Sha256::digest(&stub));
    for (name, contents) in &sections {
        h.update(name.as_bytes());
        h.update(Sha256::digest(contents));
    }
    let key: String = sha256_hex(&h.finalize())[..16].into();
    let dir = cache_dir().join("images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{}uki-{key}.efi", arch.prefix()));
    if path.exists() {
        return Ok(path);
    }
    let total: u64 = sections.iter().map(|(_, c)| c.len() as u64).sum();
    let how = if arch == Arch::X86_64 { "with objcopy" } else { "appending PE sections" };
    crate::progress!("uki: building a unified kernel image ({}) {how}", crate::size(total));
    let start = std::time::Instant::now();
    let bytes = match arch {
        Arch::X86_64 => build_uki(&stub, &sections)?,
        Arch::Aarch64 => append_sections(&stub, &sections)?,
    };
    let tmp = dir.join(format!(".uki-{key}-{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    crate::progress!("uki: built {} in {:.1} s", path.display(), start.elapsed().as_secs_f64());
    Ok(path)
}

/// A disk whose ESP holds the test UKI as `\EFI\BOOT\BOOTX64.EFI`.
pub fn uki_disk(then: Then) -> Result<PathBuf, String> {
    uki_disk_for(Arch::X86_64, then)
}

/// [`uki_disk`] for `arch` ([`uki_for`] as [`Arch::boot_file`]).
pub fn uki_disk_for(arch: Arch, then: Then) -> Result<PathBuf, String> {
    let uki = uki_for(arch, then)?;
    let _turn = take_turn();
    let name = format!("{}uki", arch.prefix());
    Ok(Disk::new(&name).file(arch.boot_file(), Contents::Host(uki)).build())
}

/// The firmware's variable file on the ESP (see the README: variables
/// across VM runs).
pub const VARS_FILE: &str = "/EFI/vmfw/VARS.BIN";

/// As [`uki_disk`], with an empty, preallocated [`VARS_FILE`] (two
/// 96 KiB slots of zeros) for the firmware to keep variables in.
pub fn uki_disk_with_vars(then: Then) -> Result<PathBuf, String> {
    let uki = uki(then)?;
    let _turn = take_turn();
    Ok(Disk::new("uki-vars")
        .file("/EFI/BOOT/BOOTX64.EFI", Contents::Host(uki))
        .file(VARS_FILE, Contents::Bytes(vec![0; 2 * 96 * 1024]))
        .build())
}

/// The systemd-boot entry ([`SDBOOT_ENTRY`]).
pub fn sdboot_entry() -> String {
    sdboot_entry_for(Arch::X86_64)
}

/// [`sdboot_entry`] for `arch` (its console).
pub fn sdboot_entry_for(arch: Arch) -> String {
    let options = base_options(arch);
    format!(
        "title   Debian GNU/Linux 12 (vmfw test, systemd-boot)\n\
         version 6.1.0\n\
         linux   /debian/vmlinuz\n\
         initrd  /debian/initrd.img\n\
         options {options} {SDBOOT_TOKEN}\n"
    )
}

/// A disk with systemd-boot as `\EFI\BOOT\BOOTX64.EFI`, `loader.conf`
/// (no menu: timeout 0) and the entry [`SDBOOT_ENTRY`] for Debian 12's
/// kernel and the [`initrd::build_efi`] initrd.
pub fn sdboot_disk(then: Then) -> Result<PathBuf, String> {
    sdboot_disk_for(Arch::X86_64, then)
}

/// [`sdboot_disk`] for `arch`: on arm64 `systemd-bootaa64.efi` as
/// `\EFI\BOOT\BOOTAA64.EFI`, the entry's kernel the decompressed `Image`
/// ([`efi_kernel`]; systemd-boot starts it with `LoadImage`).
pub fn sdboot_disk_for(arch: Arch, then: Then) -> Result<PathBuf, String> {
    let _turn = take_turn();
    let sdboot = systemd_boot_for(arch)?;
    let kernel = efi_kernel(arch)?;
    let loader = format!("timeout 0\ndefault {SDBOOT_ENTRY}\n");
    let entry = sdboot_entry_for(arch);
    Ok(Disk::new(&format!("{}sdboot", arch.prefix()))
        .file(arch.boot_file(), Contents::Host(sdboot))
        .file("/loader/loader.conf", Contents::Bytes(loader.into_bytes()))
        .file(&format!("/loader/entries/{SDBOOT_ENTRY}"), Contents::Bytes(entry.into()))
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(efi_initrd_for(arch, then)?))
        .build())
}

/// The entry of [`sdboot_counting_disk`]: three tries left (BLS "Boot
/// counting").
pub const SDBOOT_COUNTED_ENTRY: &str = "debian+3.conf";

/// [`SDBOOT_COUNTED_ENTRY`]'s name after systemd-boot counted one try:
/// two left, one done.
pub const SDBOOT_COUNTED_ENTRY_AFTER: &str = "debian+2-1.conf";

/// systemd-boot's random seed file on the counting disk, and its content
/// before the first boot (32 bytes, the size systemd-boot writes back).
pub const SDBOOT_RANDOM_SEED: &str = "/loader/random-seed";
/// See [`SDBOOT_RANDOM_SEED`].
pub const SDBOOT_RANDOM_SEED_BEFORE: [u8; 32] = [0x5a; 32];

/// As [`sdboot_disk`], with the entry named [`SDBOOT_COUNTED_ENTRY`]:
/// systemd-boot renames it (`SetInfo` with a new file name) before it
/// boots it, and rewrites [`SDBOOT_RANDOM_SEED`]. `loader.conf` has no
/// menu (timeout 0) and no `default` (the only entry boots).
pub fn sdboot_counting_disk(then: Then) -> Result<PathBuf, String> {
    let _turn = take_turn();
    let sdboot = systemd_boot()?;
    let kernel = efi_kernel(Arch::X86_64)?;
    Ok(Disk::new("sdboot-counting")
        .file(Arch::X86_64.boot_file(), Contents::Host(sdboot))
        // systemd-boot refreshes its random seed file on every boot
        // (`random-seed-mode always`: no LoaderSystemToken needed): a
        // Write() and Flush() through the file protocol.
        .file(
            "/loader/loader.conf",
            Contents::Bytes(b"timeout 0\nrandom-seed-mode always\n".to_vec()),
        )
        .file(SDBOOT_RANDOM_SEED, Contents::Bytes(SDBOOT_RANDOM_SEED_BEFORE.to_vec()))
        .file(
            &format!("/loader/entries/{SDBOOT_COUNTED_ENTRY}"),
            Contents::Bytes(sdboot_entry().into_bytes()),
        )
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(efi_initrd(then)?))
        .build())
}

#[cfg(test)]
mod tests {
    use super::{append_sections, place_sections};

    #[test]
    fn sections_are_placed_after_the_stub_aligned_and_apart() {
        let rvas = place_sections(0x19134, &[0x60, 0, 0x1000, 0x7f_ff01]);
        assert_eq!(rvas, [0x1a000, 0x1b000, 0x1c000, 0x1d000]);
        let next = place_sections(0x1d000 + 0x7f_ff01, &[1]);
        assert_eq!(next, [0x81d000]);
    }

    /// A minimal PE32+ EFI application for arm64: one `.text` section
    /// (0x100 bytes of 0xd5 at RVA 0x1000), 0x200-byte file alignment,
    /// 0x200 bytes of headers.
    fn tiny_pe() -> Vec<u8> {
        let mut f = vec![0u8; 0x400];
        let put = |f: &mut Vec<u8>, at: usize, b: &[u8]| f[at..at + b.len()].copy_from_slice(b);
        put(&mut f, 0, b"MZ");
        put(&mut f, 0x3c, &0x40u32.to_le_bytes());
        put(&mut f, 0x40, b"PE\0\0");
        let coff = 0x44;
        put(&mut f, coff, &0xaa64u16.to_le_bytes());
        put(&mut f, coff + 2, &1u16.to_le_bytes());
        put(&mut f, coff + 4, &0x1234_5678u32.to_le_bytes());
        put(&mut f, coff + 16, &0xf0u16.to_le_bytes());
        put(&mut f, coff + 18, &0x0206u16.to_le_bytes());
        let opt = coff + 20;
        put(&mut f, opt, &0x20bu16.to_le_bytes());
        put(&mut f, opt + 4, &0x200u32.to_le_bytes()); // SizeOfCode
        put(&mut f, opt + 16, &0x1000u32.to_le_bytes()); // entry point
        put(&mut f, opt + 20, &0x1000u32.to_le_bytes()); // BaseOfCode
        put(&mut f, opt + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
        put(&mut f, opt + 36, &0x200u32.to_le_bytes()); // FileAlignment
        put(&mut f, opt + 56, &0x2000u32.to_le_bytes()); // SizeOfImage
        put(&mut f, opt + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
        put(&mut f, opt + 68, &10u16.to_le_bytes()); // EFI application
        put(&mut f, opt + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
        let table = opt + 0xf0;
        put(&mut f, table, b".text");
        put(&mut f, table + 8, &0x100u32.to_le_bytes());
        put(&mut f, table + 12, &0x1000u32.to_le_bytes());
        put(&mut f, table + 16, &0x200u32.to_le_bytes());
        put(&mut f, table + 20, &0x200u32.to_le_bytes());
        put(&mut f, table + 36, &0x6000_0020u32.to_le_bytes());
        f[0x200..0x300].fill(0xd5);
        f
    }

    #[test]
    fn appended_sections_read_back() {
        let stub = tiny_pe();
        let sections = [(".cmdline", b"console=ttyAMA0".to_vec()), (".linux", vec![0x4d; 0x1234])];
        let uki = append_sections(&stub, &sections).unwrap();
        let pe = vmfw_pe::PeImage::parse(&uki).unwrap();
        assert_eq!(pe.machine(), vmfw_pe::Machine::Aarch64);
        assert_eq!(pe.sections().len(), 3);
        let cmdline = pe.section(".cmdline").unwrap();
        assert_eq!((cmdline.rva(), cmdline.virtual_size()), (0x2000, 15));
        let linux = pe.section(".linux").unwrap();
        assert_eq!((linux.rva(), linux.virtual_size()), (0x3000, 0x1234));
        assert_eq!(&uki[linux.file_range()][..0x1234], &[0x4d; 0x1234][..]);
        assert_eq!(pe.size_of_image(), 0x5000);
        // The stub's bytes stay, but for the header fields updated.
        assert_eq!(uki[0x200..0x400], stub[0x200..0x400]);
        assert_eq!(uki.len() % 0x200, 0);
        // Deterministic: the same inputs, the same bytes.
        assert_eq!(append_sections(&stub, &sections).unwrap(), uki);
    }

    #[test]
    fn no_room_for_headers_is_an_error() {
        let stub = tiny_pe();
        let many: Vec<(&str, Vec<u8>)> = (0..6).map(|_| (".x", vec![1])).collect();
        let e = append_sections(&stub, &many).unwrap_err();
        assert!(e.contains("no room"), "{e}");
    }
}
