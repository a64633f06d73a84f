//! One small in-place sort for the whole firmware.
//!
//! `core`'s sorts are fast but large, and each element type and comparator
//! gets its own copy of them (several KiB each). The firmware sorts a few
//! dozen items at a time (PCI functions, device windows, menu entries,
//! option numbers), so one heapsort whose body is shared by every caller
//! is the better trade: the per-type part is only the small closure that
//! compares or swaps two elements by index.
//!
//! Heapsort needs no allocation, takes O(n log n) comparisons whatever the
//! input (a disk's owner chooses how many entries there are), and cannot
//! panic or misbehave on an inconsistent comparison: every index it forms
//! is below the length. It is not stable; callers sort by total orders.

use core::cmp::Ordering;

/// Sorts `v` ascending by `cmp` (heapsort: in place, O(n log n), not
/// stable). An inconsistent `cmp` leaves `v` in some order, never panics.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let len = v.len();
    heapsort(len, &mut |i, j, swap| {
        if swap {
            v.swap(i, j);
            false
        } else {
            match (v.get(i), v.get(j)) {
                (Some(a), Some(b)) => cmp(a, b) == Ordering::Less,
                _ => false,
            }
        }
    });
}

/// Sorts `v` ascending (see [`sort_by`]).
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Sorts `v` ascending by the key `key` gives each element (see
/// [`sort_by`]).
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// The one shared body: `op(i, j, false)` says whether element `i` sorts
/// before element `j`; `op(i, j, true)` swaps them. Both are only called
/// with indices below `len`.
fn heapsort(len: usize, op: &mut dyn FnMut(usize, usize, bool) -> bool) {
    // Build a max-heap bottom-up, then move the maximum to the end and
    // restore the heap on what is left.
    let mut start = len / 2;
    while start > 0 {
        start -= 1;
        sift_down(op, start, len);
    }
    let mut end = len;
    while end > 1 {
        end -= 1;
        op(0, end, true);
        sift_down(op, 0, end);
    }
}

/// Moves the element at `root` down the heap `[0, end)` until neither
/// child is larger.
fn sift_down(op: &mut dyn FnMut(usize, usize, bool) -> bool, mut root: usize, end: usize) {
    loop {
        let Some(mut child) = root.checked_mul(2).and_then(|c| c.checked_add(1)) else {
            return;
        };
        if child >= end {
            return;
        }
        if child + 1 < end && op(child, child + 1, false) {
            child += 1;
        }
        if !op(root, child, false) {
            return;
        }
        op(root, child, true);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A small deterministic generator, so the tests need no crate.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn sorts_like_core_for_many_lengths_and_inputs() {
        let mut seed = 7;
        for len in 0..70 {
            for modulus in [1, 2, 5, 1000] {
                let v: Vec<u64> = (0..len).map(|_| lcg(&mut seed) % modulus).collect();
                let mut mine = v.clone();
                sort(&mut mine);
                let mut want = v;
                want.sort_unstable();
                assert_eq!(mine, want);
            }
        }
    }

    #[test]
    fn sorted_and_reversed_inputs() {
        let mut up: Vec<u32> = (0..100).collect();
        sort(&mut up);
        assert!(up.windows(2).all(|w| w[0] <= w[1]));
        let mut down: Vec<u32> = (0..100).rev().collect();
        sort(&mut down);
        assert_eq!(down, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn by_key_and_by_comparator() {
        let mut v = [(3, 'a'), (1, 'b'), (2, 'c')];
        sort_by_key(&mut v, |p| p.0);
        assert_eq!(v, [(1, 'b'), (2, 'c'), (3, 'a')]);
        // Descending through the comparator.
        sort_by(&mut v, |a, b| b.0.cmp(&a.0));
        assert_eq!(v, [(3, 'a'), (2, 'c'), (1, 'b')]);
    }

    #[test]
    fn inconsistent_comparator_does_not_panic() {
        let mut seed = 1;
        let mut v: Vec<u32> = (0..50).collect();
        sort_by(&mut v, |_, _| match lcg(&mut seed) % 3 {
            0 => Ordering::Less,
            1 => Ordering::Equal,
            _ => Ordering::Greater,
        });
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
