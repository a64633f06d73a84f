//! vmfw: a firmware for KVM virtual machines.
//!
//! Boot flow (see the README's architecture section): entry door (asm) →
//! CPU tables and paging → [`vmfw_platform::Platform`] → console and log →
//! memory (page allocator, heap) → ACPI power control → disks (each
//! opened once: partition table, ESP volumes) → the boot manager's one
//! list of boot options, tried in order → power off with a clear message
//! when nothing booted.
// On the bare-metal target this is the firmware; `cargo test -p vmfw` on
// the host builds the same modules as an ordinary test program (see
// `arch/host.rs`).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

extern crate alloc;

mod arch;
mod bootmgr;
mod console;
mod devtree;
#[cfg(feature = "diagnostics")]
mod diag;
mod disks;
mod memory;
mod menu;
mod native;
mod pci;
mod power;
mod progress;
#[cfg(feature = "secure-boot")]
mod sbkeys;
mod storage;
mod time;
mod uefi;

use vmfw_memmap::MemoryType;
use vmfw_platform::{Door, Platform};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Rust entry point, called by both entry doors with the VMM's
/// hand-over pointer and the door number (x86_64: 0 = PVH, 1 = Linux
/// 64-bit; aarch64: 2 = device tree), which `arch::door` names.
#[no_mangle]
extern "C" fn vmfw_start(info: u64, door: u32) -> ! {
    let t0 = arch::counter();
    progress::entry(t0);
    console::init();
    arch::init_cpu();

    // Read the hand-over data while the door's page tables still map page 0
    // (QEMU puts the PVH start info there); the firmware's own tables leave
    // it unmapped to catch null pointers.
    let door_kind = arch::door(door);
    let platform = match arch::platform(info, door) {
        Ok(p) => p,
        Err(e) => {
            println!("vmfw {VERSION}: cannot read the VMM's boot information: {e}");
            power::fatal("no platform description")
        }
    };
    progress::post(progress::Code::Platform);
    // SAFETY: called once, before anything relies on other mappings; the
    // firmware runs from its image, which the new tables map identically.
    unsafe { arch::paging::init() };
    console::init_logger(platform.cmdline.value("vmfw.log"));
    println!("vmfw {VERSION} ({}), entered via {}", arch::NAME, door_name(door_kind));

    #[cfg_attr(not(feature = "secure-boot"), allow(unused_mut))]
    let mut ram = platform.memory.clone();
    #[cfg(feature = "secure-boot")]
    sbkeys::reserve(&mut ram);
    let heap = match memory::init(ram) {
        Ok(h) => h,
        Err(e) => power::fatal(e),
    };
    progress::post(progress::Code::Memory);
    log_platform(&platform, heap);
    // Firecracker builds ACPI tables but passes the RSDP only through the
    // zero page, not through PVH: look for it where legacy BIOSes put it
    // (a PC's BIOS area; device-tree machines have none).
    let mut platform = platform;
    if platform.rsdp.is_none() && platform.fdt.is_none() {
        platform.rsdp = vmfw_acpi::scan_rsdp(&memory::Phys);
        if let Some(r) = platform.rsdp {
            log::debug!("ACPI RSDP found at {r:#x} by scanning the BIOS area");
        }
    }
    let acpi = platform.rsdp.and_then(|rsdp| match vmfw_acpi::Tables::new(&memory::Phys, rsdp) {
        Ok(t) => Some(t),
        Err(e) => {
            crate::warn!("ACPI: {e}");
            None
        }
    });
    init_power(acpi.as_ref());
    #[cfg(feature = "secure-boot")]
    sbkeys::init();
    if acpi.as_ref().map(vmfw_acpi::Tables::oem_id) == Some(*b"CLOUDH") {
        progress::enable_codes();
    }

    match platform.cmdline.value("vmfw.debug") {
        Some("fault") => debug_fault(),
        Some("panic") => panic!("panic requested with vmfw.debug=panic"),
        Some("stack-overflow") => {
            crate::warn!("vmfw.debug=stack-overflow: recursing without bound");
            let depth = recurse(0);
            power::fatal(if depth == 0 { "recursion returned" } else { "recursion ended" })
        }
        _ => {}
    }

    if log::log_enabled!(log::Level::Debug) {
        log::debug!("firmware ready after {} us", time::us_since(t0));
    }
    progress::mark(progress::Phase::Platform);
    let dt = devtree::describe(&platform);
    let found = storage::discover(&platform, acpi.as_ref(), dt.as_ref());
    progress::mark(progress::Phase::Devices);
    progress::post(progress::Code::Devices);
    let disks: alloc::vec::Vec<disks::BootDisk> = found
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            use vmfw_block::BlockIo;
            let bytes = d.num_blocks().saturating_mul(u64::from(d.block_size()));
            crate::info!(
                "disk{i}: virtio-blk {}, {} MiB ({} x {} B){}",
                d.location,
                bytes >> 20,
                d.num_blocks(),
                d.block_size(),
                if d.read_only() { ", read-only" } else { "" }
            );
            log::debug!("disk{i}: requests up to {} KiB", d.max_request_bytes() >> 10);
            disks::BootDisk::open(i, d)
        })
        .collect();
    progress::mark(progress::Phase::Tables);
    progress::post(progress::Code::Tables);
    #[cfg(feature = "diagnostics")]
    let mut disks = disks;
    #[cfg(feature = "diagnostics")]
    diag::diagnostics(
        &mut disks,
        platform.cmdline.value("vmfw.hash"),
        platform.cmdline.value("vmfw.bench"),
    );
    #[cfg(not(feature = "diagnostics"))]
    for option in ["vmfw.hash", "vmfw.bench"] {
        if platform.cmdline.value(option).is_some() {
            crate::warn!(
                "{option}= needs the diagnostic build (target/vmfw-x86_64-diag.elf); ignored"
            );
        }
    }

    // A key typed while the firmware ran brings up the boot menu.
    let ask = menu::key_pressed();
    bootmgr::run(disks, &platform, ask);
    power::off()
}

fn door_name(door: Door) -> &'static str {
    match door {
        Door::Pvh => "PVH",
        Door::Linux64 => "the Linux 64-bit boot protocol",
        Door::DeviceTree => "the arm64 Image header",
    }
}

fn log_platform(p: &Platform, heap: u64) {
    let (start, end) = memory::image_range();
    crate::info!(
        "command line: {}{}",
        vmfw_bytes::Quoted(p.cmdline.as_str()),
        if p.cmdline.truncated() { " (truncated)" } else { "" }
    );
    crate::info!("memory map:");
    let map = memory::with_map(|m| m.clone());
    for r in map.regions() {
        crate::info!("  {:#014x}-{:#014x} {:>8} KiB {:?}", r.start, r.end - 1, r.len() >> 10, r.ty);
    }
    let mib = |b: u64| b >> 20;
    crate::info!(
        "RAM {} MiB (top {:#x}), firmware {:#x}-{:#x}, heap {} MiB",
        mib(map.regions().iter().filter(|r| r.ty.is_ram()).map(|r| r.len()).sum()),
        map.ram_end(),
        start,
        end - 1,
        mib(heap)
    );
    if map.total(MemoryType::Free) == 0 {
        crate::warn!("no free RAM left");
    }
}

fn init_power(acpi: Option<&vmfw_acpi::Tables>) {
    let Some(tables) = acpi else {
        log::debug!("no ACPI tables: power off and reset by the architecture's own means only");
        return;
    };
    match tables.power_control(&memory::Phys) {
        Ok(pc) => {
            log::debug!("ACPI power control: {}", power::Described(&pc));
            power::set_acpi(pc);
        }
        Err(e) => crate::warn!("ACPI: {e}; power off by reset only"),
    }
}

/// `vmfw.debug=fault`: touch an address that is never mapped, to show (and
/// test) the exception report.
fn debug_fault() -> ! {
    crate::warn!("vmfw.debug=fault: reading an unmapped address");
    let p = 0x7fff_dead_0000u64 as *const u64;
    // SAFETY: not safe on purpose: the address is unmapped and the read
    // faults; the exception handler reports it and powers off.
    let v = unsafe { core::ptr::read_volatile(p) };
    power::fatal(if v == 0 { "unmapped read returned 0" } else { "unmapped read returned data" })
}

/// `vmfw.debug=stack-overflow`: recursion that only ends in the stack
/// guard page, to show (and test) that overflows are reported.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[1])
}

/// Built for the host outside tests: there is nothing to run.
#[cfg(all(not(target_os = "none"), not(test)))]
fn main() {
    extern crate std;
    std::eprintln!("vmfw is firmware: build it with `cargo xtask build`");
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(l) => println!("\n!!! vmfw panicked at {}:{}: {}", l.file(), l.line(), info.message()),
        None => println!("\n!!! vmfw panicked: {}", info.message()),
    }
    power::fatal("panic")
}
