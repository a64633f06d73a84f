//! The Linux boot protocols as vmfw speaks them, on both sides: reading the
//! zero page a VMM hands to the firmware, and (later) building one for the
//! kernel the firmware boots.
//!
//! Reference: Linux `Documentation/arch/x86/boot.rst` and
//! `Documentation/arch/x86/zero-page.rst`.
#![no_std]
#![forbid(unsafe_code)]

pub mod zeropage;
