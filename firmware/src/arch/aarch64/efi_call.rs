//! Calls between the firmware and UEFI code. On AArch64 the UEFI calling
//! convention is the AAPCS64, the same as the firmware's own (`extern
//! "efiapi"` is `extern "C"` there), so only three things need assembly
//! (the Rust side is the seam's, `arch::efi_call`):
//!
//! - The image trampoline: `vmfw_arch_call_image` saves the callee-saved
//!   registers (x19-x30, d8-d15) and the stack pointer and calls an
//!   image's entry point; `vmfw_arch_exit_image` (UEFI `Exit()`, from
//!   anywhere inside the image) restores them, so control comes back out
//!   of that call.
//! - The variadic services: the AAPCS64 passes a variadic call's first
//!   eight integer arguments in x0-x7 and the rest on the stack, in order.
//!   The stubs store x0-x7 just below the stacked arguments, which makes
//!   all arguments one contiguous array, and call the UEFI layer's
//!   `vmfw_install_multiple_impl` / `vmfw_uninstall_multiple_impl` with a
//!   pointer to it.
//! - The runtime services' entry stubs, which preserve x18 (below).

core::arch::global_asm!(
    // usize vmfw_arch_call_image(entry x0, handle x1, system_table x2,
    // *saved_sp x3)
    ".pushsection .text.vmfw_arch_call_image, \"ax\"",
    ".global vmfw_arch_call_image",
    "vmfw_arch_call_image:",
    "sub sp, sp, #160",
    "stp x19, x20, [sp, #0]",
    "stp x21, x22, [sp, #16]",
    "stp x23, x24, [sp, #32]",
    "stp x25, x26, [sp, #48]",
    "stp x27, x28, [sp, #64]",
    "stp x29, x30, [sp, #80]",
    "stp d8, d9, [sp, #96]",
    "stp d10, d11, [sp, #112]",
    "stp d12, d13, [sp, #128]",
    "stp d14, d15, [sp, #144]",
    "mov x4, sp",
    "str x4, [x3]",
    "mov x4, x0",
    "mov x0, x1",
    "mov x1, x2",
    "blr x4",
    "vmfw_arch_image_return:",
    "ldp x19, x20, [sp, #0]",
    "ldp x21, x22, [sp, #16]",
    "ldp x23, x24, [sp, #32]",
    "ldp x25, x26, [sp, #48]",
    "ldp x27, x28, [sp, #64]",
    "ldp x29, x30, [sp, #80]",
    "ldp d8, d9, [sp, #96]",
    "ldp d10, d11, [sp, #112]",
    "ldp d12, d13, [sp, #128]",
    "ldp d14, d15, [sp, #144]",
    "add sp, sp, #160",
    "ret",
    // ! vmfw_arch_exit_image(saved_sp x0, status x1)
    ".global vmfw_arch_exit_image",
    "vmfw_arch_exit_image:",
    "mov sp, x0",
    "mov x0, x1",
    "b vmfw_arch_image_return",
    ".popsection",
);

core::arch::global_asm!(
    ".macro VMFW_VARIADIC name, impl",
    ".global \\name",
    "\\name:",
    "sub sp, sp, #64",
    "stp x0, x1, [sp, #0]",
    "stp x2, x3, [sp, #16]",
    "stp x4, x5, [sp, #32]",
    "stp x6, x7, [sp, #48]",
    "mov x0, sp",
    "stp x29, x30, [sp, #-16]!",
    "bl \\impl",
    "ldp x29, x30, [sp], #16",
    "add sp, sp, #64",
    "ret",
    ".endm",
    ".pushsection .text.vmfw_arch_multiple, \"ax\"",
    "VMFW_VARIADIC vmfw_arch_install_multiple, vmfw_install_multiple_impl",
    "VMFW_VARIADIC vmfw_arch_uninstall_multiple, vmfw_uninstall_multiple_impl",
    ".popsection",
);

// The runtime services' entry points as the OS calls them: x18 is the
// platform register, which the UEFI specification (§2.3.6.3) has firmware
// preserve and Linux checks after every runtime call (it keeps its shadow
// call stack there). The prebuilt `core` library uses x18 as a scratch
// register, so each service is entered through a stub that saves x18,
// calls the service and restores it. Stub `i` is 8 bytes at
// `vmfw_rt_stubs + 8 * i`; its target is `VMFW_RT_TARGETS[i]`. No runtime
// service takes stack arguments (at most eight), so pushing below the
// caller's frame changes nothing for the callee.
core::arch::global_asm!(
    ".pushsection .text.vmfw_rt_stubs, \"ax\"",
    ".balign 8",
    ".global vmfw_rt_stubs",
    "vmfw_rt_stubs:",
    ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    "mov x9, #\\i",
    "b vmfw_rt_common",
    ".endr",
    "vmfw_rt_common:",
    "stp x18, x30, [sp, #-16]!",
    "adrp x10, VMFW_RT_TARGETS",
    "add x10, x10, :lo12:VMFW_RT_TARGETS",
    "ldr x9, [x10, x9, lsl #3]",
    "blr x9",
    "ldp x18, x30, [sp], #16",
    "ret",
    ".popsection",
);

/// How many runtime services the stubs cover.
const RT_STUBS: usize = 16;

/// Each stub's target (a runtime service's Rust entry point).
#[no_mangle]
static VMFW_RT_TARGETS: [core::sync::atomic::AtomicU64; RT_STUBS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; RT_STUBS];

/// See `arch::efi_call::runtime_entry`.
pub fn runtime_entry<F: Copy>(index: usize, service: F) -> F {
    extern "C" {
        static vmfw_rt_stubs: u8;
    }
    const { assert!(core::mem::size_of::<F>() == 8) };
    assert!(index < RT_STUBS, "runtime service stub {index} does not exist");
    // SAFETY: `F` is a function pointer type (8 bytes, checked above):
    // reading it as an address is what the table holds.
    let target: u64 = unsafe { core::mem::transmute_copy(&service) };
    VMFW_RT_TARGETS[index].store(target, core::sync::atomic::Ordering::Relaxed);
    let stub = &raw const vmfw_rt_stubs as u64 + 8 * index as u64;
    // SAFETY: stub `index` forwards every argument register to `service`
    // unchanged and returns its result: it has `F`'s signature.
    unsafe { core::mem::transmute_copy(&stub) }
}
