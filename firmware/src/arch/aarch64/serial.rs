//! The console: the PL011 UART that `/chosen/stdout-path` names (ARM
//! PrimeCell UART (PL011) Technical Reference Manual), polled.
//!
//! The base address is set once by the entry shim from the device tree;
//! until then (and without one) there is no console. The baud rate is left
//! as the VMM set it up: the UART's reference clock is not known here, and
//! virtual UARTs ignore it.

use core::sync::atomic::{AtomicU64, Ordering};

static BASE: AtomicU64 = AtomicU64::new(0);

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const LCR_H: u64 = 0x2c;
const CR: u64 = 0x30;
const IMSC: u64 = 0x38;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const FR_TXFE: u32 = 1 << 7;
/// The PL011's transmit FIFO holds 16 bytes (32 in r1p5).
const FIFO_DEPTH: usize = 16;

/// Sets the UART's register base (mapped as device memory by the caller).
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

fn reg(offset: u64) -> Option<*mut u32> {
    let base = BASE.load(Ordering::Relaxed);
    (base != 0).then_some((base + offset) as *mut u32)
}

fn read(offset: u64) -> u32 {
    // SAFETY: a PL011 register in the window the device tree named,
    // mapped as device memory; reads have no memory effects.
    reg(offset).map_or(0, |r| unsafe { core::ptr::read_volatile(r) })
}

fn write(offset: u64, value: u32) {
    if let Some(r) = reg(offset) {
        // SAFETY: as for `read`; the UART does no DMA.
        unsafe { core::ptr::write_volatile(r, value) }
    }
}

/// Enables the UART for 8N1 with FIFOs, interrupts masked. False when the
/// device tree named no PL011.
pub fn init() -> bool {
    if reg(0).is_none() {
        return false;
    }
    write(IMSC, 0);
    write(LCR_H, 0x70); // 8 bits, FIFOs on
    write(CR, 0x301); // UART, transmit and receive enabled
    true
}

/// One received byte, if any; never waits.
pub fn rx() -> Option<u8> {
    reg(0)?;
    (read(FR) & FR_RXFE == 0).then(|| read(DR) as u8)
}

/// Waits (bounded) until the transmit FIFO is empty and returns its depth.
pub fn tx_room() -> usize {
    if reg(0).is_none() {
        return FIFO_DEPTH;
    }
    for _ in 0..100_000 {
        if read(FR) & FR_TXFE != 0 {
            return FIFO_DEPTH;
        }
        core::hint::spin_loop();
    }
    // Not empty after a long wait: a byte at a time if there is room.
    usize::from(read(FR) & FR_TXFF == 0)
}

/// Puts one byte into the transmit FIFO.
pub fn tx(byte: u8) {
    write(DR, u32::from(byte));
}
