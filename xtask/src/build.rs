//! Building the firmware ELF.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A firmware architecture.
pub struct Arch {
    pub name: &'static str,
    pub target: &'static str,
    /// What VMMs load: the ELF itself (x86_64: PVH note, Linux 64-bit
    /// entry), or a flat `Image` made from it (aarch64: `.bin`).
    pub flat: bool,
}

/// The architectures the firmware builds for (x86_64 first).
pub const ARCHES: [Arch; 2] = [
    Arch { name: "x86_64", target: "x86_64-unknown-none", flat: false },
    Arch { name: "aarch64", target: "aarch64-unknown-none", flat: true },
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

pub fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_env(args, &[])
}

pub fn cargo_env(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("+ cargo {}", args.join(" "));
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

/// Builds the firmware for `arch`, both builds: `target/vmfw-<arch>.elf`
/// (the default one) and `target/vmfw-<arch>-diag.elf` (debug logging and
/// the `vmfw.hash=`/`vmfw.bench=` diagnostics; its own target directory,
/// `target/diag`, so the two never rebuild each other), each with a
/// `-nopvh` copy; for a flat architecture (aarch64) `vmfw-<arch>.bin` and
/// `vmfw-<arch>-diag.bin` instead. Returns the default one's path.
pub fn build(arch: &Arch, release: bool) -> Result<PathBuf, String> {
    let out = build_one(arch, release, "", &[], &target_dir())?;
    build_one(arch, release, "-diag", &DIAG_FEATURES, &diag_target_dir())?;
    Ok(out)
}

/// The cargo arguments that select the diagnostic build.
pub const DIAG_FEATURES: [&str; 3] =
    ["--no-default-features", "--features", "diagnostics,esp-write,secure-boot"];

/// The diagnostic build's own target directory.
pub fn diag_target_dir() -> PathBuf {
    target_dir().join("diag")
}

pub(crate) fn build_one(
    arch: &Arch,
    release: bool,
    suffix: &str,
    features: &[&str],
    dir: &Path,
) -> Result<PathBuf, String> {
    let dir_arg = dir.to_string_lossy().into_owned();
    let mut args = vec!["build", "-p", "vmfw", "--target", arch.target, "--target-dir", &dir_arg];
    args.extend_from_slice(features);
    if release {
        args.push("--release");
    }
    cargo(&args)?;
    let profile = if release { "release" } else { "debug" };
    let built = dir.join(arch.target).join(profile).join("vmfw");
    let out = target_dir().join(format!("vmfw-{}{suffix}.elf", arch.name));
    std::fs::copy(&built, &out).map_err(|e| format!("copy {}: {e}", built.display()))?;
    let image = std::fs::read(&out).map_err(|e| format!("read {}: {e}", out.display()))?;
    if arch.flat {
        let flat = crate::elf::flat_image(&image)?;
        let bin = target_dir().join(format!("vmfw-{}{suffix}.bin", arch.name));
        std::fs::write(&bin, &flat).map_err(|e| format!("write {}: {e}", bin.display()))?;
        eprintln!("built {} ({} bytes)", bin.display(), flat.len());
        return Ok(bin);
    }
    let nopvh = crate::elf::without_pvh_note(&image)?;
    let nopvh_out = target_dir().join(format!("vmfw-{}{suffix}-nopvh.elf", arch.name));
    std::fs::write(&nopvh_out, nopvh).map_err(|e| format!("write {}: {e}", nopvh_out.display()))?;
    eprintln!("built {} ({} bytes)", out.display(), image.len());
    Ok(out)
}

/// The architecture named `name` (one of [`ARCHES`]).
pub fn arch(name: &str) -> Option<&'static Arch> {
    ARCHES.iter().find(|a| a.name == name)
}
