//! `cargo xtask enroll`: embed Secure Boot keys (`PK`, `KEK`, `db`, `dbx`)
//! into a firmware image, inspect what an image carries, and generate a
//! `PK` and `KEK` for operators who have none.
//!
//! The keys become a key blob (`vmfw_efi::sbkeys`) appended to the image
//! (elf.rs: a new PT_LOAD segment for the x86_64 ELF, the tail of the
//! arm64 flat Image) where the firmware finds it through its descriptor.

use crate::{elf, x509};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use vmfw_bytes::Guid;
use vmfw_efi::sbkeys::{self, Keys, Kind};
use vmfw_secureboot::varstore;

/// EFI_CERT_X509_GUID, a5c059a1-94e4-4aa7-87b5-ab155c2bf072.
const CERT_X509: Guid = Guid::from_fields(
    0xa5c0_59a1,
    0x94e4,
    0x4aa7,
    [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
);
/// EFI_CERT_SHA256_GUID, c1c41626-504c-4092-aca9-41f936934328.
const CERT_SHA256: Guid = Guid::from_fields(
    0xc1c4_1626,
    0x504c,
    0x4092,
    [0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28],
);
/// The owner GUID of what vmfw enrolls unless `--owner` says otherwise
/// (chosen at random once for vmfw).
pub const VMFW_OWNER: Guid = Guid::from_fields(
    0x10bb_1021,
    0xd3a9,
    0x47c3,
    [0x85, 0x47, 0xf3, 0x34, 0x84, 0xbc, 0x73, 0xbd],
);

/// What `enroll` embeds and where.
#[derive(Debug, Default)]
pub struct EnrollOptions {
    pub image: PathBuf,
    pub out: PathBuf,
    pub from_ovmf_vars: Option<PathBuf>,
    pub pk: Option<PathBuf>,
    pub kek: Vec<PathBuf>,
    pub db: Vec<PathBuf>,
    pub dbx: Vec<PathBuf>,
    pub db_sha256: Vec<String>,
    pub dbx_sha256: Vec<String>,
    pub owner: Option<Guid>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Signature lists for a key file: every certificate of a PEM file or the
/// one of a DER file, each as its own `EFI_CERT_X509_GUID` list, or an
/// `EFI_SIGNATURE_LIST` file taken as it is. Told apart by content.
pub fn lists_from_file(bytes: &[u8], owner: Guid) -> Result<Vec<u8>, String> {
    if let Some(certs) = x509::pem_certificates(bytes) {
        return Ok(certs.iter().flat_map(|c| x509_list(c, owner)).collect());
    }
    if x509::is_certificate(bytes) {
        return Ok(x509_list(bytes, owner));
    }
    match sbkeys::count_signatures(bytes) {
        Ok(n) if n > 0 => Ok(bytes.to_vec()),
        _ => Err("neither an X.509 certificate (DER or PEM) nor an EFI signature list".into()),
    }
}

/// One `EFI_SIGNATURE_LIST` of `signature_type` holding `signatures`
/// (each of the same length), each owned by `owner`.
fn list(signature_type: Guid, owner: Guid, signatures: &[&[u8]]) -> Vec<u8> {
    let size = sbkeys::OWNER_LEN + signatures.first().map_or(0, |s| s.len());
    let total = sbkeys::LIST_HEADER_LEN + size * signatures.len();
    let mut l = signature_type.to_bytes().to_vec();
    for v in [total, 0, size] {
        l.extend((v as u32).to_le_bytes());
    }
    for s in signatures {
        l.extend(owner.to_bytes());
        l.extend_from_slice(s);
    }
    l
}

fn x509_list(der: &[u8], owner: Guid) -> Vec<u8> {
    list(CERT_X509, owner, &[der])
}

/// One `EFI_CERT_SHA256_GUID` list of the hashes given in hex.
fn sha256_list(hexes: &[String], owner: Guid) -> Result<Vec<u8>, String> {
    if hexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = hexes.iter().map(|h| parse_sha256(h)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    Ok(list(CERT_SHA256, owner, &refs))
}

fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let bad = || format!("{hex:?} is not a SHA-256 in hex (64 digits)");
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// The four variables' contents `enroll` writes, from the options.
pub fn collect(o: &EnrollOptions) -> Result<[Vec<u8>; 4], String> {
    let owner = o.owner.unwrap_or(VMFW_OWNER);
    let mut vars: [Vec<u8>; 4] = Default::default();
    if let Some(path) = &o.from_ovmf_vars {
        let store = read(path)?;
        for kind in Kind::ALL {
            let found =
                store_variable(&store, kind).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some(data) = found {
                sbkeys::count_signatures(data)
                    .map_err(|e| format!("{}: {}: {e}", path.display(), kind.name()))?;
                vars[kind as usize - 1] = data.to_vec();
            }
        }
    }
    // --pk replaces the store's PK (there is one platform key); the other
    // options add to what the store gave.
    if let Some(pk) = &o.pk {
        vars[0] =
            lists_from_file(&read(pk)?, owner).map_err(|e| format!("{}: {e}", pk.display()))?;
    }
    for (i, files) in [(1, &o.kek), (2, &o.db), (3, &o.dbx)] {
        for f in files {
            let l =
                lists_from_file(&read(f)?, owner).map_err(|e| format!("{}: {e}", f.display()))?;
            vars[i].extend(l);
        }
    }
    vars[2].extend(sha256_list(&o.db_sha256, owner)?);
    vars[3].extend(sha256_list(&o.dbx_sha256, owner)?);
    Ok(vars)
}

/// `enroll`: writes `o.out`, the image with the keys embedded.
pub fn cmd_enroll(o: &EnrollOptions) -> Result<(), String> {
    let vars = collect(o)?;
    if vars.iter().all(Vec::is_empty) {
        return Err("no keys given (--pk, --kek, --db, --dbx, --from-ovmf-vars)".into());
    }
    if vars[0].is_empty() {
        eprintln!("enroll: note: no PK: the firmware stays in setup mode and verifies nothing");
    }
    fn some(v: &[u8]) -> Option<&[u8]> {
        (!v.is_empty()).then_some(v)
    }
    let keys =
        Keys { pk: some(&vars[0]), kek: some(&vars[1]), db: some(&vars[2]), dbx: some(&vars[3]) };
    let blob = sbkeys::build(&keys).map_err(|e| e.to_string())?;
    // What the firmware will check, checked here first.
    sbkeys::parse(&blob).map_err(|e| format!("the key blob would be refused: {e}"))?;
    let image = read(&o.image)?;
    let out = if image.starts_with(b"\x7fELF") {
        elf::append_keys_elf(&image, &blob)
    } else {
        elf::append_keys_flat(&image, &blob)
    }
    .map_err(|e| format!("{}: {e}", o.image.display()))?;
    std::fs::write(&o.out, &out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    eprintln!(
        "enroll: wrote {} ({} bytes of keys: {})",
        o.out.display(),
        blob.len(),
        summary(&keys)
    );
    Ok(())
}

/// "PK 1, KEK 1, db 2, dbx 217".
fn summary(keys: &Keys<'_>) -> String {
    Kind::ALL
        .iter()
        .filter_map(|k| {
            keys.get(*k)
                .map(|c| format!("{} {}", k.name(), sbkeys::count_signatures(c).unwrap_or(0)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `enroll --inspect`: what an image (or an edk2 variable store) carries,
/// as text.
pub fn inspect(file: &[u8]) -> Result<String, String> {
    if file.get(40..44) == Some(b"_FVH") {
        return inspect_store(file);
    }
    let blob = match elf::embedded_keys(file) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok("no Secure Boot keys: the firmware runs in setup mode\n".into()),
        Err(e) => return Err(e),
    };
    let keys =
        sbkeys::parse(&blob).map_err(|e| format!("the embedded key blob is refused: {e}"))?;
    let mut text = format!("Secure Boot keys ({} bytes): {}\n", blob.len(), summary(&keys));
    for kind in Kind::ALL {
        match keys.get(kind) {
            None => text += &format!("{}: none\n", kind.name()),
            Some(c) => {
                text += &format!("{}:\n", kind.name());
                text += &describe_lists(c)?;
            }
        }
    }
    Ok(text)
}

/// What an edk2 variable store holds of PK, KEK, db and dbx.
fn inspect_store(file: &[u8]) -> Result<String, String> {
    let mut text = String::from("edk2 variable store\n");
    for kind in Kind::ALL {
        match store_variable(file, kind)? {
            None => text += &format!("{}: none\n", kind.name()),
            Some(c) => {
                text += &format!("{}:\n", kind.name());
                text += &describe_lists(c)?;
            }
        }
    }
    Ok(text)
}

/// The vendor GUID of a Secure Boot variable.
fn vendor(kind: Kind) -> vmfw_secureboot::Guid {
    match kind {
        Kind::Pk | Kind::Kek => vmfw_secureboot::Guid::GLOBAL_VARIABLE,
        Kind::Db | Kind::Dbx => vmfw_secureboot::Guid::IMAGE_SECURITY_DATABASE,
    }
}

/// The live value of Secure Boot variable `kind` in edk2 variable store
/// `file` (the crate's reader, which the firmware's tests also use).
fn store_variable(file: &[u8], kind: Kind) -> Result<Option<&[u8]>, String> {
    varstore::find(file, kind.name(), &vendor(kind))
        .map(|v| v.map(|v| v.data))
        .map_err(|e| format!("not an edk2 variable store: {e}"))
}

/// One line per signature of a variable's content.
pub fn describe_lists(content: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    for l in sbkeys::lists(content) {
        let l = l.map_err(|e| e.to_string())?;
        let ty = Guid::from_bytes(l.signature_type);
        for (owner, data) in l.entries() {
            let owner = Guid::from_bytes(owner.try_into().unwrap_or_default());
            let what = if ty == CERT_X509 {
                format!("X509   {}  sha256 {}", x509::subject(data), hex(&Sha256::digest(data)))
            } else if ty == CERT_SHA256 {
                format!("SHA256 {}", hex(data))
            } else {
                format!("type {ty}, {} bytes", data.len())
            };
            text += &format!("  {what}  owner {owner}\n");
        }
    }
    Ok(text)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `enroll --generate-pk-kek DIR`: a self-signed RSA-2048 PK and KEK
/// (certificate and key, PEM) made by the openssl program.
pub fn generate_pk_kek(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    for name in ["PK", "KEK"] {
        let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        if crt.exists() || key.exists() {
            return Err(format!(
                "{} or {} exists; not overwriting keys",
                crt.display(),
                key.display()
            ));
        }
        let subject = format!("/CN=vmfw {name} {}/O=vmfw Secure Boot keys", host.trim());
        let status = Command::new("openssl")
            .args([
                "req", "-new", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", "3650", "-nodes",
            ])
            .args(["-subj", &subject, "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run openssl (Debian package openssl): {e}"))?;
        if !status.success() {
            return Err(format!("openssl req failed ({status}) making {}", crt.display()));
        }
        eprintln!("enroll: wrote {} and {}", crt.display(), key.display());
    }
    eprintln!(
        "enroll: keep the .key files offline; enroll with --pk {} --kek {}",
        dir.join("PK.crt").display(),
        dir.join("KEK.crt").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edk2 authenticated variable store file holding `vars` as
    /// (name, vendor, state, data): firmware volume header, store header,
    /// then each variable's header, UTF-16 name and data.
    fn store(vars: &[(&str, vmfw_secureboot::Guid, u8, &[u8])]) -> Vec<u8> {
        let mut fv = vec![0u8; 72];
        fv[16..32].copy_from_slice(&varstore::SYSTEM_NV_DATA_FV.0);
        fv[40..44].copy_from_slice(b"_FVH");
        fv[48..50].copy_from_slice(&72u16.to_le_bytes());
        let mut s = varstore::AUTHENTICATED_VARIABLE.0.to_vec();
        s.extend(0u32.to_le_bytes()); // size, below
        s.extend([0x5a, 0xfe, 0, 0, 0, 0, 0, 0]);
        for (name, vendor, state, data) in vars {
            let name: Vec<u8> =
                name.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect();
            s.extend(0x55aau16.to_le_bytes());
            s.extend([*state, 0]);
            s.extend(0x27u32.to_le_bytes());
            s.extend([0; 8 + 16 + 4]);
            s.extend((name.len() as u32).to_le_bytes());
            s.extend((data.len() as u32).to_le_bytes());
            s.extend(vendor.0);
            s.extend(&name);
            s.extend_from_slice(data);
            s.resize(s.len().next_multiple_of(4), 0xff);
        }
        s.resize(s.len() + 64, 0xff); // free space
        let size = s.len() as u32;
        s[16..20].copy_from_slice(&size.to_le_bytes());
        fv.extend(s);
        let len = fv.len() as u64;
        fv[32..40].copy_from_slice(&len.to_le_bytes());
        fv
    }
    use crate::x509::tests::fake_cert;

    #[test]
    fn key_files_by_content() {
        let cert = fake_cert("Test PK");
        let l = lists_from_file(&cert, VMFW_OWNER).unwrap();
        assert_eq!(sbkeys::count_signatures(&l), Ok(1));
        assert_eq!(&l[..16], &CERT_X509.to_bytes());
        // An .esl is taken as it is; other bytes are refused.
        assert_eq!(lists_from_file(&l, Guid::ZERO).unwrap(), l);
        assert!(lists_from_file(b"hello", VMFW_OWNER).unwrap_err().contains("neither"));
        let text = describe_lists(&l).unwrap();
        assert!(text.contains("X509   CN=Test PK, O=Org  sha256 "), "{text}");
        assert!(text.contains(&VMFW_OWNER.to_string()), "{text}");
    }

    #[test]
    fn hashes() {
        let h = "00".repeat(31) + "ff";
        let l = sha256_list(&[h.clone(), "11".repeat(32)], VMFW_OWNER).unwrap();
        assert_eq!(sbkeys::count_signatures(&l), Ok(2));
        assert!(describe_lists(&l).unwrap().contains(&format!("SHA256 {h}")));
        assert!(sha256_list(&["abc".into()], VMFW_OWNER).is_err());
        assert!(sha256_list(&["zz".repeat(32)], VMFW_OWNER).is_err());
    }

    /// The store's variables are taken as they are, --pk replaces the
    /// store's PK, the others add to it.
    #[test]
    fn from_a_variable_store() {
        let dir = std::env::temp_dir().join(format!("vmfw-enroll-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pk = x509_list(&fake_cert("Store PK"), Guid::ZERO);
        let db = x509_list(&fake_cert("Store db"), Guid::ZERO);
        let vars = dir.join("vars.fd");
        std::fs::write(
            &vars,
            store(&[
                ("PK", vmfw_secureboot::Guid::GLOBAL_VARIABLE, 0x3f, &pk),
                ("db", vmfw_secureboot::Guid::IMAGE_SECURITY_DATABASE, 0x3f, &db),
            ]),
        )
        .unwrap();
        let mine = dir.join("mine.der");
        std::fs::write(&mine, fake_cert("My PK")).unwrap();
        let mut o = EnrollOptions { from_ovmf_vars: Some(vars.clone()), ..Default::default() };
        let got = collect(&o).unwrap();
        assert_eq!((&got[0], &got[1], &got[2], &got[3]), (&pk, &vec![], &db, &vec![]));
        o.pk = Some(mine.clone());
        o.db = vec![mine.clone()];
        o.dbx_sha256 = vec!["ab".repeat(32)];
        let got = collect(&o).unwrap();
        assert!(describe_lists(&got[0]).unwrap().contains("My PK"));
        assert_eq!(sbkeys::count_signatures(&got[2]), Ok(2));
        assert_eq!(sbkeys::count_signatures(&got[3]), Ok(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
