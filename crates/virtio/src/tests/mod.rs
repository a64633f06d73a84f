//! Host tests: the real driver and transports against the fake device.

mod fake;

use std::vec;
use std::vec::Vec;

use fake::{expected, FakeBlk, FakeMmio, FakePciConfig, FakePciRegion, FakeTransport, HostDma};
use vmfw_block::BlockIo;

use crate::blk::{F_BLK_SIZE, F_FLUSH, F_RO, F_SEG_MAX, F_SIZE_MAX};
use crate::features::VERSION_1;
use crate::{
    status, BlkOptions, Error, MmioRegion, MmioTransport, MmioVersion, PciCapKind, PciRegion,
    PciTransport, RegisterAccess, Transport, VirtioBlk,
};

const MIB: usize = 1024 * 1024;
const TIB_SECTORS: u64 = (1u64 << 40) / 512;

fn opts() -> BlkOptions {
    BlkOptions { spin_limit: 1000, ..BlkOptions::default() }
}

fn fake_blk<'a>(
    dev: &fake::Shared,
    dma: &'a mut HostDma,
) -> Result<VirtioBlk<FakeTransport, &'a mut HostDma>, Error> {
    VirtioBlk::new(FakeTransport::new(dev), dma, opts())
}

#[test]
fn reads_512_byte_blocks() {
    let dev = FakeBlk::new(16384).shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.block_size(), 512);
    assert_eq!(blk.num_blocks(), 16384);
    assert_eq!(blk.capacity_sectors(), 16384);
    assert!(!BlockIo::read_only(&blk));

    let mut buf = vec![0u8; 3 * 512];
    blk.read(7, &mut buf).unwrap();
    assert_eq!(buf, expected(7, buf.len()));
    // The last block is readable; one past it is not.
    let mut one = vec![0u8; 512];
    blk.read(16383, &mut one).unwrap();
    assert_eq!(one, expected(16383, 512));
    assert_eq!(blk.read(16384, &mut one), Err(Error::OutOfRange));
    assert_eq!(blk.read(0, &mut one[..100]), Err(Error::UnalignedBuffer));
    // A zero-length read is a no-op.
    blk.read(0, &mut []).unwrap();
    assert_eq!(blk.stats().requests, 2);
    assert!(dev.borrow().seen.violations.is_empty());
    let s = dev.borrow().status;
    assert_eq!(s, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK);
}

#[test]
fn reads_4096_byte_blocks() {
    let mut d = FakeBlk::new(16384 + 7);
    d.features |= F_BLK_SIZE;
    d.blk_size = 4096;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.block_size(), 4096);
    // A trailing partial block is not addressable.
    assert_eq!(blk.num_blocks(), 2048);
    assert_eq!(blk.capacity_sectors(), 16384 + 7);

    let mut buf = vec![0u8; 2 * 4096];
    BlockIo::read_blocks(&mut blk, 3, &mut buf).unwrap();
    // LBA 3 of 4 KiB blocks is sector 24.
    assert_eq!(buf, expected(24, buf.len()));
    assert_eq!(
        BlockIo::read_blocks(&mut blk, 0, &mut buf[..512]),
        Err(vmfw_block::Error::UnalignedBuffer)
    );
    assert_eq!(BlockIo::read_blocks(&mut blk, 2047, &mut buf), Err(vmfw_block::Error::OutOfRange));
}

#[test]
fn blk_size_ignored_unless_offered() {
    let mut d = FakeBlk::new(4096);
    d.blk_size = 4096; // in config space, but BLK_SIZE not offered
    let dev = d.shared();
    let mut dma = HostDma::default();
    let blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.block_size(), 512);
    assert_eq!(blk.features(), VERSION_1);
}

#[test]
fn invalid_blk_size_is_an_error() {
    for bad in [0u32, 256, 1000, 3072, 1 << 17] {
        let mut d = FakeBlk::new(4096);
        d.features |= F_BLK_SIZE;
        d.blk_size = bad;
        let dev = d.shared();
        let mut dma = HostDma::default();
        assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::InvalidBlockSize(bad)));
        assert_ne!(dev.borrow().status & status::FAILED, 0);
    }
}

#[test]
fn capacity_above_2_tib() {
    for block in [512u32, 4096] {
        let capacity = 5 * TIB_SECTORS + 8 * 3; // 5 TiB and a few blocks
        let mut d = FakeBlk::new(capacity);
        if block == 4096 {
            d.features |= F_BLK_SIZE;
            d.blk_size = 4096;
        }
        let dev = d.shared();
        let mut dma = HostDma::default();
        let mut blk = fake_blk(&dev, &mut dma).unwrap();
        let spb = u64::from(block / 512);
        assert_eq!(blk.num_blocks(), capacity / spb);

        let mut buf = vec![0u8; 2 * block as usize];
        // Beyond 2^32 sectors (2 TiB): the sector number needs 64 bits.
        let lba = (1u64 << 32) / spb + 5;
        blk.read(lba, &mut buf).unwrap();
        assert_eq!(buf, expected(lba * spb, buf.len()));
        let last = blk.num_blocks() - 2;
        blk.read(last, &mut buf).unwrap();
        assert_eq!(buf, expected(last * spb, buf.len()));
        assert_eq!(blk.read(last + 1, &mut buf), Err(Error::OutOfRange));
        assert_eq!(blk.read(u64::MAX, &mut buf), Err(Error::OutOfRange));
    }
}

/// A QEMU-like device: SEG_MAX and SIZE_MAX offered.
#[test]
fn large_read_is_split_and_batched() {
    let mut d = FakeBlk::new(1 << 20); // 512 MiB
    d.features |= F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 126;
    d.size_max = 64 * 1024;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.max_segment_bytes(), 64 * 1024);
    assert_eq!(blk.max_request_bytes(), MIB as u32);

    let len = 64 * MIB;
    let mut buf = vec![0u8; len];
    blk.read(1000, &mut buf).unwrap();
    assert!(buf == expected(1000, len), "data mismatch");

    let stats = blk.stats();
    assert_eq!(stats.bytes, len as u64);
    // Never more than one request per 64 KiB; here one per MiB.
    assert!(stats.requests <= (len / (64 * 1024)) as u64);
    assert_eq!(stats.requests, 64);
    let seen = dev.borrow().seen.clone();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.requests, 64);
    // Several in flight per notification, and few notifications.
    // A 1 MiB request takes 16 data + 2 descriptors, so the 256-entry
    // queue holds 14 of them: 64 requests need 5 batches.
    assert_eq!(seen.max_batch, 14);
    assert_eq!(stats.notifies, seen.notifies);
    assert_eq!(stats.notifies, 5);
    assert_eq!(seen.max_request_bytes, MIB);
    assert_eq!(seen.max_data_segs, 16);
    assert_eq!(seen.max_seg_len, 64 * 1024);
}

/// Tight device limits: each request is bounded by seg_max × size_max.
#[test]
fn requests_respect_tight_seg_and_size_limits() {
    let mut d = FakeBlk::new(1 << 16);
    d.features |= F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 4;
    d.size_max = 4096;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.max_request_bytes(), 16 * 1024);

    // An odd length: the last request is short.
    let len = MIB + 3 * 512;
    let mut buf = vec![0u8; len];
    blk.read(3, &mut buf).unwrap();
    assert!(buf == expected(3, len));
    let seen = dev.borrow().seen.clone();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.requests, 65);
    assert!(seen.max_data_segs <= 4);
    assert!(seen.max_seg_len <= 4096);
}

/// A size_max below one sector still works, with sub-sector segments.
#[test]
fn tiny_size_max_still_correct() {
    let mut d = FakeBlk::new(1 << 12);
    d.features |= F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 8;
    d.size_max = 200;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    // 8 × 200 = 1600 bytes → 3 sectors per request.
    assert_eq!(blk.max_request_bytes(), 1536);
    let mut buf = vec![0u8; 10 * 512];
    blk.read(9, &mut buf).unwrap();
    assert!(buf == expected(9, buf.len()));
    assert!(dev.borrow().seen.violations.is_empty());
    assert_eq!(blk.stats().requests, 4);
}

/// A device whose limits cannot carry one logical block is refused.
#[test]
fn limits_below_one_block_are_refused() {
    let mut d = FakeBlk::new(1 << 12);
    d.features |= F_SEG_MAX | F_SIZE_MAX | F_BLK_SIZE;
    d.blk_size = 4096;
    d.seg_max = 2;
    d.size_max = 1024;
    let dev = d.shared();
    let mut dma = HostDma::default();
    assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::DeviceLimits));
    // The device was reset and the memory returned.
    assert_eq!(dev.borrow().status, 0);
    assert!(dma.live.is_empty());
}

/// Firecracker-like: no SEG_MAX / SIZE_MAX, one data segment per request.
#[test]
fn no_limits_means_one_segment_per_request() {
    let dev = FakeBlk::new(1 << 18).shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 8 * MIB];
    blk.read(0, &mut buf).unwrap();
    assert!(buf == expected(0, buf.len()));
    let seen = dev.borrow().seen.clone();
    assert_eq!(seen.requests, 8);
    assert_eq!(seen.max_data_segs, 1);
    assert_eq!(seen.notifies, 1);

    // The caller may lift the request cap; then one request suffices.
    drop(blk);
    let dev = FakeBlk::new(1 << 18).shared();
    let o = BlkOptions { max_request_bytes: u32::MAX, ..opts() };
    let mut blk = VirtioBlk::new(FakeTransport::new(&dev), &mut dma, o).unwrap();
    blk.read(0, &mut buf).unwrap();
    assert!(buf == expected(0, buf.len()));
    assert_eq!(blk.stats().requests, 1);
}

/// A small queue limits how many requests are in flight, not correctness.
#[test]
fn small_queue_cycles_through_batches() {
    let mut d = FakeBlk::new(1 << 16);
    d.queue_max = 8;
    d.features |= F_SEG_MAX;
    d.seg_max = 64;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let o = BlkOptions { max_request_bytes: 4096, ..opts() };
    let mut blk = VirtioBlk::new(FakeTransport::new(&dev), &mut dma, o).unwrap();
    assert_eq!(blk.queue_size(), 8);
    let mut buf = vec![0u8; 40 * 4096];
    blk.read(1, &mut buf).unwrap();
    assert!(buf == expected(1, buf.len()));
    let seen = dev.borrow().seen.clone();
    assert_eq!(seen.requests, 40);
    // 8 descriptors hold two 3-descriptor chains at a time.
    assert_eq!(seen.max_batch, 2);
    assert!(seen.violations.is_empty());
}

#[test]
fn read_only_device_rejects_writes() {
    let mut d = FakeBlk::new(4096);
    d.features |= F_RO;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert!(blk.read_only());
    assert!(BlockIo::read_only(&blk));
    let buf = vec![0xa5u8; 512];
    assert_eq!(blk.write(0, &buf), Err(Error::ReadOnly));
    assert_eq!(BlockIo::write_blocks(&mut blk, 0, &buf), Err(vmfw_block::Error::ReadOnly));
    assert_eq!(dev.borrow().seen.writes, 0);
    let mut r = vec![0u8; 512];
    blk.read(0, &mut r).unwrap();
    assert_eq!(r, expected(0, 512));
}

#[test]
fn write_read_back_and_flush() {
    let mut d = FakeBlk::new(1 << 16);
    d.features |= F_FLUSH | F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 8;
    d.size_max = 8192;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    assert_ne!(blk.features() & F_FLUSH, 0);
    let data: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    BlockIo::write_blocks(&mut blk, 100, &data).unwrap();
    blk.flush().unwrap();
    let mut back = vec![0u8; data.len() + 1024];
    blk.read(99, &mut back).unwrap();
    assert_eq!(&back[..512], &expected(99, 512)[..]);
    assert!(back[512..512 + data.len()] == data[..]);
    assert_eq!(&back[512 + data.len()..], &expected(100 + 400, 512)[..]);
    let seen = dev.borrow().seen.clone();
    assert_eq!(seen.flushes, 1);
    assert!(seen.writes >= 4);
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
}

#[test]
fn flush_without_feature_sends_nothing() {
    let dev = FakeBlk::new(4096).shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    blk.flush().unwrap();
    assert_eq!(blk.stats().requests, 0);
    assert_eq!(dev.borrow().seen.requests, 0);
    // Once reset, the driver refuses every call, a flush it would not
    // have sent included.
    blk.reset().unwrap();
    assert_eq!(blk.flush(), Err(Error::Stopped));
}

#[test]
fn unknown_features_are_not_accepted() {
    let mut d = FakeBlk::new(4096);
    // GEOMETRY, TOPOLOGY, MQ, DISCARD, INDIRECT_DESC, EVENT_IDX,
    // ACCESS_PLATFORM: offered, not understood, so not accepted.
    d.features |= (1 << 4) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 28) | (1 << 29) | (1 << 33);
    d.features |= F_FLUSH;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let _blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(dev.borrow().driver_features, VERSION_1 | F_FLUSH);
}

#[test]
fn io_error_is_reported_after_reaping_everything() {
    let mut d = FakeBlk::new(1 << 16);
    d.features |= F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 4;
    d.size_max = 4096;
    // Sector 100 lies in the request that starts at 96 (16 KiB requests).
    d.fail_at = Some((100, 1));
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    assert_eq!(blk.read(0, &mut buf), Err(Error::IoError { sector: 96 }));
    assert_eq!(BlockIo::read_blocks(&mut blk, 0, &mut buf), Err(vmfw_block::Error::Device(1)));
    // The driver is still usable: the error was a request error.
    dev.borrow_mut().fail_at = None;
    blk.read(0, &mut buf).unwrap();
    assert!(buf == expected(0, buf.len()));
}

#[test]
fn unsupported_and_undefined_statuses() {
    for (st, want) in
        [(2u8, Error::Unsupported { sector: 8 }), (9u8, Error::BadStatus { status: 9, sector: 8 })]
    {
        let mut d = FakeBlk::new(4096);
        d.fail_at = Some((8, st));
        let dev = d.shared();
        let mut dma = HostDma::default();
        let mut blk = fake_blk(&dev, &mut dma).unwrap();
        let mut buf = vec![0u8; 512];
        assert_eq!(blk.read(8, &mut buf), Err(want));
        assert_eq!(vmfw_block::Error::from(want), vmfw_block::Error::Device(st));
    }
}

#[test]
fn device_that_never_completes_is_not_responding() {
    let mut d = FakeBlk::new(4096);
    d.complete = false;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(blk.read(0, &mut buf), Err(Error::NotResponding));
    // The driver reset the device so it cannot write the buffer later, and
    // gave the ring memory back.
    assert_eq!(dev.borrow().status, 0);
    assert_eq!(dev.borrow().seen.resets, 2); // one at init, one now
    assert_eq!(blk.queue_size(), 0);
    assert_eq!(blk.read(0, &mut buf), Err(Error::Stopped));
    assert_eq!(BlockIo::read_blocks(&mut blk, 0, &mut buf), Err(vmfw_block::Error::NotResponding));
    drop(blk);
    assert!(dma.live.is_empty());
}

#[test]
fn bogus_used_entry_stops_the_driver() {
    let mut d = FakeBlk::new(4096);
    d.bad_used_id = Some(300);
    let dev = d.shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 512];
    assert_eq!(blk.read(0, &mut buf), Err(Error::BadUsedRing { id: 300 }));
    assert_eq!(blk.read(0, &mut buf), Err(Error::Stopped));
    assert_eq!(dev.borrow().status, 0);
}

#[test]
fn refused_features_ok_is_an_error() {
    let mut d = FakeBlk::new(4096);
    d.refuse_features_ok = true;
    let dev = d.shared();
    let mut dma = HostDma::default();
    assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::FeaturesRejected));
    assert_ne!(dev.borrow().status & status::FAILED, 0);
    assert!(dma.live.is_empty());
}

#[test]
fn modern_transport_requires_version_1() {
    let mut d = FakeBlk::new(4096);
    d.features = F_FLUSH;
    let dev = d.shared();
    let mut dma = HostDma::default();
    assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::MissingFeatures(VERSION_1)));
}

#[test]
fn wrong_device_type_and_queue_problems() {
    let mut d = FakeBlk::new(4096);
    d.device_type = 1;
    let dev = d.shared();
    let mut dma = HostDma::default();
    assert_eq!(
        fake_blk(&dev, &mut dma).err(),
        Some(Error::WrongDeviceType { expected: 2, found: 1 })
    );

    for (max, want) in [(0, Error::QueueUnavailable(0)), (2, Error::QueueTooSmall(2))] {
        let mut d = FakeBlk::new(4096);
        d.queue_max = max;
        let dev = d.shared();
        assert_eq!(fake_blk(&dev, &mut dma).err(), Some(want));
    }

    let dev = FakeBlk::new(4096).shared();
    dma.fail = true;
    assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::DmaAllocFailed));
}

#[test]
fn non_power_of_two_queue_is_rounded_down() {
    let mut d = FakeBlk::new(4096);
    d.queue_max = 100;
    let dev = d.shared();
    let mut dma = HostDma::default();
    let blk = fake_blk(&dev, &mut dma).unwrap();
    assert_eq!(blk.queue_size(), 64);
}

#[test]
fn unstable_config_generation_is_an_error() {
    let mut d = FakeBlk::new(4096);
    d.unstable_generation = true;
    let dev = d.shared();
    let mut dma = HostDma::default();
    assert_eq!(fake_blk(&dev, &mut dma).err(), Some(Error::ConfigUnstable));
}

#[test]
fn reset_quiesces_and_frees() {
    let dev = FakeBlk::new(4096).shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 512];
    blk.read(0, &mut buf).unwrap();
    blk.reset().unwrap();
    assert_eq!(dev.borrow().status, 0);
    assert!(!dev.borrow().q.ready);
    assert_eq!(blk.read(0, &mut buf), Err(Error::Stopped));
    drop(blk);
    assert!(dma.live.is_empty());

    // Dropping a live driver resets the device as well.
    let dev = FakeBlk::new(4096).shared();
    let blk = fake_blk(&dev, &mut dma).unwrap();
    drop(blk);
    assert_eq!(dev.borrow().status, 0);
    assert!(dma.live.is_empty());
}

#[test]
fn a_vmm_that_cannot_reset_the_device_is_named() {
    // Firecracker 1.16, virtio-mmio: FAILED stays set after the reset.
    let mut dma = HostDma::default();
    let mut d = FakeBlk::new(4096);
    d.reset_sets_failed = true;
    let dev = d.shared();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    let mut buf = vec![0u8; 512];
    blk.read(0, &mut buf).unwrap();
    assert_eq!(blk.reset(), Err(Error::ResetRefused));
    drop(blk);

    // Firecracker 1.16, virtio-pci: the reset reads back 0, but the device
    // cannot be initialised again.
    let mut d = FakeBlk::new(4096);
    d.reset_blocks_reinit = true;
    let dev = d.shared();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    blk.read(0, &mut buf).unwrap();
    assert_eq!(blk.reset(), Err(Error::ReinitRefused));
}

/// A transport whose reset never reads back 0.
struct StuckReset(FakeTransport);

impl Transport for StuckReset {
    fn device_type(&mut self) -> u32 {
        self.0.device_type()
    }
    fn is_legacy(&self) -> bool {
        false
    }
    fn status(&mut self) -> u8 {
        self.0.status() | status::ACKNOWLEDGE
    }
    fn set_status(&mut self, s: u8) {
        self.0.set_status(s)
    }
    fn device_features(&mut self) -> u64 {
        self.0.device_features()
    }
    fn set_driver_features(&mut self, f: u64) {
        self.0.set_driver_features(f)
    }
    fn queue_max_size(&mut self, q: u16) -> Result<u32, Error> {
        self.0.queue_max_size(q)
    }
    fn enable_queue(&mut self, q: u16, l: &crate::QueueLayout) -> Result<u32, Error> {
        self.0.enable_queue(q, l)
    }
    fn notify(&mut self, q: u16, t: u32) {
        self.0.notify(q, t)
    }
    fn config_generation(&mut self) -> u32 {
        0
    }
    fn read_config_u8(&mut self, o: u32) -> Result<u8, Error> {
        self.0.read_config_u8(o)
    }
    fn read_config_u16(&mut self, o: u32) -> Result<u16, Error> {
        self.0.read_config_u16(o)
    }
    fn read_config_u32(&mut self, o: u32) -> Result<u32, Error> {
        self.0.read_config_u32(o)
    }
    fn read_isr(&mut self) -> u8 {
        0
    }
}

#[test]
fn reset_that_never_completes_is_bounded() {
    let dev = FakeBlk::new(4096).shared();
    let mut t = StuckReset(FakeTransport::new(&dev));
    assert_eq!(t.reset(50), Err(Error::NotResponding));
    let mut dma = HostDma::default();
    assert_eq!(VirtioBlk::new(t, &mut dma, opts()).err(), Some(Error::NotResponding));
}

// ---------------------------------------------------------------- MMIO ----

#[test]
fn mmio_v2_end_to_end() {
    let mut d = FakeBlk::new(1 << 16);
    d.features |= F_SEG_MAX;
    d.seg_max = 32;
    let dev = d.shared();
    let regs = FakeMmio::new(&dev, 2);
    let log = regs.log.clone();
    let t = MmioTransport::new(regs).unwrap();
    assert_eq!(t.version(), MmioVersion::Modern);
    let mut dma = HostDma::default();
    let mut blk = VirtioBlk::new(t, &mut dma, opts()).unwrap();
    let mut buf = vec![0u8; 3 * MIB];
    blk.read(5, &mut buf).unwrap();
    assert!(buf == expected(5, buf.len()));
    assert!(dev.borrow().seen.violations.is_empty());

    let log = log.borrow();
    let writes_to = |reg: usize| log.iter().filter(|w| w.0 == reg).count();
    assert!(log.contains(&(0x044, 1)), "QueueReady");
    assert_eq!(writes_to(0x028) + writes_to(0x03c) + writes_to(0x040), 0);
    // Desc address programmed as two halves.
    let q = dev.borrow().q;
    assert!(log.contains(&(0x080, q.desc as u32)));
    assert!(log.contains(&(0x084, (q.desc >> 32) as u32)));
    // Status sequence: reset, ACK, DRIVER, FEATURES_OK, DRIVER_OK.
    let statuses: Vec<u32> = log.iter().filter(|w| w.0 == 0x070).map(|w| w.1).collect();
    assert_eq!(statuses, [0, 1, 3, 11, 15]);
    // Exactly one notification per batch: 3 requests, one batch.
    assert_eq!(writes_to(0x050), 1);
}

#[cfg(target_os = "linux")]
#[test]
fn mmio_v1_legacy_register_sequence() {
    let mut d = FakeBlk::new(1 << 16);
    d.features = F_FLUSH | F_BLK_SIZE; // legacy: no VERSION_1
    d.blk_size = 4096;
    d.queue_max = 1024;
    let dev = d.shared();
    let regs = FakeMmio::new(&dev, 1);
    let log = regs.log.clone();
    let t = MmioTransport::new(regs).unwrap();
    assert_eq!(t.version(), MmioVersion::Legacy);
    assert!(t.is_legacy());
    let mut dma = fake::LowDma::new();
    let mut blk = VirtioBlk::new(t, &mut dma, opts()).unwrap();
    assert_eq!(blk.block_size(), 4096);
    assert_eq!(blk.queue_size(), 256);
    assert_eq!(dev.borrow().driver_features, F_FLUSH | F_BLK_SIZE);

    let mut buf = vec![0u8; 64 * 1024];
    blk.read(2, &mut buf).unwrap();
    assert!(buf == expected(16, buf.len()));
    blk.write(1, &buf[..4096]).unwrap();
    blk.flush().unwrap();
    assert!(dev.borrow().seen.violations.is_empty());

    let log = log.borrow().clone();
    let pos = |w: (usize, u32)| log.iter().position(|x| *x == w);
    let q = dev.borrow().q;
    let pfn = (q.desc / 4096) as u32;
    assert_eq!(q.desc % 4096, 0);
    let gps = pos((0x028, 4096)).expect("GuestPageSize = 4096");
    let sel = pos((0x030, 0)).expect("QueueSel = 0");
    let num = pos((0x038, 256)).expect("QueueNum = 256");
    let align = pos((0x03c, 4096)).expect("QueueAlign = 4096");
    let pfn_w = pos((0x040, pfn)).expect("QueuePFN");
    let driver_ok = pos((0x070, 7)).expect("DRIVER_OK without FEATURES_OK");
    assert!(gps < num && sel < num && num < pfn_w && align < pfn_w && pfn_w < driver_ok);
    // Legacy: never FEATURES_OK, never the v2 queue registers.
    assert!(log.iter().all(|w| !(w.0 == 0x070 && w.1 & u32::from(status::FEATURES_OK) != 0)));
    let v2_only = [0x044, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4];
    assert!(log.iter().all(|w| !v2_only.contains(&w.0)));
    // The device found the rings at the addresses the legacy layout implies.
    assert_eq!(q.driver, q.desc + 16 * 256);
    assert_eq!(q.device, q.desc + 8192);

    drop(blk);
    assert_eq!(dev.borrow().status, 0);
    assert_eq!(dev.borrow().q.pfn, 0);
    assert!(dma.live.is_empty());
}

/// Rings above 16 TiB cannot be described by a 32-bit legacy page number.
#[test]
fn mmio_v1_rejects_rings_above_16_tib() {
    let mut d = FakeBlk::new(64);
    d.features = 0;
    let dev = d.shared();
    let t = MmioTransport::new(FakeMmio::new(&dev, 1)).unwrap();
    let mut dma = HostDma::default();
    // Host heap addresses are far above 16 TiB on x86_64 and aarch64 Linux.
    let err = VirtioBlk::new(t, &mut dma, opts()).err();
    match err {
        Some(Error::AddressNotRepresentable(a)) => assert!(a >= 1 << 44),
        e => panic!("unexpected {e:?}"),
    }
    // The queue memory went back; the device never saw it.
    assert!(dma.live.is_empty());
    assert_eq!(dev.borrow().q.pfn, 0);
}

#[test]
fn mmio_probe_errors() {
    let dev = FakeBlk::new(8).shared();
    let mut r = FakeMmio::new(&dev, 2);
    r.magic = 0x1234;
    assert_eq!(MmioTransport::new(r).err(), Some(Error::BadMagic(0x1234)));
    let r = FakeMmio::new(&dev, 3);
    assert_eq!(MmioTransport::new(r).err(), Some(Error::UnsupportedMmioVersion(3)));
    dev.borrow_mut().device_type = 0;
    let r = FakeMmio::new(&dev, 2);
    assert_eq!(MmioTransport::new(r).err(), Some(Error::NoDevice));
    // Configuration reads beyond the window's config area are refused.
    dev.borrow_mut().device_type = 2;
    let mut t = MmioTransport::new(FakeMmio::new(&dev, 2)).unwrap();
    assert_eq!(t.read_config_u32(0x100), Err(Error::ConfigOutOfRange(0x100)));
    assert_eq!(t.read_config_u32(2), Err(Error::ConfigOutOfRange(2)));
    assert_eq!(t.read_config_u64(0), Ok(8));
}

#[test]
fn mmio_region_bounds() {
    let mut words = [0u32; 4];
    let base = words.as_mut_ptr().expose_provenance() as u64;
    // SAFETY: `words` is live for the whole test and only accessed through
    // the region while it is in use.
    let mut r = unsafe { MmioRegion::new(base, 16) }.unwrap();
    r.write_u32(4, 0xdead_beef);
    r.write_u16(8, 0x1234);
    r.write_u8(15, 0x77);
    assert_eq!(r.read_u32(4), 0xdead_beef);
    assert_eq!(r.read_u16(6), 0xdead);
    assert_eq!(r.read_u8(15), 0x77);
    // Outside the window or misaligned: nothing happens, reads give ones.
    r.write_u32(16, 1);
    r.write_u32(14, 1);
    assert_eq!(r.read_u32(16), u32::MAX);
    assert_eq!(r.read_u16(usize::MAX), u16::MAX);
    assert_eq!(r.read_u32(2), u32::MAX);
    assert_eq!(r.len(), 16);
    assert_eq!(words, [0, 0xdead_beef, 0x1234, 0x7700_0000]);
}

// ----------------------------------------------------------------- PCI ----

const BAR_ADDR: u64 = 0x0000_0080_0000_0000; // 512 GiB: above 4 GiB
const NOTIFY_MULT: u32 = 4;

/// A modern virtio-blk function: 64-bit BAR 4 (as QEMU does), caps at 0x40
/// (a non-virtio cap first), common/notify/isr/device.
fn pci_config(device: u16) -> FakePciConfig {
    let mut c = FakePciConfig::new(0x1af4, device);
    c.put32(0x20, (BAR_ADDR as u32) | 0x4 | 0x8); // BAR4: 64-bit, prefetchable
    c.put32(0x24, (BAR_ADDR >> 32) as u32);
    c.put32(0x10, 0xc001); // BAR0: I/O (the legacy interface), unused
                           // MSI-X capability (id 0x11) first, then the virtio ones.
    c.space[0x40] = 0x11;
    c.space[0x41] = 0x50;
    c.virtio_cap(0x50, 0x60, 1, 4, 0x0000, 0x1000, None);
    c.virtio_cap(0x60, 0x74, 3, 4, 0x1000, 0x1000, None);
    c.virtio_cap(0x74, 0x90, 2, 4, 0x3000, 0x1000, Some(NOTIFY_MULT));
    c.virtio_cap(0x90, 0x00, 4, 4, 0x2000, 0x1000, None);
    c
}

type PciMap = Vec<PciRegion>;

fn pci_transport(
    cfg: &mut FakePciConfig,
    dev: &fake::Shared,
    seen: &mut PciMap,
) -> Result<PciTransport<FakePciRegion>, Error> {
    PciTransport::new(cfg, |r: &PciRegion| {
        seen.push(*r);
        Some(FakePciRegion { dev: dev.clone(), kind: r.kind, notify_at: 3 * NOTIFY_MULT as usize })
    })
}

#[test]
fn pci_modern_end_to_end() {
    let mut d = FakeBlk::new(1 << 20);
    d.features |= F_SEG_MAX | F_SIZE_MAX;
    d.seg_max = 254;
    d.size_max = 1 << 20;
    let dev = d.shared();
    let mut cfg = pci_config(0x1042);
    let mut regions = PciMap::new();
    let t = pci_transport(&mut cfg, &dev, &mut regions).unwrap();

    // Regions decoded from the 64-bit BAR above 4 GiB.
    let kinds: Vec<_> = regions.iter().map(|r| (r.kind, r.address())).collect();
    assert_eq!(
        kinds,
        [
            (PciCapKind::Common, Some(BAR_ADDR)),
            (PciCapKind::Notify, Some(BAR_ADDR + 0x3000)),
            (PciCapKind::Isr, Some(BAR_ADDR + 0x1000)),
            (PciCapKind::Device, Some(BAR_ADDR + 0x2000)),
        ]
    );
    // Memory space and bus mastering enabled, status half written as 0.
    assert_eq!(cfg.writes, [(0x04, 0x6)]);

    let mut dma = HostDma::default();
    let mut blk = VirtioBlk::new(t, &mut dma, opts()).unwrap();
    let mut buf = vec![0u8; 4 * MIB];
    blk.read(77, &mut buf).unwrap();
    assert!(buf == expected(77, buf.len()));
    let seen = dev.borrow().seen.clone();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.requests, 4);
    assert_eq!(seen.notifies, 1);
    drop(blk);
    assert_eq!(dev.borrow().status, 0);
}

#[test]
fn pci_transitional_through_modern_caps() {
    let dev = FakeBlk::new(4096).shared();
    let mut cfg = pci_config(0x1001);
    let mut regions = PciMap::new();
    let t = pci_transport(&mut cfg, &dev, &mut regions).unwrap();
    let mut dma = HostDma::default();
    let mut blk = VirtioBlk::new(t, &mut dma, opts()).unwrap();
    let mut buf = vec![0u8; 1024];
    blk.read(1, &mut buf).unwrap();
    assert!(buf == expected(1, buf.len()));
    drop(blk);

    // A transitional device that does not offer VERSION_1 is not driven.
    let mut d = FakeBlk::new(4096);
    d.features = F_FLUSH;
    let dev = d.shared();
    let t = pci_transport(&mut cfg, &dev, &mut regions).unwrap();
    assert_eq!(VirtioBlk::new(t, &mut dma, opts()).err(), Some(Error::MissingFeatures(VERSION_1)));
}

#[test]
fn pci_32_bit_bar() {
    let dev = FakeBlk::new(4096).shared();
    let mut cfg = pci_config(0x1042);
    cfg.put32(0x20, 0xfe00_0000); // BAR4: 32-bit memory
    cfg.put32(0x24, 0xffff_ffff); // BAR5: must be ignored now
    let mut regions = PciMap::new();
    pci_transport(&mut cfg, &dev, &mut regions).unwrap();
    assert_eq!(regions[0].address(), Some(0xfe00_0000));
}

#[test]
fn pci_capability_list_errors() {
    let dev = FakeBlk::new(4096).shared();
    let mut regions = PciMap::new();
    let mut check = |cfg: &mut FakePciConfig, want: Error| {
        assert_eq!(pci_transport(cfg, &dev, &mut regions).err(), Some(want), "{want:?}");
    };

    // A loop: the last capability points back to the second.
    let mut c = pci_config(0x1042);
    c.space[0x91] = 0x60;
    check(&mut c, Error::PciCapabilityLoop(0x60));
    // A capability pointing at itself.
    let mut c = pci_config(0x1042);
    c.space[0x41] = 0x40;
    check(&mut c, Error::PciCapabilityLoop(0x40));
    // Pointer into the standard header.
    let mut c = pci_config(0x1042);
    c.space[0x41] = 0x10;
    check(&mut c, Error::PciCapabilityOutOfRange(0x10));
    // A virtio capability running past the end of config space.
    let mut c = pci_config(0x1042);
    c.space[0x91] = 0xf8;
    // id, next, cap_len 16, cfg_type: but only 8 bytes are left.
    c.space[0xf8..0xfc].copy_from_slice(&[0x09, 0x00, 16, 4]);
    check(&mut c, Error::PciCapabilityOutOfRange(0xf8));
    // Missing capabilities.
    let mut c = pci_config(0x1042);
    c.space[0x61] = 0x90; // isr → device, skipping notify
    check(&mut c, Error::PciCapabilityMissing(2));
    let mut c = pci_config(0x1042);
    c.put16(0x06, 0); // no capability list at all
    check(&mut c, Error::PciCapabilityMissing(1));
    // A capability naming a reserved BAR (> 5) is ignored.
    let mut c = pci_config(0x1042);
    c.space[0x54] = 6;
    check(&mut c, Error::PciCapabilityMissing(1));
    // Common config too short.
    let mut c = pci_config(0x1042);
    c.put32(0x5c, 0x30);
    check(&mut c, Error::PciCapabilityMissing(1));
}

#[test]
fn pci_device_and_bar_errors() {
    let dev = FakeBlk::new(4096).shared();
    let mut regions = PciMap::new();
    let mut check = |cfg: &mut FakePciConfig, want: Error| {
        assert_eq!(pci_transport(cfg, &dev, &mut regions).err(), Some(want), "{want:?}");
    };
    let mut c = pci_config(0x1042);
    c.put16(0, 0x8086);
    check(&mut c, Error::UnsupportedPciDevice { vendor: 0x8086, device: 0x1042 });
    check(&mut pci_config(0x1010), Error::UnsupportedPciDevice { vendor: 0x1af4, device: 0x1010 });
    let mut c = pci_config(0x1042);
    c.space[0x0e] = 0x01; // PCI-to-PCI bridge
    check(&mut c, Error::PciHeaderType(1));
    // The caps point at an I/O BAR.
    let mut c = pci_config(0x1042);
    for at in [0x54, 0x64, 0x78, 0x94] {
        c.space[at] = 0;
    }
    check(&mut c, Error::PciBarUnusable(0));
    // 64-bit BAR in slot 5.
    let mut c = pci_config(0x1042);
    c.put32(0x24, 0x4);
    for at in [0x54, 0x64, 0x78, 0x94] {
        c.space[at] = 5;
    }
    check(&mut c, Error::PciBarUnusable(5));
    // Unassigned BAR.
    let mut c = pci_config(0x1042);
    c.put32(0x20, 0x4);
    c.put32(0x24, 0);
    check(&mut c, Error::PciBarUnusable(4));
    // Region that overflows the address space.
    let mut c = pci_config(0x1042);
    c.put32(0x24, 0xffff_ffff);
    c.put32(0x20, 0xffff_f004);
    check(&mut c, Error::PciRegionOutOfRange);

    // The firmware refuses to map a region.
    let mut c = pci_config(0x1042);
    assert_eq!(
        PciTransport::<FakePciRegion>::new(&mut c, |_: &PciRegion| None).err(),
        Some(Error::MapFailed)
    );
}

#[test]
fn pci_notify_offset_outside_region_is_refused() {
    let dev = FakeBlk::new(4096).shared();
    let mut cfg = pci_config(0x1042);
    // Notify region of 8 bytes: queue_notify_off 3 × 4 = 12 is outside.
    cfg.put32(0x74 + 12, 8);
    let mut regions = PciMap::new();
    let t = pci_transport(&mut cfg, &dev, &mut regions).unwrap();
    let mut dma = HostDma::default();
    assert_eq!(VirtioBlk::new(t, &mut dma, opts()).err(), Some(Error::PciRegionOutOfRange));
    assert!(dma.live.is_empty());
}

#[test]
fn pci_device_config_bounds() {
    let dev = FakeBlk::new(1234).shared();
    let mut cfg = pci_config(0x1042);
    cfg.put32(0x90 + 12, 8); // device cfg of 8 bytes
    let mut regions = PciMap::new();
    let mut t = pci_transport(&mut cfg, &dev, &mut regions).unwrap();
    assert_eq!(t.read_config_u64(0), Ok(1234));
    assert_eq!(t.read_config_u32(8), Err(Error::ConfigOutOfRange(8)));
    assert_eq!(t.read_config_u32(u32::MAX), Err(Error::ConfigOutOfRange(u32::MAX)));
    assert_eq!(t.read_config_u16(1), Err(Error::ConfigOutOfRange(1)));
}

#[test]
fn error_messages_are_not_empty() {
    let all = [
        Error::BadMagic(1),
        Error::PciCapabilityLoop(0x40),
        Error::IoError { sector: 5 },
        Error::NotResponding,
        Error::Stopped,
    ];
    for e in all {
        assert!(!std::format!("{e}").is_empty());
    }
}

std::thread_local! {
    static CLOCK: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// A clock that advances one tick per reading.
fn ticking_clock() -> u64 {
    CLOCK.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

#[test]
fn clock_times_each_wait_not_each_poll() {
    let dev = FakeBlk::new(16384).shared();
    let mut dma = HostDma::default();
    let o = BlkOptions { clock: Some(ticking_clock), ..opts() };
    let mut blk = VirtioBlk::new(FakeTransport::new(&dev), &mut dma, o).unwrap();
    let mut buf = vec![0u8; 8 * 512];
    for lba in [0, 100, 200] {
        blk.read(lba, &mut buf).unwrap();
    }
    let s = blk.stats();
    // The fake completes at the notification: one wait per batch, two
    // clock readings (one tick apart) per wait.
    assert_eq!(s.notifies, 3);
    assert_eq!(s.wait_ticks, 3);
    assert_eq!(CLOCK.with(core::cell::Cell::get), 6);

    // Without a clock nothing is timed.
    let dev = FakeBlk::new(16384).shared();
    let mut dma = HostDma::default();
    let mut blk = fake_blk(&dev, &mut dma).unwrap();
    blk.read(0, &mut buf).unwrap();
    assert_eq!(blk.stats().wait_ticks, 0);
}
