//! shim + GRUB test disks, from Debian 12's signed packages, laid out the
//! way a removable-media install boots them:
//!
//! - `shim-signed`'s `shimx64.efi.signed` as `\EFI\BOOT\BOOTX64.EFI`;
//! - `grub-efi-amd64-signed`'s monolithic `grubx64.efi.signed` as
//!   `\EFI\BOOT\grubx64.efi`: shim loads `grubx64.efi` from its own
//!   directory (there is no `fbx64.efi`, so it does not try the fallback
//!   loader first);
//! - GRUB's configuration at [`GRUB_CFG`] on the ESP (see there why).
//!
//! Two variants, both booting Debian 12's kernel with the busybox initrd of
//! [`crate::initrd::build_efi`]: [`esp_disk`] keeps the kernel and initrd on the
//! ESP; [`ext4_disk`] puts them on a second GPT partition (Linux file
//! system type) with an ext4 file system made without root by
//! `mkfs.ext4 -d`, which `grub.cfg` finds by its UUID ([`BOOT_FS_UUID`]).
//!
//! GRUB starts the kernel itself, with exactly the `linux` line's options
//! (after its own `BOOT_IMAGE=<path>`): unlike systemd-boot it puts no
//! `initrd=` on the command line, and neither does the firmware's native
//! loader; [`ESP_TOKEN`] / [`EXT4_TOKEN`] exist only in `grub.cfg`. With
//! Secure Boot off (vmfw has none), Debian's GRUB 2.06 does not use the EFI
//! handover protocol: its x86 Linux loader ("Booting in blind mode" is its
//! message) calls `ExitBootServices()` itself, then moves its relocator
//! code and the kernel into place, still on the firmware's page tables,
//! and jumps to the kernel. The relocator takes the lowest free memory the
//! UEFI memory map offers, physical address 0 included, so every page the
//! map calls free must be mapped then (UEFI 2.10 §2.3.4: all memory in
//! the map is identity-mapped).
//!
//! The `*_for` functions build the same disks for another architecture
//! ([`Arch`]): on arm64 `shimaa64.efi.signed` as `\EFI\BOOT\BOOTAA64.EFI`
//! and `grub-efi-arm64-signed`'s `grubaa64.efi.signed` beside it. The
//! kernel is Debian's arm64 `vmlinuz` as shipped (gzip-compressed): GRUB
//! decompresses the files it opens by itself, as on an installed Debian.
//!
//! Package versions seen when this was written (Debian 12.x):
//! `shim-signed` 1.51~1+deb12u1+16.1-2~deb12u1 (shim 16.1) and
//! `grub-efi-amd64-signed` 1+2.06+13+deb12u2 (GRUB 2.06-13+deb12u2); apt
//! takes the current ones.

use crate::arch::Arch;
use crate::bls::base_options;
use crate::images::{cache_dir, sha256_hex, Contents, Disk};
use crate::initrd::{Then, EFI_ABSENT, EFI_MARKER};
use crate::Outcome;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use vmfw_block::Guid;

/// Bump when the way the ext4 partition is built changes, to invalidate
/// caches.
const RECIPE: &str = "shim-grub-v1";

/// The Debian package with shim, signed.
pub const SHIM_PACKAGE: &str = "shim-signed";

/// The Debian package with GRUB's signed monolithic EFI images.
pub const GRUB_PACKAGE: &str = "grub-efi-amd64-signed";

/// [`GRUB_PACKAGE`] for `arch` (`grub-efi-arm64-signed`).
pub fn grub_package(arch: Arch) -> String {
    format!("grub-efi-{}-signed", arch.deb())
}

/// Where `grub.cfg` goes on the ESP. Debian's signed `grubx64.efi` carries
/// an embedded configuration (a memdisk `grub.cfg`) and the prefix
/// `/EFI/debian` on the device it was started from; the embedded
/// configuration sources `$prefix/x86_64-efi/grub.cfg`, else
/// `$prefix/grub.cfg`, else `$cmdpath/grub.cfg` (the directory GRUB was
/// started from). A Debian installation has its `grub.cfg` in
/// `/EFI/debian`; that is where this one is. (Under OVMF both places
/// work; `$cmdpath/grub.cfg` only after the embedded configuration's
/// `search --file /.disk/info` failed, which GRUB reports on the console.)
pub const GRUB_CFG: &str = "/EFI/debian/grub.cfg";

/// Token in the ESP variant's `linux` line.
pub const ESP_TOKEN: &str = "vmfw.test=grub-esp";

/// Token in the ext4 variant's `linux` line.
pub const EXT4_TOKEN: &str = "vmfw.test=grub-ext4";

/// What `grub.cfg` prints before it loads the kernel (GRUB's console is
/// the firmware's console, the serial port); the variant's name follows.
pub const GRUB_ECHO: &str = "VMFW-GRUB-CFG";

/// The ext4 file system's UUID in the ext4 variant (`mkfs.ext4 -U`).
pub const BOOT_FS_UUID: &str = "766d6677-6772-4234-8000-657874346673";

/// Building the same image from two test threads at once would race on
/// the scratch files; builds take turns.
static BUILD: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    BUILD.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file from an unpacked Debian package of `arch`, or an error naming it.
fn package_file(arch: Arch, package: &str, path: &str) -> Result<PathBuf, String> {
    let p = crate::debian::unpack(package, arch.deb())?.join(path);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{package} has no {}", p.display()))
    }
}

/// `shimx64.efi.signed` from [`SHIM_PACKAGE`].
pub fn shim() -> Result<PathBuf, String> {
    shim_for(Arch::X86_64)
}

/// `shim<x64|aa64>.efi.signed` from [`SHIM_PACKAGE`] of `arch`.
pub fn shim_for(arch: Arch) -> Result<PathBuf, String> {
    package_file(arch, SHIM_PACKAGE, &format!("usr/lib/shim/shim{}.efi.signed", arch.efi()))
}

/// The monolithic `grubx64.efi.signed` from [`GRUB_PACKAGE`].
pub fn grub() -> Result<PathBuf, String> {
    grub_for(Arch::X86_64)
}

/// The monolithic `grub<x64|aa64>.efi.signed` from [`grub_package`].
pub fn grub_for(arch: Arch) -> Result<PathBuf, String> {
    let dir = match arch {
        Arch::X86_64 => "x86_64-efi-signed",
        Arch::Aarch64 => "arm64-efi-signed",
    };
    let path = format!("usr/lib/grub/{dir}/grub{}.efi.signed", arch.efi());
    package_file(arch, &grub_package(arch), &path)
}

/// The file name shim loads GRUB from, in its own directory.
fn grub_name(arch: Arch) -> String {
    format!("grub{}.efi", arch.efi())
}

/// A `grub.cfg` with no menu (timeout 0) and one entry; `search` (GRUB
/// commands run first, may be empty), `kernel` and `initrd` are paths on
/// the device `root` names once `search` ran.
fn grub_cfg(
    arch: Arch,
    variant: &str,
    search: &str,
    kernel: &str,
    initrd: &str,
    token: &str,
) -> String {
    let options = base_options(arch);
    format!(
        "set timeout=0\n\
         set default=0\n\
         {search}\
         menuentry 'Debian GNU/Linux 12 (vmfw test, shim + GRUB, {variant})' {{\n\
         \techo '{GRUB_ECHO} {variant}'\n\
         \tlinux {kernel} {options} {token}\n\
         \tinitrd {initrd}\n\
         }}\n"
    )
}

/// `grub.cfg` of the ESP variant: kernel and initrd on the ESP.
pub fn grub_cfg_esp() -> String {
    grub_cfg_esp_for(Arch::X86_64)
}

/// [`grub_cfg_esp`] for `arch` (its console).
pub fn grub_cfg_esp_for(arch: Arch) -> String {
    grub_cfg(arch, "esp", "", "/debian/vmlinuz", "/debian/initrd.img", ESP_TOKEN)
}

/// `grub.cfg` of the ext4 variant: kernel and initrd on the ext4 file
/// system [`BOOT_FS_UUID`].
pub fn grub_cfg_ext4() -> String {
    grub_cfg_ext4_for(Arch::X86_64)
}

/// [`grub_cfg_ext4`] for `arch` (its console).
pub fn grub_cfg_ext4_for(arch: Arch) -> String {
    let search = format!("search --no-floppy --fs-uuid --set=root {BOOT_FS_UUID}\n");
    grub_cfg(arch, "ext4", &search, "/vmlinuz", "/initrd.img", EXT4_TOKEN)
}

/// The ESP every variant shares: shim, GRUB, `grub.cfg`.
fn esp(arch: Arch, name: &str, cfg: String) -> Result<Disk, String> {
    Ok(Disk::new(&format!("{}{name}", arch.prefix()))
        .file(arch.boot_file(), Contents::Host(shim_for(arch)?))
        .file(&format!("/EFI/BOOT/{}", grub_name(arch)), Contents::Host(grub_for(arch)?))
        .file(GRUB_CFG, Contents::Bytes(cfg.into_bytes())))
}

/// A disk with shim and GRUB, and the kernel and initrd on the ESP.
pub fn esp_disk(then: Then) -> Result<PathBuf, String> {
    esp_disk_for(Arch::X86_64, then)
}

/// [`esp_disk`] for `arch`.
pub fn esp_disk_for(arch: Arch, then: Then) -> Result<PathBuf, String> {
    let kernel = crate::debian::kernel_for(arch)?;
    let initrd = crate::uefi::efi_initrd_for(arch, then)?;
    let _turn = take_turn();
    Ok(esp(arch, "shim-grub-esp", grub_cfg_esp_for(arch))?
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(initrd))
        .build())
}

/// A disk like [`esp_disk`] named `name`, with `shim` and `grub` as
/// `\EFI\BOOT\BOOTX64.EFI` and `\EFI\BOOT\grubx64.efi` (modified copies,
/// for the Secure Boot tests), `initrd` as the initrd, and `extra` files
/// added. Cached like every disk.
pub fn esp_disk_with(
    name: &str,
    shim: Contents,
    grub: Contents,
    initrd: Vec<u8>,
    extra: &[(&str, Contents)],
) -> Result<PathBuf, String> {
    let arch = Arch::X86_64;
    let kernel = crate::debian::kernel_for(arch)?;
    let _turn = take_turn();
    let mut disk = Disk::new(name)
        .file(arch.boot_file(), shim)
        .file(&format!("/EFI/BOOT/{}", grub_name(arch)), grub)
        .file(GRUB_CFG, Contents::Bytes(grub_cfg_esp_for(arch).into_bytes()))
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(initrd));
    for (path, contents) in extra {
        disk = disk.file(path, contents.clone());
    }
    Ok(disk.build())
}

/// A disk with shim and GRUB on the ESP, and the kernel and initrd on an
/// ext4 file system ([`boot_fs`]) in GPT partition 2.
pub fn ext4_disk(then: Then) -> Result<PathBuf, String> {
    ext4_disk_for(Arch::X86_64, then)
}

/// [`ext4_disk`] for `arch`.
pub fn ext4_disk_for(arch: Arch, then: Then) -> Result<PathBuf, String> {
    let kernel = crate::debian::kernel_for(arch)?;
    let kernel = std::fs::read(&kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let initrd = crate::uefi::efi_initrd_for(arch, then)?;
    let _turn = take_turn();
    let fs = boot_fs(&[("vmlinuz", &kernel), ("initrd.img", &initrd)])?;
    Ok(esp(arch, "shim-grub-ext4", grub_cfg_ext4_for(arch))?
        .partition(Guid::LINUX_FILESYSTEM, "boot", Contents::Host(fs))
        .build())
}

/// An ext4 file system image holding `files` (`(name, contents)`, in its
/// root directory), with the UUID [`BOOT_FS_UUID`], made by
/// `mkfs.ext4 -d` (no root, no loop device); cached in
/// `~/.cache/vmfw/images` keyed by its inputs. Returns its path.
///
/// The image is reproducible: fixed UUID and directory hash seed, owner
/// root, every time stamp a fixed date (set with `debugfs`).
pub fn boot_fs(files: &[(&str, &[u8])]) -> Result<PathBuf, String> {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(BOOT_FS_UUID);
    for (name, contents) in files {
        h.update(name.as_bytes());
        h.update(Sha256::digest(contents));
    }
    let key: String = sha256_hex(&h.finalize())[..16].into();
    let dir = cache_dir().join("images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("boot-ext4-{key}.fs"));
    if path.exists() {
        return Ok(path);
    }
    let scratch = dir.join(format!(".boot-ext4-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let total: u64 = files.iter().map(|(_, c)| c.len() as u64).sum();
    crate::progress!("ext4: making a boot file system for {} with mkfs.ext4", crate::size(total));
    let start = std::time::Instant::now();
    let result = make_ext4(&scratch, &root, files).and_then(|img| {
        std::fs::rename(&img, &path).map_err(|e| format!("{}: {e}", path.display()))
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    crate::progress!("ext4: made {} in {:.1} s", path.display(), start.elapsed().as_secs_f64());
    Ok(path)
}

/// 2024-01-01 00:00:00 UTC: the time stamps of the ext4 image.
const FIXED_TIME: u64 = 1_704_067_200;

/// Makes the ext4 image in `scratch` (outside `root`) from `files`
/// written into `root`; returns the image's path.
fn make_ext4(scratch: &Path, root: &Path, files: &[(&str, &[u8])]) -> Result<PathBuf, String> {
    let mut total = 0u64;
    // mke2fs copies the files' times from the host; debugfs then sets
    // them (and the root directory's) to FIXED_TIME.
    let mut stamps = String::new();
    for (name, contents) in files {
        let p = root.join(name);
        std::fs::write(&p, contents).map_err(|e| format!("{}: {e}", p.display()))?;
        total += contents.len() as u64;
        for field in ["atime", "mtime", "ctime"] {
            stamps += &format!("sif /{name} {field} @{FIXED_TIME}\n");
        }
    }
    for field in ["atime", "mtime", "ctime"] {
        stamps += &format!("sif / {field} @{FIXED_TIME}\n");
    }
    // Room for the files, the journal and the metadata, in whole MiB.
    let mib = (total + (24 << 20)).div_ceil(1 << 20).next_multiple_of(8);
    let img = scratch.join("boot.ext4");
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-t", "ext4", "-L", "vmfw-boot", "-U", BOOT_FS_UUID])
            .arg("-E")
            .arg(format!("root_owner=0:0,hash_seed={BOOT_FS_UUID}"))
            .arg("-d")
            .arg(root)
            .arg(&img)
            .arg(format!("{mib}M")),
    )?;
    let script = scratch.join("stamps.debugfs");
    std::fs::write(&script, stamps).map_err(|e| format!("{}: {e}", script.display()))?;
    tool(Command::new("debugfs").arg("-w").arg("-f").arg(&script).arg(&img))?;
    Ok(img)
}

/// Runs an e2fsprogs tool with its clock set to FIXED_TIME.
fn tool(cmd: &mut Command) -> Result<(), String> {
    cmd.env("E2FSPROGS_FAKE_TIME", FIXED_TIME.to_string());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e} (run .ci/deps)", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Where GRUB keeps its environment block: `$prefix/grubenv`, beside
/// [`GRUB_CFG`], as on a Debian installation.
pub const GRUBENV: &str = "/EFI/debian/grubenv";

/// The size of a GRUB environment block file (GRUB's `envblk` is 1 KiB).
pub const GRUBENV_SIZE: usize = 1024;

/// The first line of a GRUB environment block.
const GRUBENV_HEADER: &str = "# GRUB Environment Block\n";

/// The two entries of [`grubenv_disk`]'s `grub.cfg`: `(title, variant,
/// token)`. The first is the default; [`grubenv_disk`]'s `grubenv` names
/// the second as `next_entry`, the way `grub-reboot` does.
pub const GRUBENV_ENTRIES: [(&str, &str, &str); 2] = [
    ("vmfw test first", "first", "vmfw.test=grub-first"),
    ("vmfw test second", "second", "vmfw.test=grub-second"),
];

/// What `grub.cfg` of [`grubenv_disk`] prints after `load_env`: the
/// `next_entry` it found, in brackets, follows.
pub const GRUBENV_ECHO: &str = "VMFW-GRUBENV next_entry=";

/// An environment block as `grub-editenv` writes it: the header, one
/// `key=value` line each, `#` up to [`GRUBENV_SIZE`] bytes.
pub fn grubenv(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::from(GRUBENV_HEADER);
    for (k, v) in vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    let mut out = text.into_bytes();
    assert!(out.len() <= GRUBENV_SIZE, "environment block too long");
    out.resize(GRUBENV_SIZE, b'#');
    out
}

/// The variables of an environment block, in order, or what is wrong with
/// it (size, header, a line without `=`, padding that is not `#`).
pub fn grubenv_vars(block: &[u8]) -> Result<Vec<(String, String)>, String> {
    if block.len() != GRUBENV_SIZE {
        return Err(format!("{} bytes, not {GRUBENV_SIZE}", block.len()));
    }
    let text = std::str::from_utf8(block).map_err(|e| format!("not UTF-8: {e}"))?;
    let body = text
        .strip_prefix(GRUBENV_HEADER)
        .ok_or_else(|| format!("no {GRUBENV_HEADER:?} header: {text:?}"))?;
    let mut vars = Vec::new();
    let mut rest = body;
    while let Some((line, after)) = rest.split_once('\n') {
        if line.starts_with('#') {
            break;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| format!("line {line:?} has no '='"))?;
        vars.push((k.to_string(), v.to_string()));
        rest = after;
    }
    if !rest.bytes().all(|b| b == b'#') {
        return Err(format!("padding is not all '#': {rest:?}"));
    }
    Ok(vars)
}

/// `grub.cfg` of [`grubenv_disk`]: the environment handling of Debian's
/// generated `grub.cfg` (`load_env` when `$prefix/grubenv` is not empty;
/// a set `next_entry` becomes the default for this boot and is cleared
/// with `save_env`, which writes the block in place through the
/// firmware's Block I/O), no menu, and the two [`GRUBENV_ENTRIES`].
pub fn grub_cfg_grubenv() -> String {
    let options = base_options(Arch::X86_64);
    let mut cfg = format!(
        "set timeout=0\n\
         if [ -s $prefix/grubenv ]; then\n\
         \tset have_grubenv=true\n\
         \tload_env\n\
         fi\n\
         echo \"{GRUBENV_ECHO}[${{next_entry}}]\"\n\
         if [ \"${{next_entry}}\" ] ; then\n\
         \tset default=\"${{next_entry}}\"\n\
         \tset next_entry=\n\
         \tsave_env next_entry\n\
         \tset boot_once=true\n\
         else\n\
         \tset default=\"0\"\n\
         fi\n"
    );
    for (title, variant, token) in GRUBENV_ENTRIES {
        cfg.push_str(&format!(
            "menuentry '{title}' {{\n\
             \techo '{GRUB_ECHO} {variant}'\n\
             \tlinux /debian/vmlinuz {options} {token}\n\
             \tinitrd /debian/initrd.img\n\
             }}\n"
        ));
    }
    cfg
}

/// A disk with shim, GRUB, [`grub_cfg_grubenv`], the kernel and initrd on
/// the ESP, and a [`GRUBENV`] whose `next_entry` is the second entry's
/// title (what `grub-reboot` leaves). Cached; a test that boots it must
/// attach a writable copy.
pub fn grubenv_disk(then: Then) -> Result<PathBuf, String> {
    let kernel = crate::debian::kernel()?;
    let initrd = crate::uefi::efi_initrd(then)?;
    let env = grubenv(&[("next_entry", GRUBENV_ENTRIES[1].0)]);
    let _turn = take_turn();
    Ok(esp(Arch::X86_64, "shim-grubenv", grub_cfg_grubenv())?
        .file(GRUBENV, Contents::Bytes(env))
        .file("/debian/vmlinuz", Contents::Host(kernel))
        .file("/debian/initrd.img", Contents::Bytes(initrd))
        .build())
}

/// Checks what every shim + GRUB boot must show: GRUB ran the `variant`'s
/// `grub.cfg`, the kernel got its `linux` line with `token` and without
/// `initrd=`, and it was started through UEFI with readable variables and
/// Secure Boot off. The same on every architecture.
pub fn check_boot(out: &Outcome, variant: &str, token: &str) {
    out.line(&format!("{GRUB_ECHO} {variant}"));
    let cmdline = out.kernel_cmdline();
    assert!(
        cmdline.split_whitespace().any(|w| w == token),
        "grub.cfg's options ({token}) did not reach the kernel: {cmdline}"
    );
    assert!(
        !cmdline.split_whitespace().any(|w| w.starts_with("initrd=")),
        "initrd= on the command line: GRUB did not start the kernel: {cmdline}"
    );
    let report = out.line(EFI_MARKER);
    assert!(
        !report.contains(EFI_ABSENT),
        "the kernel saw no UEFI (/sys/firmware/efi missing): {report} ({})",
        out.log_path.display()
    );
    // Secure Boot is off, and says so (UEFI §3.3: SecureBoot 0).
    assert!(
        report.contains("secureboot=[00]") && report.contains("setupmode=[01]"),
        "SecureBoot/SetupMode missing or not off: {report}"
    );
    let n = report
        .rsplit_once(" efivars=")
        .map(|(_, n)| n.trim())
        .unwrap_or_else(|| panic!("no efivars= in {report}"));
    // shim leaves runtime-visible variables (MokListRT, SbatLevelRT, ...).
    assert!(
        n.parse::<u32>().is_ok_and(|n| n > 0),
        "efivarfs could not be mounted or listed no variables (runtime variable services): \
         {report} ({})",
        out.log_path.display()
    );
    out.expect_exited();
}

#[cfg(test)]
mod tests {
    use super::{grubenv, grubenv_vars, GRUBENV_SIZE};

    #[test]
    fn environment_blocks_read_back() {
        let block = grubenv(&[("next_entry", "vmfw test second"), ("saved_entry", "0")]);
        assert_eq!(block.len(), GRUBENV_SIZE);
        assert!(block.starts_with(b"# GRUB Environment Block\nnext_entry=vmfw test second\n"));
        assert_eq!(block[GRUBENV_SIZE - 1], b'#');
        let vars = grubenv_vars(&block).unwrap();
        assert_eq!(
            vars,
            [("next_entry".into(), "vmfw test second".into()), ("saved_entry".into(), "0".into())]
        );
        // What `save_env next_entry` leaves once next_entry is cleared.
        let cleared = grubenv(&[("next_entry", "")]);
        assert_eq!(grubenv_vars(&cleared).unwrap(), [("next_entry".into(), String::new())]);
        assert!(grubenv_vars(&block[..1000]).is_err());
        let mut bad = block.clone();
        bad[GRUBENV_SIZE - 1] = b'x';
        assert!(grubenv_vars(&bad).is_err());
    }
}
