//! Cross-module tests: menu order, default selection, the menu, and
//! mutation loops over realistic files.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::*;

fn entry(name: &str, text: &str) -> Entry {
    let text = if text.contains("linux ") {
        String::from(text)
    } else {
        format!("linux /vmlinuz\n{text}")
    };
    Entry::parse(name, text.as_bytes()).unwrap().0
}

fn ids(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(Entry::id).collect()
}

/// Sorts `entries` from every rotation of the input and checks that the
/// result is always `want` (so the order does not depend on directory
/// order).
#[track_caller]
fn assert_order(entries: &[Entry], want: &[&str]) {
    for r in 0..entries.len().max(1) {
        let mut v = entries.to_vec();
        v.rotate_left(r);
        sort_entries(&mut v);
        assert_eq!(ids(&v), want, "rotation {r}");
        v.reverse();
        sort_entries(&mut v);
        assert_eq!(ids(&v), want, "reversed rotation {r}");
    }
}

/// systemd's own sort test (test-bootspec.c), which follows the BLS rules.
#[test]
fn systemd_example_order() {
    let entries = [
        entry("a-10.conf", "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f\n"),
        entry("a-5.conf", "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f\n"),
        entry("b.conf", "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd\n"),
        entry(
            "c.conf",
            "title C\nsort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176\n",
        ),
        entry(
            "cx.conf",
            "title C\nsort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176\n",
        ),
        entry(
            "d.conf",
            "title D\nsort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292\n",
        ),
    ];
    assert_order(&entries, &["d.conf", "cx.conf", "c.conf", "b.conf", "a-10.conf", "a-5.conf"]);
}

/// Rule 1: bad entries after all others, whatever else they have.
#[test]
fn rule1_bad_entries_last() {
    let entries = [
        entry("z-99+0-3.conf", "sort-key aaa\nversion 99\n"),
        entry("a-1.conf", ""),
        entry("m-2+1-2.conf", ""),
        entry("y-1+0.conf", ""),
    ];
    // Among themselves, bad entries follow the other rules.
    assert_order(&entries, &["m-2.conf", "a-1.conf", "z-99.conf", "y-1.conf"]);
}

/// Rule 2: sort-key ascending, then machine-id ascending, then version
/// descending.
#[test]
fn rule2_sort_key_machine_id_version() {
    let entries = [
        entry("1.conf", "sort-key fedora\nmachine-id bbbb\nversion 6.9.1\n"),
        entry("2.conf", "sort-key fedora\nmachine-id aaaa\nversion 6.1.0\n"),
        entry("3.conf", "sort-key fedora\nmachine-id aaaa\nversion 6.10.0\n"),
        entry("4.conf", "sort-key debian\nmachine-id zzzz\nversion 1\n"),
        entry("5.conf", "sort-key fedora\nversion 7\n"),
        entry("6.conf", "sort-key fedora\nmachine-id aaaa\n"),
        entry("7.conf", "sort-key Fedora\nmachine-id aaaa\nversion 1\n"),
    ];
    // "Fedora" < "debian" < "fedora" bytewise; a missing machine-id and a
    // missing version compare lower (the missing version is "oldest").
    assert_order(&entries, &["7.conf", "4.conf", "5.conf", "3.conf", "2.conf", "6.conf", "1.conf"]);
}

/// Rule 3: an entry with a sort-key before one without, even when the one
/// without would win on name or version.
#[test]
fn rule3_sort_key_first() {
    let entries =
        [entry("zzz-9.conf", "version 9\n"), entry("aaa-1.conf", "sort-key zzz\nversion 1\n")];
    assert_order(&entries, &["aaa-1.conf", "zzz-9.conf"]);
}

/// Rule 4: file names in decreasing version order, without `.conf`, also
/// as the tie-break when sort-key, machine-id and version are equal.
#[test]
fn rule4_file_names_newest_first() {
    let entries = [
        entry("debian-6.1.0-9-amd64.conf", ""),
        entry("debian-6.1.0-18-amd64.conf", ""),
        entry("debian-6.1.0-18-amd64~rc1.conf", ""),
        entry("debian-5.10.0-28-amd64.conf", ""),
        entry("arch.conf", ""),
    ];
    assert_order(
        &entries,
        &[
            "debian-6.1.0-18-amd64.conf",
            "debian-6.1.0-18-amd64~rc1.conf",
            "debian-6.1.0-9-amd64.conf",
            "debian-5.10.0-28-amd64.conf",
            "arch.conf",
        ],
    );
    // "with the suffix removed": "a-1" is newer than "a". (systemd-boot
    // compares "a-1.conf" with "a.conf" and would put "a.conf" first.)
    assert_order(&[entry("a.conf", ""), entry("a-1.conf", "")], &["a-1.conf", "a.conf"]);
    // Equal sort-key, machine-id and version: the name decides.
    let entries = [
        entry("fedora-a.conf", "sort-key fedora\nversion 40\n"),
        entry("fedora-b.conf", "sort-key fedora\nversion 40\n"),
    ];
    assert_order(&entries, &["fedora-b.conf", "fedora-a.conf"]);
}

/// Rule 5: same id, different boot counters.
#[test]
fn rule5_boot_counters() {
    let entries = [
        entry("foo+1-2.conf", ""),
        entry("foo+3-0.conf", ""),
        entry("foo.conf", ""),
        entry("foo+1-1.conf", ""),
        entry("foo+0-1.conf", ""),
        entry("foo+0-4.conf", ""),
    ];
    let mut v = entries.to_vec();
    sort_entries(&mut v);
    let names: Vec<&str> = v.iter().map(Entry::file_name).collect();
    assert_eq!(
        names,
        [
            "foo.conf",
            "foo+3-0.conf",
            "foo+1-1.conf",
            "foo+1-2.conf",
            "foo+0-1.conf",
            "foo+0-4.conf"
        ]
    );
}

/// Rule 6: entries equal under the spec's rules keep a fixed order.
#[test]
fn rule6_total_order() {
    let a = entry("a-01.conf", "");
    let b = entry("a-1.conf", "");
    assert_eq!(compare_versions("a-01", "a-1"), Ordering::Equal);
    assert_eq!(compare_entries(&a, &b), Ordering::Less);
    assert_eq!(compare_entries(&b, &a), Ordering::Greater);
    assert_eq!(compare_entries(&a, &a), Ordering::Equal);
}

/// `compare_entries` is a total order on a varied set (all triples).
#[test]
fn entry_order_is_total() {
    let mut v = Vec::new();
    for name in ["a", "a-1", "a-01", "b-2", "A", "a.1"] {
        for counter in ["", "+0-1", "+2-0", "+2"] {
            for text in
                ["", "sort-key s\n", "sort-key s\nversion 2\n", "sort-key t\nmachine-id m\n"]
            {
                v.push(entry(&format!("{name}{counter}.conf"), text));
            }
        }
    }
    for a in &v {
        for b in &v {
            let ab = compare_entries(a, b);
            assert_eq!(ab, compare_entries(b, a).reverse());
            for c in &v {
                let bc = compare_entries(b, c);
                if ab == bc {
                    assert_eq!(compare_entries(a, c), ab);
                }
            }
        }
    }
}

fn conf(text: &str) -> LoaderConf {
    LoaderConf::parse(text.as_bytes()).unwrap().0
}

fn default_id<'a>(conf: &LoaderConf, entries: &'a [Entry]) -> Option<&'a str> {
    select_default(conf, entries).map(|i| entries[i].id())
}

fn debian_entries() -> Vec<Entry> {
    Vec::from([
        entry("debian-6.1.0-9-amd64.conf", ""),
        entry(
            "fedora-6.8.5-301.fc40.x86_64.conf",
            "sort-key fedora\nversion 6.8.5-301.fc40.x86_64\n",
        ),
        entry("debian-6.1.0-18-amd64.conf", ""),
        entry(
            "fedora-6.9.1-300.fc40.x86_64.conf",
            "sort-key fedora\nversion 6.9.1-300.fc40.x86_64\n",
        ),
    ])
}

#[test]
fn default_without_pattern_is_first_in_menu_order() {
    let entries = debian_entries();
    assert_eq!(
        default_id(&LoaderConf::default(), &entries),
        Some("fedora-6.9.1-300.fc40.x86_64.conf")
    );
    assert_eq!(select_default(&LoaderConf::default(), &[]), None);
    assert_eq!(select_default(&conf("default x\n"), &[]), None);
}

#[test]
fn default_glob_picks_first_match_in_menu_order() {
    let entries = debian_entries();
    // Several matches: the one first in menu order (newest).
    assert_eq!(
        default_id(&conf("default debian-*\n"), &entries),
        Some("debian-6.1.0-18-amd64.conf")
    );
    assert_eq!(
        default_id(&conf("default debian-*.conf\n"), &entries),
        Some("debian-6.1.0-18-amd64.conf")
    );
    assert_eq!(
        default_id(&conf("default *\n"), &entries),
        Some("fedora-6.9.1-300.fc40.x86_64.conf")
    );
    // `?` and sets.
    assert_eq!(
        default_id(&conf("default debian-6.1.0-?-amd64\n"), &entries),
        Some("debian-6.1.0-9-amd64.conf")
    );
    assert_eq!(
        default_id(&conf("default *-6.[0-8].*\n"), &entries),
        Some("fedora-6.8.5-301.fc40.x86_64.conf")
    );
    // Exact names, with and without the suffix, in any case.
    for pattern in
        ["debian-6.1.0-9-amd64.conf", "debian-6.1.0-9-amd64", "DEBIAN-6.1.0-9-AMD64.CONF"]
    {
        let c = conf(&format!("default {pattern}\n"));
        assert_eq!(default_id(&c, &entries), Some("debian-6.1.0-9-amd64.conf"), "{pattern}");
    }
    // No match: first in menu order.
    assert_eq!(
        default_id(&conf("default ubuntu-*\n"), &entries),
        Some("fedora-6.9.1-300.fc40.x86_64.conf")
    );
    // A malformed pattern matches nothing.
    assert_eq!(
        default_id(&conf("default debian-[\n"), &entries),
        Some("fedora-6.9.1-300.fc40.x86_64.conf")
    );
}

/// The loader.conf that tripped a competing firmware: it starts with a
/// comment, and the default is not the first entry in menu order.
#[test]
fn default_from_loader_conf_starting_with_comment() {
    let entries = debian_entries();
    for text in [
        "# This file was written by the installer.\ndefault debian-6.1.0-9-amd64.conf\ntimeout 0\n",
        "#default fedora-*\ndefault debian-6.1.0-9-amd64.conf\n",
        "#\n#\n\ndefault debian-6.1.0-9-amd64.conf\n",
        "# comment\r\ndefault debian-6.1.0-9-amd64.conf\r\n",
    ] {
        let (c, w) = LoaderConf::parse(text.as_bytes()).unwrap();
        assert!(w.is_empty(), "{text:?}: {w:?}");
        assert_eq!(default_id(&c, &entries), Some("debian-6.1.0-9-amd64.conf"), "{text:?}");
        let menu = Menu::new(&c, entries.clone(), Arch::X64);
        assert_eq!(menu.default_entry().map(Entry::id), Some("debian-6.1.0-9-amd64.conf"));
    }
}

#[test]
fn default_matches_id_without_boot_counter() {
    let entries = [entry("b.conf", ""), entry("a+2-1.conf", "")];
    assert_eq!(default_id(&conf("default a.conf\n"), &entries), Some("a.conf"));
    assert_eq!(default_id(&conf("default a\n"), &entries), Some("a.conf"));
    // The counter is not part of the id.
    assert_eq!(default_id(&conf("default a+2-1.conf\n"), &entries), Some("b.conf"));
}

#[test]
fn default_bad_entries() {
    let entries = [entry("new+0-3.conf", ""), entry("old.conf", "")];
    // Not named: the bad entry is not the default.
    assert_eq!(default_id(&LoaderConf::default(), &entries), Some("old.conf"));
    // Named explicitly: chosen anyway, as in systemd-boot.
    assert_eq!(default_id(&conf("default new*\n"), &entries), Some("new.conf"));
    // All bad: the first of them.
    let entries = [entry("a+0.conf", ""), entry("b+0.conf", "")];
    assert_eq!(default_id(&LoaderConf::default(), &entries), Some("b.conf"));
}

#[test]
fn menu_filters_sorts_and_orders_boot_attempts() {
    let (c, _) = LoaderConf::parse(b"default arch-*\n").unwrap();
    let entries = Vec::from([
        entry("arm-6.1.conf", "architecture aa64\n"),
        entry("arch-1.conf", "architecture X64\n"),
        entry("zz-2.conf", ""),
        entry("arch-2.conf", ""),
        entry("other.conf", "architecture x86_64\n"),
    ]);
    let menu = Menu::new(&c, entries.clone(), Arch::X64);
    assert_eq!(ids(menu.entries()), ["zz-2.conf", "arch-2.conf", "arch-1.conf"]);
    assert_eq!(menu.default_index(), Some(1));
    assert_eq!(menu.get(2).map(Entry::id), Some("arch-1.conf"));
    assert_eq!(menu.get(3), None);
    let order: Vec<&str> = menu.boot_order().map(Entry::id).collect();
    assert_eq!(order, ["arch-2.conf", "zz-2.conf", "arch-1.conf"]);
    let excluded: Vec<String> = menu.excluded().iter().map(|x| format!("{x}")).collect();
    assert_eq!(
        excluded,
        [
            "arm-6.1.conf: architecture \"aa64\" is not this machine's (x64)",
            "other.conf: architecture \"x86_64\" is not this machine's (x64)",
        ]
    );

    let menu = Menu::new(&c, entries, Arch::Aa64);
    assert_eq!(ids(menu.entries()), ["zz-2.conf", "arm-6.1.conf", "arch-2.conf"]);
    assert_eq!(menu.default_entry().map(Entry::id), Some("arch-2.conf"));
    assert_eq!(menu.excluded().len(), 2);

    let empty = Menu::new(&c, Vec::new(), Arch::X64);
    assert_eq!(empty.default_entry(), None);
    assert_eq!(empty.boot_order().count(), 0);
}

#[test]
fn display() {
    let w = Warning { line: 3, kind: WarningKind::MissingValue };
    assert_eq!(format!("{w}"), "line 3: key without a value, ignored");
    let w = Warning { line: 7, kind: WarningKind::Duplicate("title") };
    assert_eq!(format!("{w}"), "line 7: `title` given again, this one wins");
    assert_eq!(
        format!("{}", Error::TooLarge(70000)),
        "file is 70000 bytes, more than the 65536 allowed"
    );
}

const SAMPLE_ENTRY: &[u8] = b"\
# Boot Loader Specification type#1 entry
# File created by /usr/lib/kernel/install.d/90-loaderentry.install (systemd 252.22-1~deb12u1)
title      Debian GNU/Linux 12 (bookworm)
version    6.1.0-18-amd64
machine-id 3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c
sort-key   debian
options    root=UUID=0e3a5d2c-1b4f-4e8a-9c7d-6b5a4f3e2d1c ro console=ttyS0
options    quiet
linux      /3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c/6.1.0-18-amd64/linux
initrd     /3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c/6.1.0-18-amd64/initrd.img-6.1.0-18-amd64
architecture x64
";

const SAMPLE_CONF: &[u8] = b"# See loader.conf(5) for details\n\ntimeout 3\n#console-mode keep\ndefault 3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c-*\neditor no\n";

/// Everything downstream of parsing, on whatever the parsers accepted.
fn exercise(conf: &LoaderConf, entries: Vec<Entry>) {
    for e in &entries {
        let _ = (
            e.has_unexpanded_variables(),
            e.runs_on(Arch::X64),
            e.id_without_suffix(),
            e.options(),
        );
        for f in &entries {
            assert_eq!(compare_entries(e, f), compare_entries(f, e).reverse());
            let (va, vb) = (e.version().unwrap_or(""), f.version().unwrap_or(""));
            assert_eq!(compare_versions(va, vb), compare_versions(vb, va).reverse());
        }
    }
    let menu = Menu::new(conf, entries, Arch::X64);
    assert_eq!(menu.default_entry().is_some(), !menu.entries().is_empty());
    assert_eq!(menu.boot_order().count(), menu.entries().len());
}

/// Every one-byte change and every truncation of a sample entry and
/// loader.conf: parsing never panics, and what parses sorts and selects.
#[test]
fn mutations_never_panic() {
    let (base_conf, _) = LoaderConf::parse(SAMPLE_CONF).unwrap();
    let (base_entry, w) =
        Entry::parse("3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c-6.1.0-18-amd64+3-0.conf", SAMPLE_ENTRY)
            .unwrap();
    assert!(w.is_empty());
    let values = [
        0u8, 1, b'\t', b'\n', b'\r', b' ', b'#', b'$', b'+', b'-', b'.', b'*', b'[', b'~', b'0',
        b'A', 0x7f, 0x80, 0xc3, 0xff,
    ];
    for len in 0..=SAMPLE_ENTRY.len() {
        let data = &SAMPLE_ENTRY[..len];
        let mut entries = Vec::from([base_entry.clone()]);
        if let Ok((e, _)) = Entry::parse("x.conf", data) {
            entries.push(e);
        }
        exercise(&base_conf, entries);
    }
    for len in 0..=SAMPLE_CONF.len() {
        let (c, _) = LoaderConf::parse(&SAMPLE_CONF[..len]).unwrap();
        exercise(&c, Vec::from([base_entry.clone()]));
    }
    for i in 0..SAMPLE_ENTRY.len() {
        for v in values.into_iter().chain([SAMPLE_ENTRY[i] ^ 0x20, SAMPLE_ENTRY[i] ^ 0x01]) {
            let mut data = SAMPLE_ENTRY.to_vec();
            data[i] = v;
            let mut entries = Vec::from([base_entry.clone()]);
            if let Ok((e, warnings)) = Entry::parse("3a6f-6.1.0-18-amd64+1-2.conf", &data) {
                assert!(warnings.len() <= 2, "{warnings:?}");
                entries.push(e);
            }
            exercise(&base_conf, entries);
        }
    }
    for i in 0..SAMPLE_CONF.len() {
        for v in values.into_iter().chain([SAMPLE_CONF[i] ^ 0x20]) {
            let mut data = SAMPLE_CONF.to_vec();
            data[i] = v;
            let (c, _) = LoaderConf::parse(&data).unwrap();
            exercise(&c, Vec::from([base_entry.clone()]));
        }
    }
    // The file name, too.
    let name = b"3a6f-6.1.0-18-amd64+3-0.conf";
    for i in 0..name.len() {
        for v in values {
            let mut n = name.to_vec();
            n[i] = v;
            let n = String::from_utf8_lossy(&n);
            if let Ok((e, _)) = Entry::parse(&n, SAMPLE_ENTRY) {
                exercise(&base_conf, Vec::from([base_entry.clone(), e]));
            }
        }
    }
}
