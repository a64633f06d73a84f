//! Minimal ELF64 editing: produce a copy of the firmware whose PVH note is
//! neutralised, so a VMM that prefers PVH (Firecracker) enters through the
//! Linux 64-bit boot door instead. The note stays in place with its type
//! changed, which keeps every offset in the file valid.

const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_NOTE: u32 = 4;

fn u16_at(b: &[u8], o: usize) -> Result<u16, String> {
    b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| "ELF truncated".into())
}

fn u32_at(b: &[u8], o: usize) -> Result<u32, String> {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| "ELF truncated".into())
}

fn u64_at(b: &[u8], o: usize) -> Result<u64, String> {
    b.get(o..o + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| "ELF truncated".into())
}

pub fn without_pvh_note(image: &[u8]) -> Result<Vec<u8>, String> {
    if image.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let mut out = image.to_vec();
    let phoff = u64_at(image, 0x20)? as usize;
    let phentsize = usize::from(u16_at(image, 0x36)?);
    let phnum = usize::from(u16_at(image, 0x38)?);
    let mut patched = false;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(image, ph)? != PT_NOTE {
            continue;
        }
        let (off, size) = (u64_at(image, ph + 8)? as usize, u64_at(image, ph + 32)? as usize);
        let mut n = off;
        while n + 12 <= off + size {
            let namesz = u32_at(image, n)? as usize;
            let descsz = u32_at(image, n + 4)? as usize;
            let ty = u32_at(image, n + 8)?;
            let name = image.get(n + 12..n + 12 + namesz).ok_or("ELF note truncated")?;
            if ty == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
                // Type 0 is not a Xen note any loader acts on.
                out[n + 8..n + 12].copy_from_slice(&0u32.to_le_bytes());
                patched = true;
            }
            n += 12 + namesz.next_multiple_of(4) + descsz.next_multiple_of(4);
        }
    }
    if patched {
        Ok(out)
    } else {
        Err("the firmware ELF has no PVH note".into())
    }
}

const PT_LOAD: u32 = 1;
const SHT_RELA: u32 = 4;
const R_AARCH64_RELATIVE: u32 = 1027;

/// The flat image of a position-independent firmware ELF linked at 0
/// (aarch64): every PT_LOAD segment's file bytes at its virtual address,
/// the gaps zero, ending with the last file byte (.bss is not stored; the
/// Image header's `image_size` covers it). Fails unless every dynamic
/// relocation is R_AARCH64_RELATIVE, the only kind the entry code applies.
pub fn flat_image(image: &[u8]) -> Result<Vec<u8>, String> {
    if image.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let shoff = u64_at(image, 0x28)? as usize;
    let shentsize = usize::from(u16_at(image, 0x3a)?);
    let shnum = usize::from(u16_at(image, 0x3c)?);
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        if u32_at(image, sh + 4)? != SHT_RELA {
            continue;
        }
        let (off, size) = (u64_at(image, sh + 0x18)? as usize, u64_at(image, sh + 0x20)? as usize);
        for r in (off..off + size).step_by(24) {
            let ty = u32_at(image, r + 8)?;
            if ty != R_AARCH64_RELATIVE {
                return Err(format!("relocation of type {ty} at file offset {r:#x}: only R_AARCH64_RELATIVE is applied at entry"));
            }
        }
    }
    let phoff = u64_at(image, 0x20)? as usize;
    let phentsize = usize::from(u16_at(image, 0x36)?);
    let phnum = usize::from(u16_at(image, 0x38)?);
    let mut out = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(image, ph)? != PT_LOAD {
            continue;
        }
        let off = u64_at(image, ph + 8)? as usize;
        let vaddr = u64_at(image, ph + 16)? as usize;
        let filesz = u64_at(image, ph + 32)? as usize;
        let bytes = image.get(off..off + filesz).ok_or("ELF segment truncated")?;
        if out.len() < vaddr + filesz {
            out.resize(vaddr + filesz, 0);
        }
        out[vaddr..vaddr + filesz].copy_from_slice(bytes);
    }
    if out.get(0x38..0x3c) != Some(b"ARM\x64") {
        return Err("the flat image has no arm64 Image header".into());
    }
    Ok(out)
}

/// The magic of the firmware's key descriptor (firmware/src/sbkeys.rs):
/// 8 bytes, then the key blob's offset from the image's first byte and
/// its length, u32 little endian each.
pub const KEYS_DESCRIPTOR_MAGIC: &[u8; 8] = b"VMFWKD01";
const PAGE: u64 = 4096;
const PT_PHDR: u32 = 6;
const PHDR_SIZE: usize = 56;

/// Where the key descriptor is in a file: its one occurrence (two would
/// leave it unclear which the firmware reads).
pub fn find_descriptor(file: &[u8]) -> Result<usize, String> {
    let mut found = file.windows(8).enumerate().filter(|(_, w)| w == KEYS_DESCRIPTOR_MAGIC);
    let (at, _) = found.next().ok_or(
        "the image has no key descriptor (a build without the secure-boot feature, or before it)",
    )?;
    if found.next().is_some() {
        return Err("the image holds the key descriptor's magic twice".into());
    }
    if file.len() < at + 16 {
        return Err("the key descriptor is cut short".into());
    }
    Ok(at)
}

/// The descriptor's (offset, length) at `at`.
pub fn read_descriptor(file: &[u8], at: usize) -> Result<(u32, u32), String> {
    Ok((u32_at(file, at + 8)?, u32_at(file, at + 12)?))
}

fn write_descriptor(file: &mut [u8], at: usize, offset: u64, len: usize) -> Result<(), String> {
    let offset =
        u32::try_from(offset).map_err(|_| "the key blob would lie beyond 4 GiB of the image")?;
    let len = u32::try_from(len).map_err(|_| "the key blob is larger than 4 GiB")?;
    file[at + 8..at + 12].copy_from_slice(&offset.to_le_bytes());
    file[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// A program header of an ELF64 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phdr {
    pub ty: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Phdr {
    fn read(b: &[u8], o: usize) -> Result<Self, String> {
        Ok(Phdr {
            ty: u32_at(b, o)?,
            flags: u32_at(b, o + 4)?,
            offset: u64_at(b, o + 8)?,
            vaddr: u64_at(b, o + 16)?,
            paddr: u64_at(b, o + 24)?,
            filesz: u64_at(b, o + 32)?,
            memsz: u64_at(b, o + 40)?,
            align: u64_at(b, o + 48)?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend(self.ty.to_le_bytes());
        out.extend(self.flags.to_le_bytes());
        for v in [self.offset, self.vaddr, self.paddr, self.filesz, self.memsz, self.align] {
            out.extend(v.to_le_bytes());
        }
    }
}

/// The bytes a loader copies from an ELF64 image: the sum of its PT_LOAD
/// segments' file sizes (what the size budget counts; symbols and
/// section headers are not loaded).
pub fn loadable_bytes(image: &[u8]) -> Result<u64, String> {
    Ok(program_headers(image)?.iter().filter(|p| p.ty == PT_LOAD).map(|p| p.filesz).sum())
}

/// The program headers of an ELF64 little-endian file.
pub fn program_headers(image: &[u8]) -> Result<Vec<Phdr>, String> {
    if image.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = u64_at(image, 0x20)? as usize;
    let phentsize = usize::from(u16_at(image, 0x36)?);
    let phnum = usize::from(u16_at(image, 0x38)?);
    if phentsize != PHDR_SIZE {
        return Err(format!("program headers of {phentsize} bytes (ELF64 has {PHDR_SIZE})"));
    }
    (0..phnum).map(|i| Phdr::read(image, phoff + i * PHDR_SIZE)).collect()
}

/// An ELF image's loadable segments, the lowest address and the end of
/// the highest segment in memory (.bss included).
fn load_span(phdrs: &[Phdr]) -> Result<(u64, u64), String> {
    let loads = phdrs.iter().filter(|p| p.ty == PT_LOAD);
    let start = loads.clone().map(|p| p.vaddr).min().ok_or("the ELF has no PT_LOAD segment")?;
    let end = loads.map(|p| p.vaddr + p.memsz).max().unwrap_or(start);
    Ok((start, end))
}

/// The file offset of the bytes an ELF loads at `vaddr`, `len` of them.
fn file_offset(phdrs: &[Phdr], vaddr: u64, len: u64) -> Option<u64> {
    phdrs.iter().filter(|p| p.ty == PT_LOAD).find_map(|p| {
        (vaddr >= p.vaddr && vaddr + len <= p.vaddr + p.filesz)
            .then(|| p.offset + (vaddr - p.vaddr))
    })
}

/// The firmware ELF with `blob` as one more read-only PT_LOAD segment, at
/// the first page after the highest segment's end in memory (after .bss
/// and the stack), and the key descriptor pointing at it (offset from the
/// lowest segment's address, which is where the image starts).
///
/// The program header table cannot grow where it is (sections follow
/// it), so a new one is written at the end of the file and `e_phoff`
/// points there. A PT_PHDR entry would then describe memory the table is
/// no longer loaded to; it is dropped (no loader of a static firmware
/// needs it). Every other header, the PVH note's PT_NOTE included, is
/// kept as it was; section headers keep describing the old contents.
pub fn append_keys_elf(image: &[u8], blob: &[u8]) -> Result<Vec<u8>, String> {
    let phdrs = program_headers(image)?;
    let at = find_descriptor(image)?;
    let (offset, len) = read_descriptor(image, at)?;
    if (offset, len) != (0, 0) {
        return Err("the image already carries Secure Boot keys; enroll a plain build".into());
    }
    // The descriptor must be in the bytes a loader loads, or patching it
    // changes nothing the firmware sees.
    let loaded = phdrs
        .iter()
        .filter(|p| p.ty == PT_LOAD)
        .any(|p| (at as u64) >= p.offset && (at as u64) + 16 <= p.offset + p.filesz);
    if !loaded {
        return Err("the key descriptor is not in a loaded segment".into());
    }
    if phdrs.iter().any(|p| p.ty == PT_LOAD && p.vaddr != p.paddr) {
        return Err(
            "a segment's virtual and physical addresses differ; not a vmfw x86_64 image".into()
        );
    }
    let (start, end) = load_span(&phdrs)?;
    let vaddr = end.next_multiple_of(PAGE);

    let mut out = image.to_vec();
    out.resize((out.len() as u64).next_multiple_of(PAGE) as usize, 0);
    let blob_offset = out.len() as u64;
    out.extend_from_slice(blob);
    out.resize(out.len().next_multiple_of(8), 0);
    let new = Phdr {
        ty: PT_LOAD,
        flags: 4, // R
        offset: blob_offset,
        vaddr,
        paddr: vaddr,
        filesz: blob.len() as u64,
        memsz: blob.len() as u64,
        align: PAGE,
    };
    // PT_LOAD entries stay sorted by address: the new one follows the
    // last of them.
    let mut table: Vec<Phdr> = phdrs.into_iter().filter(|p| p.ty != PT_PHDR).collect();
    let last_load = table.iter().rposition(|p| p.ty == PT_LOAD).unwrap_or(0);
    table.insert(last_load + 1, new);
    let phoff = out.len() as u64;
    for p in &table {
        p.write(&mut out);
    }
    let phnum = u16::try_from(table.len()).map_err(|_| "too many program headers")?;
    out[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
    out[0x38..0x3a].copy_from_slice(&phnum.to_le_bytes());
    write_descriptor(&mut out, at, vaddr - start, blob.len())?;
    Ok(out)
}

/// The arm64 flat Image with `blob` appended: the file padded to its
/// `image_size` (offset 16 of the Image header; .bss and stacks, which
/// the loader leaves free) rounded up to a page, the blob, and
/// `image_size` raised to cover it, so that the loader places and keeps
/// the blob with the image. The descriptor holds the blob's offset from
/// the image's first byte: the image runs wherever it is loaded.
pub fn append_keys_flat(image: &[u8], blob: &[u8]) -> Result<Vec<u8>, String> {
    if image.get(0x38..0x3c) != Some(b"ARM\x64") {
        return Err("not an arm64 Image (no ARM\\x64 magic)".into());
    }
    let at = find_descriptor(image)?;
    if read_descriptor(image, at)? != (0, 0) {
        return Err("the image already carries Secure Boot keys; enroll a plain build".into());
    }
    let image_size = u64_at(image, 16)?;
    if image_size < image.len() as u64 {
        return Err("the Image header's image_size is smaller than the file".into());
    }
    let offset = image_size.next_multiple_of(PAGE);
    let mut out = image.to_vec();
    out.resize(offset as usize, 0);
    out.extend_from_slice(blob);
    let new_size = (out.len() as u64).next_multiple_of(PAGE);
    out[16..24].copy_from_slice(&new_size.to_le_bytes());
    write_descriptor(&mut out, at, offset, blob.len())?;
    Ok(out)
}

/// The key blob an image carries (ELF or arm64 flat Image, told apart by
/// their magic), `None` when its descriptor is zero.
pub fn embedded_keys(file: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let at = find_descriptor(file)?;
    let (offset, len) = read_descriptor(file, at)?;
    if len == 0 {
        return Ok(None);
    }
    let (offset, len) = (u64::from(offset), u64::from(len));
    let file_off = if file.starts_with(b"\x7fELF") {
        let phdrs = program_headers(file)?;
        let (start, _) = load_span(&phdrs)?;
        file_offset(&phdrs, start + offset, len)
            .ok_or("the key descriptor points outside the loaded segments")?
    } else {
        offset
    };
    let bytes = file
        .get(file_off as usize..(file_off + len) as usize)
        .ok_or("the key descriptor points past the end of the file")?;
    Ok(Some(bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny x86_64-like firmware ELF: text at 1 MiB (holding the key
    /// descriptor), a PVH note, data with a larger .bss, a PT_PHDR.
    fn tiny_elf() -> Vec<u8> {
        let mut f = vec![0u8; 0x3000];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&4u16.to_le_bytes());
        let phdrs = [
            Phdr {
                ty: PT_PHDR,
                flags: 4,
                offset: 0x40,
                vaddr: 0xff040,
                paddr: 0xff040,
                filesz: 224,
                memsz: 224,
                align: 8,
            },
            Phdr {
                ty: PT_LOAD,
                flags: 5,
                offset: 0x1000,
                vaddr: 0x100000,
                paddr: 0x100000,
                filesz: 0x800,
                memsz: 0x800,
                align: PAGE,
            },
            Phdr {
                ty: PT_LOAD,
                flags: 6,
                offset: 0x2000,
                vaddr: 0x101000,
                paddr: 0x101000,
                filesz: 0x100,
                memsz: 0x5432,
                align: PAGE,
            },
            Phdr {
                ty: PT_NOTE,
                flags: 4,
                offset: 0x1400,
                vaddr: 0x100400,
                paddr: 0x100400,
                filesz: 20,
                memsz: 20,
                align: 4,
            },
        ];
        let mut table = Vec::new();
        phdrs.iter().for_each(|p| p.write(&mut table));
        f[0x40..0x40 + table.len()].copy_from_slice(&table);
        f[0x1100..0x1108].copy_from_slice(KEYS_DESCRIPTOR_MAGIC);
        // The PVH note: "Xen\0", type 18, a 4-byte entry address.
        let note = [
            &4u32.to_le_bytes()[..],
            &4u32.to_le_bytes(),
            &18u32.to_le_bytes(),
            b"Xen\0",
            &[0, 0, 0x10, 0],
        ]
        .concat();
        f[0x1400..0x1414].copy_from_slice(&note);
        f
    }

    #[test]
    fn appends_a_segment_after_bss() {
        let image = tiny_elf();
        let blob = vec![0xab; 5000];
        let out = append_keys_elf(&image, &blob).unwrap();
        let phdrs = program_headers(&out).unwrap();
        // PT_PHDR dropped, the new PT_LOAD right after the last one.
        assert_eq!(
            phdrs.iter().map(|p| p.ty).collect::<Vec<_>>(),
            [PT_LOAD, PT_LOAD, PT_LOAD, PT_NOTE]
        );
        let new = phdrs[2];
        assert_eq!(new.vaddr, 0x107000, "first page after .bss ends at 0x106432");
        assert_eq!((new.paddr, new.filesz, new.memsz, new.flags), (0x107000, 5000, 5000, 4));
        assert_eq!(new.offset % PAGE, 0);
        assert_eq!(&out[new.offset as usize..][..5000], &blob[..]);
        // Everything before the appended tail is unchanged but the ELF
        // header and the descriptor.
        let mut patched = image.clone();
        patched[0x1108..0x1110].copy_from_slice(&[0, 0x70, 0, 0, 0x88, 0x13, 0, 0]);
        assert!(out[0x40..image.len()] == patched[0x40..], "bytes changed");
        assert_eq!(read_descriptor(&out, 0x1100).unwrap(), (0x7000, 5000));
        assert_eq!(embedded_keys(&out).unwrap(), Some(blob.clone()));
        assert_eq!(embedded_keys(&image).unwrap(), None);
        // The -nopvh copy still finds the note, through the new table.
        let nopvh = without_pvh_note(&out).unwrap();
        assert_eq!(u32_at(&nopvh, 0x1408).unwrap(), 0);
        // Once is enough.
        assert!(append_keys_elf(&out, &blob).unwrap_err().contains("already carries"));
        // A second magic is ambiguous.
        let mut two = image.clone();
        two[0x1200..0x1208].copy_from_slice(KEYS_DESCRIPTOR_MAGIC);
        assert!(append_keys_elf(&two, &blob).unwrap_err().contains("twice"));
    }

    #[test]
    fn appends_to_a_flat_image() {
        let mut image = vec![0u8; 0x2345];
        image[16..24].copy_from_slice(&0x9000u64.to_le_bytes());
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        image[0x1000..0x1008].copy_from_slice(KEYS_DESCRIPTOR_MAGIC);
        let blob = vec![7u8; 100];
        let out = append_keys_flat(&image, &blob).unwrap();
        assert_eq!(out.len(), 0x9000 + 100);
        assert_eq!(u64_at(&out, 16).unwrap(), 0xa000);
        assert_eq!(read_descriptor(&out, 0x1000).unwrap(), (0x9000, 100));
        assert_eq!(embedded_keys(&out).unwrap(), Some(blob.clone()));
        assert!(append_keys_flat(&out, &blob).is_err());
    }

    /// The real firmware, when built: the descriptor is found, and the
    /// enrolled copy keeps every original segment and the PVH note.
    #[test]
    fn real_firmware_if_built() {
        let path = crate::build::target_dir().join("vmfw-x86_64.elf");
        let Ok(image) = std::fs::read(&path) else {
            eprintln!("skipped: {} not built", path.display());
            return;
        };
        let before = program_headers(&image).unwrap();
        let out = append_keys_elf(&image, &[1; 24]).unwrap();
        let after = program_headers(&out).unwrap();
        let loads = |p: &[Phdr]| p.iter().filter(|p| p.ty == PT_LOAD).count();
        assert_eq!(loads(&after), loads(&before) + 1);
        for p in before.iter().filter(|p| p.ty != PT_PHDR) {
            assert!(after.contains(p), "{p:?} lost");
        }
        assert!(without_pvh_note(&out).is_ok());
        assert_eq!(embedded_keys(&out).unwrap(), Some(vec![1; 24]));
    }
}
