//! The serial boot menu.
//!
//! Shown when `loader.conf` sets a timeout, or when a key arrived on the
//! serial console before boot selection (so a user who types during the
//! firmware's few milliseconds gets the menu). Otherwise it costs nothing:
//! no delay, no output.
//!
//! Keys: Up/Down (or k/j) move, 1–9 pick, Enter boots, `e` edits the
//! selected entry's command line for this boot only, any key stops the
//! countdown.

use crate::console::try_read;
use crate::{arch, println, time};
use alloc::string::String;
use alloc::vec::Vec;

/// What the user chose.
pub struct Choice {
    /// Index of the entry to boot.
    pub index: usize,
    /// A command line edited for this boot, replacing the entry's.
    pub cmdline: Option<String>,
}

/// One line of the menu.
pub struct Item {
    /// Shown title.
    pub title: String,
    /// The command line `e` starts editing from.
    pub cmdline: String,
}

enum Key {
    Up,
    Down,
    Enter,
    Edit,
    Digit(usize),
    Other,
}

/// Waits up to `ms` milliseconds for a key (forever when `ms` is None).
fn key(ms: Option<u64>) -> Option<Key> {
    let deadline = ms.map(|ms| arch::rdtsc() + ms * (time::tsc_hz() / 1000));
    let byte = loop {
        if let Some(b) = try_read() {
            break b;
        }
        if deadline.is_some_and(|d| arch::rdtsc() >= d) {
            return None;
        }
        core::hint::spin_loop();
    };
    Some(match byte {
        b'\r' | b'\n' => Key::Enter,
        b'e' => Key::Edit,
        b'k' => Key::Up,
        b'j' => Key::Down,
        b'1'..=b'9' => Key::Digit(usize::from(byte - b'1')),
        0x1b => match (key_byte(), key_byte()) {
            (Some(b'['), Some(b'A')) => Key::Up,
            (Some(b'['), Some(b'B')) => Key::Down,
            _ => Key::Other,
        },
        _ => Key::Other,
    })
}

/// The next byte of an escape sequence (they arrive together).
fn key_byte() -> Option<u8> {
    let deadline = arch::rdtsc() + 50 * (time::tsc_hz() / 1000);
    while arch::rdtsc() < deadline {
        if let Some(b) = try_read() {
            return Some(b);
        }
    }
    None
}

fn draw(items: &[Item], selected: usize) {
    println!("\nvmfw boot menu:");
    for (i, it) in items.iter().enumerate() {
        let mark = if i == selected { '>' } else { ' ' };
        println!(" {mark} {}) {}", i + 1, it.title);
    }
}

/// Runs the menu. `timeout_s` is the countdown (None: wait for a key).
pub fn run(items: &[Item], default: usize, timeout_s: Option<u64>) -> Choice {
    let mut selected = default.min(items.len().saturating_sub(1));
    draw(items, selected);
    let mut countdown = timeout_s;
    loop {
        if let Some(s) = countdown {
            println!(
                "Booting \"{}\" in {s} s (arrows or 1-9 choose, e edits, Enter boots)",
                items[selected].title
            );
        }
        let k = match countdown {
            Some(0) => return Choice { index: selected, cmdline: None },
            Some(s) => match key(Some(1000)) {
                None => {
                    countdown = Some(s - 1);
                    continue;
                }
                Some(k) => k,
            },
            None => match key(None) {
                Some(k) => k,
                None => continue,
            },
        };
        countdown = None;
        match k {
            Key::Up => selected = selected.checked_sub(1).unwrap_or(items.len() - 1),
            Key::Down => selected = (selected + 1) % items.len(),
            Key::Digit(d) if d < items.len() => selected = d,
            Key::Enter => return Choice { index: selected, cmdline: None },
            Key::Edit => {
                if let Some(line) = edit(&items[selected].cmdline) {
                    return Choice { index: selected, cmdline: Some(line) };
                }
            }
            _ => {}
        }
        draw(items, selected);
    }
}

/// Line editor for the command line: printable characters append,
/// Backspace/DEL deletes, Enter accepts, Escape cancels.
fn edit(start: &str) -> Option<String> {
    println!("Edit the command line (Enter boots, Esc cancels):");
    let mut line: Vec<u8> = start.as_bytes().to_vec();
    crate::console::write_str(&alloc::format!("> {start}"));
    loop {
        match wait_byte() {
            b'\r' | b'\n' => {
                println!();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            0x1b => {
                println!("\n(cancelled)");
                return None;
            }
            0x08 | 0x7f if line.pop().is_some() => crate::console::write_str("\x08 \x08"),
            b @ 0x20..=0x7e => {
                line.push(b);
                crate::console::write_str(core::str::from_utf8(&[b]).unwrap_or(""));
            }
            _ => {}
        }
    }
}

fn wait_byte() -> u8 {
    loop {
        if let Some(b) = try_read() {
            return b;
        }
        core::hint::spin_loop();
    }
}

/// True when a key arrived on the console before boot selection; the key
/// is consumed.
pub fn key_pressed() -> bool {
    let mut any = false;
    while try_read().is_some() {
        any = true;
    }
    any
}
