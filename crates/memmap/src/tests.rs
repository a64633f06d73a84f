use super::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn q35_5g() -> MemoryMap {
    testing::q35(3 * GIB)
}

fn check_invariants(m: &MemoryMap) {
    let r = m.regions();
    for w in r.windows(2) {
        assert!(w[0].end <= w[1].start, "overlap or unsorted: {:?}", w);
        assert!(!(w[0].end == w[1].start && w[0].ty == w[1].ty), "unmerged: {:?}", w);
    }
    for x in r {
        assert!(x.start < x.end);
        assert_eq!(x.start % PAGE_SIZE, 0);
        assert_eq!(x.end % PAGE_SIZE, 0);
    }
}

#[test]
fn builds_sorted_merged_map() {
    let m = q35_5g();
    check_invariants(&m);
    assert_eq!(m.regions()[0], Region { start: 0, end: 0x9f000, ty: MemoryType::Free });
    assert_eq!(m.regions()[1], Region { start: 0x9f000, end: 0xa0000, ty: MemoryType::Reserved });
    assert_eq!(m.ram_end(), 7 * GIB);
    assert_eq!(m.total(MemoryType::Free), 0x9f000 + 2 * GIB - MIB + 3 * GIB);
}

#[test]
fn reserved_wins_over_ram_regardless_of_order() {
    let mut a = MemoryMap::new();
    a.add(0, 16 * MIB, MemoryType::Free).unwrap();
    a.add(4 * MIB, MIB, MemoryType::Reserved).unwrap();
    let mut b = MemoryMap::new();
    b.add(4 * MIB, MIB, MemoryType::Reserved).unwrap();
    b.add(0, 16 * MIB, MemoryType::Free).unwrap();
    assert_eq!(a.regions(), b.regions());
    assert_eq!(a.type_at(4 * MIB + 5), Some(MemoryType::Reserved));
    check_invariants(&a);
}

#[test]
fn allocates_high_below_4g_by_default() {
    let mut m = q35_5g();
    let a = m.allocate(16, PAGE_SIZE, Placement::Anywhere, MemoryType::FirmwareData).unwrap();
    assert_eq!(a, 2 * GIB - 16 * PAGE_SIZE);
    let b = m.allocate(1, 2 * MIB, Placement::Anywhere, MemoryType::FirmwareData).unwrap();
    assert_eq!(b % (2 * MIB), 0);
    assert!(b < a);
    check_invariants(&m);
    let g = m.generation();
    m.free(a, 16).unwrap();
    assert_ne!(m.generation(), g);
    check_invariants(&m);
}

#[test]
fn placement_below_and_above() {
    let mut m = q35_5g();
    let lo = m.allocate(1, PAGE_SIZE, Placement::Below(0x9_ffff), MemoryType::LoaderData).unwrap();
    assert_eq!(lo, 0x9e000);
    let hi = m.allocate(1, PAGE_SIZE, Placement::Above(4 * GIB), MemoryType::LoaderData).unwrap();
    assert_eq!(hi, 4 * GIB);
    let kernel =
        m.allocate(256, 2 * MIB, Placement::Above(16 * MIB), MemoryType::LoaderData).unwrap();
    assert_eq!(kernel, 16 * MIB);
    assert_eq!(
        m.allocate(1, PAGE_SIZE, Placement::Below(PAGE_SIZE - 2), MemoryType::LoaderData),
        Err(Error::OutOfMemory)
    );
    check_invariants(&m);
}

#[test]
fn exact_allocation_and_errors() {
    let mut m = q35_5g();
    m.allocate_at(32 * MIB, 4, MemoryType::LoaderData).unwrap();
    assert_eq!(m.allocate_at(32 * MIB, 1, MemoryType::LoaderData), Err(Error::NotFree));
    assert_eq!(m.allocate_at(0xb000_0000, 1, MemoryType::LoaderData), Err(Error::NotFree));
    assert_eq!(m.allocate_at(2 * GIB - PAGE_SIZE, 2, MemoryType::LoaderData), Err(Error::NotFree));
    assert_eq!(m.allocate_at(123, 1, MemoryType::LoaderData), Err(Error::BadAlignment));
    assert_eq!(
        m.allocate(u64::MAX, PAGE_SIZE, Placement::Anywhere, MemoryType::LoaderData),
        Err(Error::BadRange)
    );
    assert_eq!(
        m.allocate(1, 3 * PAGE_SIZE, Placement::Anywhere, MemoryType::LoaderData),
        Err(Error::BadAlignment)
    );
    assert_eq!(m.free(0xb000_0000, 1), Err(Error::NotAllocated));
    assert_eq!(m.free(64 * MIB, 1), Err(Error::NotAllocated));
    assert_eq!(m.add(u64::MAX, 2, MemoryType::Free), Err(Error::BadRange));
    check_invariants(&m);
}

#[test]
fn reserve_widens_to_pages_and_overrides() {
    let mut m = q35_5g();
    m.reserve(MIB + 10, 100, MemoryType::FirmwareCode).unwrap();
    assert_eq!(m.type_at(MIB), Some(MemoryType::FirmwareCode));
    assert_eq!(m.type_at(MIB + PAGE_SIZE), Some(MemoryType::Free));
    check_invariants(&m);
}

#[test]
fn full_map_fails_cleanly() {
    let mut m = MemoryMap::new();
    m.add(0, 4 * GIB, MemoryType::Free).unwrap();
    let mut ok = 0;
    loop {
        // Every other page: each allocation adds entries until the map is full.
        match m.allocate_at((2 * ok + 1) * PAGE_SIZE, 1, MemoryType::FirmwareData) {
            Ok(()) => ok += 1,
            Err(e) => {
                assert_eq!(e, Error::MapFull);
                break;
            }
        }
    }
    assert!(ok > 100);
    check_invariants(&m);
}

#[test]
fn random_operations_keep_invariants() {
    // A small deterministic PRNG (xorshift) drives adds, allocations and frees.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut m = q35_5g();
    let mut live = [(0u64, 0u64); 64];
    for i in 0..4000 {
        let r = next();
        match r % 4 {
            0 => {
                let start = next() % (8 * GIB);
                let len = next() % (64 * MIB);
                let ty = MemoryType::from_e820((next() % 8) as u32);
                let _ = m.add(start, len, ty);
            }
            1 | 2 => {
                let pages = 1 + next() % 512;
                let align = PAGE_SIZE << (next() % 10);
                let placement = match next() % 3 {
                    0 => Placement::Anywhere,
                    1 => Placement::Below(next() % (8 * GIB)),
                    _ => Placement::Above(next() % (8 * GIB)),
                };
                if let Ok(a) = m.allocate(pages, align, placement, MemoryType::LoaderData) {
                    assert_eq!(a % align, 0);
                    live[i % 64] = (a, pages);
                }
            }
            _ => {
                let (a, p) = live[(next() % 64) as usize];
                if p > 0 {
                    let _ = m.free(a, p);
                }
            }
        }
        check_invariants(&m);
    }
}

#[test]
fn uefi_allocation_types_can_be_freed() {
    let mut m = q35_5g();
    for ty in [
        MemoryType::LoaderCode,
        MemoryType::BootServicesCode,
        MemoryType::BootServicesData,
        MemoryType::RuntimeServicesCode,
        MemoryType::RuntimeServicesData,
    ] {
        let a = m.allocate(2, PAGE_SIZE, Placement::Anywhere, ty).unwrap();
        assert_eq!(m.type_at(a), Some(ty));
        m.free(a, 2).unwrap();
        assert_eq!(m.type_at(a), Some(MemoryType::Free));
    }
    assert_eq!(MemoryType::RuntimeServicesData.e820_type(), 2);
    assert_eq!(MemoryType::BootServicesCode.e820_type(), 1);
    check_invariants(&m);
}
