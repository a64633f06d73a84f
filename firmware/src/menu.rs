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
use vmfw_keys::{Decoder, Event, Key};

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

/// What a key does in the menu.
enum Action {
    Up,
    Down,
    Enter,
    Edit,
    Digit(usize),
    Other,
}

/// How long the rest of an escape sequence may take after its previous
/// byte before a lone `ESC` counts as the Escape key (a terminal sends a
/// sequence in one burst; a person pressing Escape sends nothing more).
const ESCAPE_MS: u64 = 50;

/// The serial console's bytes, decoded into keys.
struct Input {
    decoder: Decoder,
    /// The second event of a byte that completed two (an interrupted
    /// escape sequence, then the byte that interrupted it).
    queued: Option<Event>,
}

impl Input {
    fn new() -> Self {
        Input { decoder: Decoder::new(), queued: None }
    }

    /// Waits until counter value `deadline` (forever when None) for the next key or
    /// unknown escape sequence. An escape sequence under way may take
    /// [`ESCAPE_MS`] past the deadline to complete.
    fn next(&mut self, deadline: Option<u64>) -> Option<Event> {
        if let Some(e) = self.queued.take() {
            return Some(e);
        }
        let escape_ticks = ESCAPE_MS * (time::counter_hz() / 1000);
        let mut escape_deadline = self.decoder.pending().then(|| arch::counter() + escape_ticks);
        loop {
            if let Some(b) = try_read() {
                let mut events = self.decoder.push(b);
                if let Some(first) = events.next() {
                    self.queued = events.next();
                    return Some(first);
                }
                escape_deadline = Some(arch::counter() + escape_ticks);
                continue;
            }
            let now = arch::counter();
            if self.decoder.pending() {
                if escape_deadline.is_none_or(|d| now >= d) {
                    return self.decoder.flush();
                }
            } else if deadline.is_some_and(|d| now >= d) {
                return None;
            }
            core::hint::spin_loop();
        }
    }
}

/// Waits up to `ms` milliseconds for a key (forever when `ms` is None).
fn key(input: &mut Input, ms: Option<u64>) -> Option<Action> {
    let deadline = ms.map(|ms| arch::counter() + ms * (time::counter_hz() / 1000));
    let event = input.next(deadline)?;
    Some(match event.key() {
        Some(Key::Enter) => Action::Enter,
        Some(Key::Char('e')) => Action::Edit,
        Some(Key::Up | Key::Char('k')) => Action::Up,
        Some(Key::Down | Key::Char('j')) => Action::Down,
        Some(Key::Char(c @ '1'..='9')) => Action::Digit(c as usize - '1' as usize),
        _ => Action::Other,
    })
}

/// The keys, shown under the menu and in the countdown line.
const HINT: &str = "(arrows or 1-9 choose, e edits, Enter boots)";

/// Draws the menu; with `hint`, the key hint under it (without a
/// countdown line, which carries the hint itself).
fn draw(items: &[Item], selected: usize, hint: bool) {
    println!("\nvmfw boot menu:");
    for (i, it) in items.iter().enumerate() {
        let mark = if i == selected { '>' } else { ' ' };
        println!(" {mark} {}) {}", i + 1, it.title);
    }
    if hint {
        println!("{HINT}");
    }
}

/// Runs the menu. `timeout_s` is the countdown (None: wait for a key).
pub fn run(items: &[Item], default: usize, timeout_s: Option<u64>) -> Choice {
    let mut selected = default.min(items.len().saturating_sub(1));
    let mut input = Input::new();
    draw(items, selected, timeout_s.is_none());
    let mut countdown = timeout_s;
    loop {
        if let Some(s) = countdown {
            println!("Booting \"{}\" in {s} s {HINT}", items[selected].title);
        }
        let k = match countdown {
            Some(0) => return Choice { index: selected, cmdline: None },
            Some(s) => match key(&mut input, Some(1000)) {
                None => {
                    countdown = Some(s - 1);
                    continue;
                }
                Some(k) => k,
            },
            None => match key(&mut input, None) {
                Some(k) => k,
                None => continue,
            },
        };
        countdown = None;
        match k {
            Action::Up => selected = selected.checked_sub(1).unwrap_or(items.len() - 1),
            Action::Down => selected = (selected + 1) % items.len(),
            Action::Digit(d) if d < items.len() => selected = d,
            Action::Enter => return Choice { index: selected, cmdline: None },
            Action::Edit => {
                if let Some(line) = edit(&mut input, &items[selected].cmdline) {
                    return Choice { index: selected, cmdline: Some(line) };
                }
            }
            _ => {}
        }
        draw(items, selected, true);
    }
}

/// Line editor for the command line: printable characters append,
/// Backspace/DEL deletes, Enter accepts, Escape cancels; other keys
/// (cursor keys, function keys) do nothing. Backspace deletes a whole
/// character, so the line stays valid UTF-8 without a lossy conversion.
fn edit(input: &mut Input, start: &str) -> Option<String> {
    println!("Edit the command line (Enter boots, Esc cancels):");
    let mut line = String::from(start);
    crate::console::write_str(&alloc::format!("> {start}"));
    loop {
        match input.next(None).and_then(Event::key) {
            Some(Key::Enter) => {
                println!();
                return Some(line);
            }
            Some(Key::Escape) => {
                println!("\n(cancelled)");
                return None;
            }
            Some(Key::Backspace) if line.pop().is_some() => crate::console::write_str("\x08 \x08"),
            Some(Key::Char(c @ ' '..='~')) => {
                line.push(c);
                let mut utf8 = [0u8; 4];
                crate::console::write_str(c.encode_utf8(&mut utf8));
            }
            _ => {}
        }
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
