//! `cargo xtask fuzz [--seconds N] [--toolchain T] [--if-available] [TARGET]...`:
//! runs every cargo-fuzz target (or the named ones) for a short time,
//! starting from its seeds.
//!
//! cargo-fuzz needs a nightly toolchain (`--toolchain`, default `nightly`)
//! and `cargo-fuzz` itself. Without them this fails, so that CI cannot
//! report fuzzing that never ran as done; `--if-available` (for machines
//! that have no nightly) makes it say what is missing and succeed instead.

use std::process::Command;

/// The fuzz targets `fuzz/Cargo.toml` names (its `[[bin]]` tables).
pub fn targets(root: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
        } else if in_bin {
            if let Some(v) = l.strip_prefix("name").and_then(|r| r.trim_start().strip_prefix('=')) {
                names.push(v.trim().trim_matches('"').to_string());
            }
        }
    }
    Ok(names)
}

/// `Ok` when `toolchain` and cargo-fuzz for it are installed, else what
/// is missing and how to install it.
fn have_fuzz_tools(toolchain: &str) -> Result<(), String> {
    let plus = format!("+{toolchain}");
    let ok = |args: &[&str]| {
        Command::new("cargo").arg(&plus).args(args).output().is_ok_and(|o| o.status.success())
    };
    if !ok(&["--version"]) {
        return Err(format!(
            "no {toolchain} toolchain, which cargo-fuzz needs \
             (rustup toolchain install {toolchain} --profile minimal)"
        ));
    }
    if !ok(&["fuzz", "--version"]) {
        return Err(format!(
            "cargo-fuzz is not installed (cargo +{toolchain} install cargo-fuzz --locked)"
        ));
    }
    Ok(())
}

/// `cargo xtask fuzz`'s options (see its `--help`).
pub struct FuzzOptions {
    /// How long each target runs.
    pub seconds: u32,
    /// The toolchain cargo-fuzz runs with.
    pub toolchain: String,
    /// Succeed with a message when the toolchain or cargo-fuzz is missing.
    pub if_available: bool,
    /// The targets to run (all when empty).
    pub only: Vec<String>,
}

pub fn cmd_fuzz(o: FuzzOptions) -> Result<(), String> {
    let FuzzOptions { seconds, toolchain, if_available, only } = o;
    let root = crate::build::root();
    let all = targets(&root)?;
    if all.is_empty() {
        return Err("fuzz/Cargo.toml names no fuzz targets ([[bin]] tables)".into());
    }
    // A misspelt target would otherwise select nothing and pass.
    if let Some(t) = only.iter().find(|t| !all.contains(t)) {
        return Err(format!("no fuzz target {t:?} (targets: {})", all.join(", ")));
    }
    if let Err(why) = have_fuzz_tools(&toolchain) {
        if if_available {
            eprintln!("fuzz: not run: {why} (--if-available)");
            return Ok(());
        }
        return Err(format!(
            "cannot run the fuzz targets: {why}; \
             `cargo xtask fuzz --if-available` skips them when the tools are missing"
        ));
    }
    let run: Vec<&String> = all.iter().filter(|t| only.is_empty() || only.contains(t)).collect();
    let logs = crate::build::target_dir().join("fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    for t in run {
        let corpus = root.join("fuzz/corpus").join(t);
        let seeds = root.join("fuzz/seeds").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        eprintln!("+ fuzz {t} for {seconds} s (log in target/fuzz-logs/{t}.log)");
        let mut cmd = Command::new("cargo");
        cmd.arg(format!("+{toolchain}")).args(["fuzz", "run", t]).arg(&corpus);
        if seeds.exists() {
            cmd.arg(&seeds);
        }
        cmd.arg("--").arg(format!("-max_total_time={seconds}")).arg("-max_len=1048576");
        // libFuzzer reports progress many times a second: keep it in a file
        // and print one line, or the tail when the target fails.
        let log = logs.join(format!("{t}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let file2 = file.try_clone().map_err(|e| e.to_string())?;
        cmd.stdout(file).stderr(file2);
        let status = cmd.current_dir(root.join("fuzz")).status().map_err(|e| e.to_string())?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !status.success() {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            return Err(format!(
                "fuzz target {t} failed ({status}); log {}, crash input in fuzz/artifacts/{t}/",
                log.display()
            ));
        }
        // libFuzzer ends a timed run with "Done N runs in S second(s)":
        // without it the target did not fuzz, whatever the exit status.
        let Some(runs) = text.lines().rev().find(|l| l.starts_with("Done ")) else {
            return Err(format!(
                "fuzz target {t} exited successfully without libFuzzer's \"Done\" summary; log {}",
                log.display()
            ));
        };
        eprintln!("  {t}: {runs}");
    }
    Ok(())
}
