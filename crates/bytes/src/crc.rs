//! CRC-32 as GPT uses it (UEFI 2.10 §5.3.2 and Appendix: the IEEE 802.3 /
//! ISO-HDLC polynomial 0x04C11DB7 in its reflected form 0xEDB88320, initial
//! value and final XOR 0xFFFFFFFF).
//!
//! The same checksum guards the UEFI system table headers and vmfw's
//! variable store file. Table-driven, one byte per step; the 256-entry
//! table is computed at compile time. Its users checksum a GPT header of at
//! most one block, an entry array bounded by the GPT reader, or a few
//! kilobytes of variables, so this is never on a hot path.

/// The reflected IEEE polynomial.
const POLY: u32 = 0xEDB8_8320;

/// `TABLE[i]` is the CRC register after shifting the byte `i` through it.
const TABLE: [u32; 256] = make_table();

// Evaluated at compile time: an out-of-bounds index would fail the build.
#[allow(clippy::indexing_slicing)]
const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// An incremental CRC-32 (IEEE) computation.
///
/// ```
/// let mut c = vmfw_bytes::Crc32::new();
/// c.update(b"1234");
/// c.update(b"56789");
/// assert_eq!(c.finish(), 0xCBF4_3926);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh computation (register preset to all ones).
    pub const fn new() -> Self {
        Self { state: !0 }
    }

    /// Feeds `data` into the checksum.
    pub fn update(&mut self, data: &[u8]) {
        let mut s = self.state;
        for &b in data {
            // The index is masked to 0..=255, so it is always in the table.
            let idx = ((s ^ u32::from(b)) & 0xFF) as usize;
            s = TABLE.get(idx).copied().unwrap_or(0) ^ (s >> 8);
        }
        self.state = s;
    }

    /// The checksum of everything fed so far.
    pub const fn finish(&self) -> u32 {
        !self.state
    }
}

/// The CRC-32 (IEEE) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, straight from the definition.
    fn crc32_bitwise(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn known_vectors() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(crc32(b"abc"), 0x3524_41C2);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        assert_eq!(crc32(&[0u8; 32]), 0x190A_55AD);
        assert_eq!(crc32(&[0xFFu8; 32]), 0xFF6C_AB0B);
    }

    #[test]
    fn table_matches_definition() {
        assert_eq!(TABLE[0], 0);
        assert_eq!(TABLE[1], 0x7707_3096);
        assert_eq!(TABLE[255], 0x2D02_EF8D);
        let data: alloc::vec::Vec<u8> = (0..2000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        assert_eq!(crc32(&data), crc32_bitwise(&data));
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        for split in 0..data.len() {
            let mut c = Crc32::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.finish(), crc32(data));
        }
    }
}
