//! The File Allocation Table: entry decoding (FAT spec "FAT Data
//! Structure") and cluster chains.
//!
//! Entries are decoded straight from the FAT bytes the device keeps in
//! memory ([`crate::dev::Dev::fat_window`]), many per window: a file's walk
//! ([`runs`]) is a tight loop that only checks what slicing and the chain's
//! validity need, and asks the device for a new window only when the next
//! entry lies outside the current one.
//!
//! Invariants:
//! - entries are only looked up for clusters in `2..=max`, which the mount
//!   checks proved to lie inside the FAT;
//! - a chain step yields a cluster in `2..=max`, an end-of-chain mark, or
//!   [`Error::ClusterOutOfRange`] (free, reserved and bad-cluster values are
//!   all corruption inside a chain);
//! - no walk is unbounded: a file's walk stops after the clusters its size
//!   needs (at most the volume's cluster count) and rejects any cluster it
//!   has already visited; a directory's walk runs Brent's cycle detection
//!   ([`LoopGuard`]) and is capped by the cluster count.

use alloc::vec::Vec;

use vmfw_block::BlockIo;

use crate::bpb::{FatType, Geometry};
use crate::dev::Dev;
use crate::Error;

/// What a FAT entry says about the cluster after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The chain goes on at this (valid) cluster.
    Cluster(u32),
    /// This was the last cluster of the chain.
    End,
}

/// FAT bytes held in memory (the device's FAT window): `bytes[0]` is byte
/// `lo` of the FAT in use.
struct View<'a> {
    lo: u64,
    bytes: &'a [u8],
}

/// Entry widths in bits, as const parameters: the chain walk's loop is
/// compiled once per FAT type, so it never dispatches on the type per entry.
const W12: u8 = 12;
const W16: u8 = 16;
const W32: u8 = 32;

impl View<'_> {
    /// The raw entry of cluster `c` in a FAT with `W`-bit entries, or
    /// `None` if the window does not hold all of it. The only checks are
    /// the ones slicing needs: the entry's position is at most
    /// `4 * u32::MAX`, so nothing overflows.
    #[inline(always)]
    fn entry<const W: u8>(&self, c: u32) -> Option<u32> {
        let c64 = u64::from(c);
        // FAT spec "FAT Data Structure": FAT12 entry n starts at byte
        // n + n/2, an odd entry being the high 12 bits of the 16-bit word
        // there; FAT16 entries are 2 bytes, FAT32 entries 4.
        let pos = match W {
            W12 => c64 + c64 / 2,
            W16 => c64 * 2,
            _ => c64 * 4,
        };
        let rel = usize::try_from(pos.checked_sub(self.lo)?).ok()?;
        let at = self.bytes.get(rel..)?;
        Some(match W {
            W12 => {
                let w = u16::from_le_bytes(*at.first_chunk::<2>()?);
                u32::from(if c & 1 == 1 { w >> 4 } else { w & 0x0FFF })
            }
            W16 => u32::from(u16::from_le_bytes(*at.first_chunk::<2>()?)),
            // The high 4 bits of a FAT32 entry are reserved: ignore them.
            _ => u32::from_le_bytes(*at.first_chunk::<4>()?) & 0x0FFF_FFFF,
        })
    }

    /// [`View::entry`] for FAT type `t`.
    fn raw(&self, t: FatType, c: u32) -> Option<u32> {
        match t {
            FatType::Fat12 => self.entry::<W12>(c),
            FatType::Fat16 => self.entry::<W16>(c),
            FatType::Fat32 => self.entry::<W32>(c),
        }
    }

    /// How many entries from cluster `c`'s on (at most `limit`, and only
    /// those the window holds) each point at the next cluster: entry
    /// `c + k` holding `c + k + 1`. The fast path of a contiguous file,
    /// a plain scan over the bytes; FAT12's packed entries take the
    /// general path (their FATs are a few KiB).
    #[inline(always)]
    fn contiguous<const W: u8>(&self, c: u32, limit: u32) -> u32 {
        let c64 = u64::from(c);
        let pos = if W == W16 { c64 * 2 } else { c64 * 4 };
        let Some(at) = pos
            .checked_sub(self.lo)
            .and_then(|r| usize::try_from(r).ok())
            .and_then(|r| self.bytes.get(r..))
        else {
            return 0;
        };
        let size = if W == W16 { 2 } else { 4 };
        // The bytes of at most `limit` entries, so the scan has one bound.
        let len = usize::try_from(limit).ok().and_then(|l| l.checked_mul(size));
        let at = len.and_then(|l| at.get(..l)).unwrap_or(at);
        let next = c.wrapping_add(1);
        let n = match W {
            W12 => 0,
            W16 => at
                .chunks_exact(2)
                .zip(next..)
                .position(|(e, want)| {
                    e.first_chunk::<2>().is_none_or(|b| u32::from(u16::from_le_bytes(*b)) != want)
                })
                .unwrap_or(at.len() / 2),
            _ => at
                .chunks_exact(4)
                .zip(next..)
                .position(|(e, want)| {
                    e.first_chunk::<4>()
                        .is_none_or(|b| u32::from_le_bytes(*b) & 0x0FFF_FFFF != want)
                })
                .unwrap_or(at.len() / 4),
        };
        // n <= limit <= u32::MAX.
        u32::try_from(n).unwrap_or(0)
    }
}

/// Loads the FAT window that holds the entry of cluster `c` (which must
/// be valid, so that the entry lies inside the FAT) and returns it; the
/// view holds that entry.
fn view<'d, D: BlockIo>(dev: &'d mut Dev<D>, g: &Geometry, c: u32) -> Result<View<'d>, Error> {
    let c64 = u64::from(c);
    let (pos, len) = match g.fat_type {
        FatType::Fat12 => (c64 + c64 / 2, 2),
        FatType::Fat16 => (c64 * 2, 2),
        FatType::Fat32 => (c64 * 4, 4),
    };
    let off = g.fat_offset.checked_add(pos).ok_or(Error::ClusterOutOfRange(c))?;
    let (from, bytes) = dev.fat_window(off, len)?;
    // The window is aligned on the device, so it may start before the
    // FAT: a view starts at FAT byte 0 at the earliest.
    let skip = usize::try_from(g.fat_offset.saturating_sub(from)).map_err(|_| OUT_OF_RANGE)?;
    let bytes = bytes.get(skip..).ok_or(OUT_OF_RANGE)?;
    Ok(View { lo: from.saturating_sub(g.fat_offset), bytes })
}

const OUT_OF_RANGE: Error = Error::Io(vmfw_block::Error::OutOfRange);

/// Classifies raw FAT entry value `raw` met inside a chain.
fn classify(g: &Geometry, raw: u32) -> Result<Next, Error> {
    if raw >= g.fat_type.eoc_min() {
        Ok(Next::End)
    } else if g.valid_cluster(raw) {
        Ok(Next::Cluster(raw))
    } else {
        Err(Error::ClusterOutOfRange(raw))
    }
}

/// Reads the FAT entry of cluster `c` and classifies it (one step of a
/// directory's chain; files use [`runs`]).
pub(crate) fn next<D: BlockIo>(dev: &mut Dev<D>, g: &Geometry, c: u32) -> Result<Next, Error> {
    if !g.valid_cluster(c) {
        return Err(Error::ClusterOutOfRange(c));
    }
    let raw = view(dev, g, c)?.raw(g.fat_type, c).ok_or(OUT_OF_RANGE)?;
    classify(g, raw)
}

/// Brent's cycle detection over a chain walk, with a hard cap on steps.
///
/// Remembers one "saved" cluster and compares each new cluster with it; the
/// saved cluster moves forward at power-of-two intervals, so a loop of
/// length λ entered after μ steps is reported within O(μ + λ) steps using
/// O(1) memory. The cap (the volume's cluster count) makes the walk bounded
/// even if the detection had a gap: a chain can hold no more distinct
/// clusters than the volume has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoopGuard {
    saved: u32,
    power: u32,
    lam: u32,
    steps: u32,
}

impl LoopGuard {
    /// Starts a walk at cluster `first`.
    pub fn new(first: u32) -> Self {
        LoopGuard { saved: first, power: 1, lam: 0, steps: 0 }
    }

    /// Records a step to cluster `c`; errors if the chain has looped.
    pub fn step(&mut self, c: u32, cap: u32) -> Result<(), Error> {
        self.steps = self.steps.saturating_add(1);
        if c == self.saved || self.steps >= cap {
            return Err(Error::ChainLoop);
        }
        self.lam += 1;
        if self.lam == self.power {
            self.saved = c;
            self.power = self.power.saturating_mul(2);
            self.lam = 0;
        }
        Ok(())
    }
}

/// A maximal run of consecutive clusters in a file's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// Index (within the file) of the run's first cluster.
    pub file_cluster: u32,
    /// The run's first cluster on disk.
    pub disk_cluster: u32,
    /// Number of clusters in the run (≥ 1).
    pub len: u32,
}

impl Run {
    fn file_end(&self) -> u32 {
        self.file_cluster.saturating_add(self.len)
    }
}

/// Walks `needed` clusters of the chain starting at `first` and returns them
/// as maximal contiguous runs.
///
/// The walk decodes entries straight from the FAT window in a tight loop
/// ([`follow`]) and goes back to the device only when the next entry lies
/// outside it. Bounded: it takes at most `needed` steps (≤ the cluster
/// count), each of which either moves on to a valid cluster or ends it.
///
/// Errors: [`Error::TruncatedChain`] if the chain ends early,
/// [`Error::ClusterOutOfRange`] for a bad entry, [`Error::ChainLoop`] if any
/// cluster appears twice, [`Error::OutOfMemory`] if the run list cannot be
/// allocated.
pub(crate) fn runs<D: BlockIo>(
    dev: &mut Dev<D>,
    g: &Geometry,
    first: u32,
    needed: u32,
) -> Result<Vec<Run>, Error> {
    let mut out: Vec<Run> = Vec::new();
    if needed == 0 {
        return Ok(out);
    }
    if needed > g.cluster_count {
        return Err(Error::ChainLoop);
    }
    if !g.valid_cluster(first) {
        return Err(Error::ClusterOutOfRange(first));
    }
    let mut w = Walk { c: first, i: 1, needed, count: g.cluster_count, eoc: g.fat_type.eoc_min() };
    let mut cur = Run { file_cluster: 0, disk_cluster: first, len: 1 };
    while w.i < needed {
        let win = view(dev, g, w.c)?;
        let start = w.i;
        // Runs and jumps, until the walk is done or leaves the window.
        loop {
            let i = w.i;
            let jump = match g.fat_type {
                FatType::Fat12 => follow12(&win, &mut w)?,
                FatType::Fat16 => follow16(&win, &mut w)?,
                FatType::Fat32 => follow32(&win, &mut w)?,
            };
            cur.len += w.i - i;
            let Some(n) = jump else { break };
            out.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            out.push(cur);
            cur = Run { file_cluster: w.i, disk_cluster: n, len: 1 };
            w.c = n;
            w.i += 1;
        }
        // `view` returned a window that holds the entry of `w.c`, so the
        // walk moved; checked anyway, as the walk's bound relies on it.
        if w.i == start {
            return Err(OUT_OF_RANGE);
        }
    }
    out.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
    out.push(cur);
    check_disjoint(&out)?;
    Ok(out)
}

/// A file's chain walk in progress.
struct Walk {
    /// The last cluster reached, and its index in the file.
    c: u32,
    i: u32,
    /// Clusters the file's size needs.
    needed: u32,
    /// The volume's cluster count and end-of-chain mark.
    count: u32,
    eoc: u32,
}

// The walk's loops, one per FAT type, as plain functions: generic code is
// compiled at the level of the crate that instantiates it (the firmware
// binary, built for size), a plain function at this crate's own level,
// which the workspace's release profile keeps speed-minded. Not inlined,
// so they keep it.
#[inline(never)]
fn follow12(win: &View<'_>, w: &mut Walk) -> Result<Option<u32>, Error> {
    follow::<W12>(win, w)
}

#[inline(never)]
fn follow16(win: &View<'_>, w: &mut Walk) -> Result<Option<u32>, Error> {
    follow::<W16>(win, w)
}

#[inline(never)]
fn follow32(win: &View<'_>, w: &mut Walk) -> Result<Option<u32>, Error> {
    follow::<W32>(win, w)
}

/// Follows the chain through the entries `win` holds (`W`-bit entries)
/// while it stays contiguous, and returns `Some(n)` when the entry of the
/// last cluster reached (`w.c`) names a valid cluster `n` that does not
/// follow it, or `None` when the walk has `needed` clusters or the next
/// entry lies outside the window.
fn follow<const W: u8>(win: &View<'_>, w: &mut Walk) -> Result<Option<u32>, Error> {
    // Locals, so the loop runs in registers.
    let (mut c, mut i) = (w.c, w.i);
    let r = loop {
        if i >= w.needed {
            break Ok(None);
        }
        let Some(n) = win.entry::<W>(c) else { break Ok(None) };
        // Valid clusters are 2..=count + 1; end-of-chain marks lie above.
        if n.wrapping_sub(2) >= w.count {
            break Err(if n >= w.eoc {
                Error::TruncatedChain
            } else {
                Error::ClusterOutOfRange(n)
            });
        }
        if n != c.wrapping_add(1) {
            break Ok(Some(n));
        }
        // Also take every following entry that continues the run, within
        // the clusters still needed and the valid ones (so each such entry
        // is valid too).
        let limit = (w.needed - i - 1).min(w.count + 1 - n);
        let k = win.contiguous::<W>(n, limit);
        c = n + k;
        i += 1 + k;
    };
    (w.c, w.i) = (c, i);
    r
}

/// A chain visits a cluster twice exactly when two of its runs overlap
/// (within one run the clusters strictly increase).
fn check_disjoint(runs: &[Run]) -> Result<(), Error> {
    if runs.len() < 2 {
        return Ok(());
    }
    // One key per run, first cluster in the high half: sorted keys are the
    // runs in disk order, and the low half is the length.
    let mut sorted: Vec<u64> = Vec::new();
    sorted.try_reserve_exact(runs.len()).map_err(|_| Error::OutOfMemory)?;
    sorted.extend(runs.iter().map(|r| u64::from(r.disk_cluster) << 32 | u64::from(r.len)));
    // Files written front to back have their runs in disk order already.
    if !sorted.is_sorted() {
        heapsort(&mut sorted);
    }
    for w in sorted.windows(2) {
        if let [a, b] = w {
            let end = (a >> 32).saturating_add(a & 0xFFFF_FFFF);
            if end > b >> 32 {
                return Err(Error::ChainLoop);
            }
        }
    }
    Ok(())
}

/// Sorts `v` ascending: a heapsort, O(n log n) without recursion or
/// allocation in a few dozen bytes of code, where the library's sort
/// would add kilobytes to the firmware for this one use.
fn heapsort(v: &mut [u64]) {
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Restores the max-heap property of `v[..end]` below `root`.
fn sift_down(v: &mut [u64], mut root: usize, end: usize) {
    loop {
        // No overflow: root < end <= v.len() <= isize::MAX.
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

/// Index of the run that holds file cluster `fc`, if any.
pub(crate) fn find_run(runs: &[Run], fc: u32) -> Option<usize> {
    let i = runs.partition_point(|r| r.file_end() <= fc);
    runs.get(i).filter(|r| r.file_cluster <= fc).map(|_| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brent_finds_loops_of_any_shape() {
        // chain = tail of length mu, then a cycle of length lam
        for mu in 0..20u32 {
            for lam in 1..20u32 {
                let step = |c: u32| if c + 1 < mu + lam { c + 1 } else { mu };
                let mut g = LoopGuard::new(0);
                let mut c = 0;
                let mut found = false;
                for _ in 0..10 * (mu + lam) {
                    c = step(c);
                    if g.step(c, u32::MAX).is_err() {
                        found = true;
                        break;
                    }
                }
                assert!(found, "mu {mu} lam {lam}");
            }
        }
    }

    #[test]
    fn guard_caps_steps() {
        let mut g = LoopGuard::new(2);
        assert!(g.step(3, 2).is_ok());
        assert_eq!(g.step(4, 2), Err(Error::ChainLoop));
    }

    #[test]
    fn heapsort_sorts() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for n in [0usize, 1, 2, 3, 7, 64, 1000] {
            let mut v: Vec<u64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % 50
                })
                .collect();
            let mut want = v.clone();
            want.sort_unstable();
            heapsort(&mut v);
            assert_eq!(v, want, "n {n}");
        }
    }

    #[test]
    fn overlapping_runs_are_loops() {
        let r = |f, d, l| Run { file_cluster: f, disk_cluster: d, len: l };
        assert!(check_disjoint(&[r(0, 10, 5), r(5, 2, 3), r(8, 20, 1)]).is_ok());
        assert_eq!(check_disjoint(&[r(0, 10, 5), r(5, 2, 9)]), Err(Error::ChainLoop));
        let runs = [r(0, 10, 5), r(5, 2, 3), r(8, 20, 1)];
        assert_eq!(find_run(&runs, 0), Some(0));
        assert_eq!(find_run(&runs, 4), Some(0));
        assert_eq!(find_run(&runs, 5), Some(1));
        assert_eq!(find_run(&runs, 8), Some(2));
        assert_eq!(find_run(&runs, 9), None);
    }
}
