//! PKCS#7 `SignedData` and X.509: arbitrary bytes are a signature blob (as
//! Authenticode and authenticated variables carry) or a certificate.
//! Parse it both ways, parse every certificate of the bag, look each
//! signer's certificate up, check signer signatures and certificate
//! signatures against each other. Nothing may panic; nothing verifies
//! against an all-zero digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_secureboot::pkcs7::SignedData;
use vmfw_secureboot::signed_image_digest;
use vmfw_secureboot::x509::Certificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Certificate::parse(data) {
        assert!(c.der.len() <= data.len());
        let _ = c.is_signed_by(&c);
    }
    let _ = signed_image_digest(data);
    let Ok(sd) = SignedData::parse(data) else {
        return;
    };
    let certs: Vec<Certificate<'_>> =
        sd.certificates.iter().filter_map(|c| Certificate::parse(c).ok()).collect();
    for (i, a) in certs.iter().enumerate() {
        for b in certs.iter().skip(i).take(4) {
            let _ = a.is_signed_by(b);
        }
    }
    for s in &sd.signers {
        if let Some(cert) = certs.iter().find(|c| s.names(c)) {
            let content = sd.content.map_or(&[][..], |c| c.value);
            let digest: [u8; 32] = sha256(content);
            let _ = s.verify(sd.content_type, &digest, cert);
            assert!(s.verify(sd.content_type, &[0; 32], cert).is_err());
        }
    }
});

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
