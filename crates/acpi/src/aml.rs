//! The few fixed AML shapes vmfw recognises (ACPI 6.5 §20), found by a
//! bounded scan instead of an interpreter.
//!
//! `\_S5_` is always declared as `Name(_S5_, Package(){ a, b, ... })`:
//! `NameOp (0x08)`, an optional root prefix `\`, the name seg `_S5_`, then
//! `PackageOp (0x12) PkgLength NumElements` and integer elements encoded as
//! `ZeroOp`, `OneOp`, or `BytePrefix`/`WordPrefix`/`DWordPrefix` constants.
//!
//! Platform devices such as virtio-mmio (`_HID "LNRO0005"`) are declared as
//! `Device(XXXX) { Name(_HID, "..."), ..., Name(_CRS, ResourceTemplate(){
//! Memory32Fixed(...), Interrupt(...) }) }`: `DeviceOp (0x5B 0x82)
//! PkgLength NameString TermList`, with `_CRS` a `BufferOp (0x11)` holding
//! resource descriptors (ACPI 6.5 §6.4).

use crate::Error;
use alloc::vec::Vec;
use vmfw_bytes::{u16_at, u32_at, u64_at, u8_at};

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const BYTE_PREFIX: u8 = 0x0a;
const WORD_PREFIX: u8 = 0x0b;
const DWORD_PREFIX: u8 = 0x0c;

/// Decodes a PkgLength at `at`: returns (length, bytes used by the
/// encoding). ACPI 6.5 §20.2.4.
pub fn pkg_length(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let lead = *b.get(at)?;
    let extra = usize::from(lead >> 6);
    if extra == 0 {
        return Some((usize::from(lead & 0x3f), 1));
    }
    let mut len = usize::from(lead & 0x0f);
    for i in 0..extra {
        let byte = *b.get(at.checked_add(1 + i)?)?;
        len |= usize::from(byte) << (4 + 8 * i);
    }
    Some((len, 1 + extra))
}

/// Decodes a small integer constant at `at`: (value, bytes used).
fn integer(b: &[u8], at: usize) -> Option<(u32, usize)> {
    let op = *b.get(at)?;
    let data = at.checked_add(1)?;
    match op {
        ZERO_OP => Some((0, 1)),
        ONE_OP => Some((1, 1)),
        BYTE_PREFIX => Some((u32::from(u8_at(b, data)?), 2)),
        WORD_PREFIX => Some((u32::from(u16_at(b, data)?), 3)),
        DWORD_PREFIX => Some((u32_at(b, data)?, 5)),
        _ => None,
    }
}

/// Finds `Name(_S5_, Package(){SLP_TYPa, SLP_TYPb, ...})` in AML and returns
/// the two sleep type values (SLP_TYPb defaults to SLP_TYPa when the
/// package has one element).
pub fn find_s5(aml: &[u8]) -> Result<(u8, u8), Error> {
    let mut from = 0;
    while let Some(pos) = find(aml, b"_S5_", from) {
        from = pos + 1;
        let named = pos.checked_sub(1).and_then(|p| aml.get(p)) == Some(&NAME_OP)
            || (pos.checked_sub(2).and_then(|p| aml.get(p)) == Some(&NAME_OP)
                && aml.get(pos - 1) == Some(&b'\\'));
        if !named || aml.get(pos + 4) != Some(&PACKAGE_OP) {
            continue;
        }
        let Some((_, used)) = pkg_length(aml, pos + 5) else { continue };
        let count_at = pos + 5 + used;
        let Some(&count) = aml.get(count_at) else { continue };
        let Some((a, n)) = integer(aml, count_at + 1) else { continue };
        let b = if count >= 2 { integer(aml, count_at + 1 + n).map(|(v, _)| v) } else { None };
        let a = (a & 0xff) as u8;
        return Ok((a, b.map_or(a, |v| (v & 0xff) as u8)));
    }
    Err(Error::NoS5)
}

const EXT_OP_PREFIX: u8 = 0x5b;
const DEVICE_OP: u8 = 0x82;
const STRING_PREFIX: u8 = 0x0d;
const BUFFER_OP: u8 = 0x11;

/// A device's memory window and interrupt from its `_CRS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceResources {
    /// Base of the first memory range.
    pub base: u64,
    /// Length of the first memory range.
    pub size: u64,
    /// First interrupt, if any.
    pub irq: Option<u32>,
}

/// Most devices reported by [`find_devices`]; a DSDT with more matching
/// devices than this is not one a VMM wrote.
pub const MAX_DEVICES: usize = 256;

/// Finds every `Device` whose `_HID` is the string `hid` and returns the
/// first memory range and interrupt of each one's `_CRS`, in DSDT order.
/// Devices without a parsable `_CRS` memory range are skipped.
pub fn find_devices(aml: &[u8], hid: &str) -> Vec<DeviceResources> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(aml, &[EXT_OP_PREFIX, DEVICE_OP], at) {
        at = pos + 2;
        if out.len() >= MAX_DEVICES {
            break;
        }
        let Some(body) = device_body(aml, pos) else { continue };
        // Only look at this device's own objects: stop at a nested device.
        let own =
            find(body, &[EXT_OP_PREFIX, DEVICE_OP], 0).and_then(|n| body.get(..n)).unwrap_or(body);
        if !has_string_hid(own, hid) {
            continue;
        }
        if let Some(r) = crs_buffer(own).and_then(parse_resources) {
            out.push(r);
        }
    }
    out
}

/// The TermList of the device whose `DeviceOp` starts at `pos`.
fn device_body(aml: &[u8], pos: usize) -> Option<&[u8]> {
    let (len, used) = pkg_length(aml, pos + 2)?;
    // PkgLength counts its own encoding.
    let end = (pos + 2).checked_add(len)?;
    let body = aml.get(pos + 2 + used..end)?;
    let name_len = name_string_len(body)?;
    body.get(name_len..)
}

/// Length of the NameString at the start of `b` (ACPI 6.5 §20.2.2).
fn name_string_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while matches!(b.get(i), Some(b'\\') | Some(b'^')) {
        i += 1;
    }
    let segs = match *b.get(i)? {
        0x00 => return Some(i + 1),
        0x2e => {
            i += 1;
            2
        }
        0x2f => {
            i += 2;
            usize::from(*b.get(i - 1)?)
        }
        _ => 1,
    };
    let end = i.checked_add(segs.checked_mul(4)?)?;
    (end <= b.len()).then_some(end)
}

fn has_string_hid(own: &[u8], hid: &str) -> bool {
    let mut at = 0;
    while let Some(p) = find(own, b"_HID", at) {
        at = p + 1;
        if !name_object_at(own, p, STRING_PREFIX) {
            continue;
        }
        // The string and its NUL terminator.
        let s = own.get(p + 5..).unwrap_or(&[]);
        if s.strip_prefix(hid.as_bytes()).and_then(<[u8]>::first) == Some(&0) {
            return true;
        }
    }
    false
}

/// Whether the name segment found at `p` is the name of a `Name(seg, ...)`
/// whose object starts with the opcode `op`: a `NameOp` right before the
/// segment and `op` right after it.
fn name_object_at(own: &[u8], p: usize, op: u8) -> bool {
    p.checked_sub(1).and_then(|i| own.get(i)) == Some(&NAME_OP)
        && p.checked_add(4).and_then(|i| own.get(i)) == Some(&op)
}

/// The byte list of `Name(_CRS, Buffer(){...})` in `own`.
fn crs_buffer(own: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    while let Some(p) = find(own, b"_CRS", at) {
        at = p + 1;
        if !name_object_at(own, p, BUFFER_OP) {
            continue;
        }
        let (len, used) = pkg_length(own, p + 5)?;
        let end = (p + 5).checked_add(len)?;
        let buf = own.get(p + 5 + used..end)?;
        // BufferSize is an integer term; the bytes follow it.
        let (size, n) = integer(buf, 0)?;
        let bytes = buf.get(n..)?;
        return bytes.get(..(size as usize).min(bytes.len()));
    }
    None
}

/// Walks resource descriptors (ACPI 6.5 §6.4) for the first memory range
/// and the first interrupt.
fn parse_resources(mut b: &[u8]) -> Option<DeviceResources> {
    let mut mem: Option<(u64, u64)> = None;
    let mut irq = None;
    while let Some(&tag) = b.first() {
        let (kind, body, total) = if tag & 0x80 == 0 {
            let len = usize::from(tag & 7);
            ((tag >> 3) & 0xf, b.get(1..1 + len)?, 1 + len)
        } else {
            let len = usize::from(u16_at(b, 1)?);
            (tag, b.get(3..3 + len)?, 3 + len)
        };
        match kind {
            0x0f => break, // end tag
            0x04 => {
                // IRQ descriptor: 16-bit mask, lowest set bit.
                let mask = u16_at(body, 0)?;
                if irq.is_none() && mask != 0 {
                    irq = Some(mask.trailing_zeros());
                }
            }
            0x86 => {
                // Memory32Fixed: info, base u32, length u32.
                let base = u32_at(body, 1)?;
                let len = u32_at(body, 5)?;
                mem.get_or_insert((u64::from(base), u64::from(len)));
            }
            // QWord address space (memory type 0): type, flags, specific,
            // granularity, min, max, translation, length.
            0x8a if body.first() == Some(&0) => {
                let min = u64_at(body, 11)?;
                let len = u64_at(body, 35)?;
                mem.get_or_insert((min, len));
            }
            // DWord address space: the same layout with 32-bit fields.
            0x87 if body.first() == Some(&0) => {
                let min = u32_at(body, 7)?;
                let len = u32_at(body, 19)?;
                mem.get_or_insert((u64::from(min), u64::from(len)));
            }
            // Extended interrupt: flags, count, then 32-bit numbers.
            0x89 if irq.is_none() && body.get(1).is_some_and(|n| *n > 0) => {
                irq = u32_at(body, 2);
            }
            _ => {}
        }
        b = b.get(total..)?;
    }
    let (base, size) = mem.filter(|(_, len)| *len > 0)?;
    base.checked_add(size)?;
    Some(DeviceResources { base, size, irq })
}

/// Position of `needle` in `hay` at or after `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let hay = hay.get(from..)?;
    // The last position a match can start at.
    let last = hay.len().checked_sub(needle.len())?;
    // A tight scan for the first byte, and a comparison only there: a
    // comparison call at every position made this the firmware's hottest
    // loop on q35, whose DSDT is scanned for virtio-mmio devices.
    let mut at = 0;
    while at <= last {
        let p = hay.get(at..=last)?.iter().position(|&b| b == first)?;
        at += p;
        if hay.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at + from);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_agrees_with_a_naive_search() {
        let naive = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
            if needle.is_empty() || from > hay.len() {
                return None;
            }
            (from..=hay.len().checked_sub(needle.len())?)
                .find(|&i| &hay[i..i + needle.len()] == needle)
        };
        let hay = b"_S5__S5_x_S5\\_S5_\x5b\x82[\x82_HID_HI";
        for needle in [&b"_S5_"[..], b"_", b"_HID", b"HI", b"\x5b\x82", b"zz", b"", hay] {
            for from in 0..=hay.len() + 2 {
                assert_eq!(
                    find(hay, needle, from),
                    naive(hay, needle, from),
                    "{needle:?} from {from}"
                );
            }
        }
    }

    #[test]
    fn pkg_lengths() {
        assert_eq!(pkg_length(&[0x05], 0), Some((5, 1)));
        assert_eq!(pkg_length(&[0x4a, 0x12], 0), Some((0x12a, 2)));
        assert_eq!(pkg_length(&[0xc0, 0xff, 0xff, 0x0f], 0), Some((0x00ff_fff0, 4)));
        assert_eq!(pkg_length(&[0x4a], 0), None);
        assert_eq!(pkg_length(&[], 0), None);
    }

    #[test]
    fn finds_s5_in_qemu_and_ch_shapes() {
        // QEMU q35: Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })
        let q35 = [0x10, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0];
        assert_eq!(find_s5(&q35), Ok((0, 0)));
        // Hardware-reduced VMMs: Name (\_S5, Package (One) { 0x05 })
        let hw = [0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x04, 0x01, 0x0a, 0x05];
        assert_eq!(find_s5(&hw), Ok((5, 5)));
        // A method that merely mentions _S5_ is not a Name declaration.
        let other = [0x70, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x01, 0x0a, 0x05];
        assert_eq!(find_s5(&other), Err(Error::NoS5));
        // Truncated package.
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12]), Err(Error::NoS5));
    }

    /// Builds `Device(name) { Name(_HID, hid) Name(_UID, 0) Name(_CRS, ...) }`
    /// the way QEMU microvm does for its virtio-mmio transports.
    fn virtio_device(name: &[u8; 4], hid: &str, base: u32, irq: u32) -> Vec<u8> {
        let mut crs = std::vec![0x86, 9, 0, 1];
        crs.extend_from_slice(&base.to_le_bytes());
        crs.extend_from_slice(&0x200u32.to_le_bytes());
        crs.extend_from_slice(&[0x89, 6, 0, 0x09, 1]);
        crs.extend_from_slice(&irq.to_le_bytes());
        crs.extend_from_slice(&[0x79, 0]);
        let mut buf = std::vec![0x0a, crs.len() as u8];
        buf.extend_from_slice(&crs);
        let mut body = std::vec![NAME_OP, b'_', b'H', b'I', b'D', STRING_PREFIX];
        body.extend_from_slice(hid.as_bytes());
        body.push(0);
        body.extend_from_slice(&[NAME_OP, b'_', b'U', b'I', b'D', ZERO_OP]);
        body.extend_from_slice(&[NAME_OP, b'_', b'C', b'R', b'S', BUFFER_OP]);
        body.push((buf.len() + 1) as u8);
        body.extend_from_slice(&buf);
        let mut dev = std::vec![EXT_OP_PREFIX, DEVICE_OP];
        let len = body.len() + 4 + 2;
        dev.push(0x40 | (len & 0xf) as u8);
        dev.push((len >> 4) as u8);
        dev.extend_from_slice(name);
        dev.extend_from_slice(&body);
        dev
    }

    #[test]
    fn finds_virtio_mmio_devices() {
        let mut aml = std::vec![0x10, 0x05, b'_', b'S', b'B', b'_'];
        aml.extend(virtio_device(b"VR00", "LNRO0005", 0xfeb0_0000, 16));
        aml.extend(virtio_device(b"COM1", "PNP0501", 0x3f8, 4));
        aml.extend(virtio_device(b"VR01", "LNRO0005", 0xfeb0_0200, 17));
        let found = find_devices(&aml, "LNRO0005");
        assert_eq!(
            found,
            [
                DeviceResources { base: 0xfeb0_0000, size: 0x200, irq: Some(16) },
                DeviceResources { base: 0xfeb0_0200, size: 0x200, irq: Some(17) },
            ]
        );
        // A prefix of the HID must not match.
        assert!(find_devices(&aml, "LNRO000").is_empty());
        for cut in 0..aml.len() {
            let _ = find_devices(&aml[..cut], "LNRO0005");
        }
        for i in 0..aml.len() {
            for v in [0u8, 0x40, 0x7f, 0x80, 0xff] {
                let mut m = aml.clone();
                m[i] = v;
                let _ = find_devices(&m, "LNRO0005");
            }
        }
    }

    #[test]
    fn mutations_never_panic() {
        let hw = [0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x04, 0x01, 0x0a, 0x05];
        for i in 0..hw.len() {
            for v in 0..=255u8 {
                let mut m = hw;
                m[i] = v;
                let _ = find_s5(&m);
                let _ = find_s5(&m[..i]);
            }
        }
    }
}
