//! The write operations' rules (names, errors, refusals) on images made
//! by fatfs; the power-cut behaviour is tests/replay.rs's.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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

#[test]
fn attributes_keep_the_directory_bit() {
    for t in TYPES {
        let mut fs = mount(image(t));
        let root = fs.root_dir();
        fs.set_attributes(root, "a.conf", 0x01 | 0x02 | 0x10).unwrap();
        assert_eq!(fs.find(root, "a.conf").unwrap().attributes().0, 0x03, "{t:?}");
        fs.set_attributes(root, "sub", 0x20).unwrap();
        assert_eq!(fs.find(root, "sub").unwrap().attributes().0, 0x30, "{t:?}");
        assert_eq!(fs.set_attributes(root, "nope", 0), Err(Error::NotFound));
        let img = fs.into_inner().data().to_vec();
        assert_eq!(fatfs_read(&img, "a.conf").as_deref(), Some(&b"title A\n"[..]), "{t:?}");
    }
}

/// A disk two users write: one through the file system, one underneath it.
#[derive(Clone)]
struct Shared(std::rc::Rc<std::cell::RefCell<MemDisk>>);

impl vmfw_block::BlockIo for Shared {
    fn block_size(&self) -> u32 {
        self.0.borrow().block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.0.borrow().num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), vmfw_block::Error> {
        self.0.borrow_mut().read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), vmfw_block::Error> {
        self.0.borrow_mut().write_blocks(lba, buf)
    }
    fn read_only(&self) -> bool {
        self.0.borrow().read_only()
    }
}

#[test]
fn invalidate_drops_what_a_write_underneath_made_stale() {
    use vmfw_block::BlockIo;
    let disk = Shared(std::rc::Rc::new(std::cell::RefCell::new(
        MemDisk::new(image(fatfs::FatType::Fat16), 512).writable(),
    )));
    let mut fs = FileSystem::mount(disk.clone()).unwrap();
    let mut f = fs.open("/B.TXT").unwrap();
    let mut buf = [0u8; 3];
    fs.read_at(&mut f, 0, &mut buf).unwrap();
    assert_eq!(&buf, b"bee");
    // Rewrite the file's block underneath (as a UEFI Block I/O client
    // would), then rename it there too: the directory block is cached.
    let (off, _) = fs.extents(&mut f).unwrap()[0];
    // The root directory's block is now in `fs`'s block cache.
    fs.find(fs.root_dir(), "B.TXT").unwrap();
    let mut other = FileSystem::mount(disk.clone()).unwrap();
    let mut g = other.open("/B.TXT").unwrap();
    other.overwrite_at(&mut g, 0, b"BEE").unwrap();
    other.rename(other.root_dir(), "B.TXT", "c.txt").unwrap();
    let mut block = vec![0u8; 512];
    disk.clone().read_blocks(off / 512, &mut block).unwrap();
    assert_eq!(&block[..3], b"BEE");
    assert!(fs.find(fs.root_dir(), "c.txt").is_err(), "the directory block was not cached");
    fs.invalidate();
    let mut f = fs.open("/c.txt").unwrap();
    fs.read_at(&mut f, 0, &mut buf).unwrap();
    assert_eq!(&buf, b"BEE");
}
