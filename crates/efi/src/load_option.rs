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

/// The option number of a `Boot####` variable name (UTF-16, no NUL):
/// `Boot` and exactly four hex digits, upper case as UEFI §3.1.1 requires
/// (`Boot000a` is not a boot option). `None` for any other name, such as
/// `BootOrder` or `BootNext`.
pub fn parse_boot_name(name: &[u16]) -> Option<u16> {
    let (prefix, digits) = name.split_at_checked(4)?;
    if prefix.iter().copied().ne("Boot".encode_utf16()) || digits.len() != 4 {
        return None;
    }
    digits.iter().try_fold(0u16, |n, &u| {
        let d = match u {
            0x30..=0x39 => u - 0x30,
            0x41..=0x46 => u - 0x41 + 10,
            _ => return None,
        };
        Some((n << 4) | d)
    })
}

/// Where the boot option for a device path is, or can go: the answer of
/// [`option_for_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionSlot {
    /// `Boot####` with this number exists and boots the path.
    Existing(u16),
    /// No option boots the path; this is the lowest unused number.
    Free(u16),
    /// No option boots the path and all 65536 numbers are in use.
    Full,
}

/// Finds the boot option whose file path is `path` among `existing`
/// (`(number, Boot#### data)` pairs in any order, for example from
/// [`crate::VariableStore::boot_options`]), or the number a new one should
/// get, as a boot manager does when it registers removable media.
///
/// A number counts as used whatever its data; an option that does not
/// parse ([`LoadOption::parse`]) never matches. When several options boot
/// the path, the lowest number wins. Every number in `existing` is looked
/// at: an option after a gap in the numbering is found.
pub fn option_for_path<'a>(
    existing: impl IntoIterator<Item = (u16, &'a [u8])>,
    path: &[u8],
) -> OptionSlot {
    let mut used = Vec::new();
    let mut found: Option<u16> = None;
    for (n, data) in existing {
        used.push(n);
        if LoadOption::parse(data).is_ok_and(|o| o.file_path == path) {
            found = Some(found.map_or(n, |f| f.min(n)));
        }
    }
    if let Some(n) = found {
        return OptionSlot::Existing(n);
    }
    vmfw_bytes::sort(&mut used);
    used.dedup();
    // Sorted and without repeats, the k-th number is k until the first
    // gap; past all 65536 the count no longer fits a u16.
    let mut free = 0u32;
    for n in used {
        if u32::from(n) != free {
            break;
        }
        free = free.saturating_add(1);
    }
    u16::try_from(free).map_or(OptionSlot::Full, OptionSlot::Free)
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

    fn option(path: &[u8]) -> Vec<u8> {
        LoadOption {
            attributes: ACTIVE,
            description: "x".into(),
            file_path: path.to_vec(),
            optional_data: vec![],
        }
        .to_bytes()
    }

    fn file(name: &str) -> Vec<u8> {
        PathBuilder::new().pci_root().pci(3, 0).file_path(name).finish().unwrap()
    }

    /// The firmware's lookup before `option_for_path`: probe Boot0000,
    /// Boot0001, ... and stop at the first number without a variable.
    fn probe_until_gap(existing: &[(u16, &[u8])], path: &[u8]) -> OptionSlot {
        for n in 0..=0xffffu16 {
            match existing.iter().find(|(m, _)| *m == n).map(|(_, d)| LoadOption::parse(d)) {
                Some(Ok(o)) if o.file_path == path => return OptionSlot::Existing(n),
                None => return OptionSlot::Free(n),
                _ => {}
            }
        }
        OptionSlot::Full
    }

    #[test]
    fn boot_names() {
        let name = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        assert_eq!(parse_boot_name(&name("Boot0000")), Some(0));
        assert_eq!(parse_boot_name(&name("Boot00A9")), Some(0xa9));
        assert_eq!(parse_boot_name(&name("BootFFFF")), Some(0xffff));
        for n in [0u16, 1, 0xa, 0x1234, 0xbeef, 0xffff] {
            assert_eq!(parse_boot_name(&name(&boot_name(n))), Some(n));
        }
        for bad in [
            "Boot000a",
            "Boot",
            "Boot000",
            "Boot00000",
            "BootOrder",
            "BootNext",
            "boot0000",
            "Boot00G0",
            "Driver0000",
            "",
        ] {
            assert_eq!(parse_boot_name(&name(bad)), None, "{bad}");
        }
    }

    #[test]
    fn option_after_a_gap_is_found() {
        let (x, y) = (file("\\x.efi"), file("\\y.efi"));
        let (ox, oy) = (option(&x), option(&y));
        let existing: [(u16, &[u8]); 2] = [(0, &ox), (2, &oy)];
        assert_eq!(option_for_path(existing, &y), OptionSlot::Existing(2));
        // The old probe stopped at the gap and would have made a second
        // option for the same path.
        assert_eq!(probe_until_gap(&existing, &y), OptionSlot::Free(1));
        // Without a match, the gap is the free number.
        assert_eq!(option_for_path(existing, &file("\\z.efi")), OptionSlot::Free(1));
    }

    #[test]
    fn lookup_is_order_independent_and_picks_the_lowest() {
        let (x, y) = (file("\\x.efi"), file("\\y.efi"));
        let (ox, oy) = (option(&x), option(&y));
        let existing: [(u16, &[u8]); 4] = [(7, &oy), (3, &ox), (0, &ox), (5, &oy)];
        assert_eq!(option_for_path(existing, &y), OptionSlot::Existing(5));
        assert_eq!(option_for_path(existing, &x), OptionSlot::Existing(0));
        let mut rev = existing;
        rev.reverse();
        assert_eq!(option_for_path(rev, &y), OptionSlot::Existing(5));
        assert_eq!(option_for_path(existing, &file("\\z.efi")), OptionSlot::Free(1));
        // Nothing yet: the first number.
        assert_eq!(option_for_path([], &x), OptionSlot::Free(0));
        // A number given twice counts once.
        let twice: [(u16, &[u8]); 3] = [(0, &ox), (0, &ox), (1, &ox)];
        assert_eq!(option_for_path(twice, &y), OptionSlot::Free(2));
    }

    #[test]
    fn malformed_options_occupy_their_number() {
        let x = file("\\x.efi");
        let ox = option(&x);
        let broken = &ox[..ox.len() - 1];
        let existing: [(u16, &[u8]); 3] = [(0, b""), (1, broken), (2, b"\xff\xff")];
        assert_eq!(option_for_path(existing, &x), OptionSlot::Free(3));
        // A path equal to the raw data does not match either.
        assert_eq!(option_for_path([(0, &x[..])], &x), OptionSlot::Free(1));
    }

    #[test]
    fn all_numbers_taken() {
        let x = file("\\x.efi");
        let ox = option(&x);
        let mut all: Vec<(u16, &[u8])> = (0..=0xffffu16).map(|n| (n, &b"junk"[..])).collect();
        assert_eq!(option_for_path(all.iter().copied(), &x), OptionSlot::Full);
        all[0xfffe] = (0xfffe, &ox);
        assert_eq!(option_for_path(all.iter().copied(), &x), OptionSlot::Existing(0xfffe));
        all.pop();
        all[0xfffe] = (0xfffe, b"");
        assert_eq!(option_for_path(all.iter().copied(), &x), OptionSlot::Free(0xffff));
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
