use super::*;
use alloc::vec;

/// A page source over a Vec of page slots: the "memory" starts at BASE.
struct FakePages {
    used: Vec<Option<EfiMemoryType>>,
}

const BASE: u64 = 0x10_0000;

impl FakePages {
    fn new(pages: usize) -> Self {
        Self { used: vec![None; pages] }
    }
    fn used(&self) -> usize {
        self.used.iter().filter(|u| u.is_some()).count()
    }
}

impl PageSource for FakePages {
    fn allocate_pages(&mut self, ty: EfiMemoryType, pages: u64) -> Result<u64> {
        let n = pages as usize;
        let start = (0..=self.used.len().saturating_sub(n))
            .find(|&i| self.used.get(i..i + n).is_some_and(|s| s.iter().all(Option::is_none)))
            .ok_or(Error::OutOfResources)?;
        self.used[start..start + n].fill(Some(ty));
        Ok(BASE + start as u64 * PAGE_SIZE)
    }

    fn free_pages(&mut self, addr: u64, pages: u64) -> Result<()> {
        let i = ((addr - BASE) / PAGE_SIZE) as usize;
        let s = &mut self.used[i..i + pages as usize];
        assert!(s.iter().all(Option::is_some), "freeing pages that are not allocated");
        s.fill(None);
        Ok(())
    }
}

#[test]
fn allocations_are_aligned_distinct_and_typed() {
    let mut src = FakePages::new(64);
    let mut pool = Pool::new();
    let mut addrs = Vec::new();
    for size in [0u64, 1, 7, 8, 9, 100, 4095, 4096, 5000] {
        let a = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, size).unwrap();
        assert_eq!(a % POOL_ALIGN, 0);
        assert_eq!(pool.lookup(a), Some(Allocation { ty: EfiMemoryType::LOADER_DATA, size }));
        addrs.push((a, size.max(1)));
    }
    addrs.sort();
    for w in addrs.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {w:?}");
    }
    assert_eq!(src.used(), ARENA_PAGES as usize, "all fit in one arena");
    let b = pool.allocate(&mut src, EfiMemoryType::BOOT_SERVICES_DATA, 16).unwrap();
    assert_eq!(src.used(), 2 * ARENA_PAGES as usize, "a new type gets its own arena");
    assert_eq!(
        src.used[((b - BASE) / PAGE_SIZE) as usize],
        Some(EfiMemoryType::BOOT_SERVICES_DATA)
    );
}

#[test]
fn free_validates_and_returns_pages() {
    let mut src = FakePages::new(64);
    let mut pool = Pool::new();
    let a = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 24).unwrap();
    let b = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 24).unwrap();
    assert_eq!(pool.free(&mut src, a + 8), Err(Error::InvalidParameter));
    assert_eq!(pool.free(&mut src, 0), Err(Error::InvalidParameter));
    assert_eq!(pool.free(&mut src, a), Ok(()));
    assert_eq!(pool.free(&mut src, a), Err(Error::InvalidParameter), "double free");
    // The freed space is reused.
    let c = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 16).unwrap();
    assert_eq!(c, a);
    pool.free(&mut src, b).unwrap();
    pool.free(&mut src, c).unwrap();
    assert!(pool.is_empty());
    assert_eq!(src.used(), 0, "empty arenas go back to the page source");
    assert_eq!(pool.pages_held(), 0);
}

#[test]
fn coalescing_lets_a_large_block_fit_again() {
    let mut src = FakePages::new(64);
    let mut pool = Pool::new();
    let arena_bytes = ARENA_PAGES * PAGE_SIZE;
    let quarter = arena_bytes / 4;
    let parts: Vec<u64> = (0..4)
        .map(|_| pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, quarter).unwrap())
        .collect();
    assert_eq!(pool.pages_held(), ARENA_PAGES);
    // Free the middle two in an order that needs both merges.
    pool.free(&mut src, parts[2]).unwrap();
    pool.free(&mut src, parts[1]).unwrap();
    let big = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 2 * quarter).unwrap();
    assert_eq!(big, parts[1]);
    assert_eq!(pool.pages_held(), ARENA_PAGES, "no new arena needed");
}

#[test]
fn large_and_failing_requests() {
    let mut src = FakePages::new(64);
    let mut pool = Pool::new();
    let big = pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 40 * PAGE_SIZE).unwrap();
    assert_eq!(pool.pages_held(), 40);
    assert_eq!(
        pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, 30 * PAGE_SIZE),
        Err(Error::OutOfResources)
    );
    assert_eq!(
        pool.allocate(&mut src, EfiMemoryType::LOADER_DATA, u64::MAX),
        Err(Error::OutOfResources)
    );
    assert_eq!(
        pool.allocate(&mut src, EfiMemoryType::CONVENTIONAL, 8),
        Err(Error::InvalidParameter)
    );
    assert_eq!(pool.allocate(&mut src, EfiMemoryType::MAX, 8), Err(Error::InvalidParameter));
    pool.free(&mut src, big).unwrap();
    assert_eq!(src.used(), 0);
}

#[test]
fn over_the_real_memory_map() {
    let mut map = MemoryMap::new();
    map.add(0x10_0000, 0x100_0000, vmfw_memmap::MemoryType::Free).unwrap();
    let mut pool = Pool::new();
    let a = pool.allocate(&mut map, EfiMemoryType::BOOT_SERVICES_DATA, 100).unwrap();
    assert_eq!(map.type_at(a), Some(vmfw_memmap::MemoryType::BootServicesData));
    pool.free(&mut map, a).unwrap();
    assert_eq!(map.type_at(a), Some(vmfw_memmap::MemoryType::Free));
}
