//! Handing the CPU to a Linux kernel through the 64-bit boot protocol
//! (Linux `Documentation/arch/x86/boot.rst`, "64-bit Boot Protocol"):
//! long mode, interrupts off, a GDT with flat 4 GiB segments where
//! `__BOOT_CS` = 0x10 is execute/read and `__BOOT_DS` = 0x18 is read/write,
//! CS = 0x10, DS/ES/SS = 0x18, identity-mapped memory covering the kernel,
//! zero page, command line and initrd (the firmware's tables map all RAM),
//! `rsi` = zero page, entry at the protected-mode kernel + 0x200.
//!
//! The legacy 8259 PICs reach the kernel masked (all but the cascade), as
//! Linux's own 16-bit setup code leaves them: the entry doors mask them
//! before anything else (`entry.s`, `MASK_8259`, which says why) and
//! nothing in the firmware unmasks them.
//!
//! Why this entry and not the 32-bit one (`code32_start`, "32-bit Boot
//! Protocol"), which QEMU's direct kernel boot reaches through the 16-bit
//! setup code: measured under QEMU TCG (issue 12), the kernel's
//! decompressor and early start-up take the same host time from either
//! entry once the PICs are masked; the half second that used to separate
//! them was the unmasked timer interrupt, not the entry. Entering at
//! +0x200 the decompressor builds its identity map on demand (28 page
//! faults for a Debian 6.1 kernel) instead of inheriting the 4 GiB map
//! `startup_32` builds, which costs nothing measurable. The 64-bit entry
//! needs no mode switch and no identity-mapped trampoline below 4 GiB.

core::arch::global_asm!(
    r#"
.section .rodata.handoff, "a"
.balign 16
handoff_gdt:
    .quad 0
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x10: __BOOT_CS, 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x18: __BOOT_DS */
handoff_gdt_end:
handoff_gdt_desc:
    .word handoff_gdt_end - handoff_gdt - 1
    .quad handoff_gdt

.section .text.handoff, "ax"
.global vmfw_linux_handoff
vmfw_linux_handoff:
    cli
    lgdt [rip + handoff_gdt_desc]
    mov eax, 0x18
    mov ds, eax
    mov es, eax
    mov ss, eax
    xor eax, eax
    mov fs, eax
    mov gs, eax
    push 0x10
    lea rax, [rip + 2f]
    push rax
    retfq
2:
    mov rax, rdi
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor edi, edi
    xor ebp, ebp
    xor r8d, r8d
    xor r9d, r9d
    xor r10d, r10d
    xor r11d, r11d
    xor r12d, r12d
    xor r13d, r13d
    xor r14d, r14d
    xor r15d, r15d
    jmp rax
"#
);

extern "C" {
    fn vmfw_linux_handoff(entry: u64, boot_params: u64) -> !;
}

/// Jumps to a Linux kernel's 64-bit entry point.
///
/// # Safety
/// `entry` must be the 64-bit entry of a protected-mode kernel loaded in
/// identity-mapped memory, and `boot_params` a complete zero page whose
/// memory map protects everything the kernel must not overwrite. Devices
/// must be quiesced: nothing of the firmware runs afterwards.
pub unsafe fn linux64(entry: u64, boot_params: u64, _loaded: &[(u64, u64)]) -> ! {
    // SAFETY: forwarded from the caller.
    unsafe { vmfw_linux_handoff(entry, boot_params) }
}
