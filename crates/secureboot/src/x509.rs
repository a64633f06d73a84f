//! The parts of an X.509 certificate (RFC 5280 §4.1) that chain building
//! needs, kept as the exact bytes of the certificate: the signed
//! `tbsCertificate`, the issuer and subject names, the serial number and
//! the subject public key; plus RSA PKCS#1 v1.5 SHA-256 verification.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::asn1::{algorithm, oid, split_tlv, tag, Seq};
use crate::{Error, Malformed};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 4096;

/// A parsed certificate borrowing its DER encoding.
#[derive(Clone, Copy, Debug)]
pub struct Certificate<'a> {
    /// The whole certificate.
    pub der: &'a [u8],
    /// The `tbsCertificate` TLV, which the issuer signed.
    pub tbs: &'a [u8],
    /// The serial number's contents octets.
    pub serial: &'a [u8],
    /// The issuer `Name` TLV.
    pub issuer: &'a [u8],
    /// The subject `Name` TLV.
    pub subject: &'a [u8],
    /// The `subjectPublicKeyInfo` TLV.
    pub spki: &'a [u8],
    /// The outer `signatureAlgorithm` OID's contents octets.
    pub signature_algorithm: &'a [u8],
    /// The signature bits.
    pub signature: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Parses the certificate at the start of `der`; bytes after it are
    /// ignored (the returned [`Certificate::der`] excludes them).
    pub fn parse(der: &'a [u8]) -> Result<Self, Error> {
        Self::parse_inner(der).map_err(|_| Error::Malformed(Malformed::Certificate))
    }

    fn parse_inner(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let (outer, _) = split_tlv(bytes)?;
        let mut cert = Seq::of(outer, tag::SEQUENCE)?;
        let tbs = cert.expect(tag::SEQUENCE)?;
        let signature_algorithm = algorithm(cert.any()?)?;
        let signature = bit_string(cert.expect(tag::BIT_STRING)?.value)?;
        cert.finish()?;

        let mut t = Seq::new(tbs.value)?;
        t.optional(tag::CONTEXT_0)?; // version
        let serial = t.expect(tag::INTEGER)?.value;
        t.expect(tag::SEQUENCE)?; // signature (repeated outside)
        let issuer = t.expect(tag::SEQUENCE)?.raw;
        t.expect(tag::SEQUENCE)?; // validity: not enforced
        let subject = t.expect(tag::SEQUENCE)?.raw;
        let spki = t.expect(tag::SEQUENCE)?.raw;
        // issuerUniqueID, subjectUniqueID, extensions: not used.
        Ok(Certificate {
            der: outer.raw,
            tbs: tbs.raw,
            serial,
            issuer,
            subject,
            spki,
            signature_algorithm,
            signature,
        })
    }

    /// Checks that `issuer`'s key signed this certificate.
    pub fn is_signed_by(&self, issuer: &Certificate<'_>) -> Result<(), Error> {
        if self.signature_algorithm != oid::SHA256_WITH_RSA {
            return Err(Error::UnsupportedAlgorithm);
        }
        let digest: [u8; 32] = Sha256::digest(self.tbs).into();
        verify_rsa_sha256(issuer.spki, &digest, self.signature)
    }
}

/// The bits of a BIT STRING with no unused bits.
pub(crate) fn bit_string(value: &[u8]) -> Result<&[u8], Malformed> {
    match value.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(Malformed::Der),
    }
}

/// Verifies an RSA PKCS#1 v1.5 signature of a SHA-256 `digest` with the
/// RSA key of the `subjectPublicKeyInfo` TLV `spki`.
pub fn verify_rsa_sha256(spki: &[u8], digest: &[u8; 32], signature: &[u8]) -> Result<(), Error> {
    let key = rsa_key(spki)?;
    key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature).map_err(|_| Error::BadSignature)
}

fn rsa_key(spki: &[u8]) -> Result<RsaPublicKey, Error> {
    let (outer, _) = split_tlv(spki)?;
    let mut s = Seq::of(outer, tag::SEQUENCE)?;
    let alg = algorithm(s.any()?)?;
    if alg != oid::RSA_ENCRYPTION {
        return Err(Error::UnsupportedAlgorithm);
    }
    let key = bit_string(s.expect(tag::BIT_STRING)?.value)?;
    s.finish()?;
    // `from_pkcs1_der` refuses moduli above the crate's 4096-bit limit.
    let key = RsaPublicKey::from_pkcs1_der(key).map_err(|_| Error::UnsupportedAlgorithm)?;
    let bits = key.size().saturating_mul(8);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(Error::UnsupportedAlgorithm);
    }
    Ok(key)
}
