//! The saved form of the non-volatile variables: two copies ("slots") of a
//! checksummed image, written alternately, so that a write cut short by a
//! reset or a crash never loses the previous state (the reader takes the
//! valid slot with the higher sequence number).
//!
//! Slot layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `VMFWNVS1` |
//! | 8 | 8 | sequence number (higher is newer) |
//! | 16 | 4 | length of the records in bytes |
//! | 20 | 4 | CRC32 of header bytes 0..20 and the records |
//! | 24 | … | records |
//!
//! Record: vendor GUID (16), attributes (4), name length in UTF-16 units
//! without NUL (2), data length (4), the name, the data.
//!
//! Decoding treats the bytes as hostile: every length is checked against
//! the slot, names must be non-empty and NUL-free, data non-empty.

use crate::variables::{Store, NON_VOLATILE};
use crate::Guid;
use alloc::vec::Vec;
use vmfw_bytes::{u16_at, u32_at, u64_at};

/// First bytes of a valid slot.
pub const MAGIC: [u8; 8] = *b"VMFWNVS1";
/// Bytes before the records.
pub const HEADER: usize = 24;
const RECORD_HEADER: usize = 26;

/// One saved variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Vendor GUID.
    pub guid: Guid,
    /// Name, UTF-16 without NUL.
    pub name: Vec<u16>,
    /// Attributes as stored.
    pub attributes: u32,
    /// Data.
    pub data: Vec<u8>,
}

/// Why a slot was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// No magic: never written (or not this format).
    Empty,
    /// The record length runs past the slot.
    BadLength,
    /// The checksum does not match: a torn or damaged write.
    BadChecksum,
    /// A record is cut short or malformed.
    BadRecord,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DecodeError::Empty => "empty",
            DecodeError::BadLength => "length beyond the slot",
            DecodeError::BadChecksum => "checksum mismatch",
            DecodeError::BadRecord => "malformed record",
        })
    }
}

/// The slot image of the store's non-volatile variables (firmware-owned
/// read-only variables excluded: the firmware defines them each boot).
pub fn encode(store: &Store, sequence: u64) -> Vec<u8> {
    let mut records = Vec::new();
    for v in store.iter().filter(|v| v.attributes & NON_VOLATILE != 0 && !v.read_only) {
        records.extend_from_slice(&v.guid.to_bytes());
        records.extend_from_slice(&v.attributes.to_le_bytes());
        records.extend_from_slice(&(v.name.len() as u16).to_le_bytes());
        records.extend_from_slice(&(v.data.len() as u32).to_le_bytes());
        for u in v.name {
            records.extend_from_slice(&u.to_le_bytes());
        }
        records.extend_from_slice(v.data);
    }
    let mut out = Vec::with_capacity(HEADER + records.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let mut crc = vmfw_bytes::Crc32::new();
    crc.update(&out);
    crc.update(&records);
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out.extend_from_slice(&records);
    out
}

/// Decodes one slot: its sequence number and records.
pub fn decode(slot: &[u8]) -> Result<(u64, Vec<Record>), DecodeError> {
    if slot.get(..8) != Some(&MAGIC[..]) {
        return Err(DecodeError::Empty);
    }
    let sequence = u64_at(slot, 8).ok_or(DecodeError::BadLength)?;
    let len = u32_at(slot, 16).ok_or(DecodeError::BadLength)? as usize;
    let want = u32_at(slot, 20).ok_or(DecodeError::BadLength)?;
    let end = HEADER.checked_add(len).ok_or(DecodeError::BadLength)?;
    let records = slot.get(HEADER..end).ok_or(DecodeError::BadLength)?;
    let mut crc = vmfw_bytes::Crc32::new();
    crc.update(slot.get(..20).ok_or(DecodeError::BadLength)?);
    crc.update(records);
    if crc.finish() != want {
        return Err(DecodeError::BadChecksum);
    }
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < records.len() {
        let head = records.get(off..off + RECORD_HEADER).ok_or(DecodeError::BadRecord)?;
        let mut g = [0u8; 16];
        g.copy_from_slice(head.get(..16).ok_or(DecodeError::BadRecord)?);
        let attributes = u32_at(head, 16).ok_or(DecodeError::BadRecord)?;
        let units = usize::from(u16_at(head, 20).ok_or(DecodeError::BadRecord)?);
        let data_len = u32_at(head, 22).ok_or(DecodeError::BadRecord)? as usize;
        let name_start = off + RECORD_HEADER;
        let data_start = name_start.checked_add(units * 2).ok_or(DecodeError::BadRecord)?;
        let next = data_start.checked_add(data_len).ok_or(DecodeError::BadRecord)?;
        let name_bytes = records.get(name_start..data_start).ok_or(DecodeError::BadRecord)?;
        let data = records.get(data_start..next).ok_or(DecodeError::BadRecord)?;
        let name: Vec<u16> = (0..units).filter_map(|i| u16_at(name_bytes, i * 2)).collect();
        if name.is_empty() || name.contains(&0) || data.is_empty() {
            return Err(DecodeError::BadRecord);
        }
        out.push(Record { guid: Guid::from_bytes(g), name, attributes, data: data.to_vec() });
        off = next;
    }
    Ok((sequence, out))
}

/// The newer of two slots that decode; `None` when neither does.
pub fn newest(a: &[u8], b: &[u8]) -> Option<(u64, Vec<Record>)> {
    match (decode(a), decode(b)) {
        (Ok(x), Ok(y)) => Some(if y.0 > x.0 { y } else { x }),
        (Ok(x), Err(_)) | (Err(_), Ok(x)) => Some(x),
        _ => None,
    }
}

/// Loads saved records into `store` through the normal `SetVariable()`
/// rules; returns how many were accepted.
pub fn restore(store: &mut Store, records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| store.set_variable(&r.name, r.guid, r.attributes, &r.data).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::{utf16, Limits, BOOTSERVICE_ACCESS, GLOBAL_VARIABLE, RUNTIME_ACCESS};

    const NV_BS_RT: u32 = NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS;

    fn store() -> Store {
        let mut s = Store::new(Limits::default());
        s.set_variable(&utf16("BootOrder"), GLOBAL_VARIABLE, NV_BS_RT, &[1, 0]).unwrap();
        s.set_variable(&utf16("Volatile"), GLOBAL_VARIABLE, BOOTSERVICE_ACCESS, &[7]).unwrap();
        s.define_read_only(&utf16("SecureBoot"), GLOBAL_VARIABLE, 6, &[0]).unwrap();
        s
    }

    #[test]
    fn round_trip_keeps_only_writable_non_volatile_variables() {
        let img = encode(&store(), 5);
        let (seq, recs) = decode(&img).unwrap();
        assert_eq!(seq, 5);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].name, utf16("BootOrder"));
        assert_eq!(recs[0].data, [1, 0]);
        let mut fresh = Store::new(Limits::default());
        assert_eq!(restore(&mut fresh, &recs), 1);
        let (attr, data) = fresh.get_variable(&utf16("BootOrder"), GLOBAL_VARIABLE, 16).unwrap();
        assert_eq!((attr, data.as_slice()), (NV_BS_RT, &[1u8, 0][..]));
    }

    #[test]
    fn newer_valid_slot_wins_and_a_torn_one_is_ignored() {
        let a = encode(&store(), 1);
        let mut s = store();
        s.set_variable(&utf16("Boot0001"), GLOBAL_VARIABLE, NV_BS_RT, &[9; 40]).unwrap();
        let mut b = encode(&s, 2);
        assert_eq!(newest(&a, &b).unwrap().0, 2);
        let last = b.len() - 1;
        b[last] ^= 1;
        assert_eq!(decode(&b), Err(DecodeError::BadChecksum));
        assert_eq!(newest(&a, &b).unwrap().0, 1);
        assert_eq!(newest(&[0; 64], &[0xff; 64]), None);
    }

    #[test]
    fn hostile_slots_are_refused_without_panics() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        let img = encode(&store(), 3);
        for cut in 0..img.len() {
            assert!(decode(&img[..cut]).is_err());
        }
        // A record length that overruns, with a matching checksum.
        let mut bad = img.clone();
        bad[HEADER + 22..HEADER + 26].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut crc = vmfw_bytes::Crc32::new();
        crc.update(&bad[..20]);
        crc.update(&bad[HEADER..]);
        bad[20..24].copy_from_slice(&crc.finish().to_le_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::BadRecord));
        // Every single-byte corruption is either refused or decodes.
        for i in 0..img.len() {
            let mut x = img.clone();
            x[i] = x[i].wrapping_add(0x55);
            let _ = decode(&x);
        }
    }
}
