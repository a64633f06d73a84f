//! Tests of [`crate::read_partition_table`] on GPT and MBR images generated
//! in code with [`crate::testing`].

extern crate std;

use alloc::vec;
use alloc::vec::Vec;

use crate::gpt::{GptFault, MAX_ENTRY_ARRAY_BYTES};
use crate::testing::*;
use crate::{
    read_partition_table, BlockIo, Error, Guid, MemDisk, PartitionTable, Scheme, SkipReason,
};

const ESP: Guid = Guid::EFI_SYSTEM_PARTITION;
const LINUX: Guid = Guid::LINUX_FILESYSTEM;

fn parse(img: Vec<u8>, bs: usize) -> Result<PartitionTable, Error> {
    read_partition_table(&mut MemDisk::new(img, bs as u32))
}

/// A typical disk: ESP, XBOOTLDR and root, 128 entries of 128 bytes.
fn typical(bs: usize) -> GptImage {
    let n = if bs == 512 { 256 } else { 64 };
    let img = GptImage::new(bs, n);
    let (fu, lu) = (img.first_usable(), img.last_usable());
    img.part(1, GptPart::new(ESP, fu, fu + 9).named("EFI System Partition"))
        .part(2, GptPart::new(Guid::XBOOTLDR, fu + 10, fu + 14))
        .part(4, GptPart::new(LINUX, fu + 15, lu).named("root \u{1F980}"))
}

#[test]
fn valid_gpt_512_and_4096() {
    for bs in [512usize, 4096] {
        let layout = typical(bs);
        let t = parse(layout.build(), bs).unwrap();
        assert_eq!(t.scheme, Scheme::GptPrimary);
        assert!(t.scheme.is_gpt());
        assert_eq!(t.primary_fault, None);
        assert_eq!(t.disk_guid, Some(layout.disk_guid));
        assert_eq!(t.mbr_signature, Some(0));
        assert!(t.skipped.is_empty());
        assert_eq!(t.partitions.len(), 3);
        let nums: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
        assert_eq!(nums, [1, 2, 4], "numbers are array indices, gaps kept");
        let esp = t.esp().unwrap();
        assert_eq!(esp.number, 1);
        assert_eq!((esp.first_lba, esp.num_blocks()), (layout.first_usable(), 10));
        let g = esp.gpt().unwrap();
        assert_eq!(g.name(), "EFI System Partition");
        assert_eq!(g.unique_guid, layout.parts[0].1.unique_guid);
        assert!(esp.mbr().is_none());
        assert!(t.by_number(2).unwrap().is_xbootldr());
        let root = t.by_number(4).unwrap();
        assert_eq!(root.gpt().unwrap().name(), "root \u{1F980}");
        assert_eq!(root.last_lba, layout.last_usable());
        assert!(!root.is_esp() && !root.is_xbootldr());
    }
}

#[test]
fn partition_views_read_the_right_blocks() {
    let layout = typical(4096);
    let mut img = layout.build();
    let fu = layout.first_usable() as usize;
    img[fu * 4096..(fu + 1) * 4096].fill(0xE5);
    let mut disk = MemDisk::new(img, 4096);
    let t = read_partition_table(&mut disk).unwrap();
    let mut view = t.esp().unwrap().open(&mut disk).unwrap();
    assert_eq!(view.num_blocks(), 10);
    let mut buf = vec![0u8; 4096];
    view.read_blocks(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0xE5));
    assert_eq!(view.read_blocks(10, &mut buf), Err(Error::OutOfRange));
}

#[test]
fn many_partitions_esp_twentieth() {
    for bs in [512usize, 4096] {
        let mut layout = GptImage::new(bs, 200);
        let fu = layout.first_usable();
        for i in 1..=19u32 {
            let lba = fu + u64::from(i) * 2;
            layout = layout.part(i, GptPart::new(LINUX, lba, lba + 1));
        }
        layout = layout.part(20, GptPart::new(ESP, 150, 160).named("ESP"));
        layout = layout.part(128, GptPart::new(LINUX, 162, 163).named("last"));
        let t = parse(layout.build(), bs).unwrap();
        assert_eq!(t.partitions.len(), 21);
        let esp = t.esp().unwrap();
        assert_eq!((esp.number, esp.first_lba, esp.last_lba), (20, 150, 160));
        assert_eq!(t.partitions[19].number, 20, "table order");
        assert_eq!(t.partitions[20].number, 128);
        assert_eq!(t.partitions[20].gpt().unwrap().name(), "last");
    }
}

#[test]
fn non_128_entry_sizes_and_odd_counts() {
    for (bs, count, size) in
        [(512usize, 128u32, 256u32), (4096, 7, 384), (512, 3, 1024), (512, 1, 128)]
    {
        let layout = GptImage::new(bs, 200).entries(count, size);
        let fu = layout.first_usable();
        let mut layout = layout.part(count, GptPart::new(ESP, fu, fu + 3).named("wide"));
        if count > 1 {
            layout = layout.part(count - 1, GptPart::new(LINUX, fu + 4, fu + 4));
        }
        let t = parse(layout.build(), bs).unwrap();
        assert_eq!(t.partitions.len(), count.min(2) as usize);
        let esp = t.esp().unwrap();
        assert_eq!(esp.number, count, "bs {bs} count {count} size {size}");
        assert_eq!(esp.gpt().unwrap().name(), "wide");
    }
}

#[test]
fn zero_entries_is_an_empty_table() {
    let layout = GptImage::new(512, 40).entries(0, 128);
    let t = parse(layout.build(), 512).unwrap();
    assert_eq!(t.scheme, Scheme::GptPrimary);
    assert!(t.partitions.is_empty());
}

#[test]
fn bad_entries_are_skipped_with_reasons() {
    let layout = GptImage::new(512, 100);
    let (fu, lu) = (layout.first_usable(), layout.last_usable());
    let layout = layout
        .part(1, GptPart::new(LINUX, fu + 5, fu + 4))
        .part(2, GptPart::new(LINUX, fu - 1, fu + 4))
        .part(3, GptPart::new(LINUX, lu, lu + 1))
        .part(4, GptPart::new(LINUX, u64::MAX, u64::MAX))
        .part(5, GptPart::new(ESP, fu, lu))
        // A used-looking entry with a zero type GUID is unused.
        .part(6, GptPart::new(Guid::ZERO, fu, fu).named("ghost"));
    let t = parse(layout.build(), 512).unwrap();
    let reasons: Vec<(u32, SkipReason)> = t.skipped.iter().map(|s| (s.number, s.reason)).collect();
    assert_eq!(
        reasons,
        [
            (1, SkipReason::StartAfterEnd),
            (2, SkipReason::OutsideUsableRange),
            (3, SkipReason::OutsideUsableRange),
            (4, SkipReason::OutsideUsableRange),
        ]
    );
    assert_eq!(t.partitions.len(), 1);
    assert_eq!(t.esp().unwrap().number, 5);
}

fn assert_backup_used(img: Vec<u8>, bs: usize, fault: GptFault) {
    let t = parse(img, bs).unwrap();
    assert_eq!(t.scheme, Scheme::GptBackup);
    assert_eq!(t.primary_fault, Some(fault));
    assert_eq!(t.esp().unwrap().number, 1);
    assert_eq!(t.partitions.len(), 3);
}

#[test]
fn corrupted_primary_header_falls_back_to_backup() {
    for bs in [512usize, 4096] {
        let layout = typical(bs);
        let good = layout.build();

        let mut img = good.clone();
        img[bs + 60] ^= 1; // disk GUID byte, CRC not resealed
        assert_backup_used(img, bs, GptFault::HeaderCrc);

        let mut img = good.clone();
        img[bs] = b'X';
        assert_backup_used(img, bs, GptFault::NoSignature);

        let mut img = good.clone();
        img[bs..2 * bs].fill(0);
        assert_backup_used(img, bs, GptFault::NoSignature);

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 24, &7u64.to_le_bytes());
        assert_backup_used(img, bs, GptFault::MyLbaMismatch(7));

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 12, &91u32.to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadHeaderSize(91));

        let mut img = good.clone();
        // Too large to compute a CRC over: the size check comes first.
        img[bs + 12..bs + 16].copy_from_slice(&(bs as u32 + 1).to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadHeaderSize(bs as u32 + 1));

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 48, &layout.num_blocks.to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadUsableRange);

        let mut img = good.clone();
        // First usable after last usable.
        edit_header(&mut img, bs, 1, 40, &(layout.last_usable() + 1).to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadUsableRange);

        let mut img = good.clone();
        // Usable range covering the primary header itself.
        edit_header(&mut img, bs, 1, 40, &1u64.to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadUsableRange);

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 84, &200u32.to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadEntrySize(200));

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 84, &0u32.to_le_bytes());
        assert_backup_used(img, bs, GptFault::BadEntrySize(0));

        let mut img = good.clone();
        // Entry array moved onto the usable range.
        edit_header(&mut img, bs, 1, 72, &layout.first_usable().to_le_bytes());
        assert_backup_used(img, bs, GptFault::EntryArrayOverlap);

        let mut img = good.clone();
        // Entry array over the header itself / over LBA 0.
        edit_header(&mut img, bs, 1, 72, &1u64.to_le_bytes());
        assert_backup_used(img, bs, GptFault::EntryArrayOverlap);
        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 72, &0u64.to_le_bytes());
        assert_backup_used(img, bs, GptFault::EntryArrayOverlap);

        let mut img = good.clone();
        edit_header(&mut img, bs, 1, 72, &(layout.num_blocks - 1).to_le_bytes());
        assert_backup_used(img, bs, GptFault::EntryArrayOutsideDisk);
    }
}

#[test]
fn corrupted_entry_array_falls_back_to_backup() {
    for bs in [512usize, 4096] {
        let mut img = typical(bs).build();
        img[2 * bs + 33] ^= 0x40; // first entry's StartingLBA
        assert_backup_used(img, bs, GptFault::EntriesCrc);

        // The stored array CRC is wrong but the header CRC is resealed.
        let mut img = typical(bs).build();
        edit_header(&mut img, bs, 1, 88, &0xDEAD_BEEFu32.to_le_bytes());
        assert_backup_used(img, bs, GptFault::EntriesCrc);
    }
}

#[test]
fn both_headers_bad_is_a_named_error() {
    for bs in [512usize, 4096] {
        let layout = typical(bs);
        let last = layout.backup_lba() as usize;
        let mut img = layout.build();
        img[bs + 70] ^= 1;
        img[last * bs + 70] ^= 1;
        assert_eq!(
            parse(img, bs),
            Err(Error::BadGpt { primary: GptFault::HeaderCrc, backup: GptFault::HeaderCrc })
        );

        let mut img = layout.build();
        img[2 * bs] ^= 1;
        img[layout.backup_array_lba() as usize * bs] ^= 1;
        assert_eq!(
            parse(img, bs),
            Err(Error::BadGpt { primary: GptFault::EntriesCrc, backup: GptFault::EntriesCrc })
        );

        let mut img = layout.build();
        img[bs] ^= 1;
        img[last * bs..].fill(0);
        let e = parse(img, bs).unwrap_err();
        assert_eq!(
            e,
            Error::BadGpt { primary: GptFault::NoSignature, backup: GptFault::NoSignature }
        );
        let text = std::format!("{e}");
        assert!(text.contains("primary") && text.contains("no GPT signature"), "{text}");
    }
}

#[test]
fn backup_found_through_alternate_lba_on_a_grown_disk() {
    // Partitioned as 300 blocks, then the disk grew to 400: the backup is
    // no longer at the last LBA, but the primary header still points at it.
    let layout = typical(512);
    let layout = GptImage { num_blocks: 300, ..layout };
    let mut img = layout.build();
    img.resize(400 * 512, 0);
    img[2 * 512 + 40] ^= 1; // break the primary array; header still good
    let t = parse(img.clone(), 512).unwrap();
    assert_eq!(t.scheme, Scheme::GptBackup);
    assert_eq!(t.primary_fault, Some(GptFault::EntriesCrc));
    // With the primary header itself broken, AlternateLBA cannot be
    // trusted and the last LBA holds nothing.
    img[512 + 8] ^= 1;
    assert_eq!(
        parse(img, 512),
        Err(Error::BadGpt { primary: GptFault::HeaderCrc, backup: GptFault::NoSignature })
    );
}

#[test]
fn backup_validated_against_its_own_location() {
    let layout = typical(512);
    let last = layout.backup_lba();
    let mut img = layout.build();
    img[512] ^= 1;
    // The backup claims to live elsewhere.
    edit_header(&mut img, 512, last, 24, &(last - 1).to_le_bytes());
    assert_eq!(
        parse(img, 512),
        Err(Error::BadGpt {
            primary: GptFault::NoSignature,
            backup: GptFault::MyLbaMismatch(last - 1)
        })
    );
}

#[test]
fn huge_counts_and_sizes_are_named_errors() {
    let bs = 512;
    let layout = typical(bs);
    let last = layout.backup_lba();
    let cases: [(u32, u32, GptFault); 6] = [
        (u32::MAX, 128, GptFault::EntryArrayTooLarge),
        (u32::MAX, u32::MAX - 127, GptFault::EntryArrayTooLarge),
        (1, u32::MAX - 127, GptFault::EntryArrayTooLarge),
        ((MAX_ENTRY_ARRAY_BYTES / 128 + 1) as u32, 128, GptFault::EntryArrayTooLarge),
        // Within the memory bound, but larger than the disk.
        ((MAX_ENTRY_ARRAY_BYTES / 128) as u32, 128, GptFault::EntryArrayOutsideDisk),
        (4096, 128, GptFault::EntryArrayOutsideDisk),
    ];
    for (count, size, fault) in cases {
        let mut img = layout.build();
        for lba in [1, last] {
            edit_header(&mut img, bs, lba, 80, &count.to_le_bytes());
            edit_header(&mut img, bs, lba, 84, &size.to_le_bytes());
        }
        assert_eq!(
            parse(img, bs),
            Err(Error::BadGpt { primary: fault, backup: fault }),
            "count {count} size {size}"
        );
    }
    // Entry LBA near u64::MAX: the end computation must not wrap.
    let mut img = layout.build();
    for lba in [1, last] {
        edit_header(&mut img, bs, lba, 72, &(u64::MAX - 1).to_le_bytes());
    }
    assert_eq!(
        parse(img, bs),
        Err(Error::BadGpt {
            primary: GptFault::EntryArrayOutsideDisk,
            backup: GptFault::EntryArrayOutsideDisk
        })
    );
    // AlternateLBA far beyond the disk, primary array broken.
    let mut img = layout.build();
    edit_header(&mut img, bs, 1, 32, &u64::MAX.to_le_bytes());
    img[2 * bs] ^= 1;
    img[last as usize * bs] ^= 1;
    assert_eq!(
        parse(img, bs),
        Err(Error::BadGpt { primary: GptFault::EntriesCrc, backup: GptFault::HeaderOutsideDisk })
    );
}

/// A read-only device that claims an enormous size and reads zeros past
/// its data, to exercise arithmetic near `u64::MAX` without the memory.
struct Huge {
    data: Vec<u8>,
    blocks: u64,
}

impl BlockIo for Huge {
    fn block_size(&self) -> u32 {
        512
    }
    fn num_blocks(&self) -> u64 {
        self.blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        crate::check_range(512, self.blocks, lba, buf.len())?;
        for (i, chunk) in buf.chunks_exact_mut(512).enumerate() {
            let at = (lba + i as u64).checked_mul(512).and_then(|a| usize::try_from(a).ok());
            match at.and_then(|a| self.data.get(a..a + 512)) {
                Some(src) => chunk.copy_from_slice(src),
                None => chunk.fill(0),
            }
        }
        Ok(())
    }
}

#[test]
fn disk_of_u64_max_blocks() {
    let layout = GptImage::new(512, 64).entries(4, 128);
    let fu = layout.first_usable();
    let layout = layout.part(1, GptPart::new(ESP, fu, fu + 9));
    let mut data = layout.build();
    // Claim a usable range up to the very last block of a u64::MAX disk.
    edit_header(&mut data, 512, 1, 48, &(u64::MAX - 10).to_le_bytes());
    let mut dev = Huge { data, blocks: u64::MAX };
    let t = read_partition_table(&mut dev).unwrap();
    assert_eq!(t.scheme, Scheme::GptPrimary);
    assert_eq!(t.esp().unwrap().first_lba, fu);
    // LastUsable == u64::MAX can never be < num_blocks. The primary's
    // AlternateLBA (63, CRC good) still leads to the backup written for the
    // 64-block layout, although the last LBA is u64::MAX - 1.
    edit_header(&mut dev.data, 512, 1, 48, &u64::MAX.to_le_bytes());
    let t = read_partition_table(&mut dev).unwrap();
    assert_eq!(t.scheme, Scheme::GptBackup);
    assert_eq!(t.primary_fault, Some(GptFault::BadUsableRange));
    assert_eq!(t.esp().unwrap().first_lba, fu);
}

#[test]
fn tiny_and_odd_devices() {
    assert_eq!(parse(Vec::new(), 512), Err(Error::NoPartitionTable));
    assert_eq!(parse(vec![0; 512], 512), Err(Error::NoPartitionTable));
    assert_eq!(parse(vec![0; 4096], 4096), Err(Error::NoPartitionTable));
    assert_eq!(parse(vec![0; 4096], 1000), Err(Error::UnsupportedBlockSize(1000)));
    assert_eq!(parse(vec![0; 4096], 256), Err(Error::UnsupportedBlockSize(256)));
    // A protective MBR on a one-block disk.
    let pm = protective_mbr(512, 1);
    assert_eq!(
        parse(pm.clone(), 512),
        Err(Error::BadGpt { primary: GptFault::HeaderOutsideDisk, backup: GptFault::NoBackup })
    );
    // Two blocks: the last LBA is the primary's, so there is no backup.
    let mut img = pm;
    img.resize(1024, 0);
    assert_eq!(
        parse(img, 512),
        Err(Error::BadGpt { primary: GptFault::NoSignature, backup: GptFault::NoBackup })
    );
}

#[test]
fn gpt_without_protective_mbr_is_still_read() {
    let mut img = typical(512).build();
    img[..512].fill(0);
    let t = parse(img, 512).unwrap();
    assert_eq!(t.scheme, Scheme::GptPrimary);
    assert_eq!(t.mbr_signature, None);
    // A hybrid MBR (0xEE plus a legacy record) reads as GPT.
    let mut img = typical(512).build();
    write_mbr(
        &mut img[..512],
        0xAABBCCDD,
        &[MbrRecord::new(0xEE, 1, 33), MbrRecord::new(0x0C, 34, 10)],
    );
    let t = parse(img, 512).unwrap();
    assert_eq!(t.scheme, Scheme::GptPrimary);
    assert_eq!(t.mbr_signature, Some(0xAABBCCDD));
}

#[test]
fn one_byte_mutations_never_panic() {
    // Small arrays keep the loop fast; every parsed byte of LBA 0, both
    // headers and both arrays is mutated three ways.
    for bs in [512usize, 4096] {
        let layout = GptImage::new(bs, 24).entries(8, 128);
        let (fu, lu) = (layout.first_usable(), layout.last_usable());
        let layout = layout
            .part(1, GptPart::new(ESP, fu, fu + 3).named("ESP"))
            .part(3, GptPart::new(LINUX, fu + 4, lu));
        let good = layout.build();
        let expected = parse(good.clone(), bs).unwrap().partitions;
        let backup_hdr = layout.backup_lba() as usize * bs;
        let regions = [
            (0, 3 * bs),                                                // MBR, header, array
            (layout.backup_array_lba() as usize * bs, backup_hdr + bs), // backup copy
        ];
        let mut disk = MemDisk::new(good.clone(), bs as u32).writable();
        for (start, end) in regions {
            // Past byte 1100 of a block nothing is parsed (MBR 512, header
            // 92, array 1024 bytes), so large blocks are sampled sparsely.
            for pos in (start..end).filter(|p| p % bs < 1100 || p % 61 == 0) {
                for m in [0x01u8, 0x80, 0xFF] {
                    let b = good[pos] ^ m;
                    let blk = pos / bs;
                    let mut block = good[blk * bs..(blk + 1) * bs].to_vec();
                    block[pos % bs] = b;
                    disk.write_blocks(blk as u64, &block).unwrap();
                    let r = read_partition_table(&mut disk);
                    // Bytes covered by the primary header CRC or the primary
                    // array CRC must make the reader switch to the backup,
                    // with the same partitions.
                    let in_hdr = (bs..bs + 92).contains(&pos);
                    let in_arr = (2 * bs..2 * bs + layout.array_bytes()).contains(&pos);
                    if in_hdr || in_arr {
                        let t = r.unwrap();
                        assert_eq!(t.scheme, Scheme::GptBackup, "pos {pos}");
                        assert_eq!(t.partitions, expected);
                    } else if pos >= bs {
                        // Outside the CRC'd bytes, the primary is used as is
                        // (backup mutations are never looked at).
                        let t = r.unwrap();
                        assert_eq!(t.scheme, Scheme::GptPrimary, "pos {pos}");
                        assert_eq!(t.partitions, expected);
                    } else if let Ok(t) = r {
                        // LBA 0 mutations may turn the MBR into anything;
                        // whatever comes back must fit the disk.
                        for p in &t.partitions {
                            assert!(p.first_lba <= p.last_lba && p.last_lba < 24, "{p:?}");
                        }
                    }
                    disk.write_blocks(blk as u64, &good[blk * bs..(blk + 1) * bs]).unwrap();
                }
            }
        }
    }
}

#[test]
fn random_multi_byte_mutations_never_panic() {
    let layout = typical(512);
    let good = layout.build();
    let hot = 3 * 512; // MBR, primary header, first array block
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut img = good.clone();
        for _ in 0..(next() % 8 + 1) {
            let pos = (next() % hot as u64) as usize;
            img[pos] = next() as u8;
        }
        let last = layout.backup_lba() as usize * 512;
        if next() % 2 == 0 {
            let pos = last + (next() % 92) as usize;
            img[pos] = next() as u8;
        }
        if let Ok(t) = parse(img, 512) {
            for p in &t.partitions {
                assert!(p.first_lba <= p.last_lba && p.last_lba < layout.num_blocks);
            }
        }
    }
}

#[test]
fn legacy_mbr_primaries() {
    for bs in [512usize, 4096] {
        let img = mbr_image(
            bs,
            100,
            0xDEAD_BEEF,
            &[
                MbrRecord::new(0x83, 50, 50),
                MbrRecord { status: 0x80, ..MbrRecord::new(0xEF, 1, 20) },
                MbrRecord::new(0, 0, 0),
                MbrRecord::new(0xEA, 21, 5),
            ],
        );
        let t = parse(img, bs).unwrap();
        assert_eq!(t.scheme, Scheme::Mbr);
        assert!(!t.scheme.is_gpt());
        assert_eq!(t.mbr_signature, Some(0xDEAD_BEEF));
        assert_eq!(t.disk_guid, None);
        let nums: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
        assert_eq!(nums, [1, 2, 4]);
        let esp = t.esp().unwrap();
        assert_eq!((esp.number, esp.first_lba, esp.last_lba), (2, 1, 20));
        assert!(esp.mbr().unwrap().bootable);
        assert!(esp.gpt().is_none());
        assert!(t.by_number(4).unwrap().is_xbootldr());
        assert_eq!(t.by_number(1).unwrap().last_lba, 99);
    }
}

#[test]
fn legacy_mbr_bad_records_are_skipped() {
    let img = mbr_image(
        512,
        100,
        1,
        &[
            MbrRecord::new(0x83, 10, 0),
            MbrRecord::new(0x83, 0, 10),
            MbrRecord::new(0x83, 50, 51),
            MbrRecord::new(0xEF, u32::MAX, u32::MAX),
        ],
    );
    let t = parse(img, 512).unwrap();
    assert!(t.partitions.is_empty());
    let reasons: Vec<SkipReason> = t.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            SkipReason::Empty,
            SkipReason::OverlapsTable,
            SkipReason::OutsideDisk,
            SkipReason::OutsideDisk
        ]
    );
}

#[test]
fn boot_sector_without_partition_records_is_not_an_mbr() {
    // A FAT "superfloppy" boot sector: 0x55AA, but code in the record area.
    let mut img = vec![0u8; 512 * 16];
    for (i, b) in img[..510].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    img[510] = 0x55;
    img[511] = 0xAA;
    assert_eq!(parse(img, 512), Err(Error::NoPartitionTable));
}

#[test]
fn extended_partitions() {
    let bs = 512;
    let mut img =
        mbr_image(bs, 200, 7, &[MbrRecord::new(0xEF, 1, 9), MbrRecord::new(0x0F, 100, 100)]);
    // EBRs at 100, 120, 150; logicals at 101..=110, 122..=129, 151..=199.
    write_ebr(&mut img, bs, 100, MbrRecord::new(0x83, 1, 10), Some(MbrRecord::new(0x05, 20, 30)));
    write_ebr(&mut img, bs, 120, MbrRecord::new(0xEA, 2, 8), Some(MbrRecord::new(0x05, 50, 50)));
    write_ebr(&mut img, bs, 150, MbrRecord::new(0x83, 1, 49), None);
    let t = parse(img.clone(), bs).unwrap();
    let got: Vec<(u32, u64, u64, bool)> = t
        .partitions
        .iter()
        .map(|p| (p.number, p.first_lba, p.last_lba, p.mbr().unwrap().logical))
        .collect();
    assert_eq!(
        got,
        [(1, 1, 9, false), (5, 101, 110, true), (6, 122, 129, true), (7, 151, 199, true)]
    );
    assert!(t.by_number(6).unwrap().is_xbootldr());
    assert!(t.skipped.is_empty());

    // A loop back to the first EBR stops the walk.
    let mut looped = img.clone();
    write_ebr(&mut looped, bs, 150, MbrRecord::new(0x83, 1, 49), Some(MbrRecord::new(0x05, 0, 1)));
    let t = parse(looped, bs).unwrap();
    assert_eq!(t.partitions.len(), 4);
    assert_eq!(t.skipped.len(), 1);
    assert_eq!((t.skipped[0].number, t.skipped[0].reason), (8, SkipReason::ExtendedChainLoop));

    // A self-loop.
    let mut self_loop = img.clone();
    write_ebr(
        &mut self_loop,
        bs,
        100,
        MbrRecord::new(0x83, 1, 10),
        Some(MbrRecord::new(0x05, 0, 5)),
    );
    let t = parse(self_loop, bs).unwrap();
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(t.skipped[0].reason, SkipReason::ExtendedChainLoop);

    // A link out of the extended partition, a missing signature, a logical
    // partition sticking out.
    let mut out = img.clone();
    write_ebr(&mut out, bs, 120, MbrRecord::new(0x83, 2, 8), Some(MbrRecord::new(0x05, 100, 5)));
    let t = parse(out, bs).unwrap();
    assert_eq!(t.skipped[0].reason, SkipReason::ExtendedChainBroken);
    let mut nosig = img.clone();
    nosig[150 * bs + 510] = 0;
    let t = parse(nosig, bs).unwrap();
    assert_eq!(t.partitions.len(), 3);
    assert_eq!(t.skipped[0].reason, SkipReason::ExtendedChainBroken);
    let mut stick = img.clone();
    write_ebr(&mut stick, bs, 150, MbrRecord::new(0x83, 1, 50), None);
    let t = parse(stick, bs).unwrap();
    assert_eq!((t.skipped[0].number, t.skipped[0].reason), (7, SkipReason::OutsideExtended));
    let mut at_ebr = img.clone();
    write_ebr(&mut at_ebr, bs, 150, MbrRecord::new(0x83, 0, 5), None);
    let t = parse(at_ebr, bs).unwrap();
    assert_eq!(t.skipped[0].reason, SkipReason::OverlapsTable);

    // A second extended partition is not followed.
    let mut two = img.clone();
    write_mbr(
        &mut two[..bs],
        7,
        &[MbrRecord::new(0xEF, 1, 9), MbrRecord::new(0x0F, 100, 100), MbrRecord::new(0x05, 10, 20)],
    );
    let t = parse(two, bs).unwrap();
    assert_eq!(t.partitions.len(), 4);
    assert_eq!((t.skipped[0].number, t.skipped[0].reason), (3, SkipReason::ExtraExtended));
}

#[test]
fn extended_chain_is_bounded() {
    let bs = 512;
    let n = 1000u64;
    let mut img = mbr_image(bs, n, 0, &[MbrRecord::new(0x05, 1, (n - 1) as u32)]);
    // 300 EBRs, each with a one-block logical partition after it.
    for i in 0..300u64 {
        let lba = 1 + 2 * i;
        write_ebr(
            &mut img,
            bs,
            lba,
            MbrRecord::new(0x83, 1, 1),
            Some(MbrRecord::new(0x05, (2 * (i + 1)) as u32, 2)),
        );
    }
    let t = parse(img, bs).unwrap();
    assert_eq!(t.partitions.len(), crate::mbr::MAX_EBRS);
    assert_eq!(t.skipped.last().unwrap().reason, SkipReason::ExtendedChainTooLong);
}

#[test]
fn mbr_one_byte_mutations_never_panic() {
    let bs = 512;
    let mut img =
        mbr_image(bs, 64, 9, &[MbrRecord::new(0xEF, 2, 10), MbrRecord::new(0x05, 20, 40)]);
    write_ebr(&mut img, bs, 20, MbrRecord::new(0x83, 1, 9), Some(MbrRecord::new(0x05, 12, 10)));
    write_ebr(&mut img, bs, 32, MbrRecord::new(0x83, 2, 5), None);
    for blk in [0usize, 20, 32] {
        for off in 440..512 {
            for m in [0x01u8, 0x80, 0xFF] {
                let mut bad = img.clone();
                bad[blk * bs + off] ^= m;
                if let Ok(t) = parse(bad, bs) {
                    for p in &t.partitions {
                        assert!(p.first_lba <= p.last_lba && p.last_lba < 64, "{p:?}");
                    }
                }
            }
        }
    }
}

/// An image made by sgdisk 1.0.9 (GPT fdisk), an independent writer, kept
/// as the `gpt` fuzz seed `sgdisk-512`: checks CRC and GUID byte order
/// against another implementation.
#[test]
fn reads_an_sgdisk_image() {
    let seed = include_bytes!("../../../fuzz/seeds/gpt/sgdisk-512");
    // The seed leaves out LBA 0 (the fuzz target supplies a protective MBR).
    let mut img = protective_mbr(512, (seed.len() as u64 - 1) / 512 + 1);
    img.extend_from_slice(&seed[1..]);
    let t = parse(img, 512).unwrap();
    assert_eq!(t.scheme, Scheme::GptPrimary);
    assert_eq!(
        t.disk_guid.unwrap(),
        "8A3F1E52-47C4-4B7C-9E0E-6F1A2B3C4D5E".parse::<Guid>().unwrap()
    );
    let esp = t.esp().unwrap();
    assert_eq!((esp.number, esp.first_lba, esp.last_lba), (1, 34, 63));
    assert_eq!(esp.gpt().unwrap().name(), "EFI system partition");
    assert_eq!(
        esp.gpt().unwrap().unique_guid,
        "D4C3B2A1-6F5E-4D7C-8B9A-0A1B2C3D4E5F".parse::<Guid>().unwrap()
    );
    let root = t.by_number(2).unwrap();
    assert_eq!(root.gpt().unwrap().type_guid, LINUX);
    assert_eq!(root.gpt().unwrap().name(), "root");
}

/// Test twin of the fuzz crate's sparse disk (`fuzz/src/lib.rs`): `head`
/// blocks of `data` at LBA 0, the rest at the end of `num_blocks`.
struct Sparse {
    data: Vec<u8>,
    bs: usize,
    head: u64,
    num_blocks: u64,
}

impl BlockIo for Sparse {
    fn block_size(&self) -> u32 {
        self.bs as u32
    }
    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Error> {
        crate::check_range(self.bs as u32, self.num_blocks, lba, buf.len())?;
        let total = (self.data.len() / self.bs) as u64;
        let tail_start = self.num_blocks - (total - self.head);
        for (i, chunk) in buf.chunks_exact_mut(self.bs).enumerate() {
            let l = lba + i as u64;
            let idx = if l < self.head {
                Some(l)
            } else if l >= tail_start {
                Some(self.head + l - tail_start)
            } else {
                None
            };
            match idx {
                Some(x) => chunk
                    .copy_from_slice(&self.data[x as usize * self.bs..(x as usize + 1) * self.bs]),
                None => chunk.fill(0),
            }
        }
        Ok(())
    }
}

/// Decodes a fuzz seed (format in `fuzz/src/lib.rs`) into a device.
fn seed_disk(seed: &[u8], gpt: bool) -> Sparse {
    let bs = if seed[0] & 1 != 0 { 4096 } else { 512 };
    let (mut num_blocks, mut head, mut data) = if seed[0] & 2 != 0 {
        let n = u64::from_le_bytes(seed[1..9].try_into().unwrap());
        let h = u64::from(u16::from_le_bytes(seed[9..11].try_into().unwrap()));
        (n, h, seed[11..].to_vec())
    } else {
        let d = seed[1..].to_vec();
        ((d.len() / bs) as u64, (d.len() / bs) as u64, d)
    };
    if gpt {
        let mut img = protective_mbr(bs, num_blocks + 1);
        img.extend_from_slice(&data);
        data = img;
        num_blocks += 1;
        head += 1;
    }
    data.truncate(data.len() / bs * bs);
    Sparse { data, bs, head, num_blocks }
}

#[test]
fn fuzz_seeds_are_valid_tables() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds");
    for (target, gpt) in [("gpt", true), ("mbr", false)] {
        let mut count = 0;
        for entry in std::fs::read_dir(std::format!("{root}/{target}")).unwrap() {
            let path = entry.unwrap().path();
            let seed = std::fs::read(&path).unwrap();
            assert!(seed.len() < 64 * 1024, "{path:?} is too big for a seed");
            let mut disk = seed_disk(&seed, gpt);
            let t = read_partition_table(&mut disk).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(t.scheme.is_gpt(), gpt, "{path:?}");
            assert_eq!(t.scheme == Scheme::GptPrimary, gpt, "{path:?}");
            assert!(!t.partitions.is_empty() && t.skipped.is_empty(), "{path:?}: {t:?}");
            count += 1;
        }
        assert!(count >= 3, "{target}: only {count} seeds");
    }
}
