//! The serial console (the architecture's UART, [`serial`]) and the
//! `log` backend.
//!
//! Every UART register access is a VM exit, so output is written in
//! bursts: the transmitter is asked for room once per FIFO load (one
//! line-status read per 16 bytes on a 16550), not before every byte.
//! The writer holds no state besides the UART, so the exception handler
//! can always print, even if it interrupted a half-written line.

use crate::arch::serial;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

static PRESENT: AtomicBool = AtomicBool::new(false);

/// Programs the UART (115200 8N1, FIFOs, polled).
pub fn init() {
    PRESENT.store(serial::init(), Ordering::Relaxed);
}

/// Reads one received byte, if any (never waits).
pub fn try_read() -> Option<u8> {
    if !PRESENT.load(Ordering::Relaxed) {
        return None;
    }
    serial::rx()
}

/// Writes raw bytes, translating `\n` to `\r\n`.
fn write_bytes(bytes: &[u8]) {
    if !PRESENT.load(Ordering::Relaxed) {
        return;
    }
    let mut room = 0usize;
    let mut put = |b: u8| {
        if room == 0 {
            // A bounded wait: a wedged UART loses bytes, never hangs us.
            let _wait = crate::progress::wait();
            room = serial::tx_room().max(1);
        }
        serial::tx(b);
        room -= 1;
    };
    for &b in bytes {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

/// Writes a string as it is (no newline added).
pub fn write_str(s: &str) {
    write_bytes(s.as_bytes());
}

/// A `fmt::Write` sink for the console.
pub struct Writer(());

impl Writer {
    /// A writer to the serial console.
    pub fn new() -> Self {
        Writer(())
    }
}

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints to the console without a level (banner, menus, reports).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Writer::new(), $($arg)*);
    }};
}

/// Logs `args` at `level` through the installed logger, as the `log`
/// macros do, but without their per-call-site metadata (target, module
/// path, file and line: about 60 bytes of code and data per site, and
/// this logger prints none of them). The firmware's own lines use it
/// through [`info!`](crate::info), [`warn!`](crate::warn) and
/// [`error!`](crate::error); the level filters are the `log` macros'.
#[inline(never)]
pub fn log(level: log::Level, args: core::fmt::Arguments<'_>) {
    if level <= log::STATIC_MAX_LEVEL && level <= log::max_level() {
        write_line(level, &args);
    }
}

/// `crate::info!` through [`log`](crate::console::log).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::console::log(log::Level::Info, format_args!($($arg)+))
    };
}

/// `crate::warn!` through [`log`](crate::console::log).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::console::log(log::Level::Warn, format_args!($($arg)+))
    };
}

/// `crate::error!` through [`log`](crate::console::log).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::console::log(log::Level::Error, format_args!($($arg)+))
    };
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            write_line(record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Writes one log line: `[LEVEL] text`.
fn write_line(level: log::Level, args: &core::fmt::Arguments<'_>) {
    let tag = match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARN ",
        log::Level::Info => "INFO ",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    };
    // Format into one buffer so a line costs as few exits as possible.
    let mut line = LineBuf::new();
    let _ = write!(line, "[{tag}] {args}");
    line.push(b'\n');
    if line.overflowed() {
        // Longer than the buffer: stream it instead of cutting it.
        let _ = writeln!(Writer::new(), "[{tag}] {args}");
    } else {
        write_bytes(line.as_bytes());
    }
}

static LOGGER: Logger = Logger;

/// Installs the logger with the level named on the command line
/// (`vmfw.log=error|warn|info|debug|trace|off`), `info` by default.
pub fn init_logger(level: Option<&str>) {
    let filter = match level {
        Some("off") => log::LevelFilter::Off,
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
    if let Some(l) =
        level.filter(|l| !matches!(*l, "off" | "error" | "warn" | "info" | "debug" | "trace"))
    {
        crate::warn!("unknown log level {}, using info", vmfw_bytes::Quoted(l));
    }
}

/// A fixed line buffer that remembers whether anything did not fit.
struct LineBuf {
    buf: [u8; 256],
    len: usize,
    overflow: bool,
}

impl LineBuf {
    fn new() -> Self {
        Self { buf: [0; 256], len: 0, overflow: false }
    }

    fn push(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn overflowed(&self) -> bool {
        self.overflow
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            self.push(b);
        }
        Ok(())
    }
}
