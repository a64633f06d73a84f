//! Upper-casing for case-insensitive file names, from a compact table.
//!
//! FAT compares long names without regard to case. `char::to_uppercase`
//! would do, but it brings `core`'s full case tables (about 12 KiB) into
//! the firmware image for what [`upcase`] needs: the simple (one to one)
//! upper case of Basic Multilingual Plane characters. The table below
//! holds exactly those mappings as runs, about 1 KiB; a test checks it
//! against `char::to_uppercase` for every character, so it stays the same
//! mapping for the Unicode version of the toolchain that builds it.

/// `count` characters `start`, `start + stride`, … each upper-case to
/// themselves plus `delta` (modulo 2^16; every result is in the BMP).
struct Run {
    start: u16,
    delta: u16,
    count: u8,
    stride: u8,
}

/// Every BMP character above ASCII whose upper case is one other BMP
/// character, as runs sorted by `start` that do not overlap (generated
/// from `char::to_uppercase`; see the test).
#[rustfmt::skip]
const RUNS: &[Run] = &[
    Run { start: 0x00b5, delta: 0x02e7, count: 1, stride: 1 },
    Run { start: 0x00e0, delta: 0xffe0, count: 23, stride: 1 },
    Run { start: 0x00f8, delta: 0xffe0, count: 7, stride: 1 },
    Run { start: 0x00ff, delta: 0x0079, count: 1, stride: 1 },
    Run { start: 0x0101, delta: 0xffff, count: 24, stride: 2 },
    Run { start: 0x0131, delta: 0xff18, count: 1, stride: 1 },
    Run { start: 0x0133, delta: 0xffff, count: 3, stride: 2 },
    Run { start: 0x013a, delta: 0xffff, count: 8, stride: 2 },
    Run { start: 0x014b, delta: 0xffff, count: 23, stride: 2 },
    Run { start: 0x017a, delta: 0xffff, count: 3, stride: 2 },
    Run { start: 0x017f, delta: 0xfed4, count: 1, stride: 1 },
    Run { start: 0x0180, delta: 0x00c3, count: 1, stride: 1 },
    Run { start: 0x0183, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0x0188, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x018c, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x0192, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x0195, delta: 0x0061, count: 1, stride: 1 },
    Run { start: 0x0199, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x019a, delta: 0x00a3, count: 1, stride: 1 },
    Run { start: 0x019b, delta: 0xa641, count: 1, stride: 1 },
    Run { start: 0x019e, delta: 0x0082, count: 1, stride: 1 },
    Run { start: 0x01a1, delta: 0xffff, count: 3, stride: 2 },
    Run { start: 0x01a8, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01ad, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01b0, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01b4, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0x01b9, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01bd, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01bf, delta: 0x0038, count: 1, stride: 1 },
    Run { start: 0x01c5, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01c6, delta: 0xfffe, count: 1, stride: 1 },
    Run { start: 0x01c8, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01c9, delta: 0xfffe, count: 1, stride: 1 },
    Run { start: 0x01cb, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01cc, delta: 0xfffe, count: 1, stride: 1 },
    Run { start: 0x01ce, delta: 0xffff, count: 8, stride: 2 },
    Run { start: 0x01dd, delta: 0xffb1, count: 1, stride: 1 },
    Run { start: 0x01df, delta: 0xffff, count: 9, stride: 2 },
    Run { start: 0x01f2, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01f3, delta: 0xfffe, count: 1, stride: 1 },
    Run { start: 0x01f5, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x01f9, delta: 0xffff, count: 20, stride: 2 },
    Run { start: 0x0223, delta: 0xffff, count: 9, stride: 2 },
    Run { start: 0x023c, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x023f, delta: 0x2a3f, count: 2, stride: 1 },
    Run { start: 0x0242, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x0247, delta: 0xffff, count: 5, stride: 2 },
    Run { start: 0x0250, delta: 0x2a1f, count: 1, stride: 1 },
    Run { start: 0x0251, delta: 0x2a1c, count: 1, stride: 1 },
    Run { start: 0x0252, delta: 0x2a1e, count: 1, stride: 1 },
    Run { start: 0x0253, delta: 0xff2e, count: 1, stride: 1 },
    Run { start: 0x0254, delta: 0xff32, count: 1, stride: 1 },
    Run { start: 0x0256, delta: 0xff33, count: 2, stride: 1 },
    Run { start: 0x0259, delta: 0xff36, count: 1, stride: 1 },
    Run { start: 0x025b, delta: 0xff35, count: 1, stride: 1 },
    Run { start: 0x025c, delta: 0xa54f, count: 1, stride: 1 },
    Run { start: 0x0260, delta: 0xff33, count: 1, stride: 1 },
    Run { start: 0x0261, delta: 0xa54b, count: 1, stride: 1 },
    Run { start: 0x0263, delta: 0xff31, count: 1, stride: 1 },
    Run { start: 0x0264, delta: 0xa567, count: 1, stride: 1 },
    Run { start: 0x0265, delta: 0xa528, count: 1, stride: 1 },
    Run { start: 0x0266, delta: 0xa544, count: 1, stride: 1 },
    Run { start: 0x0268, delta: 0xff2f, count: 1, stride: 1 },
    Run { start: 0x0269, delta: 0xff2d, count: 1, stride: 1 },
    Run { start: 0x026a, delta: 0xa544, count: 1, stride: 1 },
    Run { start: 0x026b, delta: 0x29f7, count: 1, stride: 1 },
    Run { start: 0x026c, delta: 0xa541, count: 1, stride: 1 },
    Run { start: 0x026f, delta: 0xff2d, count: 1, stride: 1 },
    Run { start: 0x0271, delta: 0x29fd, count: 1, stride: 1 },
    Run { start: 0x0272, delta: 0xff2b, count: 1, stride: 1 },
    Run { start: 0x0275, delta: 0xff2a, count: 1, stride: 1 },
    Run { start: 0x027d, delta: 0x29e7, count: 1, stride: 1 },
    Run { start: 0x0280, delta: 0xff26, count: 1, stride: 1 },
    Run { start: 0x0282, delta: 0xa543, count: 1, stride: 1 },
    Run { start: 0x0283, delta: 0xff26, count: 1, stride: 1 },
    Run { start: 0x0287, delta: 0xa52a, count: 1, stride: 1 },
    Run { start: 0x0288, delta: 0xff26, count: 1, stride: 1 },
    Run { start: 0x0289, delta: 0xffbb, count: 1, stride: 1 },
    Run { start: 0x028a, delta: 0xff27, count: 2, stride: 1 },
    Run { start: 0x028c, delta: 0xffb9, count: 1, stride: 1 },
    Run { start: 0x0292, delta: 0xff25, count: 1, stride: 1 },
    Run { start: 0x029d, delta: 0xa515, count: 1, stride: 1 },
    Run { start: 0x029e, delta: 0xa512, count: 1, stride: 1 },
    Run { start: 0x0345, delta: 0x0054, count: 1, stride: 1 },
    Run { start: 0x0371, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0x0377, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x037b, delta: 0x0082, count: 3, stride: 1 },
    Run { start: 0x03ac, delta: 0xffda, count: 1, stride: 1 },
    Run { start: 0x03ad, delta: 0xffdb, count: 3, stride: 1 },
    Run { start: 0x03b1, delta: 0xffe0, count: 17, stride: 1 },
    Run { start: 0x03c2, delta: 0xffe1, count: 1, stride: 1 },
    Run { start: 0x03c3, delta: 0xffe0, count: 9, stride: 1 },
    Run { start: 0x03cc, delta: 0xffc0, count: 1, stride: 1 },
    Run { start: 0x03cd, delta: 0xffc1, count: 2, stride: 1 },
    Run { start: 0x03d0, delta: 0xffc2, count: 1, stride: 1 },
    Run { start: 0x03d1, delta: 0xffc7, count: 1, stride: 1 },
    Run { start: 0x03d5, delta: 0xffd1, count: 1, stride: 1 },
    Run { start: 0x03d6, delta: 0xffca, count: 1, stride: 1 },
    Run { start: 0x03d7, delta: 0xfff8, count: 1, stride: 1 },
    Run { start: 0x03d9, delta: 0xffff, count: 12, stride: 2 },
    Run { start: 0x03f0, delta: 0xffaa, count: 1, stride: 1 },
    Run { start: 0x03f1, delta: 0xffb0, count: 1, stride: 1 },
    Run { start: 0x03f2, delta: 0x0007, count: 1, stride: 1 },
    Run { start: 0x03f3, delta: 0xff8c, count: 1, stride: 1 },
    Run { start: 0x03f5, delta: 0xffa0, count: 1, stride: 1 },
    Run { start: 0x03f8, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x03fb, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x0430, delta: 0xffe0, count: 32, stride: 1 },
    Run { start: 0x0450, delta: 0xffb0, count: 16, stride: 1 },
    Run { start: 0x0461, delta: 0xffff, count: 17, stride: 2 },
    Run { start: 0x048b, delta: 0xffff, count: 27, stride: 2 },
    Run { start: 0x04c2, delta: 0xffff, count: 7, stride: 2 },
    Run { start: 0x04cf, delta: 0xfff1, count: 1, stride: 1 },
    Run { start: 0x04d1, delta: 0xffff, count: 48, stride: 2 },
    Run { start: 0x0561, delta: 0xffd0, count: 38, stride: 1 },
    Run { start: 0x10d0, delta: 0x0bc0, count: 43, stride: 1 },
    Run { start: 0x10fd, delta: 0x0bc0, count: 3, stride: 1 },
    Run { start: 0x13f8, delta: 0xfff8, count: 6, stride: 1 },
    Run { start: 0x1c80, delta: 0xe792, count: 1, stride: 1 },
    Run { start: 0x1c81, delta: 0xe793, count: 1, stride: 1 },
    Run { start: 0x1c82, delta: 0xe79c, count: 1, stride: 1 },
    Run { start: 0x1c83, delta: 0xe79e, count: 2, stride: 1 },
    Run { start: 0x1c85, delta: 0xe79d, count: 1, stride: 1 },
    Run { start: 0x1c86, delta: 0xe7a4, count: 1, stride: 1 },
    Run { start: 0x1c87, delta: 0xe7db, count: 1, stride: 1 },
    Run { start: 0x1c88, delta: 0x89c2, count: 1, stride: 1 },
    Run { start: 0x1c8a, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x1d79, delta: 0x8a04, count: 1, stride: 1 },
    Run { start: 0x1d7d, delta: 0x0ee6, count: 1, stride: 1 },
    Run { start: 0x1d8e, delta: 0x8a38, count: 1, stride: 1 },
    Run { start: 0x1e01, delta: 0xffff, count: 75, stride: 2 },
    Run { start: 0x1e9b, delta: 0xffc5, count: 1, stride: 1 },
    Run { start: 0x1ea1, delta: 0xffff, count: 48, stride: 2 },
    Run { start: 0x1f00, delta: 0x0008, count: 8, stride: 1 },
    Run { start: 0x1f10, delta: 0x0008, count: 6, stride: 1 },
    Run { start: 0x1f20, delta: 0x0008, count: 8, stride: 1 },
    Run { start: 0x1f30, delta: 0x0008, count: 8, stride: 1 },
    Run { start: 0x1f40, delta: 0x0008, count: 6, stride: 1 },
    Run { start: 0x1f51, delta: 0x0008, count: 4, stride: 2 },
    Run { start: 0x1f60, delta: 0x0008, count: 8, stride: 1 },
    Run { start: 0x1f70, delta: 0x004a, count: 2, stride: 1 },
    Run { start: 0x1f72, delta: 0x0056, count: 4, stride: 1 },
    Run { start: 0x1f76, delta: 0x0064, count: 2, stride: 1 },
    Run { start: 0x1f78, delta: 0x0080, count: 2, stride: 1 },
    Run { start: 0x1f7a, delta: 0x0070, count: 2, stride: 1 },
    Run { start: 0x1f7c, delta: 0x007e, count: 2, stride: 1 },
    Run { start: 0x1fb0, delta: 0x0008, count: 2, stride: 1 },
    Run { start: 0x1fbe, delta: 0xe3db, count: 1, stride: 1 },
    Run { start: 0x1fd0, delta: 0x0008, count: 2, stride: 1 },
    Run { start: 0x1fe0, delta: 0x0008, count: 2, stride: 1 },
    Run { start: 0x1fe5, delta: 0x0007, count: 1, stride: 1 },
    Run { start: 0x214e, delta: 0xffe4, count: 1, stride: 1 },
    Run { start: 0x2170, delta: 0xfff0, count: 16, stride: 1 },
    Run { start: 0x2184, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x24d0, delta: 0xffe6, count: 26, stride: 1 },
    Run { start: 0x2c30, delta: 0xffd0, count: 48, stride: 1 },
    Run { start: 0x2c61, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x2c65, delta: 0xd5d5, count: 1, stride: 1 },
    Run { start: 0x2c66, delta: 0xd5d8, count: 1, stride: 1 },
    Run { start: 0x2c68, delta: 0xffff, count: 3, stride: 2 },
    Run { start: 0x2c73, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x2c76, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x2c81, delta: 0xffff, count: 50, stride: 2 },
    Run { start: 0x2cec, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0x2cf3, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0x2d00, delta: 0xe3a0, count: 38, stride: 1 },
    Run { start: 0x2d27, delta: 0xe3a0, count: 1, stride: 1 },
    Run { start: 0x2d2d, delta: 0xe3a0, count: 1, stride: 1 },
    Run { start: 0xa641, delta: 0xffff, count: 23, stride: 2 },
    Run { start: 0xa681, delta: 0xffff, count: 14, stride: 2 },
    Run { start: 0xa723, delta: 0xffff, count: 7, stride: 2 },
    Run { start: 0xa733, delta: 0xffff, count: 31, stride: 2 },
    Run { start: 0xa77a, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0xa77f, delta: 0xffff, count: 5, stride: 2 },
    Run { start: 0xa78c, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0xa791, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0xa794, delta: 0x0030, count: 1, stride: 1 },
    Run { start: 0xa797, delta: 0xffff, count: 10, stride: 2 },
    Run { start: 0xa7b5, delta: 0xffff, count: 8, stride: 2 },
    Run { start: 0xa7c8, delta: 0xffff, count: 2, stride: 2 },
    Run { start: 0xa7cd, delta: 0xffff, count: 8, stride: 2 },
    Run { start: 0xa7f6, delta: 0xffff, count: 1, stride: 1 },
    Run { start: 0xab53, delta: 0xfc60, count: 1, stride: 1 },
    Run { start: 0xab70, delta: 0x6830, count: 80, stride: 1 },
    Run { start: 0xff41, delta: 0xffe0, count: 26, stride: 1 },
];

/// The upper case of `c` for comparing names: ASCII letters as
/// `to_ascii_uppercase`; other BMP characters as `char::to_uppercase`
/// when that is a single BMP character; anything else unchanged.
pub fn upcase(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let Ok(u) = u16::try_from(u32::from(c)) else {
        return c;
    };
    // The last run starting at or below `u`.
    let i = RUNS.partition_point(|r| r.start <= u);
    let Some(r) = i.checked_sub(1).and_then(|i| RUNS.get(i)) else {
        return c;
    };
    let off = u - r.start;
    let stride = u16::from(r.stride.max(1));
    if off % stride != 0 || off / stride >= u16::from(r.count) {
        return c;
    }
    char::from_u32(u32::from(u.wrapping_add(r.delta))).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition the table was generated from.
    fn reference(c: char) -> char {
        if c.is_ascii() {
            return c.to_ascii_uppercase();
        }
        if u32::from(c) > 0xFFFF {
            return c;
        }
        let mut up = c.to_uppercase();
        match (up.next(), up.next()) {
            (Some(u), None) if u32::from(u) <= 0xFFFF => u,
            _ => c,
        }
    }

    #[test]
    fn matches_to_uppercase_for_every_character() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(upcase(c), reference(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn runs_are_sorted_and_disjoint() {
        for w in RUNS.windows(2) {
            let last = u32::from(w[0].start) + (u32::from(w[0].count) - 1) * u32::from(w[0].stride);
            assert!(last < u32::from(w[1].start));
        }
    }

    #[test]
    fn examples() {
        assert_eq!(upcase('a'), 'A');
        assert_eq!(upcase('ß'), 'ß');
        assert_eq!(upcase('σ'), 'Σ');
        assert_eq!(upcase('ς'), 'Σ');
        assert_eq!(upcase('я'), 'Я');
        assert_eq!(upcase('Я'), 'Я');
        assert_eq!(upcase('\u{10428}'), '\u{10428}');
    }
}
