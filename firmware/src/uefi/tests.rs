//! Host tests of the UEFI layer: the firmware's own shims, called through
//! the tables a loader sees, over a disk image in memory (see
//! `arch/host.rs`). One test, because the UEFI state is process-wide.

extern crate std;

use super::abi::guid;
use super::ffi::{raw_guid, raw_handle, SUCCESS};
use super::state::{tables, DISKS};
use crate::disks::BootDisk;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::c_void;
use std::io::{Cursor, Write};
use uefi_raw::protocol::block::BlockIoProtocol;
use uefi_raw::protocol::file_system::{
    FileAttribute, FileMode, FileProtocolV1, SimpleFileSystemProtocol,
};
use uefi_raw::table::boot::{EventType, Tpl};
use uefi_raw::table::runtime::VariableAttributes;
use uefi_raw::{Boolean, Event, Status};
use vmfw_block::testing::{GptImage, GptPart};
use vmfw_block::Guid;
use vmfw_efi::variables::{utf16, NON_VOLATILE};
use vmfw_memmap::{MemoryMap, MemoryType};

const BS: usize = 512;
const DISK_BLOCKS: u64 = 16 * 2048; // 16 MiB
const ESP_FIRST: u64 = 2048;
const ESP_LAST: u64 = DISK_BLOCKS - 34;
const HELLO: &[u8] = b"hello from the ESP\n";
const VARS_LEN: usize = 192 * 1024;

/// A PE32+ EFI application: headers and a `.text` of `xor eax, eax; ret`,
/// relocatable (no fixups needed).
fn tiny_efi_app() -> Vec<u8> {
    let mut f = vec![0u8; 0x400];
    f[0..2].copy_from_slice(b"MZ");
    f[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    f[0x40..0x44].copy_from_slice(b"PE\0\0");
    let put16 = |f: &mut [u8], o: usize, v: u16| f[o..o + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |f: &mut [u8], o: usize, v: u32| f[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let coff = 0x44;
    put16(&mut f, coff, 0x8664); // x86_64
    put16(&mut f, coff + 2, 1); // one section
    put16(&mut f, coff + 16, 240); // optional header size
    put16(&mut f, coff + 18, 0x0022); // executable, large-address-aware
    let o = coff + 20;
    put16(&mut f, o, 0x20b); // PE32+
    put32(&mut f, o + 16, 0x1000); // entry point
    f[o + 24..o + 32].copy_from_slice(&0x1000_0000u64.to_le_bytes()); // image base
    put32(&mut f, o + 32, 0x1000); // section alignment
    put32(&mut f, o + 36, 0x200); // file alignment
    put32(&mut f, o + 56, 0x2000); // size of image
    put32(&mut f, o + 60, 0x200); // size of headers
    put16(&mut f, o + 68, 10); // EFI application
    put32(&mut f, o + 108, 16); // data directories
    let s = o + 240;
    f[s..s + 5].copy_from_slice(b".text");
    put32(&mut f, s + 8, 0x10); // virtual size
    put32(&mut f, s + 12, 0x1000); // RVA
    put32(&mut f, s + 16, 0x200); // raw size
    put32(&mut f, s + 20, 0x200); // raw offset
    put32(&mut f, s + 36, 0x6000_0020); // code, execute, read
    f[0x200..0x203].copy_from_slice(&[0x31, 0xc0, 0xc3]);
    f
}

/// A GPT disk whose ESP holds `\EFI\BOOT\BOOTX64.EFI`, `\hello.txt` and a
/// zeroed `\EFI\vmfw\VARS.BIN`.
fn disk_image() -> Vec<u8> {
    let esp_len = ((ESP_LAST - ESP_FIRST + 1) as usize) * BS;
    let mut esp = vec![0u8; esp_len];
    fatfs::format_volume(Cursor::new(&mut esp[..]), fatfs::FormatVolumeOptions::new())
        .expect("format the ESP");
    {
        let fs = fatfs::FileSystem::new(Cursor::new(&mut esp[..]), fatfs::FsOptions::new())
            .expect("mount the ESP");
        let root = fs.root_dir();
        let efi = root.create_dir("EFI").expect("mkdir");
        efi.create_dir("BOOT").expect("mkdir");
        efi.create_dir("vmfw").expect("mkdir");
        let put = |path: &str, data: &[u8]| {
            root.create_file(path).expect("create").write_all(data).expect("write");
        };
        put("EFI/BOOT/BOOTX64.EFI", &tiny_efi_app());
        put("hello.txt", HELLO);
        put("EFI/vmfw/VARS.BIN", &vec![0u8; VARS_LEN]);
    }
    let gpt = GptImage::new(BS, DISK_BLOCKS)
        .part(1, GptPart::new(Guid::EFI_SYSTEM_PARTITION, ESP_FIRST, ESP_LAST));
    let mut img = gpt.build();
    img[ESP_FIRST as usize * BS..][..esp_len].copy_from_slice(&esp);
    img
}

/// 64 MiB of the process's memory as the machine's RAM.
fn test_ram() {
    const LEN: usize = 64 << 20;
    let layout = std::alloc::Layout::from_size_align(LEN, 4096).expect("layout");
    // SAFETY: a non-zero-sized layout; the block is leaked on purpose (the
    // firmware's memory map owns it for the rest of the process).
    let start = unsafe { std::alloc::alloc_zeroed(layout) } as u64;
    assert_ne!(start, 0, "no memory for the test RAM");
    crate::arch::set_test_ram(start, LEN as u64);
    let mut map = MemoryMap::new();
    map.add(start, LEN as u64, MemoryType::Free).expect("test RAM");
    crate::memory::init_for_test(map);
}

/// What the notification function reports back.
struct Ctx {
    set_variable: Status,
}

const TEST_DATA: &[u8] = b"written from a notification";

/// A notification function that calls `SetVariable()`, as loaders do from
/// event callbacks: the firmware must not be holding any of its state.
unsafe extern "efiapi" fn notify_sets_variable(_event: Event, ctx: *mut c_void) {
    let name: Vec<u16> = utf16("VmfwTest").into_iter().chain([0]).collect();
    let g = raw_guid(vmfw_efi::variables::GLOBAL_VARIABLE);
    let attrs = VariableAttributes::from_bits_retain(
        NON_VOLATILE
            | vmfw_efi::variables::BOOTSERVICE_ACCESS
            | vmfw_efi::variables::RUNTIME_ACCESS,
    );
    // SAFETY: the tables are written; the arguments are valid for the call.
    let st = unsafe {
        ((*tables()).runtime.set_variable)(
            name.as_ptr(),
            &g,
            attrs,
            TEST_DATA.len(),
            TEST_DATA.as_ptr(),
        )
    };
    // SAFETY: `ctx` is the test's `Ctx`, alive for the whole dispatch.
    unsafe { (*ctx.cast::<Ctx>()).set_variable = st };
}

fn read_file(f: *mut FileProtocolV1, buf: &mut [u8]) -> usize {
    let mut size = buf.len();
    // SAFETY: a file object the firmware opened; a buffer of `size` bytes.
    let st = unsafe { ((*f).read)(f, &mut size, buf.as_mut_ptr().cast()) };
    assert_eq!(st, SUCCESS, "File.Read");
    size
}

fn open(root: *mut FileProtocolV1, path: &str) -> *mut FileProtocolV1 {
    let name: Vec<u16> = path.encode_utf16().chain([0]).collect();
    let mut f = core::ptr::null_mut();
    // SAFETY: the volume's root directory, opened by the firmware.
    let st = unsafe {
        ((*root).open)(root, &mut f, name.as_ptr(), FileMode::READ, FileAttribute::empty())
    };
    assert_eq!(st, SUCCESS, "File.Open {path}");
    f
}

#[test]
fn a_loader_reads_files_and_blocks_and_sets_a_variable_from_a_notification() {
    test_ram();
    let image = disk_image();
    let mut disks = vec![BootDisk::open(0, crate::storage::test_disk::disk(0x1000, image))];
    let env = super::init(&mut disks, None, None).expect("UEFI environment");
    let part = env.partitions[0][0].1;
    let boot_file = env.path_of(part, "\\EFI\\BOOT\\BOOTX64.EFI").expect("device path");

    DISKS.lend(&mut disks, || {
        // SAFETY: written by `init`; only the tables' function fields are
        // read here.
        let (bs, rt) = unsafe { (&(*tables()).boot, &(*tables()).runtime) };

        // LoadImage() from the device path: resolves the volume, reads the
        // file through the FAT volume, lays the PE image out.
        let mut h = core::ptr::null_mut();
        // SAFETY: valid arguments for LoadImage().
        let st = unsafe {
            (bs.load_image)(
                Boolean(0),
                raw_handle(env.firmware),
                boot_file.as_ptr().cast(),
                core::ptr::null(),
                0,
                &mut h,
            )
        };
        assert_eq!(st, SUCCESS, "LoadImage");
        assert!(!h.is_null());

        // The partition's Simple File System: read a file.
        let mut iface: *mut c_void = core::ptr::null_mut();
        let sfs_guid = raw_guid(guid::SIMPLE_FILE_SYSTEM);
        // SAFETY: valid arguments for HandleProtocol().
        let st = unsafe { (bs.handle_protocol)(raw_handle(part), &sfs_guid, &mut iface) };
        assert_eq!(st, SUCCESS, "HandleProtocol(SimpleFileSystem)");
        let sfs = iface.cast::<SimpleFileSystemProtocol>();
        let mut root = core::ptr::null_mut();
        // SAFETY: the firmware's Simple File System interface.
        assert_eq!(unsafe { ((*sfs).open_volume)(sfs, &mut root) }, SUCCESS, "OpenVolume");
        let hello = open(root, "hello.txt");
        let mut buf = vec![0u8; 64];
        let n = read_file(hello, &mut buf);
        assert_eq!(&buf[..n], HELLO);

        // The partition's Block I/O: its first block is the FAT boot sector.
        let bio_guid = raw_guid(guid::BLOCK_IO);
        // SAFETY: valid arguments for HandleProtocol().
        let st = unsafe { (bs.handle_protocol)(raw_handle(part), &bio_guid, &mut iface) };
        assert_eq!(st, SUCCESS, "HandleProtocol(BlockIo)");
        let bio = iface.cast::<BlockIoProtocol>();
        let mut block = vec![0u8; BS];
        // SAFETY: the firmware's Block I/O interface and its media.
        let st = unsafe {
            ((*bio).read_blocks)(bio, (*(*bio).media).media_id, 0, BS, block.as_mut_ptr().cast())
        };
        assert_eq!(st, SUCCESS, "ReadBlocks");
        assert_eq!(&block[510..512], &[0x55, 0xaa], "not a boot sector");

        // The variable file, read through the File protocol: whole, and a
        // few bytes of the slot the first save writes (slot 1), which the
        // volume now holds in its block cache.
        let vars = open(root, "EFI\\vmfw\\VARS.BIN");
        let mut before = vec![0u8; VARS_LEN];
        assert_eq!(read_file(vars, &mut before), VARS_LEN);
        assert!(before.iter().all(|&b| b == 0));
        let slot1 = (VARS_LEN / 2) as u64;
        let mut head = [0u8; 16];
        // SAFETY: the open file.
        assert_eq!(unsafe { ((*vars).set_position)(vars, slot1) }, SUCCESS);
        assert_eq!(read_file(vars, &mut head), head.len());
        assert_eq!(head, [0; 16]);

        // SetVariable() from inside a notification that SignalEvent() runs.
        let mut ctx = Ctx { set_variable: Status::ABORTED };
        let mut event = core::ptr::null_mut();
        // SAFETY: valid arguments for CreateEvent(); `ctx` outlives the event's use.
        let st = unsafe {
            (bs.create_event)(
                EventType::NOTIFY_SIGNAL,
                Tpl::CALLBACK,
                Some(notify_sets_variable),
                (&raw mut ctx).cast(),
                &mut event,
            )
        };
        assert_eq!(st, SUCCESS, "CreateEvent");
        // SAFETY: the event just created.
        assert_eq!(unsafe { (bs.signal_event)(event) }, SUCCESS, "SignalEvent");
        assert_eq!(ctx.set_variable, SUCCESS, "SetVariable from the notification");

        // GetVariable() sees it.
        let name: Vec<u16> = utf16("VmfwTest").into_iter().chain([0]).collect();
        let g = raw_guid(vmfw_efi::variables::GLOBAL_VARIABLE);
        let mut data = vec![0u8; 64];
        let mut size = data.len();
        // SAFETY: valid arguments for GetVariable().
        let st = unsafe {
            (rt.get_variable)(
                name.as_ptr(),
                &g,
                core::ptr::null_mut(),
                &mut size,
                data.as_mut_ptr(),
            )
        };
        assert_eq!(st, SUCCESS, "GetVariable");
        assert_eq!(&data[..size], TEST_DATA);

        // The variable file, read again through the same File protocol and
        // volume: the cached block shows the new slot (a write beneath the
        // volume's cache would leave the stale zeros here), and so does
        // the whole file.
        // SAFETY: the open file.
        assert_eq!(unsafe { ((*vars).set_position)(vars, slot1) }, SUCCESS);
        assert_eq!(read_file(vars, &mut head), head.len());
        assert_ne!(head, [0; 16], "stale bytes from the volume's cache");
        // SAFETY: the open file.
        assert_eq!(unsafe { ((*vars).set_position)(vars, 0) }, SUCCESS);
        let mut after = vec![0u8; VARS_LEN];
        assert_eq!(read_file(vars, &mut after), VARS_LEN);
        let (a, b) = after.split_at(VARS_LEN / 2);
        let (_, records) = vmfw_efi::persist::newest(a, b).expect("a valid slot in VARS.BIN");
        assert!(
            records.iter().any(|r| r.name == utf16("VmfwTest") && r.data == TEST_DATA),
            "VARS.BIN lacks the variable"
        );
    });
    // And the bytes reached the disk.
    let on_disk = disks[0].disk.with(|d| crate::storage::test_disk::bytes(d).to_vec()).unwrap();
    assert!(on_disk.windows(TEST_DATA.len()).any(|w| w == TEST_DATA));
}
