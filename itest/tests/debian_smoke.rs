//! The package fetcher finds the Debian kernel and busybox.

#[test]
fn fetches_kernel_and_busybox() {
    let k = itest::debian::kernel().expect("kernel");
    assert!(std::fs::metadata(&k).unwrap().len() > 4 << 20, "{}", k.display());
    let b = itest::debian::busybox().expect("busybox");
    assert!(std::fs::metadata(&b).unwrap().len() > 500_000);
}
