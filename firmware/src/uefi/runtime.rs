//! `EFI_RUNTIME_SERVICES` (UEFI §8): time on the platform's RTC, the
//! variable store, reset, the high monotonic count. Only the capsule
//! services answer `EFI_UNSUPPORTED`. `SetVirtualAddressMap()` and
//! `ConvertPointer()` change the tables and live in `tables`.
//!
//! Everything here may run after `ExitBootServices()`, called by the OS
//! on its own stack and page tables: code and statics live in the firmware
//! image (runtime services code and data in the memory map), allocations
//! come from the runtime heap, hardware is reached through the arch
//! layer's runtime-safe accessors only, and nothing is logged above debug
//! level.

use super::ffi::{boolean, err, guid, out, read, sized_error, status, utf16_arg, Efi};
use super::nvram;
use super::state::RUNTIME;
use crate::arch::rtc;
use uefi_raw::capsule::CapsuleHeader;
use uefi_raw::table::runtime::{ResetType, TimeCapabilities, VariableAttributes};
use uefi_raw::time::Time as RawTime;
use uefi_raw::{Boolean, Guid as RawGuid, Status as RawStatus};
use vmfw_efi::time::Time;
use vmfw_efi::{Error, Guid, Result, VariableStore};

// ---------------------------------------------------------------------
// Time.

fn time_in(p: *const RawTime) -> Result<Time> {
    read(p.cast::<[u8; 16]>()).map(|b| Time::from_bytes(&b))
}

fn time_out(p: *mut RawTime, tm: &Time) -> Result<()> {
    out(p.cast::<[u8; 16]>(), tm.to_bytes())
}

fn with_zone(mut tm: Time) -> Time {
    (tm.timezone, tm.daylight) = RUNTIME.with(|r| r.timezone);
    tm
}

pub unsafe extern "efiapi" fn get_time(time: *mut RawTime, caps: *mut TimeCapabilities) -> Efi {
    status(get_time_impl(time, caps))
}

fn get_time_impl(time: *mut RawTime, caps: *mut TimeCapabilities) -> Result<()> {
    if time.is_null() {
        return Err(Error::InvalidParameter);
    }
    let tm = with_zone(rtc::get_time()?);
    time_out(time, &tm)?;
    if !caps.is_null() {
        out(caps.cast::<[u8; 12]>(), rtc::capabilities().to_bytes())?;
    }
    Ok(())
}

pub unsafe extern "efiapi" fn set_time(time: *const RawTime) -> Efi {
    status(set_time_impl(time))
}

fn set_time_impl(time: *const RawTime) -> Result<()> {
    let tm = time_in(time)?;
    tm.validate()?;
    rtc::set_time(&tm)?;
    RUNTIME.with(|r| r.timezone = (tm.timezone, tm.daylight));
    Ok(())
}

pub unsafe extern "efiapi" fn get_wakeup_time(
    enabled: *mut Boolean,
    pending: *mut Boolean,
    time: *mut RawTime,
) -> Efi {
    status(get_wakeup_time_impl(enabled, pending, time))
}

fn get_wakeup_time_impl(
    enabled: *mut Boolean,
    pending: *mut Boolean,
    time: *mut RawTime,
) -> Result<()> {
    if enabled.is_null() || pending.is_null() || time.is_null() {
        return Err(Error::InvalidParameter);
    }
    let w = rtc::get_wakeup()?;
    out(enabled, Boolean(u8::from(w.enabled)))?;
    out(pending, Boolean(u8::from(w.pending)))?;
    time_out(time, &with_zone(w.time))
}

pub unsafe extern "efiapi" fn set_wakeup_time(enable: Boolean, time: *const RawTime) -> Efi {
    status(set_wakeup_time_impl(boolean(enable), time))
}

fn set_wakeup_time_impl(enable: bool, time: *const RawTime) -> Result<()> {
    if !enable {
        return rtc::set_wakeup(None);
    }
    let tm = time_in(time)?;
    tm.validate()?;
    rtc::set_wakeup(Some(&tm))
}

// ---------------------------------------------------------------------
// Variables.

const MAX_NAME: usize = 1024;

pub unsafe extern "efiapi" fn get_variable(
    name: *const u16,
    vendor: *const RawGuid,
    attributes: *mut VariableAttributes,
    size: *mut usize,
    data: *mut u8,
) -> Efi {
    status(get_variable_impl(name, vendor, attributes.cast(), size, data))
}

fn get_variable_impl(
    name: *const u16,
    vendor: *const RawGuid,
    attributes: *mut u32,
    size: *mut usize,
    data: *mut u8,
) -> Result<()> {
    let name = utf16_arg(name, MAX_NAME)?;
    let g = guid(vendor)?;
    let cap = read(size)?;
    match RUNTIME.with(|r| r.vars.get_variable(&name, g, cap)) {
        Ok((attr, bytes)) => {
            if data.is_null() && !bytes.is_empty() {
                return Err(Error::InvalidParameter);
            }
            // SAFETY: the caller's buffer of `cap >= bytes.len()` bytes.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len()) };
            out(size, bytes.len())?;
            if !attributes.is_null() {
                out(attributes, attr)?;
            }
            Ok(())
        }
        Err(e) => sized_error(size, e, 1),
    }
}

pub unsafe extern "efiapi" fn get_next_variable_name(
    size: *mut usize,
    name: *mut u16,
    vendor: *mut RawGuid,
) -> Efi {
    status(get_next_variable_name_impl(size, name, vendor))
}

fn get_next_variable_name_impl(
    size: *mut usize,
    name: *mut u16,
    vendor: *mut RawGuid,
) -> Result<()> {
    let cap = read(size)?;
    // The current name must end with a NUL inside the buffer (UEFI 2.10
    // §8.2).
    let prev = utf16_arg(name, cap / 2)?;
    let g = guid(vendor)?;
    match RUNTIME.with(|r| r.vars.get_next_variable_name(&prev, g, cap)) {
        Ok((next, ng)) => {
            for (i, u) in next.iter().chain(core::iter::once(&0)).enumerate() {
                // SAFETY: the store checked that name and NUL fit in `cap`
                // bytes.
                unsafe { name.add(i).write_unaligned(*u) };
            }
            out(vendor, super::ffi::raw_guid(ng))?;
            out(size, (next.len() + 1) * 2)
        }
        Err(e) => sized_error(size, e, 1),
    }
}

pub unsafe extern "efiapi" fn set_variable(
    name: *const u16,
    vendor: *const RawGuid,
    attributes: VariableAttributes,
    size: usize,
    data: *const u8,
) -> Efi {
    status(set_variable_impl(name, vendor, attributes.bits(), size, data))
}

fn set_variable_impl(
    name: *const u16,
    vendor: *const RawGuid,
    attributes: u32,
    size: usize,
    data: *const u8,
) -> Result<()> {
    let name = utf16_arg(name, MAX_NAME)?;
    let g = guid(vendor)?;
    // SAFETY: the caller's buffer of `size` bytes (NULL only with 0).
    let bytes = unsafe { super::ffi::buffer(data, size) }?;
    #[cfg(feature = "secure-boot")]
    if let Some(e) = super::secureboot::authenticated_write(&name, g, attributes, bytes) {
        return Err(e);
    }
    set_and_save(&name, g, attributes, bytes)
}

/// `SetVariable()` on the store, then saving the non-volatile variables
/// when one of them changed: the RAM slot under the runtime lock, the
/// variable file after it (the file lives on the boot manager's disks).
pub fn set_and_save(name: &[u16], g: Guid, attributes: u32, data: &[u8]) -> Result<()> {
    let saved = RUNTIME.with(|r| -> Result<Option<nvram::Image>> {
        let nv = vmfw_efi::variables::NON_VOLATILE;
        let was_nv = r.vars.get_variable(name, g, usize::MAX).is_ok_and(|(a, _)| a & nv != 0);
        r.vars.set_variable(name, g, attributes, data)?;
        Ok((was_nv || attributes & nv != 0).then(|| nvram::save_ram(r)).flatten())
    })?;
    if let Some(img) = saved {
        nvram::save_file(&img);
    }
    Ok(())
}

/// A global variable's data (for the boot manager).
pub fn get_global(name: &str) -> Option<alloc::vec::Vec<u8>> {
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    let n = vmfw_efi::variables::utf16(name);
    RUNTIME.with(|r| r.vars.get_variable(&n, g, usize::MAX)).ok().map(|(_, d)| d)
}

/// Sets (or with empty data, deletes) a global variable, saving
/// non-volatile ones.
pub fn set_global(name: &str, attributes: u32, data: &[u8]) -> Result<()> {
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    set_and_save(&vmfw_efi::variables::utf16(name), g, attributes, data)
}

pub unsafe extern "efiapi" fn query_variable_info(
    attributes: VariableAttributes,
    max_storage: *mut u64,
    remaining: *mut u64,
    max_size: *mut u64,
) -> Efi {
    status(query_variable_info_impl(attributes.bits(), max_storage, remaining, max_size))
}

fn query_variable_info_impl(
    attributes: u32,
    max_storage: *mut u64,
    remaining: *mut u64,
    max_size: *mut u64,
) -> Result<()> {
    if max_storage.is_null() || remaining.is_null() || max_size.is_null() {
        return Err(Error::InvalidParameter);
    }
    let info = RUNTIME.with(|r| r.vars.query_variable_info(attributes))?;
    out(max_storage, info.max_storage)?;
    out(remaining, info.remaining)?;
    out(max_size, info.max_variable_size)
}

/// A new variable store with the read-only Secure Boot state: the keys
/// the image carries and the mode they put the platform in (feature
/// `secure-boot`, see `secureboot`); without the feature, Secure Boot is
/// off and the platform is in setup mode without keys (loaders read these
/// to decide whether to verify signatures).
pub fn new_store() -> VariableStore {
    let mut store = VariableStore::new(Default::default());
    #[cfg(feature = "secure-boot")]
    super::secureboot::install(&mut store);
    #[cfg(not(feature = "secure-boot"))]
    {
        let g = vmfw_efi::variables::GLOBAL_VARIABLE;
        let bs_rt = vmfw_efi::variables::BOOTSERVICE_ACCESS | vmfw_efi::variables::RUNTIME_ACCESS;
        for (name, value) in
            [("SecureBoot", 0u8), ("SetupMode", 1u8), ("AuditMode", 0), ("DeployedMode", 0)]
        {
            let _ = store.define_read_only(&vmfw_efi::variables::utf16(name), g, bs_rt, &[value]);
        }
    }
    store
}

// ---------------------------------------------------------------------
// Monotonic count, reset, capsules.

pub unsafe extern "efiapi" fn get_next_high_monotonic_count(count: *mut u32) -> Efi {
    if count.is_null() {
        return err(Error::InvalidParameter);
    }
    let high = RUNTIME.with(|r| {
        r.high_count = r.high_count.wrapping_add(1);
        r.high_count
    });
    status(out(count, high))
}

pub unsafe extern "efiapi" fn reset_system(
    ty: ResetType,
    _status: RawStatus,
    _size: usize,
    _data: *const u8,
) -> ! {
    match ty {
        ResetType::SHUTDOWN => crate::power::off_at_runtime(),
        // Cold, warm, and platform-specific resets (vmfw defines none).
        _ => crate::power::reset(),
    }
}

pub unsafe extern "efiapi" fn update_capsule(
    _headers: *const *const CapsuleHeader,
    _count: usize,
    _sg: u64,
) -> Efi {
    err(Error::Unsupported)
}

pub unsafe extern "efiapi" fn query_capsule_capabilities(
    _headers: *const *const CapsuleHeader,
    _count: usize,
    _max: *mut u64,
    _reset: *mut ResetType,
) -> Efi {
    err(Error::Unsupported)
}
