//! Finding the VMM's virtio block devices, in a stable order: PCI functions
//! by segment/bus/device/function, then virtio-mmio windows by address.
//!
//! virtio-mmio windows come from the command line (`virtio_mmio.device=`,
//! Firecracker and microvm with `acpi=off`), from the DSDT (`LNRO0005`
//! devices, microvm's default) and from the device tree (`virtio,mmio`
//! nodes, arm64). PCI configuration space is reached through the ECAM
//! windows of the MCFG or of the device tree's host bridges. Every device the firmware initialised is
//! reset by [`Disk::quiesce`] before the OS runs, so its driver probes a
//! clean device.

use crate::memory::{self, FirmwareDma};
use crate::pci::{Access, FunctionConfig};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use vmfw_block::{BlockIo, Error};
use vmfw_pci::{BarWindows, Bdf};
use vmfw_platform::Platform;
use vmfw_virtio::{BlkOptions, MmioRegion, MmioTransport, PciTransport, Transport, VirtioBlk};

const VIRTIO_VENDOR: u16 = 0x1af4;
const BLK_MODERN: u16 = 0x1042;
const BLK_TRANSITIONAL: u16 = 0x1001;

/// Where a disk sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A PCI function.
    Pci(Bdf),
    /// A virtio-mmio window.
    Mmio(u64),
}

impl core::fmt::Display for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Location::Pci(bdf) => write!(f, "pci {bdf}"),
            Location::Mmio(base) => write!(f, "mmio {base:#x}"),
        }
    }
}

// Only the host tests have a second, small variant; the firmware's one
// variant is as large as the enum anyway.
#[cfg_attr(test, allow(clippy::large_enum_variant))]
enum Driver {
    Virtio(VirtioBlk<AnyTransport, FirmwareDma>),
    /// Host tests: a disk image in memory.
    #[cfg(test)]
    Mem(test_disk::MemDriver),
}

/// One virtio block device.
pub struct Disk {
    /// Where it is.
    pub location: Location,
    driver: Driver,
}

macro_rules! with_driver {
    ($self:expr, $d:ident => $e:expr) => {
        match &$self.driver {
            Driver::Virtio($d) => $e,
            #[cfg(test)]
            Driver::Mem($d) => $e,
        }
    };
    (mut $self:expr, $d:ident => $e:expr) => {
        match &mut $self.driver {
            Driver::Virtio($d) => $e,
            #[cfg(test)]
            Driver::Mem($d) => $e,
        }
    };
}

impl Disk {
    /// Requests and bytes the device served so far.
    pub fn stats(&self) -> vmfw_virtio::Stats {
        with_driver!(self, d => d.stats())
    }

    /// Largest request the driver sends, in bytes.
    pub fn max_request_bytes(&self) -> u32 {
        with_driver!(self, d => d.max_request_bytes())
    }

    /// Resets the device so the OS finds it untouched.
    pub fn quiesce(&mut self) {
        let s = self.stats();
        log::debug!(
            "{}: {} requests, {} KiB read, reset",
            self.location,
            s.requests,
            s.bytes >> 10
        );
        match with_driver!(mut self, d => d.reset()) {
            Ok(()) => {}
            // The device is stuck with the firmware's driver: the OS will
            // not get it. Known on Firecracker up to 1.16 (see the README's
            // VMM notes).
            Err(e @ (vmfw_virtio::Error::ResetRefused | vmfw_virtio::Error::ReinitRefused)) => {
                crate::warn!(
                    "{}: {e}; the OS will not be able to use this disk (the VMM does not \
                     implement virtio-blk reset: Firecracker 1.16 and older; its main branch \
                     does)",
                    self.location
                );
            }
            Err(e) => crate::warn!("{}: reset failed: {e}", self.location),
        }
    }
}

impl BlockIo for Disk {
    fn block_size(&self) -> u32 {
        with_driver!(self, d => d.block_size())
    }

    fn num_blocks(&self) -> u64 {
        with_driver!(self, d => d.num_blocks())
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        let before = self.stats();
        let r = with_driver!(mut self, d => d.read(lba, buf).map_err(Error::from));
        let read = if r.is_ok() { buf.len() as u64 } else { 0 };
        self.account(before, read);
        r
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Error> {
        let before = self.stats();
        let r = with_driver!(mut self, d => d.write(lba, buf).map_err(Error::from));
        self.account(before, 0);
        r
    }

    fn read_only(&self) -> bool {
        forced_read_only() || with_driver!(self, d => d.read_only())
    }
}

/// `vmfw.readonly`: every disk is read-only to the firmware and to the
/// UEFI programs it runs, whatever the device offers.
static READ_ONLY: AtomicBool = AtomicBool::new(false);

/// Whether `vmfw.readonly` made every disk read-only.
pub fn forced_read_only() -> bool {
    READ_ONLY.load(Ordering::Relaxed)
}

impl Disk {
    /// Makes written data durable (a no-op for devices without a cache).
    pub fn flush(&mut self) -> Result<(), Error> {
        let before = self.stats();
        let r = with_driver!(mut self, d => d.flush().map_err(Error::from));
        self.account(before, 0);
        r
    }

    /// Adds what the driver did since `before` (and `read` bytes read) to
    /// the firmware's timing figures.
    fn account(&self, before: vmfw_virtio::Stats, read: u64) {
        let now = self.stats();
        crate::progress::disk_io(
            now.requests.wrapping_sub(before.requests),
            read,
            now.wait_ticks.wrapping_sub(before.wait_ticks),
        );
    }
}

/// Finds and initialises every virtio block device, or only the first
/// `vmfw.disks=N` of them in discovery order: a VMM that cannot reset a
/// disk (Firecracker 1.16 and older) leaves every disk the firmware has
/// driven unusable to the OS, so users there keep the others untouched.
pub fn discover(
    platform: &Platform,
    acpi: Option<&vmfw_acpi::Tables>,
    dt: Option<&vmfw_fdt::Machine<'_>>,
) -> Vec<Disk> {
    let limit = match platform.cmdline.value("vmfw.disks").map(str::parse::<usize>) {
        None => usize::MAX,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            crate::warn!("vmfw.disks= wants a number of disks; using every disk");
            usize::MAX
        }
    };
    if platform.cmdline.has("vmfw.readonly") {
        READ_ONLY.store(true, Ordering::Relaxed);
        crate::info!(
            "vmfw.readonly: vmfw writes nothing to any disk, nor lets UEFI programs write"
        );
    }
    let mut disks = Disks { found: Vec::new(), limit };
    // `pci=off` is the VMM saying there is no PCI bus (Firecracker without
    // PCI): probing it anyway only makes the VMM log failed accesses.
    if platform.cmdline.has("pci=off") {
        log::debug!("pci=off on the command line: not scanning PCI");
    } else {
        discover_pci(acpi, dt, &mut disks);
    }
    discover_mmio(platform, acpi, dt, &mut disks);
    disks.found
}

/// The disks found so far, and how many the firmware may drive.
struct Disks {
    found: Vec<Disk>,
    limit: usize,
}

fn discover_pci(
    acpi: Option<&vmfw_acpi::Tables>,
    dt: Option<&vmfw_fdt::Machine<'_>>,
    disks: &mut Disks,
) {
    let mut access = Access::new(acpi, dt.map(crate::devtree::ecam_windows).unwrap_or_default());
    // Space for BARs the VMM left unassigned: the host bridge's memory
    // windows where a device tree describes them; else 64-bit BARs above
    // all RAM and VMM-reserved ranges (QEMU's and Cloud Hypervisor's
    // 64-bit PCI holes start there) and 32-bit-only BARs not at all.
    let mut windows = dt.and_then(crate::devtree::bar_windows).unwrap_or_else(|| {
        let top = memory::with_map(|m| m.regions().last().map_or(1 << 32, |r| r.end));
        let high = top.max(1 << 32).next_multiple_of(1 << 30);
        BarWindows { low: (0, 0), high: (high, high + (64 << 30)) }
    });
    for segment in access.segments() {
        for f in vmfw_pci::enumerate(&mut access, segment) {
            if f.vendor != VIRTIO_VENDOR || !matches!(f.device, BLK_MODERN | BLK_TRANSITIONAL) {
                continue;
            }
            let location = Location::Pci(f.bdf);
            if let Err(e) = vmfw_pci::memory_bars(&mut access, f.bdf, &mut windows) {
                match e {
                    vmfw_pci::Error::NotADevice => {
                        crate::warn!("{location}: BARs: not a type-0 function")
                    }
                    vmfw_pci::Error::NoSpace { index, size } => {
                        crate::warn!("{location}: BARs: no room for BAR {index} ({size:#x} bytes)")
                    }
                }
            }
            let mut cfg = FunctionConfig { access: &mut access, bdf: f.bdf };
            let transport = PciTransport::new(&mut cfg, |region| {
                let addr = region.address()?;
                if !memory::map_device(addr, u64::from(region.length)) {
                    return None;
                }
                // SAFETY: the region lies in a memory BAR of this virtio
                // function (decoded by the transport), identity-mapped just
                // above; only this driver touches it.
                unsafe { MmioRegion::new(addr, region.length as usize) }
            });
            match transport {
                Ok(t) => add(disks, location, |o| new_blk(AnyTransport(Box::new(t)), o)),
                Err(e) => crate::warn!("{location}: virtio-blk transport: {e}"),
            }
        }
    }
}

fn discover_mmio(
    platform: &Platform,
    acpi: Option<&vmfw_acpi::Tables>,
    dt: Option<&vmfw_fdt::Machine<'_>>,
    disks: &mut Disks,
) {
    let mut windows: Vec<(u64, u64)> = Vec::new();
    for d in dt.map_or(&[][..], |m| &m.virtio_mmio[..]) {
        windows.push((d.mmio.base, d.mmio.size));
    }
    for value in platform.cmdline.values("virtio_mmio.device") {
        match vmfw_platform::parse_virtio_mmio(value) {
            Ok(d) => windows.push((d.base, d.size)),
            Err(e) => crate::warn!("ignoring virtio_mmio.device={value}: {e:?}"),
        }
    }
    if let Some(t) = acpi {
        match t.dsdt_aml(&memory::Phys) {
            Ok(aml) => {
                for d in vmfw_acpi::aml::find_devices(&aml, "LNRO0005") {
                    windows.push((d.base, d.size));
                }
            }
            Err(e) => log::debug!("DSDT: {e}"),
        }
    }
    vmfw_bytes::sort(&mut windows);
    windows.dedup_by_key(|w| w.0);
    // QEMU virt describes 32 virtio-mmio slots, mostly empty: one line for
    // all of those.
    let mut empty = 0u32;
    for (base, size) in windows {
        let location = Location::Mmio(base);
        if !memory::map_device(base, size) {
            crate::warn!("{location}: cannot map the window");
            continue;
        }
        // SAFETY: the VMM declared a virtio-mmio register window here
        // (command line, DSDT or device tree); it is identity-mapped above
        // and only this driver touches it.
        let Some(region) = (unsafe { MmioRegion::new(base, size as usize) }) else { continue };
        match MmioTransport::new(region) {
            Ok(mut t) => match t.device_type() {
                vmfw_virtio::DEVICE_TYPE_BLOCK => {
                    add(disks, location, |o| new_blk(AnyTransport(Box::new(t)), o))
                }
                other => log::debug!("{location}: virtio device type {other}, not a disk"),
            },
            Err(vmfw_virtio::Error::NoDevice) => empty += 1,
            Err(e) => log::debug!("{location}: {e}"),
        }
    }
    if empty > 0 {
        log::debug!("virtio-mmio: {empty} window(s) with no device behind them");
    }
}

/// Either virtio transport behind one type, so the block driver (several
/// KiB of code per transport type it is compiled for) exists once in the
/// image; a register access costs one indirect call more.
struct AnyTransport(Box<dyn Transport>);

impl Transport for AnyTransport {
    fn device_type(&mut self) -> u32 {
        self.0.device_type()
    }
    fn is_legacy(&self) -> bool {
        self.0.is_legacy()
    }
    fn status(&mut self) -> u8 {
        self.0.status()
    }
    fn set_status(&mut self, status: u8) {
        self.0.set_status(status)
    }
    fn device_features(&mut self) -> u64 {
        self.0.device_features()
    }
    fn set_driver_features(&mut self, features: u64) {
        self.0.set_driver_features(features)
    }
    fn queue_max_size(&mut self, queue: u16) -> Result<u32, vmfw_virtio::Error> {
        self.0.queue_max_size(queue)
    }
    fn enable_queue(
        &mut self,
        queue: u16,
        layout: &vmfw_virtio::QueueLayout,
    ) -> Result<u32, vmfw_virtio::Error> {
        self.0.enable_queue(queue, layout)
    }
    fn notify(&mut self, queue: u16, token: u32) {
        self.0.notify(queue, token)
    }
    fn config_generation(&mut self) -> u32 {
        self.0.config_generation()
    }
    fn read_config_u8(&mut self, offset: u32) -> Result<u8, vmfw_virtio::Error> {
        self.0.read_config_u8(offset)
    }
    fn read_config_u16(&mut self, offset: u32) -> Result<u16, vmfw_virtio::Error> {
        self.0.read_config_u16(offset)
    }
    fn read_config_u32(&mut self, offset: u32) -> Result<u32, vmfw_virtio::Error> {
        self.0.read_config_u32(offset)
    }
    fn read_isr(&mut self) -> u8 {
        self.0.read_isr()
    }
}

/// Starts the block driver on `t` (one instantiation for both transports).
#[inline(never)]
fn new_blk(t: AnyTransport, o: BlkOptions) -> Result<Driver, vmfw_virtio::Error> {
    VirtioBlk::new(t, FirmwareDma, o).map(Driver::Virtio)
}

fn add(
    disks: &mut Disks,
    location: Location,
    init: impl FnOnce(BlkOptions) -> Result<Driver, vmfw_virtio::Error>,
) {
    if disks.found.len() >= disks.limit {
        crate::info!("{location}: virtio-blk left untouched (vmfw.disks={})", disks.limit);
        return;
    }
    // The driver times its waits for completions with the counter, so
    // the timing line can tell the device's time from the firmware's.
    let options = BlkOptions { clock: Some(crate::arch::counter), ..BlkOptions::default() };
    match init(options) {
        Ok(driver) => disks.found.push(Disk { location, driver }),
        Err(e) => crate::warn!("{location}: virtio-blk: {e}"),
    }
}

/// Host tests: a disk image in memory behind the driver's interface.
#[cfg(test)]
pub mod test_disk {
    use super::{Disk, Driver, Location};
    use alloc::vec::Vec;
    use vmfw_block::{BlockIo, MemDisk};

    pub struct MemDriver(MemDisk);

    impl MemDriver {
        pub fn stats(&self) -> vmfw_virtio::Stats {
            vmfw_virtio::Stats::default()
        }
        pub fn max_request_bytes(&self) -> u32 {
            1 << 20
        }
        pub fn reset(&mut self) -> Result<(), vmfw_virtio::Error> {
            Ok(())
        }
        pub fn block_size(&self) -> u32 {
            self.0.block_size()
        }
        pub fn num_blocks(&self) -> u64 {
            self.0.num_blocks()
        }
        pub fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), vmfw_virtio::Error> {
            self.0.read_blocks(lba, buf).map_err(|_| vmfw_virtio::Error::IoError { sector: lba })
        }
        pub fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), vmfw_virtio::Error> {
            self.0.write_blocks(lba, buf).map_err(|_| vmfw_virtio::Error::IoError { sector: lba })
        }
        pub fn flush(&mut self) -> Result<(), vmfw_virtio::Error> {
            Ok(())
        }
        pub fn read_only(&self) -> bool {
            false
        }
    }

    /// A writable disk with 512-byte blocks holding `image`, found at
    /// virtio-mmio address `base`.
    pub fn disk(base: u64, image: Vec<u8>) -> Disk {
        let mem = MemDisk::new(image, 512).writable();
        Disk { location: Location::Mmio(base), driver: Driver::Mem(MemDriver(mem)) }
    }

    /// The image's bytes, for checks.
    pub fn bytes(d: &Disk) -> &[u8] {
        match &d.driver {
            Driver::Mem(m) => m.0.data(),
            _ => &[],
        }
    }
}
