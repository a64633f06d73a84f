//! virtio-mmio devices named on the command line, as the Linux kernel's
//! `virtio_mmio.device=<size>@<baseaddr>:<irq>[:<id>]` parameter describes
//! them (Linux `drivers/virtio/virtio_mmio.c`). Firecracker and QEMU
//! microvm with `acpi=off` announce their devices this way.

/// One virtio-mmio device window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDevice {
    /// Physical base address of the register window.
    pub base: u64,
    /// Size of the window in bytes.
    pub size: u64,
    /// Interrupt line (the firmware polls; kept for the OS and for logs).
    pub irq: u32,
}

/// Why a `virtio_mmio.device=` value was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioParseError {
    /// The value is not `<size>@<base>:<irq>[:<id>]`.
    Syntax,
    /// A number does not parse or overflows.
    Number,
    /// Zero size, or base + size wraps around.
    Range,
}

/// Parses a number the way the kernel's `memparse` does: decimal, `0x` hex
/// or leading-`0` octal, with an optional K/M/G/T suffix.
fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let v = parse_int(digits)?;
    v.checked_mul(1u64 << shift)
}

fn parse_int(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = s.strip_prefix('0').filter(|o| !o.is_empty()) {
        u64::from_str_radix(oct, 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses one `virtio_mmio.device=` value.
pub fn parse_virtio_mmio(value: &str) -> Result<MmioDevice, MmioParseError> {
    let (size, rest) = value.split_once('@').ok_or(MmioParseError::Syntax)?;
    let mut parts = rest.split(':');
    let base = parts.next().ok_or(MmioParseError::Syntax)?;
    let irq = parts.next().ok_or(MmioParseError::Syntax)?;
    // An optional platform device id may follow; more is an error.
    let _id = parts.next();
    if parts.next().is_some() {
        return Err(MmioParseError::Syntax);
    }
    let size = memparse(size).ok_or(MmioParseError::Number)?;
    let base = memparse(base).ok_or(MmioParseError::Number)?;
    let irq = parse_int(irq).and_then(|v| u32::try_from(v).ok()).ok_or(MmioParseError::Number)?;
    if size == 0 || base.checked_add(size).is_none() {
        return Err(MmioParseError::Range);
    }
    Ok(MmioDevice { base, size, irq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vmm_forms() {
        assert_eq!(
            parse_virtio_mmio("4K@0xd0000000:5"),
            Ok(MmioDevice { base: 0xd000_0000, size: 4096, irq: 5 })
        );
        assert_eq!(
            parse_virtio_mmio("512@0xfeb00e00:12"),
            Ok(MmioDevice { base: 0xfeb0_0e00, size: 512, irq: 12 })
        );
        assert_eq!(
            parse_virtio_mmio("0x1000@0xc0001000:7:3"),
            Ok(MmioDevice { base: 0xc000_1000, size: 4096, irq: 7 })
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in
            ["", "4K", "4K@", "4K@0xd0000000", "x@0x1:1", "4K@0xzz:1", "4K@1:1:2:3", "0@0x1000:1"]
        {
            assert!(parse_virtio_mmio(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_virtio_mmio("16T@0xffffffffffffffff:1"), Err(MmioParseError::Range));
        assert_eq!(parse_virtio_mmio("99999999999T@0x0:1"), Err(MmioParseError::Number));
    }
}
