//! Directory changes: create, rename and delete files (directories stay
//! read-only). Every change of an entry is one write of one device block;
//! see module `write` for the order of writes and why a power cut leaves
//! the volume consistent.
//!
//! Names: a name that is a valid upper-case 8.3 name is stored as a short
//! entry alone; any other gets long-name slots (FAT spec "FAT Long
//! Directory Entries") and a generated short name `BASIS~N.EXT`, the
//! basis being the name's first six characters that are valid in a short
//! name (others become `_`) and `N` the smallest number that no entry of
//! the directory uses (as short or long name).

use alloc::string::String;
use alloc::vec::Vec;

use vmfw_block::BlockIo;

use crate::dir::{Attributes, Dir, DirCursor, SlotPos, MAX_DIR_ENTRIES};
use crate::{name, Error, File, FileSystem};

/// One slot of a directory: device offset and raw bytes.
type Raw = (u64, [u8; 32]);

/// Long-name entry attribute and last-entry flag.
const ATTR_LONG_NAME: u8 = 0x0F;
const LAST_LONG_ENTRY: u8 = 0x40;
const LFN_OFFSETS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

impl<D: BlockIo> FileSystem<D> {
    /// Creates an empty file `name` in `dir` and opens it. The entry gets
    /// the archive attribute and no timestamps (FAT's "not recorded").
    ///
    /// Errors: the gate's errors ([`FileSystem::check_writable`]);
    /// [`Error::InvalidName`]; [`Error::AlreadyExists`];
    /// [`Error::DirectoryFull`] (the fixed FAT12/16 root, or 65536
    /// entries; other directories grow by a cluster, see `grow_dir`);
    /// [`Error::VolumeFull`]; errors reading the directory.
    pub fn create(&mut self, dir: Dir, name: &str) -> Result<File, Error> {
        check_name(name)?;
        self.check_writable()?;
        match self.find(dir, name) {
            Ok(_) => return Err(Error::AlreadyExists),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
        let mut short = [0u8; 32];
        short[11] = Attributes::ARCHIVE;
        let slots = self.name_slots(dir, name, short, None)?;
        let (all, start) = self.room(dir, slots.len())?;
        self.place(&all, start, &slots, None)?;
        let e = self.find(dir, name)?;
        self.open_file(&e)
    }

    /// Deletes file `name` from `dir`: its slots are marked deleted, then
    /// its clusters freed (module `write`).
    ///
    /// Errors: the gate's errors; [`Error::NotFound`];
    /// [`Error::IsADirectory`]; [`Error::EntrySpansBlocks`]; chain-walk
    /// errors; [`Error::Io`].
    pub fn delete(&mut self, dir: Dir, name: &str) -> Result<(), Error> {
        self.check_writable()?;
        let e = self.find(dir, name)?;
        if e.is_dir() {
            return Err(Error::IsADirectory);
        }
        let pos = e.pos.ok_or(Error::NotFound)?;
        self.one_block(&pos)?;
        let mut file = self.open_file(&e)?;
        let runs = self.walk_chain(&mut file)?.to_vec();
        let mut edits = Vec::new();
        for k in 0..pos.slots {
            let off = slot_off(&pos, k)?;
            let mut raw = self.dev.dir_entry(off)?;
            raw[0] = 0xE5;
            edits.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            edits.push((off, raw));
        }
        self.write_block(&edits)?;
        self.free_runs(&runs)
    }

    /// Sets the read-only, hidden, system and archive bits of entry `name`
    /// in `dir` to those of `attr`; the directory and volume-label bits
    /// stay as they are. One write of the short slot's block.
    ///
    /// Errors: the gate's errors; [`Error::NotFound`]; [`Error::Io`].
    pub fn set_attributes(&mut self, dir: Dir, name: &str, attr: u8) -> Result<(), Error> {
        const SETTABLE: u8 =
            Attributes::READ_ONLY | Attributes::HIDDEN | Attributes::SYSTEM | Attributes::ARCHIVE;
        self.check_writable()?;
        let pos = self.find(dir, name)?.pos.ok_or(Error::NotFound)?;
        let mut raw = self.dev.dir_entry(pos.short_off)?;
        if raw[11] & SETTABLE == attr & SETTABLE {
            return Ok(());
        }
        raw[11] = (raw[11] & !SETTABLE) | (attr & SETTABLE);
        self.write_block(&[(pos.short_off, raw)])
    }

    /// Renames `old` to `new` inside `dir`: the long-name slots and the
    /// short slot are rewritten together with one block write, in place
    /// or in free slots of the same device block. A [`File`] opened
    /// before keeps reading; growing or shrinking it through that handle
    /// fails with [`Error::NotFound`] once its slot moved (reopen it).
    ///
    /// Errors: the gate's errors; [`Error::NotFound`];
    /// [`Error::InvalidName`]; [`Error::AlreadyExists`] if another entry
    /// has the new name; [`Error::EntrySpansBlocks`];
    /// [`Error::DirectoryFull`] if the new slots fit nowhere in the
    /// directory; [`Error::VolumeFull`] (see below).
    ///
    /// When the new slots do not fit in the old entry's block, a file is
    /// renamed by copy instead (its content to a new chain, a new entry,
    /// then the old entry deleted and its chain freed): a cut in between
    /// leaves both names, each with its own copy.
    pub fn rename(&mut self, dir: Dir, old: &str, new: &str) -> Result<(), Error> {
        check_name(new)?;
        self.check_writable()?;
        let e = self.find(dir, old)?;
        let pos = e.pos.ok_or(Error::NotFound)?;
        match self.find(dir, new) {
            Ok(other) if other.pos != e.pos => return Err(Error::AlreadyExists),
            Ok(_) | Err(Error::NotFound) => {}
            Err(err) => return Err(err),
        }
        self.one_block(&pos)?;
        let short = self.dev.dir_entry(pos.short_off)?;
        let slots = self.name_slots(dir, new, short, Some(&pos))?;
        let all = self.dir_slots(dir)?;
        match self.free_run(&all, slots.len(), Some(&pos)) {
            Ok(start) => self.place(&all, start, &slots, Some(&pos)),
            Err(Error::DirectoryFull) if !e.is_dir() => self.rename_by_copy(dir, &e, &pos, new),
            Err(err) => Err(err),
        }
    }

    /// Renames a file whose new slots do not fit in its entry's block:
    /// copies its content to a new chain, writes a new entry for that
    /// chain (one block write), then deletes the old entry (one block
    /// write) and frees the old chain. A cut between the two entry writes
    /// leaves two files with the same content under the old and the new
    /// name, on separate chains, which fsck accepts; sharing the old chain
    /// instead would be a cross-link.
    fn rename_by_copy(
        &mut self,
        dir: Dir,
        e: &crate::Entry,
        pos: &SlotPos,
        new: &str,
    ) -> Result<(), Error> {
        let mut file = self.open_file(e)?;
        let old_runs = self.walk_chain(&mut file)?.to_vec();
        let short = self.check_short(pos.short_off, e)?;
        // A short name of its own (`own` = None): the old entry keeps its
        // short name until it is deleted.
        let mut slots = self.name_slots(dir, new, short, None)?;
        let (all, start) = self.room(dir, slots.len())?;
        let size = file.size();
        let fresh = self.new_chain(&mut file, size, 0, &[])?;
        let first = fresh.first().copied().unwrap_or(0);
        let fat32 = self.geo.fat_type == crate::FatType::Fat32;
        if let Some(last) = slots.last_mut() {
            if fat32 {
                vmfw_bytes::put(last, 20, &((first >> 16) as u16).to_le_bytes());
            }
            vmfw_bytes::put(last, 26, &(first as u16).to_le_bytes());
        }
        self.place(&all, start, &slots, None)?;
        let mut edits = Vec::new();
        for k in 0..pos.slots {
            let off = slot_off(pos, k)?;
            let mut raw = self.dev.dir_entry(off)?;
            raw[0] = 0xE5;
            edits.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            edits.push((off, raw));
        }
        self.write_block(&edits)?;
        self.free_runs(&old_runs)
    }

    /// The slots of `dir` and where `n` free ones lie, growing the
    /// directory by a cluster if it has no room (and is not the fixed
    /// FAT12/16 root).
    fn room(&mut self, dir: Dir, n: usize) -> Result<(Vec<Raw>, usize), Error> {
        let all = self.dir_slots(dir)?;
        match self.free_run(&all, n, None) {
            Err(Error::DirectoryFull) if dir.cluster != 0 => {}
            r => return r.map(|s| (all, s)),
        }
        self.grow_dir(dir)?;
        let all = self.dir_slots(dir)?;
        let start = self.free_run(&all, n, None)?;
        Ok((all, start))
    }

    /// Appends a zeroed cluster to directory `dir`'s chain: the cluster is
    /// zeroed, marked end-of-chain (a lost cluster until linked), then
    /// linked from the last one, each step flushed. A directory's chain
    /// has no size to disagree with, so either state is consistent.
    fn grow_dir(&mut self, dir: Dir) -> Result<(), Error> {
        let per = u64::from(self.geo.cluster_size / 32);
        let mut last = dir.cluster;
        let mut guard = crate::table::LoopGuard::new(last);
        let mut clusters = 1u64;
        loop {
            let r = crate::table::next(&mut self.dev, &self.geo, last);
            if let Err(e) = r {
                self.wstate.note(e);
            }
            match r? {
                crate::table::Next::End => break,
                crate::table::Next::Cluster(n) => {
                    guard.step(n, self.geo.cluster_count)?;
                    last = n;
                    clusters = clusters.saturating_add(1);
                }
            }
        }
        if clusters.saturating_add(1).saturating_mul(per) > u64::from(MAX_DIR_ENTRIES) {
            return Err(Error::DirectoryFull);
        }
        let fresh = self.find_free(1)?;
        let c = *fresh.first().ok_or(Error::VolumeFull)?;
        let cs = usize::try_from(self.geo.cluster_size).map_err(|_| Error::OutOfMemory)?;
        let mut zeros = Vec::new();
        zeros.try_reserve_exact(cs).map_err(|_| Error::OutOfMemory)?;
        zeros.resize(cs, 0);
        let off = self.geo.cluster_offset(c)?;
        self.dev.write_bytes(off, &zeros)?;
        self.dev.flush()?;
        let eoc = self.eoc();
        self.fat_update(&[(c, eoc)])?;
        self.fat_update(&[(last, c)])
    }

    /// Fails unless `pos`'s slots are contiguous inside one device block.
    fn one_block(&self, pos: &SlotPos) -> Result<(), Error> {
        let bs = self.dev.block_bytes();
        let span = u64::from(pos.slots.saturating_sub(1)) * 32;
        if pos.first_off.checked_add(span) != Some(pos.short_off)
            || pos.first_off / bs != pos.short_off / bs
        {
            return Err(Error::EntrySpansBlocks);
        }
        Ok(())
    }

    /// Every slot of `dir` with its device offset, past the end marker
    /// too (bounded by the directory's size and the 65536-entry limit).
    fn dir_slots(&mut self, dir: Dir) -> Result<Vec<Raw>, Error> {
        let mut cursor = DirCursor::new(dir);
        let mut out = Vec::new();
        loop {
            let r = self.slot(&mut cursor);
            if let Err(e) = r {
                self.wstate.note(e);
            }
            let Some(s) = r? else { break };
            cursor.index = cursor.index.saturating_add(1);
            out.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            out.push(s);
        }
        Ok(out)
    }

    /// The slots for `name`: long-name slots (if needed) then the short
    /// slot, whose bytes 11.. come from `short`. `own` is the entry being
    /// renamed, whose short name may be reused.
    fn name_slots(
        &mut self,
        dir: Dir,
        name: &str,
        mut short: [u8; 32],
        own: Option<&SlotPos>,
    ) -> Result<Vec<[u8; 32]>, Error> {
        let mut out = Vec::new();
        if let Some(s) = exact_short(name) {
            vmfw_bytes::put(&mut short, 0, &s);
            short[12] = 0;
            out.push(short);
            return Ok(out);
        }
        let (base, ext) = basis(name);
        // The short names in use, read once and sorted, so that trying
        // numbers costs a binary search each rather than a directory walk
        // (a hostile directory can hold 65536 `~N` names). The entry being
        // renamed does not count.
        let mut taken: Vec<[u8; 11]> = Vec::new();
        for (off, raw) in self.dir_slots(dir)? {
            if raw[0] == 0x00 {
                break;
            }
            let mine = own.is_some_and(|p| off == p.short_off);
            if !mine && matches!(crate::dir::classify(&raw), crate::dir::Slot::Short) {
                taken.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                taken.push(*raw.first_chunk::<11>().unwrap_or(&[0; 11]));
            }
        }
        vmfw_bytes::sort(&mut taken);
        // At most 65536 names are taken, so one of the first 65537 numbers
        // is free. Only short names are compared, as the FAT spec's basis
        // name generation does ("Basis-Name Generation Algorithm").
        let chosen = (1..=65_537u32)
            .map(|n| numbered(&base, &ext, n))
            .find(|cand| taken.binary_search(cand).is_err());
        let cand = chosen.ok_or(Error::DirectoryFull)?;
        vmfw_bytes::put(&mut short, 0, &cand);
        short[12] = 0;
        let sum = name::checksum(&cand);
        let units: Vec<u16> = name.encode_utf16().collect();
        let count = units.len().div_ceil(13);
        let per_block = usize::try_from(self.dev.block_bytes() / 32).unwrap_or(16);
        if count >= per_block || count > 20 {
            return Err(Error::InvalidName);
        }
        out.try_reserve(count + 1).map_err(|_| Error::OutOfMemory)?;
        for seq in (1..=count).rev() {
            let mut e = [0u8; 32];
            e[0] = seq as u8 | if seq == count { LAST_LONG_ENTRY } else { 0 };
            e[11] = ATTR_LONG_NAME;
            e[13] = sum;
            for (i, off) in LFN_OFFSETS.iter().enumerate() {
                let k = (seq - 1) * 13 + i;
                let u = match units.get(k) {
                    Some(&u) => u,
                    None if k == units.len() => 0,
                    None => 0xFFFF,
                };
                vmfw_bytes::put(&mut e, *off, &u.to_le_bytes());
            }
            out.push(e);
        }
        out.push(short);
        Ok(out)
    }

    /// Index in `all` of the first of `n` consecutive slots, inside one
    /// device block, that are free (deleted, past the end marker, or the
    /// slots of `own`, the entry being renamed, preferred when they fit).
    /// A run past the end marker is made visible by [`Self::place`].
    fn free_run(&self, all: &[Raw], n: usize, own: Option<&SlotPos>) -> Result<usize, Error> {
        let bs = self.dev.block_bytes();
        let end = all.iter().position(|(_, r)| r[0] == 0x00).unwrap_or(all.len());
        let is_own = |off: u64| own.is_some_and(|p| off >= p.first_off && off <= p.short_off);
        let free =
            |i: usize| i >= end || all.get(i).is_some_and(|(off, r)| r[0] == 0xE5 || is_own(*off));
        let fits = |i: usize| -> bool {
            let (Some((a, _)), Some((b, _))) = (all.get(i), all.get(i + n - 1)) else {
                return false;
            };
            a / bs == b / bs
                && *a + (n as u64 - 1) * 32 == *b
                && (i..i + n).all(free)
                && own.is_none_or(|p| a / bs == p.short_off / bs)
        };
        if n == 0 {
            return Err(Error::InvalidName);
        }
        if let Some(p) = own {
            if let Some(i) = all.iter().position(|(off, _)| *off == p.first_off) {
                if fits(i) {
                    return Ok(i);
                }
            }
        }
        (0..all.len()).find(|&i| fits(i)).ok_or(Error::DirectoryFull)
    }

    /// Writes `slots` at `all[start..]`, marks the slots of `own` that the
    /// new ones do not cover as deleted, and keeps an end marker right
    /// after the new slots when they pass the old one: all in one block
    /// write.
    fn place(
        &mut self,
        all: &[Raw],
        start: usize,
        slots: &[[u8; 32]],
        own: Option<&SlotPos>,
    ) -> Result<(), Error> {
        let end = all.iter().position(|(_, r)| r[0] == 0x00).unwrap_or(all.len());
        if start > end {
            // The run lies in a later block than the end marker: first turn
            // the slots from the marker up to the run into deleted ones,
            // block by block (each write harmless on its own), so that the
            // new entry is not hidden behind the marker.
            let bs = self.dev.block_bytes();
            let mut edits: Vec<Raw> = Vec::new();
            for (off, _) in all.get(end..start).unwrap_or(&[]) {
                if edits.first().is_some_and(|(f, _)| f / bs != off / bs) {
                    self.write_block(&edits)?;
                    edits.clear();
                }
                let mut deleted = [0u8; 32];
                deleted[0] = 0xE5;
                edits.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                edits.push((*off, deleted));
            }
            self.write_block(&edits)?;
        }
        let mut edits: Vec<Raw> = Vec::new();
        edits.try_reserve(slots.len() + 22).map_err(|_| Error::OutOfMemory)?;
        for (k, s) in slots.iter().enumerate() {
            let (off, _) = all.get(start + k).ok_or(Error::DirectoryFull)?;
            edits.push((*off, *s));
        }
        let after = start + slots.len();
        if after > end {
            // The slots past the old end marker may hold anything; the
            // marker moves to just after the new entry.
            if let Some((off, r)) = all.get(after) {
                if r[0] != 0x00 {
                    let mut z = *r;
                    z[0] = 0x00;
                    edits.push((*off, z));
                }
            }
        }
        if let Some(p) = own {
            for k in 0..p.slots {
                let off = slot_off(p, k)?;
                if !edits.iter().any(|(o, _)| *o == off) {
                    let mut r = self.dev.dir_entry(off)?;
                    r[0] = 0xE5;
                    edits.push((off, r));
                }
            }
        }
        self.write_block(&edits)
    }

    /// Applies `edits` (slots of one device block) with one block write,
    /// then flushes.
    fn write_block(&mut self, edits: &[Raw]) -> Result<(), Error> {
        let bs = self.dev.block_bytes();
        let Some(&(first, _)) = edits.first() else {
            return Ok(());
        };
        let base = first - first % bs;
        let len = usize::try_from(bs).map_err(|_| Error::OutOfMemory)?;
        let mut block = Vec::new();
        block.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
        block.resize(len, 0);
        self.dev.read_bytes(base, &mut block)?;
        for (off, raw) in edits {
            if off / bs != base / bs {
                return Err(Error::EntrySpansBlocks);
            }
            let at = usize::try_from(off - base).map_err(|_| Error::EntrySpansBlocks)?;
            if !vmfw_bytes::put(&mut block, at, raw) {
                return Err(Error::EntrySpansBlocks);
            }
        }
        self.dev.write_bytes(base, &block)?;
        self.dev.flush()
    }
}

/// Device offset of slot `k` of an entry known to be contiguous.
fn slot_off(pos: &SlotPos, k: u32) -> Result<u64, Error> {
    pos.first_off.checked_add(u64::from(k) * 32).ok_or(Error::EntrySpansBlocks)
}

/// Characters a long name may not hold (FAT spec "FAT Long Directory
/// Entries"), besides controls.
const FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// Checks that `name` can be stored as a long name.
fn check_name(name: &str) -> Result<(), Error> {
    let units = name.encode_utf16().count();
    if units == 0
        || units > 255
        || name == "."
        || name == ".."
        || name.ends_with(['.', ' '])
        || name.chars().any(|c| (c as u32) < 0x20 || c == '\u{7f}' || FORBIDDEN.contains(&c))
    {
        return Err(Error::InvalidName);
    }
    Ok(())
}

/// Whether `c` may appear in a short name as itself (upper case only).
fn short_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || "!#$%&'()-@^_`{}~".contains(c)
}

/// The 11-byte short name if `name` is exactly a valid upper-case 8.3 name.
fn exact_short(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 {
        return None;
    }
    if !base.chars().chain(ext.chars()).all(short_char) || (name.contains('.') && ext.is_empty()) {
        return None;
    }
    let mut out = [b' '; 11];
    vmfw_bytes::put(&mut out, 0, base.as_bytes());
    vmfw_bytes::put(&mut out, 8, ext.as_bytes());
    // A leading 0xE5 never occurs: only ASCII is accepted.
    Some(out)
}

/// The basis of a generated short name: up to 8 base and 3 extension
/// bytes, upper case, invalid characters as `_`, dots and spaces dropped.
fn basis(name: &str) -> (String, String) {
    let trimmed = name.trim_start_matches(['.', ' ']);
    let (b, e) = match trimmed.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (trimmed, ""),
    };
    let conv = |s: &str, max: usize| -> String {
        s.chars()
            .filter(|c| *c != '.' && *c != ' ')
            .map(|c| {
                let u = c.to_ascii_uppercase();
                if short_char(u) {
                    u
                } else {
                    '_'
                }
            })
            .take(max)
            .collect()
    };
    (conv(b, 8), conv(e, 3))
}

/// `BASIS~N.EXT` as 11 bytes, the basis shortened to make room for `~N`.
fn numbered(base: &str, ext: &str, n: u32) -> [u8; 11] {
    let mut tail = String::from("~");
    let mut digits = [0u8; 10];
    let mut k = n;
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (k % 10) as u8;
        }
        len += 1;
        k /= 10;
        if k == 0 || len >= digits.len() {
            break;
        }
    }
    for &d in digits.get(..len).unwrap_or(&[]).iter().rev() {
        tail.push(char::from(d));
    }
    let keep = 8usize.saturating_sub(tail.len()).min(base.len());
    let mut out = [b' '; 11];
    let b = base.get(..keep).unwrap_or("");
    let b = if b.is_empty() { "_" } else { b };
    vmfw_bytes::put(&mut out, 0, b.as_bytes());
    let at = b.len().min(8usize.saturating_sub(tail.len()));
    vmfw_bytes::put(&mut out, at, tail.as_bytes());
    vmfw_bytes::put(&mut out, 8, ext.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(exact_short("README.TXT"), Some(*b"README  TXT"));
        assert_eq!(exact_short("A"), Some(*b"A          "));
        assert_eq!(exact_short("readme.txt"), None);
        assert_eq!(exact_short("accept+1.conf"), None);
        assert_eq!(exact_short("TOOLONGNAME.TXT"), None);
        let (b, e) = basis("accept+1.conf");
        assert_eq!((b.as_str(), e.as_str()), ("ACCEPT_1", "CON"));
        assert_eq!(&numbered(&b, &e, 1), b"ACCEPT~1CON");
        assert_eq!(&numbered(&b, &e, 12), b"ACCEP~12CON");
        assert_eq!(&numbered("", "", 3), b"_~3        ");
        assert!(check_name("a/b").is_err());
        assert!(check_name("x.").is_err());
        assert!(check_name("ok name.conf").is_ok());
    }
}
