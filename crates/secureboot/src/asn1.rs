//! A small DER walker on top of the `der` crate's header decoder: enough to
//! take PKCS#7, X.509 and Authenticode structures apart while keeping the
//! exact bytes that signatures and digests are computed over (a decoded and
//! re-encoded structure need not be byte-identical to what was signed).

use der::{Decode, Header, Reader, SliceReader};

use crate::Malformed;

/// Universal and context-specific tag octets this crate looks for.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0]` constructed (EXPLICIT, or IMPLICIT of a constructed type).
    pub const CONTEXT_0: u8 = 0xA0;
    /// `[1]` constructed.
    pub const CONTEXT_1: u8 = 0xA1;
}

/// One decoded TLV: its tag octet, its contents, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (single-byte tags only; `der` refuses others).
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Identifier, length and contents octets.
    pub raw: &'a [u8],
}

/// Reads the TLV at the start of `bytes` and returns it with the bytes that
/// follow it.
pub(crate) fn split_tlv(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), Malformed> {
    let mut r = SliceReader::new(bytes).map_err(|_| Malformed::Der)?;
    let tlv = read_tlv(&mut r, bytes)?;
    let used = tlv.raw.len();
    let rest = bytes.get(used..).ok_or(Malformed::Der)?;
    Ok((tlv, rest))
}

fn read_tlv<'a>(r: &mut SliceReader<'a>, all: &'a [u8]) -> Result<Tlv<'a>, Malformed> {
    let start = usize::try_from(r.position()).map_err(|_| Malformed::Der)?;
    let header = Header::decode(r).map_err(|_| Malformed::Der)?;
    let value = r.read_slice(header.length).map_err(|_| Malformed::Der)?;
    let end = usize::try_from(r.position()).map_err(|_| Malformed::Der)?;
    let raw = all.get(start..end).ok_or(Malformed::Der)?;
    Ok(Tlv { tag: header.tag.octet(), value, raw })
}

/// A cursor over the elements inside a constructed value.
pub(crate) struct Seq<'a> {
    all: &'a [u8],
    r: SliceReader<'a>,
}

impl<'a> Seq<'a> {
    /// Walks the contents `value` of a SEQUENCE, SET or explicit tag.
    pub fn new(value: &'a [u8]) -> Result<Self, Malformed> {
        Ok(Self { all: value, r: SliceReader::new(value).map_err(|_| Malformed::Der)? })
    }

    /// Walks the contents of `tlv` after checking its tag.
    pub fn of(tlv: Tlv<'a>, expected: u8) -> Result<Self, Malformed> {
        if tlv.tag != expected {
            return Err(Malformed::Der);
        }
        Self::new(tlv.value)
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.r.is_finished()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, Malformed> {
        if self.is_empty() {
            return Err(Malformed::Der);
        }
        read_tlv(&mut self.r, self.all)
    }

    /// The next element, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, Malformed> {
        let tlv = self.any()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(Malformed::Der)
        }
    }

    /// The next element if it carries `tag` (an OPTIONAL field).
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.is_empty() || self.r.peek_byte() != Some(tag) {
            return Ok(None);
        }
        self.any().map(Some)
    }

    /// Fails unless every element has been read.
    pub fn finish(self) -> Result<(), Malformed> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Malformed::Der)
        }
    }
}

/// Reads an `AlgorithmIdentifier` and returns the OID's contents octets,
/// checking that the parameters are absent or NULL (true of every
/// algorithm this crate accepts; others are reported by OID mismatch).
pub(crate) fn algorithm(tlv: Tlv<'_>) -> Result<&[u8], Malformed> {
    let mut s = Seq::of(tlv, tag::SEQUENCE)?;
    let oid = s.expect(tag::OID)?.value;
    if let Some(params) = s.optional(tag::NULL)? {
        if !params.value.is_empty() {
            return Err(Malformed::Der);
        }
    } else if !s.is_empty() {
        // Parameters of an algorithm this crate does not use: keep the OID
        // so the caller can name it unsupported rather than malformed.
        s.any()?;
    }
    s.finish()?;
    Ok(oid)
}

/// The contents octets of an OID, for comparison with [`oid`] constants.
pub(crate) mod oid {
    /// 1.2.840.113549.1.7.2 signedData.
    pub const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    /// 1.2.840.113549.1.7.1 data.
    pub const DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    /// 1.3.6.1.4.1.311.2.1.4 SPC_INDIRECT_DATA_OBJID.
    pub const SPC_INDIRECT_DATA: &[u8] =
        &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
    /// 2.16.840.1.101.3.4.2.1 id-sha256.
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// 1.2.840.113549.1.1.1 rsaEncryption.
    pub const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    /// 1.2.840.113549.1.1.11 sha256WithRSAEncryption.
    pub const SHA256_WITH_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    /// 1.2.840.113549.1.9.3 contentType (attribute).
    pub const CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
    /// 1.2.840.113549.1.9.4 messageDigest (attribute).
    pub const MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
}
