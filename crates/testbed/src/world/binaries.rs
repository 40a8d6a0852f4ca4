//! Where the function binaries a world runs are: built into the running executable's
//! profile directory (`target/<profile>/`), by cargo before a package's own tests, by
//! `make demo` for the demo, and by [`build`] for another package's.
use std::path::PathBuf;

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

/// Binary `name` of the running executable's profile.
pub fn next_to_this_executable(name: &str) -> PathBuf {
    profile_dir().join(name)
}

/// Builds binary `bin` of `package` with the running executable's profile (`debug` is the
/// dev profile's directory; `release` and `measure` are their own), so that `make bench`
/// finds it beside the test's own; quick when it is up to date, and never stale.
pub fn build(package: &str, bin: &str) -> PathBuf {
    let dir = profile_dir();
    let profile = dir.file_name().and_then(|p| p.to_str());
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .current_dir(super::repo(""))
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    if let Some(profile) = profile.filter(|p| *p != "debug") {
        cargo.args(["--profile", profile]);
    }
    let status = cargo.status().expect("cargo build");
    assert!(status.success(), "cargo build -p {package} --bin {bin}");
    dir.join(bin)
}
