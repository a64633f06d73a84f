//! Boot options: `EFI_LOAD_OPTION` (UEFI §3.1.3) as stored in `Boot####`
//! variables, and the `BootOrder` list.

use crate::devpath;
use crate::{Error, Result};
use alloc::string::String;
use alloc::vec::Vec;
use vmfw_bytes::{u16_at, u32_at};

/// `LOAD_OPTION_ACTIVE`.
pub const ACTIVE: u32 = 0x0000_0001;
/// `LOAD_OPTION_HIDDEN`.
pub const HIDDEN: u32 = 0x0000_0008;
/// `LOAD_OPTION_CATEGORY` mask; boot options are category 0 (boot).
pub const CATEGORY: u32 = 0x0000_1f00;

/// A decoded `EFI_LOAD_OPTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOption {
    /// `Attributes` (`LOAD_OPTION_*`).
    pub attributes: u32,
    /// `Description`, without its NUL.
    pub description: String,
    /// The first device path of `FilePathList` (End node included).
    pub file_path: Vec<u8>,
    /// `OptionalData`: passed to the image as its load options.
    pub optional_data: Vec<u8>,
}

impl LoadOption {
    /// Decodes the bytes of a `Boot####` variable; `InvalidParameter` for
    /// anything malformed (short, no NUL after the description, a file
    /// path list that is not a valid device path).
    pub fn parse(b: &[u8]) -> Result<Self> {
        let attributes = u32_at(b, 0).ok_or(Error::InvalidParameter)?;
        let list_len = usize::from(u16_at(b, 4).ok_or(Error::InvalidParameter)?);
        let mut units = Vec::new();
        let mut off = 6usize;
        loop {
            let u = u16_at(b, off).ok_or(Error::InvalidParameter)?;
            off += 2;
            if u == 0 {
                break;
            }
            units.push(u);
        }
        let description =
            char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
        let end = off.checked_add(list_len).ok_or(Error::InvalidParameter)?;
        let list = b.get(off..end).ok_or(Error::InvalidParameter)?;
        let first = devpath::next_instance(list)?.path;
        Ok(LoadOption {
            attributes,
            description,
            file_path: first,
            optional_data: b.get(end..).unwrap_or(&[]).to_vec(),
        })
    }

    /// Encodes the option as a `Boot####` variable's data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.attributes.to_le_bytes());
        v.extend_from_slice(&(self.file_path.len() as u16).to_le_bytes());
        for u in self.description.encode_utf16().chain(core::iter::once(0)) {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v.extend_from_slice(&self.file_path);
        v.extend_from_slice(&self.optional_data);
        v
    }

    /// Active and in the boot category: worth trying.
    pub fn is_bootable(&self) -> bool {
        self.attributes & ACTIVE != 0 && self.attributes & CATEGORY == 0
    }
}

/// `BootOrder`: a list of option numbers (an odd trailing byte is
/// ignored).
pub fn parse_order(b: &[u8]) -> Vec<u16> {
    (0..b.len() / 2).filter_map(|i| u16_at(b, i * 2)).collect()
}

/// The variable name of option `n`: `Boot` and four upper-case hex digits.
pub fn boot_name(n: u16) -> String {
    alloc::format!("Boot{n:04X}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devpath::PathBuilder;
    use alloc::vec;

    #[test]
    fn round_trip_and_parse() {
        let path =
            PathBuilder::new().pci_root().pci(3, 0).file_path("\\EFI\\x.efi").finish().unwrap();
        let o = LoadOption {
            attributes: ACTIVE,
            description: "debian".into(),
            file_path: path.clone(),
            optional_data: vec![1, 2, 3],
        };
        let b = o.to_bytes();
        assert_eq!(LoadOption::parse(&b).unwrap(), o);
        assert!(o.is_bootable());
        assert_eq!(parse_order(&[1, 0, 2, 0, 9]), [1, 2]);
        assert_eq!(boot_name(0xa), "Boot000A");
    }

    #[test]
    fn malformed_options_are_refused() {
        let path = PathBuilder::new().file_path("\\a").finish().unwrap();
        let o = LoadOption {
            attributes: ACTIVE,
            description: "x".into(),
            file_path: path,
            optional_data: vec![],
        };
        let b = o.to_bytes();
        for cut in 0..b.len() {
            assert!(LoadOption::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[4] = 0xff; // file path list longer than the data
        assert!(LoadOption::parse(&bad).is_err());
    }
}
