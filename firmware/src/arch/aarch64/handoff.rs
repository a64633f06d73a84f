//! Handing the CPU to an arm64 Linux kernel (Linux
//! `Documentation/arch/arm64/booting.rst`, "Call the kernel image"):
//! `x0` = the device tree, `x1`-`x3` = 0, interrupts masked, the MMU and
//! the data cache off, and everything the kernel reads before it turns
//! its own caches on (the Image to its `image_size`, the initrd, the
//! device tree) cleaned to the point of coherency by virtual address.
//! TCG models no caches, so a missing clean would pass under QEMU and
//! fail on hardware: the lines cleaned come from `vmfw_linux::arm64`'s
//! plan, which the host tests check.

core::arch::global_asm!(
    r#"
.section .text.handoff, "ax"
.global vmfw_linux_handoff
vmfw_linux_handoff:
    /* x0 = entry, x1 = device tree. Runs from the identity-mapped image,
     * so the instruction after the MMU goes off is the next one. */
    msr     daifset, #0xf
    mov     x19, x0
    mov     x20, x1
    dsb     sy
    mrs     x2, sctlr_el1
    bic     x2, x2, #(1 << 0)       /* M: MMU off */
    bic     x2, x2, #(1 << 2)       /* C: data cache off */
    msr     sctlr_el1, x2
    isb
    ic      iallu                   /* nothing stale for the kernel */
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, x20
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    br      x19
"#
);

extern "C" {
    fn vmfw_linux_handoff(entry: u64, fdt: u64) -> !;
}

fn ctr_el0() -> u64 {
    let ctr: u64;
    // SAFETY: reads CTR_EL0, no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    ctr
}

/// Cleans `loaded` to the point of coherency, then jumps to the kernel
/// at `entry` with the device tree `fdt`. The lines are
/// `vmfw_linux::arm64::CleanPlan`'s runs, each walked first to last
/// inclusive (so no address past the last line is ever formed).
///
/// # Safety
/// `entry` must be the first byte of an arm64 `Image` loaded at a 2 MiB
/// boundary plus its `text_offset` in identity-mapped RAM, `fdt` a
/// complete device tree for it, and `loaded` every range the kernel reads
/// before it enables its caches. Devices must be quiesced.
pub unsafe fn linux64(entry: u64, fdt: u64, loaded: &[(u64, u64)]) -> ! {
    match vmfw_linux::arm64::CleanPlan::new(ctr_el0(), loaded) {
        Ok(plan) => {
            let step = plan.line();
            for run in plan.runs() {
                // SAFETY: DC CVAC on mapped addresses (the ranges were
                // loaded through the identity map) writes dirty lines back
                // to memory; it changes no data.
                unsafe {
                    core::arch::asm!(
                        "2:",
                        "dc cvac, {x}",
                        "cmp {x}, {last}",
                        "b.eq 3f",
                        "add {x}, {x}, {step}",
                        "b 2b",
                        "3:",
                        x = inout(reg) run.first => _,
                        last = in(reg) run.last,
                        step = in(reg) step,
                        options(nostack)
                    )
                };
            }
        }
        // Only more ranges than the plan holds (a firmware bug): clean
        // nothing rather than part, and say so while there is a console.
        Err(e) => crate::error!("cache clean before the handoff: {e}"),
    }
    // SAFETY: forwarded from the caller; the ranges are clean.
    unsafe { vmfw_linux_handoff(entry, fdt) }
}
