//! Device paths: arbitrary bytes are a device path as a UEFI caller hands
//! it to the firmware (`LoadImage()`, `LocateDevicePath()`, the device
//! path protocols). Nothing may panic or hang; a path `size` accepts must
//! be walkable, printable, re-buildable node by node into the same bytes,
//! split into instances and joined back, and found by `locate` through
//! its own prefixes. Input that `size` refuses must be refused by every
//! other entry point too (and skipped as a `locate` candidate).
//!
//! Input: the path itself; bytes after its End Entire node are ignored.
//! Seeds in `seeds/devpath/` (see the README) are paths vmfw builds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_efi::devpath::{self, HardDrive, Node, PathBuilder, END_ENTIRE, MAX_SIZE};
use vmfw_efi::Error;

/// The path made of `nodes` (End Instance nodes included) and an End node.
fn rebuild(nodes: &[Node<'_>]) -> Vec<u8> {
    let mut b = PathBuilder::new();
    for n in nodes {
        b = if n.is_end_instance() { b.end_instance() } else { b.node(n.ty, n.subtype, n.data) };
    }
    b.finish().expect("nodes of a valid path rebuild")
}

fn check_file_path(data: &[u8]) {
    match devpath::file_path(data) {
        Ok(p) => {
            assert!(p.is_empty() || p.starts_with('\\'), "{p:?}");
            assert!(!p.contains('/') && !p.contains("\\\\"), "{p:?}");
            assert!(p == "\\" || !p.ends_with('\\'), "{p:?}");
        }
        Err(e) => assert!(matches!(e, Error::NotFound | Error::InvalidParameter)),
    }
}

fuzz_target!(|data: &[u8]| {
    // A lone node: any header that parses can be printed.
    if let Ok(node) = Node::parse(data) {
        assert_eq!(devpath::node_to_text(data).ok(), Some(node.to_text()));
        // The fields survive a round trip (unused signature bytes and the
        // format byte are not kept: the signature decides them).
        if let Some(hd) = HardDrive::from_node(&node) {
            let data = hd.data();
            assert_eq!(HardDrive::from_node(&Node::new(node.ty, node.subtype, &data)), Some(hd));
        }
    } else {
        assert!(devpath::node_to_text(data).is_err());
    }

    let known = PathBuilder::new().pci_root().pci(1, 0).finish().unwrap();
    let Ok(size) = devpath::size(data) else {
        assert!(devpath::nodes(data).is_err());
        assert!(devpath::path_to_text(data).is_err());
        assert!(devpath::duplicate(data).is_err());
        assert!(devpath::next_instance(data).is_err());
        assert!(!devpath::is_multi_instance(data));
        assert_eq!(devpath::file_path(data), Err(Error::InvalidParameter));
        assert_eq!(devpath::locate(data, [(1u8, &known[..])]), Err(Error::InvalidParameter));
        // As a candidate, an invalid path is skipped.
        let l = devpath::locate(&known, [(1u8, data), (2, &known[..])]).unwrap();
        assert_eq!((l.handle, l.remaining), (2, known.len() - 4));
        return;
    };
    assert!(size <= data.len() && size <= MAX_SIZE);
    let path = &data[..size];
    assert_eq!(&path[size - 4..], &END_ENTIRE);

    // Nodes cover the path; rebuilding them gives the same bytes.
    let nodes: Vec<Node<'_>> = devpath::nodes(data).unwrap().collect();
    assert_eq!(nodes.iter().map(Node::size).sum::<usize>() + 4, size);
    assert_eq!(rebuild(&nodes), path);
    assert_eq!(devpath::duplicate(data).unwrap(), path);

    // Text: one entry per node, `,` between instances; UTF-16 ends in NUL.
    let text = devpath::path_to_text(data).unwrap();
    let utf16 = devpath::path_to_utf16(data).unwrap();
    assert_eq!(utf16.last(), Some(&0));
    assert_eq!(utf16.len(), text.encode_utf16().count() + 1);

    // Instances: walk them as the shim does, join them back.
    let ends = nodes.iter().filter(|n| n.is_end_instance()).count();
    assert_eq!(devpath::is_multi_instance(data), ends > 0);
    let mut at = 0;
    let mut joined: Option<Vec<u8>> = None;
    let mut count = 0;
    loop {
        let inst = devpath::next_instance(&data[at..]).unwrap();
        assert!(devpath::size(&inst.path) == Ok(inst.path.len()));
        joined = Some(match joined {
            None => inst.path.clone(),
            Some(j) => devpath::append_instance(Some(&j), Some(&inst.path)).unwrap(),
        });
        count += 1;
        match inst.next {
            Some(n) => at += n,
            None => break,
        }
    }
    assert_eq!(count, ends + 1);
    assert_eq!(joined.as_deref(), Some(path));

    // Appending: End-only is neutral; a path to itself doubles.
    assert_eq!(devpath::append(Some(data), Some(&END_ENTIRE)).unwrap(), path);
    assert_eq!(devpath::append(Some(&END_ENTIRE), Some(data)).unwrap(), path);
    match devpath::append(Some(data), Some(data)) {
        Ok(p) => assert_eq!(devpath::size(&p), Ok(2 * size - 4)),
        Err(e) => assert!(e == Error::OutOfResources && 2 * size - 4 > MAX_SIZE),
    }

    // LocateDevicePath: prefixes of the first instance, the longest wins
    // whatever the order, and `remaining` is where its nodes end.
    let first: Vec<Node<'_>> = nodes.iter().copied().take_while(|n| !n.is_end_instance()).collect();
    let n = first.len();
    let mut ks = vec![0, n / 2, n.saturating_sub(1), n];
    ks.dedup();
    let cands: Vec<(usize, Vec<u8>)> = ks.iter().map(|&k| (k, rebuild(&first[..k]))).collect();
    for order in [false, true] {
        let it: Box<dyn Iterator<Item = &(usize, Vec<u8>)>> =
            if order { Box::new(cands.iter().rev()) } else { Box::new(cands.iter()) };
        let l = devpath::locate(data, it.map(|(k, p)| (*k, &p[..]))).unwrap();
        assert_eq!(l.handle, n);
        assert_eq!(l.remaining, first.iter().map(Node::size).sum::<usize>());
    }
    for (k, p) in &cands {
        let l = devpath::locate(data, [(*k, &p[..])]).unwrap();
        assert_eq!(l.remaining, first[..*k].iter().map(Node::size).sum::<usize>());
        check_file_path(&data[l.remaining..]);
    }
    // The known path as a candidate: found only if it is a prefix.
    if let Ok(l) = devpath::locate(data, [(7u8, &known[..])]) {
        assert!(path.starts_with(&known[..known.len() - 4]));
        assert_eq!(l.remaining, known.len() - 4);
    }

    check_file_path(data);
});
