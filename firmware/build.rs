//! Links the firmware with the per-architecture linker script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target arch");
    // Host unit tests (`cargo test -p vmfw`) link as an ordinary program.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = format!("{dir}/src/arch/{arch}/layout.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    // Identical code folding: generic instantiations and small shims that
    // compile to the same machine code are kept once. Nothing in the
    // firmware compares function addresses (Rust does not promise they
    // are unique anyway), and the UEFI tables only call through them.
    println!("cargo:rustc-link-arg-bins=--icf=all");
}
