//! The build script of every Lambda function crate (`build = "../../link/build.rs"`): links
//! its binary with link/init-order.ld, which puts the code init runs (spawn → first Runtime API
//! poll) ahead of the rest of `.text`, so a cold start maps a few hundred KB of code instead of
//! most of it (BENCHMARKS.md, "Peak RSS: init code together"). `make link-order` remakes the
//! script. GNU and LLVM linkers (rust-lld, and zig's for `cargo lambda build`) read it; it only
//! moves sections, so a list gone stale costs memory, never correctness.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../../link/init-order.ld");
    let script = script
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e} (made by `make link-order`)", script.display()));
    println!("cargo:rerun-if-changed={}", script.display());
    // Linux only (Lambda's): a GNU ld script, which Apple's and Microsoft's linkers do not read.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
