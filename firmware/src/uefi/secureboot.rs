//! UEFI Secure Boot (feature `secure-boot`): the key variables, the mode
//! variables, image verification in `LoadImage()`, and authenticated
//! writes to the keys.
//!
//! The keys (`PK`, `KEK`, `db`, `dbx`) come only from the firmware image
//! (`cargo xtask enroll`, see [`crate::sbkeys`]): the guest can write its
//! disk and its RAM, so keys kept there would be the guest's to change.
//! They become read-only variables with the time-based authenticated
//! attribute; a name the image does not carry is protected all the same
//! (`Store::protect`), so no `SetVariable()` and no variable restored
//! from `VARS.BIN` can create it.
//!
//! With a `PK` the platform is in user mode (`SecureBoot`=1,
//! `SetupMode`=0): every image `LoadImage()` loads must pass
//! [`vmfw_secureboot::verify_image`] against `db` and `dbx`, or the load
//! fails with `EFI_SECURITY_VIOLATION` and one log line saying why. The
//! keys are read back from the variable store, which lives in runtime
//! memory, so the same check serves authenticated writes at runtime.
//! Without a `PK` the platform is in setup mode: nothing is verified, and
//! the boot log says so.
//!
//! Authenticated writes (`EFI_VARIABLE_AUTHENTICATION_2`) to the keys are
//! verified (`db`/`dbx` against `KEK` and `PK`, `KEK`/`PK` against `PK`):
//! a wrong signature is `EFI_SECURITY_VIOLATION`; a right one is
//! `EFI_WRITE_PROTECTED`, since the keys are the operator's and change
//! with a new image, not from inside the guest (a `dbx` update applied for
//! one boot only would tell the OS it was installed when it was not).

use super::state::RUNTIME;
use vmfw_efi::sbkeys::Kind;
use vmfw_efi::variables::{utf16, GLOBAL_VARIABLE};
use vmfw_efi::VariableStore;
use vmfw_efi::{Error, Guid};
use vmfw_secureboot::mode::Mode;
use vmfw_secureboot::SignatureDb;

/// `EFI_IMAGE_SECURITY_DATABASE_GUID`, the vendor of `db` and `dbx`.
const IMAGE_SECURITY_DATABASE: Guid = Guid::from_fields(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);

/// NV, BS, RT and time-based authenticated write: the keys' attributes.
const KEY_ATTRIBUTES: u32 = 0x27;

/// A key variable's name and vendor.
fn key(kind: Kind) -> (&'static str, Guid) {
    match kind {
        Kind::Pk | Kind::Kek => (kind.name(), GLOBAL_VARIABLE),
        Kind::Db | Kind::Dbx => (kind.name(), IMAGE_SECURITY_DATABASE),
    }
}

/// Defines the key and mode variables in `store` from the keys the image
/// carries, and logs the mode.
pub fn install(store: &mut VariableStore) {
    let keys = crate::sbkeys::blob().and_then(|b| vmfw_efi::sbkeys::parse(b).ok());
    for kind in Kind::ALL {
        let (name, guid) = key(kind);
        let name = utf16(name);
        let _ = store.protect(&name, guid);
        if let Some(data) = keys.and_then(|k| k.get(kind)) {
            if store.define_read_only(&name, guid, KEY_ATTRIBUTES, data).is_err() {
                crate::warn!("secure boot: {} does not fit in the variable store", kind.name());
            }
        }
    }
    let mode = Mode::from_state(keys.is_some_and(|k| k.pk.is_some()), false, false);
    let v = mode.variables();
    let bs_rt = vmfw_efi::variables::BOOTSERVICE_ACCESS | vmfw_efi::variables::RUNTIME_ACCESS;
    for (name, value) in [
        ("SecureBoot", v.secure_boot),
        ("SetupMode", v.setup_mode),
        ("AuditMode", v.audit_mode),
        ("DeployedMode", v.deployed_mode),
    ] {
        let _ = store.define_read_only(&utf16(name), GLOBAL_VARIABLE, bs_rt, &[value]);
    }
}

/// Whether images are verified: the image carries a `PK` (user mode).
/// Boot time only (the keys' pages are the OS's after
/// `ExitBootServices()`).
pub fn enforcing() -> bool {
    crate::sbkeys::blob()
        .and_then(|b| vmfw_efi::sbkeys::parse(b).ok())
        .is_some_and(|k| k.pk.is_some())
}

/// The signature list variable `kind` as a database (empty when absent).
fn database(kind: Kind) -> Result<SignatureDb, Error> {
    let (name, guid) = key(kind);
    let data = RUNTIME.with(|r| r.vars.get_variable(&utf16(name), guid, usize::MAX));
    match data {
        Ok((_, bytes)) => SignatureDb::parse(&bytes).map_err(|_| Error::SecurityViolation),
        Err(_) => Ok(SignatureDb::new()),
    }
}

/// Verifies a PE image's bytes before `LoadImage()` places it: `Ok` when
/// Secure Boot is off or the image passes, else the reason (for the one
/// log line the caller writes).
pub fn check_image(image: &[u8]) -> Result<(), alloc::string::String> {
    if !enforcing() {
        return Ok(());
    }
    let db = database(Kind::Db).map_err(|_| alloc::string::String::from("db is malformed"))?;
    let dbx = database(Kind::Dbx).map_err(|_| alloc::string::String::from("dbx is malformed"))?;
    vmfw_secureboot::verify_image(image, &db, &dbx)
        .map(|_| ())
        .map_err(|e| alloc::format!("refused by Secure Boot: {e}"))
}

/// `SetVariable()` with the time-based authenticated attribute on a key
/// variable: `Some(status)` when it is one (see the module docs), `None`
/// for every other write.
pub fn authenticated_write(
    name: &[u16],
    guid: Guid,
    attributes: u32,
    data: &[u8],
) -> Option<Error> {
    if attributes & vmfw_efi::variables::TIME_BASED_AUTHENTICATED_WRITE_ACCESS == 0 {
        return None;
    }
    let kind = Kind::ALL.into_iter().find(|&k| {
        let (n, g) = key(k);
        g == guid && n.encode_utf16().eq(name.iter().copied())
    })?;
    let mut signers = database(Kind::Pk).ok()?;
    if matches!(kind, Kind::Db | Kind::Dbx) {
        let kek = database(Kind::Kek).ok()?;
        for c in kek.certificates() {
            signers.push_certificate(c.owner, &c.der);
        }
    }
    let g = vmfw_secureboot::Guid(guid.to_bytes());
    Some(match vmfw_secureboot::auth2::verify_write(name, &g, attributes, data, &signers) {
        Ok(_) => {
            crate::warn!(
                "secure boot: a correctly signed update of {} refused: the keys come from the \
                 firmware image (cargo xtask enroll)",
                kind.name()
            );
            Error::WriteProtected
        }
        Err(e) => {
            crate::warn!("secure boot: an update of {} refused: {e}", kind.name());
            Error::SecurityViolation
        }
    })
}
