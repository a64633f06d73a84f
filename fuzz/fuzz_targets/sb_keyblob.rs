//! `vmfw_efi::sbkeys` on arbitrary bytes: the Secure Boot key blob a
//! firmware image carries, and the signature lists inside it. No panic;
//! whatever parses builds back to the same bytes and parses again to the
//! same keys, and every variable's signatures can be counted and walked.
//! Also walks the input as a bare signature list sequence.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_efi::sbkeys::{build, count_signatures, lists, parse, Kind};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = count_signatures(data) {
        let walked: usize = lists(data).map(|l| l.unwrap().entries().count()).sum();
        assert_eq!(walked, n);
    }
    let Ok(keys) = parse(data) else { return };
    let again = build(&keys).expect("a parsed blob builds");
    assert_eq!(again, data);
    assert_eq!(parse(&again), Ok(keys));
    for kind in Kind::ALL {
        if let Some(content) = keys.get(kind) {
            assert!(!content.is_empty());
            count_signatures(content).expect("parse checked the lists");
        }
    }
});
