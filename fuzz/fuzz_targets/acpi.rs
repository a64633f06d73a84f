//! The ACPI reader over a fuzzed guest memory (`src/phys.rs`, usually with
//! the reseal flag so checksums hold): `Tables::new` from the RSDP at the
//! view's start address (XSDT or RSDT), `find`, `fadt`, `mcfg`,
//! `dsdt_aml`, `power_control` (FADT registers plus the DSDT's `\_S5_`),
//! `aml::find_devices` for `LNRO0005` (virtio-mmio) as the firmware's
//! device discovery calls it, and `scan_rsdp` over the BIOS area.
//!
//! Checks: nothing panics; every device window found is non-empty and
//! does not wrap; at most `MAX_DEVICES` are reported; ECAM windows have
//! `start_bus <= end_bus` and addresses inside the window; a found table's
//! address has the signature asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_acpi::{aml, scan_rsdp, Memory, Tables};
use vmfw_fuzz::phys::PhysView;

fuzz_target!(|data: &[u8]| {
    let Some(view) = PhysView::decode(data) else { return };
    if let Some(r) = scan_rsdp(&view) {
        assert_eq!(r % 16, 0);
    }
    let Ok(tables) = Tables::new(&view, view.start) else { return };
    for sig in [*b"FACP", *b"APIC", *b"MCFG", *b"HPET"] {
        if let Ok(addr) = tables.find(&view, sig) {
            let mut s = [0u8; 4];
            Memory::read(&view, addr, &mut s).expect("found tables are readable");
            assert_eq!(s, sig);
        }
    }
    if let Ok(ecams) = tables.mcfg(&view) {
        for e in ecams {
            assert!(e.start_bus <= e.end_bus);
            let _ = e.size();
            if let Some(a) = e.address(e.end_bus, 31, 7, 0xffc) {
                assert!(a >= e.base);
            }
            assert_eq!(e.address(e.start_bus, 0, 0, 0), Some(e.base));
        }
    }
    let _ = tables.fadt(&view);
    let _ = tables.power_control(&view);
    if let Ok(dsdt) = tables.dsdt_aml(&view) {
        let found = aml::find_devices(&dsdt, "LNRO0005");
        assert!(found.len() <= aml::MAX_DEVICES);
        for d in found {
            assert!(d.size > 0);
            assert!(d.base.checked_add(d.size).is_some());
        }
        let _ = aml::find_s5(&dsdt);
    }
});
