//! arm64 has no PCI configuration ports: configuration space is reached
//! through the ECAM windows the device tree describes.

/// No configuration mechanism #1.
pub const PRESENT: bool = false;

/// Never called ([`PRESENT`] is false).
pub fn read(_address: u32) -> u32 {
    u32::MAX
}

/// Never called ([`PRESENT`] is false).
pub fn write(_address: u32, _value: u32) {}
