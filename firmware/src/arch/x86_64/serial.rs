//! COM1, a 16550 UART at port 0x3f8, polled (no interrupts).
//!
//! Every port access is a VM exit, so the console writes in bursts: it
//! asks [`tx_room`] once per FIFO load (one line-status read per 16
//! bytes), not before every byte.

use super::io::{inb, outb};

const COM1: u16 = 0x3f8;
const FIFO_DEPTH: usize = 16;
const LSR_DATA_READY: u8 = 1;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Programs COM1 for 115200 8N1 with FIFOs. Every x86 VMM has COM1, so
/// this always reports a UART.
pub fn init() -> bool {
    // SAFETY: COM1's registers; the UART does no DMA.
    unsafe {
        outb(COM1 + 1, 0x00); // IER: no interrupts
        outb(COM1 + 3, 0x80); // LCR: DLAB to set the divisor
        outb(COM1, 0x01); // divisor 1 = 115200 baud
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8N1, DLAB off
        outb(COM1 + 2, 0xc7); // FIFO on, cleared, 14-byte threshold
        outb(COM1 + 4, 0x03); // DTR, RTS
    }
    true
}

/// Reads one received byte, if any (never waits).
pub fn rx() -> Option<u8> {
    // SAFETY: COM1 line status and receive buffer registers.
    unsafe { (inb(COM1 + 5) & LSR_DATA_READY != 0).then(|| inb(COM1)) }
}

/// Waits until the transmit FIFO is empty and returns its depth. The wait
/// is bounded: a missing or wedged UART must not hang the firmware (the
/// bytes written then are lost, which is all that can be done).
pub fn tx_room() -> usize {
    for _ in 0..100_000 {
        // SAFETY: COM1 line status register read.
        if unsafe { inb(COM1 + 5) } & LSR_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    FIFO_DEPTH
}

/// Puts one byte into the transmit FIFO (the caller asked [`tx_room`]).
pub fn tx(byte: u8) {
    // SAFETY: COM1 transmit holding register.
    unsafe { outb(COM1, byte) };
}
