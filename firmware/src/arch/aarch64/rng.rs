//! `RNDR` (FEAT_RNG, Armv8.5): random numbers from the CPU, where
//! ID_AA64ISAR0_EL1.RNDR says it exists.

use crate::arch::rng::Algorithm;

fn has_rndr() -> bool {
    let isar0: u64;
    // SAFETY: reads an ID register, no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack))
    };
    (isar0 >> 60) & 0xf != 0
}

/// `[ArmRndr]` when the CPU has RNDR, else nothing.
pub fn algorithms() -> alloc::vec::Vec<Algorithm> {
    if has_rndr() {
        alloc::vec![Algorithm::ArmRndr]
    } else {
        alloc::vec::Vec::new()
    }
}

/// One RNDR value, retried a bounded number of times.
fn rndr() -> Option<u64> {
    for _ in 0..32 {
        let (v, ok): (u64, u64);
        // SAFETY: RNDR (s3_3_c2_c4_0) exists (checked by the caller); it
        // sets Z on failure, which CSET turns into `ok` = 0.
        unsafe {
            core::arch::asm!(
                "mrs {v}, s3_3_c2_c4_0",
                "cset {ok}, ne",
                v = out(reg) v,
                ok = out(reg) ok,
                options(nomem, nostack)
            )
        };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}

/// Fills `buf` from RNDR; false when the CPU has none or it kept failing.
pub fn fill(alg: Algorithm, buf: &mut [u8]) -> bool {
    if alg != Algorithm::ArmRndr || !has_rndr() {
        return false;
    }
    for chunk in buf.chunks_mut(8) {
        let Some(v) = rndr() else { return false };
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    true
}
