//! Laying an image out in memory and applying base relocations (PE/COFF
//! §6.6 ".reloc Section (Image Only)", §6.6.1 "Base Relocation Block",
//! §6.6.2 "Base Relocation Types").
//!
//! The relocation directory is read from the *loaded* image (its address is
//! an RVA), after the sections are in place. It is copied out first, so a
//! fixup that lands on the directory itself cannot change which fixups
//! follow, and every block and fixup is checked before the first one is
//! applied: on a relocation error no fixup has been applied.
//!
//! Relocation types: ABSOLUTE (0) is padding and skipped; DIR64 (10) adds
//! the 64-bit delta to an 8-byte field; HIGHLOW (3) adds the low 32 bits of
//! the delta to a 4-byte field, as the spec describes, but only when the
//! whole image ends at or below 4 GiB, because above that no 32-bit
//! absolute address can point into the image (EDK2 applies it regardless).
//! Every other type (HIGH, LOW, HIGHADJ and the machine-specific ones) is
//! refused with [`Error::UnsupportedRelocation`]: EFI toolchains do not
//! emit them for PE32+.
//!
//! Additions wrap: the delta is `load_address - ImageBase` modulo 2^64,
//! which is what makes a load below `ImageBase` work.

use alloc::vec::Vec;

use crate::le::{put, u16_at, u32_at, u64_at};
use crate::{Error, PeImage};

/// `IMAGE_REL_BASED_ABSOLUTE`.
const REL_ABSOLUTE: u8 = 0;
/// `IMAGE_REL_BASED_HIGHLOW`.
const REL_HIGHLOW: u8 = 3;
/// `IMAGE_REL_BASED_DIR64`.
const REL_DIR64: u8 = 10;

const FOUR_GIB: u64 = 1 << 32;

/// Zeroes every byte of `dest` outside the `[start, end)` ranges of
/// `covered` (which it sorts: an insertion sort, since there are at most
/// [`crate::MAX_SECTIONS`] + 1 ranges, usually already in order, and a
/// library sort would add kilobytes of code to the firmware).
fn zero_uncovered(dest: &mut [u8], covered: &mut [(usize, usize)]) {
    for i in 1..covered.len() {
        let mut j = i;
        while j > 0 && covered.get(j - 1) > covered.get(j) {
            covered.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut pos = 0usize;
    for &(start, end) in covered.iter() {
        if start > pos {
            if let Some(gap) = dest.get_mut(pos..start) {
                gap.fill(0);
            }
        }
        pos = pos.max(end);
    }
    if let Some(tail) = dest.get_mut(pos..) {
        tail.fill(0);
    }
}

/// Calls `f(type, rva)` for every entry of every block of the relocation
/// directory `dir`, checking each block's framing.
fn walk(dir: &[u8], mut f: impl FnMut(u8, u64) -> Result<(), Error>) -> Result<(), Error> {
    let mut off = 0usize;
    while off < dir.len() {
        // The directory is at most SizeOfImage (1 GiB) long, so offsets fit
        // in u32.
        let offset = u32::try_from(off).unwrap_or(u32::MAX);
        let (Some(page), Some(size)) = (u32_at(dir, off), u32_at(dir, off.saturating_add(4)))
        else {
            return Err(Error::BadRelocBlock { offset, size: 0 });
        };
        let block_end = off.checked_add(size as usize);
        if size < 8 || !size.is_multiple_of(2) || block_end.is_none_or(|e| e > dir.len()) {
            return Err(Error::BadRelocBlock { offset, size });
        }
        let mut e = off.saturating_add(8);
        while e < off.saturating_add(size as usize) {
            let entry = u16_at(dir, e).ok_or(Error::BadRelocBlock { offset, size })?;
            // Type in the high 4 bits, offset in the page in the low 12.
            let kind = (entry >> 12) as u8;
            let rva = u64::from(page) + u64::from(entry & 0x0fff);
            f(kind, rva)?;
            e = e.saturating_add(2);
        }
        off = off.saturating_add(size as usize);
    }
    Ok(())
}

/// `rva..rva + width` as a `usize` offset if it lies inside `len` bytes and
/// past the first `headers` bytes (fixups may not patch the PE headers).
fn fixup_range(rva: u64, width: u64, headers: usize, len: usize) -> Result<usize, Error> {
    if rva < headers as u64 {
        return Err(Error::RelocationInHeaders(rva));
    }
    match rva.checked_add(width) {
        Some(end) if end <= len as u64 => usize::try_from(rva).map_err(|_| Error::OutOfMemory),
        _ => Err(Error::RelocationOutsideImage(rva)),
    }
}

impl PeImage {
    /// Loads the image into `dest` for execution at `load_address`.
    ///
    /// `file` must be the bytes [`PeImage::parse`] accepted, `dest` exactly
    /// [`PeImage::size_of_image`] bytes, and `load_address` (where `dest`
    /// will be executed from) a multiple of [`PeImage::section_alignment`].
    /// Copies the headers and each section's content, zeroes only what
    /// they do not cover, and applies the base relocations for `load_address` (see the
    /// module docs of `load.rs` for the supported types).
    ///
    /// Like EDK2 (and Windows), it then stores `load_address` in the loaded
    /// copy of the optional header's `ImageBase`, so the in-memory image
    /// describes where it actually is; the file is not changed.
    ///
    /// On error the contents of `dest` are unspecified (but no relocation
    /// error leaves a partly relocated image: all fixups are checked first).
    pub fn load_into(&self, file: &[u8], dest: &mut [u8], load_address: u64) -> Result<(), Error> {
        if file.len() != self.file_len() {
            return Err(Error::FileMismatch { expected: self.file_len(), got: file.len() });
        }
        self.load_with(file, dest, load_address, |offset, out| {
            match offset.checked_add(out.len()).and_then(|end| file.get(offset..end)) {
                Some(src) => {
                    out.copy_from_slice(src);
                    true
                }
                None => false,
            }
        })
    }

    /// As [`PeImage::load_into`], for an image parsed with
    /// [`PeImage::parse_headers`]: the headers come from `head`, and each
    /// section's raw data is read by `read(file offset, destination)`
    /// straight into its place in `dest` (false: the read failed,
    /// [`Error::SectionReadFailed`]). A loader reading from a disk thus
    /// reads the file once, into the image, with no copy.
    pub fn load_with(
        &self,
        head: &[u8],
        dest: &mut [u8],
        load_address: u64,
        mut read: impl FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<(), Error> {
        self.load_dyn(head, dest, load_address, &mut read)
    }

    /// [`PeImage::load_with`] with the reader behind a pointer: one copy
    /// of the loader (1.6 KB in the firmware) for every kind of reader,
    /// for one indirect call per section.
    fn load_dyn(
        &self,
        head: &[u8],
        dest: &mut [u8],
        load_address: u64,
        read: &mut dyn FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<(), Error> {
        let file = head;
        let size = self.size_of_image();
        if dest.len() as u64 != u64::from(size) {
            return Err(Error::BadDestinationSize { expected: size, got: dest.len() });
        }
        let alignment = self.section_alignment();
        if !load_address.is_multiple_of(u64::from(alignment)) {
            return Err(Error::MisalignedLoadAddress { address: load_address, alignment });
        }
        let load_end = load_address
            .checked_add(u64::from(size))
            .ok_or(Error::LoadAddressWraps(load_address))?;
        if !self.is_relocatable() && load_address != self.image_base() {
            return Err(Error::NotRelocatable { image_base: self.image_base() });
        }

        let headers = self.size_of_headers() as usize;
        let hdr_src = file.get(..headers).ok_or(Error::BadSizeOfHeaders(self.size_of_headers()))?;
        if !put(dest, 0, hdr_src) {
            return Err(Error::BadSizeOfHeaders(self.size_of_headers()));
        }
        // What the copies cover, so that only the rest is zeroed: an image
        // can be much larger than its content (a UKI's SizeOfImage spans
        // its high sections), and every byte written costs.
        let mut covered = Vec::new();
        covered.try_reserve_exact(self.sections().len() + 1).map_err(|_| Error::OutOfMemory)?;
        covered.push((0, headers));
        for (i, s) in (0u16..).zip(self.sections()) {
            let range = s.file_range();
            if range.end > self.file_len() {
                return Err(Error::SectionDataOutsideFile(i));
            }
            let at = s.rva() as usize;
            let out = at
                .checked_add(range.len())
                .and_then(|end| dest.get_mut(at..end))
                .ok_or(Error::SectionOutsideImage(i))?;
            if !out.is_empty() && !read(range.start, out) {
                return Err(Error::SectionReadFailed(i));
            }
            covered.push((at, at.saturating_add(range.len())));
        }
        zero_uncovered(dest, &mut covered);

        if let Some(dir) = self.reloc_directory() {
            let dir = dest.get(dir.start as usize..dir.end as usize).ok_or(
                Error::RelocDirectoryOutsideImage { rva: dir.start, size: dir.end - dir.start },
            )?;
            let mut relocs = Vec::new();
            relocs.try_reserve_exact(dir.len()).map_err(|_| Error::OutOfMemory)?;
            relocs.extend_from_slice(dir);
            let image_len = dest.len();
            walk(&relocs, |kind, rva| match kind {
                REL_ABSOLUTE => Ok(()),
                REL_DIR64 => fixup_range(rva, 8, headers, image_len).map(drop),
                REL_HIGHLOW if load_end > FOUR_GIB => Err(Error::HighLowAbove4G(rva)),
                REL_HIGHLOW => fixup_range(rva, 4, headers, image_len).map(drop),
                kind => Err(Error::UnsupportedRelocation { kind, rva }),
            })?;
            let delta = load_address.wrapping_sub(self.image_base());
            walk(&relocs, |kind, rva| {
                let ok = match kind {
                    REL_DIR64 => {
                        let at = fixup_range(rva, 8, headers, image_len)?;
                        let v = u64_at(dest, at).ok_or(Error::RelocationOutsideImage(rva))?;
                        put(dest, at, &v.wrapping_add(delta).to_le_bytes())
                    }
                    REL_HIGHLOW => {
                        let at = fixup_range(rva, 4, headers, image_len)?;
                        let v = u32_at(dest, at).ok_or(Error::RelocationOutsideImage(rva))?;
                        // Truncation intended: HIGHLOW applies the low 32
                        // bits of the delta.
                        put(dest, at, &v.wrapping_add(delta as u32).to_le_bytes())
                    }
                    _ => true,
                };
                if ok {
                    Ok(())
                } else {
                    Err(Error::RelocationOutsideImage(rva))
                }
            })?;
        }

        if !put(dest, self.image_base_offset(), &load_address.to_le_bytes()) {
            return Err(Error::BadSizeOfHeaders(self.size_of_headers()));
        }
        Ok(())
    }
}
