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

/// The bytes a loader copies from an ELF64 image: the sum of its PT_LOAD
/// segments' file sizes (what the size budget counts; symbols and
/// section headers are not loaded).
pub fn loadable_bytes(image: &[u8]) -> Result<u64, String> {
    if image.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let phoff = u64_at(image, 0x20)? as usize;
    let phentsize = usize::from(u16_at(image, 0x36)?);
    let phnum = usize::from(u16_at(image, 0x38)?);
    let mut total = 0u64;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(image, ph)? == PT_LOAD {
            total += u64_at(image, ph + 32)?;
        }
    }
    Ok(total)
}
