//! Split virtqueue (virtio 1.2 §2.7).
//!
//! Memory layout: one zeroed, page-aligned [`Dma`] allocation holding the
//! descriptor table (16 bytes per entry, §2.7.5), the available ring
//! (§2.7.6) right after it, and the used ring (§2.7.8) at the next page
//! boundary. That is the legacy layout with QueueAlign = 4096 (§2.7.2); it
//! also satisfies the modern alignment rules, so every transport can use it.
//!
//! Driver-side state (the free list, chain lengths, which heads are in
//! flight) is kept outside device-visible memory, so a device can only
//! confuse the driver through the used ring, and every used entry is checked
//! against that state.
//!
//! Ordering (§2.7.13): descriptors and available-ring entries are written
//! first; a release fence orders them before the store of the available
//! index; a full fence orders that store before the read of the used ring's
//! flags and the notification. On the way back, the used index is read
//! (volatile) first and an acquire fence orders it before reading the used
//! entries and the buffers the device filled.
//!
//! Notifications: the driver sets `VIRTQ_AVAIL_F_NO_INTERRUPT` (it polls),
//! publishes a whole batch of chains with one index update and one
//! notification, and skips the notification when the device has set
//! `VIRTQ_USED_F_NO_NOTIFY` (§2.7.7). Completion is found by reading the
//! used index from memory, never by polling a device register, and the
//! polling is bounded by a caller-supplied number of attempts.

use core::sync::atomic::{fence, Ordering};

use crate::dma::DmaRegion;
use crate::transport::{QueueLayout, Transport};
use crate::{Dma, Error, PAGE_SIZE};

/// Largest queue this driver sets up. Bigger device queues are used at this
/// size; 256 entries are plenty for a firmware and keep the driver's
/// bookkeeping in fixed arrays.
pub const QUEUE_SIZE_LIMIT: u16 = 256;
const LIMIT: usize = QUEUE_SIZE_LIMIT as usize;

const DESC_SIZE: usize = 16;
const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const AVAIL_F_NO_INTERRUPT: u16 = 1;
const USED_F_NO_NOTIFY: u16 = 1;

/// A piece of memory in a descriptor chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Device address (identity-mapped: the pointer's address).
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// `true` if the device writes the segment (`VIRTQ_DESC_F_WRITE`),
    /// `false` if it only reads it.
    pub device_writes: bool,
}

/// A completed chain taken from the used ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedElem {
    /// Head descriptor index of the chain, as returned by
    /// [`VirtQueue::add`].
    pub head: u16,
    /// Bytes the device reports having written into the chain.
    pub len: u32,
}

/// Byte offsets of the parts of a queue of `size` entries, and the number
/// of pages the whole queue takes.
fn layout(size: u16) -> (usize, usize, usize) {
    let n = usize::from(size);
    let avail = DESC_SIZE * n;
    // flags, idx, ring[n], used_event
    let avail_end = avail + 6 + 2 * n;
    let used = avail_end.next_multiple_of(PAGE_SIZE);
    // flags, idx, ring[n] of {id: u32, len: u32}, avail_event
    let used_end = used + 6 + 8 * n;
    (avail, used, used_end.div_ceil(PAGE_SIZE))
}

/// One split virtqueue, set up on a device and polled by the driver.
#[derive(Debug)]
pub struct VirtQueue {
    index: u16,
    size: u16,
    mem: DmaRegion,
    avail_off: usize,
    used_off: usize,
    notify_token: u32,
    free_head: u16,
    num_free: u16,
    /// Available index the next chain gets (driver's copy).
    avail_idx: u16,
    /// Available index last written to the ring in memory.
    published_idx: u16,
    /// Used index up to which the driver has taken entries.
    last_used: u16,
    next: [u16; LIMIT],
    chain_len: [u16; LIMIT],
    in_flight: [bool; LIMIT],
    in_flight_count: u16,
}

impl VirtQueue {
    /// Allocates queue `index` with at most `size_limit` entries (and at
    /// most [`QUEUE_SIZE_LIMIT`] or what the device supports; rounded down
    /// to a power of two) and enables it on the device.
    ///
    /// Call between feature negotiation and DRIVER_OK (§3.1.1 step 7).
    pub fn new<T, D>(
        transport: &mut T,
        dma: &mut D,
        index: u16,
        size_limit: u16,
    ) -> Result<Self, Error>
    where
        T: Transport + ?Sized,
        D: Dma + ?Sized,
    {
        let max = transport.queue_max_size(index)?;
        if max == 0 {
            return Err(Error::QueueUnavailable(index));
        }
        let cap = max.min(u32::from(size_limit.min(QUEUE_SIZE_LIMIT)));
        if cap < 4 {
            return Err(Error::QueueTooSmall(max));
        }
        // `cap` is in 4..=256 here, so the power of two fits a u16.
        let size = 1u16 << (31 - cap.leading_zeros());
        let (avail_off, used_off, pages) = layout(size);
        let mut mem = DmaRegion::alloc(dma, pages)?;
        mem.write_u16(avail_off, AVAIL_F_NO_INTERRUPT);

        let queue_layout = QueueLayout {
            size,
            desc: mem.addr(0),
            driver: mem.addr(avail_off),
            device: mem.addr(used_off),
        };
        let notify_token = match transport.enable_queue(index, &queue_layout) {
            Ok(t) => t,
            Err(e) => {
                // SAFETY: the queue was not enabled, so the device never
                // learnt the address.
                unsafe { mem.free(dma) };
                return Err(e);
            }
        };

        let mut next = [0u16; LIMIT];
        for (i, n) in next.iter_mut().enumerate().take(usize::from(size)) {
            *n = (i + 1) as u16;
        }
        Ok(Self {
            index,
            size,
            mem,
            avail_off,
            used_off,
            notify_token,
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            published_idx: 0,
            last_used: 0,
            next,
            chain_len: [0; LIMIT],
            in_flight: [false; LIMIT],
            in_flight_count: 0,
        })
    }

    /// Queue index on the device.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Number of entries (descriptors).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Descriptors not in use.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Chains added and not yet taken back from the used ring.
    pub fn in_flight(&self) -> u16 {
        self.in_flight_count
    }

    /// The head index the next [`VirtQueue::add`] will use, if a descriptor
    /// is free. Drivers use it to index per-request memory (headers,
    /// status bytes) by head.
    pub fn next_head(&self) -> Option<u16> {
        (self.num_free > 0).then_some(self.free_head)
    }

    /// Adds a descriptor chain made of `segments` (in order) and puts it in
    /// the available ring. The device does not see it before
    /// [`VirtQueue::kick`]. Returns the chain's head index.
    ///
    /// Fails with [`Error::QueueFull`] (and changes nothing) when the chain
    /// is empty or longer than the free descriptors.
    ///
    /// # Safety
    ///
    /// Every segment must be memory that the device may read (and, if
    /// `device_writes`, write) until the chain comes back from
    /// [`VirtQueue::pop_used`], or until the device has been reset; Rust
    /// code must not access memory the device writes in that time.
    pub unsafe fn add<I>(&mut self, segments: I) -> Result<u16, Error>
    where
        I: IntoIterator<Item = Segment>,
    {
        let mut head = None;
        let mut prev: Option<(u16, u16)> = None;
        let mut count = 0u16;
        for seg in segments {
            // While a descriptor is free, the free list's head is a
            // descriptor number below `size` (at most LIMIT), so its link
            // is always found.
            let d = self.free_head;
            let link = self.next.get(usize::from(d)).copied();
            let (Some(after), true) = (link, self.num_free > 0) else {
                if let (Some(h), Some((p, _))) = (head, prev) {
                    self.release(h, p, count);
                }
                return Err(Error::QueueFull);
            };
            self.free_head = after;
            self.num_free -= 1;
            count += 1;

            let flags = if seg.device_writes { DESC_F_WRITE } else { 0 };
            let off = usize::from(d) * DESC_SIZE;
            self.mem.write_u64(off, seg.addr);
            self.mem.write_u32(off + 8, seg.len);
            self.mem.write_u16(off + 12, flags);
            self.mem.write_u16(off + 14, 0);
            match prev {
                Some((p, p_flags)) => {
                    let p_off = usize::from(p) * DESC_SIZE;
                    self.mem.write_u16(p_off + 12, p_flags | DESC_F_NEXT);
                    self.mem.write_u16(p_off + 14, d);
                    // `p` came off the free list, so it has a link slot.
                    if let Some(link) = self.next.get_mut(usize::from(p)) {
                        *link = d;
                    }
                }
                None => head = Some(d),
            }
            prev = Some((d, flags));
        }
        let Some(head) = head else {
            return Err(Error::QueueFull);
        };

        let slot = usize::from(self.avail_idx % self.size);
        self.mem.write_u16(self.avail_off + 4 + 2 * slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // `head` came off the free list, so it has its slots; were it not,
        // its completion would be refused by `pop_used` as a bad used
        // entry rather than panic.
        let h = usize::from(head);
        if let (Some(len), Some(flying)) = (self.chain_len.get_mut(h), self.in_flight.get_mut(h)) {
            *len = count;
            *flying = true;
        }
        self.in_flight_count += 1;
        Ok(head)
    }

    /// Puts the chain `head..=tail` of `count` descriptors back on the free
    /// list.
    fn release(&mut self, head: u16, tail: u16, count: u16) {
        // `tail` is a descriptor of a chain, below `size`: it has a slot.
        if let Some(link) = self.next.get_mut(usize::from(tail)) {
            *link = self.free_head;
        }
        self.free_head = head;
        self.num_free += count;
    }

    /// Publishes the chains added since the last kick and notifies the
    /// device once, unless it asked not to be notified. Returns whether a
    /// notification was sent.
    pub fn kick<T: Transport + ?Sized>(&mut self, transport: &mut T) -> bool {
        if self.avail_idx == self.published_idx {
            return false;
        }
        // Descriptors and ring entries before the index that exposes them.
        fence(Ordering::Release);
        self.mem.write_u16(self.avail_off + 2, self.avail_idx);
        self.published_idx = self.avail_idx;
        // The index store before reading the device's flags and before the
        // notification write (§2.7.13.3.1 / §2.7.13.4.1).
        fence(Ordering::SeqCst);
        if self.mem.read_u16(self.used_off) & USED_F_NO_NOTIFY != 0 {
            return false;
        }
        transport.notify(self.index, self.notify_token);
        true
    }

    /// Takes the next completed chain from the used ring, if there is one,
    /// and frees its descriptors.
    ///
    /// Fails with [`Error::BadUsedRing`] if the device reports more
    /// completions than chains in flight or an entry that names no chain in
    /// flight.
    pub fn pop_used(&mut self) -> Result<Option<UsedElem>, Error> {
        let used_idx = self.mem.read_u16(self.used_off + 2);
        if used_idx == self.last_used {
            return Ok(None);
        }
        let pending = used_idx.wrapping_sub(self.last_used);
        if pending > self.in_flight_count {
            return Err(Error::BadUsedRing { id: u32::from(pending) });
        }
        // The index read before the entries and the buffers it covers.
        fence(Ordering::Acquire);
        let slot = usize::from(self.last_used % self.size);
        let elem = self.used_off + 4 + 8 * slot;
        let id = self.mem.read_u32(elem);
        let len = self.mem.read_u32(elem + 4);
        // `id` is the device's word: it must name a chain in flight.
        let entry = u16::try_from(id).ok().filter(|&h| h < self.size).and_then(|h| {
            let i = usize::from(h);
            let count = *self.chain_len.get(i)?;
            (*self.in_flight.get(i)?).then_some((h, count))
        });
        let Some((head, count)) = entry else {
            return Err(Error::BadUsedRing { id });
        };
        // The links of a chain in flight were set by `add`, to descriptors
        // below `size`, so the walk always finds them.
        let mut tail = head;
        for _ in 1..count {
            tail = self.next.get(usize::from(tail)).copied().ok_or(Error::BadUsedRing { id })?;
        }
        self.last_used = self.last_used.wrapping_add(1);
        self.release(head, tail, count);
        if let Some(flying) = self.in_flight.get_mut(usize::from(head)) {
            *flying = false;
        }
        self.in_flight_count -= 1;
        Ok(Some(UsedElem { head, len }))
    }

    /// Polls the used index in memory until a chain completes, at most
    /// `spin_limit + 1` times; then fails with [`Error::NotResponding`].
    pub fn wait_used(&mut self, spin_limit: u32) -> Result<UsedElem, Error> {
        for _ in 0..=spin_limit {
            if let Some(u) = self.pop_used()? {
                return Ok(u);
            }
            core::hint::spin_loop();
        }
        Err(Error::NotResponding)
    }

    /// Gives the queue's memory back to `dma`.
    ///
    /// # Safety
    ///
    /// The device must have been reset (or the queue otherwise disabled) so
    /// that it no longer reads or writes the rings.
    pub unsafe fn free<D: Dma + ?Sized>(self, dma: &mut D) {
        // SAFETY: the caller promises that the device is done with the
        // rings; the region came from `dma` in `new`.
        unsafe { self.mem.free(dma) }
    }
}
