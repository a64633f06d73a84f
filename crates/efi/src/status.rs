//! `EFI_STATUS` values (UEFI Appendix D) and the crate's [`Error`].
//!
//! `EFI_STATUS` is a `UINTN`: success and warnings have the high bit clear,
//! errors have it set. [`Error`] names every error code this crate can
//! produce (and the other common ones), one variant per code, so that
//! `Error -> Status` is a plain table and `Status -> Error` its inverse.

/// An `EFI_STATUS` value, as the ABI passes it (`UINTN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Status(pub usize);

/// The high bit of a `UINTN`: set in every error code (UEFI Appendix D).
pub const ERROR_BIT: usize = 1 << (usize::BITS - 1);

const fn err(code: usize) -> Status {
    Status(ERROR_BIT | code)
}

impl Status {
    /// The operation completed successfully.
    pub const SUCCESS: Status = Status(0);
    /// The image failed to load.
    pub const LOAD_ERROR: Status = err(1);
    /// A parameter was incorrect.
    pub const INVALID_PARAMETER: Status = err(2);
    /// The operation is not supported.
    pub const UNSUPPORTED: Status = err(3);
    /// The buffer was not the proper size for the request.
    pub const BAD_BUFFER_SIZE: Status = err(4);
    /// The buffer is not large enough to hold the requested data.
    pub const BUFFER_TOO_SMALL: Status = err(5);
    /// There is no data pending upon return.
    pub const NOT_READY: Status = err(6);
    /// The physical device reported an error.
    pub const DEVICE_ERROR: Status = err(7);
    /// The device cannot be written to.
    pub const WRITE_PROTECTED: Status = err(8);
    /// A resource has run out.
    pub const OUT_OF_RESOURCES: Status = err(9);
    /// The file system's structures are inconsistent.
    pub const VOLUME_CORRUPTED: Status = err(10);
    /// There is no more room on the file system.
    pub const VOLUME_FULL: Status = err(11);
    /// The item was not found.
    pub const NOT_FOUND: Status = err(14);
    /// Access was denied.
    pub const ACCESS_DENIED: Status = err(15);
    /// A timeout time expired.
    pub const TIMEOUT: Status = err(18);
    /// The protocol has not been started.
    pub const NOT_STARTED: Status = err(19);
    /// The protocol has already been started.
    pub const ALREADY_STARTED: Status = err(20);
    /// The operation was aborted.
    pub const ABORTED: Status = err(21);
    /// The function encountered an internal version that was incompatible.
    pub const INCOMPATIBLE_VERSION: Status = err(25);
    /// The function was not performed due to a security violation.
    pub const SECURITY_VIOLATION: Status = err(26);
    /// The language specified was invalid.
    pub const INVALID_LANGUAGE: Status = err(32);

    /// True when the high (error) bit is set.
    pub const fn is_error(self) -> bool {
        self.0 & ERROR_BIT != 0
    }

    /// The [`Error`] this status names, or `None` for success, warnings
    /// and error codes this crate does not name.
    pub fn to_error(self) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.status() == self)
    }
}

/// Every way an operation of this crate fails; each variant is exactly
/// one `EFI_STATUS` error code (see [`Error::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// `EFI_LOAD_ERROR`.
    LoadError,
    /// `EFI_INVALID_PARAMETER`.
    InvalidParameter,
    /// `EFI_UNSUPPORTED`.
    Unsupported,
    /// `EFI_BAD_BUFFER_SIZE`.
    BadBufferSize,
    /// `EFI_BUFFER_TOO_SMALL`. Functions that fail this way also report
    /// the size they need (see their documentation).
    BufferTooSmall,
    /// `EFI_NOT_READY`.
    NotReady,
    /// `EFI_DEVICE_ERROR`.
    DeviceError,
    /// `EFI_WRITE_PROTECTED`.
    WriteProtected,
    /// `EFI_OUT_OF_RESOURCES`.
    OutOfResources,
    /// `EFI_VOLUME_CORRUPTED`.
    VolumeCorrupted,
    /// `EFI_VOLUME_FULL`.
    VolumeFull,
    /// `EFI_NOT_FOUND`.
    NotFound,
    /// `EFI_ACCESS_DENIED`.
    AccessDenied,
    /// `EFI_TIMEOUT`.
    Timeout,
    /// `EFI_NOT_STARTED`.
    NotStarted,
    /// `EFI_ALREADY_STARTED`.
    AlreadyStarted,
    /// `EFI_ABORTED`.
    Aborted,
    /// `EFI_INCOMPATIBLE_VERSION`.
    IncompatibleVersion,
    /// `EFI_SECURITY_VIOLATION`.
    SecurityViolation,
    /// `EFI_INVALID_LANGUAGE`.
    InvalidLanguage,
}

impl Error {
    /// Every variant, for the reverse mapping.
    pub const ALL: [Error; 20] = [
        Error::LoadError,
        Error::InvalidParameter,
        Error::Unsupported,
        Error::BadBufferSize,
        Error::BufferTooSmall,
        Error::NotReady,
        Error::DeviceError,
        Error::WriteProtected,
        Error::OutOfResources,
        Error::VolumeCorrupted,
        Error::VolumeFull,
        Error::NotFound,
        Error::AccessDenied,
        Error::Timeout,
        Error::NotStarted,
        Error::AlreadyStarted,
        Error::Aborted,
        Error::IncompatibleVersion,
        Error::SecurityViolation,
        Error::InvalidLanguage,
    ];

    /// The `EFI_STATUS` for this error.
    pub const fn status(self) -> Status {
        match self {
            Error::LoadError => Status::LOAD_ERROR,
            Error::InvalidParameter => Status::INVALID_PARAMETER,
            Error::Unsupported => Status::UNSUPPORTED,
            Error::BadBufferSize => Status::BAD_BUFFER_SIZE,
            Error::BufferTooSmall => Status::BUFFER_TOO_SMALL,
            Error::NotReady => Status::NOT_READY,
            Error::DeviceError => Status::DEVICE_ERROR,
            Error::WriteProtected => Status::WRITE_PROTECTED,
            Error::OutOfResources => Status::OUT_OF_RESOURCES,
            Error::VolumeCorrupted => Status::VOLUME_CORRUPTED,
            Error::VolumeFull => Status::VOLUME_FULL,
            Error::NotFound => Status::NOT_FOUND,
            Error::AccessDenied => Status::ACCESS_DENIED,
            Error::Timeout => Status::TIMEOUT,
            Error::NotStarted => Status::NOT_STARTED,
            Error::AlreadyStarted => Status::ALREADY_STARTED,
            Error::Aborted => Status::ABORTED,
            Error::IncompatibleVersion => Status::INCOMPATIBLE_VERSION,
            Error::SecurityViolation => Status::SECURITY_VIOLATION,
            Error::InvalidLanguage => Status::INVALID_LANGUAGE,
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        e.status()
    }
}

impl<T> From<Result<T>> for Status {
    fn from(r: Result<T>) -> Status {
        match r {
            Ok(_) => Status::SUCCESS,
            Err(e) => e.status(),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::LoadError => "load error",
            Error::InvalidParameter => "invalid parameter",
            Error::Unsupported => "unsupported",
            Error::BadBufferSize => "bad buffer size",
            Error::BufferTooSmall => "buffer too small",
            Error::NotReady => "not ready",
            Error::DeviceError => "device error",
            Error::WriteProtected => "write protected",
            Error::OutOfResources => "out of resources",
            Error::VolumeCorrupted => "volume corrupted",
            Error::VolumeFull => "volume full",
            Error::NotFound => "not found",
            Error::AccessDenied => "access denied",
            Error::Timeout => "timeout",
            Error::NotStarted => "not started",
            Error::AlreadyStarted => "already started",
            Error::Aborted => "aborted",
            Error::IncompatibleVersion => "incompatible version",
            Error::SecurityViolation => "security violation",
            Error::InvalidLanguage => "invalid language",
        })
    }
}

/// An error together with a size: what a call that can fail with
/// `EFI_BUFFER_TOO_SMALL` returns, so the shim can report the size needed
/// (`required` is meaningful only for [`Error::BufferTooSmall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizedError {
    /// The error.
    pub error: Error,
    /// For `BufferTooSmall`: the size (in the call's unit) needed.
    pub required: usize,
}

impl From<Error> for SizedError {
    fn from(error: Error) -> Self {
        Self { error, required: 0 }
    }
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_values_on_64_bit() {
        if usize::BITS == 64 {
            assert_eq!(Status::INVALID_PARAMETER.0, 0x8000_0000_0000_0002);
            assert_eq!(Status::BUFFER_TOO_SMALL.0, 0x8000_0000_0000_0005);
            assert_eq!(Status::OUT_OF_RESOURCES.0, 0x8000_0000_0000_0009);
            assert_eq!(Status::NOT_FOUND.0, 0x8000_0000_0000_000e);
            assert_eq!(Status::ALREADY_STARTED.0, 0x8000_0000_0000_0014);
            assert_eq!(Status::SECURITY_VIOLATION.0, 0x8000_0000_0000_001a);
            assert_eq!(Status::INVALID_LANGUAGE.0, 0x8000_0000_0000_0020);
        }
        assert!(!Status::SUCCESS.is_error());
    }

    #[test]
    fn mapping_is_one_to_one() {
        for e in Error::ALL {
            assert!(e.status().is_error());
            assert_eq!(e.status().to_error(), Some(e));
        }
        assert_eq!(Status::SUCCESS.to_error(), None);
        assert_eq!(Status::from(Ok::<(), Error>(())), Status::SUCCESS);
        assert_eq!(Status::from(Err::<(), _>(Error::NotFound)), Status::NOT_FOUND);
    }
}
