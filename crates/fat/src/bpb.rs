//! The boot sector and BIOS Parameter Block (FAT spec, "Boot Sector and
//! BPB" for the fields, "FAT Data Structure" for the region layout, "FAT
//! Type Determination" for the type).
//!
//! Invariants of a [`Geometry`] that [`Geometry::parse`] returns:
//! - every region (FATs, fixed root directory, all `cluster_count` clusters)
//!   lies inside the device, so any byte offset computed from a cluster in
//!   `2..=max_cluster()` and an offset below `cluster_size` is readable;
//! - the FAT in use holds an entry for every cluster in `0..=max_cluster()`;
//! - `max_cluster()` stays below the bad-cluster marker of the FAT type, so a
//!   FAT entry is either a valid cluster, an end-of-chain mark, or an error;
//! - the FAT32 root cluster is in `2..=max_cluster()`.
//!
//! The FAT type is decided only by the cluster count, as "FAT Type
//! Determination" demands, never by the `BS_FilSysType` string.
//!
//! Leniencies, on purpose: the jump instruction, media byte, `BPB_FSVer` and
//! the FSInfo sector are not checked (a read-only driver does not need
//! them, and other firmware does not insist either); a `BPB_TotSec*` larger
//! than the device is accepted when every cluster still fits on it.

use vmfw_bytes::{array, array_in, u16_in, u32_in};

use crate::Error;

/// Which FAT variant a volume uses (decided by its cluster count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    /// Fewer than 4085 clusters, 12-bit FAT entries.
    Fat12,
    /// 4085 to 65524 clusters, 16-bit FAT entries.
    Fat16,
    /// 65525 clusters or more, 28-bit FAT entries in 32-bit slots.
    Fat32,
}

impl FatType {
    /// The smallest FAT entry value that marks the end of a chain.
    pub(crate) fn eoc_min(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFF8,
            FatType::Fat16 => 0xFFF8,
            FatType::Fat32 => 0x0FFF_FFF8,
        }
    }

    /// The bad-cluster marker; valid cluster numbers stay below it.
    fn bad_marker(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFF7,
            FatType::Fat16 => 0xFFF7,
            FatType::Fat32 => 0x0FFF_FFF7,
        }
    }

    /// Bytes one FAT needs to describe clusters `0..entries`.
    fn fat_bytes(self, entries: u64) -> Option<u64> {
        match self {
            // 1.5 bytes per entry, the last odd entry still takes 2 bytes.
            FatType::Fat12 => entries.checked_mul(3)?.checked_add(1).map(|v| v / 2),
            FatType::Fat16 => entries.checked_mul(2),
            FatType::Fat32 => entries.checked_mul(4),
        }
    }
}

/// Where the root directory lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootLocation {
    /// FAT12/16: a fixed region of `entries` 32-byte entries at `offset`.
    Fixed { offset: u64, entries: u32 },
    /// FAT32: an ordinary cluster chain.
    Cluster(u32),
}

/// Validated layout of a mounted volume, all positions in bytes from the
/// start of the device handed to [`crate::FileSystem::mount`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub fat_type: FatType,
    pub bytes_per_sector: u32,
    pub cluster_size: u32,
    /// Byte offset of the FAT copy in use.
    pub fat_offset: u64,
    pub root: RootLocation,
    pub data_offset: u64,
    pub cluster_count: u32,
    pub volume_id: Option<u32>,
    pub volume_label: Option<[u8; 11]>,
    #[cfg(feature = "write")]
    /// Byte offsets of the FAT copies that writes must keep identical:
    /// all `BPB_NumFATs` copies, or only the active one when FAT32
    /// mirroring is disabled (`BPB_ExtFlags` bit 7).
    pub fat_copies: alloc::vec::Vec<u64>,
    #[cfg(feature = "write")]
    /// Bytes of one FAT that describe clusters `0..cluster_count + 2`
    /// (the part writes touch and the safety check compares).
    pub fat_used_bytes: u64,
    #[cfg(feature = "write")]
    /// Byte offset of the FAT32 FSInfo sector (`BPB_FSInfo`), when it lies
    /// inside the reserved region.
    pub fsinfo: Option<u64>,
}

impl Geometry {
    /// Highest valid cluster number (clusters are numbered from 2).
    pub fn max_cluster(&self) -> u32 {
        // cluster_count < 0x0FFF_FFF6 is checked in parse, so no overflow.
        self.cluster_count.saturating_add(1)
    }

    /// Whether `c` names a data cluster.
    pub fn valid_cluster(&self, c: u32) -> bool {
        (2..=self.max_cluster()).contains(&c)
    }

    /// Byte offset of the first byte of cluster `c` (which must be valid).
    pub fn cluster_offset(&self, c: u32) -> Result<u64, Error> {
        if !self.valid_cluster(c) {
            return Err(Error::ClusterOutOfRange(c));
        }
        u64::from(c - 2)
            .checked_mul(u64::from(self.cluster_size))
            .and_then(|o| o.checked_add(self.data_offset))
            .ok_or(Error::ClusterOutOfRange(c))
    }

    /// Bytes in the data region.
    pub fn data_bytes(&self) -> u64 {
        u64::from(self.cluster_count).saturating_mul(u64::from(self.cluster_size))
    }

    /// Parses and validates boot sector `bs` of a volume on a device of
    /// `device_bytes` bytes.
    pub fn parse(bs: &[u8; 512], device_bytes: u64) -> Result<Self, Error> {
        if bs[510] != 0x55 || bs[511] != 0xAA {
            return Err(Error::NoBootSignature);
        }
        let bps16 = u16_in::<11, _>(bs);
        if !matches!(bps16, 512 | 1024 | 2048 | 4096) {
            return Err(Error::BadBytesPerSector(bps16));
        }
        let bps = u64::from(bps16);
        let spc8 = bs[13];
        if spc8 == 0 || !spc8.is_power_of_two() {
            return Err(Error::BadSectorsPerCluster(spc8));
        }
        let spc = u64::from(spc8);
        let reserved = u64::from(u16_in::<14, _>(bs));
        if reserved == 0 {
            return Err(Error::BadReservedSectors);
        }
        let num_fats = bs[16];
        if num_fats == 0 {
            return Err(Error::BadFatCount);
        }
        let root_ent = u16_in::<17, _>(bs);
        let tot16 = u16_in::<19, _>(bs);
        let total = if tot16 != 0 { u64::from(tot16) } else { u64::from(u32_in::<32, _>(bs)) };
        if total == 0 {
            return Err(Error::ZeroTotalSectors);
        }
        let fatsz16 = u16_in::<22, _>(bs);
        let fat_sectors =
            if fatsz16 != 0 { u64::from(fatsz16) } else { u64::from(u32_in::<36, _>(bs)) };
        if fat_sectors == 0 {
            return Err(Error::ZeroFatSize);
        }

        // "FAT Data Structure": RootDirSectors rounds up; the data region
        // follows the reserved sectors, the FATs and the root directory.
        let root_dir_sectors = (u64::from(root_ent) * 32).div_ceil(bps);
        let fats_total =
            fat_sectors.checked_mul(u64::from(num_fats)).ok_or(Error::MetadataBeyondVolume)?;
        let meta = reserved
            .checked_add(fats_total)
            .and_then(|v| v.checked_add(root_dir_sectors))
            .ok_or(Error::MetadataBeyondVolume)?;
        let data_sectors = total.checked_sub(meta).ok_or(Error::MetadataBeyondVolume)?;
        let count64 = data_sectors / spc;
        let cluster_count = u32::try_from(count64).map_err(|_| Error::TooManyClusters(u32::MAX))?;

        let fat_type = if cluster_count < 4085 {
            FatType::Fat12
        } else if cluster_count < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        // Valid cluster numbers 2..=count+1 must stay below the bad marker.
        if u64::from(cluster_count) + 1 >= u64::from(fat_type.bad_marker()) {
            return Err(Error::TooManyClusters(cluster_count));
        }

        let mut active_fat = 0u64;
        #[cfg(feature = "write")]
        let mut mirrored = true;
        #[cfg(feature = "write")]
        let mut fsinfo = None;
        let root;
        let (volume_id, volume_label);
        if fat_type == FatType::Fat32 {
            if root_ent != 0 {
                return Err(Error::BadRootEntryCount(root_ent));
            }
            let ext_flags = u16_in::<40, _>(bs);
            if ext_flags & 0x80 != 0 {
                // Mirroring disabled: only the FAT named in bits 0..3 is live.
                let n = (ext_flags & 0x0F) as u8;
                if n >= num_fats {
                    return Err(Error::BadActiveFat(n));
                }
                active_fat = u64::from(n);
                #[cfg(feature = "write")]
                {
                    mirrored = false;
                }
            }
            #[cfg(feature = "write")]
            {
                let fsi = u64::from(u16_in::<48, _>(bs));
                if fsi != 0 && fsi < reserved {
                    fsinfo = fsi.checked_mul(bps);
                }
            }
            let rc = u32_in::<44, _>(bs);
            if !(2..=cluster_count.saturating_add(1)).contains(&rc) {
                return Err(Error::BadRootCluster(rc));
            }
            root = RootLocation::Cluster(rc);
            (volume_id, volume_label) = ext_bpb(bs, 66);
        } else {
            if root_ent == 0 {
                return Err(Error::BadRootEntryCount(root_ent));
            }
            let off = reserved
                .checked_add(fats_total)
                .and_then(|s| s.checked_mul(bps))
                .ok_or(Error::MetadataBeyondVolume)?;
            root = RootLocation::Fixed { offset: off, entries: u32::from(root_ent) };
            (volume_id, volume_label) = ext_bpb(bs, 38);
        }

        let fat_bytes = fat_sectors.checked_mul(bps).ok_or(Error::FatTooSmall)?;
        let needed = fat_type.fat_bytes(u64::from(cluster_count) + 2).ok_or(Error::FatTooSmall)?;
        if fat_bytes < needed {
            return Err(Error::FatTooSmall);
        }
        let fat_offset = active_fat
            .checked_mul(fat_sectors)
            .and_then(|s| s.checked_add(reserved))
            .and_then(|s| s.checked_mul(bps))
            .ok_or(Error::VolumeBeyondDevice)?;
        let data_offset = meta.checked_mul(bps).ok_or(Error::VolumeBeyondDevice)?;
        let cluster_size = spc.checked_mul(bps).ok_or(Error::BadSectorsPerCluster(spc8))?;
        let data_end = u64::from(cluster_count)
            .checked_mul(cluster_size)
            .and_then(|b| b.checked_add(data_offset))
            .ok_or(Error::VolumeBeyondDevice)?;
        // The data region follows the FATs and the root directory, so its end
        // bounds every region of the volume.
        if data_end > device_bytes {
            return Err(Error::VolumeBeyondDevice);
        }
        #[cfg(feature = "write")]
        let mut fat_copies = alloc::vec::Vec::new();
        #[cfg(feature = "write")]
        for i in 0..u64::from(num_fats) {
            if !mirrored && i != active_fat {
                continue;
            }
            let off = i
                .checked_mul(fat_sectors)
                .and_then(|s| s.checked_add(reserved))
                .and_then(|s| s.checked_mul(bps))
                .ok_or(Error::VolumeBeyondDevice)?;
            fat_copies.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            fat_copies.push(off);
        }
        Ok(Geometry {
            #[cfg(feature = "write")]
            fat_copies,
            #[cfg(feature = "write")]
            fat_used_bytes: needed,
            #[cfg(feature = "write")]
            fsinfo,
            fat_type,
            bytes_per_sector: u32::from(bps16),
            cluster_size: u32::try_from(cluster_size)
                .map_err(|_| Error::BadSectorsPerCluster(spc8))?,
            fat_offset,
            root,
            data_offset,
            cluster_count,
            volume_id,
            volume_label,
        })
    }
}

/// Reads the extended boot record at `at` (`BS_BootSig`, at offset 38 on FAT12/16 and 66 on FAT32, "Boot Sector and BPB"): volume
/// ID and label are only meaningful when the signature byte is 0x29.
fn ext_bpb(bs: &[u8; 512], at: usize) -> (Option<u32>, Option<[u8; 11]>) {
    // BS_BootSig, BS_VolID and BS_VolLab: 16 bytes from `at`, which both
    // callers pass as a constant well inside the sector.
    let Some(ebr) = array::<16>(bs, at) else {
        return (None, None);
    };
    if ebr[0] != 0x29 {
        return (None, None);
    }
    (Some(u32_in::<1, _>(&ebr)), Some(array_in::<5, 11, _>(&ebr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT12 boot sector: 512-byte sectors, 1 sector per cluster,
    /// 1 reserved, 2 FATs of 1 sector, 16 root entries, 64 sectors.
    fn fat12() -> [u8; 512] {
        let mut b = [0u8; 512];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14..16].copy_from_slice(&1u16.to_le_bytes());
        b[16] = 2;
        b[17..19].copy_from_slice(&16u16.to_le_bytes());
        b[19..21].copy_from_slice(&64u16.to_le_bytes());
        b[22..24].copy_from_slice(&1u16.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn parses_layout() {
        let g = Geometry::parse(&fat12(), 64 * 512).unwrap();
        assert_eq!(g.fat_type, FatType::Fat12);
        assert_eq!(g.fat_offset, 512);
        assert_eq!(g.root, RootLocation::Fixed { offset: 3 * 512, entries: 16 });
        assert_eq!(g.data_offset, 4 * 512);
        assert_eq!(g.cluster_count, 60);
        assert_eq!(g.cluster_offset(2).unwrap(), 4 * 512);
        assert_eq!(g.cluster_offset(61).unwrap(), 63 * 512);
        assert_eq!(g.cluster_offset(62), Err(Error::ClusterOutOfRange(62)));
        assert_eq!(g.cluster_offset(1), Err(Error::ClusterOutOfRange(1)));
    }

    #[test]
    fn rejects_bad_fields() {
        let cases: &[(usize, &[u8], Error)] = &[
            (11, &[0, 0], Error::BadBytesPerSector(0)),
            (11, &[0, 3], Error::BadBytesPerSector(768)),
            (11, &[0, 0x20], Error::BadBytesPerSector(8192)),
            (13, &[0], Error::BadSectorsPerCluster(0)),
            (13, &[3], Error::BadSectorsPerCluster(3)),
            (14, &[0, 0], Error::BadReservedSectors),
            (16, &[0], Error::BadFatCount),
            (19, &[0, 0], Error::ZeroTotalSectors),
            (22, &[0, 0], Error::ZeroFatSize),
            (17, &[0, 0], Error::BadRootEntryCount(0)),
            (19, &[3, 0], Error::MetadataBeyondVolume),
            (22, &[0xFF, 0xFF], Error::MetadataBeyondVolume),
            (510, &[0, 0], Error::NoBootSignature),
        ];
        for (off, bytes, err) in cases {
            let mut b = fat12();
            b[*off..*off + bytes.len()].copy_from_slice(bytes);
            assert_eq!(Geometry::parse(&b, 64 * 512), Err(*err), "offset {off}");
        }
        assert_eq!(Geometry::parse(&fat12(), 63 * 512), Err(Error::VolumeBeyondDevice));
    }

    #[test]
    fn fat_must_cover_all_clusters() {
        let mut b = fat12();
        // 2000 sectors of one-sector clusters need 3000 FAT bytes.
        b[19..21].copy_from_slice(&2000u16.to_le_bytes());
        assert_eq!(Geometry::parse(&b, 2000 * 512), Err(Error::FatTooSmall));
    }
}
