//! `cargo xtask bench boot`: how long the same Debian 12 kernel and busybox
//! initrd take to boot under QEMU (q35, TCG, `-icount shift=auto` as the VM
//! tests run), through each way in, interleaved round by round in one run:
//!
//! 1. direct: QEMU's own `-kernel vmlinuz -initrd initrd -append …` (the floor);
//! 2. vmfw booting a Boot Loader Specification entry natively;
//! 3. vmfw starting a unified kernel image as `\EFI\BOOT\BOOTX64.EFI`;
//! 4. vmfw starting systemd-boot, which boots the same entry;
//! 5. OVMF (Debian's `ovmf`) with the UKI disk;
//! 6. OVMF with the systemd-boot disk.
//!
//! Every boot has the same hardware (one vCPU, 512 MiB, the disk on
//! virtio-blk-pci; direct boot gets the systemd-boot disk attached too, and
//! does not read it), the same kernel command line ([`CMDLINE`]) and the
//! same initrd, whose `/init` prints [`MARKER`] and powers off.
//! systemd-boot's `loader.conf` has `timeout 0`. The serial console is
//! timestamped on the host from QEMU's spawn (see
//! [`crate::bench_report::TimedLine`]); what the lines mean is worked out
//! in [`crate::bench_report`].
//!
//! With `--vmm ch|fc` the three vmfw variants run on Cloud Hypervisor or
//! Firecracker instead, each measured to the firmware's handoff (stock
//! kernels do not get further on a nested software KVM).
//!
//! Writes `target/bench/boot.md` (also printed), `boot.png` and
//! `boot-runs.csv` (every run's figures), or `boot-ch.*` / `boot-fc.*`, and
//! every run's timestamped console in `target/bench/boot-logs/`.

use crate::bench_chart::{self, Chart};
use crate::bench_report::{self as report, Goal, RunTimes, Spread, Summary, TimedLine};
use crate::build;
use itest::images::{cache_dir, sha256_hex, Contents, Disk};
use itest::initrd::{Then, MARKER};
use itest::Accel;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Rounds when `--rounds` is not given.
pub const DEFAULT_ROUNDS: u32 = 5;

/// The kernel command line of every variant: the test entries' options
/// (`itest::bls::BASE_OPTIONS`), with `loglevel=6` instead of 5 so that the
/// kernel's banner (a notice, level 5) reaches the console: at level 5 the
/// kernel prints nothing before `/init`, and there would be no first line
/// to time. Level 6 adds about fifteen notice lines, the same for all.
pub const CMDLINE: &str = "console=ttyS0 panic=-1 loglevel=6";

/// Guest RAM, for every VMM.
const MEMORY_MIB: u32 = 512;

/// How long one boot may take before it counts as failed (OVMF under TCG
/// on a loaded 2-core host takes about 30 s at worst).
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// How long QEMU may go on after the init marker (the initrd powers off at
/// once) before it is stopped.
const AFTER_MARKER: Duration = Duration::from_secs(10);

/// How long another VMM may go on after the handoff line before it is
/// stopped, for the firmware's `timing:` line should it come after.
const AFTER_HANDOFF: Duration = Duration::from_secs(3);

/// Bump when the bench's UKI changes, to rebuild it.
const UKI_RECIPE: &str = "bench-uki-v1";

/// One way of booting the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// QEMU's `-kernel`/`-initrd`/`-append`.
    Direct,
    /// vmfw, BLS entry booted natively.
    Native,
    /// vmfw, the UKI as `\EFI\BOOT\BOOTX64.EFI`.
    Uki,
    /// vmfw, systemd-boot and its entry.
    Sdboot,
    /// OVMF, the UKI disk.
    OvmfUki,
    /// OVMF, the systemd-boot disk.
    OvmfSdboot,
}

impl Variant {
    /// The QEMU run's variants, in the order each round boots them.
    pub const QEMU: [Variant; 6] = [
        Variant::Direct,
        Variant::Native,
        Variant::Uki,
        Variant::Sdboot,
        Variant::OvmfUki,
        Variant::OvmfSdboot,
    ];

    /// The variants that run on other VMMs: vmfw's.
    pub const VMFW: [Variant; 3] = [Variant::Native, Variant::Uki, Variant::Sdboot];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Direct => "direct (QEMU -kernel)",
            Variant::Native => "vmfw native BLS",
            Variant::Uki => "vmfw UKI",
            Variant::Sdboot => "vmfw systemd-boot",
            Variant::OvmfUki => "OVMF UKI",
            Variant::OvmfSdboot => "OVMF systemd-boot",
        }
    }

    /// The name under the chart's bars.
    fn short(self) -> &'static str {
        match self {
            Variant::Direct => "direct",
            Variant::Native => "vmfw BLS",
            Variant::Uki => "vmfw UKI",
            Variant::Sdboot => "vmfw sd-boot",
            Variant::OvmfUki => "OVMF UKI",
            Variant::OvmfSdboot => "OVMF sd-boot",
        }
    }

    /// For file names.
    fn slug(self) -> &'static str {
        match self {
            Variant::Direct => "direct",
            Variant::Native => "vmfw-bls",
            Variant::Uki => "vmfw-uki",
            Variant::Sdboot => "vmfw-sdboot",
            Variant::OvmfUki => "ovmf-uki",
            Variant::OvmfSdboot => "ovmf-sdboot",
        }
    }

    /// vmfw's command line: the UEFI variants skip the BLS entry that the
    /// systemd-boot disk also holds.
    fn firmware_cmdline(self) -> &'static str {
        match self {
            Variant::Uki | Variant::Sdboot => "vmfw.boot=uefi",
            _ => "",
        }
    }
}

/// A VMM other than QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vmm {
    /// Cloud Hypervisor (PVH door, virtio-blk on PCI).
    CloudHypervisor,
    /// Firecracker (PVH door, virtio-blk on MMIO).
    Firecracker,
}

impl Vmm {
    /// `--vmm`'s short name.
    pub fn short(self) -> &'static str {
        match self {
            Vmm::CloudHypervisor => "ch",
            Vmm::Firecracker => "fc",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Vmm::CloudHypervisor => "Cloud Hypervisor",
            Vmm::Firecracker => "Firecracker",
        }
    }

    /// Parses `ch`, `cloud-hypervisor`, `fc`, `firecracker`.
    pub fn from_name(s: &str) -> Option<Vmm> {
        match s {
            "ch" | "cloud-hypervisor" => Some(Vmm::CloudHypervisor),
            "fc" | "firecracker" => Some(Vmm::Firecracker),
            _ => None,
        }
    }

    /// The binary from the environment (`CLOUD_HYPERVISOR`,
    /// `FIRECRACKER`, as for the VM tests).
    fn binary_from_env(self) -> Result<PathBuf, String> {
        match self {
            Vmm::CloudHypervisor => itest::cloud_hypervisor(),
            Vmm::Firecracker => itest::firecracker(),
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            Vmm::CloudHypervisor => "CLOUD_HYPERVISOR",
            Vmm::Firecracker => "FIRECRACKER",
        }
    }
}

/// `--vmm`'s value: `ch` or `fc`, with `=PATH` to the binary or without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmmArg {
    /// Which VMM.
    pub vmm: Vmm,
    /// Its binary, when given.
    pub path: Option<PathBuf>,
}

impl VmmArg {
    /// Parses `ch`, `fc`, `ch=PATH`, `fc=PATH`.
    pub fn parse(s: &str) -> Result<VmmArg, String> {
        let (name, path) = match s.split_once('=') {
            Some((n, p)) if !p.is_empty() => (n, Some(PathBuf::from(p))),
            Some((n, _)) => return Err(format!("{n}= needs the path to the binary after it")),
            None => (s, None),
        };
        let vmm = Vmm::from_name(name)
            .ok_or_else(|| format!("{name:?} is no VMM (valid: ch[=PATH], fc[=PATH])"))?;
        Ok(VmmArg { vmm, path })
    }

    /// The binary to run, or why there is none.
    fn binary(&self) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let Some(path) = &self.path else {
            return self.vmm.binary_from_env().map_err(|why| {
                format!(
                    "--vmm {0} needs the {1} binary: give --vmm {0}=PATH or set {2} ({why})",
                    self.vmm.short(),
                    self.vmm.name(),
                    self.vmm.env_var()
                )
            });
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path.clone()),
            Ok(_) => Err(format!(
                "--vmm {}: {} is not an executable file",
                self.vmm.short(),
                path.display()
            )),
            Err(e) => Err(format!("--vmm {}: {}: {e}", self.vmm.short(), path.display())),
        }
    }
}

/// `cargo xtask bench boot`'s options.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Rounds; each boots every variant once.
    pub rounds: u32,
    /// Run vmfw's variants on this VMM instead of QEMU.
    pub vmm: Option<VmmArg>,
}

/// Where the bench's output goes.
fn out_dir() -> Result<PathBuf, String> {
    let dir = build::target_dir().join("bench");
    let logs = dir.join("boot-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    Ok(dir)
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn write(p: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(p, bytes).map_err(|e| format!("{}: {e}", p.display()))
}

/// The Debian package version of an unpacked file: `itest::debian::unpack`
/// writes it to `.complete` in the package's directory.
fn deb_version(file: &Path) -> String {
    file.ancestors()
        .find_map(|d| std::fs::read_to_string(d.join(".complete")).ok())
        .unwrap_or_else(|| "?".into())
}

/// What the boots need, built or fetched once.
struct Inputs {
    firmware: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
    initrd_len: usize,
    /// systemd-boot as `BOOTX64.EFI`, `loader.conf` and one entry.
    bls_disk: PathBuf,
    /// The UKI as `BOOTX64.EFI`.
    uki_disk: PathBuf,
    /// OVMF's code and variable-store template (QEMU runs only).
    ovmf: Option<(PathBuf, PathBuf)>,
    /// The loaders and their versions, for the header.
    versions: Vec<String>,
}

impl Inputs {
    fn get(with_ovmf: bool) -> Result<Inputs, String> {
        let firmware = build::build(&build::ARCHES[0], true)?;
        let kernel = itest::debian::kernel()?;
        let busybox = read(&itest::debian::busybox()?)?;
        let initrd_bytes = itest::initrd::build(&busybox, Then::PowerOff);
        let initrd = out_dir()?.join("initrd.img");
        write(&initrd, &initrd_bytes)?;

        let sdboot = itest::uefi::systemd_boot()?;
        let entry = format!(
            "title   Debian GNU/Linux 12 (vmfw boot benchmark)\n\
             version 6.1.0\n\
             linux   /bench/vmlinuz\n\
             initrd  /bench/initrd.img\n\
             options {CMDLINE}\n"
        );
        let bls_disk = Disk::new("bench-bls")
            .file("/EFI/BOOT/BOOTX64.EFI", Contents::Host(sdboot.clone()))
            .file(
                "/loader/loader.conf",
                Contents::Bytes(b"timeout 0\ndefault bench.conf\n".to_vec()),
            )
            .file("/loader/entries/bench.conf", Contents::Bytes(entry.into_bytes()))
            .file("/bench/vmlinuz", Contents::Host(kernel.clone()))
            .file("/bench/initrd.img", Contents::Bytes(initrd_bytes.clone()))
            .build();
        let uki = uki(&read(&kernel)?, &initrd_bytes)?;
        let uki_disk =
            Disk::new("bench-uki").file("/EFI/BOOT/BOOTX64.EFI", Contents::Host(uki)).build();
        let mut versions = vec![format!("systemd-boot and systemd-stub {}", deb_version(&sdboot))];
        let ovmf = if with_ovmf {
            let dir = itest::debian::unpack("ovmf", "all")?.join("usr/share/OVMF");
            let (code, vars) = (dir.join("OVMF_CODE.fd"), dir.join("OVMF_VARS.fd"));
            for f in [&code, &vars] {
                if !f.exists() {
                    return Err(format!("Debian's ovmf has no {}", f.display()));
                }
            }
            versions.push(format!(
                "OVMF {} (OVMF_CODE.fd; each boot starts from a fresh copy of OVMF_VARS.fd)",
                deb_version(&code)
            ));
            Some((code, vars))
        } else {
            None
        };
        Ok(Inputs {
            firmware,
            kernel,
            initrd,
            initrd_len: initrd_bytes.len(),
            bls_disk,
            uki_disk,
            ovmf,
            versions,
        })
    }
}

/// The bench's UKI (systemd-stub with [`CMDLINE`], the kernel and the
/// initrd), cached in the image cache under a hash of what goes into it.
fn uki(kernel: &[u8], initrd: &[u8]) -> Result<PathBuf, String> {
    let stub = read(&itest::uefi::stub()?)?;
    let sections = [
        (".osrel", itest::uefi::os_release().into_bytes()),
        (".cmdline", CMDLINE.as_bytes().to_vec()),
        (".linux", kernel.to_vec()),
        (".initrd", initrd.to_vec()),
    ];
    let mut key = format!("{UKI_RECIPE} {}", sha256_hex(&stub));
    for (name, contents) in &sections {
        let _ = write!(key, " {name} {}", sha256_hex(contents));
    }
    let dir = cache_dir().join("images");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("bench-uki-{}.efi", &sha256_hex(key.as_bytes())[..16]));
    if !path.exists() {
        eprintln!("bench: building the unified kernel image with objcopy");
        let bytes = itest::uefi::build_uki(&stub, &sections)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

/// A path in a QEMU option value (a comma is doubled).
fn qemu_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// The QEMU command every variant shares: q35, one vCPU, no default
/// devices, the serial console on stdout, and under TCG `-icount
/// shift=auto` (as `itest::Vm::boots_kernel`: the kernel's TSC calibration
/// against the PIT then holds on a loaded host).
fn qemu_base(accel: Accel, disk: &Path) -> Command {
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    let mut cmd = Command::new(qemu);
    cmd.args(["-M", "q35"])
        .args(accel.qemu_args())
        .args(["-m", &format!("{MEMORY_MIB}M"), "-smp", "1", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-serial", "stdio", "-no-reboot"]);
    if accel == Accel::Tcg {
        cmd.args(["-icount", "shift=auto"]);
    }
    cmd.arg("-drive")
        .arg(format!("file={},if=none,id=d0,format=raw,readonly=on", qemu_path(disk)))
        .args(["-device", "virtio-blk-pci,drive=d0,disable-legacy=on"]);
    cmd
}

/// The QEMU command line of `v`; OVMF's variable store is copied to
/// `scratch` first, so that every boot starts from the same empty store.
fn qemu_command(
    v: Variant,
    accel: Accel,
    inputs: &Inputs,
    scratch: &Path,
) -> Result<Command, String> {
    let disk = match v {
        Variant::Uki | Variant::OvmfUki => &inputs.uki_disk,
        _ => &inputs.bls_disk,
    };
    let mut cmd = qemu_base(accel, disk);
    match v {
        Variant::Direct => {
            cmd.arg("-kernel").arg(&inputs.kernel).arg("-initrd").arg(&inputs.initrd);
            cmd.args(["-append", CMDLINE]);
        }
        Variant::Native | Variant::Uki | Variant::Sdboot => {
            cmd.arg("-kernel").arg(&inputs.firmware);
            let append = v.firmware_cmdline();
            if !append.is_empty() {
                cmd.args(["-append", append]);
            }
        }
        Variant::OvmfUki | Variant::OvmfSdboot => {
            let (code, vars) = inputs.ovmf.as_ref().ok_or("OVMF was not fetched")?;
            std::fs::copy(vars, scratch).map_err(|e| format!("copy {}: {e}", vars.display()))?;
            cmd.arg("-drive")
                .arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={}", qemu_path(code)));
            cmd.arg("-drive")
                .arg(format!("if=pflash,format=raw,unit=1,file={}", qemu_path(scratch)));
        }
    }
    Ok(cmd)
}

/// The command line that boots vmfw variant `v` on `vmm`; Firecracker's
/// configuration file is written to `scratch`.
fn vmm_command(
    vmm: Vmm,
    bin: &Path,
    v: Variant,
    inputs: &Inputs,
    scratch: &Path,
) -> Result<Command, String> {
    let disk = if v == Variant::Uki { &inputs.uki_disk } else { &inputs.bls_disk };
    let mut cmd = Command::new(bin);
    match vmm {
        Vmm::CloudHypervisor => {
            cmd.arg("--kernel").arg(&inputs.firmware);
            cmd.args(["--cpus", "boot=1", "--memory", &format!("size={MEMORY_MIB}M")]);
            cmd.args(["--serial", "tty", "--console", "off"]);
            if !v.firmware_cmdline().is_empty() {
                cmd.args(["--cmdline", v.firmware_cmdline()]);
            }
            cmd.arg("--disk").arg(format!("path={},readonly=on", disk.display()));
        }
        Vmm::Firecracker => {
            let json = format!(
                r#"{{"boot-source":{{"kernel_image_path":{:?},"boot_args":{:?}}},"drives":[{{"drive_id":"esp","path_on_host":{:?},"is_root_device":false,"is_read_only":true}}],"machine-config":{{"vcpu_count":1,"mem_size_mib":{MEMORY_MIB}}}}}"#,
                inputs.firmware.display().to_string(),
                v.firmware_cmdline(),
                disk.display().to_string(),
            );
            write(scratch, json)?;
            cmd.args(["--no-api", "--config-file"]).arg(scratch);
        }
    }
    Ok(cmd)
}

/// One VMM run's console.
struct Trace {
    lines: Vec<TimedLine>,
    /// `None` when it was stopped (done, or timed out).
    status: Option<ExitStatus>,
    stderr: String,
    elapsed: f64,
}

/// Reads `pipe` to its end, sending each line with when its pieces
/// arrived (seconds since `start`). Carriage returns are dropped and bytes
/// outside ASCII become `?`, so byte offsets stay those of the text.
fn read_lines(mut pipe: impl Read, start: Instant, tx: mpsc::Sender<TimedLine>) {
    let mut chunk = [0u8; 4096];
    let mut text = String::new();
    let mut arrivals = Vec::new();
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = start.elapsed().as_secs_f64();
        let mut new_piece = true;
        for &b in chunk.get(..n).unwrap_or_default() {
            if new_piece {
                arrivals.push((text.len(), at));
                new_piece = false;
            }
            match b {
                b'\n' => {
                    let line = TimedLine {
                        text: std::mem::take(&mut text),
                        arrivals: std::mem::take(&mut arrivals),
                    };
                    if tx.send(line).is_err() {
                        return;
                    }
                    new_piece = true;
                }
                b'\r' => {}
                b if b.is_ascii() => text.push(char::from(b)),
                _ => text.push('?'),
            }
        }
    }
    if !text.is_empty() {
        let _ = tx.send(TimedLine { text, arrivals });
    }
}

/// Runs `cmd` with its console timestamped, until it exits, `done` says
/// so (given the lines so far and the seconds since the spawn), or
/// [`BOOT_TIMEOUT`]; then stops it.
fn run_timed(mut cmd: Command, done: impl Fn(&[TimedLine], f64) -> bool) -> Result<Trace, String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child =
        cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let (tx, rx) = mpsc::channel();
    let out = std::thread::spawn(move || read_lines(stdout, start, tx));
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let mut lines = Vec::new();
    let status = loop {
        lines.extend(rx.try_iter());
        let exited = child.try_wait();
        if let Ok(Some(st)) = exited {
            break Some(st);
        }
        let now = start.elapsed();
        if exited.is_err() || now > BOOT_TIMEOUT || done(&lines, now.as_secs_f64()) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(20)) {
            lines.push(l);
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    // The pipes close when the VMM is gone, unless a process it started
    // holds them open: then what was read so far is what there is.
    let _ = join_within(out, Duration::from_secs(2));
    lines.extend(rx.try_iter());
    let stderr = join_within(err, Duration::from_secs(2)).unwrap_or_default();
    Ok(Trace { lines, status, stderr, elapsed })
}

/// The thread's result if it ends within `limit`; otherwise it is left
/// to finish on its own.
fn join_within<T>(h: std::thread::JoinHandle<T>, limit: Duration) -> Option<T> {
    let until = Instant::now() + limit;
    while !h.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    if h.is_finished() {
        h.join().ok()
    } else {
        None
    }
}

/// Keeps a run's timestamped console in `target/bench/boot-logs/`.
fn save_log(path: &Path, cmd: &str, t: &Trace) -> Result<(), String> {
    let mut s = format!(
        "# {cmd}\n# {}, {:.2} s; times are seconds since the spawn\n",
        t.status.map_or("stopped by the bench".into(), |s| s.to_string()),
        t.elapsed
    );
    for l in &t.lines {
        let _ = writeln!(s, "{:8.3} {}", l.arrivals.first().map_or(0.0, |a| a.1), l.text);
    }
    let _ = write!(s, "# stderr:\n{}", t.stderr);
    write(path, s)
}

/// Where the boots run: QEMU, or another VMM's binary.
struct Setup {
    accel: Accel,
    vmm: Option<(Vmm, PathBuf)>,
    /// The VMM's `--version` line.
    version: String,
}

impl Setup {
    /// The header's description of the VMM.
    fn describe(&self) -> String {
        match &self.vmm {
            None => format!(
                "{}; q35, {}{}, 1 vCPU, {MEMORY_MIB} MiB, the disk on virtio-blk-pci",
                self.version,
                self.accel.name().to_uppercase(),
                if self.accel == Accel::Tcg { " with -icount shift=auto" } else { "" }
            ),
            Some((v, bin)) => format!(
                "{} ({}, {}); 1 vCPU, {MEMORY_MIB} MiB",
                v.name(),
                self.version,
                bin.display()
            ),
        }
    }

    /// Where the boots ran, for the chart's title: "QEMU 7.2.22, q35 TCG".
    fn short(&self) -> String {
        // "QEMU emulator version 7.2.22 (Debian …)" → "QEMU 7.2.22".
        let version = self
            .version
            .split(" (")
            .next()
            .unwrap_or(&self.version)
            .replace(" emulator version", "");
        match &self.vmm {
            None => format!("{version}, q35 {}", self.accel.name().to_uppercase()),
            Some((v, _)) => format!("{} ({version}), to vmfw's handoff", v.name()),
        }
    }
}

/// The CPU model, the number of CPUs and the load average now.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    format!("{model}, {cpus} CPUs, load average {load} at the start")
}

/// The report's header lines.
fn header(
    setup: &Setup,
    inputs: &Inputs,
    variants: &[Variant],
    rounds: u32,
    date: String,
    machine: String,
) -> Vec<(&'static str, String)> {
    let elf_len = std::fs::metadata(&inputs.firmware).map_or(0, |m| m.len());
    let kernel = inputs.kernel.file_name().map_or("?".into(), |n| n.to_string_lossy().into_owned());
    let order: Vec<&str> = variants.iter().map(|v| v.name()).collect();
    vec![
        ("command", format!("`{}`", command_line())),
        ("date", date),
        ("machine", machine),
        ("VMM", setup.describe()),
        ("firmware", format!("vmfw {} (release, {elf_len} bytes)", git_revision())),
        (
            "guest",
            format!(
                "Debian 12's {kernel} and a busybox initrd ({:.1} MB), kernel command line \
                 `{CMDLINE}`",
                inputs.initrd_len as f64 / 1e6
            ),
        ),
        ("loaders", format!("{}; all from Debian 12's packages", inputs.versions.join(", "))),
        ("rounds", format!("{rounds}, each booting {} in this order", order.join(", "))),
    ]
}

/// `cargo xtask bench boot`.
pub fn cmd_boot(o: &BootOptions) -> Result<(), String> {
    let accel = Accel::from_env()?;
    let vmm = match &o.vmm {
        Some(a) => Some((a.vmm, a.binary()?)),
        None => None,
    };
    // Before minutes of boots, not after them.
    bench_chart::load_font()?;
    let version = match &vmm {
        None => first_line(
            Command::new(std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into()))
                .arg("--version"),
        ),
        Some((_, bin)) => first_line(Command::new(bin).arg("--version")),
    };
    let setup = Setup { accel, vmm, version };
    let inputs = Inputs::get(setup.vmm.is_none())?;
    let dir = out_dir()?;
    let logs = dir.join("boot-logs");
    let (variants, goal, stem): (&[Variant], Goal, String) = match &setup.vmm {
        None => (&Variant::QEMU, Goal::Init, "boot".into()),
        Some((v, _)) => (&Variant::VMFW, Goal::Handoff, format!("boot-{}", v.short())),
    };
    let machine = machine();
    let date = report::utc_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    eprintln!(
        "bench: {} round(s) of {} boots, {}",
        o.rounds,
        variants.len(),
        if setup.vmm.is_none() { "5 to 30 s each under QEMU TCG" } else { "each to the handoff" }
    );

    let mut runs: Vec<Vec<RunTimes>> = Vec::new();
    let mut csv = String::from(
        "round,variant,kernel_s,init_s,handoff_s,vmfw_total_ms,vmfw_busy,vmfw_requests\n",
    );
    for round in 1..=o.rounds {
        let mut this = Vec::new();
        for &v in variants {
            let log = logs.join(format!("{stem}-r{round}-{}.log", v.slug()));
            let scratch = logs.join(format!("{stem}-{}.scratch", v.slug()));
            let r = boot_once(v, &setup, &inputs, &scratch, &log, goal)?;
            let f = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2} s"));
            eprintln!(
                "bench: round {round}/{}: {:<22} kernel {:>8}, init {:>8}, handoff {:>8}",
                o.rounds,
                v.name(),
                f(r.kernel),
                f(r.init),
                f(r.handoff)
            );
            let c = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.3}"));
            let n = |x: Option<u64>| x.map_or(String::new(), |x| x.to_string());
            let t = r.timing.as_ref();
            let _ = writeln!(
                csv,
                "{round},{},{},{},{},{},{},{}",
                v.slug(),
                c(r.kernel),
                c(r.init),
                c(r.handoff),
                c(t.and_then(|t| t.total_ms)),
                n(t.and_then(|t| t.busy)),
                n(t.and_then(|t| t.requests)),
            );
            this.push(r);
        }
        runs.push(this);
    }

    let names: Vec<String> = variants.iter().map(|v| v.name().to_string()).collect();
    let reference = variants.iter().position(|&v| v == Variant::Direct);
    let summaries = report::summarise(&names, &runs, reference, goal);
    let title = match &setup.vmm {
        None => "vmfw boot benchmark (QEMU)".to_string(),
        Some((v, _)) => format!("vmfw boot benchmark ({})", v.name()),
    };
    let header = header(&setup, &inputs, variants, o.rounds, date, machine);
    let md = report::render_markdown(&title, &header, &summaries, goal);
    let md_path = dir.join(format!("{stem}.md"));
    let csv_path = dir.join(format!("{stem}-runs.csv"));
    let png_path = dir.join(format!("{stem}.png"));
    write(&md_path, &md)?;
    write(&csv_path, &csv)?;
    println!("{md}");
    let chart = chart(variants, &summaries, reference, goal, o.rounds, &setup.short());
    bench_chart::write_png(&chart, &png_path)?;
    eprintln!(
        "bench: wrote {}, {} and {}; consoles in {}",
        md_path.display(),
        png_path.display(),
        csv_path.display(),
        logs.display()
    );
    let failed: usize = summaries.iter().map(|s| s.ok.1 - s.ok.0).sum();
    if failed > 0 {
        eprintln!("bench: {failed} boot(s) did not get there; see the logs");
    }
    Ok(())
}

/// Boots variant `v` once (again, up to three times in all, when the guest
/// kernel could not calibrate its clock: a TCG timing failure, not the
/// loader's) and reads its console.
fn boot_once(
    v: Variant,
    setup: &Setup,
    inputs: &Inputs,
    scratch: &Path,
    log: &Path,
    goal: Goal,
) -> Result<RunTimes, String> {
    let mut attempt = 1;
    loop {
        let cmd = match &setup.vmm {
            None => qemu_command(v, setup.accel, inputs, scratch)?,
            Some((vmm, bin)) => vmm_command(*vmm, bin, v, inputs, scratch)?,
        };
        let shown = format!("{cmd:?}");
        let trace = run_timed(cmd, |lines, now| {
            let r = report::analyse(lines, MARKER);
            match goal {
                Goal::Init => r.init.is_some_and(|t| now - t > AFTER_MARKER.as_secs_f64()),
                Goal::Handoff => r
                    .handoff
                    .is_some_and(|t| r.timing.is_some() || now - t > AFTER_HANDOFF.as_secs_f64()),
            }
        })?;
        save_log(log, &shown, &trace)?;
        let _ = std::fs::remove_file(scratch);
        let r = report::analyse(&trace.lines, MARKER);
        let reached = match goal {
            Goal::Init => r.init.is_some(),
            Goal::Handoff => r.handoff.is_some(),
        };
        if reached {
            return Ok(r);
        }
        let text: String =
            trace.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
        if itest::kernel_clock_failed(&text) && attempt < 3 {
            eprintln!(
                "bench: {}: the guest kernel could not calibrate its TSC; booting again",
                v.name()
            );
            attempt += 1;
            continue;
        }
        eprintln!("bench: {}: did not get there (see {})", v.name(), log.display());
        return Ok(r);
    }
}

/// The chart: QEMU runs show the kernel's first line and the init marker
/// per variant with direct boot's medians as lines; other VMMs the
/// handoff. `on` says where the boots ran, for the title.
fn chart(
    variants: &[Variant],
    summaries: &[Summary],
    reference: Option<usize>,
    goal: Goal,
    rounds: u32,
    on: &str,
) -> Chart {
    let col = |f: fn(&Summary) -> Option<Spread>| summaries.iter().map(f).collect::<Vec<_>>();
    let (series, references) = match goal {
        Goal::Init => {
            let series = vec![
                ("kernel's first console line".to_string(), col(|s| s.kernel)),
                ("init marker".to_string(), col(|s| s.init)),
            ];
            let direct = reference.and_then(|i| summaries.get(i));
            let mut refs = Vec::new();
            if let Some(k) = direct.and_then(|d| d.kernel) {
                refs.push(("direct boot: kernel's first line".to_string(), k.median, 0));
            }
            if let Some(i) = direct.and_then(|d| d.init) {
                refs.push(("direct boot: init marker".to_string(), i.median, 1));
            }
            (series, refs)
        }
        Goal::Handoff => (vec![("firmware handoff".to_string(), col(|s| s.handoff))], Vec::new()),
    };
    let rounds = if rounds == 1 {
        "1 round".to_string()
    } else {
        format!("median of {rounds} rounds, whiskers min–max")
    };
    Chart {
        title: format!("Boot time, {on}: {rounds}"),
        y_desc: "seconds from the VMM's start".into(),
        categories: variants.iter().map(|v| v.short().to_string()).collect(),
        series,
        references,
    }
}

/// The first line a command prints, or `?`.
fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().next().map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// The command as typed (`cargo xtask bench boot --rounds 2`).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

/// The tree's commit, and whether tracked files differ from it.
fn git_revision() -> String {
    let root = build::root();
    let rev = first_line(Command::new("git").arg("-C").arg(&root).args([
        "rev-parse",
        "--short=12",
        "HEAD",
    ]));
    let dirty = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    format!("commit {rev}{}", if dirty { " with uncommitted changes" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vmm_arguments() {
        assert_eq!(VmmArg::parse("ch").unwrap(), VmmArg { vmm: Vmm::CloudHypervisor, path: None });
        assert_eq!(
            VmmArg::parse("fc=/opt/firecracker").unwrap(),
            VmmArg { vmm: Vmm::Firecracker, path: Some("/opt/firecracker".into()) }
        );
        assert_eq!(VmmArg::parse("cloud-hypervisor").unwrap().vmm, Vmm::CloudHypervisor);
        assert!(VmmArg::parse("qemu").unwrap_err().contains("ch[=PATH]"));
        assert!(VmmArg::parse("ch=").unwrap_err().contains("path"));
    }

    #[test]
    fn a_missing_binary_says_how_to_give_one() {
        let a = VmmArg { vmm: Vmm::CloudHypervisor, path: Some("/nonexistent/ch".into()) };
        assert!(a.binary().unwrap_err().contains("/nonexistent/ch"));
        let a = VmmArg { vmm: Vmm::Firecracker, path: Some(env!("CARGO_MANIFEST_DIR").into()) };
        assert!(a.binary().unwrap_err().contains("not an executable"));
    }

    /// Lines come with the time their pieces arrived; carriage returns go.
    #[test]
    fn reads_timed_lines() {
        let (tx, rx) = mpsc::channel();
        read_lines(&b"one\r\ntwo\nthr"[..], Instant::now(), tx);
        let lines: Vec<TimedLine> = rx.iter().collect();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "thr"]);
        assert!(lines.iter().all(|l| l.arrivals.len() == 1 && l.arrivals[0].0 == 0));
    }

    /// The variants' table names are unique (the CSV and logs use slugs).
    #[test]
    fn variants_are_named_apart() {
        let mut slugs: Vec<&str> = Variant::QEMU.iter().map(|v| v.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), Variant::QEMU.len());
    }
}
