//! loader.conf: parse it, then pick the default among a fixed set of
//! entries, which exercises the glob matcher on the `default` pattern.
//!
//! Input: the loader.conf bytes. Seeds in `seeds/bls_loader_conf/` are
//! hand-written files in the styles bootctl and installers write.
#![no_main]

use std::cmp::Ordering;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmfw_bls::{compare_entries, glob_match, select_default, Entry, LoaderConf, Timeout};

const NAMES: [&str; 8] = [
    "3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c-6.1.0-18-amd64.conf",
    "3a6f5b1c0d2e4f8a9b7c6d5e4f3a2b1c-6.1.0-9-amd64+2-1.conf",
    "fedora-6.8.5-301.fc40.x86_64.conf",
    "fedora-6.9.1-300.fc40.x86_64+0-3.conf",
    "arch.conf",
    "arch-fallback.conf",
    "Ubuntu-[x]*.CONF",
    "a.conf",
];

fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let text = format!(
                    "linux /vmlinuz\nversion {i}\n{}",
                    if i % 3 == 0 { "sort-key x\n" } else { "" }
                );
                Entry::parse(n, text.as_bytes()).expect("fixed entry").0
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok((conf, warnings)) = LoaderConf::parse(data) else {
        assert!(data.len() > vmfw_bls::MAX_FILE_SIZE);
        return;
    };
    let lines = data.split(|&b| b == b'\n').count();
    for w in &warnings {
        assert!(w.line >= 1 && w.line <= lines);
        let _ = w.to_string();
    }
    if let Some(Timeout::Seconds(n)) = conf.timeout {
        assert!(n > 0);
    }
    let _ = conf.timeout_or_default();

    let entries = entries();
    let chosen = select_default(&conf, entries).expect("entries are not empty");
    let first =
        (0..entries.len()).min_by(|&a, &b| compare_entries(&entries[a], &entries[b])).unwrap();
    match &conf.default {
        None => assert_eq!(chosen, first),
        Some(pattern) => {
            assert!(!pattern.starts_with('@'));
            let p = pattern.to_ascii_lowercase();
            let matches = |e: &Entry| {
                glob_match(&p, &e.id().to_ascii_lowercase())
                    || glob_match(&p, &e.id_without_suffix().to_ascii_lowercase())
            };
            let best = (0..entries.len())
                .filter(|&i| matches(&entries[i]))
                .min_by(|&a, &b| compare_entries(&entries[a], &entries[b]));
            assert_eq!(chosen, best.unwrap_or(first));
            if let Some(b) = best {
                for (i, e) in entries.iter().enumerate() {
                    if matches(e) {
                        assert_ne!(compare_entries(e, &entries[b]), Ordering::Less, "{i}");
                    }
                }
            }
            // The matcher itself on a few direct inputs.
            let _ = glob_match(pattern, pattern);
            let _ = glob_match(pattern, "");
        }
    }
});
