//! Debian packages for test images, fetched with the machine's own apt
//! (`apt-get download`, then `dpkg -x`), never from anywhere else, and kept
//! in `~/.cache/vmfw/debs` keyed by package name, version and architecture,
//! so a second run reuses them and a new Debian point release refreshes them.
//!
//! Packages of the machine's architecture (`amd64`) and `all` come through
//! the system's apt state. Those of another architecture (`arm64`) come
//! through a private apt configuration ([`apt_options`]): the same sources,
//! with that architecture and package lists of its own under
//! `~/.cache/vmfw/apt-<arch>`, so nothing of the system's apt changes.

use crate::arch::Arch;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// apt is not safe to run concurrently (tests run in parallel threads).
static APT: Mutex<()> = Mutex::new(());

/// How old a private configuration's package lists may get before they are
/// updated (once per process): a Debian point release removes the package
/// versions they name, kernels included.
const PRIVATE_LISTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The options that make `apt-get` and `apt-cache` work for packages of
/// `arch`: none for the machine's own architecture (`amd64`) and for
/// `all`; for any other, a private configuration under
/// `~/.cache/vmfw/apt-<arch>` (created here): that architecture as the
/// only one, its own package lists, its own binary cache of them (else
/// apt would rebuild the system's `pkgcache.bin` from the foreign lists)
/// and an empty dpkg status (nothing is installed for it). apt's sources
/// stay the system's. Lists older than a day are updated first (when that
/// fails, older lists are used as they are).
pub fn apt_options(arch: &str) -> Result<Vec<String>, String> {
    if matches!(arch, "amd64" | "all") {
        return Ok(Vec::new());
    }
    let base = crate::images::cache_dir().join(format!("apt-{arch}"));
    let lists = base.join("lists");
    let cache = base.join("cache");
    let status = base.join("status");
    for d in [lists.join("partial"), cache.join("archives").join("partial")] {
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    if !status.exists() {
        std::fs::write(&status, "").map_err(|e| format!("{}: {e}", status.display()))?;
    }
    let opt = |k: &str, v: &str| ["-o".to_string(), format!("{k}={v}")];
    let options = [
        opt("APT::Architecture", arch),
        opt("APT::Architectures", arch),
        opt("Dir::State::Lists", &lists.to_string_lossy()),
        opt("Dir::Cache", &cache.to_string_lossy()),
        opt("Dir::State::status", &status.to_string_lossy()),
    ]
    .concat();
    // Written after each successful update: its age is the lists' age.
    let stamp = base.join("updated");
    let age =
        std::fs::metadata(&stamp).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    // Tried once per process and architecture, whatever the outcome.
    static TRIED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let first = {
        let mut tried = TRIED.lock().unwrap_or_else(|e| e.into_inner());
        let first = !tried.iter().any(|a| a == arch);
        if first {
            tried.push(arch.to_string());
        }
        first
    };
    if age.is_none_or(|a| a > PRIVATE_LISTS_MAX_AGE) && (first || age.is_none()) {
        crate::progress!("apt: updating the {arch} package lists in {}", lists.display());
        match update(&options) {
            Ok(_) => std::fs::write(&stamp, "").map_err(|e| format!("{}: {e}", stamp.display()))?,
            Err(e) if age.is_some() => {
                crate::progress!("apt: {e}; using the {arch} package lists as they are");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(options)
}

/// `apt-get update` with `options` ([`apt_options`]).
fn update(options: &[String]) -> Result<String, String> {
    output(Command::new("apt-get").args(options).args(["update", "-q"]))
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The candidate version of `package` (of `arch`) and its size in bytes
/// (0 when apt does not say), updating the package lists once if apt does
/// not know it yet.
fn candidate(package: &str, arch: &str) -> Result<(String, u64), String> {
    let options = apt_options(arch)?;
    let query = || {
        let text = output(Command::new("apt-cache").args(&options).args([
            "show",
            "--no-all-versions",
            package,
        ]))
        .unwrap_or_default();
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": ")).map(str::trim)
        };
        let size = field("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
        field("Version").map(|v| (v.to_string(), size))
    };
    if let Some(c) = query() {
        return Ok(c);
    }
    if options.is_empty() {
        crate::progress!("apt: {package} is not in apt's package lists; running apt-get update");
    } else {
        crate::progress!("apt: {package} is not in the {arch} package lists; updating them");
    }
    update(&options)?;
    query().ok_or_else(|| format!("apt knows no package {package:?} ({arch})"))
}

/// The candidate version of `package` (see [`candidate`]).
fn version(package: &str, arch: &str) -> Result<String, String> {
    candidate(package, arch).map(|(v, _)| v)
}

/// The real package behind a metapackage such as `linux-image-amd64`
/// (its first dependency that is a `linux-image-*` package).
pub fn resolve_kernel_package(meta: &str) -> Result<String, String> {
    resolve_kernel_package_for(meta, "amd64")
}

/// As [`resolve_kernel_package`], for a metapackage of `arch` (Debian's
/// name: `linux-image-arm64` with `arm64`).
pub fn resolve_kernel_package_for(meta: &str, arch: &str) -> Result<String, String> {
    let _guard = APT.lock().unwrap_or_else(|e| e.into_inner());
    version(meta, arch)?;
    let options = apt_options(arch)?;
    let deps = output(Command::new("apt-cache").args(&options).args(["depends", meta]))?;
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with("linux-image-") && !d.contains('<'))
        .map(str::to_string)
        .ok_or_else(|| format!("{meta} depends on no linux-image package"))
}

/// Downloads and unpacks `package` (amd64 unless `arch` says otherwise);
/// returns the directory it was unpacked into.
pub fn unpack(package: &str, arch: &str) -> Result<PathBuf, String> {
    let _guard = APT.lock().unwrap_or_else(|e| e.into_inner());
    let (version, size) = candidate(package, arch)?;
    let dir = crate::images::cache_dir().join("debs");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let stem = format!("{package}_{}_{arch}", version.replace(':', "%3a"));
    let unpacked = dir.join(&stem);
    if unpacked.join(".complete").exists() {
        return Ok(unpacked);
    }
    let options = apt_options(arch)?;
    let deb = find_deb(&dir, package, arch)?.map_or_else(
        || {
            // A private configuration has `arch` as its only architecture.
            let spec = if arch == "amd64" || !options.is_empty() {
                format!("{package}={version}")
            } else {
                format!("{package}:{arch}={version}")
            };
            crate::progress!(
                "apt: downloading {package} {version} ({arch}, {}) into {}",
                crate::size(size),
                dir.display()
            );
            let t = Instant::now();
            output(
                Command::new("apt-get")
                    .args(&options)
                    .args(["download", "-q", &spec])
                    .current_dir(&dir),
            )?;
            crate::progress!("apt: downloaded {package} in {:.1} s", t.elapsed().as_secs_f64());
            find_deb(&dir, package, arch)?
                .ok_or_else(|| format!("apt-get download {spec} left no .deb"))
        },
        Ok,
    )?;
    let _ = std::fs::remove_dir_all(&unpacked);
    let t = Instant::now();
    output(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    std::fs::write(unpacked.join(".complete"), &version).map_err(|e| e.to_string())?;
    crate::progress!(
        "apt: unpacked {package} into {} in {:.1} s",
        unpacked.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(unpacked)
}

fn find_deb(dir: &Path, package: &str, arch: &str) -> Result<Option<PathBuf>, String> {
    let version = version(package, arch)?;
    // apt names files with the epoch's colon escaped as %3a.
    let want = format!("{package}_{}_{arch}.deb", version.replace(':', "%3a"));
    let p = dir.join(want);
    Ok(p.exists().then_some(p))
}

/// The Debian 12 kernel (`linux-image-amd64`'s current version): path of
/// its `vmlinuz`.
pub fn kernel() -> Result<PathBuf, String> {
    kernel_for(Arch::X86_64)
}

/// The Debian 12 kernel for `arch` (`linux-image-<arch>`'s current
/// version): path of its `vmlinuz`, as the package ships it (on arm64 an
/// `Image`, gzip-compressed in older builds: see [`arm64_image`] and
/// [`arm64_vmlinuz_gz`]).
pub fn kernel_for(arch: Arch) -> Result<PathBuf, String> {
    let pkg = resolve_kernel_package_for(&format!("linux-image-{}", arch.deb()), arch.deb())?;
    let dir = unpack(&pkg, arch.deb())?;
    let boot = dir.join("boot");
    std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .ok_or_else(|| format!("no vmlinuz in {}", boot.display()))
}

/// A module of the kernel [`kernel`] returns, by its path under
/// `lib/modules/<version>/kernel/` (e.g. `fs/efivarfs/efivarfs.ko`).
pub fn kernel_module(path: &str) -> Result<PathBuf, String> {
    kernel_module_for(Arch::X86_64, path)
}

/// As [`kernel_module`], of the kernel [`kernel_for`] returns for `arch`.
pub fn kernel_module_for(arch: Arch, path: &str) -> Result<PathBuf, String> {
    let vmlinuz = kernel_for(arch)?;
    let name = vmlinuz.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let version = name.strip_prefix("vmlinuz-").unwrap_or(&name);
    let root = vmlinuz.parent().and_then(Path::parent).ok_or("vmlinuz outside the package")?;
    let p = root.join("lib/modules").join(version).join("kernel").join(path);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("the kernel package has no {}", p.display()))
    }
}

/// `busybox-static`'s binary.
pub fn busybox() -> Result<PathBuf, String> {
    busybox_for(Arch::X86_64)
}

/// `busybox-static`'s binary for `arch`.
pub fn busybox_for(arch: Arch) -> Result<PathBuf, String> {
    Ok(unpack("busybox-static", arch.deb())?.join("bin").join("busybox"))
}

/// The arm64 kernel as an uncompressed `Image` (an EFI PE: `MZ` first),
/// for loaders that start it through UEFI `LoadImage` (systemd-stub's
/// `.linux`, systemd-boot), which take no gzip-compressed kernel. Debian
/// 12's current arm64 package ships exactly that as `vmlinuz` (older
/// builds shipped it gzip-compressed): a gzip `vmlinuz` is decompressed
/// with `gzip -dc` once and cached next to the unpacked package.
pub fn arm64_image() -> Result<PathBuf, String> {
    let vmlinuz = kernel_for(Arch::Aarch64)?;
    if !is_gzip(&vmlinuz)? {
        return Ok(vmlinuz);
    }
    let image = vmlinuz.with_file_name(".vmfw-Image");
    cache_output(&image, Command::new("gzip").arg("-dc").arg(&vmlinuz), b"MZ")?;
    Ok(image)
}

/// The arm64 kernel gzip-compressed, as Debian's arm64 `vmlinuz` used to
/// be shipped (and other distributions ship it): the shipped file when it
/// is gzip, else the `Image` compressed with `gzip -9 -n` (no name or time
/// stamp in the header: the same bytes every time), cached next to the
/// unpacked package. For the native loader's inflate path.
pub fn arm64_vmlinuz_gz() -> Result<PathBuf, String> {
    let vmlinuz = kernel_for(Arch::Aarch64)?;
    if is_gzip(&vmlinuz)? {
        return Ok(vmlinuz);
    }
    let gz = vmlinuz.with_file_name(".vmfw-vmlinuz.gz");
    cache_output(&gz, Command::new("gzip").args(["-9", "-n", "-c"]).arg(&vmlinuz), &[0x1f, 0x8b])?;
    Ok(gz)
}

/// Whether `path` starts with the gzip magic (`1f 8b`).
fn is_gzip(path: &Path) -> Result<bool, String> {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(head == [0x1f, 0x8b])
}

/// Writes what `cmd` prints to `path` unless `path` exists; the output
/// must start with `magic`.
fn cache_output(path: &Path, cmd: &mut Command, magic: &[u8]) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() || !out.stdout.starts_with(magic) {
        return Err(format!("{cmd:?} failed or wrote no {magic:02x?} file"));
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &out.stdout).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
