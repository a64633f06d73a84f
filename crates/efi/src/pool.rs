//! `AllocatePool()` / `FreePool()` (UEFI §7.2): sub-page allocations,
//! carved from pages a [`PageSource`] hands out.
//!
//! Invariants and choices:
//! - Every pool allocation is 8-byte aligned (UEFI §7.2 guarantees 8).
//! - Pools are per memory type: an arena's pages all have one
//!   `EFI_MEMORY_TYPE`, so the memory map stays truthful about what a
//!   pool buffer is.
//! - The bookkeeping (arenas, free ranges, live allocations with their
//!   type and size) lives in the firmware's own heap, not in a header in
//!   front of each buffer. `FreePool()` therefore validates the pointer
//!   exactly (`InvalidParameter` for anything that is not the start of a
//!   live allocation), and a guest overrunning a buffer cannot corrupt the
//!   allocator.
//! - An arena whose allocations are all freed goes back to the page
//!   source at once, so freed pool memory becomes free in the memory map.

use crate::memory::{self, AllocateType, EfiMemoryType};
use crate::{Error, Result};
use alloc::vec::Vec;
use vmfw_memmap::{MemoryMap, PAGE_SIZE};

/// Alignment of every pool allocation.
pub const POOL_ALIGN: u64 = 8;

/// Pages a new arena takes at least.
pub const ARENA_PAGES: u64 = 16;

/// Where the pool gets its pages; the firmware passes the memory map.
pub trait PageSource {
    /// Allocates `pages` pages of type `ty` anywhere.
    fn allocate_pages(&mut self, ty: EfiMemoryType, pages: u64) -> Result<u64>;
    /// Returns pages obtained from [`PageSource::allocate_pages`].
    fn free_pages(&mut self, addr: u64, pages: u64) -> Result<()>;
}

impl PageSource for MemoryMap {
    fn allocate_pages(&mut self, ty: EfiMemoryType, pages: u64) -> Result<u64> {
        memory::allocate_pages(self, AllocateType::AnyPages, ty, pages)
    }

    fn free_pages(&mut self, addr: u64, pages: u64) -> Result<()> {
        memory::free_pages(self, addr, pages)
    }
}

/// A live pool allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The pool type it was allocated from.
    pub ty: EfiMemoryType,
    /// The size the caller asked for.
    pub size: u64,
}

#[derive(Debug)]
struct Arena {
    ty: EfiMemoryType,
    start: u64,
    pages: u64,
    /// Free ranges `(start, len)`, sorted, never adjacent (coalesced).
    free: Vec<(u64, u64)>,
    live: usize,
}

impl Arena {
    fn end(&self) -> u64 {
        self.start.saturating_add(self.pages.saturating_mul(PAGE_SIZE))
    }

    /// First fit; returns the address.
    fn take(&mut self, len: u64) -> Option<u64> {
        let i = self.free.iter().position(|&(_, l)| l >= len)?;
        let slot = self.free.get_mut(i)?;
        let addr = slot.0;
        if slot.1 == len {
            self.free.remove(i);
        } else {
            *slot = (slot.0 + len, slot.1 - len);
        }
        self.live += 1;
        Some(addr)
    }

    fn give_back(&mut self, addr: u64, len: u64) {
        let i = self.free.partition_point(|&(s, _)| s < addr);
        self.free.insert(i, (addr, len));
        // Merge with the next range, then with the previous one.
        if let (Some(&(s, l)), Some(&(ns, nl))) = (self.free.get(i), self.free.get(i + 1)) {
            if s + l == ns {
                if let Some(slot) = self.free.get_mut(i) {
                    *slot = (s, l + nl);
                }
                self.free.remove(i + 1);
            }
        }
        if let Some(p) = i.checked_sub(1) {
            if let (Some(&(ps, pl)), Some(&(s, l))) = (self.free.get(p), self.free.get(i)) {
                if ps + pl == s {
                    if let Some(slot) = self.free.get_mut(p) {
                        *slot = (ps, pl + l);
                    }
                    self.free.remove(i);
                }
            }
        }
        self.live = self.live.saturating_sub(1);
    }
}

/// The pool allocator. See the module docs.
#[derive(Debug, Default)]
pub struct Pool {
    arenas: Vec<Arena>,
    live: crate::vecmap::VecMap<u64, Allocation>,
}

fn rounded(size: u64) -> Option<u64> {
    size.max(1).checked_add(POOL_ALIGN - 1).map(|s| s & !(POOL_ALIGN - 1))
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// `AllocatePool()`: `size` bytes of type `ty`, 8-byte aligned. A size
    /// of 0 yields a distinct minimal allocation, as EDK II does.
    ///
    /// Errors: `InvalidParameter` for a type `AllocatePages()` refuses
    /// (see [`memory::vmfw_type`]); `OutOfResources` when the size is
    /// absurd or the page source has no pages.
    pub fn allocate(
        &mut self,
        src: &mut impl PageSource,
        ty: EfiMemoryType,
        size: u64,
    ) -> Result<u64> {
        memory::vmfw_type(ty)?;
        let len = rounded(size).ok_or(Error::OutOfResources)?;
        let found = self.arenas.iter_mut().filter(|a| a.ty == ty).find_map(|a| a.take(len));
        let addr = match found {
            Some(addr) => addr,
            None => {
                let pages = len.div_ceil(PAGE_SIZE).max(ARENA_PAGES);
                let start = src.allocate_pages(ty, pages).map_err(|e| match e {
                    Error::InvalidParameter => Error::InvalidParameter,
                    _ => Error::OutOfResources,
                })?;
                let mut arena = Arena { ty, start, pages, free: Vec::new(), live: 0 };
                arena.free.push((start, pages * PAGE_SIZE));
                let addr = arena.take(len).ok_or(Error::OutOfResources)?;
                self.arenas.push(arena);
                addr
            }
        };
        self.live.insert(addr, Allocation { ty, size });
        Ok(addr)
    }

    /// `FreePool()`: frees the allocation starting at `addr`.
    /// `InvalidParameter` when `addr` is not the start of a live pool
    /// allocation (UEFI §7.2).
    pub fn free(&mut self, src: &mut impl PageSource, addr: u64) -> Result<()> {
        let alloc = self.live.remove(&addr).ok_or(Error::InvalidParameter)?;
        let len = rounded(alloc.size).ok_or(Error::InvalidParameter)?;
        let i = self
            .arenas
            .iter()
            .position(|a| a.start <= addr && addr < a.end())
            .ok_or(Error::InvalidParameter)?;
        let arena = self.arenas.get_mut(i).ok_or(Error::InvalidParameter)?;
        arena.give_back(addr, len);
        if arena.live == 0 {
            let arena = self.arenas.swap_remove(i);
            // The pages came from `src`; if it refuses them back they stay
            // allocated, which leaks but never corrupts.
            let _ = src.free_pages(arena.start, arena.pages);
        }
        Ok(())
    }

    /// The live allocation starting at `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<Allocation> {
        self.live.get(&addr).copied()
    }

    /// Number of live allocations.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Pages currently held from the page source.
    pub fn pages_held(&self) -> u64 {
        self.arenas.iter().map(|a| a.pages).sum()
    }
}

#[cfg(test)]
mod tests;
