//! Calls between the firmware (System V ABI) and UEFI code (the MS x64
//! convention, `extern "efiapi"` on x86_64): the assembly; the Rust side
//! is the seam's, `arch::efi_call`.
//!
//! - The image trampoline: `vmfw_arch_call_image` saves the firmware's
//!   callee-saved registers and stack pointer and calls an image's entry
//!   point; `vmfw_arch_exit_image` (UEFI `Exit()`, called from anywhere
//!   inside the image or an image it started) restores them, so control
//!   comes back out of that call with the exit status.
//! - The variadic services: the MS x64 convention passes the first four
//!   arguments in RCX, RDX, R8, R9 and the rest on the stack above the
//!   32-byte home area. The stubs spill the registers into the home area
//!   and call the UEFI layer's `vmfw_install_multiple_impl` /
//!   `vmfw_uninstall_multiple_impl` (`extern "efiapi" fn(args: *const
//!   u64) -> usize`, defined `#[no_mangle]` there) with a pointer to all
//!   arguments as one contiguous array.

core::arch::global_asm!(
    // usize vmfw_arch_call_image(entry, handle, system_table, *saved_rsp)
    // (System V: rdi, rsi, rdx, rcx). Calls entry(handle, system_table)
    // with the MS x64 convention.
    ".pushsection .text.vmfw_arch_call_image, \"ax\", @progbits",
    ".global vmfw_arch_call_image",
    "vmfw_arch_call_image:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rcx], rsp",
    "mov rax, rdi",
    "mov rcx, rsi",
    // rdx already holds the system table. Six pushes and the return
    // address leave rsp 8 off 16-byte alignment: 32 bytes of home area
    // plus 8 align the call.
    "sub rsp, 40",
    "call rax",
    "add rsp, 40",
    "vmfw_arch_image_return:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    // ! vmfw_arch_exit_image(saved_rsp, status) (System V: rdi, rsi)
    ".global vmfw_arch_exit_image",
    "vmfw_arch_exit_image:",
    "mov rsp, rdi",
    "mov rax, rsi",
    "jmp vmfw_arch_image_return",
    ".popsection",
);

core::arch::global_asm!(
    ".pushsection .text.vmfw_arch_multiple, \"ax\", @progbits",
    ".global vmfw_arch_install_multiple",
    "vmfw_arch_install_multiple:",
    "mov [rsp + 8], rcx",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], r8",
    "mov [rsp + 32], r9",
    "lea rcx, [rsp + 8]",
    "sub rsp, 40",
    "call vmfw_install_multiple_impl",
    "add rsp, 40",
    "ret",
    ".global vmfw_arch_uninstall_multiple",
    "vmfw_arch_uninstall_multiple:",
    "mov [rsp + 8], rcx",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], r8",
    "mov [rsp + 32], r9",
    "lea rcx, [rsp + 8]",
    "sub rsp, 40",
    "call vmfw_uninstall_multiple_impl",
    "add rsp, 40",
    "ret",
    ".popsection",
);

/// See `arch::efi_call::runtime_entry`: the System V and MS x64
/// conventions agree on nothing like x18, so the service is its own entry.
pub fn runtime_entry<F: Copy>(_index: usize, service: F) -> F {
    service
}
