//! Unit tests on synthetic bzImages ([`Synth`]) and memory maps shaped like
//! the VMs vmfw runs in. The real Debian kernel header is tested in
//! `tests/real_kernel.rs`.

extern crate std;

use std::vec::Vec;

use vmfw_memmap::{MemoryMap, MemoryType};

use crate::zeropage as zp;

#[cfg(feature = "arm64")]
mod arm64;
mod bootparams;
#[cfg(feature = "arm64")]
mod gzip;
mod header;
mod plan;
#[cfg(feature = "arm64")]
mod zboot;

pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const GIB: u64 = 1 << 30;

/// Version string the synthetic images carry.
pub(crate) const SYNTH_VERSION: &str = "6.99.0-synthetic (vmfw tests) #1";

/// A minimal valid bzImage with chosen header fields. `image()` lays it out
/// as a real one is: boot sector with the header at 0x1f1, setup code,
/// then the protected-mode code.
#[derive(Clone, Debug)]
pub(crate) struct Synth {
    /// Raw `setup_sects` (0 means 4).
    pub setup_sects: u8,
    pub version: u16,
    /// Jump offset byte: the header ends at 0x202 + this.
    pub jump: u8,
    pub loadflags: u8,
    pub xloadflags: u16,
    pub kernel_alignment: u32,
    pub relocatable: u8,
    pub min_alignment: u8,
    pub cmdline_size: u32,
    pub initrd_addr_max: u32,
    pub pref_address: u64,
    pub init_size: u32,
    /// Bytes of protected-mode code; `syssize` is this / 16 unless set.
    pub kernel_len: usize,
    pub syssize: Option<u32>,
    pub payload_offset: u32,
    pub payload_length: u32,
}

impl Default for Synth {
    fn default() -> Self {
        Synth {
            setup_sects: 4,
            version: 0x020f,
            jump: 0x6a,
            loadflags: zp::LOADFLAG_LOADED_HIGH,
            xloadflags: zp::XLF_KERNEL_64 | zp::XLF_CAN_BE_LOADED_ABOVE_4G,
            kernel_alignment: 0x20_0000,
            relocatable: 1,
            min_alignment: 21,
            cmdline_size: 2047,
            initrd_addr_max: 0x7fff_ffff,
            pref_address: 0x100_0000,
            init_size: 0x200_0000,
            kernel_len: 0x1000,
            syssize: None,
            payload_offset: 0x200,
            payload_length: 0x800,
        }
    }
}

impl Synth {
    /// Bytes before the protected-mode code.
    pub fn setup_size(&self) -> usize {
        (usize::from(if self.setup_sects == 0 { 4 } else { self.setup_sects }) + 1) * 512
    }

    /// The image.
    pub fn image(&self) -> Vec<u8> {
        let setup = self.setup_size();
        let mut b = std::vec![0u8; setup + self.kernel_len];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(zp::SETUP_SECTS, &[self.setup_sects]);
        put(zp::SYSSIZE, &self.syssize.unwrap_or((self.kernel_len / 16) as u32).to_le_bytes());
        put(zp::VID_MODE, &0xffffu16.to_le_bytes());
        put(zp::BOOT_FLAG, &zp::BOOT_FLAG_MAGIC.to_le_bytes());
        put(zp::JUMP, &[0xeb, self.jump]);
        put(zp::HEADER, b"HdrS");
        put(zp::VERSION, &self.version.to_le_bytes());
        put(zp::KERNEL_VERSION, &0x400u16.to_le_bytes());
        put(zp::LOADFLAGS, &[self.loadflags]);
        put(zp::CODE32_START, &0x10_0000u32.to_le_bytes());
        put(zp::HEAP_END_PTR, &0x5be0u16.to_le_bytes());
        put(zp::INITRD_ADDR_MAX, &self.initrd_addr_max.to_le_bytes());
        put(zp::KERNEL_ALIGNMENT, &self.kernel_alignment.to_le_bytes());
        put(zp::RELOCATABLE_KERNEL, &[self.relocatable]);
        put(zp::MIN_ALIGNMENT, &[self.min_alignment]);
        put(zp::XLOADFLAGS, &self.xloadflags.to_le_bytes());
        put(zp::CMDLINE_SIZE, &self.cmdline_size.to_le_bytes());
        put(zp::PAYLOAD_OFFSET, &self.payload_offset.to_le_bytes());
        put(zp::PAYLOAD_LENGTH, &self.payload_length.to_le_bytes());
        put(zp::PREF_ADDRESS, &self.pref_address.to_le_bytes());
        put(zp::INIT_SIZE, &self.init_size.to_le_bytes());
        put(zp::HANDOVER_OFFSET, &0x190u32.to_le_bytes());
        put(zp::KERNEL_INFO_OFFSET, &0xc00u32.to_le_bytes());
        // The kernel_version string, if the setup code has room for it.
        let mut version = Vec::from(SYNTH_VERSION.as_bytes());
        version.push(0);
        if 0x600 + version.len() <= setup {
            put(0x600, &version);
        }
        // Recognisable protected-mode code.
        for (i, x) in b[setup..].iter_mut().enumerate() {
            *x = (i % 251) as u8;
        }
        b
    }
}

/// QEMU q35 with 5 GiB: low RAM to 2 GiB, the PCI hole, 3 GiB above 4 GiB;
/// the firmware occupies 1–2 MiB.
pub(crate) fn q35() -> MemoryMap {
    let mut m = vmfw_memmap::testing::q35(3 * GIB);
    m.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    m
}

/// A Firecracker-style tiny VM: 128 MiB, all below 4 GiB.
pub(crate) fn tiny() -> MemoryMap {
    let mut m = vmfw_memmap::testing::small(128 * MIB);
    m.reserve(MIB, MIB, MemoryType::FirmwareCode).unwrap();
    m
}
