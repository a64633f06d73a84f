//! MBR (and whatever LBA 0 turns out to be): the input is a whole disk
//! (see `vmfw_fuzz` for the format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(disk) = vmfw_fuzz::decode_disk(data, false) {
        vmfw_fuzz::check_partition_table(disk);
    }
});
