//! Type #1 entry files, `/loader/entries/*.conf` (BLS "Type #1 Boot Loader
//! Specification Entries" and "Type #1 Boot Loader Entry Keys"), and the
//! boot counter in their names (BLS "Boot counting").
//!
//! Invariants of a parsed [`Entry`]: it has at least one of `linux`, `efi`
//! or `uki` ("Each boot loader menu entry drop-in snippet must include at
//! least a `linux` or an `efi` key"; `uki` is the spec's newer third
//! kind); every stored value is non-empty, valid UTF-8 without control
//! characters other than tab; its id is its file name without the boot
//! counter.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::lines::parse_lines;
use crate::{Error, Warning, WarningKind, MAX_FILE_SIZE};

/// The file name suffix of Type #1 entries (compared without regard to
/// ASCII case: the ESP is FAT).
const SUFFIX: &str = ".conf";

/// Longest accepted file name, in characters (BLS: "at most 255
/// characters (including the file name suffix)").
const MAX_NAME_CHARS: usize = 255;

/// A firmware architecture, named as the BLS `architecture` key names it:
/// "using the architecture vocabulary defined by the EFI specification
/// (i.e. `IA32`, `x64`, `IA64`, `ARM`, `AA64`, …)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64, EFI name `x64`.
    X64,
    /// AArch64, EFI name `AA64`.
    Aa64,
}

impl Arch {
    /// The architecture this crate is compiled for, if it is one vmfw runs
    /// on.
    pub const fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aa64)
        } else {
            None
        }
    }

    /// The EFI name, in lower case (`x64`, `aa64`).
    pub const fn efi_name(self) -> &'static str {
        match self {
            Arch::X64 => "x64",
            Arch::Aa64 => "aa64",
        }
    }

    /// Whether an `architecture` value names this architecture. "The
    /// comparison should be done case-insensitively." Other spellings
    /// (`x86_64`, `arm64`) do not match, as in systemd-boot.
    pub fn matches(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.efi_name())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.efi_name())
    }
}

/// The boot counter of an entry file named `NAME+LEFT-DONE.conf` or
/// `NAME+LEFT.conf` (BLS "Boot counting").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootCounter {
    /// "tries left": boot attempts still to be made. 0 marks the entry
    /// "bad"; above 0 it is "indeterminate".
    pub left: u32,
    /// "tries done": failed attempts so far; 0 when the name has no
    /// `-DONE` part ("If the second counter is missing, then it is assumed
    /// to be equivalent to zero").
    pub done: u32,
}

/// One parsed Type #1 entry.
///
/// Paths (`linux`, `initrd`, `devicetree`, …) are returned as written: "a
/// path relative to the root of the file system containing the boot entry
/// snippet itself", with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    file_name: String,
    id: String,
    counter: Option<BootCounter>,
    title: Option<String>,
    version: Option<String>,
    machine_id: Option<String>,
    sort_key: Option<String>,
    linux: Option<String>,
    initrd: Vec<String>,
    efi: Option<String>,
    uki: Option<String>,
    options: String,
    architecture: Option<String>,
    devicetree: Option<String>,
    devicetree_overlay: Vec<String>,
}

/// Parses a boot counter suffix `LEFT` or `LEFT-DONE` (decimal, at least
/// one digit each). `None` if `s` is anything else or a number overflows
/// `u32`, in which case the name has no counter (systemd-boot does the
/// same with numbers above `INT_MAX`).
fn parse_counter(s: &str) -> Option<BootCounter> {
    fn number(s: &str) -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let (left, done) = match s.split_once('-') {
        Some((l, d)) => (number(l)?, number(d)?),
        None => (number(s)?, 0),
    };
    Some(BootCounter { left, done })
}

/// Splits an entry file name into its id (the name without the counter)
/// and the counter.
fn split_file_name(name: &str) -> Result<(String, Option<BootCounter>), Error> {
    let suffix_at = name.len().checked_sub(SUFFIX.len()).ok_or(Error::BadFileName)?;
    let (stem, suffix) = name.split_at_checked(suffix_at).ok_or(Error::BadFileName)?;
    if !suffix.eq_ignore_ascii_case(SUFFIX)
        || stem.is_empty()
        || stem.starts_with('.')
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::BadFileName);
    }
    // "A boot loader entry file name may contain a plus (+) followed by a
    // number. This may optionally be followed by a minus (-) followed by a
    // second number. The dot (.) and file name suffix (conf or efi) must
    // immediately follow." Like systemd-boot we look at the last `+`.
    if let Some((base, count)) = stem.rsplit_once('+') {
        if let Some(counter) = parse_counter(count) {
            let mut id = String::from(base);
            id.push_str(suffix);
            return Ok((id, Some(counter)));
        }
    }
    Ok((String::from(name), None))
}

/// Whether `s` holds a GRUB-style variable reference: a `$` followed by a
/// letter, `_` or `{` (`$kernelopts`, `$tuned_initrd`, `${foo}`).
fn has_grub_variable(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| matches!(w, [b'$', c] if c.is_ascii_alphabetic() || *c == b'_' || *c == b'{'))
}

impl Entry {
    /// Parses entry file `file_name` (the name inside `/loader/entries/`,
    /// e.g. `fedora-6.8.5-301.fc40.x86_64+3-0.conf`) with contents `data`.
    ///
    /// Keys (BLS "Type #1 Boot Loader Entry Keys"): `title`, `version`,
    /// `machine-id`, `sort-key`, `linux`, `efi`, `uki`, `architecture`,
    /// `devicetree` take one value (when repeated, the last one wins with a
    /// [`WarningKind::Duplicate`] warning, as systemd-boot keeps the last);
    /// `initrd` may repeat ("all specified images are used, in the order
    /// they are listed"); `options` may repeat ("all specified parameters
    /// are combined in the order they are listed", joined with one space);
    /// `devicetree-overlay` holds space-separated paths and may repeat.
    /// Other keys (`uki-url`, `profile`, `extra`, GRUB's `grub_users`, …)
    /// are ignored. Malformed lines are skipped with a warning (see
    /// [`WarningKind`]).
    ///
    /// Errors: [`Error::TooLarge`] for more than [`MAX_FILE_SIZE`] bytes,
    /// [`Error::BadFileName`] if `file_name` does not end in `.conf`
    /// (in any case), has nothing before it, starts with `.` (a hidden
    /// file), is longer than 255 characters or holds a control character or
    /// a path separator, and [`Error::NoKernel`] if the entry has none of
    /// `linux`, `efi` and `uki`.
    pub fn parse(file_name: &str, data: &[u8]) -> Result<(Entry, Vec<Warning>), Error> {
        if data.len() > MAX_FILE_SIZE {
            return Err(Error::TooLarge(data.len()));
        }
        let (id, counter) = split_file_name(file_name)?;
        let (lines, mut warnings) = parse_lines(data);
        let mut e = Entry {
            file_name: String::from(file_name),
            id,
            counter,
            title: None,
            version: None,
            machine_id: None,
            sort_key: None,
            linux: None,
            initrd: Vec::new(),
            efi: None,
            uki: None,
            options: String::new(),
            architecture: None,
            devicetree: None,
            devicetree_overlay: Vec::new(),
        };
        for line in lines {
            let single = match line.key {
                "title" => &mut e.title,
                "version" => &mut e.version,
                "machine-id" => &mut e.machine_id,
                "sort-key" => &mut e.sort_key,
                "linux" => &mut e.linux,
                "efi" => &mut e.efi,
                "uki" => &mut e.uki,
                "architecture" => &mut e.architecture,
                "devicetree" => &mut e.devicetree,
                "initrd" => {
                    e.initrd.push(String::from(line.value));
                    continue;
                }
                "options" => {
                    if !e.options.is_empty() {
                        e.options.push(' ');
                    }
                    e.options.push_str(line.value);
                    continue;
                }
                "devicetree-overlay" => {
                    e.devicetree_overlay.extend(
                        line.value.split([' ', '\t']).filter(|s| !s.is_empty()).map(String::from),
                    );
                    continue;
                }
                _ => continue,
            };
            if single.is_some() {
                warnings.push(Warning {
                    line: line.number,
                    kind: WarningKind::Duplicate(known_key(line.key)),
                });
            }
            *single = Some(String::from(line.value));
        }
        if e.linux.is_none() && e.efi.is_none() && e.uki.is_none() {
            return Err(Error::NoKernel);
        }
        Ok((e, warnings))
    }

    /// The file name this entry was parsed from.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The entry's identifier: the file name without the boot counter,
    /// `.conf` suffix included (`foo+3-1.conf` → `foo.conf`). Stable while
    /// boot counting renames the file; this is what loader.conf's `default`
    /// is matched against (with and without the suffix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id without its `.conf` suffix, which the BLS "Sorting" rule 4
    /// compares ("the file name of the entry …, with the suffix removed").
    pub fn id_without_suffix(&self) -> &str {
        let end = self.id.len().saturating_sub(SUFFIX.len());
        self.id.get(..end).unwrap_or_default()
    }

    /// The boot counter from the file name, if it has one.
    pub fn boot_counter(&self) -> Option<BootCounter> {
        self.counter
    }

    /// The file name boot counting gives this entry when a boot of it is
    /// started (BLS "Boot counting": tries left − 1, tries done + 1, so
    /// `foo+3.conf` → `foo+2-1.conf`, `foo+1-2.conf` → `foo+0-3.conf`).
    /// `None` when the name has no counter, no tries are left, or the
    /// done count would overflow: such a file is booted without renaming.
    pub fn counted_file_name(&self) -> Option<String> {
        let c = self.counter.filter(|c| c.left > 0)?;
        let done = c.done.checked_add(1)?;
        let (base, rest) = self.file_name.rsplit_once('+')?;
        // The suffix keeps the spelling the file had (`.conf` or `.CONF`).
        let suffix = rest.get(rest.len().checked_sub(SUFFIX.len())?..)?;
        Some(alloc::format!("{base}+{}-{done}{suffix}", c.left - 1))
    }

    /// Whether boot counting marked this entry "bad" (no tries left).
    pub fn is_bad(&self) -> bool {
        self.counter.is_some_and(|c| c.left == 0)
    }

    /// `title`: a human-readable name; need not be unique.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// `version`: a human-readable version, used for sorting.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `machine-id`: the OS's machine ID (32 lower-case hex digits by the
    /// spec, not checked here), used for sorting.
    pub fn machine_id(&self) -> Option<&str> {
        self.machine_id.as_deref()
    }

    /// `sort-key`: the primary sorting key, usually os-release `ID=`.
    pub fn sort_key(&self) -> Option<&str> {
        self.sort_key.as_deref()
    }

    /// `linux`: the kernel image.
    pub fn linux(&self) -> Option<&str> {
        self.linux.as_deref()
    }

    /// `initrd` lines, in file order.
    pub fn initrd(&self) -> &[String] {
        &self.initrd
    }

    /// `efi`: an EFI program to run instead of a kernel.
    pub fn efi(&self) -> Option<&str> {
        self.efi.as_deref()
    }

    /// `uki`: a unified kernel image, run with Type #2 semantics.
    pub fn uki(&self) -> Option<&str> {
        self.uki.as_deref()
    }

    /// All `options` lines joined with single spaces; `None` if there were
    /// none.
    pub fn options(&self) -> Option<&str> {
        if self.options.is_empty() {
            None
        } else {
            Some(&self.options)
        }
    }

    /// `architecture`, as written.
    pub fn architecture(&self) -> Option<&str> {
        self.architecture.as_deref()
    }

    /// `devicetree`: the device tree blob to pass to the kernel.
    pub fn devicetree(&self) -> Option<&str> {
        self.devicetree.as_deref()
    }

    /// `devicetree-overlay` paths, in the order to apply them.
    pub fn devicetree_overlays(&self) -> &[String] {
        &self.devicetree_overlay
    }

    /// Whether the entry is for `arch`: true when `architecture` is unset
    /// or names `arch`. "If specified and it does not match the local
    /// system architecture this entry should be hidden."
    pub fn runs_on(&self, arch: Arch) -> bool {
        self.architecture.as_deref().is_none_or(|a| arch.matches(a))
    }

    /// Whether `options`, `linux`, `initrd` or `devicetree` hold a
    /// GRUB-style variable (`$kernelopts`, `$tuned_initrd`, `${x}`: a `$`
    /// followed by a letter, `_` or `{`). Fedora-style entries written for
    /// GRUB's `blscfg` use them; only GRUB can expand them, so a native
    /// boot of such an entry would pass a wrong command line or open a file
    /// that does not exist.
    pub fn has_unexpanded_variables(&self) -> bool {
        has_grub_variable(&self.options)
            || self.linux.as_deref().is_some_and(has_grub_variable)
            || self.initrd.iter().any(|s| has_grub_variable(s))
            || self.devicetree.as_deref().is_some_and(has_grub_variable)
    }
}

/// The `'static` name of a single-valued key (for warnings).
fn known_key(key: &str) -> &'static str {
    const KEYS: [&str; 9] = [
        "title",
        "version",
        "machine-id",
        "sort-key",
        "linux",
        "efi",
        "uki",
        "architecture",
        "devicetree",
    ];
    KEYS.into_iter().find(|k| *k == key).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const FEDORA: &str = "\
title Fedora Linux (6.8.5-301.fc40.x86_64) 40 (Workstation Edition)
version 6.8.5-301.fc40.x86_64
linux /vmlinuz-6.8.5-301.fc40.x86_64
initrd /initramfs-6.8.5-301.fc40.x86_64.img $tuned_initrd
options root=UUID=0b2e3c1a-6c7e-4d8e-9f1a-2b3c4d5e6f70 ro rhgb quiet $tuned_params
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
";

    fn parse(name: &str, text: &str) -> (Entry, Vec<(usize, WarningKind)>) {
        let (e, w) = Entry::parse(name, text.as_bytes()).unwrap();
        (e, w.iter().map(|w| (w.line, w.kind)).collect())
    }

    #[test]
    fn counted_file_names() {
        let name = |f: &str| Entry::parse(f, b"linux /k\n").map(|(e, _)| e.counted_file_name());
        assert_eq!(name("foo+3.conf").unwrap().as_deref(), Some("foo+2-1.conf"));
        assert_eq!(name("foo+1-2.conf").unwrap().as_deref(), Some("foo+0-3.conf"));
        assert_eq!(name("a+b+2-0.CONF").unwrap().as_deref(), Some("a+b+1-1.CONF"));
        assert_eq!(name("foo+0-3.conf").unwrap(), None);
        assert_eq!(name("foo.conf").unwrap(), None);
        assert_eq!(name("foo+x.conf").unwrap(), None);
        assert_eq!(name("foo+1-4294967295.conf").unwrap(), None);
    }

    #[test]
    fn all_keys() {
        let text = "\
# /boot/loader/entries/6a9857a393724b7a981ebb5b8495b9ea-3.8.0-2.fc19.x86_64.conf
title        Fedora 19 (Rawhide)
sort-key     fedora
machine-id   6a9857a393724b7a981ebb5b8495b9ea
version      3.8.0-2.fc19.x86_64
options      root=UUID=6d3376e4-fc93-4509-95ec-a21d68011da2 quiet
architecture x64
linux        /6a9857a393724b7a981ebb5b8495b9ea/3.8.0-2.fc19.x86_64/linux
initrd       /6a9857a393724b7a981ebb5b8495b9ea/3.8.0-2.fc19.x86_64/initrd
devicetree   /dtb/a.dtb
devicetree-overlay /o/a.dtbo  /o/b.dtbo
devicetree-overlay /o/c.dtbo
efi          /EFI/tool.efi
uki          /EFI/Linux/a.efi
profile      1
extra        /x.cred
";
        let name = "6a9857a393724b7a981ebb5b8495b9ea-3.8.0-2.fc19.x86_64.conf";
        let (e, w) = parse(name, text);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(e.file_name(), name);
        assert_eq!(e.id(), name);
        assert_eq!(e.id_without_suffix(), "6a9857a393724b7a981ebb5b8495b9ea-3.8.0-2.fc19.x86_64");
        assert_eq!(e.boot_counter(), None);
        assert_eq!(e.title(), Some("Fedora 19 (Rawhide)"));
        assert_eq!(e.sort_key(), Some("fedora"));
        assert_eq!(e.machine_id(), Some("6a9857a393724b7a981ebb5b8495b9ea"));
        assert_eq!(e.version(), Some("3.8.0-2.fc19.x86_64"));
        assert_eq!(e.options(), Some("root=UUID=6d3376e4-fc93-4509-95ec-a21d68011da2 quiet"));
        assert_eq!(e.architecture(), Some("x64"));
        assert_eq!(e.linux(), Some("/6a9857a393724b7a981ebb5b8495b9ea/3.8.0-2.fc19.x86_64/linux"));
        assert_eq!(e.initrd(), ["/6a9857a393724b7a981ebb5b8495b9ea/3.8.0-2.fc19.x86_64/initrd"]);
        assert_eq!(e.devicetree(), Some("/dtb/a.dtb"));
        assert_eq!(e.devicetree_overlays(), ["/o/a.dtbo", "/o/b.dtbo", "/o/c.dtbo"]);
        assert_eq!(e.efi(), Some("/EFI/tool.efi"));
        assert_eq!(e.uki(), Some("/EFI/Linux/a.efi"));
        assert!(!e.has_unexpanded_variables());
    }

    #[test]
    fn several_initrds_and_options_in_order() {
        let (e, _) = parse(
            "debian.conf",
            "linux /vmlinuz\ninitrd /intel-ucode.img\noptions  root=/dev/vda1   ro\ninitrd /initrd.img\n# x\noptions quiet\noptions\tconsole=ttyS0\n",
        );
        assert_eq!(e.initrd(), ["/intel-ucode.img", "/initrd.img"]);
        assert_eq!(e.options(), Some("root=/dev/vda1   ro quiet console=ttyS0"));
        let (e, _) = parse("a.conf", "linux /vmlinuz\n");
        assert_eq!(e.options(), None);
        assert!(e.initrd().is_empty());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let (e, w) = parse(
            "a.conf",
            "title=Broken\nlinux /vmlinuz\noptions\nversion 1\nversion 2\ntitle ok\n",
        );
        assert_eq!(e.title(), Some("ok"));
        assert_eq!(e.version(), Some("2"));
        assert_eq!(
            w,
            vec![
                (1, WarningKind::BadKey),
                (3, WarningKind::MissingValue),
                (5, WarningKind::Duplicate("version")),
            ]
        );
        let (e, w) = Entry::parse("a.conf", b"linux /a\ntitle \xff\n").unwrap();
        assert_eq!(e.title(), None);
        assert_eq!((w[0].line, w[0].kind), (2, WarningKind::NotUtf8));
    }

    #[test]
    fn needs_a_kernel() {
        assert_eq!(Entry::parse("a.conf", b"title x\n"), Err(Error::NoKernel));
        assert_eq!(Entry::parse("a.conf", b""), Err(Error::NoKernel));
        assert_eq!(Entry::parse("a.conf", b"linux\n"), Err(Error::NoKernel));
        assert!(Entry::parse("a.conf", b"efi /EFI/x.efi\n").is_ok());
        assert!(Entry::parse("a.conf", b"uki /EFI/Linux/x.efi\n").is_ok());
    }

    #[test]
    fn size_limit() {
        let mut data = vec![b'#'; MAX_FILE_SIZE - 9];
        data.extend_from_slice(b"\nlinux /a");
        assert_eq!(data.len(), MAX_FILE_SIZE);
        assert!(Entry::parse("a.conf", &data).is_ok());
        data.push(b'b');
        assert_eq!(Entry::parse("a.conf", &data), Err(Error::TooLarge(MAX_FILE_SIZE + 1)));
    }

    #[test]
    fn file_names() {
        for bad in
            ["", ".conf", "a.con", "a.txt", ".hidden.conf", "a/b.conf", "a\\b.conf", "a\nb.conf"]
        {
            assert_eq!(Entry::parse(bad, b"linux /a"), Err(Error::BadFileName), "{bad:?}");
        }
        let long = alloc::format!("{}.conf", "a".repeat(250));
        assert!(Entry::parse(&long, b"linux /a").is_ok());
        let long = alloc::format!("{}.conf", "a".repeat(251));
        assert_eq!(Entry::parse(&long, b"linux /a"), Err(Error::BadFileName));
        let (e, _) = parse("UPPER.CONF", "linux /a");
        assert_eq!(e.id(), "UPPER.CONF");
        assert_eq!(e.id_without_suffix(), "UPPER");
    }

    #[test]
    fn boot_counting() {
        let cases = [
            ("foo+3-0.conf", "foo.conf", Some((3, 0))),
            ("foo+3.conf", "foo.conf", Some((3, 0))),
            ("foo+0-5.conf", "foo.conf", Some((0, 5))),
            ("foo+09-01.conf", "foo.conf", Some((9, 1))),
            ("a+b+2-1.CONF", "a+b.CONF", Some((2, 1))),
            ("foo.conf", "foo.conf", None),
            ("foo+.conf", "foo+.conf", None),
            ("foo+3-.conf", "foo+3-.conf", None),
            ("foo+-3.conf", "foo+-3.conf", None),
            ("foo+3-1-2.conf", "foo+3-1-2.conf", None),
            ("foo+3x.conf", "foo+3x.conf", None),
            ("foo+3-0.bar.conf", "foo+3-0.bar.conf", None),
            ("foo+4294967296.conf", "foo+4294967296.conf", None),
            ("foo+4294967295.conf", "foo.conf", Some((u32::MAX, 0))),
            ("+1.conf", ".conf", Some((1, 0))),
        ];
        for (name, id, counter) in cases {
            let (e, _) = parse(name, "linux /a");
            assert_eq!(e.id(), id, "{name}");
            assert_eq!(
                e.boot_counter(),
                counter.map(|(left, done)| BootCounter { left, done }),
                "{name}"
            );
            assert_eq!(e.is_bad(), counter.is_some_and(|c| c.0 == 0), "{name}");
        }
    }

    #[test]
    fn architecture() {
        let (e, _) = parse("a.conf", "linux /a\narchitecture AA64\n");
        assert!(e.runs_on(Arch::Aa64));
        assert!(!e.runs_on(Arch::X64));
        let (e, _) = parse("a.conf", "linux /a\narchitecture x64\n");
        assert!(e.runs_on(Arch::X64));
        assert!(!e.runs_on(Arch::Aa64));
        let (e, _) = parse("a.conf", "linux /a\narchitecture x86_64\n");
        assert!(!e.runs_on(Arch::X64));
        let (e, _) = parse("a.conf", "linux /a\n");
        assert!(e.runs_on(Arch::X64) && e.runs_on(Arch::Aa64));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Arch::native(), Some(Arch::X64));
        assert_eq!(alloc::format!("{}", Arch::Aa64), "aa64");
    }

    #[test]
    fn grub_variables() {
        let (e, _) = parse("fedora.conf", FEDORA);
        assert!(e.has_unexpanded_variables());
        for (text, want) in [
            ("linux /a\noptions $kernelopts\n", true),
            ("linux /a\noptions root=/dev/vda ${extra}\n", true),
            ("linux /a\noptions root=/dev/vda $_x\n", true),
            ("linux /a\ninitrd /i $tuned_initrd\n", true),
            ("linux /$v/vmlinuz\n", true),
            ("linux /a\ndevicetree /$dtb\n", true),
            ("linux /a\noptions price=$5 x=$ y$\n", false),
            ("linux /a\noptions root=/dev/vda quiet\n", false),
            // Title and unknown keys are not used for booting.
            ("linux /a\ntitle $x\ngrub_users $grub_users\n", false),
        ] {
            let (e, _) = parse("a.conf", text);
            assert_eq!(e.has_unexpanded_variables(), want, "{text:?}");
        }
    }
}
