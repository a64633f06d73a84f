//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs every cargo-fuzz
//! target (or the named ones) for a short time, starting from its seeds.
//! Needs a nightly toolchain and `cargo-fuzz`; without them it says what
//! is missing and succeeds, so the rest of the suite still runs.

use std::process::Command;

fn targets(root: &std::path::Path) -> Result<Vec<String>, String> {
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

fn have_fuzz_tools() -> Result<(), String> {
    let nightly = Command::new("cargo").args(["+nightly", "--version"]).output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        return Err("no nightly toolchain".into());
    }
    let fuzz = Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output();
    if !fuzz.is_ok_and(|o| o.status.success()) {
        return Err("cargo-fuzz is not installed (cargo install cargo-fuzz)".into());
    }
    Ok(())
}

pub fn cmd_fuzz(args: &[String]) -> Result<(), String> {
    let root = crate::build::root();
    let mut seconds = 20u32;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds =
                    it.next().and_then(|s| s.parse().ok()).ok_or("--seconds needs a number")?;
            }
            t => only.push(t.to_string()),
        }
    }
    if let Err(why) = have_fuzz_tools() {
        eprintln!("fuzz: skipped ({why})");
        return Ok(());
    }
    let all = targets(&root)?;
    let run: Vec<&String> = all.iter().filter(|t| only.is_empty() || only.contains(t)).collect();
    let logs = crate::build::target_dir().join("fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    for t in run {
        let corpus = root.join("fuzz/corpus").join(t);
        let seeds = root.join("fuzz/seeds").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        eprintln!("+ fuzz {t} for {seconds} s (log in target/fuzz-logs/{t}.log)");
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "run", t]).arg(&corpus);
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
        let runs = text.lines().rev().find(|l| l.starts_with("Done ")).unwrap_or("(no summary)");
        eprintln!("  {t}: {runs}");
    }
    Ok(())
}
