//! The Linux 64-bit boot protocol door: `vmfw_platform::from_zero_page`
//! over a fuzzed guest memory (`src/phys.rs`): the zero page at the view's
//! start address, its E820 table, and the command line its 64-bit pointer
//! names. Nothing may panic or read outside the view; an accepted zero page
//! must give a platform that keeps `check_platform`'s invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_fuzz::phys::PhysView;
use vmfw_platform::{from_zero_page, Door};

fuzz_target!(|data: &[u8]| {
    let Some(view) = PhysView::decode(data) else { return };
    match from_zero_page(&view, view.start) {
        Ok(p) => {
            assert_eq!(p.door, Door::Linux64);
            vmfw_fuzz::check_platform(&p);
            let again = from_zero_page(&view, view.start).expect("same memory, same answer");
            assert_eq!(again.memory.regions(), p.memory.regions());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
