//! Hardware random numbers from RDRAND and RDSEED (Intel SDM vol. 1,
//! §7.3.17; AMD has both too).
//!
//! RDRAND returns the output of the CPU's SP 800-90A CTR_DRBG (AES-256);
//! RDSEED returns conditioned entropy-source output, for seeding other
//! generators. Both may fail transiently when drained; Intel advises a
//! bounded retry.

use super::io::cpuid;
use crate::arch::rng::Algorithm;

fn has_rdrand() -> bool {
    cpuid(1).2 & (1 << 30) != 0
}

fn has_rdseed() -> bool {
    cpuid(0).0 >= 7 && cpuid(7).1 & (1 << 18) != 0
}

/// The algorithms this CPU offers, preferred first: RDRAND's DRBG, then
/// RDSEED's raw output.
pub fn algorithms() -> alloc::vec::Vec<Algorithm> {
    let mut v = alloc::vec::Vec::new();
    if has_rdrand() {
        v.push(Algorithm::CtrDrbg256);
    }
    if has_rdseed() {
        v.push(Algorithm::Raw);
    }
    v
}

/// One 64-bit value, retried up to 100 times. The caller checked by
/// CPUID that the instruction exists.
fn random(seed: bool) -> Option<u64> {
    for _ in 0..100 {
        let mut v = 0u64;
        // SAFETY: the instruction exists (the caller checked CPUID); it
        // writes only `v`.
        let ok = unsafe {
            if seed {
                core::arch::x86_64::_rdseed64_step(&mut v)
            } else {
                core::arch::x86_64::_rdrand64_step(&mut v)
            }
        };
        if ok == 1 {
            return Some(v);
        }
    }
    None
}

/// Fills `buf` from `alg`; false when the CPU lacks it or it kept failing.
pub fn fill(alg: Algorithm, buf: &mut [u8]) -> bool {
    let seed = match alg {
        Algorithm::CtrDrbg256 if has_rdrand() => false,
        Algorithm::Raw if has_rdseed() => true,
        _ => return false,
    };
    for chunk in buf.chunks_mut(8) {
        let Some(v) = random(seed) else { return false };
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    true
}
