//! Keys from a serial terminal: one streaming decoder that turns the bytes a
//! terminal sends into [`Key`]s, for the boot menu and the UEFI console
//! alike, and the mapping of a key to UEFI's `EFI_INPUT_KEY`.
//!
//! A terminal sends a character key as its byte and the cursor, editing and
//! function keys as escape sequences: `ESC [` (CSI) or `ESC O` (SS3) and
//! then parameters and a final byte. The grammar is ECMA-48 §5.4 (control
//! sequences); the key assignments are those of the VT100/VT220 and xterm,
//! which terminal emulators speak, plus the Linux console's `ESC [ [ A` to
//! `ESC [ [ E` for F1 to F5. Modifier parameters (`ESC [ 1 ; 5 A`, Ctrl+Up)
//! are accepted and dropped: a serial line reports no shift state.
//!
//! [`Decoder::push`] takes one byte and returns what it completed; it never
//! blocks and never reads a clock. A lone Escape key and the start of a
//! sequence look the same until the next byte arrives, so a caller that
//! sees [`Decoder::pending`] waits a few milliseconds for more bytes (a
//! terminal sends a whole sequence at once) and then calls
//! [`Decoder::flush`], which decodes a lone `ESC` as [`Key::Escape`].
//!
//! Invariants: nothing here panics on any input; memory is fixed (a
//! sequence keeps at most [`MAX_SEQUENCE`] bytes: a longer one is consumed
//! up to its final byte and reported as a truncated [`Event::Unknown`]);
//! every byte fed ends up in exactly one event. A sequence this decoder
//! does not know is consumed whole and reported, never turned into stray
//! characters, and a byte that cannot continue a sequence (a control
//! character, say) ends it as unknown and is then decoded on its own.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
mod tests;

/// The most bytes of one escape sequence (`ESC` included) that the decoder
/// keeps; the key sequences it knows are at most 8 bytes long.
pub const MAX_SEQUENCE: usize = 16;

const ESC: u8 = 0x1b;

/// A key, as far as a serial terminal can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A character: each byte that starts no escape sequence and is none of
    /// the keys below, as its Latin-1 code point (`U+0000..=U+00FF`; the
    /// console has always passed bytes on this way). Control characters
    /// such as Tab (`'\t'`) or Ctrl+C (`'\u{3}'`) are characters too.
    Char(char),
    /// Carriage return (`0x0d`) or line feed (`0x0a`): terminals send
    /// either for the Enter key.
    Enter,
    /// Backspace (`0x08`) or DEL (`0x7f`): terminals send either for the
    /// Backspace key.
    Backspace,
    /// A lone `ESC`, decoded by [`Decoder::flush`] or when the next byte
    /// cannot continue a sequence.
    Escape,
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Cursor right.
    Right,
    /// Cursor left.
    Left,
    /// Home.
    Home,
    /// End.
    End,
    /// Insert.
    Insert,
    /// Delete (the key; DEL the byte is [`Key::Backspace`]).
    Delete,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Function key F1.
    F1,
    /// Function key F2.
    F2,
    /// Function key F3.
    F3,
    /// Function key F4.
    F4,
    /// Function key F5.
    F5,
    /// Function key F6.
    F6,
    /// Function key F7.
    F7,
    /// Function key F8.
    F8,
    /// Function key F9.
    F9,
    /// Function key F10.
    F10,
    /// Function key F11.
    F11,
    /// Function key F12.
    F12,
}

/// UEFI scan codes (UEFI 2.10 §12.3, table "EFI Scan Codes for
/// EFI_SIMPLE_TEXT_INPUT_PROTOCOL").
pub mod scan {
    /// No scan code: the key is in `UnicodeChar`.
    pub const NULL: u16 = 0x00;
    /// Cursor up.
    pub const UP: u16 = 0x01;
    /// Cursor down.
    pub const DOWN: u16 = 0x02;
    /// Cursor right.
    pub const RIGHT: u16 = 0x03;
    /// Cursor left.
    pub const LEFT: u16 = 0x04;
    /// Home.
    pub const HOME: u16 = 0x05;
    /// End.
    pub const END: u16 = 0x06;
    /// Insert.
    pub const INSERT: u16 = 0x07;
    /// Delete.
    pub const DELETE: u16 = 0x08;
    /// Page up.
    pub const PAGE_UP: u16 = 0x09;
    /// Page down.
    pub const PAGE_DOWN: u16 = 0x0a;
    /// F1; F2 to F10 follow in order (`0x0c..=0x14`).
    pub const F1: u16 = 0x0b;
    /// F11.
    pub const F11: u16 = 0x15;
    /// F12.
    pub const F12: u16 = 0x16;
    /// Escape.
    pub const ESC: u16 = 0x17;
}

/// `EFI_INPUT_KEY` (UEFI 2.10 §12.3), laid out as UEFI lays it out, so a
/// console can write it straight into a caller's buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EfiInputKey {
    /// `ScanCode`: one of [`scan`], [`scan::NULL`] for a character.
    pub scan_code: u16,
    /// `UnicodeChar`: the character (UTF-16), 0 for a scan-code key.
    pub unicode_char: u16,
}

impl Key {
    /// The key as UEFI reports it from `ReadKeyStroke()`: characters in
    /// `UnicodeChar` (Enter as carriage return `0x0d`, Backspace as
    /// `0x08`), everything else as a scan code.
    pub fn efi(self) -> EfiInputKey {
        let (scan_code, unicode_char) = match self {
            // Latin-1 always fits; U+FFFD for anything beyond the BMP.
            Key::Char(c) => (scan::NULL, u16::try_from(u32::from(c)).unwrap_or(0xfffd)),
            Key::Enter => (scan::NULL, 0x0d),
            Key::Backspace => (scan::NULL, 0x08),
            Key::Escape => (scan::ESC, 0),
            Key::Up => (scan::UP, 0),
            Key::Down => (scan::DOWN, 0),
            Key::Right => (scan::RIGHT, 0),
            Key::Left => (scan::LEFT, 0),
            Key::Home => (scan::HOME, 0),
            Key::End => (scan::END, 0),
            Key::Insert => (scan::INSERT, 0),
            Key::Delete => (scan::DELETE, 0),
            Key::PageUp => (scan::PAGE_UP, 0),
            Key::PageDown => (scan::PAGE_DOWN, 0),
            Key::F1 => (scan::F1, 0),
            Key::F2 => (0x0c, 0),
            Key::F3 => (0x0d, 0),
            Key::F4 => (0x0e, 0),
            Key::F5 => (0x0f, 0),
            Key::F6 => (0x10, 0),
            Key::F7 => (0x11, 0),
            Key::F8 => (0x12, 0),
            Key::F9 => (0x13, 0),
            Key::F10 => (0x14, 0),
            Key::F11 => (scan::F11, 0),
            Key::F12 => (scan::F12, 0),
        };
        EfiInputKey { scan_code, unicode_char }
    }
}

/// The bytes of one escape sequence (`ESC` first), at most
/// [`MAX_SEQUENCE`] of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    bytes: [u8; MAX_SEQUENCE],
    len: usize,
    truncated: bool,
}

impl Sequence {
    const EMPTY: Sequence = Sequence { bytes: [0; MAX_SEQUENCE], len: 0, truncated: false };

    /// The bytes kept: all of the sequence, or its first [`MAX_SEQUENCE`]
    /// bytes when [`Sequence::is_truncated`].
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// True when the sequence was longer than [`MAX_SEQUENCE`] bytes.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    fn push(&mut self, byte: u8) {
        match self.bytes.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len = self.len.saturating_add(1);
            }
            None => self.truncated = true,
        }
    }
}

/// What [`Decoder::push`] or [`Decoder::flush`] completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A key.
    Key(Key),
    /// An escape sequence the decoder does not know, consumed whole: no
    /// key. Worth a debug log line at most.
    Unknown(Sequence),
}

impl Event {
    /// The key, if the event is one.
    pub fn key(self) -> Option<Key> {
        match self {
            Event::Key(k) => Some(k),
            Event::Unknown(_) => None,
        }
    }
}

/// The events one byte completed: none, one, or two (an interrupted
/// sequence, then the byte that interrupted it), in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    first: Option<Event>,
    second: Option<Event>,
}

impl Events {
    const NONE: Events = Events { first: None, second: None };

    fn one(e: Option<Event>) -> Self {
        Events { first: e, second: None }
    }
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.first.take().or_else(|| self.second.take())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n =
            usize::from(self.first.is_some()).saturating_add(usize::from(self.second.is_some()));
        (n, Some(n))
    }
}

impl ExactSizeIterator for Events {}

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between keys.
    Ground,
    /// After `ESC`.
    Escape,
    /// After `ESC [`, in parameters and intermediates.
    Csi,
    /// After `ESC O`: one final byte follows.
    Ss3,
    /// After `ESC [ [` (Linux console F1 to F5): one final byte follows.
    LinuxFn,
}

/// The streaming decoder: feed it bytes with [`Decoder::push`], and call
/// [`Decoder::flush`] when [`Decoder::pending`] and no byte came for a
/// while. See the crate docs.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    seq: Sequence,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder between keys.
    pub const fn new() -> Self {
        Decoder { state: State::Ground, seq: Sequence::EMPTY }
    }

    /// True in the middle of an escape sequence (or after a lone `ESC`):
    /// wait briefly for more bytes, then [`Decoder::flush`].
    pub fn pending(&self) -> bool {
        self.state != State::Ground
    }

    /// Forgets a partial sequence (for a console reset).
    pub fn reset(&mut self) {
        self.state = State::Ground;
        self.seq = Sequence::EMPTY;
    }

    /// Ends a partial sequence because no more bytes came: a lone `ESC` is
    /// [`Key::Escape`], anything longer an [`Event::Unknown`]. `None` when
    /// nothing was pending.
    pub fn flush(&mut self) -> Option<Event> {
        let e = match self.state {
            State::Ground => None,
            State::Escape => Some(Event::Key(Key::Escape)),
            State::Csi | State::Ss3 | State::LinuxFn => Some(Event::Unknown(self.seq)),
        };
        self.reset();
        e
    }

    /// Feeds one byte; returns the events it completed (see [`Events`]).
    pub fn push(&mut self, byte: u8) -> Events {
        match self.state {
            State::Ground => Events::one(self.ground(byte)),
            State::Escape => match byte {
                b'[' => self.go(State::Csi, byte),
                b'O' => self.go(State::Ss3, byte),
                // Not a sequence: the ESC was the Escape key (or Alt, which
                // a serial console cannot report), and the byte is a key of
                // its own.
                _ => {
                    self.reset();
                    Events { first: Some(Event::Key(Key::Escape)), second: self.ground(byte) }
                }
            },
            State::Csi => match byte {
                b'[' if self.seq.len == 2 => self.go(State::LinuxFn, byte),
                // Parameter and intermediate bytes.
                0x20..=0x3f => self.go(State::Csi, byte),
                0x40..=0x7e => {
                    self.seq.push(byte);
                    let key = csi_key(&self.seq);
                    self.finish(key)
                }
                _ => self.interrupt(byte),
            },
            State::Ss3 | State::LinuxFn => match byte {
                0x20..=0x7e => {
                    self.seq.push(byte);
                    let key = if self.state == State::Ss3 { ss3_key(byte) } else { linux_fn(byte) };
                    self.finish(key)
                }
                _ => self.interrupt(byte),
            },
        }
    }

    /// A byte outside any sequence.
    fn ground(&mut self, byte: u8) -> Option<Event> {
        let key = match byte {
            ESC => {
                self.state = State::Escape;
                self.seq = Sequence::EMPTY;
                self.seq.push(ESC);
                return None;
            }
            b'\r' | b'\n' => Key::Enter,
            0x08 | 0x7f => Key::Backspace,
            b => Key::Char(char::from(b)),
        };
        Some(Event::Key(key))
    }

    /// Keeps `byte` as part of the sequence and moves to `state`.
    fn go(&mut self, state: State, byte: u8) -> Events {
        self.seq.push(byte);
        self.state = state;
        Events::NONE
    }

    /// The sequence is complete: its key, or unknown.
    fn finish(&mut self, key: Option<Key>) -> Events {
        let e = match key {
            Some(k) if !self.seq.truncated => Event::Key(k),
            _ => Event::Unknown(self.seq),
        };
        self.reset();
        Events::one(Some(e))
    }

    /// `byte` cannot continue the sequence: the sequence so far is
    /// unknown, and the byte is decoded afresh.
    fn interrupt(&mut self, byte: u8) -> Events {
        let unknown = Event::Unknown(self.seq);
        self.reset();
        Events { first: Some(unknown), second: self.ground(byte) }
    }
}

/// The cursor keys shared by CSI and SS3 (`A` to `D`, `H`, `F`) and SS3's
/// F1 to F4 (`P` to `S`).
fn ss3_key(fin: u8) -> Option<Key> {
    Some(match fin {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        b'H' => Key::Home,
        b'F' => Key::End,
        b'P' => Key::F1,
        b'Q' => Key::F2,
        b'R' => Key::F3,
        b'S' => Key::F4,
        _ => return None,
    })
}

/// The Linux console's `ESC [ [ A` to `ESC [ [ E`.
fn linux_fn(fin: u8) -> Option<Key> {
    Some(match fin {
        b'A' => Key::F1,
        b'B' => Key::F2,
        b'C' => Key::F3,
        b'D' => Key::F4,
        b'E' => Key::F5,
        _ => return None,
    })
}

/// The key of a complete CSI sequence `ESC [ params final`: parameters are
/// decimal numbers separated by `;`, the first says which key (for `~`),
/// the others are modifiers and are dropped.
fn csi_key(seq: &Sequence) -> Option<Key> {
    let (&fin, rest) = seq.as_bytes().split_last()?;
    let params = rest.get(2..)?;
    if !params.iter().all(|b| b.is_ascii_digit() || *b == b';') {
        // Private markers (`?`, `<`...) and intermediates: no key.
        return None;
    }
    let first = params.split(|b| *b == b';').next().unwrap_or(&[]);
    let n = if first.is_empty() { None } else { Some(number(first)?) };
    match fin {
        b'A'..=b'D' | b'H' | b'F' | b'P'..=b'S' if matches!(n, None | Some(1)) => ss3_key(fin),
        b'~' => tilde_key(n?),
        _ => None,
    }
}

/// A decimal parameter; `None` past `u16::MAX` (no key has one).
fn number(digits: &[u8]) -> Option<u16> {
    digits
        .iter()
        .try_fold(0u16, |n, d| n.checked_mul(10)?.checked_add(u16::from(d.checked_sub(b'0')?)))
}

/// `ESC [ n ~`: VT220 editing keys and function keys (rxvt's Home and
/// End at 7 and 8).
fn tilde_key(n: u16) -> Option<Key> {
    Some(match n {
        1 | 7 => Key::Home,
        2 => Key::Insert,
        3 => Key::Delete,
        4 | 8 => Key::End,
        5 => Key::PageUp,
        6 => Key::PageDown,
        11 => Key::F1,
        12 => Key::F2,
        13 => Key::F3,
        14 => Key::F4,
        15 => Key::F5,
        17 => Key::F6,
        18 => Key::F7,
        19 => Key::F8,
        20 => Key::F9,
        21 => Key::F10,
        23 => Key::F11,
        24 => Key::F12,
        _ => return None,
    })
}
