//! Power control through PSCI (Arm DEN0022, Power State Coordination
//! Interface): `SYSTEM_OFF` and `SYSTEM_RESET`, called through the conduit
//! the device tree's PSCI node names (`hvc` under a hypervisor, `smc` with
//! secure firmware). Runtime-safe: one atomic read and a hypervisor call.

use core::sync::atomic::{AtomicU8, Ordering};

/// How PSCI calls are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

const NONE: u8 = 0;
const HVC: u8 = 1;
const SMC: u8 = 2;
static CONDUIT: AtomicU8 = AtomicU8::new(NONE);

const SYSTEM_OFF: u64 = 0x8400_0008;
const SYSTEM_RESET: u64 = 0x8400_0009;

/// Records the conduit (from the device tree).
pub fn set_conduit(c: Conduit) {
    CONDUIT.store(if c == Conduit::Hvc { HVC } else { SMC }, Ordering::Relaxed);
}

/// Makes the PSCI call `function` with no arguments; false without a
/// conduit. Returns (if at all) when the call failed.
fn call(function: u64) -> bool {
    let mut x0 = function;
    match CONDUIT.load(Ordering::Relaxed) {
        // SAFETY: a PSCI call per SMCCC: the function ID in x0, results in
        // x0-x3, x4-x17 not preserved (covered by the C ABI's clobbers);
        // SYSTEM_OFF/SYSTEM_RESET do not return on success.
        HVC => unsafe {
            core::arch::asm!("hvc #0", inout("x0") x0, clobber_abi("C"), options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        SMC => unsafe {
            core::arch::asm!("smc #0", inout("x0") x0, clobber_abi("C"), options(nostack))
        },
        _ => return false,
    }
    let _ = x0;
    true
}

/// PSCI `SYSTEM_OFF`.
pub fn off(mut settle: impl FnMut()) {
    if call(SYSTEM_OFF) {
        settle();
    }
}

/// Nothing after the ACPI reset register on arm64.
pub fn off_last(_settle: impl FnMut()) {}

/// PSCI `SYSTEM_RESET`.
pub fn reset(mut settle: impl FnMut()) {
    if call(SYSTEM_RESET) {
        settle();
    }
}

/// Nothing stopped the VM: halt this CPU.
pub fn stop() -> ! {
    super::halt()
}
