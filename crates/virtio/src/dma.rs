//! Memory shared with devices.
//!
//! The firmware provides [`Dma`]: zeroed, page-aligned, physically
//! contiguous pages whose address is also the address the device uses
//! (identity mapping). [`DmaRegion`] wraps one such allocation and is the
//! only place that touches it: every access is volatile (the device writes
//! it behind the compiler's back) and bounds-checked.

/// Size of a page as used by [`Dma`] and by the legacy virtio-mmio queue
/// layout (GuestPageSize, QueueAlign).
pub const PAGE_SIZE: usize = 4096;

/// Allocator of device-visible memory.
///
/// # Safety
///
/// Implementations promise that memory returned by
/// [`Dma::alloc_zeroed_pages`] is `pages * PAGE_SIZE` bytes of ordinary RAM,
/// zeroed, aligned to [`PAGE_SIZE`], physically contiguous, mapped at an
/// address equal to its physical (and device DMA) address, and not used by
/// anything else until it is passed back to [`Dma::free_pages`].
pub unsafe trait Dma {
    /// Allocates `pages` zeroed pages and returns their address, or `None`
    /// when memory is exhausted.
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64>;

    /// Returns pages obtained from [`Dma::alloc_zeroed_pages`].
    ///
    /// # Safety
    ///
    /// `addr` and `pages` must be exactly those of one earlier allocation
    /// that was not freed yet, and no device may access it any more.
    unsafe fn free_pages(&mut self, addr: u64, pages: usize);
}

// SAFETY: forwards to an implementation that upholds the contract.
unsafe impl<D: Dma + ?Sized> Dma for &mut D {
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64> {
        (**self).alloc_zeroed_pages(pages)
    }
    unsafe fn free_pages(&mut self, addr: u64, pages: usize) {
        // SAFETY: the caller upholds `free_pages`' contract for us.
        unsafe { (**self).free_pages(addr, pages) }
    }
}

/// One allocation from a [`Dma`], accessed with bounds-checked volatile
/// loads and stores. Out-of-bounds or misaligned accesses are dropped
/// (reads give 0); the driver computes offsets itself, so this only guards
/// against bugs.
#[derive(Debug)]
pub(crate) struct DmaRegion {
    base: usize,
    len: usize,
    pages: usize,
}

impl DmaRegion {
    /// Allocates `pages` pages from `dma`.
    pub(crate) fn alloc<D: Dma + ?Sized>(dma: &mut D, pages: usize) -> Result<Self, crate::Error> {
        let len = pages.checked_mul(PAGE_SIZE).ok_or(crate::Error::DmaAllocFailed)?;
        let addr = dma.alloc_zeroed_pages(pages).ok_or(crate::Error::DmaAllocFailed)?;
        let base = match usize::try_from(addr) {
            Ok(b) if b != 0 && b % PAGE_SIZE == 0 && b.checked_add(len).is_some() => b,
            _ => return Err(crate::Error::DmaAllocFailed),
        };
        Ok(Self { base, len, pages })
    }

    /// Gives the memory back.
    ///
    /// # Safety
    ///
    /// The device must no longer access the region.
    pub(crate) unsafe fn free<D: Dma + ?Sized>(self, dma: &mut D) {
        // SAFETY: the region is exactly one live allocation from `dma`
        // (built only by `alloc`, consumed here), and the caller promises
        // that the device is done with it.
        unsafe { dma.free_pages(self.base as u64, self.pages) }
    }

    /// Device address of byte `offset` of the region.
    pub(crate) fn addr(&self, offset: usize) -> u64 {
        (self.base + offset.min(self.len)) as u64
    }

    fn at(&self, offset: usize, width: usize) -> Option<usize> {
        let end = offset.checked_add(width)?;
        if end > self.len || !offset.is_multiple_of(width) {
            return None;
        }
        Some(self.base + offset)
    }
}

macro_rules! dma_read {
    ($read:ident, $t:ty) => {
        pub(crate) fn $read(&self, offset: usize) -> $t {
            match self.at(offset, core::mem::size_of::<$t>()) {
                // SAFETY: `Dma`'s contract makes the whole region ordinary,
                // mapped RAM owned by this `DmaRegion`; `at` checked bounds
                // and alignment. The device may write it concurrently, which
                // is why the access is volatile.
                Some(a) => <$t>::from_le(unsafe {
                    core::ptr::read_volatile(core::ptr::with_exposed_provenance::<$t>(a))
                }),
                None => 0,
            }
        }
    };
}

macro_rules! dma_write {
    ($write:ident, $t:ty) => {
        pub(crate) fn $write(&mut self, offset: usize, value: $t) {
            if let Some(a) = self.at(offset, core::mem::size_of::<$t>()) {
                // SAFETY: as for reads: owned, mapped RAM, in bounds and
                // aligned; `&mut self` keeps Rust-side writers exclusive.
                unsafe {
                    core::ptr::write_volatile(
                        core::ptr::with_exposed_provenance_mut::<$t>(a),
                        value.to_le(),
                    )
                }
            }
        }
    };
}

impl DmaRegion {
    dma_read!(read_u8, u8);
    dma_read!(read_u16, u16);
    dma_read!(read_u32, u32);
    dma_write!(write_u8, u8);
    dma_write!(write_u16, u16);
    dma_write!(write_u32, u32);
    dma_write!(write_u64, u64);
}
