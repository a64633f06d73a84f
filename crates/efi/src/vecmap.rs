//! [`VecMap`]: an ordered map kept as one sorted `Vec`.
//!
//! The UEFI state holds tens of variables, events and pool allocations,
//! not thousands. A sorted vector with binary search iterates in the same
//! key order as `BTreeMap` (what `GetNextVariableName` and the event
//! groups rely on) and is a fraction of the B-tree's code in the firmware
//! image; inserting or removing shifts the entries after it, which for
//! these sizes is a short `memmove`.

use alloc::vec::Vec;
use core::ops::{Bound, RangeBounds};

/// An ordered map from `K` to `V` over a sorted `Vec` of pairs.
#[derive(Debug, Clone)]
pub(crate) struct VecMap<K, V> {
    items: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub(crate) const fn new() -> Self {
        VecMap { items: Vec::new() }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the map has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values mutable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// `Ok(index)` of `key`, or `Err(index)` where it would be inserted.
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.items.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// The value for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key).ok()?;
        self.items.get(i).map(|(_, v)| v)
    }

    /// The value for `key`, mutable.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key).ok()?;
        self.items.get_mut(i).map(|(_, v)| v)
    }

    /// Whether `key` has a value.
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => self.items.get_mut(i).map(|(_, v)| core::mem::replace(v, value)),
            Err(i) => {
                self.items.insert(i, (key, value));
                None
            }
        }
    }

    /// The value for `key`, inserting `value` first if there is none.
    /// Always `Some` (the index is the one found or just filled); the
    /// `Option` only spares an indexing panic path.
    pub(crate) fn get_or_insert(&mut self, key: K, value: V) -> Option<&mut V> {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.items.insert(i, (key, value));
                i
            }
        };
        self.items.get_mut(i).map(|(_, v)| v)
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        Some(self.items.remove(i).1)
    }

    /// The entries whose keys lie in `range`, in key order.
    pub(crate) fn range<R: RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &V)> {
        let start = match range.start_bound() {
            Bound::Included(k) => self.items.partition_point(|(x, _)| x < k),
            Bound::Excluded(k) => self.items.partition_point(|(x, _)| x <= k),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(k) => self.items.partition_point(|(x, _)| x <= k),
            Bound::Excluded(k) => self.items.partition_point(|(x, _)| x < k),
            Bound::Unbounded => self.items.len(),
        };
        self.items.get(start..end.max(start)).unwrap_or(&[]).iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_replaces() {
        let mut m = VecMap::new();
        assert!(m.is_empty());
        for k in [5u32, 1, 9, 3] {
            assert_eq!(m.insert(k, k * 10), None);
        }
        assert_eq!(m.insert(3, 33), Some(30));
        assert_eq!(
            m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(1, 10), (3, 33), (5, 50), (9, 90)]
        );
        assert_eq!(m.get(&5), Some(&50));
        assert!(m.contains_key(&9) && !m.contains_key(&4));
        *m.get_mut(&1).unwrap() += 1;
        assert_eq!(m.remove(&1), Some(11));
        assert_eq!(m.remove(&1), None);
        assert_eq!(m.len(), 3);
        *m.get_or_insert(4, 0).unwrap() += 4;
        *m.get_or_insert(4, 0).unwrap() += 4;
        assert_eq!(m.get(&4), Some(&8));
        for (_, v) in m.iter_mut() {
            *v += 1;
        }
        assert_eq!(m.get(&9), Some(&91));
    }

    #[test]
    fn ranges_match_btreemap() {
        let keys = [2u32, 4, 6, 8];
        let mut m = VecMap::new();
        let mut b = alloc::collections::BTreeMap::new();
        for k in keys {
            m.insert(k, ());
            b.insert(k, ());
        }
        for lo in 0..10 {
            for hi in lo..10 {
                let bounds = [
                    (Bound::Included(lo), Bound::Included(hi)),
                    (Bound::Excluded(lo), Bound::Unbounded),
                    (Bound::Unbounded, Bound::Excluded(hi)),
                ];
                for r in bounds {
                    let a: Vec<u32> = m.range(r).map(|(k, _)| *k).collect();
                    let w: Vec<u32> = b.range(r).map(|(k, _)| *k).collect();
                    assert_eq!(a, w, "{r:?}");
                }
            }
        }
    }
}
