//! Debian packages for test images, fetched with the machine's own apt
//! (`apt-get download`, then `dpkg -x`), never from anywhere else, and kept
//! in `~/.cache/vmfw/debs` keyed by package name, version and architecture,
//! so a second run reuses them and a new Debian point release refreshes them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// apt is not safe to run concurrently (tests run in parallel threads).
static APT: Mutex<()> = Mutex::new(());

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The candidate version of `package` and its size in bytes (0 when apt
/// does not say), updating the package lists once if apt does not know it
/// yet.
fn candidate(package: &str) -> Result<(String, u64), String> {
    let query = || {
        let text = output(Command::new("apt-cache").args(["show", "--no-all-versions", package]))
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
    crate::progress!("apt: {package} is not in apt's package lists; running apt-get update");
    output(Command::new("apt-get").args(["update", "-q"]))?;
    query().ok_or_else(|| format!("apt knows no package {package:?}"))
}

/// The candidate version of `package` (see [`candidate`]).
fn version(package: &str) -> Result<String, String> {
    candidate(package).map(|(v, _)| v)
}

/// The real package behind a metapackage such as `linux-image-amd64`
/// (its first dependency that is a `linux-image-*` package).
pub fn resolve_kernel_package(meta: &str) -> Result<String, String> {
    let _guard = APT.lock().unwrap_or_else(|e| e.into_inner());
    version(meta)?;
    let deps = output(Command::new("apt-cache").args(["depends", meta]))?;
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
    let (version, size) = candidate(package)?;
    let dir = crate::images::cache_dir().join("debs");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let stem = format!("{package}_{}_{arch}", version.replace(':', "%3a"));
    let unpacked = dir.join(&stem);
    if unpacked.join(".complete").exists() {
        return Ok(unpacked);
    }
    let deb = find_deb(&dir, package, arch)?.map_or_else(
        || {
            let spec = if arch == "amd64" {
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
            output(Command::new("apt-get").args(["download", "-q", &spec]).current_dir(&dir))?;
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
    let version = version(package)?;
    // apt names files with the epoch's colon escaped as %3a.
    let want = format!("{package}_{}_{arch}.deb", version.replace(':', "%3a"));
    let p = dir.join(want);
    Ok(p.exists().then_some(p))
}

/// The Debian 12 kernel (`linux-image-amd64`'s current version): path of
/// its `vmlinuz`.
pub fn kernel() -> Result<PathBuf, String> {
    let pkg = resolve_kernel_package("linux-image-amd64")?;
    let dir = unpack(&pkg, "amd64")?;
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
    let vmlinuz = kernel()?;
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
    Ok(unpack("busybox-static", "amd64")?.join("bin").join("busybox"))
}
