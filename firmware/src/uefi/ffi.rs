//! The FFI helpers every shim uses: status conversion, checked reads of
//! in-parameters, out-parameter writes, and the conversions between the
//! ABI's raw handles, events and GUIDs and `vmfw-efi`'s types.
//!
//! A leaf: it imports nothing of the services. Every pointer comes from
//! the caller, and the UEFI ABI makes the caller responsible for its
//! validity; NULL is checked where the specification calls it an error.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::num::NonZeroUsize;
use uefi_raw::{Boolean, Event, Guid as RawGuid, Handle as RawHandle};
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, EventId, Guid, Result, SizedError};

/// What every shim returns.
pub type Efi = uefi_raw::Status;

/// `EFI_SUCCESS`.
pub const SUCCESS: Efi = uefi_raw::Status::SUCCESS;

/// A result as an `EFI_STATUS`.
pub fn status(r: Result<()>) -> Efi {
    uefi_raw::Status(vmfw_efi::Status::from(r).0)
}

/// An error as an `EFI_STATUS`.
pub fn err(e: Error) -> Efi {
    uefi_raw::Status(e.status().0)
}

/// A raw status (one a guest returned) in `vmfw-efi`'s type.
pub fn from_raw(s: Efi) -> vmfw_efi::Status {
    vmfw_efi::Status(s.0)
}

/// Writes `v` through an out-parameter; `InvalidParameter` for NULL.
pub fn out<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: a non-NULL out-parameter the caller passed for this value
    // (UEFI ABI); unaligned writes tolerate packed caller structs.
    unsafe { p.write_unaligned(v) };
    Ok(())
}

/// Reads an in-parameter; `InvalidParameter` for NULL.
pub fn read<T: Copy>(p: *const T) -> Result<T> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: a non-NULL in-parameter the caller passed (UEFI ABI).
    Ok(unsafe { p.read_unaligned() })
}

/// A failed sized answer: for `BufferTooSmall` the size needed (in units
/// of `unit` bytes) goes to the caller's size argument first (UEFI's rule
/// for every service that fills a caller's buffer).
pub fn sized_error(size: *mut usize, e: SizedError, unit: usize) -> Result<()> {
    if e.error == Error::BufferTooSmall {
        out(size, e.required * unit)?;
    }
    Err(e.error)
}

/// The caller's GUID.
pub fn guid(p: *const RawGuid) -> Result<Guid> {
    read(p).map(|g| Guid::from_bytes(g.to_bytes()))
}

/// A GUID in the ABI's type.
pub const fn raw_guid(g: Guid) -> RawGuid {
    RawGuid::from_bytes(g.to_bytes())
}

/// A handle argument; `InvalidParameter` for NULL.
pub fn handle(raw: RawHandle) -> Result<Handle> {
    opt_handle(raw).ok_or(Error::InvalidParameter)
}

/// An optional handle argument.
pub fn opt_handle(raw: RawHandle) -> Option<Handle> {
    NonZeroUsize::new(raw as usize).map(Handle)
}

/// A handle as the ABI passes it.
pub fn raw_handle(h: Handle) -> RawHandle {
    h.0.get() as RawHandle
}

/// An optional handle as the ABI passes it (NULL for none).
pub fn raw_opt_handle(h: Option<Handle>) -> RawHandle {
    h.map_or(core::ptr::null_mut(), raw_handle)
}

/// An event argument; `InvalidParameter` for NULL.
pub fn event(raw: Event) -> Result<EventId> {
    NonZeroUsize::new(raw as usize).map(EventId).ok_or(Error::InvalidParameter)
}

/// An event as the ABI passes it.
pub fn raw_event(e: EventId) -> Event {
    e.0.get() as Event
}

/// An interface or table address as the ABI's `void *`.
pub fn ptr(addr: u64) -> *mut c_void {
    addr as *mut c_void
}

/// A `BOOLEAN` argument: anything but 0 is true (UEFI §2.3.1).
pub fn boolean(b: Boolean) -> bool {
    b.0 != 0
}

/// A NUL-terminated UTF-16 string from the caller (without the NUL), at
/// most `max` units long; `InvalidParameter` for NULL or no NUL in reach.
pub fn utf16_arg(p: *const u16, max: usize) -> Result<Vec<u16>> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    let mut v = Vec::new();
    for i in 0..max {
        // SAFETY: the caller's NUL-terminated string, read up to the NUL
        // or `max` units.
        let u = unsafe { p.add(i).read_unaligned() };
        if u == 0 {
            return Ok(v);
        }
        v.push(u);
    }
    Err(Error::InvalidParameter)
}

/// The caller's buffer of `len` bytes as a slice (empty for `len` 0).
///
/// # Safety
/// A non-NULL `p` must point at `len` writable bytes the caller owns for
/// the duration of the call (UEFI ABI).
pub unsafe fn buffer_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: forwarded from the caller.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// The caller's buffer of `len` bytes as a slice (empty for `len` 0).
///
/// # Safety
/// A non-NULL `p` must point at `len` readable bytes (UEFI ABI).
pub unsafe fn buffer<'a>(p: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: forwarded from the caller.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}
