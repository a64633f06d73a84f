//! A busybox initrd for boot tests: an uncompressed cpio ("newc") archive
//! (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`)
//! with `/init`, busybox, and `/dev/console`, written without root.
//!
//! `/init` prints a marker line with the kernel command line, so tests can
//! see which entry booted and with which options, then powers off (or, in
//! the demo, starts a shell).

/// The marker `/init` prints; the command line follows it.
pub const MARKER: &str = "VMFW-INITRD-OK";
/// Printed too when the second initrd's file is present (both archives
/// were loaded, in one contiguous image).
pub const EXTRA_MARKER: &str = "VMFW-SECOND-INITRD-OK";
/// The file the second initrd adds.
pub const EXTRA_FILE: &str = "vmfw-second-initrd";

struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Self {
        Cpio { out: Vec::new(), ino: 1 }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.ino += 1;
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.out
    }
}

/// What `/init` does after printing the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Power off (falling back to a reboot, which `-no-reboot` turns into
    /// an exit, where the platform has no power-off the kernel knows).
    PowerOff,
    /// Start an interactive shell on the console (the demo).
    Shell,
}

/// Builds the initrd around the given busybox binary.
pub fn build(busybox: &[u8], then: Then) -> Vec<u8> {
    let end = match then {
        Then::PowerOff => "busybox poweroff -f\nsleep 2\nbusybox reboot -f\n",
        Then::Shell => "echo 'vmfw demo: busybox shell on the serial console; \"poweroff -f\" ends the VM'\nexec busybox setsid busybox cttyhack busybox sh\n",
    };
    let init = format!(
        "#!/bin/busybox sh\n\
         export PATH=/bin\n\
         busybox mkdir -p /proc /sys /tmp\n\
         busybox mount -t proc proc /proc\n\
         busybox mount -t sysfs sys /sys\n\
         busybox mount -t devtmpfs dev /dev 2>/dev/null\n\
         busybox --install -s /bin\n\
         echo \"{MARKER} cmdline=[$(cat /proc/cmdline)]\"\n\
         [ -e /{EXTRA_FILE} ] && echo \"{EXTRA_MARKER}\"\n\
         {end}"
    );
    let mut c = Cpio::new();
    c.entry("bin", 0o040755, &[], (0, 0));
    c.entry("dev", 0o040755, &[], (0, 0));
    c.entry("dev/console", 0o020600, &[], (5, 1));
    c.entry("bin/busybox", 0o100755, busybox, (0, 0));
    c.entry("init", 0o100755, init.as_bytes(), (0, 0));
    c.finish()
}

/// A second, tiny initrd that only adds a file (for the two-initrd test:
/// the kernel unpacks both archives into the same root).
pub fn extra(path: &str, contents: &[u8]) -> Vec<u8> {
    let mut c = Cpio::new();
    c.entry(path, 0o100644, contents, (0, 0));
    c.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn newc_layout() {
        let a = super::extra("etc/x", b"hi");
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
