use super::*;
use alloc::vec;

const A: Guid = Guid::from_bytes([1; 16]);
const B: Guid = Guid::from_bytes([2; 16]);
const C: Guid = Guid::from_bytes([3; 16]);

fn db_with_agent() -> (Database, Handle) {
    let mut db = Database::new();
    let agent = db.install_protocol_interface(None, C, 0xc0).unwrap();
    (db, agent)
}

#[test]
fn install_and_query() {
    let mut db = Database::new();
    let h1 = db.install_protocol_interface(None, A, 0x1000).unwrap();
    let h2 = db.install_protocol_interface(None, A, 0x2000).unwrap();
    assert_eq!(db.install_protocol_interface(Some(h1), B, 0x1100), Ok(h1));
    assert_eq!(db.install_protocol_interface(Some(h1), A, 0x9), Err(Error::InvalidParameter));
    assert_eq!(db.handle_protocol(h1, A), Ok(0x1000));
    assert_eq!(db.handle_protocol(h2, B), Err(Error::Unsupported));
    assert_eq!(db.protocols_per_handle(h1), Ok(vec![A, B]));
    assert_eq!(db.handles().collect::<Vec<_>>(), vec![h1, h2], "creation order");
    assert_eq!(db.locate_protocol(A, None), Ok(0x1000));
    assert_eq!(db.locate_protocol(C, None), Err(Error::NotFound));
}

#[test]
fn uninstall_frees_handle_and_validates() {
    let mut db = Database::new();
    let h = db.install_protocol_interface(None, A, 0x1000).unwrap();
    db.install_protocol_interface(Some(h), B, 0x2000).unwrap();
    assert_eq!(db.uninstall_protocol_interface(h, A, 0x1234), Err(Error::NotFound));
    assert_eq!(db.uninstall_protocol_interface(h, C, 0x1000), Err(Error::NotFound));
    db.uninstall_protocol_interface(h, A, 0x1000).unwrap();
    assert!(db.is_valid(h));
    db.uninstall_protocol_interface(h, B, 0x2000).unwrap();
    assert!(!db.is_valid(h), "last protocol gone, handle freed");
    assert_eq!(db.uninstall_protocol_interface(h, B, 0x2000), Err(Error::InvalidParameter));
    assert_eq!(db.install_protocol_interface(Some(h), A, 1), Err(Error::InvalidParameter));
    assert_eq!(db.protocols_per_handle(h), Err(Error::InvalidParameter));
    let h2 = db.install_protocol_interface(None, A, 1).unwrap();
    assert_ne!(h2, h, "handles are never reused");
}

#[test]
fn multiple_is_all_or_nothing() {
    let mut db = Database::new();
    let h = db.install_multiple_protocol_interfaces(None, &[(A, 1), (B, 2)], |_, _| false).unwrap();
    // B already there: nothing of the call is installed.
    assert_eq!(
        db.install_multiple_protocol_interfaces(Some(h), &[(C, 3), (B, 4)], |_, _| false),
        Err(Error::InvalidParameter)
    );
    assert_eq!(db.protocols_per_handle(h), Ok(vec![A, B]));
    assert_eq!(
        db.install_multiple_protocol_interfaces(None, &[(C, 3), (C, 4)], |_, _| false),
        Err(Error::InvalidParameter)
    );
    assert_eq!(db.handles().count(), 1, "no handle created by a failed call");
    // Device path duplicates: ALREADY_STARTED.
    let dp = db
        .install_multiple_protocol_interfaces(None, &[(crate::guid::DEVICE_PATH, 0xd0)], |_, _| {
            false
        })
        .unwrap();
    assert_eq!(
        db.install_multiple_protocol_interfaces(
            None,
            &[(A, 5), (crate::guid::DEVICE_PATH, 0xd1)],
            |new, old| { new == 0xd1 && old == 0xd0 }
        ),
        Err(Error::AlreadyStarted)
    );
    assert_eq!(db.handles().count(), 2);
    // Uninstall multiple: one wrong interface, nothing removed.
    assert_eq!(
        db.uninstall_multiple_protocol_interfaces(h, &[(A, 1), (B, 99)]),
        Err(Error::InvalidParameter)
    );
    assert_eq!(db.protocols_per_handle(h), Ok(vec![A, B]));
    db.uninstall_multiple_protocol_interfaces(h, &[(A, 1), (B, 2)]).unwrap();
    assert!(!db.is_valid(h));
    assert!(db.is_valid(dp));
}

#[test]
fn open_close_and_information() {
    let (mut db, agent) = db_with_agent();
    let h = db.install_protocol_interface(None, A, 0xa0).unwrap();
    let ctl = db.install_protocol_interface(None, B, 0xb0).unwrap();
    assert_eq!(db.open_protocol(h, A, Some(agent), None, open::GET_PROTOCOL), Ok(0xa0));
    assert_eq!(db.open_protocol(h, A, Some(agent), None, open::GET_PROTOCOL), Ok(0xa0));
    assert_eq!(db.open_protocol(h, A, None, None, open::TEST_PROTOCOL), Ok(0));
    assert_eq!(db.open_protocol(h, B, None, None, open::TEST_PROTOCOL), Err(Error::Unsupported));
    let info = db.open_protocol_information(h, A).unwrap();
    assert_eq!(
        info,
        vec![OpenInfo { agent: Some(agent), controller: None, attributes: 2, open_count: 2 }]
    );
    // Bad attribute values and missing handles.
    assert_eq!(db.open_protocol(h, A, Some(agent), None, 0), Err(Error::InvalidParameter));
    assert_eq!(db.open_protocol(h, A, Some(agent), None, 0x03), Err(Error::InvalidParameter));
    assert_eq!(
        db.open_protocol(h, A, Some(agent), None, open::BY_DRIVER),
        Err(Error::InvalidParameter)
    );
    assert_eq!(
        db.open_protocol(h, A, None, Some(ctl), open::BY_DRIVER),
        Err(Error::InvalidParameter)
    );
    assert_eq!(
        db.open_protocol(h, A, Some(agent), Some(h), open::BY_CHILD_CONTROLLER),
        Err(Error::InvalidParameter)
    );
    // Close.
    assert_eq!(db.close_protocol(h, A, ctl, None), Err(Error::NotFound));
    assert_eq!(db.close_protocol(h, B, agent, None), Err(Error::NotFound));
    db.close_protocol(h, A, agent, None).unwrap();
    assert_eq!(db.open_protocol_information(h, A), Ok(vec![]));
    assert_eq!(db.open_protocol_information(h, B), Err(Error::NotFound));
}

#[test]
fn driver_and_exclusive_rules() {
    let (mut db, agent) = db_with_agent();
    let other = db.install_protocol_interface(None, C, 0xc1).unwrap();
    let h = db.install_protocol_interface(None, A, 0xa0).unwrap();
    let ctl = h;
    assert_eq!(db.open_protocol(h, A, Some(agent), Some(ctl), open::BY_DRIVER), Ok(0xa0));
    assert_eq!(
        db.open_protocol(h, A, Some(agent), Some(ctl), open::BY_DRIVER),
        Err(Error::AlreadyStarted)
    );
    assert_eq!(
        db.open_protocol(h, A, Some(other), Some(ctl), open::BY_DRIVER),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        db.open_protocol(h, A, Some(other), None, open::EXCLUSIVE),
        Err(Error::AccessDenied)
    );
    // GET_PROTOCOL is never blocked.
    assert_eq!(db.open_protocol(h, A, Some(other), None, open::GET_PROTOCOL), Ok(0xa0));
    // A driver holds it: no uninstall, no reinstall.
    assert_eq!(db.uninstall_protocol_interface(h, A, 0xa0), Err(Error::AccessDenied));
    assert_eq!(db.reinstall_protocol_interface(h, A, 0xa0, 0xa1), Err(Error::AccessDenied));
    db.close_protocol(h, A, agent, Some(ctl)).unwrap();
    let excl = open::BY_DRIVER | open::EXCLUSIVE;
    assert_eq!(db.open_protocol(h, A, Some(other), Some(ctl), excl), Ok(0xa0));
    assert_eq!(db.open_protocol(h, A, Some(other), Some(ctl), excl), Err(Error::AlreadyStarted));
    assert_eq!(
        db.open_protocol(h, A, Some(agent), Some(ctl), open::BY_DRIVER),
        Err(Error::AccessDenied)
    );
    db.close_protocol(h, A, other, Some(ctl)).unwrap();
    // Only GET_PROTOCOL opens remain: uninstall drops them.
    db.uninstall_protocol_interface(h, A, 0xa0).unwrap();
    assert!(!db.is_valid(h));
}

#[test]
fn reinstall() {
    let mut db = Database::new();
    let h = db.install_protocol_interface(None, A, 1).unwrap();
    assert_eq!(db.reinstall_protocol_interface(h, A, 7, 2), Err(Error::NotFound));
    db.reinstall_protocol_interface(h, A, 1, 2).unwrap();
    assert_eq!(db.handle_protocol(h, A), Ok(2));
}

#[test]
fn locate_handle_variants() {
    let mut db = Database::new();
    let h1 = db.install_protocol_interface(None, A, 1).unwrap();
    let h2 = db.install_protocol_interface(None, B, 2).unwrap();
    let h3 = db.install_protocol_interface(None, A, 3).unwrap();
    assert_eq!(db.locate_handle(SearchType::AllHandles, 8), Ok(vec![h1, h2, h3]));
    assert_eq!(db.locate_handle(SearchType::ByProtocol(A), 8), Ok(vec![h1, h3]));
    assert_eq!(
        db.locate_handle(SearchType::ByProtocol(A), 1),
        Err(SizedError { error: Error::BufferTooSmall, required: 2 })
    );
    assert_eq!(db.locate_handle(SearchType::ByProtocol(C), 8), Err(Error::NotFound.into()));
    assert_eq!(db.locate_handle_buffer(SearchType::ByProtocol(B)), Ok(vec![h2]));
    assert_eq!(db.locate_handle_buffer(SearchType::ByProtocol(C)), Err(Error::NotFound));
}

#[test]
fn register_notify() {
    let mut db = Database::new();
    let old = db.install_protocol_interface(None, A, 1).unwrap();
    let reg = db.register_protocol_notify(A, 0xe1).unwrap();
    let by_reg = SearchType::ByRegisterNotify(reg);
    assert_eq!(
        db.locate_handle(by_reg, 1),
        Err(Error::NotFound.into()),
        "earlier installs are not new"
    );
    let n1 = db.install_protocol_interface(None, A, 2).unwrap();
    db.install_protocol_interface(None, B, 9).unwrap();
    let n2 = db.install_protocol_interface(None, A, 3).unwrap();
    assert_eq!(db.take_signals(), vec![0xe1, 0xe1]);
    assert_eq!(db.take_signals(), vec![]);
    assert_eq!(
        db.locate_handle(by_reg, 0),
        Err(SizedError { error: Error::BufferTooSmall, required: 1 })
    );
    assert_eq!(db.locate_handle(by_reg, 4), Ok(vec![n1]), "one at a time");
    assert_eq!(db.locate_protocol(A, Some(reg)), Ok(3));
    assert_eq!(db.locate_handle(by_reg, 4), Err(Error::NotFound.into()), "each returned once");
    // Reinstall counts as new; an uninstalled handle is skipped.
    db.reinstall_protocol_interface(old, A, 1, 4).unwrap();
    db.uninstall_protocol_interface(n2, A, 3).unwrap();
    let n3 = db.install_protocol_interface(None, A, 5).unwrap();
    assert_eq!(db.locate_handle_buffer(by_reg), Ok(vec![old]));
    assert_eq!(db.locate_handle_buffer(by_reg), Ok(vec![n3]));
    let bogus = Registration(NonZeroUsize::new(999).unwrap());
    assert_eq!(
        db.locate_handle_buffer(SearchType::ByRegisterNotify(bogus)),
        Err(Error::InvalidParameter)
    );
    assert_eq!(db.locate_protocol(A, Some(bogus)), Err(Error::NotFound));
}
