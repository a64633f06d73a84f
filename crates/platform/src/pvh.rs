//! The PVH door: `struct hvm_start_info` (Xen public header
//! `arch-x86/hvm/start_info.h`), version 1 with its memory map.
//!
//! Layout (little endian): magic u32 @0, version u32 @4, flags u32 @8,
//! nr_modules u32 @12, modlist_paddr u64 @16, cmdline_paddr u64 @24,
//! rsdp_paddr u64 @32, memmap_paddr u64 @40, memmap_entries u32 @48.
//! Each memory map entry: addr u64, size u64, type u32 (E820 numbering),
//! reserved u32.

use crate::{Cmdline, Door, Error, PhysMem, Platform, MAX_VMM_ENTRIES};
use vmfw_bytes::{u32_in, u64_in};
use vmfw_memmap::MemoryType;

/// `hvm_start_info.magic`.
pub const PVH_MAGIC: u32 = 0x336e_c578;
const START_INFO_SIZE: usize = 56;
const MEMMAP_ENTRY_SIZE: u64 = 24;

/// Builds the platform description from the PVH start info at `addr`.
pub fn from_pvh(mem: &impl PhysMem, addr: u64) -> Result<Platform, Error> {
    let mut si = [0u8; START_INFO_SIZE];
    mem.read(addr, &mut si)?;
    let magic = u32_in::<0, _>(&si);
    if magic != PVH_MAGIC {
        return Err(Error::BadMagic(magic));
    }
    if u32_in::<4, _>(&si) < 1 {
        return Err(Error::NoMemoryMap);
    }
    let mut p = Platform::new(Door::Pvh);
    p.cmdline = Cmdline::read(mem, u64_in::<24, _>(&si))?;
    p.rsdp = Some(u64_in::<32, _>(&si)).filter(|a| *a != 0);

    let map = u64_in::<40, _>(&si);
    let count = u64::from(u32_in::<48, _>(&si));
    if count > MAX_VMM_ENTRIES {
        return Err(Error::TooManyEntries(count));
    }
    for i in 0..count {
        let at = i
            .checked_mul(MEMMAP_ENTRY_SIZE)
            .and_then(|o| map.checked_add(o))
            .ok_or(Error::Unreadable(map))?;
        let mut e = [0u8; MEMMAP_ENTRY_SIZE as usize];
        mem.read(at, &mut e)?;
        let ty = MemoryType::from_e820(u32_in::<16, _>(&e));
        p.memory.add(u64_in::<0, _>(&e), u64_in::<8, _>(&e), ty)?;
    }
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::VecMem;

    fn start_info(m: &mut VecMem, entries: &[(u64, u64, u32)], cmdline: &[u8]) {
        let mut si = [0u8; START_INFO_SIZE];
        si[0..4].copy_from_slice(&PVH_MAGIC.to_le_bytes());
        si[4..8].copy_from_slice(&1u32.to_le_bytes());
        si[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
        si[32..40].copy_from_slice(&0xf5000u64.to_le_bytes());
        si[40..48].copy_from_slice(&0x3000u64.to_le_bytes());
        si[48..52].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        m.put(0x1000, &si);
        m.put(0x2000, cmdline);
        for (i, (a, s, t)) in entries.iter().enumerate() {
            let mut e = [0u8; 24];
            e[0..8].copy_from_slice(&a.to_le_bytes());
            e[8..16].copy_from_slice(&s.to_le_bytes());
            e[16..20].copy_from_slice(&t.to_le_bytes());
            m.put(0x3000 + 24 * i as u64, &e);
        }
    }

    #[test]
    fn parses_qemu_like_start_info() {
        let mut m = VecMem::new(0x10000);
        let entries = [
            (0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0x100000, 0x7ff00000, 1),
            (0x1_0000_0000, 0x4000_0000, 1),
        ];
        start_info(&mut m, &entries, b"vmfw.log=debug\0");
        let p = from_pvh(&m, 0x1000).unwrap();
        assert_eq!(p.door, Door::Pvh);
        assert_eq!(p.rsdp, Some(0xf5000));
        assert_eq!(p.cmdline.value("vmfw.log"), Some("debug"));
        assert_eq!(p.memory.ram_end(), 0x1_4000_0000);
        assert_eq!(p.memory.type_at(0x9fc00), Some(MemoryType::Reserved));
    }

    #[test]
    fn rejects_bad_start_info() {
        let mut m = VecMem::new(0x10000);
        assert_eq!(from_pvh(&m, 0x1000).unwrap_err(), Error::BadMagic(0));
        start_info(&mut m, &[(0, 0x1000, 2)], b"\0");
        assert_eq!(from_pvh(&m, 0x1000).unwrap_err(), Error::NoRam);
        m.put(0x1000 + 48, &5000u32.to_le_bytes());
        assert_eq!(from_pvh(&m, 0x1000).unwrap_err(), Error::TooManyEntries(5000));
        m.put(0x1000 + 48, &1u32.to_le_bytes());
        m.put(0x1000 + 40, &u64::MAX.to_le_bytes());
        assert!(matches!(from_pvh(&m, 0x1000), Err(Error::Unreadable(_))));
        m.put(0x1000 + 4, &0u32.to_le_bytes());
        assert_eq!(from_pvh(&m, 0x1000).unwrap_err(), Error::NoMemoryMap);
        assert!(from_pvh(&m, u64::MAX - 4).is_err());
    }

    #[test]
    fn mutated_start_info_never_panics() {
        let mut m = VecMem::new(0x10000);
        start_info(&mut m, &[(0, 0x9fc00, 1), (0x100000, 0x1000000, 1)], b"a b c\0");
        for off in 0x1000..0x1000 + START_INFO_SIZE + 0x40 {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut mm = VecMem(m.0.clone());
                mm.0[off] = v;
                let _ = from_pvh(&mm, 0x1000);
                let mut mm = VecMem(m.0.clone());
                mm.0[off - 0x1000 + 0x3000] = v;
                let _ = from_pvh(&mm, 0x1000);
            }
        }
    }
}
