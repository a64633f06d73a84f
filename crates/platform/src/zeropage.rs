//! The Linux 64-bit boot protocol door: `rsi` points at a zero page
//! (`struct boot_params`) whose E820 table and command line pointer describe
//! the machine. Firecracker uses it when the ELF has no PVH note.

use crate::{Cmdline, Door, Error, PhysMem, Platform};
use vmfw_bytes::{array, u32_in, u64_in};
use vmfw_linux::zeropage as zp;
use vmfw_memmap::MemoryType;

/// Builds the platform description from the zero page at `addr`.
pub fn from_zero_page(mem: &impl PhysMem, addr: u64) -> Result<Platform, Error> {
    let mut page = [0u8; zp::SIZE];
    mem.read(addr, &mut page)?;
    let mut p = Platform::new(Door::Linux64);

    let count = usize::from(page[zp::E820_ENTRIES]);
    if count > zp::E820_MAX {
        return Err(Error::TooManyEntries(count as u64));
    }
    for i in 0..count {
        let off = zp::E820_TABLE + i * zp::E820_ENTRY_SIZE;
        // E820_MAX entries fit in the page; one that did not would be VMM
        // data we cannot read.
        let e: [u8; zp::E820_ENTRY_SIZE] =
            array(&page, off).ok_or(Error::Unreadable(addr.saturating_add(off as u64)))?;
        let ty = MemoryType::from_e820(u32_in::<16, _>(&e));
        p.memory.add(u64_in::<0, _>(&e), u64_in::<8, _>(&e), ty)?;
    }
    let cmdline = u64::from(u32_in::<{ zp::CMD_LINE_PTR }, _>(&page))
        | (u64::from(u32_in::<{ zp::EXT_CMD_LINE_PTR }, _>(&page)) << 32);
    p.cmdline = Cmdline::read(mem, cmdline)?;
    p.rsdp = Some(u64_in::<{ zp::ACPI_RSDP_ADDR }, _>(&page)).filter(|a| *a != 0);
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::VecMem;

    fn firecracker_like() -> VecMem {
        let mut m = VecMem::new(0x30000);
        let zp_addr = 0x7000u64;
        let entries: [(u64, u64, u32); 3] =
            [(0, 0x9fc00, 1), (0x100000, 0x7ff0_0000, 1), (0x1_0000_0000, 0x1000_0000, 1)];
        m.put(zp_addr + zp::E820_ENTRIES as u64, &[entries.len() as u8]);
        for (i, (a, s, t)) in entries.iter().enumerate() {
            let off = zp_addr + (zp::E820_TABLE + i * zp::E820_ENTRY_SIZE) as u64;
            m.put(off, &a.to_le_bytes());
            m.put(off + 8, &s.to_le_bytes());
            m.put(off + 16, &t.to_le_bytes());
        }
        m.put(zp_addr + zp::CMD_LINE_PTR as u64, &0x20000u32.to_le_bytes());
        m.put(0x20000, b"console=ttyS0 reboot=k panic=1 pci=off\0");
        m
    }

    #[test]
    fn parses_firecracker_zero_page() {
        let m = firecracker_like();
        let p = from_zero_page(&m, 0x7000).unwrap();
        assert_eq!(p.door, Door::Linux64);
        assert!(p.cmdline.has("pci=off"));
        assert_eq!(p.rsdp, None);
        assert_eq!(p.memory.ram_end(), 0x1_1000_0000);
    }

    #[test]
    fn rejects_bad_zero_pages() {
        let mut m = firecracker_like();
        m.put(0x7000 + zp::E820_ENTRIES as u64, &[200]);
        assert_eq!(from_zero_page(&m, 0x7000).unwrap_err(), Error::TooManyEntries(200));
        m.put(0x7000 + zp::E820_ENTRIES as u64, &[0]);
        assert_eq!(from_zero_page(&m, 0x7000).unwrap_err(), Error::NoRam);
        assert!(from_zero_page(&m, 0x2f000).is_err());
    }

    #[test]
    fn mutated_zero_page_never_panics() {
        let m = firecracker_like();
        for off in (0..zp::SIZE).step_by(3) {
            for v in [0u8, 0x80, 0xff] {
                let mut mm = VecMem(m.0.clone());
                mm.0[0x7000 + off] = v;
                let _ = from_zero_page(&mm, 0x7000);
            }
        }
    }
}
