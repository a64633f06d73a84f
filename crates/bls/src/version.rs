//! Version comparison: UAPI.10 "Version Format Specification", section
//! "Version Comparison", as the Boot Loader Specification's "Version Order"
//! section requires for `version` keys and entry file names.
//!
//! The algorithm works on bytes. Only ASCII letters, digits and `~ - ^ .`
//! mean anything; every other byte (including each byte of a multi-byte
//! UTF-8 character) is a separator that step 1 skips.
//!
//! One deliberate reading of the spec text: step 7 says an empty numeric
//! prefix "evaluates as 0". Taken literally together with the fall-through
//! from steps 4–6, that rule is not transitive (found by exhaustive
//! search: `"-_a" < "-a~"` and `"-a~" < "-0a"`, yet `"-_a" == "-0a"`), and
//! sorting with a comparison that is not a total order may panic in Rust's
//! `sort_by`. We
//! therefore follow the reference implementation the spec names
//! (systemd's `strverscmp_improved`, behind `systemd-analyze
//! compare-versions`): when exactly one side starts with a digit, that side
//! is newer. This agrees with every example in the spec and is a total
//! order (unit test `total_order_on_small_alphabet`, fuzz target
//! `bls_version`). The two readings only differ when a numeric run of
//! value 0 meets a letter (`"0" > "a"` here, `"0" < "a"` in the literal
//! reading).

use core::cmp::Ordering;

/// Compares two version strings as the UAPI Version Format Specification
/// (UAPI.10) describes; `Greater` means `a` is the newer version.
///
/// Examples from the specification: `"123a" > "123"`, `"123.a" < "123.b"`,
/// `"~" < ""`, `"1_2_3" > "1.3.3"` and the chain
/// `122.1 < 123~rc1-1 < 123 < 123-a < 123-a.1 < 123-1 < 123-1.1 <
/// 123^post1 < 123.a-1 < 123.1-1 < 123a-1 < 124-1`.
///
/// This is a total order on all strings (see the module documentation for
/// the one place where the spec text is ambiguous). It never allocates and
/// runs in time linear in the input lengths.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes())
}

/// The characters step 1 does not skip.
fn is_version_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
}

fn skip_separators(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| !is_version_char(c)).count();
    s.get(n..).unwrap_or_default()
}

fn rest(s: &[u8]) -> &[u8] {
    s.get(1..).unwrap_or_default()
}

/// Splits off the longest prefix whose bytes satisfy `pred`.
fn split_run(s: &[u8], pred: impl Fn(&u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| pred(c)).count();
    s.split_at_checked(n).unwrap_or((s, &[]))
}

/// Steps 2, 4, 5 and 6: if either string starts with `marker`, the one
/// that does not is newer; if both do, both markers are skipped.
fn marker<'a, 'b>(a: &'a [u8], b: &'b [u8], marker: u8) -> Result<(&'a [u8], &'b [u8]), Ordering> {
    let (ma, mb) = (a.first() == Some(&marker), b.first() == Some(&marker));
    match (ma, mb) {
        (false, false) => Ok((a, b)),
        (true, true) => Ok((rest(a), rest(b))),
        // The string with the marker compares lower.
        (true, false) => Err(Ordering::Less),
        (false, true) => Err(Ordering::Greater),
    }
}

fn compare_bytes(mut a: &[u8], mut b: &[u8]) -> Ordering {
    // Every pass either returns or consumes at least one byte of each
    // string, so the loop ends.
    loop {
        // Step 1: skip what is not a version character.
        a = skip_separators(a);
        b = skip_separators(b);

        // Step 2: `~` sorts before everything, even the end of a string.
        (a, b) = match marker(a, b, b'~') {
            Ok(ab) => ab,
            Err(o) => return o,
        };

        // Step 3: the string that has something left is newer.
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }

        // Steps 4–6: `-`, then `^`, then `.`; each falls through to the
        // next step, as in the reference implementation.
        for m in [b'-', b'^', b'.'] {
            (a, b) = match marker(a, b, m) {
                Ok(ab) => ab,
                Err(o) => return o,
            };
        }

        let a_digit = a.first().is_some_and(u8::is_ascii_digit);
        let b_digit = b.first().is_some_and(u8::is_ascii_digit);
        if a_digit || b_digit {
            // Step 7: numeric runs compare by value; a number beats a
            // non-number (see the module documentation).
            if a_digit != b_digit {
                return if a_digit { Ordering::Greater } else { Ordering::Less };
            }
            let (na, ra) = split_run(a, u8::is_ascii_digit);
            let (nb, rb) = split_run(b, u8::is_ascii_digit);
            let na = strip_zeros(na);
            let nb = strip_zeros(nb);
            // Without leading zeros the longer run is the bigger number;
            // runs of equal length compare like their digits.
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            (a, b) = (ra, rb);
        } else {
            // Step 8: letter runs compare byte by byte (so `B < a`); when
            // one is a prefix of the other, the longer one is newer. That
            // is exactly the lexicographic order of the runs.
            let (la, ra) = split_run(a, u8::is_ascii_alphabetic);
            let (lb, rb) = split_run(b, u8::is_ascii_alphabetic);
            let o = la.cmp(lb);
            if o != Ordering::Equal {
                return o;
            }
            (a, b) = (ra, rb);
        }
    }
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    s.get(n..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use Ordering::{Equal, Greater, Less};

    #[track_caller]
    fn check(a: &str, b: &str, want: Ordering) {
        assert_eq!(compare_versions(a, b), want, "{a:?} vs {b:?}");
        assert_eq!(compare_versions(b, a), want.reverse(), "{b:?} vs {a:?}");
    }

    /// Every example of UAPI.10 "Examples".
    #[test]
    fn spec_examples() {
        check("11", "11", Equal);
        check("systemd-123", "systemd-123", Equal);
        check("bar-123", "foo-123", Less);
        check("123a", "123", Greater);
        check("123.a", "123", Greater);
        check("123.a", "123.b", Less);
        check("123a", "123.a", Greater);
        check("11α", "11β", Equal);
        check("B", "a", Less);
        check("", "0", Less);
        check("0.", "0", Greater);
        check("0.0", "0", Greater);
        check("0", "~", Greater);
        check("", "~", Greater);
        check("1_", "1", Equal);
        check("_1", "1", Equal);
        check("1_", "1.2", Less);
        check("1_2_3", "1.3.3", Greater);
        check("1+", "1", Equal);
        check("+1", "1", Equal);
        check("1+", "1.2", Less);
        check("1+2+3", "1.3.3", Greater);
    }

    /// The spec's chain: each entry is smaller than every entry to its
    /// right and equal only to itself.
    #[test]
    fn spec_chain() {
        let chain = [
            "122.1",
            "123~rc1-1",
            "123",
            "123-a",
            "123-a.1",
            "123-1",
            "123-1.1",
            "123^post1",
            "123.a-1",
            "123.1-1",
            "123a-1",
            "124-1",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                check(a, b, i.cmp(&j));
            }
        }
    }

    #[test]
    fn numbers() {
        check("00123", "123", Equal);
        check("9", "10", Less);
        check("1.9", "1.10", Less);
        // Far beyond u64: compared by length, never parsed.
        check("99999999999999999999999", "100000000000000000000000", Less);
        check("1.0", "1.00", Equal);
        // A number beats letters (reference implementation, see module doc).
        check("1.0", "1.a", Greater);
        check("0", "a", Greater);
    }

    #[test]
    fn kernel_versions() {
        check("6.1.0-18-amd64", "6.1.0-9-amd64", Greater);
        check("6.8.5-301.fc40.x86_64", "6.8.5-300.fc40.x86_64", Greater);
        check("6.9.0-0.rc1.fc41.x86_64", "6.9.0-1.fc41.x86_64", Less);
        check("5.15.0-91-generic", "5.15.0-101-generic", Less);
        check("6.1~rc1", "6.1", Less);
        check("6.1^git1", "6.1", Greater);
    }

    /// Exhaustive over short strings: the order is a total preorder. Sort,
    /// group neighbours that compare equal, then require that every pair
    /// compares exactly as its groups do.
    #[test]
    fn total_order_on_small_alphabet() {
        let alphabet = ['0', '1', 'a', 'B', '.', '-', '~', '^', '_'];
        let mut all: Vec<String> = Vec::from([String::new()]);
        let mut last: Vec<String> = Vec::from([String::new()]);
        for _ in 0..3 {
            let mut next = Vec::new();
            for s in &last {
                for c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            all.extend(next.iter().cloned());
            last = next;
        }
        all.sort_by(|a, b| compare_versions(a, b));
        let mut group = Vec::with_capacity(all.len());
        let mut g = 0usize;
        for (i, s) in all.iter().enumerate() {
            if i > 0 && compare_versions(&all[i - 1], s) != Equal {
                g += 1;
            }
            group.push(g);
        }
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                assert_eq!(compare_versions(a, b), group[i].cmp(&group[j]), "{a:?} vs {b:?}");
            }
        }
    }
}
