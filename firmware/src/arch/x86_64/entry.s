/* vmfw x86_64 entry doors.
 *
 * PVH (xen/include/public/arch-x86/hvm/start_info.h; the Xen PVH ABI):
 *   32-bit protected mode, paging off, flat segments, ebx = hvm_start_info,
 *   no usable stack. We build a 1 GiB identity map, enter long mode and
 *   call Rust.
 * Linux x86_64 64-bit boot protocol (Documentation/arch/x86/boot.rst,
 *   "64-bit Boot Protocol"): long mode, low memory identity-mapped by the
 *   loader, rsi = boot_params. This is the ELF entry point.
 *
 * Both doors first mask the legacy 8259 interrupt controllers (see
 * MASK_8259 below), zero .bss themselves (loaders differ in whether they
 * do), enable SSE (UEFI applications and kernels expect it), switch to the
 * firmware's own stack and call vmfw_start(info, door). Rust then builds
 * the real page tables and GDT.
 */

/* Mask every 8259 input except the master's cascade line (IRQ2): the
 * state Linux's own 16-bit setup code leaves (arch/x86/boot/pm.c,
 * mask_all_interrupts) and the kernel expects until it programs the PICs
 * in init_IRQ. The firmware runs with interrupts disabled and never takes
 * one, but a BIOS that ran before it (SeaBIOS, under QEMU's PVH option
 * ROM) leaves the PIT ticking into an unmasked IRQ0, whose request then
 * stays pending at the CPU while IF=0: through the firmware and, after
 * the handoff, through the kernel's decompressor and early start-up.
 * That costs nothing on hardware or under KVM, but QEMU's TCG then runs
 * its interrupt check (under its global lock) again and again: 28.6
 * million times from QEMU's start to start_kernel, against 34 with the
 * PICs masked, about 0.45 s of host CPU per boot (issue 12's post-handoff
 * gap). VMMs without a PIC ignore the writes. */
.macro MASK_8259
    mov al, 0xff
    out 0xa1, al            /* slave: all masked */
    mov al, 0xfb
    out 0x21, al            /* master: all but the cascade */
.endm

.section .note.pvh, "a", @note
    .balign 4
    .long 4                 /* namesz: "Xen\0" */
    .long 8                 /* descsz: 64-bit physical entry address */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_entry
    .balign 4

.section .text.entry, "ax"
.code32
.global pvh_entry
pvh_entry:
    cli
    cld
    MASK_8259
    mov esi, ebx

    /* Zero .bss up to the stack guard (the stack needs no zeroing), four
     * bytes at a time: both ends are page aligned (layout.ld). */
    mov edi, offset __bss_start
    mov ecx, offset __stack_guard
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd

    mov esp, offset __stack_top

    /* Boot page tables: PML4[0] -> PDPT[0] -> PD of 512 2 MiB pages. */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pd
    or eax, 0x3
    mov dword ptr [boot_pdpt], eax
    xor ecx, ecx
2:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83            /* present, writable, 2 MiB page */
    mov dword ptr [boot_pd + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jb 2b

    /* CR4: PAE (5), OSFXSR (9), OSXMMEXCPT (10). */
    mov eax, cr4
    or eax, 0x620
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    /* EFER.LME */
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    /* CR0: PG (31), PE (0), MP (1); clear EM (2) so SSE works. */
    mov eax, cr0
    and eax, 0xfffffffb
    or eax, 0x80000003
    mov cr0, eax

    lgdt [boot_gdt_desc]
    mov eax, 0x08
    push eax
    mov eax, offset pvh_long
    push eax
    retf

.code64
pvh_long:
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    mov fs, eax
    mov gs, eax
    mov edi, esi            /* info: hvm_start_info */
    xor esi, esi            /* door 0: PVH */
    call vmfw_start
    ud2

.global linux64_entry
linux64_entry:
    cli
    cld
    MASK_8259
    mov r12, rsi

    /* As in pvh_entry, eight bytes at a time. */
    lea rdi, [rip + __bss_start]
    lea rcx, [rip + __stack_guard]
    sub rcx, rdi
    shr rcx, 3
    xor eax, eax
    rep stosq

    lea rsp, [rip + __stack_top]

    mov rax, cr4
    or rax, 0x600
    mov cr4, rax
    mov rax, cr0
    and rax, 0xfffffffffffffffb
    or rax, 0x2
    mov cr0, rax

    mov rdi, r12            /* info: boot_params */
    mov esi, 1              /* door 1: Linux 64-bit boot protocol */
    call vmfw_start
    ud2

.section .rodata
.balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_end:
boot_gdt_desc:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

.section .bss
.balign 4096
boot_pml4:
    .space 4096
boot_pdpt:
    .space 4096
boot_pd:
    .space 4096
