//! Kernel, initrd and boot parameter placement.

use super::*;
use crate::{
    load_initrd_plan, load_kernel_plan, load_params_plan, plan_kernel, Error, KernelPlan,
    SetupHeader, FOUR_GIB,
};
use vmfw_memmap::{Region, PAGE_SIZE};

fn header(s: &Synth) -> (SetupHeader, u64) {
    let img = s.image();
    (SetupHeader::parse(&img).unwrap(), img.len() as u64)
}

/// Places the kernel described by `s` in `map`.
fn place(s: &Synth, map: &mut MemoryMap) -> Result<crate::KernelPlacement, Error> {
    let (h, len) = header(s);
    load_kernel_plan(&h, len, map)
}

#[test]
fn plan_lists_the_constraints() {
    let s = Synth::default();
    let (h, len) = header(&s);
    assert_eq!(
        plan_kernel(&h, len),
        Ok(KernelPlan {
            pref_address: 0x100_0000,
            size: 0x200_0000,
            alignment: 0x20_0000,
            min_alignment: 0x20_0000,
            relocatable: true,
            limit: FOUR_GIB,
        })
    );
    // A file whose protected-mode part is larger than init_size reserves
    // the file's size, rounded to pages.
    assert_eq!(plan_kernel(&h, 0xa00 + 0x200_0000 + 1).unwrap().size, 0x200_0000 + PAGE_SIZE);
    // Truncated files are refused before any placement.
    assert!(matches!(plan_kernel(&h, 0x26c), Err(Error::Truncated { .. })));
    // Alignments below a page are raised to a page.
    let s = Synth { kernel_alignment: 16, min_alignment: 2, ..Synth::default() };
    let (h, len) = header(&s);
    let p = plan_kernel(&h, len).unwrap();
    assert_eq!((p.alignment, p.min_alignment), (PAGE_SIZE, PAGE_SIZE));
}

#[test]
fn q35_kernel_goes_to_pref_address() {
    let mut map = q35();
    let k = place(&Synth::default(), &mut map).unwrap();
    assert_eq!((k.addr(), k.size(), k.alignment()), (0x100_0000, 0x200_0000, 0x20_0000));
    assert_eq!(k.entry_64(), 0x100_0200);
    assert_eq!(map.type_at(0x100_0000), Some(MemoryType::LoaderData));
    assert_eq!(map.type_at(0x2ff_ffff), Some(MemoryType::LoaderData));
    assert_eq!(map.type_at(0x300_0000), Some(MemoryType::Free));
}

#[test]
fn tiny_vm_fits_a_real_sized_kernel() {
    // Debian 6.1's init_size is 0x3f98000 (~64 MiB): fits in 128 MiB.
    let s = Synth { init_size: 0x3f9_8000, ..Synth::default() };
    let mut map = tiny();
    let k = place(&s, &mut map).unwrap();
    assert_eq!((k.addr(), k.size()), (0x100_0000, 0x3f9_8000));
    // Twice that does not fit above pref_address in 128 MiB.
    let s = Synth { init_size: 0x7f0_0000, ..Synth::default() };
    let mut map = tiny();
    let before = map.regions().to_vec();
    assert_eq!(place(&s, &mut map), Err(Error::NoRoomForKernel { size: 0x7f0_0000 }));
    assert_eq!(map.regions(), &before[..]);
}

#[test]
fn taken_pref_address_moves_up_at_the_same_alignment() {
    let mut map = q35();
    map.reserve(0x101_0000, PAGE_SIZE, MemoryType::FirmwareData).unwrap();
    let k = place(&Synth::default(), &mut map).unwrap();
    assert_eq!((k.addr(), k.alignment()), (0x120_0000, 0x20_0000));
    // Never below pref_address, even when there is room there: the kernel
    // would move itself up to pref_address, outside the reservation.
    let mut map = q35();
    map.reserve(0x100_0000, 0x3000_0000, MemoryType::FirmwareData).unwrap();
    let k = place(&Synth::default(), &mut map).unwrap();
    assert_eq!(k.addr(), 0x3100_0000);
}

#[test]
fn falls_back_toward_min_alignment() {
    // Prefers 16 MiB alignment, accepts 2 MiB; pref_address 16 MiB is
    // taken and RAM ends at 60 MiB, so 16 MiB alignment cannot fit 32 MiB.
    let s = Synth { kernel_alignment: 0x100_0000, ..Synth::default() };
    let mut map = MemoryMap::new();
    map.add(MIB, 59 * MIB, MemoryType::Free).unwrap();
    map.reserve(16 * MIB, 2 * MIB, MemoryType::FirmwareData).unwrap();
    let k = place(&s, &mut map).unwrap();
    assert_eq!((k.addr(), k.alignment()), (24 * MIB, 8 * 0x10_0000));
    // With min_alignment equal to kernel_alignment there is no fallback.
    let s = Synth { kernel_alignment: 0x100_0000, min_alignment: 24, ..Synth::default() };
    let mut map = MemoryMap::new();
    map.add(MIB, 59 * MIB, MemoryType::Free).unwrap();
    map.reserve(16 * MIB, 2 * MIB, MemoryType::FirmwareData).unwrap();
    assert_eq!(place(&s, &mut map), Err(Error::NoRoomForKernel { size: 32 * MIB }));
}

#[test]
fn misaligned_pref_address_is_not_used_by_relocatable_kernels() {
    let s = Synth { pref_address: 0x110_0000, ..Synth::default() };
    let mut map = q35();
    let k = place(&s, &mut map).unwrap();
    assert_eq!(k.addr(), 0x120_0000);
}

#[test]
fn non_relocatable_kernels_go_to_pref_address_or_nowhere() {
    let s = Synth { relocatable: 0, ..Synth::default() };
    let mut map = q35();
    assert_eq!(place(&s, &mut map).unwrap().addr(), 0x100_0000);
    let mut map = q35();
    map.reserve(0x2ff_f000, PAGE_SIZE, MemoryType::FirmwareData).unwrap();
    assert_eq!(place(&s, &mut map), Err(Error::KernelAddressTaken(0x100_0000)));
    // Even a misaligned pref_address is where it must go.
    let s = Synth { relocatable: 0, pref_address: 0x110_0000, ..Synth::default() };
    let mut map = q35();
    let k = place(&s, &mut map).unwrap();
    assert_eq!((k.addr(), k.alignment()), (0x110_0000, 0x20_0000));
}

#[test]
fn kernel_stays_below_4g_even_when_allowed_above() {
    let mut map = MemoryMap::new();
    map.add(MIB, 20 * MIB, MemoryType::Free).unwrap();
    map.add(4 * GIB, 4 * GIB, MemoryType::Free).unwrap();
    let before = map.regions().to_vec();
    let s = Synth::default();
    assert!(s.xloadflags & zp::XLF_CAN_BE_LOADED_ABOVE_4G != 0);
    assert_eq!(place(&s, &mut map), Err(Error::NoRoomForKernel { size: 32 * MIB }));
    assert_eq!(map.regions(), &before[..]);
    // pref_address above 4 GiB: nothing qualifies.
    let s = Synth { pref_address: 5 * GIB, ..Synth::default() };
    assert_eq!(place(&s, &mut map), Err(Error::NoRoomForKernel { size: 32 * MIB }));
}

#[test]
fn a_full_map_is_reported_as_such() {
    // 255 alternating entries below 16 MiB, then one free range: placing
    // the kernel at its start needs a 257th entry.
    let mut map = MemoryMap::new();
    for i in 0..255u64 {
        let ty = if i % 2 == 0 { MemoryType::Free } else { MemoryType::Reserved };
        map.add(i * PAGE_SIZE, PAGE_SIZE, ty).unwrap();
    }
    map.add(16 * MIB, 64 * MIB, MemoryType::Free).unwrap();
    assert_eq!(map.regions().len(), 256);
    assert_eq!(place(&Synth::default(), &mut map), Err(Error::Memory(vmfw_memmap::Error::MapFull)));
}

#[test]
fn initrd_goes_high_below_initrd_addr_max() {
    let (h, _) = header(&Synth::default());
    let mut map = q35();
    let a = load_initrd_plan(&h, 64 * MIB + 5, &mut map).unwrap();
    assert_eq!(a, 2 * GIB - 64 * MIB - PAGE_SIZE);
    assert_eq!(map.type_at(a), Some(MemoryType::LoaderData));
    // Tiny VM: the top of RAM.
    let mut map = tiny();
    assert_eq!(load_initrd_plan(&h, 20 * MIB, &mut map), Ok(108 * MIB));
    // The protocol default for initrd_addr_max 0.
    let (h, _) = header(&Synth { initrd_addr_max: 0, ..Synth::default() });
    let mut map = q35();
    assert_eq!(load_initrd_plan(&h, 16 * MIB, &mut map), Ok(0x3800_0000 - 16 * MIB));
}

#[test]
fn initrd_above_4g_only_when_the_kernel_allows() {
    // 2.5 GiB does not fit below 2 GiB on q35.
    let len = 2 * GIB + GIB / 2;
    let (h, _) = header(&Synth::default());
    let mut map = q35();
    assert_eq!(load_initrd_plan(&h, len, &mut map), Ok(4 * GIB));
    let (h, _) = header(&Synth { xloadflags: zp::XLF_KERNEL_64, ..Synth::default() });
    let mut map = q35();
    assert_eq!(load_initrd_plan(&h, len, &mut map), Err(Error::NoRoomForInitrd { size: len }));
    // Above initrd_addr_max but below 4 GiB counts as "above" too.
    let mut map = MemoryMap::new();
    map.add(MIB, 0x3000_0000, MemoryType::Free).unwrap();
    map.add(0x8000_0000, 0x4000_0000, MemoryType::Free).unwrap();
    let (h, _) = header(&Synth { initrd_addr_max: 0x1fff_ffff, ..Synth::default() });
    assert_eq!(load_initrd_plan(&h, 0x2000_0000, &mut map), Ok(0x8000_0000));
    assert_eq!(load_initrd_plan(&h, 0, &mut map), Err(Error::EmptyInitrd));
    assert_eq!(
        load_initrd_plan(&h, u64::MAX, &mut map),
        Err(Error::NoRoomForInitrd { size: u64::MAX })
    );
}

#[test]
fn params_go_high_below_4g() {
    let (h, _) = header(&Synth { xloadflags: zp::XLF_KERNEL_64, ..Synth::default() });
    let mut map = q35();
    let p = load_params_plan(&h, 100, &mut map).unwrap();
    assert_eq!(p.zero_page, 2 * GIB - 2 * PAGE_SIZE);
    assert_eq!(p.cmdline, p.zero_page + 4096);
    assert_eq!(p.size, 2 * PAGE_SIZE);
    // Exactly one page of command line plus its NUL needs a third page.
    let p = load_params_plan(&h, 2047, &mut map).unwrap();
    assert_eq!(p.size, 2 * PAGE_SIZE);
    assert_eq!(
        load_params_plan(&h, 2048, &mut map),
        Err(Error::CmdlineTooLong { len: 2048, max: 2047 })
    );
    let (big, _) = header(&Synth { cmdline_size: 4096, ..Synth::default() });
    assert_eq!(load_params_plan(&big, 4096, &mut map).unwrap().size, 3 * PAGE_SIZE);

    // RAM only above 4 GiB: only a kernel that allows it gets its params.
    let mut high = MemoryMap::new();
    high.add(4 * GIB, GIB, MemoryType::Free).unwrap();
    assert_eq!(
        load_params_plan(&h, 100, &mut high),
        Err(Error::NoRoomForParams { size: 2 * PAGE_SIZE })
    );
    let (h, _) = header(&Synth::default());
    assert_eq!(load_params_plan(&h, 100, &mut high).unwrap().zero_page, 4 * GIB);
}

#[test]
fn reservations_never_overlap() {
    let (h, len) = header(&Synth { init_size: 0x3f9_8000, ..Synth::default() });
    for mut map in [q35(), tiny()] {
        let k = load_kernel_plan(&h, len, &mut map).unwrap();
        let i = load_initrd_plan(&h, 30 * MIB, &mut map).unwrap();
        let p = load_params_plan(&h, 1000, &mut map).unwrap();
        let mut r = [(k.addr(), k.size()), (i, 30 * MIB), (p.zero_page, p.size)];
        r.sort();
        assert!(r[0].0 + r[0].1 <= r[1].0 && r[1].0 + r[1].1 <= r[2].0, "{r:x?}");
        assert!(map
            .regions()
            .iter()
            .filter(|x| x.ty == MemoryType::LoaderData)
            .all(|x: &Region| x.end <= 4 * GIB));
    }
}
