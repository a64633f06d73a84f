//! The logic of vmfw's small UEFI environment, testable on the host.
//!
//! Specification: UEFI 2.10 (cited as "UEFI §x.y"). This crate holds the
//! state machines behind the boot and runtime services; the firmware's
//! `extern "efiapi"` shims stay thin: they turn raw pointers into Rust
//! values, call in here, and write results back. Hence:
//! - no `unsafe`, no raw pointers, no function pointers: addresses are
//!   `u64`, and where UEFI would call a notification function this crate
//!   returns what is to be called and the shim calls it;
//! - every failure is an [`Error`] that maps 1:1 to an `EFI_STATUS`
//!   ([`Status`], UEFI Appendix D).
//!
//! Modules: [`memory`] (memory types, `AllocatePages`, `FreePages`,
//! `GetMemoryMap` over `vmfw_memmap`), [`pool`] (`AllocatePool`,
//! `FreePool`), [`handles`] (the handle/protocol database), [`events`]
//! (events, timers, groups, TPL and notification queues), [`variables`]
//! (the volatile variable store and its attribute rules), [`devpath`]
//! (device paths: parsing, building, the device path utilities and
//! to-text protocols, `LocateDevicePath()`'s prefix search, file paths for
//! `LoadImage()`) and [`time`] (`EFI_TIME`, its checks, and `GetTime()` /
//! `SetTime()` over CMOS RTC registers), [`load_option`] (`Boot####`
//! and `BootOrder`), [`persist`] (the checksummed two-slot image of
//! the non-volatile variables) and [`sbkeys`] (the Secure Boot key blob
//! embedded in the firmware image, and signature list walking).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod devpath;
pub mod events;
pub mod guid;
pub mod handles;
pub mod load_option;
pub mod memory;
pub mod persist;
pub mod pool;
pub mod sbkeys;
pub mod status;
pub mod time;
pub mod variables;
mod vecmap;

pub use events::{EventId, Events};
pub use guid::Guid;
pub use status::{Error, Result, SizedError, Status};
pub use variables::Store as VariableStore;
