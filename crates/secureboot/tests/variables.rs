//! Signature lists, authenticated variable writes, the Secure Boot mode and
//! the edk2 variable store reader.

// Test helpers outside #[test] functions: a failure there is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vmfw_secureboot::auth2::{verify_write, Descriptor, EfiTime};
use vmfw_secureboot::mode::{Mode, ModeVariables};
use vmfw_secureboot::siglist::SigListError;
use vmfw_secureboot::varstore::{self, VarStoreError};
use vmfw_secureboot::{Error, Guid, Malformed, SignatureDb};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $name)).as_slice()
    };
}

const LEAF: &[u8] = fixture!("leaf.der");
const LEAF_ESL: &[u8] = fixture!("leaf.esl");
const KEK: &[u8] = fixture!("kek.der");
const CA: &[u8] = fixture!("ca.der");
const DB_KEK: &[u8] = fixture!("db-kek.auth");
const DB_KEK_NOATTR: &[u8] = fixture!("db-kek-noattr.auth");

const ATTRS: u32 = 0x27;

fn name(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn db_of(certs: &[&[u8]]) -> SignatureDb {
    let mut db = SignatureDb::new();
    for c in certs {
        db.push_certificate(Guid::default(), c);
    }
    db
}

fn list_header(ty: Guid, list: u32, header: u32, sig: u32) -> Vec<u8> {
    let mut v = ty.0.to_vec();
    v.extend_from_slice(&list.to_le_bytes());
    v.extend_from_slice(&header.to_le_bytes());
    v.extend_from_slice(&sig.to_le_bytes());
    v
}

#[test]
fn signature_list_from_efitools() {
    let db = SignatureDb::parse(LEAF_ESL).unwrap();
    assert_eq!(db.certificates().len(), 1);
    assert_eq!(db.certificates()[0].der, LEAF);
    assert_eq!(
        db.certificates()[0].owner,
        Guid::from_fields(
            0x1111_1111,
            0x2222,
            0x3333,
            [0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55]
        )
    );
    assert_eq!(db.to_lists().unwrap(), LEAF_ESL, "the encoder writes what efitools does");
    assert_eq!(Guid::CERT_X509.to_string(), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
}

#[test]
fn signature_list_round_trip_and_skipped_types() {
    let mut db = SignatureDb::new();
    db.push_certificate(Guid([1; 16]), LEAF);
    db.push_certificate(Guid([2; 16]), CA);
    db.push_hash(Guid([3; 16]), [0xaa; 32]);
    db.push_hash(Guid([4; 16]), [0xbb; 32]);
    let mut bytes = db.to_lists().unwrap();
    // A SHA-1 list (EFI_CERT_SHA1_GUID) of two entries, and an empty
    // X.509 list: skipped and counted, and nothing, respectively.
    let sha1 = Guid::from_fields(
        0x826c_a512,
        0xcf10,
        0x4ac9,
        [0xb1, 0x87, 0xbe, 0x01, 0x49, 0x66, 0x31, 0xbd],
    );
    bytes.extend(list_header(sha1, 28 + 2 * 36, 0, 36));
    bytes.extend([0u8; 72]);
    bytes.extend(list_header(Guid::CERT_X509, 28, 0, 100));
    let parsed = SignatureDb::parse(&bytes).unwrap();
    assert_eq!(parsed.certificates(), db.certificates());
    assert_eq!(parsed.hashes(), db.hashes());
    assert_eq!(parsed.skipped(), 2);
    assert!(parsed.contains_hash(&[0xbb; 32]) && !parsed.contains_hash(&[0xcc; 32]));
    assert!(parsed.contains_certificate(CA) && !parsed.contains_certificate(KEK));
    assert!(SignatureDb::parse(&[]).unwrap().is_empty());
}

#[test]
fn malformed_signature_lists() {
    let hash_list = |list, header, sig| list_header(Guid::CERT_SHA256, list, header, sig);
    let cases: Vec<(Vec<u8>, SigListError)> = vec![
        (vec![0; 27], SigListError::TruncatedHeader),
        (hash_list(27, 0, 48), SigListError::BadListSize),
        (hash_list(28 + 48, 0, 48), SigListError::BadListSize), // body missing
        (hash_list(28, 0, 15), SigListError::BadSignatureSize),
        (hash_list(28, 0, 0), SigListError::BadSignatureSize),
        ([hash_list(28 + 40, 0, 48), vec![0; 40]].concat(), SigListError::PartialEntry),
        ([hash_list(28 + 4 + 48, 4, 48), vec![0; 52]].concat(), SigListError::UnexpectedHeader),
        ([hash_list(28 + 40, 0, 40), vec![0; 40]].concat(), SigListError::BadHashSize),
        (hash_list(u32::MAX, u32::MAX, u32::MAX), SigListError::BadListSize),
    ];
    for (bytes, want) in cases {
        assert_eq!(SignatureDb::parse(&bytes), Err(want), "{bytes:02x?}");
    }
    // A bad list after a good one leaves an extended database unchanged.
    let mut db = SignatureDb::parse(LEAF_ESL).unwrap();
    let before = db.clone();
    let bad = [LEAF_ESL, &[0; 5]].concat();
    assert_eq!(db.extend_from_lists(&bad), Err(SigListError::TruncatedHeader));
    assert_eq!(db, before);
}

#[test]
fn authenticated_writes_from_efitools_and_openssl() {
    let kek = db_of(&[CA, KEK]);
    for (data, second) in [(DB_KEK, 5), (DB_KEK_NOATTR, 6)] {
        let ok =
            verify_write(&name("db"), &Guid::IMAGE_SECURITY_DATABASE, ATTRS, data, &kek).unwrap();
        assert_eq!(ok.payload, LEAF_ESL);
        assert_eq!(ok.anchor, 1);
        assert_eq!(
            ok.timestamp,
            EfiTime { year: 2026, month: 1, day: 2, hour: 3, minute: 4, second }
        );
        let d = Descriptor::parse(data).unwrap();
        assert_eq!(d.timestamp, ok.timestamp);
        assert_eq!(d.timestamp.to_bytes(), d.timestamp_bytes);
    }
}

#[test]
fn authenticated_writes_refused() {
    let kek = db_of(&[KEK]);
    let guid = Guid::IMAGE_SECURITY_DATABASE;
    for data in [DB_KEK, DB_KEK_NOATTR] {
        // Another signer database.
        assert_eq!(
            verify_write(&name("db"), &guid, ATTRS, data, &db_of(&[CA])),
            Err(Error::NotTrusted)
        );
        assert_eq!(
            verify_write(&name("db"), &guid, ATTRS, data, &SignatureDb::new()),
            Err(Error::NotTrusted)
        );
        // Another name, vendor, attributes, payload or timestamp.
        assert_eq!(verify_write(&name("dbx"), &guid, ATTRS, data, &kek), Err(Error::BadSignature));
        assert_eq!(
            verify_write(&name("db"), &Guid::GLOBAL_VARIABLE, ATTRS, data, &kek),
            Err(Error::BadSignature)
        );
        assert_eq!(
            verify_write(&name("db"), &guid, ATTRS | 0x40, data, &kek),
            Err(Error::BadSignature)
        );
        let mut changed = data.to_vec();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify_write(&name("db"), &guid, ATTRS, &changed, &kek),
            Err(Error::BadSignature)
        );
        let mut changed = data.to_vec();
        changed[6] ^= 1; // the seconds
        assert_eq!(
            verify_write(&name("db"), &guid, ATTRS, &changed, &kek),
            Err(Error::BadSignature)
        );
        // Fields the spec requires to be zero.
        for at in 7..16 {
            let mut changed = data.to_vec();
            changed[at] = 1;
            assert_eq!(
                verify_write(&name("db"), &guid, ATTRS, &changed, &kek),
                Err(Error::Malformed(Malformed::Timestamp))
            );
        }
        // A wrong descriptor: revision, type, GUID, length.
        for (at, v) in [(21, 1), (22, 2), (24, 0), (19, 0xff)] {
            let mut changed = data.to_vec();
            changed[at] = v;
            assert_eq!(
                verify_write(&name("db"), &guid, ATTRS, &changed, &kek),
                Err(Error::Malformed(Malformed::AuthDescriptor)),
                "byte {at}"
            );
        }
        for len in 0..60 {
            assert!(verify_write(&name("db"), &guid, ATTRS, &data[..len], &kek).is_err());
        }
    }
}

#[test]
fn secure_boot_modes() {
    let table = [
        // pk, deployed, audit
        ((false, false, false), Mode::Setup, (1, 0, 0, 0)),
        ((false, true, false), Mode::Setup, (1, 0, 0, 0)),
        ((false, false, true), Mode::Audit, (1, 0, 1, 0)),
        ((false, true, true), Mode::Audit, (1, 0, 1, 0)),
        ((true, false, false), Mode::User, (0, 1, 0, 0)),
        ((true, true, false), Mode::Deployed, (0, 1, 0, 1)),
        ((true, false, true), Mode::Deployed, (0, 1, 0, 1)),
        ((true, true, true), Mode::Deployed, (0, 1, 0, 1)),
    ];
    for ((pk, deployed, audit), mode, (setup_mode, secure_boot, audit_mode, deployed_mode)) in table
    {
        let m = Mode::from_state(pk, deployed, audit);
        assert_eq!(m, mode, "{pk} {deployed} {audit}");
        assert_eq!(
            m.variables(),
            ModeVariables { setup_mode, secure_boot, audit_mode, deployed_mode }
        );
        assert_eq!(m.enforces(), secure_boot == 1);
    }
}

/// A variable store volume as edk2 lays it out, holding `vars` as
/// `(name, guid, state, data)`.
fn store(auth: bool, vars: &[(&str, Guid, u8, &[u8])]) -> Vec<u8> {
    let mut v = vec![0u8; 0x48];
    v[16..32].copy_from_slice(&varstore::SYSTEM_NV_DATA_FV.0);
    v[40..44].copy_from_slice(b"_FVH");
    v[48..50].copy_from_slice(&0x48u16.to_le_bytes());
    let store_guid = if auth { varstore::AUTHENTICATED_VARIABLE } else { varstore::VARIABLE };
    let mut vs = store_guid.0.to_vec();
    vs.extend([0; 4]); // size, patched below
    vs.extend([0x5a, 0xfe, 0, 0, 0, 0, 0, 0]);
    for (name, guid, state, data) in vars {
        let name: Vec<u8> = name.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect();
        let mut h = vec![0xaa, 0x55, *state, 0];
        h.extend(7u32.to_le_bytes());
        if auth {
            h.extend([0; 8 + 16 + 4]);
        }
        h.extend((name.len() as u32).to_le_bytes());
        h.extend((data.len() as u32).to_le_bytes());
        h.extend(guid.0);
        vs.extend(h);
        vs.extend(&name);
        vs.extend(*data);
        while vs.len() % 4 != 0 {
            vs.push(0xff);
        }
    }
    vs.extend([0xff; 64]);
    let size = vs.len() as u32;
    vs[16..20].copy_from_slice(&size.to_le_bytes());
    v.extend(vs);
    let fv_len = v.len() as u64;
    v[32..40].copy_from_slice(&fv_len.to_le_bytes());
    v
}

#[test]
fn variable_store_lookup() {
    let g = Guid::IMAGE_SECURITY_DATABASE;
    for auth in [true, false] {
        let s = store(
            auth,
            &[
                ("db", g, 0x3c, b"old"),
                ("dbx", g, 0x3f, b"forbidden"),
                ("db", g, 0x3f, b"current"),
                ("KEK", Guid::GLOBAL_VARIABLE, 0x3e, b"in transition"),
            ],
        );
        let find = |n, g| varstore::find(&s, n, &g).unwrap().map(|v| v.data);
        assert_eq!(find("db", g), Some(&b"current"[..]));
        assert_eq!(find("dbx", g), Some(&b"forbidden"[..]));
        assert_eq!(find("KEK", Guid::GLOBAL_VARIABLE), Some(&b"in transition"[..]));
        assert_eq!(find("d", g), None);
        assert_eq!(find("db", Guid::GLOBAL_VARIABLE), None);
        assert_eq!(varstore::find(&s, "db", &g).unwrap().unwrap().attributes, 7);
        for len in 0..s.len() {
            let _ = varstore::find(&s[..len], "db", &g);
        }
    }
    assert_eq!(varstore::find(&[0; 200], "db", &g), Err(VarStoreError::NotFirmwareVolume));
    let mut s = store(true, &[("db", g, 0x3f, b"x")]);
    s[0x48] ^= 1;
    assert_eq!(varstore::find(&s, "db", &g), Err(VarStoreError::BadStoreHeader));
    let mut s = store(true, &[("db", g, 0x3f, b"x")]);
    s[0x48 + 28 + 40] = 0xff; // DataSize
    assert_eq!(varstore::find(&s, "db", &g), Err(VarStoreError::TruncatedVariable));
}
