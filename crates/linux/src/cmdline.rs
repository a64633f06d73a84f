//! The kernel command line vmfw builds for a native (non-UEFI) boot.
//!
//! Rule: the entry's `options` (or the line edited in the boot menu), then
//! each `virtio_mmio.device=` hint from the VMM's own command line that the
//! line does not already contain as a whole word, in the VMM's order,
//! separated by single spaces. The hints are needed because a kernel finds
//! virtio-mmio devices only through ACPI, a device tree or this parameter
//! (Linux `drivers/virtio/virtio_mmio.c`), and a VMM without ACPI puts them
//! on the command line it gives the firmware, not on the one in the boot
//! entry. Words are compared exactly, split at ASCII whitespace as the
//! kernel splits its command line; a hint repeated by the VMM is added
//! once.

// The crate root holds no allocating code; this module is the only one
// that builds a string.
extern crate alloc;

use alloc::string::String;

/// The parameter the VMM's hints belong to.
const PARAM: &str = "virtio_mmio.device=";

/// The kernel command line for `options` plus the VMM's
/// `virtio_mmio.device=` hints (`vmm_hints` are the values after the `=`,
/// for example `4K@0xd0000000:5`); see the module docs for the rule.
/// `options` is kept as it is.
pub fn kernel_cmdline<'a>(options: &str, vmm_hints: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = String::from(options);
    for hint in vmm_hints {
        let present = line
            .split_ascii_whitespace()
            .any(|w| w.strip_prefix(PARAM).is_some_and(|value| value == hint));
        if present {
            continue;
        }
        if !line.is_empty() && !line.ends_with(|c: char| c.is_ascii_whitespace()) {
            line.push(' ');
        }
        line.push_str(PARAM);
        line.push_str(hint);
    }
    line
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::kernel_cmdline;

    const A: &str = "4K@0xd0000000:5";
    const B: &str = "4K@0xd0001000:6";

    #[test]
    fn no_hints_keeps_the_options() {
        assert_eq!(kernel_cmdline("root=/dev/vda2 quiet", []), "root=/dev/vda2 quiet");
        assert_eq!(kernel_cmdline("", []), "");
        assert_eq!(kernel_cmdline("  odd   spacing ", []), "  odd   spacing ");
    }

    #[test]
    fn empty_options_get_just_the_hints() {
        assert_eq!(kernel_cmdline("", [A]), "virtio_mmio.device=4K@0xd0000000:5");
        assert_eq!(
            kernel_cmdline("", [A, B]),
            "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
        );
    }

    #[test]
    fn several_hints_in_order() {
        assert_eq!(
            kernel_cmdline("root=/dev/vda2", [A, B]),
            "root=/dev/vda2 virtio_mmio.device=4K@0xd0000000:5 \
             virtio_mmio.device=4K@0xd0001000:6"
        );
        assert_eq!(
            kernel_cmdline("root=/dev/vda2", [B, A]),
            "root=/dev/vda2 virtio_mmio.device=4K@0xd0001000:6 \
             virtio_mmio.device=4K@0xd0000000:5"
        );
    }

    #[test]
    fn hints_already_present_are_not_repeated() {
        let opts = "root=/dev/vda2 virtio_mmio.device=4K@0xd0000000:5 quiet";
        assert_eq!(kernel_cmdline(opts, [A]), opts);
        assert_eq!(
            kernel_cmdline(opts, [A, B]),
            "root=/dev/vda2 virtio_mmio.device=4K@0xd0000000:5 quiet \
             virtio_mmio.device=4K@0xd0001000:6"
        );
        // Tabs separate words too.
        assert_eq!(
            kernel_cmdline("quiet\tvirtio_mmio.device=4K@0xd0000000:5", [A]),
            "quiet\tvirtio_mmio.device=4K@0xd0000000:5"
        );
    }

    #[test]
    fn duplicate_hints_are_added_once() {
        assert_eq!(kernel_cmdline("quiet", [A, A, B, A]), kernel_cmdline("quiet", [A, B]));
        assert_eq!(kernel_cmdline("", [A, A]), "virtio_mmio.device=4K@0xd0000000:5");
    }

    #[test]
    fn comparison_is_by_whole_word() {
        // A longer value, a prefix of the value, or the text inside another
        // word is not the same hint.
        for opts in [
            "virtio_mmio.device=4K@0xd0000000:56",
            "virtio_mmio.device=4K@0xd0000000",
            "xvirtio_mmio.device=4K@0xd0000000:5",
            "foo=virtio_mmio.device=4K@0xd0000000:5",
        ] {
            assert_eq!(
                kernel_cmdline(opts, [A]),
                std::format!("{opts} virtio_mmio.device=4K@0xd0000000:5"),
                "{opts}"
            );
        }
    }

    #[test]
    fn trailing_whitespace_gets_no_second_space() {
        assert_eq!(kernel_cmdline("quiet ", [A]), "quiet virtio_mmio.device=4K@0xd0000000:5");
    }
}
