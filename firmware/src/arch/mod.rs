//! Architecture support. Only x86_64 exists so far; aarch64 comes next.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;
