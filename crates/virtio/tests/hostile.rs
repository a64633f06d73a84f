//! The driver against `vmfw_virtio::testing::HostileBlk` (feature
//! `testing`): the fake serves honest requests correctly, and each hostile
//! answer ends in a named error, a stopped driver and no protocol
//! violation. Run with `cargo test -p vmfw-virtio --features testing`.
#![cfg(feature = "testing")]

use vmfw_virtio::testing::{HeapDma, HostileBlk, HostileMmio, Script, Shared};
use vmfw_virtio::{BlkOptions, Error, MmioTransport, VirtioBlk};

fn opts() -> BlkOptions {
    BlkOptions { spin_limit: 64, reset_spin_limit: 4, ..BlkOptions::default() }
}

/// A device configured like QEMU's (no limits, 512-byte blocks) of 4096
/// sectors, answering with `actions` (see `Action::from_script`).
fn device(shared: &Shared, actions: &[u8]) -> HostileBlk {
    // flags, features, capacity u16, size_max, seg_max, blk_size, queue, bad
    let mut s = vec![0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0];
    s.extend_from_slice(actions);
    HostileBlk::from_script(shared, Script::new(&s), false)
}

fn read(
    shared: &Shared,
    blk: &mut VirtioBlk<HostileBlk, HeapDma>,
    lba: u64,
    n: usize,
) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; n * 512];
    shared.begin(buf.as_ptr() as u64, buf.len());
    let r = blk.read(lba, &mut buf);
    shared.end();
    r.map(|()| buf)
}

#[test]
fn honest_device_reads_the_disk() {
    let shared = Shared::new();
    let mut blk = VirtioBlk::new(device(&shared, &[]), HeapDma::new(&shared), opts()).unwrap();
    assert_eq!(blk.num_blocks(), 4096);
    let data = read(&shared, &mut blk, 7, 9).unwrap();
    assert_eq!(data, shared.expected(7, 9 * 512));
    assert!(shared.honest());
    assert_eq!(shared.violations(), Vec::<String>::new());
}

#[test]
fn hostile_answers_are_named_errors() {
    let cases: [(&[u8], Error); 5] = [
        (&[128, 0xe7, 3, 0, 0], Error::BadUsedRing { id: 999 }),
        (&[144], Error::BadStatus { status: 0xff, sector: 3 }),
        (&[152, 1], Error::IoError { sector: 3 }),
        (&[176], Error::NotResponding),
        (&[180, 5, 0], Error::BadUsedRing { id: 6 }),
    ];
    for (actions, want) in cases {
        let shared = Shared::new();
        let mut blk =
            VirtioBlk::new(device(&shared, actions), HeapDma::new(&shared), opts()).unwrap();
        assert_eq!(read(&shared, &mut blk, 3, 1), Err(want), "{actions:?}");
        assert!(!shared.honest());
        assert_eq!(shared.violations(), Vec::<String>::new(), "{actions:?}");
        if !matches!(want, Error::IoError { .. } | Error::BadStatus { .. }) {
            // A lost device is reset and the driver refuses further I/O.
            assert_eq!(blk.queue_size(), 0);
            assert_eq!(read(&shared, &mut blk, 3, 1), Err(Error::Stopped));
        }
    }
}

#[test]
fn device_ignoring_reset_is_left_alone() {
    let shared = Shared::new();
    let mut dev = device(&shared, &[176]);
    // It starts at status 0, so only later resets go unanswered.
    dev.ignore_reset = true;
    let mut blk = VirtioBlk::new(dev, HeapDma::new(&shared), opts()).unwrap();
    assert_eq!(read(&shared, &mut blk, 0, 1), Err(Error::NotResponding));
    // The driver gave up on it (its memory stays with the device).
    assert_eq!(blk.queue_size(), 0);
    assert_eq!(read(&shared, &mut blk, 0, 1), Err(Error::Stopped));
    assert_eq!(blk.reset(), Err(Error::NotResponding));
    assert_eq!(shared.violations(), Vec::<String>::new());
}

#[test]
fn mmio_front_end_serves_both_versions() {
    for legacy in [false, true] {
        let shared = Shared::new();
        let s = [0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let dev = HostileBlk::from_script(&shared, Script::new(&s), legacy);
        let t = MmioTransport::new(HostileMmio::new(dev)).unwrap();
        let mut blk = match VirtioBlk::new(t, HeapDma::new(&shared), opts()) {
            Ok(b) => b,
            // Legacy queues need a 32-bit page number: host heap memory
            // above 16 TiB cannot be given to such a device.
            Err(Error::AddressNotRepresentable(a)) if legacy && a >= 1 << 44 => continue,
            Err(e) => panic!("legacy {legacy}: {e}"),
        };
        let mut buf = vec![0u8; 4096];
        shared.begin(buf.as_ptr() as u64, buf.len());
        blk.read(100, &mut buf).unwrap();
        shared.end();
        assert_eq!(buf, shared.expected(100, 4096), "legacy {legacy}");
        assert_eq!(shared.violations(), Vec::<String>::new());
    }
}
