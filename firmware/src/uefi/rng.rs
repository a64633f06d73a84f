//! `EFI_RNG_PROTOCOL` (UEFI §37.5) from the CPU's random number
//! instructions, reached through the arch layer.

use super::abi::{guid, RngProtocol};
use super::ffi::{err, guid as guid_arg, out, read, Efi, SUCCESS};
use super::global::Interface;
use super::state::BOOT;
use crate::arch::rng;
use alloc::vec::Vec;
use uefi_raw::protocol::rng::RngAlgorithmType;
use vmfw_efi::{Error, Guid};

static RNG: Interface<RngProtocol> =
    Interface(RngProtocol { get_info: rng_get_info, get_rng: rng_get_rng });

/// The GUID of an algorithm (UEFI §37.5.3).
fn guid_of(a: rng::Algorithm) -> Guid {
    match a {
        rng::Algorithm::CtrDrbg256 => guid::RNG_ALGORITHM_CTR_DRBG_256,
        rng::Algorithm::Raw => guid::RNG_ALGORITHM_RAW,
        rng::Algorithm::ArmRndr => guid::RNG_ALGORITHM_ARM_RNDR,
    }
}

/// The algorithms offered, default first.
fn algorithms() -> Vec<(Guid, rng::Algorithm)> {
    rng::algorithms().into_iter().map(|a| (guid_of(a), a)).collect()
}

/// Installs the protocol when the CPU has a random number source.
pub fn install() {
    if algorithms().is_empty() {
        log::debug!("no hardware random number source: no RNG protocol");
        return;
    }
    let r = BOOT.with(|b| b.db.install_protocol_interface(None, guid::RNG, RNG.addr()));
    if let Err(e) = r {
        crate::warn!("cannot install the RNG protocol: {e}");
    }
}

unsafe extern "efiapi" fn rng_get_info(
    _this: *mut RngProtocol,
    size: *mut usize,
    list: *mut RngAlgorithmType,
) -> Efi {
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
    for (i, (g, _)) in algs.iter().enumerate() {
        // SAFETY: the caller's array has room for `cap / 16` GUIDs.
        unsafe { list.cast::<[u8; 16]>().add(i).write_unaligned(g.to_bytes()) };
    }
    let _ = out(size, need);
    SUCCESS
}

unsafe extern "efiapi" fn rng_get_rng(
    _this: *mut RngProtocol,
    alg: *const RngAlgorithmType,
    len: usize,
    value: *mut u8,
) -> Efi {
    if value.is_null() || len == 0 {
        return err(Error::InvalidParameter);
    }
    let algs = algorithms();
    let want = if alg.is_null() { algs.first().map(|a| a.0) } else { guid_arg(alg.cast()).ok() };
    let Some(&(_, source)) = algs.iter().find(|a| Some(a.0) == want) else {
        return err(Error::Unsupported);
    };
    // SAFETY: the caller's buffer of `len` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(value, len) };
    if rng::fill(source, buf) {
        SUCCESS
    } else {
        err(Error::NotReady)
    }
}
