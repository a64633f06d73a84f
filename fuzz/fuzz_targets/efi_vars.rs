//! Saved variables and boot options: arbitrary bytes as a saved-variable
//! slot (`vmfw_efi::persist`, read from RAM after a reset) and as a
//! `Boot####` load option (written by whatever ran before). Nothing may
//! panic; a slot that decodes must restore into a store and re-encode to
//! a slot that decodes to the records the store accepted; an option that
//! parses must re-encode to bytes that parse to the same option.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_efi::load_option::{parse_order, LoadOption};
use vmfw_efi::persist;
use vmfw_efi::variables::{Limits, Store};

fuzz_target!(|data: &[u8]| {
    if let Ok((seq, records)) = persist::decode(data) {
        let mut store = Store::new(Limits::default());
        let n = persist::restore(&mut store, &records);
        assert!(n <= records.len());
        let again = persist::encode(&store, seq);
        let (seq2, back) = persist::decode(&again).expect("own image decodes");
        assert_eq!(seq, seq2);
        assert!(back.len() <= n);
    }
    let _ = persist::newest(data, data.get(data.len() / 2..).unwrap_or(&[]));
    if let Ok(o) = LoadOption::parse(data) {
        let b = o.to_bytes();
        assert_eq!(LoadOption::parse(&b).expect("own encoding parses"), o);
    }
    let _ = parse_order(data);
});
