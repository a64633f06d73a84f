//! A reader for flattened devicetree blobs (Devicetree Specification
//! v0.4, §5 "Flattened Devicetree (DTB) Format").
//!
//! On aarch64 the VMM hands the firmware a device tree in `x0` instead of
//! ACPI tables or a PVH start info: RAM, reserved memory, the console,
//! the RTC, PSCI, the PCI host bridge and virtio-mmio transports are all
//! described there. The blob is as hostile as any disk, so [`Fdt::new`]
//! checks the header, that every block lies inside `totalsize` and the
//! given slice, and walks the whole structure block once (tokens, names,
//! property name offsets, nesting depth at most [`MAX_DEPTH`]). Every later
//! walk is linear in the structure block's size (a path lookup: once per
//! path component) and cannot panic; a walk that meets something
//! [`Fdt::new`] would have rejected simply ends.
//!
//! [`describe`] turns a tree into the [`Machine`] summary the aarch64
//! entry needs. The generic accessors ([`Fdt::find_node`], [`Node::reg`],
//! [`Property::as_str_list`], ...) are there for anything else.
//! [`with_chosen`] writes `bootargs` and the initrd range into `/chosen`
//! of a rebuilt copy, and adds `/memreserve/` entries, for handing the
//! tree on to Linux. The `testing`
//! feature adds `testing::Builder`, a small DTB writer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod edit;
mod machine;
#[cfg(feature = "testing")]
pub mod testing;

pub use machine::{
    describe, stdout_uart, Gic, GicVersion, Machine, PciHost, PciRange, PciSpace, PsciMethod,
    Region, Uart, UartKind, VirtioMmio, MAX_PCI_HOSTS, MAX_PCI_RANGES, MAX_REGIONS,
    MAX_VIRTIO_MMIO,
};

pub use edit::{with_chosen, Chosen};

use core::fmt;

/// The header's magic number, big-endian at offset 0.
pub const MAGIC: u32 = 0xd00d_feed;
/// The deepest node nesting accepted (the root is depth 1).
pub const MAX_DEPTH: usize = 64;
/// At most this many memory reservation entries are read.
pub const MAX_RESERVATIONS: usize = 256;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// The header of a version 16 blob ends before `size_dt_struct`.
const HEADER_V16: usize = 36;
const HEADER_V17: usize = 40;

/// Which block of the blob an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// The structure block (`off_dt_struct`, `size_dt_struct`).
    Struct,
    /// The strings block (`off_dt_strings`, `size_dt_strings`).
    Strings,
    /// The memory reservation block (`off_mem_rsvmap`).
    MemRsvmap,
}

/// Why a blob, or a part of it, was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The first word is not [`MAGIC`].
    BadMagic(u32),
    /// The slice is shorter than the header or than `totalsize`.
    Truncated {
        /// Bytes the header says are needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// `version` is below 16 or `last_comp_version` above 17.
    BadVersion {
        /// The header's `version`.
        version: u32,
        /// The header's `last_comp_version`.
        last_comp_version: u32,
    },
    /// A block does not lie inside `totalsize`.
    BlockOutOfRange {
        /// Which block.
        block: Block,
        /// Its offset from the header.
        offset: u32,
        /// Its size (for the reservation block: up to its terminator).
        size: u32,
    },
    /// The reservation block has no terminating all-zero entry within
    /// `totalsize` or within [`MAX_RESERVATIONS`] entries.
    UnterminatedReservations,
    /// An unknown token, or a token where it may not stand (a property
    /// after a child node, anything but `FDT_END` after the root).
    BadToken {
        /// Offset in the structure block.
        offset: usize,
        /// The token word.
        token: u32,
    },
    /// A token, name or property value runs past the structure block.
    UnexpectedEnd {
        /// Offset in the structure block where the item starts.
        offset: usize,
    },
    /// A node name without its NUL inside the structure block, or a
    /// property name offset without a NUL inside the strings block.
    UnterminatedName {
        /// Offset of the name (structure or strings block).
        offset: usize,
    },
    /// A node or property name that is not UTF-8 or contains a `/`
    /// (node names) or is empty (property names).
    BadName {
        /// Offset of the name (structure or strings block).
        offset: usize,
    },
    /// A property's name offset lies outside the strings block.
    BadStringOffset {
        /// Offset of the property token in the structure block.
        offset: usize,
        /// The name offset it gives.
        nameoff: u32,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    NestingTooDeep {
        /// Offset of the node that is too deep.
        offset: usize,
    },
    /// The structure block does not hold exactly one root node followed
    /// by `FDT_END`.
    NoRoot,
    /// `#address-cells` or `#size-cells` above 2 (or, for a PCI bridge's
    /// children, an `#address-cells` other than 3) where a value must be
    /// decoded into a `u64`.
    UnsupportedCells {
        /// The `#address-cells` in effect.
        address_cells: u32,
        /// The `#size-cells` in effect.
        size_cells: u32,
    },
    /// A `reg`, `ranges` or similar property whose length is not a whole
    /// number of entries (or is empty where an entry is required).
    BadLength {
        /// The property's name.
        property: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A property's value is not of the expected form (e.g. a string
    /// without its NUL, a cell count that is not one `u32`).
    BadValue {
        /// The property's name.
        property: &'static str,
    },
    /// A region's base plus size overflows `u64`.
    RegionOverflow {
        /// Base address.
        base: u64,
        /// Size.
        size: u64,
    },
    /// More items of a kind than the summary keeps.
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An edited blob would not fit in the space given for it.
    NoSpace {
        /// Bytes the edited blob needs.
        needed: usize,
        /// Bytes available.
        capacity: usize,
    },
    /// A property name given to the editor is empty or contains a NUL.
    InvalidPropertyName,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadMagic(m) => write!(f, "bad FDT magic {m:#x}"),
            Error::Truncated { needed, have } => {
                write!(f, "FDT truncated: need {needed} bytes, have {have}")
            }
            Error::BadVersion { version, last_comp_version } => {
                write!(f, "unsupported FDT version {version} (last compatible {last_comp_version})")
            }
            Error::BlockOutOfRange { block, offset, size } => {
                write!(f, "FDT {block:?} block {offset:#x}+{size:#x} out of range")
            }
            Error::UnterminatedReservations => f.write_str("FDT reservation map unterminated"),
            Error::BadToken { offset, token } => {
                write!(f, "bad FDT token {token:#x} at {offset:#x}")
            }
            Error::UnexpectedEnd { offset } => {
                write!(f, "FDT structure block ends inside item at {offset:#x}")
            }
            Error::UnterminatedName { offset } => write!(f, "unterminated FDT name at {offset:#x}"),
            Error::BadName { offset } => write!(f, "bad FDT name at {offset:#x}"),
            Error::BadStringOffset { offset, nameoff } => {
                write!(f, "FDT property at {offset:#x}: name offset {nameoff:#x} out of range")
            }
            Error::NestingTooDeep { offset } => {
                write!(f, "FDT nodes nest too deep at {offset:#x}")
            }
            Error::NoRoot => f.write_str("FDT has no single root node"),
            Error::UnsupportedCells { address_cells, size_cells } => {
                write!(f, "unsupported #address-cells {address_cells} / #size-cells {size_cells}")
            }
            Error::BadLength { property, len } => {
                write!(f, "FDT property {property} has bad length {len}")
            }
            Error::BadValue { property } => write!(f, "FDT property {property} has a bad value"),
            Error::RegionOverflow { base, size } => {
                write!(f, "region {base:#x}+{size:#x} overflows")
            }
            Error::TooMany { what, limit } => write!(f, "more than {limit} {what}"),
            Error::NoSpace { needed, capacity } => {
                write!(f, "edited FDT needs {needed} bytes, only {capacity} available")
            }
            Error::InvalidPropertyName => f.write_str("invalid property name"),
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    let a: [u8; 4] = b.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let a: [u8; 8] = b.try_into().ok()?;
    Some(u64::from_be_bytes(a))
}

/// Rounds up to the next multiple of 4, `None` on overflow.
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// A parsed and validated devicetree blob.
///
/// Cheap to copy: it only holds slices of the caller's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Fdt<'a> {
    blob: &'a [u8],
    structs: &'a [u8],
    strings: &'a [u8],
    rsvmap: &'a [u8],
    boot_cpuid: u32,
}

/// One decoded structure block token.
enum Token<'a> {
    Begin { name: &'a str, body: usize },
    End,
    Prop(Property<'a>),
    Nop,
    Finish,
}

impl<'a> Fdt<'a> {
    /// Validates `blob` and returns a reader for it.
    ///
    /// `blob` may be longer than the header's `totalsize` (a window of
    /// guest memory); bytes past `totalsize` are ignored. Takes time linear
    /// in `totalsize`.
    pub fn new(blob: &'a [u8]) -> Result<Fdt<'a>, Error> {
        let have = blob.len();
        let word = |at: usize| {
            be32(blob, at).ok_or(Error::Truncated { needed: at.saturating_add(4), have })
        };
        let magic = word(0)?;
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let version = word(20)?;
        let last_comp_version = word(24)?;
        if version < 16 || last_comp_version > 17 {
            return Err(Error::BadVersion { version, last_comp_version });
        }
        let header_len = if version >= 17 { HEADER_V17 } else { HEADER_V16 };
        let totalsize = word(4)?;
        let total = usize::try_from(totalsize)
            .map_err(|_| Error::Truncated { needed: usize::MAX, have })?;
        let blob = blob.get(..total).ok_or(Error::Truncated { needed: total, have })?;
        if total < header_len {
            return Err(Error::Truncated { needed: header_len, have: total });
        }
        let off_struct = word(8)?;
        let off_strings = word(12)?;
        let off_rsvmap = word(16)?;
        let boot_cpuid = word(28)?;
        let size_strings = word(32)?;
        let size_struct = if version >= 17 {
            word(36)?
        } else {
            // Version 16 has no size for the structure block: it may run
            // to the end of the blob, and FDT_END marks its real end.
            totalsize.saturating_sub(off_struct)
        };
        let block = |which: Block, offset: u32, size: u32| {
            let err = Error::BlockOutOfRange { block: which, offset, size };
            let start = usize::try_from(offset).map_err(|_| err)?;
            let len = usize::try_from(size).map_err(|_| err)?;
            let end = start.checked_add(len).ok_or(err)?;
            if start < header_len {
                return Err(err);
            }
            blob.get(start..end).ok_or(err)
        };
        let structs = block(Block::Struct, off_struct, size_struct)?;
        let strings = block(Block::Strings, off_strings, size_strings)?;
        let rsv_all = block(Block::MemRsvmap, off_rsvmap, totalsize.saturating_sub(off_rsvmap))?;
        let rsvmap = Self::reservation_block(rsv_all)?;
        let fdt = Fdt { blob, structs, strings, rsvmap, boot_cpuid };
        fdt.validate()?;
        Ok(fdt)
    }

    /// The reservation entries up to (not including) the terminator.
    fn reservation_block(rsv: &'a [u8]) -> Result<&'a [u8], Error> {
        for i in 0..=MAX_RESERVATIONS {
            let at = i * 16;
            let (Some(addr), Some(size)) = (be64(rsv, at), be64(rsv, at + 8)) else {
                return Err(Error::UnterminatedReservations);
            };
            if addr == 0 && size == 0 {
                return rsv.get(..at).ok_or(Error::UnterminatedReservations);
            }
        }
        Err(Error::UnterminatedReservations)
    }

    /// Decodes the token at `offset` of the structure block; returns it
    /// and the offset of the next token.
    fn token(&self, offset: usize) -> Result<(Token<'a>, usize), Error> {
        let s = self.structs;
        let end = Error::UnexpectedEnd { offset };
        let tok = be32(s, offset).ok_or(end)?;
        let after = offset.checked_add(4).ok_or(end)?;
        match tok {
            FDT_BEGIN_NODE => {
                let rest = s.get(after..).ok_or(end)?;
                let nul = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(Error::UnterminatedName { offset: after })?;
                let raw = rest.get(..nul).ok_or(end)?;
                let name = core::str::from_utf8(raw)
                    .ok()
                    .filter(|n| !n.contains('/'))
                    .ok_or(Error::BadName { offset: after })?;
                let body = align4(after + nul + 1).ok_or(end)?;
                if body > s.len() {
                    return Err(end);
                }
                Ok((Token::Begin { name, body }, body))
            }
            FDT_END_NODE => Ok((Token::End, after)),
            FDT_NOP => Ok((Token::Nop, after)),
            FDT_END => Ok((Token::Finish, after)),
            FDT_PROP => {
                let len = be32(s, after).ok_or(end)?;
                let nameoff = be32(s, after + 4).ok_or(end)?;
                let start = after + 8;
                let len = usize::try_from(len).map_err(|_| end)?;
                let stop = start.checked_add(len).ok_or(end)?;
                let value = s.get(start..stop).ok_or(end)?;
                let next = align4(stop).ok_or(end)?;
                if next > s.len() {
                    return Err(end);
                }
                let name = self.string(nameoff, offset)?;
                Ok((Token::Prop(Property { name, value }), next))
            }
            token => Err(Error::BadToken { offset, token }),
        }
    }

    /// The property name at `nameoff` in the strings block.
    fn string(&self, nameoff: u32, offset: usize) -> Result<&'a str, Error> {
        let start = usize::try_from(nameoff).ok();
        let rest = start
            .and_then(|o| self.strings.get(o..))
            .filter(|r| !r.is_empty())
            .ok_or(Error::BadStringOffset { offset, nameoff })?;
        let at = start.unwrap_or(0);
        let nul =
            rest.iter().position(|&b| b == 0).ok_or(Error::UnterminatedName { offset: at })?;
        rest.get(..nul)
            .and_then(|r| core::str::from_utf8(r).ok())
            .filter(|n| !n.is_empty())
            .ok_or(Error::BadName { offset: at })
    }

    /// One pass over the structure block: every token decodes, nodes
    /// nest properly and at most [`MAX_DEPTH`] deep, properties precede
    /// child nodes, and one root node is followed by `FDT_END`.
    fn validate(&self) -> Result<(), Error> {
        let mut off = 0;
        let mut depth = 0usize;
        let mut seen_root = false;
        // Whether the innermost open node already had a child, after
        // which no property may follow.
        let mut had_child = false;
        loop {
            let (tok, next) = self.token(off)?;
            match tok {
                Token::Begin { .. } => {
                    if depth == 0 && seen_root {
                        return Err(Error::NoRoot);
                    }
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Error::NestingTooDeep { offset: off });
                    }
                    seen_root = true;
                    had_child = false;
                }
                Token::End => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or(Error::BadToken { offset: off, token: FDT_END_NODE })?;
                    had_child = true;
                }
                Token::Prop(_) => {
                    if depth == 0 || had_child {
                        return Err(Error::BadToken { offset: off, token: FDT_PROP });
                    }
                }
                Token::Nop => {}
                Token::Finish => {
                    if depth != 0 || !seen_root {
                        return Err(Error::NoRoot);
                    }
                    return Ok(());
                }
            }
            // Every token is at least 4 bytes, so this loop runs at most
            // size_dt_struct / 4 times.
            off = next;
        }
    }

    /// The whole blob (`totalsize` bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// The header's `boot_cpuid_phys`.
    pub fn boot_cpuid_phys(&self) -> u32 {
        self.boot_cpuid
    }

    /// The memory reservation block's entries as `(address, size)`,
    /// without the terminator.
    pub fn reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.rsvmap.chunks_exact(16).filter_map(|c| Some((be64(c, 0)?, be64(c, 8)?)))
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        let mut off = 0;
        // validate() saw a root after NOPs; if it somehow is not there,
        // an empty node at the end stands in for it.
        while let Ok((tok, next)) = self.token(off) {
            match tok {
                Token::Begin { name, body } => {
                    return Node { fdt: *self, name, body, parent_cells: Cells::DEFAULT }
                }
                Token::Nop => off = next,
                _ => break,
            }
        }
        Node { fdt: *self, name: "", body: self.structs.len(), parent_cells: Cells::DEFAULT }
    }

    /// Every node in document order (the root first), each with its
    /// parent's cell sizes. Linear in the structure block's size.
    pub fn nodes(&self) -> Nodes<'a> {
        Nodes { fdt: *self, off: 0, stack: alloc::vec::Vec::new(), done: false }
    }

    /// Looks a node up by absolute path (`"/"`, `"/chosen"`,
    /// `"/soc/uart@9000000"`) or by an alias from `/aliases` followed by
    /// an optional path (`"serial0"`, `"ethernet0/phy"`).
    ///
    /// A path component without `@` also matches a node whose name has a
    /// unit address (`"/pl011"` finds `pl011@9000000`); the first match
    /// wins. Alias values are resolved once (an alias naming an alias is
    /// not followed).
    pub fn find_node(&self, path: &str) -> Option<Node<'a>> {
        if let Some(rest) = path.strip_prefix('/') {
            return self.root().descend(rest);
        }
        let (alias, rest) = path.split_once('/').unwrap_or((path, ""));
        let target = self.root().child("aliases")?.property(alias)?.as_str()?;
        let base = self.root().descend(target.strip_prefix('/')?)?;
        base.descend(rest)
    }

    /// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    pub fn node_by_phandle(&self, phandle: u32) -> Option<Node<'a>> {
        if phandle == 0 || phandle == u32::MAX {
            return None;
        }
        self.nodes().find(|n| n.phandle() == Some(phandle))
    }

    /// Nodes whose `compatible` list contains `compat`, in document order.
    pub fn compatible_nodes<'s>(&self, compat: &'s str) -> impl Iterator<Item = Node<'a>> + 's
    where
        'a: 's,
    {
        self.nodes().filter(move |n| n.is_compatible(compat))
    }

    /// `/chosen`'s console: `stdout-path` (or `linux,stdout-path`) with
    /// its `:options` suffix removed, resolved through `/aliases` when it
    /// does not start with `/`.
    pub fn stdout(&self) -> Option<Node<'a>> {
        let chosen = self.find_node("/chosen")?;
        let path = chosen
            .property("stdout-path")
            .or_else(|| chosen.property("linux,stdout-path"))?
            .as_str()?;
        let path = path.split_once(':').map_or(path, |(p, _)| p);
        self.find_node(path)
    }
}

/// `#address-cells` and `#size-cells` of a node, as its children see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cells {
    /// `#address-cells` (default 2).
    pub address: u32,
    /// `#size-cells` (default 1).
    pub size: u32,
}

impl Cells {
    /// The specification's defaults when a node has no such properties.
    pub const DEFAULT: Cells = Cells { address: 2, size: 1 };
}

/// A node of the tree.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    name: &'a str,
    /// Offset of the first token after the node's name.
    body: usize,
    parent_cells: Cells,
}

impl<'a> Node<'a> {
    /// The full name, unit address included (`"uart@9000000"`); empty
    /// for the root.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The name without its `@unit-address`.
    pub fn base_name(&self) -> &'a str {
        self.name.split_once('@').map_or(self.name, |(n, _)| n)
    }

    /// Whether `name` names this node: equal to the full name, or, when
    /// `name` has no `@`, to the name without its unit address.
    pub fn name_matches(&self, name: &str) -> bool {
        self.name == name || (!name.contains('@') && self.base_name() == name)
    }

    /// The blob this node belongs to.
    pub fn fdt(&self) -> Fdt<'a> {
        self.fdt
    }

    /// The node's properties in order.
    pub fn properties(&self) -> Properties<'a> {
        Properties { fdt: self.fdt, off: self.body }
    }

    /// The property called `name`, if any (the first, should there be
    /// duplicates).
    pub fn property(&self, name: &str) -> Option<Property<'a>> {
        self.properties().find(|p| p.name == name)
    }

    /// The node's direct children in order.
    pub fn children(&self) -> Children<'a> {
        Children { fdt: self.fdt, off: self.body, cells: self.cells(), done: false }
    }

    /// The first child that [`Node::name_matches`] `name`.
    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.children().find(|c| c.name_matches(name))
    }

    /// Follows a relative path (`"a/b@1"`; empty components are skipped).
    fn descend(self, path: &str) -> Option<Node<'a>> {
        path.split('/').filter(|c| !c.is_empty()).try_fold(self, |node, comp| node.child(comp))
    }

    /// This node's own `#address-cells` / `#size-cells` (what its children
    /// use), with the specification's defaults. A malformed value (not one
    /// cell) counts as absent.
    pub fn cells(&self) -> Cells {
        let get = |n: &str| self.property(n).and_then(|p| p.as_u32());
        Cells {
            address: get("#address-cells").unwrap_or(Cells::DEFAULT.address),
            size: get("#size-cells").unwrap_or(Cells::DEFAULT.size),
        }
    }

    /// The parent's cell sizes, which this node's `reg` is written in.
    pub fn parent_cells(&self) -> Cells {
        self.parent_cells
    }

    /// Whether `compatible` lists `compat`.
    pub fn is_compatible(&self, compat: &str) -> bool {
        self.property("compatible").is_some_and(|p| p.as_str_list().any(|c| c == compat))
    }

    /// `phandle` (or the older `linux,phandle`), if it is one cell.
    pub fn phandle(&self) -> Option<u32> {
        self.property("phandle").or_else(|| self.property("linux,phandle")).and_then(|p| p.as_u32())
    }

    /// `device_type`, if it is a string.
    pub fn device_type(&self) -> Option<&'a str> {
        self.property("device_type").and_then(|p| p.as_str())
    }

    /// `reg` decoded with the parent's cell sizes into `(address, size)`
    /// pairs. A missing `reg` is empty. Errors: cells above 2
    /// ([`Error::UnsupportedCells`]) or a length that is not a whole
    /// number of entries ([`Error::BadLength`]). With `#size-cells = 0`
    /// every size is 0.
    pub fn reg(&self) -> Result<Reg<'a>, Error> {
        let value = self.property("reg").map_or(&[][..], |p| p.value);
        Reg::new(value, self.parent_cells, "reg")
    }
}

/// Decoded `(address, size)` pairs of a `reg`-like property.
#[derive(Debug, Clone)]
pub struct Reg<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
    cells: Cells,
}

impl<'a> Reg<'a> {
    fn new(value: &'a [u8], cells: Cells, property: &'static str) -> Result<Reg<'a>, Error> {
        if cells.address > 2 || cells.size > 2 {
            return Err(Error::UnsupportedCells {
                address_cells: cells.address,
                size_cells: cells.size,
            });
        }
        // At most 4 cells, so no overflow.
        let entry = (cells.address + cells.size) as usize * 4;
        if entry == 0 {
            return Err(Error::UnsupportedCells { address_cells: 0, size_cells: 0 });
        }
        if !value.len().is_multiple_of(entry) {
            return Err(Error::BadLength { property, len: value.len() });
        }
        Ok(Reg { chunks: value.chunks_exact(entry), cells })
    }
}

impl Iterator for Reg<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let c = self.chunks.next()?;
        let acells = self.cells.address as usize;
        let addr = read_cells(c, 0, acells)?;
        let size = read_cells(c, acells * 4, self.cells.size as usize)?;
        Some((addr, size))
    }
}

/// Reads `n` (0..=2) big-endian cells at byte offset `at` as one number.
fn read_cells(bytes: &[u8], at: usize, n: usize) -> Option<u64> {
    match n {
        0 => Some(0),
        1 => be32(bytes, at).map(u64::from),
        2 => be64(bytes, at),
        _ => None,
    }
}

/// A property: its name and raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property<'a> {
    /// The name, from the strings block.
    pub name: &'a str,
    /// The value bytes as stored (big-endian cells, NUL-terminated strings).
    pub value: &'a [u8],
}

impl<'a> Property<'a> {
    /// The value as one cell.
    pub fn as_u32(&self) -> Option<u32> {
        let a: [u8; 4] = self.value.try_into().ok()?;
        Some(u32::from_be_bytes(a))
    }

    /// The value as one or two cells.
    pub fn as_u64(&self) -> Option<u64> {
        match self.value.len() {
            4 => self.as_u32().map(u64::from),
            8 => be64(self.value, 0),
            _ => None,
        }
    }

    /// The value as one NUL-terminated UTF-8 string (no NUL inside).
    pub fn as_str(&self) -> Option<&'a str> {
        let (last, body) = self.value.split_last()?;
        if *last != 0 || body.contains(&0) {
            return None;
        }
        core::str::from_utf8(body).ok()
    }

    /// The value as a list of NUL-terminated strings. Empty when the
    /// value does not end with a NUL; strings that are not UTF-8 are
    /// skipped.
    pub fn as_str_list(&self) -> impl Iterator<Item = &'a str> + 'a {
        let body = match self.value.split_last() {
            Some((0, body)) => Some(body),
            _ => None,
        };
        body.into_iter()
            .flat_map(|b| b.split(|&c| c == 0))
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// The value as big-endian cells (a trailing partial cell is dropped).
    pub fn as_cells(&self) -> impl Iterator<Item = u32> + 'a {
        self.value.chunks_exact(4).filter_map(|c| c.try_into().ok().map(u32::from_be_bytes))
    }
}

/// Iterator over a node's properties.
#[derive(Debug, Clone)]
pub struct Properties<'a> {
    fdt: Fdt<'a>,
    off: usize,
}

impl<'a> Iterator for Properties<'a> {
    type Item = Property<'a>;

    fn next(&mut self) -> Option<Property<'a>> {
        loop {
            let (tok, next) = self.fdt.token(self.off).ok()?;
            match tok {
                Token::Prop(p) => {
                    self.off = next;
                    return Some(p);
                }
                Token::Nop => self.off = next,
                _ => return None,
            }
        }
    }
}

/// Iterator over a node's direct children.
#[derive(Debug, Clone)]
pub struct Children<'a> {
    fdt: Fdt<'a>,
    off: usize,
    cells: Cells,
    done: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        if self.done {
            return None;
        }
        // Skip the remaining properties, then any NOPs, to a child.
        loop {
            let Ok((tok, next)) = self.fdt.token(self.off) else {
                self.done = true;
                return None;
            };
            match tok {
                Token::Prop(_) | Token::Nop => self.off = next,
                Token::Begin { name, body } => {
                    let node = Node { fdt: self.fdt, name, body, parent_cells: self.cells };
                    match self.fdt.skip_subtree(next) {
                        Some(after) => self.off = after,
                        None => self.done = true,
                    }
                    return Some(node);
                }
                Token::End | Token::Finish => {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

impl Fdt<'_> {
    /// From just after a node's `FDT_BEGIN_NODE` name, the offset after
    /// its matching `FDT_END_NODE`.
    fn skip_subtree(&self, mut off: usize) -> Option<usize> {
        let mut depth = 1usize;
        loop {
            let (tok, next) = self.token(off).ok()?;
            match tok {
                Token::Begin { .. } => depth += 1,
                Token::End => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(next);
                    }
                }
                Token::Finish => return None,
                Token::Prop(_) | Token::Nop => {}
            }
            off = next;
        }
    }
}

/// Iterator over every node of the tree in document order.
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    fdt: Fdt<'a>,
    off: usize,
    /// The cell sizes each open node gives its children.
    stack: alloc::vec::Vec<Cells>,
    done: bool,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        while !self.done {
            let Ok((tok, next)) = self.fdt.token(self.off) else {
                break;
            };
            self.off = next;
            match tok {
                Token::Begin { name, body } => {
                    let node = Node {
                        fdt: self.fdt,
                        name,
                        body,
                        parent_cells: self.stack.last().copied().unwrap_or(Cells::DEFAULT),
                    };
                    if self.stack.len() >= MAX_DEPTH {
                        break;
                    }
                    self.stack.push(node.cells());
                    return Some(node);
                }
                Token::End => {
                    self.stack.pop();
                }
                Token::Prop(_) | Token::Nop => {}
                Token::Finish => break,
            }
        }
        self.done = true;
        None
    }
}
