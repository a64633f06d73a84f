//! A minimal DTB writer for tests and fuzz seeds (feature `testing`).
//!
//! It writes what it is told, in order, so tests can also build broken
//! trees (a property after a child, unbalanced nodes). Strings are shared
//! in the strings block as `dtc` does.

use alloc::string::String;
use alloc::vec::Vec;

/// Builds a version 17 blob.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    structs: Vec<u8>,
    strings: Vec<u8>,
    rsv: Vec<(u64, u64)>,
}

impl Builder {
    /// An empty blob (add the root node with `begin("")`).
    pub fn new() -> Self {
        Self::default()
    }

    fn token(&mut self, t: u32) -> &mut Self {
        self.structs.extend_from_slice(&t.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    /// Adds a memory reservation block entry.
    pub fn reserve(&mut self, addr: u64, size: u64) -> &mut Self {
        self.rsv.push((addr, size));
        self
    }

    /// `FDT_BEGIN_NODE` with `name`.
    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.token(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    /// `FDT_END_NODE`.
    pub fn end(&mut self) -> &mut Self {
        self.token(2)
    }

    /// `FDT_NOP`.
    pub fn nop(&mut self) -> &mut Self {
        self.token(4)
    }

    /// A property with raw bytes.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let nameoff = self.string_offset(name);
        self.token(3);
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.structs.extend_from_slice(&len.to_be_bytes());
        self.structs.extend_from_slice(&nameoff.to_be_bytes());
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    /// A property of big-endian cells.
    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    /// A property holding one string.
    pub fn string(&mut self, name: &str, s: &str) -> &mut Self {
        self.strings_list(name, &[s])
    }

    /// A property holding a string list.
    pub fn strings_list(&mut self, name: &str, list: &[&str]) -> &mut Self {
        let mut v = Vec::new();
        for s in list {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        self.prop(name, &v)
    }

    fn string_offset(&mut self, name: &str) -> u32 {
        let mut needle = String::from(name);
        needle.push('\0');
        let n = needle.as_bytes();
        // Reuse an existing name that starts at a string boundary.
        let mut start = 0;
        while start < self.strings.len() {
            let rest = self.strings.get(start..).unwrap_or(&[]);
            if rest.starts_with(n) {
                return u32::try_from(start).unwrap_or(u32::MAX);
            }
            let len = rest.iter().position(|&b| b == 0).map_or(rest.len(), |p| p + 1);
            start += len;
        }
        let off = self.strings.len();
        self.strings.extend_from_slice(n);
        u32::try_from(off).unwrap_or(u32::MAX)
    }

    /// Appends `FDT_END` and lays out header, reservations, structure and
    /// strings blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut structs = self.structs.clone();
        structs.extend_from_slice(&9u32.to_be_bytes());
        let off_rsv = 40usize;
        let rsv_len = (self.rsv.len() + 1) * 16;
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + structs.len();
        let total = off_strings + self.strings.len();
        let w = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&crate::MAGIC.to_be_bytes());
        out.extend_from_slice(&w(total));
        out.extend_from_slice(&w(off_struct));
        out.extend_from_slice(&w(off_strings));
        out.extend_from_slice(&w(off_rsv));
        out.extend_from_slice(&17u32.to_be_bytes());
        out.extend_from_slice(&16u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&w(self.strings.len()));
        out.extend_from_slice(&w(structs.len()));
        for (a, s) in self.rsv.iter().chain(core::iter::once(&(0, 0))) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&structs);
        out.extend_from_slice(&self.strings);
        out
    }
}
