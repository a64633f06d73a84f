//! Trees laid out as QEMU's `virt` and Cloud Hypervisor's aarch64 machine
//! describe them, a real QEMU 7.2 `virt` blob, and the corner cases of
//! the lookup rules.

use vmfw_fdt::testing::Builder;
use vmfw_fdt::*;

/// The QEMU `virt` layout (hw/arm/virt.c's memory map), GICv2, PCIe and
/// 32 virtio-mmio transports.
fn qemu_virt_like() -> Vec<u8> {
    let mut b = Builder::new();
    b.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .cells("interrupt-parent", &[0x8001])
        .string("compatible", "linux,dummy-virt");
    b.begin("psci")
        .strings_list("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .string("method", "hvc")
        .end();
    b.begin("memory@40000000")
        .cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000])
        .string("device_type", "memory")
        .end();
    for i in 0..32u32 {
        let base = 0x0a00_0000 + 0x200 * i;
        b.begin(&format!("virtio_mmio@{base:x}"))
            .prop("dma-coherent", &[])
            .cells("interrupts", &[0, 16 + i, 1])
            .cells("reg", &[0, base, 0, 0x200])
            .string("compatible", "virtio,mmio")
            .end();
    }
    b.begin("pcie@10000000")
        .cells("bus-range", &[0, 0xff])
        .cells("#address-cells", &[3])
        .cells("#size-cells", &[2])
        .cells(
            "ranges",
            &[
                0x0100_0000,
                0,
                0,
                0,
                0x3eff_0000,
                0,
                0x1_0000, //
                0x0200_0000,
                0,
                0x1000_0000,
                0,
                0x1000_0000,
                0,
                0x2eff_0000, //
                0x4300_0000,
                0x80,
                0,
                0x80,
                0,
                0x80,
                0,
            ],
        )
        .cells("reg", &[0x40, 0x1000_0000, 0, 0x1000_0000])
        .string("device_type", "pci")
        .string("compatible", "pci-host-ecam-generic")
        .end();
    b.begin("pl031@9010000")
        .cells("reg", &[0, 0x0901_0000, 0, 0x1000])
        .strings_list("compatible", &["arm,pl031", "arm,primecell"])
        .end();
    b.begin("pl011@9000000")
        .cells("reg", &[0, 0x0900_0000, 0, 0x1000])
        .strings_list("compatible", &["arm,pl011", "arm,primecell"])
        .end();
    b.begin("intc@8000000")
        .cells("phandle", &[0x8001])
        .cells("reg", &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000])
        .string("compatible", "arm,cortex-a15-gic")
        .prop("interrupt-controller", &[])
        .cells("#interrupt-cells", &[3])
        .end();
    b.begin("chosen")
        .string("bootargs", "console=ttyAMA0 root=/dev/vda2")
        .string("stdout-path", "/pl011@9000000")
        .end();
    b.end();
    b.finish()
}

#[test]
fn qemu_virt_like_tree() {
    let blob = qemu_virt_like();
    let fdt = Fdt::new(&blob).unwrap();
    let m = describe(&fdt).unwrap();
    assert_eq!(m.memory, [Region::new(0x4000_0000, 0x4000_0000).unwrap()]);
    assert!(m.reserved.is_empty());
    assert_eq!(m.bootargs, Some("console=ttyAMA0 root=/dev/vda2"));
    assert_eq!(
        m.stdout,
        Some(Uart { mmio: Region::new(0x0900_0000, 0x1000).unwrap(), kind: UartKind::Pl011 })
    );
    assert_eq!(m.rtc_pl031, Some(Region::new(0x0901_0000, 0x1000).unwrap()));
    assert_eq!(m.psci, Some(PsciMethod::Hvc));
    assert_eq!(m.virtio_mmio.len(), 32);
    for (i, v) in m.virtio_mmio.iter().enumerate() {
        assert_eq!(v.mmio.base, 0x0a00_0000 + 0x200 * i as u64);
        assert_eq!(v.mmio.size, 0x200);
        assert_eq!(v.spi, Some(16 + i as u32));
    }
    let gic = m.gic.unwrap();
    assert_eq!(gic.version, GicVersion::V2);
    assert_eq!(gic.distributor, Region::new(0x0800_0000, 0x1_0000).unwrap());
    assert_eq!(gic.second, Some(Region::new(0x0801_0000, 0x1_0000).unwrap()));
    assert_eq!(m.pci.len(), 1);
    let pci = &m.pci[0];
    assert_eq!(pci.ecam, Region::new(0x40_1000_0000, 0x1000_0000).unwrap());
    assert_eq!((pci.bus_start, pci.bus_end), (0, 255));
    assert_eq!(pci.segment, None);
    assert_eq!(
        pci.ranges,
        [
            PciRange {
                space: PciSpace::Io,
                prefetchable: false,
                pci_addr: 0,
                cpu: Region::new(0x3eff_0000, 0x1_0000).unwrap(),
            },
            PciRange {
                space: PciSpace::Mem32,
                prefetchable: false,
                pci_addr: 0x1000_0000,
                cpu: Region::new(0x1000_0000, 0x2eff_0000).unwrap(),
            },
            PciRange {
                space: PciSpace::Mem64,
                prefetchable: true,
                pci_addr: 0x80_0000_0000,
                cpu: Region::new(0x80_0000_0000, 0x80_0000_0000).unwrap(),
            },
        ]
    );
    // The same blob twice gives the same answer.
    assert_eq!(describe(&fdt).unwrap(), m);
}

/// Cloud Hypervisor's aarch64 layout (approximately: its arch/src/aarch64
/// layout puts RAM at 1 GiB, the UART at 0x0900_0000, the RTC at
/// 0x0901_0000, the ECAM window at 0x3000_0000), a 16550 console found
/// through an alias, GICv3, PSCI over SMC and a reserved-memory node.
fn cloud_hypervisor_like() -> Vec<u8> {
    let mut b = Builder::new();
    b.reserve(0x4000_0000, 0x1000);
    b.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
    b.begin("aliases").string("serial0", "/soc/uart@9000000").end();
    b.begin("chosen")
        .string("stdout-path", "serial0:115200n8")
        .string("bootargs", "console=ttyS0")
        .end();
    b.begin("memory")
        .string("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x2000_0000, 1, 0, 0, 0x1000_0000])
        .end();
    b.begin("reserved-memory")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .prop("ranges", &[]);
    b.begin("fw@5fff0000").cells("reg", &[0, 0x5fff_0000, 0, 0x1_0000]).end();
    b.begin("no-reg").end();
    b.end();
    b.begin("intc")
        .string("compatible", "arm,gic-v3")
        .cells("#interrupt-cells", &[3])
        .cells("reg", &[0, 0x08ff_0000, 0, 0x1_0000, 0, 0x08fb_0000, 0, 0x4_0000])
        .end();
    b.begin("psci").string("compatible", "arm,psci-0.2").string("method", "smc").end();
    // Children of /soc use 1+1 cells, inherited from /soc, not the root.
    b.begin("soc").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
    b.begin("uart@9000000")
        .string("compatible", "ns16550a")
        .cells("reg", &[0x0900_0000, 0x1000])
        .end();
    b.begin("rtc@9010000")
        .strings_list("compatible", &["arm,pl031", "arm,primecell"])
        .cells("reg", &[0x0901_0000, 0x1000])
        .end();
    b.end();
    b.begin("pci")
        .string("compatible", "pci-host-ecam-generic")
        .cells("#address-cells", &[3])
        .cells("#size-cells", &[2])
        .cells("reg", &[0, 0x3000_0000, 0, 0x1000_0000])
        .cells("bus-range", &[0, 0])
        .cells("linux,pci-domain", &[0])
        .cells(
            "ranges",
            &[
                0x0200_0000,
                0,
                0x1000_0000,
                0,
                0x1000_0000,
                0,
                0x2000_0000, //
                0x0300_0000,
                0x2,
                0,
                0x2,
                0,
                0x1,
                0,
            ],
        )
        .end();
    b.end();
    b.finish()
}

#[test]
fn cloud_hypervisor_like_tree() {
    let blob = cloud_hypervisor_like();
    let fdt = Fdt::new(&blob).unwrap();
    let m = describe(&fdt).unwrap();
    assert_eq!(
        m.memory,
        [
            Region::new(0x4000_0000, 0x2000_0000).unwrap(),
            Region::new(0x1_0000_0000, 0x1000_0000).unwrap()
        ]
    );
    assert_eq!(
        m.reserved,
        [Region::new(0x4000_0000, 0x1000).unwrap(), Region::new(0x5fff_0000, 0x1_0000).unwrap()]
    );
    assert_eq!(m.bootargs, Some("console=ttyS0"));
    assert_eq!(
        m.stdout,
        Some(Uart { mmio: Region::new(0x0900_0000, 0x1000).unwrap(), kind: UartKind::Ns16550a })
    );
    assert_eq!(m.rtc_pl031, Some(Region::new(0x0901_0000, 0x1000).unwrap()));
    assert_eq!(m.psci, Some(PsciMethod::Smc));
    let gic = m.gic.unwrap();
    assert_eq!(gic.version, GicVersion::V3);
    assert_eq!(gic.second, Some(Region::new(0x08fb_0000, 0x4_0000).unwrap()));
    assert!(m.virtio_mmio.is_empty());
    let pci = &m.pci[0];
    assert_eq!(pci.ecam, Region::new(0x3000_0000, 0x1000_0000).unwrap());
    assert_eq!((pci.bus_start, pci.bus_end, pci.segment), (0, 0, Some(0)));
    assert_eq!(pci.ranges.len(), 2);
    assert_eq!(pci.ranges[1].space, PciSpace::Mem64);
    assert!(!pci.ranges[1].prefetchable);
    assert_eq!(pci.ranges[1].cpu, Region::new(0x2_0000_0000, 0x1_0000_0000).unwrap());
    assert_eq!(fdt.reservations().collect::<Vec<_>>(), [(0x4000_0000, 0x1000)]);
}

#[test]
fn lookups() {
    let blob = cloud_hypervisor_like();
    let fdt = Fdt::new(&blob).unwrap();
    let root = fdt.root();
    assert_eq!(root.name(), "");
    assert_eq!(root.cells(), Cells { address: 2, size: 2 });
    // With and without the unit address; by alias; by alias plus path.
    let uart = fdt.find_node("/soc/uart@9000000").unwrap();
    assert_eq!(fdt.find_node("/soc/uart").unwrap().name(), uart.name());
    assert_eq!(fdt.find_node("serial0").unwrap().name(), "uart@9000000");
    assert_eq!(uart.base_name(), "uart");
    assert!(uart.name_matches("uart") && uart.name_matches("uart@9000000"));
    assert!(!uart.name_matches("uart@1"));
    assert!(fdt.find_node("/soc/uart@1").is_none());
    assert!(fdt.find_node("/nope").is_none());
    assert!(fdt.find_node("nope").is_none());
    assert_eq!(fdt.find_node("/").unwrap().name(), "");
    // Inherited cells: /soc's 1+1, not the root's 2+2.
    assert_eq!(uart.parent_cells(), Cells { address: 1, size: 1 });
    assert_eq!(uart.reg().unwrap().collect::<Vec<_>>(), [(0x0900_0000, 0x1000)]);
    assert_eq!(fdt.nodes().count(), 13);
    let names: Vec<_> = root.children().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["aliases", "chosen", "memory", "reserved-memory", "intc", "psci", "soc", "pci"]
    );
    let props: Vec<_> = root.properties().map(|p| p.name).collect();
    assert_eq!(props, ["#address-cells", "#size-cells"]);
    assert!(fdt.find_node("/psci").unwrap().is_compatible("arm,psci-0.2"));
    assert_eq!(fdt.compatible_nodes("arm,pl031").count(), 1);
    assert_eq!(fdt.stdout().unwrap().name(), "uart@9000000");
}

#[test]
fn phandles_and_properties() {
    let blob = qemu_virt_like();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(fdt.node_by_phandle(0x8001).unwrap().name(), "intc@8000000");
    assert!(fdt.node_by_phandle(0).is_none());
    assert!(fdt.node_by_phandle(7).is_none());
    let psci = fdt.find_node("/psci").unwrap();
    let compat: Vec<_> = psci.property("compatible").unwrap().as_str_list().collect();
    assert_eq!(compat, ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]);
    assert_eq!(psci.property("compatible").unwrap().as_str(), None);
    assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
    let pcie = fdt.find_node("/pcie").unwrap();
    assert_eq!(pcie.property("#size-cells").unwrap().as_u32(), Some(2));
    assert_eq!(pcie.property("#size-cells").unwrap().as_u64(), Some(2));
    assert_eq!(pcie.property("bus-range").unwrap().as_u64(), Some(0xff));
    assert_eq!(pcie.property("reg").unwrap().as_u64(), None);
    // A PCI bridge's own reg uses the root's 2+2; its cells are 3+2.
    assert_eq!(pcie.cells(), Cells { address: 3, size: 2 });
}

#[test]
fn too_many_cells_and_bad_lengths() {
    let mut b = Builder::new();
    b.begin("").cells("#address-cells", &[3]).cells("#size-cells", &[1]);
    b.begin("dev").cells("reg", &[0, 0, 1, 2]).end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let dev = fdt.find_node("/dev").unwrap();
    assert_eq!(dev.reg().unwrap_err(), Error::UnsupportedCells { address_cells: 3, size_cells: 1 });

    let mut b = Builder::new();
    b.begin("");
    b.begin("memory@0").string("device_type", "memory").cells("reg", &[0, 0, 0x1000]);
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    // Default cells are 2+1: three cells make one entry.
    assert_eq!(describe(&fdt).unwrap().memory, [Region::new(0, 0x1000).unwrap()]);

    let mut b = Builder::new();
    b.begin("");
    b.begin("memory@0").string("device_type", "memory").cells("reg", &[0, 0, 0x1000, 5]);
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(describe(&fdt).unwrap_err(), Error::BadLength { property: "reg", len: 16 });

    // A region that wraps.
    let mut b = Builder::new();
    b.begin("");
    b.begin("memory@0")
        .string("device_type", "memory")
        .cells("reg", &[0xffff_ffff, 0xffff_f000, 0x2000]);
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert!(matches!(describe(&fdt), Err(Error::RegionOverflow { .. })));
}

#[test]
fn limits() {
    let mut b = Builder::new();
    b.begin("");
    for i in 0..=MAX_VIRTIO_MMIO as u32 {
        b.begin(&format!("virtio@{i:x}"))
            .string("compatible", "virtio,mmio")
            .cells("reg", &[0, i * 0x200, 0x200])
            .end();
    }
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        describe(&fdt).unwrap_err(),
        Error::TooMany { what: "virtio-mmio nodes", limit: MAX_VIRTIO_MMIO }
    );

    // Nesting: MAX_DEPTH is fine, one more is not.
    for (depth, ok) in [(MAX_DEPTH, true), (MAX_DEPTH + 1, false)] {
        let mut b = Builder::new();
        for _ in 0..depth {
            b.begin("n");
        }
        for _ in 0..depth {
            b.end();
        }
        let blob = b.finish();
        let r = Fdt::new(&blob);
        assert_eq!(r.is_ok(), ok, "{depth}: {r:?}");
        if let Ok(fdt) = r {
            assert_eq!(fdt.nodes().count(), depth);
            let m = describe(&fdt).unwrap();
            assert!(m.memory.is_empty());
        }
    }
}

#[test]
fn structural_errors() {
    // A property after a child node.
    let mut b = Builder::new();
    b.begin("");
    b.begin("a").end();
    b.cells("late", &[1]);
    b.end();
    assert!(matches!(Fdt::new(&b.finish()), Err(Error::BadToken { token: 3, .. })));
    // Two roots.
    let mut b = Builder::new();
    b.begin("").end().begin("").end();
    assert_eq!(Fdt::new(&b.finish()).unwrap_err(), Error::NoRoot);
    // No root.
    let b = Builder::new();
    assert_eq!(Fdt::new(&b.finish()).unwrap_err(), Error::NoRoot);
    // Unbalanced.
    let mut b = Builder::new();
    b.begin("");
    assert_eq!(Fdt::new(&b.finish()).unwrap_err(), Error::NoRoot);
    let mut b = Builder::new();
    b.begin("").end().end();
    assert!(matches!(Fdt::new(&b.finish()), Err(Error::BadToken { token: 2, .. })));
    // A slash in a node name.
    let mut b = Builder::new();
    b.begin("");
    b.begin("a/b").end();
    b.end();
    assert!(matches!(Fdt::new(&b.finish()), Err(Error::BadName { .. })));
    // NOPs are fine anywhere.
    let mut b = Builder::new();
    b.nop().begin("").nop().cells("x", &[1]).nop();
    b.begin("c").nop().end().nop().end().nop();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(fdt.root().property("x").unwrap().as_u32(), Some(1));
    assert_eq!(fdt.root().children().count(), 1);
}

#[test]
fn header_errors() {
    let blob = qemu_virt_like();
    assert!(matches!(Fdt::new(&[]), Err(Error::Truncated { .. })));
    let mut bad = blob.clone();
    bad[0] = 0;
    assert_eq!(Fdt::new(&bad).unwrap_err(), Error::BadMagic(0x000d_feed));
    let mut bad = blob.clone();
    bad[23] = 15;
    assert!(matches!(Fdt::new(&bad), Err(Error::BadVersion { version: 15, .. })));
    let mut bad = blob.clone();
    bad[27] = 18;
    assert!(matches!(Fdt::new(&bad), Err(Error::BadVersion { .. })));
    assert!(matches!(Fdt::new(&blob[..blob.len() - 1]), Err(Error::Truncated { .. })));
    // Strings block past totalsize.
    let mut bad = blob.clone();
    bad[32..36].copy_from_slice(&0x10_0000u32.to_be_bytes());
    assert!(matches!(Fdt::new(&bad), Err(Error::BlockOutOfRange { block: Block::Strings, .. })));
    // Extra bytes after totalsize are ignored.
    let mut longer = blob.clone();
    longer.extend_from_slice(&[0xff; 64]);
    assert_eq!(Fdt::new(&longer).unwrap().as_bytes().len(), blob.len());
}

/// Flipping bytes and truncating a valid blob: never a panic, always a
/// quick `Ok` or named `Err`, and `describe` is deterministic.
#[test]
fn mutations() {
    fn check(blob: &[u8]) {
        if let Ok(fdt) = Fdt::new(blob) {
            for node in fdt.nodes() {
                let _ = node.name();
                for p in node.properties() {
                    let _ = (p.as_u32(), p.as_u64(), p.as_str(), p.as_str_list().count());
                }
                if let Ok(reg) = node.reg() {
                    let _ = reg.count();
                }
                let _ = node.children().count();
            }
            let a = describe(&fdt);
            assert_eq!(a, describe(&fdt));
            let _ = fdt.stdout();
        }
    }
    for blob in [cloud_hypervisor_like(), qemu_virt_like()] {
        let start = std::time::Instant::now();
        for i in 0..blob.len() {
            for v in [0x00, 0x03, 0xff] {
                let mut m = blob.clone();
                m[i] = v;
                check(&m);
            }
            let mut m = blob.clone();
            m[i] ^= 0x80;
            check(&m);
        }
        for len in (0..blob.len()).rev() {
            check(&blob[..len]);
        }
        // Generous (debug build, shared machine): each check is linear.
        assert!(start.elapsed().as_secs() < 120);
    }
}

#[test]
fn version_16_header() {
    // A v16 header has no size_dt_struct; the structure block runs to the
    // end of the blob and FDT_END marks where it stops.
    let mut b = Builder::new();
    b.begin("").cells("x", &[7]).end();
    let mut blob = b.finish();
    blob[23] = 16;
    blob[36..40].copy_from_slice(&[0xff; 4]);
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(fdt.root().property("x").unwrap().as_u32(), Some(7));
}

/// `qemu-system-aarch64 -M virt,gic-version=3,dumpdtb=... -cpu cortex-a57
/// -m 1G` with a `virtio-blk-pci` device, QEMU 7.2 (Debian 12), its
/// `totalsize` cut from 1 MiB to the blocks' end.
#[test]
fn qemu_virt_dtb() {
    let blob = include_bytes!("data/qemu-virt-gicv3-pci.dtb");
    let fdt = Fdt::new(blob).unwrap();
    let m = describe(&fdt).unwrap();
    assert_eq!(m.memory, [Region::new(0x4000_0000, 0x4000_0000).unwrap()]);
    assert_eq!(
        m.stdout,
        Some(Uart { mmio: Region::new(0x0900_0000, 0x1000).unwrap(), kind: UartKind::Pl011 })
    );
    assert_eq!(m.rtc_pl031, Some(Region::new(0x0901_0000, 0x1000).unwrap()));
    assert_eq!(m.psci, Some(PsciMethod::Hvc));
    assert_eq!(m.bootargs, None);
    assert_eq!(m.virtio_mmio.len(), 32);
    for (i, v) in m.virtio_mmio.iter().enumerate() {
        assert_eq!(v.mmio, Region::new(0x0a00_0000 + 0x200 * i as u64, 0x200).unwrap());
        assert_eq!(v.spi, Some(16 + i as u32));
    }
    let gic = m.gic.unwrap();
    assert_eq!(gic.version, GicVersion::V3);
    assert_eq!(gic.distributor, Region::new(0x0800_0000, 0x1_0000).unwrap());
    assert_eq!(gic.second, Some(Region::new(0x080a_0000, 0xf6_0000).unwrap()));
    assert_eq!(m.pci.len(), 1);
    let pci = &m.pci[0];
    assert_eq!(pci.ecam, Region::new(0x40_1000_0000, 0x1000_0000).unwrap());
    assert_eq!((pci.bus_start, pci.bus_end), (0, 255));
    let spaces: Vec<_> = pci.ranges.iter().map(|r| (r.space, r.cpu)).collect();
    assert_eq!(
        spaces,
        [
            (PciSpace::Io, Region::new(0x3eff_0000, 0x1_0000).unwrap()),
            (PciSpace::Mem32, Region::new(0x1000_0000, 0x2eff_0000).unwrap()),
            (PciSpace::Mem64, Region::new(0x80_0000_0000, 0x80_0000_0000).unwrap()),
        ]
    );
    assert_eq!(describe(&fdt).unwrap(), m);
}

/// Writes the built trees as fuzz seeds when `VMFW_FDT_SEED_DIR` is set
/// (`VMFW_FDT_SEED_DIR=$PWD/fuzz/seeds/fdt cargo test -p vmfw-fdt --test
/// describe write_fuzz_seeds`).
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("VMFW_FDT_SEED_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::write(dir.join("synthetic-qemu-virt"), qemu_virt_like()).unwrap();
    std::fs::write(dir.join("synthetic-cloud-hypervisor"), cloud_hypervisor_like()).unwrap();
}
