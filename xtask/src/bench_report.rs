//! The pure half of `cargo xtask bench boot`: what a boot's timestamped
//! serial lines say (time to the kernel's first line, to the init marker,
//! to the firmware's handoff, and the firmware's own `timing:` line), the
//! statistics over rounds, and the Markdown report. Nothing here runs a VM,
//! so all of it is unit-tested.

use std::fmt::Write as _;

/// One line of a VM's serial console, with when its bytes arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedLine {
    /// The line, without its newline (and without a carriage return).
    pub text: String,
    /// `(byte offset in text, seconds since the VMM was spawned)`: where
    /// each read from the console pipe began within this line, in order,
    /// the first at offset 0. A line printed in pieces (a loader's escape
    /// sequences, then the kernel's first line with no newline between)
    /// then has the right time for each piece.
    pub arrivals: Vec<(usize, f64)>,
}

impl TimedLine {
    /// A line that arrived in one piece at `at` seconds.
    #[cfg(test)]
    pub fn at(at: f64, text: &str) -> Self {
        TimedLine { text: text.into(), arrivals: vec![(0, at)] }
    }

    /// When the byte at `offset` arrived: the time of the last piece that
    /// began at or before it.
    pub fn time_at(&self, offset: usize) -> f64 {
        self.arrivals.iter().take_while(|(o, _)| *o <= offset).last().map_or(f64::NAN, |a| a.1)
    }
}

/// The firmware's self-timing, from its one `timing:` line (the format is
/// in `/work/notes/common.md` and the firmware's log): phase times in
/// milliseconds, counter ticks, and what it read and allocated. A field
/// the line lacks (or has in another form) is `None`, so that the report
/// shows what it can while the format settles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// Entry to handoff, ms.
    pub total_ms: Option<f64>,
    /// Platform discovery (memory map, ACPI), ms.
    pub platform_ms: Option<f64>,
    /// Device setup, ms.
    pub devices_ms: Option<f64>,
    /// Partition tables, ms.
    pub tables_ms: Option<f64>,
    /// Reading files, ms.
    pub files_ms: Option<f64>,
    /// Preparing the handoff, ms.
    pub handoff_ms: Option<f64>,
    /// Counter ticks outside waits on devices (under `-icount shift=0`,
    /// guest instructions: the stable figure).
    pub busy: Option<u64>,
    /// Counter ticks spent waiting on devices.
    pub wait: Option<u64>,
    /// The counter's rate, Hz.
    pub hz: Option<u64>,
    /// virtio requests sent.
    pub requests: Option<u64>,
    /// Bytes read from disks.
    pub read: Option<u64>,
    /// Pages allocated.
    pub pages: Option<u64>,
}

/// What the firmware's timing line starts with (after the log level tag).
pub const TIMING_PREFIX: &str = "timing: ";

impl Timing {
    /// Parses the `timing:` line: `timing: total=<ms>ms platform=<ms>ms …
    /// busy=<ticks> …` anywhere in `line` (the logger's `[INFO ] ` tag may
    /// precede it). `None` when there is no such line or it has no
    /// `total=`; unknown fields are ignored, malformed ones left `None`.
    pub fn parse(line: &str) -> Option<Timing> {
        let at = line.find(TIMING_PREFIX)?;
        let rest = line.get(at + TIMING_PREFIX.len()..)?;
        let mut t = Timing::default();
        for field in rest.split_whitespace() {
            let Some((key, value)) = field.split_once('=') else { continue };
            let ms = || value.strip_suffix("ms").and_then(|v| v.parse::<f64>().ok());
            let n = || value.parse::<u64>().ok();
            match key {
                "total" => t.total_ms = ms(),
                "platform" => t.platform_ms = ms(),
                "devices" => t.devices_ms = ms(),
                "tables" => t.tables_ms = ms(),
                "files" => t.files_ms = ms(),
                "handoff" => t.handoff_ms = ms(),
                "busy" => t.busy = n(),
                "wait" => t.wait = n(),
                "hz" => t.hz = n(),
                "requests" => t.requests = n(),
                "read" => t.read = n(),
                "pages" => t.pages = n(),
                _ => {}
            }
        }
        t.total_ms.is_some().then_some(t)
    }
}

/// What one boot showed, in seconds since the VMM was spawned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTimes {
    /// The kernel's first console line ([`kernel_line_at`]).
    pub kernel: Option<f64>,
    /// The initrd's marker line.
    pub init: Option<f64>,
    /// The firmware's handoff: its `kernel command line:` (native) or
    /// `ExitBootServices:` (UEFI) log line, whichever comes first.
    pub handoff: Option<f64>,
    /// The firmware's `timing:` line.
    pub timing: Option<Timing>,
}

/// Where the kernel's first console line begins in `line`, if it is one:
/// a printk timestamp (`[    0.000000] `, `[   12.345678] `) or the
/// `Linux version` banner. It may follow other output on the same line (a
/// loader that left the cursor mid-line), hence a position, not a prefix.
/// The firmware's own lines (`[INFO ] …`) do not match.
pub fn kernel_line_at(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let stamp = bytes.iter().enumerate().filter(|(_, &b)| b == b'[').find_map(|(i, _)| {
        let rest = bytes.get(i + 1..)?;
        let digits_from = rest.iter().position(|&b| b != b' ')?;
        let num = rest.get(digits_from..)?;
        let int = num.iter().take_while(|b| b.is_ascii_digit()).count();
        let frac = num.get(int + 1..)?;
        let frac_len = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        let ok = int > 0
            && num.get(int) == Some(&b'.')
            && frac_len == 6
            && frac.get(frac_len) == Some(&b']');
        ok.then_some(i)
    });
    let banner = line.find("Linux version ");
    match (stamp, banner) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The firmware's log lines that mean it is handing the machine to the OS
/// (`firmware/src/arch/*/linux.rs`, `firmware/src/uefi/tables.rs`).
const HANDOFF_LINES: [&str; 2] = ["] kernel command line: ", "] ExitBootServices: "];

/// Reads one boot's console: the first kernel line, the first line with
/// `marker`, the first handoff line and the timing line.
pub fn analyse(lines: &[TimedLine], marker: &str) -> RunTimes {
    let mut r = RunTimes::default();
    for l in lines {
        if r.kernel.is_none() {
            r.kernel = kernel_line_at(&l.text).map(|at| l.time_at(at));
        }
        if r.init.is_none() {
            r.init = l.text.find(marker).map(|at| l.time_at(at));
        }
        if r.handoff.is_none() {
            r.handoff = HANDOFF_LINES.iter().find_map(|h| l.text.find(h)).map(|at| l.time_at(at));
        }
        if r.timing.is_none() {
            r.timing = Timing::parse(&l.text);
        }
    }
    r
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` for none. NaNs sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// A median with the smallest and largest value around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, or `None` for none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let median = median(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { median, min, max })
    }
}

/// The median over rounds of `value / reference`, taking only the rounds
/// where both were measured (and the reference is positive): each round's
/// ratio compares boots that ran side by side, under the same host load.
pub fn median_ratio(pairs: impl IntoIterator<Item = (Option<f64>, Option<f64>)>) -> Option<f64> {
    let ratios: Vec<f64> = pairs
        .into_iter()
        .filter_map(|(v, r)| match (v, r) {
            (Some(v), Some(r)) if r > 0.0 => Some(v / r),
            _ => None,
        })
        .collect();
    median(&ratios)
}

/// One variant's figures over all rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The variant's name in the table.
    pub name: String,
    /// Rounds in which it reached its goal (the init marker, or the
    /// handoff where that is the goal), and rounds in all.
    pub ok: (usize, usize),
    /// Time to the kernel's first line.
    pub kernel: Option<Spread>,
    /// Time to the init marker.
    pub init: Option<Spread>,
    /// Time to the firmware's handoff.
    pub handoff: Option<Spread>,
    /// Median per-round ratio to the reference (direct boot), kernel line.
    pub ratio_kernel: Option<f64>,
    /// Median per-round ratio to the reference, init marker.
    pub ratio_init: Option<f64>,
    /// Medians of the firmware's own figures, over the runs that had them.
    pub timing: Option<Timing>,
}

/// What a run is measured to: the init marker (QEMU, where the kernel
/// boots to its initrd), or the firmware's handoff (other VMMs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The initrd's marker.
    Init,
    /// The firmware's handoff line.
    Handoff,
}

/// Summarises `runs[round][variant]` for the variants named `names`; the
/// ratios are to variant `reference` (direct boot), when given.
pub fn summarise(
    names: &[String],
    runs: &[Vec<RunTimes>],
    reference: Option<usize>,
    goal: Goal,
) -> Vec<Summary> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mine: Vec<&RunTimes> = runs.iter().filter_map(|r| r.get(i)).collect();
            let of = |f: fn(&RunTimes) -> Option<f64>| {
                Spread::of(&mine.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            let ratio = |f: fn(&RunTimes) -> Option<f64>| {
                let reference = reference?;
                median_ratio(
                    runs.iter().map(|r| (r.get(i).and_then(f), r.get(reference).and_then(f))),
                )
            };
            let reached = |r: &&&RunTimes| match goal {
                Goal::Init => r.init.is_some(),
                Goal::Handoff => r.handoff.is_some(),
            };
            let timings: Vec<&Timing> = mine.iter().filter_map(|r| r.timing.as_ref()).collect();
            Summary {
                name: name.clone(),
                ok: (mine.iter().filter(reached).count(), runs.len()),
                kernel: of(|r| r.kernel),
                init: of(|r| r.init),
                handoff: of(|r| r.handoff),
                ratio_kernel: ratio(|r| r.kernel),
                ratio_init: ratio(|r| r.init),
                timing: median_timing(&timings),
            }
        })
        .collect()
}

/// Field by field medians of `timings` (`None` when there are none).
fn median_timing(timings: &[&Timing]) -> Option<Timing> {
    if timings.is_empty() {
        return None;
    }
    let f = |get: fn(&Timing) -> Option<f64>| {
        median(&timings.iter().filter_map(|t| get(t)).collect::<Vec<_>>())
    };
    // Counts are integers; the median of an even number of them may fall
    // between two, and is rounded.
    let n = |get: fn(&Timing) -> Option<u64>| {
        median(&timings.iter().filter_map(|t| get(t)).map(|v| v as f64).collect::<Vec<_>>())
            .map(|m| m.round() as u64)
    };
    Some(Timing {
        total_ms: f(|t| t.total_ms),
        platform_ms: f(|t| t.platform_ms),
        devices_ms: f(|t| t.devices_ms),
        tables_ms: f(|t| t.tables_ms),
        files_ms: f(|t| t.files_ms),
        handoff_ms: f(|t| t.handoff_ms),
        busy: n(|t| t.busy),
        wait: n(|t| t.wait),
        hz: n(|t| t.hz),
        requests: n(|t| t.requests),
        read: n(|t| t.read),
        pages: n(|t| t.pages),
    })
}

/// `median (min–max)` in seconds, two decimals; `-` when not measured.
pub fn fmt_spread(s: Option<Spread>) -> String {
    s.map_or("-".into(), |s| format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max))
}

/// A ratio as `1.10×`; `-` when not measured.
pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}×"))
}

/// A byte count in MiB, one decimal.
fn fmt_mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// An integer with thin groups of three (`12 345 678`), for tick counts.
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or("-".into(), f)
}

/// The report: a header of `(label, value)` lines, the table, and what
/// its columns mean. Which time columns there are depends on `goal`.
pub fn render_markdown(
    title: &str,
    header: &[(&str, String)],
    summaries: &[Summary],
    goal: Goal,
) -> String {
    let mut md = format!("# {title}\n\n");
    for (label, value) in header {
        let _ = writeln!(md, "- {label}: {value}");
    }
    md.push('\n');
    let mut cols: Vec<&str> = vec!["variant", "runs"];
    if goal == Goal::Init {
        cols.extend([
            "kernel's first line, s",
            "init marker, s",
            "× direct (kernel)",
            "× direct (init)",
        ]);
    }
    cols.extend([
        "firmware handoff, s",
        "vmfw total",
        "vmfw busy ticks",
        "requests",
        "read",
        "pages",
    ]);
    let _ = writeln!(md, "| {} |", cols.join(" | "));
    let _ = writeln!(
        md,
        "|{}",
        cols.iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for s in summaries {
        let t = s.timing.as_ref();
        let mut row = vec![s.name.clone(), format!("{}/{}", s.ok.0, s.ok.1)];
        if goal == Goal::Init {
            row.extend([
                fmt_spread(s.kernel),
                fmt_spread(s.init),
                fmt_ratio(s.ratio_kernel),
                fmt_ratio(s.ratio_init),
            ]);
        }
        row.extend([
            fmt_spread(s.handoff),
            opt(t.and_then(|t| t.total_ms), |v| format!("{v:.1} ms")),
            opt(t.and_then(|t| t.busy), fmt_count),
            opt(t.and_then(|t| t.requests), |v| v.to_string()),
            opt(t.and_then(|t| t.read), fmt_mib),
            opt(t.and_then(|t| t.pages), |v| v.to_string()),
        ]);
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md.push('\n');
    md.push_str(match goal {
        Goal::Init => COLUMNS_INIT,
        Goal::Handoff => COLUMNS_HANDOFF,
    });
    md
}

/// What the columns mean, under the table (QEMU runs).
const COLUMNS_INIT: &str = "\
Times are seconds from the VMM's start (host monotonic clock) to a line on the serial console: \
median over the rounds, (min–max) after it. *kernel's first line*: the first printk line \
(`[    0.000000] Linux version …`, printed when the kernel registers its serial console); \
*init marker*: the initrd's `/init` printing its marker. *× direct*: in each round, the \
variant's time divided by direct boot's in the same round, median over the rounds (1.00× is \
QEMU's own `-kernel` boot, the floor). *firmware handoff*: vmfw's last log line before the \
kernel runs (`kernel command line:` natively, `ExitBootServices:` under UEFI). The *vmfw* \
columns come from the firmware's own `timing:` line (medians; `-` where it printed none): \
entry to handoff by its clock, counter ticks outside device waits, virtio requests, bytes \
read, pages allocated. *runs*: rounds that reached the init marker.\n";

/// What the columns mean, under the table (other VMMs).
const COLUMNS_HANDOFF: &str = "\
Times are seconds from the VMM's start (host monotonic clock) to vmfw's last log line before \
the kernel runs (`kernel command line:` natively, `ExitBootServices:` under UEFI): median over \
the rounds, (min–max) after it. Stock kernels do not get far on a nested, software-emulated \
KVM, so the run ends at the handoff. The *vmfw* columns come from the firmware's own `timing:` \
line (medians; `-` where it printed none): entry to handoff by its clock, counter ticks outside \
device waits, virtio requests, bytes read, pages allocated. *runs*: rounds that reached the \
handoff.\n";

/// The civil date and time (UTC) of `secs` seconds after the Unix epoch,
/// as `YYYY-MM-DD HH:MM UTC` (days to a proleptic Gregorian date by the
/// usual era arithmetic: 400-year eras of 146 097 days, years from March).
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "[INFO ] timing: total=131.4ms platform=2.0ms devices=10.5ms \
        tables=1.2ms files=110.3ms handoff=7.4ms busy=123456789 wait=98765 hz=1000000000 \
        requests=74 read=9437184 pages=2345";

    #[test]
    fn parses_the_timing_line() {
        let t = Timing::parse(SAMPLE).unwrap();
        assert_eq!(t.total_ms, Some(131.4));
        assert_eq!(t.files_ms, Some(110.3));
        assert_eq!(t.handoff_ms, Some(7.4));
        assert_eq!((t.busy, t.wait, t.hz), (Some(123_456_789), Some(98_765), Some(1_000_000_000)));
        assert_eq!((t.requests, t.read, t.pages), (Some(74), Some(9_437_184), Some(2345)));
        // Without the level tag, with an unknown field and a malformed one.
        let t = Timing::parse("timing: total=1.0ms new=3 busy=x platform=2").unwrap();
        assert_eq!((t.total_ms, t.busy, t.platform_ms), (Some(1.0), None, None));
        // Not a timing line, or one without its total.
        assert_eq!(Timing::parse("[INFO ] kernel command line: \"timing\""), None);
        assert_eq!(Timing::parse("[INFO ] timing: busy=5"), None);
    }

    #[test]
    fn finds_the_kernels_first_line() {
        assert_eq!(kernel_line_at("[    0.000000] Linux version 6.1.0-57-amd64"), Some(0));
        assert_eq!(kernel_line_at("[   12.345678] reboot: Power down"), Some(0));
        assert_eq!(kernel_line_at("\x1b[2J\x1b[01;01H[    0.000000] Linux"), Some(12));
        assert_eq!(kernel_line_at("Linux version 6.1.0"), Some(0));
        assert_eq!(kernel_line_at("[INFO ] kernel command line: \"x\""), None);
        assert_eq!(kernel_line_at("[    3.1] short"), None);
        assert_eq!(kernel_line_at("[ 1.0000000] long"), None);
        assert_eq!(kernel_line_at("VMFW-INITRD-OK cmdline=[console=ttyS0]"), None);
    }

    #[test]
    fn times_a_line_printed_in_pieces() {
        let l = TimedLine {
            text: "\x1b[2J[    0.000000] Linux version".into(),
            arrivals: vec![(0, 1.0), (4, 2.5), (20, 2.6)],
        };
        assert_eq!(l.time_at(0), 1.0);
        assert_eq!(l.time_at(4), 2.5);
        assert_eq!(l.time_at(19), 2.5);
        let r = analyse(&[l], "MARK");
        assert_eq!(r.kernel, Some(2.5));
    }

    #[test]
    fn analyses_a_boot() {
        let lines = [
            TimedLine::at(0.10, "vmfw 0.1.0 (x86_64), entered via PVH"),
            TimedLine::at(0.12, "[INFO ] kernel command line: \"console=ttyS0\""),
            TimedLine::at(0.13, SAMPLE),
            TimedLine::at(4.00, "[    0.000000] Linux version 6.1.0"),
            TimedLine::at(4.10, "[    0.400000] Kernel command line: console=ttyS0"),
            TimedLine::at(5.50, "VMFW-INITRD-OK cmdline=[console=ttyS0]"),
            TimedLine::at(5.60, "[INFO ] kernel command line: \"late\""),
        ];
        let r = analyse(&lines, "VMFW-INITRD-OK");
        assert_eq!((r.kernel, r.init, r.handoff), (Some(4.0), Some(5.5), Some(0.12)));
        assert_eq!(r.timing.unwrap().requests, Some(74));
        let uefi = [TimedLine::at(0.5, "[INFO ] ExitBootServices: the OS owns the machine now")];
        assert_eq!(analyse(&uefi, "M").handoff, Some(0.5));
        assert_eq!(analyse(&[], "M"), RunTimes::default());
    }

    /// The handoff lines are the ones the firmware logs (it is a
    /// bare-metal binary; its strings cannot be imported).
    #[test]
    fn the_firmware_logs_the_handoff_lines() {
        let root = crate::build::root();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let native = read("firmware/src/arch/x86_64/linux.rs");
        let uefi = read("firmware/src/uefi/tables.rs");
        assert!(native.contains("crate::info!(\"kernel command line: "));
        assert!(uefi.contains("crate::info!(\"ExitBootServices: "));
        for h in HANDOFF_LINES {
            let text = h.trim_start_matches("] ");
            assert!(native.contains(text) || uefi.contains(text), "{text:?}");
        }
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(
            Spread::of(&[5.0, 1.0, 3.0, 9.0, 4.0]),
            Some(Spread { median: 4.0, min: 1.0, max: 9.0 })
        );
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn ratios_are_per_round() {
        // Round 2's host was slow for both; its ratio is still 1.1.
        let r = median_ratio([
            (Some(5.5), Some(5.0)),
            (Some(11.0), Some(10.0)),
            (Some(6.0), Some(5.0)),
        ]);
        assert!((r.unwrap() - 1.1).abs() < 1e-9, "{r:?}");
        // Rounds missing either value are left out.
        let r = median_ratio([(None, Some(5.0)), (Some(6.0), None), (Some(4.0), Some(2.0))]);
        assert_eq!(r, Some(2.0));
        assert_eq!(median_ratio([(Some(1.0), Some(0.0))]), None);
    }

    fn run(kernel: f64, init: f64, timing: Option<Timing>) -> RunTimes {
        RunTimes { kernel: Some(kernel), init: Some(init), handoff: None, timing }
    }

    #[test]
    fn summarises_and_renders() {
        let names = vec!["direct".to_string(), "vmfw native BLS".to_string()];
        let t =
            |busy| Some(Timing { total_ms: Some(100.0), busy: Some(busy), ..Timing::default() });
        let runs = vec![
            vec![run(4.0, 5.0, None), run(4.4, 5.5, t(10))],
            vec![run(8.0, 10.0, None), run(8.8, 11.0, t(20))],
            vec![run(4.0, 5.0, None), RunTimes::default()],
        ];
        let s = summarise(&names, &runs, Some(0), Goal::Init);
        assert_eq!(s[0].ok, (3, 3));
        assert_eq!(s[0].init, Some(Spread { median: 5.0, min: 5.0, max: 10.0 }));
        assert_eq!(s[0].ratio_init, Some(1.0));
        assert_eq!(s[0].timing, None);
        assert_eq!(s[1].ok, (2, 3));
        assert!((s[1].ratio_init.unwrap() - 1.1).abs() < 1e-9);
        assert!((s[1].ratio_kernel.unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(s[1].timing.as_ref().unwrap().busy, Some(15));

        let md = render_markdown("Boot", &[("QEMU", "7.2".into())], &s, Goal::Init);
        assert!(
            md.starts_with("# Boot\n\n- QEMU: 7.2\n\n| variant | runs | kernel's first line, s |"),
            "{md}"
        );
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 4, "{md}");
        assert_eq!(rows[1].matches('|').count(), rows[0].matches('|').count());
        assert_eq!(
            rows[2],
            "| direct | 3/3 | 4.00 (4.00–8.00) | 5.00 (5.00–10.00) | 1.00× | 1.00× | - | - | - | - | - | - |"
        );
        assert_eq!(
            rows[3],
            "| vmfw native BLS | 2/3 | 6.60 (4.40–8.80) | 8.25 (5.50–11.00) | 1.10× | 1.10× | - \
             | 100.0 ms | 15 | - | - | - |"
        );
        assert!(md.contains("*init marker*"));

        // Handoff mode: no kernel or init columns.
        let runs = vec![vec![RunTimes { handoff: Some(6.0), ..RunTimes::default() }]];
        let s = summarise(&names[1..], &runs, None, Goal::Handoff);
        let md = render_markdown("CH", &[], &s, Goal::Handoff);
        assert!(md.contains("| variant | runs | firmware handoff, s | vmfw total |"), "{md}");
        assert!(md.contains("| vmfw native BLS | 1/1 | 6.00 (6.00–6.00) | - |"), "{md}");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1000), "1 000");
        assert_eq!(fmt_count(123_456_789), "123 456 789");
        assert_eq!(fmt_ratio(Some(1.104)), "1.10×");
        assert_eq!(fmt_spread(None), "-");
        assert_eq!(fmt_mib(9_437_184), "9.0 MiB");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_796_418_593), "2026-12-04 21:09 UTC");
    }
}
