//! `EFI_BOOT_SERVICES`: one `extern "efiapi"` shim per service. Each shim
//! checks and converts the caller's pointers, calls the logic in
//! `vmfw-efi` under the state lock, writes the results back and returns an
//! `EFI_STATUS`. Guest code (event notifications) is only ever called with
//! no lock held.

use super::abi::{self, BootServices, TableHeader};
use super::global::{Global, Shared};
use super::{devpath, image, tables};
use crate::{arch, memory, time};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use vmfw_efi::events::{Notification, TimerDelay};
use vmfw_efi::handles::{Database, Handle, Registration, SearchType};
use vmfw_efi::memory::{AllocateType, EfiMemoryType};
use vmfw_efi::pool::Pool;
use vmfw_efi::{Error, EventId, Events, Guid, Result, Status};

/// The boot-services state.
pub struct Core {
    pub db: Database,
    pub events: Events,
    pub pool: Pool,
    /// `GetNextMonotonicCount()`'s low 32 bits.
    monotonic_low: u32,
    /// TSC deadline of the watchdog, if armed.
    watchdog: Option<u64>,
}

pub static CORE: Global<Core> = Global::new();

/// The services table (boot services memory in spirit; it lives in the
/// image and is cleared at `ExitBootServices()`).
pub static TABLE: Shared<BootServices> = Shared::new(BootServices {
    hdr: TableHeader {
        signature: abi::BOOT_SERVICES_SIGNATURE,
        revision: abi::SPEC_REVISION,
        header_size: core::mem::size_of::<BootServices>() as u32,
        crc32: 0,
        reserved: 0,
    },
    raise_tpl: 0,
    restore_tpl: 0,
    allocate_pages: 0,
    free_pages: 0,
    get_memory_map: 0,
    allocate_pool: 0,
    free_pool: 0,
    create_event: 0,
    set_timer: 0,
    wait_for_event: 0,
    signal_event: 0,
    close_event: 0,
    check_event: 0,
    install_protocol_interface: 0,
    reinstall_protocol_interface: 0,
    uninstall_protocol_interface: 0,
    handle_protocol: 0,
    reserved: 0,
    register_protocol_notify: 0,
    locate_handle: 0,
    locate_device_path: 0,
    install_configuration_table: 0,
    load_image: 0,
    start_image: 0,
    exit: 0,
    unload_image: 0,
    exit_boot_services: 0,
    get_next_monotonic_count: 0,
    stall: 0,
    set_watchdog_timer: 0,
    connect_controller: 0,
    disconnect_controller: 0,
    open_protocol: 0,
    close_protocol: 0,
    open_protocol_information: 0,
    protocols_per_handle: 0,
    locate_handle_buffer: 0,
    locate_protocol: 0,
    install_multiple_protocol_interfaces: 0,
    uninstall_multiple_protocol_interfaces: 0,
    calculate_crc32: 0,
    copy_mem: 0,
    set_mem: 0,
    create_event_ex: 0,
});

/// Sets up the state and fills the table.
pub fn init() {
    CORE.set(Core {
        db: Database::new(),
        events: Events::new(),
        pool: Pool::new(),
        monotonic_low: 0,
        watchdog: None,
    });
    let t = TABLE.get();
    // SAFETY: the table is only written here, before any guest code runs.
    unsafe {
        (*t).raise_tpl = raise_tpl as *const () as usize;
        (*t).restore_tpl = restore_tpl as *const () as usize;
        (*t).allocate_pages = allocate_pages as *const () as usize;
        (*t).free_pages = free_pages as *const () as usize;
        (*t).get_memory_map = get_memory_map as *const () as usize;
        (*t).allocate_pool = allocate_pool as *const () as usize;
        (*t).free_pool = free_pool as *const () as usize;
        (*t).create_event = create_event as *const () as usize;
        (*t).set_timer = set_timer as *const () as usize;
        (*t).wait_for_event = wait_for_event as *const () as usize;
        (*t).signal_event = signal_event as *const () as usize;
        (*t).close_event = close_event as *const () as usize;
        (*t).check_event = check_event as *const () as usize;
        (*t).install_protocol_interface = install_protocol_interface as *const () as usize;
        (*t).reinstall_protocol_interface = reinstall_protocol_interface as *const () as usize;
        (*t).uninstall_protocol_interface = uninstall_protocol_interface as *const () as usize;
        (*t).handle_protocol = handle_protocol as *const () as usize;
        (*t).register_protocol_notify = register_protocol_notify as *const () as usize;
        (*t).locate_handle = locate_handle as *const () as usize;
        (*t).locate_device_path = locate_device_path as *const () as usize;
        (*t).install_configuration_table =
            tables::install_configuration_table as *const () as usize;
        (*t).load_image = image::load_image as *const () as usize;
        (*t).start_image = image::start_image as *const () as usize;
        (*t).exit = image::exit as *const () as usize;
        (*t).unload_image = image::unload_image as *const () as usize;
        (*t).exit_boot_services = super::exit_boot_services as *const () as usize;
        (*t).get_next_monotonic_count = get_next_monotonic_count as *const () as usize;
        (*t).stall = stall as *const () as usize;
        (*t).set_watchdog_timer = set_watchdog_timer as *const () as usize;
        (*t).connect_controller = connect_controller as *const () as usize;
        (*t).disconnect_controller = disconnect_controller as *const () as usize;
        (*t).open_protocol = open_protocol as *const () as usize;
        (*t).close_protocol = close_protocol as *const () as usize;
        (*t).open_protocol_information = open_protocol_information as *const () as usize;
        (*t).protocols_per_handle = protocols_per_handle as *const () as usize;
        (*t).locate_handle_buffer = locate_handle_buffer as *const () as usize;
        (*t).locate_protocol = locate_protocol as *const () as usize;
        (*t).install_multiple_protocol_interfaces =
            install_multiple_protocol_interfaces as *const () as usize;
        (*t).uninstall_multiple_protocol_interfaces =
            uninstall_multiple_protocol_interfaces as *const () as usize;
        (*t).calculate_crc32 = calculate_crc32 as *const () as usize;
        (*t).copy_mem = copy_mem as *const () as usize;
        (*t).set_mem = set_mem as *const () as usize;
        (*t).create_event_ex = create_event_ex as *const () as usize;
        (*t).hdr.crc32 = 0;
        let bytes =
            core::slice::from_raw_parts(t as *const u8, core::mem::size_of::<BootServices>());
        (*t).hdr.crc32 = abi::table_crc(bytes);
    }
}

// ---------------------------------------------------------------------
// Pointer helpers. Every pointer comes from the caller; the UEFI ABI
// makes the caller responsible for its validity. NULL is checked where
// the specification says it is an error.

pub type Efi = usize;

pub fn status(r: Result<()>) -> Efi {
    Status::from(r).0
}

pub fn err(e: Error) -> Efi {
    Status::from(e).0
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

pub fn guid(p: *const Guid) -> Result<Guid> {
    read(p)
}

pub fn handle(raw: usize) -> Result<Handle> {
    NonZeroUsize::new(raw).map(Handle).ok_or(Error::InvalidParameter)
}

pub fn opt_handle(raw: usize) -> Option<Handle> {
    NonZeroUsize::new(raw).map(Handle)
}

fn event(raw: usize) -> Result<EventId> {
    NonZeroUsize::new(raw).map(EventId).ok_or(Error::InvalidParameter)
}

/// Copies `count` items into a new pool allocation (for services that
/// return buffers the caller frees with `FreePool()`).
pub fn pool_copy<T: Copy>(items: &[T]) -> Result<u64> {
    let bytes = core::mem::size_of_val(items) as u64;
    let addr = CORE.with(|c| {
        memory::with_map(|m| c.pool.allocate(m, EfiMemoryType::BOOT_SERVICES_DATA, bytes))
    })?;
    // SAFETY: a fresh pool allocation of `bytes` bytes, 8-byte aligned.
    unsafe { core::ptr::copy_nonoverlapping(items.as_ptr(), addr as *mut T, items.len()) };
    Ok(addr)
}

// ---------------------------------------------------------------------
// Time, polling and notifications.

/// Now, in the 100 ns units of `SetTimer()`.
fn now_100ns() -> u64 {
    time::ticks_to_ns(arch::rdtsc()) / 100
}

/// Advances timers, feeds console input to `WaitForKey`, checks the
/// watchdog and runs due notifications.
pub fn poll() {
    let now = now_100ns();
    let wd = CORE.with(|c| {
        c.events.tick(now);
        c.watchdog
    });
    if wd.is_some_and(|d| arch::rdtsc() > d) {
        log::error!("UEFI watchdog timer expired; resetting");
        super::runtime::reset(super::runtime::ResetType::Cold);
    }
    super::console::poll_input();
    dispatch(Vec::new());
}

/// Runs `first`, then every notification that becomes due, each at its
/// TPL, with no lock held while guest code runs.
pub fn dispatch(first: Vec<Notification>) {
    let mut pending: VecDeque<Notification> = first.into();
    loop {
        let next = match pending.pop_front() {
            Some(n) => Some(n),
            None => CORE.with(|c| {
                let tpl = c.events.current_tpl();
                c.events.pop_due_notification(tpl)
            }),
        };
        let Some(n) = next else { break };
        let old = CORE.with(|c| c.events.raise_tpl(n.tpl));
        // SAFETY: the function a caller registered with CreateEvent() as
        // EFI_EVENT_NOTIFY, called with its event and context (UEFI §7.1).
        unsafe {
            let f: extern "efiapi" fn(usize, u64) = core::mem::transmute(n.function as usize);
            f(n.event.0.get(), n.context);
        }
        let more = CORE.with(|c| c.events.restore_tpl(old));
        pending.extend(more);
    }
}

/// Signals the events `RegisterProtocolNotify()` queued.
fn signal_protocol_notifies() {
    CORE.with(|c| {
        for e in c.db.take_signals() {
            if let Some(id) = NonZeroUsize::new(e as usize) {
                let _ = c.events.signal_event(EventId(id));
            }
        }
    });
    dispatch(Vec::new());
}

// ---------------------------------------------------------------------
// Task priority.

extern "efiapi" fn raise_tpl(new: usize) -> usize {
    CORE.with(|c| c.events.raise_tpl(new))
}

extern "efiapi" fn restore_tpl(old: usize) {
    let due = CORE.with(|c| c.events.restore_tpl(old));
    dispatch(due);
}

// ---------------------------------------------------------------------
// Memory.

extern "efiapi" fn allocate_pages(ty: u32, mem_ty: u32, pages: usize, memory: *mut u64) -> Efi {
    let r = (|| {
        let how = AllocateType::from_raw(ty, read(memory)?)?;
        let addr = memory::with_map(|m| {
            vmfw_efi::memory::allocate_pages(m, how, EfiMemoryType(mem_ty), pages as u64)
        })?;
        out(memory, addr)
    })();
    status(r)
}

extern "efiapi" fn free_pages(addr: u64, pages: usize) -> Efi {
    status(memory::with_map(|m| vmfw_efi::memory::free_pages(m, addr, pages as u64)))
}

extern "efiapi" fn get_memory_map(
    size: *mut usize,
    map: *mut u8,
    key: *mut usize,
    desc_size: *mut usize,
    desc_version: *mut u32,
) -> Efi {
    let r = (|| {
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
    })();
    status(r)
}

extern "efiapi" fn allocate_pool(ty: u32, size: usize, buffer: *mut u64) -> Efi {
    if buffer.is_null() {
        return err(Error::InvalidParameter);
    }
    let r = CORE.with(|c| memory::with_map(|m| c.pool.allocate(m, EfiMemoryType(ty), size as u64)));
    status(r.and_then(|a| out(buffer, a)))
}

extern "efiapi" fn free_pool(buffer: u64) -> Efi {
    status(CORE.with(|c| memory::with_map(|m| c.pool.free(m, buffer))))
}

// ---------------------------------------------------------------------
// Events and timers.

extern "efiapi" fn create_event(
    ty: u32,
    notify_tpl: usize,
    function: usize,
    context: u64,
    event_out: *mut usize,
) -> Efi {
    create_event_ex(ty, notify_tpl, function, context, core::ptr::null(), event_out)
}

extern "efiapi" fn create_event_ex(
    ty: u32,
    notify_tpl: usize,
    function: usize,
    context: u64,
    group: *const Guid,
    event_out: *mut usize,
) -> Efi {
    if event_out.is_null() {
        return err(Error::InvalidParameter);
    }
    let group = if group.is_null() { None } else { read(group).ok() };
    let r =
        CORE.with(|c| c.events.create_event(ty, notify_tpl, Some(function as u64), context, group));
    status(r.and_then(|e| out(event_out, e.0.get())))
}

extern "efiapi" fn set_timer(e: usize, ty: u32, trigger: u64) -> Efi {
    let kind = match ty {
        0 => TimerDelay::Cancel,
        1 => TimerDelay::Periodic,
        2 => TimerDelay::Relative,
        _ => return err(Error::InvalidParameter),
    };
    let now = now_100ns();
    status(event(e).and_then(|e| {
        CORE.with(|c| {
            c.events.tick(now);
            c.events.set_timer(e, kind, trigger)
        })
    }))
}

extern "efiapi" fn wait_for_event(count: usize, events: *const usize, index: *mut usize) -> Efi {
    if events.is_null() || count == 0 || index.is_null() {
        return err(Error::InvalidParameter);
    }
    // SAFETY: the caller's array of `count` events (UEFI §7.1).
    let raw = unsafe { core::slice::from_raw_parts(events, count) };
    let Ok(ids) = raw.iter().map(|&e| event(e)).collect::<Result<Vec<_>>>() else {
        return err(Error::InvalidParameter);
    };
    loop {
        poll();
        match CORE.with(|c| c.events.poll_wait(&ids)) {
            Ok(Some(i)) => return status(out(index, i)),
            Ok(None) => {
                // Run what the checks queued (EVT_NOTIFY_WAIT functions).
                dispatch(Vec::new());
                spin_us(50);
            }
            Err(e) => return err(e),
        }
    }
}

extern "efiapi" fn signal_event(e: usize) -> Efi {
    let r = event(e).and_then(|e| CORE.with(|c| c.events.signal_event(e)));
    dispatch(Vec::new());
    status(r)
}

extern "efiapi" fn close_event(e: usize) -> Efi {
    status(event(e).and_then(|e| CORE.with(|c| c.events.close_event(e))))
}

extern "efiapi" fn check_event(e: usize) -> Efi {
    let Ok(id) = event(e) else { return err(Error::InvalidParameter) };
    poll();
    match CORE.with(|c| c.events.check_event(id)) {
        Err(Error::NotReady) => {
            dispatch(Vec::new());
            status(CORE.with(|c| c.events.take_signal(id)))
        }
        r => status(r),
    }
}

fn spin_us(us: u64) {
    let ticks = time::tsc_hz() / 1_000_000 * us;
    let t0 = arch::rdtsc();
    while arch::rdtsc().wrapping_sub(t0) < ticks {
        core::hint::spin_loop();
    }
}

extern "efiapi" fn stall(us: usize) -> Efi {
    // Timers keep running while a caller stalls.
    let end = arch::rdtsc().saturating_add(time::tsc_hz() / 1_000_000 * us as u64);
    while arch::rdtsc() < end {
        let left = end.saturating_sub(arch::rdtsc());
        spin_us((left / (time::tsc_hz() / 1_000_000).max(1)).min(1000));
        poll();
    }
    0
}

extern "efiapi" fn set_watchdog_timer(timeout: usize, _code: u64, _size: usize, _data: u64) -> Efi {
    let deadline = (timeout != 0)
        .then(|| arch::rdtsc().saturating_add(time::tsc_hz().saturating_mul(timeout as u64)));
    CORE.with(|c| c.watchdog = deadline);
    0
}

/// Stops the watchdog (a boot option returned).
pub fn disarm_watchdog() {
    CORE.with(|c| c.watchdog = None);
}

/// Signals the ready-to-boot event group before a boot option starts.
pub fn signal_ready_to_boot() {
    CORE.with(|c| c.events.signal_group(&vmfw_efi::events::EVENT_GROUP_READY_TO_BOOT));
    dispatch(Vec::new());
}

/// `ExitBootServices()`'s part here: signals the exit-boot-services group
/// and runs its notifications, disarms the watchdog, and returns the
/// virtual-address-change notifications whose code is runtime services
/// code (others would run from memory the OS owns by then).
pub fn exit_boot_services_events() -> Vec<(u64, u64)> {
    use vmfw_efi::events::{EVENT_GROUP_EXIT_BOOT_SERVICES, EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE};
    CORE.with(|c| {
        c.watchdog = None;
        c.events.signal_group(&EVENT_GROUP_EXIT_BOOT_SERVICES);
    });
    dispatch(Vec::new());
    let va = CORE.with(|c| c.events.group_notifications(&EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE));
    va.iter()
        .filter(|n| {
            let ty = memory::with_map(|m| m.type_at(n.function));
            let keep = ty == Some(vmfw_memmap::MemoryType::RuntimeServicesCode);
            if !keep {
                log::debug!(
                    "address-change notification at {:#x} is not runtime code; dropped",
                    n.function
                );
            }
            keep
        })
        .map(|n| (n.function, n.context))
        .collect()
}

/// Arms the 5-minute watchdog the boot manager sets before starting a
/// boot option (UEFI §3.1.2).
pub fn arm_boot_watchdog() {
    set_watchdog_timer(300, 0, 0, 0);
}

extern "efiapi" fn get_next_monotonic_count(count: *mut u64) -> Efi {
    if count.is_null() {
        return err(Error::InvalidParameter);
    }
    let low = CORE.with(|c| {
        let v = c.monotonic_low;
        c.monotonic_low = v.wrapping_add(1);
        v
    });
    let high = if low == u32::MAX {
        super::runtime::bump_high_count()
    } else {
        super::runtime::high_count()
    };
    status(out(count, (u64::from(high) << 32) | u64::from(low)))
}

// ---------------------------------------------------------------------
// Protocol handler services.

extern "efiapi" fn install_protocol_interface(
    h: *mut usize,
    g: *const Guid,
    _ty: u32,
    iface: u64,
) -> Efi {
    let r = (|| {
        let hin = opt_handle(read(h)?);
        let g = guid(g)?;
        let new = CORE.with(|c| {
            c.db.install_multiple_protocol_interfaces(hin, &[(g, iface)], devpath::same_path)
        })?;
        out(h, new.0.get())
    })();
    signal_protocol_notifies();
    status(r)
}

extern "efiapi" fn reinstall_protocol_interface(
    h: usize,
    g: *const Guid,
    old: u64,
    new: u64,
) -> Efi {
    let r = (|| {
        let h = handle(h)?;
        let g = guid(g)?;
        CORE.with(|c| c.db.reinstall_protocol_interface(h, g, old, new))
    })();
    signal_protocol_notifies();
    status(r)
}

extern "efiapi" fn uninstall_protocol_interface(h: usize, g: *const Guid, iface: u64) -> Efi {
    status((|| {
        let h = handle(h)?;
        let g = guid(g)?;
        CORE.with(|c| c.db.uninstall_protocol_interface(h, g, iface))
    })())
}

pub extern "efiapi" fn handle_protocol(h: usize, g: *const Guid, iface: *mut u64) -> Efi {
    status((|| {
        let h = handle(h)?;
        let g = guid(g)?;
        if iface.is_null() {
            return Err(Error::InvalidParameter);
        }
        let r = CORE.with(|c| c.db.handle_protocol(h, g));
        out(iface, *r.as_ref().unwrap_or(&0))?;
        r.map(|_| ())
    })())
}

extern "efiapi" fn register_protocol_notify(g: *const Guid, e: usize, reg: *mut u64) -> Efi {
    status((|| {
        let g = guid(g)?;
        event(e)?;
        let r = CORE.with(|c| c.db.register_protocol_notify(g, e as u64))?;
        out(reg, r.0.get() as u64)
    })())
}

fn search(ty: u32, g: *const Guid, key: u64) -> Result<SearchType> {
    match ty {
        0 => Ok(SearchType::AllHandles),
        1 => NonZeroUsize::new(key as usize)
            .map(|k| SearchType::ByRegisterNotify(Registration(k)))
            .ok_or(Error::InvalidParameter),
        2 => Ok(SearchType::ByProtocol(guid(g)?)),
        _ => Err(Error::InvalidParameter),
    }
}

extern "efiapi" fn locate_handle(
    ty: u32,
    g: *const Guid,
    key: u64,
    size: *mut usize,
    buffer: *mut usize,
) -> Efi {
    status((|| {
        let s = search(ty, g, key)?;
        let cap = read(size)?;
        let w = core::mem::size_of::<usize>();
        match CORE.with(|c| c.db.locate_handle(s, cap / w)) {
            Ok(hs) => {
                if buffer.is_null() {
                    return Err(Error::InvalidParameter);
                }
                for (i, h) in hs.iter().enumerate() {
                    // SAFETY: the caller's buffer holds `cap / w` handles.
                    unsafe { buffer.add(i).write_unaligned(h.0.get()) };
                }
                out(size, hs.len() * w)
            }
            Err(e) => {
                if e.error == Error::BufferTooSmall {
                    out(size, e.required * w)?;
                }
                Err(e.error)
            }
        }
    })())
}

extern "efiapi" fn locate_handle_buffer(
    ty: u32,
    g: *const Guid,
    key: u64,
    count: *mut usize,
    buffer: *mut u64,
) -> Efi {
    status((|| {
        if count.is_null() || buffer.is_null() {
            return Err(Error::InvalidParameter);
        }
        let s = search(ty, g, key)?;
        let hs: Vec<usize> =
            CORE.with(|c| c.db.locate_handle_buffer(s))?.iter().map(|h| h.0.get()).collect();
        let addr = pool_copy(&hs)?;
        out(count, hs.len())?;
        out(buffer, addr)
    })())
}

extern "efiapi" fn locate_protocol(g: *const Guid, reg: u64, iface: *mut u64) -> Efi {
    status((|| {
        let g = guid(g)?;
        if iface.is_null() {
            return Err(Error::InvalidParameter);
        }
        let reg = NonZeroUsize::new(reg as usize).map(Registration);
        match CORE.with(|c| c.db.locate_protocol(g, reg)) {
            Ok(a) => out(iface, a),
            Err(e) => {
                out(iface, 0)?;
                Err(e)
            }
        }
    })())
}

extern "efiapi" fn locate_device_path(g: *const Guid, path: *mut u64, device: *mut usize) -> Efi {
    status((|| {
        let g = guid(g)?;
        let p = read(path)?;
        if device.is_null() || p == 0 {
            return Err(Error::InvalidParameter);
        }
        // SAFETY: a device path the caller passed (UEFI §7.3).
        let want = unsafe { devpath::from_raw(p) }?;
        let (h, rest) = locate_device(g, want)?;
        out(device, h.0.get())?;
        out(path, p + rest as u64)
    })())
}

/// `LocateDevicePath()`'s search: among the handles carrying protocol
/// `g`, the one whose device path is the longest prefix of `want`, and
/// the offset where the rest of `want` starts.
pub fn locate_device(g: Guid, want: &[u8]) -> Result<(Handle, usize)> {
    let cands = CORE.with(|c| -> Result<Vec<(Handle, u64)>> {
        let hs =
            c.db.locate_handle_buffer(SearchType::ByProtocol(g)).map_err(|_| Error::NotFound)?;
        Ok(hs
            .into_iter()
            .filter_map(|h| c.db.handle_protocol(h, abi::guid::DEVICE_PATH).ok().map(|d| (h, d)))
            .collect())
    })?;
    devpath::locate(want, &cands)
}

extern "efiapi" fn connect_controller(h: usize, _driver: u64, _remaining: u64, _rec: u8) -> Efi {
    // vmfw has no UEFI drivers: nothing can be connected (UEFI §7.3:
    // EFI_NOT_FOUND, "no drivers were connected").
    match handle(h) {
        Ok(h) if CORE.with(|c| c.db.is_valid(h)) => err(Error::NotFound),
        _ => err(Error::InvalidParameter),
    }
}

extern "efiapi" fn disconnect_controller(h: usize, _driver: usize, _child: usize) -> Efi {
    // No driver manages anything, so there is nothing to disconnect.
    match handle(h) {
        Ok(h) if CORE.with(|c| c.db.is_valid(h)) => 0,
        _ => err(Error::InvalidParameter),
    }
}

extern "efiapi" fn open_protocol(
    h: usize,
    g: *const Guid,
    iface: *mut u64,
    agent: usize,
    controller: usize,
    attributes: u32,
) -> Efi {
    status((|| {
        let h = handle(h)?;
        let g = guid(g)?;
        if iface.is_null() && attributes != vmfw_efi::handles::open::TEST_PROTOCOL {
            return Err(Error::InvalidParameter);
        }
        let r = CORE.with(|c| {
            c.db.open_protocol(h, g, opt_handle(agent), opt_handle(controller), attributes)
        });
        if !iface.is_null() && attributes != vmfw_efi::handles::open::TEST_PROTOCOL {
            let v = match r {
                Ok(a) => a,
                // The interface is returned with ALREADY_STARTED (UEFI §7.3).
                Err(Error::AlreadyStarted) => {
                    CORE.with(|c| c.db.handle_protocol(h, g)).unwrap_or(0)
                }
                Err(_) => 0,
            };
            out(iface, v)?;
        }
        r.map(|_| ())
    })())
}

extern "efiapi" fn close_protocol(
    h: usize,
    g: *const Guid,
    agent: usize,
    controller: usize,
) -> Efi {
    status((|| {
        let h = handle(h)?;
        let g = guid(g)?;
        let agent = handle(agent)?;
        CORE.with(|c| c.db.close_protocol(h, g, agent, opt_handle(controller)))
    })())
}

/// `EFI_OPEN_PROTOCOL_INFORMATION_ENTRY`.
#[repr(C)]
#[derive(Clone, Copy)]
struct OpenInfoEntry {
    agent: usize,
    controller: usize,
    attributes: u32,
    open_count: u32,
}

extern "efiapi" fn open_protocol_information(
    h: usize,
    g: *const Guid,
    buffer: *mut u64,
    count: *mut usize,
) -> Efi {
    status((|| {
        let h = handle(h)?;
        let g = guid(g)?;
        if buffer.is_null() || count.is_null() {
            return Err(Error::InvalidParameter);
        }
        let infos: Vec<OpenInfoEntry> = CORE
            .with(|c| c.db.open_protocol_information(h, g))?
            .iter()
            .map(|i| OpenInfoEntry {
                agent: i.agent.map_or(0, |a| a.0.get()),
                controller: i.controller.map_or(0, |a| a.0.get()),
                attributes: i.attributes,
                open_count: i.open_count,
            })
            .collect();
        let addr = pool_copy(&infos)?;
        out(count, infos.len())?;
        out(buffer, addr)
    })())
}

extern "efiapi" fn protocols_per_handle(h: usize, buffer: *mut u64, count: *mut usize) -> Efi {
    status((|| {
        let h = handle(h)?;
        if buffer.is_null() || count.is_null() {
            return Err(Error::InvalidParameter);
        }
        let guids = CORE.with(|c| c.db.protocols_per_handle(h))?;
        // An array of pointers to GUIDs, each in the same pool block.
        let n = guids.len();
        let ptr_bytes = n * 8;
        let total = (ptr_bytes + n * 16) as u64;
        let addr = CORE.with(|c| {
            memory::with_map(|m| c.pool.allocate(m, EfiMemoryType::BOOT_SERVICES_DATA, total))
        })?;
        for (i, g) in guids.iter().enumerate() {
            let gaddr = addr + ptr_bytes as u64 + (i as u64) * 16;
            // SAFETY: inside the fresh pool block of `total` bytes.
            unsafe {
                (gaddr as *mut Guid).write_unaligned(*g);
                ((addr + i as u64 * 8) as *mut u64).write(gaddr);
            }
        }
        out(count, n)?;
        out(buffer, addr)
    })())
}

/// Reads the (GUID pointer, interface) pairs of a variadic
/// Install/UninstallMultipleProtocolInterfaces() call, up to the NULL.
///
/// # Safety
/// `args` must point at the caller's variadic arguments (see the shims).
unsafe fn variadic_pairs(args: *const u64) -> Result<Vec<(Guid, u64)>> {
    let mut pairs = Vec::new();
    for i in 0..64 {
        // SAFETY: the variadic list runs until a NULL GUID pointer.
        let gp = unsafe { args.add(2 * i).read() };
        if gp == 0 {
            return Ok(pairs);
        }
        // SAFETY: as above: a GUID pointer is followed by its interface.
        let iface = unsafe { args.add(2 * i + 1).read() };
        pairs.push((guid(gp as *const Guid)?, iface));
    }
    Err(Error::InvalidParameter)
}

// The two variadic services: the MS x64 convention passes the first four
// arguments in RCX, RDX, R8, R9 and the rest on the stack above the
// 32-byte home area, so a small assembly stub spills the registers into
// the home area and hands the Rust side a pointer to the arguments as one
// contiguous array (handle pointer, then GUID/interface pairs).
core::arch::global_asm!(
    ".pushsection .text.vmfw_multiple, \"ax\", @progbits",
    ".global vmfw_install_multiple",
    "vmfw_install_multiple:",
    "mov [rsp + 8], rcx",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], r8",
    "mov [rsp + 32], r9",
    "lea rcx, [rsp + 8]",
    "sub rsp, 40",
    "call {install}",
    "add rsp, 40",
    "ret",
    ".global vmfw_uninstall_multiple",
    "vmfw_uninstall_multiple:",
    "mov [rsp + 8], rcx",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], r8",
    "mov [rsp + 32], r9",
    "lea rcx, [rsp + 8]",
    "sub rsp, 40",
    "call {uninstall}",
    "add rsp, 40",
    "ret",
    ".popsection",
    install = sym install_multiple_impl,
    uninstall = sym uninstall_multiple_impl,
);

extern "efiapi" {
    #[link_name = "vmfw_install_multiple"]
    fn install_multiple_protocol_interfaces();
    #[link_name = "vmfw_uninstall_multiple"]
    fn uninstall_multiple_protocol_interfaces();
}

extern "efiapi" fn install_multiple_impl(args: *const u64) -> Efi {
    let r = (|| {
        // SAFETY: `args` is the spilled argument array of the stub above.
        let hp = unsafe { args.read() } as *mut usize;
        // SAFETY: the pairs follow the handle pointer in the same array.
        let pairs = unsafe { variadic_pairs(args.add(1)) }?;
        let hin = opt_handle(read(hp)?);
        let new = CORE
            .with(|c| c.db.install_multiple_protocol_interfaces(hin, &pairs, devpath::same_path))?;
        out(hp, new.0.get())
    })();
    signal_protocol_notifies();
    status(r)
}

extern "efiapi" fn uninstall_multiple_impl(args: *const u64) -> Efi {
    status((|| {
        // SAFETY: `args` is the spilled argument array of the stub above.
        let h = handle(unsafe { args.read() } as usize)?;
        // SAFETY: the pairs follow the handle in the same array.
        let pairs = unsafe { variadic_pairs(args.add(1)) }?;
        CORE.with(|c| c.db.uninstall_multiple_protocol_interfaces(h, &pairs))
    })())
}

// ---------------------------------------------------------------------
// Miscellaneous.

extern "efiapi" fn calculate_crc32(data: *const u8, size: usize, crc: *mut u32) -> Efi {
    if data.is_null() || size == 0 || crc.is_null() {
        return err(Error::InvalidParameter);
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let bytes = unsafe { core::slice::from_raw_parts(data, size) };
    status(out(crc, vmfw_block::crc32(bytes)))
}

extern "efiapi" fn copy_mem(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 || dst.is_null() || src.is_null() {
        return;
    }
    // SAFETY: the caller's buffers; they may overlap (UEFI §7.5).
    unsafe { core::ptr::copy(src, dst, len) }
}

extern "efiapi" fn set_mem(buf: *mut u8, len: usize, value: u8) {
    if len == 0 || buf.is_null() {
        return;
    }
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { core::ptr::write_bytes(buf, value, len) }
}
