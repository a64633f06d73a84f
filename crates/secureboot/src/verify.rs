//! The Secure Boot decision for one image, and the certificate chain walk
//! shared with authenticated variables.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::asn1::{algorithm, oid, tag, Seq};
use crate::pe::digest_and_certificates;
use crate::pkcs7::{SignedData, SignerInfo};
use crate::x509::Certificate;
use crate::{Error, Malformed, SignatureDb};

/// Chains longer than this (signer, intermediates, anchor) are not
/// followed.
const MAX_CHAIN: usize = 8;
/// At most this many certificate signature checks in one call of
/// [`verify_image`] or [`crate::auth2::verify_write`], so hostile bags of
/// look-alike certificates cost bounded time (a real chain needs one to
/// three per signature and anchor database).
pub(crate) const MAX_CHECKS: usize = 256;
/// At most this many PKCS#7 entries of a certificate table are looked at;
/// an image with more is refused as malformed (signed images carry one or
/// two).
pub const MAX_SIGNATURES: usize = 8;

/// Why an image was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedBy {
    /// Its SHA-256 hash is in `db` (it may be unsigned).
    Hash,
    /// A signature verified and chains to a `db` certificate.
    Signature {
        /// Which PKCS#7 entry of the certificate table (counting only
        /// PKCS#7 entries, from 0).
        signature: usize,
        /// Which certificate of `db` (index into
        /// [`SignatureDb::certificates`]).
        anchor: usize,
    },
}

/// An accepted image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The Authenticode SHA-256 image hash.
    pub digest: [u8; 32],
    /// Why it is trusted.
    pub by: TrustedBy,
}

/// Decides whether `image` may run under Secure Boot with the signature
/// databases `db` (allowed) and `dbx` (forbidden).
///
/// Refused when the image hash is in `dbx`, when any signature's signer
/// chains to a certificate in `dbx`, when the image has more than
/// [`MAX_SIGNATURES`] PKCS#7 entries, or when the chain searches need more
/// certificate checks than allowed ([`Error::TooComplex`]). Otherwise accepted when a signature
/// verifies (its `SpcIndirectDataContent` names this image's hash, the
/// signer's RSA PKCS#1 v1.5 SHA-256 signature is sound, and the signer's
/// certificate chains through the signature's certificates to a `db`
/// certificate; every signer info of that signature must) or, failing
/// that, when the image hash is in `db`.
/// With several failing signatures the error is the most telling one
/// (a digest mismatch over a bad signature over an untrusted signer over
/// an unsupported algorithm over a malformed blob).
pub fn verify_image(image: &[u8], db: &SignatureDb, dbx: &SignatureDb) -> Result<Verdict, Error> {
    let (digest, entries) = digest_and_certificates(image)?;
    if dbx.contains_hash(&digest) {
        return Err(Error::ForbiddenHash);
    }
    let db_certs = parse_all(db);
    let dbx_certs = parse_all(dbx);
    let mut accepted = None;
    let mut worst: Option<Error> = None;
    let mut checks = 0usize;
    if entries.iter().filter(|e| e.is_pkcs7()).count() > MAX_SIGNATURES {
        return Err(Error::Malformed(Malformed::CertificateTable));
    }
    for (index, entry) in entries.iter().filter(|e| e.is_pkcs7()).enumerate() {
        match verify_authenticode(entry.data, &digest, &db_certs, &dbx_certs, &mut checks) {
            Ok(anchor) => {
                if accepted.is_none() {
                    accepted = Some(TrustedBy::Signature { signature: index, anchor });
                }
            }
            // Fail closed: a forbidden signer refuses the image whatever
            // the other signatures say, and so does a search that ran out
            // of budget (it may have been about to find a dbx entry).
            Err(e @ (Error::ForbiddenCertificate | Error::TooComplex)) => return Err(e),
            Err(e) => {
                if worst.is_none_or(|w| rank(e) > rank(w)) {
                    worst = Some(e);
                }
            }
        }
    }
    if let Some(by) = accepted {
        return Ok(Verdict { digest, by });
    }
    if db.contains_hash(&digest) {
        return Ok(Verdict { digest, by: TrustedBy::Hash });
    }
    Err(worst.unwrap_or(Error::Unsigned))
}

fn rank(e: Error) -> u8 {
    match e {
        Error::DigestMismatch => 5,
        Error::BadSignature => 4,
        Error::NotTrusted => 3,
        Error::UnsupportedAlgorithm => 2,
        _ => 1,
    }
}

/// The certificates of `db` that parse, with their index in `db`.
pub(crate) fn parse_all(db: &SignatureDb) -> Vec<(usize, Certificate<'_>)> {
    db.certificates()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Certificate::parse(&c.der).ok().map(|cert| (i, cert)))
        .collect()
}

/// Verifies one Authenticode signature blob against the image hash and
/// returns the index of the `db` certificate it chains to.
fn verify_authenticode(
    blob: &[u8],
    image_digest: &[u8; 32],
    db: &[(usize, Certificate<'_>)],
    dbx: &[(usize, Certificate<'_>)],
    checks: &mut usize,
) -> Result<usize, Error> {
    let sd = SignedData::parse(blob)?;
    let (signed_digest, content) = indirect_data(&sd)?;
    let content_digest: [u8; 32] = Sha256::digest(content).into();
    verify_signed_data(&sd, &content_digest, db, dbx, checks, || {
        if signed_digest == *image_digest {
            Ok(())
        } else {
            Err(Error::DigestMismatch)
        }
    })
}

/// The image hash an Authenticode signature blob (a `WIN_CERTIFICATE`'s
/// data) was made for: the SHA-256 digest in its `SpcIndirectDataContent`.
/// Nothing is verified.
pub fn signed_image_digest(blob: &[u8]) -> Result<[u8; 32], Error> {
    indirect_data(&SignedData::parse(blob)?).map(|(d, _)| d)
}

/// The signed image hash and the `SpcIndirectDataContent` contents octets
/// of an Authenticode `SignedData`.
fn indirect_data<'a>(sd: &SignedData<'a>) -> Result<([u8; 32], &'a [u8]), Error> {
    let m = Error::Malformed(Malformed::IndirectData);
    if sd.content_type != oid::SPC_INDIRECT_DATA {
        return Err(m);
    }
    let content = sd.content.ok_or(m)?;
    if content.tag != tag::SEQUENCE {
        return Err(m);
    }
    Ok((indirect_data_digest(content.value)?, content.value))
}

/// The SHA-256 digest named by `SpcIndirectDataContent` (its contents
/// octets):
/// `SEQUENCE { data SpcAttributeTypeAndOptionalValue, messageDigest DigestInfo }`.
fn indirect_data_digest(value: &[u8]) -> Result<[u8; 32], Error> {
    let m = Error::Malformed(Malformed::IndirectData);
    let mut s = Seq::new(value).map_err(|_| m)?;
    s.expect(tag::SEQUENCE).map_err(|_| m)?;
    let mut info = Seq::of(s.expect(tag::SEQUENCE).map_err(|_| m)?, tag::SEQUENCE)?;
    let alg = algorithm(info.any().map_err(|_| m)?).map_err(|_| m)?;
    let digest = info.expect(tag::OCTET_STRING).map_err(|_| m)?.value;
    info.finish().map_err(|_| m)?;
    if alg != oid::SHA256 {
        return Err(Error::UnsupportedAlgorithm);
    }
    digest.try_into().map_err(|_| m)
}

/// Verifies every signer info of `sd` (each must verify and chain) over content whose SHA-256 digest is
/// `content_digest`, runs `content_check` once a signer is found (so a
/// wrong image hash is reported as such only for a well-formed signature),
/// and chains each signer to `db`, refusing any that chains to `dbx`.
/// Returns the index in `db` of the first anchor found.
pub(crate) fn verify_signed_data(
    sd: &SignedData<'_>,
    content_digest: &[u8; 32],
    db: &[(usize, Certificate<'_>)],
    dbx: &[(usize, Certificate<'_>)],
    checks: &mut usize,
    content_check: impl Fn() -> Result<(), Error>,
) -> Result<usize, Error> {
    let bag: Vec<Certificate<'_>> =
        sd.certificates.iter().filter_map(|c| Certificate::parse(c).ok()).collect();
    if sd.signers.is_empty() {
        return Err(Error::Malformed(Malformed::Pkcs7));
    }
    let mut anchor = None;
    for signer in &sd.signers {
        let cert = find_signer(signer, &bag, db)?;
        signer.verify(sd.content_type, content_digest, &cert)?;
        content_check()?;
        if !dbx.is_empty() && chain_to(&cert, &bag, dbx, checks)?.is_some() {
            return Err(Error::ForbiddenCertificate);
        }
        match chain_to(&cert, &bag, db, checks)? {
            Some(a) => {
                anchor.get_or_insert(a);
            }
            None => return Err(Error::NotTrusted),
        }
    }
    anchor.ok_or(Error::NotTrusted)
}

fn find_signer<'a>(
    signer: &SignerInfo<'_>,
    bag: &[Certificate<'a>],
    db: &[(usize, Certificate<'a>)],
) -> Result<Certificate<'a>, Error> {
    bag.iter()
        .chain(db.iter().map(|(_, c)| c))
        .find(|c| signer.names(c))
        .copied()
        .ok_or(Error::Malformed(Malformed::SignerCertificate))
}

/// Walks from `leaf` through `bag` towards `anchors`: returns the index of
/// the first anchor that is a certificate of the chain itself or issued
/// one (issuer name equals its subject and its key verifies the
/// certificate's signature). The anchor need not be self-signed, and
/// nothing about validity periods or key usage is checked.
///
/// Fails with [`Error::TooComplex`] when the search would need more than
/// [`MAX_CHECKS`] signature checks: the answer is then unknown, and a
/// `dbx` search must not be taken for "not forbidden".
pub(crate) fn chain_to(
    leaf: &Certificate<'_>,
    bag: &[Certificate<'_>],
    anchors: &[(usize, Certificate<'_>)],
    checks: &mut usize,
) -> Result<Option<usize>, Error> {
    let mut path: Vec<&[u8]> = Vec::new();
    walk(leaf, bag, anchors, &mut path, checks)
}

fn walk<'a>(
    cert: &Certificate<'a>,
    bag: &[Certificate<'a>],
    anchors: &[(usize, Certificate<'_>)],
    path: &mut Vec<&'a [u8]>,
    checks: &mut usize,
) -> Result<Option<usize>, Error> {
    if let Some((i, _)) = anchors.iter().find(|(_, a)| a.der == cert.der) {
        return Ok(Some(*i));
    }
    for (i, a) in anchors {
        if a.subject == cert.issuer && signed(cert, a, checks)? {
            return Ok(Some(*i));
        }
    }
    if path.len() + 1 >= MAX_CHAIN {
        return Ok(None);
    }
    path.push(cert.der);
    for next in bag {
        if next.subject == cert.issuer && !path.contains(&next.der) && signed(cert, next, checks)? {
            if let Some(i) = walk(next, bag, anchors, path, checks)? {
                return Ok(Some(i));
            }
        }
    }
    path.pop();
    Ok(None)
}

fn signed(
    cert: &Certificate<'_>,
    issuer: &Certificate<'_>,
    checks: &mut usize,
) -> Result<bool, Error> {
    if *checks >= MAX_CHECKS {
        return Err(Error::TooComplex);
    }
    *checks += 1;
    Ok(cert.is_signed_by(issuer).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &[u8] = include_bytes!("../tests/fixtures/leaf.der");
    const INTERMEDIATE: &[u8] = include_bytes!("../tests/fixtures/intermediate.der");
    const CA: &[u8] = include_bytes!("../tests/fixtures/ca.der");

    #[test]
    fn chain_walk_budget_fails_closed() {
        let leaf = Certificate::parse(LEAF).unwrap();
        let intermediate = Certificate::parse(INTERMEDIATE).unwrap();
        let ca = Certificate::parse(CA).unwrap();
        let anchors = [(0, ca)];
        let mut checks = 0;
        assert_eq!(chain_to(&leaf, &[intermediate], &anchors, &mut checks), Ok(Some(0)));
        assert_eq!(checks, 2);
        // Look-alike issuers (here, copies) each cost a check.
        let bag = alloc::vec![intermediate; MAX_CHECKS + 1];
        let mut checks = 0;
        assert_eq!(chain_to(&leaf, &bag, &[], &mut checks), Err(Error::TooComplex));
        // The budget is shared by the calls of one verification.
        let mut checks = MAX_CHECKS - 1;
        assert_eq!(chain_to(&leaf, &[intermediate], &anchors, &mut checks), Err(Error::TooComplex));
        // Equality needs no check.
        let mut checks = MAX_CHECKS;
        assert_eq!(chain_to(&leaf, &[], &[(3, leaf)], &mut checks), Ok(Some(3)));
    }
}
