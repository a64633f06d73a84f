//! `EFI_BOOT_SERVICES` (UEFI §7): one `extern "efiapi"` shim per service.
//! Each shim is `fn x(..) -> Efi { status(x_impl(..)) }` or as thin: it
//! checks and converts the caller's pointers (`ffi`), calls the logic in
//! `vmfw-efi` under the boot state's lock, and writes results back. The
//! image services live in `image`, the services that change the tables
//! (`InstallConfigurationTable`, `ExitBootServices`) in `tables`.

use super::events::{dispatch, poll, signal_protocol_notifies, spin_us};
use super::ffi::{
    err, event, guid, handle, opt_handle, out, ptr, raw_event, raw_handle, read, sized_error,
    status, Efi, SUCCESS,
};
use super::state::{pool_copy, BOOT, RUNTIME};
use super::{abi::guid as g, devpath};
use crate::{memory, time};
use alloc::vec::Vec;
use core::ffi::c_void;
use core::num::NonZeroUsize;
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::table::boot::{
    AllocateType, EventNotifyFn, EventType, InterfaceType, MemoryDescriptor, MemoryType,
    OpenProtocolInformationEntry, TimerDelay as RawTimerDelay, Tpl,
};
use uefi_raw::{Boolean, Event, Guid as RawGuid, Handle as RawHandle};
use vmfw_efi::events::TimerDelay;
use vmfw_efi::handles::{Handle, Registration, SearchType};
use vmfw_efi::memory::{AllocateType as How, EfiMemoryType};
use vmfw_efi::{Error, Guid, Result};

// ---------------------------------------------------------------------
// Task priority.

pub unsafe extern "efiapi" fn raise_tpl(new: Tpl) -> Tpl {
    Tpl(BOOT.with(|b| b.events.raise_tpl(new.0)))
}

pub unsafe extern "efiapi" fn restore_tpl(old: Tpl) {
    let due = BOOT.with(|b| b.events.restore_tpl(old.0));
    dispatch(due);
}

// ---------------------------------------------------------------------
// Memory.

pub unsafe extern "efiapi" fn allocate_pages(
    ty: AllocateType,
    mem_ty: MemoryType,
    pages: usize,
    memory: *mut u64,
) -> Efi {
    status(allocate_pages_impl(ty, mem_ty, pages, memory))
}

fn allocate_pages_impl(
    ty: AllocateType,
    mem_ty: MemoryType,
    pages: usize,
    p: *mut u64,
) -> Result<()> {
    let how = How::from_raw(ty.0, read(p)?)?;
    let addr = memory::with_map(|m| {
        vmfw_efi::memory::allocate_pages(m, how, EfiMemoryType(mem_ty.0), pages as u64)
    })?;
    out(p, addr)
}

pub unsafe extern "efiapi" fn free_pages(addr: u64, pages: usize) -> Efi {
    status(memory::with_map(|m| vmfw_efi::memory::free_pages(m, addr, pages as u64)))
}

pub unsafe extern "efiapi" fn get_memory_map(
    size: *mut usize,
    map: *mut MemoryDescriptor,
    key: *mut usize,
    desc_size: *mut usize,
    desc_version: *mut u32,
) -> Efi {
    status(get_memory_map_impl(size, map.cast(), key, desc_size, desc_version))
}

fn get_memory_map_impl(
    size: *mut usize,
    map: *mut u8,
    key: *mut usize,
    desc_size: *mut usize,
    desc_version: *mut u32,
) -> Result<()> {
    let cap = read(size)?;
    let result = memory::with_map(|m| {
        let buf: &mut [u8] = if map.is_null() {
            &mut []
        } else {
            // SAFETY: the caller's buffer of `cap` bytes (UEFI §7.2).
            unsafe { core::slice::from_raw_parts_mut(map, cap) }
        };
        vmfw_efi::memory::get_memory_map(m, buf)
    });
    // A NULL buffer that would have been large enough (UEFI §7.2).
    if map.is_null() && result.as_ref().err().is_none_or(|s| s.required <= cap) {
        return Err(Error::InvalidParameter);
    }
    let _ = out(desc_size, vmfw_efi::memory::DESCRIPTOR_SIZE);
    let _ = out(desc_version, vmfw_efi::memory::DESCRIPTOR_VERSION);
    match result {
        Ok(info) => {
            out(size, info.size)?;
            out(key, info.key)
        }
        Err(small) => {
            out(size, small.required)?;
            Err(Error::BufferTooSmall)
        }
    }
}

pub unsafe extern "efiapi" fn allocate_pool(
    ty: MemoryType,
    size: usize,
    buffer: *mut *mut u8,
) -> Efi {
    if buffer.is_null() {
        return err(Error::InvalidParameter);
    }
    let r =
        BOOT.with(|b| memory::with_map(|m| b.pool.allocate(m, EfiMemoryType(ty.0), size as u64)));
    status(r.and_then(|a| out(buffer, a as *mut u8)))
}

pub unsafe extern "efiapi" fn free_pool(buffer: *mut u8) -> Efi {
    status(BOOT.with(|b| memory::with_map(|m| b.pool.free(m, buffer as u64))))
}

// ---------------------------------------------------------------------
// Events and timers.

pub unsafe extern "efiapi" fn create_event(
    ty: EventType,
    notify_tpl: Tpl,
    function: Option<EventNotifyFn>,
    context: *mut c_void,
    event_out: *mut Event,
) -> Efi {
    status(create_event_impl(ty, notify_tpl, function, context, None, event_out))
}

pub unsafe extern "efiapi" fn create_event_ex(
    ty: EventType,
    notify_tpl: Tpl,
    function: Option<EventNotifyFn>,
    context: *const c_void,
    group: *const RawGuid,
    event_out: *mut Event,
) -> Efi {
    let group = if group.is_null() { None } else { guid(group).ok() };
    status(create_event_impl(ty, notify_tpl, function, context, group, event_out))
}

fn create_event_impl(
    ty: EventType,
    notify_tpl: Tpl,
    function: Option<EventNotifyFn>,
    context: *const c_void,
    group: Option<Guid>,
    event_out: *mut Event,
) -> Result<()> {
    if event_out.is_null() {
        return Err(Error::InvalidParameter);
    }
    let function = function.map(|f| f as usize as u64);
    let e = BOOT.with(|b| {
        b.events.create_event(ty.bits(), notify_tpl.0, function, context as u64, group)
    })?;
    out(event_out, raw_event(e))
}

pub unsafe extern "efiapi" fn set_timer(e: Event, ty: RawTimerDelay, trigger: u64) -> Efi {
    let kind = match ty {
        RawTimerDelay::CANCEL => TimerDelay::Cancel,
        RawTimerDelay::PERIODIC => TimerDelay::Periodic,
        RawTimerDelay::RELATIVE => TimerDelay::Relative,
        _ => return err(Error::InvalidParameter),
    };
    let now = super::events::now_100ns();
    status(event(e).and_then(|e| {
        BOOT.with(|b| {
            b.events.tick(now);
            b.events.set_timer(e, kind, trigger)
        })
    }))
}

pub unsafe extern "efiapi" fn wait_for_event(
    count: usize,
    events: *const Event,
    index: *mut usize,
) -> Efi {
    // Waiting for an event is waiting, not the firmware's work.
    let _wait = crate::progress::wait();
    status(wait_for_event_impl(count, events, index))
}

fn wait_for_event_impl(count: usize, events: *const Event, index: *mut usize) -> Result<()> {
    if events.is_null() || count == 0 || index.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: the caller's array of `count` events (UEFI §7.1).
    let raw = unsafe { core::slice::from_raw_parts(events, count) };
    let ids = raw.iter().map(|&e| event(e)).collect::<Result<Vec<_>>>()?;
    loop {
        poll();
        match BOOT.with(|b| b.events.poll_wait(&ids))? {
            Some(i) => return out(index, i),
            None => {
                // Run what the checks queued (EVT_NOTIFY_WAIT functions).
                dispatch(Vec::new());
                spin_us(50);
            }
        }
    }
}

pub unsafe extern "efiapi" fn signal_event(e: Event) -> Efi {
    let r = event(e).and_then(|e| BOOT.with(|b| b.events.signal_event(e)));
    dispatch(Vec::new());
    status(r)
}

pub unsafe extern "efiapi" fn close_event(e: Event) -> Efi {
    status(event(e).and_then(|e| BOOT.with(|b| b.events.close_event(e))))
}

pub unsafe extern "efiapi" fn check_event(e: Event) -> Efi {
    let Ok(id) = event(e) else { return err(Error::InvalidParameter) };
    poll();
    match BOOT.with(|b| b.events.check_event(id)) {
        Err(Error::NotReady) => {
            dispatch(Vec::new());
            status(BOOT.with(|b| b.events.take_signal(id)))
        }
        r => status(r),
    }
}

pub unsafe extern "efiapi" fn stall(us: usize) -> Efi {
    let _wait = crate::progress::wait();
    // Timers keep running while a caller stalls.
    let end = time::deadline_us(us as u64);
    while !time::passed(end) {
        spin_us(time::us_until(end).min(1000));
        poll();
    }
    SUCCESS
}

pub unsafe extern "efiapi" fn set_watchdog_timer(
    timeout: usize,
    _code: u64,
    _size: usize,
    _data: *const u16,
) -> Efi {
    super::events::set_watchdog(timeout as u64);
    SUCCESS
}

pub unsafe extern "efiapi" fn get_next_monotonic_count(count: *mut u64) -> Efi {
    if count.is_null() {
        return err(Error::InvalidParameter);
    }
    let low = BOOT.with(|b| {
        let v = b.monotonic_low;
        b.monotonic_low = v.wrapping_add(1);
        v
    });
    let high = RUNTIME.with(|r| {
        if low == u32::MAX {
            r.high_count = r.high_count.wrapping_add(1);
        }
        r.high_count
    });
    status(out(count, (u64::from(high) << 32) | u64::from(low)))
}

// ---------------------------------------------------------------------
// Protocol handler services.

pub unsafe extern "efiapi" fn install_protocol_interface(
    h: *mut RawHandle,
    g: *const RawGuid,
    _ty: InterfaceType,
    iface: *const c_void,
) -> Efi {
    let r = install_impl(h, &[(g, iface as u64)]);
    signal_protocol_notifies();
    status(r)
}

/// Installs (GUID pointer, interface) pairs on `*h` (NULL: a new handle).
fn install_impl(h: *mut RawHandle, pairs: &[(*const RawGuid, u64)]) -> Result<()> {
    let hin = opt_handle(read(h)?);
    let pairs = pairs.iter().map(|&(g, i)| Ok((guid(g)?, i))).collect::<Result<Vec<_>>>()?;
    let new =
        BOOT.with(|b| b.db.install_multiple_protocol_interfaces(hin, &pairs, devpath::same_path))?;
    out(h, raw_handle(new))
}

pub unsafe extern "efiapi" fn reinstall_protocol_interface(
    h: RawHandle,
    g: *const RawGuid,
    old: *const c_void,
    new: *const c_void,
) -> Efi {
    let r = handle(h).and_then(|h| {
        let g = guid(g)?;
        BOOT.with(|b| b.db.reinstall_protocol_interface(h, g, old as u64, new as u64))
    });
    signal_protocol_notifies();
    status(r)
}

pub unsafe extern "efiapi" fn uninstall_protocol_interface(
    h: RawHandle,
    g: *const RawGuid,
    iface: *const c_void,
) -> Efi {
    status(handle(h).and_then(|h| {
        let g = guid(g)?;
        BOOT.with(|b| b.db.uninstall_protocol_interface(h, g, iface as u64))
    }))
}

pub unsafe extern "efiapi" fn handle_protocol(
    h: RawHandle,
    g: *const RawGuid,
    iface: *mut *mut c_void,
) -> Efi {
    status(handle_protocol_impl(h, g, iface))
}

fn handle_protocol_impl(h: RawHandle, g: *const RawGuid, iface: *mut *mut c_void) -> Result<()> {
    let h = handle(h)?;
    let g = guid(g)?;
    if iface.is_null() {
        return Err(Error::InvalidParameter);
    }
    let r = BOOT.with(|b| b.db.handle_protocol(h, g));
    out(iface, ptr(*r.as_ref().unwrap_or(&0)))?;
    r.map(|_| ())
}

pub unsafe extern "efiapi" fn register_protocol_notify(
    g: *const RawGuid,
    e: Event,
    reg: *mut *mut c_void,
) -> Efi {
    status(register_protocol_notify_impl(g, e, reg))
}

fn register_protocol_notify_impl(g: *const RawGuid, e: Event, reg: *mut *mut c_void) -> Result<()> {
    let g = guid(g)?;
    event(e)?;
    let r = BOOT.with(|b| b.db.register_protocol_notify(g, e as u64))?;
    out(reg, ptr(r.0.get() as u64))
}

fn search(ty: i32, g: *const RawGuid, key: *const c_void) -> Result<SearchType> {
    match ty {
        0 => Ok(SearchType::AllHandles),
        1 => NonZeroUsize::new(key as usize)
            .map(|k| SearchType::ByRegisterNotify(Registration(k)))
            .ok_or(Error::InvalidParameter),
        2 => Ok(SearchType::ByProtocol(guid(g)?)),
        _ => Err(Error::InvalidParameter),
    }
}

pub unsafe extern "efiapi" fn locate_handle(
    ty: i32,
    g: *const RawGuid,
    key: *const c_void,
    size: *mut usize,
    buffer: *mut RawHandle,
) -> Efi {
    status(locate_handle_impl(ty, g, key, size, buffer))
}

fn locate_handle_impl(
    ty: i32,
    g: *const RawGuid,
    key: *const c_void,
    size: *mut usize,
    buffer: *mut RawHandle,
) -> Result<()> {
    let s = search(ty, g, key)?;
    let cap = read(size)?;
    let w = core::mem::size_of::<RawHandle>();
    match BOOT.with(|b| b.db.locate_handle(s, cap / w)) {
        Ok(hs) => {
            if buffer.is_null() {
                return Err(Error::InvalidParameter);
            }
            for (i, h) in hs.iter().enumerate() {
                // SAFETY: the caller's buffer holds `cap / w` handles.
                unsafe { buffer.add(i).write_unaligned(raw_handle(*h)) };
            }
            out(size, hs.len() * w)
        }
        Err(e) => sized_error(size, e, w),
    }
}

pub unsafe extern "efiapi" fn locate_handle_buffer(
    ty: i32,
    g: *const RawGuid,
    key: *const c_void,
    count: *mut usize,
    buffer: *mut *mut RawHandle,
) -> Efi {
    status(locate_handle_buffer_impl(ty, g, key, count, buffer))
}

fn locate_handle_buffer_impl(
    ty: i32,
    g: *const RawGuid,
    key: *const c_void,
    count: *mut usize,
    buffer: *mut *mut RawHandle,
) -> Result<()> {
    if count.is_null() || buffer.is_null() {
        return Err(Error::InvalidParameter);
    }
    let s = search(ty, g, key)?;
    let hs: Vec<usize> =
        BOOT.with(|b| b.db.locate_handle_buffer(s))?.iter().map(|h| h.0.get()).collect();
    let addr = pool_copy(&hs)?;
    out(count, hs.len())?;
    out(buffer, addr as *mut RawHandle)
}

pub unsafe extern "efiapi" fn locate_protocol(
    g: *const RawGuid,
    reg: *const c_void,
    iface: *mut *mut c_void,
) -> Efi {
    status(locate_protocol_impl(g, reg, iface))
}

fn locate_protocol_impl(
    g: *const RawGuid,
    reg: *const c_void,
    iface: *mut *mut c_void,
) -> Result<()> {
    let g = guid(g)?;
    if iface.is_null() {
        return Err(Error::InvalidParameter);
    }
    let reg = NonZeroUsize::new(reg as usize).map(Registration);
    match BOOT.with(|b| b.db.locate_protocol(g, reg)) {
        Ok(a) => out(iface, ptr(a)),
        Err(e) => {
            out(iface, core::ptr::null_mut())?;
            Err(e)
        }
    }
}

pub unsafe extern "efiapi" fn locate_device_path(
    g: *const RawGuid,
    path: *mut *const DevicePathProtocol,
    device: *mut RawHandle,
) -> Efi {
    status(locate_device_path_impl(g, path, device))
}

fn locate_device_path_impl(
    g: *const RawGuid,
    path: *mut *const DevicePathProtocol,
    device: *mut RawHandle,
) -> Result<()> {
    let g = guid(g)?;
    let p = read(path)? as u64;
    if device.is_null() || p == 0 {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: a device path the caller passed (UEFI §7.3).
    let want = unsafe { devpath::from_raw(p) }?;
    let (h, rest) = devpath::locate_device(g, want)?;
    out(device, raw_handle(h))?;
    out(path, (p + rest as u64) as *const DevicePathProtocol)
}

pub unsafe extern "efiapi" fn connect_controller(
    h: RawHandle,
    _driver: *const RawHandle,
    _remaining: *const DevicePathProtocol,
    _recursive: Boolean,
) -> Efi {
    // vmfw has no UEFI drivers: nothing can be connected (UEFI §7.3:
    // EFI_NOT_FOUND, "no drivers were connected").
    match handle(h) {
        Ok(h) if BOOT.with(|b| b.db.is_valid(h)) => err(Error::NotFound),
        _ => err(Error::InvalidParameter),
    }
}

pub unsafe extern "efiapi" fn disconnect_controller(
    h: RawHandle,
    _driver: RawHandle,
    _child: RawHandle,
) -> Efi {
    // No driver manages anything, so there is nothing to disconnect.
    match handle(h) {
        Ok(h) if BOOT.with(|b| b.db.is_valid(h)) => SUCCESS,
        _ => err(Error::InvalidParameter),
    }
}

pub unsafe extern "efiapi" fn open_protocol(
    h: RawHandle,
    g: *const RawGuid,
    iface: *mut *mut c_void,
    agent: RawHandle,
    controller: RawHandle,
    attributes: u32,
) -> Efi {
    status(open_protocol_impl(h, g, iface, agent, controller, attributes))
}

fn open_protocol_impl(
    h: RawHandle,
    g: *const RawGuid,
    iface: *mut *mut c_void,
    agent: RawHandle,
    controller: RawHandle,
    attributes: u32,
) -> Result<()> {
    let h = handle(h)?;
    let g = guid(g)?;
    let test = attributes == vmfw_efi::handles::open::TEST_PROTOCOL;
    if iface.is_null() && !test {
        return Err(Error::InvalidParameter);
    }
    let r = BOOT
        .with(|b| b.db.open_protocol(h, g, opt_handle(agent), opt_handle(controller), attributes));
    if !iface.is_null() && !test {
        let v = match r {
            Ok(a) => a,
            // The interface is returned with ALREADY_STARTED (UEFI §7.3).
            Err(Error::AlreadyStarted) => BOOT.with(|b| b.db.handle_protocol(h, g)).unwrap_or(0),
            Err(_) => 0,
        };
        out(iface, ptr(v))?;
    }
    r.map(|_| ())
}

pub unsafe extern "efiapi" fn close_protocol(
    h: RawHandle,
    g: *const RawGuid,
    agent: RawHandle,
    controller: RawHandle,
) -> Efi {
    status(close_protocol_impl(h, g, agent, controller))
}

fn close_protocol_impl(
    h: RawHandle,
    g: *const RawGuid,
    agent: RawHandle,
    controller: RawHandle,
) -> Result<()> {
    let h = handle(h)?;
    let g = guid(g)?;
    let agent = handle(agent)?;
    BOOT.with(|b| b.db.close_protocol(h, g, agent, opt_handle(controller)))
}

pub unsafe extern "efiapi" fn open_protocol_information(
    h: RawHandle,
    g: *const RawGuid,
    buffer: *mut *mut OpenProtocolInformationEntry,
    count: *mut usize,
) -> Efi {
    status(open_protocol_information_impl(h, g, buffer, count))
}

fn open_protocol_information_impl(
    h: RawHandle,
    g: *const RawGuid,
    buffer: *mut *mut OpenProtocolInformationEntry,
    count: *mut usize,
) -> Result<()> {
    let h = handle(h)?;
    let g = guid(g)?;
    if buffer.is_null() || count.is_null() {
        return Err(Error::InvalidParameter);
    }
    let infos: Vec<OpenProtocolInformationEntry> = BOOT
        .with(|b| b.db.open_protocol_information(h, g))?
        .iter()
        .map(|i| OpenProtocolInformationEntry {
            agent_handle: super::ffi::raw_opt_handle(i.agent),
            controller_handle: super::ffi::raw_opt_handle(i.controller),
            attributes: i.attributes,
            open_count: i.open_count,
        })
        .collect();
    let n = infos.len();
    let addr = super::state::pool_move(infos)?;
    out(count, n)?;
    out(buffer, addr as *mut OpenProtocolInformationEntry)
}

pub unsafe extern "efiapi" fn protocols_per_handle(
    h: RawHandle,
    buffer: *mut *mut *const RawGuid,
    count: *mut usize,
) -> Efi {
    status(protocols_per_handle_impl(h, buffer, count))
}

fn protocols_per_handle_impl(
    h: RawHandle,
    buffer: *mut *mut *const RawGuid,
    count: *mut usize,
) -> Result<()> {
    let h = handle(h)?;
    if buffer.is_null() || count.is_null() {
        return Err(Error::InvalidParameter);
    }
    let guids = BOOT.with(|b| b.db.protocols_per_handle(h))?;
    // An array of pointers to GUIDs, each in the same pool block.
    let n = guids.len();
    let ptr_bytes = n * 8;
    let total = (ptr_bytes + n * 16) as u64;
    let addr = BOOT.with(|b| {
        memory::with_map(|m| b.pool.allocate(m, EfiMemoryType::BOOT_SERVICES_DATA, total))
    })?;
    for (i, gd) in guids.iter().enumerate() {
        let gaddr = addr + ptr_bytes as u64 + (i as u64) * 16;
        // SAFETY: inside the fresh pool block of `total` bytes.
        unsafe {
            (gaddr as *mut [u8; 16]).write_unaligned(gd.to_bytes());
            ((addr + i as u64 * 8) as *mut u64).write(gaddr);
        }
    }
    out(count, n)?;
    out(buffer, addr as *mut *const RawGuid)
}

/// Reads the (GUID pointer, interface) pairs of a variadic
/// Install/UninstallMultipleProtocolInterfaces() call, up to the NULL.
///
/// # Safety
/// `args` must point at the caller's variadic arguments, spilled into one
/// array by the arch layer's stub.
unsafe fn variadic_pairs(args: *const u64) -> Result<Vec<(*const RawGuid, u64)>> {
    let mut pairs = Vec::new();
    for i in 0..64 {
        // SAFETY: the variadic list runs until a NULL GUID pointer.
        let gp = unsafe { args.add(2 * i).read() };
        if gp == 0 {
            return Ok(pairs);
        }
        // SAFETY: as above: a GUID pointer is followed by its interface.
        let iface = unsafe { args.add(2 * i + 1).read() };
        pairs.push((gp as *const RawGuid, iface));
    }
    Err(Error::InvalidParameter)
}

/// `InstallMultipleProtocolInterfaces()`, called by the arch layer's
/// variadic stub with the arguments as one array: the handle pointer,
/// then GUID/interface pairs up to a NULL.
#[no_mangle]
pub unsafe extern "efiapi" fn vmfw_install_multiple_impl(args: *const u64) -> Efi {
    // SAFETY: `args` is the spilled argument array of the stub.
    let r = unsafe { install_multiple_impl(args) };
    signal_protocol_notifies();
    status(r)
}

/// # Safety
/// `args` is the arch stub's spilled argument array.
unsafe fn install_multiple_impl(args: *const u64) -> Result<()> {
    // SAFETY: the array starts with the handle pointer.
    let hp = unsafe { args.read() } as *mut RawHandle;
    // SAFETY: the pairs follow the handle pointer in the same array.
    let pairs = unsafe { variadic_pairs(args.add(1)) }?;
    install_impl(hp, &pairs)
}

/// `UninstallMultipleProtocolInterfaces()`, as above with the handle.
#[no_mangle]
pub unsafe extern "efiapi" fn vmfw_uninstall_multiple_impl(args: *const u64) -> Efi {
    // SAFETY: `args` is the spilled argument array of the stub.
    status(unsafe { uninstall_multiple_impl(args) })
}

/// # Safety
/// `args` is the arch stub's spilled argument array.
unsafe fn uninstall_multiple_impl(args: *const u64) -> Result<()> {
    // SAFETY: the array starts with the handle.
    let h = handle(unsafe { args.read() } as RawHandle)?;
    // SAFETY: the pairs follow the handle in the same array.
    let pairs = unsafe { variadic_pairs(args.add(1)) }?;
    let pairs = pairs.iter().map(|&(g, i)| Ok((guid(g)?, i))).collect::<Result<Vec<_>>>()?;
    BOOT.with(|b| b.db.uninstall_multiple_protocol_interfaces(h, &pairs))
}

// ---------------------------------------------------------------------
// Miscellaneous.

pub unsafe extern "efiapi" fn calculate_crc32(
    data: *const c_void,
    size: usize,
    crc: *mut u32,
) -> Efi {
    if data.is_null() || size == 0 || crc.is_null() {
        return err(Error::InvalidParameter);
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let bytes = unsafe { core::slice::from_raw_parts(data.cast::<u8>(), size) };
    status(out(crc, vmfw_block::crc32(bytes)))
}

pub unsafe extern "efiapi" fn copy_mem(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 || dst.is_null() || src.is_null() {
        return;
    }
    // SAFETY: the caller's buffers; they may overlap (UEFI §7.5).
    unsafe { core::ptr::copy(src, dst, len) }
}

pub unsafe extern "efiapi" fn set_mem(buf: *mut u8, len: usize, value: u8) {
    if len == 0 || buf.is_null() {
        return;
    }
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { core::ptr::write_bytes(buf, value, len) }
}

/// The device path interface on handle `h`.
pub fn device_path_of(h: Handle) -> Result<u64> {
    BOOT.with(|b| b.db.handle_protocol(h, g::DEVICE_PATH))
}
