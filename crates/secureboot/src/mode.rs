//! The Secure Boot mode (UEFI 2.10 §32.3, "Firmware/OS Key Exchange") and
//! the four read-only variables that report it.
//!
//! The spec's modes and their variable values:
//!
//! | mode     | `SetupMode` | `SecureBoot` | `AuditMode` | `DeployedMode` |
//! |----------|-------------|--------------|-------------|----------------|
//! | Setup    | 1           | 0            | 0           | 0              |
//! | User     | 0           | 1            | 0           | 0              |
//! | Audit    | 1           | 0            | 1           | 0              |
//! | Deployed | 0           | 1            | 0           | 1              |
//!
//! The mode follows from whether `PK` is enrolled and from the platform's
//! `AuditMode` and `DeployedMode` flags: without `PK` the platform is in
//! Setup mode, or Audit mode when `AuditMode` was set; with `PK` it is in
//! User mode, or Deployed mode when `DeployedMode` was set. Enrolling `PK`
//! while in Audit mode moves to Deployed mode (the spec's Audit → Deployed
//! transition), so `PK` with `AuditMode` set is Deployed mode too.

/// A Secure Boot mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No `PK`: key variables may be written without authentication and
    /// images are not verified.
    Setup,
    /// `PK` enrolled: images are verified.
    User,
    /// No `PK`, `AuditMode` set: images are verified and the results
    /// recorded, but all run.
    Audit,
    /// `PK` enrolled, `DeployedMode` set: images are verified, and the
    /// platform no longer offers to leave.
    Deployed,
}

/// The values of `SetupMode`, `SecureBoot`, `AuditMode` and
/// `DeployedMode` (each a one-byte variable of `EFI_GLOBAL_VARIABLE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeVariables {
    /// `SetupMode`.
    pub setup_mode: u8,
    /// `SecureBoot`.
    pub secure_boot: u8,
    /// `AuditMode`.
    pub audit_mode: u8,
    /// `DeployedMode`.
    pub deployed_mode: u8,
}

impl Mode {
    /// The mode for the platform's state.
    pub fn from_state(pk_enrolled: bool, deployed_mode: bool, audit_mode: bool) -> Self {
        match (pk_enrolled, deployed_mode || audit_mode, audit_mode) {
            (false, _, false) => Mode::Setup,
            (false, _, true) => Mode::Audit,
            (true, false, _) => Mode::User,
            (true, true, _) => Mode::Deployed,
        }
    }

    /// The variables reporting this mode.
    pub fn variables(self) -> ModeVariables {
        let v = |setup_mode, secure_boot, audit_mode, deployed_mode| ModeVariables {
            setup_mode,
            secure_boot,
            audit_mode,
            deployed_mode,
        };
        match self {
            Mode::Setup => v(1, 0, 0, 0),
            Mode::User => v(0, 1, 0, 0),
            Mode::Audit => v(1, 0, 1, 0),
            Mode::Deployed => v(0, 1, 0, 1),
        }
    }

    /// True when `LoadImage` must refuse images that fail verification
    /// (User and Deployed mode).
    pub fn enforces(self) -> bool {
        matches!(self, Mode::User | Mode::Deployed)
    }
}
