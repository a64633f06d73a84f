//! Reading an edk2 (OVMF) variable store file such as Debian's
//! `/usr/share/OVMF/OVMF_VARS_4M.ms.fd`, to take the Secure Boot
//! variables someone enrolled into it.
//!
//! Layout (edk2 `MdeModulePkg/Include/Guid/VariableFormat.h` and the PI
//! specification's firmware volume header):
//! - `EFI_FIRMWARE_VOLUME_HEADER`: signature `_FVH` at offset 40,
//!   `HeaderLength` (u16) at 48;
//! - at `HeaderLength`, `VARIABLE_STORE_HEADER`: `gEfiAuthenticatedVariableGuid`,
//!   `Size` (u32, header included), `Format` 0x5A (formatted), `State`
//!   0xFE (healthy), 7 reserved bytes: 28 bytes;
//! - from the next 4-byte boundary, variables, each an
//!   `AUTHENTICATED_VARIABLE_HEADER` of 60 bytes (`StartId` 0x55AA,
//!   `State`, reserved, `Attributes`, `MonotonicCount`, `TimeStamp`,
//!   `PubKeyIndex`, `NameSize`, `DataSize`, `VendorGuid`), the UTF-16
//!   name, the data right after it (edk2's `ALIGNMENT` is 1 on x86 and
//!   Arm), then padding to 4 (`HEADER_ALIGNMENT`); the first header
//!   without `StartId` ends the list.
//!
//! Only variables in state `VAR_ADDED` (0x3F) count: the others are
//! deleted, or copies half-way through an update.

use vmfw_bytes::Guid;

const FV_SIGNATURE: &[u8; 4] = b"_FVH";
/// gEfiAuthenticatedVariableGuid, aaf32c78-947b-439a-a180-2e144ec37792.
pub const AUTHENTICATED_VARIABLE: Guid = Guid::from_fields(
    0xaaf3_2c78,
    0x947b,
    0x439a,
    [0xa1, 0x80, 0x2e, 0x14, 0x4e, 0xc3, 0x77, 0x92],
);
/// EFI_GLOBAL_VARIABLE, the vendor of `PK` and `KEK`.
pub const GLOBAL_VARIABLE: Guid = Guid::from_fields(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);
/// EFI_IMAGE_SECURITY_DATABASE_GUID, the vendor of `db` and `dbx`.
pub const IMAGE_SECURITY_DATABASE: Guid = Guid::from_fields(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);
const STORE_HEADER_LEN: usize = 28;
const VARIABLE_HEADER_LEN: usize = 60;
const START_ID: u16 = 0x55aa;
const VAR_ADDED: u8 = 0x3f;

/// One variable of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub vendor: Guid,
    pub attributes: u32,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

/// The live (`VAR_ADDED`) variables of an edk2 authenticated variable
/// store file, in store order.
pub fn variables(file: &[u8]) -> Result<Vec<Variable>, String> {
    if file.get(40..44) != Some(FV_SIGNATURE) {
        return Err("not an edk2 firmware volume (no _FVH signature)".into());
    }
    let header_len = usize::from(u16_at(file, 48).ok_or("firmware volume header cut short")?);
    let store = file.get(header_len..).ok_or("firmware volume header longer than the file")?;
    let guid = store.get(..16).ok_or("variable store header cut short")?;
    if guid != AUTHENTICATED_VARIABLE.to_bytes() {
        return Err(format!(
            "not an authenticated variable store (store GUID {})",
            Guid::from_bytes(guid.try_into().unwrap_or_default())
        ));
    }
    let size = u32_at(store, 16).ok_or("variable store header cut short")? as usize;
    let store = store.get(..size).ok_or("variable store larger than the file")?;
    if store.get(20..22) != Some(&[0x5a, 0xfe]) {
        return Err("variable store not formatted or not healthy".into());
    }
    let mut out = Vec::new();
    let mut at = STORE_HEADER_LEN.next_multiple_of(4);
    while at + VARIABLE_HEADER_LEN <= store.len() && u16_at(store, at) == Some(START_ID) {
        let bad = || format!("variable at store offset {at:#x} runs past the store");
        let state = store[at + 2];
        let attributes = u32_at(store, at + 4).ok_or_else(bad)?;
        let name_size = u32_at(store, at + 36).ok_or_else(bad)? as usize;
        let data_size = u32_at(store, at + 40).ok_or_else(bad)? as usize;
        let vendor = Guid::from_bytes(store[at + 44..at + 60].try_into().map_err(|_| bad())?);
        let name_at = at + VARIABLE_HEADER_LEN;
        let name = store.get(name_at..name_at + name_size).ok_or_else(bad)?;
        let data_at = name_at + name_size;
        let data = store.get(data_at..data_at + data_size).ok_or_else(bad)?;
        if state == VAR_ADDED {
            let units: Vec<u16> = name
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|u| *u != 0)
                .collect();
            out.push(Variable {
                name: String::from_utf16_lossy(&units),
                vendor,
                attributes,
                data: data.to_vec(),
            });
        }
        at = (data_at + data_size).next_multiple_of(4);
    }
    Ok(out)
}

/// The content of the variable `name` of `vendor`, if live in `vars`.
pub fn find<'a>(vars: &'a [Variable], name: &str, vendor: Guid) -> Option<&'a [u8]> {
    vars.iter().find(|v| v.name == name && v.vendor == vendor).map(|v| v.data.as_slice())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An edk2 variable store file holding `vars` as (name, vendor,
    /// state, data).
    pub fn store(vars: &[(&str, Guid, u8, &[u8])]) -> Vec<u8> {
        let mut fv = vec![0u8; 72];
        fv[32..40].copy_from_slice(&(0x84000u64).to_le_bytes());
        fv[40..44].copy_from_slice(b"_FVH");
        fv[48..50].copy_from_slice(&72u16.to_le_bytes());
        let mut s = AUTHENTICATED_VARIABLE.to_bytes().to_vec();
        s.extend(0u32.to_le_bytes()); // size, below
        s.extend([0x5a, 0xfe, 0, 0, 0, 0, 0, 0]);
        for (name, vendor, state, data) in vars {
            let name: Vec<u8> =
                name.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect();
            s.extend(START_ID.to_le_bytes());
            s.extend([*state, 0]);
            s.extend(0x27u32.to_le_bytes());
            s.extend([0; 8 + 16 + 4]);
            s.extend((name.len() as u32).to_le_bytes());
            s.extend((data.len() as u32).to_le_bytes());
            s.extend(vendor.to_bytes());
            s.extend(&name);
            s.extend_from_slice(data);
            s.resize(s.len().next_multiple_of(4), 0xff);
        }
        s.resize(s.len() + 64, 0xff); // free space
        let size = s.len() as u32;
        s[16..20].copy_from_slice(&size.to_le_bytes());
        fv.extend(s);
        fv
    }

    #[test]
    fn reads_live_variables() {
        let f = store(&[
            ("PK", GLOBAL_VARIABLE, 0x3c, b"old"),
            ("PK", GLOBAL_VARIABLE, VAR_ADDED, b"pk!"),
            ("db", IMAGE_SECURITY_DATABASE, VAR_ADDED, &[1, 2, 3, 4, 5]),
            ("dbx", IMAGE_SECURITY_DATABASE, 0x3e, b"half"),
        ]);
        let vars = variables(&f).unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(find(&vars, "PK", GLOBAL_VARIABLE), Some(&b"pk!"[..]));
        assert_eq!(find(&vars, "db", IMAGE_SECURITY_DATABASE), Some(&[1, 2, 3, 4, 5][..]));
        assert_eq!(find(&vars, "db", GLOBAL_VARIABLE), None);
        assert_eq!(find(&vars, "dbx", IMAGE_SECURITY_DATABASE), None);
        assert_eq!(vars[0].attributes, 0x27);
    }

    #[test]
    fn refuses_what_is_not_a_store() {
        let f = store(&[("PK", GLOBAL_VARIABLE, VAR_ADDED, b"pk")]);
        let mut bad = f.clone();
        bad[40] = b'X';
        assert!(variables(&bad).unwrap_err().contains("_FVH"));
        let mut bad = f.clone();
        bad[72] ^= 1;
        assert!(variables(&bad).unwrap_err().contains("store GUID"));
        let mut bad = f.clone();
        bad[72 + 21] = 0;
        assert!(variables(&bad).unwrap_err().contains("healthy"));
        // A data size past the end of the store.
        let mut bad = f.clone();
        bad[72 + 28 + 40..72 + 28 + 44].copy_from_slice(&0x10000u32.to_le_bytes());
        assert!(variables(&bad).unwrap_err().contains("runs past"));
        assert!(variables(&f[..80]).is_err());
        assert!(variables(&[]).is_err());
    }
}
