//! The Secure Boot key blob: `PK`, `KEK`, `db` and `dbx` as the operator
//! embedded them into the firmware image (`cargo xtask enroll`).
//!
//! The keys live in the image, not in the variable store, because the
//! guest can write the store (`VARS.BIN`) and RAM kept across a reset; it
//! cannot write the image the VMM loads. This module only defines the
//! blob's format; where the blob is in memory and how the variables are
//! served is the firmware's business.
//!
//! Format (all integers little endian):
//!
//! ```text
//! offset 0   magic "VMFWKEYS"
//!        8   u32 version (1)
//!        12  u32 total length of the blob, this header included
//!        16  records, each:
//!              u8 kind (1 PK, 2 KEK, 3 db, 4 dbx), 3 zero bytes,
//!              u32 length of the content,
//!              the content: the variable's data exactly as
//!              GetVariable() returns it, a concatenation of
//!              EFI_SIGNATURE_LISTs (UEFI 2.10 §32.4.1),
//!              zero bytes up to a multiple of 8
//! ```
//!
//! Each kind appears at most once and no record is empty (UEFI has no
//! empty variables: a zero-sized write deletes). The records end exactly
//! at the total length. [`parse`] checks all of it, including that every
//! content is a well-formed sequence of signature lists, so the firmware
//! never serves a variable it could not walk itself.
//!
//! An `EFI_SIGNATURE_LIST` is: `SignatureType` (GUID, 16 bytes),
//! `SignatureListSize`, `SignatureHeaderSize`, `SignatureSize` (u32
//! each), a header of `SignatureHeaderSize` bytes, then signatures of
//! `SignatureSize` bytes each, every one an owner GUID followed by its
//! data.

use alloc::vec::Vec;
use core::fmt;
use vmfw_bytes::u32_at;

/// The blob's first eight bytes.
pub const MAGIC: [u8; 8] = *b"VMFWKEYS";
/// The only version this module reads and writes.
pub const VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: usize = 16;
/// Bytes of a record before its content.
const RECORD_HEADER_LEN: usize = 8;
/// Records are padded to this.
const ALIGN: usize = 8;
/// Bytes of an `EFI_SIGNATURE_LIST` before its signature header.
pub const LIST_HEADER_LEN: usize = 28;
/// Bytes of an `EFI_SIGNATURE_DATA` before its data: the owner GUID.
pub const OWNER_LEN: usize = 16;

/// Which Secure Boot variable a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `PK`, the platform key (EFI_GLOBAL_VARIABLE).
    Pk = 1,
    /// `KEK`, the key exchange keys (EFI_GLOBAL_VARIABLE).
    Kek = 2,
    /// `db`, the allowed signatures (EFI_IMAGE_SECURITY_DATABASE_GUID).
    Db = 3,
    /// `dbx`, the forbidden signatures (EFI_IMAGE_SECURITY_DATABASE_GUID).
    Dbx = 4,
}

impl Kind {
    /// Every kind, in record order.
    pub const ALL: [Kind; 4] = [Kind::Pk, Kind::Kek, Kind::Db, Kind::Dbx];

    /// The kind a record's first byte names.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(Kind::Pk),
            2 => Some(Kind::Kek),
            3 => Some(Kind::Db),
            4 => Some(Kind::Dbx),
            _ => None,
        }
    }

    /// The variable's name (`PK`, `KEK`, `db`, `dbx`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pk => "PK",
            Kind::Kek => "KEK",
            Kind::Db => "db",
            Kind::Dbx => "dbx",
        }
    }
}

/// What is wrong with a blob or a signature list. Offsets are from the
/// start of what was handed to the failing function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the 16-byte header.
    Truncated,
    /// The first eight bytes are not `VMFWKEYS`.
    BadMagic,
    /// A version other than [`VERSION`].
    UnsupportedVersion(u32),
    /// The header's total length differs from the blob's length.
    LengthMismatch {
        /// What the header says.
        declared: u32,
        /// What was handed over.
        actual: usize,
    },
    /// A record's header or content runs past the end of the blob.
    RecordTruncated(usize),
    /// A record kind other than 1 to 4.
    UnknownKind(u8),
    /// The three bytes after a record's kind are not zero.
    NonZeroReserved(usize),
    /// A kind appears a second time.
    DuplicateKind(Kind),
    /// A record with no content.
    EmptyRecord(Kind),
    /// The padding after a record's content is not zero.
    NonZeroPadding(usize),
    /// A record's content is not a well-formed sequence of signature
    /// lists; the inner error's offset is within that content.
    BadContent(Kind, ListError),
    /// [`build`]: a content or the whole blob exceeds 4 GiB.
    TooLarge,
}

/// What is wrong with a sequence of `EFI_SIGNATURE_LIST`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError {
    /// Fewer than 28 bytes left for a list header.
    HeaderTruncated(usize),
    /// `SignatureListSize` is smaller than its header and signature
    /// header, or runs past the end.
    BadListSize(usize),
    /// `SignatureSize` is smaller than the owner GUID.
    BadSignatureSize(usize),
    /// The signatures do not fill the list in whole `SignatureSize`s.
    Ragged(usize),
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::HeaderTruncated(o) => write!(f, "signature list header cut short at {o:#x}"),
            ListError::BadListSize(o) => write!(f, "bad SignatureListSize at {o:#x}"),
            ListError::BadSignatureSize(o) => write!(f, "bad SignatureSize at {o:#x}"),
            ListError::Ragged(o) => {
                write!(f, "signature list at {o:#x} is not a whole number of signatures")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "key blob shorter than its header"),
            Error::BadMagic => write!(f, "not a key blob (no VMFWKEYS magic)"),
            Error::UnsupportedVersion(v) => write!(f, "key blob version {v} (this reads 1)"),
            Error::LengthMismatch { declared, actual } => {
                write!(f, "key blob says {declared} bytes, {actual} given")
            }
            Error::RecordTruncated(o) => write!(f, "key record at {o:#x} runs past the end"),
            Error::UnknownKind(k) => write!(f, "unknown key record kind {k}"),
            Error::NonZeroReserved(o) => write!(f, "reserved bytes of key record at {o:#x} set"),
            Error::DuplicateKind(k) => write!(f, "{} given twice", k.name()),
            Error::EmptyRecord(k) => write!(f, "{} is empty", k.name()),
            Error::NonZeroPadding(o) => write!(f, "padding of key record at {o:#x} not zero"),
            Error::BadContent(k, e) => write!(f, "{}: {e}", k.name()),
            Error::TooLarge => write!(f, "key blob larger than 4 GiB"),
        }
    }
}

/// The four variables' contents, each a concatenation of
/// `EFI_SIGNATURE_LIST`s; `None` where the blob has no record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys<'a> {
    /// `PK`.
    pub pk: Option<&'a [u8]>,
    /// `KEK`.
    pub kek: Option<&'a [u8]>,
    /// `db`.
    pub db: Option<&'a [u8]>,
    /// `dbx`.
    pub dbx: Option<&'a [u8]>,
}

impl<'a> Keys<'a> {
    /// The content of `kind`'s variable.
    pub fn get(&self, kind: Kind) -> Option<&'a [u8]> {
        match kind {
            Kind::Pk => self.pk,
            Kind::Kek => self.kek,
            Kind::Db => self.db,
            Kind::Dbx => self.dbx,
        }
    }

    fn slot(&mut self, kind: Kind) -> &mut Option<&'a [u8]> {
        match kind {
            Kind::Pk => &mut self.pk,
            Kind::Kek => &mut self.kek,
            Kind::Db => &mut self.db,
            Kind::Dbx => &mut self.dbx,
        }
    }

    /// True when no variable is present (setup mode).
    pub fn is_empty(&self) -> bool {
        Kind::ALL.iter().all(|k| self.get(*k).is_none())
    }
}

/// Reads and checks a key blob (see the module documentation); `blob`
/// must be exactly as long as its header says.
pub fn parse(blob: &[u8]) -> Result<Keys<'_>, Error> {
    let header = blob.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    if header.get(..8) != Some(&MAGIC[..]) {
        return Err(Error::BadMagic);
    }
    let version = u32_at(header, 8).ok_or(Error::Truncated)?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let declared = u32_at(header, 12).ok_or(Error::Truncated)?;
    if usize::try_from(declared).ok() != Some(blob.len()) {
        return Err(Error::LengthMismatch { declared, actual: blob.len() });
    }
    let mut keys = Keys::default();
    let mut at = HEADER_LEN;
    while at < blob.len() {
        let head_end = at.checked_add(RECORD_HEADER_LEN).ok_or(Error::RecordTruncated(at))?;
        let head = blob.get(at..head_end).ok_or(Error::RecordTruncated(at))?;
        let kind_byte = *head.first().ok_or(Error::RecordTruncated(at))?;
        let kind = Kind::from_u8(kind_byte).ok_or(Error::UnknownKind(kind_byte))?;
        if head.get(1..4) != Some(&[0, 0, 0][..]) {
            return Err(Error::NonZeroReserved(at));
        }
        let len = u32_at(head, 4).ok_or(Error::RecordTruncated(at))?;
        let len = usize::try_from(len).map_err(|_| Error::RecordTruncated(at))?;
        if len == 0 {
            return Err(Error::EmptyRecord(kind));
        }
        let content_end = head_end.checked_add(len).ok_or(Error::RecordTruncated(at))?;
        let content = blob.get(head_end..content_end).ok_or(Error::RecordTruncated(at))?;
        let padded_end = content_end.checked_next_multiple_of(ALIGN);
        let padding =
            padded_end.and_then(|e| blob.get(content_end..e)).ok_or(Error::RecordTruncated(at))?;
        if padding.iter().any(|b| *b != 0) {
            return Err(Error::NonZeroPadding(at));
        }
        count_signatures(content).map_err(|e| Error::BadContent(kind, e))?;
        let slot = keys.slot(kind);
        if slot.is_some() {
            return Err(Error::DuplicateKind(kind));
        }
        *slot = Some(content);
        at = padded_end.ok_or(Error::RecordTruncated(at))?;
    }
    Ok(keys)
}

/// Writes `keys` as a blob that [`parse`] reads back, records in the
/// order PK, KEK, db, dbx. Contents are taken as they are: give
/// well-formed signature lists, or `parse` refuses the result.
pub fn build(keys: &Keys<'_>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for kind in Kind::ALL {
        let Some(content) = keys.get(kind) else { continue };
        let len = u32::try_from(content.len()).map_err(|_| Error::TooLarge)?;
        out.extend_from_slice(&[kind as u8, 0, 0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(content);
        let padded = out.len().checked_next_multiple_of(ALIGN).ok_or(Error::TooLarge)?;
        out.resize(padded, 0);
    }
    let total = u32::try_from(out.len()).map_err(|_| Error::TooLarge)?;
    if let Some(field) = out.get_mut(12..16) {
        field.copy_from_slice(&total.to_le_bytes());
    }
    Ok(out)
}

/// One `EFI_SIGNATURE_LIST` of a sequence, as [`lists`] yields it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureList<'a> {
    /// `SignatureType`, as its 16 bytes.
    pub signature_type: [u8; 16],
    /// The signature header (`SignatureHeaderSize` bytes; empty for
    /// every type UEFI defines).
    pub header: &'a [u8],
    /// `SignatureSize`: the length of each signature, owner GUID included.
    pub signature_size: usize,
    /// The signatures, `signature_size` bytes each.
    pub signatures: &'a [u8],
}

impl<'a> SignatureList<'a> {
    /// The signatures, each as (owner GUID bytes, data).
    pub fn entries(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        // `lists` only yields lists whose size is at least the owner GUID.
        let size = self.signature_size.max(OWNER_LEN);
        self.signatures.chunks_exact(size).map(|s| s.split_at(OWNER_LEN))
    }
}

/// The `EFI_SIGNATURE_LIST`s of `data` in order, each checked; an error
/// ends the sequence.
pub fn lists(data: &[u8]) -> impl Iterator<Item = Result<SignatureList<'_>, ListError>> {
    let mut at = 0usize;
    let mut failed = false;
    core::iter::from_fn(move || {
        if failed || at >= data.len() {
            return None;
        }
        let r = list_at(data, at);
        match &r {
            Ok((_, next)) => at = *next,
            Err(_) => failed = true,
        }
        Some(r.map(|(l, _)| l))
    })
}

/// The list at `at` and where the next one starts.
fn list_at(data: &[u8], at: usize) -> Result<(SignatureList<'_>, usize), ListError> {
    let head_end = at.checked_add(LIST_HEADER_LEN).ok_or(ListError::HeaderTruncated(at))?;
    let head = data.get(at..head_end).ok_or(ListError::HeaderTruncated(at))?;
    let mut signature_type = [0; 16];
    signature_type.copy_from_slice(head.get(..16).ok_or(ListError::HeaderTruncated(at))?);
    let field = |o| {
        u32_at(head, o).and_then(|v| usize::try_from(v).ok()).ok_or(ListError::HeaderTruncated(at))
    };
    let (list_size, header_size, signature_size) = (field(16)?, field(20)?, field(24)?);
    let end = at.checked_add(list_size).ok_or(ListError::BadListSize(at))?;
    let sig_start = head_end.checked_add(header_size).ok_or(ListError::BadListSize(at))?;
    if end > data.len() || sig_start > end {
        return Err(ListError::BadListSize(at));
    }
    if signature_size < OWNER_LEN {
        return Err(ListError::BadSignatureSize(at));
    }
    let header = data.get(head_end..sig_start).ok_or(ListError::BadListSize(at))?;
    let signatures = data.get(sig_start..end).ok_or(ListError::BadListSize(at))?;
    if signatures.len() % signature_size != 0 {
        return Err(ListError::Ragged(at));
    }
    Ok((SignatureList { signature_type, header, signature_size, signatures }, end))
}

/// The number of signatures in a concatenation of `EFI_SIGNATURE_LIST`s
/// (a variable's content), checking every list's sizes. Empty input has
/// none.
pub fn count_signatures(data: &[u8]) -> Result<usize, ListError> {
    // A loop rather than `lists()`: the firmware runs this at every boot
    // and the iterator adapters cost it code.
    let (mut n, mut at) = (0usize, 0usize);
    while at < data.len() {
        let (list, next) = list_at(data, at)?;
        // signature_size >= 16 was checked, so this cannot divide by 0.
        n = n.saturating_add(list.signatures.len() / list.signature_size.max(1));
        at = next;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const X509: [u8; 16] = [
        0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0,
        0x72,
    ];

    /// One list of `n` signatures of `data_len` bytes each.
    fn list(n: usize, data_len: usize) -> Vec<u8> {
        let size = OWNER_LEN + data_len;
        let mut l = X509.to_vec();
        l.extend_from_slice(&((LIST_HEADER_LEN + n * size) as u32).to_le_bytes());
        l.extend_from_slice(&0u32.to_le_bytes());
        l.extend_from_slice(&(size as u32).to_le_bytes());
        for i in 0..n {
            l.extend_from_slice(&[0x11; 16]);
            l.extend((0..data_len).map(|j| (i + j) as u8));
        }
        l
    }

    fn sample() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut dbx = list(3, 32);
        dbx.extend(list(2, 48));
        (list(1, 5), list(1, 7), list(2, 30), dbx)
    }

    fn sample_blob() -> Vec<u8> {
        let (pk, kek, db, dbx) = sample();
        build(&Keys { pk: Some(&pk), kek: Some(&kek), db: Some(&db), dbx: Some(&dbx) }).unwrap()
    }

    #[test]
    fn round_trip() {
        let (pk, kek, db, dbx) = sample();
        let keys = Keys { pk: Some(&pk), kek: Some(&kek), db: Some(&db), dbx: Some(&dbx) };
        let blob = build(&keys).unwrap();
        assert_eq!(blob.len() % 8, 0);
        assert_eq!(&blob[..8], b"VMFWKEYS");
        assert_eq!(parse(&blob), Ok(keys));
        let counts: Vec<usize> =
            Kind::ALL.iter().map(|k| count_signatures(keys.get(*k).unwrap()).unwrap()).collect();
        assert_eq!(counts, [1, 1, 2, 5]);
        // Any subset, including none.
        for mask in 0..16u8 {
            let mut k = Keys::default();
            for (i, kind) in Kind::ALL.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    *k.slot(*kind) = keys.get(*kind);
                }
            }
            let b = build(&k).unwrap();
            assert_eq!(parse(&b), Ok(k));
            assert_eq!(k.is_empty(), mask == 0);
        }
        assert_eq!(build(&Keys::default()).unwrap().len(), HEADER_LEN);
    }

    #[test]
    fn header_errors() {
        let blob = sample_blob();
        assert_eq!(parse(&blob[..15]), Err(Error::Truncated));
        assert_eq!(parse(&[]), Err(Error::Truncated));
        let mut b = blob.clone();
        b[0] = b'X';
        assert_eq!(parse(&b), Err(Error::BadMagic));
        let mut b = blob.clone();
        b[8] = 2;
        assert_eq!(parse(&b), Err(Error::UnsupportedVersion(2)));
        // Cut short, or longer than declared.
        let declared = blob.len() as u32;
        assert_eq!(
            parse(&blob[..blob.len() - 8]),
            Err(Error::LengthMismatch { declared, actual: blob.len() - 8 })
        );
        let mut b = blob.clone();
        b.extend([0; 8]);
        assert_eq!(parse(&b), Err(Error::LengthMismatch { declared, actual: blob.len() + 8 }));
    }

    /// A blob whose single record is `record` (header fixed up).
    fn with_record(record: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend(VERSION.to_le_bytes());
        b.extend(((HEADER_LEN + record.len()) as u32).to_le_bytes());
        b.extend_from_slice(record);
        b
    }

    fn record(kind: u8, content: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 0, 0, 0];
        r.extend((content.len() as u32).to_le_bytes());
        r.extend_from_slice(content);
        r.resize(r.len().next_multiple_of(8), 0);
        r
    }

    #[test]
    fn record_errors() {
        let l = list(1, 5); // 49 bytes: 7 bytes of padding
        assert!(parse(&with_record(&record(1, &l))).is_ok());
        assert_eq!(parse(&with_record(&record(0, &l))), Err(Error::UnknownKind(0)));
        assert_eq!(parse(&with_record(&record(5, &l))), Err(Error::UnknownKind(5)));
        let mut r = record(2, &l);
        r[2] = 1;
        assert_eq!(parse(&with_record(&r)), Err(Error::NonZeroReserved(16)));
        assert_eq!(parse(&with_record(&record(3, &[]))), Err(Error::EmptyRecord(Kind::Db)));
        let mut r = record(3, &l);
        *r.last_mut().unwrap() = 1;
        assert_eq!(parse(&with_record(&r)), Err(Error::NonZeroPadding(16)));
        // Padding missing, content cut, header cut, length huge.
        let r = record(1, &l);
        assert_eq!(parse(&with_record(&r[..r.len() - 1])), Err(Error::RecordTruncated(16)));
        assert_eq!(parse(&with_record(&r[..20])), Err(Error::RecordTruncated(16)));
        assert_eq!(parse(&with_record(&r[..4])), Err(Error::RecordTruncated(16)));
        let mut r = record(1, &l);
        r[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&with_record(&r)), Err(Error::RecordTruncated(16)));
        // The same kind twice.
        let mut r = record(4, &l);
        r.extend(record(4, &l));
        assert_eq!(parse(&with_record(&r)), Err(Error::DuplicateKind(Kind::Dbx)));
        // Content that is not a signature list.
        assert_eq!(
            parse(&with_record(&record(1, &l[..40]))),
            Err(Error::BadContent(Kind::Pk, ListError::BadListSize(0)))
        );
    }

    #[test]
    fn signature_list_errors() {
        assert_eq!(count_signatures(&[]), Ok(0));
        let mut two = list(3, 32);
        two.extend(list(2, 1));
        assert_eq!(count_signatures(&two), Ok(5));
        let second = LIST_HEADER_LEN + 3 * 48;
        assert_eq!(count_signatures(&two[..second + 27]), Err(ListError::HeaderTruncated(second)));
        assert_eq!(count_signatures(&two[..two.len() - 1]), Err(ListError::BadListSize(second)));
        // List size below its header.
        let mut l = list(1, 4);
        l[16..20].copy_from_slice(&27u32.to_le_bytes());
        assert_eq!(count_signatures(&l), Err(ListError::BadListSize(0)));
        // Signature header larger than the list.
        let mut l = list(1, 4);
        l[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(count_signatures(&l), Err(ListError::BadListSize(0)));
        // A signature smaller than its owner GUID, or zero.
        for size in [0u32, 15] {
            let mut l = list(1, 4);
            l[24..28].copy_from_slice(&size.to_le_bytes());
            assert_eq!(count_signatures(&l), Err(ListError::BadSignatureSize(0)));
        }
        // Signatures that do not divide the list.
        let mut l = list(2, 4);
        l[24..28].copy_from_slice(&(OWNER_LEN as u32 + 5).to_le_bytes());
        assert_eq!(count_signatures(&l), Err(ListError::Ragged(0)));
        // A header, then signatures: entries skip the header.
        let mut l = list(2, 4);
        l[16..20].copy_from_slice(&((LIST_HEADER_LEN + 3 + 40) as u32).to_le_bytes());
        l[20..24].copy_from_slice(&3u32.to_le_bytes());
        l.splice(28..28, [9, 9, 9]);
        assert_eq!(count_signatures(&l), Ok(2));
        let first = lists(&l).next().unwrap().unwrap();
        assert_eq!(first.header, &[9, 9, 9]);
        assert_eq!(first.signature_type, X509);
        let entries: Vec<_> = first.entries().collect();
        assert_eq!(
            entries,
            [(&[0x11; 16][..], &[0, 1, 2, 3][..]), (&[0x11; 16][..], &[1, 2, 3, 4][..])]
        );
    }

    /// Every one-byte change of a valid blob is either refused with an
    /// error or read back as something that builds to the same bytes.
    #[test]
    fn one_byte_mutations() {
        let blob = sample_blob();
        for i in 0..blob.len() {
            for v in [0u8, 1, 0x80, 0xff] {
                let mut b = blob.clone();
                b[i] = v;
                if let Ok(k) = parse(&b) {
                    assert_eq!(build(&k).unwrap(), b, "byte {i} = {v}");
                }
            }
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::ALL.map(|k| k.name()), ["PK", "KEK", "db", "dbx"]);
        assert_eq!(Kind::from_u8(3), Some(Kind::Db));
        assert_eq!(Kind::from_u8(0), None);
    }
}
