//! A complete Debian 12 system on a GPT disk, booted the way Debian boots
//! on UEFI: shim, then Debian's signed GRUB, then the kernel and its
//! initramfs from an ext4 root file system, then systemd up to
//! `multi-user.target`.
//!
//! The image is made by `debootstrap --variant=minbase` of bookworm with
//! [`PACKAGES`], from the Debian mirror the machine's apt already uses
//! (read from its sources at run time), then configured by writing files
//! into the tree (no chroot is needed):
//!
//! - `/etc/fstab`, a host name, an empty root password (no getty is
//!   needed, but the serial console lets one log in when debugging);
//! - the unit [`UNIT_NAME`] ([`UNIT`]), enabled for `multi-user.target` and
//!   ordered after it, which runs [`REPORT_SCRIPT`]: it prints
//!   [`MARKER`] with what the kernel sees of UEFI variables through
//!   efivarfs, then runs `systemctl poweroff`;
//! - `/boot/grub/grub.cfg` with one entry for the installed kernel.
//!
//! The ESP is laid out as `grub-install --removable --no-nvram` would on
//! Debian: `shimx64.efi.signed` as `\EFI\BOOT\BOOTX64.EFI`, next to it
//! `grubx64.efi` (which shim starts) and `mmx64.efi`, and
//! `\EFI\debian\grub.cfg` ([`ESP_GRUB_CFG`]): Debian's signed GRUB has
//! `/EFI/debian` on the device it was loaded from as its built-in prefix,
//! so that is where it reads its configuration; the file finds the root
//! file system by UUID and goes on with `/boot/grub/grub.cfg`.
//!
//! The root file system is made without loop devices: `mkfs.ext4 -d <tree>
//! -U <uuid>` into a partition image, which [`images::assemble_gpt`] puts
//! on the disk after the FAT ESP. The disk is 2 GiB, sparse.
//!
//! Building needs root (debootstrap unpacks and configures packages in a
//! chroot, and the tree must keep its owners and device nodes). The result
//! is cached in `~/.cache/vmfw/images` under a hash of the recipe (suite,
//! packages, every file written, sizes, [`RECIPE`]), and debootstrap keeps
//! the packages it downloads in `~/.cache/vmfw/debootstrap`, so a rebuild
//! downloads nothing but the package index. A build takes one and a half
//! to three minutes, most of it dpkg and the initramfs inside debootstrap
//! (the first one also downloads about 116 MB of packages); a cached image
//! costs nothing.
//!
//! debootstrap takes one suite: the system is bookworm's current point
//! release without `bookworm-security` or `bookworm-updates`, so its kernel
//! may be older than the one `apt-get download` fetches for the other tests.

use crate::images::{self, cache_dir, sha256_hex, Contents, Disk, PartImage};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use vmfw_block::Guid;

/// Bump when the way the image is built changes, to invalidate caches.
pub const RECIPE: &str = "debian-system-v1";

/// The Debian release.
pub const SUITE: &str = "bookworm";

/// What debootstrap installs on top of `minbase`.
pub const PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "initramfs-tools",
    "shim-signed",
    "grub-efi-amd64-signed",
];

/// The root file system's UUID (`mkfs.ext4 -U`), which GRUB searches for
/// and the kernel is given as `root=UUID=`.
pub const ROOT_UUID: &str = "7d0c2f5e-3b1a-4c9e-8f6d-766d66772d31";

/// The kernel's options (after `root=UUID=...`): a serial console, and a
/// panic ends the VM (QEMU's `-no-reboot`) instead of waiting for the
/// test's timeout.
pub const KERNEL_OPTIONS: &str = "ro console=ttyS0 panic=-1";

/// Size of the whole disk and of its ESP, in MiB.
pub const DISK_MIB: u64 = 2048;
/// Size of the ESP in MiB.
pub const ESP_MIB: u64 = 64;

/// The report line's prefix: the system reached `multi-user.target`.
pub const MARKER: &str = "VMFW-SYSTEM-OK";

/// Prefix of the line listing the names in efivarfs (GUIDs dropped).
pub const EFIVARS_MARKER: &str = "VMFW-SYSTEM-EFIVARS";

/// The test unit's name.
pub const UNIT_NAME: &str = "vmfw-report.service";

/// Where the report script is installed.
pub const REPORT_PATH: &str = "/usr/local/sbin/vmfw-report";

/// The test unit: runs once `multi-user.target` is reached, its output on
/// the serial console. Ordering it after the target that wants it is no
/// loop: systemd adds a target's implicit `After=` on the units it wants
/// only when the unit is not already ordered after the target.
pub const UNIT: &str = "\
[Unit]
Description=vmfw test: report UEFI variables on the console, then power off
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vmfw-report
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
";

/// The report: the marker with the number of entries in efivarfs and the
/// value of `SecureBoot` (the first byte after efivarfs' 4 attribute
/// bytes), the names of the variables, then power-off. `efivars=` says
/// `no-efi` when the kernel was not booted through UEFI and `not-mounted`
/// when efivarfs is not mounted; `SecureBoot=absent` when that variable
/// cannot be read.
pub const REPORT_SCRIPT: &str = r#"#!/bin/sh
# vmfw test: the system reached multi-user.target. Report what the kernel
# sees of the firmware's UEFI variables, then power off.
efi=/sys/firmware/efi
vars=$efi/efivars
sb=absent
names=
if [ ! -d "$efi" ]; then
    count=no-efi
elif ! mountpoint -q "$vars"; then
    count=not-mounted
else
    count=$(ls "$vars" | wc -l)
    f=$vars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
    if [ -r "$f" ]; then
        sb=$(od -An -tu1 -j4 -N1 "$f" | tr -d ' ')
    fi
    names=$(ls "$vars" | sed 's/-.\{36\}$//' | tr '\n' ' ')
fi
failed=$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')
echo "VMFW-SYSTEM-EFIVARS $names"
echo "VMFW-SYSTEM-OK kernel=$(uname -r) efivars=$count SecureBoot=$sb failed=[$failed]"
systemctl poweroff
"#;

/// `\EFI\debian\grub.cfg` on the ESP, as `grub-install` writes it
/// (`@UUID@` is [`ROOT_UUID`]).
pub const ESP_GRUB_CFG: &str = "\
search.fs_uuid @UUID@ root
set prefix=($root)'/boot/grub'
configfile $prefix/grub.cfg
";

/// `/boot/grub/grub.cfg` on the root file system: one entry, no menu
/// (`@UUID@` is [`ROOT_UUID`], `@VERSION@` the installed kernel's
/// version, `@OPTIONS@` [`KERNEL_OPTIONS`]).
pub const GRUB_CFG: &str = "\
set default=0
set timeout=0
menuentry 'Debian GNU/Linux 12 (vmfw test system)' {
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root @UUID@
	echo 'Loading Linux @VERSION@ ...'
	linux /boot/vmlinuz-@VERSION@ root=UUID=@UUID@ @OPTIONS@
	echo 'Loading initial ramdisk ...'
	initrd /boot/initrd.img-@VERSION@
}
";

/// `/etc/fstab`.
pub const FSTAB: &str = "UUID=@UUID@ / ext4 errors=remount-ro 0 1\n";

/// The host name.
pub const HOSTNAME: &str = "vmfw-debian\n";

/// What is removed from the tree before it becomes a file system:
/// downloaded packages and package lists, documentation, translations,
/// logs of the build.
const TRIM: &[&str] = &[
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log/bootstrap.log",
    "var/log/dpkg.log",
    "var/log/apt",
    "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/config.dat-old",
];

/// Why the image is not there.
#[derive(Debug)]
pub enum Error {
    /// It cannot be built here (not root); the test should be skipped.
    Skip(String),
    /// Building it failed.
    Failed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Skip(s) | Error::Failed(s) => f.write_str(s),
        }
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Failed(s)
    }
}

/// Everything the image is made from, as text: its cache key is a hash
/// of this.
pub fn recipe() -> String {
    format!(
        "{RECIPE}\nsuite {SUITE}\nvariant minbase\npackages {}\nuuid {ROOT_UUID}\n\
         options {KERNEL_OPTIONS}\nsizes {DISK_MIB} {ESP_MIB}\ntrim {}\n\
         {UNIT}\n{REPORT_SCRIPT}\n{ESP_GRUB_CFG}\n{GRUB_CFG}\n{FSTAB}\n{HOSTNAME}",
        PACKAGES.join(","),
        TRIM.join(",")
    )
}

/// The cached image's path (whether or not it exists yet).
pub fn image_path() -> PathBuf {
    let key = &sha256_hex(recipe().as_bytes())[..16];
    cache_dir().join("images").join(format!("debian-system-{key}.img"))
}

/// The image, built if it is not in the cache yet.
pub fn image() -> Result<PathBuf, Error> {
    let path = image_path();
    if path.exists() {
        return Ok(path);
    }
    if !is_root() {
        return Err(Error::Skip(format!(
            "building the Debian system image needs root (debootstrap, chroot); \
             not root and no cached image at {}",
            path.display()
        )));
    }
    let dir = cache_dir().join("images");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    remove_stale_scratch(&dir);
    let scratch = Scratch(dir.join(format!(".debian-system-{}", std::process::id())));
    scratch.clear()?;
    fs::create_dir_all(&scratch.0).map_err(|e| format!("{}: {e}", scratch.0.display()))?;
    let start = Instant::now();
    let tmp = scratch.0.join("disk.img");
    build(&scratch.0, &tmp)?;
    fs::rename(&tmp, &path).map_err(|e| format!("rename {}: {e}", tmp.display()))?;
    crate::progress!(
        "debian-system: built {} in {:.0} s",
        path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// A scratch directory, removed (after unmounting whatever debootstrap may
/// have left mounted in it) when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn clear(&self) -> Result<(), String> {
        if !self.0.exists() {
            return Ok(());
        }
        unmount_under(&self.0)?;
        fs::remove_dir_all(&self.0).map_err(|e| format!("remove {}: {e}", self.0.display()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = self.clear() {
            crate::progress!("debian-system: cannot clean up: {e}");
        }
    }
}

/// Removes the scratch directories of builds whose process is gone (a
/// test run that was interrupted).
fn remove_stale_scratch(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(".debian-system-") else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            drop(Scratch(e.path()));
        }
    }
}

/// Unmounts every mount point at or below `dir` (deepest first); fails if
/// any remains, so that nothing below it is ever removed through a mount.
fn unmount_under(dir: &Path) -> Result<(), String> {
    let mounted = || -> Result<Vec<String>, String> {
        let dir = fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir = dir.to_string_lossy().into_owned();
        let table = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
        let mut points: Vec<String> = table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|p| p == &dir || p.starts_with(&format!("{dir}/")))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Ok(points)
    };
    for p in mounted()? {
        let _ = Command::new("umount").arg("-l").arg(&p).status();
    }
    let left = mounted()?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("still mounted, not removing: {}", left.join(", ")))
    }
}

/// `/proc/self/mountinfo` escapes space, tab, newline and backslash as
/// three octal digits.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when running with effective user id 0.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The environment every build command runs with: a root PATH (also for
/// what debootstrap runs in the chroot), no prompts, no translations.
fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true");
    c
}

/// Runs `cmd`, its output going to `log`; on failure the error names the
/// command and carries the log's tail.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = cmd
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run {:?}: {e} (run .ci/deps)", cmd.get_program()))?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    Err(format!("{cmd:?} failed: {status}\n{tail}"))
}

/// Progress of a long command that logs to a file: every
/// [`Watch::EVERY`], one line with the time so far and the log's last
/// `I: ` line (debootstrap's steps: retrieving, unpacking, configuring).
/// Stops when dropped.
struct Watch {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(15);

    fn start(what: &'static str, log: &Path) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let log = log.to_path_buf();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Watch::EVERY)
            {
                let text = fs::read_to_string(&log).unwrap_or_default();
                let step = text.lines().rev().find(|l| l.starts_with("I: ")).unwrap_or("");
                crate::progress!("{what}, {:.0} s: {step}", start.elapsed().as_secs_f64());
            }
        });
        Watch { stop, thread: Some(thread) }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The Debian mirror the machine's apt uses for bookworm's `main`: the
/// first enabled `deb` source for [`SUITE`] in `/etc/apt/sources.list.d/*.sources`
/// (deb822) or in `/etc/apt/sources.list` and `*.list` (one-line format).
pub fn mirror() -> Result<String, String> {
    let mut files: Vec<PathBuf> = vec!["/etc/apt/sources.list".into()];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else { continue };
        let name = f.to_string_lossy();
        let found = if name.ends_with(".sources") {
            mirror_deb822(&text)
        } else if name.ends_with(".list") {
            mirror_one_line(&text)
        } else {
            None
        };
        if let Some(m) = found {
            return Ok(m);
        }
    }
    Err(format!("apt has no `deb` source for {SUITE} main (looked in /etc/apt/sources.list*)"))
}

fn usable_uri(uri: &str) -> bool {
    ["http://", "https://", "file:/"].iter().any(|s| uri.starts_with(s))
}

/// The mirror from a deb822 `.sources` file.
fn mirror_deb822(text: &str) -> Option<String> {
    let mut paragraphs = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            paragraphs.push(Vec::new());
        } else if !line.starts_with('#') {
            paragraphs.last_mut()?.push(line);
        }
    }
    paragraphs.iter().find_map(|p| {
        let field = |name: &str| {
            p.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let has = |name: &str, word: &str| {
            field(name).is_some_and(|v| v.split_whitespace().any(|w| w == word))
        };
        let enabled = field("Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if enabled && has("Types", "deb") && has("Suites", SUITE) && has("Components", "main") {
            field("URIs")?.split_whitespace().find(|u| usable_uri(u)).map(str::to_string)
        } else {
            None
        }
    })
}

/// The mirror from a one-line-format `.list` file.
fn mirror_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let rest = line.strip_prefix("deb ")?.trim_start();
        // Options in brackets come before the URI.
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']')?.1,
            None => rest,
        };
        let mut words = rest.split_whitespace();
        let uri = words.next()?;
        let suite = words.next()?;
        let main = words.any(|w| w == "main");
        (suite == SUITE && main && usable_uri(uri)).then(|| uri.to_string())
    })
}

fn write(root: &Path, path: &str, contents: &str, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(path.trim_start_matches('/'));
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::write(&p, contents).map_err(|e| format!("{}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// The version of the one kernel in the tree's `/boot`, checking that its
/// initramfs is there too.
fn kernel_version(root: &Path) -> Result<String, String> {
    let boot = root.join("boot");
    let versions: Vec<String> = fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    let [version] = &versions[..] else {
        return Err(format!("expected one kernel in {}, found {versions:?}", boot.display()));
    };
    let initrd = boot.join(format!("initrd.img-{version}"));
    if !initrd.exists() {
        return Err(format!(
            "{} is missing: the kernel's initramfs was not made",
            initrd.display()
        ));
    }
    Ok(version.clone())
}

/// Builds the disk image into `out`, using `scratch` for the tree and the
/// partition images.
fn build(scratch: &Path, out: &Path) -> Result<(), String> {
    let root = scratch.join("root");
    let debs = cache_dir().join("debootstrap");
    fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let mirror = mirror()?;

    let t = Instant::now();
    let log = scratch.join("debootstrap.log");
    crate::progress!(
        "debian-system: debootstrap {SUITE} (minbase and {}) from {mirror}: 1.5 to 3 minutes; \
         the first build downloads about 116 MB into {}",
        PACKAGES.join(", "),
        debs.display()
    );
    let watch = Watch::start("debian-system: debootstrap", &log);
    let done = run_logged(
        command("debootstrap")
            .args(["--variant=minbase", "--arch=amd64"])
            .arg(format!("--include={}", PACKAGES.join(",")))
            .arg(format!("--cache-dir={}", debs.display()))
            .arg(SUITE)
            .arg(&root)
            .arg(&mirror),
        &log,
    );
    drop(watch);
    done?;
    crate::progress!("debian-system: debootstrap took {:.0} s", t.elapsed().as_secs_f64());
    // debootstrap unmounts what it mounted in the tree; make sure.
    unmount_under(&root)?;

    let version = kernel_version(&root)?;
    let fill = |s: &str| {
        s.replace("@UUID@", ROOT_UUID)
            .replace("@VERSION@", &version)
            .replace("@OPTIONS@", KERNEL_OPTIONS)
    };
    write(&root, "/etc/fstab", &fill(FSTAB), 0o644)?;
    write(&root, "/etc/hostname", HOSTNAME, 0o644)?;
    write(&root, "/boot/grub/grub.cfg", &fill(GRUB_CFG), 0o644)?;
    write(&root, REPORT_PATH, REPORT_SCRIPT, 0o755)?;
    write(&root, &format!("/etc/systemd/system/{UNIT_NAME}"), UNIT, 0o644)?;
    // `systemctl enable`, by hand: the [Install] section's symlink.
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants).map_err(|e| format!("{}: {e}", wants.display()))?;
    let link = wants.join(UNIT_NAME);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{UNIT_NAME}"), &link)
        .map_err(|e| format!("{}: {e}", link.display()))?;
    // Boot to multi-user.target, not graphical.target.
    let default = root.join("etc/systemd/system/default.target");
    let _ = fs::remove_file(&default);
    std::os::unix::fs::symlink("/lib/systemd/system/multi-user.target", &default)
        .map_err(|e| format!("{}: {e}", default.display()))?;
    // An empty root password.
    let shadow = root.join("etc/shadow");
    let text = fs::read_to_string(&shadow).map_err(|e| format!("{}: {e}", shadow.display()))?;
    let text: String = text
        .lines()
        .map(|l| {
            let mut fields: Vec<&str> = l.split(':').collect();
            if fields.first() == Some(&"root") && fields.len() > 1 {
                fields[1] = "";
            }
            fields.join(":") + "\n"
        })
        .collect();
    write(&root, "/etc/shadow", &text, 0o640)?;
    for t in TRIM {
        let p = root.join(t);
        let gone = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
        if let Err(e) = gone {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(format!("{}: {e}", p.display()));
            }
        }
    }

    // The ESP, as `grub-install --removable --no-nvram` lays it out.
    let shim = root.join("usr/lib/shim");
    let grub = root.join("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed");
    let esp_image = scratch.join("esp.fat");
    Disk { esp_mib: ESP_MIB, ..Disk::new("debian-system-esp") }
        .file("/EFI/BOOT/BOOTX64.EFI", Contents::Host(shim.join("shimx64.efi.signed")))
        .file("/EFI/BOOT/grubx64.efi", Contents::Host(grub))
        .file("/EFI/BOOT/mmx64.efi", Contents::Host(shim.join("mmx64.efi.signed")))
        .file("/EFI/debian/grub.cfg", Contents::Bytes(fill(ESP_GRUB_CFG).into_bytes()))
        .write_esp_image(&esp_image);

    // The root file system: the rest of the disk, less the GPT's 2 MiB.
    let root_image = scratch.join("root.ext4");
    let root_mib = DISK_MIB - ESP_MIB - 2;
    crate::progress!(
        "debian-system: making the root file system ({root_mib} MiB, mkfs.ext4 -d) and the disk"
    );
    let t = Instant::now();
    run_logged(
        command("mkfs.ext4")
            .args(["-q", "-F", "-L", "debian-root", "-U", ROOT_UUID, "-d"])
            .arg(&root)
            .arg(&root_image)
            .arg(format!("{root_mib}M")),
        &scratch.join("mkfs.log"),
    )?;
    images::assemble_gpt(
        out,
        &[
            PartImage {
                type_guid: Guid::EFI_SYSTEM_PARTITION,
                name: "ESP".into(),
                image: esp_image,
            },
            PartImage { type_guid: Guid::LINUX_FILESYSTEM, name: "root".into(), image: root_image },
        ],
    );
    crate::progress!(
        "debian-system: file systems and disk took {:.0} s (kernel {version})",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror_in_deb822_sources() {
        let text = "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\
                    Components: main\n\n\
                    # a comment\nTypes: deb\nURIs: http://one.example/debian\n\
                    Suites: bookworm bookworm-updates\nComponents: main contrib\n\n\
                    Types: deb\nURIs: http://sec.example/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n";
        assert_eq!(mirror_deb822(text).as_deref(), Some("http://one.example/debian"));
        let disabled = "Enabled: no\nTypes: deb\nURIs: http://x.example/d\nSuites: bookworm\n\
                        Components: main\n";
        assert_eq!(mirror_deb822(disabled), None);
    }

    #[test]
    fn finds_the_mirror_in_one_line_sources() {
        let text = "# deb http://old.example/debian bookworm main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb http://sec.example/debian-security bookworm-security main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n";
        assert_eq!(mirror_one_line(text).as_deref(), Some("http://one.example/debian"));
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape_mountinfo("/a\\040b/c\\134d"), "/a b/c\\d");
        assert_eq!(unescape_mountinfo("/plain\\9"), "/plain\\9");
    }
}
