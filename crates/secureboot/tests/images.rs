//! Image verification against the committed fixtures (see
//! `fixtures/README.md`): a two-section PE32+ and PE32 image signed with
//! `sbsign` by a leaf certificate issued by an intermediate CA issued by a
//! root CA, and by an untrusted self-signed key.

// Test helpers outside #[test] functions: a failure there is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vmfw_secureboot::pe::{certificates, image_digest, Layout};
use vmfw_secureboot::{
    signed_image_digest, verify_image, Error, Guid, Malformed, SignatureDb, TrustedBy, Verdict,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $name)).as_slice()
    };
}

const TINY: &[u8] = fixture!("tiny.efi");
const SIGNED: &[u8] = fixture!("tiny-signed.efi");
const SIGNED32: &[u8] = fixture!("tiny32-signed.efi");
const ROGUE: &[u8] = fixture!("tiny-rogue.efi");
const EXPIRED: &[u8] = fixture!("tiny-expired.efi");
const LEAF_P7: &[u8] = fixture!("tiny-leaf.p7");
const ROGUE_P7: &[u8] = fixture!("tiny-rogue.p7");
const CA: &[u8] = fixture!("ca.der");
const INTERMEDIATE: &[u8] = fixture!("intermediate.der");
const LEAF: &[u8] = fixture!("leaf.der");
const ROGUE_CERT: &[u8] = fixture!("rogue.der");
const KEK: &[u8] = fixture!("kek.der");

const OWNER: Guid = Guid([7; 16]);

fn db_of(certs: &[&[u8]]) -> SignatureDb {
    let mut db = SignatureDb::new();
    for c in certs {
        db.push_certificate(OWNER, c);
    }
    db
}

fn none() -> SignatureDb {
    SignatureDb::new()
}

/// `image` with a certificate table holding `blobs` as PKCS#7 entries,
/// each padded to 8 bytes (the padding filled with `pad`).
fn attach(image: &[u8], blobs: &[&[u8]], pad: u8) -> Vec<u8> {
    let layout = Layout::parse(image).unwrap();
    let mut out = image.to_vec();
    if let Some((off, _)) = layout.cert_table {
        out.truncate(off);
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let start = out.len();
    for b in blobs {
        out.extend_from_slice(&(8 + b.len() as u32).to_le_bytes());
        out.extend_from_slice(&0x0200u16.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(b);
        while !out.len().is_multiple_of(8) {
            out.push(pad);
        }
    }
    let dir = layout.cert_dir_offset.unwrap();
    let size = (out.len() - start) as u32;
    out[dir..dir + 4].copy_from_slice(&(start as u32).to_le_bytes());
    out[dir + 4..dir + 8].copy_from_slice(&size.to_le_bytes());
    out
}

fn signature_verdict(v: Result<Verdict, Error>) -> (usize, usize) {
    match v {
        Ok(Verdict { by: TrustedBy::Signature { signature, anchor }, .. }) => (signature, anchor),
        other => panic!("expected a signature verdict, got {other:?}"),
    }
}

#[test]
fn computed_hash_is_the_one_sbsign_signed() {
    const TINY32: &[u8] = fixture!("tiny32.efi");
    for (image, unsigned) in [(SIGNED, TINY), (SIGNED32, TINY32), (ROGUE, TINY)] {
        let digest = image_digest(image).unwrap();
        // Signing changes only CheckSum and the directory entry, and
        // appends the table: the unsigned image hashes the same.
        assert_eq!(image_digest(unsigned).unwrap(), digest);
        let sigs = certificates(image).unwrap();
        assert_eq!(sigs.len(), 1);
        assert!(sigs[0].is_pkcs7());
        assert_eq!(signed_image_digest(sigs[0].data).unwrap(), digest);
    }
    assert_eq!(image_digest(TINY).unwrap(), image_digest(SIGNED).unwrap());
    assert_eq!(signed_image_digest(LEAF_P7).unwrap(), image_digest(TINY).unwrap());
}

#[test]
fn valid_signature_chains_to_any_certificate_of_the_chain() {
    for image in [SIGNED, SIGNED32] {
        for anchor in [CA, INTERMEDIATE, LEAF] {
            let db = db_of(&[KEK, anchor]);
            assert_eq!(signature_verdict(verify_image(image, &db, &none())), (0, 1));
        }
    }
    let v = verify_image(SIGNED, &db_of(&[CA]), &none()).unwrap();
    assert_eq!(v.digest, image_digest(SIGNED).unwrap());
}

#[test]
fn expired_signer_still_verifies() {
    assert_eq!(signature_verdict(verify_image(EXPIRED, &db_of(&[CA]), &none())), (0, 0));
}

#[test]
fn wrong_key_is_not_trusted() {
    assert_eq!(verify_image(ROGUE, &db_of(&[CA]), &none()), Err(Error::NotTrusted));
    assert_eq!(verify_image(SIGNED, &db_of(&[ROGUE_CERT, KEK]), &none()), Err(Error::NotTrusted));
    assert_eq!(verify_image(SIGNED, &none(), &none()), Err(Error::NotTrusted));
    // Trusting the rogue certificate itself makes it verify.
    assert_eq!(signature_verdict(verify_image(ROGUE, &db_of(&[ROGUE_CERT]), &none())), (0, 0));
}

#[test]
fn flipped_byte_in_a_hashed_section_is_a_digest_mismatch() {
    let layout = Layout::parse(SIGNED).unwrap();
    for &(ptr, size) in &layout.sections {
        for at in [ptr, ptr + size / 2, ptr + size - 1] {
            let mut bad = SIGNED.to_vec();
            bad[at] ^= 0x01;
            assert_eq!(verify_image(&bad, &db_of(&[CA]), &none()), Err(Error::DigestMismatch));
        }
    }
    // A hashed header byte too (the subsystem field).
    let mut bad = SIGNED.to_vec();
    bad[0x40 + 24 + 68] ^= 0x01;
    assert_eq!(verify_image(&bad, &db_of(&[CA]), &none()), Err(Error::DigestMismatch));
}

#[test]
fn unhashed_bytes_do_not_matter() {
    let layout = Layout::parse(SIGNED).unwrap();
    let (off, size) = layout.cert_table.unwrap();
    let len = u32::from_le_bytes(SIGNED[off..off + 4].try_into().unwrap()) as usize;
    assert!(len < size, "sbsign pads the entry inside the table");
    for at in off + len..off + size {
        let mut img = SIGNED.to_vec();
        img[at] ^= 0xa5;
        assert_eq!(signature_verdict(verify_image(&img, &db_of(&[CA]), &none())), (0, 0));
    }
    // CheckSum is not hashed either.
    let mut img = SIGNED.to_vec();
    img[layout.checksum_offset] ^= 0xff;
    assert_eq!(signature_verdict(verify_image(&img, &db_of(&[CA]), &none())), (0, 0));
    // Nor is padding between two entries.
    let two = attach(TINY, &[ROGUE_P7, LEAF_P7], 0xee);
    assert_eq!(signature_verdict(verify_image(&two, &db_of(&[CA]), &none())), (1, 0));
}

#[test]
fn forbidden_hash_and_certificates() {
    let digest = image_digest(SIGNED).unwrap();
    let mut dbx = SignatureDb::new();
    dbx.push_hash(OWNER, digest);
    assert_eq!(verify_image(SIGNED, &db_of(&[CA]), &dbx), Err(Error::ForbiddenHash));
    // dbx wins over a db hash too.
    let mut db = db_of(&[CA]);
    db.push_hash(OWNER, digest);
    assert_eq!(verify_image(TINY, &db, &dbx), Err(Error::ForbiddenHash));
    for cert in [LEAF, INTERMEDIATE, CA] {
        assert_eq!(
            verify_image(SIGNED, &db_of(&[CA]), &db_of(&[cert])),
            Err(Error::ForbiddenCertificate),
            "chain certificate in dbx"
        );
    }
    // Unrelated dbx entries change nothing.
    let mut dbx = db_of(&[ROGUE_CERT]);
    dbx.push_hash(OWNER, [0; 32]);
    assert_eq!(signature_verdict(verify_image(SIGNED, &db_of(&[CA]), &dbx)), (0, 0));
}

#[test]
fn hash_only_db_entries() {
    let digest = image_digest(TINY).unwrap();
    let mut db = SignatureDb::new();
    db.push_hash(OWNER, digest);
    let v = verify_image(TINY, &db, &none()).unwrap();
    assert_eq!(v, Verdict { digest, by: TrustedBy::Hash });
    // A rogue-signed copy of the same image is accepted by its hash.
    assert_eq!(verify_image(ROGUE, &db, &none()).unwrap().by, TrustedBy::Hash);
    assert_eq!(verify_image(TINY, &db_of(&[CA]), &none()), Err(Error::Unsigned));
    let mut other = SignatureDb::new();
    other.push_hash(OWNER, [1; 32]);
    assert_eq!(verify_image(TINY, &other, &none()), Err(Error::Unsigned));
}

#[test]
fn two_signatures() {
    let db = db_of(&[CA]);
    let rogue_first = attach(TINY, &[ROGUE_P7, LEAF_P7], 0);
    let leaf_first = attach(TINY, &[LEAF_P7, ROGUE_P7], 0);
    assert_eq!(certificates(&rogue_first).unwrap().len(), 2);
    assert_eq!(signature_verdict(verify_image(&rogue_first, &db, &none())), (1, 0));
    assert_eq!(signature_verdict(verify_image(&leaf_first, &db, &none())), (0, 0));
    // One of them forbidden refuses the image although the other verifies.
    for image in [&rogue_first, &leaf_first] {
        let dbx = db_of(&[ROGUE_CERT]);
        let db = db_of(&[CA, ROGUE_CERT]);
        assert_eq!(verify_image(image, &db, &dbx), Err(Error::ForbiddenCertificate));
    }
    // Two untrusted ones.
    let two_rogue = attach(TINY, &[ROGUE_P7, ROGUE_P7], 0);
    assert_eq!(verify_image(&two_rogue, &db, &none()), Err(Error::NotTrusted));
    // A non-PKCS#7 entry is skipped.
    let mut other = attach(TINY, &[b"not a signature", LEAF_P7], 0);
    let off = Layout::parse(&other).unwrap().cert_table.unwrap().0;
    other[off + 6] = 0xf1;
    other[off + 7] = 0x0e;
    assert_eq!(signature_verdict(verify_image(&other, &db, &none())), (0, 0));
}

#[test]
fn a_signature_of_another_image_is_a_digest_mismatch() {
    let mut other = TINY.to_vec();
    other[0x300] ^= 1; // inside .text
    let image = attach(&other, &[LEAF_P7], 0);
    assert_eq!(verify_image(&image, &db_of(&[CA]), &none()), Err(Error::DigestMismatch));
    // The most telling error wins over an untrusted one.
    let image = attach(&other, &[ROGUE_P7, LEAF_P7], 0);
    assert_eq!(verify_image(&image, &db_of(&[CA]), &none()), Err(Error::DigestMismatch));
}

#[test]
fn data_after_the_last_section_is_hashed() {
    let mut longer = TINY.to_vec();
    longer.extend_from_slice(b"trailing");
    assert_ne!(image_digest(&longer).unwrap(), image_digest(TINY).unwrap());
    let image = attach(&longer, &[LEAF_P7], 0);
    assert_eq!(verify_image(&image, &db_of(&[CA]), &none()), Err(Error::DigestMismatch));
}

#[test]
fn garbage_and_truncation_never_panic() {
    let db = db_of(&[CA]);
    assert_eq!(verify_image(b"", &db, &none()), Err(Error::Malformed(Malformed::PeHeaders)));
    assert!(verify_image(&[0xffu8; 4096], &db, &none()).is_err());
    for len in 0..SIGNED.len() {
        let r = verify_image(&SIGNED[..len], &db, &none());
        assert!(r.is_err() || len >= 1536, "prefix {len}: {r:?}");
    }
    // Every byte of the PKCS#7 blob flipped in turn (a sample, to keep the
    // test fast): never a panic, and never accepted with another digest.
    let (off, size) = Layout::parse(SIGNED).unwrap().cert_table.unwrap();
    let digest = image_digest(SIGNED).unwrap();
    for at in (off..off + size).step_by(7) {
        let mut img = SIGNED.to_vec();
        img[at] ^= 0x80;
        if let Ok(v) = verify_image(&img, &db, &none()) {
            assert_eq!(v.digest, digest);
        }
    }
    // A certificate table pointing outside the file.
    let mut img = SIGNED.to_vec();
    let dir = Layout::parse(SIGNED).unwrap().cert_dir_offset.unwrap();
    img[dir + 4..dir + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        verify_image(&img, &db, &none()),
        Err(Error::Malformed(Malformed::CertificateTable))
    );
    // An entry shorter than its header.
    let mut img = SIGNED.to_vec();
    img[off..off + 4].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(
        verify_image(&img, &db, &none()),
        Err(Error::Malformed(Malformed::CertificateTable))
    );
    // A PKCS#7 entry of garbage.
    let img = attach(TINY, &[&[0x30, 0x03, 1, 2, 3]], 0);
    assert_eq!(verify_image(&img, &db, &none()), Err(Error::Malformed(Malformed::Pkcs7)));
}

#[test]
fn error_text_is_one_line() {
    for e in [
        Error::Unsigned,
        Error::DigestMismatch,
        Error::NotTrusted,
        Error::ForbiddenHash,
        Error::ForbiddenCertificate,
        Error::BadSignature,
        Error::UnsupportedAlgorithm,
        Error::TooComplex,
        Error::Malformed(Malformed::Pkcs7),
    ] {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s}");
    }
}

#[test]
fn too_many_signatures_are_refused() {
    let db = db_of(&[CA]);
    let eight = attach(TINY, &[ROGUE_P7; vmfw_secureboot::MAX_SIGNATURES], 0);
    assert_eq!(verify_image(&eight, &db, &none()), Err(Error::NotTrusted));
    let nine = attach(TINY, &[ROGUE_P7; vmfw_secureboot::MAX_SIGNATURES + 1], 0);
    assert_eq!(
        verify_image(&nine, &db, &none()),
        Err(Error::Malformed(Malformed::CertificateTable))
    );
}
