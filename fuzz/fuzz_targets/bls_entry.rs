//! BLS entry files: parse up to four entries, then check what the menu
//! code relies on (entry invariants, a total menu order, a default).
//!
//! Input: up to four records separated by a NUL byte; each record is a file
//! name, a `\n`, then the file's contents. Names are converted lossily
//! (file names come from FAT as UTF-16, so they are always valid strings);
//! contents are passed as bytes. Seeds in `seeds/bls_entry/` are
//! hand-written Debian-, Fedora- and Arch-style entries.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use vmfw_bls::{compare_entries, Arch, Entry, LoaderConf, Menu, WarningKind};

fuzz_target!(|data: &[u8]| {
    let mut entries = Vec::new();
    for record in data.split(|&b| b == 0).take(4) {
        let (name, text) = match record.iter().position(|&b| b == b'\n') {
            Some(i) => (&record[..i], &record[i + 1..]),
            None => (record, &[][..]),
        };
        let name = String::from_utf8_lossy(name);
        let Ok((e, warnings)) = Entry::parse(&name, text) else { continue };
        check_entry(&e, &name, text, &warnings);
        entries.push(e);
    }

    // A total order: antisymmetric and transitive on every triple.
    for a in &entries {
        for b in &entries {
            let ab = compare_entries(a, b);
            assert_eq!(ab, compare_entries(b, a).reverse());
            for c in &entries {
                let bc = compare_entries(b, c);
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    let ac = compare_entries(a, c);
                    assert_ne!(ac, Ordering::Greater);
                    if ab == Ordering::Less || bc == Ordering::Less {
                        assert_eq!(ac, Ordering::Less);
                    }
                }
            }
        }
    }

    for arch in [Arch::X64, Arch::Aa64] {
        let n = entries.len();
        let menu = Menu::new(&LoaderConf::default(), entries.clone(), arch);
        assert_eq!(menu.entries().len() + menu.excluded().len(), n);
        assert!(menu
            .entries()
            .windows(2)
            .all(|w| compare_entries(&w[0], &w[1]) != Ordering::Greater));
        // Without a pattern the default is the first entry.
        assert_eq!(menu.default_index(), if menu.entries().is_empty() { None } else { Some(0) });
        assert_eq!(menu.boot_order().count(), menu.entries().len());
        for x in menu.excluded() {
            assert!(!x.entry.runs_on(arch));
            let _ = x.to_string();
        }
    }
});

fn check_entry(e: &Entry, name: &str, text: &[u8], warnings: &[vmfw_bls::Warning]) {
    assert!(e.linux().is_some() || e.efi().is_some() || e.uki().is_some());
    assert_eq!(e.file_name(), name);
    assert!(e.id().len() <= name.len());
    assert!(e.id().to_ascii_lowercase().ends_with(".conf"));
    assert_eq!(e.is_bad(), e.boot_counter().is_some_and(|c| c.left == 0));
    if e.boot_counter().is_none() {
        assert_eq!(e.id(), name);
    }
    let lines = text.split(|&b| b == b'\n').count();
    for w in warnings {
        assert!(w.line >= 1 && w.line <= lines);
        let _ = w.to_string();
        if let WarningKind::Duplicate(key) = w.kind {
            assert_ne!(key, "?");
        }
    }
    // Values are single-line text without control characters, trimmed.
    let values =
        [e.title(), e.version(), e.machine_id(), e.sort_key(), e.linux(), e.efi(), e.uki()]
            .into_iter()
            .flatten()
            .chain(e.options())
            .chain(e.initrd().iter().map(String::as_str))
            .chain(e.devicetree_overlays().iter().map(String::as_str));
    for v in values {
        assert!(!v.is_empty());
        assert!(!v.chars().any(|c| c.is_ascii_control() && c != '\t'));
        assert_eq!(v, v.trim_matches([' ', '\t']));
    }
    let _ = (e.has_unexpanded_variables(), e.id_without_suffix(), e.runs_on(Arch::X64));
    assert_eq!(compare_entries(e, e), Ordering::Equal);
}
