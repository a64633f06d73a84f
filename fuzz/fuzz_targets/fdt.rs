//! `vmfw_fdt`: `Fdt::new` on the blob, a walk over every node and
//! property with every accessor, path, alias and phandle lookups, then
//! `stdout_uart` and `vmfw_platform::from_fdt`, as the aarch64 entry reads
//! the VMM's device tree, and `describe`, as the firmware then reads its
//! devices; then
//! `with_chosen`, as the native boot writes `/chosen` for Linux.
//!
//! Input: the DTB bytes.
//! Checks: every decoded region's end fits in a `u64`; PCI bus ranges are
//! ordered; `describe` twice gives equal results; each node found by the
//! walk is found again by its child list; the root is the walk's first node;
//! an edited copy parses, has the new `bootargs` and describes the same
//! machine otherwise (when the blob has no zero-sized reservation, which
//! the edit drops); with `/memreserve/` entries added, the copy's
//! reservation block is the blob's non-empty entries followed by the new
//! non-empty ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_fdt::{describe, with_chosen, Chosen, Fdt, Region};

fn region_ok(r: &Region) {
    assert!(r.base.checked_add(r.size).is_some(), "{r:?} wraps");
}

fuzz_target!(|data: &[u8]| {
    let Ok(fdt) = Fdt::new(data) else {
        return;
    };
    assert!(fdt.as_bytes().len() <= data.len());
    let _ = fdt.reservations().count();
    let root = fdt.root();
    let mut nodes = 0usize;
    for (i, node) in fdt.nodes().enumerate() {
        nodes += 1;
        if i == 0 {
            assert_eq!(node.name(), root.name());
        }
        for p in node.properties() {
            let _ = (p.as_u32(), p.as_u64(), p.as_str());
            let _ = p.as_str_list().count();
            let _ = p.as_cells().count();
        }
        if let Ok(reg) = node.reg() {
            for (a, s) in reg {
                let _ = (a, s);
            }
        }
        for child in node.children() {
            assert!(node.child(child.name()).is_some());
        }
        if let Some(ph) = node.phandle() {
            let _ = fdt.node_by_phandle(ph);
        }
        let _ = (node.cells(), node.is_compatible("virtio,mmio"));
    }
    assert!(nodes >= 1);
    for path in ["/", "/chosen", "/memory", "/soc/uart", "serial0", "/aliases"] {
        let _ = fdt.find_node(path);
    }
    let _ = fdt.stdout();
    let _ = vmfw_fdt::stdout_uart(&fdt);
    // The firmware's door: RAM, reservations and bootargs without a heap.
    if let Ok(p) = vmfw_platform::from_fdt(&fdt, 0x4000_0000) {
        assert_eq!(p.fdt, Some(0x4000_0000));
        assert!(p.memory.total(vmfw_platform::MemoryType::Free) > 0);
    }
    let a = describe(&fdt);
    let b = describe(&fdt);
    assert_eq!(a, b);
    if let Ok(m) = a {
        m.memory.iter().chain(&m.reserved).for_each(region_ok);
        m.virtio_mmio.iter().for_each(|v| region_ok(&v.mmio));
        for h in &m.pci {
            region_ok(&h.ecam);
            assert!(h.bus_start <= h.bus_end);
            h.ranges.iter().for_each(|r| region_ok(&r.cpu));
        }
        if let Some(u) = m.stdout {
            region_ok(&u.mmio);
        }
        if let Some(r) = m.rtc_pl031 {
            region_ok(&r);
        }
        if let Some(g) = m.gic {
            region_ok(&g.distributor);
            g.second.iter().for_each(region_ok);
        }
    }
    let chosen = Chosen {
        bootargs: Some("console=ttyAMA0"),
        initrd: Some((0x4800_0000, 0x4900_0000)),
        memreserve: &[],
    };
    if let Ok(out) = with_chosen(&fdt, &chosen, 1 << 20) {
        let edited = Fdt::new(&out).expect("an edited blob parses");
        let c = edited.find_node("/chosen");
        let args = c.and_then(|c| c.property("bootargs")).and_then(|p| p.as_str());
        assert_eq!(args, chosen.bootargs);
        let n = edited.nodes().count();
        assert!(n == nodes || n == nodes + 1, "{n} nodes after the edit, {nodes} before");
        if fdt.reservations().all(|(_, size)| size != 0) {
            let again = describe(&edited).map(|m| vmfw_fdt::Machine { bootargs: None, ..m });
            let before = describe(&fdt).map(|m| vmfw_fdt::Machine { bootargs: None, ..m });
            assert_eq!(again, before);
        }
    }
    let rsv = [(0x4000_0000, 0x20_0000), (0x7000_0000, 0), (0x1_0000_0000, 0x1000)];
    let chosen = Chosen { memreserve: &rsv, ..chosen };
    if let Ok(out) = with_chosen(&fdt, &chosen, 1 << 20) {
        let edited = Fdt::new(&out).expect("an edited blob parses");
        let want: Vec<(u64, u64)> =
            fdt.reservations().chain(rsv).filter(|&(_, size)| size != 0).collect();
        assert_eq!(edited.reservations().collect::<Vec<_>>(), want);
    }
});
