//! `cargo xtask bench`: measurements that are reported, never asserted on
//! a clock (timed tests are flaky; numbers belong here).
//!
//! boot: see [`crate::bench_boot`]. Bare `cargo xtask bench` runs both,
//! boot first.
//!
//! storage: the firmware reads a 64 MiB file from the ESP under QEMU TCG
//! twice in one boot, once with large multi-segment virtio requests and once
//! with one 512-byte request per sector, and prints MiB/s and request
//! counts for both.

use itest::images::{Contents, Disk};
use itest::{Attach, Machine, Vm};

const BENCH_LEN: u64 = 64 << 20;

/// Bare `cargo xtask bench`: every benchmark with its defaults.
pub fn cmd_all() -> Result<(), String> {
    crate::bench_boot::cmd_boot(&crate::bench_boot::BootOptions {
        rounds: crate::bench_boot::DEFAULT_ROUNDS,
        vmm: None,
    })?;
    cmd_storage()?;
    cmd_size()
}

/// The size budget of issue 12: loadable bytes of the x86_64 image.
const BUDGET: u64 = 256 * 1024;

/// `cargo xtask bench size`: loadable bytes of each x86_64 build against
/// the budget: the default build (features `esp-write` and `secure-boot`),
/// the diagnostic one, the minimal one without either (which keeps the
/// budget) and the minimal one plus each feature alone (what each adds).
/// The extra builds go to `target/size-*`.
pub fn cmd_size() -> Result<(), String> {
    use crate::build::{build_one, target_dir, ARCHES};
    let x86 = &ARCHES[0];
    let default = crate::build::build(x86, true)?;
    let diag = target_dir().join("vmfw-x86_64-diag.elf");
    let mut rows = vec![
        ("default (`esp-write`, `secure-boot`)".to_string(), default),
        ("diagnostic".to_string(), diag),
    ];
    for (what, features) in [
        ("minimal (`lean` only: no disk writes, no Secure Boot)", "lean"),
        ("minimal + `esp-write`", "lean,esp-write"),
        ("minimal + `secure-boot`", "lean,secure-boot"),
    ] {
        let name = features.replace(',', "-");
        let dir = target_dir().join(format!("size-{name}"));
        let args = ["--no-default-features", "--features", features];
        let out = build_one(x86, true, &format!("-{name}"), &args, &dir)?;
        rows.push((what.to_string(), out));
    }
    let mut table =
        String::from("| x86_64 build | loadable bytes | budget (262,144) |\n|---|---|---|\n");
    for (name, path) in &rows {
        let image = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let n = crate::elf::loadable_bytes(&image)?;
        let room = if n <= BUDGET {
            format!("{} bytes to spare", BUDGET - n)
        } else {
            format!("{} bytes over", n - BUDGET)
        };
        table.push_str(&format!("| {name} | {n} | {room} |\n"));
    }
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("mkdir {}: {e}", out.display()))?;
    let md = out.join("size.md");
    std::fs::write(&md, &table).map_err(|e| format!("write {}: {e}", md.display()))?;
    print!("{table}");
    eprintln!("wrote {}", md.display());
    Ok(())
}

/// `cargo xtask bench storage`.
pub fn cmd_storage() -> Result<(), String> {
    itest::Accel::from_env()?;
    crate::build::build(&crate::build::ARCHES[0], true)?;
    let img = Disk { esp_mib: 96, ..Disk::new("bench") }
        .file("/bench.bin", Contents::Pseudo { len: BENCH_LEN, seed: 64 })
        .build();
    for (name, machine, attach) in [
        ("q35 virtio-blk-pci", Machine::Q35, Attach::PciModern),
        ("microvm virtio-mmio", Machine::Microvm, Attach::Mmio),
    ] {
        let out = Vm::new("bench", machine)
            .memory("1G")
            .disk(&img, attach)
            .append("vmfw.bench=/bench.bin")
            .run();
        let lines: Vec<&str> = out.log.lines().filter(|l| l.starts_with("vmfw: bench")).collect();
        if lines.len() < 3 {
            return Err(format!("{name}: no benchmark output; see {}", out.log_path.display()));
        }
        println!("storage, {name} (QEMU TCG, whole VM run {:.2} s):", out.elapsed.as_secs_f64());
        for l in lines {
            println!("  {}", l.trim_start_matches("vmfw: bench").trim());
        }
    }
    println!("(microvm under TCG has no PIT: its MiB/s use an assumed TSC rate; compare request counts there)");
    Ok(())
}
