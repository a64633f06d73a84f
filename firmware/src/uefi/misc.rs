//! Small protocols: RNG (UEFI §37.5) from RDRAND/RDSEED.

use super::abi::guid;
use super::boot::{err, out, read, Efi, CORE};
use super::global::Shared;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use vmfw_efi::{Error, Guid};

pub fn init() {
    install_rng();
}

// ---------------------------------------------------------------------
// RNG.

/// `EFI_RNG_ALGORITHM_SP800_90_CTR_256_GUID`: what RDRAND delivers (the
/// output of the CPU's CTR_DRBG).
const ALG_CTR_DRBG_256: Guid = Guid::from_fields(
    0x44f0_de6e,
    0x4d8c,
    0x4045,
    [0xa8, 0xc7, 0x4d, 0xd1, 0x68, 0x85, 0x6b, 0x9e],
);

#[repr(C)]
struct Rng {
    get_info: usize,
    get_rng: usize,
}

static RNG: Shared<Rng> = Shared::new(Rng { get_info: 0, get_rng: 0 });

fn has_rdrand() -> bool {
    __cpuid(1).ecx & (1 << 30) != 0
}

fn has_rdseed() -> bool {
    __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0
}

/// The algorithms offered, default first.
fn algorithms() -> alloc::vec::Vec<Guid> {
    let mut v = alloc::vec::Vec::new();
    if has_rdrand() {
        v.push(ALG_CTR_DRBG_256);
    }
    if has_rdseed() {
        v.push(guid::RNG_ALGORITHM_RAW);
    }
    v
}

fn install_rng() {
    if algorithms().is_empty() {
        log::debug!("no RDRAND or RDSEED: no RNG protocol");
        return;
    }
    // SAFETY: written before guest code runs.
    unsafe {
        (*RNG.get()).get_info = rng_get_info as *const () as usize;
        (*RNG.get()).get_rng = rng_get_rng as *const () as usize;
    }
    let r = CORE.with(|c| c.db.install_protocol_interface(None, guid::RNG, RNG.addr()));
    if let Err(e) = r {
        log::warn!("cannot install the RNG protocol: {e}");
    }
}

extern "efiapi" fn rng_get_info(_this: *const Rng, size: *mut usize, list: *mut Guid) -> Efi {
    let algs = algorithms();
    let need = algs.len() * 16;
    let Ok(cap) = read(size) else { return err(Error::InvalidParameter) };
    if cap < need {
        let _ = out(size, need);
        return err(Error::BufferTooSmall);
    }
    if list.is_null() {
        return err(Error::InvalidParameter);
    }
    for (i, g) in algs.iter().enumerate() {
        // SAFETY: the caller's array has room for `cap / 16` GUIDs.
        unsafe { list.add(i).write_unaligned(*g) };
    }
    let _ = out(size, need);
    0
}

/// One 64-bit value from RDRAND or RDSEED, retried as Intel advises.
fn random(seed: bool) -> Option<u64> {
    for _ in 0..100 {
        let mut v = 0u64;
        // SAFETY: the instruction exists (checked by the caller via CPUID).
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

extern "efiapi" fn rng_get_rng(
    _this: *const Rng,
    alg: *const Guid,
    len: usize,
    value: *mut u8,
) -> Efi {
    if value.is_null() || len == 0 {
        return err(Error::InvalidParameter);
    }
    let algs = algorithms();
    let want = if alg.is_null() { algs.first().copied() } else { read(alg).ok() };
    let seed = match want {
        Some(g) if g == ALG_CTR_DRBG_256 && algs.contains(&g) => false,
        Some(g) if g == guid::RNG_ALGORITHM_RAW && algs.contains(&g) => true,
        _ => return err(Error::Unsupported),
    };
    // SAFETY: the caller's buffer of `len` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(value, len) };
    for chunk in buf.chunks_mut(8) {
        let Some(v) = random(seed) else { return err(Error::NotReady) };
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    0
}
