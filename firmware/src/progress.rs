//! The firmware timing itself, and its progress codes on the debug port.
//!
//! # The timing line
//!
//! Just before the kernel gets the machine, the firmware logs one line at
//! `info`:
//!
//! ```text
//! timing: total=<ms>ms platform=<ms>ms devices=<ms>ms tables=<ms>ms files=<ms>ms handoff=<ms>ms busy=<ticks> wait=<ticks> hz=<counter Hz> requests=<n> read=<bytes> pages=<n>
//! ```
//!
//! Times come from the architecture's counter ([`arch::counter`], the TSC
//! on x86_64), read at the firmware's entry and at the end of each phase
//! ([`mark`]). Each phase value is that phase's own duration; `total` is
//! their sum, from the entry to the handoff. The phases:
//!
//! | phase | native BLS boot | UEFI boot |
//! |---|---|---|
//! | `platform` | entry: console, CPU tables, the VMM's hand-over data, paging, memory map and heap, ACPI power control | same |
//! | `devices` | finding the virtio disks (PCI scan, virtio-mmio windows) and initialising each driver | same |
//! | `tables` | each disk's partition table, mounting its ESPs | same |
//! | `files` | boot manager: diagnostics if asked, `loader.conf`, the entries, the menu, the kernel and initrd reads | boot manager: saved variables, the UEFI environment, LoadImage, and everything the loader and the kernel's EFI stub do until they call `ExitBootServices()` |
//! | `handoff` | command line, zero page, E820 map, quiescing the disks, up to the jump to the kernel | inside `ExitBootServices()`: its event notifications, quiescing the disks, up to the line (the switch to the runtime heap after it is not counted) |
//!
//! A boot option that fails adds its time to the phase it failed in (a
//! native entry that cannot be booted, then a UEFI option: `files` holds
//! both).
//!
//! `wait` is the counter ticks spent in loops that wait on something
//! outside the firmware's control: polling a virtio used ring, the UART's
//! transmitter, timed sleeps (UEFI `Stall()`, `WaitForEvent()`), the boot
//! menu and the counter's calibration. Each such loop runs while a
//! [`Wait`] from [`wait`] lives (two counter reads per wait, not per
//! poll iteration); waits inside waits count once. `busy` is
//! `total - wait`: under QEMU with `-icount shift=0` one tick is one guest
//! instruction, so `busy` is the deterministic figure to compare commits
//! by, while `wait` and the milliseconds depend on the host. `hz` is the
//! counter's rate (learnt after the last reading, so a calibration is not
//! counted).
//!
//! On the UEFI path `files` includes the loaders' own instructions: a
//! Linux EFI stub that decompresses the kernel before
//! `ExitBootServices()` (Linux 6.1 stable has that) puts the
//! decompression there, which the native path leaves to the kernel after
//! the jump. Compare UEFI figures with UEFI figures.
//!
//! `requests` and `read` are the virtio requests issued and the bytes
//! read on all disks, and `pages` the pages taken from the page allocator
//! (see `memory::pages_allocated`), all up to the handoff.
//!
//! The line is formatted only when `info` is enabled, into the logger's
//! line buffer (no heap).
//!
//! # Progress codes
//!
//! On Cloud Hypervisor, at each milestone the firmware writes one byte to
//! the POST diagnostic port 0x80 ([`post`]), which it logs with
//! timestamps under `-v`: the timeline without a serial console. Each
//! write is a VM exit under KVM, hence only a dozen or so per boot. The
//! codes are on only where the ACPI tables name Cloud Hypervisor
//! ([`enable_codes`]; the first three are then written together):
//! Firecracker has no device at port 0x80 and logs an error line for each
//! write, QEMU ignores them. Architectures without I/O ports write
//! nothing.
//!
//! | code | milestone |
//! |---|---|
//! | `0x00` | firmware entry |
//! | `0x01` | the VMM's hand-over data read |
//! | `0x02` | memory map and heap ready |
//! | `0x03` | disks found and their drivers up |
//! | `0x04` | partition tables read, ESPs mounted |
//! | `0x05` | boot manager started |
//! | `0x1f` | nothing booted (the firmware powers off next) |
//! | `0x20` | native: a boot entry chosen (again for each entry tried) |
//! | `0x21` | native: kernel read |
//! | `0x22` | native: initrds read (also when the entry has none) |
//! | `0x2f` | native: jumping to the kernel |
//! | `0x30` | UEFI: environment up |
//! | `0x31` | UEFI: an image loaded (each `LoadImage()`) |
//! | `0x32` | UEFI: an image started (each `StartImage()`) |
//! | `0x3f` | UEFI: `ExitBootServices()` called (first call only) |
//!
//! Codes `0x00`–`0x1f` belong to the firmware's own phases, `0x20`–`0x3f`
//! to the boot paths; unlisted codes are free for later milestones.

use crate::arch;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A phase of the boot, in order; each one ends at its [`mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Hand-over data parsed, memory ready, ACPI read.
    Platform,
    /// Disks found and their drivers initialised.
    Devices,
    /// Partition tables read and ESPs mounted.
    Tables,
    /// The boot files read (native), or the loader at `ExitBootServices()`.
    Files,
    /// The handoff itself.
    Handoff,
}

/// Number of [`Phase`]s.
pub const PHASES: usize = 5;

/// A milestone written to the debug port (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Firmware entry.
    Entry = 0x00,
    /// The VMM's hand-over data read.
    Platform = 0x01,
    /// Memory map and heap ready.
    Memory = 0x02,
    /// Disks found, drivers up.
    Devices = 0x03,
    /// Partition tables read, ESPs mounted.
    Tables = 0x04,
    /// Boot manager started.
    BootManager = 0x05,
    /// Nothing booted.
    NothingBooted = 0x1f,
    /// Native: an entry chosen.
    NativeEntry = 0x20,
    /// Native: kernel read.
    NativeKernel = 0x21,
    /// Native: initrds read.
    NativeInitrd = 0x22,
    /// Native: jumping to the kernel.
    NativeHandoff = 0x2f,
    /// UEFI: environment up.
    UefiUp = 0x30,
    /// UEFI: an image loaded.
    UefiImageLoaded = 0x31,
    /// UEFI: an image started.
    UefiStartImage = 0x32,
    /// UEFI: `ExitBootServices()` called.
    UefiExitBootServices = 0x3f,
}

/// The POST diagnostic port.
const POST_PORT: u16 = 0x80;

static ENTRY: AtomicU64 = AtomicU64::new(0);
static MARKS: [AtomicU64; PHASES] = [const { AtomicU64::new(0) }; PHASES];
static WAITS: Waits = Waits::new();
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static READ: AtomicU64 = AtomicU64::new(0);
static EXIT_BOOT_SERVICES: AtomicBool = AtomicBool::new(false);
static CODES_ON: AtomicBool = AtomicBool::new(false);

/// The VMM logs port-0x80 writes (Cloud Hypervisor, whose ACPI tables say
/// OEM "CLOUDH"): from now on [`post`] writes the codes. The milestones
/// already passed (entry, hand-over data, memory) are written at once.
/// Elsewhere the codes stay off: Firecracker has nothing at port 0x80 and
/// logs an error line for every write.
pub fn enable_codes() {
    CODES_ON.store(true, Ordering::Relaxed);
    for code in [Code::Entry, Code::Platform, Code::Memory] {
        post(code);
    }
}

/// Writes `code` to the debug port.
pub fn post(code: Code) {
    if !CODES_ON.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: port 0x80 is the POST diagnostic port: VMMs log writes to
    // it or ignore them; no device behind it touches memory.
    unsafe { arch::port_write(POST_PORT, arch::PortWidth::U8, u32::from(code as u8)) };
}

/// Records the counter reading taken at the firmware's entry.
pub fn entry(t0: u64) {
    ENTRY.store(t0, Ordering::Relaxed);
    post(Code::Entry);
}

/// Ends `phase` now (a later mark of the same phase replaces it).
pub fn mark(phase: Phase) {
    if let Some(m) = MARKS.get(phase as usize) {
        m.store(arch::counter(), Ordering::Relaxed);
    }
}

/// Starts a wait on something outside the firmware (a device, a timer,
/// the user): the ticks until the returned [`Wait`] is dropped count as
/// waiting. Nested waits count once. A wait that is never dropped (its
/// code jumps out) stops later waits from counting: nothing in the
/// firmware does that.
#[inline(never)]
pub fn wait() -> Wait {
    Wait(WAITS.begin(arch::counter))
}

/// A wait under way (see [`wait`]); it ends when dropped. Not generic and
/// not a closure, so wrapping a loop changes no inlining around it.
#[must_use = "the wait ends when this is dropped"]
pub struct Wait(Option<u64>);

impl Drop for Wait {
    #[inline(never)]
    fn drop(&mut self) {
        WAITS.end(self.0, arch::counter);
    }
}

/// The wait accumulator: ticks waited, and how many waits are under way
/// (single CPU, no interrupts: relaxed atomics only keep this free of
/// `static mut`).
struct Waits {
    ticks: AtomicU64,
    depth: AtomicU32,
}

impl Waits {
    const fn new() -> Self {
        Self { ticks: AtomicU64::new(0), depth: AtomicU32::new(0) }
    }

    /// Starts a wait; the counter reading if it is the outermost one.
    fn begin(&self, now: impl FnOnce() -> u64) -> Option<u64> {
        (self.depth.fetch_add(1, Ordering::Relaxed) == 0).then(now)
    }

    /// Ends the wait [`Waits::begin`] returned `start` for.
    fn end(&self, start: Option<u64>, now: impl FnOnce() -> u64) {
        if let Some(t0) = start {
            self.ticks.fetch_add(now().wrapping_sub(t0), Ordering::Relaxed);
        }
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds ticks measured elsewhere, unless a wait is under way (which
    /// counts them already).
    fn add(&self, ticks: u64) {
        if self.depth.load(Ordering::Relaxed) == 0 {
            self.ticks.fetch_add(ticks, Ordering::Relaxed);
        }
    }

    fn total(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
}

/// Adds a disk operation: `requests` virtio requests, `read` bytes read,
/// and `wait` ticks the driver spent polling for completions (ignored
/// inside a [`Wait`], which counts them already).
pub fn disk_io(requests: u64, read: u64, wait: u64) {
    REQUESTS.fetch_add(requests, Ordering::Relaxed);
    READ.fetch_add(read, Ordering::Relaxed);
    WAITS.add(wait);
}

/// Counter ticks from the entry until now that were not waits: with
/// `-icount shift=0`, the instructions run so far. Logged at `debug` when
/// a UEFI image starts, so the firmware's own share of a UEFI boot can be
/// told from the loader's.
pub fn busy_so_far() -> u64 {
    arch::counter().wrapping_sub(ENTRY.load(Ordering::Relaxed)).saturating_sub(WAITS.total())
}

/// `ExitBootServices()` was called: on the first call the loader's part
/// (`files`) ends and the UEFI handoff begins.
pub fn exit_boot_services_called() {
    if !EXIT_BOOT_SERVICES.swap(true, Ordering::Relaxed) {
        mark(Phase::Files);
        post(Code::UefiExitBootServices);
    }
}

/// Ends the handoff phase and logs the timing line (at `info`; nothing
/// is formatted or measured further when that level is off).
pub fn handoff() {
    mark(Phase::Handoff);
    let wait = WAITS.total();
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let marks = MARKS.each_ref().map(|m| m.load(Ordering::Relaxed));
    let report = Report {
        phases: durations(ENTRY.load(Ordering::Relaxed), marks),
        wait,
        hz: crate::time::counter_hz(),
        requests: REQUESTS.load(Ordering::Relaxed),
        read: READ.load(Ordering::Relaxed),
        pages: crate::memory::pages_allocated(),
    };
    crate::info!("{report}");
}

/// Each phase's duration from the entry reading and the phases' end
/// readings. An unmarked phase (0) or one marked before the previous
/// phase ended lasts 0, so the durations always add up to the last
/// reading minus the entry.
pub fn durations(entry: u64, marks: [u64; PHASES]) -> [u64; PHASES] {
    let mut prev = entry;
    marks.map(|m| {
        let end = m.max(prev);
        let d = end - prev;
        prev = end;
        d
    })
}

/// What the timing line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Counter ticks of each phase, in [`Phase`] order.
    pub phases: [u64; PHASES],
    /// Ticks spent waiting (see the module documentation).
    pub wait: u64,
    /// Counter ticks per second.
    pub hz: u64,
    /// virtio requests issued.
    pub requests: u64,
    /// Bytes read from disks.
    pub read: u64,
    /// Pages allocated.
    pub pages: u64,
}

impl Report {
    /// Ticks from the entry to the handoff.
    pub fn total(&self) -> u64 {
        self.phases.iter().fold(0u64, |a, &p| a.saturating_add(p))
    }

    /// Ticks not spent waiting.
    pub fn busy(&self) -> u64 {
        self.total().saturating_sub(self.wait)
    }
}

/// Ticks shown as milliseconds with one decimal, rounded to nearest.
struct Ms {
    ticks: u64,
    hz: u64,
}

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hz = u128::from(self.hz.max(1));
        let tenths = (u128::from(self.ticks) * 10_000 + hz / 2) / hz;
        // u64 from here: formatting a u128 costs a kilobyte of code.
        let tenths = u64::try_from(tenths).unwrap_or(u64::MAX);
        write!(f, "{}.{}ms", tenths / 10, tenths % 10)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |ticks| Ms { ticks, hz: self.hz };
        let [platform, devices, tables, files, handoff] = self.phases;
        write!(
            f,
            "timing: total={} platform={} devices={} tables={} files={} handoff={} busy={} wait={} hz={} requests={} read={} pages={}",
            ms(self.total()),
            ms(platform),
            ms(devices),
            ms(tables),
            ms(files),
            ms(handoff),
            self.busy(),
            self.wait,
            self.hz,
            self.requests,
            self.read,
            self.pages
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn durations_follow_the_marks() {
        assert_eq!(durations(100, [150, 170, 170, 400, 410]), [50, 20, 0, 230, 10]);
        // Unmarked phases and marks out of order last 0; the sum still
        // reaches the last reading.
        assert_eq!(durations(100, [150, 0, 120, 400, 0]), [50, 0, 0, 250, 0]);
        assert_eq!(durations(100, [0; PHASES]), [0; PHASES]);
    }

    #[test]
    fn the_line_has_the_agreed_format() {
        let r = Report {
            phases: [1_000_000, 2_500_000, 49_999, 120_000_000, 50_000],
            wait: 40_000_000,
            hz: 1_000_000_000,
            requests: 42,
            read: 9_437_184,
            pages: 2310,
        };
        assert_eq!(r.total(), 123_599_999);
        assert_eq!(r.busy(), 83_599_999);
        assert_eq!(
            format!("{r}"),
            "timing: total=123.6ms platform=1.0ms devices=2.5ms tables=0.0ms files=120.0ms \
             handoff=0.1ms busy=83599999 wait=40000000 hz=1000000000 requests=42 \
             read=9437184 pages=2310"
        );
    }

    #[test]
    fn milliseconds_round_and_survive_odd_rates() {
        let ms = |ticks, hz| format!("{}", Ms { ticks, hz });
        assert_eq!(ms(0, 1_000), "0.0ms");
        assert_eq!(ms(1_049, 1_000_000), "1.0ms");
        assert_eq!(ms(1_050, 1_000_000), "1.1ms");
        assert_eq!(ms(2_999_999_999, 3_000_000_000), "1000.0ms");
        // A rate of 0 (never learnt) does not divide by zero.
        assert_eq!(ms(5, 0), "5000.0ms");
        // Beyond u64 tenths of a millisecond (58 million years at 1 GHz)
        // the figure saturates.
        assert_eq!(ms(u64::MAX, 1), format!("{}.{}ms", u64::MAX / 10, u64::MAX % 10));
    }

    #[test]
    fn waits_inside_waits_count_once() {
        // A clock that advances 10 ticks per reading.
        let clock = core::cell::Cell::new(0u64);
        let now = || {
            clock.set(clock.get() + 10);
            clock.get()
        };
        let w = Waits::new();
        let outer = w.begin(now);
        w.end(outer, now);
        assert_eq!(w.total(), 10);
        // The inner wait and the driver's own figure are inside the outer
        // wait: only the outer one counts (its two readings are 30 ticks
        // apart because the inner wait read nothing).
        let outer = w.begin(now);
        let inner = w.begin(now);
        assert_eq!(inner, None);
        w.add(1000);
        clock.set(clock.get() + 20);
        w.end(inner, now);
        w.end(outer, now);
        assert_eq!(w.total(), 10 + 30);
        // Outside a wait the driver's figure counts.
        w.add(5);
        assert_eq!(w.total(), 45);
    }
}
