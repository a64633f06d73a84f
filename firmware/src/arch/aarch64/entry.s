/* vmfw aarch64 entry: the arm64 Linux Image door
 * (Linux Documentation/arch/arm64/booting.rst).
 *
 * The loader (QEMU virt -kernel, Cloud Hypervisor --kernel) places this
 * flat image at a 2 MiB-aligned address of its choice and jumps to its
 * first byte at EL1 or EL2 with the MMU off, interrupts masked and
 * x0 = the device tree's physical address. The entry code (after
 * dropping to EL1 when entered at EL2):
 *   1. enables FP/SIMD (Rust code uses NEON registers for copies);
 *   2. applies the R_AARCH64_RELATIVE entries of .rela.dyn for the
 *      address the image runs at (it is linked at 0, layout.ld);
 *   3. zeroes .bss up to the stack guard;
 *   4. invalidates the image's lines in the data cache, so nothing stale
 *      from before the entry shadows what was just written with the
 *      caches off once the MMU turns them on;
 *   5. takes its stacks: exceptions run on SP_EL1 (a stack of their own,
 *      so an overflow of the main stack can still be reported), the
 *      firmware on SP_EL0;
 *   6. calls vmfw_aarch64_entry(fdt, image base), which builds the page
 *      tables, turns on the MMU and caches and enters the common code.
 */

.section .text.head, "ax"
.global _start
_start:
    /* The Image header (booting.rst, "Call the kernel image"). */
    b       1f                  /* code0: branch to the entry code */
    .long   0                   /* code1 */
    .quad   0                   /* text_offset: at the 2 MiB boundary */
    .quad   __image_size        /* image_size, .bss and stacks included */
    .quad   0xa                 /* flags: little endian (bit 0 = 0),
                                   4 KiB pages (bits 1-2 = 1), anywhere
                                   in RAM (bit 3 = 1) */
    .quad   0                   /* res2 */
    .quad   0                   /* res3 */
    .quad   0                   /* res4 */
    .ascii  "ARM\x64"           /* magic */
    .long   0                   /* res5: no PE header */

1:
    msr     daifset, #0xf
    mov     x19, x0             /* the device tree */

    /* Entered at EL2 (booting.rst allows it; QEMU virt with
     * virtualization=on does it): run at EL1, where the firmware's system
     * registers are. EL1 in AArch64 (HCR_EL2.RW), its timer and counter
     * not trapped, no virtual counter offset, FP/SIMD not trapped, a
     * known SCTLR_EL1 (MMU off, RES1 bits set), then ERET to label 9 at
     * EL1h with interrupts masked. The kernel is then entered at EL1 too. */
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    9f
    /* HCR_EL2: EL1 is AArch64 (RW); pointer authentication not trapped
     * (API, APK) where the CPU has it. */
    mov     x1, #(1 << 31)
    mrs     x2, id_aa64isar1_el1
    and     x2, x2, #0xff0          /* APA, API */
    mrs     x3, s3_0_c0_c6_2        /* ID_AA64ISAR2_EL1 */
    and     x3, x3, #0xf000         /* APA3 */
    orr     x2, x2, x3
    cbz     x2, 13f
    orr     x1, x1, #(3 << 40)
13:
    msr     hcr_el2, x1
    mov     x1, #3
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    /* CPTR_EL2: only its RES1 bits (13, 9, 7-0), so no FP/SIMD, SVE
     * (TZ, bit 8) or SME (TSM, bit 12) traps; then the longest SVE and
     * SME vector lengths for EL1 where the CPU has them. */
    mov     x1, #0x22ff
    msr     cptr_el2, x1
    isb
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #32, #4
    cbz     x1, 11f
    mov     x1, #0xf
    msr     s3_4_c1_c2_0, x1        /* ZCR_EL2.LEN */
11:
    mrs     x1, id_aa64pfr1_el1
    ubfx    x1, x1, #24, #4
    cbz     x1, 12f
    mov     x1, #0xf
    msr     s3_4_c1_c2_6, x1        /* SMCR_EL2.LEN */
12:
    msr     hstr_el2, xzr
    /* Every PMU counter to EL1, no debug traps (MDCR_EL2.HPMN = PMCR.N). */
    mrs     x1, pmcr_el0
    ubfx    x1, x1, #11, #5
    msr     mdcr_el2, x1
    /* GICv3 system registers usable at EL1 (ICC_SRE_EL2.SRE and .Enable),
     * where the CPU has them (ID_AA64PFR0_EL1.GIC). */
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #24, #4
    cbz     x1, 10f
    mrs     x1, s3_4_c12_c9_5
    mov     x2, #0x9
    orr     x1, x1, x2
    msr     s3_4_c12_c9_5, x1
    isb
10:
    mov     x1, #0x0800
    movk    x1, #0x30d0, lsl #16
    msr     sctlr_el1, x1
    mov     x1, #0x3c5
    msr     spsr_el2, x1
    adr     x1, 9f
    msr     elr_el2, x1
    isb
    eret
9:

    /* FP/SIMD at EL1 without traps: CPACR_EL1.FPEN = 0b11. */
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb

    /* Where the image runs. */
    adrp    x20, __image_start
    add     x20, x20, :lo12:__image_start

    /* Relocate: for each Elf64_Rela (offset, info, addend), all
     * R_AARCH64_RELATIVE, which xtask checks at build time:
     * *(base + offset) = base + addend. */
    adrp    x1, __rela_start
    add     x1, x1, :lo12:__rela_start
    adrp    x2, __rela_end
    add     x2, x2, :lo12:__rela_end
2:  cmp     x1, x2
    b.hs    3f
    ldp     x3, x4, [x1], #16
    ldr     x5, [x1], #8
    add     x5, x5, x20
    str     x5, [x20, x3]
    b       2b
3:
    /* Zero .bss up to the stack guard, 16 bytes at a time (both ends
     * are page aligned). */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __stack_guard
    add     x2, x2, :lo12:__stack_guard
4:  cmp     x1, x2
    b.hs    5f
    stp     xzr, xzr, [x1], #16
    b       4b
5:
    /* Invalidate the whole image in the data cache, by line to the point
     * of coherency (the line size is CTR_EL0.DminLine words). */
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4
    mov     x4, #4
    lsl     x4, x4, x3
    sub     x5, x4, #1
    bic     x1, x20, x5
    adrp    x2, __image_end
    add     x2, x2, :lo12:__image_end
6:  cmp     x1, x2
    b.hs    7f
    dc      ivac, x1
    add     x1, x1, x4
    b       6b
7:  dsb     sy
    isb

    /* Exceptions on SP_EL1 (their own stack), the firmware on SP_EL0. */
    msr     spsel, #1
    adrp    x1, vmfw_exception_stack_top
    add     x1, x1, :lo12:vmfw_exception_stack_top
    mov     sp, x1
    msr     spsel, #0
    adrp    x1, __stack_top
    add     x1, x1, :lo12:__stack_top
    mov     sp, x1

    mov     x0, x19
    mov     x1, x20
    bl      vmfw_aarch64_entry
8:  wfi
    b       8b

/* The exception stack (16 KiB), in .bss. */
.section .bss.exception_stack, "aw", @nobits
.balign 16
    .space  16384
.global vmfw_exception_stack_top
vmfw_exception_stack_top:
