//! The write operations' rules (names, errors, refusals) on images made
//! by fatfs; the power-cut behaviour is tests/replay.rs's.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;

use common::*;
use vmfw_block::MemDisk;
use vmfw_fat::{Error, FileSystem};

fn image(fat: fatfs::FatType) -> Vec<u8> {
    let (bytes, cluster) = match fat {
        fatfs::FatType::Fat12 => (1 << 20, 1024),
        fatfs::FatType::Fat16 => (4 << 20, 512),
        fatfs::FatType::Fat32 => (34 << 20, 512),
    };
    let mut img = format(fat, 512, bytes, Some(cluster));
    populate(&mut img, |root| {
        root.create_dir("sub").unwrap();
        write_file(root, "a.conf", b"title A\n");
        write_file(root, "B.TXT", b"bee");
    });
    img
}

fn mount(img: Vec<u8>) -> FileSystem<MemDisk> {
    FileSystem::mount(MemDisk::new(img, 512).writable()).unwrap()
}

fn fatfs_read(img: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut copy = img.to_vec();
    let mut out = None;
    populate(&mut copy, |root| {
        if let Ok(mut f) = root.open_file(path) {
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            out = Some(v);
        }
    });
    out
}

const TYPES: [fatfs::FatType; 3] =
    [fatfs::FatType::Fat12, fatfs::FatType::Fat16, fatfs::FatType::Fat32];

#[test]
fn create_names_and_short_name_generation() {
    for t in TYPES {
        let mut fs = mount(image(t));
        let root = fs.root_dir();
        let mut f = fs.create(root, "accept+1.conf").unwrap();
        fs.write_at(&mut f, 0, b"one").unwrap();
        let mut g = fs.create(root, "accept+2.conf").unwrap();
        fs.write_at(&mut g, 0, b"two").unwrap();
        fs.create(root, "NEW.TXT").unwrap();
        assert_eq!(fs.find(root, "accept+1.conf").unwrap().short_name(), "ACCEPT~1.CON");
        assert_eq!(fs.find(root, "accept+2.conf").unwrap().short_name(), "ACCEPT~2.CON");
        let n = fs.find(root, "NEW.TXT").unwrap();
        assert_eq!((n.long_name(), n.short_name()), (None, "NEW.TXT"));
        for dup in ["accept+1.conf", "ACCEPT+1.CONF", "a.conf", "ACCEPT~1.CON"] {
            assert_eq!(fs.create(root, dup).map(|_| ()), Err(Error::AlreadyExists), "{dup}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "x.", "x ", "a*b", "tab\there", &"n".repeat(256)]
        {
            assert_eq!(fs.create(root, bad).map(|_| ()), Err(Error::InvalidName), "{bad:?}");
        }
        let img = fs.into_inner().data().to_vec();
        assert_eq!(fatfs_read(&img, "accept+1.conf").as_deref(), Some(&b"one"[..]), "{t:?}");
        assert_eq!(fatfs_read(&img, "accept+2.conf").as_deref(), Some(&b"two"[..]), "{t:?}");
        assert_eq!(fatfs_read(&img, "NEW.TXT").as_deref(), Some(&b""[..]), "{t:?}");
    }
}

#[test]
fn rename_rules() {
    for t in TYPES {
        let mut fs = mount(image(t));
        let root = fs.root_dir();
        assert_eq!(fs.rename(root, "a.conf", "B.TXT"), Err(Error::AlreadyExists));
        assert_eq!(fs.rename(root, "a.conf", "b.txt"), Err(Error::AlreadyExists));
        assert_eq!(fs.rename(root, "nope", "x"), Err(Error::NotFound));
        assert_eq!(fs.rename(root, "a.conf", "x/y"), Err(Error::InvalidName));
        // A case change of the same entry is allowed.
        fs.rename(root, "a.conf", "A.conf").unwrap();
        assert_eq!(fs.find(root, "a.conf").unwrap().name(), "A.conf");
        fs.rename(root, "A.conf", "a+3-0.conf").unwrap();
        let img = fs.into_inner().data().to_vec();
        assert_eq!(fatfs_read(&img, "a+3-0.conf").as_deref(), Some(&b"title A\n"[..]), "{t:?}");
        assert_eq!(fatfs_read(&img, "a.conf"), None, "{t:?}");
    }
}

#[test]
fn delete_and_stale_handles() {
    for t in TYPES {
        let mut fs = mount(image(t));
        let root = fs.root_dir();
        assert_eq!(fs.delete(root, "sub"), Err(Error::IsADirectory));
        assert_eq!(fs.delete(root, "nope"), Err(Error::NotFound));
        let mut f = fs.open("/a.conf").unwrap();
        fs.delete(root, "a.conf").unwrap();
        assert_eq!(fs.open("/a.conf").map(|_| ()), Err(Error::NotFound));
        // A handle to the deleted file cannot change the slot it came from.
        assert_eq!(fs.set_len(&mut f, 5000), Err(Error::NotFound));
        let img = fs.into_inner().data().to_vec();
        assert_eq!(fatfs_read(&img, "a.conf"), None);
        assert_eq!(fatfs_read(&img, "B.TXT").as_deref(), Some(&b"bee"[..]));
    }
}

#[test]
fn full_volume_and_full_root_are_refused_cleanly() {
    let img = image(fatfs::FatType::Fat12);
    let mut fs = mount(img.clone());
    let mut f = fs.open("/B.TXT").unwrap();
    assert_eq!(fs.set_len(&mut f, 0xFFFF_FFFF), Err(Error::VolumeFull));
    assert!(fs.into_inner().data() == &img[..], "a refused grow wrote something");

    // The fixed FAT12 root does not grow: fill it with one-slot names.
    let mut fs = mount(img);
    let root = fs.root_dir();
    let mut made = 0;
    let err = loop {
        match fs.create(root, &format!("F{made}.TXT")) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 10_000);
    };
    assert_eq!(err, Error::DirectoryFull);
    assert!(made > 400, "only {made} entries fit");
    let img = fs.into_inner().data().to_vec();
    assert_eq!(fatfs_read(&img, &format!("F{}.TXT", made - 1)).as_deref(), Some(&b""[..]));
}

#[test]
fn read_only_devices_refuse_every_operation() {
    let img = image(fatfs::FatType::Fat16);
    let mut fs = FileSystem::mount(MemDisk::new(img, 512)).unwrap();
    let root = fs.root_dir();
    assert_eq!(fs.create(root, "x").map(|_| ()), Err(Error::ReadOnly));
    assert_eq!(fs.rename(root, "a.conf", "b"), Err(Error::ReadOnly));
    assert_eq!(fs.delete(root, "a.conf"), Err(Error::ReadOnly));
    let mut f = fs.open("/a.conf").unwrap();
    assert_eq!(fs.set_len(&mut f, 1), Err(Error::ReadOnly));
    assert_eq!(fs.write_at(&mut f, 100, b"x").map(|_| ()), Err(Error::ReadOnly));
}
