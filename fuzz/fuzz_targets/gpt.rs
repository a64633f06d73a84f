//! GPT: the input is a disk from LBA 1 on (see `vmfw_fuzz` for the format);
//! LBA 0 is always a protective MBR, so every mutation lands in the GPT.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(disk) = vmfw_fuzz::decode_disk(data, true) {
        vmfw_fuzz::check_partition_table(disk);
    }
});
