//! `EFI_RUNTIME_SERVICES` (UEFI §8): time on the CMOS RTC, the variable
//! store, reset, the switch to virtual addressing, the high monotonic
//! count. Only the capsule services answer `EFI_UNSUPPORTED`.
//!
//! Everything here may run after `ExitBootServices()`, called by the OS
//! on its own stack and page tables: code and statics live in the firmware
//! image (runtime services code and data in the memory map), allocations
//! come from the runtime heap, hardware is reached through I/O ports only,
//! and nothing is logged above debug level.

use super::abi::{self, RuntimeServices, TableHeader};
use super::boot::{err, out, read, status, Efi};
use super::global::{Global, Shared};
use crate::arch::io;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use vmfw_efi::time::{self as t, CmosTime, Time};
use vmfw_efi::{Error, Guid, Result, VariableStore};

pub static TABLE: Shared<RuntimeServices> = Shared::new(RuntimeServices {
    hdr: TableHeader {
        signature: abi::RUNTIME_SERVICES_SIGNATURE,
        revision: abi::SPEC_REVISION,
        header_size: core::mem::size_of::<RuntimeServices>() as u32,
        crc32: 0,
        reserved: 0,
    },
    get_time: 0,
    set_time: 0,
    get_wakeup_time: 0,
    set_wakeup_time: 0,
    set_virtual_address_map: 0,
    convert_pointer: 0,
    get_variable: 0,
    get_next_variable_name: 0,
    set_variable: 0,
    get_next_high_monotonic_count: 0,
    reset_system: 0,
    update_capsule: 0,
    query_capsule_capabilities: 0,
    query_variable_info: 0,
});

/// The variable store.
pub static VARS: Global<VariableStore> = Global::new();

static HIGH_COUNT: AtomicU32 = AtomicU32::new(0);

/// Time zone and daylight flags last given to `SetTime()` (the RTC keeps
/// neither).
static TIMEZONE: AtomicU32 = AtomicU32::new(t::UNSPECIFIED_TIMEZONE as u16 as u32);

pub fn init() {
    let tb = TABLE.get();
    // SAFETY: written before any guest code runs.
    unsafe {
        (*tb).get_time = get_time as *const () as usize;
        (*tb).set_time = set_time as *const () as usize;
        (*tb).get_wakeup_time = get_wakeup_time as *const () as usize;
        (*tb).set_wakeup_time = set_wakeup_time as *const () as usize;
        (*tb).set_virtual_address_map = set_virtual_address_map as *const () as usize;
        (*tb).convert_pointer = convert_pointer as *const () as usize;
        (*tb).get_variable = get_variable as *const () as usize;
        (*tb).get_next_variable_name = get_next_variable_name as *const () as usize;
        (*tb).set_variable = set_variable as *const () as usize;
        (*tb).get_next_high_monotonic_count = get_next_high_monotonic_count as *const () as usize;
        (*tb).reset_system = reset_system as *const () as usize;
        (*tb).update_capsule = update_capsule as *const () as usize;
        (*tb).query_capsule_capabilities = query_capsule_capabilities as *const () as usize;
        (*tb).query_variable_info = query_variable_info as *const () as usize;
    }
    update_crc();
    let mut store = VariableStore::new(Default::default());
    let g = vmfw_efi::variables::GLOBAL_VARIABLE;
    let bs_rt = vmfw_efi::variables::BOOTSERVICE_ACCESS | vmfw_efi::variables::RUNTIME_ACCESS;
    // Secure Boot is off and the platform is in user mode without keys:
    // loaders read these to decide whether to verify signatures.
    for (name, value) in
        [("SecureBoot", 0u8), ("SetupMode", 1u8), ("AuditMode", 0), ("DeployedMode", 0)]
    {
        let _ = store.define_read_only(&vmfw_efi::variables::utf16(name), g, bs_rt, &[value]);
    }
    let saved = super::nvram::init();
    let n = vmfw_efi::persist::restore(&mut store, &saved);
    if n != saved.len() {
        log::warn!("variables: {} of {} saved variables refused", saved.len() - n, saved.len());
    }
    VARS.set(store);
}

pub fn update_crc() {
    let tb = TABLE.get();
    // SAFETY: the table is plain data owned by the firmware.
    unsafe {
        (*tb).hdr.crc32 = 0;
        let bytes =
            core::slice::from_raw_parts(tb as *const u8, core::mem::size_of::<RuntimeServices>());
        (*tb).hdr.crc32 = abi::table_crc(bytes);
    }
}

/// Moves the variable store into the runtime heap and applies the runtime
/// access rules (`ExitBootServices()`).
pub fn exit_boot_services() {
    VARS.with(|s| {
        let copy = s.clone();
        let old = core::mem::replace(s, copy);
        // The old store lives in boot memory that now belongs to the OS.
        core::mem::forget(old);
        s.exit_boot_services();
    });
}

// ---------------------------------------------------------------------
// Time.

static CMOS: spin::Mutex<()> = spin::Mutex::new(());

fn cmos_read(reg: u8) -> u8 {
    // SAFETY: the RTC's index and data ports; callers hold `CMOS`.
    unsafe {
        io::outb(0x70, reg);
        io::inb(0x71)
    }
}

fn cmos_write(reg: u8, v: u8) {
    // SAFETY: as for `cmos_read`.
    unsafe {
        io::outb(0x70, reg);
        io::outb(0x71, v);
    }
}

/// Reads the RTC outside an update, twice until both reads agree.
fn rtc() -> CmosTime {
    let mut last = CmosTime::default();
    for _ in 0..10 {
        for _ in 0..100_000 {
            if cmos_read(t::REG_STATUS_A) & t::STATUS_A_UPDATE_IN_PROGRESS == 0 {
                break;
            }
        }
        let now = CmosTime::read(cmos_read);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn tz_daylight() -> (i16, u8) {
    let v = TIMEZONE.load(Ordering::Relaxed);
    (v as u16 as i16, (v >> 16) as u8)
}

extern "efiapi" fn get_time(time: *mut [u8; 16], caps: *mut [u8; 12]) -> Efi {
    if time.is_null() {
        return err(Error::InvalidParameter);
    }
    let Some(_g) = CMOS.try_lock() else { return err(Error::DeviceError) };
    let r = rtc().to_time().and_then(|mut tm| {
        (tm.timezone, tm.daylight) = tz_daylight();
        out(time, tm.to_bytes())?;
        if !caps.is_null() {
            out(caps, t::Capabilities::CMOS.to_bytes())?;
        }
        Ok(())
    });
    status(r)
}

extern "efiapi" fn set_time(time: *const [u8; 16]) -> Efi {
    let r = (|| {
        let tm = Time::from_bytes(&read(time)?);
        tm.validate()?;
        let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
        let b = cmos_read(t::REG_STATUS_B);
        let regs = CmosTime::from_time(&tm, b)?;
        cmos_write(t::REG_STATUS_B, b | t::STATUS_B_SET);
        for (reg, v) in regs.registers() {
            cmos_write(reg, v);
        }
        cmos_write(t::REG_STATUS_B, b & !t::STATUS_B_SET);
        let packed = u32::from(tm.timezone as u16) | (u32::from(tm.daylight) << 16);
        TIMEZONE.store(packed, Ordering::Relaxed);
        Ok(())
    })();
    status(r)
}

/// CMOS alarm registers (seconds, minutes, hours) and flags.
const REG_ALARM: [u8; 3] = [0x01, 0x03, 0x05];
const REG_STATUS_C: u8 = 0x0c;
const ALARM_ENABLE: u8 = 0x20;
const ALARM_FLAG: u8 = 0x20;

extern "efiapi" fn get_wakeup_time(
    enabled: *mut bool,
    pending: *mut bool,
    time: *mut [u8; 16],
) -> Efi {
    if enabled.is_null() || pending.is_null() || time.is_null() {
        return err(Error::InvalidParameter);
    }
    let Some(_g) = CMOS.try_lock() else { return err(Error::DeviceError) };
    let mut now = rtc();
    let b = now.status_b;
    // The alarm has the time of day; the date is today's.
    now.seconds = cmos_read(REG_ALARM[0]);
    now.minutes = cmos_read(REG_ALARM[1]);
    now.hours = cmos_read(REG_ALARM[2]);
    let r = now.to_time().and_then(|mut tm| {
        (tm.timezone, tm.daylight) = tz_daylight();
        out(enabled, b & ALARM_ENABLE != 0)?;
        out(pending, cmos_read(REG_STATUS_C) & ALARM_FLAG != 0)?;
        out(time, tm.to_bytes())
    });
    status(r)
}

extern "efiapi" fn set_wakeup_time(enable: bool, time: *const [u8; 16]) -> Efi {
    let r = (|| {
        let _g = CMOS.try_lock().ok_or(Error::DeviceError)?;
        let b = cmos_read(t::REG_STATUS_B);
        if !enable {
            cmos_write(t::REG_STATUS_B, b & !ALARM_ENABLE);
            return Ok(());
        }
        let tm = Time::from_bytes(&read(time)?);
        tm.validate()?;
        let regs = CmosTime::from_time(&tm, b)?;
        cmos_write(REG_ALARM[0], regs.seconds);
        cmos_write(REG_ALARM[1], regs.minutes);
        cmos_write(REG_ALARM[2], regs.hours);
        cmos_write(t::REG_STATUS_B, b | ALARM_ENABLE);
        Ok(())
    })();
    status(r)
}

// ---------------------------------------------------------------------
// Variables.

/// A NUL-terminated UTF-16 name from the caller (without the NUL), at
/// most `max` units long.
fn name_arg(p: *const u16, max: usize) -> Result<Vec<u16>> {
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

const MAX_NAME: usize = 1024;

extern "efiapi" fn get_variable(
    name: *const u16,
    vendor: *const Guid,
    attributes: *mut u32,
    size: *mut usize,
    data: *mut u8,
) -> Efi {
    let r = (|| {
        let name = name_arg(name, MAX_NAME)?;
        let g = read(vendor)?;
        let cap = read(size)?;
        let got = VARS.with(|s| s.get_variable(&name, g, cap));
        match got {
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
            Err(e) => {
                if e.error == Error::BufferTooSmall {
                    out(size, e.required)?;
                }
                Err(e.error)
            }
        }
    })();
    status(r)
}

extern "efiapi" fn get_next_variable_name(
    size: *mut usize,
    name: *mut u16,
    vendor: *mut Guid,
) -> Efi {
    let r = (|| {
        let cap = read(size)?;
        // The current name must end with a NUL inside the buffer (UEFI
        // 2.10 §8.2).
        let prev = name_arg(name, cap / 2)?;
        let g = read(vendor)?;
        match VARS.with(|s| s.get_next_variable_name(&prev, g, cap)) {
            Ok((next, ng)) => {
                for (i, u) in next.iter().chain(core::iter::once(&0)).enumerate() {
                    // SAFETY: the store checked that name and NUL fit in
                    // `cap` bytes.
                    unsafe { name.add(i).write_unaligned(*u) };
                }
                out(vendor, ng)?;
                out(size, (next.len() + 1) * 2)
            }
            Err(e) => {
                if e.error == Error::BufferTooSmall {
                    out(size, e.required)?;
                }
                Err(e.error)
            }
        }
    })();
    status(r)
}

extern "efiapi" fn set_variable(
    name: *const u16,
    vendor: *const Guid,
    attributes: u32,
    size: usize,
    data: *const u8,
) -> Efi {
    let r = (|| {
        let name = name_arg(name, MAX_NAME)?;
        let g = read(vendor)?;
        if size > 0 && data.is_null() {
            return Err(Error::InvalidParameter);
        }
        let bytes = if size == 0 {
            &[][..]
        } else {
            // SAFETY: the caller's buffer of `size` bytes.
            unsafe { core::slice::from_raw_parts(data, size) }
        };
        VARS.with(|s| set_and_save(s, &name, g, attributes, bytes))
    })();
    status(r)
}

/// `SetVariable()` on the store, then saving the non-volatile variables
/// when one of them changed.
pub fn set_and_save(
    s: &mut VariableStore,
    name: &[u16],
    g: Guid,
    attributes: u32,
    data: &[u8],
) -> Result<()> {
    let nv = vmfw_efi::variables::NON_VOLATILE;
    let was_nv = s.get_variable(name, g, usize::MAX).is_ok_and(|(a, _)| a & nv != 0);
    s.set_variable(name, g, attributes, data)?;
    if was_nv || attributes & nv != 0 {
        super::nvram::save(s);
    }
    Ok(())
}

extern "efiapi" fn query_variable_info(
    attributes: u32,
    max_storage: *mut u64,
    remaining: *mut u64,
    max_size: *mut u64,
) -> Efi {
    let r = (|| {
        if max_storage.is_null() || remaining.is_null() || max_size.is_null() {
            return Err(Error::InvalidParameter);
        }
        let info = VARS.with(|s| s.query_variable_info(attributes))?;
        out(max_storage, info.max_storage)?;
        out(remaining, info.remaining)?;
        out(max_size, info.max_variable_size)
    })();
    status(r)
}

// ---------------------------------------------------------------------
// Monotonic count, reset, capsules.

pub fn high_count() -> u32 {
    HIGH_COUNT.load(Ordering::Relaxed)
}

pub fn bump_high_count() -> u32 {
    HIGH_COUNT.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

extern "efiapi" fn get_next_high_monotonic_count(count: *mut u32) -> Efi {
    if count.is_null() {
        return err(Error::InvalidParameter);
    }
    status(out(count, bump_high_count()))
}

/// `EFI_RESET_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetType {
    Cold,
    Warm,
    Shutdown,
}

/// Resets or powers off; safe to call at runtime (I/O ports only).
pub fn reset(kind: ResetType) -> ! {
    match kind {
        ResetType::Shutdown => crate::power::off_at_runtime(),
        ResetType::Cold | ResetType::Warm => crate::power::reset(),
    }
}

extern "efiapi" fn reset_system(ty: u32, _status: usize, _size: usize, _data: *const u8) -> Efi {
    let kind = match ty {
        1 => ResetType::Warm,
        2 => ResetType::Shutdown,
        // Cold, and platform-specific resets (vmfw defines none).
        _ => ResetType::Cold,
    };
    reset(kind)
}

extern "efiapi" fn update_capsule(_headers: *const u64, _count: usize, _sg: u64) -> Efi {
    err(Error::Unsupported)
}

extern "efiapi" fn query_capsule_capabilities(
    _headers: *const u64,
    _count: usize,
    _max: *mut u64,
    _reset: *mut u32,
) -> Efi {
    err(Error::Unsupported)
}

// ---------------------------------------------------------------------
// Virtual addressing.

static VIRTUAL: AtomicBool = AtomicBool::new(false);

/// The runtime ranges the OS gave virtual addresses: (physical start,
/// virtual start, bytes). Set while `SetVirtualAddressMap()` runs and
/// kept after it.
static VMAP: Global<Vec<(u64, u64, u64)>> = Global::new();

/// Virtual-address-change notifications that live in runtime code:
/// (function, context), collected at `ExitBootServices()`.
pub static VA_EVENTS: Global<Vec<(u64, u64)>> = Global::new();

fn convert(addr: u64) -> Option<u64> {
    VMAP.with(|m| {
        m.iter().find(|(p, _, len)| addr >= *p && addr - *p < *len).map(|(p, v, _)| v + (addr - p))
    })
}

extern "efiapi" fn set_virtual_address_map(
    map_size: usize,
    desc_size: usize,
    version: u32,
    map: *const u8,
) -> Efi {
    if !super::at_runtime() || VIRTUAL.load(Ordering::Relaxed) {
        return err(Error::Unsupported);
    }
    if version != vmfw_efi::memory::DESCRIPTOR_VERSION || desc_size < 40 {
        return err(Error::InvalidParameter);
    }
    if map.is_null() || !map_size.is_multiple_of(desc_size) {
        return err(Error::InvalidParameter);
    }
    let mut ranges = Vec::new();
    for i in 0..map_size / desc_size {
        // SAFETY: the caller's map of `map_size` bytes; each descriptor is
        // read at its start, as the spec lays it out.
        let d = unsafe { core::slice::from_raw_parts(map.add(i * desc_size), 40) };
        let field = |o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap_or([0; 8]));
        let (phys, virt, pages, attr) = (field(8), field(16), field(24), field(32));
        if attr & vmfw_efi::memory::attribute::RUNTIME != 0 {
            ranges.push((phys, virt, pages.saturating_mul(4096)));
        }
    }
    VMAP.set(ranges);
    VIRTUAL.store(true, Ordering::Relaxed);

    // The components' notifications, which call ConvertPointer().
    for (f, ctx) in VA_EVENTS.try_with(|v| v.clone()).unwrap_or_default() {
        // SAFETY: a notification function in runtime services code,
        // registered for EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE (UEFI §7.1).
        unsafe {
            let f: extern "efiapi" fn(usize, u64) = core::mem::transmute(f as usize);
            f(0, ctx);
        }
    }

    // The firmware's own pointers.
    let tb = TABLE.get();
    // SAFETY: the firmware's runtime table; every field after the header
    // is a function pointer into the firmware image.
    unsafe {
        let fns = core::slice::from_raw_parts_mut(
            (tb as *mut u8).add(core::mem::size_of::<TableHeader>()) as *mut u64,
            14,
        );
        for f in fns {
            if let Some(v) = convert(*f) {
                *f = v;
            }
        }
    }
    update_crc();
    super::tables::convert_system_table(convert);
    0
}

extern "efiapi" fn convert_pointer(disposition: usize, address: *mut u64) -> Efi {
    if address.is_null() {
        return err(Error::InvalidParameter);
    }
    // SAFETY: the caller's pointer variable.
    let a = unsafe { address.read_unaligned() };
    if a == 0 {
        return if disposition & 1 != 0 { 0 } else { err(Error::InvalidParameter) };
    }
    if !VIRTUAL.load(Ordering::Relaxed) {
        return err(Error::NotFound);
    }
    match convert(a) {
        Some(v) => status(out(address, v)),
        None => err(Error::NotFound),
    }
}
