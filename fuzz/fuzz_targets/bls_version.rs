//! `compare_versions` must be a total order, or sorting entries could
//! panic: check reflexivity, antisymmetry and transitivity on three
//! strings.
//!
//! Input: `len_a: u8`, `len_b: u8`, then the bytes of `a` (`len_a` of
//! them), `b` (`len_b`) and `c` (the rest), each converted lossily to a
//! string. Seeds in `seeds/bls_version/` hold kernel and spec versions.
#![no_main]

use std::cmp::Ordering::{self, Equal, Greater, Less};

use libfuzzer_sys::fuzz_target;
use vmfw_bls::compare_versions;

fn cmp(a: &str, b: &str) -> Ordering {
    let o = compare_versions(a, b);
    assert_eq!(o, compare_versions(b, a).reverse(), "{a:?} {b:?}");
    o
}

fuzz_target!(|data: &[u8]| {
    let [la, lb, rest @ ..] = data else { return };
    let (a, rest) = rest.split_at(usize::from(*la).min(rest.len()));
    let (b, c) = rest.split_at(usize::from(*lb).min(rest.len()));
    let (a, b, c) =
        (String::from_utf8_lossy(a), String::from_utf8_lossy(b), String::from_utf8_lossy(c));

    for s in [&a, &b, &c] {
        assert_eq!(compare_versions(s, s), Equal);
    }
    let (ab, bc, ac) = (cmp(&a, &b), cmp(&b, &c), cmp(&a, &c));
    // Transitivity of <, = and <= in both directions.
    match (ab, bc) {
        (Equal, o) | (o, Equal) => assert_eq!(ac, o, "{a:?} {b:?} {c:?}"),
        (Less, Less) => assert_eq!(ac, Less, "{a:?} {b:?} {c:?}"),
        (Greater, Greater) => assert_eq!(ac, Greater, "{a:?} {b:?} {c:?}"),
        _ => {}
    }
});
