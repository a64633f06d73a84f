//! The UEFI variable services as a loader and an OS drive them:
//! `SetVariable`, `GetVariable`, `GetNextVariableName`,
//! `QueryVariableInfo`, firmware-owned variables and `ExitBootServices`
//! on `vmfw_efi::variables::Store`, in sequences read from the input.
//! (`efi_vars` covers the saved-slot and load-option decoders; this target
//! covers the store's rules.)
//!
//! Input: one limits byte, then operations until the input ends, each an
//! op byte followed by its operands (a reader that gives zeros once the
//! input is used up). Names come from a small set (so calls meet the same
//! variables), including an empty one, one with an embedded NUL and
//! `Boot####` names; three vendor GUIDs.
//!
//! Checks after every call:
//! - a failed call changes nothing;
//! - a successful write is visible to `GetVariable` with the attributes
//!   stored (no APPEND_WRITE) and the data written or appended; a delete
//!   makes the variable disappear;
//! - `used()` is the sum of the variables' sizes (name with NUL plus
//!   data) and within the limits; no variable is empty or over the
//!   per-variable maximum; `QueryVariableInfo` agrees;
//! - `GetVariable` with a short buffer reports the data size;
//! - the `GetNextVariableName` walk from the empty name visits every
//!   visible variable exactly once, in `iter()` order, ends with
//!   `NotFound`, and reports the name size when the buffer is short;
//! - firmware-owned variables are write-protected; after
//!   `ExitBootServices` variables without RUNTIME_ACCESS are invisible.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_efi::variables::{
    Limits, Store, APPEND_WRITE, BOOTSERVICE_ACCESS, GLOBAL_VARIABLE, NON_VOLATILE, RUNTIME_ACCESS,
};
use vmfw_efi::{Error, Guid};

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
}

const NAMES: [&str; 10] =
    ["Boot0001", "BootOrder", "Boot0002", "a", "Lang", "x\0y", "", "BOOT0001", "Timeout", "Z"];
const GUIDS: [Guid; 3] = [
    GLOBAL_VARIABLE,
    Guid::ZERO,
    Guid::from_fields(
        0x4a67_b082,
        0x0a4c,
        0x41cf,
        [0xb6, 0xc7, 0x44, 0x0b, 0x29, 0xbb, 0x8c, 0x4f],
    ),
];

fn name(r: &mut Reader) -> Vec<u16> {
    let b = r.u8();
    let mut n: Vec<u16> = NAMES[usize::from(b) % NAMES.len()].encode_utf16().collect();
    if b >= 0xf0 {
        // A name no table holds: any UTF-16 units, lone surrogates too.
        n = (0..b & 7).map(|_| r.u16()).collect();
    }
    n
}

fn guid(r: &mut Reader) -> Guid {
    GUIDS[usize::from(r.u8()) % GUIDS.len()]
}

type Snapshot = Vec<(Guid, Vec<u16>, u32, Vec<u8>, bool)>;

fn snapshot(s: &Store) -> Snapshot {
    s.iter()
        .map(|v| (v.guid, v.name.to_vec(), v.attributes, v.data.to_vec(), v.read_only))
        .collect()
}

fn visible(s: &Store, attrs: u32) -> bool {
    !s.at_runtime() || attrs & RUNTIME_ACCESS != 0
}

fn check(s: &Store, limits: Limits) {
    let snap = snapshot(s);
    let mut total = 0u64;
    for (_, n, a, d, _) in &snap {
        assert!(!d.is_empty(), "empty variable stored");
        assert_eq!(a & APPEND_WRITE, 0, "APPEND_WRITE stored");
        assert!(!n.is_empty() && !n.contains(&0));
        let size = (n.len() as u64 + 1) * 2 + d.len() as u64;
        assert!(size <= limits.max_variable_size, "variable over the maximum");
        total += size;
    }
    assert_eq!(s.used(), total, "used() is not the sum of the variables");
    assert!(s.used() <= limits.max_storage);
    let q = s.query_variable_info(BOOTSERVICE_ACCESS | RUNTIME_ACCESS).expect("BS|RT is valid");
    assert_eq!(q.remaining, limits.max_storage - s.used());

    // The walk, bounded by the number of variables plus one.
    let want: Vec<(Guid, Vec<u16>)> =
        snap.iter().filter(|v| visible(s, v.2)).map(|v| (v.0, v.1.clone())).collect();
    let mut got = Vec::new();
    let (mut prev, mut prev_guid) = (Vec::new(), Guid::ZERO);
    for _ in 0..=want.len() {
        match s.get_next_variable_name(&prev, prev_guid, 4) {
            Err(e) if e.error == Error::BufferTooSmall => {
                assert!(e.required > 4);
                let (n, g) = s.get_next_variable_name(&prev, prev_guid, e.required).expect("fits");
                assert_eq!(e.required, (n.len() + 1) * 2);
                got.push((g, n.clone()));
                (prev, prev_guid) = (n, g);
            }
            Ok((n, g)) => {
                assert!((n.len() + 1) * 2 <= 4);
                got.push((g, n.clone()));
                (prev, prev_guid) = (n, g);
            }
            Err(e) => {
                assert_eq!(e.error, Error::NotFound, "walk ended with {e:?}");
                break;
            }
        }
    }
    assert_eq!(got, want, "the walk does not visit every visible variable once");
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader(data);
    let l = r.u8();
    let limits = Limits {
        max_storage: 64 << (l & 7) as u64 * 2,
        max_variable_size: 32 << ((l >> 3) & 7) as u64 * 2,
    };
    let mut s = Store::new(limits);
    let mut ops = 0;
    while !r.0.is_empty() && ops < 256 {
        ops += 1;
        let before = snapshot(&s);
        let op = r.u8();
        match op % 8 {
            0..=2 => {
                let (n, g) = (name(&mut r), guid(&mut r));
                let attrs = if op & 0x80 != 0 {
                    u32::from(r.u8())
                } else {
                    [BOOTSERVICE_ACCESS, NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS]
                        [usize::from(op >> 6 & 1)]
                        | if op & 0x20 != 0 { APPEND_WRITE } else { 0 }
                };
                let len = usize::from(r.u8()) * usize::from(r.u8() % 4 + 1);
                let val: Vec<u8> = (0..len).map(|i| (i as u8) ^ op).collect();
                let old = s.get_variable(&n, g, usize::MAX).ok();
                match s.set_variable(&n, g, attrs, &val) {
                    Ok(()) => {
                        let now = s.get_variable(&n, g, usize::MAX).ok();
                        let append = attrs & APPEND_WRITE != 0;
                        let delete = !append && (val.is_empty() || attrs & 6 == 0);
                        if delete {
                            assert_eq!(now, None, "deleted variable still there");
                        } else if append && val.is_empty() {
                            assert_eq!(now, old, "an empty append changed the variable");
                        } else {
                            let (a, d) = now.expect("written variable missing");
                            assert_eq!(a, attrs & !APPEND_WRITE);
                            let mut want = if append {
                                old.map(|o| o.1).unwrap_or_default()
                            } else {
                                Vec::new()
                            };
                            want.extend_from_slice(&val);
                            assert_eq!(d, want);
                        }
                    }
                    Err(_) => {
                        assert_eq!(snapshot(&s), before, "a failed SetVariable changed the store")
                    }
                }
            }
            3 => {
                let (n, g) = (name(&mut r), guid(&mut r));
                let cap = usize::from(r.u8());
                match s.get_variable(&n, g, cap) {
                    Ok((_, d)) => assert!(d.len() <= cap && !d.is_empty()),
                    Err(e) if e.error == Error::BufferTooSmall => {
                        let (_, d) = s.get_variable(&n, g, e.required).expect("fits now");
                        assert_eq!(d.len(), e.required);
                        assert!(cap < e.required);
                    }
                    Err(_) => {}
                }
            }
            4 => {
                let (n, g) = (name(&mut r), guid(&mut r));
                let _ = s.get_next_variable_name(&n, g, usize::from(r.u8()));
            }
            5 => {
                let _ = s.query_variable_info(u32::from(r.u8()));
            }
            6 => {
                let (n, g) = (name(&mut r), guid(&mut r));
                let attrs = u32::from(r.u8() & 7);
                let len = usize::from(r.u8());
                let val = vec![op; len];
                if s.define_read_only(&n, g, attrs, &val).is_ok() {
                    assert_eq!(
                        s.get_variable(&n, g, usize::MAX)
                            .map(|v| v.1)
                            .ok()
                            .filter(|_| visible(&s, attrs)),
                        visible(&s, attrs).then_some(val.clone())
                    );
                    let w = s.set_variable(&n, g, attrs, b"x");
                    assert_eq!(w, Err(Error::WriteProtected));
                } else {
                    assert_eq!(snapshot(&s), before, "a failed define changed the store");
                }
            }
            _ => {
                if op & 0x10 != 0 {
                    s.exit_boot_services();
                    assert!(s.at_runtime());
                }
            }
        }
        check(&s, limits);
    }
});
