//! arm64 `Image`: the header, its placement plan in fixed memory maps and
//! at a fuzzed base, and the cache clean plan for the ranges a boot
//! cleans.
//!
//! Input:
//!
//! ```text
//! ctr_el0: u64 LE     the CTR_EL0 value the clean plan uses
//! base: u64 LE        a base for ImagePlan::at; also the start of a
//!                     second range to clean (the "initrd"), with
//! len: u64 LE         its length
//! file: [u8]          the kernel file (the header alone is enough)
//! ```
//!
//! Checks: a placement's base is 2 MiB aligned, its load address is base
//! + text_offset, it ends at or below the plan's limit, covers the file
//! and is reserved in the map (which is unchanged when planning fails);
//! the clean plan's runs are line aligned, sorted, neither overlapping
//! nor adjacent, and cover the first and last line of every range; for
//! small plans the lines visited are exactly those of a byte model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_linux::arm64::{load_image_plan, CleanPlan, ImageHeader, ImagePlacement, BASE_ALIGN};
use vmfw_memmap::{MemoryMap, MemoryType};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// QEMU `virt` with 1 GiB: RAM from 1 GiB, the firmware in its first 8 MiB.
fn virt() -> MemoryMap {
    let mut m = MemoryMap::new();
    m.add(GIB, GIB, MemoryType::Free).unwrap();
    m.reserve(GIB, 8 * MIB, MemoryType::FirmwareCode).unwrap();
    m
}

/// RAM starting at an unaligned address, and a second bank above 2^48.
fn odd() -> MemoryMap {
    let mut m = MemoryMap::new();
    m.add(0x8000_1000, 64 * MIB, MemoryType::Free).unwrap();
    m.add(1 << 48, 4 * GIB, MemoryType::Free).unwrap();
    m
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

fn check_placement(p: &ImagePlacement, text_offset: u64, limit: u64, file_len: u64) {
    assert_eq!(p.base() % BASE_ALIGN, 0, "{p:?}");
    assert_eq!(p.load_addr(), p.base() + text_offset, "{p:?}");
    let end = p.base().checked_add(p.size()).expect("placement wraps");
    assert!(end <= limit, "{p:?} above {limit:#x}");
    assert!(p.span() >= file_len, "{p:?} shorter than the file");
    assert!(p.load_addr() + p.span() <= end, "{p:?}");
}

fn check_clean(ctr: u64, ranges: &[(u64, u64)]) {
    let Ok(plan) = CleanPlan::new(ctr, ranges) else {
        assert!(ranges.iter().any(|&(s, n)| n != 0 && s.checked_add(n - 1).is_none()));
        return;
    };
    let line = plan.line();
    assert!(line.is_power_of_two() && (4..=128 * 1024).contains(&line));
    for r in plan.runs() {
        assert!(r.first <= r.last && r.first % line == 0 && r.last % line == 0, "{r:?}");
    }
    for w in plan.runs().windows(2) {
        assert!(w[0].last.checked_add(line).is_some_and(|n| n < w[1].first), "{w:?}");
    }
    let covered = |a: u64| {
        let l = a & !(line - 1);
        plan.runs().iter().any(|r| r.first <= l && l <= r.last)
    };
    for &(s, n) in ranges.iter().filter(|r| r.1 != 0) {
        assert!(covered(s) && covered(s + (n - 1)), "{s:#x}+{n:#x} not covered");
    }
    if plan.line_count() <= 4096 {
        let got: Vec<u64> = plan.lines().collect();
        assert_eq!(got.len() as u64, plan.line_count());
        let mut want: Vec<u64> = Vec::new();
        for &(s, n) in ranges.iter().filter(|r| r.1 != 0) {
            let mut l = s & !(line - 1);
            loop {
                want.push(l);
                match l.checked_add(line) {
                    Some(next) if next <= s + (n - 1) => l = next,
                    _ => break,
                }
            }
        }
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want);
    }
}

fuzz_target!(|data: &[u8]| {
    let (Some(ctr), Some(base), Some(len)) = (u64_at(data, 0), u64_at(data, 8), u64_at(data, 16))
    else {
        return;
    };
    let file = &data[24..];
    let file_len = file.len() as u64;
    // Clean plans of fuzzed ranges whatever the header says.
    check_clean(ctr, &[(base, len), (len, base & 0xffff)]);

    let Ok(h) = ImageHeader::parse(file) else {
        return;
    };
    assert_eq!(h.flags() & 1, 0, "big-endian accepted");
    let Ok(plan) = h.plan(file_len) else {
        return;
    };
    assert!(plan.size >= plan.text_offset.saturating_add(plan.span));
    if let Ok(p) = plan.at(base) {
        check_placement(&p, plan.text_offset, plan.limit, file_len);
        assert_eq!(p.base(), base);
    }
    for mut map in [virt(), odd()] {
        let before = map.clone();
        match load_image_plan(&plan, &mut map) {
            Ok(p) => {
                check_placement(&p, plan.text_offset, plan.limit, file_len);
                assert_eq!(map.type_at(p.base()), Some(MemoryType::LoaderData));
                assert_eq!(map.type_at(p.base() + p.size() - 1), Some(MemoryType::LoaderData));
                check_clean(ctr, &[(p.load_addr(), p.span()), (base, len)]);
            }
            Err(_) => assert_eq!(map.regions(), before.regions()),
        }
    }
});
