//! PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): the
//! address goes to port 0xCF8, the data moves through port 0xCFC. It
//! reaches the first 256 bytes of each function on segment 0.

use super::io;

/// Every x86 VMM with PCI decodes these ports.
pub const PRESENT: bool = true;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Reads the configuration dword `address` selects (enable bit, bus,
/// device, function, register).
pub fn read(address: u32) -> u32 {
    // SAFETY: the PCI configuration address and data ports; a read of
    // configuration space has no memory effects.
    unsafe {
        io::outl(CONFIG_ADDRESS, address);
        io::inl(CONFIG_DATA)
    }
}

/// Writes the configuration dword `address` selects.
pub fn write(address: u32, value: u32) {
    // SAFETY: the PCI configuration address and data ports; callers only
    // write registers of functions the firmware drives (BARs, command).
    unsafe {
        io::outl(CONFIG_ADDRESS, address);
        io::outl(CONFIG_DATA, value);
    }
}
