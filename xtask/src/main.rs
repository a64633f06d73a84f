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
           fuzz [--seconds N] [--toolchain T] [--if-available] [TARGET...]\n                                               run the fuzz targets briefly; needs nightly\n                                               (or T) and cargo-fuzz, fails without them\n                                               unless --if-available\n  \
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
    // Which VM tests run is decided (and said) first: a list that disagrees
    // with the tests fails at once, not after minutes of clippy.
    let plan = if quick { None } else { Some(VmTests::plan()?) };
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
    // The firmware's host tests (its modules built as an ordinary program,
    // see firmware/src/arch/host.rs), linted like the rest.
    build::cargo(&["clippy", "-p", "vmfw", "--tests", "--", "-D", "warnings"])?;
    // Host unit tests; the VM tests (itest) need the firmware built first.
    build::cargo(&["test", "--workspace", "--exclude", "itest"])?;
    let Some(plan) = plan else { return Ok(()) };
    build::build(&build::ARCHES[0], true)?;
    plan.run()
}

/// How the VM tests (`itest/tests/*.rs`) run. A test marked `#[ignore]`
/// needs an input besides QEMU (listed in `itest::OPTIONAL_TESTS`); its
/// binary runs with `--include-ignored` exactly when that input is here, so
/// that otherwise libtest reports the test as ignored, never as passed, and
/// this says why, before the run and again after it.
struct VmTests {
    /// Binaries run without `--include-ignored`, in one cargo call: those
    /// with no ignored tests, and those none of whose ignored tests can run.
    plain: Vec<String>,
    /// Binaries run with `--include-ignored`, each with the names of its
    /// ignored tests that cannot run here (skipped by exact name).
    with_ignored: Vec<(String, Vec<&'static str>)>,
    /// One line per test left out, with why.
    notes: Vec<String>,
}

impl VmTests {
    /// Reads the test binaries, checks them against `itest::OPTIONAL_TESTS`,
    /// looks for each optional test's inputs and prints what it found.
    fn plan() -> Result<Self, String> {
        let mut plan = VmTests { plain: Vec::new(), with_ignored: Vec::new(), notes: Vec::new() };
        for (binary, ignored) in itest_binaries()? {
            if ignored.is_empty() {
                plan.plain.push(binary);
                continue;
            }
            let mut missing = Vec::new();
            for o in itest::OPTIONAL_TESTS.iter().filter(|o| o.binary == binary) {
                match (o.inputs)() {
                    Ok(with) => {
                        eprintln!("{binary}: {} test runs (--include-ignored): {with}", o.what);
                    }
                    Err(why) => missing.push((o, why)),
                }
            }
            // Some of the binary's ignored tests can run and some cannot:
            // it runs with --include-ignored and the others are skipped by
            // name, which libtest counts as "filtered out".
            let partly = !missing.is_empty() && missing.len() < ignored.len();
            for (o, why) in &missing {
                let how = if partly { " (--skip)" } else { "" };
                plan.notes.push(format!("{binary}: {} test ignored{how}: {why}", o.what));
            }
            if missing.len() == ignored.len() {
                plan.plain.push(binary);
            } else {
                plan.with_ignored.push((binary, missing.iter().map(|(o, _)| o.test).collect()));
            }
        }
        plan.say();
        Ok(plan)
    }

    fn say(&self) {
        for n in &self.notes {
            eprintln!("{n}");
        }
    }

    /// Runs the binaries as planned (the firmware must be built).
    fn run(&self) -> Result<(), String> {
        let elf_dir = build::target_dir().to_string_lossy().into_owned();
        let env = [("VMFW_ELF_DIR", elf_dir.as_str())];
        let mut args = vec!["test", "-p", "itest", "--lib"];
        for b in &self.plain {
            args.extend(["--test", b]);
        }
        args.extend(["--", "--test-threads=2"]);
        build::cargo_env(&args, &env)?;
        for (binary, skip) in &self.with_ignored {
            let mut args = vec!["test", "-p", "itest", "--test", binary];
            args.extend(["--", "--test-threads=2", "--include-ignored"]);
            if !skip.is_empty() {
                args.push("--exact");
                for t in skip {
                    args.extend(["--skip", t]);
                }
            }
            build::cargo_env(&args, &env)?;
        }
        // Said again: the first time is thousands of lines up by now.
        self.say();
        Ok(())
    }
}

/// The integration test binaries (`itest/tests/<name>.rs`), sorted, each
/// with its `#[ignore]`d tests; an error unless those are exactly the ones
/// `itest::OPTIONAL_TESTS` lists (or a test could be ignored with nothing
/// saying what it needs, or listed and never run).
fn itest_binaries() -> Result<Vec<(String, Vec<String>)>, String> {
    let dir = build::root().join("itest/tests");
    let mut binaries = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = e.map_err(|e| e.to_string())?.path();
        let Some(name) = path.file_stem().filter(|_| path.extension().is_some_and(|x| x == "rs"))
        else {
            continue;
        };
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        binaries.push((name.to_string_lossy().into_owned(), ignored_tests(&text)));
    }
    binaries.sort();
    for (binary, ignored) in &binaries {
        for t in ignored {
            if !itest::OPTIONAL_TESTS.iter().any(|o| o.binary == binary && o.test == t) {
                return Err(format!(
                    "itest/tests/{binary}.rs: {t} is #[ignore]d but not in itest::OPTIONAL_TESTS"
                ));
            }
        }
    }
    for o in itest::OPTIONAL_TESTS {
        if !binaries.iter().any(|(b, ignored)| b == o.binary && ignored.iter().any(|t| t == o.test))
        {
            return Err(format!(
                "itest::OPTIONAL_TESTS lists {}::{}, which is no #[ignore]d test in itest/tests",
                o.binary, o.test
            ));
        }
    }
    Ok(binaries)
}

/// The names of the `#[ignore]`d test functions in a test file's source.
fn ignored_tests(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = false;
    for line in source.lines().map(str::trim_start) {
        if line.starts_with("#[ignore") {
            pending = true;
        } else if pending {
            if let Some(rest) = line.strip_prefix("fn ").or_else(|| line.strip_prefix("pub fn ")) {
                let name = rest.split(['(', '<']).next().unwrap_or("");
                names.push(name.trim().to_string());
                pending = false;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ignored_tests() {
        let src = "#[test]\nfn a() {}\n\n#[test]\n#[ignore = \"needs X\"]\n/// Doc.\nfn b() {}\n\
                   #[ignore]\n#[test]\npub fn c<T>() {}\n// #[ignore]\nfn d() {}\n";
        assert_eq!(ignored_tests(src), ["b", "c"]);
    }

    /// `cargo xtask test` refuses to run when these disagree; catch it in
    /// the unit tests already.
    #[test]
    fn optional_tests_match_the_ignore_attributes() {
        let binaries = itest_binaries().unwrap();
        let vmms = binaries.iter().find(|(b, _)| b == "vmms").expect("itest/tests/vmms.rs");
        assert_eq!(vmms.1, ["cloud_hypervisor_pvh", "firecracker_both_doors"]);
    }
}
