//! `with_chosen`: setting `/chosen` in a copy of a tree.

use vmfw_fdt::testing::Builder;
use vmfw_fdt::*;

const QEMU: &[u8] = include_bytes!("data/qemu-virt-gicv3-pci.dtb");

#[test]
fn adds_bootargs_and_initrd_to_qemu_blob() {
    let fdt = Fdt::new(QEMU).unwrap();
    let before = describe(&fdt).unwrap();
    let chosen = Chosen {
        bootargs: Some("console=ttyAMA0 root=/dev/vda2"),
        initrd: Some((0x4800_0000, 0x4812_3456)),
        memreserve: &[],
    };
    let blob = with_chosen(&fdt, &chosen, 64 * 1024).unwrap();
    let fdt2 = Fdt::new(&blob).unwrap();
    let after = describe(&fdt2).unwrap();
    assert_eq!(after.bootargs, chosen.bootargs);
    assert_eq!(Machine { bootargs: None, ..after }, before);
    let c = fdt2.find_node("/chosen").unwrap();
    assert_eq!(c.property("linux,initrd-start").unwrap().as_u64(), Some(0x4800_0000));
    assert_eq!(c.property("linux,initrd-end").unwrap().as_u64(), Some(0x4812_3456));
    // stdout-path and the rest survive; the node count is unchanged.
    assert!(c.property("stdout-path").is_some());
    assert_eq!(fdt2.nodes().count(), fdt.nodes().count());
    assert_eq!(fdt2.reservations().count(), fdt.reservations().count());
    assert_eq!(fdt2.boot_cpuid_phys(), fdt.boot_cpuid_phys());
}

#[test]
fn replaces_and_creates() {
    // An existing /chosen with old bootargs and a child node.
    let mut b = Builder::new();
    b.reserve(0x1000, 0x2000);
    b.begin("");
    b.begin("chosen")
        .string("bootargs", "a very long old command line")
        .string("stdout-path", "/uart");
    b.begin("sub").end();
    b.end();
    b.begin("uart").end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let out = with_chosen(
        &fdt,
        &Chosen { bootargs: Some("new"), initrd: None, memreserve: &[] },
        blob.len() + 64,
    )
    .unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    let chosen = fdt2.find_node("/chosen").unwrap();
    let names: Vec<_> = chosen.properties().map(|p| p.name).collect();
    assert_eq!(names, ["stdout-path", "bootargs"]);
    assert_eq!(chosen.property("bootargs").unwrap().as_str(), Some("new"));
    assert_eq!(chosen.children().count(), 1);
    assert_eq!(fdt2.reservations().collect::<Vec<_>>(), [(0x1000, 0x2000)]);

    // No /chosen at all: one is added at the end of the root.
    let mut b = Builder::new();
    b.begin("").cells("#address-cells", &[1]);
    b.begin("a").end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let out =
        with_chosen(&fdt, &Chosen { bootargs: None, initrd: Some((1, 2)), memreserve: &[] }, 4096)
            .unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    let names: Vec<_> = fdt2.root().children().map(|c| c.name()).collect();
    assert_eq!(names, ["a", "chosen"]);
    let c = fdt2.find_node("/chosen").unwrap();
    assert_eq!(c.property("linux,initrd-end").unwrap().as_u64(), Some(2));
    assert_eq!(describe(&fdt2).unwrap().bootargs, None);
}

#[test]
fn capacity_is_enforced() {
    let fdt = Fdt::new(QEMU).unwrap();
    let chosen = Chosen { bootargs: Some("x"), initrd: None, memreserve: &[] };
    let needed = with_chosen(&fdt, &chosen, usize::MAX).unwrap().len();
    assert!(with_chosen(&fdt, &chosen, needed).is_ok());
    assert_eq!(
        with_chosen(&fdt, &chosen, needed - 1).unwrap_err(),
        Error::NoSpace { needed, capacity: needed - 1 }
    );
}

/// Editing any blob that parses gives a blob that parses, with the
/// requested bootargs.
#[test]
fn edits_of_mutated_blobs_parse() {
    let chosen =
        Chosen { bootargs: Some("quiet"), initrd: Some((0x1000, 0x2000)), memreserve: &[] };
    let mut ok = 0;
    for i in (0..QEMU.len()).step_by(3) {
        for v in [0x00, 0x02, 0xff] {
            let mut m = QEMU.to_vec();
            m[i] = v;
            let Ok(fdt) = Fdt::new(&m) else { continue };
            let Ok(out) = with_chosen(&fdt, &chosen, 1 << 20) else {
                continue;
            };
            let fdt2 = Fdt::new(&out).unwrap();
            let c = fdt2.find_node("/chosen").unwrap();
            assert_eq!(c.property("bootargs").unwrap().as_str(), Some("quiet"));
            ok += 1;
        }
    }
    assert!(ok > 1000);
}

/// A `chosen@0` is the node lookups find, so it is the one edited.
#[test]
fn edits_the_node_lookups_find() {
    let mut b = Builder::new();
    b.begin("");
    b.begin("chosen@0").string("bootargs", "old").end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let chosen = Chosen { bootargs: Some("new"), initrd: None, memreserve: &[] };
    let out = with_chosen(&fdt, &chosen, 4096).unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    assert_eq!(fdt2.nodes().count(), 2);
    assert_eq!(describe(&fdt2).unwrap().bootargs, Some("new"));
}

/// Reservations are added after the blob's own, which stay.
#[test]
fn adds_memory_reservations() {
    let mut b = Builder::new();
    b.reserve(0x1000, 0x2000);
    b.begin("");
    b.begin("chosen").string("stdout-path", "/uart").end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let rsv = [(0x4000_0000, 0x20_0000), (0x7fff_0000, 0), (0x5000_0000, 0x1000)];
    let chosen = Chosen {
        bootargs: Some("quiet"),
        initrd: Some((0x4800_0000, 0x4810_0000)),
        memreserve: &rsv,
    };
    let out = with_chosen(&fdt, &chosen, 4096).unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    // The empty range is left out: a zero size ends the block for libfdt.
    assert_eq!(
        fdt2.reservations().collect::<Vec<_>>(),
        [(0x1000, 0x2000), (0x4000_0000, 0x20_0000), (0x5000_0000, 0x1000)]
    );
    let c = fdt2.find_node("/chosen").unwrap();
    assert_eq!(c.property("bootargs").unwrap().as_str(), Some("quiet"));
    assert_eq!(c.property("linux,initrd-start").unwrap().as_u64(), Some(0x4800_0000));
    assert_eq!(c.property("stdout-path").unwrap().as_str(), Some("/uart"));

    // The QEMU blob: its reservations (none) plus ours; the rest the same.
    let fdt = Fdt::new(QEMU).unwrap();
    let chosen = Chosen { memreserve: &rsv[..1], ..Default::default() };
    let out = with_chosen(&fdt, &chosen, 1 << 20).unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    let mut want: Vec<_> = fdt.reservations().collect();
    want.push(rsv[0]);
    assert_eq!(fdt2.reservations().collect::<Vec<_>>(), want);
    // describe() lists the new reservation; nothing else changes.
    let (before, after) = (describe(&fdt).unwrap(), describe(&fdt2).unwrap());
    assert!(before.reserved.is_empty());
    assert_eq!(after.reserved.len(), 1);
    assert_eq!((after.reserved[0].base, after.reserved[0].size), rsv[0]);
    assert_eq!(Machine { reserved: Vec::new(), ..after }, before);
}

#[test]
fn bad_reservations_are_refused() {
    let mut b = Builder::new();
    b.begin("").end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let wraps = [(u64::MAX, 2)];
    assert_eq!(
        with_chosen(&fdt, &Chosen { memreserve: &wraps, ..Default::default() }, 4096),
        Err(Error::RegionOverflow { base: u64::MAX, size: 2 })
    );
    // Up to the most a blob may hold, and no more.
    let many: Vec<(u64, u64)> = (0..MAX_RESERVATIONS as u64).map(|i| (i << 12, 0x1000)).collect();
    let out =
        with_chosen(&fdt, &Chosen { memreserve: &many, ..Default::default() }, 1 << 20).unwrap();
    assert_eq!(Fdt::new(&out).unwrap().reservations().count(), MAX_RESERVATIONS);
    let mut too_many = many.clone();
    too_many.push((1 << 40, 1));
    assert!(matches!(
        with_chosen(&fdt, &Chosen { memreserve: &too_many, ..Default::default() }, 1 << 20),
        Err(Error::TooMany { .. })
    ));
    // The capacity counts the new entries.
    let one = [(0x1000, 0x1000)];
    let chosen = Chosen { memreserve: &one, ..Default::default() };
    let needed = with_chosen(&fdt, &chosen, usize::MAX).unwrap().len();
    assert_eq!(with_chosen(&fdt, &Chosen::default(), usize::MAX).unwrap().len() + 16, needed);
    assert_eq!(
        with_chosen(&fdt, &chosen, needed - 1),
        Err(Error::NoSpace { needed, capacity: needed - 1 })
    );
}

/// A blob whose own block has an entry of size 0 (our reader goes on past
/// it, libfdt and Linux stop there): it is dropped, so the entries after
/// it and ours stay visible to the kernel.
#[test]
fn zero_sized_blob_reservations_are_dropped() {
    let mut b = Builder::new();
    b.reserve(0x8000, 0);
    b.reserve(0x1000, 0x1000);
    b.begin("").end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(fdt.reservations().count(), 2);
    let rsv = [(0x2000, 0x1000)];
    let out = with_chosen(&fdt, &Chosen { memreserve: &rsv, ..Default::default() }, 4096).unwrap();
    let fdt2 = Fdt::new(&out).unwrap();
    assert_eq!(fdt2.reservations().collect::<Vec<_>>(), [(0x1000, 0x1000), (0x2000, 0x1000)]);
}
