//! The EFI GUID in its on-disk byte order.

use core::fmt;

/// An EFI GUID as stored in UEFI structures: the first three fields
/// little-endian, the last eight bytes as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The GUID written `d1-d2-d3-d4[0..2]-d4[2..8]` in text.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// `EFI_CERT_X509_GUID`: a signature list of DER X.509 certificates.
    pub const CERT_X509: Guid = Guid::from_fields(
        0xa5c0_59a1,
        0x94e4,
        0x4aa7,
        [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
    );
    /// `EFI_CERT_SHA256_GUID`: a signature list of SHA-256 hashes.
    pub const CERT_SHA256: Guid = Guid::from_fields(
        0xc1c4_1626,
        0x504c,
        0x4092,
        [0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28],
    );
    /// `EFI_CERT_TYPE_PKCS7_GUID`: the certificate type of an
    /// `EFI_VARIABLE_AUTHENTICATION_2` descriptor.
    pub const CERT_TYPE_PKCS7: Guid = Guid::from_fields(
        0x4aaf_d29d,
        0x68df,
        0x49ee,
        [0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7],
    );
    /// `EFI_IMAGE_SECURITY_DATABASE_GUID`: the vendor GUID of `db` and `dbx`.
    pub const IMAGE_SECURITY_DATABASE: Guid = Guid::from_fields(
        0xd719_b2cb,
        0x3d3a,
        0x4596,
        [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
    );
    /// `EFI_GLOBAL_VARIABLE`: the vendor GUID of `PK` and `KEK`.
    pub const GLOBAL_VARIABLE: Guid = Guid::from_fields(
        0x8be4_df61,
        0x93ca,
        0x11d2,
        [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
    );
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        for x in &b[10..] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}
