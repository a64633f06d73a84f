//! Table walking tests over synthetic tables in a fake guest memory.

use super::*;
use std::vec::Vec;

struct Mem(Vec<u8>);

impl Memory for Mem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        let a = usize::try_from(addr).map_err(|_| Error::Unreadable(addr))?;
        let s = a
            .checked_add(buf.len())
            .and_then(|e| self.0.get(a..e))
            .ok_or(Error::Unreadable(addr))?;
        buf.copy_from_slice(s);
        Ok(())
    }
}

fn fix_checksum(t: &mut [u8], at: usize) {
    t[at] = 0;
    let sum = t.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    t[at] = 0u8.wrapping_sub(sum);
}

fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = std::vec![0u8; 36];
    t[..4].copy_from_slice(sig);
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut t, 9);
    t
}

/// Guest memory with RSDP @0x100, XSDT @0x200, FADT @0x400, DSDT @0x800.
fn machine(hw_reduced: bool) -> Mem {
    let mut m = std::vec![0u8; 0x2000];
    let mut rsdp = [0u8; 36];
    rsdp[..8].copy_from_slice(b"RSD PTR ");
    rsdp[9..15].copy_from_slice(b"CLOUDH");
    rsdp[15] = 2;
    rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
    rsdp[24..32].copy_from_slice(&0x200u64.to_le_bytes());
    fix_checksum(&mut rsdp[..20], 8);
    fix_checksum(&mut rsdp, 32);
    m[0x100..0x100 + 36].copy_from_slice(&rsdp);
    let xsdt = table(b"XSDT", &0x400u64.to_le_bytes());
    m[0x200..0x200 + xsdt.len()].copy_from_slice(&xsdt);
    let mut fadt_body = std::vec![0u8; 276 - 36];
    let put =
        |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off - 36..off - 36 + v.len()].copy_from_slice(v);
    put(&mut fadt_body, 40, &0x800u32.to_le_bytes());
    if hw_reduced {
        put(&mut fadt_body, 112, &(HW_REDUCED | (1 << 10)).to_le_bytes());
        // SLEEP_CONTROL_REG: I/O port 0x3c0, 8 bits.
        put(&mut fadt_body, 244, &[1, 8, 0, 1]);
        put(&mut fadt_body, 248, &0x3c0u64.to_le_bytes());
        put(&mut fadt_body, 116, &[1, 8, 0, 1]);
        put(&mut fadt_body, 120, &0x3c1u64.to_le_bytes());
        put(&mut fadt_body, 128, &[0x1]);
    } else {
        put(&mut fadt_body, 64, &0x604u32.to_le_bytes());
        // PM_TMR_BLK must not be mistaken for PM1b_CNT_BLK.
        put(&mut fadt_body, 76, &0x608u32.to_le_bytes());
    }
    let fadt = table(b"FACP", &fadt_body);
    m[0x400..0x400 + fadt.len()].copy_from_slice(&fadt);
    let s5: &[u8] = if hw_reduced {
        &[0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x01, 0x0a, 0x05]
    } else {
        &[0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0]
    };
    let dsdt = table(b"DSDT", s5);
    m[0x800..0x800 + dsdt.len()].copy_from_slice(&dsdt);
    Mem(m)
}

const HW_REDUCED: u32 = fadt::HW_REDUCED_ACPI;

#[test]
fn legacy_pm1_poweroff() {
    let m = machine(false);
    let t = Tables::new(&m, 0x100).unwrap();
    assert_eq!(&t.oem_id(), b"CLOUDH");
    let pc = t.power_control(&m).unwrap();
    let (gas, val) = pc.s5_writes[0].unwrap();
    assert_eq!(gas, Gas { space: GasSpace::Io, bit_width: 16, address: 0x604 });
    assert_eq!(val, 1 << 13);
    assert_eq!(pc.s5_writes[1], None);
    assert_eq!(pc.reset, None);
}

#[test]
fn hw_reduced_sleep_control() {
    let m = machine(true);
    let t = Tables::new(&m, 0x100).unwrap();
    let pc = t.power_control(&m).unwrap();
    let (gas, val) = pc.s5_writes[0].unwrap();
    assert_eq!(gas.address, 0x3c0);
    assert_eq!(val, (5 << 2) | (1 << 5));
    assert_eq!(pc.reset.unwrap().0.address, 0x3c1);
}

#[test]
fn bad_tables_are_named_errors() {
    let mut m = machine(false);
    assert_eq!(Tables::new(&m, 0x0).unwrap_err(), Error::BadRsdp);
    assert!(matches!(Tables::new(&m, u64::MAX), Err(Error::Unreadable(_))));
    m.0[0x400 + 50] ^= 1;
    let t = Tables::new(&m, 0x100).unwrap();
    assert_eq!(t.fadt(&m).unwrap_err(), Error::BadChecksum(*b"FACP"));
    assert_eq!(t.find(&m, *b"MCFG").unwrap_err(), Error::NotFound(*b"MCFG"));
    // A length field claiming gigabytes is refused before reading.
    m.0[0x404..0x408].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(t.fadt(&m).unwrap_err(), Error::TooLong(*b"FACP"));
}

#[test]
fn mutated_tables_never_panic() {
    let base = machine(true);
    for i in 0x100..0x900 {
        for v in [0u8, 0x01, 0x7f, 0xff] {
            let mut m = Mem(base.0.clone());
            m.0[i] = v;
            if let Ok(t) = Tables::new(&m, 0x100) {
                let _ = t.power_control(&m);
            }
        }
    }
}

#[test]
fn mcfg_windows() {
    let mut m = machine(false);
    // Add an MCFG at 0x1000 and list it in the XSDT.
    let mut body = std::vec![0u8; 8];
    body.extend_from_slice(&0xb000_0000u64.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0xff, 0, 0, 0, 0]);
    let mcfg = table(b"MCFG", &body);
    m.0[0x1000..0x1000 + mcfg.len()].copy_from_slice(&mcfg);
    let mut entries = 0x400u64.to_le_bytes().to_vec();
    entries.extend_from_slice(&0x1000u64.to_le_bytes());
    let xsdt = table(b"XSDT", &entries);
    m.0[0x200..0x200 + xsdt.len()].copy_from_slice(&xsdt);
    let t = Tables::new(&m, 0x100).unwrap();
    let w = t.mcfg(&m).unwrap();
    assert_eq!(w, [Ecam { base: 0xb000_0000, segment: 0, start_bus: 0, end_bus: 0xff }]);
    assert_eq!(w[0].address(0, 3, 0, 0x10), Some(0xb001_8010));
    assert_eq!(w[0].address(0, 32, 0, 0), None);
    assert_eq!(w[0].size(), 256 << 20);
    // No MCFG at all is not an error.
    assert!(Tables::new(&machine(false), 0x100).unwrap().mcfg(&machine(false)).unwrap().is_empty());
}

#[test]
fn rsdp_scan_finds_only_valid_signatures() {
    let mut m = Mem(std::vec![0u8; 0x10_0000]);
    assert_eq!(scan_rsdp(&m), None);
    // A signature with a bad checksum first, then a good RSDP.
    m.0[0xe_0010..0xe_0018].copy_from_slice(b"RSD PTR ");
    m.0[0xe_0010 + 8] = 1;
    let good = machine(false).0[0x100..0x124].to_vec();
    m.0[0xf_5a40..0xf_5a40 + 36].copy_from_slice(&good);
    assert_eq!(scan_rsdp(&m), Some(0xf_5a40));
    assert_eq!(scan_rsdp(&Mem(std::vec![0u8; 0x1000])), None);
}
