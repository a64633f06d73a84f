//! The variable store behind `GetVariable()`, `GetNextVariableName()`,
//! `SetVariable()` and `QueryVariableInfo()` (UEFI §8.2, "Variable
//! Services").
//!
//! A variable is keyed by (vendor GUID, name) where the name is UTF-16
//! without its terminating NUL; it holds attributes and at least one byte
//! of data. The store itself is volatile: a persistence layer walks
//! [`Store::iter`] and reloads with [`Store::set_variable`].
//!
//! Rules implemented (UEFI §8.2 unless noted):
//! - `GetVariable()`: an empty name is `EFI_INVALID_PARAMETER`; an unknown
//!   variable is `EFI_NOT_FOUND`; a buffer smaller than the data is
//!   `EFI_BUFFER_TOO_SMALL` with the data size.
//! - `GetNextVariableName()`: an empty name starts the walk; each call
//!   returns the variable after (name, GUID) in one fixed order (GUID
//!   bytes, then name), so the walk is stable while variables are added;
//!   `EFI_NOT_FOUND` at the end; `EFI_INVALID_PARAMETER` when (name, GUID)
//!   is not an existing (visible) variable; `EFI_BUFFER_TOO_SMALL` with the
//!   name's size in bytes, NUL included.
//! - `SetVariable()`:
//!   - an empty name (or one with an embedded NUL) or an attribute bit the
//!     spec does not define is `EFI_INVALID_PARAMETER`;
//!   - `EFI_VARIABLE_AUTHENTICATED_WRITE_ACCESS` is deprecated and gets
//!     `EFI_UNSUPPORTED`, as UEFI 2.10 says platforms should return;
//!   - `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS` and
//!     `EFI_VARIABLE_ENHANCED_AUTHENTICATED_ACCESS`: this store verifies no
//!     signatures, so no `EFI_VARIABLE_AUTHENTICATION_2`/`_3` descriptor
//!     can pass its check, and the spec's code for that is
//!     `EFI_SECURITY_VIOLATION` (the firmware verifies authenticated writes
//!     to the Secure Boot keys itself, before they reach the store, and
//!     refuses them either way). `EFI_UNSUPPORTED` was not chosen because
//!     in §8.2 it means the whole service is unavailable at this time
//!     (and OSes such as Linux then give up on variables altogether);
//!   - `EFI_VARIABLE_HARDWARE_ERROR_RECORD`: vmfw does not implement
//!     hardware error record persistence (Appendix P; it defines no
//!     `HwErrRecSupport`), so the bit is an invalid combination for this
//!     platform: `EFI_INVALID_PARAMETER`, the code §8.2 lists for that
//!     (`QueryVariableInfo()` answers `EFI_UNSUPPORTED`, its code for an
//!     attribute the platform lacks);
//!   - `EFI_VARIABLE_RUNTIME_ACCESS` requires
//!     `EFI_VARIABLE_BOOTSERVICE_ACCESS`: `EFI_INVALID_PARAMETER`;
//!   - without `EFI_VARIABLE_APPEND_WRITE`, a `DataSize` of zero or no
//!     access attribute (neither BS nor RT) deletes the variable,
//!     `EFI_NOT_FOUND` when it does not exist; a delete that names access
//!     attributes must name the variable's own;
//!   - with `EFI_VARIABLE_APPEND_WRITE` the data is appended; zero bytes
//!     change nothing and succeed; a missing variable is created;
//!   - attributes are fixed at creation: a write with other attributes is
//!     `EFI_INVALID_PARAMETER` (delete and recreate instead);
//!   - a variable larger than the per-variable maximum is
//!     `EFI_INVALID_PARAMETER` ("DataSize exceeds the maximum allowed"),
//!     one that does not fit the remaining storage `EFI_OUT_OF_RESOURCES`;
//!   - a variable the firmware owns (see [`Store::define_read_only`]) is
//!     `EFI_WRITE_PROTECTED`.
//! - After `ExitBootServices()` (§8.2, attribute usage rules): variables
//!   without `EFI_VARIABLE_RUNTIME_ACCESS` are invisible (get →
//!   `EFI_NOT_FOUND`, skipped by the walk); a write whose attributes lack
//!   RT is `EFI_INVALID_PARAMETER`; only RT + NV variables can be set, so
//!   an existing RT volatile variable is read-only (`EFI_WRITE_PROTECTED`)
//!   and creating one is `EFI_INVALID_PARAMETER`.
//! - `QueryVariableInfo()`: the attributes must name BS (RT needs BS; after
//!   `ExitBootServices()` RT is required), else `EFI_INVALID_PARAMETER`;
//!   HR and the authenticated-write bits are `EFI_UNSUPPORTED`.
//!
//! Sizes: a variable's size is its name in bytes (NUL included) plus its
//! data; both the per-variable maximum and the storage total count that.
//! One pool serves volatile and non-volatile variables alike.

use crate::vecmap::VecMap;
use crate::{Error, Guid, Result, SizedError};
use alloc::vec::Vec;
use core::ops::Bound;

/// `EFI_VARIABLE_NON_VOLATILE`.
pub const NON_VOLATILE: u32 = 0x01;
/// `EFI_VARIABLE_BOOTSERVICE_ACCESS`.
pub const BOOTSERVICE_ACCESS: u32 = 0x02;
/// `EFI_VARIABLE_RUNTIME_ACCESS`.
pub const RUNTIME_ACCESS: u32 = 0x04;
/// `EFI_VARIABLE_HARDWARE_ERROR_RECORD`.
pub const HARDWARE_ERROR_RECORD: u32 = 0x08;
/// `EFI_VARIABLE_AUTHENTICATED_WRITE_ACCESS` (deprecated).
pub const AUTHENTICATED_WRITE_ACCESS: u32 = 0x10;
/// `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS`.
pub const TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x20;
/// `EFI_VARIABLE_APPEND_WRITE`: a request flag, never stored.
pub const APPEND_WRITE: u32 = 0x40;
/// `EFI_VARIABLE_ENHANCED_AUTHENTICATED_ACCESS`.
pub const ENHANCED_AUTHENTICATED_ACCESS: u32 = 0x80;

/// Every attribute bit UEFI 2.10 defines.
const DEFINED: u32 = 0xff;
/// The access bits; a write with neither is a delete.
const ACCESS: u32 = BOOTSERVICE_ACCESS | RUNTIME_ACCESS;

/// `EFI_GLOBAL_VARIABLE` (UEFI §3.3): the vendor GUID of the
/// architecturally defined variables (`BootOrder`, `SecureBoot`, ...).
pub const GLOBAL_VARIABLE: Guid = Guid::from_fields(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);

/// A `&str` as a UTF-16 variable name (no NUL), for the firmware's own
/// variables.
pub fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// The storage limits `QueryVariableInfo()` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes all variables may occupy.
    pub max_storage: u64,
    /// Largest single variable (name with NUL + data), in bytes.
    pub max_variable_size: u64,
}

impl Default for Limits {
    /// 64 KiB in total, 32 KiB per variable: enough for boot entries and
    /// Secure Boot key databases of a VM.
    fn default() -> Self {
        Self { max_storage: 64 * 1024, max_variable_size: 32 * 1024 }
    }
}

/// `QueryVariableInfo()`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableInfo {
    /// `MaximumVariableStorageSize`.
    pub max_storage: u64,
    /// `RemainingVariableStorageSize`.
    pub remaining: u64,
    /// `MaximumVariableSize`.
    pub max_variable_size: u64,
}

/// One variable as [`Store::iter`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableRef<'a> {
    /// Vendor GUID.
    pub guid: Guid,
    /// Name, UTF-16 without NUL.
    pub name: &'a [u16],
    /// Attributes (never `APPEND_WRITE`).
    pub attributes: u32,
    /// Data (at least one byte).
    pub data: &'a [u8],
    /// True for a firmware-owned variable ([`Store::define_read_only`]).
    pub read_only: bool,
}

#[derive(Debug, Clone)]
struct Variable {
    attributes: u32,
    data: Vec<u8>,
}

type Key = (Guid, Vec<u16>);

/// The variable store. See the module docs for its rules.
#[derive(Debug, Default, Clone)]
pub struct Store {
    vars: VecMap<Key, Variable>,
    read_only: VecMap<Key, ()>,
    limits: Limits,
    used: u64,
    runtime: bool,
}

/// Bytes a variable occupies: its name with NUL (UTF-16) plus its data.
fn footprint(name: &[u16], data_len: usize) -> u64 {
    let name_bytes = (name.len() as u64).saturating_add(1).saturating_mul(2);
    name_bytes.saturating_add(data_len as u64)
}

fn check_name(name: &[u16]) -> Result<()> {
    if name.is_empty() || name.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    Ok(())
}

impl Store {
    /// An empty store with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// True once [`Store::exit_boot_services`] has run.
    pub fn at_runtime(&self) -> bool {
        self.runtime
    }

    /// Records `ExitBootServices()`: from now on the runtime rules apply.
    pub fn exit_boot_services(&mut self) {
        self.runtime = true;
    }

    fn visible(&self, v: &Variable) -> bool {
        !self.runtime || v.attributes & RUNTIME_ACCESS != 0
    }

    fn lookup(&self, name: &[u16], guid: Guid) -> Option<&Variable> {
        // The key owns its name; building it costs one allocation per call.
        self.vars.get(&(guid, name.to_vec())).filter(|v| self.visible(v))
    }

    /// `GetVariable()`: the attributes and data of (`name`, `guid`) when
    /// the data fits into `capacity` bytes.
    ///
    /// Errors: `InvalidParameter` for an empty name; `NotFound`;
    /// `BufferTooSmall` with `required` = the data size in bytes.
    pub fn get_variable(
        &self,
        name: &[u16],
        guid: Guid,
        capacity: usize,
    ) -> core::result::Result<(u32, Vec<u8>), SizedError> {
        if name.is_empty() {
            return Err(Error::InvalidParameter.into());
        }
        let v = self.lookup(name, guid).ok_or(Error::NotFound)?;
        if v.data.len() > capacity {
            return Err(SizedError { error: Error::BufferTooSmall, required: v.data.len() });
        }
        Ok((v.attributes, v.data.clone()))
    }

    /// `GetNextVariableName()`: the variable after (`prev_name`,
    /// `prev_guid`), or the first one when `prev_name` is empty (then
    /// `prev_guid` is ignored), when its name with NUL fits into
    /// `capacity` bytes.
    ///
    /// Errors: `NotFound` after the last variable; `InvalidParameter` when
    /// (`prev_name`, `prev_guid`) is not a visible variable;
    /// `BufferTooSmall` with `required` = the name's size in bytes,
    /// NUL included.
    pub fn get_next_variable_name(
        &self,
        prev_name: &[u16],
        prev_guid: Guid,
        capacity: usize,
    ) -> core::result::Result<(Vec<u16>, Guid), SizedError> {
        let start = if prev_name.is_empty() {
            Bound::Unbounded
        } else {
            let key = (prev_guid, prev_name.to_vec());
            if self.lookup(prev_name, prev_guid).is_none() {
                return Err(Error::InvalidParameter.into());
            }
            Bound::Excluded(key)
        };
        let ((guid, name), _) = self
            .vars
            .range((start, Bound::Unbounded))
            .find(|(_, v)| self.visible(v))
            .ok_or(Error::NotFound)?;
        let required = name
            .len()
            .checked_add(1)
            .and_then(|n| n.checked_mul(2))
            .ok_or(Error::OutOfResources)?;
        if required > capacity {
            return Err(SizedError { error: Error::BufferTooSmall, required });
        }
        Ok((name.clone(), *guid))
    }

    /// `SetVariable()`: creates, replaces, appends to or deletes
    /// (`name`, `guid`) following the rules in the module docs.
    ///
    /// Errors: `InvalidParameter`, `Unsupported`, `SecurityViolation`,
    /// `WriteProtected`, `NotFound`, `OutOfResources`, each as the module
    /// docs describe.
    pub fn set_variable(
        &mut self,
        name: &[u16],
        guid: Guid,
        attributes: u32,
        data: &[u8],
    ) -> Result<()> {
        check_name(name)?;
        Self::check_attributes(attributes)?;
        let key = (guid, name.to_vec());
        if self.read_only.contains_key(&key) {
            return Err(Error::WriteProtected);
        }
        self.write(key, attributes, data)
    }

    /// Validation of attribute bits common to every write.
    fn check_attributes(attributes: u32) -> Result<()> {
        if attributes & !DEFINED != 0 {
            return Err(Error::InvalidParameter);
        }
        if attributes & AUTHENTICATED_WRITE_ACCESS != 0 {
            return Err(Error::Unsupported);
        }
        if attributes & (TIME_BASED_AUTHENTICATED_WRITE_ACCESS | ENHANCED_AUTHENTICATED_ACCESS) != 0
        {
            return Err(Error::SecurityViolation);
        }
        if attributes & HARDWARE_ERROR_RECORD != 0 {
            return Err(Error::InvalidParameter);
        }
        if attributes & RUNTIME_ACCESS != 0 && attributes & BOOTSERVICE_ACCESS == 0 {
            return Err(Error::InvalidParameter);
        }
        Ok(())
    }

    /// The write proper, after name, attribute and ownership checks.
    fn write(&mut self, key: Key, attributes: u32, data: &[u8]) -> Result<()> {
        let append = attributes & APPEND_WRITE != 0;
        let stored_attrs = attributes & !APPEND_WRITE;
        let access = attributes & ACCESS;
        if append && access == 0 {
            // Appending needs attributes to create or to match.
            return Err(Error::InvalidParameter);
        }
        if self.runtime && access != 0 && attributes & RUNTIME_ACCESS == 0 {
            return Err(Error::InvalidParameter);
        }
        let existing = self.vars.get(&key).filter(|v| self.visible(v));
        if self.runtime {
            match existing {
                Some(v) if v.attributes & NON_VOLATILE == 0 => return Err(Error::WriteProtected),
                None if access != 0 && attributes & NON_VOLATILE == 0 => {
                    return Err(Error::InvalidParameter)
                }
                _ => {}
            }
        }
        let delete = !append && (data.is_empty() || access == 0);
        if delete {
            let v = existing.ok_or(Error::NotFound)?;
            if access != 0 && v.attributes != stored_attrs {
                return Err(Error::InvalidParameter);
            }
            let size = footprint(&key.1, v.data.len());
            self.vars.remove(&key);
            self.used = self.used.saturating_sub(size);
            return Ok(());
        }
        if let Some(v) = existing {
            if v.attributes != stored_attrs {
                return Err(Error::InvalidParameter);
            }
        } else if self.vars.contains_key(&key) {
            // A boot-services-only variable hidden at runtime: writing it
            // would change its attributes.
            return Err(Error::InvalidParameter);
        }
        if append && data.is_empty() {
            return Ok(());
        }
        let old_len = existing.map_or(0, |v| v.data.len());
        let new_len = if append { old_len.checked_add(data.len()) } else { Some(data.len()) }
            .ok_or(Error::OutOfResources)?;
        let old_size = if existing.is_some() { footprint(&key.1, old_len) } else { 0 };
        let new_size = footprint(&key.1, new_len);
        if new_size > self.limits.max_variable_size {
            return Err(Error::InvalidParameter);
        }
        let used = self.used.saturating_sub(old_size).saturating_add(new_size);
        if used > self.limits.max_storage {
            return Err(Error::OutOfResources);
        }
        let v = self
            .vars
            .get_or_insert(key, Variable { attributes: stored_attrs, data: Vec::new() })
            .ok_or(Error::OutOfResources)?;
        if !append {
            v.data.clear();
        }
        v.data.extend_from_slice(data);
        self.used = used;
        Ok(())
    }

    /// Defines (or redefines) a variable the firmware owns: it is created
    /// or replaced with `attributes` and `data` regardless of the rules for
    /// callers, and from now on `SetVariable()` on it is
    /// `EFI_WRITE_PROTECTED`. Use it for `SecureBoot`, `SetupMode` and the
    /// like in [`GLOBAL_VARIABLE`]; call it again to change the value.
    ///
    /// Errors: `InvalidParameter` for an empty name, empty data, attributes
    /// without BS or with bits other than NV/BS/RT/time-based
    /// authenticated write, or a size over the
    /// per-variable maximum; `OutOfResources` when it does not fit.
    pub fn define_read_only(
        &mut self,
        name: &[u16],
        guid: Guid,
        attributes: u32,
        data: &[u8],
    ) -> Result<()> {
        check_name(name)?;
        // The time-based authenticated bit is allowed: `PK`, `KEK`, `db`
        // and `dbx` carry it (their updates would be signed), while the
        // firmware alone sets their content.
        let plain = NON_VOLATILE
            | BOOTSERVICE_ACCESS
            | RUNTIME_ACCESS
            | TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
        if data.is_empty() || attributes & !plain != 0 || attributes & BOOTSERVICE_ACCESS == 0 {
            return Err(Error::InvalidParameter);
        }
        let key = (guid, name.to_vec());
        let old_size = self.vars.get(&key).map_or(0, |v| footprint(name, v.data.len()));
        let new_size = footprint(name, data.len());
        if new_size > self.limits.max_variable_size {
            return Err(Error::InvalidParameter);
        }
        let used = self.used.saturating_sub(old_size).saturating_add(new_size);
        if used > self.limits.max_storage {
            return Err(Error::OutOfResources);
        }
        self.vars.insert(key.clone(), Variable { attributes, data: data.to_vec() });
        self.read_only.insert(key, ());
        self.used = used;
        Ok(())
    }

    /// Makes (`name`, `guid`) the firmware's without giving it a value:
    /// `SetVariable()` on it is `EFI_WRITE_PROTECTED` from now on, and it
    /// does not exist unless [`Store::define_read_only`] defines it. For
    /// names whose content only the firmware may set, such as a Secure
    /// Boot key the image does not carry: no caller, and no saved variable
    /// restored through `SetVariable()`, can create it. Removes any value
    /// it had.
    ///
    /// Errors: `InvalidParameter` for an invalid name.
    pub fn protect(&mut self, name: &[u16], guid: Guid) -> Result<()> {
        check_name(name)?;
        let key = (guid, name.to_vec());
        if let Some(v) = self.vars.remove(&key) {
            self.used = self.used.saturating_sub(footprint(name, v.data.len()));
        }
        self.read_only.insert(key, ());
        Ok(())
    }

    /// `QueryVariableInfo()`: storage limits for variables with
    /// `attributes`.
    ///
    /// Errors: `InvalidParameter` for attributes without BS (or, after
    /// `ExitBootServices()`, without RT), RT without BS, or undefined bits;
    /// `Unsupported` for HR and the authenticated-write bits.
    pub fn query_variable_info(&self, attributes: u32) -> Result<VariableInfo> {
        if attributes & !DEFINED != 0 {
            return Err(Error::InvalidParameter);
        }
        let unsupported = HARDWARE_ERROR_RECORD
            | AUTHENTICATED_WRITE_ACCESS
            | TIME_BASED_AUTHENTICATED_WRITE_ACCESS
            | ENHANCED_AUTHENTICATED_ACCESS;
        if attributes & unsupported != 0 {
            return Err(Error::Unsupported);
        }
        if attributes & BOOTSERVICE_ACCESS == 0
            || (self.runtime && attributes & RUNTIME_ACCESS == 0)
        {
            return Err(Error::InvalidParameter);
        }
        Ok(VariableInfo {
            max_storage: self.limits.max_storage,
            remaining: self.limits.max_storage.saturating_sub(self.used),
            max_variable_size: self.limits.max_variable_size,
        })
    }

    /// Every variable, visible or not, in the walk's order: for a
    /// persistence layer (which keeps those with `NON_VOLATILE`).
    pub fn iter(&self) -> impl Iterator<Item = VariableRef<'_>> + '_ {
        self.vars.iter().map(|((guid, name), v)| VariableRef {
            guid: *guid,
            name,
            attributes: v.attributes,
            data: &v.data,
            read_only: self.read_only.contains_key(&(*guid, name.clone())),
        })
    }

    /// The boot options: every visible `Boot####` variable of
    /// [`GLOBAL_VARIABLE`] as `(number, data)`, in increasing number order
    /// (see [`crate::load_option::parse_boot_name`] for which names count).
    /// One range walk of the store, not 65536 lookups; feed it to
    /// [`crate::load_option::option_for_path`].
    pub fn boot_options(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        // Names sort as UTF-16 unit sequences, and the hex digits as
        // UEFI spells them sort in numeric order, so every option lies
        // between these two keys (with other names, such as `Boot0000x`,
        // which the name check drops).
        let low = (GLOBAL_VARIABLE, utf16("Boot0000"));
        let high = (GLOBAL_VARIABLE, utf16("BootFFFF"));
        self.vars
            .range((Bound::Included(low), Bound::Included(high)))
            .filter(|(_, v)| self.visible(v))
            .filter_map(|((_, name), v)| {
                crate::load_option::parse_boot_name(name).map(|n| (n, v.data.as_slice()))
            })
    }

    /// Bytes in use, as counted against [`Limits::max_storage`].
    pub fn used(&self) -> u64 {
        self.used
    }
}

#[cfg(test)]
mod tests;
