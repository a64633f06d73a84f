use super::*;
use alloc::vec::Vec;

const MIB: u64 = 1 << 20;

fn map() -> MemoryMap {
    let mut m = MemoryMap::new();
    m.add(0, 640 * 1024, MemoryType::Free).unwrap();
    m.add(0xf0000, 0x10000, MemoryType::Reserved).unwrap();
    m.add(MIB, 255 * MIB, MemoryType::Free).unwrap();
    m.reserve(MIB, 2 * MIB, MemoryType::FirmwareCode).unwrap();
    m
}

#[test]
fn type_mapping() {
    assert_eq!(vmfw_type(EfiMemoryType::LOADER_CODE), Ok(MemoryType::LoaderCode));
    assert_eq!(vmfw_type(EfiMemoryType::BOOT_SERVICES_CODE), Ok(MemoryType::BootServicesCode));
    assert_eq!(
        vmfw_type(EfiMemoryType::RUNTIME_SERVICES_DATA),
        Ok(MemoryType::RuntimeServicesData)
    );
    // Every EFI type a guest can allocate maps to a vmfw type that maps back.
    for t in [
        EfiMemoryType::LOADER_CODE,
        EfiMemoryType::LOADER_DATA,
        EfiMemoryType::BOOT_SERVICES_CODE,
        EfiMemoryType::BOOT_SERVICES_DATA,
        EfiMemoryType::RUNTIME_SERVICES_CODE,
        EfiMemoryType::RUNTIME_SERVICES_DATA,
    ] {
        assert_eq!(vmfw_type(t).map(efi_type), Ok(t));
        assert!(is_freeable(vmfw_type(t).unwrap()));
    }
    // The firmware's own memory is never the guest's to free.
    assert!(!is_freeable(MemoryType::FirmwareCode));
    assert!(!is_freeable(MemoryType::FirmwareData));
    assert_eq!(vmfw_type(EfiMemoryType(0x8000_0001)), Ok(MemoryType::LoaderData));
    assert_eq!(vmfw_type(EfiMemoryType(0x7000_0000)), Ok(MemoryType::Reserved));
    for bad in [
        EfiMemoryType::CONVENTIONAL,
        EfiMemoryType::PERSISTENT,
        EfiMemoryType::UNACCEPTED,
        EfiMemoryType::MAX,
        EfiMemoryType(0x6fff_ffff),
    ] {
        assert_eq!(vmfw_type(bad), Err(Error::InvalidParameter), "{bad:?}");
    }
    assert_eq!(efi_type(MemoryType::Free), EfiMemoryType::CONVENTIONAL);
    assert_eq!(efi_type(MemoryType::LoaderData), EfiMemoryType::LOADER_DATA);
    assert_eq!(
        attributes(EfiMemoryType::RUNTIME_SERVICES_DATA),
        attribute::RAM | attribute::RUNTIME
    );
    assert_eq!(attributes(EfiMemoryType::CONVENTIONAL), 0xf);
    assert_eq!(attributes(EfiMemoryType::RESERVED), 0);
}

#[test]
fn allocate_any_and_max() {
    let mut m = map();
    let a = allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::LOADER_DATA, 4).unwrap();
    assert_eq!(a % PAGE_SIZE, 0);
    assert_eq!(m.type_at(a), Some(MemoryType::LoaderData));
    let b = allocate_pages(
        &mut m,
        AllocateType::MaxAddress(0x9_ffff),
        EfiMemoryType::BOOT_SERVICES_DATA,
        2,
    )
    .unwrap();
    assert!(b + 2 * PAGE_SIZE - 1 <= 0x9_ffff);
    assert_eq!(
        allocate_pages(&mut m, AllocateType::MaxAddress(0xfff), EfiMemoryType::LOADER_DATA, 2),
        Err(Error::OutOfResources)
    );
    assert_eq!(
        allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::LOADER_DATA, 1 << 40),
        Err(Error::OutOfResources)
    );
    // Linux's EFI stub asks for MaxAddress(u64::MAX).
    assert!(allocate_pages(
        &mut m,
        AllocateType::MaxAddress(u64::MAX),
        EfiMemoryType::LOADER_DATA,
        1
    )
    .is_ok());
}

#[test]
fn allocate_address() {
    let mut m = map();
    let at = 16 * MIB;
    assert_eq!(
        allocate_pages(&mut m, AllocateType::Address(at), EfiMemoryType::LOADER_CODE, 16),
        Ok(at)
    );
    // Taken now, reserved, unaligned, beyond RAM: NOT_FOUND.
    for addr in [at, 0xf0000, at + 17 * PAGE_SIZE + 1, 1 << 40, MIB] {
        assert_eq!(
            allocate_pages(&mut m, AllocateType::Address(addr), EfiMemoryType::LOADER_DATA, 1),
            Err(Error::NotFound),
            "{addr:#x}"
        );
    }
}

#[test]
fn allocate_invalid_parameters() {
    let mut m = map();
    let gen = m.generation();
    assert_eq!(AllocateType::from_raw(3, 0), Err(Error::InvalidParameter));
    assert_eq!(AllocateType::from_raw(1, 5), Ok(AllocateType::MaxAddress(5)));
    assert_eq!(
        allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::LOADER_DATA, 0),
        Err(Error::InvalidParameter)
    );
    assert_eq!(
        allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::PERSISTENT, 1),
        Err(Error::InvalidParameter)
    );
    assert_eq!(m.generation(), gen, "failed calls must not change the map");
}

#[test]
fn free_pages_rules() {
    let mut m = map();
    let a = allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::LOADER_DATA, 4).unwrap();
    assert_eq!(free_pages(&mut m, a + 1, 1), Err(Error::InvalidParameter));
    assert_eq!(free_pages(&mut m, a, 0), Err(Error::InvalidParameter));
    assert_eq!(free_pages(&mut m, u64::MAX - PAGE_SIZE + 1, 2), Err(Error::InvalidParameter));
    // Beyond the allocation, the firmware image, VMM-reserved, free memory.
    assert_eq!(free_pages(&mut m, a, 5), Err(Error::NotFound));
    assert_eq!(free_pages(&mut m, MIB, 1), Err(Error::NotFound));
    assert_eq!(free_pages(&mut m, 0xf0000, 1), Err(Error::NotFound));
    assert_eq!(free_pages(&mut m, 0x1000, 1), Err(Error::NotFound));
    assert_eq!(free_pages(&mut m, a + PAGE_SIZE, 2), Ok(()));
    assert_eq!(free_pages(&mut m, a + PAGE_SIZE, 1), Err(Error::NotFound), "double free");
    assert_eq!(free_pages(&mut m, a, 1), Ok(()));
    assert_eq!(free_pages(&mut m, a + 3 * PAGE_SIZE, 1), Ok(()));
    assert_eq!(m.regions(), map().regions());
}

#[test]
fn memory_map_buffer_and_key() {
    let mut m = map();
    let n = m.regions().len();
    let mut small = [0u8; 10];
    assert_eq!(get_memory_map(&m, &mut small), Err(BufferTooSmall { required: n * 48 }));
    assert_eq!(Error::from(BufferTooSmall { required: 1 }), Error::BufferTooSmall);
    let mut buf = [0xaau8; 48 * 16];
    let info = get_memory_map(&m, &mut buf).unwrap();
    assert_eq!(info.size, n * DESCRIPTOR_SIZE);
    assert_eq!(info.descriptor_size, 48);
    assert_eq!(info.descriptor_version, 1);
    assert_eq!(check_map_key(&m, info.key), Ok(()));
    let descs: Vec<_> = buf[..info.size]
        .chunks(info.descriptor_size)
        .map(|c| MemoryDescriptor::from_bytes(c).unwrap())
        .collect();
    assert_eq!(
        descs[0],
        MemoryDescriptor {
            ty: EfiMemoryType::CONVENTIONAL,
            physical_start: 0,
            virtual_start: 0,
            number_of_pages: 160,
            attribute: attribute::RAM,
        }
    );
    assert!(descs
        .iter()
        .any(|d| d.ty == EfiMemoryType::BOOT_SERVICES_CODE && d.physical_start == MIB));
    assert!(descs.iter().any(|d| d.ty == EfiMemoryType::RESERVED && d.physical_start == 0xf0000));
    // Padding after the 40-byte structure is zero.
    assert!(buf[40..48].iter().all(|&b| b == 0));
    assert!(buf[info.size..].iter().all(|&b| b == 0xaa), "nothing written beyond the map");

    allocate_pages(&mut m, AllocateType::AnyPages, EfiMemoryType::LOADER_DATA, 1).unwrap();
    assert_eq!(check_map_key(&m, info.key), Err(Error::InvalidParameter));
}

#[test]
fn descriptor_round_trip() {
    let d = MemoryDescriptor {
        ty: EfiMemoryType::RUNTIME_SERVICES_CODE,
        physical_start: 0x1234_5000,
        virtual_start: 0xffff_8000_0000_0000,
        number_of_pages: 7,
        attribute: attribute::RAM | attribute::RUNTIME,
    };
    let b = d.to_bytes();
    assert_eq!(&b[0..8], &[5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(MemoryDescriptor::from_bytes(&b), Some(d));
    assert_eq!(MemoryDescriptor::from_bytes(&b[..39]), None);
}
