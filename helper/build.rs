fn main() {
    // The keyhelm binaries start once per lookup, so their start-up cost is part of every
    // answer. Linked as position-independent executables, the dynamic loader must relocate
    // some 22,000 pointers (dependencies' vtables and tables) and copy ~100 pages on every
    // start; linked at a fixed address they need none of that, which cuts start-up time by
    // about a quarter (measured: `perf stat -r 300 keyhelm capability`, 1.36 -> 1.04 ms).
    // Shared libraries (libc, and the plugins) are still placed at random addresses.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
