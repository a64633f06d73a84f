//! A fuzzed view of guest-physical memory, for the targets that read what a
//! VMM left in RAM (`pvh`, `zero_page`, `acpi`).
//!
//! Input format:
//!
//! ```text
//! flags: u8        bit 0: reseal ACPI checksums (see below)
//! limit: u64 LE    reads that end above this address fail (Unreadable)
//! start: u64 LE    where the target starts reading (start info, zero
//!                  page or RSDP)
//! records until the input ends:
//!     addr: u64 LE, len: u16 LE, bytes: [u8; len]  (the last may be short)
//! ```
//!
//! Memory below `limit` reads as zeros except where a record puts bytes;
//! a later record wins where two overlap. So a few hundred bytes describe
//! a start info, its memory map and command line scattered over a 4 GiB
//! guest, as a VMM lays them out.
//!
//! Reseal: every record that starts with an ACPI table header (a 4-letter
//! upper-case signature and a length of at least 36) gets its checksum
//! byte (offset 9) recomputed over the bytes the header's length covers
//! in the record, and every record that starts with `RSD PTR ` gets both
//! RSDP checksums (offsets 8 and 32) fixed, so mutations reach the checks
//! behind the checksums.
//!
//! Seed files in this format are written by the seed makers of
//! `vmfw-platform` and `vmfw-acpi` (see the fuzz README) and by
//! [`encode`].

/// Bytes before the first record.
pub const HEADER_LEN: usize = 17;
/// Bytes of a record header (address and length).
pub const RECORD_HEADER_LEN: usize = 10;
/// Most bytes one read may ask for. ACPI tables may be up to 4 MiB, but
/// reading megabytes per input slows the fuzzer tenfold; larger reads fail
/// as unreadable memory would, which the readers handle the same way.
const MAX_READ: usize = 256 << 10;

/// Guest memory as one fuzz input describes it.
#[derive(Debug, Clone)]
pub struct PhysView {
    /// Reads ending above this address fail.
    pub limit: u64,
    /// The address the target starts from.
    pub start: u64,
    /// `(address, bytes)` in input order.
    pub records: Vec<(u64, Vec<u8>)>,
}

fn u64_le(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

impl PhysView {
    /// Decodes an input; `None` when it is shorter than its header.
    pub fn decode(input: &[u8]) -> Option<PhysView> {
        let flags = *input.first()?;
        let limit = u64_le(input.get(1..)?)?;
        let start = u64_le(input.get(9..)?)?;
        let mut rest = input.get(HEADER_LEN..)?;
        let mut records = Vec::new();
        while rest.len() >= RECORD_HEADER_LEN {
            let addr = u64_le(rest)?;
            let len = usize::from(u16::from_le_bytes([rest[8], rest[9]]));
            let body = &rest[RECORD_HEADER_LEN..];
            let bytes = body.get(..len).unwrap_or(body);
            let mut bytes = bytes.to_vec();
            if flags & 1 != 0 {
                reseal(&mut bytes);
            }
            rest = &body[bytes.len()..];
            records.push((addr, bytes));
        }
        Some(PhysView { limit, start, records })
    }

    /// Fills `buf` from `addr`, or says the range cannot be read.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else { return false };
        if end > self.limit || buf.len() > MAX_READ {
            return false;
        }
        buf.fill(0);
        for (at, bytes) in &self.records {
            let Some(r_end) = at.checked_add(bytes.len() as u64) else { continue };
            let lo = addr.max(*at);
            let hi = end.min(r_end);
            if lo < hi {
                let dst = (lo - addr) as usize..(hi - addr) as usize;
                let src = (lo - at) as usize..(hi - at) as usize;
                buf[dst].copy_from_slice(&bytes[src]);
            }
        }
        true
    }
}

/// Encodes a view (seed makers; `decode(encode(..))` gives it back when
/// the records are at most 64 KiB each).
pub fn encode(flags: u8, limit: u64, start: u64, records: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&limit.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    for (addr, bytes) in records {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

fn fix(b: &mut [u8], at: usize) {
    if at < b.len() {
        b[at] = 0;
        b[at] = 0u8.wrapping_sub(sum(b));
    }
}

/// See the module docs.
fn reseal(b: &mut [u8]) {
    if b.starts_with(b"RSD PTR ") {
        let n = b.len();
        fix(&mut b[..20.min(n)], 8);
        let len = b.get(20..24).map_or(36, |l| u32::from_le_bytes(l.try_into().unwrap()));
        let len = (len as usize).max(20).min(n);
        fix(&mut b[..len], 32);
        return;
    }
    let sig_ok = b.get(..4).is_some_and(|s| s.iter().all(|c| c.is_ascii_uppercase()));
    let Some(len) = b.get(4..8).map(|l| u32::from_le_bytes(l.try_into().unwrap())) else {
        return;
    };
    if sig_ok && len >= 36 {
        let n = (len as usize).min(b.len());
        fix(&mut b[..n], 9);
    }
}

impl vmfw_platform::PhysMem for PhysView {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), vmfw_platform::Error> {
        PhysView::read(self, addr, buf).then_some(()).ok_or(vmfw_platform::Error::Unreadable(addr))
    }
}

impl vmfw_acpi::Memory for PhysView {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), vmfw_acpi::Error> {
        PhysView::read(self, addr, buf).then_some(()).ok_or(vmfw_acpi::Error::Unreadable(addr))
    }
}
