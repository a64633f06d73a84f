//! virtio-blk driver (virtio 1.2 §5.2), polling, generic over transport
//! and DMA allocator.
//!
//! Features: VERSION_1 (required on non-legacy transports), and, only when
//! the device offers them, SIZE_MAX, SEG_MAX, RO, BLK_SIZE and FLUSH. Nothing
//! else is accepted, so the device never expects behaviour this driver
//! does not implement.
//!
//! Units: `capacity` and the request header's `sector` are always 512-byte
//! sectors (§5.2.4, §5.2.6); the logical block size reported by
//! [`VirtioBlk::block_size`] is `blk_size` when BLK_SIZE was negotiated,
//! else 512, and LBAs given to [`VirtioBlk::read`] are in those blocks.
//!
//! Requests (§5.2.6): each is a chain of a 16-byte device-readable header,
//! one or more data descriptors pointing straight into the caller's buffer
//! (each at most `size_max` bytes, at most `seg_max` of them) and a one-byte
//! device-writable status. A large buffer is cut into requests of
//! [`VirtioBlk::max_request_bytes`]; the driver fills the queue, notifies
//! once, reaps whatever completed, refills, and so on, and checks every
//! status byte. Headers and status bytes live in a DMA page indexed by the
//! chain's head descriptor.
//!
//! Failure: a request error is reported after every other request in
//! flight has been reaped, so the device is finished with the caller's
//! buffer when the call returns. If the device stops answering (spin limit)
//! or corrupts the used ring, the driver resets it, so it stops writing
//! guest memory, and refuses further I/O with [`Error::Stopped`].

use crate::dma::DmaRegion;
use crate::queue::{Segment, VirtQueue, QUEUE_SIZE_LIMIT};
use crate::transport::features::VERSION_1;
use crate::{Dma, Error, Transport, DEVICE_TYPE_BLOCK, PAGE_SIZE};

/// Request completed successfully.
pub(crate) const STATUS_OK: u8 = 0;
/// Request failed with an I/O error.
pub(crate) const STATUS_IOERR: u8 = 1;
/// Request type not supported.
pub(crate) const STATUS_UNSUPP: u8 = 2;
/// Written into the status byte before submission, so that a device that
/// "completes" without writing it is caught.
const STATUS_UNSET: u8 = 0xff;

pub(crate) const T_IN: u32 = 0;
pub(crate) const T_OUT: u32 = 1;
pub(crate) const T_FLUSH: u32 = 4;

/// Maximum size of any single segment is in `size_max`.
pub(crate) const F_SIZE_MAX: u64 = 1 << 1;
/// Maximum number of segments in a request is in `seg_max`.
pub(crate) const F_SEG_MAX: u64 = 1 << 2;
/// The device is read-only.
pub(crate) const F_RO: u64 = 1 << 5;
/// The logical block size is in `blk_size`.
pub(crate) const F_BLK_SIZE: u64 = 1 << 6;
/// Cache flush command support.
pub(crate) const F_FLUSH: u64 = 1 << 9;

const SUPPORTED_FEATURES: u64 = VERSION_1 | F_SIZE_MAX | F_SEG_MAX | F_RO | F_BLK_SIZE | F_FLUSH;

// struct virtio_blk_config (§5.2.4).
pub(crate) const CFG_CAPACITY: u32 = 0;
pub(crate) const CFG_SIZE_MAX: u32 = 8;
pub(crate) const CFG_SEG_MAX: u32 = 12;
pub(crate) const CFG_BLK_SIZE: u32 = 20;

const SECTOR: u32 = 512;
const HEADER_LEN: usize = 16;
/// Largest logical block size accepted from a device.
const MAX_BLOCK_SIZE: u32 = 64 * 1024;

/// Tuning knobs for [`VirtioBlk::new`]. Not comparable: it holds a
/// function pointer, and those compare unpredictably.
#[derive(Debug, Clone, Copy)]
pub struct BlkOptions {
    /// How many times to poll the used index (or the status register during
    /// a reset) before giving up with [`Error::NotResponding`]. The firmware
    /// picks it from its timer calibration; the default is about 2^30
    /// polls, seconds on any machine.
    pub spin_limit: u32,
    /// How many times to read the status register back after writing 0
    /// (reset, §2.4) before giving up with [`Error::NotResponding`]. Every
    /// read is a VM exit, so this is much smaller than `spin_limit`; devices
    /// in practice read back 0 at once.
    pub reset_spin_limit: u32,
    /// Upper bound on the data of one request, in bytes (the device's
    /// `seg_max × size_max` bounds it further). Requests of this size keep
    /// several in flight so the host can work on them in parallel while the
    /// number of notifications stays one per batch.
    pub max_request_bytes: u32,
    /// Upper bound on the queue size (at most [`QUEUE_SIZE_LIMIT`]).
    pub queue_size: u16,
    /// A monotonic counter, read before and after each wait for the used
    /// ring so that [`Stats::wait_ticks`] says how long the driver waited
    /// on the device (the firmware separates waiting from work with it).
    /// `None`: no time is taken.
    pub clock: Option<fn() -> u64>,
}

impl Default for BlkOptions {
    fn default() -> Self {
        Self {
            spin_limit: 1 << 30,
            reset_spin_limit: 1 << 16,
            max_request_bytes: 1024 * 1024,
            queue_size: QUEUE_SIZE_LIMIT,
            clock: None,
        }
    }
}

/// Counters for the benchmark: what the driver asked of the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests submitted (reads, writes and flushes).
    pub requests: u64,
    /// Data bytes those requests carried.
    pub bytes: u64,
    /// Notifications written to the device.
    pub notifies: u64,
    /// Ticks of [`BlkOptions::clock`] spent polling the used ring (0
    /// without a clock): time the device took, not the driver.
    pub wait_ticks: u64,
}

/// Everything the driver needs while requests run; separate from the
/// transport and allocator so the borrows stay disjoint.
#[derive(Debug)]
struct Live {
    queue: VirtQueue,
    /// Request headers at `head * 16`, status bytes at `status_off + head`.
    req: DmaRegion,
    status_off: usize,
    /// First sector of the request whose chain starts at each head, for
    /// error reports.
    sectors: [u64; QUEUE_SIZE_LIMIT as usize],
}

/// A virtio block device.
#[derive(Debug)]
pub struct VirtioBlk<T: Transport, D: Dma> {
    transport: T,
    dma: D,
    live: Option<Live>,
    features: u64,
    capacity: u64,
    block_size: u32,
    sectors_per_block: u64,
    num_blocks: u64,
    seg_size: u32,
    max_request: u32,
    spin_limit: u32,
    reset_spin_limit: u32,
    clock: Option<fn() -> u64>,
    stats: Stats,
}

/// How a request's status byte reads as a result.
fn status_result(status: u8, sector: u64) -> Result<(), Error> {
    match status {
        STATUS_OK => Ok(()),
        STATUS_IOERR => Err(Error::IoError { sector }),
        STATUS_UNSUPP => Err(Error::Unsupported { sector }),
        status => Err(Error::BadStatus { status, sector }),
    }
}

/// Device limits, as read from configuration space.
struct Limits {
    capacity: u64,
    block_size: u32,
    size_max: u32,
    seg_max: u32,
}

fn read_limits<T: Transport>(t: &mut T, features: u64) -> Result<Limits, Error> {
    let capacity = t.read_config_u64(CFG_CAPACITY)?;
    let block_size = if features & F_BLK_SIZE != 0 {
        let b = t.read_config_u32(CFG_BLK_SIZE)?;
        if !b.is_power_of_two() || !(SECTOR..=MAX_BLOCK_SIZE).contains(&b) {
            return Err(Error::InvalidBlockSize(b));
        }
        b
    } else {
        SECTOR
    };
    let size_max = if features & F_SIZE_MAX != 0 { t.read_config_u32(CFG_SIZE_MAX)? } else { 0 };
    let seg_max = if features & F_SEG_MAX != 0 { t.read_config_u32(CFG_SEG_MAX)? } else { 0 };
    Ok(Limits { capacity, block_size, size_max, seg_max })
}

impl<T: Transport, D: Dma> VirtioBlk<T, D> {
    /// Initialises the block device behind `transport` (§3.1.1): reset,
    /// feature negotiation, configuration, queue 0, DRIVER_OK.
    ///
    /// On failure before the queue exists the device is marked FAILED
    /// (§3.1.1); once the device knows the queue's memory, a failure resets
    /// it instead, so it never keeps pointers into memory the firmware
    /// reuses. Either way the OS resets and probes it afresh.
    pub fn new(mut transport: T, mut dma: D, options: BlkOptions) -> Result<Self, Error> {
        let found = transport.device_type();
        if found != DEVICE_TYPE_BLOCK {
            return Err(Error::WrongDeviceType { expected: DEVICE_TYPE_BLOCK, found });
        }
        let reset_spin_limit = options.reset_spin_limit;
        let features = transport.negotiate(SUPPORTED_FEATURES, 0, reset_spin_limit)?;
        let limits = match read_limits(&mut transport, features) {
            Ok(l) => l,
            Err(e) => {
                transport.fail();
                return Err(e);
            }
        };

        let queue = VirtQueue::new(&mut transport, &mut dma, 0, options.queue_size);
        let queue = match queue {
            Ok(q) => q,
            Err(e) => {
                transport.fail();
                return Err(e);
            }
        };
        let mut blk = Self {
            transport,
            dma,
            live: None,
            features,
            capacity: limits.capacity,
            block_size: limits.block_size,
            sectors_per_block: u64::from(limits.block_size / SECTOR),
            num_blocks: limits.capacity / u64::from(limits.block_size / SECTOR),
            seg_size: 0,
            max_request: 0,
            spin_limit: options.spin_limit,
            reset_spin_limit,
            clock: options.clock,
            stats: Stats::default(),
        };
        // From here on, failures go through `Drop`, which resets the device
        // before it frees the queue.
        let size = usize::from(queue.size());
        let status_off = size * HEADER_LEN;
        let req = DmaRegion::alloc(&mut blk.dma, (status_off + size).div_ceil(PAGE_SIZE));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                if blk.transport.reset(reset_spin_limit).is_ok() {
                    // SAFETY: the device is reset, so it no longer knows
                    // the rings.
                    unsafe { queue.free(&mut blk.dma) };
                }
                return Err(e);
            }
        };
        blk.set_limits(&limits, queue.size(), options.max_request_bytes);
        blk.live = Some(Live { queue, req, status_off, sectors: [0; QUEUE_SIZE_LIMIT as usize] });
        if blk.max_request == 0 {
            return Err(Error::DeviceLimits);
        }
        blk.transport.driver_ok()?;
        Ok(blk)
    }

    /// Derives segment and request sizes from the device limits.
    fn set_limits(&mut self, limits: &Limits, queue_size: u16, max_request_bytes: u32) {
        let block = u64::from(self.block_size);
        let wanted = u64::from(max_request_bytes).max(block);
        // A chain is header + data segments + status, and must fit the
        // queue. `seg_max` 0 means no limit was reported; like Linux we
        // then assume a single data segment.
        let segs = match limits.seg_max {
            0 => 1,
            n => n.min(u32::from(queue_size) - 2),
        };
        // `size_max` 0 means no per-segment limit; otherwise round down to
        // whole sectors where possible, so segments do not split sectors.
        let seg_size = match limits.size_max {
            0 => wanted,
            n if n >= SECTOR => u64::from(n & !(SECTOR - 1)),
            n => u64::from(n),
        };
        let max = wanted.min(seg_size * u64::from(segs)).min(u64::from(u32::MAX));
        self.max_request = (max - max % block) as u32;
        self.seg_size = seg_size.min(u64::from(u32::MAX)) as u32;
    }

    /// Size of a logical block in bytes: `blk_size` if the device reported
    /// one (BLK_SIZE), else 512.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Capacity in 512-byte sectors, as the device reports it.
    pub fn capacity_sectors(&self) -> u64 {
        self.capacity
    }

    /// Number of logical blocks.
    pub fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    /// Whether the device is read-only (RO negotiated).
    pub fn read_only(&self) -> bool {
        self.features & F_RO != 0
    }

    /// The negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Data bytes per request: the most the device's limits and
    /// [`BlkOptions::max_request_bytes`] allow, in whole blocks.
    pub fn max_request_bytes(&self) -> u32 {
        self.max_request
    }

    /// Largest data segment (descriptor) the driver builds.
    pub fn max_segment_bytes(&self) -> u32 {
        self.seg_size
    }

    /// Size of the request queue, 0 once the driver is stopped.
    pub fn queue_size(&self) -> u16 {
        self.live.as_ref().map_or(0, |l| l.queue.size())
    }

    /// Requests, bytes and notifications so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The transport, e.g. to read more configuration.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn check(&self, lba: u64, len: usize) -> Result<(), Error> {
        vmfw_block::check_range(self.block_size, self.num_blocks, lba, len).map(|_| ()).map_err(
            |e| match e {
                vmfw_block::Error::UnalignedBuffer => Error::UnalignedBuffer,
                _ => Error::OutOfRange,
            },
        )
    }

    /// Reads `buf.len() / block_size()` blocks starting at `lba` straight
    /// into `buf`, with as few requests as the device allows.
    pub fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check(lba, buf.len())?;
        let addr = buf.as_mut_ptr().expose_provenance() as u64;
        // SAFETY: `buf` is exclusively borrowed for the whole call, and
        // `transfer` returns only after every request has completed or the
        // device has been reset, so the device writes `buf` only while no
        // Rust code can observe it.
        unsafe { self.transfer(T_IN, lba, addr, buf.len()) }
    }

    /// Writes whole blocks from `buf` starting at `lba`.
    pub fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        if self.read_only() {
            return Err(Error::ReadOnly);
        }
        self.check(lba, buf.len())?;
        let addr = buf.as_ptr().expose_provenance() as u64;
        // SAFETY: the device only reads `buf` (data descriptors are not
        // device-writable for writes), and `buf` is borrowed until every
        // request has completed or the device has been reset.
        unsafe { self.transfer(T_OUT, lba, addr, buf.len()) }
    }

    /// Asks the device to write its cache to stable storage. Does nothing
    /// when FLUSH was not negotiated (the device then has no volatile
    /// cache to flush, §5.2.6.2), but fails with [`Error::Stopped`] after
    /// a reset, as every I/O call does.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.live.is_none() {
            return Err(Error::Stopped);
        }
        if self.features & F_FLUSH == 0 {
            return Ok(());
        }
        // SAFETY: a flush carries no data segments.
        unsafe { self.transfer(T_FLUSH, 0, 0, 0) }
    }

    /// Runs requests of type `kind` over `len` bytes at `addr` (one request
    /// without data for a flush), then reaps all of them.
    ///
    /// # Safety
    ///
    /// `addr..addr + len` must be memory the device may access as `kind`
    /// implies until this returns, and that no Rust code accesses meanwhile.
    unsafe fn transfer(&mut self, kind: u32, lba: u64, addr: u64, len: usize) -> Result<(), Error> {
        let Some(live) = self.live.as_mut() else {
            return Err(Error::Stopped);
        };
        let sector = lba.checked_mul(self.sectors_per_block).ok_or(Error::OutOfRange)?;
        let job = Job {
            kind,
            sector,
            addr,
            len,
            seg_size: self.seg_size as usize,
            max_request: self.max_request as usize,
            spin_limit: self.spin_limit,
            clock: self.clock,
        };
        // SAFETY: forwarded from the caller.
        match unsafe { job.run(live, &mut self.transport, &mut self.stats) } {
            Ok(result) => result,
            Err(fatal) => {
                // The device is lost or lying: stop it before the caller
                // gets its buffer back, and refuse further I/O.
                // The reset's own failure is secondary to `fatal`.
                let _ = self.stop();
                Err(fatal)
            }
        }
    }

    /// Resets the device and, once it has read back status 0, frees the
    /// queue memory. If the device never acknowledges the reset, the memory
    /// is leaked rather than handed out while a device may still write it.
    fn stop(&mut self) -> Result<(), Error> {
        let reset = self.transport.reset(self.reset_spin_limit);
        if let Some(live) = self.live.take() {
            if reset.is_ok() {
                // SAFETY: the device is reset, so it no longer accesses the
                // rings or the request headers.
                unsafe {
                    live.queue.free(&mut self.dma);
                    live.req.free(&mut self.dma);
                }
            }
        }
        reset
    }

    /// Quiesces the device before the OS takes over: resets it (status 0,
    /// §2.4), waits for it to read back 0 and frees the queue memory, so the
    /// OS probes a fresh device. Afterwards every I/O call fails with
    /// [`Error::Stopped`]. Then checks that the device can be initialised
    /// again ([`Transport::check_reinit`]), which is what the OS will do.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.stop()?;
        self.transport.check_reinit(self.reset_spin_limit)
    }
}

/// One read, write or flush in progress.
struct Job {
    kind: u32,
    sector: u64,
    addr: u64,
    len: usize,
    seg_size: usize,
    max_request: usize,
    spin_limit: u32,
    clock: Option<fn() -> u64>,
}

impl Job {
    /// Submits and reaps all requests of the job. The outer error is fatal
    /// (the device must be stopped); the inner result is the first request
    /// error, reported once everything in flight has been reaped.
    ///
    /// # Safety
    ///
    /// As for [`VirtioBlk::transfer`].
    unsafe fn run<T: Transport + ?Sized>(
        &self,
        live: &mut Live,
        transport: &mut T,
        stats: &mut Stats,
    ) -> Result<Result<(), Error>, Error> {
        let device_writes = self.kind == T_IN;
        let mut done = 0usize;
        let mut sector = self.sector;
        let mut flush_pending = self.kind == T_FLUSH;
        let mut first_err: Option<Error> = None;
        loop {
            // Fill the queue.
            while (done < self.len || flush_pending) && first_err.is_none() {
                let chunk = (self.len - done).min(self.max_request);
                let segs = chunk.div_ceil(self.seg_size.max(1));
                let Some(head) = live.queue.next_head() else {
                    break;
                };
                if usize::from(live.queue.num_free()) < segs + 2 {
                    break;
                }
                let h = usize::from(head);
                let hdr_off = h * HEADER_LEN;
                live.req.write_u32(hdr_off, self.kind);
                live.req.write_u32(hdr_off + 4, 0);
                live.req.write_u64(hdr_off + 8, sector);
                live.req.write_u8(live.status_off + h, STATUS_UNSET);
                // Heads are below the queue size (at most QUEUE_SIZE_LIMIT),
                // so each has its slot.
                *live.sectors.get_mut(h).ok_or(Error::QueueFull)? = sector;

                let data = self.addr + done as u64;
                let seg_size = self.seg_size;
                let header = Segment {
                    addr: live.req.addr(hdr_off),
                    len: HEADER_LEN as u32,
                    device_writes: false,
                };
                let data_segs = (0..segs).map(move |i| {
                    let off = i * seg_size;
                    Segment {
                        addr: data + off as u64,
                        len: (chunk - off).min(seg_size) as u32,
                        device_writes,
                    }
                });
                let status = Segment {
                    addr: live.req.addr(live.status_off + h),
                    len: 1,
                    device_writes: true,
                };
                let chain =
                    core::iter::once(header).chain(data_segs).chain(core::iter::once(status));
                // SAFETY: the header and status live in `live.req`, which
                // stays allocated while the device may use it; the data
                // range is inside the caller's range (our contract), and the
                // job reaps every chain before returning.
                unsafe { live.queue.add(chain) }?;
                stats.requests += 1;
                stats.bytes += chunk as u64;
                done += chunk;
                sector += (chunk / SECTOR as usize) as u64;
                flush_pending = false;
            }
            // One notification for the whole batch.
            if live.queue.kick(transport) {
                stats.notifies += 1;
            }
            if live.queue.in_flight() == 0 {
                if first_err.is_none() && (done < self.len || flush_pending) {
                    // Nothing in flight and the next request does not fit
                    // an empty queue: the limits are inconsistent. Never
                    // report a partial transfer as success.
                    return Ok(Err(Error::QueueFull));
                }
                return Ok(first_err.map_or(Ok(()), Err));
            }
            // Wait for one completion, then take all that are there. The
            // clock is read twice per wait, not per poll.
            let t0 = self.clock.map(|c| c());
            let waited = live.queue.wait_used(self.spin_limit);
            if let (Some(c), Some(t0)) = (self.clock, t0) {
                stats.wait_ticks = stats.wait_ticks.wrapping_add(c().wrapping_sub(t0));
            }
            let mut used = Some(waited?);
            while let Some(u) = used {
                let h = usize::from(u.head);
                let status = live.req.read_u8(live.status_off + h);
                // pop_used only returns heads of chains in flight, which
                // are below the queue size; any other is a bad used entry.
                let sector = live
                    .sectors
                    .get(h)
                    .copied()
                    .ok_or(Error::BadUsedRing { id: u32::from(u.head) })?;
                if let Err(e) = status_result(status, sector) {
                    first_err.get_or_insert(e);
                }
                used = live.queue.pop_used()?;
            }
        }
    }
}

impl<T: Transport, D: Dma> Drop for VirtioBlk<T, D> {
    fn drop(&mut self) {
        if self.live.is_some() {
            let _ = self.stop();
        }
    }
}

impl<T: Transport, D: Dma> vmfw_block::BlockIo for VirtioBlk<T, D> {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), vmfw_block::Error> {
        self.read(lba, buf).map_err(Into::into)
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), vmfw_block::Error> {
        self.write(lba, buf).map_err(Into::into)
    }

    fn read_only(&self) -> bool {
        VirtioBlk::read_only(self)
    }

    fn flush(&mut self) -> Result<(), vmfw_block::Error> {
        VirtioBlk::flush(self).map_err(Into::into)
    }
}
