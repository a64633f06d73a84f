//! The system table and its two services tables (UEFI §4.3–§4.6), built
//! once from the shims of every service, and the services that change
//! the tables themselves: `InstallConfigurationTable()`,
//! `ExitBootServices()`, `SetVirtualAddressMap()`, `ConvertPointer()`.
//!
//! This module is the top of the UEFI layer's module graph: it names every
//! service; no service names it.

use super::abi::{
    self, guid, BootServices, ConfigurationTable, RuntimeServices, SimpleTextInputExProtocol,
    SimpleTextInputProtocol, SimpleTextOutputMode, SystemTable,
};
use super::events::{dispatch, signal_group};
use super::ffi::{err, guid as guid_arg, handle, out, ptr, raw_event, raw_handle, Efi, SUCCESS};
use super::state::{self, tables, Tables, BOOT, DISKS, MAX_CONFIG_TABLES, RUNTIME};
use super::{boot, console, image, runtime};
use crate::memory;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::{addr_of, addr_of_mut};
use uefi_raw::table::boot::MemoryDescriptor;
use uefi_raw::{Guid as RawGuid, Handle as RawHandle};
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, Guid, Result};

/// "vmfw", NUL-terminated UTF-16.
static VENDOR: [u16; 5] = [b'v' as u16, b'm' as u16, b'f' as u16, b'w' as u16, 0];

fn boot_services() -> BootServices {
    BootServices {
        header: abi::header::<BootServices>(abi::BOOT_SERVICES_SIGNATURE),
        raise_tpl: boot::raise_tpl,
        restore_tpl: boot::restore_tpl,
        allocate_pages: boot::allocate_pages,
        free_pages: boot::free_pages,
        get_memory_map: boot::get_memory_map,
        allocate_pool: boot::allocate_pool,
        free_pool: boot::free_pool,
        create_event: boot::create_event,
        set_timer: boot::set_timer,
        wait_for_event: boot::wait_for_event,
        signal_event: boot::signal_event,
        close_event: boot::close_event,
        check_event: boot::check_event,
        install_protocol_interface: boot::install_protocol_interface,
        reinstall_protocol_interface: boot::reinstall_protocol_interface,
        uninstall_protocol_interface: boot::uninstall_protocol_interface,
        handle_protocol: boot::handle_protocol,
        reserved: core::ptr::null_mut(),
        register_protocol_notify: boot::register_protocol_notify,
        locate_handle: boot::locate_handle,
        locate_device_path: boot::locate_device_path,
        install_configuration_table,
        load_image: image::load_image,
        start_image: image::start_image,
        exit: image::exit,
        unload_image: image::unload_image,
        exit_boot_services,
        get_next_monotonic_count: boot::get_next_monotonic_count,
        stall: boot::stall,
        set_watchdog_timer: boot::set_watchdog_timer,
        connect_controller: boot::connect_controller,
        disconnect_controller: boot::disconnect_controller,
        open_protocol: boot::open_protocol,
        close_protocol: boot::close_protocol,
        open_protocol_information: boot::open_protocol_information,
        protocols_per_handle: boot::protocols_per_handle,
        locate_handle_buffer: boot::locate_handle_buffer,
        locate_protocol: boot::locate_protocol,
        // The variadic services: the arch layer's stubs spill the
        // arguments and call `boot::vmfw_(un)install_multiple_impl`.
        install_multiple_protocol_interfaces: crate::arch::efi_call::install_multiple(),
        uninstall_multiple_protocol_interfaces: crate::arch::efi_call::uninstall_multiple(),
        calculate_crc32: boot::calculate_crc32,
        copy_mem: boot::copy_mem,
        set_mem: boot::set_mem,
        create_event_ex: boot::create_event_ex,
    }
}

/// The runtime services table, each service behind the architecture's
/// entry for calls from the OS (`arch::efi_call::runtime_entry`).
fn runtime_services() -> RuntimeServices {
    use crate::arch::efi_call::runtime_entry as entry;
    RuntimeServices {
        header: abi::header::<RuntimeServices>(abi::RUNTIME_SERVICES_SIGNATURE),
        get_time: entry(0, runtime::get_time),
        set_time: entry(1, runtime::set_time),
        get_wakeup_time: entry(2, runtime::get_wakeup_time),
        set_wakeup_time: entry(3, runtime::set_wakeup_time),
        set_virtual_address_map: entry(4, set_virtual_address_map),
        convert_pointer: entry(5, convert_pointer),
        get_variable: entry(6, runtime::get_variable),
        get_next_variable_name: entry(7, runtime::get_next_variable_name),
        set_variable: entry(8, runtime::set_variable),
        get_next_high_monotonic_count: entry(9, runtime::get_next_high_monotonic_count),
        reset_system: entry(10, runtime::reset_system),
        update_capsule: entry(11, runtime::update_capsule),
        query_capsule_capabilities: entry(12, runtime::query_capsule_capabilities),
        query_variable_info: entry(13, runtime::query_variable_info),
    }
}

/// Writes every table (before any guest code runs) and installs the
/// console protocols on their handles.
pub fn init(wait: vmfw_efi::EventId, wait_ex: vmfw_efi::EventId) -> Result<()> {
    let t = tables();
    const EMPTY: ConfigurationTable =
        ConfigurationTable { vendor_guid: RawGuid::ZERO, vendor_table: core::ptr::null_mut() };
    // SAFETY: the tables' static storage, written whole once, before any
    // guest code can read it.
    unsafe {
        t.write(Tables {
            system: SystemTable {
                header: abi::header::<SystemTable>(abi::SYSTEM_TABLE_SIGNATURE),
                firmware_vendor: VENDOR.as_ptr(),
                firmware_revision: firmware_revision(),
                stdin_handle: core::ptr::null_mut(),
                stdin: core::ptr::null_mut(),
                stdout_handle: core::ptr::null_mut(),
                stdout: core::ptr::null_mut(),
                stderr_handle: core::ptr::null_mut(),
                stderr: core::ptr::null_mut(),
                runtime_services: core::ptr::null_mut(),
                boot_services: core::ptr::null_mut(),
                number_of_configuration_table_entries: 0,
                configuration_table: core::ptr::null_mut(),
            },
            boot: boot_services(),
            runtime: runtime_services(),
            config: [EMPTY; MAX_CONFIG_TABLES],
            text_mode: SimpleTextOutputMode {
                max_mode: 1,
                mode: 0,
                attribute: 0x07,
                cursor_column: 0,
                cursor_row: 0,
                cursor_visible: uefi_raw::Boolean(1),
            },
            text_out: abi::SimpleTextOutputProtocol {
                reset: console::out_reset,
                output_string: console::output_string,
                test_string: console::test_string,
                query_mode: console::query_mode,
                set_mode: console::set_mode,
                set_attribute: console::set_attribute,
                clear_screen: console::clear_screen,
                set_cursor_position: console::set_cursor_position,
                enable_cursor: console::enable_cursor,
                mode: addr_of!((*t).text_mode),
            },
            text_in: SimpleTextInputProtocol {
                reset: console::in_reset,
                read_key_stroke: console::read_key_stroke,
                wait_for_key: raw_event(wait),
            },
            text_in_ex: SimpleTextInputExProtocol {
                reset: console::in_reset_ex,
                read_key_stroke_ex: console::read_key_stroke_ex,
                wait_for_key_ex: raw_event(wait_ex),
                set_state: console::set_state,
                register_key_notify: console::register_key_notify,
                unregister_key_notify: console::unregister_key_notify,
            },
        });
    }
    // SAFETY: only field addresses of the tables just written.
    let (text_in, text_in_ex, text_out) = unsafe {
        (
            addr_of!((*t).text_in) as u64,
            addr_of!((*t).text_in_ex) as u64,
            addr_of_mut!((*t).text_out),
        )
    };
    let (con_in, con_out) = BOOT.with(|b| -> Result<(Handle, Handle)> {
        let con_in = b.db.install_multiple_protocol_interfaces(
            None,
            &[(guid::SIMPLE_TEXT_INPUT, text_in), (guid::SIMPLE_TEXT_INPUT_EX, text_in_ex)],
            |_, _| false,
        )?;
        let con_out =
            b.db.install_protocol_interface(None, guid::SIMPLE_TEXT_OUTPUT, text_out as u64)?;
        Ok((con_in, con_out))
    })?;
    // SAFETY: the firmware's tables, written above; no guest code runs.
    unsafe {
        let st = addr_of_mut!((*t).system);
        (*st).stdin_handle = raw_handle(con_in);
        (*st).stdin = text_in as *mut _;
        (*st).stdout_handle = raw_handle(con_out);
        (*st).stdout = text_out;
        (*st).stderr_handle = raw_handle(con_out);
        (*st).stderr = text_out;
        (*st).runtime_services = addr_of_mut!((*t).runtime);
        (*st).boot_services = addr_of_mut!((*t).boot);
        (*st).configuration_table = addr_of_mut!((*t).config).cast();
        abi::update_crc(addr_of_mut!((*t).boot));
        abi::update_crc(addr_of_mut!((*t).runtime));
    }
    state::update_system_crc();
    Ok(())
}

/// The crate version as `major << 16 | minor` (shown as "major.minor" by
/// loaders that print it).
fn firmware_revision() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major << 16) | (minor & 0xffff)
}

/// Adds, replaces or (with `table == 0`) removes a configuration table.
pub fn set(g: Guid, table: u64) -> Result<()> {
    let t = tables();
    // SAFETY: the firmware's tables; no guest code runs during the update.
    let r = unsafe {
        let st = addr_of_mut!((*t).system);
        let config = &mut *addr_of_mut!((*t).config);
        let n = (*st).number_of_configuration_table_entries;
        let raw = super::ffi::raw_guid(g);
        let pos = config.get(..n).and_then(|c| c.iter().position(|x| x.vendor_guid == raw));
        match (pos, table) {
            (Some(i), 0) => {
                config[i..n].rotate_left(1);
                config[n - 1].vendor_guid = RawGuid::ZERO;
                config[n - 1].vendor_table = core::ptr::null_mut();
                (*st).number_of_configuration_table_entries = n - 1;
                Ok(())
            }
            (Some(i), t) => {
                config[i].vendor_table = ptr(t);
                Ok(())
            }
            (None, 0) => Err(Error::NotFound),
            (None, t) if n < MAX_CONFIG_TABLES => {
                config[n] = ConfigurationTable { vendor_guid: raw, vendor_table: ptr(t) };
                (*st).number_of_configuration_table_entries = n + 1;
                Ok(())
            }
            (None, _) => Err(Error::OutOfResources),
        }
    };
    state::update_system_crc();
    r
}

unsafe extern "efiapi" fn install_configuration_table(
    g: *const RawGuid,
    table: *const c_void,
) -> Efi {
    let Ok(g) = guid_arg(g) else { return err(Error::InvalidParameter) };
    if let Err(e) = set(g, table as u64) {
        return err(e);
    }
    // Signal the event group named by the GUID (UEFI §7.3).
    signal_group(&g);
    SUCCESS
}

/// `EFI_RT_PROPERTIES_TABLE` (UEFI 2.10 §4.6.2) where the runtime
/// services do without `SetVirtualAddressMap()`: version 1, its length,
/// and every runtime service but `SetVirtualAddressMap()`,
/// `ConvertPointer()` and the capsule services (bits 7, 8, 11, 12).
/// In the image, which is runtime memory.
static RT_PROPERTIES: [u16; 4] = [1, 8, 0x3fff & !(0x80 | 0x100 | 0x800 | 0x1000), 0];

/// The ACPI, SMBIOS and device-tree tables the platform has, and the
/// runtime properties table where it is needed.
pub fn install_platform_tables(rsdp: Option<u64>, fdt: Option<u64>) {
    if let Some(f) = fdt {
        let _ = set(guid::DEVICE_TREE_TABLE, f);
    }
    if !crate::arch::RUNTIME_VIRTUAL_MAP {
        let _ = set(guid::RT_PROPERTIES_TABLE, RT_PROPERTIES.as_ptr() as u64);
    }
    if let Some(r) = rsdp {
        // RSDP revision (offset 15): 2 and up has the XSDT (ACPI 2.0+).
        let mut rev = [0u8; 1];
        let ok = vmfw_platform::PhysMem::read(&memory::Phys, r + 15, &mut rev).is_ok();
        if ok && rev[0] >= 2 {
            let _ = set(guid::ACPI_20_TABLE, r);
        }
        let _ = set(guid::ACPI_10_TABLE, r);
    }
    // The legacy BIOS area is a PC's.
    if crate::arch::HAS_DEVICE_TREE {
        return;
    }
    if let Some(a) = find_anchor(b"_SM3_") {
        let _ = set(guid::SMBIOS3_TABLE, a);
    }
    if let Some(a) = find_anchor(b"_SM_") {
        let _ = set(guid::SMBIOS_TABLE, a);
    }
}

/// An SMBIOS entry point in the legacy BIOS area (0xF0000–0xFFFFF, on a
/// 16-byte boundary), where VMMs such as Cloud Hypervisor put it.
fn find_anchor(anchor: &[u8]) -> Option<u64> {
    let mut buf = alloc::vec![0u8; 0x10000];
    vmfw_platform::PhysMem::read(&memory::Phys, 0xf0000, &mut buf).ok()?;
    buf.chunks_exact(16).position(|c| c.starts_with(anchor)).map(|i| 0xf0000 + (i as u64) * 16)
}

// ---------------------------------------------------------------------
// ExitBootServices() (UEFI §7.4).

unsafe extern "efiapi" fn exit_boot_services(image: RawHandle, key: usize) -> Efi {
    if state::at_runtime() || handle(image).is_err() {
        return err(Error::InvalidParameter);
    }
    // The loader's part ends at its first call, even if that one fails
    // on a stale map key and the loader retries.
    crate::progress::exit_boot_services_called();
    if let Err(e) = memory::with_map(|m| vmfw_efi::memory::check_map_key(m, key)) {
        log::debug!("ExitBootServices: stale map key");
        return err(e);
    }
    // Tell the registered components (UEFI §7.1 event groups), then keep
    // the address-change notifications that can live on at runtime.
    let va = exit_boot_services_events();
    DISKS.with(|d| d.iter().for_each(crate::disks::BootDisk::quiesce));
    crate::info!("ExitBootServices: the OS owns the machine now");
    crate::progress::handoff();
    log::set_max_level(log::LevelFilter::Off);
    memory::switch_to_runtime_heap();
    RUNTIME.with(|r| {
        // Copied into the runtime heap; the original stays in boot memory,
        // which belongs to the OS now.
        let copy = r.to_runtime(va);
        core::mem::forget(core::mem::replace(r, copy));
    });
    clear_boot_fields();
    SUCCESS
}

/// Signals the exit-boot-services group and runs its notifications,
/// disarms the watchdog, and returns the virtual-address-change
/// notifications whose code is runtime services code (others would run
/// from memory the OS owns by then).
fn exit_boot_services_events() -> Vec<(u64, u64)> {
    use vmfw_efi::events::{EVENT_GROUP_EXIT_BOOT_SERVICES, EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE};
    BOOT.with(|b| b.watchdog = None);
    signal_group(&EVENT_GROUP_EXIT_BOOT_SERVICES);
    dispatch(Vec::new());
    let va = BOOT.with(|b| b.events.group_notifications(&EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE));
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

/// The console and boot services fields of the system table become
/// invalid at `ExitBootServices()` (UEFI §4.3); vmfw sets them to NULL.
fn clear_boot_fields() {
    // SAFETY: the firmware's own table, plain data.
    unsafe {
        let st = addr_of_mut!((*tables()).system);
        (*st).stdin_handle = core::ptr::null_mut();
        (*st).stdin = core::ptr::null_mut();
        (*st).stdout_handle = core::ptr::null_mut();
        (*st).stdout = core::ptr::null_mut();
        (*st).stderr_handle = core::ptr::null_mut();
        (*st).stderr = core::ptr::null_mut();
        (*st).boot_services = core::ptr::null_mut();
    }
    state::update_system_crc();
}

// ---------------------------------------------------------------------
// Virtual addressing (UEFI §8.4).

fn convert(map: &[(u64, u64, u64)], addr: u64) -> Option<u64> {
    map.iter().find(|(p, _, len)| addr >= *p && addr - *p < *len).map(|(p, v, _)| v + (addr - p))
}

unsafe extern "efiapi" fn set_virtual_address_map(
    map_size: usize,
    desc_size: usize,
    version: u32,
    map: *const MemoryDescriptor,
) -> Efi {
    let map = map.cast::<u8>();
    if !crate::arch::RUNTIME_VIRTUAL_MAP {
        return err(Error::Unsupported);
    }
    let ok = RUNTIME.with(|r| r.at_runtime && r.virtual_map.is_none());
    if !ok {
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
        let field = |o: usize| vmfw_bytes::u64_at(d, o).unwrap_or(0);
        let (phys, virt, pages, attr) = (field(8), field(16), field(24), field(32));
        if attr & vmfw_efi::memory::attribute::RUNTIME != 0 {
            ranges.push((phys, virt, pages.saturating_mul(4096)));
        }
    }
    let va_events = RUNTIME.with(|r| {
        r.virtual_map = Some(ranges.clone());
        r.va_events.clone()
    });

    // The components' notifications, which call ConvertPointer().
    for (f, ctx) in va_events {
        super::events::call_notify(f, 0, ctx);
    }

    // The firmware's own pointers.
    let t = tables();
    // SAFETY: the firmware's runtime table; every field after the header
    // is a function pointer into the firmware image (see the layout
    // assertions in `abi`), converted in place as plain addresses.
    unsafe {
        let rt = addr_of_mut!((*t).runtime);
        let fns = core::slice::from_raw_parts_mut(
            rt.cast::<u8>().add(core::mem::size_of::<abi::Header>()).cast::<u64>(),
            14,
        );
        for f in fns {
            if let Some(v) = convert(&ranges, *f) {
                *f = v;
            }
        }
        abi::update_crc(rt);
        let st = addr_of_mut!((*t).system);
        let p = st.cast::<u8>();
        for off in [
            core::mem::offset_of!(SystemTable, firmware_vendor),
            core::mem::offset_of!(SystemTable, runtime_services),
            core::mem::offset_of!(SystemTable, configuration_table),
        ] {
            let field = p.add(off).cast::<u64>();
            if let Some(v) = convert(&ranges, *field) {
                *field = v;
            }
        }
    }
    state::update_system_crc();
    SUCCESS
}

unsafe extern "efiapi" fn convert_pointer(disposition: usize, address: *mut *mut c_void) -> Efi {
    if address.is_null() {
        return err(Error::InvalidParameter);
    }
    // SAFETY: the caller's pointer variable.
    let a = unsafe { address.read_unaligned() } as u64;
    if a == 0 {
        return if disposition & 1 != 0 { SUCCESS } else { err(Error::InvalidParameter) };
    }
    match RUNTIME.with(|r| r.virtual_map.as_ref().map(|m| convert(m, a))) {
        None => err(Error::NotFound),
        Some(Some(v)) => super::ffi::status(out(address, ptr(v))),
        Some(None) => err(Error::NotFound),
    }
}
