//! The virtio-blk driver and its split virtqueue (`vmfw_virtio::VirtioBlk`)
//! against `vmfw_virtio::testing::HostileBlk`, a fake device whose
//! configuration and answers come from the input: used-ring ids out of
//! range or of another chain, lengths larger than the buffer, status bytes
//! never written or made up, requests left pending, a device that stops
//! answering or never acknowledges a reset, a used index run past what is
//! in flight. Directly through `Transport` or through virtio-mmio
//! registers (version 1 or 2, `MmioTransport`).
//!
//! Input format:
//!
//! ```text
//! opts: u8         bit 0: virtio-mmio registers; bit 1: legacy (v1);
//!                  bits 2-4: spin limit 4^n - 1; bits 5-7: queue size 4 << n
//! max_req: u8      BlkOptions::max_request_bytes = (max_req + 1) * 512
//! script_len: u16 LE, script: [u8; script_len]   the device (see
//!                  `HostileBlk::from_script` and `Action::from_script`)
//! ops until the input ends, 4 bytes each:
//!     kind: u8 (0 read, 1 write, 2 flush, 3 reset, else read),
//!     lba: u16 LE, blocks: u8 (at most 16 blocks per call)
//! ```
//!
//! Checks: nothing panics or hangs (every wait is bounded by the spin
//! limit); the driver never hands the device memory it does not own, a
//! malformed chain or an out-of-range request (the fake records those);
//! after a lost device (`NotResponding`, `BadUsedRing`) every call fails
//! with `Stopped`; a read that succeeded while the device answered
//! honestly returns the disk's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_virtio::testing::{HeapDma, HostileBlk, HostileMmio, Script, Shared};
use vmfw_virtio::{BlkOptions, Error, MmioTransport, Transport, VirtioBlk};

fn run<T: Transport>(shared: &Shared, transport: T, options: BlkOptions, ops: &[u8]) {
    let dma = HeapDma::new(shared);
    let mut blk = match VirtioBlk::new(transport, dma, options) {
        Ok(b) => b,
        Err(e) => {
            let _ = e.to_string();
            assert!(shared.violations().is_empty(), "{:?}", shared.violations());
            return;
        }
    };
    let bs = blk.block_size() as usize;
    assert!(bs.is_power_of_two() && (512..=65536).contains(&bs));
    assert!(blk.max_request_bytes() as usize >= bs);
    let spb = (bs / 512) as u64;
    let mut stopped = false;
    for op in ops.chunks_exact(4) {
        let lba = u64::from(u16::from_le_bytes([op[1], op[2]]));
        let blocks = usize::from(op[3] % 17);
        let mut buf = vec![0u8; blocks * bs];
        let fill = op[3];
        let addr = buf.as_ptr() as u64;
        shared.begin(addr, buf.len());
        let r = match op[0] {
            1 => {
                buf.fill(fill);
                blk.write(lba, &buf)
            }
            2 => blk.flush(),
            3 => blk.reset(),
            _ => blk.read(lba, &mut buf),
        };
        shared.end();
        assert!(shared.violations().is_empty(), "{:?}", shared.violations());
        if stopped && op[0] != 3 {
            assert!(r.is_err(), "I/O after the device was lost: {r:?}");
        }
        match r {
            Ok(()) if op[0] == 0 || op[0] > 3 => {
                if shared.honest() {
                    assert_eq!(buf, shared.expected(lba * spb, buf.len()), "wrong data read");
                }
            }
            Ok(()) => {}
            Err(Error::NotResponding | Error::BadUsedRing { .. } | Error::Stopped) => {
                stopped = true;
                assert_eq!(blk.queue_size(), 0, "a lost device still has its queue");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        if op[0] == 3 {
            stopped = true;
        }
    }
    drop(blk);
    assert!(shared.violations().is_empty(), "{:?}", shared.violations());
}

fuzz_target!(|data: &[u8]| {
    let [opts, max_req, l0, l1, rest @ ..] = data else { return };
    let script_len = usize::from(u16::from_le_bytes([*l0, *l1])).min(rest.len());
    let (script, ops) = rest.split_at(script_len);
    let options = BlkOptions {
        spin_limit: (1u32 << (2 * ((opts >> 2) & 7))) - 1,
        reset_spin_limit: 16,
        max_request_bytes: (u32::from(*max_req) + 1) * 512,
        queue_size: 4 << (opts >> 5),
        clock: None,
    };
    let shared = Shared::new();
    let legacy = opts & 2 != 0;
    let dev = HostileBlk::from_script(&shared, Script::new(script), legacy);
    if opts & 1 != 0 {
        match MmioTransport::new(HostileMmio::new(dev)) {
            Ok(t) => run(&shared, t, options, ops),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    } else {
        run(&shared, dev, options, ops);
    }
});
