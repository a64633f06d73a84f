//! File names: short (8.3) names, long-name checksums and case-insensitive
//! comparison.
//!
//! - Short names (`DIR_Name`, FAT spec "FAT Directory Structure"): 11 bytes, base padded with spaces to 8,
//!   extension to 3; a leading 0x05 stands for 0xE5. Bytes ≥ 0x80 are read
//!   as code page 437, the OEM code page that DOS, Windows and Linux (by
//!   default) use. The `DIR_NTRes` bits 0x08/0x10 (set by Windows NT and
//!   Linux for all-lowercase names) make the base/extension lowercase.
//! - Long-name checksum: `ChkSum()` of FAT spec "FAT Long Directory
//!   Entries".
//! - Comparison: FAT names are case-insensitive (the short name is stored
//!   upper-case, long names match regardless of case), and UEFI firmware
//!   opens files that way (UEFI 2.10 §13.5 `EFI_FILE_PROTOCOL.Open` on a FAT
//!   volume). ASCII is folded exactly; other characters of the Basic
//!   Multilingual Plane are folded when their upper case is a single BMP
//!   character (simple case mapping), close to what Windows does.

use alloc::string::String;

/// Code page 437, bytes 0x80..=0xFF.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// `DIR_NTRes` bit: the base name is all lowercase.
pub(crate) const NT_LOWER_BASE: u8 = 0x08;
/// `DIR_NTRes` bit: the extension is all lowercase.
pub(crate) const NT_LOWER_EXT: u8 = 0x10;

/// Decodes one short-name byte (code page 437), lowercasing ASCII if asked.
pub(crate) fn oem_char(b: u8, lower: bool) -> char {
    if b < 0x80 {
        let c = char::from(b);
        if lower {
            c.to_ascii_lowercase()
        } else {
            c
        }
    } else {
        CP437_HIGH.get(usize::from(b - 0x80)).copied().unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// Turns the 11-byte short name and the `DIR_NTRes` byte into the name a
/// user sees (`"README.TXT"`, `"readme.txt"`, `"."`, `".."`).
pub(crate) fn short_name(raw: &[u8; 11], nt: u8) -> String {
    let (base, ext) = raw.split_at(8);
    let base_len = base.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    let ext_len = ext.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    let mut s = String::with_capacity(12);
    for (i, &b) in base.iter().take(base_len).enumerate() {
        let b = if i == 0 && b == 0x05 { 0xE5 } else { b };
        s.push(oem_char(b, nt & NT_LOWER_BASE != 0));
    }
    if ext_len > 0 {
        s.push('.');
        for &b in ext.iter().take(ext_len) {
            s.push(oem_char(b, nt & NT_LOWER_EXT != 0));
        }
    }
    s
}

/// The long-name checksum of a short name (`ChkSum()`, FAT spec "FAT Long
/// Directory Entries").
pub(crate) fn checksum(raw: &[u8; 11]) -> u8 {
    raw.iter().fold(0u8, |sum, &b| ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b))
}

/// Folds one character for case-insensitive comparison.
pub(crate) fn fold(c: char) -> char {
    // The simple upper case of BMP characters, as `char::to_uppercase`
    // gives it, from a compact table (`core`'s is about 12 KiB).
    vmfw_bytes::upcase(c)
}

/// Whether two names are equal ignoring case (see the module docs).
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().map(fold).eq(b.chars().map(fold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &[u8; 11]) -> [u8; 11] {
        *s
    }

    #[test]
    fn formats_short_names() {
        assert_eq!(short_name(&raw(b"README  TXT"), 0), "README.TXT");
        assert_eq!(short_name(&raw(b"README  TXT"), NT_LOWER_BASE), "readme.TXT");
        assert_eq!(short_name(&raw(b"README  TXT"), NT_LOWER_EXT), "README.txt");
        assert_eq!(short_name(&raw(b"README  TXT"), NT_LOWER_BASE | NT_LOWER_EXT), "readme.txt");
        assert_eq!(short_name(&raw(b"NOEXT      "), 0), "NOEXT");
        assert_eq!(short_name(&raw(b".          "), 0), ".");
        assert_eq!(short_name(&raw(b"..         "), 0), "..");
        assert_eq!(short_name(&raw(b"\x05BC     TXT"), 0), "σBC.TXT");
        assert_eq!(short_name(&raw(b"\x80\xFF      A  "), 0), "Ç\u{a0}.A");
    }

    #[test]
    fn checksum_matches_spec_example() {
        // Computed by hand with the spec's rotate-right-and-add.
        let mut sum = 0u8;
        for &b in b"FOO     BAR" {
            sum = sum.rotate_right(1).wrapping_add(b);
        }
        assert_eq!(checksum(b"FOO     BAR"), sum);
    }

    #[test]
    fn folds_case() {
        assert!(eq_ignore_case("BOOTX64.EFI", "bootx64.efi"));
        assert!(!eq_ignore_case("Grüße", "GRÜSSE"));
        assert!(eq_ignore_case("Grüße", "GRÜßE"));
        assert!(eq_ignore_case("ΣΊΣΥΦΟΣ", "σίσυφοσ"));
        assert!(!eq_ignore_case("a", "ab"));
        assert!(!eq_ignore_case("a", "b"));
    }
}
