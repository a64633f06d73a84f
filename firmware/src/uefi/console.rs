//! The serial console as UEFI text protocols (UEFI §12.3, §12.4): Simple
//! Text Output (UTF-16 to UTF-8, cursor and screen control as ANSI
//! escapes, one 80x25 mode), Simple Text Input and Simple Text Input Ex
//! (bytes and ANSI escape sequences to UEFI keys).

use super::abi::guid;
use super::boot::{err, out, status, Efi, CORE};
use super::global::{Global, Shared};
use crate::{arch, console, time};
use alloc::collections::VecDeque;
use alloc::string::String;
use core::num::NonZeroUsize;
use vmfw_efi::handles::Handle;
use vmfw_efi::{Error, EventId};

/// `SIMPLE_TEXT_OUTPUT_MODE`.
#[repr(C)]
struct Mode {
    max_mode: i32,
    mode: i32,
    attribute: i32,
    cursor_column: i32,
    cursor_row: i32,
    cursor_visible: bool,
}

/// `EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL`.
#[repr(C)]
struct TextOut {
    reset: usize,
    output_string: usize,
    test_string: usize,
    query_mode: usize,
    set_mode: usize,
    set_attribute: usize,
    clear_screen: usize,
    set_cursor_position: usize,
    enable_cursor: usize,
    mode: *mut Mode,
}

/// `EFI_SIMPLE_TEXT_INPUT_PROTOCOL`.
#[repr(C)]
struct TextIn {
    reset: usize,
    read_key_stroke: usize,
    wait_for_key: usize,
}

/// `EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL`.
#[repr(C)]
struct TextInEx {
    reset: usize,
    read_key_stroke_ex: usize,
    wait_for_key_ex: usize,
    set_state: usize,
    register_key_notify: usize,
    unregister_key_notify: usize,
}

const COLUMNS: i32 = 80;
const ROWS: i32 = 25;

static MODE: Shared<Mode> = Shared::new(Mode {
    max_mode: 1,
    mode: 0,
    attribute: 0x07,
    cursor_column: 0,
    cursor_row: 0,
    cursor_visible: true,
});

static OUT: Shared<TextOut> = Shared::new(TextOut {
    reset: 0,
    output_string: 0,
    test_string: 0,
    query_mode: 0,
    set_mode: 0,
    set_attribute: 0,
    clear_screen: 0,
    set_cursor_position: 0,
    enable_cursor: 0,
    mode: core::ptr::null_mut(),
});

static IN: Shared<TextIn> = Shared::new(TextIn { reset: 0, read_key_stroke: 0, wait_for_key: 0 });

static IN_EX: Shared<TextInEx> = Shared::new(TextInEx {
    reset: 0,
    read_key_stroke_ex: 0,
    wait_for_key_ex: 0,
    set_state: 0,
    register_key_notify: 0,
    unregister_key_notify: 0,
});

/// Bytes received and not yet turned into keys, and the key events.
struct Input {
    bytes: VecDeque<u8>,
    wait: EventId,
    wait_ex: EventId,
}

static INPUT: Global<Input> = Global::new();

/// The console handles for the system table: (in, out).
pub struct Handles {
    pub con_in: Handle,
    pub con_out: Handle,
    pub con_in_if: u64,
    pub con_out_if: u64,
}

/// Fills the protocols and installs them on two handles.
pub fn init() -> Result<Handles, Error> {
    let (wait, wait_ex) = CORE.with(|c| -> Result<_, Error> {
        Ok((
            c.events.create_event(0, 0, None, 0, None)?,
            c.events.create_event(0, 0, None, 0, None)?,
        ))
    })?;
    INPUT.set(Input { bytes: VecDeque::new(), wait, wait_ex });
    // SAFETY: the interfaces are only written here, before guest code runs.
    unsafe {
        let o = OUT.get();
        (*o).reset = out_reset as *const () as usize;
        (*o).output_string = output_string as *const () as usize;
        (*o).test_string = test_string as *const () as usize;
        (*o).query_mode = query_mode as *const () as usize;
        (*o).set_mode = set_mode as *const () as usize;
        (*o).set_attribute = set_attribute as *const () as usize;
        (*o).clear_screen = clear_screen as *const () as usize;
        (*o).set_cursor_position = set_cursor_position as *const () as usize;
        (*o).enable_cursor = enable_cursor as *const () as usize;
        (*o).mode = MODE.get();
        let i = IN.get();
        (*i).reset = in_reset as *const () as usize;
        (*i).read_key_stroke = read_key_stroke as *const () as usize;
        (*i).wait_for_key = wait.0.get();
        let x = IN_EX.get();
        (*x).reset = in_reset as *const () as usize;
        (*x).read_key_stroke_ex = read_key_stroke_ex as *const () as usize;
        (*x).wait_for_key_ex = wait_ex.0.get();
        (*x).set_state = set_state as *const () as usize;
        (*x).register_key_notify = register_key_notify as *const () as usize;
        (*x).unregister_key_notify = unregister_key_notify as *const () as usize;
    }
    CORE.with(|c| {
        let con_in = c.db.install_multiple_protocol_interfaces(
            None,
            &[(guid::SIMPLE_TEXT_INPUT, IN.addr()), (guid::SIMPLE_TEXT_INPUT_EX, IN_EX.addr())],
            |_, _| false,
        )?;
        let con_out =
            c.db.install_protocol_interface(None, guid::SIMPLE_TEXT_OUTPUT, OUT.addr())?;
        Ok(Handles { con_in, con_out, con_in_if: IN.addr(), con_out_if: OUT.addr() })
    })
}

// ---------------------------------------------------------------------
// Output.

fn emit(s: &str) {
    console::write_str(s);
}

/// The character to print for a UTF-16 unit: box-drawing and block
/// characters (which UEFI menus use) become ASCII.
fn printable(u: u16) -> Option<char> {
    match u {
        0x2500 | 0x2550 => Some('-'),
        0x2502 | 0x2551 => Some('|'),
        0x250c | 0x2510 | 0x2514 | 0x2518 | 0x251c | 0x2524 | 0x252c | 0x2534 | 0x253c => Some('+'),
        0x2554..=0x256c => Some('+'),
        0x2580..=0x259f => Some('#'),
        0x25b2 | 0x25ba | 0x25bc | 0x25c4 => Some('>'),
        _ => char::from_u32(u32::from(u)),
    }
}

extern "efiapi" fn output_string(_this: *const TextOut, s: *const u16) -> Efi {
    if s.is_null() {
        return err(Error::InvalidParameter);
    }
    let mut text = String::new();
    // SAFETY: the caller's NUL-terminated UTF-16 string; reading stops at
    // the NUL (or after 64 Ki units, which no console line approaches).
    let mode = unsafe { &mut *MODE.get() };
    for i in 0..65536 {
        // SAFETY: see above: inside the caller's string.
        let u = unsafe { s.add(i).read_unaligned() };
        if u == 0 {
            break;
        }
        match u {
            0x0d => mode.cursor_column = 0,
            0x0a => mode.cursor_row = (mode.cursor_row + 1).min(ROWS - 1),
            0x08 => mode.cursor_column = (mode.cursor_column - 1).max(0),
            _ => mode.cursor_column = (mode.cursor_column + 1).min(COLUMNS - 1),
        }
        if u == 0x0a {
            // write_str turns "\n" into "\r\n"; UEFI strings carry their
            // own "\r".
            text.push('\n');
            continue;
        }
        if u == 0x0d {
            continue;
        }
        if let Some(c) = printable(u) {
            text.push(c);
        }
    }
    emit(&text);
    0
}

extern "efiapi" fn test_string(_this: *const TextOut, s: *const u16) -> Efi {
    if s.is_null() {
        return err(Error::InvalidParameter);
    }
    0
}

extern "efiapi" fn out_reset(this: *const TextOut, _extended: bool) -> Efi {
    set_attribute(this, 0x07);
    clear_screen(this)
}

extern "efiapi" fn query_mode(
    _this: *const TextOut,
    mode: usize,
    columns: *mut usize,
    rows: *mut usize,
) -> Efi {
    if mode != 0 {
        return err(Error::Unsupported);
    }
    status(out(columns, COLUMNS as usize).and_then(|()| out(rows, ROWS as usize)))
}

extern "efiapi" fn set_mode(this: *const TextOut, mode: usize) -> Efi {
    if mode != 0 {
        return err(Error::Unsupported);
    }
    clear_screen(this)
}

extern "efiapi" fn set_attribute(_this: *const TextOut, attribute: usize) -> Efi {
    if attribute > 0x7f {
        return err(Error::Unsupported);
    }
    // SAFETY: the firmware's mode structure (see `output_string`).
    unsafe { (*MODE.get()).attribute = attribute as i32 };
    // Foreground and background as ANSI colours (UEFI and ANSI number the
    // eight basic colours in opposite bit orders).
    const ANSI: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    let fg = attribute & 0x0f;
    let bg = (attribute >> 4) & 0x07;
    let bold = if fg & 0x08 != 0 { "1" } else { "22" };
    let s = alloc::format!("\x1b[{bold};{};{}m", 30 + ANSI[fg & 7], 40 + ANSI[bg]);
    emit(&s);
    0
}

extern "efiapi" fn clear_screen(_this: *const TextOut) -> Efi {
    emit("\x1b[2J\x1b[H");
    // SAFETY: the firmware's mode structure (see `output_string`).
    unsafe {
        (*MODE.get()).cursor_column = 0;
        (*MODE.get()).cursor_row = 0;
    }
    0
}

extern "efiapi" fn set_cursor_position(_this: *const TextOut, column: usize, row: usize) -> Efi {
    if column >= COLUMNS as usize || row >= ROWS as usize {
        return err(Error::Unsupported);
    }
    emit(&alloc::format!("\x1b[{};{}H", row + 1, column + 1));
    // SAFETY: the firmware's mode structure (see `output_string`).
    unsafe {
        (*MODE.get()).cursor_column = column as i32;
        (*MODE.get()).cursor_row = row as i32;
    }
    0
}

extern "efiapi" fn enable_cursor(_this: *const TextOut, visible: bool) -> Efi {
    emit(if visible { "\x1b[?25h" } else { "\x1b[?25l" });
    // SAFETY: the firmware's mode structure (see `output_string`).
    unsafe { (*MODE.get()).cursor_visible = visible };
    0
}

// ---------------------------------------------------------------------
// Input.

/// Moves received bytes into the input buffer and signals the key events
/// while keys are waiting. Called whenever the firmware polls.
pub fn poll_input() {
    let Some(events) = INPUT.try_with(|i| {
        drain(i);
        (!i.bytes.is_empty()).then_some((i.wait, i.wait_ex))
    }) else {
        return;
    };
    if let Some((a, b)) = events {
        CORE.with(|c| {
            let _ = c.events.signal_event(a);
            let _ = c.events.signal_event(b);
        });
    }
}

/// Moves every byte the UART holds into the buffer (at most 256 kept;
/// more is typing nobody reads).
fn drain(i: &mut Input) {
    while let Some(b) = console::try_read() {
        if i.bytes.len() < 256 {
            i.bytes.push_back(b);
        }
    }
}

/// `EFI_INPUT_KEY`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Key {
    scan_code: u16,
    unicode_char: u16,
}

/// Waits a few milliseconds for the rest of an escape sequence.
fn more_bytes(want: usize) {
    let deadline = arch::rdtsc() + time::tsc_hz() / 200;
    while arch::rdtsc() < deadline {
        let have = INPUT.with(|i| {
            drain(i);
            i.bytes.len()
        });
        if have >= want {
            return;
        }
    }
}

fn next_key() -> Option<Key> {
    poll_input();
    let first = INPUT.with(|i| i.bytes.front().copied())?;
    if first == 0x1b {
        more_bytes(3);
    }
    INPUT.with(|i| {
        let b = i.bytes.pop_front()?;
        let key = |scan: u16, ch: u16| Some(Key { scan_code: scan, unicode_char: ch });
        match b {
            0x1b => {
                let (Some(&b1), Some(&b2)) = (i.bytes.front(), i.bytes.get(1)) else {
                    return key(0x17, 0); // Escape
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
                    (b'[', d @ b'1'..=b'6') if i.bytes.get(2) == Some(&b'~') => {
                        i.bytes.pop_front();
                        match d {
                            b'1' => 5,
                            b'2' => 7,
                            b'3' => 8,
                            b'4' => 6,
                            b'5' => 9,
                            _ => 0x0a,
                        }
                    }
                    _ => return key(0x17, 0),
                };
                i.bytes.pop_front();
                i.bytes.pop_front();
                key(scan, 0)
            }
            0x7f => key(0, 0x08),
            b'\n' => key(0, u16::from(b'\r')),
            b => key(0, u16::from(b)),
        }
    })
}

extern "efiapi" fn in_reset(_this: *const u8, _extended: bool) -> Efi {
    INPUT.with(|i| i.bytes.clear());
    0
}

extern "efiapi" fn read_key_stroke(_this: *const TextIn, key: *mut Key) -> Efi {
    if key.is_null() {
        return err(Error::InvalidParameter);
    }
    match next_key() {
        Some(k) => status(out(key, k)),
        None => err(Error::NotReady),
    }
}

/// `EFI_KEY_DATA`.
#[repr(C)]
#[derive(Clone, Copy)]
struct KeyData {
    key: Key,
    shift_state: u32,
    toggle_state: u8,
}

extern "efiapi" fn read_key_stroke_ex(_this: *const TextInEx, data: *mut KeyData) -> Efi {
    if data.is_null() {
        return err(Error::InvalidParameter);
    }
    match next_key() {
        // Shift and toggle state are not known on a serial line: report
        // them as invalid (no EFI_SHIFT_STATE_VALID / EFI_TOGGLE_STATE_VALID).
        Some(k) => status(out(data, KeyData { key: k, shift_state: 0, toggle_state: 0 })),
        None => err(Error::NotReady),
    }
}

extern "efiapi" fn set_state(_this: *const TextInEx, state: *const u8) -> Efi {
    if state.is_null() {
        return err(Error::InvalidParameter);
    }
    // A serial line has no toggle keys to set.
    err(Error::Unsupported)
}

extern "efiapi" fn register_key_notify(
    _this: *const TextInEx,
    data: *const KeyData,
    function: usize,
    handle: *mut usize,
) -> Efi {
    if data.is_null() || function == 0 || handle.is_null() {
        return err(Error::InvalidParameter);
    }
    // Key notifications would need input interrupts; vmfw polls.
    err(Error::OutOfResources)
}

extern "efiapi" fn unregister_key_notify(_this: *const TextInEx, handle: usize) -> Efi {
    let _ = NonZeroUsize::new(handle);
    err(Error::InvalidParameter)
}
