//! `vmfw_keys::Decoder` on arbitrary terminal input: no panic, at most two
//! events per byte, unknown sequences bounded and starting with ESC,
//! nothing pending after a flush, and input without ESC decoded one key
//! per byte exactly as a lone byte is.
//!
//! Input: `every: u8` (flush after every `every`-th byte, as a caller whose
//! escape timeout expired would; 0: only at the end), then the bytes fed
//! to the decoder. Seeds in `seeds/keys/` hold every sequence the decoder
//! knows, text around them, and unknown, interrupted and over-long
//! sequences.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmfw_keys::{Decoder, Event, Key, MAX_SEQUENCE};

const ESC: u8 = 0x1b;

/// The key a byte outside any sequence is.
fn lone(b: u8) -> Key {
    match b {
        b'\r' | b'\n' => Key::Enter,
        0x08 | 0x7f => Key::Backspace,
        _ => Key::Char(char::from(b)),
    }
}

fn check(e: &Event) {
    match e {
        Event::Key(k) => {
            let efi = k.efi();
            // A key is a character or a scan code, never both.
            assert!(efi.scan_code == 0 || efi.unicode_char == 0, "{k:?}");
            if let Key::Char(c) = k {
                assert!(u32::from(*c) <= 0xff, "{k:?}");
            }
        }
        Event::Unknown(s) => {
            let b = s.as_bytes();
            assert_eq!(b.first(), Some(&ESC), "{s:?}");
            assert!(b.len() >= 2 && b.len() <= MAX_SEQUENCE, "{s:?}");
            assert!(!s.is_truncated() || b.len() == MAX_SEQUENCE, "{s:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [every, input @ ..] = data else { return };
    let every = usize::from(*every);
    let mut d = Decoder::new();
    let mut events = Vec::new();
    for (i, &b) in input.iter().enumerate() {
        let ev = d.push(b);
        assert!(ev.len() <= 2);
        events.extend(ev);
        if every != 0 && (i + 1) % every == 0 {
            events.extend(d.flush());
            assert!(!d.pending());
        }
    }
    events.extend(d.flush());
    assert!(!d.pending());
    assert_eq!(d.flush(), None);
    // Each byte is in exactly one event, and a sequence is at least two
    // bytes unless it is a lone ESC.
    assert!(events.len() <= input.len());
    events.iter().for_each(check);
    if !input.contains(&ESC) {
        let want: Vec<Event> = input.iter().map(|&b| Event::Key(lone(b))).collect();
        assert_eq!(events, want);
    }
});
