//! Debian 12's signed shim and GRUB against the certificates a real
//! platform and shim trust, when the files are on this machine (the itest
//! crate's cache, `~/.cache/vmfw/debs/`, holds the extracted packages);
//! each test prints a note and passes when they are not.
//!
//! - `shimx64.efi.signed` (package `shim-signed`) must verify against the
//!   `db` of Debian's `ovmf` package's `OVMF_VARS_4M.ms.fd`, which holds
//!   the Microsoft Windows Production PCA 2011 and the Microsoft
//!   Corporation UEFI CA 2011;
//! - `grubx64.efi.signed` (package `grub-efi-amd64-signed`) must verify
//!   against the Debian Secure Boot CA certificate that shim embeds in its
//!   `.vendor_cert` section, and must not verify against Microsoft's `db`;
//! - the same for arm64 (`shimaa64.efi.signed`, `grubaa64.efi.signed`), and
//!   Debian's signed kernels (`vmlinuz-*` of `linux-image-*`) against that
//!   Debian CA.
//!
//! `VMFW_DEBS_DIR` names another directory of packages extracted with
//! `dpkg -x PACKAGE.deb DIR/PACKAGE_VERSION_ARCH`.

// Test helpers outside #[test] functions: a failure there is a failed test.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use vmfw_secureboot::pe::certificates;
use vmfw_secureboot::pkcs7::SignedData;
use vmfw_secureboot::varstore;
use vmfw_secureboot::x509::Certificate;
use vmfw_secureboot::{
    signed_image_digest, verify_image, Error, Guid, SignatureDb, TrustedBy, Verdict,
};

fn debs() -> Option<PathBuf> {
    let dir = std::env::var_os("VMFW_DEBS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/vmfw/debs")))?;
    dir.is_dir().then_some(dir)
}

/// The file at `rel` inside the first extracted package directory whose
/// name starts with `prefix`.
fn find(prefix: &str, rel: &str) -> Option<Vec<u8>> {
    let dir = debs()?;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix) && e.path().is_dir())
        .map(|e| e.path())
        .collect();
    names.sort();
    names.into_iter().find_map(|d| std::fs::read(d.join(rel)).ok())
}

fn shim() -> Option<Vec<u8>> {
    find("shim-signed_", "usr/lib/shim/shimx64.efi.signed")
}

fn grub() -> Option<Vec<u8>> {
    find("grub-efi-amd64-signed_", "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
}

fn microsoft_db() -> Option<SignatureDb> {
    let store = find("ovmf_", "usr/share/OVMF/OVMF_VARS_4M.ms.fd")?;
    let var = varstore::find(&store, "db", &Guid::IMAGE_SECURITY_DATABASE)
        .expect("OVMF_VARS_4M.ms.fd parses")
        .expect("OVMF_VARS_4M.ms.fd has db");
    Some(SignatureDb::parse(var.data).expect("db parses"))
}

/// The `.vendor_cert` section's authorized certificate (shim's
/// `cert_table`: four little-endian u32s, authorized size, deauthorized
/// size, authorized offset, deauthorized offset, offsets from the section
/// start).
fn shim_vendor_cert(shim: &[u8]) -> Vec<u8> {
    let u16at = |o: usize| u16::from_le_bytes(shim[o..o + 2].try_into().unwrap()) as usize;
    let u32at = |o: usize| u32::from_le_bytes(shim[o..o + 4].try_into().unwrap()) as usize;
    let pe = u32at(0x3c);
    let sections = u16at(pe + 6);
    let symbols = u32at(pe + 12);
    let strings = symbols + 18 * u32at(pe + 16);
    let opt_size = u16at(pe + 20);
    let table = pe + 24 + opt_size;
    for i in 0..sections {
        let h = table + i * 40;
        let short = &shim[h..h + 8];
        // Long names are "/<decimal offset>" into the COFF string table.
        let name: Vec<u8> = if short[0] == b'/' {
            let digits = short[1..].iter().take_while(|b| b.is_ascii_digit());
            let off: usize = String::from_utf8(digits.copied().collect()).unwrap().parse().unwrap();
            shim[strings + off..].iter().take_while(|&&b| b != 0).copied().collect()
        } else {
            short.iter().take_while(|&&b| b != 0).copied().collect()
        };
        if name == b".vendor_cert" {
            let raw = u32at(h + 20);
            let size = u32at(raw);
            let offset = u32at(raw + 8);
            return shim[raw + offset..raw + offset + size].to_vec();
        }
    }
    panic!("shim has no .vendor_cert section");
}

/// The `.vendor_cert` section's deauthorized list (shim's built-in dbx, a
/// signature list).
fn shim_vendor_dbx(shim: &[u8]) -> Vec<u8> {
    let u16at = |o: usize| u16::from_le_bytes(shim[o..o + 2].try_into().unwrap()) as usize;
    let u32at = |o: usize| u32::from_le_bytes(shim[o..o + 4].try_into().unwrap()) as usize;
    let pe = u32at(0x3c);
    let strings = u32at(pe + 12) + 18 * u32at(pe + 16);
    let table = pe + 24 + u16at(pe + 20);
    for i in 0..u16at(pe + 6) {
        let h = table + i * 40;
        if shim[h] != b'/' {
            continue;
        }
        let digits: String = shim[h + 1..h + 8]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        let off: usize = digits.parse().unwrap();
        if shim[strings + off..].starts_with(b".vendor_cert\0") {
            let raw = u32at(h + 20);
            let size = u32at(raw + 4);
            let offset = u32at(raw + 12);
            return shim[raw + offset..raw + offset + size].to_vec();
        }
    }
    panic!("shim has no .vendor_cert section");
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn microsoft_db_holds_the_uefi_ca() {
    let Some(db) = microsoft_db() else {
        eprintln!("note: Debian's ovmf package is not extracted under ~/.cache/vmfw/debs; skipped");
        return;
    };
    assert_eq!(db.certificates().len(), 2, "Windows PCA 2011 and UEFI CA 2011");
    let names: Vec<bool> = db
        .certificates()
        .iter()
        .map(|c| {
            c.der
                .windows(b"Microsoft Corporation UEFI CA 2011".len())
                .any(|w| w == b"Microsoft Corporation UEFI CA 2011")
        })
        .collect();
    assert!(names.contains(&true), "the UEFI CA 2011 is enrolled");
    // Round trip through the list encoder.
    let again = SignatureDb::parse(&db.to_lists().unwrap()).unwrap();
    assert_eq!(again.certificates(), db.certificates());
}

#[test]
fn debian_shim_verifies_against_microsoft_db() {
    let (Some(shim), Some(db)) = (shim(), microsoft_db()) else {
        eprintln!("note: Debian's shim-signed or ovmf is not under ~/.cache/vmfw/debs; skipped");
        return;
    };
    let digest = vmfw_secureboot::pe::image_digest(&shim).unwrap();
    let sigs = certificates(&shim).unwrap();
    for s in &sigs {
        eprintln!(
            "shim signature: type {:#x}, {} bytes, signed hash {}",
            s.cert_type,
            s.data.len(),
            hex(&signed_image_digest(s.data).unwrap())
        );
    }
    eprintln!("shim computed hash {}", hex(&digest));
    assert!(sigs.iter().any(|s| signed_image_digest(s.data).unwrap() == digest));
    let verdict = verify_image(&shim, &db, &SignatureDb::new()).expect("shim verifies");
    assert!(matches!(verdict.by, TrustedBy::Signature { .. }), "{verdict:?}");
    eprintln!("shim: {verdict:?}");
    // Its hash in dbx refuses it.
    let mut dbx = SignatureDb::new();
    dbx.push_hash(Guid::default(), digest);
    assert_eq!(verify_image(&shim, &db, &dbx), Err(Error::ForbiddenHash));
    // The UEFI CA in dbx refuses it.
    let mut dbx = SignatureDb::new();
    for c in db.certificates() {
        dbx.push_certificate(c.owner, &c.der);
    }
    assert_eq!(verify_image(&shim, &db, &dbx), Err(Error::ForbiddenCertificate));
}

/// Debian's shim 16.1 carries a second signature, by the Microsoft UEFI CA
/// 2023: trusting that CA (as its own signature's bag carries it) accepts
/// the second signature; the 2011 CA in dbx still refuses the image.
#[test]
fn debian_shim_second_signature_chains_to_the_2023_ca() {
    let (Some(shim), Some(ms2011)) = (shim(), microsoft_db()) else {
        eprintln!("note: Debian's shim-signed or ovmf is not under ~/.cache/vmfw/debs; skipped");
        return;
    };
    let sigs = certificates(&shim).unwrap();
    if sigs.len() < 2 {
        eprintln!("note: this shim has one signature; skipped");
        return;
    }
    let sd = SignedData::parse(sigs[1].data).unwrap();
    let certs: Vec<Certificate<'_>> =
        sd.certificates.iter().map(|c| Certificate::parse(c).unwrap()).collect();
    let signer = certs.iter().find(|c| sd.signers[0].names(c)).unwrap();
    let ca = certs.iter().find(|c| c.subject == signer.issuer).unwrap();
    let mut db = SignatureDb::new();
    db.push_certificate(Guid::default(), ca.der);
    let v = verify_image(&shim, &db, &SignatureDb::new()).unwrap();
    assert_eq!(v.by, TrustedBy::Signature { signature: 1, anchor: 0 });
    assert_eq!(verify_image(&shim, &db, &ms2011), Err(Error::ForbiddenCertificate));
}

#[test]
fn debian_grub_verifies_against_shims_vendor_cert() {
    let (Some(shim), Some(grub)) = (shim(), grub()) else {
        eprintln!("note: Debian's shim-signed or grub-efi-amd64-signed is not under ~/.cache/vmfw/debs; skipped");
        return;
    };
    let vendor = shim_vendor_cert(&shim);
    let mut db = SignatureDb::new();
    db.push_certificate(Guid::default(), &vendor);
    let digest = vmfw_secureboot::pe::image_digest(&grub).unwrap();
    let sigs = certificates(&grub).unwrap();
    assert!(sigs.iter().any(|s| signed_image_digest(s.data).unwrap() == digest));
    let verdict = verify_image(&grub, &db, &SignatureDb::new()).expect("GRUB verifies");
    eprintln!("grub: {verdict:?}");
    // shim's own dbx (SHA-256 hashes of revoked images) parses and does
    // not list this GRUB.
    let vendor_dbx = SignatureDb::parse(&shim_vendor_dbx(&shim)).expect("shim's vendor dbx parses");
    eprintln!(
        "shim vendor dbx: {} hashes, {} certificates, {} skipped",
        vendor_dbx.hashes().len(),
        vendor_dbx.certificates().len(),
        vendor_dbx.skipped()
    );
    assert!(!vendor_dbx.hashes().is_empty());
    assert_eq!(verify_image(&grub, &db, &vendor_dbx), Ok(verdict));
    if let Some(ms) = microsoft_db() {
        assert_eq!(verify_image(&grub, &ms, &SignatureDb::new()), Err(Error::NotTrusted));
    }
}

/// The same checks for Debian's arm64 shim (`shimaa64.efi.signed`) and
/// GRUB (`grubaa64.efi.signed`, package `grub-efi-arm64-signed`).
#[test]
fn debian_arm64_shim_and_grub() {
    let shim = find("shim-signed_", "usr/lib/shim/shimaa64.efi.signed");
    let grub = find("grub-efi-arm64-signed_", "usr/lib/grub/arm64-efi-signed/grubaa64.efi.signed");
    let (Some(shim), Some(grub), Some(ms)) = (shim, grub, microsoft_db()) else {
        eprintln!("note: Debian's arm64 shim-signed, grub-efi-arm64-signed or ovmf is not under ~/.cache/vmfw/debs; skipped");
        return;
    };
    let v = verify_image(&shim, &ms, &SignatureDb::new()).expect("arm64 shim verifies");
    eprintln!("arm64 shim: {:?}", v.by);
    let mut debian = SignatureDb::new();
    debian.push_certificate(Guid::default(), &shim_vendor_cert(&shim));
    let v = verify_image(&grub, &debian, &SignatureDb::new()).expect("arm64 GRUB verifies");
    eprintln!("arm64 grub: {:?}", v.by);
    assert_eq!(verify_image(&grub, &ms, &SignatureDb::new()), Err(Error::NotTrusted));
}

/// Debian's signed kernels (`linux-image-*-{amd64,arm64}`: the `vmlinuz`
/// is a PE image with an EFI stub, signed by Debian) verify against the
/// Debian CA that shim embeds, as shim would check them.
#[test]
fn debian_kernels_verify_against_shims_vendor_cert() {
    for (arch, shim_path) in [
        ("amd64", "usr/lib/shim/shimx64.efi.signed"),
        ("arm64", "usr/lib/shim/shimaa64.efi.signed"),
    ] {
        let shim = find("shim-signed_", shim_path);
        let dir = debs().and_then(|d| {
            std::fs::read_dir(d).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with("linux-image-") && n.ends_with(&format!("_{arch}")) && p.is_dir()
            })
        });
        let kernel = dir.and_then(|d| {
            let boot = d.join("boot");
            let f = std::fs::read_dir(&boot)
                .ok()?
                .filter_map(|e| e.ok())
                .find(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))?;
            std::fs::read(f.path()).ok()
        });
        let (Some(shim), Some(kernel)) = (shim, kernel) else {
            eprintln!("note: Debian's {arch} shim-signed or linux-image is not under ~/.cache/vmfw/debs; skipped");
            continue;
        };
        let mut debian = SignatureDb::new();
        debian.push_certificate(Guid::default(), &shim_vendor_cert(&shim));
        let v = verify_image(&kernel, &debian, &SignatureDb::new());
        eprintln!("{arch} kernel: {v:?}");
        assert!(matches!(v, Ok(Verdict { by: TrustedBy::Signature { .. }, .. })), "{arch}: {v:?}");
    }
}
