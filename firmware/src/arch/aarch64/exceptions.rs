//! The exception vector table (VBAR_EL1; Arm ARM D1.10.2): every
//! exception the firmware takes is a bug or a hostile input it failed to
//! stop, so each one prints a report (the kind, ESR, FAR, ELR, SPSR and
//! the general registers) on the console and powers off.
//!
//! The firmware runs on SP_EL0 and exceptions on SP_EL1, a stack of their
//! own (`entry.s`), so a main-stack overflow into the guard page is
//! reported too. An exception taken while already on SP_EL1 (a fault in
//! the report itself) powers off without a report.

use core::sync::atomic::{AtomicBool, Ordering};

core::arch::global_asm!(
    r#"
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #(32 * 8)
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       vmfw_vector_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global vmfw_vectors
vmfw_vectors:
    /* Current EL with SP_EL0: the firmware's own code. */
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    /* Current EL with SP_ELx: a fault while handling one. */
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    /* Lower EL, AArch64 and AArch32: never used (nothing runs at EL0). */
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

vmfw_vector_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #240]
    mov     x1, sp
    bl      vmfw_exception
1:  wfi
    b       1b
"#
);

/// The registers the vector code saved: x0-x30, then SP_EL0.
#[repr(C)]
pub struct Frame {
    x: [u64; 31],
    sp: u64,
}

const KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];

/// What ESR_EL1.EC (bits 31:26) says happened, for the common classes.
fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown instruction",
        0x01 => "WFI/WFE trapped",
        0x07 => "FP/SIMD access trapped",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register access trapped",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

static IN_EXCEPTION: AtomicBool = AtomicBool::new(false);

/// Installs the vector table.
pub fn init() {
    extern "C" {
        static vmfw_vectors: u8;
    }
    // SAFETY: VBAR_EL1 takes the 2 KiB-aligned table above, which stays
    // mapped executable for the firmware's lifetime.
    unsafe {
        core::arch::asm!(
            "msr vbar_el1, {0}",
            "isb",
            in(reg) &raw const vmfw_vectors,
            options(nostack)
        )
    };
}

/// Called by the vector code on SP_EL1 with interrupts masked.
#[no_mangle]
extern "C" fn vmfw_exception(kind: u64, f: &Frame) -> ! {
    if kind >= 4 || IN_EXCEPTION.swap(true, Ordering::SeqCst) {
        // A fault while reporting a fault: skip the report, just stop.
        crate::power::off_quiet();
    }
    let (esr, far, elr, spsr): (u64, u64, u64, u64);
    // SAFETY: reads of the exception syndrome registers, no side effects.
    unsafe {
        core::arch::asm!(
            "mrs {0}, esr_el1",
            "mrs {1}, far_el1",
            "mrs {2}, elr_el1",
            "mrs {3}, spsr_el1",
            out(reg) esr, out(reg) far, out(reg) elr, out(reg) spsr,
            options(nomem, nostack)
        )
    };
    let ec = (esr >> 26) & 0x3f;
    let mut w = crate::console::Writer::new();
    use core::fmt::Write;
    let _ = write!(
        w,
        "\n!!! CPU exception: {} ({}), ESR {esr:#x}\n\
         ELR {elr:#018x}  FAR {far:#018x}  SPSR {spsr:#x}  SP {:#018x}\n",
        KINDS[(kind & 3) as usize],
        class_name(ec),
        f.sp,
    );
    for (i, pair) in f.x.chunks(4).enumerate() {
        for (j, v) in pair.iter().enumerate() {
            let _ = write!(w, "X{:<2} {v:#018x}  ", i * 4 + j);
        }
        let _ = writeln!(w);
    }
    crate::power::fatal("CPU exception")
}
