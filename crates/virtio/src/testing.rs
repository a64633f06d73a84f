//! A hostile virtio-blk device for fuzzing and tests (feature `testing`,
//! host only: it needs `std`).
//!
//! [`HostileBlk`] plays the device side of the driver: configuration,
//! status and features, one split virtqueue walked in host memory when the
//! driver notifies, and a disk whose never-written sectors hold
//! [`pattern`]. What it answers comes from a [`Script`] of bytes (a fuzz
//! input): the configuration values, and for every request it takes from
//! the available ring one [`Action`]: complete honestly, complete with a
//! used-ring id out of range or of another chain, with a length larger than
//! the buffer, without writing the status byte or with a made-up one,
//! leave the request pending, stop answering altogether, advance the used
//! index past what was in flight, or fill the buffer with junk.
//!
//! The device only touches memory it was lent: the live allocations of
//! [`HeapDma`] and the range given to [`Shared::lend`] (the caller's I/O
//! buffer). A descriptor outside those, a malformed chain or a request
//! beyond the capacity is a driver bug and is recorded in
//! [`Shared::violations`] instead of being served, so a fuzz target can
//! fail on it without the fake itself causing memory errors.
//!
//! Front ends: [`HostileBlk`] implements [`Transport`] directly, and
//! [`HostileMmio`] wraps it in virtio-mmio registers (version 1 or 2) for
//! [`crate::MmioTransport`].

extern crate std;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::format;
use std::rc::Rc;
use std::string::String;
use std::vec::Vec;

use crate::blk::{CFG_BLK_SIZE, CFG_CAPACITY, CFG_SEG_MAX, CFG_SIZE_MAX, T_FLUSH, T_IN, T_OUT};
use crate::transport::{status, QueueLayout};
use crate::{Dma, Error, RegisterAccess, Transport, PAGE_SIZE};

/// Bytes that decide what the device does; reads past the end give 0.
#[derive(Debug, Clone, Default)]
pub struct Script {
    bytes: Vec<u8>,
    at: usize,
}

impl Script {
    /// A script over `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Self { bytes: bytes.to_vec(), at: 0 }
    }

    /// The next byte (0 once the script is used up).
    pub fn u8(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }

    /// The next little-endian 16-bit value.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next little-endian 32-bit value.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next little-endian 64-bit value.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// True once every byte has been used.
    pub fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

/// What the device does with one request it takes from the available
/// ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Serve it and report it correctly.
    Honest,
    /// Serve it, but put this id in the used ring.
    WrongId(u32),
    /// Serve it, but report this many bytes written.
    WrongLen(u32),
    /// Serve it without writing the status byte.
    NoStatus,
    /// Serve it with this status byte.
    Status(u8),
    /// Leave it, and every later one, in the available ring for now.
    Defer,
    /// Never answer again (the request stays in the ring).
    Die,
    /// Serve it, then advance the used index this much further.
    OverrunIndex(u16),
    /// Fill the data with this byte instead of the disk's content.
    Junk(u8),
    /// Serve it and set `VIRTQ_USED_F_NO_NOTIFY`.
    NoNotify,
}

impl Action {
    /// Decodes one action from the script: mostly honest, so requests go
    /// through, with every hostile answer a few bytes away.
    pub fn from_script(s: &mut Script) -> Action {
        match s.u8() {
            0..=127 => Action::Honest,
            128..=135 => Action::WrongId(s.u32()),
            136..=143 => Action::WrongLen(s.u32()),
            144..=151 => Action::NoStatus,
            152..=159 => Action::Status(s.u8()),
            160..=175 => Action::Defer,
            176..=179 => Action::Die,
            180..=187 => Action::OverrunIndex(s.u16()),
            188..=195 => Action::Junk(s.u8()),
            196..=199 => Action::NoNotify,
            _ => Action::Honest,
        }
    }

    fn honest(self) -> bool {
        matches!(self, Action::Honest | Action::Defer | Action::NoNotify)
    }
}

/// Content of never-written 512-byte sector `s`: depends on every bit of
/// the sector number, so a read from the wrong place is noticed.
pub fn pattern(s: u64, out: &mut [u8]) {
    let h = (s ^ 0x5555_0000_aaaa).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let h = h ^ (h >> 29);
    for (i, b) in out.iter_mut().enumerate() {
        *b = (h >> ((i % 8) * 8)) as u8 ^ (i / 8) as u8;
    }
}

/// State the device, the allocator and the test share.
#[derive(Debug, Default)]
pub struct SharedState {
    /// Live DMA allocations: (address, bytes).
    pub dma: Vec<(u64, usize)>,
    /// The caller's buffer the device may access now: (address, bytes).
    pub lent: Option<(u64, usize)>,
    /// Protocol rules the driver broke.
    pub violations: Vec<String>,
    /// Whether every request since [`Shared::begin`] was answered
    /// honestly (then the data read must be the disk's).
    pub honest: bool,
    /// Sectors written by the driver (whole 512-byte sectors).
    pub written: BTreeMap<u64, Vec<u8>>,
    /// Notifications, requests served, resets seen.
    pub notifies: u64,
    /// Requests taken from the available ring.
    pub requests: u64,
    /// Status writes of 0.
    pub resets: u64,
}

/// A handle on [`SharedState`].
#[derive(Debug, Clone, Default)]
pub struct Shared(pub Rc<RefCell<SharedState>>);

impl Shared {
    /// A fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts an I/O call on `buf`: the device may access it, and the
    /// honesty record starts afresh.
    pub fn begin(&self, addr: u64, len: usize) {
        let mut s = self.0.borrow_mut();
        s.lent = (len > 0).then_some((addr, len));
        s.honest = true;
    }

    /// Ends the I/O call: the buffer is the caller's again.
    pub fn end(&self) {
        self.0.borrow_mut().lent = None;
    }

    /// Protocol violations recorded so far.
    pub fn violations(&self) -> Vec<String> {
        self.0.borrow().violations.clone()
    }

    /// Whether the device answered honestly since [`Shared::begin`].
    pub fn honest(&self) -> bool {
        self.0.borrow().honest
    }

    /// The disk's content of `len` bytes from 512-byte sector `s`.
    pub fn expected(&self, s: u64, len: usize) -> Vec<u8> {
        let st = self.0.borrow();
        let mut v = std::vec![0u8; len];
        for (i, c) in v.chunks_mut(512).enumerate() {
            let sec = s.wrapping_add(i as u64);
            match st.written.get(&sec) {
                Some(d) if d.len() >= c.len() => c.copy_from_slice(d.get(..c.len()).unwrap_or(&[])),
                Some(_) => c.fill(0),
                None => pattern(sec, c),
            }
        }
        v
    }

    /// Host address range `addr..addr + len` if it lies inside memory the
    /// device may access; records a violation otherwise.
    fn check(&self, addr: u64, len: usize, what: &str) -> bool {
        let mut s = self.0.borrow_mut();
        let inside = |&(a, l): &(u64, usize)| {
            addr >= a && addr.checked_add(len as u64).is_some_and(|e| e <= a + l as u64)
        };
        if s.dma.iter().any(inside) || s.lent.as_ref().is_some_and(inside) {
            return true;
        }
        s.violations.push(format!("{what}: {len} bytes at {addr:#x} outside lent memory"));
        false
    }

    fn violation(&self, v: String) {
        self.0.borrow_mut().violations.push(v);
    }
}

/// DMA allocator over the host heap: zeroed, page-aligned pages, recorded
/// in the shared state so the device can check addresses.
#[derive(Debug)]
pub struct HeapDma {
    shared: Shared,
    /// Allocations refused after this many (fuzzed allocation failure).
    pub fail_after: Option<usize>,
    allocs: usize,
}

impl HeapDma {
    /// An allocator reporting to `shared`.
    pub fn new(shared: &Shared) -> Self {
        Self { shared: shared.clone(), fail_after: None, allocs: 0 }
    }
}

fn page_layout(pages: usize) -> Option<std::alloc::Layout> {
    std::alloc::Layout::from_size_align(pages.max(1).checked_mul(PAGE_SIZE)?, PAGE_SIZE).ok()
}

// SAFETY: memory comes zeroed and page-aligned from the host allocator, is
// "identity mapped" (the fake device uses the same addresses), and each
// allocation is handed out once.
unsafe impl Dma for HeapDma {
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64> {
        if self.fail_after.is_some_and(|n| self.allocs >= n) || pages > 64 {
            return None;
        }
        self.allocs += 1;
        let layout = page_layout(pages)?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            return None;
        }
        let a = p.expose_provenance() as u64;
        self.shared.0.borrow_mut().dma.push((a, layout.size()));
        Some(a)
    }

    unsafe fn free_pages(&mut self, addr: u64, pages: usize) {
        let Some(layout) = page_layout(pages) else { return };
        let mut s = self.shared.0.borrow_mut();
        let Some(i) = s.dma.iter().position(|&l| l == (addr, layout.size())) else {
            s.violations.push(format!("freeing {pages} pages at {addr:#x}, never allocated"));
            return;
        };
        s.dma.remove(i);
        // SAFETY: allocated above with the same layout, and removed from
        // the live list, so freed once.
        unsafe { std::alloc::dealloc(std::ptr::with_exposed_provenance_mut(addr as usize), layout) }
    }
}

impl Drop for HeapDma {
    fn drop(&mut self) {
        // What the driver leaked (a device that never acknowledged its
        // reset keeps its rings): the device is gone with the driver now.
        let live = core::mem::take(&mut self.shared.0.borrow_mut().dma);
        for (a, size) in live {
            if let Ok(layout) = std::alloc::Layout::from_size_align(size, PAGE_SIZE) {
                // SAFETY: a live allocation of this allocator, freed once.
                unsafe {
                    std::alloc::dealloc(std::ptr::with_exposed_provenance_mut(a as usize), layout)
                }
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Queue {
    size: u32,
    desc: u64,
    driver: u64,
    device: u64,
    ready: bool,
    last_avail: u16,
    used_idx: u16,
    align: u32,
    pfn: u32,
}

/// The hostile device. See the module docs.
#[derive(Debug)]
pub struct HostileBlk {
    shared: Shared,
    script: Script,
    /// virtio device type (2 = block).
    pub device_type: u32,
    /// Offered feature bits.
    pub features: u64,
    /// `virtio_blk_config` fields.
    pub capacity: u64,
    /// `size_max`.
    pub size_max: u32,
    /// `seg_max`.
    pub seg_max: u32,
    /// `blk_size`.
    pub blk_size: u32,
    /// `QueueNumMax`.
    pub queue_max: u32,
    /// Drop FEATURES_OK from the status (refuse the features).
    pub refuse_features: bool,
    /// Ignore status writes of 0 (never acknowledge a reset).
    pub ignore_reset: bool,
    /// Bump the configuration generation on every read.
    pub unstable_generation: bool,
    /// Set DEVICE_NEEDS_RESET when DRIVER_OK is written.
    pub needs_reset: bool,
    legacy: bool,
    dead: bool,
    status: u8,
    generation: u32,
    driver_features: u64,
    guest_page_size: u32,
    q: Queue,
}

impl HostileBlk {
    /// A well-behaved modern device of `capacity` sectors, with no limits
    /// and 512-byte blocks; [`HostileBlk::from_script`] makes a hostile
    /// one.
    pub fn new(shared: &Shared, capacity: u64) -> Self {
        Self {
            shared: shared.clone(),
            script: Script::default(),
            device_type: crate::DEVICE_TYPE_BLOCK,
            features: crate::features::VERSION_1,
            capacity,
            size_max: 0,
            seg_max: 0,
            blk_size: 512,
            queue_max: 256,
            refuse_features: false,
            ignore_reset: false,
            unstable_generation: false,
            needs_reset: false,
            legacy: false,
            dead: false,
            status: 0,
            generation: 0,
            driver_features: 0,
            guest_page_size: 0,
            q: Queue::default(),
        }
    }

    /// A device whose configuration and answers come from `script`:
    /// features, capacity, limits, queue size and misbehaviour flags
    /// first, then one [`Action`] per request. `legacy` makes it a
    /// virtio-mmio version 1 device (for [`HostileMmio`]).
    pub fn from_script(shared: &Shared, mut script: Script, legacy: bool) -> Self {
        let mut d = Self::new(shared, 0);
        let flags = script.u8();
        // Mostly a block device offering VERSION_1, so the driver gets far.
        d.device_type = if flags & 1 != 0 { script.u32() } else { crate::DEVICE_TYPE_BLOCK };
        let extra = script.u16();
        d.features = u64::from(extra) | if flags & 2 == 0 { crate::features::VERSION_1 } else { 0 };
        d.capacity = if flags & 4 != 0 { script.u64() } else { u64::from(script.u16()) };
        d.size_max = script.u32() & if flags & 8 != 0 { u32::MAX } else { 0xffff };
        d.seg_max = u32::from(script.u8());
        d.blk_size = if flags & 16 != 0 { script.u32() } else { 512 << (script.u8() % 4) };
        d.queue_max = match script.u8() {
            0..=199 => 256,
            200..=239 => u32::from(script.u8()),
            _ => script.u32(),
        };
        let bad = script.u8();
        d.refuse_features = bad == 1;
        d.ignore_reset = bad == 2;
        d.unstable_generation = bad == 3;
        d.needs_reset = bad == 4;
        d.legacy = legacy;
        d.script = script;
        d
    }

    /// Whether the device speaks legacy virtio-mmio.
    pub fn legacy(&self) -> bool {
        self.legacy
    }

    fn config_bytes(&self) -> [u8; 60] {
        let mut c = [0u8; 60];
        let mut put = |at: u32, v: &[u8]| {
            if let Some(d) = c.get_mut(at as usize..at as usize + v.len()) {
                d.copy_from_slice(v);
            }
        };
        put(CFG_CAPACITY, &self.capacity.to_le_bytes());
        put(CFG_SIZE_MAX, &self.size_max.to_le_bytes());
        put(CFG_SEG_MAX, &self.seg_max.to_le_bytes());
        put(CFG_BLK_SIZE, &self.blk_size.to_le_bytes());
        c
    }

    fn config(&self, offset: u32, width: usize) -> u32 {
        let c = self.config_bytes();
        (0..width).fold(0u32, |v, i| {
            let b = c.get(offset as usize + i).copied().unwrap_or(0);
            v | (u32::from(b) << (8 * i))
        })
    }

    fn write_status(&mut self, s: u8) {
        if s == 0 {
            self.shared.0.borrow_mut().resets += 1;
            if self.ignore_reset {
                return;
            }
            self.status = 0;
            self.driver_features = 0;
            self.q = Queue::default();
            return;
        }
        let mut s = s;
        if self.refuse_features {
            s &= !status::FEATURES_OK;
        }
        if self.needs_reset && s & status::DRIVER_OK != 0 {
            s |= status::DEVICE_NEEDS_RESET;
        }
        self.status = s;
    }

    fn set_pfn(&mut self, pfn: u32) {
        self.q.pfn = pfn;
        if pfn == 0 {
            self.q.ready = false;
            return;
        }
        let n = u64::from(self.q.size);
        let desc = u64::from(pfn).wrapping_mul(u64::from(self.guest_page_size));
        let avail = desc.wrapping_add(16 * n);
        let align = u64::from(self.q.align.max(1));
        let used = avail.wrapping_add(6 + 2 * n).next_multiple_of(align);
        self.q.desc = desc;
        self.q.driver = avail;
        self.q.device = used;
        self.q.ready = true;
    }

    // Guest memory, checked against what was lent.
    fn rd(&self, addr: u64, buf: &mut [u8], what: &str) -> bool {
        if !self.shared.check(addr, buf.len(), what) {
            return false;
        }
        let p = std::ptr::with_exposed_provenance::<u8>(addr as usize);
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `check` found the range inside a live DMA allocation
            // or the buffer the caller lent for this call.
            *b = unsafe { core::ptr::read_volatile(p.add(i)) };
        }
        true
    }

    fn wr(&self, addr: u64, bytes: &[u8], what: &str) -> bool {
        if !self.shared.check(addr, bytes.len(), what) {
            return false;
        }
        let p = std::ptr::with_exposed_provenance_mut::<u8>(addr as usize);
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: as for `rd`.
            unsafe { core::ptr::write_volatile(p.add(i), *b) };
        }
        true
    }

    fn rd16(&self, addr: u64, what: &str) -> Option<u16> {
        let mut b = [0u8; 2];
        self.rd(addr, &mut b, what).then(|| u16::from_le_bytes(b))
    }

    fn notify(&mut self, queue: u32) {
        self.shared.0.borrow_mut().notifies += 1;
        if queue != 0 {
            self.shared.violation(format!("notify for queue {queue}"));
            return;
        }
        if self.status & status::DRIVER_OK == 0 {
            self.shared.violation("notify before DRIVER_OK".into());
        }
        let q = self.q;
        if self.dead || !q.ready || q.size == 0 {
            return;
        }
        let Some(avail_idx) = self.rd16(q.driver.wrapping_add(2), "avail idx") else { return };
        if avail_idx.wrapping_sub(q.last_avail) > q.size as u16 {
            self.shared.violation(format!(
                "avail idx {avail_idx} is more than {} ahead of {}",
                q.size, q.last_avail
            ));
            return;
        }
        let mut last = q.last_avail;
        let mut used = q.used_idx;
        while last != avail_idx {
            let action = Action::from_script(&mut self.script);
            if !action.honest() {
                self.shared.0.borrow_mut().honest = false;
            }
            match action {
                Action::Defer => break,
                Action::Die => {
                    self.dead = true;
                    break;
                }
                _ => {}
            }
            let slot = u64::from(last) % u64::from(q.size);
            let Some(head) = self.rd16(q.driver.wrapping_add(4 + 2 * slot), "avail ring") else {
                return;
            };
            let written = self.serve(head, action);
            let id = match action {
                Action::WrongId(id) => id,
                _ => u32::from(head),
            };
            let len = match action {
                Action::WrongLen(l) => l,
                _ => written,
            };
            let uslot = u64::from(used) % u64::from(q.size);
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&id.to_le_bytes());
            e[4..].copy_from_slice(&len.to_le_bytes());
            self.wr(q.device.wrapping_add(4 + 8 * uslot), &e, "used ring");
            used = used.wrapping_add(1);
            if let Action::OverrunIndex(n) = action {
                used = used.wrapping_add(n);
            }
            if action == Action::NoNotify {
                self.wr(q.device, &1u16.to_le_bytes(), "used flags");
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            self.wr(q.device.wrapping_add(2), &used.to_le_bytes(), "used idx");
            last = last.wrapping_add(1);
        }
        self.q.last_avail = last;
        self.q.used_idx = used;
    }

    /// Serves the chain at `head` as `action` says; returns the bytes
    /// written into it.
    fn serve(&mut self, head: u16, action: Action) -> u32 {
        self.shared.0.borrow_mut().requests += 1;
        let q = self.q;
        let mut descs: Vec<(u64, u32, bool)> = Vec::new();
        let mut i = head;
        loop {
            if u32::from(i) >= q.size || descs.len() >= q.size as usize {
                self.shared.violation(format!("bad chain at head {head}"));
                return 0;
            }
            let mut d = [0u8; 16];
            if !self.rd(q.desc.wrapping_add(16 * u64::from(i)), &mut d, "descriptor") {
                return 0;
            }
            let addr = u64::from_le_bytes(d[..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(d[8..12].try_into().unwrap_or_default());
            let flags = u16::from_le_bytes([d[12], d[13]]);
            descs.push((addr, len, flags & 2 != 0));
            if flags & 1 == 0 {
                break;
            }
            i = u16::from_le_bytes([d[14], d[15]]);
        }
        let (Some(&(h_addr, h_len, h_w)), Some(&(s_addr, s_len, s_w))) =
            (descs.first(), descs.last())
        else {
            return 0;
        };
        if descs.len() < 2 || h_len != 16 || h_w || s_len != 1 || !s_w {
            self.shared.violation(format!("chain at head {head}: bad header or status shape"));
            return 0;
        }
        let mut hdr = [0u8; 16];
        if !self.rd(h_addr, &mut hdr, "request header") {
            return 0;
        }
        let kind = u32::from_le_bytes(hdr[..4].try_into().unwrap_or_default());
        let sector = u64::from_le_bytes(hdr[8..].try_into().unwrap_or_default());
        let data = descs.get(1..descs.len() - 1).unwrap_or(&[]);
        let total: u64 = data.iter().map(|d| u64::from(d.1)).sum();
        let block = u64::from(if self.driver_features & crate::blk::F_BLK_SIZE != 0 {
            self.blk_size
        } else {
            512
        });
        let mut written = 1u32;
        let st = match kind {
            T_IN | T_OUT => {
                let end = sector.checked_add(total / 512);
                if total == 0
                    || !total.is_multiple_of(block.max(1))
                    || end.is_none_or(|e| e > self.capacity)
                    || data.iter().any(|d| d.2 != (kind == T_IN))
                    || !data.iter().all(|d| self.shared.check(d.0, d.1 as usize, "data"))
                {
                    self.shared.violation(format!(
                        "request {kind} of {total} bytes at sector {sector} \
                         (capacity {}, block {block}) or wrong direction",
                        self.capacity
                    ));
                    return 0;
                }
                if kind == T_IN {
                    let mut content = self.shared.expected(sector, total as usize);
                    if let Action::Junk(b) = action {
                        content.fill(b);
                    }
                    let mut off = 0usize;
                    for &(addr, len, _) in data {
                        let part = content.get(off..off + len as usize).unwrap_or(&[]);
                        if !self.wr(addr, part, "read data") {
                            return 0;
                        }
                        off += len as usize;
                    }
                    written = written.wrapping_add(total as u32);
                } else {
                    let mut all = Vec::new();
                    for &(addr, len, _) in data {
                        let mut b = std::vec![0u8; len as usize];
                        if !self.rd(addr, &mut b, "write data") {
                            return 0;
                        }
                        all.extend_from_slice(&b);
                    }
                    let mut st = self.shared.0.borrow_mut();
                    for (k, c) in all.chunks(512).enumerate() {
                        st.written.insert(sector + k as u64, c.to_vec());
                    }
                }
                0
            }
            T_FLUSH => 0,
            _ => 2,
        };
        let st = match action {
            Action::Status(s) => Some(s),
            Action::NoStatus => None,
            _ => Some(st),
        };
        if let Some(st) = st {
            self.wr(s_addr, &[st], "status byte");
        }
        written
    }
}

impl Transport for HostileBlk {
    fn device_type(&mut self) -> u32 {
        self.device_type
    }
    fn is_legacy(&self) -> bool {
        self.legacy
    }
    fn status(&mut self) -> u8 {
        self.status
    }
    fn set_status(&mut self, status: u8) {
        self.write_status(status)
    }
    fn device_features(&mut self) -> u64 {
        if self.legacy {
            self.features & 0xffff_ffff
        } else {
            self.features
        }
    }
    fn set_driver_features(&mut self, features: u64) {
        self.driver_features = features;
    }
    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error> {
        if self.q.ready {
            return Err(Error::QueueUnavailable(queue));
        }
        Ok(if queue == 0 { self.queue_max } else { 0 })
    }
    fn enable_queue(&mut self, queue: u16, layout: &QueueLayout) -> Result<u32, Error> {
        if queue != 0 {
            self.shared.violation(format!("enable of queue {queue}"));
        }
        self.q = Queue {
            size: u32::from(layout.size),
            desc: layout.desc,
            driver: layout.driver,
            device: layout.device,
            ready: true,
            ..Queue::default()
        };
        if layout.size == 0 || u32::from(layout.size) > self.queue_max {
            self.shared.violation(format!("queue of {} entries", layout.size));
        }
        Ok(0)
    }
    fn notify(&mut self, queue: u16, _token: u32) {
        HostileBlk::notify(self, u32::from(queue))
    }
    fn config_generation(&mut self) -> u32 {
        if self.unstable_generation {
            self.generation = self.generation.wrapping_add(1);
        }
        self.generation
    }
    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error> {
        Ok(self.config(offset, 1) as u8)
    }
    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error> {
        Ok(self.config(offset, 2) as u16)
    }
    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error> {
        Ok(self.config(offset, 4))
    }
    fn read_isr(&mut self) -> u8 {
        0
    }
}

/// virtio-mmio registers (virtio 1.2 §4.2.2, and §4.2.4 for version 1)
/// in front of a [`HostileBlk`], with a fuzzed magic and version.
#[derive(Debug)]
pub struct HostileMmio {
    /// The device behind the registers.
    pub dev: HostileBlk,
    /// `MagicValue`.
    pub magic: u32,
    /// `Version`.
    pub version: u32,
    dev_sel: u32,
    drv_sel: u32,
    queue_sel: u32,
    addrs: [u32; 6],
}

impl HostileMmio {
    /// Registers for `dev`: version 1 when the device is legacy, else 2.
    pub fn new(dev: HostileBlk) -> Self {
        let version = if dev.legacy { 1 } else { 2 };
        Self {
            dev,
            magic: 0x7472_6976,
            version,
            dev_sel: 0,
            drv_sel: 0,
            queue_sel: 0,
            addrs: [0; 6],
        }
    }
}

impl RegisterAccess for HostileMmio {
    fn read_u8(&mut self, offset: usize) -> u8 {
        match offset.checked_sub(0x100) {
            Some(o) => self.dev.config(o as u32, 1) as u8,
            None => 0,
        }
    }
    fn read_u16(&mut self, offset: usize) -> u16 {
        match offset.checked_sub(0x100) {
            Some(o) => self.dev.config(o as u32, 2) as u16,
            None => 0,
        }
    }
    fn read_u32(&mut self, offset: usize) -> u32 {
        let d = &mut self.dev;
        match offset {
            0x000 => self.magic,
            0x004 => self.version,
            0x008 => d.device_type,
            0x00c => 0x554d_4551,
            0x010 => match self.dev_sel {
                0 => d.features as u32,
                1 if !d.legacy => (d.features >> 32) as u32,
                _ => 0,
            },
            0x034 if self.queue_sel == 0 => d.queue_max,
            0x040 => d.q.pfn,
            0x044 => u32::from(d.q.ready),
            0x060 => 0,
            0x070 => u32::from(d.status),
            0x0fc => Transport::config_generation(d),
            o if o >= 0x100 => d.config((o - 0x100) as u32, 4),
            _ => 0,
        }
    }
    fn write_u8(&mut self, _offset: usize, _value: u8) {}
    fn write_u16(&mut self, _offset: usize, _value: u16) {}
    fn write_u32(&mut self, offset: usize, v: u32) {
        let d = &mut self.dev;
        match offset {
            0x014 => self.dev_sel = v,
            0x020 => match self.drv_sel {
                0 => d.driver_features = (d.driver_features & !0xffff_ffff) | u64::from(v),
                1 => d.driver_features = (d.driver_features & 0xffff_ffff) | (u64::from(v) << 32),
                _ => {}
            },
            0x024 => self.drv_sel = v,
            0x028 => d.guest_page_size = v,
            0x030 => self.queue_sel = v,
            0x038 => d.q.size = v,
            0x03c => d.q.align = v,
            0x040 => d.set_pfn(v),
            0x044 => {
                let a = &self.addrs;
                let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
                d.q.desc = join(a[0], a[1]);
                d.q.driver = join(a[2], a[3]);
                d.q.device = join(a[4], a[5]);
                d.q.ready = v != 0;
                d.q.last_avail = 0;
                d.q.used_idx = 0;
            }
            0x050 => d.notify(v),
            0x064 => {}
            0x070 => d.write_status(v as u8),
            0x080 => self.addrs[0] = v,
            0x084 => self.addrs[1] = v,
            0x090 => self.addrs[2] = v,
            0x094 => self.addrs[3] = v,
            0x0a0 => self.addrs[4] = v,
            0x0a4 => self.addrs[5] = v,
            _ => {}
        }
    }
}
