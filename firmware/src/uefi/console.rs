//! The serial console as UEFI text protocols (UEFI §12.3, §12.4): Simple
//! Text Output (UTF-16 to UTF-8, cursor and screen control as ANSI
//! escapes, one 80x25 mode), Simple Text Input and Simple Text Input Ex
//! (bytes and terminal escape sequences to UEFI keys, decoded by
//! `vmfw-keys`).
//!
//! The protocols themselves live in the state's tables (their mode and
//! key events are mutable data); this module holds their functions.

use super::abi::{
    InputKey, KeyData, SimpleTextInputExProtocol, SimpleTextInputProtocol, SimpleTextOutputProtocol,
};
use super::ffi::{boolean, err, out, status, Efi, SUCCESS};
use super::state::{tables, Input, BOOT};
use crate::{console, time};
use alloc::string::String;
use core::ffi::c_void;
use uefi_raw::protocol::console::{KeyNotifyFn, KeyToggleState};
use uefi_raw::Boolean;
use vmfw_efi::{Error, EventId};

pub const COLUMNS: i32 = 80;
pub const ROWS: i32 = 25;

/// Creates the key events (before the tables are written).
pub fn init() -> Result<(EventId, EventId), Error> {
    BOOT.with(|b| {
        let wait = b.events.create_event(0, 0, None, 0, None)?;
        let wait_ex = b.events.create_event(0, 0, None, 0, None)?;
        b.input.wait = Some(wait);
        b.input.wait_ex = Some(wait_ex);
        Ok((wait, wait_ex))
    })
}

/// The output mode, for the shims below.
fn mode() -> *mut uefi_raw::protocol::console::SimpleTextOutputMode {
    // SAFETY: only the field's address is computed; the tables were
    // written before guest code could call a console function.
    unsafe { core::ptr::addr_of_mut!((*tables()).text_mode) }
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

pub unsafe extern "efiapi" fn output_string(
    _this: *mut SimpleTextOutputProtocol,
    s: *const u16,
) -> Efi {
    if s.is_null() {
        return err(Error::InvalidParameter);
    }
    let mut text = String::new();
    let (mut col, mut row) = {
        // SAFETY: the firmware's mode structure (see `mode`).
        let m = unsafe { &*mode() };
        (m.cursor_column, m.cursor_row)
    };
    // Reading stops at the NUL (or after 64 Ki units, which no console
    // line approaches).
    for i in 0..65536 {
        // SAFETY: inside the caller's NUL-terminated UTF-16 string.
        let u = unsafe { s.add(i).read_unaligned() };
        if u == 0 {
            break;
        }
        match u {
            0x0d => col = 0,
            0x0a => row = (row + 1).min(ROWS - 1),
            0x08 => col = (col - 1).max(0),
            _ => col = (col + 1).min(COLUMNS - 1),
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
    set_cursor(col, row);
    emit(&text);
    SUCCESS
}

fn set_cursor(col: i32, row: i32) {
    // SAFETY: the firmware's mode structure (see `mode`).
    unsafe {
        (*mode()).cursor_column = col;
        (*mode()).cursor_row = row;
    }
}

pub unsafe extern "efiapi" fn test_string(
    _this: *mut SimpleTextOutputProtocol,
    s: *const u16,
) -> Efi {
    if s.is_null() {
        return err(Error::InvalidParameter);
    }
    SUCCESS
}

pub unsafe extern "efiapi" fn out_reset(this: *mut SimpleTextOutputProtocol, _e: Boolean) -> Efi {
    // SAFETY: forwarded to the protocol's own functions.
    unsafe {
        let _ = set_attribute(this, 0x07);
        clear_screen(this)
    }
}

pub unsafe extern "efiapi" fn query_mode(
    _this: *const SimpleTextOutputProtocol,
    mode: usize,
    columns: *mut usize,
    rows: *mut usize,
) -> Efi {
    if mode != 0 {
        return err(Error::Unsupported);
    }
    status(out(columns, COLUMNS as usize).and_then(|()| out(rows, ROWS as usize)))
}

pub unsafe extern "efiapi" fn set_mode(this: *mut SimpleTextOutputProtocol, mode: usize) -> Efi {
    if mode != 0 {
        return err(Error::Unsupported);
    }
    // SAFETY: forwarded to the protocol's own function.
    unsafe { clear_screen(this) }
}

pub unsafe extern "efiapi" fn set_attribute(
    _this: *mut SimpleTextOutputProtocol,
    attribute: usize,
) -> Efi {
    if attribute > 0x7f {
        return err(Error::Unsupported);
    }
    // SAFETY: the firmware's mode structure (see `mode`).
    unsafe { (*mode()).attribute = attribute as i32 };
    // Foreground and background as ANSI colours (UEFI and ANSI number the
    // eight basic colours in opposite bit orders).
    const ANSI: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    let fg = attribute & 0x0f;
    let bg = (attribute >> 4) & 0x07;
    let bold = if fg & 0x08 != 0 { "1" } else { "22" };
    let s = alloc::format!("\x1b[{bold};{};{}m", 30 + ANSI[fg & 7], 40 + ANSI[bg]);
    emit(&s);
    SUCCESS
}

pub unsafe extern "efiapi" fn clear_screen(_this: *mut SimpleTextOutputProtocol) -> Efi {
    emit("\x1b[2J\x1b[H");
    set_cursor(0, 0);
    SUCCESS
}

pub unsafe extern "efiapi" fn set_cursor_position(
    _this: *mut SimpleTextOutputProtocol,
    column: usize,
    row: usize,
) -> Efi {
    if column >= COLUMNS as usize || row >= ROWS as usize {
        return err(Error::Unsupported);
    }
    emit(&alloc::format!("\x1b[{};{}H", row + 1, column + 1));
    set_cursor(column as i32, row as i32);
    SUCCESS
}

pub unsafe extern "efiapi" fn enable_cursor(
    _this: *mut SimpleTextOutputProtocol,
    visible: Boolean,
) -> Efi {
    let visible = boolean(visible);
    emit(if visible { "\x1b[?25h" } else { "\x1b[?25l" });
    // SAFETY: the firmware's mode structure (see `mode`).
    unsafe { (*mode()).cursor_visible = Boolean(u8::from(visible)) };
    SUCCESS
}

// ---------------------------------------------------------------------
// Input.

/// Decodes the bytes the UART holds into keys and signals the key events
/// while keys are waiting. Called whenever the firmware polls.
pub fn poll_input() {
    BOOT.with(|b| {
        drain(&mut b.input);
        if !b.input.keys.is_empty() {
            for e in [b.input.wait, b.input.wait_ex].into_iter().flatten() {
                let _ = b.events.signal_event(e);
            }
        }
    });
}

/// Feeds every byte the UART holds to the decoder (at most 64 keys kept;
/// more is typing nobody reads). Unknown sequences are dropped.
fn drain(i: &mut Input) {
    while let Some(byte) = console::try_read() {
        for ev in i.decoder.push(byte) {
            if let (Some(k), true) = (ev.key(), i.keys.len() < 64) {
                i.keys.push_back(k.efi());
            }
        }
    }
}

/// The next key: a lone ESC becomes Escape when no more bytes follow
/// within a few milliseconds (escape sequences arrive together).
fn next_key() -> Option<InputKey> {
    poll_input();
    let deadline = time::deadline_us(5000);
    loop {
        let (key, pending) = BOOT.with(|b| {
            drain(&mut b.input);
            (b.input.keys.pop_front(), b.input.decoder.pending())
        });
        if let Some(k) = key {
            return Some(InputKey { scan_code: k.scan_code, unicode_char: k.unicode_char });
        }
        if !pending {
            return None;
        }
        if time::passed(deadline) {
            let k = BOOT.with(|b| b.input.decoder.flush()).and_then(|e| e.key())?;
            let k = k.efi();
            return Some(InputKey { scan_code: k.scan_code, unicode_char: k.unicode_char });
        }
    }
}

fn reset_input() {
    BOOT.with(|b| {
        b.input.keys.clear();
        b.input.decoder.reset();
    });
}

pub unsafe extern "efiapi" fn in_reset(_this: *mut SimpleTextInputProtocol, _e: Boolean) -> Efi {
    reset_input();
    SUCCESS
}

pub unsafe extern "efiapi" fn in_reset_ex(
    _this: *mut SimpleTextInputExProtocol,
    _e: Boolean,
) -> Efi {
    reset_input();
    SUCCESS
}

pub unsafe extern "efiapi" fn read_key_stroke(
    _this: *mut SimpleTextInputProtocol,
    key: *mut InputKey,
) -> Efi {
    if key.is_null() {
        return err(Error::InvalidParameter);
    }
    match next_key() {
        Some(k) => status(out(key, k)),
        None => err(Error::NotReady),
    }
}

pub unsafe extern "efiapi" fn read_key_stroke_ex(
    _this: *mut SimpleTextInputExProtocol,
    data: *mut KeyData,
) -> Efi {
    if data.is_null() {
        return err(Error::InvalidParameter);
    }
    match next_key() {
        // Shift and toggle state are not known on a serial line: report
        // them as invalid (no EFI_SHIFT_STATE_VALID / EFI_TOGGLE_STATE_VALID).
        Some(key) => status(out(data, KeyData { key, key_state: Default::default() })),
        None => err(Error::NotReady),
    }
}

pub unsafe extern "efiapi" fn set_state(
    _this: *mut SimpleTextInputExProtocol,
    state: *const KeyToggleState,
) -> Efi {
    if state.is_null() {
        return err(Error::InvalidParameter);
    }
    // A serial line has no toggle keys to set.
    err(Error::Unsupported)
}

pub unsafe extern "efiapi" fn register_key_notify(
    _this: *mut SimpleTextInputExProtocol,
    data: *const KeyData,
    _function: KeyNotifyFn,
    handle: *mut *mut c_void,
) -> Efi {
    if data.is_null() || handle.is_null() {
        return err(Error::InvalidParameter);
    }
    // Key notifications would need input interrupts; vmfw polls.
    err(Error::OutOfResources)
}

pub unsafe extern "efiapi" fn unregister_key_notify(
    _this: *mut SimpleTextInputExProtocol,
    _handle: *mut c_void,
) -> Efi {
    // Nothing was ever registered.
    err(Error::InvalidParameter)
}
