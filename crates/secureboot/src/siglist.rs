//! `EFI_SIGNATURE_LIST` (UEFI 2.10 §32.4.1): the contents of the `PK`,
//! `KEK`, `db` and `dbx` variables, and the inverse for enrolling keys.
//!
//! A variable holds zero or more lists back to back; each list is
//!
//! ```text
//! EFI_GUID SignatureType;          // EFI_CERT_X509_GUID, EFI_CERT_SHA256_GUID, ...
//! UINT32   SignatureListSize;      // the whole list, header included
//! UINT32   SignatureHeaderSize;    // 0 for the types read here
//! UINT32   SignatureSize;          // each EFI_SIGNATURE_DATA, owner included
//! UINT8    SignatureHeader[SignatureHeaderSize];
//! EFI_SIGNATURE_DATA Signatures[]; // { EFI_GUID SignatureOwner; UINT8 SignatureData[]; }
//! ```
//!
//! Lists of other types (SHA-1, RSA-2048 keys, X.509 certificate hashes of
//! `dbx` and so on) are skipped and counted, since this firmware verifies
//! only with certificates and SHA-256 image hashes; a `dbx` list of a type
//! it skips is therefore not enforced, which [`SignatureDb::skipped`] lets
//! the firmware report.

use alloc::vec::Vec;
use core::fmt;

use crate::Guid;
use vmfw_bytes::u32_at as le32;

/// Size of the fixed part of an `EFI_SIGNATURE_LIST`.
const LIST_HEADER: usize = 28;
/// Size of `EFI_SIGNATURE_DATA.SignatureOwner`.
const OWNER: usize = 16;

/// Why a signature list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigListError {
    /// Fewer bytes remain than a list header needs.
    TruncatedHeader,
    /// `SignatureListSize` is smaller than its header or runs past the end.
    BadListSize,
    /// `SignatureSize` is too small to hold an owner GUID (or zero).
    BadSignatureSize,
    /// The list body is not a whole number of `SignatureSize` entries.
    PartialEntry,
    /// A list of X.509 or SHA-256 entries has a non-zero
    /// `SignatureHeaderSize`.
    UnexpectedHeader,
    /// A SHA-256 list whose entries are not 16 + 32 bytes.
    BadHashSize,
}

impl core::error::Error for SigListError {}

impl fmt::Display for SigListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SigListError::TruncatedHeader => "signature list: truncated header",
            SigListError::BadListSize => "signature list: bad SignatureListSize",
            SigListError::BadSignatureSize => "signature list: bad SignatureSize",
            SigListError::PartialEntry => "signature list: partial entry",
            SigListError::UnexpectedHeader => "signature list: unexpected SignatureHeader",
            SigListError::BadHashSize => "signature list: SHA-256 entry is not 32 bytes",
        })
    }
}

/// One X.509 certificate of a signature database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertEntry {
    /// `SignatureOwner`.
    pub owner: Guid,
    /// The DER certificate, as enrolled (not checked until it is used).
    pub der: Vec<u8>,
}

/// One SHA-256 hash of a signature database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashEntry {
    /// `SignatureOwner`.
    pub owner: Guid,
    /// The hash.
    pub sha256: [u8; 32],
}

/// The certificates and SHA-256 hashes of one of `PK`, `KEK`, `db`, `dbx`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureDb {
    certificates: Vec<CertEntry>,
    hashes: Vec<HashEntry>,
    skipped: usize,
}

impl SignatureDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the bytes of a signature database variable (zero or more
    /// lists). An empty slice is an empty database.
    pub fn parse(bytes: &[u8]) -> Result<Self, SigListError> {
        let mut db = Self::new();
        db.extend_from_lists(bytes)?;
        Ok(db)
    }

    /// Adds the entries of `bytes` (zero or more lists). On error `self`
    /// is unchanged.
    pub fn extend_from_lists(&mut self, bytes: &[u8]) -> Result<(), SigListError> {
        let mut parsed = self.clone();
        let mut rest = bytes;
        while !rest.is_empty() {
            let header = rest.get(..LIST_HEADER).ok_or(SigListError::TruncatedHeader)?;
            let mut ty = [0u8; 16];
            ty.copy_from_slice(header.get(..16).ok_or(SigListError::TruncatedHeader)?);
            let ty = Guid(ty);
            let list_size = le32(header, 16).ok_or(SigListError::TruncatedHeader)?;
            let header_size = le32(header, 20).ok_or(SigListError::TruncatedHeader)?;
            let sig_size = le32(header, 24).ok_or(SigListError::TruncatedHeader)?;
            let list_size = usize::try_from(list_size).map_err(|_| SigListError::BadListSize)?;
            let header_size =
                usize::try_from(header_size).map_err(|_| SigListError::BadListSize)?;
            let sig_size = usize::try_from(sig_size).map_err(|_| SigListError::BadSignatureSize)?;
            let list = rest.get(..list_size).ok_or(SigListError::BadListSize)?;
            let body_start =
                LIST_HEADER.checked_add(header_size).ok_or(SigListError::BadListSize)?;
            let body = list.get(body_start..).ok_or(SigListError::BadListSize)?;
            if sig_size < OWNER {
                return Err(SigListError::BadSignatureSize);
            }
            if body.len() % sig_size != 0 {
                return Err(SigListError::PartialEntry);
            }
            let known = ty == Guid::CERT_X509 || ty == Guid::CERT_SHA256;
            if known && header_size != 0 {
                return Err(SigListError::UnexpectedHeader);
            }
            if ty == Guid::CERT_SHA256 && sig_size != OWNER + 32 {
                return Err(SigListError::BadHashSize);
            }
            for entry in body.chunks_exact(sig_size) {
                let (owner, data) = entry.split_at(OWNER);
                let mut o = [0u8; 16];
                o.copy_from_slice(owner);
                let owner = Guid(o);
                if ty == Guid::CERT_X509 {
                    parsed.certificates.push(CertEntry { owner, der: data.to_vec() });
                } else if ty == Guid::CERT_SHA256 {
                    let mut sha256 = [0u8; 32];
                    sha256.copy_from_slice(data);
                    parsed.hashes.push(HashEntry { owner, sha256 });
                } else {
                    parsed.skipped = parsed.skipped.saturating_add(1);
                }
            }
            rest = rest.get(list_size..).ok_or(SigListError::BadListSize)?;
        }
        *self = parsed;
        Ok(())
    }

    /// The X.509 certificates, in variable order.
    pub fn certificates(&self) -> &[CertEntry] {
        &self.certificates
    }

    /// The SHA-256 hashes, in variable order.
    pub fn hashes(&self) -> &[HashEntry] {
        &self.hashes
    }

    /// How many entries of other signature types were skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// True when the database holds neither certificates nor hashes.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.hashes.is_empty()
    }

    /// True when `sha256` is one of the hashes.
    pub fn contains_hash(&self, sha256: &[u8; 32]) -> bool {
        self.hashes.iter().any(|h| &h.sha256 == sha256)
    }

    /// True when a certificate is byte-for-byte `der`.
    pub fn contains_certificate(&self, der: &[u8]) -> bool {
        self.certificates.iter().any(|c| c.der == der)
    }

    /// Adds a certificate (not checked: it is parsed when used).
    pub fn push_certificate(&mut self, owner: Guid, der: &[u8]) {
        self.certificates.push(CertEntry { owner, der: der.to_vec() });
    }

    /// Adds a SHA-256 hash.
    pub fn push_hash(&mut self, owner: Guid, sha256: [u8; 32]) {
        self.hashes.push(HashEntry { owner, sha256 });
    }

    /// Encodes the database as signature lists: one X.509 list per
    /// certificate (their sizes differ), then one SHA-256 list holding
    /// every hash. Skipped entries are not kept, so they are not written.
    ///
    /// Returns `None` if a certificate is too large for a list's 32-bit
    /// sizes.
    pub fn to_lists(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for c in &self.certificates {
            let sig_size = OWNER.checked_add(c.der.len())?;
            push_list_header(&mut out, Guid::CERT_X509, 1, sig_size)?;
            out.extend_from_slice(&c.owner.0);
            out.extend_from_slice(&c.der);
        }
        if !self.hashes.is_empty() {
            push_list_header(&mut out, Guid::CERT_SHA256, self.hashes.len(), OWNER + 32)?;
            for h in &self.hashes {
                out.extend_from_slice(&h.owner.0);
                out.extend_from_slice(&h.sha256);
            }
        }
        Some(out)
    }
}

fn push_list_header(out: &mut Vec<u8>, ty: Guid, count: usize, sig_size: usize) -> Option<()> {
    let list_size = count.checked_mul(sig_size)?.checked_add(LIST_HEADER)?;
    out.extend_from_slice(&ty.0);
    out.extend_from_slice(&u32::try_from(list_size).ok()?.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&u32::try_from(sig_size).ok()?.to_le_bytes());
    Some(())
}
