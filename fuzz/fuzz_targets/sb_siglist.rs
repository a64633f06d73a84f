//! Secure Boot signature lists: arbitrary bytes are the data of a `db`,
//! `dbx`, `KEK` or `PK` variable. A parse that succeeds re-encodes to lists
//! that parse to the same certificates and hashes; a failed extension
//! leaves the database as it was; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_secureboot::SignatureDb;

fuzz_target!(|data: &[u8]| {
    let Ok(db) = SignatureDb::parse(data) else {
        return;
    };
    let total = db.certificates().len() + db.hashes().len() + db.skipped();
    assert!(total <= data.len() / 16 + 1);
    for h in db.hashes() {
        assert!(db.contains_hash(&h.sha256));
    }
    for c in db.certificates() {
        assert!(db.contains_certificate(&c.der));
    }
    if let Some(bytes) = db.to_lists() {
        let again = SignatureDb::parse(&bytes).expect("encoded lists parse");
        assert_eq!(again.certificates(), db.certificates());
        assert_eq!(again.hashes(), db.hashes());
        assert_eq!(again.skipped(), 0);
        // Extending by the input again doubles the entries; by a
        // truncated copy (which fails) changes nothing.
        let mut twice = again.clone();
        twice.extend_from_lists(data).expect("the input parsed before");
        assert_eq!(twice.certificates().len(), 2 * db.certificates().len());
        if !data.is_empty() {
            let mut same = again.clone();
            if same.extend_from_lists(&data[..data.len() - 1]).is_err() {
                assert_eq!(same, again);
            }
        }
    }
});
