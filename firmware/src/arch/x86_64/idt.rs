//! Exception handling: every CPU exception prints a full report on the
//! serial console and stops the VM through the platform (power off), so a
//! bug never turns into a silent reset or hang.
//!
//! Interrupts stay disabled in the firmware (drivers poll), so only the 32
//! architectural exception vectors have handlers. All of them run on the
//! TSS's IST stack, which stays usable when the firmware stack overflowed
//! into its guard page.

use super::gdt::{DescriptorPtr, CODE64, FAULT_IST};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Once;

core::arch::global_asm!(
    r#"
.section .text.exceptions, "ax"
exception_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    call vmfw_exception
    ud2

.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
exception_stub_\v:
    .if (\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    .else
    push 0
    .endif
    push \v
    jmp exception_common
.endr

.section .rodata.exceptions, "a"
.balign 8
.global vmfw_exception_stubs
vmfw_exception_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exception_stub_\v
.endr
"#
);

extern "C" {
    static vmfw_exception_stubs: [u64; 32];
}

/// One IDT gate (Intel SDM vol. 3, §6.14.1).
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    _zero: u32,
}

static IDT: Once<[Gate; 32]> = Once::new();

/// Installs the exception handlers.
pub fn init() {
    let idt = IDT.call_once(|| {
        // SAFETY: the table is defined in the assembly above, 32 quads in
        // read-only data, initialised at link time.
        let stubs = unsafe { &vmfw_exception_stubs };
        stubs.map(|addr| Gate {
            offset_low: addr as u16,
            selector: CODE64,
            ist: FAULT_IST,
            type_attr: 0x8e, // present, DPL 0, 64-bit interrupt gate
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            _zero: 0,
        })
    });
    let desc = DescriptorPtr { limit: (32 * 16 - 1) as u16, base: idt.as_ptr() as u64 };
    // SAFETY: the IDT is static and its gates point at the stubs above.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &desc, options(nostack)) };
}

/// What the stubs push, lowest address first.
#[repr(C)]
pub struct Frame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved",
];

static IN_EXCEPTION: AtomicBool = AtomicBool::new(false);

/// Called by the stubs with interrupts off, on the IST stack.
#[no_mangle]
extern "C" fn vmfw_exception(f: &Frame) -> ! {
    if IN_EXCEPTION.swap(true, Ordering::SeqCst) {
        // A fault while reporting a fault: skip the report, just stop.
        crate::power::off_quiet();
    }
    let name = NAMES.get(f.vector as usize).copied().unwrap_or("unknown");
    let mut w = crate::console::Writer::new();
    use core::fmt::Write;
    let _ = write!(
        w,
        "\n!!! CPU exception {} ({name}), error code {:#x}\n\
         RIP {:#018x}  CS {:#x}  RFLAGS {:#x}  RSP {:#018x}  SS {:#x}\n\
         CR2 {:#018x}  CR3 {:#018x}\n\
         RAX {:#018x}  RBX {:#018x}  RCX {:#018x}  RDX {:#018x}\n\
         RSI {:#018x}  RDI {:#018x}  RBP {:#018x}  R8  {:#018x}\n\
         R9  {:#018x}  R10 {:#018x}  R11 {:#018x}  R12 {:#018x}\n\
         R13 {:#018x}  R14 {:#018x}  R15 {:#018x}\n",
        f.vector,
        f.error,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        super::io::cr2(),
        super::io::cr3(),
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8,
        f.r9,
        f.r10,
        f.r11,
        f.r12,
        f.r13,
        f.r14,
        f.r15,
    );
    crate::power::fatal("CPU exception")
}
