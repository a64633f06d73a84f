extern crate std;

use super::*;
use std::vec::Vec;

/// Feeds `bytes`, then flushes: every event, in order.
fn decode(bytes: &[u8]) -> Vec<Event> {
    let mut d = Decoder::new();
    let mut out: Vec<Event> = bytes.iter().flat_map(|&b| d.push(b)).collect();
    out.extend(d.flush());
    assert!(!d.pending());
    out
}

fn keys(bytes: &[u8]) -> Vec<Key> {
    decode(bytes).into_iter().map(|e| e.key().expect("a key")).collect()
}

fn efi(bytes: &[u8]) -> Vec<(u16, u16)> {
    keys(bytes).into_iter().map(|k| (k.efi().scan_code, k.efi().unicode_char)).collect()
}

/// The UEFI console's decoder before this crate (firmware
/// `uefi/console.rs`, `next_key`), given every byte at once: the
/// behaviour the new decoder must keep for what it handled.
fn old_console(bytes: &[u8]) -> Vec<(u16, u16)> {
    let mut q: std::collections::VecDeque<u8> = bytes.iter().copied().collect();
    let mut out = Vec::new();
    while let Some(b) = q.pop_front() {
        out.push(match b {
            0x1b => {
                let (Some(&b1), Some(&b2)) = (q.front(), q.get(1)) else {
                    out.push((0x17, 0));
                    continue;
                };
                let scan = match (b1, b2) {
                    (b'[', b'A') => 1,
                    (b'[', b'B') => 2,
                    (b'[', b'C') => 3,
                    (b'[', b'D') => 4,
                    (b'[', b'H') => 5,
                    (b'[', b'F') => 6,
                    (b'O', b'P') => 0x0b,
                    (b'O', b'Q') => 0x0c,
                    (b'O', b'R') => 0x0d,
                    (b'O', b'S') => 0x0e,
                    (b'[', d @ b'1'..=b'6') if q.get(2) == Some(&b'~') => {
                        q.pop_front();
                        match d {
                            b'1' => 5,
                            b'2' => 7,
                            b'3' => 8,
                            b'4' => 6,
                            b'5' => 9,
                            _ => 0x0a,
                        }
                    }
                    _ => {
                        out.push((0x17, 0));
                        continue;
                    }
                };
                q.pop_front();
                q.pop_front();
                (scan, 0)
            }
            0x7f => (0, 0x08),
            b'\n' => (0, u16::from(b'\r')),
            b => (0, u16::from(b)),
        });
    }
    out
}

/// Every sequence the old console decoder knew, with its key.
const OLD_CONSOLE_SEQUENCES: &[(&[u8], Key)] = &[
    (b"\x1b[A", Key::Up),
    (b"\x1b[B", Key::Down),
    (b"\x1b[C", Key::Right),
    (b"\x1b[D", Key::Left),
    (b"\x1b[H", Key::Home),
    (b"\x1b[F", Key::End),
    (b"\x1bOP", Key::F1),
    (b"\x1bOQ", Key::F2),
    (b"\x1bOR", Key::F3),
    (b"\x1bOS", Key::F4),
    (b"\x1b[1~", Key::Home),
    (b"\x1b[2~", Key::Insert),
    (b"\x1b[3~", Key::Delete),
    (b"\x1b[4~", Key::End),
    (b"\x1b[5~", Key::PageUp),
    (b"\x1b[6~", Key::PageDown),
];

#[test]
fn single_bytes_map_as_the_console_always_did() {
    for b in 0..=255u8 {
        if b == ESC {
            continue;
        }
        assert_eq!(efi(&[b]), old_console(&[b]), "byte {b:#04x}");
    }
    assert_eq!(
        keys(b"\r\n\x08\x7f\t"),
        [Key::Enter, Key::Enter, Key::Backspace, Key::Backspace, Key::Char('\t')]
    );
    assert_eq!(keys(&[0xe9]), [Key::Char('é')]);
    assert_eq!(efi(b"\x7f\n\r"), [(0, 0x08), (0, 0x0d), (0, 0x0d)]);
}

#[test]
fn every_old_console_sequence() {
    for &(seq, key) in OLD_CONSOLE_SEQUENCES {
        assert_eq!(keys(seq), [key], "{seq:?}");
        assert_eq!(efi(seq), old_console(seq), "{seq:?}");
        // The same with text around it.
        let mut s = b"a".to_vec();
        s.extend_from_slice(seq);
        s.extend_from_slice(b"b\r");
        assert_eq!(efi(&s), old_console(&s), "{seq:?} in text");
    }
    // Lone ESC, and ESC before a byte that starts no sequence.
    assert_eq!(efi(b"\x1b"), old_console(b"\x1b"));
    assert_eq!(efi(b"\x1bx"), old_console(b"\x1bx"));
    assert_eq!(efi(b"\x1b\x1b"), [(0x17, 0), (0x17, 0)]);
}

#[test]
fn the_menus_keys() {
    // What the boot menu's own decoder handled: arrows, Enter, digits and
    // letters as characters.
    assert_eq!(keys(b"\x1b[A\x1b[B"), [Key::Up, Key::Down]);
    assert_eq!(keys(b"\r\n"), [Key::Enter, Key::Enter]);
    assert_eq!(
        keys(b"ejk19"),
        [Key::Char('e'), Key::Char('j'), Key::Char('k'), Key::Char('1'), Key::Char('9')]
    );
}

#[test]
fn efi_mapping() {
    let table: &[(Key, u16, u16)] = &[
        (Key::Char('a'), 0, 0x61),
        (Key::Char('\u{0}'), 0, 0),
        (Key::Char('\u{ff}'), 0, 0xff),
        (Key::Char('€'), 0, 0x20ac),
        (Key::Char('😀'), 0, 0xfffd),
        (Key::Enter, 0, 0x0d),
        (Key::Backspace, 0, 0x08),
        (Key::Escape, 0x17, 0),
        (Key::Up, 1, 0),
        (Key::Down, 2, 0),
        (Key::Right, 3, 0),
        (Key::Left, 4, 0),
        (Key::Home, 5, 0),
        (Key::End, 6, 0),
        (Key::Insert, 7, 0),
        (Key::Delete, 8, 0),
        (Key::PageUp, 9, 0),
        (Key::PageDown, 0x0a, 0),
        (Key::F1, 0x0b, 0),
        (Key::F2, 0x0c, 0),
        (Key::F3, 0x0d, 0),
        (Key::F4, 0x0e, 0),
        (Key::F5, 0x0f, 0),
        (Key::F6, 0x10, 0),
        (Key::F7, 0x11, 0),
        (Key::F8, 0x12, 0),
        (Key::F9, 0x13, 0),
        (Key::F10, 0x14, 0),
        (Key::F11, 0x15, 0),
        (Key::F12, 0x16, 0),
    ];
    for &(k, scan_code, unicode_char) in table {
        assert_eq!(k.efi(), EfiInputKey { scan_code, unicode_char }, "{k:?}");
    }
    assert_eq!(core::mem::size_of::<EfiInputKey>(), 4);
}

#[test]
fn more_terminals() {
    let cases: &[(&[u8], Key)] = &[
        // Application cursor mode.
        (b"\x1bOA", Key::Up),
        (b"\x1bOB", Key::Down),
        (b"\x1bOC", Key::Right),
        (b"\x1bOD", Key::Left),
        (b"\x1bOH", Key::Home),
        (b"\x1bOF", Key::End),
        // rxvt Home/End, VT220 and xterm function keys.
        (b"\x1b[7~", Key::Home),
        (b"\x1b[8~", Key::End),
        (b"\x1b[11~", Key::F1),
        (b"\x1b[12~", Key::F2),
        (b"\x1b[13~", Key::F3),
        (b"\x1b[14~", Key::F4),
        (b"\x1b[15~", Key::F5),
        (b"\x1b[17~", Key::F6),
        (b"\x1b[18~", Key::F7),
        (b"\x1b[19~", Key::F8),
        (b"\x1b[20~", Key::F9),
        (b"\x1b[21~", Key::F10),
        (b"\x1b[23~", Key::F11),
        (b"\x1b[24~", Key::F12),
        // Linux console.
        (b"\x1b[[A", Key::F1),
        (b"\x1b[[B", Key::F2),
        (b"\x1b[[C", Key::F3),
        (b"\x1b[[D", Key::F4),
        (b"\x1b[[E", Key::F5),
        // Modifiers are dropped; leading zeros are fine.
        (b"\x1b[1;5A", Key::Up),
        (b"\x1b[1;2D", Key::Left),
        (b"\x1b[1;5P", Key::F1),
        (b"\x1b[3;5~", Key::Delete),
        (b"\x1b[15;2~", Key::F5),
        (b"\x1b[005~", Key::PageUp),
        (b"\x1b[;5B", Key::Down),
    ];
    for &(seq, key) in cases {
        assert_eq!(decode(seq), [Event::Key(key)], "{seq:?}");
    }
}

fn unknown(bytes: &[u8]) -> Event {
    let mut s = Sequence::EMPTY;
    for &b in bytes {
        s.push(b);
    }
    Event::Unknown(s)
}

#[test]
fn unknown_sequences_are_consumed_whole() {
    for seq in [
        &b"\x1b[Z"[..],        // Shift+Tab
        b"\x1b[99~",           // no such key
        b"\x1b[2A",            // a count before a cursor key
        b"\x1b[?1~",           // private marker
        b"\x1b[1 ~",           // intermediate
        b"\x1b[70000~",        // number overflow
        b"\x1bOx",             // SS3 with an unknown final
        b"\x1b[[Z",            // Linux console, unknown
        b"\x1b[1:5A",          // colon sub-parameters
        b"\x1b[100000000000~", // many digits, under the bound
    ] {
        assert_eq!(decode(seq), [unknown(seq)], "{seq:?}");
        // Text after it decodes normally.
        let mut s = seq.to_vec();
        s.push(b'z');
        assert_eq!(decode(&s), [unknown(seq), Event::Key(Key::Char('z'))], "{seq:?}");
    }
}

#[test]
fn long_sequences_are_bounded() {
    let mut s = b"\x1b[".to_vec();
    s.extend(std::iter::repeat_n(b'1', 1000));
    s.extend_from_slice(b"~x");
    let ev = decode(&s);
    assert_eq!(ev.len(), 2);
    let Event::Unknown(seq) = ev[0] else { panic!("{ev:?}") };
    assert!(seq.is_truncated());
    assert_eq!(seq.as_bytes(), &s[..MAX_SEQUENCE]);
    assert_eq!(ev[1], Event::Key(Key::Char('x')));
    // A sequence of exactly MAX_SEQUENCE bytes is not truncated.
    let mut s = b"\x1b[".to_vec();
    s.extend(std::iter::repeat_n(b'0', MAX_SEQUENCE - 4));
    s.extend_from_slice(b"3~");
    assert_eq!(s.len(), MAX_SEQUENCE);
    assert_eq!(decode(&s), [Event::Key(Key::Delete)]);
    s.insert(2, b'0');
    let ev = decode(&s);
    assert!(matches!(ev[..], [Event::Unknown(q)] if q.is_truncated()));
}

#[test]
fn interrupted_sequences() {
    // A control byte ends the sequence as unknown and is a key itself.
    assert_eq!(decode(b"\x1b[\r"), [unknown(b"\x1b["), Event::Key(Key::Enter)]);
    assert_eq!(decode(b"\x1b[1\x7f"), [unknown(b"\x1b[1"), Event::Key(Key::Backspace)]);
    assert_eq!(decode(b"\x1bO\x80"), [unknown(b"\x1bO"), Event::Key(Key::Char('\u{80}'))]);
    assert_eq!(decode(b"\x1b[[\t"), [unknown(b"\x1b[["), Event::Key(Key::Char('\t'))]);
    // ESC inside a sequence starts a new one.
    assert_eq!(decode(b"\x1b[1\x1b[A"), [unknown(b"\x1b[1"), Event::Key(Key::Up)]);
    assert_eq!(decode(b"\x1b[\x1b"), [unknown(b"\x1b["), Event::Key(Key::Escape)]);
    // ESC before a byte that starts no sequence.
    assert_eq!(decode(b"\x1bx"), [Event::Key(Key::Escape), Event::Key(Key::Char('x'))]);
    assert_eq!(decode(b"\x1b\r"), [Event::Key(Key::Escape), Event::Key(Key::Enter)]);
    assert_eq!(decode(b"\x1b\x1b[B"), [Event::Key(Key::Escape), Event::Key(Key::Down)]);
}

#[test]
fn pending_and_flush() {
    let mut d = Decoder::new();
    assert_eq!(d.flush(), None);
    assert_eq!(d.push(ESC).count(), 0);
    assert!(d.pending());
    assert_eq!(d.flush(), Some(Event::Key(Key::Escape)));
    assert!(!d.pending());
    assert_eq!(d.flush(), None);
    // A partial sequence flushes as unknown.
    for part in [&b"\x1b["[..], b"\x1bO", b"\x1b[1;", b"\x1b[["] {
        for &b in part {
            assert_eq!(d.push(b).count(), 0);
            assert!(d.pending());
        }
        assert_eq!(d.flush(), Some(unknown(part)), "{part:?}");
    }
    // A byte at a time, the sequence completes on its final byte.
    for &b in b"\x1b[2" {
        assert_eq!(d.push(b).len(), 0);
    }
    let mut ev = d.push(b'~');
    assert_eq!(ev.len(), 1);
    assert_eq!(ev.next(), Some(Event::Key(Key::Insert)));
    assert_eq!(ev.next(), None);
    // Reset drops a partial sequence.
    let _ = d.push(ESC);
    d.reset();
    assert!(!d.pending());
    assert_eq!(d.push(b'A').collect::<Vec<_>>(), [Event::Key(Key::Char('A'))]);
    // Two events from one byte, in input order.
    let _ = d.push(ESC);
    let ev: Vec<_> = d.push(b'q').collect();
    assert_eq!(ev, [Event::Key(Key::Escape), Event::Key(Key::Char('q'))]);
}

#[test]
fn arbitrary_input_never_panics_and_stays_bounded() {
    // A cheap deterministic sweep; the fuzz target does the thorough job.
    let mut x = 0x1234_5678u32;
    for _ in 0..2000 {
        let mut d = Decoder::new();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Mostly sequence bytes, with ESC often.
            let b = match x % 8 {
                0 | 1 => ESC,
                2 => b'[',
                3 => b'0' + (x >> 8) as u8 % 10,
                4 => b';',
                _ => (x >> 16) as u8,
            };
            let ev = d.push(b);
            assert!(ev.len() <= 2);
            for e in ev {
                if let Event::Unknown(s) = e {
                    assert!(s.as_bytes().len() <= MAX_SEQUENCE);
                    assert_eq!(s.as_bytes().first(), Some(&ESC));
                }
            }
        }
        let _ = d.flush();
        assert!(!d.pending());
    }
}
