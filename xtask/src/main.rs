//! `cargo xtask`: build, run, demo and test vmfw. `cargo xtask --help`
//! lists the commands, `cargo xtask <command> --help` their options; the
//! parser is clap's derive API, so an unknown option or a bad value is an
//! error (exit status 2) that names the valid values.

mod bench;
mod bench_boot;
mod bench_chart;
mod bench_report;
mod build;
mod demo;
mod elf;
mod enroll;
mod fuzz;
mod qemu;
mod x509;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand};
use itest::Machine;
use std::path::PathBuf;
use std::process::ExitCode;

/// Build, run, demo and test vmfw, a firmware for KVM virtual machines.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true,
    after_help = top_after_help()
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

// Help texts are laid out by hand (`verbatim_doc_comment`), lines of at
// most 100 columns: without clap's `wrap_help` feature (and the terminal
// size crates it brings) nothing wraps them.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the firmware
    ///
    /// x86_64: writes target/vmfw-x86_64.elf, and target/vmfw-x86_64-nopvh.elf: the same image
    /// without its PVH note, which makes Firecracker enter through the Linux 64-bit boot
    /// protocol. Also target/vmfw-x86_64-diag.elf (and -diag-nopvh): the diagnostic build, with
    /// debug logging and the vmfw.hash= / vmfw.bench= diagnostics.
    /// aarch64: writes target/vmfw-aarch64.bin (and -diag.bin), a flat arm64 Image for
    /// QEMU virt's -kernel and Cloud Hypervisor's --kernel.
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),
    /// Boot a demo disk under QEMU to a shell on this terminal
    ///
    /// Builds the firmware and a disk laid out as a Debian 12 machine's ESP: Debian's kernel,
    /// a busybox initrd, Boot Loader Specification entries ("Debian GNU/Linux 12 (bookworm)"
    /// and its recovery mode) and systemd-boot. The first run fetches the Debian packages with
    /// apt-get download (about 72 MB). vmfw shows its boot menu for 5 s and boots the entry
    /// itself; with --uefi it starts systemd-boot, which shows its own menu for the same entries.
    #[command(verbatim_doc_comment, after_help = guest_after_help())]
    Demo(DemoArgs),
    /// Boot the firmware under QEMU, the serial console on this terminal
    ///
    /// Builds the firmware and boots it with no disk; give disks and other devices as QEMU
    /// arguments after `--`. For a Linux guest under TCG, `-- -icount shift=auto` lets the
    /// kernel calibrate its TSC (the demo does that).
    #[command(verbatim_doc_comment, after_help = guest_after_help())]
    Run(RunArgs),
    /// Benchmarks under QEMU: boot times and storage (numbers, not assertions)
    ///
    /// `bench boot` times the same kernel and initrd booted directly by QEMU, by vmfw (BLS entry,
    /// UKI, systemd-boot) and by OVMF; `bench storage` measures the firmware's disk reads.
    /// Without a command, both run with their defaults (boot first; 5 to 15 minutes in all).
    #[command(verbatim_doc_comment)]
    Bench(BenchArgs),
    /// Run the fuzz targets briefly, from their seeds
    ///
    /// Needs a nightly toolchain and cargo-fuzz; without them this fails (so that CI cannot
    /// report fuzzing that never ran), unless --if-available. Logs go to target/fuzz-logs/.
    #[command(verbatim_doc_comment)]
    Fuzz(FuzzArgs),
    /// Run everything CI checks: formatting, clippy, unit tests, VM tests
    ///
    /// In order: cargo fmt --check, clippy on every crate (the firmware for its bare-metal
    /// target and its host tests), the host unit tests, then the firmware's release build and
    /// the VM tests (itest) under QEMU, two at a time.
    #[command(verbatim_doc_comment, after_help = test_after_help())]
    Test(TestArgs),
    /// Embed Secure Boot keys (PK, KEK, db, dbx) into a firmware image, or show an image's keys
    ///
    /// Writes a copy of --image with the keys appended where the firmware reads them and the guest
    /// cannot change them: a new loadable segment of the x86_64 ELF, or the tail of the arm64
    /// Image. A key FILE is an X.509 certificate (DER or PEM; each becomes an EFI_CERT_X509 list
    /// owned by --owner) or an EFI signature list (.esl, taken as it is), told apart by content.
    /// --from-ovmf-vars takes PK, KEK, db and dbx from an edk2 variable store (Debian's ovmf
    /// package: /usr/share/OVMF/OVMF_VARS_4M.ms.fd has the Microsoft certificates in db); --pk
    /// then replaces its PK and the other options add to it. Without a PK the firmware stays in
    /// setup mode. --inspect lists each signature: type, owner, a certificate's subject and
    /// SHA-256, a hash's hex.
    #[command(verbatim_doc_comment)]
    Enroll(Box<EnrollArgs>),
}

/// The build profile, for `build` and `run`.
#[derive(Debug, Args)]
struct Profile {
    /// Build with the release profile (the default)
    #[arg(long, conflicts_with = "debug")]
    release: bool,
    /// Build with the debug profile
    #[arg(long)]
    debug: bool,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The architecture to build for
    #[arg(long, default_value = "x86_64", value_parser = arch_parser())]
    arch: String,
    #[command(flatten)]
    profile: Profile,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The QEMU machine
    #[arg(long, default_value = "q35", value_parser = machine_parser())]
    machine: Machine,
    /// Guest RAM, in QEMU's syntax (512M, 2G)
    #[arg(long, default_value = "512M", value_name = "SIZE")]
    memory: String,
    /// The firmware's command line (e.g. "vmfw.log=debug vmfw.boot=uefi"; see the README)
    #[arg(long, default_value = "", value_name = "CMDLINE", hide_default_value = true)]
    append: String,
    #[command(flatten)]
    profile: Profile,
    /// More QEMU arguments (e.g. -drive file=disk.img,format=raw,if=virtio)
    #[arg(last = true, value_name = "QEMU ARGS")]
    qemu_args: Vec<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The QEMU machine
    #[arg(long, default_value = "q35", value_parser = machine_parser())]
    machine: Machine,
    /// Boot through UEFI: vmfw starts systemd-boot, which boots the same entries
    #[arg(long)]
    uefi: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(subcommand)]
    which: Option<BenchCmd>,
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Boot times: direct kernel boot, vmfw (BLS, UKI, systemd-boot) and OVMF
    ///
    /// Boots Debian 12's kernel and a busybox initrd under QEMU (q35, TCG, -icount shift=auto),
    /// every variant once per round, in this order: QEMU's own -kernel boot (the floor), vmfw
    /// booting a BLS entry natively, vmfw starting a UKI, vmfw starting systemd-boot, and OVMF
    /// (Debian's ovmf) with the same UKI and systemd-boot disks. Times the serial console from
    /// QEMU's start to the kernel's first line and to the initrd's marker, and reads vmfw's own
    /// `timing:` line. Writes target/bench/boot.md (also printed: medians, min-max, ratios to
    /// direct boot), boot.png (a chart), boot-runs.csv (every run) and each run's console in
    /// target/bench/boot-logs/. One boot takes 5 to 30 s under TCG; the first run fetches
    /// Debian's ovmf and builds two disk images.
    #[command(verbatim_doc_comment)]
    Boot(BootArgs),
    /// Storage: the firmware's read throughput and request counts
    ///
    /// The firmware reads a 64 MiB file from the ESP twice, with large requests and with one
    /// request per sector, on q35 (virtio-blk-pci) and microvm (virtio-mmio), and prints MiB/s.
    #[command(verbatim_doc_comment)]
    Storage,
    /// Image size: loadable bytes of each x86_64 build against the 256 KiB budget
    ///
    /// Builds the default and diagnostic images, the minimal one (`--no-default-features
    /// --features lean`: no disk writes, no Secure Boot) and the minimal one plus each of
    /// `esp-write` and `secure-boot`, and writes target/bench/size.md.
    #[command(verbatim_doc_comment)]
    Size,
}

#[derive(Debug, Args)]
struct BootArgs {
    /// Rounds; each boots every variant once
    #[arg(long, default_value_t = bench_boot::DEFAULT_ROUNDS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Boot vmfw's three variants on Cloud Hypervisor (ch) or Firecracker (fc) instead of QEMU,
    /// timed to the firmware's handoff; the binary is PATH, or else $CLOUD_HYPERVISOR or
    /// $FIRECRACKER. Writes target/bench/boot-ch.* or boot-fc.*
    #[arg(long, value_name = "ch|fc[=PATH]", value_parser = bench_boot::VmmArg::parse,
          verbatim_doc_comment)]
    vmm: Option<bench_boot::VmmArg>,
}

#[derive(Debug, Args)]
struct FuzzArgs {
    /// How long each target runs, in seconds
    #[arg(long, default_value_t = 20, value_name = "N")]
    seconds: u32,
    /// The toolchain cargo-fuzz runs with
    #[arg(long, default_value = "nightly", value_name = "T")]
    toolchain: String,
    /// When the toolchain or cargo-fuzz is missing, say so and succeed
    #[arg(long)]
    if_available: bool,
    /// The targets to run (default: all)
    #[arg(value_name = "TARGET", value_parser = fuzz_target_parser())]
    targets: Vec<String>,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Skip the VM tests: formatting, clippy and unit tests only
    #[arg(long)]
    quick: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["image", "inspect", "generate_pk_kek"])))]
struct EnrollArgs {
    /// The firmware image to copy (target/vmfw-x86_64.elf, target/vmfw-aarch64.bin)
    #[arg(long, value_name = "FILE", requires = "out")]
    image: Option<PathBuf>,
    /// Where to write the image with the keys
    #[arg(long, value_name = "FILE", requires = "image")]
    out: Option<PathBuf>,
    /// Take PK, KEK, db and dbx from an edk2 (OVMF) variable store file
    #[arg(long, value_name = "FILE", requires = "image")]
    from_ovmf_vars: Option<PathBuf>,
    /// The platform key (one certificate)
    #[arg(long, value_name = "FILE", requires = "image")]
    pk: Option<PathBuf>,
    /// A key exchange key (repeatable)
    #[arg(long, value_name = "FILE", requires = "image")]
    kek: Vec<PathBuf>,
    /// An allowed certificate or signature list (repeatable)
    #[arg(long, value_name = "FILE", requires = "image")]
    db: Vec<PathBuf>,
    /// A forbidden certificate or signature list (repeatable)
    #[arg(long, value_name = "FILE", requires = "image")]
    dbx: Vec<PathBuf>,
    /// An allowed image's SHA-256, in hex (repeatable)
    #[arg(long, value_name = "HEX", requires = "image")]
    db_sha256: Vec<String>,
    /// A forbidden image's SHA-256, in hex (repeatable)
    #[arg(long, value_name = "HEX", requires = "image")]
    dbx_sha256: Vec<String>,
    /// The owner GUID of the certificates and hashes given here [default: vmfw's own]
    #[arg(long, value_name = "GUID", requires = "image",
          value_parser = |s: &str| s.parse::<vmfw_bytes::Guid>().map_err(|e| e.to_string()))]
    owner: Option<vmfw_bytes::Guid>,
    /// Show what an image (or an edk2 variable store) carries, signature by signature
    #[arg(long, value_name = "IMAGE")]
    inspect: Option<PathBuf>,
    /// Write a new self-signed RSA-2048 PK and KEK (PEM .crt and .key) into DIR, with openssl
    #[arg(long, value_name = "DIR")]
    generate_pk_kek: Option<PathBuf>,
}

/// `--machine`'s values: every [`Machine`], by its name, with what it is.
fn machine_parser() -> impl TypedValueParser<Value = Machine> {
    let values = Machine::ALL.map(|m| PossibleValue::new(m.name()).help(m.about()));
    PossibleValuesParser::new(values)
        .try_map(|s| Machine::from_name(&s).ok_or(format!("unknown machine {s:?}")))
}

/// `--arch`'s values: the architectures the firmware builds for.
fn arch_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(build::ARCHES.iter().map(|a| a.name))
}

/// The fuzz targets `fuzz/Cargo.toml` names (none when it cannot be read:
/// every target is then refused, and `fuzz` without one says why).
fn fuzz_target_parser() -> PossibleValuesParser {
    let names = fuzz::targets(&build::root()).unwrap_or_default();
    // clap takes possible values as `&'static str` (without its `string`
    // feature); the command is built once per process.
    PossibleValuesParser::new(names.into_iter().map(|n| &*n.leak()))
}

/// The environment variables, from `itest::ENVIRONMENT`.
fn environment() -> String {
    let width = itest::ENVIRONMENT.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    itest::ENVIRONMENT.iter().map(|(v, what)| format!("  {v:width$}  {what}\n")).collect()
}

fn top_after_help() -> String {
    format!(
        "Exit status: 0 on success, 1 when a step fails, 2 for a usage error; `run` and `demo` \
         also\n\
         {} and {} when nothing booted or the firmware failed (see their --help).\n\
         \n\
         Environment:\n{}\
         \n\
         Caches: Debian packages and disk images in ~/.cache/vmfw (or $VMFW_CACHE), about 3 GB \
         after\n\
         `cargo xtask test`; build output and VM console logs in target/, about 1.5 GB.\n\
         `rm -rf ~/.cache/vmfw` and `cargo clean` clear them.",
        qemu::EXIT_NOTHING_BOOTED,
        qemu::EXIT_FIRMWARE_FAILED,
        environment()
    )
}

fn guest_after_help() -> String {
    format!(
        "The serial console and QEMU's monitor share this terminal: Ctrl-A X quits QEMU, Ctrl-A C \
         switches to\n\
         the monitor, Ctrl-C reaches the guest. The console is also kept in target/xtask/.\n\
         \n\
         Exit status: 0 when the firmware started a kernel (or QEMU was quit before it decided), \
         {} when it\n\
         found nothing to boot, {} when it failed (an error, an exception, a panic), 1 when QEMU \
         failed.\n\
         QEMU uses TCG unless VMFW_ACCEL=kvm.",
        qemu::EXIT_NOTHING_BOOTED,
        qemu::EXIT_FIRMWARE_FAILED
    )
}

fn test_after_help() -> &'static str {
    "The VM tests that need more than QEMU (Cloud Hypervisor, Firecracker, the Debian system \
     image)\n\
     are #[ignore]d: they run when what they need is here, and the run says which it leaves out \
     and why.\n\
     \n\
     Cost: 7 to 13 minutes on 2 cores with warm caches. A first run also downloads about 190 MB \
     of\n\
     Debian packages and spends 2 to 4 minutes building disk images, most of it the Debian \
     system\n\
     image (built only as root). Caches: ~/.cache/vmfw, about 3 GB; target/, about 1.5 GB."
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Build(a) => build::arch(&a.arch)
            .ok_or_else(|| format!("unsupported arch {:?}", a.arch))
            .and_then(|arch| build::build(arch, !a.profile.debug))
            .map(|_| ExitCode::SUCCESS),
        Cmd::Run(a) => qemu::cmd_run(qemu::RunOptions {
            machine: a.machine,
            release: !a.profile.debug,
            memory: a.memory,
            append: a.append,
            qemu_args: a.qemu_args,
        }),
        Cmd::Demo(a) => qemu::cmd_demo(a.machine, a.uefi),
        Cmd::Test(a) => cmd_test(a.quick).map(|()| ExitCode::SUCCESS),
        Cmd::Bench(a) => match a.which {
            None => bench::cmd_all(),
            Some(BenchCmd::Storage) => bench::cmd_storage(),
            Some(BenchCmd::Size) => bench::cmd_size(),
            Some(BenchCmd::Boot(b)) => {
                bench_boot::cmd_boot(&bench_boot::BootOptions { rounds: b.rounds, vmm: b.vmm })
            }
        }
        .map(|()| ExitCode::SUCCESS),
        Cmd::Fuzz(a) => fuzz::cmd_fuzz(fuzz::FuzzOptions {
            seconds: a.seconds,
            toolchain: a.toolchain,
            if_available: a.if_available,
            only: a.targets,
        })
        .map(|()| ExitCode::SUCCESS),
        Cmd::Enroll(a) => cmd_enroll(a).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        ExitCode::FAILURE
    })
}

fn cmd_enroll(a: Box<EnrollArgs>) -> Result<(), String> {
    let a = *a;
    if let Some(dir) = a.generate_pk_kek {
        return enroll::generate_pk_kek(&dir);
    }
    if let Some(path) = a.inspect {
        let file = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = enroll::inspect(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        print!("{text}");
        return Ok(());
    }
    enroll::cmd_enroll(&enroll::EnrollOptions {
        image: a.image.unwrap_or_default(),
        out: a.out.unwrap_or_default(),
        from_ovmf_vars: a.from_ovmf_vars,
        pk: a.pk,
        kek: a.kek,
        db: a.db,
        dbx: a.dbx,
        db_sha256: a.db_sha256,
        dbx_sha256: a.dbx_sha256,
        owner: a.owner,
    })
}

/// Everything CI checks, in the order that fails fastest.
fn cmd_test(quick: bool) -> Result<(), String> {
    // A misspelt VMFW_ACCEL would fail every VM test; say it before the run.
    if !quick {
        itest::Accel::from_env()?;
    }
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
    // Both builds, each in its own target directory as `cargo xtask build`
    // does: the default one and the diagnostic one.
    let diag_dir = build::diag_target_dir().to_string_lossy().into_owned();
    for arch in build::ARCHES {
        for diag in [false, true] {
            let mut args = vec!["clippy", "-p", "vmfw", "--target", arch.target, "--release"];
            if diag {
                args.extend(["--target-dir", diag_dir.as_str()]);
                args.extend(build::DIAG_FEATURES);
            }
            args.extend(["--", "-D", "warnings"]);
            build::cargo(&args)?;
        }
    }
    // The read-only build (no `esp-write`), which keeps the size budget:
    // its `!WRITES` paths must keep compiling.
    let lean_dir = build::target_dir().join("lean").to_string_lossy().into_owned();
    build::cargo(&[
        "clippy",
        "-p",
        "vmfw",
        "--target",
        build::ARCHES[0].target,
        "--release",
        "--target-dir",
        lean_dir.as_str(),
        "--no-default-features",
        "--features",
        "lean",
        "--",
        "-D",
        "warnings",
    ])?;
    // The firmware's host tests (its modules built as an ordinary program,
    // see firmware/src/arch/host.rs), linted like the rest.
    build::cargo(&["clippy", "-p", "vmfw", "--tests", "--", "-D", "warnings"])?;
    // Host unit tests; the VM tests (itest) need the firmware built first.
    build::cargo(&["test", "--workspace", "--exclude", "itest"])?;
    let Some(plan) = plan else { return Ok(()) };
    // Every architecture: the arm64 tests (itest/tests/aarch64.rs) boot
    // target/vmfw-aarch64.bin under qemu-system-aarch64.
    for arch in &build::ARCHES {
        build::build(arch, true)?;
    }
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
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `--help` answers everywhere, with exit status 0.
    #[test]
    fn every_command_answers_help() {
        for cmd in ["", "build", "demo", "run", "bench", "fuzz", "test", "enroll"] {
            for help in ["--help", "-h"] {
                let args: Vec<&str> = [cmd, help].into_iter().filter(|a| !a.is_empty()).collect();
                let e = parse(&args).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}");
                assert_eq!(e.exit_code(), 0, "{args:?}");
            }
        }
        for args in [["bench", "boot", "--help"], ["bench", "storage", "-h"]] {
            assert_eq!(parse(&args).unwrap_err().kind(), ErrorKind::DisplayHelp, "{args:?}");
        }
        // `help <command>` too; no command at all shows the help as an error.
        assert_eq!(parse(&["help", "run"]).unwrap_err().exit_code(), 0);
        let e = parse(&[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
        assert_eq!(e.exit_code(), 2);
    }

    /// Unknown options and bad values are errors (exit status 2) that say
    /// what is valid.
    #[test]
    fn misuse_is_an_error_naming_the_valid_values() {
        let cases: &[(&[&str], ErrorKind, &str)] = &[
            (&["test", "--quik"], ErrorKind::UnknownArgument, "'--quik'"),
            (&["test", "extra"], ErrorKind::UnknownArgument, "'extra'"),
            (&["bench", "--fast"], ErrorKind::UnknownArgument, "'--fast'"),
            (&["bench", "disk"], ErrorKind::InvalidSubcommand, "'disk'"),
            (&["bench", "boot", "--rounds", "0"], ErrorKind::ValueValidation, "1..=1000"),
            (&["bench", "boot", "--vmm", "qemu"], ErrorKind::ValueValidation, "ch[=PATH]"),
            (&["bench", "storage", "--rounds", "2"], ErrorKind::UnknownArgument, "'--rounds'"),
            (&["frobnicate"], ErrorKind::InvalidSubcommand, "'frobnicate'"),
            (
                &["run", "--machine", "foo"],
                ErrorKind::InvalidValue,
                "[possible values: q35, microvm, microvm-noacpi]",
            ),
            (&["demo", "--machine", "pc"], ErrorKind::InvalidValue, "q35, microvm"),
            (
                &["build", "--arch", "riscv64"],
                ErrorKind::InvalidValue,
                "[possible values: x86_64, aarch64]",
            ),
            (&["build", "--release", "--debug"], ErrorKind::ArgumentConflict, "--debug"),
            (&["run", "--memory"], ErrorKind::InvalidValue, "a value is required"),
            (&["fuzz", "--seconds", "soon"], ErrorKind::ValueValidation, "'soon'"),
            (&["fuzz", "no_such_target"], ErrorKind::InvalidValue, "bls_entry"),
        ];
        for (args, kind, says) in cases {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), *kind, "{args:?}: {e}");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let text = e.render().to_string();
            assert!(text.contains(says), "{args:?}: {text:?} does not contain {says:?}");
        }
    }

    /// The README shows `cargo xtask --help` as it is.
    #[test]
    fn the_readme_shows_the_help() {
        let readme = std::fs::read_to_string(build::root().join("README.md")).unwrap();
        let help = parse(&["--help"]).unwrap_err().render().to_string();
        let block = format!("`cargo xtask --help`:\n\n```\n{}\n```\n", help.trim_end());
        assert!(
            readme.contains(&block),
            "README.md's `cargo xtask --help` block differs from:\n{help}"
        );
    }

    /// Every option the README documents parses, with its value.
    #[test]
    fn the_readmes_options_parse() {
        let cli = parse(&[
            "run",
            "--machine",
            "microvm-noacpi",
            "--memory",
            "2G",
            "--append",
            "vmfw.log=debug",
            "--debug",
            "--",
            "-smp",
            "2",
        ])
        .unwrap();
        let Cmd::Run(a) = cli.command else { panic!("not run: {:?}", cli.command) };
        assert_eq!(a.machine, Machine::MicrovmNoAcpi);
        assert_eq!((a.memory.as_str(), a.append.as_str()), ("2G", "vmfw.log=debug"));
        assert!(a.profile.debug);
        assert_eq!(a.qemu_args, ["-smp", "2"]);
        let Cmd::Demo(d) = parse(&["demo", "--machine", "microvm", "--uefi"]).unwrap().command
        else {
            panic!("not demo")
        };
        assert_eq!((d.machine, d.uefi), (Machine::Microvm, true));
        let Cmd::Demo(d) = parse(&["demo"]).unwrap().command else { panic!("not demo") };
        assert_eq!((d.machine, d.uefi), (Machine::Q35, false));
        let Cmd::Test(t) = parse(&["test", "--quick"]).unwrap().command else { panic!() };
        assert!(t.quick);
        let Cmd::Test(t) = parse(&["test"]).unwrap().command else { panic!() };
        assert!(!t.quick);
        let Cmd::Fuzz(f) =
            parse(&["fuzz", "--seconds", "15", "--if-available", "fat", "gpt"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!((f.seconds, f.if_available, f.targets.len()), (15, true, 2));
        let Cmd::Bench(b) =
            parse(&["bench", "boot", "--rounds", "3", "--vmm", "ch=/opt/ch"]).unwrap().command
        else {
            panic!()
        };
        let Some(BenchCmd::Boot(b)) = b.which else { panic!("not bench boot") };
        assert_eq!(b.rounds, 3);
        assert_eq!(b.vmm.unwrap().path, Some("/opt/ch".into()));
        let Cmd::Bench(b) = parse(&["bench", "boot"]).unwrap().command else { panic!() };
        let Some(BenchCmd::Boot(b)) = b.which else { panic!("not bench boot") };
        assert_eq!((b.rounds, b.vmm), (bench_boot::DEFAULT_ROUNDS, None));
        let Cmd::Bench(b) = parse(&["bench"]).unwrap().command else { panic!() };
        assert!(b.which.is_none());
        let Cmd::Build(b) = parse(&["build", "--arch", "x86_64", "--release"]).unwrap().command
        else {
            panic!()
        };
        assert!(!b.profile.debug && b.arch == "x86_64");
    }

    #[test]
    fn enroll_options() {
        let Cmd::Enroll(a) = parse(&[
            "enroll",
            "--image",
            "i.elf",
            "--out",
            "o.elf",
            "--kek",
            "a.crt",
            "--kek",
            "b.esl",
            "--dbx-sha256",
            "00",
            "--owner",
            "10bb1021-d3a9-47c3-8547-f33484bc73bd",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(a.kek.len(), 2);
        assert_eq!(a.owner, Some(enroll::VMFW_OWNER));
        let Cmd::Enroll(a) = parse(&["enroll", "--inspect", "i.elf"]).unwrap().command else {
            panic!()
        };
        assert!(a.inspect.is_some() && a.image.is_none());
        let cases: &[(&[&str], ErrorKind)] = &[
            (&["enroll"], ErrorKind::MissingRequiredArgument),
            (&["enroll", "--image", "i.elf"], ErrorKind::MissingRequiredArgument),
            (
                &["enroll", "--inspect", "i", "--image", "i", "--out", "o"],
                ErrorKind::ArgumentConflict,
            ),
            (&["enroll", "--inspect", "i", "--pk", "p"], ErrorKind::MissingRequiredArgument),
            (&["enroll", "--image", "i", "--out", "o", "--owner", "x"], ErrorKind::ValueValidation),
        ];
        for (args, kind) in cases {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), *kind, "{args:?}: {e}");
        }
    }

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
