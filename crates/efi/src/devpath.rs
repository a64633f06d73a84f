//! Device paths (UEFI §10): parsing, building, the logic of the
//! `EFI_DEVICE_PATH_UTILITIES_PROTOCOL` (§10.5) and of
//! `EFI_DEVICE_PATH_TO_TEXT_PROTOCOL` (§10.6), the prefix search behind
//! `LocateDevicePath()` (§7.3) and file-path extraction for `LoadImage()`.
//!
//! A device path is a packed byte string of nodes; each node is a 4-byte
//! header (type, subtype, little-endian `u16` length that counts the
//! header) followed by `length - 4` bytes of data, on any byte boundary.
//! A path ends with an End Entire node (`7f ff 04 00`); End Instance nodes
//! (`7f 01 04 00`) separate the instances of a multi-instance path.
//!
//! Everything here works on byte slices and returns `Vec<u8>`: the
//! firmware's shims turn the caller's pointer into a slice bounded by
//! [`MAX_SIZE`] (or by the end of memory) and copy results into pool.
//!
//! Validity (checked by [`check`], which every other function uses on its
//! inputs), stricter than "hop until an End node" so that a hostile path
//! cannot make a walker read out of bounds or loop:
//! - every node header lies wholly in the slice and its length is at
//!   least 4 and does not run past the slice;
//! - every node of type End (`0x7f`) is an End Instance or End Entire node
//!   of length exactly 4 (as EDK2's `IsDevicePathValid()` requires of the
//!   final node);
//! - an End Entire node is found within the first [`MAX_SIZE`] bytes.
//!
//! Violations are named by [`Malformed`] and surface through the crate's
//! [`Error`] as `EFI_INVALID_PARAMETER`. A walk over `n` bytes visits at
//! most `n / 4` nodes.
//!
//! `NULL` arguments: where the spec gives `NULL` a meaning (the `Append*`
//! functions), the argument is an `Option<&[u8]>`; elsewhere the shim
//! handles `NULL` itself (`GetDevicePathSize(NULL)` is 0,
//! `DuplicateDevicePath(NULL)` is `NULL`, `IsDevicePathMultiInstance(NULL)`
//! is `FALSE`). Every error of a function whose protocol counterpart
//! returns a pointer becomes `NULL` in the shim.
//!
//! Text (§10.6): numbers are printed as EDK2 and the spec's examples do:
//! upper-case hex with `0x` (`Pci(0x1F,0x2)`), partition numbers and the
//! generic `Path(type,subtype,…)` in decimal, GUIDs upper case, hex dumps
//! upper case. `DisplayOnly`/`AllowShortcuts` change nothing for the node
//! kinds printed here, so the functions take no flags.

use crate::{Error, Guid, Result};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use vmfw_bytes::{array, u16_at, u32_at, u64_at, u8_at};

/// Size of a node header (type, subtype, length).
pub const HEADER_SIZE: usize = 4;

/// The longest device path (End node included) this module accepts or
/// builds: 64 KiB. Real paths are well under 1 KiB; the bound caps the work
/// a hostile path can cause and lets the shim bound the slice it makes
/// from a raw pointer.
pub const MAX_SIZE: usize = 64 * 1024;

/// Hardware device path type.
pub const TYPE_HARDWARE: u8 = 0x01;
/// ACPI device path type.
pub const TYPE_ACPI: u8 = 0x02;
/// Messaging device path type.
pub const TYPE_MESSAGING: u8 = 0x03;
/// Media device path type.
pub const TYPE_MEDIA: u8 = 0x04;
/// BIOS Boot Specification device path type.
pub const TYPE_BBS: u8 = 0x05;
/// End of hardware device path type.
pub const TYPE_END: u8 = 0x7f;

/// End subtype: end of this instance, another follows.
pub const SUBTYPE_END_INSTANCE: u8 = 0x01;
/// End subtype: end of the entire path.
pub const SUBTYPE_END_ENTIRE: u8 = 0xff;
/// Hardware subtype: PCI (data: function, device).
pub const SUBTYPE_HW_PCI: u8 = 0x01;
/// Hardware subtype: vendor (data: GUID, vendor bytes).
pub const SUBTYPE_HW_VENDOR: u8 = 0x04;
/// ACPI subtype: ACPI device path (data: `_HID`, `_UID`).
pub const SUBTYPE_ACPI: u8 = 0x01;
/// Media subtype: hard drive partition.
pub const SUBTYPE_MEDIA_HARD_DRIVE: u8 = 0x01;
/// Media subtype: vendor (data: GUID, vendor bytes).
pub const SUBTYPE_MEDIA_VENDOR: u8 = 0x03;
/// Media subtype: file path (data: UTF-16LE, NUL-terminated).
pub const SUBTYPE_MEDIA_FILE_PATH: u8 = 0x04;

/// An End Entire node.
pub const END_ENTIRE: [u8; 4] = [TYPE_END, SUBTYPE_END_ENTIRE, 4, 0];
/// An End Instance node.
pub const END_INSTANCE: [u8; 4] = [TYPE_END, SUBTYPE_END_INSTANCE, 4, 0];

/// `EISA_PNP_ID(0x0A03)`: the `_HID` of a PCI host bridge, `PNP0A03`.
pub const PNP0A03: u32 = 0x0a03_41d0;
/// `EISA_PNP_ID(0x0A08)`: the `_HID` of a PCI Express host bridge.
pub const PNP0A08: u32 = 0x0a08_41d0;
/// The low 16 bits of every `EISA_PNP_ID()`: "PNP" compressed.
const PNP_EISA_VENDOR: u32 = 0x41d0;

/// Vendor GUID of vmfw's virtio-mmio disk node (a Vendor hardware node
/// whose data is the device's MMIO base, `u64` little endian):
/// `3D260DCA-AED8-4343-96E8-962E6199A07B`.
pub const VIRTIO_MMIO_GUID: Guid = Guid::from_fields(
    0x3d26_0dca,
    0xaed8,
    0x4343,
    [0x96, 0xe8, 0x96, 0x2e, 0x61, 0x99, 0xa0, 0x7b],
);

/// `LINUX_EFI_INITRD_MEDIA_GUID`, `5568E427-68FC-4F3D-AC74-CA555231CC68`:
/// a Vendor media node with this GUID (and no data), alone in a path, is
/// the handle whose `EFI_LOAD_FILE2_PROTOCOL` serves Linux's initrd.
pub const LINUX_INITRD_MEDIA_GUID: Guid = Guid::from_fields(
    0x5568_e427,
    0x68fc,
    0x4f3d,
    [0xac, 0x74, 0xca, 0x55, 0x52, 0x31, 0xcc, 0x68],
);

/// Hard drive node `PartitionFormat`: PC-AT MBR.
pub const HD_FORMAT_MBR: u8 = 0x01;
/// Hard drive node `PartitionFormat`: GPT.
pub const HD_FORMAT_GPT: u8 = 0x02;
/// Hard drive node `SignatureType`: no signature.
pub const HD_SIGNATURE_NONE: u8 = 0x00;
/// Hard drive node `SignatureType`: 32-bit MBR disk signature.
pub const HD_SIGNATURE_MBR: u8 = 0x01;
/// Hard drive node `SignatureType`: GUID.
pub const HD_SIGNATURE_GUID: u8 = 0x02;

/// Length of a hard drive node.
const HD_NODE_SIZE: usize = 42;

/// Why bytes are not a valid device path (see the module docs). Every
/// variant becomes [`Error::InvalidParameter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The slice ends between nodes without an End Entire node.
    NoEnd,
    /// Fewer than 4 bytes remain at `offset`, where a node header starts.
    TruncatedHeader {
        /// Byte offset of the node.
        offset: usize,
    },
    /// The node at `offset` has a length below 4.
    LengthTooSmall {
        /// Byte offset of the node.
        offset: usize,
        /// Its length field.
        length: u16,
    },
    /// The node at `offset` runs past the end of the slice.
    Overrun {
        /// Byte offset of the node.
        offset: usize,
        /// Its length field.
        length: u16,
    },
    /// The End-type node at `offset` has a subtype other than Instance or
    /// Entire, or a length other than 4.
    BadEnd {
        /// Byte offset of the node.
        offset: usize,
    },
    /// No End Entire node within [`MAX_SIZE`] bytes.
    TooLong,
}

impl From<Malformed> for Error {
    fn from(_: Malformed) -> Error {
        Error::InvalidParameter
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Malformed::NoEnd => f.write_str("no End Entire node"),
            Malformed::TruncatedHeader { offset } => {
                write!(f, "truncated node header at offset {offset}")
            }
            Malformed::LengthTooSmall { offset, length } => {
                write!(f, "node length {length} below 4 at offset {offset}")
            }
            Malformed::Overrun { offset, length } => {
                write!(f, "node of length {length} at offset {offset} runs past the end")
            }
            Malformed::BadEnd { offset } => write!(f, "malformed End node at offset {offset}"),
            Malformed::TooLong => write!(f, "longer than {MAX_SIZE} bytes"),
        }
    }
}

/// One node: header fields and the data after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    /// `Type`.
    pub ty: u8,
    /// `SubType`.
    pub subtype: u8,
    /// The bytes after the header (`Length - 4` of them).
    pub data: &'a [u8],
}

/// The node at `offset` of `bytes` and the offset after it; checks the
/// header only (no End rules).
fn node_at(bytes: &[u8], offset: usize) -> core::result::Result<(Node<'_>, usize), Malformed> {
    let rest = bytes.get(offset..).unwrap_or(&[]);
    let (ty, subtype, length) = match rest {
        [] => return Err(Malformed::NoEnd),
        [ty, subtype, l0, l1, ..] => (*ty, *subtype, u16::from_le_bytes([*l0, *l1])),
        _ => return Err(Malformed::TruncatedHeader { offset }),
    };
    let len = usize::from(length);
    if len < HEADER_SIZE {
        return Err(Malformed::LengthTooSmall { offset, length });
    }
    let data = rest.get(HEADER_SIZE..len).ok_or(Malformed::Overrun { offset, length })?;
    let next = offset.checked_add(len).ok_or(Malformed::TooLong)?;
    Ok((Node { ty, subtype, data }, next))
}

impl<'a> Node<'a> {
    /// A node with these fields.
    pub const fn new(ty: u8, subtype: u8, data: &'a [u8]) -> Self {
        Self { ty, subtype, data }
    }

    /// The first node of `bytes` (which may continue past it), checking
    /// only its header: at least 4 bytes, `Length >= 4`, within `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        node_at(bytes, 0).map(|(node, _)| node).map_err(Error::from)
    }

    /// The node's `Length`: header plus data, in bytes.
    pub fn size(&self) -> usize {
        HEADER_SIZE.saturating_add(self.data.len())
    }

    /// True for any End-type node.
    pub fn is_end(&self) -> bool {
        self.ty == TYPE_END
    }

    /// True for an End Entire node.
    pub fn is_end_entire(&self) -> bool {
        self.ty == TYPE_END && self.subtype == SUBTYPE_END_ENTIRE
    }

    /// True for an End Instance node.
    pub fn is_end_instance(&self) -> bool {
        self.ty == TYPE_END && self.subtype == SUBTYPE_END_INSTANCE
    }

    /// Appends the encoded node to `out`; `InvalidParameter` when the data
    /// is too long for the 16-bit length.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<()> {
        let length = u16::try_from(self.size()).map_err(|_| Error::InvalidParameter)?;
        out.extend_from_slice(&[self.ty, self.subtype]);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(self.data);
        Ok(())
    }

    /// The encoded node (see [`Node::write_to`]).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.size());
        self.write_to(&mut v)?;
        Ok(v)
    }

    /// The node as text (UEFI §10.6), as `ConvertDeviceNodeToText()`
    /// prints it; the same as its `Display`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = write!(s, "{self}");
        s
    }
}

/// Checks `path` (see the module docs) and returns its size in bytes,
/// End Entire node included, naming the defect on failure.
pub fn check(path: &[u8]) -> core::result::Result<usize, Malformed> {
    let mut offset = 0usize;
    loop {
        let (node, next) = node_at(path, offset)?;
        if next > MAX_SIZE {
            return Err(Malformed::TooLong);
        }
        if node.is_end() {
            let known = node.subtype == SUBTYPE_END_ENTIRE || node.subtype == SUBTYPE_END_INSTANCE;
            if !known || node.size() != HEADER_SIZE {
                return Err(Malformed::BadEnd { offset });
            }
            if node.is_end_entire() {
                return Ok(next);
            }
        }
        offset = next;
    }
}

/// `GetDevicePathSize()`: the size of `path` in bytes, End Entire node
/// included; `InvalidParameter` when it is not a valid path (see
/// [`check`] for the reason).
pub fn size(path: &[u8]) -> Result<usize> {
    check(path).map_err(Error::from)
}

/// True when `path` is a valid device path.
pub fn is_valid(path: &[u8]) -> bool {
    check(path).is_ok()
}

/// The nodes of a valid path, in order, End Instance nodes included, the
/// final End Entire node excluded. Made by [`nodes`].
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        match node_at(self.rest, 0) {
            Ok((node, next)) if !node.is_end_entire() => {
                self.rest = self.rest.get(next..).unwrap_or(&[]);
                Some(node)
            }
            _ => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Checks `path` and iterates over its nodes (see [`Nodes`]).
pub fn nodes(path: &[u8]) -> Result<Nodes<'_>> {
    let n = size(path)?;
    Ok(Nodes { rest: path.get(..n).unwrap_or(&[]) })
}

/// The nodes of a path with their byte offsets.
fn nodes_with_offsets(path: &[u8]) -> Result<impl Iterator<Item = (usize, Node<'_>)>> {
    Ok(nodes(path)?.scan(0usize, |off, node| {
        let at = *off;
        *off = off.saturating_add(node.size());
        Some((at, node))
    }))
}

/// The nodes of a valid path without its End Entire node.
fn body(path: &[u8]) -> Result<&[u8]> {
    let n = size(path)?;
    path.get(..n.saturating_sub(HEADER_SIZE)).ok_or(Error::InvalidParameter)
}

/// Refuses results longer than [`MAX_SIZE`].
fn bounded(v: Vec<u8>) -> Result<Vec<u8>> {
    if v.len() > MAX_SIZE {
        return Err(Error::OutOfResources);
    }
    Ok(v)
}

/// `DuplicateDevicePath()`: a copy of the valid path (up to its End
/// Entire node).
pub fn duplicate(path: &[u8]) -> Result<Vec<u8>> {
    let n = size(path)?;
    Ok(path.get(..n).unwrap_or(&[]).to_vec())
}

/// `AppendDevicePath()`: `first` without its End Entire node, followed by
/// `second` (so a multi-instance `first` gets `second` appended to its
/// last instance). A `None` side contributes nothing: both `None` gives an
/// End-only path, one `None` a copy of the other. Errors:
/// `InvalidParameter` for an invalid path, `OutOfResources` when the
/// result would exceed [`MAX_SIZE`].
pub fn append(first: Option<&[u8]>, second: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut out = match first {
        Some(p) => body(p)?.to_vec(),
        None => Vec::new(),
    };
    if let Some(p) = second {
        out.extend_from_slice(body(p)?);
    }
    out.extend_from_slice(&END_ENTIRE);
    bounded(out)
}

/// `AppendDeviceNode()`: `path` followed by the single node at the start
/// of `node` (its own length decides how much of `node` is used), then an
/// End Entire node. `None` for `node` copies `path`; `None` for `path`
/// gives the node alone; both `None` give an End-only path. An End Entire
/// `node` therefore appends nothing and an End Instance node starts an
/// empty instance, as in EDK2. Errors as [`append`].
pub fn append_node(path: Option<&[u8]>, node: Option<&[u8]>) -> Result<Vec<u8>> {
    let single = match node {
        Some(bytes) => {
            let n = Node::parse(bytes)?;
            let mut v = Vec::with_capacity(n.size().saturating_add(HEADER_SIZE));
            n.write_to(&mut v)?;
            v.extend_from_slice(&END_ENTIRE);
            Some(v)
        }
        None => None,
    };
    append(Some(path.unwrap_or(&END_ENTIRE)), single.as_deref())
}

/// `AppendDevicePathInstance()`: `path` with its End Entire node turned
/// into an End Instance node, followed by `instance`. `None` for `path`
/// copies `instance`; `None` for `instance` is `InvalidParameter` (the
/// spec's `NULL` result). Errors as [`append`].
pub fn append_instance(path: Option<&[u8]>, instance: Option<&[u8]>) -> Result<Vec<u8>> {
    let instance = instance.ok_or(Error::InvalidParameter)?;
    let Some(path) = path else {
        return bounded(duplicate(instance)?);
    };
    let mut out = body(path)?.to_vec();
    out.extend_from_slice(&END_INSTANCE);
    out.extend_from_slice(body(instance)?);
    out.extend_from_slice(&END_ENTIRE);
    bounded(out)
}

/// One step of `GetNextDevicePathInstance()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// A copy of the first instance, ended by an End Entire node; its
    /// length is the `DevicePathInstanceSize` to report.
    pub path: Vec<u8>,
    /// Byte offset in the input of the next instance (the node after the
    /// End Instance node), or `None` when this was the last instance (the
    /// shim then sets `*DevicePathInstance` to `NULL`).
    pub next: Option<usize>,
}

/// `GetNextDevicePathInstance()` on the valid path `path`.
pub fn next_instance(path: &[u8]) -> Result<Instance> {
    let mut out = Vec::new();
    let mut next = None;
    for (offset, node) in nodes_with_offsets(path)? {
        if node.is_end_instance() {
            next = Some(offset.saturating_add(HEADER_SIZE));
            break;
        }
        node.write_to(&mut out)?;
    }
    out.extend_from_slice(&END_ENTIRE);
    Ok(Instance { path: out, next })
}

/// `IsDevicePathMultiInstance()`: true when `path` is valid and holds an
/// End Instance node.
pub fn is_multi_instance(path: &[u8]) -> bool {
    nodes(path).is_ok_and(|mut n| n.any(|node| node.is_end_instance()))
}

/// `CreateDeviceNode()`: a node of `length` bytes with this header and
/// zeroed data; `InvalidParameter` when `length` is below 4.
pub fn create_node(ty: u8, subtype: u8, length: u16) -> Result<Vec<u8>> {
    let len = usize::from(length);
    if len < HEADER_SIZE {
        return Err(Error::InvalidParameter);
    }
    let mut v = alloc::vec![0u8; len];
    if let Some(h) = v.get_mut(..HEADER_SIZE) {
        let l = length.to_le_bytes();
        h.copy_from_slice(&[ty, subtype, l[0], l[1]]);
    }
    Ok(v)
}

/// The fields of a Hard Drive media node (type 4 subtype 1, UEFI
/// §10.3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardDrive {
    /// `PartitionNumber`: 1-based entry number (GPT) or MBR slot.
    pub partition_number: u32,
    /// `PartitionStart`, in logical blocks.
    pub start_lba: u64,
    /// `PartitionSize`, in logical blocks.
    pub size_lbas: u64,
    /// The signature, which also decides `PartitionFormat`.
    pub signature: PartitionSignature,
}

/// A hard drive node's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionSignature {
    /// MBR disk signature (offset 0x1b8): format 0x01, signature type 0x01.
    Mbr(u32),
    /// GPT partition unique GUID: format 0x02, signature type 0x02.
    Gpt(Guid),
}

impl HardDrive {
    /// The node's data (38 bytes).
    pub fn data(&self) -> [u8; HD_NODE_SIZE - HEADER_SIZE] {
        let mut d = [0u8; HD_NODE_SIZE - HEADER_SIZE];
        let (sig, format, sig_type) = match self.signature {
            PartitionSignature::Mbr(s) => {
                let mut b = [0u8; 16];
                if let Some(dst) = b.get_mut(..4) {
                    dst.copy_from_slice(&s.to_le_bytes());
                }
                (b, HD_FORMAT_MBR, HD_SIGNATURE_MBR)
            }
            PartitionSignature::Gpt(g) => (g.to_bytes(), HD_FORMAT_GPT, HD_SIGNATURE_GUID),
        };
        let fields: [&[u8]; 6] = [
            &self.partition_number.to_le_bytes(),
            &self.start_lba.to_le_bytes(),
            &self.size_lbas.to_le_bytes(),
            &sig,
            &[format],
            &[sig_type],
        ];
        let mut at = 0usize;
        for f in fields {
            let end = at.saturating_add(f.len());
            if let Some(dst) = d.get_mut(at..end) {
                dst.copy_from_slice(f);
            }
            at = end;
        }
        d
    }

    /// The fields of a hard drive node with an MBR or GUID signature;
    /// `None` for another node, a wrong length, or another signature type.
    pub fn from_node(node: &Node<'_>) -> Option<Self> {
        if (node.ty, node.subtype) != (TYPE_MEDIA, SUBTYPE_MEDIA_HARD_DRIVE)
            || node.size() != HD_NODE_SIZE
        {
            return None;
        }
        let d = node.data;
        let sig: [u8; 16] = array(d, 20)?;
        let signature = match u8_at(d, 37)? {
            HD_SIGNATURE_MBR => PartitionSignature::Mbr(u32_at(d, 20)?),
            HD_SIGNATURE_GUID => PartitionSignature::Gpt(Guid::from_bytes(sig)),
            _ => return None,
        };
        Some(Self {
            partition_number: u32_at(d, 0)?,
            start_lba: u64_at(d, 4)?,
            size_lbas: u64_at(d, 12)?,
            signature,
        })
    }
}

/// Builds a device path node by node and ends it with one End Entire
/// node. Methods chain; the first error (a node too long for its 16-bit
/// length, a path over [`MAX_SIZE`], an invalid starting path, a NUL in a
/// file name) is kept and reported by [`PathBuilder::finish`].
///
/// ```
/// use vmfw_efi::devpath::{self, HardDrive, PartitionSignature, PathBuilder};
/// use vmfw_efi::Guid;
/// let disk = PathBuilder::new().pci_root().pci(3, 0).finish().unwrap();
/// let hd = HardDrive {
///     partition_number: 1,
///     start_lba: 0x800,
///     size_lbas: 0x10000,
///     signature: PartitionSignature::Gpt(Guid::EFI_SYSTEM_PARTITION),
/// };
/// let file = PathBuilder::from_path(&disk)
///     .hard_drive(&hd)
///     .file_path("\\EFI\\BOOT\\BOOTX64.EFI")
///     .finish()
///     .unwrap();
/// assert_eq!(
///     devpath::path_to_text(&file).unwrap(),
///     "PciRoot(0x0)/Pci(0x3,0x0)/HD(1,GPT,C12A7328-F81F-11D2-BA4B-00A0C93EC93B,0x800,0x10000)/\\EFI\\BOOT\\BOOTX64.EFI"
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct PathBuilder {
    bytes: Vec<u8>,
    error: Option<Error>,
}

impl PathBuilder {
    /// An empty path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues the valid path `path` (its End Entire node dropped).
    pub fn from_path(path: &[u8]) -> Self {
        match body(path) {
            Ok(b) => Self { bytes: b.to_vec(), error: None },
            Err(e) => Self { bytes: Vec::new(), error: Some(e) },
        }
    }

    fn fail(mut self, e: Error) -> Self {
        self.error.get_or_insert(e);
        self
    }

    fn push(mut self, node: Node<'_>) -> Self {
        if self.error.is_some() {
            return self;
        }
        if node.size() > usize::from(u16::MAX) {
            return self.fail(Error::InvalidParameter);
        }
        let total = self.bytes.len().saturating_add(node.size()).saturating_add(HEADER_SIZE);
        if total > MAX_SIZE {
            return self.fail(Error::OutOfResources);
        }
        match node.write_to(&mut self.bytes) {
            Ok(()) => self,
            Err(e) => self.fail(e),
        }
    }

    /// Appends a node with this header and data. End-type nodes are
    /// refused (`InvalidParameter`): use [`PathBuilder::end_instance`].
    pub fn node(self, ty: u8, subtype: u8, data: &[u8]) -> Self {
        if ty == TYPE_END {
            return self.fail(Error::InvalidParameter);
        }
        self.push(Node::new(ty, subtype, data))
    }

    /// Ends the current instance with an End Instance node.
    pub fn end_instance(self) -> Self {
        self.push(Node::new(TYPE_END, SUBTYPE_END_INSTANCE, &[]))
    }

    /// ACPI device path node (type 2 subtype 1) with `_HID` and `_UID`.
    pub fn acpi(self, hid: u32, uid: u32) -> Self {
        let d: Vec<u8> = hid.to_le_bytes().into_iter().chain(uid.to_le_bytes()).collect();
        self.push(Node::new(TYPE_ACPI, SUBTYPE_ACPI, &d))
    }

    /// The PCI root bridge: `Acpi(PNP0A03, 0)`, shown as `PciRoot(0x0)`.
    pub fn pci_root(self) -> Self {
        self.acpi(PNP0A03, 0)
    }

    /// PCI node (type 1 subtype 1): device and function on the bus the
    /// previous nodes name.
    pub fn pci(self, device: u8, function: u8) -> Self {
        self.push(Node::new(TYPE_HARDWARE, SUBTYPE_HW_PCI, &[function, device]))
    }

    /// Vendor hardware node (type 1 subtype 4).
    pub fn vendor_hw(self, guid: Guid, data: &[u8]) -> Self {
        self.push_vendor(TYPE_HARDWARE, SUBTYPE_HW_VENDOR, guid, data)
    }

    /// vmfw's virtio-mmio disk: a vendor hardware node with
    /// [`VIRTIO_MMIO_GUID`] and the MMIO base address.
    pub fn virtio_mmio(self, base: u64) -> Self {
        self.vendor_hw(VIRTIO_MMIO_GUID, &base.to_le_bytes())
    }

    /// Vendor media node (type 4 subtype 3).
    pub fn vendor_media(self, guid: Guid, data: &[u8]) -> Self {
        self.push_vendor(TYPE_MEDIA, SUBTYPE_MEDIA_VENDOR, guid, data)
    }

    /// Linux's initrd node: `VenMedia(5568E427-68FC-4F3D-AC74-CA555231CC68)`.
    pub fn linux_initrd(self) -> Self {
        self.vendor_media(LINUX_INITRD_MEDIA_GUID, &[])
    }

    fn push_vendor(self, ty: u8, subtype: u8, guid: Guid, data: &[u8]) -> Self {
        let mut d = Vec::with_capacity(16usize.saturating_add(data.len()));
        d.extend_from_slice(&guid.to_bytes());
        d.extend_from_slice(data);
        self.push(Node::new(ty, subtype, &d))
    }

    /// Hard drive media node (type 4 subtype 1).
    pub fn hard_drive(self, hd: &HardDrive) -> Self {
        self.push(Node::new(TYPE_MEDIA, SUBTYPE_MEDIA_HARD_DRIVE, &hd.data()))
    }

    /// File path media node (type 4 subtype 4): `path` as UTF-16LE with a
    /// NUL. A NUL inside `path` is `InvalidParameter`.
    pub fn file_path(self, path: &str) -> Self {
        if path.contains('\0') {
            return self.fail(Error::InvalidParameter);
        }
        let mut d = Vec::with_capacity(path.len().saturating_add(1).saturating_mul(2));
        for u in path.encode_utf16().chain(core::iter::once(0)) {
            d.extend_from_slice(&u.to_le_bytes());
        }
        self.push(Node::new(TYPE_MEDIA, SUBTYPE_MEDIA_FILE_PATH, &d))
    }

    /// The path with its End Entire node, or the first error.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.bytes.extend_from_slice(&END_ENTIRE);
        Ok(self.bytes)
    }
}

/// What [`locate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<H> {
    /// The candidate whose path is the longest prefix.
    pub handle: H,
    /// Byte offset in the searched path of the first node after the
    /// prefix: where the remaining path begins.
    pub remaining: usize,
}

/// The search of `LocateDevicePath()` (UEFI §7.3): among `candidates`
/// (a handle and its device path each), the one whose path, End node
/// excepted, is the longest node-wise prefix of the first instance of
/// `path`.
///
/// A candidate with an End-only path matches any path with an empty
/// prefix. Invalid candidate paths are skipped; of equally long matches
/// the first wins (EDK2 asserts that there are none). Errors:
/// `InvalidParameter` for an invalid `path`, `NotFound` when nothing
/// matches.
pub fn locate<'c, H>(
    path: &[u8],
    candidates: impl IntoIterator<Item = (H, &'c [u8])>,
) -> Result<Located<H>> {
    let source: Vec<(usize, Node<'_>)> =
        nodes_with_offsets(path)?.take_while(|(_, n)| !n.is_end_instance()).collect();
    let end_of_first = match source.last() {
        Some((off, n)) => off.saturating_add(n.size()),
        None => 0,
    };
    let mut best: Option<(usize, Located<H>)> = None;
    for (handle, cand) in candidates {
        let Ok(cnodes) = nodes(cand) else { continue };
        let mut matched = 0usize;
        let mut prefix = true;
        for c in cnodes {
            match source.get(matched) {
                Some((_, s)) if *s == c => matched = matched.saturating_add(1),
                _ => {
                    prefix = false;
                    break;
                }
            }
        }
        if !prefix || best.as_ref().is_some_and(|(m, _)| *m >= matched) {
            continue;
        }
        let remaining = source.get(matched).map_or(end_of_first, |(off, _)| *off);
        best = Some((matched, Located { handle, remaining }));
    }
    best.map(|(_, l)| l).ok_or(Error::NotFound)
}

/// The file path named by `remaining`, the part of a device path after
/// the device's own prefix (see [`locate`]); what `LoadImage()` opens on
/// that device's file system.
///
/// Every node up to the first End node must be a File Path node
/// (otherwise `NotFound`: the path does not name a file on this device).
/// A File Path node's data is UTF-16LE; it ends at the first NUL or at the
/// end of the data. The strings of all nodes are split at `\` and `/` (no
/// FAT name contains either) and the non-empty components are joined into
/// one absolute path: `\` followed by the components separated by single
/// `\`, so `"\EFI"`, `"BOOT\"`, `"\BOOTX64.EFI"` give `\EFI\BOOT\BOOTX64.EFI`.
/// Nodes that hold only separators give `\`; no File Path node at all
/// gives an empty string. `.` and `..` are left to the file system.
///
/// Errors: `InvalidParameter` for an invalid path or a File Path node of
/// odd length; `NotFound` for another node kind or a name that is not
/// valid UTF-16 (no file has such a name).
pub fn file_path(remaining: &[u8]) -> Result<String> {
    let mut out = String::new();
    for node in nodes(remaining)? {
        if node.is_end() {
            break;
        }
        if (node.ty, node.subtype) != (TYPE_MEDIA, SUBTYPE_MEDIA_FILE_PATH) {
            return Err(Error::NotFound);
        }
        if node.data.len() % 2 != 0 {
            return Err(Error::InvalidParameter);
        }
        if out.is_empty() {
            out.push('\\');
        }
        for c in char::decode_utf16(utf16_units(node.data)) {
            let c = c.map_err(|_| Error::NotFound)?;
            if c == '\\' || c == '/' {
                if !out.ends_with('\\') {
                    out.push('\\');
                }
            } else {
                out.push(c);
            }
        }
        if !out.ends_with('\\') {
            out.push('\\');
        }
    }
    if out.len() > 1 && out.ends_with('\\') {
        out.pop();
    }
    Ok(out)
}

/// The UTF-16LE code units of `data` up to the first NUL (an odd last
/// byte is ignored).
fn utf16_units(data: &[u8]) -> impl Iterator<Item = u16> + '_ {
    data.chunks_exact(2).map_while(|c| u16_at(c, 0)).take_while(|&u| u != 0)
}

/// A File Path node's string for text: up to the first NUL, unpaired
/// surrogates replaced by U+FFFD.
fn write_file_path(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for c in char::decode_utf16(utf16_units(data)) {
        f.write_char(c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
    }
    Ok(())
}

fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for b in data {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

/// `VenHw(GUID)` / `VenHw(GUID,HEX)` and the like; `None` when too short.
fn write_vendor(f: &mut fmt::Formatter<'_>, name: &str, data: &[u8]) -> Option<fmt::Result> {
    let guid = Guid::from_bytes(array(data, 0)?);
    let rest = data.get(16..)?;
    Some(write_vendor_fields(f, name, guid, rest))
}

fn write_vendor_fields(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    guid: Guid,
    rest: &[u8],
) -> fmt::Result {
    write!(f, "{name}({guid}")?;
    if !rest.is_empty() {
        f.write_char(',')?;
        write_hex(f, rest)?;
    }
    f.write_char(')')
}

/// `HD(...)` from a 42-byte node's data; `None` when too short.
fn write_hard_drive(f: &mut fmt::Formatter<'_>, d: &[u8]) -> Option<fmt::Result> {
    let number = u32_at(d, 0)?;
    let (start, size) = (u64_at(d, 4)?, u64_at(d, 12)?);
    let signature: [u8; 16] = array(d, 20)?;
    let sig_type = u8_at(d, 37)?;
    let r = match sig_type {
        HD_SIGNATURE_MBR => {
            let [a, b, c, e, ..] = signature;
            write!(f, "HD({number},MBR,0x{:08X},", u32::from_le_bytes([a, b, c, e]))
        }
        HD_SIGNATURE_GUID => write!(f, "HD({number},GPT,{},", Guid::from_bytes(signature)),
        other => write!(f, "HD({number},{other},0,"),
    };
    Some(r.and_then(|()| write!(f, "0x{start:X},0x{size:X})")))
}

/// The text of a node kind this module knows; `None` to fall back to the
/// generic form.
fn write_known(f: &mut fmt::Formatter<'_>, node: &Node<'_>) -> Option<fmt::Result> {
    let d = node.data;
    match (node.ty, node.subtype) {
        (TYPE_END, SUBTYPE_END_INSTANCE) => Some(f.write_char(',')),
        (TYPE_END, SUBTYPE_END_ENTIRE) => Some(Ok(())),
        (TYPE_HARDWARE, SUBTYPE_HW_PCI) if d.len() == 2 => {
            let (function, device) = (u8_at(d, 0)?, u8_at(d, 1)?);
            Some(write!(f, "Pci(0x{device:X},0x{function:X})"))
        }
        (TYPE_HARDWARE, SUBTYPE_HW_VENDOR) => write_vendor(f, "VenHw", d),
        (TYPE_ACPI, SUBTYPE_ACPI) if d.len() == 8 => {
            let (hid, uid) = (u32_at(d, 0)?, u32_at(d, 4)?);
            Some(match hid {
                PNP0A03 => write!(f, "PciRoot(0x{uid:X})"),
                PNP0A08 => write!(f, "PcieRoot(0x{uid:X})"),
                _ if hid & 0xffff == PNP_EISA_VENDOR => {
                    write!(f, "Acpi(PNP{:04X},0x{uid:X})", hid >> 16)
                }
                _ => write!(f, "Acpi(0x{hid:08X},0x{uid:X})"),
            })
        }
        (TYPE_MEDIA, SUBTYPE_MEDIA_HARD_DRIVE) if node.size() == HD_NODE_SIZE => {
            write_hard_drive(f, d)
        }
        (TYPE_MEDIA, SUBTYPE_MEDIA_VENDOR) => write_vendor(f, "VenMedia", d),
        (TYPE_MEDIA, SUBTYPE_MEDIA_FILE_PATH) => Some(write_file_path(f, d)),
        _ => None,
    }
}

impl fmt::Display for Node<'_> {
    /// The node's text (UEFI §10.6): `PciRoot(0x0)`, `Acpi(PNP0501,0x0)`,
    /// `Acpi(0x12345678,0x0)`, `Pci(0x1F,0x2)`, `VenHw(GUID[,HEX])`,
    /// `HD(n,GPT,GUID,0xSTART,0xSIZE)`, `HD(n,MBR,0xSIG,…)`,
    /// `VenMedia(GUID[,HEX])`, a File Path's string itself; an End
    /// Instance node is `,` and an End Entire node empty; anything else
    /// (or a known kind with a malformed length) is
    /// `Path(type,subtype[,HEX])` with decimal type and subtype.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = write_known(f, self) {
            return r;
        }
        write!(f, "Path({},{}", self.ty, self.subtype)?;
        if !self.data.is_empty() {
            f.write_char(',')?;
            write_hex(f, self.data)?;
        }
        f.write_char(')')
    }
}

/// `ConvertDeviceNodeToText()`: the text of the node at the start of
/// `node` (see [`Node::parse`] and the `Display` of [`Node`]).
pub fn node_to_text(node: &[u8]) -> Result<String> {
    Ok(Node::parse(node)?.to_text())
}

/// `ConvertDevicePathToText()`: the text of a valid path: nodes separated
/// by `/`, instances by `,`; an End-only path is the empty string.
pub fn path_to_text(path: &[u8]) -> Result<String> {
    let mut s = String::new();
    for node in nodes(path)? {
        if !node.is_end_instance() && !s.is_empty() && !s.ends_with(',') {
            s.push('/');
        }
        // Writing into a String cannot fail.
        let _ = write!(s, "{node}");
    }
    Ok(s)
}

/// A string as UTF-16 with a terminating NUL, as the protocol returns it.
fn utf16z(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(core::iter::once(0)).collect()
}

/// [`node_to_text`] as NUL-terminated UTF-16, ready to copy into pool.
pub fn node_to_utf16(node: &[u8]) -> Result<Vec<u16>> {
    node_to_text(node).map(|s| utf16z(&s))
}

/// [`path_to_text`] as NUL-terminated UTF-16, ready to copy into pool.
pub fn path_to_utf16(path: &[u8]) -> Result<Vec<u16>> {
    path_to_text(path).map(|s| utf16z(&s))
}

#[cfg(test)]
mod tests;
