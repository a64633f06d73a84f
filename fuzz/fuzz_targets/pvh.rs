//! PVH start info: `vmfw_platform::from_pvh` over a fuzzed guest memory
//! (`src/phys.rs`): the `hvm_start_info` at the view's start address, its
//! memory map, command line and module list wherever they point. Nothing
//! may panic or read outside the view; an accepted start info must give a
//! platform that keeps `check_platform`'s invariants, and the same
//! description again when parsed twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_fuzz::phys::PhysView;
use vmfw_platform::{from_pvh, Door};

fuzz_target!(|data: &[u8]| {
    let Some(view) = PhysView::decode(data) else { return };
    match from_pvh(&view, view.start) {
        Ok(p) => {
            assert_eq!(p.door, Door::Pvh);
            vmfw_fuzz::check_platform(&p);
            let again = from_pvh(&view, view.start).expect("same memory, same answer");
            assert_eq!(again.memory.regions(), p.memory.regions());
            assert_eq!(again.cmdline.as_str(), p.cmdline.as_str());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
