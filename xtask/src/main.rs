//! `cargo xtask`: build, run and test vmfw.
//!
//! - `cargo xtask build [--arch x86_64] [--release]` builds the firmware and
//!   writes `target/vmfw-<arch>.elf` (plus `target/vmfw-<arch>-nopvh.elf`,
//!   the same image without its PVH note, which makes Firecracker use the
//!   Linux 64-bit boot door).
//! - `cargo xtask run [--machine q35|microvm] [-- QEMU ARGS]` builds and boots
//!   the firmware under QEMU with the serial console on stdio.
//! - `cargo xtask bench` runs the benchmarks (numbers, not assertions).
//! - `cargo xtask test` runs everything CI runs: formatting, clippy, host
//!   unit tests, then the integration tests that boot the firmware.

mod bench;
mod build;
mod elf;
mod fuzz;
mod qemu;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo xtask <command>\n\
         \n\
         commands:\n  \
           build [--arch x86_64] [--release|--debug]   build target/vmfw-<arch>.elf\n  \
           demo                                        build and boot the demo under QEMU\n  \
           run [--machine q35|microvm] [--debug] [-- QEMU ARGS]\n                                               boot it under QEMU (serial on stdio)\n  \
           bench                                       storage benchmark under QEMU (64 MiB file)\n  \
           fuzz [--seconds N] [TARGET...]              run the fuzz targets briefly (nightly + cargo-fuzz)\n  \
           test [--quick]                              fmt, clippy, unit tests, integration tests\n                                               (--quick: skip the VM tests)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { return usage() };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "build" => build::cmd_build(rest).map(|_| ()),
        "run" => qemu::cmd_run(rest),
        "demo" => qemu::cmd_demo(rest),
        "test" => cmd_test(rest),
        "bench" => bench::cmd_bench(rest),
        "fuzz" => fuzz::cmd_fuzz(rest),
        "-h" | "--help" | "help" => return usage(),
        other => {
            eprintln!("unknown command {other:?}");
            return usage();
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything CI checks, in the order that fails fastest.
fn cmd_test(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    build::cargo(&["fmt", "--all", "--check"])?;
    build::cargo(&[
        "clippy",
        "--workspace",
        "--exclude",
        "vmfw",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    for arch in build::ARCHES {
        build::cargo(&[
            "clippy",
            "-p",
            "vmfw",
            "--target",
            arch.target,
            "--release",
            "--",
            "-D",
            "warnings",
        ])?;
    }
    // Host unit tests; the VM tests (itest) need the firmware built first.
    build::cargo(&["test", "--workspace", "--exclude", "vmfw", "--exclude", "itest"])?;
    if quick {
        return Ok(());
    }
    build::build(&build::ARCHES[0], true)?;
    for (var, vmm) in [("CLOUD_HYPERVISOR", "Cloud Hypervisor"), ("FIRECRACKER", "Firecracker")] {
        match std::env::var_os(var) {
            Some(p) => eprintln!("{vmm}: testing with {}", p.to_string_lossy()),
            None => eprintln!("{vmm}: skipped (set {var}=/path/to/binary to test it)"),
        }
    }
    build::cargo_env(
        &["test", "-p", "itest", "--", "--test-threads=2"],
        &[("VMFW_ELF_DIR", build::target_dir().to_string_lossy().as_ref())],
    )
}
