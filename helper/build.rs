use std::path::PathBuf;
use std::process::Command;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" {
        return;
    }
    // The keyhelm binaries start once per lookup, so their start-up cost is part of every
    // answer. Linked as position-independent executables, the dynamic loader must relocate
    // some 22,000 pointers (dependencies' vtables and tables) and copy ~100 pages on every
    // start; linked at a fixed address they need none of that, which cuts start-up time by
    // about a quarter (measured: `perf stat -r 300 keyhelm capability`, 1.36 -> 1.04 ms).
    // Shared libraries (libc, and the plugins) are still placed at random addresses.
    println!("cargo:rustc-link-arg-bins=-no-pie");

    // The unwinder (panics unwind: plugins' panics are caught at the ABI boundary) is linked
    // from libgcc_eh.a rather than loaded from libgcc_s.so.1. Loading libgcc_s runs its
    // constructor, which identifies the CPU with a dozen CPUID instructions, each a trap to
    // the hypervisor in a virtual machine: about 0.1 ms of every lookup there (measured with
    // `perf stat` over 300 runs, with and without libgcc_s). The static unwinder finds every
    // loaded object's unwind tables through the dynamic loader, plugins included; a plugin
    // brings its own libgcc_s, and no unwind crosses the ABI boundary. Where the C compiler
    // has no libgcc_eh.a, libgcc_s is used as before.
    if env == "gnu"
        && let Some(dir) = libgcc_eh_dir()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
}

/// The folder of the linker driver's libgcc_eh.a, if it has one.
fn libgcc_eh_dir() -> Option<PathBuf> {
    let cc = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, the compiler prints the bare name back.
    (out.status.success() && path.is_absolute() && path.is_file())
        .then(|| path.parent().map(PathBuf::from))
        .flatten()
}
