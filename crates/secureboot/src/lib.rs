//! UEFI Secure Boot verification for vmfw, host-testable and free of
//! firmware dependencies: what `LoadImage` and the variable store call to
//! decide whether an image may run and whether an authenticated variable
//! write is genuine.
//!
//! - [`siglist`]: `EFI_SIGNATURE_LIST` (UEFI 2.10 §32.4.1) parsing into a
//!   [`SignatureDb`] (X.509 certificates and SHA-256 hashes of `PK`, `KEK`,
//!   `db`, `dbx`) and the inverse, building a list;
//! - [`pe`]: the Authenticode image hash of a PE32/PE32+ image and the walk of
//!   its certificate table;
//! - [`verify_image`]: the Secure Boot decision for one image (PKCS#7
//!   `SignedData` with `SpcIndirectDataContent`, RSA PKCS#1 v1.5 with
//!   SHA-256, chains to `db`, refusals from `dbx`);
//! - [`auth2`]: `EFI_VARIABLE_AUTHENTICATION_2` time-based authenticated
//!   variable writes (UEFI 2.10 §8.2.2);
//! - [`mode`]: the Secure Boot mode state (`SetupMode`, `SecureBoot`,
//!   `AuditMode`, `DeployedMode`, UEFI 2.10 §32.3);
//! - [`varstore`]: a reader for edk2's variable store firmware volume, to
//!   take enrolled keys out of an OVMF `*_VARS.fd` file (tooling and tests).
//!
//! Every byte handed in is hostile: parsing uses checked arithmetic and
//! returns named errors; nothing here panics on any input. Certificate
//! validity periods are not checked (the firmware has no trusted time, and
//! edk2 ignores them too); certificate names are compared byte for byte.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod asn1;
pub mod auth2;
mod guid;
pub mod mode;
pub mod pe;
pub mod pkcs7;
pub mod siglist;
pub mod varstore;
mod verify;
pub mod x509;

pub use guid::Guid;
pub use siglist::SignatureDb;
pub use verify::{signed_image_digest, verify_image, TrustedBy, Verdict, MAX_SIGNATURES};

use core::fmt;

/// Why an image or an authenticated variable write was refused.
///
/// `Display` gives one line fit for the firmware log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The image carries no usable signature and its hash is not in `db`.
    Unsigned,
    /// A signature's `SpcIndirectDataContent` names another image hash:
    /// the image was changed after signing (or the signature is another
    /// image's).
    DigestMismatch,
    /// The signature is sound but no certificate chain from the signer
    /// reaches a certificate of the trusted database.
    NotTrusted,
    /// The image's SHA-256 hash is in `dbx`.
    ForbiddenHash,
    /// A certificate of a signer's chain is in `dbx`.
    ForbiddenCertificate,
    /// An RSA signature or the `messageDigest` attribute does not match.
    BadSignature,
    /// A digest or signature algorithm other than SHA-256 and RSA
    /// (2048 to 4096 bits) PKCS#1 v1.5.
    UnsupportedAlgorithm,
    /// Deciding would take more certificate signature checks than the
    /// verifier allows for one call (a bag of look-alike certificates).
    TooComplex,
    /// The named structure is malformed.
    Malformed(Malformed),
}

/// Which structure was malformed (the payload of [`Error::Malformed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// DER encoding (a TLV header or length, or an unexpected tag).
    Der,
    /// The MS-DOS, PE or optional header.
    PeHeaders,
    /// The section table or a section's raw data bounds.
    SectionTable,
    /// The certificate table directory entry or a `WIN_CERTIFICATE`.
    CertificateTable,
    /// The PKCS#7 `ContentInfo` or `SignedData`.
    Pkcs7,
    /// The signer info's issuer and serial number match no certificate.
    SignerCertificate,
    /// An X.509 certificate.
    Certificate,
    /// The Authenticode `SpcIndirectDataContent`.
    IndirectData,
    /// The signed (authenticated) attributes of a signer info.
    Attributes,
    /// The `EFI_VARIABLE_AUTHENTICATION_2` descriptor.
    AuthDescriptor,
    /// The descriptor's `EFI_TIME` has non-zero fields the spec requires
    /// to be zero.
    Timestamp,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsigned => f.write_str("unsigned, and its hash is not in db"),
            Error::DigestMismatch => f.write_str("the signed image hash differs from the image's"),
            Error::NotTrusted => {
                f.write_str("signed by a certificate that chains to nothing in db")
            }
            Error::ForbiddenHash => f.write_str("its hash is in dbx"),
            Error::ForbiddenCertificate => f.write_str("signed by a certificate in dbx"),
            Error::BadSignature => f.write_str("bad signature"),
            Error::UnsupportedAlgorithm => {
                f.write_str("unsupported algorithm (only SHA-256 with RSA 2048-4096)")
            }
            Error::TooComplex => f.write_str("too many certificates to check"),
            Error::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::Der => "DER encoding",
            Malformed::PeHeaders => "PE headers",
            Malformed::SectionTable => "PE section table",
            Malformed::CertificateTable => "certificate table",
            Malformed::Pkcs7 => "PKCS#7 SignedData",
            Malformed::SignerCertificate => "signer info (no certificate matches it)",
            Malformed::Certificate => "X.509 certificate",
            Malformed::IndirectData => "SpcIndirectDataContent",
            Malformed::Attributes => "signed attributes",
            Malformed::AuthDescriptor => "EFI_VARIABLE_AUTHENTICATION_2 descriptor",
            Malformed::Timestamp => "EFI_VARIABLE_AUTHENTICATION_2 timestamp",
        })
    }
}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        Error::Malformed(m)
    }
}

impl core::error::Error for Error {}
