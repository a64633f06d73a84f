//! The few fixed AML shapes vmfw recognises (ACPI 6.5 §20), found by a
//! bounded scan instead of an interpreter.
//!
//! `\_S5_` is always declared as `Name(_S5_, Package(){ a, b, ... })`:
//! `NameOp (0x08)`, an optional root prefix `\`, the name seg `_S5_`, then
//! `PackageOp (0x12) PkgLength NumElements` and integer elements encoded as
//! `ZeroOp`, `OneOp`, or `BytePrefix`/`WordPrefix`/`DWordPrefix` constants.

use crate::Error;

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
    let bytes = |n: usize| -> Option<u32> {
        let s = b.get(at.checked_add(1)?..at.checked_add(1 + n)?)?;
        Some(s.iter().rev().fold(0u32, |v, x| (v << 8) | u32::from(*x)))
    };
    match op {
        ZERO_OP => Some((0, 1)),
        ONE_OP => Some((1, 1)),
        BYTE_PREFIX => Some((bytes(1)?, 2)),
        WORD_PREFIX => Some((bytes(2)?, 3)),
        DWORD_PREFIX => Some((bytes(4)?, 5)),
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

/// Position of `needle` in `hay` at or after `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

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
