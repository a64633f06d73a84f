use super::*;
use crate::handles::Handle;
use alloc::string::ToString;
use alloc::vec;
use core::num::NonZeroUsize;

const PART_GUID: Guid = Guid::from_fields(
    0x0f1e_2d3c,
    0x4b5a,
    0x6978,
    [0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0],
);

fn gpt_hd() -> HardDrive {
    HardDrive {
        partition_number: 1,
        start_lba: 0x800,
        size_lbas: 0x10000,
        signature: PartitionSignature::Gpt(PART_GUID),
    }
}

fn mbr_hd() -> HardDrive {
    HardDrive {
        partition_number: 1,
        start_lba: 0x3f,
        size_lbas: 0xfbfc1,
        signature: PartitionSignature::Mbr(0xbe1a_fdfa),
    }
}

fn disk() -> Vec<u8> {
    PathBuilder::new().pci_root().pci(3, 0).finish().unwrap()
}

fn partition() -> Vec<u8> {
    PathBuilder::from_path(&disk()).hard_drive(&gpt_hd()).finish().unwrap()
}

fn boot_file() -> Vec<u8> {
    PathBuilder::from_path(&partition()).file_path("\\EFI\\BOOT\\BOOTX64.EFI").finish().unwrap()
}

fn h(n: usize) -> Handle {
    Handle(NonZeroUsize::new(n).unwrap())
}

/// A raw node, header computed.
fn raw(ty: u8, subtype: u8, data: &[u8]) -> Vec<u8> {
    Node::new(ty, subtype, data).to_vec().unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn file_node(s: &str) -> Vec<u8> {
    let b = PathBuilder::new().file_path(s).finish().unwrap();
    b[..b.len() - 4].to_vec()
}

fn utf16_node(units: &[u16]) -> Vec<u8> {
    let d: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
    raw(TYPE_MEDIA, SUBTYPE_MEDIA_FILE_PATH, &d)
}

// ---- GUIDs and constants ----

#[test]
fn guid_constants() {
    assert_eq!(LINUX_INITRD_MEDIA_GUID.to_string(), "5568E427-68FC-4F3D-AC74-CA555231CC68");
    assert_eq!(LINUX_INITRD_MEDIA_GUID.to_bytes()[..4], [0x27, 0xe4, 0x68, 0x55]);
    assert_eq!(VIRTIO_MMIO_GUID.to_string(), "3D260DCA-AED8-4343-96E8-962E6199A07B");
    assert_eq!(END_ENTIRE, [0x7f, 0xff, 0x04, 0x00]);
    assert_eq!(END_INSTANCE, [0x7f, 0x01, 0x04, 0x00]);
    assert_eq!(PNP0A03.to_le_bytes(), [0xd0, 0x41, 0x03, 0x0a]);
}

// ---- validity and size ----

#[test]
fn size_of_valid_paths() {
    assert_eq!(size(&END_ENTIRE), Ok(4));
    assert_eq!(size(&disk()), Ok(12 + 6 + 4));
    assert_eq!(size(&partition()), Ok(12 + 6 + 42 + 4));
    // Bytes after the End Entire node are not part of the path.
    let mut p = disk();
    p.extend_from_slice(&[0xaa; 9]);
    assert_eq!(size(&p), Ok(22));
    // Multi-instance.
    let m = cat(&[&disk()[..18], &END_INSTANCE, &disk()]);
    assert_eq!(size(&m), Ok(18 + 4 + 22));
    assert!(is_valid(&m));
}

#[test]
fn malformed_paths_are_named() {
    assert_eq!(check(&[]), Err(Malformed::NoEnd));
    for n in 1..4 {
        assert_eq!(check(&END_ENTIRE[..n]), Err(Malformed::TruncatedHeader { offset: 0 }));
    }
    for len in 0..4u8 {
        assert_eq!(
            check(&[1, 1, len, 0, 0, 0, 0x7f, 0xff, 4, 0]),
            Err(Malformed::LengthTooSmall { offset: 0, length: u16::from(len) })
        );
    }
    // Length overrunning the buffer, also by one byte.
    assert_eq!(check(&[1, 1, 7, 0, 0, 0]), Err(Malformed::Overrun { offset: 0, length: 7 }));
    assert_eq!(
        check(&[1, 1, 6, 0, 0, 0, 4, 1, 0xff, 0xff, 0]),
        Err(Malformed::Overrun { offset: 6, length: 0xffff })
    );
    // Nodes, but no End node.
    let d = disk();
    assert_eq!(check(&d[..18]), Err(Malformed::NoEnd));
    assert_eq!(check(&d[..20]), Err(Malformed::TruncatedHeader { offset: 18 }));
    // Only an End Instance node.
    assert_eq!(check(&END_INSTANCE), Err(Malformed::NoEnd));
    // End nodes with another subtype or length.
    assert_eq!(check(&[0x7f, 0x02, 4, 0]), Err(Malformed::BadEnd { offset: 0 }));
    assert_eq!(check(&[0x7f, 0xff, 8, 0, 0, 0, 0, 0]), Err(Malformed::BadEnd { offset: 0 }));
    assert_eq!(
        check(&[1, 1, 6, 0, 0, 0, 0x7f, 0x01, 5, 0, 0, 0x7f, 0xff, 4, 0]),
        Err(Malformed::BadEnd { offset: 6 })
    );
    // Every named error is EFI_INVALID_PARAMETER.
    assert_eq!(size(&[1, 1, 2, 0]), Err(Error::InvalidParameter));
    assert_eq!(Error::from(Malformed::TooLong), Error::InvalidParameter);
    assert_eq!(Malformed::BadEnd { offset: 6 }.to_string(), "malformed End node at offset 6");
}

#[test]
fn absurd_sizes_are_bounded() {
    // A megabyte of maximal nodes without an End: refused once past
    // MAX_SIZE, long before the slice ends.
    let mut big = Vec::new();
    while big.len() < (1 << 20) {
        big.extend_from_slice(&raw(TYPE_MEDIA, 0x42, &[0u8; 65531]));
    }
    assert_eq!(check(&big), Err(Malformed::TooLong));
    // The same with an End node beyond MAX_SIZE.
    let mut over = big[..65535].to_vec();
    over.extend_from_slice(&END_ENTIRE);
    assert_eq!(over.len(), MAX_SIZE + 3);
    assert_eq!(check(&over), Err(Malformed::TooLong));
    // Exactly MAX_SIZE is accepted.
    let mut exact = raw(TYPE_MEDIA, 0x42, &[0u8; MAX_SIZE - 4 - 4 - 4 - 4]);
    exact.extend_from_slice(&raw(TYPE_MEDIA, 0x42, &[0u8; 4]));
    exact.extend_from_slice(&END_ENTIRE);
    assert_eq!(exact.len(), MAX_SIZE);
    assert_eq!(check(&exact), Ok(MAX_SIZE));
    // Many tiny nodes: each walk step advances by at least 4 bytes.
    let mut tiny: Vec<u8> = core::iter::repeat_n(raw(1, 9, &[]), 10_000).flatten().collect();
    assert_eq!(check(&tiny), Err(Malformed::NoEnd));
    tiny.extend_from_slice(&END_ENTIRE);
    assert_eq!(nodes(&tiny).unwrap().count(), 10_000);
}

#[test]
fn every_truncation_fails_and_mutations_do_not_panic() {
    let p = cat(&[&boot_file()[..boot_file().len() - 4], &END_INSTANCE, &disk()]);
    let n = p.len();
    assert_eq!(size(&p), Ok(n));
    for cut in 0..n {
        assert!(size(&p[..cut]).is_err(), "truncated at {cut}");
    }
    for i in 0..n {
        for v in [0x00, 0x01, 0x03, 0x04, 0x7f, 0x80, 0xff] {
            let mut m = p.clone();
            m[i] = v;
            exercise(&m);
            if let Ok(s) = size(&m) {
                assert!(s <= m.len());
                assert_eq!(&m[s - 4..s], &END_ENTIRE);
            }
        }
    }
}

/// Runs every entry point on hostile bytes; none may panic.
fn exercise(bytes: &[u8]) {
    let s = size(bytes);
    assert_eq!(s.is_ok(), is_valid(bytes));
    if let Ok(s) = s {
        let total: usize = nodes(bytes).unwrap().map(|n| n.size()).sum();
        assert_eq!(total + 4, s);
        assert_eq!(duplicate(bytes).unwrap(), &bytes[..s]);
        let text = path_to_text(bytes).unwrap();
        assert_eq!(path_to_utf16(bytes).unwrap().len(), text.encode_utf16().count() + 1);
        let _ = file_path(bytes);
        let _ = is_multi_instance(bytes);
        assert_eq!(append(Some(bytes), Some(&END_ENTIRE)).unwrap(), &bytes[..s]);
        // Walk the instances as the shim would.
        let mut at = 0;
        let mut steps = 0;
        loop {
            let inst = next_instance(&bytes[at..]).unwrap();
            assert!(is_valid(&inst.path));
            steps += 1;
            match inst.next {
                Some(n) => at += n,
                None => break,
            }
        }
        let ends = nodes(bytes).unwrap().filter(|n| n.is_end_instance()).count();
        assert_eq!(steps, ends + 1);
        // Its own prefixes locate it.
        let l = locate(bytes, [(1u8, bytes)]);
        if ends == 0 {
            assert_eq!(l, Ok(Located { handle: 1, remaining: s - 4 }));
        }
    } else {
        assert!(nodes(bytes).is_err());
        assert!(path_to_text(bytes).is_err());
        assert!(!is_multi_instance(bytes));
        assert!(locate(bytes, [(1u8, &END_ENTIRE[..])]).is_err());
    }
    let _ = node_to_text(bytes);
    let _ = locate(&boot_file(), [(1u8, bytes)]);
}

#[test]
fn pseudo_random_inputs_do_not_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let len = (next() % 64) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards plausible headers: small lengths, End nodes.
        for chunk in b.chunks_mut(6) {
            if chunk.len() >= 4 && next() % 2 == 0 {
                chunk[2] = (next() % 10) as u8;
                chunk[3] = 0;
                if next() % 3 == 0 {
                    chunk[0] = 0x7f;
                    chunk[1] = if next() % 2 == 0 { 0xff } else { 0x01 };
                }
            }
        }
        exercise(&b);
    }
}

// ---- nodes ----

#[test]
fn node_iteration() {
    let p = cat(&[&disk()[..18], &END_INSTANCE, &file_node("a"), &END_ENTIRE]);
    let ns: Vec<Node<'_>> = nodes(&p).unwrap().collect();
    assert_eq!(ns.len(), 4);
    assert_eq!(
        (ns[0].ty, ns[0].subtype, ns[0].data),
        (2, 1, &[0xd0, 0x41, 3, 0x0a, 0, 0, 0, 0][..])
    );
    assert_eq!((ns[1].ty, ns[1].subtype, ns[1].data), (1, 1, &[0, 3][..]));
    assert!(ns[2].is_end_instance() && ns[2].is_end() && !ns[2].is_end_entire());
    assert_eq!(ns[3].data, &[b'a', 0, 0, 0]);
    assert_eq!(ns[3].size(), 8);
    assert_eq!(nodes(&END_ENTIRE).unwrap().count(), 0);
    assert!(nodes(&p[..p.len() - 1]).is_err());
}

#[test]
fn node_parse_and_encode() {
    let n = Node::parse(&[4, 4, 6, 0, b'x', 0, 0xee, 0xee]).unwrap();
    assert_eq!(n, Node::new(4, 4, &[b'x', 0]));
    assert_eq!(n.to_vec().unwrap(), [4, 4, 6, 0, b'x', 0]);
    assert_eq!(Node::parse(&[]), Err(Error::InvalidParameter));
    assert_eq!(Node::parse(&[4, 4, 6]), Err(Error::InvalidParameter));
    assert_eq!(Node::parse(&[4, 4, 3, 0]), Err(Error::InvalidParameter));
    assert_eq!(Node::parse(&[4, 4, 9, 0, 0]), Err(Error::InvalidParameter));
    // End nodes parse as nodes (no End rules for a lone node).
    assert!(Node::parse(&[0x7f, 0xff, 4, 0]).unwrap().is_end_entire());
    let big = vec![0u8; 65532];
    assert_eq!(Node::new(4, 4, &big).to_vec(), Err(Error::InvalidParameter));
    assert_eq!(Node::new(4, 4, &big[..65531]).to_vec().unwrap().len(), 65535);
}

// ---- builders ----

#[test]
fn pci_disk_bytes() {
    assert_eq!(
        disk(),
        [
            0x02, 0x01, 0x0c, 0x00, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0, // PciRoot(0x0)
            0x01, 0x01, 0x06, 0x00, 0x00, 0x03, // Pci(0x3,0x0): function, device
            0x7f, 0xff, 0x04, 0x00,
        ]
    );
    let p = PathBuilder::new().pci_root().pci(0x1f, 2).finish().unwrap();
    assert_eq!(&p[12..18], &[1, 1, 6, 0, 2, 0x1f]);
    let a = PathBuilder::new().acpi(0x0501_41d0, 7).finish().unwrap();
    assert_eq!(a[..12], [2, 1, 12, 0, 0xd0, 0x41, 0x01, 0x05, 7, 0, 0, 0]);
}

#[test]
fn virtio_mmio_bytes() {
    let p = PathBuilder::new().virtio_mmio(0xd000_0000).finish().unwrap();
    assert_eq!(p.len(), 4 + 16 + 8 + 4);
    assert_eq!(p[..4], [1, 4, 28, 0]);
    assert_eq!(p[4..20], VIRTIO_MMIO_GUID.to_bytes());
    assert_eq!(p[20..28], 0xd000_0000u64.to_le_bytes());
    assert_eq!(p[28..], END_ENTIRE);
}

#[test]
fn hard_drive_bytes() {
    let p = PathBuilder::new().hard_drive(&gpt_hd()).finish().unwrap();
    let mut want = vec![4, 1, 42, 0, 1, 0, 0, 0];
    want.extend_from_slice(&0x800u64.to_le_bytes());
    want.extend_from_slice(&0x10000u64.to_le_bytes());
    want.extend_from_slice(&PART_GUID.to_bytes());
    want.extend_from_slice(&[0x02, 0x02]);
    want.extend_from_slice(&END_ENTIRE);
    assert_eq!(p, want);

    let p = PathBuilder::new().hard_drive(&mbr_hd()).finish().unwrap();
    let mut want = vec![4, 1, 42, 0, 1, 0, 0, 0];
    want.extend_from_slice(&0x3fu64.to_le_bytes());
    want.extend_from_slice(&0xfbfc1u64.to_le_bytes());
    want.extend_from_slice(&[0xfa, 0xfd, 0x1a, 0xbe]);
    want.extend_from_slice(&[0; 12]);
    want.extend_from_slice(&[0x01, 0x01]);
    want.extend_from_slice(&END_ENTIRE);
    assert_eq!(p, want);
}

#[test]
fn hard_drive_from_node() {
    for hd in [gpt_hd(), mbr_hd()] {
        let p = PathBuilder::new().hard_drive(&hd).finish().unwrap();
        let n = nodes(&p).unwrap().next().unwrap();
        assert_eq!(HardDrive::from_node(&n), Some(hd));
    }
    let mut d = gpt_hd().data();
    d[37] = 0; // no signature
    assert_eq!(HardDrive::from_node(&Node::new(4, 1, &d)), None);
    assert_eq!(HardDrive::from_node(&Node::new(4, 1, &d[..37])), None);
    assert_eq!(HardDrive::from_node(&Node::new(4, 2, &gpt_hd().data())), None);
}

#[test]
fn file_path_and_initrd_bytes() {
    let p = PathBuilder::new().file_path("\\A\u{e9}").finish().unwrap();
    assert_eq!(p, [4, 4, 12, 0, b'\\', 0, b'A', 0, 0xe9, 0, 0, 0, 0x7f, 0xff, 4, 0]);
    let p = PathBuilder::new().file_path("").finish().unwrap();
    assert_eq!(p, [4, 4, 6, 0, 0, 0, 0x7f, 0xff, 4, 0]);
    let p = PathBuilder::new().linux_initrd().finish().unwrap();
    assert_eq!(p.len(), 24);
    assert_eq!(p[..4], [4, 3, 20, 0]);
    assert_eq!(p[4..20], LINUX_INITRD_MEDIA_GUID.to_bytes());
    assert_eq!(p[20..], END_ENTIRE);
    let v = PathBuilder::new().vendor_media(PART_GUID, &[1, 2]).finish().unwrap();
    assert_eq!(v[..4], [4, 3, 22, 0]);
    let v = PathBuilder::new().vendor_hw(PART_GUID, &[]).finish().unwrap();
    assert_eq!(v[..4], [1, 4, 20, 0]);
}

#[test]
fn builder_errors_are_kept_until_finish() {
    assert_eq!(PathBuilder::new().finish().unwrap(), END_ENTIRE);
    assert_eq!(PathBuilder::new().file_path("a\0b").finish(), Err(Error::InvalidParameter));
    assert_eq!(PathBuilder::new().node(TYPE_END, 0xff, &[]).finish(), Err(Error::InvalidParameter));
    // Too long for a node's 16-bit length.
    let long = "x".repeat(40_000);
    assert_eq!(PathBuilder::new().file_path(&long).finish(), Err(Error::InvalidParameter));
    // Fits one node, but not MAX_SIZE in all.
    let b = vec![0u8; 60_000];
    assert_eq!(
        PathBuilder::new().node(4, 0x42, &b).node(4, 0x42, &b).finish(),
        Err(Error::OutOfResources)
    );
    // The first error wins; later nodes do not clear it.
    assert_eq!(
        PathBuilder::new().file_path("\0").node(TYPE_END, 1, &[]).pci(1, 0).finish(),
        Err(Error::InvalidParameter)
    );
    assert_eq!(PathBuilder::from_path(&[1, 2, 3]).pci(1, 0).finish(), Err(Error::InvalidParameter));
    // from_path continues a path; end_instance separates instances.
    let m = PathBuilder::from_path(&disk()).end_instance().virtio_mmio(0x1000).finish().unwrap();
    assert!(is_multi_instance(&m));
    assert_eq!(
        path_to_text(&m).unwrap(),
        "PciRoot(0x0)/Pci(0x3,0x0),VenHw(3D260DCA-AED8-4343-96E8-962E6199A07B,0010000000000000)"
    );
}

// ---- utilities ----

#[test]
fn duplicate_copies_the_path_only() {
    let mut p = boot_file();
    let n = p.len();
    assert_eq!(duplicate(&p).unwrap(), p);
    p.extend_from_slice(&[9; 5]);
    assert_eq!(duplicate(&p).unwrap(), &p[..n]);
    assert_eq!(duplicate(&p[..n - 1]), Err(Error::InvalidParameter));
    assert_eq!(duplicate(&END_ENTIRE).unwrap(), END_ENTIRE);
}

#[test]
fn append_paths() {
    assert_eq!(append(None, None).unwrap(), END_ENTIRE);
    assert_eq!(append(Some(&disk()), None).unwrap(), disk());
    assert_eq!(append(None, Some(&disk())).unwrap(), disk());
    let hd = PathBuilder::new().hard_drive(&gpt_hd()).finish().unwrap();
    assert_eq!(append(Some(&disk()), Some(&hd)).unwrap(), partition());
    assert_eq!(append(Some(&END_ENTIRE), Some(&hd)).unwrap(), hd);
    assert_eq!(append(Some(&hd), Some(&END_ENTIRE)).unwrap(), hd);
    // Trailing garbage after either End node is not copied.
    let mut d = disk();
    d.push(0x55);
    assert_eq!(append(Some(&d), Some(&d)).unwrap().len(), 18 + 18 + 4);
    // A multi-instance first path gets the second appended to its last instance.
    let m = cat(&[&disk()[..18], &END_INSTANCE, &disk()]);
    let r = append(Some(&m), Some(&hd)).unwrap();
    assert_eq!(
        path_to_text(&r).unwrap(),
        "PciRoot(0x0)/Pci(0x3,0x0),PciRoot(0x0)/Pci(0x3,0x0)/\
         HD(1,GPT,0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0,0x800,0x10000)"
    );
    assert_eq!(append(Some(&[0x7f]), None), Err(Error::InvalidParameter));
    assert_eq!(append(Some(&disk()), Some(&[1, 1, 6, 0])), Err(Error::InvalidParameter));
    // Too long together.
    let half = PathBuilder::new().node(4, 0x42, &[0u8; 40_000]).finish().unwrap();
    assert_eq!(append(Some(&half), Some(&half)), Err(Error::OutOfResources));
}

#[test]
fn append_device_node() {
    let pci = raw(TYPE_HARDWARE, SUBTYPE_HW_PCI, &[0, 3]);
    let root = PathBuilder::new().pci_root().finish().unwrap();
    assert_eq!(append_node(Some(&root), Some(&pci)).unwrap(), disk());
    // Only the node's own length counts.
    let mut longer = pci.clone();
    longer.extend_from_slice(&[1, 2, 3]);
    assert_eq!(append_node(Some(&root), Some(&longer)).unwrap(), disk());
    assert_eq!(append_node(None, Some(&pci)).unwrap(), cat(&[&pci, &END_ENTIRE]));
    assert_eq!(append_node(Some(&disk()), None).unwrap(), disk());
    assert_eq!(append_node(None, None).unwrap(), END_ENTIRE);
    // End nodes: Entire appends nothing, Instance starts an empty instance.
    assert_eq!(append_node(Some(&disk()), Some(&END_ENTIRE)).unwrap(), disk());
    assert_eq!(
        append_node(Some(&disk()), Some(&END_INSTANCE)).unwrap(),
        cat(&[&disk()[..18], &END_INSTANCE, &END_ENTIRE])
    );
    assert_eq!(
        append_node(Some(&disk()), Some(&[0x7f, 0xff, 5, 0, 0])),
        Err(Error::InvalidParameter)
    );
    assert_eq!(append_node(Some(&disk()), Some(&[1, 1, 2, 0])), Err(Error::InvalidParameter));
    assert_eq!(append_node(Some(&disk()), Some(&[1, 1, 8, 0])), Err(Error::InvalidParameter));
    assert_eq!(append_node(Some(&[0, 0, 0, 0]), Some(&pci)), Err(Error::InvalidParameter));
}

#[test]
fn append_path_instance() {
    let mmio = PathBuilder::new().virtio_mmio(0x1000).finish().unwrap();
    let m = append_instance(Some(&disk()), Some(&mmio)).unwrap();
    assert_eq!(m, cat(&[&disk()[..18], &END_INSTANCE, &mmio]));
    assert!(is_multi_instance(&m));
    let mm = append_instance(Some(&m), Some(&disk())).unwrap();
    assert_eq!(nodes(&mm).unwrap().filter(|n| n.is_end_instance()).count(), 2);
    assert_eq!(append_instance(None, Some(&mmio)).unwrap(), mmio);
    assert_eq!(append_instance(Some(&disk()), None), Err(Error::InvalidParameter));
    assert_eq!(append_instance(None, None), Err(Error::InvalidParameter));
    assert_eq!(append_instance(Some(&[1]), Some(&mmio)), Err(Error::InvalidParameter));
    assert_eq!(append_instance(None, Some(&[1])), Err(Error::InvalidParameter));
}

#[test]
fn instances_one_by_one() {
    let a = disk();
    let b = PathBuilder::new().virtio_mmio(0x1000).finish().unwrap();
    let c = boot_file();
    let m = append_instance(Some(&append_instance(Some(&a), Some(&b)).unwrap()), Some(&c)).unwrap();
    let first = next_instance(&m).unwrap();
    assert_eq!(first, Instance { path: a.clone(), next: Some(a.len()) });
    let at = first.next.unwrap();
    let second = next_instance(&m[at..]).unwrap();
    assert_eq!(second.path, b);
    let at = at + second.next.unwrap();
    assert_eq!(at, a.len() + b.len());
    let third = next_instance(&m[at..]).unwrap();
    assert_eq!(third, Instance { path: c.clone(), next: None });
    // Single instance, End-only path, invalid path.
    assert_eq!(next_instance(&c).unwrap(), Instance { path: c, next: None });
    assert_eq!(
        next_instance(&END_ENTIRE).unwrap(),
        Instance { path: END_ENTIRE.to_vec(), next: None }
    );
    assert_eq!(next_instance(&m[..m.len() - 1]), Err(Error::InvalidParameter));
    // An empty instance.
    let e = cat(&[&END_INSTANCE, &a]);
    assert_eq!(next_instance(&e).unwrap(), Instance { path: END_ENTIRE.to_vec(), next: Some(4) });
}

#[test]
fn multi_instance_detection() {
    assert!(!is_multi_instance(&boot_file()));
    assert!(!is_multi_instance(&END_ENTIRE));
    assert!(is_multi_instance(&cat(&[&END_INSTANCE, &END_ENTIRE])));
    assert!(!is_multi_instance(&END_INSTANCE));
    assert!(!is_multi_instance(&[]));
}

#[test]
fn create_device_node() {
    assert_eq!(create_node(1, 1, 6).unwrap(), [1, 1, 6, 0, 0, 0]);
    assert_eq!(create_node(0x7f, 0xff, 4).unwrap(), END_ENTIRE);
    let big = create_node(4, 4, 0x1234).unwrap();
    assert_eq!(big.len(), 0x1234);
    assert_eq!(big[..4], [4, 4, 0x34, 0x12]);
    assert!(big[4..].iter().all(|&b| b == 0));
    for len in 0..4 {
        assert_eq!(create_node(1, 1, len), Err(Error::InvalidParameter));
    }
}

// ---- LocateDevicePath ----

#[test]
fn locate_picks_the_longest_prefix() {
    let root = PathBuilder::new().pci_root().finish().unwrap();
    let other_disk = PathBuilder::new().pci_root().pci(4, 0).finish().unwrap();
    let other_part = PathBuilder::from_path(&disk()).hard_drive(&mbr_hd()).finish().unwrap();
    let file = boot_file();
    let cands: [(Handle, &[u8]); 5] = [
        (h(1), &root),
        (h(2), &disk()),
        (h(3), &partition()),
        (h(4), &other_disk),
        (h(5), &other_part),
    ];
    let l = locate(&file, cands.iter().map(|(h, p)| (*h, *p))).unwrap();
    assert_eq!(l, Located { handle: h(3), remaining: 12 + 6 + 42 });
    assert_eq!(file_path(&file[l.remaining..]).unwrap(), "\\EFI\\BOOT\\BOOTX64.EFI");
    // Without the partition, the disk is the best match.
    let l = locate(&file, cands.iter().filter(|(h2, _)| *h2 != h(3)).map(|(h, p)| (*h, *p)));
    assert_eq!(l, Ok(Located { handle: h(2), remaining: 18 }));
    // The order of candidates does not matter.
    let l = locate(&file, cands.iter().rev().map(|(h, p)| (*h, *p))).unwrap();
    assert_eq!(l.handle, h(3));
    // An exact match leaves only the End node.
    let l = locate(&partition(), cands.iter().map(|(h, p)| (*h, *p))).unwrap();
    assert_eq!(l, Located { handle: h(3), remaining: 60 });
}

#[test]
fn locate_edge_cases() {
    let file = boot_file();
    let d = disk();
    // Nothing matches.
    let mmio = PathBuilder::new().virtio_mmio(0x1000).finish().unwrap();
    assert_eq!(locate(&file, [(h(1), &mmio[..])]), Err(Error::NotFound));
    assert_eq!(locate::<Handle>(&file, []), Err(Error::NotFound));
    // A candidate longer than the path does not match.
    assert_eq!(locate(&d, [(h(1), &file[..])]), Err(Error::NotFound));
    // An End-only candidate matches everything with an empty prefix.
    assert_eq!(
        locate(&file, [(h(7), &END_ENTIRE[..])]),
        Ok(Located { handle: h(7), remaining: 0 })
    );
    assert_eq!(
        locate(&END_ENTIRE, [(h(7), &END_ENTIRE[..])]),
        Ok(Located { handle: h(7), remaining: 0 })
    );
    // Equal matches: the first wins.
    assert_eq!(locate(&file, [(h(1), &d[..]), (h(2), &d[..])]).unwrap().handle, h(1));
    // Invalid candidates are skipped; an invalid path is refused.
    assert_eq!(locate(&file, [(h(1), &d[..5]), (h(2), &d[..])]).unwrap().handle, h(2));
    assert_eq!(locate(&file[..10], [(h(2), &d[..])]), Err(Error::InvalidParameter));
    // Node-wise: same type and subtype, different data is no match.
    let d4 = PathBuilder::new().pci_root().pci(3, 1).finish().unwrap();
    assert_eq!(locate(&file, [(h(1), &d4[..])]), Err(Error::NotFound));
    // Only the first instance of a multi-instance path is searched.
    let m = append_instance(Some(&mmio), Some(&file)).unwrap();
    assert_eq!(locate(&m, [(h(1), &d[..])]), Err(Error::NotFound));
    assert_eq!(locate(&m, [(h(1), &mmio[..])]), Ok(Located { handle: h(1), remaining: 28 }));
    // A multi-instance candidate never matches beyond its first instance.
    let mc = append_instance(Some(&d), Some(&d)).unwrap();
    assert_eq!(locate(&file, [(h(1), &mc[..])]), Err(Error::NotFound));
    // Linux's initrd search: an exact match with the initrd handle.
    let initrd = PathBuilder::new().linux_initrd().finish().unwrap();
    let l = locate(&initrd, [(h(1), &file[..]), (h(9), &initrd[..])]).unwrap();
    assert_eq!(l, Located { handle: h(9), remaining: 20 });
    assert_eq!(&initrd[l.remaining..], &END_ENTIRE);
}

// ---- file path extraction ----

fn fp(nodes: &[Vec<u8>]) -> Result<String> {
    let mut p = nodes.concat();
    p.extend_from_slice(&END_ENTIRE);
    file_path(&p)
}

#[test]
fn file_path_joins_nodes() {
    assert_eq!(fp(&[file_node("\\EFI\\BOOT\\BOOTX64.EFI")]).unwrap(), "\\EFI\\BOOT\\BOOTX64.EFI");
    assert_eq!(
        fp(&[file_node("\\EFI"), file_node("BOOT"), file_node("BOOTX64.EFI")]).unwrap(),
        "\\EFI\\BOOT\\BOOTX64.EFI"
    );
    assert_eq!(
        fp(&[file_node("\\EFI\\"), file_node("\\BOOT\\"), file_node("\\BOOTX64.EFI")]).unwrap(),
        "\\EFI\\BOOT\\BOOTX64.EFI"
    );
    assert_eq!(
        fp(&[file_node("EFI\\\\debian//grubx64.efi")]).unwrap(),
        "\\EFI\\debian\\grubx64.efi"
    );
    assert_eq!(fp(&[file_node("\\EFI\\Linux\\"), file_node("")]).unwrap(), "\\EFI\\Linux");
    assert_eq!(fp(&[file_node("\\")]).unwrap(), "\\");
    assert_eq!(fp(&[file_node(""), file_node("\\\\")]).unwrap(), "\\");
    assert_eq!(fp(&[]).unwrap(), "");
    assert_eq!(fp(&[file_node("\\a\\..\\.\\b")]).unwrap(), "\\a\\..\\.\\b");
    assert_eq!(
        fp(&[file_node("\\K\u{f6}rper \u{1f600}.efi")]).unwrap(),
        "\\K\u{f6}rper \u{1f600}.efi"
    );
}

#[test]
fn file_path_node_strings() {
    // No NUL terminator: the whole node is the name.
    assert_eq!(fp(&[utf16_node(&[0x5c, 0x41])]).unwrap(), "\\A");
    // Anything after the NUL is ignored.
    assert_eq!(fp(&[utf16_node(&[0x41, 0, 0x42]), file_node("C")]).unwrap(), "\\A\\C");
    // Odd length.
    let odd = raw(TYPE_MEDIA, SUBTYPE_MEDIA_FILE_PATH, &[0x41, 0, 0]);
    assert_eq!(fp(&[odd]), Err(Error::InvalidParameter));
    // Unpaired surrogate.
    assert_eq!(fp(&[utf16_node(&[0x41, 0xd800, 0x42, 0])]), Err(Error::NotFound));
}

#[test]
fn file_path_refuses_other_nodes() {
    let hd = raw(TYPE_MEDIA, SUBTYPE_MEDIA_HARD_DRIVE, &gpt_hd().data());
    assert_eq!(fp(&[hd.clone(), file_node("\\x")]), Err(Error::NotFound));
    assert_eq!(fp(&[file_node("\\x"), hd]), Err(Error::NotFound));
    assert_eq!(file_path(&boot_file()), Err(Error::NotFound));
    // The first instance only.
    let p = cat(&[&file_node("\\a"), &END_INSTANCE, &disk()]);
    assert_eq!(file_path(&p).unwrap(), "\\a");
    // Invalid path.
    assert_eq!(file_path(&file_node("\\a")), Err(Error::InvalidParameter));
}

// ---- text ----

fn text_of(node: &[u8]) -> String {
    node_to_text(node).unwrap()
}

#[test]
fn acpi_and_pci_text() {
    let mut g = Vec::new();
    for (hid, uid, want) in [
        (PNP0A03, 0, "PciRoot(0x0)"),
        (PNP0A03, 0x1a, "PciRoot(0x1A)"),
        (PNP0A08, 1, "PcieRoot(0x1)"),
        (0x0501_41d0, 0, "Acpi(PNP0501,0x0)"),
        (0x1234_5678, 0xabc, "Acpi(0x12345678,0xABC)"),
    ] {
        let p = PathBuilder::new().acpi(hid, uid).finish().unwrap();
        assert_eq!(path_to_text(&p).unwrap(), want);
        g.push(p);
    }
    assert_eq!(text_of(&raw(1, 1, &[2, 0x1f])), "Pci(0x1F,0x2)");
    // A known kind with the wrong length falls back to the generic form.
    assert_eq!(text_of(&raw(1, 1, &[2, 0x1f, 0])), "Path(1,1,021F00)");
    assert_eq!(text_of(&raw(2, 1, &[0xd0, 0x41, 3, 0x0a])), "Path(2,1,D041030A)");
}

#[test]
fn vendor_text() {
    let p = PathBuilder::new().virtio_mmio(0xfeb0_0000).finish().unwrap();
    assert_eq!(
        path_to_text(&p).unwrap(),
        "VenHw(3D260DCA-AED8-4343-96E8-962E6199A07B,0000B0FE00000000)"
    );
    let p = PathBuilder::new().vendor_hw(PART_GUID, &[]).finish().unwrap();
    assert_eq!(path_to_text(&p).unwrap(), "VenHw(0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0)");
    let p = PathBuilder::new().linux_initrd().finish().unwrap();
    assert_eq!(path_to_text(&p).unwrap(), "VenMedia(5568E427-68FC-4F3D-AC74-CA555231CC68)");
    let p = PathBuilder::new().vendor_media(PART_GUID, &[0xab]).finish().unwrap();
    assert_eq!(path_to_text(&p).unwrap(), "VenMedia(0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0,AB)");
    // Too short for a GUID.
    assert_eq!(text_of(&raw(1, 4, &[1, 2, 3])), "Path(1,4,010203)");
}

#[test]
fn hard_drive_text() {
    let p = PathBuilder::new().hard_drive(&gpt_hd()).finish().unwrap();
    assert_eq!(
        path_to_text(&p).unwrap(),
        "HD(1,GPT,0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0,0x800,0x10000)"
    );
    let p = PathBuilder::new().hard_drive(&mbr_hd()).finish().unwrap();
    assert_eq!(path_to_text(&p).unwrap(), "HD(1,MBR,0xBE1AFDFA,0x3F,0xFBFC1)");
    let small =
        HardDrive { signature: PartitionSignature::Mbr(0x1234), partition_number: 12, ..mbr_hd() };
    let p = PathBuilder::new().hard_drive(&small).finish().unwrap();
    assert_eq!(path_to_text(&p).unwrap(), "HD(12,MBR,0x00001234,0x3F,0xFBFC1)");
    let mut d = gpt_hd().data();
    d[37] = 0;
    assert_eq!(text_of(&raw(4, 1, &d)), "HD(1,0,0,0x800,0x10000)");
    assert!(text_of(&raw(4, 1, &d[..30])).starts_with("Path(4,1,"));
}

#[test]
fn file_and_fallback_text() {
    assert_eq!(text_of(&file_node("\\EFI\\BOOT\\BOOTX64.EFI")), "\\EFI\\BOOT\\BOOTX64.EFI");
    assert_eq!(text_of(&utf16_node(&[0x41, 0xdc00, 0x42])), "A\u{fffd}B");
    assert_eq!(text_of(&utf16_node(&[])), "");
    // Uri (type 3 subtype 24) and others: Path(type,subtype,hex), decimal.
    assert_eq!(text_of(&raw(3, 24, b"http://x")), "Path(3,24,687474703A2F2F78)");
    assert_eq!(text_of(&raw(5, 1, &[])), "Path(5,1)");
    assert_eq!(text_of(&END_INSTANCE), ",");
    assert_eq!(text_of(&END_ENTIRE), "");
    assert_eq!(node_to_text(&[1, 1, 6, 0]), Err(Error::InvalidParameter));
}

#[test]
fn path_text() {
    assert_eq!(
        path_to_text(&boot_file()).unwrap(),
        "PciRoot(0x0)/Pci(0x3,0x0)/HD(1,GPT,0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0,0x800,0x10000)/\\EFI\\BOOT\\BOOTX64.EFI"
    );
    let mmio = PathBuilder::new().virtio_mmio(0xd000_0000).hard_drive(&mbr_hd()).finish().unwrap();
    let m = append_instance(Some(&disk()), Some(&mmio)).unwrap();
    assert_eq!(
        path_to_text(&m).unwrap(),
        "PciRoot(0x0)/Pci(0x3,0x0),VenHw(3D260DCA-AED8-4343-96E8-962E6199A07B,000000D000000000)/HD(1,MBR,0xBE1AFDFA,0x3F,0xFBFC1)"
    );
    assert_eq!(path_to_text(&END_ENTIRE).unwrap(), "");
    assert_eq!(
        path_to_text(&cat(&[&END_INSTANCE, &disk()])).unwrap(),
        ",PciRoot(0x0)/Pci(0x3,0x0)"
    );
    assert_eq!(path_to_text(&[1, 1]), Err(Error::InvalidParameter));
}

#[test]
fn utf16_text_is_nul_terminated() {
    let u = path_to_utf16(&disk()).unwrap();
    assert_eq!(u.last(), Some(&0));
    assert_eq!(String::from_utf16(&u[..u.len() - 1]).unwrap(), "PciRoot(0x0)/Pci(0x3,0x0)");
    assert_eq!(path_to_utf16(&END_ENTIRE).unwrap(), [0]);
    let n = node_to_utf16(&file_node("\\\u{1f600}")).unwrap();
    assert_eq!(n, [0x5c, 0xd83d, 0xde00, 0]);
    assert_eq!(node_to_utf16(&[]), Err(Error::InvalidParameter));
    assert_eq!(path_to_utf16(&[]), Err(Error::InvalidParameter));
    // Node's Display and to_text agree.
    let p = disk();
    let n = nodes(&p).unwrap().nth(1).unwrap();
    assert_eq!(n.to_text(), n.to_string());
}
