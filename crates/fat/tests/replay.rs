//! Power-cut replay: every write operation runs against a device that
//! records its block writes and flushes; then every state a power cut can
//! leave is rebuilt and checked.
//!
//! The model (the one module `write` documents): each block write is
//! atomic, writes between two flushes may land in any order, everything
//! before a completed flush has landed. So the states are: the first `k`
//! flush-separated segments applied whole, plus any subset of segment
//! `k + 1`. Segments of up to [`MAX_EXHAUSTIVE`] writes are tried with
//! every subset; a longer one with every single write left out, every
//! single write alone, and [`SAMPLES`] pseudo-random subsets.
//!
//! Each state must mount with this crate's reader, list the whole tree
//! without error, and show the operation's file either as before or as
//! after (name and content); every other file must be unchanged. When
//! `/usr/sbin/fsck.fat` exists (dosfstools), `fsck.fat -n` must exit 0 or
//! complain only about things the design allows (see [`fsck_ok`]);
//! without it the test prints a note and checks with the reader alone.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use common::*;
use vmfw_block::{BlockIo, Error as BlockError, MemDisk};
use vmfw_fat::{Error, FileSystem};

const FSCK: &str = "/usr/sbin/fsck.fat";
const MAX_EXHAUSTIVE: usize = 10;
const SAMPLES: usize = 64;

#[derive(Clone)]
enum Op {
    Write(u64, Vec<u8>),
    Flush,
}

/// A writable in-memory device that records each block written (a
/// multi-block write as one record per block) and each flush.
struct Rec {
    inner: MemDisk,
    log: Rc<RefCell<Vec<Op>>>,
}

impl BlockIo for Rec {
    fn block_size(&self) -> u32 {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.inner.read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let bs = self.block_size() as usize;
        for (i, b) in buf.chunks(bs).enumerate() {
            self.log.borrow_mut().push(Op::Write(lba + i as u64, b.to_vec()));
        }
        self.inner.write_blocks(lba, buf)
    }
    fn read_only(&self) -> bool {
        false
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.log.borrow_mut().push(Op::Flush);
        Ok(())
    }
}

/// What a file must look like: `(path, Some(contents))` or `(path, None)`
/// for absent.
type Look = Vec<(&'static str, Option<Vec<u8>>)>;

struct Image {
    what: String,
    img: Vec<u8>,
    bs: u32,
}

fn images() -> Vec<Image> {
    use fatfs::FatType as F;
    let mut out = Vec::new();
    for (fat, bytes, cluster, bs) in [
        (F::Fat12, 1 << 20, 1024u32, 512u32),
        (F::Fat16, 4 << 20, 512, 512),
        // 4 KiB device blocks: one block write covers 8 sectors.
        (F::Fat12, 2 << 20, 1024, 4096),
        (F::Fat32, 34 << 20, 512, 512),
    ] {
        let mut img = format(fat, 512, bytes, Some(cluster));
        populate(&mut img, |root| {
            root.create_dir("loader").unwrap();
            root.create_dir("loader/entries").unwrap();
            write_file(root, "loader/entries/a.conf", b"title A\nlinux /vmlinuz\n");
            write_file(root, "loader/entries/new+3.conf", b"title New\n");
            write_file(root, "BOOT.TXT", b"short name only");
            write_file(root, "big.bin", &pattern(2, 5 * cluster as usize + 7));
            write_file(root, "keep.bin", &pattern(3, 2 * cluster as usize + 1));
            // Past FAT12 cluster 341, whose entry straddles a 512-byte
            // block: freeing it cannot be one atomic write.
            write_file(root, "huge.bin", &pattern(4, 400 * cluster as usize));
            // Its first block full after four 3-slot names.
            root.create_dir("full").unwrap();
            for i in 0..6 {
                write_file(
                    root,
                    &format!("full/entry-0{i}+3.conf"),
                    format!("entry {i}\n").as_bytes(),
                );
            }
        });
        for d in ["/loader", "/loader/entries", "/full"] {
            fix_dots(&mut img, d);
        }
        out.push(Image { what: format!("{fat:?}/{bs}"), img, bs });
    }
    out
}

/// fatfs 0.3 gives `.` and `..` long-name slots, which fsck.fat rejects:
/// move the two short entries to the first slots and mark the rest of
/// those four slots deleted, so the base images are fsck-clean.
fn fix_dots(img: &mut [u8], dir: &str) {
    let mut fs = FileSystem::mount(MemDisk::new(img.to_vec(), 512)).unwrap();
    let c = fs.lookup(dir).unwrap().first_cluster() as usize;
    let cs = fs.info().cluster_size as usize;
    let u16at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let bps = u16at(11);
    let fat_sz = match u16at(22) {
        0 => u32::from_le_bytes(img[36..40].try_into().unwrap()) as usize,
        n => n,
    };
    let root_secs = (u16at(17) * 32).div_ceil(bps);
    let data = (u16at(14) + usize::from(img[16]) * fat_sz + root_secs) * bps;
    let off = data + (c - 2) * cs;
    let slot = |i: usize| off + 32 * i;
    if img[slot(0) + 11] != 0x0F {
        return;
    }
    let dot: Vec<u8> = img[slot(1)..slot(2)].to_vec();
    let dotdot: Vec<u8> = img[slot(3)..slot(4)].to_vec();
    img[slot(0)..slot(1)].copy_from_slice(&dot);
    img[slot(1)..slot(2)].copy_from_slice(&dotdot);
    img[slot(2)] = 0xE5;
    img[slot(3)] = 0xE5;
    // And, on FAT32, its `..` names the root by its cluster instead of 0.
    let root = fs.root_dir().first_cluster();
    let at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let hi = at(slot(1) + 20) << 16 | at(slot(1) + 26);
    if root != 0 && hi == root as usize {
        img[slot(1) + 20..slot(1) + 22].fill(0);
        img[slot(1) + 26..slot(1) + 28].fill(0);
    }
}

/// Files that no operation touches, with their contents.
fn untouched(cluster: usize) -> Look {
    vec![("keep.bin", Some(pattern(3, 2 * cluster + 1)))]
}

/// Runs `op` on `base`, returning the recorded writes and the final image.
fn record(
    base: &[u8],
    bs: u32,
    op: &dyn Fn(&mut FileSystem<Rec>) -> Result<(), Error>,
) -> (Vec<Op>, Vec<u8>) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let dev = Rec { inner: MemDisk::new(base.to_vec(), bs).writable(), log: log.clone() };
    let mut fs = FileSystem::mount(dev).unwrap();
    op(&mut fs).unwrap();
    let img = fs.into_inner().inner.data().to_vec();
    let ops = log.borrow().clone();
    (ops, img)
}

/// The write sets that a cut can leave applied, as indices into `ops`.
fn states(ops: &[Op]) -> Vec<Vec<usize>> {
    let mut segs: Vec<Vec<usize>> = vec![Vec::new()];
    for (i, o) in ops.iter().enumerate() {
        match o {
            Op::Write(..) => segs.last_mut().unwrap().push(i),
            Op::Flush => segs.push(Vec::new()),
        }
    }
    let mut out = Vec::new();
    let mut done: Vec<usize> = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for seg in &segs {
        let n = seg.len();
        let mut subsets: Vec<Vec<usize>> = Vec::new();
        if n <= MAX_EXHAUSTIVE {
            for mask in 0u32..(1 << n) {
                subsets.push((0..n).filter(|b| mask & (1 << b) != 0).map(|b| seg[b]).collect());
            }
        } else {
            subsets.push(Vec::new());
            subsets.push(seg.clone());
            for skip in 0..n {
                subsets.push(
                    seg.iter().enumerate().filter(|(j, _)| *j != skip).map(|(_, &i)| i).collect(),
                );
                subsets.push(vec![seg[skip]]);
            }
            for _ in 0..SAMPLES {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut s = seed;
                subsets.push(
                    seg.iter()
                        .filter(|_| {
                            s = s.rotate_left(1);
                            s & 1 == 1
                        })
                        .copied()
                        .collect(),
                );
            }
        }
        for sub in subsets {
            let mut st = done.clone();
            st.extend(sub);
            out.push(st);
        }
        done.extend(seg);
    }
    out.sort();
    out.dedup();
    out
}

/// The blocks a state writes, in program order (later writes win).
fn blocks_of(ops: &[Op], st: &[usize]) -> Vec<(u64, Vec<u8>)> {
    st.iter()
        .filter_map(|&i| match &ops[i] {
            Op::Write(l, b) => Some((*l, b.clone())),
            Op::Flush => None,
        })
        .collect()
}

/// Whether fsck's complaints are only ones the design allows (module
/// `write` of the crate): lost clusters ("Reclaimed N unused clusters"),
/// an unknown FAT32 free count, and FAT copies that differ (only ever in
/// clusters no entry owns, so fsck finds both copies intact).
fn fsck_ok(out: &str) -> bool {
    out.lines().filter(|l| !l.trim().is_empty()).all(|l| {
        l.starts_with("fsck.fat ")
            || l.contains(" files, ")
            || (l.starts_with("Reclaimed ") && l.contains(" unused cluster"))
            || l.starts_with("Free cluster summary uninitialized")
            || l.starts_with("FATs differ but appear to be intact.")
            || l.trim() == "Using first FAT."
            || l.starts_with("Leaving filesystem unchanged.")
    })
}

struct Fsck {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl Fsck {
    fn new(base: &[u8], tag: &str) -> Option<Self> {
        if !Path::new(FSCK).exists() {
            return None;
        }
        let path =
            std::env::temp_dir().join(format!("vmfw-fat-replay-{}-{tag}.img", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.write_all(base).unwrap();
        Some(Fsck { file, path })
    }

    fn put(&mut self, bs: u32, blocks: &[(u64, Vec<u8>)]) {
        for (lba, b) in blocks {
            self.file.seek(SeekFrom::Start(lba * u64::from(bs))).unwrap();
            self.file.write_all(b).unwrap();
        }
        self.file.flush().unwrap();
    }

    fn run(&self) -> (i32, String) {
        let o = Command::new(FSCK).arg("-n").arg(&self.path).output().unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Fsck {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the image shows every `(path, contents)` of `look`.
fn shows(fs: &mut FileSystem<MemDisk>, look: &Look) -> Result<(), String> {
    for (path, want) in look {
        match (fs.open(path), want) {
            (Err(Error::NotFound), None) => {}
            (Ok(mut f), Some(want)) => {
                let got = fs.read_to_vec(&mut f, 1 << 24).map_err(|e| format!("{path}: {e}"))?;
                if &got != want {
                    return Err(format!(
                        "{path}: {} bytes differ from the {} expected",
                        got.len(),
                        want.len()
                    ));
                }
            }
            (Ok(_), None) => return Err(format!("{path} exists")),
            (Err(e), _) => return Err(format!("{path}: {e}")),
        }
    }
    Ok(())
}

/// Records `op` on `base` and checks every cut state; returns the state
/// count and the image after the operation.
fn replay(
    im: &Image,
    base: &[u8],
    name: &str,
    op: &dyn Fn(&mut FileSystem<Rec>) -> Result<(), Error>,
    before: Look,
    after: Look,
) -> (usize, Vec<u8>) {
    replay_alts(im, base, name, op, vec![before], after)
}

/// [`replay`] where a cut may also leave any of the `mid` looks (besides
/// `after`).
fn replay_alts(
    im: &Image,
    base: &[u8],
    name: &str,
    op: &dyn Fn(&mut FileSystem<Rec>) -> Result<(), Error>,
    mid: Vec<Look>,
    after: Look,
) -> (usize, Vec<u8>) {
    let what = format!("{} {name}", im.what);
    let (ops, fin) = record(base, im.bs, op);
    let sts = states(&ops);
    let mut fsck = Fsck::new(base, &name.replace(['/', ' ', '+'], "_"));
    let cluster =
        FileSystem::mount(MemDisk::new(base.to_vec(), im.bs)).unwrap().info().cluster_size;
    let keep = untouched(cluster as usize);
    let mut work = base.to_vec();
    let mut complaints = std::collections::BTreeSet::new();
    for st in &sts {
        let blocks = blocks_of(&ops, st);
        for (lba, b) in &blocks {
            let at = (*lba * u64::from(im.bs)) as usize;
            work[at..at + b.len()].copy_from_slice(b);
        }
        let ctx = format!("{what}: state {st:?} of {} writes", ops.len());
        let mut fs = FileSystem::mount(MemDisk::new(work.clone(), im.bs)).expect(&ctx);
        let (_, err) = walk(&mut fs, 8, 10_000);
        assert!(err.is_none(), "{ctx}: walk: {err:?}");
        shows(&mut fs, &keep).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if let Err(b) = shows(&mut fs, &after) {
            let others: Vec<String> = mid.iter().filter_map(|l| shows(&mut fs, l).err()).collect();
            if others.len() == mid.len() {
                panic!("{ctx}: neither new ({b}) nor old ({others:?})");
            }
        }
        if let Some(f) = fsck.as_mut() {
            f.put(im.bs, &blocks);
            let (code, out) = f.run();
            assert!(code == 0 || fsck_ok(&out), "{ctx}: fsck.fat -n exit {code}:\n{out}");
            if code != 0 {
                for l in
                    out.lines().filter(|l| !l.starts_with("fsck.fat") && !l.contains(" files, "))
                {
                    let l: String =
                        l.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
                    complaints.insert(l);
                }
            }
            // Back to the base image.
            let undo: Vec<(u64, Vec<u8>)> = blocks
                .iter()
                .map(|(l, b)| {
                    let at = (*l * u64::from(im.bs)) as usize;
                    (*l, base[at..at + b.len()].to_vec())
                })
                .collect();
            f.put(im.bs, &undo);
        }
        for (lba, b) in &blocks {
            let at = (*lba * u64::from(im.bs)) as usize;
            work[at..at + b.len()].copy_from_slice(&base[at..at + b.len()]);
        }
    }
    // The final state is the full sequence: fsck must be silent on it,
    // but for the FAT32 free count that the first write made unknown.
    if let Some(mut f) = fsck {
        f.put(
            im.bs,
            &blocks_of(
                &ops,
                &(0..ops.len()).filter(|&i| matches!(ops[i], Op::Write(..))).collect::<Vec<_>>(),
            ),
        );
        let (code, out) = f.run();
        let only_count = out.lines().filter(|l| !l.trim().is_empty()).all(|l| {
            l.starts_with("fsck.fat")
                || l.contains(" files, ")
                || l.starts_with("Free cluster summary uninitialized")
                || l.starts_with("Leaving filesystem unchanged")
        });
        assert!(
            code == 0 || only_count,
            "{what}: fsck.fat -n on the final image, exit {code}:\n{out}"
        );
    }
    println!(
        "{what}: {} writes, {} flushes, {} states checked",
        ops.iter().filter(|o| matches!(o, Op::Write(..))).count(),
        ops.iter().filter(|o| matches!(o, Op::Flush)).count(),
        sts.len()
    );
    // An independent reader agrees with the final image.
    for (path, want) in &after {
        let got = fatfs_read(&fin, path.trim_start_matches('/'));
        assert!(got == *want, "{what}: fatfs reads {path} as {got:?}");
    }
    for c in complaints.iter().filter(|c| !c.trim().is_empty()) {
        println!("{what}: fsck.fat said: {c}");
    }
    (sts.len(), fin)
}

#[test]
fn every_cut_leaves_old_or_new() {
    if !Path::new(FSCK).exists() {
        println!("note: {FSCK} not installed; checking cut states with the reader only");
    }
    for im in images() {
        let cs = FileSystem::mount(MemDisk::new(im.img.clone(), im.bs)).unwrap().info().cluster_size
            as usize;
        let a = b"title A\nlinux /vmlinuz\n".to_vec();
        let big = pattern(2, 5 * cs + 7);
        let entries = |fs: &mut FileSystem<Rec>| {
            let e = fs.lookup("/loader/entries").unwrap();
            fs.dir_of(&e).unwrap()
        };
        let mut img = im.img.clone();

        // create: a long name (LFN slots + generated short name).
        let (_, next) = replay(
            &im,
            &img,
            "create",
            &|fs| {
                let d = entries(fs);
                fs.create(d, "accept+1.conf").map(|_| ())
            },
            vec![("/loader/entries/accept+1.conf", None)],
            vec![("/loader/entries/accept+1.conf", Some(Vec::new()))],
        );
        img = next;

        // write into the empty file: copy-on-write of 0 -> 1 cluster.
        let body = b"title Accept\nlinux /vmlinuz-new\n".to_vec();
        let b2 = body.clone();
        let (_, next) = replay(
            &im,
            &img,
            "write new file",
            &move |fs| {
                let mut f = fs.open("/loader/entries/accept+1.conf")?;
                fs.write_at(&mut f, 0, &b2).map(|_| ())
            },
            vec![("/loader/entries/accept+1.conf", Some(Vec::new()))],
            vec![("/loader/entries/accept+1.conf", Some(body.clone()))],
        );
        img = next;

        // append inside the last cluster: size only.
        let mut a2 = a.clone();
        a2.extend_from_slice(b"options quiet\n");
        let (_, next) = replay(
            &im,
            &img,
            "append in cluster",
            &|fs| {
                let mut f = fs.open("/loader/entries/a.conf")?;
                let size = f.size();
                fs.write_at(&mut f, size, b"options quiet\n").map(|_| ())
            },
            vec![("/loader/entries/a.conf", Some(a.clone()))],
            vec![("/loader/entries/a.conf", Some(a2.clone()))],
        );
        img = next;

        // append across clusters: copy-on-write of 1 -> 3 clusters.
        let tail = pattern(7, 2 * cs);
        let mut a3 = a2.clone();
        a3.extend_from_slice(&tail);
        let t2 = tail.clone();
        let (_, next) = replay(
            &im,
            &img,
            "append across clusters",
            &move |fs| {
                let mut f = fs.open("/loader/entries/a.conf")?;
                let size = f.size();
                fs.write_at(&mut f, size, &t2).map(|_| ())
            },
            vec![("/loader/entries/a.conf", Some(a2.clone()))],
            vec![("/loader/entries/a.conf", Some(a3.clone()))],
        );
        img = next;

        // truncate: 6 clusters -> 1.
        let (_, next) = replay(
            &im,
            &img,
            "truncate",
            &|fs| {
                let mut f = fs.open("/big.bin")?;
                fs.set_len(&mut f, 100)
            },
            vec![("/big.bin", Some(big.clone()))],
            vec![("/big.bin", Some(big[..100].to_vec()))],
        );
        img = next;

        // extend with zeros: 1 -> 3 clusters.
        let mut zext = big[..100].to_vec();
        zext.resize(2 * cs + 50, 0);
        let (_, next) = replay(
            &im,
            &img,
            "extend",
            &|fs| {
                let mut f = fs.open("/big.bin")?;
                fs.set_len(&mut f, 2 * cs as u64 + 50)
            },
            vec![("/big.bin", Some(big[..100].to_vec()))],
            vec![("/big.bin", Some(zext.clone()))],
        );
        img = next;

        // rename the boot-counting way: more long-name slots.
        let (_, next) = replay(
            &im,
            &img,
            "rename count down",
            &|fs| {
                let d = entries(fs);
                fs.rename(d, "new+3.conf", "new+2-1.conf")
            },
            vec![
                ("/loader/entries/new+3.conf", Some(b"title New\n".to_vec())),
                ("/loader/entries/new+2-1.conf", None),
            ],
            vec![
                ("/loader/entries/new+2-1.conf", Some(b"title New\n".to_vec())),
                ("/loader/entries/new+3.conf", None),
            ],
        );
        img = next;

        // rename long -> short (fewer slots) and short -> long.
        let (_, next) = replay(
            &im,
            &img,
            "rename to short",
            &|fs| {
                let d = entries(fs);
                fs.rename(d, "new+2-1.conf", "NEW.CON")
            },
            vec![
                ("/loader/entries/new+2-1.conf", Some(b"title New\n".to_vec())),
                ("/loader/entries/NEW.CON", None),
            ],
            vec![
                ("/loader/entries/NEW.CON", Some(b"title New\n".to_vec())),
                ("/loader/entries/new+2-1.conf", None),
            ],
        );
        img = next;
        let (_, next) = replay(
            &im,
            &img,
            "rename short to long",
            &|fs| {
                let d = fs.root_dir();
                fs.rename(d, "BOOT.TXT", "a much longer name for the boot text.txt")
            },
            vec![("/BOOT.TXT", Some(b"short name only".to_vec()))],
            vec![("/a much longer name for the boot text.txt", Some(b"short name only".to_vec()))],
        );
        img = next;

        // delete.
        let (_, next) = replay(
            &im,
            &img,
            "delete",
            &|fs| {
                let d = fs.root_dir();
                fs.delete(d, "big.bin")
            },
            vec![("/big.bin", Some(zext.clone()))],
            vec![("/big.bin", None)],
        );
        img = next;

        // attributes: one write of the short slot's block.
        let (_, next) = replay(
            &im,
            &img,
            "set attributes",
            &|fs| {
                let d = entries(fs);
                fs.set_attributes(d, "a.conf", 0x02 | 0x20)
            },
            vec![("/loader/entries/a.conf", Some(a3.clone()))],
            vec![("/loader/entries/a.conf", Some(a3.clone()))],
        );
        img = next;

        // rename to a name that does not fit in the entry's block: by copy.
        let e3 = b"entry 3\n".to_vec();
        let old3 = "/full/entry-03+3.conf";
        let new3 = "/full/entry-03-with-a-longer-name+2-1.conf";
        let (_, next) = replay_alts(
            &im,
            &img,
            "rename by copy",
            &|fs| {
                let e = fs.lookup("/full").unwrap();
                let d = fs.dir_of(&e).unwrap();
                fs.rename(d, "entry-03+3.conf", "entry-03-with-a-longer-name+2-1.conf")
            },
            vec![
                vec![(old3, Some(e3.clone())), (new3, None)],
                vec![(old3, Some(e3.clone())), (new3, Some(e3.clone()))],
            ],
            vec![(new3, Some(e3.clone())), (old3, None)],
        );
        img = next;

        // delete a file whose chain crosses straddling FAT12 entries.
        let (_, next) = replay(
            &im,
            &img,
            "delete huge",
            &|fs| {
                let d = fs.root_dir();
                fs.delete(d, "huge.bin")
            },
            vec![("/huge.bin", Some(pattern(4, 400 * cs)))],
            vec![("/huge.bin", None)],
        );
        let _ = next;
    }
}

#[test]
fn the_gate_refuses_unsafe_volumes() {
    for im in images() {
        // FAT copies that differ.
        let mut img = im.img.clone();
        let fs = FileSystem::mount(MemDisk::new(img.clone(), im.bs)).unwrap();
        drop(fs);
        let bps = u16::from_le_bytes([img[11], img[12]]) as usize;
        let reserved = u16::from_le_bytes([img[14], img[15]]) as usize;
        let fat_sz = match u16::from_le_bytes([img[22], img[23]]) {
            0 => u32::from_le_bytes([img[36], img[37], img[38], img[39]]) as usize,
            n => n as usize,
        };
        let fat2 = (reserved + fat_sz) * bps;
        img[fat2 + 40] ^= 0x55;
        let mut fs = FileSystem::mount(MemDisk::new(img, im.bs).writable()).unwrap();
        let root = fs.root_dir();
        assert_eq!(
            fs.create(root, "x.txt").map(|_| ()),
            Err(Error::FatCopiesDiffer),
            "{}",
            im.what
        );

        // Dirty bit (FAT16/32 only) set in both copies.
        if !im.what.starts_with("Fat12") {
            let mut img = im.img.clone();
            for base in [reserved * bps, fat2] {
                if im.what.starts_with("Fat16") {
                    img[base + 3] &= !0x80;
                } else {
                    img[base + 7] &= !0x08;
                }
            }
            let mut fs = FileSystem::mount(MemDisk::new(img, im.bs).writable()).unwrap();
            let root = fs.root_dir();
            assert_eq!(fs.delete(root, "big.bin"), Err(Error::VolumeDirty), "{}", im.what);
        }

        // A damaged chain met by a read closes the gate.
        let mut fs = FileSystem::mount(MemDisk::new(im.img.clone(), im.bs).writable()).unwrap();
        let mut f = fs.open("/big.bin").unwrap();
        let first = f.entry().first_cluster();
        drop(fs);
        let mut img = im.img.clone();
        for base in [reserved * bps, fat2] {
            match &im.what[..5] {
                "Fat12" => {
                    let at = base + first as usize * 3 / 2;
                    if first & 1 == 0 {
                        img[at] = 0;
                        img[at + 1] &= 0xF0;
                    } else {
                        img[at] &= 0x0F;
                        img[at + 1] = 0;
                    }
                }
                "Fat16" => img[base + first as usize * 2..][..2].copy_from_slice(&[0, 0]),
                _ => img[base + first as usize * 4..][..4].copy_from_slice(&[0; 4]),
            }
        }
        let mut fs = FileSystem::mount(MemDisk::new(img, im.bs).writable()).unwrap();
        f = fs.open("/big.bin").unwrap();
        assert!(fs.read_to_vec(&mut f, 1 << 20).is_err());
        let root = fs.root_dir();
        assert_eq!(fs.create(root, "x.txt").map(|_| ()), Err(Error::VolumeDamaged), "{}", im.what);
    }
}
