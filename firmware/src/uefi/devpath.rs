//! Device paths in guest memory: bounded reads of caller-supplied paths
//! and the comparisons `LocateDevicePath()` and
//! `InstallMultipleProtocolInterfaces()` need. Building and printing paths
//! is host-tested logic in `vmfw_efi::devpath`.

use super::abi::{guid, DevicePathProtocol, DevicePathToTextProtocol, DevicePathUtilitiesProtocol};
use super::ffi::{out, read};
use super::global::Interface;
use super::state::{pool_copy, BOOT};
use alloc::vec::Vec;
use uefi_raw::protocol::device_path::{DeviceSubType, DeviceType};
use uefi_raw::Boolean;
use vmfw_block::{PartitionInfo, PartitionKind};
use vmfw_efi::devpath::{self as dp, HardDrive, PartitionSignature, PathBuilder};
use vmfw_efi::handles::Handle;
use vmfw_efi::handles::SearchType;
use vmfw_efi::{Error, Guid, Result};

/// Longest device path vmfw reads from a caller.
const MAX_PATH: usize = 64 * 1024;

/// The bytes of the device path at `addr`, End node included.
///
/// # Safety
/// `addr` must point at readable memory holding a device path, as the
/// UEFI ABI requires of callers; reading stops at the End node, at a
/// malformed node, or after [`MAX_PATH`] bytes.
pub unsafe fn from_raw(addr: u64) -> Result<&'static [u8]> {
    if addr == 0 {
        return Err(Error::InvalidParameter);
    }
    let mut off = 0usize;
    loop {
        let node = (addr as usize).checked_add(off).ok_or(Error::InvalidParameter)?;
        // SAFETY: the 4-byte node header, inside the caller's path.
        let (ty, sub, len) = unsafe {
            let p = node as *const u8;
            (p.read(), p.add(1).read(), u16::from_le_bytes([p.add(2).read(), p.add(3).read()]))
        };
        if len < 4 {
            return Err(Error::InvalidParameter);
        }
        off += usize::from(len);
        if off > MAX_PATH {
            return Err(Error::InvalidParameter);
        }
        if ty == 0x7f && sub == 0xff {
            // SAFETY: every byte up to `off` belongs to the path just walked.
            return Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, off) });
        }
    }
}

/// The handle among `candidates` (handle, device path interface) whose
/// path is the longest node-wise prefix of `want`, and the offset where
/// the rest of `want` starts (`LocateDevicePath()`).
pub fn locate(want: &[u8], candidates: &[(Handle, u64)]) -> Result<(Handle, usize)> {
    let paths: Vec<(Handle, &[u8])> = candidates
        .iter()
        // SAFETY: device path interfaces installed on handles.
        .filter_map(|&(h, a)| unsafe { from_raw(a) }.ok().map(|p| (h, p)))
        .collect();
    let l = dp::locate(want, paths)?;
    Ok((l.handle, l.remaining))
}

/// `LocateDevicePath()`'s search: among the handles carrying protocol
/// `g`, the one whose device path is the longest prefix of `want`, and
/// the offset where the rest of `want` starts.
pub fn locate_device(g: Guid, want: &[u8]) -> Result<(Handle, usize)> {
    let cands = BOOT.with(|b| -> Result<Vec<(Handle, u64)>> {
        let hs =
            b.db.locate_handle_buffer(SearchType::ByProtocol(g)).map_err(|_| Error::NotFound)?;
        Ok(hs
            .into_iter()
            .filter_map(|h| b.db.handle_protocol(h, guid::DEVICE_PATH).ok().map(|d| (h, d)))
            .collect())
    })?;
    locate(want, &cands)
}

/// Whether two device path interfaces hold the same path (for
/// `InstallMultipleProtocolInterfaces()`'s duplicate check).
pub fn same_path(a: u64, b: u64) -> bool {
    // SAFETY: both are device path interfaces being or already installed.
    match unsafe { (from_raw(a), from_raw(b)) } {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------
// The paths of the firmware's own handles.

/// `PciRoot(0x0)/Pci(dev,fn)`.
pub fn pci_disk(device: u8, function: u8) -> Result<Vec<u8>> {
    PathBuilder::new().pci_root().pci(device, function).finish()
}

/// `VenHw(virtio-mmio, base)`.
pub fn mmio_disk(base: u64) -> Result<Vec<u8>> {
    PathBuilder::new().virtio_mmio(base).finish()
}

/// The disk's path plus `HD(...)` for a partition.
pub fn partition(disk: &[u8], p: &PartitionInfo, mbr_signature: u32) -> Result<Vec<u8>> {
    let signature = match &p.kind {
        PartitionKind::Gpt(g) => PartitionSignature::Gpt(g.unique_guid),
        PartitionKind::Mbr(_) => PartitionSignature::Mbr(mbr_signature),
    };
    let hd = HardDrive {
        partition_number: p.number,
        start_lba: p.first_lba,
        size_lbas: p.num_blocks(),
        signature,
    };
    PathBuilder::from_path(disk).hard_drive(&hd).finish()
}

/// `device` followed by a FilePath node for `path`.
pub fn file(device: &[u8], path: &str) -> Result<Vec<u8>> {
    PathBuilder::from_path(device).file_path(path).finish()
}

// ---------------------------------------------------------------------
// EFI_DEVICE_PATH_TO_TEXT_PROTOCOL and EFI_DEVICE_PATH_UTILITIES_PROTOCOL
// (UEFI §10.6, §10.5). Results are pool allocations the caller frees.

type Path = *const DevicePathProtocol;
type NewPath = *mut DevicePathProtocol;

static TO_TEXT: Interface<DevicePathToTextProtocol> = Interface(DevicePathToTextProtocol {
    convert_device_node_to_text: node_to_text,
    convert_device_path_to_text: path_to_text,
});

static UTILITIES: Interface<DevicePathUtilitiesProtocol> = Interface(DevicePathUtilitiesProtocol {
    get_device_path_size: get_size,
    duplicate_device_path: duplicate,
    append_device_path: append,
    append_device_node: append_node,
    append_device_path_instance: append_instance,
    get_next_device_path_instance: next_instance,
    is_device_path_multi_instance: is_multi,
    create_device_node: create_node,
});

/// Installs both protocols on one handle.
pub fn install_protocols() -> Result<()> {
    BOOT.with(|b| {
        b.db.install_multiple_protocol_interfaces(
            None,
            &[
                (guid::DEVICE_PATH_TO_TEXT, TO_TEXT.addr()),
                (guid::DEVICE_PATH_UTILITIES, UTILITIES.addr()),
            ],
            |_, _| false,
        )
    })
    .map(|_| ())
}

/// A caller's path, or `None` for NULL.
fn opt_path(addr: Path) -> Result<Option<&'static [u8]>> {
    if addr.is_null() {
        return Ok(None);
    }
    // SAFETY: a device path the caller passed.
    unsafe { from_raw(addr as u64) }.map(Some)
}

/// A caller's single node, bounded by its own length field.
fn node_arg(addr: Path) -> Option<&'static [u8]> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the caller's node: its 4-byte header, then `len` bytes.
    unsafe {
        let p = addr.cast::<u8>();
        let len = usize::from(u16::from_le_bytes([p.add(2).read(), p.add(3).read()]));
        (len >= 4).then(|| core::slice::from_raw_parts(p, len))
    }
}

/// Copies `bytes` into a new pool block; NULL when there is no memory.
fn to_pool<T>(bytes: &[u8]) -> *mut T {
    pool_copy(bytes).unwrap_or(0) as *mut T
}

fn utf16_to_pool(text: Result<Vec<u16>>) -> *mut u16 {
    match text {
        Ok(t) => {
            let bytes: Vec<u8> = t.iter().flat_map(|u| u.to_le_bytes()).collect();
            to_pool(&bytes)
        }
        Err(_) => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn node_to_text(node: Path, _display: Boolean, _short: Boolean) -> *mut u16 {
    node_arg(node).map_or(core::ptr::null_mut(), |n| utf16_to_pool(dp::node_to_utf16(n)))
}

unsafe extern "efiapi" fn path_to_text(path: Path, _display: Boolean, _short: Boolean) -> *mut u16 {
    match opt_path(path) {
        Ok(Some(p)) => utf16_to_pool(dp::path_to_utf16(p)),
        _ => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn get_size(path: Path) -> usize {
    match opt_path(path) {
        Ok(Some(p)) => p.len(),
        _ => 0,
    }
}

fn vec_to_pool(v: Result<Vec<u8>>) -> NewPath {
    v.map_or(core::ptr::null_mut(), |v| to_pool(&v))
}

unsafe extern "efiapi" fn duplicate(path: Path) -> NewPath {
    match opt_path(path) {
        Ok(Some(p)) => vec_to_pool(dp::duplicate(p)),
        _ => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn append(a: Path, b: Path) -> NewPath {
    match (opt_path(a), opt_path(b)) {
        (Ok(a), Ok(b)) => vec_to_pool(dp::append(a, b)),
        _ => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn append_node(path: Path, node: Path) -> NewPath {
    match opt_path(path) {
        Ok(p) => vec_to_pool(dp::append_node(p, node_arg(node))),
        Err(_) => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn append_instance(path: Path, instance: Path) -> NewPath {
    match (opt_path(path), opt_path(instance)) {
        (Ok(p), Ok(i)) => vec_to_pool(dp::append_instance(p, i)),
        _ => core::ptr::null_mut(),
    }
}

unsafe extern "efiapi" fn next_instance(path: *mut Path, size: *mut usize) -> NewPath {
    let Ok(addr) = read(path) else { return core::ptr::null_mut() };
    let Ok(Some(p)) = opt_path(addr) else { return core::ptr::null_mut() };
    let Ok(inst) = dp::next_instance(p) else { return core::ptr::null_mut() };
    let next = inst.next.map_or(core::ptr::null(), |off| (addr as u64 + off as u64) as Path);
    let _ = out(path, next);
    if !size.is_null() {
        let _ = out(size, inst.path.len());
    }
    to_pool(&inst.path)
}

unsafe extern "efiapi" fn is_multi(path: Path) -> Boolean {
    Boolean(u8::from(matches!(opt_path(path), Ok(Some(p)) if dp::is_multi_instance(p))))
}

unsafe extern "efiapi" fn create_node(
    ty: DeviceType,
    subtype: DeviceSubType,
    length: u16,
) -> NewPath {
    vec_to_pool(dp::create_node(ty.0, subtype.0, length))
}
