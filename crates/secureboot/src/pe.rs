//! The Authenticode image hash of a PE32 or PE32+ image and the walk of its
//! certificate table (PE/COFF specification, "Attribute Certificate Table"
//! and "Calculating the PE Image Hash"; UEFI 2.10 §32.2.4).
//!
//! The hash covers, in this order:
//!
//! 1. the headers up to `SizeOfHeaders`, less the optional header's
//!    `CheckSum` and the Certificate Table data directory entry (the
//!    fields signing changes);
//! 2. each section's raw data, in `PointerToRawData` order;
//! 3. whatever the file holds after the last hashed byte (`SizeOfHeaders`
//!    plus every `SizeOfRawData`), except the certificate table.
//!
//! The certificate table's `VirtualAddress` is a file offset. Its entries
//! (`WIN_CERTIFICATE`) start on 8-byte boundaries; the padding between them
//! is not hashed and not parsed, so changing it changes nothing.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::{Error, Malformed};
use vmfw_bytes::{u16_at as le16, u32_at as le32};

/// `WIN_CERTIFICATE.wRevision` of every entry this crate uses.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERTIFICATE.wCertificateType` of an Authenticode PKCS#7 signature.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// `WIN_CERTIFICATE.wCertificateType` of `WIN_CERTIFICATE_UEFI_GUID`.
pub const WIN_CERT_TYPE_EFI_GUID: u16 = 0x0EF1;
/// At most this many sections are hashed (the PE format's own limit).
pub const MAX_SECTIONS: usize = 96;

const PE32_MAGIC: u16 = 0x10b;
const PE32_PLUS_MAGIC: u16 = 0x20b;
const SECTION_HEADER: usize = 40;

fn to_usize(v: u32) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The layout facts the image hash and the certificate walk need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// File offset of the optional header's `CheckSum`.
    pub checksum_offset: usize,
    /// File offset of the Certificate Table data directory entry, if the
    /// optional header has one.
    pub cert_dir_offset: Option<usize>,
    /// `SizeOfHeaders`.
    pub size_of_headers: usize,
    /// Each section's raw data as `(PointerToRawData, SizeOfRawData)`,
    /// empty ones left out, in `PointerToRawData` order.
    pub sections: Vec<(usize, usize)>,
    /// The certificate table as `(file offset, size)`, if present.
    pub cert_table: Option<(usize, usize)>,
}

impl Layout {
    /// Reads the headers of `image`, checking every offset the hash and the
    /// walk will use.
    pub fn parse(image: &[u8]) -> Result<Self, Error> {
        let hdr = Error::Malformed(Malformed::PeHeaders);
        if le16(image, 0) != Some(0x5a4d) {
            return Err(hdr);
        }
        let pe = le32(image, 0x3c).and_then(to_usize).ok_or(hdr)?;
        if image.get(pe..pe.checked_add(4).ok_or(hdr)?) != Some(b"PE\0\0".as_slice()) {
            return Err(hdr);
        }
        let coff = pe.checked_add(4).ok_or(hdr)?;
        let sections = usize::from(le16(image, coff.checked_add(2).ok_or(hdr)?).ok_or(hdr)?);
        let opt_size = usize::from(le16(image, coff.checked_add(16).ok_or(hdr)?).ok_or(hdr)?);
        let opt = coff.checked_add(20).ok_or(hdr)?;
        let opt_end = opt.checked_add(opt_size).ok_or(hdr)?;
        let (rva_count_at, dirs_at) = match le16(image, opt).ok_or(hdr)? {
            PE32_MAGIC => (92, 96),
            PE32_PLUS_MAGIC => (108, 112),
            _ => return Err(hdr),
        };
        if opt_end > image.len() || opt_size < dirs_at {
            return Err(hdr);
        }
        let size_of_headers = le32(image, opt + 60).and_then(to_usize).ok_or(hdr)?;
        let checksum_offset = opt + 64;
        let rva_count = le32(image, opt + rva_count_at).and_then(to_usize).ok_or(hdr)?;
        // Directory entries past the optional header's size are not there,
        // whatever NumberOfRvaAndSizes claims.
        let dirs_room = (opt_size - dirs_at) / 8;
        let cert_dir_offset =
            if rva_count > 4 && dirs_room > 4 { Some(opt + dirs_at + 4 * 8) } else { None };
        let header_limit = match cert_dir_offset {
            Some(d) => d + 8,
            None => checksum_offset + 4,
        };
        if size_of_headers > image.len() || size_of_headers < header_limit {
            return Err(hdr);
        }

        let st = Error::Malformed(Malformed::SectionTable);
        if sections > MAX_SECTIONS {
            return Err(st);
        }
        let table = image.get(opt_end..).ok_or(st)?;
        let mut raw = Vec::new();
        for i in 0..sections {
            let at = i.checked_mul(SECTION_HEADER).ok_or(st)?;
            let size = le32(table, at.checked_add(16).ok_or(st)?).and_then(to_usize).ok_or(st)?;
            let ptr = le32(table, at.checked_add(20).ok_or(st)?).and_then(to_usize).ok_or(st)?;
            if size == 0 {
                continue;
            }
            let end = ptr.checked_add(size).ok_or(st)?;
            if end > image.len() {
                return Err(st);
            }
            raw.push((ptr, size));
        }
        // Stable, like edk2's insertion sort: sections sharing a
        // PointerToRawData stay in table order. At most MAX_SECTIONS
        // entries, and far smaller than the library's sort.
        for i in 1..raw.len() {
            let mut j = i;
            while j > 0 && raw.get(j - 1).map(|p| p.0) > raw.get(j).map(|p| p.0) {
                raw.swap(j - 1, j);
                j -= 1;
            }
        }

        let ct = Error::Malformed(Malformed::CertificateTable);
        let cert_table = match cert_dir_offset {
            Some(d) => {
                let off = le32(image, d).and_then(to_usize).ok_or(ct)?;
                let size = le32(image, d + 4).and_then(to_usize).ok_or(ct)?;
                if size == 0 {
                    None
                } else {
                    let end = off.checked_add(size).ok_or(ct)?;
                    if end > image.len() || off < size_of_headers {
                        return Err(ct);
                    }
                    Some((off, size))
                }
            }
            None => None,
        };
        Ok(Layout { checksum_offset, cert_dir_offset, size_of_headers, sections: raw, cert_table })
    }
}

/// Computes the Authenticode SHA-256 hash of `image`.
pub fn image_digest(image: &[u8]) -> Result<[u8; 32], Error> {
    let layout = Layout::parse(image)?;
    digest_with(image, &layout)
}

fn digest_with(image: &[u8], l: &Layout) -> Result<[u8; 32], Error> {
    let hdr = Error::Malformed(Malformed::PeHeaders);
    let mut h = Sha256::new();
    let after_checksum = l.checksum_offset.checked_add(4).ok_or(hdr)?;
    h.update(image.get(..l.checksum_offset).ok_or(hdr)?);
    match l.cert_dir_offset {
        Some(d) => {
            h.update(image.get(after_checksum..d).ok_or(hdr)?);
            let after_dir = d.checked_add(8).ok_or(hdr)?;
            h.update(image.get(after_dir..l.size_of_headers).ok_or(hdr)?);
        }
        None => h.update(image.get(after_checksum..l.size_of_headers).ok_or(hdr)?),
    }
    let st = Error::Malformed(Malformed::SectionTable);
    let mut hashed = l.size_of_headers;
    for &(ptr, size) in &l.sections {
        h.update(image.get(ptr..ptr.checked_add(size).ok_or(st)?).ok_or(st)?);
        hashed = hashed.checked_add(size).ok_or(st)?;
    }
    if hashed < image.len() {
        // The trailing data, less the certificate table wherever in it the
        // table lies.
        let (c0, c1) = l.cert_table.map_or((image.len(), image.len()), |(o, s)| (o, o + s));
        let before_end = c0.clamp(hashed, image.len());
        h.update(image.get(hashed..before_end).unwrap_or(&[]));
        let after_start = c1.clamp(hashed, image.len());
        h.update(image.get(after_start..).unwrap_or(&[]));
    }
    Ok(h.finalize().into())
}

/// One `WIN_CERTIFICATE` of the certificate table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WinCertificate<'a> {
    /// `wRevision`.
    pub revision: u16,
    /// `wCertificateType`.
    pub cert_type: u16,
    /// `bCertificate` (`dwLength` less the 8-byte header).
    pub data: &'a [u8],
}

impl WinCertificate<'_> {
    /// True for a revision 2.0 Authenticode PKCS#7 `SignedData`.
    pub fn is_pkcs7(&self) -> bool {
        self.revision == WIN_CERT_REVISION_2_0 && self.cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA
    }
}

/// The certificate table's entries, read from `image`.
///
/// The walk stops when fewer than eight bytes (a header) remain; an entry
/// shorter than its header or running past the table is an error.
pub fn certificates(image: &[u8]) -> Result<Vec<WinCertificate<'_>>, Error> {
    let layout = Layout::parse(image)?;
    table_entries(image, &layout)
}

fn table_entries<'a>(image: &'a [u8], l: &Layout) -> Result<Vec<WinCertificate<'a>>, Error> {
    let ct = Error::Malformed(Malformed::CertificateTable);
    let Some((off, size)) = l.cert_table else {
        return Ok(Vec::new());
    };
    let table = image.get(off..off.checked_add(size).ok_or(ct)?).ok_or(ct)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while table.len().saturating_sub(at) >= 8 {
        let len = le32(table, at).and_then(to_usize).ok_or(ct)?;
        let revision = le16(table, at + 4).ok_or(ct)?;
        let cert_type = le16(table, at + 6).ok_or(ct)?;
        if len < 8 {
            return Err(ct);
        }
        let end = at.checked_add(len).ok_or(ct)?;
        let data = table.get(at + 8..end).ok_or(ct)?;
        out.push(WinCertificate { revision, cert_type, data });
        at = end.checked_add(7).ok_or(ct)? & !7;
    }
    Ok(out)
}

/// The hash and the signatures of one image, from one header parse.
pub(crate) fn digest_and_certificates(
    image: &[u8],
) -> Result<([u8; 32], Vec<WinCertificate<'_>>), Error> {
    let layout = Layout::parse(image)?;
    Ok((digest_with(image, &layout)?, table_entries(image, &layout)?))
}
