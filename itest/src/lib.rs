//! The integration test harness: boots the firmware ELF in a VMM, captures
//! the serial console, enforces a timeout and keeps the log.
//!
//! QEMU runs with TCG unless `VMFW_ACCEL=kvm` asks for KVM.
//!
//! Tests that need more than QEMU and the tools `.ci/deps` installs are
//! `#[ignore]`d and listed in [`OPTIONAL_TESTS`] with what they need:
//! `cargo xtask test` runs them (`--include-ignored`) exactly when that is
//! present and says which it leaves out and why, so a test that did not run
//! shows as ignored, never as passed. Run with `--include-ignored` anyway,
//! such a test fails when its input is missing.

pub mod arch;
pub mod arm64;
pub mod bls;
pub mod debian;
pub mod debian_system;
pub mod esp;
pub mod hostile;
pub mod images;
pub mod initrd;
pub mod secure_boot;
pub mod shim;
pub mod uefi;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A QEMU machine model vmfw supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `-M q35`: PCI, ACPI, SeaBIOS's PVH option ROM loads the firmware.
    Q35,
    /// `-M microvm` with its default ACPI tables (virtio-mmio in the DSDT).
    Microvm,
    /// `-M microvm,acpi=off`: virtio-mmio devices on the command line.
    MicrovmNoAcpi,
}

impl Machine {
    /// Every QEMU machine the tests cover.
    pub const ALL: [Machine; 3] = [Machine::Q35, Machine::Microvm, Machine::MicrovmNoAcpi];

    /// Short name for logs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Microvm => "microvm",
            Machine::MicrovmNoAcpi => "microvm-noacpi",
        }
    }

    /// What the machine is, in a few words (for help texts).
    pub fn about(self) -> &'static str {
        match self {
            Machine::Q35 => "PCI and ACPI; disks on virtio-blk-pci",
            Machine::Microvm => "virtio-mmio disks, found through ACPI",
            Machine::MicrovmNoAcpi => "microvm without ACPI: virtio-mmio disks on the command line",
        }
    }

    /// Parses `q35`, `microvm`, `microvm-noacpi`.
    pub fn from_name(s: &str) -> Option<Machine> {
        Machine::ALL.into_iter().find(|m| m.name() == s)
    }

    fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Machine::Q35 => &["-M", "q35"],
            Machine::Microvm => &["-M", "microvm"],
            Machine::MicrovmNoAcpi => &["-M", "microvm,acpi=off"],
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("itest lives in the workspace")
        .to_path_buf()
}

/// Where built firmware images are (`VMFW_ELF_DIR`, default `target/`).
pub fn elf_dir() -> PathBuf {
    // Relative paths are taken from the workspace root, not from the
    // test's working directory (cargo runs tests inside the crate).
    std::env::var_os("VMFW_ELF_DIR")
        .map(|d| root().join(d))
        .unwrap_or_else(|| root().join("target"))
}

/// The release firmware for x86_64, or a panic that says how to build it.
pub fn firmware() -> PathBuf {
    let p = elf_dir().join("vmfw-x86_64.elf");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        p.display()
    );
    p
}

/// The firmware build a VM with the firmware command line `append` needs:
/// the diagnostic build (`vmfw-x86_64-diag.elf`: debug logging, and the
/// `vmfw.hash=`/`vmfw.bench=` diagnostics) when the line asks for any of
/// those, else the default build, `nopvh` selecting the copy without the
/// PVH note.
pub fn firmware_for(append: &str, nopvh: bool) -> PathBuf {
    let diag = ["vmfw.hash=", "vmfw.bench=", "vmfw.log=debug", "vmfw.log=trace"]
        .iter()
        .any(|o| append.contains(o));
    let name = match (diag, nopvh) {
        (false, false) => return firmware(),
        (false, true) => "vmfw-x86_64-nopvh.elf",
        (true, false) => "vmfw-x86_64-diag.elf",
        (true, true) => "vmfw-x86_64-diag-nopvh.elf",
    };
    let p = elf_dir().join(name);
    assert!(p.exists(), "{} is missing: run `cargo xtask build`", p.display());
    p
}

/// True when `/dev/kvm` is the software nested `kvm_pvm`, on which stock
/// guests fail or crawl (see the README); treated as "no KVM".
pub fn kvm_is_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

/// The environment variables the harness and `cargo xtask` read, each
/// with what it means (`cargo xtask --help` lists them from here).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (Accel::VAR, "QEMU's accelerator: tcg (the default) or kvm"),
    ("QEMU", "the QEMU binary (default: qemu-system-x86_64 on the PATH)"),
    ("VMFW_CACHE", "where packages and images are kept (default: ~/.cache/vmfw)"),
    ("VMFW_ELF_DIR", "where the VM tests find the firmware (default: target/)"),
    ("CLOUD_HYPERVISOR", "a cloud-hypervisor binary: the tests run it too"),
    ("QEMU_AARCH64", "the arm64 tests' QEMU (default: qemu-system-aarch64 on the PATH)"),
    ("CLOUD_HYPERVISOR_AARCH64", "an arm64 cloud-hypervisor binary (needs an arm64 KVM host)"),
    ("VMFW_ARM64_TIMES", "set: time the arm64 UEFI disks under edk2, direct boot and vmfw"),
    ("FIRECRACKER", "a firecracker binary: the tests run it too"),
];

/// How QEMU runs the guest, from [`Accel::VAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's own emulation (TCG): works everywhere, the default.
    Tcg,
    /// KVM (`/dev/kvm`).
    Kvm,
}

impl Accel {
    /// The environment variable that chooses the accelerator.
    pub const VAR: &'static str = "VMFW_ACCEL";

    /// Every accelerator, the default first.
    pub const ALL: [Accel; 2] = [Accel::Tcg, Accel::Kvm];

    /// The name `VMFW_ACCEL` takes (and QEMU's `-accel`).
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    /// Parses `tcg` or `kvm`.
    pub fn from_name(s: &str) -> Option<Accel> {
        Accel::ALL.into_iter().find(|a| a.name() == s)
    }

    /// The accelerator `VMFW_ACCEL` names: TCG when it is unset or empty,
    /// an error listing the valid values when it names none.
    pub fn from_env() -> Result<Accel, String> {
        match std::env::var(Accel::VAR) {
            Err(std::env::VarError::NotPresent) => Ok(Accel::Tcg),
            Ok(v) if v.is_empty() => Ok(Accel::Tcg),
            Ok(v) => Accel::from_name(&v).ok_or_else(|| {
                let names: Vec<&str> = Accel::ALL.iter().map(|a| a.name()).collect();
                format!("{}={v:?} is not an accelerator (valid: {})", Accel::VAR, names.join(", "))
            }),
            Err(e) => Err(format!("{}: {e}", Accel::VAR)),
        }
    }

    /// QEMU's arguments for this accelerator.
    pub fn qemu_args(self) -> Vec<String> {
        match self {
            Accel::Kvm => {
                // Once per process: every VM of a test run would say it.
                static WARNED: std::sync::Once = std::sync::Once::new();
                if kvm_is_pvm() {
                    WARNED.call_once(|| {
                        progress(format_args!(
                            "warning: /dev/kvm is kvm_pvm (nested software virtualisation); \
                             guests may crawl"
                        ));
                    });
                }
                vec!["-accel".into(), "kvm".into(), "-cpu".into(), "host".into()]
            }
            Accel::Tcg => vec!["-accel".into(), "tcg".into()],
        }
    }
}

/// QEMU accelerator arguments: TCG unless `VMFW_ACCEL=kvm`; panics (the
/// test fails) when `VMFW_ACCEL` names no accelerator.
pub fn accel_args() -> Vec<String> {
    Accel::from_env().unwrap_or_else(|e| panic!("{e}")).qemu_args()
}

/// Prints one progress line on standard error at once, also from inside a
/// test. libtest captures what the `print!` and `eprint!` macros write in a
/// test's thread (and in threads it spawns) and shows it only when the test
/// fails; a write to the stream itself is not captured, so a long step
/// (a download, an image build) shows while it runs.
pub fn progress(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// [`progress`] with `format!` arguments.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        $crate::progress(format_args!($($arg)*))
    };
}

/// `bytes` for a progress line: `1.5 MB`, `67.0 MB`, `2.1 GB` (decimal
/// units, as apt prints them).
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// A QEMU command line that boots `elf` on `machine` with the serial
/// console on stdio, no display, and `-no-reboot` so that a reset ends the
/// VM instead of looping.
pub fn qemu_command(machine: Machine, elf: &Path, memory: &str, append: &str) -> Command {
    qemu_command_with_serial(machine, elf, memory, append, "stdio")
}

/// As [`qemu_command`], with the serial backend given (`mon:stdio` for an
/// interactive session: Ctrl-A X quits QEMU, Ctrl-C reaches the guest).
pub fn qemu_command_with_serial(
    machine: Machine,
    elf: &Path,
    memory: &str,
    append: &str,
    serial: &str,
) -> Command {
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    let mut cmd = Command::new(qemu);
    cmd.args(machine.qemu_args())
        .args(accel_args())
        .args(["-m", memory, "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-serial", serial, "-no-reboot", "-kernel"])
        .arg(elf);
    if !append.is_empty() {
        cmd.args(["-append", append]);
    }
    cmd
}

/// How a VM run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the guest printed on the serial console.
    pub log: String,
    /// The VMM's exit status, or `None` when the run timed out and was killed.
    pub status: Option<ExitStatus>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Where the log was saved.
    pub log_path: PathBuf,
}

impl Outcome {
    /// The first line of the log containing `needle`, or a panic that
    /// shows the whole log and where it is kept.
    pub fn line(&self, needle: &str) -> &str {
        self.log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| {
            panic!("{needle:?} never appeared ({}):\n{}", self.log_path.display(), self.log)
        })
    }

    /// The kernel command line the initrd printed in its marker line
    /// (`cmdline=[...]`), or a panic.
    pub fn kernel_cmdline(&self) -> &str {
        let marker = self.line(initrd::MARKER);
        marker
            .split_once("cmdline=[")
            .and_then(|(_, rest)| rest.rsplit_once(']'))
            .map(|(c, _)| c)
            .unwrap_or_else(|| panic!("malformed marker line: {marker}"))
    }

    /// Panics (with the log path and the log's tail) unless `needle` was printed.
    pub fn expect(&self, needle: &str) -> &Self {
        if !self.log.contains(needle) {
            panic!(
                "expected {needle:?} in the serial log ({}); last lines:\n{}",
                self.log_path.display(),
                tail(&self.log, 40)
            );
        }
        self
    }

    /// Panics unless the VMM exited by itself (no timeout).
    pub fn expect_exited(&self) -> &Self {
        if self.status.is_none() {
            panic!(
                "VM did not stop within the timeout ({}); last lines:\n{}",
                self.log_path.display(),
                tail(&self.log, 40)
            );
        }
        self
    }

    /// Panics unless the VMM exited with status 0 (ACPI power-off).
    pub fn expect_clean_poweroff(&self) -> &Self {
        self.expect_exited();
        let st = self.status.expect("checked above");
        if !st.success() {
            panic!(
                "VMM exited with {st} ({}); last lines:\n{}",
                self.log_path.display(),
                tail(&self.log, 40)
            );
        }
        self
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` with a timeout, capturing stdout (the serial console) and
/// stderr; saves the combined log to `target/itest-logs/<name>.log`.
pub fn run(name: &str, cmd: Command, timeout: Duration) -> Outcome {
    run_scripted(name, cmd, timeout, &[])
}

/// As [`run`], typing on the serial console: for each `(wait_for, keys)`
/// in order, once `wait_for` has appeared in the output (after the previous
/// step's match), `keys` are written to the VMM's standard input.
pub fn run_scripted(
    name: &str,
    cmd: Command,
    timeout: Duration,
    script: &[(&str, &str)],
) -> Outcome {
    run_watching(name, cmd, timeout, script, None).0
}

/// As [`run`], also returning how long after the start `needle` first
/// appeared in the output (seen within the 20 ms the runner polls at), or
/// `None` when it never did: a wall-clock time to a marker.
pub fn run_timed(
    name: &str,
    cmd: Command,
    timeout: Duration,
    needle: &str,
) -> (Outcome, Option<Duration>) {
    run_watching(name, cmd, timeout, &[], Some(needle))
}

/// [`run_scripted`], noting when `watch` first appeared.
fn run_watching(
    name: &str,
    mut cmd: Command,
    timeout: Duration,
    script: &[(&str, &str)],
    watch: Option<&str>,
) -> (Outcome, Option<Duration>) {
    use std::io::Write;
    let start = Instant::now();
    let stdin = if script.is_empty() { Stdio::null() } else { Stdio::piped() };
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child =
        cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let mut input = child.stdin.take();
    let console = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let out = reader(&mut child, true, Some(console.clone()));
    let err = reader(&mut child, false, None);
    let mut step = 0usize;
    let mut seen_upto = 0usize;
    let mut watched = None;
    let status = loop {
        if let (Some(needle), None) = (watch, watched) {
            let text = console.lock().unwrap_or_else(|e| e.into_inner());
            if text.windows(needle.len().max(1)).any(|w| w == needle.as_bytes()) {
                watched = Some(start.elapsed());
            }
        }
        if let Some((wait_for, keys)) = script.get(step) {
            let text = String::from_utf8_lossy(&console.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned();
            if let Some(pos) = text.get(seen_upto..).and_then(|t| t.find(wait_for)) {
                seen_upto += pos + wait_for.len();
                if let Some(i) = input.as_mut() {
                    let _ = i.write_all(keys.as_bytes());
                    let _ = i.flush();
                }
                step += 1;
            }
        }
        if let Some(st) = child.try_wait().expect("wait on VMM") {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(input);
    let elapsed = start.elapsed();
    let log = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    // Printed just before the VMM stopped, after the last poll.
    if watched.is_none() && watch.is_some_and(|w| log.contains(w)) {
        watched = Some(elapsed);
    }
    let dir = root().join("target").join("itest-logs");
    let _ = std::fs::create_dir_all(&dir);
    let log_path = dir.join(format!("{name}.log"));
    let saved = format!(
        "# {:?}\n# status: {}, {:.2}s\n{log}\n# stderr:\n{stderr}",
        cmd,
        status.map_or("timed out".to_string(), |s| s.to_string()),
        elapsed.as_secs_f64()
    );
    let _ = std::fs::write(&log_path, saved);
    let log = if stderr.is_empty() { log } else { format!("{log}\n{stderr}") };
    (Outcome { log, status, elapsed, log_path }, watched)
}

fn reader(
    child: &mut Child,
    stdout: bool,
    live: Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>,
) -> std::thread::JoinHandle<String> {
    let mut pipe: Box<dyn Read + Send> = if stdout {
        Box::new(child.stdout.take().expect("piped stdout"))
    } else {
        Box::new(child.stderr.take().expect("piped stderr"))
    };
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(l) = &live {
                        l.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
        String::from_utf8_lossy(&buf).replace('\r', "")
    })
}

/// Boots the firmware under QEMU on `machine` and returns the outcome.
pub fn boot_qemu(name: &str, machine: Machine, memory: &str, append: &str) -> Outcome {
    Vm::new(name, machine).memory(memory).append(append).run()
}

/// How a disk is attached to a QEMU VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// virtio-blk-pci, modern only (`disable-legacy=on`, device id 0x1042).
    PciModern,
    /// virtio-blk-pci, transitional (device id 0x1001).
    PciTransitional,
    /// virtio-blk-device on virtio-mmio (microvm).
    Mmio,
}

/// True when the guest kernel reported that it could not calibrate its TSC
/// against the emulated PIT. Under TCG that calibration races host
/// scheduling; on microvm (no HPET, no ACPI PM timer to fall back on) the
/// Debian kernel may then stall early. Tests boot again in exactly that
/// case, and say so; any other failure stands.
pub fn kernel_clock_failed(log: &str) -> bool {
    log.contains("tsc: Unable to calibrate against PIT")
        || log.contains("tsc: Fast TSC calibration failed")
}

/// A QEMU VM to boot the firmware in.
#[derive(Clone)]
pub struct Vm {
    name: String,
    machine: Machine,
    memory: String,
    append: String,
    args: Vec<String>,
    disks: usize,
    timeout: Duration,
    boots_kernel: bool,
    elf: Option<PathBuf>,
}

impl Vm {
    /// A VM with 512 MiB and no disks.
    pub fn new(name: &str, machine: Machine) -> Self {
        Vm {
            name: name.into(),
            machine,
            memory: "512M".into(),
            append: String::new(),
            args: Vec::new(),
            disks: 0,
            timeout: Duration::from_secs(120),
            boots_kernel: false,
            elf: None,
        }
    }

    /// Guest RAM (QEMU syntax, e.g. `5G`).
    pub fn memory(mut self, m: &str) -> Self {
        self.memory = m.into();
        self
    }

    /// The command line given to the firmware.
    pub fn append(mut self, a: &str) -> Self {
        self.append = a.into();
        self
    }

    /// Attaches a raw, read-only disk image.
    pub fn disk(self, path: &Path, attach: Attach) -> Self {
        self.disk_with(path, attach, 512)
    }

    /// Attaches a raw, read-only disk image with the given logical block size.
    pub fn disk_with(self, path: &Path, attach: Attach, block_size: u32) -> Self {
        self.attach(path, attach, block_size, true)
    }

    /// Attaches a raw disk image the guest may write, with 512-byte
    /// blocks. Never give it a cached image: attach a scratch copy
    /// ([`esp::scratch_copy`]), which the run may change.
    pub fn writable_disk(self, path: &Path, attach: Attach) -> Self {
        self.attach(path, attach, 512, false)
    }

    fn attach(mut self, path: &Path, attach: Attach, block_size: u32, readonly: bool) -> Self {
        let id = format!("d{}", self.disks);
        self.disks += 1;
        let ro = if readonly { ",readonly=on" } else { "" };
        self.args.push("-drive".into());
        self.args.push(format!("file={},if=none,id={id},format=raw{ro}", path.display()));
        let dev = match attach {
            Attach::PciModern => format!("virtio-blk-pci,drive={id},disable-legacy=on"),
            Attach::PciTransitional => format!("virtio-blk-pci,drive={id},disable-legacy=off"),
            Attach::Mmio => format!("virtio-blk-device,drive={id}"),
        };
        let sizes = if block_size == 512 {
            String::new()
        } else {
            format!(",logical_block_size={block_size},physical_block_size={block_size}")
        };
        self.args.push("-device".into());
        self.args.push(format!("{dev}{sizes}"));
        self
    }

    /// Extra QEMU arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Marks the VM as one that boots a Linux kernel. Under TCG such VMs
    /// run with `-icount shift=auto`: the guest's TSC and the emulated PIT
    /// then both follow the instruction count, so the kernel's TSC
    /// calibration against the PIT cannot be thrown off by host scheduling.
    /// Without it the Debian kernel fails that calibration now and then, and
    /// on microvm (no HPET or ACPI PM timer to fall back on) it may stall
    /// (QEMU's own `-kernel` boot does the same). It costs about 4 s a boot.
    pub fn boots_kernel(mut self) -> Self {
        self.boots_kernel = true;
        self
    }

    /// Boots this firmware image instead of the build [`firmware_for`]
    /// picks (a copy with Secure Boot keys, [`secure_boot::enrolled_firmware`]).
    pub fn firmware(mut self, elf: &Path) -> Self {
        self.elf = Some(elf.to_path_buf());
        self
    }

    /// How long a run may take (default 2 minutes).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Boots and waits for the VM to stop (or the timeout).
    pub fn run(self) -> Outcome {
        self.run_scripted(&[])
    }

    /// Boots, and boots again (up to `attempts` runs in all) while `marker`
    /// is missing because the guest kernel could not calibrate its TSC
    /// ([`kernel_clock_failed`]); says so on stderr. Any other failure
    /// stands: the last run is returned.
    pub fn run_retrying_clock(self, marker: &str, attempts: u32) -> Outcome {
        let mut attempt = 1;
        loop {
            let out = self.clone().run();
            if out.log.contains(marker) || !kernel_clock_failed(&out.log) || attempt >= attempts {
                return out;
            }
            progress!(
                "{} on {}: the guest kernel could not calibrate its TSC against the emulated PIT \
                 (TCG timing); booting again (attempt {})",
                self.name,
                self.machine.name(),
                attempt + 1
            );
            attempt += 1;
        }
    }

    /// Boots, typing `keys` on the serial console whenever `wait_for`
    /// appears (see [`run_scripted`]).
    pub fn run_scripted(self, script: &[(&str, &str)]) -> Outcome {
        let elf = self.elf.clone().unwrap_or_else(|| firmware_for(&self.append, false));
        let mut cmd = qemu_command(self.machine, &elf, &self.memory, &self.append);
        if self.boots_kernel && Accel::from_env() != Ok(Accel::Kvm) {
            cmd.args(["-icount", "shift=auto"]);
        }
        cmd.args(&self.args);
        run_scripted(&format!("{}-{}", self.name, self.machine.name()), cmd, self.timeout, script)
    }
}

/// A test that is `#[ignore]`d because it needs something besides QEMU and
/// the tools `.ci/deps` installs (see the crate documentation).
#[derive(Debug, Clone, Copy)]
pub struct OptionalTest {
    /// The integration test binary: `itest/tests/<binary>.rs`.
    pub binary: &'static str,
    /// The test function's name in that binary.
    pub test: &'static str,
    /// What the test covers, for messages ("Cloud Hypervisor").
    pub what: &'static str,
    /// What the test will use when what it needs is here, else why it
    /// cannot run.
    pub inputs: fn() -> Result<String, String>,
}

/// Every `#[ignore]`d test in `itest/tests` (`cargo xtask test` checks that
/// this list and the `#[ignore]` attributes agree).
pub const OPTIONAL_TESTS: &[OptionalTest] = &[
    OptionalTest {
        binary: "vmms",
        test: "cloud_hypervisor_pvh",
        what: "Cloud Hypervisor",
        inputs: || cloud_hypervisor().map(|p| format!("CLOUD_HYPERVISOR={}", p.display())),
    },
    OptionalTest {
        binary: "vmms",
        test: "firecracker_both_doors",
        what: "Firecracker",
        inputs: || firecracker().map(|p| format!("FIRECRACKER={}", p.display())),
    },
    OptionalTest {
        binary: "aarch64",
        test: "cloud_hypervisor_aarch64",
        what: "Cloud Hypervisor (arm64)",
        inputs: || {
            arm64::cloud_hypervisor().map(|p| format!("CLOUD_HYPERVISOR_AARCH64={}", p.display()))
        },
    },
    OptionalTest {
        binary: "aarch64",
        test: "boot_times",
        what: "arm64 boot times (edk2, direct, vmfw)",
        inputs: || match std::env::var_os("VMFW_ARM64_TIMES") {
            Some(_) => Ok("VMFW_ARM64_TIMES is set".into()),
            None => Err("VMFW_ARM64_TIMES is not set (the timing runs take many minutes)".into()),
        },
    },
    OptionalTest {
        binary: "debian_system",
        test: "debian_system_q35",
        what: "Debian system",
        inputs: debian_system_inputs,
    },
];

/// The executable named by the environment variable `var`, or why there
/// is none (`program` names the binary expected, for the message).
pub fn binary_from_env(var: &str, program: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Err(format!("{var} is not set (the path to a {program} binary)"));
    };
    let path = PathBuf::from(path);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
        Ok(_) => Err(format!("{var}={}: not an executable file", path.display())),
        Err(e) => Err(format!("{var}={}: {e}", path.display())),
    }
}

/// The Cloud Hypervisor binary named by `CLOUD_HYPERVISOR`, or why there
/// is none.
pub fn cloud_hypervisor() -> Result<PathBuf, String> {
    binary_from_env("CLOUD_HYPERVISOR", "cloud-hypervisor")
}

/// The Firecracker binary named by `FIRECRACKER`, or why there is none.
pub fn firecracker() -> Result<PathBuf, String> {
    binary_from_env("FIRECRACKER", "firecracker")
}

/// Whether the Debian system image ([`debian_system::image`]) is cached
/// or can be built here: running as root, with `debootstrap` installed
/// (where the build looks for it) and a Debian mirror in apt's sources.
/// `Ok` says which, `Err` why neither.
pub fn debian_system_inputs() -> Result<String, String> {
    let cached = debian_system::image_path();
    if cached.exists() {
        return Ok(format!("cached image {}", cached.display()));
    }
    if !debian_system::is_root() {
        return Err(format!(
            "not root, and no cached image at {} (building it needs root)",
            cached.display()
        ));
    }
    // The directories of the PATH the build runs its commands with.
    let dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    if !dirs.iter().any(|d| Path::new(d).join("debootstrap").is_file()) {
        return Err("debootstrap is not installed (.ci/deps installs it)".into());
    }
    let mirror = debian_system::mirror()?;
    Ok(format!("builds the image (root, debootstrap from {mirror}; minutes)"))
}

/// Boots the firmware under Cloud Hypervisor (PVH door), with an optional
/// read-only virtio-blk (PCI) disk.
pub fn boot_cloud_hypervisor(bin: &Path, name: &str, append: &str, disk: Option<&Path>) -> Outcome {
    let mut cmd = Command::new(bin);
    cmd.arg("--kernel")
        .arg(firmware_for(append, false))
        .args(["--cpus", "boot=1", "--memory", "size=512M", "--serial", "tty", "--console", "off"])
        .args(["--cmdline", append]);
    if let Some(d) = disk {
        cmd.arg("--disk").arg(format!("path={},readonly=on", d.display()));
    }
    run(&format!("{name}-cloud-hypervisor"), cmd, Duration::from_secs(60))
}

/// Boots the firmware under Firecracker. With `pvh = false` the image
/// without the PVH note is used, so Firecracker enters through the Linux
/// 64-bit boot protocol.
pub fn boot_firecracker(
    bin: &Path,
    name: &str,
    append: &str,
    pvh: bool,
    disk: Option<&Path>,
) -> Outcome {
    let elf = firmware_for(append, !pvh);
    let drives = disk.map_or(String::new(), |d| {
        format!(
            r#"{{"drive_id":"esp","path_on_host":{:?},"is_root_device":false,"is_read_only":true}}"#,
            d.display().to_string()
        )
    });
    let dir = root().join("target").join("itest-logs");
    let _ = std::fs::create_dir_all(&dir);
    let config = dir.join(format!("{name}-firecracker.json"));
    let json = format!(
        r#"{{"boot-source":{{"kernel_image_path":{:?},"boot_args":{:?}}},"drives":[{drives}],"machine-config":{{"vcpu_count":1,"mem_size_mib":512}}}}"#,
        elf.display().to_string(),
        append
    );
    std::fs::write(&config, json).expect("write Firecracker config");
    let mut cmd = Command::new(bin);
    cmd.args(["--no-api", "--config-file"]).arg(&config);
    let door = if pvh { "pvh" } else { "linux64" };
    run(&format!("{name}-firecracker-{door}"), cmd, Duration::from_secs(60))
}
