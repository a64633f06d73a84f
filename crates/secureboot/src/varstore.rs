//! A reader for edk2's non-volatile variable store: the firmware volume at
//! the start of an OVMF `*_VARS.fd` file (`EFI_FIRMWARE_VOLUME_HEADER`
//! with the system NV data file system GUID, then a `VARIABLE_STORE_HEADER`
//! and the variables: each header 4-byte aligned, its name right after it,
//! its data right after the name, as edk2 lays them out on every
//! architecture but Itanium).
//!
//! It lets tools and tests take keys out of a distribution's enrolled
//! store (Debian's `OVMF_VARS_4M.ms.fd` holds Microsoft's `db`); the
//! firmware does not use it.

use crate::Guid;
use core::fmt;
use vmfw_bytes::{u16_at as le16, u32_at as le32, u64_at as le64};

/// `EFI_SYSTEM_NV_DATA_FV_GUID`, the variable store volume's file system.
pub const SYSTEM_NV_DATA_FV: Guid = Guid::from_fields(
    0xfff1_2b8d,
    0x7696,
    0x4c8b,
    [0xa9, 0x85, 0x27, 0x47, 0x07, 0x5b, 0x4f, 0x50],
);
/// `EFI_AUTHENTICATED_VARIABLE_GUID`: a store of authenticated headers.
pub const AUTHENTICATED_VARIABLE: Guid = Guid::from_fields(
    0xaaf3_2c78,
    0x947b,
    0x439a,
    [0xa1, 0x80, 0x2e, 0x14, 0x4e, 0xc3, 0x77, 0x92],
);
/// `EFI_VARIABLE_GUID`: a store of plain headers.
pub const VARIABLE: Guid = Guid::from_fields(
    0xddcf_3616,
    0x3275,
    0x4164,
    [0x98, 0xbc, 0xfe, 0x85, 0x70, 0x7f, 0xfe, 0x7d],
);

const START_ID: u16 = 0x55aa;
const VAR_ADDED: u8 = 0x3f;
/// `VAR_ADDED & VAR_IN_DELETED_TRANSITION`: being replaced, still valid
/// when no added copy exists.
const VAR_IN_TRANSITION: u8 = 0x3e;

/// Why a variable store was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarStoreError {
    /// Not a firmware volume (`_FVH` signature, file system GUID, header
    /// length).
    NotFirmwareVolume,
    /// The variable store header is missing, of an unknown format, or its
    /// size runs past the volume.
    BadStoreHeader,
    /// A variable header, name or data runs past the store.
    TruncatedVariable,
}

impl core::error::Error for VarStoreError {}

impl fmt::Display for VarStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarStoreError::NotFirmwareVolume => "variable store: not an NV data firmware volume",
            VarStoreError::BadStoreHeader => "variable store: bad store header",
            VarStoreError::TruncatedVariable => "variable store: truncated variable",
        })
    }
}

/// A variable found in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable<'a> {
    /// Its attributes.
    pub attributes: u32,
    /// Its data.
    pub data: &'a [u8],
}

fn guid_at(b: &[u8], at: usize) -> Option<Guid> {
    Some(Guid(b.get(at..at.checked_add(16)?)?.try_into().ok()?))
}

/// Finds the live variable `name` of vendor `guid` in the store image
/// `store` (an edk2 NV firmware volume). `Ok(None)` when it is not there.
pub fn find<'a>(
    store: &'a [u8],
    name: &str,
    guid: &Guid,
) -> Result<Option<Variable<'a>>, VarStoreError> {
    let fv = VarStoreError::NotFirmwareVolume;
    if le32(store, 40) != Some(u32::from_le_bytes(*b"_FVH"))
        || guid_at(store, 16) != Some(SYSTEM_NV_DATA_FV)
    {
        return Err(fv);
    }
    let fv_len = usize::try_from(le64(store, 32).ok_or(fv)?).map_err(|_| fv)?;
    let header_len = usize::from(le16(store, 48).ok_or(fv)?);
    let volume = store.get(..fv_len).ok_or(fv)?;

    let sh = VarStoreError::BadStoreHeader;
    let vs = volume.get(header_len..).ok_or(sh)?;
    let auth = match guid_at(vs, 0).ok_or(sh)? {
        g if g == AUTHENTICATED_VARIABLE => true,
        g if g == VARIABLE => false,
        _ => return Err(sh),
    };
    let size = usize::try_from(le32(vs, 16).ok_or(sh)?).map_err(|_| sh)?;
    if vs.get(20) != Some(&0x5a) || vs.get(21) != Some(&0xfe) {
        return Err(sh);
    }
    let vars = vs.get(28..size).ok_or(sh)?;

    // Offsets inside each variable header (edk2's VARIABLE_HEADER and
    // AUTHENTICATED_VARIABLE_HEADER).
    let (hdr_len, name_size_at, data_size_at, guid_at_off) =
        if auth { (60, 36, 40, 44) } else { (32, 8, 12, 16) };
    let tv = VarStoreError::TruncatedVariable;
    let mut at = 0usize;
    let mut in_transition = None;
    while le16(vars, at) == Some(START_ID) {
        let state = *vars.get(at + 2).ok_or(tv)?;
        let attributes = le32(vars, at + 4).ok_or(tv)?;
        let name_size =
            usize::try_from(le32(vars, at + name_size_at).ok_or(tv)?).map_err(|_| tv)?;
        let data_size =
            usize::try_from(le32(vars, at + data_size_at).ok_or(tv)?).map_err(|_| tv)?;
        let vendor = guid_at(vars, at + guid_at_off).ok_or(tv)?;
        let name_at = at.checked_add(hdr_len).ok_or(tv)?;
        let name_end = name_at.checked_add(name_size).ok_or(tv)?;
        let raw_name = vars.get(name_at..name_end).ok_or(tv)?;
        let data_at = name_end;
        let data_end = data_at.checked_add(data_size).ok_or(tv)?;
        let data = vars.get(data_at..data_end).ok_or(tv)?;
        if vendor == *guid && name_matches(raw_name, name) {
            let var = Variable { attributes, data };
            if state == VAR_ADDED {
                return Ok(Some(var));
            }
            if state == VAR_IN_TRANSITION {
                in_transition = Some(var);
            }
        }
        at = data_end.checked_add(3).ok_or(tv)? & !3;
    }
    Ok(in_transition)
}

/// True when the UTF-16LE, NUL-terminated `raw` spells `name`.
fn name_matches(raw: &[u8], name: &str) -> bool {
    let mut units =
        raw.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().unwrap_or([0xff; 2])));
    for want in name.encode_utf16() {
        if units.next() != Some(want) {
            return false;
        }
    }
    matches!(units.next(), Some(0) | None)
}
