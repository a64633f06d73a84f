//! The guest architectures the test images are built for, and what differs
//! between them in a test image: Debian's architecture name, the UEFI
//! removable-media file name, the serial console's device name.

/// A guest architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 (Debian `amd64`).
    X86_64,
    /// AArch64 (Debian `arm64`).
    Aarch64,
}

impl Arch {
    /// Debian's name for the architecture (`apt`'s and `dpkg`'s).
    pub fn deb(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The short name UEFI file names carry: `x64`, `aa64` (UEFI 2.10
    /// §3.5.1.1, `BOOTx64.EFI`, `BOOTAA64.EFI`; systemd's `linuxx64` and
    /// `linuxaa64`).
    pub fn efi(self) -> &'static str {
        match self {
            Arch::X86_64 => "x64",
            Arch::Aarch64 => "aa64",
        }
    }

    /// The removable-media boot file on the ESP (UEFI 2.10 §3.5.1.1).
    pub fn boot_file(self) -> &'static str {
        match self {
            Arch::X86_64 => "/EFI/BOOT/BOOTX64.EFI",
            Arch::Aarch64 => "/EFI/BOOT/BOOTAA64.EFI",
        }
    }

    /// The Linux console device of the VM's first serial port: the 16550
    /// (`ttyS0`) on x86, the PL011 (`ttyAMA0`) on arm64.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// The PE/COFF `Machine` value of the architecture's UEFI images.
    pub fn pe_machine(self) -> vmfw_pe::Machine {
        match self {
            Arch::X86_64 => vmfw_pe::Machine::X86_64,
            Arch::Aarch64 => vmfw_pe::Machine::Aarch64,
        }
    }

    /// A prefix for image and log names: empty for x86_64 (whose names
    /// predate this type and key the cached images), `arm64-` otherwise.
    pub fn prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "",
            Arch::Aarch64 => "arm64-",
        }
    }
}
