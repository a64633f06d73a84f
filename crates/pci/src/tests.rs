use super::*;
use std::collections::BTreeMap;

/// A fake PCI bus: a map from function to 64 dwords of config space, with
/// BAR size masks applied on write like real hardware.
#[derive(Default)]
struct FakeBus {
    cfg: BTreeMap<Bdf, [u32; 64]>,
    bar_sizes: BTreeMap<(Bdf, u16), u64>,
    reads: usize,
}

fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf { segment: 0, bus, device, function }
}

impl FakeBus {
    fn add(&mut self, at: Bdf, vendor: u16, device: u16, class: u32, header: u32) {
        let mut c = [0u32; 64];
        c[0] = u32::from(vendor) | (u32::from(device) << 16);
        c[2] = class << 8;
        c[3] = header << 16;
        self.cfg.insert(at, c);
    }
    fn bar(&mut self, at: Bdf, index: u16, value: u32, size: u64) {
        self.cfg.get_mut(&at).unwrap()[4 + index as usize] = value;
        self.bar_sizes.insert((at, 0x10 + 4 * index), size);
    }
}

impl ConfigSpace for FakeBus {
    fn read(&mut self, bdf: Bdf, offset: u16) -> u32 {
        self.reads += 1;
        self.cfg.get(&bdf).map_or(0xffff_ffff, |c| c[usize::from(offset / 4)])
    }
    fn write(&mut self, bdf: Bdf, offset: u16, value: u32) {
        let sizes = &self.bar_sizes;
        let Some(c) = self.cfg.get_mut(&bdf) else { return };
        let is_device = (c[3] >> 16) & 0x7f == 0;
        let lower = offset.checked_sub(4).filter(|o| (0x10..0x28).contains(o));
        let upper_of_64 = lower
            .filter(|o| (c[usize::from(*o / 4)] >> 1) & 3 == 2)
            .and_then(|o| sizes.get(&(bdf, o)).copied());
        let slot = &mut c[usize::from(offset / 4)];
        if let Some(size) = sizes.get(&(bdf, offset)) {
            // BAR registers keep their low type bits and honour the size mask.
            let flags = *slot & 0xf;
            *slot = (value & !((*size as u32).wrapping_sub(1)) & !0xf) | flags;
        } else if let Some(size) = upper_of_64 {
            *slot = value & !((size.wrapping_sub(1) >> 32) as u32);
        } else if is_device && (0x10..0x28).contains(&offset) {
            // Unimplemented BARs are hardwired to zero.
            *slot = 0;
        } else {
            *slot = value;
        }
    }
}

#[test]
fn enumerates_in_order_behind_bridges() {
    let mut bus = FakeBus::default();
    bus.add(bdf(0, 0, 0), 0x8086, 0x29c0, 0x060000, 0);
    bus.add(bdf(0, 3, 0), 0x1af4, 0x1042, 0x010000, 0);
    // Multi-function bridge device at 0:1c with an unassigned bridge on .0
    // and a device on .1.
    bus.add(bdf(0, 0x1c, 0), 0x1b36, 0x000c, 0x060400, 0x81);
    bus.add(bdf(0, 0x1c, 1), 0x1af4, 0x1001, 0x010000, 0);
    // The firmware assigns bus 1 to the bridge; a device sits there.
    bus.add(bdf(1, 0, 0), 0x1af4, 0x1042, 0x010000, 0);
    let found = enumerate(&mut bus, 0);
    let bdfs: Vec<Bdf> = found.iter().map(|f| f.bdf).collect();
    assert_eq!(bdfs, [bdf(0, 0, 0), bdf(0, 3, 0), bdf(0, 0x1c, 0), bdf(0, 0x1c, 1), bdf(1, 0, 0)]);
    assert_eq!(found[1].class, 0x010000);
    assert_eq!((bus.cfg[&bdf(0, 0x1c, 0)][6] >> 8) & 0xff, 1);
}

#[test]
fn bridge_loops_terminate() {
    let mut bus = FakeBus::default();
    // A bridge on bus 0 claiming secondary bus 0 would be "unassigned"; one
    // that points at bus 1, whose bridge points back at bus 1 and bus 0.
    bus.add(bdf(0, 1, 0), 0x1b36, 0x000c, 0x060400, 1);
    bus.cfg.get_mut(&bdf(0, 1, 0)).unwrap()[6] = 0x00ff_0100;
    bus.add(bdf(1, 0, 0), 0x1b36, 0x000c, 0x060400, 1);
    bus.cfg.get_mut(&bdf(1, 0, 0)).unwrap()[6] = 0x00ff_0101;
    bus.add(bdf(1, 1, 0), 0x1b36, 0x000c, 0x060400, 1);
    bus.cfg.get_mut(&bdf(1, 1, 0)).unwrap()[6] = 0x00ff_0001;
    let found = enumerate(&mut bus, 0);
    assert_eq!(found.len(), 3);
    assert!(bus.reads < 10_000);
}

#[test]
fn sizes_and_assigns_only_unassigned_bars() {
    let mut bus = FakeBus::default();
    let f = bdf(0, 3, 0);
    bus.add(f, 0x1af4, 0x1042, 0x010000, 0);
    bus.cfg.get_mut(&f).unwrap()[1] = 0x0006; // memory + bus master on
                                              // BAR0: I/O; BAR1: 32-bit assigned; BAR4/5: 64-bit unassigned 16 KiB.
    bus.bar(f, 0, 0x0000_c001, 0x40);
    bus.bar(f, 1, 0xfebd_1000, 0x1000);
    bus.bar(f, 4, 0x0000_000c, 0x4000);
    let mut w =
        BarWindows { low: (0xc000_0000, 0xfec0_0000), high: (0x80_0000_0000, 0x90_0000_0000) };
    let bars = memory_bars(&mut bus, f, &mut w).unwrap();
    assert_eq!(
        bars,
        [
            Bar { index: 1, address: 0xfebd_1000, size: 0x1000, is_64: false },
            Bar { index: 4, address: 0x80_0000_0000, size: 0x4000, is_64: true },
        ]
    );
    let c = bus.cfg[&f];
    assert_eq!(c[8] & !0xf, 0);
    assert_eq!(c[9], 0x80);
    assert_eq!(c[1], 0x0006, "command register restored");
    assert_eq!(w.high.0, 0x80_0000_4000);
}

#[test]
fn no_space_is_an_error_not_a_panic() {
    let mut bus = FakeBus::default();
    let f = bdf(0, 3, 0);
    bus.add(f, 0x1af4, 0x1042, 0x010000, 0);
    bus.bar(f, 0, 0, 0x10_0000);
    let mut w = BarWindows { low: (0xfff0_0000, 0xfff8_0000), high: (0, 0) };
    assert_eq!(memory_bars(&mut bus, f, &mut w), Err(Error::NoSpace { index: 0, size: 0x10_0000 }));
    let mut w = BarWindows { low: (u64::MAX - 10, u64::MAX), high: (0, 0) };
    assert!(memory_bars(&mut bus, f, &mut w).is_err());
}

#[test]
fn empty_bus_reads_little() {
    let mut bus = FakeBus::default();
    assert!(enumerate(&mut bus, 0).is_empty());
    assert_eq!(bus.reads, 32);
}
