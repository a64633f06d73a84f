use super::*;
use alloc::vec;

const V: Guid = Guid::from_bytes([7; 16]);
const W: Guid = Guid::from_bytes([9; 16]);
const BS: u32 = BOOTSERVICE_ACCESS;
const BS_RT: u32 = BOOTSERVICE_ACCESS | RUNTIME_ACCESS;
const NV_BS_RT: u32 = NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS;

fn n(s: &str) -> Vec<u16> {
    utf16(s)
}

fn store() -> Store {
    Store::new(Limits::default())
}

fn get(s: &Store, name: &str, guid: Guid) -> core::result::Result<(u32, Vec<u8>), SizedError> {
    s.get_variable(&n(name), guid, usize::MAX)
}

fn err(e: Error) -> SizedError {
    SizedError::from(e)
}

#[test]
fn global_variable_guid_bytes() {
    assert_eq!(GLOBAL_VARIABLE.to_bytes()[..4], [0x61, 0xdf, 0xe4, 0x8b]);
    assert_eq!(GLOBAL_VARIABLE.to_bytes()[8..], [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c]);
}

#[test]
fn set_then_get() {
    let mut s = store();
    s.set_variable(&n("Boot0000"), V, NV_BS_RT, b"abc").unwrap();
    assert_eq!(get(&s, "Boot0000", V), Ok((NV_BS_RT, b"abc".to_vec())));
    assert_eq!(get(&s, "Boot0000", W), Err(err(Error::NotFound)), "GUID is part of the key");
    assert_eq!(get(&s, "Boot0001", V), Err(err(Error::NotFound)));
    // Replacing with the same attributes.
    s.set_variable(&n("Boot0000"), V, NV_BS_RT, b"xy").unwrap();
    assert_eq!(get(&s, "Boot0000", V), Ok((NV_BS_RT, b"xy".to_vec())));
}

#[test]
fn get_validates_name_and_reports_size() {
    let mut s = store();
    s.set_variable(&n("A"), V, BS, &[1, 2, 3, 4]).unwrap();
    assert_eq!(s.get_variable(&[], V, 100), Err(err(Error::InvalidParameter)));
    assert_eq!(
        s.get_variable(&n("A"), V, 3),
        Err(SizedError { error: Error::BufferTooSmall, required: 4 })
    );
    assert_eq!(s.get_variable(&n("A"), V, 4), Ok((BS, vec![1, 2, 3, 4])));
}

#[test]
fn set_validates_name() {
    let mut s = store();
    assert_eq!(s.set_variable(&[], V, BS, b"x"), Err(Error::InvalidParameter));
    assert_eq!(s.set_variable(&[0x41, 0, 0x42], V, BS, b"x"), Err(Error::InvalidParameter));
}

#[test]
fn attribute_rules() {
    let mut s = store();
    let name = n("X");
    assert_eq!(s.set_variable(&name, V, RUNTIME_ACCESS, b"x"), Err(Error::InvalidParameter));
    assert_eq!(
        s.set_variable(&name, V, NON_VOLATILE | RUNTIME_ACCESS, b"x"),
        Err(Error::InvalidParameter),
        "RT requires BS"
    );
    assert_eq!(
        s.set_variable(&name, V, NV_BS_RT | HARDWARE_ERROR_RECORD, b"x"),
        Err(Error::InvalidParameter),
        "no hardware error record persistence"
    );
    assert_eq!(
        s.set_variable(&name, V, BS | AUTHENTICATED_WRITE_ACCESS, b"x"),
        Err(Error::Unsupported),
        "deprecated"
    );
    assert_eq!(
        s.set_variable(&name, V, BS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS, b"x"),
        Err(Error::SecurityViolation)
    );
    assert_eq!(
        s.set_variable(&name, V, BS | ENHANCED_AUTHENTICATED_ACCESS, b"x"),
        Err(Error::SecurityViolation)
    );
    assert_eq!(s.set_variable(&name, V, BS | 0x100, b"x"), Err(Error::InvalidParameter));
    assert_eq!(s.iter().count(), 0, "nothing was stored");
}

#[test]
fn attributes_fixed_after_creation() {
    let mut s = store();
    s.set_variable(&n("X"), V, BS, b"x").unwrap();
    assert_eq!(s.set_variable(&n("X"), V, BS_RT, b"y"), Err(Error::InvalidParameter));
    assert_eq!(s.set_variable(&n("X"), V, NON_VOLATILE | BS, b"y"), Err(Error::InvalidParameter));
    assert_eq!(
        s.set_variable(&n("X"), V, BS_RT | APPEND_WRITE, b"y"),
        Err(Error::InvalidParameter)
    );
    assert_eq!(get(&s, "X", V), Ok((BS, b"x".to_vec())));
    // Delete and recreate is the way.
    s.set_variable(&n("X"), V, 0, &[]).unwrap();
    s.set_variable(&n("X"), V, BS_RT, b"y").unwrap();
    assert_eq!(get(&s, "X", V), Ok((BS_RT, b"y".to_vec())));
}

#[test]
fn delete_by_size_zero_or_no_access() {
    let mut s = store();
    s.set_variable(&n("A"), V, BS, b"a").unwrap();
    s.set_variable(&n("B"), V, BS_RT, b"b").unwrap();
    s.set_variable(&n("C"), V, NV_BS_RT, b"c").unwrap();
    s.set_variable(&n("A"), V, BS, &[]).unwrap();
    s.set_variable(&n("B"), V, 0, b"ignored").unwrap();
    s.set_variable(&n("C"), V, NON_VOLATILE, b"no access attributes").unwrap();
    for name in ["A", "B", "C"] {
        assert_eq!(get(&s, name, V), Err(err(Error::NotFound)));
    }
    assert_eq!(s.used(), 0);
    assert_eq!(s.set_variable(&n("A"), V, BS, &[]), Err(Error::NotFound));
    assert_eq!(s.set_variable(&n("A"), V, 0, &[]), Err(Error::NotFound));
}

#[test]
fn delete_with_wrong_access_attributes_fails() {
    let mut s = store();
    s.set_variable(&n("A"), V, BS_RT, b"a").unwrap();
    assert_eq!(s.set_variable(&n("A"), V, BS, &[]), Err(Error::InvalidParameter));
    assert!(get(&s, "A", V).is_ok());
}

#[test]
fn append_write() {
    let mut s = store();
    let app = BS | APPEND_WRITE;
    // Appending zero bytes changes nothing, existing or not.
    s.set_variable(&n("L"), V, app, &[]).unwrap();
    assert_eq!(get(&s, "L", V), Err(err(Error::NotFound)));
    // Appending to a missing variable creates it, without APPEND_WRITE stored.
    s.set_variable(&n("L"), V, app, b"ab").unwrap();
    assert_eq!(get(&s, "L", V), Ok((BS, b"ab".to_vec())));
    s.set_variable(&n("L"), V, app, b"cd").unwrap();
    assert_eq!(get(&s, "L", V), Ok((BS, b"abcd".to_vec())));
    s.set_variable(&n("L"), V, app, &[]).unwrap();
    assert_eq!(get(&s, "L", V), Ok((BS, b"abcd".to_vec())));
    assert_eq!(s.used(), footprint(&n("L"), 4));
    // Append with no access attribute is meaningless.
    assert_eq!(s.set_variable(&n("L"), V, APPEND_WRITE, b"x"), Err(Error::InvalidParameter));
}

#[test]
fn next_variable_name_walk() {
    let mut s = store();
    s.set_variable(&n("B"), V, BS, b"1").unwrap();
    s.set_variable(&n("A"), V, BS, b"1").unwrap();
    s.set_variable(&n("A"), W, BS, b"1").unwrap();
    s.set_variable(&n("Long"), W, BS, b"1").unwrap();
    let mut seen = Vec::new();
    let (mut name, mut guid) = (Vec::new(), Guid::from_bytes([0; 16]));
    loop {
        match s.get_next_variable_name(&name, guid, 64) {
            Ok((nn, g)) => {
                seen.push((nn.clone(), g));
                name = nn;
                guid = g;
            }
            Err(e) => {
                assert_eq!(e, err(Error::NotFound));
                break;
            }
        }
    }
    assert_eq!(seen, vec![(n("A"), V), (n("B"), V), (n("A"), W), (n("Long"), W)]);
    // Walk order is the iterator's order.
    let order: Vec<_> = s.iter().map(|v| (v.name.to_vec(), v.guid)).collect();
    assert_eq!(order, seen);
}

#[test]
fn next_variable_name_errors() {
    let mut s = store();
    assert_eq!(s.get_next_variable_name(&[], V, 64), Err(err(Error::NotFound)), "empty store");
    s.set_variable(&n("A"), V, BS, b"1").unwrap();
    s.set_variable(&n("Long"), V, BS, b"1").unwrap();
    assert_eq!(s.get_next_variable_name(&n("Z"), V, 64), Err(err(Error::InvalidParameter)));
    assert_eq!(s.get_next_variable_name(&n("A"), W, 64), Err(err(Error::InvalidParameter)));
    // "Long" + NUL is 10 bytes.
    assert_eq!(
        s.get_next_variable_name(&n("A"), V, 9),
        Err(SizedError { error: Error::BufferTooSmall, required: 10 })
    );
    assert_eq!(s.get_next_variable_name(&n("A"), V, 10), Ok((n("Long"), V)));
    // "A" + NUL is 4 bytes.
    assert_eq!(
        s.get_next_variable_name(&[], W, 3),
        Err(SizedError { error: Error::BufferTooSmall, required: 4 })
    );
}

#[test]
fn quota_and_max_size() {
    let mut s = Store::new(Limits { max_storage: 40, max_variable_size: 20 });
    let name = n("AB"); // 6 bytes with NUL
    assert_eq!(s.set_variable(&name, V, BS, &[0; 15]), Err(Error::InvalidParameter));
    s.set_variable(&name, V, BS, &[0; 14]).unwrap();
    assert_eq!(s.used(), 20);
    assert_eq!(
        s.set_variable(&name, V, BS | APPEND_WRITE, &[1]),
        Err(Error::InvalidParameter),
        "append past the per-variable maximum"
    );
    s.set_variable(&n("CD"), V, BS, &[0; 14]).unwrap();
    assert_eq!(s.used(), 40);
    assert_eq!(s.set_variable(&n("E"), V, BS, &[0; 1]), Err(Error::OutOfResources));
    // Replacing counts the old size as freed.
    s.set_variable(&name, V, BS, &[0; 10]).unwrap();
    assert_eq!(s.used(), 36);
    let info = s.query_variable_info(BS).unwrap();
    assert_eq!(info, VariableInfo { max_storage: 40, remaining: 4, max_variable_size: 20 });
    s.set_variable(&name, V, 0, &[]).unwrap();
    assert_eq!(s.query_variable_info(BS_RT).unwrap().remaining, 20);
}

#[test]
fn query_variable_info_rules() {
    let mut s = store();
    assert_eq!(s.query_variable_info(0), Err(Error::InvalidParameter));
    assert_eq!(s.query_variable_info(NON_VOLATILE), Err(Error::InvalidParameter));
    assert_eq!(s.query_variable_info(RUNTIME_ACCESS), Err(Error::InvalidParameter));
    assert_eq!(s.query_variable_info(BS | 0x1000), Err(Error::InvalidParameter));
    assert_eq!(s.query_variable_info(NV_BS_RT | HARDWARE_ERROR_RECORD), Err(Error::Unsupported));
    assert_eq!(s.query_variable_info(BS | AUTHENTICATED_WRITE_ACCESS), Err(Error::Unsupported));
    assert_eq!(
        s.query_variable_info(BS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS),
        Err(Error::Unsupported)
    );
    assert!(s.query_variable_info(NON_VOLATILE | BS).is_ok());
    s.exit_boot_services();
    assert_eq!(s.query_variable_info(BS), Err(Error::InvalidParameter), "runtime needs RT");
    assert!(s.query_variable_info(NV_BS_RT).is_ok());
}

#[test]
fn after_exit_boot_services() {
    let mut s = store();
    s.set_variable(&n("Bs"), V, NON_VOLATILE | BS, b"1").unwrap();
    s.set_variable(&n("RtVol"), V, BS_RT, b"2").unwrap();
    s.set_variable(&n("RtNv"), V, NV_BS_RT, b"3").unwrap();
    s.exit_boot_services();
    assert!(s.at_runtime());

    // Boot-services-only variables are gone from get and the walk.
    assert_eq!(get(&s, "Bs", V), Err(err(Error::NotFound)));
    assert_eq!(s.get_next_variable_name(&n("Bs"), V, 64), Err(err(Error::InvalidParameter)));
    let (first, g) = s.get_next_variable_name(&[], V, 64).unwrap();
    assert_eq!((first.clone(), g), (n("RtNv"), V));
    assert_eq!(s.get_next_variable_name(&first, g, 64), Ok((n("RtVol"), V)));
    assert_eq!(s.get_next_variable_name(&n("RtVol"), V, 64), Err(err(Error::NotFound)));
    // ...but still there for persistence.
    assert_eq!(s.iter().count(), 3);

    // Writes without RT are invalid at runtime.
    assert_eq!(s.set_variable(&n("New"), V, NON_VOLATILE | BS, b"x"), Err(Error::InvalidParameter));
    assert_eq!(s.set_variable(&n("Bs"), V, NON_VOLATILE | BS, b"x"), Err(Error::InvalidParameter));
    assert_eq!(s.set_variable(&n("Bs"), V, NV_BS_RT, b"x"), Err(Error::InvalidParameter));
    // Only RT + NV variables can be set: volatile RT ones are read-only...
    assert_eq!(s.set_variable(&n("RtVol"), V, BS_RT, b"x"), Err(Error::WriteProtected));
    assert_eq!(s.set_variable(&n("RtVol"), V, 0, &[]), Err(Error::WriteProtected));
    // ...and cannot be created.
    assert_eq!(s.set_variable(&n("New"), V, BS_RT, b"x"), Err(Error::InvalidParameter));
    // RT + NV work: update, append, create, delete.
    s.set_variable(&n("RtNv"), V, NV_BS_RT, b"4").unwrap();
    s.set_variable(&n("RtNv"), V, NV_BS_RT | APPEND_WRITE, b"5").unwrap();
    assert_eq!(get(&s, "RtNv", V), Ok((NV_BS_RT, b"45".to_vec())));
    s.set_variable(&n("New"), V, NV_BS_RT, b"x").unwrap();
    s.set_variable(&n("New"), V, 0, &[]).unwrap();
    assert_eq!(s.set_variable(&n("Bs"), V, 0, &[]), Err(Error::NotFound), "invisible");
}

#[test]
fn read_only_variables() {
    let mut s = store();
    let sb = n("SecureBoot");
    s.define_read_only(&sb, GLOBAL_VARIABLE, BS_RT, &[0]).unwrap();
    s.define_read_only(&n("SetupMode"), GLOBAL_VARIABLE, BS_RT, &[1]).unwrap();
    assert_eq!(s.get_variable(&sb, GLOBAL_VARIABLE, 1), Ok((BS_RT, vec![0])));
    assert_eq!(s.set_variable(&sb, GLOBAL_VARIABLE, BS_RT, &[1]), Err(Error::WriteProtected));
    assert_eq!(s.set_variable(&sb, GLOBAL_VARIABLE, 0, &[]), Err(Error::WriteProtected));
    assert_eq!(
        s.set_variable(&sb, GLOBAL_VARIABLE, BS_RT | APPEND_WRITE, &[1]),
        Err(Error::WriteProtected)
    );
    // The same name under another GUID is an ordinary variable.
    s.set_variable(&sb, V, BS, &[1]).unwrap();
    // The firmware can change its own value.
    s.define_read_only(&sb, GLOBAL_VARIABLE, BS_RT, &[1]).unwrap();
    assert_eq!(s.get_variable(&sb, GLOBAL_VARIABLE, 1), Ok((BS_RT, vec![1])));
    let ro: Vec<_> = s.iter().filter(|v| v.read_only).map(|v| v.name.to_vec()).collect();
    assert_eq!(ro, vec![sb.clone(), n("SetupMode")]);
    assert_eq!(s.used(), footprint(&sb, 1) * 2 + footprint(&n("SetupMode"), 1));
    // Bad definitions.
    assert_eq!(s.define_read_only(&[], V, BS, &[1]), Err(Error::InvalidParameter));
    assert_eq!(s.define_read_only(&sb, V, BS, &[]), Err(Error::InvalidParameter));
    assert_eq!(s.define_read_only(&sb, V, RUNTIME_ACCESS, &[1]), Err(Error::InvalidParameter));
    assert_eq!(s.define_read_only(&sb, V, BS | APPEND_WRITE, &[1]), Err(Error::InvalidParameter));
}

#[test]
fn protected_names_cannot_be_created() {
    let mut s = store();
    let db = n("db");
    let kek = n("KEK");
    const NV_BS_RT_AT: u32 = NV_BS_RT | TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
    // A value the guest left (say, restored from a saved store) goes away.
    s.set_variable(&db, V, NV_BS_RT, b"forged").unwrap();
    let before = s.used();
    s.protect(&db, V).unwrap();
    assert!(s.used() < before);
    assert_eq!(s.get_variable(&db, V, 64), Err(err(Error::NotFound)));
    assert_eq!(s.set_variable(&db, V, NV_BS_RT, b"forged"), Err(Error::WriteProtected));
    // Authenticated writes stay a security violation (checked first).
    assert_eq!(s.set_variable(&db, V, NV_BS_RT_AT, b"x"), Err(Error::SecurityViolation));
    // The firmware defines a protected name with the authenticated bit.
    s.protect(&kek, V).unwrap();
    s.define_read_only(&kek, V, NV_BS_RT_AT, b"lists").unwrap();
    assert_eq!(s.get_variable(&kek, V, 64), Ok((NV_BS_RT_AT, b"lists".to_vec())));
    assert_eq!(s.set_variable(&kek, V, NV_BS_RT, b"y"), Err(Error::WriteProtected));
    assert_eq!(s.protect(&[], V), Err(Error::InvalidParameter));
}

#[test]
fn read_only_respects_limits() {
    let mut s = Store::new(Limits { max_storage: 10, max_variable_size: 8 });
    assert_eq!(s.define_read_only(&n("A"), V, BS, &[0; 5]), Err(Error::InvalidParameter));
    s.define_read_only(&n("A"), V, BS, &[0; 4]).unwrap();
    assert_eq!(s.define_read_only(&n("B"), V, BS, &[0; 4]), Err(Error::OutOfResources));
}

#[test]
fn iterator_exposes_everything() {
    let mut s = store();
    s.set_variable(&n("X"), W, NV_BS_RT, b"persist").unwrap();
    s.set_variable(&n("Y"), V, BS, b"volatile").unwrap();
    let all: Vec<_> = s.iter().collect();
    assert_eq!(all.len(), 2);
    let x = all.iter().find(|v| v.guid == W).unwrap();
    assert_eq!(
        *x,
        VariableRef {
            guid: W,
            name: &n("X"),
            attributes: NV_BS_RT,
            data: b"persist",
            read_only: false
        }
    );
    let nv: Vec<_> = s.iter().filter(|v| v.attributes & NON_VOLATILE != 0).collect();
    assert_eq!(nv.len(), 1);
}

#[test]
fn boot_options_are_walked_in_number_order() {
    let mut s = store();
    for name in ["Boot0002", "BootOrder", "Boot0000", "Boot000a", "Boot00A0", "BootFFFF"] {
        s.set_variable(&n(name), GLOBAL_VARIABLE, NV_BS_RT, name.as_bytes()).unwrap();
    }
    for name in ["Boot0000x", "Boot", "BootNext", "Boot00"] {
        s.set_variable(&n(name), GLOBAL_VARIABLE, BS_RT, b"not an option").unwrap();
    }
    // Another vendor's Boot0001 is not a boot option.
    s.set_variable(&n("Boot0001"), V, NV_BS_RT, b"other vendor").unwrap();
    let got: Vec<(u16, &[u8])> = s.boot_options().collect();
    assert_eq!(
        got,
        [
            (0x0000, &b"Boot0000"[..]),
            (0x0002, b"Boot0002"),
            (0x00a0, b"Boot00A0"),
            (0xffff, b"BootFFFF"),
        ]
    );
    assert_eq!(store().boot_options().count(), 0);
}

#[test]
fn boot_options_hidden_at_runtime_are_skipped() {
    let mut s = store();
    s.set_variable(&n("Boot0000"), GLOBAL_VARIABLE, BS, b"bs only").unwrap();
    s.set_variable(&n("Boot0001"), GLOBAL_VARIABLE, NV_BS_RT, b"rt").unwrap();
    assert_eq!(s.boot_options().count(), 2);
    s.exit_boot_services();
    assert_eq!(s.boot_options().collect::<Vec<_>>(), [(1, &b"rt"[..])]);
}

#[test]
fn boot_options_feed_option_for_path() {
    use crate::devpath::PathBuilder;
    use crate::load_option::{option_for_path, LoadOption, OptionSlot, ACTIVE};
    let path = |f: &str| PathBuilder::new().file_path(f).finish().unwrap();
    let opt = |p: &[u8]| {
        LoadOption {
            attributes: ACTIVE,
            description: "x".into(),
            file_path: p.to_vec(),
            optional_data: vec![],
        }
        .to_bytes()
    };
    let (a, b) = (path("\\a.efi"), path("\\b.efi"));
    let mut s = store();
    s.set_variable(&n("Boot0000"), GLOBAL_VARIABLE, NV_BS_RT, &opt(&a)).unwrap();
    s.set_variable(&n("Boot0002"), GLOBAL_VARIABLE, NV_BS_RT, &opt(&b)).unwrap();
    assert_eq!(option_for_path(s.boot_options(), &b), OptionSlot::Existing(2));
    assert_eq!(option_for_path(s.boot_options(), &path("\\c.efi")), OptionSlot::Free(1));
}
