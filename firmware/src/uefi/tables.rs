//! The system table and the configuration tables (UEFI §4.3, §4.6): both
//! live in the firmware image, i.e. runtime services data.

use super::abi::{self, guid, ConfigurationTable, SystemTable, TableHeader};
use super::boot::{err, Efi, CORE};
use super::global::Shared;
use vmfw_efi::{Error, Guid};

/// "vmfw", NUL-terminated UTF-16.
static VENDOR: [u16; 5] = [b'v' as u16, b'm' as u16, b'f' as u16, b'w' as u16, 0];

pub static SYSTEM: Shared<SystemTable> = Shared::new(SystemTable {
    hdr: TableHeader {
        signature: abi::SYSTEM_TABLE_SIGNATURE,
        revision: abi::SPEC_REVISION,
        header_size: core::mem::size_of::<SystemTable>() as u32,
        crc32: 0,
        reserved: 0,
    },
    firmware_vendor: 0,
    firmware_revision: 0,
    console_in_handle: 0,
    con_in: 0,
    console_out_handle: 0,
    con_out: 0,
    standard_error_handle: 0,
    std_err: 0,
    runtime_services: 0,
    boot_services: 0,
    number_of_table_entries: 0,
    configuration_table: 0,
});

const MAX_TABLES: usize = 32;

const EMPTY: ConfigurationTable = ConfigurationTable { vendor_guid: Guid::ZERO, vendor_table: 0 };

static CONFIG: Shared<[ConfigurationTable; MAX_TABLES]> = Shared::new([EMPTY; MAX_TABLES]);

/// Fills the system table.
pub fn init(con: &super::console::Handles) {
    let st = SYSTEM.get();
    // SAFETY: written before guest code runs.
    unsafe {
        (*st).firmware_vendor = VENDOR.as_ptr() as u64;
        (*st).firmware_revision = firmware_revision();
        (*st).console_in_handle = con.con_in.0.get();
        (*st).con_in = con.con_in_if;
        (*st).console_out_handle = con.con_out.0.get();
        (*st).con_out = con.con_out_if;
        (*st).standard_error_handle = con.con_out.0.get();
        (*st).std_err = con.con_out_if;
        (*st).runtime_services = super::runtime::TABLE.addr();
        (*st).boot_services = super::boot::TABLE.addr();
        (*st).configuration_table = CONFIG.addr();
    }
    update_crc();
}

/// The crate version as `major << 16 | minor` (shown as "major.minor" by
/// loaders that print it).
fn firmware_revision() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major << 16) | (minor & 0xffff)
}

pub fn update_crc() {
    let st = SYSTEM.get();
    // SAFETY: the firmware's own table, plain data.
    unsafe {
        (*st).hdr.crc32 = 0;
        let bytes =
            core::slice::from_raw_parts(st as *const u8, core::mem::size_of::<SystemTable>());
        (*st).hdr.crc32 = abi::table_crc(bytes);
    }
}

/// Adds, replaces or (with `table == 0`) removes a configuration table.
pub fn set(g: Guid, table: u64) -> Result<(), Error> {
    let st = SYSTEM.get();
    // SAFETY: the firmware's tables; no guest code runs during the update.
    let r = unsafe {
        let n = (*st).number_of_table_entries;
        let tables = &mut *CONFIG.get();
        let pos = tables[..n].iter().position(|t| t.vendor_guid == g);
        match (pos, table) {
            (Some(i), 0) => {
                tables.copy_within(i + 1..n, i);
                tables[n - 1] = EMPTY;
                (*st).number_of_table_entries = n - 1;
                Ok(())
            }
            (Some(i), t) => {
                tables[i].vendor_table = t;
                Ok(())
            }
            (None, 0) => Err(Error::NotFound),
            (None, t) if n < MAX_TABLES => {
                tables[n] = ConfigurationTable { vendor_guid: g, vendor_table: t };
                (*st).number_of_table_entries = n + 1;
                Ok(())
            }
            (None, _) => Err(Error::OutOfResources),
        }
    };
    update_crc();
    r
}

pub extern "efiapi" fn install_configuration_table(g: *const Guid, table: u64) -> Efi {
    let Ok(g) = super::boot::guid(g) else { return err(Error::InvalidParameter) };
    if let Err(e) = set(g, table) {
        return err(e);
    }
    // Signal the event group named by the GUID (UEFI §7.3).
    CORE.with(|c| c.events.signal_group(&g));
    super::boot::dispatch(alloc::vec::Vec::new());
    0
}

/// The ACPI and SMBIOS tables the platform has.
pub fn install_platform_tables(rsdp: Option<u64>) {
    if let Some(r) = rsdp {
        // RSDP revision (offset 15): 2 and up has the XSDT (ACPI 2.0+).
        let mut rev = [0u8; 1];
        let ok = vmfw_platform::PhysMem::read(&crate::memory::Phys, r + 15, &mut rev).is_ok();
        if ok && rev[0] >= 2 {
            let _ = set(guid::ACPI_20_TABLE, r);
        }
        let _ = set(guid::ACPI_10_TABLE, r);
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
    vmfw_platform::PhysMem::read(&crate::memory::Phys, 0xf0000, &mut buf).ok()?;
    buf.chunks_exact(16).position(|c| c.starts_with(anchor)).map(|i| 0xf0000 + (i as u64) * 16)
}

/// `SetVirtualAddressMap()`: the pointers of the system table that lead
/// into runtime memory, converted; the fields boot services own are NULL
/// since `ExitBootServices()`.
pub fn convert_system_table(convert: impl Fn(u64) -> Option<u64>) {
    let st = SYSTEM.get();
    // SAFETY: the firmware's own table, plain data.
    unsafe {
        for p in [
            &mut (*st).firmware_vendor,
            &mut (*st).runtime_services,
            &mut (*st).configuration_table,
        ] {
            if let Some(v) = convert(*p) {
                *p = v;
            }
        }
    }
    update_crc();
}

/// `ExitBootServices()`: the console and boot services fields of the
/// system table become invalid (UEFI §4.3); vmfw sets them to NULL.
pub fn clear_boot_fields() {
    let st = SYSTEM.get();
    // SAFETY: the firmware's own table, plain data.
    unsafe {
        (*st).console_in_handle = 0;
        (*st).con_in = 0;
        (*st).console_out_handle = 0;
        (*st).con_out = 0;
        (*st).standard_error_handle = 0;
        (*st).std_err = 0;
        (*st).boot_services = 0;
    }
    update_crc();
}
