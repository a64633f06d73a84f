//! Handing the CPU to a Linux kernel through the 64-bit boot protocol
//! (Linux `Documentation/arch/x86/boot.rst`, "64-bit Boot Protocol"):
//! long mode, interrupts off, a GDT with flat 4 GiB segments where
//! `__BOOT_CS` = 0x10 is execute/read and `__BOOT_DS` = 0x18 is read/write,
//! CS = 0x10, DS/ES/SS = 0x18, identity-mapped memory covering the kernel,
//! zero page, command line and initrd (the firmware's tables map all RAM),
//! `rsi` = zero page, entry at the protected-mode kernel + 0x200.

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
pub unsafe fn linux64(entry: u64, boot_params: u64) -> ! {
    // SAFETY: forwarded from the caller.
    unsafe { vmfw_linux_handoff(entry, boot_params) }
}
