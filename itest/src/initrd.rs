//! A busybox initrd for boot tests: an uncompressed cpio ("newc") archive
//! (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`)
//! with `/init`, busybox, and `/dev/console`, written without root.
//!
//! `/init` prints a marker line with the kernel command line, so tests can
//! see which entry booted and with which options, then powers off. The
//! demo's initrd ([`demo`]) prints no markers and starts a shell.

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
    /// UEFI boots ([`build_efi`]): on the first boot write the
    /// non-volatile variable [`KEPT_VARIABLE`] through efivarfs, add a boot
    /// option `Boot0001` (a copy of the firmware's `Boot0000`) as the only
    /// entry of `BootOrder`, and reboot; on the next boot print
    /// [`KEPT_MARKER`] with the variable's value and `bootcurrent=<hex>`,
    /// and power off. Shows that variables survive a warm reset of the
    /// same VM and that the firmware follows `BootOrder`.
    RebootOnce,
}

/// The variable [`Then::RebootOnce`] writes (name-GUID, as efivarfs names it).
pub const KEPT_VARIABLE: &str = "VmfwWarmReset-5f6c0a1e-9b2d-4c7e-8a31-2d4e6f708192";
/// Printed by [`Then::RebootOnce`] after the reset, followed by the value.
pub const KEPT_MARKER: &str = "VMFW-KEPT";
/// Printed by [`Then::RebootOnce`] before the reset.
pub const REBOOTING_MARKER: &str = "VMFW-REBOOTING";

/// Printed by the [`build_efi`] initrd: the UEFI report line, or
/// [`EFI_ABSENT`].
pub const EFI_MARKER: &str = "VMFW-EFI";
/// The line the [`build_efi`] initrd prints when the kernel was not
/// started through UEFI (no `/sys/firmware/efi`).
pub const EFI_ABSENT: &str = "VMFW-EFI absent";
/// systemd's loader-interface vendor GUID (the Boot Loader Interface's
/// `LoaderEntrySelected`, `LoaderInfo`, `StubInfo`, ... variables).
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// What the [`build_efi`] initrd's report shows, in order: `(label,
/// variable name)`, each variable of systemd's loader interface.
pub const EFI_REPORT_FIELDS: [(&str, &str); 6] = [
    // Set by systemd-boot: the entry it booted, and its version.
    ("loader", "LoaderEntrySelected"),
    ("loaderinfo", "LoaderInfo"),
    // Set by systemd-stub (a UKI): its version.
    ("stubinfo", "StubInfo"),
    // Set by both: the firmware's vendor and revision from the system
    // table, the loaded image's file path, and the unique GUID of the
    // partition in the loaded image's device path.
    ("fwinfo", "LoaderFirmwareInfo"),
    ("image", "LoaderImageIdentifier"),
    ("part", "LoaderDevicePartUUID"),
];

/// Builds the initrd around the given busybox binary.
pub fn build(busybox: &[u8], then: Then) -> Vec<u8> {
    build_with(busybox, then, "", &[])
}

/// As [`build`], for UEFI boots: after the marker, `/init` also reports
/// what the kernel sees of UEFI on one line:
///
/// ```text
/// VMFW-EFI loader=[<LoaderEntrySelected>] loaderinfo=[<LoaderInfo>] stubinfo=[<StubInfo>] fwinfo=[<LoaderFirmwareInfo>] image=[<LoaderImageIdentifier>] part=[<LoaderDevicePartUUID>] secureboot=[<hex>] setupmode=[<hex>] efivars=<n>
/// ```
///
/// Each `[...]` holds a variable of systemd's loader interface
/// ([`LOADER_GUID`], see [`EFI_REPORT_FIELDS`]), decoded from UTF-16 (the 4-byte attribute header
/// efivarfs puts first is skipped, NULs dropped), or is empty when the
/// variable does not exist. `efivars=` is the number of variables efivarfs
/// lists (`unmounted` when it could not be mounted). Without
/// `/sys/firmware/efi` it prints [`EFI_ABSENT`].
///
/// Debian builds efivarfs as a module: `efivarfs` is that module's `.ko`
/// (from the same kernel package, see `debian::kernel_module`), which
/// `/init` loads first. Reading the variables exercises the firmware's
/// runtime services (`GetNextVariableName`, `GetVariable`) after
/// `ExitBootServices`.
pub fn build_efi(busybox: &[u8], efivarfs: &[u8], then: Then) -> Vec<u8> {
    build_with(busybox, then, &efi_report(), &[(EFIVARFS_KO, 0o100644, efivarfs)])
}

/// The shell lines of [`build_efi`]'s report.
fn efi_report() -> String {
    let dir = "/sys/firmware/efi/efivars";
    let fields: Vec<String> =
        EFI_REPORT_FIELDS.iter().map(|(label, var)| format!("{label}=[$(v {var})]")).collect();
    [
        format!("v() {{ f={dir}/$1-{LOADER_GUID}; [ -r $f ] && tail -c +5 $f | tr -d '\\000'; }}"),
        "if [ -d /sys/firmware/efi ]; then".into(),
        format!("  insmod /{EFIVARFS_KO}"),
        format!(
            "  if mount -t efivarfs none {dir}; then n=$(ls {dir} | wc -l); else n=unmounted; fi"
        ),
        // SecureBoot and SetupMode (EFI_GLOBAL_VARIABLE) as hex bytes.
        format!(
            "  h() {{ f={dir}/$1-8be4df61-93ca-11d2-aa0d-00e098032b8c; \
             [ -r $f ] && tail -c +5 $f | od -An -tx1 | tr -d ' \\n'; }}"
        ),
        format!(
            "  echo \"{EFI_MARKER} {} secureboot=[$(h SecureBoot)] setupmode=[$(h SetupMode)] efivars=$n\"",
            fields.join(" ")
        ),
        "else".into(),
        format!("  echo \"{EFI_ABSENT}\""),
        "fi".into(),
    ]
    .map(|l| l + "\n")
    .concat()
}

/// Printed by the [`build_secure_boot`] initrd: what the kernel sees of
/// Secure Boot (see there).
pub const SB_MARKER: &str = "VMFW-SB";
/// Prefixes each kernel log line on Secure Boot and lockdown the
/// [`build_secure_boot`] initrd copies from `dmesg`.
pub const SB_KERNEL_MARKER: &str = "VMFW-SB-KERNEL";
/// Printed by the [`build_secure_boot`] initrd after its write to `db`.
pub const SB_WRITE_MARKER: &str = "VMFW-SB-WRITE";
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`, the vendor of `db` and `dbx`.
pub const IMAGE_SECURITY_DATABASE: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/// `EFI_GLOBAL_VARIABLE`, the vendor of `PK`, `KEK`, `SecureBoot`, ...
pub const GLOBAL_VARIABLE: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// A write to `db` for [`build_secure_boot`]: the file efivarfs gets
/// (the 4-byte attributes, then the `EFI_VARIABLE_AUTHENTICATION_2`
/// descriptor and the signature lists), and `sash`, whose built-in
/// `-chattr` clears the immutable flag efivarfs puts on `db` (busybox has
/// no `chattr`).
#[derive(Debug, Clone, Copy)]
pub struct DbWrite<'a> {
    /// The statically linked `sash` binary.
    pub sash: &'a [u8],
    /// What is written to `db` in one `write()`.
    pub update: &'a [u8],
}

/// As [`build_efi`] (powering off at the end), for Secure Boot tests:
/// after the `VMFW-EFI` line `/init` prints, on one line,
///
/// ```text
/// VMFW-SB lockdown=[<lockdown>] pk=[<sha256>] kek=[<sha256>] db=[<sha256>] dbx=[<sha256>]
/// ```
///
/// `lockdown` is the mode `/sys/kernel/security/lockdown` selects
/// (securityfs mounted first): `none`, `integrity` or `confidentiality`,
/// empty when the file is missing; each hash is the SHA-256, in hex, of the key variable's data as
/// efivarfs reads it (attributes stripped), empty when the variable does
/// not exist. Then every kernel log line that mentions Secure Boot or the
/// lockdown (they are below the console's log level), each after
/// [`SB_KERNEL_MARKER`].
///
/// With `write`, before the report `/init` writes `write.update` to `db`
/// through efivarfs in one `write()` and prints
/// `VMFW-SB-WRITE rc=<dd's status> err=[<dd's messages>]`.
pub fn build_secure_boot(busybox: &[u8], efivarfs: &[u8], write: Option<DbWrite<'_>>) -> Vec<u8> {
    let dir = "/sys/firmware/efi/efivars";
    let db = format!("{dir}/db-{IMAGE_SECURITY_DATABASE}");
    let mut report = efi_report();
    report += &[
        "mount -t securityfs none /sys/kernel/security 2>/dev/null".to_string(),
        format!("k() {{ f={dir}/$1; [ -r $f ] && tail -c +5 $f | sha256sum | cut -c1-64; }}"),
    ]
    .map(|l| l + "\n")
    .concat();
    if write.is_some() {
        report += &[
            format!("/lib/sash -c '-chattr -i {db}'"),
            format!("dd if=/lib/db.update of={db} bs=1M conv=notrunc 2>/tmp/dd.err"),
            format!("echo \"{SB_WRITE_MARKER} rc=$? err=[$(tr '\\n' ' ' < /tmp/dd.err)]\""),
        ]
        .map(|l| l + "\n")
        .concat();
    }
    report += &format!(
        "echo \"{SB_MARKER} lockdown=[$(sed -n 's/.*\\[\\(.*\\)\\].*/\\1/p' /sys/kernel/security/lockdown 2>/dev/null)] \
         pk=[$(k PK-{GLOBAL_VARIABLE})] kek=[$(k KEK-{GLOBAL_VARIABLE})] \
         db=[$(k db-{IMAGE_SECURITY_DATABASE})] dbx=[$(k dbx-{IMAGE_SECURITY_DATABASE})]\"\n\
         dmesg | grep -i -e 'secure boot' -e 'locked down' -e lockdown | \
         sed 's/^/{SB_KERNEL_MARKER} /'\n"
    );
    let mut files: Vec<(&str, u32, &[u8])> = vec![(EFIVARFS_KO, 0o100644, efivarfs)];
    if let Some(w) = write {
        files.push(("lib/sash", 0o100755, w.sash));
        files.push(("lib/db.update", 0o100644, w.update));
    }
    build_with(busybox, Then::PowerOff, &report, &files)
}

/// Where [`build_efi`] puts the `efivarfs` module.
const EFIVARFS_KO: &str = "lib/efivarfs.ko";

/// The initrd with `report` (shell lines) run after the marker lines, and
/// `files` (`(path, mode, contents)`, in existing directories or `lib/`)
/// added.
fn build_with(busybox: &[u8], then: Then, report: &str, files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    // Attributes NV|BS|RT (0x07) as efivarfs wants them, then the data.
    // Before the reset it also makes Boot0001 a copy of the Boot0000 the
    // firmware registered and sets BootOrder to it; after, it prints
    // BootCurrent (hex bytes).
    let d = "/sys/firmware/efi/efivars";
    let f = format!("{d}/{KEPT_VARIABLE}");
    let g = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
    let reboot_once = format!(
        "if [ -r {f} ]; then \
           echo \"{KEPT_MARKER} $(tail -c +5 {f}) bootcurrent=$(tail -c +5 {d}/BootCurrent-{g} | od -An -tx1 | tr -d ' \\n')\"; \
           busybox poweroff -f; \
         else printf '\\007\\000\\000\\000warm-reset-ok' > {f} && \
           cat {d}/Boot0000-{g} > {d}/Boot0001-{g} && \
           printf '\\007\\000\\000\\000\\001\\000' > {d}/BootOrder-{g} && echo {REBOOTING_MARKER}; \
           busybox reboot -f; fi\nsleep 5\n"
    );
    let end = match then {
        Then::PowerOff => "busybox poweroff -f\nsleep 2\nbusybox reboot -f\n",
        Then::RebootOnce => &reboot_once,
    };
    let init = format!(
        "{INIT_PREAMBLE}\
         echo \"{MARKER} cmdline=[$(cat /proc/cmdline)]\"\n\
         [ -e /{EXTRA_FILE} ] && echo \"{EXTRA_MARKER}\"\n\
         {report}{end}"
    );
    let mut c = base(busybox, &init);
    if !files.is_empty() {
        c.entry("lib", 0o040755, &[], (0, 0));
    }
    for (path, mode, contents) in files {
        c.entry(path, *mode, contents, (0, 0));
    }
    c.finish()
}

/// The demo's initrd: `/init` says which kernel started and how (natively
/// from a Boot Loader Specification entry, or through UEFI and, when
/// systemd-boot set `LoaderInfo`, by which loader), and how to end the VM,
/// then starts a busybox shell on the console, with the prompt of Debian's
/// initramfs shell. No test markers. `efivarfs` is the kernel's efivarfs
/// module (as in [`build_efi`]), loaded on UEFI boots so that the shell
/// can look at the variables in `/sys/firmware/efi/efivars`.
pub fn demo(busybox: &[u8], efivarfs: &[u8]) -> Vec<u8> {
    let vars = "/sys/firmware/efi/efivars";
    let init = format!(
        "{INIT_PREAMBLE}\
         how='natively by vmfw (a Boot Loader Specification entry, the Linux boot protocol)'\n\
         if [ -d /sys/firmware/efi ]; then\n\
         \x20 insmod /{EFIVARFS_KO} 2>/dev/null\n\
         \x20 mount -t efivarfs none {vars} 2>/dev/null\n\
         \x20 f={vars}/LoaderInfo-{LOADER_GUID}\n\
         \x20 how='through UEFI'\n\
         \x20 [ -r $f ] && how=\"through UEFI by $(tail -c +5 $f | tr -d '\\000')\"\n\
         fi\n\
         grep -qw single /proc/cmdline && how=\"$how, in recovery mode\"\n\
         off='poweroff -f'\n\
         [ -d /sys/firmware/acpi ] || off='reboot -f'\n\
         echo\n\
         echo \"Linux $(uname -r) was started $how.\"\n\
         echo \"This is a busybox shell in the initrd: '$off' ends the VM, Ctrl-A X quits QEMU.\"\n\
         export PS1='(initramfs) '\n\
         exec setsid cttyhack sh\n"
    );
    let mut c = base(busybox, &init);
    c.entry("lib", 0o040755, &[], (0, 0));
    c.entry(EFIVARFS_KO, 0o100644, efivarfs, (0, 0));
    c.finish()
}

/// What every `/init` here starts with: the mounts a busybox system needs
/// and busybox's applets on the PATH.
const INIT_PREAMBLE: &str = "#!/bin/busybox sh
export PATH=/bin
busybox mkdir -p /proc /sys /tmp
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev 2>/dev/null
busybox --install -s /bin
";

/// An archive with busybox, a console device and `init`.
fn base(busybox: &[u8], init: &str) -> Cpio {
    let mut c = Cpio::new();
    c.entry("bin", 0o040755, &[], (0, 0));
    c.entry("dev", 0o040755, &[], (0, 0));
    c.entry("dev/console", 0o020600, &[], (5, 1));
    c.entry("bin/busybox", 0o100755, busybox, (0, 0));
    c.entry("init", 0o100755, init.as_bytes(), (0, 0));
    c
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
