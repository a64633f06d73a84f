//! UEFI Secure Boot test inputs: firmware images with keys, test disks
//! with the [`initrd::build_secure_boot`] initrd, signed images with one
//! byte changed, a forged variable file, and a `db` update signed by a key
//! the firmware does not trust.
//!
//! Keys: Debian's `ovmf` package ships an enrolled edk2 variable store,
//! `OVMF_VARS_4M.ms.fd` ([`ovmf_vars`]), with the `PK` (Debian), `KEK`
//! (Debian and Microsoft's KEK CA 2011), `db` (Microsoft's Windows
//! Production PCA 2011 and UEFI CA 2011) and `dbx` OVMF boots Secure Boot
//! with. [`enrolled_firmware`] copies the firmware with those keys (and
//! more, given as `cargo xtask enroll` options) by running `cargo xtask
//! enroll`: xtask depends on this crate, so this crate cannot link its
//! code. The copies depend on the firmware build, so they are kept under
//! `target/itest-sb/`, keyed by everything that goes into them.
//!
//! Debian's shim is signed by the Microsoft UEFI CA (in `db`) and carries
//! Debian's CA, which signs GRUB and the kernel: the chain boots under
//! these keys as it does under OVMF.

use crate::images::{cache_dir, sha256_hex, Contents};
use crate::initrd::{self, DbWrite};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use vmfw_secureboot::Guid;

/// Bump when the way enrolled images or test inputs are made changes, to
/// invalidate caches.
const RECIPE: &str = "secure-boot-v1";

/// The enrolled variable store in Debian's `ovmf` package.
pub const OVMF_VARS: &str = "usr/share/OVMF/OVMF_VARS_4M.ms.fd";

/// The Debian package with `sash`, a statically linked shell whose
/// built-in `-chattr` the `db` write needs ([`DbWrite`]).
pub const SASH_PACKAGE: &str = "sash";

/// Enrolling and building take turns: two threads would race on the
/// scratch files, and on cargo.
static TURN: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Debian's enrolled OVMF variable store ([`OVMF_VARS`]).
pub fn ovmf_vars() -> Result<PathBuf, String> {
    let p = crate::debian::unpack("ovmf", "all")?.join(OVMF_VARS);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("ovmf has no {}", p.display()))
    }
}

/// A key variable: its name and vendor GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The platform key.
    Pk,
    /// The key exchange keys.
    Kek,
    /// The allowed signatures.
    Db,
    /// The forbidden signatures.
    Dbx,
}

impl Key {
    /// The variable's name.
    pub fn name(self) -> &'static str {
        match self {
            Key::Pk => "PK",
            Key::Kek => "KEK",
            Key::Db => "db",
            Key::Dbx => "dbx",
        }
    }

    /// The variable's vendor GUID.
    pub fn guid(self) -> Guid {
        match self {
            Key::Pk | Key::Kek => Guid::GLOBAL_VARIABLE,
            Key::Db | Key::Dbx => Guid::IMAGE_SECURITY_DATABASE,
        }
    }
}

/// The data of key variable `key` in Debian's enrolled store: what
/// [`enrolled_firmware`] puts into the image.
pub fn store_key(key: Key) -> Result<Vec<u8>, String> {
    let path = ovmf_vars()?;
    let store = read(&path)?;
    vmfw_secureboot::varstore::find(&store, key.name(), &key.guid())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(|v| v.data.to_vec())
        .ok_or_else(|| format!("{}: no {}", path.display(), key.name()))
}

/// Where enrolled firmware copies are kept.
fn enrolled_dir() -> PathBuf {
    crate::root().join("target").join("itest-sb")
}

/// A copy of the firmware ([`crate::firmware`]) with the keys of Debian's
/// enrolled OVMF store ([`ovmf_vars`]) and `extra` options of `cargo xtask
/// enroll` (`["--dbx-sha256", "<hex>"]`; file arguments are hashed by
/// name only, so pass files whose name says what they hold). Made once
/// per firmware build and options, in `target/itest-sb/`.
pub fn enrolled_firmware(extra: &[&str]) -> Result<PathBuf, String> {
    enrolled_image(&crate::firmware(), extra)
}

/// As [`enrolled_firmware`], for any firmware image `elf` (the x86_64 ELF
/// or the arm64 `Image`): a copy named after it, `<stem>-sb-<key>.<ext>`.
pub fn enrolled_image(elf: &Path, extra: &[&str]) -> Result<PathBuf, String> {
    let elf = elf.to_path_buf();
    let vars = ovmf_vars()?;
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(Sha256::digest(read(&elf)?));
    h.update(Sha256::digest(read(&vars)?));
    for a in extra {
        h.update(a.as_bytes());
        h.update([0]);
    }
    let key: String = sha256_hex(&h.finalize())[..16].into();
    let dir = enrolled_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stem = elf.file_stem().and_then(|s| s.to_str()).unwrap_or("vmfw");
    let ext = elf.extension().and_then(|s| s.to_str()).unwrap_or("elf");
    let out = dir.join(format!("{stem}-sb-{key}.{ext}"));
    let _turn = take_turn();
    if out.exists() {
        return Ok(out);
    }
    let tmp = dir.join(format!(".vmfw-sb-{key}-{}.tmp", std::process::id()));
    // The cargo that runs the tests, when there is one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::root())
        .args(["run", "--quiet", "--package", "xtask", "--", "enroll", "--image"])
        .arg(&elf)
        .arg("--out")
        .arg(&tmp)
        .arg("--from-ovmf-vars")
        .arg(&vars)
        .args(extra);
    crate::progress!("secure boot: cargo xtask enroll {}", extra.join(" "));
    let run = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !run.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&run.stderr)));
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// [`enrolled_firmware`] with the store's keys only.
pub fn standard_firmware() -> Result<PathBuf, String> {
    enrolled_firmware(&[])
}

/// The Authenticode SHA-256 of the PE image at `path`, in hex (what
/// `--db-sha256` and `--dbx-sha256` take).
pub fn authenticode_sha256(path: &Path) -> Result<String, String> {
    let digest = vmfw_secureboot::pe::image_digest(&read(path)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex(&digest))
}

/// Bytes in hex, as they are (no hashing).
fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `data` in hex, as the initrd's `VMFW-SB` line shows a
/// key variable.
pub fn variable_hash(data: &[u8]) -> String {
    sha256_hex(data)
}

/// `pe` with one byte of section `section`'s raw data inverted (its
/// middle byte): the Authenticode hash covers it, so a signature made for
/// `pe` no longer matches. Returns the copy and the file offset changed.
pub fn flip_in_section(pe: &[u8], section: &str) -> Result<(Vec<u8>, usize), String> {
    let image = vmfw_pe::PeImage::parse(pe).map_err(|e| format!("{e:?}"))?;
    let s = image.section(section).ok_or_else(|| format!("no {section} section"))?;
    let range = s.file_range();
    if range.is_empty() || range.end > pe.len() {
        return Err(format!("{section} has no raw data in the file"));
    }
    let at = range.start + range.len() / 2;
    let mut out = pe.to_vec();
    out[at] ^= 0xff;
    Ok((out, at))
}

/// The [`initrd::build_secure_boot`] initrd for x86_64, with the `db`
/// write `update` when given.
pub fn initrd(update: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let busybox = read(&crate::debian::busybox()?)?;
    let efivarfs = read(&crate::debian::kernel_module("fs/efivarfs/efivarfs.ko")?)?;
    let sash = match update {
        Some(_) => Some(read(&sash()?)?),
        None => None,
    };
    let write = update.zip(sash.as_deref()).map(|(update, sash)| DbWrite { sash, update });
    Ok(initrd::build_secure_boot(&busybox, &efivarfs, write))
}

/// `sash` from [`SASH_PACKAGE`].
pub fn sash() -> Result<PathBuf, String> {
    let p = crate::debian::unpack(SASH_PACKAGE, "amd64")?.join("bin/sash");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{SASH_PACKAGE} has no {}", p.display()))
    }
}

/// Debian's signed shim and GRUB, as [`crate::shim::esp_disk`] has them.
fn shim_and_grub() -> Result<(PathBuf, PathBuf), String> {
    Ok((crate::shim::shim()?, crate::shim::grub()?))
}

/// The shim + GRUB disk ([`crate::shim::esp_disk`]) with the
/// [`initrd::build_secure_boot`] initrd.
pub fn shim_disk() -> Result<PathBuf, String> {
    let (shim, grub) = shim_and_grub()?;
    crate::shim::esp_disk_with(
        "sb-shim-grub",
        Contents::Host(shim),
        Contents::Host(grub),
        initrd(None)?,
        &[],
    )
}

/// [`shim_disk`] with GRUB changed by one byte in `.text`
/// ([`flip_in_section`]).
pub fn modified_grub_disk() -> Result<PathBuf, String> {
    let (shim, grub) = shim_and_grub()?;
    let (grub, _) = flip_in_section(&read(&grub)?, ".text").map_err(|e| format!("GRUB: {e}"))?;
    crate::shim::esp_disk_with(
        "sb-modified-grub",
        Contents::Host(shim),
        Contents::Bytes(grub),
        initrd(None)?,
        &[],
    )
}

/// [`shim_disk`] with shim changed by one byte in `.text`.
pub fn modified_shim_disk() -> Result<PathBuf, String> {
    let (shim, grub) = shim_and_grub()?;
    let (shim, _) = flip_in_section(&read(&shim)?, ".text").map_err(|e| format!("shim: {e}"))?;
    crate::shim::esp_disk_with(
        "sb-modified-shim",
        Contents::Bytes(shim),
        Contents::Host(grub),
        initrd(None)?,
        &[],
    )
}

/// [`shim_disk`] whose initrd writes [`rogue_db_update`] to `db`.
pub fn db_update_disk() -> Result<PathBuf, String> {
    let (shim, grub) = shim_and_grub()?;
    let update = rogue_db_update()?;
    crate::shim::esp_disk_with(
        "sb-db-update",
        Contents::Host(shim),
        Contents::Host(grub),
        initrd(Some(&update))?,
        &[],
    )
}

/// The `db` [`forged_vars`] puts in its record: one SHA-256 signature
/// list (owner and hash all 0x5a), a value no store carries.
pub fn forged_db() -> Vec<u8> {
    let mut l = Guid::CERT_SHA256.0.to_vec();
    for v in [28u32 + 48, 0, 48] {
        l.extend(v.to_le_bytes());
    }
    l.extend([0x5a; 48]);
    l
}

/// The `PK` [`forged_vars`] puts in its record (it need not parse: any
/// `PK` at all would turn setup mode into user mode, were it restored).
pub fn forged_pk() -> Vec<u8> {
    forged_db()
}

/// A `\EFI\vmfw\VARS.BIN` ([`crate::uefi::VARS_FILE`], two 96 KiB slots)
/// whose first slot, written by the firmware's own encoder, holds `PK` and
/// `db` records with [`forged_pk`] and [`forged_db`] (attributes NV, BS,
/// RT: what a guest that wrote the file could put there) and one ordinary
/// variable, `VmfwForged`, that the firmware does restore.
pub fn forged_vars() -> Vec<u8> {
    use vmfw_efi::variables::{utf16, Limits, Store};
    const NV_BS_RT: u32 = 0x07;
    let pk_guid = vmfw_efi::Guid::from_bytes(Key::Pk.guid().0);
    let db_guid = vmfw_efi::Guid::from_bytes(Key::Db.guid().0);
    let mut store = Store::new(Limits::default());
    let set = |s: &mut Store, name: &str, guid, data: &[u8]| {
        s.set_variable(&utf16(name), guid, NV_BS_RT, data)
            .unwrap_or_else(|e| panic!("a fresh store refused {name}: {e:?}"));
    };
    set(&mut store, "PK", pk_guid, &forged_pk());
    set(&mut store, "db", db_guid, &forged_db());
    set(&mut store, "VmfwForged", pk_guid, b"restored");
    let mut file = vmfw_efi::persist::encode(&store, 1);
    file.resize(2 * 96 * 1024, 0);
    file
}

/// [`shim_disk`] with [`forged_vars`] as `\EFI\vmfw\VARS.BIN`. Cached: a
/// test attaches a writable copy ([`crate::esp::scratch_copy`]).
pub fn forged_vars_disk() -> Result<PathBuf, String> {
    let (shim, grub) = shim_and_grub()?;
    crate::shim::esp_disk_with(
        "sb-forged-vars",
        Contents::Host(shim),
        Contents::Host(grub),
        initrd(None)?,
        &[(crate::uefi::VARS_FILE, Contents::Bytes(forged_vars()))],
    )
}

/// The time stamp of [`rogue_db_update`] (the update is made once; any
/// fixed time will do).
const UPDATE_TIME: &str = "Wed Jan  1 00:00:00 2025";

/// A `db` update as efivarfs takes it: attributes NV, BS, RT and
/// time-based authenticated write (`0x27`, 4 bytes little-endian), then
/// an `EFI_VARIABLE_AUTHENTICATION_2` descriptor signed by a key made for
/// this test (in no `KEK`, no `PK`) and an `EFI_SIGNATURE_LIST` with that
/// key's certificate. Made once with `openssl` and efitools
/// (`cert-to-efi-sig-list`, `sign-efi-sig-list`) and kept in
/// `~/.cache/vmfw/images/`.
pub fn rogue_db_update() -> Result<Vec<u8>, String> {
    let dir = cache_dir().join("images");
    let path = dir.join(format!("{RECIPE}-rogue-db.update"));
    let _turn = take_turn();
    if path.exists() {
        return read(&path);
    }
    let scratch = dir.join(format!(".{RECIPE}-rogue-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let made = make_rogue_update(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let mut update = 0x27u32.to_le_bytes().to_vec();
    update.extend(made?);
    let tmp = dir.join(format!(".{RECIPE}-rogue-db-{}.tmp", std::process::id()));
    std::fs::write(&tmp, &update).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(update)
}

/// The rogue key, its certificate, its signature list and the signed
/// update, in `scratch`; returns the update (`db.auth`).
fn make_rogue_update(scratch: &Path) -> Result<Vec<u8>, String> {
    let tool = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd
            .current_dir(scratch)
            .output()
            .map_err(|e| format!("cannot run {:?}: {e} (run .ci/deps)", cmd.get_program()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    tool(Command::new("openssl").args([
        "req",
        "-new",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-days",
        "3650",
        "-subj",
        "/CN=vmfw test: a db signer in no KEK/",
        "-keyout",
        "rogue.key",
        "-out",
        "rogue.crt",
    ]))?;
    tool(Command::new("cert-to-efi-sig-list").args([
        "-g",
        "10bb1021-d3a9-47c3-8547-f33484bc73bd",
        "rogue.crt",
        "rogue.esl",
    ]))?;
    tool(Command::new("sign-efi-sig-list").args([
        "-t",
        UPDATE_TIME,
        "-k",
        "rogue.key",
        "-c",
        "rogue.crt",
        "db",
        "rogue.esl",
        "db.auth",
    ]))?;
    read(&scratch.join("db.auth"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forged_file_holds_pk_db_and_one_ordinary_variable() {
        let file = forged_vars();
        assert_eq!(file.len(), 2 * 96 * 1024);
        let (a, b) = file.split_at(96 * 1024);
        let (seq, records) = vmfw_efi::persist::newest(a, b).expect("a valid slot");
        assert_eq!(seq, 1);
        let names: Vec<String> =
            records.iter().map(|r| String::from_utf16(&r.name).unwrap()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for (name, data) in [("PK", forged_pk()), ("db", forged_db())] {
            let r = records.iter().find(|r| r.name == vmfw_efi::variables::utf16(name)).unwrap();
            assert_eq!(r.data, data);
            assert_eq!(r.attributes, 0x07);
        }
        // The forged db is a well-formed signature list with one hash.
        let db = vmfw_secureboot::SignatureDb::parse(&forged_db()).unwrap();
        assert_eq!(db.hashes().len(), 1);
    }

    #[test]
    fn a_flipped_byte_changes_the_authenticode_hash() {
        // A PE32+ image with one .text section (0x200 bytes of 0x90 at
        // file offset 0x200).
        let mut pe = vec![0u8; 0x400];
        let put = |f: &mut Vec<u8>, at: usize, b: &[u8]| f[at..at + b.len()].copy_from_slice(b);
        put(&mut pe, 0, b"MZ");
        put(&mut pe, 0x3c, &0x40u32.to_le_bytes());
        put(&mut pe, 0x40, b"PE\0\0");
        let coff = 0x44;
        put(&mut pe, coff, &0x8664u16.to_le_bytes());
        put(&mut pe, coff + 2, &1u16.to_le_bytes());
        put(&mut pe, coff + 16, &0xf0u16.to_le_bytes());
        put(&mut pe, coff + 18, &0x0022u16.to_le_bytes());
        let opt = coff + 20;
        put(&mut pe, opt, &0x20bu16.to_le_bytes());
        put(&mut pe, opt + 16, &0x1000u32.to_le_bytes()); // entry point
        put(&mut pe, opt + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
        put(&mut pe, opt + 36, &0x200u32.to_le_bytes()); // FileAlignment
        put(&mut pe, opt + 56, &0x2000u32.to_le_bytes()); // SizeOfImage
        put(&mut pe, opt + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
        put(&mut pe, opt + 68, &10u16.to_le_bytes()); // EFI application
        put(&mut pe, opt + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
        let table = opt + 0xf0;
        put(&mut pe, table, b".text");
        put(&mut pe, table + 8, &0x200u32.to_le_bytes());
        put(&mut pe, table + 12, &0x1000u32.to_le_bytes());
        put(&mut pe, table + 16, &0x200u32.to_le_bytes());
        put(&mut pe, table + 20, &0x200u32.to_le_bytes());
        put(&mut pe, table + 36, &0x6000_0020u32.to_le_bytes());
        pe[0x200..0x400].fill(0x90);
        let (changed, at) = flip_in_section(&pe, ".text").unwrap();
        assert_eq!(at, 0x300);
        assert_eq!(changed[at], 0x6f);
        let before = vmfw_secureboot::pe::image_digest(&pe).unwrap();
        let after = vmfw_secureboot::pe::image_digest(&changed).unwrap();
        assert_ne!(before, after);
        assert!(flip_in_section(&pe, ".data").is_err());
    }
}
