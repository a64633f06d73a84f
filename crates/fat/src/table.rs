//! The File Allocation Table: entry decoding (FAT spec "FAT Data
//! Structure") and cluster chains.
//!
//! Invariants:
//! - [`next`] is only asked about clusters in `2..=max`, whose entries the
//!   mount checks proved to lie inside the FAT;
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

/// Reads the FAT entry of cluster `c` and classifies it.
pub(crate) fn next<D: BlockIo>(dev: &mut Dev<D>, g: &Geometry, c: u32) -> Result<Next, Error> {
    if !g.valid_cluster(c) {
        return Err(Error::ClusterOutOfRange(c));
    }
    let c64 = u64::from(c);
    let raw = match g.fat_type {
        FatType::Fat12 => {
            // 1.5 bytes per entry: entry n starts at byte n + n/2; an odd
            // entry is the high 12 bits of the 16-bit word there.
            let off = g.fat_offset.checked_add(c64 + c64 / 2).ok_or(Error::ClusterOutOfRange(c))?;
            let lo = dev.fat_byte(off)?;
            let hi = dev.fat_byte(off.checked_add(1).ok_or(Error::ClusterOutOfRange(c))?)?;
            let w = u16::from_le_bytes([lo, hi]);
            u32::from(if c & 1 == 1 { w >> 4 } else { w & 0x0FFF })
        }
        FatType::Fat16 => {
            let off = g.fat_offset.checked_add(c64 * 2).ok_or(Error::ClusterOutOfRange(c))?;
            u32::from(u16::from_le_bytes(fat_bytes(dev, off)?))
        }
        FatType::Fat32 => {
            let off = g.fat_offset.checked_add(c64 * 4).ok_or(Error::ClusterOutOfRange(c))?;
            let b = fat_bytes(dev, off)?;
            // The high 4 bits of a FAT32 entry are reserved: ignore them.
            u32::from_le_bytes(b) & 0x0FFF_FFFF
        }
    };
    if raw >= g.fat_type.eoc_min() {
        Ok(Next::End)
    } else if g.valid_cluster(raw) {
        Ok(Next::Cluster(raw))
    } else {
        Err(Error::ClusterOutOfRange(raw))
    }
}

/// Reads `N` consecutive FAT bytes at byte offset `off`.
fn fat_bytes<D: BlockIo, const N: usize>(dev: &mut Dev<D>, off: u64) -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    let mut at = off;
    for v in b.iter_mut() {
        *v = dev.fat_byte(at)?;
        at = at.checked_add(1).ok_or(Error::Io(vmfw_block::Error::OutOfRange))?;
    }
    Ok(b)
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
    let mut cur = Run { file_cluster: 0, disk_cluster: first, len: 1 };
    let mut c = first;
    for i in 1..needed {
        let n = match next(dev, g, c)? {
            Next::Cluster(n) => n,
            Next::End => return Err(Error::TruncatedChain),
        };
        if Some(n) == c.checked_add(1) {
            cur.len += 1;
        } else {
            out.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            out.push(cur);
            cur = Run { file_cluster: i, disk_cluster: n, len: 1 };
        }
        c = n;
    }
    out.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
    out.push(cur);
    check_disjoint(&out)?;
    Ok(out)
}

/// A chain visits a cluster twice exactly when two of its runs overlap
/// (within one run the clusters strictly increase).
fn check_disjoint(runs: &[Run]) -> Result<(), Error> {
    if runs.len() < 2 {
        return Ok(());
    }
    let mut sorted: Vec<(u32, u32)> = Vec::new();
    sorted.try_reserve_exact(runs.len()).map_err(|_| Error::OutOfMemory)?;
    sorted.extend(runs.iter().map(|r| (r.disk_cluster, r.len)));
    vmfw_bytes::sort(&mut sorted);
    for w in sorted.windows(2) {
        if let [(a, alen), (b, _)] = w {
            if a.saturating_add(*alen) > *b {
                return Err(Error::ChainLoop);
            }
        }
    }
    Ok(())
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
