//! Hand-built images: every kind of corruption maps to a named error (or a
//! documented fallback), never a panic or a hang.

mod common;

use common::*;
use vmfw_block::MemDisk;
use vmfw_fat::{Attributes, Error, FatType, FileSystem};

const DIR: u8 = Attributes::DIRECTORY;

/// A valid hand image: `/HELLO.TXT` (clusters 2,3,4, 1100 bytes) and
/// `/SUB/` (cluster 10) holding `.`, `..` and `F.TXT` (cluster 11, 5 bytes).
fn base() -> Hand {
    let mut h = Hand::new();
    h.root_slot(0, short(b"HELLO   TXT", 0, 2, 1100));
    h.chain(&[2, 3, 4]);
    for c in 2..=4u32 {
        h.fill_cluster(c, &pattern(c as u8, 512));
    }
    h.root_slot(1, short(b"SUB        ", DIR, 10, 0));
    h.chain(&[10]);
    h.slot(10, 0, short(b".          ", DIR, 10, 0));
    h.slot(10, 1, short(b"..         ", DIR, 0, 0));
    h.slot(10, 2, short(b"F       TXT", 0, 11, 5));
    h.chain(&[11]);
    h.fill_cluster(11, b"hello");
    h
}

fn hello_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    for c in 2..=4u8 {
        v.extend(pattern(c, 512));
    }
    v.truncate(1100);
    v
}

fn read(fs: &mut FileSystem<MemDisk>, path: &str) -> Result<Vec<u8>, Error> {
    let mut f = fs.open(path)?;
    fs.read_to_vec(&mut f, 1 << 20)
}

#[test]
fn base_image_is_valid() {
    let h = base();
    let mut fs = h.mount();
    assert_eq!(fs.fat_type(), FatType::Fat12);
    assert_eq!(fs.info().cluster_count, HAND_MAX_CLUSTER - 1);
    assert_eq!(fs.volume_label().unwrap().as_deref(), Some("HANDMADE"));
    assert_eq!(read(&mut fs, "/hello.txt").unwrap(), hello_bytes());
    assert_eq!(read(&mut fs, "/sub/f.txt").unwrap(), b"hello");
    assert_eq!(read(&mut fs, "/SUB/../SUB/./F.TXT").unwrap(), b"hello");
    assert!(fs.lookup("/sub/..").unwrap().is_root());
    // A relative `..` above the start follows the on-disk entry.
    let sub = fs.lookup("/sub").unwrap();
    assert!(fs.lookup_from(&sub, "..").unwrap().is_root());
    assert_eq!(fs.lookup_from(&sub, "f.txt").unwrap().size(), 5);
    let (files, err) = walk(&mut fs, 8, 1000);
    assert_eq!(err, None);
    assert_eq!(files.len(), 2);
}

#[test]
fn zero_and_bad_bpb_fields_are_named() {
    let cases: &[(usize, &[u8], Error)] = &[
        (11, &[0, 0], Error::BadBytesPerSector(0)),
        (11, &[0x00, 0x01], Error::BadBytesPerSector(256)),
        (13, &[0], Error::BadSectorsPerCluster(0)),
        (13, &[6], Error::BadSectorsPerCluster(6)),
        (14, &[0, 0], Error::BadReservedSectors),
        (16, &[0], Error::BadFatCount),
        (17, &[0, 0], Error::BadRootEntryCount(0)),
        (19, &[0, 0], Error::ZeroTotalSectors),
        // BPB_FATSz16 = 0 sends the parser to BPB_FATSz32, which on this
        // FAT12 boot sector overlaps the extended boot record.
        (22, &[0, 0], Error::MetadataBeyondVolume),
        (19, &[0xC8, 0x00], Error::VolumeBeyondDevice),
        (19, &[0x00, 0x10], Error::FatTooSmall),
        (510, &[0x55, 0x00], Error::NoBootSignature),
    ];
    for (off, bytes, err) in cases {
        let mut h = base();
        h.img[*off..*off + bytes.len()].copy_from_slice(bytes);
        let r = FileSystem::mount(MemDisk::new(h.img, 512));
        assert_eq!(r.err(), Some(*err), "offset {off}");
    }
    let mut h = base();
    h.img[22..24].fill(0);
    h.img[36..40].fill(0);
    assert_eq!(FileSystem::mount(MemDisk::new(h.img, 512)).err(), Some(Error::ZeroFatSize));
    // A device shorter than the volume, and shorter than a boot sector.
    let mut h = base();
    h.img.truncate(60 * 512);
    assert_eq!(FileSystem::mount(MemDisk::new(h.img, 512)).err(), Some(Error::VolumeBeyondDevice));
    let r = FileSystem::mount(MemDisk::new(vec![0; 100], 512));
    assert_eq!(r.err(), Some(Error::Io(vmfw_block::Error::OutOfRange)));
}

#[test]
fn looping_file_chain() {
    // 2 -> 3 -> 2: the file needs 3 clusters, the third is a revisit.
    let mut h = base();
    h.fat(3, 2);
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::ChainLoop));
    // A self-loop on a file that claims 40 clusters.
    let mut h = base();
    h.root_slot(0, short(b"HELLO   TXT", 0, 2, 40 * 512));
    h.fat(2, 2);
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::ChainLoop));
    // A loop back into the middle of an earlier run.
    let mut h = base();
    h.root_slot(0, short(b"HELLO   TXT", 0, 20, 10 * 512));
    h.chain(&[20, 21, 22, 23, 30, 31]);
    h.fat(31, 21);
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::ChainLoop));
}

#[test]
fn looping_directory_chain() {
    for cycle in [&[10u32][..], &[10, 12], &[10, 12, 13, 14, 15]] {
        let mut h = base();
        for (i, c) in cycle.iter().enumerate() {
            let next = cycle[(i + 1) % cycle.len()];
            h.fat(*c, next as u16);
            // Fill every slot so no end marker stops the walk.
            for s in 0..16 {
                if *c != 10 || s >= 3 {
                    let mut name = *b"FILL       ";
                    name[4] = b'A' + (s as u8);
                    name[5] = b'0' + i as u8;
                    h.slot(*c, s, short(&name, 0, 0, 0));
                }
            }
        }
        let mut fs = h.mount();
        let sub = fs.lookup("/sub").unwrap();
        let dir = fs.dir_of(&sub).unwrap();
        let all: Vec<_> = fs.read_dir(dir).collect();
        assert_eq!(all.last(), Some(&Err(Error::ChainLoop)), "cycle {cycle:?}");
        assert!(all.len() < 200, "cycle {cycle:?}: {} entries", all.len());
        assert_eq!(fs.lookup("/sub/nothing"), Err(Error::ChainLoop));
        assert_eq!(read(&mut fs, "/sub/f.txt").unwrap(), b"hello");
        let (_, err) = walk(&mut fs, 8, 10_000);
        assert_eq!(err, Some(Error::ChainLoop));
    }
}

#[test]
fn subdirectory_pointing_at_an_ancestor_is_bounded_by_depth() {
    let mut h = base();
    h.slot(10, 3, short(b"LOOP       ", DIR, 10, 0));
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/sub/loop/loop/loop/f.txt").unwrap(), b"hello");
    let (files, err) = walk(&mut fs, 16, 10_000);
    assert_eq!(err, None);
    // /HELLO.TXT plus one F.TXT per level 1..=16.
    assert_eq!(files.len(), 1 + 16);
}

#[test]
fn clusters_out_of_range() {
    // First cluster beyond the volume.
    let mut h = base();
    h.root_slot(0, short(b"HELLO   TXT", 0, 100, 1100));
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::ClusterOutOfRange(100)));
    // First cluster 0 and 1 on a non-empty file.
    for c in [0, 1] {
        let mut h = base();
        h.root_slot(0, short(b"HELLO   TXT", 0, c, 1100));
        let mut fs = h.mount();
        assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::ClusterOutOfRange(c)));
    }
    // Free, reserved, bad and beyond-the-volume values inside a chain.
    for v in [0u16, 1, 0xFF7, 63, 0xFF0] {
        let mut h = base();
        h.fat(3, v);
        let mut fs = h.mount();
        assert_eq!(
            read(&mut fs, "/hello.txt"),
            Err(Error::ClusterOutOfRange(u32::from(v))),
            "{v:#x}"
        );
    }
    // A directory entry that names a bad cluster.
    let mut h = base();
    h.root_slot(1, short(b"SUB        ", DIR, 4000, 0));
    let mut fs = h.mount();
    assert_eq!(fs.lookup("/sub/f.txt"), Err(Error::ClusterOutOfRange(4000)));
    // A directory chain that runs into a free cluster.
    let mut h = base();
    h.fat(10, 0);
    for s in 3..16 {
        h.slot(10, s, short(b"FILLER     ", 0, 0, 0));
    }
    let mut fs = h.mount();
    assert_eq!(fs.lookup("/sub/nothing"), Err(Error::ClusterOutOfRange(0)));
}

#[test]
fn truncated_chain_and_oversized_files() {
    let mut h = base();
    h.fat(3, 0xFFF);
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt"), Err(Error::TruncatedChain));
    // Reading only the part the chain covers still fails: the chain is
    // checked once, on the first read.
    let mut f = fs.open("/hello.txt").unwrap();
    let mut b = [0u8; 10];
    assert_eq!(fs.read_at(&mut f, 0, &mut b), Err(Error::TruncatedChain));

    let mut h = base();
    h.root_slot(0, short(b"HELLO   TXT", 0, 2, u32::MAX));
    let mut fs = h.mount();
    assert_eq!(fs.open("/hello.txt").err(), Some(Error::SizeBeyondVolume(u64::from(u32::MAX))));
    // A chain longer than the size is fine (only the size counts).
    let mut h = base();
    h.root_slot(0, short(b"HELLO   TXT", 0, 2, 600));
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt").unwrap(), hello_bytes()[..600]);
}

#[test]
fn long_names_checksum_and_fallback() {
    let mut h = base();
    let sn = *b"LONGNA~1TXT";
    let good = lfn("Long Name With Spaces.txt", &sn, 0);
    assert_eq!(good.len(), 2);
    for (i, e) in good.iter().enumerate() {
        h.root_slot(2 + i, *e);
    }
    h.root_slot(4, short(&sn, 0, 11, 5));
    let bad_sn = *b"BADSUM~1TXT";
    for (i, e) in lfn("Checksum Mismatch.txt", &bad_sn, 0x5A).iter().enumerate() {
        h.root_slot(5 + i, *e);
    }
    h.root_slot(7, short(&bad_sn, 0, 11, 5));
    let mut fs = h.mount();
    let e = fs.lookup("/long name with SPACES.TXT").unwrap();
    assert_eq!(e.name(), "Long Name With Spaces.txt");
    assert_eq!(e.short_name(), "LONGNA~1.TXT");
    assert_eq!(fs.lookup("/longna~1.txt").unwrap(), e);
    assert_eq!(fs.lookup("/Checksum Mismatch.txt"), Err(Error::NotFound));
    let e = fs.lookup("/badsum~1.txt").unwrap();
    assert_eq!(e.long_name(), None);
    assert_eq!(e.name(), "BADSUM~1.TXT");

    // An out-of-order run falls back too.
    let mut h = base();
    let run = lfn("Long Name With Spaces.txt", &sn, 0);
    h.root_slot(2, run[1]);
    h.root_slot(3, run[0]);
    h.root_slot(4, short(&sn, 0, 11, 5));
    let mut fs = h.mount();
    assert_eq!(fs.lookup("/LONGNA~1.TXT").unwrap().long_name(), None);
    // A run interrupted by a deleted entry falls back too.
    let mut h = base();
    h.root_slot(2, run[0]);
    let mut deleted = run[1];
    deleted[0] = 0xE5;
    h.root_slot(3, deleted);
    h.root_slot(4, short(&sn, 0, 11, 5));
    let mut fs = h.mount();
    assert_eq!(fs.lookup("/LONGNA~1.TXT").unwrap().long_name(), None);
}

#[test]
fn short_entry_rules() {
    let mut h = base();
    // NT lowercase flags.
    let mut e = short(b"KERNEL  EFI", 0, 11, 5);
    e[12] = 0x08 | 0x10;
    h.root_slot(2, e);
    let mut e = short(b"INITRD  IMG", 0, 11, 5);
    e[12] = 0x08;
    h.root_slot(3, e);
    // Deleted entry and volume label are skipped; 0x05 means 0xE5.
    h.root_slot(4, {
        let mut d = short(b"GONE    TXT", 0, 11, 5);
        d[0] = 0xE5;
        d
    });
    h.root_slot(5, short(b"MYLABEL    ", Attributes::VOLUME_ID | Attributes::ARCHIVE, 0, 0));
    h.root_slot(6, short(b"\x05XY     TXT", 0, 11, 5));
    // The end marker stops the listing: slot 8 is never seen.
    h.root_slot(8, short(b"HIDDEN  TXT", 0, 11, 5));
    let mut fs = h.mount();
    let root = fs.root_dir();
    let names: Vec<String> = fs.read_dir(root).map(|e| e.unwrap().name().to_owned()).collect();
    assert_eq!(names, ["HELLO.TXT", "SUB", "kernel.efi", "initrd.IMG", "σXY.TXT"]);
    assert_eq!(fs.lookup("/KERNEL.EFI").unwrap().name(), "kernel.efi");
    assert_eq!(fs.lookup("/ΣXY.TXT").unwrap().short_name(), "σXY.TXT");
    assert_eq!(fs.lookup("/hidden.txt"), Err(Error::NotFound));
    assert_eq!(fs.volume_label().unwrap().as_deref(), Some("MYLABEL"));
    // A FAT12/16 volume ignores DIR_FstClusHI.
    let mut h = base();
    let mut e = short(b"HELLO   TXT", 0, 2, 1100);
    e[20] = 0x77;
    h.root_slot(0, e);
    let mut fs = h.mount();
    assert_eq!(read(&mut fs, "/hello.txt").unwrap(), hello_bytes());
}

#[test]
fn files_and_directories_are_not_confused() {
    let mut fs = base().mount();
    assert_eq!(fs.lookup("/hello.txt/x"), Err(Error::NotADirectory));
    assert_eq!(fs.open("/sub").err(), Some(Error::IsADirectory));
    let f = fs.lookup("/hello.txt").unwrap();
    assert_eq!(fs.dir_of(&f), Err(Error::NotADirectory));
    assert_eq!(fs.lookup(&format!("/{}", "a".repeat(256))), Err(Error::InvalidPath));
    assert_eq!(fs.lookup(&format!("/{}", "a".repeat(255))), Err(Error::NotFound));
    assert_eq!(fs.lookup("/hel\0lo.txt"), Err(Error::InvalidPath));
    // A subdirectory entry with cluster 0 that is not `..`.
    let mut h = base();
    h.root_slot(1, short(b"SUB        ", DIR, 0, 0));
    let mut fs = h.mount();
    assert_eq!(fs.lookup("/sub/f.txt"), Err(Error::ClusterOutOfRange(0)));
}

#[test]
fn fat32_root_cluster_and_root_loop() {
    let mut img = format(fatfs::FatType::Fat32, 512, 34 << 20, Some(512));
    standard_tree(&mut img, 512);
    // Parse just enough of the BPB to patch it.
    let le16 = |o: usize| usize::from(u16::from_le_bytes([img[o], img[o + 1]]));
    let le32 = |o: usize| u32::from_le_bytes([img[o], img[o + 1], img[o + 2], img[o + 3]]) as usize;
    let fat = le16(14) * 512;
    let root = le32(44);
    let fatsz = le32(36);
    let nfats = usize::from(img[16]);
    assert!(FileSystem::mount(MemDisk::new(img.clone(), 512)).is_ok());

    let mut bad = img.clone();
    bad[44..48].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(FileSystem::mount(MemDisk::new(bad, 512)).err(), Some(Error::BadRootCluster(1)));
    let mut bad = img.clone();
    bad[44..48].copy_from_slice(&0x0FFF_FFF0u32.to_le_bytes());
    assert_eq!(
        FileSystem::mount(MemDisk::new(bad, 512)).err(),
        Some(Error::BadRootCluster(0x0FFF_FFF0))
    );
    // Mirroring off and active FAT beyond the count.
    let mut bad = img.clone();
    bad[40] = 0x80 | 5;
    assert_eq!(FileSystem::mount(MemDisk::new(bad, 512)).err(), Some(Error::BadActiveFat(5)));
    // Mirroring off, second FAT active: the first FAT is ignored.
    let mut second = img.clone();
    second[40] = 0x81;
    assert_eq!(nfats, 2);
    second[fat..fat + fatsz * 512].fill(0);
    let mut fs = FileSystem::mount(MemDisk::new(second, 512)).unwrap();
    assert_eq!(fs.lookup("/loader/entries/a.conf").unwrap().size(), 23);

    // Root cluster chain looping onto itself, root filled with entries.
    let mut looped = img.clone();
    for fat_copy in 0..nfats {
        let at = fat + fat_copy * fatsz * 512 + root * 4;
        looped[at..at + 4].copy_from_slice(&(root as u32).to_le_bytes());
    }
    let data = fat + nfats * fatsz * 512;
    let root_off = data + (root - 2) * 512;
    for s in 0..16 {
        let mut name = *b"FILLER  TXT";
        name[6] = b'A' + s as u8;
        let e = short(&name, 0, 0, 0);
        if looped[root_off + s * 32] == 0 {
            looped[root_off + s * 32..root_off + s * 32 + 32].copy_from_slice(&e);
        }
    }
    let mut fs = FileSystem::mount(MemDisk::new(looped, 512)).unwrap();
    assert_eq!(fs.lookup("/nothing"), Err(Error::ChainLoop));
}
