//! The VMM's command line: `vmfw_platform::Cmdline` (built from bytes and
//! read from memory in 64-byte chunks), its queries, and
//! `parse_virtio_mmio` on every `virtio_mmio.device=` value, as the
//! firmware's device discovery reads it.
//!
//! Input: the command line bytes (a NUL ends it, as in guest memory).
//! Checks: both ways of reading give the same text; `value` is the last of
//! `values`; a parsed device window is non-empty and does not wrap; a
//! window written back in canonical form parses to the same device.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_platform::{parse_virtio_mmio, Cmdline, PhysMem, CMDLINE_MAX};

/// The input placed at a fixed address, readable only as far as it goes.
struct Mem<'a>(&'a [u8]);

const AT: u64 = 0x2_0000;

impl PhysMem for Mem<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), vmfw_platform::Error> {
        let off = addr.checked_sub(AT).ok_or(vmfw_platform::Error::Unreadable(addr))? as usize;
        let src = self.0.get(off..).and_then(|s| s.get(..buf.len()));
        // Past the input: zeros up to one page further, then nothing, so
        // an unterminated line is both a success and an error case.
        match src {
            Some(s) => buf.copy_from_slice(s),
            None if off + buf.len() <= self.0.len() + 4096 => {
                buf.fill(0);
                if let Some(part) = self.0.get(off..) {
                    buf[..part.len()].copy_from_slice(part);
                }
            }
            None => return Err(vmfw_platform::Error::Unreadable(addr)),
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let c = Cmdline::from_bytes(data);
    let text = c.as_str();
    assert!(text.len() <= CMDLINE_MAX);
    let nul = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    assert_eq!(c.truncated(), nul > CMDLINE_MAX);
    let r = Cmdline::read(&Mem(data), AT).expect("zeros follow the input");
    assert_eq!(r.as_str(), text);
    assert_eq!(r.truncated(), c.truncated());

    for key in ["virtio_mmio.device", "vmfw.log", "console"] {
        assert_eq!(c.value(key), c.values(key).last());
    }
    let _ = c.has("quiet");
    for v in c.values("virtio_mmio.device").take(64) {
        if let Ok(d) = parse_virtio_mmio(v) {
            assert!(d.size > 0);
            assert!(d.base.checked_add(d.size).is_some());
            let canon = format!("{:#x}@{:#x}:{}", d.size, d.base, d.irq);
            assert_eq!(parse_virtio_mmio(&canon), Ok(d), "{v} -> {canon}");
        }
    }
    // The value parser on its own, on the whole input as text.
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_virtio_mmio(s);
    }
});
