//! The Fixed ACPI Description Table (ACPI 6.5 §5.2.9): where the power
//! management and reset registers are.

use crate::Error;
use vmfw_bytes::{u32_at, u64_at, u8_at};

/// Address space of a [`Gas`] (ACPI 6.5 §5.2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasSpace {
    /// System memory (MMIO).
    Memory,
    /// System I/O ports.
    Io,
    /// Anything vmfw does not drive (PCI config, embedded controller...).
    Other(u8),
}

/// A Generic Address Structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gas {
    /// Where the register lives.
    pub space: GasSpace,
    /// Register width in bits (0 = unspecified).
    pub bit_width: u8,
    /// Address in that space.
    pub address: u64,
}

impl Gas {
    fn parse(b: &[u8], off: usize) -> Option<Gas> {
        let space = match u8_at(b, off)? {
            0 => GasSpace::Memory,
            1 => GasSpace::Io,
            o => GasSpace::Other(o),
        };
        let address = u64_at(b, off + 4)?;
        (address != 0).then_some(Gas { space, bit_width: u8_at(b, off + 1)?, address })
    }

    fn io(port: u32) -> Option<Gas> {
        (port != 0).then_some(Gas { space: GasSpace::Io, bit_width: 16, address: u64::from(port) })
    }
}

/// The FADT fields vmfw uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fadt {
    /// Physical address of the DSDT (X_DSDT preferred when set).
    pub dsdt: u64,
    /// FADT flags.
    pub flags: u32,
    /// PM1a control block.
    pub pm1a_cnt: Option<Gas>,
    /// PM1b control block.
    pub pm1b_cnt: Option<Gas>,
    /// Sleep control register (hardware-reduced ACPI).
    pub sleep_control: Option<Gas>,
    /// Reset register and the value to write to it.
    pub reset: Option<(Gas, u8)>,
}

/// FADT flag: the platform has no fixed hardware (PM1 blocks); sleep goes
/// through the sleep control register instead.
pub const HW_REDUCED_ACPI: u32 = 1 << 20;
/// FADT flag: RESET_REG is supported.
pub const RESET_REG_SUP: u32 = 1 << 10;

impl Fadt {
    /// Parses a whole FADT (header included). Fields past the table's end,
    /// as in older revisions, read as absent.
    pub fn parse(t: &[u8]) -> Result<Fadt, Error> {
        let dsdt32 = u32_at(t, 40).ok_or(Error::TooShort(*b"FACP"))?;
        // Deliberate zeros: a FADT too old to have X_DSDT (ACPI 2.0) or
        // Flags means what 0 means there, "use the 32-bit DSDT" and "no
        // flags set".
        let x_dsdt = u64_at(t, 140).unwrap_or(0);
        let flags = u32_at(t, 112).unwrap_or(0);
        let pick = |x: usize, legacy: usize| {
            Gas::parse(t, x).or_else(|| u32_at(t, legacy).and_then(Gas::io))
        };
        let reset =
            if flags & RESET_REG_SUP != 0 { Gas::parse(t, 116).zip(u8_at(t, 128)) } else { None };
        Ok(Fadt {
            dsdt: if x_dsdt != 0 { x_dsdt } else { u64::from(dsdt32) },
            flags,
            pm1a_cnt: pick(172, 64),
            pm1b_cnt: pick(184, 68),
            sleep_control: Gas::parse(t, 244),
            reset,
        })
    }
}

/// What to write where to enter S5 (soft off) or reset the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerControl {
    /// Register writes that enter S5, in order: (register, value).
    pub s5_writes: [Option<(Gas, u16)>; 2],
    /// Reset register and value, when the platform has one.
    pub reset: Option<(Gas, u8)>,
}

impl PowerControl {
    /// Combines the FADT with the `\_S5_` sleep types (SLP_TYPa, SLP_TYPb).
    pub fn new(fadt: &Fadt, s5: Result<(u8, u8), Error>) -> PowerControl {
        const SLP_EN: u16 = 1 << 13;
        let mut s5_writes = [None, None];
        if let Ok((a, b)) = s5 {
            if fadt.flags & HW_REDUCED_ACPI != 0 {
                // ACPI 6.5 §4.8.3.7: SLP_TYPx in bits 4:2, SLP_EN bit 5.
                s5_writes[0] = fadt.sleep_control.map(|g| (g, (u16::from(a & 7) << 2) | (1 << 5)));
            } else {
                // ACPI 6.5 §4.8.3.2.1: SLP_TYPx in bits 12:10, SLP_EN bit 13.
                s5_writes[0] = fadt.pm1a_cnt.map(|g| (g, (u16::from(a & 7) << 10) | SLP_EN));
                s5_writes[1] = fadt.pm1b_cnt.map(|g| (g, (u16::from(b & 7) << 10) | SLP_EN));
            }
        }
        PowerControl { s5_writes, reset: fadt.reset }
    }
}
