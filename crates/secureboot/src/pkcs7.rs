//! PKCS#7 v1.5 `SignedData` (RFC 2315 §9, and RFC 5652 §5 where they agree)
//! as Authenticode and authenticated variables use it: the encapsulated
//! content, the certificate bag and the signer infos, each kept as the
//! bytes that were signed.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::asn1::{algorithm, oid, split_tlv, tag, Seq, Tlv};
use crate::x509::{verify_rsa_sha256, Certificate};
use crate::{Error, Malformed};

/// At most this many certificates are read from one `SignedData` (real
/// Authenticode signatures carry a handful); more is refused as malformed.
pub const MAX_CERTIFICATES: usize = 32;
/// At most this many signer infos are read from one `SignedData`
/// (Authenticode allows exactly one); more is refused as malformed.
pub const MAX_SIGNERS: usize = 4;

/// A parsed `SignedData`.
#[derive(Clone, Debug)]
pub struct SignedData<'a> {
    /// The encapsulated content type OID's contents octets.
    pub content_type: &'a [u8],
    /// The encapsulated content, the TLV inside `[0] EXPLICIT`; `None`
    /// for a detached signature.
    pub content: Option<ContentTlv<'a>>,
    /// The certificate bag: each `Certificate` choice's DER (other
    /// choices are skipped).
    pub certificates: Vec<&'a [u8]>,
    /// The signer infos.
    pub signers: Vec<SignerInfo<'a>>,
}

/// The encapsulated content.
#[derive(Clone, Copy, Debug)]
pub struct ContentTlv<'a> {
    /// Its identifier octet.
    pub tag: u8,
    /// Its contents octets: what the `messageDigest` attribute digests
    /// (PKCS#7 v1.5 digests the content's value without tag and length,
    /// which for CMS's OCTET STRING is the data itself).
    pub value: &'a [u8],
}

/// One signer info (issuer-and-serial-number form only: subject key
/// identifiers are refused as malformed, Authenticode does not use them).
#[derive(Clone, Copy, Debug)]
pub struct SignerInfo<'a> {
    /// The issuer `Name` TLV of the signer's certificate.
    pub issuer: &'a [u8],
    /// The signer certificate's serial number contents octets.
    pub serial: &'a [u8],
    /// `digestAlgorithm` OID contents octets.
    pub digest_algorithm: &'a [u8],
    /// The `[0] IMPLICIT` authenticated attributes TLV, if any.
    pub signed_attributes: Option<&'a [u8]>,
    /// `digestEncryptionAlgorithm` OID contents octets.
    pub signature_algorithm: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

impl<'a> SignedData<'a> {
    /// Parses a `ContentInfo` of type `signedData` at the start of
    /// `bytes`, or, when the bytes start with a bare `SignedData` (as
    /// `EFI_VARIABLE_AUTHENTICATION_2` allows), that. Bytes after the
    /// first TLV are ignored: Authenticode pads the blob to eight bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::parse_inner(bytes).map_err(|_| Error::Malformed(Malformed::Pkcs7))
    }

    fn parse_inner(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let (outer, _) = split_tlv(bytes)?;
        let mut s = Seq::of(outer, tag::SEQUENCE)?;
        let first = s.any()?;
        let signed_data = if first.tag == tag::OID {
            if first.value != oid::SIGNED_DATA {
                return Err(Malformed::Pkcs7);
            }
            let mut explicit = Seq::of(s.expect(tag::CONTEXT_0)?, tag::CONTEXT_0)?;
            let inner = explicit.expect(tag::SEQUENCE)?;
            explicit.finish()?;
            s.finish()?;
            inner
        } else {
            outer
        };
        let mut sd = Seq::of(signed_data, tag::SEQUENCE)?;
        sd.expect(tag::INTEGER)?; // version
        sd.expect(tag::SET)?; // digestAlgorithms: each signer names its own
        let mut encap = Seq::of(sd.expect(tag::SEQUENCE)?, tag::SEQUENCE)?;
        let content_type = encap.expect(tag::OID)?.value;
        let content = match encap.optional(tag::CONTEXT_0)? {
            Some(explicit) => {
                let mut e = Seq::new(explicit.value)?;
                let c = e.any()?;
                e.finish()?;
                Some(ContentTlv { tag: c.tag, value: c.value })
            }
            None => None,
        };
        encap.finish()?;
        let mut certificates = Vec::new();
        if let Some(bag) = sd.optional(tag::CONTEXT_0)? {
            let mut b = Seq::new(bag.value)?;
            while !b.is_empty() {
                let c = b.any()?;
                if c.tag == tag::SEQUENCE {
                    if certificates.len() >= MAX_CERTIFICATES {
                        return Err(Malformed::Pkcs7);
                    }
                    certificates.push(c.raw);
                }
            }
        }
        sd.optional(tag::CONTEXT_1)?; // crls
        let mut infos = Seq::of(sd.expect(tag::SET)?, tag::SET)?;
        let mut signers = Vec::new();
        while !infos.is_empty() {
            if signers.len() >= MAX_SIGNERS {
                return Err(Malformed::Pkcs7);
            }
            signers.push(SignerInfo::parse(infos.expect(tag::SEQUENCE)?)?);
        }
        sd.finish()?;
        Ok(SignedData { content_type, content, certificates, signers })
    }
}

impl<'a> SignerInfo<'a> {
    fn parse(tlv: Tlv<'a>) -> Result<Self, Malformed> {
        let mut s = Seq::new(tlv.value)?;
        s.expect(tag::INTEGER)?; // version
        let mut ias = Seq::of(s.expect(tag::SEQUENCE)?, tag::SEQUENCE)?;
        let issuer = ias.expect(tag::SEQUENCE)?.raw;
        let serial = ias.expect(tag::INTEGER)?.value;
        ias.finish()?;
        let digest_algorithm = algorithm(s.any()?)?;
        let signed_attributes = s.optional(tag::CONTEXT_0)?.map(|a| a.raw);
        let signature_algorithm = algorithm(s.any()?)?;
        let signature = s.expect(tag::OCTET_STRING)?.value;
        s.optional(tag::CONTEXT_1)?; // unauthenticated attributes
        s.finish()?;
        Ok(SignerInfo {
            issuer,
            serial,
            digest_algorithm,
            signed_attributes,
            signature_algorithm,
            signature,
        })
    }

    /// True when `cert` is the certificate this signer info names.
    pub fn names(&self, cert: &Certificate<'_>) -> bool {
        cert.issuer == self.issuer && cert.serial == self.serial
    }

    /// Checks this signer's signature over content whose SHA-256 digest
    /// is `content_digest`, with the key of `cert`: through the
    /// authenticated attributes when present (their `messageDigest` must
    /// equal `content_digest` and their `contentType`, if present,
    /// `content_type`), else directly.
    pub fn verify(
        &self,
        content_type: &[u8],
        content_digest: &[u8; 32],
        cert: &Certificate<'_>,
    ) -> Result<(), Error> {
        if self.digest_algorithm != oid::SHA256 {
            return Err(Error::UnsupportedAlgorithm);
        }
        if self.signature_algorithm != oid::RSA_ENCRYPTION
            && self.signature_algorithm != oid::SHA256_WITH_RSA
        {
            return Err(Error::UnsupportedAlgorithm);
        }
        let signed = match self.signed_attributes {
            Some(attrs) => {
                check_attributes(attrs, content_type, content_digest)?;
                // The signature covers the attributes' DER as a SET OF
                // (RFC 5652 §5.4): the [0] IMPLICIT tag becomes 0x31.
                let body = attrs.get(1..).ok_or(Error::Malformed(Malformed::Attributes))?;
                let mut h = Sha256::new();
                h.update([tag::SET]);
                h.update(body);
                h.finalize().into()
            }
            None => *content_digest,
        };
        verify_rsa_sha256(cert.spki, &signed, self.signature)
    }
}

fn check_attributes(attrs: &[u8], content_type: &[u8], digest: &[u8; 32]) -> Result<(), Error> {
    let malformed = Error::Malformed(Malformed::Attributes);
    let (tlv, _) = split_tlv(attrs).map_err(|_| malformed)?;
    let mut set = Seq::of(tlv, tag::CONTEXT_0).map_err(|_| malformed)?;
    let mut message_digest = None;
    while !set.is_empty() {
        let mut attr = Seq::of(set.any()?, tag::SEQUENCE).map_err(|_| malformed)?;
        let ty = attr.expect(tag::OID)?.value;
        let mut values = Seq::of(attr.expect(tag::SET)?, tag::SET).map_err(|_| malformed)?;
        attr.finish()?;
        if ty == oid::MESSAGE_DIGEST {
            let v = values.expect(tag::OCTET_STRING)?.value;
            values.finish().map_err(|_| malformed)?;
            if message_digest.replace(v).is_some() {
                return Err(malformed);
            }
        } else if ty == oid::CONTENT_TYPE {
            let v = values.expect(tag::OID)?.value;
            values.finish().map_err(|_| malformed)?;
            if v != content_type {
                return Err(Error::BadSignature);
            }
        }
    }
    match message_digest {
        Some(d) if d == digest => Ok(()),
        Some(_) => Err(Error::BadSignature),
        None => Err(malformed),
    }
}
