//! `EFI_VARIABLE_AUTHENTICATION_2` (UEFI 2.10 §8.2.2): time-based
//! authenticated writes of `PK`, `KEK`, `db` and `dbx`.
//!
//! The data of such a `SetVariable` call is
//!
//! ```text
//! EFI_TIME                 TimeStamp;  // Pad1, Nanosecond, TimeZone, Daylight, Pad2 zero
//! WIN_CERTIFICATE_UEFI_GUID AuthInfo;  // { { dwLength, 0x0200, 0x0EF1 },
//!                                      //   EFI_CERT_TYPE_PKCS7_GUID, CertData[] }
//! UINT8                    Data[];     // the new value (e.g. signature lists)
//! ```
//!
//! where `CertData` is a DER PKCS#7 `SignedData` (with or without its
//! `ContentInfo` wrapper) whose detached content is
//! `VariableName ‖ VendorGuid ‖ Attributes ‖ TimeStamp ‖ Data`, the name in
//! UTF-16LE without its terminating NUL and the attributes as a
//! little-endian `UINT32`.

use alloc::vec::Vec;
use core::cmp::Ordering;

use sha2::{Digest, Sha256};

use crate::asn1::oid;
use crate::pe::{WIN_CERT_REVISION_2_0, WIN_CERT_TYPE_EFI_GUID};
use crate::pkcs7::SignedData;
use crate::verify::{parse_all, verify_signed_data};
use crate::{Error, Guid, Malformed, SignatureDb};

/// `EFI_TIME` as the descriptor carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EfiTime {
    /// Year (1900 – 9999).
    pub year: u16,
    /// Month (1 – 12).
    pub month: u8,
    /// Day (1 – 31).
    pub day: u8,
    /// Hour (0 – 23).
    pub hour: u8,
    /// Minute (0 – 59).
    pub minute: u8,
    /// Second (0 – 59).
    pub second: u8,
}

impl EfiTime {
    /// The 16 bytes of an `EFI_TIME` with the fields the spec requires to
    /// be zero set to zero.
    pub fn to_bytes(&self) -> [u8; 16] {
        let y = self.year.to_le_bytes();
        [
            y[0],
            y[1],
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    }

    fn parse(b: &[u8; 16]) -> Result<Self, Error> {
        let [y0, y1, month, day, hour, minute, second, rest @ ..] = *b;
        if rest != [0; 9] {
            return Err(Error::Malformed(Malformed::Timestamp));
        }
        Ok(EfiTime { year: u16::from_le_bytes([y0, y1]), month, day, hour, minute, second })
    }
}

impl PartialOrd for EfiTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EfiTime {
    /// Chronological order (the fields are compared most significant
    /// first; they are not checked for range).
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |t: &Self| (t.year, t.month, t.day, t.hour, t.minute, t.second);
        key(self).cmp(&key(other))
    }
}

/// The parts of an `EFI_VARIABLE_AUTHENTICATION_2` write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor<'a> {
    /// `TimeStamp`.
    pub timestamp: EfiTime,
    /// `TimeStamp`'s 16 bytes as written (they are part of the signed data).
    pub timestamp_bytes: [u8; 16],
    /// `CertData`: the PKCS#7 `SignedData`.
    pub signed_data: &'a [u8],
    /// The new variable data after the descriptor.
    pub payload: &'a [u8],
}

impl<'a> Descriptor<'a> {
    /// Splits the data of an authenticated `SetVariable` call.
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        let bad = Error::Malformed(Malformed::AuthDescriptor);
        let ts: [u8; 16] = data.get(..16).ok_or(bad)?.try_into().map_err(|_| bad)?;
        let timestamp = EfiTime::parse(&ts)?;
        let hdr = data.get(16..40).ok_or(bad)?;
        let len = u32::from_le_bytes(hdr.get(..4).ok_or(bad)?.try_into().map_err(|_| bad)?);
        let revision = u16::from_le_bytes(hdr.get(4..6).ok_or(bad)?.try_into().map_err(|_| bad)?);
        let ty = u16::from_le_bytes(hdr.get(6..8).ok_or(bad)?.try_into().map_err(|_| bad)?);
        let guid: [u8; 16] = hdr.get(8..24).ok_or(bad)?.try_into().map_err(|_| bad)?;
        if revision != WIN_CERT_REVISION_2_0
            || ty != WIN_CERT_TYPE_EFI_GUID
            || Guid(guid) != Guid::CERT_TYPE_PKCS7
        {
            return Err(bad);
        }
        let len = usize::try_from(len).map_err(|_| bad)?;
        if len < 24 {
            return Err(bad);
        }
        let end = 16usize.checked_add(len).ok_or(bad)?;
        let signed_data = data.get(40..end).ok_or(bad)?;
        let payload = data.get(end..).ok_or(bad)?;
        Ok(Descriptor { timestamp, timestamp_bytes: ts, signed_data, payload })
    }
}

/// A verified authenticated write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated<'a> {
    /// The write's timestamp; the caller refuses it unless it is later than
    /// the variable's current one (or, for an append, keeps the later).
    pub timestamp: EfiTime,
    /// The new variable data.
    pub payload: &'a [u8],
    /// Which certificate of the signer database the signature chains to
    /// (index into [`SignatureDb::certificates`]).
    pub anchor: usize,
}

/// Verifies an `EFI_VARIABLE_AUTHENTICATION_2` write of the variable
/// `name` (UTF-16 code units, without the terminating NUL) of vendor
/// `guid` with `attributes` (as passed to `SetVariable`, including
/// `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS`), against the
/// certificates of `signers` (`PK` for `PK` and `KEK`, `KEK` for `db` and
/// `dbx`; the firmware may also allow `PK` for those).
///
/// The PKCS#7 must be a detached signature over content of type `data`, by
/// signers whose certificates chain to `signers` (found in the signature's
/// certificate bag or in `signers` itself), RSA PKCS#1 v1.5 with SHA-256.
pub fn verify_write<'a>(
    name: &[u16],
    guid: &Guid,
    attributes: u32,
    data: &'a [u8],
    signers: &SignatureDb,
) -> Result<Authenticated<'a>, Error> {
    let d = Descriptor::parse(data)?;
    let sd = SignedData::parse(d.signed_data)?;
    if sd.content_type != oid::DATA || sd.content.is_some() {
        return Err(Error::Malformed(Malformed::Pkcs7));
    }
    let mut h = Sha256::new();
    let mut name_bytes = Vec::with_capacity(name.len().saturating_mul(2));
    for unit in name {
        name_bytes.extend_from_slice(&unit.to_le_bytes());
    }
    h.update(&name_bytes);
    h.update(guid.0);
    h.update(attributes.to_le_bytes());
    h.update(d.timestamp_bytes);
    h.update(d.payload);
    let digest: [u8; 32] = h.finalize().into();
    let anchors = parse_all(signers);
    let mut checks = 0usize;
    let anchor = verify_signed_data(&sd, &digest, &anchors, &[], &mut checks, || Ok(()))?;
    Ok(Authenticated { timestamp: d.timestamp, payload: d.payload, anchor })
}
