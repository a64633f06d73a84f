//! The firmware's GDT and TSS.
//!
//! The entry code ran on a minimal GDT in read-only data; this one adds a
//! TSS whose interrupt stack table gives exception handlers a known-good
//! stack, so a stack overflow (which faults on the guard page) still gets
//! reported instead of escalating into a triple fault.

use core::cell::UnsafeCell;
use spin::Once;

/// Kernel code selector (64-bit).
pub const CODE64: u16 = 0x08;
/// Kernel data selector.
pub const DATA: u16 = 0x10;
/// TSS selector.
const TSS_SEL: u16 = 0x18;
/// IST slot (1-based, as in the IDT entry) for exception handlers.
pub const FAULT_IST: u8 = 1;

const FAULT_STACK_SIZE: usize = 32 * 1024;

/// Memory only the CPU writes to (as a stack). Rust never reads or
/// references its contents, it only takes the address.
#[repr(C, align(16))]
struct FaultStack(UnsafeCell<[u8; FAULT_STACK_SIZE]>);

// SAFETY: Rust code never accesses the contents; only the CPU uses it as a
// stack, on the single CPU the firmware runs on.
unsafe impl Sync for FaultStack {}

static FAULT_STACK: FaultStack = FaultStack(UnsafeCell::new([0; FAULT_STACK_SIZE]));

/// The 64-bit TSS (Intel SDM vol. 3, §8.7).
#[repr(C, packed(4))]
struct Tss {
    _reserved0: u32,
    rsp: [u64; 3],
    _reserved1: u64,
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    iomap_base: u16,
}

/// Holds the GDT; the CPU sets the TSS busy bit in it on `ltr`, so it must
/// live in writable memory.
#[repr(C, align(16))]
struct Gdt(UnsafeCell<[u64; 5]>);

// SAFETY: written once during `init` before it is loaded; afterwards only
// the CPU touches it (busy bit), single CPU.
unsafe impl Sync for Gdt {}

static TSS: Once<Tss> = Once::new();
static GDT: Once<Gdt> = Once::new();

/// Loads the firmware GDT and TSS and reloads every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let top = FAULT_STACK.0.get() as u64 + FAULT_STACK_SIZE as u64;
        Tss {
            _reserved0: 0,
            rsp: [0; 3],
            _reserved1: 0,
            ist: [top, 0, 0, 0, 0, 0, 0],
            _reserved2: 0,
            _reserved3: 0,
            iomap_base: core::mem::size_of::<Tss>() as u16,
        }
    });
    let base = tss as *const Tss as u64;
    let limit = (core::mem::size_of::<Tss>() - 1) as u64;
    // 64-bit available TSS descriptor (type 9), present.
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    let high = base >> 32;
    let gdt = GDT.call_once(|| {
        Gdt(UnsafeCell::new([0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff, low, high]))
    });
    let desc = DescriptorPtr { limit: (5 * 8 - 1) as u16, base: gdt.0.get() as u64 };
    // SAFETY: the GDT is static and valid for the rest of the firmware's
    // life; the selectors loaded below index its code, data and TSS entries.
    unsafe {
        core::arch::asm!(
            "lgdt [{desc}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {data:e}",
            "mov es, {data:e}",
            "mov ss, {data:e}",
            "mov fs, {data:e}",
            "mov gs, {data:e}",
            "ltr {tss:x}",
            desc = in(reg) &desc,
            code = in(reg) u64::from(CODE64),
            data = in(reg) u32::from(DATA),
            tss = in(reg) TSS_SEL,
            tmp = out(reg) _,
        );
    }
}

/// The operand of `lgdt` / `lidt`.
#[repr(C, packed)]
pub struct DescriptorPtr {
    /// Size of the table minus one.
    pub limit: u16,
    /// Linear address of the table.
    pub base: u64,
}
