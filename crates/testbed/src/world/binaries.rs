//! Where the function binaries a world runs are: built into the running executable's
//! profile directory (`target/<profile>/`), by cargo before a package's own tests, by
//! `make demo` for the demo, and by [`build`] for another package's.
use std::path::PathBuf;

use crate::harness::cargo::developer_cargo;

/// Set to `1` by `make test`, whose `cargo nextest run --workspace --all-targets` builds
/// every binary of the workspace (the dev profile) before it runs a test.
pub const WORKSPACE_BUILT: &str = "SUITE_WORKSPACE_BUILT";

/// The running executable's profile directory (`target/<profile>/`; a test runs from
/// `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let mut dir = exe.parent().expect("its directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Binary `name` of the running executable's profile, or of the directory
/// `SUITE_FUNCTION_DIR` names (the arm64 build, run under `SUITE_FUNCTION_RUNNER`: see
/// `harness::lambda`).
pub fn next_to_this_executable(name: &str) -> PathBuf {
    match std::env::var_os("SUITE_FUNCTION_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join(name),
        _ => profile_dir().join(name),
    }
}

/// Builds binary `bin` of `package` with the running executable's profile, so that it is
/// never stale; quick when it is up to date.
///
/// In the dev profile (`make test`, `cargo nextest run -p …`) it builds what `make test` and
/// `make demo` build, `--workspace --all-targets`: a no-op under `make test`. A narrower
/// `cargo build -p <package>` would resolve features for that package alone and rebuild its
/// binary and some twenty dependencies with other features, over the shared ones (binaries
/// have one fingerprint whatever their features), so the next `make demo` or `make test`
/// compiled them all again. `release` and `measure` (`make bench`) build just the binary in
/// their own directory.
///
/// Under `make test` ([`WORKSPACE_BUILT`] set) it builds nothing: nextest built every
/// binary of the workspace before the first test, and a cargo started now would wait on the
/// build directory's lock for as long as the arm64 test's cross build holds it (minutes on
/// a fresh clone: CI killed a test waiting so at 240 s).
pub fn build(package: &str, bin: &str) -> PathBuf {
    let dir = profile_dir();
    let profile = dir.file_name().and_then(|p| p.to_str());
    if profile == Some("debug") && std::env::var_os(WORKSPACE_BUILT).is_some_and(|v| v == "1") {
        let binary = dir.join(bin);
        assert!(
            binary.exists(),
            "{WORKSPACE_BUILT}=1 but {} is not built: run the tests with `make test`, or \
             without {WORKSPACE_BUILT}",
            binary.display()
        );
        return binary;
    }
    let mut cargo = developer_cargo();
    match profile.filter(|p| *p != "debug") {
        None => cargo.args([
            "test",
            "--quiet",
            "--no-run",
            "--workspace",
            "--all-targets",
        ]),
        Some(profile) => cargo.args([
            "build",
            "--quiet",
            "-p",
            package,
            "--bin",
            bin,
            "--profile",
            profile,
        ]),
    };
    let status = cargo.status().expect("cargo build");
    assert!(status.success(), "building {package}'s {bin}: {cargo:?}");
    dir.join(bin)
}
