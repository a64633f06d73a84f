//! arm64 guests: QEMU `virt` booting vmfw's arm64 build
//! (`target/vmfw-aarch64.bin`, a flat arm64 Linux `Image` that QEMU's
//! `-kernel` loads and enters with the device tree in `x0`), QEMU's own
//! UEFI firmware (edk2's `QEMU_EFI.fd` from `qemu-efi-aarch64`, as
//! `-bios`) as the reference the same disks are timed against, or QEMU's
//! direct kernel boot (`-kernel Image -initrd ... -append ...`), which
//! checks a test image's kernel and initrd without any firmware.
//!
//! The machine is `-M virt -cpu max,pauth-impdef=on` under TCG: QEMU's
//! default pointer-authentication algorithm (QARMA) is slow to emulate,
//! the implementation-defined one is not. The serial console (the PL011)
//! is on stdio, with `-nodefaults -display none` as on x86_64 (what
//! `-nographic` does, without the monitor on stdio). Disks are read-only
//! virtio-blk, on PCI (`virtio-blk-pci`, on `virt`'s PCIe host bridge,
//! which the guest's firmware must assign BARs on) or on virtio-mmio
//! (`virtio-blk-device`, in `virt`'s virtio-mmio slots, in the device
//! tree).
//!
//! Environment ([`crate::ENVIRONMENT`]): `QEMU_AARCH64` names the QEMU
//! binary (default `qemu-system-aarch64`), `CLOUD_HYPERVISOR_AARCH64` an
//! arm64 Cloud Hypervisor binary (for the ignored test that needs an arm64
//! KVM host), `VMFW_ARM64_TIMES` (any value) runs the ignored timing test;
//! `VMFW_ACCEL` and `VMFW_ELF_DIR` mean what they mean on x86_64.
//!
//! Runs use the x86_64 harness's runner ([`crate::run`],
//! [`crate::run_timed`]) and its [`Outcome`]: the same timeout, log files
//! in `target/itest-logs` and checks.

use crate::{binary_from_env, elf_dir, run, run_timed, Accel, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The environment variable naming the QEMU binary for arm64 guests.
pub const QEMU_VAR: &str = "QEMU_AARCH64";

/// edk2 for QEMU `virt` as Debian's `qemu-efi-aarch64` installs it.
pub const EDK2_PATH: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// The CPU model under TCG (see the module documentation).
pub const TCG_CPU: &str = "max,pauth-impdef=on";

/// How long a VM that boots a Linux kernel may take under TCG. The test
/// kernel reaches its initrd in seconds there (QEMU's direct boot: under
/// 2 s); the margin is for edk2, for loaded CI machines, and for a
/// firmware that is slow before it fails.
pub const KERNEL_TIMEOUT: Duration = Duration::from_secs(300);

/// vmfw's arm64 build (`vmfw-aarch64.bin` in [`elf_dir`]), or a panic that
/// says how to build it.
pub fn firmware() -> PathBuf {
    let p = elf_dir().join("vmfw-aarch64.bin");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask build --arch aarch64` (the arm64 tests boot it)",
        p.display()
    );
    p
}

/// edk2's `QEMU_EFI.fd` ([`EDK2_PATH`]), or a panic that says where it
/// comes from.
pub fn edk2() -> PathBuf {
    let p = PathBuf::from(EDK2_PATH);
    assert!(p.exists(), "{EDK2_PATH} is missing: install qemu-efi-aarch64 (.ci/deps does)");
    p
}

/// The arm64 Cloud Hypervisor binary named by `CLOUD_HYPERVISOR_AARCH64`,
/// or why there is none. (It runs only on an arm64 host with KVM.)
pub fn cloud_hypervisor() -> Result<PathBuf, String> {
    binary_from_env("CLOUD_HYPERVISOR_AARCH64", "cloud-hypervisor (arm64)")
}

/// How a disk is attached to an arm64 VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `virtio-blk-pci` behind `virt`'s PCIe host bridge.
    Pci,
    /// `virtio-blk-device` on virtio-mmio.
    Mmio,
}

impl Transport {
    /// Both transports.
    pub const ALL: [Transport; 2] = [Transport::Pci, Transport::Mmio];

    /// Short name for logs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Pci => "pci",
            Transport::Mmio => "mmio",
        }
    }

    /// The QEMU device that carries drive `id`.
    fn device(self, id: &str) -> String {
        match self {
            Transport::Pci => format!("virtio-blk-pci,drive={id}"),
            Transport::Mmio => format!("virtio-blk-device,drive={id}"),
        }
    }
}

/// What QEMU starts.
#[derive(Debug, Clone)]
pub enum Loader {
    /// vmfw ([`firmware`]) as `-kernel`; the VM's `append` is vmfw's
    /// command line (QEMU puts it in the device tree's `/chosen/bootargs`).
    Vmfw,
    /// edk2 ([`edk2`]) as `-bios`: it boots the first disk's removable
    /// media path.
    Edk2,
    /// Another vmfw image as `-kernel` (an enrolled copy, for Secure
    /// Boot); the VM's `append` is vmfw's command line.
    VmfwImage(PathBuf),
    /// A Linux kernel as `-kernel` (an arm64 `Image`, gzip-compressed or
    /// not: QEMU inflates it), with an initrd, and `append` as the kernel's
    /// command line.
    Kernel {
        /// The kernel file.
        kernel: PathBuf,
        /// The initrd file.
        initrd: Option<PathBuf>,
    },
}

impl Loader {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Loader::Vmfw | Loader::VmfwImage(_) => "vmfw",
            Loader::Edk2 => "edk2",
            Loader::Kernel { .. } => "direct",
        }
    }
}

/// The QEMU binary for arm64 guests (`QEMU_AARCH64`, default
/// `qemu-system-aarch64`).
pub fn qemu() -> String {
    std::env::var(QEMU_VAR).unwrap_or_else(|_| "qemu-system-aarch64".into())
}

/// QEMU's accelerator and CPU arguments: TCG with [`TCG_CPU`] unless
/// `VMFW_ACCEL=kvm` (then `-cpu host`, on an arm64 host); panics (the test
/// fails) when `VMFW_ACCEL` names no accelerator.
pub fn accel_args() -> Vec<String> {
    let accel = Accel::from_env().unwrap_or_else(|e| panic!("{e}"));
    let cpu = match accel {
        Accel::Tcg => TCG_CPU,
        Accel::Kvm => "host",
    };
    ["-accel", accel.name(), "-cpu", cpu].map(String::from).to_vec()
}

/// The QEMU command line every arm64 VM starts from: `virt`, the
/// accelerator ([`accel_args`]), one CPU, `memory`, the PL011 on stdio, no
/// display, no default devices, and `-no-reboot` so that a reset ends the
/// VM instead of looping.
pub fn qemu_command(memory: &str) -> Command {
    let mut cmd = Command::new(qemu());
    cmd.args(["-M", "virt"])
        .args(accel_args())
        .args(["-m", memory, "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-serial", "stdio", "-no-reboot"]);
    cmd
}

/// An arm64 QEMU VM.
#[derive(Debug, Clone)]
pub struct ArmVm {
    name: String,
    loader: Loader,
    memory: String,
    append: String,
    args: Vec<String>,
    disks: usize,
    timeout: Duration,
}

impl ArmVm {
    /// A VM with 1 GiB, no disks and a [`KERNEL_TIMEOUT`], started by
    /// `loader`; `name` names its log (`target/itest-logs/<name>.log`).
    pub fn new(name: &str, loader: Loader) -> Self {
        ArmVm {
            name: name.into(),
            loader,
            memory: "1G".into(),
            append: String::new(),
            args: Vec::new(),
            disks: 0,
            timeout: KERNEL_TIMEOUT,
        }
    }

    /// vmfw ([`Loader::Vmfw`]).
    pub fn vmfw(name: &str) -> Self {
        ArmVm::new(name, Loader::Vmfw)
    }

    /// edk2 ([`Loader::Edk2`]).
    pub fn edk2(name: &str) -> Self {
        ArmVm::new(name, Loader::Edk2)
    }

    /// QEMU's direct kernel boot ([`Loader::Kernel`]); `append` is the
    /// kernel's command line.
    pub fn direct(name: &str, kernel: &Path, initrd: Option<&Path>, append: &str) -> Self {
        let loader =
            Loader::Kernel { kernel: kernel.to_path_buf(), initrd: initrd.map(Path::to_path_buf) };
        ArmVm::new(name, loader).append(append)
    }

    /// Guest RAM (QEMU syntax).
    pub fn memory(mut self, m: &str) -> Self {
        self.memory = m.into();
        self
    }

    /// vmfw's command line, or the kernel's for a direct boot (edk2 takes
    /// none: ignored there).
    pub fn append(mut self, a: &str) -> Self {
        self.append = a.into();
        self
    }

    /// Attaches a raw, read-only disk image.
    pub fn disk(mut self, path: &Path, transport: Transport) -> Self {
        let id = format!("d{}", self.disks);
        self.disks += 1;
        self.args.push("-drive".into());
        self.args.push(format!("file={},if=none,id={id},format=raw,readonly=on", path.display()));
        self.args.push("-device".into());
        self.args.push(transport.device(&id));
        self
    }

    /// Extra QEMU arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// How long a run may take (default [`KERNEL_TIMEOUT`]).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let mut cmd = qemu_command(&self.memory);
        match &self.loader {
            Loader::Vmfw => {
                cmd.arg("-kernel").arg(firmware());
            }
            Loader::VmfwImage(image) => {
                cmd.arg("-kernel").arg(image);
            }
            Loader::Edk2 => {
                cmd.arg("-bios").arg(edk2());
            }
            Loader::Kernel { kernel, initrd } => {
                cmd.arg("-kernel").arg(kernel);
                if let Some(i) = initrd {
                    cmd.arg("-initrd").arg(i);
                }
            }
        }
        if !self.append.is_empty() && !matches!(self.loader, Loader::Edk2) {
            cmd.args(["-append", &self.append]);
        }
        cmd.args(&self.args);
        cmd
    }

    /// Boots and waits for the VM to stop (or the timeout).
    pub fn run(self) -> Outcome {
        run(&self.name, self.command(), self.timeout)
    }

    /// Boots, and also says how long after QEMU started `marker` first
    /// appeared on the console ([`crate::run_timed`]).
    pub fn run_timed(self, marker: &str) -> (Outcome, Option<Duration>) {
        run_timed(&self.name, self.command(), self.timeout, marker)
    }
}

/// Boots `disk` (on `transport`) under edk2 and returns the outcome: the
/// reference for a UEFI image's boot, to compare with vmfw's.
pub fn boot_edk2(name: &str, disk: &Path, transport: Transport) -> Outcome {
    ArmVm::edk2(name).disk(disk, transport).run()
}

/// Wall-clock times from QEMU's start to `marker` over `runs` boots of the
/// VM `make` builds (called once a run), or an error with the log of the
/// first run that did not reach it.
pub fn times_to_marker(
    runs: u32,
    marker: &str,
    make: impl Fn(u32) -> ArmVm,
) -> Result<Vec<Duration>, String> {
    (0..runs)
        .map(|i| match make(i).run_timed(marker) {
            (_, Some(t)) => Ok(t),
            (out, None) => Err(format!(
                "{marker:?} never appeared ({}; {})",
                out.log_path.display(),
                out.status.map_or("timed out".into(), |s| s.to_string())
            )),
        })
        .collect()
}

/// The median of `times` (the lower middle one for an even count).
pub fn median(times: &[Duration]) -> Option<Duration> {
    let mut t = times.to_vec();
    t.sort();
    t.get(t.len().saturating_sub(1) / 2).copied()
}

/// Boots vmfw's arm64 build under Cloud Hypervisor (`--kernel`), with an
/// optional read-only virtio-blk (PCI) disk; `bin` is an arm64 binary
/// ([`cloud_hypervisor`]) on an arm64 host with KVM.
pub fn boot_cloud_hypervisor(bin: &Path, name: &str, append: &str, disk: Option<&Path>) -> Outcome {
    let mut cmd = Command::new(bin);
    cmd.arg("--kernel")
        .arg(firmware())
        .args(["--cpus", "boot=1", "--memory", "size=1G", "--serial", "tty", "--console", "off"])
        .args(["--cmdline", append]);
    if let Some(d) = disk {
        cmd.arg("--disk").arg(format!("path={},readonly=on", d.display()));
    }
    run(&format!("{name}-cloud-hypervisor-aarch64"), cmd, KERNEL_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::median;
    use std::time::Duration;

    #[test]
    fn median_of_three_and_of_none() {
        let s = Duration::from_secs;
        assert_eq!(median(&[s(3), s(1), s(2)]), Some(s(2)));
        assert_eq!(median(&[s(4), s(1)]), Some(s(1)));
        assert_eq!(median(&[]), None);
    }
}
