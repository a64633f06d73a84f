//! Menu order (BLS "Sorting"), the default entry (loader.conf(5)
//! `default`), and [`Menu`], which puts both together with the
//! architecture filter (BLS `architecture` key).
//!
//! The order is a total order on entries with distinct file names, so the
//! menu is the same whatever order the directory listing had, and
//! sorting it needs no stability.

use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

use crate::{compare_versions, glob_match, Arch, BootCounter, Entry, LoaderConf};

/// Compares two entries in menu order: `Less` means `a` is shown (and
/// preferred) before `b`. The BLS "Sorting" rules, in order:
///
/// 1. "Entries which are subject to boot counting and are marked as "bad",
///    should be sorted later than all other entries."
/// 2. "If `sort-key` is set on both entries, use in order of priority, the
///    `sort-key` (A-Z, increasing alphanumerical order), `machine-id` (A-Z,
///    increasing alphanumerical order), and `version` keys (decreasing
///    version order)."
/// 3. "If `sort-key` is set on one entry, it sorts earlier."
/// 4. "At the end, if necessary, when `sort-key` is not set or those fields
///    are not set or are all equal, the boot loader should sort using the
///    file name of the entry (decreasing version sort), with the suffix
///    removed." We compare [`Entry::id_without_suffix`], i.e. also without
///    the boot counter; the spec's note ("In the unlikely scenario that we
///    have multiple such boot entries that differ only by the boot counting
///    data, we would sort them by `n`") is then handled by rule 5.
/// 5. Entries whose ids are equal: one without a boot counter ("good")
///    first, then more tries left first, then fewer tries done first (as
///    systemd-boot breaks this tie).
/// 6. Finally the file names, bytewise, so that the order is total and
///    does not depend on the directory order.
///
/// "Alphanumerical order" is bytewise (strcmp on UTF-8); "If just one of
/// the strings is unspecified or empty, it compares lower." Version order
/// is [`compare_versions`]; a missing `version` compares as the empty
/// string.
pub fn compare_entries(a: &Entry, b: &Entry) -> Ordering {
    // Rule 1: bad entries last.
    a.is_bad()
        .cmp(&b.is_bad())
        // Rule 3: an entry with a sort-key before one without.
        .then_with(|| b.sort_key().is_some().cmp(&a.sort_key().is_some()))
        // Rule 2: both have a sort-key.
        .then_with(|| match (a.sort_key(), b.sort_key()) {
            (Some(ka), Some(kb)) => ka
                .cmp(kb)
                // `None < Some`: unspecified compares lower.
                .then_with(|| a.machine_id().cmp(&b.machine_id()))
                // Decreasing: the newer version first.
                .then_with(|| {
                    compare_versions(b.version().unwrap_or(""), a.version().unwrap_or(""))
                }),
            _ => Ordering::Equal,
        })
        // Rule 4: decreasing version order of the ids.
        .then_with(|| compare_versions(b.id_without_suffix(), a.id_without_suffix()))
        // Rule 5: boot counters of otherwise equal entries.
        .then_with(|| counter_order(a.boot_counter(), b.boot_counter()))
        // Rule 6: total order.
        .then_with(|| a.file_name().cmp(b.file_name()))
}

fn counter_order(a: Option<BootCounter>, b: Option<BootCounter>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.left.cmp(&a.left).then(a.done.cmp(&b.done)),
    }
}

/// Sorts entries into menu order ([`compare_entries`]).
pub fn sort_entries(entries: &mut [Entry]) {
    vmfw_bytes::sort_by(entries, compare_entries);
}

/// The index of the default entry in `entries` (which need not be sorted),
/// or `None` if `entries` is empty.
///
/// If loader.conf has a `default` pattern, the default is the first entry
/// in menu order ([`compare_entries`]) whose id matches it, either with or
/// without the `.conf` suffix (`fedora-*`, `fedora-*.conf` and
/// `fedora-6.8.5-301.fc40.x86_64` all work; systemd-boot, 252 and later
/// alike, matches only the file name with the suffix). Like systemd-boot,
/// pattern and ids are compared without regard to ASCII case (the ESP is
/// FAT, whose names are case-insensitive), and the first match in menu
/// order wins: loader.conf(5) "If more than one entry matches, the one
/// with the highest priority will be selected (generally the one with the
/// highest version number)". A matching "bad" entry is still chosen, as in
/// systemd-boot: the owner asked for it by name.
///
/// Without a pattern, or when nothing matches, the default is the first
/// entry in menu order, which is systemd-boot's "select the first suitable
/// entry" and what the BLS order is built for ("newest and "best" entries
/// at the top"). A bad entry is only chosen when all entries are bad.
pub fn select_default(conf: &LoaderConf, entries: &[Entry]) -> Option<usize> {
    let first_of = |pick: &dyn Fn(&Entry) -> bool| {
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pick(e))
            // `min_by` keeps the first of equal elements.
            .min_by(|(_, a), (_, b)| compare_entries(a, b))
            .map(|(i, _)| i)
    };
    if let Some(pattern) = &conf.default {
        let pattern = pattern.to_ascii_lowercase();
        let matches = |e: &Entry| {
            glob_match(&pattern, &e.id().to_ascii_lowercase())
                || glob_match(&pattern, &e.id_without_suffix().to_ascii_lowercase())
        };
        if let Some(i) = first_of(&matches) {
            return Some(i);
        }
    }
    first_of(&|_| true)
}

/// Why [`Menu::new`] left an entry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The entry's `architecture` is not the machine's (given here).
    Architecture(Arch),
}

/// An entry [`Menu::new`] left out, and why. Its `Display` is one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    /// The entry.
    pub entry: Entry,
    /// Why it is not in the menu.
    pub reason: Exclusion,
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Exclusion::Architecture(arch) => write!(
                f,
                "{}: architecture {} is not this machine's ({arch})",
                self.entry.file_name(),
                vmfw_bytes::Quoted(self.entry.architecture().unwrap_or(""))
            ),
        }
    }
}

/// The boot menu: the entries for this machine in menu order, the default
/// one, and the entries left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    entries: Vec<Entry>,
    default: Option<usize>,
    excluded: Vec<Excluded>,
}

impl Menu {
    /// Builds the menu for a machine of architecture `arch`: drops entries
    /// whose `architecture` is not `arch` (BLS: "If specified and it does
    /// not match the local system architecture this entry should be
    /// hidden"), sorts the rest ([`sort_entries`]) and picks the default
    /// ([`select_default`]).
    pub fn new(conf: &LoaderConf, entries: Vec<Entry>, arch: Arch) -> Menu {
        let mut kept = Vec::with_capacity(entries.len());
        let mut excluded = Vec::new();
        for entry in entries {
            if entry.runs_on(arch) {
                kept.push(entry);
            } else {
                excluded.push(Excluded { entry, reason: Exclusion::Architecture(arch) });
            }
        }
        sort_entries(&mut kept);
        let default = select_default(conf, &kept);
        Menu { entries: kept, default, excluded }
    }

    /// The entries in menu order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at menu position `index` (0-based), e.g. the one a user
    /// picked; `None` past the end.
    pub fn get(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)
    }

    /// The menu position of the default entry; `None` only for an empty
    /// menu.
    pub fn default_index(&self) -> Option<usize> {
        self.default
    }

    /// The default entry; `None` only for an empty menu.
    pub fn default_entry(&self) -> Option<&Entry> {
        self.default.and_then(|i| self.entries.get(i))
    }

    /// The order in which to try entries without a user: the default
    /// first, then the others in menu order. A firmware that cannot boot
    /// an entry logs why and moves on to the next.
    pub fn boot_order(&self) -> impl Iterator<Item = &Entry> + '_ {
        let default = self.default;
        self.default_entry().into_iter().chain(
            self.entries
                .iter()
                .enumerate()
                .filter(move |(i, _)| Some(*i) != default)
                .map(|(_, e)| e),
        )
    }

    /// The entries left out, with the reason for each.
    pub fn excluded(&self) -> &[Excluded] {
        &self.excluded
    }
}
