//! Writing `/chosen` into a copy of a tree, for the native Linux boot.
//!
//! The kernel finds its command line and initrd in `/chosen` (`bootargs`,
//! `linux,initrd-start`, `linux,initrd-end`), and the memory it must not
//! touch in the memory reservation block (`/memreserve/` entries).
//! [`with_chosen`] rebuilds the blob with those properties set (replacing
//! old values, creating `/chosen` if there is none) and the reservations
//! added, rather than patching in place: the copy is laid out fresh
//! (header, reservation block, structure block, strings block), so growth
//! needs no free space inside the old blob, only within the given
//! capacity.

use alloc::vec::Vec;

use crate::{align4, Error, Fdt, Token, MAGIC, MAX_RESERVATIONS};

/// The `/chosen` properties a Linux boot sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// `bootargs`, written NUL-terminated.
    pub bootargs: Option<&'a str>,
    /// The initrd's first byte and one past its last
    /// (`linux,initrd-start`, `linux,initrd-end`, two cells each).
    pub initrd: Option<(u64, u64)>,
    /// Ranges `(address, size)` to add to the memory reservation block,
    /// after the blob's own: memory the kernel must leave alone (the
    /// firmware's runtime data). Empty ranges are left out, since a size
    /// of 0 ends the block for readers that stop there.
    pub memreserve: &'a [(u64, u64)],
}

/// Copies `fdt` with `/chosen`'s properties set from `chosen`, into a new
/// blob of at most `capacity` bytes ([`Error::NoSpace`] otherwise).
///
/// Properties `chosen` does not set are left as they are; NOPs are
/// dropped. The result is a version 17 blob with the same
/// `boot_cpuid_phys` and the blob's non-empty reservations followed by
/// those of [`Chosen::memreserve`]. Linear in the blob's size.
///
/// Fails with [`Error::RegionOverflow`] for a reservation whose end
/// wraps, [`Error::TooMany`] when there would be more than
/// [`MAX_RESERVATIONS`] (the most a blob may have to be read back), or
/// [`Error::NoSpace`].
pub fn with_chosen(fdt: &Fdt<'_>, chosen: &Chosen<'_>, capacity: usize) -> Result<Vec<u8>, Error> {
    // A zero size would end the block early for libfdt and Linux, which
    // stop at the first entry of size 0, hiding the entries after it.
    let mut reservations: Vec<(u64, u64)> = fdt.reservations().filter(|r| r.1 != 0).collect();
    for &(base, size) in chosen.memreserve {
        if base.checked_add(size).is_none() {
            return Err(Error::RegionOverflow { base, size });
        }
        if size != 0 {
            reservations.push((base, size));
        }
    }
    if reservations.len() > MAX_RESERVATIONS {
        return Err(Error::TooMany { what: "memory reservations", limit: MAX_RESERVATIONS });
    }
    let mut bootargs = Vec::new();
    let mut props: Vec<(&str, &[u8])> = Vec::new();
    if let Some(args) = chosen.bootargs {
        bootargs.extend_from_slice(args.as_bytes());
        bootargs.push(0);
    }
    let start;
    let end;
    if chosen.bootargs.is_some() {
        props.push(("bootargs", &bootargs));
    }
    if let Some((s, e)) = chosen.initrd {
        start = s.to_be_bytes();
        end = e.to_be_bytes();
        props.push(("linux,initrd-start", &start));
        props.push(("linux,initrd-end", &end));
    }
    set_chosen_properties(fdt, &props, &reservations, capacity)
}

/// The general form of [`with_chosen`]: sets each `(name, value)` in
/// `/chosen` (a name given twice: the last value wins) and writes
/// `reservations` as the reservation block.
fn set_chosen_properties(
    fdt: &Fdt<'_>,
    props: &[(&str, &[u8])],
    reservations: &[(u64, u64)],
    capacity: usize,
) -> Result<Vec<u8>, Error> {
    if props.iter().any(|(n, _)| n.is_empty() || n.as_bytes().contains(&0)) {
        return Err(Error::InvalidPropertyName);
    }
    let mut out = Out { structs: Vec::new(), strings: fdt.strings.to_vec() };
    let mut off = 0;
    let mut depth = 0usize;
    // Whether we are inside /chosen and have not yet written its new
    // properties (they go after its remaining old ones).
    let mut in_chosen = false;
    let mut chosen_done = false;
    loop {
        let (tok, next) = fdt.token(off)?;
        match tok {
            Token::Begin { name, .. } => {
                if in_chosen {
                    out.props(props)?;
                    in_chosen = false;
                }
                depth += 1;
                // The node `find_node("/chosen")` finds: the first child
                // of the root named `chosen`, with or without a unit
                // address.
                let base = name.split_once('@').map_or(name, |(b, _)| b);
                if depth == 2 && base == "chosen" && !chosen_done {
                    in_chosen = true;
                    chosen_done = true;
                }
                out.begin(name);
            }
            Token::End => {
                if in_chosen {
                    out.props(props)?;
                    in_chosen = false;
                }
                if depth == 1 && !chosen_done {
                    out.begin("chosen");
                    out.props(props)?;
                    out.word(2);
                    chosen_done = true;
                }
                depth = depth.saturating_sub(1);
                out.word(2);
            }
            Token::Prop(p) => {
                let replaced = in_chosen && props.iter().any(|(n, _)| *n == p.name);
                if !replaced {
                    out.prop(p.name, p.value)?;
                }
            }
            Token::Nop => {}
            Token::Finish => {
                out.word(9);
                break;
            }
        }
        off = next;
    }
    out.finish(reservations, fdt.boot_cpuid, capacity)
}

struct Out {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl Out {
    fn word(&mut self, w: u32) {
        self.structs.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    fn begin(&mut self, name: &str) {
        self.word(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
    }

    fn props(&mut self, props: &[(&str, &[u8])]) -> Result<(), Error> {
        for (i, (name, value)) in props.iter().enumerate() {
            // The last of duplicate names wins.
            let later = props.get(i + 1..).unwrap_or(&[]);
            if !later.iter().any(|(n, _)| n == name) {
                self.prop(name, value)?;
            }
        }
        Ok(())
    }

    fn prop(&mut self, name: &str, value: &[u8]) -> Result<(), Error> {
        let too_big = Error::NoSpace { needed: usize::MAX, capacity: u32::MAX as usize };
        let nameoff = self.string(name)?;
        let len = u32::try_from(value.len()).map_err(|_| too_big)?;
        self.word(3);
        self.word(len);
        self.word(nameoff);
        self.structs.extend_from_slice(value);
        self.pad();
        Ok(())
    }

    /// The offset of `name` in the strings block, appending it if no
    /// existing string (or string tail) equals it.
    fn string(&mut self, name: &str) -> Result<u32, Error> {
        let n = name.as_bytes();
        let found = self
            .strings
            .windows(n.len() + 1)
            .position(|w| w.split_last().is_some_and(|(l, h)| *l == 0 && h == n));
        let off = match found {
            Some(o) => o,
            None => {
                let o = self.strings.len();
                self.strings.extend_from_slice(n);
                self.strings.push(0);
                o
            }
        };
        u32::try_from(off).map_err(|_| Error::NoSpace { needed: off, capacity: u32::MAX as usize })
    }

    fn finish(
        self,
        reservations: &[(u64, u64)],
        boot_cpuid: u32,
        capacity: usize,
    ) -> Result<Vec<u8>, Error> {
        const HEADER: usize = 40;
        let rsv_len = reservations.len().saturating_add(1).saturating_mul(16);
        let off_struct = HEADER.saturating_add(rsv_len);
        let off_strings = off_struct.saturating_add(self.structs.len());
        let total = align4(off_strings.saturating_add(self.strings.len())).unwrap_or(usize::MAX);
        if total > capacity || u32::try_from(total).is_err() {
            return Err(Error::NoSpace { needed: total, capacity });
        }
        // All below u32::MAX now: total is, and every offset is smaller.
        let w = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        let mut blob = Vec::with_capacity(total);
        blob.extend_from_slice(&MAGIC.to_be_bytes());
        blob.extend_from_slice(&w(total));
        blob.extend_from_slice(&w(off_struct));
        blob.extend_from_slice(&w(off_strings));
        blob.extend_from_slice(&w(HEADER));
        blob.extend_from_slice(&17u32.to_be_bytes());
        blob.extend_from_slice(&16u32.to_be_bytes());
        blob.extend_from_slice(&boot_cpuid.to_be_bytes());
        blob.extend_from_slice(&w(self.strings.len()));
        blob.extend_from_slice(&w(self.structs.len()));
        for (a, s) in reservations.iter().chain(core::iter::once(&(0, 0))) {
            blob.extend_from_slice(&a.to_be_bytes());
            blob.extend_from_slice(&s.to_be_bytes());
        }
        blob.extend_from_slice(&self.structs);
        blob.extend_from_slice(&self.strings);
        blob.resize(total, 0);
        Ok(blob)
    }
}
