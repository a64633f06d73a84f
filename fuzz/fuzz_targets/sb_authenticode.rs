//! Authenticode: arbitrary bytes are an `.efi` file. Compute its image
//! hash, walk its certificate table and verify it against a fixed `db`
//! (the test root CA of `vmfw-secureboot`'s fixtures, and a SHA-256 hash)
//! and `dbx` (the fixtures' rogue certificate). Nothing may panic; an
//! accepted image's verdict carries its own hash; an image whose headers or
//! table are malformed is never accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_secureboot::pe::{certificates, image_digest, Layout};
use vmfw_secureboot::{signed_image_digest, verify_image, Guid, SignatureDb, TrustedBy};

const CA: &[u8] = include_bytes!("../../crates/secureboot/tests/fixtures/ca.der");
const ROGUE: &[u8] = include_bytes!("../../crates/secureboot/tests/fixtures/rogue.der");

fuzz_target!(|data: &[u8]| {
    let mut db = SignatureDb::new();
    db.push_certificate(Guid::default(), CA);
    db.push_hash(Guid::default(), [0x5a; 32]);
    let mut dbx = SignatureDb::new();
    dbx.push_certificate(Guid::default(), ROGUE);

    let layout = Layout::parse(data);
    let digest = image_digest(data);
    let table = certificates(data);
    if let Ok(l) = &layout {
        assert!(l.size_of_headers <= data.len());
        assert!(l.sections.windows(2).all(|w| w[0].0 <= w[1].0));
        for &(ptr, size) in &l.sections {
            assert!(ptr + size <= data.len());
        }
        if let Some((off, size)) = l.cert_table {
            assert!(off + size <= data.len());
        }
    }
    if let Ok(entries) = &table {
        for e in entries {
            let _ = signed_image_digest(e.data);
        }
    }
    let verdict = verify_image(data, &db, &dbx);
    assert_eq!(verdict, verify_image(data, &db, &dbx), "deterministic");
    if let Ok(v) = verdict {
        assert_eq!(Ok(v.digest), digest);
        let entries = table.expect("an accepted image's table walks");
        match v.by {
            TrustedBy::Hash => assert_eq!(v.digest, [0x5a; 32]),
            TrustedBy::Signature { signature, anchor } => {
                assert_eq!(anchor, 0);
                let e = entries.iter().filter(|e| e.is_pkcs7()).nth(signature).unwrap();
                assert_eq!(signed_image_digest(e.data), Ok(v.digest));
            }
        }
    }
});
