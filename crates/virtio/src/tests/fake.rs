//! A fake virtio-blk device for host tests.
//!
//! [`FakeBlk`] emulates the device side: status and feature registers, one
//! queue, configuration space, and a sparse disk image. When the driver
//! notifies, it walks the split virtqueue in host memory exactly like a
//! device would (available ring → descriptor chains → data → status → used
//! ring) and records what it saw so tests can check request sizes, segment
//! limits and batching.
//!
//! Three front ends share it: [`FakeTransport`] implements `Transport`
//! directly, [`FakeMmio`] emulates the virtio-mmio registers (version 1 or
//! 2) and [`FakePciRegion`] / [`FakePciConfig`] emulate a PCI function with
//! its capabilities, so the real transports are tested end to end too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::vec::Vec;

use crate::blk::{
    CFG_BLK_SIZE, CFG_CAPACITY, CFG_SEG_MAX, CFG_SIZE_MAX, F_RO, F_SEG_MAX, F_SIZE_MAX,
    STATUS_IOERR, STATUS_OK, STATUS_UNSUPP, T_FLUSH, T_IN, T_OUT,
};
use crate::transport::{status, QueueLayout};
use crate::{Dma, Error, PciCapKind, PciConfig, RegisterAccess, Transport, PAGE_SIZE};

pub type Shared = Rc<RefCell<FakeBlk>>;

/// Test allocator: page-aligned host memory; remembers what is live.
#[derive(Debug, Default)]
pub struct HostDma {
    pub live: Vec<(u64, usize)>,
    pub fail: bool,
}

fn page_layout(pages: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE).unwrap()
}

// SAFETY: memory comes zeroed and page-aligned from the host allocator, is
// identity "mapped" (the fake device uses the same addresses) and is only
// handed out once.
unsafe impl Dma for HostDma {
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64> {
        if self.fail {
            return None;
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(page_layout(pages)) };
        if p.is_null() {
            return None;
        }
        let a = p.expose_provenance() as u64;
        self.live.push((a, pages));
        Some(a)
    }

    unsafe fn free_pages(&mut self, addr: u64, pages: usize) {
        let i = self
            .live
            .iter()
            .position(|&l| l == (addr, pages))
            .expect("freeing memory that was not allocated");
        self.live.remove(i);
        // SAFETY: allocated above with the same layout, freed once.
        unsafe {
            std::alloc::dealloc(
                std::ptr::with_exposed_provenance_mut(addr as usize),
                page_layout(pages),
            )
        }
    }
}

impl Drop for HostDma {
    fn drop(&mut self) {
        for (a, p) in std::mem::take(&mut self.live) {
            // SAFETY: still-live allocation from this allocator; the fake
            // device is gone by the time the allocator is dropped in tests.
            unsafe { self.free_pages_inner(a, p) };
        }
    }
}

impl HostDma {
    unsafe fn free_pages_inner(&mut self, addr: u64, pages: usize) {
        // SAFETY: see `free_pages`.
        unsafe {
            std::alloc::dealloc(
                std::ptr::with_exposed_provenance_mut(addr as usize),
                page_layout(pages),
            )
        }
    }
}

// Guest memory as the fake device sees it: host addresses.
fn rd16(a: u64) -> u16 {
    // SAFETY: the driver only gives the device addresses of live host
    // memory (DMA allocations and the caller's buffers).
    unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u16>(a as usize)) }
}
fn rd32(a: u64) -> u32 {
    // SAFETY: as for `rd16`.
    unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u32>(a as usize)) }
}
fn rd64(a: u64) -> u64 {
    // SAFETY: as for `rd16`.
    unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u64>(a as usize)) }
}
fn wr16(a: u64, v: u16) {
    // SAFETY: as for `rd16`.
    unsafe { std::ptr::write_volatile(std::ptr::with_exposed_provenance_mut::<u16>(a as usize), v) }
}
fn wr32(a: u64, v: u32) {
    // SAFETY: as for `rd16`.
    unsafe { std::ptr::write_volatile(std::ptr::with_exposed_provenance_mut::<u32>(a as usize), v) }
}
fn guest_bytes<'a>(a: u64, len: usize) -> &'a mut [u8] {
    // SAFETY: as for `rd16`; the driver does not touch a buffer while the
    // device owns it, and the slice does not outlive the request.
    unsafe {
        std::slice::from_raw_parts_mut(std::ptr::with_exposed_provenance_mut(a as usize), len)
    }
}

/// Content of never-written sector `s`: depends on every bit of the sector
/// number, so a read from the wrong place (e.g. a truncated 64-bit sector)
/// is noticed.
pub fn pattern(s: u64, out: &mut [u8]) {
    let h = (s ^ 0x5555_0000_aaaa).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let h = h ^ (h >> 29);
    for (i, b) in out.iter_mut().enumerate() {
        *b = (h >> ((i % 8) * 8)) as u8 ^ (i / 8) as u8;
    }
}

/// Expected content of `len` bytes starting at 512-byte sector `s`.
pub fn expected(s: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    for (i, c) in v.chunks_mut(512).enumerate() {
        pattern(s + i as u64, c);
    }
    v
}

#[derive(Debug, Default, Clone, Copy)]
pub struct FakeQueue {
    pub size: u32,
    pub desc: u64,
    pub driver: u64,
    pub device: u64,
    pub ready: bool,
    pub last_avail: u16,
    pub used_idx: u16,
    // legacy MMIO
    pub align: u32,
    pub pfn: u32,
}

/// What the device saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub notifies: u64,
    pub requests: u64,
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    /// Most chains made available between two notifications.
    pub max_batch: u16,
    pub max_request_bytes: usize,
    pub max_data_segs: usize,
    pub max_seg_len: u32,
    /// Protocol rules the driver broke (segment limits, chain shape...).
    pub violations: Vec<String>,
    pub resets: u64,
}

#[derive(Debug)]
pub struct FakeBlk {
    // Device description.
    pub device_type: u32,
    pub features: u64,
    pub capacity: u64,
    pub size_max: u32,
    pub seg_max: u32,
    pub blk_size: u32,
    pub queue_max: u32,
    // Behaviour.
    pub complete: bool,
    pub refuse_features_ok: bool,
    /// (sector, status): a request covering `sector` completes with status.
    pub fail_at: Option<(u64, u8)>,
    pub bad_used_id: Option<u32>,
    pub unstable_generation: bool,
    /// Once activated (DRIVER_OK), cannot be reset: as Firecracker 1.16's
    /// virtio-mmio transport, a reset leaves FAILED set.
    pub reset_sets_failed: bool,
    /// Once activated, a reset reads back 0 but every later status change
    /// is ignored: as Firecracker 1.16's virtio-pci transport.
    pub reset_blocks_reinit: bool,
    activated: bool,
    // Driver-visible state.
    pub status: u8,
    pub dev_feat_sel: u32,
    pub drv_feat_sel: u32,
    pub driver_features: u64,
    pub queue_sel: u32,
    pub q: FakeQueue,
    pub guest_page_size: u32,
    pub generation: u32,
    // Image: sectors written by the driver.
    pub written: BTreeMap<u64, Vec<u8>>,
    pub seen: Seen,
}

impl FakeBlk {
    /// A modern block device of `capacity` sectors with VERSION_1 only.
    pub fn new(capacity: u64) -> Self {
        Self {
            device_type: 2,
            features: crate::features::VERSION_1,
            capacity,
            size_max: 0,
            seg_max: 0,
            blk_size: 512,
            queue_max: 256,
            complete: true,
            refuse_features_ok: false,
            fail_at: None,
            bad_used_id: None,
            unstable_generation: false,
            reset_sets_failed: false,
            reset_blocks_reinit: false,
            activated: false,
            status: 0,
            dev_feat_sel: 0,
            drv_feat_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            q: FakeQueue::default(),
            guest_page_size: 0,
            generation: 0,
            written: BTreeMap::new(),
            seen: Seen::default(),
        }
    }

    pub fn shared(self) -> Shared {
        Rc::new(RefCell::new(self))
    }

    pub fn negotiated(&self, f: u64) -> bool {
        self.driver_features & f != 0
    }

    pub fn config_bytes(&self) -> [u8; 60] {
        let mut c = [0u8; 60];
        let at = |o: u32| o as usize;
        c[at(CFG_CAPACITY)..at(CFG_CAPACITY) + 8].copy_from_slice(&self.capacity.to_le_bytes());
        c[at(CFG_SIZE_MAX)..at(CFG_SIZE_MAX) + 4].copy_from_slice(&self.size_max.to_le_bytes());
        c[at(CFG_SEG_MAX)..at(CFG_SEG_MAX) + 4].copy_from_slice(&self.seg_max.to_le_bytes());
        c[at(CFG_BLK_SIZE)..at(CFG_BLK_SIZE) + 4].copy_from_slice(&self.blk_size.to_le_bytes());
        c
    }

    pub fn read_config(&mut self, offset: usize, width: usize) -> u32 {
        let c = self.config_bytes();
        let mut v = 0u32;
        for i in 0..width {
            v |= u32::from(c.get(offset + i).copied().unwrap_or(0)) << (8 * i);
        }
        v
    }

    pub fn config_generation(&mut self) -> u32 {
        if self.unstable_generation {
            self.generation = self.generation.wrapping_add(1);
        }
        self.generation
    }

    pub fn write_status(&mut self, s: u8) {
        if self.activated && self.reset_sets_failed && s == 0 {
            self.status |= status::FAILED;
            return;
        }
        if self.activated && self.reset_blocks_reinit {
            self.status = 0;
            return;
        }
        if s == 0 {
            self.reset();
            return;
        }
        if s & status::DRIVER_OK != 0 {
            self.activated = true;
        }
        let mut s = s;
        if self.refuse_features_ok {
            s &= !status::FEATURES_OK;
        }
        self.status = s;
    }

    pub fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.q = FakeQueue::default();
        self.seen.resets += 1;
    }

    pub fn device_features_word(&self) -> u32 {
        match self.dev_feat_sel {
            0 => self.features as u32,
            1 => (self.features >> 32) as u32,
            _ => 0,
        }
    }

    pub fn write_driver_features_word(&mut self, v: u32) {
        match self.drv_feat_sel {
            0 => self.driver_features = (self.driver_features & !0xffff_ffff) | u64::from(v),
            1 => self.driver_features = (self.driver_features & 0xffff_ffff) | (u64::from(v) << 32),
            _ => {}
        }
    }

    /// Legacy MMIO: derive the ring addresses from QueuePFN.
    pub fn set_pfn(&mut self, pfn: u32) {
        self.q.pfn = pfn;
        if pfn == 0 {
            self.q.ready = false;
            return;
        }
        let n = u64::from(self.q.size);
        let desc = u64::from(pfn) * u64::from(self.guest_page_size);
        let avail = desc + 16 * n;
        let align = u64::from(self.q.align.max(1));
        let used = (avail + 6 + 2 * n).next_multiple_of(align);
        self.q.desc = desc;
        self.q.driver = avail;
        self.q.device = used;
        self.q.ready = true;
    }

    /// The driver notified queue `queue`.
    pub fn notify(&mut self, queue: u32) {
        self.seen.notifies += 1;
        if queue != 0 {
            self.seen.violations.push(format!("notify for queue {queue}"));
            return;
        }
        if self.status & status::DRIVER_OK == 0 {
            self.seen.violations.push("notify before DRIVER_OK".into());
        }
        self.process();
    }

    fn process(&mut self) {
        let q = self.q;
        if !q.ready || q.size == 0 || !self.complete {
            return;
        }
        let avail_idx = rd16(q.driver + 2);
        let batch = avail_idx.wrapping_sub(q.last_avail);
        self.seen.max_batch = self.seen.max_batch.max(batch);
        if rd16(q.driver) & 1 == 0 {
            self.seen.violations.push("VIRTQ_AVAIL_F_NO_INTERRUPT not set".into());
        }
        let mut last = q.last_avail;
        let mut used = q.used_idx;
        while last != avail_idx {
            let slot = u64::from(last) % u64::from(q.size);
            let head = rd16(q.driver + 4 + 2 * slot);
            let written = self.request(head);
            let uslot = u64::from(used) % u64::from(q.size);
            let id = self.bad_used_id.unwrap_or(u32::from(head));
            wr32(q.device + 4 + 8 * uslot, id);
            wr32(q.device + 8 + 8 * uslot, written);
            used = used.wrapping_add(1);
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            wr16(q.device + 2, used);
            last = last.wrapping_add(1);
        }
        self.q.last_avail = last;
        self.q.used_idx = used;
    }

    /// Serves the chain at `head`; returns the bytes written to the chain.
    fn request(&mut self, head: u16) -> u32 {
        let q = self.q;
        let mut descs = Vec::new();
        let mut i = head;
        loop {
            if u32::from(i) >= q.size || descs.len() > q.size as usize {
                self.seen.violations.push(format!("bad chain at head {head}"));
                return 0;
            }
            let d = q.desc + 16 * u64::from(i);
            let (addr, len, flags, next) = (rd64(d), rd32(d + 8), rd16(d + 12), rd16(d + 14));
            descs.push((addr, len, flags & 2 != 0));
            if flags & 1 == 0 {
                break;
            }
            i = next;
        }
        self.seen.requests += 1;
        if descs.len() < 2 {
            self.seen.violations.push("chain shorter than header + status".into());
            return 0;
        }
        let (h_addr, h_len, h_w) = descs[0];
        let (s_addr, s_len, s_w) = descs[descs.len() - 1];
        if h_len != 16 || h_w || s_len != 1 || !s_w {
            self.seen.violations.push("header/status descriptor shape".into());
            return 0;
        }
        let kind = rd32(h_addr);
        let sector = rd64(h_addr + 8);
        let data = &descs[1..descs.len() - 1];
        self.seen.max_data_segs = self.seen.max_data_segs.max(data.len());
        if self.negotiated(F_SEG_MAX) && data.len() > self.seg_max as usize {
            self.seen.violations.push(format!("{} segments > seg_max", data.len()));
        }
        for &(_, len, _) in data {
            self.seen.max_seg_len = self.seen.max_seg_len.max(len);
            if self.negotiated(F_SIZE_MAX) && len > self.size_max {
                self.seen.violations.push(format!("segment of {len} > size_max"));
            }
        }
        let total: usize = data.iter().map(|d| d.1 as usize).sum();
        self.seen.max_request_bytes = self.seen.max_request_bytes.max(total);

        let in_range = total.is_multiple_of(512)
            && sector.checked_add(total as u64 / 512).is_some_and(|end| end <= self.capacity);
        let failing = self.fail_at.filter(|&(s, _)| {
            s >= sector && s < sector + (total as u64 / 512).max(1) && kind != T_FLUSH
        });
        let mut written = 1u32;
        let st = match kind {
            _ if failing.is_some() => failing.map_or(STATUS_IOERR, |f| f.1),
            T_IN => {
                self.seen.reads += 1;
                if data.iter().any(|d| !d.2) {
                    self.seen.violations.push("read into device-readable buffer".into());
                }
                if in_range {
                    self.fill(sector, data);
                    written += total as u32;
                    STATUS_OK
                } else {
                    STATUS_IOERR
                }
            }
            T_OUT => {
                self.seen.writes += 1;
                if data.iter().any(|d| d.2) {
                    self.seen.violations.push("write from device-writable buffer".into());
                }
                if self.negotiated(F_RO) {
                    self.seen.violations.push("write to a read-only device".into());
                    STATUS_IOERR
                } else if in_range {
                    self.store(sector, data);
                    STATUS_OK
                } else {
                    STATUS_IOERR
                }
            }
            T_FLUSH => {
                self.seen.flushes += 1;
                STATUS_OK
            }
            _ => STATUS_UNSUPP,
        };
        guest_bytes(s_addr, 1)[0] = st;
        written
    }

    fn sector_content(&self, s: u64, out: &mut [u8]) {
        match self.written.get(&s) {
            Some(d) => out.copy_from_slice(d),
            None => pattern(s, out),
        }
    }

    fn fill(&self, sector: u64, data: &[(u64, u32, bool)]) {
        // Stream the sectors across the segments, which need not be whole
        // sectors each.
        let mut s = sector;
        let mut buf = [0u8; 512];
        let mut used = 512usize;
        for &(addr, len, _) in data {
            let dst = guest_bytes(addr, len as usize);
            let mut off = 0;
            while off < dst.len() {
                if used == 512 {
                    self.sector_content(s, &mut buf);
                    s += 1;
                    used = 0;
                }
                let n = (512 - used).min(dst.len() - off);
                dst[off..off + n].copy_from_slice(&buf[used..used + n]);
                used += n;
                off += n;
            }
        }
    }

    fn store(&mut self, sector: u64, data: &[(u64, u32, bool)]) {
        let mut all = Vec::new();
        for &(addr, len, _) in data {
            all.extend_from_slice(guest_bytes(addr, len as usize));
        }
        for (i, c) in all.chunks(512).enumerate() {
            self.written.insert(sector + i as u64, c.to_vec());
        }
    }
}

/// `Transport` straight onto the fake device.
#[derive(Debug)]
pub struct FakeTransport {
    pub dev: Shared,
    pub legacy: bool,
}

impl FakeTransport {
    pub fn new(dev: &Shared) -> Self {
        Self { dev: dev.clone(), legacy: false }
    }
}

impl Transport for FakeTransport {
    fn device_type(&mut self) -> u32 {
        self.dev.borrow().device_type
    }
    fn is_legacy(&self) -> bool {
        self.legacy
    }
    fn status(&mut self) -> u8 {
        self.dev.borrow().status
    }
    fn set_status(&mut self, status: u8) {
        self.dev.borrow_mut().write_status(status)
    }
    fn device_features(&mut self) -> u64 {
        self.dev.borrow().features
    }
    fn set_driver_features(&mut self, features: u64) {
        self.dev.borrow_mut().driver_features = features;
    }
    fn queue_max_size(&mut self, queue: u16) -> Result<u32, Error> {
        let d = self.dev.borrow();
        if d.q.ready {
            return Err(Error::QueueUnavailable(queue));
        }
        Ok(if queue == 0 { d.queue_max } else { 0 })
    }
    fn enable_queue(&mut self, _queue: u16, layout: &QueueLayout) -> Result<u32, Error> {
        let mut d = self.dev.borrow_mut();
        d.q.size = u32::from(layout.size);
        d.q.desc = layout.desc;
        d.q.driver = layout.driver;
        d.q.device = layout.device;
        d.q.ready = true;
        Ok(0)
    }
    fn notify(&mut self, queue: u16, _token: u32) {
        self.dev.borrow_mut().notify(u32::from(queue))
    }
    fn config_generation(&mut self) -> u32 {
        self.dev.borrow_mut().config_generation()
    }
    fn read_config_u8(&mut self, offset: u32) -> Result<u8, Error> {
        Ok(self.dev.borrow_mut().read_config(offset as usize, 1) as u8)
    }
    fn read_config_u16(&mut self, offset: u32) -> Result<u16, Error> {
        Ok(self.dev.borrow_mut().read_config(offset as usize, 2) as u16)
    }
    fn read_config_u32(&mut self, offset: u32) -> Result<u32, Error> {
        Ok(self.dev.borrow_mut().read_config(offset as usize, 4))
    }
    fn read_isr(&mut self) -> u8 {
        0
    }
}

/// Generic register-file glue: every fake implements width-tagged reads and
/// writes.
trait FakeRegs {
    fn read(&mut self, offset: usize, width: usize) -> u32;
    fn write(&mut self, offset: usize, width: usize, value: u32);
}

macro_rules! regs_via_fake {
    ($t:ty) => {
        impl RegisterAccess for $t {
            fn read_u8(&mut self, offset: usize) -> u8 {
                self.read(offset, 1) as u8
            }
            fn read_u16(&mut self, offset: usize) -> u16 {
                self.read(offset, 2) as u16
            }
            fn read_u32(&mut self, offset: usize) -> u32 {
                self.read(offset, 4)
            }
            fn write_u8(&mut self, offset: usize, value: u8) {
                self.write(offset, 1, u32::from(value))
            }
            fn write_u16(&mut self, offset: usize, value: u16) {
                self.write(offset, 2, u32::from(value))
            }
            fn write_u32(&mut self, offset: usize, value: u32) {
                self.write(offset, 4, value)
            }
        }
    };
}

/// virtio-mmio registers (version 1 or 2) in front of the fake device.
#[derive(Debug)]
pub struct FakeMmio {
    pub dev: Shared,
    pub magic: u32,
    pub version: u32,
    /// Every register write, in order: (offset, value).
    pub log: Rc<RefCell<Vec<(usize, u32)>>>,
}

impl FakeMmio {
    pub fn new(dev: &Shared, version: u32) -> Self {
        Self { dev: dev.clone(), magic: 0x7472_6976, version, log: Rc::default() }
    }
}

impl FakeRegs for FakeMmio {
    fn read(&mut self, offset: usize, width: usize) -> u32 {
        let mut d = self.dev.borrow_mut();
        if offset >= 0x100 {
            return d.read_config(offset - 0x100, width);
        }
        assert_eq!(width, 4, "virtio-mmio registers are 32-bit");
        match offset {
            0x000 => self.magic,
            0x004 => self.version,
            0x008 => d.device_type,
            0x00c => 0x554d_4551,
            0x010 => d.device_features_word(),
            0x034 => {
                if d.queue_sel == 0 {
                    d.queue_max
                } else {
                    0
                }
            }
            0x040 if self.version == 1 => d.q.pfn,
            0x044 if self.version == 2 => u32::from(d.q.ready),
            0x060 => 0,
            0x070 => u32::from(d.status),
            0x0fc if self.version == 2 => d.config_generation(),
            _ => panic!("read of unexpected register {offset:#x} (v{})", self.version),
        }
    }

    fn write(&mut self, offset: usize, width: usize, v: u32) {
        assert_eq!(width, 4, "virtio-mmio registers are 32-bit");
        self.log.borrow_mut().push((offset, v));
        let mut d = self.dev.borrow_mut();
        let lo = |old: u64| (old & !0xffff_ffff) | u64::from(v);
        let hi = |old: u64| (old & 0xffff_ffff) | (u64::from(v) << 32);
        match (offset, self.version) {
            (0x014, _) => d.dev_feat_sel = v,
            (0x020, _) => d.write_driver_features_word(v),
            (0x024, _) => d.drv_feat_sel = v,
            (0x028, 1) => d.guest_page_size = v,
            (0x030, _) => d.queue_sel = v,
            (0x038, _) => d.q.size = v,
            (0x03c, 1) => d.q.align = v,
            (0x040, 1) => d.set_pfn(v),
            (0x044, 2) => d.q.ready = v != 0,
            (0x050, _) => d.notify(v),
            (0x064, _) => {}
            (0x070, _) => d.write_status(v as u8),
            (0x080, 2) => d.q.desc = lo(d.q.desc),
            (0x084, 2) => d.q.desc = hi(d.q.desc),
            (0x090, 2) => d.q.driver = lo(d.q.driver),
            (0x094, 2) => d.q.driver = hi(d.q.driver),
            (0x0a0, 2) => d.q.device = lo(d.q.device),
            (0x0a4, 2) => d.q.device = hi(d.q.device),
            _ => panic!("write of unexpected register {offset:#x} (v{})", self.version),
        }
    }
}

regs_via_fake!(FakeMmio);

/// One virtio structure of the fake PCI device.
#[derive(Debug)]
pub struct FakePciRegion {
    pub dev: Shared,
    pub kind: PciCapKind,
    /// Byte offset in the notify region the device expects for queue 0.
    pub notify_at: usize,
}

impl FakeRegs for FakePciRegion {
    fn read(&mut self, offset: usize, width: usize) -> u32 {
        let mut d = self.dev.borrow_mut();
        match self.kind {
            PciCapKind::Common => match (offset, width) {
                (0x04, 4) => d.device_features_word(),
                (0x12, 2) => 1,
                (0x14, 1) => u32::from(d.status),
                (0x15, 1) => d.config_generation(),
                (0x18, 2) => {
                    if d.queue_sel != 0 {
                        0
                    } else if d.q.size != 0 {
                        d.q.size
                    } else {
                        d.queue_max
                    }
                }
                (0x1c, 2) => u32::from(d.q.ready),
                // queue_notify_off: the test's multiplier times this lands
                // on `notify_at`.
                (0x1e, 2) => 3,
                _ => panic!("common cfg read {offset:#x}/{width}"),
            },
            PciCapKind::Isr => 0,
            PciCapKind::Device => d.read_config(offset, width),
            PciCapKind::Notify => panic!("read of notify region"),
        }
    }

    fn write(&mut self, offset: usize, width: usize, v: u32) {
        let mut d = self.dev.borrow_mut();
        let lo = |old: u64| (old & !0xffff_ffff) | u64::from(v);
        let hi = |old: u64| (old & 0xffff_ffff) | (u64::from(v) << 32);
        match self.kind {
            PciCapKind::Common => match (offset, width) {
                (0x00, 4) => d.dev_feat_sel = v,
                (0x08, 4) => d.drv_feat_sel = v,
                (0x0c, 4) => d.write_driver_features_word(v),
                (0x14, 1) => d.write_status(v as u8),
                (0x16, 2) => d.queue_sel = v,
                (0x18, 2) => d.q.size = v,
                (0x1c, 2) => d.q.ready = v != 0,
                (0x20, 4) => d.q.desc = lo(d.q.desc),
                (0x24, 4) => d.q.desc = hi(d.q.desc),
                (0x28, 4) => d.q.driver = lo(d.q.driver),
                (0x2c, 4) => d.q.driver = hi(d.q.driver),
                (0x30, 4) => d.q.device = lo(d.q.device),
                (0x34, 4) => d.q.device = hi(d.q.device),
                _ => panic!("common cfg write {offset:#x}/{width}"),
            },
            PciCapKind::Notify => {
                assert_eq!((offset, width), (self.notify_at, 2), "notify address");
                d.notify(v);
            }
            _ => panic!("write to {:?} region", self.kind),
        }
    }
}

regs_via_fake!(FakePciRegion);

/// A type-0 PCI configuration space built byte by byte.
#[derive(Debug, Clone)]
pub struct FakePciConfig {
    pub space: [u8; 256],
    pub writes: Vec<(u8, u32)>,
}

impl FakePciConfig {
    /// vendor/device ids, capability list bit set, list starting at 0x40.
    pub fn new(vendor: u16, device: u16) -> Self {
        let mut c = Self { space: [0; 256], writes: Vec::new() };
        c.put16(0x00, vendor);
        c.put16(0x02, device);
        c.put16(0x06, 1 << 4);
        c.space[0x34] = 0x40;
        c
    }

    pub fn put16(&mut self, at: usize, v: u16) {
        self.space[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    pub fn put32(&mut self, at: usize, v: u32) {
        self.space[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A virtio capability at `at` linking to `next`.
    #[allow(clippy::too_many_arguments)]
    pub fn virtio_cap(
        &mut self,
        at: usize,
        next: u8,
        cfg_type: u8,
        bar: u8,
        offset: u32,
        length: u32,
        multiplier: Option<u32>,
    ) {
        let len = if multiplier.is_some() { 20 } else { 16 };
        self.space[at] = 0x09;
        self.space[at + 1] = next;
        self.space[at + 2] = len;
        self.space[at + 3] = cfg_type;
        self.space[at + 4] = bar;
        self.put32(at + 8, offset);
        self.put32(at + 12, length);
        if let Some(m) = multiplier {
            self.put32(at + 16, m);
        }
    }
}

impl PciConfig for FakePciConfig {
    fn read_u32(&mut self, offset: u8) -> u32 {
        assert_eq!(offset % 4, 0);
        let o = usize::from(offset);
        u32::from_le_bytes(self.space[o..o + 4].try_into().unwrap())
    }
    fn write_u32(&mut self, offset: u8, value: u32) {
        self.writes.push((offset, value));
        if offset == 0x04 {
            // Command register is RW; status bits here are RW1C.
            let o = usize::from(offset);
            self.space[o..o + 2].copy_from_slice(&(value as u16).to_le_bytes());
        }
    }
}

/// Allocator of memory below 16 TiB, for the legacy virtio-mmio queue whose
/// 32-bit page number cannot reach the host heap's addresses. Uses the C
/// library's `mmap` (std links it anyway) with a fixed low address.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct LowDma {
    next: usize,
    pub live: Vec<(u64, usize)>,
}

#[cfg(target_os = "linux")]
mod sys {
    use core::ffi::c_void;
    extern "C" {
        pub fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: i32,
            flags: i32,
            fd: i32,
            off: i64,
        ) -> *mut c_void;
        pub fn munmap(addr: *mut c_void, len: usize) -> i32;
    }
    pub const PROT_READ: i32 = 1;
    pub const PROT_WRITE: i32 = 2;
    pub const MAP_PRIVATE: i32 = 0x02;
    pub const MAP_ANONYMOUS: i32 = 0x20;
    pub const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;
}

#[cfg(target_os = "linux")]
impl LowDma {
    pub fn new() -> Self {
        Self {
            next: 0x40_0000_0000, // 256 GiB
            live: Vec::new(),
        }
    }
}

#[cfg(target_os = "linux")]
// SAFETY: fresh anonymous mappings are zeroed, page-aligned, used by nothing
// else, and (as host memory) their address is what the fake device uses.
unsafe impl Dma for LowDma {
    fn alloc_zeroed_pages(&mut self, pages: usize) -> Option<u64> {
        let len = pages * PAGE_SIZE;
        for _ in 0..64 {
            let want = self.next;
            self.next += len + 16 * PAGE_SIZE;
            // SAFETY: a new private anonymous mapping at an address that no
            // mapping occupies (NOREPLACE); nothing else is affected.
            let p = unsafe {
                sys::mmap(
                    std::ptr::with_exposed_provenance_mut(want),
                    len,
                    sys::PROT_READ | sys::PROT_WRITE,
                    sys::MAP_PRIVATE | sys::MAP_ANONYMOUS | sys::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            let a = p.expose_provenance();
            if a == want {
                self.live.push((a as u64, pages));
                return Some(a as u64);
            }
            if a != usize::MAX {
                // An old kernel took the address as a hint only.
                // SAFETY: unmapping the mapping just made.
                unsafe { sys::munmap(p, len) };
            }
        }
        None
    }

    unsafe fn free_pages(&mut self, addr: u64, pages: usize) {
        let i = self
            .live
            .iter()
            .position(|&l| l == (addr, pages))
            .expect("freeing memory that was not allocated");
        self.live.remove(i);
        // SAFETY: a mapping made above, unmapped once.
        unsafe {
            sys::munmap(std::ptr::with_exposed_provenance_mut(addr as usize), pages * PAGE_SIZE)
        };
    }
}
