//! `EFI_VARIABLE_AUTHENTICATION_2`: arbitrary bytes are the data of an
//! authenticated `SetVariable` call for `db`. Split the descriptor and
//! verify it against a fixed signer database (the fixtures' KEK). Nothing
//! may panic; an accepted write's payload is the tail of the data and its
//! timestamp the descriptor's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_secureboot::auth2::{verify_write, Descriptor};
use vmfw_secureboot::{Guid, SignatureDb};

const KEK: &[u8] = include_bytes!("../../crates/secureboot/tests/fixtures/kek.der");

fuzz_target!(|data: &[u8]| {
    let mut signers = SignatureDb::new();
    signers.push_certificate(Guid::default(), KEK);
    let name: Vec<u16> = "db".encode_utf16().collect();
    let d = Descriptor::parse(data);
    if let Ok(d) = &d {
        assert!(d.payload.len() + d.signed_data.len() + 40 <= data.len());
        assert_eq!(d.timestamp.to_bytes(), d.timestamp_bytes);
    }
    let r = verify_write(&name, &Guid::IMAGE_SECURITY_DATABASE, 0x27, data, &signers);
    if let Ok(a) = r {
        let d = d.expect("an accepted write has a descriptor");
        assert_eq!(a.timestamp, d.timestamp);
        assert!(data.ends_with(a.payload));
        assert_eq!(a.anchor, 0);
    }
});
